/*
 * compile.c: from a builder to an immutable, indexed policy.
 *
 *  - Modbus ranges are sorted and merged per (conduit, access, table) so
 *    a span is decided by one binary search; write ranges with value
 *    bounds merge only with ranges of the same bounds, and two
 *    overlapping ranges with different bounds are an error (which bound
 *    would apply is not something to guess).
 *  - Address bindings are sorted and must not overlap.
 *  - Conduits are grouped by (from zone, target) with a hash map, so a
 *    decision looks at the conduits of its own pair only.
 *  - Things that compile but cannot be what was meant (a conduit that
 *    can never allow, a shadow conduit that opens a pair an enforcing
 *    conduit restricts) are warnings.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segments/build.h"

/* ---------------------------------------------------------------- */
/* destruction and references */

static void
mb_free(struct seg_mb *mb)
{
	int a, t;

	if (mb == NULL)
		return;
	if (!mb->packed)
		for (a = 0; a < 2; a++)
			for (t = 0; t < ZG_MB_NTABLES; t++)
				free(mb->rs[a][t].r);
	free(mb);
}

void
seg_policy_destroy(struct seg_policy *p)
{
	uint32_t i;

	if (p == NULL)
		return;
	p->magic = 0;
	for (i = 0; i < p->ndevs; i++)
		free(p->devs[i].attrs);
	for (i = 0; i < p->nconds; i++) {
		struct seg_conduit *c = &p->conds[i];

		free(c->roles);
		mb_free(c->mb);
		if (c->mqtt != NULL) {
			free(c->mqtt->f[0]);
			free(c->mqtt->f[1]);
			free(c->mqtt);
		}
		if (c->http != NULL) {
			free(c->http->r);
			free(c->http);
		}
	}
	free(p->zones);
	free(p->devs);
	free(p->binds);
	free(p->conds);
	seg_smap_free(&p->zone_map);
	seg_smap_free(&p->dev_map);
	seg_smap_free(&p->cond_map);
	free(p->decl);
	seg_kmap_free(&p->group_map);
	seg_arena_free(&p->arena);
	free(p);
}

struct seg_policy *
seg_policy_ref(struct seg_policy *p)
{
	if (p != NULL)
		atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	return p;
}

void
seg_policy_unref(struct seg_policy *p)
{
	if (p == NULL)
		return;
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
		seg_policy_destroy(p);
}

/* ---------------------------------------------------------------- */
/* modbus ranges */

static int
brange_cmp(const void *x, const void *y)
{
	const struct seg_brange *a = x, *b = y;

	if (a->r.lo != b->r.lo)
		return a->r.lo < b->r.lo ? -1 : 1;
	if (a->r.hi != b->r.hi)
		return a->r.hi < b->r.hi ? -1 : 1;
	return 0;
}

static bool
same_bounds(const struct seg_range *a, const struct seg_range *b)
{
	if (a->bounded != b->bounded)
		return false;
	if (!a->bounded)
		return true;
	return a->is_signed == b->is_signed && a->min == b->min &&
	       a->max == b->max;
}

/*
 * Sort and merge one table's ranges into rs.  Overlapping or adjacent
 * ranges with the same bounds become one; overlapping ranges with
 * different bounds are an error at the later one.
 */
static int
merge_ranges(struct seg_builder *b, const struct seg_conduit *c,
	     struct seg_brange *in, uint32_t n, struct seg_rset *rs)
{
	uint32_t i;
	char w[300];

	rs->r = NULL;
	rs->n = 0;
	if (n == 0)
		return 0;
	qsort(in, n, sizeof(*in), brange_cmp);
	rs->r = malloc(n * sizeof(*rs->r));
	if (rs->r == NULL) {
		seg_berr(b, NULL, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct seg_range *last = rs->n ? &rs->r[rs->n - 1] : NULL;
		const struct seg_range *cur = &in[i].r;

		if (last != NULL && cur->lo <= last->hi) {
			if (!same_bounds(last, cur)) {
				seg_berr(b, &in[i].o,
					 "range %u-%u of conduit \"%s\" overlaps range %u-%u (%s) with different value bounds",
					 (unsigned)cur->lo, (unsigned)cur->hi,
					 c->name, (unsigned)in[i - 1].r.lo,
					 (unsigned)in[i - 1].r.hi,
					 seg_where(in[i - 1].o.file,
						   in[i - 1].o.line, w,
						   sizeof(w)));
				continue;
			}
			if (cur->hi > last->hi)
				last->hi = cur->hi;
			continue;
		}
		if (last != NULL && (uint32_t)last->hi + 1 == cur->lo &&
		    same_bounds(last, cur)) {
			last->hi = cur->hi;
			continue;
		}
		rs->r[rs->n++] = *cur;
	}
	return 0;
}

/*
 * Move the block and its merged ranges into one allocation, so that a
 * decision finds the ranges next to the bitmaps it has just read.
 */
static int
mb_pack(struct seg_conduit *c)
{
	struct seg_mb *mb = c->mb, *nb;
	struct seg_range *r;
	size_t n = 0;
	int a, t;

	for (a = 0; a < 2; a++)
		for (t = 0; t < ZG_MB_NTABLES; t++)
			n += mb->rs[a][t].n;
	nb = malloc(sizeof(*nb) + n * sizeof(struct seg_range));
	if (nb == NULL)
		return -1;
	*nb = *mb;
	nb->packed = true;
	r = (struct seg_range *)(void *)(nb + 1);
	for (a = 0; a < 2; a++) {
		for (t = 0; t < ZG_MB_NTABLES; t++) {
			struct seg_rset *rs = &nb->rs[a][t];

			if (rs->n > 0)
				memcpy(r, rs->r, rs->n * sizeof(*r));
			free(mb->rs[a][t].r);
			rs->r = rs->n > 0 ? r : NULL;
			r += rs->n;
		}
	}
	free(mb);
	c->mb = nb;
	return 0;
}

static void
setbit(uint64_t *set, unsigned i)
{
	set[i >> 6] |= 1ull << (i & 63);
}

static bool
hasbit(const uint64_t *set, unsigned i)
{
	return (set[i >> 6] >> (i & 63)) & 1;
}

/*
 * Finish one conduit's modbus block: ranges, then the defaults that
 * depend on them (see docs/policy.md), then warnings for rules that can
 * never allow anything.
 */
static int
mb_finish(struct seg_builder *b, struct seg_conduit *c, struct seg_cbuild *cb)
{
	struct seg_mb *mb = c->mb;
	const struct seg_origin *o = &cb->mbo;
	static const struct {
		uint8_t fc, acc, table;
	} uses[] = {
		{ 1, ZG_MB_READ, ZG_MB_COILS },
		{ 2, ZG_MB_READ, ZG_MB_DISCRETE },
		{ 3, ZG_MB_READ, ZG_MB_HOLDING },
		{ 4, ZG_MB_READ, ZG_MB_INPUT },
		{ 5, ZG_MB_WRITE, ZG_MB_COILS },
		{ 6, ZG_MB_WRITE, ZG_MB_HOLDING },
		{ 15, ZG_MB_WRITE, ZG_MB_COILS },
		{ 16, ZG_MB_WRITE, ZG_MB_HOLDING },
		{ 22, ZG_MB_WRITE, ZG_MB_HOLDING },
		{ 23, ZG_MB_READ, ZG_MB_HOLDING },
		{ 23, ZG_MB_WRITE, ZG_MB_HOLDING },
		{ 24, ZG_MB_READ, ZG_MB_HOLDING },
	};
	unsigned a, t, u, i;
	bool anyfc = false;

	for (a = 0; a < 2; a++)
		for (t = 0; t < ZG_MB_NTABLES; t++)
			if (merge_ranges(b, c, cb->r[a][t], cb->n[a][t],
					 &mb->rs[a][t]) < 0)
				return -1;
	if (mb_pack(c) < 0) {
		seg_berr(b, o, "out of memory");
		return -1;
	}
	mb = c->mb;
	if (!mb->units_set)
		for (u = 1; u <= 255; u++)
			setbit(mb->units, u);
	if (!mb->functions_set) {
		for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
			if (uses[i].fc == 22 || uses[i].fc == 23 ||
			    uses[i].fc == 24)
				continue; /* these must be named */
			if (mb->rs[uses[i].acc - 1][uses[i].table].n > 0)
				setbit(mb->fcs, uses[i].fc);
		}
	}
	for (i = 0; i < 2; i++)
		anyfc |= mb->fcs[i] != 0;
	for (i = 0; i < 4; i++)
		anyfc |= mb->meis[i] != 0;
	anyfc |= mb->plain8 || mb->nsubfn > 0;
	if (!anyfc) {
		seg_bwarn(b, o,
			  "the modbus rules of conduit \"%s\" allow no function (give functions or read/write ranges)",
			  c->name);
		return 0;
	}
	for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		if (hasbit(mb->fcs, uses[i].fc) &&
		    mb->rs[uses[i].acc - 1][uses[i].table].n == 0)
			seg_bwarn(b, o,
				  "conduit \"%s\" allows function %u (%s) but has no %s ranges for %s: it will always be denied",
				  c->name, (unsigned)uses[i].fc,
				  seg_fc_name(uses[i].fc),
				  uses[i].acc == ZG_MB_READ ? "read" : "write",
				  seg_table_name(uses[i].table, true));
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* bindings */

struct bsort {
	struct seg_bind b;
	struct seg_origin o;
};

static int
bind_cmp(const void *x, const void *y)
{
	const struct seg_bind *a = &((const struct bsort *)x)->b;
	const struct seg_bind *b = &((const struct bsort *)y)->b;
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, 16);
	if (c != 0)
		return c;
	if (a->plo != b->plo)
		return a->plo < b->plo ? -1 : 1;
	return a->phi < b->phi ? -1 : (a->phi > b->phi ? 1 : 0);
}

static const char *
ip_str(const struct seg_bind *bd, char *buf, size_t len)
{
	if (bd->family == 4) {
		snprintf(buf, len, "%u.%u.%u.%u", bd->addr[0], bd->addr[1],
			 bd->addr[2], bd->addr[3]);
	} else {
		size_t off = 0;
		int i;

		for (i = 0; i < 16 && off < len; i += 2) {
			int w = snprintf(buf + off, len - off, "%s%x",
					 i ? ":" : "",
					 (unsigned)(bd->addr[i] << 8 | bd->addr[i + 1]));
			if (w < 0)
				break;
			off += (size_t)w;
		}
	}
	return buf;
}

static int
binds_finish(struct seg_builder *b)
{
	struct seg_policy *p = b->p;
	struct bsort *s;
	uint32_t i;
	char w[300], ip[64];

	if (p->nbinds == 0)
		return 0;
	s = malloc(p->nbinds * sizeof(*s));
	if (s == NULL) {
		seg_berr(b, NULL, "out of memory");
		return -1;
	}
	for (i = 0; i < p->nbinds; i++) {
		s[i].b = p->binds[i];
		s[i].o = b->bo[i];
	}
	qsort(s, p->nbinds, sizeof(*s), bind_cmp);
	for (i = 1; i < p->nbinds; i++) {
		const struct seg_bind *x = &s[i - 1].b, *y = &s[i].b;

		if (x->family == y->family &&
		    memcmp(x->addr, y->addr, 16) == 0 && y->plo <= x->phi)
			seg_berr(b, &s[i].o,
				 "address %s ports %u-%u of device \"%s\" overlap ports %u-%u of device \"%s\" (%s): a peer must map to one identity",
				 ip_str(y, ip, sizeof(ip)), (unsigned)y->plo,
				 (unsigned)y->phi, p->devs[y->dev].identity,
				 (unsigned)x->plo, (unsigned)x->phi,
				 p->devs[x->dev].identity,
				 seg_where(s[i - 1].o.file, s[i - 1].o.line, w,
					   sizeof(w)));
	}
	for (i = 0; i < p->nbinds; i++)
		p->binds[i] = s[i].b;
	free(s);
	return 0;
}

/* ---------------------------------------------------------------- */
/* conduit groups */

struct csort {
	uint64_t key;
	uint32_t idx;
	uint8_t shadow;
};

static int
csort_cmp(const void *x, const void *y)
{
	const struct csort *a = x, *b = y;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	if (a->shadow != b->shadow)
		return a->shadow < b->shadow ? -1 : 1;
	return a->idx < b->idx ? -1 : (a->idx > b->idx ? 1 : 0);
}

static uint64_t
cond_key(const struct seg_conduit *c)
{
	return c->to_dev >= 0 ? SEG_KEY_DEV(c->from, (uint32_t)c->to_dev)
			      : SEG_KEY_ZONE(c->from, c->to_zone);
}

/*
 * Reorder the conduits so that each (from zone, target) group is
 * contiguous, enforcing ones first, and index the groups.  p->decl keeps
 * the declaration order for seg_conduit_get().  Runs last: the builder's
 * per-conduit data (b->cb) is in declaration order.
 */
static int
groups_build(struct seg_builder *b)
{
	struct seg_policy *p = b->p;
	struct seg_conduit *nc;
	struct csort *s;
	uint32_t i, j;

	if (p->nconds == 0)
		return 0;
	s = malloc(p->nconds * sizeof(*s));
	nc = malloc(p->nconds * sizeof(*nc));
	p->decl = malloc(p->nconds * sizeof(*p->decl));
	if (s == NULL || nc == NULL || p->decl == NULL) {
		free(s);
		free(nc);
		seg_berr(b, NULL, "out of memory");
		return -1;
	}
	for (i = 0; i < p->nconds; i++) {
		s[i].key = cond_key(&p->conds[i]);
		s[i].idx = i;
		s[i].shadow = p->conds[i].shadow;
	}
	qsort(s, p->nconds, sizeof(*s), csort_cmp);
	for (i = 0; i < p->nconds; i = j) {
		uint32_t ne = 0, ns = 0;

		for (j = i; j < p->nconds && s[j].key == s[i].key; j++) {
			nc[j] = p->conds[s[j].idx];
			p->decl[s[j].idx] = j;
			if (s[j].shadow)
				ns++;
			else
				ne++;
		}
		if (seg_kmap_put(&p->group_map, s[i].key, i, (uint16_t)ne,
				 (uint16_t)ns) < 0) {
			free(s);
			free(nc);
			seg_berr(b, NULL, "out of memory");
			return -1;
		}
	}
	for (i = 0; i < p->cond_map.cap; i++)
		if (p->cond_map.e[i].key != NULL)
			p->cond_map.e[i].idx = p->decl[p->cond_map.e[i].idx];
	free(p->conds);
	p->conds = nc;
	p->capconds = p->nconds;
	free(s);
	return 0;
}

/* ---------------------------------------------------------------- */
/* warnings about conduits that cannot do what they seem to */

static void
conduit_warnings(struct seg_builder *b, uint32_t ci)
{
	struct seg_policy *p = b->p;
	const struct seg_conduit *c = &p->conds[ci];
	const struct seg_origin *o = &b->cb[ci].o;
	const struct seg_zone *fz = &p->zones[c->from], *tz = &p->zones[c->to_zone];

	if (c->mb == NULL && c->mqtt == NULL && c->http == NULL)
		seg_bwarn(b, o,
			  "conduit \"%s\" has no modbus, mqtt or http rules: it allows nothing",
			  c->name);
	if (c->mqtt != NULL && c->mqtt->n[0] == 0 && c->mqtt->n[1] == 0)
		seg_bwarn(b, &b->cb[ci].mqo,
			  "the mqtt rules of conduit \"%s\" have no publish or subscribe filters: they allow nothing",
			  c->name);
	if (c->http != NULL && c->http->n == 0)
		seg_bwarn(b, &b->cb[ci].hto,
			  "the http rules of conduit \"%s\" are empty: they allow nothing",
			  c->name);
	if (c->from != c->to_zone && (fz->isolated || tz->isolated) &&
	    c->to_zone != SEG_ZONE_QUARANTINE)
		seg_bwarn(b, o,
			  "conduit \"%s\" crosses the boundary of isolated zone \"%s\": it will never allow",
			  c->name, fz->isolated ? fz->name : tz->name);
	if (c->to_dev >= 0 && c->to_zone == SEG_ZONE_QUARANTINE)
		seg_bwarn(b, o,
			  "conduit \"%s\" leads to device \"%s\" in zone quarantine: it will never allow",
			  c->name, p->devs[c->to_dev].identity);
}

/*
 * A shadow conduit opens every operation on its path that the enforcing
 * conduits deny; say so where an enforcing conduit shares the path.  A
 * zone shadow conduit shares it with every enforcing conduit from the
 * same zone into the same zone, device conduits included; a device
 * shadow conduit with those to its device and with the zone conduits.
 */
static void
shadow_warnings(struct seg_builder *b)
{
	struct seg_policy *p = b->p;
	struct seg_kmap own, pair;
	uint32_t i;

	if (p->nshadow == 0)
		return;
	memset(&own, 0, sizeof(own));
	memset(&pair, 0, sizeof(pair));
	for (i = 0; i < p->nconds; i++) {
		const struct seg_conduit *c = &p->conds[i];
		uint64_t k1 = cond_key(c), k2 = SEG_KEY_ZONE(c->from, c->to_zone);

		if (c->shadow)
			continue;
		if ((seg_kmap_find(&own, k1) == NULL &&
		     seg_kmap_put(&own, k1, i, 0, 0) < 0) ||
		    (seg_kmap_find(&pair, k2) == NULL &&
		     seg_kmap_put(&pair, k2, i, 0, 0) < 0))
			break;
	}
	for (i = 0; i < p->nconds; i++) {
		const struct seg_conduit *sc = &p->conds[i];
		uint64_t kz = SEG_KEY_ZONE(sc->from, sc->to_zone);
		long e;

		if (!sc->shadow)
			continue;
		if (sc->to_dev < 0)
			e = seg_kmap_get(&pair, kz);
		else if ((e = seg_kmap_get(&own, cond_key(sc))) < 0)
			e = seg_kmap_get(&own, kz);
		if (e >= 0)
			seg_bwarn(b, &b->cb[i].o,
				  "shadow conduit \"%s\" shares its path with enforcing conduit \"%s\": operations that conduit denies will pass, marked shadow",
				  sc->name, p->conds[e].name);
	}
	seg_kmap_free(&own);
	seg_kmap_free(&pair);
}

/* ---------------------------------------------------------------- */

struct seg_policy *
seg_compile(struct seg_builder *b, const struct seg_opts *opts)
{
	struct seg_policy *p;
	uint32_t i;

	if (b == NULL || b->p == NULL || b->spent)
		return NULL;
	b->spent = true;
	p = b->p;
	/* Report what is wrong everywhere, even after a first error. */
	for (i = 0; i < p->nconds; i++) {
		struct seg_conduit *c = &p->conds[i];

		if (c->mb != NULL && mb_finish(b, c, &b->cb[i]) < 0)
			break;
		if (c->shadow)
			p->nshadow++;
		if (!c->bad)
			conduit_warnings(b, i);
	}
	binds_finish(b);
	if (b->nerr == 0)
		shadow_warnings(b);
	if (b->nerr == 0)
		groups_build(b);
	if (b->nerr != 0)
		return NULL; /* seg_builder_free() frees p */
	for (i = 0; i < p->ndevs; i++)
		p->zones[p->devs[i].zone].ndevices++;
	for (i = 0; i < p->dev_map.cap; i++) {
		struct seg_smap_ent *e = &p->dev_map.e[i];
		const struct seg_device *d;

		if (e->key == NULL)
			continue;
		d = &p->devs[e->idx];
		e->aux = SEG_DEV_AUX(d->zone, d->nbinds > 0, d->dev_target);
	}
	p->fail_open = opts ? opts->fail_open : false;
	p->island = opts ? opts->island_mode : false;
	atomic_init(&p->refs, 1);
	p->magic = SEG_MAGIC;
	b->p = NULL;
	return p;
}

/* ---------------------------------------------------------------- */
/* introspection */

static bool
ok(const struct seg_policy *p)
{
	return p != NULL && p->magic == SEG_MAGIC;
}

void
seg_policy_info(const struct seg_policy *p, struct seg_policy_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!ok(p))
		return;
	out->nzones = p->nzones;
	out->ndevices = p->ndevs;
	out->nbindings = p->nbinds;
	out->nconduits = p->nconds;
	out->nshadow = p->nshadow;
	out->fail_open = p->fail_open;
	out->island_mode = p->island;
}

int
seg_zone_get(const struct seg_policy *p, size_t i, struct seg_zone_info *out)
{
	const struct seg_zone *z;

	if (!ok(p) || i >= p->nzones)
		return -1;
	z = &p->zones[i];
	out->name = z->name;
	out->description = z->desc;
	out->isolated = z->isolated;
	out->builtin = z->builtin;
	out->ndevices = z->ndevices;
	return 0;
}

static void
dev_fill(const struct seg_policy *p, const struct seg_device *d,
	 struct seg_device_info *out)
{
	out->identity = d->identity;
	out->zone = p->zones[d->zone].name;
	out->address = d->address;
	out->unit = d->unit;
	out->nbindings = d->nbinds;
	out->nattrs = d->nattrs;
	out->file = d->file;
	out->line = d->line;
}

int
seg_device_get(const struct seg_policy *p, size_t i,
	       struct seg_device_info *out)
{
	if (!ok(p) || i >= p->ndevs)
		return -1;
	dev_fill(p, &p->devs[i], out);
	return 0;
}

int
seg_device_find(const struct seg_policy *p, const char *identity,
		struct seg_device_info *out)
{
	long i;

	if (!ok(p) || identity == NULL)
		return -1;
	i = seg_dev_find(p, identity);
	if (i < 0)
		return -1;
	dev_fill(p, &p->devs[i], out);
	return 0;
}

const char *
seg_device_attr_get(const struct seg_policy *p, const char *identity,
		    const char *key)
{
	const struct seg_device *d;
	long i;
	uint32_t k;

	if (!ok(p) || identity == NULL || key == NULL)
		return NULL;
	i = seg_dev_find(p, identity);
	if (i < 0)
		return NULL;
	d = &p->devs[i];
	for (k = 0; k < d->nattrs; k++)
		if (strcmp(d->attrs[k].key, key) == 0)
			return d->attrs[k].value;
	return NULL;
}

int
seg_conduit_get(const struct seg_policy *p, size_t i,
		struct seg_conduit_info *out)
{
	const struct seg_conduit *c;

	if (!ok(p) || i >= p->nconds)
		return -1;
	c = &p->conds[p->decl[i]];
	out->name = c->name;
	out->description = c->desc;
	out->from_zone = p->zones[c->from].name;
	out->to_zone = p->zones[c->to_zone].name;
	out->to_device = c->to_dev >= 0 ? p->devs[c->to_dev].identity : NULL;
	out->shadow = c->shadow;
	out->min_assurance = c->min_assurance;
	out->nroles = c->nroles;
	out->protocols = (c->mb ? SEG_HAS_MODBUS : 0u) |
			 (c->mqtt ? SEG_HAS_MQTT : 0u) |
			 (c->http ? SEG_HAS_HTTP : 0u);
	out->file = c->file;
	out->line = c->line;
	return 0;
}
