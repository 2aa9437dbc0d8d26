/*
 * pidfile: one daemon per pidfile.  The file is opened, locked with
 * fcntl(F_SETLK) and kept open for the daemon's life, so a second
 * zonegated on the same pidfile is refused even if a stale file exists
 * (a lock dies with its process; a stale pid number does not).
 */
#ifndef ZG_PIDFILE_H
#define ZG_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Create and lock `path'.  Returns an fd >= 0, or -1 with a message in err
 * (naming the pid of the running daemon when the lock is held).
 */
int pidfile_open(const char *path, char *err, size_t errlen);
/* Write our pid into the locked file (after daemonising). */
int pidfile_write(int fd, pid_t pid);
/* Remove and close. */
void pidfile_close(int fd, const char *path);

#endif /* ZG_PIDFILE_H */
