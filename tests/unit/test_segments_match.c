/*
 * test_segments_match: the pure matchers under the engine (MQTT topic
 * filters, HTTP paths, Modbus function tables, hash maps), table-driven
 * through the engine's internal header.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segments/seg_int.h"
#include "tests/unit/tap.h"

struct pair {
	const char *a, *b;
	bool want;
};

/* filter, topic name, matches? */
static const struct pair topic_cases[] = {
	{ "a/b", "a/b", true },
	{ "a/b", "a/b/c", false },
	{ "a/b", "a", false },
	{ "a/+", "a/b", true },
	{ "a/+", "a/", true },        /* + matches an empty level */
	{ "a/+", "a", false },
	{ "a/+", "a/b/c", false },
	{ "a/#", "a", true },         /* # includes the parent */
	{ "a/#", "a/b/c", true },
	{ "a/#", "ab", false },
	{ "+/b", "a/b", true },
	{ "+/+", "/b", true },
	{ "#", "a/b", true },
	{ "#", "$SYS/x", false },     /* 4.7.2 */
	{ "+/x", "$SYS/x", false },
	{ "$SYS/#", "$SYS/x", true },
	{ "a//b", "a//b", true },
	{ "a/b/", "a/b/", true },
	{ "a/b/", "a/b", false },
	{ "site/plc-1/#", "site/plc-10/x", false },
};

/* allowed filter, requested filter, covered? */
static const struct pair cover_cases[] = {
	{ "#", "#", true },
	{ "#", "a/+/#", true },
	{ "#", "$SYS/#", false },
	{ "site/u/#", "#", false },
	{ "site/u/#", "site/u/#", true },
	{ "site/u/#", "site/u", true },
	{ "site/u/#", "site/u/a/+", true },
	{ "site/u/#", "site/+/a", false },
	{ "site/u/#", "site/#", false },
	{ "site/+/cmd", "site/x/cmd", true },
	{ "site/+/cmd", "site/+/cmd", true },
	{ "site/+/cmd", "site/#", false },
	{ "site/+/cmd", "site/x/cmd/y", false },
	{ "site/+/cmd", "site/x", false },
	{ "a/b", "a/b", true },
	{ "a/b", "a/+", false },
	{ "a/+", "a/#", false },
	{ "a/+/#", "a/b", true },
	{ "a/+/#", "a", false },
};

static const char *const bad_filters[] = { "", "a/#/b", "a/b#", "a/+b",
					   "+a", "a/%", "a/%x", NULL };
static const char *const good_filters[] = { "#", "+", "a/+/b/#", "%u",
					    "dev-%c/x", "100%%", NULL };

/* rule prefix, request path (no query), matches? */
static const struct pair path_cases[] = {
	{ "/api/", "/api/", true },
	{ "/api/", "/api/x/y", true },
	{ "/api/", "/api", false },
	{ "/api", "/api", true },
	{ "/api", "/api/x", true },
	{ "/api", "/apix", false },
	{ "/", "/anything", true },
	{ "/a/b", "/a", false },
};

static const char *const bad_paths[] = { "api", "/a/../b", "/a/./b", "/a/..",
	"/a/.", "/a/%2e%2e/b", "/a/%2F", "/a\\b", "/a b", "/a%00", "/a/\x01",
	NULL };
static const char *const good_paths[] = { "/", "/a/.hidden", "/a/..x",
	"/a/b?x=/../", "/a%20b", NULL };

static void
test_topics(void)
{
	size_t i;
	char err[128];

	for (i = 0; i < sizeof(topic_cases) / sizeof(topic_cases[0]); i++) {
		const struct pair *c = &topic_cases[i];

		ok(seg_topic_match(c->a, strlen(c->a), c->b, strlen(c->b)) == c->want,
		   "filter %s %s topic %s", c->a, c->want ? "matches" : "does not match",
		   c->b);
	}
	for (i = 0; i < sizeof(cover_cases) / sizeof(cover_cases[0]); i++) {
		const struct pair *c = &cover_cases[i];

		ok(seg_filter_covers(c->a, strlen(c->a), c->b, strlen(c->b)) == c->want,
		   "allowed %s %s requested %s", c->a,
		   c->want ? "covers" : "does not cover", c->b);
	}
	for (i = 0; bad_filters[i] != NULL; i++)
		ok(seg_filter_check(bad_filters[i], strlen(bad_filters[i]), true,
				    err, sizeof(err)) < 0,
		   "filter \"%s\" refused (%s)", bad_filters[i], err);
	for (i = 0; good_filters[i] != NULL; i++)
		ok(seg_filter_check(good_filters[i], strlen(good_filters[i]), true,
				    err, sizeof(err)) == 0,
		   "filter \"%s\" accepted", good_filters[i]);
	ok(seg_filter_check("a/%x", 4, false, err, sizeof(err)) == 0,
	   "a requested filter may hold '%%' (no substitution there)");
}

static void
test_expand(void)
{
	struct seg_filter f;
	char buf[64];
	long n;

	f.text = "site/%u/%c/100%%";
	f.len = (uint32_t)strlen(f.text);
	f.subst = true;
	n = seg_filter_expand(&f, "spiffe://p/hmi-1", 16, "cl1", buf, sizeof(buf));
	ok(n > 0 && (size_t)n == strlen("site/spiffe://p/hmi-1/cl1/100%") &&
	   memcmp(buf, "site/spiffe://p/hmi-1/cl1/100%", (size_t)n) == 0,
	   "%%u, %%c and %%%% expand (%.*s)", (int)(n > 0 ? n : 0), buf);
	ok(seg_filter_expand(&f, "x+", 2, "c", buf, sizeof(buf)) < 0,
	   "identity holding '+' is not substituted");
	ok(seg_filter_expand(&f, "x", 1, "#", buf, sizeof(buf)) < 0,
	   "client id '#' is not substituted");
	ok(seg_filter_expand(&f, "x", 1, "a/b", buf, sizeof(buf)) < 0,
	   "client id holding '/' is not substituted");
	ok(seg_filter_expand(&f, "x", 1, NULL, buf, sizeof(buf)) < 0,
	   "missing client id");
	ok(seg_filter_expand(&f, "x", 1, "c", buf, 8) < 0, "result too long");
}

static void
test_paths(void)
{
	size_t i;
	char err[128];

	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct pair *c = &path_cases[i];

		ok(seg_http_path_match(c->a, strlen(c->a), c->b, strlen(c->b)) ==
			   c->want,
		   "prefix %s %s %s", c->a, c->want ? "matches" : "does not match",
		   c->b);
	}
	for (i = 0; bad_paths[i] != NULL; i++)
		ok(seg_http_path_check(bad_paths[i], err, sizeof(err)) < 0,
		   "path #%zu refused (%s)", i, err);
	for (i = 0; good_paths[i] != NULL; i++)
		ok(seg_http_path_check(good_paths[i], err, sizeof(err)) == 0,
		   "path %s accepted", good_paths[i]);
	ok(seg_http_method_ok("GET") && seg_http_method_ok("M-SEARCH") &&
	   !seg_http_method_ok("GE T") && !seg_http_method_ok("") &&
	   !seg_http_method_ok("G\r\n"), "method tokens");
}

static void
test_modbus_tables(void)
{
	unsigned fc, sub, npub = 0;
	struct zg_modbus_op m;
	char err[128];

	for (fc = 1; fc <= 127; fc++)
		npub += seg_fc_public(fc);
	ok(npub == 19, "19 public function codes (%u)", npub);
	ok(!seg_fc_public(90) && !seg_fc_public(65) && !seg_fc_public(100) &&
	   !seg_fc_public(9), "90, 65, 100, 9 are not public");
	for (sub = 0; sub <= 30; sub++)
		if (seg_fc8_plain_ok(sub) &&
		    (sub == 1 || sub == 3 || sub == 4 || sub == 10 || sub == 20))
			break;
	ok(sub == 31, "plain FC 8 never includes 1, 3, 4, 10, 20");

	memset(&m, 0, sizeof(m));
	m.fc = 5;
	m.nspans = 1;
	m.spans[0].table = ZG_MB_COILS;
	m.spans[0].access = ZG_MB_WRITE;
	m.spans[0].addr = 0;
	m.spans[0].qty = 1;
	ok(seg_mb_validate(&m, err, sizeof(err)) == 0, "FC 5, one coil");
	m.spans[0].qty = 2;
	ok(seg_mb_validate(&m, err, sizeof(err)) < 0, "FC 5, two coils refused");
	m.fc = 3;
	m.spans[0].qty = 1;
	ok(seg_mb_validate(&m, err, sizeof(err)) < 0, "FC 3 with a coil write span refused");
	m.spans[0].table = ZG_MB_HOLDING;
	m.spans[0].access = ZG_MB_READ;
	m.spans[0].addr = 65535;
	ok(seg_mb_validate(&m, err, sizeof(err)) == 0, "FC 3 at 65535, one register");
	m.spans[0].qty = 2;
	ok(seg_mb_validate(&m, err, sizeof(err)) < 0, "FC 3 past 65535 refused");
	m.spans[0].addr = 0;
	m.spans[0].qty = 126;
	ok(seg_mb_validate(&m, err, sizeof(err)) < 0, "FC 3 of 126 registers refused");
	m.fc = 23;
	m.spans[0].qty = 10;
	m.nspans = 2;
	m.spans[1] = m.spans[0];
	m.spans[1].access = ZG_MB_WRITE;
	ok(seg_mb_validate(&m, err, sizeof(err)) == 0, "FC 23 read + write");
	m.spans[1].access = ZG_MB_READ;
	ok(seg_mb_validate(&m, err, sizeof(err)) < 0, "FC 23 with two reads refused");
}

static void
test_maps(void)
{
	struct seg_smap m;
	char keys[3000][16];
	int i, good = 1;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < 3000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		if (seg_smap_put(&m, keys[i], strlen(keys[i]),
				 seg_hash(keys[i], strlen(keys[i])),
				 (uint32_t)i) < 0)
			good = 0;
	}
	for (i = 0; i < 3000; i++)
		if (seg_smap_get(&m, keys[i], strlen(keys[i]),
				 seg_hash(keys[i], strlen(keys[i]))) != i)
			good = 0;
	ok(good && m.n == 3000 && m.cap >= 6000, "string map: 3000 keys");
	ok(seg_smap_get(&m, "k3000", 5, seg_hash("k3000", 5)) == -1,
	   "string map: absent key");
	seg_smap_free(&m);
	ok(seg_hash("abcdefgh1", 9) != seg_hash("abcdefgh2", 9) &&
	   seg_hash("", 0) != seg_hash("a", 1), "hash tails differ");
}

int
main(void)
{
	test_topics();
	test_expand();
	test_paths();
	test_modbus_tables();
	test_maps();
	return done_testing();
}
