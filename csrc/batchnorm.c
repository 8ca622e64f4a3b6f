/*
 * batchnorm.c -- batch normalisation over channels-last data (course,
 * chapter 31): statistics, the normalising affine map, and the backward pass.
 *
 * The data is seen as a rows x channels matrix: an NHWC batch is
 * (N*H*W) x C, a Dense output N x C.  Each channel c is normalised with the
 * mean and (biased) variance of its column:
 *
 *     x_hat = (x - mean[c]) * inv_std[c],   inv_std = 1 / sqrt(var + eps)
 *     y     = gamma[c] * x_hat + beta[c]
 *
 * Backward, with dy given (sums over the rows of channel c, n rows):
 *
 *     dbeta  = sum dy                   dgamma = sum dy * x_hat
 *     dx     = gamma * inv_std * (dy - dbeta / n - x_hat * dgamma / n)
 *
 * when the statistics came from this batch (training), or
 * dx = gamma * inv_std * dy when they were constants (inference).
 *
 * Fused with a ReLU after it (the plan's rule "batch norm + relu"): the
 * apply pass writes relu(y) = (y < 0 ? 0 : y, NaN kept, as relu.c's) in
 * the same pass, and the backward pass reads dy where y > 0 and 0
 * elsewhere (relu's derivative) wherever it reads dy: no ReLU pass, no
 * dL/dy array between the two.  The backward pass does not read the
 * forward's output for that: it recomputes y from x with the forward's
 * constants and the forward's arithmetic (one shared inline function, the
 * same instructions on each SIMD path), so its mask is the forward's bit
 * for bit, and one array fewer is read twice.
 *
 * Precision.  Data whose mean is large against its spread (raw pixel values,
 * sensor readings: std 0.01 around 1,000) is where batch norm matters most
 * and where float32 cancels: expanded to y = x * scale + shift, the two large
 * terms cancel and the error grows with |mean| / std (1e-3 relative at
 * 1,000).  So everything is computed in the centred form, x - mean first,
 * and the mean is kept in double (a float32 mean alone is off by half a unit
 * in the last place, 5e-4 at 10,000: 5 % of a std of 0.01).  The SIMD loops
 * stay in float: the mean is split into hi = (float)mean and lo =
 * (float)(mean - hi); x - hi is exact when x is within a factor 2 of hi,
 * and the tiny lo term joins the per-channel constant.  The backward pass
 * centres dy around its mean the same way.
 *
 * Naive: column by column, one pass per sum, everything in double.
 * Fast: every pass streams the matrix once in memory order.  The
 * elementwise passes (apply, dx) go row by row, each row in tiles of up to
 * 32 channels (two AVX-512 vectors of floats).  The sums (statistics, and
 * the backward's) go in blocks of rows (64 KiB of each array, which stays
 * in L2), each block tile by tile: a tile over all the block's rows with
 * its double sums in registers (a loop over all channels per row reads and
 * writes the sums from memory at every row: 1.3-1.8x slower).  The rows are
 * cut into parts fixed by the problem (fastnn_parts_for), each with its own
 * per-channel partial sums (double, so 100,000 rows lose no precision),
 * added up in part order at the end: the same numbers on any number of
 * threads.  Within a part each channel is summed row after row whatever
 * the tile width, so the SIMD paths differ only by FMA rounding.  Every
 * pass has a generic, an AVX2 and an AVX-512 variant.
 *
 * Memory traffic, the bound of every pass on large data (n floats per
 * array): the statistics read x once (mean and variance from the same pass
 * of sums shifted by the first row, see fastnn_batch_norm_stats), the apply
 * reads x and writes y; the backward's sums read x and dy, its dx pass
 * reads them again and writes dx.
 */
#include <stdlib.h>

#include "internal.h"

/* ---- naive ---------------------------------------------------------------- */

void fastnn_batch_norm_stats_naive(const float *x, int64_t rows, int64_t channels,
                                   double *mean, double *var)
{
    for (int64_t c = 0; c < channels; c++) {
        double sum = 0.0, squares = 0.0;
        for (int64_t r = 0; r < rows; r++)
            sum += x[r * channels + c];
        double m = sum / (double)rows;
        for (int64_t r = 0; r < rows; r++) {
            double d = x[r * channels + c] - m;
            squares += d * d;
        }
        mean[c] = m;
        var[c] = squares / (double)rows;
    }
}

/* y of element i (channel c), before the ReLU: the naive apply's value. */
static float value_naive(const float *x, int64_t i, int64_t c, const double *mean,
                         const float *scale, const float *beta)
{
    return (float)((x[i] - mean[c]) * scale[c] + beta[c]);
}

void fastnn_batch_norm_apply_naive(const float *x, int64_t rows, int64_t channels,
                                   const double *mean, const float *scale,
                                   const float *beta, int relu, float *y)
{
    for (int64_t c = 0; c < channels; c++)
        for (int64_t r = 0; r < rows; r++) {
            float v = value_naive(x, r * channels + c, c, mean, scale, beta);
            y[r * channels + c] = relu && v < 0.0f ? 0.0f : v;
        }
}

/* dy[i], or 0 where the ReLU after batch norm cut its output (the naive
 * apply's y <= 0 or NaN); relu_scale == NULL: no ReLU. */
static double masked_naive(const float *x, const float *dy, int64_t i, int64_t c,
                           const double *mean, const float *relu_scale,
                           const float *relu_beta)
{
    return relu_scale == NULL || value_naive(x, i, c, mean, relu_scale, relu_beta) > 0.0f
        ? dy[i] : 0.0;
}

void fastnn_batch_norm_backward_naive(const float *x, const float *dy, int64_t rows,
                                      int64_t channels, const double *mean,
                                      const float *inv_std, const float *gamma,
                                      int batch_stats, const float *relu_scale,
                                      const float *relu_beta, float *dx,
                                      float *dgamma, float *dbeta)
{
    for (int64_t c = 0; c < channels; c++) {
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            double g = masked_naive(x, dy, r * channels + c, c, mean, relu_scale, relu_beta);
            sum_dy += g;
            sum_dy_xhat += g * (x[r * channels + c] - mean[c]) * inv_std[c];
        }
        dbeta[c] = (float)sum_dy;
        dgamma[c] = (float)sum_dy_xhat;
        if (dx == NULL)
            continue;
        double k = (double)gamma[c] * inv_std[c];
        for (int64_t r = 0; r < rows; r++) {
            double g = masked_naive(x, dy, r * channels + c, c, mean, relu_scale, relu_beta);
            if (batch_stats) {
                double x_hat = (x[r * channels + c] - mean[c]) * inv_std[c];
                g -= (sum_dy + x_hat * sum_dy_xhat) / (double)rows;
            }
            dx[r * channels + c] = (float)(k * g);
        }
    }
}

/* ---- fast ------------------------------------------------------------------ */

/* The widest tile (channels) of a variant; a block of the sums holds
 * BLOCK_ELEMENTS values of each array (64 KiB), at least one row. */
enum { MAX_TILE = 32, BLOCK_ELEMENTS = 16384 };

static int64_t block_rows(int64_t channels)
{
    return channels >= BLOCK_ELEMENTS ? 1 : BLOCK_ELEMENTS / channels;
}

/* Partial sums: `count` arrays of `channels` doubles for each of `parts`
 * row blocks, zeroed. */
static double *partials(int parts, int count, int64_t channels)
{
    return calloc((size_t)parts * (size_t)count * (size_t)channels, sizeof(double));
}

/* out[c] = sum over blocks of part[p][c] (part holds `stride` doubles per block). */
static void reduce_partials(const double *part, int parts, int64_t stride,
                            int64_t channels, double *out)
{
    for (int64_t c = 0; c < channels; c++) {
        double s = 0.0;
        for (int p = 0; p < parts; p++)
            s += part[p * stride + c];
        out[c] = s;
    }
}

static int threads_for_rows(int64_t rows, int64_t channels)
{
    int threads = fastnn_threads_for(2.0 * (double)(rows * channels));
    return (int)fastnn_min(threads, rows > 0 ? rows : 1);
}

static int parts_for_rows(int64_t rows, int64_t channels)
{
    return fastnn_parts_for(rows, 2.0 * (double)(rows * channels));
}

/* v as hi + lo, two floats: hi = (float)v, lo the rest rounded to float. */
static void split_double(double v, float *hi, float *lo)
{
    *hi = (float)v;
    *lo = (float)(v - *hi);
}

/* The apply's constants: y = ((x - hi) - lo) * scale + beta, with the tiny
 * lo term folded into the constant: y = (x - hi) * scale + shift, shift =
 * beta - lo * scale, one subtraction and one fused multiply-add per value
 * (normalised below).  The backward pass takes the same ones to recompute
 * y for the ReLU's mask. */
static void apply_constants(const double *mean, const float *scale, const float *beta,
                            int64_t channels, float *hi, float *shift)
{
    for (int64_t c = 0; c < channels; c++) {
        float lo;
        split_double(mean[c], &hi[c], &lo);
        shift[c] = (float)((double)beta[c] - (double)lo * scale[c]);
    }
}

/* y before the ReLU, as the apply pass computes it (and the backward pass
 * recomputes it: one expression, so one rounding on each SIMD path). */
FASTNN_INLINE float normalised(float x, float hi, float scale, float shift)
{
    return (x - hi) * scale + shift;
}

/* g where the ReLU's output y is > 0, else +0 (activation.c's relu_backward),
 * as a bitwise AND with the comparison's mask: GCC turns a plain select
 * (y > 0 ? g : 0) feeding the double sums into a branch, which mispredicts
 * half the time on real data (10x slower) and blocks vectorisation. */
FASTNN_INLINE float relu_masked(float g, float y)
{
    uint32_t bits;
    memcpy(&bits, &g, sizeof bits);
    bits &= -(uint32_t)(y > 0.0f);
    memcpy(&g, &bits, sizeof g);
    return g;
}

/* Per-channel constants of the elementwise passes and of the backward
 * sums.  apply: y = normalised(x, x_hi, a, d).  backward: dx = a * (g -
 * g_hi) + ab * (x - x_hi) + d, g = dy masked by normalised(x, x_hi, ra, rd)
 * > 0 when relu is set (ra, rd: the apply's scale and shift). */
typedef struct {
    int64_t channels;
    const float *a, *x_hi, *ab, *g_hi, *d;
    const float *ra, *rd;                   /* the ReLU's constants */
    int relu;                               /* apply: write relu(y); backward: mask dy */
    const float *dy;                        /* backward: dL/dy; NULL: the apply */
    const double *mean;                     /* backward sums: the centre */
} bn_constants;

/* dy of one value, masked by the recomputed ReLU output when relu is set
 * (hi, ra, rd: the channel's x_hi and the apply's scale and shift). */
FASTNN_INLINE float gradient_in(int relu, float g, float x, float hi, float ra, float rd)
{
    return relu ? relu_masked(g, normalised(x, hi, ra, rd)) : g;
}

/* The elementwise passes go row by row in memory order, each row tile by
 * tile (a full tile is a constant number of vectors, no loop test per
 * value), the constants read from their arrays: nothing to accumulate, so
 * nothing to keep in registers, and a stream the prefetchers follow (going
 * tile by tile down a block of rows was 20-40 % slower at 64 channels). */
#define EACH_TILE_OF_ROW(tile, channels, j, body)                       \
    do {                                                                \
        const int64_t full_ = (channels) - (channels) % (tile);         \
        for (int64_t c0_ = 0; c0_ < full_; c0_ += (tile))               \
            for (int64_t j = c0_; j < c0_ + (tile); j++)                \
                body;                                                   \
        for (int64_t j = full_; j < (channels); j++)                    \
            body;                                                       \
    } while (0)

/* apply over rows [r0, r1): y = normalised(x), then the ReLU */
FASTNN_INLINE void apply_rows(const float *restrict x, float *restrict y,
                              const bn_constants *k, int64_t tile, int relu, int64_t r0,
                              int64_t r1)
{
    const int64_t channels = k->channels;
    const float *restrict a = k->a, *restrict hi = k->x_hi, *restrict d = k->d;
    for (int64_t r = r0; r < r1; r++) {
        const float *in = x + r * channels;
        float *out = y + r * channels;
        EACH_TILE_OF_ROW(tile, channels, j, {
            float v = normalised(in[j], hi[j], a[j], d[j]);
            out[j] = relu && v < 0.0f ? 0.0f : v;
        });
    }
}

/* backward dx over rows [r0, r1) */
FASTNN_INLINE void dx_rows(const float *restrict x, const float *restrict dy,
                           float *restrict dx, const bn_constants *k, int64_t tile,
                           int relu, int64_t r0, int64_t r1)
{
    const int64_t channels = k->channels;
    const float *restrict a = k->a, *restrict hi = k->x_hi, *restrict ab = k->ab,
                *restrict g_hi = k->g_hi, *restrict d = k->d, *restrict ra = k->ra,
                *restrict rd = k->rd;
    for (int64_t r = r0; r < r1; r++) {
        const float *g = dy + r * channels, *in = x + r * channels;
        float *out = dx + r * channels;
        EACH_TILE_OF_ROW(tile, channels, j, {
            float gj = gradient_in(relu, g[j], in[j], hi[j], relu ? ra[j] : 0.0f,
                                   relu ? rd[j] : 0.0f);
            out[j] = a[j] * (gj - g_hi[j]) + ab[j] * (in[j] - hi[j]) + d[j];
        });
    }
}

/* An elementwise pass over rows [r0, r1): k->dy == NULL the apply, else
 * dx.  Each loop is called with relu constant, so every variant gets its
 * own branch-free loop. */
FASTNN_INLINE void rows_pass(const float *x, float *out, const bn_constants *k,
                             int64_t tile, int64_t r0, int64_t r1)
{
    if (k->dy && k->relu)
        dx_rows(x, k->dy, out, k, tile, 1, r0, r1);
    else if (k->dy)
        dx_rows(x, k->dy, out, k, tile, 0, r0, r1);
    else if (k->relu)
        apply_rows(x, out, k, tile, 1, r0, r1);
    else
        apply_rows(x, out, k, tile, 0, r0, r1);
}

/* The backward sums' constants of channels [c0, c0 + width), width <=
 * MAX_TILE, copied into registers for a block of rows. */
typedef struct {
    float x_hi[MAX_TILE], ra[MAX_TILE], rd[MAX_TILE];
} tile_constants;

FASTNN_INLINE void load_tile(const bn_constants *k, int relu, int64_t c0, int64_t width,
                             tile_constants *t)
{
    for (int64_t j = 0; j < width; j++)
        t->x_hi[j] = k->x_hi[c0 + j];
    if (relu) {
        for (int64_t j = 0; j < width; j++) {
            t->ra[j] = k->ra[c0 + j];
            t->rd[j] = k->rd[c0 + j];
        }
    }
}

/* The statistics' sums over rows [r0, r1) of a tile: per channel, the sum
 * of d = x - shift and of d * d, in double (shift = the first row, exact in
 * double, so d is too). */
FASTNN_INLINE void shifted_sums(const float *restrict x, const double *restrict shift,
                                int64_t channels, int64_t width, int64_t r0, int64_t r1,
                                double *restrict acc, double *restrict acc_sq)
{
    double s[MAX_TILE], q[MAX_TILE], centre[MAX_TILE];
    for (int64_t j = 0; j < width; j++) {
        s[j] = acc[j];
        q[j] = acc_sq[j];
        centre[j] = shift[j];
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *row = x + r * channels;
        for (int64_t j = 0; j < width; j++) {
            double d = (double)row[j] - centre[j];
            s[j] += d;
            q[j] += d * d;
        }
    }
    for (int64_t j = 0; j < width; j++) {
        acc[j] = s[j];
        acc_sq[j] = q[j];
    }
}

/* The backward pass's sums over rows [r0, r1) of a tile: acc_dy += g,
 * acc_dyx += g * (x - mean), g = dy masked by the ReLU when relu is set
 * (a constant at every call: the unmasked loop has no test in it). */
FASTNN_INLINE void gradient_sums(const float *restrict x, const float *restrict dy,
                                 const double *restrict mean, const tile_constants *t,
                                 int relu, int64_t channels, int64_t width, int64_t r0,
                                 int64_t r1, double *restrict acc_dy,
                                 double *restrict acc_dyx)
{
    double s[MAX_TILE], sx[MAX_TILE], centre[MAX_TILE];
    for (int64_t j = 0; j < width; j++) {
        s[j] = acc_dy[j];
        sx[j] = acc_dyx[j];
        centre[j] = mean[j];
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *g = dy + r * channels, *in = x + r * channels;
        for (int64_t j = 0; j < width; j++) {
            float gj = gradient_in(relu, g[j], in[j], t->x_hi[j], t->ra[j], t->rd[j]);
            s[j] += gj;
            sx[j] += (double)gj * (in[j] - centre[j]);
        }
    }
    for (int64_t j = 0; j < width; j++) {
        acc_dy[j] = s[j];
        acc_dyx[j] = sx[j];
    }
}

/* One tile's sums: k->dy == NULL the statistics (k->mean is then the
 * shift), else the backward's. */
FASTNN_INLINE void sum_tile(const float *x, const bn_constants *k, int64_t c0,
                            int64_t width, int64_t r0, int64_t r1, double *first,
                            double *second)
{
    const int64_t channels = k->channels;
    if (k->dy == NULL) {
        shifted_sums(x + c0, k->mean + c0, channels, width, r0, r1, first + c0,
                     second + c0);
        return;
    }
    tile_constants t;
    load_tile(k, k->relu, c0, width, &t);
    if (k->relu)
        gradient_sums(x + c0, k->dy + c0, k->mean + c0, &t, 1, channels, width, r0, r1,
                      first + c0, second + c0);
    else
        gradient_sums(x + c0, k->dy + c0, k->mean + c0, &t, 0, channels, width, r0, r1,
                      first + c0, second + c0);
}

/* The sums over rows [r0, r1), block by block, each block tile by tile,
 * tile channels wide (a constant: every full tile is a fixed number of
 * vectors, no loop over j); the channels left after the full tiles form
 * one narrower tile. */
FASTNN_INLINE void sums_pass(const float *x, const bn_constants *k, int64_t tile,
                             int64_t r0, int64_t r1, double *first, double *second)
{
    const int64_t channels = k->channels, full = channels - channels % tile;
    const int64_t step = block_rows(channels);
    for (int64_t b = r0; b < r1; b += step) {
        int64_t e = b + step < r1 ? b + step : r1;
        for (int64_t c0 = 0; c0 < full; c0 += tile)
            sum_tile(x, k, c0, tile, b, e, first, second);
        if (full < channels)
            sum_tile(x, k, full, channels - full, b, e, first, second);
    }
}

/* A pass over rows [r0, r1): the sums (first != NULL) or the elementwise
 * pass.  Tiles: 32 channels on AVX-512 (the double sums of a tile fill 8
 * of its 32 vector registers), 16 on AVX2 (16 registers), 8 generic. */
typedef void (*pass_fn)(const float *, float *, const bn_constants *, int64_t, int64_t,
                        double *, double *);

FASTNN_INLINE void pass_rows(const float *x, float *out, const bn_constants *k,
                             int64_t tile, int64_t r0, int64_t r1, double *first,
                             double *second)
{
    if (first)
        sums_pass(x, k, tile, r0, r1, first, second);
    else
        rows_pass(x, out, k, tile, r0, r1);
}

static void pass_generic(const float *x, float *out, const bn_constants *k, int64_t r0,
                         int64_t r1, double *first, double *second)
{
    pass_rows(x, out, k, 8, r0, r1, first, second);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void pass_avx2(const float *x, float *out, const bn_constants *k, int64_t r0,
                      int64_t r1, double *first, double *second)
{
    pass_rows(x, out, k, 16, r0, r1, first, second);
}

FASTNN_TARGET_AVX512
static void pass_avx512(const float *x, float *out, const bn_constants *k, int64_t r0,
                        int64_t r1, double *first, double *second)
{
    pass_rows(x, out, k, 32, r0, r1, first, second);
}
#endif

static pass_fn pass_for_cpu(void)
{
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        return pass_avx512;
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        return pass_avx2;
#endif
    return pass_generic;
}

/* One elementwise pass, rows split by the team that started. */
static void run_rows(const float *x, float *out, const bn_constants *k, int64_t rows)
{
    pass_fn body = pass_for_cpu();
    int threads = threads_for_rows(rows, k->channels);
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        body(x, out, k, rows * t / team, rows * (t + 1) / team, NULL, NULL);
    }
}

/* Both per-channel sums of a pass over all rows: each part of the rows
 * (fixed by the problem) into its own zeroed partials, then added in part
 * order into first[c] and second[c].  Returns FASTNN_ENOMEM or FASTNN_OK. */
static int sum_parts(const float *x, const bn_constants *k, int64_t rows, double *first,
                     double *second)
{
    const int64_t channels = k->channels;
    int parts = parts_for_rows(rows, channels);
    int threads = (int)fastnn_min(threads_for_rows(rows, channels), parts);
    double *part = partials(parts, 2, channels);
    if (part == NULL)
        return FASTNN_ENOMEM;
    pass_fn body = pass_for_cpu();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < parts; p++) {
        double *acc = part + 2 * p * channels;
        body(x, NULL, k, rows * p / parts, rows * (p + 1) / parts, acc, acc + channels);
    }
    reduce_partials(part, parts, 2 * channels, channels, first);
    reduce_partials(part + channels, parts, 2 * channels, channels, second);
    free(part);
    return FASTNN_OK;
}

int fastnn_batch_norm_apply(const float *x, int64_t rows, int64_t channels,
                            const double *mean, const float *scale,
                            const float *beta, int relu, float *y)
{
    float *hi = malloc(2 * (size_t)channels * sizeof(float)), *shift = hi + channels;
    if (hi == NULL)
        return FASTNN_ENOMEM;
    apply_constants(mean, scale, beta, channels, hi, shift);
    bn_constants k = {.channels = channels, .a = scale, .x_hi = hi, .d = shift,
                      .relu = relu};
    run_rows(x, y, &k, rows);
    free(hi);
    return FASTNN_OK;
}

/* One pass: with s = sum (x - shift), q = sum (x - shift)^2 over the n rows,
 * mean = shift + s / n and var = q / n - (s / n)^2.  The shift is a value of
 * the column, so s / n is of the order of the spread, not of the mean: no
 * cancellation worth the name (the float64 error of var is ~1e-16 times
 * (1 + ((mean - shift) / std)^2) relative). */
int fastnn_batch_norm_stats(const float *x, int64_t rows, int64_t channels,
                            double *mean, double *var)
{
    double *shift = malloc(3 * (size_t)channels * sizeof(double));
    if (shift == NULL)
        return FASTNN_ENOMEM;
    double *sum = shift + channels, *squares = sum + channels;
    for (int64_t c = 0; c < channels; c++)
        shift[c] = x[c];
    bn_constants k = {.channels = channels, .mean = shift};
    int status = sum_parts(x, &k, rows, sum, squares);
    if (status == FASTNN_OK) {
        for (int64_t c = 0; c < channels; c++) {
            double m = sum[c] / (double)rows, v = squares[c] / (double)rows - m * m;
            mean[c] = shift[c] + m;
            var[c] = v > 0.0 ? v : 0.0;
        }
    }
    free(shift);
    return status;
}

int fastnn_batch_norm_backward(const float *x, const float *dy, int64_t rows,
                               int64_t channels, const double *mean,
                               const float *inv_std, const float *gamma,
                               int batch_stats, const float *relu_scale,
                               const float *relu_beta, float *dx,
                               float *dgamma, float *dbeta)
{
    double *sums = malloc(2 * (size_t)channels * sizeof(double));
    float *k = malloc(6 * (size_t)channels * sizeof(float));
    if (sums == NULL || k == NULL) {
        free(sums);
        free(k);
        return FASTNN_ENOMEM;
    }
    float *a = k, *ab = k + channels, *x_hi = k + 2 * channels, *g_hi = k + 3 * channels,
          *d = k + 4 * channels, *relu_shift = k + 5 * channels;
    /* x_hi = (float)mean, and with the ReLU the apply's shift: the mask
     * recomputes the apply's y */
    int relu = relu_scale != NULL;
    if (relu)
        apply_constants(mean, relu_scale, relu_beta, channels, x_hi, relu_shift);
    else
        for (int64_t c = 0; c < channels; c++)
            x_hi[c] = (float)mean[c];
    /* pass 1: sum dy and sum dy*(x - mean), per part of the rows (dy masked
     * by the ReLU when relu_scale is given) */
    bn_constants in = {.channels = channels, .x_hi = x_hi, .ra = relu_scale,
                       .rd = relu_shift, .relu = relu, .dy = dy, .mean = mean};
    if (sum_parts(x, &in, rows, sums, sums + channels) != FASTNN_OK) {
        free(sums);
        free(k);
        return FASTNN_ENOMEM;
    }
    double *sum_dy = sums, *sum_dy_xhat = sums + channels;
    for (int64_t c = 0; c < channels; c++) {
        sum_dy_xhat[c] *= inv_std[c];
        dbeta[c] = (float)sum_dy[c];
        dgamma[c] = (float)sum_dy_xhat[c];
    }
    if (dx != NULL) {
        /* pass 2, centred: dx = a * ((dy - mean(dy)) + b * (x - mean)) with
         * a = gamma * inv_std, b = -inv_std * dgamma / n, both means as hi +
         * lo pairs and the lo terms folded into one constant:
         * dx = a * (dy - dy_hi) + ab * (x - x_hi) + d.  In inference
         * (constant statistics) b and the mean of dy are 0: dx = a * dy. */
        const double n = (double)rows;
        for (int64_t c = 0; c < channels; c++) {
            double ka = (double)gamma[c] * inv_std[c];
            double kb = batch_stats ? -(double)inv_std[c] * sum_dy_xhat[c] / n : 0.0;
            float x_lo = (float)(mean[c] - x_hi[c]), g_lo;
            split_double(batch_stats ? sum_dy[c] / n : 0.0, &g_hi[c], &g_lo);
            a[c] = (float)ka;
            ab[c] = (float)(ka * kb);
            d[c] = (float)(-ka * (g_lo + kb * x_lo));
        }
        bn_constants rk = in;
        rk.a = a;
        rk.ab = ab;
        rk.g_hi = g_hi;
        rk.d = d;
        run_rows(x, dx, &rk, rows);
    }
    free(sums);
    free(k);
    return FASTNN_OK;
}
