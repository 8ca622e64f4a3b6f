/*
 * dense.c -- the backward pass of a Dense layer, y = act(x . W + b), in one
 * call: the three gradients a training step needs from it.
 *
 *   dz = dy * act'(.)      from the layer's output y: ReLU's mask y > 0,
 *                          sigmoid's y (1 - y), tanh's 1 - y^2, ... (any
 *                          activation whose derivative y determines); dz = dy
 *                          when there is no activation to apply (y NULL)
 *   dW = x^T . dz          (k x n: one row per input feature)
 *   db = sum over rows of dz
 *   dx = dz . W^T          (m x k; skipped when dx is NULL: the first layer)
 *
 * with x (m x k), W (k x n), dy and y (m x n).  The derivative is one pass
 * of the activation kernels (activation.c), the two products run through
 * the blocked GEMM (gemm.c), parallel over tiles of the result, and the
 * column sums are one pass over dz.  Nothing here is faster than the
 * kernels it calls: the point is one trip from Python instead of five,
 * which is most of a step of a small model (the course's sigmoid MLP spends
 * more time calling kernels than running them).  The naive version composes
 * the naive pieces in the same order.
 */
#include "internal.h"

/* db[j] = sum_i dz[i, j], row by row so the inner loop runs along memory. */
static void column_sums(const float *dz, int64_t m, int64_t n, float *db)
{
    for (int64_t j = 0; j < n; j++)
        db[j] = 0.0f;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            db[j] += dz[i * n + j];
}

int fastnn_dense_backward(const float *x, const float *w, const float *dy,
                          const float *y, int act, float alpha, int64_t m,
                          int64_t k, int64_t n, float *dz, float *dx,
                          float *dw, float *db)
{
    if (y) {
        fastnn_activation_backward((fastnn_activation)act, alpha, y, dy, dz,
                                   m * n);
        dy = dz;
    }
    int status = fastnn_matmul(x, dy, NULL, dw, k, n, m, 1, 0, FASTNN_ACT_NONE, 0.0f);
    column_sums(dy, m, n, db);
    if (status == FASTNN_OK && dx)
        status = fastnn_matmul(dy, w, NULL, dx, m, k, n, 0, 1, FASTNN_ACT_NONE, 0.0f);
    return status;
}

void fastnn_dense_backward_naive(const float *x, const float *w,
                                 const float *dy, const float *y, int act,
                                 float alpha, int64_t m, int64_t k, int64_t n,
                                 float *dz, float *dx, float *dw, float *db)
{
    if (y) {
        fastnn_activation_backward_naive((fastnn_activation)act, alpha, y, dy, dz,
                                         m * n);
        dy = dz;
    }
    fastnn_matmul_naive(x, dy, NULL, dw, k, n, m, 1, 0, FASTNN_ACT_NONE, 0.0f);
    column_sums(dy, m, n, db);
    if (dx)
        fastnn_matmul_naive(dy, w, NULL, dx, m, k, n, 0, 1, FASTNN_ACT_NONE,
                            0.0f);
}
