/* tests/unit/rag/service.c - the rag service's life on a real loop: the
 * store opens on the worker (requests are refused with ED_EAGAIN until
 * on_open has run on the loop thread, exactly once), then ingest, search and
 * embed round-trip through the worker; a store that cannot open refuses with
 * its reason; closing during the opening answers on_open once and frees
 * everything. Also built under ThreadSanitizer (make test-tsan): the
 * opening's status crosses from the worker to the loop thread. */
#include "rag/rag.h"

#include "../../test.h"
#include "../store/helpers.h"

#include <math.h>
#include <pthread.h>
#include <uv.h>

static char err[ED_ERR_LEN];

typedef struct {
    int calls, rc;
    char err[ED_ERR_LEN];
    bool on_loop;
    pthread_t loop_thread;
    /* the last answer of any kind */
    int answers, n;
    int64_t first_id;
    double norm0;
    int tokens0, dim, failed;
    char name[64];
} seen_t;

static void on_open(int rc, const char *why, void *arg)
{
    seen_t *s = arg;
    s->calls++;
    s->rc = rc;
    snprintf(s->err, sizeof s->err, "%s", why ? why : "");
    s->on_loop = pthread_equal(pthread_self(), s->loop_thread);
}

static void answered(seen_t *s, int rc, const char *why, int n, int64_t first_id)
{
    s->answers++;
    s->rc = rc;
    snprintf(s->err, sizeof s->err, "%s", why ? why : "");
    s->n = n;
    s->first_id = first_id;
}

static void on_ingest(int rc, const char *why, const ed_rag_doc_out_t *docs, int n, void *arg)
{
    answered(arg, rc, why, n, n ? docs[0].id : 0);
}

static void on_search(int rc, const char *why, const ed_rag_hit_t *hits, int n, void *arg)
{
    answered(arg, rc, why, n, n ? hits[0].doc_id : 0);
}

static void on_vectors(int rc, const char *why, int failed, const ed_rag_vectors_t *v, void *arg)
{
    seen_t *s = arg;
    answered(s, rc, why, rc ? 0 : v->n, 0);
    s->failed = failed;
    if (rc == 0) {
        s->dim = v->dim;
        s->tokens0 = v->n_tokens[0];
        snprintf(s->name, sizeof s->name, "%s", v->embedder);
        double sum = 0;
        for (int i = 0; i < v->dim; i++)
            sum += (double)v->vectors[i] * v->vectors[i];
        s->norm0 = sqrt(sum);
    }
}

static void run_until(uv_loop_t *loop, const int *counter, int value)
{
    while (*counter < value)
        uv_run(loop, UV_RUN_ONCE);
}

static ed_rag_t *open_at(uv_loop_t *loop, const char *dir, seen_t *opened)
{
    ed_config_t cfg;
    ed_config_defaults(&cfg);
    snprintf(cfg.state.directory, sizeof cfg.state.directory, "%s", dir);
    opened->loop_thread = pthread_self();
    ed_rag_t *rag = NULL;
    ED_CHECK_INT(ed_rag_open(&rag, loop, &cfg, NULL, NULL, on_open, opened, err), 0); /* hash: no model */
    return rag;
}

ED_TEST(requests_wait_for_the_opening_then_round_trip)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t opened = {0}, s = {0};
    ed_rag_t *rag = open_at(&loop, test_dir(), &opened);
    ED_REQUIRE(rag != NULL);
    char why[ED_ERR_LEN];
    /* on_open runs on this thread, so until the loop runs it the store is opening */
    ED_CHECK_INT(ed_rag_state(rag, why), ED_RAG_OPENING);
    ED_CHECK(ed_rag_embedder(rag, NULL, NULL) == NULL);
    ed_rag_caller_t me = {1000, 1000};
    ED_CHECK_INT(ed_rag_search(rag, &me, "dentist", NULL, 0, 5, ED_RAG_HYBRID, on_search, &s, err), ED_EAGAIN);
    printf("# %s\n", err);
    ED_CHECK(strstr(err, "the personal store is opening") != NULL);

    run_until(&loop, &opened.calls, 1);
    ED_CHECK_INT(opened.rc, 0);
    ED_CHECK(opened.on_loop);
    ED_CHECK_INT(ed_rag_state(rag, why), ED_RAG_OPEN);
    ED_CHECK_STR(why, "open");
    int64_t created = -1;
    int dim = 0;
    ED_CHECK_STR(ed_rag_embedder(rag, &dim, &created), "hash-v1-384");
    ED_CHECK_INT(dim, 384);
    ED_CHECK_INT(created, 0);

    const char *text = "Dentist with Dr. Alvarez on Tuesday at 9:30.";
    ed_rag_doc_in_t doc = {.title = "dentist", .body = text, .len = strlen(text), .kind = ED_MARKUP_PLAIN};
    ED_REQUIRE(ed_rag_ingest(rag, &me, "notes", &doc, 1, on_ingest, &s, err) == 0);
    run_until(&loop, &s.answers, 1);
    ED_CHECK_INT(s.rc, 0);
    ED_CHECK_INT(s.n, 1);
    int64_t id = s.first_id;
    ED_REQUIRE(ed_rag_search(rag, &me, "when is the dentist", NULL, 0, 5, ED_RAG_HYBRID, on_search, &s, err) == 0);
    run_until(&loop, &s.answers, 2);
    ED_CHECK_INT(s.rc, 0);
    ED_CHECK(s.n >= 1 && s.first_id == id);

    const char *texts[] = {"three words here", "and four more words"};
    size_t lens[] = {strlen(texts[0]), strlen(texts[1])};
    ED_REQUIRE(ed_rag_embed(rag, texts, lens, 2, on_vectors, &s, err) == 0);
    run_until(&loop, &s.answers, 3);
    ED_CHECK_INT(s.rc, 0);
    ED_CHECK_INT(s.n, 2);
    ED_CHECK_INT(s.dim, 384);
    ED_CHECK_INT(s.tokens0, 3);
    ED_CHECK_NEAR(s.norm0, 1.0, 1e-5);
    ED_CHECK_STR(s.name, "hash-v1-384");

    ed_rag_close(rag);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(opened.calls, 1);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

ED_TEST(a_store_that_cannot_open_refuses_with_its_reason)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char file[PATH_MAX];
    test_path(file, test_dir(), "not-a-directory");
    FILE *f = fopen(file, "w");
    ED_REQUIRE(f != NULL);
    fclose(f);
    seen_t opened = {0}, s = {0};
    ed_rag_t *rag = open_at(&loop, file, &opened);
    ED_REQUIRE(rag != NULL);
    run_until(&loop, &opened.calls, 1);
    ED_CHECK(opened.rc != 0);
    printf("# %s\n", opened.err);
    char why[ED_ERR_LEN];
    ED_CHECK_INT(ed_rag_state(rag, why), ED_RAG_FAILED);
    ED_CHECK_STR(why, opened.err);
    ed_rag_caller_t me = {1000, 1000};
    ED_CHECK_INT(ed_rag_search(rag, &me, "x", NULL, 0, 5, ED_RAG_HYBRID, on_search, &s, err), ED_ESTATE);
    ED_CHECK(strstr(err, "did not open") != NULL && strstr(err, opened.err) != NULL);
    ED_CHECK(ed_rag_embedder(rag, NULL, NULL) == NULL);
    ed_rag_close(rag);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(s.answers, 0);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

ED_TEST(closing_during_the_opening_answers_once)
{
    for (int round = 0; round < 8; round++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        seen_t opened = {0};
        ed_rag_t *rag = open_at(&loop, test_dir(), &opened);
        ED_REQUIRE(rag != NULL);
        if (round % 2) /* sometimes the worker is under way, sometimes it has not begun */
            uv_run(&loop, UV_RUN_NOWAIT);
        ed_rag_close(rag);
        uv_run(&loop, UV_RUN_DEFAULT);
        ED_CHECK_INT(opened.calls, 1);
        ED_CHECK(opened.rc == 0 || opened.rc == ED_ECANCELED);
        ED_CHECK_INT(uv_loop_close(&loop), 0);
    }
}

ED_TEST_MAIN(requests_wait_for_the_opening_then_round_trip, a_store_that_cannot_open_refuses_with_its_reason,
             closing_during_the_opening_answers_once)
