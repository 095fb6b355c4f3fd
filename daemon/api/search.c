/* search.c - POST /v1/search: {query, collections, top_k, mode} against the
 * personal store (rag/rag.h), answered with the ranked chunks, their text,
 * document, title, offsets and collection. Group ingest: reading the store
 * is the ingest group's right. */
#include "api/documents.h"

#include "api/api.h"
#include "api/params.h"
#include "rag/rag.h"

#include <stdlib.h>
#include <string.h>

#define MAX_COLLECTIONS 64

static const char *const MODE_NAMES[] = {[ED_RAG_HYBRID] = "hybrid", [ED_RAG_DENSE] = "dense",
                                         [ED_RAG_LEXICAL] = "lexical"};

typedef struct {
    ed_request_t *req;
    ed_rag_mode_t mode;
} search_t;

static void on_found(int rc, const char *err, const ed_rag_hit_t *hits, int n, void *arg)
{
    search_t *s = arg;
    ed_request_t *req = s->req;
    if (rc != 0) {
        ed_api_store_failed(req, rc, rc == ED_ENOENT || rc == ED_EACCES ? "collections" : "query", err);
        free(s);
        return;
    }
    json_t *data = json_array();
    for (int i = 0; data && i < n; i++) {
        const ed_rag_hit_t *h = &hits[i];
        json_array_append_new(
            data, json_pack("{s:I,s:I,s:i,s:o,s:o,s:f,s:I,s:I,s:s,s:i}", "chunk_id", (json_int_t)h->chunk_id,
                            "document_id", (json_int_t)h->doc_id, "chunk_index", h->chunk_index, "title",
                            ed_params_text(h->title ? h->title : "", h->title ? strlen(h->title) : 0), "text",
                            ed_params_text(h->text ? h->text : "", h->text ? strlen(h->text) : 0), "score", h->score,
                            "offset", (json_int_t)h->offset, "length", (json_int_t)h->len, "collection",
                            h->collection, "tokens", h->n_tokens));
    }
    json_t *body = json_pack("{s:s,s:o,s:s}", "object", "list", "data", data, "mode", MODE_NAMES[s->mode]);
    if (body)
        ed_http_respond_json(req, 200, body);
    else
        ed_http_error(req, 500, "internal_error", "out of memory building the answer");
    free(s);
}

/* collections: a string or an array of up to MAX_COLLECTIONS strings
 * (absent: every collection the caller may read). */
static int read_collections(const json_t *root, const char **names, int *n, ed_param_error_t *err)
{
    char got[64];
    const json_t *v = json_object_get(root, "collections");
    *n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        names[(*n)++] = json_string_value(v);
        return 0;
    }
    if (!json_is_array(v)) {
        ed_params_describe(v, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "collections", "collections: expected an array of names, got %s",
                              got);
    }
    if (json_array_size(v) > MAX_COLLECTIONS)
        return ed_params_fail(err, "invalid_value", "collections", "collections: at most %d names, got %zu",
                              MAX_COLLECTIONS, json_array_size(v));
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *item = json_array_get(v, i);
        if (!json_is_string(item)) {
            char param[48];
            snprintf(param, sizeof param, "collections[%zu]", i);
            ed_params_describe(item, got, sizeof got);
            return ed_params_fail(err, "invalid_type", param, "%s: expected a string, got %s", param, got);
        }
        names[(*n)++] = json_string_value(item);
    }
    return 0;
}

void ed_api_search(ed_request_t *req)
{
    struct ed_rag *rag = ed_api_require_store(req);
    if (!rag)
        return;
    ed_app_t *app = req->app;
    ed_param_error_t err;
    json_t *root = NULL;
    const char *query = NULL, *mode_name = "hybrid";
    size_t query_len = 0, mode_len = 0;
    const char *names[MAX_COLLECTIONS];
    int n_names = 0;
    int64_t top_k = app->server->cfg.rag.top_k;
    ed_rag_mode_t mode = ED_RAG_HYBRID;
    int rc = ed_params_load(req->body, req->body_len, &root, &err);
    if (rc == 0)
        rc = ed_params_string(root, "query", true, &query, &query_len, &err);
    if (rc == 0 && (query_len == 0 || strlen(query) != query_len))
        rc = ed_params_fail(&err, "invalid_value", "query", "query: expected a non-empty string without NUL");
    if (rc == 0)
        rc = read_collections(root, names, &n_names, &err);
    if (rc == 0)
        rc = ed_params_integer(root, "top_k", 1, 100, &top_k, &err);
    if (rc == 0)
        rc = ed_params_string(root, "mode", false, &mode_name, &mode_len, &err);
    if (rc == 0) {
        if (strcmp(mode_name, "hybrid") == 0)
            mode = ED_RAG_HYBRID;
        else if (strcmp(mode_name, "dense") == 0)
            mode = ED_RAG_DENSE;
        else if (strcmp(mode_name, "lexical") == 0)
            mode = ED_RAG_LEXICAL;
        else
            rc = ed_params_fail(&err, "invalid_value", "mode", "mode: expected hybrid, dense or lexical, got \"%.32s\"",
                                mode_name);
    }
    search_t *s = rc == 0 ? malloc(sizeof *s) : NULL;
    if (rc == 0 && !s)
        rc = ED_ENOMEM;
    if (rc != 0) {
        ed_params_refuse(req, rc, &err);
        json_decref(root);
        return;
    }
    *s = (search_t){req, mode};
    ed_rag_caller_t who = ed_api_caller(req);
    char detail[ED_ERR_LEN] = "";
    rc = ed_rag_search(rag, &who, query, names, n_names, (int)top_k, mode, on_found, s, detail);
    json_decref(root); /* the job copied query and names */
    if (rc != 0) {
        ed_api_store_failed(req, rc, rc == ED_ENOENT ? "collections" : "query", detail);
        free(s);
    }
}
