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
 *
 * Write-back (commands = { ... }): the plugin subscribes (QoS 2) to a
 * command topic filter on every connection.  libmosquitto's thread
 * copies each message into the same queue (bounded: CMD_QUEUE_MAX
 * waiting, larger ones counted and dropped); on the loop thread the
 * plugin hands it through the host (command_submit) to the handler
 * plugin ("modbus") as the configured cloud identity, which decides it
 * by policy, audits it and answers; the answer (it echoes the command's
 * "id") is published on the result topic with QoS 1.  No gateway work
 * happens on libmosquitto's thread.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
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
#define CMD_BODY_MAX 4096   /* a command larger than this is refused */
#define CMD_QUEUE_MAX 256   /* commands waiting for the loop thread */

enum { PROTO_AUTO = 0, PROTO_5 = 1, PROTO_311 = 2 };
static const char *const proto_names[] = { "auto", "5", "3.1.1", NULL };

enum { QE_CONNACK, QE_PUBACK, QE_DISCONNECT, QE_MESSAGE, QE_SUBACK };

struct qev {
	int kind;
	unsigned gen;
	int a, b; /* CONNACK: rc; PUBACK: mid, reason; DISCONNECT: rc;
		     MESSAGE: payload length (-1: too large), retained;
		     SUBACK: qos */
	char *topic;   /* MESSAGE: copies */
	char *payload;
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
	/* commands = { } */
	bool cmd_on;
	char cmd_topic[256], cmd_result[256];
	char cmd_identity[256], cmd_handler[64];
	int cmd_assurance;           /* enum zg_assurance */
	long long cmd_max;           /* commands at the handler at once */
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
	/* commands: queued by the thread (under mu), in flight at the handler */
	int cmd_queued;
	unsigned long long cmd_dropped; /* queue full (under mu) */
	unsigned long long cmd_dropped_said;
	int cmd_inflight;
	bool cmd_sub_refused_said;
	unsigned long long cmd_received, cmd_answered, cmd_results_lost;
};

static const char *const mq_keys[] = { "host", "port", "ca", "cert", "key",
	"tls_version", "verify_hostname", "topic", "client_id", "uplink",
	"keepalive", "max_inflight", "reconnect_min", "reconnect_max",
	"connect_timeout", "protocol", "commands", NULL };
static const char *const cmd_keys[] = { "topic", "result_topic", "identity",
	"assurance", "handler", "max_inflight", NULL };

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

/* A template with {gateway} as "g", for checks at load time. */
static void
expand_check(const char *t, char *out, size_t len)
{
	size_t o = 0;
	const char *p;

	for (p = t; *p != '\0' && o + 1 < len; p++) {
		if (strncmp(p, "{gateway}", 9) == 0) {
			out[o++] = 'g';
			p += 8;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/*
 * commands = { topic; result_topic; identity; assurance; handler;
 * max_inflight; }.  The command topic is a subscription filter (+ and #
 * allowed, as whole levels); the result topic a topic name that the
 * filter must not match (the gateway would read its own answers as
 * commands).  identity is required: commands are decided for it.
 */
static int
cmd_read_config(const struct zg_host_api *api, struct zg_host *h,
		const struct zg_cfg *cc, struct mq_conf *c)
{
	const char *as = "certificate";
	char a[300], b[300], *p;
	bool match = false;
	int rc = 0;

	if (cc == NULL)
		return 0;
	c->cmd_on = true;
	rc |= api->cfg_known_keys(h, cc, cmd_keys);
	rc |= copy_str(api, h, cc, "topic", "zonegate/{gateway}/cmd/#",
		       c->cmd_topic, sizeof(c->cmd_topic), false);
	rc |= copy_str(api, h, cc, "result_topic", "zonegate/{gateway}/cmd-result",
		       c->cmd_result, sizeof(c->cmd_result), false);
	rc |= copy_str(api, h, cc, "identity", NULL, c->cmd_identity,
		       sizeof(c->cmd_identity), true);
	rc |= copy_str(api, h, cc, "handler", "modbus", c->cmd_handler,
		       sizeof(c->cmd_handler), false);
	rc |= api->cfg_string(h, cc, "assurance", "certificate", &as);
	rc |= api->cfg_int(h, cc, "max_inflight", 16, 1, 256, &c->cmd_max);
	/* go on: every key's error is reported in one pass */
	if (as == NULL || strcmp(as, "certificate") == 0) {
		c->cmd_assurance = ZG_ASSURANCE_CERT;
	} else if (strcmp(as, "address") == 0) {
		c->cmd_assurance = ZG_ASSURANCE_ADDRESS;
	} else {
		api->cfg_error(h, cc, "assurance",
			       "\"%s\": \"certificate\" or \"address\"", as);
		rc = -1;
	}
	/* {gateway} is the only placeholder; braces otherwise refused */
	expand_check(c->cmd_topic, a, sizeof(a));
	if (strchr(a, '{') != NULL || strchr(a, '}') != NULL ||
	    mosquitto_sub_topic_check(a) != MOSQ_ERR_SUCCESS) {
		api->cfg_error(h, cc, "topic",
			       "\"%s\": an MQTT topic filter (+ and # as whole levels, # last); the only placeholder is {gateway}",
			       c->cmd_topic);
		rc = -1;
	}
	expand_check(c->cmd_result, b, sizeof(b));
	if (!template_ok(c->cmd_result, false) ||
	    mosquitto_pub_topic_check(b) != MOSQ_ERR_SUCCESS) {
		api->cfg_error(h, cc, "result_topic",
			       "\"%s\": an MQTT topic name (no + or #); the only placeholder is {gateway}",
			       c->cmd_result);
		rc = -1;
	} else if (rc == 0 &&
		   mosquitto_topic_matches_sub(a, b, &match) == MOSQ_ERR_SUCCESS &&
		   match) {
		api->cfg_error(h, cc, "result_topic",
			       "\"%s\" falls under the command topic \"%s\": the gateway would take its own answers for commands",
			       c->cmd_result, c->cmd_topic);
		rc = -1;
	}
	for (p = c->cmd_handler; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-'))
			break;
	if (*p != '\0' || c->cmd_handler[0] == '\0') {
		api->cfg_error(h, cc, "handler", "\"%s\": a plugin name",
			       c->cmd_handler);
		rc = -1;
	}
	if (api->size < offsetof(struct zg_host_api, command_done) +
				sizeof(api->command_done)) {
		api->cfg_error(h, cc, NULL,
			       "this zonegated cannot pass commands between plugins");
		rc = -1;
	}
	return rc;
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
	if (cmd_read_config(api, h, api->cfg_child(cfg, "commands"), c) < 0)
		rc = -1;
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

/*
 * A message on the command topic: copied into the queue for the loop
 * thread (bounded: past CMD_QUEUE_MAX waiting it is counted and
 * dropped; the loop logs the count).  Too large: queued without its
 * body so the loop can answer that it was refused.
 */
static void
on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
	   const mosquitto_property *props)
{
	struct mq_conn *cn = obj;
	struct mq_state *st = cn->st;
	struct qev *e;
	char one = 1;
	bool full;

	(void)m;
	(void)props;
	pthread_mutex_lock(&st->mu);
	full = st->cmd_queued >= CMD_QUEUE_MAX;
	if (full)
		st->cmd_dropped++;
	pthread_mutex_unlock(&st->mu);
	if (full)
		return;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return;
	e->kind = QE_MESSAGE;
	e->gen = cn->gen;
	e->b = msg->retain ? 1 : 0;
	e->topic = strdup(msg->topic ? msg->topic : "");
	if (msg->payloadlen > CMD_BODY_MAX) {
		e->a = -1;
	} else {
		e->a = msg->payloadlen;
		e->payload = malloc((size_t)msg->payloadlen + 1);
		if (e->payload != NULL && msg->payloadlen > 0)
			memcpy(e->payload, msg->payload, (size_t)msg->payloadlen);
	}
	if (e->topic == NULL || (e->a >= 0 && e->payload == NULL)) {
		free(e->topic);
		free(e->payload);
		free(e);
		return;
	}
	pthread_mutex_lock(&st->mu);
	st->cmd_queued++;
	*st->qtail = e;
	st->qtail = &e->next;
	pthread_mutex_unlock(&st->mu);
	if (write(st->pipe[1], &one, 1) < 0) {
		/* pipe full: the loop is already woken */
	}
}

static void
on_subscribe(struct mosquitto *m, void *obj, int mid, int qos_count,
	     const int *granted, const mosquitto_property *props)
{
	(void)m;
	(void)mid;
	(void)props;
	q_push(obj, QE_SUBACK, qos_count > 0 ? granted[0] : 0x80, 0);
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
	if (st->c.cmd_on) {
		mosquitto_message_v5_callback_set(st->mosq, on_message);
		mosquitto_subscribe_v5_callback_set(st->mosq, on_subscribe);
	}
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

/*
 * Publish a command's answer on the result topic, QoS 1.  Not spooled:
 * an answer while the broker is away is lost (counted and logged; the
 * audit trail has the outcome).  Its PUBACK matches no spooled message
 * and is ignored by handle().
 */
static void
cmd_publish(struct mq_state *st, const char *result, size_t len)
{
	char topic[MQ_TOPIC_MAX];
	int rc = MOSQ_ERR_NO_CONN;

	expand(st, st->c.cmd_result, "", NULL, topic, sizeof(topic));
	if (st->connected && st->mosq != NULL)
		rc = mosquitto_publish(st->mosq, NULL, topic, (int)len, result,
				       1, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		if (st->cmd_results_lost++ == 0 || st->cmd_results_lost % 100 == 0)
			st->api->log(st->h, ZG_LOG_WARN,
				     "command result not published on %s: %s (%llu lost so far)",
				     topic, mosquitto_strerror(rc),
				     st->cmd_results_lost);
		return;
	}
	st->cmd_answered++;
}

/* zg_command_result_cb: the handler's answer to one command. */
static void
cmd_result(void *arg, const char *result, size_t len)
{
	struct mq_state *st = arg;

	st->cmd_inflight--;
	cmd_publish(st, result, len);
}

/* A JSON answer the plugin gives itself (no handler, busy, too large). */
static void
cmd_refuse(struct mq_state *st, const char *reason)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "{\"result\":\"error\",\"reason\":\"%s\"}",
		     reason);
	if (n > 0 && (size_t)n < sizeof(buf))
		cmd_publish(st, buf, (size_t)n);
}

/*
 * One message from the command topic, on the loop thread: handed to the
 * handler plugin through the host as the cloud identity.  Messages of a
 * connection already torn down still count: they were delivered.
 */
static void
cmd_message(struct mq_state *st, const struct qev *e)
{
	struct zg_command cmd;
	unsigned long long dropped;
	char peer[300];

	pthread_mutex_lock(&st->mu);
	st->cmd_queued--;
	dropped = st->cmd_dropped;
	pthread_mutex_unlock(&st->mu);
	if (dropped > st->cmd_dropped_said) {
		st->api->log(st->h, ZG_LOG_WARN,
			     "%llu commands dropped: more than %d waiting",
			     dropped - st->cmd_dropped_said, CMD_QUEUE_MAX);
		st->cmd_dropped_said = dropped;
	}
	st->cmd_received++;
	st->api->log(st->h, ZG_LOG_DEBUG, "command on %s (%d bytes)",
		     e->topic, e->a);
	if (e->a < 0) {
		cmd_refuse(st, "command longer than 4096 bytes");
		return;
	}
	if (e->b) {
		/*
		 * A retained message comes again with every new subscription:
		 * taken as a command, it would write again after each reconnect.
		 */
		st->api->log(st->h, ZG_LOG_WARN,
			     "retained message on %s refused as a command (clear it on the broker: publish an empty retained message there)",
			     e->topic);
		cmd_refuse(st, "retained messages are not taken as commands");
		return;
	}
	if (st->cmd_inflight >= st->c.cmd_max) {
		cmd_refuse(st, "too many commands in flight");
		return;
	}
	snprintf(peer, sizeof(peer), "%s:%lld", st->c.host, st->c.port);
	memset(&cmd, 0, sizeof(cmd));
	cmd.identity = st->c.cmd_identity;
	cmd.assurance = st->c.cmd_assurance;
	cmd.peer = peer;
	cmd.body = e->payload;
	cmd.len = (size_t)e->a;
	st->cmd_inflight++;
	if (st->api->command_submit(st->h, st->c.cmd_handler, &cmd, cmd_result,
				    st) < 0) {
		char why[200];

		st->cmd_inflight--;
		snprintf(why, sizeof(why), "no plugin %s takes commands",
			 st->c.cmd_handler);
		st->api->log(st->h, ZG_LOG_WARN,
			     "command on %s refused: no plugin \"%s\" takes commands (its config needs commands = { northbound = true; })",
			     e->topic, st->c.cmd_handler);
		cmd_refuse(st, why);
	}
}

static void
handle(struct mq_state *st, const struct qev *e)
{
	char why[200];
	uint64_t seq = 0;
	bool found = false;
	unsigned i;

	if (e->gen != st->gen && e->kind != QE_MESSAGE)
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
		if (st->c.cmd_on) {
			char filter[MQ_TOPIC_MAX];
			int rc;

			/* a clean session: subscribe on every connection */
			expand(st, st->c.cmd_topic, "", NULL, filter,
			       sizeof(filter));
			/* QoS 2: exactly once for commands published so */
			rc = mosquitto_subscribe(st->mosq, NULL, filter, 2);
			if (rc != MOSQ_ERR_SUCCESS) {
				snprintf(why, sizeof(why),
					 "subscribe to %.100s: %s", filter,
					 mosquitto_strerror(rc));
				lost(st, why);
				return;
			}
		}
		st->api->uplink_up(st->up);
		break;
	case QE_SUBACK:
		if (e->a >= 0x80) {
			if (!st->cmd_sub_refused_said)
				st->api->log(st->h, ZG_LOG_ERR,
					     "broker refused the subscription to the command topic (reason 0x%02x): no commands will arrive; check the broker's ACL for this gateway",
					     e->a);
			st->cmd_sub_refused_said = true;
		} else {
			char filter[MQ_TOPIC_MAX];

			expand(st, st->c.cmd_topic, "", NULL, filter,
			       sizeof(filter));
			st->cmd_sub_refused_said = false;
			st->api->log(st->h, ZG_LOG_INFO,
				     "taking commands on %s as %s",
				     filter, st->c.cmd_identity);
		}
		break;
	case QE_MESSAGE:
		cmd_message(st, e);
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
		free(e->topic);
		free(e->payload);
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
		free(e->topic);
		free(e->payload);
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
	if (st->c.cmd_on)
		api->log(h, ZG_LOG_INFO,
			 "commands on \"%s\" go to plugin %s as identity %s; results on \"%s\"",
			 st->c.cmd_topic, st->c.cmd_handler, st->c.cmd_identity,
			 st->c.cmd_result);
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
	if (st->c.cmd_on)
		st->api->log(st->h, ZG_LOG_INFO,
			     "commands: %llu received, %llu answered, %llu results lost",
			     st->cmd_received, st->cmd_answered,
			     st->cmd_results_lost);
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
