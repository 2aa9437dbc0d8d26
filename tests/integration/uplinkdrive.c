/*
 * uplinkdrive: a small test host for northbound uplink plugins.
 *
 *   uplinkdrive -p MODULE.so -c FILE [-n COUNT] [-i MS] [-s PAD] [-T SECS]
 *
 * Loads an uplink plugin the way zonegated does (dlopen, ABI check,
 * check(), init() with the `config' group of FILE) and serves it the host
 * API: configuration through gateway/cfgutil.c, timers on one event loop,
 * TLS through gateway/tls_host.c (the daemon's own code), and the uplink
 * contract of <zonegate/plugin.h> from an in-memory stand-in for the
 * spool: COUNT messages with seq 1..COUNT ({"seq":N,...} plus PAD bytes of
 * padding), produced one every MS milliseconds (0: all at once), fed in
 * sequence order, at most max_inflight unacknowledged, everything
 * unacknowledged sent again after uplink_up(), one copy kept until acked.
 * SIGHUP re-reads FILE and calls the plugin's reload(); SIGTERM ends the
 * run (exit 1 unless all was acknowledged) after freeing everything.
 *
 * Exits 0 once every message was acknowledged, 1 at the deadline (-T,
 * default 120 s), 2 on a configuration error.  The last line on stdout
 * is "acked A/COUNT sends S resends R ups U downs D seconds T rate M/s".
 *
 * It exists so that the plugin can be tested and measured against real
 * HTTP/2 servers independently of the daemon's durable spool.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <zonegate/plugin.h>

#include "gateway/cfgutil.h"
#include "gateway/tls_host.h"

#define S(n) ((const config_setting_t *)(const void *)(n))
#define N(s) ((const struct zg_cfg *)(const void *)(s))

struct zg_host {
	const char *name;
	struct cfg_errs errs;
};

struct zg_timer {
	struct event *ev;
	zg_timer_cb cb;
	void *arg;
};

struct zg_uplink {
	const struct zg_uplink_ops *ops;
	void *arg;
	unsigned max_inflight;
};

struct ctx_ref {
	struct zg_tls_ctx *ctx;
	char *server_name;
};

static struct event_base *base;
static struct zg_host host = { .name = "plugin" };
static struct zg_uplink *uplink;
static uint64_t count = 1000, produced, next_send = 1, acked_n;
static unsigned char *acked;
static unsigned inflight, ups, downs;
static unsigned long sends, resends;
static int up, blocked;
static unsigned pad;
static double t0;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
api_log(struct zg_host *h, int level, const char *fmt, ...)
{
	static const char *const lv[] = { "err", "warn", "info", "debug" };
	va_list ap;

	fprintf(stderr, "%.3f %s %s: ", now_s() - t0,
		level >= 0 && level <= 3 ? lv[level] : "?", h->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
api_log_peer(struct zg_host *h, int level, const char *peer, const char *fmt,
	     ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	api_log(h, level, "%s: %s", peer ? peer : "-", buf);
}

static const struct zg_cfg *
api_cfg_child(const struct zg_cfg *n, const char *key)
{
	if (n == NULL || !config_setting_is_group(S(n)))
		return NULL;
	return N(config_setting_get_member(S(n), key));
}

static int
api_cfg_count(const struct zg_cfg *n)
{
	return n && config_setting_is_aggregate(S(n)) ?
		config_setting_length(S(n)) : 0;
}

static const struct zg_cfg *
api_cfg_elem(const struct zg_cfg *n, int i)
{
	if (n == NULL || i < 0 || !config_setting_is_aggregate(S(n)))
		return NULL;
	return N(config_setting_get_elem(S(n), (unsigned)i));
}

static const char *
api_cfg_name(const struct zg_cfg *n)
{
	return n ? config_setting_name(S(n)) : NULL;
}

static int
api_cfg_line(const struct zg_cfg *n)
{
	return cfg_line(S(n));
}

static int
api_cfg_string(struct zg_host *h, const struct zg_cfg *n, const char *key,
	       const char *def, const char **out)
{
	return cfg_get_string(&h->errs, S(n), key, def, out);
}

static int
api_cfg_int(struct zg_host *h, const struct zg_cfg *n, const char *key,
	    long long def, long long min, long long max, long long *out)
{
	return cfg_get_int(&h->errs, S(n), key, def, min, max, out);
}

static int
api_cfg_bool(struct zg_host *h, const struct zg_cfg *n, const char *key,
	     bool def, bool *out)
{
	return cfg_get_bool(&h->errs, S(n), key, def, out);
}

static int
api_cfg_double(struct zg_host *h, const struct zg_cfg *n, const char *key,
	       double def, double min, double max, double *out)
{
	return cfg_get_double(&h->errs, S(n), key, def, min, max, out);
}

static int
api_cfg_known_keys(struct zg_host *h, const struct zg_cfg *n,
		   const char *const *keys)
{
	return cfg_known_keys(&h->errs, S(n), keys);
}

static void
api_cfg_error(struct zg_host *h, const struct zg_cfg *n, const char *key,
	      const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_err(&h->errs, S(n), key, "%s", msg);
}

static struct event_base *
api_event_base(struct zg_host *h)
{
	(void)h;
	return base;
}

static void
timer_fire(evutil_socket_t fd, short what, void *arg)
{
	struct zg_timer *t = arg;

	(void)fd;
	(void)what;
	t->cb(t->arg);
}

static struct zg_timer *
api_timer_new(struct zg_host *h, zg_timer_cb cb, void *arg)
{
	struct zg_timer *t = calloc(1, sizeof(*t));

	(void)h;
	if (t == NULL)
		return NULL;
	t->cb = cb;
	t->arg = arg;
	return t;
}

static int
api_timer_start(struct zg_timer *t, double s, bool periodic)
{
	struct timeval tv;

	if (t->ev != NULL)
		event_free(t->ev);
	t->ev = event_new(base, -1, periodic ? EV_PERSIST : 0, timer_fire, t);
	if (t->ev == NULL)
		return -1;
	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return event_add(t->ev, &tv);
}

static void
api_timer_stop(struct zg_timer *t)
{
	if (t != NULL && t->ev != NULL)
		event_del(t->ev);
}

static void
api_timer_free(struct zg_timer *t)
{
	if (t == NULL)
		return;
	if (t->ev != NULL)
		event_free(t->ev);
	free(t);
}

static struct zg_tls_ctx *
api_tls_client_ctx(struct zg_host *h, const struct zg_cfg *n,
		   const char *const *alpn)
{
	struct ctx_ref *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->ctx = tls_host_client_ctx(&h->errs, S(n), alpn, &r->server_name);
	if (r->ctx == NULL) {
		free(r);
		return NULL;
	}
	return (struct zg_tls_ctx *)(void *)r;
}

static void
api_tls_ctx_free(struct zg_tls_ctx *c)
{
	struct ctx_ref *r = (struct ctx_ref *)(void *)c;

	if (r == NULL)
		return;
	tls_host_ctx_free(r->ctx);
	free(r->server_name);
	free(r);
}

static struct zg_tls *
api_tls_connect(struct zg_tls_ctx *c, const char *addr, const char *sn,
		struct bufferevent **bev)
{
	struct ctx_ref *r = (struct ctx_ref *)(void *)c;
	struct zg_tls *t;
	char err[384];

	t = tls_host_connect(r->ctx, base, addr, r->server_name ?
			     r->server_name : sn, bev, err, sizeof(err));
	if (t == NULL)
		api_log(&host, ZG_LOG_ERR, "cannot connect to %s: %s", addr, err);
	return t;
}

/* -- the spool stand-in ------------------------------------------------ */

static void
feed(void)
{
	char payload[256 + 65536];
	struct zg_msg m;
	int n;

	while (up && !blocked && inflight < uplink->max_inflight &&
	       next_send <= produced) {
		if (acked[next_send]) {
			next_send++;
			continue;
		}
		n = snprintf(payload, sizeof(payload),
			     "{\"seq\":%" PRIu64 ",\"topic\":\"telemetry/test\","
			     "\"v\":%" PRIu64 ",\"pad\":\"%.*s\"}", next_send,
			     next_send * 7, (int)pad,
			     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		memset(&m, 0, sizeof(m));
		m.seq = next_send;
		m.topic = "telemetry/test";
		m.payload = payload;
		m.len = (size_t)n;
		m.ts_ms = (int64_t)time(NULL) * 1000;
		if (uplink->ops->send(uplink->arg, &m) < 0) {
			blocked = 1;
			break;
		}
		sends++;
		inflight++;
		next_send++;
	}
}

static struct zg_uplink *
api_uplink_new(struct zg_host *h, const char *name,
	       const struct zg_uplink_ops *ops, void *arg, unsigned max_inflight)
{
	(void)h;
	(void)name;
	uplink = calloc(1, sizeof(*uplink));
	if (uplink == NULL)
		return NULL;
	uplink->ops = ops;
	uplink->arg = arg;
	uplink->max_inflight = max_inflight ? max_inflight : 1;
	return uplink;
}

static void
api_uplink_up(struct zg_uplink *u)
{
	uint64_t s;

	(void)u;
	ups++;
	up = 1;
	blocked = 0;
	/* Everything not acknowledged goes again, from the lowest seq. */
	for (s = 1; s < next_send; s++)
		if (!acked[s])
			break;
	if (s < next_send)
		resends += next_send - s;
	next_send = s;
	inflight = 0;
	feed();
}

static void
api_uplink_down(struct zg_uplink *u, const char *why)
{
	(void)u;
	downs++;
	up = 0;
	api_log(&host, ZG_LOG_INFO, "host: uplink down: %s", why);
}

static void
api_uplink_ack(struct zg_uplink *u, uint64_t seq)
{
	(void)u;
	if (seq == 0 || seq > count || seq >= next_send) {
		api_log(&host, ZG_LOG_ERR, "host: ack of seq %" PRIu64
			" that was never sent", seq);
		abort();
	}
	if (acked[seq])
		return;
	acked[seq] = 1;
	acked_n++;
	if (inflight > 0)
		inflight--;
	if (acked_n == count) {
		event_base_loopexit(base, NULL);
		return;
	}
	feed();
}

static void
api_uplink_ready(struct zg_uplink *u)
{
	(void)u;
	blocked = 0;
	feed();
}

static void
api_uplink_free(struct zg_uplink *u)
{
	free(u);
	uplink = NULL;
}

static const struct zg_host_api api = {
	.abi_version = ZG_PLUGIN_ABI_VERSION,
	.size = sizeof(struct zg_host_api),
	.log = api_log,
	.log_peer = api_log_peer,
	.cfg_child = api_cfg_child,
	.cfg_count = api_cfg_count,
	.cfg_elem = api_cfg_elem,
	.cfg_name = api_cfg_name,
	.cfg_line = api_cfg_line,
	.cfg_string = api_cfg_string,
	.cfg_int = api_cfg_int,
	.cfg_bool = api_cfg_bool,
	.cfg_double = api_cfg_double,
	.cfg_known_keys = api_cfg_known_keys,
	.cfg_error = api_cfg_error,
	.event_base = api_event_base,
	.timer_new = api_timer_new,
	.timer_start = api_timer_start,
	.timer_stop = api_timer_stop,
	.timer_free = api_timer_free,
	.tls_ctx_free = api_tls_ctx_free,
	.tls_peer = tls_host_peer,
	.tls_fail_kind = tls_host_fail_kind,
	.tls_error = tls_host_error,
	.tls_close = tls_host_close,
	.tls_free = tls_host_free,
	.uplink_new = api_uplink_new,
	.uplink_up = api_uplink_up,
	.uplink_down = api_uplink_down,
	.uplink_ack = api_uplink_ack,
	.uplink_ready = api_uplink_ready,
	.uplink_free = api_uplink_free,
	.tls_client_ctx = api_tls_client_ctx,
	.tls_connect = api_tls_connect,
};

/* -- main ------------------------------------------------------------- */

static const char *conf_file;
static const struct zg_plugin *desc;
static void *state;
static unsigned per_tick = 1;

static void
produce_cb(evutil_socket_t fd, short what, void *arg)
{
	unsigned i;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < per_tick && produced < count; i++)
		produced++;
	feed();
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	api_log(&host, ZG_LOG_ERR, "host: deadline reached");
	event_base_loopexit(base, NULL);
}

/* SIGTERM: end the loop and free everything, so that leak checkers see
 * the failure paths too (a test stops a driver that cannot deliver). */
static void
term_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	api_log(&host, ZG_LOG_INFO, "host: SIGTERM");
	event_base_loopexit(base, NULL);
}

static int
load_config(config_t *cfg, const config_setting_t **node)
{
	cfg_errs_init(&host.errs);
	if (cfg_read_file(cfg, conf_file, &host.errs) < 0) {
		cfg_errs_print(&host.errs, stderr);
		cfg_errs_free(&host.errs);
		return -1;
	}
	*node = config_lookup(cfg, "config");
	return 0;
}

static void
hup_cb(evutil_socket_t fd, short what, void *arg)
{
	const config_setting_t *node;
	config_t cfg;
	int rc;

	(void)fd;
	(void)what;
	(void)arg;
	if (load_config(&cfg, &node) < 0)
		return;
	rc = desc->check(&api, &host, N(node));
	if (rc == 0 && cfg_errs_count(&host.errs) == 0)
		rc = desc->reload(state, N(node));
	cfg_errs_print(&host.errs, stderr);
	cfg_errs_free(&host.errs);
	config_destroy(&cfg);
	api_log(&host, ZG_LOG_INFO, "host: reload %s", rc == 0 ? "done" : "failed");
}

int
main(int argc, char **argv)
{
	const char *module = NULL;
	const config_setting_t *node;
	zg_plugin_entry_fn entry;
	struct event *prod, *dl, *hup, *term;
	struct timeval tv;
	double secs = 120, interval_ms = 0, t;
	config_t cfg;
	void *so;
	int c, rc;

	while ((c = getopt(argc, argv, "p:c:n:i:s:T:")) != -1) {
		switch (c) {
		case 'p': module = optarg; break;
		case 'c': conf_file = optarg; break;
		case 'n': count = strtoull(optarg, NULL, 10); break;
		case 'i': interval_ms = atof(optarg); break;
		case 's': pad = (unsigned)atoi(optarg); break;
		case 'T': secs = atof(optarg); break;
		default:
			fprintf(stderr, "usage: uplinkdrive -p MODULE.so -c FILE "
				"[-n COUNT] [-i MS] [-s PAD] [-T SECS]\n");
			return 2;
		}
	}
	if (module == NULL || conf_file == NULL || count == 0 || pad > 52) {
		fprintf(stderr, "uplinkdrive: -p and -c are required; -s <= 52\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	t0 = now_s();
	acked = calloc(count + 1, 1);
	base = event_base_new();
	if (acked == NULL || base == NULL)
		return 2;
	so = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (so == NULL) {
		fprintf(stderr, "uplinkdrive: %s\n", dlerror());
		return 2;
	}
	*(void **)(&entry) = dlsym(so, ZG_PLUGIN_SYMBOL);
	if (entry == NULL || (desc = entry()) == NULL ||
	    desc->abi_version != ZG_PLUGIN_ABI_VERSION) {
		fprintf(stderr, "uplinkdrive: %s is not a zonegate plugin of "
			"this ABI\n", module);
		return 2;
	}
	if (load_config(&cfg, &node) < 0)
		return 2;
	rc = desc->check ? desc->check(&api, &host, N(node)) : 0;
	if (rc == 0 && cfg_errs_count(&host.errs) == 0)
		rc = desc->init(&api, &host, N(node), &state);
	cfg_errs_print(&host.errs, stderr);
	if (rc < 0 || cfg_errs_count(&host.errs) > 0) {
		fprintf(stderr, "uplinkdrive: the plugin refused its "
			"configuration\n");
		return 2;
	}
	cfg_errs_free(&host.errs);
	config_destroy(&cfg);

	if (interval_ms <= 0) {
		produced = count;
		prod = NULL;
	} else {
		/* Ticks of at least 5 ms; several messages per tick when
		 * the interval is shorter. */
		double tick = interval_ms < 5 ? 5 : interval_ms;

		per_tick = (unsigned)(tick / interval_ms + 0.5);
		prod = event_new(base, -1, EV_PERSIST, produce_cb, NULL);
		tv.tv_sec = (time_t)(tick / 1000);
		tv.tv_usec = (suseconds_t)((tick - (double)tv.tv_sec * 1000) * 1000);
		event_add(prod, &tv);
	}
	dl = evtimer_new(base, deadline_cb, NULL);
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = 0;
	evtimer_add(dl, &tv);
	hup = evsignal_new(base, SIGHUP, hup_cb, NULL);
	event_add(hup, NULL);
	term = evsignal_new(base, SIGTERM, term_cb, NULL);
	event_add(term, NULL);
	t0 = now_s();
	event_base_dispatch(base);
	t = now_s() - t0;

	printf("acked %" PRIu64 "/%" PRIu64 " sends %lu resends %lu ups %u "
	       "downs %u seconds %.3f rate %.0f/s\n", acked_n, count, sends,
	       resends, ups, downs, t, t > 0 ? (double)acked_n / t : 0.0);
	fflush(stdout);
	desc->fini(state);
	if (prod != NULL)
		event_free(prod);
	event_free(dl);
	event_free(hup);
	event_free(term);
	/* Connections the plugin closed gracefully finish on the loop
	 * (bounded by the TLS layer's close timeout), as in the daemon. */
	event_base_dispatch(base);
	event_base_free(base);
	free(acked);
	dlclose(so);
	return acked_n == count ? 0 : 1;
}
