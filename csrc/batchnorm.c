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
 * Precision.  Data whose mean is large against its spread (raw pixel values,
 * sensor readings: std 0.01 around 1,000) is where batch norm matters most
 * and where float32 cancels: expanded to y = x * scale + shift, the two large
 * terms cancel and the error grows with |mean| / std (1e-3 relative at
 * 1,000).  So everything is computed in the centred form, x - mean first,
 * and the mean is kept in double (a float32 mean alone is off by half a unit
 * in the last place, 5e-4 at 10,000: 5 % of a std of 0.01).  The SIMD loops
 * stay in float: the mean is split into hi = (float)mean and lo =
 * (float)(mean - hi), and (x - hi) - lo is the centred value to float
 * precision (x - hi is exact when x is within a factor 2 of hi).  The
 * backward pass centres dy around its mean the same way.
 *
 * Naive: column by column, one pass per sum, everything in double.
 * Fast: row by row, so every pass streams the matrix once in memory order
 * with the channel loop innermost (contiguous, vectorised).  The rows are
 * cut into blocks fixed by the problem (fastnn_parts_for), each with its own
 * per-channel partial sums (double, so 100,000 rows lose no precision),
 * added up in block order at the end: the same numbers on any number of
 * threads.  The variance is a second pass over the centred values (no
 * cancellation from E[x^2]-E[x]^2).
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
                                   const float *beta, float *y)
{
    for (int64_t c = 0; c < channels; c++)
        for (int64_t r = 0; r < rows; r++)
            y[r * channels + c] =
                (float)((x[r * channels + c] - mean[c]) * scale[c] + beta[c]);
}

void fastnn_batch_norm_backward_naive(const float *x, const float *dy, int64_t rows,
                                      int64_t channels, const double *mean,
                                      const float *inv_std, const float *gamma,
                                      int batch_stats, float *dx, float *dgamma,
                                      float *dbeta)
{
    for (int64_t c = 0; c < channels; c++) {
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            double g = dy[r * channels + c];
            sum_dy += g;
            sum_dy_xhat += g * (x[r * channels + c] - mean[c]) * inv_std[c];
        }
        dbeta[c] = (float)sum_dy;
        dgamma[c] = (float)sum_dy_xhat;
        if (dx == NULL)
            continue;
        double k = (double)gamma[c] * inv_std[c];
        for (int64_t r = 0; r < rows; r++) {
            double g = dy[r * channels + c];
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

int fastnn_batch_norm_stats(const float *x, int64_t rows, int64_t channels,
                            double *mean, double *var)
{
    int parts = parts_for_rows(rows, channels);
    int threads = (int)fastnn_min(threads_for_rows(rows, channels), parts);
    double *part = partials(parts, 1, channels);
    double *total = malloc((size_t)channels * sizeof(double));
    if (part == NULL || total == NULL) {
        free(part);
        free(total);
        return FASTNN_ENOMEM;
    }
    /* pass 1: column sums -> mean; pass 2: centred squares -> variance */
    for (int pass = 0; pass < 2; pass++) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int p = 0; p < parts; p++) {
            double *acc = part + p * channels;
            for (int64_t c = 0; c < channels; c++)
                acc[c] = 0.0;
            for (int64_t r = rows * p / parts; r < rows * (p + 1) / parts; r++) {
                const float *row = x + r * channels;
                if (pass == 0) {
                    for (int64_t c = 0; c < channels; c++)
                        acc[c] += row[c];
                } else {
                    for (int64_t c = 0; c < channels; c++) {
                        double d = row[c] - total[c];
                        acc[c] += d * d;
                    }
                }
            }
        }
        reduce_partials(part, parts, channels, channels, total);
        for (int64_t c = 0; c < channels; c++) {
            total[c] /= (double)rows;
            if (pass == 0)
                mean[c] = total[c];
            else
                var[c] = total[c];
        }
    }
    free(part);
    free(total);
    return FASTNN_OK;
}

/* v as hi + lo, two floats: hi = (float)v, lo the rest rounded to float. */
static void split_double(double v, float *hi, float *lo)
{
    *hi = (float)v;
    *lo = (float)(v - *hi);
}

int fastnn_batch_norm_apply(const float *x, int64_t rows, int64_t channels,
                            const double *mean, const float *scale,
                            const float *beta, float *y)
{
    float *hi = malloc(2 * (size_t)channels * sizeof(float)), *lo = hi + channels;
    if (hi == NULL)
        return FASTNN_ENOMEM;
    for (int64_t c = 0; c < channels; c++)
        split_double(mean[c], &hi[c], &lo[c]);
    int threads = threads_for_rows(rows, channels);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *in = x + r * channels;
        float *out = y + r * channels;
        for (int64_t c = 0; c < channels; c++)
            out[c] = ((in[c] - hi[c]) - lo[c]) * scale[c] + beta[c];
    }
    free(hi);
    return FASTNN_OK;
}

int fastnn_batch_norm_backward(const float *x, const float *dy, int64_t rows,
                               int64_t channels, const double *mean,
                               const float *inv_std, const float *gamma,
                               int batch_stats, float *dx, float *dgamma,
                               float *dbeta)
{
    int parts = parts_for_rows(rows, channels);
    int threads = threads_for_rows(rows, channels);
    double *part = partials(parts, 2, channels);
    double *sums = malloc(2 * (size_t)channels * sizeof(double));
    float *k = malloc(6 * (size_t)channels * sizeof(float));
    if (part == NULL || sums == NULL || k == NULL) {
        free(part);
        free(sums);
        free(k);
        return FASTNN_ENOMEM;
    }
    /* pass 1: sum dy and sum dy*(x - mean), per block of rows */
#pragma omp parallel for num_threads((int)fastnn_min(threads, parts)) schedule(static)
    for (int p = 0; p < parts; p++) {
        double *acc_dy = part + 2 * p * channels, *acc_dyx = acc_dy + channels;
        for (int64_t r = rows * p / parts; r < rows * (p + 1) / parts; r++) {
            const float *g = dy + r * channels, *in = x + r * channels;
            for (int64_t c = 0; c < channels; c++) {
                acc_dy[c] += g[c];
                acc_dyx[c] += (double)g[c] * (in[c] - mean[c]);
            }
        }
    }
    double *sum_dy = sums, *sum_dy_xhat = sums + channels;
    reduce_partials(part, parts, 2 * channels, channels, sum_dy);
    reduce_partials(part + channels, parts, 2 * channels, channels, sum_dy_xhat);
    for (int64_t c = 0; c < channels; c++) {
        sum_dy_xhat[c] *= inv_std[c];
        dbeta[c] = (float)sum_dy[c];
        dgamma[c] = (float)sum_dy_xhat[c];
    }
    if (dx != NULL) {
        /* pass 2, centred: dx = a * ((dy - mean(dy)) + b * (x - mean)) with
         * a = gamma * inv_std, b = -inv_std * dgamma / n; both means as
         * hi + lo pairs.  In inference (constant statistics) dx = a * dy. */
        float *a = k, *b = k + channels, *x_hi = k + 2 * channels,
              *x_lo = k + 3 * channels, *g_hi = k + 4 * channels,
              *g_lo = k + 5 * channels;
        const double n = (double)rows;
        for (int64_t c = 0; c < channels; c++) {
            a[c] = (float)((double)gamma[c] * inv_std[c]);
            b[c] = batch_stats ? (float)(-(double)inv_std[c] * sum_dy_xhat[c] / n) : 0.0f;
            split_double(batch_stats ? mean[c] : 0.0, &x_hi[c], &x_lo[c]);
            split_double(batch_stats ? sum_dy[c] / n : 0.0, &g_hi[c], &g_lo[c]);
        }
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *g = dy + r * channels, *in = x + r * channels;
            float *out = dx + r * channels;
            for (int64_t c = 0; c < channels; c++)
                out[c] = a[c] * (((g[c] - g_hi[c]) - g_lo[c]) +
                                 b[c] * ((in[c] - x_hi[c]) - x_lo[c]));
        }
    }
    free(part);
    free(sums);
    free(k);
    return FASTNN_OK;
}
