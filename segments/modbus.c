/*
 * modbus.c: Modbus function codes, the shape each public function must
 * have, and the decision of one classified request against one conduit.
 *
 * The engine does not trust the classifier blindly: a request whose
 * spans do not fit its function code (FC 23 without its write span, FC 5
 * writing two coils, a read of 300 registers) is malformed and denied, so
 * a classifier bug cannot turn into a wider permission.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

#include "segments/seg_int.h"

/* ---------------------------------------------------------------- */
/* names */

const char *
seg_fc_name(unsigned fc)
{
	switch (fc) {
	case 1: return "read coils";
	case 2: return "read discrete inputs";
	case 3: return "read holding registers";
	case 4: return "read input registers";
	case 5: return "write single coil";
	case 6: return "write single register";
	case 7: return "read exception status";
	case 8: return "diagnostics";
	case 11: return "get comm event counter";
	case 12: return "get comm event log";
	case 15: return "write multiple coils";
	case 16: return "write multiple registers";
	case 17: return "report server id";
	case 20: return "read file record";
	case 21: return "write file record";
	case 22: return "mask write register";
	case 23: return "read/write multiple registers";
	case 24: return "read FIFO queue";
	case 43: return "encapsulated interface transport";
	case 90: return "UMAS, unpublished vendor protocol";
	default:
		if ((fc >= 65 && fc <= 72) || (fc >= 100 && fc <= 110))
			return "user-defined";
		return "reserved";
	}
}

bool
seg_fc_public(unsigned fc)
{
	switch (fc) {
	case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8:
	case 11: case 12: case 15: case 16: case 17: case 20: case 21:
	case 22: case 23: case 24: case 43:
		return true;
	default:
		return false;
	}
}

const char *
seg_fc8_name(unsigned sub)
{
	switch (sub) {
	case 0: return "return query data";
	case 1: return "restart communications option";
	case 2: return "return diagnostic register";
	case 3: return "change ASCII input delimiter";
	case 4: return "force listen only mode";
	case 10: return "clear counters and diagnostic register";
	case 11: return "return bus message count";
	case 12: return "return bus communication error count";
	case 13: return "return bus exception error count";
	case 14: return "return server message count";
	case 15: return "return server no response count";
	case 16: return "return server NAK count";
	case 17: return "return server busy count";
	case 18: return "return bus character overrun count";
	case 20: return "clear overrun counter and flag";
	default: return "reserved";
	}
}

/*
 * Plain "8" allows only the diagnostics that read or echo: a restart
 * (1), listen-only mode (4, a one-packet denial of service), a new
 * delimiter (3) and clearing counters (10, 20) change the device and
 * must be named ("8/4").
 */
bool
seg_fc8_plain_ok(unsigned sub)
{
	return sub == 0 || sub == 2 || (sub >= 11 && sub <= 18);
}

const char *
seg_mei_name(unsigned mei)
{
	switch (mei) {
	case 13: return "CANopen general reference";
	case 14: return "read device identification";
	default: return "reserved";
	}
}

const char *
seg_table_name(int table, bool plural)
{
	switch (table) {
	case ZG_MB_COILS: return plural ? "coils" : "coil";
	case ZG_MB_DISCRETE: return plural ? "discrete inputs" : "discrete input";
	case ZG_MB_HOLDING:
		return plural ? "holding registers" : "holding register";
	case ZG_MB_INPUT: return plural ? "input registers" : "input register";
	default: return "?";
	}
}

/* ---------------------------------------------------------------- */
/* shapes */

struct span_shape {
	uint8_t table, access;
	uint16_t maxq;
};

struct fc_shape {
	uint8_t nspans;
	struct span_shape s[2];
};

/*
 * The spans each public table function must carry, with the protocol's
 * quantity limits (Modbus Application Protocol v1.1b3).  Functions not
 * listed may carry any spans; those are checked against the ranges too.
 */
static const struct fc_shape *
fc_shape(unsigned fc)
{
	static const struct fc_shape rc = { 1, { { ZG_MB_COILS, ZG_MB_READ, 2000 } } };
	static const struct fc_shape rd = { 1, { { ZG_MB_DISCRETE, ZG_MB_READ, 2000 } } };
	static const struct fc_shape rh = { 1, { { ZG_MB_HOLDING, ZG_MB_READ, 125 } } };
	static const struct fc_shape ri = { 1, { { ZG_MB_INPUT, ZG_MB_READ, 125 } } };
	static const struct fc_shape wc1 = { 1, { { ZG_MB_COILS, ZG_MB_WRITE, 1 } } };
	static const struct fc_shape wh1 = { 1, { { ZG_MB_HOLDING, ZG_MB_WRITE, 1 } } };
	static const struct fc_shape wc = { 1, { { ZG_MB_COILS, ZG_MB_WRITE, 1968 } } };
	static const struct fc_shape wh = { 1, { { ZG_MB_HOLDING, ZG_MB_WRITE, 123 } } };
	static const struct fc_shape rw = { 2, { { ZG_MB_HOLDING, ZG_MB_READ, 125 },
						 { ZG_MB_HOLDING, ZG_MB_WRITE, 121 } } };
	static const struct fc_shape fifo = { 1, { { ZG_MB_HOLDING, ZG_MB_READ, 32 } } };

	switch (fc) {
	case 1: return &rc;
	case 2: return &rd;
	case 3: return &rh;
	case 4: return &ri;
	case 5: return &wc1;
	case 6: return &wh1;
	case 15: return &wc;
	case 16: return &wh;
	case 22: return &wh1;
	case 23: return &rw;
	case 24: return &fifo;
	default: return NULL;
	}
}

/* Write-only functions: the only ones a broadcast (unit 0) may carry. */
static bool
fc_broadcastable(unsigned fc)
{
	return fc == 5 || fc == 6 || fc == 15 || fc == 16 || fc == 22;
}

static bool
span_is(const struct zg_mb_span *sp, const struct span_shape *sh)
{
	return sp->table == sh->table && sp->access == sh->access;
}

/*
 * A request that cannot be what it claims is refused here: exception bit
 * set, unknown tables or access, empty spans, spans past 65535, spans
 * that do not fit the function code, values that do not match the
 * write span they belong to.
 */
int
seg_mb_validate(const struct zg_modbus_op *m, char *err, size_t errlen)
{
	const struct fc_shape *sh;
	const struct zg_mb_span *wr = NULL;
	unsigned i;

	if (m->fc == 0 || m->fc > 127) {
		snprintf(err, errlen, "function code %u is not a request",
			 (unsigned)m->fc);
		return -1;
	}
	if (m->nspans > 2) {
		snprintf(err, errlen, "%u spans (at most 2)",
			 (unsigned)m->nspans);
		return -1;
	}
	for (i = 0; i < m->nspans; i++) {
		const struct zg_mb_span *sp = &m->spans[i];

		if (sp->table >= ZG_MB_NTABLES ||
		    (sp->access != ZG_MB_READ && sp->access != ZG_MB_WRITE)) {
			snprintf(err, errlen, "span %u has an unknown table or access",
				 i);
			return -1;
		}
		if (sp->qty == 0 || (uint32_t)sp->addr + sp->qty - 1 > 65535) {
			snprintf(err, errlen,
				 "span %u (address %u, quantity %u) is empty or passes 65535",
				 i, (unsigned)sp->addr, (unsigned)sp->qty);
			return -1;
		}
		if (sp->access == ZG_MB_WRITE && sp->table == ZG_MB_HOLDING)
			wr = sp;
	}
	sh = fc_shape(m->fc);
	if (sh != NULL) {
		bool okshape = m->nspans == sh->nspans;

		if (okshape && sh->nspans == 1)
			okshape = span_is(&m->spans[0], &sh->s[0]) &&
				  m->spans[0].qty <= sh->s[0].maxq;
		else if (okshape && sh->nspans == 2) {
			const struct zg_mb_span *a = &m->spans[0], *b = &m->spans[1];

			if (!span_is(a, &sh->s[0])) {
				const struct zg_mb_span *t = a;
				a = b;
				b = t;
			}
			okshape = span_is(a, &sh->s[0]) && span_is(b, &sh->s[1]) &&
				  a->qty <= sh->s[0].maxq &&
				  b->qty <= sh->s[1].maxq;
		}
		if (!okshape) {
			snprintf(err, errlen,
				 "function %u (%s) with spans that do not fit it",
				 (unsigned)m->fc, seg_fc_name(m->fc));
			return -1;
		}
	}
	if (m->values != NULL &&
	    (wr == NULL || m->nvalues != wr->qty)) {
		snprintf(err, errlen,
			 "%u values that do not match a holding register write span",
			 (unsigned)m->nvalues);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* decision */

static inline bool
bit(const uint64_t *set, unsigned i)
{
	return (set[i >> 6] >> (i & 63)) & 1;
}

static bool
fc_allowed(const struct seg_mb *mb, const struct zg_modbus_op *m,
	   struct seg_deny *d)
{
	unsigned i;

	if (m->fc == 8) {
		if (mb->plain8 && seg_fc8_plain_ok(m->subfn))
			return true;
		for (i = 0; i < mb->nsubfn; i++)
			if (mb->subfn[i] == m->subfn)
				return true;
		d->code = SEG_D_MB_FC8;
		d->x = m->subfn;
		return false;
	}
	if (m->fc == 43) {
		if (bit(mb->meis, m->mei))
			return true;
		d->code = SEG_D_MB_FC43;
		d->x = m->mei;
		return false;
	}
	if (bit(mb->fcs, m->fc))
		return true;
	d->code = SEG_D_MB_FC;
	d->x = m->fc;
	return false;
}

/* Index of the last range starting at or below addr, or -1. */
static long
rfind(const struct seg_rset *rs, uint32_t addr)
{
	uint32_t lo = 0, hi = rs->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (rs->r[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

/*
 * Every address of span [a, b] must lie in the (sorted, disjoint) ranges,
 * which may be adjacent: the walk continues across a range that ends
 * right before the next one starts.  Values written to a bounded range
 * are checked one by one.
 */
static bool
span_allowed(const struct seg_rset *rs, const struct zg_mb_span *sp,
	     const struct zg_modbus_op *m, struct seg_deny *d)
{
	uint32_t a = sp->addr, b = (uint32_t)sp->addr + sp->qty - 1, cur = a;
	long i;

	d->table = sp->table;
	d->access = sp->access;
	d->a = a;
	d->b = b;
	if (rs->n == 0) {
		d->code = SEG_D_MB_NORANGE;
		return false;
	}
	i = rfind(rs, a);
	for (;;) {
		const struct seg_range *r;
		uint32_t end, k;

		if (i < 0 || (uint32_t)i >= rs->n || rs->r[i].lo > cur ||
		    rs->r[i].hi < cur) {
			d->code = SEG_D_MB_RANGE;
			d->x = cur;
			return false;
		}
		r = &rs->r[i];
		end = r->hi < b ? r->hi : b;
		if (r->bounded) {
			if (m->values == NULL) {
				d->code = SEG_D_MB_NOVALUES;
				d->x = cur;
				return false;
			}
			for (k = cur; k <= end; k++) {
				uint16_t raw = m->values[k - a];
				long v = r->is_signed ? (long)(int16_t)raw : (long)raw;

				if (v < r->min || v > r->max) {
					d->code = SEG_D_MB_VALUE;
					d->x = k;
					d->v = v;
					d->lo = r->min;
					d->hi = r->max;
					return false;
				}
			}
		}
		if (end == b)
			return true;
		cur = end + 1;
		i++;
	}
}

/*
 * One request against one conduit: unit (broadcast needs its own
 * switch and a write function), function code (with FC 8 sub-function
 * and FC 43 MEI type), quantity, then every span against the ranges of
 * its access and table.  The first failure is recorded in *d.
 */
bool
seg_mb_eval(const struct seg_conduit *c, const struct zg_modbus_op *m,
	    struct seg_deny *d)
{
	const struct seg_mb *mb = c->mb;
	unsigned i;

	if (mb == NULL) {
		d->code = SEG_D_NOPROTO;
		return false;
	}
	if (m->unit == 0) {
		if (!fc_broadcastable(m->fc)) {
			d->code = SEG_D_MB_BCAST_FC;
			d->x = m->fc;
			return false;
		}
		if (!mb->broadcast) {
			d->code = SEG_D_MB_BCAST;
			return false;
		}
	} else if (!bit(mb->units, m->unit)) {
		d->code = SEG_D_MB_UNIT;
		d->x = m->unit;
		return false;
	}
	if (!fc_allowed(mb, m, d))
		return false;
	for (i = 0; i < m->nspans; i++) {
		if (mb->max_quantity && m->spans[i].qty > mb->max_quantity) {
			d->code = SEG_D_MB_QTY;
			d->x = m->spans[i].qty;
			d->hi = mb->max_quantity;
			return false;
		}
	}
	for (i = 0; i < m->nspans; i++) {
		const struct zg_mb_span *sp = &m->spans[i];

		if (!span_allowed(&mb->rs[sp->access - 1][sp->table], sp, m, d))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- */
/* reasons */

/* "10-19, 30, 40-49, ..." within len. */
static void
ranges_str(const struct seg_rset *rs, char *buf, size_t len)
{
	size_t off = 0;
	uint32_t i;

	buf[0] = '\0';
	for (i = 0; i < rs->n; i++) {
		char one[24];
		int w;

		if (rs->r[i].lo == rs->r[i].hi)
			snprintf(one, sizeof(one), "%u", (unsigned)rs->r[i].lo);
		else
			snprintf(one, sizeof(one), "%u-%u", (unsigned)rs->r[i].lo,
				 (unsigned)rs->r[i].hi);
		/* Leave room for ", ...". */
		if (off + strlen(one) + 2 + 5 >= len) {
			snprintf(buf + off, len - off, "%s...", off ? ", " : "");
			return;
		}
		w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", one);
		if (w < 0)
			return;
		off += (size_t)w;
	}
}

/* "holding register 25" or "holding registers 95-104" */
static void
span_str(const struct seg_deny *d, char *buf, size_t len)
{
	if (d->a == d->b)
		snprintf(buf, len, "%s %u", seg_table_name(d->table, false),
			 (unsigned)d->a);
	else
		snprintf(buf, len, "%s %u-%u", seg_table_name(d->table, true),
			 (unsigned)d->a, (unsigned)d->b);
}

static const char *
acc_noun(int access)
{
	return access == ZG_MB_WRITE ? "write to" : "read of";
}

static const char *
acc_adj(int access)
{
	return access == ZG_MB_WRITE ? "write" : "read";
}

void
seg_mb_reason(const struct seg_deny *d, const struct zg_modbus_op *m,
	      char *buf, size_t len)
{
	char ref[ZG_REASON_MAX], rl[48], sp[48];
	const struct seg_rset *rs;

	seg_conduit_ref(d->c, ref, sizeof(ref));
	switch (d->code) {
	case SEG_D_MB_BCAST_FC:
		seg_fmt(buf, len,
			"broadcast (unit 0) of function %u: only writes (5, 6, 15, 16, 22) may be broadcast",
			(unsigned)d->x);
		break;
	case SEG_D_MB_BCAST:
		seg_fmt(buf, len,
			"broadcast (unit 0) write needs broadcast = true in %s",
			ref);
		break;
	case SEG_D_MB_UNIT:
		seg_fmt(buf, len, "unit %u is not among the units of %s",
			(unsigned)d->x, ref);
		break;
	case SEG_D_MB_FC:
		seg_fmt(buf, len, "function %u (%s) is not allowed by %s",
			(unsigned)d->x, seg_fc_name(d->x), ref);
		break;
	case SEG_D_MB_FC8:
		seg_fmt(buf, len,
			"diagnostics sub-function %u (%s) is not allowed by %s; name it as \"8/%u\"",
			(unsigned)d->x, seg_fc8_name(d->x), ref,
			(unsigned)d->x);
		break;
	case SEG_D_MB_FC43:
		seg_fmt(buf, len,
			"function 43 MEI type %u (%s) is not allowed by %s; name it as \"43/%u\"",
			(unsigned)d->x, seg_mei_name(d->x), ref,
			(unsigned)d->x);
		break;
	case SEG_D_MB_QTY:
		seg_fmt(buf, len, "quantity %u exceeds max_quantity %ld of %s",
			(unsigned)d->x, d->hi, ref);
		break;
	case SEG_D_MB_NORANGE:
		span_str(d, sp, sizeof(sp));
		seg_fmt(buf, len, "%s %s: %s allows no %s %s",
			acc_noun(d->access), sp, ref,
			d->access == ZG_MB_WRITE ? "writes to" : "reads of",
			seg_table_name(d->table, true));
		break;
	case SEG_D_MB_RANGE:
		rs = &d->c->mb->rs[d->access - 1][d->table];
		ranges_str(rs, rl, sizeof(rl));
		span_str(d, sp, sizeof(sp));
		if (d->a == d->b)
			seg_fmt(buf, len, "%s %s outside allowed %s ranges %s of %s",
				acc_noun(d->access), sp, acc_adj(d->access), rl,
				ref);
		else
			seg_fmt(buf, len,
				"%s %s: %u is outside allowed %s ranges %s of %s",
				acc_noun(d->access), sp, (unsigned)d->x,
				acc_adj(d->access), rl, ref);
		break;
	case SEG_D_MB_NOVALUES:
		seg_fmt(buf, len,
			"write to %s %u: %s bounds its values but function %u carries none to check",
			seg_table_name(d->table, false), (unsigned)d->x, ref,
			(unsigned)m->fc);
		break;
	case SEG_D_MB_VALUE:
		seg_fmt(buf, len,
			"value %ld for %s %u is outside %ld..%ld allowed by %s",
			d->v, seg_table_name(d->table, false), (unsigned)d->x,
			d->lo, d->hi, ref);
		break;
	default:
		seg_fmt(buf, len, "denied by %s", ref);
		break;
	}
}
