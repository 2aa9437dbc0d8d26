/*
 * plugin_host.c: plugin loading and the host services a plugin gets.
 *
 * Plugins are opened RTLD_NOW | RTLD_LOCAL so that an unresolved symbol
 * fails at load time and nothing a plugin exports leaks into the global
 * namespace.  RTLD_DEEPBIND (optional, per plugin) makes a plugin prefer
 * its own dependencies: the MQTT uplink needs it in the BoringSSL build
 * because libmosquitto brings OpenSSL 3 (see docs/architecture.md).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include <zonegate/plugin.h>

#include "gateway/bus.h"
#include "gateway/decide.h"
#include "gateway/events.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/netaddr.h"
#include "gateway/plugin_host.h"
#include "gateway/tls_host.h"

#define MAX_LISTENERS 64

struct zg_listener {
	struct zg_host *h;
	struct evconnlistener *lev;
	struct event *resume;       /* re-enables accepting after EMFILE */
	unsigned long refused;      /* accept failures in this episode */
	zg_accept_cb cb;
	void *arg;
	char addr[NETADDR_STRLEN];
	struct zg_listener *next;
};

struct zg_timer {
	struct zg_host *h;
	struct event *ev;
	zg_timer_cb cb;
	void *arg;
	struct zg_timer *next;
};

struct zg_host {
	struct zg_daemon *d;
	void *dl;
	const struct zg_plugin *desc;
	char *name;
	char *path;
	void *state;
	bool started;
	struct cfg_errs *errs;      /* where cfg_* errors go right now */
	struct cfg_errs own_errs;   /* used when a plugin reports late */
	struct zg_listener *listeners;
	int nlisteners;
	struct zg_timer *timers;
	zg_command_fn cmd_fn;       /* command_handler(): commands to us */
	void *cmd_arg;
};

/* One command between two plugins (command_submit .. command_done). */
struct zg_cmd {
	struct zg_host *from;       /* NULL once the submitter stopped */
	struct zg_host *to;
	zg_command_result_cb cb;
	void *arg;
	struct zg_cmd *next;
};
/* Every command in flight (the loop thread only, like all host state). */
static struct zg_cmd *cmds;

static const struct zg_host_api host_api;

/* ---------------------------------------------------------------- */
/* logging */

static void
api_log(struct zg_host *h, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msgv(level, h->name, NULL, fmt, ap);
	va_end(ap);
}

static void
api_log_peer(struct zg_host *h, int level, const char *peer, const char *fmt,
	     ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msgv(level, h->name, peer ? peer : "-", fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- */
/* configuration: struct zg_cfg is a config_setting_t in disguise */

#define S(n) ((const config_setting_t *)(const void *)(n))
#define N(s) ((const struct zg_cfg *)(const void *)(s))

static struct cfg_errs *
errs_of(struct zg_host *h)
{
	return h->errs ? h->errs : &h->own_errs;
}

static const struct zg_cfg *
api_cfg_child(const struct zg_cfg *node, const char *key)
{
	if (node == NULL || !config_setting_is_group(S(node)))
		return NULL;
	return N(config_setting_get_member(S(node), key));
}

static int
api_cfg_count(const struct zg_cfg *node)
{
	if (node == NULL || !config_setting_is_aggregate(S(node)))
		return 0;
	return config_setting_length(S(node));
}

static const struct zg_cfg *
api_cfg_elem(const struct zg_cfg *node, int i)
{
	if (node == NULL || i < 0 || !config_setting_is_aggregate(S(node)))
		return NULL;
	return N(config_setting_get_elem(S(node), (unsigned)i));
}

static const char *
api_cfg_name(const struct zg_cfg *node)
{
	return node ? config_setting_name(S(node)) : NULL;
}

static int
api_cfg_line(const struct zg_cfg *node)
{
	return cfg_line(S(node));
}

static const char *
api_cfg_file(const struct zg_cfg *node)
{
	return node ? cfg_file(S(node)) : NULL;
}

static int
api_cfg_string(struct zg_host *h, const struct zg_cfg *node, const char *key,
	       const char *def, const char **out)
{
	return cfg_get_string(errs_of(h), S(node), key, def, out);
}

static int
api_cfg_int(struct zg_host *h, const struct zg_cfg *node, const char *key,
	    long long def, long long min, long long max, long long *out)
{
	return cfg_get_int(errs_of(h), S(node), key, def, min, max, out);
}

static int
api_cfg_bool(struct zg_host *h, const struct zg_cfg *node, const char *key,
	     bool def, bool *out)
{
	return cfg_get_bool(errs_of(h), S(node), key, def, out);
}

static int
api_cfg_double(struct zg_host *h, const struct zg_cfg *node, const char *key,
	       double def, double min, double max, double *out)
{
	return cfg_get_double(errs_of(h), S(node), key, def, min, max, out);
}

static int
api_cfg_known_keys(struct zg_host *h, const struct zg_cfg *node,
		   const char *const *keys)
{
	return cfg_known_keys(errs_of(h), S(node), keys);
}

static void
api_cfg_error(struct zg_host *h, const struct zg_cfg *node, const char *key,
	      const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_err(errs_of(h), S(node), key, "%s", msg);
}

static void
api_cfg_warning(struct zg_host *h, const struct zg_cfg *node, const char *key,
		const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	/* Outside check() (init, reload): check() already said it. */
	if (h->errs == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_warn(h->errs, S(node), key, "%s", msg);
}

/* ---------------------------------------------------------------- */
/* event loop */

static struct event_base *
api_event_base(struct zg_host *h)
{
	return h->d->base;
}

static void
listener_accept(struct evconnlistener *lev, evutil_socket_t fd,
		struct sockaddr *sa, int salen, void *arg)
{
	struct zg_listener *l = arg;

	(void)lev;
	if (l->h->d->draining) {
		evutil_closesocket(fd);
		return;
	}
	metrics_counter_add2("zonegate_connections_total", "plugin", l->h->name,
			     "listener", l->addr, 1);
	l->cb(fd, sa, (socklen_t)salen, l->arg);
}

static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct zg_listener *l = arg;

	(void)fd;
	(void)what;
	if (l->lev == NULL)
		return;
	log_msg(ZG_LOG_INFO, l->h->name, NULL,
		"listener %s: accepting again (%lu connections could not be accepted)",
		l->addr, l->refused);
	l->refused = 0;
	evconnlistener_enable(l->lev);
}

/*
 * accept() failed.  Out of descriptors (EMFILE/ENFILE, or no memory), the
 * pending connection stays in the backlog and the listener is readable
 * again at once: without a pause the loop spins at 100% CPU and logs a
 * line per turn.  So stop accepting for a second, say so once, and try
 * again; sessions already open keep being served meanwhile.
 */
static void
listener_error(struct evconnlistener *lev, void *arg)
{
	struct zg_listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 1, 0 };

	l->refused++;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_msg(ZG_LOG_WARN, l->h->name, NULL, "listener %s: accept: %s",
			l->addr, evutil_socket_error_to_string(err));
		return;
	}
	evconnlistener_disable(lev);
	if (l->resume == NULL)
		l->resume = evtimer_new(l->h->d->base, listener_resume, l);
	if (l->resume != NULL)
		evtimer_add(l->resume, &tv);
	if (l->refused == 1)
		log_msg(ZG_LOG_WARN, l->h->name, NULL,
			"listener %s: accept: %s: not accepting for 1s "
			"(raise the descriptor limit or lower the session limits)",
			l->addr, evutil_socket_error_to_string(err));
}

static struct zg_listener *
api_listen(struct zg_host *h, const char *addr, zg_accept_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct zg_listener *l;
	char err[160];

	if (h->nlisteners >= MAX_LISTENERS) {
		log_msg(ZG_LOG_ERR, h->name, NULL,
			"listen %s: at most %d listeners per plugin", addr,
			MAX_LISTENERS);
		return NULL;
	}
	if (netaddr_parse(addr, &ss, &sslen, err, sizeof(err)) < 0) {
		log_msg(ZG_LOG_ERR, h->name, NULL, "listen %s: %s", addr, err);
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->h = h;
	l->cb = cb;
	l->arg = arg;
	netaddr_format((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
	l->lev = evconnlistener_new_bind(h->d->base, listener_accept, l,
					 LEV_OPT_CLOSE_ON_FREE |
						 LEV_OPT_REUSEABLE |
						 LEV_OPT_CLOSE_ON_EXEC,
					 128, (struct sockaddr *)&ss,
					 (int)sslen);
	if (l->lev == NULL) {
		log_msg(ZG_LOG_ERR, h->name, NULL,
			"cannot listen on %s: %s (is another process using the port?)",
			l->addr, strerror(errno));
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->lev, listener_error);
	l->next = h->listeners;
	h->listeners = l;
	h->nlisteners++;
	log_msg(ZG_LOG_INFO, h->name, NULL, "listening on %s", l->addr);
	return l;
}

static void
api_listener_free(struct zg_listener *l)
{
	struct zg_listener **pp;

	if (l == NULL)
		return;
	for (pp = &l->h->listeners; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			l->h->nlisteners--;
			break;
		}
	}
	if (l->lev != NULL)
		evconnlistener_free(l->lev);
	if (l->resume != NULL)
		event_free(l->resume);
	free(l);
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

	if (t == NULL)
		return NULL;
	t->h = h;
	t->cb = cb;
	t->arg = arg;
	t->next = h->timers;
	h->timers = t;
	return t;
}

static int
api_timer_start(struct zg_timer *t, double seconds, bool periodic)
{
	struct timeval tv;

	if (!(seconds >= 0.0) || seconds > 86400.0 * 365)
		return -1;
	if (t->ev != NULL)
		event_free(t->ev);
	t->ev = event_new(t->h->d->base, -1, periodic ? EV_PERSIST : 0,
			  timer_fire, t);
	if (t->ev == NULL)
		return -1;
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
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
	struct zg_timer **pp;

	if (t == NULL)
		return;
	for (pp = &t->h->timers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	if (t->ev != NULL)
		event_free(t->ev);
	free(t);
}

/* ---------------------------------------------------------------- */
/* policy and output */

static int
api_decide(struct zg_host *h, const struct zg_op *op, struct zg_verdict *v)
{
	return gw_decide(h->d, h->name, op, v);
}

static int
api_identify_addr(struct zg_host *h, const struct sockaddr *sa,
		  socklen_t salen, char *buf, size_t buflen)
{
	return gw_identify_addr(h->d, sa, salen, buf, buflen);
}

/* A plugin's event: detection fields are the engine's alone. */
static void
api_event(struct zg_host *h, const struct zg_event *ev)
{
	struct zg_event e = *ev;

	e.detection = NULL;
	events_emit(h->d, h->name, &e);
}

static void
api_observe(struct zg_host *h, const struct zg_observation *o)
{
	gw_observe(h->d, h->name, o);
}

/*
 * A plugin's metrics: only families under "zonegate_" (the names are
 * documented in docs/operations.md); the registry bounds the rest.
 */
static bool
plugin_metric_name(const char *name)
{
	return name != NULL && strncmp(name, "zonegate_", 9) == 0;
}

static void
api_metric_count(struct zg_host *h, const char *name, const char *k1,
		 const char *v1, const char *k2, const char *v2, uint64_t n)
{
	size_t len = name != NULL ? strlen(name) : 0;

	(void)h;
	if (!plugin_metric_name(name) || len < 6 ||
	    strcmp(name + len - 6, "_total") != 0)
		return;
	if (k2 != NULL)
		metrics_counter_add2(name, k1, v1, k2, v2, n);
	else
		metrics_counter_add(name, k1, v1, n);
}

static void
api_metric_observe(struct zg_host *h, const char *name, const char *k1,
		   const char *v1, double v)
{
	(void)h;
	if (plugin_metric_name(name))
		metrics_observe(name, k1, v1, v);
}

static int
api_emit(struct zg_host *h, const char *topic, const void *payload, size_t len)
{
	return bus_emit(h->d, h->name, topic, NULL, payload, len);
}

static int
api_emit_zone(struct zg_host *h, const char *topic, const char *zone,
	      const void *payload, size_t len)
{
	return bus_emit(h->d, h->name, topic, zone, payload, len);
}

static const char *
api_gateway_id(struct zg_host *h)
{
	return h->d->conf->id;
}

/* Uplinks: the bus serves them; the host only names the owner. */
static struct zg_uplink *
api_uplink_new(struct zg_host *h, const char *name,
	       const struct zg_uplink_ops *ops, void *arg,
	       unsigned max_inflight)
{
	return bus_uplink_new(h->d->bus, h, h->name, name, ops, arg,
			      max_inflight);
}

/*
 * TLS: a context remembers the host that made it, because accept() needs
 * the event loop and the plugin API passes only the context.
 */
struct zg_tls_ctx_ref {
	struct zg_host *h;
	struct zg_tls_ctx *ctx;
	char *server_name; /* clients: the configured name, or NULL */
};

static struct zg_tls_ctx *
api_tls_server_ctx(struct zg_host *h, const struct zg_cfg *node)
{
	struct zg_tls_ctx_ref *r;
	struct zg_tls_ctx *ctx = tls_host_server_ctx(errs_of(h), S(node));

	if (ctx == NULL)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		tls_host_ctx_free(ctx);
		return NULL;
	}
	r->h = h;
	r->ctx = ctx;
	return (struct zg_tls_ctx *)(void *)r;
}

static void
api_tls_ctx_free(struct zg_tls_ctx *c)
{
	struct zg_tls_ctx_ref *r = (struct zg_tls_ctx_ref *)(void *)c;

	if (r == NULL)
		return;
	tls_host_ctx_free(r->ctx); /* sessions keep their own reference */
	free(r->server_name);
	free(r);
}

static struct zg_tls *
api_tls_accept(struct zg_tls_ctx *c, int fd, const char *peer,
	       struct bufferevent **bev)
{
	struct zg_tls_ctx_ref *r = (struct zg_tls_ctx_ref *)(void *)c;

	return tls_host_accept(r->ctx, r->h->d->base, fd, peer, bev);
}

static struct zg_tls_ctx *
api_tls_client_ctx(struct zg_host *h, const struct zg_cfg *node,
		   const char *const *alpn)
{
	struct zg_tls_ctx_ref *r;
	char *sname = NULL;
	struct zg_tls_ctx *ctx = tls_host_client_ctx(errs_of(h), S(node), alpn,
						     &sname);

	if (ctx == NULL)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		tls_host_ctx_free(ctx);
		free(sname);
		return NULL;
	}
	r->h = h;
	r->ctx = ctx;
	r->server_name = sname;
	return (struct zg_tls_ctx *)(void *)r;
}

static struct zg_tls *
api_tls_connect(struct zg_tls_ctx *c, const char *addr, const char *servername,
		struct bufferevent **bev)
{
	struct zg_tls_ctx_ref *r = (struct zg_tls_ctx_ref *)(void *)c;
	struct zg_tls *t;
	char err[384];

	t = tls_host_connect(r->ctx, r->h->d->base, addr,
			     r->server_name ? r->server_name : servername, bev,
			     err, sizeof(err));
	if (t == NULL)
		log_msg(ZG_LOG_ERR, r->h->name, addr, "cannot connect: %s", err);
	return t;
}

/* ---------------------------------------------------------------- */
/* commands between plugins */

static int
api_command_handler(struct zg_host *h, zg_command_fn fn, void *arg)
{
	h->cmd_fn = fn;
	h->cmd_arg = fn != NULL ? arg : NULL;
	return 0;
}

/*
 * Hand cmd to the running plugin named `handler' that takes commands.
 * The host does not look into the command: the handler parses, decides
 * and audits it.  -1 when there is no such handler.
 */
static int
api_command_submit(struct zg_host *h, const char *handler,
		   const struct zg_command *cmd, zg_command_result_cb cb,
		   void *arg)
{
	struct zg_host *t = NULL;
	struct zg_cmd *c;
	int i;

	for (i = 0; handler != NULL && i < h->d->nplugins; i++)
		if (h->d->plugins[i] != NULL &&
		    strcmp(h->d->plugins[i]->name, handler) == 0)
			t = h->d->plugins[i];
	if (t == NULL || !t->started || t->cmd_fn == NULL || cmd == NULL ||
	    cb == NULL)
		return -1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->from = h;
	c->to = t;
	c->cb = cb;
	c->arg = arg;
	c->next = cmds;
	cmds = c;
	t->cmd_fn(t->cmd_arg, c, cmd);
	return 0;
}

static void
api_command_done(struct zg_cmd *c, const char *result, size_t len)
{
	struct zg_cmd **pp;

	for (pp = &cmds; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->cb != NULL)
		c->cb(c->arg, result, len);
	free(c);
}

/*
 * h stopped (fini, or unloaded): its answers are dropped; commands it
 * was handling and never answered are answered for it.
 */
static void
commands_release(struct zg_host *h)
{
	static const char lost[] =
		"{\"result\":\"error\",\"reason\":\"the handling plugin stopped before it answered: outcome unknown\"}";
	struct zg_cmd *c, *next;

	h->cmd_fn = NULL;
	h->cmd_arg = NULL;
	for (c = cmds; c != NULL; c = next) {
		next = c->next;
		if (c->from == h) {
			c->from = NULL;
			c->cb = NULL;
		}
	}
	for (c = cmds; c != NULL; c = next) {
		next = c->next;
		if (c->to == h) {
			log_msg(ZG_LOG_WARN, h->name, NULL,
				"a command was still unanswered when the plugin stopped");
			api_command_done(c, lost, sizeof(lost) - 1);
		}
	}
}

static const struct zg_host_api host_api = {
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
	.cfg_warning = api_cfg_warning,
	.event_base = api_event_base,
	.listen = api_listen,
	.listener_free = api_listener_free,
	.timer_new = api_timer_new,
	.timer_start = api_timer_start,
	.timer_stop = api_timer_stop,
	.timer_free = api_timer_free,
	.decide = api_decide,
	.identify_addr = api_identify_addr,
	.event = api_event,
	.emit = api_emit,
	.tls_server_ctx = api_tls_server_ctx,
	.tls_ctx_free = api_tls_ctx_free,
	.tls_accept = api_tls_accept,
	.tls_peer = tls_host_peer,
	.tls_fail_kind = tls_host_fail_kind,
	.tls_error = tls_host_error,
	.tls_close = tls_host_close,
	.tls_free = tls_host_free,
	.uplink_new = api_uplink_new,
	.uplink_up = bus_uplink_up,
	.uplink_down = bus_uplink_down,
	.uplink_ack = bus_uplink_ack,
	.uplink_ready = bus_uplink_ready,
	.uplink_free = bus_uplink_free,
	.emit_zone = api_emit_zone,
	.gateway_id = api_gateway_id,
	.cfg_file = api_cfg_file,
	.tls_client_ctx = api_tls_client_ctx,
	.tls_connect = api_tls_connect,
	.observe = api_observe,
	.uplink_target = bus_uplink_target,
	.command_handler = api_command_handler,
	.command_submit = api_command_submit,
	.command_done = api_command_done,
	.metric_count = api_metric_count,
	.metric_observe = api_metric_observe,
	.tls_record_units = tls_host_record_units,
};

/* ---------------------------------------------------------------- */
/* loading */

/*
 * Find <dir>/<name>.so along the search path.  Returns a malloc'd path or
 * NULL.  Only regular files are considered.
 */
static char *
find_module(char *const *search, const char *name)
{
	char buf[4096];
	struct stat st;
	int i;

	for (i = 0; search != NULL && search[i] != NULL; i++) {
		snprintf(buf, sizeof(buf), "%s/%s.so", search[i], name);
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			return strdup(buf);
	}
	return NULL;
}

static bool
use_deepbind(int mode)
{
	switch (mode) {
	case DEEPBIND_YES:
		return true;
	case DEEPBIND_NO:
		return false;
	default:
#if defined(ZG_TLS_BORINGSSL) && !defined(ZG_SANITIZERS)
		return true;
#else
		return false;
#endif
	}
}

struct zg_host *
plugin_load(struct zg_daemon *d, const struct zg_conf *c,
	    const struct conf_plugin *cp, struct cfg_errs *e)
{
	const char *file = c->file;
	struct zg_host *h;
	zg_plugin_entry_fn entry;
	int flags = RTLD_NOW | RTLD_LOCAL;
	char *path;
	void *dl;
	union {
		void *p;
		zg_plugin_entry_fn f;
	} u;

	if (cp->path != NULL)
		path = strdup(cp->path);
	else
		path = find_module(c->plugin_path, cp->name);
	if (path == NULL) {
		char list[1024];
		size_t off = 0;
		int i;

		list[0] = '\0';
		for (i = 0; c->plugin_path[i] != NULL && off < sizeof(list); i++) {
			int w = snprintf(list + off, sizeof(list) - off, "%s%s",
					 i ? ":" : "", c->plugin_path[i]);
			if (w < 0)
				break;
			off += (size_t)w;
		}
		cfg_err_at(e, file, cp->line,
			   "plugin \"%s\": %s.so not found in %s (set gateway.plugin_path, "
			   "ZONEGATE_PLUGIN_PATH, or the plugin's path)",
			   cp->name, cp->name, list);
		return NULL;
	}
	if (use_deepbind(cp->deepbind)) {
#if defined(RTLD_DEEPBIND) && !defined(ZG_SANITIZERS)
		flags |= RTLD_DEEPBIND;
#else
		cfg_err_at(e, file, cp->line,
			   "plugin \"%s\": deepbind requested but this build cannot "
			   "use RTLD_DEEPBIND (sanitizers); use a --with-tls=openssl build "
			   "without deepbind", cp->name);
		free(path);
		return NULL;
#endif
	}
	dlerror();
	dl = dlopen(path, flags);
	if (dl == NULL) {
		cfg_err_at(e, file, cp->line, "plugin \"%s\": cannot load %s: %s",
			   cp->name, path, dlerror());
		free(path);
		return NULL;
	}
	u.p = dlsym(dl, ZG_PLUGIN_SYMBOL);
	entry = u.f;
	if (entry == NULL) {
		cfg_err_at(e, file, cp->line,
			   "plugin \"%s\": %s has no symbol %s: not a zonegate plugin",
			   cp->name, path, ZG_PLUGIN_SYMBOL);
		dlclose(dl);
		free(path);
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		dlclose(dl);
		free(path);
		return NULL;
	}
	h->d = d;
	h->dl = dl;
	h->path = path;
	h->name = strdup(cp->name);
	h->desc = entry();
	if (h->desc == NULL) {
		cfg_err_at(e, file, cp->line,
			   "plugin \"%s\": %s returned no descriptor", cp->name,
			   path);
		goto fail;
	}
	/* The ABI version is the first field: read nothing else before. */
	if (h->desc->abi_version != ZG_PLUGIN_ABI_VERSION) {
		cfg_err_at(e, file, cp->line,
			   "plugin \"%s\": %s was built for plugin ABI version %u, "
			   "this zonegated provides plugin ABI version %u: rebuild the "
			   "plugin against this zonegate's <zonegate/plugin.h>",
			   cp->name, path, (unsigned)h->desc->abi_version,
			   (unsigned)ZG_PLUGIN_ABI_VERSION);
		goto fail;
	}
	if (h->desc->name == NULL || strcmp(h->desc->name, cp->name) != 0) {
		cfg_err_at(e, file, cp->line,
			   "plugin \"%s\": %s calls itself \"%s\"", cp->name,
			   path, h->desc->name ? h->desc->name : "(null)");
		goto fail;
	}
	if (h->desc->init == NULL || h->desc->fini == NULL) {
		cfg_err_at(e, file, cp->line,
			   "plugin \"%s\": %s lacks init() or fini()", cp->name,
			   path);
		goto fail;
	}
	log_debug("plugin %s %s loaded from %s%s", h->name,
		  h->desc->version ? h->desc->version : "?", path,
		  (flags & RTLD_DEEPBIND) ? " (deepbind)" : "");
	return h;
fail:
	h->desc = NULL;
	plugin_unload(h);
	return NULL;
}

int
plugin_check(struct zg_host *h, const struct conf_plugin *cp,
	     struct cfg_errs *e)
{
	size_t before = cfg_errs_count(e);
	int rc = 0;

	if (h->desc->check == NULL)
		return 0;
	h->errs = e;
	if (h->desc->check(&host_api, h, N(cp->config)) < 0)
		rc = -1;
	h->errs = NULL;
	if (rc < 0 && cfg_errs_count(e) == before)
		cfg_err_at(e, "plugin", cp->line,
			   "plugin \"%s\" rejected its configuration", h->name);
	return cfg_errs_count(e) == before && rc == 0 ? 0 : -1;
}

static void
flush_own_errs(struct zg_host *h)
{
	size_t i;

	for (i = 0; i < h->own_errs.n && i < h->own_errs.cap; i++)
		log_msg(ZG_LOG_ERR, h->name, NULL, "%s", h->own_errs.msg[i]);
	cfg_errs_free(&h->own_errs);
}

int
plugin_start(struct zg_host *h, const struct conf_plugin *cp)
{
	int rc;

	rc = h->desc->init(&host_api, h, N(cp->config), &h->state);
	flush_own_errs(h);
	if (rc < 0) {
		log_msg(ZG_LOG_ERR, h->name, NULL, "plugin failed to start");
		return -1;
	}
	h->started = true;
	log_msg(ZG_LOG_INFO, h->name, NULL, "plugin %s started",
		h->desc->version ? h->desc->version : "");
	return 0;
}

int
plugin_reload(struct zg_host *h, const struct conf_plugin *cp)
{
	int rc;

	if (h->desc->reload != NULL && h->started) {
		rc = h->desc->reload(h->state, N(cp->config));
		flush_own_errs(h);
		return rc < 0 ? -1 : 0;
	}
	if (h->started) {
		h->desc->fini(h->state);
		h->started = false;
		h->state = NULL;
		bus_uplinks_release(h->d->bus, h);
		commands_release(h);
	}
	return plugin_start(h, cp);
}

/*
 * Close every listening socket now, but keep the zg_listener handles: the
 * plugin still holds them and frees them in fini().
 */
void
plugin_stop_listening(struct zg_host *h)
{
	struct zg_listener *l;

	for (l = h->listeners; l != NULL; l = l->next) {
		if (l->lev != NULL) {
			evconnlistener_free(l->lev);
			l->lev = NULL;
		}
		if (l->resume != NULL)
			evtimer_del(l->resume);
	}
}

int
plugin_drain(struct zg_host *h)
{
	if (!h->started || h->desc->drain == NULL)
		return 0;
	return h->desc->drain(h->state);
}

void
plugin_unload(struct zg_host *h)
{
	if (h == NULL)
		return;
	if (h->started && h->desc != NULL)
		h->desc->fini(h->state);
	h->started = false;
	bus_uplinks_release(h->d->bus, h);
	commands_release(h);
	while (h->listeners != NULL)
		api_listener_free(h->listeners);
	while (h->timers != NULL)
		api_timer_free(h->timers);
	cfg_errs_free(&h->own_errs);
	if (h->dl != NULL)
		dlclose(h->dl);
	free(h->name);
	free(h->path);
	free(h);
}

int
plugin_status(struct zg_host *h, const struct zg_status_out *out)
{
	if (!h->started || h->desc->status == NULL)
		return -1;
	h->desc->status(h->state, out);
	return 0;
}

const char *
plugin_name(const struct zg_host *h)
{
	return h->name;
}

const char *
plugin_version(const struct zg_host *h)
{
	return h->desc && h->desc->version ? h->desc->version : "?";
}

const char *
plugin_path(const struct zg_host *h)
{
	return h->path;
}
