/*
 * test_segments: decisions of the policy engine, built through the
 * public builder API (no libconfig).  Each forbidden operation is shown
 * allowed in a neighbouring case first, so a deny is the policy's doing
 * and not a broken fixture.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segments/segments.h"
#include "tests/unit/tap.h"

#define F "test.conf"

static int nerr, nwarn;
static char lasterr[512], lastwarn[512];

static void
collect(void *arg, enum seg_severity sev, const struct seg_origin *o,
	const char *msg)
{
	(void)arg;
	if (sev == SEG_ERROR) {
		nerr++;
		snprintf(lasterr, sizeof(lasterr), "%s:%d: %s",
			 o && o->file ? o->file : "?", o ? o->line : 0, msg);
	} else {
		nwarn++;
		snprintf(lastwarn, sizeof(lastwarn), "%s:%d: %s",
			 o && o->file ? o->file : "?", o ? o->line : 0, msg);
	}
}

static void
reset_diag(void)
{
	nerr = nwarn = 0;
	lasterr[0] = lastwarn[0] = '\0';
}

static struct seg_origin
at(int line)
{
	struct seg_origin o = { F, line, NULL };

	return o;
}

#define O(line) (&(struct seg_origin){ F, (line), NULL })

/* ---------------------------------------------------------------- */
/* the fixture */

static int c_ops_cell1, c_ops_ro, c_eng, c_mqtt, c_http, c_shadow, c_ro23,
	c_intra;

static struct seg_policy *
build(bool island, bool fail_open)
{
	struct seg_builder *b = seg_builder_new(collect, NULL);
	struct seg_bounds bnd = { 0, 1000, false };
	struct seg_opts so = { fail_open, island };
	struct seg_policy *p;
	int d;

	seg_zone_add(b, "ops", "control room HMIs", false, O(1));
	seg_zone_add(b, "cell1", "packaging line PLCs", false, O(2));
	seg_zone_add(b, "cell2", NULL, false, O(3));
	seg_zone_add(b, "dmz", NULL, false, O(4));
	seg_zone_add(b, "safety", "SIS", true, O(5));

	seg_device_add(b, "hmi-1", "ops", O(10));
	d = seg_device_add(b, "legacy-hmi", "ops", O(11));
	seg_device_bind(b, d, "127.0.0.1", 1024, 65535, O(11));
	seg_device_add(b, "eng-1", "ops", O(12));
	d = seg_device_add(b, "plc-1", "cell1", O(13));
	seg_device_target(b, d, "127.0.0.1:1502", 1, O(13));
	seg_device_attr(b, d, "vendor", "acme", O(13));
	seg_device_add(b, "plc-2", "cell2", O(14));
	seg_device_add(b, "broker", "dmz", O(15));
	seg_device_add(b, "web", "dmz", O(16));
	seg_device_add(b, "bad-plc", "quarantine", O(17));
	seg_device_add(b, "sis-1", "safety", O(18));
	seg_device_add(b, "plc-3", "cell1", O(19));

	/* ops -> cell1: the everyday operator conduit. */
	c_ops_cell1 = seg_conduit_add(b, "ops-to-cell1", "ops", "cell1", NULL,
				      O(88));
	seg_mb_units(b, c_ops_cell1, 1, 1, O(89));
	seg_mb_function(b, c_ops_cell1, 1, -1, O(90));
	seg_mb_function(b, c_ops_cell1, 3, -1, O(90));
	seg_mb_function(b, c_ops_cell1, 5, -1, O(90));
	seg_mb_function(b, c_ops_cell1, 6, -1, O(90));
	seg_mb_function(b, c_ops_cell1, 16, -1, O(90));
	seg_mb_function(b, c_ops_cell1, 22, -1, O(90));
	seg_mb_function(b, c_ops_cell1, 43, 14, O(90));
	seg_mb_function(b, c_ops_cell1, 8, -1, O(90));
	seg_mb_max_quantity(b, c_ops_cell1, 125, O(91));
	seg_mb_range(b, c_ops_cell1, ZG_MB_READ, ZG_MB_HOLDING, 0, 9, NULL, O(92));
	seg_mb_range(b, c_ops_cell1, ZG_MB_READ, ZG_MB_HOLDING, 10, 99, NULL, O(92));
	seg_mb_range(b, c_ops_cell1, ZG_MB_READ, ZG_MB_COILS, 0, 15, NULL, O(92));
	seg_mb_range(b, c_ops_cell1, ZG_MB_WRITE, ZG_MB_HOLDING, 10, 19, &bnd, O(93));
	seg_mb_range(b, c_ops_cell1, ZG_MB_WRITE, ZG_MB_COILS, 0, 7, NULL, O(93));

	/* ops -> cell2: read-only. */
	c_ops_ro = seg_conduit_add(b, "ops-ro", "ops", "cell2", NULL, O(100));
	seg_mb_function(b, c_ops_ro, 3, -1, O(101));
	seg_mb_range(b, c_ops_ro, ZG_MB_READ, ZG_MB_HOLDING, 0, 99, NULL, O(102));

	/* ops -> plc-1 only: engineering, certificate + role required. */
	c_eng = seg_conduit_add(b, "eng-to-plc1", "ops", NULL, "plc-1", O(110));
	seg_conduit_assurance(b, c_eng, ZG_ASSURANCE_CERT, O(111));
	seg_conduit_role(b, c_eng, "engineer", O(112));
	seg_mb_function(b, c_eng, 23, -1, O(113));
	seg_mb_function(b, c_eng, 6, -1, O(113));
	seg_mb_function(b, c_eng, 8, 4, O(113));
	seg_mb_function(b, c_eng, 43, 13, O(113));
	seg_mb_function(b, c_eng, 90, -1, O(113));
	seg_mb_broadcast(b, c_eng, true, O(114));
	seg_mb_range(b, c_eng, ZG_MB_READ, ZG_MB_HOLDING, 0, 199, NULL, O(115));
	seg_mb_range(b, c_eng, ZG_MB_WRITE, ZG_MB_HOLDING, 0, 199, NULL, O(116));

	/* cell1 -> dmz: telemetry over MQTT. */
	c_mqtt = seg_conduit_add(b, "cell1-mqtt", "cell1", "dmz", NULL, O(120));
	seg_mqtt_filter(b, c_mqtt, ZG_MQTT_PUBLISH, "site/%u/#", O(121));
	seg_mqtt_filter(b, c_mqtt, ZG_MQTT_SUBSCRIBE, "site/%u/cmd/#", O(122));
	seg_mqtt_filter(b, c_mqtt, ZG_MQTT_SUBSCRIBE, "clients/%c/in/+", O(122));

	/* ops -> dmz: HTTP. */
	c_http = seg_conduit_add(b, "ops-http", "ops", "dmz", NULL, O(130));
	seg_http_rule(b, c_http, "GET", "/api/", O(131));
	seg_http_rule(b, c_http, "POST", "/telemetry", O(132));

	/* cell2 -> cell1: being introduced, dry run. */
	c_shadow = seg_conduit_add(b, "cell2-shadow", "cell2", "cell1", NULL,
				   O(140));
	seg_conduit_shadow(b, c_shadow, true);
	seg_mb_function(b, c_shadow, 3, -1, O(141));
	seg_mb_range(b, c_shadow, ZG_MB_READ, ZG_MB_HOLDING, 0, 9, NULL, O(142));

	/* dmz -> cell2: lists FC 23 but has read ranges only. */
	c_ro23 = seg_conduit_add(b, "ro23", "dmz", "cell2", NULL, O(150));
	seg_mb_function(b, c_ro23, 3, -1, O(151));
	seg_mb_function(b, c_ro23, 23, -1, O(151));
	seg_mb_range(b, c_ro23, ZG_MB_READ, ZG_MB_HOLDING, 0, 99, NULL, O(152));

	/* cell1 -> cell1: PLC to PLC inside the zone. */
	c_intra = seg_conduit_add(b, "cell1-peer", "cell1", "cell1", NULL,
				  O(160));
	seg_mb_range(b, c_intra, ZG_MB_READ, ZG_MB_INPUT, 0, 9, NULL, O(161));

	/* ops -> safety: crosses an isolated zone (a warning). */
	d = seg_conduit_add(b, "ops-sis", "ops", "safety", NULL, O(170));
	seg_mb_range(b, d, ZG_MB_READ, ZG_MB_HOLDING, 0, 9, NULL, O(171));

	p = seg_compile(b, &so);
	seg_builder_free(b);
	return p;
}

/* ---------------------------------------------------------------- */
/* operations */

static struct zg_op
mb(const char *id, int assurance, const char *target, int unit, int fc)
{
	struct zg_op op;

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MODBUS;
	op.assurance = (uint8_t)assurance;
	op.identity = id;
	op.target = target;
	op.u.modbus.unit = (uint8_t)unit;
	op.u.modbus.fc = (uint8_t)fc;
	return op;
}

static void
span(struct zg_op *op, int table, int access, int addr, int qty)
{
	struct zg_mb_span *s = &op->u.modbus.spans[op->u.modbus.nspans++];

	s->table = (uint8_t)table;
	s->access = (uint8_t)access;
	s->addr = (uint16_t)addr;
	s->qty = (uint16_t)qty;
}

static struct zg_op
rd(const char *id, const char *target, int fc, int table, int addr, int qty)
{
	struct zg_op op = mb(id, ZG_ASSURANCE_CERT, target, 1, fc);

	span(&op, table, ZG_MB_READ, addr, qty);
	return op;
}

static struct zg_op
mqtt(const char *id, const char *target, int action, const char *topic,
     const char *client)
{
	struct zg_op op;

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MQTT;
	op.assurance = ZG_ASSURANCE_CERT;
	op.identity = id;
	op.target = target;
	op.u.mqtt.action = (uint8_t)action;
	op.u.mqtt.topic = topic;
	op.u.mqtt.topic_len = strlen(topic);
	op.u.mqtt.client_id = client;
	return op;
}

static struct zg_op
http(const char *id, const char *target, const char *method, const char *path)
{
	struct zg_op op;

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_HTTP;
	op.assurance = ZG_ASSURANCE_CERT;
	op.identity = id;
	op.target = target;
	op.u.http.method = method;
	op.u.http.path = path;
	return op;
}

static struct zg_verdict V;

static int
decide(const struct seg_policy *p, const struct seg_state *st,
       const struct zg_op *op)
{
	int d = seg_decide(p, st, op, &V);

	if (d != V.decision) {
		diag("return value %d differs from verdict %d", d, V.decision);
		return -1;
	}
	return d;
}

static int
has(const char *needle)
{
	if (strstr(V.reason, needle) != NULL)
		return 1;
	diag("reason \"%s\" lacks \"%s\"", V.reason, needle);
	return 0;
}

#define ALLOW(p, st, op, what) ok(decide(p, st, op) == ZG_ALLOW && !V.shadow, \
				  "allow: %s (%s)", what, V.reason)
#define DENY(p, st, op, what) ok(decide(p, st, op) == ZG_DENY && !V.shadow, \
				 "deny: %s (%s)", what, V.reason)

/* ---------------------------------------------------------------- */

static void
test_fixture(struct seg_policy *p)
{
	struct seg_policy_info pi;
	struct seg_device_info di;

	ok(p != NULL, "fixture compiles (%d errors, last: %s)", nerr, lasterr);
	if (p == NULL)
		exit(done_testing());
	seg_policy_info(p, &pi);
	ok(pi.nzones == 6 && pi.ndevices == 10 && pi.nconduits == 9 &&
	   pi.nshadow == 1 && pi.nbindings == 1,
	   "counts: %zu zones, %zu devices, %zu conduits, %zu shadow",
	   pi.nzones, pi.ndevices, pi.nconduits, pi.nshadow);
	/* FC 90 named, ro23 without write ranges, ops-sis isolated. */
	ok(nwarn == 3, "3 warnings (got %d, last: %s)", nwarn, lastwarn);
	ok(seg_device_find(p, "plc-1", &di) == 0 && di.unit == 1 &&
	   strcmp(di.address, "127.0.0.1:1502") == 0 &&
	   strcmp(di.zone, "cell1") == 0 && di.line == 13,
	   "device info of plc-1");
	ok(seg_device_attr_get(p, "plc-1", "vendor") != NULL &&
	   strcmp(seg_device_attr_get(p, "plc-1", "vendor"), "acme") == 0 &&
	   seg_device_attr_get(p, "plc-1", "model") == NULL,
	   "device attributes");
}

static void
test_ranges(struct seg_policy *p)
{
	struct zg_op op;
	uint16_t vals[4];

	op = rd("hmi-1", "plc-3", 3, ZG_MB_HOLDING, 0, 10);
	ALLOW(p, NULL, &op, "read holding 0-9");
	ok(V.rule && strcmp(V.rule, "ops-to-cell1") == 0 && V.origin_line == 88 &&
	   V.origin_file && strcmp(V.origin_file, F) == 0 &&
	   strcmp(V.from_zone, "ops") == 0 && strcmp(V.to_zone, "cell1") == 0,
	   "verdict names rule, origin and zones");
	op = rd("hmi-1", "plc-3", 3, ZG_MB_HOLDING, 5, 10);
	ALLOW(p, NULL, &op, "read across two adjacent declared ranges 0-9,10-99");
	op = rd("hmi-1", "plc-3", 3, ZG_MB_HOLDING, 90, 10);
	ALLOW(p, NULL, &op, "read 90-99 ends exactly at the range end");
	op = rd("hmi-1", "plc-3", 3, ZG_MB_HOLDING, 95, 10);
	DENY(p, NULL, &op, "read 95-104 straddles the end of 0-99");
	ok(has("holding registers 95-104") && has(": 100 is outside") &&
	   has("0-99 of conduit ops-to-cell1 (test.conf:88)"),
	   "straddle reason names the first address outside");
	op = rd("hmi-1", "plc-3", 3, ZG_MB_HOLDING, 100, 1);
	DENY(p, NULL, &op, "read 100 just past the range");

	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-3", 1, 6);
	span(&op, ZG_MB_HOLDING, ZG_MB_WRITE, 12, 1);
	vals[0] = 1000;
	op.u.modbus.values = vals;
	op.u.modbus.nvalues = 1;
	ALLOW(p, NULL, &op, "write 1000 to holding 12 (bounds 0..1000)");
	op.u.modbus.spans[0].addr = 25;
	DENY(p, NULL, &op, "write to holding 25 outside 10-19");
	ok(strcmp(V.reason,
		  "write to holding register 25 outside allowed write ranges 10-19 of conduit ops-to-cell1 (test.conf:88)") == 0,
	   "reason is exact: %s", V.reason);
	op.u.modbus.spans[0].addr = 12;
	vals[0] = 1001;
	DENY(p, NULL, &op, "write 1001 above the bound 1000");
	ok(has("value 1001 for holding register 12 is outside 0..1000"),
	   "value reason");

	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-3", 1, 16);
	span(&op, ZG_MB_HOLDING, ZG_MB_WRITE, 10, 2);
	vals[0] = 5;
	vals[1] = 999;
	op.u.modbus.values = vals;
	op.u.modbus.nvalues = 2;
	ALLOW(p, NULL, &op, "FC 16 writes 5, 999 to 10-11");
	vals[1] = 2000;
	DENY(p, NULL, &op, "FC 16 second value out of bounds");
	ok(has("value 2000 for holding register 11"), "the second register is named");
	op.u.modbus.values = NULL;
	op.u.modbus.nvalues = 0;
	DENY(p, NULL, &op, "FC 16 to a bounded range without values");
	ok(has("carries none"), "no-values reason");

	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-3", 1, 22);
	span(&op, ZG_MB_HOLDING, ZG_MB_WRITE, 12, 1);
	DENY(p, NULL, &op, "FC 22 mask write cannot be bounds-checked");
	ok(has("function 22 carries none"), "mask write reason");

	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-3", 1, 5);
	span(&op, ZG_MB_COILS, ZG_MB_WRITE, 7, 1);
	ALLOW(p, NULL, &op, "write coil 7");
	op.u.modbus.spans[0].addr = 8;
	DENY(p, NULL, &op, "write coil 8");

	op = rd("hmi-1", "plc-3", 1, ZG_MB_COILS, 0, 16);
	ALLOW(p, NULL, &op, "read 16 coils");
	op = rd("hmi-1", "plc-3", 1, ZG_MB_COILS, 0, 200);
	DENY(p, NULL, &op, "read 200 coils: max_quantity 125");
	ok(has("quantity 200 exceeds max_quantity 125"), "quantity reason");

	op = rd("hmi-1", "plc-3", 4, ZG_MB_INPUT, 0, 1);
	DENY(p, NULL, &op, "FC 4 not allowed");
	ok(has("function 4 (read input registers) is not allowed"), "fc reason");
}

static void
test_function_traps(struct seg_policy *p)
{
	struct zg_op op;

	/* FC 23 through a read-only conduit. */
	op = rd("hmi-1", "plc-2", 3, ZG_MB_HOLDING, 0, 10);
	ALLOW(p, NULL, &op, "FC 3 through the read-only conduit");
	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-2", 1, 23);
	span(&op, ZG_MB_HOLDING, ZG_MB_READ, 0, 10);
	span(&op, ZG_MB_HOLDING, ZG_MB_WRITE, 0, 1);
	DENY(p, NULL, &op, "FC 23 through the read-only conduit");
	ok(has("function 23 (read/write multiple registers) is not allowed by conduit ops-ro"),
	   "FC 23 reason");
	/* FC 23 named, but no write range: still needs both rights. */
	op.identity = "broker";
	DENY(p, NULL, &op, "FC 23 named but the conduit has no write ranges");
	ok(has("allows no writes to holding registers"), "FC 23 write-right reason");
	/* A classifier that drops FC 23's write span is refused. */
	op.u.modbus.nspans = 1;
	DENY(p, NULL, &op, "FC 23 with only its read span is malformed");
	ok(has("malformed"), "malformed reason");

	/* FC 23 where it is allowed: engineer with a certificate. */
	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-1", 1, 23);
	op.role = "engineer";
	span(&op, ZG_MB_HOLDING, ZG_MB_READ, 0, 10);
	span(&op, ZG_MB_HOLDING, ZG_MB_WRITE, 150, 2);
	ALLOW(p, NULL, &op, "FC 23 through the engineering conduit");
	ok(V.rule && strcmp(V.rule, "eng-to-plc1") == 0, "decided by eng-to-plc1");
	op.u.modbus.spans[1].addr = 199;
	DENY(p, NULL, &op, "FC 23 write span straddles 199");

	/* FC 43: MEI 14 vs 13. */
	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-3", 1, 43);
	op.u.modbus.mei = 14;
	ALLOW(p, NULL, &op, "FC 43/14 read device identification");
	op.u.modbus.mei = 13;
	DENY(p, NULL, &op, "FC 43/13 CANopen without naming it");
	ok(has("MEI type 13 (CANopen general reference)") && has("\"43/13\""),
	   "MEI reason with the hint");
	op.role = "engineer";
	op.target = "plc-1";
	ALLOW(p, NULL, &op, "FC 43/13 where it is named");

	/* FC 8: sub-function 4 is never in plain 8. */
	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-3", 1, 8);
	op.u.modbus.subfn = 0;
	ALLOW(p, NULL, &op, "FC 8/0 return query data with plain 8");
	op.u.modbus.subfn = 4;
	DENY(p, NULL, &op, "FC 8/4 force listen only with plain 8");
	ok(has("sub-function 4 (force listen only mode)") && has("\"8/4\""),
	   "listen-only reason with the hint");
	op.u.modbus.subfn = 1;
	DENY(p, NULL, &op, "FC 8/1 restart with plain 8");
	op.u.modbus.subfn = 10;
	DENY(p, NULL, &op, "FC 8/10 clear counters with plain 8");
	op.u.modbus.subfn = 4;
	op.role = "engineer";
	op.target = "plc-1";
	ALLOW(p, NULL, &op, "FC 8/4 where it is named");

	/* FC 90 (UMAS) and user codes. */
	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-3", 1, 90);
	DENY(p, NULL, &op, "FC 90 not named");
	ok(has("function 90 (UMAS"), "UMAS reason");
	op.target = "plc-1";
	DENY(p, NULL, &op, "FC 90 named, but for the engineer role only");
	ok(has("no role presented; conduit eng-to-plc1 (test.conf:110) admits roles engineer"),
	   "the conduit that would allow explains: %s", V.reason);
	op.role = "engineer";
	ALLOW(p, NULL, &op, "FC 90 where it is named");
	op.u.modbus.fc = 65;
	DENY(p, NULL, &op, "FC 65 user-defined, not named");
	op.u.modbus.fc = 0x83;
	DENY(p, NULL, &op, "an exception code is not a request");
}

static void
test_units(struct seg_policy *p)
{
	struct zg_op op;
	uint16_t v = 7;

	op = rd("hmi-1", "plc-3", 3, ZG_MB_HOLDING, 0, 1);
	op.u.modbus.unit = 2;
	DENY(p, NULL, &op, "unit 2 not in units");
	ok(has("unit 2 is not among the units of conduit ops-to-cell1"), "unit reason");

	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-3", 0, 6);
	span(&op, ZG_MB_HOLDING, ZG_MB_WRITE, 12, 1);
	op.u.modbus.values = &v;
	op.u.modbus.nvalues = 1;
	DENY(p, NULL, &op, "broadcast write without broadcast = true");
	ok(has("broadcast = true"), "broadcast reason");
	op.role = "engineer";
	op.target = "plc-1";
	ALLOW(p, NULL, &op, "broadcast write where broadcast = true");
	op = mb("hmi-1", ZG_ASSURANCE_CERT, "plc-1", 0, 3);
	op.role = "engineer";
	span(&op, ZG_MB_HOLDING, ZG_MB_READ, 0, 1);
	DENY(p, NULL, &op, "broadcast read is never allowed");
	ok(has("only writes"), "broadcast read reason");
}

static void
test_identity(struct seg_policy *p)
{
	struct zg_op op;

	op = mb("legacy-hmi", ZG_ASSURANCE_ADDRESS, "plc-1", 1, 23);
	op.role = "engineer";
	span(&op, ZG_MB_HOLDING, ZG_MB_READ, 0, 10);
	span(&op, ZG_MB_HOLDING, ZG_MB_WRITE, 150, 2);
	DENY(p, NULL, &op, "FC 23 from an address-bound identity");
	ok(has("requires a certificate identity") && has("legacy-hmi"),
	   "assurance reason (the conduit that would allow explains)");
	op.identity = "hmi-1";
	op.assurance = ZG_ASSURANCE_CERT;
	op.role = "operator";
	DENY(p, NULL, &op, "FC 23 with role operator");
	ok(has("role operator is not among roles engineer of conduit eng-to-plc1"),
	   "role reason");
	op.role = NULL;
	DENY(p, NULL, &op, "FC 23 without a role");
	ok(has("no role presented"), "no-role reason");
	op.role = "engineer";
	ALLOW(p, NULL, &op, "FC 23 with role engineer");

	op = rd("legacy-hmi", "plc-1", 3, ZG_MB_HOLDING, 0, 1);
	op.assurance = ZG_ASSURANCE_ADDRESS;
	ALLOW(p, NULL, &op, "address-bound identity on a conduit without requirement");
	op.identity = "hmi-1";
	DENY(p, NULL, &op, "address assurance for a device without a binding");
	op.identity = "intruder";
	op.assurance = ZG_ASSURANCE_CERT;
	DENY(p, NULL, &op, "unknown identity");
	ok(strcmp(V.reason, "unknown identity intruder") == 0, "reason: %s", V.reason);
	op.identity = "evil\n\x1b[31m";
	DENY(p, NULL, &op, "control characters in an unknown identity");
	ok(strchr(V.reason, '\n') == NULL && strchr(V.reason, 0x1b) == NULL,
	   "reason is safe to log: %s", V.reason);
	op.identity = NULL;
	DENY(p, NULL, &op, "no identity");
	op.identity = "hmi-1";
	op.assurance = ZG_ASSURANCE_NONE;
	DENY(p, NULL, &op, "assurance none");
	op.assurance = ZG_ASSURANCE_CERT;
	op.target = "plc-9";
	DENY(p, NULL, &op, "unknown target");
	ok(has("unknown target device plc-9"), "target reason");
	op.target = NULL;
	DENY(p, NULL, &op, "no target");

	op = rd("plc-1", "plc-2", 3, ZG_MB_HOLDING, 0, 1);
	DENY(p, NULL, &op, "no conduit from cell1 to cell2");
	ok(strcmp(V.reason, "no conduit from zone cell1 to zone cell2 (target plc-2)") == 0,
	   "reason: %s", V.reason);
	ok(V.rule == NULL && V.origin_line == 0, "no rule in a no-conduit verdict");

	op = rd("plc-1", "plc-3", 4, ZG_MB_INPUT, 0, 10);
	ALLOW(p, NULL, &op, "intra-zone conduit cell1-peer");
	op = rd("plc-3", "plc-1", 3, ZG_MB_HOLDING, 0, 10);
	DENY(p, NULL, &op, "intra-zone: no implicit trust inside a zone");
}

static void
test_quarantine(struct seg_policy *p)
{
	struct seg_state *st = seg_state_new();
	struct seg_policy *p2;
	struct zg_op op;

	op = rd("bad-plc", "plc-1", 3, ZG_MB_HOLDING, 0, 1);
	DENY(p, NULL, &op, "configured quarantine: caller");
	ok(has("identity bad-plc is in zone quarantine (test.conf:17)"), "reason: %s",
	   V.reason);
	op = rd("hmi-1", "bad-plc", 3, ZG_MB_HOLDING, 0, 1);
	DENY(p, NULL, &op, "configured quarantine: target");

	op = rd("hmi-1", "plc-1", 3, ZG_MB_HOLDING, 0, 1);
	ALLOW(p, st, &op, "before runtime quarantine");
	ok(seg_quarantine_set(st, "hmi-1", true) == 0 && seg_quarantined(st, "hmi-1") &&
	   seg_quarantine_count(st) == 1, "hmi-1 quarantined at runtime");
	DENY(p, st, &op, "runtime quarantine: caller");
	ok(strcmp(V.reason, "identity hmi-1 is quarantined") == 0, "reason: %s",
	   V.reason);
	seg_quarantine_set(st, "hmi-1", false);
	ALLOW(p, st, &op, "released");
	seg_quarantine_set(st, "plc-1", true);
	DENY(p, st, &op, "runtime quarantine: target");
	ok(has("target plc-1 is quarantined"), "target reason");

	/* Survives a reload: a new policy, the same state. */
	p2 = build(false, false);
	DENY(p2, st, &op, "runtime quarantine survives a reload");
	seg_quarantine_set(st, "plc-1", false);
	ALLOW(p2, st, &op, "released after reload");
	seg_policy_unref(p2);

	/* Quarantine overrides shadow. */
	op = rd("plc-2", "plc-1", 3, ZG_MB_HOLDING, 0, 1);
	ok(decide(p, st, &op) == ZG_ALLOW && V.shadow, "shadow path open before");
	seg_quarantine_set(st, "plc-2", true);
	DENY(p, st, &op, "quarantine overrides shadow");

	/* Bounded and clean under churn. */
	{
		char id[32];
		int i, okc = 1;

		for (i = 0; i < 5000; i++) {
			snprintf(id, sizeof(id), "dev-%d", i);
			if (seg_quarantine_set(st, id, true) < 0)
				break;
		}
		ok(seg_quarantine_count(st) == SEG_MAX_QUARANTINE,
		   "set is bounded at %d (%zu)", SEG_MAX_QUARANTINE,
		   seg_quarantine_count(st));
		for (i = 0; i < 5000; i++) {
			snprintf(id, sizeof(id), "dev-%d", i);
			seg_quarantine_set(st, id, false);
		}
		for (i = 0; i < 5000; i++) {
			snprintf(id, sizeof(id), "dev-%d", i);
			if (seg_quarantined(st, id))
				okc = 0;
		}
		ok(okc && seg_quarantine_count(st) == 1 && seg_quarantined(st, "plc-2"),
		   "removal keeps the table consistent");
	}
	ok(seg_quarantine_set(st, "", true) < 0, "empty identity refused");
	seg_state_free(st);
}

static void
test_island(struct seg_policy *p)
{
	struct seg_policy *pi = build(true, false);
	struct seg_state *st = seg_state_new();
	struct zg_op op;

	op = rd("hmi-1", "plc-1", 3, ZG_MB_HOLDING, 0, 1);
	DENY(pi, NULL, &op, "island mode denies cross-zone");
	ok(has("island mode") && has("ops to cell1"), "island reason");
	op = rd("plc-1", "plc-3", 4, ZG_MB_INPUT, 0, 10);
	ALLOW(pi, NULL, &op, "island mode keeps intra-zone conduits");
	op = rd("plc-2", "plc-1", 3, ZG_MB_HOLDING, 0, 1);
	DENY(pi, NULL, &op, "island mode overrides shadow");

	op = rd("hmi-1", "plc-1", 3, ZG_MB_HOLDING, 0, 1);
	ALLOW(p, st, &op, "before the runtime island switch");
	seg_state_set_island(st, true);
	DENY(p, st, &op, "runtime island switch");
	seg_state_set_island(st, false);
	ALLOW(p, st, &op, "runtime island switch off");

	op = rd("hmi-1", "sis-1", 3, ZG_MB_HOLDING, 0, 1);
	DENY(p, NULL, &op, "isolated zone");
	ok(has("zone safety is isolated"), "isolated reason");
	seg_state_free(st);
	seg_policy_unref(pi);
}

static void
test_shadow(struct seg_policy *p)
{
	struct zg_op op;
	uint16_t v = 1;

	op = rd("plc-2", "plc-1", 3, ZG_MB_HOLDING, 0, 5);
	ok(decide(p, NULL, &op) == ZG_ALLOW && V.shadow &&
	   V.shadow_decision == ZG_ALLOW && V.rule &&
	   strcmp(V.rule, "cell2-shadow") == 0 && V.origin_line == 140,
	   "shadow would allow: passes, marked shadow (%s)", V.reason);
	ok(has("not enforced") && has("would allow"), "shadow allow reason");
	op = mb("plc-2", ZG_ASSURANCE_CERT, "plc-1", 1, 6);
	span(&op, ZG_MB_HOLDING, ZG_MB_WRITE, 3, 1);
	op.u.modbus.values = &v;
	op.u.modbus.nvalues = 1;
	ok(decide(p, NULL, &op) == ZG_ALLOW && V.shadow &&
	   V.shadow_decision == ZG_DENY,
	   "shadow would deny: passes, shadow_decision deny (%s)", V.reason);
	ok(has("not enforced: shadow would deny: function 6 (write single register) is not allowed by conduit cell2-shadow"),
	   "shadow deny reason says what it would have been");
	/* Not a shadow verdict where an enforcing conduit allows. */
	op = rd("hmi-1", "plc-1", 3, ZG_MB_HOLDING, 0, 5);
	ok(decide(p, NULL, &op) == ZG_ALLOW && !V.shadow, "enforcing allow is not shadow");
}

static void
test_mqtt(struct seg_policy *p)
{
	struct zg_op op;

	op = mqtt("plc-1", "broker", ZG_MQTT_PUBLISH, "site/plc-1/temp", "c1");
	ALLOW(p, NULL, &op, "publish under site/%u/#");
	op = mqtt("plc-1", "broker", ZG_MQTT_PUBLISH, "site/plc-1", "c1");
	ALLOW(p, NULL, &op, "publish to the parent of site/%u/#");
	op = mqtt("plc-1", "broker", ZG_MQTT_PUBLISH, "site/plc-3/temp", "c1");
	DENY(p, NULL, &op, "publish under another identity");
	ok(has("publish to site/plc-3/temp is not matched by the publish filters (site/%u/#) of conduit cell1-mqtt"),
	   "publish reason");
	op = mqtt("plc-1", "broker", ZG_MQTT_PUBLISH, "site/plc-1/+", "c1");
	DENY(p, NULL, &op, "publish with a wildcard is malformed");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "site/plc-1/cmd/#", "c1");
	ALLOW(p, NULL, &op, "subscribe to the allowed filter itself");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "site/plc-1/cmd/+/x", "c1");
	ALLOW(p, NULL, &op, "subscribe to a narrower filter");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "#", "c1");
	DENY(p, NULL, &op, "subscribe to # is not covered by site/%u/cmd/#");
	ok(has("subscribe to # is not covered"), "subscribe reason");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "site/plc-1/#", "c1");
	DENY(p, NULL, &op, "subscribe broader than cmd/#");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "site/+/cmd/#", "c1");
	DENY(p, NULL, &op, "subscribe with + over other identities");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "clients/c1/in/x", "c1");
	ALLOW(p, NULL, &op, "%c substitution");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "clients/c2/in/x", "c1");
	DENY(p, NULL, &op, "%c of another client");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "clients/+/in/x", "+");
	DENY(p, NULL, &op, "client id '+' cannot become a wildcard");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "clients/a/b/in/x", "a/b");
	DENY(p, NULL, &op, "client id with '/' cannot span levels");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "clients//in/x", "");
	DENY(p, NULL, &op, "empty client id");
	op = mqtt("plc-1", "broker", ZG_MQTT_SUBSCRIBE, "site/plc-1/cmd/#", NULL);
	ALLOW(p, NULL, &op, "no client id needed for a %u-only filter");
	op = mqtt("hmi-1", "broker", ZG_MQTT_PUBLISH, "site/hmi-1/x", "c1");
	DENY(p, NULL, &op, "the HTTP conduit has no mqtt rules");
	ok(has("has no mqtt rules"), "no-protocol reason");
}

static void
test_http(struct seg_policy *p)
{
	struct zg_op op;

	op = http("hmi-1", "web", "GET", "/api/points");
	ALLOW(p, NULL, &op, "GET /api/points");
	op = http("hmi-1", "web", "GET", "/api/points?x=1");
	ALLOW(p, NULL, &op, "query string is not part of the match");
	op = http("hmi-1", "web", "GET", "/api");
	DENY(p, NULL, &op, "GET /api is not under /api/");
	op = http("hmi-1", "web", "POST", "/telemetry");
	ALLOW(p, NULL, &op, "POST /telemetry");
	op = http("hmi-1", "web", "POST", "/telemetry/a");
	ALLOW(p, NULL, &op, "POST /telemetry/a");
	op = http("hmi-1", "web", "POST", "/telemetryx");
	DENY(p, NULL, &op, "POST /telemetryx: segment-aware prefix");
	ok(has("POST /telemetryx is not allowed by the http rules of conduit ops-http"),
	   "http reason");
	op = http("hmi-1", "web", "GET", "/api/../admin");
	DENY(p, NULL, &op, "dot segments");
	op = http("hmi-1", "web", "GET", "/api/%2e%2E/admin");
	DENY(p, NULL, &op, "encoded dot segments");
	op = http("hmi-1", "web", "GET", "/api/a%2fb");
	DENY(p, NULL, &op, "encoded slash");
	op = http("hmi-1", "web", "get", "/api/points");
	DENY(p, NULL, &op, "methods are case-sensitive");
	op = http("hmi-1", "web", "POST", "/api/points");
	DENY(p, NULL, &op, "POST under a GET-only prefix");
}

static void
test_fail_mode(void)
{
	struct seg_state *st = seg_state_new();
	struct seg_policy *po = build(false, true);
	struct zg_op op = rd("hmi-1", "plc-1", 3, ZG_MB_HOLDING, 0, 1);

	ok(seg_decide(NULL, NULL, &op, &V) == ZG_DENY && has("internal error") &&
	   has("fail mode closed"), "no policy: closed by default");
	seg_state_set_fail_open(st, true);
	ok(seg_decide(NULL, st, &op, &V) == ZG_ALLOW && has("fail mode open"),
	   "no policy, state fail-open: allowed");
	ok(seg_decide(po, NULL, NULL, &V) == ZG_ALLOW, "fail-open policy, no operation: allowed");
	ok(seg_decide(po, NULL, &op, NULL) == ZG_ALLOW, "fail-open policy, no verdict: allowed");
	op.identity = "intruder";
	ok(seg_decide(po, NULL, &op, &V) == ZG_DENY,
	   "fail-open never applies to an ordinary deny (%s)", V.reason);
	op.u.modbus.nspans = 3;
	op.identity = "hmi-1";
	ok(seg_decide(po, NULL, &op, &V) == ZG_DENY && has("malformed"),
	   "a malformed operation is an ordinary deny");
	seg_policy_unref(po);
	seg_state_free(st);
}

static void
test_identify_addr(struct seg_policy *p)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	char buf[64];

	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	s4.sin_port = htons(40000);
	ok(seg_identify_addr(p, (struct sockaddr *)&s4, sizeof(s4), buf,
			     sizeof(buf)) == 0 && strcmp(buf, "legacy-hmi") == 0,
	   "127.0.0.1:40000 is legacy-hmi");
	s4.sin_port = htons(80);
	ok(seg_identify_addr(p, (struct sockaddr *)&s4, sizeof(s4), buf,
			     sizeof(buf)) < 0, "port 80 is outside the bound ports");
	s4.sin_port = htons(40000);
	inet_pton(AF_INET, "127.0.0.2", &s4.sin_addr);
	ok(seg_identify_addr(p, (struct sockaddr *)&s4, sizeof(s4), buf,
			     sizeof(buf)) < 0, "127.0.0.2 is nobody");
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	s6.sin6_port = htons(40000);
	ok(seg_identify_addr(p, (struct sockaddr *)&s6, sizeof(s6), buf,
			     sizeof(buf)) == 0 && strcmp(buf, "legacy-hmi") == 0,
	   "v4-mapped IPv6 is folded to IPv4");
	ok(seg_identify_addr(p, (struct sockaddr *)&s6, sizeof(s6), buf, 5) < 0,
	   "a buffer too small is refused");
}

static void
test_validation(void)
{
	struct seg_builder *b;
	struct seg_bounds bnd = { 0, 10, false }, bnd2 = { 0, 20, false };
	struct seg_bounds neg = { -5, 5, false }, sneg = { -5, 5, true };
	struct seg_origin o;
	int c, d, e0;

	reset_diag();
	b = seg_builder_new(collect, NULL);
	seg_zone_add(b, "a", NULL, false, O(1));
	seg_zone_add(b, "b", NULL, false, O(2));
	ok(seg_zone_add(b, "a", NULL, false, O(3)) < 0 && nerr == 1 &&
	   strstr(lasterr, "already declared at test.conf:1"),
	   "duplicate zone (%s)", lasterr);
	ok(seg_zone_add(b, "quarantine", NULL, false, O(4)) < 0 && nerr == 2,
	   "quarantine is reserved");
	ok(seg_zone_add(b, "has space", NULL, false, O(5)) < 0 && nerr == 3,
	   "bad zone name");
	d = seg_device_add(b, "d1", "nowhere", O(6));
	ok(d >= 0 && nerr == 4 && strstr(lasterr, "unknown zone \"nowhere\""),
	   "unknown zone still gives a handle (%s)", lasterr);
	seg_device_add(b, "d2", "a", O(7));
	seg_device_add(b, "d2", "a", O(8));
	ok(nerr == 5 && strstr(lasterr, "test.conf:8") &&
	   strstr(lasterr, "already declared at test.conf:7"),
	   "duplicate identity (%s)", lasterr);
	d = seg_device_add(b, "d3", "b", O(9));
	seg_device_bind(b, d, "10.0.0.1", 1000, 2000, O(9));
	d = seg_device_add(b, "d4", "b", O(10));
	seg_device_bind(b, d, "10.0.0.1", 2000, 3000, O(10));
	seg_device_bind(b, d, "10.0.0.2", 5, 4, O(10));
	ok(nerr == 6, "ports a > b");
	seg_device_bind(b, d, "plc.example", 0, 65535, O(10));
	ok(nerr == 7, "host names are refused");
	seg_device_target(b, d, "10.0.0.1", 300, O(10));
	ok(nerr == 9, "target without port and unit 300");

	c = seg_conduit_add(b, "c1", "a", "b", NULL, O(20));
	e0 = nerr;
	seg_mb_units(b, c, 0, 0, O(21));
	seg_mb_units(b, c, 1, 250, O(21));
	seg_mb_units(b, c, 10, 5, O(21));
	ok(nerr == e0 + 3, "units 0, 1-250, 10-5 refused");
	seg_mb_units(b, c, 255, 255, O(21));
	seg_mb_units(b, c, 1, 247, O(21));
	ok(nerr == e0 + 3, "units 255 and 1-247 accepted");
	seg_mb_function(b, c, 43, -1, O(22));
	ok(nerr == e0 + 4 && strstr(lasterr, "\"43/14\""), "plain 43 refused (%s)",
	   lasterr);
	seg_mb_function(b, c, 0, -1, O(22));
	seg_mb_function(b, c, 128, -1, O(22));
	seg_mb_function(b, c, 3, 1, O(22));
	ok(nerr == e0 + 7, "FC 0, 128, 3/1 refused");
	seg_mb_range(b, c, ZG_MB_READ, ZG_MB_HOLDING, 10, 5, NULL, O(23));
	seg_mb_range(b, c, ZG_MB_READ, ZG_MB_HOLDING, 0, 70000, NULL, O(23));
	seg_mb_range(b, c, ZG_MB_READ, ZG_MB_HOLDING, 0, 5, &bnd, O(23));
	seg_mb_range(b, c, ZG_MB_WRITE, ZG_MB_INPUT, 0, 5, NULL, O(23));
	seg_mb_range(b, c, ZG_MB_WRITE, ZG_MB_COILS, 0, 5, &bnd, O(23));
	seg_mb_range(b, c, ZG_MB_WRITE, ZG_MB_HOLDING, 0, 5, &neg, O(23));
	ok(nerr == e0 + 13, "bad ranges and bounds refused (%d)", nerr - e0);
	seg_mb_range(b, c, ZG_MB_WRITE, ZG_MB_HOLDING, 0, 5, &sneg, O(24));
	seg_mb_range(b, c, ZG_MB_WRITE, ZG_MB_HOLDING, 10, 19, &bnd, O(25));
	seg_mb_range(b, c, ZG_MB_WRITE, ZG_MB_HOLDING, 15, 25, &bnd2, O(26));
	ok(nerr == e0 + 13, "overlap is found by the compiler, not here");
	seg_mqtt_filter(b, c, ZG_MQTT_PUBLISH, "a/#/b", O(27));
	seg_mqtt_filter(b, c, ZG_MQTT_PUBLISH, "a/b+", O(27));
	seg_mqtt_filter(b, c, ZG_MQTT_PUBLISH, "a/%x", O(27));
	seg_http_rule(b, c, "GET", "api", O(28));
	seg_http_rule(b, c, "GE T", "/api", O(28));
	seg_http_rule(b, c, "GET", "/a/../b", O(28));
	ok(nerr == e0 + 19, "bad filters and http rules refused (%d)", nerr - e0);
	seg_conduit_add(b, "c2", "quarantine", "a", NULL, O(30));
	seg_conduit_add(b, "c1", "a", "b", NULL, O(31));
	seg_conduit_add(b, "c3", "a", "b", "d2", O(32));
	seg_conduit_add(b, "c4", "a", NULL, "nobody", O(33));
	ok(nerr == e0 + 23, "conduit from quarantine, duplicate, both targets, unknown device");
	o = at(40);
	c = seg_conduit_add(b, "c5", "a", "b", NULL, &o);
	e0 = nerr;
	ok(seg_compile(b, NULL) == NULL, "compile refuses after errors");
	ok(nerr == e0 + 2 && strstr(lasterr, "overlap"),
	   "compile adds the binding and bound overlaps (%s)", lasterr);
	ok(seg_compile(b, NULL) == NULL, "a spent builder compiles nothing");
	seg_builder_free(b);

	/* Warnings do not stop a compile. */
	reset_diag();
	b = seg_builder_new(collect, NULL);
	seg_zone_add(b, "a", NULL, false, O(1));
	c = seg_conduit_add(b, "empty", "a", "a", NULL, O(2));
	{
		struct seg_policy *p = seg_compile(b, NULL);

		ok(p != NULL && nerr == 0 && nwarn == 1 &&
		   strstr(lastwarn, "allows nothing"),
		   "an empty conduit compiles with a warning (%s)", lastwarn);
		ok(seg_policy_ref(p) == p, "ref");
		seg_policy_unref(p);
		seg_policy_unref(p);
	}
	seg_builder_free(b);
}

int
main(void)
{
	struct seg_policy *p;

	reset_diag();
	p = build(false, false);
	test_fixture(p);
	test_ranges(p);
	test_function_traps(p);
	test_units(p);
	test_identity(p);
	test_quarantine(p);
	test_island(p);
	test_shadow(p);
	test_mqtt(p);
	test_http(p);
	test_fail_mode();
	test_identify_addr(p);
	test_validation();
	seg_policy_unref(p);
	return done_testing();
}
