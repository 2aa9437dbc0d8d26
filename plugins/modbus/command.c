/*
 * command.c: write-back on named points, the modbus plugin's command
 * endpoint.
 *
 *   commands = { listen = "127.0.0.1:5030"; };
 *
 * A client sends one JSON command per line (cmdjson.h):
 *
 *   {"id":"c-17","device":"plc-1","point":"setpoint","value":21.5}
 *
 * and gets one JSON answer per command, in the order the answers come:
 *
 *   {"id":"c-17","device":"plc-1","point":"setpoint","result":"ok"}
 *   {"id":"c-18",...,"result":"denied","reason":"write to holding ..."}
 *   {"id":"c-19",...,"result":"error","reason":"point is not writable"}
 *
 * The point must be declared in a poll group of the device with
 * writable = true.  Its value is encoded (points.c: the inverse of scale,
 * offset and byte order, range-checked), written with FC 5 (a coil), FC 6
 * (one register) or FC 16, and decided by the policy for the client's
 * identity like any Modbus client's write: the endpoint identifies its
 * peers by their address binding in the policy (assurance "address"), so
 * a conduit with require_assurance = "certificate" refuses its commands.
 * Every command that reaches the policy is audited as a security event:
 * modbus.command (allowed, with the device's result) or
 * modbus.command_denied.
 *
 * With northbound = true the same commands also come from other plugins
 * through the host (zg_host_api.command_handler): the mqtt uplink hands
 * on what arrives on its command topic, as the cloud identity it is
 * configured with, and publishes the answer.  Such a command is decided
 * for that identity and audited like a line client's; its peer in the
 * audit is where the submitting plugin says it came from.
 *
 *   commands = { listen = "127.0.0.1:5030"; northbound = true; };
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <netdb.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/netaddr.h"
#include "plugins/modbus/cmdjson.h"
#include "plugins/modbus/mbproxy.h"

#define CMD_MAX_SESSIONS 16
#define CMD_MAX_PENDING 16      /* commands in flight per session */
#define CMD_OUT_HIGH (64 * 1024) /* answers unread: stop reading commands */
#define CMD_OUT_LOW (16 * 1024)  /* ... until this much is left */
#define CMD_MAX_HOST_PENDING 64 /* commands from other plugins in flight */

struct cmd_session;

/* One command at a device. */
struct cmd_req {
	struct cmd_session *s;        /* NULL once the client has gone */
	struct zg_cmd *hc;            /* from another plugin, or NULL */
	struct mb_cmdsrv *srv;
	char id[CMD_ID_MAX];
	char device[CMD_DEVICE_MAX];
	char point[PT_NAME_MAX];
	char what[400];               /* "setpoint = 21.5 (FC6 ...)" */
	char identity[MB_ID_MAX];
	char peer[MB_PEER_MAX];
	struct mb_pending *p;
	struct cmd_req *next;         /* the server's list */
};

struct cmd_session {
	struct mb_cmdsrv *srv;
	struct bufferevent *bev;
	char peer[MB_PEER_MAX];
	char identity[MB_ID_MAX];     /* "" when unknown */
	int assurance;
	int pending;                  /* its commands at a device */
	struct cmd_session *next;
};

/* Where a command came from and goes back to: one of s, hc. */
struct cmd_from {
	struct cmd_session *s;        /* a line client */
	struct zg_cmd *hc;            /* another plugin, through the host */
	const char *identity;         /* "" when unknown */
	int assurance;
	const char *peer;
};

struct mb_cmdsrv {
	struct mb_state *st;
	char addr[MB_PEER_MAX];       /* "" : no local listener */
	bool northbound;              /* take commands from other plugins */
	bool handler;                 /* registered with the host */
	int hpending;                 /* their commands at a device */
	struct zg_listener *zl;
	struct cmd_session *sessions;
	int nsessions;
	struct cmd_req *reqs;         /* every command at a device */
};

static const char *const cmd_keys[] = { "listen", "northbound", NULL };

int
mb_cmd_config_read(const struct zg_host_api *api, struct zg_host *h,
		   const struct zg_cfg *c, struct mb_cmdsrv **out)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *addr;
	char err[128];
	struct mb_cmdsrv *srv;
	bool nb;

	*out = NULL;
	if (c == NULL)
		return 0;
	if (api->cfg_known_keys(h, c, cmd_keys) < 0 ||
	    api->cfg_string(h, c, "listen", NULL, &addr) < 0 ||
	    api->cfg_bool(h, c, "northbound", false, &nb) < 0)
		return -1;
	if (addr == NULL && !nb) {
		api->cfg_error(h, c, "listen",
			       "required unless northbound = true: numeric \"ip:port\" or \"[ipv6]:port\" for the command endpoint");
		return -1;
	}
	if (addr != NULL && netaddr_parse(addr, &ss, &sl, err, sizeof(err)) < 0) {
		api->cfg_error(h, c, "listen",
			       "numeric \"ip:port\" or \"[ipv6]:port\" for the command endpoint");
		return -1;
	}
	if (nb && api->size < offsetof(struct zg_host_api, command_done) +
				      sizeof(api->command_done)) {
		api->cfg_error(h, c, "northbound",
			       "this zonegated cannot pass commands between plugins");
		return -1;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -1;
	snprintf(srv->addr, sizeof(srv->addr), "%s", addr ? addr : "");
	srv->northbound = nb;
	*out = srv;
	return 0;
}

bool
mb_cmd_same(const struct mb_cmdsrv *a, const struct mb_cmdsrv *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a->addr, b->addr) == 0 && a->northbound == b->northbound;
}

/* JSON string escaping into buf (always NUL-terminated, truncates). */
static void
esc(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, len - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
}

/*
 * The answer to one command, to whoever sent it: a line on a client's
 * connection, or command_done() for a command from another plugin (hc
 * is answered exactly once: the caller forgets it after this).
 */
static void
answer_to(struct mb_cmdsrv *srv, struct cmd_session *s, struct zg_cmd *hc,
	  const char *id, const char *device, const char *point,
	  const char *result, const char *reason)
{
	char eid[CMD_ID_MAX * 6], edev[CMD_DEVICE_MAX * 6],
		ept[PT_NAME_MAX * 6], ers[512 * 6];
	char *buf;
	int n;

	esc(eid, sizeof(eid), id);
	esc(edev, sizeof(edev), device);
	esc(ept, sizeof(ept), point);
	esc(ers, sizeof(ers), reason ? reason : "");
	n = asprintf(&buf,
		     "{\"id\":\"%s\",\"device\":\"%s\",\"point\":\"%s\",\"result\":\"%s\"%s%s%s}\n",
		     eid, edev, ept, result, reason ? ",\"reason\":\"" : "",
		     reason ? ers : "", reason ? "\"" : "");
	if (n < 0) {
		buf = NULL;
		n = 0;
	}
	if (s != NULL && buf != NULL)
		evbuffer_add(bufferevent_get_output(s->bev), buf, (size_t)n);
	if (hc != NULL) {
		static const char oom[] =
			"{\"result\":\"error\",\"reason\":\"out of memory\"}";

		/* without the newline: a message, not a line */
		if (buf != NULL)
			srv->st->api->command_done(hc, buf, (size_t)n - 1);
		else
			srv->st->api->command_done(hc, oom, sizeof(oom) - 1);
	}
	free(buf);
}

static void
answer(struct cmd_from *o, struct mb_cmdsrv *srv, const char *id,
       const char *device, const char *point, const char *result,
       const char *reason)
{
	answer_to(srv, o->s, o->hc, id, device, point, result, reason);
}

static void
audit(struct mb_cmdsrv *srv, const char *kind, int sev, const char *peer,
      const char *identity, const char *target, const struct zg_verdict *v,
      const char *fmt, ...) __attribute__((format(printf, 8, 9)));

static void
audit(struct mb_cmdsrv *srv, const char *kind, int sev, const char *peer,
      const char *identity, const char *target, const struct zg_verdict *v,
      const char *fmt, ...)
{
	char detail[512];
	struct zg_event ev;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.severity = sev;
	ev.peer = peer;
	ev.identity = identity && identity[0] ? identity : NULL;
	ev.target = target;
	ev.verdict = v;
	ev.detail = detail;
	srv->st->api->event(srv->st->h, &ev);
}

static void
req_unlink(struct mb_cmdsrv *srv, struct cmd_req *r)
{
	struct cmd_req **pp;

	for (pp = &srv->reqs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (r->s != NULL)
		r->s->pending--;
	if (r->hc != NULL)
		srv->hpending--;
}

/* The device answered the write (or it failed). */
static void
write_done(struct mb_pending *p, const uint8_t *pdu, size_t len,
	   uint8_t local)
{
	struct cmd_req *r = p->done_arg;
	char reason[200];
	const char *result = "ok";

	if (r == NULL)
		return;
	reason[0] = '\0';
	if (local != 0) {
		result = "error";
		snprintf(reason, sizeof(reason),
			 local == MB_EX_GATEWAY_TARGET_NO_RESPONSE ?
				 "no answer from the device in time (or no connection)" :
				 "the gateway could not send the write (exception 0x%02x)",
			 local);
	} else if (pdu == NULL || len < 1 || (pdu[0] & 0x80)) {
		result = "error";
		snprintf(reason, sizeof(reason),
			 "the device answered exception 0x%02x",
			 pdu != NULL && len >= 2 ? pdu[1] : 0);
	}
	audit(r->srv, "modbus.command", result[0] == 'o' ? ZG_SEV_LOW : ZG_SEV_MEDIUM,
	      r->peer, r->identity, r->device, NULL, "command %s%s%s: %s%s%s",
	      r->id[0] ? r->id : "", r->id[0] ? " " : "", r->what,
	      result[0] == 'o' ? "written" : "failed",
	      reason[0] ? ": " : "", reason);
	req_unlink(r->srv, r);
	if (r->s != NULL || r->hc != NULL)
		answer_to(r->srv, r->s, r->hc, r->id, r->device, r->point,
			  result, reason[0] ? reason : NULL);
	free(r);
}

/*
 * One command, from a line client or another plugin (o says which):
 * parsed, resolved to a writable point, encoded, decided for o's
 * identity, audited, and sent to the device.  Answered exactly once.
 */
static void
handle_cmd(struct mb_cmdsrv *srv, struct cmd_from *o, const char *line,
	   size_t len)
{
	struct mb_state *st = srv->st;
	struct mb_command cmd;
	const struct pt_def *def;
	struct mb_device *dev;
	struct mb_pending *p;
	struct cmd_req *r;
	struct zg_verdict v;
	struct zg_op op;
	const char *why = NULL;
	uint16_t regs[PT_STRING_REGS_MAX];
	char val[PT_STRING_MAX * 6 + 8], desc[160];
	uint8_t unit;
	bool coil = false, writable = false;
	int n, i;

	if (cmd_parse(line, len, &cmd, &why) < 0) {
		answer(o, srv, cmd.id, cmd.device, cmd.point, "error", why);
		return;
	}
	dev = NULL;
	for (i = 0; i < st->ndevices; i++)
		if (strcmp(st->devices[i].identity, cmd.device) == 0)
			dev = &st->devices[i];
	if (dev == NULL || mb_poll_find_point(st->poller, cmd.device, cmd.point,
					      &def, &unit, &writable) < 0) {
		answer(o, srv, cmd.id, cmd.device, cmd.point, "error",
		       dev == NULL ? "unknown device" :
				     "unknown point (declare it in a poll group of the device)");
		return;
	}
	if (!writable) {
		answer(o, srv, cmd.id, cmd.device, cmd.point, "error",
		       "point is not writable (writable = true in its poll group)");
		return;
	}
	n = pt_encode(def, &cmd.value, regs, PT_STRING_REGS_MAX, &coil, &why);
	if (n < 0) {
		answer(o, srv, cmd.id, cmd.device, cmd.point, "error", why);
		return;
	}
	if ((o->s != NULL && o->s->pending >= CMD_MAX_PENDING) ||
	    (o->hc != NULL && srv->hpending >= CMD_MAX_HOST_PENDING)) {
		answer(o, srv, cmd.id, cmd.device, cmd.point, "error",
		       o->s != NULL ? "too many commands in flight on this connection"
				    : "too many northbound commands in flight");
		return;
	}
	p = calloc(1, sizeof(*p));
	r = calloc(1, sizeof(*r));
	if (p == NULL || r == NULL) {
		free(p);
		free(r);
		answer(o, srv, cmd.id, cmd.device, cmd.point, "error", "out of memory");
		return;
	}
	p->req.unit = unit;
	p->client_unit = unit;
	p->req.addr = def->addr;
	if (def->table == PT_COILS) {
		p->req.fc = MB_FC_WRITE_COIL;
		p->req.value = coil ? 0xFF00 : 0x0000;
	} else if (n == 1) {
		p->req.fc = MB_FC_WRITE_REGISTER;
		p->req.regs[0] = regs[0];
		p->req.nregs = 1;
	} else {
		p->req.fc = MB_FC_WRITE_REGISTERS;
		p->req.qty = (uint16_t)n;
		p->req.nregs = (uint16_t)n;
		memcpy(p->req.regs, regs, (size_t)n * sizeof(regs[0]));
	}
	pt_value_json(&cmd.value, val, sizeof(val));
	mb_describe(&p->req, desc, sizeof(desc));
	r->srv = srv;
	snprintf(r->id, sizeof(r->id), "%s", cmd.id);
	snprintf(r->device, sizeof(r->device), "%s", cmd.device);
	snprintf(r->point, sizeof(r->point), "%s", cmd.point);
	snprintf(r->what, sizeof(r->what), "%.63s = %.120s (%s)", cmd.point,
		 val, desc);
	snprintf(r->identity, sizeof(r->identity), "%s", o->identity);
	snprintf(r->peer, sizeof(r->peer), "%s", o->peer);

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MODBUS;
	mb_request_op(&p->req, &op.u.modbus);
	op.identity = o->identity[0] ? o->identity : NULL;
	op.assurance = (uint8_t)o->assurance;
	op.target = dev->identity;
	st->api->decide(st->h, &op, &v);
	if (v.decision != ZG_ALLOW) {
		audit(srv, "modbus.command_denied", ZG_SEV_HIGH, o->peer,
		      o->identity, dev->identity, &v, "command %s%s%s: refused",
		      r->id[0] ? r->id : "", r->id[0] ? " " : "", r->what);
		answer(o, srv, cmd.id, cmd.device, cmd.point, "denied", v.reason);
		free(p);
		free(r);
		return;
	}
	r->s = o->s;
	r->hc = o->hc;
	r->next = srv->reqs;
	srv->reqs = r;
	if (o->s != NULL)
		o->s->pending++;
	else
		srv->hpending++;
	r->p = p;
	p->done = write_done;
	p->done_arg = r;
	clock_gettime(CLOCK_MONOTONIC, &p->t_start);
	if (mb_device_submit(dev, p) < 0) {
		req_unlink(srv, r);
		answer(o, srv, cmd.id, cmd.device, cmd.point, "error",
		       "the device's queue is full");
		mb_pending_free(p);
		free(r);
	}
}

static void
session_close(struct cmd_session *s)
{
	struct mb_cmdsrv *srv = s->srv;
	struct cmd_session **pp;
	struct cmd_req *r;

	/* Writes at a device complete without their client (audited). */
	for (r = srv->reqs; r != NULL; r = r->next)
		if (r->s == s)
			r->s = NULL;
	for (pp = &srv->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			srv->nsessions--;
			break;
		}
	}
	bufferevent_free(s->bev);
	free(s);
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	struct cmd_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while (evbuffer_get_length(bufferevent_get_output(bev)) < CMD_OUT_HIGH &&
	       (line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > 0) {
			struct cmd_from o = { s, NULL, s->identity, s->assurance,
					      s->peer };

			handle_cmd(s->srv, &o, line, n);
		}
		free(line);
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) >= CMD_OUT_HIGH) {
		/* A client that does not read its answers is not read. */
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (evbuffer_get_length(in) > CMD_LINE_MAX) {
		answer_to(s->srv, s, NULL, "", "", "", "error",
			  "command longer than 4096 bytes");
		bufferevent_flush(bev, EV_WRITE, BEV_FLUSH);
		session_close(s);
	}
}

/* Answers drained below CMD_OUT_LOW: read commands again. */
static void
session_write(struct bufferevent *bev, void *arg)
{
	if (!(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);
		session_read(bev, arg);
	}
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		session_close(arg);
}

static void
cmd_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
	struct mb_cmdsrv *srv = arg;
	struct mb_state *st = srv->st;
	struct cmd_session *s;
	char host[64], port[16];

	if (st->draining || srv->nsessions >= CMD_MAX_SESSIONS) {
		evutil_closesocket(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		evutil_closesocket(fd);
		return;
	}
	s->srv = srv;
	if (getnameinfo(peer, peerlen, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(s->peer, sizeof(s->peer), "?");
	else if (peer->sa_family == AF_INET6)
		snprintf(s->peer, sizeof(s->peer), "[%.45s]:%.5s", host, port);
	else
		snprintf(s->peer, sizeof(s->peer), "%.45s:%.5s", host, port);
	evutil_make_socket_nonblocking(fd);
	s->bev = bufferevent_socket_new(st->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		evutil_closesocket(fd);
		free(s);
		return;
	}
	if (st->api->identify_addr(st->h, peer, peerlen, s->identity,
				   sizeof(s->identity)) == 0)
		s->assurance = ZG_ASSURANCE_ADDRESS;
	else
		s->assurance = ZG_ASSURANCE_NONE;
	st->api->log_peer(st->h, ZG_LOG_INFO, s->peer,
			  "command connection on %s: identity %s", srv->addr,
			  s->identity[0] ? s->identity : "(none: every command will be denied)");
	bufferevent_setcb(s->bev, session_read, session_write, session_event, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, CMD_OUT_LOW, 0);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->next = srv->sessions;
	srv->sessions = s;
	srv->nsessions++;
}

/* zg_command_fn: a command another plugin hands on (northbound = true). */
static void
cmd_from_host(void *arg, struct zg_cmd *c, const struct zg_command *cmd)
{
	struct mb_cmdsrv *srv = arg;
	struct cmd_from o = { NULL, c, cmd->identity ? cmd->identity : "",
			      cmd->assurance, cmd->peer ? cmd->peer : "?" };

	if (cmd->len > CMD_LINE_MAX || srv->st->draining) {
		answer(&o, srv, "", "", "", "error",
		       srv->st->draining ? "the gateway is shutting down"
					 : "command longer than 4096 bytes");
		return;
	}
	handle_cmd(srv, &o, cmd->body, cmd->len);
}

/*
 * Listen, and take commands from other plugins (again: a no-op on a
 * started endpoint).
 */
int
mb_cmd_start(struct mb_cmdsrv *srv, struct mb_state *st)
{
	srv->st = st;
	if (srv->northbound && !srv->handler) {
		st->api->command_handler(st->h, cmd_from_host, srv);
		srv->handler = true;
		st->api->log(st->h, ZG_LOG_INFO,
			     "taking write-back commands from uplink plugins (northbound = true)");
	}
	if (srv->zl != NULL || srv->addr[0] == '\0')
		return 0;
	srv->zl = st->api->listen(st->h, srv->addr, cmd_accept, srv);
	return srv->zl == NULL ? -1 : 0;
}

void
mb_cmd_free(struct mb_cmdsrv *srv)
{
	if (srv == NULL)
		return;
	while (srv->sessions != NULL)
		session_close(srv->sessions);
	if (srv->handler)
		srv->st->api->command_handler(srv->st->h, NULL, NULL);
	/*
	 * Writes still at a device complete unheard (the plugin stops); a
	 * plugin that sent one is told the outcome is unknown.
	 */
	while (srv->reqs != NULL) {
		struct cmd_req *r = srv->reqs;

		srv->reqs = r->next;
		r->p->done_arg = NULL;
		if (r->hc != NULL)
			answer_to(srv, NULL, r->hc, r->id, r->device, r->point,
				  "error",
				  "the modbus plugin stopped before the device answered: outcome unknown");
		free(r);
	}
	if (srv->zl != NULL)
		srv->st->api->listener_free(srv->zl);
	free(srv);
}
