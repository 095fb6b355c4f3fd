/* jobs.c - tests of daemon/store/store_jobs.c and db_jobs.c: the adapt
 * jobs' persistent queue: rows round-trip and survive a reopen, progress
 * and NAN losses update, examples and history are sealed (their text is
 * nowhere on disk) and go with the row, unfinished jobs are counted. */
#include "../../test.h"

#include "helpers.h"

#include <math.h>

static ed_store_t *open_both(const char *dir, ed_store_t **jobs_handle)
{
    char err[ED_ERR_LEN] = "";
    ed_store_t *store = NULL;
    if (ed_store_open(&store, dir, NULL, err) != 0 || ed_store_open_adapters(jobs_handle, dir, NULL, err) != 0) {
        printf("#   open: %s\n", err);
        ed_store_close(store);
        return NULL;
    }
    return store;
}

static void new_job(ed_adapt_job_t *j, const char *name, const char *state)
{
    memset(j, 0, sizeof *j);
    j->owner_uid = 1000;
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->collections, sizeof j->collections, "[\"notes\"]");
    snprintf(j->options, sizeof j->options, "{\"rank\":8}");
    snprintf(j->state, sizeof j->state, "%s", state);
    j->max_steps = 100;
}

ED_TEST(jobs_round_trip_update_and_survive_reopen)
{
    const char *dir = test_dir();
    ed_store_t *h = NULL, *store = open_both(dir, &h);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    ed_adapt_job_t a, b;
    new_job(&a, "style", "queued");
    new_job(&b, "other", "queued");
    ED_REQUIRE(ed_store_job_create(h, &a, NULL, 0, err) == 0);
    ED_REQUIRE(ed_store_job_create(h, &b, NULL, 0, err) == 0);
    ED_CHECK(strncmp(a.id, "job-", 4) == 0 && strlen(a.id) == 20);
    ED_CHECK(strcmp(a.id, b.id) != 0);
    ED_CHECK(a.created > 0 && isnan(a.train_loss) && isnan(a.eta_s));
    int n = 0;
    ED_REQUIRE(ed_store_jobs_unfinished(h, &n, err) == 0);
    ED_CHECK_INT(n, 2);

    snprintf(a.state, sizeof a.state, "running");
    a.step = 7;
    a.tokens = 1234;
    a.elapsed_s = 2.5;
    a.train_loss = 3.25;
    a.best_heldout_loss = 3.5;
    a.best_step = 5;
    a.eta_s = 10;
    ED_REQUIRE(ed_store_job_update(h, &a, err) == 0);
    snprintf(b.state, sizeof b.state, "done");
    snprintf(b.adapter_id, sizeof b.adapter_id, "ad-0123456789ab");
    ED_REQUIRE(ed_store_job_update(h, &b, err) == 0);
    ED_REQUIRE(ed_store_jobs_unfinished(h, &n, err) == 0);
    ED_CHECK_INT(n, 1);

    ed_store_close(h);
    ed_store_close(store);
    store = open_both(dir, &h);
    ED_REQUIRE(store);
    ed_adapt_job_t got;
    ED_REQUIRE(ed_store_job_get(h, a.id, &got, err) == 0);
    ED_CHECK_STR(got.state, "running");
    ED_CHECK_STR(got.name, "style");
    ED_CHECK_STR(got.collections, "[\"notes\"]");
    ED_CHECK_STR(got.options, "{\"rank\":8}");
    ED_CHECK_INT(got.owner_uid, 1000);
    ED_CHECK_INT(got.step, 7);
    ED_CHECK_INT(got.tokens, 1234);
    ED_CHECK_INT(got.max_steps, 100);
    ED_CHECK_INT(got.best_step, 5);
    ED_CHECK(got.train_loss == 3.25 && got.best_heldout_loss == 3.5 && got.elapsed_s == 2.5 && got.eta_s == 10);
    ED_CHECK(isnan(got.heldout_loss));
    ed_adapt_job_t *rows = NULL;
    ED_REQUIRE(ed_store_jobs_list(h, &rows, &n, err) == 0);
    ED_REQUIRE(n == 2);
    ED_CHECK_STR(rows[0].id, a.id); /* oldest first */
    ED_CHECK_STR(rows[1].adapter_id, "ad-0123456789ab");
    free(rows);

    ED_REQUIRE(ed_store_job_delete(h, a.id, err) == 0);
    ED_CHECK_INT(ed_store_job_delete(h, a.id, err), ED_ENOENT);
    ED_CHECK_INT(ed_store_job_get(h, a.id, &got, err), ED_ENOENT);
    ED_CHECK_INT(ed_store_job_update(h, &a, err), ED_ENOENT);
    ed_store_close(h);
    ed_store_close(store);
}

ED_TEST(examples_and_history_are_sealed_and_go_with_the_job)
{
    const char *dir = test_dir();
    ed_store_t *h = NULL, *store = open_both(dir, &h);
    ED_REQUIRE(store);
    char err[ED_ERR_LEN] = "";
    static const char examples[] = "[[{\"role\":\"user\",\"content\":\"canary-examples-5521\"}]]";
    static const char history[] = "[{\"step\":1,\"note\":\"canary-history-8813\"}]";
    ed_adapt_job_t j;
    new_job(&j, "sealed", "queued");
    ED_REQUIRE(ed_store_job_create(h, &j, examples, strlen(examples), err) == 0);
    ED_REQUIRE(ed_store_job_set_history(h, j.id, history, strlen(history), err) == 0);
    void *data = NULL;
    size_t len = 0;
    ED_REQUIRE(ed_store_job_examples(h, j.id, &data, &len, err) == 0);
    ED_CHECK(len == strlen(examples) && memcmp(data, examples, len) == 0);
    free(data);
    ED_REQUIRE(ed_store_job_history(h, j.id, &data, &len, err) == 0);
    ED_CHECK(len == strlen(history) && memcmp(data, history, len) == 0);
    free(data);
    ED_CHECK_INT(found_under(dir, "canary-examples"), 0);
    ED_CHECK_INT(found_under(dir, "canary-history"), 0);

    ed_adapt_job_t none;
    new_job(&none, "plain", "queued");
    ED_REQUIRE(ed_store_job_create(h, &none, NULL, 0, err) == 0);
    ED_REQUIRE(ed_store_job_examples(h, none.id, &data, &len, err) == 0);
    ED_CHECK(data == NULL && len == 0);
    ED_CHECK_INT(ed_store_job_history(h, "job-0000000000000000", &data, &len, err), ED_ENOENT);

    /* the documents its checkpoint learnt from: unknown until stored */
    int64_t *ids = NULL;
    int n = -1;
    bool known = true;
    ED_REQUIRE(ed_store_job_docs(h, j.id, &ids, &n, &known, err) == 0);
    ED_CHECK(!known && ids == NULL && n == 0);
    const int64_t docs[] = {3, 5, (int64_t)1 << 40};
    ED_REQUIRE(ed_store_job_set_docs(h, j.id, docs, 3, err) == 0);
    ED_REQUIRE(ed_store_job_docs(store, j.id, &ids, &n, &known, err) == 0);
    ED_CHECK(known && n == 3 && ids && ids[0] == 3 && ids[1] == 5 && ids[2] == (int64_t)1 << 40);
    free(ids);
    ED_REQUIRE(ed_store_job_set_docs(h, j.id, NULL, 0, err) == 0); /* examples only: known, none */
    ED_REQUIRE(ed_store_job_docs(h, j.id, &ids, &n, &known, err) == 0);
    ED_CHECK(known && n == 0);
    free(ids);
    ED_CHECK_INT(ed_store_job_set_docs(h, "job-0000000000000000", docs, 3, err), ED_ENOENT);
    ED_REQUIRE(ed_store_job_delete(h, j.id, err) == 0);
    ED_CHECK_INT(ed_store_job_examples(h, j.id, &data, &len, err), ED_ENOENT);
    ed_store_close(h);
    ed_store_close(store);
}

ED_TEST_MAIN(jobs_round_trip_update_and_survive_reopen, examples_and_history_are_sealed_and_go_with_the_job)
