/* embed.h - `edgectl embed TEXT...`: the model's embedding of each text
 * (POST /v1/embeddings), printed as one vector per line. */
#ifndef ED_EDGECTL_EMBED_H
#define ED_EDGECTL_EMBED_H

#include "ctl.h"

#define ED_CTL_EMBED_USAGE                                                                 \
    "usage: edgectl [OPTIONS] embed TEXT... [--model NAME] [--json]\n"                     \
    "POST /v1/embeddings: the embedding of each TEXT (L2-normalised), printed one vector\n" \
    "per line in the order given, as numbers separated by spaces ('-' reads one TEXT\n"    \
    "from stdin). By default the chat model embeds; --model names the personal store's\n" \
    "embedding model instead, as GET /v1/models lists it (model:FILE, or hash-v1-384);\n"\
    "a name of the chat model selects it. An unknown name is a 404 model_not_found\n"    \
    "(exit status 1).\n"                                                                  \
    "With --json the daemon's answer is printed as it came.\n"

int ed_ctl_embed(const ed_ctl_t *ctl, int argc, char **argv);

#endif
