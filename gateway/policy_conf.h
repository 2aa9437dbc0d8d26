/*
 * policy_conf: the `zones', `devices' and `conduits' lists of a libconfig
 * tree -> a compiled struct seg_policy (segments/segments.h).
 *
 * Every error and warning goes to a struct cfg_errs as
 * "FILE:LINE: key: message" (unknown keys and wrong types included); the
 * whole tree is checked even after a first error.  The keys are
 * documented in docs/policy.md.
 */
#ifndef ZG_POLICY_CONF_H
#define ZG_POLICY_CONF_H

#include <stdbool.h>
#include <stdio.h>

#include <libconfig.h>

#include "gateway/cfgutil.h"
#include "segments/segments.h"

/* Settings read elsewhere (gateway { }) that the policy carries. */
struct policy_opts {
	bool fail_open;   /* gateway.fail_mode = "open" */
	bool island_mode; /* gateway.island_mode */
};

/*
 * Load the policy from the root of cfg.  On success *out holds a new
 * policy with one reference (release it with seg_policy_unref) and 0 is
 * returned; on any error *out is NULL and -1 is returned.  `opts' may be
 * NULL (closed, no island mode).  cfg is only read; the policy keeps
 * nothing that points into it.
 */
int policy_conf_load(struct cfg_errs *e, const config_t *cfg,
		     const struct policy_opts *opts, struct seg_policy **out);

/* The policy part of `zonegated -t': counts and a short table. */
void policy_summary(FILE *out, const struct seg_policy *p);

#endif /* ZG_POLICY_CONF_H */
