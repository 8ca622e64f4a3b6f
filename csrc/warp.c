/*
 * warp.c -- affine image warps with bilinear or nearest-neighbour sampling,
 * forward and backward: the geometry behind the augmentation layers
 * RandomRotation, RandomZoom, RandomTranslation and RandomCrop's resize
 * (course, chapter 17).
 *
 * What it computes.  Every output pixel (row i, column j) of image n looks
 * up where it comes from in the input, through that image's 2x3 matrix
 * t = transforms[n] (pixel centres sit at integer coordinates):
 *
 *     src_x = t[0]*j + t[1]*i + t[2]        src_y = t[3]*j + t[4]*i + t[5]
 *
 * Bilinear sampling mixes the 2x2 input pixels around (src_y, src_x),
 * weighted by closeness; nearest sampling takes the closest one.  Pixels
 * outside the input are read through the fill mode (Keras's names):
 *
 *     reflect   d c b a | a b c d | d c b a     (mirror, edge repeated)
 *     wrap      a b c d | a b c d | a b c d
 *     nearest   a a a a | a b c d | d d d d
 *     constant  k k k k | a b c d | k k k k     (k = fill_value)
 *
 * The backward pass is the transpose of that linear map: each dy value is
 * added back to the input pixels it was mixed from, with the same weights
 * (pixels read as the constant k receive nothing).
 *
 * Naive: one loop per output element (n, i, j, c), recomputing the source
 * position and weights for every channel.
 * Fast: the position, the four neighbour offsets and weights are computed
 * once per output pixel, then applied to all channels in one contiguous
 * loop (NHWC); neighbours need fill-mode mapping only near the border.
 * Forward passes split output rows (n, i) across threads; the backward pass
 * scatters into dx, and rows of one image may hit the same input pixel, so
 * it splits whole images.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

/* Row or column `i` of an axis of length `len`, through the fill mode;
 * -1 means "outside, read the constant". */
static inline int64_t fill_index(int64_t i, int64_t len, fastnn_fill_mode mode)
{
    if (i >= 0 && i < len)
        return i;
    switch (mode) {
    case FASTNN_FILL_REFLECT: {
        int64_t period = 2 * len, m = i % period;
        if (m < 0)
            m += period;
        return m < len ? m : period - 1 - m;
    }
    case FASTNN_FILL_WRAP: {
        int64_t m = i % len;
        return m < 0 ? m + len : m;
    }
    case FASTNN_FILL_NEAREST:
        return i < 0 ? 0 : len - 1;
    default:
        return -1;
    }
}

/* Up to four input pixels (offsets into one image, or -1 for the constant)
 * and their weights: what one output pixel mixes. */
typedef struct {
    int64_t offset[4];
    float weight[4];
    int taps;
} sample;

static inline sample sample_at(const fastnn_warp_geom *g, const float *t,
                               int64_t i, int64_t j)
{
    double sx = (double)t[0] * (double)j + (double)t[1] * (double)i + (double)t[2];
    double sy = (double)t[3] * (double)j + (double)t[4] * (double)i + (double)t[5];
    sample s;
    if (!g->bilinear) {
        int64_t r = fill_index((int64_t)floor(sy + 0.5), g->in_h, g->fill_mode);
        int64_t c = fill_index((int64_t)floor(sx + 0.5), g->in_w, g->fill_mode);
        s.offset[0] = (r < 0 || c < 0) ? -1 : (r * g->in_w + c) * g->channels;
        s.weight[0] = 1.0f;
        s.taps = 1;
        return s;
    }
    double y0 = floor(sy), x0 = floor(sx);
    float fy = (float)(sy - y0), fx = (float)(sx - x0);
    int64_t rows[2] = {fill_index((int64_t)y0, g->in_h, g->fill_mode),
                       fill_index((int64_t)y0 + 1, g->in_h, g->fill_mode)};
    int64_t cols[2] = {fill_index((int64_t)x0, g->in_w, g->fill_mode),
                       fill_index((int64_t)x0 + 1, g->in_w, g->fill_mode)};
    float wy[2] = {1.0f - fy, fy}, wx[2] = {1.0f - fx, fx};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            int k = 2 * a + b;
            s.offset[k] = (rows[a] < 0 || cols[b] < 0)
                              ? -1 : (rows[a] * g->in_w + cols[b]) * g->channels;
            s.weight[k] = wy[a] * wx[b];
        }
    s.taps = 4;
    return s;
}

static inline int64_t in_image_size(const fastnn_warp_geom *g)
{
    return g->in_h * g->in_w * g->channels;
}

static inline int64_t out_image_size(const fastnn_warp_geom *g)
{
    return g->out_h * g->out_w * g->channels;
}

/* ---- naive ---------------------------------------------------------------- */

void fastnn_affine_warp_naive(const float *x, const float *transforms, float *y,
                              const fastnn_warp_geom *g)
{
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t i = 0; i < g->out_h; i++)
    for (int64_t j = 0; j < g->out_w; j++)
    for (int64_t c = 0; c < g->channels; c++) {
        sample s = sample_at(g, transforms + 6 * n, i, j);
        float value = 0.0f;
        for (int k = 0; k < s.taps; k++)
            value += s.weight[k] * (s.offset[k] < 0 ? g->fill_value
                                    : x[n * in_image_size(g) + s.offset[k] + c]);
        y[((n * g->out_h + i) * g->out_w + j) * g->channels + c] = value;
    }
}

void fastnn_affine_warp_backward_naive(const float *dy, const float *transforms,
                                       float *dx, const fastnn_warp_geom *g)
{
    memset(dx, 0, (size_t)(g->batch * in_image_size(g)) * sizeof(float));
    for (int64_t n = 0; n < g->batch; n++)
    for (int64_t i = 0; i < g->out_h; i++)
    for (int64_t j = 0; j < g->out_w; j++)
    for (int64_t c = 0; c < g->channels; c++) {
        sample s = sample_at(g, transforms + 6 * n, i, j);
        float d = dy[((n * g->out_h + i) * g->out_w + j) * g->channels + c];
        for (int k = 0; k < s.taps; k++)
            if (s.offset[k] >= 0)
                dx[n * in_image_size(g) + s.offset[k] + c] += s.weight[k] * d;
    }
}

/* ---- fast ------------------------------------------------------------------ */

/* Output rows [r0, r1) of the flattened (n, i) row range. */
static void warp_rows(const float *x, const float *transforms, float *y,
                      const fastnn_warp_geom *g, int64_t r0, int64_t r1)
{
    const int64_t channels = g->channels;
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / g->out_h, i = r % g->out_h;
        const float *image = x + n * in_image_size(g);
        float *out = y + r * g->out_w * channels;
        for (int64_t j = 0; j < g->out_w; j++, out += channels) {
            sample s = sample_at(g, transforms + 6 * n, i, j);
            for (int64_t c = 0; c < channels; c++)
                out[c] = 0.0f;
            for (int k = 0; k < s.taps; k++) {
                float w = s.weight[k];
                if (s.offset[k] < 0) {
                    for (int64_t c = 0; c < channels; c++)
                        out[c] += w * g->fill_value;
                } else {
                    const float *in = image + s.offset[k];
                    for (int64_t c = 0; c < channels; c++)
                        out[c] += w * in[c];
                }
            }
        }
    }
}

/* Whole images [n0, n1) of dx. */
static void unwarp_images(const float *dy, const float *transforms, float *dx,
                          const fastnn_warp_geom *g, int64_t n0, int64_t n1)
{
    const int64_t channels = g->channels;
    for (int64_t n = n0; n < n1; n++) {
        float *image = dx + n * in_image_size(g);
        const float *grad = dy + n * out_image_size(g);
        memset(image, 0, (size_t)in_image_size(g) * sizeof(float));
        for (int64_t i = 0; i < g->out_h; i++)
            for (int64_t j = 0; j < g->out_w; j++, grad += channels) {
                sample s = sample_at(g, transforms + 6 * n, i, j);
                for (int k = 0; k < s.taps; k++) {
                    if (s.offset[k] < 0)
                        continue;
                    float w = s.weight[k], *in = image + s.offset[k];
                    for (int64_t c = 0; c < channels; c++)
                        in[c] += w * grad[c];
                }
            }
    }
}

void fastnn_affine_warp(const float *x, const float *transforms, float *y,
                        const fastnn_warp_geom *g)
{
    int64_t total = g->batch * g->out_h;
    int threads = fastnn_threads_for(8.0 * (double)(g->batch * out_image_size(g)));
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        warp_rows(x, transforms, y, g, total * t / team, total * (t + 1) / team);
    }
}

void fastnn_affine_warp_backward(const float *dy, const float *transforms,
                                 float *dx, const fastnn_warp_geom *g)
{
    int threads = fastnn_threads_for(8.0 * (double)(g->batch * out_image_size(g)));
    if (threads > g->batch)
        threads = (int)(g->batch > 0 ? g->batch : 1);
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        unwarp_images(dy, transforms, dx, g, g->batch * t / team,
                      g->batch * (t + 1) / team);
    }
}
