/*
 * h2url.c: see h2url.h.  No allocation, no locale, no libc parser that
 * could read past len.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "plugins/http2/h2url.h"

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3986 pchar, "/" and "?" (the query stays part of :path), "%". */
static int
is_path_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || strchr("-._~!$&'()*+,;=:@/?%", c) != NULL;
}

/* A DNS name: labels of 1..63 letters, digits and '-', not starting or
 * ending with '-', separated by single dots. */
static int
is_dns_name(const char *s, size_t n)
{
	size_t i, lab = 0;

	if (n == 0 || n > H2URL_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return 0;
		if (c == '-' && lab == 0)
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0 && s[n - 1] != '-';
}

int
h2url_parse(const char *buf, size_t len, struct h2url *u, char *err,
	    size_t errlen)
{
	static const char scheme[] = "https://";
	const size_t sl = sizeof(scheme) - 1;
	const char *p, *end = buf + len, *host, *hend, *port = NULL;
	unsigned char a6[sizeof(struct in6_addr)];
	unsigned long pv = 443;
	size_t hl, pl, i;

	memset(u, 0, sizeof(*u));
	for (i = 0; i < len; i++) {
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
			snprintf(err, errlen, "the URL holds a space, control or "
				 "non-ASCII byte at offset %zu", i);
			return -1;
		}
	}
	if (len < sl || strncmp(buf, scheme, sl) != 0) {
		if (len >= 7 && strncmp(buf, "http://", 7) == 0)
			snprintf(err, errlen, "http:// is refused: telemetry "
				 "leaves the gateway only over TLS (https://)");
		else
			snprintf(err, errlen, "expected https://host[:port]/path");
		return -1;
	}
	host = buf + sl;
	for (p = host; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
		if (*p == '@') {
			snprintf(err, errlen, "user info in the URL is refused "
				 "(it ends up in logs): use token_file");
			return -1;
		}
	hend = p; /* end of host[:port] */
	if (host < hend && *host == '[') {
		const char *rb = memchr(host, ']', (size_t)(hend - host));

		if (rb == NULL) {
			snprintf(err, errlen, "IPv6 address without ']'");
			return -1;
		}
		hl = (size_t)(rb - host - 1);
		if (hl == 0 || hl >= 46) {
			snprintf(err, errlen, "not an IPv6 address");
			return -1;
		}
		memcpy(u->host, host + 1, hl);
		u->host[hl] = '\0';
		if (inet_pton(AF_INET6, u->host, a6) != 1) {
			snprintf(err, errlen, "\"%s\" is not an IPv6 address",
				 u->host);
			return -1;
		}
		u->host_is_ip = 6;
		if (rb + 1 < hend) {
			if (rb[1] != ':') {
				snprintf(err, errlen, "expected ':' after ']'");
				return -1;
			}
			port = rb + 2;
		}
	} else {
		const char *colon = memchr(host, ':', (size_t)(hend - host));

		hl = (size_t)((colon ? colon : hend) - host);
		if (hl == 0 || hl > H2URL_HOST_MAX) {
			snprintf(err, errlen, "the URL needs a host of 1..%d "
				 "characters", H2URL_HOST_MAX);
			return -1;
		}
		memcpy(u->host, host, hl);
		u->host[hl] = '\0';
		if (inet_pton(AF_INET, u->host, a6) == 1)
			u->host_is_ip = 4;
		else if (!is_dns_name(u->host, hl)) {
			snprintf(err, errlen, "\"%s\" is neither an IPv4 address "
				 "nor a DNS name", u->host);
			return -1;
		}
		if (colon != NULL)
			port = colon + 1;
	}
	if (port != NULL) {
		pl = (size_t)(hend - port);
		if (pl == 0 || pl > 5) {
			snprintf(err, errlen, "the port must be 1..65535");
			return -1;
		}
		pv = 0;
		for (i = 0; i < pl; i++) {
			if (!is_digit((unsigned char)port[i])) {
				snprintf(err, errlen, "the port must be 1..65535");
				return -1;
			}
			pv = pv * 10 + (unsigned long)(port[i] - '0');
		}
		if (pv == 0 || pv > 65535) {
			snprintf(err, errlen, "the port must be 1..65535");
			return -1;
		}
	}
	u->port = (unsigned)pv;

	/* The path (default "/"), query included, no fragment. */
	p = hend;
	if (p == end) {
		strcpy(u->path, "/");
	} else {
		pl = (size_t)(end - p);
		if (*p == '#' || memchr(p, '#', pl) != NULL) {
			snprintf(err, errlen, "fragments (#...) are not sent to a "
				 "server: remove it");
			return -1;
		}
		if (pl > H2URL_PATH_MAX - 1) {
			snprintf(err, errlen, "the path is longer than %d bytes",
				 H2URL_PATH_MAX - 1);
			return -1;
		}
		for (i = 0; i < pl; i++) {
			unsigned char c = (unsigned char)p[i];

			if (!is_path_char(c)) {
				snprintf(err, errlen, "'%c' is not allowed in the "
					 "path: percent-encode it", c);
				return -1;
			}
			if (c == '%' && (i + 2 >= pl ||
					 !strchr("0123456789abcdefABCDEF", p[i + 1]) ||
					 !strchr("0123456789abcdefABCDEF", p[i + 2]))) {
				snprintf(err, errlen, "'%%' in the path must start "
					 "a %%XX escape");
				return -1;
			}
		}
		if (*p == '?')
			u->path[0] = '/';
		memcpy(u->path + (*p == '?'), p, pl);
		u->path[pl + (*p == '?')] = '\0';
	}

	if (u->host_is_ip == 6)
		snprintf(u->authority, sizeof(u->authority), u->port == 443 ?
			 "[%s]" : "[%s]:%u", u->host, u->port);
	else
		snprintf(u->authority, sizeof(u->authority), u->port == 443 ?
			 "%s" : "%s:%u", u->host, u->port);
	if (u->host_is_ip == 6)
		snprintf(u->connect, sizeof(u->connect), "[%s]:%u", u->host,
			 u->port);
	else if (u->host_is_ip == 4)
		snprintf(u->connect, sizeof(u->connect), "%s:%u", u->host,
			 u->port);
	else if (strcmp(u->host, "localhost") == 0)
		snprintf(u->connect, sizeof(u->connect), "127.0.0.1:%u", u->port);
	return 0;
}

static int
is_token_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' ||
	       c == '~' || c == '+' || c == '/';
}

int
h2token_parse(const char *buf, size_t len, size_t *toklen, char *err,
	      size_t errlen)
{
	size_t i = 0, n;

	*toklen = 0;
	if (len > H2TOKEN_MAX) {
		snprintf(err, errlen, "longer than %d bytes: not a token file",
			 H2TOKEN_MAX);
		return -1;
	}
	while (i < len && is_token_char((unsigned char)buf[i]))
		i++;
	while (i < len && buf[i] == '=')
		i++;
	n = i;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' ||
			   buf[i] == '\n'))
		i++;
	if (n == 0 && i == len) {
		snprintf(err, errlen, "empty: put the bearer token in the file");
		return -1;
	}
	if (n == 0 || buf[0] == '=' || i != len) {
		snprintf(err, errlen, "expected one token of letters, digits and "
			 "-._~+/ (then '='s) at offset %zu: the file must hold "
			 "the token alone", n == 0 ? (size_t)0 : i);
		return -1;
	}
	*toklen = n;
	return 0;
}
