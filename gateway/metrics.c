/*
 * metrics.c: see metrics.h.
 *
 * Series live in one open hash table keyed by (name, labels); each holds
 * a pointer to its family, and families keep their series in a list so
 * that rendering groups them as the exposition format requires.  The
 * lookup on the data path (a decision, an accepted connection) hashes
 * the strings it is given without building a key first.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <zonegate/plugin.h>

#include "gateway/bus.h"
#include "gateway/conf.h"
#include "gateway/daemon.h"
#include "gateway/eventlog.h"
#include "gateway/metrics.h"
#include "gateway/plugin_host.h"
#include "gateway/upstat.h"
#include "segments/segments.h"

#define NBUCKETS 1024
#define FD_COUNT_MAX 65536 /* stop counting descriptors past this */

struct family;

/* Upper bounds of the histogram buckets (+Inf is implicit). */
static const double hist_bounds[METRICS_HIST_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
	5.0, 10.0
};

struct hist {
	uint64_t bucket[METRICS_HIST_BUCKETS]; /* not cumulative */
	uint64_t count;
	double sum;
};

struct series {
	struct family *fam;
	int nlabels;
	char *k[METRICS_LABELS_MAX];
	char *v[METRICS_LABELS_MAX];
	uint64_t hash;
	union {
		uint64_t c;
		double g;
		struct hist *h;  /* METRIC_HISTOGRAM, owned */
	} val;
	struct series *hnext;  /* hash chain */
	struct series *fnext;  /* family list */
};

struct family {
	char *name;
	char *help;
	int type;              /* enum metric_type */
	bool described;
	struct series *head, *tail;
};

static struct series *buckets[NBUCKETS];
static struct family *families[METRICS_FAMILIES_MAX];
static size_t nfamilies, nseries;
static uint64_t dropped;
static struct timespec started_at;
static bool started_set;

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; labels without ':'. */
static bool
valid_name(const char *s, bool label)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > METRICS_NAME_MAX)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		    (!label && c == ':') || (i > 0 && c >= '0' && c <= '9'))
			continue;
		return false;
	}
	/* Names starting with __ are reserved for Prometheus itself. */
	return !(label && s[0] == '_' && s[1] == '_');
}

static uint64_t
fnv(uint64_t h, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	h ^= 0xff; /* separator: ("ab","c") != ("a","bc") */
	return h * 1099511628211ULL;
}

static uint64_t
key_hash(const char *name, int n, const char *const *k, const char *const *v)
{
	uint64_t h = 1469598103934665603ULL;
	int i;

	h = fnv(h, name, METRICS_NAME_MAX);
	for (i = 0; i < n; i++) {
		h = fnv(h, k[i], METRICS_NAME_MAX);
		h = fnv(h, v[i], METRICS_VALUE_MAX);
	}
	return h;
}

/* Stored values are cut at METRICS_VALUE_MAX: compare that much. */
static bool
same_value(const char *stored, const char *given)
{
	return strncmp(stored, given, METRICS_VALUE_MAX) == 0;
}

static struct family *
family_find(const char *name)
{
	size_t i;

	for (i = 0; i < nfamilies; i++)
		if (strcmp(families[i]->name, name) == 0)
			return families[i];
	return NULL;
}

static struct family *
family_get(const char *name, int type)
{
	struct family *f = family_find(name);

	if (f != NULL)
		return f;
	if (nfamilies >= METRICS_FAMILIES_MAX || !valid_name(name, false))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL || (f->name = strdup(name)) == NULL) {
		free(f);
		return NULL;
	}
	f->type = type;
	families[nfamilies++] = f;
	return f;
}

int
metrics_describe(const char *name, enum metric_type type, const char *help)
{
	struct family *f = family_get(name, (int)type);
	char *h;

	if (f == NULL || (f->described && f->type != (int)type))
		return -1;
	if (f->head != NULL && !f->described && f->type != (int)type)
		return -1;
	h = strdup(help ? help : "");
	if (h == NULL)
		return -1;
	free(f->help);
	f->help = h;
	f->type = (int)type;
	f->described = true;
	return 0;
}

/*
 * The series (name, labels), created when absent and `create'.  NULL
 * when refused: bad name, wrong type for the family, or the registry
 * is full (counted in `dropped').
 */
static struct series *
series_get(const char *name, int type, int n, const char *const *k,
	   const char *const *v, bool create)
{
	uint64_t h;
	struct series *s;
	struct family *f;
	int i;

	if (name == NULL || n < 0 || n > METRICS_LABELS_MAX)
		goto drop;
	for (i = 0; i < n; i++)
		if (k[i] == NULL || v[i] == NULL)
			goto drop;
	h = key_hash(name, n, k, v);
	for (s = buckets[h % NBUCKETS]; s != NULL; s = s->hnext) {
		if (s->hash != h || s->nlabels != n ||
		    strcmp(s->fam->name, name) != 0)
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(s->k[i], k[i]) != 0 || !same_value(s->v[i], v[i]))
				break;
		if (i == n) {
			if (s->fam->type == type)
				return s;
			goto drop;
		}
	}
	if (!create)
		return NULL;
	if (nseries >= METRICS_SERIES_MAX)
		goto drop;
	for (i = 0; i < n; i++)
		if (!valid_name(k[i], true))
			goto drop;
	f = family_get(name, type);
	if (f == NULL || f->type != type)
		goto drop;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto drop;
	if (type == METRIC_HISTOGRAM &&
	    (s->val.h = calloc(1, sizeof(*s->val.h))) == NULL)
		goto free_series;
	for (i = 0; i < n; i++) {
		s->k[i] = strdup(k[i]);
		s->v[i] = strndup(v[i], METRICS_VALUE_MAX);
		if (s->k[i] == NULL || s->v[i] == NULL) {
			s->nlabels = i + 1;
			goto free_series;
		}
	}
	s->nlabels = n;
	s->fam = f;
	s->hash = h;
	s->hnext = buckets[h % NBUCKETS];
	buckets[h % NBUCKETS] = s;
	if (f->tail != NULL)
		f->tail->fnext = s;
	else
		f->head = s;
	f->tail = s;
	nseries++;
	return s;
free_series:
	for (i = 0; i < s->nlabels; i++) {
		free(s->k[i]);
		free(s->v[i]);
	}
	if (type == METRIC_HISTOGRAM)
		free(s->val.h);
	free(s);
drop:
	dropped++;
	return NULL;
}

void
metrics_counter_add(const char *name, const char *label_k,
		    const char *label_v, uint64_t n)
{
	struct series *s = series_get(name, METRIC_COUNTER, label_k ? 1 : 0,
				      &label_k, &label_v, true);

	if (s != NULL)
		s->val.c += n;
}

void
metrics_counter_add2(const char *name, const char *k1, const char *v1,
		     const char *k2, const char *v2, uint64_t n)
{
	const char *k[2] = { k1, k2 }, *v[2] = { v1, v2 };
	struct series *s = series_get(name, METRIC_COUNTER, 2, k, v, true);

	if (s != NULL)
		s->val.c += n;
}

void
metrics_counter_set(const char *name, const char *label_k,
		    const char *label_v, uint64_t val)
{
	struct series *s = series_get(name, METRIC_COUNTER, label_k ? 1 : 0,
				      &label_k, &label_v, true);

	if (s != NULL)
		s->val.c = val;
}

void
metrics_gauge_set(const char *name, const char *label_k, const char *label_v,
		  double val)
{
	struct series *s = series_get(name, METRIC_GAUGE, label_k ? 1 : 0,
				      &label_k, &label_v, true);

	if (s != NULL)
		s->val.g = val;
}

void
metrics_gauge_set2(const char *name, const char *k1, const char *v1,
		   const char *k2, const char *v2, double val)
{
	const char *k[2] = { k1, k2 }, *v[2] = { v1, v2 };
	struct series *s = series_get(name, METRIC_GAUGE, 2, k, v, true);

	if (s != NULL)
		s->val.g = val;
}

static void
hist_add(struct series *s, double v)
{
	struct hist *h = s->val.h;
	int i;

	for (i = 0; i < METRICS_HIST_BUCKETS; i++)
		if (v <= hist_bounds[i])
			break;
	if (i < METRICS_HIST_BUCKETS)
		h->bucket[i]++;
	h->count++;
	h->sum += v;
}

void
metrics_observe(const char *name, const char *label_k, const char *label_v,
		double v)
{
	struct series *s;

	if (!isfinite(v) || v < 0) {
		dropped++;
		return;
	}
	s = series_get(name, METRIC_HISTOGRAM, label_k ? 1 : 0, &label_k,
		       &label_v, true);
	if (s != NULL)
		hist_add(s, v);
}

void
metrics_observe2(const char *name, const char *k1, const char *v1,
		 const char *k2, const char *v2, double v)
{
	const char *k[2] = { k1, k2 }, *lv[2] = { v1, v2 };
	struct series *s;

	if (!isfinite(v) || v < 0) {
		dropped++;
		return;
	}
	s = series_get(name, METRIC_HISTOGRAM, 2, k, lv, true);
	if (s != NULL)
		hist_add(s, v);
}

static void
series_free(struct series *s)
{
	int i;

	for (i = 0; i < s->nlabels; i++) {
		free(s->k[i]);
		free(s->v[i]);
	}
	if (s->fam != NULL && s->fam->type == METRIC_HISTOGRAM)
		free(s->val.h);
	free(s);
}

void
metrics_family_clear(const char *name)
{
	struct family *f = family_find(name);
	struct series *s, **pp;

	if (f == NULL)
		return;
	while ((s = f->head) != NULL) {
		f->head = s->fnext;
		for (pp = &buckets[s->hash % NBUCKETS]; *pp != NULL;
		     pp = &(*pp)->hnext) {
			if (*pp == s) {
				*pp = s->hnext;
				break;
			}
		}
		series_free(s);
		nseries--;
	}
	f->tail = NULL;
}

double
metrics_value(const char *name, const char *label_k, const char *label_v)
{
	struct family *f = family_find(name);
	struct series *s;

	if (f == NULL)
		return -1;
	s = series_get(name, f->type, label_k ? 1 : 0, &label_k, &label_v,
		       false);
	if (s == NULL)
		return -1;
	if (f->type == METRIC_HISTOGRAM)
		return (double)s->val.h->count;
	return f->type == METRIC_COUNTER ? (double)s->val.c : s->val.g;
}

void
metrics_reset(void)
{
	size_t i;

	for (i = 0; i < nfamilies; i++) {
		struct series *se;

		while ((se = families[i]->head) != NULL) {
			families[i]->head = se->fnext;
			series_free(se);
		}
		free(families[i]->name);
		free(families[i]->help);
		free(families[i]);
	}
	nfamilies = 0;
	nseries = 0;
	dropped = 0;
	memset(buckets, 0, sizeof(buckets));
}

/* ------------------------------------------------------------------ */
/* Values owned elsewhere, refreshed at each scrape                     */

static void
describe_builtin(void)
{
	static const struct {
		const char *name;
		int type;
		const char *help;
	} d[] = {
		{ "zonegate_build_info", METRIC_GAUGE,
		  "Version, TLS engine and plugin ABI of this zonegated (always 1)." },
		{ "zonegate_uptime_seconds", METRIC_GAUGE,
		  "Seconds since zonegated started." },
		{ "zonegate_process_resident_memory_bytes", METRIC_GAUGE,
		  "Resident set size of the zonegated process." },
		{ "zonegate_process_open_fds", METRIC_GAUGE,
		  "Open file descriptors of the zonegated process." },
		{ "zonegate_reloads_total", METRIC_COUNTER,
		  "Configuration reloads by result (ok, failed)." },
		{ "zonegate_restarts_total", METRIC_COUNTER,
		  "Network processes the supervisor started after one died (the daemon.restart events)." },
		{ "zonegate_decisions_total", METRIC_COUNTER,
		  "Policy decisions by result (allow, deny; shadow: decided by a dry-run conduit)." },
		{ "zonegate_operations_total", METRIC_COUNTER,
		  "Operations decided, by conduit (none: no conduit matched) and decision." },
		{ "zonegate_events_total", METRIC_COUNTER,
		  "Security events by kind and severity." },
		{ "zonegate_detections_total", METRIC_COUNTER,
		  "Threat-engine detections by detection id." },
		{ "zonegate_threat_actions_total", METRIC_COUNTER,
		  "Automatic responses of the threat engine, by action (quarantine, throttle, quarantine_withheld)." },
		{ "zonegate_events_lost_total", METRIC_COUNTER,
		  "Security events a sink could not store, by sink (event_log: write failed; spool: refused, e.g. disk full). They still reach the daemon log." },
		{ "zonegate_poll_latency_seconds", METRIC_HISTOGRAM,
		  "Poller reads from request to answer, by device (answers and exceptions; timeouts are in zonegate_polls_total)." },
		{ "zonegate_polls_total", METRIC_COUNTER,
		  "Poller reads by device and result (ok, exception, timeout, error, denied)." },
		{ "zonegate_connections_total", METRIC_COUNTER,
		  "Connections accepted, by plugin and listener." },
		{ "zonegate_tls_handshake_failures_total", METRIC_COUNTER,
		  "TLS handshakes that failed, by reason." },
		{ "zonegate_quarantined_identities", METRIC_GAUGE,
		  "Identities in the runtime quarantine." },
		{ "zonegate_sessions", METRIC_GAUGE,
		  "Open client sessions, by plugin." },
		{ "zonegate_device_up", METRIC_GAUGE,
		  "Whether a southbound device is reachable (1) or not (0), by device." },
		{ "zonegate_uplink_up", METRIC_GAUGE,
		  "Whether a northbound uplink is connected (1) or not (0)." },
		{ "zonegate_uplink_offline_seconds", METRIC_GAUGE,
		  "Seconds since a disconnected uplink went down (0 while up)." },
		{ "zonegate_spool_depth_messages", METRIC_GAUGE,
		  "Messages in the spool not yet acknowledged by an uplink." },
		{ "zonegate_spool_depth_bytes", METRIC_GAUGE,
		  "Bytes in the spool not yet acknowledged by an uplink." },
		{ "zonegate_spool_oldest_age_seconds", METRIC_GAUGE,
		  "Age of the oldest message an uplink has not acknowledged." },
		{ "zonegate_uplink_sent_total", METRIC_COUNTER,
		  "Messages an uplink sent since start (resends included)." },
		{ "zonegate_uplink_acked_total", METRIC_COUNTER,
		  "Messages the far end of an uplink acknowledged since start." },
		{ "zonegate_spool_zone_bytes", METRIC_GAUGE,
		  "Bytes a zone with a spool bound holds in the spool." },
		{ "zonegate_spool_zone_over_total", METRIC_COUNTER,
		  "Times a zone went over its spool bound (episodes)." },
		{ "zonegate_spool_zone_dropped_total", METRIC_COUNTER,
		  "Unacknowledged messages of a zone dropped at its spool bound." },
		{ "zonegate_spool_zone_refused_total", METRIC_COUNTER,
		  "Messages of a zone refused at its spool bound." },
		{ "zonegate_metrics_series_dropped_total", METRIC_COUNTER,
		  "Metric updates refused: invalid name or label, or the series limit reached." },
		{ "zonegate_metrics_scrapes_total", METRIC_COUNTER,
		  "Scrapes of /metrics served." },
	};
	size_t i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		struct family *f = family_find(d[i].name);

		if (f == NULL || !f->described)
			metrics_describe(d[i].name, (enum metric_type)d[i].type,
					 d[i].help);
	}
}

void
metrics_start_clock(void)
{
	clock_gettime(CLOCK_MONOTONIC, &started_at);
	started_set = true;
}

static void
collect_process(void)
{
	struct timespec now;
	long rss_pages = 0, size;
	FILE *fp;
	DIR *dir;
	struct dirent *de;
	unsigned long nfd = 0;

	if (!started_set)
		metrics_start_clock();
	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_gauge_set("zonegate_uptime_seconds", NULL, NULL,
			  (double)(now.tv_sec - started_at.tv_sec) +
				  (double)(now.tv_nsec - started_at.tv_nsec) / 1e9);
	fp = fopen("/proc/self/statm", "re");
	if (fp != NULL) {
		if (fscanf(fp, "%ld %ld", &size, &rss_pages) == 2)
			metrics_gauge_set("zonegate_process_resident_memory_bytes",
					  NULL, NULL,
					  (double)rss_pages * (double)sysconf(_SC_PAGESIZE));
		fclose(fp);
	}
	dir = opendir("/proc/self/fd");
	if (dir != NULL) {
		while ((de = readdir(dir)) != NULL && nfd < FD_COUNT_MAX)
			if (de->d_name[0] != '.')
				nfd++;
		closedir(dir);
		/* The directory stream itself is not the daemon's. */
		metrics_gauge_set("zonegate_process_open_fds", NULL, NULL,
				  (double)(nfd > 0 ? nfd - 1 : 0));
	}
}

struct live_ctx {
	unsigned sessions;
	const char *plugin;
};

static void
live_session(void *arg, const struct zg_session_info *si)
{
	struct live_ctx *l = arg;

	(void)si;
	l->sessions++;
}

static void
live_device(void *arg, const struct zg_device_status *ds)
{
	(void)arg;
	if (ds->identity != NULL && ds->online >= 0)
		metrics_gauge_set("zonegate_device_up", "device", ds->identity,
				  ds->online ? 1.0 : 0.0);
}

static void
collect_daemon(struct zg_daemon *d)
{
	int i;

	/* Series that come and go with the configuration. */
	metrics_family_clear("zonegate_sessions");
	metrics_family_clear("zonegate_device_up");
	metrics_counter_set("zonegate_reloads_total", "result", "ok",
			    d->reloads_ok);
	metrics_counter_set("zonegate_reloads_total", "result", "failed",
			    d->reloads_failed);
	metrics_counter_set("zonegate_restarts_total", NULL, NULL, d->restarts);
	metrics_counter_set("zonegate_decisions_total", "decision", "allow",
			    d->decisions_allow);
	metrics_counter_set("zonegate_decisions_total", "decision", "deny",
			    d->decisions_deny);
	metrics_counter_set("zonegate_decisions_total", "decision", "shadow",
			    d->decisions_shadow);
	metrics_counter_set("zonegate_events_lost_total", "sink", "spool",
			    d->events_spool_lost);
	if (d->evlog != NULL)
		metrics_counter_set("zonegate_events_lost_total", "sink",
				    "event_log", eventlog_errors(d->evlog));
	if (d->segstate != NULL)
		metrics_gauge_set("zonegate_quarantined_identities", NULL, NULL,
				  (double)seg_quarantine_count(d->segstate));
	for (i = 0; i < d->nplugins; i++) {
		struct live_ctx l = { 0, plugin_name(d->plugins[i]) };
		struct zg_status_out out = { &l, live_session, live_device };

		if (plugin_status(d->plugins[i], &out) == 0)
			metrics_gauge_set("zonegate_sessions", "plugin", l.plugin,
					  (double)l.sessions);
	}
}

static void
collect_uplinks(void)
{
	struct timespec ts;
	int64_t now;
	size_t i;

	metrics_family_clear("zonegate_uplink_up");
	metrics_family_clear("zonegate_uplink_offline_seconds");
	metrics_family_clear("zonegate_spool_depth_messages");
	metrics_family_clear("zonegate_spool_depth_bytes");
	metrics_family_clear("zonegate_spool_oldest_age_seconds");
	metrics_family_clear("zonegate_uplink_sent_total");
	metrics_family_clear("zonegate_uplink_acked_total");
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (i = 0; i < upstat_count(); i++) {
		const struct upstat *u = upstat_get(i);
		double off = 0, age = 0;

		if (u->state != UPSTAT_UP && u->since_ms > 0 && now > u->since_ms)
			off = (double)(now - u->since_ms) / 1000.0;
		if (u->oldest_unsent_ms > 0 && now > u->oldest_unsent_ms)
			age = (double)(now - u->oldest_unsent_ms) / 1000.0;
		metrics_gauge_set("zonegate_uplink_up", "uplink", u->name,
				  u->state == UPSTAT_UP ? 1.0 : 0.0);
		metrics_gauge_set("zonegate_uplink_offline_seconds", "uplink",
				  u->name, off);
		metrics_gauge_set("zonegate_spool_depth_messages", "uplink",
				  u->name, (double)u->spool_depth);
		metrics_gauge_set("zonegate_spool_depth_bytes", "uplink",
				  u->name, (double)u->spool_bytes);
		metrics_gauge_set("zonegate_spool_oldest_age_seconds", "uplink",
				  u->name, age);
		metrics_counter_set("zonegate_uplink_sent_total", "uplink",
				    u->name, u->sent);
		metrics_counter_set("zonegate_uplink_acked_total", "uplink",
				    u->name, u->acked);
	}
}

/* ------------------------------------------------------------------ */
/* Rendering                                                            */

/* A HELP text: backslash and newline escaped. */
static void
put_help(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

/* A label value: backslash, double quote and newline escaped. */
static void
put_label_value(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '"')
			evbuffer_add(out, "\\\"", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
put_double(struct evbuffer *out, double v)
{
	if (isnan(v))
		evbuffer_add_printf(out, "NaN");
	else if (isinf(v))
		evbuffer_add_printf(out, v > 0 ? "+Inf" : "-Inf");
	else if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
		evbuffer_add_printf(out, "%lld", (long long)v);
	else
		evbuffer_add_printf(out, "%.6f", v);
}

/* {k="v",...} of a series, plus one more pair (the histogram's le). */
static void
put_labels(struct evbuffer *out, const struct series *s, const char *xk,
	   const char *xv)
{
	int j;

	for (j = 0; j < s->nlabels; j++) {
		evbuffer_add_printf(out, "%s%s=\"", j ? "," : "{", s->k[j]);
		put_label_value(out, s->v[j]);
		evbuffer_add(out, "\"", 1);
	}
	if (xk != NULL)
		evbuffer_add_printf(out, "%s%s=\"%s\"", s->nlabels ? "," : "{",
				    xk, xv);
	if (s->nlabels > 0 || xk != NULL)
		evbuffer_add(out, "}", 1);
}

/* name_bucket{...,le="b"} (cumulative), name_sum, name_count. */
static void
put_histogram(struct evbuffer *out, const char *name, const struct series *s)
{
	const struct hist *h = s->val.h;
	uint64_t cum = 0;
	char le[32];
	int i;

	for (i = 0; i <= METRICS_HIST_BUCKETS; i++) {
		if (i < METRICS_HIST_BUCKETS) {
			cum += h->bucket[i];
			snprintf(le, sizeof(le), "%g", hist_bounds[i]);
		} else {
			cum = h->count;
			snprintf(le, sizeof(le), "+Inf");
		}
		evbuffer_add_printf(out, "%s_bucket", name);
		put_labels(out, s, "le", le);
		evbuffer_add_printf(out, " %llu\n", (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "%s_sum", name);
	put_labels(out, s, NULL, NULL);
	evbuffer_add(out, " ", 1);
	put_double(out, h->sum);
	evbuffer_add_printf(out, "\n%s_count", name);
	put_labels(out, s, NULL, NULL);
	evbuffer_add_printf(out, " %llu\n", (unsigned long long)h->count);
}

void
metrics_render(struct zg_daemon *d, struct evbuffer *out)
{
	static const char *const type_names[] = { "counter", "gauge",
						  "histogram" };
	size_t i;

	describe_builtin();
	metrics_counter_add("zonegate_metrics_scrapes_total", NULL, NULL, 1);
	metrics_gauge_set2("zonegate_build_info", "version", PACKAGE_VERSION,
			   "tls_engine", ZG_TLS_ENGINE, 1.0);
	collect_process();
	if (d != NULL) {
		collect_daemon(d);
		bus_upstat_refresh(d->bus);
	}
	collect_uplinks();
	metrics_counter_set("zonegate_metrics_series_dropped_total", NULL, NULL,
			    dropped);
	for (i = 0; i < nfamilies; i++) {
		const struct family *f = families[i];
		const struct series *s;

		if (f->head == NULL)
			continue;
		evbuffer_add_printf(out, "# HELP %s ", f->name);
		put_help(out, f->help ? f->help : "zonegate metric");
		evbuffer_add_printf(out, "\n# TYPE %s %s\n", f->name,
				    type_names[f->type]);
		for (s = f->head; s != NULL; s = s->fnext) {
			if (f->type == METRIC_HISTOGRAM) {
				put_histogram(out, f->name, s);
				continue;
			}
			evbuffer_add_printf(out, "%s", f->name);
			put_labels(out, s, NULL, NULL);
			evbuffer_add(out, " ", 1);
			if (f->type == METRIC_COUNTER)
				evbuffer_add_printf(out, "%llu",
						    (unsigned long long)s->val.c);
			else
				put_double(out, s->val.g);
			evbuffer_add(out, "\n", 1);
		}
	}
}
