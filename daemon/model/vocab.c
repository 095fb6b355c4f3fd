/* vocab.c - loads a vocabulary from GGUF `tokenizer.*` metadata and builds its
 * lookups: an open-addressing hash of token texts and one of BPE merge pairs
 * (both pointing into the reader's mapping), the byte-token table and the
 * special tokens the tokenizer must find in text. Defaults for absent keys
 * follow llama.cpp, whose converters wrote the files. */
#include "model/vocab.h"

#include "model/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text; /* "left right", into the mapping */
    uint32_t left_len, right_len;
} merge_t;

struct ed__vocab_index {
    int32_t *token_slots; /* (token_mask + 1) ids; ED_TOKEN_NONE = empty */
    uint64_t token_mask;
    int32_t *merge_slots; /* (merge_mask + 1) ranks; -1 = empty */
    uint64_t merge_mask;
    merge_t *merges; /* (n_merges), index = rank */
    size_t n_merges;
};

/* Texts of tokens that end a turn in the common chat formats (llama.cpp's list). */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>",
};

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_update(uint64_t hash, const char *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ (unsigned char)bytes[i]) * FNV_PRIME;
    return hash;
}

static uint64_t merge_hash(const char *left, size_t left_len, const char *right, size_t right_len)
{
    uint64_t hash = fnv_update(FNV_OFFSET, left, left_len);
    hash = (hash ^ 0xffu) * FNV_PRIME; /* a byte no UTF-8 text holds: "ab"+"c" != "a"+"bc" */
    return fnv_update(hash, right, right_len);
}

/* The smallest power of two at least twice n, so probes stay short. */
static uint64_t table_size(uint64_t n)
{
    uint64_t size = 16;
    while (size < 2 * n)
        size *= 2;
    return size;
}

int32_t ed_vocab_find(const ed_vocab_t *vocab, const char *text, size_t len)
{
    const ed__vocab_index_t *index = vocab->index;
    for (uint64_t slot = fnv_update(FNV_OFFSET, text, len) & index->token_mask;;
         slot = (slot + 1) & index->token_mask) {
        int32_t id = index->token_slots[slot];
        if (id == ED_TOKEN_NONE)
            return ED_TOKEN_NONE;
        if (vocab->text[id].len == len && memcmp(vocab->text[id].ptr, text, len) == 0)
            return id;
    }
}

int32_t ed_vocab_merge_rank(const ed_vocab_t *vocab, const char *left, size_t left_len,
                            const char *right, size_t right_len)
{
    const ed__vocab_index_t *index = vocab->index;
    if (!index->merge_slots)
        return -1;
    for (uint64_t slot = merge_hash(left, left_len, right, right_len) & index->merge_mask;;
         slot = (slot + 1) & index->merge_mask) {
        int32_t rank = index->merge_slots[slot];
        if (rank < 0)
            return -1;
        const merge_t *merge = &index->merges[rank];
        if (merge->left_len == left_len && merge->right_len == right_len &&
            memcmp(merge->text, left, left_len) == 0 &&
            memcmp(merge->text + left_len + 1, right, right_len) == 0)
            return rank;
    }
}

bool ed_vocab_is_eog(const ed_vocab_t *vocab, int32_t id)
{
    if (id == ED_TOKEN_NONE)
        return false;
    for (size_t i = 0; i < vocab->n_eog; i++)
        if (vocab->eog[i] == id)
            return true;
    return false;
}

void ed_vocab_free(ed_vocab_t *vocab)
{
    if (!vocab)
        return;
    if (vocab->index) {
        free(vocab->index->token_slots);
        free(vocab->index->merge_slots);
        free(vocab->index->merges);
        free(vocab->index);
    }
    ed_pretok_free(vocab->pretok);
    free(vocab->special);
    free(vocab->type);
    free(vocab->score);
    free(vocab->text);
    free(vocab);
}

/* Reads an array key that must hold `n` elements of `type`; absent is fine
 * (returns ED_ENOENT). */
static int get_array(const ed_gguf_t *gguf, const char *key, ed_gguf_vtype_t type, uint64_t n,
                     ed_gguf_arr_t *arr, char err[ED_ERR_LEN])
{
    int rc = ed_gguf_get_arr(gguf, key, arr);
    if (rc == ED_ENOENT)
        return rc;
    if (rc < 0 || arr->type != type || (n && arr->n != n)) {
        snprintf(err, ED_ERR_LEN, "%s: expected an array of %llu elements of type %d", key,
                 (unsigned long long)n, (int)type);
        return ED_EFORMAT;
    }
    return 0;
}

static int load_tokens(ed_vocab_t *vocab, const ed_gguf_t *gguf, char err[ED_ERR_LEN])
{
    ed_gguf_arr_t arr;
    int rc = get_array(gguf, "tokenizer.ggml.tokens", ED_GGUF_STRING, 0, &arr, err);
    if (rc == ED_ENOENT)
        snprintf(err, ED_ERR_LEN, "tokenizer.ggml.tokens: missing");
    if (rc < 0)
        return rc == ED_ENOENT ? ED_EFORMAT : rc;
    if (arr.n == 0 || arr.n > (uint64_t)INT32_MAX) {
        snprintf(err, ED_ERR_LEN, "tokenizer.ggml.tokens: %llu tokens, expected 1 to 2^31-1",
                 (unsigned long long)arr.n);
        return ED_EFORMAT;
    }
    vocab->n_tokens = (int32_t)arr.n;
    size_t n = (size_t)arr.n;
    vocab->text = calloc(n, sizeof *vocab->text);
    vocab->score = calloc(n, sizeof *vocab->score);
    vocab->type = malloc(n);
    if (!vocab->text || !vocab->score || !vocab->type)
        goto no_memory;
    memset(vocab->type, ED_TOKEN_NORMAL, n);
    for (size_t i = 0; i < n; i++)
        if ((rc = ed_gguf_arr_str(&arr, i, &vocab->text[i])) < 0) {
            snprintf(err, ED_ERR_LEN, "tokenizer.ggml.tokens[%zu]: unreadable", i);
            return ED_EFORMAT;
        }
    for (size_t i = 0; i < n; i++)
        if (vocab->text[i].len > vocab->max_token_len)
            vocab->max_token_len = (size_t)vocab->text[i].len;

    ed_gguf_arr_t scores;
    rc = get_array(gguf, "tokenizer.ggml.scores", ED_GGUF_FLOAT32, n, &scores, err);
    if (rc < 0 && rc != ED_ENOENT)
        return rc;
    if (rc == 0)
        memcpy(vocab->score, scores.data, n * sizeof(float)); /* packed little-endian f32 */

    ed_gguf_arr_t types;
    rc = get_array(gguf, "tokenizer.ggml.token_type", ED_GGUF_INT32, n, &types, err);
    if (rc < 0 && rc != ED_ENOENT)
        return rc;
    if (rc == 0)
        for (size_t i = 0; i < n; i++) {
            int32_t type;
            memcpy(&type, (const char *)types.data + i * sizeof type, sizeof type);
            vocab->type[i] = (uint8_t)(type >= 0 && type <= ED_TOKEN_BYTE ? type : ED_TOKEN_UNDEFINED);
        }

    ed__vocab_index_t *index = vocab->index;
    uint64_t size = table_size(n);
    index->token_mask = size - 1;
    index->token_slots = malloc(size * sizeof *index->token_slots);
    if (!index->token_slots)
        goto no_memory;
    memset(index->token_slots, 0xff, size * sizeof *index->token_slots); /* ED_TOKEN_NONE */
    for (int32_t id = 0; id < vocab->n_tokens; id++) {
        const ed_str_t text = vocab->text[id];
        if (text.len == 0)
            continue;
        uint64_t slot = fnv_update(FNV_OFFSET, text.ptr, text.len) & index->token_mask;
        for (;; slot = (slot + 1) & index->token_mask) {
            int32_t other = index->token_slots[slot];
            if (other == ED_TOKEN_NONE ||
                (vocab->text[other].len == text.len && memcmp(vocab->text[other].ptr, text.ptr, text.len) == 0))
                break;
        }
        index->token_slots[slot] = id; /* a later duplicate replaces the earlier one */
    }
    return 0;
no_memory:
    snprintf(err, ED_ERR_LEN, "vocabulary of %zu tokens: out of memory", n);
    return ED_ENOMEM;
}

static int load_merges(ed_vocab_t *vocab, const ed_gguf_t *gguf, char err[ED_ERR_LEN])
{
    ed_gguf_arr_t arr;
    int rc = get_array(gguf, "tokenizer.ggml.merges", ED_GGUF_STRING, 0, &arr, err);
    if (rc == ED_ENOENT)
        snprintf(err, ED_ERR_LEN, "tokenizer.ggml.merges: missing (required by gpt2 vocabularies)");
    if (rc < 0)
        return rc == ED_ENOENT ? ED_EFORMAT : rc;
    if (arr.n > (uint64_t)INT32_MAX) {
        snprintf(err, ED_ERR_LEN, "tokenizer.ggml.merges: %llu merges, too many", (unsigned long long)arr.n);
        return ED_EFORMAT;
    }
    ed__vocab_index_t *index = vocab->index;
    size_t n = (size_t)arr.n;
    uint64_t size = table_size(n);
    index->merges = calloc(n ? n : 1, sizeof *index->merges);
    index->merge_slots = malloc(size * sizeof *index->merge_slots);
    if (!index->merges || !index->merge_slots) {
        snprintf(err, ED_ERR_LEN, "tokenizer.ggml.merges: out of memory");
        return ED_ENOMEM;
    }
    index->merge_mask = size - 1;
    memset(index->merge_slots, 0xff, size * sizeof *index->merge_slots);
    for (size_t i = 0; i < n; i++) {
        ed_str_t line;
        if (ed_gguf_arr_str(&arr, i, &line) < 0) {
            snprintf(err, ED_ERR_LEN, "tokenizer.ggml.merges[%zu]: unreadable", i);
            return ED_EFORMAT;
        }
        /* "left right", split at the first space after the first byte. */
        const char *space = line.len > 1 ? memchr(line.ptr + 1, ' ', line.len - 1) : NULL;
        if (!space || line.len > UINT32_MAX) {
            snprintf(err, ED_ERR_LEN, "tokenizer.ggml.merges[%zu]: expected \"left right\"", i);
            return ED_EFORMAT;
        }
        merge_t merge = {line.ptr, (uint32_t)(space - line.ptr), (uint32_t)(line.len - (size_t)(space - line.ptr) - 1)};
        const char *right = merge.text + merge.left_len + 1;
        uint64_t slot = merge_hash(merge.text, merge.left_len, right, merge.right_len) & index->merge_mask;
        bool duplicate = false;
        for (;; slot = (slot + 1) & index->merge_mask) {
            int32_t other = index->merge_slots[slot];
            if (other < 0)
                break;
            const merge_t *o = &index->merges[other];
            if (o->left_len == merge.left_len && o->right_len == merge.right_len &&
                memcmp(o->text, merge.text, line.len) == 0) {
                duplicate = true; /* the first (lowest) rank stays */
                break;
            }
        }
        index->merges[i] = merge;
        if (!duplicate)
            index->merge_slots[slot] = (int32_t)i;
    }
    index->n_merges = n;
    return 0;
}

/* An optional token-id key: absent, negative, or naming no token of this
 * vocabulary (llama.cpp only warns), keeps *id; a value that is not an
 * integer is an error. */
static int get_id(const ed_gguf_t *gguf, const ed_vocab_t *vocab, const char *key, int32_t *id,
                  char err[ED_ERR_LEN])
{
    uint64_t value;
    int32_t negative;
    int rc = ed_gguf_get_u64(gguf, key, &value);
    if (rc == ED_ENOENT || (rc < 0 && ed_gguf_get_i32(gguf, key, &negative) == 0))
        return 0; /* absent, or negative: "no such token" */
    if (rc < 0) {
        snprintf(err, ED_ERR_LEN, "%s: expected a token id", key);
        return ED_EFORMAT;
    }
    if (value < (uint64_t)vocab->n_tokens)
        *id = (int32_t)value;
    return 0;
}

static int get_flag(const ed_gguf_t *gguf, const char *key, bool *flag, char err[ED_ERR_LEN])
{
    int rc = ed_gguf_get_bool(gguf, key, flag);
    if (rc == ED_ENOENT)
        return 0;
    if (rc < 0)
        snprintf(err, ED_ERR_LEN, "%s: expected a bool", key);
    return rc;
}

static int load_special_ids(ed_vocab_t *vocab, const ed_gguf_t *gguf, char err[ED_ERR_LEN])
{
    static const struct {
        const char *key;
        size_t field;
    } IDS[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(ed_vocab_t, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(ed_vocab_t, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(ed_vocab_t, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(ed_vocab_t, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(ed_vocab_t, unk)},
        {"tokenizer.ggml.seperator_token_id", offsetof(ed_vocab_t, sep)}, /* sic: the GGUF key's spelling */
        {"tokenizer.ggml.padding_token_id", offsetof(ed_vocab_t, pad)},
    };
    int rc;
    for (size_t i = 0; i < sizeof IDS / sizeof IDS[0]; i++)
        if ((rc = get_id(gguf, vocab, IDS[i].key, (int32_t *)((char *)vocab + IDS[i].field), err)) < 0)
            return rc;
    /* WordPiece begins with [CLS], which its files name cls_token_id. */
    if (vocab->kind == ED_VOCAB_WPM &&
        (rc = get_id(gguf, vocab, "tokenizer.ggml.cls_token_id", &vocab->bos, err)) < 0)
        return rc;
    if ((rc = get_flag(gguf, "tokenizer.ggml.add_bos_token", &vocab->add_bos, err)) < 0 ||
        (rc = get_flag(gguf, "tokenizer.ggml.add_eos_token", &vocab->add_eos, err)) < 0 ||
        (rc = get_flag(gguf, "tokenizer.ggml.add_sep_token", &vocab->add_sep, err)) < 0 ||
        (rc = get_flag(gguf, "tokenizer.ggml.add_space_prefix", &vocab->add_space_prefix, err)) < 0)
        return rc;
    vocab->add_bos = vocab->add_bos && vocab->bos != ED_TOKEN_NONE;
    vocab->add_eos = vocab->add_eos && vocab->eos != ED_TOKEN_NONE;
    vocab->add_sep = vocab->add_sep && vocab->sep != ED_TOKEN_NONE;

    /* End of generation: the declared ids, and the turn-ending tokens of chat
     * formats, which are control tokens whatever the file says. */
    const int32_t declared[] = {vocab->eos, vocab->eot, vocab->eom};
    for (size_t i = 0; i < sizeof declared / sizeof declared[0]; i++)
        if (declared[i] != ED_TOKEN_NONE && !ed_vocab_is_eog(vocab, declared[i]))
            vocab->eog[vocab->n_eog++] = declared[i];
    for (size_t i = 0; i < sizeof EOG_TEXTS / sizeof EOG_TEXTS[0]; i++) {
        int32_t id = ed_vocab_find(vocab, EOG_TEXTS[i], strlen(EOG_TEXTS[i]));
        if (id == ED_TOKEN_NONE)
            continue;
        vocab->type[id] = ED_TOKEN_CONTROL;
        if (!ed_vocab_is_eog(vocab, id) && vocab->n_eog < ED_VOCAB_MAX_EOG)
            vocab->eog[vocab->n_eog++] = id;
        if (vocab->eot == ED_TOKEN_NONE && id != vocab->eos)
            vocab->eot = id;
    }
    return 0;
}

static void load_byte_tokens(ed_vocab_t *vocab)
{
    static const char HEX[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        int32_t id = ED_TOKEN_NONE;
        if (vocab->kind == ED_VOCAB_SPM) {
            const char name[6] = {'<', '0', 'x', HEX[b >> 4], HEX[b & 15], '>'};
            id = ed_vocab_find(vocab, name, sizeof name);
            if (id == ED_TOKEN_NONE) {
                const char raw = (char)b;
                id = ed_vocab_find(vocab, &raw, 1);
            }
        } else if (vocab->kind == ED_VOCAB_BPE) {
            char utf8[2];
            size_t len = ed__bpe_byte_char((unsigned char)b, utf8);
            id = ed_vocab_find(vocab, utf8, len);
        }
        vocab->byte_token[b] = id;
    }
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool is_special_type(uint8_t type)
{
    return type == ED_TOKEN_CONTROL || type == ED_TOKEN_USER_DEFINED || type == ED_TOKEN_UNKNOWN;
}

/* The tokens the tokenizer looks for in text, longest first (then lower id),
 * so that a longer token wins over one it contains. */
static int load_special_list(ed_vocab_t *vocab, char err[ED_ERR_LEN])
{
    size_t n = 0;
    for (int32_t id = 0; id < vocab->n_tokens; id++)
        n += vocab->text[id].len > 0 && is_special_type(vocab->type[id]);
    uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
    vocab->special = malloc((n ? n : 1) * sizeof *vocab->special);
    if (!keys || !vocab->special) {
        free(keys);
        snprintf(err, ED_ERR_LEN, "special tokens: out of memory");
        return ED_ENOMEM;
    }
    for (int32_t id = 0; id < vocab->n_tokens; id++)
        if (vocab->text[id].len > 0 && is_special_type(vocab->type[id])) {
            uint64_t len = vocab->text[id].len < UINT32_MAX ? vocab->text[id].len : UINT32_MAX;
            keys[vocab->n_special++] = ((UINT32_MAX - len) << 32) | (uint32_t)id;
        }
    qsort(keys, vocab->n_special, sizeof *keys, compare_u64);
    for (size_t i = 0; i < vocab->n_special; i++)
        vocab->special[i] = (int32_t)(keys[i] & 0xffffffffu);
    free(keys);
    return 0;
}

int ed_vocab_load(ed_vocab_t **out, const ed_gguf_t *gguf, char err[ED_ERR_LEN])
{
    *out = NULL;
    int rc = ED_ENOMEM;
    ed_vocab_t *vocab = calloc(1, sizeof *vocab);
    if (!vocab || !(vocab->index = calloc(1, sizeof *vocab->index))) {
        snprintf(err, ED_ERR_LEN, "vocabulary: out of memory");
        goto fail;
    }
    vocab->bos = vocab->eos = vocab->eot = vocab->eom = ED_TOKEN_NONE;
    vocab->unk = vocab->sep = vocab->pad = ED_TOKEN_NONE;

    ed_str_t model;
    if ((rc = ed_gguf_get_str(gguf, "tokenizer.ggml.model", &model)) < 0) {
        snprintf(err, ED_ERR_LEN, "tokenizer.ggml.model: %s", rc == ED_ENOENT ? "missing" : "expected a string");
        rc = ED_EFORMAT;
        goto fail;
    }
    if (ed_str_eq(model, "llama")) {
        vocab->kind = ED_VOCAB_SPM;
        vocab->bos = 1, vocab->eos = 2, vocab->unk = 0;
        vocab->add_bos = true;
        vocab->add_space_prefix = true;
    } else if (ed_str_eq(model, "gpt2")) {
        vocab->kind = ED_VOCAB_BPE;
        ed_str_t pre = {"default", 7};
        rc = ed_gguf_get_str(gguf, "tokenizer.ggml.pre", &pre);
        if (rc < 0 && rc != ED_ENOENT) {
            snprintf(err, ED_ERR_LEN, "tokenizer.ggml.pre: expected a string");
            rc = ED_EFORMAT;
            goto fail;
        }
        if ((rc = ed_pretok_kind_from_name(pre.ptr, pre.len, &vocab->pre_kind)) < 0) {
            snprintf(err, ED_ERR_LEN, "tokenizer.ggml.pre = \"%.*s\": pre-tokenizer not supported "
                     "(not a name llama.cpp knows)", (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
            goto fail;
        }
        /* The loader's defaults for the name; the add_*_token keys override. */
        const unsigned flags = ed_pretok_flags(vocab->pre_kind);
        if (flags & ED_PRETOK_RAW_BYTES) {
            snprintf(err, ED_ERR_LEN, "tokenizer.ggml.pre = \"%.*s\": pre-tokenizer not supported "
                     "(BPE over raw UTF-8, not byte-level)", (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
            rc = ED_EUNSUPPORTED;
            goto fail;
        }
        vocab->ignore_merges = flags & ED_PRETOK_IGNORE_MERGES;
        vocab->add_bos = flags & ED_PRETOK_ADD_BOS;
        vocab->add_sep = flags & ED_PRETOK_ADD_SEP;
        if ((rc = ed_pretok_init(&vocab->pretok, vocab->pre_kind, err)) < 0)
            goto fail;
    } else if (ed_str_eq(model, "bert")) {
        vocab->kind = ED_VOCAB_WPM; /* llama.cpp's defaults for BERT vocabularies */
        vocab->bos = 101, vocab->unk = 100, vocab->sep = 102, vocab->pad = 0;
        vocab->add_bos = vocab->add_sep = true;
    } else {
        snprintf(err, ED_ERR_LEN, "tokenizer.ggml.model = \"%.*s\": not supported (known: llama, gpt2, bert)",
                 (int)(model.len > 64 ? 64 : model.len), model.ptr);
        rc = ED_EUNSUPPORTED;
        goto fail;
    }
    if ((rc = load_tokens(vocab, gguf, err)) < 0)
        goto fail;
    int32_t *const defaults[] = {&vocab->bos, &vocab->eos, &vocab->unk, &vocab->sep, &vocab->pad};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (*defaults[i] >= vocab->n_tokens)
            *defaults[i] = ED_TOKEN_NONE; /* a default that this small vocabulary lacks */
    if (vocab->kind == ED_VOCAB_BPE && (rc = load_merges(vocab, gguf, err)) < 0)
        goto fail;
    if ((rc = load_special_ids(vocab, gguf, err)) < 0)
        goto fail;
    load_byte_tokens(vocab);
    if ((rc = load_special_list(vocab, err)) < 0)
        goto fail;
    *out = vocab;
    return 0;
fail:
    ed_vocab_free(vocab);
    return rc;
}
