/*
 * upstat.c: see upstat.h.  A fixed array: a gateway has a handful of
 * uplinks, and a fixed array cannot grow.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <time.h>

#include "gateway/upstat.h"

static struct upstat table[UPSTAT_MAX];
static size_t ntable;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct upstat *
find(const char *name)
{
	size_t i;

	for (i = 0; i < ntable; i++)
		if (strncmp(table[i].name, name, UPSTAT_NAME_MAX - 1) == 0)
			return &table[i];
	return NULL;
}

int
upstat_set(const struct upstat *u)
{
	struct upstat *e;
	int64_t since;
	int changed;

	if (u == NULL || u->name[0] == '\0')
		return -1;
	e = find(u->name);
	if (e == NULL) {
		if (ntable >= UPSTAT_MAX)
			return -1;
		e = &table[ntable++];
		memset(e, 0, sizeof(*e));
		e->state = -1;
	}
	changed = e->state != u->state;
	since = u->since_ms != 0 ? u->since_ms : changed ? now_ms() : e->since_ms;
	*e = *u;
	e->since_ms = since;
	e->name[UPSTAT_NAME_MAX - 1] = '\0';
	e->kind[sizeof(e->kind) - 1] = '\0';
	e->target[UPSTAT_TEXT_MAX - 1] = '\0';
	e->last_error[UPSTAT_TEXT_MAX - 1] = '\0';
	return 0;
}

void
upstat_remove(const char *name)
{
	struct upstat *e = find(name);
	size_t i;

	if (e == NULL)
		return;
	i = (size_t)(e - table);
	memmove(&table[i], &table[i + 1], (ntable - i - 1) * sizeof(table[0]));
	ntable--;
}

size_t
upstat_count(void)
{
	return ntable;
}

const struct upstat *
upstat_get(size_t i)
{
	return i < ntable ? &table[i] : NULL;
}

const char *
upstat_state_name(int state)
{
	switch (state) {
	case UPSTAT_DOWN:
		return "down";
	case UPSTAT_CONNECTING:
		return "connecting";
	case UPSTAT_UP:
		return "up";
	default:
		return "unknown";
	}
}

void
upstat_reset(void)
{
	ntable = 0;
}
