#!/bin/sh
# tests/bench/model_bench.sh - `make bench`: `edged bench -t 2` on random
# models of real shapes, printed as one table: TinyLlama (1.1B, 22 layers,
# 2048 wide, GQA 32/4, FFN 5632, vocab 32000) in q4_0, q8_0, q4_k_m and q6_k;
# Qwen3-0.6B (28 layers, 1024 wide, 16/8 heads of 128, FFN 3072, tied,
# vocab 151936) and Gemma-3-1B (26 layers, 1152 wide, 4/1 heads of 256, FFN
# 6912, 5 of 6 layers sliding over 512 positions, tied, vocab 262144) in
# q4_0 and q8_0 (mkmodel presets; the vocabularies are GPT-2's and Llama's,
# padded to the real sizes). The `fraction` column sets generation against
# the memory-bandwidth bound (edged bench --help). The models are generated
# once by mkmodel and cached under $EDGED_BENCH_MODELS (build/bench-models).
# Where the CPU's own op table is avx512, the TinyLlama models are measured
# again with the AVX2-only table (EDGED_KERNELS=avx2) in a second table.
# EDGED_BENCH_QUICK=1: a tiny llama instead, one repetition, short tests;
# EDGED_BENCH_SHAPES="qwen3-0.6b gemma3-1b": only those shapes.
set -eu
BUILD=${BUILD:-build}
VOCABS=../shared/testdata/vocab
DIR=${EDGED_BENCH_MODELS:-build/bench-models}
mkdir -p "$DIR"
# name, architecture, vocabulary, types, mkmodel shape options
if [ "${EDGED_BENCH_QUICK:-0}" != 0 ]; then
    specs="tiny llama llama-spm q4_0,q8_0,q4_k_m --n-embd=256,--n-layer=4,--n-head=8,--n-head-kv=4,--n-ff=768,--ctx=2048"
    args="-p 64 -n 16 -r 1"
else
    specs="tinyllama-1.1b llama llama-spm q4_0,q8_0,q4_k_m,q6_k --preset=tinyllama-1.1b
qwen3-0.6b qwen3 gpt-2 q4_0,q8_0 --preset=qwen3-0.6b
gemma3-1b gemma3 llama-spm q4_0,q8_0 --preset=gemma3-1b"
    args="-p 512 -n 128 -r 3"
fi
status=0
newline='
'
models=""
IFS_SAVED=$IFS
IFS=$newline
for spec in $specs; do
    IFS=$IFS_SAVED
    # shellcheck disable=SC2086 # a spec is five words
    set -- $spec
    name=$1 arch=$2 vocab=$3 types=$4 shape=$(printf '%s' "$5" | tr ',=' '  ')
    case " ${EDGED_BENCH_SHAPES:-$name} " in *" $name "*) ;; *) IFS=$newline; continue ;; esac
    for type in $(printf '%s' "$types" | tr ',' ' '); do
        model="$DIR/$name-$type.gguf"
        if [ ! -f "$model" ]; then
            echo "model_bench: generating $model (once; cached)" >&2
            # shellcheck disable=SC2086 # $shape is a list of options
            "$BUILD/tests/tools/mkmodel" --arch "$arch" --type "$type" $shape --vocab "$VOCABS/ggml-vocab-$vocab.gguf" \
                --out "$model.tmp" >&2 && mv "$model.tmp" "$model" || { status=1; continue; }
        fi
        models="$models$name $type $model
"
    done
    IFS=$newline
done
IFS=$IFS_SAVED

# one table: $1 is the EDGED_KERNELS value ("" for the CPU's own choice),
# $2 the shapes it covers ("" for all)
bench_table() {
    header=""
    notes=""
    rows=""
    IFS=$newline
    for entry in $models; do
        IFS=$IFS_SAVED
        # shellcheck disable=SC2086 # an entry is three words
        set -- $entry
        case " ${table_shapes:-$1} " in *" $1 "*) ;; *) IFS=$newline; continue ;; esac
        # shellcheck disable=SC2086 # $args is a list of options
        out=$(EDGED_KERNELS="$kernels" "$BUILD/edged" bench -m "$3" -t 2 $args) ||
            { echo "model_bench: edged bench $3 failed"; status=1; IFS=$newline; continue; }
        [ -n "$header" ] || header=$(printf '%s\n' "$out" | grep '^| ' | head -2)
        rows="$rows$(printf '%s\n' "$out" | grep '^| .*\.gguf')
"
        notes="$notes$1 $2: $(printf '%s\n' "$out" | sed -n '1s/^edged bench: //p')
$1 $2: $(printf '%s\n' "$out" | grep '^peak RSS')
"
        IFS=$newline
    done
    IFS=$IFS_SAVED
    printf '%s\n%s\n%s' "$header" "$rows" "$notes"
}
kernels="" table_shapes="" bench_table
case "$notes" in
*"kernels avx512"*)
    printf '\nthe AVX2-only table (EDGED_KERNELS=avx2):\n'
    kernels=avx2 table_shapes="tiny tinyllama-1.1b" bench_table ;;
esac
exit $status
