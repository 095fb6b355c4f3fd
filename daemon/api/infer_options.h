/* infer_options.h - reading a generation request's body (POST
 * /v1/chat/completions, /v1/completions) into C values: the sampling and
 * stop options, `rag`, the messages or the prompt. Each reader answers
 * nothing: it returns ED_EINVAL with a 400 that names the field
 * (api/params.h). Loop thread only; what it returns points into the body. */
#ifndef ED_API_INFER_OPTIONS_H
#define ED_API_INFER_OPTIONS_H

#include "api/params.h"
#include "api/reasoning.h"
#include "core/buf.h"
#include "core/config.h"
#include "engine/engine.h"
#include "model/chat.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ED_INFER_RAG_MAX_COLLECTIONS 16 /* collections one request may search */
#define ED_INFER_RAG_MAX_TOP_K 20

/* A request's `rag` field: answer with notes retrieved from the store. */
typedef struct {
    bool on;
    const char *collections[ED_INFER_RAG_MAX_COLLECTIONS]; /* into the request body */
    int n_collections;                                     /* 0: every collection the caller may read */
    int64_t top_k;                                         /* chunks retrieved */
    int64_t max_context_tokens;                            /* 0: the service's default budget */
} ed_infer_rag_t;

/* A request's generation options. */
typedef struct {
    ed_sampler_params_t sampling; /* sampling.bias points at bias */
    ed_logit_bias_t bias[ED_SAMPLER_MAX_BIAS];
    int64_t max_tokens;
    const char *stops[ED_ENGINE_MAX_STOPS]; /* into the request body */
    size_t n_stops;
    bool stream;
    bool include_usage;                     /* stream_options.include_usage */
    ed_infer_rag_t rag;
    const char *adapter;                    /* `adapter` (into the body): an id, name, name@version or "none"; */
    size_t adapter_len;                     /* NULL: absent (the active adapter) */
    float adapter_scale;                    /* `adapter_scale`, 1 by default */
    ed_engine_adapter_t *picked;            /* what they resolved to (api/adapters.h; a reference, NULL: none) */
    ed_reasoning_format_t reasoning;        /* `reasoning_format` (llama.cpp's): "none" (default) or "deepseek",
                                               a leading think block in reasoning_content (chat only) */
} ed_infer_options_t;

/* A chat request's messages: list[0..n) point into the body, or into
 * joined for contents given as an array of text parts. */
typedef struct {
    ed_chat_message_t *list; /* (n) */
    size_t n;
    ed_buf_t joined;
} ed_infer_messages_t;

/* Every option but the prompt and rag. Defaults: OpenAI's (temperature 1,
 * top_p 1), samplers beyond OpenAI's off, a random seed; max_tokens from cfg. */
int ed_infer_read_options(const json_t *root, const ed_engine_model_t *model, const ed_config_t *cfg,
                          ed_infer_options_t *opt, ed_param_error_t *err);
/* rag: {collections, top_k, max_context_tokens}, each optional; absent: rag->on false. */
int ed_infer_read_rag(const json_t *root, const ed_engine_model_t *model, const ed_config_t *cfg, ed_infer_rag_t *rag,
                      ed_param_error_t *err);
/* messages: at least one {role, content}; "developer" reads as system. 0
 * with out (free with ed_infer_messages_free, also after an error), ED_EINVAL
 * with err, ED_ENOMEM. */
int ed_infer_read_messages(const json_t *root, ed_infer_messages_t *out, ed_param_error_t *err);
void ed_infer_messages_free(ed_infer_messages_t *m);
/* prompt: a string, or an array of exactly one string. */
int ed_infer_read_prompt(const json_t *root, const char **text, size_t *len, ed_param_error_t *err);

/* n random bytes (getrandom; a clock-seeded mix if that fails). */
void ed_infer_random_bytes(void *buf, size_t n);

#endif
