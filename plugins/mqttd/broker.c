/*
 * broker.c: the MQTT broker of the mqttd plugin, on the host's event loop.
 *
 * A connection is framed from the byte stream with the pure codec
 * (codec.c); every PUBLISH and every SUBSCRIBE is decided by the host's
 * policy with the broker as target device, and every message handed to a
 * subscriber is decided again as that subscriber's SUBSCRIBE of the topic
 * name, so a policy change or a quarantine applies to live sessions at
 * once.  A malformed packet or a protocol violation closes the
 * connection (with an MQTT 5 DISCONNECT reason where the client speaks
 * 5.0) and raises an event; a denial keeps it up.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
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
#include "plugins/mqttd/mqttd.h"

/* Output queued for a client beyond which QoS 0 messages wait in the
 * session queue (a slow subscriber) instead of the socket buffer. */
#define MQD_OUT_HIGHWATER (256 * 1024)

static void conn_pump(struct mqd_conn *c);

/* ---------------------------------------------------------------- */
/* helpers */

static struct timeval
tv_of(double s)
{
	struct timeval tv;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

static void
mqd_event(struct mqd_state *st, const char *kind, int sev,
	  const struct mqd_conn *c, const struct zg_verdict *v,
	  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
mqd_event(struct mqd_state *st, const char *kind, int sev,
	  const struct mqd_conn *c, const struct zg_verdict *v,
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
	ev.peer = c ? c->peer : NULL;
	ev.identity = c && c->identity[0] ? c->identity : NULL;
	ev.target = st->broker;
	ev.verdict = v;
	ev.detail = detail;
	st->api->event(st->h, &ev);
}

/* Printable, bounded copy of peer-supplied text for logs and events. */
static const char *
show(const char *s, size_t n, char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 4 < len; i++)
		buf[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n && o + 4 <= len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ---------------------------------------------------------------- */
/* messages */

static struct mqd_msg *
msg_new(const char *topic, size_t tlen, const uint8_t *payload, size_t plen,
	const uint8_t *props, size_t props_len, uint8_t qos, bool retain,
	uint64_t from)
{
	struct mqd_msg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->topic = malloc(tlen + 1);
	m->payload = malloc(plen ? plen : 1);
	m->props = props_len ? malloc(props_len) : NULL;
	if (m->topic == NULL || m->payload == NULL ||
	    (props_len && m->props == NULL)) {
		free(m->topic);
		free(m->payload);
		free(m->props);
		free(m);
		return NULL;
	}
	memcpy(m->topic, topic, tlen);
	m->topic[tlen] = '\0';
	m->tlen = tlen;
	if (plen)
		memcpy(m->payload, payload, plen);
	m->plen = plen;
	if (props_len)
		m->props_len = mq_props_forwardable(props, props_len, m->props);
	m->qos = qos;
	m->retain = retain;
	m->from = from;
	m->refs = 1;
	return m;
}

static void
msg_unref(struct mqd_msg *m)
{
	if (m == NULL || --m->refs > 0)
		return;
	free(m->topic);
	free(m->payload);
	free(m->props);
	free(m);
}

/* ---------------------------------------------------------------- */
/* policy */

static int
decide(struct mqd_state *st, const char *identity, uint8_t assurance,
       uint8_t action, const char *topic, size_t tlen, uint8_t qos,
       bool retain, const char *client_id, const char *target,
       struct zg_verdict *v)
{
	struct zg_op op;

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MQTT;
	op.assurance = assurance;
	op.identity = identity && identity[0] ? identity : NULL;
	op.target = target;
	op.u.mqtt.action = action;
	op.u.mqtt.qos = qos;
	op.u.mqtt.retain = retain;
	op.u.mqtt.topic = topic;
	op.u.mqtt.topic_len = tlen;
	op.u.mqtt.client_id = client_id;
	return st->api->decide(st->h, &op, v);
}

/* ---------------------------------------------------------------- */
/* output */

static void
conn_write(struct mqd_conn *c, const void *p, size_t n)
{
	if (c->closing || c->bev == NULL)
		return;
	bufferevent_write(c->bev, p, n);
}

static void
send_ack(struct mqd_conn *c, uint8_t type, uint16_t pid, uint8_t reason)
{
	uint8_t b[8];
	int n = mq_enc_ack(b, sizeof(b), type, c->version, pid, reason);

	if (n > 0)
		conn_write(c, b, (size_t)n);
}

static bool
out_blocked(const struct mqd_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) >
	       MQD_OUT_HIGHWATER;
}

static uint16_t
alloc_pid(struct mqd_sess *s)
{
	for (;;) {
		const struct mqd_out *o;
		uint16_t pid = ++s->next_pid;

		if (pid == 0)
			continue;
		for (o = s->inflight; o != NULL; o = o->next)
			if (o->pid == pid)
				break;
		if (o == NULL)
			return pid;
	}
}

/*
 * Write one PUBLISH for o to the session's connection.  Returns -1 when
 * the message cannot be sent to this client at all (larger than its
 * Maximum Packet Size: dropped, as MQTT 5 requires).
 */
static int
send_publish(struct mqd_conn *c, const struct mqd_out *o, bool dup)
{
	struct mqd_state *st = c->st;
	const struct mqd_msg *m = o->msg;
	size_t need = mq_publish_size(c->version, o->qos, m->tlen, m->props_len,
				      o->sub_id, m->plen);
	int n;

	if (c->client_max_packet && need > c->client_max_packet)
		return -1;
	if (need > st->scratch_len) {
		uint8_t *b = realloc(st->scratch, need);

		if (b == NULL)
			return -1;
		st->scratch = b;
		st->scratch_len = need;
	}
	n = mq_enc_publish(st->scratch, st->scratch_len, c->version, o->qos,
			   o->retain, dup, m->topic, m->tlen, o->pid, m->props,
			   m->props_len, c->version == MQ_V5 ? o->sub_id : 0,
			   m->payload, m->plen);
	if (n < 0)
		return -1;
	conn_write(c, st->scratch, (size_t)n);
	st->n_delivered++;
	return 0;
}

static void
out_free(struct mqd_out *o)
{
	msg_unref(o->msg);
	free(o);
}

static void
queue_drop_head(struct mqd_sess *s)
{
	struct mqd_out *o = s->qhead;

	s->qhead = o->next;
	if (s->qhead == NULL)
		s->qtail = NULL;
	s->nqueued--;
	out_free(o);
}

/*
 * Hand message m to session s with the granted QoS.  Sent at once when
 * the client is connected, its in-flight window has room and its socket
 * is not backed up; queued otherwise (QoS 0 only while connected).  A
 * full queue drops by the configured policy and counts.
 */
static void
sess_deliver(struct mqd_sess *s, struct mqd_msg *m, uint8_t qos, bool retain,
	     uint32_t sub_id)
{
	struct mqd_state *st = s->st;
	struct mqd_conn *c = s->conn;
	struct mqd_out *o;

	if (c == NULL && qos == 0)
		return; /* offline: QoS 0 is not kept */
	if (s->nqueued >= st->max_queued) {
		s->dropped++;
		st->n_dropped++;
		if (s->dropped == 1 || s->dropped % 1000 == 0)
			mqd_event(st, "mqtt.queue_overflow", ZG_SEV_LOW, c, NULL,
				  "client %s: %d messages queued (max_queued %d): dropped %s, %llu dropped so far",
				  s->client_id, s->nqueued, st->max_queued,
				  st->drop == MQD_DROP_OLDEST ? "the oldest" : "the newest",
				  (unsigned long long)s->dropped);
		if (st->drop == MQD_DROP_NEWEST)
			return;
		queue_drop_head(s);
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return;
	o->msg = m;
	m->refs++;
	o->qos = qos;
	o->retain = retain;
	o->sub_id = sub_id;
	if (s->qtail)
		s->qtail->next = o;
	else
		s->qhead = o;
	s->qtail = o;
	s->nqueued++;
	/* Pump on every message, not only into an empty queue: a queue
	 * that grew while the socket was backed up must not wait for a
	 * write callback alone (measured: QoS 1 tails stuck in the queue). */
	if (c != NULL && c->connected)
		conn_pump(c);
}

/* Move queued messages to the client while its window and socket allow. */
static void
conn_pump(struct mqd_conn *c)
{
	struct mqd_sess *s = c->sess;

	if (s == NULL || c->closing || !c->connected)
		return;
	while (s->qhead != NULL) {
		if (out_blocked(c)) {
			c->no_linger = true;
			break;
		}
		struct mqd_out *o = s->qhead;

		if (o->qos > 0 && s->ninflight >= c->send_max)
			break;
		s->qhead = o->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
		s->nqueued--;
		o->next = NULL;
		if (o->qos > 0)
			o->pid = alloc_pid(s);
		if (send_publish(c, o, false) < 0 || o->qos == 0) {
			out_free(o);
			continue;
		}
		o->state = 1;
		/* Kept in sending order: a resumed session resends so. */
		{
			struct mqd_out **pp = &s->inflight;

			while (*pp != NULL)
				pp = &(*pp)->next;
			*pp = o;
		}
		s->ninflight++;
	}
}

/* ---------------------------------------------------------------- */
/* routing */

static void
emit_northbound(struct mqd_state *st, const struct mqd_sess *from,
		const struct mqd_msg *m);

/*
 * Route an allowed message to every session with a matching
 * subscription (once per session, at the highest granted QoS), each
 * delivery decided as the subscriber's SUBSCRIBE of the topic name.
 */
struct share_cand {
	struct mqd_sess *s;
	const struct mqd_sub *sub;
	bool done;
};

/* Deliver m to s if the policy lets s receive its topic now. */
static void
deliver_decided(struct mqd_state *st, struct mqd_sess *s, struct mqd_msg *m,
		uint8_t qos, bool retain, uint32_t sub_id)
{
	struct zg_verdict v;

	if (decide(st, s->identity, s->assurance, ZG_MQTT_SUBSCRIBE, m->topic,
		   m->tlen, 0, false, s->client_id, st->broker, &v) != ZG_ALLOW) {
		st->n_denied_delivery++;
		st->api->log(st->h, ZG_LOG_DEBUG, "not delivered to %s: %s",
			     s->client_id, v.reason);
		return;
	}
	sess_deliver(s, m, m->qos < qos ? m->qos : qos, retain, sub_id);
}

/*
 * Shared subscriptions ("$share/group/filter", MQTT 5): each message goes
 * to one member of each group, round robin over the connected members
 * (or over all of them when none is connected).
 */
static void
route_shared(struct mqd_state *st, struct mqd_msg *m, struct share_cand *c,
	     size_t n)
{
	size_t i, j, k, nconn, pick;

	for (i = 0; i < n; i++) {
		if (c[i].done)
			continue;
		nconn = 0;
		k = 0;
		for (j = i; j < n; j++) {
			if (c[j].done || c[j].sub->flen != c[i].sub->flen ||
			    memcmp(c[j].sub->filter, c[i].sub->filter,
				   c[i].sub->flen) != 0)
				continue;
			k++;
			if (c[j].s->conn != NULL)
				nconn++;
		}
		pick = st->share_rr++ % (nconn ? nconn : k);
		for (j = i; j < n; j++) {
			if (c[j].done || c[j].sub->flen != c[i].sub->flen ||
			    memcmp(c[j].sub->filter, c[i].sub->filter,
				   c[i].sub->flen) != 0)
				continue;
			c[j].done = true;
			if (nconn && c[j].s->conn == NULL)
				continue;
			if (pick-- == 0)
				deliver_decided(st, c[j].s, m, c[j].sub->qos, false,
						c[j].sub->sub_id);
		}
	}
}

/*
 * Route an allowed message to every session with a matching
 * subscription (once per session, at the highest granted QoS), each
 * delivery decided as the subscriber's SUBSCRIBE of the topic name.
 */
static void
route(struct mqd_state *st, struct mqd_msg *m)
{
	struct mqd_sess *s;
	struct share_cand *cand = NULL;
	size_t ncand = 0, capcand = 0;

	for (s = st->sessions; s != NULL; s = s->next) {
		const struct mqd_sub *sub, *best = NULL;
		bool rap = false;

		for (sub = s->subs; sub != NULL; sub = sub->next) {
			if (!mq_topic_match(sub->filter + sub->foff,
					    sub->flen - sub->foff, m->topic,
					    m->tlen))
				continue;
			if (sub->foff > 0) {
				if (ncand == capcand) {
					size_t nc = capcand ? 2 * capcand : 8;
					struct share_cand *x =
						realloc(cand, nc * sizeof(*x));

					if (x == NULL)
						continue;
					cand = x;
					capcand = nc;
				}
				cand[ncand].s = s;
				cand[ncand].sub = sub;
				cand[ncand].done = false;
				ncand++;
				continue;
			}
			if (sub->no_local && s->serial == m->from)
				continue;
			if (best == NULL || sub->qos > best->qos)
				best = sub;
			rap |= sub->rap;
		}
		if (best != NULL)
			deliver_decided(st, s, m, best->qos, rap && m->retain,
					best->sub_id);
	}
	if (ncand > 0)
		route_shared(st, m, cand, ncand);
	free(cand);
}

static void
retained_set(struct mqd_state *st, struct mqd_msg *m)
{
	struct mqd_retained **pp, *r;

	for (pp = &st->retained; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->msg->tlen == m->tlen &&
		    memcmp((*pp)->msg->topic, m->topic, m->tlen) == 0)
			break;
	}
	if (*pp != NULL) {
		r = *pp;
		if (m->plen == 0) { /* an empty retained message clears it */
			*pp = r->next;
			msg_unref(r->msg);
			free(r);
			st->nretained--;
			return;
		}
		msg_unref(r->msg);
		r->msg = m;
		m->refs++;
		return;
	}
	if (m->plen == 0)
		return;
	if (st->nretained >= st->max_retained) {
		st->api->log(st->h, ZG_LOG_WARN,
			     "retained store full (%d topics): not retaining %s",
			     st->nretained, m->topic);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return;
	r->msg = m;
	m->refs++;
	r->next = st->retained;
	st->retained = r;
	st->nretained++;
}

/*
 * An allowed PUBLISH (or will): retained store, local subscribers, and
 * the northbound path when the policy lets it leave.
 */
static void
publish_allowed(struct mqd_state *st, const struct mqd_sess *from,
		struct mqd_msg *m)
{
	st->n_published++;
	if (m->retain)
		retained_set(st, m);
	route(st, m);
	if (st->northbound[0] != '\0')
		emit_northbound(st, from, m);
}

/* ---------------------------------------------------------------- */
/* northbound */

static size_t
json_str(char *out, size_t cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n && o + 8 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20) {
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	return i < n ? (size_t)-1 : o;
}

static size_t
base64(char *out, size_t cap, const uint8_t *in, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	if (cap < (n + 2) / 3 * 4 + 1)
		return (size_t)-1;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 |
			     (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	return o;
}

/*
 * A message leaves the site when the policy allows its publisher to
 * PUBLISH the topic to the northbound device.  Bus topic: prefix +
 * MQTT topic; payload: a JSON object (docs/mqtt.md).
 */
static void
emit_northbound(struct mqd_state *st, const struct mqd_sess *from,
		const struct mqd_msg *m)
{
	struct zg_verdict v;
	char *buf, *bt;
	size_t cap, off, k;
	bool text;

	if (from == NULL ||
	    decide(st, from->identity, from->assurance, ZG_MQTT_PUBLISH,
		   m->topic, m->tlen, m->qos, m->retain, from->client_id,
		   st->northbound, &v) != ZG_ALLOW)
		return;
	text = mq_utf8_valid((const char *)m->payload, m->plen);
	cap = 256 + 6 * (m->tlen + strlen(from->identity) +
			 strlen(from->client_id)) +
	      (text ? 6 * m->plen : (m->plen + 2) / 3 * 4 + 1);
	buf = malloc(cap);
	bt = malloc(strlen(st->nb_prefix) + m->tlen + 1);
	if (buf == NULL || bt == NULL)
		goto out;
	off = (size_t)snprintf(buf, cap, "{\"topic\":\"");
	if ((k = json_str(buf + off, cap - off, m->topic, m->tlen)) == (size_t)-1)
		goto out;
	off += k;
	off += (size_t)snprintf(buf + off, cap - off, "\",\"identity\":\"");
	if ((k = json_str(buf + off, cap - off, from->identity,
			  strlen(from->identity))) == (size_t)-1)
		goto out;
	off += k;
	off += (size_t)snprintf(buf + off, cap - off, "\",\"client_id\":\"");
	if ((k = json_str(buf + off, cap - off, from->client_id,
			  strlen(from->client_id))) == (size_t)-1)
		goto out;
	off += k;
	off += (size_t)snprintf(buf + off, cap - off,
				"\",\"qos\":%u,\"retain\":%s,\"%s\":\"", m->qos,
				m->retain ? "true" : "false",
				text ? "payload" : "payload_base64");
	k = text ? json_str(buf + off, cap - off, (const char *)m->payload,
			    m->plen)
		 : base64(buf + off, cap - off, m->payload, m->plen);
	if (k == (size_t)-1 || off + k + 3 > cap)
		goto out;
	off += k;
	buf[off++] = '"';
	buf[off++] = '}';
	buf[off] = '\0';
	snprintf(bt, strlen(st->nb_prefix) + m->tlen + 1, "%s%s", st->nb_prefix,
		 m->topic);
	if (st->api->emit(st->h, bt, buf, off) == 0)
		st->n_northbound++;
out:
	free(buf);
	free(bt);
}

/* ---------------------------------------------------------------- */
/* sessions */

static void will_send(struct mqd_state *st, struct mqd_sess *s,
		      struct mqd_conn *c, struct mqd_msg *w);
static void will_due(evutil_socket_t fd, short what, void *arg);

static void
sess_free(struct mqd_sess *s)
{
	struct mqd_state *st = s->st;
	struct mqd_sess **pp;

	if (s->will_ev != NULL)
		event_free(s->will_ev);
	s->will_ev = NULL;
	if (s->will != NULL) { /* the session ends before the will delay */
		struct mqd_msg *w = s->will;

		s->will = NULL;
		if (!st->draining)
			will_send(st, s, NULL, w);
		else
			msg_unref(w);
	}
	for (pp = &st->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			st->nsessions--;
			break;
		}
	}
	while (s->subs != NULL) {
		struct mqd_sub *sub = s->subs;

		s->subs = sub->next;
		free(sub->filter);
		free(sub);
	}
	while (s->inflight != NULL) {
		struct mqd_out *o = s->inflight;

		s->inflight = o->next;
		out_free(o);
	}
	while (s->qhead != NULL)
		queue_drop_head(s);
	if (s->expire_ev != NULL)
		event_free(s->expire_ev);
	free(s->client_id);
	free(s->identity);
	free(s);
}

static void
sess_expire(evutil_socket_t fd, short what, void *arg)
{
	struct mqd_sess *s = arg;

	(void)fd;
	(void)what;
	s->st->api->log(s->st->h, ZG_LOG_INFO,
			"session %s of %s expired after %u s offline",
			s->client_id, s->identity, s->expiry);
	sess_free(s);
}

static struct mqd_sess *
sess_find(struct mqd_state *st, const char *cid, size_t len)
{
	struct mqd_sess *s;

	for (s = st->sessions; s != NULL; s = s->next)
		if (strlen(s->client_id) == len &&
		    memcmp(s->client_id, cid, len) == 0)
			return s;
	return NULL;
}

static struct mqd_sess *
sess_new(struct mqd_state *st, const char *cid, size_t len,
	 const struct mqd_conn *c)
{
	struct mqd_sess *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->st = st;
	s->serial = ++st->next_serial;
	s->client_id = malloc(len + 1);
	s->identity = strdup(c->identity);
	s->expire_ev = evtimer_new(st->base, sess_expire, s);
	s->will_ev = evtimer_new(st->base, will_due, s);
	if (s->client_id == NULL || s->identity == NULL || s->expire_ev == NULL ||
	    s->will_ev == NULL) {
		if (s->expire_ev)
			event_free(s->expire_ev);
		if (s->will_ev)
			event_free(s->will_ev);
		free(s->client_id);
		free(s->identity);
		free(s);
		return NULL;
	}
	memcpy(s->client_id, cid, len);
	s->client_id[len] = '\0';
	s->assurance = c->assurance;
	s->next = st->sessions;
	st->sessions = s;
	st->nsessions++;
	return s;
}

/* ---------------------------------------------------------------- */
/* connections */

/*
 * Publish a will now, decided as a PUBLISH of its publisher (the session's
 * identity) at this moment: a quarantine since the CONNECT applies.
 * Takes the reference w.
 */
static void
will_send(struct mqd_state *st, struct mqd_sess *s, struct mqd_conn *c,
	  struct mqd_msg *w)
{
	struct zg_verdict v;

	if (decide(st, s->identity, s->assurance, ZG_MQTT_PUBLISH, w->topic,
		   w->tlen, w->qos, w->retain, s->client_id, st->broker,
		   &v) != ZG_ALLOW) {
		st->n_denied_pub++;
		mqd_event(st, "mqtt.publish_denied", ZG_SEV_MEDIUM, c, &v,
			  "will message of client %s (%s) to %s: dropped",
			  s->client_id, s->identity, w->topic);
	} else {
		publish_allowed(st, s, w);
	}
	msg_unref(w);
}

static void
will_due(evutil_socket_t fd, short what, void *arg)
{
	struct mqd_sess *s = arg;
	struct mqd_msg *w = s->will;

	(void)fd;
	(void)what;
	s->will = NULL;
	if (w != NULL)
		will_send(s->st, s, NULL, w);
}

/*
 * The connection ended without a normal DISCONNECT: its will goes out,
 * at once or, with an MQTT 5 Will Delay Interval and a session that
 * outlives the connection, when the delay (or the session) ends, unless
 * the client resumes its session first.
 */
static void
publish_will(struct mqd_conn *c)
{
	struct mqd_state *st = c->st;
	struct mqd_sess *s = c->sess;
	struct mqd_msg *w = c->will;

	c->will = NULL;
	if (w == NULL || s == NULL)
		return;
	if (c->will_delay > 0 && s->expiry > 0 && s->will_ev != NULL) {
		struct timeval tv = tv_of((double)(c->will_delay < s->expiry
							   ? c->will_delay
							   : s->expiry));

		msg_unref(s->will);
		s->will = w;
		evtimer_add(s->will_ev, &tv);
		st->api->log_peer(st->h, ZG_LOG_INFO, c->peer,
				  "will of client %s delayed by %u s",
				  s->client_id, (unsigned)tv.tv_sec);
		return;
	}
	will_send(st, s, c, w);
}

/*
 * Close a connection.  reason (>= 0x80) is sent in an MQTT 5 DISCONNECT
 * first when the client speaks 5.0 and is connected; 0 sends nothing.
 * The will is published unless the client disconnected normally (the
 * caller cleared it).  A persistent session stays for its expiry.
 */
void
mqd_conn_close(struct mqd_conn *c, uint8_t reason, const char *why)
{
	struct mqd_state *st = c->st;
	struct mqd_conn **pp;
	struct mqd_sess *s = c->sess;
	int i;

	if (c->closing)
		return;
	if (reason != 0 && c->connected && c->version == MQ_V5) {
		uint8_t b[256];
		int n = mq_enc_disconnect(b, sizeof(b), reason,
					  c->request_problem ? why : NULL);

		if (n > 0)
			conn_write(c, b, (size_t)n);
	}
	c->closing = true;
	st->api->log_peer(st->h, ZG_LOG_INFO, c->peer, "connection closed: %s",
			  why);
	for (pp = &st->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			st->nconns--;
			break;
		}
	}
	publish_will(c);
	if (s != NULL && s->conn == c) {
		s->conn = NULL;
		if (s->expiry == 0) {
			sess_free(s);
		} else {
			struct timeval tv = tv_of((double)s->expiry);

			evtimer_add(s->expire_ev, &tv);
		}
	}
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->aliases != NULL) {
		for (i = 0; i < c->nalias; i++)
			free(c->aliases[i]);
		free(c->aliases);
	}
	free(c->q2);
	if (c->tls != NULL && c->no_linger) {
		/* A peer that is gone, or stopped reading, would hold a
		 * graceful close (flush, close_notify) until its timeout:
		 * abort at once. */
		st->api->tls_free(c->tls);
	} else if (c->tls != NULL) {
		st->api->tls_close(c->tls); /* flush, close_notify */
	} else if (c->bev != NULL) {
		/* A last CONNACK or DISCONNECT still queued: one
		 * non-blocking attempt to send it before closing. */
		struct evbuffer *out = bufferevent_get_output(c->bev);

		if (evbuffer_get_length(out) > 0)
			(void)evbuffer_write(out, bufferevent_getfd(c->bev));
		bufferevent_free(c->bev);
	}
	free(c);
}

/* A protocol violation: event, v5 DISCONNECT with the reason, close. */
static void
violation(struct mqd_conn *c, uint8_t reason, const char *what,
	  const char *why)
{
	mqd_event(c->st, reason == MQ_RC_PACKET_TOO_LARGE
				 ? "mqtt.packet_too_large"
				 : "mqtt.protocol_violation",
		  ZG_SEV_MEDIUM, c, NULL, "%s: %s (reason 0x%02x): closed", what,
		  why ? why : "?", reason);
	mqd_conn_close(c, reason, why ? why : what);
}

static void
keepalive_restart(struct mqd_conn *c)
{
	if (c->keepalive > 0) {
		struct timeval tv = tv_of(1.5 * c->keepalive);

		evtimer_add(c->timer, &tv);
	}
}

static void
conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct mqd_conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->connected) {
		mqd_event(c->st, "mqtt.connect_timeout", ZG_SEV_LOW, c, NULL,
			  "no CONNECT within %.1f s of the connection: closed",
			  c->st->connect_timeout);
		mqd_conn_close(c, 0, "CONNECT timeout");
		return;
	}
	mqd_event(c->st, "mqtt.keepalive_timeout", ZG_SEV_LOW, c, NULL,
		  "client %s sent nothing for 1.5 x %u s: closed",
		  c->sess ? c->sess->client_id : "?", c->keepalive);
	mqd_conn_close(c, MQ_RC_KEEPALIVE_TIMEOUT, "keep alive timeout");
}

static void
connack(struct mqd_conn *c, uint8_t version, uint8_t reason,
	bool present, const char *assigned, const char *rs)
{
	struct mqd_state *st = c->st;
	struct mq_connack_args a;
	uint8_t b[600];
	int n;

	memset(&a, 0, sizeof(a));
	a.version = version;
	a.reason = reason;
	a.session_present = present;
	if (version == MQ_V5 && reason == 0) {
		a.receive_max = (uint16_t)st->max_inflight;
		a.max_packet = st->max_packet;
		a.topic_alias_max = st->topic_alias_max;
		a.assigned_id = assigned;
		if (c->sess && c->sess->expiry_capped) {
			a.has_session_expiry = true;
			a.session_expiry = c->sess->expiry;
		}
	}
	if (version == MQ_V5)
		a.reason_string = rs;
	n = mq_enc_connack(b, sizeof(b), &a);
	if (n > 0)
		conn_write(c, b, (size_t)n);
}

/* Refuse a CONNECT: CONNACK with the reason, then close. */
static void
refuse(struct mqd_conn *c, uint8_t version, uint8_t reason, const char *why)
{
	connack(c, version, reason, false, NULL, why);
	mqd_conn_close(c, 0, why);
}

static int
handle_connect(struct mqd_conn *c, const struct mq_frame *f)
{
	struct mqd_state *st = c->st;
	struct mq_connect cn;
	struct mqd_sess *s;
	struct mqd_conn *o;
	const char *why;
	char idbuf[MQD_ID_MAX], shown[100];
	const char *cid;
	size_t clen;
	bool present = false, assigned = false;
	int rc, same;

	rc = mq_parse_connect(f->body, f->body_len, &cn, &why);
	c->version = cn.version ? cn.version : MQ_V311;
	if (rc != 0) {
		mqd_event(st, "mqtt.protocol_violation", ZG_SEV_MEDIUM, c, NULL,
			  "bad CONNECT: %s (reason 0x%02x): refused", why, rc);
		refuse(c, c->version, (uint8_t)rc, why);
		return -1;
	}
	if (c->identity[0] == '\0') {
		mqd_event(st, "mqtt.unknown_peer", ZG_SEV_MEDIUM, c, NULL,
			  "no identity (no certificate, no device bound to this source address): refused");
		refuse(c, cn.version, MQ_RC_NOT_AUTHORIZED, "no identity");
		return -1;
	}
	cid = cn.client_id.p;
	clen = cn.client_id.len;
	if (clen == 0) {
		/* 3.1.1 allows an empty id only with a clean session; the
		 * gateway assigns the identity (when the pattern admits it). */
		if (cn.version == MQ_V311 && !cn.clean) {
			refuse(c, cn.version, MQ_RC_CLIENT_ID_INVALID,
			       "empty client id needs a clean session");
			return -1;
		}
		snprintf(idbuf, sizeof(idbuf), "%s", c->identity);
		cid = idbuf;
		clen = strlen(idbuf);
		assigned = true;
	}
	if (clen >= MQD_ID_MAX ||
	    !mq_client_id_fits(st->client_id_pattern, cid, clen, c->identity)) {
		mqd_event(st, "mqtt.clientid_rejected", ZG_SEV_MEDIUM, c, NULL,
			  "client id \"%s\" does not fit the pattern \"%s\" for identity %s: refused",
			  show(cid, clen, shown, sizeof(shown)),
			  st->client_id_pattern, c->identity);
		refuse(c, cn.version, MQ_RC_CLIENT_ID_INVALID,
		       "client id not allowed for this identity");
		return -1;
	}
	s = sess_find(st, cid, clen);
	if (s != NULL && strcmp(s->identity, c->identity) != 0) {
		mqd_event(st, "mqtt.clientid_takeover", ZG_SEV_HIGH, c, NULL,
			  "client id \"%s\" belongs to a session of %s (%s): refused, no takeover",
			  show(cid, clen, shown, sizeof(shown)), s->identity,
			  s->conn ? "connected" : "offline");
		refuse(c, cn.version, MQ_RC_CLIENT_ID_INVALID,
		       "client id in use by another identity");
		return -1;
	}
	same = 0;
	for (o = st->conns; o != NULL; o = o->next)
		if (o != c && o->connected && strcmp(o->identity, c->identity) == 0 &&
		    !(s != NULL && s->conn == o))
			same++;
	if (same >= st->max_conns_per_identity) {
		mqd_event(st, "mqtt.too_many_connections", ZG_SEV_MEDIUM, c, NULL,
			  "identity %s already has %d connections (max_connections_per_identity %d): refused",
			  c->identity, same, st->max_conns_per_identity);
		refuse(c, cn.version, MQ_RC_QUOTA_EXCEEDED,
		       "too many connections for this identity");
		return -1;
	}
	if (s != NULL && s->conn != NULL) {
		/* Same identity: the new connection takes its session over. */
		struct mqd_conn *old = s->conn;

		st->api->log_peer(st->h, ZG_LOG_INFO, c->peer,
				  "client %s takes its session over from %s",
				  s->client_id, old->peer);
		mqd_conn_close(old, MQ_RC_SESSION_TAKEN_OVER, "session taken over");
		s = sess_find(st, cid, clen); /* freed if it had no expiry */
	}
	if (s != NULL && cn.clean) {
		sess_free(s);
		s = NULL;
	}
	if (s != NULL) {
		present = true;
		evtimer_del(s->expire_ev);
		if (s->will != NULL) { /* back before the will delay ended */
			evtimer_del(s->will_ev);
			msg_unref(s->will);
			s->will = NULL;
		}
		s->assurance = c->assurance;
	} else if ((s = sess_new(st, cid, clen, c)) == NULL) {
		refuse(c, cn.version, MQ_RC_SERVER_UNAVAILABLE, "out of memory");
		return -1;
	}
	/* Session expiry: 3.1.1 persistent sessions and MQTT 5 intervals
	 * are kept at most session_expiry_max seconds offline. */
	if (cn.version == MQ_V5)
		s->expiry = cn.props.session_expiry;
	else
		s->expiry = cn.clean ? 0 : st->session_expiry_max;
	s->expiry_capped = false;
	if (s->expiry > st->session_expiry_max) {
		s->expiry = st->session_expiry_max;
		s->expiry_capped = cn.version == MQ_V5;
	}
	s->conn = c;
	c->sess = s;
	c->connected = true;
	c->keepalive = cn.keepalive;
	c->request_problem = !(cn.props.present & MQ_P_REQ_PROBLEM) ||
			     cn.props.req_problem;
	c->send_max = (uint16_t)st->max_inflight;
	if (cn.version == MQ_V5) {
		if ((cn.props.present & MQ_P_RECEIVE_MAX) &&
		    cn.props.receive_max < c->send_max)
			c->send_max = cn.props.receive_max;
		c->client_max_packet = cn.props.max_packet;
	}
	if (cn.will) {
		c->will = msg_new(cn.will_topic.p, cn.will_topic.len,
				  cn.will_payload, cn.will_len,
				  cn.will_props.raw, cn.will_props.raw_len,
				  cn.will_qos, cn.will_retain, s->serial);
		c->will_delay = cn.will_props.will_delay;
	}
	evtimer_del(c->timer);
	keepalive_restart(c);
	connack(c, cn.version, 0, present, assigned ? s->client_id : NULL, NULL);
	st->api->log_peer(st->h, ZG_LOG_INFO, c->peer,
			  "MQTT %s client %s connected as %s (%s), %s session%s",
			  cn.version == MQ_V5 ? "5.0" : "3.1.1", s->client_id,
			  c->identity,
			  c->assurance == ZG_ASSURANCE_CERT ? "certificate"
							    : "address binding",
			  present ? "resumed" : "new",
			  s->expiry ? "" : " (ends with the connection)");
	if (present) {
		struct mqd_out *io;

		/* Resend what was in flight, in order of sending. */
		for (io = s->inflight; io != NULL; io = io->next) {
			if (io->state == 1)
				(void)send_publish(c, io, true);
			else
				send_ack(c, MQ_PUBREL, io->pid, 0);
		}
	}
	conn_pump(c);
	return 0;
}

static const char *
alias_topic(struct mqd_conn *c, const struct mq_publish *p, size_t *tlen,
	    uint8_t *reason)
{
	struct mqd_state *st = c->st;
	uint16_t a = p->props.topic_alias;

	*reason = 0;
	if (!(p->props.present & MQ_P_TOPIC_ALIAS)) {
		*tlen = p->topic.len;
		return p->topic.p;
	}
	if (c->aliases == NULL && st->topic_alias_max > 0) {
		c->aliases = calloc(st->topic_alias_max, sizeof(char *));
		if (c->aliases == NULL) {
			*reason = MQ_RC_IMPL_SPECIFIC;
			return NULL;
		}
		c->nalias = st->topic_alias_max;
	}
	if (a == 0 || a > c->nalias) {
		*reason = MQ_RC_TOPIC_ALIAS_INVALID;
		return NULL;
	}
	if (p->topic.len > 0) {
		char *t = malloc(p->topic.len + 1);

		if (t == NULL) {
			*reason = MQ_RC_IMPL_SPECIFIC;
			return NULL;
		}
		memcpy(t, p->topic.p, p->topic.len);
		t[p->topic.len] = '\0';
		free(c->aliases[a - 1]);
		c->aliases[a - 1] = t;
		*tlen = p->topic.len;
		return p->topic.p;
	}
	if (c->aliases[a - 1] == NULL) {
		*reason = MQ_RC_PROTOCOL_ERROR;
		return NULL;
	}
	*tlen = strlen(c->aliases[a - 1]);
	return c->aliases[a - 1];
}

static bool
q2_has(const struct mqd_conn *c, uint16_t pid)
{
	int i;

	for (i = 0; i < c->nq2; i++)
		if (c->q2[i] == pid)
			return true;
	return false;
}

static void
q2_del(struct mqd_conn *c, uint16_t pid)
{
	int i;

	for (i = 0; i < c->nq2; i++) {
		if (c->q2[i] == pid) {
			c->q2[i] = c->q2[--c->nq2];
			return;
		}
	}
}

static int
handle_publish(struct mqd_conn *c, const struct mq_frame *f)
{
	struct mqd_state *st = c->st;
	struct mqd_sess *s = c->sess;
	struct mq_publish p;
	struct zg_verdict v;
	struct mqd_msg *m;
	const char *why, *topic;
	char shown[100];
	size_t tlen;
	uint8_t reason;
	int rc;

	rc = mq_parse_publish(f->body, f->body_len, f->flags, c->version, &p,
			      &why);
	if (rc != 0) {
		violation(c, (uint8_t)rc, "bad PUBLISH", why);
		return -1;
	}
	c->requests++;
	topic = alias_topic(c, &p, &tlen, &reason);
	if (topic == NULL) {
		violation(c, reason, "bad PUBLISH", "unknown or invalid topic alias");
		return -1;
	}
	if (p.qos == 2 && q2_has(c, p.pid)) {
		/* A resend of a QoS 2 message we hold: acknowledge again,
		 * never deliver twice. */
		send_ack(c, MQ_PUBREC, p.pid, 0);
		return 0;
	}
	if (p.qos == 2 && c->nq2 >= c->q2cap) {
		violation(c, MQ_RC_RECEIVE_MAX_EXCEEDED, "PUBLISH",
			  "more QoS 2 messages in flight than Receive Maximum");
		return -1;
	}
	if (decide(st, c->identity, c->assurance, ZG_MQTT_PUBLISH, topic, tlen,
		   p.qos, p.retain, s->client_id, st->broker, &v) != ZG_ALLOW) {
		st->n_denied_pub++;
		c->denials++;
		mqd_event(st, "mqtt.publish_denied", ZG_SEV_MEDIUM, c, &v,
			  "PUBLISH QoS %u%s to %s by client %s: %s", p.qos,
			  p.retain ? " retained" : "",
			  show(topic, tlen, shown, sizeof(shown)), s->client_id,
			  c->version == MQ_V5 && p.qos > 0
				  ? "answered 0x87 not authorized"
				  : "dropped");
		if (c->version != MQ_V5 && st->disconnect_on_denial) {
			mqd_conn_close(c, 0, "PUBLISH denied (disconnect_on_denial)");
			return -1;
		}
		/* 3.1.1 has no failure code: the flow completes normally
		 * (else the client would resend forever) and the message is
		 * dropped.  MQTT 5 says 0x87 and ends the QoS 2 flow. */
		if (p.qos == 1)
			send_ack(c, MQ_PUBACK, p.pid,
				 c->version == MQ_V5 ? MQ_RC_NOT_AUTHORIZED : 0);
		else if (p.qos == 2 && c->version == MQ_V5)
			send_ack(c, MQ_PUBREC, p.pid, MQ_RC_NOT_AUTHORIZED);
		else if (p.qos == 2) {
			c->q2[c->nq2++] = p.pid;
			send_ack(c, MQ_PUBREC, p.pid, 0);
		}
		return 0;
	}
	m = msg_new(topic, tlen, p.payload, p.payload_len, p.props.raw,
		    p.props.raw_len, p.qos, p.retain, s->serial);
	if (m == NULL) {
		mqd_conn_close(c, MQ_RC_IMPL_SPECIFIC, "out of memory");
		return -1;
	}
	publish_allowed(st, s, m);
	msg_unref(m);
	if (p.qos == 1) {
		send_ack(c, MQ_PUBACK, p.pid, 0);
	} else if (p.qos == 2) {
		c->q2[c->nq2++] = p.pid;
		send_ack(c, MQ_PUBREC, p.pid, 0);
	}
	return 0;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP from the client. */
static int
handle_ack(struct mqd_conn *c, const struct mq_frame *f)
{
	struct mqd_sess *s = c->sess;
	struct mqd_out **pp, *o;
	struct mq_ack a;
	const char *why;
	int rc;

	rc = mq_parse_ack(f->body, f->body_len, f->type, f->flags, c->version,
			  &a, &why);
	if (rc != 0) {
		violation(c, (uint8_t)rc, mq_type_name(f->type), why);
		return -1;
	}
	if (f->type == MQ_PUBREL) {
		bool had = q2_has(c, a.pid);

		q2_del(c, a.pid);
		send_ack(c, MQ_PUBCOMP, a.pid,
			 had ? 0 : MQ_RC_PACKET_ID_NOT_FOUND);
		return 0;
	}
	for (pp = &s->inflight; (o = *pp) != NULL; pp = &o->next)
		if (o->pid == a.pid)
			break;
	if (o == NULL)
		return 0; /* unknown id: nothing to do (spec: ignore) */
	if ((f->type == MQ_PUBACK && o->qos != 1) ||
	    (f->type == MQ_PUBREC && (o->qos != 2 || o->state != 1)) ||
	    (f->type == MQ_PUBCOMP && (o->qos != 2 || o->state != 2))) {
		violation(c, MQ_RC_PROTOCOL_ERROR, mq_type_name(f->type),
			  "acknowledgement does not fit the QoS flow");
		return -1;
	}
	if (f->type == MQ_PUBREC && a.reason < 0x80) {
		o->state = 2;
		send_ack(c, MQ_PUBREL, o->pid, 0);
		return 0;
	}
	*pp = o->next;
	s->ninflight--;
	out_free(o);
	conn_pump(c);
	return 0;
}

/* Filters naming everything or the broker's $SYS tree: a detection. */
static bool
broad_filter(const char *f, size_t n)
{
	return (n == 1 && f[0] == '#') || (n == 3 && memcmp(f, "+/#", 3) == 0) ||
	       (n >= 5 && memcmp(f, "$SYS/", 5) == 0 &&
		(memchr(f, '#', n) != NULL || memchr(f, '+', n) != NULL));
}

static void
sub_add(struct mqd_sess *s, const struct mq_sub_entry *e, size_t foff,
	uint32_t sub_id, bool *existed)
{
	struct mqd_sub *sub;

	*existed = false;
	for (sub = s->subs; sub != NULL; sub = sub->next)
		if (sub->flen == e->filter.len &&
		    memcmp(sub->filter, e->filter.p, sub->flen) == 0)
			break;
	if (sub == NULL) {
		sub = calloc(1, sizeof(*sub));
		if (sub == NULL)
			return;
		sub->filter = malloc(e->filter.len + 1);
		if (sub->filter == NULL) {
			free(sub);
			return;
		}
		memcpy(sub->filter, e->filter.p, e->filter.len);
		sub->filter[e->filter.len] = '\0';
		sub->flen = e->filter.len;
		sub->foff = foff;
		sub->next = s->subs;
		s->subs = sub;
	} else {
		*existed = true;
	}
	sub->qos = e->qos;
	sub->no_local = e->no_local;
	sub->rap = e->retain_as_published;
	sub->sub_id = sub_id;
}

static int
handle_subscribe(struct mqd_conn *c, const struct mq_frame *f)
{
	struct mqd_state *st = c->st;
	struct mqd_sess *s = c->sess;
	struct mq_subscribe sb;
	uint8_t codes[MQ_SUB_MAX];
	uint8_t b[MQ_SUB_MAX + 16];
	const char *why;
	char shown[100];
	size_t foff;
	unsigned i;
	int rc, n;

	rc = mq_parse_subscribe(f->body, f->body_len, f->flags, c->version,
				&sb, &why);
	if (rc != 0) {
		violation(c, (uint8_t)rc, "bad SUBSCRIBE", why);
		return -1;
	}
	c->requests += sb.n;
	for (i = 0; i < sb.n; i++) {
		const struct mq_sub_entry *e = &sb.e[i];
		const struct mqd_retained *r;
		struct zg_verdict v;
		bool existed;

		show(e->filter.p, e->filter.len, shown, sizeof(shown));
		if (!mq_topic_filter_valid(e->filter.p, e->filter.len)) {
			codes[i] = c->version == MQ_V5 ? MQ_RC_TOPIC_FILTER_INVALID
						       : 0x80;
			mqd_event(st, "mqtt.protocol_violation", ZG_SEV_LOW, c,
				  NULL, "SUBSCRIBE to malformed filter %s: refused",
				  shown);
			continue;
		}
		foff = 0;
		if (c->version == MQ_V5 && e->filter.len >= 7 &&
		    memcmp(e->filter.p, "$share/", 7) == 0) {
			/* $share/{group}/{filter}: the group is one whole
			 * level without wildcards, the filter not empty;
			 * No Local is a protocol error there. */
			const char *g = e->filter.p + 7;
			const char *sl = memchr(g, '/', e->filter.len - 7);

			if (sl == NULL || sl == g || memchr(g, '+', (size_t)(sl - g)) ||
			    memchr(g, '#', (size_t)(sl - g)) ||
			    (size_t)(sl - e->filter.p) + 1 >= e->filter.len) {
				codes[i] = MQ_RC_TOPIC_FILTER_INVALID;
				continue;
			}
			if (e->no_local) {
				violation(c, MQ_RC_PROTOCOL_ERROR, "SUBSCRIBE",
					  "No Local on a shared subscription");
				return -1;
			}
			foff = (size_t)(sl - e->filter.p) + 1;
		}
		if (decide(st, c->identity, c->assurance, ZG_MQTT_SUBSCRIBE,
			   e->filter.p + foff, e->filter.len - foff, e->qos,
			   false, s->client_id, st->broker, &v) != ZG_ALLOW) {
			bool broad = broad_filter(e->filter.p + foff,
						  e->filter.len - foff);

			st->n_denied_sub++;
			c->denials++;
			codes[i] = c->version == MQ_V5 ? MQ_RC_NOT_AUTHORIZED : 0x80;
			mqd_event(st,
				  broad ? "mqtt.wildcard_subscribe"
					: "mqtt.subscribe_denied",
				  broad ? ZG_SEV_HIGH : ZG_SEV_MEDIUM, c, &v,
				  "SUBSCRIBE to %s by client %s: refused%s", shown,
				  s->client_id,
				  broad ? " (subscription to everything)" : "");
			continue;
		}
		codes[i] = e->qos;
		sub_add(s, e, foff, sb.props.sub_id, &existed);
		/* Retained messages are not sent for shared subscriptions. */
		if (foff > 0 || e->retain_handling == 2 ||
		    (e->retain_handling == 1 && existed))
			continue;
		for (r = st->retained; r != NULL; r = r->next)
			if (mq_topic_match(e->filter.p, e->filter.len,
					   r->msg->topic, r->msg->tlen))
				sess_deliver(s, r->msg,
					     r->msg->qos < e->qos ? r->msg->qos
								  : e->qos,
					     true, sb.props.sub_id);
	}
	n = mq_enc_suback(b, sizeof(b), MQ_SUBACK, c->version, sb.pid, codes,
			  sb.n);
	if (n > 0)
		conn_write(c, b, (size_t)n);
	/* SUBACK goes before the retained messages it released. */
	conn_pump(c);
	return 0;
}

static int
handle_unsubscribe(struct mqd_conn *c, const struct mq_frame *f)
{
	struct mqd_sess *s = c->sess;
	struct mq_subscribe sb;
	uint8_t codes[MQ_SUB_MAX], b[MQ_SUB_MAX + 16];
	const char *why;
	unsigned i;
	int rc, n;

	rc = mq_parse_unsubscribe(f->body, f->body_len, f->flags, c->version,
				  &sb, &why);
	if (rc != 0) {
		violation(c, (uint8_t)rc, "bad UNSUBSCRIBE", why);
		return -1;
	}
	c->requests += sb.n;
	for (i = 0; i < sb.n; i++) {
		struct mqd_sub **pp, *sub;

		codes[i] = MQ_RC_NO_SUBSCRIPTION_EXISTED;
		for (pp = &s->subs; (sub = *pp) != NULL; pp = &sub->next) {
			if (sub->flen == sb.e[i].filter.len &&
			    memcmp(sub->filter, sb.e[i].filter.p, sub->flen) == 0) {
				*pp = sub->next;
				free(sub->filter);
				free(sub);
				codes[i] = 0;
				break;
			}
		}
	}
	n = mq_enc_suback(b, sizeof(b), MQ_UNSUBACK, c->version, sb.pid, codes,
			  sb.n);
	if (n > 0)
		conn_write(c, b, (size_t)n);
	return 0;
}

static int
handle_disconnect(struct mqd_conn *c, const struct mq_frame *f)
{
	struct mqd_state *st = c->st;
	struct mq_disconnect d;
	const char *why;
	int rc;

	rc = mq_parse_disconnect(f->body, f->body_len, f->flags, c->version,
				 &d, &why);
	if (rc != 0) {
		violation(c, (uint8_t)rc, "bad DISCONNECT", why);
		return -1;
	}
	if (d.props.present & MQ_P_SESSION_EXPIRY) {
		if (c->sess->expiry == 0 && d.props.session_expiry != 0) {
			violation(c, MQ_RC_PROTOCOL_ERROR, "DISCONNECT",
				  "session expiry set after connecting with 0");
			return -1;
		}
		c->sess->expiry = d.props.session_expiry < st->session_expiry_max
					  ? d.props.session_expiry
					  : st->session_expiry_max;
	}
	if (d.reason != MQ_RC_DISCONNECT_WITH_WILL) {
		msg_unref(c->will);
		c->will = NULL;
	}
	c->no_linger = true; /* the client closes: nothing left to say */
	mqd_conn_close(c, 0, "client disconnected");
	return -1;
}

/* One framed packet.  Returns -1 when the connection was closed. */
static int
handle_packet(struct mqd_conn *c, const struct mq_frame *f)
{
	const char *why;
	uint8_t b[4];
	int n;

	if (!c->connected) {
		if (f->type != MQ_CONNECT) {
			violation(c, MQ_RC_PROTOCOL_ERROR, mq_type_name(f->type),
				  "first packet is not CONNECT");
			return -1;
		}
		return handle_connect(c, f);
	}
	keepalive_restart(c);
	switch (f->type) {
	case MQ_PUBLISH:
		return handle_publish(c, f);
	case MQ_PUBACK:
	case MQ_PUBREC:
	case MQ_PUBREL:
	case MQ_PUBCOMP:
		return handle_ack(c, f);
	case MQ_SUBSCRIBE:
		return handle_subscribe(c, f);
	case MQ_UNSUBSCRIBE:
		return handle_unsubscribe(c, f);
	case MQ_PINGREQ:
		if (mq_parse_empty(f->body_len, f->flags, &why) != 0) {
			violation(c, MQ_RC_MALFORMED, "bad PINGREQ", why);
			return -1;
		}
		n = mq_enc_pingresp(b, sizeof(b));
		conn_write(c, b, (size_t)n);
		return 0;
	case MQ_DISCONNECT:
		return handle_disconnect(c, f);
	case MQ_AUTH:
		violation(c, MQ_RC_PROTOCOL_ERROR, "AUTH",
			  "enhanced authentication is not supported");
		return -1;
	default:
		violation(c, MQ_RC_PROTOCOL_ERROR, mq_type_name(f->type),
			  "a server-to-client packet (or a second CONNECT) from the client");
		return -1;
	}
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct mqd_conn *c = arg;
	struct mqd_state *st = c->st;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;

	while (!c->closing && (len = evbuffer_get_length(in)) > 0) {
		struct mq_frame f;
		enum mq_status rc;
		const uint8_t *data;
		size_t want;

		/* Look at the fixed header first, then the whole packet. */
		want = len < 5 ? len : 5;
		data = evbuffer_pullup(in, (ssize_t)want);
		rc = mq_frame(data, want, st->max_packet, &f);
		if (rc == MQ_NEED_MORE && want == len)
			break;
		if (rc == MQ_NEED_MORE || rc == MQ_OK) {
			size_t total = rc == MQ_OK ? f.consumed : want + f.needed;

			if (len < total)
				break;
			data = evbuffer_pullup(in, (ssize_t)total);
			rc = mq_frame(data, total, st->max_packet, &f);
		}
		if (rc != MQ_OK) {
			violation(c, rc == MQ_ERR_TOO_LARGE ? MQ_RC_PACKET_TOO_LARGE
							   : MQ_RC_MALFORMED,
				  "framing", mq_status_str(rc));
			return;
		}
		if (handle_packet(c, &f) < 0)
			return;
		evbuffer_drain(in, f.consumed);
	}
}

/* Output drained below the low watermark: queued messages may go. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct mqd_conn *c = arg;

	(void)bev;
	if (c->sess != NULL && c->sess->qhead != NULL)
		conn_pump(c);
}

static int
tls_established(struct mqd_conn *c)
{
	struct mqd_state *st = c->st;
	struct zg_peer_cert pc;

	c->handshaking = false;
	if (st->api->tls_peer(c->tls, &pc) < 0 || pc.identity == NULL) {
		mqd_event(st, "tls.no_identity", ZG_SEV_MEDIUM, c, NULL,
			  "client certificate %s (issuer %s) has no usable identity: refused",
			  pc.subject ? pc.subject : "?",
			  pc.issuer ? pc.issuer : "?");
		mqd_conn_close(c, 0, "certificate without identity");
		return -1;
	}
	snprintf(c->identity, sizeof(c->identity), "%s", pc.identity);
	c->assurance = ZG_ASSURANCE_CERT;
	st->api->log_peer(st->h, ZG_LOG_DEBUG, c->peer,
			  "TLS %s %s: identity %s (%s), serial %s",
			  pc.version ? pc.version : "?",
			  pc.cipher ? pc.cipher : "?", c->identity, pc.source,
			  pc.serial ? pc.serial : "?");
	return 0;
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct mqd_conn *c = arg;

	(void)bev;
	if ((what & BEV_EVENT_CONNECTED) && c->tls != NULL) {
		tls_established(c);
		return;
	}
	if (c->handshaking && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
		const char *kind = c->st->api->tls_fail_kind(c->tls);
		bool hostile = strcmp(kind, "verify") == 0 ||
			       strcmp(kind, "no_peer_cert") == 0 ||
			       strcmp(kind, "protocol") == 0;

		mqd_event(c->st, "tls.handshake_failed",
			  hostile ? ZG_SEV_MEDIUM : ZG_SEV_LOW, c, NULL,
			  "TLS handshake on %s failed (%s): %s", c->lst->addr,
			  kind, c->st->api->tls_error(c->tls));
		mqd_conn_close(c, 0, "TLS handshake failed");
		return;
	}
	c->no_linger = true; /* the peer is gone */
	if (what & BEV_EVENT_EOF)
		mqd_conn_close(c, 0, "client closed the connection");
	else if (what & BEV_EVENT_ERROR)
		mqd_conn_close(c, 0, evutil_socket_error_to_string(
					     EVUTIL_SOCKET_ERROR()));
}

void
mqd_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
	struct mqd_listener *l = arg;
	struct mqd_state *st = l->st;
	struct mqd_conn *c, *o;
	int from_source = 0;
	struct timeval tv;

	if (st->draining ||
	    peerlen > (socklen_t)sizeof(struct sockaddr_storage)) {
		evutil_closesocket(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->st = st;
	c->lst = l;
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	memcpy(&c->peer_sa, peer, peerlen);
	netaddr_format(peer, c->peer, sizeof(c->peer));
	for (o = st->conns; o != NULL; o = o->next)
		if (o->lst == l && netaddr_same_host(&o->peer_sa, &c->peer_sa))
			from_source++;
	if (from_source >= l->max_conns_per_source) {
		mqd_event(st, "mqtt.too_many_connections", ZG_SEV_MEDIUM, c,
			  NULL,
			  "source already has %d connections to %s (max_connections_per_source %d): refused",
			  from_source, l->addr, l->max_conns_per_source);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	{
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c->q2 = calloc((size_t)st->max_inflight, sizeof(*c->q2));
	c->q2cap = st->max_inflight;
	c->timer = evtimer_new(st->base, conn_timer, c);
	if (c->q2 == NULL || c->timer == NULL) {
		evutil_closesocket(fd);
		goto fail;
	}
	if (l->tls != NULL) {
		c->tls = st->api->tls_accept(l->tls, fd, c->peer, &c->bev);
		if (c->tls == NULL) { /* fd is closed */
			mqd_event(st, "tls.handshake_failed", ZG_SEV_LOW, c, NULL,
				  "cannot start a TLS session on %s", l->addr);
			goto fail;
		}
		c->handshaking = true;
		/* One MQTT packet per TLS record, as mosquitto sends them:
		 * libmosquitto reads the next packet of a record only if
		 * its socket becomes readable again, so packets sharing a
		 * record with an earlier one could wait there for the next
		 * record (measured: the last messages of a QoS 1 stream
		 * stuck in a subscriber until its keepalive). */
		st->api->tls_record_units(c->tls, mq_packet_len);
	} else {
		c->bev = bufferevent_socket_new(st->base, fd,
						BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL) {
			evutil_closesocket(fd);
			goto fail;
		}
		if (st->api->identify_addr(st->h, peer, peerlen, c->identity,
					   sizeof(c->identity)) == 0)
			c->assurance = ZG_ASSURANCE_ADDRESS;
		else
			c->identity[0] = '\0';
	}
	c->next = st->conns;
	st->conns = c;
	st->nconns++;
	bufferevent_setcb(c->bev, conn_read, conn_write_cb, conn_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * (size_t)st->max_packet);
	bufferevent_setwatermark(c->bev, EV_WRITE, MQD_OUT_HIGHWATER / 2, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	tv = tv_of(st->connect_timeout);
	evtimer_add(c->timer, &tv);
	st->api->log_peer(st->h, ZG_LOG_DEBUG, c->peer, "connected to %s%s", l->addr,
			  l->tls ? " (TLS)" : "");
	return;
fail:
	if (c->timer)
		event_free(c->timer);
	free(c->q2);
	free(c);
}

void
mqd_state_clear(struct mqd_state *st)
{
	while (st->conns != NULL) {
		msg_unref(st->conns->will);
		st->conns->will = NULL;
		/* The loop may not turn again: no graceful close. */
		st->conns->no_linger = true;
		mqd_conn_close(st->conns, MQ_RC_SHUTTING_DOWN,
			       "broker stopping");
	}
	while (st->sessions != NULL)
		sess_free(st->sessions);
	while (st->retained != NULL) {
		struct mqd_retained *r = st->retained;

		st->retained = r->next;
		msg_unref(r->msg);
		free(r);
	}
	st->nretained = 0;
	while (st->listeners != NULL) {
		struct mqd_listener *l = st->listeners;

		st->listeners = l->next;
		if (l->zl != NULL)
			st->api->listener_free(l->zl);
		if (l->tls != NULL)
			st->api->tls_ctx_free(l->tls);
		free(l);
	}
	free(st->scratch);
	st->scratch = NULL;
	st->scratch_len = 0;
}

/*
 * Live state for the operator (zonegatectl sessions, metrics): one entry
 * per connection; "outstanding" counts the messages on their way to the
 * client (in flight and queued in its session).
 */
void
mqd_status(void *state, const struct zg_status_out *out)
{
	const struct mqd_state *st = state;
	const struct mqd_conn *c;
	struct timespec now;

	if (out->session == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (c = st->conns; c != NULL; c = c->next) {
		struct zg_session_info si;

		memset(&si, 0, sizeof(si));
		si.peer = c->peer;
		si.identity = c->identity[0] ? c->identity : NULL;
		si.assurance = c->assurance;
		si.listener = c->lst ? c->lst->addr : NULL;
		si.transport = c->tls == NULL ? "tcp"
			       : c->handshaking ? "tls-handshake" : "tls";
		si.age = (double)(now.tv_sec - c->started.tv_sec) +
			 (double)(now.tv_nsec - c->started.tv_nsec) / 1e9;
		si.requests = c->requests;
		si.denials = c->denials;
		if (c->sess != NULL && c->sess->conn == c)
			si.outstanding = (unsigned)(c->sess->ninflight +
						    c->sess->nqueued);
		out->session(out->arg, &si);
	}
}
