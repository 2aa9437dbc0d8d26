/*
 * test_policy_conf: zones / devices / conduits from libconfig files.
 * Every error must carry FILE:LINE of the offending setting, all errors
 * of a file must be reported in one load, and a loaded policy must decide
 * with the origins of the file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/policy_conf.h"
#include "tests/unit/tap.h"

static char tmpl[64];

/* Write text to a fresh temporary file; returns its path. */
static const char *
write_tmp(const char *text)
{
	FILE *f;
	int fd;

	snprintf(tmpl, sizeof(tmpl), "/tmp/zg-policy-XXXXXX");
	fd = mkstemp(tmpl);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		perror("mkstemp");
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return tmpl;
}

/* Load `file'; returns the policy or NULL, errors in *e. */
static struct seg_policy *
load(const char *file, struct cfg_errs *e, const struct policy_opts *po)
{
	config_t cfg;
	struct seg_policy *p = NULL;

	cfg_errs_init(e);
	if (cfg_read_file(&cfg, file, e) == 0)
		policy_conf_load(e, &cfg, po, &p);
	config_destroy(&cfg);
	return p;
}

/* Is there a message "FILE:LINE: ..." containing needle? */
static int
has_msg(const struct cfg_errs *e, const char *file, int line,
	const char *needle)
{
	char pre[256];
	size_t i;

	snprintf(pre, sizeof(pre), "%s:%d: ", file, line);
	for (i = 0; i < e->n && i < e->cap; i++)
		if (strncmp(e->msg[i], pre, strlen(pre)) == 0 &&
		    strstr(e->msg[i], needle) != NULL)
			return 1;
	diag("no message at %s:%d with \"%s\"; messages:", file, line, needle);
	for (i = 0; i < e->n && i < e->cap; i++)
		diag("  %s", e->msg[i]);
	return 0;
}

static struct zg_op
rd(const char *id, int assurance, const char *role, const char *target,
   int fc, int table, int addr, int qty)
{
	struct zg_op op;

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MODBUS;
	op.assurance = (uint8_t)assurance;
	op.identity = id;
	op.role = role;
	op.target = target;
	op.u.modbus.unit = 1;
	op.u.modbus.fc = (uint8_t)fc;
	op.u.modbus.nspans = 1;
	op.u.modbus.spans[0].table = (uint8_t)table;
	op.u.modbus.spans[0].access = ZG_MB_READ;
	op.u.modbus.spans[0].addr = (uint16_t)addr;
	op.u.modbus.spans[0].qty = (uint16_t)qty;
	return op;
}

static void
test_site(void)
{
	const char *top = getenv("top_srcdir");
	char path[1024], *buf = NULL;
	struct cfg_errs e;
	struct seg_policy *p;
	struct seg_policy_info pi;
	struct seg_device_info di;
	struct zg_verdict v;
	struct zg_op op;
	size_t blen = 0;
	FILE *mem;
	const char *hmi = "spiffe://plant.example/hmi-1";

	snprintf(path, sizeof(path), "%s/tests/unit/data/policy/site.conf",
		 top ? top : ".");
	p = load(path, &e, NULL);
	/* Its trial conduit is a shadow one: the one risky-setting warning. */
	ok(p != NULL && cfg_errs_count(&e) == 0 && e.warnings == 1 &&
	   strstr(e.msg[0], ":43: warning: conduits.[3].shadow: shadow conduit") != NULL,
	   "site.conf loads without errors, warning only about its shadow conduit (%zu messages%s%s)",
	   e.n, e.n ? ": " : "", e.n ? e.msg[0] : "");
	if (p == NULL) {
		cfg_errs_free(&e);
		return;
	}
	seg_policy_info(p, &pi);
	ok(pi.nzones == 5 && pi.ndevices == 6 && pi.nconduits == 4 &&
	   pi.nshadow == 1 && pi.nbindings == 1 && !pi.fail_open &&
	   !pi.island_mode, "counts and defaults");
	ok(seg_device_find(p, "plc-2", &di) == 0 && di.unit == 255 &&
	   strcmp(di.address, "[::1]:1502") == 0, "plc-2 target address and unit");
	ok(seg_device_attr_get(p, "plc-1", "model") != NULL &&
	   strcmp(seg_device_attr_get(p, "plc-1", "model"), "X200") == 0,
	   "attributes");

	op = rd(hmi, ZG_ASSURANCE_CERT, "operator", "plc-1", 3, ZG_MB_HOLDING, 0, 10);
	seg_decide(p, NULL, &op, &v);
	ok(v.decision == ZG_ALLOW && v.rule &&
	   strcmp(v.rule, "ops-to-cell1") == 0 && v.origin_line == 24 &&
	   v.origin_file && strcmp(v.origin_file, path) == 0,
	   "operator reads holding 0-9; origin %s:%d", v.origin_file ? v.origin_file : "?",
	   v.origin_line);
	op.u.modbus.spans[0].addr = 95;
	ok(seg_decide(p, NULL, &op, &v) == ZG_DENY && strstr(v.reason, ":24)"),
	   "straddling read denied with the file's line: %s", v.reason);
	op = rd("legacy-hmi", ZG_ASSURANCE_ADDRESS, NULL, "plc-1", 4, ZG_MB_INPUT,
		10, 5);
	seg_decide(p, NULL, &op, &v);
	ok(v.decision == ZG_ALLOW && v.origin_line == 36,
	   "legacy HMI reads input 10-14 through the device conduit (line %d)",
	   v.origin_line);
	op = rd("legacy-hmi", ZG_ASSURANCE_ADDRESS, NULL, "plc-1", 3,
		ZG_MB_HOLDING, 0, 1);
	ok(seg_decide(p, NULL, &op, &v) == ZG_DENY &&
	   strstr(v.reason, "requires a certificate identity"),
	   "legacy HMI denied holding reads: %s", v.reason);
	op = rd("plc-2", ZG_ASSURANCE_CERT, NULL, "plc-1", 3, ZG_MB_HOLDING, 20, 1);
	ok(seg_decide(p, NULL, &op, &v) == ZG_ALLOW && v.shadow &&
	   v.shadow_decision == ZG_DENY && v.origin_line == 43,
	   "shadow conduit from the file: %s", v.reason);
	op = rd("old-rtu", ZG_ASSURANCE_CERT, NULL, "plc-1", 3, ZG_MB_HOLDING, 0, 1);
	ok(seg_decide(p, NULL, &op, &v) == ZG_DENY && strstr(v.reason, "quarantine"),
	   "device put in quarantine by config: %s", v.reason);

	mem = open_memstream(&buf, &blen);
	policy_summary(mem, p);
	fclose(mem);
	ok(buf && strstr(buf, "5 zones, 6 devices (1 address bindings), 4 conduits (1 shadow)") &&
	   strstr(buf, "ops-to-cell1") && strstr(buf, "SHADOW") &&
	   strstr(buf, "plc-1 (cell1)"), "summary");
	if (buf)
		diag("%s", buf);
	free(buf);
	seg_policy_unref(p);
	cfg_errs_free(&e);

	{
		struct policy_opts po = { true, true };

		p = load(path, &e, &po);
		seg_policy_info(p, &pi);
		ok(p && pi.fail_open && pi.island_mode, "options reach the policy");
		op = rd(hmi, ZG_ASSURANCE_CERT, "operator", "plc-1", 3,
			ZG_MB_HOLDING, 0, 10);
		ok(seg_decide(p, NULL, &op, &v) == ZG_DENY &&
		   strstr(v.reason, "island mode"), "island mode from options");
		seg_policy_unref(p);
		cfg_errs_free(&e);
	}
}

static const char bad_text[] =
	"zones = (\n"                                                   /* 1 */
	"  { name = \"ops\"; colour = \"red\"; },\n"                   /* 2 */
	"  { name = 5; },\n"                                            /* 3 */
	"  { description = \"no name\"; }\n"                            /* 4 */
	");\n"                                                          /* 5 */
	"devices = (\n"                                                 /* 6 */
	"  { identity = \"a\"; zone = \"nowhere\"; },\n"                /* 7 */
	"  { identity = \"b\"; zone = \"ops\"; unit = 300; },\n"        /* 8 */
	"  { identity = \"c\"; zone = \"ops\"; bind = { address = \"plc.local\"; }; },\n" /* 9 */
	"  \"not a group\"\n"                                           /* 10 */
	");\n"                                                          /* 11 */
	"conduits = (\n"                                                /* 12 */
	"  { name = \"c1\"; from = \"ops\"; to = \"ops\";\n"            /* 13 */
	"    modbus = { units = [0]; functions = (43, \"8/x\", 3); max_quantity = 5000;\n" /* 14 */
	"      read = { holding_registers = (\"5-2\", \"1-99999\", 7); };\n" /* 15 */
	"      write = { input_registers = [\"0-9\"];\n"               /* 16 */
	"                holding_registers = ( { range = \"0-9\"; min = -1; } ); }; };\n" /* 17 */
	"    mqtt = { publish = [\"a/#/b\"]; };\n"                      /* 18 */
	"    http = ( { method = \"GET\"; path = \"api\"; } );\n"      /* 19 */
	"    shadow = \"yes\";\n"                                       /* 20 */
	"  },\n"                                                        /* 21 */
	"  { name = \"c2\"; from = \"ops\"; },\n"                       /* 22 */
	"  { name = \"c3\"; from = \"ops\"; to = \"ops\"; modbus = { functions = (); }; roles = []; }\n" /* 23 */
	");\n";

static void
test_errors(void)
{
	struct cfg_errs e;
	struct seg_policy *p;
	const char *f = write_tmp(bad_text);
	size_t i, prefixed = 0;

	p = load(f, &e, NULL);
	ok(p == NULL, "a file with errors yields no policy");
	ok(has_msg(&e, f, 2, "colour: unknown key"), "unknown key, line 2");
	ok(has_msg(&e, f, 3, "name: expected a string"), "wrong type, line 3");
	ok(has_msg(&e, f, 4, "name: is required"), "missing name, line 4");
	ok(has_msg(&e, f, 7, "unknown zone \"nowhere\""), "unknown zone, line 7");
	ok(has_msg(&e, f, 8, "300 is out of range"), "unit 300, line 8");
	ok(has_msg(&e, f, 9, "not a numeric IPv4 or IPv6 address"), "host name, line 9");
	/* libconfig gives a scalar list element the line of the token after it. */
	ok(has_msg(&e, f, 11, "each device is a group"), "not a group, line 10/11");
	ok(has_msg(&e, f, 14, "units.[0]: unit 0 is the broadcast address"), "unit 0, line 14");
	ok(has_msg(&e, f, 14, "functions.[0]: function 43 is decided by its MEI type"),
	   "plain 43, line 14");
	ok(has_msg(&e, f, 14, "functions.[1]: \"8/x\" is not a function code"),
	   "8/x, line 14");
	ok(has_msg(&e, f, 14, "max_quantity: 5000 is out of range"), "max_quantity, line 14");
	ok(has_msg(&e, f, 15, "holding_registers.[0]: range 5-2"), "range 5-2, line 15");
	ok(has_msg(&e, f, 15, "holding_registers.[1]: range 1-99999"), "range 1-99999, line 15");
	ok(has_msg(&e, f, 16, "input registers are read-only"), "read-only table, line 16");
	ok(has_msg(&e, f, 17, "value bounds -1..65535"), "negative bound, line 17");
	ok(has_msg(&e, f, 18, "'#' must be the whole last level"), "bad filter, line 18");
	ok(has_msg(&e, f, 19, "path \"api\""), "bad path, line 19");
	ok(has_msg(&e, f, 20, "shadow: expected true or false"), "shadow type, line 20");
	ok(has_msg(&e, f, 22, "needs to = \"zone\" or device = \"identity\""),
	   "no target, line 22");
	ok(has_msg(&e, f, 23, "functions: is empty"), "empty functions, line 23");
	ok(has_msg(&e, f, 23, "roles: is empty"), "empty roles, line 23");
	for (i = 0; i < e.n && i < e.cap; i++)
		prefixed += strncmp(e.msg[i], f, strlen(f)) == 0;
	ok(prefixed == e.n && e.n >= 21,
	   "every one of %zu messages starts with the file name", e.n);
	cfg_errs_free(&e);
	unlink(f);
}

/* Risky settings: each warned at its own line, none fails the load. */
static void
test_risky_settings(void)
{
	struct cfg_errs e;
	struct seg_policy *p;
	const char *f;

	f = write_tmp("zones = ( { name = \"a\"; }, { name = \"b\"; } );\n"
		      "conduits = ( { name = \"c\"; from = \"a\"; to = \"b\";\n"
		      "  shadow = true;\n"
		      "  modbus = { read = { coils = [\"0-65535\", \"0-99\"]; }; };\n"
		      "  mqtt = { subscribe = [\"site/#\", \"site/%u/#\"]; publish = [\"s/+/x\"]; };\n"
		      "}, { name = \"d\"; from = \"b\"; to = \"a\"; roles = [\"op\"];\n"
		      "  mqtt = { subscribe = [\"site/#\"]; }; } );\n");
	p = load(f, &e, NULL);
	ok(p != NULL && cfg_errs_count(&e) == 0 && e.warnings == 4,
	   "risky settings load with 4 warnings (got %zu)", e.warnings);
	ok(has_msg(&e, f, 3, "warning: conduits.[0].shadow: shadow conduit"),
	   "shadow conduit warned at its line");
	ok(has_msg(&e, f, 4, "warning: conduits.[0].modbus.read.coils.[0]: covers the whole address table"),
	   "0-65535 warned; 0-99 not");
	ok(has_msg(&e, f, 5, "warning: conduits.[0].mqtt.subscribe.[0]: wildcard filter shared") &&
	   has_msg(&e, f, 5, "warning: conduits.[0].mqtt.publish.[0]: wildcard filter shared"),
	   "wildcards not anchored to %%u warned; site/%%u/# and a conduit with roles not");
	seg_policy_unref(p);
	cfg_errs_free(&e);
	unlink(f);
}

static void
test_warnings_and_compile_errors(void)
{
	struct cfg_errs e;
	struct seg_policy *p;
	const char *f;

	f = write_tmp("zones = ( { name = \"a\"; } );\n"
		      "devices = ( { identity = \"x\"; zone = \"a\"; } );\n"
		      "conduits = ( { name = \"c\"; from = \"a\"; to = \"a\";\n"
		      "  modbus = { functions = (3, 90); read = { holding_registers = [\"0-9\"]; }; };\n"
		      "} );\n");
	p = load(f, &e, NULL);
	ok(p != NULL && cfg_errs_count(&e) == 0 && e.warnings == 1 &&
	   has_msg(&e, f, 4, "warning: conduits.[0].modbus.functions.[1]: function 90"),
	   "a warning does not fail the load");
	seg_policy_unref(p);
	cfg_errs_free(&e);
	unlink(f);

	f = write_tmp("zones = ( { name = \"a\"; } );\n"
		      "devices = (\n"
		      "  { identity = \"x\"; zone = \"a\"; bind = { address = \"10.0.0.1\"; ports = \"100-200\"; }; },\n"
		      "  { identity = \"y\"; zone = \"a\"; bind = { address = \"10.0.0.1\"; ports = 150; }; }\n"
		      ");\n"
		      "conduits = ( { name = \"c\"; from = \"a\"; to = \"a\";\n"
		      "  modbus = { write = { holding_registers = (\n"
		      "    { range = \"0-9\"; max = 5; },\n"
		      "    { range = 9; max = 6; } ); }; };\n"
		      "} );\n");
	p = load(f, &e, NULL);
	ok(p == NULL && cfg_errs_count(&e) == 2, "compile-time errors fail the load (%zu)",
	   cfg_errs_count(&e));
	ok(has_msg(&e, f, 4, "overlap ports 100-200 of device \"x\""),
	   "overlapping bindings point at the second one");
	ok(has_msg(&e, f, 9, "overlaps range 0-9"),
	   "overlapping write ranges with different bounds");
	cfg_errs_free(&e);
	unlink(f);

	f = write_tmp("# nothing but comments\n");
	p = load(f, &e, NULL);
	ok(p != NULL && e.n == 0, "an empty policy loads");
	{
		struct zg_op op = rd("x", ZG_ASSURANCE_CERT, NULL, "y", 3,
				     ZG_MB_HOLDING, 0, 1);
		struct zg_verdict v;

		ok(seg_decide(p, NULL, &op, &v) == ZG_DENY, "and denies everything");
	}
	seg_policy_unref(p);
	cfg_errs_free(&e);
	unlink(f);

	f = write_tmp("zones = { name = \"a\"; };\nconduits = 5;\n");
	p = load(f, &e, NULL);
	ok(p == NULL && has_msg(&e, f, 1, "zones: expected a list") &&
	   has_msg(&e, f, 2, "conduits: expected a list"), "top-level wrong types");
	cfg_errs_free(&e);
	unlink(f);
}

int
main(void)
{
	test_site();
	test_errors();
	test_warnings_and_compile_errors();
	test_risky_settings();
	return done_testing();
}
