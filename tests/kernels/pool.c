/* tests/kernels/pool.c - the compute pool: every chunk runs exactly once,
 * thread indices are distinct among concurrent runners, finishing a job is
 * a barrier (phase 2 sees all of phase 1), many tiny jobs, HIGH work is
 * started before more LOW work, and LOW work still completes; LOW work from
 * a submitter at idle priority runs on the LOW workers, and HIGH work ends
 * while every one of its threads is inside a LOW chunk. */
#include "kernels/pool.h"
#include "tests/test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define MAX_CHUNKS 1024

typedef struct {
    atomic_int runs[MAX_CHUNKS];
    atomic_int busy[64]; /* per thread index: 1 while a chunk runs on it */
    atomic_int bad_thread;
    int n_threads;
} count_job_t;

static void count_chunk(void *arg, int chunk, int thread)
{
    count_job_t *job = arg;
    if (thread < 0 || thread >= job->n_threads || atomic_exchange(&job->busy[thread], 1) != 0)
        atomic_store(&job->bad_thread, 1);
    atomic_fetch_add(&job->runs[chunk], 1);
    if (thread >= 0 && thread < job->n_threads)
        atomic_store(&job->busy[thread], 0);
}

static ed_pool_t *open_pool(int n_threads)
{
    char err[ED_KERR_LEN] = "";
    ed_pool_t *pool = NULL;
    int rc = ed_pool_open(&pool, n_threads, err);
    if (rc != 0)
        printf("# ed_pool_open: %s\n", err);
    return pool;
}

ED_TEST(rejects_bad_thread_counts)
{
    char err[ED_KERR_LEN] = "";
    ed_pool_t *pool = (ed_pool_t *)&err;
    ED_CHECK_INT(ed_pool_open(&pool, 0, err), ED_KERR_EINVAL);
    ED_CHECK(pool == NULL);
    ED_CHECK(strstr(err, "threads") != NULL);
    ED_CHECK_INT(ed_pool_open(&pool, 100000, err), ED_KERR_EINVAL);
    ed_pool_close(NULL);
}

ED_TEST(every_chunk_runs_once_on_a_distinct_thread)
{
    static const int thread_counts[] = {1, 2, 3, 5};
    static const int chunk_counts[] = {1, 2, 3, 7, 64, 1000};
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        ed_pool_t *pool = open_pool(thread_counts[t]);
        ED_REQUIRE(pool != NULL);
        ED_CHECK_INT(ed_pool_n_threads(pool), thread_counts[t]);
        for (size_t c = 0; c < sizeof chunk_counts / sizeof chunk_counts[0]; c++) {
            static count_job_t job;
            memset(&job, 0, sizeof job);
            job.n_threads = thread_counts[t];
            for (int prio = 0; prio < ED_POOL_PRIO_COUNT; prio++) {
                ed_pool_run(pool, (ed_pool_prio_t)prio, chunk_counts[c], count_chunk, &job);
                for (int i = 0; i < chunk_counts[c]; i++)
                    ED_CHECK_INT(atomic_load(&job.runs[i]), prio + 1);
            }
            ED_CHECK_INT(atomic_load(&job.runs[chunk_counts[c]]), 0);
            ED_CHECK_INT(atomic_load(&job.bad_thread), 0);
        }
        ed_pool_run(pool, ED_POOL_HIGH, 0, count_chunk, NULL); /* nothing to do */
        ed_pool_close(pool);
    }
}

/* Phase 1 fills a[], phase 2 reads neighbours written by other chunks. */
typedef struct {
    int n, round;
    int *a, *b;
} phase_job_t;

enum { PHASE_ROWS = 37 }; /* per chunk: n is not a multiple of the thread count */

static void phase1_chunk(void *arg, int chunk, int thread)
{
    phase_job_t *job = arg;
    (void)thread;
    for (int i = chunk * PHASE_ROWS; i < job->n && i < (chunk + 1) * PHASE_ROWS; i++)
        job->a[i] = i * 3 + job->round;
}

static void phase2_chunk(void *arg, int chunk, int thread)
{
    phase_job_t *job = arg;
    (void)thread;
    for (int i = chunk * PHASE_ROWS; i < job->n && i < (chunk + 1) * PHASE_ROWS; i++)
        job->b[i] = job->a[(i + PHASE_ROWS * 5 + 1) % job->n] + job->a[(job->n - 1 - i)];
}

ED_TEST(job_completion_is_a_barrier)
{
    enum { N = 1001 };
    static int a[N], b[N];
    for (int n_threads = 2; n_threads <= 3; n_threads++) {
        ed_pool_t *pool = open_pool(n_threads);
        ED_REQUIRE(pool != NULL);
        int n_chunks = (N + PHASE_ROWS - 1) / PHASE_ROWS, errors = 0;
        for (int round = 0; round < 2000; round++) {
            phase_job_t job = {N, round, a, b};
            ed_pool_run(pool, ED_POOL_HIGH, n_chunks, phase1_chunk, &job);
            ed_pool_run(pool, ED_POOL_HIGH, n_chunks, phase2_chunk, &job);
            for (int i = 0; i < N; i++) {
                int expect = ((i + PHASE_ROWS * 5 + 1) % N) * 3 + round + (N - 1 - i) * 3 + round;
                errors += b[i] != expect;
            }
        }
        ED_CHECK_INT(errors, 0);
        ed_pool_close(pool);
    }
}

static void add_chunk(void *arg, int chunk, int thread)
{
    (void)thread;
    atomic_fetch_add((atomic_long *)arg, chunk + 1);
}

ED_TEST(many_tiny_jobs)
{
    ed_pool_t *pool = open_pool(3);
    ED_REQUIRE(pool != NULL);
    atomic_long sum = 0;
    long expect = 0;
    for (int i = 0; i < 50000; i++) {
        int n_chunks = 1 + i % 4;
        ed_pool_run(pool, i % 7 == 0 ? ED_POOL_LOW : ED_POOL_HIGH, n_chunks, add_chunk, &sum);
        expect += (long)n_chunks * (n_chunks + 1) / 2;
    }
    ED_CHECK_INT(atomic_load(&sum), expect);
    ed_pool_close(pool);
}

/* ---- priorities ---- */

typedef struct {
    ed_pool_t *pool;
    atomic_int low_started;  /* LOW chunks begun */
    atomic_int low_finished;
    atomic_int max_low_seen; /* by a HIGH chunk: LOW chunks begun since HIGH was submitted */
    int low_at_submit;
} prio_test_t;

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void low_chunk(void *arg, int chunk, int thread)
{
    prio_test_t *t = arg;
    (void)chunk, (void)thread;
    atomic_fetch_add(&t->low_started, 1);
    sleep_ms(2);
    atomic_fetch_add(&t->low_finished, 1);
}

static void high_chunk(void *arg, int chunk, int thread)
{
    prio_test_t *t = arg;
    (void)chunk, (void)thread;
    int seen = atomic_load(&t->low_started) - t->low_at_submit;
    int max = atomic_load(&t->max_low_seen);
    while (seen > max && !atomic_compare_exchange_weak(&t->max_low_seen, &max, seen)) {
    }
    sleep_ms(1);
}

static void *low_submitter(void *arg)
{
    prio_test_t *t = arg;
    ed_pool_run(t->pool, ED_POOL_LOW, 300, low_chunk, t);
    return NULL;
}

ED_TEST(high_work_starts_before_more_low_work)
{
    for (int n_threads = 2; n_threads <= 3; n_threads++) {
        static prio_test_t t;
        memset(&t, 0, sizeof t);
        t.pool = open_pool(n_threads);
        ED_REQUIRE(t.pool != NULL);
        pthread_t low_thread;
        ED_REQUIRE(pthread_create(&low_thread, NULL, low_submitter, &t) == 0);
        while (atomic_load(&t.low_finished) < 20)
            sleep_ms(1);
        t.low_at_submit = atomic_load(&t.low_started);
        ed_pool_run(t.pool, ED_POOL_HIGH, 12, high_chunk, &t);
        int low_during_high = atomic_load(&t.low_started) - t.low_at_submit;
        pthread_join(low_thread, NULL);
        printf("# %d threads: LOW chunks begun while HIGH chunks waited: at most %d; during all of HIGH: %d\n",
               n_threads, atomic_load(&t.max_low_seen), low_during_high);
        /* each thread may have claimed one LOW chunk just as HIGH arrived */
        ED_CHECK(atomic_load(&t.max_low_seen) <= n_threads);
        ED_CHECK_INT(atomic_load(&t.low_finished), 300);
        ed_pool_close(t.pool);
    }
}

/* A LOW job from a submitter at idle priority runs on the LOW workers. Its
 * chunks wait for `release` while HIGH runs: every LOW thread (its
 * workers and its submitter) sits inside a LOW chunk, and the HIGH job must
 * still complete, on threads none of which is inside a LOW chunk. */
typedef struct {
    ed_pool_t *pool;
    int n_threads;
    atomic_int low_started; /* LOW chunks begun */
    atomic_int low_finished;
    atomic_int release;     /* LOW chunks may end */
    atomic_int high_on_low; /* HIGH chunks that ran on a thread inside a LOW chunk */
    atomic_int high_runs;
    pthread_mutex_t mutex;
    pthread_t low_threads[64]; /* under mutex: threads inside a LOW chunk */
    int n_low_threads;
    int idle;               /* the LOW submitter got idle priority */
} idle_test_t;

static void idle_low_chunk(void *arg, int chunk, int thread)
{
    idle_test_t *t = arg;
    (void)chunk, (void)thread;
    int slot = -1;
    if (!atomic_load(&t->release)) {
        pthread_mutex_lock(&t->mutex);
        if (t->n_low_threads < 64)
            t->low_threads[slot = t->n_low_threads++] = pthread_self();
        pthread_mutex_unlock(&t->mutex);
    }
    atomic_fetch_add(&t->low_started, 1);
    while (!atomic_load(&t->release))
        sleep_ms(1);
    if (slot >= 0) {
        pthread_mutex_lock(&t->mutex);
        t->low_threads[slot] = (pthread_t)0;
        pthread_mutex_unlock(&t->mutex);
    }
    atomic_fetch_add(&t->low_finished, 1);
}

static void idle_high_chunk(void *arg, int chunk, int thread)
{
    idle_test_t *t = arg;
    (void)chunk, (void)thread;
    pthread_mutex_lock(&t->mutex);
    for (int i = 0; i < t->n_low_threads; i++)
        if (t->low_threads[i] && pthread_equal(t->low_threads[i], pthread_self()))
            atomic_fetch_add(&t->high_on_low, 1);
    pthread_mutex_unlock(&t->mutex);
    atomic_fetch_add(&t->high_runs, 1);
    sleep_ms(1);
}

static void *idle_low_submitter(void *arg)
{
    idle_test_t *t = arg;
    struct sched_param param = {0};
    t->idle = sched_setscheduler(0, SCHED_IDLE, &param) == 0; /* as the trainer's thread */
    ed_pool_run(t->pool, ED_POOL_LOW, 300, idle_low_chunk, t);
    return NULL;
}

ED_TEST(high_work_never_waits_for_idle_low_chunks)
{
    for (int n_threads = 2; n_threads <= 3; n_threads++) {
        static idle_test_t t;
        memset(&t, 0, sizeof t);
        pthread_mutex_init(&t.mutex, NULL);
        t.n_threads = n_threads;
        t.pool = open_pool(n_threads);
        ED_REQUIRE(t.pool != NULL);
        pthread_t low_thread;
        ED_REQUIRE(pthread_create(&low_thread, NULL, idle_low_submitter, &t) == 0);
        /* every LOW thread holds a chunk (LOW workers run at idle priority:
         * give them time on a busy machine) */
        for (int i = 0; i < 20000 && atomic_load(&t.low_started) < n_threads; i++)
            sleep_ms(1);
        ED_CHECK_INT(atomic_load(&t.low_started), n_threads);
        ed_pool_run(t.pool, ED_POOL_HIGH, 12, idle_high_chunk, &t);
        ED_CHECK_INT(atomic_load(&t.high_runs), 12);
        ED_CHECK_INT(atomic_load(&t.high_on_low), 0);
        ED_CHECK_INT(atomic_load(&t.low_finished), 0); /* HIGH finished while every LOW chunk waited */
        atomic_store(&t.release, 1);
        pthread_join(low_thread, NULL);
        printf("# %d threads: HIGH ran while %d LOW chunks held their threads (LOW submitter idle: %d)\n",
               n_threads, n_threads, t.idle);
        ED_CHECK_INT(atomic_load(&t.low_finished), 300);
        ed_pool_close(t.pool);
        pthread_mutex_destroy(&t.mutex);
    }
}

/* A hold of idle-priority LOW work (a paused trainer): after the chunks
 * running at the hold end, no chunk starts until the release, the pool says
 * when the held job went quiet, and the job then completes. Work from a
 * normal-priority LOW submitter is not held. */
typedef struct {
    ed_pool_t *pool;
    atomic_int started, finished;
    int idle; /* the submitter got idle priority */
} hold_test_t;

static void hold_chunk(void *arg, int chunk, int thread)
{
    hold_test_t *t = arg;
    (void)chunk, (void)thread;
    atomic_fetch_add(&t->started, 1);
    sleep_ms(1);
    atomic_fetch_add(&t->finished, 1);
}

static void *hold_submitter(void *arg)
{
    hold_test_t *t = arg;
    struct sched_param param = {0};
    t->idle = sched_setscheduler(0, SCHED_IDLE, &param) == 0;
    ed_pool_run(t->pool, ED_POOL_LOW, 200, hold_chunk, t);
    return NULL;
}

ED_TEST(a_hold_stops_idle_low_work_within_a_chunk)
{
    for (int n_threads = 1; n_threads <= 3; n_threads++) {
        static hold_test_t t;
        memset(&t, 0, sizeof t);
        t.pool = open_pool(n_threads);
        ED_REQUIRE(t.pool != NULL);
        ED_CHECK(ed_pool_low_quiet_ns(t.pool) == 0); /* nothing held */
        pthread_t thread;
        ED_REQUIRE(pthread_create(&thread, NULL, hold_submitter, &t) == 0);
        for (int i = 0; i < 20000 && atomic_load(&t.finished) < 10; i++)
            sleep_ms(1);
        ed_pool_hold_low(t.pool, 1);
        long long quiet = 0;
        for (int i = 0; i < 20000 && !(quiet = ed_pool_low_quiet_ns(t.pool)); i++)
            sleep_ms(1);
        ED_CHECK(quiet > 0);
        int started = atomic_load(&t.started);
        ED_CHECK_INT(atomic_load(&t.finished), started); /* quiet: no chunk runs */
        sleep_ms(30);
        ED_CHECK_INT(atomic_load(&t.started), started); /* and none starts while held */
        ED_CHECK(started < 200);
        ed_pool_hold_low(t.pool, 0);
        ED_CHECK(ed_pool_low_quiet_ns(t.pool) == 0);
        pthread_join(thread, NULL);
        ED_CHECK_INT(atomic_load(&t.finished), 200);
        printf("# %d threads: held after %d of 200 chunks (submitter idle: %d)\n", n_threads, started, t.idle);

        /* a normal-priority LOW submitter (background embedding) is not held */
        ed_pool_close(t.pool);
        memset(&t, 0, sizeof t);
        t.pool = open_pool(n_threads);
        ED_REQUIRE(t.pool != NULL);
        ed_pool_hold_low(t.pool, 1);
        ed_pool_run(t.pool, ED_POOL_LOW, 50, hold_chunk, &t);
        ED_CHECK_INT(atomic_load(&t.finished), 50);
        ed_pool_hold_low(t.pool, 0);
        ed_pool_close(t.pool);
    }
}

ED_TEST_MAIN(rejects_bad_thread_counts, every_chunk_runs_once_on_a_distinct_thread,
             job_completion_is_a_barrier, many_tiny_jobs, high_work_starts_before_more_low_work,
             high_work_never_waits_for_idle_low_chunks, a_hold_stops_idle_low_work_within_a_chunk)
