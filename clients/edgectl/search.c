/* search.c - edgectl search: POST /v1/search {query, collections, top_k,
 * mode} and the hits printed best first: rank, score, title, document and
 * chunk, then the start of the chunk's text on one line. */
#include "search.h"

#include "call.h"
#include "generate.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define SNIPPET 240 /* bytes of a hit's text shown */
#define MAX_COLLECTIONS 16

/* Prints up to SNIPPET bytes of text on one line (whitespace runs become
 * one space), not cutting a UTF-8 character. */
static void print_snippet(const char *text, size_t len)
{
    size_t shown = 0;
    bool space = false;
    fputs("    ", stdout);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = shown > 0;
            continue;
        }
        if (shown >= SNIPPET && (c & 0xC0) != 0x80) {
            fputs(" ...", stdout);
            break;
        }
        if (space) {
            putchar(' ');
            shown++;
            space = false;
        }
        putchar(c);
        shown++;
    }
    putchar('\n');
}

int ed_ctl_search(const ed_ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"collection", required_argument, NULL, 'c'},
        {"top-k", required_argument, NULL, 'k'},
        {"mode", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    ed_ctl_t local = *ctl;
    const char *collections[MAX_COLLECTIONS];
    int n_collections = 0;
    const char *mode = NULL;
    double top_k = 0;
    optind = 0; /* a fresh scan of the command's own arguments */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:k:m:", options, NULL)) != -1) {
        int status = ED_CTL_OK;
        switch (opt) {
        case 'c':
            if (n_collections == MAX_COLLECTIONS) {
                fprintf(stderr, "edgectl: search: at most %d --collection options\n", MAX_COLLECTIONS);
                return ED_CTL_EUSAGE;
            }
            collections[n_collections++] = optarg;
            break;
        case 'k':
            status = ed_ctl_parse_number("search", "--top-k", optarg, 1, 100, &top_k);
            if (status == ED_CTL_OK && top_k != (int)top_k) {
                fprintf(stderr, "edgectl: search: --top-k: expected a whole number, got \"%s\"\n", optarg);
                status = ED_CTL_EUSAGE;
            }
            break;
        case 'm':
            mode = optarg;
            if (strcmp(mode, "hybrid") != 0 && strcmp(mode, "dense") != 0 && strcmp(mode, "lexical") != 0) {
                fprintf(stderr, "edgectl: search: --mode: expected hybrid, dense or lexical, got \"%s\"\n", mode);
                status = ED_CTL_EUSAGE;
            }
            break;
        case 'j':
            local.json = true;
            break;
        default:
            fprintf(stderr, "edgectl: search: unknown or incomplete option '%s' (see 'edgectl search --help')\n",
                    argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
        if (status != ED_CTL_OK)
            return status;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "edgectl: search: %s (see 'edgectl search --help')\n",
                optind >= argc ? "no QUERY given" : "one QUERY only: quote it");
        return ED_CTL_EUSAGE;
    }
    json_t *query = ed_ctl_text_arg("search", argv[optind]);
    if (!query)
        return ED_CTL_EUSAGE;
    json_t *request = json_pack("{s:o}", "query", query);
    if (n_collections) {
        json_t *list = json_array();
        for (int i = 0; i < n_collections; i++)
            json_array_append_new(list, json_string(collections[i]));
        json_object_set_new(request, "collections", list);
    }
    if (top_k > 0)
        json_object_set_new(request, "top_k", json_integer((json_int_t)top_k));
    if (mode)
        json_object_set_new(request, "mode", json_string(mode));

    ed_client_t *client = NULL;
    json_t *answer = NULL;
    int status = ed_ctl_connect(&local, &client);
    if (status == ED_CTL_OK)
        status = ed_ctl_post_json(&local, client, "/v1/search", request, &answer);
    json_decref(request);
    ed_client_close(client);
    if (status != ED_CTL_OK || local.json) {
        json_decref(answer);
        return status;
    }
    const json_t *data = json_object_get(answer, "data");
    if (json_array_size(data) == 0)
        printf("no matches\n");
    size_t i;
    const json_t *hit;
    json_array_foreach(data, i, hit) {
        const char *title = json_string_value(json_object_get(hit, "title"));
        const char *name = json_string_value(json_object_get(hit, "collection"));
        printf("%zu. %s  (document %" JSON_INTEGER_FORMAT ", chunk %" JSON_INTEGER_FORMAT "%s%s, score %.4g)\n",
               i + 1, title && *title ? title : "(untitled)", json_integer_value(json_object_get(hit, "document_id")),
               json_integer_value(json_object_get(hit, "chunk_index")), name ? ", " : "", name ? name : "",
               json_number_value(json_object_get(hit, "score")));
        const json_t *text = json_object_get(hit, "text");
        if (json_is_string(text))
            print_snippet(json_string_value(text), json_string_length(text));
    }
    json_decref(answer);
    return ED_CTL_OK;
}
