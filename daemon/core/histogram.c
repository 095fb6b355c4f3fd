/* histogram.c - see histogram.h. The sum is a double kept as its bits in an
 * atomic and added with compare-and-swap, so it is exact (no rounding to
 * microseconds) and needs no lock. */
#include "core/histogram.h"

#include <string.h>

void ed_histogram_init(ed_histogram_t *h, const double *bounds, int n_bounds)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n_bounds = n_bounds < ED_HISTOGRAM_MAX_BOUNDS ? n_bounds : ED_HISTOGRAM_MAX_BOUNDS;
}

static uint64_t double_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

static double bits_double(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

void ed_histogram_observe(ed_histogram_t *h, double seconds)
{
    int b = 0;
    while (b < h->n_bounds && seconds > h->bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, double_bits(bits_double(old) + seconds),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

uint64_t ed_histogram_count(const ed_histogram_t *h)
{
    uint64_t count = 0;
    for (int b = 0; b <= h->n_bounds; b++)
        count += atomic_load_explicit(&((ed_histogram_t *)h)->bucket[b], memory_order_relaxed);
    return count;
}

void ed_histogram_render_header(ed_buf_t *out, const char *name, const char *help)
{
    ed_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
}

void ed_histogram_render(ed_buf_t *out, const char *name, const char *labels, const ed_histogram_t *h)
{
    ed_histogram_t *m = (ed_histogram_t *)h; /* C11's atomic_load takes a non-const pointer */
    const char *l = labels ? labels : "";
    const char *sep = *l ? "," : "";
    uint64_t cumulative = 0;
    for (int b = 0; b <= h->n_bounds; b++) {
        cumulative += atomic_load_explicit(&m->bucket[b], memory_order_relaxed);
        if (b < h->n_bounds)
            ed_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, l, sep, h->bounds[b],
                          (unsigned long long)cumulative);
        else
            ed_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep,
                          (unsigned long long)cumulative);
    }
    double sum = bits_double(atomic_load_explicit(&m->sum_bits, memory_order_relaxed));
    if (*l)
        ed_buf_printf(out, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, l, sum, name, l,
                      (unsigned long long)cumulative);
    else
        ed_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)cumulative);
}
