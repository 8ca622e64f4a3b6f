/*
 * conv2d_indirect.c -- convolution as a matrix product that reads the image
 * in place ("indirect GEMM"): the fast forward pass and input gradient.
 *
 * Index the rows of the result by pixels i of a grid and the reduction by
 * (tap t = (kh, kw), channel c).  Both passes have the form
 *
 *   out[i][j] = bias[j] + sum_t sum_c src_t(i)[c] * B[(t, c)][j]
 *
 *   forward   i = output pixel, src_t(i) = the channel run of x under tap t
 *             of window i, B = W as (kh*kw*ci) x co, j = co;
 *   dx        i = input pixel, src_t(i) = the channel run of dy at the output
 *             pixel whose window puts tap t on pixel i, B = W' with
 *             W'[(t, co)][ci] = W[t][ci][co], j = ci   (conv2d.c, top);
 *
 * with src_t(i) = zeros where tap t falls into the padding (or no output
 * pixel covers i).  In NHWC every src_t(i) is a contiguous run of channels,
 * so the micro-kernel can read it where it lies: instead of packing image
 * patches into panels (im2col, or the packing of an implicit GEMM), each
 * tile of MR = 6 rows gets a small table of pointers, one per (tap, row) --
 * the indirection buffer -- and only B, which is small, is packed, once,
 * into panels NR = 16 columns wide, or 32 on the avx512 path.  A tap that
 * reads only zeros for all MR rows of a tile is left out of its table (the
 * tile's kept taps carry their index, to find their slice of the panel).
 *
 * Tiles: the MR rows of a tile are one pixel of MR images (the grid's rows
 * are ordered by blocks of MR images, then pixel, then image in the block;
 * the result is written back in NHWC order).  MR images at one pixel have
 * the same taps inside the image, so a tile near the border leaves out
 * exactly the taps in the padding and multiplies no zeros; a tile of MR
 * consecutive pixels of one image would straddle the border.  That waste
 * was 6 % of the products of a 32 x 32 "same" convolution, 12 % at 16 x 16
 * and 28 % for dx of a "valid" one at 13 x 13 (measured 1.07-1.28x faster
 * on one Zen 4 core, avx512 and avx2).  The tap runs of the MR images at
 * neighbouring pixels stay in L1/L2 while a block's tiles pass over them.
 *
 * Micro-kernel: the MR x NR tile is held in 12 vector registers while the
 * reduction runs over all taps and channels: per step, two vectors of B and
 * one broadcast value of each of the 6 rows, 12 fused multiply-adds (the
 * AVX2 kernel of the GEMM engine, gemm.c, with pointers where it had a
 * packed panel).  With AVX-512 the two vectors are 16 floats wide, so a
 * tile is 6 x 32; a last panel of at most 16 columns runs on one vector
 * per row (6 accumulators, still more than the FMA latency needs).  Six
 * rows keep the six run pointers in registers: a tile of 12 or 16 rows
 * (one 16-wide vector per row) ran 5-15 % slower here for want of them.
 * The epilogue adds the bias and applies a fused activation: a ReLU as a
 * max in the store; any other (fastnn_epilogue, internal.h) on the tile
 * buffer, bias added, before its rows are copied out -- one call per tile
 * of MR x 32 (avx512) or MR x 16 values, in L1.
 *
 * Rows are written to consecutive rows of the result, or scattered onto a
 * grid (fastnn_row_scatter): the input gradient of a strided convolution
 * runs as one such product per phase of the input pixels (conv2d.c).
 *
 * Parallelism: row tiles are cut into one contiguous range per thread; each
 * thread writes only its rows, and the packed B is shared read-only.  The
 * tiles, and so each row's sum, do not depend on the number of threads.
 */
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

/* Rows of a tile; columns of a panel of B (NR, or NR_AVX512 on that path). */
enum { MR = 6, NR = FASTNN_NR, NR_AVX512 = 32 };

typedef struct {
    const fastnn_conv2d_geom *g;
    const float *src;        /* x or dy */
    const float *zeros;      /* a run of zeros for taps in the padding */
    int64_t grid_h, grid_w;  /* the pixel grid of the rows */
    int64_t src_h, src_w;    /* the grid of src: x's in_h x in_w, or dy's */
    int64_t channels;        /* length of each run: in_c, or out_c for dx */
    /* Tap (kh, kw) of row pixel (h, w) reads src pixel (h * step_h + off_h
     * + dir * kh, w * step_w + off_w + dir * kw): forward, step = stride,
     * off = -pad, dir = +1; dx (stride 1), step = 1, off = +pad, dir = -1. */
    int64_t step_h, step_w, off_h, off_w, dir;
    const fastnn_row_scatter *scatter;  /* where rows go; NULL: consecutive */
} indirect_rows;

/* Which pixel a row of the result is.  Rows run over blocks of MR images
 * (the last block: the batch's remainder), and within a block over pixels
 * (h, w), and fastest over the block's images: a tile of MR rows is mostly
 * one pixel of MR images, whose taps all lie inside src or all outside it.
 * A tile of MR consecutive pixels of one image would reach past the
 * border with some of its rows and not others, and multiply the zeros of
 * those taps; this way only the tiles of a remainder block, which mix
 * pixels, do. */
typedef struct {
    int64_t n0, images;  /* the block: its first image and its images */
    int64_t k, h, w;     /* image n0 + k, pixel (h, w) */
} grid_pixel;

FASTNN_INLINE grid_pixel pixel_of_row(const indirect_rows *o, int64_t i)
{
    const int64_t pixels = o->grid_h * o->grid_w, whole = o->g->batch / MR;
    grid_pixel p = {fastnn_min(i / (MR * pixels), whole) * MR, MR, 0, 0, 0};
    p.images = fastnn_min(MR, o->g->batch - p.n0);
    int64_t rest = i - p.n0 * pixels, pixel = rest / p.images;
    p.k = rest % p.images;
    p.h = pixel / o->grid_w;
    p.w = pixel % o->grid_w;
    return p;
}

FASTNN_INLINE void next_pixel(const indirect_rows *o, grid_pixel *p)
{
    if (++p->k < p->images)
        return;
    p->k = 0;
    if (++p->w < o->grid_w)
        return;
    p->w = 0;
    if (++p->h < o->grid_h)
        return;
    p->h = 0;
    p->n0 += p->images;
    p->images = fastnn_min(MR, o->g->batch - p->n0);
}

/* The row of `out` (n floats wide) that pixel p is written to. */
FASTNN_INLINE int64_t out_row(const indirect_rows *o, grid_pixel p)
{
    const fastnn_row_scatter *s = o->scatter;
    int64_t n = p.n0 + p.k;
    if (!s)
        return (n * o->grid_h + p.h) * o->grid_w + p.w;
    return (n * s->out_h + p.h * s->step_h + s->h0) * s->out_w + p.w * s->step_w + s->w0;
}

/* The indirection buffer of a tile of `valid` rows (at most MR) whose first
 * row is at pixel *p, which is stepped past the tile: run[t * MR + r] for
 * the t-th tap that reaches a pixel of the tile and row r (rows past
 * `valid`, or a tap outside src, read zeros), and tap[t] its index (kh *
 * k_w + kw).  Each row's first src pixel and offset are worked out once;
 * a tap then only adds its fixed offset and checks the bounds.  A tap that
 * reads zeros for every row of the tile is left out: its products are all
 * zero, and on the borders of a small grid (dx of a "valid" convolution:
 * 13 x 13 pixels from 11 x 11) they are a large share of the work.
 * Returns the number of taps kept. */
FASTNN_INLINE int64_t fill_runs(const indirect_rows *o, grid_pixel *p, int64_t valid,
                                const float **run, int64_t *tap)
{
    const fastnn_conv2d_geom *g = o->g;
    int64_t y0[MR], x0[MR], at[MR]; /* each row's src pixel for tap (0, 0) */
    for (int64_t r = 0; r < MR; r++) {
        if (r < valid) {
            y0[r] = p->h * o->step_h + o->off_h;
            x0[r] = p->w * o->step_w + o->off_w;
            at[r] = (((p->n0 + p->k) * o->src_h + y0[r]) * o->src_w + x0[r]) * o->channels;
            next_pixel(o, p);
        } else {
            y0[r] = x0[r] = -o->src_h - o->src_w - g->k_h - g->k_w; /* off src */
            at[r] = 0;
        }
    }
    int64_t kept = 0;
    for (int64_t kh = 0; kh < g->k_h; kh++)
        for (int64_t kw = 0; kw < g->k_w; kw++) {
            int64_t dh = o->dir * kh, dw = o->dir * kw;
            int64_t offset = (dh * o->src_w + dw) * o->channels;
            int any = 0;
            for (int64_t r = 0; r < MR; r++) {
                int inside = (uint64_t)(y0[r] + dh) < (uint64_t)o->src_h &&
                             (uint64_t)(x0[r] + dw) < (uint64_t)o->src_w;
                run[kept * MR + r] = inside ? o->src + at[r] + offset : o->zeros;
                any |= inside;
            }
            tap[kept] = kh * g->k_w + kw;
            kept += any;
        }
    return kept;
}

/* tile (MR x NR_AVX512, row-major; its first 16 * vectors + 8 * tail
 * columns) = sum over the kept taps t of run[t][r] . panel slice tap[t]
 * (len rows), with 16-wide vectors (AVX-512) on panels NR_AVX512 columns
 * wide, and with tail an 8-wide vector after them: a panel of 20 or 40 - 32
 * = 8 channels takes a 16- and an 8-wide vector, or one 8-wide, where two
 * or one 16-wide ones would compute 12 or 8 lanes of padding (an 8-wide
 * FMA is half of a 16-wide one's work on Zen 4's 256-bit pipes).  The
 * micro-kernels of gemm.h's shape, with two differences.  A's rows are six
 * pointers into the image, one per row and tap, not a packed panel: each
 * kernel copies a tap's six into locals r0..r5 and writes the six rows
 * out, so that they stay in registers (tiles of 12 or 16 rows ran 5-15 %
 * slower for want of them, top of file).  And on avx512 the tile is 6 x 32
 * (two 16-wide vectors per row, 12 accumulators as on avx2), not gemm.c's
 * 16 x 16: 16 rows would need 16 pointers. */
FASTNN_INLINE void micro_kernel_v16(const float *const *run, const int64_t *tap,
                                    int64_t taps, int64_t len,
                                    const float *restrict panel0,
                                    float *restrict tile, int vectors, int tail)
{
    fastnn_v16 acc[MR][2];
    fastnn_v8 last[MR];
    for (int r = 0; r < MR; r++) {
        acc[r][0] = acc[r][1] = (fastnn_v16){0};
        last[r] = (fastnn_v8){0};
    }
    for (int64_t t = 0; t < taps; t++, run += MR) {
        const float *r0 = run[0], *r1 = run[1], *r2 = run[2];
        const float *r3 = run[3], *r4 = run[4], *r5 = run[5];
        const float *panel = panel0 + tap[t] * len * NR_AVX512;
        for (int64_t p = 0; p < len; p++, panel += NR_AVX512) {
            for (int v = 0; v < vectors; v++) {
                fastnn_v16 b;
                memcpy(&b, panel + 16 * v, sizeof b);
                acc[0][v] += r0[p] * b;
                acc[1][v] += r1[p] * b;
                acc[2][v] += r2[p] * b;
                acc[3][v] += r3[p] * b;
                acc[4][v] += r4[p] * b;
                acc[5][v] += r5[p] * b;
            }
            if (tail) {
                fastnn_v8 b;
                memcpy(&b, panel + 16 * vectors, sizeof b);
                last[0] += r0[p] * b;
                last[1] += r1[p] * b;
                last[2] += r2[p] * b;
                last[3] += r3[p] * b;
                last[4] += r4[p] * b;
                last[5] += r5[p] * b;
            }
        }
    }
    for (int r = 0; r < MR; r++) {
        for (int v = 0; v < vectors; v++)
            memcpy(tile + r * NR_AVX512 + 16 * v, &acc[r][v], sizeof acc[r][v]);
        if (tail)
            memcpy(tile + r * NR_AVX512 + 16 * vectors, &last[r], sizeof last[r]);
    }
}

/* tile (MR x NR, row-major; its first 8 * vectors columns, 1 or 2) = sum
 * over the kept taps t of run[t][r] . panel slice tap[t], with 8-wide
 * vectors (AVX2); a panel of at most 8 channels takes one vector. */
FASTNN_INLINE void micro_kernel_v8(const float *const *run, const int64_t *tap,
                                   int64_t taps, int64_t len,
                                   const float *restrict panel0,
                                   float *restrict tile, int vectors)
{
    fastnn_v8 acc[MR][2];
    for (int r = 0; r < MR; r++) /* (a memset and a memcpy of the array */
        acc[r][0] = acc[r][1] = (fastnn_v8){0}; /* went through the stack) */
    for (int64_t t = 0; t < taps; t++, run += MR) {
        const float *r0 = run[0], *r1 = run[1], *r2 = run[2];
        const float *r3 = run[3], *r4 = run[4], *r5 = run[5];
        const float *panel = panel0 + tap[t] * len * NR;
        for (int64_t p = 0; p < len; p++, panel += NR) {
            /* row by row, both vectors: each broadcast value is used at once,
             * so 12 sums, 2 vectors of B and 1 value fit the 16 registers
             * (vector by vector, the six values stayed live and sums spilled) */
            fastnn_v8 b0, b1 = {0};
            memcpy(&b0, panel, sizeof b0);
            if (vectors == 2)
                memcpy(&b1, panel + 8, sizeof b1);
            const float a[MR] = {r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]};
            for (int r = 0; r < MR; r++) {
                acc[r][0] += a[r] * b0;
                if (vectors == 2)
                    acc[r][1] += a[r] * b1;
            }
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < vectors; v++)
            memcpy(tile + r * NR + 8 * v, &acc[r][v], sizeof acc[r][v]);
}

/* The same tile with 4-wide vectors (SSE2, NEON): the 16 columns take two
 * passes of 8, so the 12 accumulators still fit in 16 registers. */
FASTNN_INLINE void micro_kernel_v4(const float *const *run, const int64_t *tap,
                                   int64_t taps, int64_t len,
                                   const float *restrict panel,
                                   float *restrict tile)
{
    for (int half = 0; half < NR; half += 8) {
        fastnn_v4 acc[MR][2];
        memset(acc, 0, sizeof acc);
        const float *const *rt = run;
        for (int64_t t = 0; t < taps; t++, rt += MR) {
            const float *b = panel + tap[t] * len * NR + half;
            const float *r0 = rt[0], *r1 = rt[1], *r2 = rt[2];
            const float *r3 = rt[3], *r4 = rt[4], *r5 = rt[5];
            for (int64_t p = 0; p < len; p++, b += NR) {
                fastnn_v4 b0, b1;
                memcpy(&b0, b, sizeof b0);
                memcpy(&b1, b + 4, sizeof b1);
                acc[0][0] += r0[p] * b0; acc[0][1] += r0[p] * b1;
                acc[1][0] += r1[p] * b0; acc[1][1] += r1[p] * b1;
                acc[2][0] += r2[p] * b0; acc[2][1] += r2[p] * b1;
                acc[3][0] += r3[p] * b0; acc[3][1] += r3[p] * b1;
                acc[4][0] += r4[p] * b0; acc[4][1] += r4[p] * b1;
                acc[5][0] += r5[p] * b0; acc[5][1] += r5[p] * b1;
            }
        }
        for (int r = 0; r < MR; r++)
            memcpy(tile + r * NR + half, acc[r], sizeof acc[r]);
    }
}

/* Rows [i0, i1) of the result, every panel of B (`width` columns wide:
 * 16-wide vectors and NR_AVX512, or 8- or 4-wide ones and NR); then bias
 * and the activation. */
FASTNN_INLINE void tile_rows(const indirect_rows *o, int64_t i0, int64_t i1,
                             int64_t rows, const float *packed, int64_t n,
                             const float *bias, const fastnn_epilogue *epi,
                             float *out, const float **run, int64_t *tap, int width)
{
    const int relu = epi->act == FASTNN_ACT_RELU;
    const int64_t k = o->g->k_h * o->g->k_w * o->channels;
    const int64_t nr_max = width == 16 ? NR_AVX512 : NR;
    float tile[MR * NR_AVX512] __attribute__((aligned(64)));
    grid_pixel next = pixel_of_row(o, i0);
    for (int64_t i = i0; i < i1; i += MR) {
        int64_t mr = fastnn_min(MR, rows - i);
        grid_pixel first = next;
        int64_t taps = fill_runs(o, &next, mr, run, tap);
        for (int64_t j = 0; j < n; j += nr_max) {
            int64_t nr = fastnn_min(nr_max, n - j);
            if (width == 16 && nr > 24)
                micro_kernel_v16(run, tap, taps, o->channels, packed + j * k, tile, 2, 0);
            else if (width == 16 && nr > 16)
                micro_kernel_v16(run, tap, taps, o->channels, packed + j * k, tile, 1, 1);
            else if (width == 16 && nr > 8)
                micro_kernel_v16(run, tap, taps, o->channels, packed + j * k, tile, 1, 0);
            else if (width == 16)
                micro_kernel_v16(run, tap, taps, o->channels, packed + j * k, tile, 0, 1);
            else if (width == 8 && nr > 8)
                micro_kernel_v8(run, tap, taps, o->channels, packed + j * k, tile, 2);
            else if (width == 8)
                micro_kernel_v8(run, tap, taps, o->channels, packed + j * k, tile, 1);
            else
                micro_kernel_v4(run, tap, taps, o->channels, packed + j * k, tile);
            if (epi->apply) { /* bias, then the activation, on the tile */
                for (int64_t r = 0; r < mr; r++)
                    for (int64_t c = 0; c < nr; c++)
                        tile[r * nr_max + c] += bias ? bias[j + c] : 0.0f;
                if (nr == nr_max)
                    fastnn_epilogue_apply(epi, tile, mr * nr_max);
                else
                    for (int64_t r = 0; r < mr; r++)
                        fastnn_epilogue_apply(epi, tile + r * nr_max, nr);
                grid_pixel pixel = first;
                for (int64_t r = 0; r < mr; r++, next_pixel(o, &pixel))
                    memcpy(out + out_row(o, pixel) * n + j, tile + r * nr_max,
                           (size_t)nr * sizeof(float));
                continue;
            }
            grid_pixel pixel = first;
            for (int64_t r = 0; r < mr; r++, next_pixel(o, &pixel)) {
                float *dst = out + out_row(o, pixel) * n + j;
                for (int64_t c = 0; c < nr; c++) {
                    float v = tile[r * nr_max + c] + (bias ? bias[j + c] : 0.0f);
                    dst[c] = relu && v < 0.0f ? 0.0f : v;
                }
            }
        }
    }
}

typedef void (*rows_fn)(const indirect_rows *, int64_t, int64_t, int64_t,
                        const float *, int64_t, const float *, const fastnn_epilogue *,
                        float *, const float **, int64_t *);

static void tile_rows_generic(const indirect_rows *o, int64_t i0, int64_t i1,
                              int64_t rows, const float *packed, int64_t n,
                              const float *bias, const fastnn_epilogue *epi,
                              float *out, const float **run, int64_t *tap)
{
    tile_rows(o, i0, i1, rows, packed, n, bias, epi, out, run, tap, 4);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void tile_rows_avx2(const indirect_rows *o, int64_t i0, int64_t i1,
                           int64_t rows, const float *packed, int64_t n,
                           const float *bias, const fastnn_epilogue *epi,
                           float *out, const float **run, int64_t *tap)
{
    tile_rows(o, i0, i1, rows, packed, n, bias, epi, out, run, tap, 8);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void tile_rows_avx512(const indirect_rows *o, int64_t i0, int64_t i1,
                             int64_t rows, const float *packed, int64_t n,
                             const float *bias, const fastnn_epilogue *epi,
                             float *out, const float **run, int64_t *tap)
{
    tile_rows(o, i0, i1, rows, packed, n, bias, epi, out, run, tap, 16);
}
#endif

int fastnn_conv2d_indirect(const fastnn_conv2d_geom *g, int transposed,
                           const float *src, fastnn_gemm_operand b, int64_t n,
                           const float *bias, fastnn_epilogue epi, float *out,
                           const fastnn_row_scatter *scatter)
{
    rows_fn body = tile_rows_generic;
    int64_t nr = NR; /* the width of B's panels */
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        body = tile_rows_avx2;
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512) {
        body = tile_rows_avx512;
        nr = NR_AVX512;
    }
#endif
    indirect_rows o = {g, src, NULL,
                       transposed ? g->in_h : g->out_h,
                       transposed ? g->in_w : g->out_w,
                       transposed ? g->out_h : g->in_h,
                       transposed ? g->out_w : g->in_w,
                       transposed ? g->out_c : g->in_c,
                       transposed ? 1 : g->stride_h, transposed ? 1 : g->stride_w,
                       transposed ? g->pad_top : -g->pad_top,
                       transposed ? g->pad_left : -g->pad_left,
                       transposed ? -1 : 1, scatter};
    const int64_t taps = g->k_h * g->k_w, k = taps * o.channels;
    const int64_t rows = g->batch * o.grid_h * o.grid_w;
    const int64_t panels = fastnn_ceil_div(n, nr), tiles = fastnn_ceil_div(rows, MR);
    float *packed = fastnn_alloc_floats(panels * nr * k);
    float *zeros = fastnn_alloc_floats(o.channels);
    if (!packed || !zeros) {
        fastnn_free_floats(packed);
        fastnn_free_floats(zeros);
        return FASTNN_ENOMEM;
    }
    memset(zeros, 0, (size_t)o.channels * sizeof(float));
    o.zeros = zeros;
    b.pack(b.operand, 0, n, 0, k, nr, packed);  /* all of B: panel j is k x nr */

    int threads = fastnn_threads_for(2.0 * (double)rows * (double)n * (double)k);
    if (threads > tiles)
        threads = (int)tiles;
    int status = FASTNN_OK;
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        const float **run = malloc((size_t)(taps * MR) * sizeof *run);
        int64_t *tap = malloc((size_t)taps * sizeof *tap);
        if (!run || !tap) {
#pragma omp atomic write
            status = FASTNN_ENOMEM;
        } else {
            body(&o, tiles * t / team * MR, fastnn_min(tiles * (t + 1) / team * MR, rows),
                 rows, packed, n, bias, &epi, out, run, tap);
        }
        free(run);
        free(tap);
    }
    fastnn_free_floats(packed);
    fastnn_free_floats(zeros);
    return status;
}
