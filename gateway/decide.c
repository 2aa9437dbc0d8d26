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
#include "gateway/metrics.h"
#include "gateway/threat.h"
#include "segments/segments.h"

int
gw_decide(struct zg_daemon *d, const char *source, const struct zg_op *op,
	  struct zg_verdict *v)
{
	/*
	 * The compiled policy of the configuration in force.  A reload swaps
	 * d->conf on this same thread, so the next call sees the new one.
	 * With no policy at all seg_decide applies the fail mode of the
	 * runtime state (closed unless the config said open).
	 */
	seg_decide(d->conf ? d->conf->policy : NULL, d->segstate, op, v);
	/*
	 * The threat engine sees every decided operation, allowed or denied
	 * (audit trail, detections, learning) and may throttle it.
	 */
	threat_op(d->threat, source, op, v);
	if (v->shadow)
		d->decisions_shadow++;
	if (v->decision == ZG_ALLOW)
		d->decisions_allow++;
	else
		d->decisions_deny++;
	metrics_counter_add2("zonegate_operations_total", "conduit",
			     v->rule ? v->rule : "none", "decision",
			     v->decision == ZG_ALLOW ? "allow" : "deny", 1);
	if (log_level() >= ZG_LOG_DEBUG)
		log_msg(ZG_LOG_DEBUG, source, NULL,
			"decision for %s -> %s: %s%s by %s: %s",
			op->identity ? op->identity : "(unknown)",
			op->target ? op->target : "(none)",
			v->decision == ZG_ALLOW ? "allow" : "deny",
			v->shadow ? " (shadow)" : "",
			v->rule ? v->rule : "default", v->reason);
	return v->decision;
}

void
gw_observe(struct zg_daemon *d, const char *source,
	   const struct zg_observation *o)
{
	threat_observe(d->threat, source, o);
}

int
gw_identify_addr(struct zg_daemon *d, const struct sockaddr *sa,
		 socklen_t salen, char *buf, size_t buflen)
{
	if (d->conf == NULL || d->conf->policy == NULL)
		return -1;
	return seg_identify_addr(d->conf->policy, sa, salen, buf, buflen);
}
