/*
 * fuzz_command: arbitrary bytes as a write-back command line through
 * cmd_parse() (plugins/modbus/cmdjson.c), and what it accepts through the
 * encoder for a few point types.  Checks: no read past the input (ASan,
 * on a private copy), a refusal always says why, an accepted command has
 * a device, a point and a value of a known kind, NUL-terminated strings
 * within their buffers, and the encoder never writes more registers than
 * the point has.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/modbus/cmdjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                 \
	do {                     \
		if (!(x))        \
			abort(); \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t types[] = { PT_INT16, PT_UINT32, PT_FLOAT32,
		PT_INT64, PT_FLOAT64, PT_STRING };
	struct mb_command c;
	const char *why = NULL;
	char *copy;
	size_t i;
	int rc;

	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	rc = cmd_parse(copy, size, &c, &why);
	free(copy);
	if (rc < 0) {
		CHECK(why != NULL);
		return 0;
	}
	CHECK(size <= CMD_LINE_MAX);
	CHECK(memchr(c.id, '\0', sizeof(c.id)) != NULL);
	CHECK(memchr(c.device, '\0', sizeof(c.device)) != NULL && c.device[0]);
	CHECK(memchr(c.point, '\0', sizeof(c.point)) != NULL && c.point[0]);
	CHECK(c.value.kind >= PV_BOOL && c.value.kind <= PV_STRING);
	if (c.value.kind == PV_STRING)
		CHECK(c.value.slen <= PT_STRING_MAX && c.value.s[c.value.slen] == '\0');
	for (i = 0; i < sizeof(types); i++) {
		struct pt_def d;
		uint16_t regs[PT_STRING_REGS_MAX + 1];
		bool coil;
		int n;

		memset(&d, 0, sizeof(d));
		d.table = PT_HOLDING;
		d.type = types[i];
		d.order = (uint8_t)(i % 2 ? PT_DCBA : PT_ABCD);
		if (d.type == PT_STRING)
			d.order = PT_ABCD;
		d.count = 4;
		d.bit = -1;
		d.scale = i % 3 ? 1.0 : 0.1;
		if (d.type == PT_STRING)
			d.scale = 1.0;
		regs[PT_STRING_REGS_MAX] = 0xA5A5;
		n = pt_encode(&d, &c.value, regs, PT_STRING_REGS_MAX, &coil, &why);
		CHECK(n == -1 ? why != NULL : (unsigned)n == pt_size(&d));
		CHECK(regs[PT_STRING_REGS_MAX] == 0xA5A5);
	}
	return 0;
}
