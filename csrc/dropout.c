/*
 * dropout.c -- inverted dropout whose mask is a function of (seed, index).
 *
 *   y[i] = dropout(x[i], i): x[i] / keep_prob where hash(seed, i) < keep_prob * 2^32, else 0
 *
 * (the mask and why it is a hash: dropout_mask.h).  A NumPy mask needs a
 * float per element drawn from a sequential generator, a comparison and a
 * multiply, each a pass over memory; here the hash costs a dozen integer
 * operations that the compiler vectorises, 8 elements per AVX2 instruction
 * and 16 per AVX-512 one.
 *
 * Because keep(seed, i) depends on nothing else, the backward pass calls the
 * same kernel on dy with the same seed (dx = dy * mask * scale): no mask is
 * stored, and any split of the array across threads gives the same result.
 * The fast version cuts the array into one contiguous range per thread.
 */
#include <string.h>

#include "dropout_mask.h"

void fastnn_dropout_naive(const float *x, float *y, int64_t n, float keep_prob,
                          uint64_t seed)
{
    fastnn_dropout_coin coin = fastnn_dropout_coin_of(keep_prob, seed);
    for (int64_t i = 0; i < n; i++) {
        uint32_t key = fastnn_dropout_key(seed, (uint64_t)i >> 32);
        if (fastnn_dropout_bits(key, (uint32_t)i) < coin.threshold)
            y[i] = x[i] * coin.scale;
        else
            y[i] = 0.0f;
    }
}

/* [i0, i1) of the fast version: the key is set once per 2^32 elements and
 * the mask applied as a bitwise AND on the float's bits (all ones or all
 * zeros), so the inner loop has no branch and vectorises: with AVX2, 8
 * hashes per instruction, with AVX-512 16 (GCC 12 does not if-convert the
 * equivalent float select; baseline SSE2 has no 32-bit vector multiply, so
 * there it stays scalar). */
FASTNN_INLINE void dropout_range(const float *x, float *y, int64_t i0,
                                 int64_t i1, uint32_t threshold, float scale,
                                 uint64_t seed)
{
    while (i0 < i1) {
        uint64_t hi = (uint64_t)i0 >> 32;
        int64_t end = fastnn_min(i1, (int64_t)((hi + 1) << 32));
        uint32_t key = fastnn_dropout_key(seed, hi), lo = (uint32_t)i0;
        for (int64_t j = 0; j < end - i0; j++) {
            float kept = x[i0 + j] * scale;
            uint32_t bits = fastnn_dropout_bits(key, lo + (uint32_t)j), v;
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

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void dropout_range_avx512(const float *x, float *y, int64_t i0,
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
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        range = dropout_range_avx512;
#endif
    fastnn_dropout_coin coin = fastnn_dropout_coin_of(keep_prob, seed);
    int threads = fastnn_threads_for(16.0 * (double)n);
    if (threads == 1) {
        range(x, y, 0, n, coin.threshold, coin.scale, seed);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t t = fastnn_thread_id(), team = fastnn_team_size();
        range(x, y, n * t / team, n * (t + 1) / team, coin.threshold, coin.scale, seed);
    }
}
