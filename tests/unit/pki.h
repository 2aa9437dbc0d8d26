/*
 * pki.h: the test PKI for unit tests that need certificates.
 *
 * make_pki() runs contrib/pki/mkpki.sh ($top_srcdir from make check's
 * environment) into a fresh temporary folder named after `tag' and leaves
 * its path in pki[]; rm_pki() removes it again unless ZG_KEEP_PKI is set
 * (to look at the certificates after a failure).  Include after tap.h.
 */
#ifndef ZG_TEST_PKI_H
#define ZG_TEST_PKI_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static char pki[PATH_MAX - 64];

static int
make_pki(const char *tag)
{
	const char *top = getenv("top_srcdir");
	char tmpl[64];
	char cmd[PATH_MAX * 2 + 64];
	char *d;

	snprintf(tmpl, sizeof tmpl, "/tmp/zg-test-%s-XXXXXX", tag);
	d = mkdtemp(tmpl);
	if (d == NULL)
		return -1;
	snprintf(pki, sizeof pki, "%s", d);
	snprintf(cmd, sizeof cmd, "bash \"%s/contrib/pki/mkpki.sh\" \"%s\" >&2",
		 top ? top : ".", pki);
	return system(cmd) == 0 ? 0 : -1;
}

static void
rm_pki(void)
{
	char cmd[PATH_MAX + 32];

	if (pki[0] != '\0' && getenv("ZG_KEEP_PKI") == NULL) {
		snprintf(cmd, sizeof cmd, "rm -rf \"%s\"", pki);
		if (system(cmd) != 0)
			diag("could not remove %s", pki);
	}
}

#endif /* ZG_TEST_PKI_H */
