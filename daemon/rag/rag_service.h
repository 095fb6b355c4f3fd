/* rag_service.h - inside the rag service (rag.h), shared by its files: the
 * service's state (struct ed_rag), a job, and the kind of a job as a row of
 * {run, answer, free}. rag.c runs the queue and the opening; rag_ingest.c,
 * rag_documents.c, rag_search.c and rag_embed.c each define their kinds and
 * the public submits that create them. Not for callers outside daemon/rag. */
#ifndef ED_RAG_RAG_SERVICE_H
#define ED_RAG_RAG_SERVICE_H

#include "kernels/pool.h"
#include "model/base.h"
#include "rag/embedder.h"
#include "rag/rag.h"
#include "rag/rag_collection.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct ed__rag_job ed__rag_job_t;

/* The caller's callback; the member is the one of the job's kind. */
typedef union {
    ed_rag_open_cb open;
    ed_rag_embed_cb embed;
    ed_rag_ingest_cb ingest;
    ed_rag_docs_cb docs;
    ed_rag_status_cb status;
    ed_rag_search_cb search;
    ed_rag_context_cb context;
    ed_rag_collections_cb collections;
} ed__rag_cb_t;

/* What a kind of job does. run: on the worker thread, sets job->rc (and
 * job->err when it is not 0). answer: on the loop thread, calls the caller's
 * callback exactly once; err is job->err when job->rc != 0, else NULL.
 * free: frees what the kind allocated in the job (not the job itself); it
 * accepts a job filled only in part. */
typedef struct {
    void (*run)(ed_rag_t *rag, ed__rag_job_t *job);
    void (*answer)(ed_rag_t *rag, ed__rag_job_t *job, const char *err);
    void (*free)(ed__rag_job_t *job);
} ed__rag_kind_t;

struct ed__rag_job {
    ed__rag_job_t *next;
    ed_rag_t *rag;
    const ed__rag_kind_t *kind;
    ed_rag_caller_t caller;
    char collection[ED_STORE_NAME_MAX]; /* "" : none given */
    uint64_t t0_ns;                    /* submitted (uv_hrtime) */
    /* ingest */
    ed_rag_doc_in_t *in; /* (n_in), strings and bodies owned */
    int n_in;
    ed_rag_doc_out_t *out; /* (n_in) */
    /* list, get, delete */
    int64_t id, after, next_after;
    int limit;
    bool with_text;
    ed_rag_doc_t *docs; /* (n_docs) */
    int n_docs;
    /* search, retrieve */
    char *query;
    char (*names)[ED_STORE_NAME_MAX]; /* (n_names) */
    int n_names, top_k, budget_tokens, n_ctx;
    ed_rag_mode_t mode;
    ed_token_count_fn count;
    void *count_arg;
    ed_rag_hit_t *hits; /* (n_hits) */
    int n_hits;
    /* collections, set access */
    char *allow;
    ed_rag_collection_t *colls; /* (n_colls) */
    int n_colls;
    /* open */
    ed_config_t *cfg;
    /* embed: texts borrowed from the caller */
    const char *const *texts;
    const size_t *lens;
    int n_texts;
    float *vectors;
    int *n_tokens;
    int failed;
    /* the answer */
    ed__rag_cb_t cb;
    void *arg;
    int rc;
    char err[ED_ERR_LEN];
};

struct ed_rag {
    uv_loop_t *loop;
    ed_store_t *store;
    ed_embedder_t *embedder;
    ed_pool_t *pool; /* the daemon's compute pool (lent), for a model embedder; may be NULL */
    ed_base_t *base; /* the chat model (lent), for the chat embedder; NULL when none is configured */
    ed_rag_colls_t colls; /* every collection with its index */
    pthread_mutex_t lock; /* worker_busy, status */
    pthread_cond_t idle;
    bool worker_busy; /* a job's work callback is running */
    /* the opening (ed_rag_open) */
    _Atomic int state;         /* ed_rag_state_t: the loop thread writes it */
    char status[ED_ERR_LEN];   /* what the opening does, or why it failed */
    _Atomic bool cancel;       /* ed_rag_close: a re-embedding stops */
    _Atomic int64_t reembed_done, reembed_total; /* the re-embedding under way, for /metrics */
    uint64_t t_open_ns, t_logged_ns;
    /* options */
    int chunk_tokens, chunk_overlap;
    int max_batch, max_context_tokens; /* reloadable, loop thread */
    /* the queue (loop thread) */
    uv_work_t work;
    ed__rag_job_t *running; /* handed to the thread pool, NULL when idle */
    ed__rag_job_t *head, *tail;
    int n_queued;
    bool closing;
    /* figures */
    _Atomic bool read_only;
    _Atomic uint64_t ingest_count, ingest_ns, search_count, search_ns, ingested_docs;
};

/* A zeroed job of `kind` for `caller` that answers cb (the kind's member)
 * with arg, stamped now; the submit fills its arguments. NULL when out of
 * memory. Loop thread. */
ed__rag_job_t *ed__rag_job_new(ed_rag_t *rag, const ed__rag_kind_t *kind, const ed_rag_caller_t *caller,
                               ed__rag_cb_t cb, void *arg);
/* The kind's fields, then the job. Accepts NULL. */
void ed__rag_job_free(ed__rag_job_t *job);
/* Queues a job (freed on refusal). 0, or ED_EBUSY / ED_EAGAIN / ED_ESTATE
 * with err. Loop thread. */
int ed__rag_submit(ed_rag_t *rag, ed__rag_job_t *job, char err[ED_ERR_LEN]);
/* False, with err saying why and the store marked read-only for /metrics,
 * when the store refuses writes. Worker thread. */
bool ed__rag_store_writable(ed_rag_t *rag, char err[ED_ERR_LEN]);

#endif
