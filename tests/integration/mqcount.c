/*
 * mqcount: a small libmosquitto program for tests/integration/mqttd.sh
 * (a test client, never linked into zonegated).
 *
 *   mqcount HOST PORT CAFILE SUBCERT SUBKEY SUBID PUBCERT PUBKEY PUBID
 *           TOPIC COUNT [SLOW_EVERY]
 *
 * A subscriber (MQTT 3.1.1, QoS 1, keepalive 60 s) subscribes to TOPIC;
 * a publisher then sends COUNT QoS 1 messages of 100 bytes, each carrying
 * its sequence number.  The subscriber counts every sequence number once
 * and behaves like an application doing its own non-blocking I/O in the
 * message callback: a read from an empty non-blocking pipe, which leaves
 * errno at EAGAIN (libmosquitto then stops reading until its socket is
 * readable again), and every SLOW_EVERY messages (default 100) a pause of
 * a millisecond, so that the broker's queue for it fills up.
 *
 * Prints "received R of N (D duplicates)" and exits 0 when every message
 * arrived, 1 when some did not within 10 s without progress (the
 * keepalive is 60 s, so a message stuck in the subscriber is not freed by
 * a PINGRESP meanwhile), 2 on setup errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

static atomic_long distinct, duplicates;
static atomic_int subscribed, connected;
static unsigned char *seen;
static long total, slow_every = 100;
static int empty_pipe[2];

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	char buf[32], ch;
	long seq;
	size_t n;

	(void)m;
	(void)arg;
	n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, msg->payload, n);
	buf[n] = '\0';
	seq = strtol(buf, NULL, 10);
	if (seq >= 0 && seq < total) {
		if (seen[seq]++ == 0) {
			long d = atomic_fetch_add(&distinct, 1) + 1;

			if (slow_every > 0 && d % slow_every == 0)
				pause_ms(1);
		} else {
			atomic_fetch_add(&duplicates, 1);
		}
	}
	/* Non-blocking I/O of the application: EAGAIN. */
	if (read(empty_pipe[0], &ch, 1) < 0 && errno != EAGAIN)
		perror("mqcount: read");
}

static void
on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted)
{
	(void)m;
	(void)arg;
	(void)mid;
	atomic_store(&subscribed, n >= 1 && granted[0] == 1 ? 1 : -1);
}

static void
on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)m;
	(void)arg;
	if (rc == 0)
		atomic_fetch_add(&connected, 1);
	else
		fprintf(stderr, "mqcount: connect refused: %s\n",
			mosquitto_connack_string(rc));
}

static struct mosquitto *
client(const char *id, const char *host, int port, const char *ca,
       const char *cert, const char *key)
{
	struct mosquitto *m = mosquitto_new(id, true, NULL);

	if (m == NULL || mosquitto_tls_set(m, ca, NULL, cert, key, NULL) != 0) {
		fprintf(stderr, "mqcount: cannot set up client %s\n", id);
		exit(2);
	}
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_connect_callback_set(m, on_connect);
	if (mosquitto_connect(m, host, port, 60) != 0 ||
	    mosquitto_loop_start(m) != 0) {
		fprintf(stderr, "mqcount: cannot connect %s to %s:%d\n", id,
			host, port);
		exit(2);
	}
	return m;
}

static int
wait_for(atomic_int *v, int want)
{
	int i;

	for (i = 0; i < 4000 && atomic_load(v) < want; i++)
		pause_ms(5);
	return atomic_load(v) >= want ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct mosquitto *sub, *pub;
	char payload[100];
	long i, last = -1;
	double idle_since;
	int rc, port;

	if (argc < 12) {
		fprintf(stderr, "usage: mqcount HOST PORT CAFILE SUBCERT SUBKEY SUBID "
				"PUBCERT PUBKEY PUBID TOPIC COUNT [SLOW_EVERY]\n");
		return 2;
	}
	port = atoi(argv[2]);
	total = atol(argv[11]);
	if (argc > 12)
		slow_every = atol(argv[12]);
	if (total < 1 || (seen = calloc((size_t)total, 1)) == NULL)
		return 2;
	if (pipe(empty_pipe) < 0 || fcntl(empty_pipe[0], F_SETFL, O_NONBLOCK) < 0)
		return 2;
	mosquitto_lib_init();

	sub = client(argv[6], argv[1], port, argv[3], argv[4], argv[5]);
	mosquitto_message_callback_set(sub, on_message);
	mosquitto_subscribe_callback_set(sub, on_subscribe);
	if (wait_for(&connected, 1) < 0 ||
	    mosquitto_subscribe(sub, NULL, argv[10], 1) != 0 ||
	    wait_for(&subscribed, 1) < 0) {
		fprintf(stderr, "mqcount: subscription failed\n");
		return 2;
	}
	pub = client(argv[9], argv[1], port, argv[3], argv[7], argv[8]);
	if (wait_for(&connected, 2) < 0) {
		fprintf(stderr, "mqcount: publisher did not connect\n");
		return 2;
	}
	memset(payload, '.', sizeof(payload));
	for (i = 0; i < total; i++) {
		int n = snprintf(payload, sizeof(payload), "%ld", i);

		payload[n] = ' ';
		while ((rc = mosquitto_publish(pub, NULL, argv[10],
					       (int)sizeof(payload), payload, 1,
					       false)) == MOSQ_ERR_NOMEM)
			pause_ms(1);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "mqcount: publish: %s\n",
				mosquitto_strerror(rc));
			return 2;
		}
	}
	idle_since = now_s();
	while (atomic_load(&distinct) < total) {
		long r = atomic_load(&distinct);

		if (r != last) {
			last = r;
			idle_since = now_s();
		} else if (now_s() - idle_since > 10.0) {
			break;
		}
		pause_ms(5);
	}
	printf("received %ld of %ld (%ld duplicates)\n",
	       (long)atomic_load(&distinct), total,
	       (long)atomic_load(&duplicates));
	mosquitto_disconnect(pub);
	mosquitto_loop_stop(pub, false);
	mosquitto_destroy(pub);
	mosquitto_disconnect(sub);
	mosquitto_loop_stop(sub, false);
	mosquitto_destroy(sub);
	mosquitto_lib_cleanup();
	rc = atomic_load(&distinct) == total ? 0 : 1;
	free(seen);
	return rc;
}
