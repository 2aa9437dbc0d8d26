/*
 * spool: the durable store-and-forward log of the northbound path
 * (docs/northbound.md).
 *
 * Records (seq, timestamp, topic, zone, payload) are appended to segment
 * files in one directory; each record carries its length and a CRC32C,
 * so recovery can tell a complete record from a torn or corrupt one.
 * Each uplink's acknowledged position is kept in a small state file
 * written atomically (tmp + fsync + rename + fsync of the directory).
 * A segment is removed once every attached uplink acknowledged its last
 * record.  The spool is bounded overall and per zone.
 *
 * This is plain C over POSIX files: no libevent, no logging of its own
 * (errors come back as -1 with errno and a message in the caller's
 * buffer), so unit tests and the fuzz target use it directly.  Not
 * thread-safe: one owner (the event loop) calls it.
 *
 * The record and state-file parsers are pure functions over (buf, len)
 * and are fuzzed (tests/fuzz/fuzz_spool.c).
 */
#ifndef ZG_SPOOL_H
#define ZG_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum spool_fsync {
	SPOOL_FSYNC_ALWAYS = 0, /* fdatasync after every record */
	SPOOL_FSYNC_BATCH = 1,  /* one fdatasync per spool_sync() (group commit) */
	SPOOL_FSYNC_NEVER = 2,  /* leave it to the kernel */
};
extern const char *const spool_fsync_names[];

enum spool_full {
	SPOOL_FULL_DROP_OLDEST = 0, /* remove the oldest segment, keep taking */
	SPOOL_FULL_PAUSE = 1,       /* refuse new records until acks free room */
};
extern const char *const spool_full_names[];

/* What a zone over its own bound gets (docs/northbound.md). */
enum spool_zone_full {
	SPOOL_ZONE_DROP_OLDEST = 0, /* its oldest records go, others stay */
	SPOOL_ZONE_REFUSE = 1,      /* its new records are refused */
};
extern const char *const spool_zone_full_names[];

#define SPOOL_REC_HEADER 32
#define SPOOL_SEG_HEADER 16
#define SPOOL_MAX_TOPIC 255
#define SPOOL_MAX_ZONE 255
#define SPOOL_MAX_PAYLOAD (1024 * 1024)
#define SPOOL_MAX_NAME 64      /* uplink names in the state file */
#define SPOOL_MAX_UPLINKS 32
#define SPOOL_MAX_ZONES 64     /* zones accounted one by one; more share one */
#define SPOOL_MAX_SEGMENTS 4096

/* A bound for one named zone, overriding max_bytes_per_zone. */
struct spool_zone_limit {
	const char *zone;
	uint64_t max_bytes;          /* 0: this zone is not bounded */
};

/* A zone's accounting, as spool_zone_get() and the zone callback see it. */
struct spool_zone_stats {
	const char *zone;            /* "" = messages without a zone */
	uint64_t bytes;              /* in the segments kept */
	uint64_t max_bytes;          /* its bound, 0 = none */
	uint64_t dropped_records;    /* unacknowledged records dropped */
	uint64_t refused;            /* appends refused (refuse policy) */
	uint64_t drops;              /* segments compacted to drop its records */
	uint64_t episodes;           /* times it went over its bound */
	bool over;                   /* in an episode now */
};

enum spool_zone_event {
	SPOOL_ZONE_OVER = 0,    /* went over its bound: an episode starts */
	SPOOL_ZONE_DROPPED = 1, /* `n' of its unacknowledged records dropped */
	SPOOL_ZONE_REFUSED = 2, /* one of its records refused */
	SPOOL_ZONE_UNDER = 3,   /* back at half its bound: the episode ends */
};
/*
 * Called from spool_append()/spool_checkpoint() so the owner can log
 * episodes and count (the spool itself does not log).  z is valid
 * during the call.
 */
typedef void (*spool_zone_cb)(void *arg, int event,
			      const struct spool_zone_stats *z, uint64_t n);

struct spool_opts {
	const char *dir;             /* created (0750) when missing */
	uint64_t segment_size;       /* a segment is closed past this size */
	uint64_t max_bytes;          /* all segments together */
	uint64_t max_bytes_per_zone; /* 0: no per-zone bound */
	int fsync;                   /* enum spool_fsync */
	int on_full;                 /* enum spool_full */
	/* per-zone bounds beyond the default (copied at open) */
	const struct spool_zone_limit *zone_limits;
	size_t nzone_limits;
	int on_zone_full;            /* enum spool_zone_full */
	spool_zone_cb zone_cb;       /* may be NULL */
	void *zone_cb_arg;
};

/* One record.  Strings are not NUL-terminated: use the lengths. */
struct spool_rec {
	uint64_t seq;
	int64_t ts_ms;
	const char *topic;
	size_t topic_len;
	const char *zone;  /* zone_len 0: no zone */
	size_t zone_len;
	const void *payload;
	size_t len;
};

struct spool_stats {
	uint64_t records;          /* in the spool now */
	uint64_t bytes;            /* on disk now (segment files) */
	uint64_t segments;
	uint64_t appended;         /* since open */
	uint64_t fsyncs;
	uint64_t dropped_records;  /* unacknowledged records removed by drop_oldest */
	uint64_t refused_full;     /* appends refused: spool full (pause) */
	uint64_t refused_zone;     /* appends refused: zone over its bound */
	uint64_t zone_dropped;     /* unacked records dropped: zone over its bound */
	uint64_t compactions;      /* segments rewritten without a zone's records */
	uint64_t enospc;           /* writes that hit a full disk */
	uint64_t write_errors;     /* other write failures */
	/* found by recovery at open */
	uint64_t recovered_records;
	uint64_t torn_tails;       /* segments whose tail was cut off */
	uint64_t truncated_bytes;
	uint64_t corrupt_segments; /* unreadable headers: set aside */
};

/* -- pure parts ---------------------------------------------------- */

uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len);

enum spool_parse {
	SPOOL_PARSE_OK = 0,
	SPOOL_PARSE_SHORT = 1, /* a prefix of a record: more bytes needed */
	SPOOL_PARSE_BAD = 2,   /* not a record (magic, lengths or CRC) */
};

/* Bytes a record with these lengths takes on disk (header included). */
size_t spool_record_size(size_t topic_len, size_t zone_len, size_t len);
/*
 * Encode r into buf (cap bytes).  Returns the size, or 0 when a length
 * is out of bounds or buf is too small.
 */
size_t spool_record_encode(uint8_t *buf, size_t cap, const struct spool_rec *r);
/*
 * Parse one record at the start of buf.  On OK, *r points into buf and
 * *used is its size.  On SHORT, *used is the size needed when known
 * (else SPOOL_REC_HEADER).  Never reads past len.
 */
int spool_record_parse(const uint8_t *buf, size_t len, struct spool_rec *r,
		       size_t *used);

struct spool_scan {
	uint64_t base_seq;  /* from the segment header */
	uint64_t nrec;
	uint64_t first_seq, last_seq; /* valid when nrec > 0 */
	size_t valid;       /* bytes of header + good records */
	bool header_ok;
	bool torn;          /* bytes after `valid' that are not a record */
};
typedef void (*spool_scan_cb)(void *arg, const struct spool_rec *r);
/*
 * Scan a whole segment file image.  Records must carry rising sequence
 * numbers not below the header's base and above `after'; scanning stops
 * at the first record that is short, bad or out of order (the tail from
 * there is torn).  cb (may be NULL) sees every good record.  0, or -1
 * when the segment header itself is bad (header_ok false).
 */
int spool_segment_scan(const uint8_t *buf, size_t len, uint64_t after,
		       struct spool_scan *out, spool_scan_cb cb, void *arg);

typedef int (*spool_state_cb)(void *arg, const char *name, uint64_t acked);
/*
 * Parse a state file image.  Every line is checked; unknown or malformed
 * lines make it fail (-1) so a damaged state file is noticed.  cb gets
 * each uplink line (name NUL-terminated, valid during the call).
 */
int spool_state_parse(const char *buf, size_t len, uint64_t *next_seq,
		      spool_state_cb cb, void *arg);
/* Names usable as uplink names: 1..64 of [A-Za-z0-9_.:/-]. */
bool spool_name_ok(const char *name);

/* -- the store ----------------------------------------------------- */

struct spool;

/*
 * Open (and recover) the spool in o->dir.  Takes an exclusive lock on
 * the directory (a second daemon on the same spool is refused), scans
 * every segment, truncates a torn tail, sets aside segments with a bad
 * header (renamed *.corrupt), and continues the sequence after the
 * highest number seen in the segments or the state file.  What recovery
 * found is in spool_get_stats() and in `report' (one line a person can
 * read, empty when nothing was wrong).  NULL with err on failure.
 */
struct spool *spool_open(const struct spool_opts *o, char *report,
			 size_t reportlen, char *err, size_t errlen);
/* Save the state (when changed), close everything.  NULL is fine. */
void spool_close(struct spool *s);

/* The sequence number the next appended record gets. */
uint64_t spool_next_seq(const struct spool *s);
/* Highest sequence number that is durable per the fsync policy. */
uint64_t spool_durable_seq(const struct spool *s);

/*
 * Append one record with r->seq == spool_next_seq(s).  Bounds apply
 * first.  A zone over its bound (zone_limits, else max_bytes_per_zone):
 * with SPOOL_ZONE_DROP_OLDEST the oldest segment holding its records is
 * rewritten without them (other zones' records stay, in place and in
 * order) until it fits; with SPOOL_ZONE_REFUSE the record is refused
 * (errno EDQUOT).  Spool over max_bytes -> drop_oldest removes the
 * oldest segments, pause refuses (errno ENOBUFS).  A full disk (ENOSPC) is undone (the file is
 * cut back to the last whole record); drop_oldest then frees a segment
 * and tries once more.  0, or -1 with errno and err.
 */
int spool_append(struct spool *s, const struct spool_rec *r, char *err,
		 size_t errlen);
/* Group commit: fdatasync what was appended since the last call (batch). */
int spool_sync(struct spool *s, char *err, size_t errlen);

/*
 * Uplinks.  attach() registers `name' (state kept across restarts) and
 * returns its acknowledged position in *acked (0 for a new name: it
 * starts with the oldest record kept).  Only attached uplinks hold
 * segments back.
 */
int spool_uplink_attach(struct spool *s, const char *name, uint64_t *acked);
void spool_uplink_detach(struct spool *s, const char *name);
/* Record that `name' acknowledged everything up to acked (monotonic). */
void spool_uplink_ack(struct spool *s, const char *name, uint64_t acked);
/*
 * Persist the state when it changed, then remove every segment (but the
 * one being written) that all attached uplinks acknowledged.  0 or -1.
 */
int spool_checkpoint(struct spool *s, char *err, size_t errlen);

/* A reading position (one per uplink). */
struct spool_cursor {
	uint64_t seg;  /* base seq of the segment */
	uint64_t off;
	uint64_t next; /* records below this are skipped */
	uint64_t nth;  /* records before off in this segment */
	uint64_t gen;  /* the segment's generation `off' belongs to */
};
/* Position c at the first record with seq >= seq. */
void spool_seek(const struct spool *s, struct spool_cursor *c, uint64_t seq);
/*
 * Read the next durable record at c.  1 with *r (valid until the next
 * spool call), 0 at the end, -1 on an I/O or format error (errno, err).
 */
int spool_read(struct spool *s, struct spool_cursor *c, struct spool_rec *r,
	       char *err, size_t errlen);

/*
 * What an uplink still owes, from c (a cursor just past its last
 * acknowledged record) to the end: records and their bytes on disk
 * (segment headers not counted), and the timestamp of the first of them
 * (0 when none).  Records dropped under the cursor (drop_oldest) are not
 * counted: they are gone.  O(segments) plus one 32-byte read.  0, or -1
 * when that read fails (the counts are still filled).
 */
struct spool_backlog {
	uint64_t records;
	uint64_t bytes;
	int64_t oldest_ts_ms;
};
int spool_backlog(struct spool *s, const struct spool_cursor *c,
		  struct spool_backlog *out);
/*
 * Position c just past the last record with seq <= acked (reading the
 * records before it in that segment once): a cursor for spool_backlog().
 */
void spool_seek_after(struct spool *s, struct spool_cursor *c,
		      uint64_t acked);

void spool_get_stats(const struct spool *s, struct spool_stats *st);
/* Bytes kept for `zone' (NULL or "" = no zone). */
uint64_t spool_zone_bytes(const struct spool *s, const char *zone);
/*
 * The i-th zone the spool accounts (0 = no zone, then in order of first
 * use; once SPOOL_MAX_ZONES are known, further zones share the last
 * one, named "*").  0 with *z filled, -1 past the end.
 */
int spool_zone_get(const struct spool *s, int i, struct spool_zone_stats *z);
const char *spool_dir(const struct spool *s);

#endif /* ZG_SPOOL_H */
