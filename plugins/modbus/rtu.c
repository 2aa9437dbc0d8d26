/*
 * rtu.c: Modbus RTU serial lines behind the proxy.
 *
 * A serial device is a unit id on a serial line.  Every line (one port
 * path, shared by all the devices configured on it) has one worker thread
 * that owns the libmodbus context and does one transaction at a time:
 * libmodbus blocks in select() and a line at 9600 baud takes tens of
 * milliseconds per answer, so none of it may run on the event loop.
 *
 * Handoff.  The loop builds a struct rtu_job (unit + re-originated PDU)
 * for each request and appends it to the line's queue under the line's
 * mutex; the worker takes the head, runs the transaction with the mutex
 * released, then appends the job (now holding the answer or an error) to
 * the line's done list and writes the line's eventfd.  A libevent event
 * on that eventfd brings the loop to line_wakeup(), which takes the whole
 * done list and answers the clients exactly like device.c does for TCP
 * (mb_check_response, then mb_complete / mb_complete_exception).  Line
 * state changes (opened, failed) travel the same way as notes, so the
 * worker never calls the host (logging, events) and never touches
 * libevent: the host needs no libevent threading support.
 *
 * Lifetime.  The worker only ever sees a job, never the request (struct
 * mb_pending) it belongs to.  job->p and job->dev are read and written by
 * the loop thread only; job->where (queued / with the worker / done)
 * changes under the mutex.  When a request's deadline passes, or its
 * device stops, while its job is queued, the loop unlinks and frees the
 * job; when the worker holds it (or it waits in the done list), the loop
 * sets job->p = NULL and answers the client, and the job is freed when
 * the worker hands it back, its result dropped.  So the client's answer
 * never waits for a stuck line beyond request_timeout, and nothing is
 * freed while the other thread can still reach it.
 *
 * Errors.  An answer that is late, from another unit, cut short or with
 * a bad CRC costs that request a 0x0B.  A read or write error (adapter
 * unplugged, pty closed) closes the port; the worker reopens it with
 * exponential backoff (reopen_min..reopen_max), and while it is closed
 * requests are answered 0x0B at once instead of waiting for their
 * deadline.  The first failure of a line raises `modbus.device_down'.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <modbus.h>

#include "plugins/modbus/mbproxy.h"
#include "plugins/modbus/rtu.h"

#define RTU_UNIT_MAX 247        /* 248..255 are reserved on a line */
#define RTU_ADU_MAX 256         /* unit + PDU + CRC */
#define RTU_CHAR_BITS 11        /* start, 8 data, parity or stop, stop */

/* Where a job is; changes under the line's mutex only. */
enum rtu_where {
	RJ_QUEUED,   /* in the line's queue: the loop may unlink it */
	RJ_ACTIVE,   /* the worker's transaction */
	RJ_DONE,     /* in the done list, for the loop */
};

enum rtu_kind {
	RJ_JOB,        /* a request */
	RJ_NOTE_UP,    /* the line was opened */
	RJ_NOTE_DOWN,  /* the line could not be opened, or broke */
};

/* What became of a job on the line. */
enum rtu_status {
	RTU_OK,         /* rsp[0..rsp_len) is the answer's PDU */
	RTU_BROADCAST,  /* sent to unit 0: nobody answers */
	RTU_TIMEOUT,    /* no whole answer in response_timeout */
	RTU_BAD_CRC,
	RTU_BAD_FRAME,  /* longer than an ADU, or shorter than possible */
	RTU_OTHER_UNIT, /* another unit answered: rsp_unit */
	RTU_LINE_DOWN,  /* the port is closed, or failed during the job */
};

struct rtu_job {
	struct rtu_job *next, *prev;  /* queue (prev too) or done list */
	enum rtu_kind kind;
	enum rtu_where where;         /* under the line's mutex */
	/* The loop thread's alone. */
	struct mb_pending *p;         /* NULL once p was answered */
	struct mb_device *dev;
	/* Written by the loop before queueing, then read by the worker. */
	uint8_t adu[1 + MB_PDU_MAX];  /* unit + PDU (libmodbus adds CRC) */
	size_t adu_len;
	/* Written by the worker, read by the loop after the handoff. */
	enum rtu_status status;
	int err;                      /* errno of a line error */
	uint8_t rsp_unit;
	uint8_t rsp[MB_PDU_MAX];
	size_t rsp_len;
	char text[200];               /* notes */
};

struct mb_line {
	struct mb_serial cfg;         /* read-only once the worker runs */
	struct mb_state *st;
	char desc[32];                /* "19200 8E1" */

	/* The loop thread's alone. */
	int refs;                     /* devices attached */
	struct event *wake;           /* on efd */
	bool down_reported;
	bool running;                 /* thread created */

	/* Shared, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;            /* a job was queued, or stop */
	bool stop;
	struct rtu_job *qhead, *qtail;
	struct rtu_job *active;
	struct rtu_job *dhead, *dtail;
	int efd;                      /* eventfd: wakes the loop */

	/* The worker's alone. */
	modbus_t *ctx;                /* NULL while the port is closed */
	double backoff;
	struct timespec quiet_until;  /* inter-frame silence, turnaround */
	pthread_t thread;
};

/* ---------------------------------------------------------------- */
/* time */

/* Monotonic time: timeouts must not jump with the wall clock. */
static void
ts_now(struct timespec *t)
{
	clock_gettime(CLOCK_MONOTONIC, t);
}

/* t += s seconds (s >= 0). */
static void
ts_add(struct timespec *t, double s)
{
	long long ns = (long long)(s * 1e9);

	t->tv_sec += (time_t)(ns / 1000000000LL);
	t->tv_nsec += (long)(ns % 1000000000LL);
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* Whether a is earlier than b. */
static bool
ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Seconds to send n characters at the line's speed. */
static double
chars_time(const struct mb_line *l, size_t n)
{
	return (double)n * RTU_CHAR_BITS / (double)l->cfg.baud;
}

/*
 * The silence that ends a frame: 3.5 characters, and a fixed 1.75 ms
 * above 19200 baud (Modbus over serial line v1.02, 2.5.1.1).
 */
static double
t35(const struct mb_line *l)
{
	return l->cfg.baud > 19200 ? 0.00175 : chars_time(l, 7) / 2;
}

/* ---------------------------------------------------------------- */
/* configuration */

static const char *const serial_keys[] = { "device", "baud", "parity",
	"stop_bits", "response_timeout", "byte_timeout", "turnaround",
	"reopen_min", "reopen_max", NULL };
/* Device keys that only mean something for a pool of TCP connections. */
static const char *const tcp_only_keys[] = { "connections", "max_inflight",
	"connect_timeout", "reconnect_min", "reconnect_max", NULL };
static const char *const parity_names[] = { "none", "even", "odd", NULL };
/*
 * Speeds libmodbus maps to termios: it silently opens any other speed at
 * 9600 baud, so they are refused here.
 */
static const int bauds[] = { 300, 600, 1200, 2400, 4800, 9600, 19200, 38400,
	57600, 115200, 230400, 460800, 921600, 0 };
static const char parity_chars[] = { 'N', 'E', 'O' };

bool
rtu_serial_same(const struct mb_serial *a, const struct mb_serial *b)
{
	return strcmp(a->path, b->path) == 0 && a->baud == b->baud &&
	       a->parity == b->parity && a->stop_bits == b->stop_bits &&
	       a->response_timeout == b->response_timeout &&
	       a->byte_timeout == b->byte_timeout &&
	       a->turnaround == b->turnaround &&
	       a->reopen_min == b->reopen_min &&
	       a->reopen_max == b->reopen_max;
}

/* "19200 8E1, response_timeout 0.5, ..." for a mismatch message. */
static void
serial_describe(const struct mb_serial *s, char *buf, size_t len)
{
	snprintf(buf, len,
		 "%d 8%c%d, response_timeout %g, byte_timeout %g, turnaround %g, reopen %g..%g",
		 s->baud, s->parity, s->stop_bits, s->response_timeout,
		 s->byte_timeout, s->turnaround, s->reopen_min, s->reopen_max);
}

int
rtu_config_read(const struct zg_host_api *api, struct zg_host *h,
		const struct zg_cfg *dev, const struct mb_state *st,
		struct mb_device *d, const char *id, int unit)
{
	const struct zg_cfg *c = api->cfg_child(dev, "serial");
	struct mb_serial sv, *s = &sv;
	const char *path, *parity;
	long long baud, stop;
	double rt, bt, ta, omin, omax;
	int r = 0, i, k;

	memset(s, 0, sizeof(*s));
	for (k = 0; tcp_only_keys[k] != NULL; k++) {
		if (api->cfg_child(dev, tcp_only_keys[k]) != NULL) {
			api->cfg_error(h, dev, tcp_only_keys[k],
				       "applies to TCP devices (address = ...) only: "
				       "a serial line carries one transaction at a time");
			r = -1;
		}
	}
	r |= api->cfg_known_keys(h, c, serial_keys);
	r |= api->cfg_string(h, c, "device", NULL, &path);
	r |= api->cfg_int(h, c, "baud", 19200, 300, 921600, &baud);
	r |= api->cfg_string(h, c, "parity", "even", &parity);
	r |= api->cfg_int(h, c, "stop_bits", 1, 1, 2, &stop);
	r |= api->cfg_double(h, c, "response_timeout", 0.5, 0.01, 10.0, &rt);
	r |= api->cfg_double(h, c, "byte_timeout", 0.05, 0.001, 1.0, &bt);
	r |= api->cfg_double(h, c, "turnaround", 0.1, 0.0, 5.0, &ta);
	r |= api->cfg_double(h, c, "reopen_min", 0.5, 0.01, 600.0, &omin);
	r |= api->cfg_double(h, c, "reopen_max", 30.0, 0.01, 3600.0, &omax);
	if (r != 0)
		return -1;
	if (path == NULL || path[0] != '/' ||
	    strlen(path) >= MB_SERIAL_PATH_MAX) {
		api->cfg_error(h, c, "device",
			       "required: serial = { device = \"/dev/ttyUSB0\"; ... }, "
			       "an absolute path of at most %d characters",
			       MB_SERIAL_PATH_MAX - 1);
		return -1;
	}
	for (k = 0; bauds[k] != 0 && bauds[k] != baud; k++)
		;
	if (bauds[k] == 0) {
		api->cfg_error(h, c, "baud",
			       "%lld is not a standard speed: use 300, 600, 1200, 2400, 4800, "
			       "9600, 19200, 38400, 57600, 115200, 230400, 460800 or 921600",
			       baud);
		return -1;
	}
	for (k = 0; parity_names[k] != NULL; k++)
		if (strcmp(parity_names[k], parity) == 0)
			break;
	if (parity_names[k] == NULL) {
		api->cfg_error(h, c, "parity",
			       "\"%s\" is not one of \"none\", \"even\", \"odd\"",
			       parity);
		return -1;
	}
	if (omin > omax) {
		api->cfg_error(h, c, "reopen_min", "must not exceed reopen_max");
		return -1;
	}
	if (unit == 0 || unit > RTU_UNIT_MAX) {
		api->cfg_error(h, dev, "unit",
			       "%d cannot address one device on a serial line "
			       "(0 is the broadcast address, 248..255 are reserved): "
			       "use 1..247, or leave unit out to keep the client's",
			       unit);
		return -1;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->baud = (int)baud;
	s->parity = parity_chars[k];
	s->stop_bits = (int)stop;
	s->response_timeout = rt;
	s->byte_timeout = bt;
	s->turnaround = ta;
	s->reopen_min = omin;
	s->reopen_max = omax;

	/* One line, one set of settings; one fixed unit, one device. */
	for (i = 0; i < st->ndevices; i++) {
		const struct mb_device *o = &st->devices[i];
		char da[160], db[160];

		if (strcmp(o->serial.path, s->path) != 0)
			continue;
		if (!rtu_serial_same(&o->serial, s)) {
			serial_describe(&o->serial, da, sizeof(da));
			serial_describe(s, db, sizeof(db));
			api->cfg_error(h, c, NULL,
				       "serial line %s is shared by devices \"%s\" (%s) and \"%s\" (%s) "
				       "with different settings: give both the same",
				       s->path, o->identity, da, id, db);
			return -1;
		}
		if (unit >= 0 && o->unit == unit) {
			api->cfg_error(h, dev, "unit",
				       "unit %d on serial line %s is already device \"%s\"",
				       unit, s->path, o->identity);
			return -1;
		}
	}
	d->serial = sv;
	/* A label for events and logs; the whole path is in d->serial. */
	snprintf(d->addr_str, sizeof(d->addr_str), "%.*s",
		 (int)sizeof(d->addr_str) - 1, s->path);
	return 0;
}

/* ---------------------------------------------------------------- */
/* the worker thread: everything here runs without the loop */

/* Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF). */
static uint16_t
crc16(const uint8_t *b, size_t n)
{
	uint16_t crc = 0xFFFF;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		crc ^= b[i];
		for (k = 0; k < 8; k++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001)
					: (uint16_t)(crc >> 1);
	}
	return crc;
}

/*
 * Hand j to the loop (lock held).  The eventfd is written only when the
 * done list was empty: the loop reads the eventfd before it takes the
 * list, so a job appended to a non-empty list is always seen.
 */
static void
done_locked(struct mb_line *l, struct rtu_job *j)
{
	uint64_t one = 1;
	bool was_empty = l->dhead == NULL;

	j->where = RJ_DONE;
	j->next = j->prev = NULL;
	if (l->dtail != NULL)
		l->dtail->next = j;
	else
		l->dhead = j;
	l->dtail = j;
	if (was_empty && write(l->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the loop is woken anyway. */
	}
}

/* A line state change for the loop to log (lock held).  Best effort. */
static void
note_locked(struct mb_line *l, enum rtu_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
note_locked(struct mb_line *l, enum rtu_kind kind, const char *fmt, ...)
{
	struct rtu_job *n = calloc(1, sizeof(*n));
	va_list ap;

	if (n == NULL)
		return;
	n->kind = kind;
	va_start(ap, fmt);
	vsnprintf(n->text, sizeof(n->text), fmt, ap);
	va_end(ap);
	done_locked(l, n);
}

/* The port is closed: every queued job fails at once (lock held). */
static void
fail_queued_locked(struct mb_line *l)
{
	while (l->qhead != NULL) {
		struct rtu_job *j = l->qhead;

		l->qhead = j->next;
		j->status = RTU_LINE_DOWN;
		j->err = 0;
		done_locked(l, j);
	}
	l->qtail = NULL;
}

/* Close the port (libmodbus restores its old termios first). */
static void
line_close(struct mb_line *l)
{
	if (l->ctx != NULL) {
		modbus_close(l->ctx);
		modbus_free(l->ctx);
		l->ctx = NULL;
	}
}

/*
 * Open and configure the port (libmodbus sets speed, framing and raw
 * mode).  Refuses a descriptor libmodbus' select() cannot watch (at or
 * above FD_SETSIZE: possible when a reopen happens while the gateway
 * holds a thousand client sockets).  0, or -1 with why[] filled.
 */
static int
line_open(struct mb_line *l, char *why, size_t len)
{
	modbus_t *ctx;
	int fd;

	ctx = modbus_new_rtu(l->cfg.path, l->cfg.baud, l->cfg.parity, 8,
			     l->cfg.stop_bits);
	if (ctx == NULL) {
		snprintf(why, len, "%s", modbus_strerror(errno));
		return -1;
	}
	if (modbus_connect(ctx) < 0) {
		snprintf(why, len, "cannot open: %s", modbus_strerror(errno));
		modbus_free(ctx);
		return -1;
	}
	fd = modbus_get_socket(ctx);
	if (fd < 0 || fd >= FD_SETSIZE) {
		snprintf(why, len,
			 "descriptor %d is beyond what libmodbus can wait on (%d)",
			 fd, FD_SETSIZE);
		modbus_close(ctx);
		modbus_free(ctx);
		return -1;
	}
	modbus_set_byte_timeout(ctx, (uint32_t)l->cfg.byte_timeout,
				(uint32_t)((l->cfg.byte_timeout -
					    (uint32_t)l->cfg.byte_timeout) * 1e6));
	tcflush(fd, TCIOFLUSH);
	l->ctx = ctx;
	ts_now(&l->quiet_until);
	ts_add(&l->quiet_until, t35(l));
	return 0;
}

/* Wait (lock held) until `until' or until the line stops. */
static void
wait_until_locked(struct mb_line *l, const struct timespec *until)
{
	struct timespec now;

	for (;;) {
		ts_now(&now);
		if (l->stop || !ts_before(&now, until))
			return;
		pthread_cond_timedwait(&l->cv, &l->mu, until);
	}
}

/*
 * Whether libmodbus' modbus_receive_confirmation() can frame the answer
 * to fc: it derives the length from the function code and knows the byte
 * count or fixed size of these (and of every exception).  For the others
 * it would stop too early or too late.
 */
static bool
libmodbus_frames(uint8_t fc)
{
	return (fc >= 1 && fc <= 7) || fc == 15 || fc == 16 || fc == 17 ||
	       fc == 22 || fc == 23;
}

/*
 * Total length (unit .. CRC) of the answer to j whose first n bytes are
 * b, for the codes libmodbus does not frame: 0 = not known yet, -1 = only
 * the silence after it tells (FC 43, codes this proxy passes opaquely).
 */
static long
expected_len(const struct rtu_job *j, const uint8_t *b, size_t n)
{
	if (n < 2)
		return 0;
	if (b[1] & 0x80)
		return 5; /* unit, fc|0x80, code, CRC */
	switch (b[1]) {
	case MB_FC_DIAGNOSTICS:
		return (long)j->adu_len + 2; /* an echo of the request */
	case MB_FC_COMM_EVENT_COUNTER:
		return 8; /* unit, fc, status, count, CRC */
	case MB_FC_COMM_EVENT_LOG:
	case MB_FC_READ_FILE:
	case MB_FC_WRITE_FILE:
		return n < 3 ? 0 : 3 + (long)b[2] + 2;
	case MB_FC_READ_FIFO:
		return n < 4 ? 0 : 4 + (long)((b[2] << 8) | b[3]) + 2;
	default:
		return -1;
	}
}

/*
 * Read one answer for a code libmodbus cannot frame: by its length where
 * the code fixes it, else up to byte_timeout of silence.  Returns the
 * frame length, or -1 with errno ETIMEDOUT (nothing came), EMBBADDATA
 * (too long, or cut short), or the error of the port.
 */
static int
read_frame(struct mb_line *l, const struct rtu_job *j, uint8_t *buf,
	   size_t cap, double first)
{
	int fd = modbus_get_socket(l->ctx);
	int wait_ms = (int)(first * 1000.0) + 1;
	size_t n = 0;
	long want = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int rc = poll(&pfd, 1, wait_ms);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (n == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (want < 0 && n >= 4)
				return (int)n; /* the silence ends it */
			errno = EMBBADDATA;
			return -1;
		}
		if (!(pfd.revents & POLLIN)) {
			errno = EIO; /* hang-up or error, nothing to read */
			return -1;
		}
		r = read(fd, buf + n, cap - n);
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		n += (size_t)r;
		want = expected_len(j, buf, n);
		if (want > 0 && n >= (size_t)want)
			return (int)want; /* any excess is flushed later */
		if (n >= cap) {
			errno = EMBBADDATA;
			return -1;
		}
		wait_ms = (int)(l->cfg.byte_timeout * 1000.0) + 1;
	}
}

/*
 * One transaction: wait for the line to be quiet, drop stale input, send
 * the request (libmodbus appends the CRC), and read the answer unless it
 * was a broadcast.  The response timeout counts from the end of sending.
 */
static void
transact(struct mb_line *l, struct rtu_job *j)
{
	uint8_t unit = j->adu[0], rsp[RTU_ADU_MAX];
	double tx = chars_time(l, j->adu_len + 2);
	double first = l->cfg.response_timeout + tx;
	bool stopping;
	int n;

	pthread_mutex_lock(&l->mu);
	wait_until_locked(l, &l->quiet_until);
	stopping = l->stop;
	pthread_mutex_unlock(&l->mu);
	if (stopping) {
		j->status = RTU_LINE_DOWN;
		j->err = ECANCELED;
		return;
	}
	/* A late answer or noise must not pass for this answer. */
	tcflush(modbus_get_socket(l->ctx), TCIFLUSH);
	modbus_set_slave(l->ctx, unit);
	modbus_set_response_timeout(l->ctx, (uint32_t)first,
				    (uint32_t)((first - (uint32_t)first) * 1e6));
	if (modbus_send_raw_request(l->ctx, j->adu, (int)j->adu_len) < 0) {
		j->status = RTU_LINE_DOWN;
		j->err = errno;
		return;
	}
	if (unit == 0) {
		/* Broadcast: nobody answers; give the units time to act. */
		j->status = RTU_BROADCAST;
		ts_now(&l->quiet_until);
		ts_add(&l->quiet_until, tx + l->cfg.turnaround);
		return;
	}
	if (libmodbus_frames(j->adu[1]))
		n = modbus_receive_confirmation(l->ctx, rsp);
	else
		n = read_frame(l, j, rsp, sizeof(rsp), first);
	j->err = errno;
	ts_now(&l->quiet_until);
	ts_add(&l->quiet_until, t35(l));
	if (n < 0) {
		if (j->err == ETIMEDOUT)
			j->status = RTU_TIMEOUT;
		else if (j->err == EMBBADCRC)
			j->status = RTU_BAD_CRC;
		else if (j->err == EMBBADDATA)
			j->status = RTU_BAD_FRAME;
		else
			j->status = RTU_LINE_DOWN;
		return;
	}
	j->rsp_unit = rsp[0];
	if (n == 0) {
		/* libmodbus returns 0 for a frame of another unit. */
		j->status = RTU_OTHER_UNIT;
		return;
	}
	if (n < 4 || n - 3 > MB_PDU_MAX) {
		j->status = RTU_BAD_FRAME;
		return;
	}
	if (crc16(rsp, (size_t)n - 2) !=
	    (uint16_t)(rsp[n - 2] | (rsp[n - 1] << 8))) {
		j->status = RTU_BAD_CRC; /* libmodbus checked; read_frame not */
		return;
	}
	if (rsp[0] != unit) {
		j->status = RTU_OTHER_UNIT; /* also 0, which libmodbus lets by */
		return;
	}
	j->status = RTU_OK;
	j->rsp_len = (size_t)n - 3;
	memcpy(j->rsp, rsp + 1, j->rsp_len);
}

/*
 * The worker: open the port (again after a failure, with backoff), then
 * take queued jobs one at a time.  The mutex is held except around the
 * port I/O, so the loop never waits for the line, only for a few list
 * operations.  While the port is closed, queued jobs fail at once.
 */
static void *
line_main(void *arg)
{
	struct mb_line *l = arg;
	struct timespec next_open, now;
	char why[160];

	ts_now(&next_open);
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		struct rtu_job *j;
		bool failed;

		if (l->ctx == NULL) {
			ts_now(&now);
			if (ts_before(&now, &next_open)) {
				fail_queued_locked(l);
				pthread_cond_timedwait(&l->cv, &l->mu, &next_open);
				continue;
			}
			pthread_mutex_unlock(&l->mu);
			if (line_open(l, why, sizeof(why)) < 0) {
				pthread_mutex_lock(&l->mu);
				note_locked(l, RJ_NOTE_DOWN, "%s; retrying in %.1fs",
					    why, l->backoff);
				ts_now(&next_open);
				ts_add(&next_open, l->backoff);
				l->backoff *= 2;
				if (l->backoff > l->cfg.reopen_max)
					l->backoff = l->cfg.reopen_max;
				continue;
			}
			pthread_mutex_lock(&l->mu);
			l->backoff = l->cfg.reopen_min;
			note_locked(l, RJ_NOTE_UP, "open");
			continue;
		}
		if (l->qhead == NULL) {
			pthread_cond_wait(&l->cv, &l->mu);
			continue;
		}
		j = l->qhead;
		l->qhead = j->next;
		if (l->qhead != NULL)
			l->qhead->prev = NULL;
		else
			l->qtail = NULL;
		j->next = j->prev = NULL;
		j->where = RJ_ACTIVE;
		l->active = j;
		pthread_mutex_unlock(&l->mu);

		transact(l, j);
		failed = j->status == RTU_LINE_DOWN && j->err != ECANCELED;
		if (failed)
			line_close(l); /* unlocked: close() may wait for output */

		pthread_mutex_lock(&l->mu);
		l->active = NULL;
		if (failed) {
			note_locked(l, RJ_NOTE_DOWN, "%s; reopening in %.1fs",
				    modbus_strerror(j->err), l->backoff);
			ts_now(&next_open);
			ts_add(&next_open, l->backoff);
		}
		done_locked(l, j);
	}
	pthread_mutex_unlock(&l->mu);
	line_close(l);
	return NULL;
}

/* ---------------------------------------------------------------- */
/* the loop side */

/* A few words for a job's result, for logs and events. */
static const char *
status_str(enum rtu_status st)
{
	switch (st) {
	case RTU_OK: return "an answer";
	case RTU_BROADCAST: return "broadcast sent";
	case RTU_TIMEOUT: return "no answer";
	case RTU_BAD_CRC: return "a bad CRC";
	case RTU_BAD_FRAME: return "a frame of impossible length";
	case RTU_OTHER_UNIT: return "an answer from another unit";
	case RTU_LINE_DOWN: return "line down";
	}
	return "?";
}

/* "meter-7 (unit 7), meter-8 (unit 8)": the devices on l. */
static void
line_devices(const struct mb_line *l, char *buf, size_t len)
{
	const struct mb_state *st = l->st;
	size_t off = 0;
	int i, w;

	buf[0] = '\0';
	for (i = 0; i < st->ndevices && off < len; i++) {
		const struct mb_device *d = &st->devices[i];

		if (d->line != l)
			continue;
		if (d->unit >= 0)
			w = snprintf(buf + off, len - off, "%s%s (unit %d)",
				     off ? ", " : "", d->identity, d->unit);
		else
			w = snprintf(buf + off, len - off, "%s%s (client's unit)",
				     off ? ", " : "", d->identity);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/*
 * A note from the worker: the line opened (info), or failed.  The first
 * failure after the line was up (or at start) is a warning and raises
 * modbus.device_down; the retries that follow are debug lines, so a port
 * that stays away does not flood the log or the threat engine.
 */
static void
line_note(struct mb_line *l, const struct rtu_job *n)
{
	struct mb_state *st = l->st;
	char devs[512];

	line_devices(l, devs, sizeof(devs));
	if (n->kind == RJ_NOTE_UP) {
		st->api->log(st->h, ZG_LOG_INFO, "serial line %s (%s) open for %s",
			     l->cfg.path, l->desc, devs);
		l->down_reported = false;
		return;
	}
	if (l->down_reported) {
		st->api->log(st->h, ZG_LOG_DEBUG, "serial line %s: %s",
			     l->cfg.path, n->text);
		return;
	}
	l->down_reported = true;
	st->api->log(st->h, ZG_LOG_WARN, "serial line %s (%s): %s", l->cfg.path,
		     l->desc, n->text);
	mb_event(st, "modbus.device_down", ZG_SEV_MEDIUM, NULL, NULL, NULL,
		 "serial line %s of %s: %s; requests are answered 0x0B until it is back",
		 l->cfg.path, devs, n->text);
}

/*
 * The worker's verdict on one request, to its client: a checked answer,
 * or 0x0B with an event saying what went wrong on the line.
 */
static void
job_answer(struct mb_line *l, struct rtu_job *j, struct mb_pending *p)
{
	struct mb_device *d = p->dev;
	const char *why = NULL;
	char desc[160];

	mb_describe(&p->req, desc, sizeof(desc));
	switch (j->status) {
	case RTU_OK:
		if (mb_check_response(&p->req, j->rsp, j->rsp_len, &why) ==
		    MB_RESP_MALFORMED) {
			d->bad_responses++;
			mb_event(d->st, "modbus.malformed_response", ZG_SEV_MEDIUM,
				 p->sess, d->identity, NULL,
				 "device %s answered %s with a malformed response (%s): "
				 "dropped, client answered 0x0B",
				 d->identity, desc, why ? why : "?");
			break;
		}
		d->forwarded++;
		mb_complete(p, j->rsp, j->rsp_len);
		return;
	case RTU_BROADCAST:
		d->forwarded++;
		mb_complete(p, NULL, 0);
		return;
	case RTU_TIMEOUT:
		d->timeouts++;
		mb_event(d->st, "modbus.device_timeout", ZG_SEV_LOW, p->sess,
			 d->identity, NULL,
			 "device %s (serial line %s unit %u) did not answer %s within %.3fs",
			 d->identity, l->cfg.path, j->adu[0], desc,
			 l->cfg.response_timeout);
		break;
	case RTU_BAD_CRC:
	case RTU_BAD_FRAME:
		d->bad_responses++;
		mb_event(d->st, "modbus.device_framing_error", ZG_SEV_MEDIUM,
			 p->sess, d->identity, NULL,
			 "device %s (serial line %s unit %u) answered %s with %s: dropped",
			 d->identity, l->cfg.path, j->adu[0], desc,
			 status_str(j->status));
		break;
	case RTU_OTHER_UNIT:
		d->unsolicited++;
		mb_event(d->st, "modbus.response_mismatch", ZG_SEV_MEDIUM,
			 p->sess, d->identity, NULL,
			 "serial line %s: unit %u answered %s, which went to unit %u: dropped",
			 l->cfg.path, j->rsp_unit, desc, j->adu[0]);
		break;
	case RTU_LINE_DOWN:
		break; /* the line's note says why */
	}
	mb_complete_exception(p, MB_EX_GATEWAY_TARGET_NO_RESPONSE);
}

/* The eventfd fired: everything the worker handed back. */
static void
line_wakeup(evutil_socket_t fd, short what, void *arg)
{
	struct mb_line *l = arg;
	struct rtu_job *list, *j;
	uint64_t v;

	(void)what;
	/* Read first, then take the list: see done_locked(). */
	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a previous wake-up took the jobs already. */
	}
	pthread_mutex_lock(&l->mu);
	list = l->dhead;
	l->dhead = l->dtail = NULL;
	pthread_mutex_unlock(&l->mu);
	while ((j = list) != NULL) {
		struct mb_pending *p = j->p;

		list = j->next;
		if (j->kind != RJ_JOB) {
			line_note(l, j);
		} else if (p != NULL) {
			j->p = NULL;
			p->job = NULL;
			p->dev->qlen--;
			job_answer(l, j, p);
		} else {
			/* A late answer means request_timeout is too short
			 * for this line: worth an info line. */
			l->st->api->log(l->st->h,
					j->status == RTU_OK ? ZG_LOG_INFO : ZG_LOG_DEBUG,
					"serial line %s: unit %u: %s for a request already "
					"given up (request_timeout): dropped",
					l->cfg.path, j->adu[0], status_str(j->status));
		}
		free(j);
	}
}

/* Unlink queued job j from l's queue; the caller holds l->mu. */
static void
job_unlink(struct mb_line *l, struct rtu_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		l->qhead = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	else
		l->qtail = j->prev;
}

/*
 * Forget p's job (loop thread).  A queued job is unlinked and freed; one
 * the worker holds, or that waits in the done list, only loses p and is
 * freed when it comes back, unless only_queued: then it keeps p.
 * Returns whether the job was still queued.
 */
static bool
job_detach(struct mb_pending *p, bool only_queued)
{
	struct rtu_job *j = p->job;
	struct mb_line *l = p->dev->line;
	bool queued;

	/* Checked and unlinked under one lock: the worker cannot take the
	 * job in between. */
	pthread_mutex_lock(&l->mu);
	queued = j->where == RJ_QUEUED;
	if (queued)
		job_unlink(l, j);
	if (queued || !only_queued)
		j->p = NULL;
	pthread_mutex_unlock(&l->mu);
	if (!queued && only_queued)
		return false;
	if (queued)
		free(j);
	p->job = NULL;
	p->dev->qlen--;
	return queued;
}

void
rtu_pending_detach(struct mb_pending *p)
{
	if (p->job != NULL)
		job_detach(p, false);
}

bool
rtu_pending_cancel(struct mb_pending *p)
{
	return p->job != NULL && job_detach(p, true);
}

void
rtu_pending_timeout(struct mb_pending *p)
{
	struct mb_device *d = p->dev;
	char desc[160];
	bool queued = p->job != NULL && job_detach(p, false);

	d->timeouts++;
	mb_describe(&p->req, desc, sizeof(desc));
	mb_event(d->st, "modbus.device_timeout", ZG_SEV_LOW, p->sess,
		 d->identity, NULL,
		 "device %s (serial line %s) did not answer %s within %.3fs%s",
		 d->identity, d->serial.path, desc, d->request_timeout,
		 queued ? " (still queued behind other requests on the line)" : "");
	mb_complete_exception(p, MB_EX_GATEWAY_TARGET_NO_RESPONSE);
}

int
rtu_submit(struct mb_device *d, struct mb_pending *p)
{
	struct mb_line *l = d->line;
	unsigned unit = d->unit >= 0 ? (unsigned)d->unit : p->client_unit;
	struct rtu_job *j;
	int n;

	if (unit > RTU_UNIT_MAX) {
		char desc[160];

		mb_describe(&p->req, desc, sizeof(desc));
		mb_event(d->st, "modbus.no_route", ZG_SEV_LOW, p->sess,
			 d->identity, NULL,
			 "%s: unit %u cannot be addressed on serial line %s "
			 "(248..255 are reserved)", desc, unit, d->serial.path);
		mb_complete_exception(p, MB_EX_GATEWAY_PATH_UNAVAILABLE);
		return 0;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -1;
	n = mb_build_request(&p->req, j->adu + 1, sizeof(j->adu) - 1);
	if (n < 0) {
		free(j);
		mb_complete_exception(p, MB_EX_SERVER_DEVICE_FAILURE);
		return 0;
	}
	j->kind = RJ_JOB;
	j->adu[0] = (uint8_t)unit;
	j->adu_len = 1 + (size_t)n;
	j->p = p;
	j->dev = d;
	p->job = j;
	d->qlen++;
	pthread_mutex_lock(&l->mu);
	j->where = RJ_QUEUED;
	j->prev = l->qtail;
	if (l->qtail != NULL)
		l->qtail->next = j;
	else
		l->qhead = j;
	l->qtail = j;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

/*
 * Stop the worker and free l.  The worker finishes the transaction under
 * way (at most about response_timeout) and exits; every job left has lost
 * its request already (each device detached its own), so they are freed
 * without an answer.
 */
static void
line_free(struct mb_line *l)
{
	struct rtu_job *lists[2], *j;
	int i;

	if (l->running) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	lists[0] = l->qhead;
	lists[1] = l->dhead;
	for (i = 0; i < 2; i++) {
		while ((j = lists[i]) != NULL) {
			lists[i] = j->next;
			free(j);
		}
	}
	if (l->wake != NULL)
		event_free(l->wake);
	if (l->efd >= 0)
		close(l->efd);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* A new line for d's settings, its worker running.  NULL on failure. */
static struct mb_line *
line_new(struct mb_device *d)
{
	struct mb_state *st = d->st;
	struct mb_line *l = calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	if (l == NULL)
		return NULL;
	l->cfg = d->serial;
	l->st = st;
	l->efd = -1;
	l->backoff = l->cfg.reopen_min;
	snprintf(l->desc, sizeof(l->desc), "%d 8%c%d", l->cfg.baud,
		 l->cfg.parity, l->cfg.stop_bits);
	pthread_mutex_init(&l->mu, NULL);
	/* Timed waits on the monotonic clock: immune to clock steps. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->efd < 0)
		goto fail;
	l->wake = event_new(st->base, l->efd, EV_READ | EV_PERSIST,
			    line_wakeup, l);
	if (l->wake == NULL || event_add(l->wake, NULL) < 0)
		goto fail;
	/* The worker takes no signals: the loop handles them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&l->thread, NULL, line_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	l->running = true;
	pthread_setname_np(l->thread, "zg-rtu");
	return l;
fail:
	st->api->log(st->h, ZG_LOG_ERR, "serial line %s: cannot start: %s",
		     l->cfg.path, strerror(errno));
	line_free(l);
	return NULL;
}

int
rtu_device_start(struct mb_device *d)
{
	struct mb_state *st = d->st;
	int i;

	for (i = 0; i < st->ndevices; i++) {
		struct mb_device *o = &st->devices[i];

		if (o != d && o->line != NULL &&
		    strcmp(o->serial.path, d->serial.path) == 0) {
			d->line = o->line;
			d->line->refs++;
			return 0;
		}
	}
	d->line = line_new(d);
	if (d->line == NULL)
		return -1;
	d->line->refs = 1;
	return 0;
}

void
rtu_device_stop(struct mb_device *d)
{
	struct mb_line *l = d->line;
	struct mb_pending *answer = NULL, *p;
	struct rtu_job *j, *next, *drop = NULL;

	if (l == NULL)
		return;
	/*
	 * In one critical section, so that no job of d can move from the
	 * queue to the worker unseen: queued jobs of d are unlinked (and
	 * freed below), the one the worker holds and those in the done list
	 * lose their request.  Every request of d is answered 0x0B.
	 */
	pthread_mutex_lock(&l->mu);
	for (j = l->qhead; j != NULL; j = next) {
		next = j->next;
		if (j->dev != d)
			continue;
		if (j->prev != NULL)
			j->prev->next = j->next;
		else
			l->qhead = j->next;
		if (j->next != NULL)
			j->next->prev = j->prev;
		else
			l->qtail = j->prev;
		j->next = drop;
		drop = j;
	}
	for (j = drop; j != NULL; j = j->next) {
		if (j->p != NULL) {
			j->p->next = answer;
			answer = j->p;
			j->p = NULL;
		}
	}
	for (j = l->active; j != NULL; j = NULL) {
		if (j->dev == d && j->p != NULL) {
			j->p->next = answer;
			answer = j->p;
			j->p = NULL;
		}
	}
	for (j = l->dhead; j != NULL; j = j->next) {
		if (j->kind == RJ_JOB && j->dev == d && j->p != NULL) {
			j->p->next = answer;
			answer = j->p;
			j->p = NULL;
		}
	}
	pthread_mutex_unlock(&l->mu);
	while ((j = drop) != NULL) {
		drop = j->next;
		free(j);
	}
	while ((p = answer) != NULL) {
		answer = p->next;
		p->next = NULL;
		p->job = NULL;
		d->qlen--;
		mb_complete_exception(p, MB_EX_GATEWAY_TARGET_NO_RESPONSE);
	}
	d->line = NULL;
	if (--l->refs == 0)
		line_free(l);
}
