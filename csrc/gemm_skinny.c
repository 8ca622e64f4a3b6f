/*
 * gemm_skinny.c -- products with few columns, C (m x n) = op(A) . op(B) +
 * bias for n <= FASTNN_SKINNY_MAX_N: every classifier head (x . W with 10
 * units) and its weight gradient (x^T . dy).
 *
 * The blocked engine (gemm.c) is built for n in the hundreds: its tile is 16
 * columns wide, so n = 10 leaves 6 of 16 lanes idle, and it copies all of A
 * into panels first -- for a head that is most of the work, since A (128 x
 * 3136 floats, 1.6 MB) is read once and everything else is small.  These
 * products are bound by reading A, so the kernels here read A in place, once
 * per block of rows, with every lane busy:
 *
 *   row-major A (x . W: A's rows run along the reduction)  -- dot tiles.
 *       B is copied transposed (n x k, 4 columns per block, zero padded);
 *       a tile of DOT_ROWS rows x DOT_COLS columns of C is 12 dot products
 *       of length k, each a vector of partial sums over k (lane l sums the
 *       p = l mod width), added up at the end in a fixed tree, the k % width
 *       leftovers after them.  Per vector step: 3 loads of A, 4 of B,
 *       12 fused multiply-adds.
 *   transposed A (x^T . dy: A's rows are adjacent in memory)  -- column
 *       tiles.  B is packed in panels of COL_COLS columns (fastnn_pack_strided,
 *       zero padded); a tile is COL_VECS vectors of consecutive rows of C x
 *       COL_COLS columns: per p, COL_VECS loads of A (one row of x), COL_COLS
 *       broadcasts of B, 12 fused multiply-adds.  The last, partial block of
 *       rows is copied into a zero-padded buffer first.  Tiles hold columns
 *       of C, so they are written to C transposed.
 *
 * Then C = bias + sum row by row, and the epilogue (the activation of a
 * Dense layer) on each finished row.  Parallelism: the row blocks are cut
 * into one contiguous range per thread; every element of C is summed by one
 * thread in an order fixed by the shape alone (blocks start at multiples of
 * the block height whatever the team), so C is bit-identical for any number
 * of threads.  Each SIMD path instantiates the same code with its vector
 * width (16, 8, 4: FASTNN_TARGET_* wrappers), so the order of the sums, and
 * the bits, differ between paths as on the engine.
 */
#include <string.h>

#include "gemm.h"

enum {
    DOT_ROWS = 3, DOT_COLS = 4,  /* 12 accumulators, 3 + 1 loaded vectors */
    COL_VECS = 2, COL_COLS = 6,  /* 12 accumulators, 2 + 1 */
    MAX_WIDTH = 16,
    /* columns of C a tile keeps until its rows are finished */
    TILE_COLS = FASTNN_SKINNY_MAX_N + COL_COLS
};

/* Below these the engine is as fast or faster (one thread, CPU time, a
 * loaded 2-core Zen 4, n = 10): an A of fewer than 2^16 values is cheap to
 * pack, and a row-major A with rows shorter than 512 spends more on the sums
 * across lanes than the dot products save (at k = 84 the engine took 5-8 us,
 * the dot tiles 7-14). */
enum { MIN_A_VALUES = 1 << 16, DOT_MIN_K = 512 };

/* What both kernels need of a product, and where its rows go. */
typedef struct {
    int64_t m, n, k;
    const fastnn_strided *a;
    const float *bt;     /* dot tiles: B^T (n_pad x k); column tiles: panels */
    float *c;
    int64_t ldc;
    const float *bias;
    const fastnn_epilogue *epi;
} skinny_product;

/* C row i = bias + sums (n values), then the activation. */
static void finish_row(const skinny_product *s, int64_t i, const float *sums)
{
    float *row = s->c + i * s->ldc;
    for (int64_t j = 0; j < s->n; j++)
        row[j] = s->bias ? s->bias[j] + sums[j] : sums[j];
    fastnn_epilogue_row(s->epi, row, s->n);
}

/* Sum of a vector's lanes: the two halves added as vectors, down to 4
 * lanes, then (l0 + l2) + (l1 + l3) -- a fixed tree, a few instructions. */
FASTNN_INLINE float lane_sum_4(const fastnn_v4 *v)
{
    return ((*v)[0] + (*v)[2]) + ((*v)[1] + (*v)[3]);
}

FASTNN_INLINE float lane_sum_8(const fastnn_v8 *v)
{
    fastnn_v4 lo, hi;
    memcpy(&lo, v, sizeof lo);
    memcpy(&hi, (const float *)v + 4, sizeof hi);
    lo += hi;
    return lane_sum_4(&lo);
}

FASTNN_INLINE float lane_sum_16(const fastnn_v16 *v)
{
    fastnn_v8 lo, hi;
    memcpy(&lo, v, sizeof lo);
    memcpy(&hi, (const float *)v + 8, sizeof hi);
    lo += hi;
    return lane_sum_8(&lo);
}

/* The two tiles for one vector type V of W floats, as FASTNN_INLINE
 * functions dot_tile_<W> and col_tile_<W>.
 *
 * dot_tile: sums[r][j] (stride DOT_COLS) = sum_p a[r*lda + p] * bt[j*k + p]
 * for r < rows (3, or 1 on the last rows), j < DOT_COLS.
 *
 * col_tile: sums[j][r] (stride COL_VECS * W) = sum_p a[p*lda + r] *
 * bp[p*COL_COLS + j] for r < COL_VECS * W, j < COL_COLS, summed in slices of
 * FASTNN_KC steps that are then added (as the engine sums a long reduction:
 * rounding errors grow with the slice, not with all of k). */
#define SKINNY_TILES(V, W)                                                    \
    FASTNN_INLINE void dot_tile_##W(int rows, int64_t k, const float *a,      \
                                    int64_t lda, const float *bt,             \
                                    float *sums)                              \
    {                                                                         \
        V acc[DOT_ROWS][DOT_COLS];                                            \
        memset(acc, 0, sizeof acc);                                           \
        int64_t p = 0;                                                        \
        for (; p + W <= k; p += W) {                                          \
            V x[DOT_ROWS];                                                    \
            for (int r = 0; r < rows; r++)                                    \
                x[r] = *(const V *)(a + r * lda + p);                         \
            for (int j = 0; j < DOT_COLS; j++) {                              \
                V b = *(const V *)(bt + j * k + p);                           \
                for (int r = 0; r < rows; r++)                                \
                    acc[r][j] += x[r] * b;                                    \
            }                                                                 \
        }                                                                     \
        for (int r = 0; r < rows; r++)                                        \
            for (int j = 0; j < DOT_COLS; j++) {                              \
                float sum = lane_sum_##W(&acc[r][j]);                         \
                for (int64_t q = p; q < k; q++)                               \
                    sum += a[r * lda + q] * bt[j * k + q];                    \
                sums[r * DOT_COLS + j] = sum;                                 \
            }                                                                 \
    }                                                                         \
                                                                              \
    FASTNN_INLINE void col_tile_##W(int64_t k, const float *a, int64_t lda,   \
                                    const float *bp, float *sums)             \
    {                                                                         \
        V total[COL_COLS][COL_VECS];                                          \
        memset(total, 0, sizeof total);                                       \
        for (int64_t p0 = 0; p0 < k; p0 += FASTNN_KC) {                       \
            V acc[COL_COLS][COL_VECS];                                        \
            memset(acc, 0, sizeof acc);                                       \
            for (int64_t p = p0; p < fastnn_min(p0 + FASTNN_KC, k);           \
                 p++, a += lda, bp += COL_COLS) {                             \
                V x[COL_VECS];                                                \
                for (int v = 0; v < COL_VECS; v++)                            \
                    x[v] = *(const V *)(a + v * W);                           \
                for (int j = 0; j < COL_COLS; j++)                            \
                    for (int v = 0; v < COL_VECS; v++)                        \
                        acc[j][v] += bp[j] * x[v];                            \
            }                                                                 \
            for (int j = 0; j < COL_COLS; j++)                                \
                for (int v = 0; v < COL_VECS; v++)                            \
                    total[j][v] += acc[j][v];                                 \
        }                                                                     \
        for (int j = 0; j < COL_COLS; j++)                                    \
            memcpy(sums + j * COL_VECS * W, total[j], sizeof total[j]);       \
    }

SKINNY_TILES(fastnn_v16, 16)
SKINNY_TILES(fastnn_v8, 8)
SKINNY_TILES(fastnn_v4, 4)

/* Rows [r0, r1) of C (r0 a multiple of DOT_ROWS) from dot tiles. */
FASTNN_INLINE void dot_rows_body(const skinny_product *s, int64_t r0,
                                 int64_t r1, int width)
{
    const fastnn_strided *a = s->a;
    const int64_t n_pad = fastnn_ceil_div(s->n, DOT_COLS) * DOT_COLS;
    float tile[DOT_ROWS * DOT_COLS], sums[DOT_ROWS][TILE_COLS];
    for (int64_t i = r0; i < r1; i += DOT_ROWS) {
        const int full = i + DOT_ROWS <= s->m;
        const int rows = full ? DOT_ROWS : 1; /* the last m % 3 rows one by one */
        for (int64_t i1 = i; i1 < fastnn_min(i + DOT_ROWS, s->m); i1 += rows) {
            const float *arow = a->data + i1 * a->row_stride;
            for (int64_t j = 0; j < n_pad; j += DOT_COLS) {
                const float *bt = s->bt + j * s->k;
                if (width == 16)
                    full ? dot_tile_16(DOT_ROWS, s->k, arow, a->row_stride, bt, tile)
                         : dot_tile_16(1, s->k, arow, a->row_stride, bt, tile);
                else if (width == 8)
                    full ? dot_tile_8(DOT_ROWS, s->k, arow, a->row_stride, bt, tile)
                         : dot_tile_8(1, s->k, arow, a->row_stride, bt, tile);
                else
                    full ? dot_tile_4(DOT_ROWS, s->k, arow, a->row_stride, bt, tile)
                         : dot_tile_4(1, s->k, arow, a->row_stride, bt, tile);
                for (int r = 0; r < rows; r++)
                    memcpy(&sums[r][j], tile + r * DOT_COLS, sizeof(float) * DOT_COLS);
            }
            for (int r = 0; r < rows; r++)
                finish_row(s, i1 + r, sums[r]);
        }
    }
}

/* Rows [r0, r1) of C (r0 a multiple of the block height) from column
 * tiles; `pad` holds k x block floats for a partial last block. */
FASTNN_INLINE void col_rows_body(const skinny_product *s, int64_t r0,
                                 int64_t r1, float *pad, int width)
{
    const fastnn_strided *a = s->a;
    const int64_t block = COL_VECS * width;
    float sums[TILE_COLS * COL_VECS * MAX_WIDTH], row[TILE_COLS];
    for (int64_t i = r0; i < r1; i += block) {
        const int64_t rows = fastnn_min(block, s->m - i);
        const float *src = a->data + i;
        int64_t lda = a->p_stride;
        if (rows < block) { /* past the end of A's rows: zeros */
            for (int64_t p = 0; p < s->k; p++) {
                memcpy(pad + p * block, src + p * lda, (size_t)rows * sizeof(float));
                memset(pad + p * block + rows, 0, (size_t)(block - rows) * sizeof(float));
            }
            src = pad;
            lda = block;
        }
        for (int64_t j = 0; j < s->n; j += COL_COLS) {
            const float *bp = s->bt + j * s->k;
            float *out = sums + j * block;
            if (width == 16)
                col_tile_16(s->k, src, lda, bp, out);
            else if (width == 8)
                col_tile_8(s->k, src, lda, bp, out);
            else
                col_tile_4(s->k, src, lda, bp, out);
        }
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t j = 0; j < s->n; j++)
                row[j] = sums[j * block + r];
            finish_row(s, i + r, row);
        }
    }
}

typedef void (*rows_fn)(const skinny_product *, int64_t, int64_t, float *);

static void dot_rows_generic(const skinny_product *s, int64_t r0, int64_t r1,
                             float *pad)
{
    (void)pad;
    dot_rows_body(s, r0, r1, 4);
}

static void col_rows_generic(const skinny_product *s, int64_t r0, int64_t r1,
                             float *pad)
{
    col_rows_body(s, r0, r1, pad, 4);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void dot_rows_avx2(const skinny_product *s, int64_t r0, int64_t r1,
                          float *pad)
{
    (void)pad;
    dot_rows_body(s, r0, r1, 8);
}

FASTNN_TARGET_AVX2
static void col_rows_avx2(const skinny_product *s, int64_t r0, int64_t r1,
                          float *pad)
{
    col_rows_body(s, r0, r1, pad, 8);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void dot_rows_avx512(const skinny_product *s, int64_t r0, int64_t r1,
                            float *pad)
{
    (void)pad;
    dot_rows_body(s, r0, r1, 16);
}

FASTNN_TARGET_AVX512
static void col_rows_avx512(const skinny_product *s, int64_t r0, int64_t r1,
                            float *pad)
{
    col_rows_body(s, r0, r1, pad, 16);
}
#endif

/* This CPU's vector width in floats. */
static int simd_width(void)
{
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        return 16;
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        return 8;
#endif
    return 4;
}

static rows_fn pick_rows_fn(int dot, int width)
{
#if FASTNN_HAVE_AVX512_VARIANT
    if (width == 16)
        return dot ? dot_rows_avx512 : col_rows_avx512;
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (width == 8)
        return dot ? dot_rows_avx2 : col_rows_avx2;
#endif
    return dot ? dot_rows_generic : col_rows_generic;
}

/* Thread t of a team of `team`: its contiguous range of the row blocks,
 * with a padding buffer if it has the partial last one. */
static int run_blocks(const skinny_product *s, rows_fn run, int64_t blocks,
                      int64_t block, int64_t t, int64_t team, int partial)
{
    int64_t first = blocks * t / team, last = blocks * (t + 1) / team;
    if (first == last)
        return FASTNN_OK;
    float *pad = NULL;
    if (partial && last == blocks && !(pad = fastnn_alloc_floats(s->k * block)))
        return FASTNN_ENOMEM;
    run(s, first * block, fastnn_min(last * block, s->m), pad);
    fastnn_free_floats(pad);
    return FASTNN_OK;
}

int fastnn_gemm_skinny_takes(int64_t m, int64_t n, int64_t k,
                             const fastnn_strided *a)
{
    if (n < 1 || n > FASTNN_SKINNY_MAX_N || m < 1 || k < 1 || m * k < MIN_A_VALUES)
        return 0;
    if (a->p_stride == 1) /* row-major A (also a single row, m == 1) */
        return k >= DOT_MIN_K;
    return a->row_stride == 1;
}

int fastnn_gemm_skinny(int64_t m, int64_t n, int64_t k, const fastnn_strided *a,
                       const fastnn_strided *b, float *c, int64_t ldc,
                       const float *bias, fastnn_epilogue epi)
{
    const int dot = a->p_stride == 1, width = simd_width();
    const int64_t block = dot ? DOT_ROWS : COL_VECS * width;
    const int64_t cols = dot ? DOT_COLS : COL_COLS;
    const int64_t n_pad = fastnn_ceil_div(n, cols) * cols;
    /* B, k x n: transposed (n_pad x k) for the dot tiles, in panels of
     * COL_COLS columns for the column tiles (the same call: a panel of
     * width 1 per column is a row of B^T) */
    float *bt = fastnn_alloc_floats(n_pad * k);
    if (!bt)
        return FASTNN_ENOMEM;
    fastnn_pack_strided(b, 0, n, 0, k, dot ? 1 : COL_COLS, bt);
    if (dot && n_pad > n)
        memset(bt + n * k, 0, (size_t)((n_pad - n) * k) * sizeof(float));
    skinny_product s = {m, n, k, a, bt, c, ldc, bias, &epi};
    rows_fn run = pick_rows_fn(dot, (int)width);
    int64_t blocks = fastnn_ceil_div(m, block);
    int threads = fastnn_threads_for(2.0 * (double)m * (double)n * (double)k);
    if (threads > blocks)
        threads = (int)blocks;
    /* a partial last block of the column tiles is copied into `pad` */
    const int partial = !dot && m % block;
    /* one thread: no parallel region (a small head takes less) */
    int status = threads == 1 ? run_blocks(&s, run, blocks, block, 0, 1, partial)
                              : FASTNN_OK;
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            int t_status = run_blocks(&s, run, blocks, block, fastnn_thread_id(),
                                      fastnn_team_size(), partial);
            if (t_status != FASTNN_OK) {
#pragma omp atomic write
                status = t_status;
            }
        }
    }
    fastnn_free_floats(bt);
    return status;
}
