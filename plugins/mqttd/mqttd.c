/*
 * mqttd.c: the mqttd plugin (southbound MQTT broker): configuration and
 * life cycle.
 *
 *   plugins = ( { name = "mqttd"; config = {
 *     broker = "mqtt-broker";        # policy device: target of decisions
 *     listeners = (
 *       { listen = "127.0.0.1:8883";
 *         tls = { cert = "server.crt"; key = "server.key"; ca = "ca.crt"; }; },
 *       { listen = "127.0.0.1:1883"; plain = true; }   # legacy devices
 *     );
 *     client_id = "%u";
 *     northbound = { device = "uplink"; prefix = "mqtt/"; };
 *   }; } );
 *
 * Every key is documented in docs/mqtt.md.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gateway/netaddr.h"
#include "plugins/mqttd/mqttd.h"

#define MQD_VERSION "0.1.0"
#define MQD_MAX_LISTENERS 64

static const char *const top_keys[] = { "broker", "listeners", "client_id",
	"max_packet_size", "max_inflight", "max_queued", "queue_drop",
	"max_connections_per_identity", "connect_timeout",
	"session_expiry_max", "topic_alias_max", "max_retained",
	"disconnect_on_denial", "northbound", NULL };
static const char *const lst_keys[] = { "listen", "tls", "plain",
	"max_connections_per_source", NULL };
static const char *const nb_keys[] = { "device", "prefix", NULL };

static int
check_pattern(const char *p)
{
	int stars = 0;

	if (p[0] == '\0' || strlen(p) >= MQD_ID_MAX)
		return -1;
	for (; *p != '\0'; p++) {
		if (*p == '*')
			stars++;
		if (*p == '%') {
			if (p[1] != 'u' && p[1] != '%')
				return -1;
			p++;
		}
	}
	return stars <= 4 ? 0 : -1;
}

static int
read_listeners(const struct zg_host_api *api, struct zg_host *h,
	       const struct zg_cfg *list, struct mqd_state *st)
{
	int n = api->cfg_count(list), i, rc = 0;

	if (n > MQD_MAX_LISTENERS) {
		api->cfg_error(h, list, NULL, "at most %d listeners",
			       MQD_MAX_LISTENERS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		const struct zg_cfg *c = api->cfg_elem(list, i);
		const struct zg_cfg *tls = api->cfg_child(c, "tls");
		struct mqd_listener *l;
		struct sockaddr_storage ss;
		socklen_t sl;
		const char *addr;
		char err[128];
		long long mcs;
		bool plain;
		int r = 0;

		r |= api->cfg_known_keys(h, c, lst_keys);
		r |= api->cfg_string(h, c, "listen", NULL, &addr);
		r |= api->cfg_bool(h, c, "plain", false, &plain);
		r |= api->cfg_int(h, c, "max_connections_per_source", 256, 1,
				  1000000, &mcs);
		if (r != 0) {
			rc = -1;
			continue;
		}
		if (addr == NULL || strlen(addr) >= sizeof(l->addr) ||
		    netaddr_parse(addr, &ss, &sl, err, sizeof(err)) < 0) {
			api->cfg_error(h, c, "listen",
				       "required: numeric \"ip:port\" or \"[ipv6]:port\"");
			rc = -1;
			continue;
		}
		if ((tls == NULL) == !plain) {
			api->cfg_error(h, c, tls ? "plain" : "tls",
				       "a listener has exactly one of tls = { cert = ...; key = ...; ca = ...; } "
				       "(mutual TLS, recommended) or plain = true (legacy devices identified by source address)");
			rc = -1;
			continue;
		}
		l = calloc(1, sizeof(*l));
		if (l == NULL)
			return -1;
		l->st = st;
		snprintf(l->addr, sizeof(l->addr), "%s", addr);
		l->max_conns_per_source = (int)mcs;
		l->next = st->listeners;
		st->listeners = l;
		if (tls != NULL) {
			l->tls = api->tls_server_ctx(h, tls);
			if (l->tls == NULL)
				rc = -1;
		}
	}
	return rc;
}

/* Fill st from cfg (the plugin's `config' group).  0 or -1. */
static int
mqd_config_read(const struct zg_host_api *api, struct zg_host *h,
		const struct zg_cfg *cfg, struct mqd_state *st)
{
	const struct zg_cfg *lsts, *nb;
	const char *broker, *pat, *drop;
	long long mp, mi, mq, mci, sem, tam, mr;
	double ct;
	bool dod;
	int r = 0;

	st->api = api;
	st->h = h;
	if (cfg == NULL) {
		api->cfg_error(h, cfg, NULL,
			       "the mqttd plugin needs config = { broker = \"...\"; listeners = (...); }");
		return -1;
	}
	r |= api->cfg_known_keys(h, cfg, top_keys);
	r |= api->cfg_string(h, cfg, "broker", NULL, &broker);
	r |= api->cfg_string(h, cfg, "client_id", "%u", &pat);
	r |= api->cfg_int(h, cfg, "max_packet_size", 262144, 64, MQ_REMLEN_MAX,
			  &mp);
	r |= api->cfg_int(h, cfg, "max_inflight", 32, 1, 65535, &mi);
	r |= api->cfg_int(h, cfg, "max_queued", 1000, 1, 1000000, &mq);
	r |= api->cfg_string(h, cfg, "queue_drop", "oldest", &drop);
	r |= api->cfg_int(h, cfg, "max_connections_per_identity", 4, 1, 100000,
			  &mci);
	r |= api->cfg_double(h, cfg, "connect_timeout", 10.0, 0.1, 3600.0, &ct);
	r |= api->cfg_int(h, cfg, "session_expiry_max", 3600, 0, 4294967295LL,
			  &sem);
	r |= api->cfg_int(h, cfg, "topic_alias_max", 16, 0, 1024, &tam);
	r |= api->cfg_int(h, cfg, "max_retained", 10000, 0, 10000000, &mr);
	r |= api->cfg_bool(h, cfg, "disconnect_on_denial", false, &dod);
	if (r != 0)
		return -1;
	if (broker == NULL || broker[0] == '\0' || strlen(broker) >= MQD_ID_MAX) {
		api->cfg_error(h, cfg, "broker",
			       "required: the policy device identity that stands for this broker "
			       "(conduits to it carry the mqtt publish/subscribe rules)");
		r = -1;
	} else {
		snprintf(st->broker, sizeof(st->broker), "%s", broker);
	}
	if (check_pattern(pat) < 0) {
		api->cfg_error(h, cfg, "client_id",
			       "\"%s\": a pattern of literal text, %%u (the identity), * (anything), %%%% (a %%), "
			       "at most 4 *", pat);
		r = -1;
	} else {
		snprintf(st->client_id_pattern, sizeof(st->client_id_pattern),
			 "%s", pat);
	}
	if (strcmp(drop, "oldest") == 0) {
		st->drop = MQD_DROP_OLDEST;
	} else if (strcmp(drop, "newest") == 0) {
		st->drop = MQD_DROP_NEWEST;
	} else {
		api->cfg_error(h, cfg, "queue_drop",
			       "\"%s\" is not \"oldest\" or \"newest\"", drop);
		r = -1;
	}
	st->max_packet = (uint32_t)mp;
	st->max_inflight = (int)mi;
	st->max_queued = (int)mq;
	st->max_conns_per_identity = (int)mci;
	st->connect_timeout = ct;
	st->session_expiry_max = (uint32_t)sem;
	st->topic_alias_max = (uint16_t)tam;
	st->max_retained = (int)mr;
	st->disconnect_on_denial = dod;
	nb = api->cfg_child(cfg, "northbound");
	if (nb != NULL) {
		const char *dev, *prefix;

		if (api->cfg_known_keys(h, nb, nb_keys) < 0 ||
		    api->cfg_string(h, nb, "device", NULL, &dev) < 0 ||
		    api->cfg_string(h, nb, "prefix", "mqtt/", &prefix) < 0) {
			r = -1;
		} else if (dev == NULL || dev[0] == '\0' ||
			   strlen(dev) >= MQD_ID_MAX) {
			api->cfg_error(h, nb, "device",
				       "required: the policy device that stands for the northbound path; "
				       "a message leaves when a conduit lets its publisher publish it to this device");
			r = -1;
		} else if (strlen(prefix) >= sizeof(st->nb_prefix)) {
			api->cfg_error(h, nb, "prefix", "at most %zu characters",
				       sizeof(st->nb_prefix) - 1);
			r = -1;
		} else {
			snprintf(st->northbound, sizeof(st->northbound), "%s", dev);
			snprintf(st->nb_prefix, sizeof(st->nb_prefix), "%s", prefix);
		}
	}
	lsts = api->cfg_child(cfg, "listeners");
	if (lsts == NULL || api->cfg_count(lsts) == 0) {
		api->cfg_error(h, cfg, "listeners",
			       "list at least one listener: { listen = \"ip:port\"; tls = { ... }; }");
		r = -1;
	} else if (read_listeners(api, h, lsts, st) < 0) {
		r = -1;
	}
	return r;
}

static int
mqd_check(const struct zg_host_api *api, struct zg_host *h,
	  const struct zg_cfg *cfg)
{
	struct mqd_state st;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = mqd_config_read(api, h, cfg, &st);
	mqd_state_clear(&st);
	return rc;
}

static int
mqd_init(const struct zg_host_api *api, struct zg_host *h,
	 const struct zg_cfg *cfg, void **state)
{
	struct mqd_state *st;
	struct mqd_listener *l;

	if (api->abi_version != ZG_PLUGIN_ABI_VERSION ||
	    api->size < sizeof(struct zg_host_api))
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->base = api->event_base(h);
	if (mqd_config_read(api, h, cfg, st) < 0)
		goto fail;
	for (l = st->listeners; l != NULL; l = l->next) {
		l->zl = api->listen(h, l->addr, mqd_accept, l);
		if (l->zl == NULL)
			goto fail;
		api->log(h, ZG_LOG_INFO, "MQTT broker %s on %s (%s)", st->broker,
			 l->addr,
			 l->tls ? "mutual TLS"
				: "plain TCP, identity by source address");
	}
	*state = st;
	return 0;
fail:
	mqd_state_clear(st);
	free(st);
	return -1;
}

static bool
same_listeners(const struct mqd_state *a, const struct mqd_state *b)
{
	const struct mqd_listener *la, *lb;

	for (la = a->listeners, lb = b->listeners; la && lb;
	     la = la->next, lb = lb->next)
		if (strcmp(la->addr, lb->addr) != 0 ||
		    (la->tls == NULL) != (lb->tls == NULL) ||
		    la->max_conns_per_source != lb->max_conns_per_source)
			return false;
	return la == NULL && lb == NULL;
}

/*
 * SIGHUP.  Policy lives in the host and applies to the next operation of
 * every live session.  The broker's own settings are taken over in
 * place: sessions, queues and retained messages survive every reload.
 * With the same listeners, connections stay too (certificates, CAs and
 * CRLs are read again for new handshakes); changed listeners are
 * reopened and their connections closed (clients reconnect and resume
 * their sessions).  Limits apply to new connections and new messages.
 */
static int
mqd_reload(void *state, const struct zg_cfg *cfg)
{
	struct mqd_state *st = state, tmp;
	struct mqd_listener *l;

	memset(&tmp, 0, sizeof(tmp));
	tmp.base = st->base;
	if (mqd_config_read(st->api, st->h, cfg, &tmp) < 0) {
		mqd_state_clear(&tmp);
		return -1;
	}
	memcpy(st->broker, tmp.broker, sizeof(st->broker));
	memcpy(st->client_id_pattern, tmp.client_id_pattern,
	       sizeof(st->client_id_pattern));
	st->max_packet = tmp.max_packet;
	st->max_inflight = tmp.max_inflight;
	st->max_queued = tmp.max_queued;
	st->drop = tmp.drop;
	st->max_conns_per_identity = tmp.max_conns_per_identity;
	st->connect_timeout = tmp.connect_timeout;
	st->session_expiry_max = tmp.session_expiry_max;
	st->topic_alias_max = tmp.topic_alias_max;
	st->max_retained = tmp.max_retained;
	st->disconnect_on_denial = tmp.disconnect_on_denial;
	memcpy(st->northbound, tmp.northbound, sizeof(st->northbound));
	memcpy(st->nb_prefix, tmp.nb_prefix, sizeof(st->nb_prefix));
	if (same_listeners(st, &tmp)) {
		struct mqd_listener *nl;

		for (l = st->listeners, nl = tmp.listeners; l && nl;
		     l = l->next, nl = nl->next) {
			struct zg_tls_ctx *old = l->tls;

			l->tls = nl->tls;
			nl->tls = old;
		}
		mqd_state_clear(&tmp);
		st->api->log(st->h, ZG_LOG_INFO,
			     "settings applied: %d connections and %d sessions kept; "
			     "TLS credentials and CRLs reloaded",
			     st->nconns, st->nsessions);
		return 0;
	}
	st->api->log(st->h, ZG_LOG_WARN,
		     "listeners changed: reopening them (%d connections closed, %d sessions kept)",
		     st->nconns, st->nsessions);
	while (st->conns != NULL)
		mqd_conn_close(st->conns, MQ_RC_SERVER_UNAVAILABLE,
			       "listeners reconfigured");
	while (st->listeners != NULL) {
		l = st->listeners;
		st->listeners = l->next;
		if (l->zl != NULL)
			st->api->listener_free(l->zl);
		if (l->tls != NULL)
			st->api->tls_ctx_free(l->tls);
		free(l);
	}
	st->listeners = tmp.listeners;
	tmp.listeners = NULL;
	mqd_state_clear(&tmp);
	for (l = st->listeners; l != NULL; l = l->next) {
		l->st = st;
		l->zl = st->api->listen(st->h, l->addr, mqd_accept, l);
		if (l->zl == NULL)
			return -1;
	}
	return 0;
}

static int
mqd_drain(void *state)
{
	struct mqd_state *st = state;
	int cut = 0;

	st->draining = true;
	/*
	 * The host leaves the loop as soon as this returns 0, so a graceful
	 * TLS close (waiting for the peer's close_notify) would never end:
	 * MQTT 5 clients get DISCONNECT 0x8B, then every connection is cut.
	 * Those cut now are reported as still open once: libevent frees a
	 * TLS session's plaintext pair only after its deferred callbacks
	 * ran, in a turn of the loop that must come before the host frees
	 * the loop (else they leak, seen under load by LeakSanitizer).
	 */
	while (st->conns != NULL) {
		st->conns->no_linger = true;
		mqd_conn_close(st->conns, MQ_RC_SHUTTING_DOWN,
			       "gateway shutting down");
		cut++;
	}
	return cut;
}

static void
mqd_fini(void *state)
{
	struct mqd_state *st = state;

	st->api->log(st->h, ZG_LOG_INFO,
		     "published %llu, delivered %llu, denied: %llu publish, %llu subscribe, "
		     "%llu deliveries; %llu dropped from full queues, %llu northbound",
		     (unsigned long long)st->n_published,
		     (unsigned long long)st->n_delivered,
		     (unsigned long long)st->n_denied_pub,
		     (unsigned long long)st->n_denied_sub,
		     (unsigned long long)st->n_denied_delivery,
		     (unsigned long long)st->n_dropped,
		     (unsigned long long)st->n_northbound);
	st->draining = true; /* no wills from sessions ending now */
	mqd_state_clear(st);
	free(st);
}

static const char *const mqd_protocols[] = { "mqtt", NULL };

static const struct zg_plugin mqd_plugin = {
	.abi_version = ZG_PLUGIN_ABI_VERSION,
	.name = "mqttd",
	.version = MQD_VERSION,
	.protocols = mqd_protocols,
	.check = mqd_check,
	.init = mqd_init,
	.reload = mqd_reload,
	.drain = mqd_drain,
	.fini = mqd_fini,
	.status = mqd_status,
};

ZG_PLUGIN_DECLARE(mqd_plugin);
