/*
 * rtu: Modbus RTU serial lines behind the proxy (a Modbus/TCP -> RTU
 * gateway with policy in front of it).
 *
 *   device.c --submit--> line queue --worker thread (libmodbus, blocking)
 *   worker --result--> done list + eventfd --> loop: check, answer client
 *
 * Several devices (unit ids) may share one line (one serial port path):
 * they share one struct mb_line, one worker thread and one FIFO queue, and
 * the line does one transaction at a time.  The worker never touches a
 * struct mb_pending, the host API or libevent: it only reads and writes
 * its own struct rtu_job, so a request that the loop answered (deadline,
 * shutdown) while the worker still holds its job cannot be used after
 * free.  See rtu.c for the handoff.
 */
#ifndef ZG_MB_RTU_H
#define ZG_MB_RTU_H

#include <stdbool.h>

#include <zonegate/plugin.h>

struct mb_device;
struct mb_pending;
struct mb_state;
struct mb_line;
struct rtu_job;

#define MB_SERIAL_PATH_MAX 256

/* The settings of one serial line, as configured (`serial = { ... }'). */
struct mb_serial {
	char path[MB_SERIAL_PATH_MAX]; /* "" for a TCP device */
	int baud;
	char parity;                  /* 'N', 'E' or 'O' */
	int stop_bits;                /* 1 or 2 (8 data bits, always) */
	double response_timeout;      /* first byte of an answer, seconds */
	double byte_timeout;          /* silence inside an answer, seconds */
	double turnaround;            /* pause after a broadcast, seconds */
	double reopen_min, reopen_max; /* backoff after a line error */
};

/*
 * Read the `serial' group of the device node `dev' (its identity is id,
 * its `unit' setting unit, -1 = the client's) into d->serial and
 * d->addr_str.  Refuses unknown keys, the TCP-only keys of the device
 * (connections, max_inflight, connect_timeout, reconnect_*), a fixed unit
 * outside 1..247 (0 is the broadcast address, 248..255 are reserved on a
 * serial line), and a line that an earlier device of st uses with other
 * settings or with the same fixed unit (the error names both devices).
 * Every error goes to the host's config errors.  0 or -1.
 */
int rtu_config_read(const struct zg_host_api *api, struct zg_host *h,
		    const struct zg_cfg *dev, const struct mb_state *st,
		    struct mb_device *d, const char *id, int unit);

/* Whether two devices' line settings are the same (for reload). */
bool rtu_serial_same(const struct mb_serial *a, const struct mb_serial *b);

/*
 * Attach d (a serial device of d->st, configured) to the line of its
 * path: the line of an earlier started device with that path, or a new
 * one (worker thread started, the port is opened by the worker).  0 or -1.
 */
int rtu_device_start(struct mb_device *d);

/*
 * Detach d from its line: every request of d still queued or in the
 * worker's hands is answered 0x0B now; the last device of a line stops
 * its worker (waiting at most for the transaction under way: about
 * response_timeout) and frees the line.  Safe on a device never started.
 */
void rtu_device_stop(struct mb_device *d);

/*
 * Queue p (timer armed by the caller) on d's line.  A request the line
 * cannot carry is answered at once (unit 248..255: exception 0x0A; a
 * request that cannot be re-originated: 0x04) and 0 is returned, as for
 * a queued one.  -1 (p untouched, nothing queued) only when out of memory.
 * The caller checked d->queue_max.
 */
int rtu_submit(struct mb_device *d, struct mb_pending *p);

/* p's deadline passed: forget its job, answer the client 0x0B, free p. */
void rtu_pending_timeout(struct mb_pending *p);

/*
 * p is being freed: make its job (if any) forget it.  The job is freed
 * here if the worker has not taken it yet, otherwise when the worker
 * hands it back.
 */
void rtu_pending_detach(struct mb_pending *p);

/*
 * The client of p has gone: if p's job still waits in the line's queue
 * it is unlinked and freed, and true is returned (the caller frees p).
 * A job the worker already holds is left alone (false): its frame is on
 * the line and its answer completes p without a client.
 */
bool rtu_pending_cancel(struct mb_pending *p);

#endif /* ZG_MB_RTU_H */
