/* slots.c - the engine's slots: admission of a queued job into the free slot
 * whose cached tokens share the longest prefix with its prompt, one pass over
 * every runnable slot (one decode token each, then prompt chunks in the room
 * left), sampling, stop strings, and the flush of text that can no longer
 * become part of a stop string into the job's outbox. Engine thread. */
#include "engine/internal.h"

#include "core/utf8.h"
#include "model/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIECE_MAX 256 /* bytes of one token's text, at most */


static int slot_text_reserve(ed__slot_t *slot, size_t need)
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
void ed__slot_finish(ed_engine_t *e, ed__slot_t *slot, ed_finish_t finish, int code, const char *error)
{
    ed_job_t *job = slot->job;
    double t = ed__now_ms();
    ed_job_result_t *r = &job->result;
    r->finish = finish;
    r->n_generated = slot->n_generated;
    r->prompt_ms = slot->t_first > 0 ? slot->t_first - slot->t_start : t - slot->t_start;
    r->generate_ms = slot->t_first > 0 ? slot->t_last - slot->t_first : 0;
    if (finish == ED_FINISH_ERROR) {
        r->error_code = code;
        ed_errf(r->error, 0, "%s", error ? error : "");
    }
    if (finish == ED_FINISH_DONE && job->kind == ED_JOB_EMBED) {
        int n = e->model->n_embd;
        memcpy(job->embedding, slot->hidden, (size_t)n * sizeof(float));
        e->kernels->l2_normalize(job->embedding, n); /* the mean's direction: its 1/n cancels */
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
    e->queue.n_active--;
    ed__job_mark_ready(&e->queue, &e->async, job);
    pthread_mutex_unlock(&e->mutex);
    slot->job = NULL;
    slot->state = ED__SLOT_FREE;
    slot->seq = NULL;
    atomic_fetch_sub_explicit(&e->busy_slots, 1, memory_order_relaxed);
}

/* Sends the slot's text that can no longer become part of a stop string.
 * With `all`, everything left (the job is ending). */
static void slot_flush(ed_engine_t *e, ed__slot_t *slot, size_t len)
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
        size_t m = ed_utf8_sanitise(slot->text + at, n, clean);
        ok = ed__outbox_append(slot->job, clean, m);
        at += n;
    }
    ed__job_mark_ready(&e->queue, &e->async, slot->job);
    pthread_mutex_unlock(&e->mutex);
    memmove(slot->text, slot->text + len, slot->text_len - len);
    slot->text_len -= len;
    slot->checked = 0;
}

/* Takes a sampled token: ends the job at EOG, a stop string, max_tokens or
 * a full context; else queues it as the slot's next input. */
static void slot_accept(ed_engine_t *e, ed__slot_t *slot, int32_t token)
{
    ed_job_t *job = slot->job;
    double t = ed__now_ms();
    if (slot->n_generated == 0) {
        slot->t_first = t;
        ed_histogram_observe(&e->ttft, (t - job->t_submit) / 1e3);
    } else {
        ed_histogram_observe(&e->itl, (t - slot->t_last) / 1e3);
    }
    slot->t_last = t;
    slot->n_generated++;
    atomic_fetch_add_explicit(&e->generated_tokens, 1, memory_order_relaxed);
    ed_sampler_accept(&slot->sampler, token);

    if (ed_vocab_is_eog(e->vocab, token)) {
        slot_flush(e, slot, slot->text_len);
        ed__slot_finish(e, slot, ED_FINISH_STOP, 0, NULL);
        return;
    }
    size_t n = 0;
    if (slot_text_reserve(slot, slot->text_len + PIECE_MAX) != 0) {
        ed__slot_finish(e, slot, ED_FINISH_ERROR, ED_ENOMEM, "out of memory for generated text");
        return;
    }
    if (ed_tokenizer_piece(e->vocab, token, false, slot->text + slot->text_len, PIECE_MAX, &n) != 0)
        n = 0; /* a token longer than PIECE_MAX bytes: nothing a vocabulary holds in practice */
    slot->text_len += n;
    ed_stop_match_t m = ed_sampler_find_stop((const char *const *)job->stops, job->n_stops, slot->text,
                                             slot->text_len, slot->checked);
    if (m.matched) {
        slot_flush(e, slot, m.match_at);
        ed__slot_finish(e, slot, ED_FINISH_STOP, 0, NULL);
        return;
    }
    slot_flush(e, slot, m.safe_len);
    slot->checked = slot->text_len;
    if (slot->n_generated >= job->max_tokens || slot->kv.n_used >= slot->kv.n_ctx) {
        slot_flush(e, slot, slot->text_len);
        ed__slot_finish(e, slot, ED_FINISH_LENGTH, 0, NULL);
        return;
    }
    slot->next = token;
    slot->state = ED__SLOT_DECODE;
}

/* Tokens `slot` shares with the start of `prompt` (its KV cache holds them). */
static int common_prefix(const ed__slot_t *slot, const ed_job_t *job, const int32_t *prompt, int n)
{
    int i = 0;
    /* keys and values computed with another adapter (or scale) are not this job's */
    if (slot->cached_adapter != ed_engine_adapter_serial(job->adapter) ||
        (job->adapter && slot->cached_scale != job->lora.scales[0]))
        return 0;
    while (i < slot->kv.n_used && i < n && slot->cached[i] == prompt[i])
        i++;
    return i;
}

bool ed__slot_admit(ed_engine_t *e, char err[ED_ERR_LEN])
{
    ed_job_t *job = e->queue.head;
    if (!job)
        return false;
    int best = -1, best_common = -1;
    for (int s = 0; s < e->n_slots; s++) {
        if (e->slots[s].state != ED__SLOT_FREE)
            continue;
        int c = job->kind == ED_JOB_EMBED ? 0 : common_prefix(&e->slots[s], job, job->prompt, job->n_prompt);
        if (c > best_common) {
            best = s;
            best_common = c;
        }
    }
    if (best < 0)
        return false;
    ed__queue_pop(&e->queue);

    ed__slot_t *slot = &e->slots[best];
    int keep = best_common;
    if (keep >= job->n_prompt)
        keep = job->n_prompt - 1; /* the last prompt token is evaluated again for its logits */
    keep = ed_kvcache_reusable(&slot->kv, keep); /* 0 where a sliding layer's ring lost the window */
    ed_kvcache_truncate(&slot->kv, keep);
    slot->cached_adapter = ed_engine_adapter_serial(job->adapter);
    slot->cached_scale = job->adapter ? job->lora.scales[0] : 0.0f;
    slot->job = job;
    slot->state = ED__SLOT_PROMPT;
    slot->n_evaluated = keep;
    slot->n_generated = 0;
    slot->text_len = slot->checked = 0;
    slot->t_start = ed__now_ms();
    slot->t_first = slot->t_last = 0;
    job->result.n_prompt = job->n_prompt;
    job->result.n_cached = keep;
    job->result.queue_ms = slot->t_start - job->t_submit;
    atomic_fetch_add_explicit(&e->busy_slots, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->cached_tokens, (uint64_t)keep, memory_order_relaxed);
    if (job->kind == ED_JOB_EMBED)
        memset(slot->hidden, 0, (size_t)e->model->n_embd * sizeof(float));
    else {
        job->sampling.bias = job->bias;
        if (ed_sampler_init(&slot->sampler, e->model->n_vocab, &job->sampling, err) != 0) {
            pthread_mutex_unlock(&e->mutex);
            ed__slot_finish(e, slot, ED_FINISH_ERROR, ED_EINVAL, err);
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
bool ed__step(ed_engine_t *e)
{
    int n_seqs = 0, budget = e->fw.n_batch;
    char err[ED_ERR_LEN];

    /* cancelled or held jobs first; the flags are read under the mutex */
    pthread_mutex_lock(&e->mutex);
    for (int s = 0; s < e->n_slots; s++) {
        ed__slot_t *slot = &e->slots[s];
        slot->runnable = slot->state != ED__SLOT_FREE && !slot->job->hold;
        if (slot->state != ED__SLOT_FREE && slot->job->cancel) {
            pthread_mutex_unlock(&e->mutex);
            ed__slot_finish(e, slot, ED_FINISH_CANCELLED, 0, NULL);
            pthread_mutex_lock(&e->mutex);
            slot->runnable = false;
        }
    }
    pthread_mutex_unlock(&e->mutex);

    /* decode tokens first: they keep streams moving; prompts fill the rest */
    for (int s = 0; s < e->n_slots; s++) {
        ed__slot_t *slot = &e->slots[s];
        slot->seq = NULL;
        if (!slot->runnable || slot->state != ED__SLOT_DECODE || budget < 1)
            continue;
        slot->cached[slot->kv.n_used] = slot->next;
        e->seqs[n_seqs] = (ed_forward_seq_t){.kv = &slot->kv,
                                             .tokens = &slot->cached[slot->kv.n_used],
                                             .n_tokens = 1,
                                             .logits = slot->logits,
                                             .lora = slot->job->adapter ? &slot->job->lora : NULL};
        slot->seq = &e->seqs[n_seqs++];
        budget--;
    }
    for (int s = 0; s < e->n_slots; s++) {
        ed__slot_t *slot = &e->slots[s];
        if (!slot->runnable || slot->state != ED__SLOT_PROMPT || budget < 1)
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
            .lora = job->adapter ? &job->lora : NULL,
        };
        slot->seq = &e->seqs[n_seqs++];
        budget -= n;
    }
    if (n_seqs == 0)
        return false;

    double t0 = ed__now_ms();
    int rc = ed_forward_eval_seqs(&e->fw, e->seqs, n_seqs, err);
    ed_histogram_observe(&e->step_time, (ed__now_ms() - t0) / 1e3);
    atomic_fetch_add_explicit(&e->steps, 1, memory_order_relaxed);
    for (int s = 0; s < e->n_slots; s++) {
        ed__slot_t *slot = &e->slots[s];
        ed_forward_seq_t *seq = slot->seq;
        if (!seq)
            continue;
        slot->seq = NULL;
        if (rc != 0) {
            ed__slot_finish(e, slot, ED_FINISH_ERROR, rc, err);
            continue;
        }
        if (slot->state == ED__SLOT_DECODE) {
            slot_accept(e, slot, ed_sampler_sample(&slot->sampler, slot->logits));
            continue;
        }
        ed_job_t *job = slot->job;
        slot->n_evaluated += seq->n_tokens;
        atomic_fetch_add_explicit(&e->prompt_tokens, (uint64_t)seq->n_tokens, memory_order_relaxed);
        if (slot->n_evaluated < job->n_prompt)
            continue;
        if (job->kind == ED_JOB_EMBED) {
            slot->t_first = slot->t_last = ed__now_ms();
            ed__slot_finish(e, slot, ED_FINISH_DONE, 0, NULL);
        } else {
            slot_accept(e, slot, ed_sampler_sample(&slot->sampler, slot->logits));
        }
    }
    return true;
}

int ed__slots_init(ed_engine_t *e, int n_ctx, char err[ED_ERR_LEN])
{
    char sub[ED_ERR_LEN];
    e->slots = calloc((size_t)e->n_slots, sizeof *e->slots);
    e->seqs = calloc((size_t)e->n_slots, sizeof *e->seqs);
    if (!e->slots || !e->seqs) {
        return ed_errf(err, ED_ENOMEM, "out of memory for %d slots", e->n_slots);
    }
    for (int s = 0; s < e->n_slots; s++) {
        ed__slot_t *slot = &e->slots[s];
        int rc = ed_kvcache_init_model(&slot->kv, e->model, n_ctx, e->fw.n_batch, sub);
        if (rc != 0)
            return ed_errf(err, rc, "KV cache of slot %d (%d tokens): %s", s, n_ctx, sub);
        slot->cached = malloc((size_t)n_ctx * sizeof(int32_t));
        slot->logits = malloc((size_t)e->model->n_vocab * sizeof(float));
        slot->hidden = malloc((size_t)e->model->n_embd * sizeof(float));
        if (!slot->cached || !slot->logits || !slot->hidden)
            return ed_errf(err, ED_ENOMEM, "out of memory for slot %d", s);
    }
    return 0;
}

void ed__slots_free(ed_engine_t *e)
{
    if (e->slots) {
        for (int s = 0; s < e->n_slots; s++) {
            ed__slot_t *slot = &e->slots[s];
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
}

bool ed__slots_any_runnable(const ed_engine_t *e)
{
    for (int s = 0; s < e->n_slots; s++)
        if (e->slots[s].state != ED__SLOT_FREE && (!e->slots[s].job->hold || e->slots[s].job->cancel))
            return true;
    return false;
}

bool ed__slots_any_free(const ed_engine_t *e)
{
    for (int s = 0; s < e->n_slots; s++)
        if (e->slots[s].state == ED__SLOT_FREE)
            return true;
    return false;
}
