/*
 * h2url: the two small parsers of the HTTP/2 uplink, pure functions over
 * (buf, len) so that they can be unit-tested and fuzzed without sockets:
 * the ingest URL of the configuration and the bearer token file.
 */
#ifndef ZG_H2URL_H
#define ZG_H2URL_H

#include <stddef.h>

#define H2URL_HOST_MAX 253   /* a DNS name at most */
#define H2URL_PATH_MAX 1024
#define H2TOKEN_MAX 4096

struct h2url {
	char host[H2URL_HOST_MAX + 1]; /* name or IP, IPv6 without brackets */
	unsigned port;                 /* 1..65535; 443 when absent */
	int host_is_ip;                /* 4 or 6 for a literal, 0 for a name */
	char path[H2URL_PATH_MAX + 1]; /* ":path": starts with '/', query kept */
	/* ":authority": host[:port] as in the URL ("[::1]:8443"), without
	 * the port when it is 443 */
	char authority[H2URL_HOST_MAX + 3 + 6 + 1];
	/* "ip:port" / "[ip6]:port" to connect to when the host is a literal
	 * or "localhost" (then 127.0.0.1); "" for any other name */
	char connect[H2URL_HOST_MAX + 3 + 6 + 1];
};

/*
 * Parse "https://host[:port][/path[?query]]".  Refuses: any scheme but
 * https (the uplink never sends telemetry in clear), user info ("u:p@":
 * credentials in a URL end up in logs; use token_file), fragments,
 * empty or over-long hosts and paths, ports outside 1..65535, bytes that
 * are not printable ASCII, and host names that are not DNS names.
 * 0, or -1 with why in err.
 */
int h2url_parse(const char *buf, size_t len, struct h2url *u, char *err,
		size_t errlen);

/*
 * Check the contents of a bearer token file: one token (RFC 6750
 * b64token: ALPHA / DIGIT / "-._~+/" then "="s), optionally followed by
 * whitespace (a trailing newline is normal).  *toklen is the token's
 * length.  Refuses an empty file, several tokens or lines, other bytes
 * (a header value must not carry CR/LF), and more than H2TOKEN_MAX bytes.
 * 0, or -1 with why in err.
 */
int h2token_parse(const char *buf, size_t len, size_t *toklen, char *err,
		  size_t errlen);

#endif /* ZG_H2URL_H */
