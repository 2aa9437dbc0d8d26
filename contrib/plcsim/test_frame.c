/*
 * Unit tests of zg-plcsim's framing helpers (frame.c): pure functions,
 * so no simulator, socket or serial line is needed.  TAP output.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "tap.h"

#include "frame.h"

/* Modbus/TCP framing: partial headers, partial PDUs, lying headers. */
static void test_mbap(void)
{
	/* read holding 0 x 3, unit 1, tid 0x1234 */
	const uint8_t req[] = {0x12, 0x34, 0, 0, 0, 6, 1, 3, 0, 0, 0, 3};
	uint8_t bad[sizeof(req)];
	size_t adu = 0, need = 0;

	ok(frame_mbap(req, 3, &adu, &need) == FRAME_NEED && need == 4,
	   "MBAP: 3 bytes need 4 more for the header");
	ok(frame_mbap(req, 9, &adu, &need) == FRAME_NEED && need == 3,
	   "MBAP: a partial PDU needs the rest");
	ok(frame_mbap(req, sizeof(req), &adu, &need) == FRAME_OK &&
	   adu == sizeof(req), "MBAP: a complete request is framed whole");

	memcpy(bad, req, sizeof(req));
	bad[3] = 1;
	ok(frame_mbap(bad, sizeof(bad), &adu, &need) == FRAME_BAD,
	   "MBAP: protocol id 1 is refused");
	memcpy(bad, req, sizeof(req));
	bad[5] = 1;
	ok(frame_mbap(bad, sizeof(bad), &adu, &need) == FRAME_BAD,
	   "MBAP: length 1 (no PDU) is refused");
	bad[4] = 1;
	bad[5] = 0xFF;
	ok(frame_mbap(bad, sizeof(bad), &adu, &need) == FRAME_BAD,
	   "MBAP: length 511 is refused before waiting for it");
}

/* RTU: CRC, lengths by function code, byte counts, silence framing. */
static void test_rtu(void)
{
	uint8_t f[300] = {1, 3, 0, 0, 0, 1};
	size_t adu = 0, need = 0;

	ok(frame_crc16(f, 6) == 0x0A84, "CRC-16/MODBUS of 01 03 00 00 00 01 is 0x0A84");
	frame_rtu_put_crc(f, 6);
	ok(f[6] == 0x84 && f[7] == 0x0A, "CRC goes low byte first");
	ok(frame_rtu_crc_ok(f, 8), "a frame with its CRC checks");
	f[3] ^= 1;
	ok(!frame_rtu_crc_ok(f, 8), "a flipped bit fails the CRC");
	ok(!frame_rtu_crc_ok(f, 3), "3 bytes are never a valid frame");

	ok(frame_rtu_request(f, 5, &adu, &need) == FRAME_NEED && need == 3,
	   "RTU FC 3: 8 bytes in all");
	ok(frame_rtu_request(f, 8, &adu, &need) == FRAME_OK && adu == 8,
	   "RTU FC 3: framed at 8 bytes");

	memcpy(f, (const uint8_t[]){1, 16, 0, 0, 0, 2, 4}, 7);
	ok(frame_rtu_request(f, 6, &adu, &need) == FRAME_NEED && need == 1,
	   "RTU FC 16: the byte count is needed first");
	ok(frame_rtu_request(f, 7, &adu, &need) == FRAME_NEED && need == 6,
	   "RTU FC 16: byte count 4 means 13 bytes");
	memcpy(f, (const uint8_t[]){1, 23, 0, 0, 0, 1, 0, 5, 0, 1, 2}, 11);
	ok(frame_rtu_request(f, 11, &adu, &need) == FRAME_NEED && adu == 15,
	   "RTU FC 23: write byte count 2 means 15 bytes");
	f[1] = 16;
	f[6] = 250;
	ok(frame_rtu_request(f, 7, &adu, &need) == FRAME_BAD,
	   "RTU FC 16: a byte count past 256 bytes in all is refused");
	f[1] = 43;
	ok(frame_rtu_request(f, 7, &adu, &need) == FRAME_GAP,
	   "RTU FC 43: length unknown, framed by silence");
	f[1] = 0x83;
	ok(frame_rtu_request(f, 7, &adu, &need) == FRAME_GAP,
	   "RTU: an exception code as request is framed by silence");
}

/* Requests whose length disagrees with their own fields. */
static void test_pdu_check(void)
{
	const uint8_t read3[] = {3, 0, 0, 0, 3};
	const uint8_t w16[] = {16, 0, 0, 0, 2, 4, 0, 1, 0, 2};
	const uint8_t w16_short[] = {16, 0, 0, 0, 2, 4, 0, 1};
	const uint8_t w15[] = {15, 0, 0, 0, 10, 2, 0xFF, 0x03};
	const uint8_t w15_bc[] = {15, 0, 0, 0, 10, 1, 0xFF};
	const uint8_t rw23[] = {23, 0, 0, 0, 1, 0, 5, 0, 1, 2, 0, 9};
	const uint8_t odd[] = {43, 14, 1, 0};

	ok(frame_pdu_check(read3, sizeof(read3)) == 0, "FC 3 of 5 bytes passes");
	ok(frame_pdu_check(read3, 4) == 3, "FC 3 of 4 bytes: exception 3");
	ok(frame_pdu_check(w16, sizeof(w16)) == 0, "FC 16 consistent passes");
	ok(frame_pdu_check(w16_short, sizeof(w16_short)) == 3,
	   "FC 16 shorter than its byte count: exception 3");
	ok(frame_pdu_check(w15, sizeof(w15)) == 0, "FC 15 of 10 coils in 2 bytes passes");
	ok(frame_pdu_check(w15_bc, sizeof(w15_bc)) == 3,
	   "FC 15 of 10 coils in 1 byte: exception 3");
	ok(frame_pdu_check(rw23, sizeof(rw23)) == 0, "FC 23 consistent passes");
	ok(frame_pdu_check(rw23, 10) == 3, "FC 23 missing its values: exception 3");
	ok(frame_pdu_check(odd, sizeof(odd)) == 0,
	   "unsupported FC 43 goes on (libmodbus answers illegal function)");
}

/* Decoding for the logs, including truncated PDUs. */
static void test_req_info(void)
{
	const uint8_t rw23[] = {23, 0, 7, 0, 2, 0, 5, 0, 1, 2, 0, 9};
	const uint8_t w5[] = {5, 0, 9, 0xFF, 0};
	struct frame_req_info info;

	frame_req_info(rw23, sizeof(rw23), &info);
	ok(info.fc == 23 && info.write && info.addr == 7 && info.qty == 2 &&
	   info.waddr == 5 && info.wqty == 1, "FC 23 decodes both halves");
	frame_req_info(w5, sizeof(w5), &info);
	ok(info.write && info.addr == 9 && info.qty == 1, "FC 5 is a write of one coil");
	frame_req_info(w5, 1, &info);
	ok(info.fc == 5 && info.addr == 0, "a truncated PDU decodes what it has");
	ok(strcmp(frame_fc_name(3), "read-holding-registers") == 0 &&
	   strcmp(frame_fc_name(200), "unknown") == 0, "function names");
}

int main(void)
{
	plan(32);
	test_mbap();
	test_rtu();
	test_pdu_check();
	test_req_info();
	return done_testing();
}
