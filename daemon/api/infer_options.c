/* infer_options.c - see infer_options.h: the generation request's fields,
 * each checked with the error a client can act on. */
#include "api/infer_options.h"
#include "rag/rag.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void ed_infer_random_bytes(void *buf, size_t n)
{
    if (getrandom(buf, n, 0) == (ssize_t)n)
        return;
    /* getrandom cannot fail for small requests once the pool is up; if it
     * does, a clock-seeded mix still gives distinct ids. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

/* --------------------------------------------------------- the request --- */

/* stop: a string or up to ED_ENGINE_MAX_STOPS strings of at most
 * ED_ENGINE_MAX_STOP_LEN bytes. */
static int read_stops(const json_t *root, ed_infer_options_t *opt, ed_param_error_t *err)
{
    const json_t *stop = json_object_get(root, "stop");
    if (!stop || json_is_null(stop))
        return 0;
    char got[64];
    if (json_is_string(stop)) {
        if (json_string_length(stop) > ED_ENGINE_MAX_STOP_LEN)
            return ed_params_fail(err, "invalid_value", "stop", "stop: a stop string is at most %d bytes, got %zu",
                                  ED_ENGINE_MAX_STOP_LEN, json_string_length(stop));
        opt->stops[opt->n_stops++] = json_string_value(stop);
        return 0;
    }
    if (!json_is_array(stop)) {
        ed_params_describe(stop, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "stop", "stop: expected a string or an array of strings, got %s", got);
    }
    if (json_array_size(stop) > ED_ENGINE_MAX_STOPS)
        return ed_params_fail(err, "invalid_value", "stop", "stop: at most %d stop strings, got %zu",
                              ED_ENGINE_MAX_STOPS, json_array_size(stop));
    size_t i;
    const json_t *item;
    json_array_foreach(stop, i, item) {
        char param[32];
        snprintf(param, sizeof param, "stop[%zu]", i);
        if (!json_is_string(item)) {
            ed_params_describe(item, got, sizeof got);
            return ed_params_fail(err, "invalid_type", param, "%s: expected a string, got %s", param, got);
        }
        if (json_string_length(item) > ED_ENGINE_MAX_STOP_LEN)
            return ed_params_fail(err, "invalid_value", param, "%s: a stop string is at most %d bytes, got %zu",
                                  param, ED_ENGINE_MAX_STOP_LEN, json_string_length(item));
        opt->stops[opt->n_stops++] = json_string_value(item);
    }
    return 0;
}

/* logit_bias: {"token id": bias in [-100, 100]}, ids within the vocabulary. */
static int read_logit_bias(const json_t *root, int n_vocab, ed_infer_options_t *opt, ed_param_error_t *err)
{
    const json_t *bias = json_object_get(root, "logit_bias");
    if (!bias || json_is_null(bias))
        return 0;
    char got[64];
    if (!json_is_object(bias)) {
        ed_params_describe(bias, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "logit_bias",
                              "logit_bias: expected an object of token id -> bias, got %s", got);
    }
    if (json_object_size(bias) > ED_SAMPLER_MAX_BIAS)
        return ed_params_fail(err, "invalid_value", "logit_bias", "logit_bias: at most %d entries, got %zu",
                              ED_SAMPLER_MAX_BIAS, json_object_size(bias));
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)bias, key, value) {
        char *end;
        errno = 0;
        long id = strtol(key, &end, 10);
        if (end == key || *end || errno || id < 0 || id >= n_vocab)
            return ed_params_fail(err, "invalid_value", "logit_bias",
                                  "logit_bias: \"%.32s\" is not a token id between 0 and %d", key, n_vocab - 1);
        if (!json_is_number(value)) {
            ed_params_describe(value, got, sizeof got);
            return ed_params_fail(err, "invalid_type", "logit_bias",
                                  "logit_bias: the bias of token %ld: expected a number, got %s", id, got);
        }
        double b = json_number_value(value);
        if (b < -100 || b > 100)
            return ed_params_fail(err, "invalid_value", "logit_bias",
                                  "logit_bias: the bias of token %ld: expected a number between -100 and 100, got %g",
                                  id, b);
        opt->bias[opt->sampling.n_bias++] = (ed_logit_bias_t){(int32_t)id, (float)b};
    }
    return 0;
}

int ed_infer_read_options(const json_t *root, const ed_engine_model_t *model, const ed_config_t *cfg,
                        ed_infer_options_t *opt, ed_param_error_t *err)
{
    double temperature = 1.0, top_p = 1.0, min_p = 0.0, repeat_penalty = 1.0, presence = 0.0, frequency = 0.0;
    int64_t top_k = 0, n = 1, seed;
    ed_infer_random_bytes(&seed, sizeof seed);
    int64_t limit = cfg->engine.max_tokens_limit;
    opt->max_tokens = cfg->engine.max_tokens_default < limit ? cfg->engine.max_tokens_default : limit;
    const json_t *options = json_object_get(root, "stream_options");
    if (options && !json_is_null(options) && !json_is_object(options)) {
        char got[64];
        ed_params_describe(options, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "stream_options", "stream_options: expected an object, got %s", got);
    }
    if (ed_params_number(root, "temperature", 0, 2, false, &temperature, err) < 0 ||
        ed_params_number(root, "top_p", 0, 1, true, &top_p, err) < 0 ||
        ed_params_number(root, "min_p", 0, 1, false, &min_p, err) < 0 ||
        ed_params_number(root, "repeat_penalty", 0, INFINITY, true, &repeat_penalty, err) < 0 ||
        ed_params_number(root, "presence_penalty", -2, 2, false, &presence, err) < 0 ||
        ed_params_number(root, "frequency_penalty", -2, 2, false, &frequency, err) < 0 ||
        ed_params_integer(root, "top_k", 0, INT32_MAX, &top_k, err) < 0 ||
        ed_params_integer(root, "seed", INT64_MIN, INT64_MAX, &seed, err) < 0 ||
        ed_params_integer(root, "n", INT64_MIN, INT64_MAX, &n, err) < 0 ||
        ed_params_integer(root, "max_tokens", 1, limit, &opt->max_tokens, err) < 0 ||
        ed_params_integer(root, "max_completion_tokens", 1, limit, &opt->max_tokens, err) < 0 ||
        ed_params_bool(root, "stream", &opt->stream, err) < 0 ||
        ed_params_bool(root, "stream_options.include_usage", &opt->include_usage, err) < 0)
        return ED_EINVAL;
    double adapter_scale = 1.0;
    opt->adapter = NULL;
    opt->adapter_len = 0;
    opt->picked = NULL;
    if (ed_params_string(root, "adapter", false, &opt->adapter, &opt->adapter_len, err) < 0 ||
        ed_params_number(root, "adapter_scale", -100, 100, false, &adapter_scale, err) < 0)
        return ED_EINVAL;
    if (opt->adapter && opt->adapter_len == 0)
        return ed_params_fail(err, "invalid_value", "adapter",
                              "adapter: an id, a name, name@version or \"none\", not an empty string");
    opt->adapter_scale = (float)adapter_scale;
    const char *format = NULL;
    size_t format_len = 0;
    opt->reasoning = ED_REASONING_NONE;
    if (ed_params_string(root, "reasoning_format", false, &format, &format_len, err) < 0)
        return ED_EINVAL;
    if (format && ed_reasoning_format_from_name(format, format_len, &opt->reasoning) != 0)
        return ed_params_fail(err, "invalid_value", "reasoning_format",
                              "reasoning_format: expected \"none\" or \"deepseek\", got \"%.*s\"",
                              (int)(format_len > 32 ? 32 : format_len), format);
    if (n != 1)
        return ed_params_fail(err, "invalid_value", "n", "n: only 1 choice per request is supported, got %lld",
                              (long long)n);
    ed_sampler_params_t *s = &opt->sampling;
    *s = ed_sampler_defaults();
    s->temperature = (float)temperature;
    s->top_k = (int32_t)top_k;
    s->top_p = (float)top_p;
    s->min_p = (float)min_p;
    s->repeat_penalty = (float)repeat_penalty;
    s->presence_penalty = (float)presence;
    s->frequency_penalty = (float)frequency;
    s->seed = (uint64_t)seed;
    s->bias = opt->bias;
    s->n_bias = 0;
    opt->n_stops = 0;
    if (read_stops(root, opt, err) < 0 || read_logit_bias(root, model->n_vocab, opt, err) < 0)
        return ED_EINVAL;
    return 0;
}

/* One message's content: a string, or an array of {type: "text", text}
 * parts, joined into `joined`. Sets *content and *len, or *at (an offset into
 * joined, fixed up once joined stops growing). */
static int read_content(const json_t *message, size_t index, ed_buf_t *joined, const char **content,
                        size_t *len, size_t *at, ed_param_error_t *err)
{
    char param[64], got[64];
    snprintf(param, sizeof param, "messages[%zu].content", index);
    const json_t *value = json_object_get(message, "content");
    if (!value || json_is_null(value))
        return ed_params_fail(err, "missing_field", param, "%s: this field is required", param);
    if (json_is_string(value)) {
        *content = json_string_value(value);
        *len = json_string_length(value);
        return 0;
    }
    if (!json_is_array(value)) {
        ed_params_describe(value, got, sizeof got);
        return ed_params_fail(err, "invalid_type", param, "%s: expected a string or an array of text parts, got %s",
                              param, got);
    }
    *at = joined->len;
    size_t i;
    const json_t *part;
    json_array_foreach(value, i, part) {
        char part_param[96];
        snprintf(part_param, sizeof part_param, "%s[%zu]", param, i);
        const json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type)) {
            ed_params_describe(part, got, sizeof got);
            return ed_params_fail(err, "invalid_type", part_param,
                                  "%s: expected an object {\"type\": \"text\", \"text\": ...}, got %s", part_param, got);
        }
        if (strcmp(json_string_value(type), "text") != 0) {
            strcat(part_param, ".type");
            return ed_params_fail(err, "invalid_value", part_param, "%s: only \"text\" parts are supported, got \"%.32s\"",
                                  part_param, json_string_value(type));
        }
        if (!json_is_string(text)) {
            strcat(part_param, ".text");
            if (!text || json_is_null(text))
                return ed_params_fail(err, "missing_field", part_param, "%s: this field is required", part_param);
            ed_params_describe(text, got, sizeof got);
            return ed_params_fail(err, "invalid_type", part_param, "%s: expected a string, got %s", part_param, got);
        }
        ed_buf_append(joined, json_string_value(text), json_string_length(text));
    }
    *len = joined->len - *at;
    return 0;
}


int ed_infer_read_messages(const json_t *root, ed_infer_messages_t *out, ed_param_error_t *err)
{
    char got[64];
    *out = (ed_infer_messages_t){0};
    ed_buf_init(&out->joined);
    const json_t *messages = json_object_get(root, "messages");
    if (!messages || json_is_null(messages))
        return ed_params_fail(err, "missing_field", "messages", "messages: this field is required");
    if (!json_is_array(messages)) {
        ed_params_describe(messages, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "messages", "messages: expected an array of messages, got %s", got);
    }
    size_t n = json_array_size(messages);
    if (n == 0)
        return ed_params_fail(err, "invalid_value", "messages", "messages: expected at least one message");
    ed_chat_message_t *list = calloc(n, sizeof *list);
    size_t *joined_at = malloc(n * sizeof *joined_at);
    int rc = list && joined_at ? 0 : ED_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const json_t *message = json_array_get(messages, i);
        char param[48];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(message)) {
            ed_params_describe(message, got, sizeof got);
            rc = ed_params_fail(err, "invalid_type", param, "%s: expected an object with role and content, got %s",
                                param, got);
            break;
        }
        const json_t *role = json_object_get(message, "role");
        strcat(param, ".role");
        if (!role || json_is_null(role)) {
            rc = ed_params_fail(err, "missing_field", param, "%s: this field is required", param);
            break;
        }
        if (!json_is_string(role)) {
            ed_params_describe(role, got, sizeof got);
            rc = ed_params_fail(err, "invalid_type", param, "%s: expected a string, got %s", param, got);
            break;
        }
        const char *name = json_string_value(role);
        if (strcmp(name, "developer") == 0) /* OpenAI's newer name for the system role */
            name = "system";
        if (ed_chat_role_from_name(name, strlen(name), &list[i].role) < 0) {
            rc = ed_params_fail(err, "invalid_value", param,
                                "%s: expected \"system\", \"user\" or \"assistant\", got \"%.32s\"", param, name);
            break;
        }
        joined_at[i] = SIZE_MAX;
        rc = read_content(message, i, &out->joined, &list[i].content, &list[i].len, &joined_at[i], err);
    }
    if (rc == 0 && ed_buf_failed(&out->joined))
        rc = ED_ENOMEM;
    /* the parts' texts are placed once joined stopped growing */
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (joined_at[i] != SIZE_MAX)
            list[i].content = out->joined.data + joined_at[i];
    free(joined_at);
    out->list = list;
    out->n = rc == 0 ? n : 0;
    return rc;
}

void ed_infer_messages_free(ed_infer_messages_t *m)
{
    free(m->list);
    ed_buf_free(&m->joined);
    m->list = NULL;
    m->n = 0;
}

int ed_infer_read_prompt(const json_t *root, const char **text, size_t *len, ed_param_error_t *err)
{
    const json_t *prompt = json_object_get(root, "prompt");
    if (json_is_array(prompt)) {
        if (json_array_size(prompt) != 1)
            return ed_params_fail(err, "invalid_value", "prompt",
                                  "prompt: only one prompt per request is supported, got an array of %zu",
                                  json_array_size(prompt));
        prompt = json_array_get(prompt, 0);
        if (!json_is_string(prompt)) {
            char got[64];
            ed_params_describe(prompt, got, sizeof got);
            return ed_params_fail(err, "invalid_type", "prompt", "prompt: expected a string, got [%s]", got);
        }
        *text = json_string_value(prompt);
        *len = json_string_length(prompt);
        return 0;
    }
    return ed_params_string(root, "prompt", true, text, len, err);
}

int ed_infer_read_rag(const json_t *root, const ed_engine_model_t *model, const ed_config_t *cfg, ed_infer_rag_t *rag,
                    ed_param_error_t *err)
{
    const json_t *value = json_object_get(root, "rag");
    char got[64];
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_object(value)) {
        ed_params_describe(value, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "rag",
                              "rag: expected an object {collections, top_k, max_context_tokens}, got %s", got);
    }
    const char *key;
    const json_t *field;
    json_object_foreach((json_t *)value, key, field) {
        if (strcmp(key, "collections") != 0 && strcmp(key, "top_k") != 0 && strcmp(key, "max_context_tokens") != 0)
            return ed_params_fail(err, "invalid_value", "rag",
                                  "rag: unknown field \"%.32s\" (expected collections, top_k, max_context_tokens)",
                                  key);
    }
    rag->on = true;
    rag->top_k = cfg->rag.top_k < 1 ? 1 : cfg->rag.top_k > ED_INFER_RAG_MAX_TOP_K ? ED_INFER_RAG_MAX_TOP_K : cfg->rag.top_k;
    rag->max_context_tokens = 0;
    if (ed_params_integer(root, "rag.top_k", 1, ED_INFER_RAG_MAX_TOP_K, &rag->top_k, err) < 0 ||
        ed_params_integer(root, "rag.max_context_tokens", 1, model->n_ctx / 2, &rag->max_context_tokens, err) < 0)
        return ED_EINVAL;
    const json_t *list = json_object_get(value, "collections");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list)) {
        ed_params_describe(list, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "rag.collections",
                              "rag.collections: expected an array of collection names, got %s", got);
    }
    if (json_array_size(list) > ED_INFER_RAG_MAX_COLLECTIONS)
        return ed_params_fail(err, "invalid_value", "rag.collections", "rag.collections: at most %d names, got %zu",
                              ED_INFER_RAG_MAX_COLLECTIONS, json_array_size(list));
    size_t i;
    const json_t *name;
    json_array_foreach(list, i, name) {
        char param[48];
        snprintf(param, sizeof param, "rag.collections[%zu]", i);
        if (!json_is_string(name)) {
            ed_params_describe(name, got, sizeof got);
            return ed_params_fail(err, "invalid_type", param, "%s: expected a collection name, got %s", param, got);
        }
        size_t len = json_string_length(name);
        if (len == 0 || len >= sizeof ((ed_rag_hit_t *)0)->collection ||
            memchr(json_string_value(name), '\0', len))
            return ed_params_fail(err, "invalid_value", param, "%s: a collection name is 1 to %zu bytes of text",
                                  param, sizeof ((ed_rag_hit_t *)0)->collection - 1);
        rag->collections[rag->n_collections++] = json_string_value(name);
    }
    return 0;
}
