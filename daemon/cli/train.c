/* train.c - `edged train`: option parsing, the data (JSONL, a text folder,
 * a state directory's collections: adapt/dataset_source) into windows, the
 * base model checked to be a decoder and loaded (model/base), the run
 * (adapt/run) with its progress line, sealed checkpoints in a state
 * directory's store and --resume, and the outputs: the best adapter as a
 * plain GGUF (-o), sealed into the registry with lineage rows (--state),
 * and the loss curves (adapt/curves). Personal text is never written
 * unsealed: checkpoints go only into a store. */
#include "cli/train.h"

#include "adapt/curves.h"
#include "adapt/dataset.h"
#include "adapt/dataset_source.h"
#include "adapt/run.h"
#include "adapt/trainer.h"
#include "cli/run.h"
#include "model/base.h"
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOURCES 16
#define EXIT_FAILED 1
#define EXIT_USAGE 2
/* Ids given to documents that do not come from a store (a folder, JSONL),
 * so that they never meet a store document's id (and get no lineage row). */
#define FILE_DOC_ID_BASE ((int64_t)1 << 48)

typedef struct {
    const char *model_path;
    const char *data[MAX_SOURCES]; /* --data: JSONL files or text folders */
    int n_data;
    const char *state_dir;
    const char *collections[MAX_SOURCES];
    int n_collections;
    const char *checkpoint_dir;
    const char *output;
    const char *curves;
    char name[128];
    bool resume, no_idle;
    long n_threads;
    ed_trainer_config_t trainer;
    ed_run_config_t run;
    ed_dataset_config_t dataset;
} train_options_t;

#define CLI_LR 1e-3f     /* the peak learning rate of edged train */
#define CLI_WARMUP_MAX 10 /* warm-up steps at most (5% of max_steps below that) */

static void usage(FILE *out)
{
    ed_trainer_config_t t;
    ed_run_config_t r;
    ed_dataset_config_t d;
    ed_trainer_config_default(&t);
    ed_run_config_default(&r);
    ed_dataset_config_default(&d);
    fprintf(out,
            "usage: edged train -m BASE.gguf (--data PATH | --state DIR --collection NAME)... [options]\n"
            "Trains a LoRA adapter over BASE (frozen) on your documents, keeps the adapter of the\n"
            "best held-out loss, and writes it with its loss curves.\n"
            "Data (at least one; they add up):\n"
            "  -m, --model FILE       the base model (a decoder: llama, qwen2, qwen3, smollm3)\n"
            "      --data PATH        a JSONL file ({\"title\",\"text\"} documents and {\"messages\"}\n"
            "                         chat examples) or a folder of .txt/.md files (repeatable)\n"
            "      --state DIR        a state directory (edged's store): its collections, its\n"
            "                         adapter registry and its sealed checkpoints\n"
            "      --collection NAME  a collection of --state DIR (repeatable)\n"
            "Output:\n"
            "  -o, --output FILE      the adapter as a plain GGUF (llama.cpp's LoRA format); it\n"
            "                         holds what it learned of your documents: keep it private\n"
            "                         With --state the adapter is also sealed into the registry\n"
            "                         (source \"trained\") with a lineage row per train document,\n"
            "                         and its id is printed on stdout.\n"
            "      --name NAME        the adapter's name (default: -o's file name, else \"adapter\")\n"
            "      --curves PREFIX    loss curves to PREFIX.csv and PREFIX.svg (default: beside -o,\n"
            "                         -o's path without .gguf; none without -o)\n"
            "Training:\n"
            "      --rank N           LoRA rank (default %d; 1 to the hidden size)\n"
            "      --alpha F          LoRA alpha, the update scaled by alpha/rank (default %g)\n"
            "      --targets LIST     matrices adapted: q,k,v,o,gate,up,down (default q,k,v,o)\n"
            "      --seq-len N        tokens per window (default %d)\n"
            "      --lr F             peak learning rate (default %g, as the PyTorch reference's AdamW);\n"
            "                         the rate decays to lr/10 by a cosine\n"
            "      --warmup N         linear warm-up steps (default: max-steps/20, at most %d)\n"
            "      --decay-steps N    the cosine decay ends at step N (default: max-steps, so a run's\n"
            "                         rate depends on its own length; 0: constant after warm-up)\n"
            "      --grad-accum N     windows per optimizer step (default %d)\n"
            "      --max-steps N      optimizer steps at most (default %d)\n"
            "      --budget T         seconds of training at most: 600, 90s, 10m, 1h (default %gs)\n"
            "      --eval-every N     steps between held-out evaluations (default %d)\n"
            "      --patience N       evaluations without improvement before stopping (default %d;\n"
            "                         0: never stop early)\n"
            "      --heldout F        fraction of documents held out (default %g)\n"
            "      --augment LIST     plain,no-title,shuffled,qa (default plain)\n"
            "      --no-pack          one piece per window (default: short pieces are packed into\n"
            "                         one window of --seq-len tokens, each its own sequence with\n"
            "                         its own positions and attention: the same gradients, far\n"
            "                         faster on short notes)\n"
            "      --seed N           window order, split, initialisation (default %llu)\n"
            "  -t, --threads N        compute threads (default: the CPUs online, here %d)\n"
            "      --no-idle          run at normal priority (default: SCHED_IDLE, training only\n"
            "                         takes CPU time nothing else wants)\n"
            "Checkpoints (sealed; never plain files, since they hold what the adapter learned):\n"
            "      --checkpoint-every N[s|m|h]  every N steps (default %d), or every N seconds of\n"
            "                         training with a unit (0: only when stopped)\n"
            "      --checkpoint-dir DIR  without --state: a state directory used only for the key\n"
            "                         and the sealed checkpoints (created when absent)\n"
            "      --resume           continue from the checkpoint of --name (same data and\n"
            "                         options: the losses go on as if never interrupted)\n"
            "  -h, --help             this help\n"
            "Ctrl-C (SIGINT) or SIGTERM stops at the next kernel call and writes a checkpoint.\n"
            "Exit status: 0 trained, 1 a failure or a stop, 2 bad arguments or data.\n",
            t.rank, (double)t.alpha, t.seq_len, (double)CLI_LR, CLI_WARMUP_MAX, r.grad_accum, r.max_steps,
            r.budget_s, r.eval_every, r.patience, d.heldout_fraction, (unsigned long long)r.seed,
            ed_run_default_threads(), r.ckpt_every_steps);
}

static int bad(const char *opt, const char *fmt, const char *value)
{
    fprintf(stderr, "edged train: %s: ", opt);
    fprintf(stderr, fmt, value);
    fprintf(stderr, "\n");
    return ED_EINVAL;
}

/* "600", "90s", "10m", "1h" (fractions allowed) -> seconds. */
static int parse_seconds(const char *value, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || !isfinite(v))
        return ED_EINVAL;
    if (strcmp(end, "m") == 0)
        v *= 60;
    else if (strcmp(end, "h") == 0)
        v *= 3600;
    else if (*end && strcmp(end, "s") != 0)
        return ED_EINVAL;
    *out = v;
    return 0;
}

/* A comma-separated list of names: *out = the OR of their bits. `expected`
 * spells the names for the error, which names `opt`. */
typedef struct {
    const char *name;
    unsigned bit;
} name_bit_t;

static int parse_name_list(const char *opt, const char *value, const name_bit_t *names, size_t n_names,
                           const char *expected, unsigned *out)
{
    unsigned bits = 0;
    const char *p = value;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < n_names; i++)
            if (strlen(names[i].name) == n && strncmp(p, names[i].name, n) == 0) {
                bits |= names[i].bit;
                found = true;
            }
        if (!found) {
            fprintf(stderr, "edged train: %s: \"%s\": expected a list of %s\n", opt, value, expected);
            return ED_EINVAL;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!bits) {
        fprintf(stderr, "edged train: %s: \"%s\": expected at least one of %s\n", opt, value, expected);
        return ED_EINVAL;
    }
    *out = bits;
    return 0;
}

static int parse_targets(const char *value, unsigned *out)
{
    static const name_bit_t names[] = {
        {"q", ED_TRAIN_TARGET(ED_LORA_ATTN_Q)},         {"k", ED_TRAIN_TARGET(ED_LORA_ATTN_K)},
        {"v", ED_TRAIN_TARGET(ED_LORA_ATTN_V)},         {"o", ED_TRAIN_TARGET(ED_LORA_ATTN_OUTPUT)},
        {"gate", ED_TRAIN_TARGET(ED_LORA_FFN_GATE)},    {"up", ED_TRAIN_TARGET(ED_LORA_FFN_UP)},
        {"down", ED_TRAIN_TARGET(ED_LORA_FFN_DOWN)},
    };
    return parse_name_list("--targets", value, names, sizeof names / sizeof names[0], "q, k, v, o, gate, up, down",
                           out);
}

static int parse_augment(const char *value, unsigned *out)
{
    static const name_bit_t names[] = {
        {"plain", ED_AUG_PLAIN}, {"no-title", ED_AUG_NO_TITLE}, {"shuffled", ED_AUG_SHUFFLED}, {"qa", ED_AUG_QA}};
    return parse_name_list("--augment", value, names, sizeof names / sizeof names[0], "plain, no-title, shuffled, qa",
                           out);
}

static int parse_int(const char *opt, const char *value, long min, long max, int *out)
{
    long v;
    int rc = ed_run_parse_long("train", opt, value, min, max, &v);
    if (rc == 0)
        *out = (int)v;
    return rc;
}

/* 0 to go on, 1 when --help was printed, ED_EINVAL (message printed) on bad arguments.
 * Defaults beyond the libraries' (the README's training section says why):
 * lr CLI_LR decaying by a cosine to lr/10 over max_steps (PyTorch
 * reference: AdamW 1e-3, cosine), a warm-up of 5% of max_steps up to
 * CLI_WARMUP_MAX steps. */
static int parse_options(int argc, char **argv, train_options_t *o)
{
    memset(o, 0, sizeof *o);
    ed_trainer_config_default(&o->trainer);
    ed_run_config_default(&o->run);
    ed_dataset_config_default(&o->dataset);
    o->trainer.lr = CLI_LR;
    o->trainer.lr_min = CLI_LR / 10;
    o->n_threads = ed_run_default_threads();
    bool name_given = false, warmup_given = false, decay_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--resume") == 0) {
            o->resume = true;
            continue;
        }
        if (strcmp(a, "--no-pack") == 0) {
            o->dataset.pack = false;
            continue;
        }
        if (strcmp(a, "--no-idle") == 0) {
            o->no_idle = true;
            continue;
        }
        if (a[0] != '-') {
            fprintf(stderr, "edged train: unexpected argument \"%s\" (see edged train --help)\n", a);
            return ED_EINVAL;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "edged train: %s needs a value (see edged train --help)\n", a);
            return ED_EINVAL;
        }
        const char *v = argv[++i];
        int rc = 0;
        float f;
        double seconds;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            o->model_path = v;
        } else if (strcmp(a, "--data") == 0) {
            if (o->n_data == MAX_SOURCES)
                return bad(a, "at most %s", "16");
            o->data[o->n_data++] = v;
        } else if (strcmp(a, "--state") == 0) {
            o->state_dir = v;
        } else if (strcmp(a, "--collection") == 0) {
            if (o->n_collections == MAX_SOURCES)
                return bad(a, "at most %s", "16");
            o->collections[o->n_collections++] = v;
        } else if (strcmp(a, "--checkpoint-dir") == 0) {
            o->checkpoint_dir = v;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            o->output = v;
        } else if (strcmp(a, "--curves") == 0) {
            o->curves = v;
        } else if (strcmp(a, "--name") == 0) {
            if (!*v || strlen(v) >= sizeof o->name)
                return bad(a, "\"%s\": expected 1 to 127 bytes", v);
            snprintf(o->name, sizeof o->name, "%s", v);
            name_given = true;
        } else if (strcmp(a, "--rank") == 0) {
            rc = parse_int(a, v, 1, ED_LORA_MAX_RANK, &o->trainer.rank);
        } else if (strcmp(a, "--alpha") == 0) {
            rc = ed_run_parse_float("train", a, v, 1e-6f, 1e6f, &o->trainer.alpha);
        } else if (strcmp(a, "--targets") == 0) {
            rc = parse_targets(v, &o->trainer.targets);
        } else if (strcmp(a, "--seq-len") == 0) {
            rc = parse_int(a, v, 2, 1 << 16, &o->trainer.seq_len);
        } else if (strcmp(a, "--lr") == 0) {
            if ((rc = ed_run_parse_float("train", a, v, 1e-9f, 1.0f, &f)) == 0) {
                o->trainer.lr = f;
                o->trainer.lr_min = f / 10;
            }
        } else if (strcmp(a, "--warmup") == 0) {
            rc = parse_int(a, v, 0, 1 << 24, &o->trainer.warmup_steps);
            warmup_given = true;
        } else if (strcmp(a, "--decay-steps") == 0) {
            rc = parse_int(a, v, 0, 1 << 30, &o->trainer.decay_steps);
            decay_given = true;
        } else if (strcmp(a, "--grad-accum") == 0) {
            rc = parse_int(a, v, 1, 4096, &o->run.grad_accum);
        } else if (strcmp(a, "--max-steps") == 0) {
            rc = parse_int(a, v, 1, 1 << 30, &o->run.max_steps);
        } else if (strcmp(a, "--budget") == 0) {
            if (parse_seconds(v, &seconds) != 0 || !(seconds > 0))
                return bad(a, "\"%s\": expected a time above 0 (seconds, or with s, m or h: 90s, 10m, 1h)", v);
            o->run.budget_s = seconds;
        } else if (strcmp(a, "--eval-every") == 0) {
            rc = parse_int(a, v, 1, 1 << 30, &o->run.eval_every);
        } else if (strcmp(a, "--patience") == 0) {
            rc = parse_int(a, v, 0, 1 << 30, &o->run.patience);
        } else if (strcmp(a, "--heldout") == 0) {
            if ((rc = ed_run_parse_float("train", a, v, 1e-6f, 0.999999f, &f)) == 0)
                o->dataset.heldout_fraction = f;
        } else if (strcmp(a, "--augment") == 0) {
            rc = parse_augment(v, &o->dataset.augment);
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-')
                return bad(a, "\"%s\": expected a non-negative integer", v);
            o->run.seed = o->trainer.seed = o->dataset.seed = s;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            rc = ed_run_parse_long("train", a, v, 1, ED_RUN_MAX_THREADS, &o->n_threads);
        } else if (strcmp(a, "--checkpoint-every") == 0) {
            size_t n = strlen(v);
            if (n > 0 && strchr("smh", v[n - 1])) {
                if (parse_seconds(v, &seconds) != 0 || seconds < 0)
                    return bad(a, "\"%s\": expected steps (50) or a time (30s, 5m, 1h)", v);
                o->run.ckpt_every_s = seconds;
                o->run.ckpt_every_steps = 0;
            } else {
                rc = parse_int(a, v, 0, 1 << 30, &o->run.ckpt_every_steps);
                o->run.ckpt_every_s = 0;
            }
        } else {
            fprintf(stderr, "edged train: unknown option %s (see edged train --help)\n", a);
            return ED_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    if (!o->model_path)
        return bad("-m", "%sthe base model is required", "");
    if (o->n_data == 0 && o->n_collections == 0)
        return bad("--data", "%sno training data: give --data PATH or --state DIR --collection NAME", "");
    if (o->n_collections > 0 && !o->state_dir)
        return bad("--collection", "%sneeds --state DIR (the store that holds it)", "");
    if (o->checkpoint_dir && o->state_dir)
        return bad("--checkpoint-dir", "%snot with --state (checkpoints go into the state directory)", "");
    if (!o->output && !o->state_dir)
        return bad("-o", "%snothing to write: give -o ADAPTER.gguf and/or --state DIR", "");
    if (o->resume && !o->state_dir && !o->checkpoint_dir)
        return bad("--resume", "%sneeds --state DIR or --checkpoint-dir DIR (where checkpoints are)", "");
    if (!name_given) {
        const char *base = o->output ? strrchr(o->output, '/') : NULL;
        base = base ? base + 1 : o->output ? o->output : "adapter";
        snprintf(o->name, sizeof o->name, "%s", base);
        size_t n = strlen(o->name);
        if (n > 5 && strcmp(o->name + n - 5, ".gguf") == 0)
            o->name[n - 5] = '\0';
    }
    o->dataset.seq_len = o->trainer.seq_len;
    if (!warmup_given)
        o->trainer.warmup_steps = o->run.max_steps / 20 < CLI_WARMUP_MAX ? o->run.max_steps / 20 : CLI_WARMUP_MAX;
    if (!decay_given) /* no room to decay after the warm-up: constant */
        o->trainer.decay_steps = o->run.max_steps > o->trainer.warmup_steps ? o->run.max_steps : 0;
    return 0;
}

/* ------------------------------------------------------------ the base -- */

/* An embedding model cannot be trained here: say so before loading it as a decoder. */
static int check_decoder(const char *path, char err[ED_ERR_LEN])
{
    ed_gguf_t *g = NULL;
    int rc = ed_gguf_open(&g, path, err);
    if (rc != 0)
        return rc;
    ed_str_t arch = {0};
    if (ed_gguf_get_str(g, "general.architecture", &arch) == 0 && memmem(arch.ptr, (size_t)arch.len, "bert", 4))
        rc = ed_errf(err, ED_EINVAL, "%s is an embedding model (%.*s); training needs a decoder", path,
                     (int)(arch.len < 32 ? arch.len : 32), arch.ptr);
    ed_gguf_close(g);
    return rc;
}

/* ------------------------------------------------------------ the data -- */

typedef struct {
    ed_dataset_source_t *sources[2 * MAX_SOURCES];
    int n_sources;
    ed_dataset_doc_t *docs;         /* every source's, ids made unique (FILE_DOC_ID_BASE) */
    int n_docs;
    ed_dataset_example_t *examples;
    int n_examples;
} data_t;

static void data_free(data_t *d)
{
    for (int i = 0; i < d->n_sources; i++)
        ed_dataset_source_free(d->sources[i]);
    free(d->docs);
    free(d->examples);
    memset(d, 0, sizeof *d);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int data_load(data_t *d, const train_options_t *o, ed_store_t *store, char err[ED_ERR_LEN])
{
    char sub[ED_ERR_LEN];
    int rc;
    for (int i = 0; i < o->n_data; i++) {
        ed_dataset_source_t *s = NULL;
        rc = is_dir(o->data[i]) ? ed_dataset_source_folder(&s, o->data[i], sub)
                                : ed_dataset_source_jsonl(&s, o->data[i], sub);
        if (rc != 0)
            return ed_errf(err, rc, "--data %s: %s", o->data[i], sub);
        d->sources[d->n_sources++] = s;
    }
    if (o->n_collections > 0) {
        ed_dataset_source_t *s = NULL;
        if ((rc = ed_dataset_source_store(&s, store, o->collections, o->n_collections, sub)) != 0)
            return ed_errf(err, rc == ED_ENOENT ? ED_EINVAL : rc, "--collection: %s", sub);
        d->sources[d->n_sources++] = s;
    }
    int n_docs = 0, n_examples = 0;
    for (int i = 0; i < d->n_sources; i++)
        n_docs += d->sources[i]->n_docs, n_examples += d->sources[i]->n_examples;
    d->docs = calloc((size_t)(n_docs ? n_docs : 1), sizeof *d->docs);
    d->examples = calloc((size_t)(n_examples ? n_examples : 1), sizeof *d->examples);
    if (!d->docs || !d->examples)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    int64_t file_id = FILE_DOC_ID_BASE;
    for (int i = 0; i < d->n_sources; i++) {
        const ed_dataset_source_t *s = d->sources[i];
        bool from_store = o->n_collections > 0 && i == d->n_sources - 1;
        for (int j = 0; j < s->n_docs; j++) {
            d->docs[d->n_docs] = s->docs[j];
            if (!from_store)
                d->docs[d->n_docs].id = file_id++;
            d->n_docs++;
        }
        for (int j = 0; j < s->n_examples; j++)
            d->examples[d->n_examples++] = s->examples[j];
    }
    return 0;
}

/* ------------------------------------------------------------ the run -- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int stop_gate(void *arg)
{
    (void)arg;
    return stop_requested != 0;
}

/* Checkpoints as the CLI stores them: its own header (what run.c cannot
 * see: the trainer's settings) in front of run.c's bytes. */
static const char CKPT_MAGIC[8] = {'E', 'D', 'T', 'R', 'A', 'I', 'N', '1'};
#define CKPT_HEADER 16

static uint64_t trainer_hash(const ed_trainer_config_t *t)
{
    /* the fields one at a time: the struct's padding is not hashed */
    double fields[] = {t->rank, t->alpha, t->targets, t->seq_len, t->lr, t->lr_min, t->warmup_steps,
                       t->decay_steps, t->weight_decay, t->beta1, t->beta2, t->eps, t->grad_clip,
                       (double)t->seed};
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *p = (const unsigned char *)fields;
    for (size_t i = 0; i < sizeof fields; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

typedef struct {
    const train_options_t *o;
    ed_store_t *ckpt_store; /* NULL: no checkpoints */
    char ckpt_name[ED_STORE_CHECKPOINT_NAME_MAX];
    bool tty;
    int line_len;
    double last_heldout; /* the latest evaluation's loss (NAN before one), shown between evaluations */
    int64_t n_ckpts;
} progress_t;

static int save_checkpoint(const void *data, size_t len, void *arg, char err[ED_ERR_LEN])
{
    progress_t *p = arg;
    if (!p->ckpt_store)
        return 0;
    uint8_t *buf = malloc(CKPT_HEADER + len);
    if (!buf)
        return ed_errf(err, ED_ENOMEM, "out of memory for a checkpoint");
    uint64_t h = trainer_hash(&p->o->trainer);
    memcpy(buf, CKPT_MAGIC, 8);
    memcpy(buf + 8, &h, 8);
    memcpy(buf + CKPT_HEADER, data, len);
    int rc = ed_store_checkpoint_save(p->ckpt_store, p->ckpt_name, buf, CKPT_HEADER + len, err);
    explicit_bzero(buf, CKPT_HEADER + len);
    free(buf);
    if (rc == 0)
        p->n_ckpts++;
    return rc;
}

static void format_duration(double s, char *out, size_t cap)
{
    if (!isfinite(s) || s < 0)
        snprintf(out, cap, "?");
    else if (s < 60)
        snprintf(out, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(out, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(out, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void on_progress(const ed_run_point_t *pt, double eta_s, void *arg)
{
    progress_t *p = arg;
    bool evaluated = !isnan(pt->heldout_loss);
    if (!p->tty && !evaluated)
        return;
    char eta[32], heldout[32] = "-";
    format_duration(eta_s, eta, sizeof eta);
    if (evaluated)
        p->last_heldout = pt->heldout_loss;
    if (!isnan(p->last_heldout))
        snprintf(heldout, sizeof heldout, "%.4f", p->last_heldout);
    char line[256];
    int n = snprintf(line, sizeof line, "step %lld/%d  %.0f tokens/s  train loss %.4f  held-out loss %s  ETA %s",
                     (long long)pt->step, p->o->run.max_steps, pt->elapsed_s > 0 ? pt->tokens / pt->elapsed_s : 0.0,
                     pt->train_loss, heldout, eta);
    if (p->tty) {
        fprintf(stderr, "\r%s%*s", line, p->line_len > n ? p->line_len - n : 0, "");
        p->line_len = n;
    } else {
        fprintf(stderr, "edged train: %s\n", line);
    }
    fflush(stderr);
}

static void end_progress_line(progress_t *p)
{
    if (p->tty && p->line_len > 0) {
        fputc('\n', stderr);
        p->line_len = 0;
    }
}

/* A store checkpoint name from the adapter's name: "train-" and its
 * characters outside [A-Za-z0-9._-] as '_'. */
static void checkpoint_name(const char *name, char out[ED_STORE_CHECKPOINT_NAME_MAX])
{
    int n = snprintf(out, ED_STORE_CHECKPOINT_NAME_MAX, "train-%s", name);
    if (n >= ED_STORE_CHECKPOINT_NAME_MAX)
        n = ED_STORE_CHECKPOINT_NAME_MAX - 1;
    for (int i = 6; i < n; i++) {
        char c = out[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            out[i] = '_';
    }
    size_t len = strlen(out);
    if (len >= 4 && strcmp(out + len - 4, ".tmp") == 0)
        out[len - 4] = '_';
}

static void targets_string(unsigned targets, char *out, size_t cap)
{
    static const char *const names[ED_LORA_PER_LAYER] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                         "ffn_gate", "ffn_up", "ffn_down"};
    size_t n = 0;
    out[0] = '\0';
    for (int r = 0; r < ED_LORA_PER_LAYER; r++)
        if (targets & ED_TRAIN_TARGET(r))
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "", names[r]);
}

/* Exit status of a failure with code rc: bad input is 2, the rest 1. */
static int fail(int rc, const char *err)
{
    fprintf(stderr, "edged train: %s\n", err[0] ? err : ed_strerror(rc));
    return rc == ED_EINVAL ? EXIT_USAGE : EXIT_FAILED;
}

static int write_outputs(const train_options_t *o, ed_store_t *store, const ed_dataset_t *ds, ed_run_result_t *res,
                         const ed_base_t *base, char err[ED_ERR_LEN])
{
    ed_lora_t *best = res->best;
    snprintf(best->name, sizeof best->name, "%s", o->name);
    best->created = (uint64_t)time(NULL);
    char summary[512];
    snprintf(summary, sizeof summary,
             "{\"steps\":%lld,\"end\":\"%s\",\"best_step\":%lld,\"heldout_loss\":%.6g,\"train_documents\":%d,"
             "\"train_tokens\":%lld,\"rank\":%d,\"alpha\":%g,\"lr\":%g,\"seq_len\":%d,\"seed\":%llu}",
             (long long)res->steps, ed_run_end_name(res->end), (long long)res->best_step,
             isnan(res->best_heldout_loss) ? -1.0 : res->best_heldout_loss, ds->n_train_docs,
             (long long)ds->train_tokens, o->trainer.rank, (double)o->trainer.alpha, (double)o->trainer.lr,
             o->trainer.seq_len, (unsigned long long)o->run.seed);
    free(best->training);
    best->training = strdup(summary);
    int rc;
    if (o->output) {
        if ((rc = ed_lora_write(best, o->output, err)) != 0)
            return rc;
        fprintf(stderr, "edged train: wrote %s\n", o->output);
    }
    char curves[4096];
    const char *prefix = o->curves;
    if (!prefix && o->output) {
        snprintf(curves, sizeof curves, "%s", o->output);
        size_t n = strlen(curves);
        if (n > 5 && strcmp(curves + n - 5, ".gguf") == 0)
            curves[n - 5] = '\0';
        prefix = curves;
    }
    if (prefix) {
        char csv[4200], svg[4200], title[256];
        snprintf(csv, sizeof csv, "%s.csv", prefix);
        snprintf(svg, sizeof svg, "%s.svg", prefix);
        snprintf(title, sizeof title, "%s: LoRA rank %d on %s", o->name, o->trainer.rank,
                 strrchr(ed_base_path(base), '/') ? strrchr(ed_base_path(base), '/') + 1 : ed_base_path(base));
        if ((rc = ed_curves_write_csv(csv, res->history, res->n_history, err)) != 0 ||
            (rc = ed_curves_write_svg(svg, res->history, res->n_history, title, err)) != 0)
            return rc;
        fprintf(stderr, "edged train: loss curves in %s and %s\n", csv, svg);
    }
    if (store && o->state_dir) {
        void *gguf = NULL;
        size_t len = 0;
        if ((rc = ed_lora_serialize(best, &gguf, &len, err)) != 0)
            return rc;
        ed_adapter_row_t row = {.rank = best->max_rank, .has_alpha = best->has_alpha, .alpha = best->alpha};
        snprintf(row.name, sizeof row.name, "%s", o->name);
        snprintf(row.fingerprint, sizeof row.fingerprint, "%s", best->fingerprint);
        targets_string(o->trainer.targets, row.targets, sizeof row.targets);
        snprintf(row.source, sizeof row.source, "trained");
        snprintf(row.status, sizeof row.status, "ready");
        rc = ed_store_adapter_add(store, &row, gguf, len, err);
        explicit_bzero(gguf, len);
        free(gguf);
        if (rc != 0)
            return rc;
        int n_lineage = 0;
        for (int i = 0; i < ds->n_train_docs; i++) {
            if (ds->train_doc_ids[i] < 0 || ds->train_doc_ids[i] >= FILE_DOC_ID_BASE)
                continue;
            if ((rc = ed_store_lineage_add(store, row.id, ds->train_doc_ids[i], err)) != 0)
                return rc;
            n_lineage++;
        }
        fprintf(stderr, "edged train: adapter %s (%s version %d) in %s, trained on %d of its documents\n", row.id,
                row.name, row.version, o->state_dir, n_lineage);
        printf("%s\n", row.id);
    }
    return 0;
}

int ed_train_main(int argc, char **argv)
{
    train_options_t o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : EXIT_USAGE;
    char err[ED_ERR_LEN] = "";
    if ((rc = check_decoder(o.model_path, err)) != 0)
        return fail(rc, err);
    /* The pool's threads inherit the policy of the thread that makes them. */
    if (!o.no_idle) {
        struct sched_param sp = {0};
        if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
            fprintf(stderr, "edged train: warning: cannot run at SCHED_IDLE (%s); going on at normal priority\n",
                    strerror(errno));
    }

    ed_pool_t *pool = NULL;
    ed_base_t *base = NULL;
    ed_store_t *store = NULL;
    ed_trainer_t *trainer = NULL;
    ed_dataset_t *ds = NULL;
    data_t data = {0};
    void *resume = NULL;
    size_t resume_len = 0;
    ed_run_result_t result = {0};
    int status = EXIT_FAILED;
    const ed_kernels_t *kernels = ed_kernels_select(NULL);
    if (!kernels) {
        fprintf(stderr, "edged train: EDGED_KERNELS names an op table this CPU cannot run\n");
        return EXIT_FAILED;
    }
    if ((rc = ed_pool_open(&pool, (int)o.n_threads, err)) != 0 ||
        (rc = ed_base_open(&base, o.model_path, kernels, pool, err)) != 0 || (rc = ed_base_load(base, NULL, err)) != 0) {
        status = fail(rc, err);
        goto done;
    }
    const ed_model_t *model = ed_base_model(base);
    if ((rc = ed_trainer_config_check(&o.trainer, model, err)) != 0) {
        status = fail(rc, err);
        goto done;
    }
    /* A store made before (by the daemon, or an earlier run) is opened light
     * (the record and the key: no lexical table to rebuild, no index files
     * touched), so that it can be opened beside a running daemon; a new one
     * is made by the full open. */
    const char *store_dir = o.state_dir ? o.state_dir : o.checkpoint_dir;
    char db_path[4096];
    snprintf(db_path, sizeof db_path, "%s/edged.db", store_dir ? store_dir : "");
    if (store_dir && (rc = access(db_path, F_OK) == 0 ? ed_store_open_adapters(&store, store_dir, NULL, err)
                                                      : ed_store_open(&store, store_dir, NULL, err)) != 0) {
        fprintf(stderr, "edged train: %s %s: %s\n", o.state_dir ? "--state" : "--checkpoint-dir", store_dir, err);
        status = EXIT_FAILED;
        goto done;
    }

    /* the data, in memory only */
    if ((rc = data_load(&data, &o, store, err)) != 0) {
        status = fail(rc, err);
        goto done;
    }
    const ed_vocab_t *vocab = ed_base_vocab(base);
    char bos[128] = "", eos[128] = "";
    if (vocab->bos >= 0 && vocab->bos < vocab->n_tokens)
        snprintf(bos, sizeof bos, "%.*s", (int)vocab->text[vocab->bos].len, vocab->text[vocab->bos].ptr);
    if (vocab->eos >= 0 && vocab->eos < vocab->n_tokens)
        snprintf(eos, sizeof eos, "%.*s", (int)vocab->text[vocab->eos].len, vocab->text[vocab->eos].ptr);
    ed_str_t tmpl = {0};
    ed_gguf_get_str(ed_base_gguf(base), "tokenizer.chat_template", &tmpl);
    ed_prompt_model_t prompt = {.vocab = vocab, .chat = ed_chat_detect(tmpl.ptr, (size_t)tmpl.len), .bos_text = bos,
                                .eos_text = eos, .n_ctx = model->n_ctx_train};
    if ((rc = ed_dataset_build(&ds, &prompt, data.docs, data.n_docs, data.examples, data.n_examples, &o.dataset,
                               err)) != 0) {
        status = fail(rc, err);
        goto done;
    }
    fprintf(stderr,
            "edged train: %d train windows (%lld tokens) from %d documents, %d held-out windows (%lld tokens) "
            "from %d\n",
            ds->n_train, (long long)ds->train_tokens, ds->n_train_docs, ds->n_heldout, (long long)ds->heldout_tokens,
            ds->n_heldout_docs);

    if ((rc = ed_trainer_create(&trainer, model, ed_base_gguf(base), kernels, pool, &o.trainer, err)) != 0) {
        status = fail(rc == ED_EUNSUPPORTED ? ED_EINVAL : rc, err);
        goto done;
    }

    progress_t progress = {.o = &o, .ckpt_store = store, .tty = isatty(STDERR_FILENO) != 0, .last_heldout = NAN};
    checkpoint_name(o.name, progress.ckpt_name);
    if (o.resume) {
        rc = ed_store_checkpoint_load(store, progress.ckpt_name, &resume, &resume_len, err);
        if (rc == ED_ENOENT) {
            fprintf(stderr, "edged train: --resume: no checkpoint of \"%s\" in %s\n", o.name, store_dir);
            status = EXIT_USAGE;
            goto done;
        }
        if (rc != 0) {
            status = fail(rc, err);
            goto done;
        }
        uint64_t h = trainer_hash(&o.trainer);
        if (resume_len < CKPT_HEADER || memcmp(resume, CKPT_MAGIC, 8) != 0 || memcmp((char *)resume + 8, &h, 8) != 0) {
            fprintf(stderr, "edged train: --resume: the checkpoint of \"%s\" was made with other options (rank, "
                            "alpha, targets, seq-len, lr, warmup or seed differ)\n",
                    o.name);
            status = EXIT_USAGE;
            goto done;
        }
        ed_run_checkpoint_info_t info;
        if ((rc = ed_run_checkpoint_info((char *)resume + CKPT_HEADER, resume_len - CKPT_HEADER, &info, err)) != 0) {
            status = fail(rc, err);
            goto done;
        }
        fprintf(stderr, "edged train: resuming \"%s\" at step %lld (%.1fs of training done)\n", o.name,
                (long long)info.steps, info.elapsed_s);
    } else if (!store && (o.run.ckpt_every_steps > 0 || o.run.ckpt_every_s > 0)) {
        o.run.ckpt_every_steps = 0;
        o.run.ckpt_every_s = 0;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ed_run_hooks_t hooks = {.progress = on_progress, .checkpoint = save_checkpoint, .arg = &progress,
                            .gate = stop_gate};
    rc = ed_run_train(trainer, ds, &o.run, &hooks, resume ? (char *)resume + CKPT_HEADER : NULL,
                      resume ? resume_len - CKPT_HEADER : 0, &result, err);
    end_progress_line(&progress);
    if (rc != 0) {
        status = fail(rc, err);
        goto done;
    }
    if (result.end == ED_RUN_STOPPED) {
        if (store)
            fprintf(stderr, "edged train: stopped at step %lld; the checkpoint is kept: rerun with --resume\n",
                    (long long)result.steps);
        else
            fprintf(stderr, "edged train: stopped at step %lld (no checkpoint: give --state or --checkpoint-dir)\n",
                    (long long)result.steps);
        status = EXIT_FAILED;
        goto done;
    }
    fprintf(stderr, "edged train: %s after %lld steps; best held-out loss %.4f at step %lld\n",
            ed_run_end_name(result.end), (long long)result.steps, result.best_heldout_loss,
            (long long)result.best_step);
    if ((rc = write_outputs(&o, o.state_dir ? store : NULL, ds, &result, base, err)) != 0) {
        status = fail(rc, err);
        goto done;
    }
    /* done: the checkpoint (which holds what was learned) goes */
    if (store && progress.n_ckpts + (o.resume ? 1 : 0) > 0) {
        char sub[ED_ERR_LEN];
        ed_store_checkpoint_delete(store, progress.ckpt_name, sub);
    }
    status = 0;
done:
    if (resume) {
        explicit_bzero(resume, resume_len);
        free(resume);
    }
    ed_run_result_free(&result);
    ed_trainer_free(trainer);
    ed_dataset_free(ds);
    data_free(&data);
    ed_store_close(store);
    ed_base_close(base);
    ed_pool_close(pool);
    return status;
}
