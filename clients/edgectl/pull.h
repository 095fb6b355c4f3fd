/* pull.h - `edgectl pull URL [--sha256 HEX] [-o FILE]`: downloads a GGUF
 * model with libcurl into FILE.part (resuming a partial one with a Range
 * request), checks its SHA-256 and that it is a valid GGUF file, then renames
 * it into place. Runs without the daemon. */
#ifndef ED_EDGECTL_PULL_H
#define ED_EDGECTL_PULL_H

#include "ctl.h"

#define ED_CTL_PULL_USAGE                                                                  \
    "usage: edgectl [--json] [--timeout SECONDS] pull URL [--sha256 HEX] [-o FILE]\n"      \
    "Downloads a GGUF model over http(s) into FILE (default: the last part of the URL's\n" \
    "path, in the current directory). The data goes to FILE.part first; if an earlier\n"   \
    "download was cut off, running the same command again resumes it. The file is\n"      \
    "renamed into place only after its SHA-256 matches --sha256 (when given; strongly\n"   \
    "advised, it also guards a resume against a changed remote file) and it reads as a\n"  \
    "valid GGUF model. A file that fails either check is deleted. --timeout bounds\n"      \
    "connecting and any stall of the transfer (default 30 s). Progress goes to stderr;\n"  \
    "with --json the result is printed as {\"path\", \"bytes\", \"sha256\"}.\n"

int ed_ctl_pull(const ed_ctl_t *ctl, int argc, char **argv);

#endif
