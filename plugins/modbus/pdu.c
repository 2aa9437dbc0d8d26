/*
 * pdu.c: request classification, strict parsing and re-origination (see
 * pdu.h).
 *
 * Each function code this layer knows has one row in fc_table: a parser
 * (exact length, decoding, byte counts), a validator of the decoded fields
 * (quantities, values, address ranges) shared by the parser and the
 * builder, and a builder.  Because the builder runs the same validator,
 * mb_build_request() can only emit what mb_parse_request() accepts.
 *
 * Order of the checks, as in the state diagrams of v1.1b3 section 6: the
 * function code (exception 1), then the length, quantities, byte counts
 * and values (exception 3), then the address range (exception 2).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "plugins/modbus/be16.h"
#include "plugins/modbus/pdu.h"

#define FILE_REF_TYPE 6   /* the only FC 20/21 reference type */
#define FILE_SUBREQ_LEN 7 /* ref type, file, record, length */

struct fc_class {
	const char *name;
	/* d[0..n): the bytes after the function code */
	enum mb_result (*parse)(struct mb_request *r, const uint8_t *d,
				size_t n);
	enum mb_result (*valid)(const struct mb_request *r, const char **why);
	/* writes the bytes after the function code, returns their count */
	size_t (*build)(const struct mb_request *r, uint8_t *d);
};

static enum mb_result
fail(const char **why, enum mb_result res, const char *text)
{
	if (why != NULL)
		*why = text;
	return res;
}

/* Whether addr..addr+qty-1 stays inside the 16-bit address space. */
static bool
span_fits(uint16_t addr, uint16_t qty)
{
	return (uint32_t)addr + qty <= 0x10000u;
}

static size_t
coil_bytes(uint16_t qty)
{
	return ((size_t)qty + 7) / 8;
}

/* Zero the unused high bits of the last byte of packed coil data. */
static uint8_t
coil_last_mask(uint16_t qty)
{
	unsigned used = qty % 8;

	return used == 0 ? 0xff : (uint8_t)((1u << used) - 1);
}

/* ------------------------------------------------------------------ */
/* FC 1, 2, 3, 4: reads of a span                                      */

static uint16_t
read_max(uint8_t fc)
{
	return fc <= MB_FC_READ_DISCRETE ? MB_READ_BITS_MAX : MB_READ_REGS_MAX;
}

/*
 * Accepts 1..2000 coils/inputs or 1..125 registers whose last address is
 * at most 65535; a larger quantity would not fit a 253-byte response.
 */
static enum mb_result
valid_read(const struct mb_request *r, const char **why)
{
	if (r->qty < 1 || r->qty > read_max(r->fc))
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    r->fc <= MB_FC_READ_DISCRETE ?
				    "quantity outside 1..2000" :
				    "quantity outside 1..125");
	if (!span_fits(r->addr, r->qty))
		return fail(why, MB_ILLEGAL_DATA_ADDRESS,
			    "address + quantity beyond 65536");
	return MB_OK;
}

static enum mb_result
parse_read(struct mb_request *r, const uint8_t *d, size_t n)
{
	if (n != 4)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length is not 5 bytes");
	r->addr = be16_get(d);
	r->qty = be16_get(d + 2);
	return valid_read(r, &r->why);
}

static size_t
build_addr_qty(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->addr);
	be16_put(d + 2, r->qty);
	return 4;
}

/* ------------------------------------------------------------------ */
/* FC 5, 6: single writes                                              */

/* Accepts only the two values v1.1b3 defines: 0xFF00 ON, 0x0000 OFF. */
static enum mb_result
valid_write_coil(const struct mb_request *r, const char **why)
{
	if (r->value != 0x0000 && r->value != 0xff00)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "coil value is neither 0x0000 nor 0xFF00");
	return MB_OK;
}

static enum mb_result
parse_write_coil(struct mb_request *r, const uint8_t *d, size_t n)
{
	if (n != 4)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length is not 5 bytes");
	r->addr = be16_get(d);
	r->value = be16_get(d + 2);
	return valid_write_coil(r, &r->why);
}

static size_t
build_write_coil(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->addr);
	be16_put(d + 2, r->value);
	return 4;
}

/* Any value; the register travels in regs[0] so policy sees it. */
static enum mb_result
valid_write_reg(const struct mb_request *r, const char **why)
{
	if (r->nregs != 1)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "single register write without exactly one value");
	return MB_OK;
}

static enum mb_result
parse_write_reg(struct mb_request *r, const uint8_t *d, size_t n)
{
	if (n != 4)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length is not 5 bytes");
	r->addr = be16_get(d);
	r->regs[0] = be16_get(d + 2);
	r->nregs = 1;
	return MB_OK;
}

static size_t
build_write_reg(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->addr);
	be16_put(d + 2, r->regs[0]);
	return 4;
}

/* ------------------------------------------------------------------ */
/* FC 7, 11, 12, 17: a function code alone                             */

static enum mb_result
parse_noarg(struct mb_request *r, const uint8_t *d, size_t n)
{
	(void)d;
	if (n != 0)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length is not 1 byte");
	return MB_OK;
}

static enum mb_result
valid_none(const struct mb_request *r, const char **why)
{
	(void)r;
	(void)why;
	return MB_OK;
}

static size_t
build_none(const struct mb_request *r, uint8_t *d)
{
	(void)r;
	(void)d;
	return 0;
}

/* ------------------------------------------------------------------ */
/* FC 8: diagnostics                                                   */

/* Sub-functions defined by v1.1b3 that carry one data word. */
static bool
diag_word(uint16_t subfn)
{
	return (subfn >= MB_DIAG_RESTART_COMM &&
		subfn <= MB_DIAG_FORCE_LISTEN_ONLY) ||
	       (subfn >= MB_DIAG_CLEAR_COUNTERS && subfn <= 0x12) ||
	       subfn == MB_DIAG_CLEAR_OVERRUN;
}

static bool
diag_known(uint16_t subfn)
{
	return subfn == MB_DIAG_RETURN_QUERY_DATA || diag_word(subfn);
}

/*
 * Accepts the data each defined sub-function allows: query data of 1..125
 * words for 0x00, 0x0000/0xFF00 for 0x01 (restart, keep or clear the log),
 * a delimiter character in the high byte for 0x03, and 0x0000 for the
 * others.  Reserved sub-functions never reach here (they are opaque).
 */
static enum mb_result
valid_diag(const struct mb_request *r, const char **why)
{
	switch (r->subfn) {
	case MB_DIAG_RETURN_QUERY_DATA:
		if (r->ndata < 2 || r->ndata > MB_DATA_MAX - 2 ||
		    r->ndata % 2 != 0)
			return fail(why, MB_ILLEGAL_DATA_VALUE,
				    "query data is not 1..125 words");
		return MB_OK;
	case MB_DIAG_RESTART_COMM:
		if (r->value != 0x0000 && r->value != 0xff00)
			return fail(why, MB_ILLEGAL_DATA_VALUE,
				    "restart data is neither 0x0000 nor 0xFF00");
		return MB_OK;
	case MB_DIAG_ASCII_DELIMITER:
		if ((r->value & 0xff) != 0)
			return fail(why, MB_ILLEGAL_DATA_VALUE,
				    "delimiter data low byte is not 0");
		return MB_OK;
	default:
		if (r->value != 0)
			return fail(why, MB_ILLEGAL_DATA_VALUE,
				    "diagnostics data is not 0x0000");
		return MB_OK;
	}
}

static enum mb_result
parse_diag(struct mb_request *r, const uint8_t *d, size_t n)
{
	if (n < 2)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "diagnostics PDU shorter than 3 bytes");
	r->subfn = be16_get(d);
	if (!diag_known(r->subfn)) {
		r->opaque = true;
		r->ndata = (uint16_t)(n - 2);
		memcpy(r->data, d + 2, n - 2);
		return fail(&r->why, MB_ILLEGAL_FUNCTION,
			    "reserved diagnostics sub-function");
	}
	if (r->subfn == MB_DIAG_RETURN_QUERY_DATA) {
		r->ndata = (uint16_t)(n - 2);
		memcpy(r->data, d + 2, n - 2);
	} else {
		if (n != 4)
			return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
				    "PDU length is not 5 bytes");
		r->value = be16_get(d + 2);
	}
	return valid_diag(r, &r->why);
}

static size_t
build_diag(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->subfn);
	if (r->subfn == MB_DIAG_RETURN_QUERY_DATA) {
		memcpy(d + 2, r->data, r->ndata);
		return 2 + (size_t)r->ndata;
	}
	be16_put(d + 2, r->value);
	return 4;
}

/* ------------------------------------------------------------------ */
/* FC 15, 16: multiple writes                                          */

/* Accepts 1..1968 coils in exactly ceil(qty/8) bytes inside 0..65535. */
static enum mb_result
valid_write_coils(const struct mb_request *r, const char **why)
{
	if (r->qty < 1 || r->qty > MB_WRITE_BITS_MAX)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "quantity outside 1..1968");
	if (r->ndata != coil_bytes(r->qty))
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "byte count is not ceil(quantity / 8)");
	if (!span_fits(r->addr, r->qty))
		return fail(why, MB_ILLEGAL_DATA_ADDRESS,
			    "address + quantity beyond 65536");
	return MB_OK;
}

static enum mb_result
parse_write_coils(struct mb_request *r, const uint8_t *d, size_t n)
{
	enum mb_result res;

	if (n < 5 || n != 5 + (size_t)d[4])
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length does not match its byte count");
	r->addr = be16_get(d);
	r->qty = be16_get(d + 2);
	r->ndata = d[4];
	memcpy(r->data, d + 5, r->ndata);
	res = valid_write_coils(r, &r->why);
	if (res == MB_OK)
		r->data[r->ndata - 1] &= coil_last_mask(r->qty);
	return res;
}

static size_t
build_write_coils(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->addr);
	be16_put(d + 2, r->qty);
	d[4] = (uint8_t)r->ndata;
	memcpy(d + 5, r->data, r->ndata);
	d[4 + r->ndata] &= coil_last_mask(r->qty);
	return 5 + (size_t)r->ndata;
}

/* Accepts 1..123 registers (2 bytes each) inside 0..65535. */
static enum mb_result
valid_write_regs(const struct mb_request *r, const char **why)
{
	if (r->qty < 1 || r->qty > MB_WRITE_REGS_MAX)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "quantity outside 1..123");
	if (r->nregs != r->qty)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "byte count is not 2 x quantity");
	if (!span_fits(r->addr, r->qty))
		return fail(why, MB_ILLEGAL_DATA_ADDRESS,
			    "address + quantity beyond 65536");
	return MB_OK;
}

static enum mb_result
parse_write_regs(struct mb_request *r, const uint8_t *d, size_t n)
{
	size_t i, bc;

	if (n < 5 || n != 5 + (size_t)d[4])
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length does not match its byte count");
	r->addr = be16_get(d);
	r->qty = be16_get(d + 2);
	bc = d[4];
	if (bc % 2 != 0 || bc / 2 > MB_WRITE_REGS_MAX)
		r->nregs = 0xffff; /* can never equal a valid quantity */
	else {
		r->nregs = (uint16_t)(bc / 2);
		for (i = 0; i < r->nregs; i++)
			r->regs[i] = be16_get(d + 5 + 2 * i);
	}
	return valid_write_regs(r, &r->why);
}

static size_t
build_regs(const uint16_t *regs, size_t nregs, uint8_t *d)
{
	size_t i;

	for (i = 0; i < nregs; i++)
		be16_put(d + 2 * i, regs[i]);
	return 2 * nregs;
}

static size_t
build_write_regs(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->addr);
	be16_put(d + 2, r->qty);
	d[4] = (uint8_t)(2 * r->qty);
	return 5 + build_regs(r->regs, r->qty, d + 5);
}

/* ------------------------------------------------------------------ */
/* FC 20, 21: file records                                             */

/*
 * Accepts sub-requests naming file 1..65535, records inside 0..9999 and
 * at least one register each.  Shared by FC 20 and 21.
 */
static enum mb_result
valid_file_refs(const struct mb_request *r, const char **why)
{
	size_t i;

	if (r->nfile < 1 || r->nfile > MB_FILE_REFS_MAX)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "no or too many file sub-requests");
	for (i = 0; i < r->nfile; i++)
		if (r->file[i].len < 1)
			return fail(why, MB_ILLEGAL_DATA_VALUE,
				    "file record length is 0");
	for (i = 0; i < r->nfile; i++) {
		if (r->file[i].file == 0)
			return fail(why, MB_ILLEGAL_DATA_ADDRESS,
				    "file number 0");
		if ((uint32_t)r->file[i].record + r->file[i].len >
		    MB_FILE_RECORD_MAX + 1)
			return fail(why, MB_ILLEGAL_DATA_ADDRESS,
				    "file records beyond 9999");
	}
	return MB_OK;
}

/*
 * FC 20 also refuses requests whose response could not fit a PDU: each
 * sub-response takes 2 bytes plus 2 per register, after fc and length.
 */
static enum mb_result
valid_read_file(const struct mb_request *r, const char **why)
{
	uint32_t resp = 2;
	size_t i;

	for (i = 0; i < r->nfile && i < MB_FILE_REFS_MAX; i++)
		resp += 2 + 2 * (uint32_t)r->file[i].len;
	if (r->nfile >= 1 && r->nfile <= MB_FILE_REFS_MAX && resp > MB_PDU_MAX)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "file records would not fit a response");
	return valid_file_refs(r, why);
}

static void
decode_file_ref(struct mb_file_ref *f, const uint8_t *p)
{
	f->file = be16_get(p + 1);
	f->record = be16_get(p + 3);
	f->len = be16_get(p + 5);
}

static void
encode_file_ref(const struct mb_file_ref *f, uint8_t *p)
{
	p[0] = FILE_REF_TYPE;
	be16_put(p + 1, f->file);
	be16_put(p + 3, f->record);
	be16_put(p + 5, f->len);
}

static enum mb_result
parse_read_file(struct mb_request *r, const uint8_t *d, size_t n)
{
	size_t bc, i;

	if (n < 1 || n != 1 + (size_t)d[0])
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length does not match its byte count");
	bc = d[0];
	if (bc < FILE_SUBREQ_LEN || bc > FILE_SUBREQ_LEN * MB_FILE_REFS_MAX ||
	    bc % FILE_SUBREQ_LEN != 0)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "byte count is not 7..245 in steps of 7");
	r->nfile = (uint8_t)(bc / FILE_SUBREQ_LEN);
	for (i = 0; i < r->nfile; i++) {
		const uint8_t *p = d + 1 + FILE_SUBREQ_LEN * i;

		if (p[0] != FILE_REF_TYPE)
			return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
				    "file reference type is not 6");
		decode_file_ref(&r->file[i], p);
	}
	return valid_read_file(r, &r->why);
}

static size_t
build_read_file(const struct mb_request *r, uint8_t *d)
{
	size_t i;

	d[0] = (uint8_t)(FILE_SUBREQ_LEN * r->nfile);
	for (i = 0; i < r->nfile; i++)
		encode_file_ref(&r->file[i], d + 1 + FILE_SUBREQ_LEN * i);
	return 1 + FILE_SUBREQ_LEN * (size_t)r->nfile;
}

/*
 * FC 21: the records' data is in regs[], in sub-request order, and the
 * whole request must fit a PDU (request data length 9..251).
 */
static enum mb_result
valid_write_file(const struct mb_request *r, const char **why)
{
	uint32_t regs = 0, bytes = 0;
	size_t i;

	for (i = 0; i < r->nfile && i < MB_FILE_REFS_MAX; i++) {
		regs += r->file[i].len;
		bytes += FILE_SUBREQ_LEN + 2 * (uint32_t)r->file[i].len;
	}
	if (bytes > MB_DATA_MAX - 1 || regs != r->nregs)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "file record data does not fit a request");
	return valid_file_refs(r, why);
}

static enum mb_result
parse_write_file(struct mb_request *r, const uint8_t *d, size_t n)
{
	size_t bc, p;

	if (n < 1 || n != 1 + (size_t)d[0])
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length does not match its byte count");
	bc = d[0];
	if (bc < FILE_SUBREQ_LEN + 2)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "request data length below 9");
	for (p = 1; p < n;) {
		struct mb_file_ref *f;
		size_t i;

		if (n - p < FILE_SUBREQ_LEN)
			return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
				    "file sub-request truncated");
		if (d[p] != FILE_REF_TYPE)
			return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
				    "file reference type is not 6");
		if (r->nfile == MB_FILE_REFS_MAX)
			return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
				    "no or too many file sub-requests");
		f = &r->file[r->nfile++];
		decode_file_ref(f, d + p);
		p += FILE_SUBREQ_LEN;
		if (f->len < 1)
			return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
				    "file record length is 0");
		if ((n - p) / 2 < f->len ||
		    r->nregs + (size_t)f->len > MB_WRITE_REGS_MAX)
			return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
				    "file record data truncated");
		for (i = 0; i < f->len; i++, p += 2)
			r->regs[r->nregs++] = be16_get(d + p);
	}
	return valid_write_file(r, &r->why);
}

static size_t
build_write_file(const struct mb_request *r, uint8_t *d)
{
	size_t i, p = 1, reg = 0;

	for (i = 0; i < r->nfile; i++) {
		encode_file_ref(&r->file[i], d + p);
		p += FILE_SUBREQ_LEN;
		p += build_regs(r->regs + reg, r->file[i].len, d + p);
		reg += r->file[i].len;
	}
	d[0] = (uint8_t)(p - 1);
	return p;
}

/* ------------------------------------------------------------------ */
/* FC 22, 23, 24                                                       */

static enum mb_result
parse_mask_write(struct mb_request *r, const uint8_t *d, size_t n)
{
	if (n != 6)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length is not 7 bytes");
	r->addr = be16_get(d);
	r->and_mask = be16_get(d + 2);
	r->or_mask = be16_get(d + 4);
	return MB_OK;
}

static size_t
build_mask_write(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->addr);
	be16_put(d + 2, r->and_mask);
	be16_put(d + 4, r->or_mask);
	return 6;
}

/*
 * FC 23 accepts a read of 1..125 and a write of 1..121 holding registers
 * (so that each half fits a PDU), both inside 0..65535.
 */
static enum mb_result
valid_read_write(const struct mb_request *r, const char **why)
{
	if (r->qty < 1 || r->qty > MB_READ_REGS_MAX)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "read quantity outside 1..125");
	if (r->wqty < 1 || r->wqty > MB_RW_WRITE_REGS_MAX)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "write quantity outside 1..121");
	if (r->nregs != r->wqty)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "byte count is not 2 x write quantity");
	if (!span_fits(r->addr, r->qty))
		return fail(why, MB_ILLEGAL_DATA_ADDRESS,
			    "read address + quantity beyond 65536");
	if (!span_fits(r->waddr, r->wqty))
		return fail(why, MB_ILLEGAL_DATA_ADDRESS,
			    "write address + quantity beyond 65536");
	return MB_OK;
}

static enum mb_result
parse_read_write(struct mb_request *r, const uint8_t *d, size_t n)
{
	size_t i, bc;

	if (n < 9 || n != 9 + (size_t)d[8])
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length does not match its byte count");
	r->addr = be16_get(d);
	r->qty = be16_get(d + 2);
	r->waddr = be16_get(d + 4);
	r->wqty = be16_get(d + 6);
	bc = d[8];
	if (bc % 2 != 0 || bc / 2 > MB_RW_WRITE_REGS_MAX)
		r->nregs = 0xffff; /* can never equal a valid quantity */
	else {
		r->nregs = (uint16_t)(bc / 2);
		for (i = 0; i < r->nregs; i++)
			r->regs[i] = be16_get(d + 9 + 2 * i);
	}
	return valid_read_write(r, &r->why);
}

static size_t
build_read_write(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->addr);
	be16_put(d + 2, r->qty);
	be16_put(d + 4, r->waddr);
	be16_put(d + 6, r->wqty);
	d[8] = (uint8_t)(2 * r->wqty);
	return 9 + build_regs(r->regs, r->wqty, d + 9);
}

static enum mb_result
parse_fifo(struct mb_request *r, const uint8_t *d, size_t n)
{
	if (n != 2)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length is not 3 bytes");
	r->addr = be16_get(d);
	return MB_OK;
}

static size_t
build_fifo(const struct mb_request *r, uint8_t *d)
{
	be16_put(d, r->addr);
	return 2;
}

/* ------------------------------------------------------------------ */
/* FC 43: encapsulated interface transport                             */

static bool
mei_known(uint8_t mei)
{
	return mei == MB_MEI_CANOPEN || mei == MB_MEI_DEVICE_ID;
}

/*
 * MEI 13 carries a CANopen request this layer does not look into (policy
 * decides it by MEI type alone); MEI 14 accepts read device id codes 1..4
 * (basic, regular, extended, one object) and any object id.
 */
static enum mb_result
valid_mei(const struct mb_request *r, const char **why)
{
	if (r->mei == MB_MEI_DEVICE_ID &&
	    (r->devid_code < 1 || r->devid_code > 4))
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "read device id code outside 1..4");
	if (r->mei == MB_MEI_CANOPEN && r->ndata > MB_DATA_MAX - 1)
		return fail(why, MB_ILLEGAL_DATA_VALUE,
			    "CANopen data longer than 251 bytes");
	return MB_OK;
}

static enum mb_result
parse_mei(struct mb_request *r, const uint8_t *d, size_t n)
{
	if (n < 1)
		return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
			    "PDU length is below 2 bytes");
	r->mei = d[0];
	if (!mei_known(r->mei)) {
		r->opaque = true;
		r->ndata = (uint16_t)(n - 1);
		memcpy(r->data, d + 1, n - 1);
		return fail(&r->why, MB_ILLEGAL_FUNCTION, "reserved MEI type");
	}
	if (r->mei == MB_MEI_CANOPEN) {
		r->ndata = (uint16_t)(n - 1);
		memcpy(r->data, d + 1, n - 1);
	} else {
		if (n != 3)
			return fail(&r->why, MB_ILLEGAL_DATA_VALUE,
				    "PDU length is not 4 bytes");
		r->devid_code = d[1];
		r->object_id = d[2];
	}
	return valid_mei(r, &r->why);
}

static size_t
build_mei(const struct mb_request *r, uint8_t *d)
{
	d[0] = r->mei;
	if (r->mei == MB_MEI_CANOPEN) {
		memcpy(d + 1, r->data, r->ndata);
		return 1 + (size_t)r->ndata;
	}
	d[1] = r->devid_code;
	d[2] = r->object_id;
	return 3;
}

/* ------------------------------------------------------------------ */

static const struct fc_class fc_table[128] = {
	[MB_FC_READ_COILS] = { "read coils", parse_read, valid_read,
			       build_addr_qty },
	[MB_FC_READ_DISCRETE] = { "read discrete inputs", parse_read,
				  valid_read, build_addr_qty },
	[MB_FC_READ_HOLDING] = { "read holding registers", parse_read,
				 valid_read, build_addr_qty },
	[MB_FC_READ_INPUT] = { "read input registers", parse_read, valid_read,
			       build_addr_qty },
	[MB_FC_WRITE_COIL] = { "write single coil", parse_write_coil,
			       valid_write_coil, build_write_coil },
	[MB_FC_WRITE_REGISTER] = { "write single register", parse_write_reg,
				   valid_write_reg, build_write_reg },
	[MB_FC_READ_EXCEPTION_STATUS] = { "read exception status",
					  parse_noarg, valid_none,
					  build_none },
	[MB_FC_DIAGNOSTICS] = { "diagnostics", parse_diag, valid_diag,
				build_diag },
	[MB_FC_COMM_EVENT_COUNTER] = { "get comm event counter", parse_noarg,
				       valid_none, build_none },
	[MB_FC_COMM_EVENT_LOG] = { "get comm event log", parse_noarg,
				   valid_none, build_none },
	[MB_FC_WRITE_COILS] = { "write multiple coils", parse_write_coils,
				valid_write_coils, build_write_coils },
	[MB_FC_WRITE_REGISTERS] = { "write multiple registers",
				    parse_write_regs, valid_write_regs,
				    build_write_regs },
	[MB_FC_REPORT_SERVER_ID] = { "report server id", parse_noarg,
				     valid_none, build_none },
	[MB_FC_READ_FILE] = { "read file record", parse_read_file,
			      valid_read_file, build_read_file },
	[MB_FC_WRITE_FILE] = { "write file record", parse_write_file,
			       valid_write_file, build_write_file },
	[MB_FC_MASK_WRITE] = { "mask write register", parse_mask_write,
			       valid_none, build_mask_write },
	[MB_FC_READ_WRITE_REGISTERS] = { "read/write multiple registers",
					 parse_read_write, valid_read_write,
					 build_read_write },
	[MB_FC_READ_FIFO] = { "read FIFO queue", parse_fifo, valid_none,
			      build_fifo },
	[MB_FC_ENCAPSULATED] = { "encapsulated interface transport",
				 parse_mei, valid_mei, build_mei },
};

static const struct fc_class *
fc_class(uint8_t fc)
{
	if (fc >= 128 || fc_table[fc].parse == NULL)
		return NULL;
	return &fc_table[fc];
}

const char *
mb_fc_name(uint8_t fc)
{
	const struct fc_class *c = fc_class(fc);

	return c != NULL ? c->name : NULL;
}

const char *
mb_result_str(enum mb_result r)
{
	switch (r) {
	case MB_OK:
		return "valid request";
	case MB_ILLEGAL_FUNCTION:
		return "unsupported function code";
	case MB_ILLEGAL_DATA_ADDRESS:
		return "address out of range";
	case MB_ILLEGAL_DATA_VALUE:
		return "malformed request";
	}
	return "unknown result";
}

/*
 * Accepts any PDU of 1..253 bytes for classification.  An empty PDU or one
 * longer than the Modbus limit is malformed whatever its function code.
 * A code this layer does not know (including 0 and the exception range
 * 0x80..0xFF, which no request may use) is reported as
 * MB_ILLEGAL_FUNCTION with its bytes kept opaque: it is never decoded.
 */
enum mb_result
mb_parse_request(const uint8_t *pdu, size_t len, uint8_t unit,
		 struct mb_request *req, struct zg_op *op)
{
	const struct fc_class *c;
	enum mb_result res;

	memset(req, 0, sizeof(*req));
	req->unit = unit;
	if (len >= 1)
		req->fc = pdu[0];
	if (len < 1 || len > MB_PDU_MAX) {
		res = fail(&req->why, MB_ILLEGAL_DATA_VALUE,
			   len < 1 ? "empty PDU" : "PDU longer than 253 bytes");
	} else if ((c = fc_class(req->fc)) == NULL) {
		req->opaque = true;
		req->ndata = (uint16_t)(len - 1);
		memcpy(req->data, pdu + 1, len - 1);
		res = fail(&req->why, MB_ILLEGAL_FUNCTION,
			   "unsupported function code");
	} else
		res = c->parse(req, pdu + 1, len - 1);
	req->result = (uint8_t)res;
	if (op != NULL) {
		op->proto = ZG_PROTO_MODBUS;
		mb_request_op(req, &op->u.modbus);
	}
	return res;
}

static void
add_span(struct zg_modbus_op *m, uint8_t table, uint8_t access, uint16_t addr,
	 uint16_t qty)
{
	struct zg_mb_span *s = &m->spans[m->nspans++];

	s->table = table;
	s->access = access;
	s->addr = addr;
	s->qty = qty;
}

/*
 * Spans are reported only for a request that parsed as MB_OK: a malformed
 * or unknown request has no span anyone should reason about.  FC 24 reads
 * the FIFO through its pointer register, which is what policy can name.
 */
void
mb_request_op(const struct mb_request *req, struct zg_modbus_op *m)
{
	memset(m, 0, sizeof(*m));
	m->unit = req->unit;
	m->fc = req->fc;
	if (req->fc == MB_FC_DIAGNOSTICS)
		m->subfn = req->subfn;
	if (req->fc == MB_FC_ENCAPSULATED)
		m->mei = req->mei;
	if (req->result != MB_OK || req->opaque)
		return;
	switch (req->fc) {
	case MB_FC_READ_COILS:
		add_span(m, ZG_MB_COILS, ZG_MB_READ, req->addr, req->qty);
		break;
	case MB_FC_READ_DISCRETE:
		add_span(m, ZG_MB_DISCRETE, ZG_MB_READ, req->addr, req->qty);
		break;
	case MB_FC_READ_HOLDING:
		add_span(m, ZG_MB_HOLDING, ZG_MB_READ, req->addr, req->qty);
		break;
	case MB_FC_READ_INPUT:
		add_span(m, ZG_MB_INPUT, ZG_MB_READ, req->addr, req->qty);
		break;
	case MB_FC_WRITE_COIL:
		add_span(m, ZG_MB_COILS, ZG_MB_WRITE, req->addr, 1);
		break;
	case MB_FC_WRITE_REGISTER:
		add_span(m, ZG_MB_HOLDING, ZG_MB_WRITE, req->addr, 1);
		m->values = req->regs;
		m->nvalues = 1;
		break;
	case MB_FC_WRITE_COILS:
		add_span(m, ZG_MB_COILS, ZG_MB_WRITE, req->addr, req->qty);
		break;
	case MB_FC_WRITE_REGISTERS:
		add_span(m, ZG_MB_HOLDING, ZG_MB_WRITE, req->addr, req->qty);
		m->values = req->regs;
		m->nvalues = req->qty;
		break;
	case MB_FC_MASK_WRITE:
		add_span(m, ZG_MB_HOLDING, ZG_MB_WRITE, req->addr, 1);
		break;
	case MB_FC_READ_WRITE_REGISTERS:
		add_span(m, ZG_MB_HOLDING, ZG_MB_READ, req->addr, req->qty);
		add_span(m, ZG_MB_HOLDING, ZG_MB_WRITE, req->waddr, req->wqty);
		m->values = req->regs;
		m->nvalues = req->wqty;
		break;
	case MB_FC_READ_FIFO:
		/*
		 * The answer carries the FIFO count and up to 31 queued values
		 * behind the pointer register: decide it as a read of the 32
		 * registers from the pointer on (fewer at the top of the table).
		 */
		add_span(m, ZG_MB_HOLDING, ZG_MB_READ, req->addr,
			 (uint16_t)(65536 - req->addr < MB_FIFO_MAX + 1
					    ? 65536 - req->addr
					    : MB_FIFO_MAX + 1));
		break;
	default:
		break;
	}
}

/*
 * An opaque request rebuilds as fc (+ sub-function / MEI type) + data, and
 * only while it would classify as the same unknown code again: a request
 * with a known code cannot be smuggled out unvalidated by setting
 * `opaque'.  0 and 0x80..0xFF are never sent.
 */
static int
build_opaque(const struct mb_request *req, uint8_t *d)
{
	size_t head = 0;

	if (req->fc == 0 || req->fc >= 0x80)
		return -1;
	if (req->fc == MB_FC_DIAGNOSTICS) {
		if (diag_known(req->subfn))
			return -1;
		be16_put(d, req->subfn);
		head = 2;
	} else if (req->fc == MB_FC_ENCAPSULATED) {
		if (mei_known(req->mei))
			return -1;
		d[0] = req->mei;
		head = 1;
	} else if (fc_class(req->fc) != NULL)
		return -1;
	if (req->ndata > MB_DATA_MAX - head)
		return -1;
	memcpy(d + head, req->data, req->ndata);
	return (int)(head + req->ndata);
}

/*
 * Refuses a request that did not parse (result other than MB_OK, or
 * MB_ILLEGAL_FUNCTION for an opaque one) and any field the validator of
 * its function code refuses; the validators bound every count, so the
 * PDU always fits MB_PDU_MAX before it is copied out.
 */
int
mb_build_request(const struct mb_request *req, uint8_t *out, size_t outlen)
{
	uint8_t pdu[MB_PDU_MAX];
	const struct fc_class *c;
	size_t n;
	int k;

	if (req->opaque) {
		if (req->result != MB_ILLEGAL_FUNCTION)
			return -1;
		if ((k = build_opaque(req, pdu + 1)) < 0)
			return -1;
		n = (size_t)k;
	} else {
		if (req->result != MB_OK || (c = fc_class(req->fc)) == NULL)
			return -1;
		if (req->fc == MB_FC_DIAGNOSTICS && !diag_known(req->subfn))
			return -1;
		if (req->fc == MB_FC_ENCAPSULATED && !mei_known(req->mei))
			return -1;
		if (c->valid(req, NULL) != MB_OK)
			return -1;
		n = c->build(req, pdu + 1);
	}
	pdu[0] = req->fc;
	if (1 + n > outlen)
		return -1;
	memcpy(out, pdu, 1 + n);
	return (int)(1 + n);
}

bool
mb_exception_valid(uint8_t code)
{
	return (code >= MB_EX_ILLEGAL_FUNCTION &&
		code <= MB_EX_SERVER_DEVICE_BUSY) ||
	       code == MB_EX_MEMORY_PARITY_ERROR ||
	       code == MB_EX_GATEWAY_PATH_UNAVAILABLE ||
	       code == MB_EX_GATEWAY_TARGET_NO_RESPONSE;
}

/*
 * Refuses codes v1.1b3 does not define so the gateway never invents one
 * a client cannot interpret.  out must hold 2 bytes.
 */
int
mb_build_exception(uint8_t fc, uint8_t code, uint8_t *out)
{
	if (!mb_exception_valid(code))
		return -1;
	out[0] = (uint8_t)(fc | 0x80);
	out[1] = code;
	return 2;
}
