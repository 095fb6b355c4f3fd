/* train_grad - one window of adapt/trainer on a GGUF base (repacked for the
 * kernels, as the daemon runs it): writes the loss, every LoRA pair's
 * gradient and the input embeddings' gradient to a binary file for
 * tests/reference/test_train.py; also the loss of forward.c's logits with
 * the same adapter applied, and central finite differences of a few
 * parameters through ed_trainer_loss (a second witness).
 * usage: train_grad MODEL.gguf OUT.bin [--lora ADAPTER.gguf] [--rank R]
 *        [--alpha A] [--targets MASK] [--threads N] [--fd K]
 *        [--segments L1,L2,...] TOKEN...
 * Targets are the next tokens (the last position has none). --segments
 * packs the tokens as segments of those lengths (ed_trainer_accumulate_packed;
 * the last position of each has no target; the inference loss is summed
 * over the segments run apart).
 * OUT: "EDTG", i32 n_tok, n_embd, n_layer, n_pairs, n_counted, f64 loss,
 * f64 inference loss; per pair: i32 layer, role, rank, n_in, n_out, f32
 * da (rank, n_in), f32 db (n_out, rank); f32 input grad (n_tok, n_embd);
 * i32 n_fd; per check: i32 pair, half (0 a, 1 b), element, f64 analytic,
 * f64 numeric. */
#include "adapt/trainer.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/forward.h"
#include "model/gguf.h"
#include "model/lora.h"
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_i32(FILE *f, int32_t v)
{
    fwrite(&v, sizeof v, 1, f);
}

static void put_f64(FILE *f, double v)
{
    fwrite(&v, sizeof v, 1, f);
}

/* The mean cross-entropy of next-token targets from forward.c's logits with
 * the trainer's adapter applied. */
static int inference_loss(const ed_model_t *model, const ed_kernels_t *k, ed_pool_t *pool, const ed_lora_t *lora,
                          const int32_t *tokens, int n, double *loss, char err[ED_ERR_LEN])
{
    ed_forward_t fw;
    int rc = ed_forward_init(&fw, model, k, pool, n, 0, err);
    if (rc != 0)
        return rc;
    ed_lora_set_t set = {.n = 1, .adapters = {lora}, .scales = {1.0f}};
    float *logits = malloc((size_t)n * model->n_vocab * sizeof(float));
    if (!logits)
        rc = ED_ENOMEM;
    if (rc == 0 && (rc = ed_forward_reserve_lora(&fw, lora->max_rank, err)) == 0) {
        fw.lora = &set;
        rc = ed_forward_eval(&fw, tokens, n, logits, err);
    }
    double sum = 0;
    for (int t = 0; rc == 0 && t + 1 < n; t++) {
        const float *row = logits + (size_t)t * model->n_vocab;
        double max = row[0], s = 0;
        for (int v = 1; v < model->n_vocab; v++)
            max = row[v] > max ? row[v] : max;
        for (int v = 0; v < model->n_vocab; v++)
            s += exp(row[v] - max);
        sum += max + log(s) - row[tokens[t + 1]];
    }
    *loss = sum;
    free(logits);
    ed_forward_free(&fw);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: train_grad MODEL.gguf OUT.bin [--lora A.gguf] [--rank R] [--alpha A] "
                        "[--targets MASK] [--threads N] [--fd K] TOKEN...\n");
        return 2;
    }
    const char *model_path = argv[1], *out_path = argv[2], *lora_path = NULL;
    ed_trainer_config_t cfg;
    ed_trainer_config_default(&cfg);
    int threads = 1, n_fd = 0, n = 0, n_seg = 0;
    int32_t *tokens = calloc((size_t)argc, sizeof *tokens), *targets = calloc((size_t)argc, sizeof *targets);
    int *seg = calloc((size_t)argc, sizeof *seg);
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--lora") == 0)
            lora_path = v, i++;
        else if (strcmp(a, "--rank") == 0)
            cfg.rank = atoi(v), i++;
        else if (strcmp(a, "--alpha") == 0)
            cfg.alpha = (float)atof(v), i++;
        else if (strcmp(a, "--targets") == 0)
            cfg.targets = (unsigned)strtoul(v, NULL, 0), i++;
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v), i++;
        else if (strcmp(a, "--fd") == 0)
            n_fd = atoi(v), i++;
        else if (strcmp(a, "--segments") == 0) {
            for (char *p = (char *)v; *p && n_seg < argc;) {
                seg[n_seg++] = (int)strtol(p, &p, 10);
                p += *p == ',';
            }
            i++;
        }
        else
            tokens[n++] = (int32_t)atol(a);
    }
    for (int i = 0; i < n; i++)
        targets[i] = i + 1 < n ? tokens[i + 1] : -1;
    for (int g = 0, end = 0; g < n_seg; g++) { /* a segment's last token predicts nothing */
        end += seg[g];
        if (end >= 1 && end <= n)
            targets[end - 1] = -1;
    }

    char err[ED_ERR_LEN] = "";
    ed_gguf_t *gguf = NULL;
    ed_model_t model = {0};
    ed_pool_t *pool = NULL;
    ed_lora_t *lora = NULL;
    ed_trainer_t *t = NULL;
    FILE *out = NULL;
    double loss = 0, loss_inf = 0;
    int counted = 0;
    const ed_kernels_t *k = ed_kernels_select(NULL);
    int rc = k ? 0 : ED_EUNSUPPORTED;
    if (rc == 0 && (rc = ed_gguf_open(&gguf, model_path, err)) == 0 && (rc = ed_model_load(&model, gguf, err)) == 0 &&
        (rc = ed_pool_open(&pool, threads, err)) == 0 && (rc = ed_model_repack(&model, k, pool, err)) == 0 &&
        lora_path && (rc = ed_lora_open(&lora, lora_path, gguf, &model, err)) == 0) {
        cfg.rank = lora->max_rank;
        cfg.targets = 0;
        for (int role = 0; role < ED_LORA_PER_LAYER; role++)
            if (lora->pairs[role].rank > 0)
                cfg.targets |= ED_TRAIN_TARGET(role);
    }
    cfg.seq_len = n > 2 ? n : 2;
    if (rc == 0 && (rc = ed_trainer_create(&t, &model, gguf, k, pool, &cfg, err)) == 0 && lora)
        rc = ed_trainer_set_adapter(t, lora, err);
    if (rc == 0)
        rc = ed_trainer_accumulate_packed(t, tokens, targets, n, n_seg ? seg : NULL, n_seg, 1.0f, &loss, &counted,
                                          err);
    for (int g = 0, r0 = 0; rc == 0 && g < (n_seg ? n_seg : 1); r0 += seg[g++]) {
        double part = 0;
        rc = inference_loss(&model, k, pool, ed_trainer_adapter(t), tokens + r0, n_seg ? seg[g] : n, &part, err);
        loss_inf += part;
    }
    if (rc == 0 && !(out = fopen(out_path, "wb")))
        rc = ED_EIO, snprintf(err, sizeof err, "cannot write %s", out_path);
    if (rc == 0) {
        const ed_lora_t *p = ed_trainer_adapter(t), *g = ed_trainer_grad(t);
        fwrite("EDTG", 1, 4, out);
        put_i32(out, n);
        put_i32(out, model.n_embd);
        put_i32(out, model.n_layer);
        put_i32(out, p->n_pairs);
        put_i32(out, counted);
        put_f64(out, loss);
        put_f64(out, loss_inf);
        for (int i = 0; i < model.n_layer * ED_LORA_PER_LAYER; i++) {
            const ed_lora_pair_t *q = &g->pairs[i];
            if (q->rank == 0)
                continue;
            put_i32(out, i / ED_LORA_PER_LAYER);
            put_i32(out, i % ED_LORA_PER_LAYER);
            put_i32(out, q->rank);
            put_i32(out, q->n_in);
            put_i32(out, q->n_out);
            fwrite(q->a, sizeof(float), (size_t)q->rank * q->n_in, out);
            fwrite(q->b, sizeof(float), (size_t)q->n_out * q->rank, out);
        }
        fwrite(ed_trainer_input_grad(t), sizeof(float), (size_t)n * model.n_embd, out);

        /* finite differences on the n_fd parameters of largest gradient,
         * picked among the a and b halves of the first and last layers */
        put_i32(out, n_fd);
        ed_lora_t *pm = (ed_lora_t *)p; /* the trainer's own parameters, nudged and restored */
        for (int c = 0; c < n_fd && rc == 0; c++) {
            int pair = -1, half = 0, elem = 0;
            float best = -1;
            int layer = c % 2 ? model.n_layer - 1 : 0;
            for (int i = layer * ED_LORA_PER_LAYER; i < (layer + 1) * ED_LORA_PER_LAYER; i++) {
                const ed_lora_pair_t *q = &g->pairs[i];
                for (int h = 0; q->rank && h < 2; h++) {
                    const float *gv = h ? q->b : q->a;
                    size_t len = (size_t)q->rank * (h ? q->n_out : q->n_in);
                    for (size_t e = (size_t)c; e < len; e += 7)
                        if ((h == c / 2 % 2) && fabsf(gv[e]) > best)
                            best = fabsf(gv[e]), pair = i, half = h, elem = (int)e;
                }
            }
            if (pair < 0) {
                put_i32(out, -1), put_i32(out, 0), put_i32(out, 0), put_f64(out, 0), put_f64(out, 0);
                continue;
            }
            float *pv = (half ? pm->pairs[pair].b : pm->pairs[pair].a) + elem;
            double analytic = (half ? g->pairs[pair].b : g->pairs[pair].a)[elem];
            float saved = *pv;
            float h = 1e-2f * (fabsf(saved) > 0.1f ? fabsf(saved) : 0.1f);
            double lp = 0, lm = 0;
            int cnt;
            *pv = saved + h;
            rc = ed_trainer_loss_packed(t, tokens, targets, n, n_seg ? seg : NULL, n_seg, &lp, &cnt, err);
            *pv = saved - h;
            if (rc == 0)
                rc = ed_trainer_loss_packed(t, tokens, targets, n, n_seg ? seg : NULL, n_seg, &lm, &cnt, err);
            double step = (double)(saved + h) - (double)(saved - h);
            *pv = saved;
            put_i32(out, pair), put_i32(out, half), put_i32(out, elem);
            put_f64(out, analytic);
            put_f64(out, (lp - lm) / step);
        }
    }
    if (out && fclose(out) != 0 && rc == 0)
        rc = ED_EIO, snprintf(err, sizeof err, "cannot write %s", out_path);
    if (rc != 0)
        fprintf(stderr, "train_grad: %s: %s: %s\n", model_path, ed_strerror(rc), err);
    ed_trainer_free(t);
    ed_lora_free(lora);
    ed_pool_close(pool);
    ed_model_free(&model);
    ed_gguf_close(gguf);
    free(tokens);
    free(targets);
    free(seg);
    return rc == 0 ? 0 : 1;
}
