/*
 * fuzz_points: point definitions and register data from the input, through
 * the decoder, the encoder and the read planner (plugins/modbus/points.c).
 *
 *   byte 0 even: decode.  [0 mode][1 table][2 type][3 order][4 bit]
 *     [5..6 addr][7 count][8 scale index][9..10 base][data...]
 *     Checks: decode never reads past the data (ASan), fails exactly when
 *     the point is invalid or not covered, and an unscaled integer or
 *     string value written back gives registers that decode to it again.
 *   byte 0 odd: plan.  [0 mode][1 gap][2 max regs][3..4 max bits]
 *     then 6-byte points [table][type][order][bit][addr hi][addr lo].
 *     Checks: every read is within the limits and inside 0..65535, and
 *     every point lies inside the read it is mapped to, of its own table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/modbus/points.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                 \
	do {                     \
		if (!(x))        \
			abort(); \
	} while (0)

static const double scales[] = { 1.0, 0.1, 10.0, -2.5, 0.0, 1e308 };

static void
def_from(const uint8_t *p, struct pt_def *d)
{
	memset(d, 0, sizeof(*d));
	d->table = p[0] % 5;
	d->type = p[1] % (PT_NTYPES + 1);
	d->order = p[2] % 5;
	d->bit = (int8_t)((int)(p[3] % 18) - 1);
	d->scale = 1.0;
	d->report = p[2] >> 7;
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
	struct pt_def d;
	struct pt_value v, w;
	uint16_t base, regs[PT_STRING_REGS_MAX];
	const uint8_t *payload;
	size_t plen;
	bool coil;
	const char *why = NULL;
	char json[1024];
	int rc, n, jl;

	if (size < 11)
		return;
	def_from(data + 1, &d);
	d.addr = (uint16_t)(data[5] << 8 | data[6]);
	d.count = data[7] % (PT_STRING_REGS_MAX + 2);
	d.scale = scales[data[8] % (sizeof(scales) / sizeof(scales[0]))];
	base = (uint16_t)(data[9] << 8 | data[10]);
	payload = data + 11;
	plen = size - 11;
	/* A private copy: ASan sees any read past plen. */
	{
		uint8_t *copy = malloc(plen ? plen : 1);

		if (copy == NULL)
			return;
		memcpy(copy, payload, plen);
		rc = pt_decode(&d, base, plen ? copy : NULL, plen, &v);
		free(copy);
	}
	if (pt_check(&d) != NULL) {
		CHECK(rc == -1 && v.kind == PV_NONE);
		return;
	}
	if (rc < 0) {
		unsigned sz = pt_size(&d);

		CHECK(d.addr < base ||
		      (pt_table_bits(d.table) ?
			       (size_t)(d.addr - base) / 8 >= plen :
			       ((size_t)d.addr - base + sz) * 2 > plen));
		return;
	}
	CHECK(v.kind != PV_NONE);
	jl = pt_value_json(&v, json, sizeof(json));
	CHECK(jl > 0 && (size_t)jl < sizeof(json) && strlen(json) == (size_t)jl);
	CHECK(!pt_changed(&d, &v, &v) || d.report == PT_REPORT_ALWAYS);
	if (d.table == PT_DISCRETE || d.table == PT_INPUT) {
		CHECK(pt_encode(&d, &v, regs, PT_STRING_REGS_MAX, &coil, &why) == -1);
		return;
	}
	n = pt_encode(&d, &v, regs, PT_STRING_REGS_MAX, &coil, &why);
	if (n < 0) {
		CHECK(why != NULL);
		return;
	}
	if (d.table == PT_COILS) {
		CHECK(n == 1 && coil == v.b);
		return;
	}
	/* Decode what was encoded: exact for integers and strings. */
	if (v.kind == PV_INT || v.kind == PV_UINT || v.kind == PV_STRING) {
		uint8_t bytes[2 * PT_STRING_REGS_MAX];
		int i;

		CHECK((unsigned)n == pt_size(&d));
		for (i = 0; i < n; i++) {
			bytes[2 * i] = (uint8_t)(regs[i] >> 8);
			bytes[2 * i + 1] = (uint8_t)regs[i];
		}
		CHECK(pt_decode(&d, d.addr, bytes, 2 * (size_t)n, &w) == 0);
		CHECK(w.kind == v.kind);
		if (v.kind == PV_STRING)
			CHECK(w.slen == v.slen && memcmp(w.s, v.s, v.slen) == 0);
		else
			CHECK(w.i == v.i && w.u == v.u);
	}
}

static void
fuzz_plan(const uint8_t *data, size_t size)
{
	struct pt_def defs[64];
	struct pt_read reads[64];
	size_t scratch[64], map[64], n = 0, i;
	unsigned gap, mregs, mbits;
	int nr;

	if (size < 5)
		return;
	gap = data[1];
	mregs = data[2];
	mbits = (unsigned)(data[3] << 8 | data[4]);
	for (i = 5; i + 6 <= size && n < 64; i += 6, n++) {
		def_from(data + i, &defs[n]);
		defs[n].addr = (uint16_t)(data[i + 4] << 8 | data[i + 5]);
		defs[n].count = 1 + data[i + 3] % 8;
	}
	nr = pt_plan(defs, n, gap, mregs, mbits, scratch, reads, map);
	if (nr < 0)
		return;
	CHECK((size_t)nr <= n);
	CHECK(mregs >= 1 && mregs <= PT_MAX_REGS && mbits >= 1 &&
	      mbits <= PT_MAX_BITS);
	for (i = 0; i < (size_t)nr; i++) {
		const struct pt_read *r = &reads[i];

		CHECK(r->qty >= 1);
		CHECK(r->qty <= (pt_table_bits(r->table) ? mbits : mregs));
		CHECK((unsigned)r->addr + r->qty - 1 <= 65535);
	}
	for (i = 0; i < n; i++) {
		const struct pt_read *r;

		CHECK(map[i] < (size_t)nr);
		r = &reads[map[i]];
		CHECK(r->table == defs[i].table);
		CHECK(defs[i].addr >= r->addr);
		CHECK((unsigned)defs[i].addr + pt_size(&defs[i]) <=
		      (unsigned)r->addr + r->qty);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_decode(data, size);
	else
		fuzz_plan(data, size);
	return 0;
}
