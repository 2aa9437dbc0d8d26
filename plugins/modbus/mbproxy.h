/*
 * mbproxy: the zero-trust Modbus/TCP proxy of the modbus plugin.
 *
 *   client --MBAP--> session --frame, classify, decide--> device queue
 *   device queue --re-originated request, new tid--> device connection
 *   device connection --validated response, client tid--> session
 *
 * modbus.c reads the plugin's configuration into the structs below;
 * proxy.c runs client sessions; device.c runs the shared connections to
 * each device; rtu.c runs serial (RTU) lines.  Everything runs on the
 * host's event loop, except the blocking serial I/O of rtu.c, which has a
 * worker thread per line that sees nothing of these structs.
 */
#ifndef ZG_MBPROXY_H
#define ZG_MBPROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <zonegate/plugin.h>

#include "plugins/modbus/mbap.h"
#include "plugins/modbus/pdu.h"
#include "plugins/modbus/points.h"
#include "plugins/modbus/rtu.h"

struct bufferevent;
struct event;
struct evbuffer;
struct mb_state;
struct mb_session;
struct mb_poller;
struct mb_cmdsrv;

#define MB_ID_MAX 256
#define MB_PEER_MAX 64
/* Timed-out transaction ids kept per device connection (then reconnect). */
#define MB_DEAD_TIDS 32

/* What a denied request gets. */
enum mb_deny_action {
	MB_DENY_EX01 = 0, /* exception 0x01 illegal function (default) */
	MB_DENY_EX02 = 1, /* exception 0x02 illegal data address */
	MB_DENY_EX0B = 2, /* exception 0x0B gateway target failed */
	MB_DENY_CLOSE = 3, /* close the connection */
};

/* A device the proxy forwards to, with its shared connection pool. */
struct mb_device {
	struct mb_state *st;
	char identity[MB_ID_MAX];     /* the policy's device identity */
	char addr_str[MB_PEER_MAX];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int unit;                     /* unit id to use (-1 = client's) */
	int nconns;                   /* pool size */
	int max_inflight;             /* per connection */
	int queue_max;                /* waiting requests, all clients */
	double request_timeout;
	struct timeval timeout_tv;    /* request_timeout as a common timeout */
	double connect_timeout;
	double backoff_min, backoff_max;

	struct mb_conn *conns;        /* [nconns] */
	struct mb_pending *qhead, *qtail; /* waiting for a connection */
	int qlen;                     /* serial: queued or on the line */
	struct mb_serial serial;      /* serial device: path != "" (rtu.c) */
	struct mb_line *line;         /* serial device: its shared line */
	uint16_t next_tid;
	uint64_t forwarded, timeouts, bad_responses, unsolicited;
};

/* One connection of a device pool. */
struct mb_conn {
	struct mb_device *dev;
	int idx;
	/*
	 * The connection does its own socket I/O (no bufferevent): one recv()
	 * per readable event into `in', requests sent from obuf at the end of
	 * a loop turn, and only what the kernel does not take waits in `out'.
	 */
	int fd;                       /* -1 while down */
	struct event *rd_ev;          /* persistent read, while up */
	struct event *wr_ev;          /* connect completion, then backlog */
	struct evbuffer *out;         /* requests not yet taken by the kernel */
	uint8_t *in;                  /* [(max_inflight + 1) * MBAP_ADU_MAX] */
	size_t in_len;
	enum { MBC_DOWN, MBC_CONNECTING, MBC_UP } state;
	struct event *retry;          /* reconnect timer */
	double backoff;
	int inflight;
	int consecutive_timeouts;
	struct mb_pending *sent;      /* requests on the wire, list */
	/*
	 * Requests built in one turn of the event loop are written together
	 * at its end (one send for all the clients served in that turn):
	 * obuf holds them, flush_ev is made active when the first arrives.
	 */
	uint8_t *obuf;                /* [max_inflight * MBAP_ADU_MAX] */
	size_t olen;
	struct event *flush_ev;
	/*
	 * Transaction ids of requests that timed out: the device may still
	 * answer them late, so they are not reused on this connection (a
	 * late answer must never be taken for the answer to a new request)
	 * until it is reconnected.
	 */
	uint16_t dead_tid[MB_DEAD_TIDS];
	int ndead;
};

/* One request travelling from a client to a device and back. */
struct mb_pending {
	struct mb_device *dev;
	struct mb_conn *conn;         /* NULL while queued */
	struct mb_session *sess;      /* NULL once the client has gone */
	uint16_t client_tid;
	uint8_t client_unit;
	uint16_t dev_tid;
	struct mb_request req;
	struct event *timer;
	struct timespec t_start;
	struct mb_pending *next;      /* queue / sent list */
	struct mb_pending *snext;     /* session's list */
	struct rtu_job *job;          /* serial: its job on the line, or NULL */
	/*
	 * A request of the gateway's own (the poller), not of a client
	 * session: sess is NULL and done() is called instead of answering a
	 * client, with the device's response PDU (local = 0), or with
	 * pdu = NULL and the exception code the gateway answers for the
	 * device (local = 0x0B: no answer in time or no connection, ...).
	 * p is freed right after done() returns.
	 */
	void (*done)(struct mb_pending *p, const uint8_t *pdu, size_t len,
		     uint8_t local);
	void *done_arg;
};

/* A routing entry of a listener: units lo..hi go to dev. */
struct mb_route {
	uint8_t lo, hi;
	struct mb_device *dev;
};

struct mb_listener {
	struct mb_state *st;
	char addr[MB_PEER_MAX];
	struct zg_listener *zl;
	struct mb_route *routes;
	int nroutes;
	int deny_action;              /* enum mb_deny_action */
	int max_conns_per_source;
	int max_outstanding;          /* per identity */
	double rate;                  /* requests per second per identity, 0 = off */
	double burst;
	double idle_timeout;          /* seconds, 0 = none */
	double frame_timeout;         /* half-open frame, seconds */
	int max_denials;              /* per second and session, 0 = no limit */
	struct zg_tls_ctx *tls;       /* Modbus/TCP Security, or NULL */
	struct mb_listener *next;
};

/* Per-identity accounting shared by all of its sessions. */
struct mb_ident {
	char identity[MB_ID_MAX];
	int sessions;
	int outstanding;
	int waiting;                  /* sessions paused at max_outstanding */
	double tokens;
	struct timespec last;
	struct mb_ident *next;
};

struct mb_session {
	struct mb_state *st;
	struct mb_listener *lst;
	struct bufferevent *bev;      /* TLS: plaintext side (owned by tls) */
	struct zg_tls *tls;           /* Modbus/TCP Security session, or NULL */
	/*
	 * A plain session does its own socket I/O (no bufferevent): one
	 * recv() per readable event into `in', answers sent at once, and
	 * only what the kernel does not take waits in `out'.
	 */
	int fd;                       /* plain: the client socket, or -1 */
	struct event *rd_ev;          /* plain: persistent read event */
	struct event *wr_ev;          /* plain: armed while out has data */
	struct evbuffer *out;         /* plain: answers not yet sent */
	uint8_t *in;                  /* plain: [MB_INPUT_HIGHWATER] */
	size_t in_len;
	bool handshaking;             /* TLS: identity not known yet */
	char peer[MB_PEER_MAX];
	struct sockaddr_storage peer_sa;
	char identity[MB_ID_MAX];     /* "" when unknown */
	int assurance;                /* enum zg_assurance */
	const char *role;             /* points into role_buf, or NULL */
	char role_buf[MB_ID_MAX];
	struct mb_ident *ident;
	struct event *frame_timer;    /* half-open frame */
	struct event *idle_timer;
	struct mb_pending *pending;   /* outstanding requests */
	int outstanding;
	time_t denial_sec;            /* denial counting window (monotonic s) */
	int denials;
	bool read_paused;             /* client does not read its answers */
	bool wait_outstanding;        /* identity at max_outstanding */
	struct event *resume_ev;      /* deferred resume of reading */
	bool closing;
	struct timespec started;      /* accepted (monotonic): status.c */
	uint64_t nrequests, ndenied;  /* framed requests, refused ones */
	struct mb_session *next;
};

struct mb_state {
	const struct zg_host_api *api;
	struct zg_host *h;
	struct event_base *base;
	struct mb_listener *listeners;
	struct mb_device *devices;    /* [ndevices] */
	int ndevices;
	struct mb_session *sessions;
	int nsessions;
	struct mb_ident *idents;
	struct mb_poller *poller;     /* poll = { ... } (poller.c), or NULL */
	struct mb_cmdsrv *cmdsrv;     /* commands = { ... } (command.c), or NULL */
	bool draining;
};

/* Seconds as a timeval (timeouts in the config are fractional seconds). */
static inline struct timeval
tv_of(double s)
{
	struct timeval tv;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* modbus.c */
int mb_config_read(const struct zg_host_api *api, struct zg_host *h,
		   const struct zg_cfg *cfg, struct mb_state *st);
void mb_state_clear(struct mb_state *st);

/* proxy.c */
void mb_accept(int fd, const struct sockaddr *peer, socklen_t peerlen,
	       void *arg);
void mb_session_close(struct mb_session *s, const char *why);
/* A device answered (or failed): send to the client, free p. */
void mb_complete(struct mb_pending *p, const uint8_t *pdu, size_t len);
void mb_complete_exception(struct mb_pending *p, uint8_t code);
void mb_event(struct mb_state *st, const char *kind, int sev,
	      const struct mb_session *s, const char *target,
	      const struct zg_verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* The same for an event about one request (zg_event.op). */
void mb_event_op(struct mb_state *st, const char *kind, int sev,
		 const struct mb_session *s, const char *target,
		 const struct zg_verdict *v, const struct zg_op *op,
		 const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* status.c: zg_plugin.status (live sessions, device pools). */
void mb_status(void *state, const struct zg_status_out *out);

/* device.c */
int mb_device_start(struct mb_device *d);
void mb_device_stop(struct mb_device *d);
/* Queue p (built request inside) for d; -1 when the queue is full. */
int mb_device_submit(struct mb_device *d, struct mb_pending *p);
/* The client of p has gone: forget it but let the device finish. */
void mb_pending_orphan(struct mb_pending *p);
void mb_pending_free(struct mb_pending *p);

/* poller.c: the poll section (docs/modbus.md, docs/telemetry.md) */
/*
 * Read the `poll' group of the plugin's config against st's devices (read
 * first) into *out (NULL when there is none).  Errors go to the host's
 * config errors with file:line:key.  0 or -1 (*out then NULL).
 */
int mb_poll_config_read(const struct zg_host_api *api, struct zg_host *h,
			const struct zg_cfg *poll, struct mb_state *st,
			struct mb_poller **out);
/* Start polling: timers armed, devices of st looked up by identity. */
int mb_poller_start(struct mb_poller *pl, struct mb_state *st);
/* Stop and free; requests still at a device complete without it. */
void mb_poller_free(struct mb_poller *pl);
/*
 * The point `name' of device `device' in pl's groups (NULL pl: none):
 * its definition (borrowed from pl), the unit its group reads, and
 * whether it may be written.  0, or -1 when there is no such point.
 */
int mb_poll_find_point(const struct mb_poller *pl, const char *device,
		       const char *name, const struct pt_def **def,
		       uint8_t *unit, bool *writable);

/* command.c: write-back commands on named points (docs/modbus.md) */
int mb_cmd_config_read(const struct zg_host_api *api, struct zg_host *h,
		       const struct zg_cfg *c, struct mb_cmdsrv **out);
bool mb_cmd_same(const struct mb_cmdsrv *a, const struct mb_cmdsrv *b);
int mb_cmd_start(struct mb_cmdsrv *srv, struct mb_state *st);
/* Close its sessions; writes at a device complete unheard. */
void mb_cmd_free(struct mb_cmdsrv *srv);

#endif /* ZG_MBPROXY_H */
