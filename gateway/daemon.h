/*
 * daemon: the state one running zonegated owns.  One event loop, the
 * config in force, and the loaded plugins.  Only main.c changes `conf'
 * (reload swaps it in one step on the loop thread).
 */
#ifndef ZG_DAEMON_H
#define ZG_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct zg_conf;
struct zg_host;
struct seg_policy;
struct seg_state;
struct bus;
struct threat;
struct eventlog;

struct zg_daemon {
	struct event_base *base;
	struct zg_conf *conf;       /* in force; replaced on reload */
	struct zg_host **plugins;   /* running plugins, in config order */
	int nplugins;
	struct seg_state *segstate; /* runtime quarantine: survives reloads */
	bool draining;              /* SIGTERM received */
	struct bus *bus;            /* northbound spool + uplinks, or NULL */
	struct threat *threat;      /* threat engine: survives reloads */
	struct eventlog *evlog;     /* events.file, or NULL */
	long supervisor_pid;        /* the supervisor (pidfile), 0 = none (-S) */
	unsigned restarts;          /* network processes started before this one */

	/* counters (later exported as metrics) */
	uint64_t reloads_ok, reloads_failed;
	uint64_t decisions_allow, decisions_deny, decisions_shadow;
	uint64_t events_total, messages_emitted, messages_unrouted;
	uint64_t events_spool_lost; /* security events the spool refused */
	uint64_t events_spool_lost_said; /* ... when the last episode ended */
};

#endif /* ZG_DAEMON_H */
