/* tests/unit/adapt/trainer.c - daemon/adapt/trainer.c on small mkmodel
 * bases: the loss falls on a memorisation task; the same seed and thread
 * count give bitwise the same loss curve (and so does another thread
 * count); the gate stops a window and a step with ED_ECANCELED leaving the
 * parameters as they were; a bad config names its field; the learning-rate
 * schedule; a base the trainer cannot differentiate is refused; the
 * optimizer state exports and imports; the adapter writes and reads back
 * as an ed_lora_t; a packed window equals its segments trained apart.
 * (Gradients against PyTorch: tests/reference/test_train.py.) */
#include "adapt/trainer.h"
#include "tests/test.h"

#define SPM_VOCAB "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"

typedef struct {
    char path[256];
    ed_gguf_t *gguf;
    ed_model_t model;
    ed_pool_t *pool;
    const ed_kernels_t *k;
} base_t;

static int base_open(base_t *b, const char *name, const char *args, int threads)
{
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "/tmp/ed-trainer-%d-%s.gguf", (int)getpid(), name);
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char cmd[1024], err[ED_ERR_LEN] = "";
    snprintf(cmd, sizeof cmd, "%s/tests/tools/mkmodel --out %s --vocab " SPM_VOCAB " %s >/dev/null 2>&1", build,
             b->path, args);
    b->k = ed_kernels_select(NULL);
    if (system(cmd) != 0 || ed_gguf_open(&b->gguf, b->path, err) != 0 || ed_model_load(&b->model, b->gguf, err) != 0 ||
        ed_pool_open(&b->pool, threads, err) != 0 || ed_model_repack(&b->model, b->k, b->pool, err) != 0) {
        printf("# base %s: %s\n", name, err);
        return -1;
    }
    return 0;
}

static void base_close(base_t *b)
{
    ed_pool_close(b->pool);
    ed_model_free(&b->model);
    ed_gguf_close(b->gguf);
    unlink(b->path);
}

#define LLAMA "--arch llama --type q8_0 --n-layer 2 --n-head 4 --n-head-kv 2"
enum { N = 16 };

static void window(int32_t *tokens, int32_t *targets)
{
    for (int i = 0; i < N; i++)
        tokens[i] = (int32_t)(100 + (i * 7919) % 3000);
    for (int i = 0; i < N; i++)
        targets[i] = i + 1 < N ? tokens[i + 1] : -1;
}

/* Steps of training on the same window: the mean loss of each into curve. */
static int train(ed_trainer_t *t, int steps, double *curve)
{
    int32_t tokens[N], targets[N];
    window(tokens, targets);
    char err[ED_ERR_LEN];
    for (int s = 0; s < steps; s++) {
        double loss;
        int counted;
        int rc = ed_trainer_accumulate(t, tokens, targets, N, 1.0f / (N - 1), &loss, &counted, err);
        if (rc == 0)
            rc = ed_trainer_step(t, err);
        if (rc != 0) {
            printf("# step %d: %s\n", s, err);
            return rc;
        }
        curve[s] = loss / counted;
    }
    return 0;
}

static ed_trainer_config_t memorise_config(void)
{
    ed_trainer_config_t c;
    ed_trainer_config_default(&c);
    c.seq_len = 32;
    c.lr = 1e-2f;
    c.lr_min = 1e-3f;
    c.warmup_steps = 2;
    c.targets = ED_TRAIN_TARGETS_ALL;
    c.seed = 42;
    return c;
}

ED_TEST(loss_falls_when_memorising_a_window)
{
    base_t b;
    ED_REQUIRE(base_open(&b, "mem", LLAMA, 2) == 0);
    ed_trainer_config_t c = memorise_config();
    ed_trainer_t *t = NULL;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_trainer_create(&t, &b.model, b.gguf, b.k, b.pool, &c, err) == 0);
    enum { STEPS = 30 };
    double curve[STEPS];
    ED_REQUIRE(train(t, STEPS, curve) == 0);
    printf("# loss %.4f -> %.4f -> %.4f\n", curve[0], curve[STEPS / 2], curve[STEPS - 1]);
    ED_CHECK(curve[STEPS - 1] < 0.5 * curve[0]);
    ED_CHECK_INT(ed_trainer_steps(t), STEPS);
    ed_trainer_timing_t tm = ed_trainer_timing(t);
    ED_CHECK(tm.forward_s > 0 && tm.backward_s > 0 && tm.optimizer_s > 0);
    /* the trained adapter writes as llama.cpp's format and loads back against the base */
    char path[256];
    snprintf(path, sizeof path, "/tmp/ed-trainer-%d-adapter.gguf", (int)getpid());
    ED_REQUIRE(ed_lora_write(ed_trainer_adapter(t), path, err) == 0);
    ed_lora_t *back = NULL;
    ED_CHECK(ed_lora_open(&back, path, b.gguf, &b.model, err) == 0);
    if (back) {
        const ed_lora_pair_t *p = ed_lora_block(back, 1, ED_LORA_FFN_DOWN);
        const ed_lora_pair_t *q = ed_lora_block(ed_trainer_adapter(t), 1, ED_LORA_FFN_DOWN);
        ED_REQUIRE(p && q);
        ED_CHECK(memcmp(p->b, q->b, sizeof(float) * (size_t)q->n_out * q->rank) == 0);
        ED_CHECK_STR(back->fingerprint, ed_trainer_adapter(t)->fingerprint);
    }
    ed_lora_free(back);
    unlink(path);
    ed_trainer_free(t);
    base_close(&b);
}

ED_TEST(same_seed_and_threads_give_the_same_curve)
{
    enum { STEPS = 4 };
    double curves[3][STEPS];
    int threads[3] = {2, 2, 1};
    for (int run = 0; run < 3; run++) {
        base_t b;
        ED_REQUIRE(base_open(&b, "det", LLAMA, threads[run]) == 0);
        ed_trainer_config_t c = memorise_config();
        ed_trainer_t *t = NULL;
        char err[ED_ERR_LEN];
        ED_REQUIRE(ed_trainer_create(&t, &b.model, b.gguf, b.k, b.pool, &c, err) == 0);
        ED_REQUIRE(train(t, STEPS, curves[run]) == 0);
        ed_trainer_free(t);
        base_close(&b);
    }
    ED_CHECK(memcmp(curves[0], curves[1], sizeof curves[0]) == 0);
    /* every reduction has a fixed order, so the thread count does not matter either */
    ED_CHECK(memcmp(curves[0], curves[2], sizeof curves[0]) == 0);
    ED_CHECK(curves[0][STEPS - 1] != curves[0][0]);
}

typedef struct {
    int calls, stop_at;
} gate_t;

static int count_gate(void *arg)
{
    gate_t *g = arg;
    return ++g->calls >= g->stop_at;
}

ED_TEST(the_gate_stops_a_window_and_leaves_the_parameters)
{
    base_t b;
    ED_REQUIRE(base_open(&b, "gate", LLAMA, 2) == 0);
    ed_trainer_config_t c = memorise_config();
    ed_trainer_t *t = NULL;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_trainer_create(&t, &b.model, b.gguf, b.k, b.pool, &c, err) == 0);
    double curve[2];
    ED_REQUIRE(train(t, 2, curve) == 0);
    size_t n = ed_trainer_n_params(t);
    float *p0 = malloc(3 * n * sizeof(float)), *p1 = malloc(3 * n * sizeof(float));
    ED_REQUIRE(p0 && p1);
    ed_trainer_state_export(t, p0, p0 + n, p0 + 2 * n);

    /* count the gate calls of a whole window, then stop one halfway */
    gate_t g = {0, 1 << 30};
    ed_trainer_set_gate(t, count_gate, &g);
    int32_t tokens[N], targets[N];
    window(tokens, targets);
    double loss;
    int counted;
    ED_REQUIRE(ed_trainer_accumulate(t, tokens, targets, N, 1.0f, &loss, &counted, err) == 0);
    int per_window = g.calls;
    printf("# %d gate calls per window\n", per_window);
    ED_CHECK(per_window > 20);
    g = (gate_t){0, per_window / 2 + 1}; /* inside the backward pass */
    ED_CHECK_INT(ed_trainer_accumulate(t, tokens, targets, N, 1.0f, &loss, &counted, err), ED_ECANCELED);
    ED_CHECK(strstr(err, "gate") != NULL);
    const ed_lora_t *gr = ed_trainer_grad(t);
    int zero = 1;
    for (int i = 0; i < gr->n_layer * ED_LORA_PER_LAYER; i++)
        for (int j = 0; gr->pairs[i].rank && j < gr->pairs[i].rank * gr->pairs[i].n_in; j++)
            zero = zero && gr->pairs[i].a[j] == 0;
    ED_CHECK(zero);
    g = (gate_t){0, 1};
    ED_CHECK_INT(ed_trainer_step(t, err), ED_ECANCELED);
    ED_CHECK_INT(ed_trainer_loss(t, tokens, targets, N, &loss, &counted, err), ED_ECANCELED);
    ed_trainer_state_export(t, p1, p1 + n, p1 + 2 * n);
    ED_CHECK(memcmp(p0, p1, 3 * n * sizeof(float)) == 0);
    ED_CHECK_INT(ed_trainer_steps(t), 2);

    /* without the gate it goes on; an imported state gives the same loss again */
    ed_trainer_set_gate(t, NULL, NULL);
    double before, after;
    ED_REQUIRE(ed_trainer_loss(t, tokens, targets, N, &before, &counted, err) == 0);
    ED_CHECK_INT(counted, N - 1);
    ED_REQUIRE(train(t, 1, curve) == 0);
    ed_trainer_state_import(t, p0, p0 + n, p0 + 2 * n, 2);
    ED_REQUIRE(ed_trainer_loss(t, tokens, targets, N, &after, &counted, err) == 0);
    ED_CHECK(before == after);
    ED_CHECK_INT(ed_trainer_steps(t), 2);
    free(p0);
    free(p1);
    ed_trainer_free(t);
    base_close(&b);
}

ED_TEST(bad_configs_and_windows_name_the_field)
{
    base_t b;
    ED_REQUIRE(base_open(&b, "cfg", LLAMA, 1) == 0);
    char err[ED_ERR_LEN];
    ed_trainer_config_t c;
#define BAD(stmt, text)                                                                                            \
    do {                                                                                                           \
        ed_trainer_config_default(&c);                                                                             \
        stmt;                                                                                                      \
        err[0] = '\0';                                                                                             \
        ED_CHECK_INT(ed_trainer_config_check(&c, &b.model, err), ED_EINVAL);                                       \
        if (!strstr(err, text))                                                                                    \
            ED__FAIL("\"%s\" lacks \"%s\"", err, text);                                                            \
    } while (0)
    ed_trainer_config_default(&c);
    ED_CHECK_INT(ed_trainer_config_check(&c, &b.model, err), 0);
    BAD(c.rank = 0, "rank: 0, expected 1 to 64");
    BAD(c.rank = 65, "rank: 65");
    BAD(c.alpha = 0, "alpha");
    BAD(c.targets = 0, "targets");
    BAD(c.targets = 1u << 9, "targets");
    BAD(c.seq_len = 1, "seq_len: 1");
    BAD(c.seq_len = 100000, "seq_len");
    BAD(c.lr = 0, "lr: 0");
    BAD(c.lr_min = 1, "lr_min");
    BAD(c.warmup_steps = -1, "warmup_steps");
    BAD(c.decay_steps = 5, "decay_steps");
    BAD(c.weight_decay = -1, "weight_decay");
    BAD(c.beta1 = 1, "beta1");
    BAD(c.beta2 = -0.1f, "beta2");
    BAD(c.eps = 0, "eps");
    BAD(c.grad_clip = -1, "grad_clip");
    ed_trainer_t *t = NULL;
    ed_trainer_config_default(&c);
    c.rank = 0;
    ED_CHECK_INT(ed_trainer_create(&t, &b.model, b.gguf, b.k, b.pool, &c, err), ED_EINVAL);
    ED_CHECK(t == NULL && strstr(err, "rank"));

    /* windows: length and vocabulary */
    ed_trainer_config_default(&c);
    c.seq_len = 8;
    ED_REQUIRE(ed_trainer_create(&t, &b.model, b.gguf, b.k, b.pool, &c, err) == 0);
    int32_t tokens[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, targets[9] = {2, 3, 4, 5, 6, 7, 8, 9, -1};
    double loss;
    int counted;
    ED_CHECK_INT(ed_trainer_accumulate(t, tokens, targets, 9, 1, &loss, &counted, err), ED_EINVAL);
    ED_CHECK_INT(ed_trainer_accumulate(t, tokens, targets, 0, 1, &loss, &counted, err), ED_EINVAL);
    tokens[3] = 32000;
    ED_CHECK_INT(ed_trainer_loss(t, tokens, targets, 8, &loss, &counted, err), ED_EINVAL);
    ED_CHECK(strstr(err, "vocabulary") != NULL);
    tokens[3] = 4;
    ED_CHECK_INT(ed_trainer_loss(t, tokens, targets, 8, &loss, &counted, err), 0);
    ED_CHECK_INT(counted, 8);
    ed_trainer_free(t);
    base_close(&b);
}

ED_TEST(phi3_is_refused)
{
    base_t b;
    ED_REQUIRE(base_open(&b, "phi3", "--arch phi3 --type f32 --n-layer 1", 1) == 0);
    ed_trainer_config_t c;
    ed_trainer_config_default(&c);
    ed_trainer_t *t = NULL;
    char err[ED_ERR_LEN];
    ED_CHECK_INT(ed_trainer_create(&t, &b.model, b.gguf, b.k, b.pool, &c, err), ED_EUNSUPPORTED);
    ED_CHECK(t == NULL && strstr(err, "phi3"));
    base_close(&b);
}

ED_TEST(learning_rate_schedule)
{
    ed_trainer_config_t c;
    ed_trainer_config_default(&c);
    c.lr = 1e-3f;
    c.lr_min = 1e-4f;
    c.warmup_steps = 10;
    c.decay_steps = 110;
    ED_CHECK_NEAR(ed_trainer_lr(&c, 1), 1e-4, 1e-9);
    ED_CHECK_NEAR(ed_trainer_lr(&c, 5), 5e-4, 1e-9);
    ED_CHECK_NEAR(ed_trainer_lr(&c, 10), 1e-3, 1e-9);
    ED_CHECK_NEAR(ed_trainer_lr(&c, 60), 5.5e-4, 1e-9); /* half way down the cosine */
    ED_CHECK_NEAR(ed_trainer_lr(&c, 35), 1e-4 + 0.9e-3 * 0.5 * (1 + cos(M_PI * 0.25)), 1e-9);
    ED_CHECK_NEAR(ed_trainer_lr(&c, 110), 1e-4, 1e-9);
    ED_CHECK_NEAR(ed_trainer_lr(&c, 1000), 1e-4, 1e-9);
    c.decay_steps = 0;
    ED_CHECK_NEAR(ed_trainer_lr(&c, 1000), 1e-3, 1e-9);
    c.warmup_steps = 0;
    ED_CHECK_NEAR(ed_trainer_lr(&c, 1), 1e-3, 1e-9);
}

/* A packed window (segments of their own positions and attention) gives the
 * loss and gradients of its segments trained as separate windows, summed. */
ED_TEST(a_packed_window_equals_its_segments_apart)
{
    base_t b;
    ED_REQUIRE(base_open(&b, "pack", LLAMA " --type f32", 2) == 0);
    ed_trainer_config_t c = memorise_config();
    ed_trainer_t *t = NULL;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_trainer_create(&t, &b.model, b.gguf, b.k, b.pool, &c, err) == 0);
    double curve[2];
    ED_REQUIRE(train(t, 2, curve) == 0); /* B no longer zero: every gradient is non-zero */
    int32_t tokens[N], targets[N];
    window(tokens, targets);
    int seg[3] = {5, 7, 4};
    for (int i = 0, end = 0; i < 3; i++) {
        end += seg[i];
        targets[end - 1] = -1; /* a segment's last token predicts nothing */
    }
    size_t n = ed_trainer_n_params(t), E = (size_t)b.model.n_embd;
    float *apart = calloc(n, sizeof(float)), *igrad = calloc(N * E, sizeof(float));
    ED_REQUIRE(apart && igrad);
    double loss_apart = 0, loss;
    int counted_apart = 0, counted;
    for (int i = 0, r0 = 0; i < 3; r0 += seg[i++]) {
        ED_REQUIRE(ed_trainer_accumulate(t, tokens + r0, targets + r0, seg[i], 0.5f, &loss, &counted, err) == 0);
        loss_apart += loss;
        counted_apart += counted;
        memcpy(igrad + r0 * E, ed_trainer_input_grad(t), sizeof(float) * seg[i] * E);
    }
    memcpy(apart, ed_trainer_grad(t)->pairs[0].a, sizeof(float) * n); /* the pairs lie in one block */
    ed_trainer_zero_grad(t);
    ED_REQUIRE(ed_trainer_accumulate_packed(t, tokens, targets, N, seg, 3, 0.5f, &loss, &counted, err) == 0);
    ED_CHECK_INT(counted, counted_apart);
    ED_CHECK(fabs(loss - loss_apart) <= 1e-6 * fabs(loss_apart));
    const float *packed = ed_trainer_grad(t)->pairs[0].a, *pig = ed_trainer_input_grad(t);
    double diff = 0, mag = 0, idiff = 0, imag = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)packed[i] - apart[i]));
        mag = fmax(mag, fabs((double)apart[i]));
    }
    for (size_t i = 0; i < N * E; i++) {
        idiff = fmax(idiff, fabs((double)pig[i] - igrad[i]));
        imag = fmax(imag, fabs((double)igrad[i]));
    }
    printf("# loss %.9g vs %.9g; gradients max diff %.3g of %.3g; input %.3g of %.3g\n", loss, loss_apart, diff, mag,
           idiff, imag);
    ED_CHECK(mag > 0 && diff <= 1e-5 * mag);
    ED_CHECK(imag > 0 && idiff <= 1e-5 * imag);
    /* the held-out loss too; bad layouts are refused */
    double eval;
    ED_REQUIRE(ed_trainer_loss_packed(t, tokens, targets, N, seg, 3, &eval, &counted, err) == 0);
    ED_CHECK(fabs(eval - loss_apart) <= 1e-6 * fabs(loss_apart));
    int bad[3] = {5, 7, 5}, zero[3] = {5, 0, 11};
    ED_CHECK_INT(ed_trainer_loss_packed(t, tokens, targets, N, bad, 3, &eval, &counted, err), ED_EINVAL);
    ED_CHECK_INT(ed_trainer_loss_packed(t, tokens, targets, N, zero, 3, &eval, &counted, err), ED_EINVAL);
    ED_CHECK(strstr(err, "segment") != NULL);
    free(apart);
    free(igrad);
    ed_trainer_free(t);
    base_close(&b);
}

ED_TEST_MAIN(loss_falls_when_memorising_a_window, same_seed_and_threads_give_the_same_curve,
             the_gate_stops_a_window_and_leaves_the_parameters, bad_configs_and_windows_name_the_field,
             phi3_is_refused, learning_rate_schedule, a_packed_window_equals_its_segments_apart)
