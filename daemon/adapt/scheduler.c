/* scheduler.c - training windows (adapt/scheduler.h): the pure evaluation of
 * every constraint, then the loop thread's side: the poll timer that reads
 * the monitor and drives the gate, the resume watch after a request paused
 * the trainer, the day's totals and the /metrics writer. */
#include "adapt/scheduler.h"

#include "core/hours.h"
#include "core/log.h"
#include "core/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ evaluation --- */

static void value_none(ed_sched_value_t *v) { v->kind = ED_SCHED_NONE; }
static void value_number(ed_sched_value_t *v, double x) { v->kind = ED_SCHED_NUMBER, v->number = x; }
static void value_flag(ed_sched_value_t *v, bool x) { v->kind = ED_SCHED_BOOL, v->flag = x; }
static void value_text(ed_sched_value_t *v, const char *text)
{
    v->kind = ED_SCHED_TEXT;
    snprintf(v->text, sizeof v->text, "%s", text);
}

__attribute__((format(printf, 4, 5))) static void verdict(ed_sched_check_t *c, ed_verdict_t v, bool holds,
                                                          const char *fmt, ...)
{
    c->verdict = v;
    c->holds = holds;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
}

static ed_sched_check_t *check(ed_sched_eval_t *out, ed_sched_constraint_t which, const char *name,
                               const char *unit)
{
    ed_sched_check_t *c = &out->checks[which];
    c->name = name;
    c->unit = unit;
    return c;
}

static void eval_power(const ed_config_t *cfg, const ed_monitor_reading_t *r, ed_sched_eval_t *out)
{
    ed_sched_check_t *c = check(out, ED_SCHED_POWER, "power", "");
    value_text(&c->threshold, cfg->adapt.mains_only ? "mains" : "mains or battery");
    if (!r->power_known) {
        value_none(&c->value);
        verdict(c, ED_VERDICT_UNKNOWN, true, "no power supply is exposed: counted as mains");
    } else {
        value_text(&c->value, r->power_source);
        if (r->on_power)
            verdict(c, ED_VERDICT_OK, true, "on %s power", r->power_source);
        else if (cfg->adapt.mains_only)
            verdict(c, ED_VERDICT_FAIL, false, "on battery, and adapt.mains_only is true");
        else
            verdict(c, ED_VERDICT_OK, true, "on battery; adapt.mains_only is false (the battery floor applies)");
    }

    c = check(out, ED_SCHED_BATTERY, "battery", "%");
    value_number(&c->threshold, cfg->adapt.battery_floor);
    if (!r->battery_present || r->battery_pct < 0) {
        value_none(&c->value);
        verdict(c, ED_VERDICT_UNKNOWN, true, r->battery_present ? "the battery's capacity is not readable"
                                                                : "no battery");
        return;
    }
    value_number(&c->value, r->battery_pct);
    if (r->on_power)
        verdict(c, ED_VERDICT_OK, true, "%d%%, %s, on power", r->battery_pct, r->battery_status);
    else if ((unsigned)r->battery_pct >= cfg->adapt.battery_floor)
        verdict(c, ED_VERDICT_OK, true, "%d%% on battery, at or above the floor of %u%%", r->battery_pct,
                cfg->adapt.battery_floor);
    else
        verdict(c, ED_VERDICT_FAIL, false, "%d%% on battery, below the floor of %u%%", r->battery_pct,
                cfg->adapt.battery_floor);
}

static void eval_temperature(const ed_config_t *cfg, const ed_sched_input_t *in, ed_sched_eval_t *out)
{
    const ed_monitor_reading_t *r = in->reading;
    ed_sched_check_t *c = check(out, ED_SCHED_TEMPERATURE, "temperature", "C");
    double ceiling = cfg->adapt.temp_ceiling_c, reopen = ceiling - cfg->adapt.temp_hysteresis_c;
    value_number(&c->threshold, ceiling);
    out->hot = false;
    if (!r->temp_known) {
        value_none(&c->value);
        verdict(c, ED_VERDICT_UNKNOWN, true, "no readable thermal zone: counted as cool");
        return;
    }
    value_number(&c->value, r->temp_c);
    if (r->temp_c >= ceiling) {
        out->hot = true;
        verdict(c, ED_VERDICT_FAIL, false, "%.1f C (%s) reached the ceiling of %.0f C; reopens below %.0f C",
                r->temp_c, r->temp_zone, ceiling, reopen);
    } else if (in->hot && r->temp_c >= reopen) {
        out->hot = true;
        verdict(c, ED_VERDICT_FAIL, false, "%.1f C (%s): cooling down, reopens below %.0f C", r->temp_c,
                r->temp_zone, reopen);
    } else {
        verdict(c, ED_VERDICT_OK, true, "%.1f C (%s), below the ceiling of %.0f C", r->temp_c, r->temp_zone,
                ceiling);
    }
}

static void eval_throttling(const ed_monitor_reading_t *r, ed_sched_eval_t *out)
{
    ed_sched_check_t *c = check(out, ED_SCHED_THROTTLING, "throttling", "");
    value_flag(&c->threshold, false);
    if (!r->undervoltage_known && !r->throttled_known) {
        value_none(&c->value);
        verdict(c, ED_VERDICT_UNKNOWN, true, "no under-voltage or throttling signal here: counted as none");
        return;
    }
    value_flag(&c->value, r->undervoltage || r->throttled);
    if (r->undervoltage)
        verdict(c, ED_VERDICT_FAIL, false, "under-voltage: the power supply is too weak");
    else if (r->throttled)
        verdict(c, ED_VERDICT_FAIL, false, "throttled (get_throttled 0x%x)", r->throttled_bits);
    else
        verdict(c, ED_VERDICT_OK, true, "no under-voltage or throttling");
}

static void eval_pressure(const ed_config_t *cfg, const ed_monitor_reading_t *r, ed_sched_eval_t *out)
{
    static const char *const names[ED_PRESSURE_N] = {"cpu", "memory", "io"};
    ed_sched_check_t *c = check(out, ED_SCHED_PRESSURE, "pressure", "%");
    value_number(&c->threshold, cfg->adapt.pressure_ceiling);
    int worst = -1;
    for (int i = 0; i < ED_PRESSURE_N; i++)
        if (r->pressure_known[i] && (worst < 0 || r->pressure[i] > r->pressure[worst]))
            worst = i;
    if (worst < 0) {
        value_none(&c->value);
        verdict(c, ED_VERDICT_UNKNOWN, true, "no pressure stall information (/proc/pressure): counted as not busy");
        return;
    }
    value_number(&c->value, r->pressure[worst]);
    const char *own = worst == ED_PRESSURE_CPU ? ", edged's own share excluded" : "";
    if (r->pressure[worst] > cfg->adapt.pressure_ceiling)
        verdict(c, ED_VERDICT_FAIL, false, "%s pressure %.2f%% (some avg10%s) is above %u%%", names[worst],
                r->pressure[worst], own, cfg->adapt.pressure_ceiling);
    else
        verdict(c, ED_VERDICT_OK, true, "%s pressure %.2f%% (some avg10%s), the highest, is at most %u%%",
                names[worst], r->pressure[worst], own, cfg->adapt.pressure_ceiling);
}

static void eval_idle(const ed_config_t *cfg, const ed_sched_input_t *in, ed_sched_eval_t *out)
{
    ed_sched_check_t *c = check(out, ED_SCHED_IDLE, "idle", "s");
    value_number(&c->threshold, cfg->adapt.idle_s);
    if (in->engine_busy)
        value_text(&c->value, "busy");
    else
        value_number(&c->value, floor(in->engine_idle_s));
    if (in->was_open)
        verdict(c, ED_VERDICT_OK, true,
                in->engine_busy ? "inference is running: the trainer pauses, the window stays open"
                                : "the window is open; a request pauses the trainer");
    else if (in->engine_busy)
        verdict(c, ED_VERDICT_FAIL, false, "an inference request is queued or running");
    else if (in->engine_idle_s >= cfg->adapt.idle_s)
        verdict(c, ED_VERDICT_OK, true, "no inference for %.0f s (at least %u s)", floor(in->engine_idle_s),
                cfg->adapt.idle_s);
    else
        verdict(c, ED_VERDICT_FAIL, false, "no inference for %.0f s of the %u s needed", floor(in->engine_idle_s),
                cfg->adapt.idle_s);
}

static void eval_hours(const ed_config_t *cfg, const ed_sched_input_t *in, ed_sched_eval_t *out)
{
    ed_sched_check_t *c = check(out, ED_SCHED_HOURS, "hours", "");
    ed_hours_t hours;
    char why[160];
    if (ed_hours_parse(&hours, cfg->adapt.hours, why, sizeof why) != 0)
        hours.n = 0; /* cannot happen: the config validated it */
    char now[16];
    snprintf(now, sizeof now, "%02d:%02d", in->local_minute / 60, in->local_minute % 60);
    value_text(&c->value, now);
    value_text(&c->threshold, cfg->adapt.hours[0] ? cfg->adapt.hours : "all day");
    out->minutes_to_hours = ed_hours_minutes_until_open(&hours, in->local_minute);
    out->minutes_hours_left = ed_hours_minutes_until_close(&hours, in->local_minute);
    if (out->minutes_to_hours == 0)
        verdict(c, ED_VERDICT_OK, true,
                out->minutes_hours_left >= 1440 ? "%s: any hour allowed" : "%s: inside the allowed hours", now);
    else
        verdict(c, ED_VERDICT_FAIL, false, "%s: outside the allowed hours; they open in %dh%02dm", now,
                out->minutes_to_hours / 60, out->minutes_to_hours % 60);
}

static void eval_cap(const ed_config_t *cfg, const ed_sched_input_t *in, ed_sched_eval_t *out)
{
    ed_sched_check_t *c = check(out, ED_SCHED_DAILY_CAP, "daily_cap", "s");
    value_number(&c->value, floor(in->trained_today_s));
    if (cfg->adapt.daily_cap_s == 0) {
        value_none(&c->threshold);
        verdict(c, ED_VERDICT_OK, true, "no daily cap");
    } else {
        value_number(&c->threshold, cfg->adapt.daily_cap_s);
        if (in->trained_today_s >= cfg->adapt.daily_cap_s)
            verdict(c, ED_VERDICT_FAIL, false, "trained %.0f s today, the cap is %u s (resets at midnight)",
                    floor(in->trained_today_s), cfg->adapt.daily_cap_s);
        else
            verdict(c, ED_VERDICT_OK, true, "trained %.0f s today of the %u s allowed", floor(in->trained_today_s),
                    cfg->adapt.daily_cap_s);
    }
}

void ed_scheduler_evaluate(const ed_config_t *cfg, const ed_sched_input_t *in, ed_sched_eval_t *out)
{
    memset(out, 0, sizeof *out);
    const ed_monitor_reading_t *r = in->reading;
    ed_sched_check_t *c = check(out, ED_SCHED_ENABLED, "enabled", "");
    value_flag(&c->value, cfg->adapt.enabled);
    value_flag(&c->threshold, true);
    if (cfg->adapt.enabled)
        verdict(c, ED_VERDICT_OK, true, "training windows are enabled");
    else
        verdict(c, ED_VERDICT_FAIL, false, "adapt.enabled is false");
    eval_power(cfg, r, out);
    eval_temperature(cfg, in, out);
    eval_throttling(r, out);
    eval_pressure(cfg, r, out);
    eval_idle(cfg, in, out);
    eval_hours(cfg, in, out);
    eval_cap(cfg, in, out);

    c = check(out, ED_SCHED_LOGIND, "logind_idle", "");
    value_flag(&c->threshold, true);
    value_none(&c->value);
    if (!cfg->adapt.logind_idle)
        verdict(c, ED_VERDICT_OK, true, "not required (adapt.logind_idle is false)");
    else if (!r->idle_hint_known)
        verdict(c, ED_VERDICT_UNKNOWN, true, "logind's IdleHint is not read by edged: counted as idle");
    else {
        value_flag(&c->value, r->idle_hint);
        verdict(c, r->idle_hint ? ED_VERDICT_OK : ED_VERDICT_FAIL, r->idle_hint,
                r->idle_hint ? "logind says the sessions are idle" : "logind says a session is in use");
    }

    out->window_open = true;
    for (int i = 0; i < ED_SCHED_N; i++)
        out->window_open = out->window_open && out->checks[i].holds;
}

const char *ed_verdict_name(ed_verdict_t v)
{
    return v == ED_VERDICT_OK ? "ok" : v == ED_VERDICT_FAIL ? "fail" : "unknown";
}

/* ----------------------------------------------------------- timer --- */

#define RESUME_CHECK_MS 100 /* how often a paused trainer's quiet is checked */

struct ed_scheduler {
    uv_loop_t *loop;
    uv_timer_t poll_timer;
    uv_timer_t resume_timer;
    int n_open_handles;          /* closed in ed_scheduler_close; freed at 0 */
    ed_config_t cfg;
    ed_monitor_t *monitor;
    ed_gate_t *gate;
    ed_scheduler_activity_fn activity;
    void *activity_arg;
    ed_scheduler_change_fn on_change;
    void *change_arg;
    double started_s;            /* CLOCK_MONOTONIC: the engine's idleness counts from here at most */
    double accounted_s;          /* the totals include time up to here, CLOCK_MONOTONIC */
    bool evaluated;              /* at least one evaluation was made (the first is logged) */
    bool forced;                 /* ed_scheduler_force: only temperature can stop the trainer */
    int day;                     /* local year * 1000 + day of the year of the totals */
    ed_scheduler_status_t status;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds the engine has been quiet (0 while busy). */
static double engine_quiet_s(ed_scheduler_t *s, double now, bool *busy)
{
    double last = 0;
    *busy = false;
    if (s->activity)
        s->activity(s->activity_arg, busy, &last);
    if (*busy)
        return 0;
    double since = last > s->started_s ? last : s->started_s;
    return now > since ? now - since : 0;
}

static void render_metrics(ed_buf_t *out, void *arg);

/* Whether the gate may be at run (or paused): the window is open, or a
 * forced run (ed_scheduler_force) is cool enough. */
static bool gate_may_run(const ed_scheduler_t *s)
{
    const ed_sched_eval_t *e = &s->status.eval;
    return e->window_open || (s->forced && e->checks[ED_SCHED_TEMPERATURE].holds);
}

/* Adds the time since the last accounting to the day's totals, by the
 * window and the trainer's state during it; called before either changes
 * (every poll, a pause, a resume). A new local day starts at zero. */
static void account(ed_scheduler_t *s, double now, const struct tm *tm)
{
    ed_scheduler_status_t *st = &s->status;
    double dt = s->accounted_s > 0 && now > s->accounted_s ? now - s->accounted_s : 0;
    s->accounted_s = now;
    int day = (tm->tm_year + 1900) * 1000 + tm->tm_yday;
    if (day != s->day) {
        s->day = day;
        st->open_today_s = st->trained_today_s = 0;
    }
    if (st->eval.window_open)
        st->open_today_s += dt;
    if (ed_gate_state(s->gate) == ED_TRAINER_RUNNING)
        st->trained_today_s += dt;
}

static void account_now(ed_scheduler_t *s)
{
    time_t wall = time(NULL);
    struct tm tm;
    localtime_r(&wall, &tm);
    account(s, mono_s(), &tm);
}

void ed_scheduler_poll(ed_scheduler_t *s)
{
    double now = mono_s();
    time_t wall = time(NULL);
    struct tm tm;
    localtime_r(&wall, &tm);
    ed_scheduler_status_t *st = &s->status;
    bool was_open = st->eval.window_open;
    account(s, now, &tm);

    ed_monitor_read(s->monitor, &st->reading);
    bool busy;
    double quiet = engine_quiet_s(s, now, &busy);
    ed_sched_input_t in = {
        .reading = &st->reading,
        .local_minute = tm.tm_hour * 60 + tm.tm_min,
        .engine_busy = busy,
        .engine_idle_s = quiet,
        .trained_today_s = st->trained_today_s,
        .was_open = was_open,
        .hot = st->eval.hot,
    };
    ed_scheduler_evaluate(&s->cfg, &in, &st->eval);
    bool open = st->eval.window_open;
    st->evaluated_at = wall;
    time_t minute_start = wall - tm.tm_sec;
    st->next_hours_at = st->eval.minutes_to_hours > 0 ? minute_start + (time_t)st->eval.minutes_to_hours * 60 : wall;
    st->hours_close_at = st->eval.minutes_to_hours == 0 && st->eval.minutes_hours_left < 1440
                             ? minute_start + (time_t)st->eval.minutes_hours_left * 60
                             : 0;

    /* drive the gate: a failing constraint stops the trainer; an open window
     * lets it run unless a request paused it (the resume watch lifts that) */
    bool may_run = gate_may_run(s);
    ed_gate_command_t command = ed_gate_command(s->gate);
    if (!may_run && command != ED_GATE_STOP)
        ed_gate_stop(s->gate);
    else if (may_run && command == ED_GATE_STOP)
        ed_gate_run(s->gate);
    else if (may_run && command == ED_GATE_PAUSE && !busy && quiet >= s->cfg.adapt.resume_after_s)
        ed_gate_run(s->gate);
    st->trainer = ed_gate_state(s->gate);
    st->pauses = ed_gate_pauses(s->gate);

    if (open != was_open || !s->evaluated) {
        const char *why = "every constraint holds";
        for (int i = 0; i < ED_SCHED_N && !open; i++)
            if (!st->eval.checks[i].holds) {
                why = st->eval.checks[i].reason;
                break;
            }
        ed_log_info("adapt: the training window %s: %s",
                    !s->evaluated ? (open ? "is open" : "is closed") : open ? "opens" : "closes", why);
        if (s->on_change && s->evaluated)
            s->on_change(s->change_arg, open);
    }
    s->evaluated = true;
}

static void on_poll(uv_timer_t *timer)
{
    ed_scheduler_poll(timer->data);
}

static void on_resume_check(uv_timer_t *timer)
{
    ed_scheduler_t *s = timer->data;
    if (ed_gate_command(s->gate) != ED_GATE_PAUSE) {
        uv_timer_stop(timer);
        return;
    }
    if (!gate_may_run(s)) { /* a constraint failed meanwhile: stop, do not resume */
        ed_gate_stop(s->gate);
        uv_timer_stop(timer);
        return;
    }
    bool busy;
    double quiet = engine_quiet_s(s, mono_s(), &busy);
    if (!busy && quiet >= s->cfg.adapt.resume_after_s) {
        account_now(s);
        ed_gate_run(s->gate);
        uv_timer_stop(timer);
    }
    s->status.trainer = ed_gate_state(s->gate);
}

void ed_scheduler_on_request(void *scheduler)
{
    ed_scheduler_t *s = scheduler;
    if (!s || ed_gate_command(s->gate) != ED_GATE_RUN)
        return;
    account_now(s);
    ed_gate_pause(s->gate);
    s->status.trainer = ed_gate_state(s->gate);
    if (!uv_is_active((uv_handle_t *)&s->resume_timer))
        uv_timer_start(&s->resume_timer, on_resume_check, RESUME_CHECK_MS, RESUME_CHECK_MS);
}

int ed_scheduler_open(ed_scheduler_t **out, uv_loop_t *loop, const ed_config_t *cfg,
                      ed_scheduler_activity_fn activity, void *activity_arg, char err[ED_ERR_LEN])
{
    ed_scheduler_t *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return ed_errf(err, ED_ENOMEM, "scheduler: out of memory");
    int rc;
    if ((rc = ed_monitor_open(&s->monitor, cfg, err)) != 0 || (rc = ed_gate_create(&s->gate, err)) != 0) {
        ed_monitor_close(s->monitor);
        free(s);
        return rc;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->activity = activity;
    s->activity_arg = activity_arg;
    s->started_s = mono_s();
    ed_gate_stop(s->gate); /* no window yet: a trainer started now would stop at once */
    uv_timer_init(loop, &s->poll_timer);
    uv_timer_init(loop, &s->resume_timer);
    s->poll_timer.data = s->resume_timer.data = s;
    s->n_open_handles = 2;
    ed_scheduler_poll(s);
    uint64_t every_ms = (uint64_t)cfg->adapt.poll_s * 1000;
    uv_timer_start(&s->poll_timer, on_poll, every_ms, every_ms);
    ed_metrics_register(render_metrics, s);
    *out = s;
    return 0;
}

static void on_handle_closed(uv_handle_t *handle)
{
    ed_scheduler_t *s = handle->data;
    if (--s->n_open_handles > 0)
        return;
    ed_monitor_close(s->monitor);
    ed_gate_free(s->gate);
    free(s);
}

void ed_scheduler_close(ed_scheduler_t *s)
{
    if (!s)
        return;
    ed_gate_stop(s->gate);
    ed_metrics_unregister(render_metrics, s);
    uv_close((uv_handle_t *)&s->poll_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->resume_timer, on_handle_closed);
}

void ed_scheduler_reconfigure(ed_scheduler_t *s, const ed_config_t *cfg)
{
    /* the roots stay (not reloadable); every other [adapt] option applies */
    ed_config_t next = *cfg;
    memcpy(next.adapt.sys_root, s->cfg.adapt.sys_root, sizeof next.adapt.sys_root);
    memcpy(next.adapt.proc_root, s->cfg.adapt.proc_root, sizeof next.adapt.proc_root);
    bool poll_changed = next.adapt.poll_s != s->cfg.adapt.poll_s;
    s->cfg = next;
    ed_monitor_reconfigure(s->monitor, &next);
    if (poll_changed) {
        uint64_t every_ms = (uint64_t)next.adapt.poll_s * 1000;
        uv_timer_start(&s->poll_timer, on_poll, every_ms, every_ms);
    }
    ed_scheduler_poll(s);
}

void ed_scheduler_force(ed_scheduler_t *s, bool force)
{
    s->forced = force;
    ed_scheduler_poll(s);
}

ed_gate_t *ed_scheduler_gate(ed_scheduler_t *s) { return s->gate; }
ed_monitor_t *ed_scheduler_monitor(ed_scheduler_t *s) { return s->monitor; }
bool ed_scheduler_window_open(const ed_scheduler_t *s) { return s->status.eval.window_open; }

void ed_scheduler_on_change(ed_scheduler_t *s, ed_scheduler_change_fn fn, void *arg)
{
    s->on_change = fn;
    s->change_arg = arg;
}

void ed_scheduler_status(const ed_scheduler_t *s, ed_scheduler_status_t *out)
{
    *out = s->status;
    out->trainer = ed_gate_state(s->gate);
    out->pauses = ed_gate_pauses(s->gate);
}

/* --------------------------------------------------------- metrics --- */

static void gauge_header(ed_buf_t *out, const char *name, const char *help)
{
    ed_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void render_metrics(ed_buf_t *out, void *arg)
{
    ed_scheduler_t *s = arg;
    const ed_scheduler_status_t *st = &s->status;
    const ed_monitor_reading_t *r = &st->reading;
    /* device gauges: a signal this device does not expose has no sample */
    if (r->temp_known) {
        gauge_header(out, "edged_device_temperature_celsius", "SoC temperature (the configured or hottest zone).");
        ed_buf_printf(out, "edged_device_temperature_celsius %.3f\n", r->temp_c);
    }
    gauge_header(out, "edged_device_on_power", "1 on mains/USB power (or no supply exposed), 0 on battery.");
    ed_buf_printf(out, "edged_device_on_power %d\n", !r->power_known || r->on_power);
    if (r->battery_present && r->battery_pct >= 0) {
        gauge_header(out, "edged_device_battery_percent", "Battery capacity.");
        ed_buf_printf(out, "edged_device_battery_percent %d\n", r->battery_pct);
    }
    static const char *const pressure_names[ED_PRESSURE_N] = {"cpu", "memory", "io"};
    gauge_header(out, "edged_device_pressure_percent",
                 "Pressure stall information, some avg10 (cpu: edged's own share excluded; cpu_raw: as read).");
    for (int i = 0; i < ED_PRESSURE_N; i++)
        if (r->pressure_known[i])
            ed_buf_printf(out, "edged_device_pressure_percent{resource=\"%s\"} %.2f\n", pressure_names[i],
                          r->pressure[i]);
    if (r->pressure_known[ED_PRESSURE_CPU])
        ed_buf_printf(out, "edged_device_pressure_percent{resource=\"cpu_raw\"} %.2f\n", r->cpu_pressure_raw);
    if (r->undervoltage_known) {
        gauge_header(out, "edged_device_undervoltage", "1 while under-voltage is flagged (Raspberry Pi).");
        ed_buf_printf(out, "edged_device_undervoltage %d\n", r->undervoltage);
    }
    if (r->throttled_known) {
        gauge_header(out, "edged_device_throttled", "1 while throttled or frequency-capped (Raspberry Pi).");
        ed_buf_printf(out, "edged_device_throttled %d\n", r->throttled);
    }
    if (r->n_rails > 0) {
        gauge_header(out, "edged_device_rail_watts", "Power of an INA3221 rail (Jetson).");
        for (int i = 0; i < r->n_rails; i++)
            ed_buf_printf(out, "edged_device_rail_watts{rail=\"%s\"} %.3f\n", r->rails[i].name, r->rails[i].watts);
        gauge_header(out, "edged_device_rail_volts", "Bus voltage of an INA3221 rail.");
        for (int i = 0; i < r->n_rails; i++)
            ed_buf_printf(out, "edged_device_rail_volts{rail=\"%s\"} %.3f\n", r->rails[i].name, r->rails[i].volts);
        gauge_header(out, "edged_device_rail_amps", "Current of an INA3221 rail.");
        for (int i = 0; i < r->n_rails; i++)
            ed_buf_printf(out, "edged_device_rail_amps{rail=\"%s\"} %.3f\n", r->rails[i].name, r->rails[i].amps);
    }
    gauge_header(out, "edged_adapt_window_open", "1 while every training constraint holds.");
    ed_buf_printf(out, "edged_adapt_window_open %d\n", st->eval.window_open);
    gauge_header(out, "edged_adapt_constraint_holds", "1 when the constraint lets the window open.");
    for (int i = 0; i < ED_SCHED_N; i++)
        ed_buf_printf(out, "edged_adapt_constraint_holds{constraint=\"%s\"} %d\n", st->eval.checks[i].name,
                      st->eval.checks[i].holds);
    gauge_header(out, "edged_adapt_window_open_seconds_today", "Seconds the window was open this local day.");
    ed_buf_printf(out, "edged_adapt_window_open_seconds_today %.0f\n", st->open_today_s);
    gauge_header(out, "edged_adapt_training_seconds_today", "Seconds a trainer ran this local day.");
    ed_buf_printf(out, "edged_adapt_training_seconds_today %.0f\n", st->trained_today_s);
    gauge_header(out, "edged_adapt_trainer_state", "The trainer's state (1 for the current one).");
    ed_trainer_state_t state = ed_gate_state(s->gate);
    for (int i = 0; i <= ED_TRAINER_STOPPED; i++)
        ed_buf_printf(out, "edged_adapt_trainer_state{state=\"%s\"} %d\n", ed_trainer_state_name(i),
                      (int)state == i);
    ed_buf_printf(out, "# HELP edged_adapt_trainer_pauses_total Times an inference request paused the trainer.\n"
                       "# TYPE edged_adapt_trainer_pauses_total counter\nedged_adapt_trainer_pauses_total %llu\n",
                  (unsigned long long)ed_gate_pauses(s->gate));
    ed_histogram_render_header(out, "edged_adapt_pause_latency_seconds",
                               "From a request's pause to the trainer's gate call that blocked.");
    ed_histogram_render(out, "edged_adapt_pause_latency_seconds", NULL, ed_gate_pause_latency(s->gate));
}
