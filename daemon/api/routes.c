/* routes.c - the route table: every endpoint the daemon serves, the group
 * whose allow list guards it, and its handler. proto/openapi.yaml lists the
 * same routes (a test compares them through `edged --list-routes`). */
#include "api/adapt.h"
#include "api/adapters.h"
#include "api/api.h"
#include "api/documents.h"
#include "api/infer.h"

const ed_route_t ed_api_routes[] = {
    {ED_HTTP_GET, "/health", ED_GROUP_NONE, ed_api_health, "liveness and readiness", false},
    {ED_HTTP_GET, "/metrics", ED_GROUP_NONE, ed_api_metrics, "Prometheus metrics", false},
    {ED_HTTP_GET, "/v1/version", ED_GROUP_NONE, ed_api_version, "version and build", false},
    {ED_HTTP_GET, "/v1/config", ED_GROUP_ADMIN, ed_api_config, "the effective configuration", false},
    {ED_HTTP_GET, "/v1/models", ED_GROUP_INFER, ed_api_models, "the served model (OpenAI)", false},
    {ED_HTTP_POST, "/v1/chat/completions", ED_GROUP_INFER, ed_api_chat_completions, "chat completion (OpenAI), SSE when streaming", false},
    {ED_HTTP_POST, "/v1/completions", ED_GROUP_INFER, ed_api_completions, "text completion (OpenAI), SSE when streaming", false},
    {ED_HTTP_POST, "/v1/embeddings", ED_GROUP_INFER, ed_api_embeddings, "embedding vectors (OpenAI)", false},
    {ED_HTTP_POST, "/v1/tokenize", ED_GROUP_INFER, ed_api_tokenize, "text to token ids", false},
    {ED_HTTP_POST, "/v1/detokenize", ED_GROUP_INFER, ed_api_detokenize, "token ids to text", false},
    {ED_HTTP_POST, "/v1/documents", ED_GROUP_INGEST, ed_api_documents_add, "add documents to the personal store", false},
    {ED_HTTP_GET, "/v1/documents", ED_GROUP_INGEST, ed_api_documents_list, "list documents (paginated)", false},
    {ED_HTTP_GET, "/v1/documents/{id}", ED_GROUP_INGEST, ed_api_documents_get, "one document, text on request", false},
    {ED_HTTP_DELETE, "/v1/documents/{id}", ED_GROUP_INGEST, ed_api_documents_delete, "delete a document", false},
    {ED_HTTP_POST, "/v1/search", ED_GROUP_INGEST, ed_api_search, "search the personal store", false},
    {ED_HTTP_GET, "/v1/collections", ED_GROUP_INGEST, ed_api_collections_list, "collections the caller may read", false},
    {ED_HTTP_PUT, "/v1/collections/{name}", ED_GROUP_INGEST, ed_api_collections_put,
     "set who besides its owner may read a collection", false},
    {ED_HTTP_GET, "/v1/adapters", ED_GROUP_INFER, ed_api_adapters_list, "LoRA adapters and which is active", false},
    {ED_HTTP_POST, "/v1/adapters", ED_GROUP_ADAPT, ed_api_adapters_import, "import a LoRA adapter (GGUF body)",
     true},
    {ED_HTTP_POST, "/v1/adapters/deactivate", ED_GROUP_ADAPT, ed_api_adapters_deactivate,
     "requests naming no adapter use the base alone", false},
    {ED_HTTP_GET, "/v1/adapters/{id}", ED_GROUP_INFER, ed_api_adapters_get, "one adapter", false},
    {ED_HTTP_GET, "/v1/adapters/{id}/file", ED_GROUP_ADMIN, ed_api_adapters_file,
     "export an adapter as a plain llama.cpp GGUF", false},
    {ED_HTTP_POST, "/v1/adapters/{id}/activate", ED_GROUP_ADAPT, ed_api_adapters_activate,
     "make an adapter the default of requests naming none", false},
    {ED_HTTP_DELETE, "/v1/adapters/{id}", ED_GROUP_ADAPT, ed_api_adapters_delete,
     "delete an adapter (an active one needs ?force=true)", false},
    {ED_HTTP_GET, "/v1/scheduler", ED_GROUP_ADAPT, ed_api_scheduler,
     "training windows: each constraint's value, threshold and verdict, the trainer's state", false},
    {ED_HTTP_POST, "/v1/adapt", ED_GROUP_ADAPT, ed_api_adapt_create, "queue a LoRA training job on collections",
     false},
    {ED_HTTP_GET, "/v1/adapt/jobs", ED_GROUP_ADAPT, ed_api_adapt_jobs_list, "the caller's adapt jobs", false},
    {ED_HTTP_GET, "/v1/adapt/jobs/{id}", ED_GROUP_ADAPT, ed_api_adapt_jobs_get,
     "one adapt job: state, progress, losses, the adapter it made", false},
    {ED_HTTP_GET, "/v1/adapt/jobs/{id}/events", ED_GROUP_ADAPT, ed_api_adapt_jobs_events,
     "an adapt job's progress, pauses, losses and end (SSE)", false},
    {ED_HTTP_DELETE, "/v1/adapt/jobs/{id}", ED_GROUP_ADAPT, ed_api_adapt_jobs_cancel,
     "cancel an adapt job (its checkpoints are deleted)", false},
};

const size_t ed_api_n_routes = sizeof ed_api_routes / sizeof ed_api_routes[0];
