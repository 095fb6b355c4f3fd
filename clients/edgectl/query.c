/* query.c - edgectl health, version, metrics, config: one GET each through
 * libedgeclient, printed for people (or as the daemon's JSON with --json).
 * Failures become exit statuses through call.c, with the daemon's own error
 * message and a hint where one helps (which socket, systemctl, the admin group). */
#include "query.h"

#include "call.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GETs `path`. On ED_CTL_OK `resp` holds a 2xx answer; an error answer is
 * printed (and returned as ED_CTL_EANSWER) unless `keep_errors`, in which
 * case it is left in `resp` for the caller. */
static int get(const ed_ctl_t *ctl, const char *path, int keep_errors, ed_client_response_t *resp)
{
    char err[ED_CLIENT_ERR_LEN];
    const char *socket_path = ed_client_default_socket(ctl->socket_path);
    ed_client_t *client = NULL;
    int rc = ed_client_open(&client, socket_path, ctl->timeout_ms, err);
    if (rc == 0)
        rc = ed_client_request(client, "GET", path, NULL, 0, NULL, 0, resp, err);
    ed_client_close(client);
    if (rc != 0)
        return ed_ctl_client_failure(socket_path, rc, err);
    if (ctl->json && resp->body)
        fwrite(resp->body, 1, resp->body_len, stdout);
    if (ctl->json && resp->body_len && resp->body[resp->body_len - 1] != '\n')
        putchar('\n');
    if ((resp->status < 200 || resp->status > 299) && !keep_errors)
        return ed_ctl_answer_failure("GET", path, resp);
    return ED_CTL_OK;
}

static int no_arguments(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "edgectl: %s: unexpected argument '%s' (see 'edgectl %s --help')\n",
                argv[0], argv[1], argv[0]);
        return ED_CTL_EUSAGE;
    }
    return ED_CTL_OK;
}

/* "12.5 s", "3 min 20 s", "5 h 2 min", "3 d 4 h". */
static void format_duration(char *out, size_t size, double seconds)
{
    if (seconds < 120) {
        snprintf(out, size, "%.1f s", seconds);
        return;
    }
    long s = (long)seconds;
    if (s < 3600)
        snprintf(out, size, "%ld min %ld s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, size, "%ld h %ld min", s / 3600, s % 3600 / 60);
    else
        snprintf(out, size, "%ld d %ld h", s / 86400, s % 86400 / 3600);
}

int ed_ctl_health(const ed_ctl_t *ctl, int argc, char **argv)
{
    int status = no_arguments(argc, argv);
    if (status != ED_CTL_OK)
        return status;
    ed_client_response_t resp = {0};
    status = get(ctl, "/health", 1, &resp);
    if (status != ED_CTL_OK)
        goto out;
    int healthy = resp.status == 200;
    if (ctl->json) {
        status = healthy ? ED_CTL_OK : ED_CTL_EANSWER;
        goto out;
    }
    json_t *root = ed_ctl_parse_object("GET", "/health", &resp);
    if (!root) {
        status = ED_CTL_EPROTOCOL;
        goto out;
    }
    const char *state = json_string_value(json_object_get(root, "status"));
    if (healthy) {
        char uptime[64];
        format_duration(uptime, sizeof uptime,
                        json_number_value(json_object_get(root, "uptime_s")));
        const char *version = json_string_value(json_object_get(root, "version"));
        printf("health: %s (up %s, edged %s)\n", state ? state : "ok", uptime,
               version ? version : "?");
        json_t *store = json_object_get(root, "store"); /* serving, but without its store */
        const char *store_state = json_string_value(json_object_get(store, "state"));
        if (store_state && strcmp(store_state, "open") != 0) {
            const char *why = json_string_value(json_object_get(store, "reason"));
            printf("store: %s%s%s%s\n", store_state, why ? " (" : "", why ? why : "", why ? ")" : "");
        }
    } else if (state) { /* 503 while starting: {"status": "starting", "reason": ...} */
        const char *reason = json_string_value(json_object_get(root, "reason"));
        printf("health: %s%s%s%s (HTTP %d)\n", state, reason ? " (" : "", reason ? reason : "",
               reason ? ")" : "", resp.status);
        status = ED_CTL_EANSWER;
    } else {
        status = ed_ctl_answer_failure("GET", "/health", &resp);
    }
    json_decref(root);
out:
    ed_client_response_free(&resp);
    return status;
}

int ed_ctl_version(const ed_ctl_t *ctl, int argc, char **argv)
{
    int status = no_arguments(argc, argv);
    if (status != ED_CTL_OK)
        return status;
    ed_client_response_t resp = {0};
    status = get(ctl, "/v1/version", 0, &resp);
    if (status != ED_CTL_OK || ctl->json)
        goto out;
    json_t *root = ed_ctl_parse_object("GET", "/v1/version", &resp);
    if (!root) {
        status = ED_CTL_EPROTOCOL;
        goto out;
    }
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *version = json_string_value(json_object_get(root, "version"));
    const char *api = json_string_value(json_object_get(root, "api"));
    printf("%s %s", name ? name : "edged", version ? version : "?");
    if (api)
        printf(" (api %s)", api);
    putchar('\n');
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "name") == 0 || strcmp(key, "version") == 0 || strcmp(key, "api") == 0)
            continue;
        char *text = json_is_string(value) ? NULL : json_dumps(value, JSON_ENCODE_ANY);
        printf("  %-10s %s\n", key, text ? text : json_string_value(value));
        free(text);
    }
    json_decref(root);
out:
    ed_client_response_free(&resp);
    return status;
}

int ed_ctl_config(const ed_ctl_t *ctl, int argc, char **argv)
{
    int status = no_arguments(argc, argv);
    if (status != ED_CTL_OK)
        return status;
    ed_client_response_t resp = {0};
    status = get(ctl, "/v1/config", 0, &resp);
    if (status != ED_CTL_OK || ctl->json)
        goto out;
    json_t *root = ed_ctl_parse_object("GET", "/v1/config", &resp);
    if (!root) {
        status = ED_CTL_EPROTOCOL;
        goto out;
    }
    /* Printed as the INI file it came from: [section] then `option = value`. */
    const char *section_name, *option;
    json_t *section, *value;
    int first = 1;
    json_object_foreach(root, section_name, section) {
        printf("%s[%s]\n", first ? "" : "\n", section_name);
        first = 0;
        json_object_foreach(section, option, value) {
            char *text = json_is_string(value) ? NULL : json_dumps(value, JSON_ENCODE_ANY);
            printf("%s = %s\n", option, text ? text : json_string_value(value));
            free(text);
        }
    }
    json_decref(root);
out:
    ed_client_response_free(&resp);
    return status;
}

/* Parses one Prometheus sample line `name{k="v",...} value [timestamp]` into
 * {"name", "labels", "value"}; NULL if the line is not a sample. */
static json_t *metrics_sample(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && line[i] != '{' && line[i] != ' ')
        i++;
    if (i == 0 || i == len)
        return NULL;
    json_t *labels = json_object();
    json_t *sample = json_pack("{s:s%, s:o}", "name", line, i, "labels", labels);
    if (line[i] == '{') {
        i++;
        while (i < len && line[i] != '}') {
            size_t key_start = i;
            while (i < len && line[i] != '=')
                i++;
            if (i + 1 >= len || line[i + 1] != '"')
                goto bad;
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)(i - key_start), line + key_start);
            i += 2;
            char value[1024];
            size_t n = 0;
            for (; i < len && line[i] != '"'; i++) {
                char c = line[i];
                if (c == '\\' && i + 1 < len) {
                    c = line[++i];
                    c = c == 'n' ? '\n' : c;
                }
                if (n + 1 < sizeof value)
                    value[n++] = c;
            }
            value[n] = '\0';
            if (i >= len)
                goto bad;
            json_object_set_new(labels, key, json_string(value));
            i++;
            if (i < len && line[i] == ',')
                i++;
        }
        i++;
    }
    while (i < len && line[i] == ' ')
        i++;
    char number[64];
    size_t n = 0;
    while (i + n < len && line[i + n] != ' ' && n + 1 < sizeof number) {
        number[n] = line[i + n];
        n++;
    }
    number[n] = '\0';
    char *end;
    double v = strtod(number, &end);
    if (n == 0 || *end)
        goto bad;
    json_object_set_new(sample, "value", isfinite(v) ? json_real(v) : json_string(number));
    return sample;
bad:
    json_decref(sample);
    return NULL;
}

int ed_ctl_metrics(const ed_ctl_t *ctl, int argc, char **argv)
{
    int status = no_arguments(argc, argv);
    if (status != ED_CTL_OK)
        return status;
    ed_ctl_t text_ctl = *ctl;
    text_ctl.json = false; /* the answer is text: --json converts it below */
    ed_client_response_t resp = {0};
    status = get(&text_ctl, "/metrics", 0, &resp);
    if (status != ED_CTL_OK)
        goto out;
    if (!ctl->json) {
        fwrite(resp.body ? resp.body : "", 1, resp.body_len, stdout);
        goto out;
    }
    json_t *samples = json_array();
    for (const char *line = resp.body ? resp.body : ""; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len && line[0] != '#') {
            json_t *sample = metrics_sample(line, len);
            if (!sample) {
                fprintf(stderr, "edgectl: GET /metrics: cannot read the line '%.*s'\n", (int)len,
                        line);
                status = ED_CTL_EPROTOCOL;
                break;
            }
            json_array_append_new(samples, sample);
        }
        line += len + (eol != NULL);
    }
    if (status == ED_CTL_OK) {
        json_dumpf(samples, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        putchar('\n');
    }
    json_decref(samples);
out:
    ed_client_response_free(&resp);
    return status;
}
