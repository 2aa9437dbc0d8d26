/*
 * points.c: see points.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/modbus/points.h"

const char *const pt_type_names[] = { "bool", "int16", "uint16", "int32",
	"uint32", "int64", "uint64", "float32", "float64", "string", NULL };
const char *const pt_order_names[] = { "ABCD", "CDAB", "BADC", "DCBA",
				       NULL };
const char *const pt_table_names[] = { "coils", "discrete_inputs",
	"holding_registers", "input_registers", NULL };

/* Registers of the fixed-size register types (bool: one, bit-addressed). */
static unsigned
type_regs(unsigned type)
{
	switch (type) {
	case PT_BOOL:
	case PT_INT16:
	case PT_UINT16:
		return 1;
	case PT_INT32:
	case PT_UINT32:
	case PT_FLOAT32:
		return 2;
	case PT_INT64:
	case PT_UINT64:
	case PT_FLOAT64:
		return 4;
	default:
		return 0;
	}
}

unsigned
pt_size(const struct pt_def *d)
{
	if (d->table > PT_INPUT || d->type >= PT_NTYPES)
		return 0;
	if (pt_table_bits(d->table))
		return d->type == PT_BOOL ? 1 : 0;
	if (d->type == PT_STRING)
		return d->count >= 1 && d->count <= PT_STRING_REGS_MAX ?
			       d->count : 0;
	return type_regs(d->type);
}

const char *
pt_check(const struct pt_def *d)
{
	unsigned size;

	if (d->table > PT_INPUT)
		return "unknown table";
	if (d->type >= PT_NTYPES)
		return "unknown type";
	if (d->order > PT_DCBA)
		return "unknown byte order";
	if (d->report > PT_REPORT_ALWAYS)
		return "unknown report mode";
	if (pt_table_bits(d->table)) {
		if (d->type != PT_BOOL)
			return "coils and discrete inputs hold only bool points";
		if (d->bit != -1)
			return "a bit number applies to a bool in a register, not to a coil or discrete input";
		if (d->order != PT_ABCD)
			return "a byte order applies to registers, not to coils or discrete inputs";
	} else if (d->type == PT_BOOL) {
		if (d->bit < 0 || d->bit > 15)
			return "a bool in a register needs its bit number 0..15";
	} else if (d->bit != -1) {
		return "a bit number applies only to bool points";
	}
	if (d->type == PT_STRING &&
	    (d->count < 1 || d->count > PT_STRING_REGS_MAX))
		return "a string point needs its length in registers, 1..64";
	if (!pt_table_bits(d->table) && type_regs(d->type) != 2 &&
	    type_regs(d->type) != 4 && d->order != PT_ABCD &&
	    d->order != PT_BADC)
		return "one-register types and strings take byte order ABCD or BADC only";
	size = pt_size(d);
	if (size == 0)
		return "invalid size";
	if ((unsigned)d->addr + size - 1 > 65535)
		return "the point runs past address 65535";
	if (!isfinite(d->scale) || d->scale == 0.0 || !isfinite(d->offset))
		return "scale must be a finite number other than 0, offset finite";
	if ((d->type == PT_BOOL || d->type == PT_STRING) &&
	    (d->scale != 1.0 || d->offset != 0.0))
		return "scale and offset apply to numeric points only";
	if (!isfinite(d->deadband) || d->deadband < 0.0)
		return "deadband must be a finite number >= 0";
	if ((d->type == PT_BOOL || d->type == PT_STRING) &&
	    d->deadband != 0.0)
		return "a deadband applies to numeric points only";
	return NULL;
}

/* ---------------------------------------------------------------- */
/* planning */

/* Sort key: table, then address, then size. */
static bool
plan_before(const struct pt_def *a, const struct pt_def *b)
{
	if (a->table != b->table)
		return a->table < b->table;
	if (a->addr != b->addr)
		return a->addr < b->addr;
	return pt_size(a) < pt_size(b);
}

int
pt_plan(const struct pt_def *defs, size_t n, unsigned max_gap,
	unsigned max_regs, unsigned max_bits, size_t *scratch,
	struct pt_read *reads, size_t *map)
{
	size_t i, j, nreads = 0;
	unsigned start = 0, end = 0, table = 0;

	if (max_regs < 1 || max_regs > PT_MAX_REGS || max_bits < 1 ||
	    max_bits > PT_MAX_BITS || n > (size_t)1 << 20)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned size = pt_size(&defs[i]);

		if (pt_check(&defs[i]) != NULL ||
		    size > (pt_table_bits(defs[i].table) ? max_bits : max_regs))
			return -1;
	}
	/* Insertion sort of the indices: plans are made at load time. */
	for (i = 0; i < n; i++) {
		size_t k = i;

		for (j = i; j > 0 && plan_before(&defs[k], &defs[scratch[j - 1]]);
		     j--)
			scratch[j] = scratch[j - 1];
		scratch[j] = k;
	}
	for (i = 0; i < n; i++) {
		const struct pt_def *d = &defs[scratch[i]];
		unsigned a = d->addr, e = a + pt_size(d);
		unsigned limit = pt_table_bits(d->table) ? max_bits : max_regs;
		unsigned ne = e > end ? e : end;

		if (nreads > 0 && d->table == table &&
		    (a <= end || a - end <= max_gap) && ne - start <= limit) {
			end = ne;
			reads[nreads - 1].qty = (uint16_t)(end - start);
		} else {
			table = d->table;
			start = a;
			end = e;
			reads[nreads].table = d->table;
			reads[nreads].addr = (uint16_t)a;
			reads[nreads].qty = (uint16_t)(e - a);
			nreads++;
		}
		map[scratch[i]] = nreads - 1;
	}
	return (int)nreads;
}

/* ---------------------------------------------------------------- */
/* decoding and encoding */

/*
 * Where value byte k (0 = most significant) of an n-register value sits:
 * the register index and whether it is that register's high byte.
 */
static void
byte_place(unsigned order, unsigned n, unsigned k, unsigned *reg, bool *hi)
{
	bool word_rev = order == PT_CDAB || order == PT_DCBA;
	bool byte_swap = order == PT_BADC || order == PT_DCBA;

	*reg = word_rev ? n - 1 - k / 2 : k / 2;
	*hi = byte_swap ? (k % 2) == 1 : (k % 2) == 0;
}

/* The n registers at data[0..2n) as one big number in d's order. */
static uint64_t
regs_raw(unsigned order, unsigned n, const uint8_t *data)
{
	uint64_t raw = 0;
	unsigned k, r;
	bool hi;

	for (k = 0; k < 2 * n; k++) {
		byte_place(order, n, k, &r, &hi);
		raw = raw << 8 | data[2 * r + (hi ? 0 : 1)];
	}
	return raw;
}

/* The inverse: raw into n register values in d's order. */
static void
raw_regs(unsigned order, unsigned n, uint64_t raw, uint16_t *regs)
{
	unsigned k, r;
	bool hi;

	for (r = 0; r < n; r++)
		regs[r] = 0;
	for (k = 0; k < 2 * n; k++) {
		unsigned shift = 8 * (2 * n - 1 - k);
		uint16_t byte = (uint16_t)((raw >> shift) & 0xff);

		byte_place(order, n, k, &r, &hi);
		regs[r] |= hi ? (uint16_t)(byte << 8) : byte;
	}
}

static void
set_number(const struct pt_def *d, struct pt_value *out, double f,
	   int64_t i, uint64_t u, int kind, int prec)
{
	if (d->scale != 1.0 || d->offset != 0.0) {
		double x = kind == PV_INT ? (double)i :
			   kind == PV_UINT ? (double)u : f;

		out->kind = PV_FLOAT;
		out->prec = PP_SCALED;
		out->f = x * d->scale + d->offset;
		return;
	}
	out->kind = (uint8_t)kind;
	out->prec = (uint8_t)prec;
	out->f = f;
	out->i = i;
	out->u = u;
}

int
pt_decode(const struct pt_def *d, uint16_t base, const uint8_t *data,
	  size_t len, struct pt_value *out)
{
	unsigned size = pt_size(d), n, k;
	const uint8_t *p;
	uint64_t raw;

	/* Not a memset: the string buffer is most of the struct. */
	out->kind = PV_NONE;
	out->prec = 0;
	out->b = false;
	out->i = 0;
	out->u = 0;
	out->f = 0.0;
	out->slen = 0;
	out->s[0] = '\0';
	if (pt_check(d) != NULL || d->addr < base)
		return -1;
	if (pt_table_bits(d->table)) {
		unsigned idx = (unsigned)d->addr - base;

		if (idx / 8 >= len)
			return -1;
		out->kind = PV_BOOL;
		out->b = (data[idx / 8] >> (idx % 8)) & 1;
		return 0;
	}
	if (((size_t)d->addr - base + size) * 2 > len)
		return -1;
	p = data + ((size_t)d->addr - base) * 2;
	if (d->type == PT_STRING) {
		out->kind = PV_STRING;
		for (k = 0; k < 2u * size; k++) {
			unsigned r;
			bool hi;
			uint8_t c;

			byte_place(d->order == PT_BADC ? PT_BADC : PT_ABCD, 1,
				   k % 2, &r, &hi);
			c = p[2 * (k / 2) + (hi ? 0 : 1)];
			if (c == 0)
				break;
			out->s[out->slen++] = c >= 0x20 && c < 0x7f ? (char)c
								     : '?';
		}
		out->s[out->slen] = '\0';
		return 0;
	}
	n = type_regs(d->type);
	raw = regs_raw(d->order, n, p);
	switch (d->type) {
	case PT_BOOL:
		out->kind = PV_BOOL;
		out->b = (raw >> d->bit) & 1;
		break;
	case PT_INT16:
		set_number(d, out, 0, (int16_t)(uint16_t)raw, 0, PV_INT, 0);
		break;
	case PT_UINT16:
		set_number(d, out, 0, 0, raw, PV_UINT, 0);
		break;
	case PT_INT32:
		set_number(d, out, 0, (int32_t)(uint32_t)raw, 0, PV_INT, 0);
		break;
	case PT_UINT32:
		set_number(d, out, 0, 0, raw, PV_UINT, 0);
		break;
	case PT_INT64:
		set_number(d, out, 0, (int64_t)raw, 0, PV_INT, 0);
		break;
	case PT_UINT64:
		set_number(d, out, 0, 0, raw, PV_UINT, 0);
		break;
	case PT_FLOAT32: {
		uint32_t w = (uint32_t)raw;
		float f;

		memcpy(&f, &w, sizeof(f));
		set_number(d, out, (double)f, 0, 0, PV_FLOAT, PP_FLOAT);
		break;
	}
	case PT_FLOAT64: {
		double f;

		memcpy(&f, &raw, sizeof(f));
		set_number(d, out, f, 0, 0, PV_FLOAT, PP_DOUBLE);
		break;
	}
	default:
		return -1;
	}
	return 0;
}

/* Round a finite double to the nearest integer, halves away from 0. */
static int64_t
round_i64(double y)
{
	int64_t t = (int64_t)y;
	double frac = y - (double)t;

	if (frac >= 0.5)
		t++;
	else if (frac <= -0.5)
		t--;
	return t;
}

/*
 * v as a device integer of the type's range [lo, hi] (signed) or
 * [0, uhi] (unsigned), through the inverse of scale and offset.
 */
static int
to_integer(const struct pt_def *d, const struct pt_value *v, bool is_signed,
	   int64_t lo, int64_t hi, uint64_t uhi, uint64_t *raw,
	   const char **why)
{
	double y;

	if (d->scale == 1.0 && d->offset == 0.0 &&
	    (v->kind == PV_INT || v->kind == PV_UINT)) {
		if (is_signed) {
			if (v->kind == PV_UINT && v->u > (uint64_t)INT64_MAX)
				goto range;
			{
				int64_t x = v->kind == PV_INT ? v->i
							      : (int64_t)v->u;

				if (x < lo || x > hi)
					goto range;
				*raw = (uint64_t)x;
			}
		} else {
			if (v->kind == PV_INT && v->i < 0)
				goto range;
			{
				uint64_t x = v->kind == PV_UINT ? v->u
								: (uint64_t)v->i;

				if (x > uhi)
					goto range;
				*raw = x;
			}
		}
		return 0;
	}
	if (v->kind == PV_INT)
		y = (double)v->i;
	else if (v->kind == PV_UINT)
		y = (double)v->u;
	else if (v->kind == PV_FLOAT)
		y = v->f;
	else {
		*why = "a number is needed";
		return -1;
	}
	if (!isfinite(y)) {
		*why = "not a finite number";
		return -1;
	}
	y = (y - d->offset) / d->scale;
	if (!isfinite(y))
		goto range;
	if (is_signed) {
		int64_t x;

		if (y < -9223372036854775808.0 || y >= 9223372036854775808.0)
			goto range;
		x = round_i64(y);
		if (x < lo || x > hi)
			goto range;
		*raw = (uint64_t)x;
	} else {
		uint64_t x;

		if (y <= -0.5 || y >= 18446744073709551616.0)
			goto range;
		x = y >= 9223372036854775808.0 ? (uint64_t)y
					       : (uint64_t)round_i64(y);
		if (x > uhi)
			goto range;
		*raw = x;
	}
	return 0;
range:
	*why = "value outside the range of the point's type";
	return -1;
}

int
pt_encode(const struct pt_def *d, const struct pt_value *v, uint16_t *regs,
	  size_t cap, bool *coil, const char **why)
{
	unsigned size = pt_size(d), n;
	uint64_t raw = 0;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (pt_check(d) != NULL) {
		*why = "invalid point";
		return -1;
	}
	if (d->table == PT_DISCRETE || d->table == PT_INPUT) {
		*why = "discrete inputs and input registers are read-only";
		return -1;
	}
	if (d->table == PT_COILS) {
		if (v->kind == PV_BOOL)
			*coil = v->b;
		else if ((v->kind == PV_INT && (v->i == 0 || v->i == 1)) ||
			 (v->kind == PV_UINT && v->u <= 1))
			*coil = v->kind == PV_INT ? v->i == 1 : v->u == 1;
		else {
			*why = "a coil takes true/false (or 0/1)";
			return -1;
		}
		return 1;
	}
	if (cap < size) {
		*why = "no room for the registers";
		return -1;
	}
	if (d->type == PT_BOOL) {
		*why = "a bool inside a register cannot be written alone";
		return -1;
	}
	if (d->type == PT_STRING) {
		unsigned k;

		if (v->kind != PV_STRING) {
			*why = "a string is needed";
			return -1;
		}
		if (v->slen > 2 * size) {
			*why = "string longer than the point";
			return -1;
		}
		for (k = 0; k < size; k++) {
			uint8_t a = 2 * k < v->slen ? (uint8_t)v->s[2 * k] : 0;
			uint8_t b = 2 * k + 1 < v->slen ?
					    (uint8_t)v->s[2 * k + 1] : 0;

			regs[k] = d->order == PT_BADC ?
					  (uint16_t)(b << 8 | a) :
					  (uint16_t)(a << 8 | b);
		}
		return (int)size;
	}
	n = type_regs(d->type);
	switch (d->type) {
	case PT_INT16:
		if (to_integer(d, v, true, INT16_MIN, INT16_MAX, 0, &raw, why) < 0)
			return -1;
		raw &= 0xffff;
		break;
	case PT_UINT16:
		if (to_integer(d, v, false, 0, 0, UINT16_MAX, &raw, why) < 0)
			return -1;
		break;
	case PT_INT32:
		if (to_integer(d, v, true, INT32_MIN, INT32_MAX, 0, &raw, why) < 0)
			return -1;
		raw &= 0xffffffffu;
		break;
	case PT_UINT32:
		if (to_integer(d, v, false, 0, 0, UINT32_MAX, &raw, why) < 0)
			return -1;
		break;
	case PT_INT64:
		if (to_integer(d, v, true, INT64_MIN, INT64_MAX, 0, &raw, why) < 0)
			return -1;
		break;
	case PT_UINT64:
		if (to_integer(d, v, false, 0, 0, UINT64_MAX, &raw, why) < 0)
			return -1;
		break;
	case PT_FLOAT32:
	case PT_FLOAT64: {
		double y;

		if (v->kind == PV_INT)
			y = (double)v->i;
		else if (v->kind == PV_UINT)
			y = (double)v->u;
		else if (v->kind == PV_FLOAT)
			y = v->f;
		else {
			*why = "a number is needed";
			return -1;
		}
		y = (y - d->offset) / d->scale;
		if (!isfinite(y)) {
			*why = "not a finite number";
			return -1;
		}
		if (d->type == PT_FLOAT32) {
			float f;
			uint32_t w;

			if (y > FLT_MAX || y < -FLT_MAX) {
				*why = "value outside the range of float32";
				return -1;
			}
			f = (float)y;
			memcpy(&w, &f, sizeof(w));
			raw = w;
		} else {
			memcpy(&raw, &y, sizeof(raw));
		}
		break;
	}
	default:
		*why = "invalid point";
		return -1;
	}
	raw_regs(d->order, n, raw, regs);
	return (int)n;
}

/* ---------------------------------------------------------------- */
/* reporting */

static double
as_double(const struct pt_value *v)
{
	return v->kind == PV_INT ? (double)v->i :
	       v->kind == PV_UINT ? (double)v->u : v->f;
}

bool
pt_changed(const struct pt_def *d, const struct pt_value *last,
	   const struct pt_value *now)
{
	double a, b, diff;

	if (d->report == PT_REPORT_ALWAYS || last->kind != now->kind)
		return true;
	switch (now->kind) {
	case PV_NONE:
		return false;
	case PV_BOOL:
		return last->b != now->b;
	case PV_STRING:
		return last->slen != now->slen ||
		       memcmp(last->s, now->s, now->slen) != 0;
	case PV_INT:
		if (d->deadband == 0.0)
			return last->i != now->i;
		break;
	case PV_UINT:
		if (d->deadband == 0.0)
			return last->u != now->u;
		break;
	default:
		break;
	}
	a = as_double(last);
	b = as_double(now);
	if (isnan(a) || isnan(b))
		return isnan(a) != isnan(b);
	if (a == b)
		return false; /* also equal infinities */
	if (d->deadband == 0.0)
		return true;
	diff = b - a;
	if (diff < 0)
		diff = -diff;
	return diff > d->deadband; /* an infinity on one side: inf > db */
}

/* The shortest %.*g of f (from..to digits) that reads back the same. */
static int
shortest(double f, bool single, int from, int to, char *buf, size_t len)
{
	char tmp[330]; /* %.*g of any double fits, whatever p is */
	int p;

	for (p = from; p < to; p++) {
		snprintf(tmp, sizeof(tmp), "%.*g", p, f);
		if (single ? strtof(tmp, NULL) == (float)f
			   : strtod(tmp, NULL) == f)
			break;
	}
	return snprintf(buf, len, "%.*g", p, f);
}

int
pt_value_json(const struct pt_value *v, char *buf, size_t len)
{
	size_t o = 0;
	uint16_t k;

	switch (v->kind) {
	case PV_BOOL:
		return snprintf(buf, len, "%s", v->b ? "true" : "false");
	case PV_INT:
		return snprintf(buf, len, "%lld", (long long)v->i);
	case PV_UINT:
		return snprintf(buf, len, "%llu", (unsigned long long)v->u);
	case PV_FLOAT:
		if (!isfinite(v->f))
			break;
		if (v->prec == PP_FLOAT)
			return shortest(v->f, true, 6, 9, buf, len);
		if (v->prec == PP_DOUBLE)
			return shortest(v->f, false, 15, 17, buf, len);
		return snprintf(buf, len, "%.15g", v->f);
	case PV_STRING:
		/* Count as we go; write only what fits (always NUL-ended). */
#define PUT(c)                                 \
	do {                                   \
		if (o + 1 < len)               \
			buf[o] = (char)(c);    \
		o++;                           \
	} while (0)
		PUT('"');
		for (k = 0; k < v->slen && k < PT_STRING_MAX; k++) {
			unsigned char c = (unsigned char)v->s[k];

			if (c == '"' || c == '\\') {
				PUT('\\');
				PUT(c);
			} else if (c < 0x20 || c >= 0x7f) {
				char esc[8];
				int e;

				snprintf(esc, sizeof(esc), "\\u%04x", c);
				for (e = 0; esc[e] != '\0'; e++)
					PUT(esc[e]);
			} else {
				PUT(c);
			}
		}
		PUT('"');
#undef PUT
		if (len > 0)
			buf[o < len ? o : len - 1] = '\0';
		return (int)o;
	default:
		break;
	}
	return snprintf(buf, len, "null");
}
