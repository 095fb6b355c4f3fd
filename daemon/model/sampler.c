/* sampler.c - token sampling over preallocated buffers: the transforms of
 * llama.cpp's default chain (bias, penalties, top-k, top-p, min-p,
 * temperature) with a deterministic total order (logit, then lower id) so a
 * seed reproduces exactly; top-k through a k-sized heap and top-p through a
 * probability-weighted quickselect, so no step sorts the whole vocabulary.
 * Stop strings for streaming are matched here too. */
#include "model/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ed_sampler_params_t ed_sampler_defaults(void)
{
    return (ed_sampler_params_t){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = 0,
    };
}

/* ---------------------------------------------------------------- PRNG ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1), 53 random bits. */
static double uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

/* ---------------------------------------------------------- lifecycle ---- */

void ed_sampler_free(ed_sampler_t *sampler)
{
    if (!sampler)
        return;
    free(sampler->candidates);
    free(sampler->probs);
    free(sampler->counts);
    free(sampler->history);
    free(sampler->bias);
    memset(sampler, 0, sizeof *sampler);
}

void ed_sampler_reset(ed_sampler_t *sampler)
{
    if (sampler->counts)
        memset(sampler->counts, 0, (size_t)sampler->n_vocab * sizeof *sampler->counts);
    sampler->history_n = sampler->history_next = 0;
    uint64_t x = sampler->params.seed;
    for (int i = 0; i < 4; i++)
        sampler->rng[i] = splitmix64(&x);
}

int ed_sampler_init(ed_sampler_t *sampler, int32_t n_vocab, const ed_sampler_params_t *params,
                    char err[ED_ERR_LEN])
{
    memset(sampler, 0, sizeof *sampler);
    const ed_sampler_params_t *p = params;
    const char *bad = n_vocab <= 0                                  ? "n_vocab must be positive"
                      : isnan(p->temperature)                        ? "temperature is NaN"
                      : isnan(p->top_p)                              ? "top_p is NaN"
                      : isnan(p->min_p)                              ? "min_p is NaN"
                      : !(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)) ? "repeat_penalty must be positive"
                      : !isfinite(p->presence_penalty)               ? "presence_penalty must be finite"
                      : !isfinite(p->frequency_penalty)              ? "frequency_penalty must be finite"
                      : p->penalty_last_n < 0                        ? "penalty_last_n must be >= 0"
                      : p->n_bias > ED_SAMPLER_MAX_BIAS              ? "too many logit_bias entries"
                                                                     : NULL;
    for (size_t i = 0; !bad && i < p->n_bias; i++)
        if (p->bias[i].token < 0 || p->bias[i].token >= n_vocab || isnan(p->bias[i].bias))
            bad = "logit_bias names a token outside the vocabulary or a NaN bias";
    if (bad) {
        snprintf(err, ED_ERR_LEN, "sampler: %s", bad);
        return ED_EINVAL;
    }
    sampler->params = *params;
    sampler->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab, last_n = (size_t)p->penalty_last_n;
    sampler->candidates = malloc(n * sizeof *sampler->candidates);
    sampler->probs = malloc(n * sizeof *sampler->probs);
    sampler->counts = calloc(n, sizeof *sampler->counts);
    sampler->history = malloc((last_n ? last_n : 1) * sizeof *sampler->history);
    sampler->bias = malloc((p->n_bias ? p->n_bias : 1) * sizeof *sampler->bias);
    if (!sampler->candidates || !sampler->probs || !sampler->counts || !sampler->history || !sampler->bias) {
        ed_sampler_free(sampler);
        snprintf(err, ED_ERR_LEN, "sampler: out of memory for %d tokens", (int)n_vocab);
        return ED_ENOMEM;
    }
    if (p->n_bias)
        memcpy(sampler->bias, p->bias, p->n_bias * sizeof *sampler->bias);
    sampler->params.bias = sampler->bias;
    ed_sampler_reset(sampler);
    return 0;
}

void ed_sampler_accept(ed_sampler_t *sampler, int32_t token)
{
    size_t last_n = (size_t)sampler->params.penalty_last_n;
    if (last_n == 0 || token < 0 || token >= sampler->n_vocab)
        return;
    if (sampler->history_n == last_n)
        sampler->counts[sampler->history[sampler->history_next]]--; /* the oldest leaves the window */
    else
        sampler->history_n++;
    sampler->history[sampler->history_next] = token;
    sampler->history_next = (sampler->history_next + 1) % last_n;
    sampler->counts[token]++;
}

/* --------------------------------------------------------- transforms ---- */

/* The total order of candidates: higher logit first, then lower id. */
static bool better(const ed_candidate_t *a, const ed_candidate_t *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int compare_better(const void *a, const void *b)
{
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static void swap(ed_candidate_t *a, ed_candidate_t *b)
{
    ed_candidate_t t = *a;
    *a = *b;
    *b = t;
}

/* Moves the better candidates of data[lo, hi) before a median-of-three
 * pivot; returns where the pivot ends up. */
static size_t partition(ed_candidate_t *data, size_t lo, size_t hi)
{
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (better(&data[mid], &data[lo]))
        swap(&data[mid], &data[lo]);
    if (better(&data[last], &data[lo]))
        swap(&data[last], &data[lo]);
    if (better(&data[mid], &data[last]))
        swap(&data[mid], &data[last]); /* the median now sits at `last` */
    size_t store = lo;
    for (size_t i = lo; i < last; i++)
        if (better(&data[i], &data[last]))
            swap(&data[i], &data[store++]);
    swap(&data[store], &data[last]);
    return store;
}

/* Restores the heap below i: every parent ranks after its children, so the
 * root is the worst of the heap. */
static void sift_down(ed_candidate_t *heap, size_t n, size_t i)
{
    for (;;) {
        size_t worst = i, left = 2 * i + 1, right = left + 1;
        if (left < n && better(&heap[worst], &heap[left]))
            worst = left;
        if (right < n && better(&heap[worst], &heap[right]))
            worst = right;
        if (worst == i)
            return;
        swap(&heap[i], &heap[worst]);
        i = worst;
    }
}

/* Leaves the k best first, sorted: a heap of the best k seen so far kept in
 * data[0, k), which most candidates fail to enter in one comparison. */
static void sort_best(ed_candidates_t *cands, size_t k)
{
    ed_candidate_t *heap = cands->data;
    for (size_t i = k / 2; i-- > 0;)
        sift_down(heap, k, i);
    for (size_t i = k; i < cands->n; i++)
        if (better(&cands->data[i], &heap[0])) {
            swap(&cands->data[i], &heap[0]);
            sift_down(heap, k, 0);
        }
    qsort(heap, k, sizeof *heap, compare_better);
}

void ed_sampler_apply_penalties(const ed_sampler_t *sampler, ed_candidates_t *cands)
{
    const ed_sampler_params_t *p = &sampler->params;
    if (sampler->history_n == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return;
    for (size_t i = 0; i < cands->n; i++) {
        int32_t count = sampler->counts[cands->data[i].id];
        if (count == 0)
            continue;
        float *logit = &cands->data[i].logit;
        /* Dividing a negative logit would raise it: multiply instead (llama.cpp). */
        if (*logit <= 0.0f)
            *logit *= p->repeat_penalty;
        else
            *logit /= p->repeat_penalty;
        *logit -= (float)count * p->frequency_penalty + p->presence_penalty;
    }
    cands->sorted = false;
}

void ed_sampler_top_k(ed_candidates_t *cands, int32_t k)
{
    if (k <= 0 || (size_t)k >= cands->n)
        return;
    sort_best(cands, (size_t)k);
    cands->n = (size_t)k;
    cands->sorted = true;
}

void ed_sampler_softmax(const ed_candidates_t *cands, float *probs)
{
    float max = -INFINITY;
    for (size_t i = 0; i < cands->n; i++)
        if (cands->data[i].logit > max)
            max = cands->data[i].logit;
    if (max == -INFINITY) { /* everything banned: spread evenly */
        for (size_t i = 0; i < cands->n; i++)
            probs[i] = 1.0f / (float)cands->n;
        return;
    }
    double sum = 0.0;
    for (size_t i = 0; i < cands->n; i++) {
        probs[i] = expf(cands->data[i].logit - max);
        sum += probs[i];
    }
    for (size_t i = 0; i < cands->n; i++)
        probs[i] = (float)(probs[i] / sum);
}

void ed_sampler_top_p(ed_candidates_t *cands, float p)
{
    if (p >= 1.0f || cands->n <= 1)
        return;
    ed_candidate_t *data = cands->data;
    float max = -INFINITY;
    for (size_t i = 0; i < cands->n; i++)
        if (data[i].logit > max)
            max = data[i].logit;
    if (max == -INFINITY)
        return;
    double total = 0.0; /* weights exp(logit - max); probabilities are weight / total */
    for (size_t i = 0; i < cands->n; i++)
        total += expf(data[i].logit - max);
    double need = (double)p * total;
    if (cands->sorted) {
        /* After top-k: the running sum, as llama.cpp takes it. */
        double cumulative = 0.0;
        for (size_t i = 0; i < cands->n; i++) {
            cumulative += expf(data[i].logit - max);
            if (cumulative >= need) {
                cands->n = i + 1; /* the token that crosses p stays */
                return;
            }
        }
        return; /* rounding kept the sum below p: keep all */
    }
    /* Unsorted: a quickselect that weighs mass finds the smallest best set
     * reaching p in O(n), without sorting a nucleus that may be large. The
     * cut always lies in data[lo, hi); everything before lo is kept. */
    size_t lo = 0, hi = cands->n, kept = 0;
    while (lo < hi) {
        if (hi - lo == 1) {
            kept = hi;
            break;
        }
        size_t pivot = partition(data, lo, hi);
        double better_mass = 0.0;
        for (size_t i = lo; i < pivot; i++)
            better_mass += expf(data[i].logit - max);
        if (better_mass >= need) {
            hi = pivot;
            continue;
        }
        double with_pivot = better_mass + expf(data[pivot].logit - max);
        if (with_pivot >= need) {
            kept = pivot + 1;
            break;
        }
        need -= with_pivot;
        lo = pivot + 1;
    }
    if (lo == hi)
        kept = lo > 0 ? lo : 1; /* all (rounding), or p <= 0: the best alone */
    cands->n = kept;
}

void ed_sampler_min_p(ed_candidates_t *cands, float min_p)
{
    if (min_p <= 0.0f || cands->n <= 1)
        return;
    float max = -INFINITY;
    for (size_t i = 0; i < cands->n; i++)
        if (cands->data[i].logit > max)
            max = cands->data[i].logit;
    const float threshold = max + logf(min_p); /* p_i >= min_p * p_max, in logits */
    size_t kept = 0;
    for (size_t i = 0; i < cands->n; i++)
        if (cands->data[i].logit >= threshold || cands->data[i].logit == max)
            cands->data[kept++] = cands->data[i];
    cands->n = kept;
}

void ed_sampler_temperature(ed_candidates_t *cands, float temperature)
{
    for (size_t i = 0; i < cands->n; i++)
        cands->data[i].logit /= temperature;
}

/* ------------------------------------------------------------- sample ---- */

int32_t ed_sampler_sample(ed_sampler_t *sampler, const float *logits)
{
    const ed_sampler_params_t *p = &sampler->params;
    ed_candidates_t cands = {sampler->candidates, (size_t)sampler->n_vocab, false};
    for (int32_t i = 0; i < sampler->n_vocab; i++)
        cands.data[i] = (ed_candidate_t){i, isnan(logits[i]) ? -INFINITY : logits[i]};
    for (size_t i = 0; i < p->n_bias; i++)
        cands.data[p->bias[i].token].logit += p->bias[i].bias; /* ids equal indexes until sorted */
    ed_sampler_apply_penalties(sampler, &cands);

    if (p->temperature <= 0.0f) {
        size_t best = 0;
        for (size_t i = 1; i < cands.n; i++)
            if (better(&cands.data[i], &cands.data[best]))
                best = i;
        return cands.data[best].id;
    }
    ed_sampler_top_k(&cands, p->top_k);
    ed_sampler_top_p(&cands, p->top_p);
    ed_sampler_min_p(&cands, p->min_p);
    ed_sampler_temperature(&cands, p->temperature);
    ed_sampler_softmax(&cands, sampler->probs);

    double target = uniform(sampler->rng), cumulative = 0.0;
    for (size_t i = 0; i < cands.n; i++) {
        cumulative += sampler->probs[i];
        if (target < cumulative)
            return cands.data[i].id;
    }
    return cands.data[cands.n - 1].id; /* rounding left the sum just below 1 */
}

/* -------------------------------------------------------- stop strings ---- */

/* How many bytes at the end of text[0, len) start a UTF-8 character that
 * the text does not finish. */
static size_t cut_character(const char *text, size_t len)
{
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = (unsigned char)text[len - back];
        if ((c & 0xc0) == 0x80)
            continue; /* a continuation byte: look further back */
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

ed_stop_match_t ed_sampler_find_stop(const char *const *stops, size_t n_stops, const char *text,
                                     size_t len, size_t checked)
{
    ed_stop_match_t result = {false, 0, len};
    size_t longest = 0;
    for (size_t s = 0; s < n_stops; s++) {
        size_t n = strlen(stops[s]);
        longest = n > longest ? n : longest;
    }
    if (checked > len)
        checked = len;
    /* A stop string that ends past `checked` starts at most longest-1 before it. */
    size_t from = checked >= longest ? checked - longest + 1 : 0;
    for (size_t s = 0; s < n_stops; s++) {
        size_t n = strlen(stops[s]);
        if (n == 0 || n > len - from)
            continue;
        const char *found = memmem(text + from, len - from, stops[s], n);
        if (found && (!result.matched || (size_t)(found - text) < result.match_at)) {
            result.matched = true;
            result.match_at = (size_t)(found - text);
        }
    }
    if (result.matched) {
        result.safe_len = result.match_at;
        return result;
    }
    /* Hold back the longest tail that begins some stop string. */
    size_t hold = 0;
    for (size_t s = 0; s < n_stops; s++) {
        size_t n = strlen(stops[s]);
        if (n == 0)
            continue;
        for (size_t k = n - 1 < len ? n - 1 : len; k > hold; k--)
            if (memcmp(text + len - k, stops[s], k) == 0) {
                hold = k;
                break;
            }
    }
    result.safe_len = len - hold;
    result.safe_len -= cut_character(text, result.safe_len);
    return result;
}
