/*
 * Unit tests of the Modbus PDU layer (plugins/modbus/pdu.c, response.c,
 * describe.c): classification and strict parsing of every supported
 * function code, the spans and values handed to policy, re-origination,
 * response validation, exception responses and one-line descriptions.
 *
 * Most request and response bytes are the examples of the MODBUS
 * Application Protocol Specification v1.1b3.
 */
#include <stdint.h>
#include <string.h>

#include "plugins/modbus/pdu.h"
#include "tests/unit/tap.h"

/* A byte array and its length, as two arguments. */
#define B(...) (const uint8_t[]){ __VA_ARGS__ }, \
	sizeof((const uint8_t[]){ __VA_ARGS__ })

static struct mb_request req;
static struct zg_op op;
static const char *last_why; /* why the last resp() was MALFORMED */

static enum mb_result
parse(const uint8_t *p, size_t n)
{
	memset(&op, 0xa5, sizeof(op));
	op.identity = "plc-7";
	return mb_parse_request(p, n, 1, &req, &op);
}

/* parse, then build: 1 when the rebuilt PDU is byte-identical. */
static int
roundtrip(const uint8_t *p, size_t n)
{
	uint8_t out[MB_PDU_MAX];
	int k;

	parse(p, n);
	k = mb_build_request(&req, out, sizeof(out));
	if (k < 0 || (size_t)k != n || memcmp(out, p, n) != 0) {
		diag("fc %u: rebuilt %d bytes, want %zu", p[0], k, n);
		return 0;
	}
	return 1;
}

static int
span_is(int i, uint8_t table, uint8_t access, uint16_t addr, uint16_t qty)
{
	const struct zg_mb_span *s = &op.u.modbus.spans[i];

	if (s->table == table && s->access == access && s->addr == addr &&
	    s->qty == qty)
		return 1;
	diag("span %d: table %u access %u addr %u qty %u", i, s->table,
	     s->access, s->addr, s->qty);
	return 0;
}

/* Parse req_pdu (must be valid) and check resp against it. */
static enum mb_resp
resp(const uint8_t *q, size_t qn, const uint8_t *r, size_t rn)
{
	struct mb_request rq;
	if (mb_parse_request(q, qn, 1, &rq, NULL) != MB_OK &&
	    !rq.opaque) {
		diag("request fc %u does not parse", q[0]);
		return (enum mb_resp)-1;
	}
	last_why = NULL;
	return mb_check_response(&rq, r, rn, &last_why);
}

static void
test_reads(void)
{
	static const struct {
		uint8_t fc, table;
	} t[] = { { 1, ZG_MB_COILS }, { 2, ZG_MB_DISCRETE },
		  { 3, ZG_MB_HOLDING }, { 4, ZG_MB_INPUT } };
	size_t i, bad = 0;

	ok(parse(B(0x03, 0x00, 0x6b, 0x00, 0x03)) == MB_OK &&
		   req.fc == 3 && req.addr == 0x6b && req.qty == 3 &&
		   req.unit == 1,
	   "FC3 read holding 107 x 3: MB_OK, fields decoded");
	ok(op.proto == ZG_PROTO_MODBUS && op.u.modbus.unit == 1 &&
		   op.u.modbus.fc == 3 && op.u.modbus.nspans == 1 &&
		   span_is(0, ZG_MB_HOLDING, ZG_MB_READ, 107, 3) &&
		   op.u.modbus.values == NULL && op.u.modbus.nvalues == 0,
	   "FC3: one READ span of holding 107 x 3, no values");
	ok(strcmp(op.identity, "plc-7") == 0,
	   "the classifier leaves the caller's identity alone");
	for (i = 0; i < 4; i++) {
		const uint8_t p[] = { t[i].fc, 0x00, 0x13, 0x00, 0x25 };

		if (parse(p, sizeof(p)) != MB_OK ||
		    !span_is(0, t[i].table, ZG_MB_READ, 19, 37))
			bad++;
	}
	ok(bad == 0, "FC1..4 map to coils, discrete, holding, input READ spans");

	ok(parse(B(0x01, 0x00, 0x00, 0x07, 0xd0)) == MB_OK,
	   "FC1 quantity 2000: OK");
	ok(parse(B(0x01, 0x00, 0x00, 0x07, 0xd1)) == MB_ILLEGAL_DATA_VALUE &&
		   op.u.modbus.fc == 1 && op.u.modbus.nspans == 0,
	   "FC1 quantity 2001: ILLEGAL_DATA_VALUE, fc reported, no span");
	ok(parse(B(0x02, 0x00, 0x00, 0x00, 0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "FC2 quantity 0: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x04, 0x00, 0x00, 0x00, 0x7d)) == MB_OK,
	   "FC4 quantity 125: OK");
	ok(parse(B(0x03, 0x00, 0x00, 0x00, 0x7e)) == MB_ILLEGAL_DATA_VALUE &&
		   strcmp(req.why, "quantity outside 1..125") == 0,
	   "FC3 quantity 126: ILLEGAL_DATA_VALUE (%s)", req.why);
	ok(parse(B(0x03, 0x00, 0x00, 0x00, 0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "FC3 quantity 0: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x03, 0xff, 0xff, 0x00, 0x01)) == MB_OK &&
		   span_is(0, ZG_MB_HOLDING, ZG_MB_READ, 0xffff, 1),
	   "FC3 address 65535 x 1: OK (last address)");
	ok(parse(B(0x03, 0xff, 0xff, 0x00, 0x02)) == MB_ILLEGAL_DATA_ADDRESS &&
		   op.u.modbus.nspans == 0,
	   "FC3 address 65535 x 2: ILLEGAL_DATA_ADDRESS, no span");
	ok(parse(B(0x01, 0xf8, 0x30, 0x07, 0xd0)) == MB_OK &&
		   parse(B(0x01, 0xf8, 0x31, 0x07, 0xd0)) ==
			   MB_ILLEGAL_DATA_ADDRESS,
	   "FC1 63536 x 2000 ends at 65535: OK; 63537 x 2000: address error");
	ok(parse(B(0x03, 0xff, 0xff, 0x00, 0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "quantity is checked before the address (0 at 65535: value error)");
	ok(parse(B(0x03, 0x00, 0x6b, 0x00)) == MB_ILLEGAL_DATA_VALUE &&
		   parse(B(0x03, 0x00, 0x6b, 0x00, 0x03, 0x00)) ==
			   MB_ILLEGAL_DATA_VALUE &&
		   op.u.modbus.fc == 3,
	   "FC3 PDU of 4 or 6 bytes: ILLEGAL_DATA_VALUE with fc 3");
}

static void
test_single_writes(void)
{
	ok(parse(B(0x05, 0x00, 0xac, 0xff, 0x00)) == MB_OK &&
		   req.value == 0xff00 && op.u.modbus.nspans == 1 &&
		   span_is(0, ZG_MB_COILS, ZG_MB_WRITE, 172, 1) &&
		   op.u.modbus.values == NULL,
	   "FC5 coil 172 ON: WRITE span of one coil, no register values");
	ok(parse(B(0x05, 0x00, 0xac, 0x00, 0x00)) == MB_OK,
	   "FC5 value 0x0000: OK");
	ok(parse(B(0x05, 0x00, 0xac, 0x12, 0x34)) == MB_ILLEGAL_DATA_VALUE &&
		   parse(B(0x05, 0x00, 0xac, 0x00, 0xff)) ==
			   MB_ILLEGAL_DATA_VALUE,
	   "FC5 values 0x1234 and 0x00FF: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x06, 0x00, 0x01, 0x00, 0x03)) == MB_OK &&
		   span_is(0, ZG_MB_HOLDING, ZG_MB_WRITE, 1, 1) &&
		   op.u.modbus.nvalues == 1 && op.u.modbus.values == req.regs &&
		   op.u.modbus.values[0] == 3,
	   "FC6 register 1 = 3: WRITE span, values[0] = 3 in req.regs");
	ok(parse(B(0x06, 0x00, 0x01, 0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "FC6 of 4 bytes: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x16, 0x00, 0x04, 0x00, 0xf2, 0x00, 0x25)) == MB_OK &&
		   req.and_mask == 0x00f2 && req.or_mask == 0x0025 &&
		   op.u.modbus.nspans == 1 &&
		   span_is(0, ZG_MB_HOLDING, ZG_MB_WRITE, 4, 1),
	   "FC22 mask write 4: WRITE of one holding register, masks decoded");
	ok(parse(B(0x16, 0x00, 0x04, 0x00, 0xf2, 0x00)) ==
		   MB_ILLEGAL_DATA_VALUE,
	   "FC22 of 6 bytes: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x18, 0x04, 0xde)) == MB_OK && op.u.modbus.nspans == 1 &&
		   span_is(0, ZG_MB_HOLDING, ZG_MB_READ, 0x04de, 32),
	   "FC24 read FIFO 1246: READ of the 32 registers the answer may carry");
	ok(parse(B(0x18, 0xff, 0xf0)) == MB_OK && op.u.modbus.nspans == 1 &&
		   span_is(0, ZG_MB_HOLDING, ZG_MB_READ, 0xfff0, 16),
	   "FC24 near the top of the table: span clipped at 65535");
	ok(parse(B(0x18, 0x04, 0xde, 0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "FC24 of 4 bytes: ILLEGAL_DATA_VALUE");
}

static void
test_multiple_writes(void)
{
	uint8_t big[MB_PDU_MAX];

	ok(parse(B(0x0f, 0x00, 0x13, 0x00, 0x0a, 0x02, 0xcd, 0x01)) == MB_OK &&
		   req.qty == 10 && req.ndata == 2 && req.data[0] == 0xcd &&
		   req.data[1] == 0x01 &&
		   span_is(0, ZG_MB_COILS, ZG_MB_WRITE, 19, 10) &&
		   op.u.modbus.values == NULL,
	   "FC15 coils 19 x 10: WRITE span, packed data kept");
	ok(parse(B(0x0f, 0x00, 0x13, 0x00, 0x0a, 0x03, 0xcd, 0x01, 0x00)) ==
		   MB_ILLEGAL_DATA_VALUE &&
		   strcmp(req.why, "byte count is not ceil(quantity / 8)") == 0,
	   "FC15 byte count 3 for 10 coils: ILLEGAL_DATA_VALUE (%s)", req.why);
	ok(parse(B(0x0f, 0x00, 0x13, 0x00, 0x0a, 0x02, 0xcd, 0x01, 0x00)) ==
		   MB_ILLEGAL_DATA_VALUE,
	   "FC15 one byte more than its byte count: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x0f, 0x00, 0x13, 0x00, 0x00, 0x00)) ==
		   MB_ILLEGAL_DATA_VALUE,
	   "FC15 quantity 0: ILLEGAL_DATA_VALUE");
	memset(big, 0x55, sizeof(big));
	big[0] = 0x0f;
	big[1] = 0;
	big[2] = 0;
	big[3] = 0x07;
	big[4] = 0xb0; /* 1968 */
	big[5] = 246;
	ok(mb_parse_request(big, 6 + 246, 1, &req, &op) == MB_OK,
	   "FC15 quantity 1968 (246 bytes): OK");
	big[4] = 0xb1; /* 1969 */
	big[5] = 247;
	ok(mb_parse_request(big, 6 + 247, 1, &req, &op) ==
		   MB_ILLEGAL_DATA_VALUE &&
		   strcmp(req.why, "quantity outside 1..1968") == 0,
	   "FC15 quantity 1969 (247 bytes): ILLEGAL_DATA_VALUE");
	ok(parse(B(0x0f, 0xff, 0xff, 0x00, 0x02, 0x01, 0x03)) ==
		   MB_ILLEGAL_DATA_ADDRESS,
	   "FC15 65535 x 2: ILLEGAL_DATA_ADDRESS");

	ok(parse(B(0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0a, 0x01,
		   0x02)) == MB_OK &&
		   span_is(0, ZG_MB_HOLDING, ZG_MB_WRITE, 1, 2) &&
		   op.u.modbus.nvalues == 2 && op.u.modbus.values == req.regs &&
		   req.regs[0] == 0x000a && req.regs[1] == 0x0102,
	   "FC16 registers 1 x 2: WRITE span, values 0x000a 0x0102");
	ok(parse(B(0x10, 0x00, 0x01, 0x00, 0x02, 0x03, 0x00, 0x0a, 0x01)) ==
		   MB_ILLEGAL_DATA_VALUE &&
		   op.u.modbus.fc == 16 && op.u.modbus.nspans == 0,
	   "FC16 byte count 3 for 2 registers: ILLEGAL_DATA_VALUE, fc 16");
	ok(parse(B(0x10, 0x00, 0x01, 0x00, 0x02, 0x06, 0x00, 0x0a, 0x01, 0x02,
		   0x00, 0x00)) == MB_ILLEGAL_DATA_VALUE &&
		   strcmp(req.why, "byte count is not 2 x quantity") == 0,
	   "FC16 byte count 6 for 2 registers: ILLEGAL_DATA_VALUE (%s)",
	   req.why);
	ok(parse(B(0x10, 0x00, 0x01, 0x00, 0x00, 0x00)) ==
		   MB_ILLEGAL_DATA_VALUE,
	   "FC16 quantity 0: ILLEGAL_DATA_VALUE");
	memset(big, 0, sizeof(big));
	big[0] = 0x10;
	big[4] = 123;
	big[5] = 246;
	ok(mb_parse_request(big, 6 + 246, 1, &req, &op) == MB_OK &&
		   op.u.modbus.nvalues == 123,
	   "FC16 quantity 123: OK, 123 values");
	big[4] = 124;
	big[5] = 246;
	ok(mb_parse_request(big, 6 + 246, 1, &req, &op) ==
		   MB_ILLEGAL_DATA_VALUE &&
		   strcmp(req.why, "quantity outside 1..123") == 0,
	   "FC16 quantity 124: ILLEGAL_DATA_VALUE (%s)", req.why);
	ok(parse(B(0x10, 0xff, 0xfe, 0x00, 0x03, 0x06, 0, 1, 0, 2, 0, 3)) ==
		   MB_ILLEGAL_DATA_ADDRESS,
	   "FC16 65534 x 3: ILLEGAL_DATA_ADDRESS");
}

static void
test_read_write(void)
{
	uint8_t big[MB_PDU_MAX];

	ok(parse(B(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0e, 0x00, 0x03, 0x06,
		   0x00, 0xff, 0x00, 0xff, 0x00, 0xff)) == MB_OK &&
		   op.u.modbus.nspans == 2,
	   "FC23 read 3 x 6, write 14 x 3: MB_OK, two spans");
	ok(span_is(0, ZG_MB_HOLDING, ZG_MB_READ, 3, 6) &&
		   span_is(1, ZG_MB_HOLDING, ZG_MB_WRITE, 14, 3),
	   "FC23 spans: READ holding 3 x 6 and WRITE holding 14 x 3");
	ok(op.u.modbus.nvalues == 3 && op.u.modbus.values == req.regs &&
		   req.regs[0] == 0xff && req.regs[1] == 0xff &&
		   req.regs[2] == 0xff,
	   "FC23 values: the 3 written registers");
	ok(parse(B(0x17, 0x00, 0x03, 0x00, 0x7e, 0x00, 0x0e, 0x00, 0x01, 0x02,
		   0x00, 0xff)) == MB_ILLEGAL_DATA_VALUE &&
		   strcmp(req.why, "read quantity outside 1..125") == 0,
	   "FC23 read quantity 126: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x17, 0x00, 0x03, 0x00, 0x01, 0x00, 0x0e, 0x00, 0x7a, 0x02,
		   0x00, 0xff)) == MB_ILLEGAL_DATA_VALUE &&
		   strcmp(req.why, "write quantity outside 1..121") == 0,
	   "FC23 write quantity 122: ILLEGAL_DATA_VALUE");
	memset(big, 0, sizeof(big));
	big[0] = 0x17;
	big[4] = 125;
	big[8] = 121;
	big[9] = 242;
	ok(mb_parse_request(big, 10 + 242, 1, &req, &op) == MB_OK,
	   "FC23 read 125, write 121 (252-byte PDU): OK");
	ok(parse(B(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0e, 0x00, 0x03, 0x04,
		   0x00, 0xff, 0x00, 0xff)) == MB_ILLEGAL_DATA_VALUE,
	   "FC23 byte count 4 for 3 registers: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x17, 0xff, 0xff, 0x00, 0x02, 0x00, 0x0e, 0x00, 0x01, 0x02,
		   0x00, 0xff)) == MB_ILLEGAL_DATA_ADDRESS &&
		   strcmp(req.why, "read address + quantity beyond 65536") == 0,
	   "FC23 read 65535 x 2: ILLEGAL_DATA_ADDRESS");
	ok(parse(B(0x17, 0x00, 0x00, 0x00, 0x02, 0xff, 0xff, 0x00, 0x02, 0x04,
		   0x00, 0xff, 0x00, 0xff)) == MB_ILLEGAL_DATA_ADDRESS &&
		   strcmp(req.why, "write address + quantity beyond 65536") == 0,
	   "FC23 write 65535 x 2: ILLEGAL_DATA_ADDRESS");
}

static void
test_diagnostics_and_misc(void)
{
	static const uint8_t noarg[] = { 7, 11, 12, 17 };
	size_t i, bad = 0;

	for (i = 0; i < sizeof(noarg); i++) {
		uint8_t p[2] = { noarg[i], 0 };

		if (parse(p, 1) != MB_OK || op.u.modbus.nspans != 0 ||
		    parse(p, 2) != MB_ILLEGAL_DATA_VALUE)
			bad++;
	}
	ok(bad == 0, "FC7, 11, 12, 17: 1 byte OK (no span), 2 bytes refused");

	ok(parse(B(0x08, 0x00, 0x04, 0x00, 0x00)) == MB_OK &&
		   req.subfn == 4 && op.u.modbus.subfn == 4 &&
		   op.u.modbus.fc == 8 && op.u.modbus.nspans == 0,
	   "FC8 sub-function 4 (force listen only): MB_OK, subfn 4 for policy");
	ok(parse(B(0x08, 0x00, 0x04, 0x00, 0x01)) == MB_ILLEGAL_DATA_VALUE,
	   "FC8/4 data 0x0001: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x08, 0x00, 0x04)) == MB_ILLEGAL_DATA_VALUE &&
		   parse(B(0x08, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00)) ==
			   MB_ILLEGAL_DATA_VALUE,
	   "FC8/4 without data or with 4 data bytes: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x08, 0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "FC8 without a whole sub-function: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x08, 0x00, 0x00, 0xa5, 0x37, 0x12, 0x34)) == MB_OK &&
		   req.ndata == 4 && req.data[0] == 0xa5 && req.data[3] == 0x34,
	   "FC8/0 return query data (4 bytes): OK, data kept");
	ok(parse(B(0x08, 0x00, 0x00, 0xa5, 0x37, 0x12)) ==
		   MB_ILLEGAL_DATA_VALUE &&
		   parse(B(0x08, 0x00, 0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "FC8/0 with 3 or 0 data bytes: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x08, 0x00, 0x01, 0xff, 0x00)) == MB_OK &&
		   parse(B(0x08, 0x00, 0x01, 0x12, 0x34)) ==
			   MB_ILLEGAL_DATA_VALUE,
	   "FC8/1 restart 0xFF00: OK; 0x1234: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x08, 0x00, 0x03, 0x3a, 0x00)) == MB_OK &&
		   parse(B(0x08, 0x00, 0x03, 0x3a, 0x01)) ==
			   MB_ILLEGAL_DATA_VALUE,
	   "FC8/3 delimiter ':' 00: OK; low byte 01: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x08, 0x00, 0x05, 0x00, 0x00)) == MB_ILLEGAL_FUNCTION &&
		   req.opaque && op.u.modbus.fc == 8 &&
		   op.u.modbus.subfn == 5 && op.u.modbus.nspans == 0,
	   "FC8/5 (reserved): ILLEGAL_FUNCTION, subfn 5 reported");
	ok(parse(B(0x08, 0x00, 0x15, 0x00, 0x03)) == MB_ILLEGAL_FUNCTION &&
		   op.u.modbus.subfn == 0x15,
	   "FC8/0x15 (reserved in v1.1b3): ILLEGAL_FUNCTION");

	ok(parse(B(0x2b, 0x0e, 0x01, 0x00)) == MB_OK && req.mei == 14 &&
		   req.devid_code == 1 && req.object_id == 0 &&
		   op.u.modbus.mei == 14 && op.u.modbus.fc == 43 &&
		   op.u.modbus.nspans == 0,
	   "FC43/14 read device id basic: MB_OK, mei 14 for policy");
	ok(parse(B(0x2b, 0x0e, 0x00, 0x00)) == MB_ILLEGAL_DATA_VALUE &&
		   parse(B(0x2b, 0x0e, 0x05, 0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "FC43/14 read device id code 0 and 5: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x2b, 0x0e, 0x01)) == MB_ILLEGAL_DATA_VALUE &&
		   parse(B(0x2b, 0x0e, 0x01, 0x00, 0x00)) ==
			   MB_ILLEGAL_DATA_VALUE,
	   "FC43/14 of 3 or 5 bytes: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x2b, 0x0d, 0x00, 0x01, 0x02, 0x03)) == MB_OK &&
		   op.u.modbus.mei == 13 && req.ndata == 4 &&
		   req.data[3] == 0x03 && op.u.modbus.nspans == 0,
	   "FC43/13 CANopen: MB_OK, mei 13 for policy, data kept");
	ok(parse(B(0x2b)) == MB_ILLEGAL_DATA_VALUE,
	   "FC43 without a MEI type: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x2b, 0x07, 0x01)) == MB_ILLEGAL_FUNCTION && req.opaque &&
		   op.u.modbus.mei == 7,
	   "FC43/7 (reserved MEI type): ILLEGAL_FUNCTION, mei 7 reported");
}

static void
test_files(void)
{
	ok(parse(B(0x14, 0x0e, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x06,
		   0x00, 0x03, 0x00, 0x09, 0x00, 0x02)) == MB_OK &&
		   req.nfile == 2 && req.file[0].file == 4 &&
		   req.file[0].record == 1 && req.file[0].len == 2 &&
		   req.file[1].file == 3 && req.file[1].record == 9 &&
		   op.u.modbus.nspans == 0,
	   "FC20 two sub-requests (spec example): MB_OK, refs decoded");
	ok(parse(B(0x14, 0x08, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02,
		   0x00)) == MB_ILLEGAL_DATA_VALUE,
	   "FC20 byte count 8: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x14, 0x07, 0x05, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02)) ==
		   MB_ILLEGAL_DATA_VALUE,
	   "FC20 reference type 5: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x14, 0x07, 0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02)) ==
		   MB_ILLEGAL_DATA_ADDRESS,
	   "FC20 file 0: ILLEGAL_DATA_ADDRESS");
	ok(parse(B(0x14, 0x07, 0x06, 0x00, 0x01, 0x27, 0x0f, 0x00, 0x01)) ==
		   MB_OK &&
		   parse(B(0x14, 0x07, 0x06, 0x00, 0x01, 0x27, 0x0f, 0x00,
			   0x02)) == MB_ILLEGAL_DATA_ADDRESS,
	   "FC20 record 9999 x 1: OK; 9999 x 2: ILLEGAL_DATA_ADDRESS");
	ok(parse(B(0x14, 0x07, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7c)) ==
		   MB_OK &&
		   parse(B(0x14, 0x07, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00,
			   0x7d)) == MB_ILLEGAL_DATA_VALUE,
	   "FC20 124 registers fit a response, 125 do not");
	ok(parse(B(0x15, 0x0d, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03, 0x06,
		   0xaf, 0x04, 0xbe, 0x10, 0x0d)) == MB_OK &&
		   req.nfile == 1 && req.file[0].file == 4 &&
		   req.file[0].record == 7 && req.file[0].len == 3 &&
		   req.nregs == 3 && req.regs[0] == 0x06af &&
		   req.regs[2] == 0x100d && op.u.modbus.values == NULL,
	   "FC21 write file 4 record 7 x 3 (spec example): MB_OK");
	ok(parse(B(0x15, 0x0d, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x04, 0x06,
		   0xaf, 0x04, 0xbe, 0x10, 0x0d)) == MB_ILLEGAL_DATA_VALUE,
	   "FC21 record length 4 with 3 registers of data: ILLEGAL_DATA_VALUE");
	ok(parse(B(0x15, 0x09, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x00, 0x06,
		   0xaf)) == MB_ILLEGAL_DATA_VALUE,
	   "FC21 record length 0: ILLEGAL_DATA_VALUE");
}

static void
test_unknown(void)
{
	uint8_t big[MB_PDU_MAX + 1];
	uint8_t out[MB_PDU_MAX];

	ok(parse(B(0x5a, 0x00, 0x02, 0x10)) == MB_ILLEGAL_FUNCTION &&
		   req.fc == 90 && op.u.modbus.fc == 90 &&
		   op.proto == ZG_PROTO_MODBUS && op.u.modbus.nspans == 0 &&
		   req.opaque && req.ndata == 3,
	   "FC90 (UMAS): ILLEGAL_FUNCTION, fc 90 reported to policy");
	ok(parse(B(0x5a)) == MB_ILLEGAL_FUNCTION,
	   "FC90 alone: still ILLEGAL_FUNCTION (classified before any length rule)");
	ok(parse(B(0x83, 0x02)) == MB_ILLEGAL_FUNCTION && req.fc == 0x83 &&
		   mb_build_request(&req, out, sizeof(out)) == -1,
	   "FC 0x83 in a request: ILLEGAL_FUNCTION, never re-originated");
	ok(parse(B(0x00)) == MB_ILLEGAL_FUNCTION &&
		   mb_build_request(&req, out, sizeof(out)) == -1,
	   "FC 0: ILLEGAL_FUNCTION, never re-originated");
	ok(mb_parse_request(NULL, 0, 1, &req, &op) == MB_ILLEGAL_DATA_VALUE &&
		   op.u.modbus.fc == 0,
	   "empty PDU: ILLEGAL_DATA_VALUE");
	memset(big, 0, sizeof(big));
	big[0] = 0x5a;
	ok(mb_parse_request(big, sizeof(big), 1, &req, &op) ==
		   MB_ILLEGAL_DATA_VALUE && req.fc == 90,
	   "254-byte PDU: ILLEGAL_DATA_VALUE, fc still reported");
	ok(mb_parse_request(big, MB_PDU_MAX, 1, &req, NULL) ==
		   MB_ILLEGAL_FUNCTION && req.ndata == 252,
	   "253-byte unknown PDU: ILLEGAL_FUNCTION, 252 bytes kept; op may be NULL");
}

/* Valid requests rebuild byte for byte from their parsed fields. */
static void
test_roundtrip(void)
{
	static const uint8_t reqs[][20] = {
		{ 5, 0x01, 0x00, 0x13, 0x00, 0x13 },
		{ 5, 0x02, 0x00, 0xc4, 0x00, 0x16 },
		{ 5, 0x03, 0x00, 0x6b, 0x00, 0x03 },
		{ 5, 0x04, 0x00, 0x08, 0x00, 0x01 },
		{ 5, 0x05, 0x00, 0xac, 0xff, 0x00 },
		{ 5, 0x06, 0x00, 0x01, 0x00, 0x03 },
		{ 1, 0x07 },
		{ 5, 0x08, 0x00, 0x04, 0x00, 0x00 },
		{ 7, 0x08, 0x00, 0x00, 0xa5, 0x37, 0x12, 0x34 },
		{ 5, 0x08, 0x00, 0x05, 0x12, 0x34 },
		{ 1, 0x0b },
		{ 1, 0x0c },
		{ 8, 0x0f, 0x00, 0x13, 0x00, 0x0a, 0x02, 0xcd, 0x01 },
		{ 10, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0a, 0x01,
		  0x02 },
		{ 1, 0x11 },
		{ 16, 0x14, 0x0e, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02,
		  0x06, 0x00, 0x03, 0x00, 0x09, 0x00, 0x02 },
		{ 15, 0x15, 0x0d, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03,
		  0x06, 0xaf, 0x04, 0xbe, 0x10, 0x0d },
		{ 7, 0x16, 0x00, 0x04, 0x00, 0xf2, 0x00, 0x25 },
		{ 16, 0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0e, 0x00, 0x03,
		  0x06, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff },
		{ 3, 0x18, 0x04, 0xde },
		{ 4, 0x2b, 0x0e, 0x04, 0x05 },
		{ 6, 0x2b, 0x0d, 0x00, 0x01, 0x02, 0x03 },
		{ 3, 0x2b, 0x07, 0x01 },
		{ 4, 0x5a, 0x00, 0x02, 0x10 },
		{ 1, 0x41 },
	};
	static const uint8_t two_files[] = { 0x15, 0x14, 0x06, 0x00, 0x04, 0x00,
		0x07, 0x00, 0x01, 0x06, 0xaf, 0x06, 0x00, 0x05, 0x00, 0x02,
		0x00, 0x02, 0x12, 0x34, 0x56, 0x78 };
	uint8_t out[MB_PDU_MAX];
	size_t i, bad = 0;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (!roundtrip(reqs[i] + 1, reqs[i][0]))
			bad++;
	ok(bad == 0, "parse -> build is byte-identical for %zu requests",
	   sizeof(reqs) / sizeof(reqs[0]));
	ok(roundtrip(two_files, sizeof(two_files)) && req.nfile == 2 &&
		   req.nregs == 3 && req.regs[1] == 0x1234,
	   "FC21 with two sub-requests round-trips");
	ok(parse(B(0x0f, 0x00, 0x13, 0x00, 0x0a, 0x02, 0xcd, 0xff)) == MB_OK &&
		   req.data[1] == 0x03,
	   "FC15 unused bits set by the client are cleared when parsed");
	ok(mb_build_request(&req, out, sizeof(out)) == 8 && out[6] == 0xcd &&
		   out[7] == 0x03,
	   "FC15 unused bits are rebuilt as 0 (0xff -> 0x03)");
}

static void
test_build(void)
{
	struct mb_request r;
	uint8_t out[MB_PDU_MAX];

	memset(&r, 0, sizeof(r));
	r.fc = 3;
	r.addr = 10;
	r.qty = 5;
	ok(mb_build_request(&r, out, sizeof(out)) == 5 && out[0] == 3 &&
		   out[1] == 0 && out[2] == 10 && out[3] == 0 && out[4] == 5,
	   "hand-built FC3 10 x 5 -> 03 00 0a 00 05");
	ok(mb_build_request(&r, out, 4) == -1 &&
		   mb_build_request(&r, out, 5) == 5,
	   "build refuses a 4-byte output, fits 5");
	r.qty = 0;
	ok(mb_build_request(&r, out, sizeof(out)) == -1,
	   "build refuses quantity 0");
	r.qty = 126;
	ok(mb_build_request(&r, out, sizeof(out)) == -1,
	   "build refuses FC3 quantity 126");
	r.qty = 5;
	r.opaque = true;
	r.result = MB_ILLEGAL_FUNCTION;
	ok(mb_build_request(&r, out, sizeof(out)) == -1,
	   "build refuses a known code marked opaque (no smuggling)");
	memset(&r, 0, sizeof(r));
	r.fc = 16;
	r.addr = 1;
	r.qty = 2;
	r.nregs = 1;
	ok(mb_build_request(&r, out, sizeof(out)) == -1,
	   "build refuses FC16 whose values do not match its quantity");
	memset(&r, 0, sizeof(r));
	r.fc = 8;
	r.subfn = 9;
	ok(mb_build_request(&r, out, sizeof(out)) == -1,
	   "build refuses a reserved FC8 sub-function not marked opaque");
	r.subfn = 4;
	r.opaque = true;
	r.result = MB_ILLEGAL_FUNCTION;
	ok(mb_build_request(&r, out, sizeof(out)) == -1,
	   "build refuses FC8/4 marked opaque (its data must be validated)");
	memset(&r, 0, sizeof(r));
	r.fc = 15;
	r.addr = 19;
	r.qty = 10;
	r.ndata = 2;
	r.data[0] = 0xcd;
	r.data[1] = 0xff;
	ok(mb_build_request(&r, out, sizeof(out)) == 8 && out[5] == 2 &&
		   out[6] == 0xcd && out[7] == 0x03,
	   "hand-built FC15 with unused bits set: written as 0");
	ok(parse(B(0x10, 0x00, 0x01, 0x00, 0x02, 0x03, 0x00, 0x0a, 0x01)) ==
		   MB_ILLEGAL_DATA_VALUE &&
		   mb_build_request(&req, out, sizeof(out)) == -1,
	   "build refuses a request that did not parse");

	ok(mb_build_exception(3, 2, out) == 2 && out[0] == 0x83 &&
		   out[1] == 0x02,
	   "exception FC3 code 2 -> 83 02");
	ok(mb_build_exception(90, MB_EX_ILLEGAL_FUNCTION, out) == 2 &&
		   out[0] == 0xda && out[1] == 0x01,
	   "exception FC90 code 1 -> da 01");
	out[0] = 0;
	ok(mb_build_exception(3, 7, out) == -1 &&
		   mb_build_exception(3, 0, out) == -1 &&
		   mb_build_exception(3, 12, out) == -1 && out[0] == 0,
	   "exception codes 0, 7, 12 refused, nothing written");
}

static void
test_responses(void)
{
	static const uint8_t codes[] = { 1, 2, 3, 4, 5, 6, 8, 10, 11 };
	static const uint8_t fc3[] = { 0x03, 0x00, 0x6b, 0x00, 0x03 };
	struct mb_request r;
	const char *why = NULL;
	size_t i, bad = 0;

	/* FC 1/2: ceil(q / 8) bytes */
	ok(resp(B(0x01, 0x00, 0x13, 0x00, 0x13),
		B(0x01, 0x03, 0xcd, 0x6b, 0x05)) == MB_RESP_OK,
	   "FC1 19 coils, 3 data bytes: OK");
	ok(resp(B(0x01, 0x00, 0x13, 0x00, 0x13),
		B(0x01, 0x02, 0xcd, 0x6b)) == MB_RESP_MALFORMED &&
		   strcmp(last_why,
			  "byte count does not match the requested quantity") == 0,
	   "FC1 19 coils, byte count 2: MALFORMED (%s)",
	   last_why != NULL ? last_why : "-");
	ok(resp(B(0x02, 0x00, 0x00, 0x00, 0x08), B(0x02, 0x01, 0xff)) ==
		   MB_RESP_OK &&
		   resp(B(0x02, 0x00, 0x00, 0x00, 0x09),
			B(0x02, 0x01, 0xff)) == MB_RESP_MALFORMED,
	   "FC2: 8 inputs in 1 byte OK, 9 inputs in 1 byte MALFORMED");
	/* FC 3/4: 2q bytes */
	ok(resp(fc3, sizeof(fc3),
		B(0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64)) == MB_RESP_OK,
	   "FC3 3 registers, byte count 6: OK");
	ok(resp(fc3, sizeof(fc3), B(0x03, 0x04, 0x02, 0x2b, 0x00, 0x00)) ==
		   MB_RESP_MALFORMED,
	   "FC3 3 registers, byte count 4: MALFORMED");
	ok(resp(fc3, sizeof(fc3),
		B(0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00)) ==
		   MB_RESP_MALFORMED,
	   "FC3 byte count 6 with 5 data bytes: MALFORMED");
	ok(resp(fc3, sizeof(fc3),
		B(0x04, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64)) ==
		   MB_RESP_MALFORMED,
	   "FC3 answered with FC4: MALFORMED");
	ok(resp(B(0x04, 0x00, 0x08, 0x00, 0x01), B(0x04, 0x02, 0x00, 0x0a)) ==
		   MB_RESP_OK,
	   "FC4 1 register: OK");

	/* exceptions */
	for (i = 0; i < sizeof(codes); i++) {
		const uint8_t e[] = { 0x83, codes[i] };

		if (resp(fc3, sizeof(fc3), e, 2) != MB_RESP_EXCEPTION)
			bad++;
	}
	ok(bad == 0, "exception codes 1 2 3 4 5 6 8 10 11: EXCEPTION");
	ok(resp(fc3, sizeof(fc3), B(0x83, 0x07)) == MB_RESP_MALFORMED &&
		   resp(fc3, sizeof(fc3), B(0x83, 0x00)) == MB_RESP_MALFORMED &&
		   resp(fc3, sizeof(fc3), B(0x83, 0x0c)) == MB_RESP_MALFORMED,
	   "exception codes 7, 0, 12: MALFORMED");
	ok(resp(fc3, sizeof(fc3), B(0x83, 0x02, 0x00)) == MB_RESP_MALFORMED &&
		   resp(fc3, sizeof(fc3), B(0x83)) == MB_RESP_MALFORMED,
	   "exception of 3 or 1 bytes: MALFORMED");
	ok(resp(fc3, sizeof(fc3), B(0x84, 0x02)) == MB_RESP_MALFORMED &&
		   strcmp(last_why, "function code differs from the request") == 0,
	   "exception for another function code: MALFORMED (%s)",
	   last_why != NULL ? last_why : "-");
	ok(resp(fc3, sizeof(fc3), NULL, 0) == MB_RESP_MALFORMED,
	   "empty response: MALFORMED");

	/* echoes */
	ok(resp(B(0x05, 0x00, 0xac, 0xff, 0x00),
		B(0x05, 0x00, 0xac, 0xff, 0x00)) == MB_RESP_OK,
	   "FC5 exact echo: OK");
	ok(resp(B(0x05, 0x00, 0xac, 0xff, 0x00),
		B(0x05, 0x00, 0xac, 0x00, 0x00)) == MB_RESP_MALFORMED &&
		   resp(B(0x05, 0x00, 0xac, 0xff, 0x00),
			B(0x05, 0x00, 0xad, 0xff, 0x00)) == MB_RESP_MALFORMED,
	   "FC5 echo with another value or address: MALFORMED");
	ok(resp(B(0x06, 0x00, 0x01, 0x00, 0x03),
		B(0x06, 0x00, 0x01, 0x00, 0x03)) == MB_RESP_OK &&
		   resp(B(0x06, 0x00, 0x01, 0x00, 0x03),
			B(0x06, 0x00, 0x01, 0x00, 0x04)) == MB_RESP_MALFORMED,
	   "FC6 echo: same OK, other value MALFORMED");
	ok(resp(B(0x0f, 0x00, 0x13, 0x00, 0x0a, 0x02, 0xcd, 0x01),
		B(0x0f, 0x00, 0x13, 0x00, 0x0a)) == MB_RESP_OK,
	   "FC15 address + quantity echoed: OK");
	ok(resp(B(0x0f, 0x00, 0x13, 0x00, 0x0a, 0x02, 0xcd, 0x01),
		B(0x0f, 0x00, 0x13, 0x00, 0x09)) == MB_RESP_MALFORMED &&
		   resp(B(0x0f, 0x00, 0x13, 0x00, 0x0a, 0x02, 0xcd, 0x01),
			B(0x0f, 0x00, 0x13, 0x00, 0x0a, 0x00)) ==
			   MB_RESP_MALFORMED,
	   "FC15 other quantity, or one byte more: MALFORMED");
	ok(resp(B(0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0a, 0x01, 0x02),
		B(0x10, 0x00, 0x01, 0x00, 0x02)) == MB_RESP_OK &&
		   resp(B(0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0a, 0x01,
			  0x02),
			B(0x10, 0x00, 0x02, 0x00, 0x02)) == MB_RESP_MALFORMED,
	   "FC16 echo: same OK, other address MALFORMED");
	ok(resp(B(0x16, 0x00, 0x04, 0x00, 0xf2, 0x00, 0x25),
		B(0x16, 0x00, 0x04, 0x00, 0xf2, 0x00, 0x25)) == MB_RESP_OK &&
		   resp(B(0x16, 0x00, 0x04, 0x00, 0xf2, 0x00, 0x25),
			B(0x16, 0x00, 0x04, 0x00, 0xf2, 0x00, 0x26)) ==
			   MB_RESP_MALFORMED,
	   "FC22 echo: same OK, other OR mask MALFORMED");
	ok(resp(B(0x15, 0x0d, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03, 0x06,
		  0xaf, 0x04, 0xbe, 0x10, 0x0d),
		B(0x15, 0x0d, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03, 0x06,
		  0xaf, 0x04, 0xbe, 0x10, 0x0d)) == MB_RESP_OK,
	   "FC21 echo: OK");

	/* FC 23: 2 x read quantity */
	ok(resp(B(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0e, 0x00, 0x03, 0x06,
		  0x00, 0xff, 0x00, 0xff, 0x00, 0xff),
		B(0x17, 0x0c, 0x00, 0xfe, 0x0a, 0xcd, 0x00, 0x01, 0x00, 0x03,
		  0x00, 0x0d, 0x00, 0xff)) == MB_RESP_OK,
	   "FC23 6 registers read, byte count 12: OK");
	ok(resp(B(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0e, 0x00, 0x03, 0x06,
		  0x00, 0xff, 0x00, 0xff, 0x00, 0xff),
		B(0x17, 0x06, 0x00, 0xfe, 0x0a, 0xcd, 0x00, 0x01)) ==
		   MB_RESP_MALFORMED,
	   "FC23 byte count of the write quantity (6): MALFORMED");

	/* FC 8 */
	ok(resp(B(0x08, 0x00, 0x00, 0xa5, 0x37), B(0x08, 0x00, 0x00, 0xa5,
						  0x37)) == MB_RESP_OK &&
		   resp(B(0x08, 0x00, 0x00, 0xa5, 0x37),
			B(0x08, 0x00, 0x00, 0xa5, 0x38)) == MB_RESP_MALFORMED,
	   "FC8/0 echo: same OK, other data MALFORMED");
	ok(resp(B(0x08, 0x00, 0x04, 0x00, 0x00), B(0x08, 0x00, 0x04, 0x00,
						  0x00)) == MB_RESP_MALFORMED &&
		   resp(B(0x08, 0x00, 0x04, 0x00, 0x00), B(0x88, 0x01)) ==
			   MB_RESP_EXCEPTION,
	   "FC8/4 answered: MALFORMED (listen only has no response); exception OK");
	ok(resp(B(0x08, 0x00, 0x0b, 0x00, 0x00), B(0x08, 0x00, 0x0b, 0x12,
						  0x34)) == MB_RESP_OK &&
		   resp(B(0x08, 0x00, 0x0b, 0x00, 0x00),
			B(0x08, 0x00, 0x0c, 0x12, 0x34)) == MB_RESP_MALFORMED,
	   "FC8/11 counter: any value OK; other sub-function MALFORMED");
	ok(resp(B(0x08, 0x00, 0x05, 0x00, 0x00), B(0x08, 0x00, 0x05, 0x99)) ==
		   MB_RESP_OK &&
		   resp(B(0x08, 0x00, 0x05, 0x00, 0x00), B(0x08, 0x00, 0x06)) ==
			   MB_RESP_MALFORMED,
	   "FC8/5 opaque: sub-function echoed OK, another MALFORMED");

	/* FC 7, 11, 12, 17 */
	ok(resp(B(0x07), B(0x07, 0x6d)) == MB_RESP_OK &&
		   resp(B(0x07), B(0x07)) == MB_RESP_MALFORMED,
	   "FC7: 2 bytes OK, 1 byte MALFORMED");
	ok(resp(B(0x0b), B(0x0b, 0xff, 0xff, 0x01, 0x08)) == MB_RESP_OK &&
		   resp(B(0x0b), B(0x0b, 0x12, 0x34, 0x01, 0x08)) ==
			   MB_RESP_MALFORMED,
	   "FC11: status 0xFFFF OK, 0x1234 MALFORMED");
	ok(resp(B(0x0c), B(0x0c, 0x08, 0x00, 0x00, 0x01, 0x08, 0x01, 0x21,
			   0x20, 0x00)) == MB_RESP_OK &&
		   resp(B(0x0c), B(0x0c, 0x05, 0x00, 0x00, 0x01, 0x08, 0x01)) ==
			   MB_RESP_MALFORMED,
	   "FC12: spec example OK, byte count 5 MALFORMED");
	ok(resp(B(0x11), B(0x11, 0x02, 0x01, 0xff)) == MB_RESP_OK &&
		   resp(B(0x11), B(0x11, 0x00)) == MB_RESP_MALFORMED &&
		   resp(B(0x11), B(0x11, 0x03, 0x01, 0xff)) == MB_RESP_MALFORMED,
	   "FC17: id + run indicator OK; empty or short MALFORMED");

	/* FC 20 */
	ok(resp(B(0x14, 0x0e, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x06,
		  0x00, 0x03, 0x00, 0x09, 0x00, 0x02),
		B(0x14, 0x0c, 0x05, 0x06, 0x0d, 0xfe, 0x00, 0x20, 0x05, 0x06,
		  0x33, 0xcd, 0x00, 0x40)) == MB_RESP_OK,
	   "FC20 spec example response: OK");
	ok(resp(B(0x14, 0x0e, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x06,
		  0x00, 0x03, 0x00, 0x09, 0x00, 0x02),
		B(0x14, 0x0a, 0x03, 0x06, 0x0d, 0xfe, 0x05, 0x06, 0x33, 0xcd,
		  0x00, 0x40)) == MB_RESP_MALFORMED,
	   "FC20 first sub-response with 1 register for 2: MALFORMED");
	ok(resp(B(0x14, 0x07, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x01),
		B(0x14, 0x05, 0x03, 0x06, 0x0d, 0xfe, 0x00)) == MB_RESP_MALFORMED,
	   "FC20 data after the last sub-response: MALFORMED");

	/* FC 24 */
	ok(resp(B(0x18, 0x04, 0xde),
		B(0x18, 0x00, 0x06, 0x00, 0x02, 0x01, 0xb8, 0x12, 0x84)) ==
		   MB_RESP_OK,
	   "FC24 spec example (2 values): OK");
	ok(resp(B(0x18, 0x04, 0xde),
		B(0x18, 0x00, 0x06, 0x00, 0x03, 0x01, 0xb8, 0x12, 0x84)) ==
		   MB_RESP_MALFORMED,
	   "FC24 FIFO count 3 in 6 bytes: MALFORMED");

	/* FC 43 */
	ok(resp(B(0x2b, 0x0e, 0x01, 0x00),
		B(0x2b, 0x0e, 0x01, 0x01, 0x00, 0x00, 0x03, 0x00, 0x03, 'A',
		  'B', 'C', 0x01, 0x02, 'P', '1', 0x02, 0x03, 'V', '1',
		  '0')) == MB_RESP_OK,
	   "FC43/14 basic identification, 3 objects: OK");
	ok(resp(B(0x2b, 0x0e, 0x01, 0x00),
		B(0x2b, 0x0e, 0x01, 0x01, 0x00, 0x00, 0x04, 0x00, 0x03, 'A',
		  'B', 'C', 0x01, 0x02, 'P', '1', 0x02, 0x03, 'V', '1',
		  '0')) == MB_RESP_MALFORMED,
	   "FC43/14 object count 4 with 3 objects: MALFORMED");
	ok(resp(B(0x2b, 0x0e, 0x01, 0x00),
		B(0x2b, 0x0e, 0x02, 0x01, 0x00, 0x00, 0x00)) ==
		   MB_RESP_MALFORMED &&
		   resp(B(0x2b, 0x0e, 0x01, 0x00),
			B(0x2b, 0x0e, 0x01, 0x04, 0x00, 0x00, 0x00)) ==
			   MB_RESP_MALFORMED &&
		   resp(B(0x2b, 0x0e, 0x01, 0x00),
			B(0x2b, 0x0e, 0x01, 0x01, 0x01, 0x00, 0x00)) ==
			   MB_RESP_MALFORMED,
	   "FC43/14 other code, conformity 4, more follows 1: MALFORMED");
	ok(resp(B(0x2b, 0x0e, 0x04, 0x05),
		B(0x2b, 0x0e, 0x04, 0x83, 0x00, 0x00, 0x01, 0x05, 0x01,
		  'X')) == MB_RESP_OK &&
		   resp(B(0x2b, 0x0e, 0x04, 0x05),
			B(0x2b, 0x0e, 0x04, 0x83, 0x00, 0x00, 0x01, 0x06, 0x01,
			  'X')) == MB_RESP_MALFORMED,
	   "FC43/14 individual access: asked object OK, another MALFORMED");
	ok(resp(B(0x2b, 0x0d, 0x00, 0x01), B(0x2b, 0x0d, 0x05)) ==
		   MB_RESP_OK &&
		   resp(B(0x2b, 0x0d, 0x00, 0x01), B(0x2b, 0x0e, 0x05)) ==
			   MB_RESP_MALFORMED,
	   "FC43/13: MEI 13 echoed OK, MEI 14 MALFORMED");

	/* opaque and invalid requests */
	ok(resp(B(0x5a, 0x00, 0x02), B(0x5a, 0x00, 0xfe, 0x01)) ==
		   MB_RESP_OK &&
		   resp(B(0x5a, 0x00, 0x02), B(0xda, 0x01)) ==
			   MB_RESP_EXCEPTION &&
		   resp(B(0x5a, 0x00, 0x02), B(0x5b, 0x00)) ==
			   MB_RESP_MALFORMED,
	   "FC90 opaque: same fc OK, exception EXCEPTION, other fc MALFORMED");
	mb_parse_request((const uint8_t[]){ 0x03, 0x00, 0x00, 0x00, 0x00 }, 5,
			 1, &r, NULL);
	ok(mb_check_response(&r, (const uint8_t[]){ 0x03, 0x00 }, 2, &why) ==
		   MB_RESP_MALFORMED &&
		   why != NULL && strcmp(why, "no valid request to answer") == 0,
	   "a response to a request that did not parse: MALFORMED (%s)",
	   why != NULL ? why : "");
}

static void
test_describe(void)
{
	char buf[160];
	int n;

	parse(B(0x10, 0x00, 0x0a, 0x00, 0x05, 0x0a, 0, 1, 0, 2, 0, 3, 0, 4, 0,
		5));
	n = mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC16 write holding 10..14 (5 regs) unit 1") == 0 &&
		   n == (int)strlen(buf),
	   "describe FC16: \"%s\"", buf);
	mb_parse_request((const uint8_t[]){ 0x03, 0x00, 0x6b, 0x00, 0x01 }, 5,
			 17, &req, NULL);
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC3 read holding 107 (1 reg) unit 17") == 0,
	   "describe FC3 x 1: \"%s\"", buf);
	parse(B(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0e, 0x00, 0x03, 0x06,
		0x00, 0xff, 0x00, 0xff, 0x00, 0xff));
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC23 read holding 3..8 (6 regs) + write holding "
		       "14..16 (3 regs) unit 1") == 0,
	   "describe FC23: \"%s\"", buf);
	parse(B(0x08, 0x00, 0x04, 0x00, 0x00));
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC8 diagnostics sub-function 4 (force listen only "
		       "mode) unit 1") == 0,
	   "describe FC8/4: \"%s\"", buf);
	parse(B(0x5a, 0x00, 0x02, 0x10));
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC90 unsupported function (Schneider UMAS), 3 data "
		       "bytes unit 1") == 0,
	   "describe FC90: \"%s\"", buf);
	parse(B(0x2b, 0x0e, 0x01, 0x00));
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC43/14 read device identification code 1 object 0 "
		       "unit 1") == 0,
	   "describe FC43/14: \"%s\"", buf);
	parse(B(0x05, 0x00, 0xac, 0xff, 0x00));
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC5 write coil 172 = ON unit 1") == 0,
	   "describe FC5: \"%s\"", buf);
	parse(B(0x06, 0x00, 0x01, 0x12, 0x34));
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC6 write holding 1 = 4660 (0x1234) unit 1") == 0,
	   "describe FC6: \"%s\"", buf);
	parse(B(0x14, 0x0e, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x06,
		0x00, 0x03, 0x00, 0x09, 0x00, 0x02));
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC20 read file 4 records 1..2 (2 regs) +1 sub-request "
		       "unit 1") == 0,
	   "describe FC20: \"%s\"", buf);
	parse(B(0x10, 0x00, 0x01, 0x00, 0x02, 0x03, 0x00, 0x0a, 0x01));
	mb_describe(&req, buf, sizeof(buf));
	ok(strcmp(buf, "FC16 write multiple registers: malformed request (byte "
		       "count is not 2 x quantity) unit 1") == 0,
	   "describe a malformed FC16: \"%s\"", buf);
	parse(B(0x10, 0x00, 0x0a, 0x00, 0x01, 0x02, 0x00, 0x01));
	n = mb_describe(&req, buf, 10);
	ok(strcmp(buf, "FC16 writ") == 0 &&
		   n == (int)strlen("FC16 write holding 10 (1 reg) unit 1"),
	   "describe truncates to the buffer and returns the full length (%d)",
	   n);
}

int
main(void)
{
	plan(152);
	test_reads();
	test_single_writes();
	test_multiple_writes();
	test_read_write();
	test_diagnostics_and_misc();
	test_files();
	test_unknown();
	test_roundtrip();
	test_build();
	test_responses();
	test_describe();
	return done_testing();
}
