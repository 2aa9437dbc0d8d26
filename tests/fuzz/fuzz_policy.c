/*
 * fuzz_policy: zones / devices / conduits text -> policy_conf_load ->
 * compiled policy -> a few hundred decisions derived from the input.
 *
 * Must never crash, leak or read out of bounds.  It also checks what
 * must hold for every verdict, whatever the policy says, and traps when
 * it does not:
 *   - the reason is a NUL-terminated string;
 *   - an enforced ALLOW names the conduit that allowed it (deny by
 *     default: nothing else can allow);
 *   - a shadow verdict is an ALLOW;
 *   - deciding twice gives the same verdict;
 *   - with the runtime island switch on, nothing crosses zones;
 *   - a runtime-quarantined caller is always denied.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/policy_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (64 * 1024)
#define MAX_DEVS 12

struct rng {
	uint64_t s;
};

static uint32_t
rnd(struct rng *r)
{
	r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(r->s >> 33);
}

static uint32_t
pick(struct rng *r, uint32_t n)
{
	return n ? rnd(r) % n : 0;
}

static void
check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void
check_verdict(const struct zg_verdict *v, int ret)
{
	check(ret == v->decision);
	check(v->decision == ZG_ALLOW || v->decision == ZG_DENY);
	check(memchr(v->reason, '\0', sizeof(v->reason)) != NULL);
	if (v->shadow)
		check(v->decision == ZG_ALLOW);
	if (v->decision == ZG_ALLOW && !v->shadow)
		check(v->rule != NULL);
}

static const char *const topics[] = { "site/%s/temp", "site/%s/cmd/x", "#",
	"site/+/cmd/#", "$SYS/%s", "site/%s", "a/b/c", "clients/%s/in/x",
	"site/%s/#", "+/+", "" };
static const char *const paths[] = { "/api/", "/api/x?y=1", "/api", "/",
	"/telemetry/a", "/api/../admin", "/a%2fb", "/x/./y", "/telemetryx" };
static const char *const methods[] = { "GET", "POST", "get", "PUT", "" };

/* A Modbus request with random, sometimes ill-formed, fields. */
static void
rand_modbus(struct rng *r, struct zg_modbus_op *m, uint16_t *vals)
{
	static const uint8_t fcs[] = { 1, 2, 3, 4, 5, 6, 8, 15, 16, 22, 23, 24,
				       43, 90, 65, 7, 0, 128 };
	unsigned i;

	memset(m, 0, sizeof(*m));
	m->unit = (uint8_t)(pick(r, 4) == 0 ? pick(r, 256) : pick(r, 3));
	m->fc = fcs[pick(r, sizeof(fcs))];
	m->subfn = (uint16_t)pick(r, 22);
	m->mei = (uint8_t)(12 + pick(r, 4));
	m->nspans = (uint8_t)pick(r, 4);
	if (m->nspans > 2 && pick(r, 2))
		m->nspans = 2;
	for (i = 0; i < m->nspans && i < 2; i++) {
		m->spans[i].table = (uint8_t)pick(r, 5);
		m->spans[i].access = (uint8_t)(1 + pick(r, 2));
		m->spans[i].addr = (uint16_t)(pick(r, 2) ? pick(r, 200) : rnd(r));
		m->spans[i].qty = (uint16_t)(pick(r, 8) ? 1 + pick(r, 130) : rnd(r));
	}
	if (pick(r, 2)) {
		for (i = 0; i < 125; i++)
			vals[i] = (uint16_t)(pick(r, 2) ? pick(r, 1100) : rnd(r));
		m->values = vals;
		m->nvalues = (uint16_t)(m->nspans == 0 ? 1
					: m->spans[m->nspans > 2 ? 1 : m->nspans - 1].qty);
		if (m->nvalues > 125) {
			m->values = NULL;
			m->nvalues = 0;
		}
	}
}

static void
exercise(const struct seg_policy *p, struct rng *r)
{
	const char *ids[MAX_DEVS + 2];
	struct seg_device_info di;
	struct seg_state *st = seg_state_new();
	struct zg_verdict v, v2;
	uint16_t vals[125];
	char topic[600];
	size_t n = 0, i, k;

	if (st == NULL)
		return;
	for (i = 0; n < MAX_DEVS && seg_device_get(p, i, &di) == 0; i++)
		ids[n++] = di.identity;
	ids[n++] = "nobody";
	ids[n++] = NULL;
	for (k = 0; k < 256; k++) {
		struct zg_op op;
		int ret;

		memset(&op, 0, sizeof(op));
		op.identity = ids[pick(r, (uint32_t)n)];
		op.target = ids[pick(r, (uint32_t)n)];
		op.assurance = (uint8_t)pick(r, 4);
		op.role = pick(r, 2) ? "operator" : (pick(r, 2) ? "engineer" : NULL);
		op.proto = (uint8_t)(1 + pick(r, 4));
		switch (op.proto) {
		case ZG_PROTO_MODBUS:
			rand_modbus(r, &op.u.modbus, vals);
			break;
		case ZG_PROTO_MQTT:
			snprintf(topic, sizeof(topic),
				 topics[pick(r, sizeof(topics) / sizeof(topics[0]))],
				 op.identity ? op.identity : "x");
			op.u.mqtt.action = (uint8_t)(1 + pick(r, 2));
			op.u.mqtt.topic = topic;
			op.u.mqtt.topic_len = strlen(topic);
			op.u.mqtt.client_id = pick(r, 2) ? "c1" : (pick(r, 2) ? "+" : NULL);
			break;
		default:
			op.u.http.method = methods[pick(r, sizeof(methods) / sizeof(methods[0]))];
			op.u.http.path = paths[pick(r, sizeof(paths) / sizeof(paths[0]))];
			break;
		}
		ret = seg_decide(p, st, &op, &v);
		check_verdict(&v, ret);
		check(seg_decide(p, st, &op, &v2) == ret && v2.shadow == v.shadow &&
		      strcmp(v.reason, v2.reason) == 0);

		seg_state_set_island(st, true);
		ret = seg_decide(p, st, &op, &v2);
		check_verdict(&v2, ret);
		if (ret == ZG_ALLOW)
			check(v2.from_zone && v2.to_zone &&
			      strcmp(v2.from_zone, v2.to_zone) == 0);
		seg_state_set_island(st, false);

		if (op.identity != NULL && seg_quarantine_set(st, op.identity, true) == 0) {
			ret = seg_decide(p, st, &op, &v2);
			check_verdict(&v2, ret);
			check(ret == ZG_DENY);
			seg_quarantine_set(st, op.identity, false);
		}
	}
	{
		struct sockaddr_in s4;
		char buf[300];

		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		inet_pton(AF_INET, pick(r, 2) ? "127.0.0.1" : "10.0.0.1", &s4.sin_addr);
		s4.sin_port = htons((uint16_t)rnd(r));
		if (seg_identify_addr(p, (struct sockaddr *)&s4, sizeof(s4), buf,
				      sizeof(buf)) == 0)
			check(seg_device_find(p, buf, &di) == 0);
	}
	seg_state_free(st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	struct policy_opts po;
	struct seg_policy *p = NULL;
	struct cfg_errs e;
	struct rng r;
	config_t cfg;
	char *text;
	size_t i;

	if (size > MAX_INPUT)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* libconfig would read the named file: not the fuzzer's business. */
	for (i = 0; i < size; i++) {
		if (text[i] == '@' && strncasecmp(text + i, "@include", 8) == 0) {
			free(text);
			return 0;
		}
	}
	r.s = 0x243f6a8885a308d3ull;
	for (i = 0; i < size; i++)
		r.s = (r.s ^ data[i]) * 0x100000001b3ull;
	po.fail_open = (r.s & 1) != 0;
	po.island_mode = (r.s & 6) == 6;

	config_init(&cfg);
	if (config_read_string(&cfg, text) == CONFIG_TRUE) {
		cfg_errs_init(&e);
		if (policy_conf_load(&e, &cfg, &po, &p) == 0) {
			check(p != NULL && cfg_errs_count(&e) == 0);
			if (null == NULL)
				null = fopen("/dev/null", "w");
			if (null != NULL)
				policy_summary(null, p);
			exercise(p, &r);
			seg_policy_unref(p);
		} else {
			check(p == NULL && cfg_errs_count(&e) > 0);
		}
		cfg_errs_free(&e);
	}
	config_destroy(&cfg);
	free(text);
	return 0;
}
