/* Tests daemon/adapt/jobs.c on a queue built by hand (no store, no runner
 * thread): what asks the running job to stop. A cancel or a forgotten
 * document must not be overwritten by a later, weaker stop (the window
 * closing, SIGTERM), or the job would survive its cancel or keep a
 * checkpoint that learnt from a deleted document. */
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
    pthread_cond_init(&jobs->cond, NULL);
    jobs->recs = calloc(1, sizeof *jobs->recs);
    jobs->n = jobs->cap = 1;
    snprintf(jobs->recs[0].job.id, sizeof jobs->recs[0].job.id, "job-1");
    snprintf(jobs->recs[0].job.state, sizeof jobs->recs[0].job.state, "running");
    snprintf(jobs->current, sizeof jobs->current, "job-1");
    jobs->window_open = jobs->window_open_run_now = true;
    return jobs;
}

static void queue_free(ed_jobs_t *jobs)
{
    free(jobs->recs);
    pthread_mutex_destroy(&jobs->mu);
    pthread_mutex_destroy(&jobs->store_mu);
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

ED_TEST_MAIN(window_closing_stops_the_job, cancel_outlives_window_and_shutdown, forget_outlives_window_and_shutdown,
             shutdown_outlives_window)
