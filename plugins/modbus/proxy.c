/*
 * proxy.c: client sessions of the Modbus/TCP proxy.
 *
 * Each request is framed from the byte stream (never from packets),
 * classified, decided against the conduit from the caller's zone to the
 * target's, and, when allowed, re-originated from its parsed fields on a
 * device connection.  A denied request is answered (exception 0x01 by
 * default) and the session stays up; a framing error closes the session
 * (never resynchronise).  Every denial and every anomaly is a security
 * event that names the peer, the identity, the request, the rule and the
 * reason.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/netaddr.h"
#include "plugins/modbus/mbproxy.h"

/* Input kept per session before the client is pushed back: 16 frames. */
#define MB_INPUT_HIGHWATER (16 * MBAP_ADU_MAX)
/*
 * Answers queued for a client that does not read: past this much the
 * session stops reading requests (the client's own sends then block);
 * reading resumes once a quarter of it has drained.
 */
#define MB_OUTPUT_HIGHWATER (64 * 1024)

static void
mb_eventv(struct mb_state *st, const char *kind, int sev,
	  const struct mb_session *s, const char *target,
	  const struct zg_verdict *v, const struct zg_op *op, const char *fmt,
	  va_list ap) __attribute__((format(printf, 8, 0)));

void
mb_event(struct mb_state *st, const char *kind, int sev,
	 const struct mb_session *s, const char *target,
	 const struct zg_verdict *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mb_eventv(st, kind, sev, s, target, v, NULL, fmt, ap);
	va_end(ap);
}

/* An event about one request: the threat engine sees its fields. */
void
mb_event_op(struct mb_state *st, const char *kind, int sev,
	    const struct mb_session *s, const char *target,
	    const struct zg_verdict *v, const struct zg_op *op,
	    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mb_eventv(st, kind, sev, s, target, v, op, fmt, ap);
	va_end(ap);
}

static void
mb_eventv(struct mb_state *st, const char *kind, int sev,
	  const struct mb_session *s, const char *target,
	  const struct zg_verdict *v, const struct zg_op *op, const char *fmt,
	  va_list ap)
{
	char detail[512];
	struct zg_event ev;

	vsnprintf(detail, sizeof(detail), fmt, ap);
	memset(&ev, 0, sizeof(ev));
	ev.op = op;
	ev.kind = kind;
	ev.severity = sev;
	ev.peer = s ? s->peer : NULL;
	ev.identity = s && s->identity[0] ? s->identity : NULL;
	ev.target = target;
	ev.verdict = v;
	ev.detail = detail;
	st->api->event(st->h, &ev);
}

/* ---------------------------------------------------------------- */
/* per-identity accounting */

static struct mb_ident *
ident_get(struct mb_state *st, const char *identity, double burst)
{
	struct mb_ident *i;

	for (i = st->idents; i != NULL; i = i->next)
		if (strcmp(i->identity, identity) == 0)
			return i;
	i = calloc(1, sizeof(*i));
	if (i == NULL)
		return NULL;
	snprintf(i->identity, sizeof(i->identity), "%s", identity);
	i->tokens = burst;
	clock_gettime(CLOCK_MONOTONIC, &i->last);
	i->next = st->idents;
	st->idents = i;
	return i;
}

static void
ident_put(struct mb_state *st, struct mb_ident *id)
{
	struct mb_ident **pp;

	if (id == NULL || --id->sessions > 0 || id->outstanding > 0)
		return;
	for (pp = &st->idents; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == id) {
			*pp = id->next;
			free(id);
			return;
		}
	}
}

/* Token bucket: `rate' requests per second, `burst' at most at once. */
static bool
ident_take_token(struct mb_ident *id, double rate, double burst)
{
	struct timespec now;
	double dt;

	if (rate <= 0.0)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - id->last.tv_sec) +
	     (double)(now.tv_nsec - id->last.tv_nsec) / 1e9;
	id->last = now;
	id->tokens += dt * rate;
	if (id->tokens > burst)
		id->tokens = burst;
	if (id->tokens < 1.0)
		return false;
	id->tokens -= 1.0;
	return true;
}

/* ---------------------------------------------------------------- */
/* answering */

/* A socket error that only means "not now". */
static bool
retriable(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/*
 * Session I/O.  A TLS session reads and writes through the bufferevent of
 * its TLS layer; a plain one through its own socket (see mb_session):
 * with a bufferevent every read costs an ioctl(FIONREAD) and a readv(),
 * and every queued write two epoll_ctl() calls.  These helpers hide the
 * difference from the framing and flow control below.
 */

static size_t
in_length(const struct mb_session *s)
{
	if (s->tls != NULL)
		return evbuffer_get_length(bufferevent_get_input(s->bev));
	return s->in_len;
}

/* The first `want' bytes of the input, contiguous (want <= in_length). */
static const uint8_t *
in_peek(struct mb_session *s, size_t want)
{
	if (s->tls != NULL)
		return evbuffer_pullup(bufferevent_get_input(s->bev),
				       (ssize_t)want);
	return s->in;
}

static void
in_drain(struct mb_session *s, size_t n)
{
	if (s->tls != NULL) {
		evbuffer_drain(bufferevent_get_input(s->bev), n);
		return;
	}
	memmove(s->in, s->in + n, s->in_len - n);
	s->in_len -= n;
}

static size_t
out_length(const struct mb_session *s)
{
	if (s->tls != NULL)
		return evbuffer_get_length(bufferevent_get_output(s->bev));
	return evbuffer_get_length(s->out);
}

/* Take requests from the client (on) or leave them in its socket. */
static void
reading(struct mb_session *s, bool on)
{
	if (s->tls != NULL) {
		if (on)
			bufferevent_enable(s->bev, EV_READ);
		else
			bufferevent_disable(s->bev, EV_READ);
	} else if (on) {
		event_add(s->rd_ev, NULL); /* no-op when already added */
	} else {
		event_del(s->rd_ev);
	}
}

/*
 * Plain session: answers are collected in out and written when the loop
 * turn's other events have run (the write event is made active), so the
 * answers one device read completes for a pipelining client leave in
 * one write.  What the kernel does not take stays in out, in order, for
 * the write event proper.  A write error closes the session there, never
 * here (the caller may be in the middle of a device's answers).
 */
static void
plain_write(struct mb_session *s, const uint8_t *data, size_t len)
{
	if (evbuffer_get_length(s->out) == 0)
		event_active(s->wr_ev, EV_WRITE, 0);
	evbuffer_add(s->out, data, len);
}

static void
reply(struct mb_session *s, uint16_t tid, uint8_t unit, const uint8_t *pdu,
      size_t len)
{
	uint8_t adu[MBAP_ADU_MAX];

	if (s->closing || (s->tls != NULL ? s->bev == NULL : s->fd < 0) ||
	    len > MBAP_PDU_MAX ||
	    mbap_write_header(adu, MBAP_HEADER_LEN, tid, unit, len) < 0)
		return;
	memcpy(adu + MBAP_HEADER_LEN, pdu, len);
	if (s->tls != NULL)
		bufferevent_write(s->bev, adu, MBAP_HEADER_LEN + len);
	else
		plain_write(s, adu, MBAP_HEADER_LEN + len);
	if (len >= 2 && (pdu[0] & 0x80) != 0) {
		/* For the threat engine: bursts of exceptions to one client. */
		struct zg_observation o;

		memset(&o, 0, sizeof(o));
		o.kind = "modbus.exception_sent";
		o.peer = s->peer;
		o.identity = s->identity[0] ? s->identity : NULL;
		o.value = pdu[1];
		s->st->api->observe(s->st->h, &o);
	}
	if (!s->read_paused && out_length(s) > MB_OUTPUT_HIGHWATER) {
		reading(s, false);
		s->read_paused = true;
		/* A partial frame left unread is our doing now, not a
		 * slow client's: the half-open clock restarts on resume. */
		evtimer_del(s->frame_timer);
	}
}

/* Output drained to the low watermark: take requests again. */
static void
session_drained(struct mb_session *s)
{
	if (s->read_paused && !s->closing &&
	    out_length(s) <= MB_OUTPUT_HIGHWATER / 4) {
		s->read_paused = false;
		if (!s->wait_outstanding) {
			reading(s, true);
			/* Frames read before the pause are still buffered. */
			if (in_length(s) > 0) {
				struct timeval now = { 0, 0 };

				evtimer_add(s->resume_ev, &now);
			}
		}
	}
}

static void
session_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_drained(arg);
}

/* Plain session: answers were collected, or the socket takes more. */
static void
session_writable(evutil_socket_t fd, short what, void *arg)
{
	struct mb_session *s = arg;

	(void)what;
	if (evbuffer_get_length(s->out) > 0 &&
	    evbuffer_write(s->out, fd) < 0 && !retriable(errno)) {
		mb_session_close(s, strerror(errno));
		return;
	}
	if (evbuffer_get_length(s->out) == 0)
		event_del(s->wr_ev);
	else
		event_add(s->wr_ev, NULL); /* the rest when the socket takes it */
	session_drained(s);
}

/*
 * Flow control: the identity has max_outstanding requests in flight.
 * Requests already read stay in the input buffer, unparsed, and the
 * session stops reading; TCP pushes back on the client.  No busy answer,
 * no event: a pipelining master is simply made to wait.
 */
static void
pause_for_outstanding(struct mb_session *s)
{
	if (s->wait_outstanding)
		return;
	s->wait_outstanding = true;
	s->ident->waiting++;
	reading(s, false);
	evtimer_del(s->frame_timer);
}

/*
 * An answer completed for identity id: sessions of id that wait for room
 * are resumed on a fresh turn of the loop (never from inside the device
 * callback that completed the answer).
 */
static void
resume_waiting(struct mb_state *st, struct mb_ident *id)
{
	struct mb_session *o;
	struct timeval now = { 0, 0 };

	for (o = st->sessions; o != NULL && id->waiting > 0; o = o->next) {
		if (o->ident != id || !o->wait_outstanding)
			continue;
		o->wait_outstanding = false;
		id->waiting--;
		if (!o->read_paused && !o->closing)
			reading(o, true);
		evtimer_add(o->resume_ev, &now);
	}
}

static void session_input(struct mb_session *s);

static void
session_resume(evutil_socket_t fd, short what, void *arg)
{
	struct mb_session *s = arg;

	(void)fd;
	(void)what;
	/* Frames read before the pause are still buffered. */
	if (!s->wait_outstanding && !s->read_paused && !s->closing)
		session_input(s);
}

/*
 * Count a denial.  A client denied more than max_denials times within one
 * second is not an operator mistake but a probe or a flood (each denial is
 * an event and a log line): the session is closed.  Returns -1 then.
 */
static int
count_denial(struct mb_session *s)
{
	struct timespec now;

	s->ndenied++;
	if (s->lst->max_denials <= 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec != s->denial_sec) {
		s->denial_sec = now.tv_sec;
		s->denials = 0;
	}
	if (++s->denials <= s->lst->max_denials)
		return 0;
	mb_event(s->st, "modbus.denial_flood", ZG_SEV_HIGH, s, NULL, NULL,
		 "more than %d denied requests within one second: closed",
		 s->lst->max_denials);
	mb_session_close(s, "denial flood");
	return -1;
}

static void
reply_exception(struct mb_session *s, uint16_t tid, uint8_t unit, uint8_t fc,
		uint8_t code)
{
	uint8_t pdu[2];

	if (mb_build_exception(fc & 0x7f, code, pdu) == 2)
		reply(s, tid, unit, pdu, 2);
}

static void
session_unlink_pending(struct mb_session *s, struct mb_pending *p)
{
	struct mb_pending **pp;

	for (pp = &s->pending; *pp != NULL; pp = &(*pp)->snext) {
		if (*pp == p) {
			*pp = p->snext;
			s->outstanding--;
			if (s->ident != NULL)
				s->ident->outstanding--;
			return;
		}
	}
}

void
mb_complete(struct mb_pending *p, const uint8_t *pdu, size_t len)
{
	struct mb_session *s = p->sess;

	if (p->done != NULL) { /* the gateway's own request (poller) */
		p->done(p, pdu, len, 0);
		mb_pending_free(p);
		return;
	}
	if (s != NULL) {
		session_unlink_pending(s, p);
		if (pdu != NULL && len > 0)
			reply(s, p->client_tid, p->client_unit, pdu, len);
		if (s->ident != NULL && s->ident->waiting > 0 &&
		    s->ident->outstanding < s->lst->max_outstanding)
			resume_waiting(s->st, s->ident);
	}
	mb_pending_free(p);
}

void
mb_complete_exception(struct mb_pending *p, uint8_t code)
{
	uint8_t pdu[2];

	if (p->done != NULL) { /* the gateway's own request: no answer */
		p->done(p, NULL, 0, code);
		mb_pending_free(p);
		return;
	}
	if (mb_build_exception(p->req.fc & 0x7f, code, pdu) == 2)
		mb_complete(p, pdu, 2);
	else
		mb_complete(p, NULL, 0);
}

/* ---------------------------------------------------------------- */
/* sessions */

void
mb_session_close(struct mb_session *s, const char *why)
{
	struct mb_state *st = s->st;
	struct mb_session **pp;

	st->api->log_peer(st->h, ZG_LOG_INFO, s->peer, "session closed: %s",
			  why);
	while (s->pending != NULL) {
		struct mb_pending *p = s->pending;

		s->pending = p->snext;
		if (s->ident != NULL)
			s->ident->outstanding--;
		mb_pending_orphan(p);
	}
	s->outstanding = 0;
	for (pp = &st->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			st->nsessions--;
			break;
		}
	}
	if (s->frame_timer != NULL)
		event_free(s->frame_timer);
	if (s->idle_timer != NULL)
		event_free(s->idle_timer);
	if (s->resume_ev != NULL)
		event_free(s->resume_ev);
	if (s->wait_outstanding && s->ident != NULL)
		s->ident->waiting--;
	if (s->tls != NULL)
		st->api->tls_close(s->tls); /* flush, close_notify, frees bev */
	if (s->rd_ev != NULL)
		event_free(s->rd_ev);
	if (s->wr_ev != NULL)
		event_free(s->wr_ev);
	if (s->out != NULL) {
		/* Answers of this turn (say, the exception before a denial
		 * flood closes the session) still go out if the socket
		 * takes them now; nothing waits for more. */
		if (s->fd >= 0 && evbuffer_get_length(s->out) > 0)
			(void)evbuffer_write(s->out, s->fd);
		evbuffer_free(s->out);
	}
	if (s->fd >= 0)
		evutil_closesocket(s->fd);
	free(s->in);
	ident_put(st, s->ident);
	free(s);
}

static const struct mb_route *
route_for(const struct mb_listener *l, uint8_t unit)
{
	int i;

	for (i = 0; i < l->nroutes; i++)
		if (unit >= l->routes[i].lo && unit <= l->routes[i].hi)
			return &l->routes[i];
	return NULL;
}

/* Writes (or anything that is not a pure read) weigh more in events. */
static int
denial_severity(const struct zg_op *op)
{
	int i;

	for (i = 0; i < op->u.modbus.nspans; i++)
		if (op->u.modbus.spans[i].access == ZG_MB_WRITE)
			return ZG_SEV_HIGH;
	return op->u.modbus.nspans ? ZG_SEV_MEDIUM : ZG_SEV_HIGH;
}

/*
 * One framed request.  Returns -1 when the session was closed (the
 * caller must not touch it again).
 */
static int
handle_request(struct mb_session *s, const struct mbap_frame *f)
{
	struct mb_state *st = s->st;
	struct mb_listener *l = s->lst;
	const struct mb_route *r;
	struct mb_pending *p;
	struct zg_verdict v;
	struct zg_op op;
	enum mb_result res;
	char desc[160];

	s->nrequests++;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		mb_session_close(s, "out of memory");
		return -1;
	}
	memset(&op, 0, sizeof(op));
	res = mb_parse_request(f->pdu, f->pdu_len, f->unit, &p->req, &op);
	desc[0] = '\0';
	p->client_tid = f->tid;
	p->client_unit = f->unit;
	op.peer = s->peer;
	op.identity = s->identity[0] ? s->identity : NULL;
	op.assurance = (uint8_t)s->assurance;
	op.role = s->role;

	if (res == MB_ILLEGAL_DATA_VALUE || res == MB_ILLEGAL_DATA_ADDRESS) {
		/* Malformed PDU in a sound frame: answer it, never forward. */
		mb_describe(&p->req, desc, sizeof(desc));
		mb_event_op(st, "modbus.malformed_request", ZG_SEV_LOW, s, NULL,
			    NULL, &op, "%s: %s", desc,
			 p->req.why ? p->req.why : mb_result_str(res));
		reply_exception(s, f->tid, f->unit, p->req.fc, (uint8_t)res);
		free(p);
		return count_denial(s);
	}
	r = route_for(l, f->unit);
	if (r == NULL) {
		mb_describe(&p->req, desc, sizeof(desc));
		mb_event_op(st, "modbus.no_route", ZG_SEV_LOW, s, NULL, NULL,
			    &op, "%s: no device behind unit %u on listener %s", desc,
			 f->unit, l->addr);
		/* 0x0A tells which units exist: only identified peers learn
		 * that; others get the same answer as a denial. */
		reply_exception(s, f->tid, f->unit, p->req.fc,
				s->identity[0] ? MB_EX_GATEWAY_PATH_UNAVAILABLE
					       : MB_EX_ILLEGAL_FUNCTION);
		free(p);
		return count_denial(s);
	}

	op.target = r->dev->identity;
	/* The device may sit behind another unit id than the client used. */
	if (r->dev->unit >= 0)
		op.u.modbus.unit = (uint8_t)r->dev->unit;
	st->api->decide(st->h, &op, &v);

	if (v.decision != ZG_ALLOW) {
		mb_describe(&p->req, desc, sizeof(desc));
		mb_event_op(st, "modbus.denied", denial_severity(&op), s,
			    r->dev->identity, &v, &op, "%s", desc);
		free(p);
		switch (l->deny_action) {
		case MB_DENY_CLOSE:
			mb_session_close(s, "request denied (deny = close)");
			return -1;
		case MB_DENY_EX02:
			reply_exception(s, f->tid, f->unit, f->pdu[0],
					MB_EX_ILLEGAL_DATA_ADDRESS);
			break;
		case MB_DENY_EX0B:
			reply_exception(s, f->tid, f->unit, f->pdu[0],
					MB_EX_GATEWAY_TARGET_NO_RESPONSE);
			break;
		default:
			reply_exception(s, f->tid, f->unit, f->pdu[0],
					MB_EX_ILLEGAL_FUNCTION);
			break;
		}
		return count_denial(s);
	}
	/* Only allowed requests keep a session from idling out. */
	if (l->idle_timeout > 0) {
		struct timeval tv = tv_of(l->idle_timeout);

		evtimer_add(s->idle_timer, &tv);
	}
	if (v.shadow && mb_describe(&p->req, desc, sizeof(desc)) >= 0)
		mb_event(st, "modbus.shadow", ZG_SEV_INFO, s, r->dev->identity,
			 &v, "%s: allowed by shadow conduit (would be %s)",
			 desc, v.shadow_decision == ZG_ALLOW ? "allowed" : "denied");

	if (s->ident != NULL && s->ident->outstanding >= l->max_outstanding) {
		mb_describe(&p->req, desc, sizeof(desc));
		mb_event(st, "modbus.too_many_outstanding", ZG_SEV_MEDIUM, s,
			 r->dev->identity, NULL,
			 "%s: identity already has %d requests outstanding (max %d): answered busy",
			 desc, s->ident->outstanding, l->max_outstanding);
		reply_exception(s, f->tid, f->unit, p->req.fc,
				MB_EX_SERVER_DEVICE_BUSY);
		free(p);
		return count_denial(s);
	}
	if (s->ident != NULL && !ident_take_token(s->ident, l->rate, l->burst)) {
		mb_describe(&p->req, desc, sizeof(desc));
		mb_event(st, "modbus.rate_limited", ZG_SEV_MEDIUM, s,
			 r->dev->identity, NULL,
			 "%s: over %.1f requests/s: answered busy", desc,
			 l->rate);
		reply_exception(s, f->tid, f->unit, p->req.fc,
				MB_EX_SERVER_DEVICE_BUSY);
		free(p);
		return count_denial(s);
	}

	p->sess = s;
	p->snext = s->pending;
	s->pending = p;
	s->outstanding++;
	if (s->ident != NULL)
		s->ident->outstanding++;
	clock_gettime(CLOCK_MONOTONIC, &p->t_start);
	if (mb_device_submit(r->dev, p) < 0) {
		mb_describe(&p->req, desc, sizeof(desc));
		session_unlink_pending(s, p);
		mb_event(st, "modbus.device_queue_full", ZG_SEV_LOW, s,
			 r->dev->identity, NULL,
			 "%s: device %s has %d requests waiting: answered busy",
			 desc, r->dev->identity, r->dev->qlen);
		reply_exception(s, f->tid, f->unit, p->req.fc,
				MB_EX_SERVER_DEVICE_BUSY);
		mb_pending_free(p);
	}
	return 0;
}

static void
frame_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mb_session *s = arg;

	(void)fd;
	(void)what;
	mb_event(s->st, "modbus.half_open_frame", ZG_SEV_MEDIUM, s, NULL, NULL,
		 "client sent %zu bytes of a frame and stopped for %.1fs: closed",
		 in_length(s),
		 s->lst->frame_timeout);
	mb_session_close(s, "half-open frame timeout");
}

static void
idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mb_session *s = arg;
	struct timeval tv = tv_of(s->lst->idle_timeout);

	(void)fd;
	(void)what;
	if (s->outstanding > 0) {
		evtimer_add(s->idle_timer, &tv);
		return;
	}
	mb_session_close(s, "idle timeout");
}

/*
 * Frame and handle the requests buffered on s, in order, until one is
 * incomplete or flow control stops the session.
 */
static void
session_input(struct mb_session *s)
{
	size_t len;
	bool framed = false;

	while ((len = in_length(s)) > 0) {
		size_t want = len < MBAP_ADU_MAX ? len : MBAP_ADU_MAX;
		const uint8_t *data;
		uint8_t copy[MBAP_ADU_MAX];
		struct mbap_frame f;
		enum mbap_status rc;

		if (s->wait_outstanding)
			return;
		if (s->ident != NULL &&
		    s->ident->outstanding >= s->lst->max_outstanding) {
			pause_for_outstanding(s);
			return;
		}
		data = in_peek(s, want);
		rc = mbap_frame(data, want, &f);
		if (rc == MBAP_NEED_MORE)
			break;
		if (rc != MBAP_OK) {
			mb_event(s->st, "modbus.framing_error", ZG_SEV_MEDIUM,
				 s, NULL, NULL,
				 "bad MBAP header (%s: protocol id %u, length %u): closed",
				 mbap_strerror(rc), f.proto, f.length);
			mb_session_close(s, "framing error");
			return;
		}
		/* The frame is copied: handling may reply and reenter. */
		memcpy(copy, data, f.consumed);
		f.pdu = copy + MBAP_HEADER_LEN;
		in_drain(s, f.consumed);
		framed = true;
		if (handle_request(s, &f) < 0)
			return;
	}
	/*
	 * A partial frame is left: it must be completed within frame_timeout
	 * of the last complete frame (or of its first byte).  Completing a
	 * frame is progress and restarts the clock; trickling bytes is not.
	 */
	if (in_length(s) > 0 && !s->read_paused) {
		if (s->lst->frame_timeout > 0 &&
		    (framed || !evtimer_pending(s->frame_timer, NULL))) {
			struct timeval tv = tv_of(s->lst->frame_timeout);
			evtimer_add(s->frame_timer, &tv);
		}
	} else if (!s->read_paused) {
		evtimer_del(s->frame_timer);
	}
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_input(arg);
}

/*
 * Plain session: one recv() per readable event, as much as the input
 * buffer holds (16 frames; the rest waits in the socket).  End of stream
 * or an error closes the session.
 */
static void
session_readable(evutil_socket_t fd, short what, void *arg)
{
	struct mb_session *s = arg;
	size_t room = MB_INPUT_HIGHWATER - s->in_len;
	ssize_t n;

	(void)what;
	if (room == 0) {
		/* Only reachable while paused: nothing to take. */
		event_del(s->rd_ev);
		return;
	}
	n = recv(fd, s->in + s->in_len, room, 0);
	if (n == 0) {
		mb_session_close(s, "client closed the connection");
		return;
	}
	if (n < 0) {
		if (!retriable(errno))
			mb_session_close(s, strerror(errno));
		return;
	}
	s->in_len += (size_t)n;
	session_input(s);
}

/*
 * The TLS handshake finished and the certificate chain verified: the
 * identity and the Modbus/TCP Security role come from the certificate.
 * A certificate without a usable name is refused; one whose role
 * extension is doubled or mis-encoded is treated as carrying no role and
 * raises an event (the policy then decides with a NULL role).
 */
static int
tls_established(struct mb_session *s)
{
	struct mb_state *st = s->st;
	struct zg_peer_cert pc;

	s->handshaking = false;
	if (st->api->tls_peer(s->tls, &pc) < 0 || pc.identity == NULL) {
		mb_event(st, "tls.no_identity", ZG_SEV_MEDIUM, s, NULL, NULL,
			 "client certificate %s (issuer %s) has no usable identity "
			 "(URI SAN, DNS SAN or CN): refused",
			 pc.subject ? pc.subject : "?", pc.issuer ? pc.issuer : "?");
		mb_session_close(s, "certificate without identity");
		return -1;
	}
	snprintf(s->identity, sizeof(s->identity), "%s", pc.identity);
	s->assurance = ZG_ASSURANCE_CERT;
	if (pc.role != NULL) {
		snprintf(s->role_buf, sizeof(s->role_buf), "%s", pc.role);
		s->role = s->role_buf;
	} else {
		s->role = NULL;
		if (pc.role_status != NULL && strcmp(pc.role_status, "absent") != 0)
			mb_event(st, "tls.bad_role", ZG_SEV_MEDIUM, s, NULL, NULL,
				 "certificate serial %s carries a %s Modbus role extension "
				 "(%s): treated as no role",
				 pc.serial ? pc.serial : "?", pc.role_status,
				 pc.role_detail ? pc.role_detail : "");
	}
	s->ident = ident_get(st, s->identity, s->lst->burst);
	if (s->ident != NULL)
		s->ident->sessions++;
	st->api->log_peer(st->h, ZG_LOG_INFO, s->peer,
			  "TLS %s %s: identity %s (%s SAN/CN), role %s, serial %s",
			  pc.version ? pc.version : "?", pc.cipher ? pc.cipher : "?",
			  s->identity, pc.source, s->role ? s->role : "(none)",
			  pc.serial ? pc.serial : "?");
	return 0;
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	struct mb_session *s = arg;

	(void)bev;
	if ((what & BEV_EVENT_CONNECTED) && s->tls != NULL) {
		tls_established(s);
		return;
	}
	if (s->handshaking && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
		const char *kind = s->st->api->tls_fail_kind(s->tls);
		bool hostile = strcmp(kind, "verify") == 0 ||
			       strcmp(kind, "no_peer_cert") == 0 ||
			       strcmp(kind, "protocol") == 0;

		mb_event(s->st, "tls.handshake_failed",
			 hostile ? ZG_SEV_MEDIUM : ZG_SEV_LOW, s, NULL, NULL,
			 "TLS handshake on %s failed (%s): %s", s->lst->addr,
			 kind, s->st->api->tls_error(s->tls));
		mb_session_close(s, "TLS handshake failed");
		return;
	}
	if (what & BEV_EVENT_EOF)
		mb_session_close(s, "client closed the connection");
	else if (what & BEV_EVENT_ERROR)
		mb_session_close(s, evutil_socket_error_to_string(
					    EVUTIL_SOCKET_ERROR()));
}

void
mb_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
	struct mb_listener *l = arg;
	struct mb_state *st = l->st;
	struct mb_session *s, *o;
	int from_source = 0;

	if (st->draining || peerlen > (socklen_t)sizeof(struct sockaddr_storage)) {
		evutil_closesocket(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		evutil_closesocket(fd);
		return;
	}
	s->st = st;
	s->lst = l;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	memcpy(&s->peer_sa, peer, peerlen);
	netaddr_format(peer, s->peer, sizeof(s->peer));
	for (o = st->sessions; o != NULL; o = o->next)
		if (netaddr_same_host(&o->peer_sa, &s->peer_sa))
			from_source++;
	if (from_source >= l->max_conns_per_source) {
		mb_event(st, "modbus.too_many_connections", ZG_SEV_MEDIUM, s,
			 NULL, NULL,
			 "source already has %d connections (max %d): refused",
			 from_source, l->max_conns_per_source);
		evutil_closesocket(fd);
		free(s);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	{
		/* Requests and answers are small and latency-bound. */
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (l->tls != NULL) {
		s->tls = st->api->tls_accept(l->tls, fd, s->peer, &s->bev);
		if (s->tls == NULL) { /* fd is closed */
			mb_event(st, "tls.handshake_failed", ZG_SEV_LOW, s, NULL,
				 NULL, "cannot start a TLS session on %s", l->addr);
			free(s);
			return;
		}
		s->handshaking = true;
		s->fd = -1;
	} else {
		s->fd = fd;
		s->rd_ev = event_new(st->base, fd, EV_READ | EV_PERSIST,
				     session_readable, s);
		s->wr_ev = event_new(st->base, fd, EV_WRITE | EV_PERSIST,
				     session_writable, s);
		s->out = evbuffer_new();
		s->in = malloc(MB_INPUT_HIGHWATER);
	}
	s->frame_timer = evtimer_new(st->base, frame_timeout, s);
	s->idle_timer = evtimer_new(st->base, idle_timeout, s);
	s->resume_ev = evtimer_new(st->base, session_resume, s);
	if ((s->tls != NULL ? s->bev == NULL :
	     s->rd_ev == NULL || s->wr_ev == NULL || s->out == NULL ||
	     s->in == NULL) ||
	    s->frame_timer == NULL || s->idle_timer == NULL ||
	    s->resume_ev == NULL) {
		if (s->tls != NULL)
			st->api->tls_free(s->tls);
		else
			evutil_closesocket(fd);
		if (s->rd_ev)
			event_free(s->rd_ev);
		if (s->wr_ev)
			event_free(s->wr_ev);
		if (s->out)
			evbuffer_free(s->out);
		free(s->in);
		if (s->frame_timer)
			event_free(s->frame_timer);
		if (s->idle_timer)
			event_free(s->idle_timer);
		if (s->resume_ev)
			event_free(s->resume_ev);
		free(s);
		return;
	}
	if (s->tls != NULL) {
		/* Identity comes with the certificate (tls_established). */
	} else if (st->api->identify_addr(st->h, peer, peerlen, s->identity,
				   sizeof(s->identity)) == 0) {
		/* Legacy identity: the device bound to this source address. */
		s->assurance = ZG_ASSURANCE_ADDRESS;
	} else {
		s->identity[0] = '\0';
		s->assurance = ZG_ASSURANCE_NONE;
		mb_event(st, "modbus.unknown_peer", ZG_SEV_LOW, s, NULL, NULL,
			 "no device identity is bound to this source on %s: "
			 "every request will be denied", l->addr);
	}
	if (s->tls == NULL) {
		char key[MB_ID_MAX];

		/* Unidentified peers are accounted per connection, in a name
		 * space no certificate or device identity can share. */
		if (s->identity[0] == '\0')
			snprintf(key, sizeof(key), "\001peer:%s", s->peer);
		s->ident = ident_get(st, s->identity[0] ? s->identity : key,
				     l->burst);
		if (s->ident != NULL)
			s->ident->sessions++;
	}
	s->next = st->sessions;
	st->sessions = s;
	st->nsessions++;
	if (s->tls != NULL) {
		bufferevent_setcb(s->bev, session_read, session_write,
				  session_event, s);
		bufferevent_setwatermark(s->bev, EV_READ, 0, MB_INPUT_HIGHWATER);
		bufferevent_setwatermark(s->bev, EV_WRITE,
					 MB_OUTPUT_HIGHWATER / 4, 0);
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	} else {
		event_add(s->rd_ev, NULL);
	}
	if (l->idle_timeout > 0) {
		struct timeval tv = tv_of(l->idle_timeout);
		evtimer_add(s->idle_timer, &tv);
	}
	st->api->log_peer(st->h, ZG_LOG_INFO, s->peer,
			  "connected to %s as %s (%s)", l->addr,
			  s->tls ? "(TLS handshake)" :
			  s->identity[0] ? s->identity : "(unknown)",
			  s->tls ? "Modbus/TCP Security" :
			  s->assurance == ZG_ASSURANCE_ADDRESS
				  ? "address binding, low assurance"
				  : "no identity");
}
