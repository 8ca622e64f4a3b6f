/*
 * runtime.c -- thread count, fork safety, SIMD dispatch, partial sums.
 *
 * The thread count lives in one global that every parallel region passes to
 * its num_threads() clause, so fastnn_set_num_threads() works from any
 * calling thread (omp_set_num_threads() would only affect the caller).
 *
 * Fork: GNU OpenMP's thread pool does not survive fork() -- the child has
 * only the forking thread, while the runtime still believes in the others,
 * so the child's first parallel region waits for them forever.  A fork
 * handler (pthread_atfork) therefore puts a child forked after a parallel
 * region ran on one thread for good, as PyTorch does; a child forked before
 * any parallel region keeps all its threads.  Results do not change: every
 * kernel computes the same numbers on any number of threads.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define FASTNN_HAVE_ATFORK 1
#endif

#include "internal.h"

/* Atomic, since any Python thread may set or read them while kernels run in
 * others; each is an independent flag. */
static atomic_int num_threads;       /* 0: not chosen yet, use OpenMP's default */
static atomic_int pool_started;      /* a region asked for more than one thread */
static atomic_int forked_after_pool; /* this process is such a fork's child */

void fastnn_set_num_threads(int n)
{
    num_threads = n < 1 ? 0 : n > FASTNN_MAX_THREADS ? FASTNN_MAX_THREADS : n;
}

int fastnn_get_num_threads(void)
{
    if (forked_after_pool)
        return 1;
    if (num_threads > 0)
        return num_threads;
#ifdef _OPENMP
    int n = omp_get_max_threads();
    return n > FASTNN_MAX_THREADS ? FASTNN_MAX_THREADS : n;
#else
    return 1;
#endif
}

int fastnn_forked_after_parallel(void) { return forked_after_pool; }

#ifdef FASTNN_HAVE_ATFORK
static void in_forked_child(void) { forked_after_pool = pool_started; }

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, in_forked_child);
}
#endif

int fastnn_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Below roughly 200k scalar operations a second thread costs more than it
 * saves; above, every thread (and every part of a split sum) gets at least
 * that much work. */
static const double min_work_per_share = 2e5;

/* The cap a kernel that runs others puts on their teams (fastnn_cap_threads):
 * one per calling thread, since a second Python thread may run kernels of
 * its own meanwhile (predicting while another trains); 0 for none. */
static _Thread_local int thread_cap;

int fastnn_cap_threads(int cap)
{
    int previous = thread_cap;
    thread_cap = cap < 1 ? 0 : cap;
    return previous;
}

int fastnn_threads_for(double work)
{
    int wanted = fastnn_get_num_threads();
    if (thread_cap > 0 && wanted > thread_cap)
        wanted = thread_cap;
    double useful = work / min_work_per_share;
    int threads = useful < (double)wanted ? (int)useful : wanted;
    if (threads < 1)
        threads = 1;
    if (threads > 1 && !pool_started)
        pool_started = 1;
    return threads;
}

/* A pass over memory (read w, g and the slots, write them back) does too
 * little per byte for min_work_per_share: an optimizer's update of 100k
 * weights takes about 11 us on one core (SGD), while a second thread first
 * has to wake (OMP_WAIT_POLICY=PASSIVE: 10 us and more, measured on the
 * 2-core machine) and then fetch its half of arrays the backward pass just
 * left in the first core's cache.  Measured there, two threads were slower
 * at every size up to 4M weights; so each thread gets at least 4 MiB. */
static const double min_bytes_per_share = 4.0 * 1024 * 1024;

int fastnn_threads_for_stream(double bytes)
{
    return fastnn_threads_for(bytes / min_bytes_per_share * min_work_per_share);
}

/* Parts of at least min_work_per_share operations each, at most
 * FASTNN_MAX_PARTS and at most one per item: the count depends on the
 * problem alone, so the order of every sum is fixed before any thread runs. */
int fastnn_parts_for(int64_t items, double work)
{
    double useful = work / min_work_per_share;
    int64_t parts = useful < FASTNN_MAX_PARTS ? (int64_t)useful : FASTNN_MAX_PARTS;
    if (parts > items)
        parts = items;
    return parts < 1 ? 1 : (int)parts;
}

/* ---- SIMD dispatch ------------------------------------------------------- */

static const char *const simd_names[] = {"generic", "avx2", "avx512"};
enum { SIMD_PATHS = sizeof simd_names / sizeof simd_names[0] };

/* Whether this CPU (and its operating system: __builtin_cpu_supports checks
 * that the kernel saves the AVX and AVX-512 registers) runs `path`. */
static int cpu_runs(fastnn_simd path)
{
    switch (path) {
    case FASTNN_SIMD_GENERIC:
        return 1;
#if FASTNN_HAVE_AVX2_VARIANT
    case FASTNN_SIMD_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    case FASTNN_SIMD_AVX512:
        return cpu_runs(FASTNN_SIMD_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq");
#endif
    default:
        return 0;
    }
}

static atomic_int simd_chosen = -1; /* -1: detect on first use */

fastnn_simd fastnn_get_simd(void)
{
    if (simd_chosen < 0) {
        int best = SIMD_PATHS - 1;
        while (!cpu_runs((fastnn_simd)best))
            best--;
        /* FASTNN_SIMD may name a path below the best; any other value
         * leaves the best (fastnn.runtime warns about it). */
        const char *asked = getenv("FASTNN_SIMD");
        int chosen = best;
        for (int path = 0; asked && path < best; path++)
            if (strcmp(asked, simd_names[path]) == 0)
                chosen = path;
        simd_chosen = chosen;
    }
    return (fastnn_simd)simd_chosen;
}

int fastnn_set_simd(fastnn_simd path)
{
    if ((int)path < 0 || (int)path >= SIMD_PATHS || !cpu_runs(path))
        return -1;
    simd_chosen = (int)path;
    return 0;
}

const char *fastnn_simd_name(fastnn_simd path)
{
    return (int)path >= 0 && (int)path < SIMD_PATHS ? simd_names[path] : "unknown";
}

/* ---- deterministic parallel sums (internal.h) ---------------------------- */

void fastnn_sum_partials(const float *partial, int parts, int64_t size,
                         float *out)
{
    for (int64_t j = 0; j < size; j++)
        out[j] = 0.0f;
    for (int p = 0; p < parts; p++)  /* part by part: the inner loop vectorises */
        for (int64_t j = 0; j < size; j++)
            out[j] += partial[p * size + j];
}
