/*
 * test_ops: the operator-facing pieces of the core that need no socket:
 * the HTTP request-head parser of the metrics endpoint, the metrics
 * registry and its exposition format, the recent-events ring, and the
 * uplink status registry.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gateway/adminop.h"
#include "gateway/evring.h"
#include "gateway/http_req.h"
#include "gateway/metrics.h"
#include "gateway/upstat.h"
#include "tests/unit/tap.h"

static enum http_req_status
parse(const char *s, struct http_req *rq, size_t *used)
{
	return http_req_parse(s, strlen(s), rq, used);
}

static void
test_http_req(void)
{
	struct http_req rq;
	enum http_req_status st;
	size_t used;
	const char *two = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
			  "HEAD /other?q=1 HTTP/1.1\r\nConnection: close\r\n\r\n";
	char big[HTTP_REQ_HEAD_MAX + 64];

	ok(parse("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n",
		 &rq, &used) == HTTP_REQ_OK && strcmp(rq.method, "GET") == 0 &&
	   strcmp(rq.path, "/metrics") == 0 && rq.minor == 1 && rq.keep_alive &&
	   rq.nheaders == 2, "a curl request: GET /metrics, 1.1, keep-alive");
	ok(parse(two, &rq, &used) == HTTP_REQ_OK &&
	   used == strlen("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
	   "pipelined: the first head only is consumed");
	ok(parse(two + used, &rq, &used) == HTTP_REQ_OK &&
	   strcmp(rq.method, "HEAD") == 0 && strcmp(rq.path, "/other") == 0 &&
	   rq.has_query && !rq.keep_alive,
	   "... then the second: HEAD, query split off, Connection: close");
	ok(parse("GET /metrics HTTP/1.0\r\n\r\n", &rq, &used) == HTTP_REQ_OK &&
	   !rq.keep_alive, "HTTP/1.0 closes by default");
	ok(parse("GET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rq,
		 &used) == HTTP_REQ_OK && rq.keep_alive,
	   "HTTP/1.0 with Connection: keep-alive");
	ok(parse("GET /metrics HTTP/1.1\r\nHost: x", &rq, &used) ==
		   HTTP_REQ_INCOMPLETE, "a head without its blank line waits");
	st = parse("GET /metrics HTTP/1.1\nHost: x\n\n", &rq, &used);
	ok(st == HTTP_REQ_BAD && strstr(rq.why, "LF") != NULL,
	   "bare LF refused at once: %s", rq.why);
	ok(parse("GET /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &rq,
		 &used) == HTTP_REQ_BAD, "a body is refused");
	ok(parse("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &rq,
		 &used) == HTTP_REQ_OK, "Content-Length: 0 is fine");
	ok(parse("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		 &rq, &used) == HTTP_REQ_BAD, "Transfer-Encoding is refused");
	ok(parse("GET /metrics HTTP/1.1\r\nA: b\r\n c\r\n\r\n", &rq, &used) ==
		   HTTP_REQ_BAD, "obsolete line folding is refused");
	ok(parse("GET http://h/metrics HTTP/1.1\r\n\r\n", &rq, &used) ==
		   HTTP_REQ_BAD, "absolute-form targets are refused");
	ok(parse("GET /metrics HTTP/2.0\r\n\r\n", &rq, &used) == HTTP_REQ_BAD,
	   "HTTP/2.0 on a 1.x port is refused");
	ok(parse("GET  /metrics HTTP/1.1\r\n\r\n", &rq, &used) == HTTP_REQ_BAD,
	   "two spaces in the request line are refused");
	ok(parse("GET / HTTP/1.1\r\nX: a\001b\r\n\r\n", &rq, &used) ==
		   HTTP_REQ_BAD, "a control character in a value is refused");
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	ok(http_req_parse(big, sizeof(big), &rq, &used) == HTTP_REQ_TOO_LARGE,
	   "a head over %d bytes is too large", HTTP_REQ_HEAD_MAX);
	{
		char many[HTTP_REQ_HEAD_MAX];
		size_t off = 0;
		int i;

		off += (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
		for (i = 0; i <= HTTP_REQ_HEADERS_MAX; i++)
			off += (size_t)snprintf(many + off, sizeof(many) - off,
						"H%d: v\r\n", i);
		snprintf(many + off, sizeof(many) - off, "\r\n");
		ok(parse(many, &rq, &used) == HTTP_REQ_BAD,
		   "more than %d header lines are refused", HTTP_REQ_HEADERS_MAX);
	}
}

static char *
render(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t n = evbuffer_get_length(b);
	char *s;

	metrics_render(NULL, b);
	n = evbuffer_get_length(b);
	s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

static void
test_metrics(void)
{
	char *text, value[METRICS_VALUE_MAX + 50];
	int i;

	metrics_counter_add("zonegate_detections_total", "detection",
			    "modbus.write_without_right", 2);
	metrics_counter_add("zonegate_detections_total", "detection",
			    "modbus.write_without_right", 3);
	ok(metrics_value("zonegate_detections_total", "detection",
			 "modbus.write_without_right") == 5,
	   "a labelled counter adds up");
	metrics_counter_add2("zonegate_operations_total", "conduit", "a\"b\\c\nd",
			     "decision", "allow", 1);
	metrics_gauge_set("test_gauge", NULL, NULL, 2.5);
	ok(metrics_describe("test_gauge", METRIC_COUNTER, "x") < 0,
	   "a gauge cannot be re-described as a counter");
	metrics_counter_add("bad name", NULL, NULL, 1);
	metrics_counter_add("ok_name", "__reserved", "x", 1);
	metrics_counter_add("test_gauge", NULL, NULL, 1); /* type clash */
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	metrics_counter_add("test_long", "l", value, 1);
	metrics_counter_add("test_long", "l", value, 1);
	text = render();
	ok(strstr(text, "# TYPE zonegate_detections_total counter\n"
			"zonegate_detections_total{detection=\"modbus.write_without_right\"} 5\n") != NULL,
	   "exposition: TYPE line, then the series with its label");
	ok(strstr(text, "{conduit=\"a\\\"b\\\\c\\nd\",decision=\"allow\"} 1\n") != NULL,
	   "label values escape quote, backslash and newline");
	ok(strstr(text, "test_gauge 2.500000\n") != NULL, "gauges print as decimals");
	ok(strstr(text, "zonegate_metrics_series_dropped_total 3\n") != NULL,
	   "bad name, reserved label and type clash are dropped and counted");
	ok(strstr(text, "test_long{l=\"") != NULL &&
	   strstr(text, "\"} 2\n") != NULL,
	   "an over-long label value is cut, and still one series");
	ok(strstr(text, "zonegate_build_info{version=\"" PACKAGE_VERSION "\"") != NULL,
	   "build info");
	free(text);
	for (i = 0; i < METRICS_SERIES_MAX + 10; i++) {
		char v[16];

		snprintf(v, sizeof(v), "%d", i);
		metrics_counter_add("test_flood", "n", v, 1);
	}
	ok(metrics_value("test_flood", "n", "100") == 1 &&
	   metrics_value("test_flood", "n", "4095") < 0,
	   "past %d series new ones are refused", METRICS_SERIES_MAX);
	metrics_family_clear("test_flood");
	metrics_counter_add("test_after", NULL, NULL, 1);
	ok(metrics_value("test_after", NULL, NULL) == 1,
	   "clearing a family frees its series for others");
	metrics_reset();
	ok(metrics_value("zonegate_detections_total", "detection",
			 "modbus.write_without_right") < 0, "reset empties the registry");
}

/*
 * Histograms: cumulative buckets with le last among the labels, +Inf
 * equal to _count, _sum; bad observations dropped and counted.
 */
static void
test_histogram(void)
{
	char *text;

	metrics_describe("test_latency_seconds", METRIC_HISTOGRAM, "latency");
	metrics_observe("test_latency_seconds", "device", "plc-1", 0.0005);
	metrics_observe("test_latency_seconds", "device", "plc-1", 0.004);
	metrics_observe("test_latency_seconds", "device", "plc-1", 0.004);
	metrics_observe("test_latency_seconds", "device", "plc-1", 42.0);
	metrics_observe("test_latency_seconds", "device", "plc-1", -1.0);
	metrics_observe2("test_latency_seconds", "device", "plc-2", "unit", "3",
			 1.0);
	metrics_observe("test_latency_seconds", NULL, NULL, 0.3);
	ok(metrics_value("test_latency_seconds", "device", "plc-1") == 4,
	   "a histogram counts its observations (a negative one is not one)");
	metrics_counter_add("test_latency_seconds", NULL, NULL, 1);
	text = render();
	ok(strstr(text, "# TYPE test_latency_seconds histogram\n"
			"test_latency_seconds_bucket{device=\"plc-1\",le=\"0.001\"} 1\n"
			"test_latency_seconds_bucket{device=\"plc-1\",le=\"0.0025\"} 1\n"
			"test_latency_seconds_bucket{device=\"plc-1\",le=\"0.005\"} 3\n") != NULL,
	   "exposition: TYPE histogram, cumulative buckets, le after the labels");
	ok(strstr(text, "test_latency_seconds_bucket{device=\"plc-1\",le=\"10\"} 3\n"
			"test_latency_seconds_bucket{device=\"plc-1\",le=\"+Inf\"} 4\n"
			"test_latency_seconds_sum{device=\"plc-1\"} 42.008500\n"
			"test_latency_seconds_count{device=\"plc-1\"} 4\n") != NULL,
	   "  ... +Inf holds everything, then _sum and _count");
	ok(strstr(text, "test_latency_seconds_bucket{device=\"plc-2\",unit=\"3\",le=\"1\"} 1\n") != NULL,
	   "  ... two labels, and an observation on a bound is in that bucket");
	ok(strstr(text, "test_latency_seconds_bucket{le=\"0.5\"} 1\n"
			) != NULL &&
	   strstr(text, "test_latency_seconds_count 1\n") != NULL,
	   "  ... and no labels");
	ok(strstr(text, "zonegate_metrics_series_dropped_total 2\n") != NULL,
	   "the negative observation and the counter on a histogram are dropped and counted");
	free(text);
	metrics_family_clear("test_latency_seconds");
	ok(metrics_value("test_latency_seconds", "device", "plc-1") < 0,
	   "clearing frees histogram series");
	metrics_observe("test_latency_seconds", "device", "plc-1", 0.1);
	metrics_reset();
}

/* The explain operation text: round trips and refusals. */
static void
test_adminop(void)
{
	static const uint16_t vals[3] = { 1, 2, 65535 };
	static struct admin_op ao;
	struct zg_op op;
	char buf[ADMIN_OP_MAX + 1], err[160], big[ADMIN_OP_MAX];
	static const char *const bad[] = {
		"", "modbus", "modbus 1 3 0 0 0", "modbus 1 3 0 0 0 0 ",
		"modbus 1 3 0 0 3 0", "modbus 1 128 0 0 0 0", "modbus 256 3 0 0 0 0",
		"modbus 1 3 0 0 1 4 1 0 1 0", "modbus 1 3 0 0 1 2 0 0 1 0",
		"modbus 1 3 0 0 1 2 1 65535 2 0", "modbus 1 3 0 0 1 2 1 0 0 0",
		"modbus 1 3 0 0 0 129", "modbus 01 3 0 0 0 0", "modbus  1 3 0 0 0 0",
		"modbus 1 3 0 0 0 0 junk", "mqtt 3 0 0 0: 1:a", "mqtt 1 3 0 0: 1:a",
		"mqtt 1 0 0 0: 5:ab", "mqtt 1 0 0 0:", "http 3:GET", "smtp 1:x",
		"http 3:GET 1:/ ",
	};
	size_t i;

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MODBUS;
	op.u.modbus.unit = 1;
	op.u.modbus.fc = 16;
	op.u.modbus.nspans = 1;
	op.u.modbus.spans[0].table = ZG_MB_HOLDING;
	op.u.modbus.spans[0].access = ZG_MB_WRITE;
	op.u.modbus.spans[0].addr = 10;
	op.u.modbus.spans[0].qty = 3;
	op.u.modbus.values = vals;
	op.u.modbus.nvalues = 3;
	ok(admin_op_format(&op, buf, sizeof(buf)) == 0 &&
	   strcmp(buf, "modbus 1 16 0 0 1 2 2 10 3 3 1 2 65535") == 0,
	   "a Modbus write formats as numbers");
	ok(admin_op_parse(buf, strlen(buf), &ao, err, sizeof(err)) == 0 &&
	   ao.op.proto == ZG_PROTO_MODBUS && ao.op.u.modbus.fc == 16 &&
	   ao.op.u.modbus.spans[0].addr == 10 && ao.op.u.modbus.nvalues == 3 &&
	   ao.op.u.modbus.values[2] == 65535,
	   "  ... and parses back to the same operation");
	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MQTT;
	op.u.mqtt.action = ZG_MQTT_SUBSCRIBE;
	op.u.mqtt.qos = 1;
	op.u.mqtt.topic = "plant/a b/#";
	op.u.mqtt.topic_len = strlen(op.u.mqtt.topic);
	ok(admin_op_format(&op, buf, sizeof(buf)) == 0 &&
	   strcmp(buf, "mqtt 2 1 0 0: 11:plant/a b/#") == 0,
	   "an MQTT subscribe: strings are length-prefixed (spaces kept), no client id");
	ok(admin_op_parse(buf, strlen(buf), &ao, err, sizeof(err)) == 0 &&
	   ao.op.u.mqtt.client_id == NULL && ao.op.u.mqtt.topic_len == 11 &&
	   strcmp(ao.op.u.mqtt.topic, "plant/a b/#") == 0,
	   "  ... and parses back");
	ok(admin_op_parse("http 4:POST 3:/x ", 17, &ao, err, sizeof(err)) == 0 &&
	   strcmp(ao.op.u.http.method, "POST") == 0 &&
	   strcmp(ao.op.u.http.path, "/x ") == 0, "an HTTP request parses");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (admin_op_parse(bad[i], strlen(bad[i]), &ao, err, sizeof(err)) == 0 ||
		    err[0] == '\0')
			break;
	}
	ok(i == sizeof(bad) / sizeof(bad[0]),
	   "%zu malformed operations are refused with a reason (first accepted: \"%s\")",
	   sizeof(bad) / sizeof(bad[0]), i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : "-");
	memset(big, 'a', sizeof(big));
	op.u.mqtt.topic = big;
	op.u.mqtt.topic_len = sizeof(big);
	ok(admin_op_format(&op, buf, sizeof(buf)) < 0,
	   "formatting refuses what does not fit");
}

static int seen;
static uint64_t last_seq;

static void
count_line(void *arg, uint64_t seq, const char *json)
{
	(void)arg;
	(void)json;
	seen++;
	last_seq = seq;
}

static void
test_evring(void)
{
	char line[64];
	int i;

	ok(evring_last(10, count_line, NULL) == 0, "an empty ring lists nothing");
	ok(evring_subscribe(count_line, NULL) == 0, "subscribe");
	for (i = 0; i < EVRING_CAP + 5; i++) {
		snprintf(line, sizeof(line), "{\"n\":%d}", i);
		evring_event("test.kind", "low", line);
	}
	ok(seen == EVRING_CAP + 5 && last_seq == EVRING_CAP + 5,
	   "the follower saw every event");
	evring_unsubscribe(count_line, NULL);
	seen = 0;
	ok(evring_last(1000, count_line, NULL) == EVRING_CAP && seen == EVRING_CAP &&
	   last_seq == EVRING_CAP + 5, "the ring keeps the last %d", EVRING_CAP);
	ok(metrics_value("zonegate_events_total", NULL, NULL) < 0,
	   "events are counted by kind and severity, not as one series");
	evring_reset();
	metrics_reset();
}

static void
test_upstat(void)
{
	struct upstat u;

	memset(&u, 0, sizeof(u));
	ok(upstat_count() == 0, "no uplinks registered");
	snprintf(u.name, sizeof(u.name), "mqtt-main");
	u.state = UPSTAT_DOWN;
	u.spool_depth = 7;
	ok(upstat_set(&u) == 0 && upstat_count() == 1 &&
	   upstat_get(0)->since_ms > 0, "registered; state change stamped");
	u.state = UPSTAT_UP;
	u.spool_depth = 0;
	ok(upstat_set(&u) == 0 && upstat_count() == 1 &&
	   upstat_get(0)->state == UPSTAT_UP, "updated in place");
	upstat_remove("mqtt-main");
	ok(upstat_count() == 0, "removed");
}

int
main(void)
{
	test_http_req();
	test_metrics();
	test_histogram();
	test_adminop();
	test_evring();
	test_upstat();
	return done_testing();
}
