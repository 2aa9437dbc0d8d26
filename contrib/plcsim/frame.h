/*
 * zg-plcsim: Modbus framing helpers.
 *
 * Pure functions over (buf, len): no I/O, no global state, so the framing
 * rules can be read (and tested) on their own.  The simulator does its own
 * non-blocking framing and hands complete, length-checked requests to
 * libmodbus's modbus_reply(), which trusts the lengths it is given.
 */
#ifndef ZG_PLCSIM_FRAME_H
#define ZG_PLCSIM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest ADU of either transport (Modbus/TCP: 7 byte MBAP + 253 PDU). */
#define FRAME_MAX_ADU 260
#define FRAME_MBAP_LEN 7
#define FRAME_RTU_MAX_ADU 256

enum frame_status {
	FRAME_OK,	/* a complete frame of *adu_len bytes is at buf */
	FRAME_NEED,	/* *need more bytes are required to know more */
	FRAME_BAD,	/* the stream cannot be a request: close, never resync */
	FRAME_GAP,	/* RTU only: length unknown, frame ends at line silence */
};

/* What a request asks for, decoded for logging (never for enforcement). */
struct frame_req_info {
	uint8_t fc;
	bool write;		/* changes the register map (5, 6, 15, 16, 22, 23) */
	uint16_t addr;		/* read address, or write address for writes */
	uint16_t qty;		/* read quantity, or write quantity for writes */
	uint16_t waddr;		/* FC 23 only: write address */
	uint16_t wqty;		/* FC 23 only: write quantity */
};

enum frame_status frame_mbap(const uint8_t *buf, size_t len, size_t *adu_len,
			     size_t *need);
enum frame_status frame_rtu_request(const uint8_t *buf, size_t len,
				    size_t *adu_len, size_t *need);
uint16_t frame_crc16(const uint8_t *buf, size_t len);
bool frame_rtu_crc_ok(const uint8_t *adu, size_t len);
void frame_rtu_put_crc(uint8_t *adu, size_t payload_len);
int frame_pdu_check(const uint8_t *pdu, size_t len);
void frame_req_info(const uint8_t *pdu, size_t len,
		    struct frame_req_info *info);
const char *frame_fc_name(uint8_t fc);
bool frame_fc_has_byte_count(uint8_t fc);

#endif /* ZG_PLCSIM_FRAME_H */
