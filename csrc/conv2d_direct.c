/*
 * conv2d_direct.c -- convolution of images with few input channels (the
 * first layer of a CNN on grey or colour images), without the GEMM engine.
 *
 * With in_c = 1 a 3x3 filter has K = kh*kw*in_c = 9 weights: as a matrix
 * product y = P . W the reduction is only 9 deep, far too short for packed
 * GEMM panels to pay for their packing.  These kernels work on the patches
 * directly instead:
 *
 *   forward   y[i][co]  = b[co] + sum_k P[i][k] W[k][co]
 *   weights   dW[k][co] = sum_i P[i][k] dy[i][co],   db[co] = sum_i dy[i][co]
 *
 * where i runs over output pixels (n, oh, ow) and P[i] is the K-value patch
 * under pixel i, gathered into a small buffer (zeros in the padding).
 *
 * Forward: a tile of PX = 8 neighbouring output pixels times 8 output
 * channels (one AVX register each) is accumulated in 8 registers over the K
 * weights; each step loads one vector of W and broadcasts one patch value
 * per pixel, read straight from x when the tile's windows lie inside the
 * image (no copy), else from patches gathered with their zero padding.
 * Threads take whole output rows.
 *
 * Weights: the patch gets a constant 1 appended as value K, so row K of the
 * result is db.  The pixels are cut into ranges fixed by the problem, each
 * with its own partial dW, added up in range order at the end (so the result
 * depends neither on scheduling nor on the number of threads).  Within a range, pixels are gathered in blocks
 * of PB; for each 16-channel slice (two registers wide) and each group of KB
 * patch values the 2 x KB partial sums stay in registers while the block's
 * pixels stream past (one register wide: half the independent sums, and
 * the FMA latency shows -- a 16-wide slice took 20-25 % off the time).
 *
 * Weights through ReLU and max pooling (the first layer of a CNN, which
 * needs no input gradient): with y = relu(conv(x)) pooled by windows that
 * tile y, the gradient at the convolution's output is the pool's output
 * gradient at each window's maximum, if that maximum is > 0, and 0
 * elsewhere.  Instead of materialising it (max-pool backward writes a
 * y-sized array, ReLU backward reads and writes it again, the weight
 * gradient reads it once more), the blocks here are made of whole pooling
 * windows: the window's argmax and its taps' gradients are computed into a
 * small per-thread buffer, and the same register-blocked sums run on it.
 * Pixels outside every window have no gradient and are skipped.
 */
#include <string.h>

#include "internal.h"

/* PX output pixels per forward tile; PB pixels per gathered block and KB
 * patch values per register group in the weight gradient (KB = 5: a 3x3
 * filter on one channel has K + 1 = 10 values, two groups and no padding). */
enum { PX = 8, PB = 64, KB = 5 };

/* Where each of the K patch values sits relative to the window's top-left
 * input pixel: offset[k] for k = (kh, kw, ci). */
FASTNN_INLINE void patch_offsets(const fastnn_conv2d_geom *g, int64_t *offset)
{
    for (int64_t kh = 0, k = 0; kh < g->k_h; kh++)
        for (int64_t kw = 0; kw < g->k_w; kw++)
            for (int64_t c = 0; c < g->in_c; c++)
                offset[k++] = (kh * g->in_w + kw) * g->in_c + c;
}

/* The K values under output pixel (n, oh, ow), in (kh, kw, ci) order: by
 * the offsets when the window lies inside the image, else tap by tap with
 * zeros in the padding.  (Plain loops, not memcpy: the runs are 1-3 floats.) */
FASTNN_INLINE void gather_patch(const float *x, const fastnn_conv2d_geom *g,
                                const int64_t *offset, int64_t n, int64_t oh,
                                int64_t ow, float *patch)
{
    int64_t ih0 = oh * g->stride_h - g->pad_top, iw0 = ow * g->stride_w - g->pad_left;
    const int64_t k_len = g->k_h * g->k_w * g->in_c;
    if (ih0 >= 0 && iw0 >= 0 && ih0 + g->k_h <= g->in_h && iw0 + g->k_w <= g->in_w) {
        const float *base = x + ((n * g->in_h + ih0) * g->in_w + iw0) * g->in_c;
        for (int64_t k = 0; k < k_len; k++)
            patch[k] = base[offset[k]];
        return;
    }
    for (int64_t kh = 0, k = 0; kh < g->k_h; kh++)
        for (int64_t kw = 0; kw < g->k_w; kw++) {
            int64_t ih = ih0 + kh, iw = iw0 + kw;
            int inside = ih >= 0 && ih < g->in_h && iw >= 0 && iw < g->in_w;
            const float *src = x + ((n * g->in_h + ih) * g->in_w + iw) * g->in_c;
            for (int64_t c = 0; c < g->in_c; c++, k++)
                patch[k] = inside ? src[c] : 0.0f;
        }
}

/* ---- forward ---------------------------------------------------------------- */

/* One tile: out[p][c..c+7] = bias + sum_k v(p, k) W[k][c..c+7] for the px
 * pixels of the tile, where the patch value v(p, k) = src[p * step + at[k]].
 * Full tiles are stored straight from the 8 accumulator registers. */
FASTNN_INLINE void forward_tile(const float *src, int64_t step,
                                const int64_t *at, int64_t k_len,
                                const float *w, const float *b, int64_t co,
                                int relu, int64_t px, float *out)
{
    int64_t c = 0;
    for (; c + 8 <= co; c += 8) {
        fastnn_v8 start = {0}, acc[PX];
        if (b)
            memcpy(&start, b + c, sizeof start);
        for (int p = 0; p < PX; p++)
            acc[p] = start;
        for (int64_t k = 0; k < k_len; k++) {
            fastnn_v8 wk;
            memcpy(&wk, w + k * co + c, sizeof wk);
            const float *v = src + at[k];
            for (int p = 0; p < PX; p++)
                acc[p] += v[p * step] * wk;
        }
        for (int p = 0; p < PX; p++)
            if (relu)
                fastnn_relu_v8(&acc[p]);
        /* stores through the vector type (aligned(4): any float address),
         * so the accumulators stay in registers instead of a stack copy */
        if (px == PX)
            for (int p = 0; p < PX; p++)
                *(fastnn_v8 *)(out + p * co + c) = acc[p];
        else
            for (int64_t p = 0; p < px; p++)
                *(fastnn_v8 *)(out + p * co + c) = acc[p];
    }
    for (; c < co; c++) /* channels past the last multiple of 8 */
        for (int64_t p = 0; p < px; p++) {
            float sum = b ? b[c] : 0.0f;
            for (int64_t k = 0; k < k_len; k++)
                sum += src[p * step + at[k]] * w[k * co + c];
            out[p * co + c] = relu && sum < 0.0f ? 0.0f : sum;
        }
}

/* Rows [row0, row1) of output pixels, PX at a time.  A tile whose windows
 * all lie inside the image reads its patch values straight from x (pixel p
 * is p * stride_w * in_c floats after pixel 0); a tile touching the padding
 * or the right edge gathers its patches, zeros included, into a buffer. */
FASTNN_INLINE void forward_rows(const float *x, const float *w, const float *b,
                                float *y, const fastnn_conv2d_geom *g,
                                int relu, int64_t row0, int64_t row1)
{
    const int64_t k_len = g->k_h * g->k_w * g->in_c, co = g->out_c;
    float patch[PX][FASTNN_DIRECT_MAX_K];
    int64_t offset[FASTNN_DIRECT_MAX_K], identity[FASTNN_DIRECT_MAX_K];
    patch_offsets(g, offset);
    for (int64_t k = 0; k < k_len; k++)
        identity[k] = k;
    for (int64_t row = row0; row < row1; row++) {
        int64_t n = row / g->out_h, oh = row % g->out_h;
        int64_t ih0 = oh * g->stride_h - g->pad_top;
        int rows_inside = ih0 >= 0 && ih0 + g->k_h <= g->in_h;
        for (int64_t ow0 = 0; ow0 < g->out_w; ow0 += PX) {
            int64_t px = fastnn_min(PX, g->out_w - ow0);
            float *out = y + (row * g->out_w + ow0) * co;
            int64_t iw0 = ow0 * g->stride_w - g->pad_left;
            if (rows_inside && px == PX && iw0 >= 0 &&
                iw0 + (PX - 1) * g->stride_w + g->k_w <= g->in_w) {
                const float *base = x + ((n * g->in_h + ih0) * g->in_w + iw0) * g->in_c;
                forward_tile(base, g->stride_w * g->in_c, offset, k_len, w, b, co,
                             relu, px, out);
                continue;
            }
            for (int64_t p = 0; p < PX; p++)
                if (p < px)
                    gather_patch(x, g, offset, n, oh, ow0 + p, patch[p]);
                else
                    for (int64_t k = 0; k < k_len; k++)
                        patch[p][k] = 0.0f;
            forward_tile(&patch[0][0], FASTNN_DIRECT_MAX_K, identity, k_len, w, b,
                         co, relu, px, out);
        }
    }
}

typedef void (*rows_fn)(const float *, const float *, const float *, float *,
                        const fastnn_conv2d_geom *, int, int64_t, int64_t);

static void forward_rows_generic(const float *x, const float *w, const float *b,
                                 float *y, const fastnn_conv2d_geom *g,
                                 int relu, int64_t row0, int64_t row1)
{
    forward_rows(x, w, b, y, g, relu, row0, row1);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void forward_rows_avx2(const float *x, const float *w, const float *b,
                              float *y, const fastnn_conv2d_geom *g,
                              int relu, int64_t row0, int64_t row1)
{
    forward_rows(x, w, b, y, g, relu, row0, row1);
}
#endif

void fastnn_conv2d_direct(const float *x, const float *w, const float *b,
                          float *y, const fastnn_conv2d_geom *g, int relu)
{
    rows_fn rows = forward_rows_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        rows = forward_rows_avx2;
#endif
    int64_t total = g->batch * g->out_h;
    double work = 2.0 * (double)(total * g->out_w * g->out_c) *
                  (double)(g->k_h * g->k_w * g->in_c);
    int threads = fastnn_threads_for(work);
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        rows(x, w, b, y, g, relu, total * t / team, total * (t + 1) / team);
    }
}

/* ---- weight and bias gradients ------------------------------------------------ */

FASTNN_INLINE void add_v8(float *out, fastnn_v8 v)
{
    fastnn_v8 old;
    memcpy(&old, out, sizeof old);
    old += v;
    memcpy(out, &old, sizeof old);
}

/* acc[k0 + q][c ...] += sum over the block's pixels p of patch[p][k0 + q] *
 * dy[p][c ...] for q < kb, over nv vectors of 8 channels (nv = 1 or 2, a
 * constant after inlining).  The nv * KB sums stay in registers: each pixel
 * costs nv loads of dy and KB broadcasts for nv * KB FMAs, and with nv = 2
 * there are 10 independent sums, enough to cover the FMA latency. */
FASTNN_INLINE void block_sums(const float (*patch)[FASTNN_DIRECT_MAX_K + KB],
                              const float *d, int64_t count, int64_t co,
                              int64_t c, int64_t k0, int64_t kb, float *acc,
                              const int nv)
{
    fastnn_v8 s0[KB], s1[KB];
    for (int q = 0; q < KB; q++)
        s0[q] = s1[q] = (fastnn_v8){0};
    for (int64_t p = 0; p < count; p++) {
        fastnn_v8 d0, d1;
        memcpy(&d0, d + p * co + c, sizeof d0);
        if (nv == 2)
            memcpy(&d1, d + p * co + c + 8, sizeof d1);
        for (int q = 0; q < KB; q++) {
            float value = patch[p][k0 + q];
            s0[q] += value * d0;
            if (nv == 2)
                s1[q] += value * d1;
        }
    }
    for (int64_t q = 0; q < kb; q++) {
        add_v8(acc + (k0 + q) * co + c, s0[q]);
        if (nv == 2)
            add_v8(acc + (k0 + q) * co + c + 8, s1[q]);
    }
}

/* Room in a patch for the K values, the 1 of the bias row and zeros up to
 * a multiple of KB. */
typedef float patch_row[FASTNN_DIRECT_MAX_K + KB];

/* patch = the K values under output pixel (n, oh, ow), then 1, then zeros. */
FASTNN_INLINE void patch_with_one(const float *x, const fastnn_conv2d_geom *g,
                                  const int64_t *offset, int64_t n, int64_t oh,
                                  int64_t ow, float *patch)
{
    const int64_t k_len = g->k_h * g->k_w * g->in_c + 1;
    gather_patch(x, g, offset, n, oh, ow, patch);
    patch[k_len - 1] = 1.0f;
    for (int64_t k = k_len; k < fastnn_ceil_div(k_len, KB) * KB; k++)
        patch[k] = 0.0f;
}

/* acc[k][c] += sum over the block's `count` pixels p of patch[p][k] d[p][c]:
 * 16- and 8-channel slices in registers (block_sums), then single channels. */
FASTNN_INLINE void accumulate_block(const patch_row *patch, const float *d,
                                    int64_t count, const fastnn_conv2d_geom *g,
                                    float *acc)
{
    const int64_t k_len = g->k_h * g->k_w * g->in_c + 1, co = g->out_c;
    int64_t c = 0;
    for (; c + 16 <= co; c += 16)
        for (int64_t k0 = 0; k0 < k_len; k0 += KB)
            block_sums(patch, d, count, co, c, k0, fastnn_min(KB, k_len - k0), acc, 2);
    for (; c + 8 <= co; c += 8)
        for (int64_t k0 = 0; k0 < k_len; k0 += KB)
            block_sums(patch, d, count, co, c, k0, fastnn_min(KB, k_len - k0), acc, 1);
    for (; c < co; c++)
        for (int64_t k = 0; k < k_len; k++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < count; p++)
                sum += patch[p][k] * d[p * co + c];
            acc[k * co + c] += sum;
        }
}

/* acc[k][c] += sum over pixels [i0, i1) of P[i][k] dy[i][c], for k < K + 1
 * (P[i][K] = 1, so acc[K] collects db).  acc is (K + 1) x out_c. */
FASTNN_INLINE void weight_sums(const float *x, const float *dy,
                               const fastnn_conv2d_geom *g, int64_t i0,
                               int64_t i1, float *acc)
{
    const int64_t per_image = g->out_h * g->out_w;
    patch_row patch[PB];
    int64_t offset[FASTNN_DIRECT_MAX_K];
    patch_offsets(g, offset);
    for (int64_t b0 = i0; b0 < i1; b0 += PB) {
        int64_t count = fastnn_min(PB, i1 - b0);
        /* pixel b0's (n, oh, ow), then stepped along: no division per pixel */
        int64_t n = b0 / per_image, oh = b0 % per_image / g->out_w, ow = b0 % g->out_w;
        for (int64_t p = 0; p < count; p++) {
            patch_with_one(x, g, offset, n, oh, ow, patch[p]);
            if (++ow == g->out_w) {
                ow = 0;
                if (++oh == g->out_h) {
                    oh = 0;
                    n++;
                }
            }
        }
        accumulate_block(patch, dy + b0 * g->out_c, count, g, acc);
    }
}

/* ---- weight gradient through ReLU and max pooling ----------------------------- */

/* For y = relu(conv(x)) followed by a max pool whose windows tile y without
 * overlap, the gradient at the convolution's output is dp (the pool's output
 * gradient) at each window's maximum where that maximum is > 0 (the ReLU's
 * derivative), and 0 everywhere else.  This fills it for the taps of one
 * window, dz[t][c] for tap t = dh * pool_w + dw, from the window's
 * top-left pixel y_first. */
FASTNN_INLINE void window_gradient(const float *y_first, const float *dp,
                                   const fastnn_conv2d_geom *g,
                                   const fastnn_pool2d_geom *pg, float *dz)
{
    const int64_t co = g->out_c, taps = pg->pool_h * pg->pool_w;
    const int64_t row_step = g->out_w * co;
    int64_t c = 0;
    for (; c + 8 <= co; c += 8) {
        fastnn_v8 best, grad, d;
        fastnn_v8u arg, tap = {0};
        fastnn_window_max_v8(y_first + c, row_step, co, pg->pool_h, pg->pool_w, &best, &arg);
        memcpy(&grad, dp + c, sizeof grad);
        grad = (fastnn_v8)((best > 0.0f) & (fastnn_v8i)grad);
        for (int64_t t = 0; t < taps; t++, tap += 1) {
            d = (fastnn_v8)((fastnn_v8u)(arg == tap) & (fastnn_v8u)grad);
            memcpy(dz + t * co + c, &d, sizeof d);
        }
    }
    for (; c < co; c++) {
        int64_t arg = 0;
        float best = y_first[c];
        for (int64_t t = 0; t < taps; t++) {
            float v = y_first[(t / pg->pool_w) * row_step + (t % pg->pool_w) * co + c];
            if (v > best) {
                best = v;
                arg = t;
            }
            dz[t * co + c] = 0.0f;
        }
        if (best > 0.0f)
            dz[arg * co + c] = dp[c];
    }
}

/* acc as in weight_sums, over the pooling windows [j0, j1) (j = (n, ph, pw))
 * instead of over pixels: a block holds whole windows, their taps' patches
 * and window_gradient's dz.  Pixels outside every window have no gradient
 * and are skipped; dz (PB x out_c floats) is this thread's scratch. */
FASTNN_INLINE void pooled_weight_sums(const float *x, const float *y, const float *dp,
                                      const fastnn_conv2d_geom *g,
                                      const fastnn_pool2d_geom *pg, int64_t j0,
                                      int64_t j1, float *dz, float *acc)
{
    const int64_t co = g->out_c, taps = pg->pool_h * pg->pool_w;
    const int64_t per_block = PB / taps, windows_per_image = pg->out_h * pg->out_w;
    patch_row patch[PB];
    int64_t offset[FASTNN_DIRECT_MAX_K];
    patch_offsets(g, offset);
    for (int64_t b0 = j0; b0 < j1; b0 += per_block) {
        int64_t count = 0;
        for (int64_t j = b0; j < fastnn_min(b0 + per_block, j1); j++, count += taps) {
            int64_t n = j / windows_per_image, ph = j / pg->out_w % pg->out_h;
            int64_t oh = ph * pg->stride_h, ow = j % pg->out_w * pg->stride_w;
            window_gradient(y + ((n * g->out_h + oh) * g->out_w + ow) * co, dp + j * co, g,
                            pg, dz + count * co);
            for (int64_t t = 0; t < taps; t++)
                patch_with_one(x, g, offset, n, oh + t / pg->pool_w, ow + t % pg->pool_w,
                               patch[count + t]);
        }
        accumulate_block(patch, dz, count, g, acc);
    }
}

/* One range of work for one thread: pixels [i0, i1) of dy when pg is NULL,
 * else pooling windows [i0, i1) (dz: scratch for pooled_weight_sums). */
FASTNN_INLINE void range_sums(const float *x, const float *dy, const float *dp,
                              const fastnn_conv2d_geom *g, const fastnn_pool2d_geom *pg,
                              int64_t i0, int64_t i1, float *dz, float *acc)
{
    if (pg)
        pooled_weight_sums(x, dy, dp, g, pg, i0, i1, dz, acc);
    else
        weight_sums(x, dy, g, i0, i1, acc);
}

typedef void (*sums_fn)(const float *, const float *, const float *,
                        const fastnn_conv2d_geom *, const fastnn_pool2d_geom *,
                        int64_t, int64_t, float *, float *);

static void range_sums_generic(const float *x, const float *dy, const float *dp,
                               const fastnn_conv2d_geom *g, const fastnn_pool2d_geom *pg,
                               int64_t i0, int64_t i1, float *dz, float *acc)
{
    range_sums(x, dy, dp, g, pg, i0, i1, dz, acc);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void range_sums_avx2(const float *x, const float *dy, const float *dp,
                            const fastnn_conv2d_geom *g, const fastnn_pool2d_geom *pg,
                            int64_t i0, int64_t i1, float *dz, float *acc)
{
    range_sums(x, dy, dp, g, pg, i0, i1, dz, acc);
}
#endif

/* dW and db from `items` units of work (pixels, or pooling windows of `taps`
 * pixels each): the items are cut into parts fixed by the problem
 * (fastnn_parts_for), each part is summed into its own partial (K + 1) x
 * out_c block by whichever thread takes it, and the blocks are added in part
 * order -- the same numbers on any number of threads. */
static int weight_gradient_sums(const float *x, const float *dy, const float *dp,
                                float *dw, float *db, const fastnn_conv2d_geom *g,
                                const fastnn_pool2d_geom *pg, int64_t items, int64_t taps)
{
    sums_fn sums = range_sums_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        sums = range_sums_avx2;
#endif
    const int64_t k_len = g->k_h * g->k_w * g->in_c, co = g->out_c;
    const int64_t size = (k_len + 1) * co;
    const double work = 2.0 * (double)(items * taps) * (double)size;
    int parts = fastnn_parts_for(items, work);
    int threads = fastnn_threads_for(work);
    if (threads > parts)
        threads = parts;
    float *partial = fastnn_alloc_partials(parts, size);
    float *sums_out = fastnn_alloc_floats(size);
    /* the pooled path's gradient buffer: one per thread, by thread number */
    float *dz = pg ? fastnn_alloc_floats((int64_t)threads * PB * co) : NULL;
    if (!partial || !sums_out || (pg && !dz)) {
        fastnn_free_floats(partial);
        fastnn_free_floats(sums_out);
        fastnn_free_floats(dz);
        return FASTNN_ENOMEM;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < parts; p++)
        sums(x, dy, dp, g, pg, items * p / parts, items * (p + 1) / parts,
             dz ? dz + fastnn_thread_id() * PB * co : NULL, partial + p * size);
    fastnn_sum_partials(partial, parts, size, sums_out);
    memcpy(dw, sums_out, (size_t)(k_len * co) * sizeof(float));  /* rows < K */
    if (db)
        memcpy(db, sums_out + k_len * co, (size_t)co * sizeof(float));  /* row K */
    fastnn_free_floats(dz);
    fastnn_free_floats(sums_out);
    fastnn_free_floats(partial);
    return FASTNN_OK;
}

int fastnn_conv2d_direct_weight_gradient(const float *x, const float *dy,
                                         float *dw, float *db,
                                         const fastnn_conv2d_geom *g)
{
    return weight_gradient_sums(x, dy, NULL, dw, db, g, NULL,
                                g->batch * g->out_h * g->out_w, 1);
}

int fastnn_conv2d_pooled_weight_gradient(const float *x, const float *y,
                                         const float *dp, float *dw, float *db,
                                         const fastnn_conv2d_geom *g,
                                         const fastnn_pool2d_geom *pg)
{
    return weight_gradient_sums(x, y, dp, dw, db, g, pg, pg->batch * pg->out_h * pg->out_w,
                                pg->pool_h * pg->pool_w);
}

void fastnn_conv2d_pooled_weight_gradient_naive(const float *x, const float *w,
                                                const float *y, const float *dp,
                                                float *dz, float *dw, float *db,
                                                const fastnn_conv2d_geom *g,
                                                const fastnn_pool2d_geom *pg)
{
    fastnn_max_pool2d_backward_naive(y, dp, dz, pg, 1);
    fastnn_conv2d_backward_naive(x, w, dz, NULL, dw, db, g);
}
