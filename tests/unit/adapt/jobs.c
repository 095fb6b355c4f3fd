/* Tests daemon/adapt/jobs.c on a queue built by hand (no store, no runner
 * thread): what asks the running job to stop. A cancel or a forgotten
 * document must not be overwritten by a later, weaker stop (the window
 * closing, SIGTERM), or the job would survive its cancel or keep a
 * checkpoint that learnt from a deleted document. Also how a run's end
 * becomes the job's state (a stored adapter beats a late cancel; a
 * device's failure keeps the checkpoint) and that event subscribers are
 * called without the queue's lock. */
#include "adapt/jobs_internal.h"
#include "../../test.h"

#include <stdlib.h>
#include <string.h>

/* One running job, "job-1", with the runner on it. */
static ed_jobs_t *running_queue(void)
{
    ed_jobs_t *jobs = calloc(1, sizeof *jobs);
    pthread_mutex_init(&jobs->mu, NULL);
    pthread_mutex_init(&jobs->store_mu, NULL);
    pthread_rwlock_init(&jobs->gate_lock, NULL);
    pthread_cond_init(&jobs->cond, NULL);
    jobs->recs = calloc(1, sizeof *jobs->recs);
    jobs->n = jobs->cap = 1;
    snprintf(jobs->recs[0].job.id, sizeof jobs->recs[0].job.id, "job-1");
    snprintf(jobs->recs[0].job.state, sizeof jobs->recs[0].job.state, "running");
    snprintf(jobs->current, sizeof jobs->current, "job-1");
    jobs->window_open = jobs->window_open_run_now = true;
    return jobs;
}

static uv_loop_t loop;

/* running_queue with a loop for its wake-ups (events can be emitted). */
static ed_jobs_t *emitting_queue(void)
{
    ed_jobs_t *jobs = running_queue();
    uv_loop_init(&loop);
    uv_async_init(&loop, &jobs->async, NULL);
    return jobs;
}

static void queue_free(ed_jobs_t *jobs)
{
    if (jobs->async.loop) {
        uv_close((uv_handle_t *)&jobs->async, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    for (int i = 0; i < EVENT_RING; i++)
        free(jobs->events[i].json);
    free(jobs->recs);
    pthread_mutex_destroy(&jobs->mu);
    pthread_mutex_destroy(&jobs->store_mu);
    pthread_rwlock_destroy(&jobs->gate_lock);
    pthread_cond_destroy(&jobs->cond);
    free(jobs);
}

ED_TEST(window_closing_stops_the_job)
{
    ed_jobs_t *jobs = running_queue();
    ed_jobs_window(jobs, false, false, "on battery");
    ED_CHECK_INT(atomic_load(&jobs->stop), STOP_WINDOW);
    queue_free(jobs);
}

ED_TEST(cancel_outlives_window_and_shutdown)
{
    ed_jobs_t *jobs = running_queue();
    atomic_store(&jobs->stop, STOP_CANCEL); /* ed_jobs_cancel asked; the runner has not ended yet */
    ed_jobs_window(jobs, false, false, "on battery");
    ED_CHECK_INT(atomic_load(&jobs->stop), STOP_CANCEL);
    ed_jobs_stop(jobs);
    ED_CHECK_INT(atomic_load(&jobs->stop), STOP_CANCEL);
    queue_free(jobs);
}

ED_TEST(forget_outlives_window_and_shutdown)
{
    ed_jobs_t *jobs = running_queue();
    atomic_store(&jobs->stop, STOP_FORGET);
    ed_jobs_window(jobs, false, false, "on battery");
    ED_CHECK_INT(atomic_load(&jobs->stop), STOP_FORGET);
    ed_jobs_stop(jobs);
    ED_CHECK_INT(atomic_load(&jobs->stop), STOP_FORGET);
    queue_free(jobs);
}

ED_TEST(shutdown_outlives_window)
{
    ed_jobs_t *jobs = running_queue();
    ed_jobs_stop(jobs);
    ED_CHECK_INT(atomic_load(&jobs->stop), STOP_SHUTDOWN);
    ed_jobs_window(jobs, false, false, "on battery");
    ED_CHECK_INT(atomic_load(&jobs->stop), STOP_SHUTDOWN);
    queue_free(jobs);
}

ED_TEST(stored_adapter_beats_a_late_cancel)
{
    /* the cancel came while the runner waited for the registry to serve
     * the adapter: the job is done, as the adapter is served */
    ed_jobs_t *jobs = emitting_queue();
    rec_t *r = &jobs->recs[0];
    snprintf(r->job.adapter_id, sizeof r->job.adapter_id, "ad-000000000001");
    bool drop = ed__jobs_finish(jobs, r, RUN_DONE, STOP_CANCEL, "max_steps after 12 steps");
    ED_CHECK_STR(r->job.state, "done");
    ED_CHECK_STR(r->job.adapter_id, "ad-000000000001");
    ED_CHECK(drop);
    queue_free(jobs);
}

ED_TEST(cancel_before_the_adapter_cancels)
{
    ed_jobs_t *jobs = emitting_queue();
    rec_t *r = &jobs->recs[0];
    ED_CHECK(ed__jobs_finish(jobs, r, RUN_STOPPED, STOP_CANCEL, ""));
    ED_CHECK_STR(r->job.state, "cancelled");
    ED_CHECK_STR(r->job.adapter_id, "");
    queue_free(jobs);
}

ED_TEST(device_failure_keeps_the_checkpoint)
{
    ed_jobs_t *jobs = emitting_queue();
    rec_t *r = &jobs->recs[0];
    r->job.step = 40;
    ED_CHECK(!ed__jobs_finish(jobs, r, RUN_FAILED_KEEP, STOP_NONE, "storing its adapter failed: no space left"));
    ED_CHECK_STR(r->job.state, "failed");
    ED_CHECK(strstr(r->job.reason, "no space left") != NULL);
    ED_CHECK(strstr(r->job.reason, "checkpoint is kept") != NULL);
    ED_CHECK(ed__jobs_unkeep(r)); /* a cancel or a forget deletes it then */
    ED_CHECK_STR(r->job.reason, "storing its adapter failed: no space left");
    ED_CHECK(!ed__jobs_unkeep(r));
    queue_free(jobs);
}

ED_TEST(training_failure_drops_the_checkpoint)
{
    ed_jobs_t *jobs = emitting_queue();
    rec_t *r = &jobs->recs[0];
    r->job.step = 40;
    ED_CHECK(ed__jobs_finish(jobs, r, RUN_FAILED, STOP_NONE, "the dataset is empty"));
    ED_CHECK_STR(r->job.state, "failed");
    ED_CHECK(strstr(r->job.reason, "checkpoint") == NULL);
    queue_free(jobs);
}

ED_TEST(window_stop_keeps_the_checkpoint)
{
    ed_jobs_t *jobs = emitting_queue();
    rec_t *r = &jobs->recs[0];
    snprintf(jobs->window_why, sizeof jobs->window_why, "power: on battery");
    ED_CHECK(!ed__jobs_finish(jobs, r, RUN_STOPPED, STOP_WINDOW, ""));
    ED_CHECK_STR(r->job.state, "waiting_for_window");
    ED_CHECK_STR(r->job.reason, "power: on battery");
    queue_free(jobs);
}

ED_TEST(stop_detaches_the_gate)
{
    /* once ed_jobs_stop returns the scheduler may free its gate: the
     * runner finishes (its checkpoint) without it */
    ed_jobs_t *jobs = running_queue();
    char err[ED_ERR_LEN];
    ed_gate_t *gate = NULL;
    ED_REQUIRE(ed_gate_create(&gate, err) == 0);
    jobs->gate = gate;
    ed_jobs_stop(jobs);
    ED_CHECK(jobs->gate == NULL);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_STOP); /* a paused trainer was released */
    ED_CHECK_INT(atomic_load(&jobs->stop), STOP_SHUTDOWN);
    ed_gate_free(gate);
    ed_jobs_stop(jobs); /* idempotent */
    queue_free(jobs);
}

ED_TEST(opening_queue_says_so)
{
    ed_jobs_t *jobs = running_queue();
    char why[ED_ERR_LEN];
    ED_CHECK_INT(ed_jobs_state(jobs, why), 0);
    ED_CHECK_INT(ed__jobs_ready(jobs, why), 0);
    jobs->state = QUEUE_OPENING;
    ED_CHECK_INT(ed_jobs_state(jobs, why), ED_EAGAIN);
    jobs->state = QUEUE_FAILED;
    snprintf(jobs->open_failed, sizeof jobs->open_failed, "edged.db: disk I/O error");
    ED_CHECK_INT(ed_jobs_state(jobs, why), ED_ESTATE);
    ED_CHECK_INT(ed__jobs_ready(jobs, why), ED_ESTATE); /* callers of the store do not wait for ever */
    ED_CHECK(strstr(why, "disk I/O error") != NULL);
    queue_free(jobs);
}

typedef struct {
    ed_jobs_t *jobs;
    int calls, locked;
} sink_t;

static void sink(const char *json, void *arg)
{
    sink_t *k = arg;
    k->calls++;
    ED_CHECK(strstr(json, "\"job\":\"job-1\"") != NULL);
    if (pthread_mutex_trylock(&k->jobs->mu) == 0) /* a socket write here must not hold up the runner */
        pthread_mutex_unlock(&k->jobs->mu);
    else
        k->locked++;
}

ED_TEST(events_are_sent_without_the_lock)
{
    ed_jobs_t *jobs = emitting_queue();
    pthread_mutex_lock(&jobs->mu);
    for (int i = 0; i < 40; i++) /* more than fit the copy's first block */
        ed__jobs_emit(jobs, "job-1", json_pack("{s:s,s:i}", "type", "progress", "step", i));
    ed__jobs_emit(jobs, "job-2", json_pack("{s:s}", "type", "paused"));
    pthread_mutex_unlock(&jobs->mu);
    sink_t k = {.jobs = jobs};
    uint64_t cursor = 0;
    ED_CHECK(ed_jobs_events(jobs, "job-1", &cursor, sink, &k));
    ED_CHECK_INT(k.calls, 40);
    ED_CHECK_INT(k.locked, 0);
    ED_CHECK_INT((int)cursor, 41);
    k.calls = 0;
    ED_CHECK(ed_jobs_events(jobs, "job-1", &cursor, sink, &k));
    ED_CHECK_INT(k.calls, 0);
    queue_free(jobs);
}

ED_TEST_MAIN(window_closing_stops_the_job, cancel_outlives_window_and_shutdown, forget_outlives_window_and_shutdown,
             shutdown_outlives_window, stored_adapter_beats_a_late_cancel, cancel_before_the_adapter_cancels,
             device_failure_keeps_the_checkpoint, training_failure_drops_the_checkpoint,
             window_stop_keeps_the_checkpoint, events_are_sent_without_the_lock, stop_detaches_the_gate,
             opening_queue_says_so)
