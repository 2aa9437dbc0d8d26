/*
 * fuzz_spool: arbitrary bytes as a spool segment file, as a spool state
 * file and as a message payload -- the three things the northbound path
 * parses (gateway/spool.c, gateway/bus.c).
 *
 * Promises checked:
 *   - segment scan: `valid' never exceeds the input; with a good header
 *     it covers at least the header; every record it accepts re-encodes
 *     to exactly its bytes, carries rising sequence numbers, and a second
 *     scan of the valid prefix finds the same records and nothing torn
 *     (recovery truncates to `valid', so this is what the next start sees);
 *   - state file: a parse that succeeds yields names that spool_name_ok()
 *     accepts;
 *   - envelope: whatever bus_envelope() accepts it turns into one JSON
 *     object that bus_envelope() accepts again (stripping the envelope
 *     keys it added), within the output buffer.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/bus.h"
#include "gateway/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	const uint8_t *base;
	size_t off;
	uint64_t prev, n;
};

static void
rec_cb(void *arg, const struct spool_rec *r)
{
	struct ctx *c = arg;
	uint8_t buf[SPOOL_REC_HEADER + SPOOL_MAX_TOPIC + SPOOL_MAX_ZONE + 4096];
	size_t n, need = spool_record_size(r->topic_len, r->zone_len, r->len);

	if (r->seq <= c->prev && c->n > 0)
		abort();
	c->prev = r->seq;
	c->n++;
	if (need <= sizeof(buf)) {
		n = spool_record_encode(buf, sizeof(buf), r);
		if (n != need || memcmp(buf, c->base + c->off, n) != 0)
			abort();
	}
	c->off += need;
}

static int
name_cb(void *arg, const char *name, uint64_t acked)
{
	(void)arg;
	(void)acked;
	if (!spool_name_ok(name))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_scan sc, sc2;
	struct ctx c = { data, SPOOL_SEG_HEADER, 0, 0 };
	static char out[8192], out2[8192];
	uint64_t next;
	long n;

	if (spool_segment_scan(data, size, 0, &sc, rec_cb, &c) == 0) {
		if (!sc.header_ok || sc.valid > size || sc.valid < SPOOL_SEG_HEADER ||
		    c.off != sc.valid || c.n != sc.nrec)
			abort();
		if (spool_segment_scan(data, sc.valid, 0, &sc2, NULL, NULL) != 0 ||
		    sc2.nrec != sc.nrec || sc2.torn || sc2.valid != sc.valid)
			abort();
		if (sc.torn != (sc.valid != size))
			abort();
	} else if (sc.header_ok || sc.nrec != 0) {
		abort();
	}

	spool_state_parse((const char *)data, size, &next, name_cb, NULL);

	n = bus_envelope(out, sizeof(out), "gw", 1, 0, "t", "z", "s",
			 (const char *)data, size, false);
	if (n >= 0) {
		if ((size_t)n >= sizeof(out) || out[n] != '\0')
			abort();
		if (bus_envelope(out2, sizeof(out2), "gw", 2, 0, "t", NULL, "s",
				 out, (size_t)n, true) < 0 &&
		    (size_t)n + 64 < sizeof(out2))
			abort();
	}
	return 0;
}
