/*
 * winograd.h -- the transforms of Winograd's minimal filtering algorithm
 * F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016), for the 3x3 stride-1 convolutions of conv2d_winograd*.c.
 *
 * One output tile of 4x4 pixels needs a 6x6 input tile d and the 3x3
 * filter g.  With the matrices below,
 *
 *   forward        Y  = A^T [ (G g G^T) . (B^T d B) ] A          (4x4)
 *   weight grad    dg = G^T [ (A dY A^T) . (B^T d B) ] G         (3x3)
 *   input grad     dd = B   [ (G g G^T) . (A dY A^T) ] B^T       (6x6)
 *
 * where "." multiplies element by element: 36 products per tile and
 * channel pair instead of the 144 of the definition.  Summed over input
 * channels (forward) or over tiles (weight gradient), each of the 36
 * element-wise products becomes one matrix product -- 36 GEMMs that carry
 * all the arithmetic -- and the transforms are cheap additions around them.
 * The gradient identities are the forward's transposes: Y is bilinear in
 * (g, d), so dL/dg = G^T (A dY A^T . B^T d B) G and dL/dd = B (G g G^T .
 * A dY A^T) B^T, the 6x6 patches dd of neighbouring tiles overlapping by 2
 * pixels (their sum is dx).
 *
 *   B^T = [ 4  0 -5  0  1  0 ]   G = [  1/4     0     0  ]   A^T = [ 1  1  1  1  1  0 ]
 *         [ 0 -4 -4  1  1  0 ]       [ -1/6  -1/6  -1/6  ]         [ 0  1 -1  2 -2  0 ]
 *         [ 0  4 -4 -1  1  0 ]       [ -1/6   1/6  -1/6  ]         [ 0  1  1  4  4  0 ]
 *         [ 0 -2 -1  2  1  0 ]       [ 1/24  1/12   1/6  ]         [ 0  1 -1  8 -8  1 ]
 *         [ 0  2 -1 -2  1  0 ]       [ 1/24 -1/12   1/6  ]
 *         [ 0  4  0 -5  0  1 ]       [   0     0     1   ]
 *
 * Each function below applies one matrix to a column of values, each value
 * a run of n channels (NHWC keeps a pixel's channels contiguous, so the
 * loop over them vectorises): in[i * in_step + c] for the i-th value of
 * the column, out[i * out_step + c] likewise.  A 2-D transform M x M^T is
 * the 1-D one over the columns and then over the rows of the result.  The
 * functions are FASTNN_INLINE so each SIMD variant of a kernel compiles
 * them for its own instruction set.
 */
#ifndef FASTNN_WINOGRAD_H
#define FASTNN_WINOGRAD_H

#include "internal.h"

/* out = B^T in: 6 values from 6 (input tile) */
FASTNN_INLINE void fastnn_winograd_bt(const float *in, int64_t in_step, float *out,
                                      int64_t out_step, int64_t n)
{
#pragma omp simd
    for (int64_t c = 0; c < n; c++) {
        float d0 = in[c], d1 = in[in_step + c], d2 = in[2 * in_step + c];
        float d3 = in[3 * in_step + c], d4 = in[4 * in_step + c], d5 = in[5 * in_step + c];
        out[c] = 4.0f * d0 - 5.0f * d2 + d4;
        out[out_step + c] = -4.0f * (d1 + d2) + d3 + d4;
        out[2 * out_step + c] = 4.0f * (d1 - d2) - d3 + d4;
        out[3 * out_step + c] = 2.0f * (d3 - d1) - d2 + d4;
        out[4 * out_step + c] = 2.0f * (d1 - d3) - d2 + d4;
        out[5 * out_step + c] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* out = B in: 6 values from 6 (the transpose of B^T: the input gradient
 * by the transposed algorithm, conv2d_winograd.c) */
FASTNN_INLINE void fastnn_winograd_b(const float *in, int64_t in_step, float *out,
                                     int64_t out_step, int64_t n)
{
#pragma omp simd
    for (int64_t c = 0; c < n; c++) {
        float m0 = in[c], m1 = in[in_step + c], m2 = in[2 * in_step + c];
        float m3 = in[3 * in_step + c], m4 = in[4 * in_step + c], m5 = in[5 * in_step + c];
        out[c] = 4.0f * m0;
        out[out_step + c] = 4.0f * (m2 - m1) + 2.0f * (m4 - m3) + 4.0f * m5;
        out[2 * out_step + c] = -5.0f * m0 - 4.0f * (m1 + m2) - m3 - m4;
        out[3 * out_step + c] = m1 - m2 + 2.0f * (m3 - m4) - 5.0f * m5;
        out[4 * out_step + c] = m0 + m1 + m2 + m3 + m4;
        out[5 * out_step + c] = m5;
    }
}

/* out = G in: 6 values from 3 (filter) */
FASTNN_INLINE void fastnn_winograd_g(const float *in, int64_t in_step, float *out,
                                     int64_t out_step, int64_t n)
{
#pragma omp simd
    for (int64_t c = 0; c < n; c++) {
        float g0 = in[c], g1 = in[in_step + c], g2 = in[2 * in_step + c];
        out[c] = g0 * (1.0f / 4.0f);
        out[out_step + c] = -(g0 + g1 + g2) * (1.0f / 6.0f);
        out[2 * out_step + c] = -(g0 - g1 + g2) * (1.0f / 6.0f);
        out[3 * out_step + c] = g0 * (1.0f / 24.0f) + g1 * (1.0f / 12.0f) + g2 * (1.0f / 6.0f);
        out[4 * out_step + c] = g0 * (1.0f / 24.0f) - g1 * (1.0f / 12.0f) + g2 * (1.0f / 6.0f);
        out[5 * out_step + c] = g2;
    }
}

/* out = A^T in: 4 values from 6 (output tile) */
FASTNN_INLINE void fastnn_winograd_at(const float *in, int64_t in_step, float *out,
                                      int64_t out_step, int64_t n)
{
#pragma omp simd
    for (int64_t c = 0; c < n; c++) {
        float m0 = in[c], m1 = in[in_step + c], m2 = in[2 * in_step + c];
        float m3 = in[3 * in_step + c], m4 = in[4 * in_step + c], m5 = in[5 * in_step + c];
        float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        out[c] = m0 + s12 + s34;
        out[out_step + c] = d12 + 2.0f * d34;
        out[2 * out_step + c] = s12 + 4.0f * s34;
        out[3 * out_step + c] = d12 + 8.0f * d34 + m5;
    }
}

/* out = A in: 6 values from 4 (an output tile's gradient, weight gradient) */
FASTNN_INLINE void fastnn_winograd_a(const float *in, int64_t in_step, float *out,
                                     int64_t out_step, int64_t n)
{
#pragma omp simd
    for (int64_t c = 0; c < n; c++) {
        float y0 = in[c], y1 = in[in_step + c], y2 = in[2 * in_step + c];
        float y3 = in[3 * in_step + c];
        float e = y0 + y2, o = y1 + y3, e4 = y0 + 4.0f * y2, o4 = 2.0f * y1 + 8.0f * y3;
        out[c] = y0;
        out[out_step + c] = e + o;
        out[2 * out_step + c] = e - o;
        out[3 * out_step + c] = e4 + o4;
        out[4 * out_step + c] = e4 - o4;
        out[5 * out_step + c] = y3;
    }
}

/* out = G^T in: 3 values from 6 (the weight gradient's filter) */
FASTNN_INLINE void fastnn_winograd_gt(const float *in, int64_t in_step, float *out,
                                      int64_t out_step, int64_t n)
{
#pragma omp simd
    for (int64_t c = 0; c < n; c++) {
        float m0 = in[c], m1 = in[in_step + c], m2 = in[2 * in_step + c];
        float m3 = in[3 * in_step + c], m4 = in[4 * in_step + c], m5 = in[5 * in_step + c];
        float s12 = m1 + m2, d12 = m2 - m1, s34 = m3 + m4, d34 = m3 - m4;
        out[c] = m0 * (1.0f / 4.0f) - s12 * (1.0f / 6.0f) + s34 * (1.0f / 24.0f);
        out[out_step + c] = d12 * (1.0f / 6.0f) + d34 * (1.0f / 12.0f);
        out[2 * out_step + c] = (s34 - s12) * (1.0f / 6.0f) + m5;
    }
}

#endif
