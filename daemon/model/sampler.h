/* sampler.h - picks the next token from a row of logits: logit bias,
 * repetition / presence / frequency penalties over the last N tokens, then
 * top-k, top-p, min-p and temperature (llama.cpp's order), then a draw from a
 * seeded per-sampler PRNG (xoshiro256**), or the argmax when greedy. All
 * memory is allocated at init; sampling allocates nothing. Also: stop-string
 * matching for streamed text. A sampler belongs to one thread at a time. */
#ifndef ED_MODEL_SAMPLER_H
#define ED_MODEL_SAMPLER_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ED_SAMPLER_MAX_BIAS 1024 /* logit-bias entries, at most */

typedef struct {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
} ed_logit_bias_t;

typedef struct {
    float temperature;       /* <= 0: greedy (argmax after bias and penalties) */
    int32_t top_k;           /* keep the k most likely; <= 0: off */
    float top_p;             /* keep the smallest set whose probability reaches p; >= 1: off */
    float min_p;             /* drop tokens less likely than min_p times the best; <= 0: off */
    float repeat_penalty;    /* divide positive (multiply negative) logits of recent tokens; 1: off */
    float presence_penalty;  /* subtracted once from recent tokens' logits; 0: off */
    float frequency_penalty; /* subtracted per occurrence among recent tokens; 0: off */
    int32_t penalty_last_n;  /* how many recent tokens the penalties look at; 0: none */
    uint64_t seed;           /* same seed, same logits, same tokens */
    const ed_logit_bias_t *bias; /* copied at init */
    size_t n_bias;
} ed_sampler_params_t;

/* One candidate token during sampling. */
typedef struct {
    int32_t id;
    float logit;
} ed_candidate_t;

/* The candidates still in the running; `sorted`: by logit, highest first. */
typedef struct {
    ed_candidate_t *data;
    size_t n;
    bool sorted;
} ed_candidates_t;

typedef struct ed_sampler {
    ed_sampler_params_t params; /* params.bias points at `bias` below */
    int32_t n_vocab;
    ed_candidate_t *candidates; /* (n_vocab) the working set of one draw */
    float *probs;               /* (n_vocab) scratch for softmax */
    int32_t *counts;            /* (n_vocab) occurrences of each token in history */
    int32_t *history;           /* (penalty_last_n) ring of the latest accepted tokens */
    size_t history_n;           /* tokens in the ring, <= penalty_last_n */
    size_t history_next;        /* where the next accepted token goes */
    ed_logit_bias_t *bias;      /* (params.n_bias) */
    uint64_t rng[4];            /* xoshiro256** state */
} ed_sampler_t;

/* llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05,
 * no penalties (last 64 tokens when enabled), seed 0. */
ed_sampler_params_t ed_sampler_defaults(void);

/* Sets up `sampler` for a vocabulary of n_vocab tokens. Returns 0, or
 * ED_EINVAL (a parameter out of range, named in `err`) / ED_ENOMEM. */
int ed_sampler_init(ed_sampler_t *sampler, int32_t n_vocab, const ed_sampler_params_t *params,
                    char err[ED_ERR_LEN]);
/* Accepts a zeroed or half-built sampler. */
void ed_sampler_free(ed_sampler_t *sampler);
/* Forgets the history and restarts the PRNG from the seed. */
void ed_sampler_reset(ed_sampler_t *sampler);
/* Records a token (of the prompt or generated) for the penalties. */
void ed_sampler_accept(ed_sampler_t *sampler, int32_t token);
/* The next token for `logits` (n_vocab floats, left unchanged). Does not
 * record it: call ed_sampler_accept with the token kept. */
int32_t ed_sampler_sample(ed_sampler_t *sampler, const float *logits);

/* The transforms, in the order sample applies them, each on a candidate set
 * (exposed for tests and for callers that chain their own). */
void ed_sampler_apply_penalties(const ed_sampler_t *sampler, ed_candidates_t *cands);
void ed_sampler_top_k(ed_candidates_t *cands, int32_t k);
void ed_sampler_top_p(ed_candidates_t *cands, float p);
void ed_sampler_min_p(ed_candidates_t *cands, float min_p);
void ed_sampler_temperature(ed_candidates_t *cands, float temperature);
/* Softmax of the candidates' logits into probs[0, n). */
void ed_sampler_softmax(const ed_candidates_t *cands, float *probs);

/* Stop strings over streamed text. */
typedef struct {
    bool matched;    /* a stop string occurs in the text */
    size_t match_at; /* where the earliest one starts, when matched */
    size_t safe_len; /* text[0, safe_len) can be sent: it holds no stop string,
                        no start of one that later tokens may complete, and no
                        cut UTF-8 character; equals match_at when matched */
} ed_stop_match_t;

/* Looks for `stops` (empty strings ignored) in text[0, len). `checked`: a
 * length of the same text already looked at without a match (0 the first
 * time), so only the part where a match could newly end is searched again. */
ed_stop_match_t ed_sampler_find_stop(const char *const *stops, size_t n_stops, const char *text,
                                     size_t len, size_t checked);

#endif
