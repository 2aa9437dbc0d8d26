/*
 * cmdjson.c: see cmdjson.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/modbus/cmdjson.h"

struct cur {
	const char *p, *end;
};

static void
skip_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
				 *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A JSON string into out[0..cap) (NUL-terminated); *n its length. */
static int
parse_string(struct cur *c, char *out, size_t cap, size_t *n,
	     const char **why)
{
	size_t o = 0;

	if (c->p >= c->end || *c->p != '"') {
		*why = "expected a string";
		return -1;
	}
	c->p++;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p++;

		if (ch < 0x20) {
			*why = "control character in a string";
			return -1;
		}
		if (ch == '\\') {
			if (c->p >= c->end)
				break;
			ch = (unsigned char)*c->p++;
			switch (ch) {
			case '"': case '\\': case '/':
				break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'u': {
				int k, v = 0;

				if (c->end - c->p < 4) {
					*why = "short \\u escape";
					return -1;
				}
				for (k = 0; k < 4; k++) {
					int h = hexval(c->p[k]);

					if (h < 0) {
						*why = "bad \\u escape";
						return -1;
					}
					v = v * 16 + h;
				}
				c->p += 4;
				if (v >= 0x80) {
					*why = "\\u escapes above 0x7f are not supported";
					return -1;
				}
				ch = (unsigned char)v;
				break;
			}
			default:
				*why = "bad escape in a string";
				return -1;
			}
		}
		if (o + 1 >= cap) {
			*why = "string too long";
			return -1;
		}
		out[o++] = (char)ch;
	}
	if (c->p >= c->end) {
		*why = "unterminated string";
		return -1;
	}
	c->p++; /* closing quote */
	out[o] = '\0';
	*n = o;
	return 0;
}

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* A JSON number, true or false, or a string into v. */
static int
parse_value(struct cur *c, struct pt_value *v, const char **why)
{
	const char *s = c->p;
	bool integer = true;
	char tmp[72];
	size_t n;

	memset(v, 0, sizeof(*v));
	if (c->p >= c->end) {
		*why = "expected a value";
		return -1;
	}
	if (*c->p == '"') {
		v->kind = PV_STRING;
		if (parse_string(c, v->s, sizeof(v->s), &n, why) < 0)
			return -1;
		if (strlen(v->s) != n) {
			*why = "NUL in a string value";
			return -1;
		}
		v->slen = (uint16_t)n;
		return 0;
	}
	if (c->end - c->p >= 4 && memcmp(c->p, "true", 4) == 0) {
		c->p += 4;
		v->kind = PV_BOOL;
		v->b = true;
		return 0;
	}
	if (c->end - c->p >= 5 && memcmp(c->p, "false", 5) == 0) {
		c->p += 5;
		v->kind = PV_BOOL;
		return 0;
	}
	/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0') {
		c->p++;
	} else if (c->p < c->end && is_digit(*c->p)) {
		while (c->p < c->end && is_digit(*c->p))
			c->p++;
	} else {
		*why = "expected a number, true, false or a string";
		return -1;
	}
	if (c->p < c->end && *c->p == '.') {
		integer = false;
		c->p++;
		if (c->p >= c->end || !is_digit(*c->p)) {
			*why = "bad number";
			return -1;
		}
		while (c->p < c->end && is_digit(*c->p))
			c->p++;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		integer = false;
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (c->p >= c->end || !is_digit(*c->p)) {
			*why = "bad number";
			return -1;
		}
		while (c->p < c->end && is_digit(*c->p))
			c->p++;
	}
	n = (size_t)(c->p - s);
	if (n >= sizeof(tmp)) {
		*why = "number too long";
		return -1;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	if (integer && tmp[0] == '-') {
		long long x = strtoll(tmp, NULL, 10);

		if (errno == 0) {
			v->kind = PV_INT;
			v->i = x;
			return 0;
		}
	} else if (integer) {
		unsigned long long x = strtoull(tmp, NULL, 10);

		if (errno == 0) {
			if (x <= (unsigned long long)INT64_MAX) {
				v->kind = PV_INT;
				v->i = (int64_t)x;
			} else {
				v->kind = PV_UINT;
				v->u = x;
			}
			return 0;
		}
	}
	/* A fraction, an exponent, or an integer beyond 64 bits. */
	errno = 0;
	v->kind = PV_FLOAT;
	v->prec = PP_DOUBLE;
	v->f = strtod(tmp, NULL);
	if (errno == ERANGE && (v->f > 1.0 || v->f < -1.0)) {
		*why = "number out of range";
		return -1;
	}
	return 0;
}

int
cmd_parse(const char *buf, size_t len, struct mb_command *out,
	  const char **why)
{
	struct cur c = { buf, buf + len };
	bool seen_id = false, seen_dev = false, seen_pt = false,
	     seen_val = false;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	if (len > CMD_LINE_MAX) {
		*why = "command longer than 4096 bytes";
		return -1;
	}
	skip_ws(&c);
	if (c.p >= c.end || *c.p != '{') {
		*why = "expected a JSON object";
		return -1;
	}
	c.p++;
	skip_ws(&c);
	if (c.p < c.end && *c.p == '}') {
		*why = "empty object";
		return -1;
	}
	for (;;) {
		char key[16];
		size_t n;

		skip_ws(&c);
		if (parse_string(&c, key, sizeof(key), &n, why) < 0) {
			*why = "expected a key: id, device, point or value";
			return -1;
		}
		skip_ws(&c);
		if (c.p >= c.end || *c.p != ':') {
			*why = "expected ':'";
			return -1;
		}
		c.p++;
		skip_ws(&c);
		if (strcmp(key, "id") == 0 && !seen_id) {
			seen_id = true;
			if (parse_string(&c, out->id, sizeof(out->id), &n, why) < 0)
				return -1;
		} else if (strcmp(key, "device") == 0 && !seen_dev) {
			seen_dev = true;
			if (parse_string(&c, out->device, sizeof(out->device), &n,
					 why) < 0)
				return -1;
		} else if (strcmp(key, "point") == 0 && !seen_pt) {
			seen_pt = true;
			if (parse_string(&c, out->point, sizeof(out->point), &n,
					 why) < 0)
				return -1;
		} else if (strcmp(key, "value") == 0 && !seen_val) {
			seen_val = true;
			if (parse_value(&c, &out->value, why) < 0)
				return -1;
		} else {
			*why = "unknown or repeated key (keys: id, device, point, value)";
			return -1;
		}
		skip_ws(&c);
		if (c.p < c.end && *c.p == ',') {
			c.p++;
			continue;
		}
		if (c.p < c.end && *c.p == '}') {
			c.p++;
			break;
		}
		*why = "expected ',' or '}'";
		return -1;
	}
	skip_ws(&c);
	if (c.p != c.end) {
		*why = "data after the object";
		return -1;
	}
	if (!seen_dev || !seen_pt || !seen_val ||
	    out->device[0] == '\0' || out->point[0] == '\0') {
		*why = "device, point and value are required";
		return -1;
	}
	return 0;
}
