/*
 * mbap.c: see mbap.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "plugins/modbus/be16.h"
#include "plugins/modbus/mbap.h"

/*
 * Accepts any prefix of a Modbus/TCP stream.  Refuses a protocol id other
 * than 0 (another protocol on port 502, or a peer out of sync) and a
 * length that cannot carry a function code or exceeds the 253-byte PDU
 * limit: both mean the byte stream cannot be trusted from here on, so the
 * error is reported as early as the bytes allow and never skipped over.
 */
enum mbap_status
mbap_frame(const uint8_t *buf, size_t len, struct mbap_frame *out)
{
	size_t total;

	memset(out, 0, sizeof(*out));
	if (len >= 2)
		out->tid = be16_get(buf);
	if (len >= 4) {
		out->proto = be16_get(buf + 2);
		if (out->proto != 0)
			return MBAP_ERR_PROTO_ID;
	}
	if (len < 6) {
		/* The shortest frame is a header and a function code. */
		out->needed = MBAP_HEADER_LEN + 1 - len;
		return MBAP_NEED_MORE;
	}
	out->length = be16_get(buf + 4);
	if (out->length < MBAP_LENGTH_MIN || out->length > MBAP_LENGTH_MAX)
		return MBAP_ERR_LENGTH;
	total = 6 + (size_t)out->length;
	if (len >= MBAP_HEADER_LEN)
		out->unit = buf[6];
	if (len < total) {
		out->needed = total - len;
		return MBAP_NEED_MORE;
	}
	out->pdu = buf + MBAP_HEADER_LEN;
	out->pdu_len = total - MBAP_HEADER_LEN;
	out->consumed = total;
	return MBAP_OK;
}

/*
 * Accepts a PDU length the framer would accept back (1..253) and an
 * output of at least 7 bytes; the protocol id is always 0.
 */
int
mbap_write_header(uint8_t *out, size_t outlen, uint16_t tid, uint8_t unit,
		  size_t pdu_len)
{
	size_t length = pdu_len + 1;

	if (outlen < MBAP_HEADER_LEN || pdu_len < 1 || pdu_len > MBAP_PDU_MAX)
		return -1;
	be16_put(out, tid);
	be16_put(out + 2, 0);
	be16_put(out + 4, (uint16_t)length);
	out[6] = unit;
	return MBAP_HEADER_LEN;
}

const char *
mbap_strerror(enum mbap_status st)
{
	switch (st) {
	case MBAP_OK:
		return "complete frame";
	case MBAP_NEED_MORE:
		return "incomplete frame";
	case MBAP_ERR_PROTO_ID:
		return "MBAP protocol id is not 0 (not Modbus/TCP)";
	case MBAP_ERR_LENGTH:
		return "MBAP length field outside 2..254";
	}
	return "unknown MBAP status";
}
