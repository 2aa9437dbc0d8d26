/*
 * zg-plcsim: Modbus framing helpers (see frame.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "frame.h"

/* Big-endian 16-bit field; the caller checked the length. */
static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/*
 * Frame one Modbus/TCP ADU at the start of buf.  Accepts protocol id 0
 * and an MBAP length of 2..254 (unit id + a PDU of 1..253 bytes);
 * refuses anything else with FRAME_BAD, because a stream whose header
 * lies cannot be resynchronised safely and the caller closes it.
 */
enum frame_status frame_mbap(const uint8_t *buf, size_t len, size_t *adu_len,
			     size_t *need)
{
	size_t mlen;

	if (len < FRAME_MBAP_LEN) {
		*need = FRAME_MBAP_LEN - len;
		return FRAME_NEED;
	}
	if (get16(buf + 2) != 0)
		return FRAME_BAD;
	mlen = get16(buf + 4);
	if (mlen < 2 || mlen > 254)
		return FRAME_BAD;
	*adu_len = 6 + mlen;
	if (len < *adu_len) {
		*need = *adu_len - len;
		return FRAME_NEED;
	}
	return FRAME_OK;
}

/*
 * Frame one Modbus RTU request (address, PDU, CRC) at the start of buf.
 * The length follows from the function code and, for the variable
 * writes, from the byte count.  Function codes whose request length is
 * not fixed by the standard (or that are exception/invalid codes) return
 * FRAME_GAP: the caller waits for line silence and takes what it has.
 * Byte counts that would overflow an RTU ADU give FRAME_BAD.
 */
enum frame_status frame_rtu_request(const uint8_t *buf, size_t len,
				    size_t *adu_len, size_t *need)
{
	size_t total;

	if (len < 2) {
		*need = 2 - len;
		return FRAME_NEED;
	}
	switch (buf[1]) {
	case 1: case 2: case 3: case 4: case 5: case 6: case 8:
		total = 8;
		break;
	case 7: case 11: case 12: case 17:
		total = 4;
		break;
	case 22:
		total = 10;
		break;
	case 15: case 16:
		if (len < 7) {
			*need = 7 - len;
			return FRAME_NEED;
		}
		total = 9 + (size_t)buf[6];
		break;
	case 23:
		if (len < 11) {
			*need = 11 - len;
			return FRAME_NEED;
		}
		total = 13 + (size_t)buf[10];
		break;
	default:
		return FRAME_GAP;
	}
	if (total > FRAME_RTU_MAX_ADU)
		return FRAME_BAD;
	*adu_len = total;
	if (len < total) {
		*need = total - len;
		return FRAME_NEED;
	}
	return FRAME_OK;
}

/*
 * Modbus CRC-16 (reflected polynomial 0xA001, initial value 0xFFFF),
 * computed bit by bit: frames are short and clarity beats a table here.
 */
uint16_t frame_crc16(const uint8_t *buf, size_t len)
{
	uint16_t crc = 0xFFFF;
	size_t i;
	int bit;

	for (i = 0; i < len; i++) {
		crc ^= buf[i];
		for (bit = 0; bit < 8; bit++) {
			if (crc & 1)
				crc = (uint16_t)((crc >> 1) ^ 0xA001);
			else
				crc >>= 1;
		}
	}
	return crc;
}

/*
 * True when the last two bytes of an RTU ADU are the CRC of the rest
 * (sent low byte first).  Frames shorter than address + FC + CRC fail.
 */
bool frame_rtu_crc_ok(const uint8_t *adu, size_t len)
{
	uint16_t crc;

	if (len < 4)
		return false;
	crc = frame_crc16(adu, len - 2);
	return adu[len - 2] == (crc & 0xFF) && adu[len - 1] == (crc >> 8);
}

/* Append the CRC of adu[0..payload_len) at adu[payload_len] (2 bytes). */
void frame_rtu_put_crc(uint8_t *adu, size_t payload_len)
{
	uint16_t crc = frame_crc16(adu, payload_len);

	adu[payload_len] = (uint8_t)(crc & 0xFF);
	adu[payload_len + 1] = (uint8_t)(crc >> 8);
}

/*
 * Check that a request PDU is exactly as long as its own fields say.
 * Returns 0 when it is (or when the function code is one the simulator
 * answers with "illegal function" anyway), or the Modbus exception code
 * 3 (illegal data value) to answer instead.  libmodbus's modbus_reply()
 * reads values up to the byte count it finds, so a request whose framing
 * length disagrees with its byte count must never reach it.
 */
int frame_pdu_check(const uint8_t *pdu, size_t len)
{
	size_t want;

	if (len < 1)
		return 3;
	switch (pdu[0]) {
	case 1: case 2: case 3: case 4: case 5: case 6:
		want = 5;
		break;
	case 7: case 11: case 12: case 17:
		want = 1;
		break;
	case 22:
		want = 7;
		break;
	case 15:
		if (len < 6)
			return 3;
		if (pdu[5] != (get16(pdu + 3) + 7) / 8)
			return 3;
		want = 6 + (size_t)pdu[5];
		break;
	case 16:
		if (len < 6)
			return 3;
		want = 6 + (size_t)pdu[5];
		break;
	case 23:
		if (len < 10)
			return 3;
		want = 10 + (size_t)pdu[9];
		break;
	default:
		return 0;
	}
	return len == want ? 0 : 3;
}

/*
 * Decode the fields of a request PDU for logging.  Accepts any length:
 * fields the PDU is too short to hold are left at zero.
 */
void frame_req_info(const uint8_t *pdu, size_t len,
		    struct frame_req_info *info)
{
	*info = (struct frame_req_info){0};
	if (len < 1)
		return;
	info->fc = pdu[0];
	switch (info->fc) {
	case 5: case 6:
		info->write = true;
		if (len >= 3)
			info->addr = get16(pdu + 1);
		info->qty = 1;
		break;
	case 15: case 16: case 22:
		info->write = true;
		/* fall through */
	case 1: case 2: case 3: case 4:
		if (len >= 5) {
			info->addr = get16(pdu + 1);
			info->qty = get16(pdu + 3);
		}
		if (info->fc == 22)
			info->qty = 1;
		break;
	case 23:
		info->write = true;
		if (len >= 9) {
			info->addr = get16(pdu + 1);
			info->qty = get16(pdu + 3);
			info->waddr = get16(pdu + 5);
			info->wqty = get16(pdu + 7);
		}
		break;
	default:
		break;
	}
}

/* A short name for a function code, for log lines. */
const char *frame_fc_name(uint8_t fc)
{
	switch (fc) {
	case 1: return "read-coils";
	case 2: return "read-discrete-inputs";
	case 3: return "read-holding-registers";
	case 4: return "read-input-registers";
	case 5: return "write-single-coil";
	case 6: return "write-single-register";
	case 7: return "read-exception-status";
	case 8: return "diagnostics";
	case 11: return "get-comm-event-counter";
	case 12: return "get-comm-event-log";
	case 15: return "write-multiple-coils";
	case 16: return "write-multiple-registers";
	case 17: return "report-server-id";
	case 20: return "read-file-record";
	case 21: return "write-file-record";
	case 22: return "mask-write-register";
	case 23: return "read-write-multiple-registers";
	case 24: return "read-fifo-queue";
	case 43: return "encapsulated-interface";
	default: return "unknown";
	}
}

/* True for the responses whose second PDU byte is a byte count. */
bool frame_fc_has_byte_count(uint8_t fc)
{
	return fc == 1 || fc == 2 || fc == 3 || fc == 4 || fc == 17 ||
	       fc == 23;
}
