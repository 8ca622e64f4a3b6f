/*
 * dense.c -- a Dense layer, y = act(x . W + b), forward and backward, each
 * in one call.
 *
 * Forward: y = act(x . W + b), the product with the bias and the activation
 * applied in its epilogue (fastnn_matmul).
 *
 * Backward: the three gradients a training step needs from the layer,
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
 * fastnn_matmul (the blocked GEMM, gemm.c, or the kernels for few columns,
 * gemm_skinny.c), parallel over tiles of the result, and the column sums are
 * one pass over dz.  The point is one trip from Python instead of five,
 * which is most of a step of a small model (the course's sigmoid MLP spends
 * more time calling kernels than running them).
 *
 * Threads: a Dense layer's products are small next to what waking a second
 * thread costs, so both passes decide their team themselves (dense_team,
 * below) and cap the kernels they call at it (fastnn_cap_threads).  The
 * bits do not depend on it: no kernel lets the team decide a sum's order.
 * The naive versions compose the naive pieces in the same order.
 */
#include "internal.h"

/* A product's floating-point operations each thread must get before a
 * Dense layer's passes take a second one.  Measured on the 2-core Zen 4
 * (OMP_WAIT_POLICY=PASSIVE, the forward product with bias and tanh, one
 * thread against two, microseconds): 64x512x10 (0.66 MFLOP, a classifier
 * head) 24 against 141; 32x784x100 (5 MFLOP) 85 against 152; 64x512x128
 * (8.4 MFLOP) 116 against 150; at 16.8 MFLOP it depends on the shape
 * (64x512x256: 197 against 169, 32x512x512: 216 against 254); from 26
 * MFLOP on two threads win (128x512x256: 346 against 261).  The backward
 * pass's products, of the same size, crossed over at the same point.  The
 * general threshold (fastnn_threads_for: 2e5 operations per thread) counts
 * the wake-up of a thread alone; for these products the second thread
 * also fetches operands that sit in the first core's cache and packs its
 * own copy of B, which costs more than the product below ~8 MFLOP a
 * thread. */
static const double min_flops_per_thread = 8e6;

int fastnn_dense_threads(int64_t m, int64_t k, int64_t n)
{
    double useful = 2.0 * (double)m * (double)k * (double)n / min_flops_per_thread;
    int wanted = fastnn_get_num_threads();
    int threads = useful < (double)wanted ? (int)useful : wanted;
    return threads < 1 ? 1 : threads;
}

int fastnn_dense_forward(const float *x, const float *w, const float *b,
                         int act, float alpha, int64_t m, int64_t k, int64_t n,
                         float *y)
{
    int cap = fastnn_cap_threads(fastnn_dense_threads(m, k, n));
    int status = fastnn_matmul(x, w, b, y, m, n, k, 0, 0, act, alpha);
    fastnn_cap_threads(cap);
    return status;
}

void fastnn_dense_forward_naive(const float *x, const float *w, const float *b,
                                int act, float alpha, int64_t m, int64_t k,
                                int64_t n, float *y)
{
    fastnn_matmul_naive(x, w, b, y, m, n, k, 0, 0, act, alpha);
}

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
    int cap = fastnn_cap_threads(fastnn_dense_threads(m, k, n));
    if (y) {
        fastnn_activation_backward((fastnn_activation)act, alpha, y, dy, dz,
                                   m * n);
        dy = dz;
    }
    int status = fastnn_matmul(x, dy, NULL, dw, k, n, m, 1, 0, FASTNN_ACT_NONE, 0.0f);
    column_sums(dy, m, n, db);
    if (status == FASTNN_OK && dx)
        status = fastnn_matmul(dy, w, NULL, dx, m, k, n, 0, 1, FASTNN_ACT_NONE, 0.0f);
    fastnn_cap_threads(cap);
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
