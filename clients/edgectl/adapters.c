/* adapters.c - edgectl adapters ls | show | import | activate | deactivate |
 * rm | export over /v1/adapters: a table, fields, the file as the body of a
 * POST, and the exported GGUF written beside OUT then renamed onto it;
 * errors and exit statuses through call.c. */
#include "adapters.h"

#include "call.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "/v1/adapters/ESCAPED(ADAPTER)SUFFIX" into path; false when too long. */
static bool adapter_path(char *path, size_t cap, const char *adapter, const char *suffix)
{
    size_t len = (size_t)snprintf(path, cap, "/v1/adapters/");
    if (!ed_ctl_query_escape(path, cap, &len, adapter) || len + strlen(suffix) + 1 > cap)
        return false;
    memcpy(path + len, suffix, strlen(suffix) + 1);
    return true;
}

static void print_row(const json_t *a)
{
    const json_t *targets = json_object_get(a, "targets");
    char list[256] = "";
    size_t at = 0, i;
    const json_t *t;
    json_array_foreach(targets, i, t)
        at += (size_t)snprintf(list + at, at < sizeof list ? sizeof list - at : 0, "%s%s", i ? "," : "",
                               json_string_value(t));
    printf("%-15s %-20s %4" JSON_INTEGER_FORMAT " %-12s %4" JSON_INTEGER_FORMAT "  %s\n",
           json_string_value(json_object_get(a, "id")), json_string_value(json_object_get(a, "name")),
           json_integer_value(json_object_get(a, "version")), json_string_value(json_object_get(a, "status")),
           json_integer_value(json_object_get(a, "rank")), list);
}

static int show(const json_t *a)
{
    static const char *const fields[] = {"id", "name", "version", "status", "rank", "alpha", "size",
                                         "source", "base_fingerprint", "requests", "tokens", "reason"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const json_t *v = json_object_get(a, fields[i]);
        if (json_is_string(v))
            printf("%-17s %s\n", fields[i], json_string_value(v));
        else if (json_is_integer(v))
            printf("%-17s %" JSON_INTEGER_FORMAT "\n", fields[i], json_integer_value(v));
        else if (json_is_real(v))
            printf("%-17s %g\n", fields[i], json_real_value(v));
    }
    char *targets = json_dumps(json_object_get(a, "targets"), JSON_COMPACT | JSON_ENCODE_ANY);
    printf("%-17s %s\n", "targets", targets ? targets : "?");
    free(targets);
    return ED_CTL_OK;
}

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "edgectl: adapters import: %s: cannot open it\n", path);
        if (f)
            fclose(f);
        return ED_CTL_EUSAGE;
    }
    long size = ftell(f);
    rewind(f);
    *data = size >= 0 ? malloc((size_t)size + 1) : NULL;
    bool ok = *data && fread(*data, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "edgectl: adapters import: %s: cannot read it\n", path);
        free(*data);
        return ED_CTL_EUSAGE;
    }
    *len = (size_t)size;
    return ED_CTL_OK;
}

static int export_file(ed_client_t *client, const char *path, const char *out)
{
    ed_client_response_t resp = {0};
    char err[ED_CLIENT_ERR_LEN];
    int rc = ed_client_request(client, "GET", path, NULL, 0, NULL, 0, &resp, err);
    if (rc != 0)
        return ed_ctl_client_failure(ed_client_socket(client), rc, err);
    int status = ED_CTL_OK;
    if (resp.status != 200) {
        status = ed_ctl_answer_failure("GET", path, &resp);
    } else {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        FILE *f = fopen(tmp, "wb");
        bool ok = f && fwrite(resp.body, 1, resp.body_len, f) == resp.body_len;
        ok = f && fclose(f) == 0 && ok;
        if (!ok || rename(tmp, out) != 0) {
            remove(tmp);
            fprintf(stderr, "edgectl: adapters export: cannot write %s\n", out);
            status = ED_CTL_EUSAGE;
        } else {
            printf("wrote %s (%zu bytes)\n", out, resp.body_len);
        }
    }
    ed_client_response_free(&resp);
    return status;
}

int ed_ctl_adapters(const ed_ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"name", required_argument, NULL, 'n'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    ed_ctl_t local = *ctl;
    const char *name = NULL;
    bool force = false;
    optind = 0; /* a fresh scan of the command's own arguments */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "n:f", options, NULL)) != -1) {
        switch (opt) {
        case 'n': name = optarg; break;
        case 'f': force = true; break;
        case 'j': local.json = true; break;
        default:
            fprintf(stderr, "edgectl: adapters: unknown or incomplete option '%s' (see 'edgectl adapters --help')\n",
                    argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    int n_args = argc - optind - 1;
    const char *arg = n_args >= 1 ? argv[optind + 1] : NULL;
    static const struct {
        const char *name;
        int n_args;
    } subs[] = {{"ls", 0}, {"show", 1}, {"import", 1}, {"activate", 1}, {"deactivate", 0}, {"rm", 1}, {"export", 2}};
    int which = -1;
    for (int i = 0; sub && i < (int)(sizeof subs / sizeof subs[0]); i++)
        if (strcmp(sub, subs[i].name) == 0)
            which = i;
    if (which < 0) {
        fprintf(stderr, "edgectl: adapters: %s%s%s: expected ls, show, import, activate, deactivate, rm or export\n",
                sub ? "unknown subcommand '" : "no subcommand", sub ? sub : "", sub ? "'" : "");
        return ED_CTL_EUSAGE;
    }
    if (n_args != subs[which].n_args || (name && which != 2) || (force && which != 5)) {
        fprintf(stderr, "edgectl: adapters %s: wrong arguments (see 'edgectl adapters --help')\n", sub);
        return ED_CTL_EUSAGE;
    }
    char path[1024];
    if (arg && which != 2 && !adapter_path(path, sizeof path, arg, which == 3 ? "/activate" : which == 6 ? "/file" : "")) {
        fprintf(stderr, "edgectl: adapters %s: the adapter's name is too long\n", sub);
        return ED_CTL_EUSAGE;
    }
    char *data = NULL;
    size_t len = 0;
    int status = ED_CTL_OK;
    if (which == 2) {
        size_t at = (size_t)snprintf(path, sizeof path, "/v1/adapters");
        if (name) {
            at += (size_t)snprintf(path + at, sizeof path - at, "?name=");
            if (!ed_ctl_query_escape(path, sizeof path, &at, name)) {
                fprintf(stderr, "edgectl: adapters import: --name: too long\n");
                return ED_CTL_EUSAGE;
            }
        }
        if ((status = read_file(arg, &data, &len)) != ED_CTL_OK)
            return status;
    }
    if (which == 5 && force)
        strncat(path, "?force=true", sizeof path - strlen(path) - 1);
    ed_client_t *client = NULL;
    if ((status = ed_ctl_connect(&local, &client)) != ED_CTL_OK) {
        free(data);
        return status;
    }
    json_t *answer = NULL;
    const ed_client_header_t octets = {"Content-Type", "application/octet-stream"};
    switch (which) {
    case 0:
        status = ed_ctl_request_json(&local, client, "GET", "/v1/adapters", NULL, 0, NULL, 0, &answer);
        if (status == ED_CTL_OK && !local.json) {
            const json_t *list = json_object_get(answer, "data");
            if (json_array_size(list) == 0) {
                printf("no adapters\n");
            } else {
                printf("%-15s %-20s %4s %-12s %4s  %s\n", "ID", "NAME", "VER", "STATUS", "RANK", "TARGETS");
                size_t i;
                const json_t *a;
                json_array_foreach(list, i, a)
                    print_row(a);
            }
        }
        break;
    case 1:
        status = ed_ctl_request_json(&local, client, "GET", path, NULL, 0, NULL, 0, &answer);
        if (status == ED_CTL_OK && !local.json)
            show(answer);
        break;
    case 2:
        status = ed_ctl_request_json(&local, client, "POST", path, &octets, 1, data, len, &answer);
        if (status == ED_CTL_OK && !local.json)
            printf("imported %s@%" JSON_INTEGER_FORMAT " as %s\n", json_string_value(json_object_get(answer, "name")),
                   json_integer_value(json_object_get(answer, "version")),
                   json_string_value(json_object_get(answer, "id")));
        break;
    case 3:
    case 4:
        status = ed_ctl_request_json(&local, client, "POST", which == 3 ? path : "/v1/adapters/deactivate", NULL, 0,
                                     "", 0, &answer);
        if (status == ED_CTL_OK && !local.json) {
            if (which == 3)
                printf("active: %s@%" JSON_INTEGER_FORMAT "\n", json_string_value(json_object_get(answer, "name")),
                       json_integer_value(json_object_get(answer, "version")));
            else
                printf("no adapter is active\n");
        }
        break;
    case 5:
        status = ed_ctl_request_json(&local, client, "DELETE", path, NULL, 0, NULL, 0, &answer);
        if (status == ED_CTL_OK && !local.json)
            printf("deleted adapter %s\n", json_string_value(json_object_get(answer, "id")));
        break;
    default:
        status = export_file(client, path, argv[optind + 2]);
        break;
    }
    json_decref(answer);
    free(data);
    ed_client_close(client);
    return status;
}
