/*
 * admin.c: see admin.h.
 *
 * Everything runs on the daemon's loop: the listener and each client are
 * libevent objects, requests are handled as soon as a whole line is in,
 * and an answer is queued on the client's output buffer.  A client that
 * does not read its answers stops being read (ADMIN_OUT_MAX), so nothing
 * grows without bound and nothing blocks.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <zonegate/plugin.h>

#include "gateway/admin.h"
#include "gateway/bus.h"
#include "gateway/conf.h"
#include "gateway/events.h"
#include "gateway/evring.h"
#include "gateway/log.h"
#include "gateway/plugin_host.h"
#include "gateway/upstat.h"
#include "gateway/threat.h"
#include "segments/segments.h"

#define ADMIN_OUT_MAX (256 * 1024) /* queued answers before we stop reading */
#define ADMIN_LIST_MAX 1024        /* identities listed by `quarantined' */
#define ADMIN_ERRLINES_MAX 64      /* config lines returned by `reload' */
#define ADMIN_MAX_GROUPS 64        /* peer groups looked at (SO_PEERGROUPS) */
#define ADMIN_LINGER_MAX (64 * 1024) /* bytes discarded after a refusal */
#define ADMIN_FOLLOW_MAX (64 * 1024) /* a follower's unsent events, at most */
#define ADMIN_FOLLOW_SNDBUF (16 * 1024) /* and what the kernel may hold */
#define ADMIN_SESSIONS_MAX 1024    /* sessions listed per request */

/* ------------------------------------------------------------------ */
/* The request parser                                                  */

struct jp {
	const char *start, *p, *end;
	char *err;
	size_t errlen;
};

static int
jp_fail(struct jp *j, const char *what)
{
	snprintf(j->err, j->errlen, "%s at byte %ld", what,
		 (long)(j->p - j->start));
	return -1;
}

static void
jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t'))
		j->p++;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A JSON string at j->p (which must be '"') into out (outsz bytes, NUL
 * terminated).  Only printable ASCII comes out: identities and commands
 * are ASCII, and refusing the rest keeps logs and answers plain.
 */
static int
jp_string(struct jp *j, char *out, size_t outsz)
{
	size_t n = 0;
	int c, k, h;

	if (j->p >= j->end || *j->p != '"')
		return jp_fail(j, "expected a string");
	j->p++;
	for (;;) {
		if (j->p >= j->end)
			return jp_fail(j, "unterminated string");
		c = (unsigned char)*j->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (j->p >= j->end)
				return jp_fail(j, "unterminated escape");
			c = (unsigned char)*j->p++;
			switch (c) {
			case '"': case '\\': case '/':
				break;
			case 'u':
				if (j->end - j->p < 4)
					return jp_fail(j, "short \\u escape");
				for (c = 0, k = 0; k < 4; k++) {
					if ((h = hexval(j->p[k])) < 0)
						return jp_fail(j, "bad \\u escape");
					c = c * 16 + h;
				}
				j->p += 4;
				break;
			case 'b': case 'f': case 'n': case 'r': case 't':
				return jp_fail(j, "control character in a string");
			default:
				return jp_fail(j, "invalid escape");
			}
		}
		if (c < 0x20 || c > 0x7e)
			return jp_fail(j, "only printable ASCII is accepted in strings");
		if (n + 1 >= outsz)
			return jp_fail(j, "string too long");
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

int
admin_parse_request(const char *buf, size_t len, struct admin_req *req,
		    char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t off, size;
	} members[] = {
		{ "cmd", offsetof(struct admin_req, cmd), ADMIN_STR_MAX + 1 },
		{ "identity", offsetof(struct admin_req, identity), ADMIN_STR_MAX + 1 },
		{ "target", offsetof(struct admin_req, target), ADMIN_STR_MAX + 1 },
		{ "role", offsetof(struct admin_req, role), ADMIN_STR_MAX + 1 },
		{ "assurance", offsetof(struct admin_req, assurance), ADMIN_STR_MAX + 1 },
		{ "op", offsetof(struct admin_req, op), ADMIN_OP_MAX + 1 },
	};
	enum { NMEMBERS = sizeof(members) / sizeof(members[0]) };
	struct jp j = { buf, buf, buf + len, err, errlen };
	char key[ADMIN_STR_MAX + 1];
	bool seen[NMEMBERS];
	size_t i;

	memset(req, 0, sizeof(*req));
	memset(seen, 0, sizeof(seen));
	if (errlen > 0)
		err[0] = '\0';
	if (len > ADMIN_LINE_MAX)
		return jp_fail(&j, "request too long");
	/* One trailing LF and CR are the line's end, not content. */
	if (j.end > j.p && j.end[-1] == '\n')
		j.end--;
	if (j.end > j.p && j.end[-1] == '\r')
		j.end--;
	jp_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return jp_fail(&j, "expected a JSON object");
	j.p++;
	jp_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
	} else {
		for (;;) {
			jp_ws(&j);
			if (jp_string(&j, key, sizeof(key)) < 0)
				return -1;
			for (i = 0; i < NMEMBERS; i++)
				if (strcmp(key, members[i].name) == 0)
					break;
			if (i == NMEMBERS)
				return jp_fail(&j, "unknown member (cmd, identity, target, role, assurance, op)");
			if (seen[i])
				return jp_fail(&j, "repeated member");
			seen[i] = true;
			jp_ws(&j);
			if (j.p >= j.end || *j.p != ':')
				return jp_fail(&j, "expected ':'");
			j.p++;
			jp_ws(&j);
			if (jp_string(&j, (char *)req + members[i].off,
				      members[i].size) < 0)
				return -1;
			jp_ws(&j);
			if (j.p < j.end && *j.p == ',') {
				j.p++;
				continue;
			}
			if (j.p < j.end && *j.p == '}') {
				j.p++;
				break;
			}
			return jp_fail(&j, "expected ',' or '}'");
		}
	}
	jp_ws(&j);
	if (j.p != j.end)
		return jp_fail(&j, "garbage after the object");
	if (req->cmd[0] == '\0') {
		snprintf(err, errlen, "member \"cmd\" is required");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The socket                                                          */

struct admin_client {
	struct zg_admin *a;
	struct bufferevent *bev;
	struct admin_client *prev, *next;
	char who[64];  /* "uid 1000 pid 4242": named in logs and events */
	bool closing;  /* answer queued, close once it is written */
	bool lingering; /* answer written: discard input until EOF */
	bool following; /* events -f: new events are streamed */
	size_t discarded;
	uint64_t missed; /* events not sent to a follower that lagged */
};

struct zg_admin {
	struct zg_daemon *d;
	struct evconnlistener *lev;
	char *path;
	char *conf_file;
	uid_t uid;     /* the daemon's effective uid */
	gid_t gid;     /* the socket file's group */
	admin_reload_fn reload;
	void *reload_arg;
	struct timespec started;
	struct admin_client *clients;
	int nclients;
};

static void on_follow(void *arg, uint64_t seq, const char *json);

static void
client_free(struct admin_client *c)
{
	struct zg_admin *a = c->a;

	if (c->following)
		evring_unsubscribe(on_follow, c);

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		a->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	a->nclients--;
	bufferevent_free(c->bev);
	free(c);
}

/* Append "s" as a JSON string (escaped, truncated to a sane length). */
static void
put_jstr(struct evbuffer *out, const char *s)
{
	char esc[1024];

	json_escape(esc, sizeof(esc), s ? s : "");
	evbuffer_add_printf(out, "\"%s\"", esc);
}

static void
reply_error(struct evbuffer *out, const char *msg)
{
	evbuffer_add_printf(out, "{\"ok\":false,\"error\":");
	put_jstr(out, msg);
	evbuffer_add_printf(out, "}\n");
}

static void
cmd_status(struct admin_client *c, const struct admin_req *rq,
	   struct evbuffer *out)
{
	struct zg_admin *a = c->a;
	struct zg_daemon *d = a->d;
	struct timespec now;
	int i;

	(void)rq;
	clock_gettime(CLOCK_MONOTONIC, &now);
	evbuffer_add_printf(out, "{\"ok\":true,\"version\":");
	put_jstr(out, PACKAGE_VERSION);
	evbuffer_add_printf(out, ",\"tls_engine\":");
	put_jstr(out, ZG_TLS_ENGINE);
	/* pid: the one in the pidfile, to signal (the supervisor's). */
	evbuffer_add_printf(out, ",\"pid\":%ld,\"supervisor_pid\":%ld,"
			    "\"child_pid\":%ld,\"restarts\":%u,\"uptime\":%lld,\"config\":",
			    d->supervisor_pid ? d->supervisor_pid : (long)getpid(),
			    d->supervisor_pid, (long)getpid(), d->restarts,
			    (long long)(now.tv_sec - a->started.tv_sec));
	put_jstr(out, a->conf_file);
	evbuffer_add_printf(out, ",\"gateway_id\":");
	put_jstr(out, d->conf ? d->conf->id : "");
	evbuffer_add_printf(out, ",\"admin_socket\":");
	put_jstr(out, a->path);
	evbuffer_add_printf(out,
		",\"reloads_ok\":%llu,\"reloads_failed\":%llu"
		",\"decisions_allow\":%llu,\"decisions_deny\":%llu"
		",\"decisions_shadow\":%llu,\"events_total\":%llu"
		",\"quarantined\":%zu,\"plugins\":[",
		(unsigned long long)d->reloads_ok,
		(unsigned long long)d->reloads_failed,
		(unsigned long long)d->decisions_allow,
		(unsigned long long)d->decisions_deny,
		(unsigned long long)d->decisions_shadow,
		(unsigned long long)d->events_total,
		seg_quarantine_count(d->segstate));
	for (i = 0; i < d->nplugins; i++) {
		evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
		put_jstr(out, plugin_name(d->plugins[i]));
		evbuffer_add_printf(out, ",\"version\":");
		put_jstr(out, plugin_version(d->plugins[i]));
		evbuffer_add_printf(out, "}");
	}
	evbuffer_add_printf(out, "]}\n");
}

/*
 * quarantine / release: change the runtime quarantine, which seg_decide()
 * consults before anything else, so the identity's next request on any
 * open session is decided under it.  Raises a security event naming the
 * peer that asked.
 */
static void
set_quarantine(struct admin_client *c, const struct admin_req *rq,
	       struct evbuffer *out, bool on)
{
	struct zg_daemon *d = c->a->d;
	struct zg_event ev;
	char detail[200];
	bool was;

	if (rq->identity[0] == '\0') {
		reply_error(out, on ? "quarantine needs an \"identity\""
				    : "release needs an \"identity\"");
		return;
	}
	was = seg_quarantined(d->segstate, rq->identity);
	if (seg_quarantine_set(d->segstate, rq->identity, on) < 0) {
		reply_error(out, "identity refused (empty, too long, or the quarantine set is full)");
		return;
	}
	snprintf(detail, sizeof(detail), "%s on the admin socket by %s%s",
		 on ? "quarantined" : "released", c->who,
		 was == on ? (on ? " (already quarantined)" : " (was not quarantined)")
			   : "");
	memset(&ev, 0, sizeof(ev));
	ev.kind = on ? "admin.quarantine" : "admin.release";
	ev.severity = on ? ZG_SEV_HIGH : ZG_SEV_MEDIUM;
	ev.identity = rq->identity;
	ev.detail = detail;
	events_emit(d, "admin", &ev);
	log_msg(ZG_LOG_INFO, "admin", NULL, "%s %s", rq->identity, detail);
	evbuffer_add_printf(out, "{\"ok\":true,\"identity\":");
	put_jstr(out, rq->identity);
	evbuffer_add_printf(out, ",\"quarantined\":%s,\"changed\":%s}\n",
			    on ? "true" : "false", was != on ? "true" : "false");
}

static void
cmd_quarantine(struct admin_client *c, const struct admin_req *rq,
	       struct evbuffer *out)
{
	set_quarantine(c, rq, out, true);
}

static void
cmd_release(struct admin_client *c, const struct admin_req *rq,
	    struct evbuffer *out)
{
	set_quarantine(c, rq, out, false);
}

struct list_ctx {
	struct evbuffer *out;
	size_t n;
};

static void
list_one(void *arg, const char *identity)
{
	struct list_ctx *l = arg;

	if (l->n < ADMIN_LIST_MAX) {
		if (l->n > 0)
			evbuffer_add(l->out, ",", 1);
		put_jstr(l->out, identity);
	}
	l->n++;
}

static void
cmd_quarantined(struct admin_client *c, const struct admin_req *rq,
		struct evbuffer *out)
{
	struct list_ctx l = { out, 0 };

	(void)rq;
	evbuffer_add_printf(out, "{\"ok\":true,\"identities\":[");
	seg_quarantine_foreach(c->a->d->segstate, list_one, &l);
	evbuffer_add_printf(out, "],\"count\":%zu,\"truncated\":%s}\n", l.n,
			    l.n > ADMIN_LIST_MAX ? "true" : "false");
}

static void
cmd_reload(struct admin_client *c, const struct admin_req *rq,
	   struct evbuffer *out)
{
	struct zg_admin *a = c->a;
	struct cfg_errs e;
	char why[96];
	size_t i;
	int rc;

	(void)rq;
	if (a->reload == NULL) {
		reply_error(out, "reload is not available");
		return;
	}
	snprintf(why, sizeof(why), "admin (%s)", c->who);
	cfg_errs_init(&e);
	rc = a->reload(a->reload_arg, why, &e);
	evbuffer_add_printf(out, "{\"ok\":%s,", rc == 0 ? "true" : "false");
	if (rc < 0)
		evbuffer_add_printf(out,
			"\"error\":\"reload failed: still running on the previous configuration\",");
	evbuffer_add_printf(out, "\"reloads_ok\":%llu,\"reloads_failed\":%llu,\"errors\":[",
			    (unsigned long long)a->d->reloads_ok,
			    (unsigned long long)a->d->reloads_failed);
	for (i = 0; i < e.n && i < e.cap && i < ADMIN_ERRLINES_MAX; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		put_jstr(out, e.msg[i]);
	}
	evbuffer_add_printf(out, "]}\n");
	cfg_errs_free(&e);
}

static const char *
assurance_name(int a)
{
	switch (a) {
	case ZG_ASSURANCE_CERT:
		return "certificate";
	case ZG_ASSURANCE_ADDRESS:
		return "address";
	default:
		return "none";
	}
}

/* ,"key":"value" or ,"key":null */
static void
put_member(struct evbuffer *out, const char *key, const char *val)
{
	evbuffer_add_printf(out, ",\"%s\":", key);
	if (val == NULL)
		evbuffer_add_printf(out, "null");
	else
		put_jstr(out, val);
}

/*
 * What the plugins report, gathered once per request: sessions (copied,
 * at most ADMIN_SESSIONS_MAX) and device state.
 */
struct live_session {
	char plugin[64];
	char peer[64];
	char identity[ADMIN_STR_MAX + 1]; /* "" unknown */
	char role[ADMIN_STR_MAX + 1];
	char listener[64];
	char transport[16];
	int assurance;
	double age;
	uint64_t requests, denials;
	unsigned outstanding;
};

struct live_device {
	char plugin[64];
	char identity[ADMIN_STR_MAX + 1];
	char address[128];
	int online, conns_up, conns;
	unsigned queued;
	uint64_t forwarded, timeouts, errors;
};

struct live {
	const char *plugin;
	struct live_session *s;
	size_t ns, ns_total;
	struct live_device *d;
	size_t nd, nd_cap;
	bool full;
};

static void
cp(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void
live_session_cb(void *arg, const struct zg_session_info *si)
{
	struct live *l = arg;
	struct live_session *x;

	l->ns_total++;
	if (l->ns >= ADMIN_SESSIONS_MAX)
		return;
	if (l->s == NULL) {
		l->s = calloc(ADMIN_SESSIONS_MAX, sizeof(*l->s));
		if (l->s == NULL)
			return;
	}
	x = &l->s[l->ns++];
	cp(x->plugin, sizeof(x->plugin), l->plugin);
	cp(x->peer, sizeof(x->peer), si->peer);
	cp(x->identity, sizeof(x->identity), si->identity);
	cp(x->role, sizeof(x->role), si->role);
	cp(x->listener, sizeof(x->listener), si->listener);
	cp(x->transport, sizeof(x->transport), si->transport);
	x->assurance = si->assurance;
	x->age = si->age;
	x->requests = si->requests;
	x->denials = si->denials;
	x->outstanding = si->outstanding;
}

static void
live_device_cb(void *arg, const struct zg_device_status *ds)
{
	struct live *l = arg;
	struct live_device *x;

	if (l->nd >= l->nd_cap) {
		size_t cap = l->nd_cap ? 2 * l->nd_cap : 16;
		struct live_device *n;

		if (cap > ADMIN_SESSIONS_MAX)
			return;
		n = realloc(l->d, cap * sizeof(*n));
		if (n == NULL)
			return;
		l->d = n;
		l->nd_cap = cap;
	}
	x = &l->d[l->nd++];
	memset(x, 0, sizeof(*x));
	cp(x->plugin, sizeof(x->plugin), l->plugin);
	cp(x->identity, sizeof(x->identity), ds->identity);
	cp(x->address, sizeof(x->address), ds->address);
	x->online = ds->online;
	x->conns_up = ds->conns_up;
	x->conns = ds->conns;
	x->queued = ds->queued;
	x->forwarded = ds->forwarded;
	x->timeouts = ds->timeouts;
	x->errors = ds->errors;
}

static void
live_gather(struct zg_daemon *d, struct live *l)
{
	struct zg_status_out out = { l, live_session_cb, live_device_cb };
	int i;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < d->nplugins; i++) {
		l->plugin = plugin_name(d->plugins[i]);
		plugin_status(d->plugins[i], &out);
	}
}

static void
live_free(struct live *l)
{
	free(l->s);
	free(l->d);
}

static size_t
live_sessions_of(const struct live *l, const char *identity)
{
	size_t i, n = 0;

	for (i = 0; i < l->ns; i++)
		if (strcmp(l->s[i].identity, identity) == 0)
			n++;
	return n;
}

/* zones: every zone with its devices and the conduits touching it. */
static void
cmd_zones(struct admin_client *c, const struct admin_req *rq,
	  struct evbuffer *out)
{
	const struct seg_policy *p = c->a->d->conf ? c->a->d->conf->policy : NULL;
	struct seg_policy_info pi;
	struct seg_zone_info z;
	struct seg_device_info dv;
	struct seg_conduit_info ci;
	size_t i, j, nc;
	bool first;

	(void)rq;
	evbuffer_add_printf(out, "{\"ok\":true,\"zones\":[");
	if (p != NULL) {
		seg_policy_info(p, &pi);
		for (i = 0; i < pi.nzones && seg_zone_get(p, i, &z) == 0; i++) {
			evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
			put_jstr(out, z.name);
			put_member(out, "description", z.description);
			evbuffer_add_printf(out, ",\"builtin\":%s,\"isolated\":%s,\"devices\":[",
					    z.builtin ? "true" : "false",
					    z.isolated ? "true" : "false");
			first = true;
			for (j = 0; j < pi.ndevices && seg_device_get(p, j, &dv) == 0; j++) {
				if (dv.zone == NULL || strcmp(dv.zone, z.name) != 0)
					continue;
				if (!first)
					evbuffer_add(out, ",", 1);
				put_jstr(out, dv.identity);
				first = false;
			}
			for (j = 0, nc = 0; j < pi.nconduits &&
			     seg_conduit_get(p, j, &ci) == 0; j++)
				if ((ci.from_zone && strcmp(ci.from_zone, z.name) == 0) ||
				    (ci.to_zone && strcmp(ci.to_zone, z.name) == 0))
					nc++;
			evbuffer_add_printf(out, "],\"ndevices\":%zu,\"conduits\":%zu}",
					    z.ndevices, nc);
		}
	}
	evbuffer_add_printf(out, "]}\n");
}

/*
 * devices: each device identity of the policy with its zone, how it is
 * identified (certificate, or address binding: low assurance), whether a
 * plugin reaches it now (online: true/false, null when no plugin talks
 * to it), quarantine, and its live sessions as a client.
 */
static void
cmd_devices(struct admin_client *c, const struct admin_req *rq,
	    struct evbuffer *out)
{
	struct zg_daemon *d = c->a->d;
	const struct seg_policy *p = d->conf ? d->conf->policy : NULL;
	struct seg_policy_info pi;
	struct seg_device_info dv;
	struct live l;
	size_t i, k;

	(void)rq;
	live_gather(d, &l);
	evbuffer_add_printf(out, "{\"ok\":true,\"devices\":[");
	if (p != NULL) {
		seg_policy_info(p, &pi);
		for (i = 0; i < pi.ndevices && seg_device_get(p, i, &dv) == 0; i++) {
			const struct live_device *ld = NULL;

			for (k = 0; k < l.nd; k++)
				if (strcmp(l.d[k].identity, dv.identity) == 0)
					ld = &l.d[k];
			evbuffer_add_printf(out, "%s{\"identity\":", i ? "," : "");
			put_jstr(out, dv.identity);
			put_member(out, "zone", dv.zone);
			put_member(out, "address", ld && ld->address[0] ? ld->address
								 : dv.address);
			put_member(out, "assurance",
				   dv.nbindings > 0 ? "address" : "certificate");
			evbuffer_add_printf(out, ",\"online\":%s",
					    ld == NULL || ld->online < 0 ? "null" :
					    ld->online ? "true" : "false");
			if (ld != NULL) {
				evbuffer_add_printf(out,
					",\"via\":\"%s\",\"conns_up\":%d,\"conns\":%d,\"queued\":%u,"
					"\"forwarded\":%llu,\"timeouts\":%llu,\"errors\":%llu",
					ld->plugin, ld->conns_up, ld->conns,
					ld->queued,
					(unsigned long long)ld->forwarded,
					(unsigned long long)ld->timeouts,
					(unsigned long long)ld->errors);
			}
			evbuffer_add_printf(out, ",\"quarantined\":%s,\"sessions\":%zu}",
					    seg_quarantined(d->segstate, dv.identity)
						    ? "true" : "false",
					    live_sessions_of(&l, dv.identity));
		}
	}
	evbuffer_add_printf(out, "]}\n");
	live_free(&l);
}

/* sessions: every plugin's live client sessions. */
static void
cmd_sessions(struct admin_client *c, const struct admin_req *rq,
	     struct evbuffer *out)
{
	struct zg_daemon *d = c->a->d;
	struct live l;
	size_t i;

	(void)rq;
	live_gather(d, &l);
	evbuffer_add_printf(out, "{\"ok\":true,\"sessions\":[");
	for (i = 0; i < l.ns; i++) {
		const struct live_session *x = &l.s[i];

		evbuffer_add_printf(out, "%s{\"plugin\":", i ? "," : "");
		put_jstr(out, x->plugin);
		put_member(out, "peer", x->peer);
		put_member(out, "identity", x->identity[0] ? x->identity : NULL);
		put_member(out, "assurance", assurance_name(x->assurance));
		put_member(out, "role", x->role[0] ? x->role : NULL);
		put_member(out, "listener", x->listener);
		put_member(out, "transport", x->transport);
		evbuffer_add_printf(out,
			",\"age\":%.1f,\"requests\":%llu,\"denials\":%llu,"
			"\"outstanding\":%u,\"quarantined\":%s}",
			x->age, (unsigned long long)x->requests,
			(unsigned long long)x->denials, x->outstanding,
			x->identity[0] && seg_quarantined(d->segstate, x->identity)
				? "true" : "false");
	}
	evbuffer_add_printf(out, "],\"count\":%zu,\"truncated\":%s}\n",
			    l.ns_total, l.ns_total > l.ns ? "true" : "false");
	live_free(&l);
}

/* uplinks: the northbound registry (gateway/upstat.h). */
static void
cmd_uplinks(struct admin_client *c, const struct admin_req *rq,
	    struct evbuffer *out)
{
	struct timespec ts;
	int64_t now;
	size_t i;

	(void)rq;
	bus_upstat_refresh(c->a->d->bus);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	evbuffer_add_printf(out, "{\"ok\":true,\"uplinks\":[");
	for (i = 0; i < upstat_count(); i++) {
		const struct upstat *u = upstat_get(i);

		evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
		put_jstr(out, u->name);
		put_member(out, "kind", u->kind);
		put_member(out, "target", u->target);
		put_member(out, "state", upstat_state_name(u->state));
		evbuffer_add_printf(out,
			",\"state_for\":%.1f,\"spool_depth\":%llu,\"spool_bytes\":%llu,"
			"\"oldest_unsent_age\":",
			u->since_ms > 0 && now > u->since_ms
				? (double)(now - u->since_ms) / 1000.0 : 0.0,
			(unsigned long long)u->spool_depth,
			(unsigned long long)u->spool_bytes);
		if (u->oldest_unsent_ms > 0)
			evbuffer_add_printf(out, "%.1f",
					    now > u->oldest_unsent_ms
						    ? (double)(now - u->oldest_unsent_ms) / 1000.0
						    : 0.0);
		else
			evbuffer_add_printf(out, "null");
		evbuffer_add_printf(out, ",\"sent\":%llu,\"acked\":%llu",
				    (unsigned long long)u->sent,
				    (unsigned long long)u->acked);
		put_member(out, "last_error", u->last_error[0] ? u->last_error : NULL);
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add_printf(out, "],\"count\":%zu}\n", upstat_count());
}

struct ev_list {
	struct evbuffer *out;
	size_t n;
};

static void
list_event(void *arg, uint64_t seq, const char *json)
{
	struct ev_list *l = arg;

	(void)seq;
	evbuffer_add_printf(l->out, "%s%s", l->n++ ? "," : "", json);
}

/* events: the recent events ring, oldest first. */
static void
cmd_events(struct admin_client *c, const struct admin_req *rq,
	   struct evbuffer *out)
{
	struct ev_list l = { out, 0 };

	(void)c;
	(void)rq;
	evbuffer_add_printf(out, "{\"ok\":true,\"events\":[");
	evring_last(EVRING_CAP, list_event, &l);
	evbuffer_add_printf(out, "],\"count\":%zu,\"total\":%llu}\n", l.n,
			    (unsigned long long)evring_total());
}

/*
 * A new event for a follower.  Its queue is bounded: a follower that
 * does not keep up (ADMIN_FOLLOW_MAX unsent) gets one last line saying
 * so and is disconnected, rather than making the daemon hold events for
 * it.  The kernel's share is bounded too (ADMIN_FOLLOW_SNDBUF).
 */
static void
on_follow(void *arg, uint64_t seq, const char *json)
{
	struct admin_client *c = arg;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	(void)seq;
	if (evbuffer_get_length(out) + strlen(json) + 1 > ADMIN_FOLLOW_MAX) {
		c->missed++;
		log_msg(ZG_LOG_WARN, "admin", NULL,
			"%s: event follower too slow (%d bytes unread): disconnected",
			c->who, ADMIN_FOLLOW_MAX);
		evbuffer_add_printf(out,
			"{\"ok\":false,\"error\":\"too slow: more than %d bytes of events unread; disconnected (events are in the log)\"}\n",
			ADMIN_FOLLOW_MAX);
		evring_unsubscribe(on_follow, c);
		c->following = false;
		c->closing = true;
		bufferevent_disable(c->bev, EV_READ);
		{
			/* It gets ADMIN_IDLE_SECONDS to read that line. */
			struct timeval idle = { ADMIN_IDLE_SECONDS, 0 };

			bufferevent_set_timeouts(c->bev, NULL, &idle);
		}
		return;
	}
	evbuffer_add_printf(out, "%s\n", json);
}

/*
 * follow: the connection turns into a stream of event lines after one
 * {"ok":true,"following":true} line.  Nothing else is read from it (the
 * client closes it to stop); the idle timeout no longer applies.
 */
static void
cmd_follow(struct admin_client *c, const struct admin_req *rq,
	   struct evbuffer *out)
{
	int sz = ADMIN_FOLLOW_SNDBUF;

	(void)rq;
	if (evring_subscribe(on_follow, c) < 0) {
		reply_error(out, "too many event followers");
		return;
	}
	c->following = true;
	if (setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_SNDBUF, &sz,
		       sizeof(sz)) < 0)
		log_debug("admin: SO_SNDBUF for a follower: %s", strerror(errno));
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	evbuffer_add_printf(out, "{\"ok\":true,\"following\":true,\"total\":%llu}\n",
			    (unsigned long long)evring_total());
}

/* scores: every tracked source's decayed score (threat engine). */
struct score_ctx {
	struct evbuffer *out;
	const struct seg_state *st;
	size_t n;
};

static void
score_one(void *arg, const char *key, double score, bool identity,
	  unsigned detections, const char *last)
{
	struct score_ctx *s = arg;

	if (s->n++ >= ADMIN_LIST_MAX)
		return;
	evbuffer_add_printf(s->out, "%s{\"source\":", s->n > 1 ? "," : "");
	put_jstr(s->out, key);
	evbuffer_add_printf(s->out,
		",\"score\":%.1f,\"identity\":%s,\"detections\":%u,\"last_detection\":",
		score, identity ? "true" : "false", detections);
	put_jstr(s->out, last);
	evbuffer_add_printf(s->out, ",\"quarantined\":%s}",
			    identity && seg_quarantined(s->st, key) ? "true"
								    : "false");
}

static void
cmd_scores(struct admin_client *c, const struct admin_req *rq,
	   struct evbuffer *out)
{
	struct zg_daemon *d = c->a->d;
	struct score_ctx s = { out, d->segstate, 0 };

	(void)rq;
	evbuffer_add_printf(out, "{\"ok\":true,\"scores\":[");
	if (d->threat != NULL)
		threat_score_foreach(d->threat, score_one, &s);
	evbuffer_add_printf(out, "],\"count\":%zu,\"quarantine_threshold\":%.1f}\n",
			    s.n, d->conf ? d->conf->threat.quarantine_threshold : 0.0);
}

/* learned: the learning-mode baseline as a conduit snippet. */
static void
cmd_learned(struct admin_client *c, const struct admin_req *rq,
	    struct evbuffer *out)
{
	static const char *const states[] = { "off", "learning", "finished" };
	struct zg_daemon *d = c->a->d;
	char *text = NULL, *esc;
	double remaining = 0;
	size_t n;
	int st;

	(void)rq;
	if (d->threat == NULL ||
	    (st = threat_learned(d->threat, &text, &remaining)) < 0) {
		reply_error(out, "out of memory");
		return;
	}
	n = strlen(text) * 6 + 8;
	if ((esc = malloc(n)) == NULL) {
		free(text);
		reply_error(out, "out of memory");
		return;
	}
	json_escape(esc, n, text);
	evbuffer_add_printf(out,
		"{\"ok\":true,\"state\":\"%s\",\"remaining\":%.0f,\"snippet\":\"%s\"}\n",
		states[st], remaining, esc);
	free(esc);
	free(text);
}

/*
 * explain: what the running gateway would decide for one operation
 * (identity, target, role, assurance and the operation from
 * gateway/adminop.h), against the policy and the runtime state in force
 * now: a quarantined identity is denied here as on the wire.  Nothing is
 * changed: no threat engine, no metrics, no event.  Refuses a missing
 * identity, target or operation, an unknown assurance, and an operation
 * that does not parse.
 */
static void
cmd_explain(struct admin_client *c, const struct admin_req *rq,
	    struct evbuffer *out)
{
	struct zg_daemon *d = c->a->d;
	struct admin_op ao;
	struct zg_verdict v;
	char err[160], msg[300];

	if (rq->identity[0] == '\0' || rq->target[0] == '\0' ||
	    rq->op[0] == '\0') {
		reply_error(out, "explain needs \"identity\", \"target\" and \"op\"");
		return;
	}
	if (admin_op_parse(rq->op, strlen(rq->op), &ao, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "bad operation: %s", err);
		reply_error(out, msg);
		return;
	}
	ao.op.identity = rq->identity;
	ao.op.target = rq->target;
	ao.op.role = rq->role[0] != '\0' ? rq->role : NULL;
	if (rq->assurance[0] == '\0' ||
	    strcmp(rq->assurance, "certificate") == 0) {
		ao.op.assurance = ZG_ASSURANCE_CERT;
	} else if (strcmp(rq->assurance, "address") == 0) {
		ao.op.assurance = ZG_ASSURANCE_ADDRESS;
	} else {
		reply_error(out, "assurance must be \"certificate\" or \"address\"");
		return;
	}
	memset(&v, 0, sizeof(v));
	seg_decide(d->conf != NULL ? d->conf->policy : NULL, d->segstate,
		   &ao.op, &v);
	evbuffer_add_printf(out, "{\"ok\":true,\"decision\":\"%s\",\"shadow\":%s",
			    v.decision == ZG_ALLOW ? "allow" : "deny",
			    v.shadow ? "true" : "false");
	if (v.shadow)
		evbuffer_add_printf(out, ",\"shadow_decision\":\"%s\"",
				    v.shadow_decision == ZG_ALLOW ? "allow"
								  : "deny");
	evbuffer_add_printf(out, ",\"rule\":");
	if (v.rule != NULL)
		put_jstr(out, v.rule);
	else
		evbuffer_add_printf(out, "null");
	evbuffer_add_printf(out, ",\"origin_file\":");
	put_jstr(out, v.origin_file);
	evbuffer_add_printf(out, ",\"origin_line\":%d,\"from_zone\":",
			    v.origin_line);
	put_jstr(out, v.from_zone);
	evbuffer_add_printf(out, ",\"to_zone\":");
	put_jstr(out, v.to_zone);
	evbuffer_add_printf(out, ",\"reason\":");
	put_jstr(out, v.reason);
	evbuffer_add_printf(out, ",\"quarantined\":%s}\n",
			    d->segstate != NULL &&
					    seg_quarantined(d->segstate, rq->identity)
				    ? "true" : "false");
}

static const struct {
	const char *name;
	void (*fn)(struct admin_client *, const struct admin_req *,
		   struct evbuffer *);
} commands[] = {
	{ "explain", cmd_explain },
	{ "zones", cmd_zones },
	{ "devices", cmd_devices },
	{ "sessions", cmd_sessions },
	{ "uplinks", cmd_uplinks },
	{ "events", cmd_events },
	{ "follow", cmd_follow },
	{ "status", cmd_status },
	{ "quarantine", cmd_quarantine },
	{ "release", cmd_release },
	{ "quarantined", cmd_quarantined },
	{ "reload", cmd_reload },
	{ "scores", cmd_scores },
	{ "learned", cmd_learned },
};

static void
handle_line(struct admin_client *c, const char *line, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct admin_req rq;
	char err[160], msg[ADMIN_STR_MAX + 256];
	size_t i;

	if (admin_parse_request(line, len, &rq, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "bad request: %s", err);
		reply_error(out, msg);
		return;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(rq.cmd, commands[i].name) == 0) {
			log_msg(ZG_LOG_DEBUG, "admin", NULL, "%s: %s %s", c->who,
				rq.cmd, rq.identity);
			commands[i].fn(c, &rq, out);
			return;
		}
	}
	snprintf(msg, sizeof(msg),
		 "unknown command \"%s\" (status, zones, devices, sessions, uplinks, events, follow, quarantine, release, quarantined, reload, scores, learned, explain)",
		 rq.cmd);
	reply_error(out, msg);
}

/*
 * Handle every complete line in the input, unless answers are piling up
 * unread (the write callback resumes then).  A line over ADMIN_LINE_MAX
 * gets an error and the connection is closed once it is written: the
 * stream cannot be trusted to resynchronise.
 */
static void
client_process(struct admin_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char line[ADMIN_LINE_MAX + 1];
	struct evbuffer_ptr eol;
	size_t n;

	while (!c->closing && evbuffer_get_length(out) < ADMIN_OUT_MAX) {
		if (c->following) {
			/* Input after `follow' means nothing: dropped. */
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		eol = evbuffer_search(in, "\n", 1, NULL);
		if (eol.pos < 0 || (size_t)eol.pos >= ADMIN_LINE_MAX) {
			if (evbuffer_get_length(in) < ADMIN_LINE_MAX)
				return; /* wait for more */
			log_msg(ZG_LOG_WARN, "admin", NULL,
				"%s: request longer than %d bytes: closing",
				c->who, ADMIN_LINE_MAX);
			reply_error(out, "request too long: closing");
			c->closing = true;
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		n = (size_t)eol.pos + 1;
		if (evbuffer_remove(in, line, n) != (int)n)
			return;
		handle_line(c, line, n);
	}
}

/*
 * After a refusal the rest of the client's input is read and dropped
 * (up to ADMIN_LINGER_MAX) until it closes: closing a socket with unread
 * input resets it, and the client would lose the answer saying why.
 */
static void
on_read(struct bufferevent *bev, void *arg)
{
	struct admin_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->lingering) {
		c->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->discarded > ADMIN_LINGER_MAX)
			client_free(c);
		return;
	}
	client_process(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct admin_client *c = arg;

	if (c->closing && !c->lingering &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
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
	struct admin_client *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_msg(ZG_LOG_INFO, "admin", NULL, "%s: idle for %d s: closing",
			c->who, ADMIN_IDLE_SECONDS);
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		client_free(c);
}

/*
 * May this peer steer the gateway?  root, the daemon's own uid, and
 * members of the socket's group (primary or, where the kernel tells,
 * supplementary).  The file mode already keeps others out; this is the
 * second lock, and it names who knocked.
 */
static bool
peer_allowed(const struct zg_admin *a, int fd, struct ucred *cr)
{
	socklen_t l = sizeof(*cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &l) < 0) {
		log_warn("admin socket: cannot read the peer's credentials");
		return false;
	}
	if (cr->uid == 0 || cr->uid == a->uid || cr->gid == a->gid)
		return true;
#ifdef SO_PEERGROUPS
	{
		gid_t g[ADMIN_MAX_GROUPS];
		size_t i;

		l = sizeof(g);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &l) == 0)
			for (i = 0; i < l / sizeof(g[0]); i++)
				if (g[i] == a->gid)
					return true;
	}
#endif
	return false;
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd,
	  struct sockaddr *sa, int salen, void *arg)
{
	static const char busy[] =
		"{\"ok\":false,\"error\":\"too many admin clients\"}\n";
	struct zg_admin *a = arg;
	struct admin_client *c;
	struct ucred cr;
	struct timeval idle = { ADMIN_IDLE_SECONDS, 0 };

	(void)lev;
	(void)sa;
	(void)salen;
	memset(&cr, 0, sizeof(cr));
	if (!peer_allowed(a, fd, &cr)) {
		log_msg(ZG_LOG_WARN, "admin", NULL,
			"refused a client with uid %u gid %u (pid %ld): not root, uid %u or group %u",
			(unsigned)cr.uid, (unsigned)cr.gid, (long)cr.pid,
			(unsigned)a->uid, (unsigned)a->gid);
		evutil_closesocket(fd);
		return;
	}
	if (a->nclients >= ADMIN_MAX_CLIENTS) {
		log_msg(ZG_LOG_WARN, "admin", NULL,
			"refused uid %u pid %ld: already %d admin clients",
			(unsigned)cr.uid, (long)cr.pid, a->nclients);
		/* Best effort on a fresh non-blocking socket; never waits. */
		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("admin: cannot tell a refused client why: %s",
				  strerror(errno));
		evutil_closesocket(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->bev = bufferevent_socket_new(a->d->base, fd,
			BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("admin: out of memory: dropping a client");
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->a = a;
	snprintf(c->who, sizeof(c->who), "uid %u pid %ld", (unsigned)cr.uid,
		 (long)cr.pid);
	c->next = a->clients;
	if (a->clients != NULL)
		a->clients->prev = c;
	a->clients = c;
	a->nclients++;
	/* Stop reading once a line plus change is buffered: client_process decides. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * ADMIN_LINE_MAX);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
on_listen_error(struct evconnlistener *lev, void *arg)
{
	(void)lev;
	(void)arg;
	log_warn("admin socket: accept failed");
}

/*
 * Bind the socket file.  Created with umask 0177 (nobody else can
 * connect in the window before chmod), then given its group and mode.
 * A group that does not exist leaves the group unchanged, with a warning.
 */
static int
admin_bind(struct zg_admin *a, const struct zg_conf *cf, char *err,
	   size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	struct group *gr;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(a->path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "admin socket %s: path too long", a->path);
		return -1;
	}
	memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
	if (lstat(a->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
				 "admin socket %s exists and is not a socket: refusing to remove it",
				 a->path);
			return -1;
		}
		/*
		 * We hold our pidfile lock, but a daemon on another pidfile
		 * may serve the same path: take it over only when nobody
		 * answers there (a stale file).
		 */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
				errno == EAGAIN || errno == EINPROGRESS)) {
			close(fd);
			snprintf(err, errlen,
				 "admin socket %s is served by another process: not taking it over",
				 a->path);
			return -1;
		}
		if (fd >= 0)
			close(fd);
		if (unlink(a->path) < 0) {
			snprintf(err, errlen, "cannot remove stale admin socket %s: %s",
				 a->path, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "admin socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		snprintf(err, errlen, "cannot create admin socket %s: %s",
			 a->path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	gr = getgrnam(cf->admin_group);
	if (gr == NULL)
		log_warnx("admin.group \"%s\" does not exist: admin socket %s keeps its group",
			  cf->admin_group, a->path);
	else if (chown(a->path, (uid_t)-1, gr->gr_gid) < 0)
		log_warn("cannot give admin socket %s to group %s", a->path,
			 cf->admin_group);
	if (chmod(a->path, (mode_t)cf->admin_mode) < 0 ||
	    stat(a->path, &st) < 0) {
		snprintf(err, errlen, "cannot set the mode of admin socket %s: %s",
			 a->path, strerror(errno));
		close(fd);
		unlink(a->path);
		return -1;
	}
	a->gid = st.st_gid;
	return fd;
}

struct zg_admin *
admin_new(struct zg_daemon *d, const char *conf_file, admin_reload_fn reload,
	  void *reload_arg, char *err, size_t errlen)
{
	struct zg_admin *a;
	int fd;

	if (d == NULL || d->conf == NULL || d->base == NULL) {
		snprintf(err, errlen, "admin socket: no daemon state");
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->path = strdup(d->conf->admin_socket)) == NULL ||
	    (a->conf_file = strdup(conf_file)) == NULL) {
		if (a != NULL)
			free(a->path);
		free(a);
		snprintf(err, errlen, "admin socket: out of memory");
		return NULL;
	}
	a->d = d;
	a->uid = geteuid();
	a->reload = reload;
	a->reload_arg = reload_arg;
	clock_gettime(CLOCK_MONOTONIC, &a->started);
	fd = admin_bind(a, d->conf, err, errlen);
	if (fd < 0)
		goto fail;
	a->lev = evconnlistener_new(d->base, on_accept, a,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				    ADMIN_MAX_CLIENTS, fd);
	if (a->lev == NULL) {
		snprintf(err, errlen, "cannot listen on admin socket %s: %s",
			 a->path, strerror(errno));
		close(fd);
		unlink(a->path);
		goto fail;
	}
	evconnlistener_set_error_cb(a->lev, on_listen_error);
	log_info("admin socket %s (mode %04o, group %u)", a->path,
		 (unsigned)d->conf->admin_mode, (unsigned)a->gid);
	return a;
fail:
	free(a->conf_file);
	free(a->path);
	free(a);
	return NULL;
}

void
admin_free(struct zg_admin *a)
{
	if (a == NULL)
		return;
	while (a->clients != NULL)
		client_free(a->clients);
	if (a->lev != NULL)
		evconnlistener_free(a->lev);
	if (unlink(a->path) < 0 && errno != ENOENT)
		log_warn("cannot remove admin socket %s", a->path);
	free(a->conf_file);
	free(a->path);
	free(a);
}
