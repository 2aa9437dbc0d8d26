/*
 * zonegate plugin SDK: the operation and verdict types of the policy engine.
 *
 * A protocol plugin describes every operation a peer asks for as a
 * struct zg_op and asks the host for a verdict (zg_host_api.decide).  The
 * same types are used by the segments/ library, so the host hands them
 * through without copying.
 *
 * Ownership: every pointer inside a struct zg_op is borrowed from the
 * caller for the duration of the call only.  A struct zg_verdict is filled
 * by the engine; its `rule' and `origin_file' strings belong to the policy
 * that produced the verdict and stay valid until the plugin returns to the
 * event loop (a reload never frees a policy while a decision is running).
 */
#ifndef ZONEGATE_POLICY_H
#define ZONEGATE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum zg_proto {
	ZG_PROTO_MODBUS = 1,
	ZG_PROTO_MQTT = 2,
	ZG_PROTO_HTTP = 3,
};

/* How strongly the caller's identity is established. */
enum zg_assurance {
	ZG_ASSURANCE_NONE = 0,    /* unknown peer: matches no device */
	ZG_ASSURANCE_ADDRESS = 1, /* legacy binding by source address: low */
	ZG_ASSURANCE_CERT = 2,    /* verified X.509 certificate (mTLS) */
};

/* Modbus data tables. */
enum zg_mb_table {
	ZG_MB_COILS = 0,
	ZG_MB_DISCRETE = 1,
	ZG_MB_HOLDING = 2,
	ZG_MB_INPUT = 3,
	ZG_MB_NTABLES = 4,
};

enum zg_mb_access {
	ZG_MB_READ = 1,
	ZG_MB_WRITE = 2,
};

/* One contiguous span of a table that an operation touches. */
struct zg_mb_span {
	uint8_t table;  /* enum zg_mb_table */
	uint8_t access; /* enum zg_mb_access */
	uint16_t addr;  /* first address (0-based, protocol address) */
	uint16_t qty;   /* number of coils / registers, >= 1 */
};

/*
 * A classified Modbus request.  The classifier fills `fc' and, where the
 * function code needs them to be decided, `subfn' (FC 8) or `mei' (FC 43).
 * FC 23 (read/write multiple registers) carries two spans: a READ and a
 * WRITE.  `values' holds the register values a write would store (FC 6,
 * 16, 23) so that value bounds can be checked; it is NULL for coil writes.
 */
struct zg_modbus_op {
	uint8_t unit;    /* unit identifier, 0 = broadcast */
	uint8_t fc;      /* function code (without the 0x80 exception bit) */
	uint16_t subfn;  /* FC 8 diagnostics sub-function */
	uint8_t mei;     /* FC 43 MEI type (13 = CANopen, 14 = device id) */
	uint8_t nspans;  /* 0..2 */
	struct zg_mb_span spans[2];
	const uint16_t *values; /* register values written, or NULL */
	uint16_t nvalues;
};

enum zg_mqtt_action {
	ZG_MQTT_PUBLISH = 1,
	ZG_MQTT_SUBSCRIBE = 2,
};

struct zg_mqtt_op {
	uint8_t action;     /* enum zg_mqtt_action */
	uint8_t qos;
	bool retain;
	const char *topic;  /* topic name (PUBLISH) or filter (SUBSCRIBE) */
	size_t topic_len;
	const char *client_id; /* for %c substitution, may be NULL */
};

struct zg_http_op {
	const char *method; /* "GET", "POST", ... NUL-terminated */
	const char *path;   /* request path, NUL-terminated */
};

struct zg_op {
	uint8_t proto;              /* enum zg_proto */
	uint8_t assurance;          /* enum zg_assurance */
	const char *identity;       /* caller identity, NUL-terminated, or NULL */
	const char *role;           /* Modbus/TCP Security role, or NULL */
	const char *target;         /* target device identity, or NULL */
	const char *peer;           /* remote address ("192.0.2.7:50211",
				       "[::1]:4711"), or NULL: the threat
				       engine keys sources by it */
	union {
		struct zg_modbus_op modbus;
		struct zg_mqtt_op mqtt;
		struct zg_http_op http;
	} u;
};

enum zg_decision {
	ZG_DENY = 0,
	ZG_ALLOW = 1,
};

#define ZG_REASON_MAX 192

struct zg_verdict {
	uint8_t decision;        /* enum zg_decision: what is enforced */
	bool shadow;             /* a shadow conduit decided: not enforced */
	uint8_t shadow_decision; /* what the shadow conduit would have done */
	const char *rule;        /* name of the matching conduit, or NULL */
	const char *origin_file; /* config file of that rule, or NULL */
	int origin_line;         /* line of that rule, 0 if none */
	const char *from_zone;   /* caller's zone, or NULL if unknown */
	const char *to_zone;     /* target's zone, or NULL if unknown */
	char reason[ZG_REASON_MAX]; /* what a person can act on */
};

#ifdef __cplusplus
}
#endif

#endif /* ZONEGATE_POLICY_H */
