/*
 * mqtt: the MQTT northbound uplink (docs/northbound.md).
 *
 * Takes spooled messages from the host (zg_host_api.uplink_*) and
 * publishes them with QoS 1 to one broker over mutual TLS; the broker's
 * PUBACK is the acknowledgement the host needs to let the spool forget
 * a message.  MQTT 5 is tried first (protocol = "auto") and 3.1.1 used
 * when the broker refuses it.
 *
 * Threading: libmosquitto runs its own network thread per connection
 * (mosquitto_loop_start), which sleeps in select() between packets: it
 * does not spin.  Its callbacks (CONNACK, PUBACK, disconnect) only
 * append a small record to a mutex-protected queue and write a byte to
 * a pipe; the host's event loop reads the pipe and does all the work
 * (uplink_up/ack/down) on the loop thread, as the plugin API requires.
 * mosquitto_publish() is called from the loop thread (libmosquitto
 * locks its queues for that).  Why not drive libmosquitto's socket from
 * libevent: in libmosquitto 2.0 a non-blocking connect finishes its TLS
 * handshake only inside mosquitto_loop()'s own select(), not through
 * mosquitto_loop_read/write, and keepalive/reconnect timing would have
 * to be re-implemented; its thread does both and is proven with
 * RTLD_DEEPBIND (DESIGN.md).
 *
 * Every connection is a fresh struct mosquitto: after a disconnect the
 * old one is stopped and destroyed (with whatever libmosquitto still
 * queued), the host resends from the last acknowledged sequence number,
 * and the plugin reconnects with exponential backoff.  So libmosquitto
 * never retransmits on its own and the order stays the spool's.
 *
 *   plugins = ( { name = "mqtt"; config = {
 *       host = "127.0.0.1"; port = 8883;
 *       ca = "/etc/zonegate/pki/ca.crt";
 *       cert = "/etc/zonegate/pki/gateway.crt";
 *       key = "/etc/zonegate/pki/gateway.key";
 *       topic = "zonegate/{gateway}/{topic}"; }; } );
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <mosquitto.h>

#include <zonegate/plugin.h>

#define MQ_VERSION "1.0.0"
#define MQ_TOPIC_MAX 512

enum { PROTO_AUTO = 0, PROTO_5 = 1, PROTO_311 = 2 };
static const char *const proto_names[] = { "auto", "5", "3.1.1", NULL };

enum { QE_CONNACK, QE_PUBACK, QE_DISCONNECT };

struct qev {
	int kind;
	unsigned gen;
	int a, b; /* CONNACK: rc; PUBACK: mid, reason; DISCONNECT: rc */
	struct qev *next;
};

struct mq_conf {
	char host[256];
	long long port;
	char ca[1024], cert[1024], key[1024];
	char tls_version[16];
	char topic[256];
	char client_id[128];
	char uplink[64];
	long long keepalive, max_inflight;
	double reconnect_min, reconnect_max, connect_timeout;
	int protocol;
	bool verify_hostname;
};

struct mq_state;

/* One connection attempt; userdata of its struct mosquitto. */
struct mq_conn {
	struct mq_state *st;
	unsigned gen;
};

struct mq_state {
	const struct zg_host_api *api;
	struct zg_host *h;
	struct mq_conf c;
	struct zg_uplink *up;
	struct mosquitto *mosq;
	struct mq_conn *conn;
	unsigned gen;
	bool connected;
	bool refused_send;        /* send() said -1 for a full window */
	int proto_now;            /* PROTO_5 or PROTO_311 in use */
	int attempts;             /* failed attempts since the last success */
	bool said_down;           /* the outage was logged */
	struct zg_timer *retry;
	struct zg_timer *ctimeout;
	/* in flight: (mid, seq) in publish order */
	int *mids;
	uint64_t *seqs;
	unsigned head, n;
	/* thread -> loop */
	pthread_mutex_t mu;
	struct qev *qhead, **qtail;
	int pipe[2];
	struct event *pev;
	/* counters */
	unsigned long long published, acked, connects, refused;
};

static const char *const mq_keys[] = { "host", "port", "ca", "cert", "key",
	"tls_version", "verify_hostname", "topic", "client_id", "uplink",
	"keepalive", "max_inflight", "reconnect_min", "reconnect_max",
	"connect_timeout", "protocol", NULL };

/* Placeholders allowed in a template: {gateway} {topic} {zone}. */
static bool
template_ok(const char *t, bool allow_topic)
{
	const char *p;

	for (p = t; *p != '\0'; p++) {
		if (*p == '+' || *p == '#')
			return false;
		if (*p == '{') {
			if (strncmp(p, "{gateway}", 9) == 0)
				p += 8;
			else if (allow_topic && strncmp(p, "{topic}", 7) == 0)
				p += 6;
			else if (allow_topic && strncmp(p, "{zone}", 6) == 0)
				p += 5;
			else
				return false;
		}
	}
	return t[0] != '\0';
}

/*
 * A string setting copied into out.  With `file', a relative name is
 * taken relative to the configuration file's directory, as the host's
 * own TLS settings are.
 */
static int
copy_str_f(const struct zg_host_api *api, struct zg_host *h,
	   const struct zg_cfg *cfg, const char *key, const char *def,
	   char *out, size_t outlen, bool required, bool file)
{
	const char *v, *cf, *slash;

	if (api->cfg_string(h, cfg, key, def, &v) < 0)
		return -1;
	if (v == NULL) {
		if (required) {
			api->cfg_error(h, cfg, key, "is required");
			return -1;
		}
		out[0] = '\0';
		return 0;
	}
	cf = file && v[0] != '/' ? api->cfg_file(cfg) : NULL;
	slash = cf ? strrchr(cf, '/') : NULL;
	if ((size_t)snprintf(out, outlen, "%.*s%s%s",
			     slash ? (int)(slash - cf) : 0, slash ? cf : "",
			     slash ? "/" : "", v) >= outlen) {
		api->cfg_error(h, cfg, key, "longer than %zu characters",
			       outlen - 1);
		return -1;
	}
	return 0;
}

static int
copy_str(const struct zg_host_api *api, struct zg_host *h,
	 const struct zg_cfg *cfg, const char *key, const char *def,
	 char *out, size_t outlen, bool required)
{
	return copy_str_f(api, h, cfg, key, def, out, outlen, required, false);
}

static int
mq_read_config(const struct zg_host_api *api, struct zg_host *h,
	       const struct zg_cfg *cfg, struct mq_conf *c)
{
	const char *proto;
	int rc = 0, i;

	memset(c, 0, sizeof(*c));
	if (cfg == NULL) {
		api->cfg_error(h, cfg, NULL,
			       "the mqtt plugin needs a config { host; ca; cert; key; } group");
		return -1;
	}
	rc |= api->cfg_known_keys(h, cfg, mq_keys);
	rc |= copy_str(api, h, cfg, "host", NULL, c->host, sizeof(c->host), true);
	rc |= api->cfg_int(h, cfg, "port", 8883, 1, 65535, &c->port);
	rc |= copy_str_f(api, h, cfg, "ca", NULL, c->ca, sizeof(c->ca), true,
			 true);
	rc |= copy_str_f(api, h, cfg, "cert", NULL, c->cert, sizeof(c->cert),
			 true, true);
	rc |= copy_str_f(api, h, cfg, "key", NULL, c->key, sizeof(c->key), true,
			 true);
	rc |= copy_str(api, h, cfg, "tls_version", "tlsv1.2", c->tls_version,
		       sizeof(c->tls_version), false);
	rc |= api->cfg_bool(h, cfg, "verify_hostname", true, &c->verify_hostname);
	rc |= copy_str(api, h, cfg, "topic", "zonegate/{gateway}/{topic}",
		       c->topic, sizeof(c->topic), false);
	rc |= copy_str(api, h, cfg, "client_id", "zonegate-{gateway}",
		       c->client_id, sizeof(c->client_id), false);
	rc |= copy_str(api, h, cfg, "uplink", "main", c->uplink,
		       sizeof(c->uplink), false);
	rc |= api->cfg_int(h, cfg, "keepalive", 30, 5, 3600, &c->keepalive);
	rc |= api->cfg_int(h, cfg, "max_inflight", 64, 1, 1024,
			   &c->max_inflight);
	rc |= api->cfg_double(h, cfg, "reconnect_min", 0.5, 0.01, 60.0,
			      &c->reconnect_min);
	rc |= api->cfg_double(h, cfg, "reconnect_max", 30.0, 0.01, 3600.0,
			      &c->reconnect_max);
	rc |= api->cfg_double(h, cfg, "connect_timeout", 5.0, 0.1, 300.0,
			      &c->connect_timeout);
	rc |= api->cfg_string(h, cfg, "protocol", "auto", &proto);
	if (rc != 0)
		return -1;
	c->protocol = -1;
	for (i = 0; proto_names[i] != NULL; i++)
		if (strcmp(proto, proto_names[i]) == 0)
			c->protocol = i;
	if (c->protocol < 0) {
		api->cfg_error(h, cfg, "protocol",
			       "\"%s\": one of \"auto\", \"5\", \"3.1.1\"", proto);
		rc = -1;
	}
	if (strcmp(c->tls_version, "tlsv1.2") != 0 &&
	    strcmp(c->tls_version, "tlsv1.3") != 0) {
		api->cfg_error(h, cfg, "tls_version",
			       "\"%s\": \"tlsv1.2\" or \"tlsv1.3\" (the minimum)",
			       c->tls_version);
		rc = -1;
	}
	if (!template_ok(c->topic, true)) {
		api->cfg_error(h, cfg, "topic",
			       "\"%s\": placeholders are {gateway} {topic} {zone}; no + or #",
			       c->topic);
		rc = -1;
	}
	if (!template_ok(c->client_id, false)) {
		api->cfg_error(h, cfg, "client_id",
			       "\"%s\": the only placeholder is {gateway}",
			       c->client_id);
		rc = -1;
	}
	if (c->reconnect_max < c->reconnect_min) {
		api->cfg_error(h, cfg, "reconnect_max",
			       "must not be below reconnect_min");
		rc = -1;
	}
	for (i = 0; i < 3 && rc == 0; i++) {
		const char *f = i == 0 ? c->ca : i == 1 ? c->cert : c->key;

		if (access(f, R_OK) < 0) {
			api->cfg_error(h, cfg, i == 0 ? "ca" : i == 1 ? "cert" : "key",
				       "%s: %s", f, strerror(errno));
			rc = -1;
		}
	}
	return rc;
}

static int
mq_check(const struct zg_host_api *api, struct zg_host *h,
	 const struct zg_cfg *cfg)
{
	struct mq_conf c;

	return mq_read_config(api, h, cfg, &c);
}

/* Expand a template into out; wildcards from the values become '_'. */
static void
expand(const struct mq_state *st, const char *t, const char *topic,
       const char *zone, char *out, size_t len)
{
	const char *gw = st->api->gateway_id(st->h);
	size_t o = 0;
	const char *p, *v;

	for (p = t; *p != '\0' && o + 1 < len; p++) {
		v = NULL;
		if (strncmp(p, "{gateway}", 9) == 0) {
			v = gw;
			p += 8;
		} else if (strncmp(p, "{topic}", 7) == 0) {
			v = topic;
			p += 6;
		} else if (strncmp(p, "{zone}", 6) == 0) {
			v = zone ? zone : "none";
			p += 5;
		}
		if (v == NULL) {
			out[o++] = *p;
			continue;
		}
		for (; *v != '\0' && o + 1 < len; v++)
			out[o++] = (*v == '+' || *v == '#') ? '_' : *v;
	}
	out[o] = '\0';
}

/* ---- thread side: only queue and wake */

static void
q_push(struct mq_conn *cn, int kind, int a, int b)
{
	struct mq_state *st = cn->st;
	struct qev *e = calloc(1, sizeof(*e));
	char one = 1;

	if (e == NULL)
		return; /* a lost PUBACK only means a resend */
	e->kind = kind;
	e->gen = cn->gen;
	e->a = a;
	e->b = b;
	pthread_mutex_lock(&st->mu);
	*st->qtail = e;
	st->qtail = &e->next;
	pthread_mutex_unlock(&st->mu);
	if (write(st->pipe[1], &one, 1) < 0) {
		/* pipe full: the loop is already woken */
	}
}

static void
on_connect(struct mosquitto *m, void *obj, int rc, int flags,
	   const mosquitto_property *props)
{
	(void)m;
	(void)flags;
	(void)props;
	q_push(obj, QE_CONNACK, rc, 0);
}

static void
on_publish(struct mosquitto *m, void *obj, int mid, int reason,
	   const mosquitto_property *props)
{
	(void)m;
	(void)props;
	q_push(obj, QE_PUBACK, mid, reason);
}

static void
on_disconnect(struct mosquitto *m, void *obj, int rc,
	      const mosquitto_property *props)
{
	(void)m;
	(void)props;
	q_push(obj, QE_DISCONNECT, rc, 0);
}

/* ---- loop side */

/* Stop and destroy the current connection (its thread first). */
static void
teardown(struct mq_state *st)
{
	st->gen++;
	st->connected = false;
	st->refused_send = false;
	st->n = 0;
	st->head = 0;
	st->api->timer_stop(st->ctimeout);
	if (st->mosq != NULL) {
		mosquitto_disconnect(st->mosq);
		mosquitto_loop_stop(st->mosq, true);
		mosquitto_destroy(st->mosq);
		st->mosq = NULL;
	}
	free(st->conn);
	st->conn = NULL;
}

static void
schedule_retry(struct mq_state *st)
{
	double d = st->c.reconnect_min;
	int i;

	for (i = 0; i < st->attempts && d < st->c.reconnect_max; i++)
		d *= 2;
	if (d > st->c.reconnect_max)
		d = st->c.reconnect_max;
	/* +-20% so that many gateways do not reconnect in step */
	d *= 0.8 + 0.4 * ((double)(random() % 1000) / 1000.0);
	st->attempts++;
	st->api->timer_start(st->retry, d, false);
}

/* The connection is gone (or never came): tell the host, try again. */
static void
lost(struct mq_state *st, const char *why)
{
	/* also while down: the operator sees why the last attempt failed */
	st->api->uplink_down(st->up, why);
	if (!st->said_down) {
		st->api->log(st->h, ZG_LOG_WARN,
			     "broker %s:%lld: %s; reconnecting with backoff (%.1fs .. %.1fs)",
			     st->c.host, st->c.port, why, st->c.reconnect_min,
			     st->c.reconnect_max);
		st->said_down = true;
	}
	teardown(st);
	schedule_retry(st);
}

static void
connect_now(void *arg)
{
	struct mq_state *st = arg;
	char cid[256];
	int rc;

	teardown(st);
	st->conn = calloc(1, sizeof(*st->conn));
	if (st->conn == NULL) {
		schedule_retry(st);
		return;
	}
	st->conn->st = st;
	st->conn->gen = st->gen;
	expand(st, st->c.client_id, "", NULL, cid, sizeof(cid));
	st->mosq = mosquitto_new(cid, true, st->conn);
	if (st->mosq == NULL) {
		lost(st, "cannot create a libmosquitto client");
		return;
	}
	mosquitto_int_option(st->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     st->proto_now == PROTO_5 ? MQTT_PROTOCOL_V5
						      : MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(st->mosq,
					    (unsigned)st->c.max_inflight);
	/*
	 * libmosquitto's own reconnect stays out of the way: after a lost
	 * connection we tear this client down and start a fresh one.  Its
	 * thread reports nothing about a refused or failed connect, so an
	 * attempt without CONNACK is abandoned after connect_timeout.
	 */
	mosquitto_reconnect_delay_set(st->mosq, 3600, 3600, false);
	mosquitto_connect_v5_callback_set(st->mosq, on_connect);
	mosquitto_publish_v5_callback_set(st->mosq, on_publish);
	mosquitto_disconnect_v5_callback_set(st->mosq, on_disconnect);
	rc = mosquitto_tls_set(st->mosq, st->c.ca, NULL, st->c.cert, st->c.key,
			       NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_opts_set(st->mosq, 1, st->c.tls_version, NULL);
	if (rc == MOSQ_ERR_SUCCESS && !st->c.verify_hostname)
		rc = mosquitto_tls_insecure_set(st->mosq, true);
	if (rc != MOSQ_ERR_SUCCESS) {
		char why[200];

		snprintf(why, sizeof(why), "TLS settings refused: %s",
			 mosquitto_strerror(rc));
		lost(st, why);
		return;
	}
	rc = mosquitto_connect_bind_async(st->mosq, st->c.host, (int)st->c.port,
					  (int)st->c.keepalive, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		char why[200];

		snprintf(why, sizeof(why), "connect: %s",
			 rc == MOSQ_ERR_ERRNO ? strerror(errno)
					      : mosquitto_strerror(rc));
		lost(st, why);
		return;
	}
	rc = mosquitto_loop_start(st->mosq);
	if (rc != MOSQ_ERR_SUCCESS) {
		lost(st, "cannot start the libmosquitto thread");
		return;
	}
	st->api->timer_start(st->ctimeout, st->c.connect_timeout, false);
}

static void
connect_timed_out(void *arg)
{
	struct mq_state *st = arg;

	if (!st->connected)
		lost(st, "no CONNACK within connect_timeout");
}

static void
handle(struct mq_state *st, const struct qev *e)
{
	char why[200];
	uint64_t seq = 0;
	bool found = false;
	unsigned i;

	if (e->gen != st->gen)
		return; /* from a connection already torn down */
	switch (e->kind) {
	case QE_CONNACK:
		st->api->timer_stop(st->ctimeout);
		if (e->a != 0) {
			st->refused++;
			if (st->c.protocol == PROTO_AUTO &&
			    st->proto_now == PROTO_5 &&
			    (e->a == 1 || e->a == 132)) {
				st->api->log(st->h, ZG_LOG_INFO,
					     "broker does not speak MQTT 5: using 3.1.1");
				st->proto_now = PROTO_311;
				st->attempts = 0;
			}
			snprintf(why, sizeof(why), "broker refused the connection: %s",
				 st->proto_now == PROTO_5 ? mosquitto_reason_string(e->a)
							  : mosquitto_connack_string(e->a));
			lost(st, why);
			return;
		}
		st->connected = true;
		st->connects++;
		st->attempts = 0;
		st->api->log(st->h, ZG_LOG_INFO,
			     "connected to %s:%lld (MQTT %s, TLS, QoS 1)",
			     st->c.host, st->c.port,
			     st->proto_now == PROTO_5 ? "5" : "3.1.1");
		st->said_down = false;
		st->api->uplink_up(st->up);
		break;
	case QE_PUBACK:
		for (i = 0; i < st->n; i++) {
			unsigned k = (st->head + i) % (unsigned)st->c.max_inflight;

			if (st->mids[k] != e->a)
				continue;
			if (e->b >= 0x80) {
				snprintf(why, sizeof(why),
					 "broker refused seq %llu: %s",
					 (unsigned long long)st->seqs[k],
					 mosquitto_reason_string(e->b));
				lost(st, why);
				return;
			}
			st->acked++;
			st->mids[k] = -1;
			seq = st->seqs[k];
			found = true;
			break;
		}
		/* Free the window before the host feeds us again. */
		while (st->n > 0 && st->mids[st->head] == -1) {
			st->head = (st->head + 1) % (unsigned)st->c.max_inflight;
			st->n--;
		}
		if (found)
			st->api->uplink_ack(st->up, seq);
		if (st->refused_send && st->connected &&
		    st->n < (unsigned)st->c.max_inflight) {
			st->refused_send = false;
			st->api->uplink_ready(st->up);
		}
		break;
	case QE_DISCONNECT:
		snprintf(why, sizeof(why), "connection lost (%s)",
			 mosquitto_strerror(e->a));
		lost(st, why);
		break;
	}
}

static void
on_pipe(evutil_socket_t fd, short what, void *arg)
{
	struct mq_state *st = arg;
	struct qev *list, *e;
	char buf[256];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&st->mu);
	list = st->qhead;
	st->qhead = NULL;
	st->qtail = &st->qhead;
	pthread_mutex_unlock(&st->mu);
	while ((e = list) != NULL) {
		list = e->next;
		handle(st, e);
		free(e);
	}
}

/* zg_uplink_ops.send: publish one spooled message with QoS 1. */
static int
mq_send(void *arg, const struct zg_msg *m)
{
	struct mq_state *st = arg;
	char topic[MQ_TOPIC_MAX];
	unsigned k;
	int mid = 0, rc;

	if (!st->connected)
		return -1;
	if (st->n >= (unsigned)st->c.max_inflight) {
		st->refused_send = true; /* uplink_ready() once a PUBACK frees room */
		return -1;
	}
	expand(st, st->c.topic, m->topic, m->zone, topic, sizeof(topic));
	rc = mosquitto_publish(st->mosq, &mid, topic, (int)m->len, m->payload,
			       1, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		char why[200];

		snprintf(why, sizeof(why), "publish: %s", mosquitto_strerror(rc));
		lost(st, why);
		return -1;
	}
	k = (st->head + st->n) % (unsigned)st->c.max_inflight;
	st->mids[k] = mid;
	st->seqs[k] = m->seq;
	st->n++;
	st->published++;
	return 0;
}

static const struct zg_uplink_ops mq_ops = { .send = mq_send };

static void
mq_free(struct mq_state *st)
{
	struct qev *e;

	teardown(st);
	if (st->up != NULL)
		st->api->uplink_free(st->up);
	if (st->retry != NULL)
		st->api->timer_free(st->retry);
	if (st->ctimeout != NULL)
		st->api->timer_free(st->ctimeout);
	if (st->pev != NULL)
		event_free(st->pev);
	if (st->pipe[0] >= 0)
		close(st->pipe[0]);
	if (st->pipe[1] >= 0)
		close(st->pipe[1]);
	while ((e = st->qhead) != NULL) {
		st->qhead = e->next;
		free(e);
	}
	pthread_mutex_destroy(&st->mu);
	free(st->mids);
	free(st->seqs);
	free(st);
	mosquitto_lib_cleanup();
}

static int
mq_init(const struct zg_host_api *api, struct zg_host *h,
	const struct zg_cfg *cfg, void **state)
{
	struct mq_state *st;

	if (api->abi_version != ZG_PLUGIN_ABI_VERSION ||
	    api->size < sizeof(struct zg_host_api))
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->pipe[0] = st->pipe[1] = -1;
	st->api = api;
	st->h = h;
	pthread_mutex_init(&st->mu, NULL);
	st->qtail = &st->qhead;
	mosquitto_lib_init();
	if (mq_read_config(api, h, cfg, &st->c) < 0)
		goto fail;
	st->proto_now = st->c.protocol == PROTO_311 ? PROTO_311 : PROTO_5;
	st->mids = calloc((size_t)st->c.max_inflight, sizeof(*st->mids));
	st->seqs = calloc((size_t)st->c.max_inflight, sizeof(*st->seqs));
	if (st->mids == NULL || st->seqs == NULL ||
	    pipe2(st->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		goto fail;
	st->pev = event_new(api->event_base(h), st->pipe[0], EV_READ | EV_PERSIST,
			    on_pipe, st);
	st->retry = api->timer_new(h, connect_now, st);
	st->ctimeout = api->timer_new(h, connect_timed_out, st);
	if (st->pev == NULL || event_add(st->pev, NULL) < 0 ||
	    st->retry == NULL || st->ctimeout == NULL)
		goto fail;
	st->up = api->uplink_new(h, st->c.uplink, &mq_ops, st,
				 (unsigned)st->c.max_inflight);
	if (st->up == NULL)
		goto fail;
	{
		char target[300];

		snprintf(target, sizeof(target), "%s:%lld", st->c.host,
			 st->c.port);
		api->uplink_target(st->up, target);
	}
	api->log(h, ZG_LOG_INFO, "uplink to %s:%lld, topic \"%s\", MQTT %s",
		 st->c.host, st->c.port, st->c.topic,
		 proto_names[st->c.protocol]);
	connect_now(st);
	*state = st;
	return 0;
fail:
	mq_free(st);
	return -1;
}

/* Shutdown: give PUBACKs in flight a chance to arrive (fewer resends). */
static int
mq_drain(void *state)
{
	struct mq_state *st = state;

	return st->connected ? (int)st->n : 0;
}

static void
mq_fini(void *state)
{
	struct mq_state *st = state;

	st->api->log(st->h, ZG_LOG_INFO,
		     "%llu published, %llu acknowledged, %llu connections",
		     st->published, st->acked, st->connects);
	mq_free(st);
}

static const char *const mq_protocols[] = { "mqtt-uplink", NULL };

static const struct zg_plugin mq_plugin = {
	.abi_version = ZG_PLUGIN_ABI_VERSION,
	.name = "mqtt",
	.version = MQ_VERSION,
	.protocols = mq_protocols,
	.check = mq_check,
	.init = mq_init,
	.drain = mq_drain,
	.fini = mq_fini,
};

ZG_PLUGIN_DECLARE(mq_plugin);
