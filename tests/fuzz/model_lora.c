/* tests/fuzz/model_lora.c - libFuzzer driver for the LoRA adapter reader:
 * each input is opened with ed_gguf_open_memory() and read as an adapter
 * against a tiny llama base built in memory (lora_writer.h's
 * lora_tiny_base); an accepted adapter has every pair's first and last
 * floats touched, is serialised and read back, and must come back equal.
 * A refusal must explain itself. Seeds: tests/fuzz/corpus/model_lora
 * (mklora against mklora --tiny-base). */
#include "model/gguf.h"
#include "model/lora.h"
#include "model/model.h"
#include "tests/tools/lora_writer.h"

#include <stdlib.h>
#include <string.h>

static volatile float sink;
static ed_gguf_buf_t base_bytes;
static ed_gguf_t *base_gguf;
static ed_model_t base_model;

static void open_base(void)
{
    char err[ED_ERR_LEN];
    if (lora_tiny_base(&base_bytes) != 0 || ed_gguf_open_memory(&base_gguf, base_bytes.data, base_bytes.len, err) != 0 ||
        ed_model_load(&base_model, base_gguf, err) != 0)
        abort();
}

static size_t a_floats(const ed_lora_t *lora, int i, const ed_lora_pair_t *p)
{
    bool embd = i == lora->n_layer * ED_LORA_PER_LAYER;
    return (size_t)p->rank * (size_t)(embd ? p->n_out : p->n_in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base_gguf)
        open_base();
    ed_gguf_t *g = NULL;
    ed_lora_t *lora = NULL, *again = NULL;
    char err[ED_ERR_LEN] = "";
    if (ed_gguf_open_memory(&g, data, size, err) != 0)
        return 0;
    err[0] = '\0';
    if (ed_lora_load(&lora, g, base_gguf, &base_model, err) != 0) {
        if (!err[0] || lora)
            abort(); /* a refusal always explains itself */
        ed_gguf_close(g);
        return 0;
    }
    int n = lora->n_layer * ED_LORA_PER_LAYER + 2, n_pairs = 0;
    for (int i = 0; i < n; i++) {
        const ed_lora_pair_t *p = &lora->pairs[i];
        if (!p->rank)
            continue;
        n_pairs++;
        size_t na = a_floats(lora, i, p), nb = (size_t)p->rank * (size_t)p->n_in + (size_t)p->rank * (size_t)p->n_out - na;
        sink += p->a[0] + p->a[na - 1] + p->b[0] + p->b[nb - 1];
    }
    if (n_pairs != lora->n_pairs || n_pairs == 0 || lora->max_rank < 1 || lora->max_rank > ED_LORA_MAX_RANK)
        abort();
    void *bytes = NULL;
    size_t n_bytes = 0;
    ed_gguf_t *g2 = NULL;
    if (ed_lora_serialize(lora, &bytes, &n_bytes, err) != 0 || ed_gguf_open_memory(&g2, bytes, n_bytes, err) != 0 ||
        ed_lora_load(&again, g2, base_gguf, &base_model, err) != 0)
        abort(); /* what edged writes, edged reads */
    for (int i = 0; i < n; i++) {
        const ed_lora_pair_t *p = &lora->pairs[i], *q = &again->pairs[i];
        if (p->rank != q->rank || p->n_in != q->n_in || p->n_out != q->n_out)
            abort();
        if (!p->rank)
            continue;
        size_t na = a_floats(lora, i, p), total = (size_t)p->rank * ((size_t)p->n_in + (size_t)p->n_out);
        if (memcmp(p->a, q->a, na * 4) != 0 || memcmp(p->b, q->b, (total - na) * 4) != 0)
            abort();
    }
    ed_lora_free(again);
    ed_gguf_close(g2);
    free(bytes);
    ed_lora_free(lora);
    ed_gguf_close(g);
    return 0;
}
