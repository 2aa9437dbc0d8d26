/*
 * bench_spool: the durable spool against the direct path, same run.
 *
 *  1. append throughput per fsync policy: spool_append() of 256-byte
 *     messages (batch: one spool_sync() per 64 records, as a busy loop
 *     iteration would) against write() of the same bytes to a plain file
 *     with the same syncing -- the ratio is the spool's overhead (record
 *     header, CRC32C, bounds, segment rotation);
 *  2. recovery time of a large spool (64 MiB; 1 GiB with ZG_BENCH_LARGE=1)
 *     against reading the same bytes with read() -- the ratio is what
 *     checking every record costs at start-up -- with the page cache warm,
 *     cold (the segment files evicted with posix_fadvise, nothing else),
 *     and cold with a torn tail (half a record after the last one: what a
 *     crash mid-write leaves; recovery cuts it and fdatasyncs);
 *  3. the per-zone bound at work: appends from a noisy zone (9 in 10,
 *     bounded at 4 MiB, so its oldest records keep being dropped by
 *     rewriting segments) and a quiet one, against the same appends with
 *     no bound -- the ratio is what dropping per zone costs.
 *
 * Runs in $TMPDIR (default /tmp); needs twice the spool size free.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/spool.h"

#define PAYLOAD 256
#define BATCH 64

static char base[256];

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
rmrf(const char *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d);
}

static struct spool *
open_spool(const char *dir, int fsync_mode, uint64_t max)
{
	struct spool_opts o = { .dir = dir, .segment_size = 16 << 20,
				.max_bytes = max, .fsync = fsync_mode,
				.on_full = SPOOL_FULL_DROP_OLDEST };
	char err[256], rep[256];
	struct spool *s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));

	if (s == NULL) {
		fprintf(stderr, "bench_spool: %s\n", err);
		exit(1);
	}
	return s;
}

static double
spool_run(int mode, long n)
{
	char dir[300], pay[PAYLOAD], err[256];
	struct spool_rec r = { 0, 0, "telemetry/plc-1", 15, "cell1", 5, pay,
			       PAYLOAD };
	struct spool *s;
	double t0, t;
	long i;

	memset(pay, 'v', sizeof(pay));
	snprintf(dir, sizeof(dir), "%s/append", base);
	s = open_spool(dir, mode, 1ULL << 32);
	t0 = now();
	for (i = 0; i < n; i++) {
		r.seq = spool_next_seq(s);
		r.ts_ms = (int64_t)i;
		if (spool_append(s, &r, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_spool: %s\n", err);
			exit(1);
		}
		if ((i + 1) % BATCH == 0)
			spool_sync(s, NULL, 0);
	}
	spool_sync(s, NULL, 0);
	t = now() - t0;
	spool_close(s);
	rmrf(dir);
	return (double)n / t;
}

/*
 * Appends in two zones, 9 noisy : 1 quiet, 1 MiB segments, no fsync.
 * bounded: the noisy zone is held at 4 MiB (drop_oldest).  Returns
 * messages per second; *compactions gets the segments rewritten.
 */
static double
zone_run(bool bounded, long n, uint64_t *compactions)
{
	static const struct spool_zone_limit lim[] = { { "noisy", 4 << 20 } };
	struct spool_opts o = { .dir = NULL, .segment_size = 1 << 20,
				.max_bytes = 1ULL << 32,
				.fsync = SPOOL_FSYNC_NEVER,
				.on_full = SPOOL_FULL_DROP_OLDEST };
	char dir[300], pay[PAYLOAD], err[256], rep[256];
	struct spool_rec r = { 0, 0, "telemetry/plc-1", 15, "noisy", 5, pay,
			       PAYLOAD };
	struct spool_stats st;
	struct spool *s;
	double t0, t;
	long i;

	memset(pay, 'v', sizeof(pay));
	snprintf(dir, sizeof(dir), "%s/zones", base);
	o.dir = dir;
	if (bounded) {
		o.zone_limits = lim;
		o.nzone_limits = 1;
	}
	s = spool_open(&o, rep, sizeof(rep), err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "bench_spool: %s\n", err);
		exit(1);
	}
	t0 = now();
	for (i = 0; i < n; i++) {
		r.seq = spool_next_seq(s);
		r.zone = i % 10 == 9 ? "quiet" : "noisy";
		if (spool_append(s, &r, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_spool: %s\n", err);
			exit(1);
		}
	}
	t = now() - t0;
	spool_get_stats(s, &st);
	*compactions = st.compactions;
	spool_close(s);
	rmrf(dir);
	return (double)n / t;
}

/* The direct path: the same bytes per message, written to one file. */
static double
direct_run(int mode, long n)
{
	char path[300], buf[SPOOL_REC_HEADER + 20 + PAYLOAD];
	double t0, t;
	long i;
	int fd;

	memset(buf, 'v', sizeof(buf));
	snprintf(path, sizeof(path), "%s/direct", base);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	t0 = now();
	for (i = 0; i < n; i++) {
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			exit(1);
		if (mode == SPOOL_FSYNC_ALWAYS ||
		    (mode == SPOOL_FSYNC_BATCH && (i + 1) % BATCH == 0))
			fdatasync(fd);
	}
	if (mode != SPOOL_FSYNC_NEVER)
		fdatasync(fd);
	t = now() - t0;
	close(fd);
	unlink(path);
	return (double)n / t;
}

/* Every segment file of dir, in name order, through cb. */
static void
each_segment(const char *dir, void (*cb)(const char *path, void *arg),
	     void *arg)
{
	char cmd[400];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/*.seg", dir);
	p = popen(cmd, "r");
	while (p != NULL && fgets(cmd, sizeof(cmd), p) != NULL) {
		cmd[strcspn(cmd, "\n")] = '\0';
		cb(cmd, arg);
	}
	if (p != NULL)
		pclose(p);
}

/* Drop a file's pages from the page cache (only ours: others run too). */
static void
evict(const char *path, void *arg)
{
	int fd = open(path, O_RDONLY);

	(void)arg;
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static void
read_whole(const char *path, void *arg)
{
	static char buf[1 << 16];
	uint64_t *bytes = arg;
	ssize_t got;
	int fd = open(path, O_RDONLY);

	while (fd >= 0 && (got = read(fd, buf, sizeof(buf))) > 0)
		*bytes += (uint64_t)got;
	if (fd >= 0)
		close(fd);
}

static void
last_segment(const char *path, void *arg)
{
	snprintf(arg, 300, "%s", path);
}

/* Append half a record to the last segment: what a crash mid-write leaves. */
static void
tear_tail(const char *dir)
{
	char path[300] = "", pay[PAYLOAD];
	uint8_t rec[SPOOL_REC_HEADER + 32 + PAYLOAD];
	struct spool_rec r = { 1ULL << 40, 0, "telemetry/plc-1", 15, "cell1",
			       5, pay, PAYLOAD };
	size_t n;
	int fd;

	memset(pay, 'v', sizeof(pay));
	each_segment(dir, last_segment, path);
	n = spool_record_encode(rec, sizeof(rec), &r);
	fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0 || n == 0 || write(fd, rec, n / 2) != (ssize_t)(n / 2)) {
		fprintf(stderr, "bench_spool: cannot tear %s\n", path);
		exit(1);
	}
	fdatasync(fd);
	close(fd);
}

/*
 * Time spool_open() (recovery: every record's CRC checked) against read()
 * of the same files, both from a warm or (evicted) cold page cache.
 */
static void
recovery_case(const char *dir, uint64_t size, const char *what, bool cold)
{
	struct spool_stats st;
	struct spool *s;
	uint64_t bytes = 0;
	double t0, ts, td;

	if (cold)
		each_segment(dir, evict, NULL);
	t0 = now();
	s = open_spool(dir, SPOOL_FSYNC_NEVER, size + (64 << 20));
	ts = now() - t0;
	spool_get_stats(s, &st);
	spool_close(s);
	if (cold)
		each_segment(dir, evict, NULL);
	t0 = now();
	each_segment(dir, read_whole, &bytes);
	td = now() - t0;
	printf("%-34s %12.3f %14.3f %8.2f   (%" PRIu64 " records, %" PRIu64
	       " segments, %" PRIu64 " MiB%s)\n",
	       what, ts, td, ts / td, st.recovered_records, st.segments,
	       bytes >> 20,
	       st.torn_tails ? ", torn tail cut" : "");
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	bool large = getenv("ZG_BENCH_LARGE") != NULL &&
		     strcmp(getenv("ZG_BENCH_LARGE"), "1") == 0;
	uint64_t size = large ? (1ULL << 30) : (64ULL << 20);
	char dir[300], pay[PAYLOAD], err[256];
	struct spool_rec r = { 0, 0, "telemetry/plc-1", 15, "cell1", 5, pay,
			       PAYLOAD };
	struct spool_stats st;
	struct spool *s;
	double t0;
	int m;

	snprintf(base, sizeof(base), "%s/zgbench.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		return 1;
	printf("spool append, %d-byte messages (batch: one fdatasync per %d)\n",
	       PAYLOAD, BATCH);
	printf("%-8s %14s %14s %8s\n", "fsync", "spool msg/s", "write() msg/s",
	       "ratio");
	for (m = SPOOL_FSYNC_ALWAYS; m <= SPOOL_FSYNC_NEVER; m++) {
		long n = m == SPOOL_FSYNC_ALWAYS ? 2000 : 200000;
		double a = spool_run(m, n), b = direct_run(m, n);

		printf("%-8s %14.0f %14.0f %8.2f\n", spool_fsync_names[m], a, b,
		       a / b);
	}

	/* Recovery of a large spool against reading its bytes. */
	memset(pay, 'v', sizeof(pay));
	snprintf(dir, sizeof(dir), "%s/large", base);
	s = open_spool(dir, SPOOL_FSYNC_NEVER, size + (64 << 20));
	spool_get_stats(s, &st);
	t0 = now();
	while (st.bytes < size) {
		int i;

		for (i = 0; i < 4096; i++) {
			r.seq = spool_next_seq(s);
			if (spool_append(s, &r, err, sizeof(err)) < 0) {
				fprintf(stderr, "bench_spool: %s\n", err);
				return 1;
			}
		}
		spool_get_stats(s, &st);
	}
	spool_close(s);
	if (system("sync") != 0)
		fprintf(stderr, "sync failed\n");
	printf("\nrecovery: %" PRIu64 " MiB of %d-byte records written in %.1f s (fsync never, then sync)\n",
	       st.bytes >> 20, PAYLOAD, now() - t0);
	printf("%-34s %12s %14s %8s\n", "case", "spool_open s",
	       "read() bytes s", "ratio");
	recovery_case(dir, size, "whole, page cache warm", false);
	recovery_case(dir, size, "whole, page cache cold", true);
	/* A torn tail: half a record after the last one of the last segment. */
	tear_tail(dir);
	recovery_case(dir, size, "torn tail, page cache cold", true);
	{
		uint64_t c0, c1;
		long n = 400000;
		double nb = zone_run(false, n, &c0), zb = zone_run(true, n, &c1);

		printf("per-zone bound, %ld appends (9 noisy : 1 quiet), noisy held at 4 MiB, fsync never:\n"
		       "  bounded %.0f msg/s (%" PRIu64 " segments rewritten), unbounded %.0f msg/s, ratio %.2f\n",
		       n, zb, c1, nb, zb / nb);
	}
	rmrf(base);
	return 0;
}
