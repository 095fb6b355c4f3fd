/* tests/alloc_hook.h - counts a test program's allocations: malloc, calloc
 * and realloc are replaced (for the whole program that includes this, once)
 * by versions that count while `counting` is set, so a test can show that a
 * loop allocates nothing. Under a sanitizer, which owns malloc, nothing is
 * replaced and SANITIZED is defined: such tests skip their count. */
#ifndef ED_TESTS_ALLOC_HOOK_H
#define ED_TESTS_ALLOC_HOOK_H

#include <stdatomic.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif

#ifndef SANITIZED
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);

static atomic_bool counting;      /* count while set */
static atomic_long n_allocations; /* counted so far */

static void count(void)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&n_allocations, 1, memory_order_relaxed);
}

void *malloc(size_t size)
{
    count();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count();
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
    count();
    return __libc_realloc(ptr, size);
}
#endif

#endif
