/* config.c - the option table and everything it drives: defaults, INI
 * parsing (inih, with our own line counting so errors name FILE:LINE),
 * validation, formatting, diffing for reloads and the documented template.
 * Allow lists are only checked for syntax here; http/peer resolves names. */
#include "core/config.h"
#include "core/hours.h"
#include "core/log.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT(sec, field, type, def, min, max, reload, doc)                                      \
    {#sec, #field, type, offsetof(ed_config_t, sec.field), sizeof(((ed_config_t *)0)->sec.field), \
     def, min, max, reload, doc}

const ed_option_t ed_config_options[] = {
    OPT(server, socket, ED_OPT_STRING, "/run/edged/edged.sock", 1, 0, false,
        "path of the Unix socket edged listens on (ignored under socket activation)"),
    OPT(server, socket_mode, ED_OPT_MODE, "0660", 0, 0777, false,
        "permission bits of the socket file (octal)"),
    OPT(server, socket_group, ED_OPT_STRING, "", 0, 0, false,
        "group (name or gid) that owns the socket; empty keeps the process's group"),
    OPT(server, max_connections, ED_OPT_U32, "256", 1, 65536, true,
        "open connections at most; more are answered 503 and closed"),
    OPT(server, max_header_bytes, ED_OPT_U32, "16384", 256, 1048576, true,
        "bytes of request line and headers at most (431 beyond)"),
    OPT(server, max_headers, ED_OPT_U32, "64", 1, 1024, true,
        "request headers at most (431 beyond)"),
    OPT(server, max_url_bytes, ED_OPT_U32, "8192", 16, 1048576, true,
        "bytes of the request target at most (414 beyond)"),
    OPT(server, max_body_bytes, ED_OPT_U64, "8388608", 0, UINT64_C(1) << 36, true,
        "bytes of a request body at most (413 beyond, decided before reading it)"),
    OPT(server, header_timeout_ms, ED_OPT_U32, "10000", 10, 3600000, true,
        "time to receive a request's line and headers (408 beyond)"),
    OPT(server, body_timeout_ms, ED_OPT_U32, "30000", 10, 3600000, true,
        "time to receive a request's body once its headers are in (408 beyond)"),
    OPT(server, idle_timeout_ms, ED_OPT_U32, "5000", 10, 3600000, true,
        "an idle keep-alive connection is closed after this long"),
    OPT(server, shutdown_timeout_ms, ED_OPT_U32, "10000", 0, 3600000, true,
        "on SIGTERM, in-flight requests get this long to finish"),
    OPT(access, infer, ED_OPT_ACL, "*", 0, 0, true,
        "who may run inference: '*' or a list of user:NAME|UID and group:NAME|GID"),
    OPT(access, ingest, ED_OPT_ACL, "*", 0, 0, true,
        "who may add, read and delete personal documents"),
    OPT(access, adapt, ED_OPT_ACL, "*", 0, 0, true, "who may start and manage adaptation jobs"),
    OPT(access, admin, ED_OPT_ACL, "user:root group:edged", 0, 0, true,
        "who may read the configuration and use admin routes"),
    OPT(log, level, ED_OPT_LEVEL, "info", 0, 0, true, "error, warn, info or debug"),
    OPT(log, access_log, ED_OPT_BOOL, "true", 0, 1, true,
        "one line per request on stderr (the journal keeps it)"),
    OPT(state, directory, ED_OPT_STRING, "/var/lib/edged", 1, 0, false,
        "where edged keeps its database, index, adapters and checkpoints"),
    OPT(model, path, ED_OPT_STRING, "", 0, 0, false,
        "the GGUF model to serve; empty serves no model (inference answers 503)"),
    OPT(model, name, ED_OPT_STRING, "", 0, 0, false,
        "the model id /v1/models reports; empty uses the file name"),
    OPT(model, context, ED_OPT_U32, "2048", 0, 1048576, false,
        "context length of each slot in tokens; 0 uses the model's training context"),
    OPT(model, threads, ED_OPT_U32, "0", 0, 256, false, "compute threads; 0 uses every core"),
    OPT(model, batch, ED_OPT_U32, "512", 1, 8192, false,
        "prompt tokens evaluated in one forward pass at most"),
    OPT(model, chat_template, ED_OPT_STRING, "", 0, 0, false,
        "chat format (chatml, llama2, llama3, mistral, zephyr, phi3, gemma, qwen3, phi4); empty detects it"),
    OPT(engine, parallel, ED_OPT_U32, "2", 1, 64, false,
        "sequences generated together (slots), each with its own KV cache"),
    OPT(engine, queue_length, ED_OPT_U32, "16", 0, 4096, false,
        "requests waiting for a free slot at most; more are answered 503"),
    OPT(engine, max_tokens_default, ED_OPT_U32, "512", 1, 1048576, false,
        "tokens generated when a request names no max_tokens"),
    OPT(engine, max_tokens_limit, ED_OPT_U32, "4096", 1, 1048576, false,
        "max_tokens a request may ask for at most (400 beyond)"),
    OPT(store, key_file, ED_OPT_STRING, "", 0, 0, false,
        "key that wraps the data key, used without a systemd credential; empty: STATE/key (created 0600)"),
    OPT(rag, embedder, ED_OPT_STRING, "hash", 1, 0, false,
        "how chunks are embedded: hash (no model), model (embedding_model) or chat (the chat model)"),
    OPT(rag, embedding_model, ED_OPT_STRING, "", 0, 0, false,
        "BERT-family GGUF embedding model used when embedder = model"),
    OPT(rag, chunk_tokens, ED_OPT_U32, "256", 16, 8192, false, "tokens per chunk at most"),
    OPT(rag, chunk_overlap, ED_OPT_U32, "32", 0, 4096, false,
        "tokens neighbouring chunks share"),
    OPT(rag, hnsw_threshold, ED_OPT_U32, "50000", 0, UINT32_MAX, false,
        "vectors in a collection above which dense search uses HNSW instead of a flat index"),
    OPT(rag, top_k, ED_OPT_U32, "4", 1, 100, true, "chunks retrieved when a request names no top_k"),
    OPT(rag, max_context_tokens, ED_OPT_U32, "0", 0, 1048576, true,
        "retrieved tokens placed in a prompt at most; 0 uses a quarter of the context"),
    OPT(rag, max_batch_documents, ED_OPT_U32, "256", 1, 65536, true,
        "documents in one ingest request at most (413 beyond)"),
    OPT(adapt, max_adapter_bytes, ED_OPT_U64, "268435456", 1, UINT64_C(1) << 36, true,
        "the largest LoRA adapter file POST /v1/adapters takes (held in memory; 413 beyond)"),
    OPT(adapt, max_queued_jobs, ED_OPT_U32, "8", 1, 1024, true,
        "adapt jobs waiting or running at most; POST /v1/adapt answers 503 with Retry-After beyond"),
    /* unserve by default: a stale adapter's weights may still reproduce the
     * deleted text, so it stops answering at once (forgetting takes effect
     * when the user asks), while retraining spends the device's time and
     * power on work nobody asked for; retrain is one option away */
    OPT(adapt, on_stale, ED_OPT_STRING, "unserve", 1, 0, true,
        "keep, unserve or retrain an adapter trained on a deleted document (unserve: its weights may hold it)"),
    OPT(adapt, checkpoint_every_s, ED_OPT_U32, "60", 0, 86400, true,
        "seconds of training between sealed checkpoints (0: by steps only)"),
    OPT(adapt, checkpoint_every_steps, ED_OPT_U32, "50", 0, 1000000, true,
        "optimizer steps between sealed checkpoints (0: by time only)"),
    OPT(adapt, budget_s, ED_OPT_U32, "600", 1, 604800, true,
        "seconds of training a job gets when it names no budget_s"),
    OPT(adapt, max_steps, ED_OPT_U32, "1000", 1, 10000000, true, "optimizer steps a job takes at most when it names no max_steps"),
    OPT(adapt, rank, ED_OPT_U32, "8", 1, 64, true, "LoRA rank of a job that names none"),
    OPT(adapt, seq_len, ED_OPT_U32, "256", 8, 8192, true, "tokens per training window of a job that names none"),
    OPT(adapt, enabled, ED_OPT_BOOL, "true", 0, 1, true,
        "train in windows at all; false keeps the window closed (GET /v1/scheduler says why)"),
    OPT(adapt, sys_root, ED_OPT_STRING, "/sys", 1, 0, false,
        "where the device monitor reads sysfs (thermal zones, power supplies, hwmon)"),
    OPT(adapt, proc_root, ED_OPT_STRING, "/proc", 1, 0, false,
        "where the device monitor reads procfs (pressure stall information, edged's own CPU time)"),
    OPT(adapt, poll_s, ED_OPT_U32, "5", 1, 3600, true, "seconds between readings of the device's signals"),
    OPT(adapt, mains_only, ED_OPT_BOOL, "true", 0, 1, true,
        "train only on mains or USB power (a device with no battery counts as mains)"),
    OPT(adapt, battery_floor, ED_OPT_U32, "80", 0, 100, true,
        "with mains_only = false, train on battery only while its capacity is at least this %"),
    OPT(adapt, temp_ceiling_c, ED_OPT_U32, "70", 1, 200, true,
        "the window closes when the SoC reaches this temperature (Celsius; unknown counts as cool)"),
    OPT(adapt, temp_hysteresis_c, ED_OPT_U32, "5", 0, 100, true,
        "after closing for heat the window reopens only below temp_ceiling_c minus this"),
    OPT(adapt, thermal_zone, ED_OPT_STRING, "", 0, 0, true,
        "the thermal zone type to read (cpu-thermal, tj-thermal); empty reads the hottest zone"),
    OPT(adapt, pressure_ceiling, ED_OPT_U32, "20", 0, 100, true,
        "CPU, memory and I/O pressure (some avg10 %, edged's training excluded from CPU) at most"),
    OPT(adapt, idle_s, ED_OPT_U32, "60", 0, 86400, true,
        "seconds with no inference request queued or running before the window opens"),
    OPT(adapt, resume_after_s, ED_OPT_U32, "2", 0, 3600, true,
        "a trainer paused by a request resumes after this many seconds without inference"),
    OPT(adapt, hours, ED_OPT_STRING, "", 0, 0, true,
        "local hours training may run, HH:MM-HH:MM ranges (22:00-07:00 wraps midnight); empty: all day"),
    OPT(adapt, daily_cap_s, ED_OPT_U32, "14400", 0, 86400, true,
        "seconds of training per local day at most; 0: no cap"),
    OPT(adapt, logind_idle, ED_OPT_BOOL, "false", 0, 1, true,
        "also require systemd-logind's IdleHint (weak on a headless device; unknown counts as idle)"),
    {NULL, NULL, 0, 0, 0, NULL, 0, 0, false, NULL},
};

static const ed_option_t *find_option(const char *section, const char *name)
{
    for (const ed_option_t *o = ed_config_options; o->name; o++)
        if (strcmp(o->section, section) == 0 && strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static int parse_unsigned(const char *value, int base, uint64_t *out)
{
    if (*value == '\0' || *value == '-' || *value == '+')
        return ED_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(value, &end, base);
    if (errno || *end != '\0')
        return ED_EINVAL;
    *out = v;
    return 0;
}

static int check_acl(const char *value, char *why, size_t why_size)
{
    char copy[ED_CONFIG_LIST_MAX];
    if (strlen(value) >= sizeof copy) {
        snprintf(why, why_size, "list is longer than %zu bytes", sizeof copy - 1);
        return ED_ECONFIG;
    }
    memcpy(copy, value, strlen(value) + 1);
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        if (strcmp(tok, "*") == 0)
            continue;
        const char *name = NULL;
        if (strncmp(tok, "user:", 5) == 0)
            name = tok + 5;
        else if (strncmp(tok, "group:", 6) == 0)
            name = tok + 6;
        if (!name || *name == '\0') {
            snprintf(why, why_size, "expected '*', user:NAME|UID or group:NAME|GID, got \"%s\"", tok);
            return ED_ECONFIG;
        }
    }
    return 0;
}

/* String options that take one of a fixed set of words ("" where empty is allowed). */
static const struct {
    const char *key;
    const char *const words[11];
} choices[] = {
    {"model.chat_template", {"", "chatml", "llama2", "llama3", "mistral", "zephyr", "phi3", "gemma", "qwen3", "phi4"}},
    {"rag.embedder", {"hash", "model", "chat"}},
    {"adapt.on_stale", {"keep", "unserve", "retrain"}},
};

static int check_choice(const ed_option_t *opt, const char *value, char *why, size_t why_size)
{
    char key[96];
    snprintf(key, sizeof key, "%s.%s", opt->section, opt->name);
    if (strcmp(key, "adapt.hours") == 0) { /* a list of time ranges: their parser says what is wrong */
        ed_hours_t hours;
        return ed_hours_parse(&hours, value, why, why_size);
    }
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
        if (strcmp(choices[i].key, key) != 0)
            continue;
        char list[256] = "";
        for (size_t w = 0; w < 11 && choices[i].words[w]; w++) {
            if (strcmp(choices[i].words[w], value) == 0)
                return 0;
            if (*choices[i].words[w])
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "",
                         choices[i].words[w]);
        }
        snprintf(why, why_size, "expected one of %s%s, got \"%s\"", list,
                 *choices[i].words[0] ? "" : " (or empty)", value);
        return ED_ECONFIG;
    }
    return 0;
}

/* Validates `value` for `opt` and stores it. On error, `why` says what is wrong. */
static int set_option(ed_config_t *cfg, const ed_option_t *opt, const char *value, char *why,
                      size_t why_size)
{
    char *field = (char *)cfg + opt->offset;
    uint64_t v = 0;
    switch (opt->type) {
    case ED_OPT_STRING:
        if (strlen(value) >= opt->size) {
            snprintf(why, why_size, "value is longer than %zu bytes", opt->size - 1);
            return ED_ECONFIG;
        }
        if (opt->min > 0 && *value == '\0') {
            snprintf(why, why_size, "must not be empty");
            return ED_ECONFIG;
        }
        if (check_choice(opt, value, why, why_size))
            return ED_ECONFIG;
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case ED_OPT_ACL:
        if (check_acl(value, why, why_size))
            return ED_ECONFIG;
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case ED_OPT_LEVEL: {
        ed_log_level_t level;
        if (ed_log_level_parse(value, &level)) {
            snprintf(why, why_size, "expected error, warn, info or debug, got \"%s\"", value);
            return ED_ECONFIG;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    case ED_OPT_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
            *(bool *)field = false;
        else {
            snprintf(why, why_size, "expected true or false, got \"%s\"", value);
            return ED_ECONFIG;
        }
        return 0;
    case ED_OPT_MODE:
        if (parse_unsigned(value, 8, &v) || v > opt->max) {
            snprintf(why, why_size, "expected octal permission bits such as 0660, got \"%s\"", value);
            return ED_ECONFIG;
        }
        *(uint32_t *)field = (uint32_t)v;
        return 0;
    case ED_OPT_U32:
    case ED_OPT_U64:
        if (parse_unsigned(value, 10, &v) || v < opt->min || v > opt->max) {
            snprintf(why, why_size, "expected an integer between %llu and %llu, got \"%s\"",
                     (unsigned long long)opt->min, (unsigned long long)opt->max, value);
            return ED_ECONFIG;
        }
        if (opt->type == ED_OPT_U32)
            *(uint32_t *)field = (uint32_t)v;
        else
            *(uint64_t *)field = v;
        return 0;
    }
    snprintf(why, why_size, "internal: unknown option type");
    return ED_ECONFIG;
}

void ed_config_defaults(ed_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char why[ED_ERR_LEN];
    for (const ed_option_t *o = ed_config_options; o->name; o++)
        if (set_option(cfg, o, o->def, why, sizeof why) != 0)
            ed_log_error("config: default of %s.%s is invalid: %s", o->section, o->name, why);
}

int ed_config_set(ed_config_t *cfg, const char *key, const char *value, char err[ED_ERR_LEN])
{
    char section[64];
    const char *dot = strchr(key, '.');
    if (!dot || (size_t)(dot - key) >= sizeof section) {
        snprintf(err, ED_ERR_LEN, "%s: expected section.option", key);
        return ED_ECONFIG;
    }
    memcpy(section, key, (size_t)(dot - key));
    section[dot - key] = '\0';
    const ed_option_t *opt = find_option(section, dot + 1);
    if (!opt) {
        snprintf(err, ED_ERR_LEN, "%s: unknown option", key);
        return ED_ECONFIG;
    }
    char why[ED_ERR_LEN - 64];
    if (set_option(cfg, opt, value, why, sizeof why)) {
        snprintf(err, ED_ERR_LEN, "%s: %s", key, why);
        return ED_ECONFIG;
    }
    return 0;
}

/* inih hands us lines through this reader so that we know each line's number. */
typedef struct {
    FILE *file;
    const char *path;
    ed_config_t *cfg;
    int line;
    int failed; /* the line of our first error, 0: none */
    char *err;
    ed_config_problem_fn on_problem; /* NULL: stop at the first problem */
    void *arg;
    int n_problems;
    char unknown_section[64]; /* the last section reported unknown (one report each) */
} load_ctx_t;

static char *reader(char *buf, int size, void *stream)
{
    load_ctx_t *ctx = stream;
    char *line = fgets(buf, size, ctx->file);
    if (line)
        ctx->line++;
    return line;
}

static bool section_known(const char *section)
{
    for (const ed_option_t *o = ed_config_options; o->name; o++)
        if (strcmp(o->section, section) == 0)
            return true;
    return false;
}

/* Records one problem: the first in ctx->err, each through on_problem. */
__attribute__((format(printf, 2, 3))) static void problem(load_ctx_t *ctx, const char *fmt, ...)
{
    char message[ED_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (!ctx->failed) {
        ctx->failed = ctx->line;
        snprintf(ctx->err, ED_ERR_LEN, "%s", message);
    }
    ctx->n_problems++;
    if (ctx->on_problem)
        ctx->on_problem(ctx->arg, message);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    load_ctx_t *ctx = user;
    if (ctx->failed && !ctx->on_problem)
        return 1;
    const ed_option_t *opt = find_option(section, name);
    if (!opt && section[0] && !section_known(section)) {
        if (strncmp(ctx->unknown_section, section, sizeof ctx->unknown_section) != 0) {
            snprintf(ctx->unknown_section, sizeof ctx->unknown_section, "%s", section);
            char known[256] = "";
            for (const ed_option_t *o = ed_config_options; o->name; o++)
                if (o == ed_config_options || strcmp(o->section, o[-1].section) != 0)
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", known[0] ? ", " : "",
                             o->section);
            problem(ctx, "%s:%d: [%s]: unknown section (sections: %s)", ctx->path, ctx->line, section, known);
        }
        return 1;
    }
    if (!opt) {
        problem(ctx, "%s:%d: %s%s%s: unknown option", ctx->path, ctx->line, section, section[0] ? "." : "", name);
        return 1;
    }
    char why[ED_ERR_LEN / 2];
    if (set_option(ctx->cfg, opt, value, why, sizeof why))
        problem(ctx, "%s:%d: %s.%s: %s", ctx->path, ctx->line, section, name, why);
    return 1;
}

int ed_config_load(ed_config_t *cfg, const char *path, char err[ED_ERR_LEN])
{
    return ed_config_load_report(cfg, path, NULL, NULL, err);
}

int ed_config_load_report(ed_config_t *cfg, const char *path, ed_config_problem_fn on_problem, void *arg,
                          char err[ED_ERR_LEN])
{
    load_ctx_t ctx = {.path = path, .cfg = cfg, .err = err, .on_problem = on_problem, .arg = arg};
    ctx.file = fopen(path, "r");
    if (!ctx.file) {
        int e = errno;
        snprintf(err, ED_ERR_LEN, "%s: cannot open: %s", path, strerror(e));
        if (on_problem)
            on_problem(arg, err);
        return e == ENOENT ? ED_ENOENT : ED_EIO;
    }
    int rc = ini_parse_stream(reader, &ctx, handler, &ctx);
    int read_error = ferror(ctx.file);
    fclose(ctx.file);
    if (read_error) {
        snprintf(err, ED_ERR_LEN, "%s: read error", path);
        if (on_problem)
            on_problem(arg, err);
        return ED_EIO;
    }
    if (rc != 0) { /* inih's syntax error: rc is the line of the first one */
        char first[ED_ERR_LEN];
        snprintf(first, sizeof first, "%s", err);
        bool ours_first = ctx.failed && rc > 0 && ctx.failed < rc;
        ctx.line = rc > 0 ? rc : ctx.line;
        ctx.failed = 0;
        problem(&ctx, "%s:%d: syntax error: expected [section] or name = value", path, ctx.line);
        if (ours_first)
            snprintf(err, ED_ERR_LEN, "%s", first);
    }
    return ctx.n_problems ? ED_ECONFIG : 0;
}

void ed_config_format(const ed_config_t *cfg, const ed_option_t *opt, char *buf, size_t size)
{
    const char *field = (const char *)cfg + opt->offset;
    switch (opt->type) {
    case ED_OPT_STRING:
    case ED_OPT_ACL:
    case ED_OPT_LEVEL:
        snprintf(buf, size, "%s", field);
        return;
    case ED_OPT_BOOL:
        snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false");
        return;
    case ED_OPT_MODE:
        snprintf(buf, size, "%04o", *(const uint32_t *)field);
        return;
    case ED_OPT_U32:
        snprintf(buf, size, "%u", *(const uint32_t *)field);
        return;
    case ED_OPT_U64:
        snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)field);
        return;
    }
    snprintf(buf, size, "?");
}

void ed_config_diff(const ed_config_t *a, const ed_config_t *b,
                    void (*fn)(const ed_option_t *, const char *, const char *, void *), void *arg)
{
    char va[ED_CONFIG_LIST_MAX], vb[ED_CONFIG_LIST_MAX];
    for (const ed_option_t *o = ed_config_options; o->name; o++) {
        ed_config_format(a, o, va, sizeof va);
        ed_config_format(b, o, vb, sizeof vb);
        if (strcmp(va, vb) != 0)
            fn(o, va, vb, arg);
    }
}

void ed_config_write_template(FILE *out)
{
    fprintf(out, "# edged.conf - the configuration of edged, the on-device LLM service.\n"
                 "# Every option is listed with its default; uncomment a line to change it.\n"
                 "# Options marked (reload) take effect on `systemctl reload edged` (SIGHUP);\n"
                 "# the others need a restart. Check a file with `edged --check-config --config FILE`.\n");
    const char *section = "";
    for (const ed_option_t *o = ed_config_options; o->name; o++) {
        if (strcmp(section, o->section) != 0) {
            section = o->section;
            fprintf(out, "\n[%s]\n", section);
        }
        fprintf(out, "# %s%s\n#%s = %s\n", o->doc, o->reloadable ? " (reload)" : "", o->name, o->def);
    }
}
