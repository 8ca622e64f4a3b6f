/*
 * internal.h -- shared plumbing of the C kernels (not part of the public API).
 *
 * - the OpenMP shim: kernels call fastnn_thread_id() etc. and never include
 *   omp.h themselves, so a compiler without OpenMP builds a serial library;
 * - the SIMD dispatch macros: a hot loop is written once as a static inline
 *   function and instantiated per instruction set with FASTNN_TARGET_AVX2;
 * - aligned scratch allocation.
 */
#ifndef FASTNN_INTERNAL_H
#define FASTNN_INTERNAL_H

#include <stddef.h>
#include <string.h>
#include <stdint.h>

#include "fastnn.h"

#ifdef _OPENMP
#include <omp.h>
static inline int fastnn_thread_id(void) { return omp_get_thread_num(); }
static inline int fastnn_team_size(void) { return omp_get_num_threads(); }
#else
static inline int fastnn_thread_id(void) { return 0; }
static inline int fastnn_team_size(void) { return 1; }
#endif

/* At most `cap` threads (0: no cap) for every fastnn_threads_for and
 * fastnn_threads_for_stream decision the calling thread makes until the
 * next call; returns the cap it replaces, which the caller puts back.  A
 * kernel that runs others with a team decision of its own (dense.c: a Dense
 * layer's products) sets it around them.  The bits never change: no kernel
 * lets its team size decide the order of a sum. */
int fastnn_cap_threads(int cap);

/* Threads worth using for a pass that moves `bytes` of memory with a few
 * operations per byte (an optimizer's update): the arrays are hot in the
 * caller's cache, so a second thread pays only on megabytes. */
int fastnn_threads_for_stream(double bytes);

/* Instantiating one loop body per instruction set.  The body is a static
 * inline function marked FASTNN_INLINE; each variant is a thin function with
 * a target attribute that calls it, so the compiler generates AVX-512 code
 * for one, AVX2+FMA code for another and baseline x86-64 (SSE2) code for the
 * generic one.  Kernels dispatch with fastnn_get_simd() >= a path (fastnn.h:
 * the paths are ordered), so a kernel without an AVX-512 variant runs its
 * AVX2 one on the avx512 path. */
#define FASTNN_INLINE static inline __attribute__((always_inline))

/* The pause hint of a spin-wait loop (x86 pause, Arm yield): lets the other
 * hardware thread of the core run and saves power while a thread waits on
 * a shared counter (gemm.c's small-B split, recurrent.c's step barrier). */
FASTNN_INLINE void fastnn_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define FASTNN_HAVE_AVX2_VARIANT 1
#define FASTNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FASTNN_HAVE_AVX512_VARIANT 1
#define FASTNN_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#else
#define FASTNN_HAVE_AVX2_VARIANT 0
#define FASTNN_HAVE_AVX512_VARIANT 0
#endif

/* 16, 8 or 4 floats as one value (GCC/Clang vector extension): one AVX-512,
 * one AVX or one SSE/NEON register.  aligned(4) permits loads and stores at
 * any float address. */
typedef float fastnn_v16 __attribute__((vector_size(64), aligned(4)));
typedef float fastnn_v8 __attribute__((vector_size(32), aligned(4)));
typedef float fastnn_v4 __attribute__((vector_size(16), aligned(4)));
typedef int32_t fastnn_v8i __attribute__((vector_size(32), aligned(4)));
/* Unsigned lanes for counters (tap numbers): a counter has no use for signed
 * overflow checks, and GCC 12 miscompiles a signed vector increment on the
 * SSE2 path under -fsanitize=signed-integer-overflow (make sanitize). */
typedef uint32_t fastnn_v8u __attribute__((vector_size(32), aligned(4)));

/* Why fastnn_direct_conv_takes (fastnn.h) draws its lines where it does.
 * Measured on a 2-core Zen 4 (32x32 images, batch 32, one thread, CPU time,
 * min of 4; GEMM over direct time as the direct kernels' speed-up; out_c
 * 8..64, stride 1 and 2):
 * - forward: the direct kernel holds ~100 GFLOP/s at any K, while the
 *   indirect GEMM's per-tap reduction is only in_c deep: up to 4 input
 *   channels it wins every shape on avx512 (7x7x3: 6x at 8 filters, 2.3x
 *   at 32, 1.5x at 64; 11x11x3: 6x .. 1.5x; 11x11x4 -> 64: 1.1-1.4x), and on
 *   avx2 all but 64 filters with 4 channels (0.75-1.2x there); from 6
 *   channels 64 filters run as fast on the GEMM (0.9-1.2x; on avx2 from
 *   8 channels 0.6-0.9x), and an earlier measurement had the GEMM win
 *   middle layers from K = 108 (3x3x12 -> 64: 0.83x, batch 64); hence
 *   long patches, up to 11x11x4 = 484 (FASTNN_DIRECT_MAX_K), only on at
 *   most FASTNN_DIRECT_FEW_C = 4 channels, and short ones on any, up to
 *   K = 75 (FASTNN_DIRECT_ANY_C_MAX_K: 5x5x3, 3x3x8);
 * - weights: the direct kernel wins with 8 filters or one channel (1.1-2.8x)
 *   and is even to 0.6x for more filters on more channels (5x5x3 -> 32:
 *   0.64x on avx512, 1.2x on avx2), so conv2d.c takes it only when a kernel
 *   row's run (k_w * in_c) is shorter than a GEMM tile's 16 lanes. */

/* Why fastnn_winograd_takes (fastnn.h) draws its lines where it does.
 * Measured on a 2-core Zen 4 under load (one thread, CPU time, min of 7,
 * GEMM over Winograd time, avx512, relu epilogue):
 * - 16+ channels each way, tiles fully used: forward 1.4-2.1x (32x32x32 ->
 *   32 "same" 1.41x, 16x16x64 -> 64 2.11x, 24x24 outputs of 26x26x32 -> 64
 *   1.79x), dx 1.4-1.8x; 14x14x16 -> 32 "valid" 1.16x, 32x32x16 -> 32
 *   "valid" 1.15x both ways; 7x7x64 -> 128 "same" (8x8 pixels of tiles for
 *   7x7: 0.77 used) 1.30x forward, 1.22x dx;
 * - fewer channels: 32x32x8 -> 16 0.73x forward and 0.76x dx, 16 -> 8
 *   0.92x and 0.88x -- the 36 products are too thin to pay for the
 *   transforms;
 * - dx of "valid" convolutions on small images, on dx's own grid (before
 *   the transposed algorithm): 13x13x32 from 11x11x64 (0.47 of the tiles'
 *   pixels are the definition's) 0.98x, 14x14x16 from 12x12x32 (0.56)
 *   0.85x; 26x26x32 from 24x24x64 (0.73) 1.36x.
 * - on two threads (2026-12-04, batch 64, median of 15, GEMM over
 *   Winograd, avx512), dx of "valid" convolutions on the transposed
 *   algorithm (over dy's tiles: 9 for 11x11 where dx's own grid has 16):
 *   13x13 1.04x (16 -> 16), 1.15x (16 -> 32), 1.47-1.83x (32 -> 32 and up),
 *   9x9 (7x7 outputs) 0.82x, 1.09x, 1.16-1.47x, 26x26 1.28-2.06x; the same
 *   with dx's own grid, 13x13: 0.76-1.23x.  Where both grids have as many
 *   tiles (16x16 "valid", "same") the transposed algorithm was 0.9-1.1x
 *   the other, so the kernel keeps dx's own grid there.
 * - 16 -> 16 (256 channel pairs) on small images: forward 0.86x at 8x8
 *   "same" (4 tiles), dx 0.70x at 7x7 "same", 0.82x at 9x9 "valid" (4
 *   tiles each), against 0.97-1.2x and 1.04-1.3x from 9 tiles an image. */

/* A 1x1 convolution of stride 1 with at most FASTNN_POINTWISE_MAX_C input
 * and output channels: its input gradient dy . W^T runs on the direct kernel
 * (conv2d.c, input_gradient_pointwise).  Measured on a 2-core Zen 4 (batch
 * 64, dx with db, min of 21): 32->16 at 32x32 1.4-1.8x faster than the
 * indirect GEMM, 16->16 1.3-1.5x, 16->32 2x; from 64 channels (64->16,
 * 16->64 at 16x16) the indirect GEMM is as fast or faster. */
#define FASTNN_POINTWISE_MAX_C 32

/* The epilogue of the kernels that apply an activation as they write their
 * output (fastnn_conv2d, fastnn_matmul): y = act(y), act a fastnn_activation
 * whose backward pass reads y.  A ReLU is a max inside the kernel's store
 * (the vectors are still in registers); any other activation runs `apply`,
 * the very loop fastnn_activation_forward runs on this CPU's SIMD path
 * (activation.c), over each block of output the thread has just written,
 * while it is in L1 -- so the bits are those of the separate pass.  apply
 * is NULL for FASTNN_ACT_NONE and FASTNN_ACT_RELU. */
typedef void (*fastnn_activation_range_fn)(fastnn_activation f, float alpha,
                                           const float *x, float *y,
                                           int64_t i0, int64_t i1);
typedef struct {
    int act;
    float alpha;
    fastnn_activation_range_fn apply;
} fastnn_epilogue;
#define FASTNN_NO_EPILOGUE ((fastnn_epilogue){FASTNN_ACT_NONE, 0.0f, NULL})
fastnn_epilogue fastnn_epilogue_of(int act, float alpha);

/* y[0 .. n) = act(y), for the activations `apply` runs (not ReLU). */
static inline void fastnn_epilogue_apply(const fastnn_epilogue *e, float *y,
                                         int64_t n)
{
    if (e->apply)
        e->apply((fastnn_activation)e->act, e->alpha, y, y, 0, n);
}

/* The mirror of the epilogue for the weight gradients that fold in the
 * derivative of the activation their layer applied (conv2d_direct.c): dz =
 * dy * f'(y) over each block of dy as the kernel reads it, f a
 * fastnn_activation whose derivative y determines (relu, or any but silu and
 * gelu_tanh).  `apply` is the very loop fastnn_activation_backward (for relu
 * fastnn_relu_backward) runs on this CPU's SIMD path, so each dz has the
 * bits of the separate pass; NULL for FASTNN_ACT_NONE (dz = dy). */
typedef void (*fastnn_derivative_range_fn)(fastnn_activation f, float alpha,
                                           const float *y, const float *dy,
                                           float *dz, int64_t i0, int64_t i1);
typedef struct {
    int act;
    float alpha;
    fastnn_derivative_range_fn apply;
} fastnn_derivative;
fastnn_derivative fastnn_derivative_of(int act, float alpha);

/* FASTNN_ENOMEM when the padded copy of the input it reads (with padding)
 * cannot be allocated. */
int fastnn_conv2d_direct(const float *x, const float *w, const float *b,
                         float *y, const fastnn_conv2d_geom *g,
                         fastnn_epilogue epi);
/* 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) (conv2d_winograd.c):
 * y = act(conv2d(x, w) + b) (b may be NULL), and dx from dy.  Any padding,
 * channels and output size; FASTNN_OK or FASTNN_ENOMEM. */
int fastnn_conv2d_winograd(const float *x, const float *w, const float *b, float *y,
                           const fastnn_conv2d_geom *g, fastnn_epilogue epi);
int fastnn_conv2d_winograd_input_gradient(const float *w, const float *dy, float *dx,
                                          const fastnn_conv2d_geom *g);
/* dw and db from dz = dy * f'(y) (through: fastnn_derivative_of; NULL: dz =
 * dy, y unread).  FASTNN_ELIMIT for patches fastnn_direct_conv_takes
 * refuses. */
int fastnn_conv2d_direct_weight_gradient(const float *x, const float *dy, const float *y,
                                         const fastnn_derivative *through, float *dw,
                                         float *db, const fastnn_conv2d_geom *g);
/* fastnn_conv2d_weight_gradient (gemm.h) with dz = dy * f'(y) in place of
 * dy, computed a chunk at a time as the tiles read it (through NULL: dy). */
int fastnn_conv2d_weight_gradient_through_gemm(const float *x, const float *dy,
                                               const float *y,
                                               const fastnn_derivative *through,
                                               float *dw, float *db,
                                               const fastnn_conv2d_geom *g);
/* dw and db of a 3x3 stride-1 convolution by Winograd's F(4x4, 3x3)
 * (conv2d_winograd_weight_gradient.c), any padding; db may be NULL. */
int fastnn_conv2d_winograd_weight_gradient(const float *x, const float *dy, float *dw,
                                           float *db, const fastnn_conv2d_geom *g);
/* Whether FASTNN_CONV_AUTO computes dW of g that way (measured rule there). */
int fastnn_winograd_weight_gradient_takes(const fastnn_conv2d_geom *g);

/* v = max(v, 0) lane by lane, keeping NaN (a diverged net must stay
 * visible).  In place: a vector return value would change the ABI. */
static inline void fastnn_relu_v8(fastnn_v8 *v)
{
    fastnn_v8i negative = *v < 0.0f;
    *v = (fastnn_v8)((fastnn_v8i)*v & ~negative);
}

/* Max pooling's argmax for 8 channels at once: over a window of rows x cols
 * taps, the tap at (r, c) holding the channel run first + r * row_step +
 * c * col_step, *best gets each channel's maximum and *arg the number
 * (r * cols + c) of the first tap holding it (compare, then blend: no
 * branches).  Shared by max-pool backward (pool2d.c) and the convolution
 * weight gradient through a pool (conv2d_direct.c). */
FASTNN_INLINE void fastnn_window_max_v8(const float *first, int64_t row_step,
                                        int64_t col_step, int64_t rows,
                                        int64_t cols, fastnn_v8 *best,
                                        fastnn_v8u *arg)
{
    fastnn_v8 top, v;
    fastnn_v8u where = {0}, tap = {0}, better;
    memcpy(&top, first, sizeof top);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++, tap += 1) {
            memcpy(&v, first + r * row_step + c * col_step, sizeof v);
            better = (fastnn_v8u)(v > top);
            top = (fastnn_v8)((better & (fastnn_v8u)v) | (~better & (fastnn_v8u)top));
            where = (better & tap) | (~better & where);
        }
    *best = top;
    *arg = where;
}

/* 64-byte aligned scratch memory (a cache line) from the block cache
 * (block_cache.c: big blocks are reused batch after batch); NULL when out
 * of memory. */
float *fastnn_alloc_floats(int64_t count);
void fastnn_free_floats(float *p);

/* Deterministic parallel sums.  A sum over `items` (rows, pixels, the k of a
 * GEMM) is cut into fastnn_parts_for(items, work) parts -- a count that
 * depends on the problem only, never on the threads.  Each part is summed
 * into its own zeroed row of `size` partial sums (fastnn_alloc_partials; free
 * with fastnn_free_floats) by whichever thread takes it (`omp for` over the
 * parts), then the rows are added in part order (fastnn_sum_partials).  So
 * the result is bit-identical on 1, 2 or any number of threads, and when the
 * OpenMP runtime grants a smaller team than asked for (OMP_DYNAMIC,
 * OMP_THREAD_LIMIT): no row is left to whichever thread never started. */
#define FASTNN_MAX_PARTS 16
int fastnn_parts_for(int64_t items, double work);
float *fastnn_alloc_partials(int parts, int64_t size);
void fastnn_sum_partials(const float *partial, int parts, int64_t size,
                         float *out);

static inline int64_t fastnn_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t fastnn_max(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t fastnn_ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* dst[0 .. n) = src[0 .. n) for a short run (a pixel's channels), 8 floats
 * a move and the last 8 overlapping the one before: GCC turns a plain copy
 * loop into a memmove call, dear for runs of 16-64 floats copied by the
 * thousand (the Winograd kernels' tile gathers).  No overlap of dst and src. */
static inline void fastnn_copy_run(float *restrict dst, const float *restrict src, int64_t n)
{
    if (n < 8) {
        for (int64_t k = 0; k < n; k++)
            dst[k] = src[k];
        return;
    }
    for (int64_t k = 0; k + 8 <= n; k += 8)
        memcpy(dst + k, src + k, 8 * sizeof(float));
    if (n % 8)
        memcpy(dst + n - 8, src + n - 8, 8 * sizeof(float));
}

/* The distance in floats from one output's window to the next along an
 * axis: stride times `len`, the floats one step of the input covers.  With a
 * single output the step is never taken, and the stride may then be as
 * large as 2**61 (a window over the whole image), where stride * len would
 * overflow 64 bits: 0 instead. */
static inline int64_t fastnn_window_step(int64_t outputs, int64_t stride, int64_t len)
{
    return outputs > 1 ? stride * len : 0;
}

/* The textbook value of one convolution output: b[co] plus the sum of
 * x times w over the patch of output pixel (n, oh, ow), zero padding
 * contributing nothing -- the definition the naive kernels compute
 * (conv2d.c, and the fused conv + relu + max pool of conv2d_direct.c). */
static inline float fastnn_conv2d_output_naive(const float *x, const float *w,
                                               const float *b,
                                               const fastnn_conv2d_geom *g,
                                               int64_t n, int64_t oh,
                                               int64_t ow, int64_t co)
{
    float sum = b ? b[co] : 0.0f;
    for (int64_t kh = 0; kh < g->k_h; kh++)
    for (int64_t kw = 0; kw < g->k_w; kw++) {
        int64_t ih = oh * g->stride_h - g->pad_top + kh;
        int64_t iw = ow * g->stride_w - g->pad_left + kw;
        if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w)
            continue; /* zero padding contributes nothing */
        for (int64_t ci = 0; ci < g->in_c; ci++)
            sum += x[((n * g->in_h + ih) * g->in_w + iw) * g->in_c + ci] *
                   w[((kh * g->k_w + kw) * g->in_c + ci) * g->out_c + co];
    }
    return sum;
}

/* Textbook, one output's share of dL/dw: the convolution output (n, oh, ow,
 * co) with gradient grad adds its input patch (zeros in the padding) times
 * grad to dw[., ., ., co].  The naive weight gradients sum it over the
 * outputs whose gradient is not zero. */
static inline void fastnn_conv2d_add_patch_gradient_naive(const float *x,
                                                          const fastnn_conv2d_geom *g,
                                                          int64_t n, int64_t oh,
                                                          int64_t ow, int64_t co,
                                                          float grad, float *dw)
{
    for (int64_t kh = 0; kh < g->k_h; kh++)
    for (int64_t kw = 0; kw < g->k_w; kw++) {
        int64_t ih = oh * g->stride_h - g->pad_top + kh;
        int64_t iw = ow * g->stride_w - g->pad_left + kw;
        if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w)
            continue; /* zero padding */
        for (int64_t ci = 0; ci < g->in_c; ci++)
            dw[((kh * g->k_w + kw) * g->in_c + ci) * g->out_c + co] +=
                x[((n * g->in_h + ih) * g->in_w + iw) * g->in_c + ci] * grad;
    }
}

#endif /* FASTNN_INTERNAL_H */
