/* tests/unit/adapt/run.c - daemon/adapt/run.c on a tiny random llama
 * (mkmodel, f32, 2 layers) with hand-made windows: the step cap and the
 * budget end a run with their reason; early stopping keeps the adapter of the
 * best held-out loss when held-out loss rises; a pause in the gate is not
 * training time; a run resumed from a
 * checkpoint (taken every k steps, or written when the gate stops it) gives
 * bitwise the losses of an uninterrupted run; config errors name the field;
 * damaged and mismatched checkpoints are refused. With
 * ED_TEST_CHECKPOINT_OUT=DIR the checkpoints it makes are written there (the
 * fuzz driver's seeds). */
#include "adapt/run.h"
#include "tests/test.h"

#include <stdint.h>
#include <time.h>

#define SPM_VOCAB "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"
#define SEQ 16
#define N_TRAIN 6
#define N_HELDOUT 2

typedef struct {
    char path[256];
    ed_gguf_t *gguf;
    ed_model_t model;
    ed_pool_t *pool;
    const ed_kernels_t *kernels;
} base_t;

static base_t base;

static int base_open(void)
{
    if (base.gguf)
        return 0;
    snprintf(base.path, sizeof base.path, "/tmp/ed-run-%d.gguf", (int)getpid());
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char cmd[1024], err[ED_ERR_LEN] = "";
    snprintf(cmd, sizeof cmd,
             "%s/tests/tools/mkmodel --arch llama --type f32 --n-layer 2 --vocab " SPM_VOCAB " --out %s 2>/dev/null",
             build, base.path);
    int rc = system(cmd) != 0 ? -1 : 0;
    if (rc == 0 && (ed_gguf_open(&base.gguf, base.path, err) != 0 || ed_model_load(&base.model, base.gguf, err) != 0 ||
                    ed_pool_open(&base.pool, 2, err) != 0 || !(base.kernels = ed_kernels_select(NULL))))
        rc = -1;
    unlink(base.path);
    if (rc != 0)
        printf("# base: %s\n", err);
    return rc;
}

/* Windows of repeating token patterns: the train set cycles through
 * `train_tokens`, the held-out set through `heldout_tokens`. */
typedef struct {
    ed_dataset_t ds;
    ed_window_t train[N_TRAIN], heldout[N_HELDOUT];
    int32_t tokens[N_TRAIN + N_HELDOUT][SEQ], targets[N_TRAIN + N_HELDOUT][SEQ];
} data_t;

static void fill(data_t *d, int w, ed_window_t *win, const int32_t *pattern, int n_pattern, int shift)
{
    for (int i = 0; i < SEQ; i++)
        d->tokens[w][i] = pattern[(i + shift) % n_pattern];
    for (int i = 0; i < SEQ; i++)
        d->targets[w][i] = i + 1 < SEQ ? d->tokens[w][i + 1] : -1;
    *win = (ed_window_t){.tokens = d->tokens[w], .targets = d->targets[w], .n = SEQ, .n_targets = SEQ - 1,
                         .doc_id = w};
}

/* Train on one pattern and hold out another: held-out loss rises as the
 * model learns the train pattern (construct = true); or hold out windows of
 * the train pattern itself. */
static void make_data(data_t *d, bool conflicting, int variant)
{
    memset(d, 0, sizeof *d);
    static const int32_t train_pattern[] = {1000, 2000, 3000, 4000, 5000, 6000, 7000};
    static const int32_t other_pattern[] = {1500, 2500, 3500};
    for (int w = 0; w < N_TRAIN; w++)
        fill(d, w, &d->train[w], train_pattern, 7, w + variant);
    for (int w = 0; w < N_HELDOUT; w++)
        fill(d, N_TRAIN + w, &d->heldout[w], conflicting ? other_pattern : train_pattern, conflicting ? 3 : 7, w + 3);
    d->ds = (ed_dataset_t){.train = d->train, .n_train = N_TRAIN, .heldout = d->heldout, .n_heldout = N_HELDOUT,
                           .train_tokens = N_TRAIN * (SEQ - 1), .heldout_tokens = N_HELDOUT * (SEQ - 1)};
}

static ed_trainer_t *trainer_new(float lr)
{
    ed_trainer_config_t c;
    ed_trainer_config_default(&c);
    c.rank = 4;
    c.seq_len = SEQ;
    c.lr = lr;
    c.lr_min = lr;
    c.warmup_steps = 0;
    ed_trainer_t *t = NULL;
    char err[ED_ERR_LEN] = "";
    int rc = ed_trainer_create(&t, &base.model, base.gguf, base.kernels, base.pool, &c, err);
    if (rc != 0)
        printf("# trainer: %s: %s\n", ed_err_name(rc), err);
    return t;
}

static void run_config(ed_run_config_t *c, int max_steps)
{
    ed_run_config_default(c);
    c->max_steps = max_steps;
    c->eval_every = 2;
    c->patience = 0;
    c->ckpt_every_steps = 0;
    c->ckpt_every_s = 0;
    c->grad_accum = 2;
    c->seed = 7;
}

/* Checkpoints handed to the hook: the first one and the last one are kept. */
typedef struct {
    void *first, *last;
    size_t first_len, last_len;
    int n;
} ckpts_t;

static void save_seed(const void *data, size_t len)
{
    const char *dir = getenv("ED_TEST_CHECKPOINT_OUT");
    static int n;
    if (!dir)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/run-%d-%d.ckpt", dir, (int)getpid(), n++);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

static int keep_checkpoint(const void *data, size_t len, void *arg, char err[ED_ERR_LEN])
{
    (void)err;
    ckpts_t *k = arg;
    void *copy = malloc(len);
    if (!copy)
        return ED_ENOMEM;
    memcpy(copy, data, len);
    if (!k->first) {
        k->first = copy;
        k->first_len = len;
    } else {
        free(k->last);
        k->last = copy;
        k->last_len = len;
    }
    k->n++;
    save_seed(data, len);
    return 0;
}

static void ckpts_free(ckpts_t *k)
{
    free(k->first);
    free(k->last);
    memset(k, 0, sizeof *k);
}

/* Same step, same bits, from `from` on. */
static void check_same_tail(const ed_run_result_t *full, const ed_run_result_t *resumed, int64_t from)
{
    int matched = 0;
    for (int i = 0; i < resumed->n_history; i++) {
        const ed_run_point_t *p = &resumed->history[i];
        if (p->step < from)
            continue;
        ED_REQUIRE(p->step - 1 < full->n_history);
        const ed_run_point_t *q = &full->history[p->step - 1];
        ED_CHECK_INT(q->step, p->step);
        ED_CHECK(memcmp(&q->train_loss, &p->train_loss, sizeof(double)) == 0);
        ED_CHECK(memcmp(&q->heldout_loss, &p->heldout_loss, sizeof(double)) == 0 ||
                 (isnan(q->heldout_loss) && isnan(p->heldout_loss)));
        ED_CHECK_INT(q->tokens, p->tokens);
        matched++;
    }
    printf("# %d steps compared from step %lld\n", matched, (long long)from);
    ED_CHECK(matched > 0);
}

ED_TEST(step_cap_and_budget_end_the_run_with_their_reason)
{
    ED_REQUIRE(base_open() == 0);
    data_t d;
    make_data(&d, false, 0);
    ed_trainer_t *t = trainer_new(1e-3f);
    ED_REQUIRE(t);
    ed_run_config_t c;
    run_config(&c, 3);
    ed_run_result_t r;
    char err[ED_ERR_LEN] = "";
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, NULL, NULL, 0, &r, err) == 0);
    ED_CHECK_INT(r.end, ED_RUN_MAX_STEPS);
    ED_CHECK_STR(ed_run_end_name(r.end), "max_steps");
    ED_CHECK_INT(r.steps, 3);
    ED_CHECK_INT(r.n_history, 3);
    ED_CHECK(r.best != NULL);
    ED_CHECK(r.history[2].tokens == 3 * 2 * (SEQ - 1));
    ED_CHECK(!isnan(r.history[1].heldout_loss) && !isnan(r.history[2].heldout_loss)); /* every 2, and at the end */
    ED_CHECK(isnan(r.history[0].heldout_loss));
    ed_run_result_free(&r);
    ed_trainer_free(t);

    t = trainer_new(1e-3f);
    ED_REQUIRE(t);
    run_config(&c, 1000);
    c.budget_s = 1e-6;
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, NULL, NULL, 0, &r, err) == 0);
    ED_CHECK_INT(r.end, ED_RUN_BUDGET);
    ED_CHECK_INT(r.steps, 1);
    ED_CHECK(r.history[0].elapsed_s > 0);
    ed_run_result_free(&r);
    ed_trainer_free(t);
}

static double heldout_loss_of(const ed_lora_t *adapter, const data_t *d)
{
    ed_trainer_t *t = trainer_new(1e-3f);
    char err[ED_ERR_LEN] = "";
    if (!t || ed_trainer_set_adapter(t, adapter, err) != 0) {
        printf("# set_adapter: %s\n", err);
        ed_trainer_free(t);
        return NAN;
    }
    double sum = 0;
    int64_t counted = 0;
    for (int i = 0; i < d->ds.n_heldout; i++) {
        double ls;
        int nc;
        if (ed_trainer_loss(t, d->heldout[i].tokens, d->heldout[i].targets, d->heldout[i].n, &ls, &nc, err) != 0)
            return NAN;
        sum += ls;
        counted += nc;
    }
    ed_trainer_free(t);
    return sum / (double)counted;
}

ED_TEST(early_stopping_keeps_the_best_adapter_when_heldout_loss_rises)
{
    ED_REQUIRE(base_open() == 0);
    data_t d;
    make_data(&d, true, 0);
    ed_trainer_t *t = trainer_new(2e-2f);
    ED_REQUIRE(t);
    ed_run_config_t c;
    run_config(&c, 60);
    c.eval_every = 1;
    c.patience = 2;
    ed_run_result_t r;
    char err[ED_ERR_LEN] = "";
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, NULL, NULL, 0, &r, err) == 0);
    double min = INFINITY;
    int64_t min_step = 0;
    for (int i = 0; i < r.n_history; i++) {
        printf("# step %lld train %.4f held-out %.4f\n", (long long)r.history[i].step, r.history[i].train_loss,
               r.history[i].heldout_loss);
        if (r.history[i].heldout_loss < min) {
            min = r.history[i].heldout_loss;
            min_step = r.history[i].step;
        }
    }
    ED_CHECK_INT(r.end, ED_RUN_EARLY_STOP);
    ED_CHECK_INT(r.best_step, min_step);
    ED_CHECK(r.best_heldout_loss == min);
    ED_CHECK_INT(r.steps, r.best_step + c.patience);
    ED_CHECK(r.history[r.n_history - 1].heldout_loss > r.best_heldout_loss);
    ED_CHECK(r.history[r.n_history - 1].train_loss < r.history[0].train_loss);
    /* the kept adapter is the one of the best step: its held-out loss, and not the last adapter */
    double again = heldout_loss_of(r.best, &d);
    printf("# best %.6f at step %lld, its adapter again %.6f\n", r.best_heldout_loss, (long long)r.best_step, again);
    ED_CHECK_NEAR(again, r.best_heldout_loss, 1e-9);
    double last = heldout_loss_of(ed_trainer_adapter(t), &d);
    ED_CHECK(last > r.best_heldout_loss);
    ed_run_result_free(&r);
    ed_trainer_free(t);
}

ED_TEST(resume_from_a_checkpoint_gives_the_same_losses)
{
    ED_REQUIRE(base_open() == 0);
    data_t d;
    make_data(&d, false, 0);
    ed_run_config_t c;
    run_config(&c, 9); /* 6 train windows, 2 per step: the order is redrawn during the run */
    c.ckpt_every_steps = 4;
    ckpts_t k = {0};
    ed_run_hooks_t hooks = {.checkpoint = keep_checkpoint, .arg = &k};
    ed_run_result_t full, resumed;
    char err[ED_ERR_LEN] = "";
    ed_trainer_t *t = trainer_new(5e-3f);
    ED_REQUIRE(t);
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, &hooks, NULL, 0, &full, err) == 0);
    ed_trainer_free(t);
    ED_REQUIRE(k.n == 2 && k.first);
    ed_run_checkpoint_info_t info;
    ED_REQUIRE(ed_run_checkpoint_info(k.first, k.first_len, &info, err) == 0);
    ED_CHECK_INT(info.steps, 4);
    ED_CHECK_INT(info.n_history, 4);
    ED_CHECK_INT(info.best_step, 4);

    t = trainer_new(5e-3f);
    ED_REQUIRE(t);
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, NULL, k.first, k.first_len, &resumed, err) == 0);
    ED_CHECK_INT(resumed.end, ED_RUN_MAX_STEPS);
    ED_CHECK_INT(resumed.steps, 9);
    ED_CHECK_INT(resumed.n_history, 9);
    check_same_tail(&full, &resumed, 1);
    ED_CHECK_INT(resumed.best_step, full.best_step);
    ED_CHECK(resumed.best_heldout_loss == full.best_heldout_loss);
    ed_run_result_free(&resumed);
    ed_trainer_free(t);
    ed_run_result_free(&full);
    ckpts_free(&k);
}

/* A gate that says stop on its n-th call. */
typedef struct {
    int calls, stop_at;
} gate_t;

static int stop_gate(void *arg)
{
    gate_t *g = arg;
    return ++g->calls >= g->stop_at;
}

ED_TEST(a_stop_by_the_gate_writes_a_checkpoint_that_resumes_exactly)
{
    ED_REQUIRE(base_open() == 0);
    data_t d;
    make_data(&d, false, 1);
    ed_run_config_t c;
    run_config(&c, 8);
    ed_run_result_t full, stopped, resumed;
    char err[ED_ERR_LEN] = "";
    ed_trainer_t *t = trainer_new(5e-3f);
    ED_REQUIRE(t);
    gate_t counting = {0, 1 << 30};
    ed_run_hooks_t hooks = {.gate = stop_gate, .gate_arg = &counting};
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, &hooks, NULL, 0, &full, err) == 0);
    ed_trainer_free(t);
    printf("# %d gate calls in 8 steps\n", counting.calls);
    ED_REQUIRE(counting.calls > 16);

    /* stops in the middle of a window of step 5 or so: the checkpoint is of the last completed step */
    ckpts_t k = {0};
    gate_t g = {0, counting.calls * 9 / 16};
    hooks = (ed_run_hooks_t){.checkpoint = keep_checkpoint, .arg = &k, .gate = stop_gate, .gate_arg = &g};
    t = trainer_new(5e-3f);
    ED_REQUIRE(t);
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, &hooks, NULL, 0, &stopped, err) == 0);
    ED_CHECK_INT(stopped.end, ED_RUN_STOPPED);
    ED_CHECK_STR(ed_run_end_name(stopped.end), "stopped");
    ED_REQUIRE(k.n == 1);
    ED_CHECK(stopped.steps > 0 && stopped.steps < 8);
    ED_CHECK_INT(stopped.n_history, stopped.steps);
    ed_trainer_free(t);

    t = trainer_new(5e-3f);
    ED_REQUIRE(t);
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, NULL, k.first, k.first_len, &resumed, err) == 0);
    ED_CHECK_INT(resumed.end, ED_RUN_MAX_STEPS);
    ED_CHECK_INT(resumed.steps, 8);
    check_same_tail(&full, &resumed, 1);
    ed_run_result_free(&resumed);
    ed_run_result_free(&stopped);
    ed_run_result_free(&full);
    ed_trainer_free(t);
    ckpts_free(&k);
}

/* A gate that sleeps on its first call: a pause. */
static int pausing_gate(void *arg)
{
    int *calls = arg;
    if ((*calls)++ == 0)
        usleep(300 * 1000);
    return 0;
}

ED_TEST(pauses_in_the_gate_are_not_training_time_and_checkpoints_follow_the_clock)
{
    ED_REQUIRE(base_open() == 0);
    data_t d;
    make_data(&d, false, 0);
    ed_trainer_t *t = trainer_new(1e-3f);
    ED_REQUIRE(t);
    ed_run_config_t c;
    run_config(&c, 3);
    c.ckpt_every_s = 1e-9; /* every step, by time */
    int calls = 0;
    ckpts_t k = {0};
    ed_run_hooks_t hooks = {.checkpoint = keep_checkpoint, .arg = &k, .gate = pausing_gate, .gate_arg = &calls};
    ed_run_result_t r;
    char err[ED_ERR_LEN] = "";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, &hooks, NULL, 0, &r, err) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double trained = r.history[r.n_history - 1].elapsed_s;
    printf("# wall %.3f s, training %.3f s, %d gate calls\n", wall, trained, calls);
    ED_CHECK(wall >= 0.3);
    ED_CHECK(trained < wall - 0.25);
    ED_CHECK_INT(k.n, 3);
    ed_run_result_free(&r);
    ed_trainer_free(t);
    ckpts_free(&k);
}

ED_TEST(config_errors_name_the_field)
{
    static const char *const fields[] = {"grad_accum", "max_steps", "budget_s", "eval_every", "patience",
                                         "ckpt_every_steps", "ckpt_every_s"};
    for (int i = 0; i < 7; i++) {
        ed_run_config_t c;
        ed_run_config_default(&c);
        char err[ED_ERR_LEN] = "";
        ED_CHECK_INT(ed_run_config_check(&c, err), 0);
        switch (i) {
        case 0: c.grad_accum = 0; break;
        case 1: c.max_steps = 0; break;
        case 2: c.budget_s = 0; break;
        case 3: c.eval_every = 0; break;
        case 4: c.patience = -1; break;
        case 5: c.ckpt_every_steps = -1; break;
        default: c.ckpt_every_s = NAN; break;
        }
        ED_CHECK_INT(ed_run_config_check(&c, err), ED_EINVAL);
        printf("# %s\n", err);
        ED_CHECK(strncmp(err, fields[i], strlen(fields[i])) == 0);
    }
    ed_run_config_t c;
    ed_run_config_default(&c);
    c.budget_s = 0;
    char err[ED_ERR_LEN] = "";
    ED_CHECK_INT(ed_run_config_check(&c, err), ED_EINVAL);
    ED_CHECK_STR(err, "budget_s: 0, expected more than 0");
}

ED_TEST(damaged_or_mismatched_checkpoints_are_refused)
{
    ED_REQUIRE(base_open() == 0);
    data_t d, other;
    make_data(&d, false, 0);
    make_data(&other, false, 2);
    ed_run_config_t c;
    run_config(&c, 2);
    c.ckpt_every_steps = 2;
    ckpts_t k = {0};
    ed_run_hooks_t hooks = {.checkpoint = keep_checkpoint, .arg = &k};
    ed_run_result_t r;
    char err[ED_ERR_LEN] = "";
    ed_trainer_t *t = trainer_new(5e-3f);
    ED_REQUIRE(t);
    ED_REQUIRE(ed_run_train(t, &d.ds, &c, &hooks, NULL, 0, &r, err) == 0);
    ed_run_result_free(&r);
    ED_REQUIRE(k.n == 1);
    uint8_t *bytes = k.first;
    size_t len = k.first_len;
    /* every single flipped byte and every truncation is refused (the checksum, the lengths) */
    for (size_t i = 0; i < len; i += 1 + len / 97) {
        bytes[i] ^= 0x20;
        err[0] = '\0';
        ED_CHECK_INT(ed_run_train(t, &d.ds, &c, NULL, bytes, len, &r, err), ED_EINVAL);
        ED_CHECK(err[0] != '\0');
        bytes[i] ^= 0x20;
    }
    for (size_t n = 0; n < len; n += 1 + len / 31)
        ED_CHECK_INT(ed_run_checkpoint_info(bytes, n, &(ed_run_checkpoint_info_t){0}, err), ED_EINVAL);
    ED_CHECK_INT(ed_run_checkpoint_info(bytes, len, &(ed_run_checkpoint_info_t){0}, err), 0);
    /* another dataset, other settings */
    ED_CHECK_INT(ed_run_train(t, &other.ds, &c, NULL, bytes, len, &r, err), ED_EINVAL);
    printf("# %s\n", err);
    ED_CHECK(strstr(err, "other training data") != NULL);
    ed_run_config_t c2 = c;
    c2.seed = 8;
    ED_CHECK_INT(ed_run_train(t, &d.ds, &c2, NULL, bytes, len, &r, err), ED_EINVAL);
    printf("# %s\n", err);
    ED_CHECK(strstr(err, "other settings") != NULL);
    /* a checkpoint of the format before packed windows (version 1), its checksum right */
    uint32_t old_version = 1;
    memcpy(bytes + 8, &old_version, sizeof old_version);
    uint64_t sum = 0xcbf29ce484222325ull;
    for (size_t i = 0; i + 8 < len; i++)
        sum = (sum ^ bytes[i]) * 0x100000001b3ull;
    memcpy(bytes + len - 8, &sum, sizeof sum);
    ED_CHECK_INT(ed_run_train(t, &d.ds, &c, NULL, bytes, len, &r, err), ED_EINVAL);
    printf("# %s\n", err);
    ED_CHECK(strstr(err, "version 1, expected 2") != NULL);
    ed_trainer_free(t);
    ckpts_free(&k);
}

ED_TEST_MAIN(config_errors_name_the_field, step_cap_and_budget_end_the_run_with_their_reason,
             pauses_in_the_gate_are_not_training_time_and_checkpoints_follow_the_clock,
             early_stopping_keeps_the_best_adapter_when_heldout_loss_rises,
             resume_from_a_checkpoint_gives_the_same_losses,
             a_stop_by_the_gate_writes_a_checkpoint_that_resumes_exactly,
             damaged_or_mismatched_checkpoints_are_refused)
