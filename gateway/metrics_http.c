/*
 * metrics_http.c: see metrics_http.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gateway/http_req.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/metrics_http.h"
#include "gateway/netaddr.h"

#define HTTP_OUT_MAX (4 * 1024 * 1024) /* unread answers before we stop */
#define HTTP_LINGER_MAX (64 * 1024)    /* bytes discarded after a refusal */

struct mh_client {
	struct metrics_http *m;
	struct bufferevent *bev;
	struct mh_client *prev, *next;
	char peer[NETADDR_STRLEN];
	bool closing;   /* answer queued: close once written */
	bool lingering; /* answer written: discard input until EOF */
	size_t discarded;
};

struct metrics_http {
	struct zg_daemon *d;
	struct evconnlistener *lev;
	char addr[NETADDR_STRLEN];
	struct mh_client *clients;
	int nclients;
};

static void
client_free(struct mh_client *c)
{
	struct metrics_http *m = c->m;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	m->nclients--;
	bufferevent_free(c->bev);
	free(c);
}

static void
respond(struct mh_client *c, int code, const char *reason,
	const char *extra, struct evbuffer *body, bool head_only, bool close)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t blen = body ? evbuffer_get_length(body) : 0;

	evbuffer_add_printf(out,
		"HTTP/1.1 %d %s\r\n"
		"Content-Type: %s\r\n"
		"Content-Length: %zu\r\n"
		"Cache-Control: no-store\r\n"
		"%s%s\r\n",
		code, reason,
		code == 200 ? "text/plain; version=0.0.4; charset=utf-8"
			    : "text/plain; charset=utf-8",
		blen, extra ? extra : "", close ? "Connection: close\r\n" : "");
	if (body != NULL && !head_only)
		evbuffer_add_buffer(out, body);
	if (close) {
		c->closing = true;
		bufferevent_disable(c->bev, EV_READ);
	}
}

static void
respond_text(struct mh_client *c, int code, const char *reason,
	     const char *extra, const char *text, bool head_only, bool close)
{
	struct evbuffer *b = evbuffer_new();

	if (b != NULL)
		evbuffer_add_printf(b, "%s\n", text);
	respond(c, code, reason, extra, b, head_only, close);
	if (b != NULL)
		evbuffer_free(b);
}

/* Answer every whole request in the input (pipelining is allowed). */
static void
client_process(struct mh_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct http_req rq;
	enum http_req_status st;
	size_t len, used;
	const char *p;
	bool head;

	while (!c->closing && evbuffer_get_length(out) < HTTP_OUT_MAX) {
		len = evbuffer_get_length(in);
		if (len == 0)
			return;
		if (len > HTTP_REQ_HEAD_MAX)
			len = HTTP_REQ_HEAD_MAX;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		if (p == NULL)
			return;
		st = http_req_parse(p, len, &rq, &used);
		if (st == HTTP_REQ_INCOMPLETE)
			return;
		if (st == HTTP_REQ_TOO_LARGE) {
			respond_text(c, 431, "Request Header Fields Too Large", NULL,
				     rq.why, false, true);
			return;
		}
		if (st == HTTP_REQ_BAD) {
			log_debug("metrics %s: bad request from %s: %s", c->m->addr,
				  c->peer, rq.why);
			respond_text(c, 400, "Bad Request", NULL, rq.why, false,
				     true);
			return;
		}
		evbuffer_drain(in, used);
		head = strcmp(rq.method, "HEAD") == 0;
		if (strcmp(rq.path, "/metrics") != 0) {
			respond_text(c, 404, "Not Found", NULL,
				     "not found: the metrics are at /metrics",
				     head, !rq.keep_alive);
		} else if (strcmp(rq.method, "GET") != 0 && !head) {
			respond_text(c, 405, "Method Not Allowed",
				     "Allow: GET, HEAD\r\n",
				     "method not allowed: GET or HEAD", false,
				     !rq.keep_alive);
		} else {
			struct evbuffer *b = evbuffer_new();

			if (b == NULL) {
				respond_text(c, 500, "Internal Server Error", NULL,
					     "out of memory", head, true);
				return;
			}
			metrics_render(c->m->d, b);
			respond(c, 200, "OK", NULL, b, head, !rq.keep_alive);
			evbuffer_free(b);
		}
	}
}

/*
 * After a refusal the rest of the client's input is read and dropped (up
 * to HTTP_LINGER_MAX) until it closes: closing a socket with unread input
 * resets it, and the client would lose the answer saying why.
 */
static void
on_read(struct bufferevent *bev, void *arg)
{
	struct mh_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->lingering) {
		c->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->discarded > HTTP_LINGER_MAX)
			client_free(c);
		return;
	}
	client_process(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct mh_client *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->closing && !c->lingering) {
		c->lingering = true;
		if (shutdown(bufferevent_getfd(bev), SHUT_WR) < 0) {
			client_free(c);
			return;
		}
		bufferevent_enable(bev, EV_READ);
		on_read(bev, c);
		return;
	}
	if (!c->closing)
		client_process(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		client_free(arg);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd,
	  struct sockaddr *sa, int salen, void *arg)
{
	struct metrics_http *m = arg;
	struct mh_client *c;
	struct timeval tv = { METRICS_HTTP_TIMEOUT, 0 };

	(void)lev;
	(void)salen;
	if (m->nclients >= METRICS_HTTP_MAX_CLIENTS || m->d->draining) {
		evutil_closesocket(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->bev = bufferevent_socket_new(m->d->base, fd,
			BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->m = m;
	netaddr_format(sa, c->peer, sizeof(c->peer));
	c->next = m->clients;
	if (m->clients != NULL)
		m->clients->prev = c;
	m->clients = c;
	m->nclients++;
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * HTTP_REQ_HEAD_MAX);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
on_listen_error(struct evconnlistener *lev, void *arg)
{
	struct metrics_http *m = arg;

	(void)lev;
	log_warn("metrics %s: accept failed", m->addr);
}

struct metrics_http *
metrics_http_new(struct zg_daemon *d, const char *addr, char *err,
		 size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct metrics_http *m;
	char e[160];

	if (netaddr_parse(addr, &ss, &sslen, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "metrics.listen %s: %s", addr, e);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	m->d = d;
	netaddr_format((struct sockaddr *)&ss, m->addr, sizeof(m->addr));
	m->lev = evconnlistener_new_bind(d->base, on_accept, m,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						 LEV_OPT_CLOSE_ON_EXEC,
					 16, (struct sockaddr *)&ss, (int)sslen);
	if (m->lev == NULL) {
		snprintf(err, errlen,
			 "cannot listen for metrics on %s: %s (is another process using the port?)",
			 m->addr, strerror(errno));
		free(m);
		return NULL;
	}
	evconnlistener_set_error_cb(m->lev, on_listen_error);
	metrics_start_clock();
	log_info("metrics on http://%s/metrics", m->addr);
	return m;
}

void
metrics_http_free(struct metrics_http *m)
{
	if (m == NULL)
		return;
	while (m->clients != NULL)
		client_free(m->clients);
	if (m->lev != NULL)
		evconnlistener_free(m->lev);
	free(m);
}
