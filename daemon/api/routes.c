/* routes.c - the route table: every endpoint the daemon serves, the group
 * whose allow list guards it, and its handler. proto/openapi.yaml lists the
 * same routes (a test compares them through `edged --list-routes`). */
#include "api/api.h"

const ed_route_t ed_api_routes[] = {
    {ED_HTTP_GET, "/health", ED_GROUP_NONE, ed_api_health, "liveness and readiness"},
    {ED_HTTP_GET, "/metrics", ED_GROUP_NONE, ed_api_metrics, "Prometheus metrics"},
    {ED_HTTP_GET, "/v1/version", ED_GROUP_NONE, ed_api_version, "version and build"},
    {ED_HTTP_GET, "/v1/config", ED_GROUP_ADMIN, ed_api_config, "the effective configuration"},
};

const size_t ed_api_n_routes = sizeof ed_api_routes / sizeof ed_api_routes[0];
