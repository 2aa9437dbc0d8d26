/*
 * zg-plcsim: the register map.
 *
 * The map is a plain libmodbus modbus_mapping_t, 0-based (PDU addresses).
 * Values come from, in this order: the demo pattern, the init file, then
 * each --set; the demo keeps rewriting its own registers every second.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plcsim.h"

/* Demo pattern layout (documented in README.md and -h). */
#define DEMO_IR_TEMP 0		/* float32 ABCD, degrees Celsius */
#define DEMO_IR_COUNTER 2	/* uint32 ABCD, seconds since start */
#define DEMO_IR_MIN 4
#define DEMO_DI_HEARTBEAT 0	/* toggles every second */
#define DEMO_DI_MIN 1

static const struct {
	const char *name;
	enum regmap_table table;
} table_names[] = {
	{"coil", REG_COILS},
	{"coils", REG_COILS},
	{"discrete", REG_DISCRETE},
	{"di", REG_DISCRETE},
	{"holding", REG_HOLDING},
	{"hr", REG_HOLDING},
	{"input", REG_INPUT},
	{"ir", REG_INPUT},
};

/*
 * Create a zeroed map with the given table sizes (each 0..65536).
 * Returns NULL (errno set by libmodbus) when memory runs out.
 */
modbus_mapping_t *regmap_new(const struct regmap_sizes *sizes)
{
	return modbus_mapping_new((int)sizes->coils, (int)sizes->discrete,
				  (int)sizes->holding, (int)sizes->input);
}

/*
 * Parse a table size: a decimal number 0..65536 (a table can cover the
 * whole 16-bit address space).  Refuses signs, hex and trailing text.
 */
int regmap_parse_size(const char *s, unsigned int *out)
{
	unsigned long v;

	if (parse_uint(s, 65536, &v) < 0)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/*
 * Parse a signed integer: decimal with an optional sign, or 0x/0X hex
 * (never octal: "010" is ten).  Accepts only min..max and no trailing
 * text.
 */
static int parse_int(const char *s, long long min, long long max,
		     long long *out)
{
	const char *p = s;
	char *end;
	long long v;
	int base = 10;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (!isxdigit((unsigned char)*p))
			return -1;
	} else if (!isdigit((unsigned char)*p) &&
		   !((*p == '-' || *p == '+') && isdigit((unsigned char)p[1]))) {
		return -1;
	}
	errno = 0;
	v = strtoll(p, &end, base);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Parse an unsigned decimal (or 0x hex) number 0..max.  Refuses signs,
 * empty strings and trailing text.
 */
int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	long long v;

	if (s == NULL || *s == '-' || *s == '+')
		return -1;
	if (parse_int(s, 0, (long long)max, &v) < 0)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

/*
 * Parse one value token into 1 or 2 registers (or one bit):
 *   bits:       0 | 1
 *   registers:  -32768..65535 (decimal or 0x hex), f32:FLOAT,
 *               u32:0..4294967295, i32:-2147483648..2147483647
 * 32-bit values are stored high word first (ABCD), as the demo does.
 * Returns the number of registers produced, or -1.
 */
static int parse_value(const char *tok, bool bits, uint16_t out[2])
{
	long long v;

	if (bits) {
		if (strcmp(tok, "0") == 0 || strcmp(tok, "1") == 0) {
			out[0] = (uint16_t)(tok[0] - '0');
			return 1;
		}
		return -1;
	}
	if (strncmp(tok, "f32:", 4) == 0) {
		char *end;
		float f;
		uint32_t u;

		errno = 0;
		f = strtof(tok + 4, &end);
		if (tok[4] == '\0' || *end != '\0' || errno != 0)
			return -1;
		memcpy(&u, &f, sizeof(u));
		out[0] = (uint16_t)(u >> 16);
		out[1] = (uint16_t)(u & 0xFFFF);
		return 2;
	}
	if (strncmp(tok, "u32:", 4) == 0 || strncmp(tok, "i32:", 4) == 0) {
		bool is_signed = tok[0] == 'i';
		uint32_t u;

		if (parse_int(tok + 4, is_signed ? -2147483648LL : 0,
			      is_signed ? 2147483647LL : 4294967295LL, &v) < 0)
			return -1;
		u = (uint32_t)v;
		out[0] = (uint16_t)(u >> 16);
		out[1] = (uint16_t)(u & 0xFFFF);
		return 2;
	}
	if (parse_int(tok, -32768, 65535, &v) < 0)
		return -1;
	out[0] = (uint16_t)v;
	return 1;
}

/*
 * Walk the comma-separated values of a spec.  With dst NULL only counts
 * and validates; otherwise stores at most cap values.  Returns the count
 * or -1 with err filled.  Empty tokens ("1,,2", trailing comma) are
 * refused: they are almost always a typo.
 */
static long walk_values(const char *values, bool bits, uint16_t *dst,
			size_t cap, char *err, size_t errlen)
{
	char tok[64];
	const char *p = values;
	size_t n = 0;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		uint16_t v[2];
		int k;

		if (len == 0 || len >= sizeof(tok)) {
			snprintf(err, errlen, "empty or overlong value in '%s'",
				 values);
			return -1;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		k = parse_value(tok, bits, v);
		if (k < 0) {
			snprintf(err, errlen, bits ?
				 "bad value '%s' (coils and discrete inputs take 0 or 1)" :
				 "bad value '%s' (want -32768..65535, 0xHHHH, f32:X, u32:N or i32:N)",
				 tok);
			return -1;
		}
		if (dst != NULL) {
			if (n + (size_t)k > cap)
				return -1;
			memcpy(dst + n, v, (size_t)k * sizeof(v[0]));
		}
		n += (size_t)k;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return (long)n;
}

/*
 * Apply one value spec "TABLE:ADDR=V[,V...]" to the map, e.g.
 * "holding:0=1234", "input:10=0x4049,0x0FDB", "coil:5=1",
 * "hr:20=f32:21.5".  ADDR is the 0-based PDU address.  The spec is
 * validated completely before anything is written, so a bad spec from
 * the control FIFO leaves the map untouched.  Returns 0, or -1 with a
 * message in err.
 */
int regmap_set(modbus_mapping_t *map, const char *spec, char *err,
	       size_t errlen)
{
	const char *colon = strchr(spec, ':');
	const char *eq = strchr(spec, '=');
	char name[16], addrbuf[16];
	enum regmap_table table = REG_COILS;
	unsigned long addr;
	size_t i, size, nlen, alen;
	bool found = false, bits;
	uint16_t *vals;
	long n;

	if (colon == NULL || eq == NULL || eq < colon) {
		snprintf(err, errlen,
			 "'%s' is not TABLE:ADDR=VALUE[,VALUE...]", spec);
		return -1;
	}
	nlen = (size_t)(colon - spec);
	alen = (size_t)(eq - colon - 1);
	if (nlen == 0 || nlen >= sizeof(name) || alen == 0 ||
	    alen >= sizeof(addrbuf)) {
		snprintf(err, errlen,
			 "'%s' is not TABLE:ADDR=VALUE[,VALUE...]", spec);
		return -1;
	}
	memcpy(name, spec, nlen);
	name[nlen] = '\0';
	memcpy(addrbuf, colon + 1, alen);
	addrbuf[alen] = '\0';

	for (i = 0; i < sizeof(table_names) / sizeof(table_names[0]); i++) {
		if (strcmp(name, table_names[i].name) == 0) {
			table = table_names[i].table;
			found = true;
			break;
		}
	}
	if (!found) {
		snprintf(err, errlen,
			 "unknown table '%s' (coil, discrete, holding, input)",
			 name);
		return -1;
	}
	switch (table) {
	case REG_COILS: size = (size_t)map->nb_bits; break;
	case REG_DISCRETE: size = (size_t)map->nb_input_bits; break;
	case REG_HOLDING: size = (size_t)map->nb_registers; break;
	case REG_INPUT: default: size = (size_t)map->nb_input_registers; break;
	}
	bits = table == REG_COILS || table == REG_DISCRETE;
	if (parse_uint(addrbuf, 65535, &addr) < 0) {
		snprintf(err, errlen, "bad address '%s' (want 0..65535)",
			 addrbuf);
		return -1;
	}
	n = walk_values(eq + 1, bits, NULL, 0, err, errlen);
	if (n < 0)
		return -1;
	if (addr + (size_t)n > size) {
		snprintf(err, errlen,
			 "'%s' writes %s %lu..%lu but the table has %zu entries (0..%ld); "
			 "enlarge it with --%s",
			 spec, name, addr, addr + (unsigned long)n - 1, size,
			 (long)size - 1,
			 table == REG_COILS ? "coils" :
			 table == REG_DISCRETE ? "discrete" :
			 table == REG_HOLDING ? "holding" : "input");
		return -1;
	}
	vals = calloc((size_t)n, sizeof(*vals));
	if (vals == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	walk_values(eq + 1, bits, vals, (size_t)n, err, errlen);
	for (i = 0; i < (size_t)n; i++) {
		switch (table) {
		case REG_COILS: map->tab_bits[addr + i] = (uint8_t)vals[i]; break;
		case REG_DISCRETE: map->tab_input_bits[addr + i] = (uint8_t)vals[i]; break;
		case REG_HOLDING: map->tab_registers[addr + i] = vals[i]; break;
		case REG_INPUT: map->tab_input_registers[addr + i] = vals[i]; break;
		}
	}
	free(vals);
	return 0;
}

/* Strip leading/trailing white space in place; returns the start. */
static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Load initial values from a text file: one spec per line (the --set
 * syntax), '#' starts a comment, blank lines are skipped.  Every bad
 * line is reported as FILE:LINE before giving up, so one run shows all
 * the mistakes.  Returns 0, or -1 if the file cannot be read or any
 * line is bad.
 */
int regmap_load_file(modbus_mapping_t *map, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *s, *hash;
	size_t cap = 0;
	unsigned long lineno = 0;
	int errors = 0;
	char err[256];

	if (f == NULL) {
		log_warn("cannot open init file %s", path);
		return -1;
	}
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		s = trim(line);
		if (*s == '\0')
			continue;
		if (regmap_set(map, s, err, sizeof(err)) < 0) {
			log_warnx("%s:%lu: %s", path, lineno, err);
			errors++;
		}
	}
	if (ferror(f)) {
		log_warn("error reading init file %s", path);
		errors++;
	}
	free(line);
	fclose(f);
	return errors ? -1 : 0;
}

/*
 * The demo pattern needs input registers 0..3 and discrete input 0;
 * refuse smaller tables rather than silently skipping part of it.
 */
int regmap_demo_check(const struct regmap_sizes *sizes, char *err,
		      size_t errlen)
{
	if (sizes->input < DEMO_IR_MIN || sizes->discrete < DEMO_DI_MIN) {
		snprintf(err, errlen,
			 "--demo needs at least %d input registers and %d discrete input",
			 DEMO_IR_MIN, DEMO_DI_MIN);
		return -1;
	}
	return 0;
}

/*
 * Write the demo values for `seconds` since start:
 *   input 0-1   temperature, float32 ABCD: a triangle wave 20.0..25.0 C,
 *               +0.1 C per second for 50 s, then back down (period 100 s)
 *   input 2-3   counter, uint32 ABCD: seconds since start
 *   discrete 0  heartbeat: seconds & 1
 * Deterministic on purpose: a test can compute what it should read.
 */
void regmap_demo_update(modbus_mapping_t *map, uint32_t seconds)
{
	unsigned int phase = seconds % 100;
	unsigned int tri = phase <= 50 ? phase : 100 - phase;
	float temp = 20.0f + 0.1f * (float)tri;
	uint32_t u;

	memcpy(&u, &temp, sizeof(u));
	map->tab_input_registers[DEMO_IR_TEMP] = (uint16_t)(u >> 16);
	map->tab_input_registers[DEMO_IR_TEMP + 1] = (uint16_t)(u & 0xFFFF);
	map->tab_input_registers[DEMO_IR_COUNTER] = (uint16_t)(seconds >> 16);
	map->tab_input_registers[DEMO_IR_COUNTER + 1] =
		(uint16_t)(seconds & 0xFFFF);
	map->tab_input_bits[DEMO_DI_HEARTBEAT] = (uint8_t)(seconds & 1);
}
