# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The bridge to csrc/: typed memoryviews in, the GIL released around C.

Nothing is checked here.  Callers (fastnn.kernels) validate every shape,
make every array C-contiguous float32, allocate the outputs and compute the
window geometry first; this module only unpacks pointers and sizes.  Arrays
arrive flattened to 1-D (a free view of a C-contiguous array).  The one
exception is ``optimizer_update``, which takes a whole model's arrays in their own
shapes through the buffer protocol (flattening two dozen arrays in Python
would cost more than the update) and checks them all before the first write.
"""
from libc.stdint cimport int64_t, uint8_t, uint64_t
from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_SIMPLE,
                            PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer)
from libc.stdint cimport SIZE_MAX
from libc.stdlib cimport free, malloc
from libc.string cimport strncpy
from cpython.pycapsule cimport PyCapsule_New

cdef extern from "fastnn.h" nogil:
    enum: FASTNN_OK
    enum: FASTNN_ENOMEM
    enum: FASTNN_ELIMIT
    enum: FASTNN_DIRECT_MAX_K
    enum: FASTNN_DIRECT_ANY_C_MAX_K
    enum: FASTNN_DIRECT_FEW_C
    enum: FASTNN_POOLED_MAX_TAPS
    enum: FASTNN_POOL_NO_WINNER
    enum: FASTNN_MAX_THREADS
    enum: FASTNN_ACT_RELU
    enum: FASTNN_ACT_NONE
    enum: FASTNN_BLOCK_CACHE_MIN_BYTES
    ctypedef enum fastnn_simd:
        FASTNN_SIMD_GENERIC
        FASTNN_SIMD_AVX2
        FASTNN_SIMD_AVX512

    int fastnn_direct_conv_takes(int64_t k_h, int64_t k_w, int64_t in_c)
    void fastnn_set_num_threads(int n)
    int fastnn_get_num_threads()
    int fastnn_threads_for(double work)
    int fastnn_forked_after_parallel()
    int fastnn_openmp_enabled()
    fastnn_simd fastnn_get_simd()
    int fastnn_set_simd(fastnn_simd path)
    const char *fastnn_simd_name(fastnn_simd path)

    void *fastnn_block_alloc(size_t bytes)
    void *fastnn_block_calloc(size_t bytes)
    void *fastnn_block_realloc(void *p, size_t bytes)
    void fastnn_block_free(void *p)
    void fastnn_block_cache_release()
    void fastnn_block_cache_set_limit(size_t bytes)
    ctypedef struct fastnn_block_cache_stats:
        int64_t hits, misses, cached_bytes, cached_blocks, limit_bytes
    void fastnn_block_cache_get_stats(fastnn_block_cache_stats *out)

    int fastnn_matmul(const float *a, const float *b, const float *bias, float *c,
                      int64_t m, int64_t n, int64_t k, int transpose_a, int transpose_b,
                      int act, float alpha)
    void fastnn_matmul_naive(const float *a, const float *b, const float *bias, float *c,
                             int64_t m, int64_t n, int64_t k, int transpose_a,
                             int transpose_b, int act, float alpha)
    int fastnn_dense_backward(const float *x, const float *w, const float *dy,
                              const float *y, int act, float alpha, int64_t m, int64_t k,
                              int64_t n, float *dz, float *dx, float *dw, float *db)
    void fastnn_dense_backward_naive(const float *x, const float *w, const float *dy,
                                     const float *y, int act, float alpha, int64_t m,
                                     int64_t k, int64_t n, float *dz, float *dx, float *dw,
                                     float *db)
    int fastnn_dense_threads(int64_t m, int64_t k, int64_t n)
    int fastnn_dense_forward(const float *x, const float *w, const float *b, int act,
                             float alpha, int64_t m, int64_t k, int64_t n, float *y)
    void fastnn_dense_forward_naive(const float *x, const float *w, const float *b, int act,
                                    float alpha, int64_t m, int64_t k, int64_t n, float *y)

    ctypedef struct fastnn_conv2d_geom:
        int64_t batch, in_h, in_w, in_c, k_h, k_w, out_c
        int64_t stride_h, stride_w, pad_top, pad_left, out_h, out_w
        int algorithm

    int fastnn_conv2d(const float *x, const float *w, const float *b,
                      float *y, const fastnn_conv2d_geom *g, int act, float alpha)
    void fastnn_conv2d_naive(const float *x, const float *w, const float *b,
                             float *y, const fastnn_conv2d_geom *g, int act, float alpha)
    int fastnn_conv2d_backward(const float *x, const float *w,
                               const float *dy, float *dx, float *dw,
                               float *db, const fastnn_conv2d_geom *g)
    void fastnn_conv2d_backward_naive(const float *x, const float *w,
                                      const float *dy, float *dx, float *dw,
                                      float *db, const fastnn_conv2d_geom *g)

    ctypedef struct fastnn_pool2d_geom:
        int64_t batch, in_h, in_w, channels, pool_h, pool_w
        int64_t stride_h, stride_w, pad_top, pad_left, out_h, out_w

    ctypedef struct fastnn_dropout_mask:
        float keep_prob
        uint64_t seed

    void fastnn_max_pool2d(const float *x, float *y, const fastnn_pool2d_geom *g,
                           const fastnn_dropout_mask *drop)
    void fastnn_max_pool2d_naive(const float *x, float *y,
                                 const fastnn_pool2d_geom *g, const fastnn_dropout_mask *drop)
    void fastnn_max_pool2d_backward(const float *x, const float *dy,
                                    float *dx, const fastnn_pool2d_geom *g, int through,
                                    float alpha, const fastnn_dropout_mask *drop)
    void fastnn_max_pool2d_backward_naive(const float *x, const float *dy,
                                          float *dx, const fastnn_pool2d_geom *g,
                                          int through, float alpha,
                                          const fastnn_dropout_mask *drop)
    int fastnn_conv2d_relu_max_pool(const float *x, const float *w, const float *b, float *p,
                                    uint8_t *winners, const fastnn_conv2d_geom *g,
                                    const fastnn_pool2d_geom *pg)
    void fastnn_conv2d_relu_max_pool_naive(const float *x, const float *w, const float *b,
                                           float *p, uint8_t *winners,
                                           const fastnn_conv2d_geom *g,
                                           const fastnn_pool2d_geom *pg)
    int fastnn_conv2d_pooled_weight_gradient(const float *x, const float *y,
                                             const uint8_t *winners, const float *dp,
                                             float *dw, float *db,
                                             const fastnn_conv2d_geom *g,
                                             const fastnn_pool2d_geom *pg)
    void fastnn_conv2d_pooled_weight_gradient_naive(const float *x, const float *y,
                                                    const uint8_t *winners, const float *dp,
                                                    float *dw, float *db,
                                                    const fastnn_conv2d_geom *g,
                                                    const fastnn_pool2d_geom *pg)
    int fastnn_conv2d_weight_gradient_through(const float *x, const float *y,
                                              const float *dy, int through, float alpha,
                                              float *dw, float *db,
                                              const fastnn_conv2d_geom *g)
    void fastnn_conv2d_weight_gradient_through_naive(const float *x, const float *y,
                                                     const float *dy, int through,
                                                     float alpha, float *dw, float *db,
                                                     const fastnn_conv2d_geom *g)
    void fastnn_avg_pool2d(const float *x, float *y, const fastnn_pool2d_geom *g,
                           const fastnn_dropout_mask *drop)
    void fastnn_avg_pool2d_naive(const float *x, float *y,
                                 const fastnn_pool2d_geom *g, const fastnn_dropout_mask *drop)
    void fastnn_avg_pool2d_backward(const float *x, const float *dy, float *dx,
                                    const fastnn_pool2d_geom *g, int through, float alpha,
                                    const fastnn_dropout_mask *drop)
    void fastnn_avg_pool2d_backward_naive(const float *x, const float *dy, float *dx,
                                          const fastnn_pool2d_geom *g, int through,
                                          float alpha, const fastnn_dropout_mask *drop)

    ctypedef enum fastnn_fill_mode:
        FASTNN_FILL_REFLECT
        FASTNN_FILL_WRAP
        FASTNN_FILL_CONSTANT
        FASTNN_FILL_NEAREST
    ctypedef struct fastnn_warp_geom:
        int64_t batch, in_h, in_w, channels, out_h, out_w
        int bilinear
        fastnn_fill_mode fill_mode
        float fill_value
    void fastnn_affine_warp(const float *x, const float *transforms, float *y,
                            const fastnn_warp_geom *g)
    void fastnn_affine_warp_naive(const float *x, const float *transforms, float *y,
                                  const fastnn_warp_geom *g)
    void fastnn_affine_warp_backward(const float *dy, const float *transforms,
                                     float *dx, const fastnn_warp_geom *g)
    void fastnn_affine_warp_backward_naive(const float *dy, const float *transforms,
                                           float *dx, const fastnn_warp_geom *g)

    int fastnn_batch_norm_stats(const float *x, int64_t rows, int64_t channels,
                                double *mean, double *var)
    void fastnn_batch_norm_stats_naive(const float *x, int64_t rows, int64_t channels,
                                       double *mean, double *var)
    ctypedef enum fastnn_rule:
        pass
    ctypedef struct fastnn_update:
        fastnn_rule rule
        float rate, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2
        float momentum, epsilon, rate_g, v_scale
        int nesterov, centered, amsgrad
    int fastnn_update_slots(const fastnn_update *u)
    void fastnn_optimizer_update(const fastnn_update *u, float *w, const float *g,
                                 float *const *slots, int64_t n)
    void fastnn_optimizer_update_naive(const fastnn_update *u, float *w, const float *g,
                                       float *const *slots, int64_t n)
    void fastnn_softmax(const float *x, float *y, int64_t rows, int64_t n)
    void fastnn_softmax_naive(const float *x, float *y, int64_t rows, int64_t n)
    int64_t fastnn_sparse_crossentropy(const float *p, const int64_t *labels, int64_t rows,
                                       int64_t classes, double epsilon, float scale,
                                       double *loss, float *dz)
    void fastnn_dropout(const float *x, float *y, int64_t n, float keep_prob, uint64_t seed)
    void fastnn_dropout_naive(const float *x, float *y, int64_t n, float keep_prob,
                              uint64_t seed)
    void fastnn_relu(const float *x, float *y, int64_t n)
    void fastnn_relu_naive(const float *x, float *y, int64_t n)
    void fastnn_relu_backward(const float *y, const float *dy, float *dx, int64_t n)
    void fastnn_relu_backward_naive(const float *y, const float *dy, float *dx, int64_t n)
    # f is a fastnn_activation (an enum: C converts the int)
    int fastnn_activation_reads_input(int f)
    void fastnn_activation_forward(int f, float alpha, const float *x, float *y, int64_t n)
    void fastnn_activation_forward_naive(int f, float alpha, const float *x, float *y,
                                         int64_t n)
    void fastnn_activation_backward(int f, float alpha, const float *source, const float *dy,
                                    float *dx, int64_t n)
    void fastnn_activation_backward_naive(int f, float alpha, const float *source,
                                          const float *dy, float *dx, int64_t n)
    int fastnn_batch_norm_apply(const float *x, int64_t rows, int64_t channels,
                                const double *mean, const float *scale, const float *beta,
                                int relu, float *y)
    void fastnn_batch_norm_apply_naive(const float *x, int64_t rows, int64_t channels,
                                       const double *mean, const float *scale,
                                       const float *beta, int relu, float *y)
    int fastnn_batch_norm_backward(const float *x, const float *dy, int64_t rows,
                                   int64_t channels, const double *mean,
                                   const float *inv_std, const float *gamma,
                                   int batch_stats, const float *relu_scale,
                                   const float *relu_beta, float *dx,
                                   float *dgamma, float *dbeta)
    void fastnn_batch_norm_backward_naive(const float *x, const float *dy, int64_t rows,
                                          int64_t channels, const double *mean,
                                          const float *inv_std, const float *gamma,
                                          int batch_stats, const float *relu_scale,
                                          const float *relu_beta, float *dx,
                                          float *dgamma, float *dbeta)


# ---- runtime ----------------------------------------------------------------

def set_num_threads(int n):
    fastnn_set_num_threads(n)


def get_num_threads():
    return fastnn_get_num_threads()


def threads_for(double work):
    """The threads a kernel takes for `work` scalar operations."""
    return fastnn_threads_for(work)


MAX_THREADS = FASTNN_MAX_THREADS


def forked_after_parallel():
    return bool(fastnn_forked_after_parallel())


def openmp_enabled():
    return bool(fastnn_openmp_enabled())


def simd_path():
    return fastnn_simd_name(fastnn_get_simd()).decode()


_SIMD_PATHS = {"avx512": FASTNN_SIMD_AVX512, "avx2": FASTNN_SIMD_AVX2,
               "generic": FASTNN_SIMD_GENERIC}


def set_simd_path(str name):
    """Force "avx512", "avx2" or "generic"; False if this CPU cannot run the path."""
    return fastnn_set_simd(_SIMD_PATHS[name]) == 0



# ---- NumPy's data allocator: the block cache (fastnn.memory) ------------------
# NEP 49 (NumPy >= 1.22): a "mem_handler" capsule holding a PyDataMem_Handler
# becomes the allocator of the arrays created in the current context (a
# contextvar: each thread has its own); every array keeps the handler it was
# allocated with and is freed through it, wherever it dies.

cdef extern from "numpy/arrayobject.h":
    ctypedef struct PyDataMemAllocator:
        void *ctx
        void *(*malloc)(void *ctx, size_t size) noexcept nogil
        void *(*calloc)(void *ctx, size_t nelem, size_t elsize) noexcept nogil
        void *(*realloc)(void *ctx, void *ptr, size_t new_size) noexcept nogil
        void (*free)(void *ctx, void *ptr, size_t size) noexcept nogil
    ctypedef struct PyDataMem_Handler:
        char name[127]
        unsigned char version
        PyDataMemAllocator allocator
    object PyDataMem_SetHandler(object handler)
    int _import_array() except -1


cdef void *_array_malloc(void *ctx, size_t size) noexcept nogil:
    return fastnn_block_alloc(size)


cdef void *_array_calloc(void *ctx, size_t nelem, size_t elsize) noexcept nogil:
    if elsize and nelem > SIZE_MAX / elsize:
        return NULL
    return fastnn_block_calloc(nelem * elsize)


cdef void *_array_realloc(void *ctx, void *ptr, size_t new_size) noexcept nogil:
    return fastnn_block_realloc(ptr, new_size)


cdef void _array_free(void *ctx, void *ptr, size_t size) noexcept nogil:
    fastnn_block_free(ptr)  # the block's header knows its size


_import_array()
cdef PyDataMem_Handler _block_cache_handler
strncpy(_block_cache_handler.name, b"fastnn_block_cache", 127)
_block_cache_handler.version = 1
_block_cache_handler.allocator.ctx = NULL
_block_cache_handler.allocator.malloc = _array_malloc
_block_cache_handler.allocator.calloc = _array_calloc
_block_cache_handler.allocator.realloc = _array_realloc
_block_cache_handler.allocator.free = _array_free
_BLOCK_CACHE_HANDLER = PyCapsule_New(&_block_cache_handler, "mem_handler", NULL)
BLOCK_CACHE_MIN_BYTES = FASTNN_BLOCK_CACHE_MIN_BYTES


def set_array_allocator(handler=None):
    """Make ``handler`` (a "mem_handler" capsule; None: the block cache) the
    allocator of new arrays in this context; returns the one it replaced."""
    return PyDataMem_SetHandler(_BLOCK_CACHE_HANDLER if handler is None else handler)


def block_cache_release():
    fastnn_block_cache_release()


def block_cache_set_limit(int64_t limit_bytes):
    fastnn_block_cache_set_limit(<size_t>limit_bytes)


def block_cache_stats():
    cdef fastnn_block_cache_stats s
    fastnn_block_cache_get_stats(&s)
    return {"hits": s.hits, "misses": s.misses, "cached_bytes": s.cached_bytes,
            "cached_blocks": s.cached_blocks, "limit_bytes": s.limit_bytes}

# The limits of the fast kernels, as csrc/fastnn.h states them (fastnn.kernels
# asks its predicates; nothing else copies the numbers).
DIRECT_MAX_K = FASTNN_DIRECT_MAX_K
DIRECT_ANY_C_MAX_K = FASTNN_DIRECT_ANY_C_MAX_K
DIRECT_FEW_C = FASTNN_DIRECT_FEW_C
POOLED_MAX_TAPS = FASTNN_POOLED_MAX_TAPS
# A pooled value's winner when the ReLU cut its window's maximum (no gradient).
POOL_NO_WINNER = FASTNN_POOL_NO_WINNER

# The two codes of fastnn_activation beside the elementwise kernels' own (0 ..
# 10, in the order of kernels.activation.ACTIVATION_NAMES), for the kernels
# that take an activation code (the epilogues of conv2d and matmul,
# dense_backward, the pools' backward passes): ReLU, and no activation.
ACT_RELU = FASTNN_ACT_RELU
ACT_NONE = FASTNN_ACT_NONE


def direct_conv_takes(int64_t k_h, int64_t k_w, int64_t in_c):
    """fastnn.h's rule: does a k_h x k_w kernel on in_c channels run on the direct kernels?"""
    return bool(fastnn_direct_conv_takes(k_h, k_w, in_c))


cdef inline void _check(int status, str op="kernel"):
    if status == FASTNN_ENOMEM:
        raise MemoryError("fastnn: out of memory for kernel scratch buffers")
    if status == FASTNN_ELIMIT:
        raise ValueError(f"{op}: arguments past the C kernel's limits (csrc/fastnn.h: patches "
                         f"of at most FASTNN_DIRECT_ANY_C_MAX_K = {FASTNN_DIRECT_ANY_C_MAX_K} "
                         f"values, or FASTNN_DIRECT_MAX_K = {FASTNN_DIRECT_MAX_K} with at most "
                         f"FASTNN_DIRECT_FEW_C = {FASTNN_DIRECT_FEW_C} input channels, pool "
                         f"windows of at most FASTNN_POOLED_MAX_TAPS = {FASTNN_POOLED_MAX_TAPS} "
                         f"taps); fastnn.kernels checks them first")
    if status != FASTNN_OK:
        raise RuntimeError(f"{op}: unknown status {status} from the C kernel")


# ---- matmul -----------------------------------------------------------------

def matmul(const float[:, ::1] a, const float[:, ::1] b, const float[::1] bias,
           float[:, ::1] c, int64_t m, int64_t n, int64_t k, bint transpose_a,
           bint transpose_b, int act, float alpha, bint naive):
    """bias may be None; act (an activation code, alpha its argument) is
    applied to C in the kernel's epilogue."""
    cdef const float *bias_ptr = NULL if bias is None else &bias[0]
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_matmul_naive(&a[0, 0], &b[0, 0], bias_ptr, &c[0, 0], m, n, k, transpose_a,
                                transpose_b, act, alpha)
        else:
            status = fastnn_matmul(&a[0, 0], &b[0, 0], bias_ptr, &c[0, 0], m, n, k,
                                   transpose_a, transpose_b, act, alpha)
    _check(status)


def dense_threads(int64_t m, int64_t k, int64_t n):
    """The threads a Dense layer's passes take for x (m, k) . W (k, n)."""
    return fastnn_dense_threads(m, k, n)


def dense_forward(const float[:, ::1] x, const float[:, ::1] w, const float[::1] b,
                  float[:, ::1] y, int act, float alpha, bint naive):
    """b may be None; every size is at least 1."""
    cdef const float *b_ptr = NULL if b is None else &b[0]
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_dense_forward_naive(&x[0, 0], &w[0, 0], b_ptr, act, alpha, x.shape[0],
                                       x.shape[1], w.shape[1], &y[0, 0])
        else:
            status = fastnn_dense_forward(&x[0, 0], &w[0, 0], b_ptr, act, alpha, x.shape[0],
                                          x.shape[1], w.shape[1], &y[0, 0])
    _check(status)


def dense_backward(const float[:, ::1] x, const float[:, ::1] w, const float[:, ::1] dy,
                   const float[:, ::1] y, int act, float alpha, float[:, ::1] dz,
                   float[:, ::1] dx, float[:, ::1] dw, float[::1] db, bint naive):
    """y (the layer's output, for the derivative of the activation whose code
    is act), dz and dx may be None; every size is at least 1."""
    cdef const float *y_ptr = NULL if y is None else &y[0, 0]
    cdef float *dz_ptr = NULL if dz is None else &dz[0, 0]
    cdef float *dx_ptr = NULL if dx is None else &dx[0, 0]
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_dense_backward_naive(&x[0, 0], &w[0, 0], &dy[0, 0], y_ptr, act, alpha,
                                        x.shape[0], x.shape[1], dy.shape[1], dz_ptr, dx_ptr,
                                        &dw[0, 0], &db[0])
        else:
            status = fastnn_dense_backward(&x[0, 0], &w[0, 0], &dy[0, 0], y_ptr, act, alpha,
                                           x.shape[0], x.shape[1], dy.shape[1], dz_ptr, dx_ptr,
                                           &dw[0, 0], &db[0])
    _check(status)


# ---- conv2d -----------------------------------------------------------------

cdef fastnn_conv2d_geom _conv_geom(int64_t batch, int64_t in_c, int64_t out_c, win,
                                   int algorithm=0):
    """algorithm: a fastnn_conv_algorithm code (0, auto: the kernels choose)."""
    cdef fastnn_conv2d_geom g
    g.batch, g.in_h, g.in_w, g.in_c = batch, win.in_h, win.in_w, in_c
    g.k_h, g.k_w, g.out_c = win.k_h, win.k_w, out_c
    g.stride_h, g.stride_w = win.stride_h, win.stride_w
    g.pad_top, g.pad_left = win.pad_top, win.pad_left
    g.out_h, g.out_w = win.out_h, win.out_w
    g.algorithm = algorithm
    return g


def conv2d(const float[::1] x, const float[::1] w, const float[::1] b,
           float[::1] y, int64_t batch, int64_t in_c, int64_t out_c, win,
           int act, float alpha, bint naive, int algorithm):
    """act: the activation code the epilogue applies, alpha its argument;
    algorithm: a fastnn_conv_algorithm code."""
    cdef fastnn_conv2d_geom g = _conv_geom(batch, in_c, out_c, win, algorithm)
    cdef const float *bias = NULL if b is None else &b[0]
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_conv2d_naive(&x[0], &w[0], bias, &y[0], &g, act, alpha)
        else:
            status = fastnn_conv2d(&x[0], &w[0], bias, &y[0], &g, act, alpha)
    _check(status)


def conv2d_backward(const float[::1] x, const float[::1] w,
                    const float[::1] dy, float[::1] dx, float[::1] dw,
                    float[::1] db, int64_t batch, int64_t in_c,
                    int64_t out_c, win, bint naive, int algorithm):
    """dx and dw may be None: that gradient is then not computed;
    algorithm: a fastnn_conv_algorithm code."""
    cdef fastnn_conv2d_geom g = _conv_geom(batch, in_c, out_c, win, algorithm)
    cdef float *dx_ptr = NULL if dx is None else &dx[0]
    cdef float *dw_ptr = NULL if dw is None else &dw[0]
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_conv2d_backward_naive(&x[0], &w[0], &dy[0], dx_ptr, dw_ptr, &db[0], &g)
        else:
            status = fastnn_conv2d_backward(&x[0], &w[0], &dy[0], dx_ptr, dw_ptr, &db[0], &g)
    _check(status)


def conv2d_relu_max_pool(const float[::1] x, const float[::1] w, const float[::1] b,
                         float[::1] p, uint8_t[::1] winners, int64_t batch, int64_t in_c,
                         int64_t out_c, win, pool_win, bint naive):
    """b and winners may be None: no bias; the winners not written."""
    cdef fastnn_conv2d_geom g = _conv_geom(batch, in_c, out_c, win)
    cdef fastnn_pool2d_geom pg = _pool_geom(batch, out_c, pool_win)
    cdef const float *bias = NULL if b is None else &b[0]
    cdef uint8_t *won = NULL if winners is None else &winners[0]
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_conv2d_relu_max_pool_naive(&x[0], &w[0], bias, &p[0], won, &g, &pg)
        else:
            status = fastnn_conv2d_relu_max_pool(&x[0], &w[0], bias, &p[0], won, &g, &pg)
    _check(status, "conv2d_relu_max_pool2d")


def conv2d_pooled_weight_gradient(const float[::1] x, const float[::1] y,
                                  const uint8_t[::1] winners, const float[::1] dp,
                                  float[::1] dw, float[::1] db, int64_t batch, int64_t in_c,
                                  int64_t out_c, win, pool_win, bint naive):
    """One of y and winners is None: the winners are then found in y."""
    cdef fastnn_conv2d_geom g = _conv_geom(batch, in_c, out_c, win)
    cdef fastnn_pool2d_geom pg = _pool_geom(batch, out_c, pool_win)
    cdef const float *y_ptr = NULL if y is None else &y[0]
    cdef const uint8_t *won = NULL if winners is None else &winners[0]
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_conv2d_pooled_weight_gradient_naive(&x[0], y_ptr, won, &dp[0], &dw[0],
                                                       &db[0], &g, &pg)
        else:
            status = fastnn_conv2d_pooled_weight_gradient(&x[0], y_ptr, won, &dp[0], &dw[0],
                                                          &db[0], &g, &pg)
    _check(status, "conv2d_pooled_weight_gradient")


def conv2d_weight_gradient_through(const float[::1] x, const float[::1] y,
                                   const float[::1] dy, int through, float alpha,
                                   float[::1] dw, float[::1] db, int64_t batch, int64_t in_c,
                                   int64_t out_c, win, bint naive):
    cdef fastnn_conv2d_geom g = _conv_geom(batch, in_c, out_c, win)
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_conv2d_weight_gradient_through_naive(&x[0], &y[0], &dy[0], through, alpha,
                                                        &dw[0], &db[0], &g)
        else:
            status = fastnn_conv2d_weight_gradient_through(&x[0], &y[0], &dy[0], through,
                                                           alpha, &dw[0], &db[0], &g)
    _check(status, "conv2d_weight_gradient_through")


# ---- pooling ----------------------------------------------------------------

cdef fastnn_pool2d_geom _pool_geom(int64_t batch, int64_t channels, win):
    cdef fastnn_pool2d_geom g
    g.batch, g.in_h, g.in_w, g.channels = batch, win.in_h, win.in_w, channels
    g.pool_h, g.pool_w = win.k_h, win.k_w
    g.stride_h, g.stride_w = win.stride_h, win.stride_w
    g.pad_top, g.pad_left = win.pad_top, win.pad_left
    g.out_h, g.out_w = win.out_h, win.out_w
    return g


cdef fastnn_dropout_mask _dropout_mask(dropout):
    cdef fastnn_dropout_mask m
    m.keep_prob, m.seed = dropout
    return m


def pool2d(str mode, const float[::1] x, float[::1] y, int64_t batch,
           int64_t channels, win, bint naive, dropout=None):
    """mode is "max" or "avg"; dropout: None or (keep_prob, seed) of a
    dropout applied to the pooled output."""
    cdef fastnn_pool2d_geom g = _pool_geom(batch, channels, win)
    cdef bint is_max = mode == "max"
    cdef fastnn_dropout_mask m
    cdef const fastnn_dropout_mask *drop = NULL
    if dropout is not None:
        m = _dropout_mask(dropout)
        drop = &m
    with nogil:
        if is_max and naive:
            fastnn_max_pool2d_naive(&x[0], &y[0], &g, drop)
        elif is_max:
            fastnn_max_pool2d(&x[0], &y[0], &g, drop)
        elif naive:
            fastnn_avg_pool2d_naive(&x[0], &y[0], &g, drop)
        else:
            fastnn_avg_pool2d(&x[0], &y[0], &g, drop)


def pool2d_backward(str mode, const float[::1] x, const float[::1] dy,
                    float[::1] dx, int64_t batch, int64_t channels, win,
                    int through, float alpha, bint naive, dropout=None):
    """through: the activation code (ACT_NONE, ACT_RELU, or an activation
    whose derivative reads its output) of the activation below the pool;
    dropout: None or (keep_prob, seed) of a dropout above it, dy being the
    gradient at the dropout's output."""
    cdef fastnn_pool2d_geom g = _pool_geom(batch, channels, win)
    cdef bint is_max = mode == "max"
    cdef fastnn_dropout_mask m
    cdef const fastnn_dropout_mask *drop = NULL
    if dropout is not None:
        m = _dropout_mask(dropout)
        drop = &m
    with nogil:
        if is_max and naive:
            fastnn_max_pool2d_backward_naive(&x[0], &dy[0], &dx[0], &g, through, alpha, drop)
        elif is_max:
            fastnn_max_pool2d_backward(&x[0], &dy[0], &dx[0], &g, through, alpha, drop)
        elif naive:
            fastnn_avg_pool2d_backward_naive(&x[0], &dy[0], &dx[0], &g, through, alpha, drop)
        else:
            fastnn_avg_pool2d_backward(&x[0], &dy[0], &dx[0], &g, through, alpha, drop)


# ---- affine warps -----------------------------------------------------------

_FILL_MODES = {"reflect": FASTNN_FILL_REFLECT, "wrap": FASTNN_FILL_WRAP,
               "constant": FASTNN_FILL_CONSTANT, "nearest": FASTNN_FILL_NEAREST}


cdef fastnn_warp_geom _warp_geom(tuple in_shape, tuple out_hw, bint bilinear,
                                 str fill_mode, float fill_value):
    cdef fastnn_warp_geom g
    g.batch, g.in_h, g.in_w, g.channels = in_shape
    g.out_h, g.out_w = out_hw
    g.bilinear = bilinear
    g.fill_mode = _FILL_MODES[fill_mode]
    g.fill_value = fill_value
    return g


def affine_warp(const float[::1] x, const float[::1] transforms, float[::1] y,
                tuple in_shape, tuple out_hw, bint bilinear, str fill_mode,
                float fill_value, bint naive):
    """in_shape is (batch, in_h, in_w, channels); out_hw is (out_h, out_w)."""
    cdef fastnn_warp_geom g = _warp_geom(in_shape, out_hw, bilinear, fill_mode, fill_value)
    with nogil:
        if naive:
            fastnn_affine_warp_naive(&x[0], &transforms[0], &y[0], &g)
        else:
            fastnn_affine_warp(&x[0], &transforms[0], &y[0], &g)


def affine_warp_backward(const float[::1] dy, const float[::1] transforms,
                         float[::1] dx, tuple in_shape, tuple out_hw, bint bilinear,
                         str fill_mode, float fill_value, bint naive):
    cdef fastnn_warp_geom g = _warp_geom(in_shape, out_hw, bilinear, fill_mode, fill_value)
    with nogil:
        if naive:
            fastnn_affine_warp_backward_naive(&dy[0], &transforms[0], &dx[0], &g)
        else:
            fastnn_affine_warp_backward(&dy[0], &transforms[0], &dx[0], &g)


# ---- batch normalisation ----------------------------------------------------

def batch_norm_stats(const float[::1] x, double[::1] mean, double[::1] var, int64_t rows,
                     int64_t channels, bint naive):
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_batch_norm_stats_naive(&x[0], rows, channels, &mean[0], &var[0])
        else:
            status = fastnn_batch_norm_stats(&x[0], rows, channels, &mean[0], &var[0])
    _check(status)


cdef int _float32_buffer(object array, Py_buffer *view, int flags) except -1:
    """Fill ``view`` with a C-contiguous float32 buffer of ``array`` (any shape)."""
    PyObject_GetBuffer(array, view, flags | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    if view.itemsize != 4 or view.format == NULL or view.format[0] != b'f' \
            or view.format[1] != 0:
        PyBuffer_Release(view)
        raise ValueError("expected a float32 array")
    return 0


cdef bint _same_shape(Py_buffer *a, Py_buffer *b):
    if a.ndim != b.ndim:
        return False
    for d in range(a.ndim):
        if a.shape[d] != b.shape[d]:
            return False
    return True


cdef bint _overlap(Py_buffer *a, Py_buffer *b):
    cdef char *p = <char *>a.buf
    cdef char *q = <char *>b.buf
    return a.len > 0 and b.len > 0 and p < q + b.len and q < p + a.len


def update_slots(tuple settings):
    """How many slot arrays the rule of ``settings`` (as for ``optimizer_update``) keeps."""
    cdef fastnn_update u = _update(settings, 0.0, 0.0, 1.0)
    return fastnn_update_slots(&u)


cdef fastnn_update _update(tuple settings, double rate, double rate_g, double v_scale):
    cdef fastnn_update u
    cdef int rule
    (rule, u.beta_1, u.one_minus_beta_1, u.beta_2, u.one_minus_beta_2, u.momentum,
     u.epsilon, u.nesterov, u.centered, u.amsgrad) = settings
    u.rule = <fastnn_rule>rule
    u.rate, u.rate_g, u.v_scale = rate, rate_g, v_scale
    return u


def optimizer_update(ws, gs, slots, tuple settings, double rate, double rate_g,
                     double v_scale, bint naive):
    """One optimizer step on each variable: ws[i] and the arrays of slots[i] from gs[i].

    ``settings`` = (rule number, beta_1, 1 - beta_1, beta_2, 1 - beta_2,
    momentum, epsilon, nesterov, centered, amsgrad) and rate, rate_g, v_scale
    fill one ``fastnn_update`` (csrc/fastnn.h; doubles become float32 here).
    The arrays keep their shapes (w, g and the slots of one variable must
    agree, and must not overlap); each is taken through the buffer protocol
    (float32, C-contiguous, all but g writeable, else ValueError/BufferError)
    before the first update, so a bad array leaves every weight as it was.
    """
    cdef fastnn_update u = _update(settings, rate, rate_g, v_scale)
    cdef Py_ssize_t count = len(ws), per = 2 + fastnn_update_slots(&u)
    cdef Py_ssize_t taken = 0, i, j, k
    cdef Py_buffer *views = <Py_buffer *>malloc(per * count * sizeof(Py_buffer) + 1)
    cdef Py_buffer *own
    cdef float *slot_pointers[3]
    if views == NULL:
        raise MemoryError("fastnn: out of memory")
    try:
        if not len(gs) == len(slots) == count:
            raise ValueError("optimizer_update: ws, gs and slots must be sequences of one length")
        for i in range(count):
            arrays = (ws[i], gs[i], *slots[i])
            if len(arrays) != per:
                raise ValueError(f"optimizer_update: this rule keeps {per - 2} slot arrays "
                                 f"per variable, got {len(arrays) - 2}")
            for j, array in enumerate(arrays):
                _float32_buffer(array, &views[taken], PyBUF_SIMPLE if j == 1 else PyBUF_WRITABLE)
                taken += 1
            own = &views[per * i]
            for j in range(1, per):
                if not _same_shape(&own[0], &own[j]):
                    raise ValueError("optimizer_update: w, g and the slots must have one shape")
                for k in range(j):
                    if _overlap(&own[j], &own[k]):
                        raise ValueError("optimizer_update: w, g and the slots must not overlap")
        with nogil:
            for i in range(count):
                own = &views[per * i]
                for j in range(per - 2):
                    slot_pointers[j] = <float *>own[2 + j].buf
                if naive:
                    fastnn_optimizer_update_naive(&u, <float *>own[0].buf,
                                                  <const float *>own[1].buf, slot_pointers,
                                                  own[0].len // 4)
                else:
                    fastnn_optimizer_update(&u, <float *>own[0].buf, <const float *>own[1].buf,
                                            slot_pointers, own[0].len // 4)
    finally:
        for i in range(taken):
            PyBuffer_Release(&views[i])
        free(views)


def softmax(const float[:, ::1] x, float[:, ::1] y, bint naive):
    """x has at least one row and one column."""
    with nogil:
        if naive:
            fastnn_softmax_naive(&x[0, 0], &y[0, 0], x.shape[0], x.shape[1])
        else:
            fastnn_softmax(&x[0, 0], &y[0, 0], x.shape[0], x.shape[1])


def sparse_crossentropy(const float[:, ::1] p, const int64_t[::1] labels, double epsilon,
                        float scale, double[::1] loss, float[:, ::1] dz):
    """dz may be None; p has at least one row and one column.  Returns -1 or
    the first row whose label is outside 0..classes-1."""
    cdef float *dz_ptr = NULL if dz is None else &dz[0, 0]
    cdef int64_t bad
    with nogil:
        bad = fastnn_sparse_crossentropy(&p[0, 0], &labels[0], p.shape[0], p.shape[1], epsilon,
                                         scale, &loss[0], dz_ptr)
    return bad


def dropout(const float[::1] x, float[::1] y, float keep_prob, uint64_t seed, bint naive):
    with nogil:
        if naive:
            fastnn_dropout_naive(&x[0], &y[0], x.shape[0], keep_prob, seed)
        else:
            fastnn_dropout(&x[0], &y[0], x.shape[0], keep_prob, seed)


def relu(const float[::1] x, float[::1] y, bint naive):
    with nogil:
        if naive:
            fastnn_relu_naive(&x[0], &y[0], x.shape[0])
        else:
            fastnn_relu(&x[0], &y[0], x.shape[0])


def relu_backward(const float[::1] y, const float[::1] dy, float[::1] dx, bint naive):
    with nogil:
        if naive:
            fastnn_relu_backward_naive(&y[0], &dy[0], &dx[0], y.shape[0])
        else:
            fastnn_relu_backward(&y[0], &dy[0], &dx[0], y.shape[0])


def activation_reads_input(int f):
    return bool(fastnn_activation_reads_input(f))


def activation_forward(int f, float alpha, const float[::1] x, float[::1] y, bint naive):
    """y may be x (in place)."""
    with nogil:
        if naive:
            fastnn_activation_forward_naive(f, alpha, &x[0], &y[0], x.shape[0])
        else:
            fastnn_activation_forward(f, alpha, &x[0], &y[0], x.shape[0])


def activation_backward(int f, float alpha, const float[::1] source, const float[::1] dy,
                        float[::1] dx, bint naive):
    """source is y, or x where activation_reads_input(f); dx may be dy."""
    with nogil:
        if naive:
            fastnn_activation_backward_naive(f, alpha, &source[0], &dy[0], &dx[0],
                                             source.shape[0])
        else:
            fastnn_activation_backward(f, alpha, &source[0], &dy[0], &dx[0], source.shape[0])


def batch_norm_apply(const float[::1] x, const double[::1] mean, const float[::1] scale,
                     const float[::1] beta, bint relu, float[::1] y, int64_t rows,
                     int64_t channels, bint naive):
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_batch_norm_apply_naive(&x[0], rows, channels, &mean[0], &scale[0], &beta[0],
                                          relu, &y[0])
        else:
            status = fastnn_batch_norm_apply(&x[0], rows, channels, &mean[0], &scale[0],
                                             &beta[0], relu, &y[0])
    _check(status)


def batch_norm_backward(const float[::1] x, const float[::1] dy, const double[::1] mean,
                        const float[::1] inv_std, const float[::1] gamma, bint batch_stats,
                        const float[::1] relu_scale, const float[::1] relu_beta,
                        float[::1] dx, float[::1] dgamma, float[::1] dbeta, int64_t rows,
                        int64_t channels, bint naive):
    """relu_scale and relu_beta (the fused ReLU's forward constants, both or
    neither) and dx may be None: no mask, and dx not computed."""
    cdef const float *scale_ptr = NULL if relu_scale is None else &relu_scale[0]
    cdef const float *beta_ptr = NULL if relu_beta is None else &relu_beta[0]
    cdef float *dx_ptr = NULL if dx is None else &dx[0]
    cdef int status = FASTNN_OK
    if (scale_ptr == NULL) != (beta_ptr == NULL):
        raise ValueError("batch_norm_backward: relu_scale and relu_beta go together")
    with nogil:
        if naive:
            fastnn_batch_norm_backward_naive(&x[0], &dy[0], rows, channels, &mean[0],
                                             &inv_std[0], &gamma[0], batch_stats, scale_ptr,
                                             beta_ptr, dx_ptr, &dgamma[0], &dbeta[0])
        else:
            status = fastnn_batch_norm_backward(&x[0], &dy[0], rows, channels, &mean[0],
                                                &inv_std[0], &gamma[0], batch_stats,
                                                scale_ptr, beta_ptr, dx_ptr, &dgamma[0],
                                                &dbeta[0])
    _check(status)


# ---- recurrent layers (recurrent.c) -------------------------------------------------

cdef extern from "fastnn.h" nogil:
    ctypedef struct fastnn_rnn_geom:
        int64_t batch, steps, units
        int cell, activation, recurrent_activation

    int fastnn_rnn_forward(const fastnn_rnn_geom *g, const float *u_kernel,
                           const float *rbias, const float *mask, float *z,
                           float *h, float *c, float *rh)
    void fastnn_rnn_forward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                                  const float *rbias, const float *mask, float *z,
                                  float *h, float *c, float *rh, float *scratch)
    int fastnn_rnn_backward(const fastnn_rnn_geom *g, const float *u_kernel,
                            const float *mask, const float *z, const float *h,
                            const float *c, const float *rh, const float *dy,
                            const float *dc_last, float *dz, float *du, float *drbias)
    void fastnn_rnn_backward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                                   const float *mask, const float *z, const float *h,
                                   const float *c, const float *rh, const float *dy,
                                   const float *dc_last, float *dz, float *du,
                                   float *drbias, float *dr, float *carry, float *dc)


cdef inline const float *_cptr(const float[::1] a):
    return NULL if a is None else &a[0]


cdef inline float *_ptr(float[::1] a):
    return NULL if a is None else &a[0]


cdef fastnn_rnn_geom _rnn_geom(tuple shape, int cell, int activation,
                               int recurrent_activation):
    cdef fastnn_rnn_geom g
    g.batch, g.steps, g.units = shape
    g.cell, g.activation, g.recurrent_activation = cell, activation, recurrent_activation
    return g


def rnn_forward(tuple shape, int cell, int activation, int recurrent_activation,
                const float[::1] u_kernel, const float[::1] rbias, const float[::1] mask,
                float[::1] z, float[::1] h, float[::1] c, float[::1] rh,
                float[::1] scratch, bint naive):
    """shape = (batch, steps, units), all at least 1; rbias, mask, c, rh may be None,
    scratch is None for the fast version."""
    cdef fastnn_rnn_geom g = _rnn_geom(shape, cell, activation, recurrent_activation)
    cdef const float *rb = _cptr(rbias)
    cdef const float *m = _cptr(mask)
    cdef float *c_ptr = _ptr(c)
    cdef float *rh_ptr = _ptr(rh)
    cdef float *s_ptr = _ptr(scratch)
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_rnn_forward_naive(&g, &u_kernel[0], rb, m, &z[0], &h[0], c_ptr, rh_ptr,
                                     s_ptr)
        else:
            status = fastnn_rnn_forward(&g, &u_kernel[0], rb, m, &z[0], &h[0], c_ptr, rh_ptr)
    _check(status)


def rnn_backward(tuple shape, int cell, int activation, int recurrent_activation,
                 const float[::1] u_kernel, const float[::1] mask, const float[::1] z,
                 const float[::1] h, const float[::1] c, const float[::1] rh,
                 const float[::1] dy, const float[::1] dc_last, float[::1] dz,
                 float[::1] du, float[::1] drbias, float[::1] dr, float[::1] carry,
                 float[::1] dc, bint naive):
    """mask, c, rh, dc_last, drbias (all but the GRU's) may be None; dr (the GRU's
    one row), carry and dc are scratch only for naive."""
    cdef fastnn_rnn_geom g = _rnn_geom(shape, cell, activation, recurrent_activation)
    cdef const float *m = _cptr(mask)
    cdef const float *c_ptr = _cptr(c)
    cdef const float *rh_ptr = _cptr(rh)
    cdef const float *dcl = _cptr(dc_last)
    cdef float *drb_ptr = _ptr(drbias)
    cdef float *dr_ptr = _ptr(dr)
    cdef float *carry_ptr = _ptr(carry)
    cdef float *dc_ptr = _ptr(dc)
    cdef int status = FASTNN_OK
    with nogil:
        if naive:
            fastnn_rnn_backward_naive(&g, &u_kernel[0], m, &z[0], &h[0], c_ptr, rh_ptr,
                                      &dy[0], dcl, &dz[0], &du[0], drb_ptr, dr_ptr,
                                      carry_ptr, dc_ptr)
        else:
            status = fastnn_rnn_backward(&g, &u_kernel[0], m, &z[0], &h[0], c_ptr, rh_ptr,
                                         &dy[0], dcl, &dz[0], &du[0], drb_ptr)
    _check(status)
