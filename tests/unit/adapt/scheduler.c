/* Tests daemon/adapt/scheduler.c's pure evaluation, without a clock: each
 * constraint opening and closing the window, the unknown policies, the
 * temperature hysteresis, hours across midnight, the daily cap and idle_s
 * (and that a request only pauses once the window is open); core/hours.c's
 * parsing; and the loop side on a real uv loop with a fake engine: a request
 * pauses the trainer's gate, quiet for resume_after_s resumes it, a failing
 * constraint stops it. */
#include "adapt/scheduler.h"
#include "core/hours.h"
#include "../../test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static ed_config_t cfg;
static ed_monitor_reading_t reading;
static ed_sched_input_t in;
static ed_sched_eval_t out;

/* A cool, plugged-in, quiet device at noon with every constraint met. */
static void setup(void)
{
    ed_config_defaults(&cfg);
    cfg.adapt.idle_s = 60;
    cfg.adapt.daily_cap_s = 3600;
    memset(&reading, 0, sizeof reading);
    reading.temp_known = true;
    reading.temp_c = 45;
    snprintf(reading.temp_zone, sizeof reading.temp_zone, "cpu-thermal");
    reading.power_known = true;
    reading.on_power = true;
    snprintf(reading.power_source, sizeof reading.power_source, "mains");
    reading.battery_pct = -1;
    for (int i = 0; i < ED_PRESSURE_N; i++)
        reading.pressure_known[i] = true;
    memset(&in, 0, sizeof in);
    in.reading = &reading;
    in.local_minute = 12 * 60;
    in.engine_idle_s = 3600;
}

static const ed_sched_check_t *eval(ed_sched_constraint_t which)
{
    ed_scheduler_evaluate(&cfg, &in, &out);
    in.hot = out.hot;
    in.was_open = out.window_open;
    return &out.checks[which];
}

ED_TEST(all_met_opens)
{
    setup();
    const ed_sched_check_t *c = eval(ED_SCHED_ENABLED);
    ED_CHECK(out.window_open);
    ED_CHECK_STR(c->name, "enabled");
    for (int i = 0; i < ED_SCHED_N; i++) {
        ED_CHECK(out.checks[i].holds);
        ED_CHECK(out.checks[i].name != NULL);
        ED_CHECK(out.checks[i].reason[0] != '\0');
    }
    cfg.adapt.enabled = false;
    c = eval(ED_SCHED_ENABLED);
    ED_CHECK(!out.window_open && c->verdict == ED_VERDICT_FAIL);
}

ED_TEST(unknown_signals_hold)
{
    setup();
    memset(&reading, 0, sizeof reading);
    reading.battery_pct = -1;
    eval(ED_SCHED_POWER);
    ED_CHECK(out.window_open);
    ED_CHECK_INT(out.checks[ED_SCHED_POWER].verdict, ED_VERDICT_UNKNOWN);
    ED_CHECK_INT(out.checks[ED_SCHED_BATTERY].verdict, ED_VERDICT_UNKNOWN);
    ED_CHECK_INT(out.checks[ED_SCHED_TEMPERATURE].verdict, ED_VERDICT_UNKNOWN);
    ED_CHECK_INT(out.checks[ED_SCHED_THROTTLING].verdict, ED_VERDICT_UNKNOWN);
    ED_CHECK_INT(out.checks[ED_SCHED_PRESSURE].verdict, ED_VERDICT_UNKNOWN);
    ED_CHECK_INT(out.checks[ED_SCHED_POWER].value.kind, ED_SCHED_NONE);
    cfg.adapt.logind_idle = true;
    const ed_sched_check_t *c = eval(ED_SCHED_LOGIND);
    ED_CHECK(c->verdict == ED_VERDICT_UNKNOWN && c->holds && out.window_open);
}

ED_TEST(power_and_battery)
{
    setup();
    reading.on_power = false;
    snprintf(reading.power_source, sizeof reading.power_source, "battery");
    reading.battery_present = true;
    reading.battery_pct = 90;
    snprintf(reading.battery_status, sizeof reading.battery_status, "Discharging");
    const ed_sched_check_t *c = eval(ED_SCHED_POWER);
    ED_CHECK(!out.window_open && !c->holds); /* mains_only */
    ED_CHECK(out.checks[ED_SCHED_BATTERY].holds);
    cfg.adapt.mains_only = false;
    cfg.adapt.battery_floor = 80;
    eval(ED_SCHED_POWER);
    ED_CHECK(out.window_open); /* 90% >= 80% */
    reading.battery_pct = 79;
    c = eval(ED_SCHED_BATTERY);
    ED_CHECK(!out.window_open && c->verdict == ED_VERDICT_FAIL);
    ED_CHECK_NEAR(c->value.number, 79, 0);
    ED_CHECK_NEAR(c->threshold.number, 80, 0);
    reading.on_power = true; /* plugged in: a low battery charging is fine */
    c = eval(ED_SCHED_BATTERY);
    ED_CHECK(out.window_open && c->holds);
}

ED_TEST(temperature_hysteresis)
{
    setup();
    cfg.adapt.temp_ceiling_c = 70;
    cfg.adapt.temp_hysteresis_c = 5;
    reading.temp_c = 69.9;
    ED_CHECK(eval(ED_SCHED_TEMPERATURE)->holds);
    reading.temp_c = 70;
    ED_CHECK(!eval(ED_SCHED_TEMPERATURE)->holds); /* closes at the ceiling */
    ED_CHECK(out.hot);
    reading.temp_c = 67;
    ED_CHECK(!eval(ED_SCHED_TEMPERATURE)->holds); /* below the ceiling, not below 65: still closed */
    reading.temp_c = 65;
    ED_CHECK(!eval(ED_SCHED_TEMPERATURE)->holds);
    reading.temp_c = 64.9;
    ED_CHECK(eval(ED_SCHED_TEMPERATURE)->holds); /* reopens below ceiling - hysteresis */
    ED_CHECK(!out.hot);
    reading.temp_c = 67;
    ED_CHECK(eval(ED_SCHED_TEMPERATURE)->holds); /* rising again: open until the ceiling */
    reading.temp_known = false; /* the zone vanished: unknown counts as cool and clears the latch */
    reading.temp_c = 0;
    ED_CHECK(eval(ED_SCHED_TEMPERATURE)->holds);
}

ED_TEST(throttling_and_pressure)
{
    setup();
    reading.undervoltage_known = true;
    ED_CHECK(eval(ED_SCHED_THROTTLING)->holds);
    reading.undervoltage = true;
    ED_CHECK(!eval(ED_SCHED_THROTTLING)->holds && !out.window_open);
    reading.undervoltage = false;
    reading.throttled_known = true;
    reading.throttled = true;
    reading.throttled_bits = 0x4;
    const ed_sched_check_t *c = eval(ED_SCHED_THROTTLING);
    ED_CHECK(!c->holds && strstr(c->reason, "0x4"));
    reading.throttled = false;

    cfg.adapt.pressure_ceiling = 20;
    reading.pressure[ED_PRESSURE_CPU] = 20; /* at most the ceiling holds */
    ED_CHECK(eval(ED_SCHED_PRESSURE)->holds);
    reading.pressure[ED_PRESSURE_IO] = 35.5;
    c = eval(ED_SCHED_PRESSURE);
    ED_CHECK(!c->holds && !out.window_open);
    ED_CHECK_NEAR(c->value.number, 35.5, 1e-9);
    ED_CHECK(strstr(c->reason, "io pressure") != NULL);
}

ED_TEST(idle_then_requests_only_pause)
{
    setup();
    in.engine_idle_s = 10;
    const ed_sched_check_t *c = eval(ED_SCHED_IDLE);
    ED_CHECK(!c->holds && !out.window_open); /* 10 s of the 60 */
    in.engine_idle_s = 60;
    ED_CHECK(eval(ED_SCHED_IDLE)->holds && out.window_open);
    in.engine_busy = true; /* a request while open: the trainer pauses, the window stays */
    in.engine_idle_s = 0;
    c = eval(ED_SCHED_IDLE);
    ED_CHECK(c->holds && out.window_open);
    ED_CHECK_INT(c->value.kind, ED_SCHED_TEXT);
    ED_CHECK_STR(c->value.text, "busy");
    reading.temp_c = 90; /* something else closes it */
    eval(ED_SCHED_IDLE);
    ED_CHECK(!out.window_open);
    reading.temp_c = 40;
    c = eval(ED_SCHED_IDLE); /* closed and busy: idle_s applies again */
    ED_CHECK(!c->holds && !out.window_open);
}

ED_TEST(hours_wrap_midnight)
{
    setup();
    snprintf(cfg.adapt.hours, sizeof cfg.adapt.hours, "22:00-07:00");
    in.local_minute = 21 * 60 + 59;
    const ed_sched_check_t *c = eval(ED_SCHED_HOURS);
    ED_CHECK(!c->holds && !out.window_open);
    ED_CHECK_INT(out.minutes_to_hours, 1);
    ED_CHECK_STR(c->value.text, "21:59");
    ED_CHECK_STR(c->threshold.text, "22:00-07:00");
    in.local_minute = 22 * 60;
    ED_CHECK(eval(ED_SCHED_HOURS)->holds);
    ED_CHECK_INT(out.minutes_hours_left, 9 * 60);
    in.local_minute = 3 * 60;
    ED_CHECK(eval(ED_SCHED_HOURS)->holds);
    in.local_minute = 6 * 60 + 59;
    ED_CHECK(eval(ED_SCHED_HOURS)->holds);
    ED_CHECK_INT(out.minutes_hours_left, 1);
    in.local_minute = 7 * 60;
    ED_CHECK(!eval(ED_SCHED_HOURS)->holds);
    ED_CHECK_INT(out.minutes_to_hours, 15 * 60);
    snprintf(cfg.adapt.hours, sizeof cfg.adapt.hours, "01:00-02:00, 12:30-13:00");
    in.local_minute = 12 * 60;
    ED_CHECK(!eval(ED_SCHED_HOURS)->holds);
    ED_CHECK_INT(out.minutes_to_hours, 30);
    cfg.adapt.hours[0] = '\0';
    ED_CHECK(eval(ED_SCHED_HOURS)->holds);
    ED_CHECK_INT(out.minutes_hours_left, 1440);
}

ED_TEST(daily_cap)
{
    setup();
    cfg.adapt.daily_cap_s = 3600;
    in.trained_today_s = 3599;
    ED_CHECK(eval(ED_SCHED_DAILY_CAP)->holds);
    in.trained_today_s = 3600;
    ED_CHECK(!eval(ED_SCHED_DAILY_CAP)->holds && !out.window_open);
    cfg.adapt.daily_cap_s = 0;
    const ed_sched_check_t *c = eval(ED_SCHED_DAILY_CAP);
    ED_CHECK(c->holds && c->threshold.kind == ED_SCHED_NONE);
}

ED_TEST(hours_parse)
{
    ed_hours_t h;
    char why[256];
    ED_CHECK(ed_hours_parse(&h, "", why, sizeof why) == 0 && h.n == 0);
    ED_CHECK(ed_hours_parse(&h, "22:00-07:00 12:00-24:00", why, sizeof why) == 0 && h.n == 2);
    ED_CHECK_INT(h.end[1], 1440);
    ED_CHECK(ed_hours_parse(&h, "9:30-10:00", why, sizeof why) == 0 && h.start[0] == 570);
    ED_CHECK(ed_hours_parse(&h, "00:00-00:00", why, sizeof why) == 0 && ed_hours_contains(&h, 777));
    const char *bad[] = {"22:00", "22:00-25:00", "22:60-23:00", "a-b", "22:00-07:00x", "24:00-01:00", "22:00--07:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        ED_CHECK(ed_hours_parse(&h, bad[i], why, sizeof why) == ED_ECONFIG);
        ED_CHECK(why[0] != '\0');
    }
    ED_CHECK(ed_hours_parse(&h, "1:00-2:00 1:00-2:00 1:00-2:00 1:00-2:00 1:00-2:00 1:00-2:00 1:00-2:00 1:00-2:00 1:00-2:00",
                            why, sizeof why) == ED_ECONFIG);
}

/* ---------------------------------------------------- the loop side --- */

static bool fake_busy;
static double fake_last_s;

static void fake_activity(void *arg, bool *busy, double *last_activity_s)
{
    (void)arg;
    *busy = fake_busy;
    *last_activity_s = fake_last_s;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void on_stop_timer(uv_timer_t *t) { uv_stop(t->loop); }

/* Runs the loop for about ms milliseconds. */
static void run_for(uv_loop_t *loop, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_stop_timer, (uint64_t)ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

ED_TEST(requests_pause_quiet_resumes_constraints_stop)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    ed_config_defaults(&cfg);
    char sys_root[] = "/tmp/edged-sched-XXXXXX";
    ED_REQUIRE(mkdtemp(sys_root) != NULL);
    char zone[128], temp[160];
    snprintf(zone, sizeof zone, "%s/class", sys_root);
    mkdir(zone, 0755);
    snprintf(zone, sizeof zone, "%s/class/thermal", sys_root);
    mkdir(zone, 0755);
    snprintf(zone, sizeof zone, "%s/class/thermal/thermal_zone0", sys_root);
    mkdir(zone, 0755);
    snprintf(temp, sizeof temp, "%s/temp", zone);
    write_text(temp, "40000\n");
    snprintf(cfg.adapt.sys_root, sizeof cfg.adapt.sys_root, "%s", sys_root);
    snprintf(cfg.adapt.proc_root, sizeof cfg.adapt.proc_root, "/nonexistent/proc");
    cfg.adapt.idle_s = 0;
    cfg.adapt.resume_after_s = 1;
    cfg.adapt.poll_s = 60; /* the test polls itself */
    ed_scheduler_t *s;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_scheduler_open(&s, &loop, &cfg, fake_activity, NULL, err) == 0);
    ED_CHECK(ed_scheduler_window_open(s)); /* an unknown device, quiet: open */
    ed_gate_t *gate = ed_scheduler_gate(s);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_RUN);
    ed_gate_begin(gate); /* a trainer runs */
    ed_scheduler_status_t st;
    ed_scheduler_status(s, &st);
    ED_CHECK_INT(st.trainer, ED_TRAINER_RUNNING);

    fake_busy = true; /* a request arrives */
    ed_scheduler_on_request(s);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_PAUSE);
    ed_scheduler_on_request(s); /* another: still one pause */
    ed_scheduler_status(s, &st);
    ED_CHECK_INT(st.trainer, ED_TRAINER_PAUSED);
    ED_CHECK_INT((int)st.pauses, 1);
    ed_scheduler_poll(s);
    ED_CHECK(ed_scheduler_window_open(s)); /* a request pauses, it does not close */
    run_for(&loop, 300);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_PAUSE); /* busy */
    fake_busy = false;
    fake_last_s = mono();
    run_for(&loop, 500);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_PAUSE); /* quiet for less than resume_after_s */
    run_for(&loop, 800);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_RUN); /* quiet long enough: resumed */

    cfg.adapt.enabled = false; /* a failing constraint stops the trainer */
    ed_scheduler_reconfigure(s, &cfg);
    ED_CHECK(!ed_scheduler_window_open(s));
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_STOP);
    ed_scheduler_on_request(s); /* a stopped trainer stays stopped */
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_STOP);
    cfg.adapt.enabled = true;
    ed_scheduler_reconfigure(s, &cfg);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_RUN); /* reopened */
    ed_scheduler_status(s, &st);
    ED_CHECK(st.open_today_s > 1.2);     /* open all along until disabled */
    /* but paused for at least 0.8 s of it (the two waits above; a loaded
     * machine only makes them longer): paused time does not count */
    ED_CHECK(st.trained_today_s < st.open_today_s - 0.7);
    run_for(&loop, 400);
    ed_scheduler_poll(s);
    ed_scheduler_status(s, &st);
    ED_CHECK(st.trained_today_s > 0.35 && st.trained_today_s < 1.0);

    /* run_now: forced, only temperature stops the trainer */
    cfg.adapt.enabled = false;
    ed_scheduler_reconfigure(s, &cfg);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_STOP);
    ed_scheduler_force(s, true);
    ED_CHECK(!ed_scheduler_window_open(s));
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_RUN);
    write_text(temp, "90000\n"); /* but heat stops even a forced run */
    ed_scheduler_poll(s);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_STOP);
    write_text(temp, "40000\n");
    ed_scheduler_poll(s);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_RUN);
    ed_scheduler_force(s, false);
    ED_CHECK_INT(ed_gate_command(gate), ED_GATE_STOP);
    ed_gate_end(gate);

    ed_scheduler_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    ED_CHECK(uv_loop_close(&loop) == 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sys_root);
    ED_CHECK(system(cmd) == 0);
}

ED_TEST_MAIN(all_met_opens, unknown_signals_hold, power_and_battery, temperature_hysteresis, throttling_and_pressure,
             idle_then_requests_only_pause, hours_wrap_midnight, daily_cap, hours_parse,
             requests_pause_quiet_resumes_constraints_stop)
