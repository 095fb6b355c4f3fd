/* memory.h - memory for the data the kernels stream end to end: the
 * weights a token reads, the bandwidth probe's buffer. Advised for
 * transparent huge pages when it spans one: with 4 KiB pages, streaming a
 * model costs a TLB miss every 4 KiB, and under a hypervisor each miss walks
 * two page tables (a third of a token's time on the development machine, a
 * VM). Not for what is touched a little at a time (the KV cache: a huge page
 * would make a layer's first thousands of positions resident at once). */
#ifndef ED_KERNELS_MEMORY_H
#define ED_KERNELS_MEMORY_H

#include <stddef.h>

/* The size of a transparent huge page here: the kernel's
 * /sys/kernel/mm/transparent_hugepage/hpage_pmd_size (2 MiB on x86-64 and
 * arm64 with 4 KiB pages, 32 MiB with the Pi 5's 16 KiB ones), or 2 MiB
 * where it does not say. */
size_t ed_huge_page_bytes(void);

/* `bytes` (> 0) of uninitialised memory, 64-byte aligned; from one huge
 * page up, on a huge-page boundary, rounded up to whole huge pages and
 * madvise(MADV_HUGEPAGE)'d (only advice: a kernel without them, or short of
 * them, gives small pages). NULL when out of memory. Freed with free(). */
void *ed_alloc_streamed(size_t bytes);

#endif
