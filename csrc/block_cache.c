/*
 * block_cache.c -- a caching allocator for big buffers (NumPy arrays and C
 * scratch), so a training step stops faulting its memory back in.
 *
 * Why: a training step allocates the same big arrays every batch (a vgg_bn
 * activation at batch 64 is 8 MiB) and frees them again.  glibc hands freed
 * big blocks back to the operating system (blocks from mmap go at once, the
 * top of the heap when it passes the trim threshold), so the next step
 * touches fresh pages and takes a page fault per 4 KiB -- about 1,250 minor
 * faults a step on vgg_bn, and faults are expensive on the virtual machine
 * fastnn is measured on (the whole step: 74-80 ms, 64-66 ms with glibc told
 * never to give memory back).  PyTorch's CPU and CUDA caching allocators
 * exist for the same reason.
 *
 * What: a block of at least FASTNN_BLOCK_CACHE_MIN_BYTES that is freed goes
 * into a free list keyed by its exact size (a training step asks for the
 * same sizes every batch, so exact sizes hit and nothing is split or
 * merged), and the next request of that size takes it back: no system call,
 * no fault.  Smaller blocks go straight to the C library, whose own free
 * lists already keep them.  The cached bytes are bounded
 * (fastnn_block_cache_set_limit; the oldest cached block is dropped first
 * when a new one would pass the bound), and fastnn_block_cache_release
 * gives all of them back.
 *
 * Every block, small or big, starts with a 64-byte header holding its size
 * (realloc and free are not told the old size) and, while the block waits in
 * the cache, its links; the caller's pointer follows the header, so it is
 * 64-byte aligned (a cache line, an AVX-512 register).
 *
 * Cached blocks hang in two doubly linked lists at once: the list of their
 * hash bucket (by size: 256 buckets; a request walks its bucket for the
 * first block of its exact size, newest first, whose pages are most likely
 * still in the CPU caches) and the list of all cached blocks in the order
 * they were freed (eviction takes its oldest end).  Both unlink in O(1).
 *
 * Threads: one mutex around the lists and counters.  Any Python thread may
 * train or predict while another does, and kernels allocate scratch from
 * inside OpenMP regions.  Fork: a handler (pthread_atfork) takes the lock
 * before fork, so the child's lists are never caught half-linked, and the
 * child initialises a fresh, unlocked mutex (the parent just unlocks); the
 * cached blocks stay valid memory in the child.
 */
#define _DEFAULT_SOURCE /* madvise, malloc_trim */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "internal.h"

#define HEADER_BYTES 64
#define BUCKETS 256

typedef struct block block;
struct block {           /* the header in front of every block's memory */
    size_t bytes;        /* usable bytes after the header, a multiple of 64 */
    block *older, *newer;     /* all cached blocks, in the order they were freed */
    block *prev, *next;       /* the cached blocks of one bucket, newest first */
};
_Static_assert(sizeof(block) <= HEADER_BYTES, "the header must fit in front of a block");

static struct {
    pthread_mutex_t lock;
    block *bucket[BUCKETS];
    block *oldest, *newest;
    size_t cached_bytes, limit;
    int64_t cached_blocks, hits, misses;
    int limit_chosen;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static block *header_of(void *p) { return (block *)((char *)p - HEADER_BYTES); }
static void *memory_of(block *b) { return (char *)b + HEADER_BYTES; }

/* Fibonacci hashing of the size in cache lines: the top 8 bits of the product. */
static size_t bucket_of(size_t bytes)
{
    return (size_t)(((uint64_t)bytes / 64 * UINT64_C(0x9E3779B97F4A7C15)) >> 56);
}

/* The bound on cached bytes until fastnn_block_cache_set_limit changes it:
 * an eighth of the physical memory, at most 1 GiB.  A training step reuses
 * at most its own working set (vgg_bn at batch 64: 33 MiB cached), so
 * 1 GiB leaves room for bigger nets, and an eighth keeps a small machine's
 * memory for the program itself.  Nothing under AddressSanitizer. */
static size_t default_limit(void)
{
#ifdef __SANITIZE_ADDRESS__
    return 0;  /* AddressSanitizer must see every free: a cached block would
                * hide a use after free (make sanitize) */
#else
    size_t limit = (size_t)1 << 30;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && (size_t)pages / 8 * (size_t)page < limit)
        limit = (size_t)pages / 8 * (size_t)page;
    return limit;
#endif
}

static void ensure_limit(void)  /* under the lock */
{
    if (!cache.limit_chosen) {
        cache.limit = default_limit();
        cache.limit_chosen = 1;
    }
}

static void unlink_cached(block *b)  /* under the lock */
{
    if (b->prev)
        b->prev->next = b->next;
    else
        cache.bucket[bucket_of(b->bytes)] = b->next;
    if (b->next)
        b->next->prev = b->prev;
    if (b->older)
        b->older->newer = b->newer;
    else
        cache.oldest = b->newer;
    if (b->newer)
        b->newer->older = b->older;
    else
        cache.newest = b->older;
    cache.cached_bytes -= b->bytes;
    cache.cached_blocks--;
}

/* Unlinks the cached blocks to drop until `room` more bytes fit under the
 * limit and returns them as a list (through ->next), to be freed after the
 * lock is let go. */
static block *evict_for(size_t room)  /* under the lock */
{
    block *dropped = NULL;
    while (cache.oldest && cache.cached_bytes + room > cache.limit) {
        block *b = cache.oldest;
        unlink_cached(b);
        b->next = dropped;
        dropped = b;
    }
    return dropped;
}

static void free_list(block *b)
{
    while (b) {
        block *next = b->next;
        free(b);
        b = next;
    }
}

static size_t rounded(size_t bytes)  /* a multiple of 64, at least 64 */
{
    return bytes ? (bytes + 63) & ~(size_t)63 : 64;
}

/* Blocks of 4 MiB and more ask Linux for transparent huge pages, as NumPy's
 * own allocator does for its arrays (with THP in "madvise" mode only such
 * blocks get them): one fault and one TLB entry per 2 MiB instead of per
 * 4 KiB. */
static void advise_huge_pages(void *start, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t page = 4096;
    if (bytes >= ((size_t)4 << 20)) {
        uintptr_t first = ((uintptr_t)start + page - 1) & ~(page - 1);
        madvise((void *)first, bytes - (first - (uintptr_t)start), MADV_HUGEPAGE);
    }
#else
    (void)start;
    (void)bytes;
#endif
}

void *fastnn_block_alloc(size_t bytes)
{
    if (bytes > SIZE_MAX - 2 * HEADER_BYTES)
        return NULL;
    size_t size = rounded(bytes);
    if (size >= FASTNN_BLOCK_CACHE_MIN_BYTES) {
        pthread_mutex_lock(&cache.lock);
        block *b = cache.bucket[bucket_of(size)];
        while (b && b->bytes != size)
            b = b->next;
        if (b) {
            unlink_cached(b);
            cache.hits++;
        } else {
            cache.misses++;
        }
        pthread_mutex_unlock(&cache.lock);
        if (b)
            return memory_of(b);
    }
    block *b = aligned_alloc(64, HEADER_BYTES + size);
    if (!b)
        return NULL;
    b->bytes = size;
    advise_huge_pages(b, HEADER_BYTES + size);
    return memory_of(b);
}

void *fastnn_block_calloc(size_t bytes)
{
    void *p = fastnn_block_alloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void fastnn_block_free(void *p)
{
    if (!p)
        return;
    block *b = header_of(p);
    if (b->bytes < FASTNN_BLOCK_CACHE_MIN_BYTES) {
        free(b);
        return;
    }
    pthread_mutex_lock(&cache.lock);
    ensure_limit();
    block *dropped = NULL;
    if (b->bytes > cache.limit) {
        dropped = b;  /* too big to keep: straight back */
        b->next = NULL;
    } else {
        dropped = evict_for(b->bytes);
        b->prev = NULL;
        b->next = cache.bucket[bucket_of(b->bytes)];
        if (b->next)
            b->next->prev = b;
        cache.bucket[bucket_of(b->bytes)] = b;
        b->newer = NULL;
        b->older = cache.newest;
        if (cache.newest)
            cache.newest->newer = b;
        else
            cache.oldest = b;
        cache.newest = b;
        cache.cached_bytes += b->bytes;
        cache.cached_blocks++;
    }
    pthread_mutex_unlock(&cache.lock);
    free_list(dropped);
}

void *fastnn_block_realloc(void *p, size_t bytes)
{
    if (!p)
        return fastnn_block_alloc(bytes);
    size_t old = header_of(p)->bytes;
    if (rounded(bytes) == old)
        return p;
    void *q = fastnn_block_alloc(bytes);
    if (!q)
        return NULL;  /* p stays valid, as with realloc */
    memcpy(q, p, old < bytes ? old : bytes);
    fastnn_block_free(p);
    return q;
}

void fastnn_block_cache_release(void)
{
    pthread_mutex_lock(&cache.lock);
    ensure_limit();
    size_t limit = cache.limit;
    cache.limit = 0;
    block *dropped = evict_for(0);
    cache.limit = limit;
    pthread_mutex_unlock(&cache.lock);
    free_list(dropped);
#ifdef __GLIBC__
    malloc_trim(0);  /* blocks below the mmap threshold sit in the heap */
#endif
}

void fastnn_block_cache_set_limit(size_t bytes)
{
    pthread_mutex_lock(&cache.lock);
    cache.limit = bytes;
    cache.limit_chosen = 1;
    block *dropped = evict_for(0);
    pthread_mutex_unlock(&cache.lock);
    free_list(dropped);
}

void fastnn_block_cache_get_stats(fastnn_block_cache_stats *out)
{
    pthread_mutex_lock(&cache.lock);
    ensure_limit();
    out->hits = cache.hits;
    out->misses = cache.misses;
    out->cached_bytes = (int64_t)cache.cached_bytes;
    out->cached_blocks = cache.cached_blocks;
    out->limit_bytes = (int64_t)cache.limit;
    pthread_mutex_unlock(&cache.lock);
}

/* ---- the kernels' scratch (internal.h) ------------------------------------ */

/* A kernel's big scratch (GEMM packing buffers, partial sums, packed
 * weights) has the same size every batch, so it comes back from the cache
 * instead of as fresh pages. */
float *fastnn_alloc_floats(int64_t count)
{
    return (float *)fastnn_block_alloc((size_t)(count > 0 ? count : 1) * sizeof(float));
}

void fastnn_free_floats(float *p) { fastnn_block_free(p); }

float *fastnn_alloc_partials(int parts, int64_t size)
{
    return (float *)fastnn_block_calloc((size_t)((int64_t)parts * size) * sizeof(float));
}

/* ---- fork ----------------------------------------------------------------- */

static void before_fork(void) { pthread_mutex_lock(&cache.lock); }
static void in_parent(void) { pthread_mutex_unlock(&cache.lock); }
static void in_child(void) { pthread_mutex_init(&cache.lock, NULL); }

__attribute__((constructor)) static void register_block_cache_fork_handler(void)
{
    pthread_atfork(before_fork, in_parent, in_child);
}
