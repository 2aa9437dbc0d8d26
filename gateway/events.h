/*
 * events: security events and telemetry messages leaving a plugin.
 *
 * events_emit() is the one funnel every security event goes through: it
 * numbers and counts it, writes one line to the daemon's log (warning
 * level from medium severity up, JSON object in the JSON log format),
 * appends it to the JSON-lines event log (events.file), and hands it to
 * the threat engine (unless the engine raised it).
 * With a spool configured each event also travels northbound on topic
 * "events/security" (bus.c).
 */
#ifndef ZG_EVENTS_H
#define ZG_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <zonegate/plugin.h>

#include "gateway/daemon.h"

extern const char *const event_severity_names[];

void events_emit(struct zg_daemon *d, const char *source,
		 const struct zg_event *ev);
#define EVENTS_JSON_MAX 4096 /* one event line */
#define EVENTS_VALUES_MAX 32 /* register values shown per event */

/* Render an event as one JSON object (schema in docs/events.md). */
int events_format_json(const char *source, const struct zg_event *ev,
		       char *buf, size_t len);
/* The same with the daemon's event sequence number (0 = none). */
int events_format_json_seq(const char *source, const struct zg_event *ev,
			   uint64_t seq, char *buf, size_t len);

#endif /* ZG_EVENTS_H */
