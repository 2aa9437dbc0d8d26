/*
 * fuzz_http_req: the metrics responder's request-head parser over
 * arbitrary bytes.
 *
 * Whatever http_req_parse() accepts must hold its promises: a head of at
 * most HTTP_REQ_HEAD_MAX bytes within the input, a non-empty method, an
 * origin-form path, HTTP/1.0 or 1.1; and the same head alone must parse
 * the same way (what follows a request never changes how it is read).  A
 * refusal always says why.  Seeds: tests/fuzz/corpus/fuzz_http_req.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/http_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req rq, again;
	size_t used = 0, used2 = 0;
	enum http_req_status st;

	st = http_req_parse((const char *)data, size, &rq, &used);
	switch (st) {
	case HTTP_REQ_OK:
		if (used == 0 || used > size || used > HTTP_REQ_HEAD_MAX)
			abort();
		if (rq.method[0] == '\0' || rq.path[0] != '/' ||
		    strlen(rq.path) > HTTP_REQ_TARGET_MAX ||
		    (rq.minor != 0 && rq.minor != 1) ||
		    rq.nheaders > HTTP_REQ_HEADERS_MAX)
			abort();
		if (http_req_parse((const char *)data, used, &again, &used2) !=
			    HTTP_REQ_OK ||
		    used2 != used || strcmp(again.path, rq.path) != 0 ||
		    strcmp(again.method, rq.method) != 0 ||
		    again.keep_alive != rq.keep_alive)
			abort();
		break;
	case HTTP_REQ_INCOMPLETE:
		if (size >= HTTP_REQ_HEAD_MAX)
			abort(); /* a full-size head must be decided */
		break;
	case HTTP_REQ_BAD:
	case HTTP_REQ_TOO_LARGE:
		if (rq.why == NULL || rq.why[0] == '\0')
			abort();
		break;
	default:
		abort();
	}
	return 0;
}
