/*
 * conv2d_weight_gradient.c -- the weight gradient of a convolution, read in
 * place: dW = P^T . dy without packing the patches P.
 *
 * With the notation of conv2d.c (top), dW^T[co][(kh, kw, ci)] = sum over
 * output pixels i of dy[i][co] * P[i][(kh, kw, ci)].  For one kernel row kh,
 * the kw*ci patch values of pixel i, P[i][(kh, 0.., 0..)], are one
 * contiguous run of k_w * in_c floats in NHWC -- the input row under the
 * window -- and the runs of the pixels along an output row lie stride_w *
 * in_c floats apart.  So the product needs no patch matrix: a tile of
 * dW^T, MR output channels by 16 consecutive values of a run, is summed by
 * walking the pixels with a vector load of the run (16 patch values) and
 * MR broadcast values of dy per pixel (the micro-kernel of gemm.c, with a
 * strided pointer where it had a packed panel of B).
 *
 * - The image is read through a zero-padded copy when the convolution pads
 *   (then no run needs a bounds check) or when k_w * in_c is no multiple of
 *   16: the last vector of a run then reads up to 15 values past it (the
 *   next pixels', whose columns of the tile are dropped), and the copy has
 *   room for them at its end.  Otherwise x is read where it lies.
 * - dy is packed, a chunk of pixels at a time, into panels of MR channels
 *   per pixel (zeros past out_c): a few percent of the arithmetic's traffic
 *   (each value of dy meets kh*kw*ci values of x), and the broadcasts then
 *   read consecutive floats.
 * - Blocking: a chunk is a few output rows (about CHUNK pixels); for each
 *   kernel row, each 16-wide slice of its run and each panel of MR
 *   channels, the tile is loaded, summed over the chunk's pixels and stored.
 *   The chunk's input rows and packed dy stay in L1/L2 while every tile
 *   passes over them.
 * - Parallelism and determinism: the output rows (image, oh) are cut into
 *   parts fixed by the problem size (fastnn_parts_for); each part sums into
 *   its own copy of dW^T, and the copies are added in part order.  So dW is
 *   bit-identical on any number of threads.
 *
 * Tiles: 16 channels x 16 values in 16 AVX-512 registers; 6 x 16 in 12 AVX
 * registers (two 8-wide vectors per row); 6 x 16 in two passes of 6 x 8
 * with 4-wide vectors (SSE2).
 */
#include <string.h>

#include "gemm.h"

/* Columns of a tile (one 16-wide vector, or two 8-wide ones), output
 * channels of a tile per SIMD path, and pixels per chunk. */
enum { NR = 16, MR_AVX512 = 16, MR_SMALL = 6, CHUNK = 192 };

/* Where the runs lie: run (kh, slice v) of output pixel (n, oh, ow) starts
 * at image + n*image_step + oh*row_step + kh*line + ow*pixel_step + 16*v. */
typedef struct {
    const float *image;    /* x, or its zero-padded copy */
    int64_t image_step, row_step, line, pixel_step;
    int64_t out_h, out_w;
} runs;

/* tile (16 x 16, rows ldc apart) += sum over the pixels of output rows
 * [line0, line0 + lines) of a[pixel][r] * run(pixel)[0..16), with `a` the
 * chunk's packed panel (16 values per pixel), on 16-wide vectors. */
FASTNN_INLINE void tile_v16(const float *restrict a, const runs *s,
                            int64_t line0, int64_t lines, int64_t offset,
                            float *restrict c, int64_t ldc)
{
    fastnn_v16 acc[MR_AVX512];
    for (int r = 0; r < MR_AVX512; r++)
        memcpy(&acc[r], c + r * ldc, sizeof acc[r]);
    for (int64_t l = line0; l < line0 + lines; l++) {
        const float *b = s->image + (l / s->out_h) * s->image_step +
                         (l % s->out_h) * s->row_step + offset;
        for (int64_t ow = 0; ow < s->out_w; ow++, b += s->pixel_step, a += MR_AVX512) {
            fastnn_v16 b0;
            memcpy(&b0, b, sizeof b0);
            for (int r = 0; r < MR_AVX512; r++)
                acc[r] += a[r] * b0;
        }
    }
    for (int r = 0; r < MR_AVX512; r++)
        memcpy(c + r * ldc, &acc[r], sizeof acc[r]);
}

/* The 6 x 16 tile with 8-wide vectors (AVX2): 12 accumulators. */
FASTNN_INLINE void tile_v8(const float *restrict a, const runs *s,
                           int64_t line0, int64_t lines, int64_t offset,
                           float *restrict c, int64_t ldc)
{
    fastnn_v8 acc[MR_SMALL][2];
    for (int r = 0; r < MR_SMALL; r++)
        memcpy(acc[r], c + r * ldc, sizeof acc[r]);
    for (int64_t l = line0; l < line0 + lines; l++) {
        const float *b = s->image + (l / s->out_h) * s->image_step +
                         (l % s->out_h) * s->row_step + offset;
        for (int64_t ow = 0; ow < s->out_w; ow++, b += s->pixel_step, a += MR_SMALL) {
            fastnn_v8 b0, b1;
            memcpy(&b0, b, sizeof b0);
            memcpy(&b1, b + 8, sizeof b1);
            for (int r = 0; r < MR_SMALL; r++) {
                acc[r][0] += a[r] * b0;
                acc[r][1] += a[r] * b1;
            }
        }
    }
    for (int r = 0; r < MR_SMALL; r++)
        memcpy(c + r * ldc, acc[r], sizeof acc[r]);
}

/* The 6 x 16 tile with 4-wide vectors (SSE2, NEON), in two passes of 8
 * columns so the 12 accumulators fit in 16 registers. */
FASTNN_INLINE void tile_v4(const float *restrict a, const runs *s,
                           int64_t line0, int64_t lines, int64_t offset,
                           float *restrict c, int64_t ldc)
{
    for (int half = 0; half < NR; half += 8) {
        fastnn_v4 acc[MR_SMALL][2];
        for (int r = 0; r < MR_SMALL; r++)
            memcpy(acc[r], c + r * ldc + half, sizeof acc[r]);
        const float *ap = a;
        for (int64_t l = line0; l < line0 + lines; l++) {
            const float *b = s->image + (l / s->out_h) * s->image_step +
                             (l % s->out_h) * s->row_step + offset + half;
            for (int64_t ow = 0; ow < s->out_w; ow++, b += s->pixel_step, ap += MR_SMALL) {
                fastnn_v4 b0, b1;
                memcpy(&b0, b, sizeof b0);
                memcpy(&b1, b + 4, sizeof b1);
                for (int r = 0; r < MR_SMALL; r++) {
                    acc[r][0] += ap[r] * b0;
                    acc[r][1] += ap[r] * b1;
                }
            }
        }
        for (int r = 0; r < MR_SMALL; r++)
            memcpy(c + r * ldc + half, acc[r], sizeof acc[r]);
    }
}

/* The shape of dW^T as summed here: rows are output channels (padded to
 * whole panels of mr), columns are (kh, slice of 16 run values). */
typedef struct {
    int64_t mr, panels;   /* channels per panel, panels */
    int64_t slices;       /* 16-wide slices per run of k_w * in_c values */
    int64_t ld;           /* columns: k_h * slices * 16 */
} tiling;

/* Every tile of dW^T over output rows [line0, line0 + lines), whose dy is
 * packed in `a` (panel by panel, pixel by pixel), on `width`-float vectors. */
FASTNN_INLINE void chunk_tiles(const runs *s, const tiling *t, int64_t k_h,
                               int64_t line0, int64_t lines, const float *a,
                               float *dwt, int width)
{
    int64_t pixels = lines * s->out_w;
    for (int64_t kh = 0; kh < k_h; kh++)
        for (int64_t v = 0; v < t->slices; v++) {
            int64_t col = (kh * t->slices + v) * NR;
            for (int64_t panel = 0; panel < t->panels; panel++) {
                const float *ap = a + panel * t->mr * pixels;
                float *c = dwt + panel * t->mr * t->ld + col;
                int64_t offset = kh * s->line + v * NR;
                if (width == 16)
                    tile_v16(ap, s, line0, lines, offset, c, t->ld);
                else if (width == 8)
                    tile_v8(ap, s, line0, lines, offset, c, t->ld);
                else
                    tile_v4(ap, s, line0, lines, offset, c, t->ld);
            }
        }
}

typedef void (*chunk_fn)(const runs *, const tiling *, int64_t, int64_t,
                         int64_t, const float *, float *);

static void chunk_generic(const runs *s, const tiling *t, int64_t k_h,
                          int64_t line0, int64_t lines, const float *a,
                          float *dwt)
{
    chunk_tiles(s, t, k_h, line0, lines, a, dwt, 4);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void chunk_avx2(const runs *s, const tiling *t, int64_t k_h,
                       int64_t line0, int64_t lines, const float *a, float *dwt)
{
    chunk_tiles(s, t, k_h, line0, lines, a, dwt, 8);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void chunk_avx512(const runs *s, const tiling *t, int64_t k_h,
                         int64_t line0, int64_t lines, const float *a,
                         float *dwt)
{
    chunk_tiles(s, t, k_h, line0, lines, a, dwt, 16);
}
#endif

/* dy of output rows [line0, line0 + lines) into panels of mr channels:
 * a[panel][pixel][r] = dy[pixel][panel * mr + r], zeros past out_c. */
static void pack_dy(const float *dy, const fastnn_conv2d_geom *g,
                    const tiling *t, int64_t line0, int64_t lines, float *a)
{
    int64_t pixels = lines * g->out_w;
    const float *src = dy + line0 * g->out_w * g->out_c;
    for (int64_t panel = 0; panel < t->panels; panel++) {
        int64_t c0 = panel * t->mr, valid = fastnn_min(t->mr, g->out_c - c0);
        float *d = a + panel * t->mr * pixels;
        for (int64_t p = 0; p < pixels; p++, d += t->mr) {
            for (int64_t r = 0; r < valid; r++)
                d[r] = src[p * g->out_c + c0 + r];
            for (int64_t r = valid; r < t->mr; r++)
                d[r] = 0.0f;
        }
    }
}

/* The rows and columns of x that windows touch, zero-padded where they
 * fall outside the image, followed by NR floats of slack for the last
 * run's overreach.  rows x cols per image. */
static float *padded_copy(const float *x, const fastnn_conv2d_geom *g,
                          int64_t rows, int64_t cols)
{
    int64_t row_len = cols * g->in_c, image = rows * row_len;
    float *copy = fastnn_alloc_floats(g->batch * image + NR);
    if (!copy)
        return NULL;
    memset(copy + g->batch * image, 0, NR * sizeof(float));
    int threads = fastnn_threads_for((double)(g->batch * image));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < g->batch; n++)
        for (int64_t r = 0; r < rows; r++) {
            float *d = copy + n * image + r * row_len;
            int64_t ih = r - g->pad_top;
            int64_t first = fastnn_max(0, g->pad_left);           /* columns */
            int64_t last = fastnn_min(cols, g->in_w + g->pad_left); /* from x */
            if (ih < 0 || ih >= g->in_h || first >= last) {
                memset(d, 0, (size_t)row_len * sizeof(float));
                continue;
            }
            memset(d, 0, (size_t)(first * g->in_c) * sizeof(float));
            memcpy(d + first * g->in_c,
                   x + ((n * g->in_h + ih) * g->in_w + first - g->pad_left) * g->in_c,
                   (size_t)((last - first) * g->in_c) * sizeof(float));
            memset(d + last * g->in_c, 0, (size_t)((cols - last) * g->in_c) * sizeof(float));
        }
    return copy;
}

int fastnn_conv2d_weight_gradient(const float *x, const float *dy, float *dw,
                                  const fastnn_conv2d_geom *g)
{
    chunk_fn chunk = chunk_generic;
    int64_t mr = MR_SMALL;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        chunk = chunk_avx2;
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512) {
        chunk = chunk_avx512;
        mr = MR_AVX512;
    }
#endif
    const int64_t run = g->k_w * g->in_c;
    tiling t = {mr, fastnn_ceil_div(g->out_c, mr), fastnn_ceil_div(run, NR), 0};
    t.ld = g->k_h * t.slices * NR;

    /* the input rows and columns the windows span */
    int64_t rows = (g->out_h - 1) * g->stride_h + g->k_h;
    int64_t cols = (g->out_w - 1) * g->stride_w + g->k_w;
    int pads = g->pad_top || g->pad_left || rows > g->in_h || cols > g->in_w;
    float *copy = NULL;
    if (pads || run % NR) {
        copy = padded_copy(x, g, rows, cols);
        if (!copy)
            return FASTNN_ENOMEM;
    } else {
        rows = g->in_h;
        cols = g->in_w;
    }
    runs s = {copy ? copy : x, rows * cols * g->in_c,
              g->stride_h * cols * g->in_c, cols * g->in_c,
              g->stride_w * g->in_c, g->out_h, g->out_w};

    const int64_t lines = g->batch * g->out_h;
    const int64_t size = t.panels * mr * t.ld;
    const double work = 2.0 * (double)(lines * g->out_w) * (double)(t.panels * mr) *
                        (double)t.ld;
    const int parts = fastnn_parts_for(lines, work);
    int threads = fastnn_threads_for(work);
    const int64_t chunk_lines = fastnn_max(1, CHUNK / g->out_w);
    float *partial = fastnn_alloc_partials(parts, size);
    float *dwt = fastnn_alloc_floats(size);
    int status = partial && dwt ? FASTNN_OK : FASTNN_ENOMEM;
    if (status == FASTNN_OK) {
#pragma omp parallel num_threads(threads < parts ? threads : parts)
        {
            float *a = fastnn_alloc_floats(t.panels * mr * chunk_lines * g->out_w);
            if (!a) {
#pragma omp atomic write
                status = FASTNN_ENOMEM;
            }
#pragma omp for schedule(static)
            for (int p = 0; p < parts; p++) {
                int64_t first = lines * p / parts, last = lines * (p + 1) / parts;
                for (int64_t l = first; a && l < last; l += chunk_lines) {
                    int64_t n = fastnn_min(chunk_lines, last - l);
                    pack_dy(dy, g, &t, l, n, a);
                    chunk(&s, &t, g->k_h, l, n, a, partial + p * size);
                }
            }
            fastnn_free_floats(a);
        }
    }
    if (status == FASTNN_OK) {
        /* dW[(kh, kw, ci)][co] = dW^T[co][(kh, slice)], dropping the
         * columns past each run */
        fastnn_sum_partials(partial, parts, size, dwt);
        for (int64_t kh = 0; kh < g->k_h; kh++)
            for (int64_t j = 0; j < run; j++)
                for (int64_t co = 0; co < g->out_c; co++)
                    dw[(kh * run + j) * g->out_c + co] =
                        dwt[co * t.ld + kh * t.slices * NR + j];
    }
    fastnn_free_floats(partial);
    fastnn_free_floats(dwt);
    fastnn_free_floats(copy);
    return status;
}
