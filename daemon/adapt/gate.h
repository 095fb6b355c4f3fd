/* gate.h - what a trainer calls between kernel calls (trainer.h's
 * ed_trainer_gate_fn): a thread-safe switch with three commands, run, pause
 * and stop. run lets the call return 0 at once (one atomic load); pause
 * blocks the caller on a condition variable until run or stop; stop makes it
 * return non-zero, so the trainer ends the step and its runner checkpoints.
 * The scheduler sets the commands (loop thread); the trainer's thread waits.
 * It also counts pauses and keeps the pause latency (from ed_gate_pause to
 * the gate call that blocks) in a histogram for the benchmark. */
#ifndef ED_ADAPT_GATE_H
#define ED_ADAPT_GATE_H

#include "core/error.h"
#include "core/histogram.h"
#include "kernels/pool.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    ED_GATE_RUN = 0,
    ED_GATE_PAUSE,
    ED_GATE_STOP,
} ed_gate_command_t;

/* What /v1/scheduler and /metrics call the trainer's state. */
typedef enum {
    ED_TRAINER_IDLE = 0, /* no trainer uses the gate (between ed_gate_end and ed_gate_begin) */
    ED_TRAINER_RUNNING,
    ED_TRAINER_PAUSED,
    ED_TRAINER_STOPPED,
} ed_trainer_state_t;

typedef struct ed_gate ed_gate_t;

/* A gate in state RUN with no trainer. 0 or ED_ENOMEM with err. */
int ed_gate_create(ed_gate_t **out, char err[ED_ERR_LEN]);
/* Accepts NULL. No thread may be inside ed_gate_wait any more. */
void ed_gate_free(ed_gate_t *g);
/* The compute pool the trainer's products run on (NULL: none). A pause then
 * also holds its training chunks (ed_pool_hold_low), so the trainer stops
 * within one chunk of a product rather than at the product's end; run and
 * stop release them. Set once, before a trainer begins. */
void ed_gate_set_pool(ed_gate_t *g, ed_pool_t *pool);

/* The commands; any thread. pause counts (and starts a latency measurement)
 * only when the gate was at run with a trainer between begin and end; stop
 * wins over a later pause; run releases a paused caller and clears stop. */
void ed_gate_run(ed_gate_t *g);
void ed_gate_pause(ed_gate_t *g);
void ed_gate_stop(ed_gate_t *g);
ed_gate_command_t ed_gate_command(const ed_gate_t *g);

/* The trainer's gate function: pass ed_gate_wait and the gate to
 * ed_trainer_set_gate. Returns 0 to go on (at run, or once a pause is
 * lifted by run), 1 at stop. */
int ed_gate_wait(void *gate);

/* The job runner brackets a trainer's use of the gate, so the state reads
 * idle when no trainer runs. Any thread. */
void ed_gate_begin(ed_gate_t *g);
void ed_gate_end(ed_gate_t *g);
ed_trainer_state_t ed_gate_state(const ed_gate_t *g);
/* Whether the trainer waits inside ed_gate_wait now (a pause took effect). */
bool ed_gate_blocked(const ed_gate_t *g);
const char *ed_trainer_state_name(ed_trainer_state_t state); /* "idle", "running", "paused", "stopped" */

/* Pauses so far (run -> pause transitions). */
uint64_t ed_gate_pauses(const ed_gate_t *g);
/* Seconds from ed_gate_pause to the moment the trainer stopped computing
 * (the gate call that blocked, or, with a pool, its product held with no
 * chunk running, whichever came first), one observation per pause a
 * trainer saw; render from the loop thread at any time. */
const ed_histogram_t *ed_gate_pause_latency(const ed_gate_t *g);

#endif
