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
#include "plugins/modbus/rtu.h"

struct bufferevent;
struct event;
struct mb_state;
struct mb_session;

#define MB_ID_MAX 256
#define MB_PEER_MAX 64

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
	struct bufferevent *bev;
	enum { MBC_DOWN, MBC_CONNECTING, MBC_UP } state;
	struct event *retry;          /* reconnect timer */
	double backoff;
	int inflight;
	int consecutive_timeouts;
	struct mb_pending *sent;      /* requests on the wire, list */
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
	struct bufferevent *bev;      /* plaintext side (owned by tls if set) */
	struct zg_tls *tls;           /* Modbus/TCP Security session, or NULL */
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

/* device.c */
int mb_device_start(struct mb_device *d);
void mb_device_stop(struct mb_device *d);
/* Queue p (built request inside) for d; -1 when the queue is full. */
int mb_device_submit(struct mb_device *d, struct mb_pending *p);
/* The client of p has gone: forget it but let the device finish. */
void mb_pending_orphan(struct mb_pending *p);
void mb_pending_free(struct mb_pending *p);

#endif /* ZG_MBPROXY_H */
