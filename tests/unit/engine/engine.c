/* engine.c - the inference thread (daemon/engine/engine.c) driven from a
 * libuv loop as the daemon drives it, on the shared tiny Llama: generation
 * to a length or a stop string, embeddings, concurrent jobs matching
 * sequential ones token for token, prefix reuse matching a cold run, the
 * queue bound, cancellation freeing the slot, backpressure holds, and the
 * states of a missing or broken model. */
#include "core/config.h"
#include "core/metrics.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/base.h"
#include "model/lora.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#define MODEL "../shared/testdata/models/tiny-llama-Q8_0.gguf"

typedef struct {
    char text[8192];
    size_t len;
    int n_text_calls;
    bool done;
    ed_job_result_t result;
    float embedding[512];
    int n_embd;
} outcome_t;

static void on_text(ed_job_t *job, const char *text, size_t len, void *user)
{
    (void)job;
    outcome_t *o = user;
    if (o->len + len < sizeof o->text) {
        memcpy(o->text + o->len, text, len);
        o->len += len;
    }
    o->n_text_calls++;
}

static void on_done(ed_job_t *job, const ed_job_result_t *result, void *user)
{
    (void)job;
    outcome_t *o = user;
    o->done = true;
    o->result = *result;
    o->result.embedding = NULL;
    if (result->embedding && result->n_embd <= 512) {
        memcpy(o->embedding, result->embedding, (size_t)result->n_embd * sizeof(float));
        o->n_embd = result->n_embd;
    }
}

static const ed_job_callbacks_t callbacks = {on_text, on_done};

/* What each engine started borrows, as the daemon lends it: one pool, one
 * base model (none for an empty path); closed by stop(). */
static struct {
    ed_engine_t *engine;
    ed_base_t *base;
    ed_pool_t *pool;
} lent[4];

static ed_engine_t *start(uv_loop_t *loop, const char *path, int parallel, int queue)
{
    ed_config_t cfg;
    ed_config_defaults(&cfg);
    snprintf(cfg.model.path, sizeof cfg.model.path, "%s", path);
    cfg.model.context = 128;
    cfg.model.threads = 2;
    cfg.model.batch = 32;
    cfg.engine.parallel = (uint32_t)parallel;
    cfg.engine.queue_length = (uint32_t)queue;
    ed_engine_t *e = NULL;
    ed_pool_t *pool = NULL;
    ed_base_t *base = NULL;
    char err[ED_ERR_LEN];
    ED_CHECK_INT(ed_pool_open(&pool, 2, err), 0);
    if (path[0])
        ED_CHECK_INT(ed_base_open(&base, path, ed_kernels_select(getenv("EDGED_KERNELS")), pool, err), 0);
    ED_CHECK_INT(ed_engine_start(&e, loop, &cfg, base, err), 0);
    for (int i = 0; i < 4; i++)
        if (!lent[i].engine) {
            lent[i].engine = e;
            lent[i].base = base;
            lent[i].pool = pool;
            break;
        }
    return e;
}

/* ed_engine_stop, then what the engine borrowed. */
static void stop_engine(ed_engine_t *e)
{
    ed_engine_stop(e);
    for (int i = 0; i < 4; i++)
        if (lent[i].engine == e) {
            ed_base_close(lent[i].base);
            ed_pool_close(lent[i].pool);
            lent[i].engine = NULL;
        }
}

/* Runs the loop until the engine leaves LOADING. */
static ed_engine_state_t wait_loaded(uv_loop_t *loop, ed_engine_t *e)
{
    ed_engine_state_t s;
    while ((s = ed_engine_state(e, NULL)) == ED_ENGINE_LOADING) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return s;
}

static void wait_done(uv_loop_t *loop, outcome_t *const *outs, int n)
{
    for (;;) {
        bool all = true;
        for (int i = 0; i < n; i++)
            all = all && outs[i]->done;
        if (all)
            return;
        uv_run(loop, UV_RUN_ONCE);
    }
}

static const int32_t prompt[] = {1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889};
enum { N_PROMPT = sizeof prompt / sizeof prompt[0] };

static ed_job_params_t generate(const int32_t *tokens, int n, int max_tokens, uint64_t seed)
{
    ed_job_params_t p = {.kind = ED_JOB_GENERATE, .prompt = tokens, .n_prompt = n, .max_tokens = max_tokens};
    p.sampling = ed_sampler_defaults();
    p.sampling.seed = seed;
    p.sampling.temperature = 1.0f;
    p.sampling.top_k = 0;
    p.sampling.top_p = 1.0f;
    p.sampling.min_p = 0.0f;
    return p;
}

static int submit(ed_engine_t *e, const ed_job_params_t *p, outcome_t *o, ed_job_t **job)
{
    char err[ED_ERR_LEN];
    ed_job_t *j;
    int rc = ed_engine_submit(e, p, &callbacks, o, job ? job : &j, err);
    if (rc != 0)
        printf("# submit: %s: %s\n", ed_strerror(rc), err);
    return rc;
}

ED_TEST(generates_to_max_tokens)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 2, 4);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    const ed_engine_model_t *m = ed_engine_model(e);
    ED_REQUIRE(m != NULL);
    ED_CHECK_INT(m->n_ctx, 128);
    ED_CHECK_INT(m->n_slots, 2);
    ED_CHECK_STR(m->name, "tiny-llama-Q8_0");

    outcome_t o = {0};
    ed_job_params_t p = generate(prompt, N_PROMPT, 12, 7);
    ED_REQUIRE(submit(e, &p, &o, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&o}, 1);
    printf("# %d tokens, text \"%.*s\", prompt %.1f ms, generation %.1f ms\n", o.result.n_generated,
           (int)o.len, o.text, o.result.prompt_ms, o.result.generate_ms);
    ED_CHECK(o.result.finish == ED_FINISH_LENGTH || o.result.finish == ED_FINISH_STOP);
    if (o.result.finish == ED_FINISH_LENGTH)
        ED_CHECK_INT(o.result.n_generated, 12);
    ED_CHECK_INT(o.result.n_prompt, N_PROMPT);
    ED_CHECK(o.len > 0);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

/* Two jobs at once (one pass per step for both) give what each gives alone. */
ED_TEST(concurrent_jobs_match_sequential_ones)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 2, 4);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    static const int32_t other[] = {1, 450, 4996, 17354, 1701, 432, 17204};
    ed_job_params_t pa = generate(prompt, N_PROMPT, 16, 11), pb = generate(other, 7, 16, 12);

    outcome_t a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0};
    ED_REQUIRE(submit(e, &pa, &a1, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&a1}, 1);
    ED_REQUIRE(submit(e, &pb, &b1, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&b1}, 1);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);

    e = start(&loop, MODEL, 2, 4); /* cold caches */
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    ED_REQUIRE(submit(e, &pa, &a2, NULL) == 0);
    ED_REQUIRE(submit(e, &pb, &b2, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&a2, &b2}, 2);
    printf("# a: \"%.*s\"\n# b: \"%.*s\"\n", (int)a2.len, a2.text, (int)b2.len, b2.text);
    ED_CHECK(a1.len == a2.len && memcmp(a1.text, a2.text, a1.len) == 0);
    ED_CHECK(b1.len == b2.len && memcmp(b1.text, b2.text, b1.len) == 0);
    ED_CHECK_INT(a1.result.n_generated, a2.result.n_generated);
    ED_CHECK_INT(b1.result.n_generated, b2.result.n_generated);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

/* An adapter made by mklora for the test model, loaded against the engine's base. */
static ed_engine_adapter_t *adapter(const ed_engine_model_t *m, int seed, int rank)
{
    char path[256], cmd[1024], err[ED_ERR_LEN];
    snprintf(path, sizeof path, "/tmp/ed-engine-lora-%d-%d.gguf", (int)getpid(), seed);
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    snprintf(cmd, sizeof cmd, "%s/tests/tools/mklora --base %s --out %s --rank %d --seed %d --targets all", build,
             MODEL, path, rank, seed);
    ed_lora_t *lora = NULL;
    int rc = system(cmd) == 0 ? ed_lora_open(&lora, path, ed_base_gguf(m->base), ed_base_model(m->base), err) : -1;
    unlink(path);
    if (rc != 0) {
        printf("# adapter %d: %s\n", seed, rc == -1 ? cmd : err);
        return NULL;
    }
    return ed_engine_adapter_new(lora, seed == 1 ? "a@1" : "b@1");
}

/* Two jobs with different adapters in one batch give each the text it gives
 * alone; an adapter changes the text; the cache of a job with one adapter
 * is not reused by a job with another; the registry's reference outlives
 * the jobs (released last here); a rank above the reserved one is refused. */
ED_TEST(adapters_per_job_match_each_alone)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 2, 4);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    const ed_engine_model_t *m = ed_engine_model(e);
    ed_engine_adapter_t *a = adapter(m, 1, 8), *b = adapter(m, 2, 4);
    ED_REQUIRE(a && b);
    ed_job_params_t base = generate(prompt, N_PROMPT, 16, 5), pa = base, pb = base;
    base.sampling.temperature = pa.sampling.temperature = pb.sampling.temperature = 0.0f;
    pa.adapter = a;
    pa.adapter_scale = 4.0f;
    pb.adapter = b;
    pb.adapter_scale = 4.0f;

    outcome_t o0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, o1 = {0};
    ED_REQUIRE(submit(e, &base, &o0, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&o0}, 1);
    ED_REQUIRE(submit(e, &pa, &a1, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&a1}, 1);
    ED_CHECK_INT(a1.result.n_cached, 0); /* the same prompt, but the base's cache is not the adapter's */
    ED_REQUIRE(submit(e, &pb, &b1, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&b1}, 1);
    ED_REQUIRE(submit(e, &pa, &a2, NULL) == 0);
    ED_REQUIRE(submit(e, &pb, &b2, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&a2, &b2}, 2);
    ED_REQUIRE(submit(e, &base, &o1, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&o1}, 1);
    printf("# base: \"%.*s\"\n# a: \"%.*s\"\n# b: \"%.*s\"\n", (int)o0.len, o0.text, (int)a2.len, a2.text,
           (int)b2.len, b2.text);
    ED_CHECK(!(o0.len == a1.len && memcmp(o0.text, a1.text, a1.len) == 0));
    ED_CHECK(!(a1.len == b1.len && memcmp(a1.text, b1.text, a1.len) == 0));
    ED_CHECK(a1.len == a2.len && memcmp(a1.text, a2.text, a1.len) == 0);
    ED_CHECK(b1.len == b2.len && memcmp(b1.text, b2.text, b1.len) == 0);
    ED_CHECK(o0.len == o1.len && memcmp(o0.text, o1.text, o0.len) == 0);

    ed_engine_adapter_t *big = adapter(m, 3, ED_ENGINE_ADAPTER_MAX_RANK * 2);
    ED_REQUIRE(big != NULL);
    ed_job_params_t pc = pa;
    pc.adapter = big;
    char err[ED_ERR_LEN];
    ed_job_t *job;
    ED_CHECK_INT(ed_engine_submit(e, &pc, &callbacks, &o1, &job, err), ED_EINVAL);
    ED_CHECK(strstr(err, "rank 128") != NULL);
    ed_engine_adapter_release(big);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ed_engine_adapter_release(a);
    ed_engine_adapter_release(b);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

/* The same request twice: the second reuses the cached prompt and says so,
 * and its output is the cold run's. */
ED_TEST(prefix_reuse_matches_a_cold_run)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 1, 4);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    ed_job_params_t p = generate(prompt, N_PROMPT, 10, 3);
    outcome_t cold = {0}, warm = {0};
    ED_REQUIRE(submit(e, &p, &cold, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&cold}, 1);
    ED_REQUIRE(submit(e, &p, &warm, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&warm}, 1);
    ED_CHECK_INT(cold.result.n_cached, 0);
    ED_CHECK_INT(warm.result.n_cached, N_PROMPT - 1);
    ED_CHECK(cold.len == warm.len && memcmp(cold.text, warm.text, cold.len) == 0);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

ED_TEST(stop_string_ends_generation_unsent)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 1, 4);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    ed_job_params_t p = generate(prompt, N_PROMPT, 24, 5);
    outcome_t free_run = {0};
    ED_REQUIRE(submit(e, &p, &free_run, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&free_run}, 1);
    ED_REQUIRE(free_run.len > 6);
    /* stop at a piece of the text the same seed produces */
    char stop[4];
    memcpy(stop, free_run.text + free_run.len / 2, 3);
    stop[3] = '\0';
    const char *stops[] = {stop};
    p.stops = stops;
    p.n_stops = 1;
    outcome_t stopped = {0};
    ED_REQUIRE(submit(e, &p, &stopped, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&stopped}, 1);
    const char *at = memmem(free_run.text, free_run.len, stop, 3);
    ED_REQUIRE(at != NULL);
    printf("# stop \"%s\": \"%.*s\"\n", stop, (int)stopped.len, stopped.text);
    ED_CHECK_INT(stopped.result.finish, ED_FINISH_STOP);
    ED_CHECK_INT((int)stopped.len, (int)(at - free_run.text));
    ED_CHECK(memcmp(stopped.text, free_run.text, stopped.len) == 0);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

ED_TEST(embeddings_are_unit_vectors_and_deterministic)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 2, 4);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    ed_job_params_t p = {.kind = ED_JOB_EMBED, .prompt = prompt, .n_prompt = N_PROMPT};
    outcome_t a = {0}, b = {0}, c = {0};
    ED_REQUIRE(submit(e, &p, &a, NULL) == 0);
    ED_REQUIRE(submit(e, &p, &b, NULL) == 0);
    p.n_prompt = 4;
    ED_REQUIRE(submit(e, &p, &c, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&a, &b, &c}, 3);
    ED_CHECK_INT(a.result.finish, ED_FINISH_DONE);
    ED_CHECK_INT(a.n_embd, 256);
    double norm = 0, diff = 0;
    for (int i = 0; i < a.n_embd; i++) {
        norm += (double)a.embedding[i] * a.embedding[i];
        diff += fabs((double)a.embedding[i] - c.embedding[i]);
    }
    ED_CHECK_NEAR(norm, 1.0, 1e-4);
    ED_CHECK(memcmp(a.embedding, b.embedding, sizeof a.embedding) == 0);
    ED_CHECK(diff > 1e-3);
    ED_CHECK_INT(a.len, 0);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

/* One slot, no queue: a second job is refused while the first has the
 * slot; a cancelled job ends at once and its slot takes the next job. The
 * first job is submitted held, so it cannot finish before the checks. */
ED_TEST(queue_bound_and_cancellation)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 1, 0);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    ed_job_params_t p = generate(prompt, N_PROMPT, 100, 1);
    p.held = true;
    outcome_t first = {0}, refused = {0}, next = {0};
    ed_job_t *job = NULL, *other = NULL;
    ED_REQUIRE(submit(e, &p, &first, &job) == 0);
    char err[ED_ERR_LEN];
    ED_CHECK_INT(ed_engine_submit(e, &p, &callbacks, &refused, &other, err), ED_EBUSY);
    printf("# %s\n", err);
    ed_engine_cancel(e, job);
    wait_done(&loop, (outcome_t *[]){&first}, 1);
    ED_CHECK_INT(first.result.finish, ED_FINISH_CANCELLED);
    ED_CHECK_INT(first.result.n_generated, 0);
    ed_engine_stats_t st;
    ed_engine_stats(e, &st);
    ED_CHECK_INT(st.busy_slots, 0);
    p.held = false;
    p.max_tokens = 3;
    ED_REQUIRE(submit(e, &p, &next, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&next}, 1);
    ED_CHECK_INT(next.result.finish, ED_FINISH_LENGTH);
    ED_CHECK(!refused.done);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

/* A held job takes no steps; released, it finishes as if never held. The
 * job is submitted held, so no engine step can run before the hold. */
ED_TEST(hold_pauses_a_job)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 1, 2);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    ed_job_params_t p = generate(prompt, N_PROMPT, 8, 9);
    outcome_t ref = {0}, held = {0};
    ED_REQUIRE(submit(e, &p, &ref, NULL) == 0);
    wait_done(&loop, (outcome_t *[]){&ref}, 1);
    ed_job_t *job;
    p.held = true;
    ED_REQUIRE(submit(e, &p, &held, &job) == 0);
    usleep(300 * 1000);
    uv_run(&loop, UV_RUN_NOWAIT);
    ED_CHECK(!held.done);
    ED_CHECK_INT(held.n_text_calls, 0);
    ed_engine_stats_t st;
    ed_engine_stats(e, &st);
    ED_CHECK_INT(st.busy_slots, 1); /* it holds its slot */
    ed_engine_hold(e, job, false);
    wait_done(&loop, (outcome_t *[]){&held}, 1);
    ED_CHECK(ref.len == held.len && memcmp(ref.text, held.text, ref.len) == 0);

    /* held again mid-stream, after the text so far has been seen: no more text */
    outcome_t again = {0};
    p.held = false;
    p.max_tokens = 100;
    p.sampling.temperature = 0; /* loops without an EOS on this model */
    ED_REQUIRE(submit(e, &p, &again, &job) == 0);
    while (again.n_text_calls < 1 && !again.done)
        uv_run(&loop, UV_RUN_ONCE);
    ED_REQUIRE(!again.done);
    ed_engine_hold(e, job, true);
    usleep(100 * 1000); /* a step already running ends; its text is posted */
    uv_run(&loop, UV_RUN_NOWAIT);
    int calls = again.n_text_calls;
    usleep(200 * 1000);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (!again.done) { /* else it finished all 100 tokens before the hold: nothing to check */
        ED_CHECK_INT(again.n_text_calls, calls);
        ed_engine_hold(e, job, false);
    }
    wait_done(&loop, (outcome_t *[]){&again}, 1);
    ED_CHECK_INT(again.result.finish, ED_FINISH_LENGTH);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

ED_TEST(bad_requests_are_refused)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 1, 2);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    char err[ED_ERR_LEN];
    outcome_t o = {0};
    ed_job_t *job;
    int32_t long_prompt[128] = {1};
    ed_job_params_t p = generate(long_prompt, 128, 1, 1);
    ED_CHECK_INT(ed_engine_submit(e, &p, &callbacks, &o, &job, err), ED_ERANGE);
    printf("# %s\n", err);
    p = generate(prompt, N_PROMPT, 120, 1);
    ED_CHECK_INT(ed_engine_submit(e, &p, &callbacks, &o, &job, err), ED_ERANGE);
    printf("# %s\n", err);
    int32_t bad[] = {1, 32000};
    p = generate(bad, 2, 4, 1);
    ED_CHECK_INT(ed_engine_submit(e, &p, &callbacks, &o, &job, err), ED_EINVAL);
    printf("# %s\n", err);
    p = generate(prompt, 0, 4, 1);
    ED_CHECK_INT(ed_engine_submit(e, &p, &callbacks, &o, &job, err), ED_EINVAL);
    ED_CHECK(!o.done);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

ED_TEST(missing_model_fails_with_a_reason)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, "/nonexistent/model.gguf", 1, 1);
    ED_CHECK_INT(wait_loaded(&loop, e), ED_ENGINE_FAILED);
    const char *reason;
    ed_engine_state(e, &reason);
    printf("# %s\n", reason);
    ED_CHECK(strstr(reason, "/nonexistent/model.gguf") != NULL);
    ED_CHECK(ed_engine_model(e) == NULL);
    char err[ED_ERR_LEN];
    outcome_t o = {0};
    ed_job_t *job;
    ed_job_params_t p = generate(prompt, N_PROMPT, 4, 1);
    ED_CHECK_INT(ed_engine_submit(e, &p, &callbacks, &o, &job, err), ED_EAGAIN);
    stop_engine(e);

    e = start(&loop, "", 1, 1);
    ED_CHECK_INT(ed_engine_state(e, &reason), ED_ENGINE_EMPTY);
    ED_CHECK(strstr(reason, "[model] path") != NULL);
    stop_engine(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

/* The job in the slot is held so that neither can finish before the stop. */
ED_TEST(stop_cancels_running_jobs)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_engine_t *e = start(&loop, MODEL, 1, 2);
    ED_REQUIRE(wait_loaded(&loop, e) == ED_ENGINE_READY);
    ed_job_params_t p = generate(prompt, N_PROMPT, 100, 1);
    p.held = true;
    outcome_t a = {0}, b = {0};
    ED_REQUIRE(submit(e, &p, &a, NULL) == 0);
    p.held = false;
    ED_REQUIRE(submit(e, &p, &b, NULL) == 0);
    stop_engine(e);
    ED_CHECK(a.done && b.done);
    ED_CHECK_INT(a.result.finish, ED_FINISH_CANCELLED);
    ED_CHECK_INT(b.result.finish, ED_FINISH_CANCELLED);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK_INT(uv_loop_close(&loop), 0);
}

ED_TEST_MAIN(generates_to_max_tokens, concurrent_jobs_match_sequential_ones, adapters_per_job_match_each_alone,
             prefix_reuse_matches_a_cold_run,
             stop_string_ends_generation_unsent, embeddings_are_unit_vectors_and_deterministic,
             queue_bound_and_cancellation, hold_pauses_a_job, bad_requests_are_refused,
             missing_model_fails_with_a_reason, stop_cancels_running_jobs)
