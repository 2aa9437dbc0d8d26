/*
 * zonegate plugin SDK: the one interface between zonegated and a protocol
 * plugin.  Install path: <zonegate/plugin.h>.
 *
 * A plugin is a shared module (libtool -module) that exports exactly one
 * symbol, ZG_PLUGIN_SYMBOL, a function returning a pointer to a const
 * struct zg_plugin.  The host checks abi_version before it touches any
 * other field and refuses a mismatch, naming both versions.
 *
 * Everything the host does for a plugin (logging, configuration access,
 * listeners and timers on the event loop, policy decisions, messages and
 * security events) reaches the plugin through the struct zg_host_api
 * passed to check() and init().  A plugin never resolves daemon symbols:
 * zonegated exports none, and plugins may be loaded with RTLD_DEEPBIND.
 *
 * Threading: every callback runs on the host's event-loop thread.  A
 * plugin that starts worker threads must hand results back to the loop
 * itself (for example with an event made active from the worker); the
 * host API is not thread-safe.
 */
#ifndef ZONEGATE_PLUGIN_H
#define ZONEGATE_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <zonegate/policy.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of this header. */
#ifndef ZG_PLUGIN_ABI_VERSION
#define ZG_PLUGIN_ABI_VERSION 2
#endif

/* The one symbol a plugin exports. */
#define ZG_PLUGIN_SYMBOL "zonegate_plugin"

struct event_base; /* libevent: plugins may use the host's loop directly */
struct bufferevent;
struct zg_host;    /* opaque: the host's handle for one loaded plugin */
struct zg_cfg;     /* opaque: a node of the configuration tree */
struct zg_listener;
struct zg_timer;
struct zg_tls_ctx; /* opaque: a TLS server context made by the host */
struct zg_tls;     /* opaque: one TLS session */
struct zg_uplink;  /* opaque: one registered northbound uplink */
struct zg_cmd;     /* opaque: one command in flight between two plugins */

/*
 * What a verified peer certificate says (zg_host_api.tls_peer).  Strings
 * belong to the session and live as long as it does.
 */
struct zg_peer_cert {
	const char *identity;    /* URI SAN, DNS SAN or CN (identity_order),
				    NULL when the certificate has no usable name */
	const char *source;      /* "uri", "dns", "cn" or "none" */
	const char *role;        /* Modbus/TCP Security role, NULL if none */
	const char *role_status; /* "absent", "ok", "duplicate", "malformed" */
	const char *role_detail; /* why duplicate/malformed, or NULL */
	const char *subject;
	const char *issuer;
	const char *serial;
	const char *version;     /* "TLSv1.3" ... */
	const char *cipher;
	const char *alpn;        /* negotiated protocol, or NULL */
};

enum zg_log_level {
	ZG_LOG_ERR = 0,
	ZG_LOG_WARN = 1,
	ZG_LOG_INFO = 2,
	ZG_LOG_DEBUG = 3,
};

enum zg_severity {
	ZG_SEV_INFO = 0,
	ZG_SEV_LOW = 1,
	ZG_SEV_MEDIUM = 2,
	ZG_SEV_HIGH = 3,
	ZG_SEV_CRITICAL = 4,
};

/*
 * What the host's threat engine adds to an event it raises (docs/events.md).
 * Plugins never set it: the host clears zg_event.detection on every event
 * a plugin hands in, so a detection id in the event log always comes from
 * the engine.
 */
struct zg_detection {
	const char *id;             /* stable detection id, "modbus.restart" */
	const char *technique;      /* MITRE ATT&CK for ICS id, "T0816" */
	const char *technique_name; /* "Device Restart/Shutdown" */
	const char *attack_version; /* "ics-v16" */
	const char *zone;           /* the caller's zone, or NULL */
	const char *evidence;       /* what was counted/seen, or NULL */
	const char *action;         /* response taken ("quarantine",
				       "throttle"), or NULL */
	double score;               /* the source's score after this */
};

/*
 * A security event.  `kind' is a stable, dotted identifier such as
 * "modbus.denied" or "modbus.framing_error"; `peer' names the remote
 * address ("192.0.2.7:50211"); `detail' is free text a person can act on.
 * `op' is the operation the event is about (function code, addresses,
 * values, topic), or NULL.  All pointers are borrowed for the duration of
 * the call.  Every event also reaches the threat engine, which turns
 * some of them into detections (docs/events.md lists the kinds it reads).
 */
struct zg_event {
	const char *kind;
	int severity;          /* enum zg_severity */
	const char *peer;      /* remote address, or NULL */
	const char *identity;  /* caller identity, or NULL */
	const char *target;    /* target device, or NULL */
	const struct zg_verdict *verdict; /* the decision involved, or NULL */
	const char *detail;    /* free text, or NULL */
	const struct zg_op *op; /* the operation involved, or NULL */
	const struct zg_detection *detection; /* host only: NULL from plugins */
};

/*
 * An observation for the threat engine that is not a security event by
 * itself (zg_host_api.observe): an exception response sent to a client, a
 * completed poll.  Nothing is logged; detections count them (bursts of
 * exceptions to one client, a regular poll channel going silent).  Kinds
 * the engine reads are listed in docs/events.md; others are ignored.
 * Pointers are borrowed for the duration of the call.
 */
struct zg_observation {
	const char *kind;      /* "modbus.exception_sent", "modbus.poll_done" */
	const char *peer;      /* remote address, or NULL */
	const char *identity;  /* caller identity, or NULL */
	const char *target;    /* device, or NULL */
	const struct zg_op *op; /* the request, or NULL */
	long long value;       /* kind-specific: exception code, latency us */
};

/*
 * One spooled message as the host hands it to an uplink (see
 * zg_host_api.uplink_new).  Everything is borrowed for the duration of
 * the send() call only: an uplink that keeps a message copies it.
 */
struct zg_msg {
	uint64_t seq;        /* per-gateway sequence number, strictly rising */
	const char *topic;   /* bus topic: "telemetry/<device>",
				"events/security", ... (docs/northbound.md) */
	const char *zone;    /* zone of the source, or NULL */
	const void *payload; /* the complete JSON message: the envelope
				(docs/northbound.md), carries seq too */
	size_t len;
	int64_t ts_ms;       /* when it entered the spool, Unix ms */
};

/* What an uplink plugin implements (zg_host_api.uplink_new). */
struct zg_uplink_ops {
	/*
	 * Send one message.  Return 0 when it was taken: the uplink calls
	 * uplink_ack(seq) once the far end acknowledged it (MQTT PUBACK,
	 * HTTP 2xx).  Return -1 when it cannot be taken now; the host stops
	 * feeding until uplink_ready() or uplink_up().
	 */
	int (*send)(void *arg, const struct zg_msg *m);
};

/*
 * Live state a plugin reports for the operator (zg_plugin.status): one
 * call of session() per open client session and of device() per
 * southbound device connection pool it runs.  Strings are borrowed for
 * the duration of the call only.
 */
struct zg_session_info {
	const char *peer;       /* "192.0.2.7:50211" */
	const char *identity;   /* NULL while unknown (TLS handshake,
				   unidentified peer) */
	int assurance;          /* enum zg_assurance */
	const char *role;       /* Modbus/TCP Security role, or NULL */
	const char *listener;   /* the local address it came in on */
	const char *transport;  /* "tcp", "tls" ... */
	double age;             /* seconds since it was accepted */
	uint64_t requests;      /* operations the client asked for */
	uint64_t denials;       /* of those, refused (policy or malformed) */
	unsigned outstanding;   /* forwarded, answer not yet back */
};

struct zg_device_status {
	const char *identity;   /* the policy's device identity */
	const char *address;    /* "10.0.0.5:502", "/dev/ttyS0" ... */
	int online;             /* 1 reachable now, 0 not, -1 unknown */
	int conns_up, conns;    /* pool: connections up / configured */
	unsigned queued;        /* requests waiting for a connection */
	uint64_t forwarded, timeouts, errors;
};

/* Where status() writes; provided by the host, valid during the call. */
struct zg_status_out {
	void *arg;
	void (*session)(void *arg, const struct zg_session_info *s);
	void (*device)(void *arg, const struct zg_device_status *d);
};

/*
 * A write-back command handed from one plugin to another through the
 * host (zg_host_api.command_submit): the mqtt uplink passes on what
 * arrives on its command topic, the modbus plugin carries it out.
 * Everything is borrowed for the duration of the call.
 */
struct zg_command {
	const char *identity; /* who asks: the policy decides for this identity */
	int assurance;        /* enum zg_assurance of that identity */
	const char *peer;     /* where it came from ("broker 10.0.0.9:8883"),
				 for the log and the audit trail */
	const char *body;     /* the command, one JSON object (docs/modbus.md,
				 "commands"); not NUL-terminated */
	size_t len;
};
/* A handler is given a command; it answers with command_done(c, ...). */
typedef void (*zg_command_fn)(void *arg, struct zg_cmd *c,
			      const struct zg_command *cmd);
/* The submitter's answer: one JSON object (not NUL-terminated). */
typedef void (*zg_command_result_cb)(void *arg, const char *result,
				     size_t len);

/* Called on the loop for every accepted connection.  The plugin owns fd. */
typedef void (*zg_accept_cb)(int fd, const struct sockaddr *peer,
			     socklen_t peerlen, void *arg);
typedef void (*zg_timer_cb)(void *arg);

/*
 * Host services.  `size' is sizeof(struct zg_host_api) as the host was
 * built; fields are only ever appended within one ABI version, so a
 * plugin may check size before using a field added later.
 */
struct zg_host_api {
	uint32_t abi_version;
	uint32_t size;

	/* -- logging: lines go to the host's log with the plugin's name. */
	void (*log)(struct zg_host *h, int level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/* As log(), but names the peer ("ip:port") the line is about. */
	void (*log_peer)(struct zg_host *h, int level, const char *peer,
			 const char *fmt, ...)
		__attribute__((format(printf, 4, 5)));

	/*
	 * -- configuration.  Nodes are borrowed from the host and valid only
	 * during check(), init() and reload(); copy what you keep.  Every
	 * getter reports its own errors (file:line: key: what is wrong) into
	 * the current load and returns -1; a missing optional key yields
	 * `def' and returns 0.  Numbers outside [min, max] are errors.
	 */
	const struct zg_cfg *(*cfg_child)(const struct zg_cfg *node,
					  const char *key);
	int (*cfg_count)(const struct zg_cfg *node); /* list/array/group size */
	const struct zg_cfg *(*cfg_elem)(const struct zg_cfg *node, int i);
	const char *(*cfg_name)(const struct zg_cfg *node); /* key, or NULL */
	int (*cfg_line)(const struct zg_cfg *node);
	int (*cfg_string)(struct zg_host *h, const struct zg_cfg *node,
			  const char *key, const char *def, const char **out);
	int (*cfg_int)(struct zg_host *h, const struct zg_cfg *node,
		       const char *key, long long def, long long min,
		       long long max, long long *out);
	int (*cfg_bool)(struct zg_host *h, const struct zg_cfg *node,
			const char *key, bool def, bool *out);
	int (*cfg_double)(struct zg_host *h, const struct zg_cfg *node,
			  const char *key, double def, double min, double max,
			  double *out);
	/* Errors for every key of `node' not in the NULL-terminated list. */
	int (*cfg_known_keys)(struct zg_host *h, const struct zg_cfg *node,
			      const char *const *keys);
	/* Record a configuration error at node (and key, may be NULL). */
	void (*cfg_error)(struct zg_host *h, const struct zg_cfg *node,
			  const char *key, const char *fmt, ...)
		__attribute__((format(printf, 4, 5)));

	/* -- the event loop. */
	struct event_base *(*event_base)(struct zg_host *h);
	/*
	 * Listen on "host:port" ("127.0.0.1:5020", "[::1]:802").  The host
	 * opens the socket (so a privileged parent can do it), stops
	 * accepting on shutdown, and frees it with the plugin.  Returns
	 * NULL and logs why on failure.
	 */
	struct zg_listener *(*listen)(struct zg_host *h, const char *addr,
				      zg_accept_cb cb, void *arg);
	void (*listener_free)(struct zg_listener *l);
	/* One-shot or periodic timers; seconds may be fractional. */
	struct zg_timer *(*timer_new)(struct zg_host *h, zg_timer_cb cb,
				      void *arg);
	int (*timer_start)(struct zg_timer *t, double seconds, bool periodic);
	void (*timer_stop)(struct zg_timer *t);
	void (*timer_free)(struct zg_timer *t);

	/*
	 * -- policy.  Decide one operation against the policy in force now
	 * (a reload applies to the next call).  Never fails: an internal
	 * error yields the configured fail mode with a reason.  Returns
	 * v->decision.
	 */
	int (*decide)(struct zg_host *h, const struct zg_op *op,
		      struct zg_verdict *v);
	/*
	 * Identity of a legacy (non-TLS) peer bound by source address in the
	 * device registry.  Copies the identity into buf and returns 0, or
	 * returns -1 when no device is bound to that address.
	 */
	int (*identify_addr)(struct zg_host *h, const struct sockaddr *sa,
			     socklen_t salen, char *buf, size_t buflen);

	/* -- output. */
	void (*event)(struct zg_host *h, const struct zg_event *ev);
	/*
	 * Telemetry for the northbound path (durable spool, then uplinks):
	 * payload is one JSON object (docs/northbound.md), wrapped by the
	 * host in the envelope.  See emit_zone() for the return value.
	 */
	int (*emit)(struct zg_host *h, const char *topic, const void *payload,
		    size_t len);

	/*
	 * -- TLS: the host's own TLS layer (docs/tls.md), so that plugins
	 * need no TLS library of their own.
	 *
	 * tls_server_ctx() builds a server context from a config group
	 * (keys cert, key, ca, crl, verify, min_version, ciphers, curves,
	 * alpn, handshake_timeout, identity_order, verify_depth); it loads
	 * the files at once, so check() can call it to validate them.
	 * Errors are reported like the cfg getters'; NULL on error.
	 *
	 * tls_accept() takes fd (closed on failure) and starts a server
	 * handshake; *bev is the plaintext side, owned by the session:
	 * BEV_EVENT_CONNECTED once the peer is verified, BEV_EVENT_ERROR
	 * (tls_fail_kind / tls_error say why) on failure, BEV_EVENT_EOF on
	 * close_notify.  Never bufferevent_free() it: tls_close() (graceful:
	 * flush, close_notify) or tls_free() (abortive) end the session.
	 */
	struct zg_tls_ctx *(*tls_server_ctx)(struct zg_host *h,
					     const struct zg_cfg *node);
	void (*tls_ctx_free)(struct zg_tls_ctx *ctx);
	struct zg_tls *(*tls_accept)(struct zg_tls_ctx *ctx, int fd,
				     const char *peer, struct bufferevent **bev);
	int (*tls_peer)(const struct zg_tls *t, struct zg_peer_cert *out);
	const char *(*tls_fail_kind)(const struct zg_tls *t);
	const char *(*tls_error)(const struct zg_tls *t);
	void (*tls_close)(struct zg_tls *t);
	void (*tls_free)(struct zg_tls *t);

	/*
	 * -- northbound uplinks (docs/northbound.md).  Every message from
	 * emit() / emit_zone() and every security event is appended to the
	 * durable spool first; once it is durable (fsync policy) the host
	 * feeds each registered uplink in sequence order, at most
	 * max_inflight unacknowledged at once, while the uplink says it is
	 * up.  A message leaves the spool only when every uplink has
	 * acknowledged it.  After uplink_down() the unacknowledged messages
	 * are sent again on the next uplink_up() (the far end may see a
	 * duplicate sequence number, never a gap).  `name' (1..64 of
	 * A-Z a-z 0-9 _ . : / -, stored as "<plugin>/<name>") is stable
	 * across restarts: the spool keeps each uplink's position under it.
	 *
	 * uplink_new() returns NULL (and logs why) when the configuration
	 * has no spool { } section, the name is bad or already registered.
	 * An uplink starts down: call uplink_up() once connected.  Acks may
	 * come in any order; the acknowledged position is the highest seq
	 * below which everything was acknowledged.  ack/down/ready may be
	 * called from inside send(); uplink_free() may not.  Uplinks still
	 * registered when the plugin is unloaded are freed by the host.
	 */
	struct zg_uplink *(*uplink_new)(struct zg_host *h, const char *name,
					const struct zg_uplink_ops *ops,
					void *arg, unsigned max_inflight);
	void (*uplink_up)(struct zg_uplink *u);
	void (*uplink_down)(struct zg_uplink *u, const char *why);
	void (*uplink_ack)(struct zg_uplink *u, uint64_t seq);
	void (*uplink_ready)(struct zg_uplink *u);
	void (*uplink_free)(struct zg_uplink *u);

	/*
	 * -- appended for the northbound path.  emit() with the zone of the
	 * source (NULL = none): the spool's per-zone bound applies to it and
	 * the envelope names it.  Returns 0 when spooled, -1 when refused
	 * (payload not one JSON object or using an envelope key, spool full
	 * with on_full = "pause", zone over its bound, disk error): a
	 * producer may slow down.  emit() is emit_zone() with zone NULL.
	 */
	int (*emit_zone)(struct zg_host *h, const char *topic,
			 const char *zone, const void *payload, size_t len);
	/* The gateway's id (gateway.id) in force now; borrowed. */
	const char *(*gateway_id)(struct zg_host *h);
	/*
	 * The configuration file a node was read from (for file names
	 * relative to it, as the host's own TLS settings take them), or
	 * NULL.  Valid like the node.
	 */
	const char *(*cfg_file)(const struct zg_cfg *node);

	/*
	 * -- TLS client (docs/plugin-api.md): outgoing connections through
	 * the same TLS layer, for uplinks.
	 *
	 * tls_client_ctx() builds a client context from a config group
	 * (keys cert, key: the client certificate, optional but both or
	 * neither; ca (required: the server is always verified), crl,
	 * server_name, min_version, ciphers, curves, alpn,
	 * handshake_timeout, verify_depth).  `alpn' (NULL-terminated, may
	 * be NULL) is the list of protocols the plugin speaks: it is
	 * offered instead of a configured one, and the config group may then
	 * not set alpn.  Loads the files at once (call it from check() to
	 * validate); errors like the cfg getters'; NULL on error.  Free it
	 * with tls_ctx_free().
	 *
	 * tls_connect() connects to "ip:port" ("[::1]:8443"; "localhost"
	 * means 127.0.0.1) without blocking the loop and starts a client
	 * handshake.  The server certificate must match the context's
	 * server_name, else `servername' (a DNS name or an IP address, also
	 * sent as SNI when it is a name), else the address.  *bev is the
	 * plaintext side as with tls_accept(): BEV_EVENT_CONNECTED once the
	 * server is verified (tls_peer() then says which ALPN protocol was
	 * selected: NULL when the server chose none), BEV_EVENT_ERROR when
	 * the connect or the handshake failed (tls_fail_kind/tls_error), the
	 * handshake timeout included.  Returns NULL and logs why when it
	 * cannot even start.
	 */
	struct zg_tls_ctx *(*tls_client_ctx)(struct zg_host *h,
					     const struct zg_cfg *node,
					     const char *const *alpn);
	struct zg_tls *(*tls_connect)(struct zg_tls_ctx *ctx, const char *addr,
				      const char *servername,
				      struct bufferevent **bev);

	/* -- threat engine: report an observation (see struct zg_observation). */
	void (*observe)(struct zg_host *h, const struct zg_observation *o);

	/*
	 * Record a warning about a risky but legal setting ("FILE:LINE:
	 * warning: key: ..."): printed by zonegated -t (fatal with -W), at
	 * start and on reload; never fails a load.  Say what to do instead.
	 * Only check() needs to call it; elsewhere the host ignores it (the
	 * same config went through check() first).  Appended: test
	 * api->size before use.
	 */
	void (*cfg_warning)(struct zg_host *h, const struct zg_cfg *node,
			    const char *key, const char *fmt, ...)
		__attribute__((format(printf, 4, 5)));

	/*
	 * -- appended: where an uplink sends ("127.0.0.1:8883", a URL), shown
	 * by `zonegatectl uplinks' next to its state, spool depth and last
	 * error (the `why' of uplink_down(), which may also be called while
	 * down to report a failed connection attempt).  Copied.
	 */
	void (*uplink_target)(struct zg_uplink *u, const char *target);

	/*
	 * -- write-back commands between plugins (docs/plugin-api.md,
	 * "Commands").  Appended: check `size' before use.
	 *
	 * command_handler() makes this plugin the handler of commands sent
	 * to its name (fn NULL: no longer).  The handler decides each one
	 * by policy for cmd->identity (as for any client of its own),
	 * audits it, and answers exactly once with command_done(), perhaps
	 * from inside fn, perhaps later; c is invalid after that.  Commands
	 * still unanswered when the handler stops are answered by the host
	 * ("result":"error", outcome unknown).
	 *
	 * command_submit() hands cmd to the plugin named `handler'; cb gets
	 * the answer exactly once (perhaps before command_submit returns).
	 * -1 when no such plugin runs or it takes no commands (cb is then
	 * not called).  Answers to a submitter that has stopped are dropped.
	 */
	int (*command_handler)(struct zg_host *h, zg_command_fn fn, void *arg);
	int (*command_submit)(struct zg_host *h, const char *handler,
			      const struct zg_command *cmd,
			      zg_command_result_cb cb, void *arg);
	void (*command_done)(struct zg_cmd *c, const char *result, size_t len);

	/*
	 * -- metrics (docs/operations.md#metrics): add to a counter or
	 * record one observation (seconds) in a latency histogram of the
	 * daemon's Prometheus registry.  `name' must start with
	 * "zonegate_" (a counter's must end in "_total"); one or two labels
	 * (k2 NULL: one; k1 NULL: none).  Label values may come from the
	 * network: the registry is bounded and drops what does not fit.
	 * Never fails loudly; loop thread only.
	 */
	void (*metric_count)(struct zg_host *h, const char *name,
			     const char *k1, const char *v1, const char *k2,
			     const char *v2, uint64_t n);
	void (*metric_observe)(struct zg_host *h, const char *name,
			       const char *k1, const char *v1, double v);

	/*
	 * -- TLS record boundaries (check size first: appended).  With
	 * unit set, every TLS record of session t carries at most one unit
	 * of the plugin's protocol (or a part of a large one), as mosquitto
	 * sends MQTT: libmosquitto may otherwise leave packets that share a
	 * record with an earlier one unread until more data arrives.
	 * unit(p, len) gets the first len (1..8) bytes of a unit and returns
	 * its total length, or 0 when those bytes do not tell yet; the
	 * plugin writes whole units.  NULL restores records of up to 16 KiB.
	 * Dropped by tls_close(): the function may not outlive the plugin.
	 */
	void (*tls_record_units)(struct zg_tls *t,
				 size_t (*unit)(const unsigned char *p,
						size_t len));
};

/*
 * The plugin descriptor.  Named initialisers only, please:
 *
 *   static const struct zg_plugin desc = {
 *       .abi_version = ZG_PLUGIN_ABI_VERSION, .name = "example", ...
 *   };
 *   ZG_PLUGIN_DECLARE(desc);
 */
struct zg_plugin {
	uint32_t abi_version;   /* ZG_PLUGIN_ABI_VERSION: checked first */
	const char *name;       /* must equal the name in the config */
	const char *version;    /* the plugin's own version string */
	const char *const *protocols; /* NULL-terminated, e.g. {"modbus", NULL} */

	/*
	 * Validate `cfg' (the plugin's `config' group, may be NULL) without
	 * side effects: used by zonegated -t and before every reload.
	 * Returns 0 or -1; errors are reported through api->cfg_error.
	 */
	int (*check)(const struct zg_host_api *api, struct zg_host *h,
		     const struct zg_cfg *cfg);
	/* Start.  *state is the plugin's own; returns 0 or -1. */
	int (*init)(const struct zg_host_api *api, struct zg_host *h,
		    const struct zg_cfg *cfg, void **state);
	/* Apply a new, already checked config (optional: NULL = restart). */
	int (*reload)(void *state, const struct zg_cfg *cfg);
	/*
	 * Graceful shutdown has begun: listeners are closed.  Finish what
	 * is in flight and return the number of sessions still open (the
	 * host calls again until 0 or its shutdown timeout).  Optional.
	 */
	int (*drain)(void *state);
	/* Free everything.  Called once, after init succeeded. */
	void (*fini)(void *state);

	/*
	 * Report live sessions and device connection state through `out'
	 * (zonegatectl sessions/devices, metrics).  Optional (NULL: the
	 * plugin has nothing to report).  Must not block or call back into
	 * the host: it runs while an admin or metrics request is answered.
	 */
	void (*status)(void *state, const struct zg_status_out *out);
};

typedef const struct zg_plugin *(*zg_plugin_entry_fn)(void);

#define ZG_PLUGIN_EXPORT __attribute__((visibility("default")))

/*
 * Export `desc' (a static const struct zg_plugin) as the plugin's one
 * symbol:   ZG_PLUGIN_DECLARE(my_plugin);
 */
#define ZG_PLUGIN_DECLARE(desc)                                       \
	ZG_PLUGIN_EXPORT const struct zg_plugin *zonegate_plugin(void); \
	const struct zg_plugin *zonegate_plugin(void)                   \
	{                                                               \
		return &(desc);                                         \
	}

#ifdef __cplusplus
}
#endif

#endif /* ZONEGATE_PLUGIN_H */
