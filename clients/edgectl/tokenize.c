/* tokenize.c - edgectl tokenize: one POST /v1/tokenize; the ids printed on
 * one line, or with --pieces one token per line with its text. */
#include "tokenize.h"

#include "call.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints the answer's tokens: ids, or {id, piece} objects with --pieces. */
static int print_tokens(const json_t *answer, int pieces)
{
    const json_t *tokens = json_object_get(answer, "tokens");
    if (!json_is_array(tokens)) {
        fprintf(stderr, "edgectl: POST /v1/tokenize: the answer has no tokens array\n");
        return ED_CTL_EPROTOCOL;
    }
    size_t i;
    const json_t *token;
    json_array_foreach(tokens, i, token) {
        const json_t *id = pieces ? json_object_get(token, "id") : token;
        const json_t *piece = json_object_get(token, "piece");
        if (!json_is_integer(id) || (pieces && !json_is_string(piece))) {
            fprintf(stderr, "edgectl: POST /v1/tokenize: token %zu is not %s\n", i,
                    pieces ? "{\"id\", \"piece\"}" : "an integer id");
            return ED_CTL_EPROTOCOL;
        }
        if (pieces) {
            char *quoted = json_dumps(piece, JSON_ENCODE_ANY);
            printf("%lld\t%s\n", (long long)json_integer_value(id), quoted ? quoted : "?");
            free(quoted);
        } else {
            printf("%s%lld", i ? " " : "", (long long)json_integer_value(id));
        }
    }
    if (!pieces)
        putchar('\n');
    return ED_CTL_OK;
}

int ed_ctl_tokenize(const ed_ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"pieces", no_argument, NULL, 'p'},
        {"special", no_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    ed_ctl_t local = *ctl;
    int pieces = 0, special = 0;
    optind = 0; /* a fresh scan of the command's own arguments */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pieces = 1;
            break;
        case 's':
            special = 1;
            break;
        case 'j':
            local.json = true;
            break;
        default:
            fprintf(stderr, "edgectl: tokenize: unknown option '%s' "
                            "(see 'edgectl tokenize --help')\n", argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "edgectl: tokenize: %s (see 'edgectl tokenize --help')\n",
                optind >= argc ? "no TEXT given" : "one TEXT only: quote it");
        return ED_CTL_EUSAGE;
    }
    json_t *text = ed_ctl_text_arg("tokenize", argv[optind]);
    if (!text)
        return ED_CTL_EUSAGE;
    json_t *request = json_pack("{s:o, s:b, s:b}", "content", text, "add_special", special,
                                "with_pieces", pieces);

    ed_client_t *client = NULL;
    int status = ed_ctl_connect(&local, &client);
    json_t *answer = NULL;
    if (status == ED_CTL_OK)
        status = ed_ctl_post_json(&local, client, "/v1/tokenize", request, &answer);
    if (status == ED_CTL_OK && !local.json)
        status = print_tokens(answer, pieces);
    json_decref(answer);
    json_decref(request);
    ed_client_close(client);
    return status;
}
