/*
 * device.c: the proxy's side towards devices.
 *
 * Many PLCs accept one or two TCP connections, so every device has a small
 * pool of connections shared by all clients.  A request gets a fresh
 * transaction id on the device connection (the client's id is restored on
 * the way back); responses are matched on (transaction id, unit id) and
 * validated against the request before a client sees them.  A bounded
 * queue holds requests while every connection is busy; every request has
 * a deadline that covers queueing and the device's answer, after which the
 * client gets exception 0x0B.  A dead device is reconnected with
 * exponential backoff and never delays traffic to other devices.
 *
 * A serial device (serial = { ... }) has no connections: its requests go
 * to the worker of its serial line (rtu.c), with the same deadline.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "plugins/modbus/mbproxy.h"

#define MB_TIMEOUTS_BEFORE_RECONNECT 3

static void conn_connect(struct mb_conn *c);
static void dispatch(struct mb_device *d);
static void dead_forget(struct mb_conn *c, uint16_t tid);
static void conn_close(struct mb_conn *c);

void
mb_pending_free(struct mb_pending *p)
{
	if (p->job != NULL)
		rtu_pending_detach(p); /* a serial job must not keep p */
	if (p->timer != NULL)
		event_free(p->timer);
	free(p);
}

static void queue_remove(struct mb_device *d, struct mb_pending *p);

/*
 * The client of p has gone.  A request still waiting in a device's queue
 * (a TCP device's, or a serial line's) is dropped: nobody waits for its
 * answer, and letting it run would let a client queue writes, leave, and
 * have them executed later beyond its max_outstanding.  One already on
 * the wire (or on the serial line) completes without a client.
 */
void
mb_pending_orphan(struct mb_pending *p)
{
	p->sess = NULL;
	if (p->dev == NULL)
		return;
	if (p->dev->line != NULL) {
		if (rtu_pending_cancel(p))
			mb_pending_free(p);
	} else if (p->conn == NULL) {
		queue_remove(p->dev, p);
		mb_pending_free(p);
	}
}

/* Unlink p from the device queue. */
static void
queue_remove(struct mb_device *d, struct mb_pending *p)
{
	struct mb_pending **pp;

	for (pp = &d->qhead; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			if (d->qtail == p) {
				struct mb_pending *q = d->qhead;

				while (q != NULL && q->next != NULL)
					q = q->next;
				d->qtail = q;
			}
			d->qlen--;
			p->next = NULL;
			return;
		}
	}
}

/* Unlink p from its connection's list of requests on the wire. */
static void
sent_remove(struct mb_conn *c, struct mb_pending *p)
{
	struct mb_pending **pp;

	for (pp = &c->sent; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			c->inflight--;
			p->next = NULL;
			p->conn = NULL;
			return;
		}
	}
}

/*
 * The request's deadline passed: in the queue (no connection came free)
 * or on the wire (the device did not answer).  The client gets 0x0B.
 * A device that misses several answers in a row gets a new connection:
 * its stream may be wedged.
 */
static void
pending_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mb_pending *p = arg;
	struct mb_device *d = p->dev;
	struct mb_conn *c = p->conn;
	bool dead_full = false;
	char desc[160];

	(void)fd;
	(void)what;
	if (d->line != NULL) {
		rtu_pending_timeout(p);
		return;
	}
	d->timeouts++;
	mb_describe(&p->req, desc, sizeof(desc));
	if (c != NULL) {
		sent_remove(c, p);
		c->consecutive_timeouts++;
		if (c->ndead < MB_DEAD_TIDS)
			c->dead_tid[c->ndead++] = p->dev_tid;
		else
			dead_full = true; /* reconnect below */
	} else {
		queue_remove(d, p);
	}
	mb_event(d->st, "modbus.device_timeout", ZG_SEV_LOW, p->sess,
		 d->identity, NULL,
		 "device %s (%s) did not answer %s within %.3fs%s",
		 d->identity, d->addr_str, desc, d->request_timeout,
		 c ? "" : " (no connection free)");
	mb_complete_exception(p, MB_EX_GATEWAY_TARGET_NO_RESPONSE);
	if (c != NULL && c->state == MBC_UP &&
	    (c->consecutive_timeouts >= MB_TIMEOUTS_BEFORE_RECONNECT ||
	     dead_full)) {
		if (c->consecutive_timeouts >= MB_TIMEOUTS_BEFORE_RECONNECT)
			d->st->api->log(d->st->h, ZG_LOG_WARN,
					"device %s (%s): %d answers missed in a row: reconnecting",
					d->identity, d->addr_str,
					c->consecutive_timeouts);
		else
			d->st->api->log(d->st->h, ZG_LOG_WARN,
					"device %s (%s): more than %d answers missed on "
					"connection %d: reconnecting",
					d->identity, d->addr_str, MB_DEAD_TIDS, c->idx);
		conn_close(c);
		c->state = MBC_DOWN;
		/* Requests still on the wire will time out on their own. */
		while (c->sent != NULL) {
			struct mb_pending *q = c->sent;

			sent_remove(c, q);
			mb_complete_exception(q, MB_EX_GATEWAY_TARGET_NO_RESPONSE);
		}
		conn_connect(c);
	}
	dispatch(d);
}

/* Close c's socket and forget its buffered bytes (state is the caller's). */
static void
conn_close(struct mb_conn *c)
{
	if (c->rd_ev != NULL) {
		event_free(c->rd_ev);
		c->rd_ev = NULL;
	}
	if (c->wr_ev != NULL) {
		event_free(c->wr_ev);
		c->wr_ev = NULL;
	}
	if (c->fd >= 0) {
		evutil_closesocket(c->fd);
		c->fd = -1;
	}
	if (c->out != NULL)
		evbuffer_drain(c->out, evbuffer_get_length(c->out));
	c->in_len = 0;
	c->olen = 0;
}

/* Fail everything on the wire, close, and retry after the backoff. */
static void
conn_down(struct mb_conn *c, const char *why)
{
	struct mb_device *d = c->dev;
	struct timeval tv;

	if (c->state == MBC_UP || c->state == MBC_CONNECTING)
		d->st->api->log(d->st->h,
				c->state == MBC_UP ? ZG_LOG_WARN : ZG_LOG_DEBUG,
				"device %s (%s) connection %d: %s; retrying in %.1fs",
				d->identity, d->addr_str, c->idx, why,
				c->backoff);
	conn_close(c); /* staged requests fail below */
	c->state = MBC_DOWN;
	while (c->sent != NULL) {
		struct mb_pending *p = c->sent;

		sent_remove(c, p);
		mb_complete_exception(p, MB_EX_GATEWAY_TARGET_NO_RESPONSE);
	}
	tv = tv_of(c->backoff);
	evtimer_add(c->retry, &tv);
	c->backoff *= 2;
	if (c->backoff > d->backoff_max)
		c->backoff = d->backoff_max;
	dispatch(d); /* another connection may still be up */
}

/*
 * Bytes from the device.  Framing errors are final (close and
 * reconnect: never resynchronise).  A response that matches no request
 * on this connection is dropped and reported; one that does not fit its
 * request is dropped, reported, and the client gets 0x0B.
 */
static void
conn_input(struct mb_conn *c)
{
	struct mb_device *d = c->dev;
	size_t off = 0, len;

	while ((len = c->in_len - off) > 0) {
		size_t want = len < MBAP_ADU_MAX ? len : MBAP_ADU_MAX;
		const uint8_t *data = c->in + off;
		struct mbap_frame f;
		enum mbap_status rc = mbap_frame(data, want, &f);
		struct mb_pending *p;
		const char *why = NULL;
		uint8_t pdu[MBAP_PDU_MAX];
		size_t pdu_len;

		if (rc == MBAP_NEED_MORE)
			break; /* answers completed above freed slots: dispatch */
		if (rc != MBAP_OK) {
			d->bad_responses++;
			mb_event(d->st, "modbus.device_framing_error",
				 ZG_SEV_MEDIUM, NULL, d->identity, NULL,
				 "device %s (%s) sent a bad MBAP header: %s",
				 d->identity, d->addr_str, mbap_strerror(rc));
			conn_down(c, "bad MBAP header from device");
			return;
		}
		pdu_len = f.pdu_len;
		memcpy(pdu, f.pdu, pdu_len);
		for (p = c->sent; p != NULL; p = p->next)
			if (p->dev_tid == f.tid)
				break;
		off += f.consumed;
		if (p == NULL) {
			dead_forget(c, f.tid);
			d->unsolicited++;
			mb_event(d->st, "modbus.unsolicited_response",
				 ZG_SEV_MEDIUM, NULL, d->identity, NULL,
				 "device %s (%s) sent a response with transaction id %u "
				 "that no request is waiting for (late or unsolicited): dropped",
				 d->identity, d->addr_str, f.tid);
			continue;
		}
		if (f.unit != (d->unit >= 0 ? (uint8_t)d->unit : p->client_unit)) {
			d->unsolicited++;
			mb_event(d->st, "modbus.response_mismatch",
				 ZG_SEV_MEDIUM, p->sess, d->identity, NULL,
				 "device %s answered transaction %u from unit %u, "
				 "the request went to unit %u: dropped",
				 d->identity, f.tid, f.unit,
				 d->unit >= 0 ? (unsigned)d->unit : p->client_unit);
			continue;
		}
		sent_remove(c, p);
		c->consecutive_timeouts = 0;
		if (mb_check_response(&p->req, pdu, pdu_len, &why) ==
		    MB_RESP_MALFORMED) {
			char desc[160];

			d->bad_responses++;
			mb_describe(&p->req, desc, sizeof(desc));
			mb_event(d->st, "modbus.malformed_response",
				 ZG_SEV_MEDIUM, p->sess, d->identity, NULL,
				 "device %s answered %s with a malformed response (%s): "
				 "dropped, client answered 0x0B",
				 d->identity, desc, why ? why : "?");
			mb_complete_exception(p,
					      MB_EX_GATEWAY_TARGET_NO_RESPONSE);
		} else {
			d->forwarded++;
			mb_complete(p, pdu, pdu_len);
		}
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	dispatch(d);
}

/*
 * The device connection is readable: one recv() (as much as the input
 * buffer holds), then every complete answer.  End of stream or an error
 * takes the connection down.
 */
static void
conn_readable(evutil_socket_t fd, short what, void *arg)
{
	struct mb_conn *c = arg;
	size_t cap = (size_t)(c->dev->max_inflight + 1) * MBAP_ADU_MAX;
	ssize_t n;

	(void)what;
	if (c->in_len >= cap) { /* cannot happen: answers are consumed */
		conn_down(c, "input buffer full");
		return;
	}
	n = recv(fd, c->in + c->in_len, cap - c->in_len, 0);
	if (n == 0) {
		conn_down(c, "device closed the connection");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_down(c, strerror(errno));
		return;
	}
	c->in_len += (size_t)n;
	conn_input(c);
}

/*
 * Writable: during connect, the connection is made (or failed, or timed
 * out); once up, the kernel takes more of the requests kept in out.
 */
static void
conn_writable(evutil_socket_t fd, short what, void *arg)
{
	struct mb_conn *c = arg;
	struct mb_device *d = c->dev;

	if (c->state == MBC_CONNECTING) {
		int err = 0, one = 1;
		socklen_t len = sizeof(err);

		if (what & EV_TIMEOUT) {
			conn_down(c, "connect timed out");
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			conn_down(c, strerror(err));
			return;
		}
		event_del(c->wr_ev);
		if (event_add(c->rd_ev, NULL) < 0) {
			conn_down(c, "cannot watch the connection");
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->state = MBC_UP;
		c->backoff = d->backoff_min;
		c->consecutive_timeouts = 0;
		c->ndead = 0; /* a new stream: no late answers can come */
		d->st->api->log(d->st->h, ZG_LOG_INFO,
				"device %s (%s) connection %d up", d->identity,
				d->addr_str, c->idx);
		dispatch(d);
		return;
	}
	if (evbuffer_write(c->out, fd) < 0 && errno != EAGAIN &&
	    errno != EWOULDBLOCK && errno != EINTR) {
		conn_down(c, strerror(errno));
		return;
	}
	if (evbuffer_get_length(c->out) == 0)
		event_del(c->wr_ev);
}

static void
conn_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_connect(arg);
}

static void
conn_connect(struct mb_conn *c)
{
	struct mb_device *d = c->dev;
	struct timeval tv = tv_of(d->connect_timeout);
	int fd;

	c->state = MBC_CONNECTING;
	fd = socket(d->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		conn_down(c, strerror(errno));
		return;
	}
	c->fd = fd;
	c->rd_ev = event_new(d->st->base, fd, EV_READ | EV_PERSIST,
			     conn_readable, c);
	c->wr_ev = event_new(d->st->base, fd, EV_WRITE | EV_PERSIST,
			     conn_writable, c);
	if (c->rd_ev == NULL || c->wr_ev == NULL) {
		conn_down(c, "out of memory");
		return;
	}
	if (connect(fd, (struct sockaddr *)&d->addr, d->addrlen) < 0 &&
	    errno != EINPROGRESS) {
		conn_down(c, strerror(errno));
		return;
	}
	/* Writable when connected (or failed); the timeout is the
	 * connect timeout. */
	event_add(c->wr_ev, &tv);
}

/*
 * Send len bytes of requests: at once when nothing waits before them;
 * what the kernel does not take waits in out for the write event.  A
 * send error is left for the write event (the caller may be inside the
 * device's callbacks), which meets it again and takes the connection
 * down.
 */
static void
conn_send(struct mb_conn *c, const uint8_t *data, size_t len)
{
	if (evbuffer_get_length(c->out) == 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == (ssize_t)len)
			return;
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
	}
	evbuffer_add(c->out, data, len);
	event_add(c->wr_ev, NULL);
}

/* Is tid one of c's timed-out requests, whose answer may come late? */
static bool
dead_has(const struct mb_conn *c, uint16_t tid)
{
	int i;

	for (i = 0; i < c->ndead; i++)
		if (c->dead_tid[i] == tid)
			return true;
	return false;
}

/* The late answer to tid came: the id may be used again. */
static void
dead_forget(struct mb_conn *c, uint16_t tid)
{
	int i;

	for (i = 0; i < c->ndead; i++) {
		if (c->dead_tid[i] == tid) {
			c->dead_tid[i] = c->dead_tid[--c->ndead];
			return;
		}
	}
}

/* End of a turn of the loop: write what was staged on c in one go. */
static void
conn_flush(evutil_socket_t fd, short what, void *arg)
{
	struct mb_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->olen > 0 && c->fd >= 0 && c->state == MBC_UP)
		conn_send(c, c->obuf, c->olen);
	c->olen = 0;
}

/*
 * Stage one request (adu, len) for c.  The flush runs once every event
 * already active in this turn has run, so the requests of all clients
 * served in the turn leave in one send.  Requests on the wire count in
 * max_inflight, so obuf holds them all; only a run of broadcasts (which
 * do not stay in flight) can fill it, and then it is written at once.
 */
static void
conn_stage(struct mb_conn *c, const uint8_t *adu, size_t len)
{
	size_t cap = (size_t)c->dev->max_inflight * MBAP_ADU_MAX;

	if (c->olen + len > cap) {
		conn_send(c, c->obuf, c->olen);
		c->olen = 0;
	}
	if (c->olen == 0)
		event_active(c->flush_ev, EV_WRITE, 0);
	memcpy(c->obuf + c->olen, adu, len);
	c->olen += len;
}

/*
 * Put one request on connection c: a transaction id unused on c, the
 * device's unit (or the client's), and the PDU re-originated from the
 * parsed fields.  Broadcasts (unit 0) get no response: they complete as
 * soon as they are written.
 */
static void
send_one(struct mb_conn *c, struct mb_pending *p)
{
	struct mb_device *d = c->dev;
	uint8_t adu[MBAP_ADU_MAX];
	uint8_t unit = d->unit >= 0 ? (uint8_t)d->unit : p->client_unit;
	struct mb_pending *q;
	int n, guard;

	n = mb_build_request(&p->req, adu + MBAP_HEADER_LEN,
			     sizeof(adu) - MBAP_HEADER_LEN);
	if (n < 0) {
		mb_complete_exception(p, MB_EX_SERVER_DEVICE_FAILURE);
		return;
	}
	/* At most max_inflight + MB_DEAD_TIDS ids are taken: found fast. */
	for (guard = 0; guard < 65536; guard++) {
		p->dev_tid = d->next_tid++;
		for (q = c->sent; q != NULL; q = q->next)
			if (q->dev_tid == p->dev_tid)
				break;
		if (q == NULL && !dead_has(c, p->dev_tid))
			break;
	}
	mbap_write_header(adu, MBAP_HEADER_LEN, p->dev_tid, unit, (size_t)n);
	conn_stage(c, adu, MBAP_HEADER_LEN + (size_t)n);
	if (unit == 0) {
		/* Broadcast: devices do not answer. */
		mb_complete(p, NULL, 0);
		return;
	}
	p->conn = c;
	p->next = c->sent;
	c->sent = p;
	c->inflight++;
}

/* Move queued requests onto connections with room. */
static void
dispatch(struct mb_device *d)
{
	int i;

	for (i = 0; i < d->nconns && d->qhead != NULL; i++) {
		struct mb_conn *c = &d->conns[i];

		while (c->state == MBC_UP && c->inflight < d->max_inflight &&
		       d->qhead != NULL) {
			struct mb_pending *p = d->qhead;

			queue_remove(d, p);
			send_one(c, p);
		}
	}
}

int
mb_device_submit(struct mb_device *d, struct mb_pending *p)
{
	const struct timeval *tv = &d->timeout_tv;

	if (d->qlen >= d->queue_max)
		return -1;
	p->dev = d;
	p->timer = evtimer_new(d->st->base, pending_timeout, p);
	if (p->timer == NULL)
		return -1;
	evtimer_add(p->timer, tv);
	if (d->line != NULL)
		return rtu_submit(d, p);
	p->next = NULL;
	if (d->qtail != NULL)
		d->qtail->next = p;
	else
		d->qhead = p;
	d->qtail = p;
	d->qlen++;
	dispatch(d);
	return 0;
}

int
mb_device_start(struct mb_device *d)
{
	int i;

	/*
	 * Every request of a device has the same timeout: a libevent common
	 * timeout keeps them in a queue (O(1) add) instead of the heap.
	 */
	{
		struct timeval tv = tv_of(d->request_timeout);
		const struct timeval *ct =
			event_base_init_common_timeout(d->st->base, &tv);

		d->timeout_tv = ct ? *ct : tv;
	}
	if (d->serial.path[0] != '\0')
		return rtu_device_start(d);
	d->conns = calloc((size_t)d->nconns, sizeof(*d->conns));
	if (d->conns == NULL)
		return -1;
	for (i = 0; i < d->nconns; i++)
		d->conns[i].fd = -1; /* before anything can fail */
	for (i = 0; i < d->nconns; i++) {
		struct mb_conn *c = &d->conns[i];

		c->dev = d;
		c->idx = i;
		c->backoff = d->backoff_min;
		c->retry = evtimer_new(d->st->base, conn_retry, c);
		c->flush_ev = event_new(d->st->base, -1, 0, conn_flush, c);
		c->obuf = malloc((size_t)d->max_inflight * MBAP_ADU_MAX);
		c->in = malloc((size_t)(d->max_inflight + 1) * MBAP_ADU_MAX);
		c->out = evbuffer_new();
		if (c->retry == NULL || c->flush_ev == NULL || c->obuf == NULL ||
		    c->in == NULL || c->out == NULL)
			return -1;
		conn_connect(c);
	}
	return 0;
}

/* Close everything; waiting clients get 0x0B (the gateway is stopping). */
void
mb_device_stop(struct mb_device *d)
{
	int i;

	if (d->serial.path[0] != '\0') {
		rtu_device_stop(d);
		return;
	}
	while (d->qhead != NULL) {
		struct mb_pending *p = d->qhead;

		queue_remove(d, p);
		mb_complete_exception(p, MB_EX_GATEWAY_TARGET_NO_RESPONSE);
	}
	for (i = 0; d->conns != NULL && i < d->nconns; i++) {
		struct mb_conn *c = &d->conns[i];

		while (c->sent != NULL) {
			struct mb_pending *p = c->sent;

			sent_remove(c, p);
			mb_complete_exception(p,
					      MB_EX_GATEWAY_TARGET_NO_RESPONSE);
		}
		conn_close(c);
		if (c->retry != NULL)
			event_free(c->retry);
		if (c->flush_ev != NULL)
			event_free(c->flush_ev);
		free(c->obuf);
		free(c->in);
		if (c->out != NULL)
			evbuffer_free(c->out);
	}
	free(d->conns);
	d->conns = NULL;
}
