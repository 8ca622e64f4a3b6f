/*
 * pool2d.c -- max and average pooling over NHWC images, forward and
 * backward, naive and fast.
 *
 * Naive: for every output element (n, oh, ow, c), walk its window
 * (course, chapter 21: "the largest value in each 2x2 block").
 *
 * Fast: the same windows, but channels innermost, 8 at a time.  In NHWC
 * the C channels of one pixel are contiguous, so an output pixel is whole
 * 8-lane vectors: y[c0..c0+8) = max (or mean) over taps of x[tap][c0..c0+8).
 * Any channel count stays vectorised (`chunks` below): when C is not a
 * multiple of 8 the last vector starts at C - 8 and overlaps the one before
 * (its shared lanes are computed twice, to the same values), and below 8
 * channels (LeNet's 6, an RGB image's 3) one vector covers the pixel and its
 * lanes C..7 spill into the next pixel of the row -- allowed where that
 * pixel is written afterwards anyway (forward; backward over windows side
 * by side) or where the spilled lanes add exact zeros (backward that adds),
 * and only where every load and store stays inside the row; the last
 * pixel or two of a row take a scalar loop instead.  The loops are
 * instantiated for AVX2 and for baseline x86-64 (two SSE registers per
 * vector), and for AVX-512 where a dropout is folded in (below): the same
 * 8-lane code, but its hash ran 10-20 % faster there than on AVX2, while
 * without a dropout the AVX2 code was as fast or faster (LeNet's pools,
 * backward: 10-15 %; measured on Zen 4).
 * Max-pool backward recomputes each window's argmax per channel (a vector
 * compare + blend of the tap number) and writes dy there.  Windows that
 * tile the image (stride = pool size, no padding above or left: the usual
 * 2x2 pooling) write every covered dx value once, zeroing only the
 * uncovered rest, instead of memset followed by read-add-write.
 *
 * Backward through an activation (`through`, fastnn.h): the activation's
 * derivative from its output x is applied to each image's dx right after
 * that image is scattered, while it is still in cache (ReLU under a max
 * pool inside the scatter itself: the gradient passes only a maximum > 0).
 *
 * A dropout above the pool (`drop`, fastnn.h) is folded in: the forward
 * pass drops out each output vector before it stores it, the backward pass
 * each dy vector as it loads it (the hash of dropout_mask.h on the output
 * index), so the dropout has no pass over memory of its own.
 *
 * Parallelism: forward passes split output rows (n, oh) across threads,
 * in contiguous ranges.  Backward passes scatter into dx, and overlapping
 * windows (stride < pool) would make two rows write the same dx element,
 * so they split whole images.  No sums cross a thread's range: results are
 * bit-identical on any number of threads.
 */
#include <string.h>

#include "dropout_mask.h"

/* The in-bounds part of one window: input rows [h0, h1), columns [w0, w1). */
typedef struct {
    int64_t h0, h1, w0, w1;
} window;

static inline window pool_window(const fastnn_pool2d_geom *g, int64_t oh,
                                 int64_t ow)
{
    int64_t h = oh * g->stride_h - g->pad_top;
    int64_t w = ow * g->stride_w - g->pad_left;
    window win = {h < 0 ? 0 : h, fastnn_min(h + g->pool_h, g->in_h),
                  w < 0 ? 0 : w, fastnn_min(w + g->pool_w, g->in_w)};
    return win;
}

static inline int64_t in_index(const fastnn_pool2d_geom *g, int64_t n,
                               int64_t h, int64_t w, int64_t c)
{
    return ((n * g->in_h + h) * g->in_w + w) * g->channels + c;
}

static inline int64_t out_index(const fastnn_pool2d_geom *g, int64_t n,
                                int64_t oh, int64_t ow, int64_t c)
{
    return ((n * g->out_h + oh) * g->out_w + ow) * g->channels + c;
}

/* ---- naive ---------------------------------------------------------------- */

/* y = dropout(y), in place, for the dropout `drop` describes (NULL: none). */
static void drop_naive(float *y, const fastnn_pool2d_geom *g,
                       const fastnn_dropout_mask *drop)
{
    if (drop)
        fastnn_dropout_naive(y, y, g->batch * g->out_h * g->out_w * g->channels,
                             drop->keep_prob, drop->seed);
}

/* dy[o], or dropout(dy[o]) with the mask of `drop` (NULL: none). */
static float dy_naive(const float *dy, int64_t o, const fastnn_dropout_mask *drop)
{
    if (!drop)
        return dy[o];
    fastnn_dropout_coin coin = fastnn_dropout_coin_of(drop->keep_prob, drop->seed);
    return fastnn_dropout_one(&coin, dy[o], o);
}

void fastnn_max_pool2d_naive(const float *x, float *y,
                             const fastnn_pool2d_geom *g,
                             const fastnn_dropout_mask *drop)
{
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t oh = 0; oh < g->out_h; oh++)
    for (int64_t ow = 0; ow < g->out_w; ow++)
    for (int64_t c = 0; c < g->channels; c++) {
        window win = pool_window(g, oh, ow);
        float best = x[in_index(g, n, win.h0, win.w0, c)];
        for (int64_t h = win.h0; h < win.h1; h++)
            for (int64_t w = win.w0; w < win.w1; w++)
                if (x[in_index(g, n, h, w, c)] > best)
                    best = x[in_index(g, n, h, w, c)];
        y[out_index(g, n, oh, ow, c)] = best;
    }
    drop_naive(y, g, drop);
}

/* dx = f'(x) * dx for the activation `through` names (x its output). */
static void through_naive(const float *x, float *dx, int64_t count, int through,
                          float alpha)
{
    if (through != FASTNN_ACT_NONE)
        fastnn_activation_backward_naive((fastnn_activation)through, alpha, x, dx, dx,
                                         count);
}

void fastnn_max_pool2d_backward_naive(const float *x, const float *dy,
                                      float *dx, const fastnn_pool2d_geom *g,
                                      int through, float alpha,
                                      const fastnn_dropout_mask *drop)
{
    memset(dx, 0, (size_t)(g->batch * g->in_h * g->in_w * g->channels) * sizeof(float));
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t oh = 0; oh < g->out_h; oh++)
    for (int64_t ow = 0; ow < g->out_w; ow++)
    for (int64_t c = 0; c < g->channels; c++) {
        window win = pool_window(g, oh, ow);
        int64_t arg = in_index(g, n, win.h0, win.w0, c);
        for (int64_t h = win.h0; h < win.h1; h++)
            for (int64_t w = win.w0; w < win.w1; w++)
                if (x[in_index(g, n, h, w, c)] > x[arg])
                    arg = in_index(g, n, h, w, c);
        dx[arg] += dy_naive(dy, out_index(g, n, oh, ow, c), drop); /* only the max moved y */
    }
    through_naive(x, dx, g->batch * g->in_h * g->in_w * g->channels, through, alpha);
}

void fastnn_avg_pool2d_naive(const float *x, float *y,
                             const fastnn_pool2d_geom *g,
                             const fastnn_dropout_mask *drop)
{
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t oh = 0; oh < g->out_h; oh++)
    for (int64_t ow = 0; ow < g->out_w; ow++)
    for (int64_t c = 0; c < g->channels; c++) {
        window win = pool_window(g, oh, ow);
        float sum = 0.0f;
        for (int64_t h = win.h0; h < win.h1; h++)
            for (int64_t w = win.w0; w < win.w1; w++)
                sum += x[in_index(g, n, h, w, c)];
        float count = (float)((win.h1 - win.h0) * (win.w1 - win.w0));
        y[out_index(g, n, oh, ow, c)] = sum / count;
    }
    drop_naive(y, g, drop);
}

void fastnn_avg_pool2d_backward_naive(const float *x, const float *dy,
                                      float *dx, const fastnn_pool2d_geom *g,
                                      int through, float alpha,
                                      const fastnn_dropout_mask *drop)
{
    memset(dx, 0, (size_t)(g->batch * g->in_h * g->in_w * g->channels) * sizeof(float));
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t oh = 0; oh < g->out_h; oh++)
    for (int64_t ow = 0; ow < g->out_w; ow++)
    for (int64_t c = 0; c < g->channels; c++) {
        window win = pool_window(g, oh, ow);
        float count = (float)((win.h1 - win.h0) * (win.w1 - win.w0));
        float share = dy_naive(dy, out_index(g, n, oh, ow, c), drop) / count;
        for (int64_t h = win.h0; h < win.h1; h++)
            for (int64_t w = win.w0; w < win.w1; w++)
                dx[in_index(g, n, h, w, c)] += share;
    }
    through_naive(x, dx, g->batch * g->in_h * g->in_w * g->channels, through, alpha);
}

/* ---- fast: output pixels as 8-channel vectors ------------------------------- */

/* How a pixel's C channels are cut into 8-lane vectors: `full` of them at
 * 0, 8, ..., then, when C % 8 != 0, a last one at `last` = max(C - 8, 0)
 * (overlapping the one before, or spilling past the pixel for C < 8).
 * `fresh` marks the lanes of the last one that hold channels no vector
 * before covered: a scatter that adds adds only those. */
typedef struct {
    int64_t full, last, spill; /* last = -1: none; spill = lanes past the pixel */
    fastnn_v8u fresh;
} chunks;

static chunks channel_chunks(int64_t C)
{
    chunks k = {C / 8, C % 8 ? fastnn_max(C - 8, 0) : -1, C < 8 ? 8 - C : 0, {0}};
    for (int l = 0; l < 8; l++)
        k.fresh[l] = k.last + l >= 8 * k.full && k.last + l < C ? ~0u : 0u;
    return k;
}

/* Vectors travel through pointers: a vector return value would change the ABI. */
FASTNN_INLINE void load8(fastnn_v8 *v, const float *p) { memcpy(v, p, sizeof *v); }
FASTNN_INLINE void store8(float *p, const fastnn_v8 *v) { memcpy(p, v, sizeof *v); }

/* The max (first value kept on ties and NaN, as the naive `>`) or the sum
 * in row-major tap order of a window's 8-channel runs. */
FASTNN_INLINE void window_reduce_v8(const float *first, int64_t row_step,
                                    int64_t col_step, int64_t rows, int64_t cols,
                                    int is_max, fastnn_v8 *out)
{
    fastnn_v8 acc, v;
    load8(&acc, first);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = r == 0; c < cols; c++) {
            load8(&v, first + r * row_step + c * col_step);
            if (is_max) {
                fastnn_v8u better = (fastnn_v8u)(v > acc);
                acc = (fastnn_v8)((better & (fastnn_v8u)v) | (~better & (fastnn_v8u)acc));
            } else {
                acc += v;
            }
        }
    *out = acc;
}

FASTNN_INLINE float window_area_inverse(window win)
{
    return 1.0f / (float)((win.h1 - win.h0) * (win.w1 - win.w0));
}

/* One output pixel, channels [c0, c0 + 8), its window `rows` x `cols`;
 * y is output element `yi`, dropped out with `coin` unless that is NULL. */
FASTNN_INLINE void pool_chunk(const fastnn_pool2d_geom *g, const float *first,
                              int64_t rows, int64_t cols, float *y, int64_t yi,
                              const fastnn_dropout_coin *coin, int is_max)
{
    fastnn_v8 v;
    window_reduce_v8(first, g->in_w * g->channels, g->channels, rows, cols, is_max, &v);
    if (!is_max)
        v *= 1.0f / (float)(rows * cols);
    if (coin)
        fastnn_dropout_v8(coin, &v, yi);
    store8(y, &v);
}

/* One output pixel, one channel: the tail of a row where a vector would
 * leave it. */
FASTNN_INLINE void pool_channel(const fastnn_pool2d_geom *g, const float *first,
                                window win, float *y, int64_t yi,
                                const fastnn_dropout_coin *coin, int is_max)
{
    const int64_t C = g->channels;
    float acc = first[0];
    for (int64_t h = 0; h < win.h1 - win.h0; h++)
        for (int64_t w = h == 0; w < win.w1 - win.w0; w++) {
            float v = first[(h * g->in_w + w) * C];
            acc = is_max ? (v > acc ? v : acc) : acc + v;
        }
    acc = is_max ? acc : acc * window_area_inverse(win);
    *y = coin ? fastnn_dropout_one(coin, acc, yi) : acc;
}

/* Whether the last, spilling vector of output pixel `ow` (window `win`)
 * stays inside its output row (dy, y) and its input row (x, dx).  Where it
 * stays inside the output row, spilled dx lanes of windows side by side
 * land on columns that the windows to the right cover (and write later):
 * (ow + 1) C + spill <= out_w C implies w1 C + spill <= out_w pool_w C. */
FASTNN_INLINE int spill_fits(const fastnn_pool2d_geom *g, const chunks *k,
                             int64_t ow, window win)
{
    const int64_t C = g->channels;
    return (ow + 1) * C + k->spill <= g->out_w * C && win.w1 * C + k->spill <= g->in_w * C;
}

/* One output pixel, all channels; `rows` and `cols` are the window's
 * (constants where the caller passes 2, 2: the usual pool unrolled). */
FASTNN_INLINE void pool_pixel(const fastnn_pool2d_geom *g, const chunks *k,
                              const float *first, window win, int64_t rows,
                              int64_t cols, int spill_ok, float *out, int64_t oi,
                              const fastnn_dropout_coin *coin, int is_max)
{
    for (int64_t q = 0; q < k->full; q++)
        pool_chunk(g, first + 8 * q, rows, cols, out + 8 * q, oi + 8 * q, coin, is_max);
    if (k->last < 0)
        return;
    if (spill_ok)
        pool_chunk(g, first + k->last, rows, cols, out + k->last, oi + k->last, coin,
                   is_max);
    else
        for (int64_t c = 8 * k->full; c < g->channels; c++)
            pool_channel(g, first + c, win, out + c, oi + c, coin, is_max);
}

/* Forward over output rows [row0, row1), a row being (n, oh). */
FASTNN_INLINE void pool_rows_of(const float *x, float *y,
                                const fastnn_pool2d_geom *g, int64_t row0,
                                int64_t row1, const fastnn_dropout_coin *coin,
                                int is_max)
{
    const int64_t C = g->channels;
    const chunks k = channel_chunks(C);
    for (int64_t row = row0; row < row1; row++) {
        int64_t n = row / g->out_h, oh = row % g->out_h;
        const float *img = x + in_index(g, n, 0, 0, 0);
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            window win = pool_window(g, oh, ow);
            const float *first = img + (win.h0 * g->in_w + win.w0) * C;
            int64_t oi = out_index(g, n, oh, ow, 0);
            int64_t rows = win.h1 - win.h0, cols = win.w1 - win.w0;
            int spill_ok = k.last >= 0 && spill_fits(g, &k, ow, win);
            if (rows == 2 && cols == 2)
                pool_pixel(g, &k, first, win, 2, 2, spill_ok, y + oi, oi, coin, is_max);
            else
                pool_pixel(g, &k, first, win, rows, cols, spill_ok, y + oi, oi, coin,
                           is_max);
        }
    }
}

FASTNN_INLINE void pool_rows(const float *x, float *y, const fastnn_pool2d_geom *g,
                             int64_t row0, int64_t row1,
                             const fastnn_dropout_coin *coin, int is_max)
{
    if (is_max)
        pool_rows_of(x, y, g, row0, row1, coin, 1);
    else
        pool_rows_of(x, y, g, row0, row1, coin, 0);
}

/* Backward of one output pixel, channels [c0, c0 + 8): dy (output element
 * `yi`, dropped out first with `coin` unless that is NULL) to the first
 * maximum of each channel (max; `relu`: only where that maximum is > 0) or
 * dy / area to every tap (average).  `overwrite` (windows side by side):
 * each tap's dx is written once; else added to, in the lanes `keep` only. */
FASTNN_INLINE void unpool_chunk(const fastnn_pool2d_geom *g, const float *x_first,
                                int64_t rows, int64_t cols, const float *dy, int64_t yi,
                                const fastnn_dropout_coin *coin, float *dx_first,
                                int is_max, int relu, int overwrite,
                                const fastnn_v8u *keep)
{
    const int64_t C = g->channels, row_step = g->in_w * C;
    fastnn_v8 grad, best, d, old;
    fastnn_v8u arg = {0}, tap = {0};
    load8(&grad, dy);
    if (coin)
        fastnn_dropout_v8(coin, &grad, yi);
    grad = (fastnn_v8)((fastnn_v8u)grad & *keep);
    if (is_max) {
        fastnn_window_max_v8(x_first, row_step, C, rows, cols, &best, &arg);
        if (relu) /* x is a ReLU's output: its gradient passes only where x > 0 */
            grad = (fastnn_v8)((best > 0.0f) & (fastnn_v8i)grad);
    } else {
        grad *= 1.0f / (float)(rows * cols);
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++, tap += 1) {
            float *dst = dx_first + r * row_step + c * C;
            d = is_max ? (fastnn_v8)((fastnn_v8u)(arg == tap) & (fastnn_v8u)grad) : grad;
            if (!overwrite) {
                load8(&old, dst);
                d += old;
            }
            store8(dst, &d);
        }
}

/* The same for one channel: the tail of a row where a vector would leave it. */
FASTNN_INLINE void unpool_channel(const fastnn_pool2d_geom *g, const float *x_first,
                                  window win, const float *dy, int64_t yi,
                                  const fastnn_dropout_coin *coin, float *dx_first,
                                  int is_max, int relu, int overwrite)
{
    const int64_t C = g->channels, row_step = g->in_w * C;
    int64_t arg = 0;
    float grad = coin ? fastnn_dropout_one(coin, *dy, yi) : *dy;
    float share = is_max ? grad : grad * window_area_inverse(win);
    for (int64_t r = 0; r < win.h1 - win.h0; r++)
        for (int64_t c = 0; c < win.w1 - win.w0; c++) {
            int64_t at = r * row_step + c * C;
            if (is_max && x_first[at] > x_first[arg])
                arg = at;
            if (overwrite)
                dx_first[at] = is_max ? 0.0f : share;
            else if (!is_max)
                dx_first[at] += share;
        }
    if (is_max && (!relu || x_first[arg] > 0.0f))
        dx_first[arg] += share;
}

/* Zero the pixels of one image's dx that no window covers: rows from
 * `rows` on, and in the rows above, columns from `cols` on. */
FASTNN_INLINE void zero_uncovered(const fastnn_pool2d_geom *g, float *dx_img,
                                  int64_t rows, int64_t cols)
{
    const int64_t C = g->channels;
    for (int64_t h = 0; h < rows && cols < g->in_w; h++)
        memset(dx_img + (h * g->in_w + cols) * C, 0,
               (size_t)((g->in_w - cols) * C) * sizeof(float));
    memset(dx_img + rows * g->in_w * C, 0,
           (size_t)((g->in_h - rows) * g->in_w * C) * sizeof(float));
}

/* dx = f'(x) * dx over one image, for the activation `through` names
 * (ReLU under a max pool is done in the scatter).  One image is small, so
 * the activation kernel runs it on the calling thread. */
static void through_image(const float *x_img, float *dx_img, int64_t image,
                          int is_max, int through, float alpha)
{
    if (through != FASTNN_ACT_NONE && !(is_max && through == FASTNN_ACT_RELU))
        fastnn_activation_backward((fastnn_activation)through, alpha, x_img, dx_img,
                                   dx_img, image);
}

/* Backward of one output pixel, all channels; `rows` and `cols` as for
 * pool_pixel.  `keep_last`: the lanes the last vector may add to. */
FASTNN_INLINE void unpool_pixel(const fastnn_pool2d_geom *g, const chunks *k,
                                const float *xf, window win, int64_t rows,
                                int64_t cols, int spill_ok, const float *dy, int64_t oi,
                                const fastnn_dropout_coin *coin, float *dxf, int is_max,
                                int relu, int overwrite)
{
    const fastnn_v8u all = ~(fastnn_v8u){0};
    for (int64_t q = 0; q < k->full; q++)
        unpool_chunk(g, xf ? xf + 8 * q : NULL, rows, cols, dy + oi + 8 * q, oi + 8 * q,
                     coin, dxf + 8 * q, is_max, relu, overwrite, &all);
    if (k->last < 0)
        return;
    if (spill_ok)
        unpool_chunk(g, xf ? xf + k->last : NULL, rows, cols, dy + oi + k->last,
                     oi + k->last, coin, dxf + k->last, is_max, relu, overwrite,
                     overwrite ? &all : &k->fresh);
    else
        for (int64_t c = 8 * k->full; c < g->channels; c++)
            unpool_channel(g, xf ? xf + c : NULL, win, dy + oi + c, oi + c, coin, dxf + c,
                           is_max, relu, overwrite);
}

/* Backward for whole images [n0, n1).  `disjoint`: windows side by side
 * (stride = pool size, no padding above or left), each covered dx written
 * once. */
FASTNN_INLINE void unpool_images_of(const float *x, const float *dy, float *dx,
                                    const fastnn_pool2d_geom *g, int64_t n0,
                                    int64_t n1, const fastnn_dropout_coin *coin,
                                    int is_max, int disjoint, int through, float alpha)
{
    const int64_t C = g->channels, image = g->in_h * g->in_w * C;
    const chunks k = channel_chunks(C);
    const int relu = is_max && through == FASTNN_ACT_RELU;
    for (int64_t n = n0; n < n1; n++) {
        float *dx_img = dx + n * image;
        const float *x_img = is_max || through != FASTNN_ACT_NONE ? x + n * image : NULL;
        if (disjoint)
            zero_uncovered(g, dx_img, fastnn_min(g->out_h * g->stride_h, g->in_h),
                           fastnn_min(g->out_w * g->stride_w, g->in_w));
        else
            memset(dx_img, 0, (size_t)image * sizeof(float));
        for (int64_t oh = 0; oh < g->out_h; oh++)
            for (int64_t ow = 0; ow < g->out_w; ow++) {
                window win = pool_window(g, oh, ow);
                int64_t at = (win.h0 * g->in_w + win.w0) * C;
                int64_t rows = win.h1 - win.h0, cols = win.w1 - win.w0;
                const float *xf = is_max ? x_img + at : NULL;
                int64_t oi = out_index(g, n, oh, ow, 0);
                int spill_ok = k.last >= 0 && spill_fits(g, &k, ow, win);
                if (rows == 2 && cols == 2)
                    unpool_pixel(g, &k, xf, win, 2, 2, spill_ok, dy, oi, coin, dx_img + at,
                                 is_max, relu, disjoint);
                else
                    unpool_pixel(g, &k, xf, win, rows, cols, spill_ok, dy, oi, coin,
                                 dx_img + at, is_max, relu, disjoint);
            }
        if (x_img)
            through_image(x_img, dx_img, image, is_max, through, alpha);
    }
}

FASTNN_INLINE void unpool_images(const float *x, const float *dy, float *dx,
                                 const fastnn_pool2d_geom *g, int64_t n0,
                                 int64_t n1, const fastnn_dropout_coin *coin,
                                 int is_max, int through, float alpha)
{
    int disjoint = g->stride_h == g->pool_h && g->stride_w == g->pool_w &&
                   g->pad_top == 0 && g->pad_left == 0;
    if (is_max && disjoint)
        unpool_images_of(x, dy, dx, g, n0, n1, coin, 1, 1, through, alpha);
    else if (is_max)
        unpool_images_of(x, dy, dx, g, n0, n1, coin, 1, 0, through, alpha);
    else if (disjoint)
        unpool_images_of(x, dy, dx, g, n0, n1, coin, 0, 1, through, alpha);
    else
        unpool_images_of(x, dy, dx, g, n0, n1, coin, 0, 0, through, alpha);
}

/* One function per (pass, instruction set); `is_max` picks the reduction. */
typedef void (*rows_fn)(const float *, float *, const fastnn_pool2d_geom *,
                        int64_t, int64_t, const fastnn_dropout_coin *, int);
typedef void (*images_fn)(const float *, const float *, float *,
                          const fastnn_pool2d_geom *, int64_t, int64_t,
                          const fastnn_dropout_coin *, int, int, float);

#define POOL_VARIANTS(suffix, target)                                                   \
    target static void pool_rows_##suffix(const float *x, float *y,                    \
                                          const fastnn_pool2d_geom *g, int64_t r0,     \
                                          int64_t r1, const fastnn_dropout_coin *coin, \
                                          int is_max)                                  \
    {                                                                                  \
        pool_rows(x, y, g, r0, r1, coin, is_max);                                      \
    }                                                                                  \
    target static void unpool_images_##suffix(                                         \
        const float *x, const float *dy, float *dx, const fastnn_pool2d_geom *g,       \
        int64_t n0, int64_t n1, const fastnn_dropout_coin *coin, int is_max,           \
        int through, float alpha)                                                      \
    {                                                                                  \
        unpool_images(x, dy, dx, g, n0, n1, coin, is_max, through, alpha);             \
    }

POOL_VARIANTS(generic, )
#if FASTNN_HAVE_AVX2_VARIANT
POOL_VARIANTS(avx2, FASTNN_TARGET_AVX2)
#endif
#if FASTNN_HAVE_AVX512_VARIANT
POOL_VARIANTS(avx512, FASTNN_TARGET_AVX512)
#endif

/* The variants for this CPU's SIMD path; AVX-512 only with a dropout (`coin`
 * not NULL): see the top of the file. */
static void pick_variants(const fastnn_dropout_coin *coin, rows_fn *rows,
                          images_fn *images)
{
    *rows = pool_rows_generic;
    *images = unpool_images_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2) {
        *rows = pool_rows_avx2;
        *images = unpool_images_avx2;
    }
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (coin && fastnn_get_simd() >= FASTNN_SIMD_AVX512) {
        *rows = pool_rows_avx512;
        *images = unpool_images_avx512;
    }
#endif
}

/* The coin of `drop` in *coin, and the pointer the loops take (NULL: none). */
static const fastnn_dropout_coin *coin_of(const fastnn_dropout_mask *drop,
                                          fastnn_dropout_coin *coin)
{
    if (!drop)
        return NULL;
    *coin = fastnn_dropout_coin_of(drop->keep_prob, drop->seed);
    return coin;
}

static void pool_forward(const float *x, float *y, const fastnn_pool2d_geom *g,
                         const fastnn_dropout_mask *drop, int is_max)
{
    fastnn_dropout_coin storage;
    const fastnn_dropout_coin *coin = coin_of(drop, &storage);
    rows_fn rows;
    images_fn images;
    pick_variants(coin, &rows, &images);
    int64_t total = g->batch * g->out_h;
    double work = (double)(g->batch * g->out_h * g->out_w * g->channels) *
                  ((double)g->pool_h * (double)g->pool_w + (coin ? 16.0 : 0.0));
    int threads = fastnn_threads_for(work);
    if (threads == 1) {
        rows(x, y, g, 0, total, coin, is_max);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        rows(x, y, g, total * t / team, total * (t + 1) / team, coin, is_max);
    }
}

static void pool_backward(const float *x, const float *dy, float *dx,
                          const fastnn_pool2d_geom *g, int is_max, int through,
                          float alpha, const fastnn_dropout_mask *drop)
{
    fastnn_dropout_coin storage;
    const fastnn_dropout_coin *coin = coin_of(drop, &storage);
    rows_fn rows;
    images_fn images;
    pick_variants(coin, &rows, &images);
    double work = (double)(g->batch * g->in_h * g->in_w * g->channels) +
                  (double)(g->batch * g->out_h * g->out_w * g->channels) *
                      ((double)g->pool_h * (double)g->pool_w + (coin ? 16.0 : 0.0));
    int threads = fastnn_threads_for(work);
    if (threads > g->batch)
        threads = (int)(g->batch > 0 ? g->batch : 1);
    if (threads == 1) {
        images(x, dy, dx, g, 0, g->batch, coin, is_max, through, alpha);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        images(x, dy, dx, g, g->batch * t / team, g->batch * (t + 1) / team, coin,
               is_max, through, alpha);
    }
}

void fastnn_max_pool2d(const float *x, float *y, const fastnn_pool2d_geom *g,
                       const fastnn_dropout_mask *drop)
{
    pool_forward(x, y, g, drop, 1);
}

void fastnn_avg_pool2d(const float *x, float *y, const fastnn_pool2d_geom *g,
                       const fastnn_dropout_mask *drop)
{
    pool_forward(x, y, g, drop, 0);
}

void fastnn_max_pool2d_backward(const float *x, const float *dy, float *dx,
                                const fastnn_pool2d_geom *g, int through,
                                float alpha, const fastnn_dropout_mask *drop)
{
    pool_backward(x, dy, dx, g, 1, through, alpha, drop);
}

void fastnn_avg_pool2d_backward(const float *x, const float *dy, float *dx,
                                const fastnn_pool2d_geom *g, int through,
                                float alpha, const fastnn_dropout_mask *drop)
{
    pool_backward(x, dy, dx, g, 0, through, alpha, drop);
}
