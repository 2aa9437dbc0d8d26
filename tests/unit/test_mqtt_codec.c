/*
 * test_mqtt_codec: the MQTT 3.1.1 / 5.0 packet codec of plugins/mqttd.
 * Packets are written out byte by byte from the specifications'
 * layouts (and cross-checked against what mosquitto_pub sends).
 */
#include <string.h>

#include "plugins/mqttd/codec.h"
#include "tests/unit/tap.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* mosquitto_pub -V mqttv311 -i c1 -k 60 -t t -m x: its CONNECT. */
static const uint8_t connect_v3[] = {
	0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c,
	0x00, 0x02, 'c', '1'
};
/* v5, clean start, session expiry 300, receive max 10, will "w/t" = "bye"
 * with will delay 0, user name "u". */
static const uint8_t connect_v5[] = {
	0x10, 0x2a, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x86, 0x00, 0x0a,
	0x08, 0x11, 0x00, 0x00, 0x01, 0x2c, 0x21, 0x00, 0x0a,
	0x00, 0x02, 'c', '2',
	0x05, 0x18, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x03, 'w', '/', 't', 0x00, 0x03, 'b', 'y', 'e',
	0x00, 0x01, 'u',
};

static void
test_frame(void)
{
	struct mq_frame f;
	uint8_t big[] = { 0x30, 0xff, 0xff, 0xff, 0x7f };
	uint8_t five[] = { 0x30, 0x80, 0x80, 0x80, 0x80, 0x01 };
	uint8_t t0[] = { 0x00, 0x00 };
	size_t i;

	ok(mq_frame(connect_v3, sizeof(connect_v3), 0, &f) == MQ_OK &&
		   f.type == MQ_CONNECT && f.consumed == sizeof(connect_v3) &&
		   f.body_len == 14,
	   "a whole CONNECT frames");
	for (i = 0; i < sizeof(connect_v3); i++)
		if (mq_frame(connect_v3, i, 0, &f) != MQ_NEED_MORE ||
		    f.needed < 1 || (i >= 2 && f.needed != sizeof(connect_v3) - i))
			break;
	ok(i == sizeof(connect_v3), "every prefix asks for the missing bytes");
	ok(mq_frame(big, sizeof(big), 0, &f) == MQ_NEED_MORE &&
		   f.needed == 1 + 4 + MQ_REMLEN_MAX - sizeof(big),
	   "largest remaining length is 268435455");
	ok(mq_frame(big, sizeof(big), 1024, &f) == MQ_ERR_TOO_LARGE,
	   "a packet over the maximum size is refused from its header");
	ok(mq_frame(five, sizeof(five), 0, &f) == MQ_ERR_REMLEN,
	   "a fifth remaining-length byte is refused");
	ok(mq_frame(t0, sizeof(t0), 0, &f) == MQ_ERR_TYPE, "type 0 is refused");
	ok(mq_packet_len(connect_v3, 1) == 0 &&
		   mq_packet_len(connect_v3, 2) == sizeof(connect_v3) &&
		   mq_packet_len(connect_v3, sizeof(connect_v3)) ==
			   sizeof(connect_v3),
	   "packet length from the fixed header: unknown from one byte");
	ok(mq_packet_len(big, 4) == 0 &&
		   mq_packet_len(big, 5) == 1 + 4 + MQ_REMLEN_MAX,
	   "packet length waits for a four-byte remaining length");
	ok(mq_packet_len(five, sizeof(five)) == sizeof(five),
	   "a fifth remaining-length byte: what is there");
}

static void
test_text(void)
{
	ok(mq_utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10),
	   "UTF-8 of 1 to 4 bytes");
	ok(!mq_utf8_valid("a\0b", 3), "U+0000 refused");
	ok(!mq_utf8_valid("\xed\xa0\x80", 3), "surrogate U+D800 refused");
	ok(!mq_utf8_valid("\xc0\xaf", 2), "overlong '/' refused");
	ok(!mq_utf8_valid("\xe0\x80\xaf", 3), "3-byte overlong refused");
	ok(!mq_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF refused");
	ok(!mq_utf8_valid("\xe2\x82", 2), "truncated sequence refused");
	ok(mq_topic_name_valid("site/a/b", 8) && !mq_topic_name_valid("a/+", 3) &&
		   !mq_topic_name_valid("a/#", 3) && !mq_topic_name_valid("", 0),
	   "topic names: no wildcards, not empty");
	ok(mq_topic_filter_valid("#", 1) && mq_topic_filter_valid("a/+/b", 5) &&
		   mq_topic_filter_valid("+/+", 3) &&
		   mq_topic_filter_valid("a/#", 3),
	   "valid filters");
	ok(!mq_topic_filter_valid("a/#/b", 5) && !mq_topic_filter_valid("a+", 2) &&
		   !mq_topic_filter_valid("a/b#", 4) &&
		   !mq_topic_filter_valid("", 0),
	   "misplaced wildcards refused");
}

static int
m(const char *f, const char *t)
{
	return mq_topic_match(f, strlen(f), t, strlen(t));
}

static void
test_match(void)
{
	ok(m("a/b", "a/b") && !m("a/b", "a/c") && !m("a/b", "a/b/c") &&
		   !m("a/b/c", "a/b"),
	   "literal filters");
	ok(m("a/+", "a/b") && !m("a/+", "a/b/c") && m("a/+", "a/") &&
		   m("+/+", "/") && !m("+", "/"),
	   "'+' is exactly one level, possibly empty");
	ok(m("a/#", "a") && m("a/#", "a/b/c") && m("#", "x/y") &&
		   !m("a/#", "ab"),
	   "'#' is any number of levels, the parent too");
	ok(!m("#", "$SYS/x") && !m("+/x", "$SYS/x") && m("$SYS/#", "$SYS/x"),
	   "wildcards at the start do not match $ topics");
}

static int
fits(const char *pat, const char *cid, const char *id)
{
	return mq_client_id_fits(pat, cid, strlen(cid), id);
}

static void
test_client_id(void)
{
	ok(fits("%u", "plc-1", "plc-1") && !fits("%u", "plc-2", "plc-1") &&
		   !fits("%u", "plc-1x", "plc-1") && !fits("%u", "", "plc-1"),
	   "\"%%u\": exactly the identity");
	ok(fits("%u-*", "plc-1-a", "plc-1") && fits("%u-*", "plc-1-", "plc-1") &&
		   !fits("%u-*", "plc-2-a", "plc-1") && !fits("%u-*", "plc-1", "plc-1"),
	   "\"%%u-*\": the identity, a dash, anything");
	ok(fits("*", "", "x") && fits("*", "anything", "x") &&
		   fits("a*b*c", "aXbYc", "x") && !fits("a*b*c", "aXbY", "x"),
	   "'*' matches any run, with backtracking");
	ok(fits("100%%-%u", "100%-plc", "plc") && !fits("100%%-%u", "100-plc", "plc"),
	   "'%%%%' is a literal percent sign");
	ok(!fits("%u", "plc-1", "plc") && fits("%u*", "plc-1", "plc"),
	   "an identity that is a prefix does not fit \"%%u\"");
}

static void
test_connect(void)
{
	struct mq_frame f;
	struct mq_connect c;
	const char *why;
	uint8_t bad[sizeof(connect_v3)];

	mq_frame(connect_v3, sizeof(connect_v3), 0, &f);
	ok(mq_parse_connect(f.body, f.body_len, &c, &why) == 0 &&
		   c.version == MQ_V311 && c.clean && c.keepalive == 60 &&
		   c.client_id.len == 2 && memcmp(c.client_id.p, "c1", 2) == 0 &&
		   !c.will,
	   "3.1.1 CONNECT");
	ok(mq_frame(connect_v5, sizeof(connect_v5), 0, &f) == MQ_OK,
	   "v5 CONNECT frames");
	ok(mq_parse_connect(f.body, f.body_len, &c, &why) == 0 &&
		   c.version == MQ_V5 && c.clean && c.keepalive == 10 &&
		   (c.props.present & MQ_P_SESSION_EXPIRY) &&
		   c.props.session_expiry == 300 && c.props.receive_max == 10 &&
		   c.will && c.will_topic.len == 3 && c.will_len == 3 &&
		   (c.will_props.present & MQ_P_WILL_DELAY) && c.has_user &&
		   c.username.len == 1,
	   "v5 CONNECT with properties, will and user name");
	memcpy(bad, connect_v3, sizeof(bad));
	bad[8] = 3;
	mq_frame(bad, sizeof(bad), 0, &f);
	ok(mq_parse_connect(f.body, f.body_len, &c, &why) ==
		   MQ_RC_UNSUPPORTED_VERSION,
	   "MQTT 3.1 (level 3) is an unsupported version");
	memcpy(bad, connect_v3, sizeof(bad));
	bad[9] |= 1;
	mq_frame(bad, sizeof(bad), 0, &f);
	ok(mq_parse_connect(f.body, f.body_len, &c, &why) == MQ_RC_MALFORMED,
	   "reserved connect flag is malformed");
	memcpy(bad, connect_v3, sizeof(bad));
	bad[15] = 0;
	mq_frame(bad, sizeof(bad), 0, &f);
	ok(mq_parse_connect(f.body, f.body_len, &c, &why) == MQ_RC_MALFORMED,
	   "NUL in the client id is malformed");
	ok(mq_parse_connect(f.body, f.body_len - 1, &c, &why) ==
		   MQ_RC_MALFORMED,
	   "truncated CONNECT is malformed");
}

static void
test_publish(void)
{
	static const uint8_t v3[] = { 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07,
				      'h', 'i' };
	static const uint8_t v5[] = { 0x00, 0x00, 0x00, 0x07, 0x03, 0x23, 0x00,
				      0x02, 'h', 'i' };
	static const uint8_t v5bad[] = { 0x00, 0x01, 'a', 0x02, 0x01, 0x01,
					 0xff };
	struct mq_publish p;
	const char *why;

	ok(mq_parse_publish(v3, sizeof(v3), 0x02 | 0x01, MQ_V311, &p, &why) == 0 &&
		   p.qos == 1 && p.retain && p.pid == 7 && p.payload_len == 2 &&
		   p.topic.len == 3,
	   "3.1.1 QoS 1 retained PUBLISH");
	ok(mq_parse_publish(v3, sizeof(v3), 0x06, MQ_V311, &p, &why) ==
		   MQ_RC_MALFORMED,
	   "QoS 3 is malformed");
	ok(mq_parse_publish(v3, sizeof(v3), 0x08, MQ_V311, &p, &why) ==
		   MQ_RC_MALFORMED,
	   "DUP with QoS 0 is malformed");
	ok(mq_parse_publish(v5, sizeof(v5), 0x02, MQ_V5, &p, &why) == 0 &&
		   p.topic.len == 0 && p.props.topic_alias == 2 &&
		   p.payload_len == 2,
	   "v5 PUBLISH with a topic alias and no topic");
	ok(mq_parse_publish(v5, sizeof(v5), 0x02, MQ_V311, &p, &why) != 0,
	   "3.1.1 PUBLISH with an empty topic is refused");
	ok(mq_parse_publish(v5bad, sizeof(v5bad), 0, MQ_V5, &p, &why) ==
		   MQ_RC_PAYLOAD_FORMAT_INVALID,
	   "payload marked UTF-8 must be UTF-8");
}

static void
test_subscribe(void)
{
	static const uint8_t v3[] = { 0x00, 0x05, 0x00, 0x03, 'a', '/', '#',
				      0x01, 0x00, 0x01, '+', 0x02 };
	static const uint8_t v5[] = { 0x00, 0x05, 0x02, 0x0b, 0x09, 0x00, 0x01,
				      'x', 0x2d };
	struct mq_subscribe s;
	const char *why;

	ok(mq_parse_subscribe(v3, sizeof(v3), 2, MQ_V311, &s, &why) == 0 &&
		   s.pid == 5 && s.n == 2 && s.e[0].qos == 1 && s.e[1].qos == 2,
	   "3.1.1 SUBSCRIBE with two filters");
	ok(mq_parse_subscribe(v3, sizeof(v3), 0, MQ_V311, &s, &why) ==
		   MQ_RC_MALFORMED,
	   "SUBSCRIBE flags must be 2");
	ok(mq_parse_subscribe(v5, sizeof(v5), 2, MQ_V5, &s, &why) == 0 &&
		   s.props.sub_id == 9 && s.e[0].qos == 1 && s.e[0].no_local &&
		   s.e[0].retain_as_published && s.e[0].retain_handling == 2,
	   "v5 SUBSCRIBE with options and a subscription identifier");
	ok(mq_parse_subscribe(v5, sizeof(v5), 2, MQ_V311, &s, &why) != 0,
	   "v5 options are reserved bits in 3.1.1");
	ok(mq_parse_unsubscribe(v3, 7, 2, MQ_V311, &s, &why) == 0 && s.n == 1,
	   "UNSUBSCRIBE");
}

static void
test_encode(void)
{
	uint8_t buf[256], codes[2] = { 1, 0x87 };
	struct mq_connack_args a;
	struct mq_frame f;
	struct mq_publish p;
	struct mq_ack ack;
	const char *why;
	int n;

	memset(&a, 0, sizeof(a));
	a.version = MQ_V311;
	a.reason = MQ_RC_CLIENT_ID_INVALID;
	n = mq_enc_connack(buf, sizeof(buf), &a);
	ok(n == 4 && buf[0] == 0x20 && buf[1] == 2 && buf[3] == 2,
	   "3.1.1 CONNACK identifier rejected");
	a.version = MQ_V5;
	a.reason = 0;
	a.receive_max = 20;
	a.topic_alias_max = 16;
	n = mq_enc_connack(buf, sizeof(buf), &a);
	ok(n > 4 && mq_frame(buf, (size_t)n, 0, &f) == MQ_OK &&
		   f.type == MQ_CONNACK && f.consumed == (size_t)n,
	   "v5 CONNACK with properties frames");
	n = mq_enc_publish(buf, sizeof(buf), MQ_V5, 1, true, false, "a/b", 3,
			   9, NULL, 0, 5, (const uint8_t *)"hi", 2);
	ok(n > 0 && (size_t)n == mq_publish_size(MQ_V5, 1, 3, 0, 5, 2) &&
		   mq_frame(buf, (size_t)n, 0, &f) == MQ_OK &&
		   mq_parse_publish(f.body, f.body_len, f.flags, MQ_V5, &p, &why) ==
			   MQ_RC_PROTOCOL_ERROR,
	   "encoded PUBLISH carries a subscription id (refused from clients)");
	n = mq_enc_publish(buf, sizeof(buf), MQ_V311, 2, false, false, "a/b", 3,
			   9, NULL, 0, 0, (const uint8_t *)"hi", 2);
	ok(n > 0 && mq_frame(buf, (size_t)n, 0, &f) == MQ_OK &&
		   mq_parse_publish(f.body, f.body_len, f.flags, MQ_V311, &p,
				    &why) == 0 &&
		   p.qos == 2 && p.pid == 9 && p.payload_len == 2,
	   "3.1.1 PUBLISH round trip");
	n = mq_enc_ack(buf, sizeof(buf), MQ_PUBACK, MQ_V5, 3, 0x87);
	ok(n == 5 && mq_frame(buf, 5, 0, &f) == MQ_OK &&
		   mq_parse_ack(f.body, f.body_len, MQ_PUBACK, f.flags, MQ_V5,
				&ack, &why) == 0 &&
		   ack.pid == 3 && ack.reason == 0x87,
	   "v5 PUBACK with reason 0x87");
	n = mq_enc_ack(buf, sizeof(buf), MQ_PUBREL, MQ_V311, 3, 0);
	ok(n == 4 && buf[0] == 0x62, "PUBREL has flags 2");
	n = mq_enc_suback(buf, sizeof(buf), MQ_SUBACK, MQ_V311, 4, codes, 2);
	ok(n == 6 && buf[4] == 1 && buf[5] == 0x87, "3.1.1 SUBACK");
	n = mq_enc_suback(buf, sizeof(buf), MQ_UNSUBACK, MQ_V311, 4, codes, 2);
	ok(n == 4, "3.1.1 UNSUBACK has no codes");
	n = mq_enc_disconnect(buf, sizeof(buf), MQ_RC_SESSION_TAKEN_OVER, "x");
	ok(n == 8 && buf[2] == 0x8e && buf[3] == 4 && buf[4] == 0x1f,
	   "v5 DISCONNECT with a reason string");
	ok(mq_enc_publish(buf, 8, MQ_V311, 0, false, false, "a/b", 3, 0, NULL,
			  0, 0, (const uint8_t *)"hello", 5) == -1,
	   "encoders refuse a buffer too small");
}

int
main(void)
{
	plan(56);
	test_frame();
	test_text();
	test_match();
	test_client_id();
	test_connect();
	test_publish();
	test_subscribe();
	test_encode();
	return done_testing();
}
