/*
 * metrics: the daemon's labelled counters and gauges, rendered in the
 * Prometheus text exposition format (version 0.0.4) by metrics_http.c.
 *
 * One registry per process, used from the event-loop thread only (like
 * every host service).  Any part of the core increments a series by name:
 *
 *   metrics_counter_add("zonegate_detections_total", "detection",
 *                       "modbus.write_without_right", 1);
 *
 * A family (name) is created on first use; metrics_describe() gives it a
 * HELP text and a type (a family never described is exported as an
 * untyped-free "counter" with a generic HELP).  Series are (name, up to
 * METRICS_LABELS_MAX label pairs).  Everything is bounded: names and
 * label names must be valid Prometheus identifiers, label values are cut
 * at METRICS_VALUE_MAX bytes, and past METRICS_SERIES_MAX series new ones
 * are refused and counted in zonegate_metrics_series_dropped_total (a
 * label fed from the network can never grow memory without limit).
 *
 * The names exported by zonegate are listed in docs/operations.md.
 */
#ifndef ZG_METRICS_H
#define ZG_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct zg_daemon;

#define METRICS_SERIES_MAX 4096
#define METRICS_FAMILIES_MAX 256
#define METRICS_LABELS_MAX 3
#define METRICS_NAME_MAX 96
#define METRICS_VALUE_MAX 128

enum metric_type { METRIC_COUNTER = 0, METRIC_GAUGE = 1, METRIC_HISTOGRAM = 2 };

/*
 * Histograms (latencies) have one fixed set of upper bounds, in seconds:
 * 1 ms to 10 s, enough to tell a healthy local network (a few ms) from a
 * congested serial line (hundreds of ms) from a device timing out.
 */
#define METRICS_HIST_BUCKETS 13

/*
 * Give family `name' a type and a HELP line (both copied).  Describing a
 * family again replaces its HELP; changing its type is refused (-1), as
 * is an invalid name.  0 on success.
 */
int metrics_describe(const char *name, enum metric_type type,
		     const char *help);

/*
 * Add n to the counter `name' with one label (label_k NULL: no label).
 * Invalid names, label names, or a full registry: the call is dropped
 * and counted.  Never fails loudly: metrics must not break the data path.
 */
void metrics_counter_add(const char *name, const char *label_k,
			 const char *label_v, uint64_t n);
/* The same with two labels. */
void metrics_counter_add2(const char *name, const char *k1, const char *v1,
			  const char *k2, const char *v2, uint64_t n);
/* Set a counter to an absolute value (counts kept elsewhere). */
void metrics_counter_set(const char *name, const char *label_k,
			 const char *label_v, uint64_t v);
/* Set gauge `name' (one label or none) to v. */
void metrics_gauge_set(const char *name, const char *label_k,
		       const char *label_v, double v);
void metrics_gauge_set2(const char *name, const char *k1, const char *v1,
			const char *k2, const char *v2, double v);
/*
 * Record one observation v (seconds) in histogram `name' with one label
 * (label_k NULL: none): the bucket counts, _sum and _count.  Bounded and
 * silent like the counters; v < 0 or not finite is dropped and counted.
 */
void metrics_observe(const char *name, const char *label_k,
		     const char *label_v, double v);
/* The same with two labels. */
void metrics_observe2(const char *name, const char *k1, const char *v1,
		      const char *k2, const char *v2, double v);
/* Forget every series of family `name' (gauges whose label set changes). */
void metrics_family_clear(const char *name);

/* The current value of a series (tests; a histogram: its count); -1 when absent. */
double metrics_value(const char *name, const char *label_k,
		     const char *label_v);

/*
 * Refresh the values owned elsewhere (the daemon's counters, process
 * RSS and descriptors, uptime, live sessions, uplinks) from d (may be
 * NULL), then append the whole registry to out in the exposition format.
 */
void metrics_render(struct zg_daemon *d, struct evbuffer *out);

/* zonegate_uptime_seconds counts from now (called at start-up). */
void metrics_start_clock(void);

/* Free the registry (at exit; the next use starts an empty one). */
void metrics_reset(void);

#endif /* ZG_METRICS_H */
