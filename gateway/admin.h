/*
 * admin: the local admin socket of a running zonegated.
 *
 * A unix stream socket on the daemon's event loop (path, mode and group
 * from the `admin' config section) that `zonegatectl' talks to.  One JSON
 * object per line each way:
 *
 *   {"cmd":"status"}                      version, counters, plugins ...
 *   {"cmd":"quarantine","identity":"X"}   runtime quarantine on
 *   {"cmd":"release","identity":"X"}      runtime quarantine off
 *   {"cmd":"quarantined"}                 the runtime quarantine set
 *   {"cmd":"reload"}                      the same reload as SIGHUP
 *   {"cmd":"zones"}                       zones, their devices, conduits
 *   {"cmd":"devices"}                     devices: zone, assurance, online,
 *                                         quarantined, live sessions
 *   {"cmd":"sessions"}                    every plugin's live sessions
 *   {"cmd":"uplinks"}                     northbound uplinks and spool
 *   {"cmd":"events"}                      the recent events (evring.h)
 *   {"cmd":"follow"}                      stream new events, one per line
 *
 * A `follow' connection answers {"ok":true,"following":true} and then
 * carries one event object per line until the client closes it; a
 * follower that leaves more than 64 KiB unread is sent an error line and
 * disconnected.
 * Every answer carries "ok":true|false; a failure has "error" (and, for
 * reload, "errors": the config lines).  The socket is bounded: requests
 * over ADMIN_LINE_MAX close the connection, at most ADMIN_MAX_CLIENTS at
 * once, idle clients are dropped after ADMIN_IDLE_SECONDS.  Peers are
 * checked with SO_PEERCRED (root, the daemon's uid or the socket's group).
 */
#ifndef ZG_ADMIN_H
#define ZG_ADMIN_H

#include "gateway/adminop.h"

#include <stddef.h>

#include "gateway/cfgutil.h"
#include "gateway/daemon.h"

#define ADMIN_LINE_MAX 4096      /* one request line, newline included */
#define ADMIN_MAX_CLIENTS 16
#define ADMIN_IDLE_SECONDS 60
#define ADMIN_STR_MAX 256        /* longest string member, decoded */

/* ------------------------------------------------------------------ */
/* Requests (pure: no I/O, fuzzed by tests/fuzz/fuzz_admin.c)          */

struct admin_req {
	char cmd[ADMIN_STR_MAX + 1];
	char identity[ADMIN_STR_MAX + 1]; /* "" when absent, as all below */
	/* explain: the operation to decide (gateway/adminop.h) */
	char target[ADMIN_STR_MAX + 1];
	char role[ADMIN_STR_MAX + 1];
	char assurance[ADMIN_STR_MAX + 1]; /* "certificate", "address" */
	char op[ADMIN_OP_MAX + 1];
};

/*
 * Parse one request line (buf, len; no NUL needed; a trailing CR/LF is
 * allowed): a flat JSON object whose members are strings, among "cmd"
 * (required), "identity", "target", "role", "assurance" and "op".
 * Refuses nesting, non-string values, unknown or repeated members,
 * strings longer than ADMIN_STR_MAX bytes (ADMIN_OP_MAX for "op"),
 * control characters (raw or escaped), \u0000, invalid escapes and
 * trailing garbage.  Returns 0, or -1 with a reason in err.
 */
int admin_parse_request(const char *buf, size_t len, struct admin_req *req,
			char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* The socket                                                          */

struct zg_admin;

/*
 * Runs the same reload as SIGHUP.  `why' names the requester for the log;
 * every error (and warning) line goes to errs.  Returns 0 when the new
 * configuration is in force, -1 when the old one stays.
 */
typedef int (*admin_reload_fn)(void *arg, const char *why,
			       struct cfg_errs *errs);

/*
 * Create the socket described by d->conf (admin.socket/mode/group) and
 * start serving it on d->base.  Call only while holding the pidfile lock:
 * a stale socket file at the path is removed (anything that is not a
 * socket is refused).  conf_file is copied (shown by status).  Returns
 * NULL with a message in err.
 */
struct zg_admin *admin_new(struct zg_daemon *d, const char *conf_file,
			   admin_reload_fn reload, void *reload_arg,
			   char *err, size_t errlen);
/* Close every client and the listener, remove the socket file.  NULL ok. */
void admin_free(struct zg_admin *a);

#endif /* ZG_ADMIN_H */
