/* embed.c - edgectl embed: one POST /v1/embeddings with every TEXT as the
 * input list; the vectors are printed by their index, one per line. */
#include "embed.h"

#include "call.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* Prints data[i].embedding for i = 0..n_inputs-1; ED_CTL_OK or ED_CTL_EPROTOCOL. */
static int print_vectors(const json_t *answer, size_t n_inputs)
{
    const json_t *data = json_object_get(answer, "data");
    for (size_t i = 0; i < n_inputs; i++) {
        const json_t *vector = NULL;
        size_t k;
        const json_t *item;
        json_array_foreach(data, k, item) {
            const json_t *index = json_object_get(item, "index");
            if (json_is_integer(index) && (size_t)json_integer_value(index) == i)
                vector = json_object_get(item, "embedding");
        }
        if (!json_is_array(vector) || json_array_size(vector) == 0) {
            fprintf(stderr, "edgectl: POST /v1/embeddings: the answer has no embedding for "
                            "input %zu\n", i);
            return ED_CTL_EPROTOCOL;
        }
        const json_t *value;
        json_array_foreach(vector, k, value) {
            if (!json_is_number(value)) {
                fprintf(stderr, "edgectl: POST /v1/embeddings: embedding %zu holds a non-number\n",
                        i);
                return ED_CTL_EPROTOCOL;
            }
            printf("%s%.9g", k ? " " : "", json_number_value(value));
        }
        putchar('\n');
    }
    return ED_CTL_OK;
}

int ed_ctl_embed(const ed_ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"model", required_argument, NULL, 'm'},
        {0, 0, 0, 0},
    };
    const char *model = NULL;
    ed_ctl_t local = *ctl;
    optind = 0; /* a fresh scan of the command's own arguments */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (opt == 'j') {
            local.json = true;
        } else if (opt == 'm') {
            model = optarg;
        } else {
            fprintf(stderr, "edgectl: embed: %s '%s' (see 'edgectl embed --help')\n",
                    opt == ':' ? "missing value of" : "unknown option", argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "edgectl: embed: no TEXT given (see 'edgectl embed --help')\n");
        return ED_CTL_EUSAGE;
    }
    json_t *input = json_array();
    for (int i = optind; i < argc; i++) {
        json_t *text = ed_ctl_text_arg("embed", argv[i]);
        if (!text) {
            json_decref(input);
            return ED_CTL_EUSAGE;
        }
        json_array_append_new(input, text);
    }
    size_t n_inputs = json_array_size(input);
    json_t *request = json_pack("{s:o,s:s*}", "input", input, "model", model);

    ed_client_t *client = NULL;
    int status = ed_ctl_connect(&local, &client);
    json_t *answer = NULL;
    if (status == ED_CTL_OK)
        status = ed_ctl_post_json(&local, client, "/v1/embeddings", request, &answer);
    if (status == ED_CTL_OK && !local.json)
        status = print_vectors(answer, n_inputs);
    json_decref(answer);
    json_decref(request);
    ed_client_close(client);
    return status;
}
