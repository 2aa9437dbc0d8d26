/*
 * conf.c: libconfig file -> struct zg_conf.  Keyword tables drive the
 * checks; libconfig is only reached through cfgutil.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "gateway/conf.h"
#include "gateway/netaddr.h"
#include "gateway/policy_conf.h"
#include "gateway/spool.h"

const char *const conf_fail_mode_names[] = { "closed", "open", NULL };
const char *const conf_seccomp_names[] = { "kill", "log", "off", NULL };

static const char *const top_keys[] = { "gateway", "log", "plugins", "zones",
					"devices", "conduits", "admin", "spool",
					"metrics", "events",
					"threat", NULL };
static const char *const events_keys[] = { "file", "mode", NULL };
static const char *const gateway_keys[] = { "id", "pidfile", "plugin_path",
	"shutdown_timeout", "fail_mode", "island_mode", "user", "group",
	"seccomp", "restart_delay", "restart_delay_max", "restart_stable",
	"restart_limit", NULL };
static const char *const spool_keys[] = { "dir", "segment_size", "max_bytes",
	"max_bytes_per_zone", "zone_limits", "on_zone_full", "fsync", "on_full",
	"checkpoint_interval", NULL };
static const char *const zone_limit_keys[] = { "zone", "max_bytes", NULL };
static const char *const admin_keys[] = { "socket", "mode", "group", NULL };
static const char *const metrics_keys[] = { "listen", NULL };
static const char *const log_keys[] = { "target", "format", "level",
					"facility", NULL };
static const char *const plugin_keys[] = { "name", "path", "deepbind",
					   "config", NULL };
static const char *const deepbind_names[] = { "auto", "yes", "no", NULL };

/*
 * Plugin names become file names (<dir>/<name>.so): only [a-z0-9_-],
 * 1..32 characters, so a config cannot point the loader elsewhere by
 * name (an explicit `path' is the way to do that).
 */
static bool
valid_plugin_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 32)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/*
 * Risky settings of the gateway section.  Each is legal (a site may need
 * it) but weakens a default; zonegated -t, every start and every reload
 * print the warning with file:line and what to do instead.  Settings of
 * the policy (shadow conduits, broad ranges, wildcards) are judged in
 * policy_conf.c, which sees them first.
 */
static bool risk_fail_open(const struct zg_conf *c) { return c->fail_mode == 1; }
static bool risk_no_drop(const struct zg_conf *c) { return c->user[0] == '\0'; }
static bool risk_seccomp(const struct zg_conf *c) { return c->seccomp != SECCOMP_KILL; }

static const struct conf_risk {
	const char *key;                         /* in gateway { } */
	bool (*risky)(const struct zg_conf *c);
	const char *advice;
} gateway_risks[] = {
	{ "fail_mode", risk_fail_open,
	  "fail_mode = \"open\" lets traffic through when a decision fails: use \"closed\" unless availability outranks safety here" },
	{ "user", risk_no_drop,
	  "user = \"\" keeps the privileges zonegated started with (root under systemd): remove the key to run as \"" CONF_DEFAULT_USER "\" (useradd --system " CONF_DEFAULT_USER ")" },
	{ "seccomp", risk_seccomp,
	  "the system-call filter does not stop a compromised parser (\"log\" only reports, \"off\" has none): use \"kill\" once the logs show no refusals" },
	{ NULL, NULL, NULL },
};

/* Warn for every risky gateway key that is set in the file. */
static void
conf_risks(struct zg_conf *c, struct cfg_errs *e,
	   const config_setting_t *g)
{
	const struct conf_risk *r;

	if (g == NULL)
		return;
	for (r = gateway_risks; r->key != NULL; r++)
		if (config_setting_get_member(g, r->key) != NULL &&
		    r->risky(c))
			cfg_warn(e, g, r->key, "%s", r->advice);
}

/*
 * gateway.user / group / seccomp.  The user is a name resolved when the
 * daemon drops its privileges (the account may be created after -t ran);
 * "" keeps the privileges zonegated was started with.  seccomp "kill" or
 * "log" needs a build with libseccomp.
 */
static void
load_sandbox(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *g)
{
	int sc;

	c->user_explicit = g != NULL && config_setting_get_member(g, "user");
	cfg_get_string(e, g, "user", CONF_DEFAULT_USER, &c->user);
	cfg_get_string(e, g, "group", NULL, &c->group);
	if (c->group != NULL && c->group[0] == '\0')
		cfg_err(e, g, "group",
			"must not be empty (leave it out for the user's primary group)");
	if (c->group != NULL && c->user[0] == '\0')
		cfg_err(e, g, "group",
			"needs a user (user = \"\" keeps the start-up privileges)");
	cfg_get_enum(e, g, "seccomp", conf_seccomp_names, CONF_DEFAULT_SECCOMP,
		     &sc);
	c->seccomp = sc;
#ifndef HAVE_SECCOMP
	if (sc != SECCOMP_OFF)
		cfg_err(e, g, "seccomp",
			"\"%s\": this zonegated was built with --disable-seccomp; use \"off\" or rebuild with libseccomp-dev",
			conf_seccomp_names[sc]);
#endif
}

/*
 * gateway.restart_*: how the supervisor restarts a network process that
 * died (docs/configuration.md).  The backoff doubles from restart_delay
 * up to restart_delay_max; a process that ran restart_stable seconds
 * resets it; restart_limit crashes in a row stop zonegated (0: the first
 * crash does).
 */
static void
load_restart(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *g)
{
	long long lim;

	cfg_get_double(e, g, "restart_delay", CONF_DEFAULT_RESTART_DELAY,
		       0.01, 3600.0, &c->restart_delay);
	cfg_get_double(e, g, "restart_delay_max", CONF_DEFAULT_RESTART_DELAY_MAX,
		       0.01, 86400.0, &c->restart_delay_max);
	cfg_get_double(e, g, "restart_stable", CONF_DEFAULT_RESTART_STABLE,
		       0.1, 86400.0, &c->restart_stable);
	cfg_get_int(e, g, "restart_limit", CONF_DEFAULT_RESTART_LIMIT, 0, 1000,
		    &lim);
	c->restart_limit = (int)lim;
	if (c->restart_delay_max < c->restart_delay)
		cfg_err(e, g, "restart_delay_max",
			"%.2f is below restart_delay (%.2f): the cap must be at least the first delay",
			c->restart_delay_max, c->restart_delay);
}

static void
load_gateway(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *g)
{
	config_setting_t *pp;
	const char *env;
	int n = 0, i, fm;

	cfg_known_keys(e, g, gateway_keys);
	cfg_get_string(e, g, "id", CONF_DEFAULT_ID, &c->id);
	if (c->id[0] == '\0')
		cfg_err(e, g, "id", "must not be empty");
	cfg_get_string(e, g, "pidfile", CONF_DEFAULT_PIDFILE, &c->pidfile);
	cfg_get_double(e, g, "shutdown_timeout", CONF_DEFAULT_SHUTDOWN_TIMEOUT,
		       0.0, 300.0, &c->shutdown_timeout);
	cfg_get_enum(e, g, "fail_mode", conf_fail_mode_names, 0, &fm);
	c->fail_mode = fm;
	cfg_get_bool(e, g, "island_mode", false, &c->island_mode);
	load_sandbox(c, e, g);
	load_restart(c, e, g);

	/*
	 * Plugin search path: $ZONEGATE_PLUGIN_PATH (colon-separated, used
	 * for uninstalled builds and tests) first, then gateway.plugin_path,
	 * then the compiled-in PLUGINDIR.
	 */
	pp = cfg_get_list(e, g, "plugin_path", NULL);
	env = getenv("ZONEGATE_PLUGIN_PATH");
	c->plugin_path = calloc(64 + 2, sizeof(char *));
	if (c->plugin_path == NULL) {
		cfg_err_at(e, c->file, 0, "out of memory");
		return;
	}
	if (env != NULL && env[0] != '\0') {
		char *dup = strdup(env), *tok, *save = NULL;

		for (tok = dup ? strtok_r(dup, ":", &save) : NULL;
		     tok != NULL && n < 32; tok = strtok_r(NULL, ":", &save))
			c->plugin_path[n++] = strdup(tok);
		free(dup);
	}
	for (i = 0; pp != NULL && i < config_setting_length(pp) && n < 64; i++) {
		config_setting_t *el = config_setting_get_elem(pp, (unsigned)i);

		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			cfg_err(e, el, NULL, "plugin_path entries must be strings");
			continue;
		}
		c->plugin_path[n++] = strdup(config_setting_get_string(el));
	}
	c->plugin_path[n++] = strdup(PLUGINDIR);
	c->plugin_path[n] = NULL;
	conf_risks(c, e, g);
}

/*
 * admin { socket; mode; group; }.  The socket path must be absolute (the
 * daemon changes directory to / when it daemonises) and fit a sockaddr_un;
 * the mode is an octal string that may not grant anything to others: the
 * socket steers the gateway, so only root and the group may reach it.
 */
static void
load_admin(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *g)
{
	const char *mode;
	char *end;
	long v;

	c->admin_explicit = g != NULL;
	cfg_known_keys(e, g, admin_keys);
	cfg_get_string(e, g, "socket", CONF_DEFAULT_ADMIN_SOCKET,
		       &c->admin_socket);
	if (c->admin_socket[0] != '/')
		cfg_err(e, g, "socket", "\"%s\" must be an absolute path",
			c->admin_socket);
	else if (strlen(c->admin_socket) >= CONF_ADMIN_SOCKET_MAX)
		cfg_err(e, g, "socket", "path longer than %d characters",
			CONF_ADMIN_SOCKET_MAX - 1);
	cfg_get_string(e, g, "mode", NULL, &mode);
	c->admin_mode = CONF_DEFAULT_ADMIN_MODE;
	if (mode != NULL) {
		v = strtol(mode, &end, 8);
		if (mode[0] < '0' || mode[0] > '7' || *end != '\0' ||
		    strlen(mode) > 4 || v < 0 || (v & ~0770L) != 0)
			cfg_err(e, g, "mode",
				"\"%s\" is not an octal mode within 0770 (e.g. \"0660\"; others get no access)",
				mode);
		else
			c->admin_mode = (int)v;
	}
	cfg_get_string(e, g, "group", CONF_DEFAULT_ADMIN_GROUP,
		       &c->admin_group);
	if (c->admin_group[0] == '\0')
		cfg_err(e, g, "group", "must not be empty");
}

/*
 * A size in bytes: an integer, or a string with a binary suffix ("64M",
 * "1G", "512K").  Absent: def.  Outside [min, max]: an error.
 */
static void
get_size(struct cfg_errs *e, const config_setting_t *g, const char *key,
	 unsigned long long def, unsigned long long min, unsigned long long max,
	 unsigned long long *out)
{
	const config_setting_t *m = g ? config_setting_get_member(g, key) : NULL;
	unsigned long long v, mul = 1;
	const char *str;
	char *end;

	*out = def;
	if (m == NULL)
		return;
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		if (config_setting_get_int64(m) < 0) {
			cfg_err(e, m, NULL, "must not be negative");
			return;
		}
		v = (unsigned long long)config_setting_get_int64(m);
		break;
	case CONFIG_TYPE_STRING:
		str = config_setting_get_string(m);
		errno = 0;
		v = strtoull(str, &end, 10);
		if (end == str || str[0] == '-' || errno != 0)
			goto bad;
		if (*end == 'K' || *end == 'k')
			mul = 1ULL << 10;
		else if (*end == 'M' || *end == 'm')
			mul = 1ULL << 20;
		else if (*end == 'G' || *end == 'g')
			mul = 1ULL << 30;
		else if (*end != '\0')
			goto bad;
		if (mul > 1 && end[1] != '\0')
			goto bad;
		if (v > max / mul)
			goto range;
		v *= mul;
		break;
	default:
		goto bad;
	}
	if (v < min || v > max)
		goto range;
	*out = v;
	return;
bad:
	cfg_err(e, m, NULL,
		"is a size: bytes as an integer, or a string like \"64M\" (K, M, G)");
	return;
range:
	cfg_err(e, m, NULL, "must be between %llu and %llu bytes", min, max);
}

/*
 * A zone bound is 0 (none) or room for two segments at least: dropping
 * a zone's oldest records works a segment at a time, so a smaller bound
 * would close a segment on nearly every message.
 */
static void
check_zone_bound(struct cfg_errs *e, const config_setting_t *g,
		 const char *key, const struct conf_spool *sp,
		 unsigned long long v)
{
	if (v != 0 && v < 2 * sp->segment_size)
		cfg_err(e, g, key,
			"must be 0 (no bound) or at least twice segment_size (%llu bytes)",
			2 * sp->segment_size);
	else if (v > sp->max_bytes)
		cfg_err(e, g, key, "exceeds max_bytes");
}

/*
 * zone_limits = ( { zone = "cell-a"; max_bytes = "64M"; }, ... ): a bound
 * per named zone, over max_bytes_per_zone (0: that zone is unbounded).
 * A zone named twice is an error.
 */
static void
load_zone_limits(struct zg_conf *c, struct cfg_errs *e,
		 const config_setting_t *g)
{
	struct conf_spool *sp = &c->spool;
	const config_setting_t *l, *it;
	unsigned long long v;
	const char *z;
	int i, n;
	size_t j;

	l = g ? cfg_get_list(e, g, "zone_limits", NULL) : NULL;
	if (l == NULL)
		return;
	n = config_setting_length(l);
	if (n > SPOOL_MAX_ZONES - 2) {
		cfg_err(e, l, NULL, "at most %d zones", SPOOL_MAX_ZONES - 2);
		return;
	}
	sp->zone_limits = calloc((size_t)n + 1, sizeof(*sp->zone_limits));
	if (sp->zone_limits == NULL) {
		cfg_err(e, l, NULL, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		it = config_setting_get_elem(l, (unsigned)i);
		if (config_setting_type(it) != CONFIG_TYPE_GROUP) {
			cfg_err(e, it, NULL,
				"must be a group { zone = \"...\"; max_bytes = ...; }");
			continue;
		}
		cfg_known_keys(e, it, zone_limit_keys);
		z = NULL;
		if (cfg_get_string(e, it, "zone", NULL, &z) < 0 || z == NULL) {
			if (z == NULL)
				cfg_err(e, it, "zone", "is required");
			continue;
		}
		if (z[0] == '\0' || strlen(z) > SPOOL_MAX_ZONE) {
			cfg_err(e, it, "zone", "must be 1..%d bytes",
				SPOOL_MAX_ZONE);
			continue;
		}
		for (j = 0; j < sp->nzone_limits; j++)
			if (strcmp(sp->zone_limits[j].zone, z) == 0)
				break;
		if (j < sp->nzone_limits) {
			cfg_err(e, it, "zone", "\"%s\" is already bounded above", z);
			continue;
		}
		if (config_setting_get_member(it, "max_bytes") == NULL) {
			cfg_err(e, it, "max_bytes", "is required");
			continue;
		}
		get_size(e, it, "max_bytes", 0, 0, 1ULL << 40, &v);
		check_zone_bound(e, it, "max_bytes", sp, v);
		sp->zone_limits[sp->nzone_limits].zone = z;
		sp->zone_limits[sp->nzone_limits].max_bytes = v;
		sp->nzone_limits++;
	}
}

/*
 * spool { dir; segment_size; max_bytes; max_bytes_per_zone; zone_limits;
 * on_zone_full; fsync; on_full; checkpoint_interval; }.  Without the
 * section there is no spool (messages are counted and dropped, uplinks
 * cannot start).
 */
static void
load_spool(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *g)
{
	struct conf_spool *sp = &c->spool;

	sp->enabled = g != NULL;
	sp->line = g ? cfg_line(g) : 0;
	cfg_known_keys(e, g, spool_keys);
	cfg_get_string(e, g, "dir", CONF_DEFAULT_SPOOL_DIR, &sp->dir);
	if (sp->dir[0] != '/')
		cfg_err(e, g, "dir", "\"%s\" must be an absolute path", sp->dir);
	get_size(e, g, "segment_size", CONF_DEFAULT_SPOOL_SEGMENT, 4096,
		 1ULL << 30, &sp->segment_size);
	get_size(e, g, "max_bytes", CONF_DEFAULT_SPOOL_MAX, 8192, 1ULL << 40,
		 &sp->max_bytes);
	get_size(e, g, "max_bytes_per_zone", 0, 0, 1ULL << 40,
		 &sp->max_bytes_per_zone);
	if (sp->max_bytes < 2 * sp->segment_size)
		cfg_err(e, g, "max_bytes",
			"must be at least twice segment_size (%llu bytes)",
			sp->segment_size);
	else if (sp->max_bytes / sp->segment_size > SPOOL_MAX_SEGMENTS)
		cfg_err(e, g, "segment_size",
			"too small for max_bytes: at most %d segments (use %llu or more)",
			SPOOL_MAX_SEGMENTS,
			sp->max_bytes / SPOOL_MAX_SEGMENTS + 1);
	check_zone_bound(e, g, "max_bytes_per_zone", sp, sp->max_bytes_per_zone);
	load_zone_limits(c, e, g);
	cfg_get_enum(e, g, "fsync", spool_fsync_names, SPOOL_FSYNC_BATCH,
		     &sp->fsync);
	cfg_get_enum(e, g, "on_full", spool_full_names, SPOOL_FULL_DROP_OLDEST,
		     &sp->on_full);
	/* A zone over its bound does what the whole spool does when full. */
	cfg_get_enum(e, g, "on_zone_full", spool_zone_full_names,
		     sp->on_full == SPOOL_FULL_PAUSE ? SPOOL_ZONE_REFUSE
						     : SPOOL_ZONE_DROP_OLDEST,
		     &sp->on_zone_full);
	cfg_get_double(e, g, "checkpoint_interval", 0.2, 0.01, 60.0,
		       &sp->checkpoint_interval);
}

/*
 * metrics { listen = "127.0.0.1:9187"; }.  The endpoint has no
 * authentication, so a wildcard address (0.0.0.0, ::) is refused: the
 * operator names loopback or the one management address to serve on.
 */
static void
load_metrics(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *g)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[160];

	cfg_known_keys(e, g, metrics_keys);
	cfg_get_string(e, g, "listen", NULL, &c->metrics_listen);
	if (g != NULL && c->metrics_listen == NULL)
		cfg_err(e, g, "listen",
			"is required in a metrics section (e.g. \"127.0.0.1:9187\")");
	if (c->metrics_listen == NULL)
		return;
	if (netaddr_parse(c->metrics_listen, &ss, &len, err, sizeof(err)) < 0) {
		cfg_err(e, g, "listen", "\"%s\": %s", c->metrics_listen, err);
		c->metrics_listen = NULL;
		return;
	}
	if ((ss.ss_family == AF_INET &&
	     ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
	    (ss.ss_family == AF_INET6 &&
	     IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr))) {
		cfg_err(e, g, "listen",
			"\"%s\": metrics have no authentication: listen on loopback or one management address, not on every address",
			c->metrics_listen);
		c->metrics_listen = NULL;
	}
}

/*
 * events { file; mode; }: the JSON-lines event log.  The path must be
 * absolute (the daemon runs in /); the mode may grant nothing to others,
 * since events name identities, addresses and written values.
 */
static void
load_events(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *g)
{
	const char *mode;
	char *end;
	long v;

	cfg_known_keys(e, g, events_keys);
	cfg_get_string(e, g, "file", NULL, &c->events_file);
	if (c->events_file != NULL && c->events_file[0] != '/')
		cfg_err(e, g, "file", "\"%s\" must be an absolute path",
			c->events_file);
	cfg_get_string(e, g, "mode", NULL, &mode);
	c->events_mode = CONF_DEFAULT_EVENTS_MODE;
	if (mode != NULL) {
		v = strtol(mode, &end, 8);
		if (mode[0] < '0' || mode[0] > '7' || *end != '\0' ||
		    strlen(mode) > 4 || v < 0 || (v & ~0660L) != 0)
			cfg_err(e, g, "mode",
				"\"%s\" is not an octal mode within 0660 (e.g. \"0640\")",
				mode);
		else
			c->events_mode = (int)v;
	}
}

static void
load_log(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *g)
{
	int fac;

	cfg_known_keys(e, g, log_keys);
	cfg_get_enum(e, g, "target", log_target_names, LOG_TO_STDERR,
		     &c->log.target);
	cfg_get_enum(e, g, "format", log_format_names, LOG_HUMAN,
		     &c->log.format);
	cfg_get_enum(e, g, "level", log_level_names, ZG_LOG_INFO,
		     &c->log.level);
	cfg_get_enum(e, g, "facility", log_facility_names, 0, &fac);
	c->log.facility = log_facility_value(fac);
}

static void
load_plugins(struct zg_conf *c, struct cfg_errs *e, const config_setting_t *l)
{
	int n, i, j;

	if (l == NULL)
		return;
	n = config_setting_length(l);
	if (n > 64) {
		cfg_err(e, l, NULL, "at most 64 plugins may be loaded");
		return;
	}
	c->plugins = calloc((size_t)n + 1, sizeof(*c->plugins));
	if (c->plugins == NULL)
		return;
	for (i = 0; i < n; i++) {
		config_setting_t *p = config_setting_get_elem(l, (unsigned)i);
		struct conf_plugin *cp = &c->plugins[c->nplugins];
		bool bad;

		if (config_setting_type(p) != CONFIG_TYPE_GROUP) {
			cfg_err(e, p, NULL,
				"each plugin is a group { name = \"...\"; }");
			continue;
		}
		cfg_known_keys(e, p, plugin_keys);
		cp->line = cfg_line(p);
		cfg_get_string(e, p, "name", NULL, &cp->name);
		if (cp->name == NULL) {
			cfg_err(e, p, "name", "is required");
			continue;
		}
		if (!valid_plugin_name(cp->name)) {
			cfg_err(e, p, "name",
				"\"%s\" is not a plugin name (1-32 of a-z 0-9 _ -)",
				cp->name);
			continue;
		}
		for (j = 0; j < c->nplugins; j++)
			if (strcmp(c->plugins[j].name, cp->name) == 0)
				cfg_err(e, p, "name",
					"plugin \"%s\" is already loaded at line %d",
					cp->name, c->plugins[j].line);
		cfg_get_string(e, p, "path", NULL, &cp->path);
		cfg_get_enum(e, p, "deepbind", deepbind_names, DEEPBIND_AUTO,
			     &cp->deepbind);
		cp->config = cfg_get_group(e, p, "config", &bad);
		c->nplugins++;
	}
}

/* Validate the parsed tree in c->cfg; on error free c and return NULL. */
static struct zg_conf *
conf_build(struct zg_conf *c, struct cfg_errs *e, size_t before)
{
	const config_setting_t *root;
	struct policy_opts popts;
	bool bad;

	root = config_root_setting(&c->cfg);
	cfg_known_keys(e, root, top_keys);
	load_gateway(c, e, cfg_get_group(e, root, "gateway", &bad));
	load_log(c, e, cfg_get_group(e, root, "log", &bad));
	load_admin(c, e, cfg_get_group(e, root, "admin", &bad));
	load_spool(c, e, cfg_get_group(e, root, "spool", &bad));
	load_metrics(c, e, cfg_get_group(e, root, "metrics", &bad));
	load_plugins(c, e, cfg_get_list(e, root, "plugins", &bad));
	load_events(c, e, cfg_get_group(e, root, "events", &bad));
	threat_conf_load(e, cfg_get_group(e, root, "threat", &bad), &c->threat);

	popts.fail_open = c->fail_mode == 1;
	popts.island_mode = c->island_mode;
	if (policy_conf_load(e, &c->cfg, &popts, &c->policy) < 0)
		c->policy = NULL;

	if (cfg_errs_count(e) != before) {
		conf_free(c);
		return NULL;
	}
	return c;
}

static struct zg_conf *
conf_new(const char *file, struct cfg_errs *e)
{
	struct zg_conf *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->file = strdup(file)) == NULL) {
		free(c);
		cfg_err_at(e, file, 0, "out of memory");
		return NULL;
	}
	return c;
}

struct zg_conf *
conf_load(const char *file, struct cfg_errs *e)
{
	size_t before = cfg_errs_count(e);
	struct zg_conf *c = conf_new(file, e);

	if (c == NULL)
		return NULL;
	if (cfg_read_file(&c->cfg, file, e) < 0) {
		conf_free(c);
		return NULL;
	}
	return conf_build(c, e, before);
}

struct zg_conf *
conf_load_text(const char *text, const char *label, struct cfg_errs *e)
{
	size_t before = cfg_errs_count(e);
	struct zg_conf *c = conf_new(label, e);

	if (c == NULL)
		return NULL;
	if (cfg_read_text(&c->cfg, text, label, e) < 0) {
		conf_free(c);
		return NULL;
	}
	return conf_build(c, e, before);
}

void
conf_free(struct zg_conf *c)
{
	int i;

	if (c == NULL)
		return;
	if (c->policy != NULL)
		seg_policy_unref(c->policy);
	if (c->plugin_path != NULL) {
		for (i = 0; c->plugin_path[i] != NULL; i++)
			free(c->plugin_path[i]);
		free(c->plugin_path);
	}
	free(c->plugins);
	free(c->spool.zone_limits);
	threat_conf_clear(&c->threat);
	config_destroy(&c->cfg);
	free(c->file);
	free(c);
}

void
conf_summary(const struct zg_conf *c, FILE *out)
{
	int i;

	fprintf(out, "configuration %s: ok\n", c->file);
	fprintf(out, "  gateway id: %s\n", c->id);
	fprintf(out, "  pidfile: %s\n", c->pidfile);
	fprintf(out, "  fail mode: %s%s\n", conf_fail_mode_names[c->fail_mode],
		c->island_mode ? ", island mode ON" : "");
	fprintf(out, "  log: %s, %s, level %s\n",
		log_target_names[c->log.target],
		log_format_names[c->log.format], log_level_names[c->log.level]);
	fprintf(out, "  sandbox: %s%s%s, seccomp %s\n",
		c->user[0] ? "user " : "no privilege drop (user = \"\")",
		c->user, c->user[0] && !c->user_explicit ? " when started as root" : "",
		conf_seccomp_names[c->seccomp]);
	fprintf(out, "  supervisor: restarts a crashed network process after %.2gs, doubling up to %.2gs; stops after %d crash%s in a row (count reset after %.2gs up)\n",
		c->restart_delay, c->restart_delay_max, c->restart_limit,
		c->restart_limit == 1 ? "" : "es", c->restart_stable);
	fprintf(out, "  admin socket: %s (mode %04o, group %s)\n",
		c->admin_socket, (unsigned)c->admin_mode, c->admin_group);
	if (c->spool.enabled)
		fprintf(out, "  spool: %s (segments %llu bytes, max %llu bytes%s, fsync %s, on full %s)\n",
			c->spool.dir, c->spool.segment_size, c->spool.max_bytes,
			c->spool.max_bytes_per_zone || c->spool.nzone_limits
				? ", bounded per zone" : "",
			spool_fsync_names[c->spool.fsync],
			spool_full_names[c->spool.on_full]);
	else
		fprintf(out, "  spool: none (telemetry is counted and dropped)\n");
	fprintf(out, "  metrics: %s%s\n", c->metrics_listen ? "http://" : "off",
		c->metrics_listen ? c->metrics_listen : "");
	fprintf(out, "  event log: %s\n",
		c->events_file ? c->events_file : "none (daemon log only)");
	fprintf(out, "  threat engine: %s", c->threat.enabled ? "on" : "off");
	if (c->threat.quarantine_threshold > 0)
		fprintf(out, ", quarantine at score %.0f (%s)",
			c->threat.quarantine_threshold,
			c->threat.auto_quarantine ? "automatic" : "operator only");
	else
		fprintf(out, ", no automatic quarantine");
	if (c->threat.throttle_threshold > 0)
		fprintf(out, ", throttle at score %.0f",
			c->threat.throttle_threshold);
	if (c->threat.learning > 0)
		fprintf(out, ", learning %.0f s", c->threat.learning);
	fputc('\n', out);
	fprintf(out, "  plugins: %d\n", c->nplugins);
	for (i = 0; i < c->nplugins; i++)
		fprintf(out, "    %s%s%s\n", c->plugins[i].name,
			c->plugins[i].path ? " from " : "",
			c->plugins[i].path ? c->plugins[i].path : "");
	if (c->policy != NULL)
		policy_summary(out, c->policy);
}
