/* chat.c - edgectl chat: the conversation loop. Keeps the messages (system,
 * then user/assistant turns) as a JSON array, sends them all with each new
 * line through generate.c, and appends the answer; with --rag the request
 * asks for notes from the personal store and their citations are printed
 * after the answer. One kept-alive connection for the whole session. */
#include "chat.h"

#include "call.h"
#include "generate.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *message(const char *role, const char *content, size_t len)
{
    return json_pack("{s:s, s:s%}", "role", role, "content", content, len);
}

/* Empties the conversation down to its system message (if any). */
static void reset(json_t *messages, const char *system)
{
    json_array_clear(messages);
    if (system)
        json_array_append_new(messages, message("system", system, strlen(system)));
}

/* Prints the citations of an answer: "  [1] title (document 12, chunk 0)". */
static void print_citations(const json_t *citations)
{
    size_t i;
    const json_t *c;
    json_array_foreach(citations, i, c) {
        const char *title = json_string_value(json_object_get(c, "title"));
        printf("  [%" JSON_INTEGER_FORMAT "] %s (document %" JSON_INTEGER_FORMAT ", chunk %" JSON_INTEGER_FORMAT
               ")\n",
               json_integer_value(json_object_get(c, "number")), title && *title ? title : "(untitled)",
               json_integer_value(json_object_get(c, "document_id")),
               json_integer_value(json_object_get(c, "chunk_index")));
    }
    fflush(stdout);
}

static int parse_args(int argc, char **argv, ed_ctl_t *ctl, ed_ctl_generate_opts_t *opts,
                      const char **system, json_t *rag_collections)
{
    static const struct option options[] = {
        {"system", required_argument, NULL, 'S'},
        {"max-tokens", required_argument, NULL, 'n'},
        {"temp", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},
        {"model", required_argument, NULL, 'm'},
        {"adapter", required_argument, NULL, 'A'},
        {"no-stream", no_argument, NULL, 'N'},
        {"verbose", no_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {"rag", required_argument, NULL, 'r'},
        {0, 0, 0, 0},
    };
    optind = 0; /* a fresh scan of the command's own arguments */
    opterr = 0;
    int opt;
    double v;
    while ((opt = getopt_long(argc, argv, "n:v", options, NULL)) != -1) {
        int status = ED_CTL_OK;
        switch (opt) {
        case 'S':
            *system = optarg;
            break;
        case 'n':
            status = ed_ctl_parse_number("chat", "--max-tokens", optarg, 1, 1e9, &v);
            opts->max_tokens = (long)v;
            break;
        case 't':
            status = ed_ctl_parse_number("chat", "--temp", optarg, 0, 100, &v);
            opts->temperature = v;
            opts->has_temperature = true;
            break;
        case 's':
            status = ed_ctl_parse_number("chat", "--seed", optarg, -9.007e15, 9.007e15, &v);
            opts->seed = (long long)v;
            opts->has_seed = true;
            break;
        case 'm':
            opts->model = optarg;
            break;
        case 'A':
            opts->adapter = optarg;
            break;
        case 'N':
            opts->stream = false;
            break;
        case 'v':
            opts->verbose = true;
            break;
        case 'j':
            ctl->json = true;
            break;
        case 'r':
            if (!*optarg || json_array_append_new(rag_collections, json_string(optarg)) != 0) {
                fprintf(stderr, "edgectl: chat: --rag: expected a collection name, got \"%s\"\n", optarg);
                return ED_CTL_EUSAGE;
            }
            break;
        default:
            fprintf(stderr, "edgectl: chat: unknown or incomplete option '%s' "
                            "(see 'edgectl chat --help')\n", argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
        if (status != ED_CTL_OK)
            return status;
    }
    if (optind < argc) {
        fprintf(stderr, "edgectl: chat: unexpected argument '%s': messages are read from stdin "
                        "(see 'edgectl chat --help')\n", argv[optind]);
        return ED_CTL_EUSAGE;
    }
    json_t *probe = *system ? json_string(*system) : NULL;
    if (*system && !probe) {
        fprintf(stderr, "edgectl: chat: --system: not valid UTF-8 text\n");
        return ED_CTL_EUSAGE;
    }
    json_decref(probe);
    return ED_CTL_OK;
}

int ed_ctl_chat(const ed_ctl_t *ctl, int argc, char **argv)
{
    ed_ctl_t local = *ctl;
    ed_ctl_generate_opts_t opts = {.stream = true};
    const char *system = NULL;
    json_t *rag_collections = json_array();
    int status = parse_args(argc, argv, &local, &opts, &system, rag_collections);
    json_t *rag = json_array_size(rag_collections) ? json_pack("{s:o}", "collections", rag_collections) : NULL;
    if (!rag)
        json_decref(rag_collections);
    if (status != ED_CTL_OK) {
        json_decref(rag);
        return status;
    }
    ed_client_t *client = NULL;
    status = ed_ctl_connect(&local, &client);
    if (status != ED_CTL_OK) {
        json_decref(rag);
        return status;
    }

    int interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (interactive)
        fprintf(stderr, "edgectl chat on %s: type a message; /reset forgets, /exit ends\n",
                ed_client_socket(client));
    json_t *messages = json_array();
    reset(messages, system);
    int answer_failed = 0; /* an error answer was printed and the chat went on */
    char *line = NULL;
    size_t line_cap = 0;
    for (;;) {
        if (interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &line_cap, stdin);
        if (n < 0)
            break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0)
            break;
        if (strcmp(line, "/reset") == 0) {
            reset(messages, system);
            fprintf(stderr, "edgectl: the conversation is cleared\n");
            continue;
        }
        json_t *turn = message("user", line, (size_t)n);
        if (!turn) {
            fprintf(stderr, "edgectl: chat: the line is not valid UTF-8 text; not sent\n");
            answer_failed = 1;
            continue;
        }
        json_array_append_new(messages, turn);
        json_t *request = json_pack("{s:O}", "messages", messages);
        if (rag)
            json_object_set(request, "rag", rag);
        ed_ctl_generate_fill(&opts, request);
        ed_ctl_generation_t gen;
        status = ed_ctl_generate(&local, &opts, client, "/v1/chat/completions", request, &gen);
        json_decref(request);
        if (status == ED_CTL_OK && rag && !local.json)
            print_citations(gen.citations);
        if (status == ED_CTL_OK)
            json_array_append_new(messages, message("assistant", gen.text ? gen.text : "", gen.len));
        else /* the turn did not happen: the message is dropped */
            json_array_remove(messages, json_array_size(messages) - 1);
        ed_ctl_generation_free(&gen);
        if (status == ED_CTL_EANSWER) {
            answer_failed = 1;
            status = ED_CTL_OK;
        }
        if (status != ED_CTL_OK)
            break; /* the daemon is gone or does not answer: no point going on */
    }
    if (interactive && status == ED_CTL_OK)
        putchar('\n');
    free(line);
    json_decref(rag);
    json_decref(messages);
    ed_client_close(client);
    return status == ED_CTL_OK && answer_failed ? ED_CTL_EANSWER : status;
}
