/* adapters.h - the adapter registry and its endpoints: LoRA adapters kept
 * sealed in the store (store/store.h, its second handle), loaded against the
 * served base once (engine/engine.h's counted ed_engine_adapter_t), named by
 * id, name or name@version, one of them active (the default of requests
 * that name none, persisted). Imports, exports and deletions do their disk
 * and parsing work on libuv's pool; the list itself lives on the loop
 * thread, so a lookup for a request never waits. A deleted adapter's memory
 * goes when the last job using it ends. Loop thread only. */
#ifndef ED_API_ADAPTERS_H
#define ED_API_ADAPTERS_H

#include "core/config.h"
#include "engine/engine.h"
#include "http/request.h"
#include "model/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct ed_adapters ed_adapters_t;

/* Whether name (len bytes) may name an adapter: 1 to 64 of letters,
 * digits, '.', '_' and '-', neither "none", "deactivate" nor shaped like an
 * adapter id; else false with err naming the field ("name: ..."). */
bool ed_adapters_name_valid(const char *name, size_t len, char err[ED_ERR_LEN]);

/* Starts opening the registry under cfg->state.directory (after the store
 * opened once: it made the data key and ran the migrations): rows are read
 * and every adapter made for `base` is loaded, on the pool. Until done,
 * ed_adapters_opening says so (/health is "starting"). 0 or ED_ENOMEM. */
int ed_adapters_open(ed_adapters_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base,
                     char err[ED_ERR_LEN]);
/* Releases the registry's references (jobs keep theirs); work in flight
 * finishes first, then frees. Accepts NULL. */
void ed_adapters_close(ed_adapters_t *reg);
bool ed_adapters_opening(const ed_adapters_t *reg);

/* The adapter a generation request asks for: spec (len bytes) is an id, a
 * name (its active version if the active adapter has that name, else its
 * newest usable one), name@version, or "none"; NULL: the active adapter, if
 * any. 0 with *out (a new reference, NULL for none) or an ED_E* code with
 * err: ED_ENOENT (no such adapter), ED_ESTATE (not usable: incompatible,
 * failed), ED_EAGAIN (the registry is opening). reg may be NULL (no store):
 * only "none" and NULL resolve. */
int ed_adapters_pick(ed_adapters_t *reg, const char *spec, size_t len, ed_engine_adapter_t **out,
                     char err[ED_ERR_LEN]);
/* Names for /v1/models: fn(name) for every usable adapter's name, once each. */
void ed_adapters_names(ed_adapters_t *reg, void (*fn)(const char *name, void *arg), void *arg);
/* Counts requests and generated tokens per adapter (GET /v1/adapters). */
void ed_adapters_count(ed_adapters_t *reg, const ed_engine_adapter_t *a, int requests, int tokens);

/* Loads adapter id, stored meanwhile by another handle (a training job),
 * into the list (on the pool; appended on the loop thread), then calls
 * done(arg) on the loop thread (also when there is nothing to load). */
void ed_adapters_add_stored(ed_adapters_t *reg, const char *id, void (*done)(void *arg), void *arg);
/* Marks adapter id stale (a document it was trained on went); with
 * unserve it also stops answering (requests naming it get 400, the active
 * mark is dropped) until restart re-reads the policy. */
void ed_adapters_mark_stale(ed_adapters_t *reg, const char *id, bool unserve);

/* Handlers (routes.c). */
void ed_api_adapters_list(ed_request_t *req);
void ed_api_adapters_import(ed_request_t *req);
void ed_api_adapters_get(ed_request_t *req);
void ed_api_adapters_file(ed_request_t *req);
void ed_api_adapters_activate(ed_request_t *req);
void ed_api_adapters_deactivate(ed_request_t *req);
void ed_api_adapters_delete(ed_request_t *req);

#endif
