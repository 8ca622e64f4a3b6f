/*
 * activation_math.h -- exp, expm1, log1p, tanh and sigmoid for float32,
 * written so that the compiler vectorises a loop that calls them.
 *
 * Each function is branch-free scalar C (selects, integer operations on the
 * float's bits, no libm calls): inside a loop under `#pragma omp simd`
 * compiled for AVX-512, AVX2+FMA or baseline SSE2 (activation.c instantiates
 * the loops once per path), GCC turns every call into 16, 8 or 4 lanes.
 *
 * exp(x): range reduction x = n ln2 + r with n = round(x / ln2), |r| <=
 * ln2/2 (ln2 split in a high part with trailing zero bits, so n ln2_hi is
 * exact, and a low part: Cody and Waite), then e^r - 1 = r + r^2 P(r) with a
 * degree-4 polynomial P fitted for least relative error on that interval
 * (0.24 ulp of approximation error before rounding), and e^x = 2^n (1 + q)
 * scaled in two steps 2^(n/2) 2^(n - n/2) so that results down to the
 * smallest denormal (x = -103.9) and up to FLT_MAX come out right; x is
 * clamped to [-104, 89] first (below: 0, above: +inf after the scaling).
 * expm1(x) = 2^n q + (2^n - 1): exact cancellation-free near 0 (n = 0 gives
 * q itself), used for x <= 0 only (elu, tanh, softplus' derivative).
 * log1p(u) for u in [0, 1] (softplus): 2 atanh(s), s = u / (2 + u), as
 * 2s (1 + s^2 Q(s^2)) with a degree-3 Q (0.09 ulp before rounding).
 * Measured against float64 over the whole float range (tests/
 * test_activation_kernels.py): exp and expm1 within 2 ulp, tanh, sigmoid,
 * elu, selu, softplus, silu within 3 ulp; NaN propagates, +-inf give the
 * limits, -0.0 keeps its sign where f(-0) = -0.
 */
#ifndef FASTNN_ACTIVATION_MATH_H
#define FASTNN_ACTIVATION_MATH_H

#include <stdint.h>
#include <string.h>

#include "internal.h"

#define FASTNN_LOG2E 1.44269504f
#define FASTNN_LN2_HI 0.693359375f      /* 355/512: n * LN2_HI is exact */
#define FASTNN_LN2_LO -2.12194440e-4f   /* ln 2 - LN2_HI */
#define FASTNN_ROUND_MAGIC 12582912.0f  /* 1.5 * 2^23: adding it rounds to an integer */

/* e^r - 1 - r = r^2 P(r) on |r| <= ln2/2 (fitted; Taylor would be 1/2, 1/6, ...) */
#define FASTNN_EXPM1_P0 0.49999997f
#define FASTNN_EXPM1_P1 0.16666542f
#define FASTNN_EXPM1_P2 0.0416676f
#define FASTNN_EXPM1_P3 0.00836668f
#define FASTNN_EXPM1_P4 0.00138582f

/* atanh(s)/s = 1 + z Q(z), z = s^2 <= 1/9 (Taylor: 1/3, 1/5, 1/7, 1/9) */
#define FASTNN_ATANH_Q0 0.33333206f
#define FASTNN_ATANH_Q1 0.2001081f
#define FASTNN_ATANH_Q2 0.14000408f
#define FASTNN_ATANH_Q3 0.14007647f

FASTNN_INLINE float fastnn_bits_to_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

FASTNN_INLINE uint32_t fastnn_float_to_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* cond ? a : b, as bit operations: GCC 12 will not if-convert a float
 * select whose arms need arithmetic (it might trap, under the default
 * -ftrapping-math), and such a loop would stay scalar on the AVX2 and
 * generic paths; both arms are computed anyway. */
FASTNN_INLINE float fastnn_where(int cond, float a, float b)
{
    uint32_t m = 0u - (uint32_t)(cond != 0);
    return fastnn_bits_to_float((fastnn_float_to_bits(a) & m) |
                                (fastnn_float_to_bits(b) & ~m));
}

/* 2^n for -126 <= n <= 127 */
FASTNN_INLINE float fastnn_pow2i(int32_t n)
{
    return fastnn_bits_to_float((uint32_t)(n + 127) << 23);
}

/* x = n ln2 + r: sets *n (an integer in -150..129 for x in [-104, 89]; 0
 * for NaN) and returns r (NaN for NaN). */
FASTNN_INLINE float fastnn_exp_reduce(float x, int32_t *n)
{
    float finite = fastnn_where(x == x, x, 0.0f);
    float t = finite * FASTNN_LOG2E + FASTNN_ROUND_MAGIC;
    float nf = t - FASTNN_ROUND_MAGIC;
    *n = (int32_t)(fastnn_float_to_bits(t) - fastnn_float_to_bits(FASTNN_ROUND_MAGIC));
    return x - nf * FASTNN_LN2_HI - nf * FASTNN_LN2_LO;
}

/* e^r - 1 for |r| <= ln2/2 */
FASTNN_INLINE float fastnn_expm1_reduced(float r)
{
    float p = FASTNN_EXPM1_P4;
    p = p * r + FASTNN_EXPM1_P3;
    p = p * r + FASTNN_EXPM1_P2;
    p = p * r + FASTNN_EXPM1_P1;
    p = p * r + FASTNN_EXPM1_P0;
    return r + r * r * p;
}

FASTNN_INLINE float fastnn_exp(float x)
{
    x = fastnn_where(x < -104.0f, -104.0f, x); /* false for NaN: it stays */
    x = fastnn_where(x > 89.0f, 89.0f, x);
    int32_t n;
    float q = fastnn_expm1_reduced(fastnn_exp_reduce(x, &n));
    int32_t half = n / 2;
    float s1 = fastnn_pow2i(half), s2 = fastnn_pow2i(n - half);
    return (q * s1 + s1) * s2;
}

/* e^x - 1 for x <= 0 (and NaN); -0.0 gives -0.0 */
FASTNN_INLINE float fastnn_expm1_nonpositive(float x)
{
    float c = fastnn_where(x < -88.0f, -88.0f, x); /* e^-88 - 1 is -1 in float32 */
    int32_t n;
    float q = fastnn_expm1_reduced(fastnn_exp_reduce(c, &n));
    float s = fastnn_pow2i(n);
    float y = q * s + (s - 1.0f);
    return fastnn_where(x == 0.0f, x, y);
}

/* log(1 + u) for u in [0, 1] */
FASTNN_INLINE float fastnn_log1p_unit(float u)
{
    float s = u / (2.0f + u), z = s * s;
    float q = FASTNN_ATANH_Q3;
    q = q * z + FASTNN_ATANH_Q2;
    q = q * z + FASTNN_ATANH_Q1;
    q = q * z + FASTNN_ATANH_Q0;
    return 2.0f * s + 2.0f * s * (z * q);
}

FASTNN_INLINE float fastnn_copysign(float magnitude, float sign)
{
    uint32_t m = fastnn_float_to_bits(magnitude) & 0x7fffffffu;
    uint32_t s = fastnn_float_to_bits(sign) & 0x80000000u;
    return fastnn_bits_to_float(m | s);
}

FASTNN_INLINE float fastnn_abs(float x)
{
    return fastnn_bits_to_float(fastnn_float_to_bits(x) & 0x7fffffffu);
}

/* 1 / (1 + e^-x), from e = e^-|x| <= 1 so nothing overflows */
FASTNN_INLINE float fastnn_sigmoid(float x)
{
    float e = fastnn_exp(-fastnn_abs(x));
    float y = fastnn_where(x >= 0.0f, 1.0f, e) / (1.0f + e);
    return fastnn_where(x == x, y, x);
}

/* tanh |x| = -t / (t + 2) with t = e^(-2|x|) - 1 in (-1, 0]: no
 * cancellation near 0, exactly 1 from |x| ~ 9 on; the sign put back */
FASTNN_INLINE float fastnn_tanh(float x)
{
    float t = fastnn_expm1_nonpositive(-2.0f * fastnn_abs(x));
    return fastnn_copysign(-t / (t + 2.0f), x);
}

#endif /* FASTNN_ACTIVATION_MATH_H */
