/* pool.c - the compute pool of pool.h. Each priority has one job slot and
 * its own workers, which claim chunks with an atomic counter: HIGH workers
 * at the process's priority, LOW workers at idle scheduling priority
 * (SCHED_IDLE). A LOW job from a submitter at idle priority (training) runs
 * on the LOW workers only, so the OS hands its cores to inference at once
 * and no HIGH chunk waits for one of its chunks to end; a LOW job from a
 * submitter at normal priority runs on the HIGH workers, which check for
 * HIGH work before each of its chunks (it must not starve). Workers
 * spin for ED_POOL_SPIN_NS and then sleep on a condition variable;
 * submitters wait for completion the same way. A hold (ed_pool_hold_low)
 * keeps every thread from claiming chunks of an idle-priority LOW job: its
 * workers sleep, its submitter waits on low_released. All shared counters are
 * sequentially consistent atomics: a worker announces itself (users) before
 * it looks at a job, and a submitter retires a job (active = 0) before it
 * waits for the users to leave. */
#include "kernels/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ED_POOL_SPIN_NS 200000 /* busy-wait before sleeping: covers the gap between ops */
#define ED_POOL_MAX_THREADS 256
#define ED_POOL_YIELD_WAIT_NS 1000000 /* a LOW worker not at idle priority rechecks HIGH this often */

typedef struct {
    ed_pool_fn fn;            /* written by the submitter before active is set */
    void *arg;
    atomic_int n_chunks;
    atomic_int next_chunk;    /* next unclaimed chunk (may run past n_chunks) */
    atomic_int done_chunks;
    atomic_int active;        /* 1: chunks may be claimed */
    atomic_int users;         /* workers inside the job */
    atomic_int idle;          /* LOW: the submitter runs at idle priority; the LOW workers serve it */
    pthread_mutex_t submit_lock; /* one submitter per priority at a time */
} pool_job_t;

typedef struct {
    ed_pool_t *pool;
    int index; /* 0 .. n_workers-1 within its priority */
    int prio;  /* the one job slot it serves */
    int idle;  /* runs at idle scheduling priority (LOW workers, where the OS allows it) */
} pool_worker_t;

struct ed_pool {
    int n_threads;             /* workers + the submitter */
    int n_workers;             /* per priority: n_threads - 1 */
    int n_started;             /* threads started, of 2 n_workers: HIGH's, then LOW's */
    pthread_t *threads;        /* (2 n_workers) */
    pool_worker_t *workers;    /* (2 n_workers) */
    pool_job_t job[ED_POOL_PRIO_COUNT];
    atomic_int stop;
    pthread_mutex_t lock;      /* guards the condition variables */
    pthread_cond_t work_ready[ED_POOL_PRIO_COUNT]; /* each priority's workers sleep here */
    pthread_cond_t job_done;   /* submitters sleep here */
    atomic_int n_sleeping[ED_POOL_PRIO_COUNT]; /* workers in (or about to be in) work_ready */
    atomic_int n_waiting;      /* submitters in job_done */
    /* the hold of idle-priority LOW jobs (training) */
    atomic_int low_held;       /* 1: no thread starts a chunk of one */
    atomic_int low_running;    /* threads inside such a chunk now */
    atomic_int low_waiting;    /* 1: its submitter waits for the release */
    _Atomic long long low_quiet_ns; /* when held work went quiet, 0: not yet */
    pthread_cond_t low_released; /* the held submitter sleeps here (under lock) */
    ed_pool_hold_fn hold_fn;   /* read by the thread that set it (the idle submitter) */
    void *hold_arg;
    pthread_t hold_thread;
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

/* Held work is quiet: its submitter waits and no chunk runs. Both
 * conditions are re-read after each change, so whichever comes last
 * records the time; the first record wins. */
static void note_quiet(ed_pool_t *pool)
{
    if (atomic_load(&pool->low_held) && atomic_load(&pool->low_waiting) && atomic_load(&pool->low_running) == 0) {
        long long zero = 0;
        atomic_compare_exchange_strong(&pool->low_quiet_ns, &zero, now_ns());
    }
}

/* Enters a chunk of an idle-priority LOW job unless the pool holds such
 * work: announce first, then re-check, so a hold either sees this thread
 * running or this thread sees the hold (both sequentially consistent). */
static int low_enter(ed_pool_t *pool)
{
    if (atomic_load(&pool->low_held))
        return 0;
    atomic_fetch_add(&pool->low_running, 1);
    if (atomic_load(&pool->low_held)) {
        atomic_fetch_sub(&pool->low_running, 1);
        note_quiet(pool);
        return 0;
    }
    return 1;
}

static void low_leave(ed_pool_t *pool)
{
    if (atomic_fetch_sub(&pool->low_running, 1) == 1)
        note_quiet(pool);
}

/* Unclaimed chunks are waiting in the job. */
static int job_available(pool_job_t *job)
{
    return atomic_load(&job->active) &&
           atomic_load(&job->next_chunk) < atomic_load(&job->n_chunks);
}

/* The calling thread runs at idle scheduling priority: the OS gives its
 * core to any other thread, so its LOW chunks need not yield to HIGH. */
static int caller_is_idle(void)
{
#ifdef SCHED_IDLE
    return sched_getscheduler(0) == SCHED_IDLE;
#else
    return 0;
#endif
}

/* The worker has chunks it may claim now. HIGH workers: HIGH chunks, and
 * while no HIGH chunk waits, those of a LOW job whose submitter runs at
 * normal priority (background work that must not starve on a busy machine).
 * LOW workers: those of a LOW job whose submitter runs at idle priority;
 * where a LOW worker could not get idle priority itself, only while no HIGH
 * chunk waits. */
static int low_allowed(ed_pool_t *pool, const pool_worker_t *w)
{
    int high = job_available(&pool->job[ED_POOL_HIGH]), idle_job = atomic_load(&pool->job[ED_POOL_LOW].idle);
    if (w->prio == ED_POOL_HIGH)
        return !high && !idle_job;
    return idle_job && !atomic_load(&pool->low_held) && (w->idle || !high);
}

static int worker_has_work(ed_pool_t *pool, const pool_worker_t *w)
{
    if (w->prio == ED_POOL_HIGH && job_available(&pool->job[ED_POOL_HIGH]))
        return 1;
    return job_available(&pool->job[ED_POOL_LOW]) && low_allowed(pool, w);
}

static void finish_chunk(ed_pool_t *pool, pool_job_t *job, int n_chunks)
{
    if (atomic_fetch_add(&job->done_chunks, 1) + 1 == n_chunks && atomic_load(&pool->n_waiting) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->job_done);
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Runs chunks of job `prio` for worker w until none is left, or for LOW
 * until w may take no more (low_allowed). Returns 1 when it ran at least
 * one chunk. */
static int worker_run_job(ed_pool_t *pool, const pool_worker_t *w, int prio)
{
    pool_job_t *job = &pool->job[prio];
    if (!job_available(job))
        return 0;
    int ran = 0;
    atomic_fetch_add(&job->users, 1);
    if (atomic_load(&job->active)) {
        int n_chunks = atomic_load(&job->n_chunks);
        int holdable = prio == ED_POOL_LOW && atomic_load(&job->idle);
        for (;;) {
            if (prio == ED_POOL_LOW && !low_allowed(pool, w))
                break;
            if (holdable && !low_enter(pool))
                break;
            int chunk = atomic_fetch_add(&job->next_chunk, 1);
            if (chunk < n_chunks) {
                job->fn(job->arg, chunk, w->index);
                ran = 1;
                finish_chunk(pool, job, n_chunks);
            }
            if (holdable)
                low_leave(pool);
            if (chunk >= n_chunks)
                break;
        }
    }
    atomic_fetch_sub(&job->users, 1);
    return ran;
}

static void *worker_main(void *p)
{
    pool_worker_t *worker = p;
    ed_pool_t *pool = worker->pool;
    if (worker->prio == ED_POOL_LOW) {
#ifdef SCHED_IDLE
        /* lowering one's own priority needs no privilege; where it fails the
         * worker yields to HIGH between chunks instead */
        struct sched_param param = {0};
        worker->idle = sched_setscheduler(0, SCHED_IDLE, &param) == 0;
#endif
    }
    while (!atomic_load(&pool->stop)) {
        int ran = worker->prio == ED_POOL_HIGH
                      ? worker_run_job(pool, worker, ED_POOL_HIGH) | worker_run_job(pool, worker, ED_POOL_LOW)
                      : worker_run_job(pool, worker, ED_POOL_LOW);
        if (ran)
            continue;
        long long deadline = now_ns() + ED_POOL_SPIN_NS;
        int found = 0;
        for (int i = 0; !found; i++) {
            found = worker_has_work(pool, worker) || atomic_load(&pool->stop);
            if (!found && (i & 63) == 63 && now_ns() > deadline)
                break;
            cpu_relax();
        }
        if (found)
            continue;
        pthread_mutex_lock(&pool->lock);
        atomic_fetch_add(&pool->n_sleeping[worker->prio], 1);
        while (!worker_has_work(pool, worker) && !atomic_load(&pool->stop)) {
            if (worker->prio == ED_POOL_LOW && job_available(&pool->job[ED_POOL_LOW]) &&
                atomic_load(&pool->job[ED_POOL_LOW].idle) && !atomic_load(&pool->low_held)) {
                /* LOW held back by HIGH work: nobody signals HIGH's end to
                 * LOW workers (it would wake them after every HIGH job) */
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                long long ns = ts.tv_nsec + ED_POOL_YIELD_WAIT_NS;
                ts.tv_sec += (time_t)(ns / 1000000000LL);
                ts.tv_nsec = (long)(ns % 1000000000LL);
                pthread_cond_timedwait(&pool->work_ready[worker->prio], &pool->lock, &ts);
            } else {
                pthread_cond_wait(&pool->work_ready[worker->prio], &pool->lock);
            }
        }
        atomic_fetch_sub(&pool->n_sleeping[worker->prio], 1);
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

/* The submitter of a held job waits for the release; its chunks already
 * claimed by workers finish meanwhile. */
static void wait_released(ed_pool_t *pool)
{
    int hook = pool->hold_fn && pthread_equal(pool->hold_thread, pthread_self());
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->low_waiting, 1);
    note_quiet(pool);
    pthread_mutex_unlock(&pool->lock);
    if (hook)
        pool->hold_fn(pool->hold_arg, 1);
    pthread_mutex_lock(&pool->lock);
    while (atomic_load(&pool->low_held))
        pthread_cond_wait(&pool->low_released, &pool->lock);
    atomic_store(&pool->low_waiting, 0);
    pthread_mutex_unlock(&pool->lock);
    if (hook)
        pool->hold_fn(pool->hold_arg, 0);
}

void ed_pool_set_hold_hook(ed_pool_t *pool, ed_pool_hold_fn fn, void *arg)
{
    if (!pool)
        return;
    pool->hold_fn = fn;
    pool->hold_arg = arg;
    pool->hold_thread = pthread_self();
}

void ed_pool_hold_low(ed_pool_t *pool, int hold)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    if (hold && !atomic_load(&pool->low_held)) {
        atomic_store(&pool->low_quiet_ns, 0);
        atomic_store(&pool->low_held, 1);
    } else if (!hold && atomic_load(&pool->low_held)) {
        atomic_store(&pool->low_held, 0);
        pthread_cond_broadcast(&pool->low_released);
        pthread_cond_broadcast(&pool->work_ready[ED_POOL_LOW]);
    }
    pthread_mutex_unlock(&pool->lock);
}

long long ed_pool_low_quiet_ns(const ed_pool_t *pool)
{
    return pool && atomic_load(&((ed_pool_t *)pool)->low_held) ? atomic_load(&((ed_pool_t *)pool)->low_quiet_ns) : 0;
}

void ed_pool_run(ed_pool_t *pool, ed_pool_prio_t prio, int n_chunks, ed_pool_fn fn, void *arg)
{
    int self = pool->n_threads - 1;
    if (n_chunks <= 0)
        return;
    if (pool->n_workers == 0 || n_chunks == 1) {
        int holdable = prio == ED_POOL_LOW && caller_is_idle();
        for (int chunk = 0; chunk < n_chunks; chunk++) {
            while (holdable && !low_enter(pool))
                wait_released(pool);
            fn(arg, chunk, self);
            if (holdable)
                low_leave(pool);
        }
        return;
    }
    pool_job_t *job = &pool->job[prio];
    int yield = prio == ED_POOL_LOW && !caller_is_idle();
    pthread_mutex_lock(&job->submit_lock);
    job->fn = fn;
    job->arg = arg;
    atomic_store(&job->idle, prio == ED_POOL_LOW && !yield);
    atomic_store(&job->n_chunks, n_chunks);
    atomic_store(&job->next_chunk, 0);
    atomic_store(&job->done_chunks, 0);
    atomic_store(&job->active, 1);
    int served_by = prio == ED_POOL_LOW && !yield ? ED_POOL_LOW : ED_POOL_HIGH;
    if (atomic_load(&pool->n_sleeping[served_by]) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->work_ready[served_by]);
        pthread_mutex_unlock(&pool->lock);
    }
    int holdable = prio == ED_POOL_LOW && !yield;
    for (;;) {
        /* LOW at normal priority: leave the cores to waiting HIGH work; the
         * LOW workers finish ours */
        if (yield && job_available(&pool->job[ED_POOL_HIGH]))
            break;
        if (holdable && !low_enter(pool)) {
            wait_released(pool);
            continue;
        }
        int chunk = atomic_fetch_add(&job->next_chunk, 1);
        if (chunk < n_chunks) {
            fn(arg, chunk, self);
            finish_chunk(pool, job, n_chunks);
        }
        if (holdable)
            low_leave(pool);
        if (chunk >= n_chunks)
            break;
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
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* the LOW workers' timed wait */
    for (int p = 0; p < ED_POOL_PRIO_COUNT; p++)
        pthread_cond_init(&pool->work_ready[p], &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&pool->job_done, NULL);
    pthread_cond_init(&pool->low_released, NULL);
    for (int p = 0; p < ED_POOL_PRIO_COUNT; p++)
        pthread_mutex_init(&pool->job[p].submit_lock, NULL);
    pool->n_workers = n_threads - 1;
    pool->threads = calloc((size_t)n_threads * 2, sizeof *pool->threads);
    pool->workers = calloc((size_t)n_threads * 2, sizeof *pool->workers);
    if (!pool->threads || !pool->workers)
        goto fail_nomem;
    for (int i = 0; i < 2 * pool->n_workers; i++) {
        int prio = i < pool->n_workers ? ED_POOL_HIGH : ED_POOL_LOW;
        pool->workers[i] = (pool_worker_t){pool, i % pool->n_workers, prio, 0};
        int rc = pthread_create(&pool->threads[i], NULL, worker_main, &pool->workers[i]);
        if (rc != 0) {
            snprintf(err, ED_KERR_LEN, "thread pool: starting worker %d of %d failed", i + 1,
                     2 * pool->n_workers);
            ed_pool_close(pool);
            return ED_KERR_EAGAIN;
        }
        pool->n_started = i + 1;
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
    for (int p = 0; p < ED_POOL_PRIO_COUNT; p++)
        pthread_cond_broadcast(&pool->work_ready[p]);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_started; i++)
        pthread_join(pool->threads[i], NULL);
    for (int p = 0; p < ED_POOL_PRIO_COUNT; p++)
        pthread_mutex_destroy(&pool->job[p].submit_lock);
    pthread_cond_destroy(&pool->job_done);
    pthread_cond_destroy(&pool->low_released);
    for (int p = 0; p < ED_POOL_PRIO_COUNT; p++)
        pthread_cond_destroy(&pool->work_ready[p]);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool->threads);
    free(pool);
}
