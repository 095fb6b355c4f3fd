/* base.c - the one base model (see base.h): a small state machine (not
 * loaded -> loading -> ready | failed) under a mutex, the load itself done by
 * the first caller of ed_base_load outside the lock, and a condition variable
 * for the callers that wait for it. */
#include "model/base.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define WAIT_SLICE_MS 100 /* a waiter checks its cancel flag this often */

typedef enum { BASE_NOT_LOADED, BASE_LOADING, BASE_READY, BASE_FAILED } base_state_t;

struct ed_base {
    char *path;
    const ed_kernels_t *kernels;
    ed_pool_t *pool;
    int64_t mtime;

    pthread_mutex_t lock;
    pthread_cond_t changed; /* the state left BASE_LOADING */
    base_state_t state;     /* guarded by lock */
    int rc;                 /* BASE_FAILED: the load's code */
    char reason[ED_ERR_LEN]; /* BASE_FAILED: why; written before the state says so */

    /* written by the loader before BASE_READY, read-only after */
    ed_gguf_t *gguf;
    ed_model_t model;
    bool model_loaded;
    ed_vocab_t *vocab;
};

int ed_base_open(ed_base_t **out, const char *path, const ed_kernels_t *kernels, ed_pool_t *pool,
                 char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_base_t *b = calloc(1, sizeof *b);
    if (!b || !(b->path = strdup(path))) {
        free(b);
        return ed_errf(err, ED_ENOMEM, "out of memory for the base model");
    }
    b->kernels = kernels;
    b->pool = pool;
    struct stat st;
    b->mtime = stat(path, &st) == 0 ? (int64_t)st.st_mtime : 0;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->changed, NULL);
    *out = b;
    return 0;
}

static void unload(ed_base_t *b)
{
    ed_vocab_free(b->vocab);
    b->vocab = NULL;
    if (b->model_loaded)
        ed_model_free(&b->model);
    b->model_loaded = false;
    ed_gguf_close(b->gguf);
    b->gguf = NULL;
}

void ed_base_close(ed_base_t *b)
{
    if (!b)
        return;
    unload(b);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->changed);
    free(b->path);
    free(b);
}

/* The load proper; on failure err says why (the file's path first). */
static int load(ed_base_t *b, char err[ED_ERR_LEN])
{
    int rc;
    char sub[ED_ERR_LEN];
    if ((rc = ed_gguf_open(&b->gguf, b->path, sub)) != 0)
        return strstr(sub, b->path) ? ed_errf(err, rc, "%s", sub) : ed_errf(err, rc, "%s: %s", b->path, sub);
    if ((rc = ed_model_load(&b->model, b->gguf, sub)) != 0)
        return ed_errf(err, rc, "%s: %s", b->path, sub);
    b->model_loaded = true;
    if ((rc = ed_vocab_load(&b->vocab, b->gguf, sub)) != 0)
        return ed_errf(err, rc, "%s: %s", b->path, sub);
    if (!b->kernels)
        return ed_errf(err, ED_EUNSUPPORTED, "no kernels for this CPU");
    if (!b->pool)
        return ed_errf(err, ED_EINVAL, "no compute pool for the model");
    if ((rc = ed_model_repack(&b->model, b->kernels, b->pool, sub)) != 0)
        return ed_errf(err, rc, "%s: %s", b->path, sub);
    return 0;
}

int ed_base_load(ed_base_t *b, const _Atomic bool *cancel, char err[ED_ERR_LEN])
{
    pthread_mutex_lock(&b->lock);
    if (b->state == BASE_NOT_LOADED) {
        b->state = BASE_LOADING;
        pthread_mutex_unlock(&b->lock);
        char why[ED_ERR_LEN] = "";
        int rc = load(b, why);
        if (rc != 0)
            unload(b);
        pthread_mutex_lock(&b->lock);
        b->rc = rc;
        memcpy(b->reason, why, sizeof why);
        b->state = rc == 0 ? BASE_READY : BASE_FAILED;
        pthread_cond_broadcast(&b->changed);
    }
    while (b->state == BASE_LOADING) {
        if (cancel && atomic_load(cancel)) {
            pthread_mutex_unlock(&b->lock);
            return ed_errf(err, ED_ECANCELED, "stopped waiting for %s to load", b->path);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += WAIT_SLICE_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&b->changed, &b->lock, &until);
    }
    int rc = b->state == BASE_READY ? 0 : b->rc;
    if (rc != 0)
        ed_errf(err, rc, "%s", b->reason);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

const ed_model_t *ed_base_model(const ed_base_t *b)
{
    return &b->model;
}

const ed_vocab_t *ed_base_vocab(const ed_base_t *b)
{
    return b->vocab;
}

const ed_gguf_t *ed_base_gguf(const ed_base_t *b)
{
    return b->gguf;
}

const ed_kernels_t *ed_base_kernels(const ed_base_t *b)
{
    return b->kernels;
}

ed_pool_t *ed_base_pool(const ed_base_t *b)
{
    return b->pool;
}

const char *ed_base_path(const ed_base_t *b)
{
    return b->path;
}

int64_t ed_base_mtime(const ed_base_t *b)
{
    return b->mtime;
}
