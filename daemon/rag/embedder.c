/* embedder.c - the embedder interface's shared part and the built-in hash
 * embedder (feature-hashed word and character n-grams, see embedder.h for
 * the exact recipe). Model-based embedders live in their own files behind
 * the same ed_embedder_ops_t. */
#include "rag/embedder.h"

#include "kernels/kernels.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ed_embedder_free(ed_embedder_t *e)
{
    if (e)
        e->ops->free(e);
}

/* ------------------------------------------------------------- hash ---- */

/* The reference kernels' table, not the CPU's: its sum of squares runs in
 * one order on every machine, which keeps the vectors the same everywhere. */
typedef struct {
    ed_embedder_t base;
    const ed_kernels_t *kernels; /* "ref" */
} hash_embedder_t;

enum { HASH_WORD_MAX = 64 }; /* bytes of a word that feed its character n-grams */

#define WEIGHT_WORD 1.0
#define WEIGHT_FUNCTION_WORD 0.1 /* "the", "my", ...: present, but hardly telling */
#define WEIGHT_BIGRAM 0.5
#define WEIGHT_CHARGRAM 0.2

/* Feature kinds, hashed in first so equal strings of different kinds differ. */
enum { FEATURE_WORD = 'w', FEATURE_BIGRAM = 'b', FEATURE_CHARGRAM = 'c' };

static const char *const FUNCTION_WORDS[] = {
    "a",     "an",    "the",   "and",   "or",    "but",   "of",    "to",    "in",    "on",    "at",
    "for",   "with",  "by",    "from",  "as",    "is",    "are",   "was",   "were",  "be",    "been",
    "being", "it",    "its",   "this",  "that",  "these", "those", "i",     "me",    "my",    "mine",
    "we",    "us",    "our",   "you",   "your",  "he",    "him",   "his",   "she",   "her",   "they",
    "them",  "their", "what",  "when",  "where", "which", "who",   "whom",  "why",   "how",   "do",
    "does",  "did",   "have",  "has",   "had",   "will",  "would", "can",   "could", "should", "shall",
    "may",   "might", "must",  "not",   "no",    "so",    "if",    "then",  "than",  "there", "here",
    "about", "into",  "over",  "up",    "out",   "just",  "also",  "very",  "all",   "any",   "some",
    "each",  "more",  "most",  "other", "such",  "only",  "same",  "too",   "s",     "t",
    "get",   "got",   "again", "ever",  "much",  "many",  "don",   "doesn", "didn",  "am",
};

static bool is_function_word(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof FUNCTION_WORDS / sizeof FUNCTION_WORDS[0]; i++)
        if (strlen(FUNCTION_WORDS[i]) == n && memcmp(FUNCTION_WORDS[i], w, n) == 0)
            return true;
    return false;
}

typedef struct {
    uint64_t h;
} fnv_t;

static void fnv_init(fnv_t *f, char kind)
{
    f->h = 0xcbf29ce484222325ull;
    f->h = (f->h ^ (unsigned char)kind) * 0x100000001b3ull;
}

static void fnv_add(fnv_t *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        f->h = (f->h ^ (unsigned char)s[i]) * 0x100000001b3ull;
}

/* Adds `weight` to the feature's bucket with the feature's sign. */
static void add_feature(double *acc, uint64_t h, double weight)
{
    h ^= h >> 33; /* murmur3's fmix64: spreads FNV's weak low bits */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    uint32_t bucket = (uint32_t)(((h >> 32) * ED_EMBEDDER_HASH_DIM) >> 32);
    acc[bucket] += (h & 1) ? -weight : weight;
}

static bool is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static int hash_embed(ed_embedder_t *self, const char *text, size_t len, float *out, int *n_tokens)
{
    int n_words = 0;
    double acc[ED_EMBEDDER_HASH_DIM] = {0};
    char word[HASH_WORD_MAX + 2], prev[HASH_WORD_MAX];
    size_t prev_len = 0;
    bool prev_content = false; /* the previous word exists and is no function word */
    size_t i = 0;
    while (i < len) {
        if (!is_word_byte((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && is_word_byte((unsigned char)text[i]))
            i++;
        size_t n = i - start < HASH_WORD_MAX ? i - start : HASH_WORD_MAX;
        if (n_words < INT_MAX)
            n_words++;
        word[0] = '<';
        for (size_t k = 0; k < n; k++) {
            char c = text[start + k];
            word[k + 1] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        word[n + 1] = '>';
        const char *lower = word + 1;
        bool content = !is_function_word(lower, n);

        fnv_t f;
        fnv_init(&f, FEATURE_WORD);
        fnv_add(&f, lower, n);
        add_feature(acc, f.h, content ? WEIGHT_WORD : WEIGHT_FUNCTION_WORD);
        if (content && prev_content) {
            fnv_init(&f, FEATURE_BIGRAM);
            fnv_add(&f, prev, prev_len);
            fnv_add(&f, " ", 1);
            fnv_add(&f, lower, n);
            add_feature(acc, f.h, WEIGHT_BIGRAM);
        }
        if (content) {
            size_t marked = n + 2;
            for (size_t gram = 3; gram <= 5; gram++)
                for (size_t k = 0; k + gram <= marked; k++) {
                    fnv_init(&f, FEATURE_CHARGRAM);
                    fnv_add(&f, word + k, gram);
                    add_feature(acc, f.h, WEIGHT_CHARGRAM);
                }
        }
        memcpy(prev, lower, n);
        prev_len = n;
        prev_content = content;
    }
    for (int d = 0; d < ED_EMBEDDER_HASH_DIM; d++) {
        double v = acc[d];
        out[d] = (float)(v < 0 ? -log1p(-v) : log1p(v));
    }
    ((const hash_embedder_t *)self)->kernels->l2_normalize(out, ED_EMBEDDER_HASH_DIM);
    if (n_tokens)
        *n_tokens = n_words;
    return 0;
}

static void hash_free(ed_embedder_t *self)
{
    free(self);
}

static const ed_embedder_ops_t HASH_OPS = {.embed = hash_embed, .free = hash_free};

int ed_embedder_hash_init(ed_embedder_t **out, char err[ED_ERR_LEN])
{
    const ed_kernels_t *kernels = ed_kernels_by_name("ref");
    if (!kernels)
        return ed_errf(err, ED_EUNSUPPORTED, "the reference kernels are missing from this build");
    hash_embedder_t *h = calloc(1, sizeof *h);
    if (!h)
        return ed_errf(err, ED_ENOMEM, "out of memory creating the hash embedder");
    ed_embedder_t *e = &h->base;
    e->ops = &HASH_OPS;
    snprintf(e->name, sizeof e->name, "%s", ED_EMBEDDER_HASH_NAME);
    e->dim = ED_EMBEDDER_HASH_DIM;
    h->kernels = kernels;
    *out = e;
    return 0;
}
