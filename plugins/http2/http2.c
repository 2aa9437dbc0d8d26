/*
 * http2: the HTTP/2 northbound uplink (docs/northbound.md).
 *
 * Messages come from the host's durable spool through the uplink API
 * (zg_host_api.uplink_*), are gathered into batches (at most
 * batch.max_messages messages or batch.max_bytes bytes, or what arrived
 * within batch.max_delay) and POSTed as one JSON array per request to the
 * configured https URL, over one TLS connection (the host's TLS layer,
 * ALPN "h2", client certificate from the config) with up to max_streams
 * requests in flight at once (never more than the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS).
 *
 *   2xx                 every message of the batch is acknowledged
 *                       (uplink_ack per seq): the spool may drop them
 *   5xx, 429, timeout,  the batch is kept and sent again after an
 *   stream reset        exponential backoff with jitter (retry.min ..
 *                       retry.max); nothing new is sent meanwhile
 *   other 3xx/4xx       logged as an error saying what to check, kept and
 *                       sent again after retry.max: data is never dropped
 *                       because a server is misconfigured
 *   connection lost,    uplink_down(): the host sends every unacknowledged
 *   GOAWAY, no PING     message again after the next uplink_up(), which
 *   answer              follows the server's SETTINGS on a new connection
 *
 * Ordering: batches are submitted in sequence order and a retried batch
 * goes before any newer one.  With max_streams > 1 a batch that failed
 * can still be overtaken by a later one already in flight; every message
 * carries its seq and every request the headers zonegate-seq-first and
 * zonegate-seq-last, and max_streams = 1 gives strict arrival order.
 *
 * Everything runs on the host's loop; nghttp2 is used through
 * nghttp2_session_mem_recv/mem_send over the plaintext bufferevent.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include <nghttp2/nghttp2.h>

#include <zonegate/plugin.h>

#include "plugins/http2/h2url.h"

#define H2_VERSION "0.1.0"
#define H2_OUT_HIGH (256 * 1024) /* frames queued to TLS before we pause */
#define H2_TICK_S 0.25           /* timeouts and keepalive resolution */
#define H2_MAX_HELD_MSGS 100000

/* Configuration, as plain data (copied out of the config tree). */
struct h2conf {
	char *url;               /* as configured, for messages */
	struct h2url u;
	char *address;           /* where to connect */
	char *name;              /* uplink name (the spool's key) */
	char *token_file;        /* NULL: no Authorization header */
	char *token;             /* "Bearer <token>" */
	struct zg_tls_ctx *tls;
	unsigned max_messages;
	size_t max_bytes;
	double max_delay;
	unsigned max_streams;
	double retry_min, retry_max;
	double timeout;          /* per request */
	double keepalive;        /* PING when idle this long; 0: never */
};

enum batch_state { B_OPEN, B_READY, B_INFLIGHT };

struct batch {
	TAILQ_ENTRY(batch) link;
	int state;
	uint64_t *seq;
	unsigned n, cap;
	char *body;              /* "[m1,m2,...]" */
	size_t len, size, off;   /* off: bytes handed to nghttp2 */
	int32_t stream;
	int status;              /* :status of the answer, 0 until then */
	unsigned attempts;
	double started;          /* when submitted (monotonic s) */
};
TAILQ_HEAD(batchq, batch);

struct h2up {
	const struct zg_host_api *api;
	struct zg_host *h;
	struct h2conf c;
	struct zg_uplink *up;
	struct zg_timer *tick, *batch_timer, *retry_timer, *conn_timer;

	/* connection */
	struct zg_tls *tls;
	struct bufferevent *bev;
	nghttp2_session *sess;
	int connecting;          /* TLS/TCP handshake in progress */
	int is_up;               /* uplink_up() called for this connection */
	int closing;             /* GOAWAY received or sent: no new streams */
	double last_rx;          /* monotonic s */
	double ping_sent;        /* 0: no PING outstanding */
	unsigned conn_failures;  /* consecutive */
	unsigned req_failures;   /* consecutive failed requests */
	double hold_until;       /* no new stream before (retry backoff) */
	int want_ready;          /* send() refused: call uplink_ready later */
	int in_cb;               /* inside nghttp2_session_mem_recv/mem_send:
				    its callbacks may ack, and the host may
				    then send(), but nghttp2 must not be
				    re-entered or freed */
	char drop_why[768];      /* h2_drop() deferred until nghttp2 returns */
	int drop_abortive;

	struct batch *open;      /* being filled */
	struct batchq ready;     /* sorted by first seq */
	struct batchq inflight;
	unsigned held;           /* messages in open + ready + inflight */
	unsigned max_held;

	unsigned long acked, requests, failed_requests;
	int draining;
};

static void h2_connect(struct h2up *st);
static void h2_pump(struct h2up *st);
static void h2_drop(struct h2up *st, const char *why, int abortive);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* configuration                                                      */
/* ------------------------------------------------------------------ */

static const char *const h2_keys[] = { "url", "address", "name", "tls",
	"token_file", "batch", "max_streams", "retry", "timeout", "keepalive",
	NULL };
static const char *const batch_keys[] = { "max_messages", "max_bytes",
	"max_delay", NULL };
static const char *const retry_keys[] = { "min", "max", NULL };
static const char *const alpn_h2[] = { "h2", NULL };

static void
conf_free(const struct zg_host_api *api, struct h2conf *c)
{
	free(c->url);
	free(c->address);
	free(c->name);
	free(c->token_file);
	if (c->token != NULL)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	if (c->tls != NULL)
		api->tls_ctx_free(c->tls);
	memset(c, 0, sizeof(*c));
}

/*
 * Read the bearer token file into c->token ("Bearer <token>").  Refuses
 * an unreadable file, or contents that are not one token; warns when
 * group or others may read it (not when `quiet': check() before init()
 * or reload() would say it twice).
 */
static int
token_load(const struct zg_host_api *api, struct zg_host *h,
	   const struct zg_cfg *node, struct h2conf *c, int quiet)
{
	char buf[H2TOKEN_MAX + 2], err[200];
	struct stat sb;
	size_t tl;
	ssize_t n;
	int fd;

	fd = open(c->token_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		api->cfg_error(h, node, "token_file", "cannot open %s: %s",
			       c->token_file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		api->cfg_error(h, node, "token_file", "%s is not a regular file",
			       c->token_file);
		close(fd);
		return -1;
	}
	if ((sb.st_mode & 077) && !quiet)
		api->log(h, ZG_LOG_WARN, "token file %s can be read by group "
			 "or others (mode %04o): chmod 600 it, it is a "
			 "credential", c->token_file,
			 (unsigned)(sb.st_mode & 07777));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		api->cfg_error(h, node, "token_file", "cannot read %s: %s",
			       c->token_file, strerror(errno));
		return -1;
	}
	if (h2token_parse(buf, (size_t)n, &tl, err, sizeof(err)) < 0) {
		explicit_bzero(buf, sizeof(buf));
		api->cfg_error(h, node, "token_file", "%s: %s", c->token_file,
			       err);
		return -1;
	}
	c->token = malloc(tl + 8);
	if (c->token != NULL) {
		memcpy(c->token, "Bearer ", 7);
		memcpy(c->token + 7, buf, tl);
		c->token[7 + tl] = '\0';
	}
	explicit_bzero(buf, sizeof(buf));
	return c->token ? 0 : -1;
}

/* A config string copied, file names resolved by the caller's config. */
static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * Parse the plugin's config group into c.  Every error names file, line
 * and key (through the host); all of them are collected, not just the
 * first.  0 or -1.
 */
static int
conf_parse(const struct zg_host_api *api, struct zg_host *h,
	   const struct zg_cfg *cfg, struct h2conf *c, int quiet)
{
	const struct zg_cfg *b, *r, *t;
	const char *url = NULL, *addr = NULL, *name = NULL, *tok = NULL;
	long long mm, mb, ms;
	double md, to, ka;
	char err[256];
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (cfg == NULL) {
		api->cfg_error(h, cfg, NULL, "the http2 uplink needs a config "
			       "group with at least url and tls");
		return -1;
	}
	rc |= api->cfg_known_keys(h, cfg, h2_keys);
	rc |= api->cfg_string(h, cfg, "url", NULL, &url);
	rc |= api->cfg_string(h, cfg, "address", NULL, &addr);
	rc |= api->cfg_string(h, cfg, "name", "http2", &name);
	rc |= api->cfg_string(h, cfg, "token_file", NULL, &tok);
	rc |= api->cfg_int(h, cfg, "max_streams", 8, 1, 256, &ms);
	rc |= api->cfg_double(h, cfg, "timeout", 30.0, 0.5, 3600.0, &to);
	rc |= api->cfg_double(h, cfg, "keepalive", 30.0, 0.0, 3600.0, &ka);
	b = api->cfg_child(cfg, "batch");
	if (b != NULL)
		rc |= api->cfg_known_keys(h, b, batch_keys);
	rc |= api->cfg_int(h, b, "max_messages", 100, 1, 10000, &mm);
	rc |= api->cfg_int(h, b, "max_bytes", 256 * 1024, 256, 16 << 20, &mb);
	rc |= api->cfg_double(h, b, "max_delay", 0.2, 0.0, 60.0, &md);
	r = api->cfg_child(cfg, "retry");
	if (r != NULL)
		rc |= api->cfg_known_keys(h, r, retry_keys);
	rc |= api->cfg_double(h, r, "min", 0.5, 0.01, 3600.0, &c->retry_min);
	rc |= api->cfg_double(h, r, "max", 60.0, 0.01, 86400.0, &c->retry_max);
	if (rc == 0 && c->retry_max < c->retry_min) {
		api->cfg_error(h, r, "max", "retry.max (%g) is below retry.min "
			       "(%g)", c->retry_max, c->retry_min);
		rc = -1;
	}
	if (name != NULL && (*name == '\0' || strlen(name) > 64 ||
			     strspn(name, "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
			     strlen(name))) {
		api->cfg_error(h, cfg, "name", "1..64 letters, digits, '-', '_' "
			       "or '.': the spool keeps this uplink's position "
			       "under it");
		rc = -1;
	}
	if (url == NULL) {
		api->cfg_error(h, cfg, "url", "required: where batches are "
			       "POSTed, e.g. \"https://127.0.0.1:8443/ingest\"");
		rc = -1;
	} else if (h2url_parse(url, strlen(url), &c->u, err, sizeof(err)) < 0) {
		api->cfg_error(h, cfg, "url", "%s", err);
		rc = -1;
	} else if (addr == NULL && c->u.connect[0] == '\0') {
		api->cfg_error(h, cfg, "url", "host \"%s\" is a name: zonegate "
			       "does not resolve names on its event loop; set "
			       "address = \"IP:port\" to say where it is",
			       c->u.host);
		rc = -1;
	}
	t = api->cfg_child(cfg, "tls");
	if (t == NULL) {
		api->cfg_error(h, cfg, "tls", "required: { ca = \"...\"; cert = "
			       "\"...\"; key = \"...\"; } (the CA of the server, "
			       "and the gateway's client certificate)");
		rc = -1;
	} else if ((c->tls = api->tls_client_ctx(h, t, alpn_h2)) == NULL)
		rc = -1;
	c->url = dup_or_null(url);
	c->address = dup_or_null(addr ? addr : c->u.connect);
	c->name = dup_or_null(name);
	c->max_messages = (unsigned)mm;
	c->max_bytes = (size_t)mb;
	c->max_delay = md;
	c->max_streams = (unsigned)ms;
	c->timeout = to;
	c->keepalive = ka;
	if (tok != NULL && tok[0] != '/') {
		api->cfg_error(h, cfg, "token_file", "\"%s\" must be an absolute "
			       "path (the daemon does not run in the config's "
			       "directory)", tok);
		rc = -1;
	} else if (tok != NULL) {
		c->token_file = strdup(tok);
		if (c->token_file == NULL || token_load(api, h, cfg, c, quiet) < 0)
			rc = -1;
	}
	if (rc < 0)
		conf_free(api, c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* batches                                                            */
/* ------------------------------------------------------------------ */

static void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	free(b->seq);
	free(b->body);
	free(b);
}

static struct batch *
batch_new(const struct h2conf *c)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->cap = c->max_messages;
	b->seq = calloc(b->cap, sizeof(*b->seq));
	b->size = 1024;
	b->body = malloc(b->size);
	if (b->seq == NULL || b->body == NULL) {
		batch_free(b);
		return NULL;
	}
	b->body[0] = '[';
	b->len = 1;
	b->state = B_OPEN;
	return b;
}

/* Append one message ("," + payload); 0 or -1 (no memory). */
static int
batch_add(struct batch *b, const struct zg_msg *m)
{
	size_t need = b->len + 1 + m->len + 1;

	if (need > b->size) {
		size_t ns = b->size;
		char *nb;

		while (ns < need)
			ns *= 2;
		nb = realloc(b->body, ns);
		if (nb == NULL)
			return -1;
		b->body = nb;
		b->size = ns;
	}
	if (b->n > 0)
		b->body[b->len++] = ',';
	memcpy(b->body + b->len, m->payload, m->len);
	b->len += m->len;
	b->seq[b->n++] = m->seq;
	return 0;
}

/* Insert in ready, ordered by first seq (retries go before newer ones). */
static void
ready_insert(struct h2up *st, struct batch *b)
{
	struct batch *x;

	b->state = B_READY;
	b->stream = 0;
	b->status = 0;
	b->off = 0;
	TAILQ_FOREACH(x, &st->ready, link) {
		if (x->seq[0] > b->seq[0]) {
			TAILQ_INSERT_BEFORE(x, b, link);
			return;
		}
	}
	TAILQ_INSERT_TAIL(&st->ready, b, link);
}

/* Close the open batch: "]" and into the ready queue. */
static void
batch_close(struct h2up *st)
{
	struct batch *b = st->open;

	if (b == NULL)
		return;
	st->open = NULL;
	st->api->timer_stop(st->batch_timer);
	b->body[b->len++] = ']'; /* batch_add left room for it */
	ready_insert(st, b);
}

/* Forget every batch: the host sends them again after uplink_up(). */
static void
batches_clear(struct h2up *st)
{
	struct batch *b;

	batch_free(st->open);
	st->open = NULL;
	while ((b = TAILQ_FIRST(&st->ready)) != NULL) {
		TAILQ_REMOVE(&st->ready, b, link);
		batch_free(b);
	}
	while ((b = TAILQ_FIRST(&st->inflight)) != NULL) {
		TAILQ_REMOVE(&st->inflight, b, link);
		batch_free(b);
	}
	st->held = 0;
}

/* The server took the batch: acknowledge each message. */
static void
batch_done(struct h2up *st, struct batch *b)
{
	unsigned i;

	for (i = 0; i < b->n; i++)
		st->api->uplink_ack(st->up, b->seq[i]);
	st->acked += b->n;
	st->held -= b->n;
	batch_free(b);
	if (st->want_ready && st->held < st->max_held / 2) {
		st->want_ready = 0;
		st->api->uplink_ready(st->up);
	}
}

/* Delay before the next try: retry.min * 2^(n-1), capped at retry.max,
 * then a random point in its upper half so that many gateways that lost
 * the same server do not come back in step. */
static double
backoff(const struct h2conf *c, unsigned n)
{
	double d = c->retry_min;
	unsigned i;

	for (i = 1; i < n && d < c->retry_max; i++)
		d *= 2.0;
	if (d > c->retry_max)
		d = c->retry_max;
	return d * (0.5 + 0.5 * ((double)(random() % 10000) / 10000.0));
}

static void
hold_for(struct h2up *st, double delay)
{
	double until = now_s() + delay;

	if (until > st->hold_until) {
		st->hold_until = until;
		st->api->timer_start(st->retry_timer, delay, false);
	}
}

/* What a person should check for a refused request. */
static const char *
status_advice(int status)
{
	switch (status) {
	case 401:
		return "the server wants credentials: check token_file";
	case 403:
		return "the server refused this gateway: check the token and "
		       "that the client certificate is authorised there";
	case 404:
		return "no such endpoint: check the path of url";
	case 405:
		return "the endpoint does not accept POST: check url";
	case 411:
	case 400:
	case 415:
	case 422:
		return "the server rejected the JSON array body: check that "
		       "the endpoint takes zonegate batches (docs/northbound.md)";
	case 413:
		return "the batch is too large for the server: lower "
		       "batch.max_bytes / batch.max_messages";
	default:
		return status >= 300 && status < 400 ?
			"redirects are not followed: put the final URL in url" :
			"check the server's log";
	}
}

/*
 * A request ended (stream closed).  2xx: acknowledged.  Else the batch
 * goes back to the ready queue and new requests wait: briefly with
 * exponential backoff for what may heal by itself (5xx, 429, 408, reset
 * streams, timeouts), retry.max for a refusal that needs a person.
 */
static void
request_end(struct h2up *st, struct batch *b, uint32_t error_code)
{
	double d;

	TAILQ_REMOVE(&st->inflight, b, link);
	if (error_code == 0 && b->status >= 200 && b->status < 300) {
		st->req_failures = 0;
		batch_done(st, b);
		return;
	}
	st->failed_requests++;
	b->attempts++;
	st->req_failures++;
	if (error_code == 0 && b->status >= 300 && b->status != 408 &&
	    b->status != 429 && b->status < 500) {
		d = backoff(&st->c, 1000); /* the slow end of the range */
		st->api->log(st->h, ZG_LOG_ERR, "POST %s: HTTP %d for batch "
			     "seq %" PRIu64 "-%" PRIu64 ": %s; kept, next try in "
			     "%.1fs", st->c.url, b->status, b->seq[0],
			     b->seq[b->n - 1], status_advice(b->status), d);
	} else {
		d = backoff(&st->c, st->req_failures);
		if (error_code != 0)
			st->api->log(st->h, ZG_LOG_WARN, "POST %s: stream reset "
				     "(%s) for batch seq %" PRIu64 "-%" PRIu64
				     ": next try in %.2fs", st->c.url,
				     nghttp2_http2_strerror(error_code),
				     b->seq[0], b->seq[b->n - 1], d);
		else
			st->api->log(st->h, ZG_LOG_WARN, "POST %s: HTTP %d for "
				     "batch seq %" PRIu64 "-%" PRIu64 ": next "
				     "try in %.2fs", st->c.url, b->status,
				     b->seq[0], b->seq[b->n - 1], d);
	}
	ready_insert(st, b);
	hold_for(st, d);
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks                                                  */
/* ------------------------------------------------------------------ */

static ssize_t
body_read_cb(nghttp2_session *s, int32_t stream, uint8_t *buf, size_t len,
	     uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct batch *b = src->ptr;
	size_t n = b->len - b->off;

	(void)s;
	(void)stream;
	(void)arg;
	if (n > len)
		n = len;
	memcpy(buf, b->body + b->off, n);
	b->off += n;
	if (b->off == b->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int
on_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
	     size_t namelen, const uint8_t *value, size_t valuelen,
	     uint8_t flags, void *arg)
{
	struct batch *b;
	int v = 0;
	size_t i;

	(void)flags;
	(void)arg;
	if (f->hd.type != NGHTTP2_HEADERS || namelen != 7 ||
	    memcmp(name, ":status", 7) != 0)
		return 0;
	b = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (b == NULL || valuelen != 3)
		return 0;
	for (i = 0; i < 3; i++)
		v = v * 10 + (value[i] - '0');
	if (v >= 200 || b->status == 0) /* keep a final status over 1xx */
		b->status = v;
	return 0;
}

static int
on_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct h2up *st = arg;

	(void)s;
	switch (f->hd.type) {
	case NGHTTP2_SETTINGS:
		if ((f->hd.flags & NGHTTP2_FLAG_ACK) == 0 && !st->is_up) {
			/* The server spoke HTTP/2 to us: the uplink is up. */
			st->is_up = 1;
			st->conn_failures = 0;
			st->api->log(st->h, ZG_LOG_INFO, "connected to %s (%s), "
				     "server allows %u concurrent streams",
				     st->c.url, st->c.address,
				     nghttp2_session_get_remote_settings(
					     st->sess,
					     NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
			st->api->uplink_up(st->up);
		}
		break;
	case NGHTTP2_PING:
		if (f->hd.flags & NGHTTP2_FLAG_ACK)
			st->ping_sent = 0;
		break;
	case NGHTTP2_GOAWAY:
		st->closing = 1;
		st->api->log(st->h, ZG_LOG_INFO, "server sent GOAWAY (%s, last "
			     "stream %d): finishing, then reconnecting",
			     nghttp2_http2_strerror(f->goaway.error_code),
			     f->goaway.last_stream_id);
		break;
	default:
		break;
	}
	return 0;
}

static int
on_stream_close_cb(nghttp2_session *s, int32_t stream, uint32_t error_code,
		   void *arg)
{
	struct h2up *st = arg;
	struct batch *b = nghttp2_session_get_stream_user_data(s, stream);

	if (b == NULL || b->state != B_INFLIGHT)
		return 0;
	request_end(st, b, error_code);
	return 0;
}

static int
on_data_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t stream,
		 const uint8_t *data, size_t len, void *arg)
{
	/* Response bodies are not used; flow control is handled by
	 * nghttp2 (consumed at once). */
	(void)s;
	(void)flags;
	(void)stream;
	(void)data;
	(void)len;
	(void)arg;
	return 0;
}

/* ------------------------------------------------------------------ */
/* connection                                                         */
/* ------------------------------------------------------------------ */

/* A drop requested from inside nghttp2, now that it returned.  1 if so. */
static int
drop_pending(struct h2up *st)
{
	char why[sizeof(st->drop_why)];

	if (st->drop_why[0] == '\0')
		return 0;
	snprintf(why, sizeof(why), "%s", st->drop_why);
	st->drop_why[0] = '\0';
	h2_drop(st, why, st->drop_abortive);
	return 1;
}

/*
 * Hand nghttp2's frames to TLS while its output is not backed up.  Inside
 * an nghttp2 call (a callback acked, the host sent more, we submitted)
 * nothing is done: the caller's loop picks the new frames up.
 */
static int
h2_flush(struct h2up *st)
{
	struct evbuffer *out = bufferevent_get_output(st->bev);
	const uint8_t *data;
	ssize_t n = 0;

	if (st->in_cb)
		return 0;
	st->in_cb = 1;
	while (evbuffer_get_length(out) < H2_OUT_HIGH) {
		n = nghttp2_session_mem_send(st->sess, &data);
		if (n <= 0)
			break;
		if (evbuffer_add(out, data, (size_t)n) < 0) {
			n = NGHTTP2_ERR_NOMEM;
			break;
		}
	}
	st->in_cb = 0;
	if (drop_pending(st))
		return -1;
	if (n < 0) {
		h2_drop(st, nghttp2_strerror((int)n), 1);
		return -1;
	}
	if (!nghttp2_session_want_read(st->sess) &&
	    !nghttp2_session_want_write(st->sess) &&
	    evbuffer_get_length(out) == 0) {
		h2_drop(st, st->closing ? "GOAWAY: connection finished" :
			"HTTP/2 session ended", 0);
		return -1;
	}
	return 0;
}

/* Submit ready batches as new streams while there is room. */
static void
h2_pump(struct h2up *st)
{
	struct batch *b;
	unsigned limit, remote;
	char first[24], last[24], clen[24];
	nghttp2_data_provider prd;
	int32_t id;

	if (st->sess == NULL || !st->is_up)
		return;
	if (!st->closing && now_s() >= st->hold_until) {
		limit = st->c.max_streams;
		remote = nghttp2_session_get_remote_settings(
			st->sess, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
		if (remote < limit)
			limit = remote;
		while ((b = TAILQ_FIRST(&st->ready)) != NULL &&
		       (unsigned)nghttp2_session_get_outbound_queue_size(st->sess) < 64) {
			unsigned n = 0;
			struct batch *x;

			TAILQ_FOREACH(x, &st->inflight, link)
				n++;
			if (n >= limit)
				break;
			snprintf(first, sizeof(first), "%" PRIu64, b->seq[0]);
			snprintf(last, sizeof(last), "%" PRIu64, b->seq[b->n - 1]);
			snprintf(clen, sizeof(clen), "%zu", b->len);
#define NV(n, v, vl) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, vl, \
		       NGHTTP2_NV_FLAG_NO_COPY_NAME }
			{
				const nghttp2_nv nva[] = {
					NV(":method", "POST", 4),
					NV(":scheme", "https", 5),
					NV(":authority", st->c.u.authority,
					   strlen(st->c.u.authority)),
					NV(":path", st->c.u.path,
					   strlen(st->c.u.path)),
					NV("content-type", "application/json", 16),
					NV("content-length", clen, strlen(clen)),
					NV("user-agent", "zonegate/" H2_VERSION,
					   sizeof("zonegate/" H2_VERSION) - 1),
					NV("zonegate-seq-first", first,
					   strlen(first)),
					NV("zonegate-seq-last", last, strlen(last)),
					NV("authorization", st->c.token ?
					   st->c.token : "",
					   st->c.token ? strlen(st->c.token) : 0),
				};
				size_t nvn = sizeof(nva) / sizeof(nva[0]);

				if (st->c.token == NULL)
					nvn--;
				prd.source.ptr = b;
				prd.read_callback = body_read_cb;
				b->off = 0;
				b->status = 0;
				id = nghttp2_submit_request(st->sess, NULL, nva,
							    nvn, &prd, b);
			}
#undef NV
			if (id < 0) {
				h2_drop(st, nghttp2_strerror(id), 1);
				return;
			}
			TAILQ_REMOVE(&st->ready, b, link);
			b->state = B_INFLIGHT;
			b->stream = id;
			b->started = now_s();
			TAILQ_INSERT_TAIL(&st->inflight, b, link);
			st->requests++;
		}
	}
	h2_flush(st);
}

/*
 * End the connection (any reason) and tell the host: it sends every
 * unacknowledged message again after the next uplink_up().  A reconnect
 * is scheduled with backoff.  `abortive': the connection failed (reset,
 * refused, timed out): free it at once instead of a graceful close that
 * would wait for a dead peer.
 */
static void
h2_drop(struct h2up *st, const char *why, int abortive)
{
	double d;

	if (st->in_cb) {
		/* nghttp2 is on the stack: end the session after it returns. */
		if (st->drop_why[0] == '\0') {
			snprintf(st->drop_why, sizeof(st->drop_why), "%s", why);
			st->drop_abortive = abortive;
		}
		return;
	}
	if (st->sess != NULL) {
		nghttp2_session_del(st->sess);
		st->sess = NULL;
	}
	if (st->tls != NULL) {
		bufferevent_setcb(st->bev, NULL, NULL, NULL, NULL);
		if (abortive)
			st->api->tls_free(st->tls);
		else
			st->api->tls_close(st->tls);
		st->tls = NULL;
		st->bev = NULL;
	}
	batches_clear(st);
	st->connecting = 0;
	st->closing = 0;
	st->ping_sent = 0;
	st->hold_until = 0;
	st->api->timer_stop(st->retry_timer);
	st->want_ready = 0; /* uplink_up() restarts the feed */
	/* also while down: the operator sees why the last attempt failed */
	st->is_up = 0;
	st->api->uplink_down(st->up, why);
	if (st->draining)
		return;
	st->conn_failures++;
	d = backoff(&st->c, st->conn_failures);
	st->api->log(st->h, ZG_LOG_WARN, "uplink %s down: %s; reconnecting in "
		     "%.2fs", st->c.url, why, d);
	st->api->timer_start(st->conn_timer, d, false);
}

static void
bev_read_cb(struct bufferevent *bev, void *arg)
{
	struct h2up *st = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)len);
	ssize_t n;

	if (st->sess == NULL) {
		evbuffer_drain(in, len); /* before ALPN was checked: ignored */
		return;
	}
	st->last_rx = now_s();
	st->in_cb = 1;
	n = nghttp2_session_mem_recv(st->sess, p, len);
	st->in_cb = 0;
	if (drop_pending(st))
		return;
	if (n < 0) {
		char why[160];

		snprintf(why, sizeof(why), "HTTP/2 protocol error from the "
			 "server: %s", nghttp2_strerror((int)n));
		h2_drop(st, why, 0);
		return;
	}
	evbuffer_drain(in, (size_t)n);
	h2_pump(st);
}

static void
bev_write_cb(struct bufferevent *bev, void *arg)
{
	struct h2up *st = arg;

	(void)bev;
	if (st->sess != NULL)
		h2_flush(st);
}

/* The TLS failure as a sentence, with what to check. */
static void
tls_failure(struct h2up *st, char *buf, size_t len)
{
	const char *kind = st->api->tls_fail_kind(st->tls);
	const char *hint = "";

	if (strcmp(kind, "alert") == 0 &&
	    strstr(st->api->tls_error(st->tls), "no application protocol"))
		hint = ": the server does not speak HTTP/2 (ALPN h2) on this "
		       "port: check url";
	else if (strcmp(kind, "alert") == 0)
		hint = ": the server refused the TLS session; if it names a "
		       "certificate, check that tls.cert is issued by a CA the "
		       "server trusts";
	else if (strcmp(kind, "verify") == 0)
		hint = ": the server's certificate is not trusted: check tls.ca "
		       "and that the certificate names the URL's host (or "
		       "tls.server_name)";
	else if (strcmp(kind, "io") == 0)
		hint = ": is the server running and reachable?";
	else if (strcmp(kind, "timeout") == 0)
		hint = ": no answer in time (tls.handshake_timeout)";
	snprintf(buf, len, "TLS %s: %s%s", kind, st->api->tls_error(st->tls),
		 hint);
}

static nghttp2_session *
session_new(struct h2up *st)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *s = NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 16 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
	};

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return NULL;
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
							       on_stream_close_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
								  on_data_chunk_cb);
	if (nghttp2_session_client_new(&s, cb, st) != 0)
		s = NULL;
	nghttp2_session_callbacks_del(cb);
	if (s != NULL && nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv,
						 sizeof(iv) / sizeof(iv[0])) != 0) {
		nghttp2_session_del(s);
		s = NULL;
	}
	return s;
}

static void
bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct h2up *st = arg;
	struct zg_peer_cert pc;
	char why[768];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		st->connecting = 0;
		if (st->api->tls_peer(st->tls, &pc) < 0 || pc.alpn == NULL ||
		    strcmp(pc.alpn, "h2") != 0) {
			snprintf(why, sizeof(why), "the server at %s does not "
				 "speak HTTP/2 (ALPN h2): it selected %s%s%s; "
				 "check url",
				 st->c.address, pc.alpn ? "\"" : "",
				 pc.alpn ? pc.alpn : "none",
				 pc.alpn ? "\"" : "");
			st->api->log(st->h, ZG_LOG_ERR, "%s", why);
			h2_drop(st, why, 0);
			return;
		}
		st->api->log(st->h, ZG_LOG_DEBUG, "TLS to %s: %s %s, server %s",
			     st->c.address, pc.version, pc.cipher,
			     pc.identity ? pc.identity : "?");
		st->sess = session_new(st);
		if (st->sess == NULL) {
			h2_drop(st, "cannot create an HTTP/2 session", 1);
			return;
		}
		st->last_rx = now_s();
		h2_flush(st);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		tls_failure(st, why, sizeof(why));
		/* A refused certificate or TLS setup needs a person; a
		 * server that is down shows in the reconnect line. */
		if (strcmp(st->api->tls_fail_kind(st->tls), "io") != 0 &&
		    strcmp(st->api->tls_fail_kind(st->tls), "truncated") != 0)
			st->api->log(st->h, ZG_LOG_ERR, "%s: %s", st->c.url, why);
		h2_drop(st, why, 1);
		return;
	}
	if (what & BEV_EVENT_EOF)
		h2_drop(st, "the server closed the connection", 0);
}

static void
h2_connect(struct h2up *st)
{
	if (st->tls != NULL || st->draining)
		return;
	st->connecting = 1;
	st->tls = st->api->tls_connect(st->c.tls, st->c.address, st->c.u.host,
				       &st->bev);
	if (st->tls == NULL) {
		st->connecting = 0;
		st->conn_failures++;
		st->api->timer_start(st->conn_timer,
				     backoff(&st->c, st->conn_failures), false);
		return;
	}
	bufferevent_setcb(st->bev, bev_read_cb, bev_write_cb, bev_event_cb, st);
	bufferevent_setwatermark(st->bev, EV_WRITE, H2_OUT_HIGH / 2, 0);
	bufferevent_enable(st->bev, EV_READ | EV_WRITE);
}

/* ------------------------------------------------------------------ */
/* timers                                                             */
/* ------------------------------------------------------------------ */

static void
conn_timer_cb(void *arg)
{
	h2_connect(arg);
}

static void
batch_timer_cb(void *arg)
{
	struct h2up *st = arg;

	batch_close(st);
	h2_pump(st);
}

static void
retry_timer_cb(void *arg)
{
	struct h2up *st = arg;

	st->hold_until = 0; /* the two clocks may differ by a hair */
	h2_pump(st);
}

/* Request timeouts and PING keepalive. */
static void
tick_cb(void *arg)
{
	struct h2up *st = arg;
	struct batch *b, *next;
	double t = now_s();
	int sent = 0;

	if (st->sess == NULL)
		return;
	for (b = TAILQ_FIRST(&st->inflight); b != NULL; b = next) {
		next = TAILQ_NEXT(b, link);
		if (t - b->started > st->c.timeout && b->stream > 0) {
			st->api->log(st->h, ZG_LOG_WARN, "POST %s: no answer in "
				     "%.1fs (timeout): cancelling the request",
				     st->c.url, st->c.timeout);
			b->started = t; /* once */
			nghttp2_submit_rst_stream(st->sess, NGHTTP2_FLAG_NONE,
						  b->stream, NGHTTP2_CANCEL);
			sent = 1;
		}
	}
	if (st->c.keepalive > 0) {
		if (st->ping_sent > 0 && t - st->ping_sent > st->c.timeout) {
			h2_drop(st, "no answer to PING: the connection is dead", 1);
			return;
		}
		if (st->ping_sent == 0 && t - st->last_rx > st->c.keepalive) {
			nghttp2_submit_ping(st->sess, NGHTTP2_FLAG_NONE, NULL);
			st->ping_sent = t;
			sent = 1;
		}
	}
	if (sent)
		h2_flush(st);
}

/* ------------------------------------------------------------------ */
/* the uplink                                                         */
/* ------------------------------------------------------------------ */

/*
 * The host hands over one message.  Refused (-1) while the connection is
 * not up or when max_held messages are already held; the host then waits
 * for uplink_ready()/uplink_up().
 */
static int
h2_send(void *arg, const struct zg_msg *m)
{
	struct h2up *st = arg;

	if (!st->is_up || st->held >= st->max_held) {
		st->want_ready = 1;
		return -1;
	}
	/* A message larger than max_bytes travels alone. */
	if (st->open != NULL && (st->open->len + 2 + m->len > st->c.max_bytes ||
				 st->open->n >= st->open->cap))
		batch_close(st);
	if (st->open == NULL) {
		if ((st->open = batch_new(&st->c)) == NULL) {
			st->want_ready = 1;
			return -1;
		}
		if (st->c.max_delay > 0)
			st->api->timer_start(st->batch_timer, st->c.max_delay,
					     false);
	}
	if (batch_add(st->open, m) < 0) {
		st->want_ready = 1;
		return -1;
	}
	st->held++;
	if (st->open->n >= st->c.max_messages || st->open->n >= st->open->cap ||
	    st->c.max_delay == 0)
		batch_close(st);
	h2_pump(st);
	return 0;
}

static const struct zg_uplink_ops h2_ops = {
	.send = h2_send,
};

/* The host must offer the uplink and TLS client services we use. */
static int
host_ok(const struct zg_host_api *api, struct zg_host *h)
{
	if (api->size < offsetof(struct zg_host_api, tls_connect) +
			sizeof(api->tls_connect) ||
	    api->tls_client_ctx == NULL || api->tls_connect == NULL) {
		api->log(h, ZG_LOG_ERR, "this zonegated has no TLS client "
			 "service: update zonegated");
		return 0;
	}
	if (api->uplink_new == NULL) {
		api->log(h, ZG_LOG_ERR, "this zonegated has no northbound spool "
			 "(uplink API): the http2 uplink cannot run on it");
		return 0;
	}
	return 1;
}

static int
h2_check(const struct zg_host_api *api, struct zg_host *h,
	 const struct zg_cfg *cfg)
{
	struct h2conf c;

	if (api->size < offsetof(struct zg_host_api, tls_connect) +
			sizeof(api->tls_connect) || api->tls_client_ctx == NULL) {
		api->cfg_error(h, cfg, NULL, "this zonegated has no TLS client "
			       "service: update zonegated");
		return -1;
	}
	if (conf_parse(api, h, cfg, &c, 1) < 0)
		return -1;
	conf_free(api, &c);
	return 0;
}

static void
h2_fini(void *arg)
{
	struct h2up *st = arg;

	if (st == NULL)
		return;
	st->draining = 1;
	if (st->sess != NULL)
		nghttp2_session_del(st->sess);
	if (st->tls != NULL) {
		bufferevent_setcb(st->bev, NULL, NULL, NULL, NULL);
		st->api->tls_free(st->tls);
	}
	batches_clear(st);
	if (st->up != NULL)
		st->api->uplink_free(st->up);
	st->api->timer_free(st->tick);
	st->api->timer_free(st->batch_timer);
	st->api->timer_free(st->retry_timer);
	st->api->timer_free(st->conn_timer);
	conf_free(st->api, &st->c);
	free(st);
}

static unsigned
max_held_of(const struct h2conf *c)
{
	unsigned long n = (unsigned long)c->max_messages * (c->max_streams + 2);

	return n > H2_MAX_HELD_MSGS ? H2_MAX_HELD_MSGS : (unsigned)n;
}

static int
h2_init(const struct zg_host_api *api, struct zg_host *h,
	const struct zg_cfg *cfg, void **state)
{
	struct h2up *st;

	if (!host_ok(api, h))
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->api = api;
	st->h = h;
	TAILQ_INIT(&st->ready);
	TAILQ_INIT(&st->inflight);
	if (conf_parse(api, h, cfg, &st->c, 0) < 0) {
		free(st);
		return -1;
	}
	st->max_held = max_held_of(&st->c);
	st->tick = api->timer_new(h, tick_cb, st);
	st->batch_timer = api->timer_new(h, batch_timer_cb, st);
	st->retry_timer = api->timer_new(h, retry_timer_cb, st);
	st->conn_timer = api->timer_new(h, conn_timer_cb, st);
	if (st->tick == NULL || st->batch_timer == NULL ||
	    st->retry_timer == NULL || st->conn_timer == NULL ||
	    api->timer_start(st->tick, H2_TICK_S, true) < 0) {
		h2_fini(st);
		return -1;
	}
	st->up = api->uplink_new(h, st->c.name, &h2_ops, st, st->max_held);
	if (st->up == NULL) {
		api->log(h, ZG_LOG_ERR, "cannot register uplink \"%s\"",
			 st->c.name);
		h2_fini(st);
		return -1;
	}
	if (api->size >= offsetof(struct zg_host_api, uplink_target) +
			sizeof(api->uplink_target) &&
	    api->uplink_target != NULL)
		api->uplink_target(st->up, st->c.url);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	api->log(h, ZG_LOG_INFO, "uplink \"%s\" to %s via %s: batches of up to "
		 "%u messages / %zu bytes / %.3fs, %u streams", st->c.name,
		 st->c.url, st->c.address, st->c.max_messages, st->c.max_bytes,
		 st->c.max_delay, st->c.max_streams);
	h2_connect(st);
	*state = st;
	return 0;
}

/*
 * Apply a checked new config.  A changed url, address or uplink name
 * means a new connection (the old one ends: the host resends what was
 * not acknowledged); everything else (token, TLS files for the next
 * connection, batching, retry, timeouts) applies in place.
 */
static int
h2_reload(void *arg, const struct zg_cfg *cfg)
{
	struct h2up *st = arg;
	struct h2conf c;
	int reconnect;

	if (conf_parse(st->api, st->h, cfg, &c, 0) < 0)
		return -1;
	if (strcmp(c.name, st->c.name) != 0) {
		st->api->log(st->h, ZG_LOG_ERR, "uplink name cannot change on "
			     "reload (\"%s\" -> \"%s\"): restart zonegated",
			     st->c.name, c.name);
		conf_free(st->api, &c);
		return -1;
	}
	reconnect = strcmp(c.url, st->c.url) != 0 ||
		    strcmp(c.address, st->c.address) != 0;
	if (reconnect && st->tls != NULL) {
		h2_drop(st, "configuration changed", 0);
		st->api->timer_stop(st->conn_timer);
		st->conn_failures = 0;
	}
	conf_free(st->api, &st->c);
	st->c = c;
	st->max_held = max_held_of(&st->c);
	if (st->tls == NULL) {
		st->api->timer_stop(st->conn_timer);
		h2_connect(st);
	}
	st->api->log(st->h, ZG_LOG_INFO, "configuration reloaded%s",
		     reconnect ? ": reconnecting" : "");
	return 0;
}

/* Shutdown: nothing in flight survives the process anyway (the spool
 * keeps it); wait until requests in flight have been answered. */
static int
h2_drain(void *arg)
{
	struct h2up *st = arg;

	st->draining = 1;
	if (st->sess == NULL || TAILQ_EMPTY(&st->inflight))
		return 0;
	return 1;
}

static const char *const protos[] = { "http2-uplink", NULL };

static const struct zg_plugin desc = {
	.abi_version = ZG_PLUGIN_ABI_VERSION,
	.name = "http2",
	.version = H2_VERSION,
	.protocols = protos,
	.check = h2_check,
	.init = h2_init,
	.reload = h2_reload,
	.drain = h2_drain,
	.fini = h2_fini,
};

ZG_PLUGIN_DECLARE(desc);
