/*
 * zg-plcsim: logging to stderr and the --log-writes file.
 *
 * Each line is formatted first and written with one write(2), so tests
 * that poll the log while the simulator runs never see half a line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plcsim.h"

static bool log_verbose;

/* -v or "verbose on": let log_debug() through. */
void log_set_verbose(bool on)
{
	log_verbose = on;
}

/*
 * Write the whole buffer to fd, retrying short writes and EINTR.  Gives
 * up silently on other errors: a log that cannot be written must not
 * stop the simulator.
 */
static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Format "plcsim: <message>[: <strerror>]\n" and write it to stderr. */
__attribute__((format(printf, 2, 0))) static void log_emit(int errnum,
							   const char *fmt,
							   va_list ap)
{
	char line[1024];
	size_t n;
	int r;

	memcpy(line, "plcsim: ", 8);
	r = vsnprintf(line + 8, sizeof(line) - 8, fmt, ap);
	n = r < 0 ? 8 : 8 + (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (errnum != 0) {
		r = snprintf(line + n, sizeof(line) - 1 - n, ": %s",
			     strerror(errnum));
		if (r > 0)
			n += (size_t)r;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	write_all(STDERR_FILENO, line, n);
}

/* Events worth a line always (listening, clients, control). */
void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
}

/* Like log_warnx, with strerror(errno) appended. */
void log_warn(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(e, fmt, ap);
	va_end(ap);
	errno = e;
}

/* A problem, without errno. */
void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
}

/* Only with -v (or "verbose on" on the control FIFO). */
void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
}

/*
 * Open the --log-writes file for appending (created 0600).  Returns the
 * descriptor or -1 after logging why.
 */
int log_writes_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		log_warn("cannot open --log-writes file %s", path);
	return fd;
}

/* Append ",%u" (or "%u" first) to buf at *pos, never past cap. */
static void append_value(char *buf, size_t cap, size_t *pos, bool *first,
			 unsigned int v)
{
	int r;

	if (*pos >= cap)
		return;
	r = snprintf(buf + *pos, cap - *pos, "%s%u", *first ? "" : ",", v);
	*first = false;
	if (r > 0)
		*pos += (size_t)r;
	if (*pos > cap)
		*pos = cap;
}

/*
 * Append one line describing a write request to the --log-writes file:
 *   fc=16 unit=1 addr=0 count=3 values=1,2,3 peer=127.0.0.1:40000 result=applied
 * Accepts any PDU; values the PDU is too short to hold are left out, so
 * a truncated request still gets a line.  For FC 5 a value is 1 (0xFF00)
 * or 0 (0x0000), anything else is logged raw; FC 22 logs "and,or" masks;
 * FC 23 logs its write half.  Non-write requests log nothing.
 */
void log_write_request(int fd, const char *peer, uint8_t unit,
		       const uint8_t *pdu, size_t len, const char *result)
{
	struct frame_req_info info;
	char line[8192];
	size_t pos = 0, i, first_byte;
	unsigned int addr, count;
	bool first = true;
	int r;

	if (fd < 0)
		return;
	frame_req_info(pdu, len, &info);
	if (!info.write)
		return;
	addr = info.fc == 23 ? info.waddr : info.addr;
	count = info.fc == 23 ? info.wqty : info.qty;
	r = snprintf(line, sizeof(line), "fc=%u unit=%u addr=%u count=%u values=",
		     info.fc, unit, addr, count);
	if (r < 0)
		return;
	pos = (size_t)r;

	switch (info.fc) {
	case 5:
		if (len >= 5) {
			unsigned int v = (unsigned int)((pdu[3] << 8) | pdu[4]);

			append_value(line, sizeof(line), &pos, &first,
				     v == 0xFF00 ? 1 : v);
		}
		break;
	case 6:
		if (len >= 5)
			append_value(line, sizeof(line), &pos, &first,
				     (unsigned int)((pdu[3] << 8) | pdu[4]));
		break;
	case 22:
		for (i = 3; i + 1 < len && i <= 5; i += 2)
			append_value(line, sizeof(line), &pos, &first,
				     (unsigned int)((pdu[i] << 8) | pdu[i + 1]));
		break;
	case 15:
		for (i = 0; i < count && 6 + i / 8 < len; i++)
			append_value(line, sizeof(line), &pos, &first,
				     (pdu[6 + i / 8] >> (i % 8)) & 1);
		break;
	case 16:
	case 23:
		first_byte = info.fc == 16 ? 6 : 10;
		for (i = 0; i < count && first_byte + 2 * i + 1 < len; i++)
			append_value(line, sizeof(line), &pos, &first,
				     (unsigned int)((pdu[first_byte + 2 * i] << 8) |
						    pdu[first_byte + 2 * i + 1]));
		break;
	default:
		break;
	}
	if (pos < sizeof(line)) {
		r = snprintf(line + pos, sizeof(line) - pos,
			     " peer=%s result=%s\n", peer, result);
		if (r > 0)
			pos += (size_t)r;
	}
	if (pos >= sizeof(line)) {
		pos = sizeof(line);
		line[pos - 1] = '\n';
	}
	write_all(fd, line, pos);
}
