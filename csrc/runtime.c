/*
 * runtime.c -- thread count, SIMD dispatch and scratch memory.
 *
 * The thread count lives in one global that every parallel region passes to
 * its num_threads() clause, so fastnn_set_num_threads() works from any
 * calling thread (omp_set_num_threads() would only affect the caller).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int num_threads = 0; /* 0: not chosen yet, use OpenMP's default */

void fastnn_set_num_threads(int n) { num_threads = n > 0 ? n : 0; }

int fastnn_get_num_threads(void)
{
    if (num_threads > 0)
        return num_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int fastnn_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Below roughly 200k scalar operations a second thread costs more than it
 * saves; above, every thread gets at least that much work. */
int fastnn_threads_for(double work)
{
    const double min_work_per_thread = 2e5;
    int wanted = fastnn_get_num_threads();
    int useful = (int)(work / min_work_per_thread);
    if (useful < 1)
        useful = 1;
    return useful < wanted ? useful : wanted;
}

/* ---- SIMD dispatch ------------------------------------------------------- */

static int cpu_has_avx2(void)
{
#if FASTNN_HAVE_AVX2_VARIANT
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int simd_chosen = -1; /* -1: detect on first use */

fastnn_simd fastnn_get_simd(void)
{
    if (simd_chosen < 0) {
        const char *forced = getenv("FASTNN_SIMD");
        int best = cpu_has_avx2() ? FASTNN_SIMD_AVX2 : FASTNN_SIMD_GENERIC;
        if (forced && strcmp(forced, "generic") == 0)
            best = FASTNN_SIMD_GENERIC;
        simd_chosen = best;
    }
    return (fastnn_simd)simd_chosen;
}

int fastnn_set_simd(fastnn_simd path)
{
    if (path == FASTNN_SIMD_AVX2 && !cpu_has_avx2())
        return -1;
    if (path != FASTNN_SIMD_AVX2 && path != FASTNN_SIMD_GENERIC)
        return -1;
    simd_chosen = (int)path;
    return 0;
}

const char *fastnn_simd_name(fastnn_simd path)
{
    return path == FASTNN_SIMD_AVX2 ? "avx2" : "generic";
}

/* ---- scratch memory ------------------------------------------------------ */

float *fastnn_alloc_floats(int64_t count)
{
    size_t bytes = (size_t)(count > 0 ? count : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63; /* aligned_alloc wants a multiple */
    return (float *)aligned_alloc(64, bytes);
}

void fastnn_free_floats(float *p) { free(p); }

float *fastnn_alloc_partials(int threads, int64_t size)
{
    float *partial = fastnn_alloc_floats((int64_t)threads * size);
    if (partial)
        memset(partial, 0, (size_t)((int64_t)threads * size) * sizeof(float));
    return partial;
}

void fastnn_sum_partials(const float *partial, int parts, int64_t size,
                         float *out)
{
    for (int64_t j = 0; j < size; j++) {
        float total = 0.0f;
        for (int t = 0; t < parts; t++)
            total += partial[t * size + j];
        out[j] = total;
    }
}
