/* adapters.h - edgectl adapters: ls, show, import, activate, deactivate, rm
 * and export of the daemon's LoRA adapters (/v1/adapters). */
#ifndef ED_EDGECTL_ADAPTERS_H
#define ED_EDGECTL_ADAPTERS_H

#include "ctl.h"

#define ED_CTL_ADAPTERS_USAGE                                                                   \
    "usage: edgectl [OPTIONS] adapters ls [--json]\n"                                          \
    "       edgectl [OPTIONS] adapters show ADAPTER [--json]\n"                                \
    "       edgectl [OPTIONS] adapters import FILE [--name NAME] [--json]\n"                   \
    "       edgectl [OPTIONS] adapters activate ADAPTER [--json]\n"                            \
    "       edgectl [OPTIONS] adapters deactivate [--json]\n"                                  \
    "       edgectl [OPTIONS] adapters rm ADAPTER [--force] [--json]\n"                        \
    "       edgectl [OPTIONS] adapters export ADAPTER OUT.gguf\n"                              \
    "The daemon's LoRA adapters (llama.cpp's GGUF format). ADAPTER is an id, a name or\n"     \
    "NAME@VERSION.\n"                                                                           \
    "  ls          GET /v1/adapters: id, name, version, status, rank, targets\n"               \
    "  show        GET /v1/adapters/ADAPTER: its fields\n"                                      \
    "  import      POST /v1/adapters: the name from --name or the file's edged.adapter.name;\n" \
    "              each import of a name is its next version (adapt group)\n"                  \
    "  activate    the default of requests that name no adapter (rollback: activate an\n"      \
    "              earlier version)\n"                                                          \
    "  deactivate  requests that name no adapter use the base alone\n"                         \
    "  rm          delete it (an active one needs --force)\n"                                   \
    "  export      write its plain GGUF file to OUT.gguf (admin group)\n"                      \
    "  --json      print the daemon's JSON answers as they are\n"

int ed_ctl_adapters(const ed_ctl_t *ctl, int argc, char **argv);

#endif
