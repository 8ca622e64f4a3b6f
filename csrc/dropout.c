/*
 * dropout.c -- inverted dropout whose mask is a function of (seed, index).
 *
 *   y[i] = x[i] * scale   if keep(seed, i),   else 0      scale = 1 / keep_prob
 *   keep(seed, i) = hash(seed, i) < threshold              threshold = keep_prob * 2^32
 *
 * The hash is a counter-based random number: two rounds of MurmurHash3's
 * 32-bit finaliser over the element's index mixed with the seed.  Its low
 * statistical demands (one coin per element, no visible pattern) are met,
 * and it costs a dozen integer operations that the compiler vectorises, 8
 * elements per AVX2 instruction.  A NumPy mask needs a float per element
 * drawn from a sequential generator, a comparison and a multiply, each a
 * pass over memory.
 *
 * Because keep(seed, i) depends on nothing else, the backward pass calls the
 * same kernel on dy with the same seed (dx = dy * mask * scale): no mask is
 * stored, and any split of the array across threads gives the same result.
 * The fast version cuts the array into one contiguous range per thread.
 */
#include <string.h>

#include "internal.h"

FASTNN_INLINE uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* The key of the 2^32 elements whose index has high half `hi`: arrays
 * beyond 2^32 elements do not repeat their mask. */
FASTNN_INLINE uint32_t block_key(uint64_t seed, uint64_t hi)
{
    return (uint32_t)seed ^ fmix32((uint32_t)(seed >> 32) + (uint32_t)hi);
}

/* The 32 random bits of the element with low index half `lo` under `key`. */
FASTNN_INLINE uint32_t dropout_bits(uint32_t key, uint32_t lo)
{
    return fmix32(fmix32(lo * 0x9e3779b9u ^ key) + key);
}

static uint32_t keep_threshold(float keep_prob)
{
    double t = (double)keep_prob * 4294967296.0;
    return t >= 4294967295.0 ? 0xffffffffu : (uint32_t)t;
}

void fastnn_dropout_naive(const float *x, float *y, int64_t n, float keep_prob,
                          uint64_t seed)
{
    uint32_t threshold = keep_threshold(keep_prob);
    float scale = 1.0f / keep_prob;
    for (int64_t i = 0; i < n; i++) {
        uint32_t key = block_key(seed, (uint64_t)i >> 32);
        if (dropout_bits(key, (uint32_t)i) < threshold)
            y[i] = x[i] * scale;
        else
            y[i] = 0.0f;
    }
}

/* [i0, i1) of the fast version: the key is set once per 2^32 elements and
 * the mask applied as a bitwise AND on the float's bits (all ones or all
 * zeros), so the inner loop has no branch and vectorises: with AVX2, 8
 * hashes per instruction (GCC 12 does not if-convert the equivalent float
 * select; baseline SSE2 has no 32-bit vector multiply, so there it stays
 * scalar). */
FASTNN_INLINE void dropout_range(const float *x, float *y, int64_t i0,
                                 int64_t i1, uint32_t threshold, float scale,
                                 uint64_t seed)
{
    while (i0 < i1) {
        uint64_t hi = (uint64_t)i0 >> 32;
        int64_t end = fastnn_min(i1, (int64_t)((hi + 1) << 32));
        uint32_t key = block_key(seed, hi), lo = (uint32_t)i0;
        for (int64_t j = 0; j < end - i0; j++) {
            float kept = x[i0 + j] * scale;
            uint32_t bits = dropout_bits(key, lo + (uint32_t)j), v;
            uint32_t mask = 0u - (uint32_t)(bits < threshold);
            memcpy(&v, &kept, sizeof v);
            v &= mask;
            memcpy(&y[i0 + j], &v, sizeof v);
        }
        i0 = end;
    }
}

typedef void (*range_fn)(const float *, float *, int64_t, int64_t, uint32_t,
                         float, uint64_t);

static void dropout_range_generic(const float *x, float *y, int64_t i0,
                                  int64_t i1, uint32_t threshold, float scale,
                                  uint64_t seed)
{
    dropout_range(x, y, i0, i1, threshold, scale, seed);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void dropout_range_avx2(const float *x, float *y, int64_t i0,
                               int64_t i1, uint32_t threshold, float scale,
                               uint64_t seed)
{
    dropout_range(x, y, i0, i1, threshold, scale, seed);
}
#endif

void fastnn_dropout(const float *x, float *y, int64_t n, float keep_prob,
                    uint64_t seed)
{
    range_fn range = dropout_range_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        range = dropout_range_avx2;
#endif
    uint32_t threshold = keep_threshold(keep_prob);
    float scale = 1.0f / keep_prob;
    int threads = fastnn_threads_for(16.0 * (double)n);
    if (threads == 1) {
        range(x, y, 0, n, threshold, scale, seed);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        range(x, y, n * t / team, n * (t + 1) / team, threshold, scale, seed);
    }
}
