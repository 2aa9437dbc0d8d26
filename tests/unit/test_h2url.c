/*
 * test_h2url: the HTTP/2 uplink's URL and bearer-token parsers.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "plugins/http2/h2url.h"
#include "tap.h"

static int
url(const char *s, struct h2url *u, char *err, size_t errlen)
{
	return h2url_parse(s, strlen(s), u, err, errlen);
}

static int
url_bad(const char *s, const char *why)
{
	struct h2url u;
	char err[256] = "";

	if (url(s, &u, err, sizeof(err)) == 0)
		return 0;
	if (why != NULL && strstr(err, why) == NULL) {
		diag("%s: error \"%s\" lacks \"%s\"", s, err, why);
		return 0;
	}
	return 1;
}

static int
token(const char *s, size_t *n)
{
	char err[256];

	return h2token_parse(s, strlen(s), n, err, sizeof(err));
}

int
main(void)
{
	struct h2url u;
	char err[256], big[3000];
	size_t n;

	plan(33);

	ok(url("https://127.0.0.1:8443/ingest", &u, err, sizeof(err)) == 0,
	   "IPv4 URL parses");
	ok(strcmp(u.host, "127.0.0.1") == 0 && u.port == 8443 &&
	   u.host_is_ip == 4, "  ... host, port, IPv4");
	ok(strcmp(u.path, "/ingest") == 0, "  ... path");
	ok(strcmp(u.authority, "127.0.0.1:8443") == 0, "  ... authority");
	ok(strcmp(u.connect, "127.0.0.1:8443") == 0, "  ... connect address");

	ok(url("https://[::1]:9443/a/b?x=1&y=%2F", &u, err, sizeof(err)) == 0,
	   "IPv6 URL with query parses");
	ok(strcmp(u.host, "::1") == 0 && u.host_is_ip == 6 && u.port == 9443,
	   "  ... IPv6 host without brackets");
	ok(strcmp(u.authority, "[::1]:9443") == 0 &&
	   strcmp(u.connect, "[::1]:9443") == 0, "  ... authority and connect "
	   "keep the brackets");
	ok(strcmp(u.path, "/a/b?x=1&y=%2F") == 0, "  ... query kept in :path");

	ok(url("https://ingest.plant.example", &u, err, sizeof(err)) == 0,
	   "DNS name, no port, no path");
	ok(u.port == 443 && strcmp(u.path, "/") == 0 &&
	   strcmp(u.authority, "ingest.plant.example") == 0 && u.connect[0] == 0,
	   "  ... port 443, path /, authority without port, no connect address");
	ok(url("https://localhost:8443?q", &u, err, sizeof(err)) == 0 &&
	   strcmp(u.connect, "127.0.0.1:8443") == 0 &&
	   strcmp(u.path, "/?q") == 0, "localhost connects to 127.0.0.1; a bare "
	   "query gets a /");

	ok(url_bad("http://127.0.0.1/x", "only over TLS"), "http:// refused");
	ok(url_bad("ftp://x/y", "expected https"), "other schemes refused");
	ok(url_bad("https://user:pw@127.0.0.1/x", "token_file"),
	   "user info refused");
	ok(url_bad("https://127.0.0.1/x#frag", "fragment"), "fragment refused");
	ok(url_bad("https://127.0.0.1:0/", "port"), "port 0 refused");
	ok(url_bad("https://127.0.0.1:65536/", "port"), "port 65536 refused");
	ok(url_bad("https://127.0.0.1:/", "port"), "empty port refused");
	ok(url_bad("https://127.0.0.1:84a3/", "port"), "non-digit port refused");
	ok(url_bad("https:///x", "host"), "empty host refused");
	ok(url_bad("https://[::1/x", "]"), "unclosed IPv6 bracket refused");
	ok(url_bad("https://[zz]:1/", "IPv6"), "bad IPv6 refused");
	ok(url_bad("https://bad_name/", "DNS name"), "underscore host refused");
	ok(url_bad("https://-a.example/", "DNS name"), "label starting with - refused");
	ok(url_bad("https://127.0.0.1/a b", "space"), "space refused");
	ok(url_bad("https://127.0.0.1/a%zz", "%XX"), "bad escape refused");
	memset(big, 'a', sizeof(big));
	memcpy(big, "https://h/", 10);
	big[sizeof(big) - 1] = '\0';
	ok(url_bad(big, "longer"), "path over the limit refused");

	ok(token("abc.DEF-123_~+/==\n", &n) == 0 && n == 17,
	   "token with trailing newline: length without it");
	ok(token("", &n) < 0, "empty file refused");
	ok(token("one two\n", &n) < 0, "two tokens refused");
	ok(token("abc\ndef\n", &n) < 0, "two lines refused (no header injection)");
	ok(token("=abc", &n) < 0, "token starting with = refused");
	return done_testing();
}
