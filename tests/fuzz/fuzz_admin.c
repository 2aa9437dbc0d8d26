/*
 * fuzz_admin: the admin socket's request parser over arbitrary bytes.
 *
 * admin_parse_request() gets the input as one line.  Whatever it accepts
 * must hold the parser's promises: a non-empty command, every string
 * NUL-terminated within its bound and made of printable ASCII only.  The
 * explain operation parser (admin_op_parse) gets both the accepted "op"
 * member and the raw input: what it accepts must format back to the
 * same text (the grammar has one spelling per operation).
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
check_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1), i;

	if (n > max)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

static void
check_str(const char *s)
{
	check_len(s, ADMIN_STR_MAX);
}

/* Parse s as an explain operation; an accepted one formats back to s. */
static void
check_op(const char *s, size_t len)
{
	static struct admin_op ao;
	static char back[ADMIN_OP_MAX + 1];

	if (admin_op_parse(s, len, &ao, back, sizeof(back)) < 0) {
		if (back[0] == '\0')
			abort(); /* a refusal always says why */
		return;
	}
	if (admin_op_format(&ao.op, back, sizeof(back)) < 0 ||
	    strlen(back) != len || memcmp(back, s, len) != 0)
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
		check_str(rq.target);
		check_str(rq.role);
		check_str(rq.assurance);
		check_len(rq.op, ADMIN_OP_MAX);
		check_op(rq.op, strlen(rq.op));
	} else if (err[0] == '\0') {
		abort(); /* a refusal always says why */
	}
	check_op((const char *)data, size);
	return 0;
}
