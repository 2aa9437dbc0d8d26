/*
 * sandbox: what zonegated gives up once it has opened what it needs
 * (docs/architecture.md, "Process model and sandbox").
 *
 * One process, privileges dropped in place after start-up: switch to an
 * unprivileged user with no supplementary groups, set no_new_privs, stop
 * being dumpable, and install a seccomp allowlist of the system calls the
 * running gateway makes.  Everything is irreversible for the life of the
 * process.
 */
#ifndef ZG_SANDBOX_H
#define ZG_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sandbox_opts {
	const char *user;   /* "" = keep the current user */
	bool user_explicit; /* named in the config or on the command line */
	const char *group;  /* NULL = the user's primary group */
	int seccomp;        /* enum conf_seccomp */
	pid_t supervisor;   /* != 0: die (SIGKILL) with this parent */
};

/* What sandbox_enter() did, for the start-up log line. */
struct sandbox_state {
	uid_t uid;
	gid_t gid;
	bool dropped;       /* switched user */
	int nsyscalls;      /* allowed by the filter (0: no filter) */
	long nproc;         /* RLIMIT_NPROC set after the drop, -1: not set */
};

/*
 * Tasks (threads) the dropped user may have beyond those running at the
 * drop: RLIMIT_NPROC counts threads, and reload (RTU lines, uplinks) and
 * the MQTT uplink's reconnects (a new libmosquitto thread each) create
 * some after it.  docs/architecture.md says why this is not 0.
 */
#define SANDBOX_NPROC_HEADROOM 32

/*
 * Resolve the user and group (before anything else: the name service
 * may need files the sandbox hides) and check that the drop is possible.
 * As root, an absent default user is an error naming useradd; not as
 * root, a user other than the current one is an error and the default
 * means "stay who we are".  0, or -1 with err filled.
 */
int sandbox_prepare(const struct sandbox_opts *o, struct sandbox_state *st,
		    char *err, size_t errlen);

/*
 * Before the drop, as root: give what the unprivileged process must still
 * be able to change to the user it drops to (no-ops unless the state
 * says it drops).  sandbox_own_dir(): the directory and every entry in
 * it (the spool: new segments, the state file's rename), without
 * following symlinks.  sandbox_own_file(): one file, created with `mode'
 * when missing (the event log: reopened after rotation, so the
 * supervisor creates the new file before it forwards SIGHUP).  0, or -1
 * with err filled.
 */
int sandbox_own_dir(const struct sandbox_state *st, const char *dir,
		    char *err, size_t errlen);
int sandbox_own_file(const struct sandbox_state *st, const char *path,
		     int mode, char *err, size_t errlen);

/*
 * Enter the sandbox prepared above: setgroups(0), setresgid, setresuid
 * (then check root cannot be regained), RLIMIT_NPROC (threads now plus
 * SANDBOX_NPROC_HEADROOM), the parent-death signal again (a uid change
 * clears it), PR_SET_NO_NEW_PRIVS,
 * PR_SET_DUMPABLE 0 (not in sanitizer builds: LeakSanitizer ptraces its
 * own threads at exit), and the seccomp filter.  0, or -1 with err
 * filled: the caller must stop, never run half-sandboxed.
 */
int sandbox_enter(const struct sandbox_opts *o, struct sandbox_state *st,
		  char *err, size_t errlen);

#endif /* ZG_SANDBOX_H */
