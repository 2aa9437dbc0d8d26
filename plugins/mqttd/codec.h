/*
 * codec.h: MQTT 3.1.1 and 5.0 packets: a bounded decoder and encoder.
 *
 * Every function is pure: it reads (buf, len) and writes only into the
 * structures it is given.  Decoded strings and binary fields point into
 * the caller's buffer (they are not NUL-terminated) and live as long as
 * it does.  Nothing allocates.
 *
 * Framing (mq_frame) works on a byte stream: it returns MQ_NEED_MORE with
 * the number of bytes still missing, MQ_OK with the bytes one packet takes,
 * or an error that is final (a longer buffer gives the same error: never
 * resynchronise, close).  Body decoders return MQ_OK or an MQTT 5 reason
 * code (>= 0x80) saying what is wrong, with a short text in `why'.
 */
#ifndef ZG_MQTT_CODEC_H
#define ZG_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Packet types (fixed header, high nibble). */
enum mq_type {
	MQ_CONNECT = 1,
	MQ_CONNACK = 2,
	MQ_PUBLISH = 3,
	MQ_PUBACK = 4,
	MQ_PUBREC = 5,
	MQ_PUBREL = 6,
	MQ_PUBCOMP = 7,
	MQ_SUBSCRIBE = 8,
	MQ_SUBACK = 9,
	MQ_UNSUBSCRIBE = 10,
	MQ_UNSUBACK = 11,
	MQ_PINGREQ = 12,
	MQ_PINGRESP = 13,
	MQ_DISCONNECT = 14,
	MQ_AUTH = 15,
};

/* Protocol levels in CONNECT. */
#define MQ_V311 4
#define MQ_V5 5

/* MQTT 5 reason codes used here (3.1.1 maps them, see mq_connack_v3). */
enum mq_reason {
	MQ_RC_SUCCESS = 0x00,
	MQ_RC_GRANTED_QOS1 = 0x01,
	MQ_RC_GRANTED_QOS2 = 0x02,
	MQ_RC_DISCONNECT_WITH_WILL = 0x04,
	MQ_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	MQ_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	MQ_RC_UNSPECIFIED = 0x80,
	MQ_RC_MALFORMED = 0x81,
	MQ_RC_PROTOCOL_ERROR = 0x82,
	MQ_RC_IMPL_SPECIFIC = 0x83,
	MQ_RC_UNSUPPORTED_VERSION = 0x84,
	MQ_RC_CLIENT_ID_INVALID = 0x85,
	MQ_RC_BAD_AUTH = 0x86,
	MQ_RC_NOT_AUTHORIZED = 0x87,
	MQ_RC_SERVER_UNAVAILABLE = 0x88,
	MQ_RC_SERVER_BUSY = 0x89,
	MQ_RC_SHUTTING_DOWN = 0x8B,
	MQ_RC_BAD_AUTH_METHOD = 0x8C,
	MQ_RC_KEEPALIVE_TIMEOUT = 0x8D,
	MQ_RC_SESSION_TAKEN_OVER = 0x8E,
	MQ_RC_TOPIC_FILTER_INVALID = 0x8F,
	MQ_RC_TOPIC_NAME_INVALID = 0x90,
	MQ_RC_PACKET_ID_IN_USE = 0x91,
	MQ_RC_PACKET_ID_NOT_FOUND = 0x92,
	MQ_RC_RECEIVE_MAX_EXCEEDED = 0x93,
	MQ_RC_TOPIC_ALIAS_INVALID = 0x94,
	MQ_RC_PACKET_TOO_LARGE = 0x95,
	MQ_RC_QUOTA_EXCEEDED = 0x97,
	MQ_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	MQ_RC_RETAIN_NOT_SUPPORTED = 0x9A,
	MQ_RC_QOS_NOT_SUPPORTED = 0x9B,
	MQ_RC_SHARED_SUB_NOT_SUPPORTED = 0x9E,
	MQ_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
	MQ_RC_SUB_ID_NOT_SUPPORTED = 0xA1,
	MQ_RC_WILDCARD_SUB_NOT_SUPPORTED = 0xA2,
};

/* MQTT 3.1.1 CONNACK return codes. */
enum mq_connack_v3 {
	MQ_V3_ACCEPTED = 0,
	MQ_V3_BAD_VERSION = 1,
	MQ_V3_ID_REJECTED = 2,
	MQ_V3_UNAVAILABLE = 3,
	MQ_V3_BAD_AUTH = 4,
	MQ_V3_NOT_AUTHORIZED = 5,
};

enum mq_status {
	MQ_OK = 0,
	MQ_NEED_MORE = 1,
	MQ_ERR_REMLEN = 2,   /* remaining length longer than 4 bytes */
	MQ_ERR_TOO_LARGE = 3, /* packet larger than the allowed maximum */
	MQ_ERR_TYPE = 4,     /* type 0 or reserved flag bits wrong */
};

/* The longest remaining length MQTT can encode (4 bytes). */
#define MQ_REMLEN_MAX 268435455u

/* A framed packet: fixed header + body. */
struct mq_frame {
	uint8_t type;         /* enum mq_type */
	uint8_t flags;        /* low nibble of the first byte */
	const uint8_t *body;  /* variable header + payload */
	size_t body_len;
	size_t consumed;      /* whole packet, MQ_OK only */
	size_t needed;        /* bytes missing, MQ_NEED_MORE only */
};

/* A borrowed byte string. */
struct mq_str {
	const char *p;
	uint16_t len;
};

/*
 * MQTT 5 properties the broker understands.  `present' bits name which
 * were given (MQ_P_*); `raw' spans the whole property block, for
 * forwarding PUBLISH properties to subscribers.
 */
#define MQ_P_SESSION_EXPIRY (1u << 0)
#define MQ_P_RECEIVE_MAX (1u << 1)
#define MQ_P_MAX_PACKET (1u << 2)
#define MQ_P_TOPIC_ALIAS_MAX (1u << 3)
#define MQ_P_TOPIC_ALIAS (1u << 4)
#define MQ_P_SUB_ID (1u << 5)
#define MQ_P_AUTH_METHOD (1u << 6)
#define MQ_P_WILL_DELAY (1u << 7)
#define MQ_P_PAYLOAD_FORMAT (1u << 8)
#define MQ_P_MSG_EXPIRY (1u << 9)
#define MQ_P_REQ_PROBLEM (1u << 10)

struct mq_props {
	uint32_t present;
	uint32_t session_expiry;
	uint16_t receive_max;
	uint32_t max_packet;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	uint32_t sub_id;
	uint32_t will_delay;
	uint8_t payload_format;
	uint32_t msg_expiry;
	uint8_t req_problem;
	const uint8_t *raw; /* property bytes (without the length) */
	size_t raw_len;
};

struct mq_connect {
	uint8_t version;       /* MQ_V311 or MQ_V5 */
	bool clean;            /* clean session / clean start */
	uint16_t keepalive;    /* seconds, 0 = none */
	struct mq_str client_id;
	bool will;
	uint8_t will_qos;
	bool will_retain;
	struct mq_str will_topic;
	const uint8_t *will_payload;
	uint16_t will_len;
	struct mq_props will_props;
	bool has_user, has_pass;
	struct mq_str username;
	struct mq_props props;
};

struct mq_publish {
	uint8_t qos;
	bool dup, retain;
	struct mq_str topic;   /* may be empty with a v5 topic alias */
	uint16_t pid;          /* QoS > 0 */
	const uint8_t *payload;
	size_t payload_len;
	struct mq_props props;
};

#define MQ_SUB_MAX 64 /* topic filters in one SUBSCRIBE / UNSUBSCRIBE */

struct mq_sub_entry {
	struct mq_str filter;
	uint8_t qos;
	bool no_local, retain_as_published;
	uint8_t retain_handling;
};

struct mq_subscribe {
	uint16_t pid;
	unsigned n;
	struct mq_sub_entry e[MQ_SUB_MAX];
	struct mq_props props;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
struct mq_ack {
	uint16_t pid;
	uint8_t reason;
};

struct mq_disconnect {
	uint8_t reason;
	struct mq_props props;
};

/* -- framing */
enum mq_status mq_frame(const uint8_t *buf, size_t len, size_t max_packet,
			struct mq_frame *f);
/* Total length of a packet from its first len bytes, 0 if they do not
 * tell yet (output record boundaries; see broker.c). */
size_t mq_packet_len(const unsigned char *buf, size_t len);
const char *mq_status_str(enum mq_status st);
const char *mq_type_name(uint8_t type);

/* -- text rules */
/* Well-formed UTF-8 without U+0000, surrogates or overlong forms. */
bool mq_utf8_valid(const char *s, size_t len);
/* A topic name: 1..65535 bytes, valid UTF-8, no '+' or '#'. */
bool mq_topic_name_valid(const char *s, size_t len);
/* A topic filter: valid UTF-8, wildcards whole levels, '#' last. */
bool mq_topic_filter_valid(const char *s, size_t len);
/* Does filter f match topic name t (4.7, '$' topics not by wildcards)? */
bool mq_topic_match(const char *f, size_t flen, const char *t, size_t tlen);

/*
 * Does client id cid[0..clen) fit pattern for this identity?  "%u" is the
 * identity, "*" any run of characters, "%%" a '%', the rest literal.
 */
bool mq_client_id_fits(const char *pattern, const char *cid, size_t clen,
		       const char *identity);

/* -- body decoders: MQ_RC_SUCCESS or a reason code, *why set */
int mq_parse_connect(const uint8_t *b, size_t len, struct mq_connect *c,
		     const char **why);
int mq_parse_publish(const uint8_t *b, size_t len, uint8_t flags,
		     uint8_t version, struct mq_publish *p, const char **why);
int mq_parse_ack(const uint8_t *b, size_t len, uint8_t type, uint8_t flags,
		 uint8_t version, struct mq_ack *a, const char **why);
int mq_parse_subscribe(const uint8_t *b, size_t len, uint8_t flags,
		       uint8_t version, struct mq_subscribe *s,
		       const char **why);
int mq_parse_unsubscribe(const uint8_t *b, size_t len, uint8_t flags,
			 uint8_t version, struct mq_subscribe *s,
			 const char **why);
int mq_parse_disconnect(const uint8_t *b, size_t len, uint8_t flags,
			uint8_t version, struct mq_disconnect *d,
			const char **why);
/* PINGREQ: no flags, no body. */
int mq_parse_empty(size_t len, uint8_t flags, const char **why);

/*
 * -- encoders: write one whole packet into out[0..cap), return its length
 * or -1 when it does not fit or an argument is out of range.
 */
struct mq_connack_args {
	uint8_t version;
	bool session_present;
	uint8_t reason;             /* v5 reason; v3 code derived */
	/* v5 properties, sent when non-zero: */
	uint16_t receive_max;
	uint32_t max_packet;
	uint16_t topic_alias_max;
	uint8_t max_qos_1;          /* set: Maximum QoS 1 (never used: 2) */
	bool no_shared_subs;        /* Shared Subscription Available = 0 */
	bool no_sub_ids;            /* Subscription Identifiers Available = 0 */
	const char *assigned_id;    /* Assigned Client Identifier or NULL */
	uint16_t server_keepalive;
	bool has_server_keepalive;
	uint32_t session_expiry;
	bool has_session_expiry;
	const char *reason_string;  /* or NULL */
};
int mq_enc_connack(uint8_t *out, size_t cap, const struct mq_connack_args *a);
/* v3 return code for a v5 reason. */
uint8_t mq_connack_v3_code(uint8_t reason);

/*
 * PUBLISH: props/props_len is a raw MQTT 5 property block (already
 * valid) sent as is to v5 peers, plus a Subscription Identifier when
 * sub_id > 0; v3 peers get no properties.
 */
int mq_enc_publish(uint8_t *out, size_t cap, uint8_t version, uint8_t qos,
		   bool retain, bool dup, const char *topic, size_t tlen,
		   uint16_t pid, const uint8_t *props, size_t props_len,
		   uint32_t sub_id, const uint8_t *payload, size_t plen);
/* Size mq_enc_publish needs (for allocating). */
size_t mq_publish_size(uint8_t version, uint8_t qos, size_t tlen,
		       size_t props_len, uint32_t sub_id, size_t plen);
int mq_enc_ack(uint8_t *out, size_t cap, uint8_t type, uint8_t version,
	       uint16_t pid, uint8_t reason);
/* SUBACK / UNSUBACK with one code per filter (UNSUBACK: v5 only). */
int mq_enc_suback(uint8_t *out, size_t cap, uint8_t type, uint8_t version,
		  uint16_t pid, const uint8_t *codes, unsigned n);
int mq_enc_pingresp(uint8_t *out, size_t cap);
/* v5 only (3.1.1 has no server DISCONNECT): reason + reason string. */
int mq_enc_disconnect(uint8_t *out, size_t cap, uint8_t reason,
		      const char *reason_string);
/* Encode a variable byte integer; returns bytes written (1..4) or -1. */
int mq_varint_put(uint8_t *out, size_t cap, uint32_t v);

/*
 * Copy a PUBLISH property block without Topic Alias and Subscription
 * Identifier (which are per connection / per subscription): the part a
 * broker forwards.  Returns the bytes written (<= in_len).
 */
size_t mq_props_forwardable(const uint8_t *in, size_t in_len, uint8_t *out);

#endif /* ZG_MQTT_CODEC_H */
