/*
 * optimizer.c -- one training step of every optimizer fastnn has, on one
 * weight array: the naive textbook loops and the fast version beside them.
 *
 * Each optimizer keeps a few arrays of state the size of the weights (its
 * slots) and turns the gradient g into a step with one formula per weight
 * (Keras's formulas; docs/keras-reference §6):
 *
 *   SGD       w -= rate g;  momentum: m = mu m - rate g,  w += m
 *                           Nesterov: m = mu m - rate g,  w += mu m - rate g
 *   Adam      m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
 *             w -= rate m / (sqrt(v) + eps)  (amsgrad: sqrt(v_hat),
 *             v_hat = max(v_hat, v));  rate = lr sqrt(1 - b2^t) / (1 - b1^t)
 *   RMSprop   s = rho s + (1 - rho) g^2,  step = rate g / sqrt(s + eps)
 *             centered: a = rho a + (1 - rho) g, step = rate g / sqrt(s - a^2 + eps)
 *             momentum: M = mu M + step, w -= M;  else w -= step
 *   Adagrad   A += g^2,  w -= rate g / sqrt(A + eps)
 *   Adadelta  Eg = rho Eg + (1 - rho) g^2,  d = -sqrt(Ed + eps) / sqrt(Eg + eps) g
 *             Ed = rho Ed + (1 - rho) d^2,  w += rate d
 *   Adamax    m as Adam,  u = max(b2 u, |g|),  w -= rate m / (u + eps)
 *             rate = lr / (1 - b1^t)
 *   Nadam     m, v as Adam,  w -= (rate m + rate_g g) / (sqrt(v) v_scale + eps)
 *             rate = lr mu_{t+1} / (1 - P_t mu_{t+1}),  rate_g = lr (1 - mu_t) / (1 - P_t),
 *             v_scale = 1 / sqrt(1 - b2^t)
 *
 * The per-step numbers (rate, the bias corrections, 1 - beta) are computed
 * once per step by the caller, in double, and arrive as float32.
 *
 * NumPy spends a pass over memory and a temporary array on every operator
 * of these formulas: RMSprop's two lines are nine passes.  The fast
 * version reads each array once and writes w and the slots once.  It cuts
 * the array into one contiguous range per thread (once the update moves
 * 8 MiB: 700,000 weights for plain SGD, 300,000 for Adam, see
 * fastnn_threads_for_stream; the ranges start on 16-float cache lines, so no two threads
 * write one line), and the loop over a range is written once per rule and
 * compiled for each SIMD path (AVX-512, AVX2 + FMA, baseline), which the
 * compiler vectorises: sqrt and division are vector instructions with
 * -fno-math-errno.  Every weight's update involves that weight alone, so
 * any split gives the same bits, on any thread count.
 */
#include <math.h>

#include "internal.h"

int fastnn_update_slots(const fastnn_update *u)
{
    switch (u->rule) {
    case FASTNN_SGD:
        return u->momentum > 0.0f;
    case FASTNN_ADAM:
        return 2 + (u->amsgrad != 0);
    case FASTNN_RMSPROP:
        return 1 + (u->centered != 0) + (u->momentum > 0.0f);
    case FASTNN_ADAGRAD:
        return 1;
    case FASTNN_ADADELTA:
    case FASTNN_ADAMAX:
    case FASTNN_NADAM:
        return 2;
    }
    return 0;
}

/* ---- naive: the formulas as written, one weight at a time ---------------- */

void fastnn_optimizer_update_naive(const fastnn_update *u, float *w,
                                   const float *g, float *const *slots,
                                   int64_t n)
{
    float *s[3] = {NULL, NULL, NULL};
    for (int k = 0; k < fastnn_update_slots(u); k++)
        s[k] = slots[k];
    float *s0 = s[0], *s1 = s[1], *s2 = s[2];
    float b1 = u->beta_1, c1 = u->one_minus_beta_1;
    float b2 = u->beta_2, c2 = u->one_minus_beta_2, eps = u->epsilon;
    for (int64_t i = 0; i < n; i++) {
        switch (u->rule) {
        case FASTNN_SGD:
            if (u->momentum > 0.0f) {
                s0[i] = u->momentum * s0[i] - u->rate * g[i];
                w[i] += u->nesterov ? u->momentum * s0[i] - u->rate * g[i] : s0[i];
            } else {
                w[i] -= u->rate * g[i];
            }
            break;
        case FASTNN_ADAM:
            s0[i] = b1 * s0[i] + c1 * g[i];
            s1[i] = b2 * s1[i] + c2 * g[i] * g[i];
            if (u->amsgrad) {
                s2[i] = s1[i] > s2[i] ? s1[i] : s2[i];
                w[i] -= u->rate * s0[i] / (sqrtf(s2[i]) + eps);
            } else {
                w[i] -= u->rate * s0[i] / (sqrtf(s1[i]) + eps);
            }
            break;
        case FASTNN_RMSPROP: {
            float *mean = s1, *accumulated = u->centered ? s2 : s1;
            s0[i] = b2 * s0[i] + c2 * g[i] * g[i];
            float spread = s0[i];
            if (u->centered) {
                mean[i] = b2 * mean[i] + c2 * g[i];
                spread -= mean[i] * mean[i];
            }
            float step = u->rate * g[i] / sqrtf(spread + eps);
            if (u->momentum > 0.0f) {
                accumulated[i] = u->momentum * accumulated[i] + step;
                step = accumulated[i];
            }
            w[i] -= step;
            break;
        }
        case FASTNN_ADAGRAD:
            s0[i] += g[i] * g[i];
            w[i] -= u->rate * g[i] / sqrtf(s0[i] + eps);
            break;
        case FASTNN_ADADELTA: {
            s0[i] = b2 * s0[i] + c2 * g[i] * g[i];
            float d = -sqrtf(s1[i] + eps) / sqrtf(s0[i] + eps) * g[i];
            s1[i] = b2 * s1[i] + c2 * d * d;
            w[i] += u->rate * d;
            break;
        }
        case FASTNN_ADAMAX:
            s0[i] = b1 * s0[i] + c1 * g[i];
            s1[i] = fmaxf(b2 * s1[i], fabsf(g[i]));
            w[i] -= u->rate * s0[i] / (s1[i] + eps);
            break;
        case FASTNN_NADAM:
            s0[i] = b1 * s0[i] + c1 * g[i];
            s1[i] = b2 * s1[i] + c2 * g[i] * g[i];
            w[i] -= (u->rate * s0[i] + u->rate_g * g[i]) / (sqrtf(s1[i]) * u->v_scale + eps);
            break;
        }
    }
}

/* ---- fast: one loop per rule and option, vectorised --------------------- *
 * Each *_range updates weights [i0, i1).  The options arrive as constants
 * from update_range, so every combination compiles to its own branch-free
 * loop; `restrict` (the bridge checks that the arrays do not overlap) lets
 * the compiler vectorise without run-time overlap checks. */

FASTNN_INLINE void sgd_range(const fastnn_update *u, float *restrict w,
                             const float *restrict g, float *restrict m,
                             int64_t i0, int64_t i1, int momentum, int nesterov)
{
    const float mu = u->momentum, rate = u->rate;
    for (int64_t i = i0; i < i1; i++) {
        if (!momentum) {
            w[i] -= rate * g[i];
            continue;
        }
        float velocity = mu * m[i] - rate * g[i];
        m[i] = velocity;
        w[i] += nesterov ? mu * velocity - rate * g[i] : velocity;
    }
}

FASTNN_INLINE void adam_range(const fastnn_update *u, float *restrict w,
                              const float *restrict g, float *restrict m,
                              float *restrict v, float *restrict v_hat,
                              int64_t i0, int64_t i1, int amsgrad)
{
    const float b1 = u->beta_1, c1 = u->one_minus_beta_1, b2 = u->beta_2,
                c2 = u->one_minus_beta_2, rate = u->rate, eps = u->epsilon;
    for (int64_t i = i0; i < i1; i++) {
        float gi = g[i], mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (amsgrad) {
            vi = vi > v_hat[i] ? vi : v_hat[i];
            v_hat[i] = vi;
        }
        w[i] -= rate * mi / (sqrtf(vi) + eps);
    }
}

FASTNN_INLINE void rmsprop_range(const fastnn_update *u, float *restrict w,
                                 const float *restrict g, float *restrict s,
                                 float *restrict mean,
                                 float *restrict accumulated, int64_t i0,
                                 int64_t i1, int centered, int momentum)
{
    const float rho = u->beta_2, c = u->one_minus_beta_2, rate = u->rate,
                eps = u->epsilon, mu = u->momentum;
    for (int64_t i = i0; i < i1; i++) {
        float gi = g[i], si = rho * s[i] + c * gi * gi, spread = si;
        s[i] = si;
        if (centered) {
            float ai = rho * mean[i] + c * gi;
            mean[i] = ai;
            spread -= ai * ai;
        }
        float step = rate * gi / sqrtf(spread + eps);
        if (momentum) {
            step += mu * accumulated[i];
            accumulated[i] = step;
        }
        w[i] -= step;
    }
}

FASTNN_INLINE void adagrad_range(const fastnn_update *u, float *restrict w,
                                 const float *restrict g, float *restrict a,
                                 int64_t i0, int64_t i1)
{
    const float rate = u->rate, eps = u->epsilon;
    for (int64_t i = i0; i < i1; i++) {
        float gi = g[i], ai = a[i] + gi * gi;
        a[i] = ai;
        w[i] -= rate * gi / sqrtf(ai + eps);
    }
}

FASTNN_INLINE void adadelta_range(const fastnn_update *u, float *restrict w,
                                  const float *restrict g, float *restrict eg,
                                  float *restrict ed, int64_t i0, int64_t i1)
{
    const float rho = u->beta_2, c = u->one_minus_beta_2, rate = u->rate,
                eps = u->epsilon;
    for (int64_t i = i0; i < i1; i++) {
        float gi = g[i], egi = rho * eg[i] + c * gi * gi;
        float d = -sqrtf(ed[i] + eps) / sqrtf(egi + eps) * gi;
        eg[i] = egi;
        ed[i] = rho * ed[i] + c * d * d;
        w[i] += rate * d;
    }
}

FASTNN_INLINE void adamax_range(const fastnn_update *u, float *restrict w,
                                const float *restrict g, float *restrict m,
                                float *restrict peak, int64_t i0, int64_t i1)
{
    const float b1 = u->beta_1, c1 = u->one_minus_beta_1, b2 = u->beta_2,
                rate = u->rate, eps = u->epsilon;
    for (int64_t i = i0; i < i1; i++) {
        float gi = g[i], mi = b1 * m[i] + c1 * gi;
        float decayed = b2 * peak[i], size = fabsf(gi);
        float ui = size > decayed ? size : decayed;  /* one vector max */
        m[i] = mi;
        peak[i] = ui;
        w[i] -= rate * mi / (ui + eps);
    }
}

FASTNN_INLINE void nadam_range(const fastnn_update *u, float *restrict w,
                               const float *restrict g, float *restrict m,
                               float *restrict v, int64_t i0, int64_t i1)
{
    const float b1 = u->beta_1, c1 = u->one_minus_beta_1, b2 = u->beta_2,
                c2 = u->one_minus_beta_2, rate = u->rate, rate_g = u->rate_g,
                v_scale = u->v_scale, eps = u->epsilon;
    for (int64_t i = i0; i < i1; i++) {
        float gi = g[i], mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= (rate * mi + rate_g * gi) / (sqrtf(vi) * v_scale + eps);
    }
}

/* Weights [i0, i1) with the loop of u's rule and options. */
FASTNN_INLINE void update_range(const fastnn_update *u, float *w,
                                const float *g, float *const *s, int64_t i0,
                                int64_t i1)
{
    int momentum = u->momentum > 0.0f;
    switch (u->rule) {
    case FASTNN_SGD:
        if (!momentum)
            sgd_range(u, w, g, NULL, i0, i1, 0, 0);
        else if (u->nesterov)
            sgd_range(u, w, g, s[0], i0, i1, 1, 1);
        else
            sgd_range(u, w, g, s[0], i0, i1, 1, 0);
        break;
    case FASTNN_ADAM:
        if (u->amsgrad)
            adam_range(u, w, g, s[0], s[1], s[2], i0, i1, 1);
        else
            adam_range(u, w, g, s[0], s[1], NULL, i0, i1, 0);
        break;
    case FASTNN_RMSPROP:
        if (u->centered && momentum)
            rmsprop_range(u, w, g, s[0], s[1], s[2], i0, i1, 1, 1);
        else if (u->centered)
            rmsprop_range(u, w, g, s[0], s[1], NULL, i0, i1, 1, 0);
        else if (momentum)
            rmsprop_range(u, w, g, s[0], NULL, s[1], i0, i1, 0, 1);
        else
            rmsprop_range(u, w, g, s[0], NULL, NULL, i0, i1, 0, 0);
        break;
    case FASTNN_ADAGRAD:
        adagrad_range(u, w, g, s[0], i0, i1);
        break;
    case FASTNN_ADADELTA:
        adadelta_range(u, w, g, s[0], s[1], i0, i1);
        break;
    case FASTNN_ADAMAX:
        adamax_range(u, w, g, s[0], s[1], i0, i1);
        break;
    case FASTNN_NADAM:
        nadam_range(u, w, g, s[0], s[1], i0, i1);
        break;
    }
}

typedef void (*range_fn)(const fastnn_update *, float *, const float *,
                         float *const *, int64_t, int64_t);

static void update_range_generic(const fastnn_update *u, float *w,
                                 const float *g, float *const *s, int64_t i0,
                                 int64_t i1)
{
    update_range(u, w, g, s, i0, i1);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void update_range_avx2(const fastnn_update *u, float *w,
                              const float *g, float *const *s, int64_t i0,
                              int64_t i1)
{
    update_range(u, w, g, s, i0, i1);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void update_range_avx512(const fastnn_update *u, float *w,
                                const float *g, float *const *s, int64_t i0,
                                int64_t i1)
{
    update_range(u, w, g, s, i0, i1);
}
#endif

/* Where thread t of a team of `team` starts: the t-th of `team` near-equal
 * shares of the array's 16-float lines (16 * floor(lines * t / team),
 * computed without forming lines * t), the last share ending at n. */
static int64_t range_start(int64_t n, int64_t t, int64_t team)
{
    int64_t lines = fastnn_ceil_div(n, 16);
    int64_t line = lines / team * t + lines % team * t / team;
    return fastnn_min(n, 16 * line);
}

void fastnn_optimizer_update(const fastnn_update *u, float *w, const float *g,
                             float *const *slots, int64_t n)
{
    range_fn range = update_range_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        range = update_range_avx2;
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        range = update_range_avx512;
#endif
    /* w, g and the slots read, w and the slots written: a few operations per byte */
    double bytes = (double)sizeof(float) * (double)n * (3 + 2 * fastnn_update_slots(u));
    int threads = fastnn_threads_for_stream(bytes);
    if (threads == 1) { /* no parallel region: it costs more than a small array */
        range(u, w, g, slots, 0, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        range(u, w, g, slots, range_start(n, t, team),
              range_start(n, t + 1, team));
    }
}
