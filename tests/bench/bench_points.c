/*
 * bench_points: points decoded per second by pt_decode() (plugins/modbus/
 * points.c), against the direct path in the same run: the same registers
 * turned into the same native values by code written for exactly that
 * layout (fixed types and offsets, big-endian loads, no table lookups).
 * The ratio is what the generic, configurable decoder costs.
 *
 *   bench_points [SECONDS]      (default 1 per measurement)
 *
 * 120 registers (one read) hold 75 points: per 8 registers one float32
 * ABCD, one int32 CDAB, one uint16, one int16 scaled by 0.1 and one
 * float32 DCBA.  Decoding plus the JSON rendering of each value
 * (pt_value_json, what the telemetry needs) is measured as a third line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/modbus/points.h"

#define NREGS 124

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct pt_def defs[NREGS];
static size_t ndefs;

/* Per 8 registers: f32 ABCD (2), i32 CDAB (2), u16 (1), i16*0.1 (1), f32 DCBA (2). */
static void
make_defs(void)
{
	uint16_t a;

	for (a = 0; a + 8 <= NREGS; a += 8) {
		static const struct {
			uint8_t type, order;
			uint16_t off;
			double scale;
		} lay[] = {
			{ PT_FLOAT32, PT_ABCD, 0, 1.0 }, { PT_INT32, PT_CDAB, 2, 1.0 },
			{ PT_UINT16, PT_ABCD, 4, 1.0 }, { PT_INT16, PT_ABCD, 5, 0.1 },
			{ PT_FLOAT32, PT_DCBA, 6, 1.0 },
		};
		size_t i;

		for (i = 0; i < sizeof(lay) / sizeof(lay[0]); i++) {
			struct pt_def *d = &defs[ndefs++];

			memset(d, 0, sizeof(*d));
			d->table = PT_HOLDING;
			d->type = lay[i].type;
			d->order = lay[i].order;
			d->addr = (uint16_t)(a + lay[i].off);
			d->bit = -1;
			d->scale = lay[i].scale;
		}
	}
}

static inline uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The direct path: the layout above, hand-coded. */
static __attribute__((noinline)) double
direct(const uint8_t *data, double *sink)
{
	double acc = 0;
	size_t a;

	for (a = 0; a + 8 <= NREGS; a += 8) {
		const uint8_t *p = data + 2 * a;
		uint32_t w;
		float f;
		int32_t i;

		w = be32(p);
		memcpy(&f, &w, 4);
		acc += f;
		i = (int32_t)((uint32_t)(p[6] << 8 | p[7]) << 16 |
			      (uint32_t)(p[4] << 8 | p[5]));
		acc += i;
		acc += (uint16_t)(p[8] << 8 | p[9]);
		acc += (int16_t)(p[10] << 8 | p[11]) * 0.1;
		w = (uint32_t)p[15] << 24 | (uint32_t)p[14] << 16 |
		    (uint32_t)p[13] << 8 | p[12];
		memcpy(&f, &w, 4);
		acc += f;
	}
	*sink += acc;
	return acc;
}

static __attribute__((noinline)) double
generic(const uint8_t *data, double *sink)
{
	struct pt_value v;
	double acc = 0;
	size_t i;

	for (i = 0; i < ndefs; i++) {
		pt_decode(&defs[i], 0, data, 2 * NREGS, &v);
		acc += v.kind == PV_INT ? (double)v.i :
		       v.kind == PV_UINT ? (double)v.u : v.f;
	}
	*sink += acc;
	return acc;
}

static __attribute__((noinline)) double
with_json(const uint8_t *data, double *sink)
{
	struct pt_value v;
	char buf[64];
	size_t i, n = 0;

	for (i = 0; i < ndefs; i++) {
		pt_decode(&defs[i], 0, data, 2 * NREGS, &v);
		n += (size_t)pt_value_json(&v, buf, sizeof(buf));
	}
	*sink += (double)n;
	return (double)n;
}

/* Points per second of fn over `secs' seconds. */
static double
measure(double (*fn)(const uint8_t *, double *), const uint8_t *data,
	double secs, double *sink)
{
	double t0 = now_s(), t;
	long rounds = 0;

	do {
		int k;

		for (k = 0; k < 1000; k++) {
			fn(data, sink);
			/* The data may have changed: no hoisting out of the loop. */
			__asm__ volatile("" : : "r"(data) : "memory");
		}
		rounds += 1000;
		t = now_s();
	} while (t - t0 < secs);
	return (double)rounds * (double)ndefs / (t - t0);
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0, sink = 0;
	uint8_t data[2 * NREGS];
	double d, g, j;
	size_t i;

	if (secs <= 0)
		secs = 1.0;
	make_defs();
	srand(7);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(rand() & 0x3f); /* finite floats */
	/* The two paths agree before anything is timed. */
	{
		double s1 = 0, s2 = 0, a = direct(data, &s1), b = generic(data, &s2);

		if (a != b) {
			printf("bench_points: direct %.17g != generic %.17g\n", a, b);
			return 1;
		}
	}
	d = measure(direct, data, secs, &sink);
	g = measure(generic, data, secs, &sink);
	j = measure(with_json, data, secs, &sink);
	printf("points decoded, %zu points in 120 registers (float32 ABCD/DCBA, int32 CDAB, uint16, scaled int16):\n",
	       ndefs);
	printf("  direct (hand-coded layout)   %12.0f points/s\n", d);
	printf("  pt_decode (configured)       %12.0f points/s  ratio %.3f of direct\n",
	       g, g / d);
	printf("  pt_decode + pt_value_json    %12.0f points/s  ratio %.3f of direct\n",
	       j, j / d);
	return sink == 42.4242 ? 1 : 0;
}
