/* base.c - the one base model (daemon/model/base.c): borrowers on several
 * threads asking at once get one load and the same weights; a file that
 * does not load fails every borrower with the same reason; a borrower whose
 * cancel flag is set stops waiting for another's load. */
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/base.h"
#include "tests/test.h"

#include <pthread.h>
#include <stdlib.h>

#define MODEL "../shared/testdata/models/tiny-llama-Q8_0.gguf"
#define N_BORROWERS 4

typedef struct {
    ed_base_t *base;
    const _Atomic bool *cancel;
    int rc;
    char err[ED_ERR_LEN];
    const ed_model_t *model;
} borrower_t;

static void *borrow(void *arg)
{
    borrower_t *b = arg;
    b->rc = ed_base_load(b->base, b->cancel, b->err);
    b->model = b->rc == 0 ? ed_base_model(b->base) : NULL;
    return NULL;
}

/* Runs n borrowers on their own threads at once; returns when all are done. */
static void borrow_all(borrower_t *b, int n)
{
    pthread_t threads[N_BORROWERS];
    for (int i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, borrow, &b[i]);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
}

static ed_pool_t *open_pool(void)
{
    ed_pool_t *pool = NULL;
    char err[ED_ERR_LEN];
    ED_CHECK_INT(ed_pool_open(&pool, 2, err), 0);
    return pool;
}

ED_TEST(borrowers_share_one_load)
{
    ed_pool_t *pool = open_pool();
    ed_base_t *base = NULL;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_base_open(&base, MODEL, ed_kernels_select(getenv("EDGED_KERNELS")), pool, err) == 0);
    ED_CHECK_STR(ed_base_path(base), MODEL);
    ED_CHECK(ed_base_mtime(base) > 0);
    borrower_t b[N_BORROWERS] = {{0}};
    for (int i = 0; i < N_BORROWERS; i++)
        b[i].base = base;
    borrow_all(b, N_BORROWERS);
    for (int i = 0; i < N_BORROWERS; i++) {
        ED_CHECK_INT(b[i].rc, 0);
        ED_CHECK(b[i].model == b[0].model);
    }
    const ed_model_t *m = ed_base_model(base);
    ED_CHECK_INT(m->n_layer, 4);
    ED_CHECK_INT(m->n_embd, 256);
    ED_CHECK(ed_base_vocab(base) != NULL && ed_base_vocab(base)->n_tokens == m->n_vocab);
    ED_CHECK(ed_base_gguf(base) != NULL);
    ED_CHECK(ed_base_pool(base) == pool);
    ED_CHECK_INT(ed_base_load(base, NULL, err), 0); /* once loaded, at once */
    ed_base_close(base);
    ed_pool_close(pool);
}

ED_TEST(a_failed_load_fails_every_borrower_alike)
{
    ed_pool_t *pool = open_pool();
    ed_base_t *base = NULL;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_base_open(&base, "/nonexistent/model.gguf", ed_kernels_select(NULL), pool, err) == 0);
    borrower_t b[N_BORROWERS] = {{0}};
    for (int i = 0; i < N_BORROWERS; i++)
        b[i].base = base;
    borrow_all(b, N_BORROWERS);
    printf("# %s\n", b[0].err);
    for (int i = 0; i < N_BORROWERS; i++) {
        ED_CHECK(b[i].rc < 0);
        ED_CHECK_INT(b[i].rc, b[0].rc);
        ED_CHECK_STR(b[i].err, b[0].err);
    }
    ED_CHECK(strstr(b[0].err, "/nonexistent/model.gguf") != NULL);
    ED_CHECK_INT(ed_base_mtime(base), 0);
    ed_base_close(base);

    /* no kernels for this CPU: the load says so */
    ED_REQUIRE(ed_base_open(&base, MODEL, NULL, pool, err) == 0);
    ED_CHECK_INT(ed_base_load(base, NULL, err), ED_EUNSUPPORTED);
    ED_CHECK(strstr(err, "kernels") != NULL);
    ed_base_close(base);
    ed_pool_close(pool);
}

/* The cancelled borrower either found the load under way (and stopped
 * waiting) or came first (and loaded); either way a later call gets it. */
ED_TEST(a_cancelled_waiter_stops_waiting)
{
    ed_pool_t *pool = open_pool();
    ed_base_t *base = NULL;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_base_open(&base, MODEL, ed_kernels_select(getenv("EDGED_KERNELS")), pool, err) == 0);
    static _Atomic bool cancelled = true;
    borrower_t b[2] = {{.base = base}, {.base = base, .cancel = &cancelled}};
    borrow_all(b, 2);
    ED_CHECK_INT(b[0].rc, 0);
    ED_CHECK(b[1].rc == 0 || b[1].rc == ED_ECANCELED);
    ED_CHECK_INT(ed_base_load(base, NULL, err), 0);
    ed_base_close(base);
    ed_pool_close(pool);
}

ED_TEST(close_accepts_an_unloaded_base_and_null)
{
    ed_base_t *base = NULL;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_base_open(&base, MODEL, NULL, NULL, err) == 0);
    ed_base_close(base);
    ed_base_close(NULL);
}

ED_TEST_MAIN(borrowers_share_one_load, a_failed_load_fails_every_borrower_alike, a_cancelled_waiter_stops_waiting,
             close_accepts_an_unloaded_base_and_null)
