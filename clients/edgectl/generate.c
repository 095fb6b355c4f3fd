/* generate.c - one generation request (chat or plain completion), streamed
 * through ed_client_complete() chunk by chunk or asked for whole, printed as
 * it comes; the sampling options chat and complete share; edgectl complete.
 * Token counts come from the daemon's usage object; the generation time from
 * its timings (first token to last, measured where the tokens are made: the
 * chunks may reach this client in one read); the time to first token from
 * this clock, less that generation time. */
#include "generate.h"

#include "call.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t interrupted; /* SIGINT arrived during a stream */

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int ed_ctl_parse_number(const char *cmd, const char *option, const char *arg, double min,
                        double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !(v >= min && v <= max)) {
        fprintf(stderr, "edgectl: %s: %s: expected a number from %g to %g, got \"%s\"\n", cmd,
                option, min, max, arg);
        return ED_CTL_EUSAGE;
    }
    *out = v;
    return ED_CTL_OK;
}

void ed_ctl_generate_fill(const ed_ctl_generate_opts_t *opts, json_t *request)
{
    if (opts->model)
        json_object_set_new(request, "model", json_string(opts->model));
    if (opts->adapter)
        json_object_set_new(request, "adapter", json_string(opts->adapter));
    if (opts->has_temperature)
        json_object_set_new(request, "temperature", json_real(opts->temperature));
    if (opts->has_seed)
        json_object_set_new(request, "seed", json_integer(opts->seed));
    if (opts->max_tokens > 0)
        json_object_set_new(request, "max_tokens", json_integer(opts->max_tokens));
    json_object_set_new(request, "stream", json_boolean(opts->stream));
    if (opts->stream)
        json_object_set_new(request, "stream_options", json_pack("{s:b}", "include_usage", 1));
}

void ed_ctl_generation_free(ed_ctl_generation_t *gen)
{
    free(gen->text);
    json_decref(gen->citations);
    *gen = (ed_ctl_generation_t){.prompt_tokens = -1, .completion_tokens = -1, .predicted_n = -1};
}

/* What the chunk callback of one stream keeps. */
typedef struct {
    const ed_ctl_t *ctl;
    const char *path;
    int chat;             /* chunks carry choices[0].delta.content, not choices[0].text */
    ed_ctl_generation_t *gen;
    size_t cap;           /* bytes allocated for gen->text */
    int failed;           /* an ED_CTL_* status a chunk ran into */
} stream_t;

static int append_text(ed_ctl_generation_t *gen, size_t *cap, const char *text, size_t len)
{
    if (gen->len + len + 1 > *cap) {
        size_t grown = *cap ? *cap : 256;
        while (grown < gen->len + len + 1)
            grown *= 2;
        char *p = realloc(gen->text, grown);
        if (!p)
            return -1;
        gen->text = p;
        *cap = grown;
    }
    memcpy(gen->text + gen->len, text, len);
    gen->len += len;
    gen->text[gen->len] = '\0';
    return 0;
}

/* Takes the finish reason, usage, timings and citations of an answer or chunk, where present. */
static void take_finish_and_usage(ed_ctl_generation_t *gen, const json_t *choice, const json_t *root)
{
    const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (finish)
        snprintf(gen->finish_reason, sizeof gen->finish_reason, "%s", finish);
    const json_t *usage = json_object_get(root, "usage");
    if (json_is_object(usage)) {
        gen->prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
        gen->completion_tokens =
            (long)json_integer_value(json_object_get(usage, "completion_tokens"));
    }
    const json_t *timings = json_object_get(root, "timings");
    const json_t *predicted_ms = json_object_get(timings, "predicted_ms");
    const json_t *predicted_n = json_object_get(timings, "predicted_n");
    if (json_is_number(predicted_ms) && json_is_integer(predicted_n)) {
        gen->predicted_ms = json_number_value(predicted_ms);
        gen->predicted_n = (long)json_integer_value(predicted_n);
    }
    const json_t *citations = json_object_get(root, "citations");
    if (json_is_array(citations) && !gen->citations)
        gen->citations = json_incref((json_t *)citations);
}

static int on_chunk(void *user, const char *data, size_t len)
{
    stream_t *s = user;
    if (interrupted)
        return 1;
    if (s->ctl->json) {
        printf("%.*s\n", (int)len, data);
        fflush(stdout);
    }
    json_error_t error;
    json_t *root = json_loadb(data, len, 0, &error);
    if (!json_is_object(root)) {
        fprintf(stderr, "edgectl: POST %s: a chunk of the stream is not a JSON object: %.*s\n",
                s->path, (int)(len > 200 ? 200 : len), data);
        json_decref(root);
        s->failed = ED_CTL_EPROTOCOL;
        return 1;
    }
    const json_t *error_object = json_object_get(root, "error");
    if (error_object) { /* the daemon gave up midway and said why */
        const char *message = json_string_value(json_object_get(error_object, "message"));
        fprintf(stderr, "%sedgectl: POST %s: %s\n", s->gen->len ? "\n" : "", s->path,
                message ? message : "an error without a message");
        json_decref(root);
        s->failed = ED_CTL_EANSWER;
        return 1;
    }
    const json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    const json_t *holder = s->chat ? json_object_get(choice, "delta") : choice;
    const char *text = json_string_value(json_object_get(holder, s->chat ? "content" : "text"));
    size_t text_len = json_string_length(json_object_get(holder, s->chat ? "content" : "text"));
    if (text && text_len) {
        if (append_text(s->gen, &s->cap, text, text_len) != 0) {
            fprintf(stderr, "edgectl: out of memory\n");
            json_decref(root);
            s->failed = ED_CTL_EPROTOCOL;
            return 1;
        }
        if (!s->ctl->json) {
            fwrite(text, 1, text_len, stdout);
            fflush(stdout);
        }
    }
    take_finish_and_usage(s->gen, choice, root);
    json_decref(root);
    return 0;
}

/* "edgectl: P prompt tokens, N generated, finish: F; time to first token T ms;
 * generation: N-1 tokens after the first in S s, R tokens/s". The generation
 * is the daemon's: from the first token to the last (timings.predicted_ms),
 * so R = (N-1) / S; the time to first token is this client's, from sending
 * the request to the end of the answer, less S. Without timings (or with one
 * token) only the counts and the whole time are printed. */
static void print_verbose(const ed_ctl_generation_t *gen, double start_ms)
{
    double total_ms = now_ms() - start_ms;
    fprintf(stderr, "edgectl: %ld prompt tokens, %ld generated, finish: %s", gen->prompt_tokens,
            gen->completion_tokens, gen->finish_reason[0] ? gen->finish_reason : "none");
    if (gen->predicted_n < 1 || gen->predicted_ms < 0) {
        fprintf(stderr, "; answered in %.0f ms\n", total_ms);
        return;
    }
    double ttft_ms = total_ms > gen->predicted_ms ? total_ms - gen->predicted_ms : 0;
    fprintf(stderr, "; time to first token %.0f ms", ttft_ms);
    long after_first = gen->predicted_n - 1;
    if (after_first > 0 && gen->predicted_ms > 0)
        fprintf(stderr, "; generation: %ld tokens after the first in %.6f s, %.1f tokens/s", after_first,
                gen->predicted_ms / 1e3, after_first * 1e3 / gen->predicted_ms);
    fputc('\n', stderr);
}

/* The whole answer at once (--no-stream). */
static int generate_whole(const ed_ctl_t *ctl, ed_client_t *client, const char *path, int chat,
                          const json_t *request, ed_ctl_generation_t *gen)
{
    json_t *answer = NULL;
    int status = ed_ctl_post_json(ctl, client, path, request, &answer);
    if (status != ED_CTL_OK)
        return status;
    const json_t *choice = json_array_get(json_object_get(answer, "choices"), 0);
    const json_t *holder = chat ? json_object_get(choice, "message") : choice;
    const json_t *text = json_object_get(holder, chat ? "content" : "text");
    size_t cap = 0;
    if (!json_is_string(text)) {
        fprintf(stderr, "edgectl: POST %s: the answer has no %s\n", path,
                chat ? "choices[0].message.content" : "choices[0].text");
        status = ED_CTL_EPROTOCOL;
    } else if (append_text(gen, &cap, json_string_value(text), json_string_length(text)) != 0) {
        fprintf(stderr, "edgectl: out of memory\n");
        status = ED_CTL_EPROTOCOL;
    } else {
        take_finish_and_usage(gen, choice, answer);
        if (!ctl->json)
            fwrite(gen->text, 1, gen->len, stdout);
    }
    json_decref(answer);
    return status;
}

int ed_ctl_generate(const ed_ctl_t *ctl, const ed_ctl_generate_opts_t *opts, ed_client_t *client,
                    const char *path, const json_t *request, ed_ctl_generation_t *out)
{
    *out = (ed_ctl_generation_t){.prompt_tokens = -1, .completion_tokens = -1, .predicted_n = -1};
    int chat = strstr(path, "/chat/") != NULL;
    double start_ms = now_ms();
    if (!opts->stream) {
        int status = generate_whole(ctl, client, path, chat, request, out);
        if (status == ED_CTL_OK && !ctl->json && (out->len == 0 || out->text[out->len - 1] != '\n'))
            putchar('\n');
        if (status == ED_CTL_OK && opts->verbose)
            print_verbose(out, start_ms);
        return status;
    }

    char *body = json_dumps(request, JSON_COMPACT);
    if (!body) {
        fprintf(stderr, "edgectl: out of memory\n");
        return ED_CTL_EPROTOCOL;
    }
    stream_t s = {.ctl = ctl, .path = path, .chat = chat, .gen = out};
    struct sigaction action = {.sa_handler = on_sigint}, saved;
    sigemptyset(&action.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &action, &saved);
    char err[ED_CLIENT_ERR_LEN];
    ed_client_response_t resp = {0};
    int rc = ed_client_complete(client, path, body, strlen(body), on_chunk, &s, &resp, err);
    sigaction(SIGINT, &saved, NULL);
    free(body);

    int status = ED_CTL_OK;
    if (rc == ED_CLIENT_ECANCELED && interrupted) {
        snprintf(out->finish_reason, sizeof out->finish_reason, "interrupted");
        fprintf(stderr, "%sedgectl: stopped\n", out->len ? "\n" : ""); /* the text so far stays */
    } else if (rc == ED_CLIENT_ECANCELED) {
        status = s.failed;
    } else if (rc == ED_CLIENT_EANSWER) {
        status = ed_ctl_answer_failure("POST", path, &resp);
    } else if (rc != 0) {
        if (out->len)
            fputc('\n', stdout);
        status = ed_ctl_client_failure(ed_client_socket(client), rc, err);
    }
    ed_client_response_free(&resp);
    if (status == ED_CTL_OK && !ctl->json && !interrupted &&
        (out->len == 0 || out->text[out->len - 1] != '\n'))
        putchar('\n');
    fflush(stdout);
    if (status == ED_CTL_OK && opts->verbose)
        print_verbose(out, start_ms);
    return status;
}

int ed_ctl_complete(const ed_ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"max-tokens", required_argument, NULL, 'n'},
        {"temp", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},
        {"model", required_argument, NULL, 'm'},
        {"adapter", required_argument, NULL, 'A'},
        {"no-stream", no_argument, NULL, 'N'},
        {"verbose", no_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    ed_ctl_t local = *ctl;
    ed_ctl_generate_opts_t opts = {.stream = true};
    optind = 0; /* a fresh scan of the command's own arguments */
    opterr = 0;
    int opt;
    double v;
    while ((opt = getopt_long(argc, argv, "n:v", options, NULL)) != -1) {
        int status = ED_CTL_OK;
        switch (opt) {
        case 'n':
            status = ed_ctl_parse_number("complete", "--max-tokens", optarg, 1, 1e9, &v);
            opts.max_tokens = (long)v;
            break;
        case 't':
            status = ed_ctl_parse_number("complete", "--temp", optarg, 0, 100, &v);
            opts.temperature = v;
            opts.has_temperature = true;
            break;
        case 's':
            status = ed_ctl_parse_number("complete", "--seed", optarg, -9.007e15, 9.007e15, &v);
            opts.seed = (long long)v;
            opts.has_seed = true;
            break;
        case 'm':
            opts.model = optarg;
            break;
        case 'A':
            opts.adapter = optarg;
            break;
        case 'N':
            opts.stream = false;
            break;
        case 'v':
            opts.verbose = true;
            break;
        case 'j':
            local.json = true;
            break;
        default:
            fprintf(stderr, "edgectl: complete: unknown or incomplete option '%s' "
                            "(see 'edgectl complete --help')\n", argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
        if (status != ED_CTL_OK)
            return status;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "edgectl: complete: %s (see 'edgectl complete --help')\n",
                optind >= argc ? "no PROMPT given" : "one PROMPT only: quote it");
        return ED_CTL_EUSAGE;
    }
    json_t *prompt = ed_ctl_text_arg("complete", argv[optind]);
    if (!prompt)
        return ED_CTL_EUSAGE;
    json_t *request = json_pack("{s:o}", "prompt", prompt);
    ed_ctl_generate_fill(&opts, request);

    ed_client_t *client = NULL;
    int status = ed_ctl_connect(&local, &client);
    if (status == ED_CTL_OK) {
        ed_ctl_generation_t gen;
        status = ed_ctl_generate(&local, &opts, client, "/v1/completions", request, &gen);
        ed_ctl_generation_free(&gen);
    }
    json_decref(request);
    ed_client_close(client);
    return status;
}
