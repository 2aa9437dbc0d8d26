/*
 * be16: big-endian 16-bit fields, the byte order of every Modbus field.
 * Internal to plugins/modbus.
 */
#ifndef ZG_MB_BE16_H
#define ZG_MB_BE16_H

#include <stdint.h>

static inline uint16_t
be16_get(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline void
be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

#endif /* ZG_MB_BE16_H */
