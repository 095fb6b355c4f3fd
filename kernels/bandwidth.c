/* bandwidth.c - memory read bandwidth: each chunk of the buffer is summed in
 * eight independent 64-bit accumulators (enough loads in flight to saturate
 * the memory system), chunks spread over the pool. */
#include "kernels/bandwidth.h"

#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* At least 1 GiB: a virtual machine may report a 32 MiB L3 while its host's
 * L3 holds hundreds of MiB (a 256 MiB buffer read here at 33 to 62 GB/s from
 * one run to the next); 8 x the reported L3 when that is more; at most a
 * quarter of RAM (a Pi with 4 GiB reads 1 GiB). */
#define MIN_BUFFER_BYTES ((size_t)1 << 30)
#define CHUNKS_PER_THREAD 16
#define SUM_STRIDE 8 /* uint64_t per thread slot: one cache line, no false sharing */

typedef struct {
    const uint64_t *words;
    size_t n_words;
    int n_chunks;
    uint64_t sums[256 * SUM_STRIDE]; /* per pool thread, so the loads are not optimised away */
} read_job_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void read_chunk(void *arg, int chunk, int thread)
{
    read_job_t *job = arg;
    size_t per = job->n_words / (size_t)job->n_chunks;
    const uint64_t *p = job->words + per * (size_t)chunk;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (size_t i = 0; i + 8 <= per; i += 8) {
        s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
        s4 += p[i + 4], s5 += p[i + 5], s6 += p[i + 6], s7 += p[i + 7];
    }
    job->sums[thread * SUM_STRIDE] += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

size_t ed_bandwidth_buffer_size(void)
{
    size_t size = MIN_BUFFER_BYTES;
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0 && (size_t)l3 * 8 > size)
        size = (size_t)l3 * 8;
#endif
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0) {
        size_t quarter = (size_t)pages / 4 * (size_t)page_size;
        if (size > quarter)
            size = quarter;
    }
    return size;
}

double ed_bandwidth_read_gbps(ed_pool_t *pool, const void *buf, size_t bytes, int passes)
{
    read_job_t job = {.words = buf, .n_words = bytes / 8};
    job.n_chunks = ed_pool_n_threads(pool) * CHUNKS_PER_THREAD;
    size_t bytes_read = job.n_words / (size_t)job.n_chunks / 8 * 8 * (size_t)job.n_chunks * 8;
    double best = 0;
    for (int pass = 0; pass < passes; pass++) {
        double t0 = now_s();
        ed_pool_run(pool, ED_POOL_HIGH, job.n_chunks, read_chunk, &job);
        double gbps = (double)bytes_read / (now_s() - t0) / 1e9;
        best = gbps > best ? gbps : best;
    }
    return best;
}
