/* histogram.h - the one latency histogram: fixed upper bounds (seconds),
 * counts kept in atomics so any thread may observe while a scrape renders,
 * and a writer of the Prometheus text format (with optional labels, so one
 * family may hold a histogram per route). */
#ifndef ED_CORE_HISTOGRAM_H
#define ED_CORE_HISTOGRAM_H

#include "core/buf.h"

#include <stdatomic.h>
#include <stdint.h>

#define ED_HISTOGRAM_MAX_BOUNDS 24

typedef struct {
    const double *bounds; /* (n_bounds) ascending upper bounds in seconds; outlives the histogram */
    int n_bounds;         /* 1..ED_HISTOGRAM_MAX_BOUNDS */
    _Atomic uint64_t bucket[ED_HISTOGRAM_MAX_BOUNDS + 1]; /* non-cumulative; [n_bounds]: +Inf */
    _Atomic uint64_t sum_bits; /* the sum of observations, a double's bits */
} ed_histogram_t;

/* Zeroes h and sets its bounds (not thread-safe: before any observe). */
void ed_histogram_init(ed_histogram_t *h, const double *bounds, int n_bounds);
/* Counts one observation: the first bucket whose bound is >= seconds, else
 * +Inf. Any thread; lock-free. */
void ed_histogram_observe(ed_histogram_t *h, double seconds);
/* The number of observations so far. */
uint64_t ed_histogram_count(const ed_histogram_t *h);
/* Writes the "# HELP" and "# TYPE <name> histogram" lines of a family. */
void ed_histogram_render_header(ed_buf_t *out, const char *name, const char *help);
/* Writes h's _bucket, _sum and _count lines. labels, when not NULL or "",
 * are written first inside the braces (`route="/v1/models"`), already
 * escaped by the caller. A concurrent observe may show in some lines and not
 * yet in others; each line stays consistent with the cumulative rule. */
void ed_histogram_render(ed_buf_t *out, const char *name, const char *labels, const ed_histogram_t *h);

#endif
