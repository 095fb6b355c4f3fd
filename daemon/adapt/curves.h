/* curves.h - a training run's loss history (run.h's points) written for a
 * person: a CSV table, and an SVG plot of train and held-out loss against
 * the step with ticked, labelled axes (hand-written SVG, no library). */
#ifndef ED_ADAPT_CURVES_H
#define ED_ADAPT_CURVES_H

#include "adapt/run.h"
#include "core/error.h"

/* "step,tokens,elapsed_s,train_loss,heldout_loss" then one row per point;
 * losses with 17 significant digits (a resumed run's rows compare bitwise),
 * an empty held-out cell where there was no evaluation. Written beside path,
 * then renamed. 0 or ED_EIO with err. */
int ed_curves_write_csv(const char *path, const ed_run_point_t *points, int n, char err[ED_ERR_LEN]);

/* The plot; title is escaped for XML. n may be 0 (empty axes). 0 or ED_EIO. */
int ed_curves_write_svg(const char *path, const ed_run_point_t *points, int n, const char *title,
                        char err[ED_ERR_LEN]);

#endif
