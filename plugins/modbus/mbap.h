/*
 * mbap: framing of a Modbus/TCP byte stream (MODBUS Messaging on TCP/IP
 * Implementation Guide v1.0b, 3.1.3).
 *
 * An ADU is a 7-byte MBAP header followed by a PDU:
 *
 *   0..1 transaction id   2..3 protocol id (0)   4..5 length   6 unit id
 *
 * where `length' counts the unit id and the PDU (2..254: a function code
 * at least, a PDU of 253 bytes at most).  The framer is a pure function
 * over whatever bytes the caller has buffered so far: it never allocates,
 * never reads past `len', and accepts frames split over several reads or
 * several frames in one read.  A framing error is final for the stream:
 * the caller closes the connection, it never resynchronises.
 */
#ifndef ZG_MBAP_H
#define ZG_MBAP_H

#include <stddef.h>
#include <stdint.h>

#define MBAP_HEADER_LEN 7   /* tid, protocol id, length, unit id */
#define MBAP_PDU_MAX 253    /* Modbus PDU limit (serial ADU of 256) */
#define MBAP_ADU_MAX (MBAP_HEADER_LEN + MBAP_PDU_MAX) /* 260 */
#define MBAP_LENGTH_MIN 2   /* unit id + function code */
#define MBAP_LENGTH_MAX (1 + MBAP_PDU_MAX) /* 254 */

enum mbap_status {
	MBAP_OK = 0,        /* a whole frame: see consumed, pdu, pdu_len */
	MBAP_NEED_MORE = 1, /* incomplete: see needed */
	MBAP_ERR_PROTO_ID = 2, /* protocol id is not 0 (not Modbus) */
	MBAP_ERR_LENGTH = 3,   /* length field outside 2..254 */
};

struct mbap_frame {
	uint16_t tid;        /* transaction id */
	uint16_t proto;      /* protocol id (0 on success) */
	uint16_t length;     /* unit id + PDU byte count, as sent */
	uint8_t unit;        /* unit identifier */
	const uint8_t *pdu;  /* into the caller's buffer, borrowed */
	size_t pdu_len;      /* 1..253 */
	size_t consumed;     /* MBAP_OK: bytes of this frame (7 + pdu_len) */
	size_t needed;       /* MBAP_NEED_MORE: bytes still missing */
};

/*
 * Look for one frame at the start of buf[0..len).  Returns MBAP_OK with
 * every field of `out' set, MBAP_NEED_MORE with `needed' set (exact once
 * the length field has arrived, the smallest possible frame before), or an
 * error as soon as the header bytes that prove it are present: the
 * protocol id with 4 bytes, the length with 6.  `buf' may be NULL when
 * len is 0.  The fields of `out' that the bytes seen so far determine are
 * filled in every case; the rest are zero.
 */
enum mbap_status mbap_frame(const uint8_t *buf, size_t len,
			    struct mbap_frame *out);

/*
 * Write a 7-byte MBAP header for a PDU of pdu_len bytes into out.
 * Refuses (returns -1) pdu_len outside 1..253 and outlen < 7; returns 7.
 */
int mbap_write_header(uint8_t *out, size_t outlen, uint16_t tid, uint8_t unit,
		      size_t pdu_len);

/* A short static description of a status, for logs. */
const char *mbap_strerror(enum mbap_status st);

#endif /* ZG_MBAP_H */
