/*
 * build.h: the builder's private state, shared by build.c (zones,
 * devices, conduits), rules.c (protocol rules) and compile.c.
 */
#ifndef ZG_SEG_BUILD_H
#define ZG_SEG_BUILD_H

#include "segments/seg_int.h"

/* A range as declared, with its origin (for overlap diagnostics). */
struct seg_brange {
	struct seg_range r;
	struct seg_origin o;
};

/* What a conduit needs only while it is being built. */
struct seg_cbuild {
	struct seg_origin o;    /* the conduit's */
	struct seg_origin mbo;  /* its modbus / mqtt / http blocks' */
	struct seg_origin mqo;
	struct seg_origin hto;
	struct seg_brange *r[2][ZG_MB_NTABLES];
	uint32_t n[2][ZG_MB_NTABLES], cap[2][ZG_MB_NTABLES];
};

struct seg_builder {
	struct seg_policy *p; /* NULL once compiled */
	bool spent;
	seg_diag_fn diag;
	void *arg;
	size_t nerr, nwarn;
	const char *last_file;  /* interned in p->arena */
	struct seg_cbuild *cb;  /* parallel to p->conds */
	uint32_t ncb, capcb;
	struct seg_origin *bo;  /* parallel to p->binds */
	uint32_t capbo;
	size_t nranges;         /* all ranges, against SEG_MAX_RANGES_TOTAL */
};

void seg_berr(struct seg_builder *b, const struct seg_origin *o,
	      const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void seg_bwarn(struct seg_builder *b, const struct seg_origin *o,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *seg_where(const char *file, int line, char *buf, size_t len);
int seg_grow(void **arr, uint32_t *cap, uint32_t n, size_t el, uint32_t max);
struct seg_conduit *seg_cond_get(struct seg_builder *b, int c,
				 const struct seg_origin *o);
long seg_dev_find(const struct seg_policy *p, const char *id);

#endif /* ZG_SEG_BUILD_H */
