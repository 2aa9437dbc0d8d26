/*
 * test_core: pure parts of the daemon core: address parsing, config
 * loading from text (every error with its line), JSON escaping, event
 * rendering.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "gateway/conf.h"
#include "gateway/events.h"
#include "gateway/log.h"
#include "gateway/netaddr.h"
#include "tests/unit/tap.h"

static int
parses(const char *s, const char *expect_back)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128], back[NETADDR_STRLEN];

	if (netaddr_parse(s, &ss, &len, err, sizeof(err)) < 0)
		return expect_back == NULL;
	netaddr_format((struct sockaddr *)&ss, back, sizeof(back));
	return expect_back != NULL && strcmp(back, expect_back) == 0;
}

/* Does the error list hold a line that starts with `prefix'? */
static int
has_err(const struct cfg_errs *e, const char *prefix)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strncmp(e->msg[i], prefix, strlen(prefix)) == 0)
			return 1;
	for (i = 0; i < e->n; i++)
		diag("error: %s", e->msg[i]);
	return 0;
}

int
main(void)
{
	struct cfg_errs e;
	struct zg_conf *c;
	char buf[512];

	plan(32);
	ok(parses("127.0.0.1:5020", "127.0.0.1:5020"), "ipv4:port");
	ok(parses("[::1]:802", "[::1]:802"), "[ipv6]:port");
	ok(parses("0.0.0.0:0", "0.0.0.0:0"), "port 0");
	ok(parses("127.0.0.1:65536", NULL), "port 65536 refused");
	ok(parses("127.0.0.1:-1", NULL), "negative port refused");
	ok(parses("127.0.0.1:", NULL), "missing port refused");
	ok(parses("localhost:80", NULL), "names are not resolved");
	ok(parses("::1:80", NULL), "bare ipv6 without brackets refused");
	ok(parses("[::1]80", NULL), "ipv6 without colon refused");
	ok(parses("1.2.3.4:5x", NULL), "trailing garbage in port refused");

	cfg_errs_init(&e);
	c = conf_load_text("gateway = { id = \"gw-1\"; shutdown_timeout = 1; };\n"
			   "log = { format = \"json\"; level = \"debug\"; };\n",
			   "t.conf", &e);
	ok(c != NULL && cfg_errs_count(&e) == 0, "valid text loads");
	ok(c && strcmp(c->id, "gw-1") == 0, "gateway.id read");
	ok(c && c->shutdown_timeout == 1.0, "integer accepted for a number");
	ok(c && c->log.format == LOG_JSON && c->log.level == ZG_LOG_DEBUG,
	   "log settings read");
	ok(c && c->fail_mode == 0 && !c->island_mode,
	   "defaults: fail closed, no island mode");
	conf_free(c);
	cfg_errs_free(&e);

	cfg_errs_init(&e);
	c = conf_load_text("gateway = {\n id = 3;\n nope = 1;\n};\nextra = 1;\n"
			   "plugins = ( { name = \"a\"; }, { name = \"a\"; } );\n",
			   "t.conf", &e);
	ok(c == NULL, "bad text refused");
	ok(has_err(&e, "?:2: gateway.id: expected a string"),
	   "wrong type reported with line");
	ok(has_err(&e, "?:3: gateway.nope: unknown key"),
	   "unknown nested key reported with line");
	ok(has_err(&e, "?:5: extra: unknown key"),
	   "unknown top-level key reported with line");
	ok(has_err(&e, "?:6: plugins.[1].name: plugin \"a\" is already loaded"),
	   "duplicate plugin reported");
	ok(cfg_errs_count(&e) == 4, "all four errors collected (got %zu)",
	   cfg_errs_count(&e));
	cfg_errs_free(&e);

	/* gateway.user / group / seccomp */
	cfg_errs_init(&e);
	c = conf_load_text("gateway = { id = \"g\"; };\n", "t.conf", &e);
	ok(c && strcmp(c->user, CONF_DEFAULT_USER) == 0 && !c->user_explicit &&
	   c->group == NULL && c->seccomp == CONF_DEFAULT_SECCOMP,
	   "sandbox defaults: user %s (not explicit), primary group, seccomp %s",
	   CONF_DEFAULT_USER, conf_seccomp_names[CONF_DEFAULT_SECCOMP]);
	ok(e.warnings == 0, "defaults draw no warning");
	conf_free(c);
	cfg_errs_free(&e);
	cfg_errs_init(&e);
	c = conf_load_text("gateway = {\n user = \"svc\";\n group = \"dialout\";\n"
			   " seccomp = \"off\";\n};\n", "t.conf", &e);
	ok(c && strcmp(c->user, "svc") == 0 && c->user_explicit &&
	   c->group && strcmp(c->group, "dialout") == 0 &&
	   c->seccomp == SECCOMP_OFF, "user, group and seccomp read");
	ok(e.warnings == 1 && has_err(&e, "?:4: warning: gateway.seccomp:"),
	   "seccomp off warned at its line");
	conf_free(c);
	cfg_errs_free(&e);
	cfg_errs_init(&e);
	c = conf_load_text("gateway = {\n user = \"\";\n group = \"g\";\n"
			   " seccomp = \"maybe\";\n};\n", "t.conf", &e);
	ok(c == NULL, "bad sandbox settings refused");
	ok(has_err(&e, "?:3: gateway.group: needs a user"),
	   "a group without a user is an error");
	ok(has_err(&e, "?:4: gateway.seccomp:"), "unknown seccomp mode is an error");
	ok(has_err(&e, "?:2: warning: gateway.user: user = \"\" keeps the privileges"),
	   "user = \"\" warned");
	cfg_errs_free(&e);

	json_escape(buf, sizeof(buf), "a\"b\\c\nd\x01");
	ok(strcmp(buf, "a\\\"b\\\\c\\nd\\u0001") == 0, "json escaping: %s",
	   buf);
	{
		struct zg_verdict v = { .decision = ZG_DENY, .rule = "r1",
					.origin_file = "f.conf",
					.origin_line = 9 };
		struct zg_event ev = { .kind = "modbus.denied",
				       .severity = ZG_SEV_MEDIUM,
				       .peer = "127.0.0.1:1", .verdict = &v };

		snprintf(v.reason, sizeof(v.reason), "no \"conduit\"");
		ok(events_format_json("modbus", &ev, buf, sizeof(buf)) == 0,
		   "event renders");
		ok(strstr(buf, "\"kind\":\"modbus.denied\"") &&
			   strstr(buf, "\"rule_origin\":\"f.conf:9\"") &&
			   strstr(buf, "\"reason\":\"no \\\"conduit\\\"\""),
		   "event JSON carries kind, rule origin and escaped reason: %s",
		   buf);
	}
	return done_testing();
}
