/* cli.c - the table of cli.h. A new offline command (train, eval, quantize)
 * is one row here and its own .c/.h pair beside this file. */
#include "cli/cli.h"

#include "cli/bench.h"
#include "cli/info.h"
#include "cli/run.h"
#include "cli/train.h"

#include <string.h>

static const ed_cli_command_t COMMANDS[] = {
    {"model-info", "model-info FILE [--ctx N]", ed_info_main},
    {"run", "run -m FILE (-p PROMPT | --chat) [options]   (see edged run --help)", ed_run_main},
    {"bench", "bench -m FILE [-p 512] [-n 128] [-t N] [-r N] [--json]", ed_bench_main},
    {"train", "train -m BASE (--data PATH | --state DIR --collection NAME) [-o ADAPTER.gguf] [options]", ed_train_main},
};

const ed_cli_command_t *ed_cli_find(const char *name)
{
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(name, COMMANDS[i].name) == 0)
            return &COMMANDS[i];
    return NULL;
}

void ed_cli_print_synopses(FILE *out)
{
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "       edged %s\n", COMMANDS[i].synopsis);
}
