/*
 * mqbench: MQTT load client for tests/bench/mqtt.sh (a test tool built
 * with libmosquitto; never linked into zonegated).
 *
 *   mqbench HOST PORT CAFILE PUBCERT PUBKEY SUBCERT SUBKEY SUBID TOPIC
 *           QOS PUBLISHERS MESSAGES [PAYLOAD_BYTES]
 *
 * One subscriber (SUBID, SUBCERT) subscribes to TOPIC; PUBLISHERS
 * connections (PUBCERT, client ids "<SUBID>-pub<i>") then publish MESSAGES
 * messages in all, as fast as the library takes them.  Prints one line:
 *
 *   received R of N in T s: X msg/s
 *
 * where T runs from the first publish to the last message received (or
 * to 5 s without progress).  Exit 0 when every message arrived.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

static atomic_long received;
static atomic_int subscribed, connected;
static struct timespec t_last;
static pthread_mutex_t t_lock = PTHREAD_MUTEX_INITIALIZER;

struct pubarg {
	struct mosquitto *m;
	const char *topic;
	int qos;
	long count;
	const char *payload;
	int plen;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	(void)m;
	(void)arg;
	(void)msg;
	atomic_fetch_add(&received, 1);
	pthread_mutex_lock(&t_lock);
	clock_gettime(CLOCK_MONOTONIC, &t_last);
	pthread_mutex_unlock(&t_lock);
}

static void
on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted)
{
	(void)m;
	(void)arg;
	(void)mid;
	if (n >= 1 && granted[0] <= 2)
		atomic_store(&subscribed, 1);
	else
		atomic_store(&subscribed, -1);
}

static void
on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)m;
	(void)arg;
	if (rc == 0)
		atomic_fetch_add(&connected, 1);
	else
		fprintf(stderr, "mqbench: connect refused: %s\n",
			mosquitto_connack_string(rc));
}

static struct mosquitto *
client(const char *id, const char *host, int port, const char *ca,
       const char *cert, const char *key)
{
	struct mosquitto *m = mosquitto_new(id, true, NULL);

	if (m == NULL || mosquitto_tls_set(m, ca, NULL, cert, key, NULL) != 0) {
		fprintf(stderr, "mqbench: cannot set up client %s\n", id);
		exit(2);
	}
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(m, 32);
	mosquitto_connect_callback_set(m, on_connect);
	if (mosquitto_connect(m, host, port, 60) != 0 ||
	    mosquitto_loop_start(m) != 0) {
		fprintf(stderr, "mqbench: cannot connect %s to %s:%d\n", id, host,
			port);
		exit(2);
	}
	return m;
}

static void *
publisher(void *arg)
{
	struct pubarg *p = arg;
	long i;

	for (i = 0; i < p->count; i++) {
		while (mosquitto_publish(p->m, NULL, p->topic, p->plen, p->payload,
					 p->qos, false) == MOSQ_ERR_NOMEM)
			pause_ms(1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *host, *ca, *pc, *pk, *sc, *sk, *sid, *topic;
	int port, qos, npub, plen = 100, i;
	long total, last = -1;
	struct mosquitto *sub, **pubs;
	struct pubarg *pa;
	pthread_t *th;
	char *payload, id[300];
	double t0, t1, idle_since;

	if (argc < 13) {
		fprintf(stderr, "usage: mqbench HOST PORT CAFILE PUBCERT PUBKEY SUBCERT "
				"SUBKEY SUBID TOPIC QOS PUBLISHERS MESSAGES [BYTES]\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	ca = argv[3];
	pc = argv[4];
	pk = argv[5];
	sc = argv[6];
	sk = argv[7];
	sid = argv[8];
	topic = argv[9];
	qos = atoi(argv[10]);
	npub = atoi(argv[11]);
	total = atol(argv[12]);
	if (argc > 13)
		plen = atoi(argv[13]);
	if (npub < 1 || total < npub || plen < 0 || qos < 0 || qos > 2)
		return 2;
	payload = malloc((size_t)plen + 1);
	memset(payload, 'p', (size_t)plen);
	mosquitto_lib_init();

	sub = client(sid, host, port, ca, sc, sk);
	mosquitto_message_callback_set(sub, on_message);
	mosquitto_subscribe_callback_set(sub, on_subscribe);
	for (i = 0; i < 2000 && atomic_load(&connected) < 1; i++)
		pause_ms(5);
	if (mosquitto_subscribe(sub, NULL, topic, qos) != 0)
		return 2;
	for (i = 0; i < 2000 && atomic_load(&subscribed) == 0; i++)
		pause_ms(5);
	if (atomic_load(&subscribed) != 1) {
		fprintf(stderr, "mqbench: subscription refused\n");
		return 2;
	}
	pubs = calloc((size_t)npub, sizeof(*pubs));
	pa = calloc((size_t)npub, sizeof(*pa));
	th = calloc((size_t)npub, sizeof(*th));
	for (i = 0; i < npub; i++) {
		snprintf(id, sizeof(id), "%s-pub%d", sid, i);
		pubs[i] = client(id, host, port, ca, pc, pk);
	}
	for (i = 0; i < 2000 && atomic_load(&connected) < npub + 1; i++)
		pause_ms(5);
	if (atomic_load(&connected) < npub + 1) {
		fprintf(stderr, "mqbench: publishers did not connect\n");
		return 2;
	}
	t0 = now_s();
	for (i = 0; i < npub; i++) {
		pa[i].m = pubs[i];
		pa[i].topic = topic;
		pa[i].qos = qos;
		pa[i].count = total / npub + (i < total % npub ? 1 : 0);
		pa[i].payload = payload;
		pa[i].plen = plen;
		pthread_create(&th[i], NULL, publisher, &pa[i]);
	}
	for (i = 0; i < npub; i++)
		pthread_join(th[i], NULL);
	idle_since = now_s();
	while (atomic_load(&received) < total) {
		long r = atomic_load(&received);

		if (r != last) {
			last = r;
			idle_since = now_s();
		} else if (now_s() - idle_since > 5.0) {
			break;
		}
		pause_ms(2);
	}
	pthread_mutex_lock(&t_lock);
	t1 = (double)t_last.tv_sec + (double)t_last.tv_nsec / 1e9;
	pthread_mutex_unlock(&t_lock);
	if (t1 < t0)
		t1 = t0;
	printf("received %ld of %ld in %.3f s: %.0f msg/s\n",
	       (long)atomic_load(&received), total, t1 - t0,
	       t1 > t0 ? (double)atomic_load(&received) / (t1 - t0) : 0.0);
	for (i = 0; i < npub; i++) {
		mosquitto_disconnect(pubs[i]);
		mosquitto_loop_stop(pubs[i], false);
		mosquitto_destroy(pubs[i]);
	}
	mosquitto_disconnect(sub);
	mosquitto_loop_stop(sub, false);
	mosquitto_destroy(sub);
	mosquitto_lib_cleanup();
	free(payload);
	free(pubs);
	free(pa);
	free(th);
	return atomic_load(&received) == total ? 0 : 1;
}
