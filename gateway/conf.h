/*
 * conf: the daemon's configuration as plain structs.  conf_load() reads a
 * libconfig file, checks every key it knows (unknown keys and wrong types
 * are errors with file:line) and returns a complete struct zg_conf, or
 * NULL with every error in `errs'.  A loaded config is never modified;
 * reload builds a new one and swaps it in (see main.c).
 */
#ifndef ZG_CONF_H
#define ZG_CONF_H

#include <stdbool.h>

#include <libconfig.h>

#include "gateway/cfgutil.h"
#include "gateway/log.h"
#include "gateway/spool.h"
#include "gateway/threat.h"

struct seg_policy;

enum conf_seccomp { SECCOMP_KILL = 0, SECCOMP_LOG = 1, SECCOMP_OFF = 2 };

enum deepbind_mode { DEEPBIND_AUTO = 0, DEEPBIND_YES = 1, DEEPBIND_NO = 2 };

struct conf_plugin {
	const char *name;   /* module name; also the descriptor's name */
	const char *path;   /* explicit module path, or NULL: search */
	int deepbind;       /* enum deepbind_mode */
	const config_setting_t *config; /* the plugin's `config' group or NULL */
	int line;
};

/* spool { }: the durable northbound log (docs/northbound.md). */
struct conf_spool {
	bool enabled;                /* the section exists */
	const char *dir;
	unsigned long long segment_size, max_bytes, max_bytes_per_zone;
	int fsync;                   /* enum spool_fsync */
	int on_full;                 /* enum spool_full */
	int on_zone_full;            /* enum spool_zone_full */
	struct spool_zone_limit *zone_limits; /* zone names point into cfg */
	size_t nzone_limits;
	double checkpoint_interval;  /* seconds between state saves */
	int line;
};

struct zg_conf {
	char *file;              /* the path it was read from */
	config_t cfg;            /* kept: plugin config nodes point into it */

	/* gateway { } */
	const char *id;
	const char *pidfile;
	char **plugin_path;      /* NULL-terminated search list */
	double shutdown_timeout; /* seconds to drain on SIGTERM */
	int fail_mode;           /* 0 closed, 1 open */
	bool island_mode;

	/* gateway { user; group; seccomp; }: the sandbox (gateway/sandbox.h) */
	const char *user;        /* "" = keep the privileges we started with */
	bool user_explicit;      /* set in the file (else the root default) */
	const char *group;       /* NULL = the user's primary group */
	int seccomp;             /* enum conf_seccomp */

	/* gateway { restart_*; }: the supervisor (gateway/supervise.h) */
	double restart_delay;     /* first backoff, seconds */
	double restart_delay_max; /* backoff cap, seconds */
	double restart_stable;    /* run this long and the crash count resets */
	int restart_limit;        /* crashes in a row before giving up */

	/* admin { }: the local admin socket (read at start-up only) */
	const char *admin_socket;
	int admin_mode;          /* permission bits, within 0770 */
	const char *admin_group; /* group owning the socket */
	bool admin_explicit;     /* the section exists: failing to serve is fatal */

	/* metrics { }: Prometheus endpoint (read at start-up only) */
	const char *metrics_listen; /* "127.0.0.1:9187", or NULL: off */

	struct log_opts log;

	struct conf_spool spool; /* read at start-up only */
	/* events { }: the JSON-lines event log */
	const char *events_file; /* absolute path, or NULL: no event log */
	int events_mode;         /* permission bits of a new file */

	/* threat { }: the threat engine */
	struct threat_conf threat;

	struct conf_plugin *plugins;
	int nplugins;

	struct seg_policy *policy; /* compiled zones/devices/conduits */
};

/* Defaults, documented in docs/configuration.md. */
#define CONF_DEFAULT_FILE SYSCONFDIR "/zonegate/zonegate.conf"
#define CONF_DEFAULT_PIDFILE RUNSTATEDIR "/zonegated.pid"
#define CONF_DEFAULT_ID "zonegate"
#define CONF_DEFAULT_SHUTDOWN_TIMEOUT 0.5
#define CONF_DEFAULT_ADMIN_SOCKET RUNSTATEDIR "/zonegated.sock"
#define CONF_DEFAULT_ADMIN_MODE 0660
#define CONF_DEFAULT_ADMIN_GROUP "zonegate"
#define CONF_DEFAULT_SPOOL_DIR LOCALSTATEDIR "/lib/zonegate/spool"
#define CONF_DEFAULT_SPOOL_SEGMENT (16ULL << 20)
#define CONF_DEFAULT_SPOOL_MAX (1ULL << 30)
#define CONF_DEFAULT_EVENTS_MODE 0640
#define CONF_DEFAULT_USER "zonegate" /* when started as root */
#define CONF_DEFAULT_RESTART_DELAY 0.5
#define CONF_DEFAULT_RESTART_DELAY_MAX 30.0
#define CONF_DEFAULT_RESTART_STABLE 60.0
#define CONF_DEFAULT_RESTART_LIMIT 5
#if defined(HAVE_SECCOMP) && !defined(ZG_SANITIZERS)
#define CONF_DEFAULT_SECCOMP SECCOMP_KILL
#else
/* Sanitizer runtimes need system calls the filter refuses (docs). */
#define CONF_DEFAULT_SECCOMP SECCOMP_OFF
#endif
#define CONF_ADMIN_SOCKET_MAX 108 /* sizeof(sockaddr_un.sun_path) on Linux */

extern const char *const conf_fail_mode_names[]; /* "closed", "open" */
extern const char *const conf_seccomp_names[];   /* "kill", "log", "off" */

/*
 * Read and validate `file'.  Returns a new config, or NULL when any error
 * was recorded in errs (warnings alone do not fail).
 */
struct zg_conf *conf_load(const char *file, struct cfg_errs *errs);
/* The same from a string (fuzzing, tests); `label' stands for the file. */
struct zg_conf *conf_load_text(const char *text, const char *label,
			       struct cfg_errs *errs);
void conf_free(struct zg_conf *c);

/* Print the summary `zonegated -t' shows. */
void conf_summary(const struct zg_conf *c, FILE *out);

#endif /* ZG_CONF_H */
