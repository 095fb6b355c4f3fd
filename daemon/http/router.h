/* router.h - matches a request's method and path against a route table.
 * Patterns are literal segments and `{name}` parameters ("/v1/documents/{id}").
 * The table itself lives with the endpoints (api/routes.c). */
#ifndef ED_HTTP_ROUTER_H
#define ED_HTTP_ROUTER_H

#include "http/peer.h"
#include "http/request.h"

#include <stdbool.h>
#include <stdio.h>

typedef void (*ed_handler_fn)(ed_request_t *req);

struct ed_route {
    ed_http_method_t method;
    const char *pattern;
    ed_group_t group; /* who may call it (access.<group>), or ED_GROUP_NONE */
    ed_handler_fn handler;
    const char *summary;
    bool large_body; /* its body is a file: limited by limits.max_large_body_bytes, not max_body_bytes */
};

typedef enum {
    ED_ROUTE_FOUND,
    ED_ROUTE_NOT_FOUND,    /* no pattern matches the path: 404 */
    ED_ROUTE_BAD_METHOD,   /* a pattern matches, not with this method: 405 */
} ed_route_result_t;

/* Matches `method path` in `routes` (n entries). On ED_ROUTE_FOUND sets
 * *route and params (up to ED_ROUTE_MAX_PARAMS); on ED_ROUTE_BAD_METHOD
 * writes the allowed methods ("GET, DELETE") into allow. */
ed_route_result_t ed_router_match(const ed_route_t *routes, size_t n, ed_http_method_t method,
                                  const char *path, const ed_route_t **route,
                                  ed_route_param_t params[ED_ROUTE_MAX_PARAMS], char *allow,
                                  size_t allow_size);

const char *ed_http_method_name(ed_http_method_t method);

/* Prints one "METHOD PATTERN GROUP" line per route (edged --list-routes). */
void ed_router_print(FILE *out, const ed_route_t *routes, size_t n);

#endif
