/* cli.h - the offline commands of the edged binary (`edged run`, `edged
 * bench`, `edged model-info`): one table that main.c dispatches on by name
 * and whose synopses its usage prints. Each command parses its own options
 * and returns the process's exit status. */
#ifndef ED_CLI_CLI_H
#define ED_CLI_CLI_H

#include <stdio.h>

typedef struct {
    const char *name;     /* argv[1]: "run" */
    const char *synopsis; /* one usage line, without "edged " */
    int (*main)(int argc, char **argv); /* argv[0] is the name; returns 0, 1 (failed) or 2 (usage) */
} ed_cli_command_t;

/* The command called `name`, or NULL when edged should run as the daemon. */
const ed_cli_command_t *ed_cli_find(const char *name);
/* One "       edged SYNOPSIS" line per command. */
void ed_cli_print_synopses(FILE *out);

#endif
