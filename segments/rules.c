/*
 * rules.c: the protocol rules of a conduit (Modbus, MQTT, HTTP) as they
 * are declared.  Each call checks its own item; ranges are sorted,
 * merged and checked against each other by seg_compile().
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "segments/build.h"

static struct seg_mb *
mb_get(struct seg_builder *b, int ci, const struct seg_origin *o)
{
	struct seg_conduit *c = seg_cond_get(b, ci, o);

	if (c == NULL)
		return NULL;
	if (c->mb == NULL) {
		c->mb = calloc(1, sizeof(*c->mb));
		if (c->mb == NULL) {
			seg_berr(b, o, "out of memory");
			return NULL;
		}
		if (o != NULL)
			b->cb[ci].mbo = *o;
	}
	return c->mb;
}

int
seg_mb_enable(struct seg_builder *b, int c, const struct seg_origin *o)
{
	return mb_get(b, c, o) ? 0 : -1;
}

/*
 * Units 1..247 address devices; 248..254 are reserved; 255 is what
 * Modbus/TCP devices that ignore the unit id expect; 0 is broadcast and
 * has its own switch so that it is never allowed by accident ("0-10").
 */
int
seg_mb_units(struct seg_builder *b, int ci, unsigned lo, unsigned hi,
	     const struct seg_origin *o)
{
	struct seg_mb *mb = mb_get(b, ci, o);
	unsigned u;

	if (mb == NULL)
		return -1;
	if (lo > hi) {
		seg_berr(b, o, "unit range %u-%u: first is after last", lo, hi);
		return -1;
	}
	if (lo == 0) {
		seg_berr(b, o,
			 "unit 0 is the broadcast address: set broadcast = true to allow broadcast writes");
		return -1;
	}
	if (hi > 255 || (hi > 247 && !(lo == 255 && hi == 255))) {
		seg_berr(b, o,
			 "units %u-%u: unit ids are 1-247, or 255 on its own (248-254 are reserved)",
			 lo, hi);
		return -1;
	}
	for (u = lo; u <= hi; u++)
		mb->units[u >> 6] |= 1ull << (u & 63);
	mb->units_set = true;
	return 0;
}

int
seg_mb_function(struct seg_builder *b, int ci, int fc, int sub,
		const struct seg_origin *o)
{
	struct seg_mb *mb = mb_get(b, ci, o);
	unsigned i;

	if (mb == NULL)
		return -1;
	if (fc < 1 || fc > 127) {
		seg_berr(b, o, "function code %d is outside 1-127", fc);
		return -1;
	}
	mb->functions_set = true;
	if (sub < 0) {
		if (fc == 43) {
			seg_berr(b, o,
				 "function 43 is decided by its MEI type: name \"43/14\" (read device identification) or \"43/13\" (CANopen general reference)");
			return -1;
		}
		if (fc == 8) {
			mb->plain8 = true;
			return 0;
		}
		if (!seg_fc_public((unsigned)fc))
			seg_bwarn(b, o,
				  "function %d (%s) is not a public Modbus function; it is allowed because it is named here",
				  fc, seg_fc_name((unsigned)fc));
		mb->fcs[fc >> 6] |= 1ull << (fc & 63);
		return 0;
	}
	if (fc == 8) {
		if (sub > 65535) {
			seg_berr(b, o, "diagnostics sub-function %d is outside 0-65535",
				 sub);
			return -1;
		}
		for (i = 0; i < mb->nsubfn; i++)
			if (mb->subfn[i] == sub)
				return 0;
		if (mb->nsubfn >= SEG_MAX_SUBCODES) {
			seg_berr(b, o, "too many FC 8 sub-functions (at most %d)",
				 SEG_MAX_SUBCODES);
			return -1;
		}
		mb->subfn[mb->nsubfn++] = (uint16_t)sub;
		return 0;
	}
	if (fc == 43) {
		if (sub > 255) {
			seg_berr(b, o, "MEI type %d is outside 0-255", sub);
			return -1;
		}
		if (sub != 13 && sub != 14)
			seg_bwarn(b, o,
				  "MEI type %d is reserved; it is allowed because it is named here",
				  sub);
		mb->meis[sub >> 6] |= 1ull << (sub & 63);
		return 0;
	}
	seg_berr(b, o,
		 "only functions 8 (\"8/0\") and 43 (\"43/14\") take a sub-code, not %d",
		 fc);
	return -1;
}

int
seg_mb_max_quantity(struct seg_builder *b, int ci, unsigned n,
		    const struct seg_origin *o)
{
	struct seg_mb *mb = mb_get(b, ci, o);

	if (mb == NULL)
		return -1;
	if (n < 1 || n > 2000) {
		seg_berr(b, o, "max_quantity %u is outside 1-2000", n);
		return -1;
	}
	mb->max_quantity = (uint16_t)n;
	return 0;
}

int
seg_mb_broadcast(struct seg_builder *b, int ci, bool on,
		 const struct seg_origin *o)
{
	struct seg_mb *mb = mb_get(b, ci, o);

	if (mb == NULL)
		return -1;
	mb->broadcast = on;
	return 0;
}

int
seg_mb_range(struct seg_builder *b, int ci, int access, int table,
	     unsigned lo, unsigned hi, const struct seg_bounds *bounds,
	     const struct seg_origin *o)
{
	struct seg_mb *mb = mb_get(b, ci, o);
	struct seg_cbuild *cb;
	struct seg_brange *br;
	int a;

	if (mb == NULL)
		return -1;
	if ((access != ZG_MB_READ && access != ZG_MB_WRITE) || table < 0 ||
	    table >= ZG_MB_NTABLES) {
		seg_berr(b, o, "internal: bad access %d or table %d", access,
			 table);
		return -1;
	}
	if (access == ZG_MB_WRITE && table != ZG_MB_COILS &&
	    table != ZG_MB_HOLDING) {
		seg_berr(b, o, "%s are read-only: they cannot have write ranges",
			 seg_table_name(table, true));
		return -1;
	}
	if (lo > hi || hi > 65535) {
		seg_berr(b, o,
			 "range %u-%u: need 0 <= first <= last <= 65535", lo, hi);
		return -1;
	}
	if (bounds != NULL) {
		long bmin = bounds->is_signed ? -32768 : 0;
		long bmax = bounds->is_signed ? 32767 : 65535;

		if (access != ZG_MB_WRITE || table != ZG_MB_HOLDING) {
			seg_berr(b, o,
				 "value bounds apply to holding register writes only");
			return -1;
		}
		if (bounds->min > bounds->max || bounds->min < bmin ||
		    bounds->max > bmax) {
			seg_berr(b, o,
				 "value bounds %ld..%ld: need %ld <= min <= max <= %ld%s",
				 bounds->min, bounds->max, bmin, bmax,
				 bounds->is_signed ? " (signed)" :
				 " (set signed = true for negative values)");
			return -1;
		}
	}
	if (b->nranges >= SEG_MAX_RANGES_TOTAL) {
		seg_berr(b, o, "too many address ranges in all (at most %u)",
			 SEG_MAX_RANGES_TOTAL);
		return -1;
	}
	a = access - 1;
	cb = &b->cb[ci];
	if (seg_grow((void **)&cb->r[a][table], &cb->cap[a][table],
		     cb->n[a][table], sizeof(struct seg_brange),
		     SEG_MAX_RANGES) < 0) {
		if (cb->n[a][table] >= SEG_MAX_RANGES)
			seg_berr(b, o,
				 "too many %s ranges for %s (at most %d)",
				 access == ZG_MB_READ ? "read" : "write",
				 seg_table_name(table, true), SEG_MAX_RANGES);
		else
			seg_berr(b, o, "out of memory");
		return -1;
	}
	br = &cb->r[a][table][cb->n[a][table]++];
	memset(br, 0, sizeof(*br));
	br->r.lo = (uint16_t)lo;
	br->r.hi = (uint16_t)hi;
	if (bounds != NULL) {
		br->r.bounded = 1;
		br->r.is_signed = bounds->is_signed;
		br->r.min = (int32_t)bounds->min;
		br->r.max = (int32_t)bounds->max;
	}
	if (o != NULL)
		br->o = *o;
	b->nranges++;
	return 0;
}

/* ---------------------------------------------------------------- */
/* mqtt */

static struct seg_mqtt *
mqtt_get(struct seg_builder *b, int ci, const struct seg_origin *o)
{
	struct seg_conduit *c = seg_cond_get(b, ci, o);

	if (c == NULL)
		return NULL;
	if (c->mqtt == NULL) {
		c->mqtt = calloc(1, sizeof(*c->mqtt));
		if (c->mqtt == NULL) {
			seg_berr(b, o, "out of memory");
			return NULL;
		}
		if (o != NULL)
			b->cb[ci].mqo = *o;
	}
	return c->mqtt;
}

int
seg_mqtt_enable(struct seg_builder *b, int c, const struct seg_origin *o)
{
	return mqtt_get(b, c, o) ? 0 : -1;
}

int
seg_mqtt_filter(struct seg_builder *b, int ci, int action, const char *filter,
		const struct seg_origin *o)
{
	struct seg_mqtt *mq = mqtt_get(b, ci, o);
	struct seg_filter *f;
	char err[160];
	size_t len;
	unsigned a;

	if (mq == NULL)
		return -1;
	if (action != ZG_MQTT_PUBLISH && action != ZG_MQTT_SUBSCRIBE) {
		seg_berr(b, o, "internal: bad MQTT action %d", action);
		return -1;
	}
	if (filter == NULL ||
	    (len = strnlen(filter, SEG_TEXT_MAX + 1)) > SEG_TEXT_MAX) {
		seg_berr(b, o, "topic filter missing or longer than %d bytes",
			 SEG_TEXT_MAX);
		return -1;
	}
	if (seg_filter_check(filter, len, true, err, sizeof(err)) < 0) {
		seg_berr(b, o, "\"%.64s\": %s", filter, err);
		return -1;
	}
	a = (unsigned)action - 1;
	if (seg_grow((void **)&mq->f[a], &mq->cap[a], mq->n[a], sizeof(*f),
		     SEG_MAX_FILTERS) < 0) {
		if (mq->n[a] >= SEG_MAX_FILTERS)
			seg_berr(b, o, "too many topic filters (at most %d)",
				 SEG_MAX_FILTERS);
		else
			seg_berr(b, o, "out of memory");
		return -1;
	}
	f = &mq->f[a][mq->n[a]];
	f->text = seg_arena_strdup(&b->p->arena, filter);
	f->len = (uint32_t)len;
	f->subst = memchr(filter, '%', len) != NULL;
	if (f->text == NULL) {
		seg_berr(b, o, "out of memory");
		return -1;
	}
	mq->n[a]++;
	return 0;
}

/* ---------------------------------------------------------------- */
/* http */

static struct seg_http *
http_get(struct seg_builder *b, int ci, const struct seg_origin *o)
{
	struct seg_conduit *c = seg_cond_get(b, ci, o);

	if (c == NULL)
		return NULL;
	if (c->http == NULL) {
		c->http = calloc(1, sizeof(*c->http));
		if (c->http == NULL) {
			seg_berr(b, o, "out of memory");
			return NULL;
		}
		if (o != NULL)
			b->cb[ci].hto = *o;
	}
	return c->http;
}

int
seg_http_enable(struct seg_builder *b, int c, const struct seg_origin *o)
{
	return http_get(b, c, o) ? 0 : -1;
}

int
seg_http_rule(struct seg_builder *b, int ci, const char *method,
	      const char *path, const struct seg_origin *o)
{
	struct seg_http *hp = http_get(b, ci, o);
	struct seg_hrule *r;
	char err[160];
	int rc = 0;

	if (hp == NULL)
		return -1;
	if (!seg_http_method_ok(method)) {
		seg_berr(b, o,
			 "method \"%.32s\" is not an HTTP method token (\"GET\", \"POST\" ...)",
			 method ? method : "");
		rc = -1;
	}
	if (seg_http_path_check(path, err, sizeof(err)) < 0) {
		seg_berr(b, o, "path \"%.64s\": %s", path ? path : "", err);
		rc = -1;
	} else if (strpbrk(path, "?#") != NULL) {
		seg_berr(b, o,
			 "path \"%.64s\": a rule path is a prefix, without query or fragment",
			 path);
		rc = -1;
	}
	if (rc < 0)
		return -1;
	if (seg_grow((void **)&hp->r, &hp->cap, hp->n, sizeof(*r),
		     SEG_MAX_HTTP) < 0) {
		if (hp->n >= SEG_MAX_HTTP)
			seg_berr(b, o, "too many http rules (at most %d)",
				 SEG_MAX_HTTP);
		else
			seg_berr(b, o, "out of memory");
		return -1;
	}
	r = &hp->r[hp->n];
	r->method = seg_arena_strdup(&b->p->arena, method);
	r->path = seg_arena_strdup(&b->p->arena, path);
	r->plen = (uint32_t)strlen(path);
	if (r->method == NULL || r->path == NULL) {
		seg_berr(b, o, "out of memory");
		return -1;
	}
	hp->n++;
	return 0;
}
