/*
 * bus: the northbound message path of the core (docs/northbound.md).
 *
 * bus_emit() gives every message the next per-gateway sequence number,
 * wraps the plugin's JSON object in the envelope (gateway, seq, ts,
 * topic, zone, source, then the payload's own fields), appends it to the
 * durable spool and, once the spool says it is durable (group commit at
 * the end of the loop iteration), feeds it to every registered uplink in
 * sequence order.  Uplinks acknowledge; a spool segment goes away when
 * every uplink acknowledged all of it.
 *
 * Without a spool { } section there is no bus: messages are counted and
 * dropped (said once in the log) and uplinks cannot register.
 */
#ifndef ZG_BUS_H
#define ZG_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zonegate/plugin.h>

#include "gateway/conf.h"
#include "gateway/daemon.h"

struct bus;

/* Northbound counters (also logged at shutdown). */
struct bus_stats {
	uint64_t emitted;          /* messages taken into the spool */
	uint64_t refused;          /* refused: spool full, zone bound, I/O */
	uint64_t invalid;          /* payload not a JSON object / reserved key */
	uint64_t sent, acked, resent; /* over all uplinks */
};

/*
 * Open the spool c->spool names (recovery runs here and its findings are
 * logged) and hook the bus into d's loop.  NULL with err on failure.
 */
struct bus *bus_new(struct zg_daemon *d, const struct conf_spool *c,
		    char *err, size_t errlen);
/* Flush, save the uplinks' positions, log the counters, free. */
void bus_free(struct bus *b);
void bus_get_stats(const struct bus *b, struct bus_stats *st);

/*
 * Take one message from `source' (a plugin name).  payload must be one
 * JSON object whose top-level keys do not collide with the envelope's.
 * 0 when spooled (or counted and dropped without a spool), -1 when
 * refused (invalid, spool full with on_full = pause, zone over its
 * bound, disk error): the caller may slow down.
 */
int bus_emit(struct zg_daemon *d, const char *source, const char *topic,
	     const char *zone, const void *payload, size_t len);
/*
 * A security event rendered by events_format_json(): spooled on topic
 * "events/security"; its "ts" and "source" members give way to the
 * envelope's.  0 when spooled or when no spool is configured (events are
 * then not sent northbound at all, by configuration); -1 when the spool
 * refused it (disk full, bounds), logged once per episode by the bus:
 * the caller counts it as lost.
 */
int bus_security_event(struct zg_daemon *d, const char *source,
			const char *zone, const char *json, size_t len);

/*
 * The envelope, pure (fuzzed): writes
 *   {"gateway":G,"seq":N,"ts":"...Z","topic":T,"zone":Z|null,
 *    "source":S, <members of payload>}
 * into out.  With strip, payload members named like envelope keys are
 * left out; without, they make it fail.  Returns the length, -1 when
 * payload is not exactly one JSON object (nesting depth <= 32), -2 on a
 * reserved key, -3 when out is too small.
 */
long bus_envelope(char *out, size_t cap, const char *gateway, uint64_t seq,
		  int64_t ts_ms, const char *topic, const char *zone,
		  const char *source, const char *payload, size_t len,
		  bool strip);

/* Host side of the uplink API (zg_host_api.uplink_*); owner = plugin. */
struct zg_uplink *bus_uplink_new(struct bus *b, const void *owner,
				 const char *owner_name, const char *name,
				 const struct zg_uplink_ops *ops, void *arg,
				 unsigned max_inflight);
void bus_uplink_up(struct zg_uplink *u);
void bus_uplink_down(struct zg_uplink *u, const char *why);
void bus_uplink_ack(struct zg_uplink *u, uint64_t seq);
void bus_uplink_ready(struct zg_uplink *u);
void bus_uplink_free(struct zg_uplink *u);
/* Where the uplink sends ("broker:8883", a URL), for the operator. */
void bus_uplink_target(struct zg_uplink *u, const char *target);
/*
 * Bring the operator's uplink registry (gateway/upstat.h) up to date:
 * spool depth, oldest unsent, counters.  Readers (zonegatectl uplinks,
 * the metrics endpoint) call it before they look.  NULL is fine.
 */
void bus_upstat_refresh(struct bus *b);
/* Free every uplink `owner' left registered (plugin unload). */
void bus_uplinks_release(struct bus *b, const void *owner);

#endif /* ZG_BUS_H */
