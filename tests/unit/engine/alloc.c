/* alloc.c - the engine's token loop allocates nothing (DESIGN section 4):
 * this program interposes malloc, calloc and realloc and counts every
 * allocation any thread makes from a job's submit to its on_done. A stream
 * of 200 tokens, delivered to the loop thread as they come, must cost no
 * more allocations than one of 20 (what a job costs at submit and
 * admission), with or without a LoRA adapter. Under a sanitizer (which owns malloc) the test is skipped. */
#include "core/config.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/base.h"
#include "model/lora.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <unistd.h>

#include "tests/alloc_hook.h"

#define MODEL "../shared/testdata/models/tiny-llama-Q8_0.gguf"

#ifndef SANITIZED
/* ------------------------------------------------------------- stream ---- */

typedef struct {
    int n_text_calls; /* deliveries */
    size_t len;
    bool done;
    ed_job_result_t result;
    long allocations; /* from submit to on_done */
} stream_t;

static void on_text(ed_job_t *job, const char *text, size_t len, void *user)
{
    (void)job;
    (void)text;
    stream_t *s = user;
    s->len += len;
    s->n_text_calls++;
}

static void on_done(ed_job_t *job, const ed_job_result_t *result, void *user)
{
    (void)job;
    stream_t *s = user;
    atomic_store(&counting, false);
    s->allocations = atomic_load(&n_allocations);
    s->done = true;
    s->result = *result;
}

/* Generates max_tokens tokens (the end-of-sequence token banned) with the
 * loop delivering as often as tokens come; counts the allocations. */
static stream_t stream(uv_loop_t *loop, ed_engine_t *e, int max_tokens, ed_engine_adapter_t *adapter)
{
    static const int32_t prompt[] = {1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889};
    const ed_logit_bias_t no_eos[] = {{ed_engine_model(e)->vocab->eos, -INFINITY}};
    ed_job_params_t p = {.kind = ED_JOB_GENERATE, .prompt = prompt, .n_prompt = 9, .max_tokens = max_tokens};
    p.sampling = ed_sampler_defaults();
    p.sampling.seed = 5;
    p.sampling.bias = no_eos;
    p.sampling.n_bias = 1;
    p.adapter = adapter;
    p.adapter_scale = 1.0f;
    stream_t s = {0};
    ed_job_t *job;
    char err[ED_ERR_LEN];
    atomic_store(&n_allocations, 0);
    atomic_store(&counting, true);
    if (ed_engine_submit(e, &p, &(ed_job_callbacks_t){on_text, on_done}, &s, &job, err) != 0) {
        atomic_store(&counting, false);
        printf("# submit: %s\n", err);
        return s;
    }
    while (!s.done)
        uv_run(loop, UV_RUN_NOWAIT);
    printf("# %d tokens, %zu bytes in %d deliveries: %ld allocations\n", s.result.n_generated, s.len,
           s.n_text_calls, s.allocations);
    return s;
}
#endif

ED_TEST(token_loop_allocates_nothing)
{
#ifdef SANITIZED
    printf("# skipped: a sanitizer owns malloc\n");
#else
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_config_t cfg;
    ed_config_defaults(&cfg);
    snprintf(cfg.model.path, sizeof cfg.model.path, "%s", MODEL);
    cfg.model.context = 256;
    cfg.model.batch = 32;
    cfg.engine.parallel = 1;
    ed_engine_t *e = NULL;
    ed_pool_t *pool = NULL;
    ed_base_t *base = NULL;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_pool_open(&pool, 2, err) == 0);
    ED_REQUIRE(ed_base_open(&base, MODEL, ed_kernels_select(getenv("EDGED_KERNELS")), pool, err) == 0);
    ED_REQUIRE(ed_engine_start(&e, &loop, &cfg, base, err) == 0);
    while (ed_engine_state(e, NULL) == ED_ENGINE_LOADING) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    ED_REQUIRE(ed_engine_state(e, NULL) == ED_ENGINE_READY);

    stream(&loop, e, 20, NULL); /* the slot's first job sizes its buffers */
    stream_t short_one = stream(&loop, e, 20, NULL);
    stream_t long_one = stream(&loop, e, 200, NULL);
    ED_CHECK_INT(short_one.result.finish, ED_FINISH_LENGTH);
    ED_CHECK_INT(long_one.result.finish, ED_FINISH_LENGTH);
    ED_CHECK_INT(long_one.result.n_generated, 200);
    ED_CHECK(long_one.n_text_calls > short_one.n_text_calls); /* a stream, not one delivery at the end */
    ED_CHECK(short_one.allocations > 0);                       /* the hook counts */
    ED_CHECK_INT(long_one.allocations, short_one.allocations);

    /* with an adapter (every target, rank 16): the same, the scratch was reserved at load */
    char path[128], cmd[512];
    snprintf(path, sizeof path, "/tmp/ed-alloc-lora-%d.gguf", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s/tests/tools/mklora --base %s --out %s --rank 16 --targets all",
             getenv("BUILD") ? getenv("BUILD") : "build", MODEL, path);
    ed_lora_t *lora = NULL;
    ED_REQUIRE(system(cmd) == 0);
    ED_REQUIRE(ed_lora_open(&lora, path, ed_base_gguf(base), ed_base_model(base), err) == 0);
    unlink(path);
    ed_engine_adapter_t *adapter = ed_engine_adapter_new(lora, "alloc@1");
    ED_REQUIRE(adapter != NULL);
    stream_t short_lora = stream(&loop, e, 20, adapter);
    stream_t long_lora = stream(&loop, e, 200, adapter);
    ED_CHECK_INT(long_lora.result.n_generated, 200);
    ED_CHECK_INT(long_lora.allocations, short_lora.allocations);
    ed_engine_adapter_release(adapter);
    ed_engine_stop(e);
    ed_base_close(base);
    ed_pool_close(pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
#endif
}

ED_TEST_MAIN(token_loop_allocates_nothing)
