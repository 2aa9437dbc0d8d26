/*
 * eventlog: the local JSON-lines security event log (events.file).
 *
 * One JSON object per line, appended with one write(2) per event on an
 * O_APPEND descriptor, so concurrent readers never see half a line and a
 * log rotator may rename the file at any time: lines keep going to the
 * renamed file until eventlog_reopen() (SIGHUP) opens the path afresh.
 * A failing write is counted and said once in the daemon's log; the
 * event still reaches syslog/stderr.
 */
#ifndef ZG_EVENTLOG_H
#define ZG_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

struct eventlog;

/*
 * Open (create with `mode', append) `path'.  Returns NULL with a message
 * in err when the file cannot be opened.
 */
struct eventlog *eventlog_open(const char *path, int mode, char *err,
			       size_t errlen);
void eventlog_free(struct eventlog *el);
const char *eventlog_path(const struct eventlog *el);
/* Append line (no newline in it) and a newline.  Returns 0 or -1. */
int eventlog_write(struct eventlog *el, const char *line, size_t len);
/* Reopen the path (after rotation).  Keeps the old file on failure. */
int eventlog_reopen(struct eventlog *el);
uint64_t eventlog_lines(const struct eventlog *el);
uint64_t eventlog_errors(const struct eventlog *el);

#endif /* ZG_EVENTLOG_H */
