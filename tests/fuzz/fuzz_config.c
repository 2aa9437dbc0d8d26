/*
 * fuzz_config: the configuration loader (libconfig parse + every check in
 * conf.c, and the policy loader behind it) over arbitrary text.  Must
 * never crash, leak or read out of bounds; errors are expected.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_errs e;
	struct zg_conf *c;
	char *text;

	if (size > 256 * 1024)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cfg_errs_init(&e);
	c = conf_load_text(text, "fuzz.conf", &e);
	conf_free(c);
	cfg_errs_free(&e);
	free(text);
	return 0;
}
