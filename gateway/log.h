/*
 * log: the daemon's only way to say something.  Lines go to stderr or
 * syslog, as human text or JSON lines, filtered by level.  Every line about
 * a peer names the peer (log_peer / the `peer' argument).
 *
 * Not thread-safe against log_configure(); worker threads may log (each
 * line is formatted into a local buffer and written with one call).
 */
#ifndef ZG_LOG_H
#define ZG_LOG_H

#include <stdarg.h>

#include <zonegate/plugin.h> /* enum zg_log_level */

enum log_target { LOG_TO_STDERR = 0, LOG_TO_SYSLOG = 1 };
enum log_format { LOG_HUMAN = 0, LOG_JSON = 1 };

struct log_opts {
	int target;   /* enum log_target */
	int format;   /* enum log_format */
	int level;    /* enum zg_log_level: lines above it are dropped */
	int facility; /* syslog facility (LOG_DAEMON ...) */
};

/* Start logging to stderr in human form at `level'; ident names us. */
void log_init(const char *ident, int level);
/* Switch target/format/level (startup after config, and reload). */
void log_configure(const struct log_opts *o);
/* Force the level up to debug (zonegated -d wins over the config). */
void log_force_debug(void);
int log_level(void);

void log_msgv(int level, const char *component, const char *peer,
	      const char *fmt, va_list ap);
void log_msg(int level, const char *component, const char *peer,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * A security event already rendered as a JSON object.  Human format:
 * "security event {json}"; JSON format: the object is embedded as the
 * line's "event" member (not as an escaped string).
 */
void log_event_json(int level, const char *peer, const char *json);

/* log_warn appends ": strerror(errno)"; the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_peer(int level, const char *peer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Names <-> values for the config layer: NULL-terminated tables. */
extern const char *const log_level_names[];  /* "error" ... "debug" */
extern const char *const log_target_names[]; /* "stderr", "syslog" */
extern const char *const log_format_names[]; /* "human", "json" */
extern const char *const log_facility_names[];
int log_facility_value(int index);

/* JSON string escaping into buf (always NUL-terminated, truncates). */
void json_escape(char *buf, size_t len, const char *s);

#endif /* ZG_LOG_H */
