/*
 * fuzz_response: the input is a request PDU and the response PDU a device
 * sent back, as  [request length][request PDU][response PDU].  Checks
 * that the response validator never reads out of bounds and that what it
 * accepts really has the shape it promises:
 *
 *   - EXCEPTION: exactly fc|0x80 and a defined code;
 *   - OK: the request's function code, and for the fixed-shape answers the
 *     length that follows from the request;
 *   - anything answering a request that did not parse is MALFORMED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/modbus/pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                \
	do {                    \
		if (!(x))       \
			abort(); \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_request req;
	const uint8_t *q, *r;
	size_t qn, rn;
	const char *why = NULL;
	enum mb_result res;
	enum mb_resp st;

	if (size < 1)
		return 0;
	qn = data[0];
	if (qn > size - 1)
		qn = size - 1;
	q = data + 1;
	r = q + qn;
	rn = size - 1 - qn;

	res = mb_parse_request(q, qn, 1, &req, NULL);
	st = mb_check_response(&req, rn ? r : NULL, rn, &why);
	CHECK(st == MB_RESP_OK || st == MB_RESP_EXCEPTION ||
	      st == MB_RESP_MALFORMED);
	if (st == MB_RESP_MALFORMED)
		CHECK(why != NULL);
	if (!(res == MB_OK || req.opaque))
		CHECK(st == MB_RESP_MALFORMED);
	if (st == MB_RESP_EXCEPTION)
		CHECK(rn == 2 && r[0] == (req.fc | 0x80) &&
		      mb_exception_valid(r[1]));
	if (st != MB_RESP_OK)
		return 0;
	CHECK(rn >= 1 && rn <= MB_PDU_MAX && r[0] == req.fc);
	if (req.opaque)
		return 0;
	switch (req.fc) {
	case MB_FC_READ_COILS:
	case MB_FC_READ_DISCRETE:
		CHECK(rn == 2 + ((size_t)req.qty + 7) / 8);
		break;
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
	case MB_FC_READ_WRITE_REGISTERS:
		CHECK(rn == 2 + 2 * (size_t)req.qty);
		break;
	case MB_FC_WRITE_COIL:
	case MB_FC_WRITE_REGISTER:
	case MB_FC_WRITE_COILS:
	case MB_FC_WRITE_REGISTERS:
		CHECK(rn == 5);
		break;
	case MB_FC_MASK_WRITE:
		CHECK(rn == 7);
		break;
	case MB_FC_READ_EXCEPTION_STATUS:
		CHECK(rn == 2);
		break;
	case MB_FC_DIAGNOSTICS:
		CHECK(req.subfn != MB_DIAG_FORCE_LISTEN_ONLY);
		break;
	default:
		break;
	}
	return 0;
}
