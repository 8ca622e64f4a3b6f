/*
 * recurrent.c -- the time loop of SimpleRNN, LSTM and GRU (Keras's
 * formulas and weight layouts), forward and backward through time.
 *
 * The caller (fastnn/kernels/recurrent.py) has already computed the input
 * projections of every time step with one GEMM, z = x . W + b, shape
 * (batch, steps, G*units) with G = 1 (SimpleRNN), 4 (LSTM: gates i, f, c,
 * o) or 3 (GRU: gates z, r, h).  What is left is sequential in time: per
 * step one product of the previous output with the recurrent kernel U
 * (units x G*units), then the gate nonlinearities, row by row:
 *
 *   SimpleRNN  h = act(z + h_prev.U)
 *   LSTM       i, f, o = ract(z_i,f,o + h_prev.U_i,f,o), g = act(z_c + h_prev.U_c)
 *              c = f*c_prev + i*g,  h = o*act(c)
 *   GRU        (reset_after=True: R = h_prev.U + rbias, Keras's default)
 *              zg = ract(z_z + R_z), r = ract(z_r + R_r),
 *              hh = act(z_h + r*R_h),  h = zg*h_prev + (1 - zg)*hh
 *   GRU        (reset_after=False, tf.keras 1's default: no recurrent bias)
 *              zg, r as above with R = h_prev.U,
 *              hh = act(z_h + (r*h_prev).U_h),  h as above
 *
 * The reset-before GRU needs r before its candidate's product, so each of
 * its steps is two products and two passes over the rows: gates (z_z,r +=
 * h_prev.U_z,r, then zg, r and rh = r*h_prev), candidate (z_h += rh.U_h,
 * then hh and h).  Backward likewise: dz_z, dz_h first, then drh =
 * dz_h.U_h^T gives dz_r = drh*h_prev*ract'(r) and the part drh*r of
 * dh_prev; dU_h sums rh^T.dz_h.
 *
 * with h_prev = 0 (and c_prev = 0) at the first step.  With recurrent
 * dropout, h_prev is multiplied by a mask fixed for the whole sequence
 * before the product only (Keras: the interpolation and c use it unmasked).
 * The forward pass overwrites z with the gate activations (what backward
 * needs) and writes every step's h (and the LSTM's c, the GRU's R_h).
 *
 * The backward pass walks the steps in reverse: from dh = dy_t + the
 * gradient arriving from step t+1, it computes the pre-activation
 * gradients dz (for the input projection: the caller turns them into dW,
 * db and dx with one GEMM each, over all steps at once) and dr (for the
 * recurrent product; the same as dz except for the GRU's h gate, which is
 * dz_h * r), and passes dh_prev = (dr . U^T) * mask (+ dh*zg for the GRU)
 * and dc_prev = dc*f back one step.  It also sums the recurrent kernel's
 * gradient dU = sum_t (h_prev*mask)^T . dr_t (and the GRU's recurrent
 * bias gradient, the column sums of dr) while each step's h_prev and dr
 * are in cache: the GRU's dr never leaves its step's buffer.
 *
 * Fast version: one team of threads for the whole time loop (one parallel
 * region forward, one backward), the units split between them: thread k
 * owns units [j0, j1) -- whole slices of NR = 16 units -- and so the gate
 * columns g*u + j of all G gates for those units.  Before the first step
 * each thread packs its slice of U once, in the micro-kernel's B-panel
 * layout (forward: U's own gate columns; backward: U's own rows, the B of
 * dh_prev[:, own] = dr . U^T[:, own]); 128 KiB per thread for LSTM(128) on
 * two threads, which stays in that core's L2 for all the steps.  A step
 * forward: the thread's columns of h_prev.U with gemm.c's micro-kernels
 * (fastnn_gemm_packed: loops 2 and 1 of the engine on panels packed here),
 * added into its columns of z; its units' gates right away (the LSTM's i,
 * f, c, o of a unit are all its own columns, c never leaves the thread);
 * h_t[:, own] written, and also straight into the packed A panels of the
 * next step's product (times the dropout mask), which every thread reads:
 * one barrier per step, and two A buffers used in turn so that a thread
 * already writing step t+1's never overwrites what a slower one still
 * reads.  Backward likewise: the thread's units' gradients (dz, dr into the
 * packed A of dr . U^T), a barrier (dr complete), its units' columns of
 * dr . U^T into the carry -- which the next step reads for its own units
 * only, so again one barrier per step.  Then its own gate columns of dU +=
 * h_prev^T . dr_t (u x n over the batch, K = batch): h_prev^T packed by
 * every thread for itself (all u rows; times the mask packed once), dr_t's
 * own columns -- just computed by this thread -- as the B panels, dU's
 * columns staying in the thread's L2 for the whole loop.  The reset-before
 * GRU needs two barriers per step (rh complete before rh.U_h; forward and
 * backward).  Rows of z, h, c, dy that the next step reads are prefetched
 * while this one finishes.  The threads meet at a step barrier of their
 * own (below): a spin of 20 us, then a futex, instead of OpenMP's barrier,
 * which under fastnn's OMP_WAIT_POLICY=PASSIVE always sleeps.
 *
 * Every output element is computed by one thread in a fixed order (the
 * reduction in KC blocks of 256 in order, each summed over p in order; dU
 * step after step from the last, each step's product added to it), so
 * results are bit-identical on any number of threads.  Gate math:
 * activation_math.h's branch-free tanh and sigmoid (the activation
 * kernels' own) in omp simd loops, vectorised in each of the three SIMD
 * variants of the loops.  Naive version: the same steps as textbook loops
 * with libm's expf and tanhf.
 */
#define _DEFAULT_SOURCE /* syscall() and clock_gettime() under -std=c11 */
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__unix__) || defined(__APPLE__)
#include <sched.h>
#endif

#include "activation_math.h"
#include "gemm.h"

static int64_t gates_of(int cell)
{
    return cell == FASTNN_RNN_LSTM ? 4 : cell == FASTNN_RNN_SIMPLE ? 1 : 3;
}

/* ---- activations, as functions of x and (derivative) of their output y ---- */

/* act(x): fast, tanh and sigmoid by activation_math.h's branch-free
 * functions (vectorised in the loops below on every SIMD path); naive, by
 * libm's. */
FASTNN_INLINE float activate(int kind, float x, int fast)
{
    switch (kind) {
    case FASTNN_RNN_TANH:
        return fast ? fastnn_tanh(x) : tanhf(x);
    case FASTNN_RNN_SIGMOID:
        return fast ? fastnn_sigmoid(x) : 1.0f / (1.0f + expf(-x));
    case FASTNN_RNN_RELU:
        return x < 0.0f ? 0.0f : x;
    case FASTNN_RNN_HARD_SIGMOID: {
        float y = 0.2f * x + 0.5f;
        return y < 0.0f ? 0.0f : y > 1.0f ? 1.0f : y;
    }
    default: /* FASTNN_RNN_LINEAR */
        return x;
    }
}

/* act'(x) from y = act(x); at a kink (relu at 0, hard_sigmoid at its ends)
 * 0, as the derivative TensorFlow and JAX take. */
FASTNN_INLINE float derivative(int kind, float y)
{
    switch (kind) {
    case FASTNN_RNN_TANH:
        return 1.0f - y * y;
    case FASTNN_RNN_SIGMOID:
        return y * (1.0f - y);
    case FASTNN_RNN_RELU:
        return y > 0.0f ? 1.0f : 0.0f;
    case FASTNN_RNN_HARD_SIGMOID:
        return y > 0.0f && y < 1.0f ? 0.2f : 0.0f;
    default:
        return 1.0f;
    }
}

/* v[j] = act(v[j]) for j < n: one activation per loop, so it vectorises
 * (`omp simd`, as activation.c's loops). */
FASTNN_INLINE void activate_all(int kind, float *v, int64_t n, int fast)
{
    _Pragma("omp simd")
    for (int64_t j = 0; j < n; j++)
        v[j] = activate(kind, v[j], fast);
}

/* The row loops below test per element whether an optional row (h_prev,
 * c_prev at the first step, the dropout mask) is there: a test that keeps a
 * loop from vectorising (the load it guards might fault).  WITH_OPTIONAL(p,
 * code) compiles the code twice, under if (p) and for p == NULL, where the
 * compiler folds every such test. */
#define WITH_OPTIONAL(p, ...) \
    do {                      \
        if (p) {              \
            __VA_ARGS__       \
        } else {              \
            __VA_ARGS__       \
        }                     \
    } while (0)

/* ---- one step of one batch row, for a range of units ----------------------
 * Every pointer is at the first unit j0 of the range: n units are computed,
 * and gate k of unit j0 + j sits at [k*u + j] (u: the layer's units).  z:
 * the row's pre-activations (z + h_prev.U already summed, except for the
 * GRU, whose recurrent part R arrives separately in r_row); h, c, rh: the
 * row's outputs at this step; h_prev, c_prev: at the step before (NULL at
 * the first step).  Each unit reads and writes its own values only, so any
 * split into ranges computes the same numbers. */
FASTNN_INLINE void forward_row(int cell, int act, int ract, int64_t u, int64_t n,
                               float *restrict z, const float *restrict r_row,
                               const float *restrict h_prev, const float *restrict c_prev,
                               float *restrict h, float *restrict c, float *restrict rh,
                               int fast)
{
    if (cell == FASTNN_RNN_SIMPLE) {
        activate_all(act, z, n, fast);
        memcpy(h, z, (size_t)n * sizeof *h);
    } else if (cell == FASTNN_RNN_LSTM) {
        activate_all(ract, z, n, fast);
        activate_all(ract, z + u, n, fast);
        activate_all(act, z + 2 * u, n, fast);
        activate_all(ract, z + 3 * u, n, fast);
        WITH_OPTIONAL(c_prev,
            for (int64_t j = 0; j < n; j++) {
                float keep = c_prev ? z[u + j] * c_prev[j] : 0.0f;
                c[j] = keep + z[j] * z[2 * u + j];
                h[j] = c[j];
            }
        );
        activate_all(act, h, n, fast);
        for (int64_t j = 0; j < n; j++)
            h[j] *= z[3 * u + j];
    } else { /* GRU, reset_after */
        for (int64_t j = 0; j < n; j++) {
            z[j] += r_row[j];
            z[u + j] += r_row[u + j];
        }
        activate_all(ract, z, n, fast);
        activate_all(ract, z + u, n, fast);
        for (int64_t j = 0; j < n; j++) {
            rh[j] = r_row[2 * u + j];
            z[2 * u + j] += z[u + j] * rh[j];
        }
        activate_all(act, z + 2 * u, n, fast);
        WITH_OPTIONAL(h_prev,
            for (int64_t j = 0; j < n; j++) {
                float old = h_prev ? h_prev[j] : 0.0f;
                h[j] = z[j] * old + (1.0f - z[j]) * z[2 * u + j];
            }
        );
    }
}

/* Backward through one step of one row's n units.  dy: dLoss/dh from
 * outside (this step's output); carry: in, dLoss/dh from the step after;
 * out, the GRU's direct part dh*zg (else untouched); dc: in/out, the LSTM's
 * cell gradient (in: from the step after; out: for the step before).  dz,
 * dr: out, the pre-activation gradients (dr only for the GRU). */
FASTNN_INLINE void backward_row(int cell, int act, int ract, int64_t u, int64_t n,
                                const float *restrict z, const float *restrict h,
                                const float *restrict h_prev, const float *restrict c,
                                const float *restrict c_prev, const float *restrict rh,
                                const float *restrict dy, float *restrict carry,
                                float *restrict dc, float *restrict dz, float *restrict dr,
                                int fast)
{
    if (cell == FASTNN_RNN_SIMPLE) {
        for (int64_t j = 0; j < n; j++)
            dz[j] = (dy[j] + carry[j]) * derivative(act, h[j]);
    } else if (cell == FASTNN_RNN_LSTM) {
        float *tc = dz + 3 * u; /* act(c), kept in dz_o's place until used */
        memcpy(tc, c, (size_t)n * sizeof *tc);
        activate_all(act, tc, n, fast);
        WITH_OPTIONAL(c_prev,
            for (int64_t j = 0; j < n; j++) {
                float i = z[j], f = z[u + j], g = z[2 * u + j], o = z[3 * u + j];
                float dh = dy[j] + carry[j], t = tc[j];
                float dcj = dc[j] + dh * o * derivative(act, t);
                dz[j] = dcj * g * derivative(ract, i);
                dz[u + j] = c_prev ? dcj * c_prev[j] * derivative(ract, f) : 0.0f;
                dz[2 * u + j] = dcj * i * derivative(act, g);
                dz[3 * u + j] = dh * t * derivative(ract, o);
                dc[j] = dcj * f;
            }
        );
    } else { /* GRU, reset_after */
        WITH_OPTIONAL(h_prev,
            for (int64_t j = 0; j < n; j++) {
                float zg = z[j], r = z[u + j], hh = z[2 * u + j];
                float dh = dy[j] + carry[j], old = h_prev ? h_prev[j] : 0.0f;
                float dah = dh * (1.0f - zg) * derivative(act, hh);
                dz[j] = dh * (old - hh) * derivative(ract, zg);
                dz[u + j] = dah * rh[j] * derivative(ract, r);
                dz[2 * u + j] = dah;
                dr[j] = dz[j];
                dr[u + j] = dz[u + j];
                dr[2 * u + j] = dah * r;
                carry[j] = dh * zg;
            }
        );
    }
}

/* The reset-before GRU's step of one row in its two halves (see the top).
 * Gates: z holds z_z,r + h_prev.U_z,r; h_prev is NULL at the first step,
 * mask the row's recurrent dropout mask or NULL. */
FASTNN_INLINE void gru_before_gates_row(int ract, int64_t u, int64_t n, float *restrict z,
                                        const float *restrict h_prev,
                                        const float *restrict mask, float *restrict rh,
                                        int fast)
{
    activate_all(ract, z, n, fast);
    activate_all(ract, z + u, n, fast);
    WITH_OPTIONAL(h_prev, WITH_OPTIONAL(mask,
        for (int64_t j = 0; j < n; j++)
            rh[j] = h_prev ? z[u + j] * h_prev[j] * (mask ? mask[j] : 1.0f) : 0.0f;
    ););
}

/* Candidate: z_h holds z_h + rh.U_h. */
FASTNN_INLINE void gru_before_candidate_row(int act, int64_t u, int64_t n,
                                            float *restrict z,
                                            const float *restrict h_prev,
                                            float *restrict h, int fast)
{
    activate_all(act, z + 2 * u, n, fast);
    WITH_OPTIONAL(h_prev,
        for (int64_t j = 0; j < n; j++) {
            float old = h_prev ? h_prev[j] : 0.0f;
            h[j] = z[j] * old + (1.0f - z[j]) * z[2 * u + j];
        }
    );
}

/* Backward, first half: dz_z, dz_h (dz_r is zeroed) and carry = dh*zg. */
FASTNN_INLINE void gru_before_backward_row(int act, int ract, int64_t u, int64_t n,
                                           const float *restrict z,
                                           const float *restrict h_prev,
                                           const float *restrict dy,
                                           float *restrict carry, float *restrict dz)
{
    WITH_OPTIONAL(h_prev,
        for (int64_t j = 0; j < n; j++) {
            float zg = z[j], hh = z[2 * u + j];
            float dh = dy[j] + carry[j], old = h_prev ? h_prev[j] : 0.0f;
            dz[j] = dh * (old - hh) * derivative(ract, zg);
            dz[u + j] = 0.0f;
            dz[2 * u + j] = dh * (1.0f - zg) * derivative(act, hh);
            carry[j] = dh * zg;
        }
    );
}

/* Second half (not at the first step), from drh = dz_h.U_h^T: dz_r and the
 * part of dh_prev through rh = r*h_prev*mask. */
FASTNN_INLINE void gru_before_reset_row(int ract, int64_t u, int64_t n,
                                        const float *restrict z,
                                        const float *restrict h_prev,
                                        const float *restrict mask,
                                        const float *restrict drh, float *restrict carry,
                                        float *restrict dz)
{
    WITH_OPTIONAL(mask,
        for (int64_t j = 0; j < n; j++) {
            float m = mask ? mask[j] : 1.0f, r = z[u + j];
            dz[u + j] = drh[j] * h_prev[j] * m * derivative(ract, r);
            carry[j] += drh[j] * r * m;
        }
    );
}

/* ---- the threads' meeting point between two steps ---------------------------
 *
 * A step of LSTM(128) at batch 64 is some 50-100 us of work per thread, and
 * the threads meet once or twice per step.  OpenMP's barrier, under the
 * OMP_WAIT_POLICY=PASSIVE fastnn sets (fastnn/kernels/_native.py), puts a
 * waiting thread to sleep at once, and waking it again costs some 30-40 us
 * on this VM -- at each of the 100 barriers of a training step, 40% of the
 * GRU's forward pass.  A step barrier counts arrivals on one atomic counter
 * that only grows: barrier number k (from 1) is passed once it reaches k *
 * team.  A waiting thread first spins on it (with the CPU's pause hint) for
 * 20 us by the clock, long enough for a partner that is merely a little
 * behind (a count of pauses is no measure of time: 160 of them, meant as
 * 20 us, took 4-9 us on this VM's Zen 4, so a partner 5 us behind sent the
 * waiter to sleep), then sleeps (Linux: a futex on a wake-up count that the
 * last thread to arrive bumps, and wakes, only if someone sleeps;
 * elsewhere: yields its core between looks), so that a team sharing its cores with other work (or
 * larger than the machine) does not burn the time its partners need.  The
 * counter's read-modify-writes release, and the waiting loads acquire,
 * everything the team wrote before the barrier. */
typedef struct {
    atomic_llong arrived;
    atomic_int sleepers, wakeups;
    int64_t team;
} step_barrier;

enum { STEP_BARRIER_SPIN_NS = 20000, STEP_BARRIER_POLLS = 16 /* between clock reads */ };

/* Nanoseconds on a monotonic clock (where there is one). */
static int64_t clock_ns(void)
{
    struct timespec t;
#ifdef CLOCK_MONOTONIC
    clock_gettime(CLOCK_MONOTONIC, &t);
#else
    timespec_get(&t, TIME_UTC);
#endif
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Sleeps while *word == expected (or returns at once if it is not). */
static void sleep_on(atomic_int *word, int expected)
{
#ifdef __linux__
    syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
#elif defined(__unix__) || defined(__APPLE__)
    (void)word, (void)expected;
    sched_yield();
#else
    (void)word, (void)expected;
#endif
}

static void wake_all(atomic_int *word)
{
#ifdef __linux__
    syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

static void step_barrier_init(step_barrier *b, int64_t team)
{
    atomic_init(&b->arrived, 0);
    atomic_init(&b->sleepers, 0);
    atomic_init(&b->wakeups, 0);
    b->team = team;
}

/* Waits for the whole team at the thread's next barrier; *passed counts the
 * barriers this thread has passed.  All accesses are sequentially
 * consistent: a sleeper counts itself, then looks at the counter once more,
 * and the last arrival bumps the counter, then looks at the sleepers, so
 * one of the two always sees the other. */
static void step_barrier_wait(step_barrier *b, int64_t *passed)
{
    long long target = (long long)(++*passed * b->team);
    if (b->team == 1)
        return;
    if (atomic_fetch_add(&b->arrived, 1) + 1 == target) {
        if (atomic_load(&b->sleepers) > 0) {
            atomic_fetch_add(&b->wakeups, 1);
            wake_all(&b->wakeups);
        }
        return;
    }
    int64_t start = clock_ns();
    do
        for (int polls = 0; polls < STEP_BARRIER_POLLS; polls++) {
            if (atomic_load_explicit(&b->arrived, memory_order_acquire) >= target)
                return;
            fastnn_cpu_relax();
        }
    while (clock_ns() - start < STEP_BARRIER_SPIN_NS);
    while (atomic_load(&b->arrived) < target) {
        int seen = atomic_load(&b->wakeups);
        atomic_fetch_add(&b->sleepers, 1);
        if (atomic_load(&b->arrived) < target)
            sleep_on(&b->wakeups, seen);
        atomic_fetch_sub(&b->sleepers, 1);
    }
}

/* ---- the fast loops ---------------------------------------------------------
 *
 * Operands kept packed (gemm.h's panel layout) for the whole loop.  A
 * product's B operand (a thread's slice of U or U^T) is packed once, KC
 * block after KC block: block pc holds npad x kc values at pc * npad (npad:
 * the slice's columns rounded up to NR).  Its A operand (h_prev, rh or the
 * step's dr: batch rows, k reduction indices) is written value by value by
 * the threads that compute it, straight into the same blocked layout (block
 * pc at pc * mpad, mpad: the batch rounded up to the micro-kernel's MR;
 * the padding rows stay 0). */
typedef struct {
    int64_t mr, mpad;
} a_layout;

/* Rows [b0, b0 + rows) of an A operand of k reduction indices (b0 a
 * multiple of MR, rows <= MR: one panel) get the values src[i*ld + j], times
 * mask[i*mask_ld + j] unless mask is NULL, as indices p0 + j for j < n.  In
 * the layout those are runs of n*MR consecutive floats (one per KC block
 * the indices touch), which fastnn_pack_strided fills by 4 x 4 transposes
 * from rows just computed (still in L1). */
FASTNN_INLINE void put_rows(const a_layout *la, float *a, int64_t k, int64_t b0,
                            int64_t rows, int64_t p0, const float *src, int64_t ld,
                            const float *mask, int64_t mask_ld, int64_t n)
{
    int64_t mr = la->mr;
    for (int64_t j = 0; j < n;) { /* the run of indices in one KC block */
        int64_t p = p0 + j, pc = p - p % FASTNN_KC, kc = fastnn_min(FASTNN_KC, k - pc);
        int64_t run = fastnn_min(n - j, pc + kc - p);
        float *dst = a + pc * la->mpad + b0 * kc + (p - pc) * mr;
        if (!mask) {
            fastnn_strided s = {src + j, ld, 1};
            fastnn_pack_strided(&s, 0, rows, 0, run, mr, dst);
        } else {
            for (int64_t i = 0; i < rows; i++)
                for (int64_t q = 0; q < run; q++)
                    dst[q * mr + i] = src[i * ld + j + q] * mask[i * mask_ld + j + q];
        }
        j += run;
    }
}

static int64_t padded_columns(int64_t n)
{
    return fastnn_ceil_div(n, FASTNN_NR) * FASTNN_NR;
}

/* Rows [row0, row0 + n) of the operand s, all k reduction indices, as a
 * product's packed B (the layout above). */
static void pack_b(fastnn_strided s, int64_t row0, int64_t n, int64_t k, float *dst)
{
    for (int64_t pc = 0; pc < k; pc += FASTNN_KC)
        fastnn_pack_strided(&s, row0, n, pc, fastnn_min(FASTNN_KC, k - pc), FASTNN_NR,
                            dst + pc * padded_columns(n));
}

/* c (batch x n, ldc) = bias + A.B (bias may be NULL) or, with accumulate,
 * c += A.B, over k reduction indices of packed operands: KC blocks in
 * order, each summed over p in order, whatever thread runs it. */
static void product(const a_layout *la, int64_t batch, const float *a, int64_t k,
                    const float *b, int64_t n, float *c, int64_t ldc, int accumulate,
                    const float *bias)
{
    for (int64_t pc = 0; pc < k; pc += FASTNN_KC) {
        int overwrite = pc == 0 && !accumulate;
        fastnn_gemm_packed(batch, n, fastnn_min(FASTNN_KC, k - pc), a + pc * la->mpad,
                           b + pc * padded_columns(n), c, ldc, overwrite,
                           overwrite ? bias : NULL);
    }
}

/* Asks for rows [0, rows) (row_stride apart) of n columns from base: what
 * the next step reads of rows written long ago (z by the input projection,
 * h, c, dy), which are no longer in cache -- while this step finishes. */
FASTNN_INLINE void prefetch_rows(const float *base, int64_t rows, int64_t row_stride,
                                 int64_t n)
{
    for (int64_t b = 0; b < rows; b++)
        for (int64_t j = 0; j < n; j += 16)
            __builtin_prefetch(base + b * row_stride + j);
}

/* One thread's part of a time loop: units [j0, j0 + n), its slice of U
 * packed (bu) and, backward, its operands for dU. */
typedef struct du_operands du_operands;
typedef struct {
    int64_t j0, n;
    const float *bu;
    du_operands *du;
} own_part;

/* What the threads of a forward time loop share.  hp: h_t (times the mask)
 * as the next step's A operand, two buffers used in turn; rhp: the
 * reset-before GRU's rh as the A of its candidate product; r: the
 * reset_after GRU's R = h_prev.U + rbias of the current step (batch x G*u). */
typedef struct {
    const fastnn_rnn_geom *g;
    const float *rbias, *mask;
    float *z, *h, *c, *rh, *r, *hp[2], *rhp;
    a_layout la;
    step_barrier *barrier;
} forward_loop;

/* One thread's part of all the steps: units [j0, j0 + n), whose gate
 * columns k*u + j0 + j of U it packed into bu (gate after gate, each u
 * deep).  Per step: its columns of the recurrent product, its units' gates
 * and outputs (also into the next step's packed A), one barrier (two for
 * the reset-before GRU, whose rh must be complete before rh.U_h).  Threads
 * without units (n = 0) still meet every barrier. */
FASTNN_INLINE void forward_steps_body(const forward_loop *L, const own_part *own,
                                      int act, int ract)
{
    int64_t j0 = own->j0, n = own->n;
    const float *bu = own->bu;
    const fastnn_rnn_geom *g = L->g;
    int64_t B = g->batch, T = g->steps, u = g->units, gu = gates_of(g->cell) * u;
    int64_t gate_panels = padded_columns(n) * u, mr = L->la.mr, passed = 0;
    int gru = g->cell == FASTNN_RNN_GRU, before = g->cell == FASTNN_RNN_GRU_RESET_BEFORE;
    for (int64_t t = 0; t < T; t++) {
        const float *ap = L->hp[t % 2];
        float *next = t + 1 < T ? L->hp[(t + 1) % 2] : NULL;
        for (int64_t k = 0; n > 0 && k < (before ? 2 : gates_of(g->cell)); k++) {
            if (gru && t == 0) /* h_prev = 0: R is the recurrent bias alone */
                for (int64_t b = 0; b < B; b++)
                    for (int64_t j = 0; j < n; j++)
                        L->r[b * gu + k * u + j0 + j] = L->rbias ? L->rbias[k * u + j0 + j] : 0.0f;
            else if (gru)
                product(&L->la, B, ap, u, bu + k * gate_panels, n, L->r + k * u + j0, gu, 0,
                        L->rbias ? L->rbias + k * u + j0 : NULL);
            else if (t > 0)
                product(&L->la, B, ap, u, bu + k * gate_panels, n, L->z + t * gu + k * u + j0,
                        T * gu, 1, NULL);
        }
        for (int64_t b0 = 0; n > 0 && b0 < B; b0 += mr) { /* a panel of rows at a time */
            int64_t rows = fastnn_min(mr, B - b0), first = b0 * T + t;
            for (int64_t b = b0; b < b0 + rows; b++) {
                int64_t row = b * T + t;
                float *z = L->z + row * gu + j0, *h = L->h + row * u + j0;
                const float *h_prev = t ? h - u : NULL;
                if (before)
                    gru_before_gates_row(ract, u, n, z, h_prev,
                                         L->mask ? L->mask + b * u + j0 : NULL,
                                         L->rh + row * u + j0, 1);
                else
                    forward_row(g->cell, act, ract, u, n, z,
                                L->r ? L->r + b * gu + j0 : NULL, h_prev,
                                t && L->c ? L->c + (row - 1) * u + j0 : NULL, h,
                                L->c ? L->c + row * u + j0 : NULL,
                                L->rh ? L->rh + row * u + j0 : NULL, 1);
            }
            if (before)
                put_rows(&L->la, L->rhp, u, b0, rows, j0, L->rh + first * u + j0, T * u,
                         NULL, 0, n);
            else if (next)
                put_rows(&L->la, next, u, b0, rows, j0, L->h + first * u + j0, T * u,
                         L->mask ? L->mask + b0 * u + j0 : NULL, u, n);
        }
        for (int64_t k = 0; n > 0 && next && k < gates_of(g->cell); k++)
            prefetch_rows(L->z + (t + 1) * gu + k * u + j0, B, T * gu, n);
        if (before) {
            step_barrier_wait(L->barrier, &passed);
            if (t > 0 && n > 0) /* z_h += rh.U_h (rh = 0 at the first step) */
                product(&L->la, B, L->rhp, u, bu + 2 * gate_panels, n,
                        L->z + t * gu + 2 * u + j0, T * gu, 1, NULL);
            for (int64_t b0 = 0; n > 0 && b0 < B; b0 += mr) {
                int64_t rows = fastnn_min(mr, B - b0), first = b0 * T + t;
                for (int64_t b = b0; b < b0 + rows; b++) {
                    int64_t row = b * T + t;
                    float *h = L->h + row * u + j0;
                    gru_before_candidate_row(act, u, n, L->z + row * gu + j0,
                                             t ? h - u : NULL, h, 1);
                }
                if (next)
                    put_rows(&L->la, next, u, b0, rows, j0, L->h + first * u + j0, T * u,
                             L->mask ? L->mask + b0 * u + j0 : NULL, u, n);
            }
        }
        step_barrier_wait(L->barrier, &passed);
    }
}

/* What the threads of a backward time loop share.  dp: the step's dr (what
 * multiplies U^T: dz, or the reset_after GRU's dr) as A, two buffers used
 * in turn; for the reset-before GRU instead dhp (dz_h, for drh = dz_h.U_h^T)
 * and dzrp (dz_z,r, for their part of dh_prev); product: the batch x u
 * result of those products. */
typedef struct {
    const fastnn_rnn_geom *g;
    const float *mask, *z, *h, *c, *rh, *dy;
    float *dz, *dr, *carry, *dc, *product, *dp[2], *dhp, *dzrp, *du, *drbias;
    a_layout la;
    step_barrier *barrier;
} backward_loop;

/* What one thread of a backward loop packs for its share of dU (the
 * recurrent kernel's gradient): its own gate columns of dU += h_prev^T .
 * dr_t at every step, a product of u x n over the batch.  a: h_prev^T (or
 * rh^T), u rows of B reduction indices in the A layout (la: u rounded up to
 * MR); mask: the recurrent dropout mask in the same layout (NULL without);
 * b: one gate's n columns of dr_t as B. */
struct du_operands {
    float *a, *mask, *b;
    a_layout la;
};

/* x^T (x: B rows of u values, ld apart) as an A operand of u rows and B
 * reduction indices in the layout la, into dst. */
static void pack_transposed(const a_layout *la, int64_t B, int64_t u, const float *x,
                            int64_t ld, float *dst)
{
    fastnn_strided s = {x, 1, ld};
    for (int64_t pc = 0; pc < B; pc += FASTNN_KC)
        fastnn_pack_strided(&s, 0, u, pc, fastnn_min(FASTNN_KC, B - pc), la->mr,
                            dst + pc * la->mpad);
}

/* d->a = x^T (x: one step's rows of h or rh), times the mask if masked. */
FASTNN_INLINE void pack_step_transposed(du_operands *d, int64_t B, int64_t u, const float *x,
                                        int64_t ld, int masked)
{
    pack_transposed(&d->la, B, u, x, ld, d->a);
    for (int64_t i = 0; masked && d->mask && i < d->la.mpad * B; i++)
        d->a[i] *= d->mask[i];
}

/* dU[:, q*u + j0 + j] += d->a . dr_t[:, q*u + j0 + j] for j < n and the
 * gates q in [q0, q1) (dr_t row b at dr + b*ld): a product over the batch
 * in KC blocks in order, each summed over b in order, added to dU step
 * after step from the last -- the same order whatever thread owns the
 * columns. */
static void add_du(const backward_loop *L, du_operands *d, const float *dr, int64_t ld,
                   int64_t q0, int64_t q1, int64_t j0, int64_t n)
{
    int64_t B = L->g->batch, u = L->g->units, gu = gates_of(L->g->cell) * u;
    for (int64_t q = q0; q < q1; q++) {
        pack_b((fastnn_strided){dr + q * u, 1, ld}, j0, n, B, d->b);
        product(&d->la, u, d->a, B, d->b, n, L->du + q * u + j0, gu, 1, NULL);
    }
}

/* What the first half of step t reads of units [j0, j0 + n), backward. */
FASTNN_INLINE void prefetch_step(const backward_loop *L, int64_t t, int64_t j0, int64_t n)
{
    const fastnn_rnn_geom *g = L->g;
    int64_t B = g->batch, T = g->steps, u = g->units, G = gates_of(g->cell);
    for (int64_t k = 0; k < G; k++)
        prefetch_rows(L->z + t * G * u + k * u + j0, B, T * G * u, n);
    prefetch_rows(L->h + t * u + j0, B, T * u, n);
    prefetch_rows(L->dy + t * u + j0, B, T * u, n);
    if (L->c)
        prefetch_rows(L->c + t * u + j0, B, T * u, n);
}

/* One thread's part of all the steps back: units [j0, j0 + n), with bu
 * holding rows j0 + j of U as the packed B of dr.U^T (k = G*u columns; for
 * the reset-before GRU the first 2u, then U_h's u).  Per step: its units'
 * gradients (also into the packed A), a barrier (dr complete), its units'
 * columns of dr.U^T into the carry -- which the next step's first half
 * reads for its own units only, so no second barrier.  The reset-before
 * GRU: dz_z, dz_h; barrier; drh = dz_h.U_h^T and dz_r; barrier; carry. */
FASTNN_INLINE void backward_steps_body(const backward_loop *L, const own_part *own,
                                       int act, int ract)
{
    int64_t j0 = own->j0, n = own->n;
    const float *bu = own->bu;
    du_operands *d = own->du;
    const fastnn_rnn_geom *g = L->g;
    int64_t B = g->batch, T = g->steps, u = g->units, gu = gates_of(g->cell) * u;
    int64_t mr = L->la.mr, passed = 0;
    int gru = g->cell == FASTNN_RNN_GRU, before = g->cell == FASTNN_RNN_GRU_RESET_BEFORE;
    int64_t k = before ? 2 * u : gu;
    for (int64_t t = T - 1; t >= 0; t--) {
        float *dp = L->dp[t % 2];
        /* dr_t, row b at drec + b*ld: dz's rows, or the GRU's one-step dr */
        const float *drec = gru ? L->dr : L->dz + t * gu;
        int64_t ld = gru ? gu : T * gu;
        for (int64_t b0 = 0; n > 0 && b0 < B; b0 += mr) { /* a panel of rows at a time */
            int64_t rows = fastnn_min(mr, B - b0), first = b0 * T + t;
            for (int64_t b = b0; b < b0 + rows; b++) {
                int64_t row = b * T + t;
                const float *z = L->z + row * gu + j0, *h = L->h + row * u + j0;
                float *carry = L->carry + b * u + j0, *dz = L->dz + row * gu + j0;
                const float *c = L->c ? L->c + row * u + j0 : NULL;
                if (before)
                    gru_before_backward_row(act, ract, u, n, z, t ? h - u : NULL,
                                            L->dy + row * u + j0, carry, dz);
                else
                    backward_row(g->cell, act, ract, u, n, z, h, t ? h - u : NULL, c,
                                 t && c ? c - u : NULL, L->rh ? L->rh + row * u + j0 : NULL,
                                 L->dy + row * u + j0, carry,
                                 L->dc ? L->dc + b * u + j0 : NULL, dz,
                                 L->dr ? L->dr + b * gu + j0 : NULL, 1);
            }
            if (t && before)
                put_rows(&L->la, L->dhp, u, b0, rows, j0, L->dz + first * gu + 2 * u + j0,
                         T * gu, NULL, 0, n);
            for (int64_t q = 0; t && !before && q < gu / u; q++)
                put_rows(&L->la, dp, gu, b0, rows, q * u + j0, drec + b0 * ld + q * u + j0,
                         ld, NULL, 0, n);
        }
        for (int64_t b = 0; L->drbias && b < B; b++) /* the GRU's recurrent bias */
            for (int64_t q = 0; q < 3; q++)
                for (int64_t j = j0; j < j0 + n; j++)
                    L->drbias[q * u + j] += drec[b * ld + q * u + j];
        if (t == 0)
            break;
        if (n > 0)
            prefetch_step(L, t - 1, j0, n);
        step_barrier_wait(L->barrier, &passed);
        if (before) {
            if (n > 0)
                product(&L->la, B, L->dhp, u, bu + padded_columns(n) * k, n, L->product + j0,
                        u, 0, NULL);
            for (int64_t b0 = 0; n > 0 && b0 < B; b0 += mr) {
                int64_t rows = fastnn_min(mr, B - b0), first = b0 * T + t;
                for (int64_t b = b0; b < b0 + rows; b++) {
                    int64_t row = b * T + t;
                    gru_before_reset_row(ract, u, n, L->z + row * gu + j0,
                                         L->h + (row - 1) * u + j0,
                                         L->mask ? L->mask + b * u + j0 : NULL,
                                         L->product + b * u + j0, L->carry + b * u + j0,
                                         L->dz + row * gu + j0);
                }
                for (int64_t q = 0; q < 2; q++)
                    put_rows(&L->la, L->dzrp, k, b0, rows, q * u + j0,
                             L->dz + first * gu + q * u + j0, T * gu, NULL, 0, n);
            }
            step_barrier_wait(L->barrier, &passed);
        }
        if (n == 0)
            continue;
        product(&L->la, B, before ? L->dzrp : dp, k, bu, n, L->product + j0, u, 0, NULL);
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = j0; j < j0 + n; j++) {
                float back = L->product[b * u + j] * (L->mask ? L->mask[b * u + j] : 1.0f);
                L->carry[b * u + j] = gru || before ? L->carry[b * u + j] + back : back;
            }
        /* dU's own columns: (h_prev*mask)^T . dr_t; the reset-before GRU's
         * candidate columns multiply rh instead */
        pack_step_transposed(d, B, u, L->h + (t - 1) * u, T * u, 1);
        add_du(L, d, drec, ld, 0, before ? 2 : gu / u, j0, n);
        if (before) {
            pack_step_transposed(d, B, u, L->rh + t * u, T * u, 0);
            add_du(L, d, drec, ld, 2, 3, j0, n);
        }
    }
}

/* One variant per SIMD path, each with Keras's default activations (tanh,
 * sigmoid) as constants and the general case. */
#define STEPS_VARIANT(name, body, loop_type)                                     \
    static void name(const loop_type *L, const own_part *own)                   \
    {                                                                           \
        const fastnn_rnn_geom *g = L->g;                                        \
        if (g->activation == FASTNN_RNN_TANH &&                                 \
            g->recurrent_activation == FASTNN_RNN_SIGMOID)                      \
            body(L, own, FASTNN_RNN_TANH, FASTNN_RNN_SIGMOID);                  \
        else                                                                    \
            body(L, own, g->activation, g->recurrent_activation);               \
    }

STEPS_VARIANT(forward_steps_generic, forward_steps_body, forward_loop)
STEPS_VARIANT(backward_steps_generic, backward_steps_body, backward_loop)
#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2 STEPS_VARIANT(forward_steps_avx2, forward_steps_body, forward_loop)
FASTNN_TARGET_AVX2 STEPS_VARIANT(backward_steps_avx2, backward_steps_body, backward_loop)
#endif
#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512 STEPS_VARIANT(forward_steps_avx512, forward_steps_body, forward_loop)
FASTNN_TARGET_AVX512 STEPS_VARIANT(backward_steps_avx512, backward_steps_body, backward_loop)
#endif

/* The A-operand buffers of a time loop, zeroed (the padding rows must be). */
static float *zeroed(int64_t count)
{
    float *p = fastnn_alloc_floats(count);
    if (p)
        memset(p, 0, (size_t)count * sizeof *p);
    return p;
}

/* Threads for a time loop on u units whose steps are `step_work`
 * operations each: the threads meet once or twice a step, so a step (not
 * the whole loop) must be worth sharing; at most one thread per NR units, so
 * every thread's slice of U is whole panels. */
static int loop_threads(int64_t u, double step_work)
{
    int threads = fastnn_threads_for(step_work);
    int64_t slices = fastnn_ceil_div(u, FASTNN_NR);
    return slices < threads ? (int)slices : threads;
}

/* The calling thread's units [*j0, *j0 + *n) of u: whole NR-unit slices,
 * shared as evenly as the team's size allows. */
static void own_units(int64_t u, int64_t *j0, int64_t *n)
{
    int64_t slices = fastnn_ceil_div(u, FASTNN_NR);
    int64_t id = fastnn_thread_id(), team = fastnn_team_size();
    int64_t first = slices * id / team, last = slices * (id + 1) / team;
    *j0 = first * FASTNN_NR;
    *n = fastnn_min(last * FASTNN_NR, u) - *j0;
}

/* Called by every thread of the loop's team once it has packed its slice of
 * U (or failed to, setting *status): sets the team's step barrier to its
 * size, waits for the whole team, then tells each thread whether all of
 * them can run the steps. */
static int team_packed(int *status, step_barrier *barrier)
{
    if (fastnn_thread_id() == 0)
        step_barrier_init(barrier, fastnn_team_size());
#pragma omp barrier
    int ok;
#pragma omp atomic read
    ok = *status;
    return ok == FASTNN_OK;
}

int fastnn_rnn_forward(const fastnn_rnn_geom *g, const float *u_kernel,
                       const float *rbias, const float *mask, float *z,
                       float *h, float *c, float *rh)
{
    int64_t B = g->batch, u = g->units, G = gates_of(g->cell), gu = G * u;
    int gru = g->cell == FASTNN_RNN_GRU, before = g->cell == FASTNN_RNN_GRU_RESET_BEFORE;
    a_layout la = {fastnn_gemm_mr(), 0};
    la.mpad = fastnn_ceil_div(B, la.mr) * la.mr;
    step_barrier barrier;
    forward_loop L = {g, rbias, mask, z, h, g->cell == FASTNN_RNN_LSTM ? c : NULL,
                      gru || before ? rh : NULL, gru ? fastnn_alloc_floats(B * gu) : NULL,
                      {zeroed(la.mpad * u), zeroed(la.mpad * u)},
                      before ? zeroed(la.mpad * u) : NULL, la, &barrier};
    int status = FASTNN_OK;
    if ((gru && !L.r) || !L.hp[0] || !L.hp[1] || (before && !L.rhp))
        status = FASTNN_ENOMEM;
    void (*steps)(const forward_loop *, const own_part *) =
        forward_steps_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        steps = forward_steps_avx2;
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        steps = forward_steps_avx512;
#endif
    int threads = loop_threads(u, 2.0 * (double)(B * gu * u) + 30.0 * (double)(B * gu));
#pragma omp parallel num_threads(threads) if (threads > 1 && status == FASTNN_OK)
    {
        int64_t j0, n;
        own_units(u, &j0, &n);
        /* this thread's gate columns of U, gate after gate */
        float *bu = fastnn_alloc_floats(G * padded_columns(n) * u);
        if (!bu) {
#pragma omp atomic write
            status = FASTNN_ENOMEM;
        }
        for (int64_t k = 0; bu && k < G; k++)
            pack_b((fastnn_strided){u_kernel + k * u, 1, gu}, j0, n, u,
                   bu + k * padded_columns(n) * u);
        own_part own = {j0, n, bu, NULL};
        if (team_packed(&status, &barrier))
            steps(&L, &own);
        fastnn_free_floats(bu);
    }
    fastnn_free_floats(L.r);
    fastnn_free_floats(L.hp[0]);
    fastnn_free_floats(L.hp[1]);
    fastnn_free_floats(L.rhp);
    return status;
}

int fastnn_rnn_backward(const fastnn_rnn_geom *g, const float *u_kernel,
                        const float *mask, const float *z, const float *h,
                        const float *c, const float *rh, const float *dy,
                        const float *dc_last, float *dz, float *du, float *drbias)
{
    int64_t B = g->batch, u = g->units, gu = gates_of(g->cell) * u;
    int gru = g->cell == FASTNN_RNN_GRU, lstm = g->cell == FASTNN_RNN_LSTM;
    int before = g->cell == FASTNN_RNN_GRU_RESET_BEFORE;
    a_layout la = {fastnn_gemm_mr(), 0};
    la.mpad = fastnn_ceil_div(B, la.mr) * la.mr;
    step_barrier barrier;
    backward_loop L = {g, mask, z, h, lstm ? c : NULL, gru || before ? rh : NULL, dy, dz,
                       gru ? fastnn_alloc_floats(B * gu) : NULL, zeroed(B * u),
                       lstm ? fastnn_alloc_floats(B * u) : NULL, fastnn_alloc_floats(B * u),
                       {before ? NULL : zeroed(la.mpad * gu), before ? NULL : zeroed(la.mpad * gu)},
                       before ? zeroed(la.mpad * u) : NULL,
                       before ? zeroed(la.mpad * 2 * u) : NULL, du, gru ? drbias : NULL, la,
                       &barrier};
    memset(du, 0, (size_t)(u * gu) * sizeof *du);
    if (L.drbias)
        memset(L.drbias, 0, (size_t)gu * sizeof *L.drbias);
    int status = FASTNN_OK;
    if (!L.carry || (lstm && !L.dc) || !L.product || (!before && (!L.dp[0] || !L.dp[1])) ||
        (before && (!L.dhp || !L.dzrp)) || (gru && !L.dr))
        status = FASTNN_ENOMEM;
    else if (lstm && dc_last)
        memcpy(L.dc, dc_last, (size_t)(B * u) * sizeof *L.dc);
    else if (lstm)
        memset(L.dc, 0, (size_t)(B * u) * sizeof *L.dc);
    void (*steps)(const backward_loop *, const own_part *) =
        backward_steps_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        steps = backward_steps_avx2;
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        steps = backward_steps_avx512;
#endif
    int threads = loop_threads(u, 4.0 * (double)(B * gu * u) + 30.0 * (double)(B * gu));
#pragma omp parallel num_threads(threads) if (threads > 1 && status == FASTNN_OK)
    {
        int64_t j0, n;
        own_units(u, &j0, &n);
        /* this thread's rows of U as the B of dr.U^T: the reset-before GRU
         * has its first 2u columns, then U_h's u */
        int64_t k = before ? 2 * u : gu;
        du_operands d = {NULL, NULL, NULL, {la.mr, fastnn_ceil_div(u, la.mr) * la.mr}};
        float *bu = fastnn_alloc_floats(padded_columns(n) * gu);
        d.a = fastnn_alloc_floats(d.la.mpad * B);
        d.b = fastnn_alloc_floats(padded_columns(n) * B);
        d.mask = mask ? fastnn_alloc_floats(d.la.mpad * B) : NULL;
        if (!bu || !d.a || !d.b || (mask && !d.mask)) {
#pragma omp atomic write
            status = FASTNN_ENOMEM;
        } else {
            pack_b((fastnn_strided){u_kernel, gu, 1}, j0, n, k, bu);
            if (before)
                pack_b((fastnn_strided){u_kernel + 2 * u, gu, 1}, j0, n, u,
                       bu + padded_columns(n) * k);
            if (mask)
                pack_transposed(&d.la, B, u, mask, u, d.mask);
        }
        own_part own = {j0, n, bu, &d};
        if (team_packed(&status, &barrier))
            steps(&L, &own);
        fastnn_free_floats(bu);
        fastnn_free_floats(d.a);
        fastnn_free_floats(d.b);
        fastnn_free_floats(d.mask);
    }
    fastnn_free_floats(L.dr);
    fastnn_free_floats(L.carry);
    fastnn_free_floats(L.dc);
    fastnn_free_floats(L.product);
    fastnn_free_floats(L.dp[0]);
    fastnn_free_floats(L.dp[1]);
    fastnn_free_floats(L.dhp);
    fastnn_free_floats(L.dzrp);
    return status;
}

/* ---- naive: the same steps as textbook loops ------------------------------ */

/* v[j] += sum_p a[p] * U[p, j0 + j] for j < n, p < k: a row times columns
 * [j0, j0 + n) of U (ld columns), or with transposed, v[p] += sum_j a[j] *
 * U[p, j0 + j] for p < n, j < k (a row times U^T). */
static void row_times(const float *a, const float *u_kernel, int64_t ld, int64_t j0,
                      int64_t k, int64_t n, int transposed, float *v)
{
    for (int64_t i = 0; i < n; i++) {
        float sum = 0.0f;
        for (int64_t p = 0; p < k; p++)
            sum += a[p] * (transposed ? u_kernel[i * ld + j0 + p] : u_kernel[p * ld + j0 + i]);
        v[i] += sum;
    }
}

static void gru_reset_before_forward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                                           const float *mask, float *z, float *h, float *rh)
{
    int64_t B = g->batch, T = g->steps, u = g->units, gu = 3 * u;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            int64_t row = b * T + t;
            float *zr = z + row * gu, *rh_row = rh + row * u;
            const float *h_prev = t ? h + (row - 1) * u : NULL;
            const float *m = mask ? mask + b * u : NULL;
            for (int64_t j = 0; j < 2 * u; j++) /* z_z,r += (h_prev*mask).U_z,r */
                for (int64_t p = 0; h_prev && p < u; p++)
                    zr[j] += h_prev[p] * (m ? m[p] : 1.0f) * u_kernel[p * gu + j];
            gru_before_gates_row(g->recurrent_activation, u, u, zr, h_prev, m, rh_row, 0);
            row_times(rh_row, u_kernel, gu, 2 * u, u, u, 0, zr + 2 * u);
            gru_before_candidate_row(g->activation, u, u, zr, h_prev, h + row * u, 0);
        }
}

/* du[p, j0 + j] += x[p] * (mask[p]) * d[j] for p < u, j < n (du: ld columns). */
static void add_outer(const float *x, const float *mask, const float *d, int64_t u,
                      int64_t n, int64_t j0, int64_t ld, float *du)
{
    for (int64_t p = 0; p < u; p++)
        for (int64_t j = 0; j < n; j++)
            du[p * ld + j0 + j] += x[p] * (mask ? mask[p] : 1.0f) * d[j];
}

static void gru_reset_before_backward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                                            const float *mask, const float *z,
                                            const float *h, const float *rh, const float *dy,
                                            float *dz, float *du, float *carry, float *drh)
{
    int64_t B = g->batch, T = g->steps, u = g->units, gu = 3 * u;
    for (int64_t i = 0; i < B * u; i++)
        carry[i] = 0.0f;
    for (int64_t t = T - 1; t >= 0; t--)
        for (int64_t b = 0; b < B; b++) {
            int64_t row = b * T + t;
            const float *h_prev = t ? h + (row - 1) * u : NULL;
            const float *m = mask ? mask + b * u : NULL;
            float *c = carry + b * u, *d = dz + row * gu;
            gru_before_backward_row(g->activation, g->recurrent_activation, u, u, z + row * gu,
                                    h_prev, dy + row * u, c, d);
            if (!h_prev)
                continue;
            for (int64_t p = 0; p < u; p++)
                drh[p] = 0.0f;
            row_times(d + 2 * u, u_kernel, gu, 2 * u, u, u, 1, drh);
            gru_before_reset_row(g->recurrent_activation, u, u, z + row * gu, h_prev, m, drh, c, d);
            for (int64_t p = 0; p < u; p++) { /* + (dz_z,r.U_z,r^T)*mask */
                float sum = 0.0f;
                for (int64_t j = 0; j < 2 * u; j++)
                    sum += d[j] * u_kernel[p * gu + j];
                c[p] += sum * (m ? m[p] : 1.0f);
            }
            add_outer(h_prev, m, d, u, 2 * u, 0, gu, du);
            add_outer(rh + row * u, NULL, d + 2 * u, u, u, 2 * u, gu, du);
        }
}

void fastnn_rnn_forward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                              const float *rbias, const float *mask, float *z,
                              float *h, float *c, float *rh, float *scratch)
{
    int64_t B = g->batch, T = g->steps, u = g->units, gu = gates_of(g->cell) * u;
    int gru = g->cell == FASTNN_RNN_GRU;
    if (g->cell == FASTNN_RNN_GRU_RESET_BEFORE) {
        gru_reset_before_forward_naive(g, u_kernel, mask, z, h, rh);
        return;
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            int64_t row = b * T + t;
            float *zr = z + row * gu, *target = gru ? scratch : zr;
            for (int64_t j = 0; j < gu; j++) {
                float sum = gru && rbias ? rbias[j] : 0.0f;
                for (int64_t p = 0; t > 0 && p < u; p++) {
                    float hp = h[(row - 1) * u + p] * (mask ? mask[b * u + p] : 1.0f);
                    sum += hp * u_kernel[p * gu + j];
                }
                target[j] = gru ? sum : target[j] + sum;
            }
            forward_row(g->cell, g->activation, g->recurrent_activation, u, u, zr,
                        gru ? scratch : NULL, t ? h + (row - 1) * u : NULL,
                        t && c ? c + (row - 1) * u : NULL, h + row * u,
                        c ? c + row * u : NULL, rh ? rh + row * u : NULL, 0);
        }
}

void fastnn_rnn_backward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                               const float *mask, const float *z, const float *h,
                               const float *c, const float *rh, const float *dy,
                               const float *dc_last, float *dz, float *du, float *drbias,
                               float *dr, float *carry, float *dc)
{
    int64_t B = g->batch, T = g->steps, u = g->units, gu = gates_of(g->cell) * u;
    int gru = g->cell == FASTNN_RNN_GRU, lstm = g->cell == FASTNN_RNN_LSTM;
    for (int64_t i = 0; i < u * gu; i++)
        du[i] = 0.0f;
    for (int64_t j = 0; gru && j < gu; j++)
        drbias[j] = 0.0f;
    if (g->cell == FASTNN_RNN_GRU_RESET_BEFORE) { /* dc: u floats of scratch for drh */
        gru_reset_before_backward_naive(g, u_kernel, mask, z, h, rh, dy, dz, du, carry, dc);
        return;
    }
    for (int64_t i = 0; i < B * u; i++) {
        carry[i] = 0.0f;
        if (lstm)
            dc[i] = dc_last ? dc_last[i] : 0.0f;
    }
    for (int64_t t = T - 1; t >= 0; t--)
        for (int64_t b = 0; b < B; b++) {
            int64_t row = b * T + t;
            const float *drec = gru ? dr : dz + row * gu; /* dr: the GRU's, one row */
            backward_row(g->cell, g->activation, g->recurrent_activation, u, u,
                         z + row * gu, h + row * u, t ? h + (row - 1) * u : NULL,
                         lstm ? c + row * u : NULL, lstm && t ? c + (row - 1) * u : NULL,
                         gru ? rh + row * u : NULL, dy + row * u, carry + b * u,
                         lstm ? dc + b * u : NULL, dz + row * gu, gru ? dr : NULL, 0);
            for (int64_t j = 0; gru && j < gu; j++)
                drbias[j] += dr[j];
            if (t == 0)
                continue;
            for (int64_t p = 0; p < u; p++) {
                float sum = 0.0f;
                for (int64_t j = 0; j < gu; j++)
                    sum += drec[j] * u_kernel[p * gu + j];
                sum *= mask ? mask[b * u + p] : 1.0f;
                carry[b * u + p] = gru ? carry[b * u + p] + sum : sum;
            }
            add_outer(h + (row - 1) * u, mask ? mask + b * u : NULL, drec, u, gu, 0, gu, du);
        }
}
