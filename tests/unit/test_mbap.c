/*
 * Unit tests of the MBAP framer (plugins/modbus/mbap.c): whole, split,
 * byte-by-byte and coalesced frames, and the errors that end a stream.
 */
#include <stdint.h>
#include <string.h>

#include "plugins/modbus/mbap.h"
#include "tests/unit/tap.h"

/* tid 0x1234, unit 0x11, FC 3 read holding 0x006b x 3 */
static const uint8_t read_req[] = { 0x12, 0x34, 0x00, 0x00, 0x00, 0x06, 0x11,
				    0x03, 0x00, 0x6b, 0x00, 0x03 };

static void
test_whole_frame(void)
{
	struct mbap_frame f;

	ok(mbap_frame(read_req, sizeof(read_req), &f) == MBAP_OK,
	   "whole frame: MBAP_OK");
	ok(f.tid == 0x1234 && f.proto == 0 && f.length == 6 && f.unit == 0x11,
	   "whole frame: tid 0x%04x proto %u length %u unit 0x%02x", f.tid,
	   f.proto, f.length, f.unit);
	ok(f.pdu == read_req + 7 && f.pdu_len == 5 && f.pdu[0] == 0x03,
	   "whole frame: PDU points after the header, 5 bytes");
	ok(f.consumed == sizeof(read_req) && f.needed == 0,
	   "whole frame: consumed %zu", f.consumed);
}

/* Every prefix of a frame asks for the rest; the full frame is OK. */
static void
test_byte_by_byte(void)
{
	struct mbap_frame f;
	size_t i, bad = 0;

	for (i = 0; i < sizeof(read_req); i++) {
		size_t want = i < 6 ? 8 - i : sizeof(read_req) - i;

		if (mbap_frame(read_req, i, &f) != MBAP_NEED_MORE ||
		    f.needed != want || f.consumed != 0) {
			diag("prefix %zu: needed %zu, want %zu", i, f.needed,
			     want);
			bad++;
		}
	}
	ok(bad == 0, "byte by byte: every prefix is NEED_MORE with the right count");
	ok(mbap_frame(NULL, 0, &f) == MBAP_NEED_MORE && f.needed == 8,
	   "empty buffer (NULL): NEED_MORE 8");
	ok(mbap_frame(read_req, 6, &f) == MBAP_NEED_MORE && f.needed == 6 &&
		   f.length == 6,
	   "length field seen: needed is exact (6)");
}

/*
 * A stream of frames as a proxy sees it: the caller appends what each
 * read() returns to its buffer and drains whole frames.  Returns the
 * number of frames found, their tids in tids[].
 */
static size_t
drain_stream(const uint8_t *stream, size_t total, size_t chunk,
	     uint16_t *tids, size_t maxf, int *err)
{
	uint8_t acc[1024];
	size_t have = 0, fed = 0, nf = 0;
	struct mbap_frame f;

	*err = 0;
	while (fed < total) {
		size_t k = total - fed < chunk ? total - fed : chunk;
		enum mbap_status st;

		memcpy(acc + have, stream + fed, k);
		have += k;
		fed += k;
		while ((st = mbap_frame(acc, have, &f)) == MBAP_OK) {
			if (nf < maxf)
				tids[nf] = f.tid;
			nf++;
			memmove(acc, acc + f.consumed, have - f.consumed);
			have -= f.consumed;
		}
		if (st != MBAP_NEED_MORE) {
			*err = (int)st;
			return nf;
		}
	}
	if (have != 0)
		*err = -1;
	return nf;
}

static void
test_coalesced_and_split(void)
{
	/* three frames of different sizes back to back */
	static const uint8_t stream[] = {
		0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a,
		0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01, 0x07,
		0x00, 0x03, 0x00, 0x00, 0x00, 0x0b, 0x01, 0x10, 0x00, 0x0a, 0x00,
		0x02, 0x04, 0x00, 0x0a, 0x01, 0x02,
	};
	uint16_t tids[8];
	size_t chunk, nf, bad = 0;
	struct mbap_frame f;
	int err;

	nf = drain_stream(stream, sizeof(stream), sizeof(stream), tids, 8, &err);
	ok(nf == 3 && err == 0 && tids[0] == 1 && tids[1] == 2 && tids[2] == 3,
	   "coalesced: three frames in one buffer, tids 1 2 3");
	ok(mbap_frame(stream + 12, sizeof(stream) - 12, &f) == MBAP_OK &&
		   f.consumed == 8 && f.pdu_len == 1 && f.pdu[0] == 0x07,
	   "coalesced: second frame is the 8-byte FC 7 request");
	for (chunk = 1; chunk < sizeof(stream); chunk++) {
		nf = drain_stream(stream, sizeof(stream), chunk, tids, 8, &err);
		if (nf != 3 || err != 0 || tids[0] != 1 || tids[1] != 2 ||
		    tids[2] != 3) {
			diag("chunk %zu: %zu frames, err %d", chunk, nf, err);
			bad++;
		}
	}
	ok(bad == 0, "split: every read size from 1 byte up gives the same 3 frames");
	ok(mbap_frame(stream, 12 + 5, &f) == MBAP_OK && f.consumed == 12,
	   "coalesced with a partial tail: first frame still OK");
	ok(mbap_frame(stream + 12, 5, &f) == MBAP_NEED_MORE && f.needed == 3,
	   "partial tail: NEED_MORE 3");
}

static void
test_errors(void)
{
	uint8_t b[300];
	struct mbap_frame f;

	memcpy(b, read_req, sizeof(read_req));
	b[3] = 0x01;
	ok(mbap_frame(b, sizeof(read_req), &f) == MBAP_ERR_PROTO_ID &&
		   f.proto == 1,
	   "protocol id 1: ERR_PROTO_ID");
	ok(mbap_frame(b, 4, &f) == MBAP_ERR_PROTO_ID,
	   "protocol id seen after 4 bytes: error without waiting for more");
	b[2] = 0xff;
	b[3] = 0x00;
	ok(mbap_frame(b, sizeof(read_req), &f) == MBAP_ERR_PROTO_ID &&
		   f.proto == 0xff00,
	   "protocol id 0xff00: ERR_PROTO_ID");

	memcpy(b, read_req, sizeof(read_req));
	b[4] = 0;
	b[5] = 0;
	ok(mbap_frame(b, 6, &f) == MBAP_ERR_LENGTH, "length 0: ERR_LENGTH");
	b[5] = 1;
	ok(mbap_frame(b, 6, &f) == MBAP_ERR_LENGTH,
	   "length 1 (unit id, no function code): ERR_LENGTH");
	b[5] = 2;
	ok(mbap_frame(b, 8, &f) == MBAP_OK && f.pdu_len == 1 && f.consumed == 8,
	   "length 2: smallest frame is OK");
	memset(b + 7, 0x41, sizeof(b) - 7);
	b[4] = 0;
	b[5] = 254;
	ok(mbap_frame(b, 260, &f) == MBAP_OK && f.pdu_len == 253 &&
		   f.consumed == 260,
	   "length 254: largest frame (253-byte PDU) is OK");
	ok(mbap_frame(b, 259, &f) == MBAP_NEED_MORE && f.needed == 1,
	   "length 254, one byte short: NEED_MORE 1");
	b[5] = 255;
	ok(mbap_frame(b, 6, &f) == MBAP_ERR_LENGTH, "length 255: ERR_LENGTH");
	b[4] = 0xff;
	b[5] = 0xff;
	ok(mbap_frame(b, 6, &f) == MBAP_ERR_LENGTH &&
		   f.length == 0xffff,
	   "length 65535: ERR_LENGTH, not a 64 KiB wait");
	b[4] = 0x01;
	b[5] = 0x00;
	ok(mbap_frame(b, sizeof(b), &f) == MBAP_ERR_LENGTH,
	   "length 256 with 300 bytes buffered: ERR_LENGTH");
	ok(mbap_frame(b, 100, &f) == MBAP_ERR_LENGTH &&
		   mbap_frame(b, 100, &f) == MBAP_ERR_LENGTH,
	   "errors are final: the same bytes never frame later");
}

static void
test_write_header(void)
{
	static const uint8_t want[] = { 0xbe, 0xef, 0x00, 0x00, 0x00, 0x06, 0x2a };
	uint8_t adu[16] = { 0 };
	struct mbap_frame f;

	ok(mbap_write_header(adu, sizeof(adu), 0xbeef, 42, 5) == 7 &&
		   memcmp(adu, want, 7) == 0,
	   "write_header: tid 0xbeef unit 42 pdu 5 -> be ef 00 00 00 06 2a");
	memcpy(adu + 7, read_req + 7, 5);
	ok(mbap_frame(adu, 12, &f) == MBAP_OK && f.tid == 0xbeef &&
		   f.unit == 42 && f.pdu_len == 5,
	   "write_header: the framer reads it back");
	ok(mbap_write_header(adu, sizeof(adu), 1, 1, 0) == -1,
	   "write_header refuses an empty PDU");
	ok(mbap_write_header(adu, sizeof(adu), 1, 1, 254) == -1,
	   "write_header refuses a 254-byte PDU");
	ok(mbap_write_header(adu, 6, 1, 1, 5) == -1,
	   "write_header refuses a 6-byte output");
	ok(mbap_write_header(adu, 7, 1, 1, 253) == 7 && adu[4] == 0 &&
		   adu[5] == 254,
	   "write_header: 253-byte PDU gives length 254");
	ok(strcmp(mbap_strerror(MBAP_ERR_LENGTH),
		  "MBAP length field outside 2..254") == 0,
	   "strerror names the length rule");
}

int
main(void)
{
	plan(31);
	test_whole_frame();
	test_byte_by_byte();
	test_coalesced_and_split();
	test_errors();
	test_write_header();
	return done_testing();
}
