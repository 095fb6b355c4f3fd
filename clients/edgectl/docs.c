/* docs.c - edgectl docs ls | show | rm: GET /v1/documents page by page as a
 * table, GET /v1/documents/{id} as fields (and the text), DELETE
 * /v1/documents/{id}; errors and exit statuses through call.c. */
#include "docs.h"

#include "call.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 200 /* documents asked for per GET */

/* A document id argument: a positive decimal integer. */
static int parse_id(const char *sub, const char *arg, long long *id)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (end == arg || *end || errno || v <= 0) {
        fprintf(stderr, "edgectl: docs %s: expected a document id (a positive number), got \"%s\"\n", sub, arg);
        return ED_CTL_EUSAGE;
    }
    *id = v;
    return ED_CTL_OK;
}

/* "2026-11-25 16:20" in local time from unix seconds; "-" when absent. */
static void format_time(char *out, size_t size, const json_t *seconds)
{
    if (!json_is_integer(seconds)) {
        snprintf(out, size, "-");
        return;
    }
    time_t t = (time_t)json_integer_value(seconds);
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, size, "%lld", (long long)t);
}

/* One GET of the docs commands on `client`: the answer object or a status. */
static int get(const ed_ctl_t *ctl, ed_client_t *client, const char *path, json_t **answer)
{
    return ed_ctl_request_json(ctl, client, "GET", path, NULL, 0, NULL, 0, answer);
}

static int docs_ls(const ed_ctl_t *ctl, ed_client_t *client, const char *collection)
{
    long long after = 0;
    int shown = 0, status = ED_CTL_OK;
    do {
        char path[512];
        size_t len = (size_t)snprintf(path, sizeof path, "/v1/documents?limit=%d&after=%lld", PAGE, after);
        if (collection) {
            memcpy(path + len, "&collection=", 13);
            len += 12;
            if (!ed_ctl_query_escape(path, sizeof path, &len, collection)) {
                fprintf(stderr, "edgectl: docs ls: --collection: the name is too long\n");
                return ED_CTL_EUSAGE;
            }
        }
        json_t *page = NULL;
        status = get(ctl, client, path, &page);
        if (status != ED_CTL_OK)
            return status;
        const json_t *data = json_object_get(page, "data");
        size_t i;
        const json_t *doc;
        json_array_foreach(data, i, doc) {
            if (ctl->json)
                continue;
            if (shown++ == 0)
                printf("%-8s %-16s %7s %8s  %-16s  %s\n", "ID", "COLLECTION", "CHUNKS", "TOKENS", "CREATED", "TITLE");
            char created[32];
            format_time(created, sizeof created, json_object_get(doc, "created"));
            const char *title = json_string_value(json_object_get(doc, "title"));
            const char *name = json_string_value(json_object_get(doc, "collection"));
            printf("%-8" JSON_INTEGER_FORMAT " %-16s %7" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT "  %-16s  %s\n",
                   json_integer_value(json_object_get(doc, "id")), name ? name : "-",
                   json_integer_value(json_object_get(doc, "chunks")),
                   json_integer_value(json_object_get(doc, "tokens")), created, title && *title ? title : "-");
        }
        const json_t *next = json_object_get(page, "next_after");
        bool more = json_is_true(json_object_get(page, "has_more")) && json_is_integer(next) &&
                    json_integer_value(next) > after;
        after = more ? (long long)json_integer_value(next) : 0;
        json_decref(page);
    } while (after > 0);
    if (!ctl->json && shown == 0)
        printf("no documents%s%s\n", collection ? " in collection " : "", collection ? collection : "");
    return status;
}

static int docs_show(const ed_ctl_t *ctl, ed_client_t *client, long long id, bool with_text)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/documents/%lld%s", id, with_text ? "?text=true" : "");
    json_t *doc = NULL;
    int status = get(ctl, client, path, &doc);
    if (status != ED_CTL_OK || ctl->json) {
        json_decref(doc);
        return status;
    }
    static const char *const fields[] = {"id", "collection", "title", "source", "chunks", "tokens"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const json_t *value = json_object_get(doc, fields[i]);
        if (json_is_string(value))
            printf("%-11s %s\n", fields[i], json_string_value(value));
        else if (json_is_integer(value))
            printf("%-11s %" JSON_INTEGER_FORMAT "\n", fields[i], json_integer_value(value));
    }
    char created[32];
    format_time(created, sizeof created, json_object_get(doc, "created"));
    printf("%-11s %s\n", "created", created);
    const json_t *metadata = json_object_get(doc, "metadata");
    if (metadata && !json_is_null(metadata)) {
        char *text = json_dumps(metadata, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%-11s %s\n", "metadata", text ? text : "?");
        free(text);
    }
    const json_t *text = json_object_get(doc, "text");
    if (with_text && json_is_string(text)) {
        size_t len = json_string_length(text);
        printf("\n%s%s", json_string_value(text), len && json_string_value(text)[len - 1] == '\n' ? "" : "\n");
    }
    json_decref(doc);
    return ED_CTL_OK;
}

static int docs_rm(const ed_ctl_t *ctl, ed_client_t *client, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/documents/%lld", id);
    json_t *answer = NULL;
    int status = ed_ctl_request_json(ctl, client, "DELETE", path, NULL, 0, NULL, 0, &answer);
    if (status == ED_CTL_OK && !ctl->json)
        printf("deleted document %lld\n", id);
    json_decref(answer);
    return status;
}

int ed_ctl_docs(const ed_ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"collection", required_argument, NULL, 'c'},
        {"text", no_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    ed_ctl_t local = *ctl;
    const char *collection = NULL;
    bool with_text = false;
    optind = 0; /* a fresh scan of the command's own arguments */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            collection = optarg;
            break;
        case 'T':
            with_text = true;
            break;
        case 'j':
            local.json = true;
            break;
        default:
            fprintf(stderr, "edgectl: docs: unknown or incomplete option '%s' (see 'edgectl docs --help')\n",
                    argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    int n_args = argc - optind - 1; /* after the subcommand */
    long long id = 0;
    int status = ED_CTL_OK;
    if (!sub) {
        fprintf(stderr, "edgectl: docs: expected ls, show ID or rm ID (see 'edgectl docs --help')\n");
        return ED_CTL_EUSAGE;
    }
    if (strcmp(sub, "ls") == 0) {
        if (n_args != 0 || with_text)
            status = ED_CTL_EUSAGE;
    } else if (strcmp(sub, "show") == 0 || strcmp(sub, "rm") == 0) {
        if (n_args != 1 || collection || (with_text && strcmp(sub, "rm") == 0))
            status = ED_CTL_EUSAGE;
        else
            status = parse_id(sub, argv[optind + 1], &id);
        if (status != ED_CTL_OK && n_args == 1 && !collection && !with_text)
            return status; /* parse_id said why */
    } else {
        fprintf(stderr, "edgectl: docs: unknown subcommand '%s': expected ls, show or rm\n", sub);
        return ED_CTL_EUSAGE;
    }
    if (status != ED_CTL_OK) {
        fprintf(stderr, "edgectl: docs %s: wrong arguments (see 'edgectl docs --help')\n", sub);
        return status;
    }
    ed_client_t *client = NULL;
    status = ed_ctl_connect(&local, &client);
    if (status != ED_CTL_OK)
        return status;
    if (sub[0] == 'l')
        status = docs_ls(&local, client, collection);
    else if (sub[0] == 's')
        status = docs_show(&local, client, id, with_text);
    else
        status = docs_rm(&local, client, id);
    ed_client_close(client);
    return status;
}
