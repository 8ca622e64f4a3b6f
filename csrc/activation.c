/*
 * activation.c -- the elementwise activations and their gradients over a
 * whole array, naive and fast: ReLU first, then every other one (below).
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
 * convolution or Dense layer followed by an activation does not need this
 * file's passes at all: the activation is fused into the kernel's epilogue
 * (conv2d_direct.c, conv2d_indirect.c, gemm.c; fastnn_epilogue_of below).
 */
#include <math.h>
#include <string.h>

#include "activation_math.h"
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

/* ---- every other elementwise activation ------------------------------------
 *
 *   tanh          y = tanh x                      dx = dy (1 - y^2)
 *   sigmoid       y = 1 / (1 + e^-x)              dx = dy y (1 - y)
 *   elu           y = x > 0 ? x : a (e^x - 1)     dx = dy (y > 0 ? 1 : y + a)
 *   selu          y = L elu(x, A)                 dx = dy (y > 0 ? L : y + L A)
 *   softplus      y = log(1 + e^x)                dx = dy (1 - e^-y)
 *   softsign      y = x / (1 + |x|)               dx = dy (1 - |y|)^2
 *   hard_sigmoid  y = clip(0.2 x + 0.5, 0, 1)     dx = dy (0 < y < 1 ? 0.2 : 0)
 *   leaky_relu    y = x > 0 ? x : a x             dx = dy (y > 0 ? 1 : a)
 *   exponential   y = e^x                         dx = dy y
 *   silu          y = x sigmoid(x)                dx = dy s (1 + x (1 - s)), s = sigmoid(x)
 *   gelu_tanh     y = x sigmoid(2u),              dx = dy (s + 2 x s (1 - s) u'),
 *                 u = sqrt(2/pi) (x + 0.044715 x^3), s = sigmoid(2u)
 *
 * (a = alpha, the argument: elu's alpha > 0, leaky_relu's slope >= 0; L and
 * A are selu's constants.)  The backward passes read the forward output y,
 * so a layer may apply the activation in place on its kernel's output and
 * keep nothing else; silu and gelu_tanh, whose derivative is no function of
 * y, read the input x (fastnn_activation_reads_input).
 *
 * Naive: the formulas with libm (expf, expm1f, tanhf, log1pf), element by
 * element.  Fast: the vectorisable math of activation_math.h, one loop per
 * activation instantiated for AVX-512, AVX2+FMA and baseline x86-64, the
 * array cut into one contiguous range per thread (so any thread count gives
 * the same bits).  y may be x and dx may be dy (in place).
 */
#define SELU_ALPHA 1.6732632423543772f
#define SELU_SCALE 1.0507009873554805f
#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_K 0.044715f

int fastnn_activation_reads_input(fastnn_activation f)
{
    return f == FASTNN_ACT_SILU || f == FASTNN_ACT_GELU_TANH;
}

/* ---- naive ---- */

static float sigmoid_naive(float x)
{
    return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

static float forward_naive(fastnn_activation f, float a, float x)
{
    switch (f) {
    case FASTNN_ACT_TANH: return tanhf(x);
    case FASTNN_ACT_SIGMOID: return sigmoid_naive(x);
    case FASTNN_ACT_ELU: return x > 0.0f ? x : a * expm1f(x);
    case FASTNN_ACT_SELU: return SELU_SCALE * (x > 0.0f ? x : SELU_ALPHA * expm1f(x));
    case FASTNN_ACT_SOFTPLUS: return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
    case FASTNN_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case FASTNN_ACT_HARD_SIGMOID: { /* not fminf/fmaxf: they drop NaN */
        float v = 0.2f * x + 0.5f;
        return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    }
    case FASTNN_ACT_LEAKY_RELU: return x > 0.0f ? x : a * x;
    case FASTNN_ACT_EXPONENTIAL: return expf(x);
    case FASTNN_ACT_SILU: return x * sigmoid_naive(x);
    case FASTNN_ACT_GELU_TANH:
        return x * sigmoid_naive(2.0f * GELU_C * (x + GELU_K * x * x * x));
    case FASTNN_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case FASTNN_ACT_NONE: return x;
    }
    return x;
}

/* f'(.) from y, or from x for the two that read the input */
static float derivative_naive(fastnn_activation f, float a, float v)
{
    switch (f) {
    case FASTNN_ACT_TANH: return 1.0f - v * v;
    case FASTNN_ACT_SIGMOID: return v * (1.0f - v);
    case FASTNN_ACT_ELU: return v > 0.0f ? 1.0f : v + a;
    case FASTNN_ACT_SELU: return v > 0.0f ? SELU_SCALE : v + SELU_SCALE * SELU_ALPHA;
    case FASTNN_ACT_SOFTPLUS: return -expm1f(-v);
    case FASTNN_ACT_SOFTSIGN: return (1.0f - fabsf(v)) * (1.0f - fabsf(v));
    case FASTNN_ACT_HARD_SIGMOID: return v > 0.0f && v < 1.0f ? 0.2f : 0.0f;
    case FASTNN_ACT_LEAKY_RELU: return v > 0.0f ? 1.0f : a;
    case FASTNN_ACT_EXPONENTIAL: return v;
    case FASTNN_ACT_SILU: {
        float s = sigmoid_naive(v);
        return s * (1.0f + v * (1.0f - s));
    }
    case FASTNN_ACT_GELU_TANH: { /* v clamped as in gelu_clamp below */
        float s = sigmoid_naive(2.0f * GELU_C * (v + GELU_K * v * v * v));
        float c = v > 11.0f ? 11.0f : v < -11.0f ? -11.0f : v;
        return s + 2.0f * c * s * (1.0f - s) * GELU_C * (1.0f + 3.0f * GELU_K * c * c);
    }
    case FASTNN_ACT_RELU: /* fastnn_activation_backward_naive takes these two */
    case FASTNN_ACT_NONE:
        break;
    }
    return 1.0f;
}

void fastnn_activation_forward_naive(fastnn_activation f, float alpha,
                                     const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = forward_naive(f, alpha, x[i]);
}

void fastnn_activation_backward_naive(fastnn_activation f, float alpha,
                                      const float *from, const float *dy,
                                      float *dx, int64_t n)
{
    if (f == FASTNN_ACT_RELU) { /* a select, not dy * 0: inf and NaN in dy stay out */
        fastnn_relu_backward_naive(from, dy, dx, n);
        return;
    }
    if (f == FASTNN_ACT_NONE) {
        memmove(dx, dy, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * derivative_naive(f, alpha, from[i]);
}

/* ---- fast ---- */

/* The formulas of one activation, vectorisable (activation_math.h). */
FASTNN_INLINE float elu_fast(float x, float a)
{
    /* expm1 of min(x, 0): the lanes that keep x never see a large e^x */
    float e = fastnn_expm1_nonpositive(fastnn_where(x > 0.0f, 0.0f, x));
    return fastnn_where(x > 0.0f, x, a * e);
}

FASTNN_INLINE float softplus_fast(float x)
{
    return (x > 0.0f ? x : 0.0f) + fastnn_log1p_unit(fastnn_exp(-fastnn_abs(x)));
}

FASTNN_INLINE float gelu_tanh_argument(float x)
{
    return 2.0f * GELU_C * (x + GELU_K * x * x * x);
}

/* x clamped to [-11, 11] in gelu_tanh's derivative s + x s (1 - s) u'(x):
 * beyond, s (1 - s) is 0 in float32 (e^-112), and the clamp keeps x u'(x)
 * finite so that 0 * inf does not make the gradient NaN at |x| > 1.8e19. */
FASTNN_INLINE float gelu_clamp(float x)
{
    float c = fastnn_where(x > 11.0f, 11.0f, x);
    return fastnn_where(c < -11.0f, -11.0f, c);
}

/* One loop per activation, so that each vectorises on its own; `omp simd`
 * says the iterations are independent, also when y is x (in place). */
#define EACH(i, i0, i1) _Pragma("omp simd") for (int64_t i = i0; i < i1; i++)

FASTNN_INLINE void forward_range(fastnn_activation f, float a, const float *x,
                                 float *y, int64_t i0, int64_t i1)
{
    switch (f) {
    case FASTNN_ACT_TANH:
        EACH(i, i0, i1) y[i] = fastnn_tanh(x[i]);
        break;
    case FASTNN_ACT_SIGMOID:
        EACH(i, i0, i1) y[i] = fastnn_sigmoid(x[i]);
        break;
    case FASTNN_ACT_ELU:
        EACH(i, i0, i1) y[i] = elu_fast(x[i], a);
        break;
    case FASTNN_ACT_SELU:
        EACH(i, i0, i1) y[i] = SELU_SCALE * elu_fast(x[i], SELU_ALPHA);
        break;
    case FASTNN_ACT_SOFTPLUS:
        EACH(i, i0, i1) y[i] = softplus_fast(x[i]);
        break;
    case FASTNN_ACT_SOFTSIGN:
        EACH(i, i0, i1) y[i] = x[i] / (1.0f + fastnn_abs(x[i]));
        break;
    case FASTNN_ACT_HARD_SIGMOID:
        EACH(i, i0, i1) {
            float v = 0.2f * x[i] + 0.5f;
            v = v < 0.0f ? 0.0f : v;
            y[i] = v > 1.0f ? 1.0f : v;
        }
        break;
    case FASTNN_ACT_LEAKY_RELU:
        EACH(i, i0, i1) y[i] = fastnn_where(x[i] > 0.0f, x[i], a * x[i]);
        break;
    case FASTNN_ACT_EXPONENTIAL:
        EACH(i, i0, i1) y[i] = fastnn_exp(x[i]);
        break;
    case FASTNN_ACT_SILU:
        EACH(i, i0, i1) y[i] = x[i] * fastnn_sigmoid(x[i]);
        break;
    case FASTNN_ACT_GELU_TANH:
        EACH(i, i0, i1) y[i] = x[i] * fastnn_sigmoid(gelu_tanh_argument(x[i]));
        break;
    case FASTNN_ACT_RELU: /* fastnn_activation_forward takes these two first */
    case FASTNN_ACT_NONE:
        break;
    }
}

FASTNN_INLINE void backward_range(fastnn_activation f, float a, const float *v,
                                  const float *dy, float *dx, int64_t i0,
                                  int64_t i1)
{
    switch (f) {
    case FASTNN_ACT_TANH:
        EACH(i, i0, i1) dx[i] = dy[i] * (1.0f - v[i] * v[i]);
        break;
    case FASTNN_ACT_SIGMOID:
        EACH(i, i0, i1) dx[i] = dy[i] * (v[i] * (1.0f - v[i]));
        break;
    case FASTNN_ACT_ELU:
        EACH(i, i0, i1) dx[i] = dy[i] * fastnn_where(v[i] > 0.0f, 1.0f, v[i] + a);
        break;
    case FASTNN_ACT_SELU:
        EACH(i, i0, i1)
            dx[i] = dy[i] * fastnn_where(v[i] > 0.0f, SELU_SCALE, v[i] + SELU_SCALE * SELU_ALPHA);
        break;
    case FASTNN_ACT_SOFTPLUS:
        /* y >= 0, and NaN stays NaN through the expm1 */
        EACH(i, i0, i1) dx[i] = dy[i] * -fastnn_expm1_nonpositive(-v[i]);
        break;
    case FASTNN_ACT_SOFTSIGN:
        EACH(i, i0, i1) {
            float r = 1.0f - fastnn_abs(v[i]);
            dx[i] = dy[i] * (r * r);
        }
        break;
    case FASTNN_ACT_HARD_SIGMOID:
        EACH(i, i0, i1) dx[i] = dy[i] * (v[i] > 0.0f && v[i] < 1.0f ? 0.2f : 0.0f);
        break;
    case FASTNN_ACT_LEAKY_RELU:
        EACH(i, i0, i1) dx[i] = dy[i] * fastnn_where(v[i] > 0.0f, 1.0f, a);
        break;
    case FASTNN_ACT_EXPONENTIAL:
        EACH(i, i0, i1) dx[i] = dy[i] * v[i];
        break;
    case FASTNN_ACT_SILU:
        EACH(i, i0, i1) {
            float s = fastnn_sigmoid(v[i]);
            dx[i] = dy[i] * (s * (1.0f + v[i] * (1.0f - s)));
        }
        break;
    case FASTNN_ACT_GELU_TANH:
        EACH(i, i0, i1) {
            float x = v[i], s = fastnn_sigmoid(gelu_tanh_argument(x));
            float c = gelu_clamp(x);
            float du = 2.0f * GELU_C * (1.0f + 3.0f * GELU_K * c * c);
            dx[i] = dy[i] * (s + c * s * (1.0f - s) * du);
        }
        break;
    case FASTNN_ACT_RELU: /* fastnn_activation_backward takes these two first */
    case FASTNN_ACT_NONE:
        break;
    }
}

typedef fastnn_activation_range_fn forward_fn;
typedef void (*backward_fn)(fastnn_activation, float, const float *,
                            const float *, float *, int64_t, int64_t);

static void forward_generic(fastnn_activation f, float a, const float *x,
                            float *y, int64_t i0, int64_t i1)
{
    forward_range(f, a, x, y, i0, i1);
}

static void backward_generic(fastnn_activation f, float a, const float *v,
                             const float *dy, float *dx, int64_t i0, int64_t i1)
{
    backward_range(f, a, v, dy, dx, i0, i1);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void forward_avx2(fastnn_activation f, float a, const float *x,
                         float *y, int64_t i0, int64_t i1)
{
    forward_range(f, a, x, y, i0, i1);
}

FASTNN_TARGET_AVX2
static void backward_avx2(fastnn_activation f, float a, const float *v,
                          const float *dy, float *dx, int64_t i0, int64_t i1)
{
    backward_range(f, a, v, dy, dx, i0, i1);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void forward_avx512(fastnn_activation f, float a, const float *x,
                           float *y, int64_t i0, int64_t i1)
{
    forward_range(f, a, x, y, i0, i1);
}

FASTNN_TARGET_AVX512
static void backward_avx512(fastnn_activation f, float a, const float *v,
                            const float *dy, float *dx, int64_t i0, int64_t i1)
{
    backward_range(f, a, v, dy, dx, i0, i1);
}
#endif

/* The range loops of this CPU's SIMD path. */
static forward_fn forward_for_simd(void)
{
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        return forward_avx512;
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        return forward_avx2;
#endif
    return forward_generic;
}

static backward_fn backward_for_simd(void)
{
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        return backward_avx512;
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        return backward_avx2;
#endif
    return backward_generic;
}

/* The epilogue (internal.h): the very loop fastnn_activation_forward runs
 * on this SIMD path, so a kernel that applies it to each block it writes
 * gets the bits of the separate pass (every element's result depends on its
 * value alone, not on where a range starts: the passes are cut into one
 * range per thread and give the same bits on any number of threads). */
fastnn_epilogue fastnn_epilogue_of(int act, float alpha)
{
    fastnn_epilogue e = {act, alpha, NULL};
    if (act != FASTNN_ACT_NONE && act != FASTNN_ACT_RELU)
        e.apply = forward_for_simd();
    return e;
}

/* The derivative's loop (internal.h): relu's, or this SIMD path's
 * backward_range -- the loops fastnn_relu_backward and
 * fastnn_activation_backward run, element by element the same bits. */
static void relu_derivative_range(fastnn_activation f, float a, const float *y,
                                  const float *dy, float *dz, int64_t i0, int64_t i1)
{
    (void)f;
    (void)a;
    relu_backward_range(y, dy, dz, i0, i1);
}

fastnn_derivative fastnn_derivative_of(int act, float alpha)
{
    fastnn_derivative d = {act, alpha, NULL};
    if (act == FASTNN_ACT_RELU)
        d.apply = relu_derivative_range;
    else if (act != FASTNN_ACT_NONE)
        d.apply = backward_for_simd();
    return d;
}

/* Scalar operations per element, for fastnn_threads_for: the ones with an
 * exp or a division cost about 20, the piecewise-linear ones 2. */
static double cost_per_element(fastnn_activation f, int backward)
{
    switch (f) {
    case FASTNN_ACT_HARD_SIGMOID:
    case FASTNN_ACT_LEAKY_RELU:
    case FASTNN_ACT_EXPONENTIAL:
        return 2.0;
    case FASTNN_ACT_TANH:
    case FASTNN_ACT_SIGMOID:
    case FASTNN_ACT_ELU:
    case FASTNN_ACT_SELU:
    case FASTNN_ACT_SOFTSIGN:
        return backward ? 2.0 : 20.0;
    default:
        return 25.0;
    }
}

void fastnn_activation_forward(fastnn_activation f, float alpha,
                               const float *x, float *y, int64_t n)
{
    if (f == FASTNN_ACT_RELU) {
        fastnn_relu(x, y, n);
        return;
    }
    if (f == FASTNN_ACT_NONE) {
        memmove(y, x, (size_t)n * sizeof(float));
        return;
    }
    forward_fn range = forward_for_simd();
    int threads = fastnn_threads_for(cost_per_element(f, 0) * (double)n);
    if (threads == 1) {
        range(f, alpha, x, y, 0, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        range(f, alpha, x, y, n * t / team, n * (t + 1) / team);
    }
}

void fastnn_activation_backward(fastnn_activation f, float alpha,
                                const float *from, const float *dy, float *dx,
                                int64_t n)
{
    if (f == FASTNN_ACT_RELU) {
        fastnn_relu_backward(from, dy, dx, n);
        return;
    }
    if (f == FASTNN_ACT_NONE) {
        memmove(dx, dy, (size_t)n * sizeof(float));
        return;
    }
    backward_fn range = backward_for_simd();
    int threads = fastnn_threads_for(cost_per_element(f, 1) * (double)n);
    if (threads == 1) {
        range(f, alpha, from, dy, dx, 0, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        range(f, alpha, from, dy, dx, n * t / team, n * (t + 1) / team);
    }
}
