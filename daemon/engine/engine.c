/* engine.c - the inference thread: loads the model, then loops: admit queued
 * jobs into free slots (the slot whose cached tokens share the longest prefix
 * with the prompt), build one pass from every runnable slot (one decode token
 * each, then prompt chunks in the room left), run it, sample, and hand text
 * back to the loop thread through each job's outbox and one uv_async_t.
 * The mutex guards the queue, the outboxes and the job flags; the model, the
 * slots and the forward pass belong to the engine thread alone. */
#include "engine/engine.h"

#include "core/log.h"
#include "core/metrics.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/forward.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/tokenizer.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PIECE_MAX 256 /* bytes of one token's text, at most */

/* ------------------------------------------------------------ metrics ---- */

/* A latency histogram the engine thread fills and a scrape reads. */
#define HIST_BUCKETS 12
static const double hist_bounds[HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,    2.5,   5,    10,  30};
typedef struct {
    _Atomic uint64_t bucket[HIST_BUCKETS + 1]; /* the last: +Inf */
    _Atomic uint64_t sum_us;
} histogram_t;

static void hist_observe(histogram_t *h, double seconds)
{
    int b = 0;
    while (b < HIST_BUCKETS && seconds > hist_bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

static void hist_render(ed_buf_t *out, const char *name, const char *help, histogram_t *h)
{
    ed_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (int b = 0; b <= HIST_BUCKETS; b++) {
        cumulative += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
        if (b < HIST_BUCKETS)
            ed_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, hist_bounds[b],
                          (unsigned long long)cumulative);
        else
            ed_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    }
    ed_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name,
                  (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6, name,
                  (unsigned long long)cumulative);
}

/* --------------------------------------------------------------- types ---- */

struct ed_job {
    ed_job_kind_t kind;
    int32_t *prompt;
    int n_prompt;
    ed_sampler_params_t sampling;
    ed_logit_bias_t *bias;
    int max_tokens;
    char *stops[ED_ENGINE_MAX_STOPS];
    size_t n_stops;
    ed_job_callbacks_t cb;
    void *user;
    double t_submit; /* ms, monotonic */

    /* guarded by engine->mutex */
    bool cancel, hold;
    struct ed_job *next;  /* queue link */
    bool ready;           /* in engine->ready (has something for the loop thread) */
    struct ed_job *next_ready;
    char *outbox;         /* text not yet given to on_text */
    size_t outbox_len, outbox_cap;
    bool finished;        /* result is final; on_done is due */
    ed_job_result_t result;
    float *embedding;     /* (n_embd) ED_JOB_EMBED */
};

typedef enum { SLOT_FREE = 0, SLOT_PROMPT, SLOT_DECODE } slot_state_t;

typedef struct {
    slot_state_t state;
    ed_job_t *job;
    ed_kvcache_t kv;
    int32_t *cached;   /* (n_ctx) the tokens whose keys and values kv holds, kv.n_used of them */
    int n_evaluated;   /* prompt tokens evaluated so far (cached ones included) */
    int32_t next;      /* SLOT_DECODE: the token to feed */
    ed_sampler_t sampler;
    bool sampler_ready;
    float *logits;     /* (n_vocab) */
    float *hidden;     /* (n_embd) pooled hidden states of an embedding job */
    char *text;        /* generated text not yet sent: held back for stop strings and cut characters */
    size_t text_len, text_cap, checked;
    int n_generated;
    double t_start, t_first, t_last; /* ms */
    ed_forward_seq_t *seq; /* this step's share of the pass, or NULL */
    bool runnable;         /* this step: busy, not held, not cancelled */
} slot_t;

struct ed_engine {
    uv_async_t async;
    pthread_t thread;
    bool thread_started;
    ed_config_t cfg; /* copy taken at start */

    pthread_mutex_t mutex;
    pthread_cond_t cond;
    ed_engine_state_t state;
    char reason[ED_ERR_LEN];
    bool stopping;
    ed_job_t *queue, *queue_tail;
    int n_queued, n_active;
    ed_job_t *ready; /* jobs with outbox text or a result for the loop thread */

    /* engine thread (read-only for others once READY) */
    ed_gguf_t *gguf;
    ed_model_t model;
    bool model_loaded;
    ed_vocab_t *vocab;
    const ed_kernels_t *kernels;
    ed_pool_t *pool;
    ed_forward_t fw;
    slot_t *slots;
    int n_slots;
    ed_forward_seq_t *seqs; /* (n_slots) */
    ed_engine_model_t info;
    char name[128];
    char general_name[128]; /* GGUF general.name; "" when absent */
    char bos_text[64], eos_text[64];

    /* metrics (atomics: the engine thread writes, a scrape reads) */
    _Atomic uint64_t prompt_tokens, cached_tokens, generated_tokens, jobs_done, jobs_cancelled,
        jobs_rejected, steps;
    _Atomic int busy_slots;
    histogram_t ttft, itl, step_time;
};

/* snprintf into an ED_ERR_LEN buffer; truncation is fine for messages. */
__attribute__((format(printf, 3, 4))) static void errf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------- job lifetime ---- */

static void job_free(ed_job_t *job)
{
    if (!job)
        return;
    free(job->prompt);
    free(job->bias);
    for (size_t i = 0; i < job->n_stops; i++)
        free(job->stops[i]);
    free(job->outbox);
    free(job->embedding);
    free(job);
}

/* Puts `job` on the ready list and wakes the loop thread. Mutex held. */
static void mark_ready(ed_engine_t *e, ed_job_t *job)
{
    if (!job->ready) {
        job->ready = true;
        job->next_ready = e->ready;
        e->ready = job;
    }
    uv_async_send(&e->async);
}

/* Appends text to the job's outbox. Mutex held. Returns false when memory
 * ran out (the text is dropped and the job ends in an error). */
static bool outbox_append(ed_job_t *job, const char *text, size_t len)
{
    if (job->outbox_len + len > job->outbox_cap) {
        size_t cap = job->outbox_cap ? job->outbox_cap : 256;
        while (cap < job->outbox_len + len)
            cap *= 2;
        char *grown = realloc(job->outbox, cap);
        if (!grown)
            return false;
        job->outbox = grown;
        job->outbox_cap = cap;
    }
    memcpy(job->outbox + job->outbox_len, text, len);
    job->outbox_len += len;
    return true;
}

/* Valid UTF-8 of text[0, len), invalid bytes as U+FFFD, into out (room for
 * 3 * len bytes). Returns the bytes written. */
static size_t utf8_sanitise(const char *text, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++)
            ok = (s[i + k] & 0xC0) == 0x80;
        if (ok && n == 2)
            ok = c >= 0xC2;
        if (ok && n == 3) {
            unsigned cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
            ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok && n == 4) {
            unsigned cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) |
                          (s[i + 3] & 0x3F);
            ok = cp >= 0x10000 && cp <= 0x10FFFF;
        }
        if (ok) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

/* ----------------------------------------------------------- slot work ---- */

static int slot_text_reserve(slot_t *slot, size_t need)
{
    if (need <= slot->text_cap)
        return 0;
    size_t cap = slot->text_cap ? slot->text_cap : 1024;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(slot->text, cap);
    if (!grown)
        return ED_ENOMEM;
    slot->text = grown;
    slot->text_cap = cap;
    return 0;
}

/* Ends the slot's job with `finish` (and for errors, the message), handing
 * the result to the loop thread and freeing the slot for the next job. */
static void slot_finish(ed_engine_t *e, slot_t *slot, ed_finish_t finish, int code, const char *error)
{
    ed_job_t *job = slot->job;
    double t = now_ms();
    ed_job_result_t *r = &job->result;
    r->finish = finish;
    r->n_generated = slot->n_generated;
    r->prompt_ms = slot->t_first > 0 ? slot->t_first - slot->t_start : t - slot->t_start;
    r->generate_ms = slot->t_first > 0 ? slot->t_last - slot->t_first : 0;
    if (finish == ED_FINISH_ERROR) {
        r->error_code = code;
        errf(r->error, sizeof r->error, "%s", error ? error : "");
    }
    if (finish == ED_FINISH_DONE && job->kind == ED_JOB_EMBED) {
        int n = e->model.n_embd;
        double norm = 0;
        for (int i = 0; i < n; i++)
            norm += (double)slot->hidden[i] * slot->hidden[i];
        float scale = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
        for (int i = 0; i < n; i++)
            job->embedding[i] = slot->hidden[i] * scale;
        r->embedding = job->embedding;
        r->n_embd = n;
    }
    if (slot->sampler_ready)
        ed_sampler_free(&slot->sampler);
    slot->sampler_ready = false;
    if (finish == ED_FINISH_CANCELLED)
        atomic_fetch_add_explicit(&e->jobs_cancelled, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&e->jobs_done, 1, memory_order_relaxed);

    pthread_mutex_lock(&e->mutex);
    job->finished = true;
    e->n_active--;
    mark_ready(e, job);
    pthread_mutex_unlock(&e->mutex);
    slot->job = NULL;
    slot->state = SLOT_FREE;
    slot->seq = NULL;
    atomic_fetch_sub_explicit(&e->busy_slots, 1, memory_order_relaxed);
}

/* Sends the slot's text that can no longer become part of a stop string.
 * With `all`, everything left (the job is ending). */
static void slot_flush(ed_engine_t *e, slot_t *slot, size_t len)
{
    if (len == 0)
        return;
    char clean[3 * 1024];
    pthread_mutex_lock(&e->mutex);
    bool ok = true;
    for (size_t at = 0; at < len && ok;) {
        size_t n = len - at < 1024 ? len - at : 1024;
        /* do not cut a character between the two pieces */
        while (n < len - at && n > 0 && ((unsigned char)slot->text[at + n] & 0xC0) == 0x80)
            n--;
        if (n == 0)
            n = len - at < 1024 ? len - at : 1024;
        size_t m = utf8_sanitise(slot->text + at, n, clean);
        ok = outbox_append(slot->job, clean, m);
        at += n;
    }
    mark_ready(e, slot->job);
    pthread_mutex_unlock(&e->mutex);
    memmove(slot->text, slot->text + len, slot->text_len - len);
    slot->text_len -= len;
    slot->checked = 0;
}

/* Takes a sampled token: ends the job at EOG, a stop string, max_tokens or
 * a full context; else queues it as the slot's next input. */
static void slot_accept(ed_engine_t *e, slot_t *slot, int32_t token)
{
    ed_job_t *job = slot->job;
    double t = now_ms();
    if (slot->n_generated == 0) {
        slot->t_first = t;
        hist_observe(&e->ttft, (t - job->t_submit) / 1e3);
    } else {
        hist_observe(&e->itl, (t - slot->t_last) / 1e3);
    }
    slot->t_last = t;
    slot->n_generated++;
    atomic_fetch_add_explicit(&e->generated_tokens, 1, memory_order_relaxed);
    ed_sampler_accept(&slot->sampler, token);

    if (ed_vocab_is_eog(e->vocab, token)) {
        slot_flush(e, slot, slot->text_len);
        slot_finish(e, slot, ED_FINISH_STOP, 0, NULL);
        return;
    }
    size_t n = 0;
    if (slot_text_reserve(slot, slot->text_len + PIECE_MAX) != 0) {
        slot_finish(e, slot, ED_FINISH_ERROR, ED_ENOMEM, "out of memory for generated text");
        return;
    }
    if (ed_tokenizer_piece(e->vocab, token, false, slot->text + slot->text_len, PIECE_MAX, &n) != 0)
        n = 0; /* a token longer than PIECE_MAX bytes: nothing a vocabulary holds in practice */
    slot->text_len += n;
    ed_stop_match_t m = ed_sampler_find_stop((const char *const *)job->stops, job->n_stops, slot->text,
                                             slot->text_len, slot->checked);
    if (m.matched) {
        slot_flush(e, slot, m.match_at);
        slot_finish(e, slot, ED_FINISH_STOP, 0, NULL);
        return;
    }
    slot_flush(e, slot, m.safe_len);
    slot->checked = slot->text_len;
    if (slot->n_generated >= job->max_tokens || slot->kv.n_used >= slot->kv.n_ctx) {
        slot_flush(e, slot, slot->text_len);
        slot_finish(e, slot, ED_FINISH_LENGTH, 0, NULL);
        return;
    }
    slot->next = token;
    slot->state = SLOT_DECODE;
}

/* Tokens `slot` shares with the start of `prompt` (its KV cache holds them). */
static int common_prefix(const slot_t *slot, const int32_t *prompt, int n)
{
    int i = 0;
    while (i < slot->kv.n_used && i < n && slot->cached[i] == prompt[i])
        i++;
    return i;
}

/* Gives the first queued job a free slot, if any. Mutex held. */
static bool admit_one(ed_engine_t *e, char err[ED_ERR_LEN])
{
    ed_job_t *job = e->queue;
    if (!job)
        return false;
    int best = -1, best_common = -1;
    for (int s = 0; s < e->n_slots; s++) {
        if (e->slots[s].state != SLOT_FREE)
            continue;
        int c = job->kind == ED_JOB_EMBED ? 0 : common_prefix(&e->slots[s], job->prompt, job->n_prompt);
        if (c > best_common) {
            best = s;
            best_common = c;
        }
    }
    if (best < 0)
        return false;
    e->queue = job->next;
    if (!e->queue)
        e->queue_tail = NULL;
    e->n_queued--;

    slot_t *slot = &e->slots[best];
    int keep = best_common;
    if (keep >= job->n_prompt)
        keep = job->n_prompt - 1; /* the last prompt token is evaluated again for its logits */
    ed_kvcache_truncate(&slot->kv, keep);
    slot->job = job;
    slot->state = SLOT_PROMPT;
    slot->n_evaluated = keep;
    slot->n_generated = 0;
    slot->text_len = slot->checked = 0;
    slot->t_start = now_ms();
    slot->t_first = slot->t_last = 0;
    job->result.n_prompt = job->n_prompt;
    job->result.n_cached = keep;
    job->result.queue_ms = slot->t_start - job->t_submit;
    atomic_fetch_add_explicit(&e->busy_slots, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->cached_tokens, (uint64_t)keep, memory_order_relaxed);
    if (job->kind == ED_JOB_EMBED)
        memset(slot->hidden, 0, (size_t)e->model.n_embd * sizeof(float));
    else {
        job->sampling.bias = job->bias;
        if (ed_sampler_init(&slot->sampler, e->model.n_vocab, &job->sampling, err) != 0) {
            pthread_mutex_unlock(&e->mutex);
            slot_finish(e, slot, ED_FINISH_ERROR, ED_EINVAL, err);
            pthread_mutex_lock(&e->mutex);
            return true;
        }
        slot->sampler_ready = true;
        /* the penalties look at the prompt too, as llama.cpp's do */
        for (int i = 0; i < job->n_prompt; i++)
            ed_sampler_accept(&slot->sampler, job->prompt[i]);
    }
    return true;
}

/* One pass over every runnable slot. Returns false when nothing could run. */
static bool step(ed_engine_t *e)
{
    int n_seqs = 0, budget = e->fw.n_batch;
    char err[ED_ERR_LEN];

    /* cancelled or held jobs first; the flags are read under the mutex */
    pthread_mutex_lock(&e->mutex);
    for (int s = 0; s < e->n_slots; s++) {
        slot_t *slot = &e->slots[s];
        slot->runnable = slot->state != SLOT_FREE && !slot->job->hold;
        if (slot->state != SLOT_FREE && slot->job->cancel) {
            pthread_mutex_unlock(&e->mutex);
            slot_finish(e, slot, ED_FINISH_CANCELLED, 0, NULL);
            pthread_mutex_lock(&e->mutex);
            slot->runnable = false;
        }
    }
    pthread_mutex_unlock(&e->mutex);

    /* decode tokens first: they keep streams moving; prompts fill the rest */
    for (int s = 0; s < e->n_slots; s++) {
        slot_t *slot = &e->slots[s];
        slot->seq = NULL;
        if (!slot->runnable || slot->state != SLOT_DECODE || budget < 1)
            continue;
        slot->cached[slot->kv.n_used] = slot->next;
        e->seqs[n_seqs] = (ed_forward_seq_t){
            .kv = &slot->kv, .tokens = &slot->cached[slot->kv.n_used], .n_tokens = 1, .logits = slot->logits};
        slot->seq = &e->seqs[n_seqs++];
        budget--;
    }
    for (int s = 0; s < e->n_slots; s++) {
        slot_t *slot = &e->slots[s];
        if (!slot->runnable || slot->state != SLOT_PROMPT || budget < 1)
            continue;
        ed_job_t *job = slot->job;
        int n = job->n_prompt - slot->n_evaluated;
        if (n > budget)
            n = budget;
        memcpy(&slot->cached[slot->kv.n_used], job->prompt + slot->n_evaluated, (size_t)n * sizeof(int32_t));
        bool last = slot->n_evaluated + n == job->n_prompt;
        e->seqs[n_seqs] = (ed_forward_seq_t){
            .kv = &slot->kv,
            .tokens = &slot->cached[slot->kv.n_used],
            .n_tokens = n,
            .logits = last && job->kind == ED_JOB_GENERATE ? slot->logits : NULL,
            .hidden_sum = job->kind == ED_JOB_EMBED ? slot->hidden : NULL,
        };
        slot->seq = &e->seqs[n_seqs++];
        budget -= n;
    }
    if (n_seqs == 0)
        return false;

    double t0 = now_ms();
    int rc = ed_forward_eval_seqs(&e->fw, e->seqs, n_seqs, err);
    hist_observe(&e->step_time, (now_ms() - t0) / 1e3);
    atomic_fetch_add_explicit(&e->steps, 1, memory_order_relaxed);
    for (int s = 0; s < e->n_slots; s++) {
        slot_t *slot = &e->slots[s];
        ed_forward_seq_t *seq = slot->seq;
        if (!seq)
            continue;
        slot->seq = NULL;
        if (rc != 0) {
            slot_finish(e, slot, ED_FINISH_ERROR, rc, err);
            continue;
        }
        if (slot->state == SLOT_DECODE) {
            slot_accept(e, slot, ed_sampler_sample(&slot->sampler, slot->logits));
            continue;
        }
        ed_job_t *job = slot->job;
        slot->n_evaluated += seq->n_tokens;
        atomic_fetch_add_explicit(&e->prompt_tokens, (uint64_t)seq->n_tokens, memory_order_relaxed);
        if (slot->n_evaluated < job->n_prompt)
            continue;
        if (job->kind == ED_JOB_EMBED) {
            slot->t_first = slot->t_last = now_ms();
            slot_finish(e, slot, ED_FINISH_DONE, 0, NULL);
        } else {
            slot_accept(e, slot, ed_sampler_sample(&slot->sampler, slot->logits));
        }
    }
    return true;
}

/* Ends queued jobs that were cancelled. Mutex held. */
static void reap_queue(ed_engine_t *e)
{
    ed_job_t **link = &e->queue, *prev = NULL;
    while (*link) {
        ed_job_t *job = *link;
        if (!job->cancel) {
            prev = job;
            link = &job->next;
            continue;
        }
        *link = job->next;
        e->n_queued--;
        e->n_active--;
        job->result.finish = ED_FINISH_CANCELLED;
        job->result.n_prompt = job->n_prompt;
        job->finished = true;
        atomic_fetch_add_explicit(&e->jobs_cancelled, 1, memory_order_relaxed);
        mark_ready(e, job);
    }
    e->queue_tail = prev;
}

/* ------------------------------------------------------------- loading ---- */

static void set_state(ed_engine_t *e, ed_engine_state_t state, const char *reason)
{
    pthread_mutex_lock(&e->mutex);
    e->state = state;
    errf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
    pthread_mutex_unlock(&e->mutex);
}

static void token_text(const ed_vocab_t *vocab, int32_t id, char *out, size_t cap)
{
    out[0] = '\0';
    if (id >= 0 && id < vocab->n_tokens && vocab->text[id].len < cap) {
        memcpy(out, vocab->text[id].ptr, vocab->text[id].len);
        out[vocab->text[id].len] = '\0';
    }
}

static int load(ed_engine_t *e, char err[ED_ERR_LEN])
{
    const ed_config_t *cfg = &e->cfg;
    int rc;
    char sub[ED_ERR_LEN];
    if ((rc = ed_gguf_open(&e->gguf, cfg->model.path, sub)) != 0) {
        if (strstr(sub, cfg->model.path))
            errf(err, ED_ERR_LEN, "%s", sub);
        else
            errf(err, ED_ERR_LEN, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    if ((rc = ed_model_load(&e->model, e->gguf, sub)) != 0) {
        errf(err, ED_ERR_LEN, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    e->model_loaded = true;
    if ((rc = ed_vocab_load(&e->vocab, e->gguf, sub)) != 0) {
        errf(err, ED_ERR_LEN, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    e->kernels = ed_kernels_select(getenv("EDGED_KERNELS"));
    if (!e->kernels) {
        errf(err, ED_ERR_LEN, "no kernels for this CPU");
        return ED_EUNSUPPORTED;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cfg->model.threads ? (int)cfg->model.threads : (int)(cpus > 0 ? cpus : 1);
    if (threads > 256)
        threads = 256;
    if ((rc = ed_pool_open(&e->pool, threads, err)) != 0)
        return rc;
    if ((rc = ed_model_repack(&e->model, e->kernels, e->pool, sub)) != 0) {
        errf(err, ED_ERR_LEN, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    int n_ctx = cfg->model.context ? (int)cfg->model.context : e->model.n_ctx_train;
    e->n_slots = (int)cfg->engine.parallel;
    if ((rc = ed_forward_init_multi(&e->fw, &e->model, e->kernels, e->pool, n_ctx, (int)cfg->model.batch,
                                    e->n_slots, sub)) != 0) {
        errf(err, ED_ERR_LEN, "%s: %s", cfg->model.path, sub);
        return rc;
    }
    e->slots = calloc((size_t)e->n_slots, sizeof *e->slots);
    e->seqs = calloc((size_t)e->n_slots, sizeof *e->seqs);
    if (!e->slots || !e->seqs) {
        errf(err, ED_ERR_LEN, "out of memory for %d slots", e->n_slots);
        return ED_ENOMEM;
    }
    for (int s = 0; s < e->n_slots; s++) {
        slot_t *slot = &e->slots[s];
        if ((rc = ed_kvcache_init(&slot->kv, e->model.n_layer, n_ctx, e->model.kv_dim, sub)) != 0) {
            errf(err, ED_ERR_LEN, "KV cache of slot %d (%d tokens): %s", s, n_ctx, sub);
            return rc;
        }
        slot->cached = malloc((size_t)n_ctx * sizeof(int32_t));
        slot->logits = malloc((size_t)e->model.n_vocab * sizeof(float));
        slot->hidden = malloc((size_t)e->model.n_embd * sizeof(float));
        if (!slot->cached || !slot->logits || !slot->hidden) {
            errf(err, ED_ERR_LEN, "out of memory for slot %d", s);
            return ED_ENOMEM;
        }
    }

    /* what the loop thread needs */
    ed_chat_family_t chat = ED_CHAT_CHATML;
    if (cfg->model.chat_template[0]) {
        ed_chat_family_from_name(cfg->model.chat_template, &chat);
    } else {
        ed_str_t tmpl = {0};
        if (ed_gguf_get_str(e->gguf, "tokenizer.chat_template", &tmpl) == 0)
            chat = ed_chat_detect(tmpl.ptr, (size_t)tmpl.len);
    }
    const char *base = strrchr(cfg->model.path, '/');
    base = base ? base + 1 : cfg->model.path;
    errf(e->name, sizeof e->name, "%s", cfg->model.name[0] ? cfg->model.name : base);
    size_t nl = strlen(e->name);
    if (!cfg->model.name[0] && nl > 5 && strcmp(e->name + nl - 5, ".gguf") == 0)
        e->name[nl - 5] = '\0';
    ed_str_t general = {0};
    e->general_name[0] = '\0';
    if (ed_gguf_get_str(e->gguf, "general.name", &general) == 0)
        errf(e->general_name, sizeof e->general_name, "%.*s", (int)general.len, general.ptr);
    token_text(e->vocab, e->vocab->bos, e->bos_text, sizeof e->bos_text);
    token_text(e->vocab, e->vocab->eos, e->eos_text, sizeof e->eos_text);
    struct stat st;
    e->info = (ed_engine_model_t){
        .vocab = e->vocab,
        .name = e->name,
        .general_name = e->general_name,
        .path = cfg->model.path,
        .arch = ed_model_arch_name(e->model.arch),
        .chat = chat,
        .bos_text = e->bos_text,
        .eos_text = e->eos_text,
        .n_ctx = n_ctx,
        .n_embd = e->model.n_embd,
        .n_vocab = e->model.n_vocab,
        .n_slots = e->n_slots,
        .created = stat(cfg->model.path, &st) == 0 ? (int64_t)st.st_mtime : 0,
    };
    ed_log_info("engine: %s ready: %s, %d layers, %d wide, context %d x %d slots, %d threads, %s kernels, "
                "chat format %s",
                e->name, e->info.arch, e->model.n_layer, e->model.n_embd, n_ctx, e->n_slots, threads,
                e->kernels->name, ed_chat_family_name(chat));
    return 0;
}

static void unload(ed_engine_t *e)
{
    if (e->slots) {
        for (int s = 0; s < e->n_slots; s++) {
            slot_t *slot = &e->slots[s];
            if (slot->sampler_ready)
                ed_sampler_free(&slot->sampler);
            ed_kvcache_free(&slot->kv);
            free(slot->cached);
            free(slot->logits);
            free(slot->hidden);
            free(slot->text);
        }
        free(e->slots);
        e->slots = NULL;
    }
    free(e->seqs);
    e->seqs = NULL;
    ed_forward_free(&e->fw);
    ed_pool_close(e->pool);
    e->pool = NULL;
    ed_vocab_free(e->vocab);
    e->vocab = NULL;
    if (e->model_loaded)
        ed_model_free(&e->model);
    e->model_loaded = false;
    ed_gguf_close(e->gguf);
    e->gguf = NULL;
}

/* --------------------------------------------------------------- thread ---- */

static bool any_runnable(const ed_engine_t *e)
{
    for (int s = 0; s < e->n_slots; s++)
        if (e->slots[s].state != SLOT_FREE && (!e->slots[s].job->hold || e->slots[s].job->cancel))
            return true;
    return false;
}

static bool any_free(const ed_engine_t *e)
{
    for (int s = 0; s < e->n_slots; s++)
        if (e->slots[s].state == SLOT_FREE)
            return true;
    return false;
}

static void *engine_main(void *arg)
{
    ed_engine_t *e = arg;
    char err[ED_ERR_LEN] = "";
    char reason[ED_ERR_LEN + 64];
    snprintf(reason, sizeof reason, "loading %s", e->cfg.model.path);
    set_state(e, ED_ENGINE_LOADING, reason);
    double t0 = now_ms();
    int rc = load(e, err);
    if (rc != 0) {
        ed_log_error("engine: the model did not load: %s", err);
        unload(e);
        set_state(e, ED_ENGINE_FAILED, err);
        return NULL;
    }
    ed_log_info("engine: loaded in %.0f ms", now_ms() - t0);
    set_state(e, ED_ENGINE_READY, "");

    pthread_mutex_lock(&e->mutex);
    while (!e->stopping) {
        reap_queue(e);
        while (e->queue && any_free(e))
            admit_one(e, err);
        if (!any_runnable(e)) {
            pthread_cond_wait(&e->cond, &e->mutex);
            continue;
        }
        pthread_mutex_unlock(&e->mutex);
        step(e);
        pthread_mutex_lock(&e->mutex);
    }
    pthread_mutex_unlock(&e->mutex);

    /* stopping: every job in a slot ends as cancelled */
    for (int s = 0; s < e->n_slots; s++)
        if (e->slots[s].state != SLOT_FREE)
            slot_finish(e, &e->slots[s], ED_FINISH_CANCELLED, 0, NULL);
    return NULL;
}

/* ------------------------------------------------------- loop thread ---- */

/* Delivers outbox text and results to the callbacks. */
static void on_async(uv_async_t *handle)
{
    ed_engine_t *e = handle->data;
    pthread_mutex_lock(&e->mutex);
    while (e->ready) {
        ed_job_t *job = e->ready;
        e->ready = job->next_ready;
        job->ready = false;
        char *text = job->outbox;
        size_t len = job->outbox_len;
        bool finished = job->finished;
        job->outbox = NULL;
        job->outbox_len = job->outbox_cap = 0;
        pthread_mutex_unlock(&e->mutex);

        if (len > 0 && job->cb.on_text && job->kind == ED_JOB_GENERATE)
            job->cb.on_text(job, text, len, job->user);
        free(text);
        if (finished) {
            if (job->cb.on_done)
                job->cb.on_done(job, &job->result, job->user);
            job_free(job);
        }
        pthread_mutex_lock(&e->mutex);
    }
    pthread_mutex_unlock(&e->mutex);
}

static void render_metrics(ed_buf_t *out, void *arg)
{
    ed_engine_t *e = arg;
    ed_engine_stats_t st;
    ed_engine_stats(e, &st);
    const char *state_names[] = {"none", "loading", "ready", "failed"};
    ed_buf_printf(out, "# HELP edged_engine_state The model's state (1 for the current one).\n"
                       "# TYPE edged_engine_state gauge\n");
    ed_engine_state_t state = ed_engine_state(e, NULL);
    for (int i = 0; i < 4; i++)
        ed_buf_printf(out, "edged_engine_state{state=\"%s\"} %d\n", state_names[i], (int)state == i);
    struct {
        const char *name, *help;
        _Atomic uint64_t *v;
    } counters[] = {
        {"edged_prompt_tokens_total", "Prompt tokens evaluated.", &e->prompt_tokens},
        {"edged_prompt_tokens_cached_total", "Prompt tokens reused from a slot's KV cache.", &e->cached_tokens},
        {"edged_generated_tokens_total", "Tokens generated.", &e->generated_tokens},
        {"edged_engine_jobs_total", "Jobs the engine finished (not cancelled).", &e->jobs_done},
        {"edged_engine_jobs_cancelled_total", "Jobs cancelled (client gone, shutdown).", &e->jobs_cancelled},
        {"edged_engine_jobs_rejected_total", "Jobs refused because the queue was full.", &e->jobs_rejected},
        {"edged_engine_steps_total", "Forward passes run.", &e->steps},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        ed_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counters[i].name, counters[i].help,
                      counters[i].name, counters[i].name,
                      (unsigned long long)atomic_load_explicit(counters[i].v, memory_order_relaxed));
    ed_buf_printf(out,
                  "# HELP edged_engine_queue_depth Jobs waiting for a slot.\n"
                  "# TYPE edged_engine_queue_depth gauge\nedged_engine_queue_depth %d\n"
                  "# HELP edged_engine_busy_slots Slots running a job.\n"
                  "# TYPE edged_engine_busy_slots gauge\nedged_engine_busy_slots %d\n"
                  "# HELP edged_engine_slots Slots configured.\n"
                  "# TYPE edged_engine_slots gauge\nedged_engine_slots %d\n",
                  st.queued, st.busy_slots, st.n_slots);
    hist_render(out, "edged_time_to_first_token_seconds", "Submit to first generated token.", &e->ttft);
    hist_render(out, "edged_inter_token_latency_seconds", "Time between generated tokens of a stream.", &e->itl);
    hist_render(out, "edged_engine_step_seconds", "Duration of one forward pass over the active slots.",
                &e->step_time);
}

int ed_engine_start(ed_engine_t **out, uv_loop_t *loop, const ed_config_t *cfg, char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_engine_t *e = calloc(1, sizeof *e);
    if (!e) {
        errf(err, ED_ERR_LEN, "out of memory for the engine");
        return ED_ENOMEM;
    }
    e->cfg = *cfg;
    pthread_mutex_init(&e->mutex, NULL);
    pthread_cond_init(&e->cond, NULL);
    uv_async_init(loop, &e->async, on_async);
    e->async.data = e;
    ed_metrics_register(render_metrics, e);
    if (!cfg->model.path[0]) {
        e->state = ED_ENGINE_EMPTY;
        errf(e->reason, sizeof e->reason, "no model is configured: set [model] path");
        *out = e;
        return 0;
    }
    e->state = ED_ENGINE_LOADING;
    errf(e->reason, sizeof e->reason, "loading %s", cfg->model.path);
    int rc = pthread_create(&e->thread, NULL, engine_main, e);
    if (rc != 0) {
        errf(err, ED_ERR_LEN, "cannot start the engine thread: %s", strerror(rc));
        uv_close((uv_handle_t *)&e->async, NULL);
        e->state = ED_ENGINE_FAILED;
        errf(e->reason, sizeof e->reason, "%s", err);
        *out = e;
        return ED_EIO;
    }
    e->thread_started = true;
    *out = e;
    return 0;
}

static void free_after_close(uv_handle_t *handle)
{
    ed_engine_t *e = handle->data;
    pthread_mutex_destroy(&e->mutex);
    pthread_cond_destroy(&e->cond);
    free(e);
}

void ed_engine_stop(ed_engine_t *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mutex);
    e->stopping = true;
    for (ed_job_t *job = e->queue; job; job = job->next)
        job->cancel = true;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mutex);
    if (e->thread_started)
        pthread_join(e->thread, NULL);
    e->thread_started = false;
    pthread_mutex_lock(&e->mutex);
    reap_queue(e);
    pthread_mutex_unlock(&e->mutex);
    on_async(&e->async); /* every on_done runs now */
    ed_metrics_unregister(render_metrics, e);
    unload(e);
    if (!uv_is_closing((uv_handle_t *)&e->async))
        uv_close((uv_handle_t *)&e->async, free_after_close);
    else
        free_after_close((uv_handle_t *)&e->async);
}

ed_engine_state_t ed_engine_state(const ed_engine_t *engine, const char **reason)
{
    ed_engine_t *e = (ed_engine_t *)engine;
    pthread_mutex_lock(&e->mutex);
    ed_engine_state_t state = e->state;
    pthread_mutex_unlock(&e->mutex);
    if (reason)
        *reason = e->reason; /* written only before the state changes to what it says */
    return state;
}

const ed_engine_model_t *ed_engine_model(const ed_engine_t *engine)
{
    return ed_engine_state(engine, NULL) == ED_ENGINE_READY ? &engine->info : NULL;
}

int ed_engine_submit(ed_engine_t *e, const ed_job_params_t *p, const ed_job_callbacks_t *cb, void *user,
                     ed_job_t **out, char err[ED_ERR_LEN])
{
    *out = NULL;
    const char *reason;
    ed_engine_state_t state = ed_engine_state(e, &reason);
    if (state != ED_ENGINE_READY) {
        errf(err, ED_ERR_LEN, "%s", state == ED_ENGINE_LOADING ? reason
                                        : state == ED_ENGINE_EMPTY ? reason
                                                                   : "the model failed to load");
        return ED_EAGAIN;
    }
    if (p->n_prompt < 1 || !p->prompt) {
        errf(err, ED_ERR_LEN, "the prompt is empty");
        return ED_EINVAL;
    }
    if (p->n_prompt >= e->info.n_ctx) {
        errf(err, ED_ERR_LEN, "the prompt has %d tokens; the context holds %d", p->n_prompt, e->info.n_ctx);
        return ED_ERANGE;
    }
    if (p->kind == ED_JOB_GENERATE) {
        if (p->max_tokens < 1) {
            errf(err, ED_ERR_LEN, "max_tokens must be at least 1, got %d", p->max_tokens);
            return ED_EINVAL;
        }
        if (p->n_prompt + p->max_tokens > e->info.n_ctx) {
            errf(err, ED_ERR_LEN, "%d prompt tokens + %d max_tokens exceed the context of %d tokens",
                     p->n_prompt, p->max_tokens, e->info.n_ctx);
            return ED_ERANGE;
        }
        if (p->n_stops > ED_ENGINE_MAX_STOPS) {
            errf(err, ED_ERR_LEN, "%zu stop strings; at most %d", p->n_stops, ED_ENGINE_MAX_STOPS);
            return ED_EINVAL;
        }
        if (p->sampling.n_bias > ED_SAMPLER_MAX_BIAS) {
            errf(err, ED_ERR_LEN, "%zu logit_bias entries; at most %d", p->sampling.n_bias,
                     ED_SAMPLER_MAX_BIAS);
            return ED_EINVAL;
        }
    }
    for (int i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= e->info.n_vocab) {
            errf(err, ED_ERR_LEN, "prompt token %d at index %d is outside the vocabulary of %d",
                     p->prompt[i], i, e->info.n_vocab);
            return ED_EINVAL;
        }

    ed_job_t *job = calloc(1, sizeof *job);
    if (!job)
        goto nomem;
    job->kind = p->kind;
    job->n_prompt = p->n_prompt;
    job->max_tokens = p->max_tokens;
    job->hold = p->held;
    job->sampling = p->sampling;
    job->cb = *cb;
    job->user = user;
    job->prompt = malloc((size_t)p->n_prompt * sizeof(int32_t));
    if (!job->prompt)
        goto nomem;
    memcpy(job->prompt, p->prompt, (size_t)p->n_prompt * sizeof(int32_t));
    if (p->kind == ED_JOB_EMBED && !(job->embedding = malloc((size_t)e->info.n_embd * sizeof(float))))
        goto nomem;
    if (p->kind == ED_JOB_GENERATE) {
        if (p->sampling.n_bias) {
            if (!(job->bias = malloc(p->sampling.n_bias * sizeof *job->bias)))
                goto nomem;
            memcpy(job->bias, p->sampling.bias, p->sampling.n_bias * sizeof *job->bias);
        }
        job->sampling.bias = job->bias;
        for (size_t i = 0; i < p->n_stops; i++) {
            if (!p->stops[i] || !p->stops[i][0])
                continue;
            if (strlen(p->stops[i]) > ED_ENGINE_MAX_STOP_LEN) {
                errf(err, ED_ERR_LEN, "stop string %zu is longer than %d bytes", i, ED_ENGINE_MAX_STOP_LEN);
                job_free(job);
                return ED_EINVAL;
            }
            if (!(job->stops[job->n_stops] = strdup(p->stops[i])))
                goto nomem;
            job->n_stops++;
        }
    }
    job->t_submit = now_ms();

    pthread_mutex_lock(&e->mutex);
    if (e->stopping || e->n_active >= e->n_slots + (int)e->cfg.engine.queue_length) {
        bool stopping = e->stopping;
        pthread_mutex_unlock(&e->mutex);
        atomic_fetch_add_explicit(&e->jobs_rejected, 1, memory_order_relaxed);
        errf(err, ED_ERR_LEN,
                 stopping ? "edged is shutting down"
                          : "every slot is busy and the queue is full (engine.parallel %u, engine.queue_length %u)",
                 e->cfg.engine.parallel, e->cfg.engine.queue_length);
        job_free(job);
        return ED_EBUSY;
    }
    if (e->queue_tail)
        e->queue_tail->next = job;
    else
        e->queue = job;
    e->queue_tail = job;
    e->n_queued++;
    e->n_active++;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mutex);
    *out = job;
    return 0;

nomem:
    job_free(job);
    errf(err, ED_ERR_LEN, "out of memory for a job of %d tokens", p->n_prompt);
    return ED_ENOMEM;
}

void ed_engine_cancel(ed_engine_t *e, ed_job_t *job)
{
    pthread_mutex_lock(&e->mutex);
    job->cancel = true;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mutex);
}

void ed_engine_hold(ed_engine_t *e, ed_job_t *job, bool hold)
{
    pthread_mutex_lock(&e->mutex);
    job->hold = hold;
    if (!hold)
        pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mutex);
}

void ed_engine_stats(const ed_engine_t *engine, ed_engine_stats_t *out)
{
    ed_engine_t *e = (ed_engine_t *)engine;
    pthread_mutex_lock(&e->mutex);
    out->queued = e->n_queued;
    out->n_slots = e->state == ED_ENGINE_READY ? e->n_slots : 0;
    pthread_mutex_unlock(&e->mutex);
    out->busy_slots = atomic_load_explicit(&e->busy_slots, memory_order_relaxed);
}
