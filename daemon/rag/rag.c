/* rag.c - the personal store as a service (see rag.h): a bounded queue of
 * jobs run one at a time on libuv's thread pool over the store, the embedder
 * and one vector index per collection; results go back to the loop thread.
 * Here: the queue, each job's dispatch through its kind (rag_service.h), the
 * opening, closing and figures; the kinds live in rag_ingest.c,
 * rag_documents.c, rag_search.c and rag_embed.c. */
#include "rag/rag.h"

#include "core/log.h"
#include "core/metrics.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "rag/embedder.h"
#include "rag/embedder_chat.h"
#include "rag/embedder_model.h"
#include "rag/rag_collection.h"
#include "rag/rag_service.h"
#include "store/store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX 64          /* jobs waiting for the worker, at most (ED_EBUSY beyond) */
#define PROGRESS_LOG_S 5      /* a re-embedding at open logs its progress this often */

/* --------------------------------------------------------- the jobs --- */

void ed__rag_job_free(ed__rag_job_t *job)
{
    if (!job)
        return;
    job->kind->free(job);
    free(job);
}

bool ed__rag_store_writable(ed_rag_t *rag, char err[ED_ERR_LEN])
{
    const char *why = NULL;
    if (!ed_store_read_only(rag->store, &why))
        return true;
    atomic_store(&rag->read_only, true);
    snprintf(err, ED_ERR_LEN, "the store is read-only: %s", why ? why : "a write failed");
    return false;
}

/* ------------------------------------------------------------ queue --- */

static void work_cb(uv_work_t *work)
{
    ed__rag_job_t *job = work->data;
    ed_rag_t *rag = job->rag;
    job->kind->run(rag, job);
    pthread_mutex_lock(&rag->lock);
    rag->worker_busy = false;
    pthread_cond_broadcast(&rag->idle);
    pthread_mutex_unlock(&rag->lock);
}

/* Calls the job's callback through its kind, with a message for every error. */
static void answer(ed_rag_t *rag, ed__rag_job_t *job)
{
    const char *err = job->rc ? job->err : NULL;
    if (job->rc && !job->err[0])
        snprintf(job->err, sizeof job->err, "%s", ed_strerror(job->rc));
    job->kind->answer(rag, job, err);
}

static void rag_free(ed_rag_t *rag);
static void start_next(ed_rag_t *rag);

static void after_work_cb(uv_work_t *work, int status)
{
    (void)status; /* jobs are never cancelled through uv_cancel */
    ed__rag_job_t *job = work->data;
    ed_rag_t *rag = job->rag;
    rag->running = NULL;
    answer(rag, job);
    ed__rag_job_free(job);
    if (rag->closing)
        rag_free(rag);
    else
        start_next(rag);
}

/* Hands `job` to the thread pool; the worker must be idle. */
static void start_job(ed_rag_t *rag, ed__rag_job_t *job)
{
    rag->running = job;
    rag->work.data = job;
    pthread_mutex_lock(&rag->lock);
    rag->worker_busy = true;
    pthread_mutex_unlock(&rag->lock);
    int rc = uv_queue_work(rag->loop, &rag->work, work_cb, after_work_cb);
    if (rc != 0) {
        pthread_mutex_lock(&rag->lock);
        rag->worker_busy = false;
        pthread_mutex_unlock(&rag->lock);
        rag->running = NULL;
        job->rc = ed_errf(job->err, ED_EIO, "cannot queue the work: %s", uv_strerror(rc));
        answer(rag, job);
        ed__rag_job_free(job);
    }
}

static void start_next(ed_rag_t *rag)
{
    if (rag->running || !rag->head)
        return;
    ed__rag_job_t *job = rag->head;
    rag->head = job->next;
    if (!rag->head)
        rag->tail = NULL;
    rag->n_queued--;
    start_job(rag, job);
}

ed__rag_job_t *ed__rag_job_new(ed_rag_t *rag, const ed__rag_kind_t *kind, const ed_rag_caller_t *caller,
                               ed__rag_cb_t cb, void *arg)
{
    ed__rag_job_t *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->rag = rag;
    job->kind = kind;
    job->caller = *caller;
    job->cb = cb;
    job->arg = arg;
    job->t0_ns = uv_hrtime();
    return job;
}

int ed__rag_submit(ed_rag_t *rag, ed__rag_job_t *job, char err[ED_ERR_LEN])
{
    if (rag->closing) {
        ed__rag_job_free(job);
        return ed_errf(err, ED_ESTATE, "the store is closing");
    }
    char status[ED_ERR_LEN];
    ed_rag_state_t state = ed_rag_state(rag, status);
    if (state != ED_RAG_OPEN) {
        ed__rag_job_free(job);
        return state == ED_RAG_OPENING ? ed_errf(err, ED_EAGAIN, "the personal store is opening: %s", status)
                                       : ed_errf(err, ED_ESTATE, "the personal store did not open: %s", status);
    }
    if (rag->n_queued >= QUEUE_MAX) {
        ed__rag_job_free(job);
        return ed_errf(err, ED_EBUSY, "the store's queue is full (%d requests waiting)", QUEUE_MAX);
    }
    if (rag->tail)
        rag->tail->next = job;
    else
        rag->head = job;
    rag->tail = job;
    rag->n_queued++;
    start_next(rag);
    return 0;
}

/* ----------------------------------------------------------- metrics --- */

static void render_metrics(ed_buf_t *out, void *arg)
{
    ed_rag_t *rag = arg;
    ed_rag_stats_t st;
    ed_rag_stats(rag, &st);
    ed_buf_printf(out,
                  "# HELP edged_rag_documents Documents in the personal store.\n# TYPE edged_rag_documents gauge\n"
                  "edged_rag_documents %lld\n"
                  "# HELP edged_rag_chunks Chunks in the personal store.\n# TYPE edged_rag_chunks gauge\n"
                  "edged_rag_chunks %lld\n"
                  "# HELP edged_rag_vectors Vectors in the collections' indexes.\n# TYPE edged_rag_vectors gauge\n"
                  "edged_rag_vectors %lld\n"
                  "# HELP edged_rag_read_only 1 when the store turned read-only after a failed write.\n"
                  "# TYPE edged_rag_read_only gauge\nedged_rag_read_only %d\n",
                  (long long)st.documents, (long long)st.chunks, (long long)st.vectors, st.read_only);
    ed_buf_printf(out, "# HELP edged_rag_collection_vectors Vectors in one collection's index.\n"
                       "# TYPE edged_rag_collection_vectors gauge\n");
    pthread_mutex_lock(&rag->colls.lock);
    for (int i = 0; i < rag->colls.n; i++)
        ed_buf_printf(out, "edged_rag_collection_vectors{collection=\"%s\"} %lld\n", rag->colls.items[i].c.name,
                      (long long)rag->colls.items[i].n_vectors);
    ed_buf_printf(out, "# HELP edged_rag_collection_chunks Chunk rows of one collection.\n"
                       "# TYPE edged_rag_collection_chunks gauge\n");
    for (int i = 0; i < rag->colls.n; i++)
        ed_buf_printf(out, "edged_rag_collection_chunks{collection=\"%s\"} %lld\n", rag->colls.items[i].c.name,
                      (long long)rag->colls.items[i].n_chunks);
    pthread_mutex_unlock(&rag->colls.lock);
    ed_buf_printf(out,
                  "# HELP edged_rag_ingest_seconds Ingest requests, queueing included.\n"
                  "# TYPE edged_rag_ingest_seconds summary\nedged_rag_ingest_seconds_sum %.6f\n"
                  "edged_rag_ingest_seconds_count %llu\n"
                  "# HELP edged_rag_search_seconds Searches and retrievals, queueing included.\n"
                  "# TYPE edged_rag_search_seconds summary\nedged_rag_search_seconds_sum %.6f\n"
                  "edged_rag_search_seconds_count %llu\n",
                  (double)atomic_load(&rag->ingest_ns) / 1e9, (unsigned long long)atomic_load(&rag->ingest_count),
                  (double)atomic_load(&rag->search_ns) / 1e9, (unsigned long long)atomic_load(&rag->search_count));
}

/* ------------------------------------------------------------ public --- */

void ed_rag_stats(const ed_rag_t *rag, ed_rag_stats_t *out)
{
    memset(out, 0, sizeof *out);
    ed_rag_t *r = (ed_rag_t *)rag; /* the lock is not part of the value */
    pthread_mutex_lock(&r->colls.lock);
    for (int i = 0; i < r->colls.n; i++) {
        out->documents += r->colls.items[i].n_documents;
        out->chunks += r->colls.items[i].n_chunks;
        out->vectors += r->colls.items[i].n_vectors;
    }
    out->collections = r->colls.n;
    pthread_mutex_unlock(&r->colls.lock);
    out->read_only = atomic_load(&r->read_only);
}

void ed_rag_reconfigure(ed_rag_t *rag, const ed_config_t *cfg)
{
    rag->max_batch = (int)cfg->rag.max_batch_documents;
    rag->max_context_tokens = (int)cfg->rag.max_context_tokens;
}

static int open_embedder(ed_rag_t *rag, const ed_config_t *cfg, char err[ED_ERR_LEN])
{
    if (strcmp(cfg->rag.embedder, "hash") == 0)
        return ed_embedder_hash_init(&rag->embedder, err);
    bool chat = strcmp(cfg->rag.embedder, "chat") == 0;
    if (!chat && strcmp(cfg->rag.embedder, "model") != 0)
        return ed_errf(err, ED_EUNSUPPORTED, "rag.embedder = %s is not available; use hash, model or chat",
                       cfg->rag.embedder);
    if (!chat && !cfg->rag.embedding_model[0])
        return ed_errf(err, ED_ECONFIG, "rag.embedder = model needs rag.embedding_model (a BERT-family GGUF file)");
    if (chat && !cfg->model.path[0])
        return ed_errf(err, ED_ECONFIG, "rag.embedder = chat needs a chat model ([model] path)");
    if (chat) /* the engine's model, loaded once (this waits for it) */
        return rag->base ? ed_embedder_chat_init(&rag->embedder, rag->base, &rag->cancel, err)
                         : ed_errf(err, ED_ECONFIG, "rag.embedder = chat: the chat model is not open");
    const ed_kernels_t *kernels = ed_kernels_select(getenv("EDGED_KERNELS"));
    if (!kernels)
        return ed_errf(err, ED_EUNSUPPORTED, "no compute kernels for this CPU");
    if (!rag->pool)
        return ed_errf(err, ED_EINVAL, "no compute pool for the embedding model");
    return ed_embedder_model_init(&rag->embedder, cfg->rag.embedding_model, kernels, rag->pool, err);
}

/* The opening's line for refusals and /health; worker or loop thread. */
static void set_status(ed_rag_t *rag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_status(ed_rag_t *rag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&rag->lock);
    vsnprintf(rag->status, sizeof rag->status, fmt, ap);
    pthread_mutex_unlock(&rag->lock);
    va_end(ap);
}

/* From a collection's re-embedding, after each chunk: the status line, and a
 * log line every PROGRESS_LOG_S seconds. */
static void on_rebuild_progress(void *arg, const char *collection, int64_t done, int64_t total)
{
    ed_rag_t *rag = arg;
    set_status(rag, "re-embedding collection \"%s\": %lld of %lld chunks", collection, (long long)done,
               (long long)total);
    atomic_store(&rag->reembed_done, done);
    atomic_store(&rag->reembed_total, total);
    uint64_t now = uv_hrtime();
    if (now - rag->t_logged_ns >= PROGRESS_LOG_S * 1000000000ull || done == total) {
        rag->t_logged_ns = now;
        ed_log_info("rag: collection \"%s\": re-embedded %lld of %lld chunks (%.0f%%)", collection,
                    (long long)done, (long long)total, total ? 100.0 * (double)done / (double)total : 100.0);
    }
}

/* What every scrape shows from ed_rag_open on, the opening included. */
static void render_state(ed_buf_t *out, void *arg)
{
    ed_rag_t *rag = arg;
    ed_buf_printf(out,
                  "# HELP edged_rag_opening 1 while the personal store opens (loads or re-embeds its indexes).\n"
                  "# TYPE edged_rag_opening gauge\nedged_rag_opening %d\n"
                  "# HELP edged_rag_reembed_chunks_done Chunks re-embedded so far by the opening's re-embedding.\n"
                  "# TYPE edged_rag_reembed_chunks_done gauge\nedged_rag_reembed_chunks_done %lld\n"
                  "# HELP edged_rag_reembed_chunks_total Chunks of the collection the opening re-embeds.\n"
                  "# TYPE edged_rag_reembed_chunks_total gauge\nedged_rag_reembed_chunks_total %lld\n",
                  atomic_load(&rag->state) == ED_RAG_OPENING, (long long)atomic_load(&rag->reembed_done),
                  (long long)atomic_load(&rag->reembed_total));
}

/* Frees what an opening set up; rag_free and a failed opening. */
static void release(ed_rag_t *rag)
{
    if (rag->colls.store)
        ed_rag_colls_free(&rag->colls);
    memset(&rag->colls, 0, sizeof rag->colls);
    ed_embedder_free(rag->embedder);
    rag->embedder = NULL;
    ed_store_close(rag->store);
    rag->store = NULL;
}

static void run_open(ed_rag_t *rag, ed__rag_job_t *job)
{
    const ed_config_t *cfg = job->cfg;
    char why[ED_ERR_LEN];
    set_status(rag, "opening the store in %s", cfg->state.directory);
    int rc = ed_store_open(&rag->store, cfg->state.directory, cfg->store.key_file[0] ? cfg->store.key_file : NULL,
                           why);
    if (rc != 0) {
        job->rc = ed_errf(job->err, rc, "store: %s", why);
        goto out;
    }
    set_status(rag, "loading the embedder (rag.embedder = %s)", cfg->rag.embedder);
    if ((rc = open_embedder(rag, cfg, why)) != 0) {
        job->rc = ed_errf(job->err, rc, "embedder: %s", why);
        goto out;
    }
    ed_rag_colls_init(&rag->colls, rag->store, rag->embedder, cfg->rag.hnsw_threshold);
    rag->colls.cancel = &rag->cancel;
    rag->colls.progress = on_rebuild_progress;
    rag->colls.progress_arg = rag;
    set_status(rag, "loading the collections' indexes");
    if ((rc = ed_rag_colls_load(&rag->colls, job->err)) != 0) {
        job->rc = rc;
        goto out;
    }
    const char *ro = NULL;
    atomic_store(&rag->read_only, ed_store_read_only(rag->store, &ro));
out:
    if (job->rc != 0)
        release(rag);
}

/* The opening's end, on the loop thread. Its error is decided here (a close
 * that came first cancels it), so the dispatcher's err is not used. */
static void answer_open(ed_rag_t *rag, ed__rag_job_t *job, const char *err)
{
    (void)err;
    if (job->rc == 0 && rag->closing) /* ed_rag_close came first: it is freed next */
        job->rc = ed_errf(job->err, ED_ECANCELED, "the store was closed while it opened");
    if (job->rc == 0) {
        atomic_store(&rag->state, ED_RAG_OPEN);
        set_status(rag, "open");
        ed_metrics_register(render_metrics, rag);
        ed_rag_stats_t st;
        ed_rag_stats(rag, &st);
        ed_log_info("rag: store %s open in %.2f s: %d collections, %lld documents, %lld chunks, embedder %s",
                    job->cfg->state.directory, (double)(uv_hrtime() - rag->t_open_ns) / 1e9, st.collections,
                    (long long)st.documents, (long long)st.chunks, rag->embedder->name);
    } else {
        atomic_store(&rag->state, ED_RAG_FAILED);
        set_status(rag, "%s", job->err);
        if (job->rc == ED_ECANCELED) /* edged is stopping; the caller logs real failures */
            ed_log_info("rag: the opening stopped: %s", job->err);
    }
    job->cb.open(job->rc, job->rc ? job->err : NULL, job->arg);
}

static void free_open(ed__rag_job_t *job)
{
    free(job->cfg);
}

static const ed__rag_kind_t KIND_OPEN = {run_open, answer_open, free_open};

int ed_rag_open(ed_rag_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base, ed_pool_t *pool,
                ed_rag_open_cb on_open, void *arg, char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_rag_t *rag = calloc(1, sizeof *rag);
    if (!rag)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    pthread_mutex_init(&rag->lock, NULL);
    pthread_cond_init(&rag->idle, NULL);
    rag->loop = loop;
    rag->base = base;
    rag->pool = pool;
    rag->chunk_tokens = (int)cfg->rag.chunk_tokens;
    rag->chunk_overlap = (int)cfg->rag.chunk_overlap;
    if (rag->chunk_overlap >= rag->chunk_tokens)
        rag->chunk_overlap = rag->chunk_tokens / 4;
    ed_rag_reconfigure(rag, cfg);
    atomic_init(&rag->state, ED_RAG_OPENING);
    snprintf(rag->status, sizeof rag->status, "starting");
    rag->t_open_ns = rag->t_logged_ns = uv_hrtime();
    ed__rag_job_t *job =
        ed__rag_job_new(rag, &KIND_OPEN, &(ed_rag_caller_t){0, 0}, (ed__rag_cb_t){.open = on_open}, arg);
    if (!job || !(job->cfg = malloc(sizeof *job->cfg))) {
        ed__rag_job_free(job);
        rag_free(rag);
        return ed_errf(err, ED_ENOMEM, "out of memory");
    }
    *job->cfg = *cfg;
    ed_metrics_register(render_state, rag);
    start_job(rag, job);
    *out = rag;
    return 0;
}

ed_rag_state_t ed_rag_state(const ed_rag_t *rag, char reason[ED_ERR_LEN])
{
    ed_rag_t *r = (ed_rag_t *)rag; /* the lock is not part of the value */
    pthread_mutex_lock(&r->lock);
    snprintf(reason, ED_ERR_LEN, "%s", r->status);
    pthread_mutex_unlock(&r->lock);
    return (ed_rag_state_t)atomic_load(&r->state);
}

static void rag_free(ed_rag_t *rag)
{
    release(rag);
    pthread_mutex_destroy(&rag->lock);
    pthread_cond_destroy(&rag->idle);
    free(rag);
}

void ed_rag_close(ed_rag_t *rag)
{
    if (!rag)
        return;
    ed_metrics_unregister(render_metrics, rag);
    ed_metrics_unregister(render_state, rag);
    rag->closing = true;
    atomic_store(&rag->cancel, true); /* an opening's re-embedding stops */
    while (rag->head) { /* never started: answered as cancelled */
        ed__rag_job_t *job = rag->head;
        rag->head = job->next;
        job->rc = ed_errf(job->err, ED_ECANCELED, "the daemon is stopping");
        answer(rag, job);
        ed__rag_job_free(job);
    }
    rag->tail = NULL;
    rag->n_queued = 0;
    if (!rag->running) {
        rag_free(rag);
        return;
    }
    /* The job in flight finishes its write; its answer comes through
     * after_work_cb, which then frees the rest. */
    pthread_mutex_lock(&rag->lock);
    while (rag->worker_busy)
        pthread_cond_wait(&rag->idle, &rag->lock);
    pthread_mutex_unlock(&rag->lock);
}
