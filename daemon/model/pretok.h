/* pretok.h - the pre-tokenizers of BPE vocabularies: every name llama.cpp's
 * vocabulary loader accepts in `tokenizer.ggml.pre`, each with the regexes
 * that cut text into the pieces BPE merges within (run with PCRE2, UTF +
 * Unicode properties) and the loader's flags for that name. Each regex of a
 * list cuts every piece the previous one left, and the text between matches
 * is kept as pieces too (the llama.cpp convention). The only user of PCRE2. */
#ifndef ED_MODEL_PRETOK_H
#define ED_MODEL_PRETOK_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

/* One kind per distinct (regex list, flags) llama.cpp has; the names that
 * select each are in pretok.c's table. The first five keep their values. */
typedef enum {
    ED_PRETOK_DEFAULT = 0, /* "default" (and a missing key) */
    ED_PRETOK_GPT2,        /* "gpt-2", "phi-2", ... */
    ED_PRETOK_LLAMA3,      /* "llama-bpe", "llama3", "llama-v3", "falcon3", ... */
    ED_PRETOK_QWEN2,       /* "qwen2", "deepseek-r1-qwen", ... */
    ED_PRETOK_SMOLLM,      /* "smollm" */
    ED_PRETOK_GPT2_SEP,    /* "roberta-bpe", "jina-v1-en", "jina-v2-code" */
    ED_PRETOK_MPT,
    ED_PRETOK_OLMO,
    ED_PRETOK_JAIS,
    ED_PRETOK_TRILLION,
    ED_PRETOK_GRANITE_DOCLING,
    ED_PRETOK_STARCODER,
    ED_PRETOK_REFACT,
    ED_PRETOK_COMMAND_R,
    ED_PRETOK_CODESHELL,
    ED_PRETOK_EXAONE,
    ED_PRETOK_MINERVA,
    ED_PRETOK_MELLUM2,
    ED_PRETOK_FALCON,
    ED_PRETOK_DBRX,
    ED_PRETOK_SMAUG,
    ED_PRETOK_CHATGLM4,
    ED_PRETOK_JAIS2,
    ED_PRETOK_STABLELM2,
    ED_PRETOK_MEGREZ,
    ED_PRETOK_HUNYUAN,
    ED_PRETOK_SOLAR_OPEN,
    ED_PRETOK_GROK2,
    ED_PRETOK_QWEN35,
    ED_PRETOK_DEEPSEEK_LLM,
    ED_PRETOK_DEEPSEEK_CODER,
    ED_PRETOK_DEEPSEEK3,
    ED_PRETOK_HUNYUAN_DENSE,
    ED_PRETOK_HY_V4,
    ED_PRETOK_JOYAI_LLM,
    ED_PRETOK_SPARK2_5,
    ED_PRETOK_YOUTU,
    ED_PRETOK_PORO,
    ED_PRETOK_BLOOM,
    ED_PRETOK_GPT3_FINNISH,
    ED_PRETOK_VIKING,
    ED_PRETOK_TEKKEN,
    ED_PRETOK_CHAMELEON,
    ED_PRETOK_GPT4O,
    ED_PRETOK_MINIMAX_M2,
    ED_PRETOK_GRANITE_EMB_MULTI,
    ED_PRETOK_TINY_AYA,
    ED_PRETOK_KIMI_K2,
    ED_PRETOK_SUPERBPE,
    ED_PRETOK_BAILINGMOE,
    ED_PRETOK_SEED_CODER,
    ED_PRETOK_UFAKZEKA,
    ED_PRETOK_AFMOE,
    ED_PRETOK_LAGUNA,
    ED_PRETOK_EXAONE_MOE,
    ED_PRETOK_MINICPM5,
    ED_PRETOK_GEMMA4,
    ED_PRETOK_SARVAM_MOE,
    ED_PRETOK_WHITESPACE,
    ED_PRETOK_COUNT /* not a kind: how many there are */
} ed_pretok_kind_t;

/* What llama.cpp's loader sets besides the regexes (ed_pretok_flags). */
enum {
    ED_PRETOK_IGNORE_MERGES = 1 << 0, /* a piece that is itself a token is not merged */
    ED_PRETOK_ADD_BOS = 1 << 1,       /* add_bos defaults to true */
    ED_PRETOK_ADD_SEP = 1 << 2,       /* add_sep defaults to true */
    ED_PRETOK_CLEAN_SPACES = 1 << 3,  /* detokenizing drops spaces before punctuation */
    ED_PRETOK_RAW_BYTES = 1 << 4,     /* pieces are raw UTF-8, not GPT-2 byte characters */
    ED_PRETOK_ESCAPE_SPACES = 1 << 5, /* spaces are written U+2581 before merging */
};

typedef struct ed_pretok ed_pretok_t;

/* One piece of text: bytes [offset, offset + len). */
typedef struct {
    uint32_t offset;
    uint32_t len;
} ed_span_t;

/* A growable list of spans; the caller frees `spans`. */
typedef struct {
    ed_span_t *spans;
    size_t n, cap;
} ed_spans_t;

/* The kind named `name` (not NUL-terminated; matched exactly, as llama.cpp
 * does). 0, or ED_EUNSUPPORTED for a name llama.cpp's loader does not know. */
int ed_pretok_kind_from_name(const char *name, size_t len, ed_pretok_kind_t *out);
/* The i-th name edged knows (every alias, table order) with its kind, or
 * NULL past the last. */
const char *ed_pretok_name_at(size_t i, ed_pretok_kind_t *kind);
/* The first name of `kind` ("?" for a value that is no kind). */
const char *ed_pretok_name(ed_pretok_kind_t kind);
/* The ED_PRETOK_* flags of `kind` (0 for a value that is no kind). */
unsigned ed_pretok_flags(ed_pretok_kind_t kind);

/* Compiles the regexes of `kind`. 0, or ED_EUNSUPPORTED / ED_ENOMEM /
 * ED_EFORMAT with `err`. */
int ed_pretok_init(ed_pretok_t **out, ed_pretok_kind_t kind, char err[ED_ERR_LEN]);
void ed_pretok_free(ed_pretok_t *pretok);
/* For tests: the same, but with the expressions as llama.cpp writes them:
 * SuperBPE's and Tiny Aya's digit expressions as regexes (quadratic in a
 * digit run) rather than code, the case look-aheads not as classes. */
int ed__pretok_init_regex(ed_pretok_t **out, ed_pretok_kind_t kind, char err[ED_ERR_LEN]);

/* Cuts text[0, len), which must be valid UTF-8 shorter than 2^31 bytes, into
 * non-empty pieces appended to `out` (reset first) that tile the text. Any
 * thread may call it at the same time. 0, or ED_ENOMEM, ED_ETOOBIG (2^31
 * bytes or more) or ED_EFORMAT (a match failed). */
int ed_pretok_split(const ed_pretok_t *pretok, const char *text, size_t len, ed_spans_t *out);

#endif
