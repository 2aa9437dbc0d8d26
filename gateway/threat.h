/*
 * threat: the gateway's threat engine.
 *
 * Every decided operation (decide.c), every security event (events.c) and
 * every plugin observation (zg_host_api.observe) reaches one engine.  Its
 * detections turn them into security events with a stable detection id,
 * a severity, the MITRE ATT&CK for ICS technique (THREAT_ATTACK_VERSION),
 * the identity, zone, device, evidence and rule (docs/events.md).  Each
 * detection adds its severity's weight to the source's score, which decays
 * with a half-life; above a threshold the identity is throttled, above
 * another it is quarantined (never automatically for a safety-critical
 * zone).  Every write that crossed the gateway becomes an "audit.write"
 * record.  In learning mode the engine records what each (identity,
 * device) pair does and exports it as a conduit snippet; afterwards
 * deviations from that baseline are detections.
 *
 * Memory is bounded: all tracked keys (counters, distinct sets, seen
 * sources, poll channels, scores, baselines) live in tables with a fixed
 * capacity (threat.max_tracked); the least recently used entry is evicted.
 * Everything runs on the loop thread.
 */
#ifndef ZG_THREAT_H
#define ZG_THREAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include <zonegate/plugin.h>

#include "gateway/cfgutil.h"

struct zg_daemon;

#define THREAT_ATTACK_VERSION "ics-v16"

/* Detection ids (index into threat_detections[]). */
enum threat_det {
	TD_WRITE_UNAUTHORIZED,
	TD_ADDRESS_RANGE,
	TD_VALUE_BOUNDS,
	TD_DEVICE_ID,
	TD_CANOPEN,
	TD_LISTEN_ONLY,
	TD_RESTART,
	TD_RESERVED_FC,
	TD_BROADCAST_WRITE,
	TD_UNIT_SWEEP,
	TD_REGISTER_WALK,
	TD_EXCEPTION_BURST,
	TD_MALFORMED,
	TD_FLOOD,
	TD_HALF_OPEN,
	TD_UNSOLICITED,
	TD_POLL_SILENT,
	TD_TLS_FAILURE,
	TD_TLS_ROLE,
	TD_MQTT_WILDCARD,
	TD_MQTT_TAKEOVER,
	TD_NEW_SOURCE,
	TD_BASELINE,
	TD_COUNT
};

struct threat_det_def {
	const char *id;        /* stable: "modbus.unit_sweep" */
	const char *technique; /* ATT&CK for ICS: "T0846" */
	const char *technique_name;
	int severity;          /* default, enum zg_severity */
	int threshold;         /* default: observations within window */
	double window;         /* default, seconds */
	const char *what;      /* one line for docs and the event detail */
};
extern const struct threat_det_def threat_detections[TD_COUNT];

struct threat_det_conf {
	bool enabled;
	int threshold;
	double window;
	int severity;
};

/* The `threat { }' section as plain data (conf.c owns one per config). */
struct threat_conf {
	bool enabled;
	int max_tracked;             /* per table */
	double half_life;            /* score half-life, seconds */
	double quarantine_threshold; /* score; 0 = never */
	bool auto_quarantine;
	double throttle_threshold;   /* score; 0 = never */
	double throttle_rate;        /* operations per second while throttled */
	double learning;             /* seconds of learning from start; 0 off */
	double repeat_interval;      /* one report per (detection, source) */
	char **safety_zones;         /* NULL-terminated, never auto-quarantined */
	char **engineering;          /* identities or zones allowed FC 43/14 */
	struct threat_det_conf det[TD_COUNT];
};

/*
 * Read `threat { }' (g may be NULL: every default) into tc.  Unknown keys,
 * wrong types, unknown detection ids and severities are errors with
 * file:line.  Returns 0 or -1.  threat_conf_clear() frees what it holds.
 */
int threat_conf_load(struct cfg_errs *e, const config_setting_t *g,
		     struct threat_conf *tc);
void threat_conf_clear(struct threat_conf *tc);

struct threat;

/* A new engine raising its events through d (events_emit). */
struct threat *threat_new(struct zg_daemon *d);
void threat_free(struct threat *t);
/*
 * Apply a configuration (start and every reload).  Counters and scores
 * survive; the learning period starts at the first call that enables it.
 * Starts the poll-silence timer on d->base when there is one.
 */
void threat_configure(struct threat *t, const struct threat_conf *tc);

/* A decided operation.  May turn an ALLOW into a DENY (throttling). */
void threat_op(struct threat *t, const char *source, const struct zg_op *op,
	       struct zg_verdict *v);
/* A security event (never one the engine raised itself). */
void threat_event(struct threat *t, const char *source,
		  const struct zg_event *ev);
void threat_observe(struct threat *t, const char *source,
		    const struct zg_observation *o);
/* Periodic work (poll silence), `now' in monotonic seconds. */
void threat_tick(struct threat *t, double now);
/* An operator released `identity': its score starts again at 0. */
void threat_released(struct threat *t, const char *identity);

/* Scores, highest first is the caller's business. */
typedef void (*threat_score_cb)(void *arg, const char *key, double score,
				bool identity, unsigned detections,
				const char *last_detection);
void threat_score_foreach(struct threat *t, threat_score_cb cb, void *arg);

/*
 * The learned baseline as a conduit snippet (libconfig, `conduits = (...)')
 * in a malloc'd string (*out), and the state: 0 learning off, 1 learning,
 * 2 finished.  *remaining = seconds left.  Returns -1 on out of memory.
 */
int threat_learned(struct threat *t, char **out, double *remaining);

/* ---------------------------------------------------------------- */
/* Pure pieces, unit-tested with a fake clock (tests/unit/test_threat.c) */

/* score after dt seconds of exponential decay with half-life hl (> 0). */
double threat_decay(double score, double dt, double hl);

/* A bounded table of string keys with LRU eviction. */
struct tw_entry {
	char key[200];
	uint32_t hash;
	double t0;        /* window start */
	double last;      /* last touch */
	double count;     /* in the current window */
	double val;       /* score, mean interval ... */
	uint64_t bits[4]; /* distinct set, 256 slots */
	uint32_t n;       /* observations ever */
	uint32_t flags;
	void *data;       /* owned extra (baselines), freed with the entry */
	struct tw_entry *hnext, *lprev, *lnext;
};

/* Lookups on a NULL table find nothing (an engine out of memory). */
struct tw_table;
struct tw_table *tw_new(size_t cap);
void tw_free(struct tw_table *tw);
/* The entry for key, or NULL (created = false). */
struct tw_entry *tw_find(struct tw_table *tw, const char *key);
/*
 * The entry for key, created (evicting the least recently used entry when
 * the table is full) and marked used at `now'.  *created says which.
 */
struct tw_entry *tw_get(struct tw_table *tw, const char *key, double now,
			bool *created);
size_t tw_size(const struct tw_table *tw);
uint64_t tw_evictions(const struct tw_table *tw);
/* Walk entries, most recently used first. */
struct tw_entry *tw_first(struct tw_table *tw);
#define tw_next(e) ((e)->lnext)

/*
 * Count one observation into a tumbling window of `window' seconds:
 * returns the count in the current window (a new window starts when the
 * old one has passed).  With slot >= 0 it counts distinct slots (0..255)
 * instead and returns how many distinct ones the window holds.
 */
double tw_count(struct tw_entry *e, double now, double window, int slot);

#endif /* ZG_THREAT_H */
