/*
 * pdu: the Modbus application layer (MODBUS Application Protocol
 * Specification v1.1b3) as pure functions over (buf, len), for the proxy's
 * hot path: classify and strictly validate a request PDU, re-originate it
 * from its parsed fields, check the device's response against the request
 * it answers, build exception responses and describe a request in one line.
 *
 * Nothing here allocates, does I/O or keeps state between calls.  Every
 * function reads at most `len' bytes of its input and writes at most the
 * stated size of its output.
 *
 *   pdu.c       request classifier/parser, re-origination, exceptions
 *   response.c  response validation
 *   describe.c  one-line descriptions for events and logs
 */
#ifndef ZG_MB_PDU_H
#define ZG_MB_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zonegate/policy.h>

#define MB_PDU_MAX 253          /* function code + up to 252 data bytes */
#define MB_DATA_MAX (MB_PDU_MAX - 1)
#define MB_READ_BITS_MAX 2000   /* FC 1, 2 */
#define MB_READ_REGS_MAX 125    /* FC 3, 4, 23 (read part) */
#define MB_WRITE_BITS_MAX 1968  /* FC 15 */
#define MB_WRITE_REGS_MAX 123   /* FC 16 */
#define MB_RW_WRITE_REGS_MAX 121 /* FC 23 (write part) */
#define MB_FILE_REFS_MAX 35     /* FC 20: 245 / 7 sub-requests */
#define MB_FILE_RECORD_MAX 9999 /* FC 20/21 record numbers 0..9999 */
#define MB_FIFO_MAX 31          /* FC 24 */

/* Function codes this layer knows. */
enum mb_fc {
	MB_FC_READ_COILS = 1,
	MB_FC_READ_DISCRETE = 2,
	MB_FC_READ_HOLDING = 3,
	MB_FC_READ_INPUT = 4,
	MB_FC_WRITE_COIL = 5,
	MB_FC_WRITE_REGISTER = 6,
	MB_FC_READ_EXCEPTION_STATUS = 7,
	MB_FC_DIAGNOSTICS = 8,
	MB_FC_COMM_EVENT_COUNTER = 11,
	MB_FC_COMM_EVENT_LOG = 12,
	MB_FC_WRITE_COILS = 15,
	MB_FC_WRITE_REGISTERS = 16,
	MB_FC_REPORT_SERVER_ID = 17,
	MB_FC_READ_FILE = 20,
	MB_FC_WRITE_FILE = 21,
	MB_FC_MASK_WRITE = 22,
	MB_FC_READ_WRITE_REGISTERS = 23,
	MB_FC_READ_FIFO = 24,
	MB_FC_ENCAPSULATED = 43,
};

/* FC 8 sub-functions with a meaning in v1.1b3 (the others are reserved). */
enum mb_diag {
	MB_DIAG_RETURN_QUERY_DATA = 0x00,
	MB_DIAG_RESTART_COMM = 0x01,
	MB_DIAG_DIAGNOSTIC_REGISTER = 0x02,
	MB_DIAG_ASCII_DELIMITER = 0x03,
	MB_DIAG_FORCE_LISTEN_ONLY = 0x04,
	MB_DIAG_CLEAR_COUNTERS = 0x0a,
	/* 0x0b..0x12: return a counter */
	MB_DIAG_CLEAR_OVERRUN = 0x14,
};

/* FC 43 MEI types. */
enum mb_mei {
	MB_MEI_CANOPEN = 13,
	MB_MEI_DEVICE_ID = 14,
};

/* Exception codes (v1.1b3, 7 "Exception Responses"). */
enum mb_exception {
	MB_EX_ILLEGAL_FUNCTION = 0x01,
	MB_EX_ILLEGAL_DATA_ADDRESS = 0x02,
	MB_EX_ILLEGAL_DATA_VALUE = 0x03,
	MB_EX_SERVER_DEVICE_FAILURE = 0x04,
	MB_EX_ACKNOWLEDGE = 0x05,
	MB_EX_SERVER_DEVICE_BUSY = 0x06,
	MB_EX_MEMORY_PARITY_ERROR = 0x08,
	MB_EX_GATEWAY_PATH_UNAVAILABLE = 0x0a,
	MB_EX_GATEWAY_TARGET_NO_RESPONSE = 0x0b,
};

/*
 * Result of classifying a request.  The non-zero values equal the
 * exception code a server answers with, so the proxy can pass them to
 * mb_build_exception() unchanged.
 */
enum mb_result {
	MB_OK = 0,
	/*
	 * The function code (or the FC 8 sub-function, or the FC 43 MEI
	 * type) is not one this layer understands.  fc, subfn and mei are
	 * still reported so that policy can deny it with a reason; the rest
	 * of the PDU is kept, unparsed, in `data' (req->opaque is set) so a
	 * policy that names the code explicitly can still have it
	 * re-originated.  No span is reported.
	 */
	MB_ILLEGAL_FUNCTION = MB_EX_ILLEGAL_FUNCTION,
	/* address + quantity beyond 65536, or file records beyond 9999 */
	MB_ILLEGAL_DATA_ADDRESS = MB_EX_ILLEGAL_DATA_ADDRESS,
	/* malformed: wrong length, quantity or byte count, illegal value */
	MB_ILLEGAL_DATA_VALUE = MB_EX_ILLEGAL_DATA_VALUE,
};

/* Result of checking a response against its request. */
enum mb_resp {
	MB_RESP_OK = 0,        /* a well-formed normal response */
	MB_RESP_EXCEPTION = 1, /* fc|0x80 + a valid exception code: pdu[1] */
	MB_RESP_MALFORMED = 2, /* anything else: never forward it */
};

/* One FC 20/21 sub-request (reference type 6 is implied). */
struct mb_file_ref {
	uint16_t file;   /* file number, 1..65535 */
	uint16_t record; /* first record, 0..9999 */
	uint16_t len;    /* record length in registers, >= 1 */
};

/*
 * A parsed request: everything needed to re-originate it, and nothing
 * borrowed from the PDU it came from.  Which fields are meaningful depends
 * on fc:
 *
 *   1, 2, 3, 4     addr, qty
 *   5              addr, value (0x0000 or 0xFF00)
 *   6              addr, regs[0] (nregs = 1)
 *   8              subfn; value (the data word) except for sub-function
 *                  0, whose query data is data[0..ndata)
 *   15             addr, qty, data[0..ndata): packed coils, unused bits 0
 *   16             addr, qty, regs[0..nregs), nregs = qty
 *   20             file[0..nfile)
 *   21             file[0..nfile), regs[]: the records' data in order
 *   22             addr, and_mask, or_mask
 *   23             addr, qty (read); waddr, wqty, regs[0..wqty) (write)
 *   24             addr (FIFO pointer address)
 *   43             mei; 13: data[0..ndata); 14: devid_code, object_id
 *   opaque         data[0..ndata): the bytes after fc (after subfn for
 *                  FC 8, after the MEI type for FC 43)
 *
 * A struct filled by hand (a poller building its own requests) must be
 * zeroed first; mb_build_request() validates it like a parsed one.  A
 * hand-built request for a code this layer does not know sets opaque and
 * result = MB_ILLEGAL_FUNCTION, exactly as the parser would.
 * About 750 bytes: callers keep one per outstanding transaction.
 */
struct mb_request {
	uint8_t unit;
	uint8_t fc;
	uint8_t result;      /* enum mb_result of mb_parse_request() */
	bool opaque;         /* not understood: see MB_ILLEGAL_FUNCTION */
	const char *why;     /* static text: the rule a bad request broke */
	uint16_t addr;
	uint16_t qty;
	uint16_t waddr;
	uint16_t wqty;
	uint16_t value;
	uint16_t and_mask;
	uint16_t or_mask;
	uint16_t subfn;
	uint8_t mei;
	uint8_t devid_code;  /* FC 43/14: 1 basic .. 4 one object */
	uint8_t object_id;
	uint8_t nfile;
	struct mb_file_ref file[MB_FILE_REFS_MAX];
	uint16_t nregs;
	uint16_t regs[MB_WRITE_REGS_MAX];
	uint16_t ndata;
	uint8_t data[MB_DATA_MAX];
};

/*
 * Classify and parse the request PDU pdu[0..len) addressed to `unit'.
 * The function code is classified first; only a code this layer knows has
 * its length checked strictly and its fields decoded.  `req' is always
 * overwritten (fc is set whenever len >= 1, and req->why names the broken
 * rule on failure).  When op is not NULL, op->proto and op->u.modbus are
 * filled by mb_request_op() and the other fields of op are left alone;
 * op->u.modbus.values then points into req->regs, so req must outlive op.
 */
enum mb_result mb_parse_request(const uint8_t *pdu, size_t len, uint8_t unit,
				struct mb_request *req, struct zg_op *op);

/*
 * Describe req for the policy engine: unit, fc, subfn (FC 8), mei
 * (FC 43), the table spans it touches (none unless req->result is MB_OK)
 * and the register values a write would store (FC 6, 16, 23; borrowed
 * from req->regs).  FC 23 gives a READ and a WRITE span of holding
 * registers, FC 22 a WRITE of one holding register, FC 24 a READ of the
 * 32 registers from the FIFO pointer on (its answer carries up to 31
 * queued values besides the count).
 */
void mb_request_op(const struct mb_request *req, struct zg_modbus_op *mop);

/*
 * Serialise req as a request PDU into out[0..outlen) from its fields only
 * (never from the bytes it was parsed from).  Returns the PDU length
 * (1..253), or -1 when req would not parse back as MB_OK (or as the same
 * opaque request), or outlen is too small.  Unused bits of FC 15 coil
 * data are written as 0.
 */
int mb_build_request(const struct mb_request *req, uint8_t *out,
		     size_t outlen);

/*
 * Write the 2-byte exception response fc|0x80, code into out.  Returns 2,
 * or -1 (nothing written) for a code outside the v1.1b3 list
 * (1, 2, 3, 4, 5, 6, 8, 10, 11).
 */
int mb_build_exception(uint8_t fc, uint8_t code, uint8_t *out);

/* Whether code is an exception code defined by v1.1b3. */
bool mb_exception_valid(uint8_t code);

/*
 * Check the response PDU pdu[0..len) against the request it answers (req
 * as parsed, or as built).  Returns MB_RESP_EXCEPTION for a 2-byte
 * exception response to req->fc carrying a defined code, MB_RESP_OK for a
 * normal response whose length, byte count and echoed fields match req,
 * MB_RESP_MALFORMED otherwise; *why (when why is not NULL) is then set to a
 * static text naming the rule.  For an opaque request only the function
 * code (and the FC 8 sub-function / FC 43 MEI type) can be checked.
 */
enum mb_resp mb_check_response(const struct mb_request *req,
			       const uint8_t *pdu, size_t len,
			       const char **why);

/* "read holding registers" for a code this layer knows, NULL otherwise. */
const char *mb_fc_name(uint8_t fc);

/* A static text for r, for logs and verdict reasons. */
const char *mb_result_str(enum mb_result r);

/*
 * One line for events and logs, e.g. "FC16 write holding 10..14 (5 regs)
 * unit 1".  Like snprintf: writes at most len bytes, always NUL-terminated
 * when len > 0, and returns the length the whole line needs.
 */
int mb_describe(const struct mb_request *req, char *buf, size_t len);

#endif /* ZG_MB_PDU_H */
