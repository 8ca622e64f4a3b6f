/*
 * gemm.c -- matrix multiplication, naive and blocked.
 *
 * fastnn_matmul_naive is the definition, C[i][j] = sum_p A[i][p] * B[p][j],
 * as three nested loops.  It is correct and slow: for every element of C it
 * walks a column of B, touching a new cache line per multiply.
 *
 * fastnn_gemm (behind fastnn_matmul and the fast convolutions) is the
 * Goto/BLIS algorithm: five loops around a micro-kernel.
 *
 *   5th loop  jc: NC columns of B at a time
 *   4th loop  pc: KC-deep slice of the reduction; pack B[pc.., jc..] into
 *                 NR-wide panels (contiguous, read by every row block)
 *   3rd loop  ic: MC rows of A at a time; pack A[ic.., pc..] into MR-tall
 *                 panels (stays in L2 while all of B's panels pass it)
 *   2nd loop  jr: one NR-wide panel of B (stays in L1)
 *   1st loop  ir: one MR-tall panel of A
 *             micro-kernel: the MR x NR tile of C += A panel . B panel,
 *             held in vector registers across the whole KC loop.
 *
 * The micro-kernel is the one part written per SIMD path: a 6 x 16 tile in
 * 12 AVX registers (or two passes of 6 x 8 in SSE registers), a 16 x 16
 * tile in 16 AVX-512 registers.  It does 2*MR*NR flops per MR + NR floats
 * loaded (192 per 22, 512 per 32), which is what lets it run near the
 * core's FMA peak.  Packing costs O(mk + kn) against O(mnk) arithmetic.
 *
 * Epilogue: the activation of fastnn_matmul (a Dense layer's) is applied
 * to each tile of C as it is stored after the last slice of the reduction
 * (fastnn_epilogue, internal.h): a ReLU as a max on the stored rows, any
 * other activation on the tile buffer -- the values the store writes --
 * before it is copied out; on a split reduction, to each row of C once the
 * copies are added.
 *
 * Parallelism: the m (or n) dimension is cut into one contiguous range of
 * panels per thread; each thread packs its own blocks and writes a disjoint
 * part of C, so no locks, no barriers, and a result that does not depend on
 * scheduling.  When the rows are cut and all of B packs into 256 KiB (a
 * 256 x 256 x 256 product), the threads instead take runs of rows from a
 * counter as they come (gemm_small_b, below).
 * When C is small and the reduction long (k > 2 x threads x max(m, n)), the
 * k dimension is cut instead: each thread sums its part into a private copy
 * of C and the copies are added in thread order at the end.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "gemm.h"

/* ---- naive ---------------------------------------------------------------- */

void fastnn_matmul_naive(const float *a, const float *b, const float *bias,
                         float *c, int64_t m, int64_t n, int64_t k,
                         int transpose_a, int transpose_b, int act, float alpha)
{
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            float sum = bias ? bias[j] : 0.0f;
            for (int64_t p = 0; p < k; p++) {
                float a_ip = transpose_a ? a[p * m + i] : a[i * k + p];
                float b_pj = transpose_b ? b[j * k + p] : b[p * n + j];
                sum += a_ip * b_pj;
            }
            c[i * n + j] = sum;
        }
    }
    fastnn_activation_forward_naive((fastnn_activation)act, alpha, c, c, m * n);
}

/* ---- packing -------------------------------------------------------------- */

/* Two vectors' lanes picked by index (0-3 from a, 4-7 from b); GCC before
 * 12 names the builtin differently. */
#if defined(__clang__) || __GNUC__ >= 12
#define SHUFFLE4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
typedef int32_t lanes4 __attribute__((vector_size(16)));
#define SHUFFLE4(a, b, i, j, k, l) __builtin_shuffle(a, b, (lanes4){i, j, k, l})
#endif

/* dst[j * dst_stride + i] = src[i * src_stride + j] for i, j < 4: four
 * loads, eight shuffles, four stores. */
static inline void transpose_4x4(const float *src, int64_t src_stride,
                                 float *dst, int64_t dst_stride)
{
    fastnn_v4 r0, r1, r2, r3;
    memcpy(&r0, src, sizeof r0);
    memcpy(&r1, src + src_stride, sizeof r1);
    memcpy(&r2, src + 2 * src_stride, sizeof r2);
    memcpy(&r3, src + 3 * src_stride, sizeof r3);
    fastnn_v4 t0 = SHUFFLE4(r0, r1, 0, 4, 1, 5), t1 = SHUFFLE4(r0, r1, 2, 6, 3, 7);
    fastnn_v4 t2 = SHUFFLE4(r2, r3, 0, 4, 1, 5), t3 = SHUFFLE4(r2, r3, 2, 6, 3, 7);
    fastnn_v4 c0 = SHUFFLE4(t0, t2, 0, 1, 4, 5), c1 = SHUFFLE4(t0, t2, 2, 3, 6, 7);
    fastnn_v4 c2 = SHUFFLE4(t1, t3, 0, 1, 4, 5), c3 = SHUFFLE4(t1, t3, 2, 3, 6, 7);
    memcpy(dst, &c0, sizeof c0);
    memcpy(dst + dst_stride, &c1, sizeof c1);
    memcpy(dst + 2 * dst_stride, &c2, sizeof c2);
    memcpy(dst + 3 * dst_stride, &c3, sizeof c3);
}

/* Values of p packed together across the panels of a row-adjacent operand
 * (below). */
enum { PACK_GROUP = 8 };

void fastnn_pack_strided(const void *operand, int64_t row0, int64_t rows,
                         int64_t p0, int64_t kc, int64_t width, float *dst)
{
    const fastnn_strided *s = (const fastnn_strided *)operand;
    const float *base = s->data + row0 * s->row_stride + p0 * s->p_stride;
    int64_t panels = fastnn_ceil_div(rows, width);
    if (rows % width) /* the last panel is partial: its padding rows are 0 */
        memset(dst + (panels - 1) * width * kc, 0,
               (size_t)(width * kc) * sizeof(float));
    if (s->row_stride == 1) {
        /* Rows are adjacent in memory (B as stored, or A transposed): a
         * panel's `width` values of one p are a contiguous run, copied as a
         * block.  PACK_GROUP values of p at a time, across all the panels:
         * each of the group's source lines is read front to back (a stream
         * the prefetcher follows), and each panel receives one contiguous
         * block of PACK_GROUP x width values.  (Panel by panel over all of
         * kc, every read started a new cache line -- and, for lines 4 KB
         * or more apart, a new page, which the prefetcher does not cross:
         * packing a 3136 x 1024 B took longer than the products of a
         * 32-row A with it.  p by p across the panels, the writes would go
         * to panels width*kc floats apart, which share cache sets.) */
        for (int64_t g0 = 0; g0 < kc; g0 += PACK_GROUP) {
            int64_t g1 = fastnn_min(kc, g0 + PACK_GROUP);
            float *panel = dst + g0 * width;
            for (int64_t r0 = 0; r0 < rows; r0 += width, panel += width * kc) {
                int64_t valid = fastnn_min(width, rows - r0);
                float *d = panel;
                for (int64_t p = g0; p < g1; p++, d += width) {
                    const float *src = base + p * s->p_stride + r0;
                    for (int64_t r = 0; r < valid; r++)
                        d[r] = src[r];
                }
            }
        }
    } else if (s->p_stride == 1) {
        /* Each row is a contiguous run along p (A as stored, or B
         * transposed): 4 rows x 4 values of p at a time are read as four
         * vectors and transposed into the panel.  A panel of 4 or more rows
         * that are no multiple of 4 takes its last block 4 rows up from its
         * end, writing a few rows twice with the same values. */
        for (int64_t r0 = 0; r0 < rows; r0 += width, dst += width * kc) {
            const float *src = base + r0 * s->row_stride;
            int64_t valid = fastnn_min(width, rows - r0), p = 0;
            if (valid >= 4)
                for (; p + 4 <= kc; p += 4)
                    for (int64_t r = 0; r < valid; r += 4) {
                        int64_t r4 = fastnn_min(r, valid - 4);
                        transpose_4x4(src + r4 * s->row_stride + p, s->row_stride,
                                      dst + p * width + r4, width);
                    }
            for (; p < kc; p++) /* the last kc % 4 values, or all of a thin panel */
                for (int64_t r = 0; r < valid; r++)
                    dst[p * width + r] = src[r * s->row_stride + p];
        }
    } else {
        /* Neither runs along rows nor along p: value by value. */
        for (int64_t r = 0; r < rows; r++) {
            const float *src = base + r * s->row_stride;
            float *d = dst + (r / width) * width * kc + r % width;
            for (int64_t p = 0; p < kc; p++)
                d[p * width] = src[p * s->p_stride];
        }
    }
}

/* ---- micro- and macro-kernel ---------------------------------------------- */

/* Each SIMD path's micro-kernel computes an MR x NR tile, NR = 16 columns
 * on every path (so B packs the same way everywhere) and MR rows chosen to
 * fill the path's vector registers (MR_AVX512 or MR_SMALL). */
enum { MR_SMALL = FASTNN_MR_SMALL, MR_AVX512 = FASTNN_MR_AVX512 };
_Static_assert(MR_AVX512 <= FASTNN_MR_MAX && FASTNN_MC % MR_AVX512 == 0 &&
               FASTNN_MC % MR_SMALL == 0, "MC must hold whole panels of A");

/* tile (16 x NR, row-major) = A panel (kc x 16) . B panel (kc x NR), with
 * 16-wide vectors (AVX-512).  Each step p loads the 16 values of B as one
 * vector and multiplies it with one broadcast value of A per row (the
 * broadcast folds into the FMA as a memory operand): 16 fused multiply-adds
 * on 16 accumulator registers of 32.  Sixteen independent sums cover the
 * FMA latency (4 cycles) times the FMAs a core starts per cycle (1 on Zen 4,
 * whose 512-bit FMA takes both 256-bit pipes; 2 on Intel server cores). */
FASTNN_INLINE void micro_kernel_v16(int64_t kc, const float *restrict a,
                                    const float *restrict b,
                                    float *restrict tile)
{
    fastnn_v16 acc[MR_AVX512];
    for (int r = 0; r < MR_AVX512; r++)
        acc[r] = (fastnn_v16){0};
    for (int64_t p = 0; p < kc; p++, a += MR_AVX512, b += FASTNN_NR) {
        fastnn_v16 b0;
        memcpy(&b0, b, sizeof b0);
        for (int r = 0; r < MR_AVX512; r++)
            acc[r] += a[r] * b0;
    }
    for (int r = 0; r < MR_AVX512; r++)
        memcpy(tile + r * FASTNN_NR, &acc[r], sizeof acc[r]);
}

/* The 6 x NR tile with 8-wide vectors (AVX2): each step p broadcasts one
 * value of A per row and multiplies it with the 16 values of B in two
 * vectors, 12 fused multiply-adds on 12 accumulator registers (AVX2 has 16
 * of them). */
FASTNN_INLINE void micro_kernel_v8(int64_t kc, const float *restrict a,
                                   const float *restrict b,
                                   float *restrict tile)
{
    fastnn_v8 acc[MR_SMALL][2];
    for (int r = 0; r < MR_SMALL; r++) /* (a memset and a memcpy of the array */
        acc[r][0] = acc[r][1] = (fastnn_v8){0}; /* went through the stack) */
    for (int64_t p = 0; p < kc; p++, a += MR_SMALL, b += FASTNN_NR) {
        fastnn_v8 b0, b1;
        memcpy(&b0, b, sizeof b0);
        memcpy(&b1, b + 8, sizeof b1);
        for (int r = 0; r < MR_SMALL; r++) {
            acc[r][0] += a[r] * b0;
            acc[r][1] += a[r] * b1;
        }
    }
    for (int r = 0; r < MR_SMALL; r++) {
        fastnn_v8 lo = acc[r][0], hi = acc[r][1];
        memcpy(tile + r * FASTNN_NR, &lo, sizeof lo);
        memcpy(tile + r * FASTNN_NR + 8, &hi, sizeof hi);
    }
}

/* The same 6 x NR tile with 4-wide vectors (SSE2, NEON): the 16 columns take
 * two passes of 8, so the 12 accumulators still fit in 16 registers. */
FASTNN_INLINE void micro_kernel_v4(int64_t kc, const float *restrict a,
                                   const float *restrict b,
                                   float *restrict tile)
{
    for (int half = 0; half < FASTNN_NR; half += 8) {
        fastnn_v4 acc[MR_SMALL][2];
        for (int r = 0; r < MR_SMALL; r++)
            acc[r][0] = acc[r][1] = (fastnn_v4){0};
        const float *ap = a, *bp = b + half;
        for (int64_t p = 0; p < kc; p++, ap += MR_SMALL, bp += FASTNN_NR) {
            fastnn_v4 b0, b1;
            memcpy(&b0, bp, sizeof b0);
            memcpy(&b1, bp + 4, sizeof b1);
            for (int r = 0; r < MR_SMALL; r++) {
                acc[r][0] += ap[r] * b0;
                acc[r][1] += ap[r] * b1;
            }
        }
        for (int r = 0; r < MR_SMALL; r++)
            memcpy(tile + r * FASTNN_NR + half, acc[r], sizeof acc[r]);
    }
}

void fastnn_epilogue_row(const fastnn_epilogue *epi, float *row, int64_t n)
{
    if (epi->act == FASTNN_ACT_RELU)
        for (int64_t j = 0; j < n; j++)
            row[j] = row[j] < 0.0f ? 0.0f : row[j];
    else
        fastnn_epilogue_apply(epi, row, n);
}

/* Writes the valid mr x nr corner of a tile into C: C = bias + tile on the
 * first slice of the reduction (overwrite), C += tile on later ones; on the
 * last slice epi (else NULL) applies the activation.  Other than a ReLU, it
 * runs on the tile itself, once it holds the values the store writes (all
 * mr rows of NR in one call: the columns past nr are finite sums of zero
 * padding, computed and dropped). */
FASTNN_INLINE void store_tile(float *restrict tile, float *restrict c,
                              int64_t ldc, int64_t mr, int64_t nr,
                              int overwrite, const float *restrict bias,
                              const fastnn_epilogue *epi)
{
    if (epi && epi->apply) {
        for (int64_t r = 0; r < mr; r++) {
            const float *crow = c + r * ldc;
            float *t = tile + r * FASTNN_NR;
            if (!overwrite)
                for (int64_t j = 0; j < nr; j++)
                    t[j] = crow[j] + t[j];
            else if (bias)
                for (int64_t j = 0; j < nr; j++)
                    t[j] = bias[j] + t[j];
        }
        fastnn_epilogue_apply(epi, tile, mr * FASTNN_NR);
        for (int64_t r = 0; r < mr; r++)
            memcpy(c + r * ldc, tile + r * FASTNN_NR, (size_t)nr * sizeof(float));
        return;
    }
    /* One loop per row, one load and one store per value: written as
     * separate passes (store, then a ReLU pass over the stored row), GCC
     * turned a full tile's rows into 16 scalar loads and stores each, most
     * of the time of a product over a short reduction (128 x 10 . 10 x 3136). */
    const int relu = epi && epi->act == FASTNN_ACT_RELU;
    for (int64_t r = 0; r < mr; r++) {
        float *crow = c + r * ldc;
        const float *t = tile + r * FASTNN_NR;
        for (int64_t j = 0; j < nr; j++) {
            float v = !overwrite ? crow[j] + t[j] : bias ? bias[j] + t[j] : t[j];
            crow[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

/* Loops 2 and 1: every MR x NR tile of the mc x nc block of C, with the
 * micro-kernel for `width`-float vectors (MR = 16 rows for 16-wide
 * vectors, else 6). */
FASTNN_INLINE void macro_kernel_body(int64_t mc, int64_t nc, int64_t kc,
                                     const float *ap, const float *bp,
                                     float *c, int64_t ldc, int overwrite,
                                     const float *bias, const fastnn_epilogue *epi,
                                     int width)
{
    const int64_t mr = width == 16 ? MR_AVX512 : MR_SMALL;
    float tile[FASTNN_MR_MAX * FASTNN_NR] __attribute__((aligned(64)));
    for (int64_t jr = 0; jr < nc; jr += FASTNN_NR) {
        for (int64_t ir = 0; ir < mc; ir += mr) {
            /* Ask for the tile's rows of C now: the KC steps of the
             * micro-kernel hide the wait that would otherwise stall the
             * store (C of a large product is not in cache). */
            for (int64_t r = 0; r < fastnn_min(mr, mc - ir); r++) {
                const float *crow = c + (ir + r) * ldc + jr;
                __builtin_prefetch(crow, 1);
                __builtin_prefetch(crow + fastnn_min(FASTNN_NR, nc - jr) - 1, 1);
            }
            if (width == 16)
                micro_kernel_v16(kc, ap + ir * kc, bp + jr * kc, tile);
            else if (width == 8)
                micro_kernel_v8(kc, ap + ir * kc, bp + jr * kc, tile);
            else
                micro_kernel_v4(kc, ap + ir * kc, bp + jr * kc, tile);
            if (ir + mr <= mc && jr + FASTNN_NR <= nc) /* a full tile: fixed loops */
                store_tile(tile, c + ir * ldc + jr, ldc, mr, FASTNN_NR, overwrite,
                           bias ? bias + jr : NULL, epi);
            else
                store_tile(tile, c + ir * ldc + jr, ldc, fastnn_min(mr, mc - ir),
                           fastnn_min(FASTNN_NR, nc - jr), overwrite,
                           bias ? bias + jr : NULL, epi);
        }
    }
}

typedef void (*macro_kernel_fn)(int64_t, int64_t, int64_t, const float *,
                                const float *, float *, int64_t, int,
                                const float *, const fastnn_epilogue *);

static void macro_kernel_generic(int64_t mc, int64_t nc, int64_t kc,
                                 const float *ap, const float *bp, float *c,
                                 int64_t ldc, int overwrite, const float *bias,
                                 const fastnn_epilogue *epi)
{
    macro_kernel_body(mc, nc, kc, ap, bp, c, ldc, overwrite, bias, epi, 4);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void macro_kernel_avx2(int64_t mc, int64_t nc, int64_t kc,
                              const float *ap, const float *bp, float *c,
                              int64_t ldc, int overwrite, const float *bias,
                              const fastnn_epilogue *epi)
{
    macro_kernel_body(mc, nc, kc, ap, bp, c, ldc, overwrite, bias, epi, 8);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void macro_kernel_avx512(int64_t mc, int64_t nc, int64_t kc,
                                const float *ap, const float *bp, float *c,
                                int64_t ldc, int overwrite, const float *bias,
                                const fastnn_epilogue *epi)
{
    macro_kernel_body(mc, nc, kc, ap, bp, c, ldc, overwrite, bias, epi, 16);
}
#endif

/* The macro-kernel this CPU runs, with its tile height. */
typedef struct {
    macro_kernel_fn run;
    int64_t mr;  /* rows of a tile, and of a packed panel of A */
} macro_kernel;

static macro_kernel pick_macro_kernel(void)
{
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        return (macro_kernel){macro_kernel_avx512, MR_AVX512};
#endif
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        return (macro_kernel){macro_kernel_avx2, MR_SMALL};
#endif
    return (macro_kernel){macro_kernel_generic, MR_SMALL};
}

/* Loops 2 and 1 alone, for a caller that packs its operands itself and
 * keeps them packed across many products (the recurrent time loop,
 * recurrent.c): C (m x n) = bias + or += A (m x kc) . B (kc x n) from
 * packed panels, with this CPU's micro-kernel.  kc <= FASTNN_KC keeps a
 * sliver of B in L1; every element of C is summed over p in order. */
void fastnn_gemm_packed(int64_t m, int64_t n, int64_t kc, const float *ap,
                        const float *bp, float *c, int64_t ldc, int overwrite,
                        const float *bias)
{
    pick_macro_kernel().run(m, n, kc, ap, bp, c, ldc, overwrite, bias, NULL);
}

int64_t fastnn_gemm_mr(void)
{
    return pick_macro_kernel().mr;
}

/* ---- the five loops --------------------------------------------------------- */

/* One thread's packing buffers: an MC x KC block of A and a KC x NC block
 * of B, or less for a product of only m x n over k. */
typedef struct { float *a, *b; } pack_buffers;

static int pack_buffers_alloc(pack_buffers *buf, int64_t m, int64_t n, int64_t k,
                              int64_t mr)
{
    int64_t kc = fastnn_min(k, FASTNN_KC);
    int64_t nc = fastnn_ceil_div(fastnn_min(n, FASTNN_NC), FASTNN_NR) * FASTNN_NR;
    int64_t mc = fastnn_ceil_div(fastnn_min(m, FASTNN_MC), mr) * mr;
    buf->a = fastnn_alloc_floats(mc * kc);
    buf->b = fastnn_alloc_floats(nc * kc);
    return buf->a && buf->b ? FASTNN_OK : FASTNN_ENOMEM;
}

static void pack_buffers_free(pack_buffers *buf)
{
    fastnn_free_floats(buf->a);
    fastnn_free_floats(buf->b);
}

/* One thread's share of the product: rows [m0, m1) x columns [n0, n1),
 * summed over the reduction indices [k0, k1), packed into `buf`; epi (may
 * be NULL) applied as the last slice is stored. */
static void gemm_range_packed(int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                              int64_t k0, int64_t k1, fastnn_gemm_operand a,
                              fastnn_gemm_operand b, float *c, int64_t ldc,
                              const float *bias, int accumulate,
                              const fastnn_epilogue *epi, macro_kernel kernel,
                              const pack_buffers *buf)
{
    float *ap = buf->a, *bp = buf->b;
    for (int64_t jc = n0; jc < n1; jc += FASTNN_NC) {             /* loop 5 */
        int64_t nc = fastnn_min(FASTNN_NC, n1 - jc);
        for (int64_t pc = k0; pc < k1; pc += FASTNN_KC) {         /* loop 4 */
            int64_t kc = fastnn_min(FASTNN_KC, k1 - pc);
            int overwrite = pc == k0 && !accumulate;
            b.pack(b.operand, jc, nc, pc, kc, FASTNN_NR, bp);
            for (int64_t ic = m0; ic < m1; ic += FASTNN_MC) {     /* loop 3 */
                int64_t mc = fastnn_min(FASTNN_MC, m1 - ic);
                a.pack(a.operand, ic, mc, pc, kc, kernel.mr, ap);
                kernel.run(mc, nc, kc, ap, bp, c + ic * ldc + jc, ldc,
                           overwrite, overwrite && bias ? bias + jc : NULL,
                           pc + kc == k1 ? epi : NULL);
            }
        }
    }
}

/* The same with buffers of its own. */
static int gemm_range(int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                      int64_t k0, int64_t k1, fastnn_gemm_operand a,
                      fastnn_gemm_operand b, float *c, int64_t ldc,
                      const float *bias, int accumulate,
                      const fastnn_epilogue *epi, macro_kernel kernel)
{
    pack_buffers buf;
    int status = pack_buffers_alloc(&buf, m1 - m0, n1 - n0, k1 - k0, kernel.mr);
    if (status == FASTNN_OK)
        gemm_range_packed(m0, m1, n0, n1, k0, k1, a, b, c, ldc, bias, accumulate,
                          epi, kernel, &buf);
    pack_buffers_free(&buf);
    return status;
}

/* Split-K: the reduction is cut into `parts` ranges (fastnn_parts_for: a
 * count fixed by the shape, never by the threads); each range is summed into
 * its own m x n copy of C by whichever thread takes it, and the copies are
 * then added in range order -- so C is bit-identical for any number of
 * threads, and for a team smaller than asked for.  The activation goes on
 * each row of C once its copies are added. */
static int gemm_split_k(int64_t m, int64_t n, int64_t k, int parts,
                        int threads, fastnn_gemm_operand a,
                        fastnn_gemm_operand b, float *c, int64_t ldc,
                        const float *bias, int accumulate,
                        const fastnn_epilogue *epi, macro_kernel kernel)
{
    float *partial = fastnn_alloc_floats((int64_t)parts * m * n);
    if (!partial)
        return FASTNN_ENOMEM;
    int status = FASTNN_OK;
#pragma omp parallel num_threads(threads)
    {
        pack_buffers buf; /* once per thread, for all the parts it takes */
        if (pack_buffers_alloc(&buf, m, n, fastnn_ceil_div(k, parts),
                               kernel.mr) != FASTNN_OK) {
#pragma omp atomic write
            status = FASTNN_ENOMEM;
        }
#pragma omp for schedule(static)
        for (int p = 0; p < parts; p++)
            if (buf.a && buf.b)
                gemm_range_packed(0, m, 0, n, k * p / parts, k * (p + 1) / parts,
                                  a, b, partial + p * m * n, n, NULL, 0,
                                  NULL, kernel, &buf);
        pack_buffers_free(&buf);
        /* C = start + copy 0 + copy 1 + ..., row by row (the inner loop
         * streams and vectorises), the rows shared by the team */
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m; i++) {
            if (status != FASTNN_OK)
                continue;
            float *row = c + i * ldc;
            if (!accumulate)
                for (int64_t j = 0; j < n; j++)
                    row[j] = bias ? bias[j] : 0.0f;
            for (int p = 0; p < parts; p++) {
                const float *copy = partial + (p * m + i) * n;
                for (int64_t j = 0; j < n; j++)
                    row[j] += copy[j];
            }
            fastnn_epilogue_row(epi, row, n);
        }
    }
    fastnn_free_floats(partial);
    return status;
}

/* ---- a small product on a team: rows handed out as the threads come -------
 *
 * At 256 x 256 x 256 a thread's half of the product takes some 150 us.
 * Under OMP_WAIT_POLICY=PASSIVE (fastnn's default) the second thread starts
 * 5-15 us after the first, so with the even split above the first finishes
 * early, falls asleep at the region's end and is woken again (as long once
 * more).  So when B packs into at most SMALL_B_FLOATS, the threads take runs
 * of A's row panels from a counter instead, largest first (remaining /
 * (2 x team), at least SMALL_B_MIN_ROWS rows): a thread that starts late
 * simply takes fewer.  Each thread packs all of B into a buffer of its own,
 * panel by panel as its first run reaches it (a flag per panel), as the even
 * split does: a copy shared by the team was slower in back-to-back calls,
 * the other core then fetching every line of it from the packing core's
 * cache.  Thread 0 then spins until the others finish, so that it reaches
 * the region's end last and does not sleep there -- for at most
 * SMALL_B_SPIN_NS, as recurrent.c's step barrier: long enough for a partner
 * a run behind, short enough not to hold a core that a descheduled partner
 * (a loaded machine) is waiting for; measured there, a 50 us spin made the
 * median 256^3 call slower.  (What no split mends: after the caller slept
 * -- 1 ms, as between a training step's products -- Linux woke the second
 * thread on the first one's core in 98-100% of regions on the 2-vCPU VM,
 * and the product ran on one core; with OMP_PROC_BIND=true it did not.)  A
 * run of rows is summed over every slice of the reduction by the thread
 * that took it, in slice order, with the same micro-kernel: each element of
 * C is the same sum, in the same order, as on one thread. */
enum {
    SMALL_B_FLOATS = 64 * 1024,  /* 256 KiB of packed B: a quarter of a Zen 4 L2 */
    SMALL_B_MAX_PANELS = 512,    /* flags on the stack */
    SMALL_B_MIN_ROWS = 24,       /* the smallest run of rows handed out */
    SMALL_B_SPIN_NS = 20000
};

static int64_t small_b_floats(int64_t n, int64_t k)
{
    return fastnn_ceil_div(n, FASTNN_NR) * FASTNN_NR * k;
}

static int small_b_takes(int64_t n, int64_t k)
{
    return small_b_floats(n, k) <= SMALL_B_FLOATS &&
           fastnn_ceil_div(k, FASTNN_KC) * fastnn_ceil_div(n, FASTNN_NR) <=
               SMALL_B_MAX_PANELS;
}

static int64_t clock_ns(void)
{
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One thread's packed copy of all of B (slice after slice: slice pc holds
 * npad x kc values at pc * npad) and whether each panel is in it yet. */
typedef struct {
    float *b;
    char packed[SMALL_B_MAX_PANELS];
} small_b_copy;

/* Rows [m0, m1) of C, over all of k, with this thread's copy of B (its
 * panels packed as they are first reached) and its buffer ap for MC x KC
 * of A. */
static void small_b_rows(int64_t m0, int64_t m1, int64_t n, int64_t k,
                         fastnn_gemm_operand a, fastnn_gemm_operand b,
                         small_b_copy *copy, float *ap, float *c, int64_t ldc,
                         const float *bias, int accumulate,
                         const fastnn_epilogue *epi, macro_kernel kernel)
{
    int64_t npad = fastnn_ceil_div(n, FASTNN_NR) * FASTNN_NR;
    for (int64_t ic = m0; ic < m1; ic += FASTNN_MC) {
        int64_t mc = fastnn_min(FASTNN_MC, m1 - ic);
        for (int64_t pc = 0; pc < k; pc += FASTNN_KC) {
            int64_t kc = fastnn_min(FASTNN_KC, k - pc);
            int overwrite = pc == 0 && !accumulate;
            float *slice = copy->b + pc * npad;
            char *packed = copy->packed + pc / FASTNN_KC * (npad / FASTNN_NR);
            a.pack(a.operand, ic, mc, pc, kc, kernel.mr, ap);
            for (int64_t jr = 0; jr < n; jr += FASTNN_NR) {
                int64_t nr = fastnn_min(FASTNN_NR, n - jr);
                if (!packed[jr / FASTNN_NR]) {
                    b.pack(b.operand, jr, nr, pc, kc, FASTNN_NR, slice + jr * kc);
                    packed[jr / FASTNN_NR] = 1;
                }
                kernel.run(mc, nr, kc, ap, slice + jr * kc, c + ic * ldc + jr, ldc,
                           overwrite, overwrite && bias ? bias + jr : NULL,
                           pc + kc == k ? epi : NULL);
            }
        }
    }
}

static int gemm_small_b(int64_t m, int64_t n, int64_t k, int threads,
                        fastnn_gemm_operand a, fastnn_gemm_operand b, float *c,
                        int64_t ldc, const float *bias, int accumulate,
                        const fastnn_epilogue *epi, macro_kernel kernel)
{
    int64_t panels = fastnn_ceil_div(m, kernel.mr);
    int64_t min_run = fastnn_max(1, SMALL_B_MIN_ROWS / kernel.mr);
    atomic_llong next_panel, finished;
    atomic_init(&next_panel, 0);
    atomic_init(&finished, 0);
    int status = FASTNN_OK;
#pragma omp parallel num_threads(threads)
    {
        int64_t team = fastnn_team_size();
        small_b_copy copy = {fastnn_alloc_floats(small_b_floats(n, k)), {0}};
        float *ap = fastnn_alloc_floats(
            fastnn_ceil_div(fastnn_min(m, FASTNN_MC), kernel.mr) * kernel.mr *
            fastnn_min(k, FASTNN_KC));
        if (!ap || !copy.b) {
#pragma omp atomic write
            status = FASTNN_ENOMEM;
        }
        for (long long first = atomic_load(&next_panel);
             ap && copy.b && first < panels;) {
            int64_t run = fastnn_max(min_run, (panels - first) / (2 * team));
            long long last = fastnn_min(panels, first + run);
            if (!atomic_compare_exchange_weak(&next_panel, &first, last))
                continue; /* another thread took it: `first` is reloaded */
            small_b_rows(first * kernel.mr, fastnn_min(last * kernel.mr, m), n, k,
                         a, b, &copy, ap, c, ldc, bias, accumulate, epi, kernel);
            first = last;
        }
        fastnn_free_floats(ap);
        fastnn_free_floats(copy.b);
        atomic_fetch_add(&finished, 1);
        if (fastnn_thread_id() == 0) {
            int64_t start = clock_ns();
            while (atomic_load(&finished) < team && clock_ns() - start < SMALL_B_SPIN_NS)
                for (int polls = 0; polls < 16; polls++)
                    fastnn_cpu_relax();
        }
    }
    return status;
}

int fastnn_gemm(int64_t m, int64_t n, int64_t k, fastnn_gemm_operand a,
                fastnn_gemm_operand b, float *c, int64_t ldc,
                const float *bias, int accumulate, fastnn_epilogue epi)
{
    if (m <= 0 || n <= 0)
        return FASTNN_OK;
    if (k <= 0) { /* an empty sum: C keeps its value, or becomes the bias */
        for (int64_t i = 0; i < m; i++) {
            if (!accumulate)
                for (int64_t j = 0; j < n; j++)
                    c[i * ldc + j] = bias ? bias[j] : 0.0f;
            fastnn_epilogue_row(&epi, c + i * ldc, n);
        }
        return FASTNN_OK;
    }
    macro_kernel kernel = pick_macro_kernel();
    int64_t panels_m = fastnn_ceil_div(m, kernel.mr);
    int64_t panels_n = fastnn_ceil_div(n, FASTNN_NR);
    double work = 2.0 * (double)m * (double)n * (double)k;
    /* A short, narrow C summed over a long reduction (a convolution's weight
     * gradient: 64 x 288 over 15,488 pixels): splitting m or n would make
     * every thread pack all of the other operand, which is most of the data;
     * splitting k packs everything once, for a small sum at the end.  Each
     * range of k stays at least 2 max(m, n) long.  The choice and the ranges
     * depend on the shape only (see gemm_split_k), so they are made the same
     * way on one thread. */
    int parts = fastnn_parts_for(k / (2 * fastnn_max(m, n)), work);
    int threads = fastnn_threads_for(work);
    if (parts > 1)
        return gemm_split_k(m, n, k, parts, threads < parts ? threads : parts,
                            a, b, c, ldc, bias, accumulate, &epi, kernel);
    /* Splitting m makes every thread pack all of B (n x k), splitting n all
     * of A (m x k): split the longer side, so the operand each thread
     * repacks is the smaller one, unless it has too few panels to share.
     * Each element of C is summed in the same order whoever computes it. */
    int split_m = (m >= n && panels_m >= threads) || panels_n < threads;
    int64_t panels = split_m ? panels_m : panels_n;
    if (panels < threads)
        threads = (int)panels;
    if (threads == 1) /* no parallel region: a Dense layer of a small MLP takes less */
        return gemm_range(0, m, 0, n, 0, k, a, b, c, ldc, bias, accumulate,
                          &epi, kernel);
    if (split_m && small_b_takes(n, k))
        return gemm_small_b(m, n, k, threads, a, b, c, ldc, bias, accumulate,
                            &epi, kernel);
    int status = FASTNN_OK;

#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        int64_t first = panels * t / team, last = panels * (t + 1) / team;
        int64_t m0 = 0, m1 = m, n0 = 0, n1 = n;
        if (split_m) {
            m0 = first * kernel.mr;
            m1 = fastnn_min(last * kernel.mr, m);
        } else {
            n0 = first * FASTNN_NR;
            n1 = fastnn_min(last * FASTNN_NR, n);
        }
        if (m0 < m1 && n0 < n1) {
            int s = gemm_range(m0, m1, n0, n1, 0, k, a, b, c, ldc, bias,
                               accumulate, &epi, kernel);
            if (s != FASTNN_OK) {
#pragma omp atomic write
                status = s;
            }
        }
    }
    return status;
}
