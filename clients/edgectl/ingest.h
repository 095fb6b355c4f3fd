/* ingest.h - edgectl ingest: files and folders into the personal store
 * (POST /v1/documents, one document per file), with a progress display and
 * a summary. */
#ifndef ED_EDGECTL_INGEST_H
#define ED_EDGECTL_INGEST_H

#include "ctl.h"

#define ED_CTL_INGEST_USAGE                                                                    \
    "usage: edgectl [OPTIONS] ingest FILE_OR_DIR... [--collection C] [--recursive] [--force] [--json]\n" \
    "POST /v1/documents: stores each file as one document of collection C (default\n"         \
    "'default'; created and owned by you when new). Files: .txt (text/plain), .md and\n"      \
    ".markdown (text/markdown), .html and .htm (text/html; edged strips the markup).\n"       \
    "A folder's files of those kinds are taken (hidden ones skipped); other files in it\n"    \
    "are skipped, a named file of another kind is an error.\n"                                 \
    "Each file's source is its path from the folder named (\"notes/a.md\" for ~/notes),\n"    \
    "or a named file's name: a file ingested again is left unchanged when its content\n"     \
    "is the same and replaced (same id, next version) when it changed.\n"                    \
    "  -c, --collection C  the collection (default 'default')\n"                              \
    "  -r, --recursive     also the files of sub-folders\n"                                    \
    "  -f, --force         replace each file's document even when its content is the same\n" \
    "  --json              print the daemon's answer for each file\n"                          \
    "Progress (files, bytes, ETA) goes to stderr; each file's outcome (added,\n"              \
    "unchanged, replaced) and a summary to stdout. A file that\n"                             \
    "fails is reported and the others go on; the exit status is then 1. A full queue\n"      \
    "(another client ingesting) is waited out; a store that is still opening, or did\n"     \
    "not open, stops the run at once and says how many files were not sent.\n"

int ed_ctl_ingest(const ed_ctl_t *ctl, int argc, char **argv);

#endif
