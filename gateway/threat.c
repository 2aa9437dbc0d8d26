/*
 * threat.c: see threat.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "gateway/conf.h"
#include "gateway/daemon.h"
#include "gateway/events.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/threat.h"
#include "segments/segments.h"

/*
 * The detections.  Ids are stable (docs/events.md); techniques are MITRE
 * ATT&CK for ICS (THREAT_ATTACK_VERSION).  Defaults are what a plant that
 * polls a few times a second never reaches.
 */
const struct threat_det_def threat_detections[TD_COUNT] = {
	[TD_WRITE_UNAUTHORIZED] = { "modbus.write_unauthorized", "T0855",
		"Unauthorized Command Message", ZG_SEV_HIGH, 1, 60,
		"write from an identity without write rights to the target" },
	[TD_ADDRESS_RANGE] = { "modbus.address_range", "T0855",
		"Unauthorized Command Message", ZG_SEV_MEDIUM, 1, 60,
		"access outside the address ranges the conduit allows" },
	[TD_VALUE_BOUNDS] = { "modbus.value_out_of_bounds", "T0836",
		"Modify Parameter", ZG_SEV_HIGH, 1, 60,
		"written value outside the bounds the conduit allows" },
	[TD_DEVICE_ID] = { "modbus.device_identification", "T0888",
		"Remote System Information Discovery", ZG_SEV_MEDIUM, 1, 60,
		"FC 43/MEI 14 device identification from a non-engineering identity" },
	[TD_CANOPEN] = { "modbus.canopen_tunnel", "T0855",
		"Unauthorized Command Message", ZG_SEV_HIGH, 1, 60,
		"FC 43/MEI 13 CANopen general reference (a tunnel into the device)" },
	[TD_LISTEN_ONLY] = { "modbus.force_listen_only", "T0814",
		"Denial of Service", ZG_SEV_CRITICAL, 1, 60,
		"FC 8 sub-function 4: force listen only mode (takes the device off the bus)" },
	[TD_RESTART] = { "modbus.restart", "T0816",
		"Device Restart/Shutdown", ZG_SEV_HIGH, 1, 60,
		"FC 8 sub-function 1: restart communications option" },
	[TD_RESERVED_FC] = { "modbus.reserved_function", "T0855",
		"Unauthorized Command Message", ZG_SEV_HIGH, 1, 60,
		"reserved, user-defined or vendor function code (FC 90 UMAS ...)" },
	[TD_BROADCAST_WRITE] = { "modbus.broadcast_write", "T0855",
		"Unauthorized Command Message", ZG_SEV_HIGH, 1, 60,
		"write to unit 0 (broadcast: every device on the line acts on it)" },
	[TD_UNIT_SWEEP] = { "modbus.unit_sweep", "T0846",
		"Remote System Discovery", ZG_SEV_MEDIUM, 5, 10,
		"one source asked for many distinct unit ids" },
	[TD_REGISTER_WALK] = { "modbus.register_walk", "T0861",
		"Point & Tag Identification", ZG_SEV_MEDIUM, 16, 60,
		"one source started requests in many distinct 8-address blocks of one table" },
	[TD_EXCEPTION_BURST] = { "modbus.exception_burst", "T0888",
		"Remote System Information Discovery", ZG_SEV_MEDIUM, 10, 10,
		"burst of exception responses to one client" },
	[TD_MALFORMED] = { "modbus.malformed", "T0866",
		"Exploitation of Remote Services", ZG_SEV_MEDIUM, 1, 60,
		"malformed MBAP header or PDU" },
	[TD_FLOOD] = { "modbus.request_flood", "T0814",
		"Denial of Service", ZG_SEV_MEDIUM, 100000, 10,
		"request flood: over the rate, too many outstanding requests or connections" },
	[TD_HALF_OPEN] = { "modbus.half_open_frame", "T0814",
		"Denial of Service", ZG_SEV_MEDIUM, 1, 60,
		"half a frame held open (slowloris)" },
	[TD_UNSOLICITED] = { "modbus.unsolicited_response", "T0830",
		"Adversary-in-the-Middle", ZG_SEV_MEDIUM, 3, 60,
		"unsolicited or mismatched responses from a device" },
	[TD_POLL_SILENT] = { "modbus.poll_silent", "T0804",
		"Block Reporting Message", ZG_SEV_MEDIUM, 5, 60,
		"a regular poll channel went silent" },
	[TD_TLS_FAILURE] = { "tls.handshake_failures", "T0866",
		"Exploitation of Remote Services", ZG_SEV_MEDIUM, 3, 60,
		"repeated TLS handshake failures (unverified, missing or bad certificates)" },
	[TD_TLS_ROLE] = { "tls.bad_role", "T0859",
		"Valid Accounts", ZG_SEV_MEDIUM, 1, 60,
		"certificate with a missing, bad or duplicate role, or without a usable identity" },
	[TD_MQTT_WILDCARD] = { "mqtt.wildcard_subscribe", "T0801",
		"Monitor Process State", ZG_SEV_MEDIUM, 1, 60,
		"MQTT subscribe to # or $SYS/# without the right" },
	[TD_MQTT_TAKEOVER] = { "mqtt.clientid_takeover", "T0830",
		"Adversary-in-the-Middle", ZG_SEV_HIGH, 1, 60,
		"MQTT client-id takeover attempt" },
	[TD_NEW_SOURCE] = { "source.new", "T0859",
		"Valid Accounts", ZG_SEV_LOW, 1, 60,
		"identity or source never seen during the learning period" },
	[TD_BASELINE] = { "baseline.deviation", "T0855",
		"Unauthorized Command Message", ZG_SEV_MEDIUM, 1, 60,
		"operation outside the learned baseline of this identity and device" },
};

/* What each severity adds to a score. */
static const double sev_weight[] = { 0, 5, 15, 30, 60 };

#define THREAT_DEFAULT_MAX_TRACKED 4096
#define THREAT_DEFAULT_HALF_LIFE 600.0
#define THREAT_DEFAULT_QUARANTINE 100.0
#define THREAT_DEFAULT_THROTTLE 0.0 /* off: slowing an HMI is an operator's call */
#define THREAT_DEFAULT_THROTTLE_RATE 2.0
#define THREAT_DEFAULT_REPEAT 300.0
#define POLL_SILENCE_FACTOR 3.0
#define BL_RANGES 8 /* address ranges kept per table and access */
#define THREAT_LEARNED_MAX 256 /* conduits in one export (admin answer size) */

/* tw flags */
#define F_SILENT 0x1      /* poll channel: silence reported */
#define F_THROTTLED 0x2   /* score: throttle event raised */
#define F_WITHHELD 0x4    /* score: quarantine withheld event raised */
#define F_IDENTITY 0x8    /* score: key is an identity */

/* ------------------------------------------------------------------ */
/* Pure pieces                                                         */

double
threat_decay(double score, double dt, double hl)
{
	if (dt <= 0 || hl <= 0 || score <= 0)
		return score < 0 ? 0 : score;
	return score * exp2(-dt / hl);
}

struct tw_table {
	struct tw_entry **buckets;
	size_t nbuckets, n, cap;
	struct tw_entry *head, *tail; /* LRU: head = most recent */
	uint64_t evictions;
};

static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

struct tw_table *
tw_new(size_t cap)
{
	struct tw_table *tw = calloc(1, sizeof(*tw));

	if (tw == NULL)
		return NULL;
	tw->cap = cap > 0 ? cap : 1;
	for (tw->nbuckets = 64; tw->nbuckets < tw->cap; tw->nbuckets *= 2)
		;
	tw->buckets = calloc(tw->nbuckets, sizeof(*tw->buckets));
	if (tw->buckets == NULL) {
		free(tw);
		return NULL;
	}
	return tw;
}

static void
lru_unlink(struct tw_table *tw, struct tw_entry *e)
{
	if (e->lprev != NULL)
		e->lprev->lnext = e->lnext;
	else
		tw->head = e->lnext;
	if (e->lnext != NULL)
		e->lnext->lprev = e->lprev;
	else
		tw->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void
lru_push(struct tw_table *tw, struct tw_entry *e)
{
	e->lprev = NULL;
	e->lnext = tw->head;
	if (tw->head != NULL)
		tw->head->lprev = e;
	tw->head = e;
	if (tw->tail == NULL)
		tw->tail = e;
}

static void
tw_remove(struct tw_table *tw, struct tw_entry *e)
{
	struct tw_entry **pp = &tw->buckets[e->hash & (tw->nbuckets - 1)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(tw, e);
	tw->n--;
	free(e->data);
	free(e);
}

void
tw_free(struct tw_table *tw)
{
	if (tw == NULL)
		return;
	while (tw->head != NULL)
		tw_remove(tw, tw->head);
	free(tw->buckets);
	free(tw);
}

struct tw_entry *
tw_find(struct tw_table *tw, const char *key)
{
	uint32_t h;
	struct tw_entry *e;

	if (tw == NULL)
		return NULL;
	h = fnv1a(key);
	for (e = tw->buckets[h & (tw->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

struct tw_entry *
tw_get(struct tw_table *tw, const char *key, double now, bool *created)
{
	struct tw_entry *e = tw_find(tw, key);
	size_t b;

	if (created != NULL)
		*created = e == NULL;
	if (tw == NULL)
		return NULL;
	if (e != NULL) {
		lru_unlink(tw, e);
		lru_push(tw, e);
		return e;
	}
	if (tw->n >= tw->cap && tw->tail != NULL) {
		tw_remove(tw, tw->tail);
		tw->evictions++;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->hash = fnv1a(key);
	e->t0 = e->last = now;
	b = e->hash & (tw->nbuckets - 1);
	e->hnext = tw->buckets[b];
	tw->buckets[b] = e;
	lru_push(tw, e);
	tw->n++;
	return e;
}

size_t
tw_size(const struct tw_table *tw)
{
	return tw != NULL ? tw->n : 0;
}

uint64_t
tw_evictions(const struct tw_table *tw)
{
	return tw->evictions;
}

struct tw_entry *
tw_first(struct tw_table *tw)
{
	return tw != NULL ? tw->head : NULL;
}

static unsigned
popcount256(const uint64_t *b)
{
	return (unsigned)(__builtin_popcountll(b[0]) + __builtin_popcountll(b[1]) +
			  __builtin_popcountll(b[2]) + __builtin_popcountll(b[3]));
}

double
tw_count(struct tw_entry *e, double now, double window, int slot)
{
	if (now - e->t0 >= window || now < e->t0) {
		e->t0 = now;
		e->count = 0;
		memset(e->bits, 0, sizeof(e->bits));
	}
	e->last = now;
	if (slot < 0) {
		e->count += 1;
		return e->count;
	}
	e->bits[(slot & 255) >> 6] |= 1ULL << (slot & 63);
	e->count = popcount256(e->bits);
	return e->count;
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

static const char *const threat_keys[] = { "enabled", "max_tracked",
	"score_half_life", "quarantine_threshold", "auto_quarantine",
	"throttle_threshold", "throttle_rate", "learning", "repeat_interval",
	"safety_critical_zones", "engineering", "detections", NULL };
static const char *const det_keys[] = { "id", "enabled", "threshold",
					"window", "severity", NULL };

static char **
string_list(struct cfg_errs *e, const config_setting_t *g, const char *key)
{
	config_setting_t *l = cfg_get_list(e, g, key, NULL);
	char **out;
	int n, i, k = 0;

	n = l != NULL ? config_setting_length(l) : 0;
	out = calloc((size_t)n + 1, sizeof(*out));
	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(l, (unsigned)i);

		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			cfg_err(e, el, NULL, "%s: entries must be strings", key);
			continue;
		}
		out[k++] = strdup(config_setting_get_string(el));
	}
	return out;
}

static void
free_list(char **l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; l[i] != NULL; i++)
		free(l[i]);
	free(l);
}

void
threat_conf_clear(struct threat_conf *tc)
{
	free_list(tc->safety_zones);
	free_list(tc->engineering);
	memset(tc, 0, sizeof(*tc));
}

/*
 * threat { ... }.  Detections are a list of groups naming their id (ids
 * are dotted, which libconfig setting names cannot be):
 *   detections = ( { id = "modbus.unit_sweep"; threshold = 8; } );
 * A detection named twice, an unknown id or severity is an error.
 */
int
threat_conf_load(struct cfg_errs *e, const config_setting_t *g,
		 struct threat_conf *tc)
{
	size_t before = cfg_errs_count(e);
	config_setting_t *dl;
	long long v;
	int i, n;
	bool seen[TD_COUNT];

	memset(tc, 0, sizeof(*tc));
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < TD_COUNT; i++) {
		tc->det[i].enabled = true;
		tc->det[i].threshold = threat_detections[i].threshold;
		tc->det[i].window = threat_detections[i].window;
		tc->det[i].severity = threat_detections[i].severity;
	}
	cfg_known_keys(e, g, threat_keys);
	cfg_get_bool(e, g, "enabled", true, &tc->enabled);
	cfg_get_int(e, g, "max_tracked", THREAT_DEFAULT_MAX_TRACKED, 16,
		    1000000, &v);
	tc->max_tracked = (int)v;
	cfg_get_double(e, g, "score_half_life", THREAT_DEFAULT_HALF_LIFE, 1.0,
		       86400.0 * 30, &tc->half_life);
	cfg_get_double(e, g, "quarantine_threshold", THREAT_DEFAULT_QUARANTINE,
		       0.0, 1e9, &tc->quarantine_threshold);
	cfg_get_bool(e, g, "auto_quarantine", true, &tc->auto_quarantine);
	cfg_get_double(e, g, "throttle_threshold", THREAT_DEFAULT_THROTTLE, 0.0,
		       1e9, &tc->throttle_threshold);
	cfg_get_double(e, g, "throttle_rate", THREAT_DEFAULT_THROTTLE_RATE,
		       0.01, 1e6, &tc->throttle_rate);
	cfg_get_double(e, g, "learning", 0.0, 0.0, 86400.0 * 365,
		       &tc->learning);
	cfg_get_double(e, g, "repeat_interval", THREAT_DEFAULT_REPEAT, 0.0,
		       86400.0, &tc->repeat_interval);
	tc->safety_zones = string_list(e, g, "safety_critical_zones");
	tc->engineering = string_list(e, g, "engineering");

	dl = cfg_get_list(e, g, "detections", NULL);
	n = dl != NULL ? config_setting_length(dl) : 0;
	for (i = 0; i < n; i++) {
		config_setting_t *d = config_setting_get_elem(dl, (unsigned)i);
		struct threat_det_conf *dc;
		const char *id;
		int k, sev;

		if (config_setting_type(d) != CONFIG_TYPE_GROUP) {
			cfg_err(e, d, NULL,
				"each detection is a group { id = \"...\"; ... }");
			continue;
		}
		cfg_known_keys(e, d, det_keys);
		cfg_get_string(e, d, "id", NULL, &id);
		if (id == NULL) {
			cfg_err(e, d, "id", "is required");
			continue;
		}
		for (k = 0; k < TD_COUNT; k++)
			if (strcmp(id, threat_detections[k].id) == 0)
				break;
		if (k == TD_COUNT) {
			cfg_err(e, d, "id",
				"unknown detection \"%s\" (docs/events.md lists them)",
				id);
			continue;
		}
		if (seen[k]) {
			cfg_err(e, d, "id", "detection \"%s\" configured twice",
				id);
			continue;
		}
		seen[k] = true;
		dc = &tc->det[k];
		cfg_get_bool(e, d, "enabled", true, &dc->enabled);
		cfg_get_int(e, d, "threshold", threat_detections[k].threshold,
			    1, 1000000, &v);
		dc->threshold = (int)v;
		if (k == TD_UNIT_SWEEP || k == TD_REGISTER_WALK) {
			if (dc->threshold > 256)
				cfg_err(e, d, "threshold",
					"counts distinct slots: at most 256");
		}
		cfg_get_double(e, d, "window", threat_detections[k].window,
			       0.1, 86400.0, &dc->window);
		cfg_get_enum(e, d, "severity", event_severity_names,
			     threat_detections[k].severity, &sev);
		dc->severity = sev;
	}
	return cfg_errs_count(e) == before ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* The engine                                                          */

struct bl_range {
	uint16_t lo, hi;
};

/* What one (identity, device) pair did during learning. */
struct baseline {
	char identity[128], target[128], zone[64];
	uint64_t fcs[4];
	uint32_t fc8;       /* sub-functions 0..31 */
	uint8_t mei;        /* bit 0: 13, bit 1: 14 */
	bool broadcast;
	uint64_t units[4];
	struct bl_range r[2][ZG_MB_NTABLES][BL_RANGES];
	uint8_t nr[2][ZG_MB_NTABLES];
	uint64_t ops;
	double sec;         /* current one-second bucket */
	unsigned sec_n, peak;
};

struct threat {
	struct zg_daemon *d;
	const struct threat_conf *tc;
	struct threat_conf def;      /* used until configured */
	struct tw_table *counters;   /* windowed counters and distinct sets */
	struct tw_table *scores;
	struct tw_table *seen;       /* sources seen during learning */
	struct tw_table *chans;      /* poll channels */
	struct tw_table *base;       /* baselines */
	size_t cap;
	int learn;                   /* 0 off, 1 learning, 2 finished */
	double learn_until, learn_len;
	struct event *tick;
	double now;                  /* monotonic seconds of the current call */
	unsigned suppressed;         /* repeats count_fire() held back */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	threat_tick(arg, now_s());
}

static void
tables_free(struct threat *t)
{
	tw_free(t->counters);
	tw_free(t->scores);
	tw_free(t->seen);
	tw_free(t->chans);
	tw_free(t->base);
	t->counters = t->scores = t->seen = t->chans = t->base = NULL;
}

static int
tables_new(struct threat *t, size_t cap)
{
	t->cap = cap;
	t->counters = tw_new(cap);
	t->scores = tw_new(cap);
	t->seen = tw_new(cap);
	t->chans = tw_new(cap);
	t->base = tw_new(cap);
	if (!t->counters || !t->scores || !t->seen || !t->chans || !t->base) {
		tables_free(t);
		return -1;
	}
	return 0;
}

struct threat *
threat_new(struct zg_daemon *d)
{
	struct threat *t = calloc(1, sizeof(*t));
	struct cfg_errs e;

	if (t == NULL)
		return NULL;
	t->d = d;
	cfg_errs_init(&e);
	threat_conf_load(&e, NULL, &t->def);
	cfg_errs_free(&e);
	t->tc = &t->def;
	if (tables_new(t, THREAT_DEFAULT_MAX_TRACKED) < 0) {
		threat_conf_clear(&t->def);
		free(t);
		return NULL;
	}
	return t;
}

void
threat_free(struct threat *t)
{
	if (t == NULL)
		return;
	if (t->tick != NULL)
		event_free(t->tick);
	tables_free(t);
	threat_conf_clear(&t->def);
	free(t);
}

void
threat_configure(struct threat *t, const struct threat_conf *tc)
{
	t->tc = tc != NULL ? tc : &t->def;
	/* A new capacity starts the tables afresh: bounded beats exact. */
	if ((size_t)t->tc->max_tracked != t->cap) {
		tables_free(t);
		if (tables_new(t, (size_t)t->tc->max_tracked) < 0 &&
		    tables_new(t, 16) < 0) {
			log_errx("threat engine: out of memory: disabled");
			t->def.enabled = false;
			t->tc = &t->def;
			t->cap = 0;
		}
	}
	if (t->tc->learning > 0 && t->learn == 0) {
		t->learn = 1;
		t->learn_len = t->tc->learning;
		t->learn_until = now_s() + t->tc->learning;
		log_info("threat engine: learning for %.0f s", t->tc->learning);
	} else if (t->tc->learning == 0 && t->learn == 1) {
		t->learn = 0;
	}
	if (t->tick == NULL && t->d != NULL && t->d->base != NULL) {
		struct timeval tv = { 1, 0 };

		t->tick = event_new(t->d->base, -1, EV_PERSIST, on_tick, t);
		if (t->tick != NULL)
			event_add(t->tick, &tv);
	}
}

/* "peer:HOST" for an unidentified source (the port changes per session). */
static void
source_key(char *buf, size_t len, const char *identity, const char *peer)
{
	const char *end;

	if (identity != NULL && identity[0] != '\0') {
		snprintf(buf, len, "%s", identity);
		return;
	}
	if (peer == NULL) {
		snprintf(buf, len, "peer:unknown");
		return;
	}
	if (peer[0] == '[' && (end = strchr(peer, ']')) != NULL)
		snprintf(buf, len, "peer:%.*s", (int)(end - peer + 1), peer);
	else if ((end = strrchr(peer, ':')) != NULL)
		snprintf(buf, len, "peer:%.*s", (int)(end - peer), peer);
	else
		snprintf(buf, len, "peer:%s", peer);
}

static bool
in_list(char *const *l, const char *s)
{
	size_t i;

	if (l == NULL || s == NULL)
		return false;
	for (i = 0; l[i] != NULL; i++)
		if (strcmp(l[i], s) == 0)
			return true;
	return false;
}

static void
action_event(struct threat *t, const char *kind, int sev, const char *ident,
	     const char *zone, double score, const char *detail)
{
	struct zg_detection det;
	struct zg_event ev;

	memset(&ev, 0, sizeof(ev));
	memset(&det, 0, sizeof(det));
	det.zone = zone;
	det.score = score;
	det.action = kind + strlen("threat.");
	ev.kind = kind;
	ev.severity = sev;
	ev.identity = ident;
	ev.detail = detail;
	ev.detection = &det;
	events_emit(t->d, "threat", &ev);
}

/* A response decided by respond(), raised after the detection itself. */
struct response {
	const char *kind;   /* "threat.quarantine" ... or NULL */
	int severity;
	char detail[300];
};

/*
 * The response to a detection against `key': add the severity's weight to
 * the decayed score, then throttle / quarantine when a threshold is
 * crossed.  Only identities can be quarantined (the quarantine set is of
 * identities); an unidentified source is scored and reported.  An
 * identity whose zone is unknown counts as safety-critical when any zone
 * is listed as such: automatic action never guesses in the unsafe
 * direction.
 */
static void
respond(struct threat *t, const char *key, bool is_ident, int det, int sev,
	const char **zonep, double *score_out, struct response *r)
{
	const struct threat_conf *tc = t->tc;
	double now = t->now;
	struct tw_entry *e;
	const char *zone = *zonep;
	bool created, safety;

	memset(r, 0, sizeof(*r));
	e = tw_get(t->scores, key, now, &created);
	if (e == NULL)
		return;
	if (zone != NULL && e->data == NULL)
		e->data = calloc(1, 64);
	if (zone != NULL && e->data != NULL)
		snprintf(e->data, 64, "%s", zone);
	if (zone == NULL && e->data != NULL && ((char *)e->data)[0] != '\0')
		*zonep = zone = e->data;
	e->val = threat_decay(e->val, now - e->last, tc->half_life);
	e->last = now;
	e->val += sev_weight[sev];
	e->n++;
	e->count = det; /* last detection */
	if (is_ident)
		e->flags |= F_IDENTITY;
	*score_out = e->val;
	if (!is_ident || t->d == NULL || t->d->segstate == NULL)
		return;
	safety = in_list(tc->safety_zones, zone) ||
		 (zone == NULL && tc->safety_zones != NULL &&
		  tc->safety_zones[0] != NULL);
	if (tc->quarantine_threshold > 0 && e->val >= tc->quarantine_threshold &&
	    !seg_quarantined(t->d->segstate, key)) {
		if (!tc->auto_quarantine || safety) {
			if (!(e->flags & F_WITHHELD)) {
				e->flags |= F_WITHHELD;
				r->kind = "threat.quarantine_withheld";
				r->severity = ZG_SEV_HIGH;
				snprintf(r->detail, sizeof(r->detail),
					 "score %.1f reached the quarantine threshold %.1f; not quarantined automatically (%s): an operator decides",
					 e->val, tc->quarantine_threshold,
					 tc->auto_quarantine ? "safety-critical zone"
							     : "auto_quarantine = false");
			}
		} else if (seg_quarantine_set(t->d->segstate, key, true) == 0) {
			r->kind = "threat.quarantine";
			r->severity = ZG_SEV_CRITICAL;
			snprintf(r->detail, sizeof(r->detail),
				 "score %.1f reached the quarantine threshold %.1f after %s: quarantined until an operator releases it",
				 e->val, tc->quarantine_threshold,
				 threat_detections[det].id);
			log_msg(ZG_LOG_WARN, "threat", NULL, "%s: %s", key,
				r->detail);
		}
	}
	if (r->kind == NULL && tc->throttle_threshold > 0 &&
	    e->val >= tc->throttle_threshold && !(e->flags & F_THROTTLED)) {
		e->flags |= F_THROTTLED;
		r->kind = "threat.throttle";
		r->severity = ZG_SEV_HIGH;
		snprintf(r->detail, sizeof(r->detail),
			 "score %.1f reached the throttle threshold %.1f: at most %.2f operations/s until it decays",
			 e->val, tc->throttle_threshold, tc->throttle_rate);
	}
}

struct raise_ctx {
	const char *peer, *identity, *target, *zone;
	const struct zg_op *op;
	const struct zg_verdict *v;
};

/*
 * Raise detection `det' for source `key' (identity or peer:HOST).  The
 * event carries the op, verdict and evidence; the response follows as an
 * event of its own.
 */
static void
raise_det(struct threat *t, int det, const char *key, const struct raise_ctx *c,
	  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
raise_det(struct threat *t, int det, const char *key, const struct raise_ctx *c,
	  const char *fmt, ...)
{
	const struct threat_det_def *def = &threat_detections[det];
	int sev = t->tc->det[det].severity;
	struct response r;
	struct zg_detection dt;
	struct zg_event ev;
	char evidence[400];
	va_list ap;
	double score = 0;
	const char *zone = c->zone;
	bool ident = c->identity != NULL && c->identity[0] != '\0';

	if (zone == NULL && c->v != NULL)
		zone = c->v->from_zone;
	va_start(ap, fmt);
	vsnprintf(evidence, sizeof(evidence), fmt, ap);
	va_end(ap);
	if (t->suppressed > 0) {
		size_t el = strlen(evidence);

		snprintf(evidence + el, sizeof(evidence) - el,
			 " (%u repeats not reported since the last report)",
			 t->suppressed);
		t->suppressed = 0;
	}
	respond(t, key, ident, det, sev, &zone, &score, &r);
	memset(&dt, 0, sizeof(dt));
	memset(&ev, 0, sizeof(ev));
	dt.id = def->id;
	dt.technique = def->technique;
	dt.technique_name = def->technique_name;
	dt.attack_version = THREAT_ATTACK_VERSION;
	dt.zone = zone;
	dt.evidence = evidence;
	dt.action = r.kind != NULL ? r.kind + strlen("threat.") : NULL;
	dt.score = score;
	ev.kind = "threat.detection";
	ev.severity = sev;
	ev.peer = c->peer;
	ev.identity = c->identity;
	ev.target = c->target;
	ev.verdict = c->v;
	ev.op = c->op;
	ev.detail = def->what;
	ev.detection = &dt;
	metrics_counter_add("zonegate_detections_total", "detection", def->id, 1);
	events_emit(t->d, "threat", &ev);
	if (r.kind != NULL) {
		metrics_counter_add("zonegate_threat_actions_total", "action",
				    r.kind + strlen("threat."), 1);
		action_event(t, r.kind, r.severity, key, zone, score, r.detail);
	}
}

/*
 * Count one observation for (det, key).  Fires when the count in the
 * window reaches the threshold, then starts counting afresh.  A detection
 * that fired for this source less than repeat_interval ago is counted but
 * not raised again: a sustained condition (a misconfigured HMI reading a
 * missing register every second) is reported and scored once per
 * interval, not once per request, so only varied or new behaviour adds up
 * to a quarantine.  slot >= 0 counts distinct slots.  Returns the count
 * that fired, or 0.
 */
static double
count_fire(struct threat *t, int det, const char *key, int slot)
{
	const struct threat_det_conf *dc = &t->tc->det[det];
	struct tw_entry *e, *r;
	char k[sizeof(e->key)];
	double n = 1;

	if (!dc->enabled)
		return 0;
	if (dc->threshold > 1 || slot >= 0) {
		snprintf(k, sizeof(k), "%d|%s", det, key);
		e = tw_get(t->counters, k, t->now, NULL);
		if (e == NULL)
			return 0;
		n = tw_count(e, t->now, dc->window, slot);
		if (n < dc->threshold)
			return 0;
		e->count = 0;
		memset(e->bits, 0, sizeof(e->bits));
		e->t0 = t->now;
	}
	snprintf(k, sizeof(k), "rep|%d|%s", det, key);
	r = tw_get(t->counters, k, t->now, NULL);
	if (r == NULL)
		return n;
	if (r->n > 0 && t->now - r->val < t->tc->repeat_interval) {
		r->count++; /* suppressed, said in the next report */
		return 0;
	}
	t->suppressed = (unsigned)r->count;
	r->count = 0;
	r->n++;
	r->val = t->now;
	return n;
}

static bool
mb_is_write(const struct zg_modbus_op *m)
{
	int i;

	for (i = 0; i < m->nspans; i++)
		if (m->spans[i].access == ZG_MB_WRITE)
			return true;
	return m->fc == 5 || m->fc == 6 || m->fc == 15 || m->fc == 16 ||
	       m->fc == 22 || m->fc == 23;
}

static bool
fc_public(unsigned fc)
{
	switch (fc) {
	case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8:
	case 11: case 12: case 15: case 16: case 17: case 20: case 21:
	case 22: case 23: case 24: case 43:
		return true;
	}
	return false;
}

static const char *const table_names[] = { "coils", "discrete_inputs",
	"holding_registers", "input_registers" };

/* "FC6 unit 1 write holding_registers 25+1 values 1234" */
static void
op_str(const struct zg_modbus_op *m, char *buf, size_t len)
{
	size_t off;
	int i, w;

	w = snprintf(buf, len, "FC%u", m->fc);
	if (m->fc == 8)
		w += snprintf(buf + w, len - (size_t)w, "/%u", m->subfn);
	if (m->fc == 43)
		w += snprintf(buf + w, len - (size_t)w, "/%u", m->mei);
	w += snprintf(buf + w, len - (size_t)w, " unit %u", m->unit);
	off = (size_t)w < len ? (size_t)w : len;
	for (i = 0; i < m->nspans && off < len; i++) {
		const struct zg_mb_span *s = &m->spans[i];

		w = snprintf(buf + off, len - off, " %s %s %u+%u",
			     s->access == ZG_MB_WRITE ? "write" : "read",
			     s->table < ZG_MB_NTABLES ? table_names[s->table] : "?",
			     s->addr, s->qty);
		off += w > 0 ? (size_t)w : 0;
	}
	if (m->values != NULL && m->nvalues > 0 && off < len) {
		w = snprintf(buf + off, len - off, " value %u%s", m->values[0],
			     m->nvalues > 1 ? " ..." : "");
		(void)w;
	}
}

/* Function-code detections: also for requests that were never decided. */
static void
mb_fc_detections(struct threat *t, const char *key, const struct raise_ctx *c,
		 const struct zg_modbus_op *m, const char *desc)
{
	const struct threat_conf *tc = t->tc;
	double n;

	if (m->fc == 43 && m->mei == 14 && tc->det[TD_DEVICE_ID].enabled &&
	    !in_list(tc->engineering, c->identity) &&
	    !in_list(tc->engineering, c->v ? c->v->from_zone : NULL) &&
	    count_fire(t, TD_DEVICE_ID, key, -1) > 0)
		raise_det(t, TD_DEVICE_ID, key, c,
			  "%s from %s, which is not listed in threat.engineering",
			  desc, key);
	if (m->fc == 43 && m->mei == 13 && count_fire(t, TD_CANOPEN, key, -1))
		raise_det(t, TD_CANOPEN, key, c, "%s", desc);
	if (m->fc == 8 && m->subfn == 4 && count_fire(t, TD_LISTEN_ONLY, key, -1))
		raise_det(t, TD_LISTEN_ONLY, key, c, "%s", desc);
	if (m->fc == 8 && m->subfn == 1 && count_fire(t, TD_RESTART, key, -1))
		raise_det(t, TD_RESTART, key, c, "%s", desc);
	if (!fc_public(m->fc) && count_fire(t, TD_RESERVED_FC, key, -1))
		raise_det(t, TD_RESERVED_FC, key, c, "%s: function %u is %s",
			  desc, m->fc,
			  m->fc == 90 ? "UMAS (Schneider programming)"
				      : "reserved or user-defined");
	if (m->unit == 0 && mb_is_write(m) &&
	    count_fire(t, TD_BROADCAST_WRITE, key, -1))
		raise_det(t, TD_BROADCAST_WRITE, key, c, "%s", desc);
	if ((n = count_fire(t, TD_UNIT_SWEEP, key, m->unit)) > 0)
		raise_det(t, TD_UNIT_SWEEP, key, c,
			  "%.0f distinct unit ids within %.0f s, last %s", n,
			  tc->det[TD_UNIT_SWEEP].window, desc);
}

/* ---- learning ---------------------------------------------------- */

static void
bl_add_range(struct baseline *b, int acc, int table, unsigned lo, unsigned hi)
{
	struct bl_range *r = b->r[acc][table];
	uint8_t *n = &b->nr[acc][table];
	unsigned best = 0, i, j, gap, bestgap = 0x20000;

	for (i = 0; i < *n; i++) {
		if (lo <= (unsigned)r[i].hi + 1 && hi + 1 >= r[i].lo) {
			if (lo < r[i].lo)
				r[i].lo = (uint16_t)lo;
			if (hi > r[i].hi)
				r[i].hi = (uint16_t)hi;
			/* Merge neighbours the grown range now touches. */
			for (j = 0; j < *n; j++) {
				if (j != i && r[j].lo <= (unsigned)r[i].hi + 1 &&
				    (unsigned)r[j].hi + 1 >= r[i].lo) {
					if (r[j].lo < r[i].lo)
						r[i].lo = r[j].lo;
					if (r[j].hi > r[i].hi)
						r[i].hi = r[j].hi;
					r[j] = r[--(*n)];
					if (i == *n)
						i = j;
					j = (unsigned)-1;
				}
			}
			return;
		}
	}
	if (*n < BL_RANGES) {
		r[*n].lo = (uint16_t)lo;
		r[*n].hi = (uint16_t)hi;
		(*n)++;
		return;
	}
	/* Full: widen the nearest range (the snippet stays short). */
	for (i = 0; i < *n; i++) {
		gap = lo > r[i].hi ? lo - r[i].hi : r[i].lo - hi;
		if (gap < bestgap) {
			bestgap = gap;
			best = i;
		}
	}
	if (lo < r[best].lo)
		r[best].lo = (uint16_t)lo;
	if (hi > r[best].hi)
		r[best].hi = (uint16_t)hi;
}

static bool
bl_covers(const struct baseline *b, int acc, int table, unsigned lo,
	  unsigned hi)
{
	unsigned i;

	for (i = 0; i < b->nr[acc][table]; i++)
		if (lo >= b->r[acc][table][i].lo && hi <= b->r[acc][table][i].hi)
			return true;
	return false;
}

static void
bl_record(struct baseline *b, const struct zg_modbus_op *m, double now)
{
	int i;

	b->fcs[m->fc >> 6] |= 1ULL << (m->fc & 63);
	if (m->fc == 8 && m->subfn < 32)
		b->fc8 |= 1u << m->subfn;
	if (m->fc == 43 && (m->mei == 13 || m->mei == 14))
		b->mei |= m->mei == 13 ? 1 : 2;
	if (m->unit == 0)
		b->broadcast = true;
	else
		b->units[m->unit >> 6] |= 1ULL << (m->unit & 63);
	for (i = 0; i < m->nspans; i++) {
		const struct zg_mb_span *s = &m->spans[i];

		if (s->table < ZG_MB_NTABLES && s->qty > 0 &&
		    (s->access == ZG_MB_READ || s->access == ZG_MB_WRITE))
			bl_add_range(b, s->access - 1, s->table, s->addr,
				     (unsigned)s->addr + s->qty - 1);
	}
	b->ops++;
	if (floor(now) != b->sec) {
		b->sec = floor(now);
		b->sec_n = 0;
	}
	if (++b->sec_n > b->peak)
		b->peak = b->sec_n;
}

/* Why m is outside baseline b, or NULL. */
static const char *
bl_deviation(const struct baseline *b, const struct zg_modbus_op *m,
	     char *buf, size_t len)
{
	int i;

	if (!(b->fcs[m->fc >> 6] & (1ULL << (m->fc & 63)))) {
		snprintf(buf, len, "function %u was never used during learning",
			 m->fc);
		return buf;
	}
	if (m->fc == 8 && (m->subfn >= 32 || !(b->fc8 & (1u << m->subfn)))) {
		snprintf(buf, len, "diagnostics sub-function %u was never used",
			 m->subfn);
		return buf;
	}
	if (m->unit != 0 && !(b->units[m->unit >> 6] & (1ULL << (m->unit & 63)))) {
		snprintf(buf, len, "unit %u was never used", m->unit);
		return buf;
	}
	for (i = 0; i < m->nspans; i++) {
		const struct zg_mb_span *s = &m->spans[i];

		if (s->table < ZG_MB_NTABLES && s->qty > 0 &&
		    (s->access == ZG_MB_READ || s->access == ZG_MB_WRITE) &&
		    !bl_covers(b, s->access - 1, s->table, s->addr,
			       (unsigned)s->addr + s->qty - 1)) {
			snprintf(buf, len, "%s of %s %u-%u is outside the learned ranges",
				 s->access == ZG_MB_WRITE ? "write" : "read",
				 table_names[s->table], s->addr,
				 (unsigned)s->addr + s->qty - 1);
			return buf;
		}
	}
	return NULL;
}

static void
learn_check(struct threat *t, double now)
{
	if (t->learn == 1 && now >= t->learn_until) {
		t->learn = 2;
		log_info("threat engine: learning finished: %zu (identity, device) baselines; `zonegatectl learned' exports them",
			 tw_size(t->base));
		action_event(t, "threat.learning_done", ZG_SEV_INFO, NULL, NULL,
			     0, "learning period over: deviations from the baseline are detections now");
	}
}

static void
learn_op(struct threat *t, const char *key, const struct raise_ctx *c,
	 const struct zg_op *op, const char *desc)
{
	const struct zg_modbus_op *m = &op->u.modbus;
	double now = t->now;
	struct tw_entry *e;
	struct baseline *b;
	char k[sizeof(e->key)], why[160];
	bool created;

	if (op->identity == NULL || op->target == NULL)
		return;
	snprintf(k, sizeof(k), "%s|%s", op->identity, op->target);
	if (t->learn == 1) {
		if (c->v == NULL || c->v->decision != ZG_ALLOW)
			return; /* the baseline is of what the policy allows */
		e = tw_get(t->base, k, now, &created);
		if (e == NULL)
			return;
		if (e->data == NULL) {
			e->data = calloc(1, sizeof(struct baseline));
			if (e->data == NULL)
				return;
			b = e->data;
			snprintf(b->identity, sizeof(b->identity), "%s",
				 op->identity);
			snprintf(b->target, sizeof(b->target), "%s", op->target);
			snprintf(b->zone, sizeof(b->zone), "%s",
				 c->v->from_zone ? c->v->from_zone : "");
		}
		bl_record(e->data, m, now);
		return;
	}
	if (t->learn != 2 || !t->tc->det[TD_BASELINE].enabled)
		return;
	e = tw_find(t->base, k);
	if (e == NULL || e->data == NULL)
		snprintf(why, sizeof(why),
			 "%s never talked to %s during learning", op->identity,
			 op->target);
	else if (bl_deviation(e->data, m, why, sizeof(why)) == NULL)
		return;
	if (count_fire(t, TD_BASELINE, key, -1) > 0)
		raise_det(t, TD_BASELINE, key, c, "%s: %s", desc, why);
}

/* ---- hooks ------------------------------------------------------- */

static bool
is_quarantine_denial(const struct zg_verdict *v)
{
	return v != NULL && v->decision != ZG_ALLOW &&
	       strstr(v->reason, "quarantine") != NULL;
}

static void
mb_op(struct threat *t, const char *key, const struct raise_ctx *c,
      const struct zg_op *op, struct zg_verdict *v)
{
	const struct zg_modbus_op *m = &op->u.modbus;
	const struct threat_conf *tc = t->tc;
	bool write = mb_is_write(m);
	char desc[200];
	double now = t->now, n;
	int i;

	op_str(m, desc, sizeof(desc));
	if (write) {
		/* The audit trail: every write, allowed or denied. */
		struct zg_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.kind = "audit.write";
		ev.severity = ZG_SEV_INFO;
		ev.peer = op->peer;
		ev.identity = op->identity;
		ev.target = op->target;
		ev.verdict = v;
		ev.op = op;
		ev.detail = desc;
		events_emit(t->d, "threat", &ev);
	}
	if (is_quarantine_denial(v))
		return; /* already contained: no more scoring */
	if (v->decision != ZG_ALLOW) {
		int det = -1;

		if (strncmp(v->reason, "no role presented;", 18) == 0 ||
		    (strncmp(v->reason, "role ", 5) == 0 &&
		     strstr(v->reason, " is not among roles ") != NULL))
			det = TD_TLS_ROLE;
		else if (strstr(v->reason, "value ") != NULL &&
		    strstr(v->reason, " is outside ") != NULL)
			det = TD_VALUE_BOUNDS;
		else if (write && strstr(v->reason, "allows no writes") != NULL)
			det = TD_WRITE_UNAUTHORIZED;
		else if (strstr(v->reason, "outside allowed") != NULL ||
			 strstr(v->reason, "allows no") != NULL)
			det = TD_ADDRESS_RANGE;
		else if (write && m->unit != 0 && fc_public(m->fc))
			det = TD_WRITE_UNAUTHORIZED;
		if (det >= 0 && count_fire(t, det, key, -1) > 0)
			raise_det(t, det, key, c, "%s denied: %s", desc,
				  v->reason);
	}
	mb_fc_detections(t, key, c, m, desc);
	for (i = 0; i < m->nspans; i++) {
		char k[sizeof(((struct tw_entry *)0)->key)];

		if (m->spans[i].access != ZG_MB_READ)
			continue;
		snprintf(k, sizeof(k), "%s|%s|%u", key,
			 op->target ? op->target : "", m->spans[i].table);
		if ((n = count_fire(t, TD_REGISTER_WALK, k,
				    (m->spans[i].addr / 8) & 255)) > 0)
			raise_det(t, TD_REGISTER_WALK, key, c,
				  "requests started in %.0f distinct 8-address blocks of %s within %.0f s, last %s",
				  n, table_names[m->spans[i].table & 3],
				  tc->det[TD_REGISTER_WALK].window, desc);
	}
	if ((n = count_fire(t, TD_FLOOD, key, -1)) > 1)
		raise_det(t, TD_FLOOD, key, c,
			  "%.0f requests within %.0f s", n,
			  tc->det[TD_FLOOD].window);
	learn_op(t, key, c, op, desc);
	/* A poll channel: one source reading the same thing again and again. */
	if (v->decision == ZG_ALLOW && !write && m->nspans > 0 &&
	    tc->det[TD_POLL_SILENT].enabled) {
		char k[sizeof(((struct tw_entry *)0)->key)];
		struct tw_entry *e;
		bool created;
		double dt;

		snprintf(k, sizeof(k), "%s|%s|%u|%u|%u", key,
			 op->target ? op->target : "", m->fc, m->spans[0].addr,
			 m->spans[0].qty);
		e = tw_get(t->chans, k, now, &created);
		if (e == NULL)
			return;
		if (!created) {
			dt = now - e->last;
			e->val = e->n <= 1 ? dt : 0.8 * e->val + 0.2 * dt;
		}
		e->n++;
		e->last = now;
		if (e->flags & F_SILENT) {
			e->flags &= ~(uint32_t)F_SILENT;
			log_msg(ZG_LOG_INFO, "threat", op->peer,
				"poll channel %s resumed", k);
		}
	}
}

void
threat_op(struct threat *t, const char *source, const struct zg_op *op,
	  struct zg_verdict *v)
{
	const struct threat_conf *tc;
	struct raise_ctx c;
	char key[160];
	double now;

	(void)source;
	if (t == NULL || !t->tc->enabled)
		return;
	tc = t->tc;
	now = t->now = now_s();
	learn_check(t, now);
	source_key(key, sizeof(key), op->identity, op->peer);
	memset(&c, 0, sizeof(c));
	c.peer = op->peer;
	c.identity = op->identity;
	c.target = op->target;
	c.op = op;
	c.v = v;

	/* Throttling: the response to a score above throttle_threshold. */
	if (v->decision == ZG_ALLOW && op->identity != NULL &&
	    tc->throttle_threshold > 0) {
		struct tw_entry *s = tw_find(t->scores, key);

		if (s != NULL && (s->flags & F_THROTTLED)) {
			double sc = threat_decay(s->val, now - s->last,
						 tc->half_life);
			char k[sizeof(s->key)];
			struct tw_entry *b;

			if (sc < tc->throttle_threshold) {
				s->flags &= ~(uint32_t)F_THROTTLED;
			} else {
				snprintf(k, sizeof(k), "throttle|%s", key);
				b = tw_get(t->counters, k, now, NULL);
				if (b != NULL &&
				    tw_count(b, now, 1.0, -1) > tc->throttle_rate) {
					v->decision = ZG_DENY;
					snprintf(v->reason, sizeof(v->reason),
						 "throttled by the threat engine: score %.0f is above %.0f, at most %.2f operations/s",
						 sc, tc->throttle_threshold,
						 tc->throttle_rate);
				}
			}
		}
	}

	/* A source never seen while learning. */
	if (t->learn != 0) {
		bool created;
		struct tw_entry *e = tw_get(t->seen, key, now, &created);

		if (e != NULL && created && t->learn == 2 &&
		    count_fire(t, TD_NEW_SOURCE, key, -1) > 0)
			raise_det(t, TD_NEW_SOURCE, key, &c,
				  "%s was not seen during the %.0f s learning period",
				  key, t->learn_len);
	}

	if (op->proto == ZG_PROTO_MODBUS)
		mb_op(t, key, &c, op, v);
}

/* The peer part of an unidentified source's key (for counting per host). */
static void
ev_ctx(struct raise_ctx *c, const struct zg_event *ev)
{
	memset(c, 0, sizeof(*c));
	c->peer = ev->peer;
	c->identity = ev->identity;
	c->target = ev->target;
	c->op = ev->op;
	c->v = ev->verdict;
}

static bool
kind_is(const char *kind, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(kind, list[i]) == 0)
			return true;
	return false;
}

/*
 * Events plugins raise (docs/events.md lists the kinds read here).  An
 * event that carries an op but was never decided (no route, malformed
 * request) still gets the function-code detections.
 */
void
threat_event(struct threat *t, const char *source, const struct zg_event *ev)
{
	static const char *const flood[] = { "modbus.too_many_outstanding",
		"modbus.rate_limited", "modbus.denial_flood",
		"modbus.too_many_connections", NULL };
	static const char *const malformed[] = { "modbus.framing_error",
		"modbus.malformed_request", NULL };
	static const char *const unsol[] = { "modbus.unsolicited_response",
		"modbus.response_mismatch", NULL };
	static const char *const role[] = { "tls.bad_role", "tls.no_identity",
		NULL };
	struct raise_ctx c;
	char key[160], desc[200];
	const char *k;
	double n;

	(void)source;
	if (t == NULL || !t->tc->enabled || ev->kind == NULL ||
	    ev->detection != NULL)
		return;
	k = ev->kind;
	t->now = now_s();
	if (strcmp(k, "admin.release") == 0 && ev->identity != NULL) {
		threat_released(t, ev->identity);
		return;
	}
	ev_ctx(&c, ev);
	source_key(key, sizeof(key), ev->identity, ev->peer);
	if (kind_is(k, malformed) && count_fire(t, TD_MALFORMED, key, -1) > 0)
		raise_det(t, TD_MALFORMED, key, &c, "%s: %s", k,
			  ev->detail ? ev->detail : "");
	else if (strcmp(k, "modbus.half_open_frame") == 0 &&
		 count_fire(t, TD_HALF_OPEN, key, -1) > 0)
		raise_det(t, TD_HALF_OPEN, key, &c, "%s",
			  ev->detail ? ev->detail : "");
	else if (kind_is(k, flood) && t->tc->det[TD_FLOOD].enabled) {
		/* Each is a limit already hit: report once per window. */
		char ck[200];
		struct tw_entry *e;

		snprintf(ck, sizeof(ck), "floodev|%s", key);
		e = tw_get(t->counters, ck, t->now, NULL);
		if (e != NULL &&
		    tw_count(e, t->now, t->tc->det[TD_FLOOD].window, -1) == 1)
			raise_det(t, TD_FLOOD, key, &c, "%s: %s", k,
				  ev->detail ? ev->detail : "");
	} else if (kind_is(k, unsol)) {
		/* Counted per device: the far end misbehaves, not the client. */
		source_key(key, sizeof(key), ev->target, ev->peer);
		if ((n = count_fire(t, TD_UNSOLICITED, key, -1)) > 0)
			raise_det(t, TD_UNSOLICITED, key, &c,
				  "%.0f unsolicited or mismatched responses from %s within %.0f s, last: %s",
				  n, ev->target ? ev->target : "?",
				  t->tc->det[TD_UNSOLICITED].window,
				  ev->detail ? ev->detail : k);
	} else if (strcmp(k, "tls.handshake_failed") == 0) {
		if ((n = count_fire(t, TD_TLS_FAILURE, key, -1)) > 0)
			raise_det(t, TD_TLS_FAILURE, key, &c,
				  "%.0f failed TLS handshakes from %s within %.0f s, last: %s",
				  n, key + (strncmp(key, "peer:", 5) ? 0 : 5),
				  t->tc->det[TD_TLS_FAILURE].window,
				  ev->detail ? ev->detail : "");
	} else if (kind_is(k, role)) {
		if (count_fire(t, TD_TLS_ROLE, key, -1) > 0)
			raise_det(t, TD_TLS_ROLE, key, &c, "%s: %s", k,
				  ev->detail ? ev->detail : "");
	} else if (strcmp(k, "mqtt.subscribe_denied") == 0) {
		const char *f = ev->op && ev->op->proto == ZG_PROTO_MQTT
					? ev->op->u.mqtt.topic : NULL;
		size_t fl = f ? ev->op->u.mqtt.topic_len : 0;

		if (f != NULL && ((fl >= 1 && f[0] == '#') ||
				  (fl >= 4 && strncmp(f, "$SYS", 4) == 0)) &&
		    count_fire(t, TD_MQTT_WILDCARD, key, -1) > 0)
			raise_det(t, TD_MQTT_WILDCARD, key, &c,
				  "subscribe to \"%.*s\" denied",
				  (int)(fl > 200 ? 200 : fl), f);
	} else if (strcmp(k, "mqtt.clientid_takeover") == 0) {
		if (count_fire(t, TD_MQTT_TAKEOVER, key, -1) > 0)
			raise_det(t, TD_MQTT_TAKEOVER, key, &c, "%s",
				  ev->detail ? ev->detail : "");
	}
	if (ev->op != NULL && ev->op->proto == ZG_PROTO_MODBUS &&
	    (strcmp(k, "modbus.no_route") == 0 ||
	     strcmp(k, "modbus.malformed_request") == 0)) {
		op_str(&ev->op->u.modbus, desc, sizeof(desc));
		mb_fc_detections(t, key, &c, &ev->op->u.modbus, desc);
	}
}

void
threat_observe(struct threat *t, const char *source,
	       const struct zg_observation *o)
{
	struct raise_ctx c;
	char key[160];
	double n;

	(void)source;
	if (t == NULL || !t->tc->enabled || o->kind == NULL)
		return;
	if (strcmp(o->kind, "modbus.exception_sent") != 0)
		return;
	t->now = now_s();
	memset(&c, 0, sizeof(c));
	c.peer = o->peer;
	c.identity = o->identity;
	c.target = o->target;
	c.op = o->op;
	source_key(key, sizeof(key), o->identity, o->peer);
	if ((n = count_fire(t, TD_EXCEPTION_BURST, key, -1)) > 0)
		raise_det(t, TD_EXCEPTION_BURST, key, &c,
			  "%.0f exception responses to %s within %.0f s, last code 0x%02llx",
			  n, key, t->tc->det[TD_EXCEPTION_BURST].window,
			  o->value);
}

void
threat_tick(struct threat *t, double now)
{
	const struct threat_det_conf *dc;
	struct tw_entry *e;

	if (t == NULL || !t->tc->enabled)
		return;
	t->now = now;
	learn_check(t, now);
	dc = &t->tc->det[TD_POLL_SILENT];
	if (!dc->enabled)
		return;
	for (e = tw_first(t->chans); e != NULL; e = tw_next(e)) {
		struct raise_ctx c;
		char key[sizeof(e->key)], target[sizeof(e->key)], *bar;
		double gap = now - e->last, lim;

		if (e->n < (uint32_t)dc->threshold || (e->flags & F_SILENT) ||
		    e->val > dc->window)
			continue;
		lim = POLL_SILENCE_FACTOR * e->val;
		if (lim < 1.0)
			lim = 1.0;
		if (gap <= lim)
			continue;
		e->flags |= F_SILENT;
		/* The channel key is "source|target|fc|addr|qty". */
		snprintf(key, sizeof(key), "%s", e->key);
		memset(&c, 0, sizeof(c));
		if ((bar = strchr(key, '|')) != NULL) {
			*bar = '\0';
			snprintf(target, sizeof(target), "%s", bar + 1);
			if ((bar = strchr(target, '|')) != NULL)
				*bar = '\0';
			c.target = target;
		}
		if (strncmp(key, "peer:", 5) != 0)
			c.identity = key;
		raise_det(t, TD_POLL_SILENT, key, &c,
			  "channel %s polled %u times every %.2f s on average, silent for %.1f s",
			  e->key, e->n, e->val, gap);
	}
}

void
threat_released(struct threat *t, const char *identity)
{
	struct tw_entry *e, *next;
	size_t il = strlen(identity), kl;

	if (t == NULL)
		return;
	/* A clean slate: the source's counters and repeat marks go too. */
	for (e = tw_first(t->counters); e != NULL; e = next) {
		next = tw_next(e);
		kl = strlen(e->key);
		if (kl > il + 1 && e->key[kl - il - 1] == '|' &&
		    strcmp(e->key + kl - il, identity) == 0)
			tw_remove(t->counters, e);
	}
	e = tw_find(t->scores, identity);
	if (e != NULL) {
		e->val = 0;
		e->flags &= ~(uint32_t)(F_THROTTLED | F_WITHHELD);
	}
}

void
threat_score_foreach(struct threat *t, threat_score_cb cb, void *arg)
{
	double now = now_s();
	struct tw_entry *e;

	for (e = tw_first(t->scores); e != NULL; e = tw_next(e))
		cb(arg, e->key,
		   threat_decay(e->val, now - e->last, t->tc->half_life),
		   (e->flags & F_IDENTITY) != 0, e->n,
		   threat_detections[(int)e->count % TD_COUNT].id);
}

/* ---- the snippet ------------------------------------------------- */

static void
put_ranges(FILE *f, const struct baseline *b, int acc)
{
	int tb;
	unsigned i;
	bool any = false;

	for (tb = 0; tb < ZG_MB_NTABLES; tb++)
		if (b->nr[acc][tb] > 0)
			any = true;
	if (!any)
		return;
	fprintf(f, "      %s = {", acc == 0 ? "read" : "write");
	for (tb = 0; tb < ZG_MB_NTABLES; tb++) {
		if (b->nr[acc][tb] == 0)
			continue;
		fprintf(f, " %s = (", table_names[tb]);
		for (i = 0; i < b->nr[acc][tb]; i++) {
			const struct bl_range *r = &b->r[acc][tb][i];

			if (r->lo == r->hi)
				fprintf(f, "%s\"%u\"", i ? ", " : "", r->lo);
			else
				fprintf(f, "%s\"%u-%u\"", i ? ", " : "", r->lo,
					r->hi);
		}
		fprintf(f, ");");
	}
	fprintf(f, " };\n");
}

static void
put_conduit(FILE *f, const struct baseline *b, int idx)
{
	unsigned u, fc, sub;
	bool first = true;

	fprintf(f, "%s  # %s -> %s: %llu operations, peak %u/s\n",
		idx ? ",\n" : "", b->identity, b->target,
		(unsigned long long)b->ops, b->peak);
	fprintf(f, "  { name = \"learned-%d\";\n", idx + 1);
	fprintf(f, "    description = \"learned from %s\";\n", b->identity);
	fprintf(f, "    from = \"%s\"; device = \"%s\";\n", b->zone, b->target);
	fprintf(f, "    modbus = {\n      units = [");
	for (u = 1; u < 256; u++)
		if (b->units[u >> 6] & (1ULL << (u & 63))) {
			fprintf(f, "%s%u", first ? "" : ", ", u);
			first = false;
		}
	fprintf(f, "];\n");
	if (b->broadcast)
		fprintf(f, "      broadcast = true;\n");
	fprintf(f, "      functions = (");
	first = true;
	for (fc = 1; fc < 256; fc++) {
		if (!(b->fcs[fc >> 6] & (1ULL << (fc & 63))))
			continue;
		if (fc == 8) {
			for (sub = 0; sub < 32; sub++)
				if (b->fc8 & (1u << sub)) {
					fprintf(f, "%s\"8/%u\"", first ? "" : ", ",
						sub);
					first = false;
				}
		} else if (fc == 43) {
			if (b->mei & 1) {
				fprintf(f, "%s\"43/13\"", first ? "" : ", ");
				first = false;
			}
			if (b->mei & 2) {
				fprintf(f, "%s\"43/14\"", first ? "" : ", ");
				first = false;
			}
		} else {
			fprintf(f, "%s%u", first ? "" : ", ", fc);
			first = false;
		}
	}
	fprintf(f, ");\n");
	put_ranges(f, b, 0);
	put_ranges(f, b, 1);
	fprintf(f, "    };\n  }");
}

int
threat_learned(struct threat *t, char **out, double *remaining)
{
	struct tw_entry *e;
	char *text = NULL, ts[40];
	size_t len = 0;
	FILE *f;
	time_t now = time(NULL);
	struct tm tm;
	int idx = 0;

	*out = NULL;
	*remaining = t->learn == 1 ? t->learn_until - now_s() : 0;
	if (*remaining < 0)
		*remaining = 0;
	f = open_memstream(&text, &len);
	if (f == NULL)
		return -1;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "# zonegate learned baseline, exported %s (%s).\n", ts,
		t->learn == 1 ? "learning still running"
			      : t->learn == 2 ? "learning finished"
					      : "learning is off");
	fprintf(f, "# Every operation below was seen and allowed while learning; review each\n"
		   "# conduit (it admits the whole `from' zone) before adopting it.\n");
	fprintf(f, "conduits = (\n");
	for (e = tw_first(t->base); e != NULL; e = tw_next(e)) {
		if (e->data == NULL || ((struct baseline *)e->data)->zone[0] == '\0')
			continue;
		if (idx < THREAT_LEARNED_MAX)
			put_conduit(f, e->data, idx);
		idx++;
	}
	fprintf(f, "%s);\n", idx ? "\n" : "");
	if (idx > THREAT_LEARNED_MAX)
		fprintf(f, "# %d more (identity, device) pairs not shown: the most recently active come first\n",
			idx - THREAT_LEARNED_MAX);
	if (fclose(f) != 0) {
		free(text);
		return -1;
	}
	*out = text;
	return t->learn;
}
