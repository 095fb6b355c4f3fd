/* scheduler.c - GET /v1/scheduler (adapt group): why training may or may not
 * run now, constraint by constraint (value, threshold, verdict, whether it
 * holds and the reason), the window, the trainer's state, the next allowed
 * hours and the day's totals, from the scheduler's last evaluation
 * (adapt/scheduler.h; it re-reads the device every adapt.poll_s). */
#include "adapt/scheduler.h"
#include "api/api.h"
#include "api/status.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

/* ISO 8601 local time with its offset ("2026-12-06T22:00:00+01:00"). */
static json_t *local_time(time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    char text[40], zone[8];
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm); /* +0100 */
    char out[48];
    snprintf(out, sizeof out, "%s%.3s:%.2s", text, zone, zone[0] ? zone + 3 : "00");
    return json_string(out);
}

static json_t *value_json(const ed_sched_value_t *v)
{
    switch (v->kind) {
    case ED_SCHED_NUMBER: return json_real(v->number);
    case ED_SCHED_BOOL: return json_boolean(v->flag);
    case ED_SCHED_TEXT: return json_string(v->text);
    case ED_SCHED_NONE: break;
    }
    return json_null();
}

void ed_api_scheduler(ed_request_t *req)
{
    ed_app_t *app = req->app;
    if (!app->scheduler) {
        ed_api_fail(req, ED_EAGAIN, ED_API_MODEL, NULL, "the training scheduler did not start (the log says why)");
        return;
    }
    ed_scheduler_status_t st;
    ed_scheduler_status(app->scheduler, &st);
    json_t *constraints = json_array();
    for (int i = 0; i < ED_SCHED_N; i++) {
        const ed_sched_check_t *c = &st.eval.checks[i];
        json_array_append_new(constraints,
                              json_pack("{s:s,s:s,s:b,s:o,s:o,s:s,s:s}", "name", c->name, "verdict",
                                        ed_verdict_name(c->verdict), "holds", c->holds, "value",
                                        value_json(&c->value), "threshold", value_json(&c->threshold), "unit",
                                        c->unit, "reason", c->reason));
    }
    double next_in = difftime(st.next_hours_at, st.evaluated_at);
    json_t *body = json_pack(
        "{s:b,s:{s:s,s:I},s:o,s:{s:o,s:f,s:o},s:{s:f,s:f},s:o}", "window_open", st.eval.window_open, "trainer",
        "state", ed_trainer_state_name(st.trainer), "pauses", (json_int_t)st.pauses, "constraints", constraints,
        "next_allowed_hours", "at", local_time(st.next_hours_at), "in_s", next_in > 0 ? next_in : 0.0, "closes_at",
        st.hours_close_at ? local_time(st.hours_close_at) : json_null(), "today", "window_open_s", st.open_today_s,
        "trained_s", st.trained_today_s, "evaluated_at", local_time(st.evaluated_at));
    ed_http_respond_json(req, 200, body);
}
