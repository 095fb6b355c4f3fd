/* adapters.c - the adapter registry (api/adapters.h) and its endpoints:
 * GET/POST /v1/adapters, GET /v1/adapters/{id}, GET /v1/adapters/{id}/file,
 * POST /v1/adapters/{id}/activate, POST /v1/adapters/deactivate, DELETE
 * /v1/adapters/{id}. The list of entries belongs to the loop thread; the
 * store handle (one thread at a time: the mutex) and the parsing run on the
 * pool. Every usable adapter is held loaded (adapters are small); jobs take
 * their own references, so an entry deleted mid-stream lives until the
 * stream ends. */
#include "api/adapters.h"
#include "api/api.h"
#include "api/documents.h"
#include "api/params.h"
#include "api/status.h"
#include "api/work.h"
#include "core/log.h"
#include "core/metrics.h"
#include "model/gguf.h"
#include "model/lora.h"
#include "store/store.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 64

typedef struct {
    ed_adapter_row_t row;
    ed_engine_adapter_t *handle; /* the registry's reference; NULL: not loaded (see why) */
    bool incompatible;           /* made for another base than the one served */
    bool failed;                 /* its file did not load */
    bool stale;                  /* a document it was trained on was deleted */
    bool unserved;               /* stale under adapt.on_stale = unserve or retrain: not usable */
    char why[256];
    uint64_t requests, tokens;
} entry_t;

typedef enum { REG_OPENING, REG_OPEN, REG_FAILED } reg_state_t;

struct ed_adapters {
    uv_loop_t *loop;
    ed_base_t *base;
    char state_dir[PATH_MAX], key_file[PATH_MAX];
    pthread_mutex_t mutex; /* guards store */
    ed_store_t *store;
    bool have_base;
    char fingerprint[ED_LORA_FINGERPRINT_LEN];
    reg_state_t state; /* loop thread: the pool's opening reads none of the list until it is OPEN */
    int open_rc;       /* what the opening (pool thread) came to */
    char reason[ED_ERR_LEN];
    entry_t *entries;
    int n, cap;
    char active[32]; /* "" none */
    bool unserve_stale; /* adapt.on_stale is not keep */
    int in_flight;   /* pool work holding reg */
    bool closing;
    uv_work_t open_work;
};

/* -------------------------------------------------------------- list --- */

static void render_metrics(ed_buf_t *out, void *arg);

static void reg_free(ed_adapters_t *reg)
{
    ed_metrics_unregister(render_metrics, reg);
    for (int i = 0; i < reg->n; i++)
        ed_engine_adapter_release(reg->entries[i].handle);
    free(reg->entries);
    ed_store_close(reg->store);
    pthread_mutex_destroy(&reg->mutex);
    free(reg);
}

/* A pool job ended (loop thread): frees a closed registry after its last. */
static bool reg_unhold(ed_adapters_t *reg)
{
    reg->in_flight--;
    if (reg->closing && reg->in_flight == 0) {
        reg_free(reg);
        return true;
    }
    return reg->closing;
}

static bool usable(const entry_t *e)
{
    return e->handle && !e->incompatible && !e->failed && !e->unserved;
}

static const char *status_of(const ed_adapters_t *reg, const entry_t *e)
{
    return e->incompatible                   ? "incompatible"
           : e->failed || !e->handle         ? "failed"
           : e->stale                        ? "stale"
           : strcmp(reg->active, e->row.id) == 0 ? "active"
                                             : "ready";
}

static int append(ed_adapters_t *reg, const entry_t *e)
{
    if (reg->n == reg->cap) {
        int cap = reg->cap ? reg->cap * 2 : 8;
        entry_t *grown = realloc(reg->entries, (size_t)cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        reg->entries = grown;
        reg->cap = cap;
    }
    reg->entries[reg->n++] = *e;
    return 0;
}

static entry_t *by_id(ed_adapters_t *reg, const char *id)
{
    for (int i = 0; i < reg->n; i++)
        if (strcmp(reg->entries[i].row.id, id) == 0)
            return &reg->entries[i];
    return NULL;
}

/* An id, name@version, or a name: its active version when the active
 * adapter has that name, else its newest usable one (else its newest). */
static entry_t *find(ed_adapters_t *reg, const char *spec, size_t len)
{
    char s[160];
    if (len == 0 || len >= sizeof s)
        return NULL;
    memcpy(s, spec, len);
    s[len] = '\0';
    entry_t *e = by_id(reg, s);
    if (e)
        return e;
    char *at = strrchr(s, '@');
    long version = 0;
    if (at) {
        char *end;
        version = strtol(at + 1, &end, 10);
        if (at[1] == '\0' || *end || version < 1)
            return NULL;
        *at = '\0';
    }
    entry_t *best = NULL;
    for (int i = 0; i < reg->n; i++) {
        entry_t *c = &reg->entries[i];
        if (strcmp(c->row.name, s) != 0)
            continue;
        if (at) {
            if (c->row.version == version)
                return c;
            continue;
        }
        if (strcmp(reg->active, c->row.id) == 0)
            return c;
        if (!best || (usable(c) && (!usable(best) || c->row.version > best->row.version)) ||
            (!usable(c) && !usable(best) && c->row.version > best->row.version))
            best = c;
    }
    return best;
}

static json_t *entry_json(const ed_adapters_t *reg, const entry_t *e)
{
    json_t *targets = json_array();
    char t[sizeof e->row.targets];
    snprintf(t, sizeof t, "%s", e->row.targets);
    for (char *save = NULL, *tok = strtok_r(t, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(targets, json_string(tok));
    json_t *o = json_pack("{s:s,s:s,s:o,s:i,s:s,s:i,s:o,s:o,s:I,s:I,s:s,s:s,s:b,s:I,s:I}", "id", e->row.id, "object",
                          "adapter", "name", ed_params_text(e->row.name, strlen(e->row.name)), "version",
                          e->row.version, "base_fingerprint", e->row.fingerprint, "rank", e->row.rank, "alpha",
                          e->row.has_alpha ? json_real(e->row.alpha) : json_null(), "targets", targets, "size",
                          (json_int_t)e->row.size, "created", (json_int_t)e->row.created, "source", e->row.source,
                          "status", status_of(reg, e), "active", strcmp(reg->active, e->row.id) == 0, "requests",
                          (json_int_t)e->requests, "tokens", (json_int_t)e->tokens);
    if (o && e->why[0])
        json_object_set_new(o, "reason", ed_params_text(e->why, strlen(e->why)));
    return o;
}

/* /metrics: the active adapter, requests and tokens per adapter (since
 * start; names are [A-Za-z0-9._-], safe as label values). */
static void render_metrics(ed_buf_t *out, void *arg)
{
    const ed_adapters_t *reg = arg;
    if (reg->state != REG_OPEN)
        return;
    ed_buf_printf(out, "# HELP edged_adapter_active The active adapter: 1 for it, by name and version.\n"
                       "# TYPE edged_adapter_active gauge\n");
    for (int i = 0; i < reg->n; i++)
        if (strcmp(reg->active, reg->entries[i].row.id) == 0)
            ed_buf_printf(out, "edged_adapter_active{name=\"%s\",version=\"%d\"} 1\n", reg->entries[i].row.name,
                          reg->entries[i].row.version);
    ed_buf_printf(out, "# HELP edged_adapters Adapters stored, by status.\n# TYPE edged_adapters gauge\n");
    static const char *const statuses[] = {"ready", "active", "stale", "failed", "incompatible"};
    for (size_t k = 0; k < sizeof statuses / sizeof statuses[0]; k++) {
        int n = 0;
        for (int i = 0; i < reg->n; i++)
            n += strcmp(status_of(reg, &reg->entries[i]), statuses[k]) == 0;
        ed_buf_printf(out, "edged_adapters{status=\"%s\"} %d\n", statuses[k], n);
    }
    ed_buf_printf(out, "# HELP edged_adapter_requests_total Generation requests answered with an adapter.\n"
                       "# TYPE edged_adapter_requests_total counter\n");
    for (int i = 0; i < reg->n; i++)
        ed_buf_printf(out, "edged_adapter_requests_total{name=\"%s\",version=\"%d\"} %llu\n",
                      reg->entries[i].row.name, reg->entries[i].row.version,
                      (unsigned long long)reg->entries[i].requests);
    ed_buf_printf(out, "# HELP edged_adapter_tokens_total Tokens generated with an adapter.\n"
                       "# TYPE edged_adapter_tokens_total counter\n");
    for (int i = 0; i < reg->n; i++)
        ed_buf_printf(out, "edged_adapter_tokens_total{name=\"%s\",version=\"%d\"} %llu\n",
                      reg->entries[i].row.name, reg->entries[i].row.version,
                      (unsigned long long)reg->entries[i].tokens);
}

/* ------------------------------------------------------------ loading --- */

static void targets_of(const ed_lora_t *lora, char *out, size_t cap)
{
    static const char *const roles[ED_LORA_PER_LAYER] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                         "ffn_gate", "ffn_up", "ffn_down"};
    size_t at = 0;
    out[0] = '\0';
    for (int r = 0; r < ED_LORA_PER_LAYER; r++)
        for (int l = 0; l < lora->n_layer; l++)
            if (ed_lora_block(lora, l, (ed_lora_role_t)r)) {
                at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, "%s%s", at ? "," : "", roles[r]);
                break;
            }
    if (ed_lora_token_embd(lora))
        at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, "%s%s", at ? "," : "", "token_embd");
    if (ed_lora_output(lora))
        snprintf(out + at, at < cap ? cap - at : 0, "%s%s", at ? "," : "", "output");
}

/* Parses a GGUF adapter against the served base; a rank the engine cannot
 * serve is refused here, at import, not at the first request. */
static int parse(const ed_adapters_t *reg, const void *data, size_t len, ed_lora_t **out, char err[ED_ERR_LEN])
{
    ed_gguf_t *g = NULL;
    char sub[ED_ERR_LEN];
    *out = NULL;
    int rc = ed_gguf_open_memory(&g, data, len, sub);
    if (rc == 0)
        rc = ed_lora_load(out, g, ed_base_gguf(reg->base), ed_base_model(reg->base), sub);
    ed_gguf_close(g);
    if (rc != 0)
        return ed_errf(err, rc, "%s", sub);
    if ((*out)->max_rank > ED_ENGINE_ADAPTER_MAX_RANK) {
        rc = ed_errf(err, ED_EINVAL, "rank %d: the engine serves adapters of rank %d at most", (*out)->max_rank,
                     ED_ENGINE_ADAPTER_MAX_RANK);
        ed_lora_free(*out);
        *out = NULL;
    }
    return rc;
}

static void label_of(const ed_adapter_row_t *row, char out[160])
{
    snprintf(out, 160, "%s@%d", row->name, row->version);
}

/* Loads one stored adapter (pool thread, mutex held). */
static void load_entry(ed_adapters_t *reg, entry_t *e)
{
    char err[ED_ERR_LEN], label[160];
    bool stale = false;
    if (ed_store_adapter_stale(reg->store, e->row.id, &stale, err) == 0)
        e->stale = stale;
    e->unserved = e->stale && reg->unserve_stale;
    if (e->unserved)
        snprintf(e->why, sizeof e->why, "a document it was trained on was deleted (adapt.on_stale)");
    if (!reg->have_base || strcmp(e->row.fingerprint, reg->fingerprint) != 0) {
        e->incompatible = true;
        snprintf(e->why, sizeof e->why, "made for the base %s; the base served is %s", e->row.fingerprint,
                 reg->have_base ? reg->fingerprint : "none");
        return;
    }
    if (strcmp(e->row.status, "failed") == 0) {
        e->failed = true;
        snprintf(e->why, sizeof e->why, "recorded as failed");
        return;
    }
    void *data = NULL;
    size_t len = 0;
    ed_lora_t *lora = NULL;
    int rc = ed_store_adapter_read(reg->store, e->row.id, &data, &len, err);
    if (rc == 0)
        rc = parse(reg, data, len, &lora, err);
    free(data);
    label_of(&e->row, label);
    if (rc == 0 && !(e->handle = ed_engine_adapter_new(lora, label)))
        rc = ed_errf(err, ED_ENOMEM, "out of memory");
    if (rc != 0) {
        e->failed = true;
        snprintf(e->why, sizeof e->why, "%.250s", err);
        ed_log_warn("adapters: %s (%s) does not load: %s", label, e->row.id, err);
    }
}

static void open_run(uv_work_t *work)
{
    ed_adapters_t *reg = work->data;
    char err[ED_ERR_LEN] = "";
    int rc = ed_store_open_adapters(&reg->store, reg->state_dir, reg->key_file, err);
    if (rc == 0 && reg->base && ed_base_load(reg->base, NULL, err) == 0) {
        reg->have_base = true;
        ed_lora_fingerprint(ed_base_gguf(reg->base), reg->fingerprint);
    }
    ed_adapter_row_t *rows = NULL;
    int n = 0;
    if (rc == 0 && (rc = ed_store_adapters_list(reg->store, &rows, &n, err)) == 0)
        rc = ed_store_adapter_get_active(reg->store, reg->active, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        entry_t e = {.row = rows[i]};
        load_entry(reg, &e);
        if ((rc = append(reg, &e)) != 0) {
            ed_engine_adapter_release(e.handle);
            snprintf(err, ED_ERR_LEN, "out of memory");
        }
    }
    free(rows);
    if (rc != 0)
        snprintf(reg->reason, sizeof reg->reason, "the adapter registry did not open: %s", err);
    reg->open_rc = rc; /* the state changes on the loop thread, which reads it */
}

static void open_after(uv_work_t *work, int status)
{
    (void)status;
    ed_adapters_t *reg = work->data;
    reg->state = reg->open_rc == 0 ? REG_OPEN : REG_FAILED;
    if (reg_unhold(reg))
        return;
    if (reg->state == REG_FAILED) {
        ed_log_error("adapters: %s", reg->reason);
        return;
    }
    int n_usable = 0;
    for (int i = 0; i < reg->n; i++)
        n_usable += usable(&reg->entries[i]);
    entry_t *active = reg->active[0] ? by_id(reg, reg->active) : NULL;
    ed_log_info("adapters: %d stored, %d usable with this base; active: %s", reg->n, n_usable,
                active ? active->row.name : "none");
}

int ed_adapters_open(ed_adapters_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base,
                     char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_adapters_t *reg = calloc(1, sizeof *reg);
    if (!reg)
        return ed_errf(err, ED_ENOMEM, "out of memory for the adapter registry");
    pthread_mutex_init(&reg->mutex, NULL);
    reg->loop = loop;
    reg->base = base;
    reg->state = REG_OPENING;
    snprintf(reg->state_dir, sizeof reg->state_dir, "%s", cfg->state.directory);
    snprintf(reg->key_file, sizeof reg->key_file, "%s", cfg->store.key_file);
    reg->unserve_stale = strcmp(cfg->adapt.on_stale, "keep") != 0;
    reg->open_work.data = reg;
    reg->in_flight = 1;
    ed_metrics_register(render_metrics, reg);
    if (uv_queue_work(loop, &reg->open_work, open_run, open_after) != 0) {
        reg_free(reg);
        return ed_errf(err, ED_ENOMEM, "could not queue the adapter registry's opening");
    }
    *out = reg;
    return 0;
}

void ed_adapters_close(ed_adapters_t *reg)
{
    if (!reg)
        return;
    reg->closing = true;
    if (reg->in_flight == 0)
        reg_free(reg);
}

bool ed_adapters_opening(const ed_adapters_t *reg)
{
    return reg && reg->state == REG_OPENING;
}

/* ---------------------------------------------------------- requests --- */

int ed_adapters_pick(ed_adapters_t *reg, const char *spec, size_t len, ed_engine_adapter_t **out,
                     char err[ED_ERR_LEN])
{
    *out = NULL;
    if (spec && len == 4 && memcmp(spec, "none", 4) == 0)
        return 0;
    if (!reg || reg->state != REG_OPEN) {
        if (reg && reg->state == REG_OPENING)
            return ed_errf(err, ED_EAGAIN, "the adapters are loading");
        if (!spec)
            return 0; /* no registry: the base answers */
        return ed_errf(err, ED_ESTATE, "%s", reg ? reg->reason : "there is no adapter registry (no store)");
    }
    entry_t *e = spec ? find(reg, spec, len) : (reg->active[0] ? by_id(reg, reg->active) : NULL);
    if (!e) {
        if (!spec)
            return 0;
        return ed_errf(err, ED_ENOENT, "adapter \"%.*s\" does not exist (GET /v1/adapters lists them)",
                       len > 128 ? 128 : (int)len, spec);
    }
    if (!usable(e)) {
        if (!spec)
            return 0; /* an active adapter the base no longer fits: the base answers */
        return ed_errf(err, ED_EINVAL, "adapter %s@%d is %s: %s", e->row.name, e->row.version, status_of(reg, e),
                       e->why);
    }
    ed_engine_adapter_retain(e->handle);
    *out = e->handle;
    return 0;
}

void ed_adapters_names(ed_adapters_t *reg, void (*fn)(const char *name, void *arg), void *arg)
{
    if (!reg || reg->state != REG_OPEN)
        return;
    for (int i = 0; i < reg->n; i++) {
        const entry_t *e = &reg->entries[i];
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = usable(&reg->entries[j]) && strcmp(reg->entries[j].row.name, e->row.name) == 0;
        if (usable(e) && !seen)
            fn(e->row.name, arg);
    }
}

void ed_adapters_count(ed_adapters_t *reg, const ed_engine_adapter_t *a, int requests, int tokens)
{
    if (!reg || !a || reg->closing || reg->state != REG_OPEN)
        return;
    for (int i = 0; i < reg->n; i++)
        if (reg->entries[i].handle == a) {
            reg->entries[i].requests += (uint64_t)requests;
            reg->entries[i].tokens += (uint64_t)tokens;
        }
}

/* A trained adapter: read and loaded on the pool, appended on the loop. */
typedef struct {
    uv_work_t work;
    ed_adapters_t *reg;
    char id[32];
    bool found;
    entry_t entry;
    void (*done)(void *arg);
    void *done_arg;
} added_t;

static void added_run(uv_work_t *work)
{
    added_t *a = work->data;
    ed_adapters_t *reg = a->reg;
    ed_adapter_row_t *rows = NULL;
    int n = 0;
    char err[ED_ERR_LEN];
    pthread_mutex_lock(&reg->mutex);
    if (ed_store_adapters_list(reg->store, &rows, &n, err) == 0)
        for (int i = 0; i < n && !a->found; i++)
            if (strcmp(rows[i].id, a->id) == 0) {
                a->found = true;
                a->entry.row = rows[i];
                load_entry(reg, &a->entry);
            }
    pthread_mutex_unlock(&reg->mutex);
    free(rows);
}

static void added_after(uv_work_t *work, int status)
{
    (void)status;
    added_t *a = work->data;
    ed_adapters_t *reg = a->reg;
    if (!reg_unhold(reg) && a->found && !by_id(reg, a->id)) {
        if (append(reg, &a->entry) == 0) {
            ed_log_info("adapters: trained %s@%d (%s, rank %d, %s)", a->entry.row.name, a->entry.row.version,
                        a->id, a->entry.row.rank, a->entry.row.targets);
            a->entry.handle = NULL;
        }
    }
    ed_engine_adapter_release(a->entry.handle);
    if (a->done)
        a->done(a->done_arg);
    free(a);
}

void ed_adapters_add_stored(ed_adapters_t *reg, const char *id, void (*done)(void *arg), void *arg)
{
    added_t *a = reg && !reg->closing && reg->state == REG_OPEN ? calloc(1, sizeof *a) : NULL;
    if (!a) { /* an opening registry reads every row itself */
        if (done)
            done(arg);
        return;
    }
    a->done = done;
    a->done_arg = arg;
    a->reg = reg;
    a->work.data = a;
    snprintf(a->id, sizeof a->id, "%s", id);
    reg->in_flight++;
    if (uv_queue_work(reg->loop, &a->work, added_run, added_after) != 0) {
        reg->in_flight--;
        free(a);
        if (done)
            done(arg);
    }
}

void ed_adapters_mark_stale(ed_adapters_t *reg, const char *id, bool unserve)
{
    entry_t *e = reg && reg->state == REG_OPEN ? by_id(reg, id) : NULL;
    if (!e || (e->stale && e->unserved == unserve))
        return;
    e->stale = true;
    if (unserve) {
        e->unserved = true;
        snprintf(e->why, sizeof e->why, "a document it was trained on was deleted (adapt.on_stale)");
        if (strcmp(reg->active, id) == 0)
            reg->active[0] = '\0'; /* the base answers; the stored mark is dropped at the next start */
    }
    ed_log_info("adapters: %s@%d (%s) is stale%s", e->row.name, e->row.version, id,
                unserve ? " and no longer served" : "");
}

/* ---------------------------------------------------------- handlers --- */

/* The open registry, or NULL after answering 503. */
static ed_adapters_t *require(ed_request_t *req, bool need_base)
{
    ed_app_t *app = req->app;
    ed_adapters_t *reg = app->adapters;
    if (!reg) {
        ed_api_fail(req, ED_ESTATE, ED_API_STORE, NULL,
                    "the adapter registry is not open: the personal store did not open (the daemon's log says why)");
        return NULL;
    }
    if (reg->state == REG_OPENING) {
        ed_api_fail(req, ED_EAGAIN, ED_API_STORE, NULL, "the adapter registry is opening");
        return NULL;
    }
    if (reg->state == REG_FAILED) {
        ed_api_fail(req, ED_ESTATE, ED_API_STORE, NULL, "%s", reg->reason);
        return NULL;
    }
    if (need_base && !reg->have_base) {
        ed_api_fail(req, ED_ESTATE, ED_API_MODEL, NULL, "no model is served: adapters need a base model");
        return NULL;
    }
    return reg;
}

/* The entry {id} names (an id, name@version or name), or NULL after a 404. */
static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static entry_t *require_entry(ed_request_t *req, ed_adapters_t *reg)
{
    const ed_route_param_t *p = &req->params[0];
    char spec[160];
    size_t n = 0;
    bool ok = true;
    /* the segment percent-decoded (clients escape '@') */
    for (size_t i = 0; i < p->len && ok; i++) {
        int c = (unsigned char)p->ptr[i];
        if (c == '%') {
            int hi = i + 2 < p->len ? hex_value(p->ptr[i + 1]) : -1, lo = hi >= 0 ? hex_value(p->ptr[i + 2]) : -1;
            ok = hi >= 0 && lo >= 0;
            c = hi * 16 + lo;
            i += 2;
        }
        ok = ok && c != 0 && n + 1 < sizeof spec;
        if (ok)
            spec[n++] = (char)c;
    }
    entry_t *e = ok ? find(reg, spec, n) : NULL;
    if (!e)
        ed_api_fail(req, ED_ENOENT, ED_API_STORE, NULL, "adapter \"%.*s\" does not exist",
                    p->len > 128 ? 128 : (int)p->len, p->ptr);
    return e;
}

static void conflict(ed_request_t *req, const char *code, const char *param, const char *message)
{
    json_t *body = json_pack("{s:{s:o,s:s,s:s*,s:s}}", "error", "message", ed_params_text(message, strlen(message)),
                             "type", "invalid_request_error", "param", param, "code", code);
    ed_http_respond_json(req, 409, body);
}

void ed_api_adapters_list(ed_request_t *req)
{
    ed_adapters_t *reg = require(req, false);
    if (!reg)
        return;
    json_t *data = json_array();
    for (int i = 0; i < reg->n; i++)
        json_array_append_new(data, entry_json(reg, &reg->entries[i]));
    ed_http_respond_json(req, 200,
                         json_pack("{s:s,s:o,s:s*,s:s*}", "object", "list", "data", data, "active",
                                   reg->active[0] ? reg->active : NULL, "base_fingerprint",
                                   reg->have_base ? reg->fingerprint : NULL));
}

void ed_api_adapters_get(ed_request_t *req)
{
    ed_adapters_t *reg = require(req, false);
    entry_t *e = reg ? require_entry(req, reg) : NULL;
    if (e)
        ed_http_respond_json(req, 200, entry_json(reg, e));
}

/* One pool job of a handler: what it needs, what it did. */
typedef struct {
    ed_adapters_t *reg;
    const char *body; /* import: the request's (alive until answered) */
    size_t len;
    char name[NAME_MAX_LEN + 1];
    char id[32];
    int rc;
    char err[ED_ERR_LEN];
    entry_t entry;    /* import: the new one */
    void *data;       /* export: the plain file */
    size_t data_len;
} job_t;

static job_t *job_new(ed_request_t *req, ed_adapters_t *reg)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return NULL;
    }
    j->reg = reg;
    reg->in_flight++;
    return j;
}

/* Ends a job on the loop thread: false when the registry closed meanwhile
 * (the request is answered and j freed). Otherwise the caller applies what
 * the job did to the list even for a client that left (the store has it),
 * and answers through reply / reply_error, which know about `gone`. */
static bool job_end(ed_request_t *req, job_t *j, bool gone)
{
    if (!reg_unhold(j->reg))
        return true;
    if (gone)
        ed_api_end_gone(req);
    else
        ed_api_fail(req, ED_ECANCELED, ED_API_STORE, NULL, "the daemon is stopping");
    ed_engine_adapter_release(j->entry.handle);
    free(j->data);
    free(j);
    return false;
}

static void reply(ed_request_t *req, bool gone, int status, json_t *body)
{
    if (gone) {
        json_decref(body);
        ed_api_end_gone(req);
    } else {
        ed_http_respond_json(req, status, body);
    }
}

static void reply_error(ed_request_t *req, bool gone, const job_t *j)
{
    if (gone)
        ed_api_end_gone(req);
    else
        ed_api_fail(req, j->rc, ED_API_STORE, j->rc == ED_EINVAL ? "body" : NULL, "%s", j->err);
}

bool ed_adapters_name_valid(const char *name, size_t n, char err[ED_ERR_LEN])
{
    if (n == 0 || n > NAME_MAX_LEN)
        return ed_errf(err, ED_EINVAL, "name: 1 to %d characters, got %zu", NAME_MAX_LEN, n), false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return ed_errf(err, ED_EINVAL, "name: \"%.*s\" has '%c'; use letters, digits, '.', '_' and '-'", (int)n,
                           name, c),
                   false;
    }
    if ((n == 4 && memcmp(name, "none", 4) == 0) || (n == 10 && memcmp(name, "deactivate", 10) == 0) ||
        (n == 15 && memcmp(name, "ad-", 3) == 0))
        return ed_errf(err, ED_EINVAL, "name: \"%.*s\" is reserved (\"none\", \"deactivate\" and adapter ids)", (int)n,
                       name),
               false;
    return true;
}

static void import_run(void *arg)
{
    job_t *j = arg;
    ed_adapters_t *reg = j->reg;
    ed_lora_t *lora = NULL;
    char sub[ED_ERR_LEN];
    if ((j->rc = parse(reg, j->body, j->len, &lora, sub)) != 0) {
        ed_errf(j->err, j->rc, "the adapter does not fit the served model: %s", sub);
        j->rc = ED_EINVAL;
        return;
    }
    ed_adapter_row_t *row = &j->entry.row;
    snprintf(row->name, sizeof row->name, "%s", j->name[0] ? j->name : lora->name);
    if (!row->name[0]) {
        j->rc = ed_errf(j->err, ED_EINVAL, "name: give ?name=NAME (the file has no edged.adapter.name)");
    } else if (ed_adapters_name_valid(row->name, strlen(row->name), j->err)) {
        snprintf(row->fingerprint, sizeof row->fingerprint, "%s", reg->fingerprint);
        row->rank = lora->max_rank;
        row->has_alpha = lora->has_alpha;
        row->alpha = lora->alpha;
        targets_of(lora, row->targets, sizeof row->targets);
        snprintf(row->source, sizeof row->source, "imported");
        snprintf(row->status, sizeof row->status, "ready");
        pthread_mutex_lock(&reg->mutex);
        j->rc = ed_store_adapter_add(reg->store, row, j->body, j->len, j->err);
        pthread_mutex_unlock(&reg->mutex);
        if (j->rc == 0) {
            char label[160];
            label_of(row, label);
            j->entry.handle = ed_engine_adapter_new(lora, label);
            lora = NULL;
            if (!j->entry.handle)
                j->rc = ed_errf(j->err, ED_ENOMEM, "out of memory");
        }
    } else {
        j->rc = ED_EINVAL;
    }
    ed_lora_free(lora);
}

static void import_done(ed_request_t *req, void *arg, bool gone)
{
    job_t *j = arg;
    if (!job_end(req, j, gone))
        return;
    ed_adapters_t *reg = j->reg;
    if (j->rc == 0 && append(reg, &j->entry) != 0)
        j->rc = ed_errf(j->err, ED_ENOMEM, "out of memory");
    if (j->rc != 0) {
        ed_engine_adapter_release(j->entry.handle);
        reply_error(req, gone, j);
    } else {
        ed_log_info("adapters: imported %s@%d (%s, rank %d, %s, %lld bytes)", j->entry.row.name, j->entry.row.version,
                    j->entry.row.id, j->entry.row.rank, j->entry.row.targets, (long long)j->entry.row.size);
        reply(req, gone, 201, entry_json(reg, &reg->entries[reg->n - 1]));
    }
    free(j);
}

void ed_api_adapters_import(ed_request_t *req)
{
    ed_adapters_t *reg = require(req, true);
    if (!reg)
        return;
    char name[NAME_MAX_LEN + 2] = "";
    int has_name = ed_api_query_param(req, "name", name, sizeof name);
    if (has_name < 0)
        return;
    char err[ED_ERR_LEN];
    if (has_name && !ed_adapters_name_valid(name, strlen(name), err)) {
        ed_api_fail(req, ED_EINVAL, ED_API_STORE, "name", "%s", err);
        return;
    }
    if (req->body_len == 0) {
        ed_api_fail(req, ED_EINVAL, ED_API_STORE, "body", "the body must be a LoRA adapter in GGUF format");
        return;
    }
    job_t *j = job_new(req, reg);
    if (!j)
        return;
    j->body = req->body;
    j->len = req->body_len;
    snprintf(j->name, sizeof j->name, "%s", name);
    ed_api_offload(req, import_run, import_done, j);
}

static void file_run(void *arg)
{
    job_t *j = arg;
    pthread_mutex_lock(&j->reg->mutex);
    j->rc = ed_store_adapter_read(j->reg->store, j->id, &j->data, &j->data_len, j->err);
    pthread_mutex_unlock(&j->reg->mutex);
}

static void file_done(ed_request_t *req, void *arg, bool gone)
{
    job_t *j = arg;
    if (!job_end(req, j, gone))
        return;
    if (gone) {
        ed_api_end_gone(req);
    } else if (j->rc != 0) {
        ed_api_fail(req, j->rc, ED_API_STORE, NULL, "%s", j->err);
    } else {
        entry_t *e = by_id(j->reg, j->id);
        char disposition[96];
        snprintf(disposition, sizeof disposition, "attachment; filename=\"%.40s-%d.gguf\"", e ? e->row.name : "adapter",
                 e ? e->row.version : 0);
        ed_http_add_header(req, "Content-Disposition", disposition);
        ed_http_respond(req, 200, "application/octet-stream", j->data, j->data_len);
    }
    free(j->data);
    free(j);
}

void ed_api_adapters_file(ed_request_t *req)
{
    ed_adapters_t *reg = require(req, false);
    entry_t *e = reg ? require_entry(req, reg) : NULL;
    job_t *j = e ? job_new(req, reg) : NULL;
    if (!j)
        return;
    snprintf(j->id, sizeof j->id, "%s", e->row.id);
    ed_api_offload(req, file_run, file_done, j);
}

static void activate_run(void *arg)
{
    job_t *j = arg;
    pthread_mutex_lock(&j->reg->mutex);
    j->rc = ed_store_adapter_set_active(j->reg->store, j->id, j->err);
    pthread_mutex_unlock(&j->reg->mutex);
}

static void activate_done(ed_request_t *req, void *arg, bool gone)
{
    job_t *j = arg;
    if (!job_end(req, j, gone))
        return;
    ed_adapters_t *reg = j->reg;
    if (j->rc != 0) {
        reply_error(req, gone, j);
    } else {
        snprintf(reg->active, sizeof reg->active, "%s", j->id);
        entry_t *e = j->id[0] ? by_id(reg, j->id) : NULL;
        ed_log_info("adapters: active: %s", e ? ed_engine_adapter_label(e->handle) : "none");
        reply(req, gone, 200, e ? entry_json(reg, e) : json_pack("{s:s,s:n}", "object", "adapter.active", "active"));
    }
    free(j);
}

void ed_api_adapters_activate(ed_request_t *req)
{
    ed_adapters_t *reg = require(req, true);
    entry_t *e = reg ? require_entry(req, reg) : NULL;
    if (!e)
        return;
    if (!usable(e)) {
        ed_api_fail(req, ED_EINVAL, ED_API_STORE, "id", "adapter %s@%d is %s and cannot be activated: %s",
                    e->row.name, e->row.version, status_of(reg, e), e->why);
        return;
    }
    job_t *j = job_new(req, reg);
    if (!j)
        return;
    snprintf(j->id, sizeof j->id, "%s", e->row.id);
    ed_api_offload(req, activate_run, activate_done, j);
}

void ed_api_adapters_deactivate(ed_request_t *req)
{
    ed_adapters_t *reg = require(req, false);
    job_t *j = reg ? job_new(req, reg) : NULL;
    if (j)
        ed_api_offload(req, activate_run, activate_done, j); /* j->id "" */
}

static void delete_run(void *arg)
{
    job_t *j = arg;
    pthread_mutex_lock(&j->reg->mutex);
    j->rc = ed_store_adapter_delete(j->reg->store, j->id, j->err);
    pthread_mutex_unlock(&j->reg->mutex);
}

static void delete_done(ed_request_t *req, void *arg, bool gone)
{
    job_t *j = arg;
    if (!job_end(req, j, gone))
        return;
    ed_adapters_t *reg = j->reg;
    if (j->rc != 0 && j->rc != ED_ENOENT) {
        reply_error(req, gone, j);
    } else {
        entry_t *e = by_id(reg, j->id);
        if (e) {
            ed_log_info("adapters: deleted %s@%d (%s)", e->row.name, e->row.version, e->row.id);
            ed_engine_adapter_release(e->handle); /* jobs using it keep theirs */
            memmove(e, e + 1, (size_t)(reg->entries + reg->n - (e + 1)) * sizeof *e);
            reg->n--;
        }
        if (strcmp(reg->active, j->id) == 0)
            reg->active[0] = '\0';
        reply(req, gone, 200, json_pack("{s:s,s:s,s:b}", "id", j->id, "object", "adapter", "deleted", 1));
    }
    free(j);
}

void ed_api_adapters_delete(ed_request_t *req)
{
    ed_adapters_t *reg = require(req, false);
    entry_t *e = reg ? require_entry(req, reg) : NULL;
    if (!e)
        return;
    char force[8] = "";
    int has_force = ed_api_query_param(req, "force", force, sizeof force);
    if (has_force < 0)
        return;
    bool forced = has_force && (strcmp(force, "true") == 0 || strcmp(force, "1") == 0);
    if (has_force && !forced && strcmp(force, "false") != 0 && strcmp(force, "0") != 0) {
        ed_api_fail(req, ED_EINVAL, ED_API_STORE, "force", "force: expected true or false, got \"%s\"", force);
        return;
    }
    if (strcmp(reg->active, e->row.id) == 0 && !forced) {
        char message[320];
        snprintf(message, sizeof message,
                 "adapter %.128s@%d is active: deactivate it first, or delete with ?force=true", e->row.name,
                 e->row.version);
        conflict(req, "adapter_active", "force", message);
        return;
    }
    job_t *j = job_new(req, reg);
    if (!j)
        return;
    snprintf(j->id, sizeof j->id, "%s", e->row.id);
    ed_api_offload(req, delete_run, delete_done, j);
}
