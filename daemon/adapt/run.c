/* run.c - the training loop of run.h: optimizer steps of grad_accum windows
 * in an order drawn from a seeded splitmix64 generator, held-out loss every
 * eval_every steps and at the end, the best adapter kept, early stopping,
 * the time budget (training time only: a pause in the gate is subtracted),
 * and the checkpoint format (written and parsed here; sealing and storing is
 * the caller's). The kernels are the trainer's. */
#include "adapt/run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ config -- */

void ed_run_config_default(ed_run_config_t *c)
{
    *c = (ed_run_config_t){.grad_accum = 1,
                           .max_steps = 1000,
                           .budget_s = 600,
                           .eval_every = 10,
                           .patience = 3,
                           .ckpt_every_steps = 50,
                           .ckpt_every_s = 60,
                           .seed = 1};
}

#define MAX_GRAD_ACCUM 4096

int ed_run_config_check(const ed_run_config_t *c, char err[ED_ERR_LEN])
{
    if (c->grad_accum < 1 || c->grad_accum > MAX_GRAD_ACCUM)
        return ed_errf(err, ED_EINVAL, "grad_accum: %d, expected 1 to %d", c->grad_accum, MAX_GRAD_ACCUM);
    if (c->max_steps < 1)
        return ed_errf(err, ED_EINVAL, "max_steps: %d, expected 1 or more", c->max_steps);
    if (!(c->budget_s > 0) || !isfinite(c->budget_s))
        return ed_errf(err, ED_EINVAL, "budget_s: %g, expected more than 0", c->budget_s);
    if (c->eval_every < 1)
        return ed_errf(err, ED_EINVAL, "eval_every: %d, expected 1 or more", c->eval_every);
    if (c->patience < 0)
        return ed_errf(err, ED_EINVAL, "patience: %d, expected 0 or more", c->patience);
    if (c->ckpt_every_steps < 0)
        return ed_errf(err, ED_EINVAL, "ckpt_every_steps: %d, expected 0 or more", c->ckpt_every_steps);
    if (!(c->ckpt_every_s >= 0) || !isfinite(c->ckpt_every_s))
        return ed_errf(err, ED_EINVAL, "ckpt_every_s: %g, expected 0 or more", c->ckpt_every_s);
    return 0;
}

const char *ed_run_end_name(ed_run_end_t end)
{
    switch (end) {
    case ED_RUN_MAX_STEPS: return "max_steps";
    case ED_RUN_BUDGET: return "budget";
    case ED_RUN_EARLY_STOP: return "early_stop";
    case ED_RUN_STOPPED: return "stopped";
    }
    return "unknown";
}

void ed_run_result_free(ed_run_result_t *r)
{
    if (!r)
        return;
    ed_lora_free(r->best);
    free(r->history);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ pieces -- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* splitmix64: small, seedable with any value, its whole state one word. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define FNV_OFFSET 0xcbf29ce484222325ull
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Floats of a pair's halves (token_embd's a is a table of n_vocab rows). */
static size_t pair_a_floats(const ed_lora_t *l, int i)
{
    const ed_lora_pair_t *p = &l->pairs[i];
    bool embd = i == l->n_layer * ED_LORA_PER_LAYER;
    return (size_t)p->rank * (size_t)(embd ? p->n_out : p->n_in);
}
static size_t pair_b_floats(const ed_lora_t *l, int i)
{
    const ed_lora_pair_t *p = &l->pairs[i];
    bool embd = i == l->n_layer * ED_LORA_PER_LAYER;
    return (size_t)p->rank * (size_t)(embd ? p->n_in : p->n_out);
}
static int n_pair_slots(const ed_lora_t *l)
{
    return l->n_layer * ED_LORA_PER_LAYER + 2;
}
static size_t lora_floats(const ed_lora_t *l)
{
    size_t n = 0;
    for (int i = 0; i < n_pair_slots(l); i++)
        n += pair_a_floats(l, i) + pair_b_floats(l, i);
    return n;
}

/* A deep copy of an adapter (pairs, halves, the training summary). */
static ed_lora_t *lora_copy(const ed_lora_t *from)
{
    ed_lora_t *l = malloc(sizeof *l);
    if (!l)
        return NULL;
    *l = *from;
    l->training = NULL;
    l->pairs = calloc((size_t)n_pair_slots(from), sizeof *l->pairs);
    if (!l->pairs) {
        free(l);
        return NULL;
    }
    bool ok = !from->training || (l->training = strdup(from->training)) != NULL;
    for (int i = 0; ok && i < n_pair_slots(from); i++) {
        const ed_lora_pair_t *p = &from->pairs[i];
        if (p->rank == 0)
            continue;
        size_t na = pair_a_floats(from, i), nb = pair_b_floats(from, i);
        ed_lora_pair_t *q = &l->pairs[i];
        *q = *p;
        q->a = malloc(na * sizeof(float));
        q->b = malloc(nb * sizeof(float));
        ok = q->a && q->b;
        if (ok) {
            memcpy(q->a, p->a, na * sizeof(float));
            memcpy(q->b, p->b, nb * sizeof(float));
        }
    }
    if (!ok) {
        ed_lora_free(l);
        return NULL;
    }
    return l;
}

/* Copies the weights of `from` into `to` (the same shapes) or out of / into
 * a flat array (pair order, a then b). */
static void lora_assign(ed_lora_t *to, const ed_lora_t *from)
{
    for (int i = 0; i < n_pair_slots(to); i++) {
        if (to->pairs[i].rank == 0)
            continue;
        memcpy(to->pairs[i].a, from->pairs[i].a, pair_a_floats(to, i) * sizeof(float));
        memcpy(to->pairs[i].b, from->pairs[i].b, pair_b_floats(to, i) * sizeof(float));
    }
}
static void lora_flatten(const ed_lora_t *l, float *out)
{
    for (int i = 0; i < n_pair_slots(l); i++) {
        if (l->pairs[i].rank == 0)
            continue;
        size_t na = pair_a_floats(l, i), nb = pair_b_floats(l, i);
        memcpy(out, l->pairs[i].a, na * sizeof(float));
        memcpy(out + na, l->pairs[i].b, nb * sizeof(float));
        out += na + nb;
    }
}
static void lora_unflatten(ed_lora_t *l, const float *in)
{
    for (int i = 0; i < n_pair_slots(l); i++) {
        if (l->pairs[i].rank == 0)
            continue;
        size_t na = pair_a_floats(l, i), nb = pair_b_floats(l, i);
        memcpy(l->pairs[i].a, in, na * sizeof(float));
        memcpy(l->pairs[i].b, in + na, nb * sizeof(float));
        in += na + nb;
    }
}

/* What a checkpoint must match to be resumed: the run settings that shape
 * the trajectory (not max_steps, budget_s nor the checkpoint intervals,
 * which a resumed run may change), the adapter's layout (ranks, shapes,
 * alpha, the base fingerprint) and the optimizer state's size. The trainer's
 * learning-rate settings are not visible through trainer.h and so are not
 * covered: the caller passes the same ones again on resume. */
static uint64_t config_hash(const ed_trainer_t *t, const ed_run_config_t *c)
{
    uint64_t h = FNV_OFFSET;
    int32_t ints[3] = {c->grad_accum, c->eval_every, c->patience};
    h = fnv(h, ints, sizeof ints);
    h = fnv(h, &c->seed, sizeof c->seed);
    const ed_lora_t *l = ed_trainer_adapter(t);
    h = fnv(h, l->fingerprint, strnlen(l->fingerprint, sizeof l->fingerprint));
    h = fnv(h, &l->has_alpha, sizeof l->has_alpha);
    h = fnv(h, &l->alpha, sizeof l->alpha);
    int32_t n_layer = l->n_layer;
    h = fnv(h, &n_layer, sizeof n_layer);
    for (int i = 0; i < n_pair_slots(l); i++) {
        int32_t shape[3] = {l->pairs[i].rank, l->pairs[i].n_in, l->pairs[i].n_out};
        h = fnv(h, shape, sizeof shape);
    }
    uint64_t n_params = ed_trainer_n_params(t);
    return fnv(h, &n_params, sizeof n_params);
}

static uint64_t windows_hash(uint64_t h, const ed_window_t *w, int n)
{
    int32_t count = n;
    h = fnv(h, &count, sizeof count);
    for (int i = 0; i < n; i++) {
        int32_t len = w[i].n;
        h = fnv(h, &len, sizeof len);
        h = fnv(h, w[i].tokens, (size_t)w[i].n * sizeof(int32_t));
        h = fnv(h, w[i].targets, (size_t)w[i].n * sizeof(int32_t));
        int32_t n_seg = w[i].segment_len ? w[i].n_segments : 1; /* the packing too */
        h = fnv(h, &n_seg, sizeof n_seg);
        for (int g = 0; w[i].segment_len && g < n_seg; g++) {
            int32_t sl = w[i].segment_len[g];
            h = fnv(h, &sl, sizeof sl);
        }
    }
    return h;
}

static uint64_t data_hash(const ed_dataset_t *d)
{
    return windows_hash(windows_hash(FNV_OFFSET, d->train, d->n_train), d->heldout, d->n_heldout);
}

/* ------------------------------------------------------------- checkpoints -- */

/* The format, host byte order (the magic reads wrong on another one):
 *   magic "EDCKPT\0\0", u32 version, u32 0
 *   u64 config hash, u64 data hash
 *   i64 steps, i64 tokens, f64 elapsed_s, f64 elapsed_s at the last checkpoint
 *   u64 rng state, u32 n_order, u32 cursor, i32 order[n_order]
 *   u32 eval pending (the last step's evaluation was stopped by the gate)
 *   i64 best_step, f64 best loss, u32 evaluations without improvement, u32 0
 *   u64 n_params, f32 params[n_params], m[n_params], v[n_params]
 *   u64 n_best, f32 best[n_best] (the best adapter's pairs, a then b; 0: none)
 *   u32 n_history, u32 0, points of 5 x 8 bytes (step, tokens, elapsed, train, held-out)
 *   u64 FNV-1a 64 of everything before it */
static const char MAGIC[8] = {'E', 'D', 'C', 'K', 'P', 'T', 0, 0};
#define CKPT_VERSION 2u /* 2: packed windows (segments in the data hash, cursor over packed windows) */
#define POINT_BYTES 40

typedef struct {
    uint64_t config_hash, data_hash;
    int64_t steps, tokens;
    double elapsed_s, ckpt_elapsed_s;
    uint64_t rng;
    uint32_t n_order, cursor;
    const uint8_t *order; /* (n_order) i32, unaligned */
    uint32_t eval_pending;
    int64_t best_step;
    double best_loss;
    uint32_t bad_evals;
    uint64_t n_params;
    const uint8_t *params, *m, *v; /* (n_params) f32 each */
    uint64_t n_best;
    const uint8_t *best;           /* (n_best) f32 */
    uint32_t n_history;
    const uint8_t *history;        /* (n_history) points */
} ckpt_view_t;

typedef struct {
    const uint8_t *p;
    size_t left;
    bool bad;
} reader_t;

static const uint8_t *take(reader_t *r, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}
static uint64_t take_u64(reader_t *r)
{
    uint64_t v = 0;
    const uint8_t *p = take(r, 8);
    if (p)
        memcpy(&v, p, 8);
    return v;
}
static uint32_t take_u32(reader_t *r)
{
    uint32_t v = 0;
    const uint8_t *p = take(r, 4);
    if (p)
        memcpy(&v, p, 4);
    return v;
}
static int64_t take_i64(reader_t *r)
{
    uint64_t v = take_u64(r);
    int64_t s;
    memcpy(&s, &v, 8);
    return s;
}
static double take_f64(reader_t *r)
{
    uint64_t v = take_u64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}
/* n items of `size` bytes, refused when they cannot fit what is left. */
static const uint8_t *take_array(reader_t *r, uint64_t n, size_t size)
{
    if (r->bad || n > r->left / size) {
        r->bad = true;
        return NULL;
    }
    return take(r, (size_t)n * size);
}

static int parse(const void *data, size_t len, ckpt_view_t *v, char err[ED_ERR_LEN])
{
    memset(v, 0, sizeof *v);
    if (!data || len < sizeof MAGIC + 8 + 8 || memcmp(data, MAGIC, sizeof MAGIC) != 0)
        return ed_errf(err, ED_EINVAL, "checkpoint: not an edged training checkpoint");
    uint64_t sum;
    memcpy(&sum, (const uint8_t *)data + len - 8, 8);
#ifndef ED_FUZZING /* the fuzzer cannot forge a checksum: let it reach the lengths behind it */
    if (fnv(FNV_OFFSET, data, len - 8) != sum)
        return ed_errf(err, ED_EINVAL, "checkpoint: checksum mismatch (the file is damaged)");
#endif
    reader_t r = {(const uint8_t *)data + sizeof MAGIC, len - sizeof MAGIC - 8, false};
    uint32_t version = take_u32(&r);
    take_u32(&r);
    if (version != CKPT_VERSION)
        return ed_errf(err, ED_EINVAL,
                       "checkpoint: version %u, expected %u (written by an older edged before packed windows; "
                       "start the run again without it)", version, CKPT_VERSION);
    v->config_hash = take_u64(&r);
    v->data_hash = take_u64(&r);
    v->steps = take_i64(&r);
    v->tokens = take_i64(&r);
    v->elapsed_s = take_f64(&r);
    v->ckpt_elapsed_s = take_f64(&r);
    v->rng = take_u64(&r);
    v->n_order = take_u32(&r);
    v->cursor = take_u32(&r);
    v->order = take_array(&r, v->n_order, 4);
    v->eval_pending = take_u32(&r);
    v->best_step = take_i64(&r);
    v->best_loss = take_f64(&r);
    v->bad_evals = take_u32(&r);
    take_u32(&r);
    v->n_params = take_u64(&r);
    v->params = take_array(&r, v->n_params, 4);
    v->m = take_array(&r, v->n_params, 4);
    v->v = take_array(&r, v->n_params, 4);
    v->n_best = take_u64(&r);
    v->best = take_array(&r, v->n_best, 4);
    v->n_history = take_u32(&r);
    take_u32(&r);
    v->history = take_array(&r, v->n_history, POINT_BYTES);
    if (r.bad)
        return ed_errf(err, ED_EINVAL, "checkpoint: truncated (a length runs past the end)");
    if (r.left != 0)
        return ed_errf(err, ED_EINVAL, "checkpoint: %zu bytes past the end of its data", r.left);
    if (v->steps < 0 || v->tokens < 0 || !(v->elapsed_s >= 0) || !(v->ckpt_elapsed_s >= 0) ||
        v->cursor > v->n_order || v->eval_pending > 1 || v->best_step < 0 || v->best_step > v->steps ||
        v->n_history > (uint64_t)v->steps || v->n_history > INT32_MAX)
        return ed_errf(err, ED_EINVAL, "checkpoint: inconsistent counters (steps %lld, history %u)",
                       (long long)v->steps, v->n_history);
    for (uint32_t i = 0; i < v->n_order; i++) {
        int32_t o;
        memcpy(&o, v->order + 4 * (size_t)i, 4);
        if (o < 0 || (uint32_t)o >= v->n_order)
            return ed_errf(err, ED_EINVAL, "checkpoint: window order[%u] = %d out of range", i, o);
    }
    return 0;
}

int ed_run_checkpoint_info(const void *data, size_t len, ed_run_checkpoint_info_t *info, char err[ED_ERR_LEN])
{
    ckpt_view_t v;
    memset(info, 0, sizeof *info);
    int rc = parse(data, len, &v, err);
    if (rc != 0)
        return rc;
    *info = (ed_run_checkpoint_info_t){.steps = v.steps, .tokens = v.tokens, .elapsed_s = v.elapsed_s,
                                       .n_history = (int)v.n_history, .best_step = v.best_step,
                                       .best_heldout_loss = v.best_loss};
    return 0;
}

/* ------------------------------------------------------------------ the run -- */

typedef struct {
    ed_trainer_t *trainer;
    const ed_dataset_t *data;
    const ed_run_config_t *config;
    const ed_run_hooks_t *hooks;
    uint64_t config_hash, data_hash;

    /* the data cursor: a permutation of the train windows, drawn anew from
     * the generator whenever it is used up */
    uint64_t rng;
    int32_t *order; /* (n_train) */
    uint32_t cursor;

    int64_t tokens;
    double elapsed_s;      /* training time so far (excluding pauses in the gate) */
    double ckpt_elapsed_s; /* elapsed_s at the last checkpoint */
    double gate_s;         /* time spent inside the gate since the counter was last read */
    bool eval_pending;     /* the last step's evaluation is still to be done */

    int64_t best_step;
    double best_loss;
    int bad_evals;
    ed_lora_t *best;       /* the adapter at best_step; NULL until an evaluation */

    ed_run_point_t *history;
    int n_history, cap_history;

    size_t n_params;
    float *scratch;        /* (3 * n_params) for exports */
} run_t;

/* The gate as the run installs it: times the caller's gate, so a pause is
 * taken out of the training time. */
static int timed_gate(void *arg)
{
    run_t *run = arg;
    if (!run->hooks || !run->hooks->gate)
        return 0;
    double t0 = now_s();
    int rc = run->hooks->gate(run->hooks->gate_arg);
    run->gate_s += now_s() - t0;
    return rc;
}

/* Training time of work that started at t0: wall time less the gate's. */
static double work_since(run_t *run, double t0)
{
    double d = now_s() - t0 - run->gate_s;
    run->gate_s = 0;
    return d > 0 ? d : 0;
}

static void shuffle(run_t *run)
{
    int n = run->data->n_train;
    for (int i = 0; i < n; i++)
        run->order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next(&run->rng) % (uint64_t)(i + 1));
        int32_t t = run->order[i];
        run->order[i] = run->order[j];
        run->order[j] = t;
    }
    run->cursor = 0;
}

static int history_push(run_t *run, const ed_run_point_t *p, char err[ED_ERR_LEN])
{
    if (run->n_history == run->cap_history) {
        int cap = run->cap_history ? 2 * run->cap_history : 64;
        ed_run_point_t *h = realloc(run->history, (size_t)cap * sizeof *h);
        if (!h)
            return ed_errf(err, ED_ENOMEM, "out of memory for the loss history");
        run->history = h;
        run->cap_history = cap;
    }
    run->history[run->n_history++] = *p;
    return 0;
}

static void put(uint8_t **p, const void *v, size_t n)
{
    memcpy(*p, v, n);
    *p += n;
}
static void put_u32(uint8_t **p, uint32_t v) { put(p, &v, 4); }
static void put_u64(uint8_t **p, uint64_t v) { put(p, &v, 8); }
static void put_i64(uint8_t **p, int64_t v) { put(p, &v, 8); }
static void put_f64(uint8_t **p, double v) { put(p, &v, 8); }

/* Serialises the run's state at its last completed step and hands it to the hook. */
static int checkpoint(run_t *run, char err[ED_ERR_LEN])
{
    run->ckpt_elapsed_s = run->elapsed_s;
    if (!run->hooks || !run->hooks->checkpoint)
        return 0;
    size_t n_best = run->best ? lora_floats(run->best) : 0;
    size_t n_order = (size_t)run->data->n_train;
    size_t len = sizeof MAGIC + 8 + 16 + 32 + 16 + 4 * n_order + 4 + 24 + 8 + 12 * run->n_params + 8 + 4 * n_best +
                 8 + (size_t)run->n_history * POINT_BYTES + 8;
    uint8_t *buf = malloc(len);
    if (!buf)
        return ed_errf(err, ED_ENOMEM, "out of memory for a checkpoint of %zu bytes", len);
    uint8_t *p = buf;
    put(&p, MAGIC, sizeof MAGIC);
    put_u32(&p, CKPT_VERSION);
    put_u32(&p, 0);
    put_u64(&p, run->config_hash);
    put_u64(&p, run->data_hash);
    put_i64(&p, ed_trainer_steps(run->trainer));
    put_i64(&p, run->tokens);
    put_f64(&p, run->elapsed_s);
    put_f64(&p, run->ckpt_elapsed_s);
    put_u64(&p, run->rng);
    put_u32(&p, (uint32_t)n_order);
    put_u32(&p, run->cursor);
    put(&p, run->order, 4 * n_order);
    put_u32(&p, run->eval_pending);
    put_i64(&p, run->best_step);
    put_f64(&p, run->best_loss);
    put_u32(&p, (uint32_t)run->bad_evals);
    put_u32(&p, 0);
    put_u64(&p, run->n_params);
    float *params = run->scratch, *m = params + run->n_params, *v = m + run->n_params;
    ed_trainer_state_export(run->trainer, params, m, v);
    put(&p, params, 4 * run->n_params);
    put(&p, m, 4 * run->n_params);
    put(&p, v, 4 * run->n_params);
    put_u64(&p, n_best);
    if (n_best) {
        lora_flatten(run->best, (float *)(void *)p); /* memcpy'd per pair: no alignment needed */
        p += 4 * n_best;
    }
    put_u32(&p, (uint32_t)run->n_history);
    put_u32(&p, 0);
    for (int i = 0; i < run->n_history; i++) {
        const ed_run_point_t *h = &run->history[i];
        put_i64(&p, h->step);
        put_i64(&p, h->tokens);
        put_f64(&p, h->elapsed_s);
        put_f64(&p, h->train_loss);
        put_f64(&p, h->heldout_loss);
    }
    put_u64(&p, fnv(FNV_OFFSET, buf, (size_t)(p - buf)));
    char why[ED_ERR_LEN] = "";
    int rc = run->hooks->checkpoint(buf, len, run->hooks->arg, why);
    free(buf);
    if (rc != 0)
        return ed_errf(err, rc, "checkpoint: %s", why[0] ? why : ed_strerror(rc));
    return 0;
}

static int restore(run_t *run, const void *data, size_t len, char err[ED_ERR_LEN])
{
    ckpt_view_t v;
    int rc = parse(data, len, &v, err);
    if (rc != 0)
        return rc;
    if (v.config_hash != run->config_hash)
        return ed_errf(err, ED_EINVAL, "checkpoint: made with other settings (seed, grad_accum, eval_every, "
                                       "patience, rank, targets or alpha differ)");
    if (v.data_hash != run->data_hash || v.n_order != (uint32_t)run->data->n_train)
        return ed_errf(err, ED_EINVAL, "checkpoint: made from other training data (its windows differ)");
    if (v.n_params != run->n_params)
        return ed_errf(err, ED_EINVAL, "checkpoint: %llu parameters, the trainer has %zu",
                       (unsigned long long)v.n_params, run->n_params);
    const ed_lora_t *adapter = ed_trainer_adapter(run->trainer);
    if (v.n_best != 0 && v.n_best != lora_floats(adapter))
        return ed_errf(err, ED_EINVAL, "checkpoint: its best adapter has %llu floats, expected %zu",
                       (unsigned long long)v.n_best, lora_floats(adapter));
    float *params = run->scratch, *m = params + run->n_params, *vv = m + run->n_params;
    memcpy(params, v.params, 4 * run->n_params);
    memcpy(m, v.m, 4 * run->n_params);
    memcpy(vv, v.v, 4 * run->n_params);
    if (v.n_best) {
        if (!(run->best = lora_copy(adapter)))
            return ed_errf(err, ED_ENOMEM, "out of memory for the best adapter");
        lora_unflatten(run->best, (const float *)(const void *)v.best);
    }
    for (uint32_t i = 0; i < v.n_history; i++) {
        reader_t r = {v.history + (size_t)i * POINT_BYTES, POINT_BYTES, false};
        ed_run_point_t p = {.step = take_i64(&r), .tokens = take_i64(&r), .elapsed_s = take_f64(&r),
                            .train_loss = take_f64(&r), .heldout_loss = take_f64(&r)};
        if ((rc = history_push(run, &p, err)) != 0)
            return rc;
    }
    memcpy(run->order, v.order, 4 * (size_t)v.n_order);
    run->cursor = v.cursor;
    run->rng = v.rng;
    run->tokens = v.tokens;
    run->elapsed_s = v.elapsed_s;
    run->ckpt_elapsed_s = v.ckpt_elapsed_s;
    run->eval_pending = v.eval_pending != 0;
    run->best_step = v.best_step;
    run->best_loss = v.best_loss;
    run->bad_evals = (int)v.bad_evals;
    ed_trainer_zero_grad(run->trainer);
    ed_trainer_state_import(run->trainer, params, m, vv, v.steps);
    return 0;
}

/* Mean held-out loss per target token over every held-out window. */
static int evaluate(run_t *run, double *loss, char err[ED_ERR_LEN])
{
    double sum = 0;
    int64_t counted = 0;
    for (int i = 0; i < run->data->n_heldout; i++) {
        const ed_window_t *w = &run->data->heldout[i];
        double ls = 0;
        int nc = 0;
        int rc = ed_trainer_loss_packed(run->trainer, w->tokens, w->targets, w->n, w->segment_len,
                                        w->segment_len ? w->n_segments : 0, &ls, &nc, err);
        if (rc != 0)
            return rc;
        sum += ls;
        counted += nc;
    }
    *loss = counted > 0 ? sum / (double)counted : NAN;
    return 0;
}

/* One optimizer step of grad_accum windows. The cursor moves only when the
 * step completes, so a stop leaves it where the last completed step left it. */
static int train_step(run_t *run, double *train_loss, int64_t *tokens, char err[ED_ERR_LEN])
{
    int accum = run->config->grad_accum, n_train = run->data->n_train;
    uint64_t rng = run->rng;
    uint32_t cursor = run->cursor;
    int32_t picks[64];
    int32_t *pick = accum <= 64 ? picks : malloc((size_t)accum * sizeof *pick);
    if (!pick)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    /* the windows of this step, drawing a new order when one is used up;
     * the order array is rewritten in place, so keep its old contents in
     * case the step is stopped */
    int32_t *saved_order = NULL;
    for (int i = 0; i < accum; i++) {
        if (run->cursor == (uint32_t)n_train) {
            if (!saved_order) {
                saved_order = malloc((size_t)n_train * sizeof *saved_order);
                if (!saved_order) {
                    if (pick != picks)
                        free(pick);
                    return ed_errf(err, ED_ENOMEM, "out of memory");
                }
                memcpy(saved_order, run->order, (size_t)n_train * sizeof *saved_order);
            }
            shuffle(run);
        }
        pick[i] = run->order[run->cursor++];
    }
    int64_t n_targets = 0;
    for (int i = 0; i < accum; i++)
        n_targets += run->data->train[pick[i]].n_targets;
    float scale = n_targets > 0 ? 1.0f / (float)n_targets : 0.0f;
    double loss_sum = 0;
    int rc = 0;
    for (int i = 0; i < accum && rc == 0; i++) {
        const ed_window_t *w = &run->data->train[pick[i]];
        double ls = 0;
        int nc = 0;
        rc = ed_trainer_accumulate_packed(run->trainer, w->tokens, w->targets, w->n, w->segment_len,
                                          w->segment_len ? w->n_segments : 0, scale, &ls, &nc, err);
        loss_sum += ls;
    }
    if (rc == 0)
        rc = ed_trainer_step(run->trainer, err);
    if (rc != 0) {
        ed_trainer_zero_grad(run->trainer);
        run->rng = rng;
        run->cursor = cursor;
        if (saved_order)
            memcpy(run->order, saved_order, (size_t)n_train * sizeof *saved_order);
    }
    free(saved_order);
    if (pick != picks)
        free(pick);
    *train_loss = n_targets > 0 ? loss_sum / (double)n_targets : NAN;
    *tokens = n_targets;
    return rc;
}

/* An evaluation after a step: the point gets its held-out loss; the best
 * adapter, the patience counter and *stop follow. */
static int eval_and_track(run_t *run, ed_run_point_t *point, bool *stop, char err[ED_ERR_LEN])
{
    double t0 = now_s();
    double loss = NAN;
    int rc = evaluate(run, &loss, err);
    run->elapsed_s += work_since(run, t0);
    if (rc != 0)
        return rc;
    run->eval_pending = false;
    point->heldout_loss = loss;
    point->elapsed_s = run->elapsed_s;
    const ed_lora_t *adapter = ed_trainer_adapter(run->trainer);
    if (!run->best || loss < run->best_loss) {
        if (!run->best && !(run->best = lora_copy(adapter)))
            return ed_errf(err, ED_ENOMEM, "out of memory for the best adapter");
        lora_assign(run->best, adapter);
        run->best_loss = loss;
        run->best_step = point->step;
        run->bad_evals = 0;
    } else {
        run->bad_evals++;
        if (run->config->patience > 0 && run->bad_evals >= run->config->patience)
            *stop = true;
    }
    return 0;
}

static double eta(const run_t *run, int64_t steps)
{
    if (steps <= 0)
        return NAN;
    double per_step = run->elapsed_s / (double)steps;
    double by_steps = (double)(run->config->max_steps - steps) * per_step;
    double by_budget = run->config->budget_s - run->elapsed_s;
    double e = by_steps < by_budget ? by_steps : by_budget;
    return e > 0 ? e : 0;
}

static void progress(const run_t *run, const ed_run_point_t *p)
{
    if (run->hooks && run->hooks->progress)
        run->hooks->progress(p, eta(run, p->step), run->hooks->arg);
}

static int loop(run_t *run, ed_run_end_t *end, char err[ED_ERR_LEN])
{
    const ed_run_config_t *c = run->config;
    bool have_eval = run->data->n_heldout > 0;
    int rc;
    if (run->eval_pending && run->n_history > 0) {
        bool stop = false;
        ed_run_point_t *last = &run->history[run->n_history - 1];
        if ((rc = eval_and_track(run, last, &stop, err)) == ED_ECANCELED)
            goto stopped;
        if (rc != 0)
            return rc;
        progress(run, last);
        if (stop) {
            *end = ED_RUN_EARLY_STOP;
            return 0;
        }
    }
    for (;;) {
        int64_t steps = ed_trainer_steps(run->trainer);
        if (steps >= c->max_steps) {
            *end = ED_RUN_MAX_STEPS;
            break;
        }
        if (run->elapsed_s >= c->budget_s) {
            *end = ED_RUN_BUDGET;
            break;
        }
        double t0 = now_s(), train_loss = NAN;
        int64_t tokens = 0;
        run->gate_s = 0;
        rc = train_step(run, &train_loss, &tokens, err);
        double spent = work_since(run, t0);
        if (rc == ED_ECANCELED)
            goto stopped;
        if (rc != 0)
            return rc;
        run->elapsed_s += spent;
        run->tokens += tokens;
        steps = ed_trainer_steps(run->trainer);
        ed_run_point_t point = {.step = steps, .tokens = run->tokens, .elapsed_s = run->elapsed_s,
                                .train_loss = train_loss, .heldout_loss = NAN};
        if ((rc = history_push(run, &point, err)) != 0)
            return rc;
        ed_run_point_t *last = &run->history[run->n_history - 1];
        progress(run, last);
        bool stop = false;
        if (have_eval && steps % c->eval_every == 0) {
            run->eval_pending = true;
            if ((rc = eval_and_track(run, last, &stop, err)) == ED_ECANCELED)
                goto stopped;
            if (rc != 0)
                return rc;
            progress(run, last);
        }
        if ((c->ckpt_every_steps > 0 && steps % c->ckpt_every_steps == 0) ||
            (c->ckpt_every_s > 0 && run->elapsed_s - run->ckpt_elapsed_s >= c->ckpt_every_s))
            if ((rc = checkpoint(run, err)) != 0)
                return rc;
        if (stop) {
            *end = ED_RUN_EARLY_STOP;
            return 0;
        }
    }
    /* the end: one more evaluation unless the last step had one */
    if (have_eval && run->n_history > 0 && isnan(run->history[run->n_history - 1].heldout_loss)) {
        bool stop = false;
        ed_run_point_t *last = &run->history[run->n_history - 1];
        run->eval_pending = true;
        if ((rc = eval_and_track(run, last, &stop, err)) == ED_ECANCELED)
            goto stopped;
        if (rc != 0)
            return rc;
        progress(run, last);
    }
    return 0;
stopped:
    *end = ED_RUN_STOPPED;
    ed_trainer_zero_grad(run->trainer);
    return checkpoint(run, err);
}

int ed_run_train(ed_trainer_t *trainer, const ed_dataset_t *data, const ed_run_config_t *config,
                 const ed_run_hooks_t *hooks, const void *resume, size_t resume_len, ed_run_result_t *result,
                 char err[ED_ERR_LEN])
{
    memset(result, 0, sizeof *result);
    int rc = ed_run_config_check(config, err);
    if (rc != 0)
        return rc;
    if (data->n_train < 1)
        return ed_errf(err, ED_EINVAL, "dataset: no train windows");
    run_t run = {.trainer = trainer, .data = data, .config = config, .hooks = hooks, .rng = config->seed,
                 .best_loss = NAN, .n_params = ed_trainer_n_params(trainer)};
    run.config_hash = config_hash(trainer, config);
    run.data_hash = data_hash(data);
    run.order = malloc((size_t)data->n_train * sizeof *run.order);
    run.scratch = malloc((3 * run.n_params > 0 ? 3 * run.n_params : 1) * sizeof(float));
    if (!run.order || !run.scratch) {
        rc = ed_errf(err, ED_ENOMEM, "out of memory");
        goto done;
    }
    if (resume) {
        if ((rc = restore(&run, resume, resume_len, err)) != 0)
            goto done;
    } else {
        shuffle(&run);
    }
    ed_trainer_set_gate(trainer, timed_gate, &run);
    ed_run_end_t end = ED_RUN_MAX_STEPS;
    rc = loop(&run, &end, err);
    ed_trainer_set_gate(trainer, hooks ? hooks->gate : NULL, hooks ? hooks->gate_arg : NULL);
    if (rc != 0)
        goto done;
    if (!run.best && !(run.best = lora_copy(ed_trainer_adapter(trainer)))) {
        rc = ed_errf(err, ED_ENOMEM, "out of memory for the adapter");
        goto done;
    }
    *result = (ed_run_result_t){.end = end, .steps = ed_trainer_steps(trainer), .best_step = run.best_step,
                                .best_heldout_loss = run.best_loss, .best = run.best, .history = run.history,
                                .n_history = run.n_history};
    run.best = NULL;
    run.history = NULL;
done:
    ed_lora_free(run.best);
    free(run.history);
    free(run.order);
    free(run.scratch);
    return rc;
}
