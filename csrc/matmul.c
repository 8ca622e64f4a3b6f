/*
 * matmul.c -- fastnn_matmul, C = act(op(A) . op(B) + bias) for two matrices
 * in memory: which engine runs the product.
 *
 * Both operands are seen as strided matrices (fastnn_strided, gemm.h: a
 * transpose is only other strides).  A product of at most
 * FASTNN_SKINNY_MAX_N columns whose A is big enough (a classifier head's x.W
 * and its weight gradient x^T.dy) runs on the kernels for few columns
 * (gemm_skinny.c), which read A in place; every other product on the
 * blocked engine (gemm.c), which packs both operands.  The textbook version,
 * fastnn_matmul_naive, is in gemm.c.
 */
#include "gemm.h"

int fastnn_matmul(const float *a, const float *b, const float *bias, float *c,
                  int64_t m, int64_t n, int64_t k, int transpose_a,
                  int transpose_b, int act, float alpha)
{
    /* op(A)(i, p) and op(B)(p, j), seen as operands whose rows are i and j */
    fastnn_strided sa = {a, transpose_a ? 1 : k, transpose_a ? m : 1};
    fastnn_strided sb = {b, transpose_b ? k : 1, transpose_b ? 1 : n};
    if (fastnn_gemm_skinny_takes(m, n, k, &sa))
        return fastnn_gemm_skinny(m, n, k, &sa, &sb, c, n, bias,
                                  fastnn_epilogue_of(act, alpha));
    fastnn_gemm_operand oa = {fastnn_pack_strided, &sa};
    fastnn_gemm_operand ob = {fastnn_pack_strided, &sb};
    return fastnn_gemm(m, n, k, oa, ob, c, n, bias, 0,
                       fastnn_epilogue_of(act, alpha));
}
