/*
 * zonegated: the zonegate daemon.
 *
 * Start-up: read and validate the configuration before touching
 * anything; take the pidfile lock; daemonise unless -f (the starting
 * process exits only once the first network process reports it is
 * serving, so the exit status tells whether the gateway came up); then,
 * unless -S, become the supervisor (supervise.h), which forks the network
 * process.  The network process reads the configuration again, loads and
 * checks every plugin, starts them and runs one libevent loop.
 *
 * Signals (sent to the supervisor, which forwards them) are libevent
 * signal events in the network process: no work happens in a handler.
 *   SIGHUP  reload: build a complete new config + compiled policy + plugin
 *           checks; swap in one step on the loop; on any error keep the
 *           old one and log every error.
 *   SIGTERM graceful shutdown: stop accepting, let plugins drain (up to
 *   SIGINT  gateway.shutdown_timeout), flush, exit 0.
 *
 * Once listeners, the admin socket and every plugin are up, the network
 * process gives the spool and the event log to its user and enters its
 * sandbox (sandbox.h): unprivileged user, RLIMIT_NPROC, no_new_privs,
 * seccomp allowlist.  Failing to do so stops it (fail closed).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <zonegate/plugin.h>

#include "gateway/admin.h"
#include "gateway/bus.h"
#include "gateway/conf.h"
#include "gateway/daemon.h"
#include "gateway/eventlog.h"
#include "gateway/events.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/metrics_http.h"
#include "gateway/pidfile.h"
#include "gateway/plugin_host.h"
#include "gateway/threat.h"
#include "gateway/sandbox.h"
#include "gateway/supervise.h"
#include "segments/segments.h"

struct mainctx {
	struct zg_daemon d;
	const char *conf_file;
	const char *pidfile_arg;
	const char *user_arg;
	int pidfd;
	char *pidfile;
	struct event *ev_hup, *ev_term, *ev_int, *ev_drain;
	struct zg_admin *admin;
	struct metrics_http *metrics;
	struct timespec drain_deadline;
	int exit_code;
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: zonegated [-c FILE] [-p PIDFILE] [-u USER] [-t [-W]] [-f] [-S] [-d] [-V] [-h]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -p FILE  pidfile (overrides gateway.pidfile)\n"
		"  -u USER  run as USER (overrides gateway.user; \"\" = do not drop)\n"
		"  -t       check the configuration, print a summary, and exit\n"
		"           (0 = valid; otherwise every error as FILE:LINE: message)\n"
		"  -W       with -t: warnings about risky settings fail the check too\n"
		"  -f       stay in the foreground\n"
		"  -S       one process: no supervisor restarting the network process\n"
		"  -d       debug logging (overrides log.level)\n"
		"  -V       print the version and exit\n"
		"  -h       this help\n"
		"signals: SIGHUP reloads the configuration, SIGTERM/SIGINT stop gracefully\n"
		"(send them to the pid in the pidfile: the supervisor forwards them)\n",
		CONF_DEFAULT_FILE);
}

static void
log_errs(const struct cfg_errs *e, int level)
{
	size_t i;

	for (i = 0; i < e->n && i < e->cap; i++)
		log_msg(level, NULL, NULL, "%s", e->msg[i]);
}

/*
 * Load (or reuse from `old') and check every plugin the config names.
 * Returns a new array of hosts in config order, or NULL with errors in e.
 * Hosts taken from `old' are moved (their slot in old set to NULL).
 */
static struct zg_host **
plugins_prepare(struct zg_daemon *d, const struct zg_conf *c,
		struct zg_host **old, int nold, struct cfg_errs *e)
{
	struct zg_host **hs;
	size_t before = cfg_errs_count(e);
	int *from, i, j;

	hs = calloc((size_t)c->nplugins + 1, sizeof(*hs));
	from = calloc((size_t)c->nplugins + 1, sizeof(*from));
	if (hs == NULL || from == NULL) {
		free(hs);
		free(from);
		cfg_err_at(e, c->file, 0, "out of memory");
		return NULL;
	}
	for (i = 0; i < c->nplugins; i++) {
		const struct conf_plugin *cp = &c->plugins[i];

		from[i] = -1;
		for (j = 0; j < nold; j++) {
			if (old[j] != NULL &&
			    strcmp(plugin_name(old[j]), cp->name) == 0 &&
			    (cp->path == NULL ||
			     strcmp(plugin_path(old[j]), cp->path) == 0)) {
				hs[i] = old[j];
				old[j] = NULL;
				from[i] = j;
				break;
			}
		}
		if (hs[i] == NULL)
			hs[i] = plugin_load(d, c, cp, e);
		if (hs[i] != NULL)
			plugin_check(hs[i], cp, e);
	}
	if (cfg_errs_count(e) != before) {
		/* Give reused hosts back; unload the ones we loaded. */
		for (i = 0; i < c->nplugins; i++) {
			if (from[i] >= 0)
				old[from[i]] = hs[i];
			else
				plugin_unload(hs[i]);
		}
		free(hs);
		free(from);
		return NULL;
	}
	free(from);
	return hs;
}

/*
 * Follow events.file of a new configuration: same path, keep the open log
 * (SIGHUP reopened it already); another path or none, switch.  A path
 * that cannot be opened keeps the old log and says so.
 */
static void
events_apply(struct zg_daemon *d, const struct zg_conf *c)
{
	struct eventlog *nl;
	char err[300];

	if (c->events_file == NULL) {
		if (d->evlog != NULL)
			log_info("event log %s closed (events.file removed)",
				 eventlog_path(d->evlog));
		eventlog_free(d->evlog);
		d->evlog = NULL;
		return;
	}
	if (d->evlog != NULL &&
	    strcmp(eventlog_path(d->evlog), c->events_file) == 0)
		return;
	nl = eventlog_open(c->events_file, c->events_mode, err, sizeof(err));
	if (nl == NULL) {
		log_errx("%s%s", err, d->evlog ? ": keeping the previous event log" : "");
		return;
	}
	eventlog_free(d->evlog);
	d->evlog = nl;
}

/* ------------------------------------------------------------------ */

/* The same per-zone spool bounds, in the same order. */
static bool
zone_limits_same(const struct conf_spool *a, const struct conf_spool *b)
{
	size_t i;

	if (a->nzone_limits != b->nzone_limits)
		return false;
	for (i = 0; i < a->nzone_limits; i++)
		if (strcmp(a->zone_limits[i].zone, b->zone_limits[i].zone) != 0 ||
		    a->zone_limits[i].max_bytes != b->zone_limits[i].max_bytes)
			return false;
	return true;
}

/*
 * Reload (SIGHUP or the admin socket's `reload'; `why' names which).
 * Every error and warning line is logged and also left in e for the
 * caller.  Returns 0 when the new configuration is in force, -1 when the
 * old one stays.
 */
static int
do_reload(struct mainctx *m, const char *why, struct cfg_errs *e)
{
	struct zg_daemon *d = &m->d;
	struct zg_conf *nc;
	struct zg_host **old, **hs;
	int nold = d->nplugins, i, j;
	bool *started;

	log_info("%s: reloading %s", why, m->conf_file);
	nc = conf_load(m->conf_file, e);
	if (nc == NULL) {
		log_errs(e, ZG_LOG_ERR);
		log_errx("reload of %s failed (%zu errors): still running on the previous configuration",
			 m->conf_file, cfg_errs_count(e));
		d->reloads_failed++;
		return -1;
	}
	/*
	 * Plugins are matched by name: the old set is lent to
	 * plugins_prepare(), which hands reused hosts to the new set.  On
	 * failure everything goes back untouched.
	 */
	old = calloc((size_t)nold + 1, sizeof(*old));
	started = calloc((size_t)nc->nplugins + 1, sizeof(*started));
	if (old == NULL || started == NULL) {
		log_errx("reload failed: out of memory; keeping the previous configuration");
		cfg_err_at(e, m->conf_file, 0, "out of memory");
		free(old);
		free(started);
		conf_free(nc);
		d->reloads_failed++;
		return -1;
	}
	memcpy(old, d->plugins, (size_t)nold * sizeof(*old));
	hs = plugins_prepare(d, nc, old, nold, e);
	if (hs == NULL) {
		log_errs(e, ZG_LOG_ERR);
		log_errx("reload of %s failed: still running on the previous configuration",
			 m->conf_file);
		d->reloads_failed++;
		free(old);
		free(started);
		conf_free(nc);
		return -1;
	}
	log_errs(e, ZG_LOG_WARN); /* warnings */

	/* Commit: from here on the new configuration is the one in force. */
	if (m->pidfile_arg == NULL && strcmp(nc->pidfile, d->conf->pidfile) != 0)
		log_warnx("gateway.pidfile changed to %s: takes effect at the next restart (still %s)",
			  nc->pidfile, m->pidfile);
	if (nc->spool.enabled != d->conf->spool.enabled ||
	    (nc->spool.enabled &&
	     (strcmp(nc->spool.dir, d->conf->spool.dir) != 0 ||
	      nc->spool.segment_size != d->conf->spool.segment_size ||
	      nc->spool.max_bytes != d->conf->spool.max_bytes ||
	      nc->spool.max_bytes_per_zone != d->conf->spool.max_bytes_per_zone ||
	      nc->spool.fsync != d->conf->spool.fsync ||
	      nc->spool.on_full != d->conf->spool.on_full ||
	      nc->spool.on_zone_full != d->conf->spool.on_zone_full ||
	      !zone_limits_same(&nc->spool, &d->conf->spool))))
		log_warnx("spool settings changed: they take effect at the next restart");
	if ((nc->metrics_listen == NULL) != (d->conf->metrics_listen == NULL) ||
	    (nc->metrics_listen != NULL &&
	     strcmp(nc->metrics_listen, d->conf->metrics_listen) != 0))
		log_warnx("metrics.listen changed: takes effect at the next restart");
	log_configure(&nc->log);
	for (j = 0; j < nold; j++) {
		if (old[j] != NULL) {
			log_info("plugin %s removed by reload", plugin_name(old[j]));
			plugin_unload(old[j]);
		}
	}
	for (i = 0; i < nc->nplugins; i++) {
		bool was_running = false;

		for (j = 0; j < nold; j++)
			if (d->plugins[j] == hs[i])
				was_running = true;
		started[i] = was_running;
	}
	{
		struct zg_conf *oc = d->conf;

		d->conf = nc;
		seg_state_set_fail_open(d->segstate, nc->fail_mode == 1);
		threat_configure(d->threat, &nc->threat);
		events_apply(d, nc);
		free(d->plugins);
		d->plugins = hs;
		d->nplugins = nc->nplugins;
		for (i = 0; i < nc->nplugins; i++) {
			int rc = started[i] ? plugin_reload(hs[i], &nc->plugins[i])
					    : plugin_start(hs[i], &nc->plugins[i]);
			if (rc < 0)
				log_errx("plugin %s failed to apply the new configuration",
					 plugin_name(hs[i]));
		}
		conf_free(oc);
	}
	free(old);
	free(started);
	d->reloads_ok++;
	log_info("reload of %s complete: %d plugins", m->conf_file,
		 d->nplugins);
	return 0;
}

/* The admin socket's `reload': the SIGHUP path, refused while draining. */
static int
admin_reload(void *arg, const char *why, struct cfg_errs *e)
{
	struct mainctx *m = arg;

	if (m->d.draining) {
		cfg_err_at(e, m->conf_file, 0,
			   "zonegated is shutting down: not reloading");
		return -1;
	}
	return do_reload(m, why, e);
}

static void
drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mainctx *m = arg;
	struct timespec now;
	int i, open = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < m->d.nplugins; i++)
		open += plugin_drain(m->d.plugins[i]);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (open == 0 || now.tv_sec > m->drain_deadline.tv_sec ||
	    (now.tv_sec == m->drain_deadline.tv_sec &&
	     now.tv_nsec >= m->drain_deadline.tv_nsec)) {
		if (open > 0)
			log_warnx("shutdown timeout: closing %d sessions still open",
				  open);
		event_base_loopexit(m->d.base, NULL);
		return;
	}
	{
		struct timeval tv = { 0, 20000 };
		evtimer_add(m->ev_drain, &tv);
	}
}

static void
begin_shutdown(struct mainctx *m, const char *why)
{
	struct timeval now = { 0, 0 };
	double t = m->d.conf->shutdown_timeout;
	int i;

	if (m->d.draining)
		return;
	m->d.draining = true;
	log_info("%s: shutting down (draining for up to %.1fs)", why, t);
	for (i = 0; i < m->d.nplugins; i++)
		plugin_stop_listening(m->d.plugins[i]);
	clock_gettime(CLOCK_MONOTONIC, &m->drain_deadline);
	m->drain_deadline.tv_sec += (time_t)t;
	m->drain_deadline.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
	if (m->drain_deadline.tv_nsec >= 1000000000L) {
		m->drain_deadline.tv_sec++;
		m->drain_deadline.tv_nsec -= 1000000000L;
	}
	m->ev_drain = evtimer_new(m->d.base, drain_tick, m);
	if (m->ev_drain == NULL)
		event_base_loopexit(m->d.base, NULL);
	else
		evtimer_add(m->ev_drain, &now);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct mainctx *m = arg;

	(void)what;
	switch (sig) {
	case SIGHUP:
		/* Rotation first: also when the reload below fails. */
		if (m->d.evlog != NULL && eventlog_reopen(m->d.evlog) == 0)
			log_info("SIGHUP: event log %s reopened",
				 eventlog_path(m->d.evlog));
		if (!m->d.draining) {
			struct cfg_errs e;

			cfg_errs_init(&e);
			do_reload(m, "SIGHUP", &e);
			cfg_errs_free(&e);
		}
		break;
	case SIGTERM:
		begin_shutdown(m, "SIGTERM");
		break;
	case SIGINT:
		begin_shutdown(m, "SIGINT");
		break;
	}
}

/*
 * Thousands of sessions need thousands of descriptors: raise the soft
 * RLIMIT_NOFILE to the hard one (set it with LimitNOFILE= or ulimit -Hn).
 * Done before the sandbox, which may not raise limits.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the descriptor limit to %llu",
			 (unsigned long long)rl.rlim_max);
}

/*
 * Fork into the background.  The parent waits on a pipe: the child
 * writes one byte once it is serving; if it exits first the parent exits
 * 1, so `zonegated' returns non-zero when start-up failed.
 */
static int
daemonize(int *ready_fd)
{
	int p[2], devnull;
	pid_t pid;
	char c = 0; /* stays 0 when the child dies before writing */

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c == 'R' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -1;
	pid = fork(); /* never reacquire a controlling terminal */
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -1;
	umask(027);
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		close(devnull);
	}
	*ready_fd = p[1];
	return 0;
}

/*
 * Read the configuration, and with `plugins' load and check every plugin
 * it names.  Errors (and warnings) go to stderr; on failure nothing is
 * left loaded.  0, or -1.
 */
static int
load_config(struct mainctx *m, bool plugins, size_t *nwarn)
{
	struct cfg_errs e;

	cfg_errs_init(&e);
	m->d.conf = conf_load(m->conf_file, &e);
	if (m->d.conf != NULL && plugins) {
		m->d.plugins = plugins_prepare(&m->d, m->d.conf, NULL, 0, &e);
		m->d.nplugins = m->d.plugins ? m->d.conf->nplugins : 0;
	}
	cfg_errs_print(&e, stderr);
	if (m->d.conf == NULL || (plugins && m->d.plugins == NULL)) {
		fprintf(stderr, "zonegated: %s: %zu error%s\n", m->conf_file,
			cfg_errs_count(&e), cfg_errs_count(&e) == 1 ? "" : "s");
		cfg_errs_free(&e);
		conf_free(m->d.conf);
		m->d.conf = NULL;
		return -1;
	}
	if (nwarn != NULL)
		*nwarn = e.warnings;
	cfg_errs_free(&e);
	return 0;
}

/* The sandbox settings of the configuration in force (and -u). */
static void
sandbox_opts_from(const struct mainctx *m, struct sandbox_opts *sbo)
{
	sbo->user = m->user_arg ? m->user_arg : m->d.conf->user;
	sbo->user_explicit = m->user_arg != NULL || m->d.conf->user_explicit;
	sbo->group = m->d.conf->group;
	sbo->seccomp = m->d.conf->seccomp;
	sbo->supervisor = (pid_t)m->d.supervisor_pid;
	if (sbo->user[0] == '\0')
		sbo->group = NULL;
}

/*
 * A network process started by the supervisor after another one died:
 * say so through the event path (log, event log, northbound, threat
 * engine), so a crash, a seccomp kill or an operator's SIGKILL is seen
 * where security events are watched.
 */
static void
restart_event(struct mainctx *m, const struct sup_info *si)
{
	struct zg_event ev;
	char how[160], detail[400];

	supervise_status_str(si->prev_status, how, sizeof(how));
	snprintf(detail, sizeof(detail),
		 "network process restarted by the supervisor (pid %ld): pid %ld %s after %.1fs; restart #%u, crash %u in a row; now pid %ld",
		 m->d.supervisor_pid, (long)si->prev_pid, how, si->prev_ran,
		 si->restarts, si->crashes, (long)getpid());
	memset(&ev, 0, sizeof(ev));
	ev.kind = "daemon.restart";
	ev.severity = ZG_SEV_HIGH;
	ev.detail = detail;
	events_emit(&m->d, "supervisor", &ev);
}

int
main(int argc, char **argv)
{
	struct mainctx m;
	bool check_only = false, foreground = false, debug = false;
	bool warn_fatal = false, supervised = true;
	size_t nwarn = 0;
	struct sandbox_opts sbo;
	struct sandbox_state sbs;
	struct sup_info si;
	int opt, i, ready_fd = -1;
	char err[512];

	memset(&m, 0, sizeof(m));
	memset(&si, 0, sizeof(si));
	m.conf_file = CONF_DEFAULT_FILE;
	m.pidfd = -1;
	while ((opt = getopt(argc, argv, "c:p:u:tWfSdVh")) != -1) {
		switch (opt) {
		case 'c':
			m.conf_file = optarg;
			break;
		case 'p':
			m.pidfile_arg = optarg;
			break;
		case 'u':
			m.user_arg = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'W':
			warn_fatal = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'S':
			supervised = false;
			break;
		case 'd':
			debug = true;
			break;
		case 'V':
			printf("zonegated %s (TLS engine %s, plugin ABI %d)\n",
			       PACKAGE_VERSION, ZG_TLS_ENGINE,
			       ZG_PLUGIN_ABI_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "zonegated: unexpected argument \"%s\"\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	log_init("zonegated", debug ? ZG_LOG_DEBUG : ZG_LOG_INFO);
	if (debug)
		log_force_debug();

	/*
	 * The supervisor loads no plugin: each network process reads the
	 * configuration and loads its plugins itself (a restart picks up
	 * what reload changed); a plugin's error stops the first start.
	 */
	if (load_config(&m, check_only || !supervised, &nwarn) < 0)
		return 1;
	if (check_only) {
		conf_summary(m.d.conf, stdout);
		for (i = 0; i < m.d.nplugins; i++) {
			printf("    plugin %s %s: configuration ok\n",
			       plugin_name(m.d.plugins[i]),
			       plugin_version(m.d.plugins[i]));
			plugin_unload(m.d.plugins[i]);
		}
		free(m.d.plugins);
		conf_free(m.d.conf);
		if (nwarn > 0)
			printf("  %zu warning%s about risky settings (on stderr)%s\n",
			       nwarn, nwarn == 1 ? "" : "s",
			       warn_fatal ? ": failing the check (-W)" : "");
		return warn_fatal && nwarn > 0 ? 1 : 0;
	}

	log_configure(&m.d.conf->log);
	sandbox_opts_from(&m, &sbo);
	if (sandbox_prepare(&sbo, &sbs, err, sizeof(err)) < 0) {
		log_errx("%s", err);
		for (i = m.d.nplugins - 1; i >= 0; i--)
			plugin_unload(m.d.plugins[i]);
		free(m.d.plugins);
		conf_free(m.d.conf);
		return 1;
	}
	m.pidfile = strdup(m.pidfile_arg ? m.pidfile_arg : m.d.conf->pidfile);
	m.pidfd = pidfile_open(m.pidfile, err, sizeof(err));
	if (m.pidfd < 0) {
		log_errx("%s", err);
		return 1;
	}
	if (!foreground && daemonize(&ready_fd) < 0) {
		log_warn("cannot daemonise");
		return 1;
	}
	if (pidfile_write(m.pidfd, getpid()) < 0)
		log_warn("cannot write pidfile %s", m.pidfile);

	if (supervised) {
		struct sup_opts so = { m.conf_file, ready_fd, &sbs };
		int code = 1, rc;

		rc = supervise(&so, &m.d.conf, &si, &code);
		if (rc <= 0) { /* the supervisor, done */
			if (rc < 0)
				log_warn("cannot start the supervisor");
			conf_free(m.d.conf);
			pidfile_close(m.pidfd, m.pidfile);
			free(m.pidfile);
			return code;
		}
		/* A network process: the supervisor keeps the pidfile. */
		pidfile_close(m.pidfd, NULL);
		m.pidfd = -1;
		ready_fd = si.ready_fd;
		m.d.supervisor_pid = (long)si.supervisor;
		m.d.restarts = si.restarts;
		conf_free(m.d.conf);
		m.d.conf = NULL;
		if (load_config(&m, true, NULL) < 0) {
			free(m.pidfile);
			return 1;
		}
		log_configure(&m.d.conf->log);
		sandbox_opts_from(&m, &sbo);
		if (sandbox_prepare(&sbo, &sbs, err, sizeof(err)) < 0) {
			log_errx("%s", err);
			for (i = m.d.nplugins - 1; i >= 0; i--)
				plugin_unload(m.d.plugins[i]);
			free(m.d.plugins);
			conf_free(m.d.conf);
			free(m.pidfile);
			return 1;
		}
	}

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	m.d.segstate = seg_state_new();
	if (m.d.segstate == NULL) {
		log_errx("out of memory");
		return 1;
	}
	/* The fail mode also covers the case of no policy at all. */
	seg_state_set_fail_open(m.d.segstate, m.d.conf->fail_mode == 1);
	m.d.base = event_base_new();
	if (m.d.base == NULL) {
		log_errx("cannot create the event loop");
		return 1;
	}
	m.d.threat = threat_new(&m.d);
	if (m.d.threat == NULL) {
		log_errx("out of memory");
		return 1;
	}
	threat_configure(m.d.threat, &m.d.conf->threat);
	if (m.d.conf->events_file != NULL) {
		m.d.evlog = eventlog_open(m.d.conf->events_file,
					  m.d.conf->events_mode, err,
					  sizeof(err));
		if (m.d.evlog == NULL) {
			log_errx("%s", err);
			m.exit_code = 1;
			goto out;
		}
	}
	m.ev_hup = evsignal_new(m.d.base, SIGHUP, on_signal, &m);
	m.ev_term = evsignal_new(m.d.base, SIGTERM, on_signal, &m);
	m.ev_int = evsignal_new(m.d.base, SIGINT, on_signal, &m);
	if (!m.ev_hup || !m.ev_term || !m.ev_int || evsignal_add(m.ev_hup, NULL) ||
	    evsignal_add(m.ev_term, NULL) || evsignal_add(m.ev_int, NULL)) {
		log_errx("cannot install signal events");
		return 1;
	}
	if (supervised)
		supervise_unblock(); /* signals sent meanwhile arrive now */
	/* After the pidfile lock: a stale socket may be removed only now. */
	m.admin = admin_new(&m.d, m.conf_file, admin_reload, &m, err,
			    sizeof(err));
	if (m.admin == NULL && m.d.conf->admin_explicit) {
		log_errx("%s", err);
		m.exit_code = 1;
		goto out;
	}
	if (m.admin == NULL)
		log_warnx("%s: running without an admin socket (configure admin.socket)",
			  err);
	/* The spool before the plugins: they may emit or register uplinks. */
	if (m.d.conf->spool.enabled) {
		m.d.bus = bus_new(&m.d, &m.d.conf->spool, err, sizeof(err));
		if (m.d.bus == NULL) {
			log_errx("spool: %s", err);
			m.exit_code = 1;
			goto out;
		}
	} else {
		log_info("no spool { } configured: telemetry and events are not sent northbound");
	}
	if (m.d.conf->metrics_listen != NULL) {
		m.metrics = metrics_http_new(&m.d, m.d.conf->metrics_listen, err,
					     sizeof(err));
		if (m.metrics == NULL) {
			log_errx("%s", err);
			m.exit_code = 1;
			goto out;
		}
	}
	for (i = 0; i < m.d.nplugins; i++) {
		if (plugin_start(m.d.plugins[i], &m.d.conf->plugins[i]) < 0) {
			log_errx("plugin %s failed to start: zonegated stops (fail closed)",
				 plugin_name(m.d.plugins[i]));
			m.exit_code = 1;
			goto out;
		}
	}
	/*
	 * What the unprivileged process must still change is given to its
	 * user now: the spool directory (new segments, the state file) and
	 * the event log (reopened after rotation).
	 */
	if ((m.d.bus != NULL &&
	     sandbox_own_dir(&sbs, m.d.conf->spool.dir, err, sizeof(err)) < 0) ||
	    (m.d.conf->events_file != NULL &&
	     sandbox_own_file(&sbs, m.d.conf->events_file,
			      m.d.conf->events_mode, err, sizeof(err)) < 0)) {
		log_errx("%s: zonegated stops (fail closed)", err);
		m.exit_code = 1;
		goto out;
	}
	/*
	 * Everything privileged is open: listeners, admin socket, key
	 * files, serial lines.  From here on the process cannot regain it.
	 */
	if (sandbox_enter(&sbo, &sbs, err, sizeof(err)) < 0) {
		log_errx("cannot enter the sandbox: %s: zonegated stops (fail closed)",
			 err);
		m.exit_code = 1;
		goto out;
	}
	{
		char who[96] = "";

		if (sbs.dropped)
			snprintf(who, sizeof(who),
				 " (dropped), no supplementary groups, RLIMIT_NPROC %ld",
				 sbs.nproc);
		log_info("sandbox: uid %ld gid %ld%s, no_new_privs, seccomp %s%s",
			 (long)sbs.uid, (long)sbs.gid,
			 sbs.dropped ? who : " (unchanged: not root, or user = \"\")",
			 conf_seccomp_names[sbo.seccomp],
			 sbo.seccomp == SECCOMP_OFF ? "" :
			 sbo.seccomp == SECCOMP_KILL ? " (refused calls kill the process)" :
			 " (refused calls are only logged)");
	}
	if (m.d.restarts > 0)
		restart_event(&m, &si);
	{
		char sup[80];

		if (m.d.supervisor_pid != 0)
			snprintf(sup, sizeof(sup), ", supervisor pid %ld, restart #%u",
				 m.d.supervisor_pid, m.d.restarts);
		else
			snprintf(sup, sizeof(sup), ", not supervised (-S)");
		log_info("zonegated %s ready: config %s, gateway %s, %d plugin%s, TLS %s, pid %ld%s",
			 PACKAGE_VERSION, m.conf_file, m.d.conf->id, m.d.nplugins,
			 m.d.nplugins == 1 ? "" : "s", ZG_TLS_ENGINE,
			 (long)getpid(), sup);
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "R", 1) != 1)
			log_warn("cannot tell the parent we are ready");
		close(ready_fd);
		ready_fd = -1;
	}

	event_base_dispatch(m.d.base);
	log_info("stopped");
out:
	for (i = m.d.nplugins - 1; i >= 0; i--)
		plugin_unload(m.d.plugins[i]);
	free(m.d.plugins);
	bus_free(m.d.bus);
	m.d.bus = NULL;
	admin_free(m.admin);
	metrics_http_free(m.metrics);
	metrics_reset();
	if (m.ev_drain)
		event_free(m.ev_drain);
	if (m.ev_hup)
		event_free(m.ev_hup);
	if (m.ev_term)
		event_free(m.ev_term);
	if (m.ev_int)
		event_free(m.ev_int);
	threat_free(m.d.threat);
	eventlog_free(m.d.evlog);
	event_base_free(m.d.base);
	conf_free(m.d.conf);
	seg_state_free(m.d.segstate);
	pidfile_close(m.pidfd, m.pidfile);
	free(m.pidfile);
	if (ready_fd >= 0)
		close(ready_fd);
	return m.exit_code;
}
