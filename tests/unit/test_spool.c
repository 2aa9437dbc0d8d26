/*
 * test_spool: the durable spool (gateway/spool.c) on real files in a
 * temporary directory, and the envelope (bus_envelope).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/bus.h"
#include "gateway/spool.h"
#include "tests/unit/tap.h"

static char dir[256];
static char err[512], rep[2048];

static struct spool_opts
opts(uint64_t seg, uint64_t max, uint64_t zone, int full)
{
	struct spool_opts o = { .dir = dir, .segment_size = seg,
				.max_bytes = max, .max_bytes_per_zone = zone,
				.fsync = SPOOL_FSYNC_BATCH, .on_full = full };

	return o;
}

static int
add(struct spool *s, const char *zone, size_t len)
{
	static char pay[8192];
	struct spool_rec r;

	memset(pay, 'x', sizeof(pay));
	r.seq = spool_next_seq(s);
	r.ts_ms = 1700000000000LL + (int64_t)r.seq;
	r.topic = "t/x";
	r.topic_len = 3;
	r.zone = zone;
	r.zone_len = zone ? strlen(zone) : 0;
	r.payload = pay;
	r.len = len;
	return spool_append(s, &r, err, sizeof(err));
}

/* Read everything from seq `from': count, and check rising seqs. */
static uint64_t
read_all(struct spool *s, uint64_t from, uint64_t *first, uint64_t *last,
	 bool *rising)
{
	struct spool_cursor c;
	struct spool_rec r;
	uint64_t n = 0, prev = 0;

	*rising = true;
	*first = *last = 0;
	spool_sync(s, NULL, 0);
	spool_seek(s, &c, from);
	while (spool_read(s, &c, &r, err, sizeof(err)) == 1) {
		if (n == 0)
			*first = r.seq;
		else if (r.seq != prev + 1)
			*rising = false;
		prev = *last = r.seq;
		n++;
	}
	return n;
}

static void
rmrf(const char *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d);
}

static char *
last_segment(char *buf, size_t len)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/*.seg | tail -n 1", dir);
	p = popen(cmd, "r");
	if (p == NULL || fgets(buf, (int)len, p) == NULL)
		buf[0] = '\0';
	if (p)
		pclose(p);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void
test_records(void)
{
	uint8_t buf[512];
	struct spool_rec r = { 7, 1234, "a/b", 3, "z1", 2, "{\"v\":1}", 7 }, p;
	size_t n, used;
	int rc;

	n = spool_record_encode(buf, sizeof(buf), &r);
	ok(n == SPOOL_REC_HEADER + 3 + 2 + 7, "record encodes to header + fields");
	rc = spool_record_parse(buf, n, &p, &used);
	ok(rc == SPOOL_PARSE_OK && used == n && p.seq == 7 && p.ts_ms == 1234 &&
		   p.topic_len == 3 && memcmp(p.topic, "a/b", 3) == 0 &&
		   p.zone_len == 2 && p.len == 7 &&
		   memcmp(p.payload, "{\"v\":1}", 7) == 0,
	   "record parses back to the same fields");
	ok(spool_record_parse(buf, n - 1, &p, &used) == SPOOL_PARSE_SHORT &&
		   used == n,
	   "a prefix is SHORT and says how much is needed");
	buf[n - 1] ^= 1;
	ok(spool_record_parse(buf, n, &p, &used) == SPOOL_PARSE_BAD,
	   "one flipped payload bit fails the CRC");
	buf[n - 1] ^= 1;
	buf[0] ^= 1;
	ok(spool_record_parse(buf, n, &p, &used) == SPOOL_PARSE_BAD,
	   "a bad magic is BAD");
	r.topic_len = 0;
	ok(spool_record_encode(buf, sizeof(buf), &r) == 0,
	   "an empty topic is refused");
	ok(spool_crc32c(0, "123456789", 9) == 0xe3069283U,
	   "CRC32C check value of \"123456789\"");
}

static int
state_cb(void *arg, const char *name, uint64_t acked)
{
	int *n = arg;

	(void)name;
	(void)acked;
	(*n)++;
	return 0;
}

static void
test_state_parse(void)
{
	const char *good = "zonegate-spool-state 1\nnext_seq 42\nuplink mqtt/main 40\n";
	uint64_t next;
	int n = 0;

	ok(spool_state_parse(good, strlen(good), &next, state_cb, &n) == 0 &&
		   next == 42 && n == 1,
	   "state file parses: next_seq and one uplink");
	ok(spool_state_parse(good, strlen(good) - 1, &next, NULL, NULL) < 0,
	   "a state file without its last newline is torn: refused");
	ok(spool_state_parse("zonegate-spool-state 1\nuplink a b\n", 33, &next,
			     NULL, NULL) < 0,
	   "a non-numeric position is refused");
	ok(spool_state_parse("zonegate-spool-state 1\nnext_seq 99999999999999999999\n",
			     52, &next, NULL, NULL) < 0,
	   "a sequence number beyond 64 bits is refused");
}

static void
test_append_recover(void)
{
	struct spool_opts o = opts(4096, 1 << 20, 0, SPOOL_FULL_DROP_OLDEST);
	struct spool_stats st;
	struct spool *s, *s2;
	uint64_t first, last, acked;
	bool rising;
	char seg[512];
	int i, fails = 0, fd;

	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	ok(s != NULL && spool_next_seq(s) == 1, "a new spool starts at seq 1");
	if (s == NULL) {
		diag("%s", err);
		return;
	}
	s2 = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	ok(s2 == NULL && strstr(err, "in use") != NULL,
	   "a second opener of the same directory is refused");
	spool_close(s2);
	for (i = 0; i < 100; i++)
		fails += add(s, NULL, 100) < 0;
	ok(fails == 0, "100 appends succeed");
	ok(spool_durable_seq(s) == 0,
	   "batch: nothing is durable before the group commit");
	ok(read_all(s, 1, &first, &last, &rising) == 100 && first == 1 &&
		   last == 100 && rising,
	   "after spool_sync every record reads back, seq 1..100 in order");
	spool_get_stats(s, &st);
	ok(st.segments > 1 && st.fsyncs >= 1,
	   "records span several 4 KiB segments (%" PRIu64 ")", st.segments);
	spool_close(s);

	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_get_stats(s, &st);
	ok(s != NULL && st.recovered_records == 100 && st.torn_tails == 0 &&
		   spool_next_seq(s) == 101,
	   "reopen recovers 100 records, next seq 101");
	ok(spool_uplink_attach(s, "u/one", &acked) == 0 && acked == 0,
	   "a new uplink starts before the oldest record");
	spool_uplink_ack(s, "u/one", 60);
	ok(spool_checkpoint(s, err, sizeof(err)) == 0, "checkpoint saves");
	spool_get_stats(s, &st);
	ok(st.records < 100 && st.records >= 40 &&
		   read_all(s, 61, &first, &last, &rising) == 40 && first == 61,
	   "acknowledged segments are removed, the rest is kept (%" PRIu64
	   " records)", st.records);
	spool_close(s);

	/* Tear the last record: cut the file in the middle of it. */
	last_segment(seg, sizeof(seg));
	fd = open(seg, O_RDWR);
	{
		struct stat sb;

		fstat(fd, &sb);
		ok(ftruncate(fd, sb.st_size - 7) == 0, "tail record torn by hand");
		close(fd);
	}
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_get_stats(s, &st);
	ok(s != NULL && st.torn_tails == 1 && st.truncated_bytes > 0 &&
		   strstr(rep, "torn") != NULL,
	   "recovery finds the torn tail, cuts it, says so: %s", rep);
	ok(spool_uplink_attach(s, "u/one", &acked) == 0 && acked == 60,
	   "the uplink's acknowledged position survived (60)");
	ok(read_all(s, 61, &first, &last, &rising) == 39 && last == 99 && rising,
	   "records 61..99 remain; the torn 100 is gone");
	ok(spool_next_seq(s) == 101,
	   "the sequence continues after the highest number ever given (101)");
	ok(add(s, NULL, 10) == 0 && spool_next_seq(s) == 102,
	   "appending after repair works");
	spool_close(s);

	/* Garbage after the last record (a torn header). */
	last_segment(seg, sizeof(seg));
	fd = open(seg, O_WRONLY | O_APPEND);
	ok(write(fd, "ZGR1garbage", 11) == 11, "garbage appended by hand");
	close(fd);
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_get_stats(s, &st);
	ok(s != NULL && st.torn_tails == 1 && st.truncated_bytes == 11,
	   "11 bytes of garbage are cut off");
	spool_close(s);

	/* A segment with a destroyed header is set aside. */
	last_segment(seg, sizeof(seg));
	fd = open(seg, O_WRONLY);
	ok(pwrite(fd, "XXXX", 4, 0) == 4, "segment header destroyed by hand");
	close(fd);
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_get_stats(s, &st);
	ok(s != NULL && st.corrupt_segments == 1 && strstr(rep, ".corrupt"),
	   "a segment with a bad header is renamed *.corrupt: %s", rep);
	ok(s != NULL && spool_next_seq(s) == 102,
	   "the state file still prevents reuse of sequence numbers");
	spool_close(s);
	rmrf(dir);
}

static void
test_bounds(void)
{
	struct spool_opts o = opts(4096, 16384, 0, SPOOL_FULL_DROP_OLDEST);
	struct spool_stats st;
	struct spool *s;
	uint64_t acked, first = 0, last = 0, n;
	bool rising;
	int i, fails = 0;

	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_uplink_attach(s, "u/slow", &acked);
	for (i = 0; i < 400; i++)
		fails += add(s, NULL, 100) < 0;
	spool_get_stats(s, &st);
	ok(fails == 0 && st.bytes <= 16384 && st.dropped_records > 0,
	   "drop_oldest: 400 appends into 16 KiB succeed, %" PRIu64
	   " unacknowledged records dropped, %" PRIu64 " bytes kept",
	   st.dropped_records, st.bytes);
	n = read_all(s, 1, &first, &last, &rising);
	ok(n > 0 && first > 1 && last == 400 && rising,
	   "the newest records are kept, the oldest gone (first %" PRIu64 ")",
	   first);
	spool_close(s);
	rmrf(dir);

	o.on_full = SPOOL_FULL_PAUSE;
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_uplink_attach(s, "u/slow", &acked);
	for (i = 0; i < 400; i++)
		if (add(s, NULL, 100) < 0)
			break;
	spool_get_stats(s, &st);
	ok(i < 400 && errno == ENOBUFS && st.refused_full == 1 &&
		   st.dropped_records == 0,
	   "pause: appends are refused once full (%d taken), nothing dropped", i);
	spool_uplink_ack(s, "u/slow", (uint64_t)i / 2);
	ok(add(s, NULL, 100) == 0,
	   "pause: once acks free segments, appends are taken again");
	spool_close(s);
	rmrf(dir);

	o = opts(4096, 65536, 8192, SPOOL_FULL_DROP_OLDEST);
	o.on_zone_full = SPOOL_ZONE_REFUSE;
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_uplink_attach(s, "u/slow", &acked);
	for (i = 0; i < 200; i++)
		if (add(s, "noisy", 100) < 0)
			break;
	ok(i < 200 && errno == EDQUOT,
	   "a zone over max_bytes_per_zone is refused (%d taken)", i);
	ok(spool_zone_bytes(s, "noisy") <= 8192,
	   "the zone holds at most its bound");
	ok(add(s, "quiet", 100) == 0 && add(s, NULL, 100) == 0,
	   "other zones are still taken");
	spool_get_stats(s, &st);
	ok(st.refused_zone >= 1, "refusals per zone are counted");
	spool_close(s);
	rmrf(dir);
}

struct zev {
	int over, under, refusals;
	uint64_t dropped;
};

/* Zone callback: counts what it saw for zone "noisy". */
static void
zcb(void *arg, int ev, const struct spool_zone_stats *z, uint64_t n)
{
	struct zev *v = arg;

	if (strcmp(z->zone, "noisy") != 0)
		return;
	if (ev == SPOOL_ZONE_OVER)
		v->over++;
	else if (ev == SPOOL_ZONE_UNDER)
		v->under++;
	else if (ev == SPOOL_ZONE_DROPPED)
		v->dropped += n;
	else if (ev == SPOOL_ZONE_REFUSED)
		v->refusals++;
}

#define ZN 600

/*
 * Per-zone bounds with drop_oldest: a noisy zone loses its oldest
 * records, the others keep every one, in order, across a reader in the
 * middle of a rewritten segment, a restart and a stray compaction file.
 */
static void
test_zone_drop(void)
{
	static const struct spool_zone_limit lims[] = {
		{ "big", 0 },       /* unbounded despite the default */
		{ "quiet", 65536 }, /* room for all it sends here */
	};
	static char kind[4 * ZN + 8]; /* by seq: n(oisy) q(uiet) b(ig) */
	struct spool_opts o = opts(4096, 1 << 20, 8192, SPOOL_FULL_DROP_OLDEST);
	struct spool_zone_stats zs;
	struct spool_cursor c;
	struct spool_rec r;
	struct spool_stats st;
	struct zev v = { 0, 0, 0, 0 };
	struct spool *s;
	uint64_t acked, prev = 0, nq = 0, nb = 0, nn = 0, seen_q = 0, seen_b = 0;
	uint64_t seen_n = 0, bytes_q, bytes_n, bytes_b, next, recs, first_n = 0;
	uint64_t last_n = 0, rsz = spool_record_size(3, 5, 200);
	bool rising = true, q_all = true, last_n_kept = false, first_n_gone;
	char path[512];
	int i, fails = 0, rc, fd;

	o.zone_limits = lims;
	o.nzone_limits = 2;
	o.zone_cb = zcb;
	o.zone_cb_arg = &v;
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_uplink_attach(s, "u/slow", &acked);
	for (i = 0; i < 6; i++) {
		kind[spool_next_seq(s)] = 'n';
		add(s, "noisy", 200);
		kind[spool_next_seq(s)] = 'q';
		add(s, "quiet", 200);
		nn++;
		nq++;
	}
	/* a reader part-way through the first segment */
	spool_sync(s, NULL, 0);
	spool_seek(s, &c, 1);
	for (i = 0; i < 3; i++)
		spool_read(s, &c, &r, err, sizeof(err));
	prev = r.seq;
	for (i = 0; i < ZN; i++) {
		if (spool_next_seq(s) >= sizeof(kind))
			break;
		kind[spool_next_seq(s)] = 'n';
		if (first_n == 0)
			first_n = spool_next_seq(s);
		last_n = spool_next_seq(s);
		fails += add(s, "noisy", 200) < 0;
		nn++;
		if (i % 5 == 0) {
			kind[spool_next_seq(s)] = 'q';
			fails += add(s, "quiet", 200) < 0;
			nq++;
		}
		if (i % 7 == 0) {
			kind[spool_next_seq(s)] = 'b';
			fails += add(s, "big", 200) < 0;
			nb++;
		}
	}
	ok(fails == 0, "drop_oldest per zone: every append is taken (%d refused)",
	   fails);
	ok(spool_zone_bytes(s, "noisy") <= 8192 &&
		   spool_zone_bytes(s, "noisy") > 8192 / 2,
	   "the noisy zone holds at most its bound (%" PRIu64 " bytes)",
	   spool_zone_bytes(s, "noisy"));
	ok(spool_zone_bytes(s, "quiet") == nq * rsz &&
		   spool_zone_bytes(s, "big") == nb * spool_record_size(3, 3, 200),
	   "the quiet zone and the unbounded zone keep every byte");
	/* the reader goes on where it was */
	spool_sync(s, NULL, 0);
	while ((rc = spool_read(s, &c, &r, err, sizeof(err))) == 1) {
		if (r.seq <= prev)
			rising = false;
		prev = r.seq;
		if (kind[r.seq] == 'q')
			seen_q++;
	}
	ok(rc == 0 && rising && seen_q == nq - 1,
	   "a reader inside a rewritten segment goes on in order, missing no quiet record (%" PRIu64 "/%" PRIu64 ")",
	   seen_q, nq - 1); /* seq 2, read before, was quiet */
	/* everything from the start */
	spool_seek(s, &c, 1);
	prev = 0;
	rising = true;
	seen_q = 0;
	first_n_gone = true;
	while ((rc = spool_read(s, &c, &r, err, sizeof(err))) == 1) {
		if (r.seq <= prev)
			rising = false;
		prev = r.seq;
		seen_q += kind[r.seq] == 'q';
		seen_b += kind[r.seq] == 'b';
		seen_n += kind[r.seq] == 'n';
		if (r.seq == 1 || r.seq == first_n)
			first_n_gone = false;
		if (r.seq == last_n)
			last_n_kept = true;
		if (kind[r.seq] == 'q' &&
		    (r.zone_len != 5 || memcmp(r.zone, "quiet", 5) != 0))
			q_all = false;
	}
	spool_get_stats(s, &st);
	ok(rc == 0 && rising && seen_q == nq && seen_b == nb && q_all,
	   "every quiet and big record is kept, in order (%" PRIu64 " quiet, %" PRIu64 " big)",
	   seen_q, seen_b);
	ok(first_n_gone && last_n_kept && seen_n < nn,
	   "the noisy zone lost its oldest records and kept its newest");
	ok(st.zone_dropped == nn - seen_n && st.dropped_records == 0 &&
		   st.records == seen_q + seen_b + seen_n,
	   "drops are counted: %" PRIu64 " noisy records dropped", st.zone_dropped);
	ok(v.over == 1 && v.under == 0 && v.dropped == st.zone_dropped &&
		   v.refusals == 0,
	   "one episode reported while nothing is acknowledged; drops reported with counts");
	for (i = 0; spool_zone_get(s, i, &zs) == 0; i++)
		if (strcmp(zs.zone, "noisy") == 0)
			break;
	ok(spool_zone_get(s, i, &zs) == 0 && zs.max_bytes == 8192 && zs.over &&
		   zs.dropped_records == st.zone_dropped && zs.episodes == 1 &&
		   zs.drops > 0 && st.compactions == zs.drops,
	   "spool_zone_get() shows the zone's bound, episode and drops");
	for (i = 0; spool_zone_get(s, i, &zs) == 0; i++)
		if (strcmp(zs.zone, "big") == 0)
			break;
	ok(spool_zone_get(s, i, &zs) == 0 && strcmp(zs.zone, "big") == 0 &&
		   zs.max_bytes == 0,
	   "zone_limits override the default bound (0: unbounded)");

	/* restart: the zones come back from the records on disk */
	bytes_q = spool_zone_bytes(s, "quiet");
	bytes_n = spool_zone_bytes(s, "noisy");
	bytes_b = spool_zone_bytes(s, "big");
	next = spool_next_seq(s);
	recs = st.records;
	spool_close(s);
	snprintf(path, sizeof(path), "%s/%020d.tmp", dir, 1);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	if (fd >= 0) {
		if (write(fd, "half a compaction", 17) != 17)
			fprintf(stderr, "cannot write %s\n", path);
		close(fd);
	}
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_get_stats(s, &st);
	ok(s != NULL && spool_zone_bytes(s, "quiet") == bytes_q &&
		   spool_zone_bytes(s, "noisy") == bytes_n &&
		   spool_zone_bytes(s, "big") == bytes_b &&
		   spool_next_seq(s) == next && st.recovered_records == recs &&
		   st.corrupt_segments == 0 && st.torn_tails == 0,
	   "after a restart each zone's bytes and the sequence are recovered");
	ok(access(path, F_OK) < 0 && errno == ENOENT,
	   "a stray compaction file is removed at open");
	spool_uplink_attach(s, "u/slow", &acked);
	v.over = 0;
	for (i = 0; i < 50; i++)
		fails += add(s, "noisy", 200) < 0;
	ok(fails == 0 && spool_zone_bytes(s, "noisy") <= 8192 && v.over == 1,
	   "after the restart the bound holds and drops go on");
	ok(add(s, "noisy", 8192) < 0 && errno == EDQUOT,
	   "a record larger than its zone's bound alone is refused (8192 + header)");
	/* acknowledged: the episode ends */
	spool_uplink_ack(s, "u/slow", spool_next_seq(s) - 1);
	add(s, "quiet", 200);
	spool_checkpoint(s, NULL, 0);
	ok(v.under == 1 && spool_zone_bytes(s, "noisy") <= 8192 / 2,
	   "once acknowledgements bring the zone to half its bound, its episode ends");
	spool_close(s);
	rmrf(dir);
}

/*
 * A full disk, simulated with RLIMIT_FSIZE: writes past the limit fail
 * (EFBIG, partially or wholly), like ENOSPC for the spool.
 */
static void
test_disk_full(void)
{
	struct spool_opts o = opts(1 << 20, 4 << 20, 0, SPOOL_FULL_PAUSE);
	struct spool_stats st;
	struct rlimit old, lim;
	struct spool *s;
	uint64_t first = 0, last = 0;
	bool rising;
	int i, rc = 0;

	signal(SIGXFSZ, SIG_IGN);
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 10000;
	setrlimit(RLIMIT_FSIZE, &lim);
	for (i = 0; i < 200; i++)
		if ((rc = add(s, NULL, 300)) < 0)
			break;
	setrlimit(RLIMIT_FSIZE, &old);
	spool_get_stats(s, &st);
	ok(rc < 0 && st.enospc == 1 && strstr(err, "write") != NULL,
	   "a write the file system refuses fails clearly and is counted: %s",
	   err);
	ok(add(s, NULL, 300) == 0, "once space is back, appends work");
	spool_close(s);
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_get_stats(s, &st);
	ok(s != NULL && st.torn_tails == 0 &&
		   read_all(s, 1, &first, &last, &rising) == (uint64_t)i + 1 &&
		   rising,
	   "the failed write left no torn record behind (%d + 1 records)", i);
	spool_close(s);
	rmrf(dir);
}

static void
test_envelope(void)
{
	char out[1024];
	long n;

	const char *pl = " {\"a\":1, \"b\":[true,null,{\"c\":\"d\\n\"}]} ";

	n = bus_envelope(out, sizeof(out), "gw1", 42, 1700000000123LL, "t/x",
			 "cell1", "example", pl, strlen(pl), false);
	ok(n > 0 && strcmp(out, "{\"gateway\":\"gw1\",\"seq\":42,\"ts\":\"2023-11-14T22:13:20.123Z\",\"topic\":\"t/x\",\"zone\":\"cell1\",\"source\":\"example\",\"a\":1,\"b\":[true,null,{\"c\":\"d\\n\"}]}") == 0,
	   "envelope wraps the payload's members: %s", out);
	ok(bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x", "{}", 2,
			false) > 0 &&
		   strstr(out, "\"zone\":null,\"source\":\"x\"}") != NULL,
	   "an empty object and no zone");
	ok(bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x", "[1]", 3,
			false) == -1,
	   "a payload that is not an object is refused");
	ok(bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x",
			"{\"a\":1}{}", 9, false) == -1,
	   "trailing bytes after the object are refused");
	ok(bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x",
			"{\"a\":01}", 8, false) == -1,
	   "a malformed number is refused");
	ok(bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x",
			"{\"u\":\"\xc3\xa9\xe2\x82\xac\"}", 13, false) > 0 &&
		   bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x",
				"{\"u\":\"\xc3\"}", 9, false) == -1 &&
		   bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x",
				"{\"u\":\"\xed\xa0\x80\"}", 11, false) == -1,
	   "strings must be UTF-8: accepted when well-formed, truncated or surrogate refused");
	ok(bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x",
			"{\"seq\":5}", 9, false) == -2,
	   "a payload using an envelope key is refused");
	ok(bus_envelope(out, sizeof(out), "gw", 1, 0, "t", NULL, "x",
			"{\"ts\":\"x\",\"kind\":\"k\",\"source\":\"s\"}", 34,
			true) > 0 &&
		   strstr(out, "\"kind\":\"k\"}") != NULL &&
		   strstr(out, "\"ts\":\"x\"") == NULL,
	   "strip (security events) leaves envelope keys out: %s", out);
	ok(bus_envelope(out, 40, "gw", 1, 0, "t", NULL, "x", "{\"a\":1}", 7,
			false) == -3,
	   "a too small buffer is reported, not overrun");
}

/*
 * The backlog of an uplink (spool_backlog, spool_seek_after): records and
 * bytes after its acknowledged position, across segments, after a
 * restart, and after drop_oldest removed records under it.
 */
static void
test_backlog(void)
{
	struct spool_opts o = opts(4096, 1 << 20, 0, SPOOL_FULL_DROP_OLDEST);
	struct spool_backlog bl;
	struct spool_cursor c;
	struct spool_rec r;
	struct spool *s;
	uint64_t acked, rec = spool_record_size(3, 0, 100);
	int i, fails = 0;

	rmrf(dir);
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_uplink_attach(s, "u/a", &acked);
	for (i = 0; i < 100; i++)
		fails += add(s, NULL, 100) < 0;
	spool_sync(s, NULL, 0);
	spool_seek_after(s, &c, acked);
	spool_backlog(s, &c, &bl);
	ok(fails == 0 && bl.records == 100 && bl.bytes == 100 * rec &&
		   bl.oldest_ts_ms == 1700000000001LL,
	   "nothing acknowledged: 100 records, %" PRIu64 " bytes, oldest seq 1 (%" PRIu64 ", %" PRIu64 ")",
	   100 * rec, bl.records, bl.bytes);
	/* past 37 records (the 4 KiB segments hold 30 each): mid-segment */
	spool_seek_after(s, &c, 37);
	spool_backlog(s, &c, &bl);
	ok(bl.records == 63 && bl.bytes == 63 * rec &&
		   bl.oldest_ts_ms == 1700000000038LL,
	   "acknowledged up to 37: 63 records left, oldest seq 38 (%" PRIu64 ")",
	   bl.records);
	/* a reading cursor gives the same position after reading 37 */
	spool_seek(s, &c, 1);
	for (i = 0; i < 37; i++)
		spool_read(s, &c, &r, NULL, 0);
	spool_backlog(s, &c, &bl);
	ok(bl.records == 63 && bl.bytes == 63 * rec,
	   "  ... and a cursor that read 37 records says the same");
	spool_seek_after(s, &c, 100);
	spool_backlog(s, &c, &bl);
	ok(bl.records == 0 && bl.bytes == 0 && bl.oldest_ts_ms == 0,
	   "everything acknowledged: nothing owed, no oldest");
	spool_uplink_ack(s, "u/a", 37);
	spool_close(s);

	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	spool_uplink_attach(s, "u/a", &acked);
	spool_seek_after(s, &c, acked);
	spool_backlog(s, &c, &bl);
	ok(acked == 37 && bl.records == 63 && bl.bytes == 63 * rec,
	   "after a restart the saved position gives the same backlog");
	spool_seek_after(s, &c, 10);  /* in the first segment ... */
	spool_checkpoint(s, NULL, 0); /* ... which goes: 1..30 acknowledged */
	spool_backlog(s, &c, &bl);
	ok(bl.records == 63 + 7 && bl.bytes == 70 * rec,
	   "a cursor in a removed segment counts from the oldest kept record (%" PRIu64 ")",
	   bl.records);
	spool_close(s);
	rmrf(dir);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/zgspool.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 1;
	rmdir(dir); /* spool_open creates it */
	plan(58 + 15);
	test_records();
	test_state_parse();
	test_append_recover();
	test_bounds();
	test_zone_drop();
	test_disk_full();
	test_envelope();
	test_backlog();
	rmrf(dir);
	return done_testing();
}
