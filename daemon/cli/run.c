/* run.c - `edged run`: argument parsing, the model opening shared with
 * `edged bench`, the token loop that streams pieces to stdout (flushed per
 * token) until EOS/EOT or -n tokens, the chat loop that renders the whole
 * conversation with the model's template and evaluates only the tokens past
 * the KV cache's common prefix, and --dump-logits. */
#include "cli/run.h"

#include "kernels/kernels.h"
#include "model/chat.h"
#include "model/sampler.h"
#include "model/tokenizer.h"
#include "model/vocab.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_N_PREDICT 256

/* ------------------------------------------------------------ shared pieces -- */

int ed_run_open(ed_run_t *run, const char *path, int n_threads, int n_ctx, int n_batch,
                char err[ED_ERR_LEN])
{
    memset(run, 0, sizeof *run);
    const ed_kernels_t *kernels = ed_kernels_select(NULL);
    if (!kernels) {
        snprintf(err, ED_ERR_LEN, "EDGED_KERNELS names an op table this CPU cannot run");
        return ED_EUNSUPPORTED;
    }
    int rc;
    if ((rc = ed_gguf_open(&run->gguf, path, err)) != 0 ||
        (rc = ed_model_load(&run->model, run->gguf, err)) != 0 ||
        (rc = ed_pool_open(&run->pool, n_threads, err)) != 0 ||
        (rc = ed_model_repack(&run->model, kernels, run->pool, err)) != 0)
        goto fail;
    if (n_ctx <= 0)
        n_ctx = run->model.n_ctx_train < ED_RUN_DEFAULT_CTX ? run->model.n_ctx_train : ED_RUN_DEFAULT_CTX;
    if ((rc = ed_forward_init(&run->fw, &run->model, kernels, run->pool, n_ctx, n_batch, err)) != 0)
        goto fail;
    return 0;
fail:
    ed_run_close(run);
    return rc;
}

int ed_run_parse_lora(const char *cmd, const char *opt, const char *value, ed_run_lora_args_t *l)
{
    if (strcmp(opt, "--lora-scale") == 0)
        return ed_run_parse_float(cmd, opt, value, -100, 100, &l->scale);
    if (strcmp(opt, "--lora") != 0)
        return 1;
    if (l->n == ED_LORA_MAX_SET) {
        fprintf(stderr, "edged %s: --lora: at most %d adapters\n", cmd, ED_LORA_MAX_SET);
        return ED_EINVAL;
    }
    l->paths[l->n++] = value;
    return 0;
}

int ed_run_open_loras(ed_run_t *run, const ed_run_lora_args_t *l, const char *cmd, char err[ED_ERR_LEN])
{
    int rc = 0, max_rank = 0;
    for (int i = 0; i < l->n && rc == 0; i++) {
        if ((rc = ed_lora_open(&run->loras[i], l->paths[i], run->gguf, &run->model, err)) != 0)
            break;
        const ed_lora_t *a = run->loras[i];
        max_rank = a->max_rank > max_rank ? a->max_rank : max_rank;
        run->lora_set.adapters[i] = a;
        run->lora_set.scales[i] = l->scale;
        run->lora_set.n = i + 1;
        char alpha[32] = "none";
        if (a->has_alpha)
            snprintf(alpha, sizeof alpha, "%g", (double)a->alpha);
        fprintf(stderr, "edged %s: adapter %s: %d matrices, rank %d, alpha %s, scale %g, %.1f MiB\n", cmd,
                l->paths[i], a->n_pairs, a->max_rank, alpha, (double)l->scale, (double)a->bytes / (1 << 20));
    }
    if (rc == 0 && l->n > 0 && (rc = ed_forward_reserve_lora(&run->fw, max_rank, err)) == 0)
        run->fw.lora = &run->lora_set;
    return rc;
}

void ed_run_close(ed_run_t *run)
{
    ed_forward_free(&run->fw);
    for (int i = 0; i < ED_LORA_MAX_SET; i++)
        ed_lora_free(run->loras[i]);
    ed_pool_close(run->pool);
    ed_model_free(&run->model);
    ed_gguf_close(run->gguf);
    memset(run, 0, sizeof *run);
}

int ed_run_parse_long(const char *cmd, const char *opt, const char *value, long min, long max,
                      long *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max) {
        fprintf(stderr, "edged %s: %s: expected an integer in [%ld, %ld], got \"%s\"\n", cmd, opt, min,
                max, value);
        return ED_EINVAL;
    }
    *out = v;
    return 0;
}

int ed_run_parse_float(const char *cmd, const char *opt, const char *value, float min, float max,
                       float *out)
{
    char *end;
    errno = 0;
    float v = strtof(value, &end);
    if (errno || end == value || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "edged %s: %s: expected a number in [%g, %g], got \"%s\"\n", cmd, opt, (double)min,
                (double)max, value);
        return ED_EINVAL;
    }
    *out = v;
    return 0;
}

int ed_run_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > ED_RUN_MAX_THREADS ? ED_RUN_MAX_THREADS : (int)n;
}

double ed_run_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ options -- */

typedef struct {
    const char *model_path;
    const char *prompt;      /* -p: text to complete */
    bool chat;               /* --chat: conversation on stdin */
    bool literal;            /* --literal: control tokens spelled in -p stay text */
    const char *dump_logits; /* --dump-logits: output path */
    long n_predict;          /* -n: tokens per answer at most; -1: until EOS or the context is full */
    long n_threads;
    long n_ctx;              /* -c: KV positions; 0: the default */
    ed_sampler_params_t sampling;
    bool seed_given;
    ed_run_lora_args_t lora;
} run_options_t;

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: edged run -m FILE (-p PROMPT | --chat) [options]\n"
            "       edged run -m FILE -p PROMPT --dump-logits OUT.f32\n"
            "Streams text generated by a GGUF model to stdout, then a summary on stderr.\n"
            "  -m, --model FILE    the GGUF model\n"
            "  -p, --prompt TEXT   complete TEXT (no chat template); control tokens spelled in\n"
            "                      it (\"<|im_start|>\") are parsed as those tokens, as\n"
            "                      llama.cpp's tools do, so a chat-formatted prompt works\n"
            "      --literal       keep control tokens spelled in -p as plain text\n"
            "      --chat          chat: each line of stdin is a user message, formatted\n"
            "                      with the model's chat template; the conversation is kept\n"
            "  -n, --n-predict N   tokens to generate per answer at most (default %d;\n"
            "                      -1: until end of text or a full context)\n"
            "      --temp T        temperature (default 0.8; 0: greedy)\n"
            "      --top-k K       keep the K most likely tokens (default 40; 0: off)\n"
            "      --top-p P       nucleus sampling (default 0.95; 1: off)\n"
            "      --seed S        sampling seed (default: from the clock, printed)\n"
            "  -t, --threads N     compute threads (default: the CPUs online, here %d)\n"
            "  -c, --ctx N         context length in tokens (default: the model's, at most %d)\n"
            "      --dump-logits OUT.f32\n"
            "                      evaluate the prompt (with BOS) and write the logits of every\n"
            "                      position as raw little-endian f32, (prompt tokens, vocabulary);\n"
            "                      nothing is generated\n"
            ED_RUN_LORA_USAGE
            "  -h, --help          this help\n"
            "Exit status: 0 done, 1 a bad model file or a failed evaluation, 2 bad arguments.\n",
            DEFAULT_N_PREDICT, ed_run_default_threads(), ED_RUN_DEFAULT_CTX);
}

/* 0 to go on, 1 when --help was printed, ED_EINVAL (message printed) on bad arguments. */
static int parse_options(int argc, char **argv, run_options_t *o)
{
    *o = (run_options_t){.n_predict = DEFAULT_N_PREDICT, .n_threads = ed_run_default_threads(),
                         .sampling = ed_sampler_defaults(), .lora.scale = 1.0f};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            run_usage(stdout);
            return 1;
        }
        if (strcmp(a, "--chat") == 0) {
            o->chat = true;
            continue;
        }
        if (strcmp(a, "--literal") == 0) {
            o->literal = true;
            continue;
        }
        static const char *const with_value[] = {"-m", "--model", "-p", "--prompt", "-n", "--n-predict",
                                                 "--temp", "--top-k", "--top-p", "--seed", "-t", "--threads",
                                                 "-c", "--ctx", "--dump-logits", "--lora", "--lora-scale"};
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known = known || strcmp(a, with_value[k]) == 0;
        if (!known) {
            fprintf(stderr, "edged run: unexpected argument \"%s\" (see edged run --help)\n", a);
            return ED_EINVAL;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "edged run: %s needs a value (see edged run --help)\n", a);
            return ED_EINVAL;
        }
        long n = 0;
        int rc = ed_run_parse_lora("run", a, v, &o->lora);
        if (rc <= 0) {
            if (rc != 0)
                return rc;
            i++;
            continue;
        }
        rc = 0;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            o->model_path = v;
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) {
            o->prompt = v;
        } else if (strcmp(a, "--dump-logits") == 0) {
            o->dump_logits = v;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0) {
            rc = ed_run_parse_long("run", a, v, -1, INT32_MAX, &o->n_predict);
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            rc = ed_run_parse_long("run", a, v, 1, ED_RUN_MAX_THREADS, &o->n_threads);
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--ctx") == 0) {
            rc = ed_run_parse_long("run", a, v, 1, INT32_MAX / 2, &o->n_ctx);
        } else if (strcmp(a, "--temp") == 0) {
            rc = ed_run_parse_float("run", a, v, 0, 100, &o->sampling.temperature);
        } else if (strcmp(a, "--top-k") == 0) {
            rc = ed_run_parse_long("run", a, v, 0, INT32_MAX, &n);
            o->sampling.top_k = (int32_t)n;
        } else if (strcmp(a, "--top-p") == 0) {
            rc = ed_run_parse_float("run", a, v, 0, 1, &o->sampling.top_p);
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, "edged run: --seed: expected a non-negative integer, got \"%s\"\n", v);
                return ED_EINVAL;
            }
            o->sampling.seed = seed;
            o->seed_given = true;
        }
        if (rc != 0)
            return rc;
        i++;
    }
    const char *problem = NULL;
    if (!o->model_path)
        problem = "-m FILE is required";
    else if (o->literal && !o->prompt)
        problem = "--literal applies to -p PROMPT";
    else if (o->chat && o->prompt)
        problem = "-p and --chat exclude each other";
    else if (!o->chat && !o->prompt)
        problem = "give -p PROMPT or --chat";
    else if (o->dump_logits && !o->prompt)
        problem = "--dump-logits needs -p PROMPT";
    if (problem) {
        fprintf(stderr, "edged run: %s (see edged run --help)\n", problem);
        return ED_EINVAL;
    }
    if (!o->seed_given)
        o->sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return 0;
}

/* ------------------------------------------------------------------ session -- */

/* One model with its vocabulary and sampler, and what the KV cache holds. */
typedef struct {
    ed_run_t run;
    ed_vocab_t *vocab;
    ed_sampler_t sampler;
    int32_t *cached;  /* (n_ctx) the tokens in the KV cache, positions 0 .. kv.n_used-1 */
    int32_t *reply;   /* (n_ctx) the tokens generated for the current answer */
    int n_reply;
    char *piece;      /* (piece_cap) one token's text */
    size_t piece_cap; /* the longest piece of the vocabulary */
    int n_prompt;     /* prompt tokens evaluated, over all turns */
    double prompt_s;
    int n_generated;  /* tokens generated, over all turns */
    double generate_s;
} session_t;

static void session_close(session_t *s)
{
    free(s->piece);
    free(s->reply);
    free(s->cached);
    ed_sampler_free(&s->sampler);
    ed_vocab_free(s->vocab);
    ed_run_close(&s->run);
}

static int session_open(session_t *s, const run_options_t *o, int n_ctx, char err[ED_ERR_LEN])
{
    memset(s, 0, sizeof *s);
    int rc;
    if ((rc = ed_run_open(&s->run, o->model_path, (int)o->n_threads, n_ctx, 0, err)) != 0 ||
        (rc = ed_run_open_loras(&s->run, &o->lora, "run", err)) != 0 ||
        (rc = ed_vocab_load(&s->vocab, s->run.gguf, err)) != 0 ||
        (rc = ed_sampler_init(&s->sampler, s->run.model.n_vocab, &o->sampling, err)) != 0)
        goto fail;
    if (s->vocab->n_tokens != s->run.model.n_vocab) {
        snprintf(err, ED_ERR_LEN, "%s: the vocabulary has %d tokens but token_embd has %d rows",
                 o->model_path, s->vocab->n_tokens, s->run.model.n_vocab);
        rc = ED_EFORMAT;
        goto fail;
    }
    for (int32_t id = 0; id < s->vocab->n_tokens; id++) {
        size_t len = 0;
        ed_tokenizer_piece(s->vocab, id, false, NULL, 0, &len);
        s->piece_cap = len > s->piece_cap ? len : s->piece_cap;
    }
    size_t n_cells = (size_t)s->run.fw.kv.n_ctx;
    s->cached = malloc(n_cells * sizeof *s->cached);
    s->reply = malloc(n_cells * sizeof *s->reply);
    s->piece = malloc(s->piece_cap + 1);
    if (!s->cached || !s->reply || !s->piece) {
        snprintf(err, ED_ERR_LEN, "out of memory for a context of %zu tokens", n_cells);
        rc = ED_ENOMEM;
        goto fail;
    }
    return 0;
fail:
    session_close(s);
    return rc;
}

/* Makes the cache hold tokens[0, n): keeps the common prefix with what it
 * holds (at least one token is evaluated, for fresh logits) and evaluates
 * the rest. */
static int session_feed(session_t *s, const int32_t *tokens, int n, char err[ED_ERR_LEN])
{
    ed_forward_t *fw = &s->run.fw;
    int keep = 0;
    while (keep < fw->kv.n_used && keep < n && s->cached[keep] == tokens[keep])
        keep++;
    if (keep == n)
        keep--;
    keep = ed_kvcache_reusable(&fw->kv, keep); /* 0 where a sliding layer's ring lost the window */
    if (n > fw->kv.n_ctx) {
        snprintf(err, ED_ERR_LEN, "the prompt (%d tokens) does not fit the context of %d tokens (-c)", n,
                 fw->kv.n_ctx);
        return ED_ERANGE;
    }
    ed_kvcache_truncate(&fw->kv, keep);
    double t0 = ed_run_now_s();
    int rc = ed_forward_eval(fw, tokens + keep, n - keep, NULL, err);
    if (rc != 0)
        return rc;
    s->prompt_s += ed_run_now_s() - t0;
    s->n_prompt += n - keep;
    memcpy(s->cached + keep, tokens + keep, (size_t)(n - keep) * sizeof *tokens);
    for (int i = keep; i < n; i++)
        ed_sampler_accept(&s->sampler, tokens[i]);
    return 0;
}

/* Samples up to n_predict tokens (-1: no limit) after what the cache holds,
 * printing each token's text as it comes; stops at end of generation or a
 * full context. The tokens are left in s->reply. */
static int session_generate(session_t *s, long n_predict, char err[ED_ERR_LEN])
{
    ed_forward_t *fw = &s->run.fw;
    double t0 = ed_run_now_s();
    s->n_reply = 0;
    int rc = 0;
    while (n_predict < 0 || s->n_reply < n_predict) {
        int32_t token = ed_sampler_sample(&s->sampler, fw->logits);
        if (ed_vocab_is_eog(s->vocab, token))
            break;
        ed_sampler_accept(&s->sampler, token);
        s->reply[s->n_reply++] = token;
        size_t len = 0;
        if (ed_tokenizer_piece(s->vocab, token, false, s->piece, s->piece_cap, &len) == 0) {
            fwrite(s->piece, 1, len, stdout);
            fflush(stdout);
        }
        if (n_predict >= 0 && s->n_reply == n_predict)
            break;
        if (fw->kv.n_used == fw->kv.n_ctx) {
            fprintf(stderr, "\nedged run: the context of %d tokens is full (-c)\n", fw->kv.n_ctx);
            break;
        }
        s->cached[fw->kv.n_used] = token;
        if ((rc = ed_forward_eval(fw, &token, 1, NULL, err)) != 0)
            break;
    }
    s->generate_s += ed_run_now_s() - t0;
    s->n_generated += s->n_reply;
    return rc;
}

static void session_summary(const session_t *s)
{
    fprintf(stderr,
            "edged run: prompt %d tokens, %.1f tokens/s; generated %d tokens, %.1f tokens/s; "
            "threads %d, kernels %s, seed %llu\n",
            s->n_prompt, s->prompt_s > 0 ? s->n_prompt / s->prompt_s : 0.0, s->n_generated,
            s->generate_s > 0 ? s->n_generated / s->generate_s : 0.0, ed_pool_n_threads(s->run.pool),
            s->run.fw.kernels->name, (unsigned long long)s->sampler.params.seed);
}

/* Encodes text into a new array (*out, *n_out); with `literal` (a rendered
 * chat's message spans), control tokens parse outside them only; without,
 * they parse everywhere when parse_special (-p without --literal). */
static int encode_alloc(const ed_vocab_t *vocab, const char *text, size_t len, const ed_text_span_t *literal,
                        size_t n_literal, bool parse_special, int32_t **out, int *n_out, char err[ED_ERR_LEN])
{
    size_t cap = len + 16, n = 0;
    for (;;) {
        int32_t *ids = malloc(cap * sizeof *ids);
        if (!ids)
            return snprintf(err, ED_ERR_LEN, "out of memory for %zu tokens", cap), ED_ENOMEM;
        int rc = literal ? ed_tokenizer_encode_literal(vocab, text, len, true, literal, n_literal, ids, cap, &n)
                         : ed_tokenizer_encode(vocab, text, len, true, parse_special, ids, cap, &n);
        if (rc == 0 && n <= INT32_MAX) {
            *out = ids, *n_out = (int)n;
            return 0;
        }
        free(ids);
        if (rc != ED_ERANGE) {
            snprintf(err, ED_ERR_LEN, "cannot tokenize the prompt: %s", ed_strerror(rc));
            return rc;
        }
        cap = n;
    }
}

/* ---------------------------------------------------------------- the modes -- */

static int run_completion(session_t *s, const run_options_t *o, char err[ED_ERR_LEN])
{
    int32_t *tokens = NULL;
    int n = 0;
    int rc = encode_alloc(s->vocab, o->prompt, strlen(o->prompt), NULL, 0, !o->literal, &tokens, &n, err);
    if (rc == 0 && n == 0) {
        snprintf(err, ED_ERR_LEN, "the prompt is empty and the model adds no BOS token");
        rc = ED_EINVAL;
    }
    if (rc == 0)
        rc = session_feed(s, tokens, n, err);
    if (rc == 0)
        rc = session_generate(s, o->n_predict, err);
    if (rc == 0) {
        printf("\n");
        session_summary(s);
    }
    free(tokens);
    return rc;
}

static int write_logits(const char *path, const float *logits, size_t n, char err[ED_ERR_LEN])
{
    FILE *out = fopen(path, "wb");
    if (!out)
        return snprintf(err, ED_ERR_LEN, "%s: %s", path, strerror(errno)), ED_EIO;
    bool short_write = fwrite(logits, sizeof(float), n, out) != n;
    if (fclose(out) != 0 || short_write)
        return snprintf(err, ED_ERR_LEN, "%s: write failed", path), ED_EIO;
    return 0;
}

/* --dump-logits: every prompt position's logits, (n_prompt, n_vocab) f32.
 * edged runs on little-endian CPUs only (x86-64, AArch64), so floats are
 * written as they lie in memory. */
static int run_dump_logits(session_t *s, const run_options_t *o, char err[ED_ERR_LEN])
{
    int32_t *tokens = NULL;
    int n = 0;
    float *logits = NULL;
    int rc = encode_alloc(s->vocab, o->prompt, strlen(o->prompt), NULL, 0, !o->literal, &tokens, &n, err);
    if (rc != 0)
        return rc;
    size_t n_floats = (size_t)n * (size_t)s->run.model.n_vocab;
    if (n == 0) {
        snprintf(err, ED_ERR_LEN, "the prompt is empty and the model adds no BOS token");
        rc = ED_EINVAL;
    } else if (!(logits = malloc(n_floats * sizeof *logits))) {
        snprintf(err, ED_ERR_LEN, "out of memory for %d x %d logits", n, s->run.model.n_vocab);
        rc = ED_ENOMEM;
    } else if ((rc = ed_forward_eval(&s->run.fw, tokens, n, logits, err)) == 0 &&
               (rc = write_logits(o->dump_logits, logits, n_floats, err)) == 0) {
        fprintf(stderr, "edged run: wrote the logits of %d positions x %d tokens to %s\n", n,
                s->run.model.n_vocab, o->dump_logits);
    }
    free(logits);
    free(tokens);
    return rc;
}

/* The text of token `id` as a C string into buf (empty when there is none). */
static const char *token_text(const ed_vocab_t *vocab, int32_t id, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (id >= 0 && id < vocab->n_tokens)
        snprintf(buf, cap, "%.*s", (int)vocab->text[id].len, vocab->text[id].ptr);
    return buf;
}

typedef struct {
    ed_chat_message_t *items; /* contents are owned (malloc'd) */
    size_t n, cap;
} conversation_t;

static void conversation_free(conversation_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free((char *)c->items[i].content);
    free(c->items);
}

/* Appends a copy of text[0, len). 0 or ED_ENOMEM. */
static int conversation_add(conversation_t *c, ed_chat_role_t role, const char *text, size_t len)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        ed_chat_message_t *items = realloc(c->items, cap * sizeof *items);
        if (!items)
            return ED_ENOMEM;
        c->items = items, c->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return ED_ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    c->items[c->n++] = (ed_chat_message_t){role, copy, len};
    return 0;
}

/* Renders the conversation with the assistant's header into *buf, and where
 * each message's text landed into *spans (malloc'd, *n_spans of them). */
static int render_chat(ed_chat_family_t family, const char *bos, const char *eos, const conversation_t *c,
                       char **buf, size_t *cap, size_t *len, ed_text_span_t **spans, size_t *n_spans)
{
    free(*spans);
    if (!(*spans = malloc((c->n ? c->n : 1) * sizeof **spans)))
        return ED_ENOMEM;
    for (;;) {
        if (ed_chat_format_spans(family, bos, eos, c->items, c->n, true, *buf, *cap, len, *spans, n_spans) == 0)
            return 0;
        char *grown = realloc(*buf, *len);
        if (!grown)
            return ED_ENOMEM;
        *buf = grown, *cap = *len;
    }
}

static int run_chat(session_t *s, const run_options_t *o, char err[ED_ERR_LEN])
{
    ed_str_t tmpl = {0};
    ed_gguf_get_str(s->run.gguf, "tokenizer.chat_template", &tmpl);
    ed_chat_family_t family = ed_chat_detect(tmpl.ptr, tmpl.len);
    char bos[128], eos[128];
    token_text(s->vocab, s->vocab->bos, bos, sizeof bos);
    token_text(s->vocab, s->vocab->eos, eos, sizeof eos);
    bool interactive = isatty(STDIN_FILENO);
    if (interactive)
        fprintf(stderr, "edged run: chat format %s; one message per line, end with Ctrl-D\n",
                ed_chat_family_name(family));

    conversation_t conv = {0};
    char *line = NULL, *prompt = NULL, *reply_text = NULL;
    ed_text_span_t *spans = NULL; /* the messages' text: a typed "</s>" stays text */
    size_t line_cap = 0, prompt_cap = 0, n_spans = 0;
    int32_t *tokens = NULL;
    int rc = 0;
    for (;;) {
        if (interactive) {
            printf("> ");
            fflush(stdout);
        }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0)
            break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            got--;
        if (got == 0)
            continue;
        size_t prompt_len = 0;
        int n = 0;
        free(tokens);
        tokens = NULL;
        if ((rc = conversation_add(&conv, ED_CHAT_USER, line, (size_t)got)) != 0 ||
            (rc = render_chat(family, bos, eos, &conv, &prompt, &prompt_cap, &prompt_len, &spans, &n_spans)) != 0) {
            snprintf(err, ED_ERR_LEN, "out of memory for the conversation");
            break;
        }
        if ((rc = encode_alloc(s->vocab, prompt, prompt_len, spans, n_spans, false, &tokens, &n, err)) != 0 ||
            (rc = session_feed(s, tokens, n, err)) != 0 || (rc = session_generate(s, o->n_predict, err)) != 0)
            break;
        printf("\n");
        fflush(stdout);
        size_t reply_len = 0;
        ed_tokenizer_decode(s->vocab, s->reply, (size_t)s->n_reply, false, NULL, 0, &reply_len);
        free(reply_text);
        if (!(reply_text = malloc(reply_len + 1)) ||
            ed_tokenizer_decode(s->vocab, s->reply, (size_t)s->n_reply, false, reply_text, reply_len,
                                &reply_len) != 0 ||
            (rc = conversation_add(&conv, ED_CHAT_ASSISTANT, reply_text, reply_len)) != 0) {
            snprintf(err, ED_ERR_LEN, "out of memory for the conversation");
            rc = ED_ENOMEM;
            break;
        }
    }
    if (rc == 0)
        session_summary(s);
    free(reply_text);
    free(tokens);
    free(prompt);
    free(spans);
    free(line);
    conversation_free(&conv);
    return rc;
}

int ed_run_main(int argc, char **argv)
{
    run_options_t o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    char err[ED_ERR_LEN] = "";
    session_t s;
    int n_ctx = (int)o.n_ctx;
    if (o.dump_logits && n_ctx == 0) /* room for the whole prompt, however long */
        n_ctx = (int)(strlen(o.prompt) + 2 > ED_RUN_DEFAULT_CTX ? strlen(o.prompt) + 2 : ED_RUN_DEFAULT_CTX);
    if ((rc = session_open(&s, &o, n_ctx, err)) != 0) {
        fprintf(stderr, "edged run: %s\n", err);
        return 1;
    }
    if (o.dump_logits)
        rc = run_dump_logits(&s, &o, err);
    else if (o.chat)
        rc = run_chat(&s, &o, err);
    else
        rc = run_completion(&s, &o, err);
    if (rc != 0)
        fprintf(stderr, "edged run: %s: %s\n", ed_strerror(rc), err);
    session_close(&s);
    return rc == 0 ? 0 : 1;
}
