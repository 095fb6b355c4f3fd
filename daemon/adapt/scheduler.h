/* scheduler.h - training windows, as Android's WorkManager runs background
 * work: the window is open while every constraint holds, and a failing one
 * stops the trainer (the gate's stop; its runner checkpoints). Inference
 * always wins: a request pauses the trainer through the gate at once and it
 * resumes after resume_after_s without inference. Two layers:
 *   - ed_scheduler_evaluate: a pure function of the readings, the config,
 *     the local time, the engine's activity and the training time today,
 *     giving each constraint's value, threshold and verdict and the window;
 *   - ed_scheduler_t: the loop thread's timer that reads the monitor every
 *     adapt.poll_s, evaluates, drives the gate, keeps the day's totals and
 *     exports /metrics.
 * The policy for unknown signals (each holds, and says "unknown"):
 *   power/battery  no power supply exposed (a Pi): mains; no battery: the
 *                  battery constraint holds.
 *   temperature    no readable thermal zone: cool (the hardware protects
 *                  itself, and its throttling closes the window when exposed).
 *   throttling     not exposed (not a Pi): not throttled.
 *   pressure       no /proc/pressure (kernel without PSI): not busy.
 *   logind idle    never read (monitor.h says why): idle.
 * The job queue and runner (later) plug in through ed_scheduler_gate,
 * ed_scheduler_window_open, ed_scheduler_on_change and ed_monitor_exclude. */
#ifndef ED_ADAPT_SCHEDULER_H
#define ED_ADAPT_SCHEDULER_H

#include "adapt/gate.h"
#include "adapt/monitor.h"
#include "core/config.h"
#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

typedef enum {
    ED_SCHED_ENABLED = 0, /* adapt.enabled */
    ED_SCHED_POWER,       /* on mains/USB (or mains_only = false) */
    ED_SCHED_BATTERY,     /* on battery: capacity >= battery_floor */
    ED_SCHED_TEMPERATURE, /* below temp_ceiling_c, with hysteresis */
    ED_SCHED_THROTTLING,  /* no under-voltage or throttling */
    ED_SCHED_PRESSURE,    /* cpu (edged excluded), memory, io some avg10 <= pressure_ceiling */
    ED_SCHED_IDLE,        /* no inference for idle_s (to open; once open a request only pauses) */
    ED_SCHED_HOURS,       /* inside adapt.hours, local time */
    ED_SCHED_DAILY_CAP,   /* training today < daily_cap_s */
    ED_SCHED_LOGIND,      /* logind's IdleHint, when adapt.logind_idle */
    ED_SCHED_N,
} ed_sched_constraint_t;

typedef enum { ED_VERDICT_OK = 0, ED_VERDICT_FAIL, ED_VERDICT_UNKNOWN } ed_verdict_t;

/* A value or threshold: a number (with its unit), a flag, a word, or none. */
typedef enum { ED_SCHED_NONE = 0, ED_SCHED_NUMBER, ED_SCHED_BOOL, ED_SCHED_TEXT } ed_sched_value_kind_t;
typedef struct {
    ed_sched_value_kind_t kind;
    double number;
    bool flag;
    char text[ED_CONFIG_LIST_MAX]; /* ED_SCHED_TEXT: a word, a time, or the hours list */
} ed_sched_value_t;

typedef struct {
    const char *name;        /* "power", "temperature", ... (static) */
    const char *unit;        /* "C", "%", "s", or "" (static) */
    ed_sched_value_t value;
    ed_sched_value_t threshold;
    ed_verdict_t verdict;    /* unknown: the signal is not exposed here */
    bool holds;              /* whether it lets the window open (unknown: the policy above) */
    char reason[160];        /* one line: why it holds or not */
} ed_sched_check_t;

/* Everything the evaluation depends on besides the config. */
typedef struct {
    const ed_monitor_reading_t *reading;
    int local_minute;        /* minute of the local day, 0..1439 */
    bool engine_busy;        /* an inference request is queued or running */
    double engine_idle_s;    /* seconds since the last inference activity (when not busy) */
    double trained_today_s;  /* training seconds this local day */
    bool was_open;           /* the window was open at the previous evaluation */
    bool hot;                /* the previous evaluation closed for heat (hysteresis latch) */
} ed_sched_input_t;

typedef struct {
    ed_sched_check_t checks[ED_SCHED_N];
    bool window_open;        /* every check holds */
    bool hot;                /* the latch for the next evaluation */
    int minutes_to_hours;    /* until adapt.hours next contain a minute: 0 inside now */
    int minutes_hours_left;  /* inside: minutes until they close (1440: all day) */
} ed_sched_eval_t;

/* The pure evaluation: no clock, no files, any thread. */
void ed_scheduler_evaluate(const ed_config_t *cfg, const ed_sched_input_t *in, ed_sched_eval_t *out);
const char *ed_verdict_name(ed_verdict_t verdict); /* "ok", "fail", "unknown" */

/* --------------------------------------------------------- the timer --- */

/* The engine's inference activity, asked on the loop thread: busy while any
 * request is queued or running; last_activity_s the CLOCK_MONOTONIC time (s)
 * of the last submit or delivery (0: never). */
typedef void (*ed_scheduler_activity_fn)(void *arg, bool *busy, double *last_activity_s);
/* Called on the loop thread when the window opens or closes. */
typedef void (*ed_scheduler_change_fn)(void *arg, bool window_open);

typedef struct ed_scheduler ed_scheduler_t;

/* Opens the monitor and gate, evaluates once and starts the timer on `loop`
 * (loop thread; every function below too, except where noted). activity may
 * be NULL (no engine: always idle). 0, or ED_ENOMEM with err. */
int ed_scheduler_open(ed_scheduler_t **out, uv_loop_t *loop, const ed_config_t *cfg,
                      ed_scheduler_activity_fn activity, void *activity_arg, char err[ED_ERR_LEN]);
/* Stops the gate (a trainer ends its step), stops the timers and frees the
 * scheduler once libuv closed them. Accepts NULL. */
void ed_scheduler_close(ed_scheduler_t *s);
/* Takes the reloadable [adapt] options (SIGHUP) and re-evaluates. */
void ed_scheduler_reconfigure(ed_scheduler_t *s, const ed_config_t *cfg);
/* Reads the device and re-evaluates now (the timer does this every poll_s). */
void ed_scheduler_poll(ed_scheduler_t *s);
/* An inference request arrived: pauses a running trainer at its next gate
 * call and starts watching for resume_after_s of quiet. Loop thread; takes
 * a void * so the engine's submit hook can be this function. */
void ed_scheduler_on_request(void *scheduler);

/* The gate the job runner hands its trainer (ed_trainer_set_gate(t,
 * ed_gate_wait, gate)); it stays the scheduler's. */
ed_gate_t *ed_scheduler_gate(ed_scheduler_t *s);
ed_monitor_t *ed_scheduler_monitor(ed_scheduler_t *s);
bool ed_scheduler_window_open(const ed_scheduler_t *s);
/* An admin's run_now: while forced, the gate ignores every constraint but
 * temperature (requests still pause the trainer; the window and
 * /v1/scheduler still report the constraints). The job runner sets it for
 * such a job and clears it when the job ends. Re-evaluates now. */
void ed_scheduler_force(ed_scheduler_t *s, bool force);
/* One change callback (NULL removes it), for the job runner. */
void ed_scheduler_on_change(ed_scheduler_t *s, ed_scheduler_change_fn fn, void *arg);

/* The last evaluation and what the API reports with it. */
typedef struct {
    ed_sched_eval_t eval;
    ed_monitor_reading_t reading;
    ed_trainer_state_t trainer;
    double open_today_s;      /* seconds the window was open this local day */
    double trained_today_s;   /* seconds a trainer ran (not paused) this local day */
    uint64_t pauses;
    time_t evaluated_at;      /* wall clock of the evaluation */
    time_t next_hours_at;     /* when adapt.hours next open (evaluated_at when inside now) */
    time_t hours_close_at;    /* inside: when they close; 0 all day or outside */
} ed_scheduler_status_t;
void ed_scheduler_status(const ed_scheduler_t *s, ed_scheduler_status_t *out);

#endif
