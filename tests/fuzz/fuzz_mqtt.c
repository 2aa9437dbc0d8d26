/*
 * fuzz_mqtt: the input is an MQTT client byte stream.  The first byte
 * chooses the protocol version (bit 0: 5.0, else 3.1.1) and whether a
 * small maximum packet size applies (bit 1); the rest is framed and every
 * packet decoded as the broker does.  Invariants checked:
 *
 *   - a frame never claims bytes past the input, and one byte short of a
 *     frame asks for exactly one more;
 *   - decoded strings and payloads lie inside the packet body;
 *   - a PUBLISH that decodes is re-encoded, decodes again to the same
 *     fields, and its encoded size is what mq_publish_size() predicts;
 *   - filters that pass mq_topic_filter_valid() match the topics of the
 *     stream without crashing, and '#' matches every non-'$' topic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/mqttd/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                \
	do {                    \
		if (!(x))       \
			abort(); \
	} while (0)

static const uint8_t *g_body;
static size_t g_len;

static void
inside(const void *p, size_t n)
{
	const uint8_t *q = p;

	if (n == 0)
		return;
	CHECK(q >= g_body && q + n <= g_body + g_len);
}

static void
check_publish(const struct mq_publish *p, uint8_t version)
{
	static uint8_t out[70000], fw[70000];
	struct mq_publish q;
	struct mq_frame f;
	const char *why;
	size_t fl;
	int n;

	inside(p->topic.p, p->topic.len);
	inside(p->payload, p->payload_len);
	inside(p->props.raw, p->props.raw_len);
	if (p->payload_len > 60000 || p->topic.len == 0)
		return;
	fl = mq_props_forwardable(p->props.raw, p->props.raw_len, fw);
	CHECK(fl <= p->props.raw_len);
	n = mq_enc_publish(out, sizeof(out), version, p->qos, p->retain, p->dup,
			   p->topic.p, p->topic.len, p->pid, fw, fl, 0,
			   p->payload, p->payload_len);
	CHECK(n > 0);
	CHECK((size_t)n == mq_publish_size(version, p->qos, p->topic.len, fl,
					   0, p->payload_len));
	CHECK(mq_frame(out, (size_t)n, 0, &f) == MQ_OK && f.consumed == (size_t)n);
	CHECK(mq_parse_publish(f.body, f.body_len, f.flags, version, &q, &why) ==
	      MQ_RC_SUCCESS);
	CHECK(q.qos == p->qos && q.retain == p->retain && q.pid == p->pid &&
	      q.topic.len == p->topic.len &&
	      memcmp(q.topic.p, p->topic.p, p->topic.len) == 0 &&
	      q.payload_len == p->payload_len &&
	      memcmp(q.payload, p->payload, p->payload_len) == 0);
	CHECK(!(q.props.present & MQ_P_TOPIC_ALIAS));
	CHECK(mq_topic_match("#", 1, p->topic.p, p->topic.len) ==
	      (p->topic.p[0] != '$'));
}

static void
check_body(const struct mq_frame *f, uint8_t version, struct mq_str *last)
{
	union {
		struct mq_connect c;
		struct mq_publish p;
		struct mq_subscribe s;
		struct mq_ack a;
		struct mq_disconnect d;
	} u;
	const char *why = NULL;
	unsigned i;
	int rc = -1;

	g_body = f->body;
	g_len = f->body_len;
	switch (f->type) {
	case MQ_CONNECT:
		rc = mq_parse_connect(f->body, f->body_len, &u.c, &why);
		if (rc == 0) {
			CHECK(u.c.version == MQ_V311 || u.c.version == MQ_V5);
			inside(u.c.client_id.p, u.c.client_id.len);
			CHECK(mq_utf8_valid(u.c.client_id.p, u.c.client_id.len));
			if (u.c.will) {
				inside(u.c.will_topic.p, u.c.will_topic.len);
				inside(u.c.will_payload, u.c.will_len);
				CHECK(mq_topic_name_valid(u.c.will_topic.p,
							  u.c.will_topic.len));
			}
		}
		break;
	case MQ_PUBLISH:
		rc = mq_parse_publish(f->body, f->body_len, f->flags, version,
				      &u.p, &why);
		if (rc == 0) {
			check_publish(&u.p, version);
			if (u.p.topic.len > 0)
				*last = u.p.topic;
		}
		break;
	case MQ_PUBACK:
	case MQ_PUBREC:
	case MQ_PUBREL:
	case MQ_PUBCOMP:
		rc = mq_parse_ack(f->body, f->body_len, f->type, f->flags,
				  version, &u.a, &why);
		if (rc == 0)
			CHECK(u.a.pid != 0);
		break;
	case MQ_SUBSCRIBE:
	case MQ_UNSUBSCRIBE:
		rc = f->type == MQ_SUBSCRIBE
			     ? mq_parse_subscribe(f->body, f->body_len, f->flags,
						  version, &u.s, &why)
			     : mq_parse_unsubscribe(f->body, f->body_len,
						    f->flags, version, &u.s,
						    &why);
		if (rc != 0)
			break;
		CHECK(u.s.n >= 1 && u.s.n <= MQ_SUB_MAX && u.s.pid != 0);
		for (i = 0; i < u.s.n; i++) {
			const struct mq_str *fs = &u.s.e[i].filter;

			inside(fs->p, fs->len);
			CHECK(u.s.e[i].qos <= 2);
			if (mq_topic_filter_valid(fs->p, fs->len) &&
			    last->len > 0) {
				bool m = mq_topic_match(fs->p, fs->len, last->p,
							last->len);
				/* a topic name used as a filter matches itself */
				if (fs->len == last->len &&
				    memcmp(fs->p, last->p, fs->len) == 0)
					CHECK(m);
			}
		}
		break;
	case MQ_DISCONNECT:
		rc = mq_parse_disconnect(f->body, f->body_len, f->flags,
					 version, &u.d, &why);
		break;
	case MQ_PINGREQ:
		rc = mq_parse_empty(f->body_len, f->flags, &why);
		break;
	default:
		break;
	}
	if (rc > 0)
		CHECK(rc >= 0x80 && why != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mq_frame f, g;
	struct mq_str last = { NULL, 0 };
	uint8_t version;
	size_t off = 1, maxp;
	enum mq_status st;

	if (size < 1)
		return 0;
	version = (data[0] & 1) ? MQ_V5 : MQ_V311;
	maxp = (data[0] & 2) ? 256 : 0;
	while (off < size) {
		st = mq_frame(data + off, size - off, maxp, &f);
		if (st == MQ_NEED_MORE) {
			CHECK(f.needed >= 1 && f.consumed == 0);
			break;
		}
		if (st != MQ_OK)
			break;
		CHECK(f.consumed <= size - off && f.consumed >= 2);
		CHECK(f.body + f.body_len == data + off + f.consumed);
		CHECK(maxp == 0 || f.consumed <= maxp);
		CHECK(mq_frame(data + off, f.consumed - 1, maxp, &g) ==
			      MQ_NEED_MORE &&
		      g.needed == 1);
		check_body(&f, version, &last);
		off += f.consumed;
	}
	return 0;
}
