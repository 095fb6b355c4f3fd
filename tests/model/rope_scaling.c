/* rope_scaling.c - linear RoPE scaling (`llama.rope.scaling.type = linear`,
 * factor 2) read by daemon/model/model.c and applied by the forward pass: a
 * layer-0 key depends only on its token and its position, so in the scaled
 * model the key of a token at position 2p must equal the unscaled model's key
 * of the same token at position p. Models come from tests/tools/mkmodel. */
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/forward.h"
#include "model/gguf.h"
#include "model/model.h"
#include "tests/model/runner.h"
#include "tests/test.h"

#define VOCAB "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"
#define TOKEN 15043 /* any token: every position holds the same one */
#define N_POS 7     /* positions of the scaled model: 0 .. 6 */

/* Writes a one-layer f32 llama with mkmodel (extra: more options) into dir,
 * opens it and evaluates n tokens TOKEN. 0 or an error (printed). */
static int model_open(runner_t *r, const char *dir, const char *name, const char *extra, int n)
{
    memset(r, 0, sizeof *r);
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char path[512], command[2048], err[ED_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    snprintf(command, sizeof command,
             "%s/tests/tools/mkmodel --arch llama --type f32 --n-layer 1 --n-embd 64 --n-head 4 "
             "--n-head-kv 2 --seed 11 --vocab %s --out %s %s >/dev/null 2>&1",
             build, VOCAB, path, extra);
    if (system(command) != 0) {
        printf("# failed: %s\n", command);
        return ED_EIO;
    }
    int32_t tokens[N_POS];
    for (int i = 0; i < n; i++)
        tokens[i] = TOKEN;
    int rc = runner_open(r, path, 1, N_POS, 0);
    if (rc == 0 && (rc = ed_forward_eval(&r->fw, tokens, n, NULL, err)) != 0)
        printf("# %s: %s (%s)\n", path, ed_strerror(rc), err);
    return rc;
}

static int same_key(const runner_t *a, int pos_a, const runner_t *b, int pos_b)
{
    int kv_dim = a->model.kv_dim;
    return memcmp(ed_kvcache_k(&a->fw.kv, 0, pos_a), ed_kvcache_k(&b->fw.kv, 0, pos_b),
                  (size_t)kv_dim * sizeof(uint16_t)) == 0;
}

ED_TEST(linear_factor_2_halves_positions)
{
    char dir[] = "/tmp/edged-rope-XXXXXX";
    ED_REQUIRE(mkdtemp(dir) != NULL);
    runner_t plain, scaled;
    int rc_plain = model_open(&plain, dir, "plain", "", (N_POS + 1) / 2);
    int rc_scaled = model_open(&scaled, dir, "scaled", "--rope-scale-linear 2", N_POS);
    if (rc_plain == 0 && rc_scaled == 0) {
        ED_CHECK_NEAR(plain.model.rope.freq_scale, 1.0f, 0);
        ED_CHECK_NEAR(scaled.model.rope.freq_scale, 0.5f, 0);
        for (int p = 0; 2 * p < N_POS; p++)
            ED_CHECK(same_key(&scaled, 2 * p, &plain, p));
        /* the scaling does something: odd scaled positions match no plain one */
        for (int p = 1; p < (N_POS + 1) / 2; p++)
            ED_CHECK(!same_key(&scaled, 1, &plain, p));
        ED_CHECK(!same_key(&scaled, 2, &plain, 2));
    } else {
        ED_CHECK(rc_plain == 0 && rc_scaled == 0);
    }
    runner_close(&plain);
    runner_close(&scaled);
    char command[256];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    ED_CHECK(system(command) == 0);
}

ED_TEST_MAIN(linear_factor_2_halves_positions)
