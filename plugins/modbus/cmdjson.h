/*
 * cmdjson: the write-back command of the modbus plugin's command endpoint
 * (docs/modbus.md, "commands"), parsed as a pure function over (buf, len).
 *
 *   {"id":"c-17","device":"plc-1","point":"setpoint","value":21.5}
 *
 * One flat JSON object: keys device, point and value are required, id is
 * optional (echoed in the answer); other keys, duplicate keys, nested
 * values, null, and anything after the object are refused.  Strings take
 * the JSON escapes (\u only below 0x80) and no raw control bytes.  A
 * number without fraction or exponent is an exact integer (int64, or
 * uint64 above INT64_MAX), anything else a double; true/false a bool.
 */
#ifndef ZG_MB_CMDJSON_H
#define ZG_MB_CMDJSON_H

#include <stddef.h>

#include "plugins/modbus/points.h"

#define CMD_LINE_MAX 4096
#define CMD_ID_MAX 64        /* with NUL */
#define CMD_DEVICE_MAX 256   /* with NUL */

struct mb_command {
	char id[CMD_ID_MAX];          /* "" when absent */
	char device[CMD_DEVICE_MAX];
	char point[PT_NAME_MAX];
	struct pt_value value;
};

/*
 * Parse buf[0..len) (no NUL needed; at most CMD_LINE_MAX bytes).
 * Returns 0, or -1 with *why set to a static text.
 */
int cmd_parse(const char *buf, size_t len, struct mb_command *out,
	      const char **why);

#endif /* ZG_MB_CMDJSON_H */
