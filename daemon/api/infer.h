/* infer.h - the handlers of the inference group (access.infer): generation
 * and models (infer.c), embeddings (embed.c), tokenizer (tokenize.c). They
 * read requests through params.h and hand work to the engine thread. */
#ifndef ED_API_INFER_H
#define ED_API_INFER_H

#include "http/request.h"

/* infer.c */
void ed_api_chat_completions(ed_request_t *req);
void ed_api_completions(ed_request_t *req);
void ed_api_models(ed_request_t *req);
/* embed.c */
void ed_api_embeddings(ed_request_t *req);
/* tokenize.c */
void ed_api_tokenize(ed_request_t *req);
void ed_api_detokenize(ed_request_t *req);

#endif
