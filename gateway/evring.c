/*
 * evring.c: see evring.h.  Lines are malloc'd to their length, so the
 * ring costs what the events cost (at most EVRING_CAP * EVRING_LINE_MAX).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "gateway/evring.h"
#include "gateway/metrics.h"

static char *lines[EVRING_CAP];
static uint64_t seqs[EVRING_CAP];
static uint64_t total;

struct sub {
	evring_fn fn;
	void *arg;
};

static struct sub subs[EVRING_SUBS_MAX];
static size_t nsubs;

void
evring_push(const char *json)
{
	size_t slot = (size_t)(total % EVRING_CAP), i;
	char *l = strndup(json, EVRING_LINE_MAX - 1);

	total++;
	free(lines[slot]);
	lines[slot] = l;
	seqs[slot] = total;
	if (l == NULL)
		return;
	/* A subscriber may unsubscribe itself: walk a copy. */
	{
		struct sub copy[EVRING_SUBS_MAX];
		size_t n = nsubs;

		memcpy(copy, subs, n * sizeof(subs[0]));
		for (i = 0; i < n; i++)
			copy[i].fn(copy[i].arg, total, l);
	}
}

void
evring_event(const char *kind, const char *severity, const char *json)
{
	metrics_counter_add2("zonegate_events_total", "kind", kind, "severity",
			     severity, 1);
	evring_push(json);
}

size_t
evring_last(size_t n, evring_fn fn, void *arg)
{
	uint64_t first, s;
	size_t done = 0;

	if (n > EVRING_CAP)
		n = EVRING_CAP;
	if (n > total)
		n = (size_t)total;
	first = total - n + 1;
	for (s = first; s <= total; s++) {
		size_t slot = (size_t)((s - 1) % EVRING_CAP);

		if (lines[slot] != NULL && seqs[slot] == s) {
			fn(arg, s, lines[slot]);
			done++;
		}
	}
	return done;
}

uint64_t
evring_total(void)
{
	return total;
}

int
evring_subscribe(evring_fn fn, void *arg)
{
	if (nsubs >= EVRING_SUBS_MAX)
		return -1;
	subs[nsubs].fn = fn;
	subs[nsubs].arg = arg;
	nsubs++;
	return 0;
}

void
evring_unsubscribe(evring_fn fn, void *arg)
{
	size_t i;

	for (i = 0; i < nsubs; i++) {
		if (subs[i].fn == fn && subs[i].arg == arg) {
			memmove(&subs[i], &subs[i + 1],
				(nsubs - i - 1) * sizeof(subs[0]));
			nsubs--;
			return;
		}
	}
}

void
evring_reset(void)
{
	size_t i;

	for (i = 0; i < EVRING_CAP; i++) {
		free(lines[i]);
		lines[i] = NULL;
	}
	total = 0;
	nsubs = 0;
}
