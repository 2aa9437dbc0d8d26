/*
 * zonegatectl: ask a zonegate configuration questions, offline, and steer
 * a running zonegated through its admin socket.
 *
 *   zonegatectl [-c FILE] [--json] explain IDENTITY TARGET OPERATION...
 *   zonegatectl --live [--socket PATH | -c FILE] [--json] explain ...
 *   zonegatectl [--socket PATH | -c FILE] [--json]
 *               status | zones | devices | sessions | uplinks |
 *               events [-f] [-n N] | quarantine ID | release ID |
 *               quarantined | reload
 *
 * The admin commands send one JSON request line and print the daemon's
 * answer: as it came with --json, else as "key: value" lines or, for the
 * lists, aligned columns.  `events -f' keeps the connection open and
 * prints each new event as it happens.  Exit status: 0 done, 1 the
 * daemon refused or failed, 2 usage or no daemon.
 *
 * OPERATION is one of
 *   modbus read-coils|read-discrete|read-holding|read-input ADDR QTY
 *   modbus write-coil ADDR 0|1
 *   modbus write-register ADDR VALUE
 *   modbus write-registers ADDR VALUE...
 *   modbus read-write RADDR RQTY WADDR VALUE...       (FC 23)
 *   modbus diag SUBFUNCTION                            (FC 8)
 *   modbus mei TYPE                                    (FC 43)
 *   modbus pdu HEX                                     (any request PDU)
 *   mqtt publish|subscribe TOPIC
 *   http METHOD PATH
 * with options --unit N (default 1), --role R, --client-id C and
 * --assurance certificate|address (default certificate).  Offline,
 * explain decides against the file; with --live the operation built here
 * goes to the running daemon (gateway/adminop.h), which decides it
 * against the policy and runtime state in force (a quarantined identity
 * is denied).
 *
 * Modbus operations are built as real request PDUs and classified by the
 * same code the proxy runs, so the answer is the one the gateway gives.
 * Exit status: 0 allowed, 1 denied, 2 usage or configuration error.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway/admin.h"
#include "gateway/conf.h"
#include "gateway/log.h"
#include "plugins/modbus/pdu.h"
#include "segments/segments.h"

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: zonegatectl [-c FILE] [--json] explain IDENTITY TARGET OPERATION...\n"
		"       zonegatectl --live [--socket PATH | -c FILE] [--json] explain ...\n"
		"       zonegatectl [--socket PATH | -c FILE] [--json] COMMAND\n"
		"       zonegatectl -V | -h\n"
		"commands (to a running zonegated, default socket %s):\n"
		"  status | zones | devices | sessions | uplinks\n"
		"  events [-f] [-n N]   recent events; -f follows new ones\n"
		"  quarantine IDENTITY | release IDENTITY | quarantined | reload\n"
		"  scores | learned\n"
		"operations:\n"
		"  modbus read-coils|read-discrete|read-holding|read-input ADDR QTY\n"
		"  modbus write-coil ADDR 0|1\n"
		"  modbus write-register ADDR VALUE\n"
		"  modbus write-registers ADDR VALUE...\n"
		"  modbus read-write RADDR RQTY WADDR VALUE...\n"
		"  modbus diag SUBFUNCTION | modbus mei TYPE | modbus pdu HEX\n"
		"  mqtt publish|subscribe TOPIC\n"
		"  http METHOD PATH\n"
		"options: --unit N (1), --role ROLE, --client-id ID,\n"
		"         --assurance certificate|address (certificate)\n"
		"exit status: explain 0 allowed, 1 denied; commands 0 done,\n"
		"  1 refused or failed; 2 usage error or no daemon\n",
		CONF_DEFAULT_ADMIN_SOCKET);
}

static int
num(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL)
		return -1;
	v = strtol(s, &end, 0);
	if (*s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "zonegatectl: \"%s\" is not a number in %ld..%ld\n",
			s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static void
put16(uint8_t *p, long v)
{
	p[0] = (uint8_t)((unsigned long)v >> 8);
	p[1] = (uint8_t)v;
}

/* Build a request PDU from the words of a modbus operation. */
static int
modbus_pdu(int argc, char **argv, uint8_t *pdu, size_t *len)
{
	static const struct {
		const char *name;
		uint8_t fc;
	} reads[] = { { "read-coils", 1 }, { "read-discrete", 2 },
		      { "read-holding", 3 }, { "read-input", 4 } };
	long a, q, v;
	size_t i;

	if (argc < 1)
		return -1;
	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		if (strcmp(argv[0], reads[i].name) == 0) {
			if (argc != 3 || num(argv[1], 0, 65535, &a) ||
			    num(argv[2], 1, 2000, &q))
				return -1;
			pdu[0] = reads[i].fc;
			put16(pdu + 1, a);
			put16(pdu + 3, q);
			*len = 5;
			return 0;
		}
	}
	if (strcmp(argv[0], "write-coil") == 0) {
		if (argc != 3 || num(argv[1], 0, 65535, &a) ||
		    num(argv[2], 0, 1, &v))
			return -1;
		pdu[0] = 5;
		put16(pdu + 1, a);
		put16(pdu + 3, v ? 0xff00 : 0);
		*len = 5;
		return 0;
	}
	if (strcmp(argv[0], "write-register") == 0) {
		if (argc != 3 || num(argv[1], 0, 65535, &a) ||
		    num(argv[2], -32768, 65535, &v))
			return -1;
		pdu[0] = 6;
		put16(pdu + 1, a);
		put16(pdu + 3, v);
		*len = 5;
		return 0;
	}
	if (strcmp(argv[0], "write-registers") == 0) {
		int n = argc - 2, k;

		if (n < 1 || n > 123 || num(argv[1], 0, 65535, &a))
			return -1;
		pdu[0] = 16;
		put16(pdu + 1, a);
		put16(pdu + 3, n);
		pdu[5] = (uint8_t)(2 * n);
		for (k = 0; k < n; k++) {
			if (num(argv[2 + k], -32768, 65535, &v))
				return -1;
			put16(pdu + 6 + 2 * k, v);
		}
		*len = 6 + 2 * (size_t)n;
		return 0;
	}
	if (strcmp(argv[0], "read-write") == 0) {
		long wa;
		int n = argc - 4, k;

		if (n < 1 || n > 121 || num(argv[1], 0, 65535, &a) ||
		    num(argv[2], 1, 125, &q) || num(argv[3], 0, 65535, &wa))
			return -1;
		pdu[0] = 23;
		put16(pdu + 1, a);
		put16(pdu + 3, q);
		put16(pdu + 5, wa);
		put16(pdu + 7, n);
		pdu[9] = (uint8_t)(2 * n);
		for (k = 0; k < n; k++) {
			if (num(argv[4 + k], -32768, 65535, &v))
				return -1;
			put16(pdu + 10 + 2 * k, v);
		}
		*len = 10 + 2 * (size_t)n;
		return 0;
	}
	if (strcmp(argv[0], "diag") == 0) {
		if (argc != 2 || num(argv[1], 0, 65535, &v))
			return -1;
		pdu[0] = 8;
		put16(pdu + 1, v);
		put16(pdu + 3, 0); /* data word */
		*len = 5;
		return 0;
	}
	if (strcmp(argv[0], "mei") == 0) {
		if (argc != 2 || num(argv[1], 0, 255, &v))
			return -1;
		pdu[0] = 43;
		pdu[1] = (uint8_t)v;
		pdu[2] = 1; /* read device id code: basic */
		pdu[3] = 0; /* object id */
		*len = 4;
		return 0;
	}
	if (strcmp(argv[0], "pdu") == 0) {
		const char *h = argc == 2 ? argv[1] : "";
		size_t n = strlen(h), k;

		if (n == 0 || n % 2 || n / 2 > MB_PDU_MAX)
			return -1;
		for (k = 0; k < n / 2; k++) {
			unsigned b;

			if (sscanf(h + 2 * k, "%2x", &b) != 1)
				return -1;
			pdu[k] = (uint8_t)b;
		}
		*len = n / 2;
		return 0;
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* The admin socket client                                             */

#define CTL_ANSWER_MAX (1024 * 1024) /* longest answer line accepted */
#define CTL_TIMEOUT_MS 60000         /* a reload may take a while */

/*
 * Connect to the admin socket at path.  On failure say which path and
 * what to do (the daemon is not running, runs with another admin.socket,
 * or the caller lacks the group) and return -1.
 */
static int
admin_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "zonegatectl: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	e = errno;
	if (fd >= 0)
		close(fd);
	fprintf(stderr, "zonegatectl: cannot connect to %s: %s: ", path,
		strerror(e));
	if (e == ENOENT || e == ECONNREFUSED)
		fprintf(stderr,
			"zonegated is not running%s (start it with \"systemctl start zonegated\" or \"zonegated -c FILE\"), "
			"or it serves another admin.socket (-c FILE reads it from the config, --socket PATH names it)\n",
			e == ECONNREFUSED ? " (the socket file is stale)" : "");
	else if (e == EACCES || e == EPERM)
		fprintf(stderr,
			"run zonegatectl as root or as a member of the socket's group (admin.group)\n");
	else
		fprintf(stderr, "is zonegated running? (--socket to choose another path)\n");
	return -1;
}

/*
 * Send one request line to the admin socket at path and read one answer
 * line into a new string (*answer, without the newline).  Refuses an
 * answer over CTL_ANSWER_MAX and a daemon silent for CTL_TIMEOUT_MS.
 * Returns 0, or 2 (the exit status) after saying why on stderr.
 */
static int
admin_call(const char *path, const char *req, char **answer)
{
	struct pollfd pfd;
	size_t len = 0, off = 0, rl = strlen(req);
	char *buf;
	ssize_t n;
	int fd;

	fd = admin_connect(path);
	if (fd < 0)
		return 2;
	while (off < rl) {
		n = send(fd, req + off, rl - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "zonegatectl: %s: %s\n", path, strerror(errno));
			close(fd);
			return 2;
		}
		off += (size_t)n;
	}
	buf = malloc(CTL_ANSWER_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return 2;
	}
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, CTL_TIMEOUT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			fprintf(stderr, "zonegatectl: %s: no answer in %d s\n", path,
				CTL_TIMEOUT_MS / 1000);
			break;
		}
		n = read(fd, buf + len, CTL_ANSWER_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "zonegatectl: %s: connection closed without an answer\n",
				path);
			break;
		}
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL) {
			buf[len] = '\0';
			*strchr(buf, '\n') = '\0';
			close(fd);
			*answer = buf;
			return 0;
		}
		if (len == CTL_ANSWER_MAX) {
			fprintf(stderr, "zonegatectl: %s: answer too long\n", path);
			break;
		}
	}
	free(buf);
	close(fd);
	return 2;
}

/*
 * A small reader for the daemon's answers, for human output only: a
 * value is printed compactly (strings unquoted, object members' values
 * separated by spaces, array elements by ", ").  Depth is bounded.
 */
struct jw {
	const char *p;
};

static void
jw_ws(struct jw *w)
{
	while (*w->p == ' ' || *w->p == '\t' || *w->p == '\r' || *w->p == '\n')
		w->p++;
}

static void
jw_put(FILE *out, int c)
{
	if (out != NULL)
		fputc(c, out);
}

/* A string's content to out (NULL: skip it). */
static int
jw_string(struct jw *w, FILE *out)
{
	if (*w->p != '"')
		return -1;
	for (w->p++; *w->p != '"'; w->p++) {
		if (*w->p == '\0')
			return -1;
		if (*w->p == '\\') {
			w->p++;
			switch (*w->p) {
			case 'n': jw_put(out, ' '); break;
			case 't': jw_put(out, ' '); break;
			case 'u':
				if (strnlen(w->p, 5) < 5)
					return -1;
				jw_put(out, '?');
				w->p += 4;
				break;
			case '\0': return -1;
			default: jw_put(out, *w->p); break;
			}
		} else {
			jw_put(out, *w->p);
		}
	}
	w->p++;
	return 0;
}

static int
jw_value(struct jw *w, FILE *out, int depth)
{
	bool first = true;
	char close;

	jw_ws(w);
	if (depth > 8)
		return -1;
	if (*w->p == '"')
		return jw_string(w, out);
	if (*w->p == '{' || *w->p == '[') {
		close = *w->p == '{' ? '}' : ']';
		for (w->p++;; first = false) {
			jw_ws(w);
			if (*w->p == close) {
				w->p++;
				return 0;
			}
			if (!first) {
				if (*w->p != ',')
					return -1;
				w->p++;
				fputs(close == '}' ? " " : ", ", out);
			}
			if (close == '}') {
				jw_ws(w);
				if (jw_string(w, NULL) < 0)
					return -1;
				jw_ws(w);
				if (*w->p != ':')
					return -1;
				w->p++;
			}
			if (jw_value(w, out, depth + 1) < 0)
				return -1;
		}
	}
	if (*w->p == '\0' || strchr(",}]", *w->p) != NULL)
		return -1;
	while (*w->p != '\0' && strchr(",}] \t\r\n", *w->p) == NULL)
		fputc(*w->p++, out);
	return 0;
}

/*
 * Print an answer object as "key: value" lines; arrays one element per
 * line.  "ok" and "error" decide where it goes: a refusal goes to
 * stderr.  Returns the exit status (0 ok, 1 refused/failed, 2 garbled).
 */
static int
print_answer(const char *answer)
{
	struct jw w = { answer };
	char *text = NULL, key[128];
	size_t tlen = 0, k;
	FILE *t = open_memstream(&text, &tlen);
	bool ok = false, first = true;
	char err[1024] = "";

	if (t == NULL)
		return 2;
	jw_ws(&w);
	if (*w.p != '{')
		goto bad;
	for (w.p++;; first = false) {
		FILE *kf;

		jw_ws(&w);
		if (*w.p == '}')
			break;
		if (!first) {
			if (*w.p != ',')
				goto bad;
			w.p++;
			jw_ws(&w);
		}
		kf = fmemopen(key, sizeof(key), "w");
		if (kf == NULL || jw_string(&w, kf) < 0) {
			if (kf)
				fclose(kf);
			goto bad;
		}
		fclose(kf);
		key[sizeof(key) - 1] = '\0';
		jw_ws(&w);
		if (*w.p != ':')
			goto bad;
		w.p++;
		jw_ws(&w);
		if (strcmp(key, "ok") == 0) {
			ok = strncmp(w.p, "true", 4) == 0;
			if (ok)
				w.p += 4;
			else if (strncmp(w.p, "false", 5) == 0)
				w.p += 5;
			else
				goto bad;
			continue;
		}
		if (strcmp(key, "error") == 0) {
			FILE *ef = fmemopen(err, sizeof(err), "w");

			if (ef == NULL || jw_string(&w, ef) < 0) {
				if (ef)
					fclose(ef);
				goto bad;
			}
			fclose(ef);
			err[sizeof(err) - 1] = '\0';
			continue;
		}
		for (k = 0; key[k] != '\0'; k++)
			if (key[k] == '_')
				key[k] = ' ';
		fprintf(t, "%s:", key);
		if (*w.p == '[') {
			bool firstel = true;

			for (w.p++;; firstel = false) {
				jw_ws(&w);
				if (*w.p == ']') {
					w.p++;
					break;
				}
				if (!firstel) {
					if (*w.p != ',')
						goto bad;
					w.p++;
				}
				fputs("\n  ", t);
				if (jw_value(&w, t, 1) < 0)
					goto bad;
			}
			fputs(firstel ? " (none)\n" : "\n", t);
		} else {
			fputc(' ', t);
			if (jw_value(&w, t, 0) < 0)
				goto bad;
			fputc('\n', t);
		}
	}
	fclose(t);
	if (ok) {
		fputs(text, stdout);
	} else {
		fprintf(stderr, "zonegatectl: %s\n", err[0] ? err : "failed");
		fputs(text, stderr);
	}
	free(text);
	return ok ? 0 : 1;
bad:
	fclose(t);
	free(text);
	fprintf(stderr, "zonegatectl: cannot read the daemon's answer: %s\n",
		answer);
	return 2;
}

/* ------------------------------------------------------------------ */
/* Lists as aligned columns                                            */

#define ROW_FIELDS 32
#define FIELD_MAX 256

struct row {
	int n;
	char key[ROW_FIELDS][64];
	char val[ROW_FIELDS][FIELD_MAX];
};

/*
 * A JSON value at *p as text into out (outsz bytes; NULL: just skip
 * it): strings unescaped, null as "-", true/false as yes/no, arrays
 * joined with ",", objects as "{...}".  Depth is bounded.  0 or -1.
 */
static int
jv_text(const char **pp, char *out, size_t outsz, int depth)
{
	const char *p = *pp;
	size_t n = 0;

#define PUT(c) do { if (out != NULL && n + 1 < outsz) out[n++] = (c); } while (0)
	while (*p == ' ' || *p == '\t')
		p++;
	if (depth > 8)
		return -1;
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\0')
				return -1;
			if (*p == '\\') {
				p++;
				if (*p == '\0')
					return -1;
				if (*p == 'u') {
					if (strnlen(p, 5) < 5)
						return -1;
					PUT('?');
					p += 4;
				} else {
					PUT(*p == 'n' || *p == 't' ? ' ' : *p);
				}
			} else {
				PUT(*p);
			}
		}
		p++;
	} else if (*p == '[' || *p == '{') {
		char close = *p == '[' ? ']' : '}';
		bool first = true;

		for (p++;; first = false) {
			while (*p == ' ')
				p++;
			if (*p == close) {
				p++;
				break;
			}
			if (!first) {
				if (*p != ',')
					return -1;
				p++;
				PUT(',');
			}
			if (close == '}') {
				if (jv_text(&p, NULL, 0, depth + 1) < 0)
					return -1;
				while (*p == ' ')
					p++;
				if (*p++ != ':')
					return -1;
				if (jv_text(&p, NULL, 0, depth + 1) < 0)
					return -1;
				continue;
			}
			if (out != NULL && n + 1 < outsz) {
				size_t room = outsz - n;

				if (jv_text(&p, out + n, room, depth + 1) < 0)
					return -1;
				n += strlen(out + n);
			} else if (jv_text(&p, NULL, 0, depth + 1) < 0) {
				return -1;
			}
		}
		if (close == '}' && out != NULL)
			n = (size_t)snprintf(out, outsz, "{...}");
	} else {
		const char *s = p;

		while (*p != '\0' && strchr(",}] \t\r\n", *p) == NULL)
			p++;
		if (p == s)
			return -1;
		if (p - s == 4 && strncmp(s, "null", 4) == 0)
			PUT('-');
		else if (p - s == 4 && strncmp(s, "true", 4) == 0) {
			PUT('y'); PUT('e'); PUT('s');
		} else if (p - s == 5 && strncmp(s, "false", 5) == 0) {
			PUT('n'); PUT('o');
		} else
			for (; s < p; s++)
				PUT(*s);
	}
#undef PUT
	if (out != NULL && outsz > 0)
		out[n < outsz ? n : outsz - 1] = '\0';
	*pp = p;
	return 0;
}

/* The members of the object at *p into r (scalars as text). */
static int
row_parse(const char **pp, struct row *r)
{
	const char *p = *pp;
	char key[64];

	r->n = 0;
	while (*p == ' ')
		p++;
	if (*p++ != '{')
		return -1;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '}') {
			p++;
			break;
		}
		if (jv_text(&p, key, sizeof(key), 1) < 0)
			return -1;
		while (*p == ' ')
			p++;
		if (*p++ != ':')
			return -1;
		if (r->n < ROW_FIELDS) {
			snprintf(r->key[r->n], sizeof(r->key[0]), "%s", key);
			if (jv_text(&p, r->val[r->n], FIELD_MAX, 1) < 0)
				return -1;
			r->n++;
		} else if (jv_text(&p, NULL, 0, 1) < 0) {
			return -1;
		}
	}
	*pp = p;
	return 0;
}

static const char *
row_get(const struct row *r, const char *key)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i][0] ? r->val[i] : "-";
	return "-";
}

/* Find the top-level member `key' of the answer: its value, or NULL. */
static const char *
member(const char *answer, const char *key)
{
	const char *p = answer;
	char k[64];

	while (*p == ' ')
		p++;
	if (*p++ != '{')
		return NULL;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p != '"' || jv_text(&p, k, sizeof(k), 1) < 0)
			return NULL;
		while (*p == ' ')
			p++;
		if (*p++ != ':')
			return NULL;
		while (*p == ' ')
			p++;
		if (strcmp(k, key) == 0)
			return p;
		if (jv_text(&p, NULL, 0, 1) < 0)
			return NULL;
	}
}

/* Seconds as "42s", "12m03s", "3h07m", "2d04h". */
static const char *
fmt_age(const char *secs, char *buf, size_t len)
{
	char *end;
	double d = strtod(secs, &end);
	long s;

	if (end == secs || d < 0)
		return secs;
	s = (long)d;
	if (s < 60)
		snprintf(buf, len, "%lds", s);
	else if (s < 3600)
		snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", s / 86400, (s % 86400) / 3600);
	return buf;
}

struct column {
	const char *key;
	const char *head;
	bool age;   /* seconds shown as an age */
};

#define TABLE_ROWS_MAX 4096

/*
 * Print the array `key' of the answer as a table: a header line, then
 * one line per element, columns padded to their widest cell (the last
 * column is not padded).  `none' is printed when the array is empty.
 */
static int
print_table(const char *answer, const char *key, const struct column *cols,
	    int ncols, const char *none)
{
	const char *p = member(answer, key);
	struct row *rows = NULL;
	size_t nrows = 0, i;
	int w[ROW_FIELDS], c;
	char age[32];

	if (p == NULL || *p++ != '[')
		goto bad;
	rows = calloc(TABLE_ROWS_MAX, sizeof(*rows));
	if (rows == NULL)
		return 2;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ']')
			break;
		if (nrows >= TABLE_ROWS_MAX)
			break;
		if (row_parse(&p, &rows[nrows]) < 0)
			goto bad;
		nrows++;
	}
	if (nrows == 0) {
		printf("%s\n", none);
		free(rows);
		return 0;
	}
	for (c = 0; c < ncols; c++) {
		w[c] = (int)strlen(cols[c].head);
		for (i = 0; i < nrows; i++) {
			const char *v = row_get(&rows[i], cols[c].key);

			if (cols[c].age && strcmp(v, "-") != 0)
				v = fmt_age(v, age, sizeof(age));
			if ((int)strlen(v) > w[c])
				w[c] = (int)strlen(v);
		}
	}
	for (c = 0; c < ncols; c++)
		printf("%-*s%s", c + 1 < ncols ? w[c] : 0, cols[c].head,
		       c + 1 < ncols ? "  " : "\n");
	for (i = 0; i < nrows; i++) {
		for (c = 0; c < ncols; c++) {
			const char *v = row_get(&rows[i], cols[c].key);

			if (cols[c].age && strcmp(v, "-") != 0)
				v = fmt_age(v, age, sizeof(age));
			printf("%-*s%s", c + 1 < ncols ? w[c] : 0, v,
			       c + 1 < ncols ? "  " : "\n");
		}
	}
	free(rows);
	return 0;
bad:
	free(rows);
	fprintf(stderr, "zonegatectl: cannot read the daemon's answer: %s\n",
		answer);
	return 2;
}

/*
 * One event in human form:
 *   2026-12-03T10:01:04.123Z high     admin.quarantine identity=x detail=...
 */
static void
print_event_line(const char *json)
{
	static const char *const skip[] = { "ts", "severity", "kind", NULL };
	const char *p = json;
	struct row r;
	int i, k;

	if (row_parse(&p, &r) < 0) {
		printf("%s\n", json);
		return;
	}
	printf("%s %-8s %s", row_get(&r, "ts"), row_get(&r, "severity"),
	       row_get(&r, "kind"));
	for (i = 0; i < r.n; i++) {
		for (k = 0; skip[k] != NULL; k++)
			if (strcmp(r.key[i], skip[k]) == 0)
				break;
		if (skip[k] == NULL)
			printf(" %s=%s%s%s", r.key[i],
			       strchr(r.val[i], ' ') ? "\"" : "", r.val[i],
			       strchr(r.val[i], ' ') ? "\"" : "");
	}
	putchar('\n');
}

/* events (human): the last `nlast' events of the answer, oldest first. */
static int
print_events(const char *answer, long nlast)
{
	const char *p = member(answer, "events"), *s;
	size_t n = 0, skip, i;
	char *line;

	if (p == NULL || *p != '[')
		goto bad;
	/* Count first, to print only the last nlast. */
	for (s = p + 1;;) {
		while (*s == ' ' || *s == ',')
			s++;
		if (*s == ']')
			break;
		if (jv_text(&s, NULL, 0, 1) < 0)
			goto bad;
		n++;
	}
	if (n == 0) {
		printf("no events since zonegated started\n");
		return 0;
	}
	skip = nlast > 0 && (size_t)nlast < n ? n - (size_t)nlast : 0;
	for (s = p + 1, i = 0; i < n; i++) {
		const char *start;

		while (*s == ' ' || *s == ',')
			s++;
		start = s;
		if (jv_text(&s, NULL, 0, 1) < 0)
			goto bad;
		if (i < skip)
			continue;
		line = strndup(start, (size_t)(s - start));
		if (line == NULL)
			return 2;
		print_event_line(line);
		free(line);
	}
	return 0;
bad:
	fprintf(stderr, "zonegatectl: cannot read the daemon's answer: %s\n",
		answer);
	return 2;
}

/*
 * events -f: send `follow', then print every line the daemon streams
 * until it closes (exit 1: the daemon stopped or cut us off) or we are
 * interrupted.  Lines are bounded by CTL_LINE_MAX.
 */
#define CTL_LINE_MAX (64 * 1024)

static int
follow_events(const char *path, bool json)
{
	static const char req[] = "{\"cmd\":\"follow\"}\n";
	char *buf;
	size_t len = 0;
	ssize_t n;
	bool first = true;
	int fd;

	fd = admin_connect(path);
	if (fd < 0)
		return 2;
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
		fprintf(stderr, "zonegatectl: %s: %s\n", path, strerror(errno));
		close(fd);
		return 2;
	}
	buf = malloc(CTL_LINE_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return 2;
	}
	for (;;) {
		char *nl;

		n = read(fd, buf + len, CTL_LINE_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "zonegatectl: %s: zonegated closed the event stream\n",
				path);
			break;
		}
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			if (first) {
				first = false;
				if (strstr(buf, "\"ok\":true") != buf + 1) {
					print_answer(buf);
					goto out;
				}
				fprintf(stderr, "zonegatectl: following events on %s (interrupt to stop)\n",
					path);
			} else if (strncmp(buf, "{\"ok\":false", 11) == 0) {
				print_answer(buf);
				goto out;
			} else if (json) {
				printf("%s\n", buf);
			} else {
				print_event_line(buf);
			}
			fflush(stdout);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == CTL_LINE_MAX) {
			fprintf(stderr, "zonegatectl: %s: event line too long\n", path);
			break;
		}
	}
out:
	free(buf);
	close(fd);
	return 1;
}

/* Human output of the list commands; other answers as key: value. */
static int
print_human(const char *cmd, const char *answer, long nlast)
{
	static const struct column zones[] = {
		{ "name", "ZONE", false }, { "ndevices", "DEVICES", false },
		{ "conduits", "CONDUITS", false }, { "isolated", "ISOLATED", false },
		{ "devices", "MEMBERS", false },
	};
	static const struct column devices[] = {
		{ "identity", "DEVICE", false }, { "zone", "ZONE", false },
		{ "assurance", "ASSURANCE", false }, { "online", "ONLINE", false },
		{ "quarantined", "QUARANTINED", false },
		{ "sessions", "SESSIONS", false }, { "address", "ADDRESS", false },
	};
	static const struct column sessions[] = {
		{ "plugin", "PLUGIN", false }, { "peer", "PEER", false },
		{ "identity", "IDENTITY", false },
		{ "assurance", "ASSURANCE", false },
		{ "listener", "LISTENER", false }, { "transport", "VIA", false },
		{ "age", "AGE", true }, { "requests", "REQUESTS", false },
		{ "denials", "DENIALS", false },
	};
	static const struct column uplinks[] = {
		{ "name", "UPLINK", false }, { "kind", "KIND", false },
		{ "state", "STATE", false }, { "state_for", "FOR", true },
		{ "spool_depth", "SPOOLED", false },
		{ "spool_bytes", "BYTES", false },
		{ "oldest_unsent_age", "OLDEST", true },
		{ "sent", "SENT", false }, { "acked", "ACKED", false },
		{ "target", "TARGET", false },
		{ "last_error", "LAST ERROR", false },
	};

	if (strstr(answer, "\"ok\":true") != answer + 1)
		return print_answer(answer);
	if (strcmp(cmd, "zones") == 0)
		return print_table(answer, "zones", zones, 5, "no zones configured");
	if (strcmp(cmd, "devices") == 0)
		return print_table(answer, "devices", devices, 7,
				   "no devices configured");
	if (strcmp(cmd, "sessions") == 0)
		return print_table(answer, "sessions", sessions, 9,
				   "no live sessions");
	if (strcmp(cmd, "uplinks") == 0)
		return print_table(answer, "uplinks", uplinks, 11,
				   "no uplinks configured");
	if (strcmp(cmd, "events") == 0)
		return print_events(answer, nlast);
	return print_answer(answer);
}

/*
 * `learned' in human form: the snippet itself, ready to review and paste
 * (JSON string escapes undone), so `zonegatectl learned > learned.conf'
 * gives a file zonegated -t reads.
 */
static int
print_snippet(const char *answer)
{
	const char *p = strstr(answer, "\"snippet\":\"");
	unsigned c;

	if (p == NULL)
		return 2;
	for (p += strlen("\"snippet\":\""); *p != '\0' && *p != '"'; p++) {
		if (*p != '\\') {
			putchar(*p);
			continue;
		}
		switch (*++p) {
		case 'n':
			putchar('\n');
			break;
		case 'u':
			if (sscanf(p + 1, "%4x", &c) == 1 && c < 0x80)
				putchar((int)c);
			p += 4;
			break;
		case '\0':
			return 2;
		default:
			putchar(*p);
			break;
		}
	}
	return 0;
}

/*
 * Run an admin command (argv[0] and its arguments).  The socket is
 * `sock', else admin.socket of config file `file' when one was named,
 * else the compiled-in default.
 */
/*
 * The admin socket: sock when given, else admin.socket of the config
 * file (*path holds the copy; free it), else the default.  NULL after
 * saying why when the config cannot be read.
 */
static const char *
admin_socket_path(const char *sock, const char *file, char **path)
{
	struct cfg_errs e;
	struct zg_conf *c;

	*path = NULL;
	if (sock != NULL)
		return sock;
	if (file == NULL)
		return CONF_DEFAULT_ADMIN_SOCKET;
	cfg_errs_init(&e);
	c = conf_load(file, &e);
	cfg_errs_print(&e, stderr);
	cfg_errs_free(&e);
	if (c == NULL) {
		fprintf(stderr, "zonegatectl: %s: configuration not usable (use --socket)\n",
			file);
		return NULL;
	}
	*path = strdup(c->admin_socket);
	conf_free(c);
	return *path;
}

static int
admin_command(int argc, char **argv, const char *sock, const char *file,
	      bool json, bool follow, long nlast)
{
	static const struct {
		const char *name;
		int nargs;
	} cmds[] = { { "status", 0 }, { "quarantine", 1 }, { "release", 1 },
		     { "quarantined", 0 }, { "reload", 0 }, { "zones", 0 },
		     { "devices", 0 }, { "sessions", 0 }, { "uplinks", 0 },
		     { "events", 0 }, { "scores", 0 },
		     { "learned", 0 } };
	char req[1024], id[600], *answer = NULL, *path = NULL;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]) || argc != 1 + cmds[i].nargs ||
	    ((follow || nlast >= 0) && strcmp(argv[0], "events") != 0)) {
		usage(stderr);
		return 2;
	}
	if ((sock = admin_socket_path(sock, file, &path)) == NULL)
		return 2;
	if (follow) {
		rc = follow_events(sock, json);
		free(path);
		return rc;
	}
	if (cmds[i].nargs == 1) {
		json_escape(id, sizeof(id), argv[1]);
		snprintf(req, sizeof(req), "{\"cmd\":\"%s\",\"identity\":\"%s\"}\n",
			 cmds[i].name, id);
	} else {
		snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}\n", cmds[i].name);
	}
	rc = admin_call(sock, req, &answer);
	free(path);
	if (rc != 0)
		return rc;
	if (json) {
		printf("%s\n", answer);
		rc = strstr(answer, "\"ok\":true") == answer + 1 ? 0 : 1;
	} else if (strcmp(cmds[i].name, "learned") == 0 &&
		   strstr(answer, "\"ok\":true") == answer + 1) {
		rc = print_snippet(answer);
	} else {
		rc = print_human(argv[0], answer, nlast);
	}
	free(answer);
	return rc;
}

/*
 * One verdict, human or JSON.  quarantined: -1 offline (unknown), else
 * whether the running gateway holds the identity in quarantine.
 */
static void
print_verdict(const struct zg_op *op, const struct zg_verdict *v,
	      const char *what, bool json, int quarantined)
{
	if (json) {
		char r[2 * ZG_REASON_MAX], id[600], tg[600], w[600];

		json_escape(r, sizeof(r), v->reason);
		json_escape(id, sizeof(id), op->identity ? op->identity : "");
		json_escape(tg, sizeof(tg), op->target ? op->target : "");
		json_escape(w, sizeof(w), what);
		printf("{\"identity\":\"%s\",\"target\":\"%s\",\"operation\":\"%s\","
		       "\"decision\":\"%s\",\"shadow\":%s,\"rule\":%s%s%s,"
		       "\"origin\":\"%s:%d\",\"from_zone\":\"%s\",\"to_zone\":\"%s\","
		       "\"reason\":\"%s\"",
		       id, tg, w, v->decision == ZG_ALLOW ? "allow" : "deny",
		       v->shadow ? "true" : "false", v->rule ? "\"" : "",
		       v->rule ? v->rule : "null", v->rule ? "\"" : "",
		       v->origin_file ? v->origin_file : "", v->origin_line,
		       v->from_zone ? v->from_zone : "",
		       v->to_zone ? v->to_zone : "", r);
		if (quarantined >= 0)
			printf(",\"live\":true,\"quarantined\":%s",
			       quarantined ? "true" : "false");
		printf("}\n");
		return;
	}
	printf("%s: %s\n", v->decision == ZG_ALLOW ? "ALLOW" : "DENY", what);
	printf("  identity:  %s (zone %s)\n", op->identity ? op->identity : "-",
	       v->from_zone ? v->from_zone : "unknown");
	printf("  target:    %s (zone %s)\n", op->target ? op->target : "-",
	       v->to_zone ? v->to_zone : "unknown");
	if (v->rule)
		printf("  rule:      conduit %s (%s:%d)\n", v->rule,
		       v->origin_file ? v->origin_file : "?", v->origin_line);
	else
		printf("  rule:      none (deny by default)\n");
	if (v->shadow)
		printf("  shadow:    the conduit is a dry run; enforced it would %s\n",
		       v->shadow_decision == ZG_ALLOW ? "allow" : "deny");
	printf("  reason:    %s\n", v->reason);
	if (quarantined >= 0)
		printf("  decided:   by the running zonegated (policy and runtime state in force)%s\n",
		       quarantined ? "; the identity is quarantined (zonegatectl release)"
				   : "");
}

/* The string member `key' of answer into buf ("" when absent or null). */
static void
member_text(const char *answer, const char *key, char *buf, size_t len)
{
	const char *p = member(answer, key);

	buf[0] = '\0';
	if (p == NULL || strncmp(p, "null", 4) == 0 ||
	    jv_text(&p, buf, len, 1) < 0)
		buf[0] = '\0';
}

/*
 * explain --live: send the operation built here to the running daemon
 * (gateway/adminop.h), which decides it against the policy and runtime
 * state in force; print its verdict like an offline one.  Exit status 0
 * allowed, 1 denied, 2 no daemon or a refused request.
 */
static int
explain_live(const char *sock, const struct zg_op *op, const char *what,
	     bool json)
{
	char opbuf[ADMIN_OP_MAX + 1], eop[2 * ADMIN_OP_MAX + 8];
	char id[600], tg[600], role[600], req[ADMIN_LINE_MAX];
	char rule[300], file[600], line[16], from[300], to[300], q[8], dec[8];
	struct zg_verdict v;
	char *answer = NULL;
	int rc;

	if (admin_op_format(op, opbuf, sizeof(opbuf)) < 0) {
		fprintf(stderr, "zonegatectl: the operation is too long to send to the daemon\n");
		return 2;
	}
	json_escape(eop, sizeof(eop), opbuf);
	json_escape(id, sizeof(id), op->identity);
	json_escape(tg, sizeof(tg), op->target);
	json_escape(role, sizeof(role), op->role ? op->role : "");
	if (snprintf(req, sizeof(req),
		     "{\"cmd\":\"explain\",\"identity\":\"%s\",\"target\":\"%s\","
		     "\"role\":\"%s\",\"assurance\":\"%s\",\"op\":\"%s\"}\n",
		     id, tg, role,
		     op->assurance == ZG_ASSURANCE_ADDRESS ? "address" : "certificate",
		     eop) >= (int)sizeof(req)) {
		fprintf(stderr, "zonegatectl: the request is too long for the admin socket\n");
		return 2;
	}
	rc = admin_call(sock, req, &answer);
	if (rc != 0)
		return rc;
	if (strstr(answer, "\"ok\":true") != answer + 1) {
		char err[400];

		member_text(answer, "error", err, sizeof(err));
		fprintf(stderr, "zonegatectl: explain refused by zonegated: %s\n", err);
		free(answer);
		return 2;
	}
	memset(&v, 0, sizeof(v));
	member_text(answer, "decision", dec, sizeof(dec));
	member_text(answer, "rule", rule, sizeof(rule));
	member_text(answer, "origin_file", file, sizeof(file));
	member_text(answer, "origin_line", line, sizeof(line));
	member_text(answer, "from_zone", from, sizeof(from));
	member_text(answer, "to_zone", to, sizeof(to));
	member_text(answer, "reason", v.reason, sizeof(v.reason));
	member_text(answer, "quarantined", q, sizeof(q));
	v.decision = strcmp(dec, "allow") == 0 ? ZG_ALLOW : ZG_DENY;
	member_text(answer, "shadow", dec, sizeof(dec));
	v.shadow = strcmp(dec, "yes") == 0;
	member_text(answer, "shadow_decision", dec, sizeof(dec));
	v.shadow_decision = strcmp(dec, "allow") == 0 ? ZG_ALLOW : ZG_DENY;
	v.rule = rule[0] != '\0' ? rule : NULL;
	v.origin_file = file[0] != '\0' ? file : NULL;
	v.origin_line = atoi(line);
	v.from_zone = from[0] != '\0' ? from : NULL;
	v.to_zone = to[0] != '\0' ? to : NULL;
	print_verdict(op, &v, what, json, strcmp(q, "yes") == 0);
	free(answer);
	return v.decision == ZG_ALLOW ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 'S' },
		{ "unit", required_argument, NULL, 'u' },
		{ "role", required_argument, NULL, 'r' },
		{ "client-id", required_argument, NULL, 'C' },
		{ "assurance", required_argument, NULL, 'a' },
		{ "follow", no_argument, NULL, 'f' },
		{ "live", no_argument, NULL, 'L' },
		{ "lines", required_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = CONF_DEFAULT_FILE, *role = NULL, *client_id = NULL;
	const char *sock = NULL, *file_arg = NULL;
	bool json = false, follow = false, live = false;
	long unit = 1, nlast = -1;
	char *path = NULL;
	int assurance = ZG_ASSURANCE_CERT, opt, rc = 2;
	struct cfg_errs e;
	struct zg_conf *c = NULL;
	struct zg_op op;
	struct zg_verdict v;
	struct mb_request req;
	char what[512];
	size_t i;

	while ((opt = getopt_long(argc, argv, "c:jfn:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			follow = true;
			break;
		case 'n':
			if (num(optarg, 1, 100000, &nlast))
				return 2;
			break;
		case 'c':
			file = file_arg = optarg;
			break;
		case 'S':
			sock = optarg;
			break;
		case 'L':
			live = true;
			break;
		case 'j':
			json = true;
			break;
		case 'u':
			if (num(optarg, 0, 255, &unit))
				return 2;
			break;
		case 'r':
			role = optarg;
			break;
		case 'C':
			client_id = optarg;
			break;
		case 'a':
			if (strcmp(optarg, "certificate") == 0)
				assurance = ZG_ASSURANCE_CERT;
			else if (strcmp(optarg, "address") == 0)
				assurance = ZG_ASSURANCE_ADDRESS;
			else {
				fprintf(stderr, "zonegatectl: --assurance certificate|address\n");
				return 2;
			}
			break;
		case 'V':
			printf("zonegatectl %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && strcmp(argv[0], "explain") != 0)
		return admin_command(argc, argv, sock, file_arg, json, follow,
				     nlast);
	if (argc < 5 || strcmp(argv[0], "explain") != 0) {
		usage(stderr);
		return 2;
	}
	if (live && (sock = admin_socket_path(sock, file_arg, &path)) == NULL)
		return 2;

	memset(&op, 0, sizeof(op));
	op.identity = argv[1];
	op.target = argv[2];
	op.role = role;
	op.assurance = (uint8_t)assurance;
	snprintf(what, sizeof(what), "%s", argv[3]);
	for (i = 4; i < (size_t)argc; i++) {
		size_t l = strlen(what);
		snprintf(what + l, sizeof(what) - l, " %s", argv[i]);
	}
	if (strcmp(argv[3], "modbus") == 0) {
		uint8_t pdu[MB_PDU_MAX];
		size_t len;
		enum mb_result r;

		if (modbus_pdu(argc - 4, argv + 4, pdu, &len) < 0) {
			fprintf(stderr, "zonegatectl: cannot build a Modbus request from \"%s\"\n",
				what);
			usage(stderr);
			goto out;
		}
		r = mb_parse_request(pdu, len, (uint8_t)unit, &req, &op);
		if (r == MB_ILLEGAL_DATA_VALUE || r == MB_ILLEGAL_DATA_ADDRESS) {
			fprintf(stderr,
				"zonegatectl: the gateway would answer exception %d without a decision: %s\n",
				r, req.why ? req.why : mb_result_str(r));
			rc = 1;
			goto out;
		}
		mb_describe(&req, what, sizeof(what));
	} else if (strcmp(argv[3], "mqtt") == 0 && argc == 6) {
		op.proto = ZG_PROTO_MQTT;
		if (strcmp(argv[4], "publish") == 0)
			op.u.mqtt.action = ZG_MQTT_PUBLISH;
		else if (strcmp(argv[4], "subscribe") == 0)
			op.u.mqtt.action = ZG_MQTT_SUBSCRIBE;
		else {
			usage(stderr);
			goto out;
		}
		op.u.mqtt.topic = argv[5];
		op.u.mqtt.topic_len = strlen(argv[5]);
		op.u.mqtt.client_id = client_id ? client_id : argv[1];
	} else if (strcmp(argv[3], "http") == 0 && argc == 6) {
		op.proto = ZG_PROTO_HTTP;
		op.u.http.method = argv[4];
		op.u.http.path = argv[5];
	} else {
		usage(stderr);
		goto out;
	}
	if (live) {
		rc = explain_live(sock, &op, what, json);
		goto out;
	}
	cfg_errs_init(&e);
	c = conf_load(file, &e);
	cfg_errs_print(&e, stderr);
	cfg_errs_free(&e);
	if (c == NULL || c->policy == NULL) {
		fprintf(stderr, "zonegatectl: %s: configuration not usable\n", file);
		rc = 2;
		goto out;
	}
	seg_decide(c->policy, NULL, &op, &v);
	print_verdict(&op, &v, what, json, -1);
	rc = v.decision == ZG_ALLOW ? 0 : 1;
out:
	conf_free(c);
	free(path);
	return rc;
}
