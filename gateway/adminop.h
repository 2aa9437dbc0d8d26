/*
 * adminop: one decided operation (struct zg_op without identity, role,
 * target and assurance) as a line of text, so that `zonegatectl explain'
 * can ask the running daemon what it would decide.  The client builds the
 * operation as offline explain does (the Modbus request is parsed by the
 * modbus core there) and sends it; the daemon decides it against the
 * policy and runtime state in force, without touching either.
 *
 * The text is numbers and length-prefixed strings separated by one space:
 *
 *   modbus UNIT FC SUBFN MEI NSPANS [TABLE ACCESS ADDR QTY]... NVALUES [V]...
 *   mqtt ACTION QOS RETAIN CLIENT TOPIC
 *   http METHOD PATH
 *
 * where a string is LEN:BYTES ("5:hmi-1"; "0:" for none) so that topics
 * and paths may hold spaces.  Numbers are decimal without sign or leading
 * zeros, each within the field's range.
 */
#ifndef ZG_ADMINOP_H
#define ZG_ADMINOP_H

#include <stddef.h>
#include <stdint.h>

#include <zonegate/policy.h>

#define ADMIN_OP_MAX 1024     /* longest text, NUL excluded */
#define ADMIN_OP_VALUES 128   /* register values (FC 16 writes at most 123) */

/* A parsed operation: op's pointers point into values and str. */
struct admin_op {
	struct zg_op op;
	uint16_t values[ADMIN_OP_VALUES];
	char str[ADMIN_OP_MAX + 1];
};

/*
 * Write op as text into buf (NUL-terminated).  Returns 0, or -1 when it
 * does not fit in len or cannot be expressed (unknown protocol, more than
 * ADMIN_OP_VALUES values, NUL in a string).
 */
int admin_op_format(const struct zg_op *op, char *buf, size_t len);

/*
 * Parse text s (s_len bytes, no NUL needed) into out.  Pure and bounded:
 * refuses anything but the grammar above, out-of-range numbers, more than
 * two spans or ADMIN_OP_VALUES values, strings running past the end, and
 * trailing bytes.  Returns 0, or -1 with a reason in err.
 */
int admin_op_parse(const char *s, size_t s_len, struct admin_op *out,
		   char *err, size_t errlen);

#endif /* ZG_ADMINOP_H */
