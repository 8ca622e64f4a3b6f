/*
 * gemm.h -- the blocked matrix-multiply engine behind fastnn_matmul and the
 * fast convolutions (private to csrc/).
 *
 * The engine computes C (m x n) = A (m x k) . B (k x n) without ever seeing A
 * or B directly: it asks each operand to *pack* a block of itself into the
 * panel layout the micro-kernel reads.  A plain matrix packs by copying
 * (fastnn_pack_strided); a convolution packs image patches on the fly
 * (conv2d.c), which is how convolution becomes a GEMM without an im2col
 * buffer ("implicit GEMM").
 *
 * Packed layout, for the operand whose rows are the m (or n) dimension:
 * rows are grouped into panels of `width` rows (MR for A, NR for B; the
 * indirect convolution packs its own widths); a panel
 * stores its `width` values of reduction index p next to each other:
 *     dst[panel * width * kc + p * width + r] = op(row0 + panel*width + r, p0 + p)
 * Rows past the end of the block are packed as zeros, so the micro-kernel
 * never needs a bounds check.
 */
#ifndef FASTNN_GEMM_H
#define FASTNN_GEMM_H

#include "internal.h"

/* Register tile and cache blocks (Goto/BLIS naming), chosen for cores with
 * 32 KiB L1d and 512 KiB or more of L2 (Zen 3 and 4, Haswell-class):
 *   MR x NR  the micro-kernel's tile of C, held in vector registers: NR = 16
 *            columns on every SIMD path, MR rows chosen per path (gemm.c):
 *            6 with AVX2's 16 registers (the tile takes 12), 16 with
 *            AVX-512's 32 (the tile takes 16); at most FASTNN_MR_MAX;
 *   KC       depth of a block: a KC x NR sliver of B (16 KiB) stays in L1;
 *   MC       rows of the packed A block (MC x KC = 144 KiB) that stay in L2,
 *            a multiple of every MR;
 *   NC       columns of the packed B panel, sized for the shared L3. */
#define FASTNN_MR_MAX 16
#define FASTNN_MR_AVX512 16  /* MR on the avx512 path */
#define FASTNN_MR_SMALL 6    /* MR on the avx2 and generic paths */
#define FASTNN_NR 16
#define FASTNN_KC 256
#define FASTNN_MC 144
#define FASTNN_NC 4080

/* The register-tiled micro-kernels (gemm.c, conv2d_indirect.c,
 * conv2d_weight_gradient.c) share one shape.  Each is written three times,
 * micro_kernel_v16 / _v8 / _v4 for 16-, 8- and 4-wide vectors: an array
 * acc[MR] (one 16-wide vector per row) or acc[MR][2] (two 8- or 4-wide
 * vectors per row) of accumulators; per reduction step the NR values of B
 * loaded as vectors and one broadcast value of A per row, MR x vectors
 * fused multiply-adds; the 4-wide one runs the NR columns in two passes of
 * 8 so its 12 accumulators fit in 16 registers.  They are stamped out per
 * SIMD path by one FASTNN_INLINE body taking `width` (16, 8, 4) that picks
 * the micro-kernel, compiled three times by small FASTNN_TARGET_* wrappers
 * (the dispatch picks one per call).  Where a file departs from this, its
 * micro-kernels say why. */

/* Packs rows [row0, row0 + rows) and reduction indices [p0, p0 + kc) of an
 * operand into panels of `width` rows (layout above). */
typedef void (*fastnn_pack_fn)(const void *operand, int64_t row0,
                               int64_t rows, int64_t p0, int64_t kc,
                               int64_t width, float *dst);

typedef struct {
    fastnn_pack_fn pack;
    const void *operand;
} fastnn_gemm_operand;

/* A matrix in memory whose element (row, p) is data[row*row_stride +
 * p*p_stride]: any row-major matrix, transposed or not. */
typedef struct {
    const float *data;
    int64_t row_stride, p_stride;
} fastnn_strided;

void fastnn_pack_strided(const void *operand, int64_t row0, int64_t rows,
                         int64_t p0, int64_t kc, int64_t width, float *dst);

/* C = bias + A.B (bias may be NULL) or, with accumulate, C += A.B; then
 * C = act(C) for the activation of epi (FASTNN_NO_EPILOGUE: none).
 * `a` has m rows, `b` has n rows (the columns of C); both have k reduction
 * indices.  Returns FASTNN_OK or FASTNN_ENOMEM. */
int fastnn_gemm(int64_t m, int64_t n, int64_t k, fastnn_gemm_operand a,
                fastnn_gemm_operand b, float *c, int64_t ldc,
                const float *bias, int accumulate, fastnn_epilogue epi);

/* C row, final: row = act(row) for the activation of epi, a ReLU included. */
void fastnn_epilogue_row(const fastnn_epilogue *epi, float *row, int64_t n);

/* Products of at most FASTNN_SKINNY_MAX_N columns (gemm_skinny.c): C (m x n,
 * row stride ldc) = bias + A.B, then epi's activation, for a strided A that
 * fastnn_gemm_skinny_takes (at least 2^16 values, row-major with k >= 512 or
 * transposed) and any strided B.  Returns FASTNN_OK or FASTNN_ENOMEM. */
#define FASTNN_SKINNY_MAX_N 16
int fastnn_gemm_skinny_takes(int64_t m, int64_t n, int64_t k,
                             const fastnn_strided *a);
int fastnn_gemm_skinny(int64_t m, int64_t n, int64_t k, const fastnn_strided *a,
                       const fastnn_strided *b, float *c, int64_t ldc,
                       const float *bias, fastnn_epilogue epi);

/* For callers that keep operands packed across many products: the panel
 * width of A on this CPU's SIMD path (B's is FASTNN_NR), and loops 2 and 1
 * of the engine on packed panels of depth kc <= FASTNN_KC: C (m x n) =
 * bias + A.B (overwrite; bias may be NULL) or C += A.B. */
int64_t fastnn_gemm_mr(void);
void fastnn_gemm_packed(int64_t m, int64_t n, int64_t kc, const float *ap,
                        const float *bp, float *c, int64_t ldc, int overwrite,
                        const float *bias);

/* Where the rows of an indirect product go: row (n, h, w) of its pixel grid
 * to row (n, h*step_h + h0, w*step_w + w0) of an out_h x out_w image. */
typedef struct {
    int64_t step_h, step_w, h0, w0, out_h, out_w;
} fastnn_row_scatter;

/* out (rows x n) = bias + sum over taps and channels of the image runs the
 * rows read times B (conv2d_indirect.c): the forward pass (transposed = 0,
 * src = x, B = W, n = out_c) or the input gradient (transposed = 1, src = dy,
 * B = W', n = in_c) of a stride-1 convolution (or of one phase of a strided
 * one, given as stride 1: conv2d.c); epi applies an activation at the end
 * (FASTNN_NO_EPILOGUE: none).  The rows are written consecutively, or where
 * `scatter` says (not NULL). */
int fastnn_conv2d_indirect(const fastnn_conv2d_geom *g, int transposed,
                           const float *src, fastnn_gemm_operand b, int64_t n,
                           const float *bias, fastnn_epilogue epi, float *out,
                           const fastnn_row_scatter *scatter);

/* dw = the weight gradient P^T . dy of a convolution, reading x and dy in
 * place (conv2d_weight_gradient.c), and db = dy summed over its pixels
 * (db may be NULL); both are overwritten. */
int fastnn_conv2d_weight_gradient(const float *x, const float *dy, float *dw,
                                  float *db, const fastnn_conv2d_geom *g);

#endif /* FASTNN_GEMM_H */
