/*
 * test_supervise: the supervisor's pure parts (gateway/supervise.c): the
 * restart backoff, and how a wait status is told and turned into an exit
 * status.  The process behaviour itself is tested on the real daemon by
 * tests/integration/supervise.sh.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/supervise.h"
#include "tap.h"

/* A real wait status: a child that exits with `code' or dies of `sig'. */
static int
status_of(int code, int sig)
{
	int st = 0;
	pid_t p = fork();

	if (p == 0) {
		if (sig != 0)
			raise(sig);
		_exit(code);
	}
	waitpid(p, &st, 0);
	return st;
}

int
main(void)
{
	char buf[160];
	int st;

	plan(12);
	ok(supervise_backoff(0.5, 30.0, 1) == 0.5, "first crash: the first delay");
	ok(supervise_backoff(0.5, 30.0, 2) == 1.0, "second in a row: doubled");
	ok(supervise_backoff(0.5, 30.0, 4) == 4.0, "fourth: 0.5 * 2^3");
	ok(supervise_backoff(0.5, 30.0, 7) == 30.0, "seventh: capped at 30 (not 32)");
	ok(supervise_backoff(0.5, 30.0, 4000000000u) == 30.0,
	   "a huge count stays at the cap (no overflow, bounded loop)");
	ok(supervise_backoff(2.0, 1.0, 1) == 1.0, "a first delay above the cap is capped");

	st = status_of(3, 0);
	ok(strcmp(supervise_status_str(st, buf, sizeof(buf)), "exited with status 3") == 0,
	   "exit status told: %s", buf);
	ok(supervise_exit_code(st) == 3, "  ... exit code 3");
	st = status_of(0, SIGKILL);
	ok(strcmp(supervise_status_str(st, buf, sizeof(buf)),
		  "killed by signal 9 (SIGKILL)") == 0, "signal told: %s", buf);
	ok(supervise_exit_code(st) == 137, "  ... exit code 128 + 9");
	st = status_of(0, SIGSYS);
	ok(strstr(supervise_status_str(st, buf, sizeof(buf)),
		  "signal 31 (SIGSYS: a system call outside the seccomp allowlist)") != NULL,
	   "SIGSYS names the seccomp allowlist: %s", buf);
	ok(supervise_exit_code(st) == 128 + SIGSYS, "  ... exit code 128 + 31");
	return done_testing();
}
