/* trainer.h - LoRA training steps over a frozen, quantized, mapped base
 * model (model.h): the adapter's f32 tensors, their gradients and AdamW
 * moments; one window's forward and backward pass with activations
 * recomputed layer by layer (only each layer's input is kept), the loss a
 * fused cross-entropy over the vocabulary in chunks; the optimizer step with
 * the learning-rate schedule. Every kernel call goes through the shared pool
 * at ED_POOL_LOW and is preceded by a call of the gate, so a caller can pause
 * or stop it within one kernel call. The loop around the steps (data,
 * held-out loss, early stopping, checkpoints) is run.h's; one thread at a
 * time uses a trainer. */
#ifndef ED_ADAPT_TRAINER_H
#define ED_ADAPT_TRAINER_H

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/gguf.h"
#include "model/lora.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

/* Which matrices of every block get an adapter: bit (1u << ed_lora_role_t). */
#define ED_TRAIN_TARGET(role) (1u << (role))
#define ED_TRAIN_TARGETS_ATTN                                                                          \
    (ED_TRAIN_TARGET(ED_LORA_ATTN_Q) | ED_TRAIN_TARGET(ED_LORA_ATTN_K) | ED_TRAIN_TARGET(ED_LORA_ATTN_V) | \
     ED_TRAIN_TARGET(ED_LORA_ATTN_OUTPUT))
#define ED_TRAIN_TARGETS_ALL ((1u << ED_LORA_PER_LAYER) - 1)

typedef struct {
    int rank;             /* 8: of every adapted matrix; 1 .. min(ED_LORA_MAX_RANK, n_embd) */
    float alpha;          /* 16: the update is scaled by alpha / rank */
    unsigned targets;     /* ED_TRAIN_TARGETS_ATTN: q, k, v, o */
    int seq_len;          /* 256: the longest window a step takes, tokens */
    float lr;             /* 2e-4 .. 1e-3 typical: the peak learning rate */
    float lr_min;         /* the rate cosine decay ends at (0.1 lr by default) */
    int warmup_steps;     /* linear warm-up from lr / warmup_steps to lr */
    int decay_steps;      /* cosine decay from warmup_steps to this step; 0: constant after warm-up */
    float weight_decay;   /* 0.0 by default (AdamW's decoupled decay) */
    float beta1, beta2, eps; /* 0.9, 0.999, 1e-8 */
    float grad_clip;      /* global L2 norm the gradient is clipped to before a step; 0: none */
    uint64_t seed;        /* the adapter's initialisation (A gaussian, B zero) */
} ed_trainer_config_t;

/* Fills c with the defaults above. */
void ed_trainer_config_default(ed_trainer_config_t *c);
/* 0 when c can train `model`; ED_EINVAL with err naming the field
 * ("rank: 0, expected 1 to 2048") otherwise. */
int ed_trainer_config_check(const ed_trainer_config_t *c, const ed_model_t *model, char err[ED_ERR_LEN]);

typedef struct ed_trainer ed_trainer_t;

/* Called between kernel calls. It may block (a paused trainer waits in it);
 * non-zero stops the window or step under way, which then returns
 * ED_ECANCELED and leaves the adapter and moments as they were before it. */
typedef int (*ed_trainer_gate_fn)(void *arg);

/* A trainer of a new adapter on `model` (loaded from base_gguf, which gives
 * the fingerprint written into the adapter). model, kernels and pool must
 * outlive it. Everything is allocated here: the adapter, gradients and
 * moments, and the run state of one window of seq_len tokens. Returns 0, or
 * ED_EINVAL (the config, with the field) / ED_EUNSUPPORTED (a base the
 * trainer cannot differentiate) / ED_ENOMEM, with err. */
int ed_trainer_create(ed_trainer_t **out, const ed_model_t *model, const ed_gguf_t *base_gguf,
                      const ed_kernels_t *kernels, ed_pool_t *pool, const ed_trainer_config_t *config,
                      char err[ED_ERR_LEN]);
void ed_trainer_free(ed_trainer_t *t); /* accepts NULL */

void ed_trainer_set_gate(ed_trainer_t *t, ed_trainer_gate_fn gate, void *arg);

/* Replaces the adapter's weights with those of `from` (loaded against the
 * same model), pair by pair: every pair the trainer adapts must be in
 * `from` with the trainer's rank; alpha is taken too. For resuming from an
 * adapter and for gradient tests. 0 or ED_EINVAL with err. */
int ed_trainer_set_adapter(ed_trainer_t *t, const ed_lora_t *from, char err[ED_ERR_LEN]);

/* The forward and backward pass of one window: tokens[0, n) at positions
 * 0 .. n-1 (n <= seq_len), targets[i] the token expected after tokens[i]
 * (< 0: no loss there). Adds grad_scale * d(loss sum)/d(parameter) to the
 * gradients (so micro-steps accumulate; 1 / tokens counted over the
 * micro-steps of a step gives the mean). *loss_sum: the window's summed
 * loss in nats; *n_counted: its targets >= 0. Returns 0, ED_EINVAL (a token
 * outside the vocabulary, n outside 1 .. seq_len), ED_ECANCELED (the gate;
 * the gradients are then zeroed) with err. */
int ed_trainer_accumulate(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n, float grad_scale,
                          double *loss_sum, int *n_counted, char err[ED_ERR_LEN]);

/* The loss of one window with the current adapter, no gradients (held-out
 * evaluation). Same arguments and returns. */
int ed_trainer_loss(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n, double *loss_sum,
                    int *n_counted, char err[ED_ERR_LEN]);

/* A packed window: several sequences one after another in tokens[0, n),
 * segment i of segment_len[i] tokens (the lengths sum to n). Each segment
 * attends only to itself and has its own positions 0 .. len - 1, so the
 * loss and gradients equal the sums over the segments trained as separate
 * windows (one window costs the frozen weights' dequantization once, however
 * many segments it holds). n_segments 0 (segment_len NULL): one segment of
 * n, as ed_trainer_accumulate and ed_trainer_loss. ED_EINVAL also for
 * lengths below 1 or not summing to n. */
int ed_trainer_accumulate_packed(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n,
                                 const int *segment_len, int n_segments, float grad_scale, double *loss_sum,
                                 int *n_counted, char err[ED_ERR_LEN]);
int ed_trainer_loss_packed(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n,
                           const int *segment_len, int n_segments, double *loss_sum, int *n_counted,
                           char err[ED_ERR_LEN]);

/* One optimizer step with the accumulated gradients: clip, AdamW at the
 * scheduled rate of the next step, step += 1, gradients zeroed. Returns 0 or
 * ED_ECANCELED (nothing changed). */
int ed_trainer_step(ed_trainer_t *t, char err[ED_ERR_LEN]);
void ed_trainer_zero_grad(ed_trainer_t *t);

/* The learning rate of optimizer step `step` (1 = the first) under c. */
float ed_trainer_lr(const ed_trainer_config_t *c, int64_t step);

/* Optimizer steps taken. */
int64_t ed_trainer_steps(const ed_trainer_t *t);
/* The adapter being trained (its pairs are the parameters; valid until the
 * trainer is freed). It can be applied by forward.h as it is. */
const ed_lora_t *ed_trainer_adapter(const ed_trainer_t *t);
/* The accumulated gradients, laid out as the adapter (pairs of the same shapes). */
const ed_lora_t *ed_trainer_grad(const ed_trainer_t *t);
/* The gradient of the last accumulate's loss with respect to the input
 * embeddings (n, n_embd) of its window, before grad_scale (for tests). */
const float *ed_trainer_input_grad(const ed_trainer_t *t);

/* The whole optimizer state, for checkpoints: every parameter, then the
 * first and then the second AdamW moments, in the adapter's pair order.
 * ed_trainer_n_params() floats each; export copies them out, import
 * back (and sets the step count). */
size_t ed_trainer_n_params(const ed_trainer_t *t);
void ed_trainer_state_export(const ed_trainer_t *t, float *params, float *m, float *v);
void ed_trainer_state_import(ed_trainer_t *t, const float *params, const float *m, const float *v, int64_t steps);

/* Time spent in the last window's or step's phases, seconds (benchmarks). */
typedef struct {
    double forward_s, backward_s, optimizer_s;
} ed_trainer_timing_t;
ed_trainer_timing_t ed_trainer_timing(const ed_trainer_t *t);

#endif
