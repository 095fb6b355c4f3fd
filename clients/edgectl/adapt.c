/* adapt.c - edgectl adapt and edgectl jobs over /v1/adapt and
 * /v1/adapt/jobs: the request from the command line, the job's event
 * stream drawn as a progress bar with a loss sparkline (redrawn in place on
 * a terminal, a line per state change and per 10% otherwise), a table of
 * jobs, one job's fields, cancelling; errors and exit statuses through
 * call.c. */
#include "adapt.h"

#include "call.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SPARK_POINTS 24
#define WATCH_TIMEOUT_MS (24 * 3600 * 1000) /* a job may wait hours for its window between events */

/* ---------------------------------------------------------- drawing --- */

/* The last n losses as a sparkline of block characters (UTF-8) into out. */
static void sparkline(char *out, size_t cap, const double *v, int n)
{
    static const char *const blocks[8] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                          "\u2585", "\u2586", "\u2587", "\u2588"};
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < n && at + 4 < cap; i++) {
        int k = hi > lo ? (int)((v[i] - lo) / (hi - lo) * 7.0 + 0.5) : 3;
        at += (size_t)snprintf(out + at, cap - at, "%s", blocks[k < 0 ? 0 : k > 7 ? 7 : k]);
    }
}

static void format_seconds(char *out, size_t cap, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(out, cap, "-");
    else if (s >= 3600)
        snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(out, cap, "%ds", (int)s);
}

typedef struct {
    int tty;
    double losses[SPARK_POINTS];
    int n_losses;
    int last_decile;
    bool drawn;             /* a bar is on the terminal's line */
    char state[32];
    json_t *end;            /* the end event */
    bool json;              /* --json: print each event as it came */
} watch_t;

static void watch_push_loss(watch_t *w, double loss)
{
    if (w->n_losses == SPARK_POINTS) {
        memmove(w->losses, w->losses + 1, (SPARK_POINTS - 1) * sizeof w->losses[0]);
        w->n_losses--;
    }
    w->losses[w->n_losses++] = loss;
}

static void clear_bar(watch_t *w)
{
    if (w->tty && w->drawn) {
        fprintf(stderr, "\r\033[K");
        w->drawn = false;
    }
}

static void draw_progress(watch_t *w, const json_t *e)
{
    json_int_t step = json_integer_value(json_object_get(e, "step"));
    json_int_t max_steps = json_integer_value(json_object_get(e, "max_steps"));
    double fraction = max_steps > 0 ? (double)step / (double)max_steps : 0;
    if (fraction > 1)
        fraction = 1;
    const json_t *loss = json_object_get(e, "train_loss");
    const json_t *best = json_object_get(e, "best_heldout_loss");
    char spark[SPARK_POINTS * 4 + 1], eta[16];
    sparkline(spark, sizeof spark, w->losses, w->n_losses);
    format_seconds(eta, sizeof eta, json_number_value(json_object_get(e, "eta_s")));
    char best_text[32] = "-";
    if (json_is_number(best))
        snprintf(best_text, sizeof best_text, "%.3f", json_number_value(best));
    if (w->tty) {
        char bar[31];
        int filled = (int)(fraction * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r\033[K[%s] %3d%% step %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
                        "  loss %.3f %s  held-out %s  eta %s",
                bar, (int)(fraction * 100), step, max_steps, json_is_number(loss) ? json_number_value(loss) : NAN,
                spark, best_text, eta);
        fflush(stderr);
        w->drawn = true;
    } else if ((int)(fraction * 10) > w->last_decile) {
        w->last_decile = (int)(fraction * 10);
        fprintf(stderr, "%3d%% step %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "  loss %.3f %s  held-out %s\n",
                w->last_decile * 10, step, max_steps, json_is_number(loss) ? json_number_value(loss) : NAN, spark,
                best_text);
    }
}

static int on_event(void *user, const char *event, const char *data, size_t len)
{
    (void)event;
    watch_t *w = user;
    if (w->json)
        printf("%.*s\n", (int)len, data);
    json_t *e = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(e, "type"));
    if (!type) {
        json_decref(e);
        return 0;
    }
    if (strcmp(type, "progress") == 0) {
        const json_t *loss = json_object_get(e, "train_loss");
        if (json_is_number(loss))
            watch_push_loss(w, json_number_value(loss));
        if (!w->json)
            draw_progress(w, e);
    } else if (strcmp(type, "snapshot") == 0 || strcmp(type, "state") == 0) {
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *reason = json_string_value(json_object_get(e, "reason"));
        bool changed = state && strcmp(state, w->state) != 0;
        if (state)
            snprintf(w->state, sizeof w->state, "%s", state);
        /* pauses for inference come and go often: the bar says paused/resumed only on a terminal */
        if (!w->json && changed && strcmp(state, "paused") != 0 && !(strcmp(state, "running") == 0 && w->n_losses)) {
            clear_bar(w);
            fprintf(stderr, "%s%s%s\n", state, reason && *reason ? ": " : "", reason ? reason : "");
        }
    } else if (strcmp(type, "paused") == 0 && w->tty && !w->json) {
        fprintf(stderr, "  (paused for inference)");
        fflush(stderr);
    } else if (strcmp(type, "end") == 0) {
        json_decref(w->end);
        w->end = e;
        return 1; /* the last event */
    }
    json_decref(e);
    return 0;
}

/* Follows job `id` until its end; prints the outcome. ED_CTL_OK when done. */
static int watch(const ed_ctl_t *ctl, const char *id)
{
    ed_ctl_t local = *ctl;
    local.timeout_ms = WATCH_TIMEOUT_MS;
    ed_client_t *client;
    int status = ed_ctl_connect(&local, &client);
    if (status != ED_CTL_OK)
        return status;
    char path[128];
    snprintf(path, sizeof path, "/v1/adapt/jobs/%.64s/events", id);
    watch_t w = {.tty = isatty(2), .last_decile = -1, .json = ctl->json};
    ed_client_response_t resp = {0};
    char err[ED_CLIENT_ERR_LEN];
    int rc = ed_client_stream(client, "GET", path, NULL, 0, NULL, 0, on_event, &w, &resp, err);
    clear_bar(&w);
    if (rc != 0 && rc != ED_CLIENT_ECANCELED) {
        status = ed_ctl_client_failure(ed_client_socket(client), rc, err);
    } else if (resp.status != 200) {
        status = ed_ctl_answer_failure("GET", path, &resp);
    } else if (!w.end) {
        fprintf(stderr, "edgectl: the job's event stream ended before the job did\n");
        status = ED_CTL_EPROTOCOL;
    } else {
        const char *state = json_string_value(json_object_get(w.end, "state"));
        const char *reason = json_string_value(json_object_get(w.end, "reason"));
        const char *adapter = json_string_value(json_object_get(w.end, "adapter_id"));
        const json_t *best = json_object_get(w.end, "best_heldout_loss");
        char spark[SPARK_POINTS * 4 + 1];
        sparkline(spark, sizeof spark, w.losses, w.n_losses);
        if (!ctl->json) {
            if (state && strcmp(state, "done") == 0) {
                printf("%s done: adapter %s", id, adapter ? adapter : "-");
                if (json_is_number(best))
                    printf(", best held-out loss %.4f", json_number_value(best));
                printf(" (%s) %s\n", reason ? reason : "", spark);
            } else {
                printf("%s %s: %s\n", id, state ? state : "?", reason ? reason : "");
            }
        }
        status = state && strcmp(state, "done") == 0 ? ED_CTL_OK : ED_CTL_EANSWER;
    }
    json_decref(w.end);
    ed_client_response_free(&resp);
    ed_client_close(client);
    return status;
}

/* ----------------------------------------------------------- adapt --- */

/* "90", "90s", "10m", "1h" -> seconds; false when not a duration. */
static bool parse_duration(const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || v <= 0)
        return false;
    if (*end == '\0' || strcmp(end, "s") == 0)
        *out = v;
    else if (strcmp(end, "m") == 0)
        *out = v * 60;
    else if (strcmp(end, "h") == 0)
        *out = v * 3600;
    else
        return false;
    return true;
}

static bool parse_number(const char *text, double *out)
{
    char *end;
    *out = strtod(text, &end);
    return end != text && *end == '\0';
}

/* "q,k,v,o" (or the full names) -> a JSON array of target names. */
static json_t *parse_targets(const char *text)
{
    static const struct {
        const char *short_name, *name;
    } names[] = {{"q", "attn_q"},    {"k", "attn_k"},  {"v", "attn_v"},    {"o", "attn_output"},
                 {"gate", "ffn_gate"}, {"up", "ffn_up"}, {"down", "ffn_down"}};
    json_t *out = json_array();
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const char *name = t;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(t, names[i].short_name) == 0)
                name = names[i].name;
        json_array_append_new(out, json_string(name));
    }
    return out;
}

int ed_ctl_adapt(const ed_ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"budget", required_argument, NULL, 'b'}, {"steps", required_argument, NULL, 'S'},
        {"rank", required_argument, NULL, 'r'},   {"alpha", required_argument, NULL, 'a'},
        {"seq-len", required_argument, NULL, 'L'}, {"lr", required_argument, NULL, 'l'},
        {"targets", required_argument, NULL, 'T'}, {"heldout", required_argument, NULL, 'H'},
        {"name", required_argument, NULL, 'n'},   {"examples", required_argument, NULL, 'e'},
        {"seed", required_argument, NULL, 's'},   {"run-now", no_argument, NULL, 'R'},
        {"detach", no_argument, NULL, 'd'},       {"json", no_argument, NULL, 'j'},
        {0, 0, 0, 0},
    };
    ed_ctl_t local = *ctl;
    json_t *req = json_object();
    bool detach = false;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "b:S:r:a:L:l:T:H:n:e:s:Rd", options, NULL)) != -1) {
        double v;
        const char *field = NULL;
        bool integer = false;
        switch (opt) {
        case 'b':
            if (!parse_duration(optarg, &v)) {
                fprintf(stderr, "edgectl: adapt: --budget: '%s' is not a duration such as 90s, 10m or 1h\n", optarg);
                json_decref(req);
                return ED_CTL_EUSAGE;
            }
            json_object_set_new(req, "budget_s", json_real(v));
            continue;
        case 'S': field = "max_steps", integer = true; break;
        case 'r': field = "rank", integer = true; break;
        case 'L': field = "seq_len", integer = true; break;
        case 's': field = "seed", integer = true; break;
        case 'a': field = "alpha"; break;
        case 'l': field = "learning_rate"; break;
        case 'H': field = "heldout_fraction"; break;
        case 'T': json_object_set_new(req, "targets", parse_targets(optarg)); continue;
        case 'n': json_object_set_new(req, "name", json_string(optarg)); continue;
        case 'e': {
            json_error_t jerr;
            json_t *examples = json_load_file(optarg, 0, &jerr);
            if (!examples) {
                fprintf(stderr, "edgectl: adapt: --examples: %s:%d: %s\n", optarg, jerr.line, jerr.text);
                json_decref(req);
                return ED_CTL_EUSAGE;
            }
            json_object_set_new(req, "examples", examples);
            continue;
        }
        case 'R': json_object_set_new(req, "run_now", json_true()); continue;
        case 'd': detach = true; continue;
        case 'j': local.json = true; continue;
        default:
            fprintf(stderr, "edgectl: adapt: unknown or incomplete option '%s' (see 'edgectl adapt --help')\n",
                    argv[optind - 1]);
            json_decref(req);
            return ED_CTL_EUSAGE;
        }
        if (!parse_number(optarg, &v) || (integer && v != floor(v))) {
            fprintf(stderr, "edgectl: adapt: %s: '%s' is not a%s number\n", field, optarg,
                    integer ? "n integer" : "");
            json_decref(req);
            return ED_CTL_EUSAGE;
        }
        json_object_set_new(req, field, integer ? json_integer((json_int_t)v) : json_real(v));
    }
    json_t *collections = json_array();
    for (int i = optind; i < argc; i++)
        json_array_append_new(collections, json_string(argv[i]));
    if (json_array_size(collections) == 0 && !json_object_get(req, "examples")) {
        fprintf(stderr, "edgectl: adapt: name at least one COLLECTION (see 'edgectl adapt --help')\n");
        json_decref(collections);
        json_decref(req);
        return ED_CTL_EUSAGE;
    }
    json_object_set_new(req, "collections", collections);
    ed_client_t *client;
    int status = ed_ctl_connect(&local, &client);
    json_t *job = NULL;
    if (status == ED_CTL_OK) {
        ed_ctl_t quiet = local;
        quiet.json = local.json && detach;
        status = ed_ctl_post_json(&quiet, client, "/v1/adapt", req, &job);
        ed_client_close(client);
    }
    json_decref(req);
    if (status != ED_CTL_OK) {
        json_decref(job);
        return status;
    }
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(job, "id")));
    json_decref(job);
    if (detach) {
        if (!local.json)
            printf("%s\n", id);
        return ED_CTL_OK;
    }
    if (!local.json)
        fprintf(stderr, "%s queued (edgectl jobs watch %s follows it; Ctrl-C leaves it running)\n", id, id);
    return watch(&local, id);
}

/* ------------------------------------------------------------ jobs --- */

static void print_job_row(const json_t *j)
{
    char collections[160] = "";
    size_t at = 0, i;
    const json_t *c;
    json_array_foreach(json_object_get(j, "collections"), i, c)
        at += (size_t)snprintf(collections + at, at < sizeof collections ? sizeof collections - at : 0, "%s%s",
                               i ? "," : "", json_string_value(c));
    const char *adapter = json_string_value(json_object_get(j, "adapter_id"));
    printf("%-20s %-18s %4d%%  %-16s %-20s %s\n", json_string_value(json_object_get(j, "id")),
           json_string_value(json_object_get(j, "state")),
           (int)(json_number_value(json_object_get(j, "progress")) * 100 + 0.5),
           json_string_value(json_object_get(j, "name")), collections, adapter ? adapter : "-");
}

static void print_job(const json_t *j)
{
    const char *keys[] = {"id", "name", "state", "reason", "step", "max_steps", "tokens", "elapsed_s",
                          "train_loss", "heldout_loss", "best_heldout_loss", "best_step", "eta_s", "adapter_id"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const json_t *v = json_object_get(j, keys[i]);
        if (!v)
            continue;
        if (json_is_string(v))
            printf("%-18s %s\n", keys[i], json_string_value(v));
        else if (json_is_integer(v))
            printf("%-18s %" JSON_INTEGER_FORMAT "\n", keys[i], json_integer_value(v));
        else if (json_is_number(v))
            printf("%-18s %.4f\n", keys[i], json_number_value(v));
        else
            printf("%-18s -\n", keys[i]);
    }
    char *options = json_dumps(json_object_get(j, "options"), JSON_COMPACT | JSON_SORT_KEYS);
    char *collections = json_dumps(json_object_get(j, "collections"), JSON_COMPACT);
    printf("%-18s %s\n%-18s %s\n", "collections", collections ? collections : "", "options", options ? options : "");
    free(options);
    free(collections);
    double losses[SPARK_POINTS];
    int n = 0;
    size_t i;
    const json_t *p;
    const json_t *all = json_object_get(j, "losses");
    size_t total = json_array_size(all);
    json_array_foreach(all, i, p)
        if (i + SPARK_POINTS >= total && json_is_number(json_object_get(p, "train_loss")) && n < SPARK_POINTS)
            losses[n++] = json_number_value(json_object_get(p, "train_loss"));
    if (n > 0) {
        char spark[SPARK_POINTS * 4 + 1];
        sparkline(spark, sizeof spark, losses, n);
        printf("%-18s %s\n", "loss", spark);
    }
}

int ed_ctl_jobs(const ed_ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'}, {0, 0, 0, 0}};
    ed_ctl_t local = *ctl;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt != 'j') {
            fprintf(stderr, "edgectl: jobs: unknown option '%s' (see 'edgectl jobs --help')\n", argv[optind - 1]);
            return ED_CTL_EUSAGE;
        }
        local.json = true;
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    int n_args = argc - optind - 1;
    const char *id = n_args == 1 ? argv[optind + 1] : NULL;
    bool ls = sub && strcmp(sub, "ls") == 0;
    if (!sub || (!ls && strcmp(sub, "show") != 0 && strcmp(sub, "cancel") != 0 && strcmp(sub, "watch") != 0)) {
        fprintf(stderr, "edgectl: jobs: %s%s%s: expected ls, show, cancel or watch\n",
                sub ? "unknown subcommand '" : "no subcommand", sub ? sub : "", sub ? "'" : "");
        return ED_CTL_EUSAGE;
    }
    if ((ls && n_args != 0) || (!ls && (n_args != 1 || strlen(id) > 64 || strchr(id, '/') || strchr(id, '?')))) {
        fprintf(stderr, "edgectl: jobs %s: wrong arguments (see 'edgectl jobs --help')\n", sub);
        return ED_CTL_EUSAGE;
    }
    if (strcmp(sub, "watch") == 0)
        return watch(&local, id);
    char path[128];
    if (ls)
        snprintf(path, sizeof path, "/v1/adapt/jobs");
    else
        snprintf(path, sizeof path, "/v1/adapt/jobs/%s", id);
    ed_client_t *client;
    int status = ed_ctl_connect(&local, &client);
    if (status != ED_CTL_OK)
        return status;
    json_t *answer = NULL;
    status = ed_ctl_request_json(&local, client, strcmp(sub, "cancel") == 0 ? "DELETE" : "GET", path, NULL, 0,
                                 NULL, 0, &answer);
    ed_client_close(client);
    if (status == ED_CTL_OK && !local.json) {
        if (ls) {
            size_t i;
            const json_t *j;
            json_array_foreach(json_object_get(answer, "data"), i, j)
                print_job_row(j);
        } else if (strcmp(sub, "cancel") == 0) {
            printf("%s %s\n", json_string_value(json_object_get(answer, "id")),
                   json_string_value(json_object_get(answer, "state")));
        } else {
            print_job(answer);
        }
    }
    json_decref(answer);
    return status;
}
