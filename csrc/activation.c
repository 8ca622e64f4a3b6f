/*
 * activation.c -- ReLU and its gradient over a whole array, naive and fast.
 *
 *   relu            y  = max(x, 0)
 *   relu_backward   dx = dy where y > 0, else 0   (y is relu's output:
 *                   y > 0 exactly where x > 0, and relu'(0) = 0 as in Keras)
 *
 * NaN stays NaN in the forward pass (only x < 0 becomes 0), so a diverged
 * net stays visible.  Both are one pass over memory: the fast version cuts
 * the array into one contiguous range per thread and lets the compiler
 * vectorise each range.  The naive backward reads dy only where y > 0, a
 * branch the CPU mispredicts half the time on real data; the fast one
 * reads every dy and selects, which compiles to vector blends (about 10x
 * faster on one core).  A
 * convolution followed by ReLU does not need `relu` at all: the activation
 * is fused into the convolution's epilogue (conv2d.c, conv2d_direct.c).
 */
#include "internal.h"

void fastnn_relu_naive(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void fastnn_relu_backward_naive(const float *y, const float *dy, float *dx,
                                int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* The fast loops over one range [i0, i1): what each thread runs. */
static void relu_range(const float *x, float *y, int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

static void relu_backward_range(const float *y, const float *dy, float *dx,
                                int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i++) {
        float g = dy[i]; /* read unconditionally: the select vectorises */
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

/* Small arrays (one thread's worth) skip the parallel region: opening one
 * costs about half a microsecond even for a team of one, more than ReLU on
 * a Dense layer of the course's MLP takes. */
void fastnn_relu(const float *x, float *y, int64_t n)
{
    int threads = fastnn_threads_for((double)n);
    if (threads == 1) {
        relu_range(x, y, 0, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        relu_range(x, y, n * t / team, n * (t + 1) / team);
    }
}

void fastnn_relu_backward(const float *y, const float *dy, float *dx,
                          int64_t n)
{
    int threads = fastnn_threads_for((double)n);
    if (threads == 1) {
        relu_backward_range(y, dy, dx, 0, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        relu_backward_range(y, dy, dx, n * t / team, n * (t + 1) / team);
    }
}
