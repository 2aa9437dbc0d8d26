/*
 * pidfile.c: see pidfile.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/pidfile.h"

int
pidfile_open(const char *path, char *err, size_t errlen)
{
	struct flock fl;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open pidfile %s: %s", path,
			 strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		if (n > 0)
			buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen,
			 "pidfile %s is locked: zonegated is already running%s%s%s "
			 "(stop it, or give this instance another gateway.pidfile)",
			 path, buf[0] ? " as pid " : "", buf, "");
		close(fd);
		return -1;
	}
	return fd;
}

int
pidfile_write(int fd, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);

	if (ftruncate(fd, 0) < 0)
		return -1;
	if (pwrite(fd, buf, (size_t)n, 0) != n)
		return -1;
	return 0;
}

void
pidfile_close(int fd, const char *path)
{
	if (fd < 0)
		return;
	if (path != NULL)
		unlink(path);
	close(fd);
}
