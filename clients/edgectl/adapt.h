/* adapt.h - edgectl adapt (queue a LoRA training job on collections and
 * watch it: a progress bar and a loss sparkline from its event stream) and
 * edgectl jobs ls | show | cancel | watch (/v1/adapt/jobs). */
#ifndef ED_EDGECTL_ADAPT_H
#define ED_EDGECTL_ADAPT_H

#include "ctl.h"

#define ED_CTL_ADAPT_USAGE                                                                          \
    "usage: edgectl [OPTIONS] adapt COLLECTION... [--budget 10m] [--steps N] [--rank N]\n"        \
    "              [--alpha X] [--seq-len N] [--lr X] [--targets q,k,v,o] [--heldout F]\n"        \
    "              [--name NAME] [--examples FILE.json] [--seed N] [--run-now] [--detach]\n"      \
    "POST /v1/adapt: trains a LoRA adapter on the documents of the collections (and on chat\n"    \
    "examples: a JSON array of message arrays) in the training window, then follows the job:\n"  \
    "a progress bar, the loss as a sparkline, pauses for inference, and at the end the\n"         \
    "adapter it made (stdout). --budget: seconds of training (90s, 10m, 1h); --run-now (admin)\n" \
    "ignores every window constraint but temperature; --detach prints the job id and returns.\n"  \
    "Exit status 0 when the job is done (or detached), 1 when it failed or was cancelled.\n"      \
    "Needs the adapt group.\n"

#define ED_CTL_JOBS_USAGE                                                                        \
    "usage: edgectl [OPTIONS] jobs ls [--json]\n"                                              \
    "       edgectl [OPTIONS] jobs show JOB [--json]\n"                                        \
    "       edgectl [OPTIONS] jobs cancel JOB [--json]\n"                                      \
    "       edgectl [OPTIONS] jobs watch JOB\n"                                                \
    "Adapt jobs (/v1/adapt/jobs): yours, or every one for an admin.\n"                         \
    "  ls      id, state, progress, name, collections, adapter\n"                              \
    "  show    its fields, the reason for its state and its loss sparkline\n"                   \
    "  cancel  stop it (a running one at its next kernel call); its checkpoints are deleted\n"  \
    "  watch   follow it as edgectl adapt does, until it ends\n"

int ed_ctl_adapt(const ed_ctl_t *ctl, int argc, char **argv);
int ed_ctl_jobs(const ed_ctl_t *ctl, int argc, char **argv);

#endif
