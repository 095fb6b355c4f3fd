#!/bin/sh
# tests/bench/model_bench.sh - `make bench`: `edged bench -t 2` on a
# TinyLlama-shaped random model (1.1B, 22 layers, 2048 wide, GQA 32/4, FFN
# 5632, vocab 32000) in q4_0, q8_0 and q4_k_m, printed as one table per op
# table: the one this CPU selects and, where that is avx512, the AVX2-only
# one too (EDGED_KERNELS=avx2). The models are generated once by mkmodel and
# cached under build/bench-models/.
# EDGED_BENCH_QUICK=1: a tiny model instead, one repetition, short tests.
set -eu
BUILD=${BUILD:-build}
VOCAB=../shared/testdata/vocab/ggml-vocab-llama-spm.gguf
DIR=build/bench-models
mkdir -p "$DIR"
if [ "${EDGED_BENCH_QUICK:-0}" != 0 ]; then
    shape="--n-embd 256 --n-layer 4 --n-head 8 --n-head-kv 4 --n-ff 768 --ctx 2048"
    name=tiny; args="-p 64 -n 16 -r 1"
else
    shape="--preset tinyllama-1.1b"
    name=tinyllama-1.1b; args="-p 512 -n 128 -r 3"
fi
status=0
for type in q4_0 q8_0 q4_k_m; do
    model="$DIR/$name-$type.gguf"
    if [ ! -f "$model" ]; then
        echo "model_bench: generating $model (once; cached)" >&2
        # shellcheck disable=SC2086 # $shape is a list of options
        "$BUILD/tests/tools/mkmodel" --arch llama --type "$type" $shape --vocab "$VOCAB" \
            --out "$model.tmp" >&2 && mv "$model.tmp" "$model" || status=1
    fi
done
# one table: $1 is the EDGED_KERNELS value ("" for the CPU's own choice)
bench_table() {
    header=""
    notes=""
    rows=""
    for type in q4_0 q8_0 q4_k_m; do
        model="$DIR/$name-$type.gguf"
        [ -f "$model" ] || continue
        # shellcheck disable=SC2086 # $args is a list of options
        out=$(EDGED_KERNELS="$1" "$BUILD/edged" bench -m "$model" -t 2 $args) ||
            { echo "model_bench: edged bench $model failed"; status=1; continue; }
        [ -n "$header" ] || header=$(printf '%s\n' "$out" | grep '^| ' | head -2)
        rows="$rows$(printf '%s\n' "$out" | grep '^| .*\.gguf')
"
        notes="$notes$type: $(printf '%s\n' "$out" | sed -n '1s/^edged bench: //p')
$type: $(printf '%s\n' "$out" | grep '^peak RSS')
"
    done
    printf '%s\n%s\n%s' "$header" "$rows" "$notes"
}
bench_table ""
case "$notes" in
*"kernels avx512"*)
    printf '\nthe AVX2-only table (EDGED_KERNELS=avx2):\n'
    bench_table avx2 ;;
esac
exit $status
