/* collections.c - the personal store's collections (group ingest):
 * GET /v1/collections lists those the caller may read (owner, allow list,
 * embedder, counts); PUT /v1/collections/{name} {allow: [...]} replaces who
 * besides the owner may read one (the owner or root only). */
#include "api/documents.h"

#include "api/api.h"
#include "api/params.h"
#include "rag/rag.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ALLOW 32                /* allow-list entries per collection */
#define ED_STORE_NAME_MAX_PATH 256 /* bytes of {name} kept: longer names are refused by ed_rag_set_access */

static json_t *collection_json(const ed_rag_collection_t *c)
{
    json_t *allow = json_array();
    char copy[sizeof c->allow];
    snprintf(copy, sizeof copy, "%s", c->allow);
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok && allow; tok = strtok_r(NULL, " ", &save))
        json_array_append_new(allow, json_string(tok));
    return json_pack("{s:s,s:s,s:I,s:o,s:s,s:i,s:I,s:I}", "object", "collection", "name", c->name, "owner_uid",
                     (json_int_t)c->owner_uid, "allow", allow ? allow : json_array(), "embedder", c->embedder, "dim",
                     c->dim, "documents", (json_int_t)c->documents, "chunks", (json_int_t)c->chunks);
}

static void on_collections(int rc, const char *err, const ed_rag_collection_t *colls, int n, void *arg)
{
    ed_request_t *req = arg;
    if (rc != 0) {
        ed_api_store_failed(req, rc, "allow", err);
        return;
    }
    json_t *data = json_array();
    for (int i = 0; data && i < n; i++)
        json_array_append_new(data, collection_json(&colls[i]));
    json_t *body = json_pack("{s:s,s:o}", "object", "list", "data", data);
    if (body)
        ed_http_respond_json(req, 200, body);
    else
        ed_http_error(req, 500, "internal_error", "out of memory building the answer");
}

static void on_updated(int rc, const char *err, const ed_rag_collection_t *colls, int n, void *arg)
{
    ed_request_t *req = arg;
    if (rc != 0 || n != 1) {
        ed_api_store_failed(req, rc ? rc : ED_EIO, "allow", err);
        return;
    }
    json_t *body = collection_json(&colls[0]);
    if (body)
        ed_http_respond_json(req, 200, body);
    else
        ed_http_error(req, 500, "internal_error", "out of memory building the answer");
}

void ed_api_collections_list(ed_request_t *req)
{
    struct ed_rag *rag = ed_api_require_store(req);
    if (!rag)
        return;
    ed_rag_caller_t who = ed_api_caller(req);
    char detail[ED_ERR_LEN] = "";
    int rc = ed_rag_collections(rag, &who, on_collections, req, detail);
    if (rc != 0)
        ed_api_store_failed(req, rc, "", detail);
}

/* allow: an array of up to MAX_ALLOW entries ("*", "uid:N", "gid:N"), joined
 * with spaces into out. */
static int read_allow(const json_t *root, char *out, size_t cap, ed_param_error_t *err)
{
    char got[64];
    const json_t *v = json_object_get(root, "allow");
    if (!v || json_is_null(v))
        return ed_params_fail(err, "missing_field", "allow", "allow: this field is required");
    if (!json_is_array(v)) {
        ed_params_describe(v, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "allow", "allow: expected an array of \"*\", \"uid:N\" or "
                              "\"gid:N\" entries, got %s", got);
    }
    if (json_array_size(v) > MAX_ALLOW)
        return ed_params_fail(err, "invalid_value", "allow", "allow: at most %d entries, got %zu", MAX_ALLOW,
                              json_array_size(v));
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *item = json_array_get(v, i);
        char param[32];
        snprintf(param, sizeof param, "allow[%zu]", i);
        if (!json_is_string(item)) {
            ed_params_describe(item, got, sizeof got);
            return ed_params_fail(err, "invalid_type", param, "%s: expected a string, got %s", param, got);
        }
        const char *entry = json_string_value(item);
        size_t n = json_string_length(item);
        if (n == 0 || strlen(entry) != n || strchr(entry, ' ') || len + n + 2 > cap)
            return ed_params_fail(err, "invalid_value", param, "%s: expected \"*\", \"uid:N\" or \"gid:N\"", param);
        if (len)
            out[len++] = ' ';
        memcpy(out + len, entry, n + 1);
        len += n;
    }
    return 0;
}

void ed_api_collections_put(ed_request_t *req)
{
    struct ed_rag *rag = ed_api_require_store(req);
    if (!rag)
        return;
    char name[ED_STORE_NAME_MAX_PATH];
    size_t name_len = req->params[0].len < sizeof name - 1 ? req->params[0].len : sizeof name - 1;
    memcpy(name, req->params[0].ptr, name_len);
    name[name_len] = '\0';
    ed_param_error_t err;
    json_t *root = NULL;
    char allow[512];
    int rc = ed_params_load(req->body, req->body_len, &root, &err);
    if (rc == 0)
        rc = read_allow(root, allow, sizeof allow, &err);
    json_decref(root);
    if (rc != 0) {
        ed_params_refuse(req, rc, &err);
        return;
    }
    ed_rag_caller_t who = ed_api_caller(req);
    char detail[ED_ERR_LEN] = "";
    rc = ed_rag_set_access(rag, &who, name, allow, on_updated, req, detail);
    if (rc != 0)
        ed_api_store_failed(req, rc, rc == ED_EFORMAT && strncmp(detail, "allow", 5) == 0 ? "allow" : "name", detail);
}
