/* pretok.c - the BPE pre-tokenizers: one table of every `tokenizer.ggml.pre`
 * name llama.cpp's vocabulary loader accepts (src/llama-vocab.cpp), its
 * regexes in llama.cpp's order and the loader's flags for it, compiled once
 * with PCRE2 (a few in equivalent linear forms: DIGIT_STEPS, EQUIVALENTS)
 * and applied in turn. Compiled patterns are shared; match data is made per
 * call, so splitting is thread-safe. Encoding the pieces is bpe.c's. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/pretok.h"

#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REGEX 6
#define MAX_NAMES 13

/* The expressions are llama.cpp's text, written as C string literals. Its
 * case-insensitive contractions (?i:'s|...) are spelt out, as llama.cpp
 * spells them, so that only ASCII letters fold. compile_step() reads a few
 * constructs the way llama.cpp's regex engine does (see there). */
#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3_RE                                                                                  \
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"       \
                 "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE                                                                                   \
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"            \
                 "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* DeepSeek V3's third expression (its class holds a literal CR and LF, as
 * llama.cpp's does); Spark 2.5 and AFMoE vary it. */
#define ASCII_PUNCT_WORD "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
#define DEEPSEEK3_RE                                                                               \
    ASCII_PUNCT_WORD "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*"         \
                     "|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
#define CJK_KANA "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+"     /* [一-龥぀-ゟ゠-ヿ]+ */
#define CJK_HANGUL "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"    /* [一-龥ࠀ-一가-퟿]+ */
/* Poro, BLOOM, GPT-3 Finnish: " ?[^(\s|.,!?…。，、।۔،)]+". */
#define PORO_RE " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"
/* Tekken and GPT-4o split lower from upper case with look-aheads, as
 * llama.cpp writes them. */
#define UPPER_THEN_LOWER "((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"
#define UPPER_RUN "((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
#define CASED_TAIL "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GPT4O_RE                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?" UPPER_THEN_LOWER CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?" UPPER_RUN  \
    CONTRACTIONS "?" CASED_TAIL
/* The word alternatives of Youtu and Tiny Aya (HF's \p{Lu}... classes). */
#define LU_LL_WORDS                                                                                \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"   \
    CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"                  \
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" CONTRACTIONS "?"
/* llama.cpp's Han test (unicode_cpt_is_han): its ranges, not the script. */
#define HAN "[\\x{4E00}-\\x{9FFF}\\x{3400}-\\x{4DBF}\\x{20000}-\\x{2A6DF}\\x{2A700}-\\x{2EBEF}"    \
            "\\x{F900}-\\x{FAFF}\\x{2F800}-\\x{2FA1F}]"
/* Digit expressions run as code (see DIGIT_STEPS): AFMoE's is code in
 * llama.cpp too (this name is its trigger); SuperBPE's and Tiny Aya's are
 * regexes whose look-ahead makes PCRE2 quadratic in a digit run's length. */
#define AFMOE_DIGITS "\\p{AFMoE_digits}"
#define SUPERBPE_DIGITS "(?=(\\d{3})+(?!\\d))"
#define TINY_AYA_DIGITS "\\d{1,3}(?=(?:\\d{3})*\\b)"

enum { CLEAN = ED_PRETOK_CLEAN_SPACES, IGNORE = ED_PRETOK_IGNORE_MERGES, BOS = ED_PRETOK_ADD_BOS };

/* name aliases -> kind -> expressions + flags. Flags are what llama.cpp's
 * loader sets for the name (clean_spaces is its default, true, unless the
 * loader clears it). The rows follow llama.cpp's regex lists. */
static const struct {
    ed_pretok_kind_t kind;
    const char *names[MAX_NAMES]; /* the tokenizer.ggml.pre values that select it */
    const char *regex[MAX_REGEX];
    unsigned flags;
} KINDS[] = {
    {ED_PRETOK_DEFAULT, {"default"},
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}, CLEAN},

    /* The GPT-2 expression alone. "gpt2" is edged's own older alias. */
    {ED_PRETOK_GPT2,
     {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
      "modern-bert", "exaone4", "gpt2"},
     {GPT2_RE}, CLEAN},
    {ED_PRETOK_GPT2_SEP, {"jina-v1-en", "jina-v2-code", "roberta-bpe"}, {GPT2_RE}, CLEAN | ED_PRETOK_ADD_SEP},
    {ED_PRETOK_MPT, {"mpt"}, {GPT2_RE}, CLEAN},
    {ED_PRETOK_OLMO, {"olmo"}, {GPT2_RE}, CLEAN},
    {ED_PRETOK_JAIS, {"jais"}, {GPT2_RE}, CLEAN},
    {ED_PRETOK_TRILLION, {"trillion"}, {GPT2_RE}, 0},
    {ED_PRETOK_GRANITE_DOCLING, {"granite-docling"}, {GPT2_RE}, 0},

    /* Single digits, then GPT-2. */
    {ED_PRETOK_STARCODER, {"starcoder"}, {"\\p{N}", GPT2_RE}, CLEAN},
    {ED_PRETOK_REFACT, {"refact"}, {"\\p{N}", GPT2_RE}, CLEAN},
    {ED_PRETOK_COMMAND_R, {"command-r"}, {"\\p{N}", GPT2_RE}, 0},
    {ED_PRETOK_SMOLLM, {"smollm"}, {"\\p{N}", GPT2_RE}, 0},
    {ED_PRETOK_CODESHELL, {"codeshell"}, {"\\p{N}", GPT2_RE}, CLEAN},
    {ED_PRETOK_EXAONE, {"exaone"}, {"\\p{N}", GPT2_RE}, CLEAN},
    {ED_PRETOK_MINERVA, {"minerva-7b"}, {"\\p{N}", GPT2_RE}, CLEAN},
    {ED_PRETOK_MELLUM2, {"mellum2"}, {"\\p{N}", GPT2_RE}, CLEAN},

    {ED_PRETOK_FALCON, {"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"}, CLEAN},

    /* Llama 3: numbers in threes; merges skipped for whole-token pieces. */
    {ED_PRETOK_LLAMA3,
     {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
     {LLAMA3_RE}, CLEAN | IGNORE | BOS},
    {ED_PRETOK_DBRX, {"dbrx"}, {LLAMA3_RE}, CLEAN},
    {ED_PRETOK_SMAUG, {"smaug-bpe"}, {LLAMA3_RE}, CLEAN},
    /* llama.cpp also clears GLM-4's default BOS id; edged's BPE has none. */
    {ED_PRETOK_CHATGLM4, {"glm4", "chatglm-bpe"}, {LLAMA3_RE}, CLEAN},
    {ED_PRETOK_JAIS2, {"jais-2"},
     {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
                   "|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)"
                   "|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"},
     CLEAN},

    /* Qwen2: single digits. */
    {ED_PRETOK_QWEN2, {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"}, {QWEN2_RE}, 0},
    {ED_PRETOK_STABLELM2, {"stablelm2"}, {QWEN2_RE}, CLEAN},
    {ED_PRETOK_MEGREZ, {"megrez"}, {QWEN2_RE}, CLEAN},
    {ED_PRETOK_HUNYUAN, {"hunyuan"}, {QWEN2_RE}, 0},
    {ED_PRETOK_SOLAR_OPEN, {"solar-open"}, {QWEN2_RE}, 0},
    {ED_PRETOK_GROK2, {"grok-2"}, {QWEN2_RE}, 0},
    {ED_PRETOK_QWEN35, {"qwen35"},
     {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*"
                   "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     0},
    {ED_PRETOK_UFAKZEKA, {"ufakzeka"},
     {"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, 0},
    {ED_PRETOK_SEED_CODER, {"seed-coder"},
     {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+"
                   "|\\s+(?!\\S)|\\s+"},
     0},
    /* llama.cpp made the original's possessive quantifiers greedy. */
    {ED_PRETOK_BAILINGMOE, {"bailingmoe", "bailingmoe2", "llada-moe"},
     {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
      "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
     0},
    {ED_PRETOK_LAGUNA, {"laguna"}, {"[^\\n]+|[\\n]+", QWEN2_RE}, 0},
    {ED_PRETOK_EXAONE_MOE, {"exaone-moe"},
     {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}"
                   "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
     CLEAN},
    {ED_PRETOK_MINICPM5, {"minicpm5"},
     {"\\p{N}{1,3}", CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                                  "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     CLEAN | IGNORE},

    /* DeepSeek LLM: its letter class is the cased letters (Lu, Ll, Lt) of
     * the ranges below; "[\r\n]" holds a literal CR and LF. */
    {ED_PRETOK_DEEPSEEK_LLM, {"deepseek-llm"},
     {"[\r\n]",
      "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
      "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
      "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
      "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
      "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
      "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
      "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
      "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
      "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"
      "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"
      "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
      "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
      "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
      "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
      "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+", /* [!-/:-~！-／：-～‘-‟　-。] */
      "\\s+$", CJK_HANGUL, "\\p{N}+"},
     0},
    {ED_PRETOK_DEEPSEEK_CODER, {"deepseek-coder"}, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK_HANGUL, "\\p{N}"}, 0},
    {ED_PRETOK_DEEPSEEK3, {"deepseek-v3"}, {"\\p{N}{1,3}", CJK_KANA, DEEPSEEK3_RE}, 0},
    {ED_PRETOK_HUNYUAN_DENSE, {"hunyuan-dense"}, {"\\p{N}{1,3}", CJK_KANA, DEEPSEEK3_RE}, 0},
    {ED_PRETOK_HY_V4, {"hy_v4"}, {"\\p{N}{1,3}", CJK_KANA, DEEPSEEK3_RE}, 0},
    {ED_PRETOK_JOYAI_LLM, {"joyai-llm"}, {"\\p{N}{1,3}", CJK_KANA, DEEPSEEK3_RE}, 0},
    {ED_PRETOK_SPARK2_5, {"spark2_5"},
     {"\\p{N}{1,3}", CJK_KANA,
      ASCII_PUNCT_WORD "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
      "\\p{N}"},
     0},
    {ED_PRETOK_AFMOE, {"afmoe"},
     {AFMOE_DIGITS,
      /* [一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+ */
      "[\\x{4E00}-\\x{9FFF}\\x{3400}-\\x{4DBF}\\x{F900}-\\x{FAFF}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}"
      "\\x{FF65}-\\x{FF9F}\\x{2F00}-\\x{2FDF}\\x{E40}-\\x{E7F}\\x{E80}-\\x{EFF}\\x{1780}-\\x{17FF}"
      "\\x{1000}-\\x{109F}\\x{AA60}-\\x{AA7F}\\x{A9E0}-\\x{A9FF}\\x{AC00}-\\x{D7AF}\\x{1100}-\\x{11FF}]+",
      ASCII_PUNCT_WORD "|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+"
                       "|\\s+(?!\\S)|\\s+"},
     0},
    /* [가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+ */
    {ED_PRETOK_YOUTU, {"youtu"},
     {"[\\x{AC00}-\\x{D7A3}\\x{3131}-\\x{318E}]+|[\\x{FF01}\\x{2026}\\x{201C}\\x{201D}\\x{2018}\\x{2019}"
      "\\x{2014}\\x{FF1A}\\x{FF1B}\\x{FF0C}\\x{3001}-\\x{303F}\\x{FE30}-\\x{FE4F}]+|[\\x{3105}-\\x{312F}]+|" CJK_KANA,
      LU_LL_WORDS "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     IGNORE},

    {ED_PRETOK_PORO, {"poro-chat"}, {PORO_RE}, 0},
    {ED_PRETOK_BLOOM, {"bloom"}, {PORO_RE}, CLEAN},
    {ED_PRETOK_GPT3_FINNISH, {"gpt3-finnish"}, {PORO_RE}, CLEAN},
    {ED_PRETOK_VIKING, {"viking"}, {PORO_RE, "\\p{N}"}, 0},

    {ED_PRETOK_TEKKEN, {"tekken"},
     {"[^\\r\\n\\p{L}\\p{N}]?" UPPER_THEN_LOWER "|[^\\r\\n\\p{L}\\p{N}]?" UPPER_RUN
      "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     IGNORE | BOS},
    {ED_PRETOK_GPT4O, {"gpt-4o", "llama4", "kanana2", "talkie"}, {GPT4O_RE}, 0},
    {ED_PRETOK_MINIMAX_M2, {"minimax-m2"}, {GPT4O_RE}, 0},
    {ED_PRETOK_GRANITE_EMB_MULTI, {"granite-embed-multi-97m"},
     {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+" CONTRACTIONS
      "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*" CONTRACTIONS
      "?" CASED_TAIL},
     IGNORE},
    {ED_PRETOK_TINY_AYA, {"tiny_aya", "cohere2moe"}, {TINY_AYA_DIGITS, LU_LL_WORDS CASED_TAIL}, 0},
    /* llama.cpp runs Kimi K2's pattern as code (unicode_regex_split_custom_
     * kimi_k2): Han runs, then words of any non-Han letters with an optional
     * contraction, then Llama 3's tail. This is that code as a regex. */
    {ED_PRETOK_KIMI_K2, {"kimi-k2"},
     {HAN "+|[^\\r\\n\\p{L}\\p{N}]?(?:(?!" HAN ")\\p{L})+" CONTRACTIONS
          "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     0},
    /* The second expression matches only empty strings: it cuts numbers
     * into threes from the right. */
    {ED_PRETOK_SUPERBPE, {"superbpe"}, {"\\p{N}+", SUPERBPE_DIGITS}, 0},
    /* The sentinel and image expressions are llama.cpp's, though the special
     * tokens are cut out before any regex runs. */
    {ED_PRETOK_CHAMELEON, {"chameleon"},
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
      "[\\p{P}!-/:-@\\[-`{-~]", GPT2_RE},
     BOS},

    /* Not byte-level: merges run over raw UTF-8 (and spaces as U+2581). */
    {ED_PRETOK_GEMMA4, {"gemma4", "granite-embed-multi-311m"}, {"[^\\n]+|[\\n]+"},
     CLEAN | ED_PRETOK_RAW_BYTES | ED_PRETOK_ESCAPE_SPACES},
    {ED_PRETOK_SARVAM_MOE, {"sarvam-moe"}, {"[^\\n]+|[\\n]+"}, ED_PRETOK_RAW_BYTES | ED_PRETOK_ESCAPE_SPACES},
    {ED_PRETOK_WHITESPACE, {"whitespace"}, {"\\S+"}, CLEAN | ED_PRETOK_RAW_BYTES},
};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

typedef enum {
    STEP_REGEX,           /* matches and the gaps between them */
    STEP_AFMOE_DIGITS,    /* a cut after each group of a \p{N} run */
    STEP_SUPERBPE_DIGITS, /* a cut before each group of a [0-9] run but the first */
    STEP_TINY_AYA_DIGITS, /* each group a piece, for [0-9] runs before a word boundary */
} step_kind_t;

/* The digit expressions run as code; the groups are threes counted from the
 * right, so the first holds the 1 or 2 left over (or 3). Each cuts exactly
 * where llama.cpp's code or regex does (tests/unit/model/pretok.c compares
 * SuperBPE's and Tiny Aya's with their regexes on random text). */
static const struct {
    const char *regex;
    step_kind_t kind;
    const char *runs; /* what a digit run is */
} DIGIT_STEPS[] = {
    {AFMOE_DIGITS, STEP_AFMOE_DIGITS, "\\p{N}+"},
    {SUPERBPE_DIGITS, STEP_SUPERBPE_DIGITS, "[0-9]+"},
    {TINY_AYA_DIGITS, STEP_TINY_AYA_DIGITS, "[0-9]+"},
};

typedef struct {
    step_kind_t kind;
    pcre2_code *code; /* the expression, or a digit step's runs */
} step_t;

struct ed_pretok {
    ed_pretok_kind_t kind;
    size_t n_steps;
    step_t steps[MAX_REGEX];
};

static size_t row_of(ed_pretok_kind_t kind)
{
    size_t k = 0;
    while (k < N_KINDS && KINDS[k].kind != kind)
        k++;
    return k;
}

int ed_pretok_kind_from_name(const char *name, size_t len, ed_pretok_kind_t *out)
{
    for (size_t k = 0; k < N_KINDS; k++)
        for (size_t i = 0; i < MAX_NAMES && KINDS[k].names[i]; i++)
            if (strlen(KINDS[k].names[i]) == len && memcmp(KINDS[k].names[i], name, len) == 0) {
                *out = KINDS[k].kind;
                return 0;
            }
    return ED_EUNSUPPORTED;
}

const char *ed_pretok_name_at(size_t i, ed_pretok_kind_t *kind)
{
    for (size_t k = 0; k < N_KINDS; k++)
        for (size_t n = 0; n < MAX_NAMES && KINDS[k].names[n]; n++)
            if (i-- == 0) {
                *kind = KINDS[k].kind;
                return KINDS[k].names[n];
            }
    return NULL;
}

const char *ed_pretok_name(ed_pretok_kind_t kind)
{
    size_t k = row_of(kind);
    return k < N_KINDS ? KINDS[k].names[0] : "?";
}

unsigned ed_pretok_flags(ed_pretok_kind_t kind)
{
    size_t k = row_of(kind);
    return k < N_KINDS ? KINDS[k].flags : 0;
}

void ed_pretok_free(ed_pretok_t *pretok)
{
    if (!pretok)
        return;
    for (size_t i = 0; i < pretok->n_steps; i++)
        pcre2_code_free(pretok->steps[i].code);
    free(pretok);
}

/* An ASCII word boundary: \b as llama.cpp's std::regex reads it. */
#define ASCII_BOUNDARY "(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))"

/* llama.cpp runs the expressions with std::regex (ECMAScript) over a text in
 * which every non-ASCII character stands for its general category, so it
 * reads a few constructs otherwise than PCRE2 with Unicode properties:
 * \p{Lu}, \p{Ll}, \p{Lt}, \p{Lm} and \p{Lo} all mean \p{L}; \d and \b are
 * ASCII (digits, word characters). This writes them so; `$` (end of the
 * piece only) is PCRE2_DOLLAR_ENDONLY at compile time. Returns the rewritten
 * expression (malloc) or NULL. */
static char *as_llama_cpp_reads(const char *regex)
{
    size_t len = strlen(regex);
    char *out = malloc(len * (sizeof ASCII_BOUNDARY) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    bool in_class = false;
    for (size_t i = 0; i < len; i++) {
        if (regex[i] == '\\' && i + 1 < len) {
            const char *at = regex + i;
            if (strncmp(at, "\\p{L", 4) == 0 && at[4] && strchr("ultmo", at[4]) && at[5] == '}') {
                memcpy(out + n, "\\p{L}", 5), n += 5, i += 5;
            } else if (at[1] == 'd') {
                const char *digits = in_class ? "0-9" : "[0-9]";
                memcpy(out + n, digits, strlen(digits)), n += strlen(digits), i += 1;
            } else if (at[1] == 'b' && !in_class) {
                memcpy(out + n, ASCII_BOUNDARY, sizeof ASCII_BOUNDARY - 1), n += sizeof ASCII_BOUNDARY - 1, i += 1;
            } else {
                out[n++] = regex[i], out[n++] = regex[i + 1], i += 1;
            }
            continue;
        }
        if (regex[i] == '[' && !in_class)
            in_class = true;
        else if (regex[i] == ']' && in_class)
            in_class = false;
        out[n++] = regex[i];
    }
    out[n] = '\0';
    return out;
}

/* Equivalent forms of llama.cpp's case look-aheads (a letter, or a letter or
 * mark, that is not a-z / A-Z), which std::regex cannot write as one class.
 * As classes (letters and marks are what is not N, P, S, Z or C) PCRE2
 * repeats them without a backtracking frame per character; the look-aheads
 * exhausted its heap limit on a long run of capitals. */
static const char *const EQUIVALENTS[][2] = {
    {"((?=[\\p{L}])([^a-z]))", "[^\\P{L}a-z]"},
    {"((?=[\\p{L}])([^A-Z]))", "[^\\P{L}A-Z]"},
    {"((?=[\\p{L}\\p{M}])([^a-z]))", "[^a-z\\p{N}\\p{P}\\p{S}\\p{Z}\\p{C}]"},
    {"((?=[\\p{L}\\p{M}])([^A-Z]))", "[^A-Z\\p{N}\\p{P}\\p{S}\\p{Z}\\p{C}]"},
};

/* `regex` with every EQUIVALENTS form replaced (malloc), or NULL. */
static char *with_equivalents(const char *regex)
{
    char *out = malloc(2 * strlen(regex) + 1); /* no form more than doubles */
    if (!out)
        return NULL;
    size_t n = 0;
    while (*regex) {
        size_t i = 0;
        while (i < sizeof EQUIVALENTS / sizeof EQUIVALENTS[0] &&
               strncmp(regex, EQUIVALENTS[i][0], strlen(EQUIVALENTS[i][0])) != 0)
            i++;
        if (i == sizeof EQUIVALENTS / sizeof EQUIVALENTS[0]) {
            out[n++] = *regex++;
            continue;
        }
        memcpy(out + n, EQUIVALENTS[i][1], strlen(EQUIVALENTS[i][1]));
        n += strlen(EQUIVALENTS[i][1]);
        regex += strlen(EQUIVALENTS[i][0]);
    }
    out[n] = '\0';
    return out;
}

static int compile_step(step_t *step, const char *regex, bool as_written, const char *name, size_t index,
                        char err[ED_ERR_LEN])
{
    step->kind = STEP_REGEX;
    for (size_t i = 0; i < sizeof DIGIT_STEPS / sizeof DIGIT_STEPS[0]; i++)
        if (strcmp(regex, DIGIT_STEPS[i].regex) == 0 &&
            (!as_written || DIGIT_STEPS[i].kind == STEP_AFMOE_DIGITS)) {
            step->kind = DIGIT_STEPS[i].kind;
            regex = DIGIT_STEPS[i].runs;
        }
    char *fast = as_written ? NULL : with_equivalents(regex);
    char *text = as_written || fast ? as_llama_cpp_reads(fast ? fast : regex) : NULL;
    free(fast);
    if (!text) {
        snprintf(err, ED_ERR_LEN, "pre-tokenizer %s: out of memory", name);
        return ED_ENOMEM;
    }
    int code = 0;
    PCRE2_SIZE at = 0;
    step->code = pcre2_compile((PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED,
                               PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &at, NULL);
    free(text);
    if (!step->code) {
        PCRE2_UCHAR message[128];
        pcre2_get_error_message(code, message, sizeof message);
        snprintf(err, ED_ERR_LEN, "pre-tokenizer %s: regex %zu at %zu: %s", name, index, (size_t)at,
                 (const char *)message);
        return code == PCRE2_ERROR_NOMEMORY ? ED_ENOMEM : ED_EFORMAT;
    }
    return 0;
}

static int init(ed_pretok_t **out, ed_pretok_kind_t kind, bool as_written, char err[ED_ERR_LEN])
{
    *out = NULL;
    size_t k = row_of(kind);
    if (k == N_KINDS) {
        snprintf(err, ED_ERR_LEN, "pre-tokenizer %d: not known", (int)kind);
        return ED_EUNSUPPORTED;
    }
    ed_pretok_t *pretok = calloc(1, sizeof *pretok);
    if (!pretok) {
        snprintf(err, ED_ERR_LEN, "pre-tokenizer: out of memory");
        return ED_ENOMEM;
    }
    pretok->kind = kind;
    for (size_t i = 0; i < MAX_REGEX && KINDS[k].regex[i]; i++) {
        int rc = compile_step(&pretok->steps[i], KINDS[k].regex[i], as_written, KINDS[k].names[0], i, err);
        if (rc < 0) {
            ed_pretok_free(pretok);
            return rc;
        }
        pretok->n_steps = i + 1;
    }
    *out = pretok;
    return 0;
}

int ed_pretok_init(ed_pretok_t **out, ed_pretok_kind_t kind, char err[ED_ERR_LEN])
{
    return init(out, kind, false, err);
}

int ed__pretok_init_regex(ed_pretok_t **out, ed_pretok_kind_t kind, char err[ED_ERR_LEN])
{
    return init(out, kind, true, err);
}

static int spans_push(ed_spans_t *list, uint32_t offset, uint32_t len)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        ed_span_t *grown = realloc(list->spans, cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        list->spans = grown;
        list->cap = cap;
    }
    list->spans[list->n++] = (ed_span_t){offset, len};
    return 0;
}

/* The offset of the character after the one at `pos` (valid UTF-8). */
static PCRE2_SIZE next_char(PCRE2_SPTR subject, PCRE2_SIZE len, PCRE2_SIZE pos)
{
    pos++;
    while (pos < len && (subject[pos] & 0xC0) == 0x80)
        pos++;
    return pos;
}

/* Cuts one piece with one regex as llama.cpp's std::regex_iterator does:
 * matches and the gaps between them become pieces; an empty match cuts the
 * text where it stands, then a non-empty match is tried at the same place
 * before the search moves one character on. */
static int split_piece(const pcre2_code *regex, pcre2_match_data *match, const char *text,
                       ed_span_t piece, ed_spans_t *out)
{
    PCRE2_SPTR subject = (PCRE2_SPTR)(text + piece.offset);
    PCRE2_SIZE pos = 0, gap = 0;
    uint32_t retry = 0; /* PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED after an empty match */
    int rc = 0;
    while (pos < piece.len) {
        int found = pcre2_match(regex, subject, piece.len, pos, PCRE2_NO_UTF_CHECK | retry, match, NULL);
        if (found == PCRE2_ERROR_NOMATCH && retry) {
            retry = 0;
            pos = next_char(subject, piece.len, pos);
            continue;
        }
        if (found == PCRE2_ERROR_NOMATCH)
            break;
        if (found < 0)
            return ED_EFORMAT;
        const PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(match);
        if (ovector[0] > gap && (rc = spans_push(out, piece.offset + (uint32_t)gap,
                                                 (uint32_t)(ovector[0] - gap))) < 0)
            return rc;
        if (ovector[1] > ovector[0] && (rc = spans_push(out, piece.offset + (uint32_t)ovector[0],
                                                        (uint32_t)(ovector[1] - ovector[0]))) < 0)
            return rc;
        retry = ovector[1] == ovector[0] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
        gap = pos = ovector[1];
    }
    if (gap < piece.len)
        return spans_push(out, piece.offset + (uint32_t)gap, (uint32_t)(piece.len - gap));
    return 0;
}

static int cut_at(ed_spans_t *out, ed_span_t piece, PCRE2_SIZE *gap, PCRE2_SIZE at)
{
    if (at <= *gap)
        return 0;
    int rc = spans_push(out, piece.offset + (uint32_t)*gap, (uint32_t)(at - *gap));
    *gap = at;
    return rc;
}

static bool ascii_word(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* A digit step (DIGIT_STEPS) over one piece. AFMoE cuts only after each
 * group, so the text before a run stays joined to its first group, as
 * llama.cpp's code emits it ("ab1234" -> "ab1", "234"). SuperBPE's empty
 * look-ahead matches stand before each three digits from the right. Tiny
 * Aya's matches need an ASCII word boundary after the run ("1234abc" has
 * none: no match anywhere in it). */
static int split_digit_runs(const step_t *step, pcre2_match_data *match, const char *text, ed_span_t piece,
                            ed_spans_t *out)
{
    PCRE2_SPTR subject = (PCRE2_SPTR)(text + piece.offset);
    PCRE2_SIZE pos = 0, gap = 0;
    int rc = 0;
    while (pos < piece.len && rc == 0) {
        int found = pcre2_match(step->code, subject, piece.len, pos, PCRE2_NO_UTF_CHECK, match, NULL);
        if (found == PCRE2_ERROR_NOMATCH)
            break;
        if (found < 0)
            return ED_EFORMAT;
        const PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(match);
        const PCRE2_SIZE start = ovector[0], end = ovector[1];
        pos = end;
        if (step->kind == STEP_TINY_AYA_DIGITS && end < piece.len && ascii_word(subject[end]))
            continue;
        size_t n_digits = 0;
        for (PCRE2_SIZE at = start; at < end; at = next_char(subject, end, at))
            n_digits++;
        if (step->kind == STEP_TINY_AYA_DIGITS || (step->kind == STEP_SUPERBPE_DIGITS && n_digits % 3 == 0))
            rc = cut_at(out, piece, &gap, start);
        size_t group = n_digits % 3 ? n_digits % 3 : 3, in_group = 0;
        for (PCRE2_SIZE at = start; at < end && rc == 0;) {
            at = next_char(subject, end, at);
            if (++in_group < group)
                continue;
            if (step->kind != STEP_SUPERBPE_DIGITS || at < end)
                rc = cut_at(out, piece, &gap, at);
            group = 3, in_group = 0;
        }
    }
    if (rc == 0 && gap < piece.len)
        rc = spans_push(out, piece.offset + (uint32_t)gap, (uint32_t)(piece.len - gap));
    return rc;
}

int ed_pretok_split(const ed_pretok_t *pretok, const char *text, size_t len, ed_spans_t *out)
{
    out->n = 0;
    if (len == 0)
        return 0;
    if (len > INT32_MAX)
        return ED_ETOOBIG;
    int rc = spans_push(out, 0, (uint32_t)len);
    if (rc < 0)
        return rc;
    pcre2_match_data *match = pcre2_match_data_create(1, NULL);
    if (!match)
        return ED_ENOMEM;
    ed_spans_t next = {0};
    for (size_t s = 0; s < pretok->n_steps && rc == 0; s++) {
        const step_t *step = &pretok->steps[s];
        next.n = 0;
        for (size_t i = 0; i < out->n && rc == 0; i++)
            rc = step->kind == STEP_REGEX ? split_piece(step->code, match, text, out->spans[i], &next)
                                          : split_digit_runs(step, match, text, out->spans[i], &next);
        ed_spans_t swap = *out;
        *out = next;
        next = swap;
    }
    free(next.spans);
    pcre2_match_data_free(match);
    return rc;
}
