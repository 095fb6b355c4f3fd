/* x86/gemm_q6k_r8.h - the products of q6_K_r8 weights (kernels/repack.h)
 * against q8_K_x8 activations. The ymm row kernel (k6r_: AVX2 maddubs +
 * madd, VNNI vpdpbusd) takes ref/vec_dot.c's dot_q6_K_r8 steps per lane
 * (exact integer sums, the float steps in its order): it is AVX-512's
 * matrix-vector path, beside a tile of zmm row pairs for its batches (as
 * gemm_r8_zmm.h's, included before this header there), and both give the
 * reference's bits. On AVX2 one k-outer kernel (k6x_) serves batches and
 * single rows alike, with the scales applied in integer and 4 rows' float
 * steps in one vector: other bits than the reference's (within the forward
 * tests' tolerance). On either table a row is bit for bit the same alone
 * or in any batch. */
/* (needs gemm_r8.h included before it: R8_COLS, tile_hsum, K_VNNI, TERN_MUX) */

#define K6R_PRE_BLOCKS 64 /* super-blocks of precomputed activation offsets a pass holds */
#define K6R_PRE_COLS 8    /* activation rows of them (32 KiB): the zmm tile's columns */

/* -32 times the sums of elements 0..15 (h = 0) and 16..31 (h = 1) of each
 * sub-block of 32 of activation block a, sub-block j in lane j: the share
 * of the weights' level offset, which starts the integer sums. */
static inline __attribute__((always_inline)) void k6r_offsets(const ed_block_q8_K_x8_t *a, __m256i off[2])
{
    const __m256i ones = _mm256_set1_epi8(1);
    __m256i p = _mm256_maddubs_epi16(ones, _mm256_loadu_si256((const __m256i *)a->qs[0]));
#pragma GCC unroll 3
    for (int k = 1; k < 4; k++) /* 8 * 128 fits in 16 bits */
        p = _mm256_add_epi16(p, _mm256_maddubs_epi16(ones, _mm256_loadu_si256((const __m256i *)a->qs[k])));
    __m256i low = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    __m256i high = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)a->sum), low);
    off[0] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(low, 5));
    off[1] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(high, 5));
}

/* pre[((b * K6R_PRE_COLS + c) * 2 + h) * 8 + j]: k6r_offsets of
 * super-block b of activation row c, what every weight row of a pass would
 * recompute. */
static inline __attribute__((always_inline)) void k6r_act_offsets(int n_blocks, const uint8_t *x, size_t x_row_bytes,
                                                                  int cols, int32_t *pre)
{
    for (int b = 0; b < n_blocks; b++)
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++) {
            __m256i off[2];
            k6r_offsets((const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b, off);
            _mm256_storeu_si256((__m256i *)(pre + ((size_t)b * K6R_PRE_COLS + c) * 16), off[0]);
            _mm256_storeu_si256((__m256i *)(pre + ((size_t)b * K6R_PRE_COLS + c) * 16 + 8), off[1]);
        }
}

/* v[k] = the levels (0..63) of elements 4k..4k+3 of sub-block j in lane j,
 * for k = 4h..4h+3 (v[0..3]). */
static inline __attribute__((always_inline)) void k6r_levels(const ed_block_q6_K_r8_t *wb, int h, __m256i v[4])
{
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256i qh = _mm256_loadu_si256((const __m256i *)wb->qh[h]);
    __m256i ql0 = _mm256_loadu_si256((const __m256i *)wb->ql[2 * h]);
    __m256i ql1 = _mm256_loadu_si256((const __m256i *)wb->ql[2 * h + 1]);
#if K_VNNI
    /* bit pairs 0 and 2 (1 and 3) at bits 0-1 and 4-5, the rest clear, so
     * a shift by 4 or none puts one at 4-5 with 6-7 clear: one mux each */
    const __m256i two_bits = _mm256_set1_epi8(0x33);
    __m256i high02 = _mm256_and_si256(qh, two_bits);
    __m256i high13 = _mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits);
    v[0] = _mm256_ternarylogic_epi32(ql0, _mm256_slli_epi16(high02, 4), low, TERN_MUX);
    v[1] = _mm256_ternarylogic_epi32(_mm256_srli_epi16(ql0, 4), _mm256_slli_epi16(high13, 4), low, TERN_MUX);
    v[2] = _mm256_ternarylogic_epi32(ql1, high02, low, TERN_MUX);
    v[3] = _mm256_ternarylogic_epi32(_mm256_srli_epi16(ql1, 4), high13, low, TERN_MUX);
#else
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    v[0] = _mm256_or_si256(_mm256_and_si256(ql0, low), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
    v[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
    v[2] = _mm256_or_si256(_mm256_and_si256(ql1, low), _mm256_and_si256(qh, bits45));
    v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
#endif
}

/* start + the dots of levels v[0..3] with activation vectors xq[0..3], per
 * lane. AVX2: maddubs pairs are at most 2 * 63 * 128, two of them add in
 * 16 bits, then widen. VNNI: two vpdpbusd chains. Exact either way. */
static inline __attribute__((always_inline)) __m256i k6r_dot(__m256i start, const __m256i v[4], const int8_t xq[4][32])
{
    __m256i x0 = _mm256_loadu_si256((const __m256i *)xq[0]), x1 = _mm256_loadu_si256((const __m256i *)xq[1]);
    __m256i x2 = _mm256_loadu_si256((const __m256i *)xq[2]), x3 = _mm256_loadu_si256((const __m256i *)xq[3]);
#if K_VNNI
    __m256i even = _mm256_dpbusd_epi32(start, v[0], x0), odd = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v[1], x1);
    even = _mm256_dpbusd_epi32(even, v[2], x2);
    odd = _mm256_dpbusd_epi32(odd, v[3], x3);
    return _mm256_add_epi32(even, odd);
#else
    const __m256i one16 = _mm256_set1_epi16(1);
    __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(v[0], x0), _mm256_maddubs_epi16(v[1], x1));
    __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(v[2], x2), _mm256_maddubs_epi16(v[3], x3));
    return _mm256_add_epi32(start, _mm256_add_epi32(_mm256_madd_epi16(p01, one16), _mm256_madd_epi16(p23, one16)));
#endif
}

/* d * scale of half h of each sub-block, lane j. */
static inline __attribute__((always_inline)) __m256 k6r_scales(const ed_block_q6_K_r8_t *wb, int h)
{
    __m128i sc = _mm_loadl_epi64((const __m128i *)wb->scales[h]);
    return _mm256_mul_ps(_mm256_set1_ps(fp16_scalar(wb->d)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
}

/* y[c * y_stride] = dot(weight row, activation row c) for c < cols (a
 * constant after inlining); pre: NULL, or k6r_act_offsets of the rows. */
static inline __attribute__((always_inline)) void k6r_row_pre(int n_blocks, const uint8_t *row, const uint8_t *x,
                                                              size_t x_row_bytes, int cols, float *y,
                                                              size_t y_stride, const int32_t *pre)
{
    __m256 acc[R8_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        acc[c] = _mm256_setzero_ps();
    for (int b = 0; b < n_blocks; b++) {
        const ed_block_q6_K_r8_t *wb = (const ed_block_q6_K_r8_t *)row + b;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i v[4];
            k6r_levels(wb, h, v);
            __m256 ws = k6r_scales(wb, h);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                const ed_block_q8_K_x8_t *a = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
                __m256i start;
                if (pre) {
                    start = _mm256_loadu_si256((const __m256i *)(pre + (((size_t)b * K6R_PRE_COLS + c) * 2 + h) * 8));
                } else {
                    __m256i off[2];
                    k6r_offsets(a, off);
                    start = off[h];
                }
                __m256i sum = k6r_dot(start, v, a->qs + 4 * h);
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(ws, _mm256_set1_ps(a->d)), acc[c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = tile_hsum(acc[c]);
}

static inline __attribute__((always_inline)) void k6r_row(int type, int n_blocks, const uint8_t *row,
                                                          const uint8_t *x, size_t x_row_bytes, int cols, float *y,
                                                          size_t y_stride)
{
    (void)type;
    k6r_row_pre(n_blocks, row, x, x_row_bytes, cols, y, y_stride, NULL);
}

/* One pass of cols activation rows over n_rows weight rows. */
static inline __attribute__((always_inline)) void k6r_pass(int n_blocks, const uint8_t *w, size_t w_row_bytes,
                                                           int n_rows, const uint8_t *x, size_t x_row_bytes,
                                                           int cols, float *y, size_t y_stride)
{
    int32_t pre[K6R_PRE_BLOCKS * K6R_PRE_COLS * 16];
    if (n_rows < 2 || n_blocks > K6R_PRE_BLOCKS) {
        for (int r = 0; r < n_rows; r++)
            k6r_row_pre(n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride, NULL);
        return;
    }
    k6r_act_offsets(n_blocks, x, x_row_bytes, cols, pre);
    for (int r = 0; r < n_rows; r++)
        k6r_row_pre(n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride, pre);
}

/* Passes of R8_COLS activation rows, each computing its rows' offsets once
 * for all the weight rows. */
static void gemm_q6_K_r8(int n_blocks, const void *w_v, size_t w_row_bytes, int n_rows, const void *x_v,
                         size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    for (int c = 0; c < n_cols; c += R8_COLS) {
        const uint8_t *xc = x + (size_t)c * x_row_bytes;
        float *yc = y + (size_t)c * y_stride;
        switch (n_cols - c < R8_COLS ? n_cols - c : R8_COLS) {
        case 1: k6r_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 1, yc, y_stride); break;
        case 2: k6r_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 2, yc, y_stride); break;
        case 3: k6r_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 3, yc, y_stride); break;
        default: k6r_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 4, yc, y_stride); break;
        }
    }
}

#if !K_VNNI
/* The AVX2 kernel, k outermost (as gemm_r8.h's r8x_ kernels): each
 * unpacked level vector meets every activation row of the pass while it is
 * in a register, so the unpacking is shared by up to K6X_COLS rows. As the
 * q4_K_r8 one (k4x_row) it applies the scales in integer and folds 4
 * activation rows into one vector for the float steps. Per lane j and
 * activation row: maddubs pair sums of levels 0..63 (at most 2 * 63 * 128)
 * add two by two in 16 bits, vpmaddwd multiplies them by the scale of their
 * half (exact int32), and the level offset, -32 * sum_h scale_hj *
 * (sum of half h of sub-block j's activations), is one more vpmaddwd of
 * (-8 * the halves' sums) by (4 * the scales), both within int16; all of it
 * is below 2^26. This kernel is also the matrix-vector path, so a row is
 * the same bits alone or in any batch (tests/kernels/matmul.c). */
#define K6X_COLS K6R_PRE_COLS /* activation rows per pass (at most; see gemm_q6_K_r8_avx2) */
_Static_assert(K6X_COLS <= R8X_COLS, "x8_act_t holds a pass");
/* A pass of K6X_COLS rows of 5632 q8_K_x8 activations (51 KiB) measured
 * 2-4% faster than half as many (unlike q4_K_r8's, see R8X_PASS_BYTES: a q6
 * level vector costs more to unpack); longer rows take half. */
#define K6X_PASS_BYTES (64 << 10)

/* A weight super-block's scales: per half h, scale_hj in both int16 of
 * lane j (sc[h]); 4 * (scale_0j, scale_1j) in lane j (offset); and d. */
typedef struct {
    __m256i sc[2];
    __m256i offset;
    float d;
} k6x_wscale_t;

static inline __attribute__((always_inline)) k6x_wscale_t k6x_wscale(const ed_block_q6_K_r8_t *wb)
{
    __m128i s = _mm_loadu_si128((const __m128i *)wb->scales); /* scales[0][0..7], scales[1][0..7] */
    __m256i pair = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(s, _mm_srli_si128(s, 8)));
    const __m256i first = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5, 4,
                                           5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m256i second = _mm256_add_epi8(first, _mm256_set1_epi8(2));
    k6x_wscale_t ws = {{_mm256_shuffle_epi8(pair, first), _mm256_shuffle_epi8(pair, second)},
                       _mm256_slli_epi16(pair, 2), fp16_scalar(wb->d)};
    return ws;
}

/* -8 times the sums of elements 0..15 and 16..31 of each sub-block j of
 * activation block a, as the two int16 of lane j (at most 8 * 16 * 128). */
static inline __attribute__((always_inline)) __m256i k6x_offsets(const ed_block_q8_K_x8_t *a)
{
    __m256i off[2];
    k6r_offsets(a, off); /* -32 times the same sums, int32 */
    __m256i low = _mm256_srai_epi32(off[0], 2), high = _mm256_srai_epi32(off[1], 2);
    return _mm256_blend_epi16(low, _mm256_slli_epi32(high, 16), 0xAA);
}

/* s[c] (+)= the sums of levels va, vb with vectors k, k + 1 of activation
 * row c (at xq + c * x_row_bytes), times their half's scales sc. */
static inline __attribute__((always_inline)) void k6x_pair(__m256i va, __m256i vb, const uint8_t *xq,
                                                           size_t x_row_bytes, int k, int cols, __m256i sc, bool first,
                                                           __m256i s[K6X_COLS])
{
#pragma GCC unroll 8
    for (int c = 0; c < cols; c++) {
        const int8_t(*q)[32] = (const int8_t(*)[32])(xq + (size_t)c * x_row_bytes);
        __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(va, _mm256_loadu_si256((const __m256i *)q[k])),
                                     _mm256_maddubs_epi16(vb, _mm256_loadu_si256((const __m256i *)q[k + 1])));
        __m256i m = _mm256_madd_epi16(p, sc);
        s[c] = first ? m : _mm256_add_epi32(s[c], m);
        __asm__("" : "+x"(s[c])); /* in a register, as in r8x_dot16 */
    }
}

/* y[c * y_stride] = dot(q6_K_r8 weight row, activation row c), c < cols <=
 * K6X_COLS; act: the pass's x8_act per super-block, or NULL (computed here). */
static inline __attribute__((always_inline)) void k6x_row(int n_blocks, const uint8_t *row, const uint8_t *x,
                                                          size_t x_row_bytes, int cols, float *y, size_t y_stride,
                                                          const x8_act_t *act)
{
    enum { GROUPS = K6X_COLS / 4 };
    const int groups = (cols + 3) / 4;
    const __m256i low = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    __m256 acc[GROUPS];
#pragma GCC unroll 2
    for (int g = 0; g < groups; g++)
        acc[g] = _mm256_setzero_ps();
    for (int b = 0; b < n_blocks; b++) {
        const ed_block_q6_K_r8_t *wb = (const ed_block_q6_K_r8_t *)row + b;
        r8x_prefetch(cols, wb);
        r8x_prefetch(cols, (const char *)wb + 192);
        const uint8_t *xq = (const uint8_t *)((const ed_block_q8_K_x8_t *)x + b)->qs;
        k6x_wscale_t w = k6x_wscale(wb);
        __m256i s[K6X_COLS];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i qh = _mm256_loadu_si256((const __m256i *)wb->qh[h]);
            __m256i ql = _mm256_loadu_si256((const __m256i *)wb->ql[2 * h]);
            __m256i v0 = _mm256_or_si256(_mm256_and_si256(ql, low), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
            __m256i v1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql, 4), low),
                                         _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
            k6x_pair(v0, v1, xq, x_row_bytes, 4 * h, cols, w.sc[h], h == 0, s);
            ql = _mm256_loadu_si256((const __m256i *)wb->ql[2 * h + 1]);
            __m256i v2 = _mm256_or_si256(_mm256_and_si256(ql, low), _mm256_and_si256(qh, bits45));
            __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql, 4), low),
                                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
            k6x_pair(v2, v3, xq, x_row_bytes, 4 * h + 2, cols, w.sc[h], false, s);
        }
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++) {
            __m256i off = act ? act[b].off[c]
                              : k6x_offsets((const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b);
            s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(off, w.offset));
        }
#pragma GCC unroll 2
        for (int g = 0; g < groups; g++) {
            __m256 ad = act ? act[b].ad[g] : x8_group_d(x, x_row_bytes, b, g, cols);
            acc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(k4x_fold(s, g, cols)), _mm256_mul_ps(_mm256_set1_ps(w.d), ad),
                                     acc[g]);
        }
    }
#pragma GCC unroll 2
    for (int g = 0; g < groups; g++)
        k4x_store(acc[g], g, cols, y, y_stride);
}

static inline __attribute__((always_inline)) void k6x_pass(int n_blocks, const uint8_t *w, size_t w_row_bytes,
                                                           int n_rows, const uint8_t *x, size_t x_row_bytes,
                                                           int cols, float *y, size_t y_stride, x8_act_t *act)
{
    if (n_rows < 2 || n_blocks > K6R_PRE_BLOCKS)
        act = NULL;
    else
        x8_act(n_blocks, x, x_row_bytes, cols, k6x_offsets, act);
    for (int r = 0; r < n_rows; r++)
        k6x_row(n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride, act);
}

/* The ed_gemm_fn contract in passes of K6X_COLS activation rows, or half
 * that many where they would not stay in L1 (K6X_PASS_BYTES). */
static void gemm_q6_K_r8_avx2(int n_blocks, const void *w_v, size_t w_row_bytes, int n_rows, const void *x_v,
                              size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    x8_act_t act[K6R_PRE_BLOCKS];
    const int max_cols = K6X_COLS * x_row_bytes <= K6X_PASS_BYTES ? K6X_COLS : K6X_COLS / 2;
    for (int c = 0; c < n_cols; c += max_cols) {
        const uint8_t *xc = x + (size_t)c * x_row_bytes;
        float *yc = y + (size_t)c * y_stride;
        switch (n_cols - c < max_cols ? n_cols - c : max_cols) {
#define K6X_CASE(n)                                                                                                \
    case n: k6x_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, n, yc, y_stride, act); break;
            K6X_CASE(1)
            K6X_CASE(2)
            K6X_CASE(3)
            K6X_CASE(4)
            K6X_CASE(5)
            K6X_CASE(6)
            K6X_CASE(7)
#undef K6X_CASE
        default: k6x_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, K6X_COLS, yc, y_stride, act); break;
        }
    }
}
#endif

#ifdef R8Z_PAIRS /* AVX-512: gemm_r8_zmm.h's row pairs */

/* A tile is one row pair (row r in the low 8 lanes, r + 1 in the high 8)
 * by K6RZ_COLS activation rows: each unpacked weight vector serves 8
 * vpdpbusd, which keeps the unpacking and scale work (port 5) below the
 * vpdpbusd (port 0); 8 sum and 8 float accumulators. */
#define K6RZ_COLS K6R_PRE_COLS

/* k6r_levels for two rows: b0's in the low half, b1's in the high. */
static inline __attribute__((always_inline)) void k6rz_levels(const ed_block_q6_K_r8_t *b0,
                                                              const ed_block_q6_K_r8_t *b1, int h, __m512i v[4])
{
    const __m512i low = _mm512_set1_epi8(0x0F), two_bits = _mm512_set1_epi8(0x33);
    __m512i qh = r8z_load2(b0->qh[h], b1->qh[h]);
    __m512i ql0 = r8z_load2(b0->ql[2 * h], b1->ql[2 * h]), ql1 = r8z_load2(b0->ql[2 * h + 1], b1->ql[2 * h + 1]);
    __m512i high02 = _mm512_and_si512(qh, two_bits);
    __m512i high13 = _mm512_and_si512(_mm512_srli_epi16(qh, 2), two_bits);
    v[0] = _mm512_ternarylogic_epi32(ql0, _mm512_slli_epi16(high02, 4), low, TERN_MUX);
    v[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql0, 4), _mm512_slli_epi16(high13, 4), low, TERN_MUX);
    v[2] = _mm512_ternarylogic_epi32(ql1, high02, low, TERN_MUX);
    v[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql1, 4), high13, low, TERN_MUX);
}

/* d * scale of half h of each sub-block of two rows (k6r_scales in zmm). */
static inline __attribute__((always_inline)) void k6rz_scales(const ed_block_q6_K_r8_t *b0,
                                                              const ed_block_q6_K_r8_t *b1, __m512 ws[2])
{
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)b0->d)),
                                        _mm_set1_epi16((short)b1->d), 1);
    __m512 d = _mm512_cvtph_ps(h);
    /* qwords [b0 half 0, b0 half 1, b1 half 0, b1 half 1] -> [b0 h0, b1 h0 | b0 h1, b1 h1] */
    __m256i sc = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b0->scales)),
                                         _mm_loadu_si128((const __m128i *)b1->scales), 1);
    sc = _mm256_permute4x64_epi64(sc, 0xD8);
    ws[0] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(sc))));
    ws[1] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(sc, 1))));
}

/* Rows r, r + 1 (at w) x cols activation rows (at x, offsets in pre):
 * y[c * y_stride + 0 or 1]. */
static inline __attribute__((always_inline)) void k6rz_tile(int n_blocks, const uint8_t *w, size_t w_row_bytes,
                                                            const uint8_t *x, size_t x_row_bytes, int cols, float *y,
                                                            size_t y_stride, const int32_t *pre)
{
    __m512 acc[K6RZ_COLS];
#pragma GCC unroll 8
    for (int c = 0; c < cols; c++)
        acc[c] = _mm512_setzero_ps();
    for (int b = 0; b < n_blocks; b++) {
        const ed_block_q6_K_r8_t *b0 = (const ed_block_q6_K_r8_t *)w + b;
        const ed_block_q6_K_r8_t *b1 = (const ed_block_q6_K_r8_t *)(w + w_row_bytes) + b;
        const ed_block_q8_K_x8_t *a[K6RZ_COLS];
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++)
            a[c] = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
        __m512 ws[2];
        k6rz_scales(b0, b1, ws);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i sum[K6RZ_COLS], v[4];
#pragma GCC unroll 8
            for (int c = 0; c < cols; c++)
                sum[c] = r8z_bcast(pre + (((size_t)b * K6R_PRE_COLS + c) * 2 + h) * 8);
            k6rz_levels(b0, b1, h, v);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
#pragma GCC unroll 8
                for (int c = 0; c < cols; c++)
                    sum[c] = _mm512_dpbusd_epi32(sum[c], v[k], r8z_bcast(a[c]->qs[4 * h + k]));
#pragma GCC unroll 8
            for (int c = 0; c < cols; c++)
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[c]), _mm512_mul_ps(ws[h], _mm512_set1_ps(a[c]->d)),
                                         acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < cols; c++) {
        y[(size_t)c * y_stride] = tile_hsum(_mm512_castps512_ps256(acc[c]));
        y[(size_t)c * y_stride + 1] = tile_hsum(_mm512_extractf32x8_ps(acc[c], 1));
    }
}

/* Every row of one column block (cols activation rows, offsets in pre): row
 * pairs, then a last odd row by the ymm kernel (R8_COLS columns at a time). */
static inline __attribute__((always_inline)) void k6rz_cols(int n_blocks, const uint8_t *w, size_t w_row_bytes,
                                                            int n_rows, const uint8_t *x, size_t x_row_bytes,
                                                            int cols, float *y, size_t y_stride, const int32_t *pre)
{
    int r = 0;
    for (; r + 2 <= n_rows; r += 2)
        k6rz_tile(n_blocks, w + (size_t)r * w_row_bytes, w_row_bytes, x, x_row_bytes, cols, y + r, y_stride, pre);
    if (r < n_rows) {
        const uint8_t *row = w + (size_t)r * w_row_bytes;
        if (cols > R8_COLS) {
            k6r_row_pre(n_blocks, row, x, x_row_bytes, R8_COLS, y + r, y_stride, pre);
            k6r_row_pre(n_blocks, row, x + R8_COLS * x_row_bytes, x_row_bytes, cols - R8_COLS,
                        y + r + R8_COLS * y_stride, y_stride, pre + R8_COLS * 16);
        } else {
            k6r_row_pre(n_blocks, row, x, x_row_bytes, cols, y + r, y_stride, pre);
        }
    }
}

/* The ed_gemm_fn contract: up to R8_COLS activation rows go the ymm passes
 * (the matrix-vector path); more go in column blocks of K6RZ_COLS, the
 * offsets computed once per block. Rows longer than K6R_PRE_BLOCKS
 * super-blocks take the ymm passes too. */
static void gemm_q6_K_r8_zmm(int n_blocks, const void *w_v, size_t w_row_bytes, int n_rows, const void *x_v,
                             size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    if (n_cols <= R8_COLS || n_blocks > K6R_PRE_BLOCKS) {
        gemm_q6_K_r8(n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
        return;
    }
    int32_t pre[K6R_PRE_BLOCKS * K6R_PRE_COLS * 16];
    for (int c = 0; c < n_cols; c += K6RZ_COLS) {
        const uint8_t *xc = x + (size_t)c * x_row_bytes;
        float *yc = y + (size_t)c * y_stride;
        int cols = n_cols - c < K6RZ_COLS ? n_cols - c : K6RZ_COLS;
        switch (cols) {
#define K6RZ_CASE(n)                                                                                        \
    case n:                                                                                                 \
        k6r_act_offsets(n_blocks, xc, x_row_bytes, n, pre);                                                 \
        k6rz_cols(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, n, yc, y_stride, pre);                 \
        break;
            K6RZ_CASE(1) K6RZ_CASE(2) K6RZ_CASE(3) K6RZ_CASE(4) K6RZ_CASE(5) K6RZ_CASE(6) K6RZ_CASE(7)
            default: K6RZ_CASE(8)
#undef K6RZ_CASE
        }
    }
}

#endif
