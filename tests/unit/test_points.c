/*
 * Unit tests of plugins/modbus/points.c: every type in every byte order
 * against register patterns written out by hand (not computed by the code
 * under test), scale/offset, JSON rendering, change detection, the
 * inverse for writes, and the read planner.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plugins/modbus/cmdjson.h"
#include "plugins/modbus/points.h"
#include "tap.h"

static struct pt_def
def(unsigned table, unsigned type, unsigned order, uint16_t addr)
{
	struct pt_def d;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "p%u", addr);
	d.table = (uint8_t)table;
	d.type = (uint8_t)type;
	d.order = (uint8_t)order;
	d.addr = addr;
	d.bit = -1;
	d.scale = 1.0;
	return d;
}

/* Registers as the big-endian bytes of an FC 3/4 answer. */
static size_t
bytes_of(const uint16_t *regs, size_t n, uint8_t *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = (uint8_t)(regs[i] >> 8);
		out[2 * i + 1] = (uint8_t)regs[i];
	}
	return 2 * n;
}

static const char *
json(const struct pt_value *v)
{
	static char buf[512];

	pt_value_json(v, buf, sizeof(buf));
	return buf;
}

/* One known value in one order: its registers, and its JSON text. */
struct vec {
	unsigned type, order;
	uint16_t regs[4];
	const char *want;
};

static const struct vec vecs[] = {
	/* int16 -2 = 0xFFFE; uint16 0x1234 = 4660 (BADC: bytes swapped) */
	{ PT_INT16, PT_ABCD, { 0xFFFE }, "-2" },
	{ PT_INT16, PT_BADC, { 0xFEFF }, "-2" },
	{ PT_UINT16, PT_ABCD, { 0x1234 }, "4660" },
	{ PT_UINT16, PT_BADC, { 0x3412 }, "4660" },
	/* int32 -123456789 = 0xF8A432EB */
	{ PT_INT32, PT_ABCD, { 0xF8A4, 0x32EB }, "-123456789" },
	{ PT_INT32, PT_CDAB, { 0x32EB, 0xF8A4 }, "-123456789" },
	{ PT_INT32, PT_BADC, { 0xA4F8, 0xEB32 }, "-123456789" },
	{ PT_INT32, PT_DCBA, { 0xEB32, 0xA4F8 }, "-123456789" },
	/* uint32 0x01020304 = 16909060 */
	{ PT_UINT32, PT_ABCD, { 0x0102, 0x0304 }, "16909060" },
	{ PT_UINT32, PT_CDAB, { 0x0304, 0x0102 }, "16909060" },
	{ PT_UINT32, PT_BADC, { 0x0201, 0x0403 }, "16909060" },
	{ PT_UINT32, PT_DCBA, { 0x0403, 0x0201 }, "16909060" },
	/* float32 123.456 = 0x42F6E979 */
	{ PT_FLOAT32, PT_ABCD, { 0x42F6, 0xE979 }, "123.456" },
	{ PT_FLOAT32, PT_CDAB, { 0xE979, 0x42F6 }, "123.456" },
	{ PT_FLOAT32, PT_BADC, { 0xF642, 0x79E9 }, "123.456" },
	{ PT_FLOAT32, PT_DCBA, { 0x79E9, 0xF642 }, "123.456" },
	/* int64 -1234567890123456789 = 0xEEDDEF0B82167EEB */
	{ PT_INT64, PT_ABCD, { 0xEEDD, 0xEF0B, 0x8216, 0x7EEB }, "-1234567890123456789" },
	{ PT_INT64, PT_CDAB, { 0x7EEB, 0x8216, 0xEF0B, 0xEEDD }, "-1234567890123456789" },
	{ PT_INT64, PT_BADC, { 0xDDEE, 0x0BEF, 0x1682, 0xEB7E }, "-1234567890123456789" },
	{ PT_INT64, PT_DCBA, { 0xEB7E, 0x1682, 0x0BEF, 0xDDEE }, "-1234567890123456789" },
	/* uint64 0x0102030405060708 = 72623859790382856 */
	{ PT_UINT64, PT_ABCD, { 0x0102, 0x0304, 0x0506, 0x0708 }, "72623859790382856" },
	{ PT_UINT64, PT_CDAB, { 0x0708, 0x0506, 0x0304, 0x0102 }, "72623859790382856" },
	{ PT_UINT64, PT_BADC, { 0x0201, 0x0403, 0x0605, 0x0807 }, "72623859790382856" },
	{ PT_UINT64, PT_DCBA, { 0x0807, 0x0605, 0x0403, 0x0201 }, "72623859790382856" },
	/* uint64 max: every order reads all ones */
	{ PT_UINT64, PT_DCBA, { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF }, "18446744073709551615" },
	/* float64 pi = 0x400921FB54442D18 */
	{ PT_FLOAT64, PT_ABCD, { 0x4009, 0x21FB, 0x5444, 0x2D18 }, "3.141592653589793" },
	{ PT_FLOAT64, PT_CDAB, { 0x2D18, 0x5444, 0x21FB, 0x4009 }, "3.141592653589793" },
	{ PT_FLOAT64, PT_BADC, { 0x0940, 0xFB21, 0x4454, 0x182D }, "3.141592653589793" },
	{ PT_FLOAT64, PT_DCBA, { 0x182D, 0x4454, 0xFB21, 0x0940 }, "3.141592653589793" },
};

static void
test_vectors(void)
{
	size_t i;

	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *t = &vecs[i];
		/* The point sits at address 11 of a read starting at 10. */
		struct pt_def d = def(PT_HOLDING, t->type, t->order, 11);
		uint16_t regs[6] = { 0xAAAA }, back[4];
		uint8_t data[12];
		struct pt_value v;
		unsigned n = pt_size(&d);
		bool coil;
		const char *why = NULL;
		int rc;

		memcpy(regs + 1, t->regs, n * sizeof(uint16_t));
		regs[1 + n] = 0x5555;
		bytes_of(regs, 2 + n, data);
		rc = pt_decode(&d, 10, data, 2 * (2 + n), &v);
		ok(rc == 0 && strcmp(json(&v), t->want) == 0,
		   "%s %s decodes to %s (got %s)", pt_type_names[t->type],
		   pt_order_names[t->order], t->want, json(&v));
		rc = pt_encode(&d, &v, back, 4, &coil, &why);
		ok(rc == (int)n && memcmp(back, t->regs, n * sizeof(uint16_t)) == 0,
		   "%s %s encodes back to the same registers", pt_type_names[t->type],
		   pt_order_names[t->order]);
		/* One register short of the point: refused, not read past. */
		ok(pt_decode(&d, 10, data, 2 * n, &v) == -1 && v.kind == PV_NONE,
		   "%s %s: data one register short is refused",
		   pt_type_names[t->type], pt_order_names[t->order]);
	}
}

static void
test_strings_and_bools(void)
{
	uint16_t hello[3] = { 0x4865, 0x6C6C, 0x6F21 };   /* "Hello!" */
	uint16_t olleh[3] = { 0x6548, 0x6C6C, 0x216F };   /* BADC */
	uint16_t shortr[3] = { 0x4F4B, 0x0000, 0x4142 }; /* "OK\0\0AB" */
	uint16_t odd[2] = { 0x411F, 0x2242 };            /* A, 0x1f, ", B */
	struct pt_def d = def(PT_HOLDING, PT_STRING, PT_ABCD, 0);
	struct pt_value v;
	uint8_t data[16];
	uint16_t back[3];
	bool coil;
	const char *why;

	d.count = 3;
	bytes_of(hello, 3, data);
	ok(pt_decode(&d, 0, data, 6, &v) == 0 && v.kind == PV_STRING &&
	   strcmp(v.s, "Hello!") == 0, "string ABCD: Hello!");
	ok(strcmp(json(&v), "\"Hello!\"") == 0, "  ... as JSON");
	ok(pt_encode(&d, &v, back, 3, &coil, &why) == 3 &&
	   memcmp(back, hello, sizeof(back)) == 0, "  ... encodes back");
	d.order = PT_BADC;
	bytes_of(olleh, 3, data);
	ok(pt_decode(&d, 0, data, 6, &v) == 0 && strcmp(v.s, "Hello!") == 0,
	   "string BADC (bytes swapped): Hello!");
	ok(pt_encode(&d, &v, back, 3, &coil, &why) == 3 &&
	   memcmp(back, olleh, sizeof(back)) == 0, "  ... encodes back");
	d.order = PT_ABCD;
	bytes_of(shortr, 3, data);
	ok(pt_decode(&d, 0, data, 6, &v) == 0 && strcmp(v.s, "OK") == 0 &&
	   v.slen == 2, "a string ends at its first NUL");
	ok(pt_encode(&d, &v, back, 3, &coil, &why) == 3 && back[0] == 0x4F4B &&
	   back[1] == 0 && back[2] == 0, "  ... and is padded with NUL when written");
	d.count = 2;
	bytes_of(odd, 2, data);
	ok(pt_decode(&d, 0, data, 4, &v) == 0 && strcmp(v.s, "A?\"B") == 0,
	   "control bytes become '?'");
	ok(strcmp(json(&v), "\"A?\\\"B\"") == 0, "  ... and quotes are escaped in JSON");

	/* A bool in a register: bit 0..15. */
	{
		struct pt_def b = def(PT_INPUT, PT_BOOL, PT_ABCD, 5);
		uint16_t r = 0x8001;

		bytes_of(&r, 1, data);
		b.bit = 15;
		ok(pt_decode(&b, 5, data, 2, &v) == 0 && v.kind == PV_BOOL && v.b,
		   "bool bit 15 of 0x8001 is true");
		b.bit = 1;
		ok(pt_decode(&b, 5, data, 2, &v) == 0 && !v.b,
		   "bool bit 1 of 0x8001 is false");
		ok(strcmp(json(&v), "false") == 0, "  ... JSON false");
		b.bit = -1;
		ok(pt_check(&b) != NULL, "a bool in a register without bit is refused");
	}
	/* Coils: packed, lowest address in bit 0. */
	{
		struct pt_def c = def(PT_COILS, PT_BOOL, PT_ABCD, 0);
		uint8_t bits[2] = { 0x05, 0x80 }; /* coils 0, 2 and 15 on */
		int a, okays = 0;

		for (a = 0; a < 16; a++) {
			c.addr = (uint16_t)(100 + a);
			if (pt_decode(&c, 100, bits, 2, &v) == 0 &&
			    v.b == (a == 0 || a == 2 || a == 15))
				okays++;
		}
		ok(okays == 16, "coils 100..115 decode from packed bits (0x05 0x80)");
		c.addr = 116;
		ok(pt_decode(&c, 100, bits, 2, &v) == -1, "coil 116 is past the data");
		c.addr = 99;
		ok(pt_decode(&c, 100, bits, 2, &v) == -1, "coil 99 is before the read");
		v.kind = PV_BOOL;
		v.b = true;
		c.addr = 3;
		ok(pt_encode(&c, &v, back, 3, &coil, &why) == 1 && coil,
		   "a coil encodes true");
		c.table = PT_DISCRETE;
		ok(pt_encode(&c, &v, back, 3, &coil, &why) == -1 &&
		   strstr(why, "read-only") != NULL, "a discrete input is read-only");
	}
}

static void
test_scale_json(void)
{
	struct pt_def d = def(PT_INPUT, PT_UINT16, PT_ABCD, 0);
	uint16_t r = 215, back[4];
	uint8_t data[8];
	struct pt_value v;
	const char *why = NULL;
	bool coil;

	bytes_of(&r, 1, data);
	d.scale = 0.1;
	ok(pt_decode(&d, 0, data, 2, &v) == 0 && v.kind == PV_FLOAT &&
	   strcmp(json(&v), "21.5") == 0, "uint16 215 * 0.1 = 21.5 (got %s)",
	   json(&v));
	d.table = PT_HOLDING;
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == 1 && back[0] == 215,
	   "21.5 / 0.1 writes 215");
	d.offset = -40.0;
	d.scale = 0.5;
	ok(pt_decode(&d, 0, data, 2, &v) == 0 && strcmp(json(&v), "67.5") == 0,
	   "215 * 0.5 - 40 = 67.5");
	v.f = 67.74;  /* (67.74 + 40) / 0.5 = 215.48: rounds to 215 */
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == 1 && back[0] == 215,
	   "writes round to the nearest raw value");
	v.f = -41.0;  /* raw -2: below uint16 */
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == -1 &&
	   strstr(why, "range") != NULL, "a value below the type is refused");

	d = def(PT_HOLDING, PT_INT16, PT_ABCD, 0);
	v.kind = PV_INT;
	v.i = 40000;
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == -1, "int16 40000 is refused");
	v.i = -32768;
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == 1 && back[0] == 0x8000,
	   "int16 -32768 writes 0x8000");
	v.kind = PV_STRING;
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == -1, "a string for an int16 is refused");
	d.type = PT_UINT64;
	v.kind = PV_INT;
	v.i = -1;
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == -1, "uint64 -1 is refused");
	d.type = PT_FLOAT32;
	v.kind = PV_FLOAT;
	v.f = 1e39;
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == -1, "float32 1e39 is refused");
	v.f = NAN;
	ok(pt_encode(&d, &v, back, 4, &coil, &why) == -1, "NaN is not written");

	/* Non-finite values from a device are JSON null. */
	{
		uint16_t nan32[2] = { 0x7FC0, 0x0000 }, inf32[2] = { 0xFF80, 0x0000 };
		uint16_t half[2] = { 0xBF00, 0x0000 };

		bytes_of(nan32, 2, data);
		ok(pt_decode(&d, 0, data, 4, &v) == 0 && isnan(v.f) &&
		   strcmp(json(&v), "null") == 0, "float32 NaN is null in JSON");
		bytes_of(inf32, 2, data);
		ok(pt_decode(&d, 0, data, 4, &v) == 0 && isinf(v.f) &&
		   strcmp(json(&v), "null") == 0, "float32 -Inf is null in JSON");
		bytes_of(half, 2, data);
		ok(pt_decode(&d, 0, data, 4, &v) == 0 &&
		   strcmp(json(&v), "-0.5") == 0, "float32 0xBF000000 = -0.5");
	}
	v.kind = PV_INT;
	v.i = INT64_MIN;
	ok(strcmp(json(&v), "-9223372036854775808") == 0, "int64 min as JSON");
	v.kind = PV_NONE;
	ok(strcmp(json(&v), "null") == 0, "no value is null");
}

static void
test_changed(void)
{
	struct pt_def d = def(PT_HOLDING, PT_FLOAT32, PT_ABCD, 0);
	struct pt_value a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.kind = b.kind = PV_FLOAT;
	a.f = 20.0;
	b.f = 20.4;
	d.deadband = 0.5;
	ok(!pt_changed(&d, &a, &b), "0.4 within deadband 0.5: not reported");
	b.f = 20.6;
	ok(pt_changed(&d, &a, &b), "0.6 beyond deadband 0.5: reported");
	b.f = 19.4;
	ok(pt_changed(&d, &a, &b), "-0.6 beyond deadband 0.5: reported");
	a.f = NAN;
	b.f = NAN;
	ok(!pt_changed(&d, &a, &b), "NaN to NaN: no change");
	b.f = 1.0;
	ok(pt_changed(&d, &a, &b), "NaN to 1: change");
	a.f = INFINITY;
	b.f = INFINITY;
	ok(!pt_changed(&d, &a, &b), "Inf to Inf: no change");
	b.kind = PV_NONE;
	ok(pt_changed(&d, &a, &b), "value to none: change");
	d.deadband = 0.0;
	a.kind = b.kind = PV_UINT;
	a.u = UINT64_MAX;
	b.u = UINT64_MAX - 1;
	ok(pt_changed(&d, &a, &b), "uint64 max-1 vs max: an exact change without deadband");
	b.u = UINT64_MAX;
	ok(!pt_changed(&d, &a, &b), "equal uint64: no change");
	d.report = PT_REPORT_ALWAYS;
	ok(pt_changed(&d, &a, &b), "report always: reported anyway");
}

static void
test_check(void)
{
	struct pt_def d = def(PT_COILS, PT_INT16, PT_ABCD, 0);

	ok(pt_check(&d) != NULL, "int16 on coils is refused");
	d = def(PT_HOLDING, PT_INT16, PT_CDAB, 0);
	ok(pt_check(&d) != NULL, "CDAB for a one-register type is refused");
	d = def(PT_HOLDING, PT_UINT64, PT_ABCD, 65533);
	ok(pt_check(&d) != NULL, "uint64 at 65533 runs past 65535");
	d.addr = 65532;
	ok(pt_check(&d) == NULL, "uint64 at 65532 ends at 65535");
	d.scale = 0.0;
	ok(pt_check(&d) != NULL, "scale 0 is refused");
	d.scale = 1.0;
	d.deadband = -1;
	ok(pt_check(&d) != NULL, "negative deadband is refused");
	d = def(PT_HOLDING, PT_STRING, PT_ABCD, 0);
	ok(pt_check(&d) != NULL, "a string without length is refused");
	d.count = 65;
	ok(pt_check(&d) != NULL, "a string of 65 registers is refused");
	d.count = 64;
	ok(pt_check(&d) == NULL && pt_size(&d) == 64, "a string of 64 registers");
	d.scale = 2.0;
	ok(pt_check(&d) != NULL, "scale on a string is refused");
}

static void
test_plan(void)
{
	struct pt_def defs[8];
	struct pt_read reads[8];
	size_t scratch[8], map[8];
	int n;

	/* Out of order: holding 10 (float32), 12 (uint16), 13 (int64),
	 * coil 5, coil 7, input 0, holding 30, holding 140. */
	defs[0] = def(PT_HOLDING, PT_UINT16, PT_ABCD, 12);
	defs[1] = def(PT_COILS, PT_BOOL, PT_ABCD, 7);
	defs[2] = def(PT_HOLDING, PT_FLOAT32, PT_ABCD, 10);
	defs[3] = def(PT_INPUT, PT_INT16, PT_ABCD, 0);
	defs[4] = def(PT_HOLDING, PT_INT64, PT_ABCD, 13);
	defs[5] = def(PT_COILS, PT_BOOL, PT_ABCD, 5);
	defs[6] = def(PT_HOLDING, PT_UINT16, PT_ABCD, 30);
	defs[7] = def(PT_HOLDING, PT_UINT16, PT_ABCD, 140);

	n = pt_plan(defs, 8, 0, 125, 2000, scratch, reads, map);
	ok(n == 6, "gap 0: 6 reads (got %d)", n);
	ok(n == 6 && reads[0].table == PT_COILS && reads[0].addr == 5 &&
	   reads[0].qty == 1 && reads[1].addr == 7 && reads[1].qty == 1,
	   "  ... coils 5 and 7 apart");
	ok(n == 6 && reads[2].table == PT_HOLDING && reads[2].addr == 10 &&
	   reads[2].qty == 7, "  ... holding 10..16 in one read");
	ok(map[0] == 2 && map[2] == 2 && map[4] == 2 && map[1] == 1 &&
	   map[5] == 0 && map[3] == 5 && map[6] == 3 && map[7] == 4,
	   "  ... every point maps to its read");

	n = pt_plan(defs, 8, 2, 125, 2000, scratch, reads, map);
	ok(n == 5 && reads[0].addr == 5 && reads[0].qty == 3,
	   "gap 2: coils 5..7 in one read");
	n = pt_plan(defs, 8, 13, 125, 2000, scratch, reads, map);
	ok(n == 4 && reads[1].addr == 10 && reads[1].qty == 21,
	   "gap 13: holding 10..30 in one read");
	n = pt_plan(defs, 8, 200, 125, 2000, scratch, reads, map);
	ok(n == 4 && reads[2].addr == 140 && reads[1].qty == 21,
	   "gap 200: holding 140 still apart (10..140 is 131 > 125 registers)");
	n = pt_plan(defs, 8, 200, 20, 2000, scratch, reads, map);
	ok(n == 5 && reads[1].qty == 7 && reads[2].addr == 30,
	   "max 20 registers: 10..16 and 30 apart");
	ok(pt_plan(defs, 8, 0, 126, 2000, scratch, reads, map) == -1,
	   "more than 125 registers per read is refused");
	ok(pt_plan(defs, 8, 0, 3, 2000, scratch, reads, map) == -1,
	   "a point larger than the read limit is refused");

	/* 2000 coils in one read, the 2001st in the next. */
	defs[0] = def(PT_COILS, PT_BOOL, PT_ABCD, 0);
	defs[1] = def(PT_COILS, PT_BOOL, PT_ABCD, 1999);
	defs[2] = def(PT_COILS, PT_BOOL, PT_ABCD, 2000);
	n = pt_plan(defs, 3, 2000, 125, 2000, scratch, reads, map);
	ok(n == 2 && reads[0].qty == 2000 && reads[1].addr == 2000,
	   "coils 0..1999 in one read, 2000 in the next");
	/* Overlapping points share a read. */
	defs[0] = def(PT_HOLDING, PT_UINT32, PT_ABCD, 100);
	defs[1] = def(PT_HOLDING, PT_UINT16, PT_ABCD, 101);
	defs[2] = def(PT_HOLDING, PT_UINT64, PT_ABCD, 65532);
	n = pt_plan(defs, 3, 0, 125, 2000, scratch, reads, map);
	ok(n == 2 && reads[0].addr == 100 && reads[0].qty == 2 &&
	   reads[1].addr == 65532 && reads[1].qty == 4,
	   "overlapping points share a read; a read may end at 65535");
}

static void
test_commands(void)
{
	struct mb_command c;
	const char *why = NULL;
	static const char *const bad[] = {
		"", "[]", "{}", "{\"device\":\"a\",\"point\":\"b\"}",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":null}",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":1,\"x\":1}",
		"{\"device\":\"a\",\"device\":\"c\",\"point\":\"b\",\"value\":1}",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":01}",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":1.}",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":{}}",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":1} x",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":1e999}",
		"{\"device\":\"a\\u00e9\",\"point\":\"b\",\"value\":1}",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":\"x\\u0000y\"}",
		"{\"device\":\"\",\"point\":\"b\",\"value\":1}",
		"{\"device\":\"a\",\"point\":\"b\",\"value\":1",
	};
	size_t i;
	int refused = 0;

	ok(cmd_parse("{\"id\":\"c-1\",\"device\":\"plc-1\",\"point\":\"sp\",\"value\":21.5}", strlen("{\"id\":\"c-1\",\"device\":\"plc-1\",\"point\":\"sp\",\"value\":21.5}"), &c, &why) == 0 && strcmp(c.id, "c-1") == 0 &&
	   strcmp(c.device, "plc-1") == 0 && strcmp(c.point, "sp") == 0 &&
	   c.value.kind == PV_FLOAT && c.value.f == 21.5,
	   "command with id, device, point, float value");
	ok(cmd_parse(" { \"point\" : \"p\" , \"value\" : -9223372036854775808 , \"device\" : \"d\" } ", strlen(" { \"point\" : \"p\" , \"value\" : -9223372036854775808 , \"device\" : \"d\" } "), &c, &why) == 0 && c.value.kind == PV_INT &&
	   c.value.i == INT64_MIN && c.id[0] == '\0', "int64 min exact, any key order, spaces");
	ok(cmd_parse("{\"device\":\"d\",\"point\":\"p\",\"value\":18446744073709551615}", strlen("{\"device\":\"d\",\"point\":\"p\",\"value\":18446744073709551615}"), &c, &why) == 0 && c.value.kind == PV_UINT &&
	   c.value.u == UINT64_MAX, "uint64 max exact");
	ok(cmd_parse("{\"device\":\"d\",\"point\":\"p\",\"value\":true}", strlen("{\"device\":\"d\",\"point\":\"p\",\"value\":true}"), &c, &why) == 0 && c.value.kind == PV_BOOL && c.value.b,
	   "bool value");
	ok(cmd_parse("{\"device\":\"d\\\"q\",\"point\":\"p\",\"value\":\"A\\tB\\u0041\"}", strlen("{\"device\":\"d\\\"q\",\"point\":\"p\",\"value\":\"A\\tB\\u0041\"}"), &c, &why) == 0 && strcmp(c.device, "d\"q") == 0 &&
	   c.value.kind == PV_STRING && strcmp(c.value.s, "A\tBA") == 0 &&
	   c.value.slen == 4, "escapes in keys' strings and string values");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (cmd_parse(bad[i], strlen(bad[i]), &c, &why) == -1 && why != NULL)
			refused++;
		else
			diag("accepted: %s", bad[i]);
	}
	ok(refused == (int)(sizeof(bad) / sizeof(bad[0])),
	   "%d malformed or incomplete commands refused with a reason", refused);
}

int
main(void)
{
	test_vectors();
	test_strings_and_bools();
	test_scale_json();
	test_changed();
	test_check();
	test_plan();
	test_commands();
	return done_testing();
}
