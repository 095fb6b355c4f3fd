/* mklora - writes a seeded random LoRA adapter for a base GGUF model, in
 * the layout llama.cpp's converter writes (lora_writer.h), for the reference
 * tests and benchmarks. `mklora --help`. */
#include "model/gguf.h"
#include "model/lora.h"
#include "model/model.h"
#include "tests/tools/lora_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mklora --base BASE.gguf --out OUT.gguf [options]\n"
            "  --targets attn|ffn|all|qkvo  attention q,k,v,o (attn, qkvo); gate,up,down (ffn);\n"
            "                               all: both, with output (untied bases) and token_embd (attn)\n"
            "  --rank N (8)  --alpha F (16; \"none\": no adapter.lora.alpha)  --seed N (1)\n"
            "  --type f32|f16|q8_0 (f32)    --fingerprint  add edged.adapter.base_fingerprint\n"
            "       mklora --tiny-base OUT.gguf   writes the fuzz driver's tiny base model\n");
}

int main(int argc, char **argv)
{
    const char *base_path = NULL, *out = NULL, *targets = "attn";
    long rank = 8;
    float alpha = 16;
    unsigned long long seed = 1;
    ed_type_t type = ED_TYPE_F32;
    bool fingerprint = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--fingerprint") == 0) {
            fingerprint = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "mklora: %s needs a value (see --help)\n", a);
            return 2;
        }
        if (strcmp(a, "--tiny-base") == 0) {
            ed_gguf_buf_t buf;
            FILE *f = lora_tiny_base(&buf) == 0 ? fopen(v, "wb") : NULL;
            bool ok = f && fwrite(buf.data, 1, buf.len, f) == buf.len;
            ok = f && fclose(f) == 0 && ok;
            ed_gguf_buf_free(&buf);
            return ok ? 0 : 1;
        }
        if (strcmp(a, "--base") == 0)
            base_path = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--targets") == 0)
            targets = v;
        else if (strcmp(a, "--rank") == 0)
            rank = strtol(v, NULL, 10);
        else if (strcmp(a, "--alpha") == 0)
            alpha = strcmp(v, "none") == 0 ? -1.0f : strtof(v, NULL);
        else if (strcmp(a, "--seed") == 0)
            seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--type") == 0 && ed_type_from_name(v) >= 0)
            type = (ed_type_t)ed_type_from_name(v);
        else {
            fprintf(stderr, "mklora: bad option %s %s (see --help)\n", a, v);
            return 2;
        }
        i++;
    }
    bool attn = strcmp(targets, "attn") == 0 || strcmp(targets, "qkvo") == 0 || strcmp(targets, "all") == 0;
    bool ffn = strcmp(targets, "ffn") == 0 || strcmp(targets, "all") == 0, all = strcmp(targets, "all") == 0;
    if (!base_path || !out || rank < 1 || (!attn && !ffn) ||
        (type != ED_TYPE_F32 && type != ED_TYPE_F16 && type != ED_TYPE_Q8_0)) {
        fprintf(stderr, "mklora: --base, --out, a rank >= 1, --targets attn|ffn|all and a type f32|f16|q8_0 "
                        "are required (see --help)\n");
        return 2;
    }

    char err[ED_ERR_LEN] = "";
    ed_gguf_t *base = NULL;
    ed_model_t m = {0};
    int rc;
    if ((rc = ed_gguf_open(&base, base_path, err)) != 0 || (rc = ed_model_load(&m, base, err)) != 0) {
        fprintf(stderr, "mklora: %s: %s\n", base_path, err);
        ed_gguf_close(base);
        return 1;
    }
    lora_file_t f;
    lora_file_init(&f, ed_model_arch_name(m.arch), alpha, seed);
    if (fingerprint) {
        char fp[ED_LORA_FINGERPRINT_LEN];
        ed_lora_fingerprint(base, fp);
        ed_gguf_writer_str(&f.w, "edged.adapter.base_fingerprint", fp);
    }
    if (all)
        lora_file_pair(&f, "token_embd.weight", m.n_embd, m.n_vocab, rank, true, type);
    for (int l = 0; l < m.n_layer; l++) {
        char name[64];
#define PAIR(role, n_in, n_out)                                                                                    \
    (snprintf(name, sizeof name, "blk.%d." role ".weight", l), lora_file_pair(&f, name, n_in, n_out, rank, false, type))
        if (attn) {
            PAIR("attn_q", m.n_embd, m.q_dim);
            PAIR("attn_k", m.n_embd, m.kv_dim);
            PAIR("attn_v", m.n_embd, m.kv_dim);
            PAIR("attn_output", m.q_dim, m.n_embd);
        }
        if (ffn) {
            PAIR("ffn_gate", m.n_embd, m.n_ff);
            PAIR("ffn_up", m.n_embd, m.n_ff);
            PAIR("ffn_down", m.n_ff, m.n_embd);
        }
#undef PAIR
    }
    if (all && !m.tied)
        lora_file_pair(&f, "output.weight", m.n_embd, m.n_vocab, rank, false, type);
    rc = lora_file_save(&f, out);
    if (rc != 0)
        fprintf(stderr, "mklora: cannot write %s\n", out);
    lora_file_free(&f);
    ed_model_free(&m);
    ed_gguf_close(base);
    return rc == 0 ? 0 : 1;
}
