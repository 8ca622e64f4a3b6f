/*
 * conv2d_weight_gradient.c -- the weight gradient of a convolution, read in
 * place: dW = P^T . dy without a patch matrix.
 *
 * With the notation of conv2d.c (top), dW^T[co][(kh, kw, ci)] = sum over
 * output pixels i of dy[i][co] * P[i][(kh, kw, ci)].  For one kernel row kh,
 * the kw*ci patch values of pixel i, P[i][(kh, 0.., 0..)], are one
 * contiguous run of k_w * in_c floats in NHWC -- the input row under the
 * window -- and the runs of the pixels along an output row lie stride_w *
 * in_c floats apart.  So a tile of dW^T, MR output channels by 16
 * consecutive values of a run, is summed by walking the pixels with one
 * vector load of the run (16 patch values) and MR broadcast values of dy
 * per pixel: the micro-kernel of gemm.c, with strided pointers where it had
 * packed panels.
 *
 * - Input rows.  A chunk of output rows ("lines", about CHUNK pixels) reads
 *   k_h input rows per line.  They are read where they lie in x when no
 *   window reaches into the padding and k_w * in_c is a multiple of 16;
 *   otherwise the chunk's rows are first copied, zero-padded, into a
 *   buffer of the thread (then no run needs a bounds check, and the last
 *   vector of a ragged run may read up to 15 values past it -- the next
 *   pixel's, or the buffer's zeroed tail -- into columns of the tile that
 *   are dropped).  The copy stays in L2 for the tiles that read it.  Each
 *   line gets a pointer to its first input row.
 * - dy is read in place when out_c is a multiple of MR (a pixel's
 *   broadcasts read MR consecutive floats); otherwise the chunk is packed
 *   into panels of MR channels per pixel, zeros past out_c.
 * - Blocking: for each kernel row, each 16-wide slice of its run and each
 *   panel of MR channels, the tile is loaded, summed over the chunk's
 *   pixels and stored; the chunk's input rows and dy stay in L1/L2 while
 *   every tile passes over them.
 * - db (when asked for): each chunk's dy is added into its part's row of
 *   bias sums right after the tiles read it, so dy is not read a second
 *   time from memory by a separate pass.
 * - Parallelism and determinism: the lines are cut into parts fixed by the
 *   problem size (fastnn_parts_for); each part sums into its own copy of
 *   dW^T, and the copies are added in part order.  A part spans at least
 *   2 max(M, N) pixels (M x N: dW^T's rows and columns), the rule of
 *   gemm.c's split-K: a shorter sum would cost less than zeroing and adding
 *   its copy (dW^T of 3x3x64 -> 128 over 512 pixels of 4 x 4 is 73k floats:
 *   16 parts of 32 pixels spent more time on their copies than on the
 *   products).  When there are fewer parts than threads, each part's
 *   columns -- the (kh, slice) pairs -- are cut into groups as well, one
 *   work item per (part, group); columns are independent sums, so the cut
 *   changes no number.  So dW is bit-identical on any number of threads.
 *
 * Tiles: 16 channels x 16 values in 16 AVX-512 registers (8 x 16 for a
 * last panel of at most 8 channels); 6 x 16 in 12 AVX
 * registers (two 8-wide vectors per row); 6 x 16 in two passes of 6 x 8
 * with 4-wide vectors (SSE2); 4 x 16 on those two paths where out_c is a
 * multiple of 4 but not of 6 and dW^T has at most 64 columns, so that dy
 * is read in place.
 */
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

/* Columns of a tile (one 16-wide vector, or two 8-wide ones), output
 * channels of a tile per SIMD path (gemm.h), and pixels per chunk. */
enum { NR = FASTNN_NR, MR_AVX512 = FASTNN_MR_AVX512, MR_SMALL = FASTNN_MR_SMALL,
       MR_NARROW = 4, CHUNK = 384 };

/* A chunk of lines: run (kh, slice v) of pixel ow of line l starts at
 * line[l] + kh*row_step + ow*pixel_step + 16*v; its dy at
 * a + (l*out_w + ow)*a_step (+ panel offsets). */
typedef struct {
    const float *const *line;
    int64_t lines, out_w, row_step, pixel_step;
    const float *a;
    int64_t a_step;
} chunk_view;

/* tile (rows x 16, rows ldc apart) += sum over the chunk's pixels of
 * a[pixel * a_step + r] * run(pixel)[offset .. offset + 16), with 16-wide
 * vectors (AVX-512); rows is MR_AVX512, or half of it for a last panel
 * with at most 8 channels (out_c = 24, 40, 5: its other rows would sum
 * zeros).  The micro-kernels of gemm.h's shape, with one difference: the
 * accumulators start from C and end in C (a tile of dW^T is summed chunk
 * after chunk, in place), instead of a zeroed register tile written to a
 * buffer. */
FASTNN_INLINE void micro_kernel_v16(const chunk_view *s, const float *restrict a,
                                    int64_t offset, float *restrict c, int64_t ldc,
                                    int rows)
{
    fastnn_v16 acc[MR_AVX512];
    for (int r = 0; r < rows; r++)
        memcpy(&acc[r], c + r * ldc, sizeof acc[r]);
    for (int64_t l = 0; l < s->lines; l++) {
        const float *b = s->line[l] + offset;
        for (int64_t ow = 0; ow < s->out_w; ow++, b += s->pixel_step, a += s->a_step) {
            fastnn_v16 b0;
            memcpy(&b0, b, sizeof b0);
            for (int r = 0; r < rows; r++)
                acc[r] += a[r] * b0;
        }
    }
    for (int r = 0; r < rows; r++)
        memcpy(c + r * ldc, &acc[r], sizeof acc[r]);
}

/* The rows x 16 tile with 8-wide vectors (AVX2), rows = MR_SMALL (12
 * accumulators of 16 registers) or MR_NARROW (8: the layers whose dy is
 * read in place that way, below). */
FASTNN_INLINE void micro_kernel_v8(const chunk_view *s, const float *restrict a,
                                   int64_t offset, float *restrict c, int64_t ldc, int rows)
{
    fastnn_v8 acc[MR_SMALL][2];
    for (int r = 0; r < rows; r++)
        memcpy(acc[r], c + r * ldc, sizeof acc[r]);
    for (int64_t l = 0; l < s->lines; l++) {
        const float *b = s->line[l] + offset;
        for (int64_t ow = 0; ow < s->out_w; ow++, b += s->pixel_step, a += s->a_step) {
            fastnn_v8 b0, b1;
            memcpy(&b0, b, sizeof b0);
            memcpy(&b1, b + 8, sizeof b1);
            for (int r = 0; r < rows; r++) {
                acc[r][0] += a[r] * b0;
                acc[r][1] += a[r] * b1;
            }
        }
    }
    for (int r = 0; r < rows; r++)
        memcpy(c + r * ldc, acc[r], sizeof acc[r]);
}

/* The rows x 16 tile with 4-wide vectors (SSE2, NEON), in two passes of 8
 * columns so the 12 accumulators fit in 16 registers. */
FASTNN_INLINE void micro_kernel_v4(const chunk_view *s, const float *restrict a,
                                   int64_t offset, float *restrict c, int64_t ldc, int rows)
{
    for (int half = 0; half < NR; half += 8) {
        fastnn_v4 acc[MR_SMALL][2];
        for (int r = 0; r < rows; r++)
            memcpy(acc[r], c + r * ldc + half, sizeof acc[r]);
        const float *ap = a;
        for (int64_t l = 0; l < s->lines; l++) {
            const float *b = s->line[l] + offset + half;
            for (int64_t ow = 0; ow < s->out_w; ow++, b += s->pixel_step, ap += s->a_step) {
                fastnn_v4 b0, b1;
                memcpy(&b0, b, sizeof b0);
                memcpy(&b1, b + 4, sizeof b1);
                for (int r = 0; r < rows; r++) {
                    acc[r][0] += ap[r] * b0;
                    acc[r][1] += ap[r] * b1;
                }
            }
        }
        for (int r = 0; r < rows; r++)
            memcpy(c + r * ldc + half, acc[r], sizeof acc[r]);
    }
}

/* The shape of dW^T as summed here: rows are output channels (padded to
 * whole panels of mr), columns are (kh, slice of 16 run values). */
typedef struct {
    int64_t mr, panels;   /* channels per panel, panels */
    int64_t last;         /* channels in the last panel (1 .. mr) */
    int64_t slices;       /* 16-wide slices per run of k_w * in_c values */
    int64_t ld;           /* columns: k_h * slices * 16 */
} tiling;

/* The tiles of dW^T in columns [col0, col1) of (kh, slice) pairs (column
 * kh * slices + v) over the chunk, on `width`-float vectors.  Panel p's
 * dy starts panel_step floats after panel p - 1's: mr * pixels when
 * packed, mr when read in place. */
FASTNN_INLINE void chunk_tiles(const chunk_view *s, const tiling *t,
                               int64_t col0, int64_t col1, int64_t panel_step,
                               float *dwt, int width)
{
    for (int64_t j = col0; j < col1; j++) {
        int64_t kh = j / t->slices, v = j % t->slices;
        int64_t col = j * NR, offset = kh * s->row_step + v * NR;
        for (int64_t panel = 0; panel < t->panels; panel++) {
            const float *a = s->a + panel * panel_step;
            float *c = dwt + panel * t->mr * t->ld + col;
            if (width == 16 && panel == t->panels - 1 && t->last <= MR_AVX512 / 2)
                micro_kernel_v16(s, a, offset, c, t->ld, MR_AVX512 / 2);
            else if (width == 16)
                micro_kernel_v16(s, a, offset, c, t->ld, MR_AVX512);
            else if (width == 8 && t->mr == MR_NARROW)
                micro_kernel_v8(s, a, offset, c, t->ld, MR_NARROW);
            else if (width == 8)
                micro_kernel_v8(s, a, offset, c, t->ld, MR_SMALL);
            else if (t->mr == MR_NARROW)
                micro_kernel_v4(s, a, offset, c, t->ld, MR_NARROW);
            else
                micro_kernel_v4(s, a, offset, c, t->ld, MR_SMALL);
        }
    }
}

typedef void (*chunk_fn)(const chunk_view *, const tiling *, int64_t, int64_t,
                         int64_t, float *);

static void chunk_generic(const chunk_view *s, const tiling *t, int64_t col0,
                          int64_t col1, int64_t panel_step, float *dwt)
{
    chunk_tiles(s, t, col0, col1, panel_step, dwt, 4);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void chunk_avx2(const chunk_view *s, const tiling *t, int64_t col0,
                       int64_t col1, int64_t panel_step, float *dwt)
{
    chunk_tiles(s, t, col0, col1, panel_step, dwt, 8);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void chunk_avx512(const chunk_view *s, const tiling *t, int64_t col0,
                         int64_t col1, int64_t panel_step, float *dwt)
{
    chunk_tiles(s, t, col0, col1, panel_step, dwt, 16);
}
#endif

/* A chunk's dy (`src`, its `lines` lines) into panels of mr channels:
 * a[panel][pixel][r] = src[pixel][panel * mr + r], zeros past out_c (the
 * tile rows they feed are dropped; zeros keep them off stale memory, whose
 * denormals would slow the FMAs down). */
static void pack_dy(const float *src, const fastnn_conv2d_geom *g,
                    const tiling *t, int64_t lines, float *a)
{
    int64_t pixels = lines * g->out_w;
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

/* Input row ih of image n as a row of `cols` pixels starting at column
 * -pad_left, zeros outside the image. */
static void copy_row(const float *x, const fastnn_conv2d_geom *g, int64_t n,
                     int64_t ih, int64_t cols, float *d)
{
    int64_t first = fastnn_min(cols, g->pad_left);              /* columns */
    int64_t last = fastnn_max(first, fastnn_min(cols, g->in_w + g->pad_left));
    if (ih < 0 || ih >= g->in_h)
        first = last = cols;
    memset(d, 0, (size_t)(first * g->in_c) * sizeof(float));
    if (last > first)
        memcpy(d + first * g->in_c,
               x + ((n * g->in_h + ih) * g->in_w + first - g->pad_left) * g->in_c,
               (size_t)((last - first) * g->in_c) * sizeof(float));
    memset(d + last * g->in_c, 0, (size_t)((cols - last) * g->in_c) * sizeof(float));
}

/* line[l] for lines [line0, line0 + lines): into x, or (copy not NULL) into
 * `copy`, filled with the k_h rows of `cols` pixels each line reads --
 * consecutive rows of an image once, so the rows lines share are shared. */
static void chunk_rows(const float *x, const fastnn_conv2d_geom *g,
                       int64_t line0, int64_t lines, int64_t cols,
                       float *copy, const float **line)
{
    int64_t row_len = cols * g->in_c, image = -1, next = 0; /* next row to copy */
    float *end = copy;
    for (int64_t l = 0; l < lines; l++) {
        int64_t n = (line0 + l) / g->out_h, oh = (line0 + l) % g->out_h;
        int64_t top = oh * g->stride_h; /* the first row, counted from -pad_top */
        if (!copy) {
            line[l] = x + (n * g->in_h + top) * g->in_w * g->in_c;
            continue;
        }
        if (n != image || next <= top) { /* nothing to share with line l - 1 */
            image = n;
            next = top;
        }
        for (; next < top + g->k_h; next++, end += row_len)
            copy_row(x, g, n, next - g->pad_top, cols, end);
        line[l] = end - g->k_h * row_len;
    }
    if (copy)
        memset(end, 0, NR * sizeof(float)); /* read by the last ragged run */
}

/* db's share of a chunk: sum[co] += dy[pixel][co] over its pixels, while
 * they are still in cache from the tiles */
static void chunk_bias(const float *dy, int64_t pixels, int64_t channels, float *sum)
{
    for (int64_t i = 0; i < pixels; i++)
        for (int64_t c = 0; c < channels; c++)
            sum[c] += dy[i * channels + c];
}

int fastnn_conv2d_weight_gradient(const float *x, const float *dy, float *dw,
                                  float *db, const fastnn_conv2d_geom *g)
{
    return fastnn_conv2d_weight_gradient_through_gemm(x, dy, NULL, NULL, dw, db, g);
}

int fastnn_conv2d_weight_gradient_through_gemm(const float *x, const float *dy,
                                               const float *y,
                                               const fastnn_derivative *through,
                                               float *dw, float *db,
                                               const fastnn_conv2d_geom *g)
{
    chunk_fn chunk = chunk_generic;
    int64_t mr = MR_SMALL;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        chunk = chunk_avx2;
#endif
    const int64_t run = g->k_w * g->in_c;
    const int64_t slices = fastnn_ceil_div(run, NR), ld = g->k_h * slices * NR;
    /* 6-channel tiles read dy in place only when out_c is a multiple of 6;
     * otherwise each chunk's dy is copied into zero-padded panels.  Where
     * dW^T has few columns (a 1x1 kernel on <= 64 channels) that copy costs
     * as much as the sums: there 16, 32 or 64 channels take 4-channel tiles,
     * which read dy in place -- 1x1 32 -> 16 and 16 -> 32 at 32x32
     * 1.37x and 1.80x faster on avx2 (one thread on the Zen 4).  With more
     * columns the 6-channel tile's fewer loads per FMA win (3x3 32 -> 64:
     * 4-channel tiles 0.84x). */
    if (g->out_c % MR_SMALL != 0 && g->out_c % MR_NARROW == 0 && ld <= 64)
        mr = MR_NARROW;
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512) {
        chunk = chunk_avx512;
        mr = MR_AVX512;
    }
#endif
    tiling t = {mr, fastnn_ceil_div(g->out_c, mr), 0, slices, ld};
    t.last = g->out_c - (t.panels - 1) * mr;

    /* the columns the windows span; x is read in place if they and the
     * rows lie inside it and no run is ragged */
    const int64_t cols = (g->out_w - 1) * g->stride_w + g->k_w;
    const int64_t rows = (g->out_h - 1) * g->stride_h + g->k_h;
    const int copies = g->pad_top || g->pad_left || rows > g->in_h ||
                       cols > g->in_w || run % NR;
    const int packs = g->out_c % mr != 0; /* dy's panels need zeros */
    const int64_t row_step = (copies ? cols : g->in_w) * g->in_c;

    const int64_t lines = g->batch * g->out_h;
    const int64_t chunk_lines = fastnn_max(1, CHUNK / g->out_w);
    const int64_t size = t.panels * mr * t.ld;
    const double work = 2.0 * (double)(lines * g->out_w) * (double)(t.panels * mr) *
                        (double)t.ld;
    /* parts of at least 2 max(M, N) pixels, then column groups for the
     * threads the parts leave idle (top of file) */
    const int64_t min_lines = fastnn_ceil_div(2 * fastnn_max(size / t.ld, t.ld), g->out_w);
    const int parts = fastnn_parts_for(fastnn_min(lines, lines / min_lines), work);
    const int64_t columns = g->k_h * t.slices;
    int threads = fastnn_threads_for(work);
    const int64_t groups = fastnn_min(columns, fastnn_ceil_div(threads, parts));
    const int64_t items = parts * groups;
    float *partial = fastnn_alloc_partials(parts, size);
    float *db_partial = db ? fastnn_alloc_partials(parts, g->out_c) : NULL;
    float *dwt = fastnn_alloc_floats(size);
    int status = partial && dwt && (db_partial || !db) ? FASTNN_OK : FASTNN_ENOMEM;
    if (status == FASTNN_OK) {
#pragma omp parallel num_threads(threads < items ? threads : (int)items)
        {
            /* this thread's line pointers, row copies and packed dy */
            const float **line = malloc((size_t)chunk_lines * sizeof *line);
            float *copy = copies ? fastnn_alloc_floats(chunk_lines * g->k_h * row_step + NR)
                                 : NULL;
            float *a = packs ? fastnn_alloc_floats(t.panels * mr * chunk_lines * g->out_w)
                             : NULL;
            float *dz = through ? fastnn_alloc_floats(chunk_lines * g->out_w * g->out_c)
                                : NULL;
            int ok = line && (copy || !copies) && (a || !packs) && (dz || !through);
            if (!ok) {
#pragma omp atomic write
                status = FASTNN_ENOMEM;
            }
#pragma omp for schedule(static)
            for (int64_t item = 0; item < items; item++) {
                int64_t p = item / groups, group = item % groups;
                int64_t first = lines * p / parts, last = lines * (p + 1) / parts;
                int64_t col0 = columns * group / groups;
                int64_t col1 = columns * (group + 1) / groups;
                for (int64_t l = first; ok && l < last; l += chunk_lines) {
                    int64_t n = fastnn_min(chunk_lines, last - l);
                    int64_t at = l * g->out_w * g->out_c, len = n * g->out_w * g->out_c;
                    const float *d = dy + at;
                    if (through) { /* the chunk's dz, read by all that follows */
                        through->apply((fastnn_activation)through->act, through->alpha,
                                       y + at, dy + at, dz, 0, len);
                        d = dz;
                    }
                    chunk_view view = {line, n, g->out_w, row_step,
                                       fastnn_window_step(g->out_w, g->stride_w, g->in_c),
                                       d, g->out_c};
                    chunk_rows(x, g, l, n, cols, copy, line);
                    if (packs) {
                        pack_dy(d, g, &t, n, a);
                        view.a = a;
                        view.a_step = mr;
                    }
                    chunk(&view, &t, col0, col1, packs ? mr * n * g->out_w : mr,
                          partial + p * size);
                    if (db && group == 0)
                        chunk_bias(d, n * g->out_w, g->out_c, db_partial + p * g->out_c);
                }
            }
            free(line);
            fastnn_free_floats(copy);
            fastnn_free_floats(a);
            fastnn_free_floats(dz);
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
        if (db)
            fastnn_sum_partials(db_partial, parts, g->out_c, db);
    }
    fastnn_free_floats(partial);
    fastnn_free_floats(db_partial);
    fastnn_free_floats(dwt);
    return status;
}
