/*
 * cfgutil.c: libconfig access with every error collected as
 * "FILE:LINE: key: message".  See cfgutil.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/cfgutil.h"

/* Hard cap so a hostile config cannot make us allocate without bound. */
#define CFG_ERRS_MAX 1000

void
cfg_errs_init(struct cfg_errs *e)
{
	memset(e, 0, sizeof(*e));
}

void
cfg_errs_free(struct cfg_errs *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

void
cfg_errs_print(const struct cfg_errs *e, FILE *out)
{
	size_t i;

	for (i = 0; i < e->n && i < e->cap; i++)
		fprintf(out, "%s\n", e->msg[i]);
	if (e->n > e->cap)
		fprintf(out, "(%zu more not shown)\n", e->n - e->cap);
}

size_t
cfg_errs_count(const struct cfg_errs *e)
{
	return e->n - e->warnings;
}

/*
 * Append one formatted line.  Past CFG_ERRS_MAX lines the message is
 * dropped (the count still grows so the load still fails).  Allocation
 * failure degrades to a fixed message rather than losing the error.
 */
static void
errs_push(struct cfg_errs *e, const char *line)
{
	char *dup;

	if (e->n >= CFG_ERRS_MAX) {
		e->n++;
		return;
	}
	if (e->n == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 8;
		char **nm = realloc(e->msg, ncap * sizeof(*nm));

		if (nm == NULL) {
			e->n++;
			return;
		}
		e->msg = nm;
		e->cap = ncap;
	}
	dup = strdup(line);
	e->msg[e->n++] = dup ? dup : strdup("(out of memory)");
}

const char *
cfg_file(const config_setting_t *s)
{
	const char *f;

	if (s == NULL)
		return "?";
	f = config_setting_source_file(s);
	return f ? f : "?";
}

int
cfg_line(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

/*
 * Dotted path of a setting from the root: "conduits.[2].modbus".  The
 * root itself has no name and yields "".  Truncates to fit `len'.
 */
const char *
cfg_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *chain[32];
	size_t depth = 0, off = 0;
	int i;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	while (s != NULL && config_setting_parent(s) != NULL && depth < 32) {
		chain[depth++] = s;
		s = config_setting_parent(s);
	}
	for (i = (int)depth - 1; i >= 0; i--) {
		const char *name = config_setting_name(chain[i]);
		int n;

		if (name != NULL)
			n = snprintf(buf + off, len - off, "%s%s",
				     off ? "." : "", name);
		else
			n = snprintf(buf + off, len - off, "%s[%d]",
				     off ? "." : "",
				     config_setting_index(chain[i]));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return buf;
}

static void
verr(struct cfg_errs *e, const config_setting_t *s, const char *key,
     const char *prefix, const char *fmt, va_list ap)
{
	char path[256], msg[768], line[1200];
	const config_setting_t *at = s;

	/* Point at the member itself when it exists: its line is exact. */
	if (s != NULL && key != NULL && config_setting_is_group(s)) {
		const config_setting_t *m = config_setting_get_member(s, key);
		if (m != NULL)
			at = m;
	}
	cfg_path(at, path, sizeof(path));
	if (key != NULL && at == s) {
		size_t l = strlen(path);
		snprintf(path + l, sizeof(path) - l, "%s%s", l ? "." : "",
			 key);
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (path[0] != '\0')
		snprintf(line, sizeof(line), "%s:%d: %s%s: %s", cfg_file(at),
			 cfg_line(at), prefix, path, msg);
	else
		snprintf(line, sizeof(line), "%s:%d: %s%s", cfg_file(at),
			 cfg_line(at), prefix, msg);
	errs_push(e, line);
}

void
cfg_err(struct cfg_errs *e, const config_setting_t *s, const char *key,
	const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(e, s, key, "", fmt, ap);
	va_end(ap);
}

void
cfg_warn(struct cfg_errs *e, const config_setting_t *s, const char *key,
	 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(e, s, key, "warning: ", fmt, ap);
	va_end(ap);
	e->warnings++;
}

void
cfg_err_at(struct cfg_errs *e, const char *file, int line, const char *fmt,
	   ...)
{
	char msg[768], out[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(out, sizeof(out), "%s:%d: %s", file ? file : "?", line, msg);
	errs_push(e, out);
}

/*
 * Parse a file.  Includes are resolved relative to the including file's
 * directory (libconfig's include_dir is set to it).  libconfig reports
 * only its first syntax error; that one is recorded with file and line.
 */
int
cfg_read_file(config_t *cfg, const char *file, struct cfg_errs *e)
{
	char dir[4096];
	const char *slash;

	config_init(cfg);
	slash = strrchr(file, '/');
	if (slash != NULL && (size_t)(slash - file) < sizeof(dir)) {
		memcpy(dir, file, (size_t)(slash - file));
		dir[slash - file] = '\0';
		config_set_include_dir(cfg, dir[0] ? dir : "/");
	}
	if (config_read_file(cfg, file) == CONFIG_TRUE)
		return 0;
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO) {
		cfg_err_at(e, file, 0, "cannot read configuration: %s",
			   strerror(errno ? errno : ENOENT));
	} else {
		const char *ef = config_error_file(cfg);
		cfg_err_at(e, ef ? ef : file, config_error_line(cfg),
			   "syntax error: %s", config_error_text(cfg));
	}
	return -1;
}

int
cfg_read_text(config_t *cfg, const char *text, const char *label,
	      struct cfg_errs *e)
{
	config_init(cfg);
	/* Settings read from a string carry no file name: name it ourselves. */
	config_set_include_dir(cfg, "/nonexistent");
	if (config_read_string(cfg, text) == CONFIG_TRUE)
		return 0;
	cfg_err_at(e, label, config_error_line(cfg), "syntax error: %s",
		   config_error_text(cfg));
	return -1;
}

int
cfg_known_keys(struct cfg_errs *e, const config_setting_t *s,
	       const char *const *keys)
{
	int i, n, rc = 0;

	if (s == NULL || !config_setting_is_group(s))
		return 0;
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *const *k;
		char list[512];
		size_t off = 0;

		for (k = keys; *k != NULL; k++)
			if (strcmp(*k, name) == 0)
				break;
		if (*k != NULL)
			continue;
		list[0] = '\0';
		for (k = keys; *k != NULL && off < sizeof(list); k++) {
			int w = snprintf(list + off, sizeof(list) - off,
					 "%s%s", off ? ", " : "", *k);
			if (w < 0)
				break;
			off += (size_t)w;
		}
		cfg_err(e, m, NULL, "unknown key (known here: %s)", list);
		rc = -1;
	}
	return rc;
}

static const char *
type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT: return "an integer";
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "nothing";
	}
}

static config_setting_t *
member(const config_setting_t *s, const char *key)
{
	if (s == NULL || !config_setting_is_group(s))
		return NULL;
	return config_setting_get_member(s, key);
}

int
cfg_get_string(struct cfg_errs *e, const config_setting_t *s, const char *key,
	       const char *def, const char **out)
{
	config_setting_t *m = member(s, key);

	*out = def;
	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		cfg_err(e, m, NULL, "expected a string, found %s",
			type_name(config_setting_type(m)));
		return -1;
	}
	*out = config_setting_get_string(m);
	return 0;
}

int
cfg_get_int(struct cfg_errs *e, const config_setting_t *s, const char *key,
	    long long def, long long min, long long max, long long *out)
{
	config_setting_t *m = member(s, key);
	long long v;

	*out = def;
	if (m == NULL)
		return 0;
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(m);
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(m);
		break;
	default:
		cfg_err(e, m, NULL, "expected an integer, found %s",
			type_name(config_setting_type(m)));
		return -1;
	}
	if (v < min || v > max) {
		cfg_err(e, m, NULL, "%lld is out of range %lld..%lld", v, min,
			max);
		return -1;
	}
	*out = v;
	return 0;
}

int
cfg_get_bool(struct cfg_errs *e, const config_setting_t *s, const char *key,
	     bool def, bool *out)
{
	config_setting_t *m = member(s, key);

	*out = def;
	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
		cfg_err(e, m, NULL, "expected true or false, found %s",
			type_name(config_setting_type(m)));
		return -1;
	}
	*out = config_setting_get_bool(m) != 0;
	return 0;
}

int
cfg_get_double(struct cfg_errs *e, const config_setting_t *s, const char *key,
	       double def, double min, double max, double *out)
{
	config_setting_t *m = member(s, key);
	double v;

	*out = def;
	if (m == NULL)
		return 0;
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(m);
		break;
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(m);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(m);
		break;
	default:
		cfg_err(e, m, NULL, "expected a number, found %s",
			type_name(config_setting_type(m)));
		return -1;
	}
	if (!(v >= min && v <= max)) {
		cfg_err(e, m, NULL, "%g is out of range %g..%g", v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int
cfg_get_enum(struct cfg_errs *e, const config_setting_t *s, const char *key,
	     const char *const *names, int def, int *out)
{
	const char *v;
	char list[256];
	size_t off = 0;
	int i;

	*out = def;
	if (cfg_get_string(e, s, key, NULL, &v) < 0)
		return -1;
	if (v == NULL)
		return 0;
	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(names[i], v) == 0) {
			*out = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; names[i] != NULL && off < sizeof(list); i++) {
		int w = snprintf(list + off, sizeof(list) - off, "%s\"%s\"",
				 i ? ", " : "", names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	cfg_err(e, s, key, "\"%s\" is not one of %s", v, list);
	return -1;
}

config_setting_t *
cfg_get_group(struct cfg_errs *e, const config_setting_t *s, const char *key,
	      bool *bad)
{
	config_setting_t *m = member(s, key);

	if (bad)
		*bad = false;
	if (m == NULL)
		return NULL;
	if (config_setting_type(m) != CONFIG_TYPE_GROUP) {
		cfg_err(e, m, NULL, "expected a group { ... }, found %s",
			type_name(config_setting_type(m)));
		if (bad)
			*bad = true;
		return NULL;
	}
	return m;
}

config_setting_t *
cfg_get_list(struct cfg_errs *e, const config_setting_t *s, const char *key,
	     bool *bad)
{
	config_setting_t *m = member(s, key);

	if (bad)
		*bad = false;
	if (m == NULL)
		return NULL;
	if (config_setting_type(m) != CONFIG_TYPE_LIST &&
	    config_setting_type(m) != CONFIG_TYPE_ARRAY) {
		cfg_err(e, m, NULL,
			"expected a list ( ... ) or array [ ... ], found %s",
			type_name(config_setting_type(m)));
		if (bad)
			*bad = true;
		return NULL;
	}
	return m;
}
