/*
 * pool2d.c -- max and average pooling over NHWC images, forward and
 * backward, naive and fast.
 *
 * Naive: for every output element (n, oh, ow, c), walk its window
 * (course, chapter 21: "the largest value in each 2x2 block").
 *
 * Fast: the same windows, but channels innermost.  In NHWC the C channels
 * of one pixel are contiguous, so an output pixel is computed as whole
 * vectors: y[0..C) = max over taps of x[tap][0..C).  That reads each input
 * pixel as one contiguous run instead of C scattered floats, and the
 * compiler turns the channel loop into AVX2 max/compare/blend instructions
 * (the loops are instantiated for AVX2 and for baseline x86-64).
 * Max-pool backward recomputes each window's argmax per channel (a vector
 * compare + blend of the tap number) and adds dy there.
 *
 * Parallelism: forward passes split output rows (n, oh) across threads.
 * Backward passes scatter into dx, and overlapping windows (stride < pool)
 * would make two rows write the same dx element, so they split whole images.
 */
#include <string.h>

#include "internal.h"

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

void fastnn_max_pool2d_naive(const float *x, float *y,
                             const fastnn_pool2d_geom *g)
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
}

void fastnn_max_pool2d_backward_naive(const float *x, const float *dy,
                                      float *dx, const fastnn_pool2d_geom *g,
                                      int relu)
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
        if (!relu || x[arg] > 0.0f) /* through a ReLU below, only a max > 0 moved */
            dx[arg] += dy[out_index(g, n, oh, ow, c)]; /* only the max moved y */
    }
}

void fastnn_avg_pool2d_naive(const float *x, float *y,
                             const fastnn_pool2d_geom *g)
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
}

void fastnn_avg_pool2d_backward_naive(const float *dy, float *dx,
                                      const fastnn_pool2d_geom *g)
{
    memset(dx, 0, (size_t)(g->batch * g->in_h * g->in_w * g->channels) * sizeof(float));
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t oh = 0; oh < g->out_h; oh++)
    for (int64_t ow = 0; ow < g->out_w; ow++)
    for (int64_t c = 0; c < g->channels; c++) {
        window win = pool_window(g, oh, ow);
        float count = (float)((win.h1 - win.h0) * (win.w1 - win.w0));
        float share = dy[out_index(g, n, oh, ow, c)] / count;
        for (int64_t h = win.h0; h < win.h1; h++)
            for (int64_t w = win.w0; w < win.w1; w++)
                dx[in_index(g, n, h, w, c)] += share;
    }
}

/* ---- fast: one output pixel at a time, channels as vectors ------------------ */

/* y[0..C) = max (or mean) over the window of the pixel runs x[h, w, 0..C). */
FASTNN_INLINE void pool_pixel(const fastnn_pool2d_geom *g, const float *img,
                              window win, float *restrict y, int is_max)
{
    const int64_t C = g->channels;
    memcpy(y, img + (win.h0 * g->in_w + win.w0) * C, (size_t)C * sizeof(float));
    for (int64_t h = win.h0; h < win.h1; h++)
        for (int64_t w = win.w0; w < win.w1; w++) {
            if (h == win.h0 && w == win.w0)
                continue;
            const float *restrict src = img + (h * g->in_w + w) * C;
            if (is_max)
                for (int64_t c = 0; c < C; c++)
                    y[c] = src[c] > y[c] ? src[c] : y[c];
            else
                for (int64_t c = 0; c < C; c++)
                    y[c] += src[c];
        }
    if (!is_max) {
        float scale = 1.0f / (float)((win.h1 - win.h0) * (win.w1 - win.w0));
        for (int64_t c = 0; c < C; c++)
            y[c] *= scale;
    }
}

/* Max-pool backward for channels c0..c0+7 of one output pixel, in vector
 * registers: find, per channel, the first tap holding the window's maximum
 * (compare, then blend the tap number into `arg`), then walk the taps again
 * and add dy where the tap is the winner (compare + masked add).  No
 * branches, no division.  (GCC vector extensions: `v > best` gives a lane
 * mask of all ones or zeros; masks select with & and |.) */
FASTNN_INLINE void max_unpool_8_channels(const fastnn_pool2d_geom *g,
                                         const float *img, window win,
                                         const float *dy, float *dx_img,
                                         int64_t c0, int overwrite, int relu)
{
    const int64_t C = g->channels;
    fastnn_v8 best, d, grad;
    fastnn_v8u arg, tap = {0};
    fastnn_window_max_v8(img + (win.h0 * g->in_w + win.w0) * C + c0, g->in_w * C, C,
                         win.h1 - win.h0, win.w1 - win.w0, &best, &arg);
    memcpy(&grad, dy + c0, sizeof grad);
    if (relu) /* x is a ReLU's output: its gradient passes only where x > 0 */
        grad = (fastnn_v8)((best > 0.0f) & (fastnn_v8i)grad);
    for (int64_t h = win.h0; h < win.h1; h++)
        for (int64_t w = win.w0; w < win.w1; w++, tap += 1) {
            float *dst = dx_img + (h * g->in_w + w) * C + c0;
            d = (fastnn_v8)((fastnn_v8u)(arg == tap) & (fastnn_v8u)grad);
            if (!overwrite) {
                fastnn_v8 old;
                memcpy(&old, dst, sizeof old);
                d += old;
            }
            memcpy(dst, &d, sizeof d);
        }
}

/* The same for one channel: the last C % 8 channels take this path. */
FASTNN_INLINE void max_unpool_channel(const fastnn_pool2d_geom *g,
                                      const float *img, window win,
                                      const float *dy, float *dx_img,
                                      int64_t c, int overwrite, int relu)
{
    const int64_t C = g->channels;
    int64_t arg = (win.h0 * g->in_w + win.w0) * C + c;
    for (int64_t h = win.h0; h < win.h1; h++)
        for (int64_t w = win.w0; w < win.w1; w++) {
            if (img[(h * g->in_w + w) * C + c] > img[arg])
                arg = (h * g->in_w + w) * C + c;
            if (overwrite)
                dx_img[(h * g->in_w + w) * C + c] = 0.0f;
        }
    if (!relu || img[arg] > 0.0f)
        dx_img[arg] += dy[c];
}

/* With `overwrite` (windows that do not overlap), each tap's dx is written
 * once, 0 or dy, instead of read, added to and written back.  With `relu`,
 * x is the output of a ReLU and dx is the gradient at that ReLU's input:
 * dy reaches the maximum only where it is > 0 (the ReLU's backward pass,
 * folded in: one pass less over the largest activations of a CNN). */
FASTNN_INLINE void max_unpool_pixel(const fastnn_pool2d_geom *g,
                                    const float *img, window win,
                                    const float *dy, float *dx_img,
                                    int overwrite, int relu)
{
    int64_t c = 0;
    for (; c + 8 <= g->channels; c += 8)
        max_unpool_8_channels(g, img, win, dy, dx_img, c, overwrite, relu);
    for (; c < g->channels; c++)
        max_unpool_channel(g, img, win, dy, dx_img, c, overwrite, relu);
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

/* Average-pool backward for one output pixel: dy / count to every tap. */
FASTNN_INLINE void avg_unpool_pixel(const fastnn_pool2d_geom *g, window win,
                                    const float *restrict dy,
                                    float *restrict dx_img)
{
    const int64_t C = g->channels;
    float scale = 1.0f / (float)((win.h1 - win.h0) * (win.w1 - win.w0));
    for (int64_t h = win.h0; h < win.h1; h++)
        for (int64_t w = win.w0; w < win.w1; w++) {
            float *restrict d = dx_img + (h * g->in_w + w) * C;
            for (int64_t c = 0; c < C; c++)
                d[c] += dy[c] * scale;
        }
}

/* Forward over output rows [row0, row1), a row being (n, oh). */
FASTNN_INLINE void pool_rows(const float *x, float *y,
                             const fastnn_pool2d_geom *g, int64_t row0,
                             int64_t row1, int is_max)
{
    for (int64_t row = row0; row < row1; row++) {
        int64_t n = row / g->out_h, oh = row % g->out_h;
        const float *img = x + in_index(g, n, 0, 0, 0);
        for (int64_t ow = 0; ow < g->out_w; ow++)
            pool_pixel(g, img, pool_window(g, oh, ow),
                       y + out_index(g, n, oh, ow, 0), is_max);
    }
}

/* Backward for whole images [n0, n1): zero their dx, then scatter.  Max
 * pooling with windows that tile the image without overlap (stride = pool
 * size, no padding above or left: the usual 2x2 pooling) writes every
 * covered dx value exactly once and zeroes only the uncovered rest -- one
 * pass over dx where memset, then read-add-write, made three. */
FASTNN_INLINE void unpool_images(const float *x, const float *dy, float *dx,
                                 const fastnn_pool2d_geom *g, int64_t n0,
                                 int64_t n1, int is_max, int relu)
{
    int64_t image = g->in_h * g->in_w * g->channels;
    int disjoint = is_max && g->stride_h == g->pool_h && g->stride_w == g->pool_w &&
                   g->pad_top == 0 && g->pad_left == 0;
    for (int64_t n = n0; n < n1; n++) {
        float *dx_img = dx + n * image;
        if (disjoint)
            zero_uncovered(g, dx_img, fastnn_min(g->out_h * g->stride_h, g->in_h),
                           fastnn_min(g->out_w * g->stride_w, g->in_w));
        else
            memset(dx_img, 0, (size_t)image * sizeof(float));
        for (int64_t oh = 0; oh < g->out_h; oh++)
            for (int64_t ow = 0; ow < g->out_w; ow++) {
                window win = pool_window(g, oh, ow);
                const float *d = dy + out_index(g, n, oh, ow, 0);
                if (is_max)
                    max_unpool_pixel(g, x + n * image, win, d, dx_img, disjoint, relu);
                else
                    avg_unpool_pixel(g, win, d, dx_img);
            }
    }
}

/* One function per (pass, instruction set); `is_max` picks the reduction. */
typedef void (*rows_fn)(const float *, float *, const fastnn_pool2d_geom *,
                        int64_t, int64_t, int);
typedef void (*images_fn)(const float *, const float *, float *,
                          const fastnn_pool2d_geom *, int64_t, int64_t, int, int);

static void pool_rows_generic(const float *x, float *y,
                              const fastnn_pool2d_geom *g, int64_t r0,
                              int64_t r1, int is_max)
{
    pool_rows(x, y, g, r0, r1, is_max);
}

static void unpool_images_generic(const float *x, const float *dy, float *dx,
                                  const fastnn_pool2d_geom *g, int64_t n0,
                                  int64_t n1, int is_max, int relu)
{
    unpool_images(x, dy, dx, g, n0, n1, is_max, relu);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void pool_rows_avx2(const float *x, float *y,
                           const fastnn_pool2d_geom *g, int64_t r0,
                           int64_t r1, int is_max)
{
    pool_rows(x, y, g, r0, r1, is_max);
}

FASTNN_TARGET_AVX2
static void unpool_images_avx2(const float *x, const float *dy, float *dx,
                               const fastnn_pool2d_geom *g, int64_t n0,
                               int64_t n1, int is_max, int relu)
{
    unpool_images(x, dy, dx, g, n0, n1, is_max, relu);
}
#endif

static void pool_forward(const float *x, float *y, const fastnn_pool2d_geom *g,
                         int is_max)
{
    rows_fn rows = pool_rows_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        rows = pool_rows_avx2;
#endif
    int64_t total = g->batch * g->out_h;
    double work = (double)(g->batch * g->out_h * g->out_w * g->channels) *
                  (double)g->pool_h * (double)g->pool_w;
    int threads = fastnn_threads_for(work);
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        rows(x, y, g, total * t / team, total * (t + 1) / team, is_max);
    }
}

static void pool_backward(const float *x, const float *dy, float *dx,
                          const fastnn_pool2d_geom *g, int is_max, int relu)
{
    images_fn images = unpool_images_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        images = unpool_images_avx2;
#endif
    double work = (double)(g->batch * g->in_h * g->in_w * g->channels) +
                  (double)(g->batch * g->out_h * g->out_w * g->channels) *
                      (double)g->pool_h * (double)g->pool_w;
    int threads = fastnn_threads_for(work);
    if (threads > g->batch)
        threads = (int)(g->batch > 0 ? g->batch : 1);
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        images(x, dy, dx, g, g->batch * t / team, g->batch * (t + 1) / team,
               is_max, relu);
    }
}

void fastnn_max_pool2d(const float *x, float *y, const fastnn_pool2d_geom *g)
{
    pool_forward(x, y, g, 1);
}

void fastnn_avg_pool2d(const float *x, float *y, const fastnn_pool2d_geom *g)
{
    pool_forward(x, y, g, 0);
}

void fastnn_max_pool2d_backward(const float *x, const float *dy, float *dx,
                                const fastnn_pool2d_geom *g, int relu)
{
    pool_backward(x, dy, dx, g, 1, relu);
}

void fastnn_avg_pool2d_backward(const float *dy, float *dx,
                                const fastnn_pool2d_geom *g)
{
    pool_backward(NULL, dy, dx, g, 0, 0);
}
