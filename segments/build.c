/*
 * build.c: collecting zones, devices and conduits, and checking each item
 * as it comes in.  Checks that need the whole picture are in compile.c.
 *
 * Every call reports what is wrong through the diagnostics callback with
 * the caller's origin and goes on: a config loader wants every error of
 * a file in one run.  Names (zones, devices) must be declared before they
 * are referred to, which is the order a configuration file is read in.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segments/build.h"

/* ---------------------------------------------------------------- */
/* diagnostics */

static void
vdiag(struct seg_builder *b, enum seg_severity sev, const struct seg_origin *o,
      const char *fmt, va_list ap)
{
	char msg[512];

	if (sev == SEG_ERROR)
		b->nerr++;
	else
		b->nwarn++;
	if (b->diag == NULL)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	b->diag(b->arg, sev, o, msg);
}

void
seg_berr(struct seg_builder *b, const struct seg_origin *o, const char *fmt,
	 ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(b, SEG_ERROR, o, fmt, ap);
	va_end(ap);
}

void
seg_bwarn(struct seg_builder *b, const struct seg_origin *o, const char *fmt,
	  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(b, SEG_WARNING, o, fmt, ap);
	va_end(ap);
}

static int
oom(struct seg_builder *b, const struct seg_origin *o)
{
	seg_berr(b, o, "out of memory");
	return -1;
}

/* "FILE:LINE" of an earlier item, for "already declared at ..." */
const char *
seg_where(const char *file, int line, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%d", file ? file : "?", line);
	return buf;
}

/* ---------------------------------------------------------------- */
/* helpers */

/* Make room for one more element of size `el' in *arr (capacity *cap). */
int
seg_grow(void **arr, uint32_t *cap, uint32_t n, size_t el, uint32_t max)
{
	uint32_t ncap;
	void *na;

	if (n < *cap)
		return 0;
	if (n >= max)
		return -1;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap > max || ncap < *cap)
		ncap = max;
	na = realloc(*arr, (size_t)ncap * el);
	if (na == NULL)
		return -1;
	*arr = na;
	*cap = ncap;
	return 0;
}

/*
 * File names are copied once into the policy (consecutive items nearly
 * always come from the same file).
 */
static const char *
intern_file(struct seg_builder *b, const struct seg_origin *o)
{
	if (o == NULL || o->file == NULL)
		return NULL;
	if (b->last_file != NULL && strcmp(b->last_file, o->file) == 0)
		return b->last_file;
	b->last_file = seg_arena_strdup(&b->p->arena, o->file);
	return b->last_file;
}

static int
oline(const struct seg_origin *o)
{
	return o ? o->line : 0;
}

/* Zone and conduit names: 1..SEG_NAME_MAX of [A-Za-z0-9_.-]. */
static bool
name_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= SEG_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Identities and roles: 1..max bytes, no control bytes or spaces (they
 * end up in logs and in MQTT topics).  UTF-8 is accepted as bytes.
 */
static bool
token_ok(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= max || c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static bool
text_ok(const char *s)
{
	return s == NULL || strnlen(s, SEG_TEXT_MAX + 1) <= SEG_TEXT_MAX;
}

static long
zone_find(const struct seg_policy *p, const char *name)
{
	size_t n = strlen(name);

	return seg_smap_get(&p->zone_map, name, n, seg_hash(name, n));
}

long
seg_dev_find(const struct seg_policy *p, const char *id)
{
	size_t n = strnlen(id, SEG_IDENTITY_MAX + 1);

	if (n > SEG_IDENTITY_MAX)
		return -1;
	return seg_smap_get(&p->dev_map, id, n, seg_hash(id, n));
}

/* ---------------------------------------------------------------- */
/* builder */

static int
zone_push(struct seg_builder *b, const char *name, const char *desc,
	  bool isolated, bool builtin, const struct seg_origin *o)
{
	struct seg_policy *p = b->p;
	struct seg_zone *z;
	size_t n = strlen(name);

	if (seg_grow((void **)&p->zones, &p->capzones, p->nzones,
		     sizeof(*p->zones), SEG_MAX_ZONES) < 0) {
		if (p->nzones >= SEG_MAX_ZONES)
			seg_berr(b, o, "too many zones (at most %d)",
				 SEG_MAX_ZONES);
		else
			oom(b, o);
		return -1;
	}
	z = &p->zones[p->nzones];
	memset(z, 0, sizeof(*z));
	z->name = seg_arena_strdup(&p->arena, name);
	z->desc = seg_arena_strdup(&p->arena, desc);
	z->isolated = isolated;
	z->builtin = builtin;
	z->file = intern_file(b, o);
	z->line = oline(o);
	if (z->name == NULL || (desc != NULL && z->desc == NULL) ||
	    seg_smap_put(&p->zone_map, z->name, n, seg_hash(name, n),
			 p->nzones) < 0)
		return oom(b, o);
	return (int)p->nzones++;
}

struct seg_builder *
seg_builder_new(seg_diag_fn diag, void *arg)
{
	struct seg_builder *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->p = calloc(1, sizeof(*b->p));
	if (b->p == NULL) {
		free(b);
		return NULL;
	}
	b->diag = diag;
	b->arg = arg;
	if (zone_push(b, SEG_QUARANTINE_ZONE,
		      "built in: reaches nothing, reached by nothing", true,
		      true, NULL) != SEG_ZONE_QUARANTINE) {
		seg_builder_free(b);
		return NULL;
	}
	return b;
}

static void
cbuild_free(struct seg_cbuild *cb)
{
	int a, t;

	for (a = 0; a < 2; a++)
		for (t = 0; t < ZG_MB_NTABLES; t++)
			free(cb->r[a][t]);
}

void
seg_builder_free(struct seg_builder *b)
{
	uint32_t i;

	if (b == NULL)
		return;
	if (b->p != NULL)
		seg_policy_destroy(b->p);
	for (i = 0; i < b->ncb; i++)
		cbuild_free(&b->cb[i]);
	free(b->cb);
	free(b->bo);
	free(b);
}

size_t
seg_builder_errors(const struct seg_builder *b)
{
	return b ? b->nerr : 0;
}

size_t
seg_builder_warnings(const struct seg_builder *b)
{
	return b ? b->nwarn : 0;
}

/* A builder whose policy was handed over (or never made) refuses work. */
static bool
live(struct seg_builder *b)
{
	return b != NULL && b->p != NULL && !b->spent;
}

int
seg_zone_add(struct seg_builder *b, const char *name, const char *description,
	     bool isolated, const struct seg_origin *o)
{
	long prev;
	char w[300];

	if (!live(b))
		return -1;
	if (!name_ok(name)) {
		seg_berr(b, o,
			 "zone name \"%.64s\" must be 1-%d characters of A-Z a-z 0-9 _ . -",
			 name ? name : "", SEG_NAME_MAX);
		return -1;
	}
	if (strcmp(name, SEG_QUARANTINE_ZONE) == 0) {
		seg_berr(b, o,
			 "zone \"quarantine\" is built in (it reaches nothing and is reached by nothing); do not declare it");
		return -1;
	}
	prev = zone_find(b->p, name);
	if (prev >= 0) {
		const struct seg_zone *z = &b->p->zones[prev];

		seg_berr(b, o, "zone \"%s\" is already declared at %s", name,
			 seg_where(z->file, z->line, w, sizeof(w)));
		return -1;
	}
	if (!text_ok(description)) {
		seg_berr(b, o, "description longer than %d bytes",
			 SEG_TEXT_MAX);
		return -1;
	}
	return zone_push(b, name, description, isolated, false, o);
}

int
seg_device_add(struct seg_builder *b, const char *identity, const char *zone,
	       const struct seg_origin *o)
{
	struct seg_policy *p;
	struct seg_device *d;
	long z = -1, prev;
	size_t n;
	char w[300];
	bool bad = false;

	if (!live(b))
		return -1;
	p = b->p;
	if (!token_ok(identity, SEG_IDENTITY_MAX)) {
		seg_berr(b, o,
			 "identity must be 1-%d bytes without spaces or control characters",
			 SEG_IDENTITY_MAX);
		return -1;
	}
	prev = seg_dev_find(p, identity);
	if (prev >= 0) {
		seg_berr(b, o, "identity \"%s\" is already declared at %s",
			 identity,
			 seg_where(p->devs[prev].file, p->devs[prev].line, w,
				   sizeof(w)));
		bad = true;
	}
	if (zone == NULL) {
		seg_berr(b, o, "device \"%s\" needs a zone", identity);
		bad = true;
	} else if ((z = zone_find(p, zone)) < 0) {
		seg_berr(b, o,
			 "unknown zone \"%.64s\" (declare it in zones, or use \"quarantine\")",
			 zone);
		bad = true;
	}
	if (seg_grow((void **)&p->devs, &p->capdevs, p->ndevs, sizeof(*p->devs),
		     SEG_MAX_DEVICES) < 0) {
		if (p->ndevs >= SEG_MAX_DEVICES)
			seg_berr(b, o, "too many devices (at most %d)",
				 SEG_MAX_DEVICES);
		else
			oom(b, o);
		return -1;
	}
	d = &p->devs[p->ndevs];
	memset(d, 0, sizeof(*d));
	n = strlen(identity);
	d->identity = seg_arena_strdup(&p->arena, identity);
	d->idlen = (uint32_t)n;
	d->zone = z >= 0 ? (uint16_t)z : 0;
	d->unit = -1;
	d->bad = bad;
	d->file = intern_file(b, o);
	d->line = oline(o);
	if (d->identity == NULL)
		return oom(b, o);
	if (prev < 0 && seg_smap_put(&p->dev_map, d->identity, n,
				     seg_hash(identity, n), p->ndevs) < 0)
		return oom(b, o);
	return (int)p->ndevs++;
}

static struct seg_device *
dev_get(struct seg_builder *b, int dev, const struct seg_origin *o)
{
	if (!live(b))
		return NULL;
	if (dev < 0 || (uint32_t)dev >= b->p->ndevs) {
		seg_berr(b, o, "internal: no device handle %d", dev);
		return NULL;
	}
	return &b->p->devs[dev];
}

int
seg_device_target(struct seg_builder *b, int dev, const char *address,
		  int unit, const struct seg_origin *o)
{
	struct seg_device *d = dev_get(b, dev, o);
	char err[160];
	int rc = 0;

	if (d == NULL)
		return -1;
	if (address != NULL) {
		if (seg_parse_hostport(address, err, sizeof(err)) < 0) {
			seg_berr(b, o, "%s", err);
			rc = -1;
		} else if ((d->address = seg_arena_strdup(&b->p->arena,
							  address)) == NULL) {
			return oom(b, o);
		}
	}
	if (unit != -1) {
		if (unit < 1 || (unit > 247 && unit != 255)) {
			seg_berr(b, o,
				 "unit %d: a device's unit id is 1-247 (or 255 for a TCP device that ignores it)",
				 unit);
			rc = -1;
		} else {
			d->unit = (int16_t)unit;
		}
	}
	return rc;
}

int
seg_device_bind(struct seg_builder *b, int dev, const char *address,
		unsigned port_lo, unsigned port_hi, const struct seg_origin *o)
{
	struct seg_device *d = dev_get(b, dev, o);
	struct seg_policy *p;
	struct seg_bind *bd;
	uint8_t ip[16];
	int fam;

	if (d == NULL)
		return -1;
	p = b->p;
	fam = seg_parse_ip(address, ip);
	if (fam == 0) {
		seg_berr(b, o,
			 "\"%.64s\" is not a numeric IPv4 or IPv6 address (no host names, no port)",
			 address ? address : "");
		return -1;
	}
	if (port_lo > port_hi || port_hi > 65535) {
		seg_berr(b, o, "ports %u-%u: need 0 <= first <= last <= 65535",
			 port_lo, port_hi);
		return -1;
	}
	if (seg_grow((void **)&p->binds, &p->capbinds, p->nbinds,
		     sizeof(*p->binds), SEG_MAX_DEVICES) < 0 ||
	    seg_grow((void **)&b->bo, &b->capbo, p->nbinds, sizeof(*b->bo),
		     SEG_MAX_DEVICES) < 0) {
		if (p->nbinds >= SEG_MAX_DEVICES)
			seg_berr(b, o, "too many address bindings (at most %d)",
				 SEG_MAX_DEVICES);
		else
			oom(b, o);
		return -1;
	}
	bd = &p->binds[p->nbinds];
	memset(bd, 0, sizeof(*bd));
	bd->family = (uint8_t)fam;
	memcpy(bd->addr, ip, 16);
	bd->plo = (uint16_t)port_lo;
	bd->phi = (uint16_t)port_hi;
	bd->dev = (uint32_t)dev;
	if (o != NULL)
		b->bo[p->nbinds] = *o;
	else
		memset(&b->bo[p->nbinds], 0, sizeof(*b->bo));
	p->nbinds++;
	d->nbinds++;
	return 0;
}

int
seg_device_attr(struct seg_builder *b, int dev, const char *key,
		const char *value, const struct seg_origin *o)
{
	struct seg_device *d = dev_get(b, dev, o);
	struct seg_attr *a;
	uint32_t i;

	if (d == NULL)
		return -1;
	if (!token_ok(key, SEG_NAME_MAX) || value == NULL || !text_ok(value)) {
		seg_berr(b, o,
			 "attribute needs a key of 1-%d bytes and a value of at most %d bytes",
			 SEG_NAME_MAX, SEG_TEXT_MAX);
		return -1;
	}
	for (i = 0; i < d->nattrs; i++) {
		if (strcmp(d->attrs[i].key, key) == 0) {
			seg_berr(b, o, "attribute \"%s\" is given twice", key);
			return -1;
		}
	}
	if (seg_grow((void **)&d->attrs, &d->capattrs, d->nattrs,
		     sizeof(*d->attrs), SEG_MAX_ATTRS) < 0) {
		if (d->nattrs >= SEG_MAX_ATTRS)
			seg_berr(b, o, "too many attributes (at most %d)",
				 SEG_MAX_ATTRS);
		else
			oom(b, o);
		return -1;
	}
	a = &d->attrs[d->nattrs];
	a->key = seg_arena_strdup(&b->p->arena, key);
	a->value = seg_arena_strdup(&b->p->arena, value);
	if (a->key == NULL || a->value == NULL)
		return oom(b, o);
	d->nattrs++;
	return 0;
}

/* ---------------------------------------------------------------- */
/* conduits */

int
seg_conduit_add(struct seg_builder *b, const char *name, const char *from_zone,
		const char *to_zone, const char *to_device,
		const struct seg_origin *o)
{
	struct seg_policy *p;
	struct seg_conduit *c;
	struct seg_cbuild *cb;
	long prev = -1, fz = -1, tz = -1, td = -1;
	char w[300];
	bool bad = false;

	if (!live(b))
		return -1;
	p = b->p;
	if (!name_ok(name)) {
		seg_berr(b, o,
			 "conduit name \"%.64s\" must be 1-%d characters of A-Z a-z 0-9 _ . -",
			 name ? name : "", SEG_NAME_MAX);
		return -1;
	}
	prev = seg_smap_get(&p->cond_map, name, strlen(name),
			    seg_hash(name, strlen(name)));
	if (prev >= 0) {
		seg_berr(b, o, "conduit \"%s\" is already declared at %s",
			 name,
			 seg_where(p->conds[prev].file, p->conds[prev].line, w,
				   sizeof(w)));
		bad = true;
	}
	if (from_zone == NULL) {
		seg_berr(b, o, "conduit \"%s\" needs a from zone", name);
		bad = true;
	} else if ((fz = zone_find(p, from_zone)) < 0) {
		seg_berr(b, o, "unknown zone \"%.64s\" (declare it in zones)",
			 from_zone);
		bad = true;
	}
	if ((to_zone == NULL) == (to_device == NULL)) {
		seg_berr(b, o,
			 "conduit \"%s\" needs exactly one of a to zone or a target device",
			 name);
		bad = true;
	} else if (to_zone != NULL && (tz = zone_find(p, to_zone)) < 0) {
		seg_berr(b, o, "unknown zone \"%.64s\" (declare it in zones)",
			 to_zone);
		bad = true;
	} else if (to_device != NULL) {
		td = seg_dev_find(p, to_device);
		if (td < 0) {
			seg_berr(b, o,
				 "unknown device \"%.64s\" (declare it in devices)",
				 to_device);
			bad = true;
		} else if (p->devs[td].bad) {
			bad = true;
		} else {
			tz = p->devs[td].zone;
			p->devs[td].dev_target = true;
		}
	}
	if (fz == SEG_ZONE_QUARANTINE ||
	    (to_zone != NULL && tz == SEG_ZONE_QUARANTINE)) {
		seg_berr(b, o,
			 "zone \"quarantine\" reaches nothing and is reached by nothing: it can have no conduits");
		bad = true;
	}
	if (seg_grow((void **)&p->conds, &p->capconds, p->nconds,
		     sizeof(*p->conds), SEG_MAX_CONDUITS) < 0 ||
	    seg_grow((void **)&b->cb, &b->capcb, b->ncb, sizeof(*b->cb),
		     SEG_MAX_CONDUITS) < 0) {
		if (p->nconds >= SEG_MAX_CONDUITS)
			seg_berr(b, o, "too many conduits (at most %d)",
				 SEG_MAX_CONDUITS);
		else
			oom(b, o);
		return -1;
	}
	c = &p->conds[p->nconds];
	memset(c, 0, sizeof(*c));
	cb = &b->cb[b->ncb];
	memset(cb, 0, sizeof(*cb));
	if (o != NULL)
		cb->o = *o;
	c->name = seg_arena_strdup(&p->arena, name);
	c->namelen = (uint32_t)strlen(name);
	c->from = fz >= 0 ? (uint16_t)fz : 0;
	c->to_zone = tz >= 0 ? (uint16_t)tz : 0;
	c->to_dev = (int32_t)td;
	c->min_assurance = ZG_ASSURANCE_ADDRESS;
	c->bad = bad;
	c->file = intern_file(b, o);
	c->line = oline(o);
	if (c->name == NULL)
		return oom(b, o);
	if (prev < 0 && seg_smap_put(&p->cond_map, c->name, strlen(name),
				     seg_hash(name, strlen(name)),
				     p->nconds) < 0)
		return oom(b, o);
	b->ncb++; /* b->cb stays parallel to p->conds */
	return (int)p->nconds++;
}

struct seg_conduit *
seg_cond_get(struct seg_builder *b, int c, const struct seg_origin *o)
{
	if (!live(b))
		return NULL;
	if (c < 0 || (uint32_t)c >= b->p->nconds) {
		seg_berr(b, o, "internal: no conduit handle %d", c);
		return NULL;
	}
	return &b->p->conds[c];
}

int
seg_conduit_description(struct seg_builder *b, int ci, const char *text,
			const struct seg_origin *o)
{
	struct seg_conduit *c = seg_cond_get(b, ci, o);

	if (c == NULL)
		return -1;
	if (!text_ok(text)) {
		seg_berr(b, o, "description longer than %d bytes",
			 SEG_TEXT_MAX);
		return -1;
	}
	c->desc = seg_arena_strdup(&b->p->arena, text);
	return 0;
}

int
seg_conduit_shadow(struct seg_builder *b, int ci, bool shadow)
{
	struct seg_conduit *c = seg_cond_get(b, ci, NULL);

	if (c == NULL)
		return -1;
	c->shadow = shadow;
	return 0;
}

int
seg_conduit_assurance(struct seg_builder *b, int ci, int min_assurance,
		      const struct seg_origin *o)
{
	struct seg_conduit *c = seg_cond_get(b, ci, o);

	if (c == NULL)
		return -1;
	if (min_assurance != ZG_ASSURANCE_ADDRESS &&
	    min_assurance != ZG_ASSURANCE_CERT) {
		seg_berr(b, o, "assurance must be address or certificate");
		return -1;
	}
	c->min_assurance = (uint8_t)min_assurance;
	return 0;
}

int
seg_conduit_role(struct seg_builder *b, int ci, const char *role,
		 const struct seg_origin *o)
{
	struct seg_conduit *c = seg_cond_get(b, ci, o);
	const char **nr;
	uint32_t i;

	if (c == NULL)
		return -1;
	if (!token_ok(role, SEG_NAME_MAX)) {
		seg_berr(b, o,
			 "a role is 1-%d bytes without spaces or control characters",
			 SEG_NAME_MAX);
		return -1;
	}
	for (i = 0; i < c->nroles; i++) {
		if (strcmp(c->roles[i], role) == 0) {
			seg_bwarn(b, o, "role \"%s\" is listed twice", role);
			return 0;
		}
	}
	if (c->nroles >= SEG_MAX_ROLES) {
		seg_berr(b, o, "too many roles (at most %d)", SEG_MAX_ROLES);
		return -1;
	}
	nr = realloc(c->roles, (c->nroles + 1) * sizeof(*nr));
	if (nr == NULL)
		return oom(b, o);
	c->roles = nr;
	nr[c->nroles] = seg_arena_strdup(&b->p->arena, role);
	if (nr[c->nroles] == NULL)
		return oom(b, o);
	c->nroles++;
	return 0;
}
