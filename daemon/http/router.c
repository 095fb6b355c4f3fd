/* router.c - see router.h. Matching walks the table once per request; the
 * table is small (tens of routes), so a linear scan beats any index. */
#include "http/router.h"

#include <stdbool.h>
#include <string.h>

const char *ed_http_method_name(ed_http_method_t method)
{
    switch (method) {
    case ED_HTTP_GET: return "GET";
    case ED_HTTP_HEAD: return "HEAD";
    case ED_HTTP_POST: return "POST";
    case ED_HTTP_PUT: return "PUT";
    case ED_HTTP_DELETE: return "DELETE";
    case ED_HTTP_PATCH: return "PATCH";
    case ED_HTTP_OPTIONS: return "OPTIONS";
    default: return "OTHER";
    }
}

/* True when `path` matches `pattern`; fills params with the {name} segments. */
static bool path_matches(const char *pattern, const char *path, ed_route_param_t *params, int *n_params)
{
    *n_params = 0;
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            size_t len = strcspn(path, "/");
            if (!close || len == 0 || *n_params == ED_ROUTE_MAX_PARAMS)
                return false;
            params[*n_params].ptr = path;
            params[*n_params].len = len;
            (*n_params)++;
            pattern = close + 1;
            path += len;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

ed_route_result_t ed_router_match(const ed_route_t *routes, size_t n, ed_http_method_t method,
                                  const char *path, const ed_route_t **route,
                                  ed_route_param_t params[ED_ROUTE_MAX_PARAMS], char *allow,
                                  size_t allow_size)
{
    ed_route_param_t scratch[ED_ROUTE_MAX_PARAMS];
    unsigned allowed = 0;
    /* a path some pattern spells out literally (/v1/adapters/deactivate)
     * is that pattern's alone, not also a {name} pattern's value */
    bool literal = false;
    for (size_t i = 0; i < n && !literal; i++)
        literal = !strchr(routes[i].pattern, '{') && strcmp(routes[i].pattern, path) == 0;
    for (size_t i = 0; i < n; i++) {
        int n_params;
        if ((literal && strchr(routes[i].pattern, '{')) || !path_matches(routes[i].pattern, path, scratch, &n_params))
            continue;
        if (routes[i].method == method) {
            *route = &routes[i];
            memcpy(params, scratch, sizeof scratch);
            for (int k = n_params; k < ED_ROUTE_MAX_PARAMS; k++)
                params[k] = (ed_route_param_t){NULL, 0};
            return ED_ROUTE_FOUND;
        }
        allowed |= routes[i].method;
    }
    if (!allowed)
        return ED_ROUTE_NOT_FOUND;
    size_t used = 0;
    if (allow_size)
        allow[0] = '\0';
    for (unsigned bit = 1; bit <= ED_HTTP_OTHER; bit <<= 1) {
        if (!(allowed & bit))
            continue;
        int w = snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "",
                         ed_http_method_name((ed_http_method_t)bit));
        if (w < 0 || (size_t)w >= allow_size - used)
            break;
        used += (size_t)w;
    }
    return ED_ROUTE_BAD_METHOD;
}

void ed_router_print(FILE *out, const ed_route_t *routes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s %s %s\n", ed_http_method_name(routes[i].method), routes[i].pattern,
                ed_group_name(routes[i].group));
}
