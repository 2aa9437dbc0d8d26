/*
 * sandbox.c: privilege drop and seccomp allowlist (see sandbox.h and
 * docs/architecture.md for the guarantees and their limits).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "gateway/conf.h"
#include "gateway/sandbox.h"

int
sandbox_prepare(const struct sandbox_opts *o, struct sandbox_state *st,
		char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	memset(st, 0, sizeof(*st));
	st->nproc = -1;
	st->uid = getuid();
	st->gid = getgid();
	if (o->user == NULL || o->user[0] == '\0')
		return 0;
	errno = 0;
	pw = getpwnam(o->user);
	if (pw == NULL) {
		if (geteuid() != 0 && !o->user_explicit)
			return 0; /* the root default does not apply */
		snprintf(err, errlen,
			 "gateway.user \"%s\": no such user%s%s (create it with "
			 "useradd --system --no-create-home --shell /usr/sbin/nologin %s, "
			 "or set gateway.user = \"\" to keep the start-up privileges)",
			 o->user, errno ? ": " : "", errno ? strerror(errno) : "",
			 o->user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen,
			 "gateway.user \"%s\" is root: name an unprivileged account",
			 o->user);
		return -1;
	}
	st->uid = pw->pw_uid;
	st->gid = pw->pw_gid;
	if (o->group != NULL) {
		gr = getgrnam(o->group);
		if (gr == NULL) {
			snprintf(err, errlen,
				 "gateway.group \"%s\": no such group (groupadd --system %s)",
				 o->group, o->group);
			return -1;
		}
		if (gr->gr_gid == 0) {
			snprintf(err, errlen,
				 "gateway.group \"%s\" is gid 0: name an unprivileged group",
				 o->group);
			return -1;
		}
		st->gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		if (st->uid == getuid() && st->gid == getgid())
			return 0; /* already that user: nothing to drop */
		if (!o->user_explicit) {
			st->uid = getuid();
			st->gid = getgid();
			return 0;
		}
		snprintf(err, errlen,
			 "gateway.user \"%s\": zonegated runs as uid %ld, not root, "
			 "and cannot switch users (start it as root, or set gateway.user = \"\")",
			 o->user, (long)getuid());
		return -1;
	}
	st->dropped = true;
	return 0;
}

static int
drop_user(const struct sandbox_state *st, char *err, size_t errlen)
{
	uid_t r, e, s;

	if (setgroups(0, NULL) < 0) {
		snprintf(err, errlen, "setgroups(0): %s", strerror(errno));
		return -1;
	}
	if (setresgid(st->gid, st->gid, st->gid) < 0) {
		snprintf(err, errlen, "setresgid(%ld): %s", (long)st->gid,
			 strerror(errno));
		return -1;
	}
	if (setresuid(st->uid, st->uid, st->uid) < 0) {
		snprintf(err, errlen, "setresuid(%ld): %s", (long)st->uid,
			 strerror(errno));
		return -1;
	}
	/* Prove it: every id is the new one and root cannot come back. */
	if (getresuid(&r, &e, &s) < 0 || r != st->uid || e != st->uid ||
	    s != st->uid || getegid() != st->gid || getgid() != st->gid ||
	    getgroups(0, NULL) != 0 || setuid(0) == 0 || seteuid(0) == 0) {
		snprintf(err, errlen,
			 "privileges still present after switching to uid %ld",
			 (long)st->uid);
		return -1;
	}
	return 0;
}

int
sandbox_own_dir(const struct sandbox_state *st, const char *dir, char *err,
		size_t errlen)
{
	struct dirent *de;
	DIR *dp;
	int dfd, rc = 0;

	if (!st->dropped)
		return 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fchown(dfd, st->uid, st->gid) < 0) {
		snprintf(err, errlen, "%s: cannot give it to uid %ld: %s", dir,
			 (long)st->uid, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	dp = fdopendir(dfd);
	if (dp == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fchownat(dfd, de->d_name, st->uid, st->gid,
			     AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s/%s: cannot give it to uid %ld: %s",
				 dir, de->d_name, (long)st->uid, strerror(errno));
			rc = -1;
			break;
		}
	}
	closedir(dp);
	return rc;
}

int
sandbox_own_file(const struct sandbox_state *st, const char *path, int mode,
		 char *err, size_t errlen)
{
	int fd;

	if (!st->dropped)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY |
		  O_CLOEXEC, (mode_t)mode);
	if (fd < 0 || fchown(fd, st->uid, st->gid) < 0) {
		snprintf(err, errlen, "%s: cannot give it to uid %ld: %s", path,
			 (long)st->uid, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * RLIMIT_NPROC for the dropped user: the threads running now plus
 * SANDBOX_NPROC_HEADROOM.  The kernel counts every task of the real uid,
 * so this assumes the user is dedicated to zonegated (the default).
 */
static int
limit_nproc(struct sandbox_state *st, char *err, size_t errlen)
{
	char line[128];
	long threads = -1;
	struct rlimit rl;
	FILE *f = fopen("/proc/self/status", "re");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Threads:", 8) == 0)
			threads = strtol(line + 8, NULL, 10);
	if (f != NULL)
		fclose(f);
	if (threads < 1) {
		snprintf(err, errlen, "cannot count threads in /proc/self/status");
		return -1;
	}
	rl.rlim_cur = rl.rlim_max = (rlim_t)(threads + SANDBOX_NPROC_HEADROOM);
	if (setrlimit(RLIMIT_NPROC, &rl) < 0) {
		snprintf(err, errlen, "RLIMIT_NPROC %ld: %s",
			 (long)rl.rlim_cur, strerror(errno));
		return -1;
	}
	st->nproc = (long)rl.rlim_cur;
	return 0;
}

#ifdef HAVE_SECCOMP
/*
 * The allowlist: what the event loop, the plugin host, TLS, reload
 * (config, key and plugin files re-read, listeners opened, modules
 * dlopen()ed), the spool (files renamed, fsync'd) and the worker threads
 * (libmodbus RTU lines: serial ioctls below, select, sleeps) use.  Not
 * here, so refused: execve/execveat, ptrace, process creation (clone
 * without CLONE_THREAD, fork, vfork), mount and namespace calls, module
 * loading, bpf, keyctl, chroot, set*id, kexec, reboot, swap, time
 * setting, process_vm_*, io_uring, perf.  Names unknown on this
 * architecture are skipped.
 */
static const char *const allowed_syscalls[] = {
	/* files and descriptors */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "close", "close_range", "open", "openat", "creat", "stat",
	"fstat", "lstat", "newfstatat", "statx", "fstatfs", "statfs", "lseek",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat",
	"getdents64", "mkdir", "mkdirat", "rename", "renameat", "renameat2",
	"unlink", "unlinkat", "fsync", "fdatasync", "sync_file_range",
	"ftruncate", "fallocate", "flock", "fcntl", "dup", "dup2", "dup3",
	"pipe", "pipe2", "fchmod", "umask", "getcwd", "fadvise64", "link",
	"linkat", "utimensat", "msync", "sendfile", "copy_file_range",
	/* memory */
	"brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "mincore",
	/* time */
	"clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep",
	"clock_nanosleep",
	/* signals */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"rt_sigtimedwait", "restart_syscall", "tgkill", "tkill",
	/* threads (clone is filtered separately) and exit */
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"set_tid_address", "sched_yield", "sched_getaffinity", "exit",
	"exit_group", "membarrier",
	/* identity of the process (reads only) */
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getresuid", "getresgid", "getgroups", "getrlimit",
	"uname", "sysinfo", "getrandom",
	/* network */
	"socket", "connect", "bind", "listen", "accept", "accept4",
	"getsockname", "getpeername", "setsockopt", "getsockopt", "sendto",
	"recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	"socketpair",
	/* event loop */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
	"eventfd", "eventfd2", "timerfd_create", "timerfd_settime",
	"timerfd_gettime", "signalfd", "signalfd4",
	NULL
};

/* ioctl requests: serial lines (termios, modem lines, RS-485) and FIONREAD. */
static const unsigned long allowed_ioctls[] = {
	TCGETS, TCSETS, TCSETSW, TCSETSF, TCFLSH, TCSBRK, TCXONC,
	TIOCMGET, TIOCMSET, TIOCMBIS, TIOCMBIC, TIOCOUTQ, TIOCEXCL,
	TIOCGSERIAL, TIOCSSERIAL, TIOCGRS485, TIOCSRS485, FIONREAD, FIONBIO,
	FIOCLEX, FIONCLEX,
};

/*
 * One argument comparison, every field named (libseccomp's SCMP_A*
 * macros leave datum_b implicit, which clang's -Wextra refuses).  For
 * SCMP_CMP_MASKED_EQ, a is the mask and b the value.
 */
static struct scmp_arg_cmp
arg_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = op, .datum_a = a,
				  .datum_b = b };

	return c;
}

static int
install_seccomp(int mode, struct sandbox_state *st, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	uint32_t deflt = mode == SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
	size_t i;
	int rc, n = 0, nr;

	ctx = seccomp_init(deflt);
	if (ctx == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	/* Worker threads started before the drop get the filter too. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc < 0)
		goto fail_rule;
	for (i = 0; allowed_syscalls[i] != NULL; i++) {
		nr = seccomp_syscall_resolve_name(allowed_syscalls[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0)
			goto fail_rule;
		n++;
	}
	/* Threads yes (pthread_create), new processes no. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			      arg_cmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD,
				      CLONE_THREAD));
	if (rc < 0)
		goto fail_rule;
	n++;
	/*
	 * clone3 passes its flags in memory a filter cannot read: ENOSYS
	 * makes glibc fall back to clone, which the rule above judges.
	 */
	nr = seccomp_syscall_resolve_name("clone3");
	if (nr != __NR_SCMP_ERROR &&
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0)) < 0)
		goto fail_rule;
	for (i = 0; i < sizeof(allowed_ioctls) / sizeof(allowed_ioctls[0]); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      arg_cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffUL,
					      allowed_ioctls[i]));
		if (rc < 0)
			goto fail_rule;
	}
	n++;
	/* Reading limits is fine; raising them is not. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
			      arg_cmp(2, SCMP_CMP_EQ, 0, 0));
	if (rc < 0)
		goto fail_rule;
	n++;
	rc = seccomp_load(ctx);
	if (rc < 0) {
		snprintf(err, errlen, "loading the seccomp filter: %s",
			 strerror(-rc));
		seccomp_release(ctx);
		return -1;
	}
	seccomp_release(ctx);
	st->nsyscalls = n;
	return 0;
fail_rule:
	snprintf(err, errlen, "building the seccomp filter: %s", strerror(-rc));
	seccomp_release(ctx);
	return -1;
}
#endif

int
sandbox_enter(const struct sandbox_opts *o, struct sandbox_state *st,
	      char *err, size_t errlen)
{
	if (st->dropped && (drop_user(st, err, errlen) < 0 ||
			    limit_nproc(st, err, errlen) < 0))
		return -1;
	/* A uid change cleared the parent-death signal: set it again. */
	if (o->supervisor != 0 &&
	    (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	     getppid() != o->supervisor)) {
		snprintf(err, errlen, "the supervisor (pid %ld) is gone",
			 (long)o->supervisor);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
#ifdef ZG_SANITIZERS
	/*
	 * LeakSanitizer stops the threads with ptrace at exit; a process
	 * that changed uid is not dumpable and could not be traced.
	 */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#else
	/* No core files, no ptrace or /proc/PID/mem by the same user. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		snprintf(err, errlen, "PR_SET_DUMPABLE: %s", strerror(errno));
		return -1;
	}
#endif
#ifdef HAVE_SECCOMP
	if (o->seccomp != SECCOMP_OFF &&
	    install_seccomp(o->seccomp, st, err, errlen) < 0)
		return -1;
#else
	(void)o;
#endif
	return 0;
}
