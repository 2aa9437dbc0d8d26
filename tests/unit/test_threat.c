/*
 * test_threat: the threat engine's pure parts with a fake clock: windowed
 * counters and distinct sets, the bounded LRU table, score decay, the
 * threat { } section (every error with file:line), and the JSON an event
 * with a detection and an operation renders to, and the engine behind
 * events_emit() driven with the MQTT event kinds a broker plugin raises:
 * scoring, the repeat interval, quarantine and its safety-critical exemption.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gateway/cfgutil.h"
#include "gateway/conf.h"
#include "gateway/daemon.h"
#include "gateway/events.h"
#include "gateway/threat.h"
#include "segments/segments.h"
#include "tests/unit/tap.h"

static int
near(double a, double b)
{
	return fabs(a - b) < 1e-6;
}

static void
test_counters(void)
{
	struct tw_table *tw = tw_new(8);
	struct tw_entry *e;
	bool created;
	double n = 0;
	int i;

	e = tw_get(tw, "a", 100.0, &created);
	ok(e != NULL && created, "a new key is created");
	for (i = 0; i < 5; i++)
		n = tw_count(e, 100.0 + i, 10.0, -1);
	ok(near(n, 5), "five observations within a 10 s window count 5");
	n = tw_count(e, 109.9, 10.0, -1);
	ok(near(n, 6), "still the same window at +9.9 s");
	n = tw_count(e, 110.0, 10.0, -1);
	ok(near(n, 1), "a new window starts at +10 s");
	n = tw_count(e, 50.0, 10.0, -1);
	ok(near(n, 1), "a clock going backwards starts afresh");

	e = tw_get(tw, "units", 0.0, NULL);
	tw_count(e, 0, 10, 1);
	tw_count(e, 0.1, 10, 1);
	tw_count(e, 0.2, 10, 2);
	n = tw_count(e, 0.3, 10, 255);
	ok(near(n, 3), "distinct slots: 1, 1, 2, 255 count 3");
	n = tw_count(e, 0.4, 10, 256 + 2);
	ok(near(n, 3), "slots wrap at 256 (bounded memory)");
	n = tw_count(e, 20, 10, 7);
	ok(near(n, 1), "the distinct set is emptied with the window");
	tw_free(tw);
}

static void
test_lru(void)
{
	struct tw_table *tw = tw_new(4);
	char k[16];
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		tw_get(tw, k, i, NULL);
	}
	tw_get(tw, "k0", 10, NULL); /* k0 is now the most recent */
	tw_get(tw, "k4", 11, NULL);
	ok(tw_size(tw) == 4, "the table never holds more than its capacity");
	ok(tw_evictions(tw) == 1, "one eviction counted");
	ok(tw_find(tw, "k1") == NULL, "the least recently used key went");
	ok(tw_find(tw, "k0") != NULL && tw_find(tw, "k4") != NULL,
	   "the recently used and the new key stay");
	for (i = 0; i < 10000; i++) {
		snprintf(k, sizeof(k), "x%d", i);
		tw_get(tw, k, 100 + i, NULL);
	}
	ok(tw_size(tw) == 4 && tw_evictions(tw) == 10001,
	   "10000 new keys: still 4 entries (a flood of sources is bounded)");
	ok(strcmp(tw_first(tw)->key, "x9999") == 0, "most recent first");
	tw_free(tw);
	ok(tw_find(NULL, "k") == NULL && tw_get(NULL, "k", 0, NULL) == NULL &&
	   tw_first(NULL) == NULL && tw_size(NULL) == 0,
	   "a missing table (engine out of memory) finds nothing");
}

static void
test_decay(void)
{
	ok(near(threat_decay(100, 600, 600), 50), "one half-life halves a score");
	ok(near(threat_decay(100, 1200, 600), 25), "two quarter it");
	ok(near(threat_decay(100, 0, 600), 100), "no time, no decay");
	ok(near(threat_decay(100, -5, 600), 100), "time never runs backwards");
	ok(near(threat_decay(-3, 10, 600), 0), "a score is never negative");
}

static int
has_err(const struct cfg_errs *e, const char *needle)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strstr(e->msg[i], needle) != NULL)
			return 1;
	return 0;
}

static void
test_conf(void)
{
	struct cfg_errs e;
	struct zg_conf *c;

	cfg_errs_init(&e);
	c = conf_load_text(
		"threat = { quarantine_threshold = 80.0; learning = 60;\n"
		"  engineering = [\"eng-ws\"]; safety_critical_zones = [\"sis\"];\n"
		"  detections = ( { id = \"modbus.unit_sweep\"; threshold = 3; window = 5.0; severity = \"high\"; },\n"
		"                 { id = \"source.new\"; enabled = false; } ); };\n"
		"events = { file = \"/var/log/zonegate/events.jsonl\"; mode = \"0600\"; };\n",
		"t.conf", &e);
	ok(c != NULL, "a threat and an events section load");
	if (c != NULL) {
		ok(near(c->threat.quarantine_threshold, 80) &&
		   near(c->threat.learning, 60) &&
		   strcmp(c->threat.engineering[0], "eng-ws") == 0 &&
		   strcmp(c->threat.safety_zones[0], "sis") == 0,
		   "  ... thresholds, learning and lists as written");
		ok(c->threat.det[TD_UNIT_SWEEP].threshold == 3 &&
		   near(c->threat.det[TD_UNIT_SWEEP].window, 5) &&
		   c->threat.det[TD_UNIT_SWEEP].severity == ZG_SEV_HIGH &&
		   !c->threat.det[TD_NEW_SOURCE].enabled &&
		   c->threat.det[TD_RESTART].enabled &&
		   c->threat.det[TD_RESTART].threshold ==
			   threat_detections[TD_RESTART].threshold,
		   "  ... per-detection settings, defaults for the rest");
		ok(c->events_mode == 0600 &&
		   strcmp(c->events_file, "/var/log/zonegate/events.jsonl") == 0,
		   "  ... event log path and mode");
		conf_free(c);
	}
	cfg_errs_free(&e);

	cfg_errs_init(&e);
	c = conf_load_text(
		"threat = { bogus = 1;\n"
		"  detections = ( { id = \"modbus.nope\"; },\n"
		"    { id = \"modbus.restart\"; severity = \"grave\"; },\n"
		"    { id = \"modbus.restart\"; },\n"
		"    { id = \"modbus.unit_sweep\"; threshold = 300; } ); };\n"
		"events = { file = \"relative\"; mode = \"0666\"; };\n",
		"bad.conf", &e);
	ok(c == NULL, "a bad threat section fails the load");
	ok(has_err(&e, "?:1: threat.bogus: unknown key"), "  ... unknown key with file:line");
	ok(has_err(&e, "?:2: threat.detections.[0].id: unknown detection \"modbus.nope\""),
	   "  ... unknown detection id");
	ok(has_err(&e, "?:3: threat.detections.[1].severity: \"grave\""), "  ... unknown severity");
	ok(has_err(&e, "configured twice"), "  ... a detection configured twice");
	ok(has_err(&e, "at most 256"), "  ... distinct-slot threshold bounded");
	ok(has_err(&e, "?:6: events.file") && has_err(&e, "?:6: events.mode"),
	   "  ... relative event log path, mode for others");
	cfg_errs_free(&e);
}

static void
test_json(void)
{
	static const uint16_t vals[] = { 1234, 7 };
	struct zg_detection dt = { "modbus.restart", "T0816",
		"Device Restart/Shutdown", THREAT_ATTACK_VERSION, "ops",
		"FC8/1 unit 1", "quarantine", 120.0 };
	struct zg_op op;
	struct zg_event ev;
	char buf[EVENTS_JSON_MAX];

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MODBUS;
	op.u.modbus.unit = 1;
	op.u.modbus.fc = 16;
	op.u.modbus.nspans = 1;
	op.u.modbus.spans[0].table = ZG_MB_HOLDING;
	op.u.modbus.spans[0].access = ZG_MB_WRITE;
	op.u.modbus.spans[0].addr = 25;
	op.u.modbus.spans[0].qty = 2;
	op.u.modbus.values = vals;
	op.u.modbus.nvalues = 2;
	memset(&ev, 0, sizeof(ev));
	ev.kind = "threat.detection";
	ev.severity = ZG_SEV_HIGH;
	ev.identity = "hmi \"1\"";
	ev.op = &op;
	ev.detection = &dt;
	ok(events_format_json_seq("threat", &ev, 42, buf, sizeof(buf)) == 0,
	   "an event with a detection and an op renders");
	ok(strstr(buf, "\"seq\":42,\"severity\":\"high\",\"kind\":\"threat.detection\"") != NULL,
	   "  ... severity, sequence number, kind");
	ok(strstr(buf, "\"identity\":\"hmi \\\"1\\\"\"") != NULL, "  ... escaped identity");
	ok(strstr(buf, "\"detection\":\"modbus.restart\",\"technique\":\"T0816\",\"technique_name\":\"Device Restart/Shutdown\",\"attack_version\":\"ics-v16\",\"zone\":\"ops\",\"evidence\":\"FC8/1 unit 1\",\"action\":\"quarantine\",\"score\":120.0") != NULL,
	   "  ... detection fields");
	ok(strstr(buf, "\"op\":{\"proto\":\"modbus\",\"unit\":1,\"fc\":16,\"spans\":[{\"table\":\"holding_registers\",\"access\":\"write\",\"addr\":25,\"qty\":2}],\"values\":[1234,7],\"values_total\":2}}") != NULL,
	   "  ... the operation with its values");
	diag("%s", buf);
}

/* What admin.c does on `release': quarantine off, then the event. */
static void
ev_release(struct zg_daemon *d, const char *who)
{
	struct zg_event ev;

	seg_quarantine_set(d->segstate, who, false);
	memset(&ev, 0, sizeof(ev));
	ev.kind = "admin.release";
	ev.severity = ZG_SEV_MEDIUM;
	ev.identity = who;
	events_emit(d, "admin", &ev);
}

struct score_find {
	const char *key;
	double score;
	unsigned n;
};

static void
score_cb(void *arg, const char *key, double score, bool identity,
	 unsigned detections, const char *last)
{
	struct score_find *f = arg;

	(void)identity;
	(void)last;
	if (strcmp(key, f->key) == 0) {
		f->score = score;
		f->n = detections;
	}
}

static double
score_of(struct threat *t, const char *key)
{
	struct score_find f = { key, -1, 0 };

	threat_score_foreach(t, score_cb, &f);
	return f.score;
}

static void
mqtt_event(struct zg_daemon *d, const char *kind, const char *who,
	   const char *topic, const struct zg_verdict *v)
{
	struct zg_op op;
	struct zg_event ev;

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MQTT;
	op.identity = who;
	op.u.mqtt.action = ZG_MQTT_SUBSCRIBE;
	op.u.mqtt.topic = topic;
	op.u.mqtt.topic_len = topic ? strlen(topic) : 0;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.severity = ZG_SEV_MEDIUM;
	ev.identity = who;
	ev.peer = "192.0.2.7:50211";
	ev.op = topic ? &op : NULL;
	ev.verdict = v;
	events_emit(d, "mqtt", &ev);
}

/*
 * The engine behind events_emit(), as the MQTT broker plugin will drive
 * it: the event kinds it defines, scoring, the repeat interval, automatic
 * quarantine and its exemption for safety-critical zones.
 */
static void
test_engine(void)
{
	struct zg_daemon d;
	struct cfg_errs e;
	struct zg_conf *c;
	struct zg_verdict v;

	memset(&d, 0, sizeof(d));
	cfg_errs_init(&e);
	c = conf_load_text("threat = { quarantine_threshold = 50.0; safety_critical_zones = [\"sis\"]; };\n",
			   "engine.conf", &e);
	cfg_errs_free(&e);
	d.conf = c;
	d.segstate = seg_state_new();
	d.threat = threat_new(&d);
	ok(c != NULL && d.segstate != NULL && d.threat != NULL, "an engine on a daemon without a loop");
	if (c == NULL || d.segstate == NULL || d.threat == NULL)
		return;
	threat_configure(d.threat, &c->threat);

	mqtt_event(&d, "mqtt.subscribe_denied", "sensor-1", "plant/+/temp", NULL);
	ok(score_of(d.threat, "sensor-1") < 0, "a denied ordinary subscribe is no detection");
	memset(&v, 0, sizeof(v));
	v.from_zone = "field";
	mqtt_event(&d, "mqtt.subscribe_denied", "sensor-1", "#", &v);
	/* Scores decay on the real clock here: a loaded machine takes ms. */
	ok(fabs(score_of(d.threat, "sensor-1") - 15) < 0.1, "subscribe to # denied: mqtt.wildcard_subscribe, medium (15)");
	mqtt_event(&d, "mqtt.subscribe_denied", "sensor-1", "$SYS/#", NULL);
	ok(score_of(d.threat, "sensor-1") < 15.01, "  ... $SYS/# right after: counted, not scored again");
	mqtt_event(&d, "mqtt.clientid_takeover", "sensor-1", NULL, NULL);
	ok(score_of(d.threat, "sensor-1") > 44.9, "client-id takeover: high (30 more)");
	ok(!seg_quarantined(d.segstate, "sensor-1"), "  ... 45 < 50: not quarantined");
	mqtt_event(&d, "tls.bad_role", "sensor-1", NULL, NULL);
	ok(seg_quarantined(d.segstate, "sensor-1"),
	   "a bad role (15 more): over 50, quarantined (its zone, field, remembered from the first event)");

	mqtt_event(&d, "mqtt.clientid_takeover", "ghost", NULL, NULL);
	mqtt_event(&d, "mqtt.subscribe_denied", "ghost", "#", NULL);
	mqtt_event(&d, "tls.bad_role", "ghost", NULL, NULL);
	ok(score_of(d.threat, "ghost") > 50 && !seg_quarantined(d.segstate, "ghost"),
	   "zone never known while safety-critical zones exist: not quarantined automatically");

	v.from_zone = "sis";
	mqtt_event(&d, "mqtt.clientid_takeover", "sis-1", NULL, &v);
	mqtt_event(&d, "mqtt.subscribe_denied", "sis-1", "#", &v);
	mqtt_event(&d, "tls.bad_role", "sis-1", NULL, &v);
	ok(score_of(d.threat, "sis-1") > 50 && !seg_quarantined(d.segstate, "sis-1"),
	   "an identity of a safety-critical zone over the threshold: not quarantined");

	ev_release(&d, "sensor-1");
	ok(near(score_of(d.threat, "sensor-1"), 0), "admin.release resets the score");
	threat_free(d.threat);
	seg_state_free(d.segstate);
	conf_free(c);
}

int
main(void)
{
	plan(46);
	test_counters();
	test_lru();
	test_decay();
	test_conf();
	test_json();
	test_engine();
	return done_testing();
}
