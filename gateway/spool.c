/*
 * spool.c: see spool.h and docs/northbound.md (on-disk format).
 *
 * Segment file  <dir>/<base seq, 20 digits>.seg:
 *   16-byte header: "ZGSPOOL" 0x01 | base seq (u64 LE)
 *   records, back to back:
 *     0  u32 magic "ZGR1"        4  u32 CRC32C of bytes 8..end
 *     8  u32 payload length      12 u8 topic length, u8 zone length, u16 0
 *     16 u64 seq                 24 i64 timestamp (Unix ms)
 *     32 topic, zone, payload
 *   Sequence numbers rise but may have gaps: a zone over its bound has
 *   its records removed by rewriting the segment (<base>.tmp, synced,
 *   renamed over <base>.seg).
 * State file <dir>/state (text, replaced atomically):
 *   zonegate-spool-state 1
 *   next_seq N
 *   uplink NAME ACKED          (one line per uplink)
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/spool.h"

const char *const spool_fsync_names[] = { "always", "batch", "never", NULL };
const char *const spool_full_names[] = { "drop_oldest", "pause", NULL };
const char *const spool_zone_full_names[] = { "drop_oldest", "refuse", NULL };

static const uint8_t seg_magic[8] = { 'Z', 'G', 'S', 'P', 'O', 'O', 'L', 1 };
#define REC_MAGIC 0x3152475aU /* "ZGR1" little-endian */
#define STATE_MAGIC "zonegate-spool-state 1"
#define STATE_MAX 16384

/* ---------------------------------------------------------------- */
/* pure parts */

/*
 * CRC32C (Castagnoli), reflected, as iSCSI and ext4 use it; table-driven
 * "slicing by 8" (eight bytes per step), which keeps recovery of a large
 * spool close to the speed of reading it.
 */
static uint32_t crc_tab[8][256];
static bool crc_ready;

static void
crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78U : c >> 1;
		crc_tab[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_tab[j][i] = (crc_tab[j - 1][i] >> 8) ^
					crc_tab[0][crc_tab[j - 1][i] & 0xff];
	crc_ready = true;
}

uint32_t
spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t a, b;

	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len >= 8) {
		a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
			   (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		b = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
		    (uint32_t)p[7] << 24;
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		      crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^
		      crc_tab[3][b & 0xff] ^ crc_tab[2][(b >> 8) & 0xff] ^
		      crc_tab[1][(b >> 16) & 0xff] ^ crc_tab[0][b >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

size_t
spool_record_size(size_t topic_len, size_t zone_len, size_t len)
{
	return SPOOL_REC_HEADER + topic_len + zone_len + len;
}

size_t
spool_record_encode(uint8_t *buf, size_t cap, const struct spool_rec *r)
{
	size_t n;

	if (r->topic_len == 0 || r->topic_len > SPOOL_MAX_TOPIC ||
	    r->zone_len > SPOOL_MAX_ZONE || r->len > SPOOL_MAX_PAYLOAD)
		return 0;
	n = spool_record_size(r->topic_len, r->zone_len, r->len);
	if (n > cap)
		return 0;
	put32(buf + 8, (uint32_t)r->len);
	buf[12] = (uint8_t)r->topic_len;
	buf[13] = (uint8_t)r->zone_len;
	buf[14] = buf[15] = 0;
	put64(buf + 16, r->seq);
	put64(buf + 24, (uint64_t)r->ts_ms);
	memcpy(buf + 32, r->topic, r->topic_len);
	if (r->zone_len > 0)
		memcpy(buf + 32 + r->topic_len, r->zone, r->zone_len);
	if (r->len > 0)
		memcpy(buf + 32 + r->topic_len + r->zone_len, r->payload, r->len);
	put32(buf, REC_MAGIC);
	put32(buf + 4, spool_crc32c(0, buf + 8, n - 8));
	return n;
}

int
spool_record_parse(const uint8_t *buf, size_t len, struct spool_rec *r,
		   size_t *used)
{
	size_t tl, zl, pl, n;

	*used = SPOOL_REC_HEADER;
	if (len < 4)
		return SPOOL_PARSE_SHORT;
	if (get32(buf) != REC_MAGIC)
		return SPOOL_PARSE_BAD;
	if (len < SPOOL_REC_HEADER)
		return SPOOL_PARSE_SHORT;
	pl = get32(buf + 8);
	tl = buf[12];
	zl = buf[13];
	if (pl > SPOOL_MAX_PAYLOAD || tl == 0 || buf[14] != 0 || buf[15] != 0)
		return SPOOL_PARSE_BAD;
	n = spool_record_size(tl, zl, pl);
	*used = n;
	if (len < n)
		return SPOOL_PARSE_SHORT;
	if (spool_crc32c(0, buf + 8, n - 8) != get32(buf + 4))
		return SPOOL_PARSE_BAD;
	r->seq = get64(buf + 16);
	r->ts_ms = (int64_t)get64(buf + 24);
	r->topic = (const char *)buf + 32;
	r->topic_len = tl;
	r->zone = zl ? (const char *)buf + 32 + tl : NULL;
	r->zone_len = zl;
	r->payload = buf + 32 + tl + zl;
	r->len = pl;
	return SPOOL_PARSE_OK;
}

int
spool_segment_scan(const uint8_t *buf, size_t len, uint64_t after,
		   struct spool_scan *out, spool_scan_cb cb, void *arg)
{
	struct spool_rec r;
	size_t off, used;
	uint64_t prev;

	memset(out, 0, sizeof(*out));
	if (len < SPOOL_SEG_HEADER || memcmp(buf, seg_magic, 8) != 0) {
		out->torn = len > 0;
		return -1;
	}
	out->header_ok = true;
	out->base_seq = get64(buf + 8);
	if (out->base_seq == 0) {
		out->header_ok = false;
		out->torn = true;
		return -1;
	}
	prev = out->base_seq - 1 > after ? out->base_seq - 1 : after;
	off = SPOOL_SEG_HEADER;
	while (off < len) {
		if (spool_record_parse(buf + off, len - off, &r, &used) !=
			    SPOOL_PARSE_OK ||
		    r.seq <= prev) {
			out->torn = true;
			break;
		}
		if (out->nrec++ == 0)
			out->first_seq = r.seq;
		out->last_seq = prev = r.seq;
		if (cb != NULL)
			cb(arg, &r);
		off += used;
	}
	out->valid = off;
	return 0;
}

bool
spool_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > SPOOL_MAX_NAME)
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '/' || c == '-'))
			return false;
	}
	return true;
}

/* A decimal u64 of 1..20 digits, exactly the whole string. */
static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 20)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
spool_state_parse(const char *buf, size_t len, uint64_t *next_seq,
		  spool_state_cb cb, void *arg)
{
	char line[160], *w1, *w2, *w3, *save;
	size_t off = 0, n;
	int lineno = 0, nup = 0;
	uint64_t v;

	*next_seq = 0;
	if (len > STATE_MAX)
		return -1;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);

		if (nl == NULL)
			return -1; /* every line ends with \n: else torn */
		n = (size_t)(nl - (buf + off));
		if (n >= sizeof(line) || memchr(buf + off, '\0', n) != NULL)
			return -1;
		memcpy(line, buf + off, n);
		line[n] = '\0';
		off += n + 1;
		if (lineno++ == 0) {
			if (strcmp(line, STATE_MAGIC) != 0)
				return -1;
			continue;
		}
		w1 = strtok_r(line, " ", &save);
		w2 = w1 ? strtok_r(NULL, " ", &save) : NULL;
		w3 = w2 ? strtok_r(NULL, " ", &save) : NULL;
		if (w1 == NULL || w2 == NULL)
			return -1;
		if (strcmp(w1, "next_seq") == 0 && w3 == NULL) {
			if (parse_u64(w2, next_seq) < 0)
				return -1;
		} else if (strcmp(w1, "uplink") == 0 && w3 != NULL &&
			   strtok_r(NULL, " ", &save) == NULL) {
			if (!spool_name_ok(w2) || parse_u64(w3, &v) < 0 ||
			    ++nup > SPOOL_MAX_UPLINKS)
				return -1;
			if (cb != NULL && cb(arg, w2, v) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return lineno > 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- */
/* the store */

struct seg {
	uint64_t base;       /* from the name and header */
	uint64_t first, last, nrec;
	uint64_t size;
	uint64_t gen;        /* bumped when compaction moves its records */
	int fd;
	uint64_t zbytes[SPOOL_MAX_ZONES];
};

struct upl {
	char name[SPOOL_MAX_NAME + 1];
	uint64_t acked;
	bool attached;
};

struct spool {
	struct spool_opts o;
	char *dir;
	int dirfd;
	int lockfd;
	struct seg *segs;    /* oldest first; the last is written to */
	size_t nsegs, capsegs;
	bool active_open;    /* segs[nsegs-1] takes appends */
	uint64_t next_seq;
	uint64_t durable;    /* highest seq durable per policy */
	bool unsynced;
	uint64_t total;      /* bytes in all segments */
	char zones[SPOOL_MAX_ZONES][SPOOL_MAX_ZONE + 1];
	int nzones;          /* named slots in use (slot 0 included) */
	bool zoverflow;      /* the shared last slot "*" is in use */
	uint64_t zbytes[SPOOL_MAX_ZONES];
	/* per zone slot: its bound and what the bound did */
	uint64_t zlimit[SPOOL_MAX_ZONES];
	uint64_t zdropped[SPOOL_MAX_ZONES], zrefused[SPOOL_MAX_ZONES];
	uint64_t zdrops[SPOOL_MAX_ZONES], zepisodes[SPOOL_MAX_ZONES];
	bool zover[SPOOL_MAX_ZONES];
	struct spool_zone_limit *lims; /* copied from the options */
	size_t nlims;
	struct upl ups[SPOOL_MAX_UPLINKS];
	int nups;
	bool state_dirty;
	uint64_t saved_next;  /* next_seq in the state file */
	uint8_t *wbuf, *rbuf;
	size_t rcap;
	struct spool_stats st;
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

/* The bound of zone z (zl bytes): its own from zone_limits, or the default. */
static uint64_t
zone_limit(const struct spool *s, const char *z, size_t zl)
{
	size_t i;

	for (i = 0; i < s->nlims; i++)
		if (strlen(s->lims[i].zone) == zl &&
		    memcmp(s->lims[i].zone, z, zl) == 0)
			return s->lims[i].max_bytes;
	return s->o.max_bytes_per_zone;
}

/*
 * Zone bucket: zones get a slot each in order of first use; bucket 0 is
 * "no zone"; once SPOOL_MAX_ZONES - 1 slots are named, further zones
 * share the last slot ("*", with the default bound).  The lookup is a
 * scan of at most SPOOL_MAX_ZONES short names: constant per record.
 */
static int
zone_slot(struct spool *s, const char *z, size_t zl)
{
	int i;

	if (s->nzones == 0) {
		s->nzones = 1;
		s->zlimit[0] = s->o.max_bytes_per_zone;
	}
	if (zl == 0)
		return 0;
	for (i = 1; i < s->nzones; i++)
		if (strlen(s->zones[i]) == zl && memcmp(s->zones[i], z, zl) == 0)
			return i;
	if (s->nzones >= SPOOL_MAX_ZONES - 1) {
		if (!s->zoverflow) {
			s->zoverflow = true;
			snprintf(s->zones[SPOOL_MAX_ZONES - 1],
				 sizeof(s->zones[0]), "*");
			s->zlimit[SPOOL_MAX_ZONES - 1] = s->o.max_bytes_per_zone;
		}
		return SPOOL_MAX_ZONES - 1;
	}
	memcpy(s->zones[s->nzones], z, zl);
	s->zones[s->nzones][zl] = '\0';
	s->zlimit[s->nzones] = zone_limit(s, z, zl);
	return s->nzones++;
}

static void
zone_fill(const struct spool *s, int z, struct spool_zone_stats *out)
{
	out->zone = s->zones[z];
	out->bytes = s->zbytes[z];
	out->max_bytes = s->zlimit[z];
	out->dropped_records = s->zdropped[z];
	out->refused = s->zrefused[z];
	out->drops = s->zdrops[z];
	out->episodes = s->zepisodes[z];
	out->over = s->zover[z];
}

static void
zone_event(struct spool *s, int z, int ev, uint64_t n)
{
	struct spool_zone_stats zs;

	if (s->o.zone_cb == NULL)
		return;
	zone_fill(s, z, &zs);
	s->o.zone_cb(s->o.zone_cb_arg, ev, &zs, n);
}

int
spool_zone_get(const struct spool *s, int i, struct spool_zone_stats *z)
{
	if (i < 0 || i >= SPOOL_MAX_ZONES)
		return -1;
	if (i >= s->nzones) {
		/* past the named slots: only the shared one may follow */
		if (!s->zoverflow || i > s->nzones)
			return -1;
		i = SPOOL_MAX_ZONES - 1;
	}
	zone_fill(s, i, z);
	return 0;
}

uint64_t
spool_zone_bytes(const struct spool *s, const char *zone)
{
	size_t zl = zone ? strlen(zone) : 0;
	int i;

	if (zl == 0)
		return s->zbytes[0];
	for (i = 1; i < s->nzones; i++)
		if (strcmp(s->zones[i], zone) == 0)
			return s->zbytes[i];
	return s->zoverflow && s->nzones >= SPOOL_MAX_ZONES - 1
		       ? s->zbytes[SPOOL_MAX_ZONES - 1]
		       : 0;
}

static void
seg_path(const struct spool *s, uint64_t base, const char *suffix, char *buf,
	 size_t len)
{
	snprintf(buf, len, "%s/%020" PRIu64 "%s", s->dir, base, suffix);
}

static struct seg *
seg_push(struct spool *s)
{
	struct seg *n;

	if (s->nsegs == s->capsegs) {
		size_t cap = s->capsegs ? s->capsegs * 2 : 16;

		n = realloc(s->segs, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		s->segs = n;
		s->capsegs = cap;
	}
	n = &s->segs[s->nsegs++];
	memset(n, 0, sizeof(*n));
	n->fd = -1;
	return n;
}

/* Remove segment i from disk and memory; counts unacked records dropped. */
static void
seg_remove(struct spool *s, size_t i, uint64_t min_acked)
{
	struct seg *g = &s->segs[i];
	char path[4096];
	int z;

	if (g->nrec > 0 && g->last > min_acked) {
		uint64_t from = g->first > min_acked ? g->first : min_acked + 1;
		uint64_t n = g->last - from + 1;

		s->st.dropped_records += n < g->nrec ? n : g->nrec;
	}
	if (g->fd >= 0)
		close(g->fd);
	seg_path(s, g->base, ".seg", path, sizeof(path));
	unlink(path);
	s->total -= g->size;
	s->st.records -= g->nrec;
	for (z = 0; z < SPOOL_MAX_ZONES; z++)
		s->zbytes[z] -= g->zbytes[z];
	memmove(&s->segs[i], &s->segs[i + 1],
		(s->nsegs - i - 1) * sizeof(*s->segs));
	s->nsegs--;
	if (s->nsegs == 0)
		s->active_open = false;
}

static uint64_t
min_attached_acked(const struct spool *s, bool *any)
{
	uint64_t m = UINT64_MAX;
	int i;

	*any = false;
	for (i = 0; i < s->nups; i++) {
		if (s->ups[i].attached) {
			*any = true;
			if (s->ups[i].acked < m)
				m = s->ups[i].acked;
		}
	}
	return *any ? m : 0;
}

/* ---- recovery */

struct scan_ctx {
	struct spool *s;
	struct seg *g;
};

static void
scan_rec(void *arg, const struct spool_rec *r)
{
	struct scan_ctx *c = arg;
	int z = zone_slot(c->s, r->zone, r->zone_len);
	uint64_t n = spool_record_size(r->topic_len, r->zone_len, r->len);

	c->g->zbytes[z] += n;
	c->s->zbytes[z] += n;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
state_up_cb(void *arg, const char *name, uint64_t acked)
{
	struct spool *s = arg;

	if (s->nups >= SPOOL_MAX_UPLINKS)
		return -1;
	snprintf(s->ups[s->nups].name, sizeof(s->ups[0].name), "%s", name);
	s->ups[s->nups].acked = acked;
	s->nups++;
	return 0;
}

/* Read <dir>/state.  A missing file is a fresh spool; a bad one an error. */
static int
load_state(struct spool *s, uint64_t *next, char *err, size_t errlen)
{
	char path[4096], buf[STATE_MAX + 1];
	ssize_t n;
	int fd;

	*next = 0;
	snprintf(path, sizeof(path), "%s/state", s->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || n > STATE_MAX ||
	    spool_state_parse(buf, (size_t)n, next, state_up_cb, s) < 0) {
		seterr(err, errlen,
		       "%s: damaged state file (move it away to resend everything kept)",
		       path);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int
recover_segment(struct spool *s, uint64_t base, char *rep, size_t replen,
		char *err, size_t errlen)
{
	char path[4096], bad[4096];
	struct spool_scan sc;
	struct scan_ctx ctx;
	struct stat sb;
	uint8_t *map = NULL;
	uint64_t after;
	struct seg *g;
	int fd, z;

	seg_path(s, base, ".seg", path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	g = seg_push(s);
	if (g == NULL) {
		close(fd);
		seterr(err, errlen, "out of memory");
		return -1;
	}
	g->base = base;
	g->fd = fd;
	ctx.s = s;
	ctx.g = g;
	after = s->nsegs > 1 && s->segs[s->nsegs - 2].nrec > 0
			? s->segs[s->nsegs - 2].last
			: 0;
	if (sb.st_size > 0) {
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			seterr(err, errlen, "%s: mmap: %s", path, strerror(errno));
			s->nsegs--;
			close(fd);
			return -1;
		}
	}
	if (spool_segment_scan(map, (size_t)sb.st_size, after, &sc, scan_rec,
			       &ctx) < 0 ||
	    sc.base_seq != base) {
		/* Not ours or destroyed: keep it for a person, out of the way. */
		if (map != NULL)
			munmap(map, (size_t)sb.st_size);
		s->nsegs--;
		for (z = 0; z < SPOOL_MAX_ZONES; z++)
			s->zbytes[z] -= g->zbytes[z];
		close(fd);
		seg_path(s, base, ".corrupt", bad, sizeof(bad));
		rename(path, bad);
		s->st.corrupt_segments++;
		seterr(rep, replen, "%s: bad segment header: set aside as %s",
		       path, bad);
		return 0;
	}
	if (map != NULL)
		munmap(map, (size_t)sb.st_size);
	if (sc.torn) {
		if (ftruncate(fd, (off_t)sc.valid) < 0 || fdatasync(fd) < 0) {
			seterr(err, errlen, "%s: cannot cut torn tail: %s", path,
			       strerror(errno));
			return -1;
		}
		s->st.torn_tails++;
		s->st.truncated_bytes += (uint64_t)sb.st_size - sc.valid;
		seterr(rep, replen,
		       "%s: torn or corrupt tail after %" PRIu64
		       " records: %llu bytes cut off",
		       path, sc.nrec,
		       (unsigned long long)((uint64_t)sb.st_size - sc.valid));
	}
	g->size = sc.valid;
	g->nrec = sc.nrec;
	g->first = sc.first_seq;
	g->last = sc.last_seq;
	s->total += g->size;
	s->st.records += g->nrec;
	s->st.recovered_records += g->nrec;
	return 0;
}

static int
recover(struct spool *s, char *rep, size_t replen, char *err, size_t errlen)
{
	uint64_t *bases = NULL, next_state, b;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *dp;
	char one[512], tmp[4096];
	size_t used = 0;

	if (load_state(s, &next_state, err, errlen) < 0)
		return -1;
	dp = opendir(s->dir);
	if (dp == NULL) {
		seterr(err, errlen, "%s: %s", s->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);
		char num[21];

		if (l != 24 || (strcmp(de->d_name + 20, ".seg") != 0 &&
				strcmp(de->d_name + 20, ".tmp") != 0))
			continue;
		memcpy(num, de->d_name, 20);
		num[20] = '\0';
		if (parse_u64(num, &b) < 0 || b == 0)
			continue;
		if (strcmp(de->d_name + 20, ".tmp") == 0) {
			/* A compaction cut short: the .seg it was for is whole. */
			seg_path(s, b, ".tmp", tmp, sizeof(tmp));
			unlink(tmp);
			continue;
		}
		if (n == cap) {
			uint64_t *nb;

			cap = cap ? cap * 2 : 64;
			nb = realloc(bases, cap * sizeof(*bases));
			if (nb == NULL) {
				free(bases);
				closedir(dp);
				seterr(err, errlen, "out of memory");
				return -1;
			}
			bases = nb;
		}
		bases[n++] = b;
	}
	closedir(dp);
	if (n > 0)
		qsort(bases, n, sizeof(*bases), cmp_u64);
	if (rep != NULL && replen > 0)
		rep[0] = '\0';
	for (i = 0; i < n; i++) {
		one[0] = '\0';
		if (recover_segment(s, bases[i], one, sizeof(one), err,
				    errlen) < 0) {
			free(bases);
			return -1;
		}
		if (one[0] != '\0' && rep != NULL && used < replen) {
			int w = snprintf(rep + used, replen - used, "%s%s",
					 used ? "; " : "", one);
			if (w > 0)
				used += (size_t)w;
		}
	}
	free(bases);
	/* Empty segments other than the last hold nothing: remove them. */
	for (i = 0; i + 1 < s->nsegs;) {
		if (s->segs[i].nrec == 0)
			seg_remove(s, i, UINT64_MAX);
		else
			i++;
	}
	s->next_seq = 1;
	for (i = 0; i < s->nsegs; i++) {
		if (s->segs[i].nrec > 0 && s->segs[i].last >= s->next_seq)
			s->next_seq = s->segs[i].last + 1;
		if (s->segs[i].base > s->next_seq)
			s->next_seq = s->segs[i].base;
	}
	if (next_state > s->next_seq)
		s->next_seq = next_state;
	s->saved_next = next_state;
	s->durable = s->next_seq - 1;
	/* Continue writing into the last segment when it has room. */
	if (s->nsegs > 0 && s->segs[s->nsegs - 1].size < s->o.segment_size)
		s->active_open = true;
	return 0;
}

static int
fsync_dir(struct spool *s)
{
	return fsync(s->dirfd);
}

struct spool *
spool_open(const struct spool_opts *o, char *rep, size_t replen, char *err,
	   size_t errlen)
{
	struct spool *s;
	char path[4096];

	if (rep != NULL && replen > 0)
		rep[0] = '\0';
	if (o->dir == NULL || o->dir[0] == '\0' ||
	    o->segment_size < 4096 || o->max_bytes < 2 * o->segment_size) {
		seterr(err, errlen,
		       "spool: needs a directory, segment_size >= 4096 and max_bytes >= 2 * segment_size");
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->o = *o;
	s->dirfd = s->lockfd = -1;
	s->dir = strdup(o->dir);
	s->o.dir = s->dir;
	s->o.zone_limits = NULL;
	if (o->nzone_limits > 0) {
		size_t i;

		s->lims = calloc(o->nzone_limits, sizeof(*s->lims));
		if (s->lims == NULL) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
		for (i = 0; i < o->nzone_limits; i++) {
			s->lims[i].max_bytes = o->zone_limits[i].max_bytes;
			s->lims[i].zone = strdup(o->zone_limits[i].zone);
			if (s->lims[i].zone == NULL) {
				seterr(err, errlen, "out of memory");
				goto fail;
			}
			s->nlims++;
		}
	}
	s->rcap = 4096;
	s->rbuf = malloc(s->rcap);
	s->wbuf = malloc(spool_record_size(SPOOL_MAX_TOPIC, SPOOL_MAX_ZONE,
					   SPOOL_MAX_PAYLOAD));
	if (s->dir == NULL || s->rbuf == NULL || s->wbuf == NULL) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	if (mkdir(s->dir, 0750) < 0 && errno != EEXIST) {
		seterr(err, errlen, "spool directory %s: %s", s->dir,
		       strerror(errno));
		goto fail;
	}
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		seterr(err, errlen, "spool directory %s: %s", s->dir,
		       strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/lock", s->dir);
	s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (s->lockfd < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		seterr(err, errlen, "spool %s is in use by another process",
		       s->dir);
		goto fail;
	}
	if (recover(s, rep, replen, err, errlen) < 0)
		goto fail;
	return s;
fail:
	spool_close(s);
	return NULL;
}

static int
save_state(struct spool *s, char *err, size_t errlen)
{
	char path[4096], tmp[4096], buf[STATE_MAX];
	size_t off;
	int fd, i, w;

	w = snprintf(buf, sizeof(buf), "%s\nnext_seq %" PRIu64 "\n",
		     STATE_MAGIC, s->next_seq);
	off = (size_t)w;
	for (i = 0; i < s->nups; i++) {
		w = snprintf(buf + off, sizeof(buf) - off,
			     "uplink %s %" PRIu64 "\n", s->ups[i].name,
			     s->ups[i].acked);
		if (w < 0 || (size_t)w >= sizeof(buf) - off)
			break;
		off += (size_t)w;
	}
	snprintf(path, sizeof(path), "%s/state", s->dir);
	snprintf(tmp, sizeof(tmp), "%s/state.tmp", s->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, buf, off) != (ssize_t)off ||
	    (s->o.fsync != SPOOL_FSYNC_NEVER && fdatasync(fd) < 0)) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		seterr(err, errlen, "rename %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (s->o.fsync != SPOOL_FSYNC_NEVER)
		fsync_dir(s);
	s->state_dirty = false;
	s->saved_next = s->next_seq;
	return 0;
}

void
spool_close(struct spool *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->lockfd >= 0 && s->dirfd >= 0) {
		spool_sync(s, NULL, 0);
		if (s->state_dirty || s->saved_next != s->next_seq)
			save_state(s, NULL, 0);
	}
	for (i = 0; i < s->nsegs; i++)
		if (s->segs[i].fd >= 0)
			close(s->segs[i].fd);
	free(s->segs);
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the lock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	for (i = 0; i < s->nlims; i++)
		free((char *)s->lims[i].zone);
	free(s->lims);
	free(s->rbuf);
	free(s->wbuf);
	free(s->dir);
	free(s);
}

uint64_t
spool_next_seq(const struct spool *s)
{
	return s->next_seq;
}

uint64_t
spool_durable_seq(const struct spool *s)
{
	return s->durable;
}

const char *
spool_dir(const struct spool *s)
{
	return s->dir;
}

void
spool_get_stats(const struct spool *s, struct spool_stats *st)
{
	*st = s->st;
	st->bytes = s->total;
	st->segments = s->nsegs;
}

/* Start a new segment whose base is the next sequence number. */
static int
seg_start(struct spool *s, char *err, size_t errlen)
{
	uint8_t hdr[SPOOL_SEG_HEADER];
	char path[4096];
	struct seg *g;
	int fd;

	if (s->nsegs >= SPOOL_MAX_SEGMENTS) {
		seterr(err, errlen, "spool %s: %d segments: raise segment_size",
		       s->dir, SPOOL_MAX_SEGMENTS);
		errno = ENOBUFS;
		return -1;
	}
	if (s->active_open) {
		g = &s->segs[s->nsegs - 1];
		if (s->o.fsync != SPOOL_FSYNC_NEVER && s->unsynced &&
		    fdatasync(g->fd) == 0)
			s->st.fsyncs++;
		s->active_open = false;
	}
	seg_path(s, s->next_seq, ".seg", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	memcpy(hdr, seg_magic, 8);
	put64(hdr + 8, s->next_seq);
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
		if (errno == 0)
			errno = ENOSPC;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (s->o.fsync != SPOOL_FSYNC_NEVER)
		fsync_dir(s);
	g = seg_push(s);
	if (g == NULL) {
		close(fd);
		unlink(path);
		seterr(err, errlen, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	g->base = s->next_seq;
	g->fd = fd;
	g->size = SPOOL_SEG_HEADER;
	s->total += g->size;
	s->active_open = true;
	return 0;
}

/* drop_oldest: remove the oldest segment that is not being written. */
static bool
drop_oldest(struct spool *s)
{
	bool any;
	uint64_t m = min_attached_acked(s, &any);

	if (s->nsegs == 0 || (s->nsegs == 1 && s->active_open))
		return false;
	seg_remove(s, 0, any ? m : 0);
	return true;
}

/* The file system cannot take more: full, over quota, or file too big. */
static bool
disk_full(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EFBIG;
}

static int
write_record(struct spool *s, const uint8_t *buf, size_t n, char *err,
	     size_t errlen)
{
	struct seg *g = &s->segs[s->nsegs - 1];
	ssize_t w = pwrite(g->fd, buf, n, (off_t)g->size);

	if (w == (ssize_t)n)
		return 0;
	if (w >= 0)
		errno = ENOSPC; /* a short write to a file: the disk is full */
	/* Undo a partial record so the file ends on a whole one. */
	if (ftruncate(g->fd, (off_t)g->size) < 0) {
		/* recovery will cut the torn tail at the next start */
	}
	if (disk_full(errno))
		s->st.enospc++;
	else
		s->st.write_errors++;
	seterr(err, errlen, "spool %s: write: %s", s->dir, strerror(errno));
	return -1;
}

/* Write all of buf at the file position of fd. */
static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Rewrite sealed segment i without the records of zone slot z: the
 * records that stay are copied (in runs, in order, unchanged) to
 * <base>.tmp, which is synced and renamed over the segment; a crash
 * leaves either the old or the new file whole (recovery removes a
 * stray .tmp).  Sequence numbers keep their gaps: the far end sees the
 * dropped ones missing.  Cursors in the segment notice the new
 * generation and find their place again by sequence number.  Counts the
 * unacknowledged records dropped into *dropped.  0, or -1 with errno
 * (the segment is then unchanged).
 */
static int
seg_compact(struct spool *s, size_t i, int z, uint64_t *dropped, char *err,
	    size_t errlen)
{
	struct seg *g = &s->segs[i];
	char path[4096], tmp[4096];
	struct spool_rec r;
	uint8_t *map;
	size_t off, used, run = 0, runlen = 0, out = SPOOL_SEG_HEADER;
	uint64_t m, nrec = 0, first = 0, last = 0, gone = 0;
	bool any;
	int fd, e;

	*dropped = 0;
	m = min_attached_acked(s, &any);
	if (!any)
		m = 0;
	map = mmap(NULL, (size_t)g->size, PROT_READ, MAP_PRIVATE, g->fd, 0);
	if (map == MAP_FAILED) {
		seterr(err, errlen, "spool %s: mmap: %s", s->dir,
		       strerror(errno));
		return -1;
	}
	seg_path(s, g->base, ".seg", path, sizeof(path));
	seg_path(s, g->base, ".tmp", tmp, sizeof(tmp));
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write_all(fd, map, SPOOL_SEG_HEADER) < 0)
		goto fail;
	for (off = SPOOL_SEG_HEADER; off < g->size; off += used) {
		if (spool_record_parse(map + off, (size_t)g->size - off, &r,
				       &used) != SPOOL_PARSE_OK) {
			errno = EIO;
			goto fail;
		}
		if (zone_slot(s, r.zone, r.zone_len) == z) {
			/* close the run of records that stay */
			if (runlen > 0 && write_all(fd, map + run, runlen) < 0)
				goto fail;
			runlen = 0;
			gone++;
			if (r.seq > m)
				(*dropped)++;
			continue;
		}
		if (runlen == 0)
			run = off;
		runlen += used;
		out += used;
		if (nrec++ == 0)
			first = r.seq;
		last = r.seq;
	}
	if (runlen > 0 && write_all(fd, map + run, runlen) < 0)
		goto fail;
	if (s->o.fsync != SPOOL_FSYNC_NEVER && fdatasync(fd) < 0)
		goto fail;
	if (rename(tmp, path) < 0)
		goto fail;
	if (s->o.fsync != SPOOL_FSYNC_NEVER)
		fsync_dir(s);
	munmap(map, (size_t)g->size);
	close(g->fd);
	g->fd = fd;
	s->total -= g->size - out;
	g->size = out;
	g->nrec = nrec;
	g->first = first;
	g->last = last;
	g->gen++;
	s->zbytes[z] -= g->zbytes[z];
	g->zbytes[z] = 0;
	s->st.records -= gone;
	s->st.compactions++;
	if (nrec == 0)
		seg_remove(s, i, UINT64_MAX);
	return 0;
fail:
	e = errno;
	if (disk_full(e))
		s->st.enospc++;
	else
		s->st.write_errors++;
	seterr(err, errlen, "spool %s: rewriting segment %020" PRIu64
	       " without zone \"%s\": %s", s->dir, g->base, s->zones[z],
	       strerror(e));
	munmap(map, (size_t)g->size);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/*
 * Make room for n bytes of zone slot z by dropping its oldest records:
 * the oldest segment holding any of them is rewritten without them.  A
 * record in the segment being written first closes it (a new segment
 * starts, whose base keeps the sequence safe across a restart).  Each
 * step frees that segment's share of the zone; other zones' records are
 * not touched.  0, or -1 with errno.
 */
static int
zone_drop(struct spool *s, int z, uint64_t n, char *err, size_t errlen)
{
	uint64_t dropped;
	size_t i;

	while (s->zbytes[z] + n > s->zlimit[z]) {
		for (i = 0; i < s->nsegs; i++)
			if (s->segs[i].zbytes[z] > 0)
				break;
		if (i == s->nsegs) {
			errno = EDQUOT; /* nothing of it left: n alone is too big */
			return -1;
		}
		if (i == s->nsegs - 1 && s->active_open) {
			if (seg_start(s, err, errlen) < 0)
				return -1;
		}
		if (seg_compact(s, i, z, &dropped, err, errlen) < 0)
			return -1;
		s->zdrops[z]++;
		s->zdropped[z] += dropped;
		s->st.zone_dropped += dropped;
		zone_event(s, z, SPOOL_ZONE_DROPPED, dropped);
	}
	return 0;
}

int
spool_append(struct spool *s, const struct spool_rec *r, char *err,
	     size_t errlen)
{
	size_t n;
	int z, tries;
	struct seg *g;

	if (r->seq != s->next_seq) {
		seterr(err, errlen, "spool: record seq %" PRIu64
		       " is not the next (%" PRIu64 ")", r->seq, s->next_seq);
		errno = EINVAL;
		return -1;
	}
	n = spool_record_encode(s->wbuf,
				spool_record_size(SPOOL_MAX_TOPIC,
						  SPOOL_MAX_ZONE,
						  SPOOL_MAX_PAYLOAD),
				r);
	if (n == 0) {
		seterr(err, errlen, "spool: record too large (topic %zu, zone %zu, payload %zu bytes)",
		       r->topic_len, r->zone_len, r->len);
		errno = EMSGSIZE;
		return -1;
	}
	z = zone_slot(s, r->zone, r->zone_len);
	if (s->zlimit[z] > 0 && s->zbytes[z] + n > s->zlimit[z]) {
		/* Try to free acknowledged segments first. */
		spool_checkpoint(s, NULL, 0);
		if (s->zbytes[z] + n > s->zlimit[z]) {
			if (!s->zover[z]) {
				s->zover[z] = true;
				s->zepisodes[z]++;
				zone_event(s, z, SPOOL_ZONE_OVER, 0);
			}
			if (s->o.on_zone_full == SPOOL_ZONE_REFUSE ||
			    n > s->zlimit[z] ||
			    zone_drop(s, z, n, err, errlen) < 0) {
				s->st.refused_zone++;
				s->zrefused[z]++;
				if (s->o.on_zone_full == SPOOL_ZONE_REFUSE ||
				    n > s->zlimit[z]) {
					seterr(err, errlen,
					       "spool: zone \"%s\" holds %" PRIu64
					       " bytes, its bound (%" PRIu64
					       " bytes) is reached",
					       s->zones[z], s->zbytes[z],
					       s->zlimit[z]);
					errno = EDQUOT;
				}
				zone_event(s, z, SPOOL_ZONE_REFUSED, 1);
				return -1;
			}
		}
	}
	if (s->total + n + SPOOL_SEG_HEADER > s->o.max_bytes)
		spool_checkpoint(s, NULL, 0);
	while (s->total + n + SPOOL_SEG_HEADER > s->o.max_bytes) {
		if (s->o.on_full == SPOOL_FULL_PAUSE || !drop_oldest(s)) {
			s->st.refused_full++;
			seterr(err, errlen, "spool %s is full (max_bytes %" PRIu64 ")",
			       s->dir, s->o.max_bytes);
			errno = ENOBUFS;
			return -1;
		}
	}
	for (tries = 0;; tries++) {
		if ((!s->active_open ||
		     s->segs[s->nsegs - 1].size + n > s->o.segment_size) &&
		    seg_start(s, err, errlen) < 0) {
			if (disk_full(errno))
				s->st.enospc++;
		} else if (write_record(s, s->wbuf, n, err, errlen) == 0) {
			break;
		}
		if (!disk_full(errno) || tries > 0 ||
		    s->o.on_full == SPOOL_FULL_PAUSE || !drop_oldest(s))
			return -1;
	}
	g = &s->segs[s->nsegs - 1];
	g->size += n;
	if (g->nrec++ == 0)
		g->first = r->seq;
	g->last = r->seq;
	g->zbytes[z] += n;
	s->zbytes[z] += n;
	s->total += n;
	s->st.records++;
	s->st.appended++;
	s->next_seq++;
	if (s->o.fsync == SPOOL_FSYNC_ALWAYS) {
		if (fdatasync(g->fd) < 0) {
			seterr(err, errlen, "spool %s: fdatasync: %s", s->dir,
			       strerror(errno));
			s->st.write_errors++;
			s->unsynced = true;
			return 0; /* written; durability will be retried */
		}
		s->st.fsyncs++;
		s->durable = r->seq;
	} else if (s->o.fsync == SPOOL_FSYNC_BATCH) {
		s->unsynced = true;
	} else {
		s->durable = r->seq;
	}
	return 0;
}

int
spool_sync(struct spool *s, char *err, size_t errlen)
{
	if (!s->unsynced) {
		s->durable = s->next_seq - 1;
		return 0;
	}
	if (s->active_open && fdatasync(s->segs[s->nsegs - 1].fd) < 0) {
		seterr(err, errlen, "spool %s: fdatasync: %s", s->dir,
		       strerror(errno));
		return -1;
	}
	s->st.fsyncs++;
	s->unsynced = false;
	s->durable = s->next_seq - 1;
	return 0;
}

static struct upl *
up_find(struct spool *s, const char *name)
{
	int i;

	for (i = 0; i < s->nups; i++)
		if (strcmp(s->ups[i].name, name) == 0)
			return &s->ups[i];
	return NULL;
}

int
spool_uplink_attach(struct spool *s, const char *name, uint64_t *acked)
{
	struct upl *u;

	if (!spool_name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	u = up_find(s, name);
	if (u == NULL) {
		if (s->nups >= SPOOL_MAX_UPLINKS) {
			errno = ENOSPC;
			return -1;
		}
		u = &s->ups[s->nups++];
		snprintf(u->name, sizeof(u->name), "%s", name);
		/* A new uplink starts with the oldest record kept. */
		u->acked = s->nsegs > 0 && s->segs[0].nrec > 0
				   ? s->segs[0].first - 1
				   : s->next_seq - 1;
		s->state_dirty = true;
	} else if (u->attached) {
		errno = EEXIST;
		return -1;
	}
	u->attached = true;
	*acked = u->acked;
	return 0;
}

void
spool_uplink_detach(struct spool *s, const char *name)
{
	struct upl *u = up_find(s, name);

	if (u != NULL)
		u->attached = false;
}

void
spool_uplink_ack(struct spool *s, const char *name, uint64_t acked)
{
	struct upl *u = up_find(s, name);

	if (u != NULL && acked > u->acked) {
		u->acked = acked;
		s->state_dirty = true;
	}
}

int
spool_checkpoint(struct spool *s, char *err, size_t errlen)
{
	bool any, removed = false;
	uint64_t m;
	int z;

	if (s->state_dirty && save_state(s, err, errlen) < 0)
		return -1;
	m = min_attached_acked(s, &any);
	if (!any)
		return 0;
	/* Never the segment being written; only whole acknowledged ones. */
	while (s->nsegs > (s->active_open ? 1u : 0u) &&
	       (s->segs[0].nrec == 0 || s->segs[0].last <= m)) {
		seg_remove(s, 0, m);
		removed = true;
	}
	/*
	 * A zone's episode over its bound ends when acknowledgements have
	 * brought it down to half its bound (drops alone do not end it: an
	 * uplink that stays down makes one episode, one log line).
	 */
	for (z = 0; removed && z < SPOOL_MAX_ZONES; z++) {
		if (s->zover[z] && s->zbytes[z] <= s->zlimit[z] / 2) {
			s->zover[z] = false;
			zone_event(s, z, SPOOL_ZONE_UNDER, 0);
		}
	}
	return 0;
}

/* ---- reading */

static struct seg *
seg_find(const struct spool *s, uint64_t base, size_t *idx)
{
	size_t lo = 0, hi = s->nsegs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->segs[mid].base == base) {
			*idx = mid;
			return &s->segs[mid];
		}
		if (s->segs[mid].base < base)
			lo = mid + 1;
		else
			hi = mid;
	}
	*idx = lo;
	return NULL;
}

void
spool_seek(const struct spool *s, struct spool_cursor *c, uint64_t seq)
{
	size_t i, pick = 0;

	c->next = seq;
	c->off = SPOOL_SEG_HEADER;
	c->nth = 0;
	c->seg = 0;
	c->gen = 0;
	/* The last segment whose base is <= seq holds it (or what follows). */
	for (i = 0; i < s->nsegs; i++)
		if (s->segs[i].base <= seq)
			pick = i;
	if (s->nsegs > 0) {
		c->seg = s->segs[pick].base;
		c->gen = s->segs[pick].gen;
	}
}

int
spool_read(struct spool *s, struct spool_cursor *c, struct spool_rec *r,
	   char *err, size_t errlen)
{
	struct seg *g;
	size_t i, used;
	ssize_t got;
	int rc;

	for (;;) {
		if (s->nsegs == 0)
			return 0;
		g = seg_find(s, c->seg, &i);
		if (g == NULL) {
			/* Removed under us (drop_oldest): go on with what follows. */
			if (i >= s->nsegs)
				return 0;
			g = &s->segs[i];
			c->seg = g->base;
			c->gen = g->gen;
			c->off = SPOOL_SEG_HEADER;
			c->nth = 0;
		}
		if (c->gen != g->gen) {
			/* Compacted under us: records moved; c->next finds ours. */
			c->gen = g->gen;
			c->off = SPOOL_SEG_HEADER;
			c->nth = 0;
		}
		if (c->off >= g->size) {
			if (i + 1 >= s->nsegs)
				return 0;
			c->seg = s->segs[i + 1].base;
			c->gen = s->segs[i + 1].gen;
			c->off = SPOOL_SEG_HEADER;
			c->nth = 0;
			continue;
		}
		got = pread(g->fd, s->rbuf, SPOOL_REC_HEADER, (off_t)c->off);
		if (got != SPOOL_REC_HEADER)
			goto ioerr;
		rc = spool_record_parse(s->rbuf, SPOOL_REC_HEADER, r, &used);
		if (rc == SPOOL_PARSE_BAD || used > g->size - c->off)
			goto fmt;
		/* Stop at records not yet durable (group commit pending). */
		if (get64(s->rbuf + 16) > s->durable)
			return 0;
		if (used > s->rcap) {
			uint8_t *nb = realloc(s->rbuf, used);

			if (nb == NULL) {
				seterr(err, errlen, "out of memory");
				return -1;
			}
			s->rbuf = nb;
			s->rcap = used;
		}
		got = pread(g->fd, s->rbuf, used, (off_t)c->off);
		if (got != (ssize_t)used)
			goto ioerr;
		if (spool_record_parse(s->rbuf, used, r, &used) != SPOOL_PARSE_OK)
			goto fmt;
		c->off += used;
		c->nth++;
		if (r->seq < c->next)
			continue;
		c->next = r->seq + 1;
		return 1;
	}
ioerr:
	seterr(err, errlen, "spool %s: read: %s", s->dir,
	       errno ? strerror(errno) : "short read");
	return -1;
fmt:
	seterr(err, errlen, "spool %s: segment %020" PRIu64
	       " damaged at offset %" PRIu64, s->dir, c->seg, c->off);
	errno = EIO;
	return -1;
}

/* Timestamp of the record at off in g (0 when it cannot be read). */
static int
rec_ts(const struct seg *g, uint64_t off, int64_t *ts)
{
	uint8_t h[SPOOL_REC_HEADER];

	*ts = 0;
	if (pread(g->fd, h, sizeof(h), (off_t)off) != (ssize_t)sizeof(h) ||
	    get32(h) != REC_MAGIC)
		return -1;
	*ts = (int64_t)get64(h + 24);
	return 0;
}

int
spool_backlog(struct spool *s, const struct spool_cursor *c,
	      struct spool_backlog *out)
{
	const struct seg *g;
	size_t i;
	int rc = 0;
	bool ts_done = false;

	memset(out, 0, sizeof(*out));
	g = seg_find(s, c->seg, &i);
	if (g != NULL && g->gen != c->gen && c->next > 0) {
		/* Rewritten (per-zone drop) since c was taken: find it again. */
		struct spool_cursor fresh;

		spool_seek_after(s, &fresh, c->next - 1);
		return spool_backlog(s, &fresh, out);
	}
	if (g != NULL) {
		if (c->off < g->size) {
			out->bytes += g->size - c->off;
			out->records += g->nrec > c->nth ? g->nrec - c->nth : 0;
			rc = rec_ts(g, c->off, &out->oldest_ts_ms);
			ts_done = true;
		}
		i++;
	}
	for (; i < s->nsegs; i++) {
		g = &s->segs[i];
		if (g->nrec == 0)
			continue;
		out->records += g->nrec;
		out->bytes += g->size - SPOOL_SEG_HEADER;
		if (!ts_done) {
			rc = rec_ts(g, SPOOL_SEG_HEADER, &out->oldest_ts_ms);
			ts_done = true;
		}
	}
	return rc;
}

void
spool_seek_after(struct spool *s, struct spool_cursor *c, uint64_t acked)
{
	struct spool_cursor save;
	struct spool_rec r;

	spool_seek(s, c, acked + 1);
	c->next = 0; /* no skipping inside spool_read: stop before acked + 1 */
	for (;;) {
		save = *c;
		if (spool_read(s, c, &r, NULL, 0) != 1)
			break;
		if (r.seq > acked) {
			*c = save;
			break;
		}
	}
	c->next = acked + 1;
}
