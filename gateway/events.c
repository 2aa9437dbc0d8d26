/*
 * events.c: see events.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway/bus.h"
#include "gateway/events.h"
#include "gateway/log.h"
#include "gateway/evring.h"

const char *const event_severity_names[] = { "info", "low", "medium",
					     "high", "critical", NULL };

static const char *
sev_name(int s)
{
	if (s < ZG_SEV_INFO || s > ZG_SEV_CRITICAL)
		return "unknown";
	return event_severity_names[s];
}

/* Append ,"key":"escaped" when val is not NULL. */
static size_t
put_str(char *buf, size_t len, size_t off, const char *key, const char *val)
{
	char esc[512];
	int w;

	if (val == NULL || off >= len)
		return off;
	json_escape(esc, sizeof(esc), val);
	w = snprintf(buf + off, len - off, ",\"%s\":\"%s\"", key, esc);
	if (w < 0)
		return off;
	return off + (size_t)w;
}

int
events_format_json(const char *source, const struct zg_event *ev, char *buf,
		   size_t len)
{
	const struct zg_verdict *v = ev->verdict;
	struct timespec now;
	char ts[40];
	struct tm tm;
	size_t off;
	int w;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	w = snprintf(buf, len, "{\"ts\":\"%s.%03ldZ\",\"severity\":\"%s\"", ts,
		     now.tv_nsec / 1000000L, sev_name(ev->severity));
	if (w < 0 || (size_t)w >= len)
		return -1;
	off = (size_t)w;
	off = put_str(buf, len, off, "kind", ev->kind ? ev->kind : "unknown");
	off = put_str(buf, len, off, "source", source);
	off = put_str(buf, len, off, "peer", ev->peer);
	off = put_str(buf, len, off, "identity", ev->identity);
	off = put_str(buf, len, off, "target", ev->target);
	if (v != NULL) {
		off = put_str(buf, len, off, "verdict",
			      v->decision == ZG_ALLOW ? "allow" : "deny");
		off = put_str(buf, len, off, "rule", v->rule);
		if (v->origin_file != NULL && off < len) {
			char where[300];

			snprintf(where, sizeof(where), "%s:%d", v->origin_file,
				 v->origin_line);
			off = put_str(buf, len, off, "rule_origin", where);
		}
		off = put_str(buf, len, off, "from_zone", v->from_zone);
		off = put_str(buf, len, off, "to_zone", v->to_zone);
		off = put_str(buf, len, off, "reason", v->reason);
		if (v->shadow)
			off = put_str(buf, len, off, "shadow_would",
				      v->shadow_decision == ZG_ALLOW ? "allow"
								     : "deny");
	}
	off = put_str(buf, len, off, "detail", ev->detail);
	if (off + 2 > len)
		return -1;
	buf[off++] = '}';
	buf[off] = '\0';
	return 0;
}

void
events_emit(struct zg_daemon *d, const char *source, const struct zg_event *ev)
{
	char json[2048];

	d->events_total++;
	if (events_format_json(source, ev, json, sizeof(json)) < 0)
		snprintf(json, sizeof(json), "{\"kind\":\"event.too_long\"}");
	log_event_json(ev->severity >= ZG_SEV_MEDIUM ? ZG_LOG_WARN : ZG_LOG_INFO,
		       ev->peer, json);
	bus_security_event(d, source, ev->verdict ? ev->verdict->from_zone : NULL,
			   json, strlen(json));
	evring_event(ev->kind ? ev->kind : "unknown", sev_name(ev->severity), json);
}
