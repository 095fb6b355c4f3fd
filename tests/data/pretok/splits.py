# splits.py - writes the expected pre-tokenizer splits of tests/unit/model/pretok.c.
# An independent evaluation of llama.cpp's expressions (src/llama-vocab.cpp,
# llm_tokenizer_bpe; copied here from upstream's text, not from edged's table)
# with Python's third-party `regex` module, applied the way llama.cpp's
# unicode_regex_split applies them: each expression cuts every piece the one
# before left, the text between matches stays a piece, an empty match cuts
# where it stands. llama.cpp's reading of \p{Lu}.. as \p{L}, of \d / \b as
# ASCII and of $ as the end of the piece is written out here by hand; Kimi K2
# and AFMoE are ports of llama.cpp's C++ code (unicode.cpp), not regexes.
# Run: python3 tests/data/pretok/splits.py  (prints C initialisers), or
#      python3 tests/data/pretok/splits.py INP > tests/data/pretok/inp-splits.txt
# with INP = ../shared/testdata/vocab/ggml-vocab-gpt-2.gguf.inp (llama.cpp's
# tokenizer test strings): per first name, the FNV-1a 64 hash of each
# string's pieces joined with "\x01".
import regex, unicodedata

C = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
DS3 = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
KANA = "[一-龥぀-ゟ゠-ヿ]+"
HANGUL = "[一-龥ࠀ-一가-퟿]+"
PORO = " ?[^(\\s|.,!?…。，、।۔،)]+"
DSL_LETTERS = ("[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝ"
               "\u1f5f-\u1f7dᾀ-ᾴᾶ-ᾼ\u1fbeῂ-ῄῆ-ῌ\u1fd0-\u1fd3\u1fd6-\u1fdbῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212a-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳ"
               "Ꙁ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+")
LU = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"
LL = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
LU_LL = r"[^\r\n\p{L}\p{N}]?" + LU + "*" + LL + "+" + C + r"?|[^\r\n\p{L}\p{N}]?" + LU + "+" + LL + "*" + C + "?"
TAIL = r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
GPT4O = (r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+" + C +
         r"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" + C + "?" + TAIL)

KINDS = {  # first name -> (other names, expressions)
    "default": ([], [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"]),
    "gpt-2": (["phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
               "modern-bert", "exaone4", "gpt2"], [GPT2]),
    "jina-v1-en": (["jina-v2-code", "roberta-bpe"], [GPT2]),
    "mpt": ([], [GPT2]), "olmo": ([], [GPT2]), "jais": ([], [GPT2]), "trillion": ([], [GPT2]),
    "granite-docling": ([], [GPT2]),
    "starcoder": ([], [r"\p{N}", GPT2]), "refact": ([], [r"\p{N}", GPT2]), "command-r": ([], [r"\p{N}", GPT2]),
    "smollm": ([], [r"\p{N}", GPT2]), "codeshell": ([], [r"\p{N}", GPT2]), "exaone": ([], [r"\p{N}", GPT2]),
    "minerva-7b": ([], [r"\p{N}", GPT2]), "mellum2": ([], [r"\p{N}", GPT2]),
    "falcon": ([], [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"]),
    "llama3": (["llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"],
               [LLAMA3]),
    "dbrx": ([], [LLAMA3]), "smaug-bpe": ([], [LLAMA3]), "glm4": (["chatglm-bpe"], [LLAMA3]),
    "jais-2": ([], [C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"]),
    "qwen2": (["deepseek-r1-qwen", "kormo", "f2llmv2"], [QWEN2]),
    "stablelm2": ([], [QWEN2]), "megrez": ([], [QWEN2]), "hunyuan": ([], [QWEN2]), "solar-open": ([], [QWEN2]),
    "grok-2": ([], [QWEN2]),
    "qwen35": ([], [C + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"]),
    "ufakzeka": ([], [r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"]),
    "seed-coder": ([], [C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"]),
    "bailingmoe": (["bailingmoe2", "llada-moe"], [r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"]),
    "laguna": ([], [r"[^\n]+|[\n]+", QWEN2]),
    "exaone-moe": ([], [C + r"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"]),
    "minicpm5": ([], [r"\p{N}{1,3}", C + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"]),
    "deepseek-llm": ([], ["[\r\n]", r"\s?" + DSL_LETTERS, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", r"\s+$", HANGUL, r"\p{N}+"]),
    "deepseek-coder": ([], ["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", HANGUL, r"\p{N}"]),
    "deepseek-v3": ([], [r"\p{N}{1,3}", KANA, DS3]),
    "hunyuan-dense": ([], [r"\p{N}{1,3}", KANA, DS3]),
    "hy_v4": ([], [r"\p{N}{1,3}", KANA, DS3]),
    "joyai-llm": ([], [r"\p{N}{1,3}", KANA, DS3]),
    "spark2_5": ([], [r"\p{N}{1,3}", KANA, "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+", r"\p{N}"]),
    "afmoe": ([], ["AFMOE", "[一-鿿㐀-䶿\uf900-\ufaff぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
                   "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]),
    "youtu": ([], ["[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
                   LU_LL + r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"]),
    "poro-chat": ([], [PORO]), "bloom": ([], [PORO]), "gpt3-finnish": ([], [PORO]), "viking": ([], [PORO, r"\p{N}"]),
    "tekken": ([], [r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"]),
    "gpt-4o": (["llama4", "kanana2", "talkie"], [GPT4O]),
    "minimax-m2": ([], [GPT4O]),
    "granite-embed-multi-97m": ([], [r"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+" + C + r"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*" + C + "?" + TAIL]),
    "tiny_aya": (["cohere2moe"], [r"\d{1,3}(?=(?:\d{3})*\b)", LU_LL + TAIL]),
    "kimi-k2": ([], ["KIMI"]),
    "superbpe": ([], [r"\p{N}+", r"(?=(\d{3})+(?!\d))"]),
    "chameleon": ([], ["<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", r"\p{N}",
                       r"[\p{P}!-/:-@\[-`{-~]", GPT2]),
    "gemma4": (["granite-embed-multi-311m"], [r"[^\n]+|[\n]+"]),
    "sarvam-moe": ([], [r"[^\n]+|[\n]+"]),
    "whitespace": ([], [r"\S+"]),
}

WORD = "[A-Za-z0-9_]"
def as_llama_cpp(expr):
    for sub in ("Lu", "Ll", "Lt", "Lm", "Lo"):
        expr = expr.replace(r"\p{%s}" % sub, r"\p{L}")
    expr = expr.replace(r"\d", "[0-9]").replace(r"\b", "(?:(?<=%s)(?!%s)|(?<!%s)(?=%s))" % (WORD, WORD, WORD, WORD))
    return expr[:-1] + r"\Z" if expr.endswith("+$") else expr

def split_regex(piece, expr):
    out, gap = [], 0
    for m in regex.finditer(as_llama_cpp(expr), piece):
        if m.start() > gap:
            out.append(piece[gap:m.start()])
        if m.end() > m.start():
            out.append(m.group())
        gap = m.end()
    if gap < len(piece):
        out.append(piece[gap:])
    return out

is_letter = lambda c: unicodedata.category(c).startswith("L")
is_number = lambda c: unicodedata.category(c).startswith("N")
def is_han(c):
    o = ord(c)
    return any(a <= o <= b for a, b in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))

def split_afmoe(piece):  # unicode_regex_split_custom_afmoe
    out, prev, pos, n = [], 0, 0, len(piece)
    while pos < n:
        if is_number(piece[pos]):
            start = pos
            while pos < n and is_number(piece[pos]):
                pos += 1
            count, cur = pos - start, start
            if count % 3:
                out.append(piece[prev:cur + count % 3]); cur += count % 3; prev = cur
            while cur < start + count:
                out.append(piece[prev:cur + 3]); cur += 3; prev = cur
            continue
        pos += 1
    if prev < n:
        out.append(piece[prev:])
    return out

def split_kimi(piece):  # unicode_regex_split_custom_kimi_k2
    out, prev, pos, n = [], 0, 0, len(piece)
    get = lambda p: piece[p] if p < n else None
    letter = lambda p: p < n and is_letter(piece[p])
    number = lambda p: p < n and is_number(piece[p])
    space = lambda p: p < n and piece[p].isspace()
    han = lambda p: p < n and is_han(piece[p])
    def add(end):
        nonlocal prev
        if end > prev:
            out.append(piece[prev:end])
        prev = end
    while pos < n:
        c = piece[pos]
        if han(pos):
            while han(pos): pos += 1
            add(pos); continue
        lead = not (c in "\r\n" or letter(pos) or number(pos))
        if (letter(pos) and not han(pos)) or (lead and letter(pos + 1) and not han(pos + 1)):
            if lead: pos += 1
            while letter(pos) and not han(pos): pos += 1
            if get(pos) == "'" and pos + 1 < n:
                nx = piece[pos + 1].lower()
                if nx in "stmd": pos += 2
                elif pos + 2 < n and nx + piece[pos + 2].lower() in ("re", "ve", "ll"): pos += 3
            add(pos); continue
        if number(pos):
            ini = pos
            while number(pos):
                pos += 1
                if pos - ini >= 3: add(pos); ini = pos
            add(pos); continue
        p2 = pos + 1 if c == " " else pos
        if p2 < n and not (space(p2) or letter(p2) or number(p2)):
            pos = p2
            while pos < n and not (space(pos) or letter(pos) or number(pos)): pos += 1
            while get(pos) in ("\r", "\n"): pos += 1
            add(pos); continue
        nws, last_nl = 0, 0
        while space(pos + nws):
            if piece[pos + nws] in "\r\n": last_nl = pos + nws + 1
            nws += 1
        if last_nl: pos = last_nl; add(pos); continue
        if nws > 1 and pos + nws < n: pos += nws - 1; add(pos); continue
        if nws: pos += nws; add(pos); continue
        pos += 1; add(pos)
    return out

def split(name, text):
    pieces = [text]
    for expr in KINDS[name][1]:
        f = split_afmoe if expr == "AFMOE" else split_kimi if expr == "KIMI" else lambda p, e=expr: split_regex(p, e)
        pieces = [q for p in pieces for q in f(p)]
    assert "".join(pieces) == text
    return pieces

TEXTS = [
    "Hello world's 12345 I'LL\n\n  go!!",
    "x=1234567; y = 'ab'\r\n\tz  ",
    "日本語テキスト 中文 한국어 ok",
    "HelloWorld HTTPServer camelCase don'T",
    "a  \n b$+<=>^~|`c (1, 2). 123abc",
]

def c_str(s):
    out = ""
    for ch in s:
        b = ch.encode()
        if ch == "\\" or ch == '"': out += "\\" + ch
        elif ch == "\n": out += "\\n"
        elif ch == "\r": out += "\\r"
        elif ch == "\t": out += "\\t"
        elif len(b) == 1 and 32 <= b[0] < 127: out += ch
        else: out += "".join("\\x%02x" % x for x in b) + '""'
    return '"' + out + '"'

def fnv64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h

if __name__ == "__main__" and len(__import__("sys").argv) > 1:
    strings = open(__import__("sys").argv[1], encoding="utf-8").read().split("\n__ggml_vocab_test__\n")[:-1]
    for name in KINDS:
        print(name + "\t" + " ".join("%016x" % fnv64("\x01".join(split(name, t)).encode()) for t in strings))
elif __name__ == "__main__":
    for name, (aliases, _) in KINDS.items():
        for t, text in enumerate(TEXTS):
            print("    {%s, %d, %s}," % (c_str(name), t, c_str("|".join(split(name, text)))))
        for alias in aliases:
            print("    {%s, 0, %s}," % (c_str(alias), c_str("|".join(split(name, TEXTS[0])))))
