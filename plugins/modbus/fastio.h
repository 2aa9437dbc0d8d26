/*
 * fastio: write small messages to a socket bufferevent without a trip
 * around the event loop.
 *
 * bufferevent_write() only queues: the socket is written on the next loop
 * iteration after an epoll_ctl to arm the write event (and another to
 * disarm it).  For a request/response proxy that is two extra system calls
 * and one loop iteration per message, which dominated the added latency.
 * When nothing is queued we send() at once; whatever the kernel does not
 * take goes into the bufferevent, which keeps the order and the
 * back-pressure.  Only for plain socket bufferevents (not TLS pairs).
 */
#ifndef ZG_MB_FASTIO_H
#define ZG_MB_FASTIO_H

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

static inline void
fast_write(struct bufferevent *bev, const void *data, size_t len)
{
	const char *p = data;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		ssize_t n = send(bufferevent_getfd(bev), p, len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == (ssize_t)len)
			return;
		/* Errors other than "would block" surface through the
		 * bufferevent on its next write attempt. */
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	bufferevent_write(bev, p, len);
}

#endif /* ZG_MB_FASTIO_H */
