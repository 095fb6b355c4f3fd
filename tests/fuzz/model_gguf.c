/* tests/fuzz/model_gguf.c - libFuzzer driver for the GGUF reader: opens the
 * input with ed_gguf_open_memory() and, when it is accepted, walks every
 * accessor over every key, array element and tensor, touching the first and
 * last byte of each tensor's data so the sanitizers see any bad bound; then
 * reads the model from it (ed_model_load, or ed_bert_load for an embedding
 * model: architecture, hyper-parameters, tensor shapes and types, each
 * untrusted) and recognises its chat template text. Seeds: tests/fuzz/corpus/model_gguf (written by tests/unit/model/gguf). */
#include "model/bert.h"
#include "model/chat.h"
#include "model/gguf.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

/* Calls every getter on one key, looked up by name as callers do. */
static void walk_key(const ed_gguf_t *g, ed_str_t key)
{
    char name[256];
    if (key.len >= sizeof name || memchr(key.ptr, '\0', key.len))
        return;
    memcpy(name, key.ptr, key.len);
    name[key.len] = '\0';
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    float f;
    bool flag;
    ed_str_t s;
    ed_gguf_arr_t arr;
    if (!ed_gguf_has(g, name))
        abort(); /* every key of the file must be found by its name */
    ed_gguf_get_u32(g, name, &u32);
    ed_gguf_get_u64(g, name, &u64);
    ed_gguf_get_i32(g, name, &i32);
    ed_gguf_get_f32(g, name, &f);
    ed_gguf_get_bool(g, name, &flag);
    if (ed_gguf_get_str(g, name, &s) == 0 && s.len)
        sink ^= (uint8_t)(s.ptr[0] ^ s.ptr[s.len - 1]);
    if (ed_gguf_get_arr(g, name, &arr) == 0) {
        if (arr.type == ED_GGUF_STRING) {
            for (uint64_t i = 0; i < arr.n; i++)
                if (ed_gguf_arr_str(&arr, i, &s) == 0 && s.len)
                    sink ^= (uint8_t)(s.ptr[0] ^ s.ptr[s.len - 1]);
            if (ed_gguf_arr_str(&arr, arr.n, &s) != ED_ERANGE)
                abort();
        } else if (arr.n) {
            sink ^= ((const uint8_t *)arr.data)[0];
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_gguf_t *g;
    char err[ED_ERR_LEN];
    if (ed_gguf_open_memory(&g, data, size, err) != 0) {
        if (!err[0] || g)
            abort(); /* a rejection always explains itself */
        return 0;
    }
    ed_gguf_version(g);
    ed_gguf_file_size(g);
    for (uint64_t i = 0; i < ed_gguf_n_kv(g); i++) {
        ed_str_t key;
        ed_gguf_vtype_t type;
        const void *raw;
        uint64_t raw_bytes;
        if (ed_gguf_kv_at(g, i, &key, &type, &raw, &raw_bytes) != 0)
            abort();
        if (raw_bytes)
            sink ^= ((const uint8_t *)raw)[0] ^ ((const uint8_t *)raw)[raw_bytes - 1];
        ed_gguf_vtype_name(type);
        walk_key(g, key);
    }
    for (uint64_t i = 0; i < ed_gguf_n_tensors(g); i++) {
        const ed_gguf_tensor_t *t = ed_gguf_tensor(g, i);
        const uint8_t *bytes = t->data;
        sink ^= bytes[0] ^ bytes[t->size - 1];
        char name[128];
        if (t->name.len < sizeof name && !memchr(t->name.ptr, '\0', t->name.len)) {
            memcpy(name, t->name.ptr, t->name.len);
            name[t->name.len] = '\0';
            if (ed_gguf_find_tensor(g, name) != t)
                abort();
        }
    }
    if (ed_gguf_tensor(g, ed_gguf_n_tensors(g)) != NULL)
        abort();

    ed_model_t model = {0};
    err[0] = '\0';
    if (ed_model_load(&model, g, err) != 0) {
        if (!err[0])
            abort(); /* a rejection always explains itself */
    } else {
        if (model.n_layer <= 0 || model.n_embd <= 0 || model.n_vocab <= 0 || !model.layers)
            abort();
        sink ^= ((const uint8_t *)model.token_embd.data)[0];
    }
    ed_model_free(&model);
    ed_bert_t bert = {0};
    err[0] = '\0';
    if (ed_bert_load(&bert, g, err) != 0 && !err[0])
        abort();
    ed_bert_free(&bert);
    ed_str_t tmpl;
    if (ed_gguf_get_str(g, "tokenizer.chat_template", &tmpl) == 0)
        sink ^= (uint8_t)ed_chat_detect(tmpl.ptr, tmpl.len);
    ed_gguf_close(g);
    return 0;
}
