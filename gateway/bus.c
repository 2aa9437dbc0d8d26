/*
 * bus.c: see bus.h.
 *
 * Flow of one message: bus_emit() -> envelope -> spool_append() -> the
 * commit event (made active once per loop iteration) runs spool_sync()
 * (the group commit of fsync = "batch") and feeds every uplink that is
 * up, at most max_inflight unacknowledged each.  A checkpoint timer
 * saves the uplinks' acknowledged positions and removes segments every
 * uplink is done with.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "gateway/bus.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/spool.h"
#include "gateway/upstat.h"

#define ENVELOPE_MAX (SPOOL_MAX_PAYLOAD)
#define JSON_MAX_DEPTH 32
#define MAX_INFLIGHT 4096

struct zg_uplink {
	struct bus *b;
	const void *owner;
	char owner_name[64];
	char name[SPOOL_MAX_NAME + 1];
	struct zg_uplink_ops ops;
	void *arg;
	unsigned max_inflight;
	bool up, blocked, feeding;
	bool upstat_full;         /* said once: the registry is full */
	unsigned gen;             /* changes on up/down: stale feed loops stop */
	uint64_t acked;           /* everything <= acked is acknowledged */
	struct spool_cursor cur;
	struct spool_cursor ackcur; /* just past the acknowledged position */
	uint64_t *ring;           /* in flight, in send order */
	struct spool_cursor *rcur; /* cursor after each of them */
	bool *rack;
	unsigned head, n;
	uint64_t sent_max;        /* highest seq sent by this process */
	uint64_t sent, nacked, resent;
	/* for the operator (gateway/upstat.h) */
	int64_t since_ms;         /* last change of up */
	char target[UPSTAT_TEXT_MAX];
	char last_error[UPSTAT_TEXT_MAX];
	struct zg_uplink *next;
};

struct bus {
	struct zg_daemon *d;
	struct spool *sp;
	struct event *commit;
	struct event *ckpt;
	struct zg_uplink *ups;
	bool full_episode;        /* a refusal was logged: log recovery */
	bool zone_refusal;        /* set by zone_cb(): a zone bound refused */
	int on_zone_full;         /* as the spool was opened with */
	bool sync_failing;
	bool ckpt_failing;
	uint64_t first_seq_run;   /* first seq appended by this process */
	struct bus_stats st;
	char *env;                /* envelope buffer */
};

/* ---------------------------------------------------------------- */
/* JSON: a bounded validator over (buf, len), no allocation */

struct jp {
	const char *p, *end;
};

static void
jws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/*
 * One UTF-8 sequence whose lead byte c (>= 0x80) was just consumed:
 * well-formed, shortest form, no surrogates, at most U+10FFFF.
 */
static int
jutf8(struct jp *j, unsigned char c)
{
	unsigned char c1;
	int n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 1;
	else if (c >= 0xe0 && c <= 0xef)
		n = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 3;
	else
		return -1;
	if (j->end - j->p < n)
		return -1;
	c1 = (unsigned char)j->p[0];
	if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) ||
	    (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 > 0x8f))
		return -1;
	for (i = 0; i < n; i++)
		if (((unsigned char)j->p[i] & 0xc0) != 0x80)
			return -1;
	j->p += n;
	return 0;
}

static int
jstring(struct jp *j)
{
	if (j->p >= j->end || *j->p != '"')
		return -1;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;

		if (c == '"')
			return 0;
		if (c < 0x20)
			return -1;
		if (c >= 0x80) {
			if (jutf8(j, c) < 0)
				return -1;
			continue;
		}
		if (c == '\\') {
			if (j->p >= j->end)
				return -1;
			c = (unsigned char)*j->p++;
			if (c == 'u') {
				int i;

				for (i = 0; i < 4; i++, j->p++)
					if (j->p >= j->end ||
					    !((*j->p >= '0' && *j->p <= '9') ||
					      (*j->p >= 'a' && *j->p <= 'f') ||
					      (*j->p >= 'A' && *j->p <= 'F')))
						return -1;
			} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
				return -1;
			}
		}
	}
	return -1;
}

static int
jdigits(struct jp *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s ? 0 : -1;
}

static int
jnumber(struct jp *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (jdigits(j) < 0)
		return -1;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (jdigits(j) < 0)
			return -1;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (jdigits(j) < 0)
			return -1;
	}
	return 0;
}

static int jvalue(struct jp *j, int depth);

static int
jlit(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return -1;
	j->p += n;
	return 0;
}

static int
jcontainer(struct jp *j, int depth, char close, bool members)
{
	if (depth > JSON_MAX_DEPTH)
		return -1;
	j->p++;
	jws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		jws(j);
		if (members) {
			if (jstring(j) < 0)
				return -1;
			jws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return -1;
			jws(j);
		}
		if (jvalue(j, depth + 1) < 0)
			return -1;
		jws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ == close)
			return 0;
		return -1;
	}
}

static int
jvalue(struct jp *j, int depth)
{
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
		return jcontainer(j, depth, '}', true);
	case '[':
		return jcontainer(j, depth, ']', false);
	case '"':
		return jstring(j);
	case 't':
		return jlit(j, "true");
	case 'f':
		return jlit(j, "false");
	case 'n':
		return jlit(j, "null");
	default:
		return jnumber(j);
	}
}

static const char *const reserved_keys[] = { "gateway", "seq", "ts", "topic",
					      "zone", "source", NULL };

static bool
key_reserved(const char *k, size_t n)
{
	int i;

	/* k includes the quotes */
	for (i = 0; reserved_keys[i] != NULL; i++)
		if (n == strlen(reserved_keys[i]) + 2 &&
		    memcmp(k + 1, reserved_keys[i], n - 2) == 0)
			return true;
	return false;
}

/* Append s (NUL-terminated) JSON-escaped, quoted.  -1 when out of room. */
static int
put_jstr(char *out, size_t cap, size_t *off, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (*off + 1 >= cap)
		return -1;
	out[(*off)++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (*off + 7 >= cap)
			return -1;
		if (c == '"' || c == '\\') {
			out[(*off)++] = '\\';
			out[(*off)++] = (char)c;
		} else if (c < 0x20) {
			out[(*off)++] = '\\';
			out[(*off)++] = 'u';
			out[(*off)++] = '0';
			out[(*off)++] = '0';
			out[(*off)++] = hex[c >> 4];
			out[(*off)++] = hex[c & 15];
		} else {
			out[(*off)++] = (char)c;
		}
	}
	out[(*off)++] = '"';
	return 0;
}

static int
put_raw(char *out, size_t cap, size_t *off, const char *s, size_t n)
{
	if (*off + n >= cap)
		return -1;
	memcpy(out + *off, s, n);
	*off += n;
	return 0;
}

long
bus_envelope(char *out, size_t cap, const char *gateway, uint64_t seq,
	     int64_t ts_ms, const char *topic, const char *zone,
	     const char *source, const char *payload, size_t len, bool strip)
{
	struct jp j = { payload, payload + len };
	char head[96], ts[40];
	struct tm tm;
	time_t sec = (time_t)(ts_ms / 1000);
	size_t off = 0;
	int w;

	/* The payload: exactly one object, nothing but blanks around it. */
	jws(&j);
	if (j.p >= j.end || *j.p != '{')
		return -1;
	{
		struct jp v = j;

		if (jvalue(&v, 0) < 0)
			return -1;
		jws(&v);
		if (v.p != v.end)
			return -1;
	}
	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (put_raw(out, cap, &off, "{\"gateway\":", 11) < 0 ||
	    put_jstr(out, cap, &off, gateway) < 0)
		return -3;
	w = snprintf(head, sizeof(head), ",\"seq\":%" PRIu64 ",\"ts\":\"%s.%03dZ\",\"topic\":",
		     seq, ts, (int)(ts_ms % 1000));
	if (w < 0 || put_raw(out, cap, &off, head, (size_t)w) < 0 ||
	    put_jstr(out, cap, &off, topic) < 0 ||
	    put_raw(out, cap, &off, ",\"zone\":", 8) < 0)
		return -3;
	if (zone != NULL && zone[0] != '\0') {
		if (put_jstr(out, cap, &off, zone) < 0)
			return -3;
	} else if (put_raw(out, cap, &off, "null", 4) < 0) {
		return -3;
	}
	if (put_raw(out, cap, &off, ",\"source\":", 10) < 0 ||
	    put_jstr(out, cap, &off, source ? source : "") < 0)
		return -3;
	/* Members of the payload, copied as they are (already valid). */
	j.p++;
	jws(&j);
	if (*j.p != '}') {
		for (;;) {
			const char *ks, *ms;
			size_t kn;

			jws(&j);
			ms = ks = j.p;
			jstring(&j);
			kn = (size_t)(j.p - ks);
			jws(&j);
			j.p++; /* ':' */
			jws(&j);
			jvalue(&j, 1);
			if (key_reserved(ks, kn)) {
				if (!strip)
					return -2;
			} else if (put_raw(out, cap, &off, ",", 1) < 0 ||
				   put_raw(out, cap, &off, ms,
					   (size_t)(j.p - ms)) < 0) {
				return -3;
			}
			jws(&j);
			if (*j.p++ != ',')
				break;
		}
	}
	if (put_raw(out, cap, &off, "}", 1) < 0)
		return -3;
	out[off] = '\0';
	return (long)off;
}

/* ---------------------------------------------------------------- */
/* uplinks */

static int64_t
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Tell the operator's registry (gateway/upstat.h) where u stands: state
 * and since when, what it still owes (records and bytes after its
 * acknowledged position, the oldest one's age), counters, last error.
 * Called on every state change and whenever someone looks
 * (bus_upstat_refresh): the backlog is computed, not counted along.
 */
static void
upstat_publish(struct zg_uplink *u)
{
	struct upstat st;
	struct spool_backlog bl;

	memset(&st, 0, sizeof(st));
	snprintf(st.name, sizeof(st.name), "%.*s", UPSTAT_NAME_MAX - 1, u->name);
	snprintf(st.kind, sizeof(st.kind), "%.*s", (int)sizeof(st.kind) - 1,
		 u->owner_name);
	memcpy(st.target, u->target, sizeof(st.target));
	memcpy(st.last_error, u->last_error, sizeof(st.last_error));
	st.state = u->up ? UPSTAT_UP : UPSTAT_DOWN;
	st.since_ms = u->since_ms;
	spool_backlog(u->b->sp, &u->ackcur, &bl);
	st.spool_depth = bl.records;
	st.spool_bytes = bl.bytes;
	st.oldest_unsent_ms = bl.oldest_ts_ms;
	st.sent = u->sent;
	st.acked = u->nacked;
	if (upstat_set(&st) < 0 && !u->upstat_full) {
		log_msg(ZG_LOG_WARN, u->owner_name, NULL,
			"uplink %s: not shown by zonegatectl uplinks (more than %d uplinks)",
			u->name, UPSTAT_MAX);
		u->upstat_full = true;
	}
}

/*
 * Feed u from its cursor while it is up, not blocked and its window has
 * room.  The record enters the in-flight ring before send() so that an
 * ack delivered from inside send() finds it.
 */
static void
feed(struct zg_uplink *u)
{
	struct bus *b = u->b;
	struct spool_rec r;
	struct zg_msg m;
	char topic[SPOOL_MAX_TOPIC + 1], zone[SPOOL_MAX_ZONE + 1];
	char err[256];
	unsigned gen;
	int rc;

	if (u->feeding)
		return;
	u->feeding = true;
	while (u->up && !u->blocked && u->n < u->max_inflight) {
		struct spool_cursor save = u->cur;
		unsigned slot;

		rc = spool_read(b->sp, &u->cur, &r, err, sizeof(err));
		if (rc < 0) {
			log_msg(ZG_LOG_ERR, u->owner_name, NULL,
				"uplink %s: %s", u->name, err);
			u->cur = save;
			break;
		}
		if (rc == 0)
			break;
		memcpy(topic, r.topic, r.topic_len);
		topic[r.topic_len] = '\0';
		if (r.zone_len > 0)
			memcpy(zone, r.zone, r.zone_len);
		zone[r.zone_len] = '\0';
		m.seq = r.seq;
		m.topic = topic;
		m.zone = r.zone_len ? zone : NULL;
		m.payload = r.payload;
		m.len = r.len;
		m.ts_ms = r.ts_ms;
		slot = (u->head + u->n) % u->max_inflight;
		u->ring[slot] = r.seq;
		u->rcur[slot] = u->cur;
		u->rack[slot] = false;
		u->n++;
		gen = u->gen;
		if (u->ops.send(u->arg, &m) < 0) {
			if (u->gen != gen)
				break;
			u->n--;
			u->cur = save;
			u->blocked = true;
			break;
		}
		u->sent++;
		b->st.sent++;
		if (r.seq <= u->sent_max) {
			u->resent++;
			b->st.resent++;
		} else {
			u->sent_max = r.seq;
		}
		if (u->gen != gen)
			break;
	}
	u->feeding = false;
}

static void
feed_all(struct bus *b)
{
	struct zg_uplink *u;

	for (u = b->ups; u != NULL; u = u->next)
		feed(u);
}

static void
commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bus *b = arg;
	char err[256];

	(void)fd;
	(void)what;
	if (spool_sync(b->sp, err, sizeof(err)) < 0) {
		if (!b->sync_failing)
			log_errx("%s: records stay unsent until it succeeds", err);
		b->sync_failing = true;
		/* try again shortly rather than on every message */
		{
			struct timeval tv = { 0, 100000 };
			event_add(b->commit, &tv);
		}
		return;
	}
	if (b->sync_failing)
		log_info("spool %s: fdatasync works again", spool_dir(b->sp));
	b->sync_failing = false;
	feed_all(b);
}

/* zonegate_spool_zone_bytes{zone}: what each bounded zone holds now. */
static void
zone_gauges(struct bus *b)
{
	struct spool_zone_stats z;
	int i;

	for (i = 0; spool_zone_get(b->sp, i, &z) == 0; i++)
		if (z.max_bytes > 0)
			metrics_gauge_set("zonegate_spool_zone_bytes", "zone",
					  z.zone, (double)z.bytes);
}

/*
 * The spool's per-zone bound at work: one log line when a zone goes
 * over its bound and one when acknowledgements bring it back down (an
 * episode), counters for every drop step and refusal.  Never per record
 * in the log.
 */
static void
zone_cb(void *arg, int ev, const struct spool_zone_stats *z, uint64_t n)
{
	struct bus *b = arg;
	const char *name = z->zone[0] != '\0' ? z->zone : "(no zone)";

	switch (ev) {
	case SPOOL_ZONE_OVER:
		log_warnx("spool: zone %s holds %" PRIu64
			  " bytes, at its bound of %" PRIu64 " bytes: %s; other zones are not affected",
			  name, z->bytes, z->max_bytes,
			  b->on_zone_full == SPOOL_ZONE_REFUSE
				  ? "its new messages are refused"
				  : "its oldest unsent messages are dropped");
		metrics_counter_add("zonegate_spool_zone_over_total", "zone",
				    z->zone, 1);
		break;
	case SPOOL_ZONE_DROPPED:
		metrics_counter_add("zonegate_spool_zone_dropped_total", "zone",
				    z->zone, n);
		break;
	case SPOOL_ZONE_REFUSED:
		b->zone_refusal = true;
		metrics_counter_add("zonegate_spool_zone_refused_total", "zone",
				    z->zone, n);
		break;
	case SPOOL_ZONE_UNDER:
		log_info("spool: zone %s is back to %" PRIu64
			 " bytes (bound %" PRIu64 "): %" PRIu64
			 " of its messages dropped and %" PRIu64
			 " refused since start",
			 name, z->bytes, z->max_bytes, z->dropped_records,
			 z->refused);
		break;
	}
}

static void
ckpt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bus *b = arg;
	char err[256];

	(void)fd;
	(void)what;
	if (spool_checkpoint(b->sp, err, sizeof(err)) < 0) {
		if (!b->ckpt_failing)
			log_warnx("%s (acknowledged positions not saved; retrying every %.2fs)",
				  err, b->d->conf->spool.checkpoint_interval);
		b->ckpt_failing = true;
	} else if (b->ckpt_failing) {
		log_info("spool %s: acknowledged positions saved again",
			 spool_dir(b->sp));
		b->ckpt_failing = false;
	}
	zone_gauges(b);
	/* drop_oldest may have moved cursors: keep feeding */
	feed_all(b);
}

struct bus *
bus_new(struct zg_daemon *d, const struct conf_spool *c, char *err,
	size_t errlen)
{
	struct spool_opts o;
	struct spool_stats st;
	struct bus *b;
	char report[2048];
	struct timeval tv;

	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->d = d;
	memset(&o, 0, sizeof(o));
	o.dir = c->dir;
	o.segment_size = c->segment_size;
	o.max_bytes = c->max_bytes;
	o.max_bytes_per_zone = c->max_bytes_per_zone;
	o.fsync = c->fsync;
	o.on_full = c->on_full;
	o.zone_limits = c->zone_limits;
	o.nzone_limits = c->nzone_limits;
	o.on_zone_full = c->on_zone_full;
	b->on_zone_full = c->on_zone_full;
	o.zone_cb = zone_cb;
	o.zone_cb_arg = b;
	b->env = malloc(ENVELOPE_MAX + 1);
	if (b->env == NULL) {
		snprintf(err, errlen, "out of memory");
		free(b);
		return NULL;
	}
	b->sp = spool_open(&o, report, sizeof(report), err, errlen);
	if (b->sp == NULL) {
		free(b->env);
		free(b);
		return NULL;
	}
	spool_get_stats(b->sp, &st);
	if (report[0] != '\0')
		log_warnx("spool recovery: %s", report);
	log_info("spool %s: %" PRIu64 " records in %" PRIu64
		 " segments (%" PRIu64 " bytes), next seq %" PRIu64
		 ", fsync %s, on full %s%s%s%s",
		 c->dir, st.records, st.segments, st.bytes,
		 spool_next_seq(b->sp), spool_fsync_names[c->fsync],
		 spool_full_names[c->on_full],
		 c->max_bytes_per_zone || c->nzone_limits
			 ? ", zone over its bound: " : "",
		 c->max_bytes_per_zone || c->nzone_limits
			 ? spool_zone_full_names[c->on_zone_full] : "",
		 st.torn_tails || st.corrupt_segments ? " (after repair)" : "");
	b->commit = event_new(d->base, -1, 0, commit_cb, b);
	b->ckpt = event_new(d->base, -1, EV_PERSIST, ckpt_cb, b);
	tv.tv_sec = (time_t)c->checkpoint_interval;
	tv.tv_usec = (suseconds_t)((c->checkpoint_interval - (double)tv.tv_sec) *
				   1e6);
	if (b->commit == NULL || b->ckpt == NULL || event_add(b->ckpt, &tv) < 0) {
		snprintf(err, errlen, "cannot create the spool's events");
		bus_free(b);
		return NULL;
	}
	return b;
}

void
bus_free(struct bus *b)
{
	struct spool_stats st;

	if (b == NULL)
		return;
	while (b->ups != NULL)
		bus_uplink_free(b->ups);
	if (b->commit)
		event_free(b->commit);
	if (b->ckpt)
		event_free(b->ckpt);
	if (b->sp != NULL) {
		spool_get_stats(b->sp, &st);
		log_info("northbound: %" PRIu64 " messages spooled, %" PRIu64
			 " refused, %" PRIu64 " invalid; %" PRIu64 " sent, %"
			 PRIu64 " acknowledged, %" PRIu64
			 " sent again (possible duplicates); spool %" PRIu64
			 " records kept, %" PRIu64 " dropped (full), %" PRIu64
			 " dropped and %" PRIu64 " refused (zone bounds), %" PRIu64
			 " disk-full errors",
			 b->st.emitted, b->st.refused, b->st.invalid, b->st.sent,
			 b->st.acked, b->st.resent, st.records,
			 st.dropped_records, st.zone_dropped, st.refused_zone,
			 st.enospc);
		spool_close(b->sp);
	}
	free(b->env);
	free(b);
}

void
bus_get_stats(const struct bus *b, struct bus_stats *st)
{
	*st = b->st;
}

/* Append one enveloped message: 0 or -1 (logged per episode). */
static int
bus_append(struct bus *b, const char *source, const char *topic,
	   const char *zone, const char *env, size_t n, int64_t ts)
{
	struct spool_rec r;
	char err[512];

	r.seq = spool_next_seq(b->sp);
	r.ts_ms = ts;
	r.topic = topic;
	r.topic_len = strlen(topic);
	r.zone = zone;
	r.zone_len = zone ? strlen(zone) : 0;
	r.payload = env;
	r.len = n;
	b->zone_refusal = false;
	if (spool_append(b->sp, &r, err, sizeof(err)) < 0) {
		int e = errno;

		b->st.refused++;
		/* A zone at its bound: zone_cb() logs its episode. */
		if (b->zone_refusal && e == EDQUOT)
			return -1;
		if (!b->full_episode)
			log_msg(ZG_LOG_ERR, source, NULL,
				"message on %s refused: %s%s", topic, err,
				e == ENOSPC ? " (disk full: free space on the spool's file system)"
				: e == ENOBUFS ? " (on_full = pause: producers are refused until uplinks catch up)"
				: "");
		b->full_episode = true;
		return -1;
	}
	if (b->full_episode) {
		log_msg(ZG_LOG_INFO, source, NULL,
			"spool takes messages again (%" PRIu64 " refused so far)",
			b->st.refused);
		b->full_episode = false;
	}
	if (b->first_seq_run == 0)
		b->first_seq_run = r.seq;
	b->st.emitted++;
	event_active(b->commit, 0, 0);
	return 0;
}

int
bus_emit(struct zg_daemon *d, const char *source, const char *topic,
	 const char *zone, const void *payload, size_t len)
{
	struct bus *b = d->bus;
	int64_t ts = now_ms();
	long n;

	d->messages_emitted++;
	/* What a plugin emitted, for people and tests reading the log. */
	if (log_level() >= ZG_LOG_DEBUG)
		log_msg(ZG_LOG_DEBUG, source, NULL, "emit %s %.*s%s%s%s%s", topic,
			len > 1500 ? 1500 : (int)len, (const char *)payload,
			len > 1500 ? " [truncated]" : "",
			zone != NULL ? " (zone " : "", zone != NULL ? zone : "",
			zone != NULL ? ")" : "");
	if (b == NULL) {
		/* No spool configured: say so once, count all. */
		if (d->messages_unrouted++ == 0)
			log_msg(ZG_LOG_WARN, source, NULL,
				"telemetry on %s (%zu bytes) is counted and dropped: "
				"no spool { } section configured (docs/northbound.md)",
				topic, len);
		return 0;
	}
	if (topic == NULL || topic[0] == '\0' || strlen(topic) > SPOOL_MAX_TOPIC ||
	    (zone != NULL && strlen(zone) > SPOOL_MAX_ZONE)) {
		b->st.invalid++;
		log_msg(ZG_LOG_WARN, source, NULL,
			"message refused: topic must be 1..%d bytes, zone at most %d",
			SPOOL_MAX_TOPIC, SPOOL_MAX_ZONE);
		return -1;
	}
	n = bus_envelope(b->env, ENVELOPE_MAX, d->conf->id,
			 spool_next_seq(b->sp), ts, topic, zone, source,
			 payload, len, false);
	if (n < 0) {
		if (b->st.invalid++ < 10)
			log_msg(ZG_LOG_WARN, source, NULL,
				"message on %s refused: %s", topic,
				n == -1 ? "payload is not one JSON object"
				: n == -2 ? "payload uses an envelope key (gateway, seq, ts, topic, zone, source)"
				: "message too large");
		return -1;
	}
	return bus_append(b, source, topic, zone, b->env, (size_t)n, ts);
}

int
bus_security_event(struct zg_daemon *d, const char *source, const char *zone,
		   const char *json, size_t len)
{
	struct bus *b = d->bus;
	int64_t ts = now_ms();
	long n;

	if (b == NULL)
		return 0;
	n = bus_envelope(b->env, ENVELOPE_MAX, d->conf->id,
			 spool_next_seq(b->sp), ts, "events/security", zone,
			 source, json, len, true);
	if (n < 0) {
		b->st.invalid++;
		if (b->st.invalid < 10)
			log_msg(ZG_LOG_ERR, source, NULL,
				"security event %.*s not spooled: it does not fit an envelope",
				len > 200 ? 200 : (int)len, json);
		return -1;
	}
	return bus_append(b, source, "events/security", zone, b->env,
			  (size_t)n, ts);
}

struct zg_uplink *
bus_uplink_new(struct bus *b, const void *owner, const char *owner_name,
	       const char *name, const struct zg_uplink_ops *ops, void *arg,
	       unsigned max_inflight)
{
	struct zg_uplink *u;
	char full[SPOOL_MAX_NAME + 1];
	uint64_t acked;

	if (b == NULL) {
		log_msg(ZG_LOG_ERR, owner_name, NULL,
			"uplink %s needs the durable spool: add a spool { dir = \"...\"; } section (docs/northbound.md)",
			name ? name : "?");
		return NULL;
	}
	if (name == NULL || ops == NULL || ops->send == NULL ||
	    snprintf(full, sizeof(full), "%s/%s", owner_name, name) >=
		    (int)sizeof(full) ||
	    !spool_name_ok(full)) {
		log_msg(ZG_LOG_ERR, owner_name, NULL,
			"uplink name \"%s\" refused: 1..%d of A-Z a-z 0-9 _ . : / - (with the plugin name)",
			name ? name : "", SPOOL_MAX_NAME);
		return NULL;
	}
	if (spool_uplink_attach(b->sp, full, &acked) < 0) {
		log_msg(ZG_LOG_ERR, owner_name, NULL, "uplink %s: %s", full,
			errno == EEXIST ? "already registered"
					: "too many uplinks");
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (max_inflight == 0)
		max_inflight = 1;
	if (max_inflight > MAX_INFLIGHT)
		max_inflight = MAX_INFLIGHT;
	if (u != NULL) {
		u->ring = calloc(max_inflight, sizeof(*u->ring));
		u->rcur = calloc(max_inflight, sizeof(*u->rcur));
		u->rack = calloc(max_inflight, sizeof(*u->rack));
	}
	if (u == NULL || u->ring == NULL || u->rcur == NULL || u->rack == NULL) {
		if (u != NULL) {
			free(u->ring);
			free(u->rcur);
			free(u->rack);
		}
		free(u);
		spool_uplink_detach(b->sp, full);
		return NULL;
	}
	u->b = b;
	u->owner = owner;
	snprintf(u->owner_name, sizeof(u->owner_name), "%s", owner_name);
	memcpy(u->name, full, sizeof(u->name));
	u->ops = *ops;
	u->arg = arg;
	u->max_inflight = max_inflight;
	u->acked = acked;
	/* After a restart, what was sent but not acknowledged may repeat. */
	u->sent_max = spool_next_seq(b->sp) - 1;
	spool_seek(b->sp, &u->cur, acked + 1);
	spool_seek_after(b->sp, &u->ackcur, acked);
	u->since_ms = now_ms();
	u->next = b->ups;
	b->ups = u;
	upstat_publish(u);
	log_msg(ZG_LOG_INFO, owner_name, NULL,
		"uplink %s registered: acknowledged up to seq %" PRIu64
		", %" PRIu64 " messages waiting",
		full, acked, spool_next_seq(b->sp) - 1 - acked);
	return u;
}

void
bus_uplink_up(struct zg_uplink *u)
{
	if (u == NULL)
		return;
	if (!u->up)
		log_msg(ZG_LOG_INFO, u->owner_name, NULL,
			"uplink %s up: sending from seq %" PRIu64, u->name,
			u->acked + 1);
	if (!u->up)
		u->since_ms = now_ms();
	u->gen++;
	u->up = true;
	u->blocked = false;
	u->n = 0;
	u->head = 0;
	spool_seek(u->b->sp, &u->cur, u->acked + 1);
	upstat_publish(u);
	feed(u);
}

void
bus_uplink_down(struct zg_uplink *u, const char *why)
{
	if (u == NULL)
		return;
	if (u->up)
		log_msg(ZG_LOG_WARN, u->owner_name, NULL,
			"uplink %s down (%s): %u messages in flight will be sent again",
			u->name, why ? why : "no reason given", u->n);
	if (u->up)
		u->since_ms = now_ms();
	if (why != NULL && why[0] != '\0')
		snprintf(u->last_error, sizeof(u->last_error), "%s", why);
	u->gen++;
	u->up = false;
	u->n = 0;
	u->head = 0;
	spool_seek(u->b->sp, &u->cur, u->acked + 1);
	upstat_publish(u);
}

void
bus_uplink_ack(struct zg_uplink *u, uint64_t seq)
{
	unsigned i, slot;
	bool moved = false;

	if (u == NULL)
		return;
	for (i = 0; i < u->n; i++) {
		slot = (u->head + i) % u->max_inflight;
		if (u->ring[slot] == seq) {
			if (!u->rack[slot]) {
				u->rack[slot] = true;
				u->nacked++;
				u->b->st.acked++;
			}
			break;
		}
	}
	/* Acknowledged in order from the front: that is the position. */
	while (u->n > 0 && u->rack[u->head]) {
		u->acked = u->ring[u->head];
		u->ackcur = u->rcur[u->head];
		u->head = (u->head + 1) % u->max_inflight;
		u->n--;
		moved = true;
	}
	if (moved) {
		spool_uplink_ack(u->b->sp, u->name, u->acked);
		feed(u);
	}
}

void
bus_uplink_ready(struct zg_uplink *u)
{
	if (u == NULL)
		return;
	u->blocked = false;
	feed(u);
}

void
bus_uplink_free(struct zg_uplink *u)
{
	struct zg_uplink **pp;

	if (u == NULL)
		return;
	for (pp = &u->b->ups; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	log_msg(ZG_LOG_INFO, u->owner_name, NULL,
		"uplink %s closed: %" PRIu64 " sent, %" PRIu64
		" acknowledged, %" PRIu64 " sent again; acknowledged up to seq %" PRIu64,
		u->name, u->sent, u->nacked, u->resent, u->acked);
	spool_uplink_detach(u->b->sp, u->name);
	upstat_remove(u->name);
	free(u->ring);
	free(u->rcur);
	free(u->rack);
	free(u);
}

void
bus_uplink_target(struct zg_uplink *u, const char *target)
{
	if (u == NULL)
		return;
	snprintf(u->target, sizeof(u->target), "%s", target ? target : "");
	upstat_publish(u);
}

void
bus_upstat_refresh(struct bus *b)
{
	struct zg_uplink *u;

	if (b == NULL)
		return;
	for (u = b->ups; u != NULL; u = u->next)
		upstat_publish(u);
}

void
bus_uplinks_release(struct bus *b, const void *owner)
{
	struct zg_uplink *u, *next;

	if (b == NULL)
		return;
	for (u = b->ups; u != NULL; u = next) {
		next = u->next;
		if (u->owner == owner)
			bus_uplink_free(u);
	}
}
