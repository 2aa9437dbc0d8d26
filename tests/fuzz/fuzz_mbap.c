/*
 * fuzz_mbap: the input is a Modbus/TCP byte stream from a client.  Frame
 * it as the proxy does, classify every request, re-originate it and check
 * the invariants the proxy relies on:
 *
 *   - a frame is 7 + 1..253 bytes, and each of its prefixes asks for
 *     exactly the bytes that are missing;
 *   - a request that parses is rebuilt byte for byte (FC 15: up to its
 *     unused coil bits), re-parses the same way and rebuilds identically;
 *   - spans and values handed to policy stay inside their bounds;
 *   - descriptions are NUL-terminated whatever the buffer size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/modbus/mbap.h"
#include "plugins/modbus/pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                \
	do {                    \
		if (!(x))       \
			abort(); \
	} while (0)

static void
check_op(const struct mb_request *req, enum mb_result res,
	 const struct zg_op *op)
{
	const struct zg_modbus_op *m = &op->u.modbus;
	unsigned i;

	CHECK(op->proto == ZG_PROTO_MODBUS);
	CHECK(m->fc == req->fc && m->unit == req->unit);
	CHECK(m->nspans <= 2);
	if (res != MB_OK)
		CHECK(m->nspans == 0 && m->values == NULL);
	for (i = 0; i < m->nspans; i++) {
		CHECK(m->spans[i].qty >= 1);
		CHECK((uint32_t)m->spans[i].addr + m->spans[i].qty <= 0x10000);
		CHECK(m->spans[i].table < ZG_MB_NTABLES);
	}
	if (m->values != NULL)
		CHECK(m->nvalues >= 1 && m->nvalues <= MB_WRITE_REGS_MAX &&
		      m->values == req->regs);
}

static void
check_request(const uint8_t *pdu, size_t len, uint8_t unit)
{
	struct mb_request req, again;
	struct zg_op op;
	uint8_t out[MB_PDU_MAX], out2[MB_PDU_MAX], ex[2];
	char small[16], line[512];
	enum mb_result res;
	int n, n2, d1, d2;

	memset(&op, 0, sizeof(op));
	res = mb_parse_request(pdu, len, unit, &req, &op);
	CHECK(res == MB_OK || res == MB_ILLEGAL_FUNCTION ||
	      res == MB_ILLEGAL_DATA_ADDRESS || res == MB_ILLEGAL_DATA_VALUE);
	CHECK(req.fc == pdu[0] && req.result == res);
	CHECK(res == MB_OK || req.why != NULL);
	check_op(&req, res, &op);

	d1 = mb_describe(&req, small, sizeof(small));
	d2 = mb_describe(&req, line, sizeof(line));
	CHECK(d1 == d2 && d1 > 0 && (size_t)d1 < sizeof(line));
	CHECK(strlen(small) == sizeof(small) - 1 || strlen(small) == (size_t)d1);
	CHECK(strlen(line) == (size_t)d2);

	if (res != MB_OK) {
		CHECK(mb_build_exception(req.fc, (uint8_t)res, ex) == 2);
		CHECK(ex[0] == (req.fc | 0x80) && ex[1] == res);
	}

	n = mb_build_request(&req, out, sizeof(out));
	if (res == MB_OK || (res == MB_ILLEGAL_FUNCTION && req.fc >= 1 &&
			     req.fc < 0x80)) {
		CHECK(n >= 1 && (size_t)n == len);
		if (req.fc != MB_FC_WRITE_COILS)
			CHECK(memcmp(out, pdu, len) == 0);
		else
			CHECK(memcmp(out, pdu, len - 1) == 0);
		CHECK(mb_parse_request(out, (size_t)n, unit, &again, NULL) ==
		      res);
		n2 = mb_build_request(&again, out2, sizeof(out2));
		CHECK(n2 == n && memcmp(out, out2, (size_t)n) == 0);
		CHECK(mb_build_request(&req, out2, (size_t)n - 1) == -1);
		/* the rebuilt request as its own "response": must not crash */
		(void)mb_check_response(&req, out, (size_t)n, NULL);
	} else
		CHECK(n == -1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbap_frame f, g;
	enum mbap_status st;
	size_t off = 0;

	while (off < size) {
		st = mbap_frame(data + off, size - off, &f);
		if (st == MBAP_NEED_MORE) {
			CHECK(f.needed >= 1 && f.consumed == 0);
			break;
		}
		if (st != MBAP_OK) {
			CHECK(st == MBAP_ERR_PROTO_ID || st == MBAP_ERR_LENGTH);
			/* final: a longer buffer gives the same error */
			break;
		}
		CHECK(f.pdu_len >= 1 && f.pdu_len <= MBAP_PDU_MAX);
		CHECK(f.consumed == MBAP_HEADER_LEN + f.pdu_len);
		CHECK(f.consumed <= size - off);
		CHECK(f.pdu == data + off + MBAP_HEADER_LEN);
		CHECK(f.length == f.pdu_len + 1 && f.proto == 0);
		/* one byte short: exactly one byte needed */
		CHECK(mbap_frame(data + off, f.consumed - 1, &g) ==
			      MBAP_NEED_MORE &&
		      g.needed == 1);
		check_request(f.pdu, f.pdu_len, f.unit);
		off += f.consumed;
	}
	return 0;
}
