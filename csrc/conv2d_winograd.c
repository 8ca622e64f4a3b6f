/*
 * conv2d_winograd.c -- 3x3 stride-1 convolutions by Winograd's minimal
 * filtering algorithm F(4x4, 3x3): the forward pass (bias and activation
 * applied as the output is written) and the input gradient.
 *
 * What it computes.  Cut the output into tiles of 4x4 pixels
 * (winograd_tiles.h).  Each tile is a function of one 6x6 input patch d per
 * input channel, and winograd.h's identity gives it as
 *
 *   Y[tile][co] = A^T [ sum_ci U[ci][co] . V[tile][ci] ] A,
 *   U[ci][co] = G g[ci][co] G^T   (6x6, g the 3x3 filter),
 *   V[tile][ci] = B^T d[tile][ci] B   (6x6),
 *
 * "." element by element.  Read position by position, the sum is 36
 * independent matrix products, one per pos = (i, j) of the 6x6 grid:
 *
 *   M[pos] (tiles x out_c) = V[pos] (tiles x in_c) . U[pos] (in_c x out_c),
 *
 * 36 multiplications per tile and channel pair where the definition takes
 * 16 x 9 = 144: up to 4x fewer (a 11x11 output takes 3x3 tiles, 12x12
 * pixels, so 3.4x there).  The transforms around the products are additions
 * and a few scalings, O(in_c + out_c) per tile.  The constants of B, G and
 * A (up to 8) make the rounding a few times that of the definition.
 *
 * The input gradient is the same convolution of dy: dx[n, h, w, ci] =
 * sum dy[n, h + pad_top - kh, w + pad_left - kw, co] W[kh][kw][ci][co],
 * i.e. a 3x3 stride-1 convolution of dy with the kernel rotated by 180
 * degrees and its channels swapped, W'[kh][kw][co][ci] = W[2-kh][2-kw][ci][co],
 * padded by (2 - pad_top, 2 - pad_left) and producing in_h x in_w pixels.
 * kernel_view reads W either way, so both passes run the code below.  Its
 * grid covers dx: for a "valid" convolution 2 pixels more each way than
 * dy's (13x13 for 11x11: 16 tiles where dy has 9).  There the transposed
 * algorithm takes fewer tiles (fastnn_winograd_dx_tiles): winograd.h's
 *
 *   dd[tile][ci] = B [ sum_co U[ci][co] . (A dY[tile][co] A^T) ] B^T
 *
 * over dy's own grid (each tile's 4x4 of dy, zeros past its edges), the
 * same 36 products with dy's channels as their reduction and U
 * unrotated, and each tile's 6x6 patch dd added into dx where the forward
 * pass read it (patches of neighbouring tiles overlap by 2 pixels; dx is
 * zeroed first).  The additions make it no faster where both grids have as
 * many tiles ("same"), so dx's own grid serves those.
 *
 * Blocking.  U is transformed once per call, laid out as the GEMM engine's
 * packed B panels (gemm.h: 16 columns of out_c, reduction chunks of at most
 * FASTNN_KC input channels).  Then the tiles are taken a block of T at a
 * time (T a multiple of the engine's MR, sized so that the block's V and M,
 * 36 T (in_c + out_c) floats, take at most half of a 1 MB L2):
 *   1. gather each tile's 6x6 patch (zeros outside the image) straight into
 *      the packed-A layout of the engine (panels of MR tiles, a tile's
 *      channels one row of its panel), and apply B^T . B in place -- the
 *      transform is element-wise across (tile, channel), so it runs over
 *      the whole block's runs at once;
 *   2. 36 products M[pos] = V[pos] . U[pos] on the engine's micro-kernel
 *      (fastnn_gemm_packed: no packing, the operands are already panels);
 *   3. per tile, A^T M A, the bias and the activation (fastnn_epilogue: a
 *      ReLU as a max, others by the activation pass's own loop over the
 *      tile), written straight into y, clipped at the bottom/right edges.
 *
 * Parallelism: threads take whole blocks; a tile's value depends only on
 * its own patch and U (each row of the engine's products is summed in the
 * same order wherever it sits), so the output is bit-identical on any
 * number of threads.  The transposed algorithm's threads take whole images
 * instead (a contiguous share each, in blocks of T tiles): every pixel of
 * dx then gets its tiles' patches added by one thread, in tile order.  The
 * U transform is shared out by input channel.
 *
 * Memory: U, 36 x in_c x out_c (rounded up to 16) floats -- 4x the weights
 * -- plus per thread one block (<= 128 K floats, 512 KB), one panel's
 * patches and a few rows of out_c.  Nothing the size of y or dy.
 */
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "winograd.h"
#include "winograd_tiles.h"

/* A block's V and M take at most this many floats (half of Zen 4's L2). */
enum { BLOCK_FLOATS = 128 * 1024, NR = FASTNN_NR };

/* The 3x3 kernel as the computed convolution reads it: tap (kh, kw) from
 * its input channel a to its output channel b is w[kh * s_kh + kw * s_kw +
 * a * s_a + b * s_b] (HWIO for the forward pass; rotated and transposed
 * for the input gradient). */
typedef struct {
    const float *w;
    int64_t s_kh, s_kw, s_a, s_b;
} kernel_view;

typedef struct {
    const fastnn_conv2d_geom *g; /* the convolution computed (dx: of dy;
                                    transposed: as its caller sets it) */
    const float *src;            /* its input: x, or dy                   */
    int transposed;              /* dx by the transposed algorithm        */
    kernel_view kernel;
    const float *bias;
    const fastnn_epilogue *epi;
    float *y;
    fastnn_winograd_grid grid;
    int64_t mr;     /* rows of the engine's A panels                      */
    int64_t tiles;  /* T, tiles in a block: a multiple of mr              */
    int64_t v_pos, m_pos; /* floats from one position's V (M) to the next:
                             T in_c (T out_c) and a cache line
                             (FASTNN_WINOGRAD_POS_PAD) */
    int64_t npad;   /* out_c rounded up to NR: U's columns                */
    float *u;       /* U: per pos, in_c x npad as packed B panels         */
} winograd_plan;

/* Where U[pos][a][b] lies in the packed panels: reduction chunk pc (of kc
 * <= FASTNN_KC input channels) after chunk pc - 1, and in the chunk panel
 * b / NR of kc x NR values (the layout fastnn_gemm_packed reads). */
static inline int64_t u_offset(const winograd_plan *p, int64_t a, int64_t b)
{
    const int64_t pc = a / FASTNN_KC * FASTNN_KC;
    const int64_t kc = fastnn_min(FASTNN_KC, p->g->in_c - pc);
    return pc * p->npad + b / NR * kc * NR + (a - pc) * NR + b % NR;
}

/* U[.][a][.] = G g G^T for the filters from input channel a to every
 * output channel; scratch holds 63 * out_c floats. */
FASTNN_INLINE void transform_kernel_row(const winograd_plan *p, int64_t a,
                                        float *scratch)
{
    const kernel_view *k = &p->kernel;
    const int64_t out_c = p->g->out_c, in_c = p->g->in_c;
    float *g9 = scratch, *t18 = g9 + 9 * out_c, *u36 = t18 + 18 * out_c;
    for (int64_t t = 0; t < 9; t++) {
        const float *w = k->w + t / 3 * k->s_kh + t % 3 * k->s_kw + a * k->s_a;
        for (int64_t b = 0; b < out_c; b++)
            g9[t * out_c + b] = w[b * k->s_b];
    }
    for (int j = 0; j < 3; j++) /* G over each column of the filter */
        fastnn_winograd_g(g9 + j * out_c, 3 * out_c, t18 + j * out_c, 3 * out_c, out_c);
    for (int i = 0; i < 6; i++) /* then over each row: G g G^T */
        fastnn_winograd_g(t18 + i * 3 * out_c, out_c, u36 + i * 6 * out_c, out_c, out_c);
    for (int64_t pos = 0; pos < 36; pos++) {
        float *u = p->u + pos * in_c * p->npad;
        for (int64_t b = 0; b < p->npad; b++) /* columns past out_c: zeros */
            u[u_offset(p, a, b)] = b < out_c ? u36[pos * out_c + b] : 0.0f;
    }
}

/* d <- B^T d B of the mr tiles from t0 (tiles from `end` on read zeros):
 * each tile's 6x6 input patch, a tile's channels one row of the panel,
 * d[pos][r][c]; the transform runs in place over the panel's runs at once
 * (it is element-wise across (tile, channel)). */
FASTNN_INLINE void transform_input_panel(const winograd_plan *p, int64_t t0, int64_t end,
                                         float *d)
{
    const fastnn_conv2d_geom *g = p->g;
    const int64_t in_c = g->in_c, d_step = p->mr * in_c;
    for (int64_t r = 0; r < p->mr; r++) {
        /* a tile past the end reads a window below the image: zeros */
        fastnn_winograd_tile tile = {0, g->in_h + g->pad_top, 0};
        if (t0 + r < end)
            tile = fastnn_winograd_tile_at(&p->grid, t0 + r);
        fastnn_winograd_gather(p->src, g->in_h, g->in_w, in_c, tile.n, tile.oh - g->pad_top,
                               tile.ow - g->pad_left, 0, in_c, 6, d + r * in_c, d_step, 1);
    }
    for (int j = 0; j < 6; j++)
        fastnn_winograd_bt(d + j * d_step, 6 * d_step, d + j * d_step, 6 * d_step, d_step);
    for (int i = 0; i < 6; i++)
        fastnn_winograd_bt(d + i * 6 * d_step, d_step, d + i * 6 * d_step, d_step, d_step);
}

/* The transposed algorithm's panel: d <- A dY A^T of the mr tiles from t0,
 * each tile's 4x4 window of dy (zeros past dy's edges and for tiles from
 * `end` on) gathered into the 16 positions after d's 36, then A over its
 * columns (into the 24 after those) and over the rows of that. */
FASTNN_INLINE void transform_gradient_panel(const winograd_plan *p, int64_t t0,
                                            int64_t end, float *d)
{
    const fastnn_conv2d_geom *g = p->g;
    const int64_t k = g->in_c, d_step = p->mr * k;
    float *window = d + 36 * d_step, *half = window + 16 * d_step;
    for (int64_t r = 0; r < p->mr; r++) {
        fastnn_winograd_tile tile = {0, g->out_h, 0}; /* past the end: zeros */
        if (t0 + r < end)
            tile = fastnn_winograd_tile_at(&p->grid, t0 + r);
        fastnn_winograd_gather(p->src, g->out_h, g->out_w, k, tile.n, tile.oh, tile.ow, 0, k,
                               4, window + r * k, d_step, 1);
    }
    for (int j = 0; j < 4; j++)
        fastnn_winograd_a(window + j * d_step, 4 * d_step, half + j * d_step, 4 * d_step,
                          d_step);
    for (int i = 0; i < 6; i++)
        fastnn_winograd_a(half + i * 4 * d_step, d_step, d + i * 6 * d_step, d_step, d_step);
}

/* A 1-D transform of winograd.h: `outs` values from 6, each a run of n. */
typedef void (*transform_1d)(const float *, int64_t, float *, int64_t, int64_t);

/* dst (outs x outs runs of n) = T M T^T for the tile whose row of M is mt
 * (6 x 6 positions m_pos floats apart), T the 6 -> outs transform f (A^T:
 * 4, B: 6): f over M's columns into half (outs x 6 runs), then over its rows. */
FASTNN_INLINE void output_transform(const winograd_plan *p, const float *mt, transform_1d f,
                                    int outs, float *half, float *dst, int64_t n)
{
    for (int j = 0; j < 6; j++)
        f(mt + j * p->m_pos, 6 * p->m_pos, half + j * n, 6 * n, n);
    for (int i = 0; i < outs; i++)
        f(half + i * 6 * n, n, dst + i * outs * n, n, n);
}

/* One tile's A^T M A + bias, the activation, its pixels inside y; mt is
 * the tile's row of M (positions m_pos floats apart), out 40 x out_c
 * floats of scratch. */
FASTNN_INLINE void write_output_tile(const winograd_plan *p, fastnn_winograd_tile tile,
                                     const float *mt, float *out)
{
    const fastnn_conv2d_geom *g = p->g;
    const int64_t out_c = g->out_c;
    float *y16 = out + 24 * out_c;
    output_transform(p, mt, fastnn_winograd_at, 4, out, y16, out_c);
    const int64_t rows = fastnn_min(4, g->out_h - tile.oh);
    const int64_t cols = fastnn_min(4, g->out_w - tile.ow);
    if (p->bias)
        for (int64_t q = 0; q < 16; q++)
            for (int64_t c = 0; c < out_c; c++)
                y16[q * out_c + c] += p->bias[c];
    if (p->epi->act == FASTNN_ACT_RELU)
        for (int64_t q = 0; q < 16 * out_c; q++)
            y16[q] = y16[q] < 0.0f ? 0.0f : y16[q]; /* keeps NaN */
    else
        fastnn_epilogue_apply(p->epi, y16, 16 * out_c);
    for (int64_t i = 0; i < rows; i++)
        fastnn_copy_run(p->y + ((tile.n * g->out_h + tile.oh + i) * g->out_w + tile.ow) * out_c,
                        y16 + i * 4 * out_c, cols * out_c);
}

/* The transposed algorithm's output: B M B^T of one tile, its 6x6 patch of
 * dx (out_c channels here) added where it lies in the image (in_h x in_w,
 * from (oh - pad_top, ow - pad_left)), clipped at the edges; out 72 x out_c
 * floats of scratch. */
FASTNN_INLINE void add_gradient_tile(const winograd_plan *p, fastnn_winograd_tile tile,
                                     const float *mt, float *out)
{
    const fastnn_conv2d_geom *g = p->g;
    const int64_t n_c = g->out_c;
    float *patch = out + 36 * n_c;
    output_transform(p, mt, fastnn_winograd_b, 6, out, patch, n_c);
    for (int64_t i = 0; i < 6; i++) {
        const int64_t h = tile.oh - g->pad_top + i;
        if (h < 0 || h >= g->in_h)
            continue;
        for (int64_t j = 0; j < 6; j++) {
            const int64_t w = tile.ow - g->pad_left + j;
            if (w < 0 || w >= g->in_w)
                continue;
            float *dx = p->y + ((tile.n * g->in_h + h) * g->in_w + w) * n_c;
            const float *add = patch + (i * 6 + j) * n_c;
#pragma omp simd
            for (int64_t c = 0; c < n_c; c++)
                dx[c] += add[c];
        }
    }
}

/* Tiles [t0, t0 + T) of the grid (those from `end` on read zeros and are
 * not written), into y.  v and m are the block's V and M (36 x T x in_c,
 * 36 x T x out_c), d one panel's patches (36 x mr x in_c, and 40 x mr x
 * in_c more for the transposed algorithm), out 72 * out_c floats for one
 * tile's output transform. */
FASTNN_INLINE void convolve_block(const winograd_plan *p, int64_t t0, int64_t end,
                                  float *v, float *m, float *d, float *out)
{
    const fastnn_conv2d_geom *g = p->g;
    const int64_t T = p->tiles, mr = p->mr, in_c = g->in_c, out_c = g->out_c;
    /* 1. a panel of mr tiles at a time: their transformed patches as rows of
     * channels, d[pos][r][c] (B^T d B of the input's 6x6 patches, or the
     * transposed algorithm's A dY A^T of dy's 4x4 windows), then each pos's
     * mr x in_c rows packed into the engine's
     * A layout by its own packing (in chunk pc of kc channels of pos, tile
     * r is row r % mr of panel r / mr): writing that layout tile by tile
     * would scatter every value to its own cache line */
    const int64_t d_step = mr * in_c; /* floats of d per pos */
    for (int64_t r0 = 0; r0 < T; r0 += mr) {
        if (p->transposed)
            transform_gradient_panel(p, t0 + r0, end, d);
        else
            transform_input_panel(p, t0 + r0, end, d);
        for (int64_t pos = 0; pos < 36; pos++) {
            fastnn_strided rows = {d + pos * d_step, in_c, 1};
            for (int64_t pc = 0; pc < in_c; pc += FASTNN_KC) {
                int64_t kc = fastnn_min(FASTNN_KC, in_c - pc);
                fastnn_pack_strided(&rows, 0, mr, pc, kc, mr,
                                    v + pos * p->v_pos + pc * T + r0 * kc);
            }
        }
    }
    /* 2. M[pos] = V[pos] . U[pos], one product per reduction chunk */
    for (int64_t pos = 0; pos < 36; pos++)
        for (int64_t pc = 0; pc < in_c; pc += FASTNN_KC)
            fastnn_gemm_packed(T, out_c, fastnn_min(FASTNN_KC, in_c - pc),
                               v + pos * p->v_pos + pc * T,
                               p->u + pos * in_c * p->npad + pc * p->npad, m + pos * p->m_pos,
                               out_c, pc == 0, NULL);
    /* 3. per tile, in order: its output into y (the transposed algorithm:
     * its patch added into dx) */
    for (int64_t r = 0; r < T && t0 + r < end; r++) {
        fastnn_winograd_tile tile = fastnn_winograd_tile_at(&p->grid, t0 + r);
        if (p->transposed)
            add_gradient_tile(p, tile, m + r * out_c, out);
        else
            write_output_tile(p, tile, m + r * out_c, out);
    }
}

typedef void (*kernel_row_fn)(const winograd_plan *, int64_t, float *);
typedef void (*block_fn)(const winograd_plan *, int64_t, int64_t, float *, float *,
                         float *, float *);

static void kernel_row_generic(const winograd_plan *p, int64_t a, float *scratch)
{
    transform_kernel_row(p, a, scratch);
}

static void block_generic(const winograd_plan *p, int64_t t0, int64_t end, float *v,
                          float *m, float *d, float *out)
{
    convolve_block(p, t0, end, v, m, d, out);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void kernel_row_avx2(const winograd_plan *p, int64_t a, float *scratch)
{
    transform_kernel_row(p, a, scratch);
}

FASTNN_TARGET_AVX2
static void block_avx2(const winograd_plan *p, int64_t t0, int64_t end, float *v,
                       float *m, float *d, float *out)
{
    convolve_block(p, t0, end, v, m, d, out);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void kernel_row_avx512(const winograd_plan *p, int64_t a, float *scratch)
{
    transform_kernel_row(p, a, scratch);
}

FASTNN_TARGET_AVX512
static void block_avx512(const winograd_plan *p, int64_t t0, int64_t end, float *v,
                         float *m, float *d, float *out)
{
    convolve_block(p, t0, end, v, m, d, out);
}
#endif

/* The convolution g (3x3, stride 1) of src by the kernel k: y = act(conv +
 * bias) for epi's activation; or (transposed) dx by the transposed
 * algorithm, g then as winograd_transposed sets it up. */
static int winograd(const fastnn_conv2d_geom *g, const float *src, kernel_view k,
                    const float *bias, const fastnn_epilogue *epi, float *y, int transposed)
{
    kernel_row_fn kernel_row = kernel_row_generic;
    block_fn block = block_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2) {
        kernel_row = kernel_row_avx2;
        block = block_avx2;
    }
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512) {
        kernel_row = kernel_row_avx512;
        block = block_avx512;
    }
#endif
    winograd_plan p = {g, src, transposed, k, bias, epi, y,
                       fastnn_winograd_grid_of(g->batch, g->out_h, g->out_w),
                       fastnn_gemm_mr(), 0, 0, 0, fastnn_ceil_div(g->out_c, NR) * NR, NULL};
    if (p.grid.count == 0)
        return FASTNN_OK;
    /* T: as many panels of mr tiles as fit the block's budget, at least one,
     * and no more than the grid needs -- fixed by the problem, not the team */
    int64_t panels = BLOCK_FLOATS / (36 * (g->in_c + g->out_c) * p.mr);
    panels = fastnn_max(1, fastnn_min(panels, fastnn_ceil_div(p.grid.count, p.mr)));
    p.tiles = panels * p.mr;
    const int64_t blocks = fastnn_ceil_div(p.grid.count, p.tiles);
    p.v_pos = p.tiles * g->in_c + FASTNN_WINOGRAD_POS_PAD;
    p.m_pos = p.tiles * g->out_c + FASTNN_WINOGRAD_POS_PAD;
    const int64_t per_thread = 36 * (p.v_pos + p.m_pos + p.mr * g->in_c) +
                               (transposed ? 40 * p.mr * g->in_c : 0) + 72 * g->out_c;

    int threads = fastnn_threads_for(2.0 * 36.0 * (double)p.grid.count *
                                     (double)g->in_c * (double)g->out_c);
    if (threads > (transposed ? g->batch : blocks))
        threads = (int)(transposed ? g->batch : blocks);
    p.u = fastnn_alloc_floats(36 * g->in_c * p.npad);
    float *scratch = fastnn_alloc_floats(threads * per_thread);
    if (!p.u || !scratch) {
        fastnn_free_floats(p.u);
        fastnn_free_floats(scratch);
        return FASTNN_ENOMEM;
    }
#pragma omp parallel num_threads(threads)
    {
        float *mine = scratch + fastnn_thread_id() * per_thread;
#pragma omp for schedule(static)
        for (int64_t a = 0; a < g->in_c; a++)
            kernel_row(&p, a, mine);
        /* (the implicit barrier: U is complete) */
        float *v = mine, *m = v + 36 * p.v_pos, *d = m + 36 * p.m_pos;
        float *out = d + 36 * p.mr * g->in_c + (transposed ? 40 * p.mr * g->in_c : 0);
        if (transposed) {
            /* whole images a thread: a tile's patch overlaps its neighbours',
             * each image's added up by one thread in tile order */
            const int64_t team = fastnn_team_size(), t = fastnn_thread_id();
            const int64_t n0 = g->batch * t / team, n1 = g->batch * (t + 1) / team;
            const int64_t per_image = p.grid.tiles_h * p.grid.tiles_w;
            const int64_t pixels = g->in_h * g->in_w * g->out_c;
            memset(y + n0 * pixels, 0, (size_t)((n1 - n0) * pixels) * sizeof(float));
            for (int64_t t0 = n0 * per_image; t0 < n1 * per_image; t0 += p.tiles)
                block(&p, t0, n1 * per_image, v, m, d, out);
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t b = 0; b < blocks; b++)
                block(&p, b * p.tiles, p.grid.count, v, m, d, out);
        }
    }
    fastnn_free_floats(p.u);
    fastnn_free_floats(scratch);
    return FASTNN_OK;
}

int fastnn_conv2d_winograd(const float *x, const float *w, const float *b, float *y,
                           const fastnn_conv2d_geom *g, fastnn_epilogue epi)
{
    kernel_view k = {w, 3 * g->in_c * g->out_c, g->in_c * g->out_c, g->out_c, 1};
    return winograd(g, x, k, b, &epi, y, 0);
}

int fastnn_conv2d_winograd_input_gradient(const float *w, const float *dy, float *dx,
                                          const fastnn_conv2d_geom *g)
{
    const int64_t tap = g->in_c * g->out_c;
    const fastnn_epilogue none = FASTNN_NO_EPILOGUE;
    fastnn_conv2d_geom t = *g;
    t.in_c = g->out_c;
    t.out_c = g->in_c;
    if (fastnn_winograd_dx_tiles(g, 1) < fastnn_winograd_dx_tiles(g, 0)) {
        /* the transposed algorithm over dy's tiles (its channels the GEMM's
         * reduction, dx's its columns; pixels and padding g's own):
         * U[pos][co][ci] = G W[.][.][ci][co] G^T, the kernel unrotated */
        kernel_view k = {w, 3 * tap, tap, 1, g->out_c};
        return winograd(&t, dy, k, NULL, &none, dx, 1);
    }
    /* dx = the convolution of dy (out_h x out_w x out_c) by W'[kh][kw][co][ci]
     * = W[2 - kh][2 - kw][ci][co], padded by 2 - pad, giving in_h x in_w */
    t.in_h = g->out_h;
    t.in_w = g->out_w;
    t.out_h = g->in_h;
    t.out_w = g->in_w;
    t.pad_top = 2 - g->pad_top;
    t.pad_left = 2 - g->pad_left;
    kernel_view k = {w + 8 * tap, -3 * tap, -tap, 1, g->out_c};
    return winograd(&t, dy, k, NULL, &none, dx, 0);
}
