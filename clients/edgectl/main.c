/* main.c - edgectl, the command line for edged: global options, --help,
 * and the table of commands (query.c asks the daemon, chat.c, generate.c,
 * embed.c and tokenize.c use the model, pull.c downloads one, ingest.c,
 * docs.c and search.c use the personal store). Exit statuses are ctl.h's,
 * listed in the help text. */
#include "chat.h"
#include "ctl.h"
#include "adapt.h"
#include "adapters.h"
#include "docs.h"
#include "embed.h"
#include "generate.h"
#include "ingest.h"
#include "pull.h"
#include "query.h"
#include "scheduler.h"
#include "search.h"
#include "tokenize.h"

#include "edgeclient.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(const ed_ctl_t *ctl, int argc, char **argv);
    const char *summary; /* one line for the command list */
    const char *usage;   /* `edgectl NAME --help` */
} command_t;

static const command_t commands[] = {
    {"health", ed_ctl_health, "is the daemon up and ready?",
     "usage: edgectl [OPTIONS] health\n"
     "GET /health: prints 'health: ok (up TIME, edged VERSION)', or the reason the\n"
     "daemon is not ready yet (exit status 1): the model loading, the personal store\n"
     "opening. A daemon that serves without its store adds 'store: failed (WHY)'.\n"},
    {"version", ed_ctl_version, "the daemon's version, API level, kernels and build",
     "usage: edgectl [OPTIONS] version\n"
     "GET /v1/version: the daemon's version, API level, kernels and build.\n"},
    {"metrics", ed_ctl_metrics, "the daemon's Prometheus metrics",
     "usage: edgectl [OPTIONS] metrics\n"
     "GET /metrics: Prometheus text as served; with --json, a JSON array of\n"
     "samples {\"name\", \"labels\", \"value\"} (non-finite values as strings).\n"},
    {"config", ed_ctl_config, "the daemon's effective configuration (admin)",
     "usage: edgectl [OPTIONS] config\n"
     "GET /v1/config: every option's effective value, printed as INI sections.\n"
     "Needs the admin group of the daemon's [access] section.\n"},
    {"chat", ed_ctl_chat, "talk with the model (reads messages from stdin, streams answers)",
     ED_CTL_CHAT_USAGE},
    {"complete", ed_ctl_complete, "continue a plain prompt (streams the text)",
     ED_CTL_COMPLETE_USAGE},
    {"embed", ed_ctl_embed, "the embedding vector of each text", ED_CTL_EMBED_USAGE},
    {"tokenize", ed_ctl_tokenize, "the model's tokens of a text", ED_CTL_TOKENIZE_USAGE},
    {"pull", ed_ctl_pull, "download a GGUF model file (resumable, verified)", ED_CTL_PULL_USAGE},
    {"ingest", ed_ctl_ingest, "store files and folders in the personal store", ED_CTL_INGEST_USAGE},
    {"docs", ed_ctl_docs, "list, show or remove the store's documents", ED_CTL_DOCS_USAGE},
    {"adapters", ed_ctl_adapters, "list, import, activate, remove or export LoRA adapters",
     ED_CTL_ADAPTERS_USAGE},
    {"search", ed_ctl_search, "the store's chunks that best match a query", ED_CTL_SEARCH_USAGE},
    {"scheduler", ed_ctl_scheduler, "why training may or may not run now, constraint by constraint",
     ED_CTL_SCHEDULER_USAGE},
    {"adapt", ed_ctl_adapt, "train a LoRA adapter on collections and follow the job", ED_CTL_ADAPT_USAGE},
    {"jobs", ed_ctl_jobs, "list, show, cancel or watch adapt jobs", ED_CTL_JOBS_USAGE},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_help(FILE *out)
{
    fprintf(out, "usage: edgectl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
                 "       edgectl COMMAND --help\n\n"
                 "Talks to edged, the on-device LLM service, over its Unix socket.\n\n"
                 "Options:\n"
                 "  --socket PATH      the daemon's socket (default: $EDGED_SOCKET, else %s)\n"
                 "  --json             print the daemon's JSON answer as is\n"
                 "  --timeout SECONDS  how long to wait for the daemon (default %d)\n"
                 "  -h, --help         this text\n\n"
                 "Commands:\n",
            ED_CLIENT_DEFAULT_SOCKET, ED_CLIENT_DEFAULT_TIMEOUT_MS / 1000);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nExit status:\n"
                 "  0  success\n"
                 "  1  the daemon (or the download server) answered with an error; its message is printed\n"
                 "  2  bad command line\n"
                 "  3  cannot connect to the daemon's socket (or reach the download host)\n"
                 "  4  no answer within the timeout\n"
                 "  5  an answer edgectl cannot understand, or the connection was lost\n"
                 "  6  pull: the transfer failed or the file could not be written\n"
                 "  7  pull: SHA-256 mismatch, or the file is not a valid GGUF model\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "edgectl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'edgectl --help'.\n");
    return ED_CTL_EUSAGE;
}

int main(int argc, char **argv)
{
    ed_ctl_t ctl = {.timeout_ms = ED_CLIENT_DEFAULT_TIMEOUT_MS};
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            ctl.socket_path = optarg;
            break;
        case 'j':
            ctl.json = true;
            break;
        case 't': {
            char *end;
            double seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0) || seconds > 86400)
                return usage_error("--timeout: expected seconds between 0 and 86400, got \"%s\"",
                                   optarg);
            ctl.timeout_ms = (int)ceil(seconds * 1000);
            break;
        }
        case 'h':
            print_help(stdout);
            return ED_CTL_OK;
        default:
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("%s", "no command given");
    const char *name = argv[optind];
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        for (int a = optind + 1; a < argc; a++) {
            if (strcmp(argv[a], "--") == 0)
                break;
            if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
                fputs(commands[i].usage, stdout);
                return ED_CTL_OK;
            }
        }
        return commands[i].run(&ctl, argc - optind, argv + optind);
    }
    return usage_error("unknown command '%s'", name);
}
