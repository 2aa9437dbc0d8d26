/*
 * fuzz_h2url: the HTTP/2 uplink's URL and token-file parsers.  Checks:
 * no read past len, every accepted URL yields NUL-terminated fields with
 * a path starting with '/', a port in 1..65535 and an authority that
 * parses again to the same host and port; an accepted token is a prefix
 * of the input made only of token bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/http2/h2url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                \
	do {                    \
		if (!(x))       \
			abort(); \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h2url u, v;
	char err[256], again[sizeof(u.authority) + 16];
	size_t n, i;
	char *copy;

	/* An exact-size heap copy: ASan sees any read past size. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);
	if (h2url_parse(copy, size, &u, err, sizeof(err)) == 0) {
		CHECK(memchr(u.host, 0, sizeof(u.host)) != NULL);
		CHECK(memchr(u.path, 0, sizeof(u.path)) != NULL);
		CHECK(u.path[0] == '/');
		CHECK(u.port >= 1 && u.port <= 65535);
		CHECK(u.host[0] != '\0');
		strcpy(again, "https://");
		strcat(again, u.authority);
		CHECK(h2url_parse(again, strlen(again), &v, err, sizeof(err)) == 0);
		CHECK(strcmp(v.host, u.host) == 0 && v.port == u.port);
	} else
		CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (h2token_parse(copy, size, &n, err, sizeof(err)) == 0) {
		CHECK(n > 0 && n <= size);
		for (i = 0; i < n; i++)
			CHECK(copy[i] != '\r' && copy[i] != '\n' &&
			      copy[i] != ' ' && copy[i] != '\0');
	}
	free(copy);
	return 0;
}
