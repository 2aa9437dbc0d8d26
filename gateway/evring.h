/*
 * evring: the most recent security events, in memory, for
 * `zonegatectl events' (and `events -f' followers).
 *
 * A fixed ring of EVRING_CAP lines (each the event's JSON object, cut
 * at EVRING_LINE_MAX bytes); the oldest is overwritten.  Subscribers are
 * called for every new line on the loop thread; they must copy what they
 * keep and must not push or unsubscribe others from inside the call.
 * One ring per process: events_emit() feeds it.
 */
#ifndef ZG_EVRING_H
#define ZG_EVRING_H

#include <stddef.h>
#include <stdint.h>

#define EVRING_CAP 256
#define EVRING_LINE_MAX 2048
#define EVRING_SUBS_MAX 16

typedef void (*evring_fn)(void *arg, uint64_t seq, const char *json);

/*
 * What events_emit() calls for every event: counts it in
 * zonegate_events_total{kind,severity} and pushes its line.
 */
void evring_event(const char *kind, const char *severity, const char *json);
/* Append one event line (copied).  seq numbers start at 1. */
void evring_push(const char *json);
/* Call fn for the last n lines (oldest first); returns how many. */
size_t evring_last(size_t n, evring_fn fn, void *arg);
/* Lines pushed since start (including those overwritten). */
uint64_t evring_total(void);
/* Follow new lines.  -1 when EVRING_SUBS_MAX are following already. */
int evring_subscribe(evring_fn fn, void *arg);
void evring_unsubscribe(evring_fn fn, void *arg);
/* Free every line and subscription (exit, tests). */
void evring_reset(void);

#endif /* ZG_EVRING_H */
