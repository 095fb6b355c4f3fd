/* run.h - one training run: optimizer steps of grad_accum windows each over
 * a dataset (dataset.h) with a trainer (trainer.h), held-out loss every
 * eval_every steps, the adapter of the best held-out loss kept, early
 * stopping after `patience` evaluations without improvement, a budget of
 * seconds of training and a step cap, and checkpoints of the whole state
 * (adapter, moments, step, data cursor, RNG, loss history, best adapter)
 * every ckpt_every_steps steps or ckpt_every_s seconds, handed to the
 * caller to seal and store. A run resumed from its last checkpoint gives the
 * same losses from there as an uninterrupted one. One thread; the gate
 * (trainer.h) pauses or stops it. */
#ifndef ED_ADAPT_RUN_H
#define ED_ADAPT_RUN_H

#include "adapt/dataset.h"
#include "adapt/trainer.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int grad_accum;         /* windows per optimizer step (1) */
    int max_steps;          /* optimizer steps at most (1000) */
    double budget_s;        /* seconds of training at most, > 0 (600) */
    int eval_every;         /* steps between held-out evaluations (10) */
    int patience;           /* evaluations without improvement before stopping (3); 0: never stop early */
    int ckpt_every_steps;   /* steps between checkpoints (50); 0: by time only */
    double ckpt_every_s;    /* seconds between checkpoints (60); 0: by steps only */
    uint64_t seed;          /* the order windows are visited in */
} ed_run_config_t;

void ed_run_config_default(ed_run_config_t *c);
/* 0, or ED_EINVAL with err naming the field ("budget_s: 0, expected more than 0"). */
int ed_run_config_check(const ed_run_config_t *c, char err[ED_ERR_LEN]);

/* One point of the loss history. */
typedef struct {
    int64_t step;
    int64_t tokens;       /* trained on so far */
    double elapsed_s;     /* seconds of training so far */
    double train_loss;    /* mean over the step's windows, nats per token */
    double heldout_loss;  /* mean over the held-out windows at this step; NAN when not evaluated */
} ed_run_point_t;

typedef enum {
    ED_RUN_MAX_STEPS,  /* the step cap */
    ED_RUN_BUDGET,     /* the time budget */
    ED_RUN_EARLY_STOP, /* patience evaluations without improvement */
    ED_RUN_STOPPED,    /* the gate said stop (a checkpoint was written) */
} ed_run_end_t;
const char *ed_run_end_name(ed_run_end_t end); /* "max_steps", "budget", "early_stop", "stopped" */

/* What the run reports as it goes (may be NULL). */
typedef struct {
    /* after every step and evaluation; p is the newest point */
    void (*progress)(const ed_run_point_t *p, double eta_s, void *arg);
    /* a checkpoint to keep (sealed and written atomically by the caller);
     * returns 0 or an ED_E* code with err, which ends the run */
    int (*checkpoint)(const void *data, size_t len, void *arg, char err[ED_ERR_LEN]);
    void *arg;
    /* the trainer's gate (may be NULL): the run sets it on the trainer
     * wrapped, so that the time spent in it (a pause) is not counted as
     * training time; it gets gate_arg */
    ed_trainer_gate_fn gate;
    void *gate_arg;
} ed_run_hooks_t;

typedef struct {
    ed_run_end_t end;
    int64_t steps;              /* taken */
    int64_t best_step;          /* of the best held-out loss; 0: never evaluated */
    double best_heldout_loss;   /* NAN when never evaluated */
    ed_lora_t *best;            /* the adapter of best_step (the last one when never evaluated); owned */
    ed_run_point_t *history;    /* (n_history) every step's point; owned */
    int n_history;
} ed_run_result_t;
void ed_run_result_free(ed_run_result_t *r); /* frees best and history; accepts a zeroed one */

/* What a checkpoint says about itself: parsed and checked (lengths, the
 * checksum), not matched against a trainer or dataset. 0, or ED_EINVAL
 * with err (a damaged or foreign buffer). */
typedef struct {
    int64_t steps;            /* optimizer steps taken */
    int64_t tokens;           /* trained on */
    double elapsed_s;         /* seconds of training */
    int n_history;
    int64_t best_step;
    double best_heldout_loss; /* NAN when never evaluated */
} ed_run_checkpoint_info_t;
int ed_run_checkpoint_info(const void *data, size_t len, ed_run_checkpoint_info_t *info, char err[ED_ERR_LEN]);

/* Runs until the step cap, the budget, early stopping or the gate. With
 * `resume` (a checkpoint this run's hooks were given; NULL: a fresh run),
 * the trainer's state, the data cursor, the RNG and the history are
 * restored first; a checkpoint of another dataset or config is ED_EINVAL.
 * Returns 0 with *result, or an ED_E* code with err (ED_ECANCELED is not an
 * error: a stop returns 0 with end ED_RUN_STOPPED). */
int ed_run_train(ed_trainer_t *trainer, const ed_dataset_t *data, const ed_run_config_t *config,
                 const ed_run_hooks_t *hooks, const void *resume, size_t resume_len, ed_run_result_t *result,
                 char err[ED_ERR_LEN]);

#endif
