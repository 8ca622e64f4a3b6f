/*
 * conv2d_winograd_weight_gradient.c -- dW and db of a 3x3 stride-1
 * convolution by Winograd's F(4x4, 3x3) (winograd.h), any zero padding.
 *
 * What it computes.  Cut the output into 4x4 tiles (the last row and column
 * of tiles run past out_h / out_w: their dy is zero there).  Tile t of
 * image n covers output rows 4ty .. 4ty+3 and reads the 6x6 input patch
 * d_t from row 4ty - pad_top and column 4tx - pad_left (zero outside the
 * image).  Its share of the weight gradient is the 3x3 correlation of d_t
 * with its 4x4 dy tile, and winograd.h's identity turns that into
 *
 *   dW[kh][kw][ci][co] = G^T ( sum over t of V_t[pos][ci] * P_t[pos][co] ) G
 *
 * with V_t = B^T d_t B and P_t = A dY_t A^T, both 6x6 (36 positions pos),
 * the sum taken per position: M[pos] (in_c x out_c) = V[pos]^T . P[pos],
 * a matrix product over the tiles (K = tiles).  36 products of 2 in_c out_c
 * FLOPs per tile in place of the definition's 16 x 9 = 144: 4x fewer
 * multiplications, at the price of the transforms (additions and small
 * constants, O(in_c + out_c) per tile) and rounding a few times the
 * definition's (the constants reach 8).  Finally G^T M G (3x3 from 6x6)
 * for each (ci, co) pair gives dW (HWIO: co contiguous, the vector axis).
 * db = dy summed over the pixels, read from the same tiles: P[1][1] of a
 * tile is the sum of its 16 values of dy (SUM_POSITION below).
 *
 * Not here: dz = dy * f'(y) folded into dy (conv2d.c's `through`, first
 * layers only) -- those keep the tile and direct kernels.
 *
 * Blocking.  Tiles are taken BLOCK at a time (the K of one product,
 * <= FASTNN_KC).  For a block, every tile's V and P are computed and written
 * straight into the packed panel layout of gemm.h -- V as the A operand
 * (rows ci, panels of the GEMM's MR), P as the B operand (rows co, panels of
 * NR) -- so the engine's own micro-kernel (fastnn_gemm_packed) sums the 36
 * products M[pos] += V[pos]^T . P[pos] with no packing pass.  A tile inside
 * the image is transformed where it lies in x and dy; an edge tile is first
 * gathered, zero-padded, into a scratch patch.  The next tile's rows are
 * prefetched (prefetch_tile).  The block's panels (36 (in_c + out_c) BLOCK
 * floats: 1.8 MB for 32 -> 64) are read by the products right after being
 * written (from L2 and L3: 32 or 64 tiles a block measured no faster), and
 * M (36 in_c out_c) stays in the caches between blocks.
 *
 * Threads and determinism.  No partial copies of M: the threads split the
 * 36 positions by rows of the 6x6 (two threads: rows 0-2 and 3-5; at most
 * six threads).  Each transforms every tile of a block -- the column pass
 * whole, the row pass for the rows of V and P it owns -- into its own rows
 * of the panels, and sums only its positions' products:
 * M[pos] is summed by exactly one thread, over the block's tiles in order
 * and blocks in order; db (position SUM_POSITION, row 1) by its owner in
 * tile order.  A thread reads its own panels only, so nothing it writes
 * crosses to the other core's cache and no barrier waits between blocks.
 * The last pass transforms M into dW one ci at a time, after one barrier.
 * So every number is the same on any number of threads, with no M-sized
 * partial sums to zero and add (the tile kernel's parts would need one
 * copy of M each: 295 KB for 32 -> 64).  The price: every thread reads
 * every tile's x and dy and makes its whole column pass (into L1; only
 * rows of it computed measured no faster on avx512 and vectorised badly on
 * avx2).
 *
 * SIMD: the transforms are compiled per path (FASTNN_TARGET_*, dispatched by
 * fastnn_get_simd); the products run on the engine's micro-kernel for the
 * same path, with its MR.
 */
#include <string.h>

#include "gemm.h"
#include "winograd.h"
#include "winograd_tiles.h"

/* Tiles per block: the K of each of the 36 products (<= FASTNN_KC). */
enum { BLOCK = 128, TILE = 4, PATCH = 6, POSITIONS = 36, NR = FASTNN_NR };

/* Row 1 of A is (1, 1, 1, 1), so P[1][1] = (A dY A^T)[1][1] is the sum of
 * the tile's 16 values of dy: db is the sum of that position over the
 * tiles, read from the panels. */
enum { SUM_POSITION = 1 * PATCH + 1 };

typedef struct {
    const fastnn_conv2d_geom *g;
    fastnn_winograd_grid grid;        /* the tiles (winograd_tiles.h) */
    int64_t mr;                       /* panel width of V (the engine's MR) */
    int64_t ci_pad, co_pad;           /* in_c rounded up to mr, out_c to NR */
    int64_t scratch;                  /* floats of one thread's scratch */
    int64_t v_pos, p_pos;             /* floats from one position's panels
                                         of V (of P) to the next: a full
                                         block's, so a row's panels stay
                                         where they are when the last block
                                         is shorter, and a cache line more */
} winograd_plan;

/* Ask for the rows of x and dy tile `tile` reads (it comes next): the tiles
 * walk x and dy in short runs of 6 and 4 rows, which the hardware
 * prefetchers do not follow; without this, the first loads of a tile waited
 * on memory for a third of the transforms' time. */
static void prefetch_tile(const winograd_plan *p, const float *x, const float *dy,
                          int64_t tile)
{
    const fastnn_conv2d_geom *g = p->g;
    const fastnn_winograd_tile at = fastnn_winograd_tile_at(&p->grid, tile);
    const int64_t n = at.n, oh0 = at.oh, ow0 = at.ow;
    const int64_t iw0 = fastnn_max(0, ow0 - g->pad_left);
    const int64_t in_run = (fastnn_min(g->in_w, ow0 - g->pad_left + PATCH) - iw0) * g->in_c;
    for (int64_t r = fastnn_max(0, oh0 - g->pad_top);
         r < fastnn_min(g->in_h, oh0 - g->pad_top + PATCH); r++) {
        const char *row = (const char *)(x + ((n * g->in_h + r) * g->in_w + iw0) * g->in_c);
        for (int64_t b = 0; b < in_run * (int64_t)sizeof(float); b += 64)
            __builtin_prefetch(row + b);
    }
    const int64_t out_run = (fastnn_min(g->out_w, ow0 + TILE) - ow0) * g->out_c;
    for (int64_t r = oh0; r < fastnn_min(g->out_h, oh0 + TILE); r++) {
        const char *row = (const char *)(dy + ((n * g->out_h + r) * g->out_w + ow0) * g->out_c);
        for (int64_t b = 0; b < out_run * (int64_t)sizeof(float); b += 64)
            __builtin_prefetch(row + b);
    }
}

/* Tile `tile` (i-th of its block of `count`): rows first .. last-1 of
 * V = B^T d B into vp and of P = A dY A^T into pp (the calling thread's
 * rows; the column pass makes all six, the row pass only those). */
FASTNN_INLINE void transform_tile(const winograd_plan *p, const float *x, const float *dy,
                                  int64_t tile, int64_t i, int64_t count, int first,
                                  int last, float *vp, float *pp, float *scratch)
{
    const fastnn_conv2d_geom *g = p->g;
    const int64_t ci = g->in_c, co = g->out_c, widest = fastnn_max(ci, co);
    const fastnn_winograd_tile at = fastnn_winograd_tile_at(&p->grid, tile);
    const int64_t n = at.n, oh0 = at.oh, ow0 = at.ow;
    float *half = scratch;                       /* after the column pass */
    float *patch = half + POSITIONS * widest;    /* a gathered edge tile */

    if (tile + 1 < p->grid.count)
        prefetch_tile(p, x, dy, tile + 1);

    /* V: the 6x6 input patch, columns then rows */
    const int64_t ih0 = oh0 - g->pad_top, iw0 = ow0 - g->pad_left;
    const float *src = patch;
    int64_t row_step = PATCH * ci;
    if (ih0 < 0 || iw0 < 0 || ih0 + PATCH > g->in_h || iw0 + PATCH > g->in_w) {
        fastnn_winograd_gather(x, g->in_h, g->in_w, ci, n, ih0, iw0, 0, ci, PATCH, patch, ci,
                               1);
    } else {
        src = x + ((n * g->in_h + ih0) * g->in_w + iw0) * ci;
        row_step = g->in_w * ci;
    }
    for (int64_t j = 0; j < PATCH; j++)
        fastnn_winograd_bt(src + j * ci, row_step, half + j * ci, PATCH * ci, ci);
    for (int64_t r = first; r < last; r++)
        for (int64_t c0 = 0; c0 < ci; c0 += p->mr)
            fastnn_winograd_bt(half + r * PATCH * ci + c0, ci,
                               vp + r * PATCH * p->v_pos + c0 * count + i * p->mr,
                               p->v_pos, fastnn_min(p->mr, ci - c0));

    /* P: the 4x4 dy tile (zeros past out_h, out_w), columns then rows */
    src = patch;
    row_step = TILE * co;
    if (oh0 + TILE > g->out_h || ow0 + TILE > g->out_w) {
        fastnn_winograd_gather(dy, g->out_h, g->out_w, co, n, oh0, ow0, 0, co, TILE, patch,
                               co, 1);
    } else {
        src = dy + ((n * g->out_h + oh0) * g->out_w + ow0) * co;
        row_step = g->out_w * co;
    }
    for (int64_t j = 0; j < TILE; j++)
        fastnn_winograd_a(src + j * co, row_step, half + j * co, TILE * co, co);
    for (int64_t r = first; r < last; r++)
        for (int64_t c0 = 0; c0 < co; c0 += NR)
            fastnn_winograd_a(half + r * TILE * co + c0, co,
                              pp + r * PATCH * p->p_pos + c0 * count + i * NR,
                              p->p_pos, fastnn_min(NR, co - c0));
}

/* dW[.][.][c][.] = G^T M[.][c][.] G for input channel c: rows, then columns. */
FASTNN_INLINE void output_channel(const winograd_plan *p, const float *m, int64_t c,
                                  float *dw, float *scratch)
{
    const int64_t co = p->g->out_c, plane = p->g->in_c * co;
    for (int64_t j = 0; j < PATCH; j++)      /* scratch[k][j] = (G^T M)[k][j] */
        fastnn_winograd_gt(m + j * plane + c * co, PATCH * plane, scratch + j * co,
                           PATCH * co, co);
    for (int64_t k = 0; k < 3; k++)
        fastnn_winograd_gt(scratch + k * PATCH * co, co, dw + 3 * k * plane + c * co,
                           plane, co);
}

typedef void (*tile_fn)(const winograd_plan *, const float *, const float *, int64_t,
                        int64_t, int64_t, int, int, float *, float *, float *);
typedef void (*channel_fn)(const winograd_plan *, const float *, int64_t, float *,
                           float *);

static void tile_generic(const winograd_plan *p, const float *x, const float *dy,
                         int64_t tile, int64_t i, int64_t count, int first, int last,
                         float *vp, float *pp, float *scratch)
{
    transform_tile(p, x, dy, tile, i, count, first, last, vp, pp, scratch);
}

static void channel_generic(const winograd_plan *p, const float *m, int64_t c, float *dw,
                            float *scratch)
{
    output_channel(p, m, c, dw, scratch);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void tile_avx2(const winograd_plan *p, const float *x, const float *dy,
                      int64_t tile, int64_t i, int64_t count, int first, int last,
                      float *vp, float *pp, float *scratch)
{
    transform_tile(p, x, dy, tile, i, count, first, last, vp, pp, scratch);
}

FASTNN_TARGET_AVX2
static void channel_avx2(const winograd_plan *p, const float *m, int64_t c, float *dw,
                         float *scratch)
{
    output_channel(p, m, c, dw, scratch);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void tile_avx512(const winograd_plan *p, const float *x, const float *dy,
                        int64_t tile, int64_t i, int64_t count, int first, int last,
                        float *vp, float *pp, float *scratch)
{
    transform_tile(p, x, dy, tile, i, count, first, last, vp, pp, scratch);
}

FASTNN_TARGET_AVX512
static void channel_avx512(const winograd_plan *p, const float *m, int64_t c, float *dw,
                           float *scratch)
{
    output_channel(p, m, c, dw, scratch);
}
#endif

int fastnn_conv2d_winograd_weight_gradient(const float *x, const float *dy, float *dw,
                                           float *db, const fastnn_conv2d_geom *g)
{
    tile_fn tile = tile_generic;
    channel_fn channel = channel_generic;
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512) {
        tile = tile_avx512;
        channel = channel_avx512;
    } else
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2) {
        tile = tile_avx2;
        channel = channel_avx2;
    }
#endif
    const int64_t ci = g->in_c, co = g->out_c, plane = ci * co;
    winograd_plan p = {g, fastnn_winograd_grid_of(g->batch, g->out_h, g->out_w),
                       fastnn_gemm_mr(), 0, 0, 0, 0, 0};
    p.ci_pad = fastnn_ceil_div(ci, p.mr) * p.mr;
    p.co_pad = fastnn_ceil_div(co, NR) * NR;
    p.scratch = 2 * POSITIONS * fastnn_max(ci, co);
    const int64_t block = fastnn_min(BLOCK, p.grid.count);
    p.v_pos = p.ci_pad * block + FASTNN_WINOGRAD_POS_PAD;
    p.p_pos = p.co_pad * block + FASTNN_WINOGRAD_POS_PAD;
    const double work = 2.0 * POSITIONS * (double)plane * (double)p.grid.count;
    const int threads = fastnn_min(fastnn_threads_for(work), PATCH);
    const int ragged = ci % p.mr || co % NR;

    float *m = fastnn_alloc_partials(1, POSITIONS * plane);   /* zeroed */
    float *vp = fastnn_alloc_floats(POSITIONS * (p.v_pos + p.p_pos));
    float *pp = vp + POSITIONS * p.v_pos;
    int status = m && vp ? FASTNN_OK : FASTNN_ENOMEM;
    if (status == FASTNN_OK && db)
        memset(db, 0, (size_t)co * sizeof(float));
    if (status == FASTNN_OK) {
#pragma omp parallel num_threads(threads)
        {
            /* this thread's rows of the 6x6 positions (top of file) */
            const int team = (int)fastnn_team_size(), me = (int)fastnn_thread_id();
            const int first = PATCH * me / team, last = PATCH * (me + 1) / team;
            float *scratch = fastnn_alloc_floats(p.scratch);
            if (!scratch) {
#pragma omp atomic write
                status = FASTNN_ENOMEM;
            }
            for (int64_t t0 = 0; scratch && t0 < p.grid.count; t0 += block) {
                const int64_t count = fastnn_min(block, p.grid.count - t0);
                if (ragged && (t0 == 0 || count < block)) {
                    /* the panels' lanes past in_c and out_c, which no tile writes */
                    memset(vp + first * PATCH * p.v_pos, 0,
                           (size_t)((last - first) * PATCH * p.v_pos) * sizeof(float));
                    memset(pp + first * PATCH * p.p_pos, 0,
                           (size_t)((last - first) * PATCH * p.p_pos) * sizeof(float));
                }
                for (int64_t i = 0; i < count; i++)
                    tile(&p, x, dy, t0 + i, i, count, first, last, vp, pp, scratch);
                for (int64_t pos = first * PATCH; pos < last * PATCH; pos++)
                    /* M[pos] += V[pos]^T . P[pos] */
                    fastnn_gemm_packed(ci, co, count, vp + pos * p.v_pos, pp + pos * p.p_pos,
                                       m + pos * plane, co, 0, NULL);
                if (db && first * PATCH <= SUM_POSITION && SUM_POSITION < last * PATCH)
                    /* db += the tiles' sums, in tile order */
                    for (int64_t i = 0; i < count; i++)
                        for (int64_t c = 0; c < co; c++)
                            db[c] += pp[SUM_POSITION * p.p_pos + c / NR * NR * count +
                                        i * NR + c % NR];
            }
#pragma omp barrier
#pragma omp for schedule(static)
            for (int64_t c = 0; c < ci; c++)
                if (scratch)
                    channel(&p, m, c, dw, scratch);
            fastnn_free_floats(scratch);
        }
    }
    fastnn_free_floats(m);
    fastnn_free_floats(vp);
    return status;
}

/* FASTNN_CONV_AUTO's choice for dW (conv2d.c's weight_gradient), from
 * dW + db timed against today's tile kernel (conv2d_weight_gradient.c) on
 * the 2-core Zen 4, avx512, one thread, min of 11 interleaved (batch x
 * input -> output channels, output size: winograd's speed-up):
 *   128 x 26x26 32 -> 64, 24x24 (mnist_cnn)  1.83-1.90x
 *   128 x 13x13 32 -> 64, 11x11 (demo CNN)   1.33-1.52x
 *    64 x 32x32 32 -> 32 same                1.41-1.54x
 *    64 x 16x16 32 -> 64 same                1.60-1.81x
 *    64 x 16x16 64 -> 64 same                2.01-2.21x
 *   128 x 14x14 24 -> 48, 12x12              1.33-1.43x
 *    32 x 14x14 16 -> 32, 12x12              1.19-1.39x
 *    32 x 16x16 32 -> 64, 14x14              1.26-1.42x
 *    64 x 32x32 16 -> 32, 30x30              0.86-1.18x (64 tiles for 56.25)
 *    32 x  7x7  64 -> 128, 5x5               0.88-0.94x (4 tiles for 1.56)
 * The products shrink 4x only where the tiles are full: the last row and
 * column of tiles compute zeros past out_h, out_w, and their patches are
 * gathered.  The transforms cost O(in_c + out_c) per tile against the
 * products' O(in_c out_c).
 * Two threads split the 36 positions by rows (top of file): each
 * transforms every tile's rows of V and P it owns and sums their products,
 * so no panel crosses between the cores' caches and no barrier waits
 * between blocks.  (Before, they shared each block's tiles and
 * then its positions: the panels crossed the cores twice a block, and the
 * transforms took 2-4x their one-thread time: 16 -> 16 ran at 0.2-0.3x the
 * tile kernel, 32 -> 32 at 0.4-1.2x.)  Two threads now, median of 15, the
 * tile kernel's time over winograd's, batch 64, 7x7 "same", 8x8, 16x16,
 * 28x28 and 32x32 "same", 14x14 and 13x13 "valid" (2026-12-04; avx512,
 * then avx2 on the same CPU):
 *   8 -> 16, 16 -> 8, 8 -> 32   0.52-0.86x      0.69-1.35x
 *   16 -> 16, 16 -> 24          0.73-1.13x      0.78-1.22x
 *   16 -> 32, 32 -> 16          0.95-1.33x      1.11-1.50x
 *   24 -> 24                    0.89-1.23x      1.02-1.43x
 *   16 -> 64                    1.02-1.42x      1.14-1.54x
 *   32 -> 32, 24 -> 48          1.15-1.81x      1.42-2.07x
 *   32 -> 64, 64 -> 64          1.65-2.79x      1.67-2.38x
 * with the low ends of 16 -> 32 and 24 -> 24 (0.89-0.99x on avx512) on
 * the grids that reach past the output (7x7: 0.77 of the tiles' pixels
 * inside, 13x13 valid: 0.84).  So: at least 16 channels each way and 512
 * channel pairs; under 1024 pairs at least 7/8 of the tiles' pixels inside
 * the output, from 1024 at least 3/4. */
int fastnn_winograd_weight_gradient_takes(const fastnn_conv2d_geom *g)
{
    const int64_t tiled = fastnn_ceil_div(g->out_h, 4) * fastnn_ceil_div(g->out_w, 4) * 16;
    const int64_t pairs = g->in_c * g->out_c, inside = g->out_h * g->out_w;
    return g->in_c >= 16 && g->out_c >= 16 && pairs >= 512 &&
           (pairs >= 1024 ? 4 * inside >= 3 * tiled : 8 * inside >= 7 * tiled);
}
