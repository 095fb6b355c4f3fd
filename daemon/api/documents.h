/* documents.h - the handlers of the personal store (group ingest):
 * documents (documents.c: add, list, read, delete), search (search.c) and
 * collections (collections.c: list, access),
 * plus what they share: the answer when the store is not open, and the
 * answer to rag.h's error codes (through api/status.h). Loop thread only. */
#ifndef ED_API_DOCUMENTS_H
#define ED_API_DOCUMENTS_H

#include "http/request.h"
#include "rag/rag.h"

/* The store's caller: the request's peer uid and gid (SO_PEERCRED). */
ed_rag_caller_t ed_api_caller(const ed_request_t *req);

/* A query parameter, percent-decoded into buf (cap bytes), answering 400
 * on a bad one: -1 answered, 0 absent, 1 found. */
int ed_api_query_param(ed_request_t *req, const char *name, char *buf, size_t cap);

/* documents.c */
void ed_api_documents_add(ed_request_t *req);
void ed_api_documents_list(ed_request_t *req);
void ed_api_documents_get(ed_request_t *req);
void ed_api_documents_delete(ed_request_t *req);
/* search.c */
void ed_api_search(ed_request_t *req);
/* collections.c */
void ed_api_collections_list(ed_request_t *req);
void ed_api_collections_put(ed_request_t *req);

/* Records why there is no store (main.c, when ed_rag_open cannot even
 * start): the store's endpoints then answer 503 store_unavailable with it. */
void ed_api_store_unavailable(const char *reason);
/* The open store, or NULL after answering 503: store_opening (with
 * Retry-After and what the opening is doing) or store_unavailable. */
struct ed_rag *ed_api_require_store(ed_request_t *req);
/* Answers a rag error with its row of api/status.h (source ED_API_STORE;
 * param named with a 400); the message is detail, or the code's own when
 * detail is empty. */
void ed_api_store_failed(ed_request_t *req, int rc, const char *param, const char *detail);

#endif
