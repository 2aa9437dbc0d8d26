/*
 * decide.c: one operation -> one verdict.
 *
 * The order of checks is the order of precedence (docs/policy.md):
 *
 *   1. internal errors (no policy, no operation): the fail mode;
 *   2. the runtime quarantine, for the caller and the target;
 *   3. who is calling and what it targets (unknown identities, identity
 *      asserted by address without a binding, configured quarantine);
 *   4. island mode and isolated zones, for cross-zone operations;
 *   5. a malformed operation;
 *   6. the conduits of the (caller zone, target) pair: device conduits
 *      then zone conduits, enforcing ones first; the first that allows
 *      decides;
 *   7. shadow conduits of the pair, when no enforcing conduit allowed:
 *      the operation passes, marked shadow, with what they would do;
 *   8. otherwise deny, with the reason of the conduit that got furthest.
 *
 * Nothing here allocates or takes a lock; reasons are only formatted for
 * the conduit that explains the verdict.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "segments/seg_int.h"

static const char *const proto_names[] = { "?", "modbus", "mqtt", "http" };

void
seg_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/*
 * The file part of a path, for reasons: a reason has ZG_REASON_MAX bytes,
 * and a deep install path would crowd out what matters.  The verdict
 * carries the full path in origin_file.
 */
static const char *
short_file(const char *path)
{
	const char *slash;

	if (path == NULL)
		return "?";
	slash = strrchr(path, '/');
	return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

void
seg_conduit_ref(const struct seg_conduit *c, char *buf, size_t len)
{
	if (c->file != NULL)
		seg_fmt(buf, len, "conduit %s (%s:%d)", c->name,
			short_file(c->file), c->line);
	else if (c->line > 0)
		seg_fmt(buf, len, "conduit %s (line %d)", c->name, c->line);
	else
		seg_fmt(buf, len, "conduit %s", c->name);
}

/*
 * Copy a peer-supplied string (at most n bytes, or up to its NUL) for a
 * reason: at most SHOW_MAX bytes, and anything but printable ASCII
 * becomes '?', so reasons are safe to log.  len must be at least 8.
 */
const char *
seg_show(const char *s, size_t n, char *buf, size_t len)
{
	size_t i;

	if (s == NULL)
		return "(none)";
	for (i = 0; i < n && s[i] != '\0' && i + 4 < len && i < SHOW_MAX; i++)
		buf[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n && s[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static const char *
show(const char *s, char *buf, size_t len)
{
	return seg_show(s, SIZE_MAX, buf, len);
}

__attribute__((format(printf, 2, 3))) static int
deny(struct zg_verdict *v, const char *fmt, ...)
{
	va_list ap;

	v->decision = ZG_DENY;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	return ZG_DENY;
}

/*
 * Every field, without memset: "rep stos" over the whole reason buffer
 * costs more than the rest of an allowed decision.  The reason is a
 * NUL-terminated string; bytes after its NUL are unspecified.
 */
static inline void
verdict_init(struct zg_verdict *v)
{
	v->decision = ZG_DENY;
	v->shadow = false;
	v->shadow_decision = ZG_DENY;
	v->rule = NULL;
	v->origin_file = NULL;
	v->origin_line = 0;
	v->from_zone = NULL;
	v->to_zone = NULL;
	v->reason[0] = '\0';
}

static int
internal(const struct seg_policy *p, const struct seg_state *st,
	 struct zg_verdict *v, const char *what)
{
	bool open = p != NULL && p->magic == SEG_MAGIC ? p->fail_open
						       : st != NULL && st->fail_open;

	if (v != NULL) {
		verdict_init(v);
		v->decision = open ? ZG_ALLOW : ZG_DENY;
		seg_fmt(v->reason, sizeof(v->reason),
			"internal error: %s; fail mode %s: %s", what,
			open ? "open" : "closed", open ? "allowed" : "denied");
	}
	return open ? ZG_ALLOW : ZG_DENY;
}

/* The allow reason, without printf on the hot path. */
static void
allow_reason(struct zg_verdict *v, const struct seg_conduit *c)
{
	static const char pre[] = "allowed by conduit ";

	memcpy(v->reason, pre, sizeof(pre) - 1);
	memcpy(v->reason + sizeof(pre) - 1, c->name, (size_t)c->namelen + 1);
}

static void
verdict_rule(struct zg_verdict *v, const struct seg_conduit *c)
{
	v->rule = c->name;
	v->origin_file = c->file;
	v->origin_line = c->line;
}

static bool
role_ok(const struct seg_conduit *c, const char *role)
{
	uint32_t i;

	if (c->nroles == 0)
		return true;
	if (role == NULL)
		return false;
	for (i = 0; i < c->nroles; i++)
		if (strcmp(c->roles[i], role) == 0)
			return true;
	return false;
}

/*
 * One conduit: the protocol's rules, then assurance and role.  The rules
 * are evaluated even when the identity requirements fail, so that a
 * deny can say "this conduit would allow it, with a certificate".
 */
static bool
conduit_eval(const struct seg_conduit *c, const struct zg_op *op,
	     const char *id, size_t idlen, struct seg_deny *d)
{
	uint8_t icode = SEG_D_NONE;
	bool ok;

	/* The protocol code that sets d->code sets the fields it needs. */
	d->code = SEG_D_NONE;
	d->c = c;
	if (op->assurance < c->min_assurance)
		icode = SEG_D_ASSURANCE;
	else if (!role_ok(c, op->role))
		icode = SEG_D_ROLE;
	switch (op->proto) {
	case ZG_PROTO_MODBUS:
		ok = seg_mb_eval(c, &op->u.modbus, d);
		break;
	case ZG_PROTO_MQTT:
		ok = seg_mqtt_eval(c, &op->u.mqtt, id, idlen, d);
		break;
	default:
		ok = seg_http_eval(c, &op->u.http, d);
		break;
	}
	if (icode == SEG_D_NONE) {
		d->rank = d->code;
		return ok;
	}
	d->c = c;
	d->code = icode;
	d->rank = ok ? SEG_RANK_IDENTITY_ONLY : icode;
	return false;
}

static void
roles_str(const struct seg_conduit *c, char *buf, size_t len)
{
	size_t off = 0;
	uint32_t i;

	buf[0] = '\0';
	for (i = 0; i < c->nroles && off + 8 < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
				 c->roles[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* The sentence for a conduit's deny. */
static void
deny_reason(const struct seg_deny *d, const struct zg_op *op, char *buf,
	    size_t len)
{
	char ref[ZG_REASON_MAX], tmp[SHOW_MAX + 8], roles[64];

	switch (d->code) {
	case SEG_D_ASSURANCE:
		seg_conduit_ref(d->c, ref, sizeof(ref));
		seg_fmt(buf, len,
			"%s requires a certificate identity; %s is identified by source address only",
			ref, show(op->identity, tmp, sizeof(tmp)));
		return;
	case SEG_D_ROLE:
		seg_conduit_ref(d->c, ref, sizeof(ref));
		roles_str(d->c, roles, sizeof(roles));
		if (op->role == NULL)
			seg_fmt(buf, len,
				"no role presented; %s admits roles %s", ref,
				roles);
		else
			seg_fmt(buf, len, "role %s is not among roles %s of %s",
				show(op->role, tmp, sizeof(tmp)), roles, ref);
		return;
	case SEG_D_NOPROTO:
		seg_conduit_ref(d->c, ref, sizeof(ref));
		seg_fmt(buf, len, "%s has no %s rules", ref,
			proto_names[op->proto]);
		return;
	default:
		break;
	}
	switch (op->proto) {
	case ZG_PROTO_MODBUS:
		seg_mb_reason(d, &op->u.modbus, buf, len);
		break;
	case ZG_PROTO_MQTT:
		seg_mqtt_reason(d, &op->u.mqtt, buf, len);
		break;
	default:
		seg_http_reason(d, &op->u.http, buf, len);
		break;
	}
}

static int
validate(const struct zg_op *op, char *err, size_t len)
{
	switch (op->proto) {
	case ZG_PROTO_MODBUS:
		return seg_mb_validate(&op->u.modbus, err, len);
	case ZG_PROTO_MQTT:
		return seg_mqtt_validate(&op->u.mqtt, err, len);
	case ZG_PROTO_HTTP:
		return seg_http_validate(&op->u.http, err, len);
	default:
		snprintf(err, len, "unknown protocol %u", (unsigned)op->proto);
		return -1;
	}
}

int
seg_decide(const struct seg_policy *p, const struct seg_state *st,
	   const struct zg_op *op, struct zg_verdict *v)
{
	const struct seg_smap_ent *ce, *te;
	const struct seg_zone *fz, *tz;
	const struct seg_kmap_ent *gs[2];
	struct seg_deny best, cur, shadow_best;
	const struct seg_conduit *shadow_allow = NULL, *shadow_first = NULL;
	size_t idlen, tlen;
	uint64_t idh, th;
	char a[SHOW_MAX + 8], err[128];
	unsigned gi, k;
	uint16_t czone, tzone;

	if (v == NULL)
		return internal(p, st, NULL, "no verdict to fill");
	if (p == NULL || p->magic != SEG_MAGIC)
		return internal(p, st, v, "no policy loaded");
	if (op == NULL)
		return internal(p, st, v, "no operation");
	verdict_init(v);

	/* 2-3: who is calling, what is targeted. */
	if (op->identity == NULL || op->identity[0] == '\0' ||
	    op->assurance == ZG_ASSURANCE_NONE)
		return deny(v, "peer has no established identity");
	if (op->assurance > ZG_ASSURANCE_CERT)
		return deny(v, "malformed operation: unknown assurance %u",
			    (unsigned)op->assurance);
	idlen = strnlen(op->identity, SEG_IDENTITY_MAX + 1);
	if (idlen > SEG_IDENTITY_MAX)
		return deny(v, "identity %s is longer than %d bytes",
			    show(op->identity, a, sizeof(a)), SEG_IDENTITY_MAX);
	idh = seg_hash(op->identity, idlen);
	if (st != NULL && seg_state_has(st, op->identity, idlen, idh))
		return deny(v, "identity %s is quarantined",
			    show(op->identity, a, sizeof(a)));
	tlen = 0;
	th = 0;
	if (op->target != NULL) {
		tlen = strnlen(op->target, SEG_IDENTITY_MAX + 1);
		if (tlen <= SEG_IDENTITY_MAX) {
			th = seg_hash(op->target, tlen);
			if (st != NULL && seg_state_has(st, op->target, tlen, th))
				return deny(v, "target %s is quarantined",
					    show(op->target, a, sizeof(a)));
		}
	}
	/*
	 * From here on op->identity and op->target equal configured
	 * identities when they are printed: no need to sanitise them.
	 */
	ce = seg_smap_find(&p->dev_map, op->identity, idlen, idh);
	if (ce == NULL)
		return deny(v, "unknown identity %s",
			    show(op->identity, a, sizeof(a)));
	czone = SEG_AUX_ZONE(ce->aux);
	fz = &p->zones[czone];
	v->from_zone = fz->name;
	if (czone == SEG_ZONE_QUARANTINE) {
		const struct seg_device *d = &p->devs[ce->idx];

		return deny(v, "identity %s is in zone quarantine (%s:%d)",
			    d->identity, short_file(d->file), d->line);
	}
	if (op->assurance == ZG_ASSURANCE_ADDRESS && !SEG_AUX_BOUND(ce->aux))
		return deny(v,
			    "identity %s was asserted by address but has no address binding",
			    op->identity);
	if (op->target == NULL || op->target[0] == '\0')
		return deny(v, "operation names no target device");
	te = tlen <= SEG_IDENTITY_MAX
		     ? seg_smap_find(&p->dev_map, op->target, tlen, th)
		     : NULL;
	if (te == NULL)
		return deny(v, "unknown target device %s",
			    show(op->target, a, sizeof(a)));
	tzone = SEG_AUX_ZONE(te->aux);
	tz = &p->zones[tzone];
	v->to_zone = tz->name;
	if (tzone == SEG_ZONE_QUARANTINE) {
		const struct seg_device *d = &p->devs[te->idx];

		return deny(v, "target %s is in zone quarantine (%s:%d)",
			    d->identity, short_file(d->file), d->line);
	}

	/* 4: island mode and isolated zones. */
	if (czone != tzone) {
		if (p->island || (st != NULL && st->island))
			return deny(v,
				    "island mode: no operation crosses zones (%s to %s)",
				    fz->name, tz->name);
		if (fz->isolated || tz->isolated)
			return deny(v,
				    "zone %s is isolated: no operation crosses its boundary (%s to %s)",
				    fz->isolated ? fz->name : tz->name,
				    fz->name, tz->name);
	}

	/* 5: malformed operations are ordinary denials. */
	if (validate(op, err, sizeof(err)) < 0)
		return deny(v, "malformed %s operation from %s: %s",
			    op->proto <= ZG_PROTO_HTTP ? proto_names[op->proto]
			    : "?",
			    op->identity, err);

	/* 6: enforcing conduits, device ones first. */
	gs[0] = SEG_AUX_TARGET(te->aux)
			? seg_kmap_find(&p->group_map, SEG_KEY_DEV(czone, te->idx))
			: NULL;
	gs[1] = seg_kmap_find(&p->group_map, SEG_KEY_ZONE(czone, tzone));
	if (gs[0] == NULL && gs[1] == NULL)
		return deny(v, "no conduit from zone %s to zone %s (target %s)",
			    fz->name, tz->name, op->target);
	best.rank = 0;
	best.c = NULL;
	for (gi = 0; gi < 2; gi++) {
		const struct seg_kmap_ent *g = gs[gi];

		for (k = 0; g != NULL && k < g->a; k++) {
			const struct seg_conduit *c = &p->conds[g->idx + k];

			if (conduit_eval(c, op, op->identity, idlen, &cur)) {
				v->decision = ZG_ALLOW;
				verdict_rule(v, c);
				allow_reason(v, c);
				return ZG_ALLOW;
			}
			if (cur.rank > best.rank)
				best = cur;
		}
	}

	/* 7: shadow conduits of the pair. */
	shadow_best.rank = 0;
	shadow_best.c = NULL;
	for (gi = 0; gi < 2 && shadow_allow == NULL; gi++) {
		const struct seg_kmap_ent *g = gs[gi];

		for (k = 0; g != NULL && k < g->b; k++) {
			const struct seg_conduit *c = &p->conds[g->idx + g->a + k];

			if (shadow_first == NULL)
				shadow_first = c;
			if (conduit_eval(c, op, op->identity, idlen, &cur)) {
				shadow_allow = c;
				break;
			}
			if (cur.rank > shadow_best.rank)
				shadow_best = cur;
		}
	}
	if (shadow_first != NULL) {
		v->decision = ZG_ALLOW;
		v->shadow = true;
		if (shadow_allow != NULL) {
			v->shadow_decision = ZG_ALLOW;
			verdict_rule(v, shadow_allow);
			seg_fmt(v->reason, sizeof(v->reason),
				"not enforced: shadow conduit %s would allow",
				shadow_allow->name);
		} else {
			char r[ZG_REASON_MAX];

			if (shadow_best.c == NULL) {
				shadow_best.c = shadow_first;
				shadow_best.code = SEG_D_NOPROTO;
			}
			v->shadow_decision = ZG_DENY;
			verdict_rule(v, shadow_best.c);
			deny_reason(&shadow_best, op, r, sizeof(r));
			seg_fmt(v->reason, sizeof(v->reason),
				"not enforced: shadow would deny: %s", r);
		}
		return ZG_ALLOW;
	}

	/* 8: deny with the reason of the conduit that got furthest. */
	if (best.c == NULL)
		return deny(v, "no conduit from zone %s to zone %s (target %s)",
			    fz->name, tz->name, op->target);
	verdict_rule(v, best.c);
	deny_reason(&best, op, v->reason, sizeof(v->reason));
	v->decision = ZG_DENY;
	return ZG_DENY;
}
