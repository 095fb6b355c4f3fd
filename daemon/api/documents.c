/* documents.c - POST/GET /v1/documents and GET/DELETE /v1/documents/{id}:
 * reads JSON (one document or a batch) or a raw text/plain, text/markdown
 * or text/html body with query parameters, hands the work to the rag
 * service (rag/rag.h) and answers when its callback comes back. */
#include "api/documents.h"

#include "api/adapt.h"
#include "api/api.h"
#include "api/params.h"
#include "api/status.h"
#include "rag/rag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 100 /* documents per page when the request names no limit */

static char unavailable_reason[512] = "the personal store is not open";

void ed_api_store_unavailable(const char *reason)
{
    snprintf(unavailable_reason, sizeof unavailable_reason, "%s", reason);
}

struct ed_rag *ed_api_require_store(ed_request_t *req)
{
    ed_app_t *app = req->app;
    if (!app->rag) {
        ed_api_fail(req, ED_ESTATE, ED_API_STORE, NULL, "the personal store is unavailable: %s", unavailable_reason);
        return NULL;
    }
    char why[ED_ERR_LEN];
    switch (ed_rag_state(app->rag, why)) {
    case ED_RAG_OPEN: return app->rag;
    case ED_RAG_OPENING:
        ed_api_fail(req, ED_EAGAIN, ED_API_STORE, NULL, "the personal store is opening: %s", why);
        return NULL;
    case ED_RAG_FAILED: break;
    }
    ed_api_fail(req, ED_ESTATE, ED_API_STORE, NULL, "the personal store is unavailable: %s", why);
    return NULL;
}

void ed_api_store_failed(ed_request_t *req, int rc, const char *param, const char *detail)
{
    ed_api_fail(req, rc, ED_API_STORE, param, "%s", detail && *detail ? detail : ed_strerror(rc));
}

/* ------------------------------------------------------ query string --- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The percent-decoded value of `name` in the query string ('+' is a space)
 * into out (cap bytes, NUL-terminated). 1 found, 0 absent, ED_EFORMAT for a
 * bad escape, a NUL or a value that does not fit. */
static int query_param(const char *query, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    for (const char *p = query; p && *p;) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        size_t key_len = eq ? (size_t)(eq - p) : n;
        if (key_len == name_len && memcmp(p, name, name_len) == 0) {
            const char *v = eq ? eq + 1 : p + n;
            size_t o = 0;
            for (; v < p + n; v++) {
                int c = (unsigned char)*v;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    int hi = v + 2 < p + n ? hex_digit(v[1]) : -1;
                    int lo = hi >= 0 ? hex_digit(v[2]) : -1;
                    if (hi < 0 || lo < 0)
                        return ED_EFORMAT;
                    c = hi * 16 + lo;
                    v += 2;
                }
                if (c == 0 || o + 1 >= cap)
                    return ED_EFORMAT;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return 1;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return 0;
}

/* A query parameter read into buf, answering 400 on a bad one. -1 answered,
 * 0 absent, 1 found. */
int ed_api_query_param(ed_request_t *req, const char *name, char *buf, size_t cap)
{
    int rc = query_param(req->query, name, buf, cap);
    if (rc >= 0)
        return rc;
    ed_param_error_t err;
    ed_params_fail(&err, "invalid_value", name,
                   "%s: the query parameter has a bad %%-escape, a NUL byte, or is longer than %zu bytes", name, cap - 1);
    ed_params_reject(req, &err);
    return -1;
}

/* An integer query parameter in [min, max]; -1 answered, 0 absent, 1 read. */
static int read_int_param(ed_request_t *req, const char *name, int64_t min, int64_t max, int64_t *out)
{
    char buf[32];
    int rc = ed_api_query_param(req, name, buf, sizeof buf);
    if (rc <= 0)
        return rc;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (!*buf || *end || v < min || v > max) {
        ed_param_error_t err;
        ed_params_fail(&err, "invalid_value", name, "%s: expected an integer from %lld to %lld, got \"%s\"", name,
                       (long long)min, (long long)max, buf);
        ed_params_reject(req, &err);
        return -1;
    }
    *out = v;
    return 1;
}

ed_rag_caller_t ed_api_caller(const ed_request_t *req)
{
    return (ed_rag_caller_t){(uint32_t)req->peer.uid, (uint32_t)req->peer.gid};
}

/* ---------------------------------------------------------------- add --- */

typedef struct {
    ed_request_t *req;
    bool single;    /* one document: its fields also at the top level */
    bool raw;       /* the text came as the body */
    char collection[128];
} add_t;

/* The param a rag error names: "documents[i]: ..." -> documents[i].text,
 * "documents[i].source: ..." -> documents[i].source. */
static void error_param(const add_t *a, const char *detail, char *param, size_t cap)
{
    int i;
    char field[16] = "";
    if (strncmp(detail, "collection", 10) == 0)
        snprintf(param, cap, "collection");
    else if (sscanf(detail, "documents[%d].%15[a-z]", &i, field) == 2 && strcmp(field, "source") == 0)
        snprintf(param, cap, a->single ? "source" : "documents[%d].source", i);
    else if (sscanf(detail, "documents[%d]", &i) == 1 && !a->single)
        snprintf(param, cap, "documents[%d].text", i);
    else if (strncmp(detail, "documents[", 10) == 0)
        snprintf(param, cap, "%s", a->raw ? "body" : "text");
    else
        snprintf(param, cap, "%s", a->single ? "text" : "documents");
}

/* What ingest did with one document. */
static json_t *doc_out_json(const ed_rag_doc_out_t *d)
{
    return json_pack("{s:I,s:i,s:i,s:i,s:s,s:b}", "id", (json_int_t)d->id, "chunks", d->n_chunks, "tokens",
                     d->n_tokens, "version", d->version, "outcome", ed_rag_outcome_name(d->outcome), "unchanged",
                     d->outcome == ED_RAG_UNCHANGED);
}

static void on_added(int rc, const char *err, const ed_rag_doc_out_t *docs, int n, void *arg)
{
    add_t *a = arg;
    ed_request_t *req = a->req;
    if (rc != 0) {
        char param[64];
        error_param(a, err ? err : "", param, sizeof param);
        ed_api_store_failed(req, rc, param, err);
        free(a);
        return;
    }
    /* 201 when a document was created; 200 when every one existed (left
     * unchanged or replaced, by its source). */
    json_t *list = json_array();
    bool created = false;
    for (int i = 0; list && i < n; i++) {
        created |= docs[i].outcome == ED_RAG_ADDED;
        if (docs[i].outcome == ED_RAG_REPLACED)
            ed_api_adapt_forget(req->app, docs[i].id, a->collection);
        json_array_append_new(list, doc_out_json(&docs[i]));
    }
    json_t *body = json_pack("{s:o,s:s}", "documents", list, "collection", a->collection);
    if (body && a->single && n == 1)
        json_object_update(body, json_array_get(list, 0));
    if (!body)
        ed_http_error(req, 500, "internal_error", "out of memory building the answer");
    else
        ed_http_respond_json(req, created ? 201 : 200, body);
    free(a);
}

/* One JSON document's fields into *d (pointers into obj; metadata into
 * *metadata, a string the caller frees). prefix names the fields ("" or
 * "documents[3]."). */
static int read_doc(const json_t *obj, const char *prefix, ed_rag_doc_in_t *d, char **metadata,
                    ed_param_error_t *err)
{
    char name[64], got[64];
    const json_t *o = obj;
    const char *text = NULL, *title = NULL, *source = NULL, *format = "plain";
    size_t text_len = 0;
    snprintf(name, sizeof name, "%stext", prefix);
    const json_t *t = json_object_get(o, "text");
    if (!t || json_is_null(t))
        return ed_params_fail(err, "missing_field", name, "%s: this field is required", name);
    if (!json_is_string(t)) {
        ed_params_describe(t, got, sizeof got);
        return ed_params_fail(err, "invalid_type", name, "%s: expected a string, got %s", name, got);
    }
    text = json_string_value(t);
    text_len = json_string_length(t);
    if (text_len == 0)
        return ed_params_fail(err, "invalid_value", name, "%s: the text is empty", name);
    /* ed_params_* take the field name as the reported param: read nested ones by hand */
    struct { const char *key; const char **out; } strs[] = {{"title", &title}, {"source", &source}, {"format", &format}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const json_t *v = json_object_get(o, strs[i].key);
        snprintf(name, sizeof name, "%s%s", prefix, strs[i].key);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            ed_params_describe(v, got, sizeof got);
            return ed_params_fail(err, "invalid_type", name, "%s: expected a string, got %s", name, got);
        }
        if (strlen(json_string_value(v)) != json_string_length(v))
            return ed_params_fail(err, "invalid_value", name, "%s: holds a NUL character", name);
        *strs[i].out = json_string_value(v);
    }
    ed_markup_kind_t kind = ED_MARKUP_PLAIN;
    if (source && strlen(source) > ED_RAG_SOURCE_MAX) {
        snprintf(name, sizeof name, "%ssource", prefix);
        return ed_params_fail(err, "invalid_value", name, "%s: %zu bytes, at most %d", name, strlen(source),
                              ED_RAG_SOURCE_MAX);
    }
    if (strcmp(format, "markdown") == 0)
        kind = ED_MARKUP_MARKDOWN;
    else if (strcmp(format, "html") == 0)
        kind = ED_MARKUP_HTML;
    else if (strcmp(format, "plain") != 0) {
        snprintf(name, sizeof name, "%sformat", prefix);
        return ed_params_fail(err, "invalid_value", name, "%s: expected plain, markdown or html, got \"%.32s\"", name,
                              format);
    }
    const json_t *m = json_object_get(o, "metadata");
    if (m && !json_is_null(m)) {
        snprintf(name, sizeof name, "%smetadata", prefix);
        if (!json_is_object(m)) {
            ed_params_describe(m, got, sizeof got);
            return ed_params_fail(err, "invalid_type", name, "%s: expected an object, got %s", name, got);
        }
        if (!(*metadata = json_dumps(m, JSON_COMPACT)))
            return ED_ENOMEM;
    }
    *d = (ed_rag_doc_in_t){.title = title, .source = source, .metadata_json = *metadata, .body = text,
                           .len = text_len, .kind = kind};
    return 0;
}

static void add_json(ed_request_t *req, struct ed_rag *rag, add_t *a)
{
    ed_app_t *app = req->app;
    ed_param_error_t err;
    json_t *root = NULL;
    const char *collection = NULL;
    size_t collection_len = 0;
    ed_rag_doc_in_t *docs = NULL;
    char **metadata = NULL;
    size_t n = 0;
    bool force = false;
    int rc = ed_params_load(req->body, req->body_len, &root, &err);
    if (rc == 0)
        rc = ed_params_string(root, "collection", true, &collection, &collection_len, &err);
    if (rc == 0)
        rc = ed_params_bool(root, "force", &force, &err);
    const json_t *list = rc == 0 ? json_object_get(root, "documents") : NULL;
    if (rc == 0 && list && !json_is_null(list)) {
        char got[64];
        if (!json_is_array(list)) {
            ed_params_describe(list, got, sizeof got);
            rc = ed_params_fail(&err, "invalid_type", "documents", "documents: expected an array, got %s", got);
        } else if ((n = json_array_size(list)) == 0) {
            rc = ed_params_fail(&err, "invalid_value", "documents", "documents: expected at least one document");
        } else if (n > app->server->cfg.rag.max_batch_documents) {
            json_decref(root);
            ed_api_fail(req, ED_ETOOBIG, ED_API_STORE, "documents",
                        "documents: %zu documents, at most %u in one request (rag.max_batch_documents)", n,
                        app->server->cfg.rag.max_batch_documents);
            free(a);
            return;
        }
    } else {
        list = NULL;
        n = 1;
        a->single = true;
    }
    if (rc == 0) {
        docs = calloc(n, sizeof *docs);
        metadata = calloc(n, sizeof *metadata);
        if (!docs || !metadata)
            rc = ED_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char prefix[32] = "";
        const json_t *item = list ? json_array_get(list, i) : root;
        if (list) {
            snprintf(prefix, sizeof prefix, "documents[%zu].", i);
            if (!json_is_object(item)) {
                char got[64];
                ed_params_describe(item, got, sizeof got);
                rc = ed_params_fail(&err, "invalid_type", "documents", "documents[%zu]: expected an object, got %s", i,
                                    got);
                break;
            }
        }
        rc = read_doc(item, prefix, &docs[i], &metadata[i], &err);
        docs[i].force = force;
    }
    char detail[ED_ERR_LEN] = "";
    if (rc == 0) {
        snprintf(a->collection, sizeof a->collection, "%.*s", (int)collection_len, collection);
        ed_rag_caller_t who = ed_api_caller(req);
        rc = ed_rag_ingest(rag, &who, collection, docs, (int)n, on_added, a, detail);
        if (rc != 0) {
            char param[64];
            error_param(a, detail, param, sizeof param);
            ed_api_store_failed(req, rc, param, detail);
            free(a);
        }
    } else {
        ed_params_refuse(req, rc, &err);
        free(a);
    }
    for (size_t i = 0; metadata && i < n; i++)
        free(metadata[i]);
    free(metadata);
    free(docs);
    json_decref(root);
}

static void add_raw(ed_request_t *req, struct ed_rag *rag, add_t *a, ed_markup_kind_t kind)
{
    char title[512] = "", source[ED_RAG_SOURCE_MAX + 1] = "", force[8] = "";
    int has_title, has_source, has_force, has_collection = ed_api_query_param(req, "collection", a->collection,
                                                                      sizeof a->collection);
    if (has_collection < 0 || (has_title = ed_api_query_param(req, "title", title, sizeof title)) < 0 ||
        (has_source = ed_api_query_param(req, "source", source, sizeof source)) < 0 ||
        (has_force = ed_api_query_param(req, "force", force, sizeof force)) < 0) {
        free(a);
        return;
    }
    ed_param_error_t err = {0};
    bool forced = has_force && (strcmp(force, "true") == 0 || strcmp(force, "1") == 0);
    if (has_force && !forced && strcmp(force, "false") != 0 && strcmp(force, "0") != 0)
        ed_params_fail(&err, "invalid_value", "force", "force: expected true or false, got \"%s\"", force);
    else if (!has_collection)
        ed_params_fail(&err, "missing_field", "collection",
                       "collection: the query parameter is required with a raw body (?collection=NAME)");
    else if (req->body_len == 0)
        ed_params_fail(&err, "invalid_value", "body", "body: the text is empty");
    if (err.code) {
        ed_params_reject(req, &err);
        free(a);
        return;
    }
    a->single = true;
    a->raw = true;
    ed_rag_doc_in_t doc = {.title = has_title ? title : NULL, .source = has_source ? source : NULL,
                           .body = req->body, .len = req->body_len, .kind = kind, .force = forced};
    ed_rag_caller_t who = ed_api_caller(req);
    char detail[ED_ERR_LEN] = "";
    int rc = ed_rag_ingest(rag, &who, a->collection, &doc, 1, on_added, a, detail);
    if (rc != 0) {
        char param[64];
        error_param(a, detail, param, sizeof param);
        ed_api_store_failed(req, rc, param, detail);
        free(a);
    }
}

void ed_api_documents_add(ed_request_t *req)
{
    struct ed_rag *rag = ed_api_require_store(req);
    if (!rag)
        return;
    const char *type = ed_request_header(req, "Content-Type");
    ed_markup_kind_t kind = ED_MARKUP_PLAIN;
    bool json = !type || strncasecmp(type, "application/json", 16) == 0;
    if (!json && ed_markup_kind_from_content_type(type, &kind) != 0) {
        ed_http_error(req, 415, "unsupported_media_type",
                      "Content-Type \"%.64s\" is not accepted: send application/json, or text/plain, "
                      "text/markdown or text/html in UTF-8",
                      type);
        return;
    }
    add_t *a = calloc(1, sizeof *a);
    if (!a) {
        ed_http_error(req, 500, "internal_error", "out of memory");
        return;
    }
    a->req = req;
    if (json)
        add_json(req, rag, a);
    else
        add_raw(req, rag, a, kind);
}

/* ------------------------------------------------------ list, get, rm --- */

static json_t *doc_json(const ed_rag_doc_t *d)
{
    json_t *metadata = d->metadata_json ? json_loads(d->metadata_json, 0, NULL) : NULL;
    json_t *o = json_pack("{s:I,s:s,s:o,s:o,s:o,s:i,s:i,s:i,s:I}", "id", (json_int_t)d->id, "collection",
                          d->collection, "title", ed_params_text(d->title ? d->title : "", d->title ? strlen(d->title) : 0),
                          "source", ed_params_text(d->source ? d->source : "", d->source ? strlen(d->source) : 0),
                          "metadata", metadata ? metadata : json_null(), "chunks", d->n_chunks, "tokens",
                          d->n_tokens, "version", d->version, "created", (json_int_t)d->created);
    if (o && d->text)
        json_object_set_new(o, "text", ed_params_text(d->text, d->text_len));
    return o;
}

static void on_listed(int rc, const char *err, const ed_rag_doc_t *docs, int n, int64_t next_after, void *arg)
{
    ed_request_t *req = arg;
    if (rc != 0) {
        ed_api_store_failed(req, rc, "collection", err);
        return;
    }
    json_t *data = json_array();
    for (int i = 0; data && i < n; i++)
        json_array_append_new(data, doc_json(&docs[i]));
    json_t *body = json_pack("{s:s,s:o,s:o,s:b}", "object", "list", "data", data, "next_after",
                             next_after ? json_integer(next_after) : json_null(), "has_more", next_after != 0);
    if (body)
        ed_http_respond_json(req, 200, body);
    else
        ed_http_error(req, 500, "internal_error", "out of memory building the answer");
}

void ed_api_documents_list(ed_request_t *req)
{
    struct ed_rag *rag = ed_api_require_store(req);
    if (!rag)
        return;
    char collection[256];
    int64_t after = 0, limit = LIST_DEFAULT;
    int has_collection = ed_api_query_param(req, "collection", collection, sizeof collection);
    if (has_collection < 0 || read_int_param(req, "after", 0, INT64_MAX, &after) < 0 ||
        read_int_param(req, "limit", 1, 1000, &limit) < 0)
        return;
    ed_rag_caller_t who = ed_api_caller(req);
    char detail[ED_ERR_LEN] = "";
    int rc = ed_rag_list(rag, &who, has_collection ? collection : NULL, after, (int)limit, on_listed, req, detail);
    if (rc != 0)
        ed_api_store_failed(req, rc, "collection", detail);
}

/* The {id} of the path: a positive integer, else 404 answered (-1). */
static int64_t path_id(ed_request_t *req)
{
    char buf[24];
    size_t n = req->params[0].len;
    char *end = NULL;
    long long v = 0;
    if (n > 0 && n < sizeof buf) {
        memcpy(buf, req->params[0].ptr, n);
        buf[n] = '\0';
        v = strtoll(buf, &end, 10);
    }
    if (!end || *end || v <= 0) {
        ed_http_error(req, 404, "not_found", "document \"%.*s\" does not exist: ids are positive integers",
                      (int)(n > 64 ? 64 : n), req->params[0].ptr);
        return -1;
    }
    return v;
}

static void on_got(int rc, const char *err, const ed_rag_doc_t *docs, int n, int64_t next_after, void *arg)
{
    (void)next_after;
    ed_request_t *req = arg;
    if (rc != 0 || n != 1) {
        ed_api_store_failed(req, rc ? rc : ED_ENOENT, "id", err);
        return;
    }
    json_t *body = doc_json(&docs[0]);
    if (body)
        ed_http_respond_json(req, 200, body);
    else
        ed_http_error(req, 500, "internal_error", "out of memory building the answer");
}

void ed_api_documents_get(ed_request_t *req)
{
    struct ed_rag *rag = ed_api_require_store(req);
    if (!rag)
        return;
    int64_t id = path_id(req);
    if (id < 0)
        return;
    char text[8];
    int has_text = ed_api_query_param(req, "text", text, sizeof text);
    if (has_text < 0)
        return;
    bool with_text = has_text && (strcmp(text, "true") == 0 || strcmp(text, "1") == 0);
    if (has_text && !with_text && strcmp(text, "false") != 0 && strcmp(text, "0") != 0) {
        ed_param_error_t err = {.code = "invalid_value", .param = "text"};
        snprintf(err.message, sizeof err.message, "text: expected true or false, got \"%s\"", text);
        ed_params_reject(req, &err);
        return;
    }
    ed_rag_caller_t who = ed_api_caller(req);
    char detail[ED_ERR_LEN] = "";
    int rc = ed_rag_get(rag, &who, id, with_text, on_got, req, detail);
    if (rc != 0)
        ed_api_store_failed(req, rc, "id", detail);
}

typedef struct {
    ed_request_t *req;
    int64_t id;
} delete_t;

static void on_deleted(int rc, const char *err, void *arg)
{
    delete_t *d = arg;
    if (rc != 0) {
        ed_api_store_failed(d->req, rc, "id", err);
    } else {
        ed_api_adapt_forget(d->req->app, d->id, NULL); /* checkpoints and stale adapters (adapt.on_stale) */
        ed_http_respond_json(d->req, 200, json_pack("{s:I,s:b}", "id", (json_int_t)d->id, "deleted", 1));
    }
    free(d);
}

void ed_api_documents_delete(ed_request_t *req)
{
    struct ed_rag *rag = ed_api_require_store(req);
    if (!rag)
        return;
    int64_t id = path_id(req);
    if (id < 0)
        return;
    delete_t *d = malloc(sizeof *d);
    if (!d) {
        ed_http_error(req, 500, "internal_error", "out of memory");
        return;
    }
    *d = (delete_t){req, id};
    ed_rag_caller_t who = ed_api_caller(req);
    char detail[ED_ERR_LEN] = "";
    int rc = ed_rag_delete(rag, &who, id, on_deleted, d, detail);
    if (rc != 0) {
        ed_api_store_failed(req, rc, "id", detail);
        free(d);
    }
}
