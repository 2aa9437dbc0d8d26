/*
 * log.c: see log.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "gateway/log.h"

const char *const log_level_names[] = { "error", "warning", "info", "debug",
					NULL };
const char *const log_target_names[] = { "stderr", "syslog", NULL };
const char *const log_format_names[] = { "human", "json", NULL };
const char *const log_facility_names[] = { "daemon", "local0", "local1",
	"local2", "local3", "local4", "local5", "local6", "local7", "user",
	NULL };
static const int facility_values[] = { LOG_DAEMON, LOG_LOCAL0, LOG_LOCAL1,
	LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6,
	LOG_LOCAL7, LOG_USER };

static struct {
	const char *ident;
	struct log_opts o;
	int forced_debug;
	int syslog_open;
} L = { "zonegated", { LOG_TO_STDERR, LOG_HUMAN, ZG_LOG_INFO, LOG_DAEMON },
	0, 0 };

int
log_facility_value(int index)
{
	if (index < 0 ||
	    (size_t)index >= sizeof(facility_values) / sizeof(facility_values[0]))
		return LOG_DAEMON;
	return facility_values[index];
}

void
log_init(const char *ident, int level)
{
	L.ident = ident;
	L.o.level = level;
}

void
log_configure(const struct log_opts *o)
{
	int was_syslog = L.syslog_open;

	L.o = *o;
	if (L.forced_debug)
		L.o.level = ZG_LOG_DEBUG;
	if (o->target == LOG_TO_SYSLOG) {
		if (was_syslog)
			closelog();
		openlog(L.ident, LOG_PID | LOG_NDELAY, o->facility);
		L.syslog_open = 1;
	} else if (was_syslog) {
		closelog();
		L.syslog_open = 0;
	}
}

void
log_force_debug(void)
{
	L.forced_debug = 1;
	L.o.level = ZG_LOG_DEBUG;
}

int
log_level(void)
{
	return L.o.level;
}

/*
 * Escape a string for a JSON string literal.  Control characters become
 * \u00XX; bytes >= 0x80 are passed through (the daemon only logs UTF-8 or
 * ASCII it produced; peer-supplied text is escaped by the caller).
 */
void
json_escape(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	if (len == 0)
		return;
	for (; s != NULL && *s != '\0' && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, len - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
}

static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				   LOG_DEBUG };

void
log_msgv(int level, const char *component, const char *peer, const char *fmt,
	 va_list ap)
{
	char msg[2048], line[4096], ts[40];
	struct timespec now;
	struct tm tm;
	int saved = errno;

	if (level > L.o.level)
		return;
	if (level < ZG_LOG_ERR)
		level = ZG_LOG_ERR;
	if (level > ZG_LOG_DEBUG)
		level = ZG_LOG_DEBUG;
	vsnprintf(msg, sizeof(msg), fmt, ap);

	if (L.o.format == LOG_JSON) {
		char emsg[4096 / 2], epeer[160], ecomp[64];

		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		json_escape(emsg, sizeof(emsg), msg);
		json_escape(ecomp, sizeof(ecomp), component ? component : "core");
		json_escape(epeer, sizeof(epeer), peer ? peer : "");
		snprintf(line, sizeof(line),
			 "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\","
			 "\"component\":\"%s\"%s%s%s,\"msg\":\"%s\"}",
			 ts, now.tv_nsec / 1000000L, log_level_names[level],
			 ecomp, peer ? ",\"peer\":\"" : "", peer ? epeer : "",
			 peer ? "\"" : "", emsg);
	} else {
		snprintf(line, sizeof(line), "%s: %s%s%s%s%s%s", log_level_names[level],
			 component ? "[" : "", component ? component : "",
			 component ? "] " : "", peer ? "peer " : "",
			 peer ? peer : "", peer ? ": " : "");
		strncat(line, msg, sizeof(line) - strlen(line) - 1);
	}

	if (L.o.target == LOG_TO_SYSLOG && L.syslog_open) {
		syslog(syslog_prio[level], "%s", line);
	} else if (L.o.format == LOG_JSON) {
		fprintf(stderr, "%s\n", line);
	} else {
		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%ld]: %s\n", ts,
			now.tv_nsec / 1000000L, L.ident, (long)getpid(), line);
	}
	errno = saved;
}

void
log_event_json(int level, const char *peer, const char *json)
{
	char ts[40], epeer[160], line[4096];
	struct timespec now;
	struct tm tm;

	if (level > L.o.level)
		return;
	if (L.o.format != LOG_JSON) {
		log_msg(level, "event", peer, "security event %s", json);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	json_escape(epeer, sizeof(epeer), peer ? peer : "");
	snprintf(line, sizeof(line),
		 "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"event\"%s%s%s,"
		 "\"msg\":\"security event\",\"event\":%s}",
		 ts, now.tv_nsec / 1000000L,
		 log_level_names[level < 0 ? 0 : level > 3 ? 3 : level],
		 peer ? ",\"peer\":\"" : "", peer ? epeer : "", peer ? "\"" : "",
		 json);
	if (L.o.target == LOG_TO_SYSLOG && L.syslog_open)
		syslog(syslog_prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", line);
	else
		fprintf(stderr, "%s\n", line);
}

void
log_msg(int level, const char *component, const char *peer, const char *fmt,
	...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msgv(level, component, peer, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char buf[1024];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(ZG_LOG_WARN, NULL, NULL, "%s: %s", buf, strerror(saved));
	errno = saved;
}

#define LOG_FN(name, lvl)                                   \
	void name(const char *fmt, ...)                     \
	{                                                   \
		va_list ap;                                 \
		va_start(ap, fmt);                          \
		log_msgv(lvl, NULL, NULL, fmt, ap);         \
		va_end(ap);                                 \
	}
LOG_FN(log_warnx, ZG_LOG_WARN)
LOG_FN(log_errx, ZG_LOG_ERR)
LOG_FN(log_info, ZG_LOG_INFO)
LOG_FN(log_debug, ZG_LOG_DEBUG)

void
log_peer(int level, const char *peer, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msgv(level, NULL, peer, fmt, ap);
	va_end(ap);
}
