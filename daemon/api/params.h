/* params.h - what the inference endpoints (infer.c, embed.c, tokenize.c)
 * share: reading a JSON request body with a nesting limit, turning its fields
 * into C values with OpenAI-style 400 errors that name the field, checking
 * that a model is ready, answering engine submit errors, and JSON strings from
 * model text. The endpoints themselves decide which fields they read.
 * Loop thread only. */
#ifndef ED_API_PARAMS_H
#define ED_API_PARAMS_H

#include "engine/engine.h"
#include "http/request.h"
#include "model/prompt.h"
#include "model/tokenizer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ED_PARAMS_MAX_DEPTH 64 /* arrays/objects nested deeper than this are rejected */

/* Why a request body was refused (answered as 400 by ed_params_reject). */
typedef struct {
    const char *code;  /* invalid_json | invalid_type | invalid_value | missing_field |
                          context_length_exceeded */
    char param[96];    /* the field ("temperature", "messages[1].content"); "" for the body */
    char message[512]; /* "temperature: expected a number between 0 and 2, got 7" */
} ed_param_error_t;

/* Fills err (code, param, message from fmt) and returns ED_EINVAL. */
int ed_params_fail(ed_param_error_t *err, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers 400 {"error": {message, type, param, code}}. */
void ed_params_reject(ed_request_t *req, const ed_param_error_t *err);
/* Answers a request whose body could not be read: ED_EINVAL as
 * ed_params_reject, any other code (ED_ENOMEM) by api/status.h, naming it. */
void ed_params_refuse(ed_request_t *req, int rc, const ed_param_error_t *err);

/* Parses the request body: valid JSON (line and column when not), nested at
 * most ED_PARAMS_MAX_DEPTH deep, an object at the top. 0 with *out (a new
 * reference), or ED_EINVAL with err. */
int ed_params_load(const char *body, size_t len, json_t **out, ed_param_error_t *err);

/* Field readers. A field that is absent or JSON null leaves *out as it was
 * and returns 0 (the caller set the default); a required one is
 * missing_field. A wrong JSON type is invalid_type, a value outside the range
 * invalid_value. Each returns 0 or ED_EINVAL with err. `name` is also the
 * param reported. */
/* A number in [min, max], or (min, max] when min_open; max may be INFINITY. */
int ed_params_number(const json_t *obj, const char *name, double min, double max, bool min_open,
                     double *out, ed_param_error_t *err);
/* A JSON integer in [min, max]. */
int ed_params_integer(const json_t *obj, const char *name, int64_t min, int64_t max, int64_t *out,
                      ed_param_error_t *err);
int ed_params_bool(const json_t *obj, const char *name, bool *out, ed_param_error_t *err);
/* A string; *out points into obj (valid while obj lives). */
int ed_params_string(const json_t *obj, const char *name, bool required, const char **out,
                     size_t *len, ed_param_error_t *err);
/* Describes a JSON value for a message: compact JSON, cut to fit cap. */
void ed_params_describe(const json_t *value, char *buf, size_t cap);

/* Tokenizes a plain text prompt for `model` with BOS/EOS as its vocabulary
 * asks (model/prompt.h). 0 with *out (malloc'd, the caller frees) and *n_out
 * tokens, fewer than the context holds; ED_EINVAL with err
 * (context_length_exceeded naming both counts, reported as `param`) or
 * ED_ENOMEM. */
int ed_params_prompt(const ed_engine_model_t *model, const char *text, size_t len, const char *param, int32_t **out,
                     int *n_out, ed_param_error_t *err);
/* rc of ed_prompt_build/ed_prompt_tokenize as the request's error: ED_ERANGE
 * and ED_ETOOBIG become ED_EINVAL with err (context_length_exceeded, naming
 * the prompt's size and the context's, reported as `param`); any other code
 * is returned as it is. */
int ed_params_prompt_refused(int rc, const ed_prompt_t *prompt, const char *param, int n_ctx, ed_param_error_t *err);

/* The served model if the engine is READY; otherwise answers 503 (code
 * no_model when none is configured, not_ready with the reason and
 * Retry-After while it loads or after it failed) and returns NULL. */
const ed_engine_model_t *ed_params_require_model(ed_request_t *req);
/* The engine's state (EMPTY when the daemon runs without an engine). */
ed_engine_state_t ed_params_engine_state(const ed_request_t *req, const char **reason);

/* Answers a failed ed_engine_submit by api/status.h (ED_EAGAIN 503 not_ready,
 * ED_EBUSY 503 queue_full, ED_ERANGE 400 context_length_exceeded, ...),
 * with a message saying what failed. */
void ed_params_submit_failed(ed_request_t *req, int rc, const char *detail);

/* A JSON string of text[0, len) with every byte that is not part of valid
 * UTF-8 replaced by U+FFFD (model output and decoded tokens can hold cut
 * characters). NULL only when out of memory. */
json_t *ed_params_text(const char *text, size_t len);

#endif
