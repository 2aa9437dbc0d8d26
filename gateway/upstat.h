/*
 * upstat: what the operator sees of the northbound uplinks.
 *
 * A small registry in the core that the bus/spool and the uplinks update
 * (upstat_set on every state change and after spool appends/acks) and
 * that `zonegatectl uplinks' and the metrics read.  It holds no message
 * and drives nothing: it is a window, so the northbound code stays the
 * only owner of uplink state.  Until something registers, zonegatectl
 * says "no uplinks configured".
 *
 * One registry per process, event-loop thread only.  At most UPSTAT_MAX
 * uplinks; names are copied (cut at UPSTAT_NAME_MAX - 1 bytes).
 */
#ifndef ZG_UPSTAT_H
#define ZG_UPSTAT_H

#include <stddef.h>
#include <stdint.h>

#define UPSTAT_MAX 32
#define UPSTAT_NAME_MAX 72 /* uplink names: up to 64 (SPOOL_MAX_NAME) */
#define UPSTAT_TEXT_MAX 160

enum upstat_state {
	UPSTAT_DOWN = 0,       /* not connected (outage, or never was) */
	UPSTAT_CONNECTING = 1, /* connecting or handshaking */
	UPSTAT_UP = 2,         /* connected: messages are being sent */
};

struct upstat {
	char name[UPSTAT_NAME_MAX];     /* stable uplink name (spool key) */
	char kind[16];                  /* "mqtt", "http2" ... */
	char target[UPSTAT_TEXT_MAX];   /* where it sends: "broker:8883" */
	int state;                      /* enum upstat_state */
	int64_t since_ms;               /* Unix ms of the last state change */
	uint64_t spool_depth;           /* messages not yet acknowledged */
	uint64_t spool_bytes;           /* their size */
	int64_t oldest_unsent_ms;       /* Unix ms the oldest entered the
					   spool, 0 when none is waiting */
	uint64_t sent, acked;           /* since start */
	char last_error[UPSTAT_TEXT_MAX]; /* why it went down, or "" */
};

/*
 * Create or update the entry u->name (copied whole).  since_ms 0 means
 * "now if the state changed, else unchanged".  Returns 0, or -1 when the
 * registry is full or the name is empty.
 */
int upstat_set(const struct upstat *u);
/* Remove an uplink (plugin unloaded, uplink freed).  Unknown: no-op. */
void upstat_remove(const char *name);
size_t upstat_count(void);
/* Entry i (0-based, registration order), or NULL. */
const struct upstat *upstat_get(size_t i);
const char *upstat_state_name(int state);
/* Forget everything (exit, tests). */
void upstat_reset(void);

#endif /* ZG_UPSTAT_H */
