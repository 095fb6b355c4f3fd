/* tests/wipe_hook.h - checks that personal data is wiped before it is
 * freed: a test registers buffers in watched[] (with their sizes), includes
 * the .c under test with `free` defined as watched_free, and reads
 * n_freed_clean / n_freed_dirty (a registered buffer freed with a non-zero
 * byte in it). Included once per test program. */
#ifndef ED_TESTS_WIPE_HOOK_H
#define ED_TESTS_WIPE_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#define WATCH_MAX 4096
static const void *watched[WATCH_MAX];
static size_t watched_bytes[WATCH_MAX];
static int n_watched, n_freed_clean, n_freed_dirty;

static void watched_free(void *p)
{
    for (int i = 0; p && i < n_watched; i++) {
        if (watched[i] != p)
            continue;
        const unsigned char *b = p;
        bool zero = true;
        for (size_t k = 0; k < watched_bytes[i]; k++)
            zero = zero && b[k] == 0;
        zero ? n_freed_clean++ : n_freed_dirty++;
        watched[i] = NULL;
    }
    free(p);
}

#endif
