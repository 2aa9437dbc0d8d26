/*
 * segments: the zone/conduit policy engine.
 *
 * A pure library: no I/O, no event loop, no libconfig, no printing.  It
 * knows three kinds of things (see docs/policy.md for the semantics):
 *
 *   zones     named groups of devices (IEC 62443 zones); a built-in zone
 *             "quarantine" reaches nothing and is reached by nothing;
 *   devices   identities (certificate names, or legacy devices bound by
 *             source address) placed in one zone each;
 *   conduits  the only paths between zones: from a zone to a zone or to
 *             one device, with per-protocol rules (Modbus, MQTT, HTTP).
 *
 * Life cycle:
 *
 *   seg_builder_new()  -> seg_zone_add / seg_device_* / seg_conduit_* ...
 *   seg_compile()      -> an immutable, refcounted struct seg_policy
 *   seg_decide()       -> a struct zg_verdict for one operation
 *
 * Every builder call takes an origin (file, line and an opaque context
 * pointer, e.g. the libconfig setting) that is handed back with every
 * diagnostic, so a config loader can print "FILE:LINE: key: message".
 * Diagnostics never stop the build: every error is reported, and
 * seg_compile() refuses to produce a policy when any was.
 *
 * Runtime state that must survive reloads (the runtime quarantine set, a
 * runtime island switch, the fail mode used when there is no policy at
 * all) lives in a separate struct seg_state owned by the host.
 *
 * Threads: a compiled policy is immutable and may be read by any number
 * of threads; seg_policy_ref/unref are atomic.  A builder and a seg_state
 * are not synchronised: change a seg_state on the thread that decides
 * (the event loop) or lock around it.
 */
#ifndef ZG_SEGMENTS_H
#define ZG_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <zonegate/policy.h>

/* Bounds (inclusive lengths in bytes, without the NUL). */
#define SEG_NAME_MAX 63        /* zone and conduit names, roles */
#define SEG_IDENTITY_MAX 255   /* device identities */
#define SEG_TEXT_MAX 1024      /* descriptions, MQTT filters, HTTP paths */
#define SEG_MAX_ZONES 4096     /* including the built-in quarantine zone */
#define SEG_MAX_DEVICES 65536
#define SEG_MAX_CONDUITS 65535
#define SEG_MAX_RANGES 16384   /* per conduit, access and table */
#define SEG_MAX_RANGES_TOTAL (1u << 20)
#define SEG_MAX_FILTERS 256    /* MQTT filters per conduit and action */
#define SEG_MAX_HTTP 256       /* HTTP rules per conduit */
#define SEG_MAX_ROLES 32       /* roles per conduit */
#define SEG_MAX_ATTRS 64       /* attributes per device */
#define SEG_MAX_SUBCODES 64    /* FC 8 sub-functions named per conduit */
#define SEG_MAX_QUARANTINE 4096 /* runtime quarantine entries */

/* The name of the built-in quarantine zone. */
#define SEG_QUARANTINE_ZONE "quarantine"

struct seg_builder;
struct seg_policy;
struct seg_state;

/*
 * Where a builder item came from.  `file' is copied into the policy (it
 * is what verdicts point to); `ctx' is opaque to the engine and only
 * handed back to the diagnostics callback, so it must stay valid until
 * seg_compile() returns.  Any origin pointer may be NULL.
 */
struct seg_origin {
	const char *file;
	int line;
	const void *ctx;
};

enum seg_severity {
	SEG_ERROR = 0,   /* the policy will not compile */
	SEG_WARNING = 1, /* compiles, but probably not what was meant */
};

/* Receives every diagnostic; `o' may be NULL; msg has no file:line. */
typedef void (*seg_diag_fn)(void *arg, enum seg_severity sev,
			    const struct seg_origin *o, const char *msg);

/* -------------------------------------------------------------------- */
/* Building                                                              */

/*
 * A new, empty builder (the quarantine zone already exists).  `diag' may
 * be NULL (diagnostics are then only counted).  NULL when out of memory.
 */
struct seg_builder *seg_builder_new(seg_diag_fn diag, void *arg);
/* Frees the builder and anything not yet compiled.  NULL is a no-op. */
void seg_builder_free(struct seg_builder *b);
/* Errors / warnings reported so far. */
size_t seg_builder_errors(const struct seg_builder *b);
size_t seg_builder_warnings(const struct seg_builder *b);

/*
 * Declare a zone.  Refuses a duplicate or invalid name (1..SEG_NAME_MAX
 * of [A-Za-z0-9_.-]) and the reserved name "quarantine".  `description'
 * may be NULL.  `isolated': no operation crosses this zone's boundary.
 * Returns the zone's index or -1.
 */
int seg_zone_add(struct seg_builder *b, const char *name,
		 const char *description, bool isolated,
		 const struct seg_origin *o);

/*
 * Declare a device in a zone declared before it (or "quarantine").
 * Refuses duplicate identities and identities that are empty, longer
 * than SEG_IDENTITY_MAX or hold control characters or spaces.  Returns
 * the device handle, also when only the zone is wrong (the error is
 * recorded and seg_compile() will fail, but the caller can go on
 * checking the rest of the device); -1 when no handle could be made.
 */
int seg_device_add(struct seg_builder *b, const char *identity,
		   const char *zone, const struct seg_origin *o);
/*
 * Where the gateway reaches this device as a target: a numeric
 * "ip:port" / "[ip6]:port" (or NULL) and a Modbus unit id (-1 = none,
 * else 0..247 or 255).  Informational for plugins (seg_device_find).
 */
int seg_device_target(struct seg_builder *b, int dev, const char *address,
		      int unit, const struct seg_origin *o);
/*
 * Legacy binding: a peer connecting from numeric IPv4/IPv6 `address' with
 * a source port in port_lo..port_hi is this device, with assurance
 * ZG_ASSURANCE_ADDRESS.  Two bindings of the same address with
 * overlapping port ranges are an error (reported by seg_compile).
 */
int seg_device_bind(struct seg_builder *b, int dev, const char *address,
		    unsigned port_lo, unsigned port_hi,
		    const struct seg_origin *o);
/* A free-form attribute (key unique per device). */
int seg_device_attr(struct seg_builder *b, int dev, const char *key,
		    const char *value, const struct seg_origin *o);

/*
 * Declare a conduit `name' (unique, like a zone name) from zone
 * `from_zone' to zone `to_zone' or, when to_zone is NULL, to the device
 * `to_device' (exactly one of the two).  Names must be declared before.
 * Returns a handle, also when a name is wrong (as seg_device_add).
 */
int seg_conduit_add(struct seg_builder *b, const char *name,
		    const char *from_zone, const char *to_zone,
		    const char *to_device, const struct seg_origin *o);
int seg_conduit_description(struct seg_builder *b, int c, const char *text,
			    const struct seg_origin *o);
/* Shadow (dry-run) conduit: see docs/policy.md. */
int seg_conduit_shadow(struct seg_builder *b, int c, bool shadow);
/* Minimum assurance: ZG_ASSURANCE_ADDRESS (default) or ZG_ASSURANCE_CERT. */
int seg_conduit_assurance(struct seg_builder *b, int c, int min_assurance,
			  const struct seg_origin *o);
/*
 * Add an allowed Modbus/TCP Security role.  A conduit without roles
 * admits any role, including none; once one role is added, only the
 * listed roles are admitted (a peer without a role is refused).
 */
int seg_conduit_role(struct seg_builder *b, int c, const char *role,
		     const struct seg_origin *o);

/* Modbus rules.  seg_mb_enable() creates the (empty = deny all) block. */
int seg_mb_enable(struct seg_builder *b, int c, const struct seg_origin *o);
/* Allowed unit ids lo..hi, within 1..247 or 255 (0: see seg_mb_broadcast). */
int seg_mb_units(struct seg_builder *b, int c, unsigned lo, unsigned hi,
		 const struct seg_origin *o);
/*
 * Allow function code fc (1..127).  sub = -1 for the plain code, else the
 * FC 8 sub-function (0..65535) or FC 43 MEI type (0..255) it names.
 * Plain 8 allows only the diagnostics that change nothing (sub-functions
 * 0, 2, 11..18); plain 43 is refused (name "43/14" or "43/13").  Codes
 * that are not public Modbus functions are allowed when named, with a
 * warning.
 */
int seg_mb_function(struct seg_builder *b, int c, int fc, int sub,
		    const struct seg_origin *o);
/* Largest quantity of coils/registers per request, 1..2000. */
int seg_mb_max_quantity(struct seg_builder *b, int c, unsigned n,
			const struct seg_origin *o);
/* Allow writes to unit 0 (broadcast). */
int seg_mb_broadcast(struct seg_builder *b, int c, bool on,
		     const struct seg_origin *o);

/* Value bounds of a write range (registers only). */
struct seg_bounds {
	long min, max;  /* inclusive */
	bool is_signed; /* compare values as int16 instead of uint16 */
};

/*
 * Allow `access' (ZG_MB_READ or ZG_MB_WRITE) to addresses lo..hi
 * (0..65535, lo <= hi) of `table'.  `bounds' (NULL = none) limits the
 * values written; only for writes to holding registers.
 */
int seg_mb_range(struct seg_builder *b, int c, int access, int table,
		 unsigned lo, unsigned hi, const struct seg_bounds *bounds,
		 const struct seg_origin *o);

/* MQTT rules.  seg_mqtt_enable() creates the (empty = deny all) block. */
int seg_mqtt_enable(struct seg_builder *b, int c, const struct seg_origin *o);
/*
 * An allowed topic filter for ZG_MQTT_PUBLISH or ZG_MQTT_SUBSCRIBE.  May
 * use the MQTT wildcards + and # and the substitutions %u (caller
 * identity), %c (MQTT client id) and %% (a literal %).
 */
int seg_mqtt_filter(struct seg_builder *b, int c, int action,
		    const char *filter, const struct seg_origin *o);

/* HTTP rules.  seg_http_enable() creates the (empty = deny all) block. */
int seg_http_enable(struct seg_builder *b, int c, const struct seg_origin *o);
/* Allow `method' (an HTTP token, case-sensitive) on path prefix `path'. */
int seg_http_rule(struct seg_builder *b, int c, const char *method,
		  const char *path, const struct seg_origin *o);

struct seg_opts {
	bool fail_open;   /* internal errors allow instead of deny */
	bool island_mode; /* deny every cross-zone operation */
};

/*
 * Check everything that needs the whole picture (overlapping address
 * bindings, conflicting value bounds, conduits that can never allow),
 * index it and return the compiled policy with one reference, or NULL
 * when any error was reported (now or by an earlier builder call) or
 * memory ran out.  Either way the builder is spent: only
 * seg_builder_free() may follow.
 */
struct seg_policy *seg_compile(struct seg_builder *b,
			       const struct seg_opts *opts);

/* Reference counting (atomic).  unref frees on the last reference. */
struct seg_policy *seg_policy_ref(struct seg_policy *p);
void seg_policy_unref(struct seg_policy *p);

/* -------------------------------------------------------------------- */
/* Deciding                                                              */

/*
 * Decide one operation.  Fills *v completely and returns v->decision.
 * Order: runtime quarantine, identities, configured quarantine, island
 * mode and isolated zones, then the conduits for the (caller zone,
 * target) pair: enforcing ones first, then shadow ones.  `st' may be
 * NULL.  Only internal errors (no policy, no operation) follow the fail
 * mode: the policy's, else st's, else closed.  A malformed operation is
 * an ordinary deny.  Never allocates.
 */
int seg_decide(const struct seg_policy *p, const struct seg_state *st,
	       const struct zg_op *op, struct zg_verdict *v);

/*
 * Identity of the device bound to this source address and port, copied
 * into buf (NUL-terminated).  IPv4-mapped IPv6 addresses count as IPv4.
 * Returns 0, or -1 when no binding matches or buf is too small.
 */
int seg_identify_addr(const struct seg_policy *p, const struct sockaddr *sa,
		      socklen_t salen, char *buf, size_t buflen);

/* -------------------------------------------------------------------- */
/* Runtime state (survives reloads)                                      */

struct seg_state *seg_state_new(void);
void seg_state_free(struct seg_state *st);
/*
 * Put identity into (on) or take it out of (off) the runtime quarantine.
 * Decisions refuse a quarantined identity as caller and as target,
 * whatever the policy says.  Refuses empty/over-long identities and a
 * full set (SEG_MAX_QUARANTINE).  Returns 0 or -1.
 */
int seg_quarantine_set(struct seg_state *st, const char *identity, bool on);
bool seg_quarantined(const struct seg_state *st, const char *identity);
size_t seg_quarantine_count(const struct seg_state *st);
/* Calls fn for each quarantined identity (in no particular order). */
void seg_quarantine_foreach(const struct seg_state *st,
			    void (*fn)(void *arg, const char *identity),
			    void *arg);
/* Runtime island switch, OR-ed with the policy's island_mode. */
void seg_state_set_island(struct seg_state *st, bool on);
bool seg_state_island(const struct seg_state *st);
/* Fail mode used when seg_decide() is called without a policy. */
void seg_state_set_fail_open(struct seg_state *st, bool open);

/* -------------------------------------------------------------------- */
/* Introspection (for `zonegated -t', the admin socket and plugins)      */

struct seg_policy_info {
	size_t nzones;      /* including quarantine */
	size_t ndevices;
	size_t nbindings;
	size_t nconduits;
	size_t nshadow;
	bool fail_open;
	bool island_mode;
};

struct seg_zone_info {
	const char *name;
	const char *description; /* or NULL */
	bool isolated;
	bool builtin;
	size_t ndevices;
};

struct seg_device_info {
	const char *identity;
	const char *zone;
	const char *address; /* target "ip:port", or NULL */
	int unit;            /* Modbus unit id, -1 = none */
	size_t nbindings;    /* legacy address bindings */
	size_t nattrs;
	const char *file;
	int line;
};

enum seg_proto_bits {
	SEG_HAS_MODBUS = 1,
	SEG_HAS_MQTT = 2,
	SEG_HAS_HTTP = 4,
};

struct seg_conduit_info {
	const char *name;
	const char *description; /* or NULL */
	const char *from_zone;
	const char *to_zone;     /* the target device's zone for device conduits */
	const char *to_device;   /* or NULL */
	bool shadow;
	int min_assurance;
	size_t nroles;
	unsigned protocols;      /* enum seg_proto_bits */
	const char *file;
	int line;
};

void seg_policy_info(const struct seg_policy *p, struct seg_policy_info *out);
/* Element i (0-based, declaration order; zone 0 is quarantine): 0 or -1. */
int seg_zone_get(const struct seg_policy *p, size_t i,
		 struct seg_zone_info *out);
int seg_device_get(const struct seg_policy *p, size_t i,
		   struct seg_device_info *out);
int seg_conduit_get(const struct seg_policy *p, size_t i,
		    struct seg_conduit_info *out);
/* The device with this identity: 0 or -1 when unknown. */
int seg_device_find(const struct seg_policy *p, const char *identity,
		    struct seg_device_info *out);
/* Attribute `key' of device `identity', or NULL. */
const char *seg_device_attr_get(const struct seg_policy *p,
				const char *identity, const char *key);

#endif /* ZG_SEGMENTS_H */
