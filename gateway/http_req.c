/*
 * http_req.c: see http_req.h.
 *
 * The head is located first (the first CRLFCRLF within HTTP_REQ_HEAD_MAX
 * bytes), then checked line by line, so that a parse never starts on a
 * partial request and a line-by-line attacker gains nothing by dribbling.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <strings.h>

#include "gateway/http_req.h"

static bool
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum http_req_status
bad(struct http_req *req, const char *why)
{
	req->why = why;
	return HTTP_REQ_BAD;
}

/* Case-insensitive compare of [p, p+n) with the NUL-terminated s. */
static bool
token_is(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

/* Does the comma-separated value list [v, v+n) contain token t? */
static bool
list_has(const char *v, size_t n, const char *t)
{
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && token_is(v + s, e - s, t))
			return true;
	}
	return false;
}

static enum http_req_status
request_line(const char *p, size_t n, struct http_req *req)
{
	size_t i = 0, m, t;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return bad(req, "malformed request line");
	if (i > HTTP_REQ_METHOD_MAX)
		return bad(req, "method too long");
	memcpy(req->method, p, i);
	req->method[i] = '\0';
	m = ++i;
	while (i < n && p[i] > 0x20 && p[i] < 0x7f)
		i++;
	if (i == m || i >= n || p[i] != ' ')
		return bad(req, "malformed request target");
	if (i - m > HTTP_REQ_TARGET_MAX)
		return bad(req, "request target too long");
	if (p[m] != '/')
		return bad(req, "only origin-form targets (/path) are served");
	for (t = m; t < i && p[t] != '?' && p[t] != '#'; t++)
		;
	memcpy(req->path, p + m, t - m);
	req->path[t - m] = '\0';
	req->has_query = t < i;
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 ||
	    (p[i + 7] != '0' && p[i + 7] != '1'))
		return bad(req, "only HTTP/1.0 and HTTP/1.1 are served");
	req->minor = p[i + 7] - '0';
	req->keep_alive = req->minor == 1;
	return HTTP_REQ_OK;
}

static enum http_req_status
header_line(const char *p, size_t n, struct http_req *req, bool *seen_conn)
{
	size_t i = 0, vs, ve;

	if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
		return bad(req, "obsolete header line folding");
	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ':')
		return bad(req, "malformed header line");
	for (vs = i + 1; vs < n; vs++)
		if (p[vs] != '\t' && (p[vs] < 0x20 || p[vs] == 0x7f))
			return bad(req, "control character in a header value");
	vs = i + 1;
	while (vs < n && (p[vs] == ' ' || p[vs] == '\t'))
		vs++;
	ve = n;
	while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
		ve--;
	if (token_is(p, i, "transfer-encoding"))
		return bad(req, "a request body is not accepted");
	if (token_is(p, i, "content-length") &&
	    !(ve - vs == 1 && p[vs] == '0'))
		return bad(req, "a request body is not accepted");
	if (token_is(p, i, "connection")) {
		if (list_has(p + vs, ve - vs, "close"))
			req->keep_alive = false;
		else if (list_has(p + vs, ve - vs, "keep-alive") && !*seen_conn)
			req->keep_alive = true;
		*seen_conn = true;
	}
	return HTTP_REQ_OK;
}

enum http_req_status
http_req_parse(const char *buf, size_t len, struct http_req *req,
	       size_t *consumed)
{
	size_t scan = len < HTTP_REQ_HEAD_MAX ? len : HTTP_REQ_HEAD_MAX;
	size_t i, ls, end = 0;
	bool first = true, seen_conn = false, found = false;
	enum http_req_status st;

	memset(req, 0, sizeof(*req));
	*consumed = 0;
	for (i = 0; i + 3 < scan; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		    buf[i + 3] == '\n') {
			end = i + 4;
			found = true;
			break;
		}
	}
	/* Bare LF and NUL are refused early: no waiting for a CRLFCRLF
	 * that a confused peer will never send. */
	for (i = 0; i < (found ? end : scan); i++) {
		if (buf[i] == '\0')
			return bad(req, "NUL in the request head");
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return bad(req, "bare LF line end");
		if (buf[i] == '\r' && i + 1 < scan && buf[i + 1] != '\n')
			return bad(req, "bare CR in the request head");
	}
	if (!found) {
		if (len >= HTTP_REQ_HEAD_MAX) {
			req->why = "request head too large";
			return HTTP_REQ_TOO_LARGE;
		}
		return HTTP_REQ_INCOMPLETE;
	}
	for (i = 0, ls = 0; i + 1 < end; i++) {
		if (buf[i] != '\r')
			continue;
		/* A line [ls, i): the final empty line ends the head. */
		if (i == ls)
			break;
		if (first) {
			st = request_line(buf + ls, i - ls, req);
			first = false;
		} else {
			if (++req->nheaders > HTTP_REQ_HEADERS_MAX)
				return bad(req, "too many header lines");
			st = header_line(buf + ls, i - ls, req, &seen_conn);
		}
		if (st != HTTP_REQ_OK)
			return st;
		ls = i + 2;
		i++;
	}
	if (first)
		return bad(req, "empty request line");
	*consumed = end;
	return HTTP_REQ_OK;
}
