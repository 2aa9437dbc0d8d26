/*
 * describe.c: one line per request for events and logs (see pdu.h), e.g.
 *
 *   FC16 write holding 10..14 (5 regs) unit 1
 *   FC8 diagnostics sub-function 4 (force listen only mode) unit 1
 *   FC90 unsupported function (Schneider UMAS), 12 data bytes unit 1
 *
 * Only fields the parser validated are printed: a malformed request is
 * described by its function code and the rule it broke.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>

#include "plugins/modbus/pdu.h"

struct line {
	char *buf;
	size_t len;  /* size of buf */
	size_t need; /* length of the whole line so far */
};

__attribute__((format(printf, 2, 3))) static void
add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	size_t off = l->need < l->len ? l->need : l->len;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->len > off ? l->buf + off : NULL,
		      l->len > off ? l->len - off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->need += (size_t)n;
}

/* "10..14 (5 regs)", or "10 (1 reg)" */
static void
add_span(struct line *l, unsigned addr, unsigned qty, const char *unit1,
	 const char *unitn)
{
	if (qty == 1)
		add(l, "%u (1 %s)", addr, unit1);
	else
		add(l, "%u..%u (%u %s)", addr, addr + qty - 1, qty, unitn);
}

static const char *
diag_name(uint16_t subfn)
{
	static const char *const names[] = {
		[0x00] = "return query data",
		[0x01] = "restart communications",
		[0x02] = "return diagnostic register",
		[0x03] = "change ASCII input delimiter",
		[0x04] = "force listen only mode",
		[0x0a] = "clear counters and diagnostic register",
		[0x0b] = "return bus message count",
		[0x0c] = "return bus communication error count",
		[0x0d] = "return bus exception error count",
		[0x0e] = "return server message count",
		[0x0f] = "return server no response count",
		[0x10] = "return server NAK count",
		[0x11] = "return server busy count",
		[0x12] = "return bus character overrun count",
		[0x14] = "clear overrun counter and flag",
	};

	if (subfn < sizeof(names) / sizeof(names[0]) && names[subfn] != NULL)
		return names[subfn];
	return "reserved";
}

/* What an unsupported function code is known as, for the reader. */
static const char *
unknown_fc_kind(uint8_t fc)
{
	if (fc == 0 || fc >= 0x80)
		return "not a request function code";
	if (fc == 90)
		return "Schneider UMAS";
	if ((fc >= 65 && fc <= 72) || (fc >= 100 && fc <= 110))
		return "user-defined";
	return "reserved";
}

static void
describe_file(struct line *l, const struct mb_request *req, const char *verb)
{
	const struct mb_file_ref *f = &req->file[0];

	add(l, "%s file %u records ", verb, f->file);
	add_span(l, f->record, f->len, "reg", "regs");
	if (req->nfile > 1)
		add(l, " +%u sub-request%s", (unsigned)req->nfile - 1,
		    req->nfile > 2 ? "s" : "");
}

static void
describe_ok(struct line *l, const struct mb_request *req)
{
	switch (req->fc) {
	case MB_FC_READ_COILS:
		add(l, "read coils ");
		add_span(l, req->addr, req->qty, "coil", "coils");
		break;
	case MB_FC_READ_DISCRETE:
		add(l, "read discrete inputs ");
		add_span(l, req->addr, req->qty, "input", "inputs");
		break;
	case MB_FC_READ_HOLDING:
		add(l, "read holding ");
		add_span(l, req->addr, req->qty, "reg", "regs");
		break;
	case MB_FC_READ_INPUT:
		add(l, "read input ");
		add_span(l, req->addr, req->qty, "reg", "regs");
		break;
	case MB_FC_WRITE_COIL:
		add(l, "write coil %u = %s", req->addr,
		    req->value ? "ON" : "OFF");
		break;
	case MB_FC_WRITE_REGISTER:
		add(l, "write holding %u = %u (0x%04x)", req->addr,
		    req->regs[0], req->regs[0]);
		break;
	case MB_FC_DIAGNOSTICS:
		add(l, "diagnostics sub-function %u (%s)", req->subfn,
		    diag_name(req->subfn));
		if (req->subfn == MB_DIAG_RESTART_COMM ||
		    req->subfn == MB_DIAG_ASCII_DELIMITER)
			add(l, " data 0x%04x", req->value);
		else if (req->subfn == MB_DIAG_RETURN_QUERY_DATA)
			add(l, ", %u data bytes", req->ndata);
		break;
	case MB_FC_WRITE_COILS:
		add(l, "write coils ");
		add_span(l, req->addr, req->qty, "coil", "coils");
		break;
	case MB_FC_WRITE_REGISTERS:
		add(l, "write holding ");
		add_span(l, req->addr, req->qty, "reg", "regs");
		break;
	case MB_FC_READ_FILE:
		describe_file(l, req, "read");
		break;
	case MB_FC_WRITE_FILE:
		describe_file(l, req, "write");
		break;
	case MB_FC_MASK_WRITE:
		add(l, "mask write holding %u and 0x%04x or 0x%04x", req->addr,
		    req->and_mask, req->or_mask);
		break;
	case MB_FC_READ_WRITE_REGISTERS:
		add(l, "read holding ");
		add_span(l, req->addr, req->qty, "reg", "regs");
		add(l, " + write holding ");
		add_span(l, req->waddr, req->wqty, "reg", "regs");
		break;
	case MB_FC_READ_FIFO:
		add(l, "read FIFO queue at holding %u", req->addr);
		break;
	case MB_FC_ENCAPSULATED:
		if (req->mei == MB_MEI_DEVICE_ID)
			add(l, "read device identification code %u object %u",
			    req->devid_code, req->object_id);
		else
			add(l, "CANopen general reference, %u data bytes",
			    req->ndata);
		break;
	default: /* FC 7, 11, 12, 17: the name says it all */
		add(l, "%s", mb_fc_name(req->fc) ? mb_fc_name(req->fc) : "?");
		break;
	}
}

/*
 * Accepts any struct mb_request, parsed or not; prints validated fields
 * only for a request that parsed as MB_OK.
 */
int
mb_describe(const struct mb_request *req, char *buf, size_t len)
{
	struct line l = { buf, len, 0 };
	const char *name = mb_fc_name(req->fc);

	if (len > 0)
		buf[0] = '\0';
	add(&l, "FC%u", req->fc);
	if (req->fc == MB_FC_ENCAPSULATED &&
	    (req->opaque || req->result == MB_OK))
		add(&l, "/%u", req->mei);
	add(&l, " ");
	if (req->opaque) {
		if (req->fc == MB_FC_DIAGNOSTICS)
			add(&l, "diagnostics sub-function %u (reserved)",
			    req->subfn);
		else if (req->fc == MB_FC_ENCAPSULATED)
			add(&l, "reserved MEI type");
		else
			add(&l, "unsupported function (%s)",
			    unknown_fc_kind(req->fc));
		add(&l, ", %u data bytes", req->ndata);
	} else if (req->result != MB_OK) {
		add(&l, "%s: %s (%s)", name != NULL ? name : "unknown function",
		    mb_result_str((enum mb_result)req->result),
		    req->why != NULL ? req->why : "?");
	} else
		describe_ok(&l, req);
	add(&l, " unit %u", req->unit);
	return l.need > (size_t)0x7fffffff ? 0x7fffffff : (int)l.need;
}
