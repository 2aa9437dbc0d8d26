/*
 * decide.c: see decide.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

#include "gateway/conf.h"
#include "gateway/decide.h"
#include "gateway/log.h"

int
gw_decide(struct zg_daemon *d, const char *source, const struct zg_op *op,
	  struct zg_verdict *v)
{
	memset(v, 0, sizeof(*v));
	/* No policy engine loaded: the fail mode decides, and says so. */
	v->decision = d->conf->fail_mode == 1 ? ZG_ALLOW : ZG_DENY;
	snprintf(v->reason, sizeof(v->reason),
		 "no policy loaded: fail mode %s",
		 conf_fail_mode_names[d->conf->fail_mode]);
	if (v->decision == ZG_ALLOW)
		d->decisions_allow++;
	else
		d->decisions_deny++;
	log_msg(ZG_LOG_DEBUG, source, NULL, "decision for %s: %s (%s)",
		op->identity ? op->identity : "(unknown)",
		v->decision == ZG_ALLOW ? "allow" : "deny", v->reason);
	return v->decision;
}

int
gw_identify_addr(struct zg_daemon *d, const struct sockaddr *sa,
		 socklen_t salen, char *buf, size_t buflen)
{
	(void)d;
	(void)sa;
	(void)salen;
	(void)buf;
	(void)buflen;
	return -1;
}
