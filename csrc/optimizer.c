/*
 * optimizer.c -- the Adam update of one weight array, naive and fast.
 *
 * Adam (Kingma & Ba 2015; course, chapters 7 and 9) keeps two moving
 * averages per weight, of the gradient g and of its square:
 *
 *   m = beta_1 m + (1 - beta_1) g
 *   v = beta_2 v + (1 - beta_2) g^2
 *   w = w - alpha m / (sqrt(v) + epsilon)
 *
 * with alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t) folding in the bias
 * correction (computed by the caller, once per step).  In NumPy that is ten
 * passes over the arrays and as many temporaries; here it is one pass that
 * reads g, m, v, w and writes m, v, w.  The fast version splits the array
 * into one contiguous range per thread (large layers only: small arrays stay
 * on one thread) and lets the compiler vectorise each range.
 */
#include <math.h>

#include "internal.h"

FASTNN_INLINE void adam_range(float *w, const float *g, float *m, float *v,
                              int64_t i0, int64_t i1, float beta_1,
                              float beta_2, float alpha, float epsilon)
{
    for (int64_t i = i0; i < i1; i++) {
        m[i] = beta_1 * m[i] + (1.0f - beta_1) * g[i];
        v[i] = beta_2 * v[i] + (1.0f - beta_2) * g[i] * g[i];
        w[i] -= alpha * m[i] / (sqrtf(v[i]) + epsilon);
    }
}

void fastnn_adam_update_naive(float *w, const float *g, float *m, float *v,
                              int64_t n, float beta_1, float beta_2,
                              float alpha, float epsilon)
{
    for (int64_t i = 0; i < n; i++) {
        m[i] = beta_1 * m[i] + (1.0f - beta_1) * g[i];
        v[i] = beta_2 * v[i] + (1.0f - beta_2) * g[i] * g[i];
        w[i] -= alpha * m[i] / (sqrtf(v[i]) + epsilon);
    }
}

void fastnn_adam_update(float *w, const float *g, float *m, float *v,
                        int64_t n, float beta_1, float beta_2, float alpha,
                        float epsilon)
{
    int threads = fastnn_threads_for(8.0 * (double)n);
    if (threads == 1) { /* no parallel region: it costs more than a small array */
        adam_range(w, g, m, v, 0, n, beta_1, beta_2, alpha, epsilon);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        adam_range(w, g, m, v, n * t / team, n * (t + 1) / team, beta_1,
                   beta_2, alpha, epsilon);
    }
}
