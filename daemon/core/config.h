/* config.h - edged's configuration: one option table (config.c) drives
 * parsing (INI through inih), validation, defaults, `--check-config`,
 * SIGHUP reloads, `GET /v1/config` and the comments of etc/edged.conf.
 * A config is a plain struct; the loop thread owns the live one. */
#ifndef ED_CORE_CONFIG_H
#define ED_CORE_CONFIG_H

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define ED_CONFIG_PATH_MAX 512
#define ED_CONFIG_LIST_MAX 512
#define ED_CONFIG_DEFAULT_PATH "/etc/edged/edged.conf"

typedef struct {
    struct {
        char socket[ED_CONFIG_PATH_MAX];
        uint32_t socket_mode; /* permission bits of the socket file */
        char socket_group[64];
        uint32_t max_connections;
        uint32_t max_header_bytes;
        uint32_t max_headers;
        uint32_t max_url_bytes;
        uint64_t max_body_bytes;
        uint32_t header_timeout_ms;
        uint32_t body_timeout_ms;
        uint32_t idle_timeout_ms;
        uint32_t shutdown_timeout_ms;
    } server;
    struct { /* space-separated allow lists: "*", "user:NAME|UID", "group:NAME|GID" */
        char infer[ED_CONFIG_LIST_MAX];
        char ingest[ED_CONFIG_LIST_MAX];
        char adapt[ED_CONFIG_LIST_MAX];
        char admin[ED_CONFIG_LIST_MAX];
    } access;
    struct {
        char level[8];
        bool access_log;
    } log;
    struct {
        char directory[ED_CONFIG_PATH_MAX];
    } state;
    struct {
        char path[ED_CONFIG_PATH_MAX]; /* GGUF file; empty: no model */
        char name[128];                /* the id /v1/models reports; empty: the file name */
        uint32_t context;              /* tokens per slot; 0: the model's training context */
        uint32_t threads;              /* compute threads; 0: every core */
        uint32_t batch;                /* prompt tokens per forward pass */
        char chat_template[16];        /* family name; empty: detected from the file */
    } model;
    struct {
        uint32_t parallel;           /* slots decoded together */
        uint32_t queue_length;       /* requests waiting for a slot, at most */
        uint32_t max_tokens_default; /* when a request names no max_tokens */
        uint32_t max_tokens_limit;   /* hard cap on max_tokens */
    } engine;
    struct {
        char key_file[ED_CONFIG_PATH_MAX]; /* wraps the data key when no systemd credential is given */
    } store;
    struct {
        char embedder[16];                   /* hash | model | chat */
        char embedding_model[ED_CONFIG_PATH_MAX]; /* BERT-family GGUF for embedder = model */
        uint32_t chunk_tokens;               /* tokens per chunk, at most */
        uint32_t chunk_overlap;              /* tokens shared by neighbouring chunks */
        uint32_t hnsw_threshold;             /* vectors in a collection above which search uses HNSW */
        uint32_t top_k;                      /* chunks retrieved when a request names none */
        uint32_t max_context_tokens;         /* retrieved tokens placed in a prompt; 0: a quarter of the context */
        uint32_t max_batch_documents;        /* documents in one ingest request, at most */
    } rag;
    struct {
        uint64_t max_adapter_bytes; /* an adapter file POST /v1/adapters takes, at most (instead of max_body_bytes) */
        uint32_t max_queued_jobs;   /* adapt jobs not finished, at most (503 beyond) */
        char on_stale[16];          /* keep | unserve | retrain: what a deletion does to adapters trained on it */
        uint32_t checkpoint_every_s;     /* seconds of training between checkpoints; 0: by steps only */
        uint32_t checkpoint_every_steps; /* optimizer steps between checkpoints; 0: by time only */
        uint32_t budget_s;          /* a job's seconds of training when it names none */
        uint32_t max_steps;         /* a job's step cap when it names none */
        uint32_t rank;              /* a job's LoRA rank when it names none */
        uint32_t seq_len;           /* a job's window length in tokens when it names none */
        /* training windows (adapt/scheduler.h, adapt/monitor.h) */
        bool enabled;                        /* false: the window never opens */
        char sys_root[ED_CONFIG_PATH_MAX];   /* where sysfs is read ("/sys"; tests fake a device) */
        char proc_root[ED_CONFIG_PATH_MAX];  /* where procfs is read ("/proc") */
        uint32_t poll_s;                     /* seconds between readings of the device */
        bool mains_only;                     /* train only on mains/USB power */
        uint32_t battery_floor;              /* %: without mains_only, on battery only above this */
        uint32_t temp_ceiling_c;             /* the window closes at this SoC temperature, Celsius */
        uint32_t temp_hysteresis_c;          /* and reopens below ceiling - this */
        char thermal_zone[64];               /* thermal zone type to read; empty: the hottest */
        uint32_t pressure_ceiling;           /* % some avg10 of cpu/memory/io pressure at most */
        uint32_t idle_s;                     /* no inference for this long before training */
        uint32_t resume_after_s;             /* a paused trainer resumes after this long without inference */
        char hours[ED_CONFIG_LIST_MAX];      /* allowed local hours, "22:00-07:00 ..."; empty: all day */
        uint32_t daily_cap_s;                /* seconds of training per local day at most; 0: no cap */
        bool logind_idle;                    /* also require logind's IdleHint */
    } adapt;
} ed_config_t;

typedef enum {
    ED_OPT_STRING,
    ED_OPT_U32,
    ED_OPT_U64,
    ED_OPT_BOOL,
    ED_OPT_MODE,  /* octal permission bits, stored as u32 */
    ED_OPT_LEVEL, /* a log level name */
    ED_OPT_ACL,   /* an allow list */
} ed_opt_type_t;

typedef struct {
    const char *section;
    const char *name;
    ed_opt_type_t type;
    size_t offset;     /* into ed_config_t */
    size_t size;       /* of the field (strings: buffer size) */
    const char *def;   /* default, in the file's syntax */
    uint64_t min, max; /* numbers: inclusive bounds */
    bool reloadable;   /* applied on SIGHUP without a restart */
    const char *doc;   /* one line */
} ed_option_t;

/* The option table, terminated by an entry with name == NULL. */
extern const ed_option_t ed_config_options[];

/* Fills `cfg` with every option's default. */
void ed_config_defaults(ed_config_t *cfg);

/* Reads `path` over the defaults. Returns 0, or ED_ECONFIG / ED_ENOENT /
 * ED_EIO with `err` = "FILE:LINE: section.option: what is wrong". */
int ed_config_load(ed_config_t *cfg, const char *path, char err[ED_ERR_LEN]);

/* One problem of a configuration file, "FILE:LINE: section.option: why". */
typedef void (*ed_config_problem_fn)(void *arg, const char *message);
/* ed_config_load that reads on past a problem and reports each one to
 * on_problem (a bad value leaves that option at its previous value); `err`
 * holds the first. For `edged --check-config`. */
int ed_config_load_report(ed_config_t *cfg, const char *path, ed_config_problem_fn on_problem, void *arg,
                          char err[ED_ERR_LEN]);

/* Sets one option from its text form ("server.socket", "/tmp/s"), validated
 * as a file line would be. Returns 0 or ED_ECONFIG with `err`. */
int ed_config_set(ed_config_t *cfg, const char *key, const char *value, char err[ED_ERR_LEN]);

/* Formats one option's value in the file's syntax into buf. */
void ed_config_format(const ed_config_t *cfg, const ed_option_t *opt, char *buf, size_t size);

/* Calls fn for each option whose value differs between a and b. */
void ed_config_diff(const ed_config_t *a, const ed_config_t *b,
                    void (*fn)(const ed_option_t *opt, const char *old_value,
                               const char *new_value, void *arg),
                    void *arg);

/* Writes the documented default configuration file (etc/edged.conf). */
void ed_config_write_template(FILE *out);

#endif
