/* tokenize.h - `edgectl tokenize TEXT [--pieces]`: how the model's tokenizer
 * splits a text (POST /v1/tokenize). */
#ifndef ED_EDGECTL_TOKENIZE_H
#define ED_EDGECTL_TOKENIZE_H

#include "ctl.h"

#define ED_CTL_TOKENIZE_USAGE                                                               \
    "usage: edgectl [OPTIONS] tokenize TEXT [--pieces] [--special] [--json]\n"             \
    "POST /v1/tokenize: the token ids of TEXT on one line, separated by spaces ('-'\n"     \
    "reads TEXT from stdin).\n"                                                            \
    "  --pieces   one token per line: its id, a tab, and its text as a JSON string\n"      \
    "  --special  add the model's special tokens (e.g. BOS) as a prompt would have them\n" \
    "  --json     print the daemon's answer as it came\n"

int ed_ctl_tokenize(const ed_ctl_t *ctl, int argc, char **argv);

#endif
