/*
 * adminop.c: see adminop.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gateway/adminop.h"

/* Append to buf at *off; -1 when it no longer fits. */
static int
put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int
put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*off >= len)
		return -1;
	va_start(ap, fmt);
	w = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= len - *off)
		return -1;
	*off += (size_t)w;
	return 0;
}

/* " LEN:BYTES"; NULL is "0:". */
static int
put_str(char *buf, size_t len, size_t *off, const char *s, size_t n)
{
	if (s == NULL)
		n = 0;
	if (s != NULL && memchr(s, '\0', n) != NULL)
		return -1;
	if (put(buf, len, off, " %zu:", n) < 0 || *off + n >= len)
		return -1;
	if (n > 0)
		memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
	return 0;
}

int
admin_op_format(const struct zg_op *op, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	switch (op->proto) {
	case ZG_PROTO_MODBUS: {
		const struct zg_modbus_op *m = &op->u.modbus;

		if (m->nspans > 2 || m->nvalues > ADMIN_OP_VALUES ||
		    (m->nvalues > 0 && m->values == NULL))
			return -1;
		if (put(buf, len, &off, "modbus %u %u %u %u %u", m->unit, m->fc,
			m->subfn, m->mei, m->nspans) < 0)
			return -1;
		for (i = 0; i < m->nspans; i++)
			if (put(buf, len, &off, " %u %u %u %u", m->spans[i].table,
				m->spans[i].access, m->spans[i].addr,
				m->spans[i].qty) < 0)
				return -1;
		if (put(buf, len, &off, " %u", m->nvalues) < 0)
			return -1;
		for (i = 0; i < m->nvalues; i++)
			if (put(buf, len, &off, " %u", m->values[i]) < 0)
				return -1;
		return 0;
	}
	case ZG_PROTO_MQTT: {
		const struct zg_mqtt_op *q = &op->u.mqtt;

		if (put(buf, len, &off, "mqtt %u %u %u", q->action, q->qos,
			q->retain ? 1u : 0u) < 0 ||
		    put_str(buf, len, &off, q->client_id,
			    q->client_id ? strlen(q->client_id) : 0) < 0 ||
		    put_str(buf, len, &off, q->topic, q->topic_len) < 0)
			return -1;
		return 0;
	}
	case ZG_PROTO_HTTP:
		if (put(buf, len, &off, "http") < 0 ||
		    put_str(buf, len, &off, op->u.http.method,
			    op->u.http.method ? strlen(op->u.http.method) : 0) < 0 ||
		    put_str(buf, len, &off, op->u.http.path,
			    op->u.http.path ? strlen(op->u.http.path) : 0) < 0)
			return -1;
		return 0;
	default:
		return -1;
	}
}

struct rd {
	const char *start, *p, *end;
	char *err;
	size_t errlen;
};

static int
rd_fail(struct rd *r, const char *what)
{
	if (r->errlen > 0)
		snprintf(r->err, r->errlen, "%s at byte %ld", what,
			 (long)(r->p - r->start));
	return -1;
}

/* The protocol word at the start. */
static int
rd_word(struct rd *r, const char *want)
{
	size_t n = strlen(want);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, want, n) != 0)
		return rd_fail(r, "unknown protocol (modbus, mqtt, http)");
	r->p += n;
	return 0;
}

/* " N" with 0 <= N <= max, no leading zeros. */
static int
rd_num(struct rd *r, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *start;

	if (r->p >= r->end || *r->p != ' ')
		return rd_fail(r, "expected a space");
	r->p++;
	start = r->p;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		v = v * 10 + (unsigned long)(*r->p - '0');
		if (v > max)
			return rd_fail(r, "number out of range");
		r->p++;
	}
	if (r->p == start)
		return rd_fail(r, "expected a number");
	if (*start == '0' && r->p - start > 1)
		return rd_fail(r, "leading zero");
	*out = v;
	return 0;
}

/*
 * " LEN:BYTES" copied into str at *used (NUL-terminated); *s points to it,
 * or NULL when LEN is 0 and null_if_empty.
 */
static int
rd_str(struct rd *r, struct admin_op *o, size_t *used, const char **s,
       size_t *slen, bool null_if_empty)
{
	unsigned long n;

	if (rd_num(r, ADMIN_OP_MAX, &n) < 0)
		return -1;
	if (r->p >= r->end || *r->p != ':')
		return rd_fail(r, "expected ':' after a string length");
	r->p++;
	if ((size_t)(r->end - r->p) < n)
		return rd_fail(r, "string runs past the end");
	if (*used + n + 1 > sizeof(o->str))
		return rd_fail(r, "strings too long");
	if (memchr(r->p, '\0', n) != NULL)
		return rd_fail(r, "NUL in a string");
	memcpy(o->str + *used, r->p, n);
	o->str[*used + n] = '\0';
	*s = n == 0 && null_if_empty ? NULL : o->str + *used;
	if (slen != NULL)
		*slen = n;
	*used += n + 1;
	r->p += n;
	return 0;
}

int
admin_op_parse(const char *s, size_t s_len, struct admin_op *out, char *err,
	       size_t errlen)
{
	struct rd r = { s, s, s + s_len, err, errlen };
	unsigned long v[4];
	size_t used = 0;
	int i;

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		err[0] = '\0';
	if (s_len > ADMIN_OP_MAX)
		return rd_fail(&r, "operation too long");
	if (s_len >= 7 && memcmp(s, "modbus ", 7) == 0) {
		struct zg_modbus_op *m = &out->op.u.modbus;

		rd_word(&r, "modbus");
		out->op.proto = ZG_PROTO_MODBUS;
		if (rd_num(&r, 255, &v[0]) < 0 || rd_num(&r, 127, &v[1]) < 0 ||
		    rd_num(&r, 65535, &v[2]) < 0 || rd_num(&r, 255, &v[3]) < 0)
			return -1;
		m->unit = (uint8_t)v[0];
		m->fc = (uint8_t)v[1];
		m->subfn = (uint16_t)v[2];
		m->mei = (uint8_t)v[3];
		if (rd_num(&r, 2, &v[0]) < 0)
			return -1;
		m->nspans = (uint8_t)v[0];
		for (i = 0; i < m->nspans; i++) {
			if (rd_num(&r, ZG_MB_NTABLES - 1, &v[0]) < 0 ||
			    rd_num(&r, ZG_MB_WRITE, &v[1]) < 0 ||
			    rd_num(&r, 65535, &v[2]) < 0 ||
			    rd_num(&r, 65535, &v[3]) < 0)
				return -1;
			if (v[1] < ZG_MB_READ || v[3] < 1 || v[2] + v[3] > 65536)
				return rd_fail(&r, "bad span (access 1..2, qty >= 1, within 65536 addresses)");
			m->spans[i].table = (uint8_t)v[0];
			m->spans[i].access = (uint8_t)v[1];
			m->spans[i].addr = (uint16_t)v[2];
			m->spans[i].qty = (uint16_t)v[3];
		}
		if (rd_num(&r, ADMIN_OP_VALUES, &v[0]) < 0)
			return -1;
		m->nvalues = (uint16_t)v[0];
		for (i = 0; i < m->nvalues; i++) {
			if (rd_num(&r, 65535, &v[1]) < 0)
				return -1;
			out->values[i] = (uint16_t)v[1];
		}
		m->values = m->nvalues > 0 ? out->values : NULL;
	} else if (s_len >= 5 && memcmp(s, "mqtt ", 5) == 0) {
		struct zg_mqtt_op *q = &out->op.u.mqtt;

		rd_word(&r, "mqtt");
		out->op.proto = ZG_PROTO_MQTT;
		if (rd_num(&r, ZG_MQTT_SUBSCRIBE, &v[0]) < 0 ||
		    rd_num(&r, 2, &v[1]) < 0 || rd_num(&r, 1, &v[2]) < 0)
			return -1;
		if (v[0] < ZG_MQTT_PUBLISH)
			return rd_fail(&r, "bad MQTT action (1 publish, 2 subscribe)");
		q->action = (uint8_t)v[0];
		q->qos = (uint8_t)v[1];
		q->retain = v[2] != 0;
		if (rd_str(&r, out, &used, &q->client_id, NULL, true) < 0 ||
		    rd_str(&r, out, &used, &q->topic, &q->topic_len, false) < 0)
			return -1;
	} else if (s_len >= 5 && memcmp(s, "http ", 5) == 0) {
		rd_word(&r, "http");
		out->op.proto = ZG_PROTO_HTTP;
		if (rd_str(&r, out, &used, &out->op.u.http.method, NULL, false) < 0 ||
		    rd_str(&r, out, &used, &out->op.u.http.path, NULL, false) < 0)
			return -1;
	} else {
		return rd_fail(&r, "unknown protocol (modbus, mqtt, http)");
	}
	if (r.p != r.end)
		return rd_fail(&r, "trailing bytes");
	return 0;
}
