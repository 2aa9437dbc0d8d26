/*
 * response.c: check a device's response PDU against the request it
 * answers (see pdu.h).  The gateway forwards nothing a device says unless
 * its shape follows from the request: the function code, the byte count
 * the requested quantity implies, the fields an echo must repeat.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "plugins/modbus/be16.h"
#include "plugins/modbus/pdu.h"

static enum mb_resp
malformed(const char **why, const char *text)
{
	if (why != NULL)
		*why = text;
	return MB_RESP_MALFORMED;
}

/*
 * d[0..n) is a "byte count + data" body: accepts it when the byte count
 * is exactly `want' and covers the rest of the PDU.
 */
static enum mb_resp
check_byte_count(const uint8_t *d, size_t n, size_t want, const char **why)
{
	if (n < 1 || n != 1 + (size_t)d[0])
		return malformed(why, "length does not match its byte count");
	if (d[0] != want)
		return malformed(why,
				 "byte count does not match the requested quantity");
	return MB_RESP_OK;
}

/*
 * Echo responses (FC 5, 6, 21, 22 and most FC 8 sub-functions) repeat the
 * request the gateway sent; the gateway sent what mb_build_request()
 * makes of req, so that is what must come back.
 */
static enum mb_resp
check_echo(const struct mb_request *req, const uint8_t *pdu, size_t len,
	   const char **why)
{
	uint8_t sent[MB_PDU_MAX];
	int n = mb_build_request(req, sent, sizeof(sent));

	if (n < 0)
		return malformed(why, "request cannot be rebuilt");
	if ((size_t)n != len || memcmp(sent, pdu, len) != 0)
		return malformed(why, "echo differs from the request");
	return MB_RESP_OK;
}

/* FC 15, 16: the starting address and quantity come back. */
static enum mb_resp
check_write_multiple(const struct mb_request *req, const uint8_t *d, size_t n,
		     const char **why)
{
	if (n != 4)
		return malformed(why, "length is not 5 bytes");
	if (be16_get(d) != req->addr || be16_get(d + 2) != req->qty)
		return malformed(why, "address or quantity differs from the request");
	return MB_RESP_OK;
}

/*
 * FC 8: the sub-function always comes back.  Query data, restart, delimiter
 * and the clear sub-functions echo their data; the others return a 16-bit
 * register or counter.  Force Listen Only has no response at all: a server
 * that answers it is not doing what it was asked.
 */
static enum mb_resp
check_diag(const struct mb_request *req, const uint8_t *pdu, size_t len,
	   const char **why)
{
	if (len < 3 || be16_get(pdu + 1) != req->subfn)
		return malformed(why, "sub-function differs from the request");
	if (req->opaque)
		return MB_RESP_OK;
	switch (req->subfn) {
	case MB_DIAG_RETURN_QUERY_DATA:
	case MB_DIAG_RESTART_COMM:
	case MB_DIAG_ASCII_DELIMITER:
	case MB_DIAG_CLEAR_COUNTERS:
	case MB_DIAG_CLEAR_OVERRUN:
		return check_echo(req, pdu, len, why);
	case MB_DIAG_FORCE_LISTEN_ONLY:
		return malformed(why, "force listen only has no response");
	default:
		if (len != 5)
			return malformed(why, "length is not 5 bytes");
		return MB_RESP_OK;
	}
}

/* FC 11: status word (0x0000 ready, 0xFFFF busy) and event count. */
static enum mb_resp
check_event_counter(const uint8_t *d, size_t n, const char **why)
{
	uint16_t status;

	if (n != 4)
		return malformed(why, "length is not 5 bytes");
	status = be16_get(d);
	if (status != 0x0000 && status != 0xffff)
		return malformed(why, "status is neither 0x0000 nor 0xFFFF");
	return MB_RESP_OK;
}

/*
 * FC 12: byte count, status, event count, message count, then 0..64
 * event bytes.
 */
static enum mb_resp
check_event_log(const uint8_t *d, size_t n, const char **why)
{
	uint16_t status;

	if (n < 1 || n != 1 + (size_t)d[0])
		return malformed(why, "length does not match its byte count");
	if (d[0] < 6 || d[0] > 6 + 64)
		return malformed(why, "byte count outside 6..70");
	status = be16_get(d + 1);
	if (status != 0x0000 && status != 0xffff)
		return malformed(why, "status is neither 0x0000 nor 0xFFFF");
	return MB_RESP_OK;
}

/* FC 17: byte count, then a device-specific id and run indicator. */
static enum mb_resp
check_server_id(const uint8_t *d, size_t n, const char **why)
{
	if (n < 1 || n != 1 + (size_t)d[0])
		return malformed(why, "length does not match its byte count");
	if (d[0] < 1)
		return malformed(why, "empty server id");
	return MB_RESP_OK;
}

/*
 * FC 20: one sub-response per sub-request, in order, each a length byte
 * (1 + 2 x the requested record length), reference type 6 and the data.
 */
static enum mb_resp
check_read_file(const struct mb_request *req, const uint8_t *d, size_t n,
		const char **why)
{
	size_t i, p = 1;

	if (n < 1 || n != 1 + (size_t)d[0])
		return malformed(why, "length does not match its byte count");
	if (req->nfile > MB_FILE_REFS_MAX)
		return malformed(why, "no valid request to answer");
	for (i = 0; i < req->nfile; i++) {
		size_t sub = 1 + 2 * (size_t)req->file[i].len;

		if (p + 2 > n || d[p] != sub || d[p + 1] != 6)
			return malformed(why,
					 "file sub-response does not match its request");
		p += 1 + sub;
		if (p > n)
			return malformed(why, "file sub-response truncated");
	}
	if (p != n)
		return malformed(why, "data after the last file sub-response");
	return MB_RESP_OK;
}

/*
 * FC 24: a 16-bit byte count, the FIFO count (at most 31), and that many
 * registers.
 */
static enum mb_resp
check_fifo(const uint8_t *d, size_t n, const char **why)
{
	uint16_t count;

	if (n < 4 || n != 2 + (size_t)be16_get(d))
		return malformed(why, "length does not match its byte count");
	count = be16_get(d + 2);
	if (count > MB_FIFO_MAX)
		return malformed(why, "FIFO count above 31");
	if (be16_get(d) != 2 + 2 * (size_t)count)
		return malformed(why, "byte count does not match the FIFO count");
	return MB_RESP_OK;
}

static bool
conformity_valid(uint8_t c)
{
	return (c >= 0x01 && c <= 0x03) || (c >= 0x81 && c <= 0x83);
}

/*
 * FC 43/14: MEI type, code (echoed), conformity level, more follows
 * (0x00 or 0xFF), next object id, object count, then exactly that many
 * (id, length, value) objects filling the PDU.  Individual access (code 4)
 * returns the one object asked for and never more.
 */
static enum mb_resp
check_device_id(const struct mb_request *req, const uint8_t *d, size_t n,
		const char **why)
{
	size_t i, p = 6;

	if (n < 6)
		return malformed(why, "device identification header truncated");
	if (d[1] != req->devid_code)
		return malformed(why, "read device id code differs from the request");
	if (!conformity_valid(d[2]))
		return malformed(why, "invalid conformity level");
	if (d[3] != 0x00 && d[3] != 0xff)
		return malformed(why, "more follows is neither 0x00 nor 0xFF");
	if (req->devid_code == 4 &&
	    (d[3] != 0x00 || d[5] != 1 || n < 7 || d[6] != req->object_id))
		return malformed(why, "individual access did not return one object");
	for (i = 0; i < d[5]; i++) {
		if (n - p < 2 || n - p - 2 < d[p + 1])
			return malformed(why, "device identification object truncated");
		p += 2 + (size_t)d[p + 1];
	}
	if (p != n)
		return malformed(why, "data after the last identification object");
	return MB_RESP_OK;
}

static enum mb_resp
check_mei(const struct mb_request *req, const uint8_t *d, size_t n,
	  const char **why)
{
	if (n < 1 || d[0] != req->mei)
		return malformed(why, "MEI type differs from the request");
	if (req->opaque || req->mei != MB_MEI_DEVICE_ID)
		return MB_RESP_OK;
	return check_device_id(req, d, n, why);
}

/*
 * Accepts an exception response (fc|0x80 and one defined code, exactly 2
 * bytes) or a normal response to req->fc shaped as req implies.  Refuses
 * everything else, including any response to a request that did not parse,
 * since the gateway never sent such a request.
 */
enum mb_resp
mb_check_response(const struct mb_request *req, const uint8_t *pdu,
		  size_t len, const char **why)
{
	const uint8_t *d;
	size_t n;

	if (req->fc == 0 || req->fc >= 0x80 ||
	    !(req->result == MB_OK ||
	      (req->opaque && req->result == MB_ILLEGAL_FUNCTION)))
		return malformed(why, "no valid request to answer");
	if (len < 1 || len > MB_PDU_MAX)
		return malformed(why, "response length outside 1..253");
	if (pdu[0] == (req->fc | 0x80)) {
		if (len != 2)
			return malformed(why, "exception response is not 2 bytes");
		if (!mb_exception_valid(pdu[1]))
			return malformed(why, "undefined exception code");
		return MB_RESP_EXCEPTION;
	}
	if (pdu[0] != req->fc)
		return malformed(why, "function code differs from the request");
	d = pdu + 1;
	n = len - 1;
	if (req->opaque && req->fc != MB_FC_DIAGNOSTICS &&
	    req->fc != MB_FC_ENCAPSULATED)
		return MB_RESP_OK;
	switch (req->fc) {
	case MB_FC_READ_COILS:
	case MB_FC_READ_DISCRETE:
		return check_byte_count(d, n, ((size_t)req->qty + 7) / 8, why);
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
	case MB_FC_READ_WRITE_REGISTERS:
		return check_byte_count(d, n, 2 * (size_t)req->qty, why);
	case MB_FC_WRITE_COIL:
	case MB_FC_WRITE_REGISTER:
	case MB_FC_WRITE_FILE:
	case MB_FC_MASK_WRITE:
		return check_echo(req, pdu, len, why);
	case MB_FC_READ_EXCEPTION_STATUS:
		return n == 1 ? MB_RESP_OK :
				malformed(why, "length is not 2 bytes");
	case MB_FC_DIAGNOSTICS:
		return check_diag(req, pdu, len, why);
	case MB_FC_COMM_EVENT_COUNTER:
		return check_event_counter(d, n, why);
	case MB_FC_COMM_EVENT_LOG:
		return check_event_log(d, n, why);
	case MB_FC_WRITE_COILS:
	case MB_FC_WRITE_REGISTERS:
		return check_write_multiple(req, d, n, why);
	case MB_FC_REPORT_SERVER_ID:
		return check_server_id(d, n, why);
	case MB_FC_READ_FILE:
		return check_read_file(req, d, n, why);
	case MB_FC_READ_FIFO:
		return check_fifo(d, n, why);
	case MB_FC_ENCAPSULATED:
		return check_mei(req, d, n, why);
	}
	return malformed(why, "no response rule for this function code");
}
