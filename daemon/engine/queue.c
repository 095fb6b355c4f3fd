/* queue.c - the engine's jobs: built at submit with copies of what the
 * caller passed, queued until a slot takes them, and handed back to the loop
 * thread (outbox text, then the result) through one uv_async_t. */
#include "engine/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_INITIAL 4096 /* bytes per outbox buffer at submit: many tokens' text */

ed_job_t *ed__job_new(const ed_job_params_t *p, const ed_job_callbacks_t *cb, void *user, int n_embd,
                      int *rc, char err[ED_ERR_LEN])
{
    *rc = ED_ENOMEM;
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
    if (p->adapter) {
        ed_engine_adapter_retain(p->adapter);
        job->adapter = p->adapter;
        job->lora = (ed_lora_set_t){.n = 1, .adapters = {ed_engine_adapter_lora(p->adapter)},
                                    .scales = {p->adapter_scale}};
    }
    job->prompt = malloc((size_t)p->n_prompt * sizeof(int32_t));
    if (!job->prompt)
        goto nomem;
    memcpy(job->prompt, p->prompt, (size_t)p->n_prompt * sizeof(int32_t));
    if (p->kind == ED_JOB_EMBED && !(job->embedding = malloc((size_t)n_embd * sizeof(float))))
        goto nomem;
    if (p->kind == ED_JOB_GENERATE) {
        for (int b = 0; b < 2; b++) {
            if (!(job->outbox[b] = malloc(OUTBOX_INITIAL)))
                goto nomem;
            job->outbox_cap[b] = OUTBOX_INITIAL;
        }
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
                ed__job_free(job);
                *rc = ed_errf(err, ED_EINVAL, "stop string %zu is longer than %d bytes", i, ED_ENGINE_MAX_STOP_LEN);
                return NULL;
            }
            if (!(job->stops[job->n_stops] = strdup(p->stops[i])))
                goto nomem;
            job->n_stops++;
        }
    }
    *rc = 0;
    return job;

nomem:
    ed__job_free(job);
    ed_errf(err, 0, "out of memory for a job of %d tokens", p->n_prompt);
    return NULL;
}

void ed__job_free(ed_job_t *job)
{
    if (!job)
        return;
    free(job->prompt);
    free(job->bias);
    for (size_t i = 0; i < job->n_stops; i++)
        free(job->stops[i]);
    free(job->outbox[0]);
    free(job->outbox[1]);
    free(job->embedding);
    ed_engine_adapter_release(job->adapter);
    free(job);
}

void ed__queue_push(ed__queue_t *q, ed_job_t *job)
{
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->n_queued++;
    q->n_active++;
}

ed_job_t *ed__queue_pop(ed__queue_t *q)
{
    ed_job_t *job = q->head;
    if (!job)
        return NULL;
    q->head = job->next;
    if (!q->head)
        q->tail = NULL;
    q->n_queued--;
    return job;
}

void ed__job_mark_ready(ed__queue_t *q, uv_async_t *async, ed_job_t *job)
{
    if (!job->ready) {
        job->ready = true;
        job->next_ready = q->ready;
        q->ready = job;
    }
    uv_async_send(async);
}

bool ed__outbox_append(ed_job_t *job, const char *text, size_t len)
{
    int b = job->fill;
    if (job->outbox_len + len > job->outbox_cap[b]) {
        size_t cap = job->outbox_cap[b] ? job->outbox_cap[b] : OUTBOX_INITIAL;
        while (cap < job->outbox_len + len)
            cap *= 2;
        char *grown = realloc(job->outbox[b], cap);
        if (!grown)
            return false;
        job->outbox[b] = grown;
        job->outbox_cap[b] = cap;
    }
    memcpy(job->outbox[b] + job->outbox_len, text, len);
    job->outbox_len += len;
    return true;
}

void ed__queue_reap(ed__queue_t *q, uv_async_t *async, _Atomic uint64_t *n_cancelled)
{
    ed_job_t **link = &q->head, *prev = NULL;
    while (*link) {
        ed_job_t *job = *link;
        if (!job->cancel) {
            prev = job;
            link = &job->next;
            continue;
        }
        *link = job->next;
        q->n_queued--;
        q->n_active--;
        job->result.finish = ED_FINISH_CANCELLED;
        job->result.n_prompt = job->n_prompt;
        job->finished = true;
        atomic_fetch_add_explicit(n_cancelled, 1, memory_order_relaxed);
        ed__job_mark_ready(q, async, job);
    }
    q->tail = prev;
}

void ed__queue_deliver(ed__queue_t *q, pthread_mutex_t *mutex)
{
    pthread_mutex_lock(mutex);
    while (q->ready) {
        ed_job_t *job = q->ready;
        q->ready = job->next_ready;
        job->ready = false;
        /* the engine appends to the other buffer from now on; this one is
         * the loop thread's until the next delivery of this job */
        const char *text = job->outbox[job->fill];
        size_t len = job->outbox_len;
        bool finished = job->finished;
        job->fill ^= 1;
        job->outbox_len = 0;
        pthread_mutex_unlock(mutex);

        if (len > 0 && job->cb.on_text && job->kind == ED_JOB_GENERATE)
            job->cb.on_text(job, text, len, job->user);
        if (finished) {
            if (job->cb.on_done)
                job->cb.on_done(job, &job->result, job->user);
            ed__job_free(job);
        }
        pthread_mutex_lock(mutex);
    }
    pthread_mutex_unlock(mutex);
}
