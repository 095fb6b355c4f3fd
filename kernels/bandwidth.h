/* bandwidth.h - this machine's memory read bandwidth: the pool's threads sum
 * a buffer far larger than the last-level cache, so every byte comes from
 * DRAM. Decode speed is bounded by it (every weight is read once per token);
 * `edged bench` and the kernels' benchmark divide by it. */
#ifndef ED_KERNELS_BANDWIDTH_H
#define ED_KERNELS_BANDWIDTH_H

#include "kernels/pool.h"

#include <stddef.h>

/* Bytes of a buffer that no cache holds: 8 times the L3 cache (as sysconf
 * reports it), at least 256 MiB, at most a quarter of physical memory. */
size_t ed_bandwidth_buffer_size(void);

/* GB/s (1e9 bytes per second) of reading buf[0, bytes) with every thread of
 * `pool`, the best of `passes` passes (>= 1; noise only lowers a pass). The
 * buffer must have been written (touched) before, so that its pages exist.
 * Submits HIGH-priority jobs; one caller at a time. */
double ed_bandwidth_read_gbps(ed_pool_t *pool, const void *buf, size_t bytes, int passes);

#endif
