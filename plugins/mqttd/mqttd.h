/*
 * mqttd.h: the southbound MQTT broker plugin: shared types of its
 * configuration (mqttd.c) and its broker (broker.c).
 *
 * Ownership: a struct mq_state owns listeners, connections, sessions and
 * retained messages.  A connection (struct mq_conn) is one socket; a
 * session (struct mq_sess) is the MQTT session state of one client id,
 * which outlives its connection when the client asked for a persistent
 * session.  Messages (struct mq_amsg) are reference-counted and shared by
 * every queue and the retained store that hold them.
 */
#ifndef ZG_MQTTD_H
#define ZG_MQTTD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <zonegate/plugin.h>

#include "plugins/mqttd/codec.h"

struct event;
struct bufferevent;

#define MQD_ID_MAX 256 /* identities and client ids, with the NUL */

enum mqd_drop { MQD_DROP_OLDEST = 0, MQD_DROP_NEWEST = 1 };

struct mqd_listener {
	struct mqd_listener *next;
	struct mqd_state *st;
	char addr[64];
	struct zg_tls_ctx *tls;  /* NULL: plain TCP (plain = true) */
	int max_conns_per_source;
	struct zg_listener *zl;
};

/* An application message: shared by queues and the retained store. */
struct mqd_msg {
	int refs;
	uint8_t qos;
	bool retain;
	uint64_t from;       /* serial of the publishing session (no_local) */
	char *topic;         /* NUL-terminated */
	size_t tlen;
	uint8_t *payload;
	size_t plen;
	uint8_t *props;      /* forwardable MQTT 5 properties */
	size_t props_len;
};

struct mqd_sub {
	struct mqd_sub *next;
	char *filter;            /* as subscribed ("$share/g/a/#" too) */
	size_t flen;
	size_t foff;             /* shared: where the topic filter starts */
	uint8_t qos;
	bool no_local, rap;
	uint32_t sub_id;
};

/* One message on its way to a subscriber: queued or in flight. */
struct mqd_out {
	struct mqd_out *next;
	struct mqd_msg *msg;
	uint8_t qos;
	bool retain;
	uint8_t state;     /* 0 queued, 1 sent (PUBACK/PUBREC due),
			      2 PUBREL sent (PUBCOMP due) */
	uint16_t pid;
	uint32_t sub_id;
};

struct mqd_sess {
	struct mqd_sess *next;
	struct mqd_state *st;
	uint64_t serial;
	char *client_id;
	char *identity;
	uint8_t assurance;
	struct mqd_conn *conn;  /* NULL while offline */
	struct mqd_sub *subs;
	struct mqd_out *inflight; /* sent, not acknowledged */
	int ninflight;
	struct mqd_out *qhead, *qtail;
	int nqueued;
	uint16_t next_pid;
	uint32_t expiry;         /* seconds kept after disconnect */
	bool expiry_capped;      /* less than the client asked (v5) */
	struct event *expire_ev;
	struct mqd_msg *will;    /* will waiting for its delay (MQTT 5) */
	struct event *will_ev;
	uint64_t dropped;
};

struct mqd_conn {
	struct mqd_conn *next;
	struct mqd_state *st;
	struct mqd_listener *lst;
	struct bufferevent *bev;
	struct zg_tls *tls;
	struct sockaddr_storage peer_sa;
	char peer[64];
	char identity[MQD_ID_MAX];
	uint8_t assurance;
	bool handshaking, connected, closing;
	bool no_linger;          /* close abortively: peer gone or not reading */
	uint8_t version;
	uint16_t keepalive;
	struct mqd_sess *sess;
	struct event *timer;     /* CONNECT timeout, then keepalive */
	uint16_t send_max;       /* in flight towards the client */
	uint32_t client_max_packet;
	uint16_t *q2;            /* QoS 2 packet ids awaiting PUBREL */
	int nq2, q2cap;
	char **aliases;          /* topic aliases from the client, 1-based */
	uint16_t nalias;         /* size of aliases[] */
	struct mqd_msg *will;
	uint32_t will_delay;     /* MQTT 5 Will Delay Interval, seconds */
	bool request_problem;    /* v5: reason strings allowed */
	struct timespec started; /* accepted (CLOCK_MONOTONIC) */
	uint64_t requests;       /* PUBLISH, SUBSCRIBE, UNSUBSCRIBE decided */
	unsigned denials;
};

struct mqd_state {
	const struct zg_host_api *api;
	struct zg_host *h;
	struct event_base *base;
	struct mqd_listener *listeners;
	/* settings */
	char broker[MQD_ID_MAX];    /* policy device: target of decisions */
	char client_id_pattern[MQD_ID_MAX];
	uint32_t max_packet;
	int max_inflight;
	int max_queued;
	int drop;                   /* enum mqd_drop */
	int max_conns_per_identity;
	double connect_timeout;
	uint32_t session_expiry_max;
	uint16_t topic_alias_max;
	int max_retained;
	bool disconnect_on_denial;
	char northbound[MQD_ID_MAX]; /* policy device for messages leaving */
	char nb_prefix[64];
	/* runtime */
	struct mqd_conn *conns;
	int nconns;
	struct mqd_sess *sessions;
	int nsessions;
	uint64_t next_serial;
	struct mqd_retained *retained;
	int nretained;
	unsigned share_rr;          /* round robin over shared subscribers */
	uint8_t *scratch;           /* one outgoing packet */
	size_t scratch_len;
	bool draining;
	/* counters (logged at shutdown) */
	uint64_t n_published, n_delivered, n_denied_pub, n_denied_sub,
		n_denied_delivery, n_dropped, n_northbound;
};

struct mqd_retained {
	struct mqd_retained *next;
	struct mqd_msg *msg;
};

/* broker.c */
void mqd_accept(int fd, const struct sockaddr *peer, socklen_t peerlen,
		void *arg);
void mqd_conn_close(struct mqd_conn *c, uint8_t reason, const char *why);
void mqd_state_clear(struct mqd_state *st);
void mqd_status(void *state, const struct zg_status_out *out);

#endif /* ZG_MQTTD_H */
