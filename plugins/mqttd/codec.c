/*
 * codec.c: MQTT 3.1.1 / 5.0 packet decoder and encoder (see codec.h).
 *
 * Written from the OASIS specifications (MQTT Version 3.1.1 Plus Errata
 * 01, MQTT Version 5.0).  Everything is bounds-checked against the
 * buffer it reads; a field running past the end of a packet is a
 * malformed packet, never a read past the buffer.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "plugins/mqttd/codec.h"

/* ---------------------------------------------------------------- */
/* framing */

/*
 * Fixed header: type and flags, then the remaining length as a variable
 * byte integer of at most four bytes.  Refuses type 0, a fifth length
 * byte, and a packet larger than max_packet (0 = the protocol maximum).
 * The flags of each type are checked by the body decoders, so that the
 * caller can answer with the reason code that fits.
 */
enum mq_status
mq_frame(const uint8_t *buf, size_t len, size_t max_packet, struct mq_frame *f)
{
	uint32_t rl = 0;
	size_t i, total;

	memset(f, 0, sizeof(*f));
	if (len < 2) {
		f->needed = 2 - len;
		return MQ_NEED_MORE;
	}
	f->type = buf[0] >> 4;
	f->flags = buf[0] & 0x0f;
	if (f->type == 0)
		return MQ_ERR_TYPE;
	for (i = 1;; i++) {
		if (i > 4)
			return MQ_ERR_REMLEN;
		if (i >= len) {
			f->needed = 1;
			return MQ_NEED_MORE;
		}
		rl |= (uint32_t)(buf[i] & 0x7f) << (7 * (i - 1));
		if ((buf[i] & 0x80) == 0)
			break;
	}
	total = i + 1 + (size_t)rl;
	if (max_packet != 0 && total > max_packet)
		return MQ_ERR_TOO_LARGE;
	if (len < total) {
		f->needed = total - len;
		return MQ_NEED_MORE;
	}
	f->body = buf + i + 1;
	f->body_len = rl;
	f->consumed = total;
	return MQ_OK;
}

/*
 * Length of the packet whose first len bytes are buf, from its fixed
 * header alone: 0 while those bytes do not tell (a remaining length not
 * yet complete).  For TLS record boundaries on output the broker built
 * itself; a remaining length longer than 4 bytes (never written by us)
 * counts as len bytes.
 */
size_t
mq_packet_len(const unsigned char *buf, size_t len)
{
	uint32_t rl = 0;
	size_t i;

	for (i = 1; i < len && i <= 4; i++) {
		rl |= (uint32_t)(buf[i] & 0x7f) << (7 * (i - 1));
		if ((buf[i] & 0x80) == 0)
			return i + 1 + (size_t)rl;
	}
	return i > 4 ? len : 0;
}

const char *
mq_status_str(enum mq_status st)
{
	switch (st) {
	case MQ_OK: return "ok";
	case MQ_NEED_MORE: return "incomplete";
	case MQ_ERR_REMLEN: return "remaining length longer than 4 bytes";
	case MQ_ERR_TOO_LARGE: return "packet larger than the maximum packet size";
	case MQ_ERR_TYPE: return "packet type 0 is reserved";
	}
	return "?";
}

const char *
mq_type_name(uint8_t type)
{
	static const char *const names[16] = { "RESERVED", "CONNECT",
		"CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
		"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
		"PINGRESP", "DISCONNECT", "AUTH" };

	return names[type & 15];
}

/* ---------------------------------------------------------------- */
/* text */

bool
mq_utf8_valid(const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		int n, k;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false; /* continuation byte, 0xc0/0xc1, > 0xf4 */
		}
		if (len - i <= (size_t)n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += (size_t)n + 1;
	}
	return true;
}

bool
mq_topic_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > 65535 || !mq_utf8_valid(s, len))
		return false;
	return memchr(s, '+', len) == NULL && memchr(s, '#', len) == NULL;
}

bool
mq_topic_filter_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 65535 || !mq_utf8_valid(s, len))
		return false;
	for (i = 0; i < len; i++) {
		bool lstart = i == 0 || s[i - 1] == '/';
		bool lend = i + 1 == len || s[i + 1] == '/';

		if (s[i] == '+' && (!lstart || !lend))
			return false;
		if (s[i] == '#' && (!lstart || i + 1 != len))
			return false;
	}
	return true;
}

bool
mq_topic_match(const char *f, size_t flen, const char *t, size_t tlen)
{
	size_t fi = 0, ti = 0;

	/* 4.7.2: wildcards at the start never match '$' topics. */
	if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		size_t fe = fi, te = ti;

		while (fe < flen && f[fe] != '/')
			fe++;
		if (fe - fi == 1 && f[fi] == '#')
			return true; /* matches the rest, also the parent */
		while (te < tlen && t[te] != '/')
			te++;
		if (!(fe - fi == 1 && f[fi] == '+') &&
		    (fe - fi != te - ti || memcmp(f + fi, t + ti, fe - fi) != 0))
			return false;
		if (fe >= flen) {
			return te >= tlen;
		}
		if (te >= tlen) {
			/* topic ends; "a/#" still matches "a" */
			return flen - fe == 2 && f[fe + 1] == '#';
		}
		fi = fe + 1;
		ti = te + 1;
	}
}

/*
 * Client id patterns: "%u" stands for the identity, "*" for any run of
 * characters, "%%" for '%'; everything else is literal.  "%u" (the
 * default) admits exactly the identity.
 */
static bool
pat_match(const char *p, const char *s, size_t n, const char *id, int depth)
{
	size_t idl = strlen(id);

	if (depth > 8)
		return false;
	while (*p != '\0') {
		if (p[0] == '%' && p[1] == 'u') {
			if (n < idl || memcmp(s, id, idl) != 0)
				return false;
			s += idl;
			n -= idl;
			p += 2;
		} else if (p[0] == '*') {
			size_t k;

			for (k = 0; k <= n; k++)
				if (pat_match(p + 1, s + k, n - k, id, depth + 1))
					return true;
			return false;
		} else {
			char ch = p[0];

			if (p[0] == '%' && p[1] == '%')
				p++;
			if (n == 0 || *s != ch)
				return false;
			s++;
			n--;
			p++;
		}
	}
	return n == 0;
}

bool
mq_client_id_fits(const char *pattern, const char *cid, size_t clen,
		 const char *identity)
{
	return pat_match(pattern, cid, clen, identity, 0);
}

/* ---------------------------------------------------------------- */
/* readers */

struct rd {
	const uint8_t *p;
	size_t len, off;
};

static bool
rd_u8(struct rd *r, uint8_t *v)
{
	if (r->len - r->off < 1)
		return false;
	*v = r->p[r->off++];
	return true;
}

static bool
rd_u16(struct rd *r, uint16_t *v)
{
	if (r->len - r->off < 2)
		return false;
	*v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return true;
}

static bool
rd_u32(struct rd *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return false;
	*v = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	     (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
	r->off += 4;
	return true;
}

/* Variable byte integer, shortest form not required (the spec allows any
 * of at most 4 bytes). */
static bool
rd_varint(struct rd *r, uint32_t *v)
{
	uint32_t x = 0;
	int i;

	for (i = 0; i < 4; i++) {
		uint8_t b;

		if (!rd_u8(r, &b))
			return false;
		x |= (uint32_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = x;
			return true;
		}
	}
	return false;
}

static bool
rd_bin(struct rd *r, const uint8_t **p, uint16_t *n)
{
	if (!rd_u16(r, n) || r->len - r->off < *n)
		return false;
	*p = r->p + r->off;
	r->off += *n;
	return true;
}

/* A UTF-8 string; *bad set when present but not valid UTF-8. */
static bool
rd_str(struct rd *r, struct mq_str *s, bool *bad)
{
	const uint8_t *p;

	if (!rd_bin(r, &p, &s->len))
		return false;
	s->p = (const char *)p;
	if (!mq_utf8_valid(s->p, s->len))
		*bad = true;
	return true;
}

/* ---------------------------------------------------------------- */
/* MQTT 5 properties */

enum { PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };
enum {
	CX_CONNECT = 1 << 0,
	CX_WILL = 1 << 1,
	CX_PUBLISH = 1 << 2,
	CX_SUBSCRIBE = 1 << 3,
	CX_ACK = 1 << 4,        /* PUBACK/PUBREC/PUBREL/PUBCOMP */
	CX_UNSUBSCRIBE = 1 << 5,
	CX_DISCONNECT = 1 << 6,
};

struct prop_def {
	uint8_t id, type;
	uint8_t ctx;
	uint32_t bit; /* MQ_P_* kept in struct mq_props, 0 = skipped */
};

static const struct prop_def prop_defs[] = {
	{ 0x01, PT_BYTE, CX_PUBLISH | CX_WILL, MQ_P_PAYLOAD_FORMAT },
	{ 0x02, PT_U32, CX_PUBLISH | CX_WILL, MQ_P_MSG_EXPIRY },
	{ 0x03, PT_STR, CX_PUBLISH | CX_WILL, 0 },
	{ 0x08, PT_STR, CX_PUBLISH | CX_WILL, 0 },
	{ 0x09, PT_BIN, CX_PUBLISH | CX_WILL, 0 },
	{ 0x0B, PT_VARINT, CX_SUBSCRIBE, MQ_P_SUB_ID },
	{ 0x11, PT_U32, CX_CONNECT | CX_DISCONNECT, MQ_P_SESSION_EXPIRY },
	{ 0x15, PT_STR, CX_CONNECT, MQ_P_AUTH_METHOD },
	{ 0x16, PT_BIN, CX_CONNECT, 0 },
	{ 0x17, PT_BYTE, CX_CONNECT, MQ_P_REQ_PROBLEM },
	{ 0x18, PT_U32, CX_WILL, MQ_P_WILL_DELAY },
	{ 0x19, PT_BYTE, CX_CONNECT, 0 },
	{ 0x1C, PT_STR, CX_DISCONNECT, 0 },
	{ 0x1F, PT_STR, CX_ACK | CX_DISCONNECT, 0 },
	{ 0x21, PT_U16, CX_CONNECT, MQ_P_RECEIVE_MAX },
	{ 0x22, PT_U16, CX_CONNECT, MQ_P_TOPIC_ALIAS_MAX },
	{ 0x23, PT_U16, CX_PUBLISH, MQ_P_TOPIC_ALIAS },
	{ 0x26, PT_PAIR, 0x7f, 0 },
	{ 0x27, PT_U32, CX_CONNECT, MQ_P_MAX_PACKET },
};

static const struct prop_def *
prop_def(uint8_t id)
{
	size_t i;

	for (i = 0; i < sizeof(prop_defs) / sizeof(prop_defs[0]); i++)
		if (prop_defs[i].id == id)
			return &prop_defs[i];
	return NULL;
}

/*
 * Read a property block (length, then properties) valid in context ctx
 * (from a client).  Refuses unknown identifiers, identifiers not allowed
 * in the packet, duplicates of single-valued properties, values out of
 * range and malformed strings.
 */
static int
rd_props(struct rd *r, int ctx, struct mq_props *pr, const char **why)
{
	uint32_t plen;
	struct rd q;
	uint32_t seen = 0;

	memset(pr, 0, sizeof(*pr));
	if (!rd_varint(r, &plen) || r->len - r->off < plen) {
		*why = "property length runs past the packet";
		return MQ_RC_MALFORMED;
	}
	q.p = r->p + r->off;
	q.len = plen;
	q.off = 0;
	pr->raw = q.p;
	pr->raw_len = plen;
	r->off += plen;
	while (q.off < q.len) {
		const struct prop_def *d;
		uint32_t id, v32 = 0;
		uint16_t v16 = 0;
		uint8_t v8 = 0;
		struct mq_str s, s2;
		bool bad = false, okr = false;

		if (!rd_varint(&q, &id) || id > 0x7f) {
			*why = "bad property identifier";
			return MQ_RC_MALFORMED;
		}
		d = prop_def((uint8_t)id);
		if (d == NULL) {
			*why = "unknown property identifier";
			return MQ_RC_MALFORMED;
		}
		if ((d->ctx & ctx) == 0) {
			*why = "property not allowed in this packet";
			return MQ_RC_PROTOCOL_ERROR;
		}
		switch (d->type) {
		case PT_BYTE: okr = rd_u8(&q, &v8); v32 = v8; break;
		case PT_U16: okr = rd_u16(&q, &v16); v32 = v16; break;
		case PT_U32: okr = rd_u32(&q, &v32); break;
		case PT_VARINT: okr = rd_varint(&q, &v32); break;
		case PT_STR: okr = rd_str(&q, &s, &bad); break;
		case PT_BIN: {
			const uint8_t *bp;

			okr = rd_bin(&q, &bp, &v16);
			break;
		}
		case PT_PAIR:
			okr = rd_str(&q, &s, &bad) && rd_str(&q, &s2, &bad);
			break;
		}
		if (!okr) {
			*why = "property value runs past the packet";
			return MQ_RC_MALFORMED;
		}
		if (bad) {
			*why = "property string is not valid UTF-8";
			return MQ_RC_MALFORMED;
		}
		if (d->bit == 0)
			continue;
		if (seen & d->bit) {
			*why = "property given twice";
			return MQ_RC_PROTOCOL_ERROR;
		}
		seen |= d->bit;
		switch (d->bit) {
		case MQ_P_PAYLOAD_FORMAT:
			if (v32 > 1)
				goto range;
			pr->payload_format = v8;
			break;
		case MQ_P_MSG_EXPIRY: pr->msg_expiry = v32; break;
		case MQ_P_SUB_ID:
			if (v32 == 0)
				goto range;
			pr->sub_id = v32;
			break;
		case MQ_P_SESSION_EXPIRY: pr->session_expiry = v32; break;
		case MQ_P_AUTH_METHOD: break;
		case MQ_P_REQ_PROBLEM:
			if (v32 > 1)
				goto range;
			pr->req_problem = v8;
			break;
		case MQ_P_WILL_DELAY: pr->will_delay = v32; break;
		case MQ_P_RECEIVE_MAX:
			if (v32 == 0)
				goto range;
			pr->receive_max = v16;
			break;
		case MQ_P_TOPIC_ALIAS_MAX: pr->topic_alias_max = v16; break;
		case MQ_P_TOPIC_ALIAS:
			if (v32 == 0)
				goto range;
			pr->topic_alias = v16;
			break;
		case MQ_P_MAX_PACKET:
			if (v32 == 0)
				goto range;
			pr->max_packet = v32;
			break;
		}
	}
	pr->present = seen;
	return MQ_RC_SUCCESS;
range:
	*why = "property value out of range";
	return MQ_RC_PROTOCOL_ERROR;
}

/* ---------------------------------------------------------------- */
/* body decoders */

/*
 * CONNECT (3.1 / 3.1.1 / 5.0).  Protocol name "MQTT" and level 4 or 5;
 * anything else is MQ_RC_UNSUPPORTED_VERSION (the caller answers with
 * the 3.1.1 code 0x01).  Refuses the reserved flag, a will QoS or retain
 * without a will, a password without a user name (3.1.1), trailing
 * bytes.  AUTH methods are not supported (MQ_RC_BAD_AUTH_METHOD).
 */
int
mq_parse_connect(const uint8_t *b, size_t len, struct mq_connect *c,
		 const char **why)
{
	struct rd r = { b, len, 0 };
	struct mq_str name;
	uint8_t level, fl;
	bool bad = false;
	int rc;

	memset(c, 0, sizeof(*c));
	*why = NULL;
	if (!rd_str(&r, &name, &bad) || !rd_u8(&r, &level)) {
		*why = "truncated variable header";
		return MQ_RC_MALFORMED;
	}
	if (bad || name.len != 4 || memcmp(name.p, "MQTT", 4) != 0 ||
	    (level != MQ_V311 && level != MQ_V5)) {
		*why = "protocol is not MQTT 3.1.1 or 5.0";
		return MQ_RC_UNSUPPORTED_VERSION;
	}
	c->version = level;
	if (!rd_u8(&r, &fl) || !rd_u16(&r, &c->keepalive)) {
		*why = "truncated variable header";
		return MQ_RC_MALFORMED;
	}
	if (fl & 0x01) {
		*why = "reserved connect flag set";
		return MQ_RC_MALFORMED;
	}
	c->clean = (fl & 0x02) != 0;
	c->will = (fl & 0x04) != 0;
	c->will_qos = (fl >> 3) & 3;
	c->will_retain = (fl & 0x20) != 0;
	c->has_pass = (fl & 0x40) != 0;
	c->has_user = (fl & 0x80) != 0;
	if (c->will_qos == 3 || (!c->will && (c->will_qos || c->will_retain))) {
		*why = "bad will flags";
		return MQ_RC_MALFORMED;
	}
	if (level == MQ_V311 && c->has_pass && !c->has_user) {
		*why = "password without user name";
		return MQ_RC_MALFORMED;
	}
	if (level == MQ_V5) {
		rc = rd_props(&r, CX_CONNECT, &c->props, why);
		if (rc != MQ_RC_SUCCESS)
			return rc;
	}
	if (!rd_str(&r, &c->client_id, &bad)) {
		*why = "truncated client identifier";
		return MQ_RC_MALFORMED;
	}
	if (bad) {
		*why = "client identifier is not valid UTF-8";
		return MQ_RC_MALFORMED;
	}
	if (c->will) {
		uint16_t n;

		if (level == MQ_V5) {
			rc = rd_props(&r, CX_WILL, &c->will_props, why);
			if (rc != MQ_RC_SUCCESS)
				return rc;
		}
		if (!rd_str(&r, &c->will_topic, &bad) ||
		    !rd_bin(&r, &c->will_payload, &n)) {
			*why = "truncated will";
			return MQ_RC_MALFORMED;
		}
		c->will_len = n;
		if (bad || !mq_topic_name_valid(c->will_topic.p,
						c->will_topic.len)) {
			*why = "bad will topic";
			return MQ_RC_TOPIC_NAME_INVALID;
		}
		if (c->will_props.payload_format == 1 &&
		    !mq_utf8_valid((const char *)c->will_payload, n)) {
			*why = "will payload is marked UTF-8 but is not";
			return MQ_RC_PAYLOAD_FORMAT_INVALID;
		}
	}
	if (c->has_user) {
		if (!rd_str(&r, &c->username, &bad)) {
			*why = "truncated user name";
			return MQ_RC_MALFORMED;
		}
		if (bad) {
			*why = "user name is not valid UTF-8";
			return MQ_RC_MALFORMED;
		}
	}
	if (c->has_pass) {
		const uint8_t *p;
		uint16_t n;

		if (!rd_bin(&r, &p, &n)) {
			*why = "truncated password";
			return MQ_RC_MALFORMED;
		}
	}
	if (r.off != r.len) {
		*why = "trailing bytes after the payload";
		return MQ_RC_MALFORMED;
	}
	if (c->props.present & MQ_P_AUTH_METHOD) {
		*why = "enhanced authentication is not supported";
		return MQ_RC_BAD_AUTH_METHOD;
	}
	return MQ_RC_SUCCESS;
}

/*
 * PUBLISH: QoS 3 and DUP on QoS 0 are malformed; a topic name with
 * wildcards is invalid; v5: an empty topic needs a topic alias, and a
 * payload marked UTF-8 must be.  Packet id 0 is malformed for QoS > 0.
 */
int
mq_parse_publish(const uint8_t *b, size_t len, uint8_t flags, uint8_t version,
		 struct mq_publish *p, const char **why)
{
	struct rd r = { b, len, 0 };
	bool bad = false;
	int rc;

	memset(p, 0, sizeof(*p));
	*why = NULL;
	p->qos = (flags >> 1) & 3;
	p->dup = (flags & 0x08) != 0;
	p->retain = (flags & 0x01) != 0;
	if (p->qos == 3 || (p->qos == 0 && p->dup)) {
		*why = "bad PUBLISH flags (QoS 3, or DUP with QoS 0)";
		return MQ_RC_MALFORMED;
	}
	if (!rd_str(&r, &p->topic, &bad)) {
		*why = "truncated topic name";
		return MQ_RC_MALFORMED;
	}
	if (bad) {
		*why = "topic name is not valid UTF-8";
		return MQ_RC_MALFORMED;
	}
	if (p->qos > 0) {
		if (!rd_u16(&r, &p->pid)) {
			*why = "truncated packet identifier";
			return MQ_RC_MALFORMED;
		}
		if (p->pid == 0) {
			*why = "packet identifier 0";
			return MQ_RC_MALFORMED;
		}
	}
	if (version == MQ_V5) {
		rc = rd_props(&r, CX_PUBLISH, &p->props, why);
		if (rc != MQ_RC_SUCCESS)
			return rc;
	}
	p->payload = b + r.off;
	p->payload_len = len - r.off;
	if (p->topic.len == 0) {
		if (version != MQ_V5 ||
		    !(p->props.present & MQ_P_TOPIC_ALIAS)) {
			*why = "empty topic name";
			return MQ_RC_TOPIC_NAME_INVALID;
		}
	} else if (!mq_topic_name_valid(p->topic.p, p->topic.len)) {
		*why = "wildcard in a topic name";
		return MQ_RC_TOPIC_NAME_INVALID;
	}
	if (p->props.payload_format == 1 &&
	    !mq_utf8_valid((const char *)p->payload, p->payload_len)) {
		*why = "payload is marked UTF-8 but is not";
		return MQ_RC_PAYLOAD_FORMAT_INVALID;
	}
	return MQ_RC_SUCCESS;
}

/*
 * PUBACK, PUBREC, PUBCOMP (flags 0) and PUBREL (flags 2).  3.1.1: exactly
 * the packet id.  5.0: optionally a reason code and properties.
 */
int
mq_parse_ack(const uint8_t *b, size_t len, uint8_t type, uint8_t flags,
	     uint8_t version, struct mq_ack *a, const char **why)
{
	struct rd r = { b, len, 0 };
	struct mq_props pr;
	int rc;

	memset(a, 0, sizeof(*a));
	*why = NULL;
	if (flags != (type == MQ_PUBREL ? 2 : 0)) {
		*why = "bad fixed header flags";
		return MQ_RC_MALFORMED;
	}
	if (!rd_u16(&r, &a->pid) || a->pid == 0) {
		*why = "bad packet identifier";
		return MQ_RC_MALFORMED;
	}
	if (version != MQ_V5) {
		if (len != 2) {
			*why = "acknowledgement is not 2 bytes";
			return MQ_RC_MALFORMED;
		}
		return MQ_RC_SUCCESS;
	}
	if (r.off < len && !rd_u8(&r, &a->reason)) {
		*why = "truncated reason code";
		return MQ_RC_MALFORMED;
	}
	if (r.off < len) {
		rc = rd_props(&r, CX_ACK, &pr, why);
		if (rc != MQ_RC_SUCCESS)
			return rc;
	}
	if (r.off != len) {
		*why = "trailing bytes";
		return MQ_RC_MALFORMED;
	}
	return MQ_RC_SUCCESS;
}

static int
parse_sub_common(const uint8_t *b, size_t len, uint8_t flags, uint8_t version,
		 bool unsub, struct mq_subscribe *s, const char **why)
{
	struct rd r = { b, len, 0 };
	int rc;

	memset(s, 0, sizeof(*s));
	*why = NULL;
	if (flags != 2) {
		*why = "bad fixed header flags";
		return MQ_RC_MALFORMED;
	}
	if (!rd_u16(&r, &s->pid) || s->pid == 0) {
		*why = "bad packet identifier";
		return MQ_RC_MALFORMED;
	}
	if (version == MQ_V5) {
		rc = rd_props(&r, unsub ? CX_UNSUBSCRIBE : CX_SUBSCRIBE,
			      &s->props, why);
		if (rc != MQ_RC_SUCCESS)
			return rc;
	}
	while (r.off < len) {
		struct mq_sub_entry *e;
		bool bad = false;
		uint8_t o = 0;

		if (s->n == MQ_SUB_MAX) {
			*why = "more than 64 topic filters in one packet";
			return MQ_RC_QUOTA_EXCEEDED;
		}
		e = &s->e[s->n];
		if (!rd_str(&r, &e->filter, &bad) || (!unsub && !rd_u8(&r, &o))) {
			*why = "truncated topic filter";
			return MQ_RC_MALFORMED;
		}
		if (bad) {
			*why = "topic filter is not valid UTF-8";
			return MQ_RC_MALFORMED;
		}
		if (!unsub) {
			e->qos = o & 3;
			if (version == MQ_V5) {
				e->no_local = (o & 0x04) != 0;
				e->retain_as_published = (o & 0x08) != 0;
				e->retain_handling = (o >> 4) & 3;
				if ((o & 0xc0) || e->retain_handling == 3) {
					*why = "reserved subscription option bits";
					return MQ_RC_MALFORMED;
				}
			} else if (o & 0xfc) {
				*why = "reserved subscription option bits";
				return MQ_RC_MALFORMED;
			}
			if (e->qos == 3) {
				*why = "requested QoS 3";
				return MQ_RC_MALFORMED;
			}
		}
		s->n++;
	}
	if (s->n == 0) {
		*why = "no topic filter";
		return MQ_RC_PROTOCOL_ERROR;
	}
	return MQ_RC_SUCCESS;
}

/*
 * SUBSCRIBE / UNSUBSCRIBE: flags 2, packet id, (v5 properties), at least
 * one filter.  Each filter's syntax is left to the caller, which answers
 * a bad one with a per-filter failure code rather than closing.
 */
int
mq_parse_subscribe(const uint8_t *b, size_t len, uint8_t flags,
		   uint8_t version, struct mq_subscribe *s, const char **why)
{
	return parse_sub_common(b, len, flags, version, false, s, why);
}

int
mq_parse_unsubscribe(const uint8_t *b, size_t len, uint8_t flags,
		     uint8_t version, struct mq_subscribe *s, const char **why)
{
	return parse_sub_common(b, len, flags, version, true, s, why);
}

int
mq_parse_disconnect(const uint8_t *b, size_t len, uint8_t flags,
		    uint8_t version, struct mq_disconnect *d, const char **why)
{
	struct rd r = { b, len, 0 };
	int rc;

	memset(d, 0, sizeof(*d));
	*why = NULL;
	if (flags != 0) {
		*why = "bad fixed header flags";
		return MQ_RC_MALFORMED;
	}
	if (version != MQ_V5) {
		if (len != 0) {
			*why = "DISCONNECT with a body";
			return MQ_RC_MALFORMED;
		}
		return MQ_RC_SUCCESS;
	}
	if (len >= 1)
		(void)rd_u8(&r, &d->reason);
	if (len >= 2) {
		rc = rd_props(&r, CX_DISCONNECT, &d->props, why);
		if (rc != MQ_RC_SUCCESS)
			return rc;
	}
	if (r.off != len) {
		*why = "trailing bytes";
		return MQ_RC_MALFORMED;
	}
	return MQ_RC_SUCCESS;
}

int
mq_parse_empty(size_t len, uint8_t flags, const char **why)
{
	*why = NULL;
	if (flags != 0 || len != 0) {
		*why = "bad fixed header flags or length";
		return MQ_RC_MALFORMED;
	}
	return MQ_RC_SUCCESS;
}

/* ---------------------------------------------------------------- */
/* encoders */

int
mq_varint_put(uint8_t *out, size_t cap, uint32_t v)
{
	size_t n = 0;

	if (v > MQ_REMLEN_MAX)
		return -1;
	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		if (v)
			b |= 0x80;
		if (n >= cap)
			return -1;
		out[n++] = b;
	} while (v);
	return (int)n;
}

static size_t
varint_len(uint32_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

struct wr {
	uint8_t *p;
	size_t cap, off;
	bool err;
};

static void
wr_u8(struct wr *w, uint8_t v)
{
	if (w->err)
		return;
	if (w->cap - w->off < 1) {
		w->err = true;
		return;
	}
	w->p[w->off++] = v;
}

static void
wr_u16(struct wr *w, uint16_t v)
{
	wr_u8(w, (uint8_t)(v >> 8));
	wr_u8(w, (uint8_t)v);
}

static void
wr_u32(struct wr *w, uint32_t v)
{
	wr_u16(w, (uint16_t)(v >> 16));
	wr_u16(w, (uint16_t)v);
}

static void
wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (w->cap - w->off < n) {
		w->err = true;
		return;
	}
	if (n)
		memcpy(w->p + w->off, p, n);
	w->off += n;
}

static void
wr_str(struct wr *w, const char *s, size_t n)
{
	if (n > 65535) {
		w->err = true;
		return;
	}
	wr_u16(w, (uint16_t)n);
	wr_bytes(w, s, n);
}

static void
wr_varint(struct wr *w, uint32_t v)
{
	int n;

	if (w->err)
		return;
	n = mq_varint_put(w->p + w->off, w->cap - w->off, v);
	if (n < 0)
		w->err = true;
	else
		w->off += (size_t)n;
}

/*
 * Finish a packet whose body was written at body[0..blen) in a scratch
 * area: prepend the fixed header.  Packets here are small, so the body is
 * built in place after a 5-byte gap and moved once.
 */
static int
finish(uint8_t *out, size_t cap, uint8_t first, struct wr *w)
{
	size_t blen = w->off - 5;
	size_t hl;

	if (w->err || blen > MQ_REMLEN_MAX)
		return -1;
	hl = 1 + varint_len((uint32_t)blen);
	if (hl + blen > cap)
		return -1;
	memmove(out + hl, out + 5, blen);
	out[0] = first;
	(void)mq_varint_put(out + 1, hl - 1, (uint32_t)blen);
	return (int)(hl + blen);
}

uint8_t
mq_connack_v3_code(uint8_t reason)
{
	switch (reason) {
	case MQ_RC_SUCCESS: return MQ_V3_ACCEPTED;
	case MQ_RC_UNSUPPORTED_VERSION: return MQ_V3_BAD_VERSION;
	case MQ_RC_CLIENT_ID_INVALID: return MQ_V3_ID_REJECTED;
	case MQ_RC_BAD_AUTH: return MQ_V3_BAD_AUTH;
	case MQ_RC_NOT_AUTHORIZED:
	case MQ_RC_BAD_AUTH_METHOD: return MQ_V3_NOT_AUTHORIZED;
	default: return MQ_V3_UNAVAILABLE;
	}
}

int
mq_enc_connack(uint8_t *out, size_t cap, const struct mq_connack_args *a)
{
	struct wr w = { out, cap, 5, cap < 5 };
	uint8_t props[512];
	struct wr pw = { props, sizeof(props), 0, false };

	wr_u8(&w, a->session_present && a->reason == 0 ? 1 : 0);
	if (a->version != MQ_V5) {
		wr_u8(&w, mq_connack_v3_code(a->reason));
		return finish(out, cap, MQ_CONNACK << 4, &w);
	}
	wr_u8(&w, a->reason);
	if (a->has_session_expiry) {
		wr_u8(&pw, 0x11);
		wr_u32(&pw, a->session_expiry);
	}
	if (a->receive_max) {
		wr_u8(&pw, 0x21);
		wr_u16(&pw, a->receive_max);
	}
	if (a->max_qos_1) {
		wr_u8(&pw, 0x24);
		wr_u8(&pw, 1);
	}
	if (a->max_packet) {
		wr_u8(&pw, 0x27);
		wr_u32(&pw, a->max_packet);
	}
	if (a->assigned_id != NULL) {
		wr_u8(&pw, 0x12);
		wr_str(&pw, a->assigned_id, strlen(a->assigned_id));
	}
	if (a->topic_alias_max) {
		wr_u8(&pw, 0x22);
		wr_u16(&pw, a->topic_alias_max);
	}
	if (a->reason_string != NULL) {
		wr_u8(&pw, 0x1F);
		wr_str(&pw, a->reason_string, strlen(a->reason_string));
	}
	if (a->no_sub_ids) {
		wr_u8(&pw, 0x29);
		wr_u8(&pw, 0);
	}
	if (a->no_shared_subs) {
		wr_u8(&pw, 0x2A);
		wr_u8(&pw, 0);
	}
	if (a->has_server_keepalive) {
		wr_u8(&pw, 0x13);
		wr_u16(&pw, a->server_keepalive);
	}
	if (pw.err)
		return -1;
	wr_varint(&w, (uint32_t)pw.off);
	wr_bytes(&w, props, pw.off);
	return finish(out, cap, MQ_CONNACK << 4, &w);
}

size_t
mq_publish_size(uint8_t version, uint8_t qos, size_t tlen, size_t props_len,
		uint32_t sub_id, size_t plen)
{
	size_t body = 2 + tlen + (qos ? 2 : 0) + plen;

	if (version == MQ_V5) {
		size_t pl = props_len + (sub_id ? 1 + varint_len(sub_id) : 0);

		body += varint_len((uint32_t)pl) + pl;
	}
	return 1 + varint_len((uint32_t)body) + body;
}

int
mq_enc_publish(uint8_t *out, size_t cap, uint8_t version, uint8_t qos,
	       bool retain, bool dup, const char *topic, size_t tlen,
	       uint16_t pid, const uint8_t *props, size_t props_len,
	       uint32_t sub_id, const uint8_t *payload, size_t plen)
{
	size_t body = 2 + tlen + (qos ? 2 : 0) + plen, pl = 0;
	struct wr w;

	if (qos > 2 || tlen > 65535 || (qos && pid == 0) ||
	    sub_id > MQ_REMLEN_MAX)
		return -1;
	if (version == MQ_V5) {
		pl = props_len + (sub_id ? 1 + varint_len(sub_id) : 0);
		body += varint_len((uint32_t)pl) + pl;
	}
	if (body > MQ_REMLEN_MAX)
		return -1;
	w.p = out;
	w.cap = cap;
	w.off = 0;
	w.err = false;
	wr_u8(&w, (uint8_t)(MQ_PUBLISH << 4 | (dup ? 8 : 0) | qos << 1 |
			    (retain ? 1 : 0)));
	wr_varint(&w, (uint32_t)body);
	wr_str(&w, topic, tlen);
	if (qos)
		wr_u16(&w, pid);
	if (version == MQ_V5) {
		wr_varint(&w, (uint32_t)pl);
		wr_bytes(&w, props, props_len);
		if (sub_id) {
			wr_u8(&w, 0x0B);
			wr_varint(&w, sub_id);
		}
	}
	wr_bytes(&w, payload, plen);
	return w.err ? -1 : (int)w.off;
}

int
mq_enc_ack(uint8_t *out, size_t cap, uint8_t type, uint8_t version,
	   uint16_t pid, uint8_t reason)
{
	struct wr w = { out, cap, 0, false };
	bool full = version == MQ_V5 && reason != 0;

	if (type < MQ_PUBACK || type > MQ_PUBCOMP)
		return -1;
	wr_u8(&w, (uint8_t)(type << 4 | (type == MQ_PUBREL ? 2 : 0)));
	wr_u8(&w, full ? 3 : 2);
	wr_u16(&w, pid);
	if (full)
		wr_u8(&w, reason);
	return w.err ? -1 : (int)w.off;
}

int
mq_enc_suback(uint8_t *out, size_t cap, uint8_t type, uint8_t version,
	      uint16_t pid, const uint8_t *codes, unsigned n)
{
	struct wr w = { out, cap, 5, cap < 5 };

	if (type != MQ_SUBACK && type != MQ_UNSUBACK)
		return -1;
	wr_u16(&w, pid);
	if (version == MQ_V5)
		wr_u8(&w, 0); /* no properties */
	if (type == MQ_SUBACK || version == MQ_V5)
		wr_bytes(&w, codes, n);
	return finish(out, cap, (uint8_t)(type << 4), &w);
}

int
mq_enc_pingresp(uint8_t *out, size_t cap)
{
	if (cap < 2)
		return -1;
	out[0] = MQ_PINGRESP << 4;
	out[1] = 0;
	return 2;
}

int
mq_enc_disconnect(uint8_t *out, size_t cap, uint8_t reason,
		  const char *reason_string)
{
	struct wr w = { out, cap, 5, cap < 5 };
	size_t n = reason_string ? strlen(reason_string) : 0;

	wr_u8(&w, reason);
	if (n) {
		if (n > 200)
			n = 200;
		wr_varint(&w, (uint32_t)(n + 3));
		wr_u8(&w, 0x1F);
		wr_str(&w, reason_string, n);
	} else {
		wr_u8(&w, 0);
	}
	return finish(out, cap, MQ_DISCONNECT << 4, &w);
}

size_t
mq_props_forwardable(const uint8_t *in, size_t in_len, uint8_t *out)
{
	struct rd r = { in, in_len, 0 };
	size_t o = 0;

	while (r.off < r.len) {
		size_t start = r.off;
		const struct prop_def *d;
		uint32_t id, v;
		uint16_t n;
		uint8_t b;
		const uint8_t *bp;
		struct mq_str s;
		bool bad = false, okr = false;

		if (!rd_varint(&r, &id) || (d = prop_def((uint8_t)id)) == NULL)
			break; /* validated before: cannot happen */
		switch (d->type) {
		case PT_BYTE: okr = rd_u8(&r, &b); break;
		case PT_U16: okr = rd_u16(&r, &n); break;
		case PT_U32: okr = rd_u32(&r, &v); break;
		case PT_VARINT: okr = rd_varint(&r, &v); break;
		case PT_STR: okr = rd_str(&r, &s, &bad); break;
		case PT_BIN: okr = rd_bin(&r, &bp, &n); break;
		case PT_PAIR: okr = rd_str(&r, &s, &bad) && rd_str(&r, &s, &bad); break;
		}
		if (!okr)
			break;
		if (id == 0x23 || id == 0x0B)
			continue;
		memmove(out + o, in + start, r.off - start);
		o += r.off - start;
	}
	return o;
}
