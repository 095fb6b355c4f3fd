/* pool.c - the compute pool of pool.h. Each priority has one job slot;
 * workers claim chunks with an atomic counter, HIGH before LOW, and check for
 * HIGH work before every LOW chunk. Idle workers spin for ED_POOL_SPIN_NS and
 * then sleep on a condition variable; submitters wait for completion the same
 * way. All shared counters are sequentially consistent atomics: a worker
 * announces itself (users) before it looks at a job, and a submitter retires
 * a job (active = 0) before it waits for the users to leave. */
#include "kernels/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ED_POOL_SPIN_NS 200000 /* busy-wait before sleeping: covers the gap between ops */
#define ED_POOL_MAX_THREADS 256

typedef struct {
    ed_pool_fn fn;            /* written by the submitter before active is set */
    void *arg;
    atomic_int n_chunks;
    atomic_int next_chunk;    /* next unclaimed chunk (may run past n_chunks) */
    atomic_int done_chunks;
    atomic_int active;        /* 1: chunks may be claimed */
    atomic_int users;         /* workers inside the job */
    pthread_mutex_t submit_lock; /* one submitter per priority at a time */
} pool_job_t;

typedef struct {
    ed_pool_t *pool;
    int index; /* 0 .. n_workers-1 */
} pool_worker_t;

struct ed_pool {
    int n_threads;             /* workers + the submitter */
    int n_workers;
    pthread_t *threads;        /* (n_workers) */
    pool_worker_t *workers;    /* (n_workers) */
    pool_job_t job[ED_POOL_PRIO_COUNT];
    atomic_int stop;
    pthread_mutex_t lock;      /* guards the two condition variables */
    pthread_cond_t work_ready; /* workers sleep here */
    pthread_cond_t job_done;   /* submitters sleep here */
    atomic_int n_sleeping;     /* workers in (or about to be in) work_ready */
    atomic_int n_waiting;      /* submitters in job_done */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Unclaimed chunks are waiting in the job. */
static int job_available(pool_job_t *job)
{
    return atomic_load(&job->active) &&
           atomic_load(&job->next_chunk) < atomic_load(&job->n_chunks);
}

static int any_available(ed_pool_t *pool)
{
    return job_available(&pool->job[ED_POOL_HIGH]) || job_available(&pool->job[ED_POOL_LOW]);
}

static void finish_chunk(ed_pool_t *pool, pool_job_t *job, int n_chunks)
{
    if (atomic_fetch_add(&job->done_chunks, 1) + 1 == n_chunks && atomic_load(&pool->n_waiting) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->job_done);
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Runs chunks of job `prio` until none is left (or, for LOW, until HIGH
 * work appears). Returns 1 when it ran at least one chunk. */
static int worker_run_job(ed_pool_t *pool, int prio, int thread)
{
    pool_job_t *job = &pool->job[prio];
    if (!job_available(job))
        return 0;
    int ran = 0;
    atomic_fetch_add(&job->users, 1);
    if (atomic_load(&job->active)) {
        int n_chunks = atomic_load(&job->n_chunks);
        for (;;) {
            if (prio == ED_POOL_LOW && job_available(&pool->job[ED_POOL_HIGH]))
                break;
            int chunk = atomic_fetch_add(&job->next_chunk, 1);
            if (chunk >= n_chunks)
                break;
            job->fn(job->arg, chunk, thread);
            ran = 1;
            finish_chunk(pool, job, n_chunks);
        }
    }
    atomic_fetch_sub(&job->users, 1);
    return ran;
}

static void *worker_main(void *p)
{
    pool_worker_t *worker = p;
    ed_pool_t *pool = worker->pool;
    while (!atomic_load(&pool->stop)) {
        if (worker_run_job(pool, ED_POOL_HIGH, worker->index) |
            worker_run_job(pool, ED_POOL_LOW, worker->index))
            continue;
        long long deadline = now_ns() + ED_POOL_SPIN_NS;
        int found = 0;
        for (int i = 0; !found; i++) {
            found = any_available(pool) || atomic_load(&pool->stop);
            if (!found && (i & 63) == 63 && now_ns() > deadline)
                break;
            cpu_relax();
        }
        if (found)
            continue;
        pthread_mutex_lock(&pool->lock);
        atomic_fetch_add(&pool->n_sleeping, 1);
        while (!any_available(pool) && !atomic_load(&pool->stop))
            pthread_cond_wait(&pool->work_ready, &pool->lock);
        atomic_fetch_sub(&pool->n_sleeping, 1);
        pthread_mutex_unlock(&pool->lock);
    }
    return NULL;
}

static void wait_done(ed_pool_t *pool, pool_job_t *job, int n_chunks)
{
    long long deadline = now_ns() + ED_POOL_SPIN_NS;
    for (int i = 0; atomic_load(&job->done_chunks) < n_chunks; i++) {
        if ((i & 63) == 63 && now_ns() > deadline) {
            pthread_mutex_lock(&pool->lock);
            atomic_fetch_add(&pool->n_waiting, 1);
            while (atomic_load(&job->done_chunks) < n_chunks)
                pthread_cond_wait(&pool->job_done, &pool->lock);
            atomic_fetch_sub(&pool->n_waiting, 1);
            pthread_mutex_unlock(&pool->lock);
            return;
        }
        cpu_relax();
    }
}

void ed_pool_run(ed_pool_t *pool, ed_pool_prio_t prio, int n_chunks, ed_pool_fn fn, void *arg)
{
    int self = pool->n_threads - 1;
    if (n_chunks <= 0)
        return;
    if (pool->n_workers == 0 || n_chunks == 1) {
        for (int chunk = 0; chunk < n_chunks; chunk++)
            fn(arg, chunk, self);
        return;
    }
    pool_job_t *job = &pool->job[prio];
    pthread_mutex_lock(&job->submit_lock);
    job->fn = fn;
    job->arg = arg;
    atomic_store(&job->n_chunks, n_chunks);
    atomic_store(&job->next_chunk, 0);
    atomic_store(&job->done_chunks, 0);
    atomic_store(&job->active, 1);
    if (atomic_load(&pool->n_sleeping) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->work_ready);
        pthread_mutex_unlock(&pool->lock);
    }
    for (;;) {
        /* LOW: leave the cores to waiting HIGH work; the workers finish ours */
        if (prio == ED_POOL_LOW && job_available(&pool->job[ED_POOL_HIGH]))
            break;
        int chunk = atomic_fetch_add(&job->next_chunk, 1);
        if (chunk >= n_chunks)
            break;
        fn(arg, chunk, self);
        finish_chunk(pool, job, n_chunks);
    }
    wait_done(pool, job, n_chunks);
    atomic_store(&job->active, 0);
    while (atomic_load(&job->users) > 0)
        cpu_relax();
    pthread_mutex_unlock(&job->submit_lock);
}

int ed_pool_n_threads(const ed_pool_t *pool)
{
    return pool->n_threads;
}

int ed_pool_open(ed_pool_t **out, int n_threads, char err[ED_KERR_LEN])
{
    *out = NULL;
    if (n_threads < 1 || n_threads > ED_POOL_MAX_THREADS) {
        snprintf(err, ED_KERR_LEN, "thread pool: %d threads requested, expected 1..%d", n_threads,
                 ED_POOL_MAX_THREADS);
        return ED_KERR_EINVAL;
    }
    ed_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool)
        goto fail_nomem;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work_ready, NULL);
    pthread_cond_init(&pool->job_done, NULL);
    for (int p = 0; p < ED_POOL_PRIO_COUNT; p++)
        pthread_mutex_init(&pool->job[p].submit_lock, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof *pool->threads);
    pool->workers = calloc((size_t)n_threads, sizeof *pool->workers);
    if (!pool->threads || !pool->workers)
        goto fail_nomem;
    for (int i = 0; i < n_threads - 1; i++) {
        pool->workers[i] = (pool_worker_t){pool, i};
        int rc = pthread_create(&pool->threads[i], NULL, worker_main, &pool->workers[i]);
        if (rc != 0) {
            snprintf(err, ED_KERR_LEN, "thread pool: starting worker %d of %d failed", i + 1,
                     n_threads - 1);
            ed_pool_close(pool);
            return ED_KERR_EAGAIN;
        }
        pool->n_workers = i + 1;
    }
    *out = pool;
    return 0;

fail_nomem:
    snprintf(err, ED_KERR_LEN, "thread pool: out of memory");
    ed_pool_close(pool);
    return ED_KERR_ENOMEM;
}

void ed_pool_close(ed_pool_t *pool)
{
    if (!pool)
        return;
    atomic_store(&pool->stop, 1);
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_workers; i++)
        pthread_join(pool->threads[i], NULL);
    for (int p = 0; p < ED_POOL_PRIO_COUNT; p++)
        pthread_mutex_destroy(&pool->job[p].submit_lock);
    pthread_cond_destroy(&pool->job_done);
    pthread_cond_destroy(&pool->work_ready);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool->threads);
    free(pool);
}
