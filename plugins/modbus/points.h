/*
 * points: typed points over Modbus tables, as pure functions.
 *
 * A point names a value a device holds: a table (coils, discrete inputs,
 * holding or input registers), an address, a type (bool, 16/32/64-bit
 * integers, float32/64, a string of N registers), a byte/word order for
 * the multi-register types, a scale and offset to engineering units, and
 * how it is reported (on every cycle, or on change beyond a deadband).
 *
 *   pt_plan()    merges the points of one device/unit into as few reads
 *                as possible (bounded gap, at most 125 registers or 2000
 *                coils per read);
 *   pt_decode()  turns the data bytes of a read's answer into a value;
 *   pt_encode()  the inverse, a value into register/coil data for a write;
 *   pt_changed() whether a new value is worth reporting.
 *
 * Nothing here allocates, does I/O or keeps state between calls; every
 * function reads at most the stated length of its input.
 *
 * Byte orders.  A 32-bit value whose bytes are A B C D, A the most
 * significant, travels in two registers as
 *
 *   ABCD  0xAABB 0xCCDD   big-endian, high word first (the Modbus habit)
 *   CDAB  0xCCDD 0xAABB   low word first ("word swap")
 *   BADC  0xBBAA 0xDDCC   bytes swapped in each register
 *   DCBA  0xDDCC 0xBBAA   fully little-endian
 *
 * 64-bit values extend the same pattern to four registers (CDAB: the
 * registers in reverse order, bytes in each big-endian).  One-register
 * types and strings take ABCD (high byte first) or BADC (bytes swapped).
 */
#ifndef ZG_MB_POINTS_H
#define ZG_MB_POINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PT_NAME_MAX 64          /* point name, with NUL */
#define PT_UNIT_MAX 32          /* engineering unit, with NUL */
#define PT_STRING_REGS_MAX 64   /* a string point: 1..64 registers */
#define PT_STRING_MAX (2 * PT_STRING_REGS_MAX)
#define PT_MAX_REGS 125         /* per read: FC 3, 4 */
#define PT_MAX_BITS 2000        /* per read: FC 1, 2 */

/* Tables: the values of enum zg_mb_table. */
enum pt_table {
	PT_COILS = 0,
	PT_DISCRETE = 1,
	PT_HOLDING = 2,
	PT_INPUT = 3,
};

enum pt_type {
	PT_BOOL = 0,
	PT_INT16,
	PT_UINT16,
	PT_INT32,
	PT_UINT32,
	PT_INT64,
	PT_UINT64,
	PT_FLOAT32,
	PT_FLOAT64,
	PT_STRING,
	PT_NTYPES,
};

enum pt_order {
	PT_ABCD = 0,
	PT_CDAB = 1,
	PT_BADC = 2,
	PT_DCBA = 3,
};

enum pt_report {
	PT_REPORT_CHANGE = 0,   /* when it changed beyond the deadband */
	PT_REPORT_ALWAYS = 1,   /* every cycle */
};

/* One point.  Fill by hand (zeroed first) or from the configuration. */
struct pt_def {
	char name[PT_NAME_MAX];
	uint8_t table;          /* enum pt_table */
	uint8_t type;           /* enum pt_type */
	uint8_t order;          /* enum pt_order */
	uint8_t report;         /* enum pt_report */
	uint16_t addr;          /* first coil/register, 0-based */
	uint16_t count;         /* PT_STRING: registers (1..64); else unused */
	int8_t bit;             /* PT_BOOL in a register: bit 0..15; else -1 */
	double scale;           /* engineering = raw * scale + offset */
	double offset;
	double deadband;        /* PT_REPORT_CHANGE: |new - old| > deadband */
	char unit[PT_UNIT_MAX]; /* "degC", or "" */
};

enum pt_kind {
	PV_NONE = 0,            /* no value (never read, or not decodable) */
	PV_BOOL,
	PV_INT,                 /* i */
	PV_UINT,                /* u */
	PV_FLOAT,               /* f: any type with scale/offset, floats */
	PV_STRING,              /* s[0..slen), NUL-terminated */
};

/* How a PV_FLOAT prints: the shortest text that reads back the same. */
enum pt_prec {
	PP_DOUBLE = 0,          /* a float64 from the device: 15..17 digits */
	PP_FLOAT = 1,           /* a float32 from the device: 6..9 digits */
	PP_SCALED = 2,          /* scaled: 15 digits, so 215 * 0.1 is 21.5 */
};

struct pt_value {
	uint8_t kind;           /* enum pt_kind */
	uint8_t prec;           /* enum pt_prec, for PV_FLOAT */
	bool b;
	int64_t i;
	uint64_t u;
	double f;
	uint16_t slen;
	char s[PT_STRING_MAX + 1];
};

/* One read the planner chose: table, first address, quantity. */
struct pt_read {
	uint8_t table;
	uint16_t addr;
	uint16_t qty;           /* registers or coils */
};

/* Names for the configuration and telemetry; NULL-terminated tables. */
extern const char *const pt_type_names[];   /* "bool", "int16", ... */
extern const char *const pt_order_names[];  /* "ABCD", "CDAB", ... */
extern const char *const pt_table_names[];  /* "coils", ... */

/* Whether a table holds bits (coils, discrete inputs). */
static inline bool
pt_table_bits(unsigned table)
{
	return table == PT_COILS || table == PT_DISCRETE;
}

/* Coils or registers the point occupies (0 for a def that is invalid). */
unsigned pt_size(const struct pt_def *d);

/*
 * Whether d is a point this layer can read: known table, type and order;
 * bit tables hold only bools; a bool in a register names its bit 0..15;
 * one-register types and strings take ABCD or BADC; a string has 1..64
 * registers; it ends at or before address 65535; scale is finite and not
 * 0, offset and deadband finite, deadband >= 0.  Returns NULL when valid,
 * otherwise a static text saying what is wrong.
 */
const char *pt_check(const struct pt_def *d);

/*
 * Plan the reads for n points of one device and unit (defs must pass
 * pt_check).  Points are taken in (table, address) order; a read grows
 * over the next point while the unread stretch between them is at most
 * max_gap coils/registers and the read stays within max_regs registers
 * (1..125) or max_bits coils (1..2000).  Points may overlap.
 *
 * scratch[0..n) is working space; reads[0..n) receives the reads (there
 * are never more reads than points); map[i] is set to the index of the
 * read that covers defs[i].  Returns the number of reads, or -1 when a
 * def is invalid or a limit is out of range.
 */
int pt_plan(const struct pt_def *defs, size_t n, unsigned max_gap,
	    unsigned max_regs, unsigned max_bits, size_t *scratch,
	    struct pt_read *reads, size_t *map);

/*
 * Decode point d from the data of a read's answer that starts at
 * address `base' of d's table: for registers, data[0..len) holds the
 * registers big-endian (2 bytes each, as in an FC 3/4 answer after the
 * byte count); for bits, packed 8 per byte, lowest address in bit 0 (FC
 * 1/2).  Scale and offset apply when they are not 1 and 0 (the value is
 * then a float); otherwise integers stay exact.  A string stops at its
 * first NUL byte; bytes outside printable ASCII become '?'.
 *
 * Returns 0, or -1 when d is invalid or the data does not cover it (out
 * is then PV_NONE).
 */
int pt_decode(const struct pt_def *d, uint16_t base, const uint8_t *data,
	      size_t len, struct pt_value *out);

/*
 * The inverse, for writes: the value v (any kind that fits the type: a
 * number for numeric points, a bool or 0/1 for bools, a string for
 * strings) through the inverse of scale and offset, rounded to the
 * nearest integer for integer types, into regs[0..cap) (registers, as
 * values) for register points, or *coil for a coil.  A bool in a
 * register (bit) cannot be written without reading the register first and
 * is refused.  Strings shorter than the point are padded with NUL.
 *
 * Returns the number of registers written (1 for a coil), or -1 with *why
 * set (static text) when the value does not fit the type's range, is not
 * a number, or the point is read-only (discrete inputs, input registers).
 */
int pt_encode(const struct pt_def *d, const struct pt_value *v,
	      uint16_t *regs, size_t cap, bool *coil, const char **why);

/*
 * Whether `now' is worth reporting after `last' under d's rule: a value
 * appearing or disappearing, a bool or string that differs, a number
 * whose difference exceeds the deadband (any difference when it is 0).
 * NaN equals NaN here, so a device stuck at NaN does not report every
 * cycle.  PT_REPORT_ALWAYS always reports.
 */
bool pt_changed(const struct pt_def *d, const struct pt_value *last,
		const struct pt_value *now);

/*
 * The value as a JSON value into buf[0..len): a number, true/false, a
 * string (escaped), or null for PV_NONE and for non-finite floats (JSON
 * has no NaN or infinity).  Like snprintf: returns the length needed.
 */
int pt_value_json(const struct pt_value *v, char *buf, size_t len);

#endif /* ZG_MB_POINTS_H */
