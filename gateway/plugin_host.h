/*
 * plugin_host: loads protocol plugins (dlopen), checks their descriptor
 * and ABI version, and gives each one its struct zg_host_api.  See
 * <zonegate/plugin.h> for the plugin side of the contract.
 */
#ifndef ZG_PLUGIN_HOST_H
#define ZG_PLUGIN_HOST_H

#include "gateway/cfgutil.h"
#include "gateway/conf.h"
#include "gateway/daemon.h"

/*
 * Find, dlopen and verify the plugin `cp' names.  Errors (not found,
 * missing symbol, ABI mismatch naming both versions, name mismatch) go
 * to `e' at the plugin's config line.  Returns NULL on error.
 */
struct zg_host *plugin_load(struct zg_daemon *d, const struct zg_conf *c,
			    const struct conf_plugin *cp, struct cfg_errs *e);
/* Run the plugin's check() on its config group.  0 or -1. */
int plugin_check(struct zg_host *h, const struct conf_plugin *cp,
		 struct cfg_errs *e);
/* init(); errors are logged.  0 or -1. */
int plugin_start(struct zg_host *h, const struct conf_plugin *cp);
/* reload() or, when the plugin has none, fini() + init().  0 or -1. */
int plugin_reload(struct zg_host *h, const struct conf_plugin *cp);
/* Close the plugin's listeners (shutdown has begun). */
void plugin_stop_listening(struct zg_host *h);
/* drain(): number of sessions still open (0 when the plugin has none). */
int plugin_drain(struct zg_host *h);
/* fini() if started, free listeners and timers, dlclose, free. */
void plugin_unload(struct zg_host *h);

/*
 * The plugin's status() into out (live sessions, device state).  -1 when
 * the plugin is not running or reports nothing.
 */
struct zg_status_out;
int plugin_status(struct zg_host *h, const struct zg_status_out *out);

const char *plugin_name(const struct zg_host *h);
const char *plugin_version(const struct zg_host *h);
const char *plugin_path(const struct zg_host *h);

#endif /* ZG_PLUGIN_HOST_H */
