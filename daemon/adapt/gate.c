/* gate.c - the trainer's run/pause/stop switch (adapt/gate.h): the command
 * in an atomic for the fast path, a mutex and condition variable for the
 * paused caller, the pool's hold of training chunks alongside the command,
 * and the pause latency measured when the trainer stopped computing. */
#include "adapt/gate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* seconds, sub-millisecond to seconds: a pause should land within one
 * kernel call (well under 10 ms); the benchmark reads p50/p99 from these */
static const double latency_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
                                        0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25,
                                        0.5, 1, 2.5, 5};

struct ed_gate {
    _Atomic int command;   /* ed_gate_command_t; written under mutex, read without it on the fast path */
    _Atomic bool active;   /* a trainer is between begin and end */
    _Atomic bool blocked;  /* the trainer waits in ed_gate_wait now */
    _Atomic uint64_t pauses;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    double pause_t0;       /* under mutex: when the pause was asked, CLOCK_MONOTONIC seconds */
    bool latency_pending;  /* under mutex: the pause's latency is not observed yet */
    ed_histogram_t pause_latency;
    ed_pool_t *pool;       /* held while paused; NULL: none */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ed_gate_create(ed_gate_t **out, char err[ED_ERR_LEN])
{
    ed_gate_t *g = calloc(1, sizeof *g);
    if (!(*out = g))
        return ed_errf(err, ED_ENOMEM, "gate: out of memory");
    pthread_mutex_init(&g->mutex, NULL);
    pthread_cond_init(&g->cond, NULL);
    atomic_init(&g->command, ED_GATE_RUN);
    ed_histogram_init(&g->pause_latency, latency_bounds, sizeof latency_bounds / sizeof latency_bounds[0]);
    return 0;
}

void ed_gate_free(ed_gate_t *g)
{
    if (!g)
        return;
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->mutex);
    free(g);
}

void ed_gate_set_pool(ed_gate_t *g, ed_pool_t *pool)
{
    g->pool = pool;
}

/* The pause's latency, observed once (mutex held): until `now`, or until
 * the pool found the held product quiet if that came first. */
static void observe_pause(ed_gate_t *g, double now)
{
    if (!g->latency_pending)
        return;
    long long quiet_ns = ed_pool_low_quiet_ns(g->pool);
    double quiet = quiet_ns > 0 ? (double)quiet_ns / 1e9 : now;
    double end = quiet < now ? quiet : now;
    ed_histogram_observe(&g->pause_latency, end > g->pause_t0 ? end - g->pause_t0 : 0);
    g->latency_pending = false;
}

static void set_command(ed_gate_t *g, ed_gate_command_t command)
{
    pthread_mutex_lock(&g->mutex);
    int was = atomic_load_explicit(&g->command, memory_order_relaxed);
    if (command == ED_GATE_PAUSE) {
        if (was != ED_GATE_RUN) { /* already paused, or stopped: stop wins */
            pthread_mutex_unlock(&g->mutex);
            return;
        }
        /* only a trainer's pause is counted and timed; without one the gate
         * just holds the next trainer back until the request is done */
        bool active = atomic_load_explicit(&g->active, memory_order_relaxed);
        g->pause_t0 = now_s();
        g->latency_pending = active;
        if (active)
            atomic_fetch_add_explicit(&g->pauses, 1, memory_order_relaxed);
        ed_pool_hold_low(g->pool, 1);
    } else {
        /* a pause that held the trainer inside a product ends here without
         * a gate call that blocked: the pool knows when it stopped */
        if (g->latency_pending && ed_pool_low_quiet_ns(g->pool) > 0)
            observe_pause(g, now_s());
        g->latency_pending = false;
        ed_pool_hold_low(g->pool, 0);
    }
    atomic_store_explicit(&g->command, command, memory_order_release);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mutex);
}

void ed_gate_run(ed_gate_t *g) { set_command(g, ED_GATE_RUN); }
void ed_gate_pause(ed_gate_t *g) { set_command(g, ED_GATE_PAUSE); }
void ed_gate_stop(ed_gate_t *g) { set_command(g, ED_GATE_STOP); }

ed_gate_command_t ed_gate_command(const ed_gate_t *g)
{
    return (ed_gate_command_t)atomic_load_explicit(&((ed_gate_t *)g)->command, memory_order_acquire);
}

int ed_gate_wait(void *gate)
{
    ed_gate_t *g = gate;
    int command = atomic_load_explicit(&g->command, memory_order_acquire);
    if (command == ED_GATE_RUN)
        return 0;
    pthread_mutex_lock(&g->mutex);
    observe_pause(g, now_s());
    while ((command = atomic_load_explicit(&g->command, memory_order_relaxed)) == ED_GATE_PAUSE) {
        atomic_store_explicit(&g->blocked, true, memory_order_relaxed);
        pthread_cond_wait(&g->cond, &g->mutex);
    }
    atomic_store_explicit(&g->blocked, false, memory_order_relaxed);
    pthread_mutex_unlock(&g->mutex);
    return command == ED_GATE_STOP;
}

void ed_gate_begin(ed_gate_t *g) { atomic_store_explicit(&g->active, true, memory_order_relaxed); }
void ed_gate_end(ed_gate_t *g) { atomic_store_explicit(&g->active, false, memory_order_relaxed); }

ed_trainer_state_t ed_gate_state(const ed_gate_t *g)
{
    ed_gate_t *m = (ed_gate_t *)g;
    if (!atomic_load_explicit(&m->active, memory_order_relaxed))
        return ED_TRAINER_IDLE;
    switch (ed_gate_command(g)) {
    case ED_GATE_RUN: return ED_TRAINER_RUNNING;
    case ED_GATE_PAUSE: return ED_TRAINER_PAUSED;
    case ED_GATE_STOP: return ED_TRAINER_STOPPED;
    }
    return ED_TRAINER_IDLE;
}

bool ed_gate_blocked(const ed_gate_t *g)
{
    return atomic_load_explicit(&((ed_gate_t *)g)->blocked, memory_order_relaxed);
}

const char *ed_trainer_state_name(ed_trainer_state_t state)
{
    static const char *const names[] = {"idle", "running", "paused", "stopped"};
    return (unsigned)state < 4 ? names[state] : "idle";
}

uint64_t ed_gate_pauses(const ed_gate_t *g)
{
    return atomic_load_explicit(&((ed_gate_t *)g)->pauses, memory_order_relaxed);
}

const ed_histogram_t *ed_gate_pause_latency(const ed_gate_t *g)
{
    return &g->pause_latency;
}
