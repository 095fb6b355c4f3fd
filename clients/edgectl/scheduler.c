/* scheduler.c - edgectl scheduler over GET /v1/scheduler: the window, the
 * trainer, then one line per constraint (verdict, name, value / threshold,
 * reason) and the next allowed hours; errors and exit statuses through
 * call.c. */
#include "scheduler.h"

#include "call.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* A constraint's value or threshold with its unit: "45.0 C", "mains", "-". */
static void format_value(char *out, size_t cap, const json_t *v, const char *unit)
{
    if (json_is_number(v))
        snprintf(out, cap, "%g%s%s", json_number_value(v), *unit && strcmp(unit, "%") != 0 ? " " : "", unit);
    else if (json_is_boolean(v))
        snprintf(out, cap, "%s", json_is_true(v) ? "yes" : "no");
    else if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else
        snprintf(out, cap, "-");
}

static void format_duration(char *out, size_t cap, double seconds)
{
    long s = (long)seconds;
    if (s >= 3600)
        snprintf(out, cap, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(out, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, cap, "%lds", s);
}

int ed_ctl_scheduler(const ed_ctl_t *ctl, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "edgectl: scheduler: unexpected argument '%s' (see 'edgectl scheduler --help')\n", argv[1]);
        return ED_CTL_EUSAGE;
    }
    ed_client_t *client;
    int status = ed_ctl_connect(ctl, &client);
    if (status != ED_CTL_OK)
        return status;
    json_t *root = NULL;
    status = ed_ctl_request_json(ctl, client, "GET", "/v1/scheduler", NULL, 0, NULL, 0, &root);
    ed_client_close(client);
    if (status != ED_CTL_OK || ctl->json) {
        json_decref(root);
        return status;
    }
    bool open = json_is_true(json_object_get(root, "window_open"));
    const json_t *constraints = json_object_get(root, "constraints");
    char failing[256] = "";
    size_t at = 0, i;
    const json_t *c;
    json_array_foreach(constraints, i, c)
        if (!json_is_true(json_object_get(c, "holds")) && at < sizeof failing)
            at += (size_t)snprintf(failing + at, sizeof failing - at, "%s%s", at ? ", " : "",
                                   json_string_value(json_object_get(c, "name")));
    if (open)
        printf("window: open (training may run now)\n");
    else
        printf("window: closed (training waits: %s)\n", failing);
    const json_t *trainer = json_object_get(root, "trainer");
    printf("trainer: %s (%" JSON_INTEGER_FORMAT " pauses)\n",
           json_string_value(json_object_get(trainer, "state")),
           json_integer_value(json_object_get(trainer, "pauses")));
    json_array_foreach(constraints, i, c) {
        const char *verdict = json_string_value(json_object_get(c, "verdict"));
        const char *unit = json_string_value(json_object_get(c, "unit"));
        char value[96], threshold[96];
        format_value(value, sizeof value, json_object_get(c, "value"), unit ? unit : "");
        format_value(threshold, sizeof threshold, json_object_get(c, "threshold"), unit ? unit : "");
        char pair[200];
        snprintf(pair, sizeof pair, "%s / %s", value, threshold);
        printf("  %-7s %-12s %-24s %s\n", verdict && strcmp(verdict, "fail") == 0 ? "FAIL" : verdict,
               json_string_value(json_object_get(c, "name")), pair,
               json_string_value(json_object_get(c, "reason")));
    }
    const json_t *hours = json_object_get(root, "next_allowed_hours");
    double in_s = json_number_value(json_object_get(hours, "in_s"));
    const char *closes = json_string_value(json_object_get(hours, "closes_at"));
    if (in_s > 0) {
        char in[32];
        format_duration(in, sizeof in, in_s);
        printf("hours: next open at %s (in %s)\n", json_string_value(json_object_get(hours, "at")), in);
    } else if (closes) {
        printf("hours: inside now, until %s\n", closes);
    } else {
        printf("hours: any hour allowed\n");
    }
    const json_t *today = json_object_get(root, "today");
    char open_s[32], trained_s[32];
    format_duration(open_s, sizeof open_s, json_number_value(json_object_get(today, "window_open_s")));
    format_duration(trained_s, sizeof trained_s, json_number_value(json_object_get(today, "trained_s")));
    printf("today: window open %s, trained %s\n", open_s, trained_s);
    json_decref(root);
    return ED_CTL_OK;
}
