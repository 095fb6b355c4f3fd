/* search.h - edgectl search: the chunks of the personal store that best
 * match a query (POST /v1/search), printed best first. */
#ifndef ED_EDGECTL_SEARCH_H
#define ED_EDGECTL_SEARCH_H

#include "ctl.h"

#define ED_CTL_SEARCH_USAGE                                                                    \
    "usage: edgectl [OPTIONS] search QUERY [--collection C]... [--top-k K] [--mode M] [--json]\n" \
    "POST /v1/search: the chunks of the personal store that best match QUERY ('-' reads\n"   \
    "it from stdin), best first, with their document, score and text.\n"                      \
    "  -c, --collection C  search collection C (repeatable; default: every one you may read)\n" \
    "  -k, --top-k K       at most K hits (1..100; default: the daemon's)\n"                   \
    "  -m, --mode M        hybrid (default), dense or lexical\n"                               \
    "  --json              print the daemon's JSON answer as is\n"

int ed_ctl_search(const ed_ctl_t *ctl, int argc, char **argv);

#endif
