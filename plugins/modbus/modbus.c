/*
 * modbus.c: the modbus plugin: configuration and life cycle.
 *
 *   plugins = ( { name = "modbus"; config = {
 *     devices = (
 *       { identity = "plc-1"; address = "127.0.0.1:1502";
 *         connections = 1; max_inflight = 1; queue = 256;
 *         request_timeout = 1.0; connect_timeout = 2.0; }
 *     );
 *     listeners = (
 *       { listen = "127.0.0.1:5020"; device = "plc-1"; deny = "exception"; },
 *       { listen = "127.0.0.1:5021";
 *         routes = ( { units = "1-10"; device = "plc-1"; } ); }
 *     );
 *     poll = { identity = "zonegate-poller"; groups = ( ... ); };
 *     commands = { listen = "127.0.0.1:5030"; };
 *   }; } );
 *
 * The poll section (poller.c) is optional; a plugin that only polls
 * needs no listeners.  Every key is documented in docs/modbus.md.  Device identities must be
 * the identities of devices in the policy (the target of each decision).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <event2/event.h>

#include "gateway/netaddr.h"
#include "plugins/modbus/mbproxy.h"

#define MB_VERSION "0.1.0"
#define MB_MAX_DEVICES 1024
#define MB_MAX_LISTENERS 64
#define MB_MAX_ROUTES 256

static const char *const top_keys[] = { "devices", "listeners", "poll",
	"commands", NULL };
static const char *const dev_keys[] = { "identity", "address", "serial",
	"unit", "connections", "max_inflight", "queue", "request_timeout",
	"connect_timeout", "reconnect_min", "reconnect_max", NULL };
static const char *const lst_keys[] = { "listen", "device", "routes", "deny",
	"max_connections_per_source", "max_outstanding", "rate", "burst",
	"idle_timeout", "frame_timeout", "tls", "max_denials", NULL };
static const char *const route_keys[] = { "units", "unit", "device", NULL };
static const char *const deny_names[] = { "exception", "exception-02",
					  "exception-0b", "close", NULL };

/*
 * Parse "ip:port" / "[ip6]:port" with numbers only, port 1..65535.  The
 * parser is the daemon's own gateway/netaddr.c, compiled into this module
 * (a pure function, not a daemon symbol).
 */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char err[128];

	if (netaddr_parse(s, ss, len, err, sizeof(err)) < 0)
		return -1;
	if ((ss->ss_family == AF_INET &&
	     ((struct sockaddr_in *)ss)->sin_port == 0) ||
	    (ss->ss_family == AF_INET6 &&
	     ((struct sockaddr_in6 *)ss)->sin6_port == 0))
		return -1;
	return 0;
}

/* "5", "1-10": a unit range within 0..255. */
static int
parse_units(const char *s, unsigned *lo, unsigned *hi)
{
	char *end;
	unsigned long a, b;

	a = strtoul(s, &end, 10);
	if (end == s)
		return -1;
	b = a;
	if (*end == '-') {
		const char *t = end + 1;

		b = strtoul(t, &end, 10);
		if (end == t)
			return -1;
	}
	if (*end != '\0' || a > 255 || b > 255 || a > b)
		return -1;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

static struct mb_device *
find_device(struct mb_state *st, const char *identity)
{
	int i;

	for (i = 0; i < st->ndevices; i++)
		if (strcmp(st->devices[i].identity, identity) == 0)
			return &st->devices[i];
	return NULL;
}

static int
read_devices(const struct zg_host_api *api, struct zg_host *h,
	     const struct zg_cfg *list, struct mb_state *st)
{
	int n = api->cfg_count(list), i, rc = 0;

	if (n > MB_MAX_DEVICES) {
		api->cfg_error(h, list, NULL, "at most %d devices",
			       MB_MAX_DEVICES);
		return -1;
	}
	st->devices = calloc((size_t)n + 1, sizeof(*st->devices));
	if (st->devices == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const struct zg_cfg *c = api->cfg_elem(list, i);
		struct mb_device *d = &st->devices[st->ndevices];
		const char *id, *addr;
		long long unit, conns, infl, q;
		double rt, ct, bmin, bmax;
		int r = 0;

		r |= api->cfg_known_keys(h, c, dev_keys);
		r |= api->cfg_string(h, c, "identity", NULL, &id);
		r |= api->cfg_string(h, c, "address", NULL, &addr);
		r |= api->cfg_int(h, c, "unit", -1, -1, 255, &unit);
		r |= api->cfg_int(h, c, "connections", 1, 1, 16, &conns);
		r |= api->cfg_int(h, c, "max_inflight", 1, 1, 64, &infl);
		r |= api->cfg_int(h, c, "queue", 256, 1, 65536, &q);
		r |= api->cfg_double(h, c, "request_timeout", 1.0, 0.01, 600.0, &rt);
		r |= api->cfg_double(h, c, "connect_timeout", 2.0, 0.01, 600.0, &ct);
		r |= api->cfg_double(h, c, "reconnect_min", 0.1, 0.01, 600.0, &bmin);
		r |= api->cfg_double(h, c, "reconnect_max", 10.0, 0.01, 3600.0, &bmax);
		if (r != 0) {
			rc = -1;
			continue;
		}
		if (id == NULL || id[0] == '\0' || strlen(id) >= MB_ID_MAX) {
			api->cfg_error(h, c, "identity",
				       "required: the policy identity of the device (1..255 characters)");
			rc = -1;
			continue;
		}
		if (find_device(st, id) != NULL) {
			api->cfg_error(h, c, "identity",
				       "device \"%s\" is listed twice", id);
			rc = -1;
			continue;
		}
		if (api->cfg_child(c, "serial") != NULL) {
			/* A unit on a Modbus RTU serial line (rtu.c). */
			if (addr != NULL) {
				api->cfg_error(h, c, "serial",
					       "a device has exactly one of address = \"ip:port\" or serial = { ... }");
				rc = -1;
				continue;
			}
			if (rtu_config_read(api, h, c, st, d, id, (int)unit) < 0) {
				rc = -1;
				continue;
			}
		} else if (addr == NULL ||
			   parse_addr(addr, &d->addr, &d->addrlen) < 0) {
			api->cfg_error(h, c, "address",
				       "required: numeric \"ip:port\" or \"[ipv6]:port\" of the device "
				       "(or serial = { device = \"/dev/ttyUSB0\"; ... } for Modbus RTU)");
			rc = -1;
			continue;
		}
		if (bmin > bmax) {
			api->cfg_error(h, c, "reconnect_min",
				       "must not exceed reconnect_max");
			rc = -1;
			continue;
		}
		d->st = st;
		snprintf(d->identity, sizeof(d->identity), "%s", id);
		if (addr != NULL) /* serial: the port, set by rtu_config_read */
			snprintf(d->addr_str, sizeof(d->addr_str), "%s", addr);
		d->unit = (int)unit;
		d->nconns = (int)conns;
		d->max_inflight = (int)infl;
		d->queue_max = (int)q;
		d->request_timeout = rt;
		d->connect_timeout = ct;
		d->backoff_min = bmin;
		d->backoff_max = bmax;
		st->ndevices++;
	}
	return rc;
}

static int
read_routes(const struct zg_host_api *api, struct zg_host *h,
	    const struct zg_cfg *c, struct mb_state *st, struct mb_listener *l)
{
	const struct zg_cfg *routes = api->cfg_child(c, "routes");
	const char *dev;
	int n, i, rc = 0;

	api->cfg_string(h, c, "device", NULL, &dev);
	if ((dev == NULL) == (routes == NULL)) {
		api->cfg_error(h, c, NULL,
			       "a listener needs exactly one of device = \"...\" or routes = ( ... )");
		return -1;
	}
	if (dev != NULL) {
		struct mb_device *d = find_device(st, dev);

		if (d == NULL) {
			api->cfg_error(h, c, "device",
				       "\"%s\" is not in the plugin's devices list", dev);
			return -1;
		}
		l->routes = calloc(1, sizeof(*l->routes));
		if (l->routes == NULL)
			return -1;
		l->routes[0].lo = 0;
		l->routes[0].hi = 255;
		l->routes[0].dev = d;
		l->nroutes = 1;
		return 0;
	}
	n = api->cfg_count(routes);
	if (n < 1 || n > MB_MAX_ROUTES) {
		api->cfg_error(h, routes, NULL, "1..%d routes", MB_MAX_ROUTES);
		return -1;
	}
	l->routes = calloc((size_t)n, sizeof(*l->routes));
	if (l->routes == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const struct zg_cfg *r = api->cfg_elem(routes, i);
		const char *units = NULL, *rdev;
		long long unit;
		unsigned lo, hi;
		struct mb_device *d;
		int j;

		if (api->cfg_known_keys(h, r, route_keys) < 0 ||
		    api->cfg_string(h, r, "device", NULL, &rdev) < 0 ||
		    api->cfg_int(h, r, "unit", -1, 0, 255, &unit) < 0) {
			rc = -1;
			continue;
		}
		if (unit >= 0) {
			lo = hi = (unsigned)unit;
		} else if (api->cfg_string(h, r, "units", NULL, &units) < 0 ||
			   units == NULL || parse_units(units, &lo, &hi) < 0) {
			api->cfg_error(h, r, "units",
				       "each route needs unit = N or units = \"lo-hi\" within 0..255");
			rc = -1;
			continue;
		}
		d = rdev ? find_device(st, rdev) : NULL;
		if (d == NULL) {
			api->cfg_error(h, r, "device",
				       "\"%s\" is not in the plugin's devices list",
				       rdev ? rdev : "(missing)");
			rc = -1;
			continue;
		}
		for (j = 0; j < l->nroutes; j++) {
			if (lo <= l->routes[j].hi && hi >= l->routes[j].lo) {
				api->cfg_error(h, r, NULL,
					       "units %u-%u overlap units %u-%u of an earlier route",
					       lo, hi, l->routes[j].lo,
					       l->routes[j].hi);
				rc = -1;
			}
		}
		l->routes[l->nroutes].lo = (uint8_t)lo;
		l->routes[l->nroutes].hi = (uint8_t)hi;
		l->routes[l->nroutes].dev = d;
		l->nroutes++;
	}
	return rc;
}

static int
read_listeners(const struct zg_host_api *api, struct zg_host *h,
	       const struct zg_cfg *list, struct mb_state *st)
{
	int n = api->cfg_count(list), i, rc = 0;

	if (n > MB_MAX_LISTENERS) {
		api->cfg_error(h, list, NULL, "at most %d listeners",
			       MB_MAX_LISTENERS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		const struct zg_cfg *c = api->cfg_elem(list, i);
		struct mb_listener *l;
		struct sockaddr_storage ss;
		socklen_t sl;
		const char *addr, *deny;
		long long mcs, mo, md;
		double rate, burst, idle, ft;
		int r = 0, k;

		r |= api->cfg_known_keys(h, c, lst_keys);
		r |= api->cfg_string(h, c, "listen", NULL, &addr);
		r |= api->cfg_string(h, c, "deny", "exception", &deny);
		r |= api->cfg_int(h, c, "max_connections_per_source", 32, 1, 65535, &mcs);
		r |= api->cfg_int(h, c, "max_outstanding", 32, 1, 65535, &mo);
		r |= api->cfg_double(h, c, "rate", 0.0, 0.0, 1e6, &rate);
		r |= api->cfg_double(h, c, "burst", 0.0, 0.0, 1e6, &burst);
		r |= api->cfg_double(h, c, "idle_timeout", 300.0, 0.0, 86400.0, &idle);
		r |= api->cfg_double(h, c, "frame_timeout", 5.0, 0.0, 3600.0, &ft);
		r |= api->cfg_int(h, c, "max_denials", 20, 0, 100000, &md);
		if (r != 0) {
			rc = -1;
			continue;
		}
		if (addr == NULL || parse_addr(addr, &ss, &sl) < 0) {
			api->cfg_error(h, c, "listen",
				       "required: numeric \"ip:port\" or \"[ipv6]:port\"");
			rc = -1;
			continue;
		}
		for (k = 0; deny_names[k] != NULL; k++)
			if (strcmp(deny_names[k], deny) == 0)
				break;
		if (deny_names[k] == NULL) {
			api->cfg_error(h, c, "deny",
				       "\"%s\" is not one of \"exception\", \"exception-02\", \"exception-0b\", \"close\"",
				       deny);
			rc = -1;
			continue;
		}
		l = calloc(1, sizeof(*l));
		if (l == NULL)
			return -1;
		l->st = st;
		snprintf(l->addr, sizeof(l->addr), "%s", addr);
		l->deny_action = k;
		l->max_conns_per_source = (int)mcs;
		l->max_outstanding = (int)mo;
		l->rate = rate;
		l->burst = burst > 0 ? burst : (rate > 0 ? rate : 1.0);
		l->idle_timeout = idle;
		l->frame_timeout = ft;
		l->max_denials = (int)md;
		l->next = st->listeners;
		st->listeners = l;
		if (read_routes(api, h, c, st, l) < 0)
			rc = -1;
		/* Modbus/TCP Security: mutual TLS, identity and role from
		 * the client certificate (the host's TLS layer). */
		if (api->cfg_child(c, "tls") != NULL) {
			l->tls = api->tls_server_ctx(h, api->cfg_child(c, "tls"));
			if (l->tls == NULL)
				rc = -1;
		} else if (api->size >= offsetof(struct zg_host_api, cfg_warning) +
					sizeof(api->cfg_warning) &&
			   api->cfg_warning != NULL) {
			api->cfg_warning(h, c, "listen",
					 "plain-text Modbus/TCP on %s: requests and answers can be read and injected on the path, and clients are known only by address; add tls { } (Modbus/TCP Security) for clients that can",
					 addr);
		}
	}
	return rc;
}

/* Fill st from cfg (the plugin's `config' group).  0 or -1. */
int
mb_config_read(const struct zg_host_api *api, struct zg_host *h,
	       const struct zg_cfg *cfg, struct mb_state *st)
{
	const struct zg_cfg *devs, *lsts;
	int rc = 0;

	st->api = api;
	st->h = h;
	if (cfg == NULL) {
		api->cfg_error(h, cfg, NULL,
			       "the modbus plugin needs config = { devices = (...); listeners = (...); }");
		return -1;
	}
	if (api->cfg_known_keys(h, cfg, top_keys) < 0)
		rc = -1;
	devs = api->cfg_child(cfg, "devices");
	lsts = api->cfg_child(cfg, "listeners");
	if (devs == NULL || api->cfg_count(devs) == 0) {
		api->cfg_error(h, cfg, "devices",
			       "list at least one device: { identity = \"...\"; address = \"ip:port\"; }");
		rc = -1;
	} else if (read_devices(api, h, devs, st) < 0) {
		rc = -1;
	}
	if (rc == 0 && mb_poll_config_read(api, h, api->cfg_child(cfg, "poll"),
					   st, &st->poller) < 0)
		rc = -1;
	if (api->cfg_child(cfg, "commands") != NULL &&
	    api->cfg_child(cfg, "poll") == NULL) {
		api->cfg_error(h, cfg, "commands",
			       "commands write named points: declare them in poll = { ... } with writable = true");
		rc = -1;
	} else if (mb_cmd_config_read(api, h, api->cfg_child(cfg, "commands"),
				      &st->cmdsrv) < 0) {
		rc = -1;
	}
	if ((lsts == NULL || api->cfg_count(lsts) == 0) &&
	    api->cfg_child(cfg, "poll") == NULL) {
		api->cfg_error(h, cfg, "listeners",
			       "list at least one listener: { listen = \"ip:port\"; device = \"...\"; } "
			       "(or poll the devices: poll = { ... })");
		rc = -1;
	} else if (lsts != NULL && rc == 0 &&
		   read_listeners(api, h, lsts, st) < 0) {
		rc = -1;
	}
	return rc;
}

void
mb_state_clear(struct mb_state *st)
{
	int i;

	/* First: their requests at the devices then complete without them. */
	mb_cmd_free(st->cmdsrv);
	st->cmdsrv = NULL;
	mb_poller_free(st->poller);
	st->poller = NULL;
	while (st->sessions != NULL)
		mb_session_close(st->sessions, "plugin stopping");
	while (st->listeners != NULL) {
		struct mb_listener *l = st->listeners;

		st->listeners = l->next;
		if (l->zl != NULL)
			st->api->listener_free(l->zl);
		if (l->tls != NULL)
			st->api->tls_ctx_free(l->tls);
		free(l->routes);
		free(l);
	}
	for (i = 0; i < st->ndevices; i++)
		mb_device_stop(&st->devices[i]);
	free(st->devices);
	st->devices = NULL;
	st->ndevices = 0;
	while (st->idents != NULL) {
		struct mb_ident *id = st->idents;

		st->idents = id->next;
		free(id);
	}
}

static int mb_start(struct mb_state *st);

static int
mb_check(const struct zg_host_api *api, struct zg_host *h,
	 const struct zg_cfg *cfg)
{
	struct mb_state st;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = mb_config_read(api, h, cfg, &st);
	mb_state_clear(&st);
	return rc;
}

static int
mb_init(const struct zg_host_api *api, struct zg_host *h,
	const struct zg_cfg *cfg, void **state)
{
	struct mb_state *st;

	if (api->abi_version != ZG_PLUGIN_ABI_VERSION ||
	    api->size < sizeof(struct zg_host_api))
		return -1;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -1;
	st->base = api->event_base(h);
	if (mb_config_read(api, h, cfg, st) < 0 || mb_start(st) < 0)
		goto fail;
	*state = st;
	return 0;
fail:
	mb_state_clear(st);
	free(st);
	return -1;
}

static bool
same_device(const struct mb_device *a, const struct mb_device *b)
{
	return strcmp(a->identity, b->identity) == 0 &&
	       strcmp(a->addr_str, b->addr_str) == 0 && a->unit == b->unit &&
	       a->nconns == b->nconns && a->max_inflight == b->max_inflight &&
	       a->queue_max == b->queue_max &&
	       a->request_timeout == b->request_timeout &&
	       a->connect_timeout == b->connect_timeout &&
	       a->backoff_min == b->backoff_min &&
	       a->backoff_max == b->backoff_max &&
	       rtu_serial_same(&a->serial, &b->serial);
}

static bool
same_listener(const struct mb_listener *a, const struct mb_listener *b)
{
	int i;

	if (strcmp(a->addr, b->addr) != 0 || a->nroutes != b->nroutes ||
	    (a->tls == NULL) != (b->tls == NULL) ||
	    a->deny_action != b->deny_action ||
	    a->max_conns_per_source != b->max_conns_per_source ||
	    a->max_outstanding != b->max_outstanding || a->rate != b->rate ||
	    a->burst != b->burst || a->idle_timeout != b->idle_timeout ||
	    a->frame_timeout != b->frame_timeout ||
	    a->max_denials != b->max_denials)
		return false;
	for (i = 0; i < a->nroutes; i++)
		if (a->routes[i].lo != b->routes[i].lo ||
		    a->routes[i].hi != b->routes[i].hi ||
		    strcmp(a->routes[i].dev->identity,
			   b->routes[i].dev->identity) != 0)
			return false;
	return true;
}

static bool
same_config(const struct mb_state *a, const struct mb_state *b)
{
	const struct mb_listener *la, *lb;
	int i;

	if (a->ndevices != b->ndevices)
		return false;
	for (i = 0; i < a->ndevices; i++)
		if (!same_device(&a->devices[i], &b->devices[i]))
			return false;
	for (la = a->listeners, lb = b->listeners; la && lb;
	     la = la->next, lb = lb->next)
		if (!same_listener(la, lb))
			return false;
	return la == NULL && lb == NULL;
}

/* Open the listeners and device pools of a configured state. */
static int
mb_start(struct mb_state *st)
{
	struct mb_listener *l;
	int i;

	for (i = 0; i < st->ndevices; i++) {
		if (mb_device_start(&st->devices[i]) < 0)
			return -1;
		st->api->log(st->h, ZG_LOG_INFO,
			     "device %s at %s: %d connection%s",
			     st->devices[i].identity, st->devices[i].addr_str,
			     st->devices[i].nconns,
			     st->devices[i].nconns == 1 ? "" : "s");
	}
	for (l = st->listeners; l != NULL; l = l->next) {
		l->zl = st->api->listen(st->h, l->addr, mb_accept, l);
		if (l->zl == NULL)
			return -1;
	}
	if (st->poller != NULL && mb_poller_start(st->poller, st) < 0)
		return -1;
	if (st->cmdsrv != NULL && mb_cmd_start(st->cmdsrv, st) < 0)
		return -1;
	return 0;
}

/*
 * SIGHUP.  Policy lives in the host and applies to the next request of
 * every live session, so a reload that leaves this plugin's settings as
 * they were keeps sessions and device connections.  Changed settings
 * restart the listeners and device pools (sessions are closed).
 */
static int
mb_reload(void *state, const struct zg_cfg *cfg)
{
	struct mb_state *st = state, tmp;
	struct mb_listener *l;
	int i;

	memset(&tmp, 0, sizeof(tmp));
	tmp.base = st->base;
	if (mb_config_read(st->api, st->h, cfg, &tmp) < 0) {
		mb_state_clear(&tmp);
		return -1;
	}
	if (same_config(st, &tmp)) {
		struct mb_listener *nl;

		/*
		 * Same listeners, but certificates, CAs and CRLs are read
		 * again: new handshakes use the new context, sessions that
		 * are already verified go on.
		 */
		for (l = st->listeners, nl = tmp.listeners; l && nl;
		     l = l->next, nl = nl->next) {
			struct zg_tls_ctx *old = l->tls;

			l->tls = nl->tls;
			nl->tls = old;
		}
		/*
		 * The poll section starts afresh (its groups may have
		 * changed); every point is reported again on its first cycle.
		 */
		mb_poller_free(st->poller);
		st->poller = tmp.poller;
		tmp.poller = NULL;
		/* The command endpoint stays, sessions and all, if unchanged. */
		if (!mb_cmd_same(st->cmdsrv, tmp.cmdsrv)) {
			mb_cmd_free(st->cmdsrv);
			st->cmdsrv = tmp.cmdsrv;
			tmp.cmdsrv = NULL;
		}
		mb_state_clear(&tmp);
		if (st->poller != NULL && mb_poller_start(st->poller, st) < 0)
			return -1;
		if (st->cmdsrv != NULL && mb_cmd_start(st->cmdsrv, st) < 0)
			return -1;
		st->api->log(st->h, ZG_LOG_INFO,
			     "settings unchanged: %d sessions kept%s", st->nsessions,
			     "; TLS credentials and CRLs reloaded");
		return 0;
	}
	st->api->log(st->h, ZG_LOG_WARN,
		     "settings changed: restarting listeners and device connections (%d sessions closed)",
		     st->nsessions);
	mb_state_clear(st);
	st->listeners = tmp.listeners;
	st->devices = tmp.devices;
	st->ndevices = tmp.ndevices;
	st->poller = tmp.poller;
	st->cmdsrv = tmp.cmdsrv;
	for (l = st->listeners; l != NULL; l = l->next)
		l->st = st;
	for (i = 0; i < st->ndevices; i++)
		st->devices[i].st = st;
	return mb_start(st);
}

static int
mb_drain(void *state)
{
	struct mb_state *st = state;
	struct mb_session *s, *next;

	st->draining = true;
	/* No new reads; those at a device complete without the poller. */
	mb_poller_free(st->poller);
	st->poller = NULL;
	mb_cmd_free(st->cmdsrv); /* writes in flight complete unheard */
	st->cmdsrv = NULL;
	/* Sessions with nothing in flight can go now. */
	for (s = st->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->outstanding == 0)
			mb_session_close(s, "gateway shutting down");
	}
	return st->nsessions;
}

static void
mb_fini(void *state)
{
	struct mb_state *st = state;

	mb_state_clear(st);
	free(st);
}

static const char *const mb_protocols[] = { "modbus-tcp", NULL };

static const struct zg_plugin mb_plugin = {
	.abi_version = ZG_PLUGIN_ABI_VERSION,
	.name = "modbus",
	.version = MB_VERSION,
	.protocols = mb_protocols,
	.check = mb_check,
	.init = mb_init,
	.reload = mb_reload,
	.drain = mb_drain,
	.fini = mb_fini,
	.status = mb_status,
};

ZG_PLUGIN_DECLARE(mb_plugin);
