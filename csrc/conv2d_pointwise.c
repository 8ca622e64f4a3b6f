/*
 * conv2d_pointwise.c -- the input gradient of a pointwise (1x1, stride 1)
 * convolution with few filters.
 *
 * A 1x1 convolution of stride 1 has no padding and no overlap: every pixel
 * is one row of a matrix product, y = X . W + b with X (pixels x in_c) and
 * W (in_c x out_c).  Its input gradient is the same kind of product,
 *
 *     dx = dy . W^T        (pixels x out_c) . (out_c x in_c),
 *
 * which is the forward pass of another 1x1 convolution: input dy with out_c
 * channels, kernel W^T, in_c filters.  With in_c and out_c at most
 * FASTNN_POINTWISE_MAX_C its reduction is short, so it runs on the direct forward kernel of
 * conv2d_direct.c (register tiles of pixels x 8 or 16 channels, reading dy in
 * place, rows of pixels split across threads with no reduction between
 * them: the same numbers on any number of threads), instead of the indirect
 * GEMM, whose per-tap packing and pointer set-up a 1-tap kernel cannot pay
 * for.  The only extra memory is W^T (in_c * out_c floats).
 */
#include <string.h>

#include "internal.h"

int fastnn_conv2d_pointwise_applies(const fastnn_conv2d_geom *g)
{
    return g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
           g->pad_top == 0 && g->pad_left == 0 && g->in_c <= FASTNN_POINTWISE_MAX_C &&
           g->out_c <= FASTNN_POINTWISE_MAX_C;
}

int fastnn_conv2d_pointwise_input_gradient(const float *w, const float *dy,
                                           float *dx, const fastnn_conv2d_geom *g)
{
    float *w_t = fastnn_alloc_floats(g->in_c * g->out_c);
    if (!w_t)
        return FASTNN_ENOMEM;
    for (int64_t co = 0; co < g->out_c; co++) /* W^T[co][ci] = W[ci][co] */
        for (int64_t ci = 0; ci < g->in_c; ci++)
            w_t[co * g->in_c + ci] = w[ci * g->out_c + co];
    /* the transposed convolution: dy in, in_c filters out, same pixel grid */
    fastnn_conv2d_geom t = *g;
    t.in_c = g->out_c;
    t.out_c = g->in_c;
    fastnn_conv2d_direct(dy, w_t, NULL, dx, &t, 0);
    fastnn_free_floats(w_t);
    return FASTNN_OK;
}
