/*
 * example: the smallest useful zonegate plugin, and the one the tests load.
 *
 * It shows every part of the plugin contract: a const descriptor, config
 * checked through the host (unknown keys are errors), a listener and a
 * timer registered on the host's loop, logging that names the peer,
 * security events, telemetry through host->emit, reload and drain.
 *
 * Behaviour: on `listen' it greets each client with `greeting' and echoes
 * every line back; a line longer than `max_line' is a protocol violation:
 * the connection is closed and an event raised.  Every `heartbeat'
 * seconds it emits `burst' small JSON messages on topic
 * "example/heartbeat" (at most `count' in all when count > 0: the
 * northbound benchmark uses that as a load generator), in `zone' when
 * one is set (emit_zone: the spool's per-zone bound applies to them).
 *
 *   plugins = ( { name = "example";
 *                 config = { listen = "127.0.0.1:7070"; greeting = "hi";
 *                            heartbeat = 10.0; max_line = 256; }; } );
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <zonegate/plugin.h>

#define EX_VERSION "1.0.0"

struct ex_session;

struct ex_state {
	const struct zg_host_api *api;
	struct zg_host *h;
	struct zg_listener *lst;
	struct zg_timer *beat;
	char listen[64];
	char greeting[128];
	char zone[128];              /* "" : heartbeats without a zone */
	double heartbeat;
	long long max_line;
	long long burst, count;
	unsigned long long beats;
	struct ex_session *sessions;
	int nsessions;
};

struct ex_session {
	struct ex_state *st;
	struct bufferevent *bev;
	char peer[64];
	struct timespec started;     /* for status() */
	unsigned long long lines;    /* lines echoed */
	struct ex_session *next;
};

static const char *const ex_keys[] = { "listen", "greeting", "heartbeat",
				       "max_line", "burst", "count", "zone",
				       NULL };

/* Read the config into `out' (may be NULL to only check). 0 or -1. */
static int
ex_read_config(const struct zg_host_api *api, struct zg_host *h,
	       const struct zg_cfg *cfg, struct ex_state *out)
{
	const char *listen, *greeting, *zone;
	double hb;
	long long ml, burst, count;
	int rc = 0;

	rc |= api->cfg_known_keys(h, cfg, ex_keys);
	rc |= api->cfg_string(h, cfg, "listen", NULL, &listen);
	rc |= api->cfg_string(h, cfg, "greeting", "zonegate example", &greeting);
	rc |= api->cfg_double(h, cfg, "heartbeat", 0.0, 0.0, 86400.0, &hb);
	rc |= api->cfg_int(h, cfg, "max_line", 256, 1, 65536, &ml);
	rc |= api->cfg_int(h, cfg, "burst", 1, 1, 10000, &burst);
	rc |= api->cfg_int(h, cfg, "count", 0, 0, 1000000000LL, &count);
	rc |= api->cfg_string(h, cfg, "zone", "", &zone);
	if (rc != 0)
		return -1;
	if (strlen(zone) >= 128) {
		api->cfg_error(h, cfg, "zone", "at most 127 characters");
		return -1;
	}
	if (listen != NULL && strlen(listen) >= 64) {
		api->cfg_error(h, cfg, "listen", "address too long");
		return -1;
	}
	if (strlen(greeting) >= 128 || strpbrk(greeting, "\r\n") != NULL) {
		api->cfg_error(h, cfg, "greeting",
			       "must be one line of at most 127 characters");
		return -1;
	}
	if (out != NULL) {
		snprintf(out->listen, sizeof(out->listen), "%s",
			 listen ? listen : "");
		snprintf(out->greeting, sizeof(out->greeting), "%s", greeting);
		out->heartbeat = hb;
		out->max_line = ml;
		out->burst = burst;
		out->count = count;
		snprintf(out->zone, sizeof(out->zone), "%s", zone);
	}
	return 0;
}

static int
ex_check(const struct zg_host_api *api, struct zg_host *h,
	 const struct zg_cfg *cfg)
{
	return ex_read_config(api, h, cfg, NULL);
}

static void
session_free(struct ex_session *s)
{
	struct ex_session **pp;

	for (pp = &s->st->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	s->st->nsessions--;
	bufferevent_free(s->bev);
	free(s);
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	struct ex_session *s = arg;
	struct ex_state *st = s->st;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		s->lines++;
		/* Not an event by itself: an observation for the threat engine
		 * (ignored unless a detection reads "example.line"). */
		struct zg_observation o = {
			.kind = "example.line",
			.peer = s->peer,
			.value = (long long)n,
		};

		st->api->observe(st->h, &o);
		evbuffer_add_printf(bufferevent_get_output(bev), "%s\n", line);
		free(line);
	}
	/* A line that never ends is a client holding our memory: cut it. */
	if ((long long)evbuffer_get_length(in) > st->max_line) {
		struct zg_event ev = {
			.kind = "example.line_too_long",
			.severity = ZG_SEV_LOW,
			.peer = s->peer,
			.detail = "line longer than max_line: connection closed",
		};

		st->api->event(st->h, &ev);
		session_free(s);
	}
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	struct ex_session *s = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		s->st->api->log_peer(s->st->h, ZG_LOG_DEBUG, s->peer,
				     "connection closed");
		session_free(s);
	}
}

static void
ex_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
	struct ex_state *st = arg;
	struct ex_session *s;
	char host[48] = "?";

	(void)peerlen;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)peer;
		evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(s->peer, sizeof(s->peer), "%s:%u", host,
			 ntohs(in->sin_port));
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)peer;
		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(s->peer, sizeof(s->peer), "[%s]:%u", host,
			 ntohs(in6->sin6_port));
	}
	s->st = st;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	s->bev = bufferevent_socket_new(st->api->event_base(st->h), fd,
					BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		evutil_closesocket(fd);
		free(s);
		return;
	}
	s->next = st->sessions;
	st->sessions = s;
	st->nsessions++;
	bufferevent_setcb(s->bev, session_read, NULL, session_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	evbuffer_add_printf(bufferevent_get_output(s->bev), "%s\n",
			    st->greeting);
	st->api->log_peer(st->h, ZG_LOG_INFO, s->peer, "client connected");
}

static void
ex_heartbeat(void *arg)
{
	struct ex_state *st = arg;
	char msg[128];
	long long i;
	int n;

	for (i = 0; i < st->burst; i++) {
		if (st->count > 0 && st->beats >= (unsigned long long)st->count) {
			st->api->timer_stop(st->beat);
			return;
		}
		n = snprintf(msg, sizeof(msg), "{\"beat\":%llu}", ++st->beats);
		st->api->emit_zone(st->h, "example/heartbeat",
				   st->zone[0] != '\0' ? st->zone : NULL, msg,
				   (size_t)n);
	}
}

/* Apply listen/heartbeat settings of `st' (after init or reload). */
static int
ex_apply(struct ex_state *st)
{
	if (st->lst != NULL) {
		st->api->listener_free(st->lst);
		st->lst = NULL;
	}
	if (st->listen[0] != '\0') {
		st->lst = st->api->listen(st->h, st->listen, ex_accept, st);
		if (st->lst == NULL)
			return -1;
	}
	st->api->timer_stop(st->beat);
	if (st->heartbeat > 0.0 &&
	    st->api->timer_start(st->beat, st->heartbeat, true) < 0)
		return -1;
	return 0;
}

static int
ex_init(const struct zg_host_api *api, struct zg_host *h,
	const struct zg_cfg *cfg, void **state)
{
	struct ex_state *st;

	if (api->abi_version != ZG_PLUGIN_ABI_VERSION ||
	    api->size < sizeof(struct zg_host_api))
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->api = api;
	st->h = h;
	if (ex_read_config(api, h, cfg, st) < 0 ||
	    (st->beat = api->timer_new(h, ex_heartbeat, st)) == NULL ||
	    ex_apply(st) < 0) {
		if (st->beat)
			api->timer_free(st->beat);
		free(st);
		return -1;
	}
	api->log(h, ZG_LOG_INFO, "greeting \"%s\"%s%s", st->greeting,
		 st->listen[0] ? " on " : "", st->listen);
	*state = st;
	return 0;
}

static int
ex_reload(void *state, const struct zg_cfg *cfg)
{
	struct ex_state *st = state;
	char old_listen[64];

	memcpy(old_listen, st->listen, sizeof(old_listen));
	if (ex_read_config(st->api, st->h, cfg, st) < 0)
		return -1;
	/* Keep the listening socket when the address did not change. */
	if (strcmp(old_listen, st->listen) == 0 && st->lst != NULL) {
		st->api->timer_stop(st->beat);
		if (st->heartbeat > 0.0)
			st->api->timer_start(st->beat, st->heartbeat, true);
	} else if (ex_apply(st) < 0) {
		return -1;
	}
	st->api->log(st->h, ZG_LOG_INFO, "reloaded: greeting \"%s\"",
		     st->greeting);
	return 0;
}

static int
ex_drain(void *state)
{
	struct ex_state *st = state;

	/* Nothing is in flight in an echo: close idle sessions now. */
	while (st->sessions != NULL)
		session_free(st->sessions);
	st->api->timer_stop(st->beat);
	return st->nsessions;
}

static void
ex_fini(void *state)
{
	struct ex_state *st = state;

	while (st->sessions != NULL)
		session_free(st->sessions);
	if (st->lst != NULL)
		st->api->listener_free(st->lst);
	st->api->timer_free(st->beat);
	free(st);
}

/*
 * Live sessions for `zonegatectl sessions': an echo client has no
 * identity (the example does no authentication) and every line it sends
 * counts as a request; none is ever denied.
 */
static void
ex_status(void *state, const struct zg_status_out *out)
{
	struct ex_state *st = state;
	struct ex_session *s;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (s = st->sessions; s != NULL && out->session != NULL; s = s->next) {
		struct zg_session_info si;

		memset(&si, 0, sizeof(si));
		si.peer = s->peer;
		si.assurance = ZG_ASSURANCE_NONE;
		si.listener = st->listen;
		si.transport = "tcp";
		si.age = (double)(now.tv_sec - s->started.tv_sec) +
			 (double)(now.tv_nsec - s->started.tv_nsec) / 1e9;
		si.requests = s->lines;
		out->session(out->arg, &si);
	}
}

static const char *const ex_protocols[] = { "example-echo", NULL };

static const struct zg_plugin ex_plugin = {
	.abi_version = ZG_PLUGIN_ABI_VERSION,
	.name = "example",
	.version = EX_VERSION,
	.protocols = ex_protocols,
	.check = ex_check,
	.init = ex_init,
	.reload = ex_reload,
	.drain = ex_drain,
	.fini = ex_fini,
	.status = ex_status,
};

ZG_PLUGIN_DECLARE(ex_plugin);
