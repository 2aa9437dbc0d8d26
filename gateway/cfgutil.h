/*
 * cfgutil: the only place zonegate talks to libconfig directly.
 *
 * Loading a configuration collects *every* error as "FILE:LINE: key: what
 * is wrong" in a struct cfg_errs instead of stopping at the first one, so
 * `zonegated -t' can print them all.  Getters take the parent group and a
 * key, apply a documented default when the key is absent, and record an
 * error (returning -1) when it has the wrong type or is out of range.
 */
#ifndef ZG_CFGUTIL_H
#define ZG_CFGUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <libconfig.h>

struct cfg_errs {
	char **msg;   /* each "FILE:LINE: key: message" */
	size_t n, cap;
	size_t warnings; /* count of cfg_warn() lines (kept in msg too) */
};

void cfg_errs_init(struct cfg_errs *e);
void cfg_errs_free(struct cfg_errs *e);
/* Print every line (errors and warnings) to out, one per line. */
void cfg_errs_print(const struct cfg_errs *e, FILE *out);
/* Number of errors (warnings not counted). */
size_t cfg_errs_count(const struct cfg_errs *e);

/* Record an error at setting s (may be NULL: no file/line); key may be NULL. */
void cfg_err(struct cfg_errs *e, const config_setting_t *s, const char *key,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Record a warning ("FILE:LINE: warning: ..."): does not fail a load. */
void cfg_warn(struct cfg_errs *e, const config_setting_t *s, const char *key,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Record an error with an explicit file and line (parse errors). */
void cfg_err_at(struct cfg_errs *e, const char *file, int line,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Full dotted path of a setting ("conduits.[2].modbus.units"). */
const char *cfg_path(const config_setting_t *s, char *buf, size_t len);

/*
 * Read and parse `file' into cfg (initialised here).  Syntax errors and
 * include errors are recorded with file:line.  Returns 0 or -1.
 */
int cfg_read_file(config_t *cfg, const char *file, struct cfg_errs *e);

/*
 * Parse a string; errors are reported against `label'.  @include is
 * disabled (a string has no directory to resolve it against).
 */
int cfg_read_text(config_t *cfg, const char *text, const char *label,
		  struct cfg_errs *e);

/* An error for every member of group `s' whose name is not in keys[]. */
int cfg_known_keys(struct cfg_errs *e, const config_setting_t *s,
		   const char *const *keys);

/*
 * Typed getters.  `s' is the parent group (NULL = all keys absent).  When
 * the key is absent *out = def and 0 is returned.  Wrong type or a value
 * outside [min, max] records an error and returns -1 (*out = def).
 */
int cfg_get_string(struct cfg_errs *e, const config_setting_t *s,
		   const char *key, const char *def, const char **out);
int cfg_get_int(struct cfg_errs *e, const config_setting_t *s,
		const char *key, long long def, long long min, long long max,
		long long *out);
int cfg_get_bool(struct cfg_errs *e, const config_setting_t *s,
		 const char *key, bool def, bool *out);
/* Accepts int or float settings. */
int cfg_get_double(struct cfg_errs *e, const config_setting_t *s,
		   const char *key, double def, double min, double max,
		   double *out);
/*
 * A string that must be one of names[] (NULL-terminated); *out is its
 * index.  Absent: *out = def.  The error lists the accepted names.
 */
int cfg_get_enum(struct cfg_errs *e, const config_setting_t *s,
		 const char *key, const char *const *names, int def, int *out);

/*
 * The member `key' of group s if it is a group / list / array (or a
 * list-or-array when type is -1); NULL when absent.  The wrong type
 * records an error and returns NULL with *bad = true (bad may be NULL).
 */
config_setting_t *cfg_get_group(struct cfg_errs *e, const config_setting_t *s,
				const char *key, bool *bad);
config_setting_t *cfg_get_list(struct cfg_errs *e, const config_setting_t *s,
			       const char *key, bool *bad);

/* Source file and line of a setting ("?" / 0 when unknown). */
const char *cfg_file(const config_setting_t *s);
int cfg_line(const config_setting_t *s);

#endif /* ZG_CFGUTIL_H */
