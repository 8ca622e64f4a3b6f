/*
 * fastnn.h -- the one public header of fastnn's C kernels.
 *
 * Plain C11, no Python: every function takes raw float32 pointers, sizes as
 * int64_t and a small geometry struct; the Python side (fastnn/kernels/)
 * validates shapes and computes the geometry before anything here runs.
 *
 * Layouts follow Keras: activations are NHWC (channels last, contiguous),
 * convolution kernels are HWIO (kh, kw, in_channels, out_channels), matrices
 * are row-major.
 *
 * Every kernel exists twice: fastnn_<op>_naive is the textbook loop nest (read
 * it first), fastnn_<op> is the optimised version (blocked, vectorised,
 * OpenMP-parallel).  Both compute the same numbers up to float rounding.
 *
 * Functions that allocate scratch memory, or whose fast version has a stated
 * limit (FASTNN_*_MAX_* below), return a status code: FASTNN_OK,
 * FASTNN_ENOMEM, or FASTNN_ELIMIT for arguments past that limit (nothing is
 * written then).  The others cannot fail once their arguments are valid.
 */
#ifndef FASTNN_H
#define FASTNN_H

#include <stddef.h>
#include <stdint.h>

enum { FASTNN_OK = 0, FASTNN_ENOMEM = 1, FASTNN_ELIMIT = 2 };

/* ---- runtime: threads and SIMD dispatch (runtime.c) ---------------------- */

/* Threads used by the parallel kernels.  Defaults to what OpenMP would use
 * (OMP_NUM_THREADS, else the number of cores); n < 1 restores that default,
 * n > FASTNN_MAX_THREADS counts as FASTNN_MAX_THREADS.  Every kernel gives
 * bit-identical results for any thread count and any team size the OpenMP
 * runtime grants. */
#define FASTNN_MAX_THREADS 256
void fastnn_set_num_threads(int n);
int fastnn_get_num_threads(void);
/* Threads worth using for `work` scalar operations: tiny problems stay on
 * one thread, because waking a team costs a few microseconds; never more
 * than fastnn_get_num_threads() nor than the calling thread's cap
 * (fastnn_cap_threads, internal.h). */
int fastnn_threads_for(double work);
/* 1 in a process forked after a parallel region ran: GNU OpenMP's thread
 * pool does not survive fork, so such a child runs every kernel on one
 * thread (its numbers are the same). */
int fastnn_forked_after_parallel(void);
/* 1 when the library was compiled with OpenMP, 0 for the serial fallback. */
int fastnn_openmp_enabled(void);

/* The instruction-set path the fast kernels dispatch to at run time, in
 * increasing order: a CPU that runs a path runs every path below it, and a
 * kernel without a variant for a path runs its variant for the path below.
 * By default the highest path this CPU runs; the environment variable
 * FASTNN_SIMD=avx512|avx2|generic, read on first use, asks for another one
 * (a name this CPU cannot run, or no path's name, leaves the default). */
typedef enum {
    FASTNN_SIMD_GENERIC = 0,  /* baseline x86-64 (SSE2), or NEON           */
    FASTNN_SIMD_AVX2 = 1,     /* AVX2 + FMA (x86-64-v3)                     */
    FASTNN_SIMD_AVX512 = 2    /* AVX-512 F, VL, BW, DQ (x86-64-v4)         */
} fastnn_simd;
fastnn_simd fastnn_get_simd(void);
/* Force a path (for benchmarks); returns 0, or -1 if this CPU lacks it. */
int fastnn_set_simd(fastnn_simd path);
const char *fastnn_simd_name(fastnn_simd path);

/* ---- the block cache: memory for big buffers (block_cache.c) -------------
 * malloc, calloc, realloc and free for NumPy arrays (fastnn.memory installs
 * them as NumPy's data allocator during training and inference) and for the
 * kernels' scratch (fastnn_alloc_floats).  A freed block of at least
 * FASTNN_BLOCK_CACHE_MIN_BYTES is kept in a free list by its exact size and
 * handed out again to the next request of that size, so a training step,
 * which asks for the same sizes every batch, stops faulting fresh pages in.
 * Blocks are 64-byte aligned.  The cached bytes stay within a limit (by
 * default an eighth of the physical memory, at most 1 GiB; the oldest block
 * goes first); fastnn_block_cache_release gives all of them back to the
 * operating system.  Thread-safe, and usable in a forked child.  calloc
 * zeroes the block, realloc keeps the contents (up to the smaller size),
 * NULL when out of memory (realloc then leaves the block as it was). */
#define FASTNN_BLOCK_CACHE_MIN_BYTES (256 * 1024)
void *fastnn_block_alloc(size_t bytes);
void *fastnn_block_calloc(size_t bytes);
void *fastnn_block_realloc(void *p, size_t bytes);
void fastnn_block_free(void *p);
void fastnn_block_cache_release(void);
void fastnn_block_cache_set_limit(size_t bytes);
typedef struct {
    int64_t hits, misses;  /* requests of FASTNN_BLOCK_CACHE_MIN_BYTES or more:
                              served from the cache, or by the C library */
    int64_t cached_bytes, cached_blocks, limit_bytes;
} fastnn_block_cache_stats;
void fastnn_block_cache_get_stats(fastnn_block_cache_stats *out);

/* ---- matrix multiplication (matmul.c, gemm.c) ----------------------------
 * C (m x n) = act(op(A) . op(B) + bias), where op(A) is m x k and op(B) is
 * k x n.  A is stored row-major as m x k, or as k x m when transpose_a is
 * set; B likewise as k x n, or n x k when transpose_b is set.  bias (n
 * values, added to every row) may be NULL.  act and alpha as for
 * fastnn_conv2d (FASTNN_ACT_NONE for a plain product): a Dense layer's
 * forward pass in one call.  C is overwritten. */
int fastnn_matmul(const float *a, const float *b, const float *bias, float *c,
                  int64_t m, int64_t n, int64_t k, int transpose_a,
                  int transpose_b, int act, float alpha);
void fastnn_matmul_naive(const float *a, const float *b, const float *bias,
                         float *c, int64_t m, int64_t n, int64_t k,
                         int transpose_a, int transpose_b, int act,
                         float alpha);

/* ---- Dense layer (dense.c) -----------------------------------------------
 * Forward: y (m x n) = act(x . W + b) for x (m x k), W (k x n) and b (n
 * values, or NULL), act and alpha as for fastnn_matmul: that product, on
 * the team fastnn_dense_threads(m, k, n) gives.
 *
 * fastnn_dense_threads: the threads a Dense layer's passes use for a
 * product of those sizes: one per 8 million floating-point operations
 * (2mkn), at least 1, at most fastnn_get_num_threads().
 *
 * Backward: dW = x^T . dz, db = column sums of dz, dx = dz . W^T (skipped
 * when dx is NULL), where dz = dy when y is NULL (no activation, or one
 * taken elsewhere), else dz = dy * act'(.) computed from the layer's output
 * y and written to dz (m x n scratch; unused when y is NULL).  act is a fastnn_activation (below) whose backward
 * pass reads y: FASTNN_ACT_RELU (the mask y > 0) or any but silu and
 * gelu_tanh; alpha as in fastnn_activation_backward. */
int fastnn_dense_threads(int64_t m, int64_t k, int64_t n);
int fastnn_dense_forward(const float *x, const float *w, const float *b,
                         int act, float alpha, int64_t m, int64_t k, int64_t n,
                         float *y);
void fastnn_dense_forward_naive(const float *x, const float *w, const float *b,
                                int act, float alpha, int64_t m, int64_t k,
                                int64_t n, float *y);
int fastnn_dense_backward(const float *x, const float *w, const float *dy,
                          const float *y, int act, float alpha, int64_t m,
                          int64_t k, int64_t n, float *dz, float *dx,
                          float *dw, float *db);
void fastnn_dense_backward_naive(const float *x, const float *w,
                                 const float *dy, const float *y, int act,
                                 float alpha, int64_t m, int64_t k, int64_t n,
                                 float *dz, float *dx, float *dw, float *db);

/* ---- 2-D convolution (conv2d.c) ------------------------------------------
 * y[n, oh, ow, co] = b[co] + sum_{kh, kw, ci}
 *     x[n, oh*sh - pad_top + kh, ow*sw - pad_left + kw, ci] * w[kh, kw, ci, co]
 * with x read as zero outside the image (zero padding).  This is Keras's
 * Conv2D: a cross-correlation, the filter is not flipped. */
/* How the fast kernels compute a convolution: AUTO lets them choose by the
 * shape; GEMM computes the definition's sums (as matrix products, or on the
 * direct kernels for few channels); WINOGRAD computes 3x3 stride-1
 * convolutions with fewer multiplications (winograd.h) -- other shapes
 * ignore it.  Forcing one is for comparing them (kernels.conv2d's
 * ``algorithm``). */
typedef enum {
    FASTNN_CONV_AUTO = 0,
    FASTNN_CONV_GEMM = 1,
    FASTNN_CONV_WINOGRAD = 2
} fastnn_conv_algorithm;

typedef struct {
    int64_t batch, in_h, in_w, in_c;   /* x: batch x in_h x in_w x in_c     */
    int64_t k_h, k_w, out_c;           /* w: k_h x k_w x in_c x out_c       */
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_left;         /* zero rows/columns before the image */
    int64_t out_h, out_w;              /* y: batch x out_h x out_w x out_c  */
    int algorithm;                     /* fastnn_conv_algorithm             */
} fastnn_conv2d_geom;

/* Which convolutions run on the direct kernels of conv2d_direct.c (the
 * others on the GEMM engine), by their patch length K = kh*kw*in_c: short
 * patches, K <= FASTNN_DIRECT_ANY_C_MAX_K, whatever the channels; and
 * longer ones up to K <= FASTNN_DIRECT_MAX_K (11x11x4) when the input has
 * at most FASTNN_DIRECT_FEW_C channels -- a CNN's first layer with a wide
 * kernel (7x7x3, 11x11x3), where the GEMM's per-tap reduction would be only
 * in_c deep.  fastnn_direct_conv_takes states the rule (internal.h says why
 * the lines are drawn here).  The pooled weight gradient below takes pool
 * windows of at most FASTNN_POOLED_MAX_TAPS taps. */
#define FASTNN_DIRECT_ANY_C_MAX_K 75
#define FASTNN_DIRECT_FEW_C 4
#define FASTNN_DIRECT_MAX_K 484
#define FASTNN_POOLED_MAX_TAPS 64

static inline int fastnn_direct_conv_takes(int64_t k_h, int64_t k_w, int64_t in_c)
{
    int64_t k = k_h * k_w * in_c;
    return k <= FASTNN_DIRECT_ANY_C_MAX_K ||
           (in_c <= FASTNN_DIRECT_FEW_C && k <= FASTNN_DIRECT_MAX_K);
}

/* Tiles per image of the grids dx can be computed on (conv2d_winograd.c):
 * over dy's pixels (transposed: the transposed algorithm, each tile's 6x6
 * patch of dx added where it lies) or over dx's own (dx as a convolution
 * of dy padded by 2 - pad).  The kernel takes the smaller; they differ for
 * "valid" convolutions: 11x11 dy, 13x13 dx: 9 tiles against 16. */
static inline int64_t fastnn_winograd_dx_tiles(const fastnn_conv2d_geom *g, int transposed)
{
    const int64_t h = transposed ? g->out_h : g->in_h, w = transposed ? g->out_w : g->in_w;
    return ((h + 3) / 4) * ((w + 3) / 4);
}

/* Which convolutions run on the Winograd kernels of conv2d_winograd.c
 * (F(4x4, 3x3), winograd.h): the forward pass, or (input_gradient) dx, of
 * 3x3 stride-1 ones only; all of them when g->algorithm is
 * FASTNN_CONV_WINOGRAD, none with FASTNN_CONV_GEMM.  With FASTNN_CONV_AUTO,
 * those with at least FASTNN_WINOGRAD_MIN_C channels each way whose 4x4
 * tiles are mostly useful work: the definition's output pixels (out_h x
 * out_w) over the 16 pixels of each tile of the grid computed (the output
 * for the forward pass; for dx the smaller of its two grids) at least 3/5;
 * below FASTNN_WINOGRAD_FEW_PAIRS channel pairs (16 -> 16) also 9 tiles or
 * more per image.  internal.h gives the measurements. */
#define FASTNN_WINOGRAD_MIN_C 16
#define FASTNN_WINOGRAD_FEW_PAIRS 512

static inline int fastnn_winograd_takes(const fastnn_conv2d_geom *g, int input_gradient)
{
    if (g->k_h != 3 || g->k_w != 3 || g->stride_h != 1 || g->stride_w != 1 ||
        g->algorithm == FASTNN_CONV_GEMM)
        return 0;
    if (g->algorithm == FASTNN_CONV_WINOGRAD)
        return 1;
    int64_t tiles = fastnn_winograd_dx_tiles(g, 1); /* the output's grid */
    if (input_gradient && fastnn_winograd_dx_tiles(g, 0) < tiles)
        tiles = fastnn_winograd_dx_tiles(g, 0);
    return g->in_c >= FASTNN_WINOGRAD_MIN_C && g->out_c >= FASTNN_WINOGRAD_MIN_C &&
           5 * g->out_h * g->out_w >= 3 * 16 * tiles &&
           (g->in_c * g->out_c >= FASTNN_WINOGRAD_FEW_PAIRS || tiles >= 9);
}

/* b may be NULL (no bias).  y is overwritten with act(conv + b), act a
 * fastnn_activation (below) whose backward pass reads its output -- none,
 * relu, or any but silu and gelu_tanh; alpha as in
 * fastnn_activation_forward -- applied in the kernel's epilogue to each
 * block of outputs as it is written (one pass over y instead of two), with
 * the same bits as fastnn_activation_forward over the whole of y. */
int fastnn_conv2d(const float *x, const float *w, const float *b, float *y,
                  const fastnn_conv2d_geom *g, int act, float alpha);
void fastnn_conv2d_naive(const float *x, const float *w, const float *b,
                         float *y, const fastnn_conv2d_geom *g, int act,
                         float alpha);

/* Gradients of a loss L given dy = dL/dy: dx = dL/dx, dw = dL/dw,
 * db = dL/db.  dx, dw or db may be NULL: not computed (the first layer of a
 * network needs no dx; a transposed convolution's forward pass is the dx of
 * a convolution and needs no dw).  All outputs are overwritten. */
int fastnn_conv2d_backward(const float *x, const float *w, const float *dy,
                           float *dx, float *dw, float *db,
                           const fastnn_conv2d_geom *g);
void fastnn_conv2d_backward_naive(const float *x, const float *w,
                                  const float *dy, float *dx, float *dw,
                                  float *db, const fastnn_conv2d_geom *g);

/* ---- 2-D pooling (pool2d.c) ----------------------------------------------
 * Each output is the max (or the mean) of the in-bounds part of its window
 * x[n, oh*sh - pad_top + 0 .. pool_h-1, ow*sw - pad_left + 0 .. pool_w-1, c].
 * Padding never contributes: the mean divides by the number of in-bounds
 * elements, as Keras does with padding="same". */
typedef struct {
    int64_t batch, in_h, in_w, channels;
    int64_t pool_h, pool_w;
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_left;
    int64_t out_h, out_w;
} fastnn_pool2d_geom;

/* A dropout folded into a pool (fastnn_dropout's mask, dropout.c): the
 * forward pass writes dropout(y) instead of the pooled y, and the backward
 * pass takes dy at the dropout's output and routes dropout(dy) -- the same
 * bits as fastnn_dropout run on its own before or after.  NULL: no dropout. */
typedef struct {
    float keep_prob; /* in (0, 1] */
    uint64_t seed;
} fastnn_dropout_mask;

void fastnn_max_pool2d(const float *x, float *y, const fastnn_pool2d_geom *g,
                       const fastnn_dropout_mask *drop);
void fastnn_max_pool2d_naive(const float *x, float *y,
                             const fastnn_pool2d_geom *g,
                             const fastnn_dropout_mask *drop);
/* The backward passes may fold in the backward pass of the activation
 * whose output the pool's input x is (a Conv2D's activation below the pool):
 * dx is then the gradient at that activation's input, dz = f'(x) * dx.
 * `through` is a fastnn_activation (below) whose derivative reads its
 * output: FASTNN_ACT_NONE, FASTNN_ACT_RELU, or any but silu and gelu_tanh;
 * alpha as for fastnn_activation_backward. */

/* dx gets each dy at the position of its window's maximum (the first one in
 * row-major window order on ties); dx is overwritten. */
void fastnn_max_pool2d_backward(const float *x, const float *dy, float *dx,
                                const fastnn_pool2d_geom *g, int through,
                                float alpha, const fastnn_dropout_mask *drop);
void fastnn_max_pool2d_backward_naive(const float *x, const float *dy,
                                      float *dx, const fastnn_pool2d_geom *g,
                                      int through, float alpha,
                                      const fastnn_dropout_mask *drop);

void fastnn_avg_pool2d(const float *x, float *y, const fastnn_pool2d_geom *g,
                       const fastnn_dropout_mask *drop);
void fastnn_avg_pool2d_naive(const float *x, float *y,
                             const fastnn_pool2d_geom *g,
                             const fastnn_dropout_mask *drop);
/* dx gets dy / count spread evenly over each window's in-bounds elements.
 * x (the forward input) is read only `through` an activation; else it may
 * be NULL. */
void fastnn_avg_pool2d_backward(const float *x, const float *dy, float *dx,
                                const fastnn_pool2d_geom *g, int through,
                                float alpha, const fastnn_dropout_mask *drop);
void fastnn_avg_pool2d_backward_naive(const float *x, const float *dy,
                                      float *dx, const fastnn_pool2d_geom *g,
                                      int through, float alpha,
                                      const fastnn_dropout_mask *drop);

/* ---- a first layer's weight gradient through its activation (conv2d.c) ------
 * For y = act(conv2d(x, w) + b), with dy = dL/dy: dw and db of the
 * convolution from dz = dy * act'(y), act (`through`) a fastnn_activation
 * whose derivative y determines -- FASTNN_ACT_NONE (dz = dy), FASTNN_ACT_RELU,
 * or any but silu and gelu_tanh; alpha as for fastnn_activation_backward.
 * No dx: the first layer of a network.  dz is computed a block of pixels at
 * a time as the weight sums read it (the same kernel fastnn_conv2d_backward
 * picks for dw), never written whole, with the bits of
 * fastnn_activation_backward (or fastnn_relu_backward): dw and db are those
 * of that pass followed by fastnn_conv2d_backward (dx NULL), bit for bit.
 * y may be NULL with FASTNN_ACT_NONE. */
int fastnn_conv2d_weight_gradient_through(const float *x, const float *y, const float *dy,
                                          int through, float alpha, float *dw, float *db,
                                          const fastnn_conv2d_geom *g);
void fastnn_conv2d_weight_gradient_through_naive(const float *x, const float *y,
                                                 const float *dy, int through, float alpha,
                                                 float *dw, float *db,
                                                 const fastnn_conv2d_geom *g);

/* ---- a first layer's convolution, ReLU and max pooling (conv2d_direct.c) -----
 * For p = max_pool(relu(conv2d(x, w) + b)) with pool windows that tile the
 * convolution's output y (stride = pool size, no padding; output columns
 * and rows past the last whole window belong to no window):
 *
 * The forward pass writes p and, unless winners is NULL, each pooled
 * value's winner: the tap t = dh * pool_w + dw of the window's first
 * maximum in row-major order (max pooling's tie rule), or
 * FASTNN_POOL_NO_WINNER where that maximum is <= 0 (the ReLU cut it: no
 * gradient passes).  y is computed a band of pool_h rows at a time and
 * never written whole; p is bit-identical to fastnn_conv2d(relu) then
 * fastnn_max_pool2d.
 *
 * The weight gradient takes the pool's output gradient dp and each window's
 * winners, given (winners, y NULL) or found in y = relu(conv2d(x, w) + b)
 * (winners NULL): the gradient at y is dp at each winner, 0 elsewhere.
 * For a first layer: no dx.  It never writes a y-sized gradient.
 *
 * The fast versions run on the direct kernels, so they take patches of at
 * most FASTNN_DIRECT_MAX_K values (kh*kw*in_c: fastnn_direct_conv_takes)
 * and windows of at most FASTNN_POOLED_MAX_TAPS taps (the gradient's
 * blocks hold whole windows), and return FASTNN_ELIMIT past either.  The
 * naive versions are the textbook loops over windows, with no limit. */
enum { FASTNN_POOL_NO_WINNER = 255 };
int fastnn_conv2d_relu_max_pool(const float *x, const float *w, const float *b, float *p,
                                uint8_t *winners, const fastnn_conv2d_geom *g,
                                const fastnn_pool2d_geom *pg);
void fastnn_conv2d_relu_max_pool_naive(const float *x, const float *w, const float *b,
                                       float *p, uint8_t *winners,
                                       const fastnn_conv2d_geom *g,
                                       const fastnn_pool2d_geom *pg);
int fastnn_conv2d_pooled_weight_gradient(const float *x, const float *y,
                                         const uint8_t *winners, const float *dp,
                                         float *dw, float *db,
                                         const fastnn_conv2d_geom *g,
                                         const fastnn_pool2d_geom *pg);
void fastnn_conv2d_pooled_weight_gradient_naive(const float *x, const float *y,
                                                const uint8_t *winners, const float *dp,
                                                float *dw, float *db,
                                                const fastnn_conv2d_geom *g,
                                                const fastnn_pool2d_geom *pg);

/* ---- affine image warps (warp.c) -----------------------------------------
 * Output pixel (row i, column j) of image n samples the input at
 *     x = t[0]*j + t[1]*i + t[2],   y = t[3]*j + t[4]*i + t[5]
 * with t = transforms + 6*n (pixel centres at integer coordinates), by
 * bilinear interpolation or the nearest pixel.  Positions outside the input
 * are mapped by the fill mode; FASTNN_FILL_CONSTANT reads fill_value. */
typedef enum {
    FASTNN_FILL_REFLECT = 0,   /* d c b a | a b c d | d c b a */
    FASTNN_FILL_WRAP = 1,      /* a b c d | a b c d | a b c d */
    FASTNN_FILL_CONSTANT = 2,  /* k k k k | a b c d | k k k k */
    FASTNN_FILL_NEAREST = 3    /* a a a a | a b c d | d d d d */
} fastnn_fill_mode;

typedef struct {
    int64_t batch, in_h, in_w, channels;   /* x: batch x in_h x in_w x channels  */
    int64_t out_h, out_w;                  /* y: batch x out_h x out_w x channels */
    int bilinear;                          /* 1 bilinear, 0 nearest pixel        */
    fastnn_fill_mode fill_mode;
    float fill_value;
} fastnn_warp_geom;

/* y is overwritten. */
void fastnn_affine_warp(const float *x, const float *transforms, float *y,
                        const fastnn_warp_geom *g);
void fastnn_affine_warp_naive(const float *x, const float *transforms, float *y,
                              const fastnn_warp_geom *g);
/* dx = the transpose of the warp applied to dy (dx is overwritten). */
void fastnn_affine_warp_backward(const float *dy, const float *transforms,
                                 float *dx, const fastnn_warp_geom *g);
void fastnn_affine_warp_backward_naive(const float *dy, const float *transforms,
                                       float *dx, const fastnn_warp_geom *g);

/* ---- ReLU (activation.c) ---------------------------------------------------
 * y = max(x, 0) (NaN stays NaN); dx = dy where y > 0, else 0, with y the
 * forward output.  n values each; outputs are overwritten (y may be x). */
void fastnn_relu(const float *x, float *y, int64_t n);
void fastnn_relu_naive(const float *x, float *y, int64_t n);
void fastnn_relu_backward(const float *y, const float *dy, float *dx, int64_t n);
void fastnn_relu_backward_naive(const float *y, const float *dy, float *dx, int64_t n);

/* ---- the other elementwise activations (activation.c) -------------------
 * y = f(x) and dx = dy * f'(.), n values each; alpha is elu's alpha (> 0) or
 * leaky_relu's slope (>= 0), ignored by the others.  The backward pass reads
 * the forward output y (`from`), or the input x where
 * fastnn_activation_reads_input(f) is 1 (silu, gelu_tanh).  Outputs are
 * overwritten; y may be x, dx may be dy.  The codes are the one activation
 * code of every kernel that takes one: FASTNN_ACT_RELU (as fastnn_relu and
 * fastnn_relu_backward) and FASTNN_ACT_NONE (the identity: y = x, dx = dy)
 * complete the list for the kernels' epilogues (fastnn_conv2d,
 * fastnn_matmul), dense_backward and the pools' backward passes. */
typedef enum {
    FASTNN_ACT_TANH = 0,
    FASTNN_ACT_SIGMOID = 1,
    FASTNN_ACT_ELU = 2,
    FASTNN_ACT_SELU = 3,
    FASTNN_ACT_SOFTPLUS = 4,
    FASTNN_ACT_SOFTSIGN = 5,
    FASTNN_ACT_HARD_SIGMOID = 6,
    FASTNN_ACT_LEAKY_RELU = 7,
    FASTNN_ACT_EXPONENTIAL = 8,
    FASTNN_ACT_SILU = 9,
    FASTNN_ACT_GELU_TANH = 10,  /* gelu(approximate=True) */
    FASTNN_ACT_RELU = 11,
    FASTNN_ACT_NONE = 12
} fastnn_activation;
int fastnn_activation_reads_input(fastnn_activation f);
void fastnn_activation_forward(fastnn_activation f, float alpha,
                               const float *x, float *y, int64_t n);
void fastnn_activation_forward_naive(fastnn_activation f, float alpha,
                                     const float *x, float *y, int64_t n);
void fastnn_activation_backward(fastnn_activation f, float alpha,
                                const float *from, const float *dy, float *dx,
                                int64_t n);
void fastnn_activation_backward_naive(fastnn_activation f, float alpha,
                                      const float *from, const float *dy,
                                      float *dx, int64_t n);

/* ---- softmax (softmax.c) -------------------------------------------------
 * y[i, :] = exp(x[i, :] - max) / sum(exp(x[i, :] - max)) for each of the
 * rows of x (rows x n, n >= 1). */
void fastnn_softmax(const float *x, float *y, int64_t rows, int64_t n);
void fastnn_softmax_naive(const float *x, float *y, int64_t rows, int64_t n);

/* ---- crossentropy (crossentropy.c) ---------------------------------------
 * Sparse categorical crossentropy of softmax outputs p (rows x classes)
 * against labels: loss[i] = -log(clip(p[i, label] / sum_j p[i, j], epsilon,
 * 1 - epsilon)); with dz not NULL also dz = scale * (p - onehot(labels)),
 * the gradient through the softmax.  Returns -1, or the first row whose
 * label is outside 0..classes-1 (then nothing is written). */
int64_t fastnn_sparse_crossentropy(const float *p, const int64_t *labels,
                                   int64_t rows, int64_t classes,
                                   double epsilon, float scale, double *loss,
                                   float *dz);

/* ---- dropout (dropout.c) -------------------------------------------------
 * y = x * mask / keep_prob, where mask[i] (keep with probability keep_prob,
 * in (0, 1]) depends only on (seed, i): the same call on dy with the same
 * seed is the backward pass.  y may be x. */
void fastnn_dropout(const float *x, float *y, int64_t n, float keep_prob,
                    uint64_t seed);
void fastnn_dropout_naive(const float *x, float *y, int64_t n, float keep_prob,
                          uint64_t seed);

/* ---- optimizers (optimizer.c) ---------------------------------------------
 * One training step of an optimizer on n weights w, in place, from their
 * gradient g and the optimizer's slots (its per-weight state, updated in
 * place too).  The numbers of the step are float32, computed by the caller
 * in double: the bias corrections, and 1 - beta (1 - 0.999f rounded in
 * float is 4.7e-5 relatively off).  See optimizer.c for each rule's formula
 * and the meaning of `rate` in it. */
typedef enum {
    FASTNN_SGD = 0,       /* slots: [momentum] when momentum > 0          */
    FASTNN_ADAM = 1,      /* slots: m, v [, v_hat when amsgrad]           */
    FASTNN_RMSPROP = 2,   /* slots: s [, mean when centered] [, momentum] */
    FASTNN_ADAGRAD = 3,   /* slots: accumulator                           */
    FASTNN_ADADELTA = 4,  /* slots: Eg (of g^2), Ed (of steps^2)          */
    FASTNN_ADAMAX = 5,    /* slots: m, u                                  */
    FASTNN_NADAM = 6      /* slots: m, v                                  */
} fastnn_rule;

typedef struct {
    fastnn_rule rule;
    float rate;          /* the learning rate of this step, bias corrections
                            folded in where the rule has them           */
    float beta_1, one_minus_beta_1;  /* Adam's, Adamax's, Nadam's beta_1:
                                        the decay of m                  */
    float beta_2, one_minus_beta_2;  /* the other decays: Adam's, Nadam's
                                        and Adamax's beta_2 (of v, u);
                                        RMSprop's and Adadelta's rho    */
    float momentum;      /* SGD, RMSprop: 0 means no momentum slot      */
    float epsilon;
    float rate_g;        /* Nadam: the factor of g in the step          */
    float v_scale;       /* Nadam: 1 / sqrt(1 - beta_2^t)               */
    int nesterov, centered, amsgrad;  /* SGD; RMSprop; Adam             */
} fastnn_update;

/* How many slot arrays the rule with these options keeps (0 to 3). */
int fastnn_update_slots(const fastnn_update *u);
/* slots holds fastnn_update_slots(u) arrays of n floats, in the order
 * listed above.  w, g and the slots must not overlap. */
void fastnn_optimizer_update(const fastnn_update *u, float *w, const float *g,
                             float *const *slots, int64_t n);
void fastnn_optimizer_update_naive(const fastnn_update *u, float *w,
                                   const float *g, float *const *slots,
                                   int64_t n);

/* ---- batch normalisation (batchnorm.c) -----------------------------------
 * x is a rows x channels matrix (an NHWC batch seen as (N*H*W) x C).
 * Per channel c: mean and biased variance over the rows, in double (the
 * mean is needed to better than float precision when it is large against
 * the spread); the normalising map y = (x - mean[c]) * scale[c] + beta[c]
 * (scale = gamma * inv_std), computed centred; and its backward pass (see
 * batchnorm.c for the formulas and the precision). */
int fastnn_batch_norm_stats(const float *x, int64_t rows, int64_t channels,
                            double *mean, double *var);
void fastnn_batch_norm_stats_naive(const float *x, int64_t rows, int64_t channels,
                                   double *mean, double *var);
/* relu = 1 writes relu(y) instead of y (batch norm fused with a ReLU). */
int fastnn_batch_norm_apply(const float *x, int64_t rows, int64_t channels,
                            const double *mean, const float *scale,
                            const float *beta, int relu, float *y);
void fastnn_batch_norm_apply_naive(const float *x, int64_t rows, int64_t channels,
                                   const double *mean, const float *scale,
                                   const float *beta, int relu, float *y);
/* dgamma = sum dy * x_hat, dbeta = sum dy; dx (may be NULL: not computed)
 * treats mean and inv_std as this batch's statistics when batch_stats is 1
 * (training) and as constants when it is 0.  relu_scale and relu_beta (both
 * NULL, or both given) are the scale and beta of an apply pass with relu =
 * 1 over the same x and mean: dy then counts only where that pass's output
 * is > 0 (the ReLU's backward, fused; the output is recomputed from x, bit
 * for bit, not read).  Outputs are overwritten. */
int fastnn_batch_norm_backward(const float *x, const float *dy, int64_t rows,
                               int64_t channels, const double *mean,
                               const float *inv_std, const float *gamma,
                               int batch_stats, const float *relu_scale,
                               const float *relu_beta, float *dx,
                               float *dgamma, float *dbeta);
void fastnn_batch_norm_backward_naive(const float *x, const float *dy, int64_t rows,
                                      int64_t channels, const double *mean,
                                      const float *inv_std, const float *gamma,
                                      int batch_stats, const float *relu_scale,
                                      const float *relu_beta, float *dx,
                                      float *dgamma, float *dbeta);

/* ---- recurrent layers: the time loop (recurrent.c) ------------------------
 * SimpleRNN, LSTM (gates i, f, c, o) and GRU (gates z, r, h; reset_after
 * true: FASTNN_RNN_GRU, false: FASTNN_RNN_GRU_RESET_BEFORE) over batch x steps rows, Keras's formulas (see recurrent.c).  z (batch x
 * steps x G*units, G = 1, 4, 3) holds x.W + b on entry and the gate
 * activations on return; h (batch x steps x units) every step's output; c
 * the LSTM's cell states, rh the GRU's h_prev.U_h + rbias_h (reset_after)
 * or r*h_prev (reset before, h_prev masked; NULL for the other cells).
 * u_kernel is units x G*units; rbias the reset_after GRU's recurrent
 * bias (NULL: none); mask (batch x units, may be NULL) the recurrent
 * dropout mask.  Backward: dy (batch x steps x units) dLoss/dh of every
 * step, dc_last (may be NULL) dLoss/dc of the LSTM's last state; out dz
 * (like z) dLoss/d(x.W + b) and, for the reset_after GRU only, dr (like z)
 * dLoss/d(h_prev.U + rbias).  The naive versions take scratch memory:
 * G*units floats (forward, GRU), 2 x batch x units (backward). */
enum { FASTNN_RNN_SIMPLE = 0, FASTNN_RNN_LSTM = 1, FASTNN_RNN_GRU = 2,
       FASTNN_RNN_GRU_RESET_BEFORE = 3 };
enum { FASTNN_RNN_LINEAR = 0, FASTNN_RNN_TANH = 1, FASTNN_RNN_SIGMOID = 2,
       FASTNN_RNN_RELU = 3, FASTNN_RNN_HARD_SIGMOID = 4 };
typedef struct {
    int64_t batch, steps, units;
    int cell, activation, recurrent_activation;
} fastnn_rnn_geom;
int fastnn_rnn_forward(const fastnn_rnn_geom *g, const float *u_kernel,
                       const float *rbias, const float *mask, float *z,
                       float *h, float *c, float *rh);
void fastnn_rnn_forward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                              const float *rbias, const float *mask, float *z,
                              float *h, float *c, float *rh, float *scratch);
int fastnn_rnn_backward(const fastnn_rnn_geom *g, const float *u_kernel,
                        const float *mask, const float *z, const float *h,
                        const float *c, const float *rh, const float *dy,
                        const float *dc_last, float *dz, float *du, float *drbias);
void fastnn_rnn_backward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                               const float *mask, const float *z, const float *h,
                               const float *c, const float *rh, const float *dy,
                               const float *dc_last, float *dz, float *du, float *drbias,
                               float *dr, float *carry, float *dc);

#endif /* FASTNN_H */
