/*
 * eventlog.c: see eventlog.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/eventlog.h"
#include "gateway/log.h"

struct eventlog {
	char *path;
	int fd;
	int mode;
	uint64_t lines, errors;
	int last_errno; /* the error already said in the log, 0 = none */
};

static int
open_path(const char *path, int mode)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		    (mode_t)mode);
}

struct eventlog *
eventlog_open(const char *path, int mode, char *err, size_t errlen)
{
	struct eventlog *el = calloc(1, sizeof(*el));

	if (el == NULL || (el->path = strdup(path)) == NULL) {
		free(el);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	el->mode = mode;
	el->fd = open_path(path, mode);
	if (el->fd < 0) {
		snprintf(err, errlen, "event log %s: %s", path, strerror(errno));
		free(el->path);
		free(el);
		return NULL;
	}
	return el;
}

void
eventlog_free(struct eventlog *el)
{
	if (el == NULL)
		return;
	if (el->fd >= 0)
		close(el->fd);
	free(el->path);
	free(el);
}

const char *
eventlog_path(const struct eventlog *el)
{
	return el->path;
}

int
eventlog_write(struct eventlog *el, const char *line, size_t len)
{
	struct iovec iov[2];
	ssize_t w;

	iov[0].iov_base = (void *)(uintptr_t)line;
	iov[0].iov_len = len;
	iov[1].iov_base = (void *)(uintptr_t)"\n";
	iov[1].iov_len = 1;
	do {
		w = writev(el->fd, iov, 2);
	} while (w < 0 && errno == EINTR);
	if (w == (ssize_t)(len + 1)) {
		el->lines++;
		el->last_errno = 0;
		return 0;
	}
	el->errors++;
	if (w >= 0)
		errno = ENOSPC; /* a short write: the disk is full */
	if (errno != el->last_errno) {
		el->last_errno = errno;
		log_warn("event log %s: write failed (%llu events lost so far; they still go to the daemon log)",
			 el->path, (unsigned long long)el->errors);
	}
	return -1;
}

int
eventlog_reopen(struct eventlog *el)
{
	int fd = open_path(el->path, el->mode);

	if (fd < 0) {
		log_warn("event log %s: cannot reopen, still writing to the old file",
			 el->path);
		return -1;
	}
	close(el->fd);
	el->fd = fd;
	return 0;
}

uint64_t
eventlog_lines(const struct eventlog *el)
{
	return el->lines;
}

uint64_t
eventlog_errors(const struct eventlog *el)
{
	return el->errors;
}
