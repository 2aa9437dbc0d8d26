/*
 * events.c: see events.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway/bus.h"
#include "gateway/eventlog.h"
#include "gateway/events.h"
#include "gateway/evring.h"
#include "gateway/log.h"
#include "gateway/threat.h"

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

static const char *const mb_tables[] = { "coils", "discrete_inputs",
	"holding_registers", "input_registers" };

/* Append printf output, keeping off <= len. */
static size_t
put_fmt(char *buf, size_t len, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static size_t
put_fmt(char *buf, size_t len, size_t off, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (off >= len)
		return off;
	va_start(ap, fmt);
	w = vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
	if (w < 0)
		return off;
	return off + (size_t)w;
}

/*
 * ,"op":{...}: what the operation asked for.  Modbus: unit, fc, subfn
 * (FC 8), mei (FC 43), spans and the register values written (at most
 * EVENTS_VALUES_MAX, "values_total" says how many there were).
 */
static size_t
put_op(char *buf, size_t len, size_t off, const struct zg_op *op)
{
	char esc[512], tmp[512];
	int i;

	if (op == NULL)
		return off;
	if (op->proto == ZG_PROTO_MODBUS) {
		const struct zg_modbus_op *m = &op->u.modbus;

		off = put_fmt(buf, len, off,
			      ",\"op\":{\"proto\":\"modbus\",\"unit\":%u,\"fc\":%u",
			      m->unit, m->fc);
		if (m->fc == 8)
			off = put_fmt(buf, len, off, ",\"subfn\":%u", m->subfn);
		if (m->fc == 43)
			off = put_fmt(buf, len, off, ",\"mei\":%u", m->mei);
		off = put_fmt(buf, len, off, ",\"spans\":[");
		for (i = 0; i < m->nspans && i < 2; i++)
			off = put_fmt(buf, len, off,
				      "%s{\"table\":\"%s\",\"access\":\"%s\",\"addr\":%u,\"qty\":%u}",
				      i ? "," : "",
				      m->spans[i].table < ZG_MB_NTABLES
					      ? mb_tables[m->spans[i].table] : "unknown",
				      m->spans[i].access == ZG_MB_WRITE ? "write" : "read",
				      m->spans[i].addr, m->spans[i].qty);
		off = put_fmt(buf, len, off, "]");
		if (m->values != NULL && m->nvalues > 0) {
			off = put_fmt(buf, len, off, ",\"values\":[");
			for (i = 0; i < m->nvalues && i < EVENTS_VALUES_MAX; i++)
				off = put_fmt(buf, len, off, "%s%u", i ? "," : "",
					      m->values[i]);
			off = put_fmt(buf, len, off, "],\"values_total\":%u",
				      m->nvalues);
		}
		return put_fmt(buf, len, off, "}");
	}
	if (op->proto == ZG_PROTO_MQTT) {
		const struct zg_mqtt_op *q = &op->u.mqtt;
		size_t tl = q->topic_len < sizeof(tmp) - 1 ? q->topic_len
							   : sizeof(tmp) - 1;

		memcpy(tmp, q->topic ? q->topic : "", q->topic ? tl : 0);
		tmp[q->topic ? tl : 0] = '\0';
		json_escape(esc, sizeof(esc), tmp);
		off = put_fmt(buf, len, off,
			      ",\"op\":{\"proto\":\"mqtt\",\"action\":\"%s\",\"qos\":%u,\"retain\":%s,\"topic\":\"%s\"",
			      q->action == ZG_MQTT_SUBSCRIBE ? "subscribe" : "publish",
			      q->qos, q->retain ? "true" : "false", esc);
		off = put_str(buf, len, off, "client_id", q->client_id);
		return put_fmt(buf, len, off, "}");
	}
	if (op->proto == ZG_PROTO_HTTP) {
		off = put_fmt(buf, len, off, ",\"op\":{\"proto\":\"http\"");
		off = put_str(buf, len, off, "method", op->u.http.method);
		off = put_str(buf, len, off, "path", op->u.http.path);
		return put_fmt(buf, len, off, "}");
	}
	return off;
}

int
events_format_json(const char *source, const struct zg_event *ev, char *buf,
		   size_t len)
{
	return events_format_json_seq(source, ev, 0, buf, len);
}

int
events_format_json_seq(const char *source, const struct zg_event *ev,
		       uint64_t seq, char *buf, size_t len)
{
	const struct zg_detection *dt = ev->detection;
	const struct zg_verdict *v = ev->verdict;
	struct timespec now;
	char ts[40];
	struct tm tm;
	size_t off;
	int w;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (seq > 0)
		w = snprintf(buf, len, "{\"ts\":\"%s.%03ldZ\",\"seq\":%llu,\"severity\":\"%s\"",
			     ts, now.tv_nsec / 1000000L, (unsigned long long)seq,
			     sev_name(ev->severity));
	else
		w = snprintf(buf, len, "{\"ts\":\"%s.%03ldZ\",\"severity\":\"%s\"",
			     ts, now.tv_nsec / 1000000L, sev_name(ev->severity));
	if (w < 0 || (size_t)w >= len)
		return -1;
	off = (size_t)w;
	off = put_str(buf, len, off, "kind", ev->kind ? ev->kind : "unknown");
	off = put_str(buf, len, off, "source", source);
	off = put_str(buf, len, off, "peer", ev->peer);
	off = put_str(buf, len, off, "identity", ev->identity);
	off = put_str(buf, len, off, "target", ev->target);
	if (dt != NULL) {
		off = put_str(buf, len, off, "detection", dt->id);
		off = put_str(buf, len, off, "technique", dt->technique);
		off = put_str(buf, len, off, "technique_name", dt->technique_name);
		off = put_str(buf, len, off, "attack_version", dt->attack_version);
		off = put_str(buf, len, off, "zone", dt->zone);
		off = put_str(buf, len, off, "evidence", dt->evidence);
		off = put_str(buf, len, off, "action", dt->action);
		off = put_fmt(buf, len, off, ",\"score\":%.1f", dt->score);
	}
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
	off = put_op(buf, len, off, ev->op);
	if (off + 2 > len)
		return -1;
	buf[off++] = '}';
	buf[off] = '\0';
	return 0;
}

/*
 * Northbound through the spool.  Never lost silently: a refusal (disk
 * full, spool bounds) is counted (zonegate_events_lost_total{sink=
 * "spool"}) and said once per episode, naming what still has the events;
 * the end of the episode is said with the count.
 */
static void
spool_event(struct zg_daemon *d, const char *source, const struct zg_event *ev,
	    const char *json)
{
	if (bus_security_event(d, source,
			       ev->verdict ? ev->verdict->from_zone : NULL, json,
			       strlen(json)) < 0) {
		if (d->events_spool_lost++ == d->events_spool_lost_said)
			log_msg(ZG_LOG_ERR, "events", NULL,
				"security events are not reaching the spool (northbound): %llu lost so far; they are still in the daemon log%s",
				(unsigned long long)d->events_spool_lost,
				d->evlog != NULL ? " and the event log" : "");
		return;
	}
	if (d->events_spool_lost > d->events_spool_lost_said) {
		log_msg(ZG_LOG_INFO, "events", NULL,
			"security events reach the spool again (%llu lost in all)",
			(unsigned long long)d->events_spool_lost);
		d->events_spool_lost_said = d->events_spool_lost;
	}
}

void
events_emit(struct zg_daemon *d, const char *source, const struct zg_event *ev)
{
	char json[EVENTS_JSON_MAX];

	d->events_total++;
	if (events_format_json_seq(source, ev, d->events_total, json,
				   sizeof(json)) < 0)
		snprintf(json, sizeof(json),
			 "{\"seq\":%llu,\"kind\":\"event.too_long\"}",
			 (unsigned long long)d->events_total);
	log_event_json(ev->severity >= ZG_SEV_MEDIUM ? ZG_LOG_WARN : ZG_LOG_INFO,
		       ev->peer, json);
	spool_event(d, source, ev, json);
	evring_event(ev->kind ? ev->kind : "unknown", sev_name(ev->severity), json);
	if (d->evlog != NULL)
		eventlog_write(d->evlog, json, strlen(json));
	/* Then the threat engine, which may raise events of its own. */
	if (d->threat != NULL && ev->detection == NULL)
		threat_event(d->threat, source, ev);
}
