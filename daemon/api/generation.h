/* generation.h - a generation job of POST /v1/chat/completions and
 * /v1/completions from the engine's submit until its response ends: the
 * whole answer, or an SSE stream with backpressure, cancelled when the
 * client leaves. The prompt is already tokenized (api/infer.c). Loop
 * thread only. */
#ifndef ED_API_GENERATION_H
#define ED_API_GENERATION_H

#include "api/infer_options.h"
#include "engine/engine.h"
#include "http/request.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Submits the generation of prompt[0, n_prompt) (copied: the caller keeps
 * it) with opt, and answers the request from then on (also a failed submit,
 * by api/status.h); chat: chat.completion objects, else text_completion.
 * citations (a reference stolen, may be NULL) go with the answer. */
void ed_generation_start(ed_request_t *req, bool chat, const ed_engine_model_t *model, const ed_infer_options_t *opt,
                         int32_t *prompt, int n_prompt, json_t *citations);

#endif
