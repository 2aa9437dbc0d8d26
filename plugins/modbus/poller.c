/*
 * poller.c: the modbus plugin's poller.  Reads typed points from devices
 * at fixed intervals and emits them as telemetry (docs/telemetry.md).
 *
 *   poll = {
 *     identity = "zonegate-poller";         # a device of the policy
 *     groups = (
 *       { device = "plc-1"; interval = 1.0;
 *         points = ( { name = "temp"; table = "holding"; address = 0;
 *                      type = "float32"; scale = 0.1; unit = "degC";
 *                      deadband = 0.5; } ); }
 *     );
 *   };
 *
 * Each group polls one device (one unit) on its own timer.  Its points are
 * planned into as few reads as possible once, at load time (points.c).
 * Every cycle, each read is decided by the policy like any client's
 * request, with the poller's identity as the caller, and the allowed ones
 * go to the device through the same shared connections (device.c) or
 * serial line worker (rtu.c) as the proxy's: the device pool's deadline
 * bounds every read, and a group whose device is slow or dead only delays
 * itself.  A cycle ends when every read has completed; its points are
 * then decoded and those worth reporting are emitted as one JSON message
 * on "telemetry/<device>".  A read that fails turns its points stale
 * (the last good value, while it is younger than max_age) or bad, with
 * the reason, instead of leaving them out.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/modbus/mbproxy.h"
#include "plugins/modbus/points.h"

#define POLL_MAX_GROUPS 1024
#define POLL_MAX_POINTS 4096      /* per group */
#define POLL_NAME_MAX 64
#define POLL_REASON_MAX 256

enum poll_quality { Q_GOOD = 0, Q_STALE = 1, Q_BAD = 2 };
static const char *const quality_names[] = { "good", "stale", "bad" };

/* One planned read and what became of it in the current cycle. */
struct poll_read {
	struct mb_poll_group *g;
	struct pt_read r;
	struct mb_pending *inflight;  /* at the device, or NULL */
	bool ok;                      /* data[0..len) holds the answer */
	bool denied;                  /* by policy, this cycle */
	bool was_denied;              /* last cycle: events on change only */
	uint8_t data[MB_PDU_MAX];
	size_t len;
	char reason[POLL_REASON_MAX];
	char ts[32];                  /* when it completed (UTC) */
};

struct poll_point {
	struct pt_def def;
	bool writable;                /* commands may write it (command.c) */
	size_t read;                  /* index into the group's reads */
	/* The last good value. */
	struct pt_value good;
	bool has_good;
	struct timespec good_at;      /* monotonic */
	char good_ts[32];
	/* What was last reported. */
	bool reported;
	struct pt_value last;
	int last_quality;
	char last_reason[POLL_REASON_MAX];
	struct timespec last_report;  /* monotonic */
};

struct mb_poll_group {
	struct mb_poller *pl;
	char name[POLL_NAME_MAX];
	char device[MB_ID_MAX];
	struct mb_device *dev;        /* resolved when started */
	uint8_t unit;
	double interval;
	double max_age;               /* stale at most this long, seconds */
	double refresh;               /* report everything this often, 0 = off */
	struct poll_point *points;
	size_t npoints;
	struct poll_read *reads;
	size_t nreads;
	struct zg_timer *timer, *kick;
	int outstanding;              /* reads of this cycle not completed */
	char zone[MB_ID_MAX];         /* the device's zone, from the verdicts */
	char cycle_ts[32];
	uint64_t cycles, overruns, emitted;
};

struct mb_poller {
	struct mb_state *st;
	char identity[MB_ID_MAX];
	struct mb_poll_group *groups;
	size_t ngroups;
};

static const char *const poll_keys[] = { "identity", "groups", NULL };
static const char *const group_keys[] = { "name", "device", "unit",
	"interval", "max_age", "report", "refresh", "max_gap",
	"max_registers", "max_coils", "points", NULL };
static const char *const point_keys[] = { "name", "table", "address",
	"type", "order", "bit", "registers", "scale", "offset", "unit",
	"report", "deadband", "writable", NULL };
static const char *const report_names[] = { "change", "always", NULL };

/* Table names: the policy's, and the short forms. */
static const struct {
	const char *name;
	int table;
} table_names[] = {
	{ "coils", PT_COILS }, { "coil", PT_COILS },
	{ "discrete_inputs", PT_DISCRETE }, { "discrete", PT_DISCRETE },
	{ "holding_registers", PT_HOLDING }, { "holding", PT_HOLDING },
	{ "input_registers", PT_INPUT }, { "input", PT_INPUT },
};

static const uint8_t table_fc[] = { MB_FC_READ_COILS, MB_FC_READ_DISCRETE,
	MB_FC_READ_HOLDING, MB_FC_READ_INPUT };

/* ---------------------------------------------------------------- */
/* configuration */

static int
name_index(const char *const *names, const char *s)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* Point and group names: 1..63 of A-Z a-z 0-9 _ . - : / */
static bool
valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= POLL_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-' || c == ':' || c == '/'))
			return false;
	}
	return true;
}

/* Units: printable, UTF-8 allowed ("°C"), no quotes or backslashes. */
static bool
valid_unit(const char *s)
{
	size_t n = strlen(s), i;

	if (n >= PT_UNIT_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

static struct mb_device *
device_by_id(struct mb_state *st, const char *identity)
{
	int i;

	for (i = 0; i < st->ndevices; i++)
		if (strcmp(st->devices[i].identity, identity) == 0)
			return &st->devices[i];
	return NULL;
}

/*
 * One point of group g.  Defaults: table holding, type uint16 (bool on
 * coils and discrete inputs), order ABCD, scale 1, offset 0, the group's
 * report mode, deadband 0.
 */
static int
read_point(const struct zg_host_api *api, struct zg_host *h,
	   const struct zg_cfg *c, int group_report, unsigned max_regs,
	   unsigned max_bits, struct pt_def *d, bool *writable)
{
	const char *name, *table, *type, *order, *unit, *report;
	long long addr, bit, regs;
	double scale, offset, deadband;
	const char *why;
	size_t t;
	int r = 0, k;

	memset(d, 0, sizeof(*d));
	r |= api->cfg_known_keys(h, c, point_keys);
	r |= api->cfg_string(h, c, "name", NULL, &name);
	r |= api->cfg_string(h, c, "table", "holding_registers", &table);
	r |= api->cfg_int(h, c, "address", -1, 0, 65535, &addr);
	r |= api->cfg_string(h, c, "type", NULL, &type);
	r |= api->cfg_string(h, c, "order", "ABCD", &order);
	r |= api->cfg_int(h, c, "bit", -1, 0, 15, &bit);
	r |= api->cfg_int(h, c, "registers", 0, 1, PT_STRING_REGS_MAX, &regs);
	r |= api->cfg_double(h, c, "scale", 1.0, -1e300, 1e300, &scale);
	r |= api->cfg_double(h, c, "offset", 0.0, -1e300, 1e300, &offset);
	r |= api->cfg_string(h, c, "unit", "", &unit);
	r |= api->cfg_string(h, c, "report",
			     report_names[group_report], &report);
	r |= api->cfg_double(h, c, "deadband", 0.0, 0.0, 1e300, &deadband);
	r |= api->cfg_bool(h, c, "writable", false, writable);
	if (r != 0)
		return -1;
	if (name == NULL || !valid_name(name)) {
		api->cfg_error(h, c, "name",
			       "required: 1..63 characters of A-Z a-z 0-9 _ . - : /");
		return -1;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (addr < 0) {
		api->cfg_error(h, c, "address",
			       "required: the 0-based protocol address, 0..65535");
		return -1;
	}
	for (t = 0; t < sizeof(table_names) / sizeof(table_names[0]); t++)
		if (strcmp(table_names[t].name, table) == 0)
			break;
	if (t == sizeof(table_names) / sizeof(table_names[0])) {
		api->cfg_error(h, c, "table",
			       "\"%s\" is not one of coils, discrete_inputs, holding_registers, input_registers",
			       table);
		return -1;
	}
	d->table = (uint8_t)table_names[t].table;
	if (type == NULL)
		type = pt_table_bits(d->table) ? "bool" : "uint16";
	if ((k = name_index(pt_type_names, type)) < 0) {
		api->cfg_error(h, c, "type",
			       "\"%s\" is not one of bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string",
			       type);
		return -1;
	}
	d->type = (uint8_t)k;
	if ((k = name_index(pt_order_names, order)) < 0) {
		api->cfg_error(h, c, "order",
			       "\"%s\" is not one of ABCD, CDAB, BADC, DCBA", order);
		return -1;
	}
	d->order = (uint8_t)k;
	if ((k = name_index(report_names, report)) < 0) {
		api->cfg_error(h, c, "report",
			       "\"%s\" is not one of change, always", report);
		return -1;
	}
	d->report = (uint8_t)k;
	if (!valid_unit(unit)) {
		api->cfg_error(h, c, "unit",
			       "at most 31 bytes, no control characters, quotes or backslashes");
		return -1;
	}
	snprintf(d->unit, sizeof(d->unit), "%s", unit);
	if (d->type == PT_STRING && regs == 0) {
		api->cfg_error(h, c, "registers",
			       "a string point needs its length: registers = 1..64");
		return -1;
	}
	if (d->type != PT_STRING && regs != 0) {
		api->cfg_error(h, c, "registers",
			       "only string points take a length (the other types have a fixed size)");
		return -1;
	}
	d->addr = (uint16_t)addr;
	d->count = (uint16_t)regs;
	d->bit = (int8_t)bit;
	d->scale = scale;
	d->offset = offset;
	d->deadband = deadband;
	if ((why = pt_check(d)) != NULL) {
		api->cfg_error(h, c, NULL, "point \"%s\": %s", d->name, why);
		return -1;
	}
	if (*writable && (d->table == PT_DISCRETE || d->table == PT_INPUT ||
			  (d->type == PT_BOOL && d->table != PT_COILS) ||
			  pt_size(d) > MB_WRITE_REGS_MAX)) {
		api->cfg_error(h, c, "writable",
			       "point \"%s\" cannot be written: discrete inputs and input registers are read-only, a bit of a register cannot be written alone",
			       d->name);
		return -1;
	}
	if (pt_size(d) > (pt_table_bits(d->table) ? max_bits : max_regs)) {
		api->cfg_error(h, c, NULL,
			       "point \"%s\" (%u registers) does not fit in one read of at most %u registers",
			       d->name, pt_size(d), max_regs);
		return -1;
	}
	return 0;
}

/* Whether a point of that name already exists for device `dev'. */
static const struct pt_def *
point_named(const struct mb_poller *pl, size_t ngroups, const char *dev,
	    const struct mb_poll_group *cur, size_t ncur, const char *name)
{
	size_t i, j;

	for (i = 0; i < ngroups; i++) {
		const struct mb_poll_group *g = &pl->groups[i];

		if (strcmp(g->device, dev) != 0)
			continue;
		for (j = 0; j < g->npoints; j++)
			if (strcmp(g->points[j].def.name, name) == 0)
				return &g->points[j].def;
	}
	for (j = 0; j < ncur; j++)
		if (strcmp(cur->points[j].def.name, name) == 0)
			return &cur->points[j].def;
	return NULL;
}

static int
read_group(const struct zg_host_api *api, struct zg_host *h,
	   const struct zg_cfg *c, struct mb_state *st, struct mb_poller *pl,
	   size_t idx, struct mb_poll_group *g)
{
	const struct zg_cfg *pts;
	const char *name, *dev, *report;
	long long unit, gap, mregs, mbits;
	double interval, max_age, refresh;
	struct mb_device *d;
	struct pt_def *defs = NULL;
	struct pt_read *reads = NULL;
	size_t *scratch = NULL, *map = NULL, n, i;
	int r = 0, rep, nr, rc = -1;

	r |= api->cfg_known_keys(h, c, group_keys);
	r |= api->cfg_string(h, c, "name", NULL, &name);
	r |= api->cfg_string(h, c, "device", NULL, &dev);
	r |= api->cfg_int(h, c, "unit", -1, 1, 255, &unit);
	r |= api->cfg_double(h, c, "interval", 1.0, 0.01, 86400.0, &interval);
	r |= api->cfg_double(h, c, "max_age", -1.0, 0.0, 864000.0, &max_age);
	r |= api->cfg_string(h, c, "report", "change", &report);
	r |= api->cfg_double(h, c, "refresh", 0.0, 0.0, 864000.0, &refresh);
	r |= api->cfg_int(h, c, "max_gap", 0, 0, 2000, &gap);
	r |= api->cfg_int(h, c, "max_registers", PT_MAX_REGS, 1, PT_MAX_REGS, &mregs);
	r |= api->cfg_int(h, c, "max_coils", PT_MAX_BITS, 1, PT_MAX_BITS, &mbits);
	if (r != 0)
		return -1;
	if (dev == NULL || (d = device_by_id(st, dev)) == NULL) {
		api->cfg_error(h, c, "device",
			       "%s%s%s: each poll group names one device of the plugin's devices list",
			       dev ? "\"" : "required", dev ? dev : "",
			       dev ? "\" is not in the plugin's devices list" : "");
		return -1;
	}
	snprintf(g->device, sizeof(g->device), "%s", dev);
	if (name != NULL && !valid_name(name)) {
		api->cfg_error(h, c, "name",
			       "1..63 characters of A-Z a-z 0-9 _ . - : /");
		return -1;
	}
	if (name != NULL)
		snprintf(g->name, sizeof(g->name), "%s", name);
	else
		snprintf(g->name, sizeof(g->name), "group-%zu", idx + 1);
	for (i = 0; i < idx; i++) {
		if (strcmp(pl->groups[i].name, g->name) == 0) {
			api->cfg_error(h, c, "name",
				       "poll group \"%s\" is named twice", g->name);
			return -1;
		}
	}
	/* The unit: the device's fixed one, or the group's (default 1). */
	if (d->unit >= 0) {
		if (unit >= 0 && unit != d->unit) {
			api->cfg_error(h, c, "unit",
				       "device %s always uses unit %d (its unit setting)",
				       d->identity, d->unit);
			return -1;
		}
		unit = d->unit;
	} else if (unit < 0) {
		unit = 1;
	}
	if (unit == 0 || (d->serial.path[0] != '\0' && unit > 247)) {
		api->cfg_error(h, c, "unit",
			       "%lld cannot be polled (0 is broadcast%s)", unit,
			       d->serial.path[0] ? ", 248..255 are reserved on a serial line" : "");
		return -1;
	}
	g->unit = (uint8_t)unit;
	if ((rep = name_index(report_names, report)) < 0) {
		api->cfg_error(h, c, "report",
			       "\"%s\" is not one of change, always", report);
		return -1;
	}
	g->interval = interval;
	g->max_age = max_age >= 0 ? max_age : 3 * interval;
	g->refresh = refresh;

	pts = api->cfg_child(c, "points");
	n = pts ? (size_t)api->cfg_count(pts) : 0;
	if (n < 1 || n > POLL_MAX_POINTS) {
		api->cfg_error(h, pts ? pts : c, pts ? NULL : "points",
			       "a poll group lists 1..%d points", POLL_MAX_POINTS);
		return -1;
	}
	g->points = calloc(n, sizeof(*g->points));
	defs = calloc(n, sizeof(*defs));
	reads = calloc(n, sizeof(*reads));
	scratch = calloc(n, sizeof(*scratch));
	map = calloc(n, sizeof(*map));
	if (g->points == NULL || defs == NULL || reads == NULL ||
	    scratch == NULL || map == NULL)
		goto out;
	r = 0;
	for (i = 0; i < n; i++) {
		const struct zg_cfg *pc = api->cfg_elem(pts, (int)i);
		struct pt_def *pd = &g->points[g->npoints].def;

		if (read_point(api, h, pc, rep, (unsigned)mregs,
			       (unsigned)mbits, pd,
			       &g->points[g->npoints].writable) < 0) {
			r = -1;
			continue;
		}
		if (point_named(pl, idx, g->device, g, g->npoints, pd->name)) {
			api->cfg_error(h, pc, "name",
				       "device %s already has a point named \"%s\" (point names are unique per device)",
				       g->device, pd->name);
			r = -1;
			continue;
		}
		defs[g->npoints] = *pd;
		g->npoints++;
	}
	if (r != 0)
		goto out;
	nr = pt_plan(defs, g->npoints, (unsigned)gap, (unsigned)mregs,
		     (unsigned)mbits, scratch, reads, map);
	if (nr < 0) {
		api->cfg_error(h, c, "points", "cannot plan the reads");
		goto out;
	}
	g->reads = calloc((size_t)nr, sizeof(*g->reads));
	if (g->reads == NULL)
		goto out;
	g->nreads = (size_t)nr;
	for (i = 0; i < g->nreads; i++) {
		g->reads[i].g = g;
		g->reads[i].r = reads[i];
	}
	for (i = 0; i < g->npoints; i++)
		g->points[i].read = map[i];
	rc = 0;
out:
	free(defs);
	free(reads);
	free(scratch);
	free(map);
	return rc;
}

int
mb_poll_config_read(const struct zg_host_api *api, struct zg_host *h,
		    const struct zg_cfg *poll, struct mb_state *st,
		    struct mb_poller **out)
{
	const struct zg_cfg *groups;
	struct mb_poller *pl;
	const char *id;
	size_t n, i;
	int rc = 0;

	*out = NULL;
	if (poll == NULL)
		return 0;
	if (api->cfg_known_keys(h, poll, poll_keys) < 0 ||
	    api->cfg_string(h, poll, "identity", NULL, &id) < 0)
		return -1;
	if (id == NULL || id[0] == '\0' || strlen(id) >= MB_ID_MAX) {
		api->cfg_error(h, poll, "identity",
			       "required: the policy identity the poller reads as (a device in some zone, e.g. \"zonegate-poller\")");
		return -1;
	}
	groups = api->cfg_child(poll, "groups");
	n = groups ? (size_t)api->cfg_count(groups) : 0;
	if (n < 1 || n > POLL_MAX_GROUPS) {
		api->cfg_error(h, groups ? groups : poll, groups ? NULL : "groups",
			       "list 1..%d poll groups: { device = \"...\"; interval = 1.0; points = ( ... ); }",
			       POLL_MAX_GROUPS);
		return -1;
	}
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return -1;
	pl->groups = calloc(n, sizeof(*pl->groups));
	if (pl->groups == NULL) {
		free(pl);
		return -1;
	}
	snprintf(pl->identity, sizeof(pl->identity), "%s", id);
	for (i = 0; i < n; i++) {
		struct mb_poll_group *g = &pl->groups[pl->ngroups];

		g->pl = pl;
		if (read_group(api, h, api->cfg_elem(groups, (int)i), st, pl,
			       pl->ngroups, g) < 0) {
			free(g->points);
			free(g->reads);
			memset(g, 0, sizeof(*g));
			rc = -1;
			continue;
		}
		pl->ngroups++;
	}
	if (rc < 0) {
		mb_poller_free(pl);
		return -1;
	}
	*out = pl;
	return 0;
}

/* ---------------------------------------------------------------- */
/* JSON output */

struct jbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3)))
jb_printf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap + (size_t)n + 1) * 2;
			char *q = realloc(b->p, cap);

			if (q == NULL) {
				b->failed = true;
				return;
			}
			b->p = q;
			b->cap = cap;
		}
	}
}

/* sep "key":"escaped s" (sep is "", "," or ",{" ...) */
static void
jb_str(struct jbuf *b, const char *sep, const char *key, const char *s)
{
	jb_printf(b, "%s\"%s\":\"", sep, key);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jb_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			jb_printf(b, "\\u%04x", c);
		else
			jb_printf(b, "%c", c);
	}
	jb_printf(b, "\"");
}

/* Wall-clock time as 2026-12-03T10:00:00.123Z. */
static void
utc_now(char *buf, size_t len)
{
	struct timespec now;
	struct tm tm;
	char s[24];

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%03dZ", s,
		 (int)(now.tv_nsec / 1000000L) % 1000);
}

static double
since(const struct timespec *then, const struct timespec *now)
{
	return (double)(now->tv_sec - then->tv_sec) +
	       (double)(now->tv_nsec - then->tv_nsec) / 1e9;
}

/* ---------------------------------------------------------------- */
/* cycles */

static const char *
exception_name(uint8_t code)
{
	switch (code) {
	case MB_EX_ILLEGAL_FUNCTION:
		return "illegal function";
	case MB_EX_ILLEGAL_DATA_ADDRESS:
		return "illegal data address";
	case MB_EX_ILLEGAL_DATA_VALUE:
		return "illegal data value";
	case MB_EX_SERVER_DEVICE_FAILURE:
		return "server device failure";
	case MB_EX_ACKNOWLEDGE:
		return "acknowledge";
	case MB_EX_SERVER_DEVICE_BUSY:
		return "server device busy";
	case MB_EX_MEMORY_PARITY_ERROR:
		return "memory parity error";
	case MB_EX_GATEWAY_PATH_UNAVAILABLE:
		return "gateway path unavailable";
	case MB_EX_GATEWAY_TARGET_NO_RESPONSE:
		return "gateway target failed to respond";
	default:
		return "undefined";
	}
}

/*
 * The cycle is over: every read completed.  Turn reads into point values
 * and qualities, and emit the points worth reporting.
 */
static void
cycle_end(struct mb_poll_group *g)
{
	struct mb_state *st = g->pl->st;
	struct timespec now;
	struct jbuf b = { NULL, 0, 0, false };
	char topic[8 + MB_ID_MAX + 2], val[PT_STRING_MAX * 6 + 8];
	size_t i, npts = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/*
	 * The zone and the time the message enters the spool travel in the
	 * host's envelope (docs/northbound.md): "zone" and "ts" are its keys.
	 */
	jb_str(&b, "{", "device", g->device);
	jb_str(&b, ",", "group", g->name);
	jb_str(&b, ",", "cycle_ts", g->cycle_ts);
	jb_printf(&b, ",\"points\":[");
	for (i = 0; i < g->npoints; i++) {
		struct poll_point *p = &g->points[i];
		const struct poll_read *r = &g->reads[p->read];
		struct pt_value cur;
		int q;
		const char *reason = "", *ts = r->ts;
		char why[POLL_REASON_MAX];

		memset(&cur, 0, sizeof(cur));
		if (r->ok && pt_decode(&p->def, r->r.addr, r->data, r->len,
				       &cur) == 0) {
			if (cur.kind == PV_FLOAT && isnan(cur.f)) {
				q = Q_BAD;
				reason = "the device holds NaN (not a number)";
			} else if (cur.kind == PV_FLOAT && isinf(cur.f)) {
				q = Q_BAD;
				reason = "the device holds an infinite value";
			} else {
				q = Q_GOOD;
				p->good = cur;
				p->has_good = true;
				p->good_at = now;
				snprintf(p->good_ts, sizeof(p->good_ts), "%s", r->ts);
			}
		} else {
			if (r->ok) {
				reason = "the answer does not cover the point";
			} else {
				reason = r->reason;
			}
			if (!r->denied && p->has_good &&
			    since(&p->good_at, &now) <= g->max_age) {
				q = Q_STALE;
				cur = p->good;
				ts = p->good_ts;
			} else {
				q = Q_BAD;
				memset(&cur, 0, sizeof(cur));
			}
		}
		snprintf(why, sizeof(why), "%s", reason);
		if (p->reported && q == p->last_quality &&
		    strcmp(why, p->last_reason) == 0 &&
		    !pt_changed(&p->def, &p->last, &cur) &&
		    !(g->refresh > 0 && since(&p->last_report, &now) >= g->refresh))
			continue;
		p->reported = true;
		p->last = cur;
		p->last_quality = q;
		snprintf(p->last_reason, sizeof(p->last_reason), "%s", why);
		p->last_report = now;

		pt_value_json(&cur, val, sizeof(val));
		jb_str(&b, npts++ ? ",{" : "{", "name", p->def.name);
		jb_printf(&b, ",\"value\":%s", val);
		if (p->def.unit[0] != '\0')
			jb_str(&b, ",", "unit", p->def.unit);
		jb_str(&b, ",", "quality", quality_names[q]);
		if (q != Q_GOOD)
			jb_str(&b, ",", "reason", why);
		jb_str(&b, ",", "ts", ts);
		jb_printf(&b, "}");
	}
	jb_printf(&b, "]}");
	g->cycles++;
	if (b.failed) {
		st->api->log(st->h, ZG_LOG_ERR,
			     "poll group %s: out of memory building telemetry: cycle dropped",
			     g->name);
	} else if (npts > 0) {
		snprintf(topic, sizeof(topic), "telemetry/%s", g->device);
		if (st->api->emit_zone(st->h, topic,
				       g->zone[0] != '\0' ? g->zone : NULL,
				       b.p, b.len) == 0)
			g->emitted++;
	}
	free(b.p);
}

/* One read answered, failed or was refused. */
static void
read_done(struct mb_poll_group *g)
{
	if (--g->outstanding == 0)
		cycle_end(g);
}

/* zonegate_polls_total{device,result} (docs/operations.md). */
static void
poll_count(struct mb_poll_group *g, const char *result)
{
	const struct zg_host_api *api = g->pl->st->api;

	api->metric_count(g->pl->st->h, "zonegate_polls_total", "device",
			  g->device, "result", result, 1);
}

/* Completion of a read at the device (device.c / rtu.c). */
static void
poll_answer(struct mb_pending *p, const uint8_t *pdu, size_t len,
	    uint8_t local)
{
	struct poll_read *r = p->done_arg;
	struct mb_poll_group *g;
	struct timespec now;
	const char *result = "error";

	if (r == NULL)
		return; /* the poller is gone: nobody waits */
	g = r->g;
	r->inflight = NULL;
	utc_now(r->ts, sizeof(r->ts));
	/*
	 * The latency of the device: request submitted to answer in, the
	 * wait for a pooled connection included.  Reads that got no answer
	 * are counted, not timed (their time is the deadline).
	 */
	if (local == 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		g->pl->st->api->metric_observe(g->pl->st->h,
					       "zonegate_poll_latency_seconds",
					       "device", g->device,
					       since(&p->t_start, &now));
	}
	if (local != 0) {
		if (local == MB_EX_GATEWAY_TARGET_NO_RESPONSE) {
			result = "timeout";
			snprintf(r->reason, sizeof(r->reason),
				 "no answer from the device within %.3fs (or no connection)",
				 g->dev->request_timeout);
		} else {
			snprintf(r->reason, sizeof(r->reason),
				 "the gateway could not complete the read (exception 0x%02x, %s)",
				 local, exception_name(local));
		}
	} else if (pdu == NULL || len < 1) {
		snprintf(r->reason, sizeof(r->reason), "empty answer");
	} else if (pdu[0] & 0x80) {
		uint8_t code = len >= 2 ? pdu[1] : 0;

		result = "exception";
		snprintf(r->reason, sizeof(r->reason),
			 "the device answered exception 0x%02x (%s)", code,
			 exception_name(code));
	} else if (len < 2 || (size_t)pdu[1] + 2 != len) {
		/* device.c and rtu.c checked it already: belt and braces */
		snprintf(r->reason, sizeof(r->reason), "malformed answer");
	} else {
		r->ok = true;
		r->len = pdu[1];
		memcpy(r->data, pdu + 2, r->len);
		result = "ok";
	}
	poll_count(g, result);
	read_done(g);
}

/* Decide and send one planned read.  Completion: read_done(). */
static void
read_start(struct mb_poll_group *g, struct poll_read *r)
{
	struct mb_poller *pl = g->pl;
	struct mb_state *st = pl->st;
	struct mb_device *d = g->dev;
	struct mb_pending *p;
	struct zg_verdict v;
	struct zg_op op;
	char desc[160];

	r->ok = false;
	r->denied = false;
	r->len = 0;
	r->reason[0] = '\0';
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		utc_now(r->ts, sizeof(r->ts));
		snprintf(r->reason, sizeof(r->reason), "out of memory");
		read_done(g);
		return;
	}
	p->req.unit = g->unit;
	p->req.fc = table_fc[r->r.table];
	p->req.addr = r->r.addr;
	p->req.qty = r->r.qty;
	p->client_unit = g->unit;

	memset(&op, 0, sizeof(op));
	op.proto = ZG_PROTO_MODBUS;
	mb_request_op(&p->req, &op.u.modbus);
	/*
	 * The gateway's own identity: established by the gateway itself,
	 * at least as strong as a verified certificate.
	 */
	op.assurance = ZG_ASSURANCE_CERT;
	op.identity = pl->identity;
	op.target = d->identity;
	st->api->decide(st->h, &op, &v);
	if (v.to_zone != NULL)
		snprintf(g->zone, sizeof(g->zone), "%s", v.to_zone);
	if (v.decision != ZG_ALLOW) {
		struct zg_event ev;

		r->denied = true;
		utc_now(r->ts, sizeof(r->ts));
		snprintf(r->reason, sizeof(r->reason), "denied by policy: %s",
			 v.reason);
		mb_describe(&p->req, desc, sizeof(desc));
		if (!r->was_denied) {
			/* Once when it starts, not every cycle. */
			char detail[320];

			snprintf(detail, sizeof(detail),
				 "poll group %s: %s: the points of this read are reported bad until the policy allows it",
				 g->name, desc);
			memset(&ev, 0, sizeof(ev));
			ev.kind = "modbus.poll_denied";
			ev.severity = ZG_SEV_MEDIUM;
			ev.identity = pl->identity;
			ev.target = d->identity;
			ev.verdict = &v;
			ev.detail = detail;
			st->api->event(st->h, &ev);
		}
		r->was_denied = true;
		poll_count(g, "denied");
		free(p);
		read_done(g);
		return;
	}
	if (r->was_denied) {
		mb_describe(&p->req, desc, sizeof(desc));
		st->api->log(st->h, ZG_LOG_INFO,
			     "poll group %s: %s is allowed again (%s)", g->name,
			     desc, v.reason);
		r->was_denied = false;
	}
	clock_gettime(CLOCK_MONOTONIC, &p->t_start);
	p->done = poll_answer;
	p->done_arg = r;
	r->inflight = p; /* before submit: it may complete at once */
	if (mb_device_submit(d, p) < 0) {
		r->inflight = NULL;
		utc_now(r->ts, sizeof(r->ts));
		snprintf(r->reason, sizeof(r->reason),
			 "the device's queue is full (%d requests waiting)",
			 d->qlen);
		poll_count(g, "error");
		mb_pending_free(p);
		read_done(g);
	}
}

/* The group's timer: start a cycle unless the last one is still running. */
static void
cycle_start(void *arg)
{
	struct mb_poll_group *g = arg;
	size_t i;

	if (g->outstanding > 0) {
		/* A slow device: skip, never pile up requests. */
		if (g->overruns++ == 0)
			g->pl->st->api->log(g->pl->st->h, ZG_LOG_WARN,
					    "poll group %s: device %s is slower than the %.3fs interval: cycles are skipped while a cycle is running",
					    g->name, g->device, g->interval);
		return;
	}
	utc_now(g->cycle_ts, sizeof(g->cycle_ts));
	/* One extra count, so a read completing at once cannot end the
	 * cycle before every read was started. */
	g->outstanding = (int)g->nreads + 1;
	for (i = 0; i < g->nreads; i++)
		read_start(g, &g->reads[i]);
	read_done(g);
}

int
mb_poller_start(struct mb_poller *pl, struct mb_state *st)
{
	const struct zg_host_api *api = st->api;
	size_t i;

	pl->st = st;
	for (i = 0; i < pl->ngroups; i++) {
		struct mb_poll_group *g = &pl->groups[i];

		g->dev = device_by_id(st, g->device);
		if (g->dev == NULL)
			return -1; /* checked when the config was read */
		g->timer = api->timer_new(st->h, cycle_start, g);
		g->kick = api->timer_new(st->h, cycle_start, g);
		if (g->timer == NULL || g->kick == NULL ||
		    api->timer_start(g->timer, g->interval, true) < 0 ||
		    api->timer_start(g->kick, 0.0, false) < 0)
			return -1;
		api->log(st->h, ZG_LOG_INFO,
			 "poll group %s: device %s unit %u every %.3fs as %s: %zu points in %zu reads",
			 g->name, g->device, g->unit, g->interval, pl->identity,
			 g->npoints, g->nreads);
	}
	return 0;
}

int
mb_poll_find_point(const struct mb_poller *pl, const char *device,
		   const char *name, const struct pt_def **def, uint8_t *unit,
		   bool *writable)
{
	size_t i, j;

	for (i = 0; pl != NULL && i < pl->ngroups; i++) {
		const struct mb_poll_group *g = &pl->groups[i];

		if (strcmp(g->device, device) != 0)
			continue;
		for (j = 0; j < g->npoints; j++) {
			if (strcmp(g->points[j].def.name, name) == 0) {
				*def = &g->points[j].def;
				*unit = g->unit;
				*writable = g->points[j].writable;
				return 0;
			}
		}
	}
	return -1;
}

void
mb_poller_free(struct mb_poller *pl)
{
	size_t i, j;

	if (pl == NULL)
		return;
	for (i = 0; i < pl->ngroups; i++) {
		struct mb_poll_group *g = &pl->groups[i];

		if (pl->st != NULL) {
			pl->st->api->timer_free(g->timer);
			pl->st->api->timer_free(g->kick);
		}
		for (j = 0; j < g->nreads; j++)
			if (g->reads[j].inflight != NULL)
				g->reads[j].inflight->done_arg = NULL;
		free(g->points);
		free(g->reads);
	}
	free(pl->groups);
	free(pl);
}
