/* docs.h - edgectl docs: ls, show and rm of the documents of the personal
 * store (/v1/documents). */
#ifndef ED_EDGECTL_DOCS_H
#define ED_EDGECTL_DOCS_H

#include "ctl.h"

#define ED_CTL_DOCS_USAGE                                                                      \
    "usage: edgectl [OPTIONS] docs ls [--collection C] [--json]\n"                            \
    "       edgectl [OPTIONS] docs show ID [--text] [--json]\n"                               \
    "       edgectl [OPTIONS] docs rm ID [--json]\n"                                          \
    "The documents of the personal store that you may read.\n"                                 \
    "  ls    GET /v1/documents (every page): id, collection, chunks, tokens, created, title\n"  \
    "        -c, --collection C  only those of collection C\n"                                 \
    "  show  GET /v1/documents/ID: its metadata; with --text its text too\n"                  \
    "  rm    DELETE /v1/documents/ID: its text, chunks and vectors are removed\n"              \
    "  --json  print the daemon's JSON answers as they are\n"

int ed_ctl_docs(const ed_ctl_t *ctl, int argc, char **argv);

#endif
