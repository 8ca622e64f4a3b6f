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
 * the same pass, and the backward pass, given that output r, reads dy
 * where r > 0 and 0 elsewhere (relu's derivative) wherever it reads dy:
 * no ReLU pass, no dL/dy array between the two.
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
 * Fast: row by row, so every pass streams the matrix once in memory order
 * with the channel loop innermost (contiguous, vectorised: 32 channels are
 * two AVX-512 vectors of floats, four of doubles).  The rows are cut into
 * blocks fixed by the problem (fastnn_parts_for), each with its own
 * per-channel partial sums (double, so 100,000 rows lose no precision),
 * added up in block order at the end: the same numbers on any number of
 * threads.  Every pass has a generic, an AVX2 and an AVX-512 variant.
 *
 * Memory traffic, the bound of every pass (n floats per array): the
 * statistics read x once (mean and variance from the same pass of sums
 * shifted by the first row, see fastnn_batch_norm_stats), the apply reads x
 * and writes y; the backward's sums read x, dy (and the ReLU's output), its
 * dx pass reads them again and writes dx.
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

void fastnn_batch_norm_apply_naive(const float *x, int64_t rows, int64_t channels,
                                   const double *mean, const float *scale,
                                   const float *beta, int relu, float *y)
{
    for (int64_t c = 0; c < channels; c++)
        for (int64_t r = 0; r < rows; r++) {
            float v = (float)((x[r * channels + c] - mean[c]) * scale[c] + beta[c]);
            y[r * channels + c] = relu && v < 0.0f ? 0.0f : v;
        }
}

/* dy[i], or 0 where the ReLU after batch norm cut its output (relu_y[i] <= 0). */
static inline double masked_naive(const float *dy, const float *relu_y, int64_t i)
{
    return relu_y == NULL || relu_y[i] > 0.0f ? dy[i] : 0.0;
}

void fastnn_batch_norm_backward_naive(const float *x, const float *dy, int64_t rows,
                                      int64_t channels, const double *mean,
                                      const float *inv_std, const float *gamma,
                                      int batch_stats, const float *relu_y, float *dx,
                                      float *dgamma, float *dbeta)
{
    for (int64_t c = 0; c < channels; c++) {
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            double g = masked_naive(dy, relu_y, r * channels + c);
            sum_dy += g;
            sum_dy_xhat += g * (x[r * channels + c] - mean[c]) * inv_std[c];
        }
        dbeta[c] = (float)sum_dy;
        dgamma[c] = (float)sum_dy_xhat;
        if (dx == NULL)
            continue;
        double k = (double)gamma[c] * inv_std[c];
        for (int64_t r = 0; r < rows; r++) {
            double g = masked_naive(dy, relu_y, r * channels + c);
            if (batch_stats) {
                double x_hat = (x[r * channels + c] - mean[c]) * inv_std[c];
                g -= (sum_dy + x_hat * sum_dy_xhat) / (double)rows;
            }
            dx[r * channels + c] = (float)(k * g);
        }
    }
}

/* ---- fast ------------------------------------------------------------------ */

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

/* The two elementwise passes over rows [r0, r1), written once and compiled
 * per instruction set (FMA on the AVX2 path).  `relu` (apply) and `relu_y`
 * (backward; NULL: no ReLU) are the fused ReLU; rows_pass calls each loop
 * with them constant, so every variant gets its own branch-free loop. */
typedef struct {
    int64_t channels;
    const float *a, *x_hi, *ab, *g_hi, *d;  /* per-channel constants */
    int relu;                               /* apply: write relu(y) */
    const float *relu_y;                    /* backward: the ReLU's output */
} row_constants;

/* apply: y = (x - x_hi) * a + d (a = scale, d = the shift), then the ReLU */
FASTNN_INLINE void apply_rows(const float *x, float *y, const row_constants *k,
                              int relu, int64_t r0, int64_t r1)
{
    const int64_t channels = k->channels;
    for (int64_t r = r0; r < r1; r++) {
        const float *in = x + r * channels;
        float *out = y + r * channels;
        for (int64_t c = 0; c < channels; c++) {
            float v = (in[c] - k->x_hi[c]) * k->a[c] + k->d[c];
            out[c] = relu && v < 0.0f ? 0.0f : v;
        }
    }
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

/* backward: dx = a * (g - g_hi) + ab * (x - x_hi) + d */
FASTNN_INLINE float dx_value(const row_constants *k, int64_t c, float g, float x)
{
    return k->a[c] * (g - k->g_hi[c]) + k->ab[c] * (x - k->x_hi[c]) + k->d[c];
}

/* backward over rows [r0, r1): g = dy, masked by the ReLU's output
 * (relu_y > 0) when relu_y is given */
FASTNN_INLINE void backward_rows(const float *x, const float *dy, const float *relu_y,
                                 float *dx, const row_constants *k, int64_t r0, int64_t r1)
{
    const int64_t channels = k->channels;
    for (int64_t r = r0; r < r1; r++) {
        const float *g = dy + r * channels, *in = x + r * channels;
        float *out = dx + r * channels;
        if (relu_y) {
            const float *y = relu_y + r * channels;
            for (int64_t c = 0; c < channels; c++)
                out[c] = dx_value(k, c, relu_masked(g[c], y[c]), in[c]);
        } else {
            for (int64_t c = 0; c < channels; c++)
                out[c] = dx_value(k, c, g[c], in[c]);
        }
    }
}

/* dy == NULL: the apply pass over x into out; else the backward pass. */
FASTNN_INLINE void rows_pass(const float *x, const float *dy, float *out,
                             const row_constants *k, int64_t r0, int64_t r1)
{
    if (dy && k->relu_y)
        backward_rows(x, dy, k->relu_y, out, k, r0, r1);
    else if (dy)
        backward_rows(x, dy, NULL, out, k, r0, r1);
    else if (k->relu)
        apply_rows(x, out, k, 1, r0, r1);
    else
        apply_rows(x, out, k, 0, r0, r1);
}

typedef void (*rows_fn)(const float *, const float *, float *, const row_constants *,
                        int64_t, int64_t);

static void rows_generic(const float *x, const float *dy, float *out,
                         const row_constants *k, int64_t r0, int64_t r1)
{
    rows_pass(x, dy, out, k, r0, r1);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void rows_avx2(const float *x, const float *dy, float *out,
                      const row_constants *k, int64_t r0, int64_t r1)
{
    rows_pass(x, dy, out, k, r0, r1);
}

FASTNN_TARGET_AVX512
static void rows_avx512(const float *x, const float *dy, float *out,
                        const row_constants *k, int64_t r0, int64_t r1)
{
    rows_pass(x, dy, out, k, r0, r1);
}
#endif

/* One elementwise pass, rows split by the team that started. */
static void run_rows(const float *x, const float *dy, float *out,
                     const row_constants *k, int64_t rows)
{
    rows_fn body = rows_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        body = rows_avx512;
    else if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        body = rows_avx2;
#endif
    int threads = threads_for_rows(rows, k->channels);
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        body(x, dy, out, k, rows * t / team, rows * (t + 1) / team);
    }
}

/* y = ((x - hi) - lo) * scale + beta, with the tiny lo term folded into the
 * constant: y = (x - hi) * scale + (beta - lo * scale), one subtraction and
 * one fused multiply-add per value. */
int fastnn_batch_norm_apply(const float *x, int64_t rows, int64_t channels,
                            const double *mean, const float *scale,
                            const float *beta, int relu, float *y)
{
    float *hi = malloc(2 * (size_t)channels * sizeof(float)), *shift = hi + channels;
    if (hi == NULL)
        return FASTNN_ENOMEM;
    for (int64_t c = 0; c < channels; c++) {
        float lo;
        split_double(mean[c], &hi[c], &lo);
        shift[c] = (float)((double)beta[c] - (double)lo * scale[c]);
    }
    row_constants k = {channels, scale, hi, NULL, NULL, shift, relu, NULL};
    run_rows(x, NULL, y, &k, rows);
    free(hi);
    return FASTNN_OK;
}

/* One pass of the statistics over rows [r0, r1): per channel, the sum of
 * d = x - shift and of d * d, in double (shift = the first row, exact in
 * double, so d is too). */
FASTNN_INLINE void shifted_sums(const float *restrict x, const double *restrict shift,
                                int64_t channels, int64_t r0, int64_t r1,
                                double *restrict acc, double *restrict acc_sq)
{
    for (int64_t r = r0; r < r1; r++) {
        const float *row = x + r * channels;
        for (int64_t c = 0; c < channels; c++) {
            double d = (double)row[c] - shift[c];
            acc[c] += d;
            acc_sq[c] += d * d;
        }
    }
}

/* The backward pass's sums over rows [r0, r1): acc_dy += g, acc_dyx += g *
 * (x - mean), g = dy masked by relu_y > 0 when relu_y is given (callers pass
 * NULL as a constant, so the unmasked loop has no test in it). */
FASTNN_INLINE void gradient_sums(const float *restrict x, const float *restrict dy,
                                 const float *restrict relu_y, const double *restrict mean,
                                 int64_t channels, int64_t r0, int64_t r1,
                                 double *restrict acc_dy, double *restrict acc_dyx)
{
    for (int64_t r = r0; r < r1; r++) {
        const float *g = dy + r * channels, *in = x + r * channels;
        if (relu_y) {
            const float *y = relu_y + r * channels;
            for (int64_t c = 0; c < channels; c++) {
                float gc = relu_masked(g[c], y[c]);
                acc_dy[c] += gc;
                acc_dyx[c] += (double)gc * (in[c] - mean[c]);
            }
        } else {
            for (int64_t c = 0; c < channels; c++) {
                acc_dy[c] += g[c];
                acc_dyx[c] += (double)g[c] * (in[c] - mean[c]);
            }
        }
    }
}

/* Which sums a pass of sum_rows takes: the statistics, or the backward's. */
typedef struct {
    const float *x, *dy, *relu_y;  /* dy == NULL: the statistics */
    const double *centre;          /* shift (statistics) or mean (backward) */
    int64_t channels;
} sum_inputs;

FASTNN_INLINE void sum_rows(const sum_inputs *in, int64_t r0, int64_t r1,
                            double *first, double *second)
{
    if (in->dy == NULL)
        shifted_sums(in->x, in->centre, in->channels, r0, r1, first, second);
    else if (in->relu_y)
        gradient_sums(in->x, in->dy, in->relu_y, in->centre, in->channels, r0, r1,
                      first, second);
    else
        gradient_sums(in->x, in->dy, NULL, in->centre, in->channels, r0, r1,
                      first, second);
}

typedef void (*sums_fn)(const sum_inputs *, int64_t, int64_t, double *, double *);

static void sums_generic(const sum_inputs *in, int64_t r0, int64_t r1, double *first,
                         double *second)
{
    sum_rows(in, r0, r1, first, second);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void sums_avx2(const sum_inputs *in, int64_t r0, int64_t r1, double *first,
                      double *second)
{
    sum_rows(in, r0, r1, first, second);
}

FASTNN_TARGET_AVX512
static void sums_avx512(const sum_inputs *in, int64_t r0, int64_t r1, double *first,
                        double *second)
{
    sum_rows(in, r0, r1, first, second);
}
#endif

/* Both per-channel sums of a pass over all rows: each block of rows (fixed
 * by the problem) into its own zeroed partials, then added in block order
 * into first[c] and second[c].  Returns FASTNN_ENOMEM or FASTNN_OK. */
static int sum_blocks(const sum_inputs *in, int64_t rows, double *first, double *second)
{
    const int64_t channels = in->channels;
    int parts = parts_for_rows(rows, channels);
    int threads = (int)fastnn_min(threads_for_rows(rows, channels), parts);
    double *part = partials(parts, 2, channels);
    if (part == NULL)
        return FASTNN_ENOMEM;
    sums_fn body = sums_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        body = sums_avx512;
    else if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        body = sums_avx2;
#endif
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < parts; p++) {
        double *acc = part + 2 * p * channels;
        body(in, rows * p / parts, rows * (p + 1) / parts, acc, acc + channels);
    }
    reduce_partials(part, parts, 2 * channels, channels, first);
    reduce_partials(part + channels, parts, 2 * channels, channels, second);
    free(part);
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
    sum_inputs in = {x, NULL, NULL, shift, channels};
    int status = sum_blocks(&in, rows, sum, squares);
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
                               int batch_stats, const float *relu_y, float *dx,
                               float *dgamma, float *dbeta)
{
    double *sums = malloc(2 * (size_t)channels * sizeof(double));
    float *k = malloc(5 * (size_t)channels * sizeof(float));
    /* pass 1: sum dy and sum dy*(x - mean), per block of rows (dy masked
     * by the ReLU's output when relu_y is given) */
    sum_inputs in = {x, dy, relu_y, mean, channels};
    if (sums == NULL || k == NULL
            || sum_blocks(&in, rows, sums, sums + channels) != FASTNN_OK) {
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
         * (constant statistics) b and the means are 0: dx = a * dy. */
        float *a = k, *ab = k + channels, *x_hi = k + 2 * channels,
              *g_hi = k + 3 * channels, *d = k + 4 * channels;
        const double n = (double)rows;
        for (int64_t c = 0; c < channels; c++) {
            double ka = (double)gamma[c] * inv_std[c];
            double kb = batch_stats ? -(double)inv_std[c] * sum_dy_xhat[c] / n : 0.0;
            float x_lo, g_lo;
            split_double(batch_stats ? mean[c] : 0.0, &x_hi[c], &x_lo);
            split_double(batch_stats ? sum_dy[c] / n : 0.0, &g_hi[c], &g_lo);
            a[c] = (float)ka;
            ab[c] = (float)(ka * kb);
            d[c] = (float)(-ka * (g_lo + kb * x_lo));
        }
        row_constants rk = {channels, a, x_hi, ab, g_hi, d, 0, relu_y};
        run_rows(x, dy, dx, &rk, rows);
    }
    free(sums);
    free(k);
    return FASTNN_OK;
}
