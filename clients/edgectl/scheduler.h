/* scheduler.h - edgectl scheduler: why training may or may not run now, one
 * line per constraint of GET /v1/scheduler. */
#ifndef ED_EDGECTL_SCHEDULER_H
#define ED_EDGECTL_SCHEDULER_H

#include "ctl.h"

#define ED_CTL_SCHEDULER_USAGE                                                                   \
    "usage: edgectl [OPTIONS] scheduler\n"                                                     \
    "GET /v1/scheduler: whether the training window is open, the trainer's state, then one\n" \
    "line per constraint: its verdict (ok, FAIL, unknown), name, value and threshold, and\n"   \
    "why; last, when the allowed hours open next. Exit status 0 whether or not training\n"     \
    "may run (--json prints the answer as is). Needs the adapt group.\n"

int ed_ctl_scheduler(const ed_ctl_t *ctl, int argc, char **argv);

#endif
