/*
 * seg_int.h: the engine's internal types.  Only the files in segments/ include it.
 *
 * The policy under construction and the compiled policy are the same
 * struct: seg_compile() sorts and indexes what the builder collected and
 * hands the struct over; it is never written again after that.
 */
#ifndef ZG_SEG_INT_H
#define ZG_SEG_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segments/segments.h"

#define SEG_MAGIC 0x5a475345u /* "ZGSE" */
#define SEG_ZONE_QUARANTINE 0 /* index of the built-in zone */

/* ---- strings: an arena owned by the policy ---- */

struct seg_arena_blk;
struct seg_arena {
	struct seg_arena_blk *head;
};
char *seg_arena_strdup(struct seg_arena *a, const char *s);
void *seg_arena_alloc(struct seg_arena *a, size_t n);
void seg_arena_free(struct seg_arena *a);

/* ---- hashing ---- */

uint64_t seg_hash(const char *s, size_t len);

/* Open-addressing map: string -> index.  Keys are borrowed. */
struct seg_smap_ent {
	uint64_t hash;
	const char *key; /* NULL: empty slot */
	uint32_t len;
	uint32_t idx;
	uint32_t aux;    /* owner's data (devices: SEG_DEV_AUX) */
};
struct seg_smap {
	struct seg_smap_ent *e;
	uint32_t cap; /* power of two, 0 = empty map */
	uint32_t n;
};
int seg_smap_put(struct seg_smap *m, const char *key, size_t len,
		 uint64_t hash, uint32_t idx);
long seg_smap_get(const struct seg_smap *m, const char *key, size_t len,
		  uint64_t hash);
const struct seg_smap_ent *seg_smap_find(const struct seg_smap *m,
					 const char *key, size_t len,
					 uint64_t hash);
void seg_smap_free(struct seg_smap *m);

/* Open-addressing map: nonzero 64-bit key -> index and two counts. */
struct seg_kmap_ent {
	uint64_t key; /* 0: empty */
	uint32_t idx;
	uint16_t a, b;
};
struct seg_kmap {
	struct seg_kmap_ent *e;
	uint32_t cap, n;
};
int seg_kmap_put(struct seg_kmap *m, uint64_t key, uint32_t idx, uint16_t a,
		 uint16_t b);
long seg_kmap_get(const struct seg_kmap *m, uint64_t key);
const struct seg_kmap_ent *seg_kmap_find(const struct seg_kmap *m,
					 uint64_t key);
void seg_kmap_free(struct seg_kmap *m);

/* ---- zones and devices ---- */

struct seg_zone {
	const char *name;
	const char *desc;
	bool isolated;
	bool builtin;
	uint32_t ndevices;
	const char *file;
	int line;
};

struct seg_attr {
	const char *key;
	const char *value;
};

/* What a decision needs of a device, kept in its dev_map entry. */
#define SEG_DEV_AUX(zone, bound, target) \
	((uint32_t)(zone) | ((bound) ? 1u << 16 : 0u) | ((target) ? 1u << 17 : 0u))
#define SEG_AUX_ZONE(aux) ((uint16_t)((aux) & 0xffffu))
#define SEG_AUX_BOUND(aux) (((aux) >> 16) & 1u)
#define SEG_AUX_TARGET(aux) (((aux) >> 17) & 1u)

struct seg_device {
	const char *identity;
	uint32_t idlen;
	uint16_t zone;
	int16_t unit; /* -1 none */
	bool bad;     /* its zone was wrong: never compiled */
	const char *address;
	struct seg_attr *attrs;
	uint32_t nattrs, capattrs;
	uint32_t nbinds;
	bool dev_target; /* some conduit targets this device by name */
	const char *file;
	int line;
};

struct seg_bind {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	uint16_t plo, phi;
	uint32_t dev;
};

/* ---- modbus ---- */

struct seg_range {
	uint16_t lo, hi;
	uint8_t bounded;
	uint8_t is_signed;
	int32_t min, max;
};

struct seg_rset {
	struct seg_range *r; /* sorted by lo, disjoint */
	uint32_t n;
};

/*
 * Hot fields first: a read or write of one table touches the first two
 * cache lines, and seg_compile() puts the ranges right behind the struct
 * in the same allocation (`packed').
 */
struct seg_mb {
	uint64_t units[4];  /* bit u: unit u (1..255) */
	uint64_t fcs[2];    /* bit f: function f (1..127), plainly */
	uint16_t max_quantity; /* 0: protocol maximum */
	bool plain8;        /* "8" named: the read-only diagnostics */
	bool units_set;
	bool functions_set;
	bool broadcast;
	bool packed;        /* ranges live in this allocation */
	uint8_t nsubfn;
	struct seg_rset rs[2][ZG_MB_NTABLES]; /* [access - 1][table] */
	uint64_t meis[4];   /* FC 43 MEI types named */
	uint16_t subfn[SEG_MAX_SUBCODES]; /* FC 8 sub-functions named */
};

/* ---- mqtt and http ---- */

struct seg_filter {
	const char *text;
	uint32_t len;
	bool subst; /* holds %u, %c or %% */
};

struct seg_mqtt {
	struct seg_filter *f[2]; /* [action - 1] */
	uint32_t n[2], cap[2];
};

struct seg_hrule {
	const char *method;
	const char *path;
	uint32_t plen;
};

struct seg_http {
	struct seg_hrule *r;
	uint32_t n, cap;
};

/* ---- conduits ---- */

/* Fields a decision reads come first (one cache line). */
struct seg_conduit {
	const char *name;
	const char *file;
	struct seg_mb *mb;
	struct seg_mqtt *mqtt;
	struct seg_http *http;
	const char **roles;
	uint32_t namelen; /* <= SEG_NAME_MAX */
	int line;
	uint32_t nroles;
	uint8_t min_assurance;
	bool shadow;
	bool bad;       /* a name was wrong: never compiled */
	/* cold */
	uint16_t from;
	uint16_t to_zone;
	int32_t to_dev; /* -1: zone conduit */
	const char *desc;
};

/*
 * Conduits sharing one (from zone, target) key are contiguous in
 * p->conds after seg_compile(): the group map's entry for the key holds
 * the first index (idx), the number of enforcing conduits (a) and of
 * shadow conduits (b) that follow them, each in declaration order.
 */
#define SEG_KEY_ZONE(from, zone) \
	((((uint64_t)(from) + 1) << 33) | (uint64_t)(zone))
#define SEG_KEY_DEV(from, dev) \
	((((uint64_t)(from) + 1) << 33) | (1ull << 32) | (uint64_t)(dev))

struct seg_policy {
	uint32_t magic;
	atomic_uint refs;
	bool fail_open;
	bool island;
	struct seg_arena arena;

	struct seg_zone *zones;
	uint32_t nzones, capzones;
	struct seg_device *devs;
	uint32_t ndevs, capdevs;
	struct seg_bind *binds; /* sorted (family, addr, plo) after compile */
	uint32_t nbinds, capbinds;
	struct seg_conduit *conds;
	uint32_t nconds, capconds;
	uint32_t nshadow;

	struct seg_smap zone_map;
	struct seg_smap dev_map;
	struct seg_smap cond_map;

	uint32_t *decl;  /* declaration order -> index in conds */
	struct seg_kmap group_map;
};

void seg_policy_destroy(struct seg_policy *p);

/* ---- the runtime state ---- */

struct seg_state {
	struct seg_smap set; /* keys are owned (malloc'd) */
	bool island;
	bool fail_open;
};

bool seg_state_has(const struct seg_state *st, const char *id, size_t len,
		   uint64_t hash);

/* ---- why a conduit denied (formatted only for the verdict) ---- */

/* Higher codes got further through a conduit: the deepest one explains. */
enum seg_dcode {
	SEG_D_NONE = 0,
	SEG_D_ASSURANCE,
	SEG_D_ROLE,
	SEG_D_NOPROTO,
	SEG_D_MB_BCAST_FC,
	SEG_D_MB_BCAST,
	SEG_D_MB_UNIT,
	SEG_D_MB_FC,
	SEG_D_MB_FC8,
	SEG_D_MB_FC43,
	SEG_D_MB_QTY,
	SEG_D_MB_NORANGE,
	SEG_D_MB_RANGE,
	SEG_D_MB_NOVALUES,
	SEG_D_MB_VALUE,
	SEG_D_MQTT_SUBST,
	SEG_D_MQTT,
	SEG_D_HTTP,
};

/*
 * A conduit whose rules would allow the operation but whose assurance or
 * role requirement the caller misses explains a deny best of all.
 */
#define SEG_RANK_IDENTITY_ONLY 200

struct seg_deny {
	uint8_t code;   /* enum seg_dcode */
	uint8_t rank;   /* code, or SEG_RANK_IDENTITY_ONLY */
	uint8_t table;  /* modbus */
	uint8_t access; /* modbus */
	const struct seg_conduit *c;
	uint32_t a, b;  /* modbus span first..last */
	uint32_t x;     /* the unit, function, sub-code, address or quantity */
	long v, lo, hi; /* a value and the bounds it broke */
};

/*
 * snprintf for reasons and diagnostics, where cutting a long message at
 * the buffer's end is intended (keeps -Wformat-truncation quiet).
 */
void seg_fmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define SHOW_MAX 80 /* bytes of a peer-supplied string shown in a reason */
const char *seg_show(const char *s, size_t n, char *buf, size_t len);

/* "conduit NAME (FILE:LINE)" */
void seg_conduit_ref(const struct seg_conduit *c, char *buf, size_t len);

/* ---- protocol helpers (modbus.c, topic.c, http.c) ---- */

/* Malformed operation: 0 ok, -1 with the reason in err. */
int seg_mb_validate(const struct zg_modbus_op *m, char *err, size_t errlen);
int seg_mqtt_validate(const struct zg_mqtt_op *m, char *err, size_t errlen);
int seg_http_validate(const struct zg_http_op *h, char *err, size_t errlen);

/* Evaluate an operation against one conduit: true = allowed, else *d. */
bool seg_mb_eval(const struct seg_conduit *c, const struct zg_modbus_op *m,
		 struct seg_deny *d);
bool seg_mqtt_eval(const struct seg_conduit *c, const struct zg_mqtt_op *m,
		   const char *identity, size_t idlen, struct seg_deny *d);
bool seg_http_eval(const struct seg_conduit *c, const struct zg_http_op *h,
		   struct seg_deny *d);

/* The sentence explaining a protocol deny (d->code past SEG_D_NOPROTO). */
void seg_mb_reason(const struct seg_deny *d, const struct zg_modbus_op *m,
		   char *buf, size_t len);
void seg_mqtt_reason(const struct seg_deny *d, const struct zg_mqtt_op *m,
		     char *buf, size_t len);
void seg_http_reason(const struct seg_deny *d, const struct zg_http_op *h,
		     char *buf, size_t len);


/* Sub-functions plain "8" allows: the diagnostics that change nothing. */
bool seg_fc8_plain_ok(unsigned sub);
/* A public Modbus function code (1..127) from the specification. */
bool seg_fc_public(unsigned fc);
const char *seg_fc_name(unsigned fc);
const char *seg_fc8_name(unsigned sub);
const char *seg_mei_name(unsigned mei);
const char *seg_table_name(int table, bool plural);

/* 0 ok, -1 with a message in err. */
int seg_filter_check(const char *f, size_t len, bool allow_subst, char *err,
		     size_t errlen);
/* A topic name (no wildcards) matched by filter f. */
bool seg_topic_match(const char *f, size_t flen, const char *t, size_t tlen);
/* Every topic requested filter r matches is matched by filter a. */
bool seg_filter_covers(const char *a, size_t alen, const char *r,
		       size_t rlen);
/*
 * Expand %u / %c / %% of filter f into buf.  Returns the length, or -1
 * when a value is missing, holds a wildcard (or '/' for %c) or the
 * result does not fit.
 */
long seg_filter_expand(const struct seg_filter *f, const char *identity,
		       size_t idlen, const char *client, char *buf,
		       size_t buflen);

/* 0 ok, -1 with a reason in err: dot segments, encoded separators ... */
int seg_http_path_check(const char *path, char *err, size_t errlen);
/* Rule path prefix p (segment-aware) matches request path (no query). */
bool seg_http_path_match(const char *p, size_t plen, const char *path,
			 size_t pathlen);
bool seg_http_method_ok(const char *m);

/* Parse a numeric IPv4/IPv6 address: 4 or 6, or 0 when invalid. */
int seg_parse_ip(const char *s, uint8_t out[16]);
/* Check a target "ip:port" / "[ip6]:port": 0 or -1 with err. */
int seg_parse_hostport(const char *s, char *err, size_t errlen);

#endif /* ZG_SEG_INT_H */
