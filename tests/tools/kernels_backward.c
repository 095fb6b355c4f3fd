/* kernels_backward - runs one training op of kernels/backward.h (or the op
 * table) on arrays read from a file and writes its results, for
 * tests/reference/test_backward.py to compare with PyTorch autograd.
 * Files: a sequence of arrays, each an int32 count then that many float32
 * (little-endian); the first input array holds the op's parameters.
 * usage: kernels_backward OP IN OUT, OP one of dx lora rmsnorm rope attention
 * swiglu ce adamw (EDGED_KERNELS picks the op table; 3 pool threads). */
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARRAYS 8

static float *in[MAX_ARRAYS];
static int in_len[MAX_ARRAYS];
static FILE *out_file;

static void die(const char *what)
{
    fprintf(stderr, "kernels_backward: %s\n", what);
    exit(1);
}

static float *new_f(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        die("out of memory");
    return p;
}

static void put(const float *x, size_t n)
{
    int32_t count = (int32_t)n;
    if (fwrite(&count, sizeof count, 1, out_file) != 1 || fwrite(x, sizeof(float), n, out_file) != n)
        die("write failed");
}

static void need(int arrays)
{
    for (int i = 0; i < arrays; i++)
        if (!in[i])
            die("too few input arrays");
}

int main(int argc, char **argv)
{
    if (argc != 4)
        die("usage: kernels_backward OP IN OUT");
    FILE *f = fopen(argv[2], "rb");
    if (!f)
        die("cannot open input");
    for (int i = 0; i < MAX_ARRAYS; i++) {
        int32_t count;
        if (fread(&count, sizeof count, 1, f) != 1)
            break;
        in[i] = new_f((size_t)count);
        in_len[i] = count;
        if (fread(in[i], sizeof(float), (size_t)count, f) != (size_t)count)
            die("short input");
    }
    fclose(f);
    need(1);
    const ed_kernels_t *k = ed_kernels_select(NULL);
    if (!k)
        die("unknown EDGED_KERNELS");
    char err[ED_KERR_LEN];
    ed_pool_t *pool = NULL;
    if (ed_pool_open(&pool, 3, err) != 0)
        die(err);
    out_file = fopen(argv[3], "wb");
    if (!out_file)
        die("cannot open output");
    const float *p = in[0];
    const char *op = argv[1];
    int rc = 0;
    if (strcmp(op, "dx") == 0) { /* n_in n_out n_batch type; w dy -> w_dequantized dx */
        need(3);
        int n_in = (int)p[0], n_out = (int)p[1], n_batch = (int)p[2], type = (int)p[3];
        const ed_quant_traits_t *traits = ed_quant_traits(type);
        uint64_t row_bytes = 0;
        if (!traits || ed_type_row_size(type, (uint64_t)n_in, &row_bytes) != 0)
            die("bad type or n_in");
        uint8_t *w = malloc(row_bytes * (size_t)n_out);
        float *w_deq = new_f((size_t)n_out * n_in), *dx = new_f((size_t)n_batch * n_in);
        for (int r = 0; r < n_out; r++) {
            traits->from_float(in[1] + (size_t)r * n_in, w + r * row_bytes, n_in);
            traits->to_float(w + r * row_bytes, w_deq + (size_t)r * n_in, n_in);
        }
        size_t ss = ed_matmul_backward_scratch_size(type, 3);
        void *scratch = malloc(ss + 1);
        ed_matmul_backward_t m = {w, type, n_in, n_out, in[2], dx, n_batch, 0};
        rc = ed_matmul_backward_input(k, pool, ED_POOL_LOW, &m, scratch, ss);
        put(w_deq, (size_t)n_out * n_in);
        put(dx, (size_t)n_batch * n_in);
    } else if (strcmp(op, "lora") == 0) { /* n_in n_out rank n_batch scale; x a b dy -> da db dx */
        need(5);
        int n_in = (int)p[0], n_out = (int)p[1], rank = (int)p[2], n_batch = (int)p[3];
        float *da = new_f((size_t)rank * n_in), *db = new_f((size_t)n_out * rank), *dx = new_f((size_t)n_batch * n_in);
        size_t nf = ed_lora_backward_scratch_floats(rank, n_batch);
        float *scratch = new_f(nf);
        ed_lora_backward_t l = {in[1], in[2], in[3], in[4], p[4], n_in, n_out, rank, n_batch, da, db, dx};
        rc = ed_lora_backward(k, pool, ED_POOL_LOW, &l, scratch, nf);
        put(da, (size_t)rank * n_in);
        put(db, (size_t)n_out * rank);
        put(dx, (size_t)n_batch * n_in);
    } else if (strcmp(op, "rmsnorm") == 0) { /* n rows eps; x w dy -> dx dw */
        need(4);
        int n = (int)p[0], rows = (int)p[1];
        float *dx = new_f((size_t)rows * n), *dw = new_f((size_t)n);
        for (int r = 0; r < rows; r++)
            k->rmsnorm_backward(dx + (size_t)r * n, dw, in[3] + (size_t)r * n, in[1] + (size_t)r * n, in[2], n, p[2]);
        put(dx, (size_t)rows * n);
        put(dw, (size_t)n);
    } else if (strcmp(op, "rope") == 0) {
        /* n_tok n_head head_dim n_rot neox base scale has_factors; factors dy -> dx */
        need(3);
        int n_tok = (int)p[0], n_head = (int)p[1], head_dim = (int)p[2];
        ed_rope_t rope = {(int)p[3], (int)p[4], p[5], p[6], p[7] != 0 ? in[1] : NULL};
        float *dx = new_f((size_t)n_tok * n_head * head_dim);
        memcpy(dx, in[2], sizeof(float) * (size_t)n_tok * n_head * head_dim);
        for (int t = 0; t < n_tok; t++)
            k->rope_backward(dx + (size_t)t * n_head * head_dim, n_head, head_dim, t, &rope);
        put(dx, (size_t)n_tok * n_head * head_dim);
    } else if (strcmp(op, "attention") == 0) { /* n_tok n_head n_kv head_dim scale; q k v dout -> dq dk dv */
        need(5);
        ed_attention_train_t s = {(int)p[0], (int)p[1], (int)p[2], (int)p[3], p[4]};
        size_t nq = (size_t)s.n_tok * s.n_head * s.head_dim, nkv = (size_t)s.n_tok * s.n_kv_head * s.head_dim;
        float *dq = new_f(nq), *dk = new_f(nkv), *dv = new_f(nkv), *scratch = new_f((size_t)3 * 2 * s.n_tok);
        rc = ed_attention_backward(k, pool, ED_POOL_LOW, dq, dk, dv, in[1], in[2], in[3], in[4], &s, scratch,
                                   (size_t)3 * 2 * s.n_tok);
        put(dq, nq);
        put(dk, nkv);
        put(dv, nkv);
    } else if (strcmp(op, "swiglu") == 0) { /* n; gate up dy -> dgate dup */
        need(4);
        int n = (int)p[0];
        float *dg = new_f((size_t)n), *du = new_f((size_t)n);
        k->swiglu_backward(dg, du, in[3], in[1], in[2], n);
        put(dg, (size_t)n);
        put(du, (size_t)n);
    } else if (strcmp(op, "ce") == 0) { /* n_embd n_vocab n_rows type chunk; h w targets -> w_deq [loss_sum n] dh */
        need(4);
        int n_embd = (int)p[0], n_vocab = (int)p[1], n_rows = (int)p[2], type = (int)p[3];
        const ed_quant_traits_t *traits = ed_quant_traits(type);
        uint64_t row_bytes = 0;
        if (!traits || ed_type_row_size(type, (uint64_t)n_embd, &row_bytes) != 0)
            die("bad type or n_embd");
        uint8_t *w = malloc(row_bytes * (size_t)n_vocab);
        float *w_deq = new_f((size_t)n_vocab * n_embd), *dh = new_f((size_t)n_rows * n_embd);
        for (int r = 0; r < n_vocab; r++) {
            traits->from_float(in[2] + (size_t)r * n_embd, w + r * row_bytes, n_embd);
            traits->to_float(w + r * row_bytes, w_deq + (size_t)r * n_embd, n_embd);
        }
        int32_t *targets = malloc(sizeof(int32_t) * (size_t)n_rows);
        int counted = 0;
        for (int r = 0; r < n_rows; r++) {
            targets[r] = (int32_t)in[3][r];
            counted += targets[r] >= 0;
        }
        ed_cross_entropy_t c = {in[1], w, type, n_embd, n_vocab, n_rows, targets,
                                counted ? 1.0f / counted : 0.0f, dh, (int)p[4]};
        size_t ss = ed_cross_entropy_scratch_size(&c, 3);
        void *scratch = malloc(ss);
        double loss = 0;
        int n = 0;
        rc = ed_cross_entropy(k, pool, ED_POOL_LOW, &c, scratch, ss, &loss, &n);
        float summary[2] = {(float)loss, (float)n};
        put(w_deq, (size_t)n_vocab * n_embd);
        put(summary, 2);
        put(dh, (size_t)n_rows * n_embd);
    } else if (strcmp(op, "adamw") == 0) { /* n steps lr b1 b2 eps wd; param grads(steps x n) -> param m v */
        need(3);
        int n = (int)p[0], steps = (int)p[1];
        float *m = new_f((size_t)n), *v = new_f((size_t)n);
        for (int s = 0; s < steps; s++) {
            ed_adamw_t h = {p[2], p[3], p[4], p[5], p[6], s + 1};
            k->adamw_step(in[1], m, v, in[2] + (size_t)s * n, n, &h);
        }
        put(in[1], (size_t)n);
        put(m, (size_t)n);
        put(v, (size_t)n);
    } else {
        die("unknown op");
    }
    if (rc != 0)
        die("op failed");
    fclose(out_file);
    ed_pool_close(pool);
    fprintf(stderr, "kernels_backward: %s on %s\n", op, k->name);
    return 0;
}
