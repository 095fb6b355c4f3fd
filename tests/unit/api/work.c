/* Tests daemon/api/work.c: a request's slow step runs on a pool thread and
 * its answer on the loop thread, exactly once each, with what the worker
 * wrote visible to the loop; a client that left meanwhile is reported as
 * gone. Also built under ThreadSanitizer (make test-tsan). */
#include "api/api.h"
#include "api/work.h"
#include "../../test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#define N_JOBS 64
#define N_WORDS 4096

typedef struct {
    pthread_t loop_thread;
    pthread_t worker;
    atomic_int *release; /* the worker waits until it is nonzero (NULL: no wait) */
    int runs, dones;
    bool gone, done_on_loop;
    uint64_t words[N_WORDS]; /* written by the worker, read by done */
    uint64_t seed;
} job_t;

static void run(void *arg)
{
    job_t *job = arg;
    while (job->release && !atomic_load(job->release))
        sched_yield();
    job->worker = pthread_self();
    job->runs++;
    for (int i = 0; i < N_WORDS; i++)
        job->words[i] = job->seed * 2654435761u + (uint64_t)i;
}

static void done(ed_request_t *req, void *arg, bool gone)
{
    job_t *job = arg;
    job->dones++;
    job->gone = gone;
    job->done_on_loop = pthread_equal(pthread_self(), job->loop_thread) && req->on_abort == NULL;
}

static bool words_ok(const job_t *job)
{
    for (int i = 0; i < N_WORDS; i++)
        if (job->words[i] != job->seed * 2654435761u + (uint64_t)i)
            return false;
    return true;
}

typedef struct {
    uv_loop_t loop;
    ed_server_t server;
    ed_app_t app;
} fixture_t;

static void fixture_init(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    uv_loop_init(&f->loop);
    f->server.loop = &f->loop;
    f->app.server = &f->server;
}

ED_TEST(every_job_runs_on_a_worker_and_answers_on_the_loop)
{
    static fixture_t f;
    fixture_init(&f);
    static ed_request_t reqs[N_JOBS];
    static job_t jobs[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) {
        reqs[i] = (ed_request_t){.app = &f.app};
        jobs[i] = (job_t){.loop_thread = pthread_self(), .seed = (uint64_t)i + 1};
        ed_api_offload(&reqs[i], run, done, &jobs[i]);
        ED_CHECK(reqs[i].on_abort != NULL); /* queued: a leaving client is noticed */
    }
    ED_CHECK_INT(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < N_JOBS; i++) {
        ED_CHECK_INT(jobs[i].runs, 1);
        ED_CHECK_INT(jobs[i].dones, 1);
        ED_CHECK(!jobs[i].gone);
        ED_CHECK(jobs[i].done_on_loop);
        ED_CHECK(!pthread_equal(jobs[i].worker, jobs[i].loop_thread));
        ED_CHECK(words_ok(&jobs[i]));
    }
    uv_loop_close(&f.loop);
}

ED_TEST(a_client_that_leaves_while_the_work_runs_is_gone)
{
    static fixture_t f;
    fixture_init(&f);
    atomic_int release = 0;
    ed_request_t req = {.app = &f.app};
    static job_t job;
    job = (job_t){.loop_thread = pthread_self(), .release = &release, .seed = 7};
    ed_api_offload(&req, run, done, &job);
    ED_REQUIRE(req.on_abort != NULL);
    req.on_abort(&req, req.on_abort_arg); /* what the connection does when its client goes */
    atomic_store(&release, 1);
    ED_CHECK_INT(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    ED_CHECK_INT(job.runs, 1);
    ED_CHECK_INT(job.dones, 1);
    ED_CHECK(job.gone);
    ED_CHECK(job.done_on_loop);
    ED_CHECK(words_ok(&job));
    uv_loop_close(&f.loop);
}

ED_TEST_MAIN(every_job_runs_on_a_worker_and_answers_on_the_loop, a_client_that_leaves_while_the_work_runs_is_gone)
