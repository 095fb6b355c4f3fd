/* rag_embed.c - the embed job (see rag.h): texts embedded on the worker
 * with the store's embedder, as ingest and search embed, for
 * POST /v1/embeddings; and the embedder's name and width once open. */
#include "rag/rag_service.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------------------------------------------------------- embed --- */

static void run_embed(ed_rag_t *rag, ed__rag_job_t *job)
{
    int dim = rag->embedder->dim;
    job->failed = -1;
    job->vectors = malloc((size_t)job->n_texts * (size_t)dim * sizeof *job->vectors);
    job->n_tokens = calloc((size_t)job->n_texts, sizeof *job->n_tokens);
    if (!job->vectors || !job->n_tokens) {
        job->rc = ed_errf(job->err, ED_ENOMEM, "out of memory for %d vectors of %d", job->n_texts, dim);
        return;
    }
    for (int i = 0; i < job->n_texts; i++) {
        int rc = ed_embedder_embed_counted(rag->embedder, job->texts[i], job->lens[i], job->vectors + (size_t)i * dim,
                                           &job->n_tokens[i]);
        if (rc != 0) {
            job->failed = i;
            job->rc = ed_errf(job->err, rc, "%s could not embed it: %s", rag->embedder->name, ed_strerror(rc));
            return;
        }
    }
}

static void answer_embed(ed_rag_t *rag, ed__rag_job_t *job, const char *err)
{
    ed_rag_vectors_t v = {rag->embedder->name, rag->embedder->dim, job->vectors, job->n_tokens, job->n_texts};
    job->cb.embed(job->rc, err, job->failed, job->rc ? NULL : &v, job->arg);
}

static void free_embed(ed__rag_job_t *job)
{
    free(job->vectors);
    free(job->n_tokens);
}

static const ed__rag_kind_t KIND_EMBED = {run_embed, answer_embed, free_embed};

int ed_rag_embed(ed_rag_t *rag, const char *const *texts, const size_t *lens, int n, ed_rag_embed_cb cb, void *arg,
                 char err[ED_ERR_LEN])
{
    if (n <= 0)
        return ed_errf(err, ED_EINVAL, "nothing to embed");
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_EMBED, &(ed_rag_caller_t){0, 0}, (ed__rag_cb_t){.embed = cb}, arg);
    if (!job)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    job->texts = texts;
    job->lens = lens;
    job->n_texts = n;
    job->failed = -1;
    return ed__rag_submit(rag, job, err);
}

const char *ed_rag_embedder(const ed_rag_t *rag, int *dim, int64_t *created)
{
    if (atomic_load(&rag->state) != ED_RAG_OPEN)
        return NULL;
    if (dim)
        *dim = rag->embedder->dim;
    if (created)
        *created = rag->embedder->created;
    return rag->embedder->name;
}
