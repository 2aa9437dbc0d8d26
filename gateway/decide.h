/*
 * decide: the host side of policy decisions.  Looks up the policy in force
 * now (d->conf->policy, swapped on reload), asks segments/ for a verdict,
 * hands it to the threat engine, counts it and logs it at debug level.  Never fails: with no policy or an
 * internal error the configured fail mode decides, and the reason says so.
 */
#ifndef ZG_DECIDE_H
#define ZG_DECIDE_H

#include <stddef.h>
#include <sys/socket.h>

#include <zonegate/plugin.h>
#include <zonegate/policy.h>

#include "gateway/daemon.h"

int gw_decide(struct zg_daemon *d, const char *source, const struct zg_op *op,
	      struct zg_verdict *v);
/* A plugin observation for the threat engine (zg_host_api.observe). */
void gw_observe(struct zg_daemon *d, const char *source,
		const struct zg_observation *o);
int gw_identify_addr(struct zg_daemon *d, const struct sockaddr *sa,
		     socklen_t salen, char *buf, size_t buflen);

#endif /* ZG_DECIDE_H */
