/*
 * supervise.c: see supervise.h.
 *
 * The supervisor is a poll() over a signalfd and the current child's
 * ready pipe, with a timeout when a restart is due.  No libevent, no
 * socket, no plugin: what it parses is the configuration file (trusted,
 * re-read on SIGHUP for the event log path and the restart policy) and
 * wait statuses.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/cfgutil.h"
#include "gateway/conf.h"
#include "gateway/events.h"
#include "gateway/log.h"
#include "gateway/sandbox.h"
#include "gateway/supervise.h"

static sigset_t sup_oldmask;

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The signals a crashed network process is likely to name. */
static const char *
sig_name(int sig)
{
	static const struct { int sig; const char *name; } t[] = {
		{ SIGKILL, "SIGKILL" }, { SIGSEGV, "SIGSEGV" },
		{ SIGABRT, "SIGABRT" }, { SIGBUS, "SIGBUS" },
		{ SIGSYS, "SIGSYS" }, { SIGILL, "SIGILL" }, { SIGFPE, "SIGFPE" },
		{ SIGTERM, "SIGTERM" }, { SIGINT, "SIGINT" }, { SIGHUP, "SIGHUP" },
		{ SIGPIPE, "SIGPIPE" }, { SIGQUIT, "SIGQUIT" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].sig == sig)
			return t[i].name;
	return "?";
}

const char *
supervise_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s%s)",
			 WTERMSIG(status), sig_name(WTERMSIG(status)),
			 WTERMSIG(status) == SIGSYS ? ": a system call outside the seccomp allowlist" : "");
	else
		snprintf(buf, len, "ended with wait status %#x", (unsigned)status);
	return buf;
}

int
supervise_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

double
supervise_backoff(double first, double cap, unsigned crashes)
{
	double d = first;
	unsigned i;

	for (i = 1; i < crashes && d < cap; i++)
		d *= 2;
	return d > cap ? cap : d;
}

void
supervise_unblock(void)
{
	sigprocmask(SIG_SETMASK, &sup_oldmask, NULL);
}

/*
 * Append one event (no sequence number: those belong to the network
 * process) to events.file; the supervisor's own events are the ones the
 * network process cannot raise: the crash loop that stops zonegated.
 */
static void
sup_event(const struct zg_conf *c, int severity, const char *kind,
	  const char *detail)
{
	struct zg_event ev;
	char json[EVENTS_JSON_MAX + 2];
	size_t n;
	FILE *f;

	if (c->events_file == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.severity = severity;
	ev.detail = detail;
	if (events_format_json("supervisor", &ev, json, EVENTS_JSON_MAX) < 0)
		return;
	n = strlen(json);
	json[n++] = '\n';
	f = fopen(c->events_file, "ae");
	if (f == NULL)
		return;
	fwrite(json, 1, n, f);
	fclose(f);
}

/*
 * SIGHUP: re-read the configuration (its errors are the network
 * process's to report), and make sure the event log the network process
 * is about to reopen exists and is its user's.
 */
static void
sup_reread(const struct sup_opts *o, struct zg_conf **conf)
{
	struct cfg_errs e;
	struct zg_conf *nc;
	char err[300];

	cfg_errs_init(&e);
	nc = conf_load(o->conf_file, &e);
	cfg_errs_free(&e);
	if (nc != NULL) {
		conf_free(*conf);
		*conf = nc;
	}
	if ((*conf)->events_file != NULL &&
	    sandbox_own_file(o->sbs, (*conf)->events_file,
			     (*conf)->events_mode, err, sizeof(err)) < 0)
		log_warnx("supervisor: event log %s", err);
}

/* Fork a network process; in the child, return with *info filled. */
static pid_t
spawn(int sfd, struct sup_info *info, int *readfd)
{
	int p[2];
	pid_t pid, me = getpid();

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t keep;

		close(p[0]);
		close(sfd);
		/* SIGHUP/TERM/INT stay blocked until the loop handles them. */
		keep = sup_oldmask;
		sigaddset(&keep, SIGHUP);
		sigaddset(&keep, SIGTERM);
		sigaddset(&keep, SIGINT);
		sigprocmask(SIG_SETMASK, &keep, NULL);
		/* The supervisor killed, die too (sandbox_enter sets it again). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
		    getppid() != me)
			_exit(1);
		info->supervisor = me;
		info->ready_fd = p[1];
		return 0;
	}
	close(p[1]);
	*readfd = p[0];
	return pid;
}

int
supervise(const struct sup_opts *o, struct zg_conf **conf,
	  struct sup_info *info, int *exit_code)
{
	sigset_t set;
	pid_t child = 0;
	int sfd, readfd = -1, ready_fd = o->daemon_ready_fd, status = 0;
	bool ever_ready = false, stopping = false;
	double started = 0, restart_at = -1;
	char how[160];

	memset(info, 0, sizeof(*info));
	info->ready_fd = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, &sup_oldmask) < 0)
		return -1;
	/* A starting process that went away must not kill us on write. */
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return -1;
	restart_at = now_mono(); /* the first start: now */

	for (;;) {
		struct pollfd pf[2];
		int n = 1, timeout = -1, rc;

		if (child == 0 && restart_at >= 0) {
			double wait = restart_at - now_mono();

			if (wait <= 0) {
				child = spawn(sfd, info, &readfd);
				if (child == 0) { /* the network process */
					if (ready_fd >= 0)
						close(ready_fd);
					return 1;
				}
				if (child < 0) {
					log_warn("supervisor: cannot fork the network process");
					child = 0;
					*exit_code = 1;
					break;
				}
				started = now_mono();
				restart_at = -1;
				log_debug("supervisor: network process pid %ld started",
					  (long)child);
				continue;
			}
			timeout = (int)(wait * 1000.0) + 1;
		}
		pf[0].fd = sfd;
		pf[0].events = POLLIN;
		if (readfd >= 0) {
			pf[1].fd = readfd;
			pf[1].events = POLLIN;
			n = 2;
		}
		rc = poll(pf, (nfds_t)n, timeout);
		if (rc < 0 && errno != EINTR) {
			log_warn("supervisor: poll");
			*exit_code = 1;
			break;
		}
		if (rc <= 0)
			continue;
		if (n == 2 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			char c = 0;
			ssize_t r = read(readfd, &c, 1);

			if (r == 1 && c == 'R') {
				ever_ready = true;
				if (ready_fd >= 0) {
					if (write(ready_fd, "R", 1) != 1)
						log_warn("cannot tell the parent we are ready");
					close(ready_fd);
					ready_fd = -1;
				}
			}
			if (r <= 0 || c == 'R') {
				close(readfd);
				readfd = -1;
			}
		}
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				switch (si.ssi_signo) {
				case SIGHUP:
					sup_reread(o, conf);
					if (child > 0)
						kill(child, SIGHUP);
					break;
				case SIGTERM:
				case SIGINT:
					stopping = true;
					if (child > 0) {
						kill(child, (int)si.ssi_signo);
					} else {
						log_info("supervisor: %s while waiting to restart: zonegated stops",
							 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
						*exit_code = 0;
						goto out;
					}
					break;
				case SIGCHLD:
					break;
				}
			}
		}
		/* Reap: only our network process is a child of ours. */
		while (child > 0) {
			pid_t w = waitpid(-1, &status, WNOHANG);
			double ran;

			if (w <= 0)
				break;
			if (w != child)
				continue;
			ran = now_mono() - started;
			child = 0;
			if (readfd >= 0) {
				close(readfd);
				readfd = -1;
			}
			supervise_status_str(status, how, sizeof(how));
			if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
				*exit_code = supervise_exit_code(status);
				if (!stopping)
					log_info("supervisor: network process pid %ld %s on its own: zonegated stops",
						 (long)w, how);
				goto out;
			}
			if (!ever_ready) {
				/* Start-up failed: its log says why. */
				*exit_code = supervise_exit_code(status);
				log_errx("supervisor: network process pid %ld %s before it was ready: zonegated did not start",
					 (long)w, how);
				goto out;
			}
			if (ran >= (*conf)->restart_stable)
				info->crashes = 0;
			info->crashes++;
			info->prev_pid = w;
			info->prev_status = status;
			info->prev_ran = ran;
			if ((int)info->crashes > (*conf)->restart_limit) {
				char d[400];

				snprintf(d, sizeof(d),
					 "network process pid %ld %s after %.1fs; %u crash%s in a row (gateway.restart_limit = %d): zonegated stops",
					 (long)w, how, ran, info->crashes,
					 info->crashes == 1 ? "" : "es",
					 (*conf)->restart_limit);
				log_errx("supervisor: %s; find the cause in the log above, then start it again", d);
				sup_event(*conf, ZG_SEV_CRITICAL, "daemon.crash_loop", d);
				*exit_code = supervise_exit_code(status);
				goto out;
			}
			{
				double delay = supervise_backoff((*conf)->restart_delay,
								 (*conf)->restart_delay_max,
								 info->crashes);

				info->restarts++;
				restart_at = now_mono() + delay;
				log_warnx("supervisor: network process pid %ld %s after %.1fs: restart #%u in %.2fs (crash %u in a row, limit %d)",
					  (long)w, how, ran, info->restarts, delay,
					  info->crashes, (*conf)->restart_limit);
			}
		}
	}
out:
	if (child > 0) {
		/* Leaving with a live child (fork or poll failure): stop it. */
		kill(child, SIGTERM);
		waitpid(child, &status, 0);
	}
	if (readfd >= 0)
		close(readfd);
	if (ready_fd >= 0)
		close(ready_fd);
	close(sfd);
	sigprocmask(SIG_SETMASK, &sup_oldmask, NULL);
	return 0;
}
