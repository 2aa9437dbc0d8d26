/*
 * state.c: runtime state the host keeps across reloads: the runtime
 * quarantine set, a runtime island switch and the fail mode to use when
 * there is no policy at all.
 *
 * The set is a bounded open-addressing table of owned strings; removal
 * shifts the following cluster back instead of leaving tombstones, so a
 * long-running gateway that quarantines and releases devices never
 * degrades.  An empty set costs one comparison per decision.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "segments/seg_int.h"

struct seg_state *
seg_state_new(void)
{
	return calloc(1, sizeof(struct seg_state));
}

void
seg_state_free(struct seg_state *st)
{
	uint32_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->set.cap; i++)
		free((char *)st->set.e[i].key);
	seg_smap_free(&st->set);
	free(st);
}

bool
seg_state_has(const struct seg_state *st, const char *id, size_t len,
	      uint64_t hash)
{
	return st->set.n != 0 && seg_smap_get(&st->set, id, len, hash) >= 0;
}

/* Remove slot j and shift back the entries that probed past it. */
static void
set_remove(struct seg_smap *m, uint32_t j)
{
	uint32_t mask = m->cap - 1, k = j;

	free((char *)m->e[j].key);
	m->e[j].key = NULL;
	for (;;) {
		uint32_t home;

		k = (k + 1) & mask;
		if (m->e[k].key == NULL)
			break;
		home = (uint32_t)m->e[k].hash & mask;
		/* Move e[k] to j if its home is not within (j, k]. */
		if ((j < k) ? (home <= j || home > k) : (home <= j && home > k)) {
			m->e[j] = m->e[k];
			m->e[k].key = NULL;
			j = k;
		}
	}
	m->n--;
}

int
seg_quarantine_set(struct seg_state *st, const char *identity, bool on)
{
	size_t len;
	uint64_t h;
	long idx;
	char *dup;

	if (st == NULL || identity == NULL)
		return -1;
	len = strnlen(identity, SEG_IDENTITY_MAX + 1);
	if (len == 0 || len > SEG_IDENTITY_MAX)
		return -1;
	h = seg_hash(identity, len);
	idx = seg_smap_get(&st->set, identity, len, h);
	if (!on) {
		uint32_t j;

		if (idx < 0)
			return 0;
		for (j = (uint32_t)h & (st->set.cap - 1);; j = (j + 1) & (st->set.cap - 1))
			if (st->set.e[j].key != NULL && st->set.e[j].hash == h &&
			    st->set.e[j].len == len &&
			    memcmp(st->set.e[j].key, identity, len) == 0)
				break;
		set_remove(&st->set, j);
		return 0;
	}
	if (idx >= 0)
		return 0;
	if (st->set.n >= SEG_MAX_QUARANTINE)
		return -1;
	dup = malloc(len + 1);
	if (dup == NULL)
		return -1;
	memcpy(dup, identity, len + 1);
	if (seg_smap_put(&st->set, dup, len, h, 0) < 0) {
		free(dup);
		return -1;
	}
	return 0;
}

bool
seg_quarantined(const struct seg_state *st, const char *identity)
{
	size_t len;

	if (st == NULL || identity == NULL)
		return false;
	len = strnlen(identity, SEG_IDENTITY_MAX + 1);
	if (len == 0 || len > SEG_IDENTITY_MAX)
		return false;
	return seg_state_has(st, identity, len, seg_hash(identity, len));
}

size_t
seg_quarantine_count(const struct seg_state *st)
{
	return st ? st->set.n : 0;
}

void
seg_quarantine_foreach(const struct seg_state *st,
		       void (*fn)(void *arg, const char *identity), void *arg)
{
	uint32_t i;

	if (st == NULL || fn == NULL)
		return;
	for (i = 0; i < st->set.cap; i++)
		if (st->set.e[i].key != NULL)
			fn(arg, st->set.e[i].key);
}

void
seg_state_set_island(struct seg_state *st, bool on)
{
	if (st != NULL)
		st->island = on;
}

bool
seg_state_island(const struct seg_state *st)
{
	return st != NULL && st->island;
}

void
seg_state_set_fail_open(struct seg_state *st, bool open)
{
	if (st != NULL)
		st->fail_open = open;
}
