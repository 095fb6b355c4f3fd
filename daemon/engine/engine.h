/* engine.h - the inference thread. It loads the base model, then serves
 * jobs (text generation, embeddings) from a bounded queue in `parallel` slots
 * by continuous batching: each step is one forward pass over every active
 * slot (prompt chunks and single decode tokens together). Generated text and
 * completion go back to the loop thread through one uv_async_t; every
 * callback below runs on the loop thread. A slot keeps its KV cache after a
 * job, and the next job reuses the longest prefix it shares with it. */
#ifndef ED_ENGINE_ENGINE_H
#define ED_ENGINE_ENGINE_H

#include "core/config.h"
#include "core/error.h"
#include "model/base.h"
#include "model/chat.h"
#include "model/lora.h"
#include "model/sampler.h"
#include "model/vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define ED_ENGINE_MAX_STOPS 16     /* stop strings per job */
#define ED_ENGINE_MAX_STOP_LEN 256 /* bytes per stop string */

typedef struct ed_engine ed_engine_t;
typedef struct ed_job ed_job_t;

/* The largest adapter rank the engine serves: its LoRA scratch is reserved
 * for this rank once, at load, so that the token loop allocates nothing.
 * A job with an adapter of a larger rank is refused (ED_EINVAL). */
#define ED_ENGINE_ADAPTER_MAX_RANK 64

/* An adapter shared by the jobs that use it, counted: the registry holds one
 * reference, each job one more from submit until it is freed (after its
 * on_done), so deleting an adapter while a stream still uses it frees its
 * memory only when that stream ends. Any thread (the count is atomic; the
 * adapter's weights are read-only once made). */
typedef struct ed_engine_adapter ed_engine_adapter_t;
/* Takes `lora` (loaded against the engine's base) over; the count starts at
 * one. label: what responses and logs call it ("name@version"). NULL when
 * memory ran out (lora is then freed). */
ed_engine_adapter_t *ed_engine_adapter_new(ed_lora_t *lora, const char *label);
void ed_engine_adapter_retain(ed_engine_adapter_t *a);
/* Drops a reference; the last frees the adapter. Accepts NULL. */
void ed_engine_adapter_release(ed_engine_adapter_t *a);
const ed_lora_t *ed_engine_adapter_lora(const ed_engine_adapter_t *a);
const char *ed_engine_adapter_label(const ed_engine_adapter_t *a);
/* A number no other adapter of this process has; 0 for NULL. */
uint64_t ed_engine_adapter_serial(const ed_engine_adapter_t *a);

typedef enum {
    ED_ENGINE_EMPTY = 0, /* no model configured (model.path is empty) */
    ED_ENGINE_LOADING,
    ED_ENGINE_READY,
    ED_ENGINE_FAILED, /* the model did not load; the reason says why */
} ed_engine_state_t;

typedef enum {
    ED_JOB_GENERATE = 0, /* evaluate the prompt, then sample up to max_tokens */
    ED_JOB_EMBED,        /* evaluate the prompt; the result is its mean-pooled, L2-normalised hidden state */
} ed_job_kind_t;

typedef enum {
    ED_FINISH_STOP = 0,  /* end-of-generation token or a stop string */
    ED_FINISH_LENGTH,    /* max_tokens reached, or the context is full */
    ED_FINISH_CANCELLED, /* ed_engine_cancel, or the engine shut down */
    ED_FINISH_ERROR,     /* result.error says why */
    ED_FINISH_DONE,      /* an embedding job finished */
} ed_finish_t;

typedef struct {
    ed_job_kind_t kind;
    const int32_t *prompt; /* copied at submit */
    int n_prompt;
    ed_sampler_params_t sampling; /* copied, logit bias included */
    int max_tokens;               /* >= 1 (generation only) */
    const char *const *stops;     /* copied; generation ends before the first match, which is not sent */
    size_t n_stops;
    bool held;                    /* starts as if ed_engine_hold(.., true) ran before any step */
    ed_engine_adapter_t *adapter; /* NULL: the base alone; else retained by the job until it is freed */
    float adapter_scale;          /* the user's scale of the adapter (alpha / rank * this) */
} ed_job_params_t;

typedef struct {
    ed_finish_t finish;
    int n_prompt;       /* tokens in the prompt */
    int n_cached;       /* of them, reused from the slot's previous job */
    int n_generated;    /* tokens sampled (the stop/EOS token included) */
    double queue_ms;    /* submit -> a slot took it */
    double prompt_ms;   /* evaluating the prompt (the first token's logits) */
    double generate_ms; /* first token -> last token */
    const float *embedding; /* (n_embd) ED_JOB_EMBED only; valid during on_done */
    int n_embd;
    int error_code;          /* ED_FINISH_ERROR: an ED_E* code */
    char error[ED_ERR_LEN];  /* ED_FINISH_ERROR: what went wrong */
} ed_job_result_t;

typedef struct {
    /* New generated text: whole UTF-8 characters, never part of a stop
     * string. Not called for embedding jobs. May be NULL. */
    void (*on_text)(ed_job_t *job, const char *text, size_t len, void *user);
    /* Exactly once per job, last; the job is freed when it returns. It may
     * submit new jobs (ed_engine_submit is safe to call from it). */
    void (*on_done)(ed_job_t *job, const ed_job_result_t *result, void *user);
} ed_job_callbacks_t;

/* Starts the engine thread for cfg->model and cfg->engine on `loop` (the
 * loop thread calls this and every function below), serving `base` (the
 * model lent read-only, computing on its pool at ED_POOL_HIGH; it must
 * outlive the engine). The base loads on the engine thread unless another
 * borrower loads it first; ed_engine_state says how far it got. With no base
 * (model.path is empty) the engine stays ED_ENGINE_EMPTY. Returns 0, or
 * ED_ENOMEM / ED_EIO (the thread could not start) with err. */
int ed_engine_start(ed_engine_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base,
                    char err[ED_ERR_LEN]);
/* Cancels every job (their on_done run, with ED_FINISH_CANCELLED, before it
 * returns), joins the thread and frees the engine's buffers (not the base).
 * Accepts NULL. */
void ed_engine_stop(ed_engine_t *engine);

/* The state, and for LOADING/FAILED/EMPTY a human reason ("loading
 * model.gguf", "model.gguf: not a GGUF file ..."). */
ed_engine_state_t ed_engine_state(const ed_engine_t *engine, const char **reason);

/* Once READY, what the loop thread needs to build prompts; read-only and
 * safe to use from any thread (the tokenizer functions are). */
typedef struct {
    const ed_vocab_t *vocab;
    const char *name;          /* model id: model.name or the file name */
    const char *general_name;  /* the GGUF's general.name ("" when absent): an alias of name */
    const char *path;
    const char *arch;          /* ed_model_arch_name: "llama", "qwen2", ..., "gemma3" */
    ed_chat_family_t chat;     /* from model.chat_template or detected */
    const char *bos_text;      /* the BOS / EOS tokens' text ("" when none) */
    const char *eos_text;
    int n_ctx;                 /* tokens per slot */
    int n_embd;                /* embedding width */
    int n_vocab;
    int n_slots;
    int64_t created;           /* the model file's mtime, seconds */
    const ed_base_t *base;     /* what adapters are loaded against (ed_base_gguf, ed_base_model) */
} ed_engine_model_t;
/* NULL unless READY. */
const ed_engine_model_t *ed_engine_model(const ed_engine_t *engine);

/* Queues a job. Returns 0 with *out, or:
 *   ED_EAGAIN  the model is not ready (err says why),
 *   ED_EBUSY   every slot is busy and the queue is full (answer 503 + Retry-After),
 *   ED_ERANGE  the prompt plus max_tokens cannot fit the context (err has the numbers;
 *              a prompt alone longer than the context is ED_ERANGE too),
 *   ED_EINVAL  bad parameters (err names them), ED_ENOMEM.
 * On success the callbacks will run; on_done exactly once. */
int ed_engine_submit(ed_engine_t *engine, const ed_job_params_t *params, const ed_job_callbacks_t *cb,
                     void *user, ed_job_t **out, char err[ED_ERR_LEN]);
/* Asks the engine to end the job within one step; on_done follows with
 * ED_FINISH_CANCELLED (or the job's real end if it was already finishing).
 * The caller must keep `user` valid until on_done. */
void ed_engine_cancel(ed_engine_t *engine, ed_job_t *job);
/* Backpressure: while held, the job's slot takes no forward steps (its
 * client cannot take more text); release when the client has drained. */
void ed_engine_hold(ed_engine_t *engine, ed_job_t *job, bool hold);

/* Counters for /metrics and tests. */
typedef struct {
    int queued;       /* jobs waiting for a slot */
    int busy_slots;   /* slots running a job */
    int n_slots;
} ed_engine_stats_t;
void ed_engine_stats(const ed_engine_t *engine, ed_engine_stats_t *out);

/* Inference activity, for the training scheduler (adapt/scheduler.h): busy
 * while any job is queued or running (submitted, on_done not yet run);
 * last_activity_s the CLOCK_MONOTONIC time in seconds of the last submit or
 * hand-back to the loop thread (0: none yet). Any thread. */
void ed_engine_activity(const ed_engine_t *engine, bool *busy, double *last_activity_s);
/* fn(arg) runs on the loop thread inside every ed_engine_submit, before the
 * job is queued, so a trainer pauses before the request's first step. One
 * hook; fn NULL removes it. */
void ed_engine_on_submit(ed_engine_t *engine, void (*fn)(void *arg), void *arg);

#endif
