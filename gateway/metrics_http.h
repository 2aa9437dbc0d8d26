/*
 * metrics_http: the Prometheus scrape endpoint, a tiny HTTP/1.1 responder
 * on the daemon's event loop (config `metrics { listen = "..."; }', read
 * at start-up, off by default).
 *
 *   GET|HEAD /metrics   200, text/plain; version=0.0.4
 *   GET|HEAD other      404
 *   other methods       405 (Allow: GET, HEAD)
 *   malformed           400 and close; head too large: 431 and close
 *
 * Bounded: at most METRICS_HTTP_MAX_CLIENTS connections (more are closed
 * at once), a request head within HTTP_REQ_HEAD_MAX bytes, a client idle
 * or dribbling for METRICS_HTTP_TIMEOUT seconds is dropped, a client that
 * does not read its answer is not read from either.  No authentication:
 * bind it to loopback or a management address only (the loader refuses
 * wildcard addresses).
 */
#ifndef ZG_METRICS_HTTP_H
#define ZG_METRICS_HTTP_H

#include <stddef.h>

#include "gateway/daemon.h"

#define METRICS_HTTP_MAX_CLIENTS 8
#define METRICS_HTTP_TIMEOUT 10

struct metrics_http;

/* Listen on addr ("127.0.0.1:9187").  NULL with a message in err. */
struct metrics_http *metrics_http_new(struct zg_daemon *d, const char *addr,
				      char *err, size_t errlen);
/* Close every connection and the listener.  NULL ok. */
void metrics_http_free(struct metrics_http *m);

#endif /* ZG_METRICS_HTTP_H */
