/* Tests daemon/http/router.c: literal and parameter matching, 404 vs 405
 * with the Allow list. */
#include "http/router.h"
#include "../../test.h"

static void h(ed_request_t *req) { (void)req; }

static const ed_route_t routes[] = {
    {ED_HTTP_GET, "/health", ED_GROUP_NONE, h, "", false},
    {ED_HTTP_GET, "/v1/documents", ED_GROUP_INGEST, h, "", false},
    {ED_HTTP_POST, "/v1/documents", ED_GROUP_INGEST, h, "", false},
    {ED_HTTP_GET, "/v1/documents/{id}", ED_GROUP_INGEST, h, "", false},
    {ED_HTTP_DELETE, "/v1/documents/{id}", ED_GROUP_INGEST, h, "", false},
    {ED_HTTP_POST, "/v1/adapters/{id}/activate", ED_GROUP_ADAPT, h, "", false},
    {ED_HTTP_GET, "/v1/adapters/{id}", ED_GROUP_INFER, h, "", false},
    {ED_HTTP_POST, "/v1/adapters/deactivate", ED_GROUP_ADAPT, h, "", false},
};
#define N (sizeof routes / sizeof routes[0])

ED_TEST(literal_and_params)
{
    const ed_route_t *r = NULL;
    ed_route_param_t p[ED_ROUTE_MAX_PARAMS];
    char allow[64];
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_GET, "/health", &r, p, allow, sizeof allow), ED_ROUTE_FOUND);
    ED_CHECK(r == &routes[0]);
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_DELETE, "/v1/documents/abc123", &r, p, allow, sizeof allow),
                 ED_ROUTE_FOUND);
    ED_CHECK(r == &routes[4]);
    ED_CHECK_INT(p[0].len, 6);
    ED_CHECK(strncmp(p[0].ptr, "abc123", 6) == 0);
    ED_CHECK(p[1].ptr == NULL);
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_POST, "/v1/adapters/x/activate", &r, p, allow, sizeof allow),
                 ED_ROUTE_FOUND);
    ED_CHECK(r == &routes[5]);
}

ED_TEST(not_found)
{
    const ed_route_t *r = NULL;
    ed_route_param_t p[ED_ROUTE_MAX_PARAMS];
    char allow[64];
    const char *paths[] = {"/", "/healthz", "/health/", "/v1/documents/", "/v1/documents/a/b",
                           "/v1/adapters//activate", ""};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_GET, paths[i], &r, p, allow, sizeof allow),
                     ED_ROUTE_NOT_FOUND);
}

ED_TEST(method_not_allowed_lists_allow)
{
    const ed_route_t *r = NULL;
    ed_route_param_t p[ED_ROUTE_MAX_PARAMS];
    char allow[64];
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_PUT, "/v1/documents", &r, p, allow, sizeof allow),
                 ED_ROUTE_BAD_METHOD);
    ED_CHECK_STR(allow, "GET, POST");
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_POST, "/v1/documents/x", &r, p, allow, sizeof allow),
                 ED_ROUTE_BAD_METHOD);
    ED_CHECK_STR(allow, "GET, DELETE");
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_POST, "/health", &r, p, allow, sizeof allow),
                 ED_ROUTE_BAD_METHOD);
    ED_CHECK_STR(allow, "GET");
}

/* A path a pattern spells out is that pattern's alone: GET
 * /v1/adapters/deactivate is 405 (Allow: POST), not /v1/adapters/{id}. */
ED_TEST(a_literal_path_is_not_a_param_value)
{
    const ed_route_t *r = NULL;
    ed_route_param_t p[ED_ROUTE_MAX_PARAMS];
    char allow[64];
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_POST, "/v1/adapters/deactivate", &r, p, allow, sizeof allow),
                 ED_ROUTE_FOUND);
    ED_CHECK(r == &routes[7]);
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_GET, "/v1/adapters/deactivate", &r, p, allow, sizeof allow),
                 ED_ROUTE_BAD_METHOD);
    ED_CHECK_STR(allow, "POST");
    ED_CHECK_INT(ed_router_match(routes, N, ED_HTTP_GET, "/v1/adapters/style", &r, p, allow, sizeof allow),
                 ED_ROUTE_FOUND);
    ED_CHECK(r == &routes[6]);
}

ED_TEST_MAIN(literal_and_params, not_found, method_not_allowed_lists_allow, a_literal_path_is_not_a_param_value)
