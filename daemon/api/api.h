/* api.h - the daemon's HTTP API: the route table and the context handlers
 * share. Each endpoint group lives in its own file (admin.c, ...). */
#ifndef ED_API_API_H
#define ED_API_API_H

#include "http/router.h"
#include "http/server.h"

struct ed_engine;
struct ed_rag;
struct ed_adapters;
struct ed_scheduler;
struct ed_adapt;

#define ED_VERSION "0.1.0"

typedef struct {
    ed_server_t *server;
    const char *config_path;
    const char *kernels;     /* the kernel set in use, for /v1/version */
    struct ed_engine *engine; /* the inference thread (engine/engine.h); the live config is server->cfg */
    struct ed_rag *rag;       /* the personal store and retrieval (rag/rag.h), NULL until opened */
    struct ed_adapters *adapters; /* the adapter registry (api/adapters.h), NULL until the store opened */
    struct ed_scheduler *scheduler; /* training windows (adapt/scheduler.h); NULL if it did not start */
    struct ed_adapt *adapt;   /* the adapt jobs (api/adapt.h), NULL until the store opened */
} ed_app_t;

extern const ed_route_t ed_api_routes[];
extern const size_t ed_api_n_routes;

/* admin.c */
void ed_api_health(ed_request_t *req);
void ed_api_version(ed_request_t *req);
void ed_api_metrics(ed_request_t *req);
void ed_api_config(ed_request_t *req);

/* scheduler.c */
void ed_api_scheduler(ed_request_t *req);

#endif
