/*
 * conv2d.c -- 2-D convolution (Keras Conv2D: NHWC input, HWIO kernel),
 * forward and backward, naive and fast.
 *
 * Naive: the definition.  Slide the filter over every output position and
 * take the dot product of the filter with the window under it (course,
 * chapter 19); the backward pass runs the same loops and applies the chain
 * rule to each multiply, scattering dy into dx, dw and db.
 *
 * Fast: every pass is a matrix product.  Index the output pixels by
 * i = (n, oh, ow) and the filter taps by t = (kh, kw), and let P[i][(t, ci)]
 * be the input value under tap t of window i (zero in the padding).  Then
 *
 *   forward   y  = P . W + b         (n*oh*ow) x (kh*kw*ci)  .  (kh*kw*ci) x co
 *   weights   dW = P^T . dy          (kh*kw*ci) x (n*oh*ow)  .  (n*oh*ow) x co
 *   input     dx = Q . W'            (n*h*w) x (kh*kw*co)    .  (kh*kw*co) x ci
 *
 * where Q[(n, h, w)][(t, co)] = dy[n, oh, ow, co] for the output pixel whose
 * window puts tap t on input pixel (h, w) -- oh*sh = h + pad_top - kh, and
 * likewise for w -- or zero if there is none, and W'[(t, co)][ci] =
 * W[t][ci][co].  So dx is itself a convolution of dy.  Which engine runs a
 * product depends on its shape:
 *
 * - forward and dx: the indirect GEMM (conv2d_indirect.c) reads P and Q
 *   where they lie in x and dy -- in NHWC each (pixel, tap) is a contiguous
 *   channel run -- and packs only the small W or W'.  For a stride above 1,
 *   dx runs one stride-1 product per phase of the input pixels (pixels
 *   whose row and column have the same remainders), each with the sub-kernel
 *   of the taps that reach it: Q read whole would be mostly zeros
 *   (input_gradient_phases);
 * - dW of a 3x3 stride-1 convolution, where fastnn_winograd_weight_gradient_takes
 *   (enough channels, tiles mostly inside the output) or algorithm asks:
 *   Winograd's F(4x4, 3x3) (conv2d_winograd_weight_gradient.c), 36 products
 *   over the 4x4 output tiles in place of 144 multiplications per tile;
 * - other dW: read in place too (conv2d_weight_gradient.c): in NHWC the patch
 *   values of one kernel row, (kw, ci), are a contiguous run of k_w * in_c
 *   floats of x, so tiles of dW^T = dy^T . P are summed over the pixels
 *   with vector loads of those runs, and nothing the size of P is packed;
 *   pointwise (1x1) convolutions included, where P is x itself;
 * - few input channels (the first layer: fastnn_direct_conv_takes, fastnn.h):
 *   forward by the direct kernel of conv2d_direct.c, because a 9-deep
 *   reduction is too short for any packing to pay off, and dW too when a
 *   kernel row's run is shorter than 16 values (a tile's width); dx by
 *   "col2im" whenever in_c < 16: the patch gradients dP = dy . W^T, whose
 *   kh*kw*ci columns fill vectors where ci would not, summed block by block
 *   into a tile that stays in L1 and added back onto the pixels each patch
 *   read;
 * - 3x3 stride-1 convolutions with 16 or more channels each way
 *   (fastnn_winograd_takes, fastnn.h): forward and dx by Winograd's
 *   F(4x4, 3x3) (conv2d_winograd.c), 36 multiplications per 4x4 output
 *   pixels and channel pair instead of 144 -- dx is the convolution of dy
 *   by the kernel rotated 180 degrees with its channels swapped;
 * - dx of a pointwise (1x1, stride 1) convolution with at most
 *   FASTNN_POINTWISE_MAX_C channels each way: dy . W^T on the direct kernel
 *   (input_gradient_pointwise).
 */
#include <string.h>

#include "gemm.h"

static inline int64_t nhwc_index(const fastnn_conv2d_geom *g, int64_t n,
                                 int64_t h, int64_t w, int64_t c)
{
    return ((n * g->in_h + h) * g->in_w + w) * g->in_c + c;
}

static inline int64_t out_index(const fastnn_conv2d_geom *g, int64_t n,
                                int64_t oh, int64_t ow, int64_t co)
{
    return ((n * g->out_h + oh) * g->out_w + ow) * g->out_c + co;
}

static inline int64_t hwio_index(const fastnn_conv2d_geom *g, int64_t kh,
                                 int64_t kw, int64_t ci, int64_t co)
{
    return ((kh * g->k_w + kw) * g->in_c + ci) * g->out_c + co;
}

/* ---- naive ---------------------------------------------------------------- */

void fastnn_conv2d_naive(const float *x, const float *w, const float *b,
                         float *y, const fastnn_conv2d_geom *g, int act,
                         float alpha)
{
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t oh = 0; oh < g->out_h; oh++)
    for (int64_t ow = 0; ow < g->out_w; ow++)
    for (int64_t co = 0; co < g->out_c; co++)
        y[out_index(g, n, oh, ow, co)] = fastnn_conv2d_output_naive(x, w, b, g, n, oh, ow, co);
    fastnn_activation_forward_naive((fastnn_activation)act, alpha, y, y,
                                    g->batch * g->out_h * g->out_w * g->out_c);
}

void fastnn_conv2d_backward_naive(const float *x, const float *w,
                                  const float *dy, float *dx, float *dw,
                                  float *db, const fastnn_conv2d_geom *g)
{
    if (dx)
        memset(dx, 0, (size_t)(g->batch * g->in_h * g->in_w * g->in_c) * sizeof(float));
    if (dw)
        memset(dw, 0, (size_t)(g->k_h * g->k_w * g->in_c * g->out_c) * sizeof(float));
    if (db)
        memset(db, 0, (size_t)g->out_c * sizeof(float));
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t oh = 0; oh < g->out_h; oh++)
    for (int64_t ow = 0; ow < g->out_w; ow++)
    for (int64_t co = 0; co < g->out_c; co++) {
        float grad = dy[out_index(g, n, oh, ow, co)];
        if (db)
            db[co] += grad; /* y = ... + b[co] */
        for (int64_t kh = 0; kh < g->k_h; kh++)
        for (int64_t kw = 0; kw < g->k_w; kw++) {
            int64_t ih = oh * g->stride_h - g->pad_top + kh;
            int64_t iw = ow * g->stride_w - g->pad_left + kw;
            if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w)
                continue;
            for (int64_t ci = 0; ci < g->in_c; ci++) {
                int64_t xi = nhwc_index(g, n, ih, iw, ci);
                int64_t wi = hwio_index(g, kh, kw, ci, co);
                if (dx)
                    dx[xi] += w[wi] * grad; /* y = ... + x * w */
                if (dw)
                    dw[wi] += x[xi] * grad;
            }
        }
    }
}

/* ---- packing the kernel for the input gradient ------------------------------ */

/* The taps kh = kh0 + i*stride_h, kw = kw0 + j*stride_w (i, j = 0, 1, ...)
 * of w: all of them (kh0 = kw0 = 0, stride 1), or those of one phase of a
 * strided convolution's input gradient (input_gradient_phase). */
typedef struct {
    const float *w;
    const fastnn_conv2d_geom *g;   /* the whole convolution */
    int64_t kh0, kw0, step_h, step_w;
    int64_t taps_w;                /* taps per row of the sub-kernel */
} kernel_taps;

/* W' for the input gradient: rows are input channels ci, reduction indices
 * are (tap, co) over the sub-kernel's taps; W'[(t, co)][ci] = w[t][ci][co]. */
static void pack_kernel_for_dx(const void *operand, int64_t row0,
                               int64_t rows, int64_t p0, int64_t kc,
                               int64_t width, float *dst)
{
    const kernel_taps *o = (const kernel_taps *)operand;
    const fastnn_conv2d_geom *g = o->g;
    for (int64_t r0 = 0; r0 < rows; r0 += width, dst += width * kc) {
        int64_t valid = fastnn_min(width, rows - r0);
        if (valid < width)
            memset(dst, 0, (size_t)(width * kc) * sizeof(float));
        for (int64_t p = 0; p < kc; p++) {
            int64_t tap = (p0 + p) / g->out_c, co = (p0 + p) % g->out_c;
            int64_t kh = o->kh0 + tap / o->taps_w * o->step_h;
            int64_t kw = o->kw0 + tap % o->taps_w * o->step_w;
            const float *src = o->w + ((kh * g->k_w + kw) * g->in_c + row0 + r0) *
                                      g->out_c + co;
            for (int64_t r = 0; r < valid; r++)
                dst[p * width + r] = src[r * g->out_c];
        }
    }
}

/* ---- fast ----------------------------------------------------------------- */

int fastnn_conv2d(const float *x, const float *w, const float *b, float *y,
                  const fastnn_conv2d_geom *g, int act, float alpha)
{
    fastnn_epilogue epi = fastnn_epilogue_of(act, alpha);
    if (fastnn_winograd_takes(g, 0))
        return fastnn_conv2d_winograd(x, w, b, y, g, epi);
    if (fastnn_direct_conv_takes(g->k_h, g->k_w, g->in_c)) {
        return fastnn_conv2d_direct(x, w, b, y, g, epi);
    }
    fastnn_strided kernel = {w, 1, g->out_c}; /* W as (kh*kw*ci) x co */
    fastnn_gemm_operand bk = {fastnn_pack_strided, &kernel};
    return fastnn_conv2d_indirect(g, 0, x, bk, g->out_c, b, epi, y, NULL);
}

/* db[co] = sum over all output pixels of dy[., co], when dW is not asked
 * for (both weight-gradient kernels sum db as they pass over dy).  The
 * pixels are cut into parts fixed by the problem (fastnn_parts_for); each
 * part is summed into its own row of partial sums (the inner loop over
 * channels vectorises) and the rows are added in part order: the same
 * numbers on any number of threads. */
static int bias_gradient(const float *dy, float *db, int64_t pixels,
                         int64_t channels)
{
    const double work = (double)(pixels * channels);
    int parts = fastnn_parts_for(pixels, work);
    int threads = fastnn_threads_for(work);
    float *partial = fastnn_alloc_partials(parts, channels);
    if (!partial)
        return FASTNN_ENOMEM;
#pragma omp parallel for num_threads(threads < parts ? threads : parts) schedule(static)
    for (int p = 0; p < parts; p++) {
        float *sum = partial + p * channels;
        for (int64_t i = pixels * p / parts; i < pixels * (p + 1) / parts; i++)
            for (int64_t c = 0; c < channels; c++)
                sum[c] += dy[i * channels + c];
    }
    fastnn_sum_partials(partial, parts, channels, db);
    fastnn_free_floats(partial);
    return FASTNN_OK;
}

/* dx for few input channels ("col2im"): the gradient of every patch,
 * dP[i][(kh, kw, ci)] = sum over co of dy[i][co] * W[kh][kw][ci][co], added
 * back onto the input pixels patch i was read from.  A GEMM would write all
 * of dP (n*oh*ow x kh*kw*ci, megabytes with a reduction only out_c deep)
 * before reading it back; here it lives in a tile of PIXEL_BLOCK patches
 * that stays in L1 between being computed and being added back.
 *
 * Computing a tile: W^T is packed once as out_c rows of kh*kw*ci values
 * padded to whole vectors, and each block of 4 patches x 4 vectors of dP
 * is summed in registers over co -- per co, 4 vector loads of W^T and 4
 * broadcasts of dy feed 16 FMAs.  That is 16 accumulators of 16 floats:
 * AVX-512's registers hold them; AVX2's 16 registers of 8 floats hold 4
 * patches x 1 vector (8 registers, patch_grad_tile_v8), SSE's of 4 floats
 * 2 x 1 (8) -- the AVX-512 tile spilled there and ran 12x slower than
 * AVX-512 on one core (LeNet-5's 6 -> 16 5x5 dx: 12.1 ms against 1.0; now
 * 0.79 ms on avx2, 3.1-3.4 on SSE2, from 9.1).  Adding back: the taps kw of one kernel
 * row read consecutive input columns, so a patch row's k_w*ci values (those
 * inside the image) are one contiguous run of dx (NHWC), added as vectors.
 *
 * Threads take whole images, so no two threads add to the same pixel, and
 * each pixel receives its patches in the same order on any thread count. */
#define PIXEL_BLOCK 16

FASTNN_INLINE void patch_grad_tile(const float *dy, const float *wt,
                                   float *tile, int64_t out_c, int64_t width,
                                   int px, int nv)
{
    fastnn_v16 acc[4][4] = {{{0}}};
    for (int64_t co = 0; co < out_c; co++) {
        fastnn_v16 wv[4];
        for (int v = 0; v < nv; v++)
            wv[v] = *(const fastnn_v16 *)(wt + co * width + 16 * v);
        for (int p = 0; p < px; p++) {
            float d = dy[p * out_c + co];
            for (int v = 0; v < nv; v++)
                acc[p][v] += d * wv[v];
        }
    }
    for (int p = 0; p < px; p++)
        for (int v = 0; v < nv; v++)
            *(fastnn_v16 *)(tile + p * width + 16 * v) = acc[p][v];
}

/* The same tile for AVX2: px patches x one 16-float column vector as two
 * halves of 8, one register each.  GCC lowers the 16-wide vector type
 * badly there (through the stack: 5x slower).  (On SSE the 8-wide type
 * lowers worse still, 4.5x slower than the 16-wide one at 2 patches.) */
FASTNN_INLINE void patch_grad_tile_v8(const float *dy, const float *wt, float *tile,
                                      int64_t out_c, int64_t width, int px)
{
    fastnn_v8 acc[4][2];
    for (int p = 0; p < px; p++)
        acc[p][0] = acc[p][1] = (fastnn_v8){0};
    for (int64_t co = 0; co < out_c; co++) {
        fastnn_v8 w0, w1;
        memcpy(&w0, wt + co * width, sizeof w0);
        memcpy(&w1, wt + co * width + 8, sizeof w1);
        for (int p = 0; p < px; p++) {
            float d = dy[p * out_c + co];
            acc[p][0] += d * w0;
            acc[p][1] += d * w1;
        }
    }
    for (int p = 0; p < px; p++) {
        memcpy(tile + p * width, &acc[p][0], sizeof acc[p][0]);
        memcpy(tile + p * width + 8, &acc[p][1], sizeof acc[p][1]);
    }
}

/* px patches x one 16-column vector of dP, in the tile the path's
 * registers hold (`lanes`: its vector width in floats) */
FASTNN_INLINE void patch_grad_column(const float *dy, const float *wt, float *tile,
                                     int64_t out_c, int64_t width, int px, const int lanes)
{
    if (lanes == 8)
        patch_grad_tile_v8(dy, wt, tile, out_c, width, px);
    else
        patch_grad_tile(dy, wt, tile, out_c, width, px, 1);
}

/* dx of image n from its patch gradients, pixels [p0, p0 + count) at a
 * time, in tiles of px patches x up to nv vectors (`lanes`: the path's
 * vector width in floats, above) */
FASTNN_INLINE void col2im_image(const float *wt, const float *dy, float *dx,
                                float *tile, int64_t width,
                                const fastnn_conv2d_geom *g, const int lanes)
{
    const int px = lanes == 4 ? 2 : 4, nv = lanes == 16 ? 4 : 1;
    const int64_t pixels = g->out_h * g->out_w, vectors = width / 16;
    memset(dx, 0, (size_t)(g->in_h * g->in_w * g->in_c) * sizeof(float));
    for (int64_t p0 = 0; p0 < pixels; p0 += PIXEL_BLOCK) {
        int64_t count = fastnn_min(PIXEL_BLOCK, pixels - p0);
        const float *d = dy + p0 * g->out_c;
        int64_t p = 0;
        for (; p + px <= count; p += px) {
            int64_t v = 0;
            for (; nv == 4 && v + 4 <= vectors; v += 4)
                patch_grad_tile(d + p * g->out_c, wt + 16 * v, tile + p * width + 16 * v,
                                g->out_c, width, px, 4);
            for (; nv == 4 && v + 2 <= vectors; v += 2)
                patch_grad_tile(d + p * g->out_c, wt + 16 * v, tile + p * width + 16 * v,
                                g->out_c, width, px, 2);
            for (; v < vectors; v++)
                patch_grad_column(d + p * g->out_c, wt + 16 * v, tile + p * width + 16 * v,
                                  g->out_c, width, px, lanes);
        }
        for (; p < count; p++)
            for (int64_t v = 0; v < vectors; v++)
                patch_grad_column(d + p * g->out_c, wt + 16 * v, tile + p * width + 16 * v,
                                  g->out_c, width, 1, lanes);
        for (p = 0; p < count; p++) {
            int64_t oh = (p0 + p) / g->out_w, ow = (p0 + p) % g->out_w;
            int64_t iw0 = ow * g->stride_w - g->pad_left;
            int64_t kw_lo = fastnn_max(0, -iw0);
            int64_t kw_hi = fastnn_min(g->k_w, g->in_w - iw0);
            if (kw_lo >= kw_hi)
                continue;
            int64_t run = (kw_hi - kw_lo) * g->in_c;
            for (int64_t kh = 0; kh < g->k_h; kh++) {
                int64_t ih = oh * g->stride_h - g->pad_top + kh;
                if (ih < 0 || ih >= g->in_h)
                    continue;
                const float *src = tile + p * width + (kh * g->k_w + kw_lo) * g->in_c;
                float *dst = dx + (ih * g->in_w + iw0 + kw_lo) * g->in_c;
                for (int64_t i = 0; i < run; i++)
                    dst[i] += src[i];
            }
        }
    }
}

typedef void (*col2im_fn)(const float *, const float *, float *, float *,
                          int64_t, const fastnn_conv2d_geom *);

static void col2im_image_generic(const float *wt, const float *dy, float *dx,
                                 float *tile, int64_t width,
                                 const fastnn_conv2d_geom *g)
{
    col2im_image(wt, dy, dx, tile, width, g, 4);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void col2im_image_avx2(const float *wt, const float *dy, float *dx,
                              float *tile, int64_t width,
                              const fastnn_conv2d_geom *g)
{
    col2im_image(wt, dy, dx, tile, width, g, 8);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void col2im_image_avx512(const float *wt, const float *dy, float *dx,
                                float *tile, int64_t width,
                                const fastnn_conv2d_geom *g)
{
    col2im_image(wt, dy, dx, tile, width, g, 16);
}
#endif

static int input_gradient_col2im(const float *w, const float *dy, float *dx,
                                 const fastnn_conv2d_geom *g)
{
    col2im_fn image = col2im_image_generic;
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        image = col2im_image_avx512;
    else
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        image = col2im_image_avx2;
#endif
    const int64_t cols = g->k_h * g->k_w * g->in_c, width = fastnn_ceil_div(cols, 16) * 16;
    const int64_t pixels = g->out_h * g->out_w;
    int threads = fastnn_threads_for(2.0 * (double)(g->batch * pixels) *
                                     (double)(cols * g->out_c));
    if (threads > g->batch)
        threads = (int)g->batch;
    float *wt = fastnn_alloc_floats(g->out_c * width + threads * PIXEL_BLOCK * width);
    if (!wt)
        return FASTNN_ENOMEM;
    for (int64_t co = 0; co < g->out_c; co++) /* W^T, rows padded with zeros */
        for (int64_t j = 0; j < width; j++)
            wt[co * width + j] = j < cols ? w[j * g->out_c + co] : 0.0f;
    float *tiles = wt + g->out_c * width;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < g->batch; n++)
        image(wt, dy + n * pixels * g->out_c, dx + n * g->in_h * g->in_w * g->in_c,
              tiles + fastnn_thread_id() * PIXEL_BLOCK * width, width, g);
    fastnn_free_floats(wt);
    return FASTNN_OK;
}
#undef PIXEL_BLOCK

/* dx of a pointwise (1x1, stride 1) convolution.  With no padding and no
 * overlap every pixel is one row of a matrix product, and so is its input
 * gradient, dx = dy . W^T (pixels x out_c) . (out_c x in_c): the forward
 * pass of another 1x1 convolution, with dy as its input and W^T as its
 * kernel (in_c filters).  With at most FASTNN_POINTWISE_MAX_C channels each
 * way the reduction is short, so it runs on the direct forward kernel
 * (conv2d_direct.c: register tiles of pixels x 8 or 16 channels reading dy
 * in place, rows of pixels split across threads with no reduction between
 * them, so the same numbers on any number of threads) instead of the
 * indirect GEMM, whose per-tap pointer set-up a 1-tap kernel cannot pay for.
 * The only extra memory is W^T.  Measured on a 2-core Zen 4 (batch 64, dx
 * with db, min of 21): 32->16 at 32x32 1.4-1.8x faster than the indirect
 * GEMM, 16->16 1.3-1.5x, 16->32 2x; from 64 channels (64->16, 16->64 at
 * 16x16) the indirect GEMM is as fast or faster. */
#define FASTNN_POINTWISE_MAX_C 32

static int pointwise_applies(const fastnn_conv2d_geom *g)
{
    return g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
           g->pad_top == 0 && g->pad_left == 0 && g->in_c <= FASTNN_POINTWISE_MAX_C &&
           g->out_c <= FASTNN_POINTWISE_MAX_C;
}

static int input_gradient_pointwise(const float *w, const float *dy, float *dx,
                                    const fastnn_conv2d_geom *g)
{
    float *w_t = fastnn_alloc_floats(g->in_c * g->out_c);
    if (!w_t)
        return FASTNN_ENOMEM;
    for (int64_t co = 0; co < g->out_c; co++) /* W^T[co][ci] = W[ci][co] */
        for (int64_t ci = 0; ci < g->in_c; ci++)
            w_t[co * g->in_c + ci] = w[ci * g->out_c + co];
    fastnn_conv2d_geom t = *g; /* dy in, in_c filters out, same pixel grid */
    t.in_c = g->out_c;
    t.out_c = g->in_c;
    int status = fastnn_conv2d_direct(dy, w_t, NULL, dx, &t, FASTNN_NO_EPILOGUE);
    fastnn_free_floats(w_t);
    return status;
}

/* a mod b for b > 0, in [0, b) */
static inline int64_t floor_mod(int64_t a, int64_t b)
{
    return ((a % b) + b) % b;
}

/* dx of a strided convolution, one phase of the input pixels at a time.
 * Input pixel h receives dy through tap kh only when h + pad_top - kh is a
 * multiple of stride_h, so the rows h with (h + pad_top) % stride_h = a
 * (h = h0, h0 + stride_h, ...) take exactly the taps kh = a, a + stride_h,
 * ...; likewise for columns.  Each phase (a, b) is then a stride-1 input
 * gradient over its own grid of pixels with that sub-kernel -- dy at output
 * row h' + q - i for sub-kernel tap i, q = (h0 + pad_top - a) / stride_h --
 * run on the indirect GEMM, which writes its rows back to the phase's
 * pixels of dx.  Reading Q whole would multiply mostly zeros (3 of 4 taps
 * for a 3x3 kernel of stride 2).  Pixels that no tap reaches (stride larger
 * than the kernel) are zero. */
static int input_gradient_phases(const float *w, const float *dy, float *dx,
                                 const fastnn_conv2d_geom *g)
{
    if (g->stride_h > g->k_h || g->stride_w > g->k_w)
        memset(dx, 0, (size_t)(g->batch * g->in_h * g->in_w * g->in_c) * sizeof(float));
    int status = FASTNN_OK;
    for (int64_t a = 0; a < fastnn_min(g->stride_h, g->k_h); a++)
        for (int64_t b = 0; b < fastnn_min(g->stride_w, g->k_w); b++) {
            int64_t h0 = floor_mod(a - g->pad_top, g->stride_h);
            int64_t w0 = floor_mod(b - g->pad_left, g->stride_w);
            if (h0 >= g->in_h || w0 >= g->in_w)
                continue; /* no pixel of this phase */
            fastnn_conv2d_geom phase = *g;
            phase.in_h = fastnn_ceil_div(g->in_h - h0, g->stride_h);
            phase.in_w = fastnn_ceil_div(g->in_w - w0, g->stride_w);
            phase.k_h = fastnn_ceil_div(g->k_h - a, g->stride_h);
            phase.k_w = fastnn_ceil_div(g->k_w - b, g->stride_w);
            phase.stride_h = phase.stride_w = 1;
            phase.pad_top = (h0 + g->pad_top - a) / g->stride_h;
            phase.pad_left = (w0 + g->pad_left - b) / g->stride_w;
            kernel_taps taps = {w, g, a, b, g->stride_h, g->stride_w, phase.k_w};
            fastnn_gemm_operand wt = {pack_kernel_for_dx, &taps};
            fastnn_row_scatter scatter = {g->stride_h, g->stride_w, h0, w0,
                                          g->in_h, g->in_w};
            status = fastnn_conv2d_indirect(&phase, 1, dy, wt, g->in_c, NULL,
                                            FASTNN_NO_EPILOGUE, dx, &scatter);
            if (status != FASTNN_OK)
                return status;
        }
    return status;
}

/* dW and db from dz = dy * f'(y) (through NULL: dy).  A 3x3 stride-1
 * convolution by Winograd's algorithm when g->algorithm says so, or says
 * AUTO and fastnn_winograd_weight_gradient_takes it -- without `through`
 * only: that derivative serves first layers, whose few input channels the
 * rule refuses anyway, so it keeps today's kernels rather than a second
 * way into the Winograd tiles.  Otherwise by the direct kernel (which
 * computes db with it) when patches are short and so are a kernel row's
 * runs of k_w * in_c values: in a tile 16 values wide
 * (conv2d_weight_gradient.c) most lanes would idle; else by that tile
 * kernel.  Each sums db as it reads dy. */
static int weight_gradient(const float *x, const float *dy, const float *y,
                           const fastnn_derivative *through, float *dw, float *db,
                           const fastnn_conv2d_geom *g)
{
    const int winograd = g->algorithm == FASTNN_CONV_WINOGRAD ||
                         (g->algorithm == FASTNN_CONV_AUTO &&
                          fastnn_winograd_weight_gradient_takes(g));
    if (winograd && !through && g->k_h == 3 && g->k_w == 3 && g->stride_h == 1 &&
        g->stride_w == 1)
        return fastnn_conv2d_winograd_weight_gradient(x, dy, dw, db, g);
    if (fastnn_direct_conv_takes(g->k_h, g->k_w, g->in_c) && g->k_w * g->in_c < FASTNN_NR)
        return fastnn_conv2d_direct_weight_gradient(x, dy, y, through, dw, db, g);
    return fastnn_conv2d_weight_gradient_through_gemm(x, dy, y, through, dw, db, g);
}

int fastnn_conv2d_weight_gradient_through(const float *x, const float *y, const float *dy,
                                          int through, float alpha, float *dw, float *db,
                                          const fastnn_conv2d_geom *g)
{
    const fastnn_derivative d = fastnn_derivative_of(through, alpha);
    return weight_gradient(x, dy, y, d.apply ? &d : NULL, dw, db, g);
}

/* Textbook: dz = dy * f'(y) element by element (the naive activation
 * backward on one value), then every output pixel adds dz to db and its
 * patch (zeros in the padding) times dz to dw. */
void fastnn_conv2d_weight_gradient_through_naive(const float *x, const float *y,
                                                 const float *dy, int through, float alpha,
                                                 float *dw, float *db,
                                                 const fastnn_conv2d_geom *g)
{
    memset(dw, 0, (size_t)(g->k_h * g->k_w * g->in_c * g->out_c) * sizeof(float));
    memset(db, 0, (size_t)g->out_c * sizeof(float));
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t oh = 0; oh < g->out_h; oh++)
    for (int64_t ow = 0; ow < g->out_w; ow++)
    for (int64_t co = 0; co < g->out_c; co++) {
        int64_t at = ((n * g->out_h + oh) * g->out_w + ow) * g->out_c + co;
        float grad;
        fastnn_activation_backward_naive((fastnn_activation)through, alpha,
                                         y ? y + at : NULL, dy + at, &grad, 1);
        db[co] += grad;
        fastnn_conv2d_add_patch_gradient_naive(x, g, n, oh, ow, co, grad, dw);
    }
}

int fastnn_conv2d_backward(const float *x, const float *w, const float *dy,
                           float *dx, float *dw, float *db,
                           const fastnn_conv2d_geom *g)
{
    int64_t out_pixels = g->batch * g->out_h * g->out_w;
    int status = FASTNN_OK;
    if (dw)
        status = weight_gradient(x, dy, NULL, NULL, dw, db, g);
    if (status != FASTNN_OK)
        return status;
    if (dx && fastnn_winograd_takes(g, 1)) {
        status = fastnn_conv2d_winograd_input_gradient(w, dy, dx, g);
    } else if (dx && pointwise_applies(g)) {
        status = input_gradient_pointwise(w, dy, dx, g);
    } else if (dx && g->in_c < FASTNN_NR) {
        status = input_gradient_col2im(w, dy, dx, g);
    } else if (dx && g->stride_h == 1 && g->stride_w == 1) {
        /* dx = Q . W' read in place (conv2d_indirect.c) */
        kernel_taps taps = {w, g, 0, 0, 1, 1, g->k_w};
        fastnn_gemm_operand wt = {pack_kernel_for_dx, &taps};
        status = fastnn_conv2d_indirect(g, 1, dy, wt, g->in_c, NULL, FASTNN_NO_EPILOGUE,
                                        dx, NULL);
    } else if (dx) {
        status = input_gradient_phases(w, dy, dx, g);
    }
    if (status == FASTNN_OK && db && !dw)
        status = bias_gradient(dy, db, out_pixels, g->out_c);
    return status;
}
