/*
 * badabi: a plugin built for another plugin ABI version.  The host must
 * refuse it, naming both versions, without calling anything in it.
 */
#define ZG_PLUGIN_ABI_VERSION 99
#include <stdlib.h>

#include <zonegate/plugin.h>

static int
bad_init(const struct zg_host_api *api, struct zg_host *h,
	 const struct zg_cfg *cfg, void **state)
{
	(void)api;
	(void)h;
	(void)cfg;
	(void)state;
	abort(); /* never reached: the ABI check comes first */
}

static void
bad_fini(void *state)
{
	(void)state;
	abort();
}

static const struct zg_plugin bad = {
	.abi_version = ZG_PLUGIN_ABI_VERSION,
	.name = "badabi",
	.version = "0.0.0",
	.init = bad_init,
	.fini = bad_fini,
};

ZG_PLUGIN_DECLARE(bad);
