/*
 * mbbench: closed-loop Modbus/TCP load for benchmarks.
 *
 *   mbbench PORT CONNECTIONS SECONDS [QTY] [CA CERT KEY]
 *
 * With CA CERT KEY every connection is Modbus/TCP Security: TLS with that
 * client certificate (handshakes are not timed, only requests).
 * Opens CONNECTIONS connections to 127.0.0.1:PORT, one thread each; every
 * thread sends "read holding registers 0..QTY-1" (unit 1), waits for the
 * answer, and repeats until SECONDS have passed.  Prints one line:
 *
 *   requests=N errors=E rps=R p50_us=A p90_us=B p99_us=C cpu_us=U
 *
 * Latency is measured per request with CLOCK_MONOTONIC; cpu_us is the CPU
 * time (user + system) this client spent per request, so that the
 * benchmark can show where a shared machine's CPU goes.  Only ever talks
 * to 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_SAMPLES (1 << 20)

static SSL_CTX *tls_ctx; /* NULL: plain Modbus/TCP */

struct worker {
	pthread_t th;
	int port;
	double seconds;
	int qty;
	long requests, errors;
	double t_begin, t_end; /* the closed loop, after connecting */
	uint32_t *lat_us; /* per-request latencies (bounded) */
	long nlat, cap;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
write_all(int fd, SSL *ssl, const uint8_t *buf, size_t n)
{
	if (ssl != NULL)
		return SSL_write(ssl, buf, (int)n) == (int)n ? 0 : -1;
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

static int
read_full(int fd, SSL *ssl, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = ssl != NULL ? SSL_read(ssl, buf + got, (int)(n - got))
					: read(fd, buf + got, n - got);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	struct sockaddr_in sa;
	uint8_t req[12], resp[260];
	double end, t0;
	uint16_t tid = 0;
	int fd, one = 1;
	SSL *ssl = NULL;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)w->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		w->errors++;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tls_ctx != NULL) {
		ssl = SSL_new(tls_ctx);
		if (ssl == NULL || !SSL_set_fd(ssl, fd) ||
		    !SSL_set_tlsext_host_name(ssl, "localhost") ||
		    SSL_connect(ssl) != 1) {
			w->errors++;
			if (ssl != NULL)
				SSL_free(ssl);
			close(fd);
			return NULL;
		}
	}
	w->t_begin = now_s();
	end = w->t_begin + w->seconds;
	while ((t0 = now_s()) < end) {
		size_t len;

		tid++;
		req[0] = (uint8_t)(tid >> 8);
		req[1] = (uint8_t)tid;
		req[2] = req[3] = 0;
		req[4] = 0;
		req[5] = 6;
		req[6] = 1;
		req[7] = 3;
		req[8] = req[9] = 0;
		req[10] = (uint8_t)(w->qty >> 8);
		req[11] = (uint8_t)w->qty;
		if (write_all(fd, ssl, req, sizeof(req)) < 0 ||
		    read_full(fd, ssl, resp, 7) < 0) {
			w->errors++;
			break;
		}
		len = (size_t)resp[4] << 8 | resp[5];
		if (len < 2 || len > 254 ||
		    read_full(fd, ssl, resp + 7, len - 1) < 0) {
			w->errors++;
			break;
		}
		if (resp[7] != 3 || resp[0] != req[0] || resp[1] != req[1])
			w->errors++;
		else
			w->requests++;
		if (w->nlat < w->cap)
			w->lat_us[w->nlat++] = (uint32_t)((now_s() - t0) * 1e6);
	}
	w->t_end = now_s();
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
	return NULL;
}

/* CPU time of this process (all threads), in seconds. */
static double
cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0.0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct worker *w;
	uint32_t *all;
	long total = 0, errors = 0, n = 0;
	double seconds, elapsed, c0, first = 0.0, last = 0.0;
	int conns, i;

	if (argc != 4 && argc != 5 && argc != 8) {
		fprintf(stderr, "usage: mbbench PORT CONNECTIONS SECONDS [QTY] [CA CERT KEY]\n");
		return 2;
	}
	if (argc == 8) {
		tls_ctx = SSL_CTX_new(TLS_client_method());
		if (tls_ctx == NULL ||
		    !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION) ||
		    SSL_CTX_load_verify_locations(tls_ctx, argv[5], NULL) != 1 ||
		    SSL_CTX_use_certificate_chain_file(tls_ctx, argv[6]) != 1 ||
		    SSL_CTX_use_PrivateKey_file(tls_ctx, argv[7], SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "mbbench: cannot set up TLS with %s %s %s\n",
				argv[5], argv[6], argv[7]);
			return 2;
		}
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
	}
	conns = atoi(argv[2]);
	seconds = atof(argv[3]);
	if (conns < 1 || conns > 1024 || seconds <= 0 || seconds > 600) {
		fprintf(stderr, "mbbench: 1..1024 connections, 0..600 seconds\n");
		return 2;
	}
	w = calloc((size_t)conns, sizeof(*w));
	if (w == NULL)
		return 1;
	c0 = cpu_s();
	for (i = 0; i < conns; i++) {
		w[i].port = atoi(argv[1]);
		w[i].seconds = seconds;
		w[i].qty = argc > 4 ? atoi(argv[4]) : 10;
		w[i].cap = MAX_SAMPLES / conns;
		w[i].lat_us = malloc((size_t)w[i].cap * sizeof(uint32_t));
		pthread_create(&w[i].th, NULL, run, &w[i]);
	}
	for (i = 0; i < conns; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].requests;
		errors += w[i].errors;
		n += w[i].nlat;
		if (w[i].t_end > 0.0) {
			if (first == 0.0 || w[i].t_begin < first)
				first = w[i].t_begin;
			if (w[i].t_end > last)
				last = w[i].t_end;
		}
	}
	/* Throughput over the window in which requests ran: connecting
	 * and TLS handshakes are not part of it. */
	elapsed = last > first ? last - first : 1.0;
	c0 = cpu_s() - c0;
	all = malloc((size_t)(n ? n : 1) * sizeof(*all));
	n = 0;
	for (i = 0; i < conns; i++) {
		memcpy(all + n, w[i].lat_us, (size_t)w[i].nlat * sizeof(*all));
		n += w[i].nlat;
		free(w[i].lat_us);
	}
	qsort(all, (size_t)n, sizeof(*all), cmp_u32);
	printf("requests=%ld errors=%ld rps=%.0f p50_us=%u p90_us=%u p99_us=%u cpu_us=%.1f\n",
	       total, errors, (double)total / elapsed,
	       n ? all[n / 2] : 0, n ? all[n * 9 / 10] : 0,
	       n ? all[n * 99 / 100] : 0, total ? c0 * 1e6 / (double)total : 0.0);
	free(all);
	free(w);
	if (tls_ctx != NULL)
		SSL_CTX_free(tls_ctx);
	return errors ? 1 : 0;
}
