/*
 * Minimal TAP producer for zonegate's unit tests (automake tap-driver.sh).
 *
 *   plan(3);   ok(x == 1, "x is one");   ... return done_testing();
 *
 * done_testing() returns the process exit status: 0 when every test
 * passed and the plan was met, 1 otherwise.
 */
#ifndef ZG_TAP_H
#define ZG_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_run_, tap_failed_, tap_planned_ = -1;

static inline void plan(int n)
{
	tap_planned_ = n;
	printf("1..%d\n", n);
}

__attribute__((format(printf, 2, 3))) static inline int ok(int cond,
							   const char *fmt, ...)
{
	va_list ap;

	tap_run_++;
	if (!cond)
		tap_failed_++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 1, 2))) static inline void diag(const char *fmt,
							     ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline int done_testing(void)
{
	if (tap_planned_ < 0)
		printf("1..%d\n", tap_run_);
	else if (tap_planned_ != tap_run_) {
		printf("# planned %d tests, ran %d\n", tap_planned_, tap_run_);
		return 1;
	}
	return tap_failed_ ? 1 : 0;
}

#endif /* ZG_TAP_H */
