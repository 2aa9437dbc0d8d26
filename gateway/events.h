/*
 * events: security events and telemetry messages leaving a plugin.
 *
 * events_emit() writes one line per security event to the daemon's log
 * (warning level, JSON object in the JSON log format) and counts it.
 * With a spool configured each event also travels northbound on topic
 * "events/security" (bus.c).
 */
#ifndef ZG_EVENTS_H
#define ZG_EVENTS_H

#include <stddef.h>

#include <zonegate/plugin.h>

#include "gateway/daemon.h"

extern const char *const event_severity_names[];

void events_emit(struct zg_daemon *d, const char *source,
		 const struct zg_event *ev);
/* Render an event as one JSON object (schema in docs/events.md). */
int events_format_json(const char *source, const struct zg_event *ev,
		       char *buf, size_t len);

#endif /* ZG_EVENTS_H */
