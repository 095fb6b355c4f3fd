/* helpers.h - shared by the store's unit tests: a fresh state directory per
 * test, documents with deterministic vectors, and a search for a byte
 * string anywhere under a directory (to prove plaintext never lands). */
#ifndef ED_TESTS_UNIT_STORE_HELPERS_H
#define ED_TESTS_UNIT_STORE_HELPERS_H

#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_DIM 8
#define TEST_CHUNK_BYTES 40

/* A new empty directory under /tmp, removed when the test process ends:
 * tests end in _exit(), so a watcher process removes it once the pipe to
 * the test process closes. */
static char ed__test_dir[PATH_MAX];

static inline int ed__remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static const char *test_dir(void)
{
    snprintf(ed__test_dir, sizeof ed__test_dir, "/tmp/ed-store-test-XXXXXX");
    int fds[2];
    if (!mkdtemp(ed__test_dir) || pipe(fds) != 0)
        abort();
    pid_t watcher = fork();
    if (watcher == 0) {
        close(fds[1]);
        char byte;
        while (read(fds[0], &byte, 1) != 0 && errno == EINTR) {
        }
        nftw(ed__test_dir, ed__remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        _exit(0);
    }
    close(fds[0]); /* fds[1] stays open for the test's lifetime */
    unsetenv("CREDENTIALS_DIRECTORY");
    return ed__test_dir;
}

static inline void test_path(char out[PATH_MAX], const char *dir, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        abort();
}

/* A document of one collection cut into TEST_CHUNK_BYTES chunks, each with
 * a vector derived from (seed, chunk index), and a source of its own
 * ("test://source/PID/N", N counting the documents the process made), so that documents are
 * added, never found as another's. */
typedef struct {
    ed_document_in_t in;
    char source[64];
    ed_chunk_in_t chunks[64];
    float vectors[64][TEST_DIM];
} test_doc_t;

static inline float test_vector_value(int seed, int index, int k)
{
    return (float)(seed * 1000 + index * 10 + k) * 0.25f;
}

static inline void test_doc(test_doc_t *d, int64_t collection_id, const char *title, const char *text, int seed)
{
    static int made;
    memset(d, 0, sizeof *d);
    snprintf(d->source, sizeof d->source, "test://source/%d/%d", (int)getpid(), ++made);
    size_t len = strlen(text);
    int n = 0;
    for (size_t off = 0; off < len && n < 64; off += TEST_CHUNK_BYTES, n++) {
        d->chunks[n].offset = off;
        d->chunks[n].len = len - off < TEST_CHUNK_BYTES ? len - off : TEST_CHUNK_BYTES;
        d->chunks[n].n_tokens = (int)d->chunks[n].len / 4;
        for (int k = 0; k < TEST_DIM; k++)
            d->vectors[n][k] = test_vector_value(seed, n, k);
        d->chunks[n].vector = d->vectors[n];
    }
    d->in = (ed_document_in_t){.collection_id = collection_id, .title = title, .source = d->source,
                               .metadata_json = "{\"k\":1}", .text = text, .text_len = len,
                               .chunks = d->chunks, .n_chunks = n, .n_tokens = (int)len / 4};
}

/* Whether the len bytes of needle occur in any file under dir. */
static inline int bytes_under(const char *dir, const void *needle, size_t len)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        test_path(path, dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            found = bytes_under(path, needle, len);
            continue;
        }
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        char *buf = malloc((size_t)st.st_size + 1);
        size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
        fclose(f);
        found = buf && memmem(buf, n, needle, len) != NULL;
        free(buf);
    }
    closedir(d);
    return found;
}

/* Whether the string needle occurs in any file under dir (raw bytes). */
static inline int found_under(const char *dir, const char *needle)
{
    return bytes_under(dir, needle, strlen(needle));
}

#endif
