/* generate.h - text generation through the daemon, shared by `edgectl chat`
 * and `edgectl complete`: the sampling options, and one request to
 * /v1/chat/completions or /v1/completions whose text is printed to stdout as
 * it arrives (a stream of chunks) or when it has come (--no-stream). Also
 * `edgectl complete` itself. */
#ifndef ED_EDGECTL_GENERATE_H
#define ED_EDGECTL_GENERATE_H

#include "ctl.h"

#include "edgeclient.h"

#include <jansson.h>
#include <stdbool.h>

/* What the command line asked of the sampler; unset ones are left to the daemon. */
typedef struct {
    double temperature; /* --temp, >= 0 */
    bool has_temperature;
    long long seed; /* --seed */
    bool has_seed;
    long max_tokens; /* --max-tokens / -n; 0: the daemon's default */
    bool stream;     /* false with --no-stream */
    bool verbose;    /* --verbose: token counts and speed on stderr after each answer */
    const char *model; /* --model; NULL: the daemon's served model */
    const char *adapter; /* --adapter; NULL: the daemon's active adapter, if any */
} ed_ctl_generate_opts_t;

/* Parses the value of a number option into [min, max]: ED_CTL_OK, or
 * ED_CTL_EUSAGE after printing "edgectl: CMD: OPTION: ...". */
int ed_ctl_parse_number(const char *cmd, const char *option, const char *arg, double min,
                        double max, double *out);

/* Adds "model" and the sampling options that were given, "stream" and, when streaming,
 * "stream_options": {"include_usage": true} to a request object. */
void ed_ctl_generate_fill(const ed_ctl_generate_opts_t *opts, json_t *request);

/* What one generation produced. */
typedef struct {
    char *text;             /* the whole text, malloc'd, NUL-terminated (the caller frees it) */
    size_t len;             /* bytes */
    char finish_reason[16]; /* "stop", "length", ... or "" if none came */
    long prompt_tokens;     /* from usage; -1 if the daemon sent none */
    long completion_tokens;
    long predicted_n;       /* from timings: tokens generated; -1 if the daemon sent no timings */
    double predicted_ms;    /* from timings: the daemon's time from the first token to the last */
    json_t *citations;      /* the answer's citations (rag: the first chunk's), a reference or NULL */
} ed_ctl_generation_t;

/* Sends `request` (built for `path`: messages for /v1/chat/completions, a
 * prompt for /v1/completions) on `client` and prints the generated text to
 * stdout (with ctl->json: every chunk, or the answer, as the daemon sent it),
 * followed by a newline; with opts->verbose the counts and speed go to
 * stderr. An interrupt (SIGINT) while streaming stops the generation: the
 * connection is closed, which cancels it in the daemon, and the text so far
 * is kept (finish_reason "interrupted"). Fills *out (release it with
 * ed_ctl_generation_free). Returns ED_CTL_OK or an exit status (printed). */
int ed_ctl_generate(const ed_ctl_t *ctl, const ed_ctl_generate_opts_t *opts, ed_client_t *client,
                    const char *path, const json_t *request, ed_ctl_generation_t *out);
void ed_ctl_generation_free(ed_ctl_generation_t *gen);

#define ED_CTL_COMPLETE_USAGE                                                                  \
    "usage: edgectl [OPTIONS] complete PROMPT [-n N] [--temp T] [--seed S] [--model NAME]\n"  \
    "                                  [--adapter A] [--no-stream] [--verbose] [--json]\n"     \
    "POST /v1/completions: continues PROMPT (a plain prompt, no chat template; '-' reads\n"   \
    "it from stdin) and prints the text as it is generated.\n"                                 \
    "  -n, --max-tokens N  generate at most N tokens (default: the daemon's)\n"                \
    "  --temp T            sampling temperature (0: greedy; default: the daemon's)\n"          \
    "  --seed S            sampler seed, for repeatable answers\n"                             \
    "  --model NAME        a name GET /v1/models lists (default: the served model); an\n"    \
    "                      unknown name is a 404 model_not_found (exit status 1)\n"           \
    "  --adapter A         answer with LoRA adapter A: a name, NAME@VERSION, an id or none\n"  \
    "                      (default: the daemon's active adapter; see edgectl adapters)\n"   \
    "  --no-stream         wait for the whole answer instead of streaming it\n"                \
    ED_CTL_VERBOSE_USAGE                                                                       \
    "  --json              print the daemon's JSON chunks (or answer) as they come\n"          \
    "Ctrl-C stops the generation. A 503 answer means the model is not ready or every\n"      \
    "slot is busy and the queue full (exit status 1).\n"

int ed_ctl_complete(const ed_ctl_t *ctl, int argc, char **argv);

/* What --verbose prints, for chat's and complete's usage. */
#define ED_CTL_VERBOSE_USAGE                                                                   \
    "  --verbose           after each answer, on stderr: prompt and generated token\n"        \
    "                      counts, finish reason, time to first token (from sending the\n"    \
    "                      request to the last token, less the generation time) and the\n"    \
    "                      generation: the tokens after the first, the daemon's time from\n"  \
    "                      the first token to the last (timings.predicted_ms) and their\n"    \
    "                      ratio, tokens/s\n"

#endif
