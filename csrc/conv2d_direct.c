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
 * under pixel i (zeros in the padding).  K is at most
 * FASTNN_DIRECT_ANY_C_MAX_K on any number of channels, or at most
 * FASTNN_DIRECT_MAX_K (11x11x4) on at most FASTNN_DIRECT_FEW_C
 * (fastnn_direct_conv_takes in fastnn.h; internal.h says why: where the
 * GEMM engine starts to win, measured).  Long patches need no blocking of
 * their own: the forward tile's registers run over all K values, and the
 * weight gradient takes K + 1 in groups of KB.
 *
 * Forward: a tile of PX output pixels times NV vectors of 8 output
 * channels is accumulated in PX * NV registers over the K weights; each step
 * loads NV vectors of W and broadcasts one patch value per pixel.  The
 * tile's pixels are consecutive in row-major order -- each has its own
 * window pointer, so a tile runs on from one output row into the next and
 * a row's width (26 for a 3x3 kernel on 28x28) leaves no partial tiles;
 * only a run's last tile is moved back to end at the run's end, recomputing
 * a few pixels bit for bit.  PX x NV is 8 x 1 on the generic path; 8 x 1
 * (out_c <= 8) or 6 x 2 on avx2 (16 registers); on avx512 (32 registers)
 * the tile is as wide as out_c up to 32 channels, so each broadcast feeds
 * every channel: 16 x 1 (out_c <= 8: fewer pixels would leave the FMA
 * latency showing), 8 x 2, 8 x 3 or 6 x 4, wider out_c in groups of 4
 * vectors and then single ones.  Any out_c runs on whole vectors: from 8
 * channels up, the last vector is moved back to end at out_c and overlaps
 * the one before (the shared channels are computed twice, identically);
 * below 8, W is copied padded with zeros to 8 columns and each pixel's 8
 * lanes are stored in pixel order, the spill past out_c overwritten by the
 * next pixel's store (the run's last pixels are copied out_c floats at a
 * time, so no store leaves the run).  The windows are read from x in
 * place; when some leave the image (padding), a run's input is first
 * copied once, zeros included, into a per-thread buffer and read from
 * there.  The result does not depend on the tiling: each output is the
 * bias plus the K products added in k order, on any tile shape.
 * Epilogue (fastnn_epilogue, internal.h): a ReLU is a max on the
 * accumulators before the store; any other activation runs over each run
 * of rows (at most RUN_FLOATS outputs) once its tiles are stored, still in
 * cache.  Threads take whole output rows.
 *
 * Weights: the patch gets a constant 1 appended as value K, so row K of the
 * result is db.  The pixels are cut into ranges fixed by the problem, each
 * with its own partial dW, added up in range order at the end (so the result
 * depends neither on scheduling nor on the number of threads).  Within a
 * range, the patches of PB pixels are gathered run by run along the output
 * rows (k_h vector copies per pixel, from x or from a zero-padded band when
 * the run touches the padding); then for each pair of channel vectors (16
 * channels) and each group of KB patch values the 2 x KB partial sums stay
 * in registers while the block's pixels stream past, and a last odd vector
 * takes groups of KB1 on its own.  KB = 5 and KB1 = 10 (10 sums) on avx2
 * and generic; on avx512 KB1 = 13 and KB = 10 or 13, whichever pads K + 1
 * less (26 = 2 x 13 for 5x5, 10 for 3x3).  The partial sums are
 * 8 * ceil(out_c / 8) columns wide: the lanes past out_c multiply the next
 * pixel's dy (a zero-padded copy for the array's last block) and are
 * dropped at the end.
 *
 * Weights through the layer's activation (a first layer, no dx): with
 * y = f(conv(x)) and f's derivative a function of y (relu, tanh, sigmoid,
 * elu, ...), the same blocks read dz = dy * f'(y), computed for each block
 * of PB pixels into the thread's d block -- where dy's last block is copied
 * anyway -- by the loop of the separate activation backward pass
 * (fastnn_derivative_of, internal.h): the same dz bits, the same sums, and
 * no y-sized dz written and read back.  That loop streams y and dy from
 * memory with no arithmetic to hide it behind, so while a block's sums run
 * the next block's y and dy are prefetched, a cache line per pixel (mnist's
 * 128x26x26x32 relu layer on one thread: 1.7 ms against 2.1 without).
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
 * Pixels outside every window have no gradient and are skipped.  Where the
 * fused forward's winners are given and the window has at most 7 taps
 * (2x2: 4), the out_c a multiple of 8 and the patch at most 31 values
 * long, the taps' gradients are not built at all: each window's patches
 * are transposed so that a patch value's taps sit in the lanes of one
 * 8-float vector (zeros after them), and a permute by the channels'
 * winner bytes picks, lane by lane, the winning tap's value (winner_sums):
 * a quarter of the multiply-adds of a 2x2 window, and the same terms
 * without the zeros, so the same bits (the demo's first layer, two
 * threads: 0.79 -> 0.47 ms on avx512, 0.59 -> 0.49 on avx2, 14.4 -> 2.1
 * on the generic path).
 *
 * Forward through ReLU and max pooling (the same first layer): the
 * convolution's output y is computed pool_h rows at a time (one run), by the
 * same tiles as the plain forward (so the same sums, bit for bit), into a
 * per-thread band of pool_h * out_w * out_c floats that stays in cache, and
 * pooled from there: only p = max_pool(y) and, per pooled value, a byte
 * naming the window's winning tap (or none, where the ReLU cut the maximum)
 * reach memory.  Threads take whole pooled rows.  The weight gradient then
 * reads the winners instead of finding them in y again.
 */
#include <string.h>

#include "internal.h"

/* Tile sizes.  Forward: PX output pixels (at most PX_MAX) times NV vectors
 * of 8 channels (at most NV_MAX).  Weights: PB pixels per
 * gathered block, KB patch values per register group (KB_MAX the largest).
 * A block of the pooled gradient holds whole pooling windows, hence the
 * public limit FASTNN_POOLED_MAX_TAPS = PB. */
enum { PX_MAX = 16, NV_MAX = 4, PB = FASTNN_POOLED_MAX_TAPS, KB_MAX = 13 };

/* The buffers below hold patches of FASTNN_DIRECT_MAX_K values: every patch
 * fastnn_direct_conv_takes admits. */
_Static_assert(FASTNN_DIRECT_ANY_C_MAX_K <= FASTNN_DIRECT_MAX_K,
               "a patch the direct kernels take must fit their buffers");
/* A winner is a tap of a window, one byte, below the no-winner mark. */
_Static_assert(FASTNN_POOLED_MAX_TAPS < FASTNN_POOL_NO_WINNER,
               "every tap of a pooling window must fit a winner's byte");

/* Where each of the K patch values sits relative to the window's top-left
 * pixel, in an image (or padded copy) whose rows are row_len pixels long:
 * offset[k] for k = (kh, kw, ci). */
FASTNN_INLINE void patch_offsets(const fastnn_conv2d_geom *g, int64_t row_len,
                                 int64_t *offset)
{
    for (int64_t kh = 0, k = 0; kh < g->k_h; kh++)
        for (int64_t kw = 0; kw < g->k_w; kw++)
            for (int64_t c = 0; c < g->in_c; c++)
                offset[k++] = (kh * row_len + kw) * g->in_c + c;
}

/* ---- forward ---------------------------------------------------------------- */

/* One pass over a tile: out[p][cv..cv+7] = bias + sum_k v(p, k) W[k][cv..cv+7]
 * for the PX pixels of the tile and the NV channel vectors starting at
 * cv = min(c + 8 v, c_last), where the patch value v(p, k) = src[p][at[k]]
 * -- each pixel has its own window pointer, so a tile may run on from one
 * output row into the next -- and W's rows are ws floats apart.  The PX * NV
 * accumulators stay in registers; each step of k loads NV vectors of W and
 * broadcasts one patch value per pixel.  Only the first px pixels are
 * stored (the others, if any, repeat pixel px - 1's window).
 *
 * out_c >= 8: the last vector is moved back to end at out_c (c_last =
 * out_c - 8) and overlaps the one before; both compute the shared channels
 * with the same operations, so the stores agree bit for bit and every store
 * is a whole vector inside its pixel.  out_c < 8 (narrow): W is a copy
 * padded with zeros to 8 columns, and pixel p's 8 lanes are stored at
 * out + p * out_c in pixel order: the lanes past out_c spill into the next
 * pixel's channels, which its own store overwrites right after; within
 * `room` floats of the run's end the spill would leave the run, so there
 * only out_c lanes are copied. */
FASTNN_INLINE void forward_tile(const float *const *src, const int64_t *at, int64_t k_len,
                                const float *w, int64_t ws, const float *b, int64_t c,
                                int64_t c_last, int relu, int64_t px, float *out, int64_t co,
                                int narrow, int64_t room, const int PX, const int NV)
{
    fastnn_v8 acc[PX_MAX][NV_MAX], wk[NV_MAX];
    int64_t cv[NV_MAX];
    for (int v = 0; v < NV; v++) {
        cv[v] = fastnn_min(c + 8 * v, c_last);
        fastnn_v8 start = {0};
        if (b)
            memcpy(&start, b + cv[v], sizeof start);
        for (int p = 0; p < PX; p++)
            acc[p][v] = start;
    }
    for (int64_t k = 0; k < k_len; k++) {
        for (int v = 0; v < NV; v++)
            wk[v] = *(const fastnn_v8 *)(w + k * ws + cv[v]);
        int64_t off = at[k];
        for (int p = 0; p < PX; p++) {
            float value = src[p][off];
            for (int v = 0; v < NV; v++)
                acc[p][v] += value * wk[v];
        }
    }
    if (relu)
        for (int p = 0; p < PX; p++)
            for (int v = 0; v < NV; v++)
                fastnn_relu_v8(&acc[p][v]);
    /* stores through the vector type (aligned(4): any float address), under
     * conditions on the constant p, so the accumulators stay in registers */
    for (int p = 0; p < PX; p++) {
        if (p >= px)
            break;
        if (!narrow) {
            for (int v = 0; v < NV; v++)
                *(fastnn_v8 *)(out + p * co + cv[v]) = acc[p][v];
        } else if (p * co + 8 <= room) {
            *(fastnn_v8 *)(out + p * co) = acc[p][0];
        } else {
            fastnn_v8 last = acc[p][0];
            memcpy(out + p * co, &last, (size_t)co * sizeof(float));
        }
    }
}

/* The columns of a band (the weight gradient's copy of the input under a
 * run of pixels): the run's windows side by side from input column iw0, each `span` columns after the one before -- the stride,
 * or k_w when the stride is larger (the windows then have gaps between them,
 * which the buffer leaves out). */
FASTNN_INLINE int64_t tile_span(const fastnn_conv2d_geom *g)
{
    return fastnn_min(g->stride_w, g->k_w);
}

/* dst = `cols` columns of in_c values of one input row from column iw0 on,
 * zeros where they leave the row (row NULL: a row outside the image). */
FASTNN_INLINE void copy_padded_row(const float *row, const fastnn_conv2d_geom *g,
                                   int64_t iw0, int64_t cols, float *dst)
{
    const int64_t ci = g->in_c;
    if (!row) {
        memset(dst, 0, (size_t)(cols * ci) * sizeof(float));
        return;
    }
    int64_t j0 = fastnn_min(fastnn_max(-iw0, 0), cols);
    int64_t j1 = fastnn_max(fastnn_min(g->in_w - iw0, cols), j0);
    memset(dst, 0, (size_t)(j0 * ci) * sizeof(float));
    memcpy(dst + j0 * ci, row + (iw0 + j0) * ci, (size_t)((j1 - j0) * ci) * sizeof(float));
    memset(dst + j1 * ci, 0, (size_t)((cols - j1) * ci) * sizeof(float));
}

/* Input row ih of image n, or NULL outside the image. */
FASTNN_INLINE const float *input_row(const float *x, const fastnn_conv2d_geom *g, int64_t n,
                                     int64_t ih)
{
    return ih < 0 || ih >= g->in_h ? NULL : x + (n * g->in_h + ih) * g->in_w * g->in_c;
}

/* tb = the input under a run of pixels whose windows start at row ih0,
 * column iw0 of image n: k_h rows of `cols` columns of in_c values (a run
 * of c pixels needs (c - 1) * span + k_w), with zeros where the windows
 * leave the image (padding, or past its edge). */
FASTNN_INLINE void fill_tile(const float *x, const fastnn_conv2d_geom *g, int64_t n,
                             int64_t ih0, int64_t iw0, int64_t cols, float *tb)
{
    const int64_t ci = g->in_c;
    for (int64_t r = 0; r < g->k_h; r++) {
        float *dst = tb + r * cols * ci;
        const float *row = input_row(x, g, n, ih0 + r);
        if (g->stride_w <= g->k_w || !row) { /* column j is input column iw0 + j */
            copy_padded_row(row, g, iw0, cols, dst);
        } else { /* column j is column j % k_w of pixel j / k_w's window */
            for (int64_t j = 0; j < cols; j++) {
                /* pixel p's window starts p * stride_w columns on; a product
                 * that would pass in_w + k_w (strides reach 2^61) is not
                 * formed: that window lies past the image, all zeros */
                int64_t p = j / g->k_w;
                int reachable = p == 0 || g->stride_w <= (g->in_w + g->k_w) / p;
                int64_t iw = reachable ? iw0 + p * g->stride_w + j % g->k_w : g->in_w;
                for (int64_t c = 0; c < ci; c++)
                    dst[j * ci + c] = iw >= 0 && iw < g->in_w ? row[iw * ci + c] : 0.0f;
            }
        }
    }
}

/* What a thread's forward tiles share, set up once per thread
 * (forward_setup): the patch offsets into the windows' source (x, or the
 * padded copy when the windows leave the image), and W and b as the tiles
 * read them -- copies padded with zeros to 8 columns when out_c < 8
 * (narrow).  ~19 KB at FASTNN_DIRECT_MAX_K = 484: it lives on the thread's
 * stack. */
typedef struct {
    int64_t at[FASTNN_DIRECT_MAX_K];
    float w8[FASTNN_DIRECT_MAX_K * 8], b8[8];
    const float *w, *b;        /* w and b, or w8 and b8 */
    int64_t k_len, ws, c_last, vectors;
    int narrow;
    int64_t pitch;             /* floats from one row of the source to the next */
} forward_state;

/* Do some windows leave the image (padding), so that the forward reads a
 * zero-padded copy of the input instead of x itself? */
FASTNN_INLINE int forward_pads(const fastnn_conv2d_geom *g)
{
    return g->pad_top > 0 || g->pad_left > 0 ||
           (g->out_h - 1) * g->stride_h - g->pad_top + g->k_h > g->in_h ||
           (g->out_w - 1) * g->stride_w - g->pad_left + g->k_w > g->in_w;
}

/* The columns of the padded copy: every window of an output row. */
FASTNN_INLINE int64_t padded_cols(const fastnn_conv2d_geom *g)
{
    return (g->out_w - 1) * g->stride_w + g->k_w;
}

/* Floats of a padded copy of the input under `rows` output rows (0 when
 * the windows stay inside the image and are read in place). */
FASTNN_INLINE int64_t padded_len(const fastnn_conv2d_geom *g, int64_t rows)
{
    return forward_pads(g) ? ((rows - 1) * g->stride_h + g->k_h) * padded_cols(g) * g->in_c : 0;
}

FASTNN_INLINE void forward_setup(forward_state *s, const float *w, const float *b,
                                 const fastnn_conv2d_geom *g)
{
    const int64_t co = g->out_c;
    s->k_len = g->k_h * g->k_w * g->in_c;
    s->narrow = co < 8;
    int64_t row_len = forward_pads(g) ? padded_cols(g) : g->in_w;
    s->pitch = row_len * g->in_c;
    patch_offsets(g, row_len, s->at);
    s->w = w;
    s->b = b;
    if (s->narrow) { /* W and b padded with zeros to 8 columns */
        memset(s->w8, 0, sizeof s->w8);
        memset(s->b8, 0, sizeof s->b8);
        for (int64_t k = 0; k < s->k_len; k++)
            memcpy(s->w8 + 8 * k, w + k * co, (size_t)co * sizeof(float));
        if (b)
            memcpy(s->b8, b, (size_t)co * sizeof(float));
        s->w = s->w8;
        s->b = b ? s->b8 : NULL;
    }
    s->ws = s->narrow ? 8 : co;
    s->c_last = s->narrow ? 0 : co - 8;
    s->vectors = s->narrow ? 1 : fastnn_ceil_div(co, 8);
}

/* Output rows [oh0, oh0 + rows) of image n into out, their rows * out_w *
 * out_c floats.  The run's pixels are taken PX at a time in row-major
 * order, a tile running on from one output row into the next, so a row's
 * width costs no partial tiles; the last tile is moved back to end at the
 * run's end and recomputes, bit for bit, pixels already stored (a run
 * shorter than PX is one partial tile).  The windows are read from x in
 * place when none leaves the image; else from `pad`, a copy of the input
 * under the run with zeros in the padding (k_h + (rows - 1) * stride_h
 * rows of padded_cols columns: one copy per input value, where per-tile
 * copies would copy each value once per window it falls in). */
FASTNN_INLINE void forward_run(const forward_state *s, const float *x,
                               const fastnn_conv2d_geom *g, int relu, int64_t n,
                               int64_t oh0, int64_t rows, float *pad, float *out,
                               const int PX, const int NV)
{
    const int64_t co = g->out_c, ci = g->in_c, out_w = g->out_w, count = rows * out_w;
    const int64_t ih0 = oh0 * g->stride_h - g->pad_top;
    const float *origin = pad;
    if (forward_pads(g)) {
        int64_t cols = padded_cols(g), in_rows = (rows - 1) * g->stride_h + g->k_h;
        for (int64_t r = 0; r < in_rows; r++)
            copy_padded_row(input_row(x, g, n, ih0 + r), g, -g->pad_left, cols,
                            pad + r * cols * ci);
    } else {
        origin = x + (n * g->in_h + ih0) * g->in_w * ci;
    }
    const int64_t row_step = fastnn_window_step(g->out_h, g->stride_h, s->pitch);
    const int64_t col_step = fastnn_window_step(g->out_w, g->stride_w, ci);
    for (int64_t t0 = 0; t0 < count; t0 += PX) {
        int64_t start = t0 + PX <= count ? t0 : fastnn_max(count - PX, 0);
        int64_t px = fastnn_min(PX, count - start);
        int64_t oh = start / out_w, ow = start % out_w;
        const float *src[PX_MAX];
        for (int p = 0; p < PX; p++) {
            src[p] = origin + oh * row_step + ow * col_step;
            if (p + 1 < px && ++ow == out_w) {
                ow = 0;
                oh++;
            }
        }
        float *o = out + start * co;
        int64_t room = (count - start) * co, v = 0;
        for (; v + NV <= s->vectors; v += NV)
            forward_tile(src, s->at, s->k_len, s->w, s->ws, s->b, 8 * v, s->c_last, relu, px,
                         o, co, s->narrow, room, PX, NV);
        for (; v < s->vectors; v++)
            forward_tile(src, s->at, s->k_len, s->w, s->ws, s->b, 8 * v, s->c_last, relu, px,
                         o, co, s->narrow, room, PX, 1);
    }
}

/* ---- forward through ReLU and max pooling ------------------------------------- */

/* Max pooling's winners.  For pooling windows that tile y = relu(conv(x))
 * (stride = pool size, no padding), the winner of a window in a channel is
 * the tap t = dh * pool_w + dw of its first maximum in row-major window
 * order (the rule of max_pool2d and its backward pass: a later tap wins
 * only if it is strictly greater), or FASTNN_POOL_NO_WINNER when that
 * maximum is <= 0: the ReLU cut it, so no gradient passes.  These give the
 * winners of 8 channels, whose window's top-left values start at `first`
 * (rows row_step floats apart, taps co apart), and each channel's maximum
 * in *best. */
FASTNN_INLINE void winning_taps_v8(const float *first, int64_t row_step, int64_t co,
                                   int64_t pool_h, int64_t pool_w, fastnn_v8 *best,
                                   fastnn_v8u *won)
{
    fastnn_v8u arg, through;
    fastnn_window_max_v8(first, row_step, co, pool_h, pool_w, best, &arg);
    through = (fastnn_v8u)(*best > 0.0f);
    const fastnn_v8u none = (fastnn_v8u){0} + FASTNN_POOL_NO_WINNER;
    *won = (through & arg) | (~through & none);
}

/* The same for one channel. */
FASTNN_INLINE uint8_t winning_tap(const float *first, int64_t row_step, int64_t co,
                                  const fastnn_pool2d_geom *pg, float *best)
{
    int64_t arg = 0, taps = pg->pool_h * pg->pool_w;
    *best = first[0];
    for (int64_t t = 1; t < taps; t++) {
        float v = first[(t / pg->pool_w) * row_step + (t % pg->pool_w) * co];
        if (v > *best) {
            *best = v;
            arg = t;
        }
    }
    return *best > 0.0f ? (uint8_t)arg : FASTNN_POOL_NO_WINNER;
}

/* Winner bytes in and out of the 32-bit lanes the comparisons work on. */
typedef uint8_t winners_v8 __attribute__((vector_size(8), aligned(1)));

FASTNN_INLINE void load_winners(const uint8_t *from, fastnn_v8u *won)
{
    /* Two 32-bit words, each in four lanes, shifted so that lane i holds
     * byte i: three vector instructions.  (__builtin_convertvector from the
     * 8-byte vector compiled to eight scalar extractions and inserts, an
     * eighth of the pooled weight gradient's time.) */
    uint32_t low, high;
    memcpy(&low, from, sizeof low);
    memcpy(&high, from + 4, sizeof high);
    const fastnn_v8u words = {low, low, low, low, high, high, high, high};
    *won = (words >> (fastnn_v8u){0, 8, 16, 24, 0, 8, 16, 24}) & 0xFFu;
}

FASTNN_INLINE void store_winners(uint8_t *to, const fastnn_v8u *won)
{
    winners_v8 bytes = __builtin_convertvector(*won, winners_v8);
    memcpy(to, &bytes, sizeof bytes);
}

/* One row of pooled outputs from `band`, the pool_h rows of y under it
 * (out_w * out_c floats each): p's row and, unless winners is NULL, the
 * winners' row.  Output columns past the last whole window are dropped, as
 * 'valid' pooling drops them.  pool_h and pool_w are pg's (constants where
 * the caller passes 2, 2: the usual pool unrolled). */
FASTNN_INLINE void pool_band(const float *band, const fastnn_conv2d_geom *g,
                             const fastnn_pool2d_geom *pg, int64_t pool_h, int64_t pool_w,
                             float *p, uint8_t *winners)
{
    const int64_t co = g->out_c, row_step = g->out_w * co;
    for (int64_t pw = 0; pw < pg->out_w; pw++) {
        const float *first = band + pw * pg->stride_w * co;
        float *out = p + pw * co;
        uint8_t *won = winners ? winners + pw * co : NULL;
        int64_t c = 0;
        for (; c + 8 <= co; c += 8) {
            fastnn_v8 best;
            fastnn_v8u taps;
            winning_taps_v8(first + c, row_step, co, pool_h, pool_w, &best, &taps);
            memcpy(out + c, &best, sizeof best);
            if (won)
                store_winners(won + c, &taps);
        }
        for (; c < co; c++) {
            uint8_t tap = winning_tap(first + c, row_step, co, pg, out + c);
            if (won)
                won[c] = tap;
        }
    }
}

/* Where the forward kernels write: y, the convolution's output; or, when
 * pg is not NULL, p = max_pool(y) (windows tiling y) and the winners
 * (NULL: not asked for), with y computed pool_h rows at a time into `band`,
 * a thread's pool_h * out_w * out_c floats, and never written whole. */
typedef struct {
    float *y;
    const fastnn_pool2d_geom *pg;
    float *p;
    uint8_t *winners;
} forward_out;

/* The most output floats a run of the plain forward writes before its
 * epilogue reads them back: 32 KB, in L1 or L2. */
enum { RUN_FLOATS = 8192 };

/* Output rows per run of the plain forward (pooled: pool_h). */
FASTNN_INLINE int64_t run_rows(const fastnn_conv2d_geom *g, const fastnn_pool2d_geom *pg)
{
    if (pg)
        return pg->pool_h;
    return fastnn_min(fastnn_max(RUN_FLOATS / (g->out_w * g->out_c), 1), g->out_h);
}

/* Rows [row0, row1): output rows (n, oh) of y, or pooled rows (n, ph) of p
 * and the winners, each from the pool_h output rows under it (conv rows
 * below the last whole window are not computed).  Runs of run_rows rows of
 * one image go through forward_run; `pad` is the thread's padded copy
 * (padded_len floats).  The rows of y are the same tiles with the same sums
 * either way. */
FASTNN_INLINE void forward_rows(const float *x, const float *w, const float *b,
                                const fastnn_conv2d_geom *g, const fastnn_epilogue *epi,
                                const forward_out *o, float *band, float *pad, int64_t row0,
                                int64_t row1, const int PX, const int NV)
{
    const int relu = epi->act == FASTNN_ACT_RELU;
    forward_state s;
    forward_setup(&s, w, b, g);
    const int64_t y_row = g->out_w * g->out_c;
    const fastnn_pool2d_geom *pg = o->pg;
    if (!pg) {
        for (int64_t row = row0, rows; row < row1; row += rows) {
            int64_t oh = row % g->out_h;
            rows = fastnn_min(fastnn_min(run_rows(g, NULL), g->out_h - oh), row1 - row);
            forward_run(&s, x, g, relu, row / g->out_h, oh, rows, pad, o->y + row * y_row,
                        PX, NV);
            /* any other activation over the run's outputs, final now, still
             * in L1 or L2: one call per run, and its loads come long after
             * the tiles' (overlapping) stores have retired */
            fastnn_epilogue_apply(epi, o->y + row * y_row, rows * y_row);
        }
        return;
    }
    const int64_t p_row = pg->out_w * g->out_c;
    for (int64_t row = row0; row < row1; row++) {
        int64_t n = row / pg->out_h, oh0 = row % pg->out_h * pg->stride_h;
        forward_run(&s, x, g, relu, n, oh0, pg->pool_h, pad, band, PX, NV);
        float *p = o->p + row * p_row;
        uint8_t *winners = o->winners ? o->winners + row * p_row : NULL;
        if (pg->pool_h == 2 && pg->pool_w == 2)
            pool_band(band, g, pg, 2, 2, p, winners);
        else
            pool_band(band, g, pg, pg->pool_h, pg->pool_w, p, winners);
    }
}

typedef void (*rows_fn)(const float *, const float *, const float *,
                        const fastnn_conv2d_geom *, const fastnn_epilogue *,
                        const forward_out *, float *, float *, int64_t, int64_t);

/* 16 vector registers, of 4 floats on the generic path (a vector of 8
 * channels takes two): tiles of 8 pixels x 8 channels. */
static void forward_rows_generic(const float *x, const float *w, const float *b,
                                 const fastnn_conv2d_geom *g, const fastnn_epilogue *epi,
                                 const forward_out *o, float *band, float *pad, int64_t row0,
                                 int64_t row1)
{
    forward_rows(x, w, b, g, epi, o, band, pad, row0, row1, 8, 1);
}

#if FASTNN_HAVE_AVX2_VARIANT
/* 16 vector registers: 12 accumulators, as 6 pixels x 16 channels, or 8
 * pixels x 8 channels when out_c <= 8. */
FASTNN_TARGET_AVX2
static void forward_rows_avx2(const float *x, const float *w, const float *b,
                              const fastnn_conv2d_geom *g, const fastnn_epilogue *epi,
                              const forward_out *o, float *band, float *pad, int64_t row0,
                              int64_t row1)
{
    if (g->out_c <= 8)
        forward_rows(x, w, b, g, epi, o, band, pad, row0, row1, 8, 1);
    else
        forward_rows(x, w, b, g, epi, o, band, pad, row0, row1, 6, 2);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
/* 32 vector registers: up to 24 accumulators, a tile as wide as out_c up to
 * 32 channels: 6 pixels x 32 channels, 8 x 24, 8 x 16; and 16 x 8 when
 * out_c <= 8 (fewer pixels would leave the FMA latency showing). */
FASTNN_TARGET_AVX512
static void forward_rows_avx512(const float *x, const float *w, const float *b,
                                const fastnn_conv2d_geom *g, const fastnn_epilogue *epi,
                                const forward_out *o, float *band, float *pad, int64_t row0,
                                int64_t row1)
{
    if (g->out_c <= 8)
        forward_rows(x, w, b, g, epi, o, band, pad, row0, row1, 16, 1);
    else if (g->out_c <= 16)
        forward_rows(x, w, b, g, epi, o, band, pad, row0, row1, 8, 2);
    else if (g->out_c <= 24)
        forward_rows(x, w, b, g, epi, o, band, pad, row0, row1, 8, 3);
    else
        forward_rows(x, w, b, g, epi, o, band, pad, row0, row1, 6, 4);
}
#endif

/* The forward variant for the SIMD path in use. */
static rows_fn forward_rows_variant(void)
{
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        return forward_rows_avx512;
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        return forward_rows_avx2;
#endif
    return forward_rows_generic;
}

/* The forward work: 2 flops per patch value and output. */
FASTNN_INLINE double forward_work(const fastnn_conv2d_geom *g)
{
    return 2.0 * (double)(g->batch * g->out_h * g->out_w * g->out_c) *
           (double)(g->k_h * g->k_w * g->in_c);
}

/* Both forwards: `total` rows (output rows, or pooled rows when o->pg is
 * set) split evenly among the threads, each with its own band of
 * band_len floats and padded copy. */
static int forward_threads(const float *x, const float *w, const float *b,
                           const fastnn_conv2d_geom *g, const fastnn_epilogue *epi,
                           const forward_out *o, int64_t total, int64_t band_len)
{
    rows_fn rows = forward_rows_variant();
    const int64_t per_thread = band_len + padded_len(g, run_rows(g, o->pg));
    int threads = fastnn_threads_for(forward_work(g));
    float *scratch = NULL;
    if (per_thread > 0 && !(scratch = fastnn_alloc_floats(threads * per_thread)))
        return FASTNN_ENOMEM;
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        float *band = scratch ? scratch + t * per_thread : NULL;
        rows(x, w, b, g, epi, o, band, band ? band + band_len : NULL, total * t / team,
             total * (t + 1) / team);
    }
    fastnn_free_floats(scratch);
    return FASTNN_OK;
}

/* Threads take whole output rows. */
int fastnn_conv2d_direct(const float *x, const float *w, const float *b, float *y,
                         const fastnn_conv2d_geom *g, fastnn_epilogue epi)
{
    const forward_out o = {y, NULL, NULL, NULL};
    return forward_threads(x, w, b, g, &epi, &o, g->batch * g->out_h, 0);
}

/* Threads take whole rows of pooled outputs, each with a band of its own
 * for the pool_h rows of y under one. */
int fastnn_conv2d_relu_max_pool(const float *x, const float *w, const float *b, float *p,
                                uint8_t *winners, const fastnn_conv2d_geom *g,
                                const fastnn_pool2d_geom *pg)
{
    if (!fastnn_direct_conv_takes(g->k_h, g->k_w, g->in_c) ||
        pg->pool_h * pg->pool_w > FASTNN_POOLED_MAX_TAPS)
        return FASTNN_ELIMIT;
    const fastnn_epilogue relu = fastnn_epilogue_of(FASTNN_ACT_RELU, 0.0f);
    const forward_out o = {NULL, pg, p, winners};
    return forward_threads(x, w, b, g, &relu, &o, pg->batch * pg->out_h,
                           pg->pool_h * g->out_w * g->out_c);
}

/* Textbook: for every window and channel, each tap's convolution output
 * relu(b + sum of x times w over the patch, zeros in the padding) and the
 * first maximum in row-major window order: p is that maximum, the winner
 * its tap, or FASTNN_POOL_NO_WINNER where it is <= 0. */
void fastnn_conv2d_relu_max_pool_naive(const float *x, const float *w, const float *b,
                                       float *p, uint8_t *winners,
                                       const fastnn_conv2d_geom *g,
                                       const fastnn_pool2d_geom *pg)
{
    for (int64_t n = 0; n < pg->batch; n++)
    for (int64_t ph = 0; ph < pg->out_h; ph++)
    for (int64_t pw = 0; pw < pg->out_w; pw++)
    for (int64_t co = 0; co < g->out_c; co++) {
        int64_t at = ((n * pg->out_h + ph) * pg->out_w + pw) * g->out_c + co, best_tap = 0;
        float best = 0.0f;
        for (int64_t t = 0; t < pg->pool_h * pg->pool_w; t++) {
            int64_t oh = ph * pg->stride_h + t / pg->pool_w;
            int64_t ow = pw * pg->stride_w + t % pg->pool_w;
            float sum = fastnn_conv2d_output_naive(x, w, b, g, n, oh, ow, co);
            float y = sum < 0.0f ? 0.0f : sum; /* the ReLU */
            if (t == 0 || y > best) {
                best = y;
                best_tap = t;
            }
        }
        p[at] = best;
        if (winners)
            winners[at] = best > 0.0f ? (uint8_t)best_tap : FASTNN_POOL_NO_WINNER;
    }
}

/* ---- weight and bias gradients ------------------------------------------------ */

/* The floats from one patch row to the next: room for the K values, the 1
 * of the bias row and the values a last group of up to KB_MAX reads past
 * them (zeros, set once, then only read into sums that are dropped); the
 * vector copies of gather_run end inside it too; a multiple of 8, so every
 * row starts on a vector boundary.  Sized by the problem, not by
 * FASTNN_DIRECT_MAX_K: rows 497 floats apart made a 3x3 kernel's sums ~8%
 * slower. */
FASTNN_INLINE int64_t patch_stride(const fastnn_conv2d_geom *g)
{
    return 8 * fastnn_ceil_div(g->k_h * g->k_w * g->in_c + KB_MAX, 8);
}

/* Columns of slack after a run's band: a patch row copied in whole vectors
 * reads up to 7 floats past its window.  A band holds at most PB windows. */
enum { BAND_SLACK = 8, BAND_LEN = (PB + BAND_SLACK) * FASTNN_DIRECT_MAX_K };

/* The pooled weight gradient picks each channel's winning tap out of a
 * window's taps with a permute of WINNER_LANES lanes (winner_sums below):
 * for windows of at most WINNER_LANES - 1 taps, whose patch rows are at
 * most WINNER_MAX_ROWS values long with the bias's 1 (3x3x3 + 1 = 28). */
enum { WINNER_LANES = 8, WINNER_MAX_ROWS = 32 };

/* A thread's scratch for the weight gradient: PB patch rows, a band, then
 * a block of d (PB x out_c: dz, or dy's last block) and its slack, then the
 * block's windows transposed for winner_sums (at most PB / 2 windows of
 * WINNER_MAX_ROWS + KB_MAX rows of WINNER_LANES). */
FASTNN_INLINE int64_t scratch_floats(const fastnn_conv2d_geom *g)
{
    return PB * patch_stride(g) + BAND_LEN + PB * g->out_c + 8 +
           PB / 2 * (WINNER_MAX_ROWS + KB_MAX) * WINNER_LANES;
}

/* The patch rows of a run of `count` pixels along one output row, from
 * output pixel (n, oh, ow) on: pixel p's row = the K values under it, then
 * a 1 (the bias row's), stored at patch + (p + (p / group) * gap) *
 * patch_stride -- consecutive rows (gap 0), or groups of `group` rows with
 * `gap` rows left between them (the row of a pooling window's taps: a
 * pooled block keeps each window's taps together).  Each
 * patch is k_h runs of k_w * in_c neighbouring floats, copied 8 at a time
 * (the excess lands on the next run, or past the K values).  They are read
 * straight from x when every window of the run lies inside the image (and
 * the last vector inside x, which ends at x_end); otherwise from `band`,
 * the input under the run with zeros in the padding (fill_tile). */
FASTNN_INLINE void gather_run(const float *x, const float *x_end, const fastnn_conv2d_geom *g,
                              int64_t n, int64_t oh, int64_t ow, int64_t count,
                              int64_t group, int64_t gap, float *patch, float *band)
{
    const int64_t ci = g->in_c, k_len = g->k_h * g->k_w * ci, run = g->k_w * ci;
    const int64_t stride = patch_stride(g);
    int64_t ih0 = oh * g->stride_h - g->pad_top, iw0 = ow * g->stride_w - g->pad_left;
    const float *src = x + ((n * g->in_h + ih0) * g->in_w + iw0) * ci;
    int64_t row = g->in_w * ci, step = fastnn_window_step(count, g->stride_w, ci);
    if (!(ih0 >= 0 && ih0 + g->k_h <= g->in_h && iw0 >= 0 &&
          iw0 + (count - 1) * g->stride_w + g->k_w <= g->in_w &&
          src + (count - 1) * step + (g->k_h - 1) * row + 8 * fastnn_ceil_div(run, 8) <= x_end)) {
        int64_t cols = (count - 1) * tile_span(g) + g->k_w + BAND_SLACK;
        fill_tile(x, g, n, ih0, iw0, cols, band);
        src = band;
        row = cols * ci;
        step = tile_span(g) * ci;
    }
    float *dst = patch;
    for (int64_t p = 0, in_group = 0; p < count; p++, src += step, dst += stride) {
        if (in_group++ == group) { /* the next group, `gap` rows on */
            in_group = 1;
            dst += gap * stride;
        }
        for (int64_t r = 0; r < g->k_h; r++) {
            /* the first vector apart: a loop of vector copies alone would
             * become a call to memcpy, far slower for 1-4 vectors */
            const float *from = src + r * row;
            float *to = dst + r * run;
            *(fastnn_v8 *)to = *(const fastnn_v8 *)from;
            for (int64_t j = 8; j < run; j += 8)
                *(fastnn_v8 *)(to + j) = *(const fastnn_v8 *)(from + j);
        }
        dst[k_len] = 1.0f;
    }
}

/* out[0..8) += *v (by pointer: a vector argument changes the ABI) */
FASTNN_INLINE void add_v8(float *out, const fastnn_v8 *v)
{
    fastnn_v8 old;
    memcpy(&old, out, sizeof old);
    old += *v;
    memcpy(out, &old, sizeof old);
}

/* acc[k0 + q][c ...] += sum over the block's pixels p of patch[p][k0 + q] *
 * d[p][c ...] for q < kb, over NV vectors of 8 channels; acc's rows are cp
 * floats long.  ahead (NULL: none) names two arrays laid out as d whose
 * pixel p is prefetched with pixel p's sums: the next block's y and dy.  The KB * NV sums stay in registers while the pixels stream
 * past: each pixel costs NV loads of d and KB broadcasts for KB * NV FMAs.
 * (Sums for q >= kb run on the patch rows' zero padding and are dropped.)
 * Lanes past out_c read the next pixel's d (or the slack after the last);
 * they land in acc's padding columns, which nobody reads. */
FASTNN_INLINE void block_sums(const float *patch, int64_t stride, const float *d, int64_t count,
                              int64_t co, int64_t c, int64_t k0, int64_t kb, float *acc,
                              int64_t cp, const float *const *ahead, const int KB,
                              const int NV)
{
    fastnn_v8 s[KB_MAX][2];
    for (int q = 0; q < KB; q++)
        for (int v = 0; v < NV; v++)
            s[q][v] = (fastnn_v8){0};
    const float *values = patch + k0, *dp = d + c;
    for (int64_t p = 0; p < count; p++, values += stride, dp += co) {
        fastnn_v8 dv[2];
        if (ahead) /* pixel p of the next block's sources, one cache line at a time */
            for (int64_t j = 0; j < co; j += 16) {
                __builtin_prefetch(ahead[0] + p * co + j);
                __builtin_prefetch(ahead[1] + p * co + j);
            }
        for (int v = 0; v < NV; v++) /* loads through the vector type, as the */
            dv[v] = *(const fastnn_v8 *)(dp + 8 * v); /* stores (memcpy: a stack copy) */
        for (int q = 0; q < KB; q++) {
            float value = values[q];
            for (int v = 0; v < NV; v++)
                s[q][v] += value * dv[v];
        }
    }
    for (int q = 0; q < KB; q++) /* (q < KB, not kb: s stays in registers) */
        if (q < kb)
            for (int v = 0; v < NV; v++)
                add_v8(acc + (k0 + q) * cp + c + 8 * v, &s[q][v]);
}

/* acc[k][c] += sum over the block's `count` pixels p of patch[p][k] d[p][c],
 * for k < K + 1 and the cp = 8 * ceil(out_c / 8) columns of acc: pairs of
 * channel vectors in groups of KB2 patch values, then a last single vector
 * in groups of KB1. */
FASTNN_INLINE void accumulate_block(const float *patch, const float *d, int64_t count,
                                    const fastnn_conv2d_geom *g, float *acc, int64_t cp,
                                    const float *const *ahead, const int KB2, const int KB1)
{
    const int64_t k_len = g->k_h * g->k_w * g->in_c + 1, co = g->out_c;
    const int64_t stride = patch_stride(g);
    int64_t c = 0;
    for (; c + 16 <= cp; c += 16)
        for (int64_t k0 = 0; k0 < k_len; k0 += KB2)
            block_sums(patch, stride, d, count, co, c, k0, fastnn_min(KB2, k_len - k0), acc, cp,
                       c == 0 && k0 == 0 ? ahead : NULL, KB2, 2);
    for (; c < cp; c += 8)
        for (int64_t k0 = 0; k0 < k_len; k0 += KB1)
            block_sums(patch, stride, d, count, co, c, k0, fastnn_min(KB1, k_len - k0), acc, cp,
                       c == 0 && k0 == 0 ? ahead : NULL, KB1, 1);
}

/* d for a block of `count` pixels whose loads would read past the end of
 * dy (`end`): a copy in scratch followed by zeros; else d itself. */
FASTNN_INLINE const float *with_slack(const float *d, int64_t count, int64_t co,
                                      int64_t cp, const float *end, float *scratch)
{
    if (d + (count - 1) * co + cp <= end)
        return d;
    memcpy(scratch, d, (size_t)(count * co) * sizeof(float));
    memset(scratch + count * co, 0, (size_t)(cp - co) * sizeof(float));
    return scratch;
}

/* Where the gradient at the convolution's output comes from, pixel by
 * pixel: dy itself, or -- through the derivative of the activation the layer
 * applied (`through`, not NULL) -- dz = dy * f'(y), y the layer's output,
 * computed block by block into the scratch as the sums need it, so no
 * y-sized dz is written. */
typedef struct {
    const float *dy, *y;
    const fastnn_derivative *through;
} plain_source;

/* acc[k][c] += sum over pixels [i0, i1) of P[i][k] d[i][c], for k < K + 1
 * (P[i][K] = 1, so acc[K] collects db), d = dy or dz (plain_source).  Blocks
 * of PB pixels are gathered run by run along the output rows. */
FASTNN_INLINE void weight_sums(const float *x, const plain_source *src,
                               const fastnn_conv2d_geom *g, int64_t i0, int64_t i1,
                               float *scratch, float *acc, int64_t cp, const int KB2,
                               const int KB1)
{
    const int64_t co = g->out_c, total = g->batch * g->out_h * g->out_w;
    const float *x_end = x + g->batch * g->in_h * g->in_w * g->in_c;
    float *patch = scratch;
    float *band = scratch + PB * patch_stride(g);
    float *d_block = band + BAND_LEN;
    memset(patch, 0, (size_t)(PB * patch_stride(g)) * sizeof(float));
    for (int64_t b0 = i0; b0 < i1; b0 += PB) {
        int64_t count = fastnn_min(PB, i1 - b0);
        int64_t n = b0 / (g->out_h * g->out_w), oh = b0 / g->out_w % g->out_h;
        int64_t ow = b0 % g->out_w;
        for (int64_t p = 0; p < count;) {
            int64_t run = fastnn_min(count - p, g->out_w - ow);
            gather_run(x, x_end, g, n, oh, ow, run, run, 0, patch + p * patch_stride(g), band);
            p += run;
            ow += run;
            if (ow == g->out_w) {
                ow = 0;
                if (++oh == g->out_h) {
                    oh = 0;
                    n++;
                }
            }
        }
        const float *d = d_block;
        const float *next[2] = {src->y + (b0 + count) * co, src->dy + (b0 + count) * co};
        if (src->through) { /* dz of the block, then zeros: the slack */
            src->through->apply((fastnn_activation)src->through->act, src->through->alpha,
                                src->y + b0 * co, src->dy + b0 * co, d_block, 0, count * co);
            memset(d_block + count * co, 0, (size_t)(cp - co) * sizeof(float));
        } else {
            d = with_slack(src->dy + b0 * co, count, co, cp, src->dy + total * co, d_block);
        }
        accumulate_block(patch, d, count, g, acc, cp,
                         src->through && b0 + count < i1 ? next : NULL, KB2, KB1);
    }
}

/* ---- weight gradient through ReLU and max pooling ----------------------------- */

/* For y = relu(conv(x)) followed by a max pool whose windows tile y without
 * overlap, the gradient at the convolution's output is dp (the pool's output
 * gradient) at each window's winner (winning_taps_v8: its first maximum,
 * where that maximum is > 0 -- the ReLU's derivative), and 0 everywhere
 * else.  This fills it for the taps of one window, dz[t][c] for tap t =
 * dh * pool_w + dw, from the window's winners: read from `won` (the fused
 * forward's), or else found in y from the window's top-left pixel
 * y_first. */
FASTNN_INLINE void window_gradient(const float *y_first, const uint8_t *won,
                                   const float *dp, const fastnn_conv2d_geom *g,
                                   const fastnn_pool2d_geom *pg, float *dz)
{
    const int64_t co = g->out_c, taps = pg->pool_h * pg->pool_w;
    const int64_t row_step = g->out_w * co;
    int64_t c = 0;
    for (; c + 8 <= co; c += 8) {
        fastnn_v8 best, grad, d;
        fastnn_v8u winner, tap = {0};
        if (won)
            load_winners(won + c, &winner);
        else
            winning_taps_v8(y_first + c, row_step, co, pg->pool_h, pg->pool_w, &best,
                            &winner);
        memcpy(&grad, dp + c, sizeof grad);
        for (int64_t t = 0; t < taps; t++, tap += 1) {
            d = (fastnn_v8)((fastnn_v8u)(winner == tap) & (fastnn_v8u)grad);
            memcpy(dz + t * co + c, &d, sizeof d);
        }
    }
    for (; c < co; c++) {
        float best;
        int64_t winner = won ? won[c] : winning_tap(y_first + c, row_step, co, pg, &best);
        for (int64_t t = 0; t < taps; t++)
            dz[t * co + c] = t == winner ? dp[c] : 0.0f;
    }
}

/* Where the gradient at the convolution's output comes from, for the weight
 * gradient through ReLU and max pooling: the pool's output gradient dp, the
 * pool's geometry, and each window's winners -- read from `winners` (the
 * fused forward's), or when that is NULL found in y, the forward output. */
typedef struct {
    const fastnn_pool2d_geom *pg;
    const float *y;
    const uint8_t *winners;
    const float *dp;
} pooled_source;

/* acc[k0 + q][c ...] += sum over the block's `windows` windows w of
 * cand[w][k0 + q][winner] * dp[w][c ...] for q < kb, over NV vectors of 8
 * channels, where winner is the channel's winning tap in window w (won) and
 * cand[w][k] holds the k-th patch value of each of the window's taps, one
 * lane each, zeros in the lanes past them: a permute picks every lane's
 * value, and FASTNN_POOL_NO_WINNER (255, its low bits 7) picks a zero.  The
 * terms are those of accumulate_block over the window's pixels without its
 * zeros, in the same order, so the sums are the same; a quarter of the
 * multiply-adds for 2x2 windows, and no dz to build. */
FASTNN_INLINE void winner_sums(const float *cand, int64_t rows, const uint8_t *won,
                               const float *dp, int64_t windows, int64_t co, int64_t c,
                               int64_t k0, int64_t kb, float *acc, int64_t cp, const int KB,
                               const int NV)
{
    fastnn_v8 s[KB_MAX][2];
    for (int q = 0; q < KB; q++)
        for (int v = 0; v < NV; v++)
            s[q][v] = (fastnn_v8){0};
    for (int64_t w = 0; w < windows; w++) {
        fastnn_v8u pick[2];
        fastnn_v8 dv[2];
        for (int v = 0; v < NV; v++) {
            load_winners(won + w * co + c + 8 * v, &pick[v]);
            dv[v] = *(const fastnn_v8 *)(dp + w * co + c + 8 * v);
        }
        const float *values = cand + (w * rows + k0) * WINNER_LANES;
        for (int q = 0; q < KB; q++) {
            const fastnn_v8 taps = *(const fastnn_v8 *)(values + q * WINNER_LANES);
            for (int v = 0; v < NV; v++)
                s[q][v] += __builtin_shuffle(taps, (fastnn_v8i)pick[v]) * dv[v];
        }
    }
    for (int q = 0; q < KB; q++) /* (q < KB, not kb: s stays in registers) */
        if (q < kb)
            for (int v = 0; v < NV; v++)
                add_v8(acc + (k0 + q) * cp + c + 8 * v, &s[q][v]);
}

/* acc as in weight_sums, over the pooling windows [j0, j1) (j = (n, ph, pw))
 * instead of over pixels: a block holds whole windows, their taps' patches
 * (a run of pool_w pixels per window row) and window_gradient's dz.  Pixels
 * outside every window have no gradient and are skipped.  scratch is this
 * thread's (scratch_floats: patch rows, band, then dz with its slack). */
FASTNN_INLINE void pooled_weight_sums(const float *x, const pooled_source *src,
                                      const fastnn_conv2d_geom *g, int64_t j0,
                                      int64_t j1, float *scratch, float *acc, int64_t cp,
                                      const int KB2, const int KB1)
{
    const fastnn_pool2d_geom *pg = src->pg;
    const int64_t co = g->out_c, taps = pg->pool_h * pg->pool_w;
    const int64_t per_block = PB / taps, windows_per_image = pg->out_h * pg->out_w;
    const int64_t k_rows = g->k_h * g->k_w * g->in_c + 1, stride = patch_stride(g);
    const float *x_end = x + g->batch * g->in_h * g->in_w * g->in_c;
    float *patch = scratch;
    float *band = scratch + PB * stride;
    float *dz = band + BAND_LEN;
    /* winner_sums: the winners given, whole vectors of channels, windows
     * that leave a zero lane, short patch rows */
    const int pick = src->winners && co % 8 == 0 && taps >= 2 && taps < WINNER_LANES &&
                     k_rows <= WINNER_MAX_ROWS;
    const int64_t cand_rows = k_rows + KB_MAX; /* zeros after the values */
    float *cand = dz + PB * co + 8;
    memset(patch, 0, (size_t)(PB * stride) * sizeof(float));
    if (pick)
        memset(cand, 0, (size_t)(per_block * cand_rows * WINNER_LANES) * sizeof(float));
    for (int64_t b0 = j0; b0 < j1; b0 += per_block) {
        int64_t count = 0, b1 = fastnn_min(b0 + per_block, j1);
        for (int64_t j = b0, seg; j < b1; j += seg, count += seg * taps) {
            /* a segment: the block's windows on one pooled row */
            int64_t n = j / windows_per_image, ph = j / pg->out_w % pg->out_h;
            int64_t pw = j % pg->out_w;
            int64_t oh = ph * pg->stride_h, ow = pw * pg->stride_w;
            seg = fastnn_min(b1 - j, pg->out_w - pw);
            for (int64_t i = 0; !pick && i < seg; i++) { /* pick: no dz */
                const float *y_first =
                    src->winners ? NULL
                                 : src->y + ((n * g->out_h + oh) * g->out_w + ow + i * pg->stride_w) * co;
                window_gradient(y_first, src->winners ? src->winners + (j + i) * co : NULL,
                                src->dp + (j + i) * co, g, pg, dz + (count + i * taps) * co);
            }
            /* the windows tile y: their taps in row dh are one run along y's
             * row oh + dh, window by window, pool_w rows per window */
            for (int64_t dh = 0; dh < pg->pool_h; dh++)
                gather_run(x, x_end, g, n, oh + dh, ow, seg * pg->pool_w, pg->pool_w,
                           taps - pg->pool_w,
                           patch + (count + dh * pg->pool_w) * stride, band);
        }
        if (pick) {
            const int64_t windows = b1 - b0;
            for (int64_t w = 0; w < windows; w++) /* taps' rows into lanes */
                for (int64_t t = 0; t < taps; t++)
                    for (int64_t k = 0; k < k_rows; k++)
                        cand[(w * cand_rows + k) * WINNER_LANES + t] =
                            patch[(w * taps + t) * stride + k];
            const uint8_t *won = src->winners + b0 * co;
            const float *dp = src->dp + b0 * co;
            int64_t c = 0;
            for (; c + 16 <= co; c += 16)
                for (int64_t k0 = 0; k0 < k_rows; k0 += KB2)
                    winner_sums(cand, cand_rows, won, dp, windows, co, c, k0,
                                fastnn_min(KB2, k_rows - k0), acc, cp, KB2, 2);
            for (; c < co; c += 8)
                for (int64_t k0 = 0; k0 < k_rows; k0 += KB1)
                    winner_sums(cand, cand_rows, won, dp, windows, co, c, k0,
                                fastnn_min(KB1, k_rows - k0), acc, cp, KB1, 1);
            continue;
        }
        /* the slack after the last pixel's dz: zeros past the block */
        memset(dz + count * co, 0, (size_t)(cp - co) * sizeof(float));
        accumulate_block(patch, dz, count, g, acc, cp, NULL, KB2, KB1);
    }
}

/* One range of work for one thread: pixels [i0, i1) of the output gradient
 * (plain's) when pooled is NULL; else pooling windows [i0, i1), the
 * gradient coming from pooled's dp at each window's winner.  scratch is
 * this thread's (scratch_floats). */
FASTNN_INLINE void range_sums(const float *x, const plain_source *plain,
                              const pooled_source *pooled,
                              const fastnn_conv2d_geom *g, int64_t i0, int64_t i1,
                              float *scratch, float *acc, int64_t cp, const int KB2,
                              const int KB1)
{
    if (pooled)
        pooled_weight_sums(x, pooled, g, i0, i1, scratch, acc, cp, KB2, KB1);
    else
        weight_sums(x, plain, g, i0, i1, scratch, acc, cp, KB2, KB1);
}

typedef void (*sums_fn)(const float *, const plain_source *, const pooled_source *,
                        const fastnn_conv2d_geom *, int64_t, int64_t, float *, float *,
                        int64_t);

/* 16 vector registers: 10 sums (2 x 5 or 1 x 10). */
static void range_sums_generic(const float *x, const plain_source *plain, const pooled_source *pooled,
                               const fastnn_conv2d_geom *g, int64_t i0, int64_t i1,
                               float *scratch, float *acc, int64_t cp)
{
    range_sums(x, plain, pooled, g, i0, i1, scratch, acc, cp, 5, 10);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void range_sums_avx2(const float *x, const plain_source *plain, const pooled_source *pooled,
                            const fastnn_conv2d_geom *g, int64_t i0, int64_t i1,
                            float *scratch, float *acc, int64_t cp)
{
    range_sums(x, plain, pooled, g, i0, i1, scratch, acc, cp, 5, 10);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
/* 32 vector registers: up to 26 sums (2 x 13, 2 x 10 or 1 x 13); KB = 13
 * where it pads the K + 1 patch values less than 10 does. */
FASTNN_TARGET_AVX512
static void range_sums_avx512(const float *x, const plain_source *plain, const pooled_source *pooled,
                              const fastnn_conv2d_geom *g, int64_t i0, int64_t i1,
                              float *scratch, float *acc, int64_t cp)
{
    const int64_t k_len = g->k_h * g->k_w * g->in_c + 1;
    if (fastnn_ceil_div(k_len, 13) * 13 < fastnn_ceil_div(k_len, 10) * 10)
        range_sums(x, plain, pooled, g, i0, i1, scratch, acc, cp, 13, 13);
    else
        range_sums(x, plain, pooled, g, i0, i1, scratch, acc, cp, 10, 13);
}
#endif

/* dW and db from `items` units of work (pixels, or pooling windows of `taps`
 * pixels each): the items are cut into parts fixed by the problem
 * (fastnn_parts_for), each part is summed into its own partial (K + 1) x cp
 * block by whichever thread takes it, and the blocks are added in part
 * order -- the same numbers on any number of threads. */
static int weight_gradient_sums(const float *x, const plain_source *plain,
                                const pooled_source *pooled,
                                float *dw, float *db, const fastnn_conv2d_geom *g,
                                int64_t items, int64_t taps)
{
    sums_fn sums = range_sums_generic;
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        sums = range_sums_avx512;
    else
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        sums = range_sums_avx2;
#endif
    const int64_t k_len = g->k_h * g->k_w * g->in_c, co = g->out_c;
    const int64_t cp = 8 * fastnn_ceil_div(co, 8), size = (k_len + 1) * cp;
    const int64_t scratch_len = scratch_floats(g);
    const double work = 2.0 * (double)(items * taps) * (double)((k_len + 1) * co);
    int parts = fastnn_parts_for(items, work);
    int threads = fastnn_threads_for(work);
    if (threads > parts)
        threads = parts;
    float *partial = fastnn_alloc_partials(parts, size);
    float *sums_out = fastnn_alloc_floats(size);
    float *scratch = fastnn_alloc_floats((int64_t)threads * scratch_len);
    if (!partial || !sums_out || !scratch) {
        fastnn_free_floats(partial);
        fastnn_free_floats(sums_out);
        fastnn_free_floats(scratch);
        return FASTNN_ENOMEM;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < parts; p++)
        sums(x, plain, pooled, g, items * p / parts, items * (p + 1) / parts,
             scratch + fastnn_thread_id() * scratch_len, partial + p * size, cp);
    fastnn_sum_partials(partial, parts, size, sums_out);
    for (int64_t k = 0; k < k_len; k++)  /* rows < K, the first out_c columns */
        memcpy(dw + k * co, sums_out + k * cp, (size_t)co * sizeof(float));
    if (db)
        memcpy(db, sums_out + k_len * cp, (size_t)co * sizeof(float));  /* row K */
    fastnn_free_floats(scratch);
    fastnn_free_floats(sums_out);
    fastnn_free_floats(partial);
    return FASTNN_OK;
}

int fastnn_conv2d_direct_weight_gradient(const float *x, const float *dy, const float *y,
                                         const fastnn_derivative *through, float *dw,
                                         float *db, const fastnn_conv2d_geom *g)
{
    if (!fastnn_direct_conv_takes(g->k_h, g->k_w, g->in_c))
        return FASTNN_ELIMIT; /* patch rows and bands hold FASTNN_DIRECT_MAX_K values */
    const plain_source plain = {dy, y, through};
    return weight_gradient_sums(x, &plain, NULL, dw, db, g, g->batch * g->out_h * g->out_w, 1);
}

int fastnn_conv2d_pooled_weight_gradient(const float *x, const float *y,
                                         const uint8_t *winners, const float *dp,
                                         float *dw, float *db,
                                         const fastnn_conv2d_geom *g,
                                         const fastnn_pool2d_geom *pg)
{
    /* a block holds whole windows: per_block = PB / taps must be >= 1 */
    if (!fastnn_direct_conv_takes(g->k_h, g->k_w, g->in_c) ||
        pg->pool_h * pg->pool_w > FASTNN_POOLED_MAX_TAPS)
        return FASTNN_ELIMIT;
    const pooled_source pooled = {pg, y, winners, dp};
    return weight_gradient_sums(x, NULL, &pooled, dw, db, g, pg->batch * pg->out_h * pg->out_w,
                                pg->pool_h * pg->pool_w);
}

/* Textbook: for every pool window and channel, its winner -- given, or the
 * first maximum of y in row-major window order where that maximum is > 0
 * (the ReLU let it through); dp flows to that one convolution output (n,
 * oh, ow, co), which adds dp to db[co] and x's patch under (oh, ow) times
 * dp to dw[., ., ., co].  Every other output of the convolution has
 * gradient 0 and adds nothing. */
void fastnn_conv2d_pooled_weight_gradient_naive(const float *x, const float *y,
                                                const uint8_t *winners, const float *dp,
                                                float *dw, float *db,
                                                const fastnn_conv2d_geom *g,
                                                const fastnn_pool2d_geom *pg)
{
    memset(dw, 0, (size_t)(g->k_h * g->k_w * g->in_c * g->out_c) * sizeof(float));
    memset(db, 0, (size_t)g->out_c * sizeof(float));
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t ph = 0; ph < pg->out_h; ph++)
    for (int64_t pw = 0; pw < pg->out_w; pw++)
    for (int64_t co = 0; co < g->out_c; co++) {
        int64_t at = ((n * pg->out_h + ph) * pg->out_w + pw) * g->out_c + co;
        int64_t oh = ph * pg->stride_h, ow = pw * pg->stride_w; /* the argmax */
        if (winners) {
            if (winners[at] == FASTNN_POOL_NO_WINNER)
                continue; /* the ReLU stopped it */
            oh += winners[at] / pg->pool_w;
            ow += winners[at] % pg->pool_w;
        } else {
            float best = y[((n * g->out_h + oh) * g->out_w + ow) * g->out_c + co];
            for (int64_t h = ph * pg->stride_h; h < ph * pg->stride_h + pg->pool_h; h++)
                for (int64_t w = pw * pg->stride_w; w < pw * pg->stride_w + pg->pool_w; w++)
                    if (y[((n * g->out_h + h) * g->out_w + w) * g->out_c + co] > best) {
                        best = y[((n * g->out_h + h) * g->out_w + w) * g->out_c + co];
                        oh = h;
                        ow = w;
                    }
            if (!(best > 0.0f))
                continue; /* the ReLU stopped it */
        }
        float grad = dp[at];
        db[co] += grad; /* y = relu(... + b[co]) */
        fastnn_conv2d_add_patch_gradient_naive(x, g, n, oh, ow, co, grad, dw);
    }
}
