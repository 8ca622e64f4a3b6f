/*
 * dropout_mask.h -- dropout's mask as a function of (seed, index), shared by
 * the dropout kernel (dropout.c) and the kernels that fold a dropout into
 * their output or their input gradient (pool2d.c).
 *
 *   keep(seed, i) = hash(seed, i) < threshold            threshold = keep_prob * 2^32
 *   dropout(v, i) = v * scale if keep(seed, i), else 0   scale = 1 / keep_prob
 *
 * The hash is a counter-based random number: two rounds of MurmurHash3's
 * 32-bit finaliser over the element's index mixed with the seed.  Its low
 * statistical demands (one coin per element, no visible pattern) are met,
 * and it costs a dozen integer operations that vectorise.  Every kernel
 * computes the kept value the same way -- v * scale, then an AND with an
 * all-ones or all-zeros mask on the float's bits -- so a dropout folded into
 * another kernel gives the bits of the dropout kernel run on its own.
 */
#ifndef FASTNN_DROPOUT_MASK_H
#define FASTNN_DROPOUT_MASK_H

#include <stdint.h>
#include <string.h>

#include "internal.h"

FASTNN_INLINE uint32_t fastnn_fmix32(uint32_t h)
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
FASTNN_INLINE uint32_t fastnn_dropout_key(uint64_t seed, uint64_t hi)
{
    return (uint32_t)seed ^ fastnn_fmix32((uint32_t)(seed >> 32) + (uint32_t)hi);
}

/* What the loops need of a fastnn_dropout_mask (fastnn.h), computed once:
 * `key0` is the key of the first 2^32 elements (every array but huge ones),
 * so a vector of them needs no scalar hash for its key. */
typedef struct {
    uint32_t threshold;
    float scale;
    uint64_t seed;
    uint32_t key0;
} fastnn_dropout_coin;

static inline fastnn_dropout_coin fastnn_dropout_coin_of(float keep_prob, uint64_t seed)
{
    double t = (double)keep_prob * 4294967296.0;
    fastnn_dropout_coin coin = {t >= 4294967295.0 ? 0xffffffffu : (uint32_t)t,
                                1.0f / keep_prob, seed, fastnn_dropout_key(seed, 0)};
    return coin;
}

/* The 32 random bits of the element with low index half `lo` under `key`. */
FASTNN_INLINE uint32_t fastnn_dropout_bits(uint32_t key, uint32_t lo)
{
    return fastnn_fmix32(fastnn_fmix32(lo * 0x9e3779b9u ^ key) + key);
}

/* dropout(v, i) for one element. */
FASTNN_INLINE float fastnn_dropout_one(const fastnn_dropout_coin *coin, float v, int64_t i)
{
    uint64_t hi = (uint64_t)i >> 32;
    uint32_t key = hi ? fastnn_dropout_key(coin->seed, hi) : coin->key0;
    uint32_t keep = 0u - (uint32_t)(fastnn_dropout_bits(key, (uint32_t)i) < coin->threshold);
    float kept = v * coin->scale;
    uint32_t bits;
    memcpy(&bits, &kept, sizeof bits);
    bits &= keep;
    memcpy(&kept, &bits, sizeof kept);
    return kept;
}

/* dropout(v, i .. i + 7) for the 8 elements from index i, in place. */
FASTNN_INLINE void fastnn_dropout_v8(const fastnn_dropout_coin *coin, fastnn_v8 *v, int64_t i)
{
    if ((uint64_t)i >> 32 != (uint64_t)(i + 7) >> 32) { /* a key change inside: rare */
        for (int l = 0; l < 8; l++)
            (*v)[l] = fastnn_dropout_one(coin, (*v)[l], i + l);
        return;
    }
    const fastnn_v8u lane = {0, 1, 2, 3, 4, 5, 6, 7};
    uint64_t hi = (uint64_t)i >> 32;
    uint32_t key = hi ? fastnn_dropout_key(coin->seed, hi) : coin->key0;
    fastnn_v8u h = ((uint32_t)i + lane) * 0x9e3779b9u ^ key;
    for (int round = 0; round < 2; round++) {
        h = round ? h + key : h;
        h ^= h >> 16;
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        h *= 0xc2b2ae35u;
        h ^= h >> 16;
    }
    fastnn_v8u keep = (fastnn_v8u)(h < coin->threshold);
    *v = (fastnn_v8)((fastnn_v8u)(*v * coin->scale) & keep);
}

#endif
