/*
 * table.c: the engine's storage helpers: a string arena and two
 * open-addressing hash maps (string -> index, 64-bit key -> index).
 *
 * The maps use linear probing at a load factor of at most 1/2, so a
 * lookup touches one or two cache lines.  Keys in a compiled policy come
 * from the configuration only; lookups with attacker-chosen strings can
 * collide but cannot lengthen the probe chains.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "segments/seg_int.h"

/* ---------------------------------------------------------------- */
/* arena */

#define ARENA_BLOCK 8192

struct seg_arena_blk {
	struct seg_arena_blk *next;
	size_t used, size;
	max_align_t data[];
};

/*
 * n bytes, aligned for any type, that live as long as the arena.  Big
 * requests get a block of their own.  NULL when out of memory.
 */
void *
seg_arena_alloc(struct seg_arena *a, size_t n)
{
	struct seg_arena_blk *b = a->head;
	size_t al = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	void *p;

	if (al < n)
		return NULL;
	if (b == NULL || b->size - b->used < al) {
		size_t size = al > ARENA_BLOCK ? al : ARENA_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		b->size = size;
		b->used = 0;
		/* Keep the fuller block behind a big one-off block. */
		if (a->head != NULL && al > ARENA_BLOCK) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	p = (char *)b->data + b->used;
	b->used += al;
	return p;
}

char *
seg_arena_strdup(struct seg_arena *a, const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	d = seg_arena_alloc(a, n + 1);
	if (d != NULL)
		memcpy(d, s, n + 1);
	return d;
}

void
seg_arena_free(struct seg_arena *a)
{
	struct seg_arena_blk *b, *next;

	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}

/* ---------------------------------------------------------------- */
/* hashing */

/*
 * A word-at-a-time multiplicative hash over two independent lanes (16
 * bytes a round), finished with an avalanche so that the low bits, which
 * index the tables, depend on every input bit.  Identities are 10..100
 * bytes and are hashed on every decision, so speed matters more here
 * than resistance to adversarial keys (see the note at the top).
 */
uint64_t
seg_hash(const char *s, size_t len)
{
	uint64_t a = 0x9e3779b97f4a7c15ull ^ (uint64_t)len;
	uint64_t b = 0xc2b2ae3d27d4eb4full;
	uint64_t w0, w1;

	while (len >= 16) {
		memcpy(&w0, s, 8);
		memcpy(&w1, s + 8, 8);
		a = (a ^ w0) * 0xff51afd7ed558ccdull;
		b = (b ^ w1) * 0xc4ceb9fe1a85ec53ull;
		a ^= a >> 29;
		b ^= b >> 31;
		s += 16;
		len -= 16;
	}
	if (len >= 8) {
		memcpy(&w0, s, 8);
		a = (a ^ w0) * 0xff51afd7ed558ccdull;
		a ^= a >> 29;
		s += 8;
		len -= 8;
	}
	/* The last 0..7 bytes, without a call to memcpy. */
	w1 = 0;
	while (len > 0) {
		len--;
		w1 = w1 << 8 | (uint8_t)s[len];
	}
	b = (b ^ w1) * 0xc4ceb9fe1a85ec53ull;
	a ^= (b << 23 | b >> 41);
	a ^= a >> 32;
	a *= 0x94d049bb133111ebull;
	a ^= a >> 29;
	return a;
}

/* ---------------------------------------------------------------- */
/* string map */

static int
smap_grow(struct seg_smap *m)
{
	uint32_t ncap = m->cap ? m->cap * 2 : 16, i;
	struct seg_smap_ent *ne;

	if (ncap < m->cap)
		return -1;
	ne = calloc(ncap, sizeof(*ne));
	if (ne == NULL)
		return -1;
	for (i = 0; i < m->cap; i++) {
		const struct seg_smap_ent *o = &m->e[i];
		uint32_t j;

		if (o->key == NULL)
			continue;
		for (j = (uint32_t)o->hash & (ncap - 1); ne[j].key != NULL;
		     j = (j + 1) & (ncap - 1))
			;
		ne[j] = *o;
	}
	free(m->e);
	m->e = ne;
	m->cap = ncap;
	return 0;
}

/* Insert key (not yet present; borrowed).  -1 when out of memory. */
int
seg_smap_put(struct seg_smap *m, const char *key, size_t len, uint64_t hash,
	     uint32_t idx)
{
	uint32_t j;

	if ((m->n + 1) * 2 > m->cap && smap_grow(m) < 0)
		return -1;
	for (j = (uint32_t)hash & (m->cap - 1); m->e[j].key != NULL;
	     j = (j + 1) & (m->cap - 1))
		;
	m->e[j].hash = hash;
	m->e[j].key = key;
	m->e[j].len = (uint32_t)len;
	m->e[j].idx = idx;
	m->n++;
	return 0;
}

/* The entry for key, or NULL. */
const struct seg_smap_ent *
seg_smap_find(const struct seg_smap *m, const char *key, size_t len,
	      uint64_t hash)
{
	uint32_t j;

	if (m->cap == 0)
		return NULL;
	for (j = (uint32_t)hash & (m->cap - 1); m->e[j].key != NULL;
	     j = (j + 1) & (m->cap - 1)) {
		const struct seg_smap_ent *e = &m->e[j];

		if (e->hash == hash && e->len == len &&
		    memcmp(e->key, key, len) == 0)
			return e;
	}
	return NULL;
}

/* The index stored for key, or -1. */
long
seg_smap_get(const struct seg_smap *m, const char *key, size_t len,
	     uint64_t hash)
{
	const struct seg_smap_ent *e = seg_smap_find(m, key, len, hash);

	return e ? (long)e->idx : -1;
}

void
seg_smap_free(struct seg_smap *m)
{
	free(m->e);
	memset(m, 0, sizeof(*m));
}

/* ---------------------------------------------------------------- */
/* 64-bit key map */

static uint32_t
kmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (uint32_t)k;
}

static int
kmap_grow(struct seg_kmap *m)
{
	uint32_t ncap = m->cap ? m->cap * 2 : 16, i;
	struct seg_kmap_ent *ne;

	if (ncap < m->cap)
		return -1;
	ne = calloc(ncap, sizeof(*ne));
	if (ne == NULL)
		return -1;
	for (i = 0; i < m->cap; i++) {
		uint32_t j;

		if (m->e[i].key == 0)
			continue;
		for (j = kmix(m->e[i].key) & (ncap - 1); ne[j].key != 0;
		     j = (j + 1) & (ncap - 1))
			;
		ne[j] = m->e[i];
	}
	free(m->e);
	m->e = ne;
	m->cap = ncap;
	return 0;
}

int
seg_kmap_put(struct seg_kmap *m, uint64_t key, uint32_t idx, uint16_t a,
	     uint16_t b)
{
	uint32_t j;

	if (key == 0)
		return -1;
	if ((m->n + 1) * 2 > m->cap && kmap_grow(m) < 0)
		return -1;
	for (j = kmix(key) & (m->cap - 1); m->e[j].key != 0;
	     j = (j + 1) & (m->cap - 1))
		;
	m->e[j].key = key;
	m->e[j].idx = idx;
	m->e[j].a = a;
	m->e[j].b = b;
	m->n++;
	return 0;
}

const struct seg_kmap_ent *
seg_kmap_find(const struct seg_kmap *m, uint64_t key)
{
	uint32_t j;

	if (m->cap == 0)
		return NULL;
	for (j = kmix(key) & (m->cap - 1); m->e[j].key != 0;
	     j = (j + 1) & (m->cap - 1))
		if (m->e[j].key == key)
			return &m->e[j];
	return NULL;
}

long
seg_kmap_get(const struct seg_kmap *m, uint64_t key)
{
	const struct seg_kmap_ent *e = seg_kmap_find(m, key);

	return e ? (long)e->idx : -1;
}

void
seg_kmap_free(struct seg_kmap *m)
{
	free(m->e);
	memset(m, 0, sizeof(*m));
}
