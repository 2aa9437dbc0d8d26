/*
 * supervise: the small parent that keeps the network-facing process
 * running (docs/architecture.md, "Process model and sandbox").
 *
 * zonegated (unless -S) splits in two after it took the pidfile lock:
 *
 *   supervisor  the pid in the pidfile.  Stays root, opens no socket,
 *               reads no byte from the network, runs no event loop: it
 *               forks the network process, forwards SIGHUP, SIGTERM and
 *               SIGINT to it, restarts it with exponential backoff when it
 *               dies abnormally, and gives up after a crash loop.
 *   network     everything else (config, plugins, listeners, spool, keys,
 *               privilege drop, seccomp, the loop).  Forked, not exec'd:
 *               it gets what it needs to know (restart count, how the
 *               previous one died) in memory, in struct sup_info.
 */
#ifndef ZG_SUPERVISE_H
#define ZG_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct zg_conf;

struct sandbox_state;

/*
 * What the supervisor needs besides the configuration: the restart policy
 * is read from it (gateway.restart_*), and it is re-read on SIGHUP.
 */
struct sup_opts {
	const char *conf_file;
	int daemon_ready_fd; /* daemonize()'s pipe, or -1 (foreground) */
	const struct sandbox_state *sbs; /* the user the child drops to */
};

/* What a network process knows about its supervisor and predecessor. */
struct sup_info {
	pid_t supervisor;   /* 0: not supervised (-S) */
	unsigned restarts;  /* how many children were started before this one */
	unsigned crashes;   /* abnormal exits in a row before this start */
	pid_t prev_pid;     /* the child this one replaces, 0 = first */
	int prev_status;    /* its wait status */
	double prev_ran;    /* how long it ran, seconds */
	int ready_fd;       /* write "R" once serving, then close */
};

/*
 * Run the supervisor.  Returns 1 in each new network process (with *info
 * filled: carry on starting the gateway; SIGHUP, SIGTERM and SIGINT are
 * still blocked, unblock them with supervise_unblock() once the loop's
 * signal events exist), or 0 in the supervisor when it is done, with the
 * exit status for zonegated in *exit_code: the child's own status after a
 * requested stop or a clean exit; when the first child fails before it is
 * ready, its status (start-up failed); after a crash loop, the last
 * child's status (128 + signal for a signal).  -1 if the supervisor could
 * not be set up (errno).  *conf is the supervisor's copy of the
 * configuration: replaced when a SIGHUP re-reads it successfully (the
 * caller frees the one left).
 */
int supervise(const struct sup_opts *o, struct zg_conf **conf,
	      struct sup_info *info, int *exit_code);

/* In a network process: let the signals supervise() left blocked in. */
void supervise_unblock(void);

/*
 * Describe a wait status: "exited with status 3", "killed by signal 9
 * (SIGKILL)".  Returns buf.
 */
const char *supervise_status_str(int status, char *buf, size_t len);

/*
 * The delay before restart after `crashes' crashes in a row (1 = the
 * first): first * 2^(crashes-1), at most cap.
 */
double supervise_backoff(double first, double cap, unsigned crashes);

/* A wait status as an exit code: the code, or 128 + the signal. */
int supervise_exit_code(int status);

#endif /* ZG_SUPERVISE_H */
