/*
 * softmax.c -- softmax along the rows of a matrix (the class axis of a
 * classifier's output), naive and fast.
 *
 *   y[i, j] = exp(x[i, j] - m_i) / sum_k exp(x[i, k] - m_i),  m_i = max_k x[i, k]
 *
 * Subtracting the row's maximum changes nothing mathematically and keeps
 * exp from overflowing: softmax([1000, 1000]) = [0.5, 0.5].  A NaN in a row
 * makes the whole row NaN (its exponential enters the sum), as in NumPy.
 *
 * Naive: the formula as written, exp evaluated twice per value (once for
 * the sum, once for the output).  Fast: the exponentials are written to y
 * as they are summed, then scaled by 1/sum -- one exp per value -- and the
 * rows are split across threads when there are enough of them (predicting
 * 10,000 images at once); a training batch of 10 rows runs on one thread,
 * where the point is one C call instead of five NumPy passes.
 */
#include <math.h>

#include "internal.h"

static float row_max(const float *x, int64_t n)
{
    float m = x[0];
    for (int64_t j = 1; j < n; j++)
        m = x[j] > m ? x[j] : m;
    return m;
}

void fastnn_softmax_naive(const float *x, float *y, int64_t rows, int64_t n)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * n;
        float m = row_max(xi, n), sum = 0.0f;
        for (int64_t j = 0; j < n; j++)
            sum += expf(xi[j] - m);
        for (int64_t j = 0; j < n; j++)
            y[i * n + j] = expf(xi[j] - m) / sum;
    }
}

static void softmax_rows(const float *x, float *y, int64_t n, int64_t i0,
                         int64_t i1)
{
    for (int64_t i = i0; i < i1; i++) {
        const float *xi = x + i * n;
        float *yi = y + i * n;
        float m = row_max(xi, n), sum = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            yi[j] = expf(xi[j] - m);
            sum += yi[j];
        }
        float scale = 1.0f / sum;
        for (int64_t j = 0; j < n; j++)
            yi[j] *= scale;
    }
}

void fastnn_softmax(const float *x, float *y, int64_t rows, int64_t n)
{
    /* an exp costs about 20 simple operations */
    int threads = fastnn_threads_for(20.0 * (double)(rows * n));
    if (threads > rows)
        threads = (int)(rows > 0 ? rows : 1);
    if (threads == 1) {
        softmax_rows(x, y, n, 0, rows);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        softmax_rows(x, y, n, rows * t / team, rows * (t + 1) / team);
    }
}
