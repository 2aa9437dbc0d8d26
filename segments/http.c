/*
 * http.c: HTTP method + path-prefix rules.
 *
 * Prefixes are matched a segment at a time: "/api" allows "/api" and
 * "/api/x" but not "/apix"; "/api/" allows "/api/" and below.  The engine
 * compares paths as bytes, so a request path that a server might
 * normalise into something else (dot segments, encoded '/', '.' or '\',
 * backslashes, control bytes) is refused outright rather than guessed at.
 * The query string and fragment are not part of the match.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "segments/seg_int.h"

/* An RFC 9110 token of at most 32 bytes ("GET", "M-SEARCH"). */
bool
seg_http_method_ok(const char *m)
{
	size_t i;

	if (m == NULL || m[0] == '\0')
		return false;
	for (i = 0; m[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)m[i];

		if (i >= 32)
			return false;
		if (!(isalnum(ch) || strchr("!#$%&'*+-.^_`|~", ch) != NULL))
			return false;
	}
	return true;
}

static bool
enc_bad(const char *p)
{
	/* p points after '%': encoded NUL, '.', '/', '\' are refused. */
	char a = p[0], b = p[0] ? (char)tolower((unsigned char)p[1]) : '\0';

	if (a == '0' && b == '0')
		return true;
	if (a == '2' && (b == 'e' || b == 'f'))
		return true;
	if (a == '5' && b == 'c')
		return true;
	return false;
}

/*
 * Used for request paths and for rule paths alike: must start with '/',
 * at most SEG_TEXT_MAX bytes before the query, no control bytes, spaces
 * or backslashes, no "." or ".." segment, no %00 %2e %2f %5c.
 */
int
seg_http_path_check(const char *path, char *err, size_t errlen)
{
	size_t i;

	if (path == NULL || path[0] != '/') {
		snprintf(err, errlen, "HTTP path must start with '/'");
		return -1;
	}
	for (i = 0; path[i] != '\0' && path[i] != '?' && path[i] != '#'; i++) {
		unsigned char ch = (unsigned char)path[i];

		if (i >= SEG_TEXT_MAX) {
			snprintf(err, errlen, "HTTP path longer than %d bytes",
				 SEG_TEXT_MAX);
			return -1;
		}
		if (ch <= 0x20 || ch == 0x7f || ch == '\\') {
			snprintf(err, errlen,
				 "HTTP path holds a control byte, space or backslash");
			return -1;
		}
		if (ch == '%' && enc_bad(path + i + 1)) {
			snprintf(err, errlen,
				 "HTTP path holds an encoded NUL, '.', '/' or '\\'");
			return -1;
		}
		if (ch == '/' && path[i + 1] == '.') {
			size_t k = i + 2;

			if (path[k] == '.')
				k++;
			if (path[k] == '/' || path[k] == '\0' || path[k] == '?' ||
			    path[k] == '#') {
				snprintf(err, errlen,
					 "HTTP path holds a \".\" or \"..\" segment");
				return -1;
			}
		}
	}
	return 0;
}

bool
seg_http_path_match(const char *p, size_t plen, const char *path,
		    size_t pathlen)
{
	if (pathlen < plen || memcmp(p, path, plen) != 0)
		return false;
	if (p[plen - 1] == '/' || pathlen == plen)
		return true;
	return path[plen] == '/';
}

int
seg_http_validate(const struct zg_http_op *h, char *err, size_t errlen)
{
	if (!seg_http_method_ok(h->method)) {
		snprintf(err, errlen, "HTTP method is missing or not a token");
		return -1;
	}
	return seg_http_path_check(h->path, err, errlen);
}

bool
seg_http_eval(const struct seg_conduit *c, const struct zg_http_op *h,
	      struct seg_deny *d)
{
	const struct seg_http *hp = c->http;
	size_t plen;
	uint32_t i;

	if (hp == NULL) {
		d->code = SEG_D_NOPROTO;
		return false;
	}
	plen = strcspn(h->path, "?#");
	for (i = 0; i < hp->n; i++) {
		const struct seg_hrule *r = &hp->r[i];

		if (strcmp(r->method, h->method) == 0 &&
		    seg_http_path_match(r->path, r->plen, h->path, plen))
			return true;
	}
	d->code = SEG_D_HTTP;
	return false;
}

void
seg_http_reason(const struct seg_deny *d, const struct zg_http_op *h,
		char *buf, size_t len)
{
	char ref[ZG_REASON_MAX];
	size_t plen = strcspn(h->path, "?#");

	seg_conduit_ref(d->c, ref, sizeof(ref));
	seg_fmt(buf, len, "%s %.*s%s is not allowed by the http rules of %s",
		h->method, plen > 64 ? 64 : (int)plen, h->path,
		plen > 64 ? "..." : "", ref);
}
