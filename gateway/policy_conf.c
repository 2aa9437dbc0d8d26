/*
 * policy_conf.c: zones / devices / conduits from libconfig into the
 * segments builder.  See policy_conf.h and docs/policy.md.
 *
 * This file only translates: it checks shapes and types (what libconfig
 * can get wrong) and leaves meaning (names, ranges, overlaps, function
 * codes) to the builder, whose diagnostics come back here through
 * policy_diag() with the libconfig setting they belong to.
 *
 * libconfig arrays [ ... ] hold scalars of one type only, so a list that
 * mixes numbers and strings, or holds groups, is written with ( ... ):
 *   functions = (3, 16, "43/14");
 *   holding_registers = ( "0-9", { range = "10-19"; max = 1000; } );
 * Both brackets are accepted everywhere a list is expected.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "gateway/policy_conf.h"

static const char *const zone_keys[] = { "name", "description", "isolated",
					 NULL };
static const char *const device_keys[] = { "identity", "zone", "address",
					   "unit", "bind", "attributes",
					   NULL };
static const char *const bind_keys[] = { "address", "ports", NULL };
static const char *const conduit_keys[] = { "name", "description", "from",
	"to", "device", "shadow", "require_assurance", "roles", "modbus",
	"mqtt", "http", NULL };
static const char *const modbus_keys[] = { "units", "functions",
	"max_quantity", "broadcast", "read", "write", NULL };
/* Index = enum zg_mb_table. */
static const char *const table_keys[] = { "coils", "discrete_inputs",
	"holding_registers", "input_registers", NULL };
static const char *const bounds_keys[] = { "range", "min", "max", "signed",
					   NULL };
static const char *const mqtt_keys[] = { "publish", "subscribe", NULL };
static const char *const http_keys[] = { "method", "path", NULL };
/* Index + 1 = enum zg_assurance. */
static const char *const assurance_names[] = { "address", "certificate",
					       NULL };

struct loader {
	struct cfg_errs *e;
	struct seg_builder *b;
};

/* ---------------------------------------------------------------- */
/* helpers */

static void
policy_diag(void *arg, enum seg_severity sev, const struct seg_origin *o,
	 const char *msg)
{
	struct cfg_errs *e = arg;
	const config_setting_t *s = o ? o->ctx : NULL;

	if (s != NULL) {
		if (sev == SEG_ERROR)
			cfg_err(e, s, NULL, "%s", msg);
		else
			cfg_warn(e, s, NULL, "%s", msg);
	} else if (sev == SEG_ERROR) {
		cfg_err_at(e, o ? o->file : NULL, o ? o->line : 0, "%s", msg);
	} else {
		cfg_warn(e, NULL, NULL, "%s", msg);
	}
}

/* The origin of setting s: its file and line, and s itself. */
static struct seg_origin
org(const config_setting_t *s)
{
	struct seg_origin o;

	o.file = s ? config_setting_source_file(s) : NULL;
	o.line = cfg_line(s);
	o.ctx = s;
	return o;
}

static config_setting_t *
member(const config_setting_t *g, const char *key)
{
	return g ? config_setting_get_member(g, key) : NULL;
}

static bool
is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static long long
int_of(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT64
		       ? config_setting_get_int64(s)
		       : config_setting_get_int(s);
}

/* Decimal digits only, at most 7 of them: 0 or -1. */
static int
parse_num(const char *s, const char **end, unsigned long *v)
{
	unsigned long n = 0;
	int d = 0;

	while (*s == ' ')
		s++;
	while (*s >= '0' && *s <= '9' && d < 8) {
		n = n * 10 + (unsigned long)(*s - '0');
		s++;
		d++;
	}
	while (*s == ' ')
		s++;
	if (d == 0 || d > 7)
		return -1;
	*v = n;
	*end = s;
	return 0;
}

/* "N" or "N-M" (decimal); the caller checks the bounds. */
static int
parse_range(const char *s, unsigned long *lo, unsigned long *hi)
{
	const char *p;

	if (parse_num(s, &p, lo) < 0)
		return -1;
	if (*p == '\0') {
		*hi = *lo;
		return 0;
	}
	if (*p != '-' || parse_num(p + 1, &p, hi) < 0 || *p != '\0')
		return -1;
	return 0;
}

/*
 * An element that is an integer or an "a-b" string: 0 with lo/hi set,
 * or -1 after recording an error that says what was expected.
 */
static int
range_elem(struct loader *l, const config_setting_t *el, const char *what,
	   unsigned long *lo, unsigned long *hi)
{
	if (is_int(el)) {
		long long v = int_of(el);

		if (v < 0 || v > 0xffffff) {
			cfg_err(l->e, el, NULL, "%lld is not a valid %s", v, what);
			return -1;
		}
		*lo = *hi = (unsigned long)v;
		return 0;
	}
	if (config_setting_type(el) == CONFIG_TYPE_STRING &&
	    parse_range(config_setting_get_string(el), lo, hi) == 0)
		return 0;
	cfg_err(l->e, el, NULL,
		"expected a %s: a number or a range string like \"10-19\"",
		what);
	return -1;
}

/*
 * A list member that must be present and non-empty when given: NULL
 * when absent or wrong (the error is recorded).
 */
static config_setting_t *
nonempty_list(struct loader *l, const config_setting_t *g, const char *key,
	      const char *hint)
{
	config_setting_t *s = cfg_get_list(l->e, g, key, NULL);

	if (s != NULL && config_setting_length(s) == 0) {
		cfg_err(l->e, s, NULL, "is empty: %s", hint);
		return NULL;
	}
	return s;
}

static bool
is_group(struct loader *l, const config_setting_t *el, const char *what)
{
	if (config_setting_type(el) == CONFIG_TYPE_GROUP)
		return true;
	cfg_err(l->e, el, NULL, "each %s is a group { ... }", what);
	return false;
}

/* A required string member: NULL (error recorded) when absent or wrong. */
static const char *
req_string(struct loader *l, const config_setting_t *g, const char *key)
{
	const char *v = NULL;

	if (cfg_get_string(l->e, g, key, NULL, &v) < 0)
		return NULL;
	if (v == NULL)
		cfg_err(l->e, g, key, "is required");
	return v;
}

/* ---------------------------------------------------------------- */
/* risky settings */

/*
 * Settings that are legal but widen what a conduit admits beyond what
 * most sites mean.  Each is a warning (zonegated -t, every start and
 * reload; -t -W makes them fatal) at the setting's file:line, saying
 * what to do instead.  One table, judged where each kind of setting is
 * read.
 */
enum risk_where { RISK_CONDUIT, RISK_RANGE, RISK_MQTT_FILTER };

struct risk_ctx {
	const config_setting_t *s;       /* the setting judged */
	const config_setting_t *conduit; /* the conduit it belongs to */
	unsigned long lo, hi;            /* RISK_RANGE */
	const char *filter;              /* RISK_MQTT_FILTER */
};

static bool
risk_shadow(const struct risk_ctx *r)
{
	const config_setting_t *sh = member(r->conduit, "shadow");

	return sh != NULL && config_setting_type(sh) == CONFIG_TYPE_BOOL &&
	       config_setting_get_bool(sh);
}

static bool
risk_whole_table(const struct risk_ctx *r)
{
	return r->lo == 0 && r->hi >= 65535;
}

/* A wildcard not tied to the caller (%u, %c), on a conduit open to every role. */
static bool
risk_shared_wildcard(const struct risk_ctx *r)
{
	return strpbrk(r->filter, "#+") != NULL &&
	       strstr(r->filter, "%u") == NULL &&
	       strstr(r->filter, "%c") == NULL &&
	       member(r->conduit, "roles") == NULL;
}

static const struct policy_risk {
	enum risk_where where;
	const char *key; /* the member the warning points at (NULL: s) */
	bool (*risky)(const struct risk_ctx *r);
	const char *advice;
} policy_risks[] = {
	{ RISK_CONDUIT, "shadow", risk_shadow,
	  "shadow conduit: every operation on its path is ALLOWED and only logged (dry run); set shadow = false once the logs show what it would deny" },
	{ RISK_RANGE, NULL, risk_whole_table,
	  "covers the whole address table (0-65535): name only the addresses the peer needs" },
	{ RISK_MQTT_FILTER, NULL, risk_shared_wildcard,
	  "wildcard filter shared by every identity of the zone: anchor it to the caller with %u (or %c), or restrict the conduit with roles" },
	{ 0, NULL, NULL, NULL },
};

/* The conduit group a setting sits in (the child of the conduits list). */
static const config_setting_t *
conduit_of(const config_setting_t *s)
{
	const config_setting_t *p;

	while (s != NULL && (p = config_setting_parent(s)) != NULL) {
		const char *n = config_setting_name(p);

		if (n != NULL && strcmp(n, "conduits") == 0 &&
		    config_setting_parent(p) != NULL &&
		    config_setting_parent(config_setting_parent(p)) == NULL)
			return s;
		s = p;
	}
	return NULL;
}

static void
risk_check(struct loader *l, enum risk_where where, struct risk_ctx *r)
{
	const struct policy_risk *k;

	if (r->conduit == NULL)
		r->conduit = conduit_of(r->s);
	if (r->conduit == NULL)
		return;
	for (k = policy_risks; k->risky != NULL; k++) {
		if (k->where != where || !k->risky(r))
			continue;
		cfg_warn(l->e, r->s, k->key, "%s", k->advice);
	}
}

/* ---------------------------------------------------------------- */
/* zones and devices */

static void
load_zones(struct loader *l, const config_setting_t *list)
{
	int i, n = list ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		config_setting_t *z = config_setting_get_elem(list, (unsigned)i);
		const char *name, *desc = NULL;
		bool isolated = false;
		struct seg_origin o;

		if (!is_group(l, z, "zone"))
			continue;
		cfg_known_keys(l->e, z, zone_keys);
		cfg_get_string(l->e, z, "description", NULL, &desc);
		cfg_get_bool(l->e, z, "isolated", false, &isolated);
		if ((name = req_string(l, z, "name")) == NULL)
			continue;
		o = org(z);
		seg_zone_add(l->b, name, desc, isolated, &o);
	}
}

static void
load_bind(struct loader *l, int dev, const config_setting_t *bg)
{
	config_setting_t *ports;
	unsigned long lo = 0, hi = 65535;
	const char *addr;
	struct seg_origin o;

	cfg_known_keys(l->e, bg, bind_keys);
	addr = req_string(l, bg, "address");
	ports = member(bg, "ports");
	if (ports != NULL && range_elem(l, ports, "port range", &lo, &hi) < 0)
		return;
	if (addr == NULL)
		return;
	o = org(bg);
	seg_device_bind(l->b, dev, addr, (unsigned)lo, (unsigned)hi, &o);
}

static void
load_attrs(struct loader *l, int dev, const config_setting_t *ag)
{
	int i, n = config_setting_length(ag);

	for (i = 0; i < n; i++) {
		config_setting_t *a = config_setting_get_elem(ag, (unsigned)i);
		struct seg_origin o = org(a);

		if (config_setting_type(a) != CONFIG_TYPE_STRING) {
			cfg_err(l->e, a, NULL, "attribute values are strings");
			continue;
		}
		seg_device_attr(l->b, dev, config_setting_name(a),
				config_setting_get_string(a), &o);
	}
}

static void
load_devices(struct loader *l, const config_setting_t *list)
{
	int i, n = list ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		config_setting_t *d = config_setting_get_elem(list, (unsigned)i);
		config_setting_t *bg, *ag;
		const char *id, *zone, *addr = NULL;
		long long unit = -1;
		struct seg_origin o;
		bool bad;
		int dev;

		if (!is_group(l, d, "device"))
			continue;
		cfg_known_keys(l->e, d, device_keys);
		id = req_string(l, d, "identity");
		zone = req_string(l, d, "zone");
		cfg_get_string(l->e, d, "address", NULL, &addr);
		cfg_get_int(l->e, d, "unit", -1, 0, 255, &unit);
		bg = cfg_get_group(l->e, d, "bind", &bad);
		ag = cfg_get_group(l->e, d, "attributes", &bad);
		if (id == NULL || zone == NULL)
			continue;
		o = org(d);
		dev = seg_device_add(l->b, id, zone, &o);
		if (dev < 0)
			continue;
		if (addr != NULL) {
			o = org(member(d, "address"));
			seg_device_target(l->b, dev, addr, -1, &o);
		}
		if (unit != -1) {
			o = org(member(d, "unit"));
			seg_device_target(l->b, dev, NULL, (int)unit, &o);
		}
		if (bg != NULL)
			load_bind(l, dev, bg);
		if (ag != NULL)
			load_attrs(l, dev, ag);
	}
}

/* ---------------------------------------------------------------- */
/* modbus */

static void
load_units(struct loader *l, int c, const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	for (i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(list, (unsigned)i);
		unsigned long lo, hi;
		struct seg_origin o = org(el);

		if (range_elem(l, el, "unit id or range", &lo, &hi) == 0)
			seg_mb_units(l->b, c, (unsigned)lo,
				     (unsigned)(hi > 0xffff ? 0xffff : hi), &o);
	}
}

/* 3, "3", "8/4", "43/14" */
static void
load_functions(struct loader *l, int c, const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	for (i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(list, (unsigned)i);
		struct seg_origin o = org(el);
		unsigned long fc, sub;
		const char *s, *p;

		if (is_int(el)) {
			long long v = int_of(el);

			if (v < 0 || v > 255) {
				cfg_err(l->e, el, NULL,
					"function code %lld is outside 1-127", v);
				continue;
			}
			seg_mb_function(l->b, c, (int)v, -1, &o);
			continue;
		}
		if (config_setting_type(el) != CONFIG_TYPE_STRING ||
		    parse_num((s = config_setting_get_string(el)), &p, &fc) < 0) {
			cfg_err(l->e, el, NULL,
				"expected a function code: 3, \"8/0\" or \"43/14\"");
			continue;
		}
		if (*p == '\0') {
			seg_mb_function(l->b, c, fc > 255 ? 255 : (int)fc, -1, &o);
			continue;
		}
		if (*p != '/' || parse_num(p + 1, &p, &sub) < 0 || *p != '\0') {
			cfg_err(l->e, el, NULL,
				"\"%s\" is not a function code: write 3, \"8/0\" or \"43/14\"",
				s);
			continue;
		}
		seg_mb_function(l->b, c, fc > 255 ? 255 : (int)fc,
				sub > 65536 ? 65536 : (int)sub, &o);
	}
}

/* One table's list of ranges: 5, "10-19", { range = ...; min; max; } */
static void
load_table(struct loader *l, int c, int access, int table,
	   const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	for (i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(list, (unsigned)i);
		struct seg_origin o = org(el);
		struct seg_bounds bd, *bp = NULL;
		unsigned long lo, hi;

		if (config_setting_type(el) == CONFIG_TYPE_GROUP) {
			config_setting_t *r = member(el, "range");
			long long mn, mx;
			bool sg = false;

			cfg_known_keys(l->e, el, bounds_keys);
			cfg_get_bool(l->e, el, "signed", false, &sg);
			if (cfg_get_int(l->e, el, "min", sg ? -32768 : 0, -65536,
					65536, &mn) < 0 ||
			    cfg_get_int(l->e, el, "max", sg ? 32767 : 65535,
					-65536, 65536, &mx) < 0)
				continue;
			if (r == NULL) {
				cfg_err(l->e, el, "range", "is required");
				continue;
			}
			if (range_elem(l, r, "address range", &lo, &hi) < 0)
				continue;
			if (member(el, "min") != NULL ||
			    member(el, "max") != NULL) {
				bd.min = (long)mn;
				bd.max = (long)mx;
				bd.is_signed = sg;
				bp = &bd;
			}
		} else if (range_elem(l, el, "address range", &lo, &hi) < 0) {
			continue;
		}
		{
			struct risk_ctx r = { .s = el, .lo = lo, .hi = hi };

			risk_check(l, RISK_RANGE, &r);
		}
		seg_mb_range(l->b, c, access, table,
			     (unsigned)(lo > 0xfffff ? 0xfffff : lo),
			     (unsigned)(hi > 0xfffff ? 0xfffff : hi), bp, &o);
	}
}

static void
load_access(struct loader *l, int c, int access, const config_setting_t *g)
{
	int t;

	cfg_known_keys(l->e, g, table_keys);
	for (t = 0; t < ZG_MB_NTABLES; t++) {
		config_setting_t *list = cfg_get_list(l->e, g, table_keys[t], NULL);

		if (list != NULL)
			load_table(l, c, access, t, list);
	}
}

static void
load_modbus(struct loader *l, int c, const config_setting_t *g)
{
	config_setting_t *s;
	struct seg_origin o = org(g);
	long long mq;
	bool bc = false, bad;

	cfg_known_keys(l->e, g, modbus_keys);
	seg_mb_enable(l->b, c, &o);
	if ((s = nonempty_list(l, g, "units",
			       "leave it out to allow every unit")) != NULL)
		load_units(l, c, s);
	if ((s = nonempty_list(l, g, "functions",
			       "leave it out to derive functions from the read and write ranges")) != NULL)
		load_functions(l, c, s);
	if (cfg_get_int(l->e, g, "max_quantity", 0, 1, 2000, &mq) == 0 &&
	    mq != 0) {
		o = org(member(g, "max_quantity"));
		seg_mb_max_quantity(l->b, c, (unsigned)mq, &o);
	}
	if (cfg_get_bool(l->e, g, "broadcast", false, &bc) == 0 && bc) {
		o = org(member(g, "broadcast"));
		seg_mb_broadcast(l->b, c, true, &o);
	}
	if ((s = cfg_get_group(l->e, g, "read", &bad)) != NULL)
		load_access(l, c, ZG_MB_READ, s);
	if ((s = cfg_get_group(l->e, g, "write", &bad)) != NULL)
		load_access(l, c, ZG_MB_WRITE, s);
}

/* ---------------------------------------------------------------- */
/* mqtt and http */

static void
load_filters(struct loader *l, int c, int action, const config_setting_t *list)
{
	int i, n = config_setting_length(list);

	for (i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(list, (unsigned)i);
		struct seg_origin o = org(el);

		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			cfg_err(l->e, el, NULL,
				"expected a topic filter string like \"site/%%u/#\"");
			continue;
		}
		{
			struct risk_ctx r = {
				.s = el, .filter = config_setting_get_string(el)
			};

			risk_check(l, RISK_MQTT_FILTER, &r);
		}
		seg_mqtt_filter(l->b, c, action, config_setting_get_string(el),
				&o);
	}
}

static void
load_mqtt(struct loader *l, int c, const config_setting_t *g)
{
	config_setting_t *s;
	struct seg_origin o = org(g);

	cfg_known_keys(l->e, g, mqtt_keys);
	seg_mqtt_enable(l->b, c, &o);
	if ((s = cfg_get_list(l->e, g, "publish", NULL)) != NULL)
		load_filters(l, c, ZG_MQTT_PUBLISH, s);
	if ((s = cfg_get_list(l->e, g, "subscribe", NULL)) != NULL)
		load_filters(l, c, ZG_MQTT_SUBSCRIBE, s);
}

static void
load_http(struct loader *l, int c, const config_setting_t *list)
{
	int i, n = config_setting_length(list);
	struct seg_origin o = org(list);

	seg_http_enable(l->b, c, &o);
	for (i = 0; i < n; i++) {
		config_setting_t *r = config_setting_get_elem(list, (unsigned)i);
		const char *method, *path;

		if (!is_group(l, r, "http rule"))
			continue;
		cfg_known_keys(l->e, r, http_keys);
		method = req_string(l, r, "method");
		path = req_string(l, r, "path");
		if (method == NULL || path == NULL)
			continue;
		o = org(r);
		seg_http_rule(l->b, c, method, path, &o);
	}
}

/* ---------------------------------------------------------------- */
/* conduits */

static void
load_conduits(struct loader *l, const config_setting_t *list)
{
	int i, n = list ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		config_setting_t *roles, *mb, *mq, *hp;
		const char *name, *from, *to = NULL, *dev = NULL, *desc = NULL;
		bool shadow = false, bad;
		struct seg_origin o;
		int c, as = -1, j;

		if (!is_group(l, g, "conduit"))
			continue;
		cfg_known_keys(l->e, g, conduit_keys);
		name = req_string(l, g, "name");
		from = req_string(l, g, "from");
		cfg_get_string(l->e, g, "to", NULL, &to);
		cfg_get_string(l->e, g, "device", NULL, &dev);
		cfg_get_string(l->e, g, "description", NULL, &desc);
		cfg_get_bool(l->e, g, "shadow", false, &shadow);
		cfg_get_enum(l->e, g, "require_assurance", assurance_names, -1,
			     &as);
		roles = nonempty_list(l, g, "roles",
				      "leave it out to admit any role");
		mb = cfg_get_group(l->e, g, "modbus", &bad);
		mq = cfg_get_group(l->e, g, "mqtt", &bad);
		hp = cfg_get_list(l->e, g, "http", &bad);
		if (name == NULL || from == NULL)
			continue;
		if (to != NULL && dev != NULL) {
			cfg_err(l->e, g, "device",
				"give either to (a zone) or device (one device), not both");
			continue;
		}
		if (to == NULL && dev == NULL) {
			cfg_err(l->e, g, NULL,
				"needs to = \"zone\" or device = \"identity\"");
			continue;
		}
		o = org(g);
		c = seg_conduit_add(l->b, name, from, to, dev, &o);
		if (c < 0)
			continue;
		if (desc != NULL)
			seg_conduit_description(l->b, c, desc, &o);
		seg_conduit_shadow(l->b, c, shadow);
		{
			struct risk_ctx r = { .s = g, .conduit = g };

			risk_check(l, RISK_CONDUIT, &r);
		}
		if (as >= 0) {
			o = org(member(g, "require_assurance"));
			seg_conduit_assurance(l->b, c, as + 1, &o);
		}
		for (j = 0; roles != NULL && j < config_setting_length(roles); j++) {
			config_setting_t *r = config_setting_get_elem(roles, (unsigned)j);

			o = org(r);
			if (config_setting_type(r) != CONFIG_TYPE_STRING)
				cfg_err(l->e, r, NULL, "roles are strings");
			else
				seg_conduit_role(l->b, c,
						 config_setting_get_string(r), &o);
		}
		if (mb != NULL)
			load_modbus(l, c, mb);
		if (mq != NULL)
			load_mqtt(l, c, mq);
		if (hp != NULL)
			load_http(l, c, hp);
	}
}

/* ---------------------------------------------------------------- */

int
policy_conf_load(struct cfg_errs *e, const config_t *cfg,
		 const struct policy_opts *opts, struct seg_policy **out)
{
	const config_setting_t *root;
	struct seg_opts so;
	struct loader l;
	size_t before = cfg_errs_count(e);

	*out = NULL;
	l.e = e;
	l.b = seg_builder_new(policy_diag, e);
	if (l.b == NULL) {
		cfg_err_at(e, NULL, 0, "out of memory building the policy");
		return -1;
	}
	root = config_root_setting(cfg);
	load_zones(&l, cfg_get_list(e, root, "zones", NULL));
	load_devices(&l, cfg_get_list(e, root, "devices", NULL));
	load_conduits(&l, cfg_get_list(e, root, "conduits", NULL));

	memset(&so, 0, sizeof(so));
	if (opts != NULL) {
		so.fail_open = opts->fail_open;
		so.island_mode = opts->island_mode;
	}
	/* Compile even after errors: its own checks report more of them. */
	*out = seg_compile(l.b, &so);
	seg_builder_free(l.b);
	if (*out != NULL && cfg_errs_count(e) != before) {
		seg_policy_unref(*out);
		*out = NULL;
	}
	if (*out == NULL && cfg_errs_count(e) == before)
		cfg_err_at(e, NULL, 0, "out of memory compiling the policy");
	return *out != NULL ? 0 : -1;
}

/* ---------------------------------------------------------------- */
/* summary */

static const char *
protos(unsigned bits, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", bits & SEG_HAS_MODBUS ? "modbus " : "",
		 bits & SEG_HAS_MQTT ? "mqtt " : "",
		 bits & SEG_HAS_HTTP ? "http " : "", bits ? "" : "nothing ");
	buf[strlen(buf) - 1] = '\0';
	return buf;
}

void
policy_summary(FILE *out, const struct seg_policy *p)
{
	struct seg_policy_info pi;
	struct seg_zone_info zi;
	struct seg_conduit_info ci;
	char pr[32], to[300];
	size_t i;

	seg_policy_info(p, &pi);
	fprintf(out,
		"  policy: %zu zones, %zu devices (%zu address bindings), %zu conduits (%zu shadow)\n",
		pi.nzones, pi.ndevices, pi.nbindings, pi.nconduits,
		pi.nshadow);
	fprintf(out, "    zones:\n");
	for (i = 0; seg_zone_get(p, i, &zi) == 0; i++)
		fprintf(out, "      %-20s %5zu device%s%s%s%s\n", zi.name,
			zi.ndevices, zi.ndevices == 1 ? " " : "s",
			zi.builtin ? "  (built in)" : (zi.isolated ? "  isolated" : ""),
			zi.description && !zi.builtin ? "  " : "",
			zi.description && !zi.builtin ? zi.description : "");
	if (pi.nconduits == 0) {
		fprintf(out, "    conduits: none (every operation is denied)\n");
		return;
	}
	fprintf(out, "    conduits:\n");
	for (i = 0; seg_conduit_get(p, i, &ci) == 0; i++) {
		if (ci.to_device != NULL)
			snprintf(to, sizeof(to), "%s (%s)", ci.to_device,
				 ci.to_zone);
		else
			snprintf(to, sizeof(to), "%s", ci.to_zone);
		fprintf(out, "      %-20s %s -> %s  [%s]%s%s%s  %s:%d\n", ci.name,
			ci.from_zone, to, protos(ci.protocols, pr, sizeof(pr)),
			ci.shadow ? " SHADOW" : "",
			ci.min_assurance == ZG_ASSURANCE_CERT ? " cert" : "",
			ci.nroles ? " roles" : "", ci.file ? ci.file : "?",
			ci.line);
	}
}
