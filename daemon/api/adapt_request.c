/* adapt_request.c - reading and checking a POST /v1/adapt body
 * (adapt_internal.h): the training options with their ranges and
 * defaults from [adapt], the targets, the collections, the name and the
 * examples (written as JSONL); every refusal names its field. */
#include "api/adapt_internal.h"

#include "api/adapters.h"
#include "model/lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLLECTIONS 16
#define MAX_EXAMPLES 10000
#define TARGET_NAMES "attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down" /* ed_jobs_target_bit's */

void ed__adapt_request_free(ed_adapt_request_t *request)
{
    for (int i = 0; i < request->n_collections; i++)
        free(request->collections[i]);
    free(request->collections);
    if (request->examples)
        explicit_bzero(request->examples, request->examples_len);
    free(request->examples);
}

/* examples: an array of conversations, each an array of {role, content}
 * with at least one assistant turn; written as JSONL lines
 * {"messages": [...]} (dataset_source's format). */
static int read_examples(const json_t *root, ed_adapt_request_t *out, ed_param_error_t *err)
{
    const json_t *v = json_object_get(root, "examples");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return ed_params_fail(err, "invalid_type", "examples", "examples: expected an array of message arrays");
    if (json_array_size(v) > MAX_EXAMPLES)
        return ed_params_fail(err, "invalid_value", "examples", "examples: %zu of them, at most %d",
                              json_array_size(v), MAX_EXAMPLES);
    json_t *lines = json_array();
    size_t i, k;
    json_t *conv, *m;
    char param[96];
    int rc = 0;
    json_array_foreach(v, i, conv)
    {
        snprintf(param, sizeof param, "examples[%zu]", i);
        if (!json_is_array(conv) || json_array_size(conv) == 0) {
            rc = ed_params_fail(err, "invalid_type", param, "%s: expected a non-empty array of messages", param);
            break;
        }
        bool assistant = false;
        json_t *messages = json_array();
        json_array_foreach(conv, k, m)
        {
            snprintf(param, sizeof param, "examples[%zu][%zu]", i, k);
            const char *role = json_string_value(json_object_get(m, "role"));
            const json_t *content = json_object_get(m, "content");
            if (!json_is_object(m) || !role ||
                (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
                rc = ed_params_fail(err, "invalid_value", param,
                                    "%s.role: expected \"system\", \"user\" or \"assistant\"", param);
                break;
            }
            if (!json_is_string(content)) {
                rc = ed_params_fail(err, "invalid_type", param, "%s.content: expected a string", param);
                break;
            }
            assistant |= strcmp(role, "assistant") == 0;
            json_array_append_new(messages, json_pack("{s:s,s:O}", "role", role, "content", content));
        }
        if (rc == 0 && !assistant) {
            snprintf(param, sizeof param, "examples[%zu]", i);
            rc = ed_params_fail(err, "invalid_value", param, "%s: no assistant turn to learn from", param);
        }
        if (rc != 0) {
            json_decref(messages);
            break;
        }
        json_array_append_new(lines, json_pack("{s:o}", "messages", messages));
    }
    if (rc == 0 && json_array_size(lines) > 0) {
        /* one compact object per line: JSON escapes every newline inside strings */
        size_t cap = 0;
        char **texts = calloc(json_array_size(lines), sizeof *texts);
        json_array_foreach(lines, i, m)
        {
            texts[i] = texts ? json_dumps(m, JSON_COMPACT) : NULL;
            cap += texts && texts[i] ? strlen(texts[i]) + 1 : 0;
        }
        out->examples = texts ? malloc(cap + 1) : NULL;
        for (i = 0; texts && i < json_array_size(lines); i++) {
            if (out->examples && texts[i]) {
                size_t n = strlen(texts[i]);
                memcpy(out->examples + out->examples_len, texts[i], n);
                out->examples_len += n;
                out->examples[out->examples_len++] = '\n';
            }
            if (texts[i])
                explicit_bzero(texts[i], strlen(texts[i]));
            free(texts[i]);
        }
        free(texts);
        if (!out->examples)
            rc = ED_ENOMEM;
    }
    json_decref(lines);
    return rc;
}

/* Reads and checks the body into c (job row and examples); ED_EINVAL with
 * err naming the field. */
int ed__adapt_request_read(const char *body, size_t len, const ed_config_t *cfg, ed_adapt_request_t *out,
                           ed_param_error_t *err)
{
    json_t *root = NULL;
    int rc = ed_params_load(body, len, &root, err);
    if (rc != 0)
        return rc;
    const char *method = "lora", *name = NULL;
    size_t method_len = 4, name_len = 0;
    int64_t rank = cfg->adapt.rank, seq_len = cfg->adapt.seq_len, max_steps = cfg->adapt.max_steps, seed = 1;
    double alpha = 16, lr = 5e-4, budget_s = cfg->adapt.budget_s, heldout = 0.1;
    out->run_now = false;
    json_t *options = json_object();
    const json_t *v;
    if ((rc = ed_params_string(root, "method", false, &method, &method_len, err)) != 0)
        goto out;
    if (method_len != 4 || memcmp(method, "lora", 4) != 0) {
        rc = ed_params_fail(err, "invalid_value", "method", "method: only \"lora\" is supported");
        goto out;
    }
    if ((rc = ed_params_integer(root, "rank", 1, 64, &rank, err)) != 0 ||
        (rc = ed_params_number(root, "alpha", 0, 4096, true, &alpha, err)) != 0 ||
        (rc = ed_params_integer(root, "seq_len", 8, 8192, &seq_len, err)) != 0 ||
        (rc = ed_params_number(root, "learning_rate", 0, 1, true, &lr, err)) != 0 ||
        (rc = ed_params_number(root, "budget_s", 0, 604800, true, &budget_s, err)) != 0 ||
        (rc = ed_params_integer(root, "max_steps", 1, 10000000, &max_steps, err)) != 0 ||
        (rc = ed_params_number(root, "heldout_fraction", 0, 1, true, &heldout, err)) != 0 ||
        (rc = ed_params_integer(root, "seed", 0, INT64_MAX, &seed, err)) != 0 ||
        (rc = ed_params_bool(root, "run_now", &out->run_now, err)) != 0 ||
        (rc = ed_params_string(root, "name", false, &name, &name_len, err)) != 0)
        goto out;
    if (heldout >= 1) {
        rc = ed_params_fail(err, "invalid_value", "heldout_fraction",
                            "heldout_fraction: expected a number above 0 and below 1, got %g", heldout);
        goto out;
    }
    json_t *targets = json_array();
    json_object_set_new(options, "targets", targets);
    v = json_object_get(root, "targets");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > ED_LORA_PER_LAYER) {
            rc = ed_params_fail(err, "invalid_type", "targets",
                                "targets: expected an array of 1 to %d of " TARGET_NAMES, ED_LORA_PER_LAYER);
            goto out;
        }
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t)
        {
            if (!json_is_string(t) || ed_jobs_target_bit(json_string_value(t)) < 0) {
                char got[64];
                ed_params_describe(t, got, sizeof got);
                rc = ed_params_fail(err, "invalid_value", "targets",
                                    "targets[%zu]: %s is not one of " TARGET_NAMES, i, got);
                goto out;
            }
            json_array_append(targets, t);
        }
    } else {
        static const char *const attn[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
        for (int i = 0; i < 4; i++)
            json_array_append_new(targets, json_string(attn[i]));
    }
    /* collections */
    v = json_object_get(root, "collections");
    json_t *names = json_array();
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) > MAX_COLLECTIONS) {
            json_decref(names);
            rc = ed_params_fail(err, "invalid_type", "collections",
                                "collections: expected an array of 1 to %d collection names", MAX_COLLECTIONS);
            goto out;
        }
        /* the names checked for readability are these: without them no check would be made */
        if (!(out->collections = calloc(json_array_size(v) + 1, sizeof *out->collections))) {
            json_decref(names);
            rc = ED_ENOMEM;
            goto out;
        }
        size_t i;
        json_t *n;
        json_array_foreach(v, i, n)
        {
            const char *s = json_string_value(n);
            if (!s || !*s || json_string_length(n) >= ED_STORE_NAME_MAX) {
                json_decref(names);
                rc = ed_params_fail(err, "invalid_value", "collections",
                                    "collections[%zu]: expected a collection name of 1 to %d bytes", i,
                                    ED_STORE_NAME_MAX - 1);
                goto out;
            }
            if (!(out->collections[out->n_collections] = strdup(s))) {
                json_decref(names);
                rc = ED_ENOMEM;
                goto out;
            }
            out->n_collections++;
            json_array_append(names, n);
        }
    }
    if ((rc = read_examples(root, out, err)) != 0) {
        json_decref(names);
        goto out;
    }
    if (json_array_size(names) == 0 && !out->examples) {
        json_decref(names);
        rc = ed_params_fail(err, "missing_field", "collections",
                            "collections: name at least one collection to train on (or give examples)");
        goto out;
    }
    char default_name[sizeof out->job.name] = "adapter", why[ED_ERR_LEN];
    if (!name && out->n_collections > 0 &&
        ed_adapters_name_valid(out->collections[0], strlen(out->collections[0]), why))
        snprintf(default_name, sizeof default_name, "%s", out->collections[0]);
    if (name && !ed_adapters_name_valid(name, name_len, why)) {
        json_decref(names);
        rc = ed_params_fail(err, "invalid_value", "name", "%s", why);
        goto out;
    }
    snprintf(out->job.name, sizeof out->job.name, "%.*s", name ? (int)name_len : (int)strlen(default_name),
             name ? name : default_name);
    char *text = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    if (!text || strlen(text) >= sizeof out->job.collections) {
        free(text);
        rc = ed_params_fail(err, "invalid_value", "collections", "collections: the names are too long together");
        goto out;
    }
    snprintf(out->job.collections, sizeof out->job.collections, "%s", text);
    free(text);
    json_object_set_new(options, "method", json_string("lora"));
    json_object_set_new(options, "rank", json_integer(rank));
    json_object_set_new(options, "alpha", json_real(alpha));
    json_object_set_new(options, "seq_len", json_integer(seq_len));
    json_object_set_new(options, "learning_rate", json_real(lr));
    json_object_set_new(options, "budget_s", json_real(budget_s));
    json_object_set_new(options, "max_steps", json_integer(max_steps));
    json_object_set_new(options, "heldout_fraction", json_real(heldout));
    json_object_set_new(options, "seed", json_integer(seed));
    json_object_set_new(options, "run_now", json_boolean(out->run_now));
    text = json_dumps(options, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    snprintf(out->job.options, sizeof out->job.options, "%s", text ? text : "{}");
    free(text);
    out->job.max_steps = max_steps;
out:
    json_decref(options);
    json_decref(root);
    return rc;
}
