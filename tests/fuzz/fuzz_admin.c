/*
 * fuzz_admin: the admin socket's request parser over arbitrary bytes.
 *
 * admin_parse_request() gets the input as one line.  Whatever it accepts
 * must hold the parser's promises: a non-empty command, both strings
 * NUL-terminated within ADMIN_STR_MAX and made of printable ASCII only.
 * The seed corpus (tests/fuzz/corpus/fuzz_admin) holds every command
 * zonegatectl sends plus the refusals the parser documents.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s)
{
	size_t n = strnlen(s, ADMIN_STR_MAX + 1), i;

	if (n > ADMIN_STR_MAX)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_req rq;
	char err[160];

	if (admin_parse_request((const char *)data, size, &rq, err,
				sizeof(err)) == 0) {
		if (rq.cmd[0] == '\0')
			abort();
		check_str(rq.cmd);
		check_str(rq.identity);
	} else if (err[0] == '\0') {
		abort(); /* a refusal always says why */
	}
	return 0;
}
