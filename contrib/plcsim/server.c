/*
 * zg-plcsim: the event loop.
 *
 * One ppoll() loop owns every descriptor: the TCP listener and its
 * clients, or the RTU serial line, plus the control FIFO.  Requests are
 * framed here without blocking (frame.c), then answered by libmodbus:
 * modbus_reply() runs on a "builder" context whose socket is one end of
 * a socketpair, so the answer comes back as bytes that can be held
 * (--delay-ms), damaged (--malformed), duplicated (--unsolicited) or
 * dropped (--silent) before anything reaches the peer.  The loop sleeps
 * until the next event, the next demo tick or the next held answer is
 * due; it never spins.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* accept4(), ppoll() */
#endif

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "plcsim.h"

/* ---- time helpers (CLOCK_MONOTONIC) ---- */

/* Now on the monotonic clock: immune to wall-clock steps. */
static struct timespec ts_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

/* ts + ms, normalised. */
static struct timespec ts_add_ms(struct timespec ts, unsigned long ms)
{
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* -1, 0 or 1 as a is before, at or after b. */
static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	if (a.tv_nsec != b.tv_nsec)
		return a.tv_nsec < b.tv_nsec ? -1 : 1;
	return 0;
}

/* Keep the earliest of *deadline (if *have) and t. */
static void ts_earliest(struct timespec *deadline, bool *have,
			struct timespec t)
{
	if (!*have || ts_cmp(t, *deadline) < 0) {
		*deadline = t;
		*have = true;
	}
}

/* ---- small helpers ---- */

/* Add O_NONBLOCK to fd; -1 with errno on failure. */
static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

/* xorshift32: random transaction ids for --unsolicited, nothing more. */
static uint32_t sim_random(struct sim *s)
{
	uint32_t x = s->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->rng = x;
	return x;
}

/* "127.0.0.1:502" or "[::1]:502" for a socket address. */
static void format_addr(const struct sockaddr *sa, socklen_t len, char *buf,
			size_t cap)
{
	char host[INET6_ADDRSTRLEN], serv[8];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, cap, "?");
		return;
	}
	if (sa->sa_family == AF_INET6)
		snprintf(buf, cap, "[%s]:%s", host, serv);
	else
		snprintf(buf, cap, "%s:%s", host, serv);
}

/* "any" or the unit id, for log lines. */
static const char *unit_label(const struct sim *s, char *buf, size_t cap)
{
	if (s->cfg->unit < 0)
		return "any";
	snprintf(buf, cap, "%d", s->cfg->unit);
	return buf;
}

/* True while --delay-ms holds the answers queued on c. */
static bool held(const struct conn *c, struct timespec now)
{
	return ts_cmp(now, c->hold_until) < 0;
}

/* ---- answers ---- */

/*
 * Let libmodbus answer one framed request (adu, len bytes: MBAP + PDU,
 * or address + PDU + CRC) and collect the answer bytes in rsp.  Requests
 * whose PDU length disagrees with their own fields are answered with
 * exception 3 here and never reach modbus_reply(), which would trust the
 * byte count.  Returns the answer length (0: libmodbus sent nothing, an
 * RTU broadcast) or -1.
 */
static ssize_t build_answer(struct sim *s, const uint8_t *adu, size_t len,
			    const uint8_t *pdu, size_t pdu_len, uint8_t *rsp,
			    size_t cap)
{
	/* zero tail: modbus_reply reads fixed offsets even of short PDUs */
	uint8_t req[FRAME_MAX_ADU + 16] = {0};
	size_t got = 0;
	int exc, rc, reply_errno;

	memcpy(req, adu, len);
	exc = frame_pdu_check(pdu, pdu_len);
	if (exc != 0)
		rc = modbus_reply_exception(s->builder, req, (unsigned int)exc);
	else
		rc = modbus_reply(s->builder, req, (int)len, s->map);
	reply_errno = errno;
	if (rc < 0 && reply_errno == ENOPROTOOPT) {
		/* libmodbus 3.1.6 refuses to answer FC 7 at all; a PLC
		 * that lacks a function says so with exception 1 */
		rc = modbus_reply_exception(s->builder, req,
					    MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
		reply_errno = errno;
	}
	for (;;) {
		ssize_t n = read(s->builder_fd[1], rsp + got, cap - got);

		if (n > 0) {
			got += (size_t)n;
			if (got == cap)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (rc < 0) {
		log_warnx("libmodbus could not answer FC %u: %s", pdu[0],
			  modbus_strerror(reply_errno));
		return -1;
	}
	return (ssize_t)got;
}

/*
 * --malformed: make the answer lie about its length while staying
 * otherwise well formed.  Answers with a byte count (reads, FC 17, 23)
 * get byte count + 2 (+1 would pass a client that divides by two);
 * others get a Modbus/TCP length one too long, or on RTU lose their
 * last data byte.  RTU answers keep a valid CRC, so the lie is in the
 * content, not in line noise.
 */
static size_t mangle_answer(bool rtu, uint8_t *rsp, size_t len)
{
	size_t hdr = rtu ? 1 : FRAME_MBAP_LEN;
	uint8_t fc;

	if (len < hdr + 2)
		return len;
	fc = rsp[hdr];
	if (!(fc & 0x80) && frame_fc_has_byte_count(fc)) {
		rsp[hdr + 1] = (uint8_t)(rsp[hdr + 1] + 2);
		if (rtu)
			frame_rtu_put_crc(rsp, len - 2);
		return len;
	}
	if (!rtu) {
		unsigned int mlen = (unsigned int)((rsp[4] << 8) | rsp[5]) + 1;

		rsp[4] = (uint8_t)(mlen >> 8);
		rsp[5] = (uint8_t)(mlen & 0xFF);
		return len;
	}
	if (len < 5)
		return len;
	frame_rtu_put_crc(rsp, len - 3);
	return len - 1;
}

/*
 * Handle one complete request from c: filter the unit id, log it, and
 * unless --silent let libmodbus execute and answer it, then apply the
 * misbehaviours and queue the answer.  The caller guarantees room for
 * two answers in c->out and a CRC-checked frame on RTU.
 */
static void handle_request(struct sim *s, struct conn *c, const uint8_t *adu,
			   size_t len, struct timespec now)
{
	size_t hdr = c->rtu ? 1 : FRAME_MBAP_LEN;
	size_t pdu_len = len - hdr - (c->rtu ? 2 : 0);
	const uint8_t *pdu = adu + hdr;
	uint8_t unit = adu[hdr - 1];
	struct frame_req_info info;
	uint8_t rsp[FRAME_MAX_ADU + 16];
	char what[128], result[32], extra[64] = "";
	ssize_t rlen;
	size_t n;

	c->nreq++;
	frame_req_info(pdu, pdu_len, &info);
	if (info.fc == 23)
		snprintf(what, sizeof(what),
			 "fc %u %s addr %u qty %u write addr %u qty %u",
			 info.fc, frame_fc_name(info.fc), info.addr, info.qty,
			 info.waddr, info.wqty);
	else if ((info.fc >= 1 && info.fc <= 6) || info.fc == 15 ||
		 info.fc == 16 || info.fc == 22)
		snprintf(what, sizeof(what), "fc %u %s addr %u qty %u",
			 info.fc, frame_fc_name(info.fc), info.addr, info.qty);
	else
		snprintf(what, sizeof(what), "fc %u %s", info.fc,
			 frame_fc_name(info.fc));

	if (s->cfg->unit >= 0 && unit != s->cfg->unit &&
	    !(c->rtu && unit == 0)) {
		log_debug("%s unit %u %s -> ignored: not unit %d", c->peer,
			  unit, what, s->cfg->unit);
		log_write_request(s->writes_fd, c->peer, unit, pdu, pdu_len,
				  "other-unit");
		return;
	}
	if (s->bhv.silent) {
		log_debug("%s unit %u %s -> no answer (silent)", c->peer, unit,
			  what);
		log_write_request(s->writes_fd, c->peer, unit, pdu, pdu_len,
				  "silent");
		return;
	}

	rlen = build_answer(s, adu, len, pdu, pdu_len, rsp, sizeof(rsp));
	if (rlen < 0) {
		log_write_request(s->writes_fd, c->peer, unit, pdu, pdu_len,
				  "error");
		return;
	}
	if (rlen == 0)
		snprintf(result, sizeof(result), "broadcast");
	else if ((rsp[hdr] & 0x80) && (size_t)rlen > hdr + 1)
		snprintf(result, sizeof(result), "exception:%u", rsp[hdr + 1]);
	else
		snprintf(result, sizeof(result), "applied");
	log_write_request(s->writes_fd, c->peer, unit, pdu, pdu_len, result);
	if (rlen == 0) {
		log_debug("%s unit %u %s -> no answer (broadcast)", c->peer,
			  unit, what);
		return;
	}

	n = (size_t)rlen;
	if (s->bhv.malformed) {
		n = mangle_answer(c->rtu, rsp, n);
		strcat(extra, " malformed");
	}
	memcpy(c->out + c->out_len, rsp, n);
	c->out_len += n;
	if (s->bhv.unsolicited) {
		uint8_t *copy = c->out + c->out_len;

		memcpy(copy, rsp, n);
		if (!c->rtu) {
			uint16_t tid = (uint16_t)((rsp[0] << 8) | rsp[1]);
			uint16_t other;

			do
				other = (uint16_t)sim_random(s);
			while (other == tid);
			copy[0] = (uint8_t)(other >> 8);
			copy[1] = (uint8_t)(other & 0xFF);
		}
		c->out_len += n;
		strcat(extra, " +unsolicited");
	}
	if (s->bhv.delay_ms > 0) {
		c->hold_until = ts_add_ms(now, s->bhv.delay_ms);
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 " held %u ms", s->bhv.delay_ms);
	}
	log_debug("%s unit %u %s -> %s%s", c->peer, unit, what,
		  strcmp(result, "applied") == 0 ? "ok" : result, extra);
}

/* ---- connections ---- */

/*
 * Write what c->out holds, unless an answer is being held.  Partial
 * writes keep the rest for POLLOUT.  A TCP client that fails is marked
 * dead; a failing serial line returns -1 (fatal).
 */
static int conn_flush(struct conn *c, struct timespec now)
{
	while (c->out_len > 0 && !c->dead && !held(c, now)) {
		ssize_t n;

		if (c->rtu)
			n = write(c->fd, c->out, c->out_len);
		else
			n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (c->rtu) {
				log_warn("serial line %s: write", c->peer);
				return -1;
			}
			log_debug("%s: send: %s", c->peer, strerror(errno));
			c->dead = true;
			break;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	if (c->closing && c->out_len == 0 && !c->dead) {
		log_info("closing client %s after %lu requests (--drop-after)",
			 c->peer, c->nreq);
		c->dead = true;
	}
	return 0;
}

/*
 * Frame and handle the requests buffered on c, in order, while no answer
 * is held and c->out has room for two more answers (backpressure: a
 * client that does not read stops being read).  Modbus/TCP framing
 * errors close the client.  On RTU a frame with a bad CRC, or a partial
 * frame followed by line silence, is dropped with everything buffered:
 * the master retries and the next frame starts after silence.
 */
static void conn_process(struct sim *s, struct conn *c, struct timespec now)
{
	while (!c->dead && !c->closing && c->in_len > 0 && !held(c, now) &&
	       c->out_len + 2 * (FRAME_MAX_ADU + 16) <= PLCSIM_OUT_MAX) {
		size_t adu_len = 0, need = 0;
		enum frame_status st;

		if (c->rtu) {
			bool silence = ts_cmp(now, ts_add_ms(c->last_rx,
							      s->rtu_gap_ms)) >= 0;

			st = frame_rtu_request(c->in, c->in_len, &adu_len, &need);
			if (st == FRAME_GAP) {
				if (!silence)
					break;
				adu_len = c->in_len;
				st = FRAME_OK;
			}
			if (st == FRAME_NEED) {
				if (!silence)
					break;
				log_debug("%s: dropped %zu bytes of an incomplete frame",
					  c->peer, c->in_len);
				c->in_len = 0;
				break;
			}
			if (st == FRAME_BAD || !frame_rtu_crc_ok(c->in, adu_len)) {
				log_debug("%s: dropped %zu bytes (%s)", c->peer,
					  c->in_len, st == FRAME_BAD ?
					  "impossible length" : "CRC error");
				c->in_len = 0;
				break;
			}
		} else {
			st = frame_mbap(c->in, c->in_len, &adu_len, &need);
			if (st == FRAME_NEED)
				break;
			if (st != FRAME_OK) {
				log_warnx("client %s: bad MBAP header (protocol id %u, length %u); closing",
					  c->peer, (c->in[2] << 8) | c->in[3],
					  (c->in[4] << 8) | c->in[5]);
				c->dead = true;
				break;
			}
		}
		handle_request(s, c, c->in, adu_len, now);
		memmove(c->in, c->in + adu_len, c->in_len - adu_len);
		c->in_len -= adu_len;
		if (!c->rtu && s->bhv.drop_after > 0 &&
		    c->nreq >= s->bhv.drop_after)
			c->closing = true;
	}
}

/*
 * Read what is available on c into c->in (never more than fits).  End of
 * stream from a TCP client stops reading (its buffered requests are
 * still answered, see conn_check_eof); on the serial line it is fatal (-1):
 * the other end of the line is gone, and a pty that lost its master
 * would otherwise report end-of-file forever.
 */
static int conn_read(struct conn *c, struct timespec now, short revents)
{
	bool got = false;

	for (;;) {
		ssize_t n;

		if (c->in_len == sizeof(c->in))
			return 0;
		n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			c->last_rx = now;
			got = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (c->rtu) {
			/* a tty may read 0 for "nothing now"; a hang-up
			 * shows as EIO or as POLLHUP with nothing to read */
			if (n == 0 && (got || !(revents & (POLLHUP | POLLERR))))
				return 0;
			if (n == 0)
				log_warnx("serial line %s hung up", c->peer);
			else
				log_warn("serial line %s: read", c->peer);
			return -1;
		}
		if (n == 0) {
			c->eof = true;	/* answer what is buffered first */
			return 0;
		}
		log_debug("%s: read: %s", c->peer, strerror(errno));
		c->dead = true;
		return 0;
	}
}

/*
 * A client that closed its side is dropped once nothing is left to do:
 * no answer queued or held, and no complete request buffered.
 */
static void conn_check_eof(struct conn *c, struct timespec now)
{
	size_t adu_len, need;

	if (c->eof && !c->dead && c->out_len == 0 && !held(c, now) &&
	    (c->closing ||
	     frame_mbap(c->in, c->in_len, &adu_len, &need) != FRAME_OK))
		c->dead = true;
}

/* A new peer on fd (owned by the caller until freed); NULL without memory. */
static struct conn *conn_new(int fd, bool rtu, const char *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->rtu = rtu;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	return c;
}

/*
 * Accept every pending client.  Beyond --max-clients a client is
 * accepted and closed at once, as many PLCs do, and the refusal is
 * logged.  When descriptors run out, accepting pauses until a client
 * leaves or a second has passed (otherwise the readable listener would
 * make the loop spin).
 */
static void accept_clients(struct sim *s)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char peer[64];
		struct conn *c, **grown;
		int fd, one = 1;

		fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_warn("accept");
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				s->accept_paused = true;
				s->accept_retry = ts_add_ms(ts_now(), 1000);
			}
			return;
		}
		format_addr((struct sockaddr *)&ss, sl, peer, sizeof(peer));
		if (s->nconns >= s->bhv.max_clients ||
		    s->nconns >= PLCSIM_CONN_MAX) {
			log_info("refused client %s: %zu clients connected, max-clients %u",
				 peer, s->nconns, s->bhv.max_clients);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		grown = realloc(s->conns, (s->nconns + 1) * sizeof(*s->conns));
		c = conn_new(fd, false, peer);
		if (grown == NULL || c == NULL) {
			log_warnx("out of memory: dropping client %s", peer);
			if (grown != NULL)
				s->conns = grown;
			free(c);
			close(fd);
			continue;
		}
		s->conns = grown;
		s->conns[s->nconns++] = c;
		log_info("client %s connected (%zu/%u)", peer, s->nconns,
			 s->bhv.max_clients);
	}
}

/* Close and forget the clients marked dead during this pass. */
static void sweep_clients(struct sim *s)
{
	size_t i, j = 0;

	for (i = 0; i < s->nconns; i++) {
		struct conn *c = s->conns[i];

		if (!c->dead) {
			s->conns[j++] = c;
			continue;
		}
		log_info("client %s disconnected after %lu requests", c->peer,
			 c->nreq);
		close(c->fd);
		free(c);
		s->accept_paused = false;
	}
	s->nconns = j;
}

/* ---- set-up ---- */

/*
 * Listen on the numeric address and port from the options, nothing
 * else: no name lookups, no wildcard unless the user typed one.  An
 * IPv6 address is bound v6-only for the same reason.  Logs the bound
 * address (the port is the real one when 0 was asked for).
 */
static int tcp_listen(struct sim *s)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	};
	struct addrinfo *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[16], label[96], ubuf[16];
	int fd, rc, one = 1;

	snprintf(port, sizeof(port), "%u", s->cfg->port);
	rc = getaddrinfo(s->cfg->address, port, &hints, &res);
	if (rc != 0) {
		log_warnx("listen address '%s' must be a numeric IPv4 or IPv6 address: %s",
			  s->cfg->address, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		log_warn("socket");
		freeaddrinfo(res);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		log_warn("cannot listen on %s port %s", s->cfg->address, port);
		freeaddrinfo(res);
		close(fd);
		return -1;
	}
	freeaddrinfo(res);
	if (listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		log_warn("listen");
		close(fd);
		return -1;
	}
	s->listen_fd = fd;
	s->port = ntohs(ss.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	format_addr((struct sockaddr *)&ss, sl, label, sizeof(label));
	log_info("listening on %s unit %s", label,
		 unit_label(s, ubuf, sizeof(ubuf)));
	return 0;
}

/*
 * Open the serial line through libmodbus (which sets the line speed,
 * parity and raw mode), then use its descriptor without blocking.
 */
static int rtu_open(struct sim *s)
{
	const struct sim_config *cfg = s->cfg;
	struct termios tios;
	char ubuf[16];
	int fd;

	s->rtu_ctx = modbus_new_rtu(cfg->rtu_device, cfg->baud, cfg->parity,
				    8, cfg->stop_bits);
	if (s->rtu_ctx == NULL) {
		log_warnx("serial line %s: %s", cfg->rtu_device,
			  modbus_strerror(errno));
		return -1;
	}
	if (modbus_connect(s->rtu_ctx) < 0) {
		log_warnx("cannot open serial line %s: %s", cfg->rtu_device,
			  modbus_strerror(errno));
		return -1;
	}
	fd = modbus_get_socket(s->rtu_ctx);
	if (fd < 0 || set_nonblock(fd) < 0) {
		log_warn("serial line %s", cfg->rtu_device);
		return -1;
	}
	/* libmodbus leaves VMIN 0, where read() returns 0 for "no data";
	 * VMIN 1 with O_NONBLOCK gives EAGAIN instead, as on a socket. */
	if (tcgetattr(fd, &tios) == 0) {
		tios.c_cc[VMIN] = 1;
		tios.c_cc[VTIME] = 0;
		tcsetattr(fd, TCSANOW, &tios);
	}
	s->rtu_line = conn_new(fd, true, cfg->rtu_device);
	if (s->rtu_line == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	/* 3.5 characters of 11 bits, but never under 50 ms: ptys and USB
	 * adapters deliver a frame in pieces with gaps far above that. */
	s->rtu_gap_ms = (unsigned int)(38500 / cfg->baud + 1);
	if (s->rtu_gap_ms < 50)
		s->rtu_gap_ms = 50;
	log_info("listening on rtu %s %d 8%c%d unit %s", cfg->rtu_device,
		 cfg->baud, cfg->parity, cfg->stop_bits,
		 unit_label(s, ubuf, sizeof(ubuf)));
	return 0;
}

/*
 * Build the register map (demo, init file, --set in that order), the
 * answer builder and the write log, then listen or open the line.
 * Returns 0, or -1 after logging why; sim_free() cleans up either way.
 */
int sim_init(struct sim *s, struct sim_config *cfg)
{
	char err[512];
	size_t i;
	int errors = 0;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->bhv = cfg->behaviour;
	s->builder_fd[0] = s->builder_fd[1] = -1;
	s->listen_fd = s->control_rd = s->control_wr = s->writes_fd = -1;
	s->started = ts_now();
	s->rng = (uint32_t)getpid() * 2654435761u ^ (uint32_t)s->started.tv_nsec;
	if (s->rng == 0)
		s->rng = 1;
	log_set_verbose(s->bhv.verbose);

	s->map = regmap_new(&cfg->sizes);
	if (s->map == NULL) {
		log_warnx("cannot allocate the register map: %s",
			  modbus_strerror(errno));
		return -1;
	}
	if (cfg->demo)
		regmap_demo_update(s->map, 0);
	if (cfg->init_file != NULL && regmap_load_file(s->map, cfg->init_file) < 0)
		errors++;
	for (i = 0; i < cfg->nsets; i++) {
		if (regmap_set(s->map, cfg->sets[i], err, sizeof(err)) < 0) {
			log_warnx("--set %s: %s", cfg->sets[i], err);
			errors++;
		}
	}
	if (errors)
		return -1;

	if (cfg->rtu_device != NULL)
		s->builder = modbus_new_rtu(cfg->rtu_device, cfg->baud,
					    cfg->parity, 8, cfg->stop_bits);
	else
		s->builder = modbus_new_tcp("127.0.0.1", 502);
	if (s->builder == NULL) {
		log_warnx("libmodbus: %s", modbus_strerror(errno));
		return -1;
	}
	/* modbus_reply() sleeps for the response timeout before some
	 * exception answers (to flush a real line); the builder has no line. */
	modbus_set_response_timeout(s->builder, 0, 1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       s->builder_fd) < 0) {
		log_warn("socketpair");
		return -1;
	}
	modbus_set_socket(s->builder, s->builder_fd[0]);

	if (cfg->log_writes != NULL) {
		s->writes_fd = log_writes_open(cfg->log_writes);
		if (s->writes_fd < 0)
			return -1;
	}
	if (cfg->control_path != NULL && control_open(s, cfg->control_path) < 0)
		return -1;
	if (cfg->rtu_device != NULL)
		return rtu_open(s);
	return tcp_listen(s);
}

/* ---- the loop ---- */

/* Advance the demo pattern to the current second since start. */
static void demo_tick(struct sim *s, struct timespec now)
{
	long long ns = (long long)(now.tv_sec - s->started.tv_sec) * 1000000000LL +
		       (now.tv_nsec - s->started.tv_nsec);
	uint32_t secs = (uint32_t)(ns / 1000000000LL);

	if (secs != s->ticks) {
		s->ticks = secs;
		regmap_demo_update(s->map, secs);
	}
}

/* The earliest time-driven event of c (held answer, RTU silence). */
static void conn_deadline(const struct sim *s, const struct conn *c,
			  struct timespec now, struct timespec *deadline,
			  bool *have)
{
	if (held(c, now))
		ts_earliest(deadline, have, c->hold_until);
	else if (c->rtu && c->in_len > 0)
		ts_earliest(deadline, have, ts_add_ms(c->last_rx, s->rtu_gap_ms));
}

/*
 * What to poll c for: input while there is room and the peer may still
 * send, output while answers are queued and not held.
 */
static short conn_events(const struct conn *c, struct timespec now)
{
	short ev = 0;

	if (c->in_len < sizeof(c->in) && !c->closing && !c->eof)
		ev |= POLLIN;
	if (c->out_len > 0 && !held(c, now))
		ev |= POLLOUT;
	return ev;
}

/*
 * Run until SIGTERM/SIGINT.  Signals stay blocked except inside ppoll(),
 * which atomically installs waitmask: a signal arriving at any other
 * moment is delivered at the next ppoll() and can never be missed
 * between checking the flags and going to sleep.  Returns an exit
 * status.
 */
int sim_run(struct sim *s, const sigset_t *waitmask)
{
	struct pollfd *pfd = NULL;
	struct conn **owner = NULL;
	size_t cap = 0;
	int status = PLCSIM_EXIT_OK;

	for (;;) {
		struct timespec now, deadline = {0}, rel, *timeout = NULL;
		bool have = false;
		size_t n = 0, i;
		int rc;

		if (plcsim_stop_signal) {
			log_info("exiting on signal %d", (int)plcsim_stop_signal);
			break;
		}
		if (plcsim_usr1) {
			plcsim_usr1 = 0;
			s->bhv.silent = !s->bhv.silent;
			log_info("silent %s (SIGUSR1)", s->bhv.silent ? "on" : "off");
		}

		now = ts_now();
		if (s->cfg->demo) {
			demo_tick(s, now);
			ts_earliest(&deadline, &have,
				    (struct timespec){s->started.tv_sec + (time_t)s->ticks + 1,
						      s->started.tv_nsec});
		}
		if (s->rtu_line != NULL) {
			conn_process(s, s->rtu_line, now);
			if (conn_flush(s->rtu_line, now) < 0) {
				status = PLCSIM_EXIT_RUNTIME;
				break;
			}
		}
		for (i = 0; i < s->nconns; i++) {
			conn_process(s, s->conns[i], now);
			conn_flush(s->conns[i], now);
			conn_check_eof(s->conns[i], now);
		}
		sweep_clients(s);

		if (cap < s->nconns + 3) {
			size_t ncap = s->nconns + 16;
			struct pollfd *p = realloc(pfd, ncap * sizeof(*pfd));
			struct conn **o;

			if (p == NULL) {
				log_warnx("out of memory");
				status = PLCSIM_EXIT_RUNTIME;
				break;
			}
			pfd = p;
			o = realloc(owner, ncap * sizeof(*owner));
			if (o == NULL) {
				log_warnx("out of memory");
				status = PLCSIM_EXIT_RUNTIME;
				break;
			}
			owner = o;
			cap = ncap;
		}
		if (s->accept_paused) {
			if (ts_cmp(now, s->accept_retry) >= 0)
				s->accept_paused = false;
			else
				ts_earliest(&deadline, &have, s->accept_retry);
		}
		if (s->listen_fd >= 0 && !s->accept_paused) {
			pfd[n] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
			owner[n++] = NULL;
		}
		if (s->control_rd >= 0) {
			pfd[n] = (struct pollfd){.fd = s->control_rd, .events = POLLIN};
			owner[n++] = NULL;
		}
		if (s->rtu_line != NULL) {
			pfd[n] = (struct pollfd){.fd = s->rtu_line->fd,
				.events = conn_events(s->rtu_line, now)};
			owner[n++] = s->rtu_line;
			conn_deadline(s, s->rtu_line, now, &deadline, &have);
		}
		for (i = 0; i < s->nconns; i++) {
			pfd[n] = (struct pollfd){.fd = s->conns[i]->fd,
				.events = conn_events(s->conns[i], now)};
			owner[n++] = s->conns[i];
			conn_deadline(s, s->conns[i], now, &deadline, &have);
		}

		if (have) {
			if (ts_cmp(deadline, now) <= 0) {
				rel = (struct timespec){0, 0};
			} else {
				rel.tv_sec = deadline.tv_sec - now.tv_sec;
				rel.tv_nsec = deadline.tv_nsec - now.tv_nsec;
				if (rel.tv_nsec < 0) {
					rel.tv_sec--;
					rel.tv_nsec += 1000000000L;
				}
			}
			timeout = &rel;
		}
		rc = ppoll(pfd, (nfds_t)n, timeout, waitmask);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_warn("ppoll");
			status = PLCSIM_EXIT_RUNTIME;
			break;
		}
		now = ts_now();
		for (i = 0; i < n && rc > 0; i++) {
			struct conn *c = owner[i];

			if (pfd[i].revents == 0)
				continue;
			if (c == NULL) {
				if (pfd[i].fd == s->listen_fd)
					accept_clients(s);
				else
					control_read(s);
				continue;
			}
			if (c->eof && (pfd[i].revents & (POLLHUP | POLLERR))) {
				c->dead = true;	/* gone both ways: stop now */
				continue;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (conn_read(c, now, pfd[i].revents) < 0) {
					status = PLCSIM_EXIT_RUNTIME;
					goto out;
				}
			}
			if ((pfd[i].revents & POLLOUT) && conn_flush(c, now) < 0) {
				status = PLCSIM_EXIT_RUNTIME;
				goto out;
			}
		}
	}
out:
	free(pfd);
	free(owner);
	return status;
}

/* Release everything sim_init() made; safe on a partly built sim. */
void sim_free(struct sim *s)
{
	size_t i;

	for (i = 0; i < s->nconns; i++) {
		close(s->conns[i]->fd);
		free(s->conns[i]);
	}
	free(s->conns);
	s->conns = NULL;
	s->nconns = 0;
	free(s->rtu_line);	/* its descriptor belongs to rtu_ctx */
	s->rtu_line = NULL;
	if (s->rtu_ctx != NULL) {
		modbus_close(s->rtu_ctx);
		modbus_free(s->rtu_ctx);
		s->rtu_ctx = NULL;
	}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
	if (s->builder != NULL) {
		/* the builder never connected: its socket is ours to close */
		modbus_free(s->builder);
		s->builder = NULL;
	}
	for (i = 0; i < 2; i++) {
		if (s->builder_fd[i] >= 0)
			close(s->builder_fd[i]);
		s->builder_fd[i] = -1;
	}
	control_close(s);
	if (s->writes_fd >= 0)
		close(s->writes_fd);
	s->writes_fd = -1;
	if (s->map != NULL)
		modbus_mapping_free(s->map);
	s->map = NULL;
}
