/*
 * http_req: a bounded parser for the head of one HTTP/1.x request, as
 * the metrics responder needs it (GET/HEAD, no body).  Pure: no I/O, no
 * allocation; fuzzed by tests/fuzz/fuzz_http_req.c.
 *
 * Accepted: "METHOD SP TARGET SP HTTP/1.0|1.1 CRLF", then header lines
 * "name: value CRLF" (name a token; value printable ASCII, tab or space),
 * then CRLF.  Refused (HTTP_REQ_BAD, with a reason): bare LF line ends,
 * obsolete line folding, control characters, a method or target over
 * their limits, other HTTP versions, more than HTTP_REQ_HEADERS_MAX
 * headers, a request body (Content-Length other than 0, or any
 * Transfer-Encoding: a GET responder has no use for one and must not
 * guess where it ends).  A head longer than HTTP_REQ_HEAD_MAX is
 * HTTP_REQ_TOO_LARGE.
 */
#ifndef ZG_HTTP_REQ_H
#define ZG_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_REQ_HEAD_MAX 8192   /* request line + headers + CRLF */
#define HTTP_REQ_METHOD_MAX 16
#define HTTP_REQ_TARGET_MAX 1024
#define HTTP_REQ_HEADERS_MAX 64

enum http_req_status {
	HTTP_REQ_OK = 0,          /* a whole head: *consumed bytes */
	HTTP_REQ_INCOMPLETE = 1,  /* need more bytes */
	HTTP_REQ_BAD = 2,         /* malformed: answer 400 and close */
	HTTP_REQ_TOO_LARGE = 3,   /* head over HTTP_REQ_HEAD_MAX: 431, close */
};

struct http_req {
	char method[HTTP_REQ_METHOD_MAX + 1];
	char path[HTTP_REQ_TARGET_MAX + 1]; /* target without the query */
	bool has_query;
	int minor;                /* HTTP/1.<minor> */
	bool keep_alive;          /* 1.1 without "Connection: close", or
				     1.0 with "Connection: keep-alive" */
	int nheaders;
	const char *why;          /* HTTP_REQ_BAD / TOO_LARGE: a static reason */
};

/*
 * Parse the request head at the start of buf (len bytes).  On HTTP_REQ_OK
 * *consumed is the head's length (the next request starts there).
 */
enum http_req_status http_req_parse(const char *buf, size_t len,
				    struct http_req *req, size_t *consumed);

#endif /* ZG_HTTP_REQ_H */
