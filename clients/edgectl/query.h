/* query.h - the edgectl commands that ask the running daemon something:
 * health, version, metrics, config. Each takes the global options and its
 * arguments (argv[0] is the command's name) and returns an ED_CTL_* status. */
#ifndef ED_EDGECTL_QUERY_H
#define ED_EDGECTL_QUERY_H

#include "ctl.h"

int ed_ctl_health(const ed_ctl_t *ctl, int argc, char **argv);
int ed_ctl_version(const ed_ctl_t *ctl, int argc, char **argv);
int ed_ctl_metrics(const ed_ctl_t *ctl, int argc, char **argv);
int ed_ctl_config(const ed_ctl_t *ctl, int argc, char **argv);

#endif
