/*
 * topic.c: MQTT topic filters: syntax, matching a topic name, deciding
 * whether one filter covers another (for SUBSCRIBE), and the %u / %c
 * substitutions.
 *
 * MQTT 3.1.1 / 5.0 rules applied: levels are separated by '/'; '+'
 * stands for exactly one level and must fill its level; '#' stands for
 * any number of levels (also none: "a/#" matches "a") and must be the
 * last level; a filter starting with a wildcard does not match topics
 * starting with '$' (4.7.2).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

#include "segments/seg_int.h"

#define EXPAND_MAX (SEG_TEXT_MAX + 2 * SEG_IDENTITY_MAX + 64)

/*
 * A filter as written in the configuration (allow_subst: %u, %c, %%) or
 * as requested by a client (no substitutions: '%' is an ordinary
 * character there).  Refuses empty filters, NUL bytes, and misplaced
 * wildcards.
 */
int
seg_filter_check(const char *f, size_t len, bool allow_subst, char *err,
		 size_t errlen)
{
	size_t i;

	if (len == 0) {
		snprintf(err, errlen, "empty topic filter");
		return -1;
	}
	for (i = 0; i < len; i++) {
		bool lstart = i == 0 || f[i - 1] == '/';
		bool lend = i + 1 == len || f[i + 1] == '/';

		switch (f[i]) {
		case '\0':
			snprintf(err, errlen, "NUL byte in topic filter");
			return -1;
		case '+':
			if (!lstart || !lend) {
				snprintf(err, errlen,
					 "'+' must be a whole level (\"a/+/b\")");
				return -1;
			}
			break;
		case '#':
			if (!lstart || i + 1 != len) {
				snprintf(err, errlen,
					 "'#' must be the whole last level (\"a/#\")");
				return -1;
			}
			break;
		case '%':
			if (!allow_subst)
				break;
			if (i + 1 < len &&
			    (f[i + 1] == 'u' || f[i + 1] == 'c' || f[i + 1] == '%')) {
				i++;
				break;
			}
			snprintf(err, errlen,
				 "'%%' must be followed by u (identity), c (client id) or %% (a literal %%)");
			return -1;
		default:
			break;
		}
	}
	return 0;
}

/* Length of the level starting at s[i] (up to '/' or the end). */
static size_t
level_len(const char *s, size_t i, size_t n)
{
	const char *slash = memchr(s + i, '/', n - i);

	return slash ? (size_t)(slash - (s + i)) : n - i;
}

/*
 * Does filter f match topic name t (which holds no wildcards)?  Walks
 * both a level at a time, without copying.
 */
bool
seg_topic_match(const char *f, size_t flen, const char *t, size_t tlen)
{
	size_t fi = 0, ti = 0;

	if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		size_t fl = level_len(f, fi, flen), tl = level_len(t, ti, tlen);

		if (fl == 1 && f[fi] == '#')
			return true;
		if (!(fl == 1 && f[fi] == '+') &&
		    (fl != tl || memcmp(f + fi, t + ti, fl) != 0))
			return false;
		fi += fl;
		ti += tl;
		if (fi == flen && ti == tlen)
			return true;
		if (ti == tlen) /* "a/#" matches "a" */
			return flen - fi == 2 && f[fi + 1] == '#';
		if (fi == flen)
			return false;
		fi++; /* both at '/' */
		ti++;
	}
}

/*
 * Is every topic matched by requested filter r also matched by allowed
 * filter a?  Level by level: '#' in a covers the rest; '+' in a covers
 * one level of r that is a name or '+'; a name in a covers only the same
 * name.  So "site/%u/#" does not cover "#" nor "site/+/x".
 */
bool
seg_filter_covers(const char *a, size_t alen, const char *r, size_t rlen)
{
	size_t ai = 0, ri = 0;

	/* r may match "$..." topics only if it starts with a '$' name. */
	if (rlen > 0 && r[0] == '$' && alen > 0 && (a[0] == '+' || a[0] == '#'))
		return false;
	for (;;) {
		size_t al = level_len(a, ai, alen), rl = level_len(r, ri, rlen);
		bool a_hash = al == 1 && a[ai] == '#';
		bool a_plus = al == 1 && a[ai] == '+';
		bool r_hash = rl == 1 && r[ri] == '#';
		bool r_plus = rl == 1 && r[ri] == '+';

		if (a_hash)
			return true;
		if (r_hash)
			return false;
		if (a_plus) {
			/* any single level of r: a name or '+' */
		} else if (r_plus || al != rl || memcmp(a + ai, r + ri, al) != 0) {
			return false;
		}
		ai += al;
		ri += rl;
		if (ai == alen && ri == rlen)
			return true;
		if (ri == rlen) /* r ends, a goes on: only "/#" still matches */
			return alen - ai == 2 && a[ai + 1] == '#';
		if (ai == alen) /* r is longer */
			return false;
		ai++;
		ri++;
	}
}

/*
 * A substituted value must stay one literal piece of the filter: '+'
 * or '#' in it would become a wildcard, and for the client id (chosen by
 * the peer) '/' would let it reach into another client's levels.
 */
static bool
subst_ok(const char *v, size_t n, bool slash_ok)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (v[i] == '+' || v[i] == '#' || v[i] == '\0' ||
		    (!slash_ok && v[i] == '/'))
			return false;
	return true;
}

long
seg_filter_expand(const struct seg_filter *f, const char *identity,
		  size_t idlen, const char *client, char *buf, size_t buflen)
{
	size_t i, o = 0, clen = client ? strnlen(client, SEG_TEXT_MAX + 1) : 0;

	for (i = 0; i < f->len; i++) {
		const char *v = f->text + i;
		size_t n = 1;

		if (f->text[i] == '%' && i + 1 < f->len) {
			switch (f->text[++i]) {
			case 'u':
				if (identity == NULL || !subst_ok(identity, idlen, true))
					return -1;
				v = identity;
				n = idlen;
				break;
			case 'c':
				if (client == NULL || clen > SEG_TEXT_MAX ||
				    !subst_ok(client, clen, false))
					return -1;
				v = client;
				n = clen;
				break;
			default: /* "%%" */
				v = "%";
				break;
			}
		}
		if (o + n > buflen)
			return -1;
		memcpy(buf + o, v, n);
		o += n;
	}
	return (long)o;
}

/*
 * A PUBLISH names a topic (no wildcards); a SUBSCRIBE names a filter.
 * Both must be non-empty, free of NUL bytes and at most 65535 bytes.
 */
int
seg_mqtt_validate(const struct zg_mqtt_op *m, char *err, size_t errlen)
{
	if (m->action != ZG_MQTT_PUBLISH && m->action != ZG_MQTT_SUBSCRIBE) {
		snprintf(err, errlen, "unknown MQTT action %u",
			 (unsigned)m->action);
		return -1;
	}
	if (m->topic == NULL || m->topic_len == 0 || m->topic_len > 65535) {
		snprintf(err, errlen, "MQTT topic is empty or too long");
		return -1;
	}
	if (memchr(m->topic, '\0', m->topic_len) != NULL) {
		snprintf(err, errlen, "NUL byte in MQTT topic");
		return -1;
	}
	if (m->action == ZG_MQTT_PUBLISH) {
		if (memchr(m->topic, '+', m->topic_len) ||
		    memchr(m->topic, '#', m->topic_len)) {
			snprintf(err, errlen,
				 "wildcard in a PUBLISH topic name");
			return -1;
		}
		return 0;
	}
	return seg_filter_check(m->topic, m->topic_len, false, err, errlen);
}

bool
seg_mqtt_eval(const struct seg_conduit *c, const struct zg_mqtt_op *m,
	      const char *identity, size_t idlen, struct seg_deny *d)
{
	const struct seg_mqtt *mq = c->mqtt;
	unsigned act;
	uint32_t i;
	bool subst_failed = false;

	if (mq == NULL) {
		d->code = SEG_D_NOPROTO;
		return false;
	}
	act = m->action - 1u;
	for (i = 0; i < mq->n[act]; i++) {
		const struct seg_filter *f = &mq->f[act][i];
		const char *ft = f->text;
		size_t fl = f->len;
		char buf[EXPAND_MAX];

		if (f->subst) {
			long n = seg_filter_expand(f, identity, idlen,
						   m->client_id, buf,
						   sizeof(buf));
			if (n < 0) {
				subst_failed = true;
				continue;
			}
			ft = buf;
			fl = (size_t)n;
		}
		if (m->action == ZG_MQTT_PUBLISH
			    ? seg_topic_match(ft, fl, m->topic, m->topic_len)
			    : seg_filter_covers(ft, fl, m->topic, m->topic_len))
			return true;
	}
	d->code = subst_failed ? SEG_D_MQTT_SUBST : SEG_D_MQTT;
	return false;
}

/* "a/b, c/#, ..." within len. */
static void
filters_str(const struct seg_mqtt *mq, unsigned act, char *buf, size_t len)
{
	size_t off = 0;
	uint32_t i;

	buf[0] = '\0';
	for (i = 0; i < mq->n[act]; i++) {
		const struct seg_filter *f = &mq->f[act][i];
		int w;

		if (off + f->len + 2 + 5 >= len) {
			snprintf(buf + off, len - off, "%s...", off ? ", " : "");
			return;
		}
		w = snprintf(buf + off, len - off, "%s%.*s", off ? ", " : "",
			     (int)f->len, f->text);
		if (w < 0)
			return;
		off += (size_t)w;
	}
	if (mq->n[act] == 0)
		snprintf(buf, len, "none");
}

void
seg_mqtt_reason(const struct seg_deny *d, const struct zg_mqtt_op *m,
		char *buf, size_t len)
{
	char ref[ZG_REASON_MAX], fl[64], t[SHOW_MAX + 8];
	bool pub = m->action == ZG_MQTT_PUBLISH;

	seg_conduit_ref(d->c, ref, sizeof(ref));
	filters_str(d->c->mqtt, m->action - 1u, fl, sizeof(fl));
	seg_show(m->topic, m->topic_len, t, sizeof(t));
	if (d->code == SEG_D_MQTT_SUBST)
		seg_fmt(buf, len,
			"%s %s matches no %s filter (%s) of %s; the client id or identity could not be put in (missing, or holds + # or, for %%c, /)",
			pub ? "publish to" : "subscribe to", t,
			pub ? "publish" : "subscribe", fl, ref);
	else
		seg_fmt(buf, len, "%s %s is not %s the %s filters (%s) of %s",
			pub ? "publish to" : "subscribe to", t,
			pub ? "matched by" : "covered by",
			pub ? "publish" : "subscribe", fl, ref);
}
