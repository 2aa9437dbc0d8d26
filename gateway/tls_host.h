/*
 * tls_host: the TLS services plugins get through zg_host_api.tls_*
 * (see <zonegate/plugin.h>), built on gateway/tls.c.  The config group
 * is read here, with file:line errors like every other key.
 */
#ifndef ZG_TLS_HOST_H
#define ZG_TLS_HOST_H

#include <libconfig.h>

#include <zonegate/plugin.h>

#include "gateway/cfgutil.h"

struct event_base;

struct zg_tls_ctx *tls_host_server_ctx(struct cfg_errs *e,
				       const config_setting_t *g);
/* Client context; *server_name is the configured name (malloc'd) or NULL. */
struct zg_tls_ctx *tls_host_client_ctx(struct cfg_errs *e,
				       const config_setting_t *g,
				       const char *const *alpn,
				       char **server_name);
struct zg_tls *tls_host_connect(struct zg_tls_ctx *ctx,
				struct event_base *base, const char *addr,
				const char *servername,
				struct bufferevent **bev, char *err,
				size_t errlen);
void tls_host_ctx_free(struct zg_tls_ctx *ctx);
struct zg_tls *tls_host_accept(struct zg_tls_ctx *ctx, struct event_base *base,
			       int fd, const char *peer,
			       struct bufferevent **bev);
int tls_host_peer(const struct zg_tls *t, struct zg_peer_cert *out);
const char *tls_host_fail_kind(const struct zg_tls *t);
const char *tls_host_error(const struct zg_tls *t);
void tls_host_close(struct zg_tls *t);
void tls_host_free(struct zg_tls *t);
void tls_host_record_units(struct zg_tls *t,
			   size_t (*unit)(const unsigned char *p, size_t len));

#endif /* ZG_TLS_HOST_H */
