/*
 * tls_host.c: the TLS services of the plugin API (zg_host_api.tls_*),
 * a thin layer over gateway/tls.c that reads a plugin's `tls' config
 * group with the same error reporting as every other key.
 *
 *   tls = { cert = "server.pem"; key = "server.key";
 *           ca = "ca.pem";                # or a list of files
 *           crl = ["ca.crl"];             # optional
 *           verify = "require";           # mutual TLS (default)
 *           min_version = "1.2";          # or "1.3"
 *           handshake_timeout = 10.0;
 *           identity_order = "uri,dns,cn"; };
 *
 * A client group (uplinks) is the same without verify/identity_order,
 * with cert/key optional (the client certificate), ca required and an
 * optional server_name the server's certificate must match.
 *
 * Relative file names are taken relative to the configuration file's
 * directory, so a config and its PKI can move together.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/util.h>

#include "gateway/cfgutil.h"
#include "gateway/identity.h"
#include "gateway/netaddr.h"
#include "gateway/metrics.h"
#include "gateway/tls.h"
#include "gateway/tls_host.h"

#define TLS_MAX_FILES 16

static const char *const tls_keys[] = { "cert", "key", "ca", "crl", "verify",
	"min_version", "ciphers", "curves", "alpn", "handshake_timeout",
	"identity_order", "verify_depth", NULL };
static const char *const tls_client_keys[] = { "cert", "key", "ca", "crl",
	"server_name", "min_version", "ciphers", "curves", "alpn",
	"handshake_timeout", "verify_depth", NULL };
static const char *const verify_names[] = { "require", "optional", "none",
					    NULL };
static const char *const minver_names[] = { "1.2", "1.3", NULL };

/* A file name relative to the directory of the config file s came from. */
static char *
resolve(const config_setting_t *s, const char *name)
{
	const char *file = cfg_file(s), *slash;
	char *out;
	size_t dl;

	if (name[0] == '/' || (slash = strrchr(file, '/')) == NULL)
		return strdup(name);
	dl = (size_t)(slash - file);
	out = malloc(dl + 1 + strlen(name) + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, file, dl);
	out[dl] = '/';
	strcpy(out + dl + 1, name);
	return out;
}

/*
 * A string or a list of strings -> a NULL-terminated array of resolved
 * file names (malloc'd).  Absent: *out = NULL.  0 or -1.
 */
static int
file_list(struct cfg_errs *e, const config_setting_t *g, const char *key,
	  char ***out)
{
	config_setting_t *m = config_setting_get_member(g, key);
	char **v;
	int n, i;

	*out = NULL;
	if (m == NULL)
		return 0;
	if (config_setting_type(m) == CONFIG_TYPE_STRING) {
		v = calloc(2, sizeof(*v));
		if (v == NULL || (v[0] = resolve(m, config_setting_get_string(m))) == NULL) {
			free(v);
			return -1;
		}
		*out = v;
		return 0;
	}
	if (config_setting_type(m) != CONFIG_TYPE_LIST &&
	    config_setting_type(m) != CONFIG_TYPE_ARRAY) {
		cfg_err(e, m, NULL, "expected a file name or a list of file names");
		return -1;
	}
	n = config_setting_length(m);
	if (n < 1 || n > TLS_MAX_FILES) {
		cfg_err(e, m, NULL, "1..%d file names", TLS_MAX_FILES);
		return -1;
	}
	v = calloc((size_t)n + 1, sizeof(*v));
	if (v == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(m, (unsigned)i);

		if (config_setting_type(el) != CONFIG_TYPE_STRING ||
		    (v[i] = resolve(m, config_setting_get_string(el))) == NULL) {
			cfg_err(e, el, NULL, "expected a file name");
			while (i-- > 0)
				free(v[i]);
			free(v);
			return -1;
		}
	}
	*out = v;
	return 0;
}

static void
free_list(char **v)
{
	int i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * Read a `tls' group into a context of the given role.  Servers: cert and
 * key required, ca unless verify = "none".  Clients: cert/key optional
 * (both or neither), ca always (the server is always verified), no
 * verify/identity_order, an optional server_name (returned malloc'd in
 * *server_name).  `alpn_fixed' (clients) replaces a configured alpn list,
 * which is then refused: the plugin knows what it speaks.
 */
static struct tls_ctx *
ctx_from_cfg(struct cfg_errs *e, const config_setting_t *g, int role,
	     const char *const *alpn_fixed, char **server_name)
{
	struct tls_config tc;
	const char *cert, *key, *ciphers, *curves, *order = NULL, *sname = NULL;
	char *cert_r = NULL, *key_r = NULL, **ca = NULL, **crl = NULL;
	char *alpn[9] = { NULL };
	config_setting_t *am;
	long long depth;
	double hto;
	int verify = TLS_VERIFY_REQUIRE, minv, rc = 0;
	struct tls_ctx *ctx = NULL;
	char err[512];

	if (g == NULL || !config_setting_is_group(g)) {
		cfg_err(e, g, NULL, role == TLS_SERVER ?
			"tls needs a group: { cert = \"...\"; key = \"...\"; ca = \"...\"; }" :
			"tls needs a group: { ca = \"...\"; cert = \"...\"; key = \"...\"; }");
		return NULL;
	}
	memset(&tc, 0, sizeof(tc));
	rc |= cfg_known_keys(e, g, role == TLS_SERVER ? tls_keys : tls_client_keys);
	rc |= cfg_get_string(e, g, "cert", NULL, &cert);
	rc |= cfg_get_string(e, g, "key", NULL, &key);
	rc |= cfg_get_string(e, g, "ciphers", NULL, &ciphers);
	rc |= cfg_get_string(e, g, "curves", NULL, &curves);
	if (role == TLS_SERVER) {
		rc |= cfg_get_string(e, g, "identity_order", NULL, &order);
		rc |= cfg_get_enum(e, g, "verify", verify_names,
				   TLS_VERIFY_REQUIRE, &verify);
	} else
		rc |= cfg_get_string(e, g, "server_name", NULL, &sname);
	rc |= cfg_get_enum(e, g, "min_version", minver_names, TLS_MIN_1_2, &minv);
	rc |= cfg_get_double(e, g, "handshake_timeout", 10.0, 0.1, 600.0, &hto);
	rc |= cfg_get_int(e, g, "verify_depth", TLS_DEFAULT_VERIFY_DEPTH, 1, 16, &depth);
	rc |= file_list(e, g, "ca", &ca);
	rc |= file_list(e, g, "crl", &crl);
	if (role == TLS_SERVER && (cert == NULL || key == NULL)) {
		cfg_err(e, g, cert == NULL ? "cert" : "key",
			"required: the server's PEM certificate chain and private key");
		rc = -1;
	}
	if (role == TLS_CLIENT && (cert == NULL) != (key == NULL)) {
		cfg_err(e, g, cert == NULL ? "cert" : "key",
			"cert and key go together: the client certificate and "
			"its private key (or neither)");
		rc = -1;
	}
	/* Legal, but a TLS listener should know who is speaking. */
	if (verify != TLS_VERIFY_REQUIRE)
		cfg_warn(e, g, "verify",
			 "\"%s\" admits clients without a certificate (identity from the address binding at best): use \"require\" (the default) once every client has one",
			 verify_names[verify]);
	if (role == TLS_SERVER && verify != TLS_VERIFY_NONE && ca == NULL) {
		cfg_err(e, g, "ca",
			"required to verify client certificates (or verify = \"none\")");
		rc = -1;
	}
	if (role == TLS_CLIENT && ca == NULL) {
		cfg_err(e, g, "ca",
			"required: the CA certificate(s) that issued the server's "
			"certificate (the server is always verified)");
		rc = -1;
	}
	if (sname != NULL && (*sname == '\0' || strlen(sname) > 253)) {
		cfg_err(e, g, "server_name", "a DNS name or IP address, 1..253 "
			"characters");
		rc = -1;
	}
	if (order != NULL &&
	    identity_order_parse(order, &tc.identity_order, err, sizeof(err)) < 0) {
		cfg_err(e, g, "identity_order", "%s", err);
		rc = -1;
	}
	am = config_setting_get_member(g, "alpn");
	if (am != NULL && alpn_fixed != NULL) {
		cfg_err(e, am, NULL, "not configurable here: this plugin offers "
			"\"%s\" itself", alpn_fixed[0]);
		rc = -1;
	} else if (am != NULL) {
		int i, n = config_setting_length(am);

		if (config_setting_type(am) != CONFIG_TYPE_ARRAY &&
		    config_setting_type(am) != CONFIG_TYPE_LIST)
			n = -1;
		if (n < 1 || n > 8) {
			cfg_err(e, am, NULL, "a list of 1..8 protocol names");
			rc = -1;
		}
		for (i = 0; i < n && i < 8; i++) {
			const char *a = config_setting_get_string_elem(am, (unsigned)i);

			if (a == NULL) {
				cfg_err(e, am, NULL, "protocol names are strings");
				rc = -1;
				break;
			}
			alpn[i] = (char *)a;
		}
	}
	if (rc == 0) {
		cert_r = cert ? resolve(g, cert) : NULL;
		key_r = key ? resolve(g, key) : NULL;
		tc.role = role;
		tc.cert_file = cert_r;
		tc.key_file = key_r;
		tc.ca_files = (const char *const *)ca;
		tc.crl_files = (const char *const *)crl;
		tc.verify = verify;
		tc.min_version = minv;
		tc.ciphers = ciphers;
		tc.curves = curves;
		tc.alpn = alpn_fixed ? alpn_fixed :
			  am ? (const char *const *)alpn : NULL;
		tc.handshake_timeout_ms = (unsigned)(hto * 1000.0);
		tc.verify_depth = (int)depth;
		ctx = tls_ctx_new(&tc, err, sizeof(err));
		if (ctx == NULL)
			cfg_err(e, g, NULL, "%s", err);
	}
	if (ctx != NULL && server_name != NULL && sname != NULL &&
	    (*server_name = strdup(sname)) == NULL) {
		tls_ctx_free(ctx);
		ctx = NULL;
	}
	free(cert_r);
	free(key_r);
	free_list(ca);
	free_list(crl);
	return ctx;
}

struct zg_tls_ctx *
tls_host_server_ctx(struct cfg_errs *e, const config_setting_t *g)
{
	return (struct zg_tls_ctx *)ctx_from_cfg(e, g, TLS_SERVER, NULL, NULL);
}

struct zg_tls_ctx *
tls_host_client_ctx(struct cfg_errs *e, const config_setting_t *g,
		    const char *const *alpn, char **server_name)
{
	*server_name = NULL;
	return (struct zg_tls_ctx *)ctx_from_cfg(e, g, TLS_CLIENT, alpn,
						 server_name);
}

/*
 * Client connection to "ip:port" (or "localhost:port", taken as
 * 127.0.0.1: a gateway never waits for DNS on its loop).  The server's
 * certificate must match `servername', or the address's IP when it is
 * NULL.  NULL with why in err when the connect cannot even start.
 */
struct zg_tls *
tls_host_connect(struct zg_tls_ctx *ctx, struct event_base *base,
		 const char *addr, const char *servername,
		 struct bufferevent **bev, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct tls_conn *c;
	char host[NETADDR_STRLEN + 16], label[NETADDR_STRLEN];
	const char *name = servername;

	if (strncmp(addr, "localhost:", 10) == 0) {
		snprintf(host, sizeof(host), "127.0.0.1:%s", addr + 10);
		addr = host;
	}
	if (netaddr_parse(addr, &ss, &sl, err, errlen) < 0)
		return NULL;
	netaddr_format((struct sockaddr *)&ss, label, sizeof(label));
	if (name == NULL) {
		const void *ip = ss.ss_family == AF_INET6 ?
			(const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr :
			(const void *)&((struct sockaddr_in *)&ss)->sin_addr;

		if (evutil_inet_ntop(ss.ss_family, ip, host, sizeof(host)) == NULL) {
			snprintf(err, errlen, "%s: no usable address", addr);
			return NULL;
		}
		name = host;
	}
	c = tls_conn_new((struct tls_ctx *)ctx, base, -1, name, label, err, errlen);
	if (c == NULL)
		return NULL;
	if (tls_conn_connect(c, (struct sockaddr *)&ss, (int)sl) < 0) {
		snprintf(err, errlen, "%s", tls_conn_error(c));
		tls_conn_free(c);
		return NULL;
	}
	*bev = tls_conn_bev(c);
	return (struct zg_tls *)c;
}

void
tls_host_ctx_free(struct zg_tls_ctx *ctx)
{
	tls_ctx_free((struct tls_ctx *)ctx);
}

struct zg_tls *
tls_host_accept(struct zg_tls_ctx *ctx, struct event_base *base, int fd,
		const char *peer, struct bufferevent **bev)
{
	char err[256];
	struct tls_conn *c;

	c = tls_conn_new((struct tls_ctx *)ctx, base, fd, NULL, peer, err,
			 sizeof(err));
	if (c == NULL) {
		evutil_closesocket(fd);
		return NULL;
	}
	*bev = tls_conn_bev(c);
	return (struct zg_tls *)c;
}

int
tls_host_peer(const struct zg_tls *t, struct zg_peer_cert *out)
{
	const struct tls_conn *c = (const struct tls_conn *)t;
	const struct identity *id = tls_conn_identity(c);

	memset(out, 0, sizeof(*out));
	if (id == NULL)
		return -1;
	out->identity = id->name;
	out->source = identity_source_name(id->source);
	out->role = id->role;
	out->role_status = identity_role_status_name(id->role_status);
	out->role_detail = id->role_detail;
	out->subject = id->subject;
	out->issuer = id->issuer;
	out->serial = id->serial;
	out->version = tls_conn_version(c);
	out->cipher = tls_conn_cipher(c);
	out->alpn = tls_conn_alpn(c);
	return 0;
}

const char *
tls_host_fail_kind(const struct zg_tls *t)
{
	static const char *const names[] = { "none", "timeout", "verify",
		"no_peer_cert", "alert", "protocol", "truncated", "io",
		"internal" };
	int k = tls_conn_fail((const struct tls_conn *)t);

	if (k < 0 || (size_t)k >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[k];
}

/*
 * A session ends: if its handshake never completed, count the failure by
 * reason.  Every session ends through close or free, whatever the plugin
 * does with the error event, so this counts each failure exactly once.
 */
static void
count_handshake_failure(const struct zg_tls *t)
{
	const struct tls_conn *c = (const struct tls_conn *)t;

	if (c != NULL && !tls_conn_established(c) &&
	    tls_conn_fail(c) != TLS_FAIL_NONE)
		metrics_counter_add("zonegate_tls_handshake_failures_total",
				    "reason", tls_host_fail_kind(t), 1);
}

const char *
tls_host_error(const struct zg_tls *t)
{
	const char *e = tls_conn_error((const struct tls_conn *)t);

	return e ? e : "";
}

void
tls_host_close(struct zg_tls *t)
{
	count_handshake_failure(t);
	tls_conn_close((struct tls_conn *)t);
}

void
tls_host_record_units(struct zg_tls *t,
		      size_t (*unit)(const unsigned char *p, size_t len))
{
	tls_conn_set_unit((struct tls_conn *)t, unit);
}

void
tls_host_free(struct zg_tls *t)
{
	count_handshake_failure(t);
	tls_conn_free((struct tls_conn *)t);
}
