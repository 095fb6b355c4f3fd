/* models.h - the names a request's `model` may give, as GET /v1/models lists
 * them: the chat model's id (model.name or the file name), its GGUF
 * general.name, the alias "default", and for /v1/embeddings the personal
 * store's embedder. A name outside them is a 404 model_not_found in
 * OpenAI's shape; an absent `model` means the chat model. Loop thread only. */
#ifndef ED_API_MODELS_H
#define ED_API_MODELS_H

#include "engine/engine.h"
#include "http/request.h"

#include <stdbool.h>
#include <stddef.h>

#define ED_API_MODEL_ALIAS "default" /* the chat model, whatever its file */
#define ED_API_MAX_MODEL_NAMES 3     /* of the chat model */

/* The chat model's names, its id first: out[0] = model->name, then
 * general.name when it differs and is valid UTF-8, then "default".
 * Returns their number (2 or 3). */
int ed_api_model_names(const ed_engine_model_t *model, const char *out[ED_API_MAX_MODEL_NAMES]);

/* Whether name (len bytes) is one of the chat model's names. */
bool ed_api_model_is_chat(const ed_engine_model_t *model, const char *name, size_t len);

/* Answers 404 {"error": {message, type "invalid_request_error", param
 * "model", code "model_not_found"}}; the message lists the chat model's
 * names and store (may be NULL: the store's embedder, for /v1/embeddings). */
void ed_api_model_not_found(ed_request_t *req, const ed_engine_model_t *model, const char *store, const char *name,
                            size_t len);

#endif
