/* memory.c - see memory.h. */
#include "kernels/memory.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static size_t huge_page_bytes = (size_t)2 << 20;
static pthread_once_t huge_page_once = PTHREAD_ONCE_INIT;

static void read_huge_page_bytes(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
    unsigned long long bytes = 0;
    /* a power of two from 64 KiB to 1 GiB, or the default stays */
    if (f && fscanf(f, "%llu", &bytes) == 1 && bytes >= (1u << 16) && bytes <= (1u << 30) &&
        (bytes & (bytes - 1)) == 0)
        huge_page_bytes = (size_t)bytes;
    if (f)
        fclose(f);
}

size_t ed_huge_page_bytes(void)
{
    pthread_once(&huge_page_once, read_huge_page_bytes);
    return huge_page_bytes;
}

void *ed_alloc_streamed(size_t bytes)
{
    size_t huge = ed_huge_page_bytes();
    if (bytes < huge)
        return aligned_alloc(64, (bytes + 63) / 64 * 64);
    size_t rounded = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, rounded);
#ifdef MADV_HUGEPAGE
    if (p)
        madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}
