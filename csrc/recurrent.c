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
 * dh_prev; the caller forms dU_h = rh^T.dz_h.
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
 * and dc_prev = dc*f back one step.  The caller forms dU = h_prev^T . dr,
 * again one GEMM over all steps.
 *
 * Fast version: the per-step product is the blocked GEMM (gemm.c),
 * parallel over tiles of its output and writing straight into the step's
 * slice of z (ldc = steps*G*units); the gates are one pass per batch row,
 * rows shared between threads, with exp/tanh computed by branch-free
 * polynomials the compiler vectorises (one variant per SIMD path).  Every
 * output element is computed by one thread in a fixed order, so results
 * are bit-identical on any number of threads.  Naive version: the same
 * steps as textbook loops with libm's expf and tanhf.
 */
#include <math.h>

#include "gemm.h"

static int64_t gates_of(int cell)
{
    return cell == FASTNN_RNN_LSTM ? 4 : cell == FASTNN_RNN_SIMPLE ? 1 : 3;
}

/* ---- activations, as functions of x and (derivative) of their output y ---- */

/* e^x for x in [-87, 88] (clamped outside): Cephes's expf, range reduction
 * by n = round(x / ln 2) with the 1.5 * 2^23 trick, a degree-5 polynomial and
 * 2^n built from its exponent bits.  Relative error below 2e-7; no branch
 * and no libm call, so loops over it vectorise. */
FASTNN_INLINE float fast_exp(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh: Cephes's odd polynomial for |x| < 0.625 (where 1 - e^-2|x| would
 * cancel), (1 - e)/(1 + e) with e = e^(-2|x|) beyond; both computed, one
 * selected. */
FASTNN_INLINE float fast_tanh(float x)
{
    float a = fabsf(x), z = x * x;
    float small = -5.70498872745e-3f;
    small = small * z + 2.06390887954e-2f;
    small = small * z - 5.37397155531e-2f;
    small = small * z + 1.33314422036e-1f;
    small = small * z - 3.33332819422e-1f;
    small = small * z * x + x;
    float e = fast_exp(-2.0f * a);
    float large = copysignf((1.0f - e) / (1.0f + e), x);
    return a < 0.625f ? small : large;
}

FASTNN_INLINE float activate(int kind, float x, int fast)
{
    switch (kind) {
    case FASTNN_RNN_TANH:
        return fast ? fast_tanh(x) : tanhf(x);
    case FASTNN_RNN_SIGMOID:
        return 1.0f / (1.0f + (fast ? fast_exp(-x) : expf(-x)));
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

/* v[j] = act(v[j]) for j < n: one activation per loop, so it vectorises. */
FASTNN_INLINE void activate_all(int kind, float *v, int64_t n, int fast)
{
    for (int64_t j = 0; j < n; j++)
        v[j] = activate(kind, v[j], fast);
}

/* ---- one step of one batch row --------------------------------------------
 * z: the row's G*units pre-activations (z + h_prev.U already summed, except
 * for the GRU, whose recurrent part R arrives separately); h, c, rh: the
 * row's outputs at this step; h_prev, c_prev: at the step before (NULL at
 * the first step). */
FASTNN_INLINE void forward_row(int cell, int act, int ract, int64_t u,
                               float *z, const float *r_row, const float *h_prev,
                               const float *c_prev, float *h, float *c,
                               float *rh, int fast)
{
    if (cell == FASTNN_RNN_SIMPLE) {
        activate_all(act, z, u, fast);
        memcpy(h, z, (size_t)u * sizeof *h);
    } else if (cell == FASTNN_RNN_LSTM) {
        activate_all(ract, z, 2 * u, fast);
        activate_all(act, z + 2 * u, u, fast);
        activate_all(ract, z + 3 * u, u, fast);
        for (int64_t j = 0; j < u; j++) {
            float keep = c_prev ? z[u + j] * c_prev[j] : 0.0f;
            c[j] = keep + z[j] * z[2 * u + j];
            h[j] = c[j];
        }
        activate_all(act, h, u, fast);
        for (int64_t j = 0; j < u; j++)
            h[j] *= z[3 * u + j];
    } else { /* GRU, reset_after */
        for (int64_t j = 0; j < 2 * u; j++)
            z[j] += r_row[j];
        activate_all(ract, z, 2 * u, fast);
        for (int64_t j = 0; j < u; j++) {
            rh[j] = r_row[2 * u + j];
            z[2 * u + j] += z[u + j] * rh[j];
        }
        activate_all(act, z + 2 * u, u, fast);
        for (int64_t j = 0; j < u; j++) {
            float old = h_prev ? h_prev[j] : 0.0f;
            h[j] = z[j] * old + (1.0f - z[j]) * z[2 * u + j];
        }
    }
}

/* Backward through one step of one row.  dy: dLoss/dh from outside (this
 * step's output); carry: in, dLoss/dh from the step after; out, the GRU's
 * direct part dh*zg (else untouched); dc: in/out, the LSTM's cell gradient
 * (in: from the step after; out: for the step before).  dz, dr: out, the
 * pre-activation gradients (dr only for the GRU). */
FASTNN_INLINE void backward_row(int cell, int act, int ract, int64_t u,
                                const float *z, const float *h,
                                const float *h_prev, const float *c,
                                const float *c_prev, const float *rh,
                                const float *dy, float *carry, float *dc,
                                float *dz, float *dr, int fast)
{
    if (cell == FASTNN_RNN_SIMPLE) {
        for (int64_t j = 0; j < u; j++)
            dz[j] = (dy[j] + carry[j]) * derivative(act, h[j]);
    } else if (cell == FASTNN_RNN_LSTM) {
        float *tc = dz + 3 * u; /* act(c), kept in dz_o's place until used */
        memcpy(tc, c, (size_t)u * sizeof *tc);
        activate_all(act, tc, u, fast);
        for (int64_t j = 0; j < u; j++) {
            float i = z[j], f = z[u + j], g = z[2 * u + j], o = z[3 * u + j];
            float dh = dy[j] + carry[j], t = tc[j];
            float dcj = dc[j] + dh * o * derivative(act, t);
            dz[j] = dcj * g * derivative(ract, i);
            dz[u + j] = c_prev ? dcj * c_prev[j] * derivative(ract, f) : 0.0f;
            dz[2 * u + j] = dcj * i * derivative(act, g);
            dz[3 * u + j] = dh * t * derivative(ract, o);
            dc[j] = dcj * f;
        }
    } else { /* GRU, reset_after */
        for (int64_t j = 0; j < u; j++) {
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
    }
}

/* The reset-before GRU's step of one row in its two halves (see the top).
 * Gates: z holds z_z,r + h_prev.U_z,r; h_prev is NULL at the first step,
 * mask the row's recurrent dropout mask or NULL. */
FASTNN_INLINE void gru_before_gates_row(int ract, int64_t u, float *z,
                                        const float *h_prev, const float *mask,
                                        float *rh, int fast)
{
    activate_all(ract, z, 2 * u, fast);
    for (int64_t j = 0; j < u; j++)
        rh[j] = h_prev ? z[u + j] * h_prev[j] * (mask ? mask[j] : 1.0f) : 0.0f;
}

/* Candidate: z_h holds z_h + rh.U_h. */
FASTNN_INLINE void gru_before_candidate_row(int act, int64_t u, float *z,
                                            const float *h_prev, float *h, int fast)
{
    activate_all(act, z + 2 * u, u, fast);
    for (int64_t j = 0; j < u; j++) {
        float old = h_prev ? h_prev[j] : 0.0f;
        h[j] = z[j] * old + (1.0f - z[j]) * z[2 * u + j];
    }
}

/* Backward, first half: dz_z, dz_h (dz_r is zeroed) and carry = dh*zg. */
FASTNN_INLINE void gru_before_backward_row(int act, int ract, int64_t u,
                                           const float *z, const float *h_prev,
                                           const float *dy, float *carry, float *dz)
{
    for (int64_t j = 0; j < u; j++) {
        float zg = z[j], hh = z[2 * u + j];
        float dh = dy[j] + carry[j], old = h_prev ? h_prev[j] : 0.0f;
        dz[j] = dh * (old - hh) * derivative(ract, zg);
        dz[u + j] = 0.0f;
        dz[2 * u + j] = dh * (1.0f - zg) * derivative(act, hh);
        carry[j] = dh * zg;
    }
}

/* Second half (not at the first step), from drh = dz_h.U_h^T: dz_r and the
 * part of dh_prev through rh = r*h_prev*mask. */
FASTNN_INLINE void gru_before_reset_row(int ract, int64_t u, const float *z,
                                        const float *h_prev, const float *mask,
                                        const float *drh, float *carry, float *dz)
{
    for (int64_t j = 0; j < u; j++) {
        float m = mask ? mask[j] : 1.0f, r = z[u + j];
        dz[u + j] = drh[j] * h_prev[j] * m * derivative(ract, r);
        carry[j] += drh[j] * r * m;
    }
}

/* ---- the fast loops, one variant per SIMD path ---------------------------- */

/* phase: which half of a reset-before GRU step the rows run (0: gates,
 * 1: candidate); the other cells have one pass per step (phase 0). */
typedef struct {
    const fastnn_rnn_geom *g;
    const float *mask;
    float *z, *h, *c, *rh, *r; /* r: the GRU's recurrent products (batch x 3u) */
    int phase;
} forward_args;

/* One row of step t with the activations act and ract (constants where the
 * caller specialises Keras's default pair). */
FASTNN_INLINE void forward_step_row(const forward_args *a, int64_t t, int64_t b,
                                    int act, int ract)
{
    const fastnn_rnn_geom *g = a->g;
    int64_t u = g->units, gu = gates_of(g->cell) * u, row = b * g->steps + t;
    const float *h_prev = t ? a->h + (row - 1) * u : NULL;
    float *z = a->z + row * gu, *h = a->h + row * u, *rh = a->rh ? a->rh + row * u : NULL;
    if (g->cell == FASTNN_RNN_GRU_RESET_BEFORE) {
        if (a->phase == 0)
            gru_before_gates_row(ract, u, z, h_prev, a->mask ? a->mask + b * u : NULL, rh, 1);
        else
            gru_before_candidate_row(act, u, z, h_prev, h, 1);
        return;
    }
    const float *c_prev = t && a->c ? a->c + (row - 1) * u : NULL;
    const float *r_row = a->r ? a->r + b * gu : NULL;
    forward_row(g->cell, act, ract, u, z, r_row, h_prev, c_prev, h,
                a->c ? a->c + row * u : NULL, rh, 1);
}

FASTNN_INLINE void forward_rows_body(const forward_args *a, int64_t t,
                                     int64_t b0, int64_t b1)
{
    const fastnn_rnn_geom *g = a->g;
    for (int64_t b = b0; b < b1; b++) {
        if (g->activation == FASTNN_RNN_TANH && g->recurrent_activation == FASTNN_RNN_SIGMOID)
            forward_step_row(a, t, b, FASTNN_RNN_TANH, FASTNN_RNN_SIGMOID);
        else
            forward_step_row(a, t, b, g->activation, g->recurrent_activation);
    }
}

/* phase as for forward_args (0: first half, 1: second, reading product). */
typedef struct {
    const fastnn_rnn_geom *g;
    const float *mask, *z, *h, *c, *rh, *dy, *product;
    float *carry, *dc, *dz, *dr;
    int phase;
} backward_args;

FASTNN_INLINE void backward_step_row(const backward_args *a, int64_t t, int64_t b,
                                     int act, int ract)
{
    const fastnn_rnn_geom *g = a->g;
    int64_t u = g->units, gu = gates_of(g->cell) * u, row = b * g->steps + t;
    const float *h_prev = t ? a->h + (row - 1) * u : NULL, *z = a->z + row * gu;
    float *carry = a->carry + b * u, *dz = a->dz + row * gu;
    if (g->cell == FASTNN_RNN_GRU_RESET_BEFORE) {
        if (a->phase == 0)
            gru_before_backward_row(act, ract, u, z, h_prev, a->dy + row * u, carry, dz);
        else
            gru_before_reset_row(ract, u, z, h_prev, a->mask ? a->mask + b * u : NULL,
                                 a->product + b * u, carry, dz);
        return;
    }
    const float *c = a->c ? a->c + row * u : NULL;
    const float *c_prev = t && a->c ? a->c + (row - 1) * u : NULL;
    const float *rh = a->rh ? a->rh + row * u : NULL;
    float *dc = a->dc ? a->dc + b * u : NULL, *dr = a->dr ? a->dr + row * gu : NULL;
    backward_row(g->cell, act, ract, u, z, a->h + row * u, h_prev, c, c_prev, rh,
                 a->dy + row * u, carry, dc, dz, dr, 1);
}

FASTNN_INLINE void backward_rows_body(const backward_args *a, int64_t t,
                                      int64_t b0, int64_t b1)
{
    const fastnn_rnn_geom *g = a->g;
    for (int64_t b = b0; b < b1; b++) {
        if (g->activation == FASTNN_RNN_TANH && g->recurrent_activation == FASTNN_RNN_SIGMOID)
            backward_step_row(a, t, b, FASTNN_RNN_TANH, FASTNN_RNN_SIGMOID);
        else
            backward_step_row(a, t, b, g->activation, g->recurrent_activation);
    }
}

typedef void (*forward_rows_fn)(const forward_args *, int64_t, int64_t, int64_t);
typedef void (*backward_rows_fn)(const backward_args *, int64_t, int64_t, int64_t);

static void forward_rows_generic(const forward_args *a, int64_t t, int64_t b0, int64_t b1)
{
    forward_rows_body(a, t, b0, b1);
}

static void backward_rows_generic(const backward_args *a, int64_t t, int64_t b0,
                                  int64_t b1)
{
    backward_rows_body(a, t, b0, b1);
}

#if FASTNN_HAVE_AVX2_VARIANT
FASTNN_TARGET_AVX2
static void forward_rows_avx2(const forward_args *a, int64_t t, int64_t b0, int64_t b1)
{
    forward_rows_body(a, t, b0, b1);
}

FASTNN_TARGET_AVX2
static void backward_rows_avx2(const backward_args *a, int64_t t, int64_t b0, int64_t b1)
{
    backward_rows_body(a, t, b0, b1);
}
#endif

#if FASTNN_HAVE_AVX512_VARIANT
FASTNN_TARGET_AVX512
static void forward_rows_avx512(const forward_args *a, int64_t t, int64_t b0, int64_t b1)
{
    forward_rows_body(a, t, b0, b1);
}

FASTNN_TARGET_AVX512
static void backward_rows_avx512(const backward_args *a, int64_t t, int64_t b0,
                                 int64_t b1)
{
    backward_rows_body(a, t, b0, b1);
}
#endif

/* Rows [0, batch) shared between the threads the gate work is worth; each
 * row is one thread's, so the split changes no result. */
#define FOR_ROW_RANGES(batch, work, call)                                   \
    do {                                                                    \
        int threads_ = fastnn_threads_for(work);                            \
        if (threads_ == 1) {                                                \
            int64_t b0 = 0, b1 = (batch);                                   \
            call;                                                           \
        } else {                                                            \
            _Pragma("omp parallel num_threads(threads_)")                   \
            {                                                               \
                int64_t team_ = fastnn_team_size(), id_ = fastnn_thread_id(); \
                int64_t b0 = (batch) * id_ / team_;                         \
                int64_t b1 = (batch) * (id_ + 1) / team_;                   \
                call;                                                       \
            }                                                               \
        }                                                                   \
    } while (0)

/* h_prev (rows of h at step t-1, or of `masked` when there is a mask). */
static fastnn_strided previous_outputs(const fastnn_rnn_geom *g, const float *h,
                                       const float *mask, float *masked, int64_t t)
{
    int64_t u = g->units, T = g->steps;
    if (!mask)
        return (fastnn_strided){h + (t - 1) * u, T * u, 1};
    for (int64_t b = 0; b < g->batch; b++)
        for (int64_t j = 0; j < u; j++)
            masked[b * u + j] = h[(b * T + t - 1) * u + j] * mask[b * u + j];
    return (fastnn_strided){masked, u, 1};
}

int fastnn_rnn_forward(const fastnn_rnn_geom *g, const float *u_kernel,
                       const float *rbias, const float *mask, float *z,
                       float *h, float *c, float *rh)
{
    int64_t B = g->batch, T = g->steps, u = g->units, gu = gates_of(g->cell) * u;
    int gru = g->cell == FASTNN_RNN_GRU;
    float *masked = mask ? fastnn_alloc_floats(B * u) : NULL;
    float *r = gru ? fastnn_alloc_floats(B * gu) : NULL;
    int status = FASTNN_OK;
    if ((mask && !masked) || (gru && !r)) {
        status = FASTNN_ENOMEM;
        goto done;
    }
    forward_rows_fn rows = forward_rows_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        rows = forward_rows_avx2;
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        rows = forward_rows_avx512;
#endif
    int before = g->cell == FASTNN_RNN_GRU_RESET_BEFORE;
    forward_args args = {g, mask, z, h, g->cell == FASTNN_RNN_LSTM ? c : NULL,
                         gru || before ? rh : NULL, r, 0};
    /* U as the GEMM's B operand: column j of h_prev.U is row j, U[p, j]; the
     * reset-before GRU multiplies h_prev by its first 2u columns only and
     * rh by the last u (u_h). */
    fastnn_strided su = {u_kernel, 1, gu}, su_h = {u_kernel + 2 * u, 1, gu};
    fastnn_gemm_operand ob = {fastnn_pack_strided, &su}, ob_h = {fastnn_pack_strided, &su_h};
    for (int64_t t = 0; t < T; t++) {
        if (t > 0) {
            fastnn_strided sa = previous_outputs(g, h, mask, masked, t);
            fastnn_gemm_operand oa = {fastnn_pack_strided, &sa};
            status = gru ? fastnn_gemm(B, gu, u, oa, ob, r, gu, rbias, 0)
                         : fastnn_gemm(B, before ? 2 * u : gu, u, oa, ob, z + t * gu,
                                       T * gu, NULL, 1);
            if (status != FASTNN_OK)
                goto done;
        } else if (gru) { /* h_prev = 0: R is the recurrent bias alone */
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < gu; j++)
                    r[b * gu + j] = rbias ? rbias[j] : 0.0f;
        }
        args.phase = 0;
        FOR_ROW_RANGES(B, 30.0 * (double)(B * gu), rows(&args, t, b0, b1));
        if (!before)
            continue;
        if (t > 0) { /* z_h += rh.U_h (rh = 0 at the first step) */
            fastnn_strided sa = {rh + t * u, T * u, 1};
            fastnn_gemm_operand oa = {fastnn_pack_strided, &sa};
            status = fastnn_gemm(B, u, u, oa, ob_h, z + t * gu + 2 * u, T * gu, NULL, 1);
            if (status != FASTNN_OK)
                goto done;
        }
        args.phase = 1;
        FOR_ROW_RANGES(B, 30.0 * (double)(B * u), rows(&args, t, b0, b1));
    }
done:
    fastnn_free_floats(masked);
    fastnn_free_floats(r);
    return status;
}

int fastnn_rnn_backward(const fastnn_rnn_geom *g, const float *u_kernel,
                        const float *mask, const float *z, const float *h,
                        const float *c, const float *rh, const float *dy,
                        const float *dc_last, float *dz, float *dr)
{
    int64_t B = g->batch, T = g->steps, u = g->units, gu = gates_of(g->cell) * u;
    int gru = g->cell == FASTNN_RNN_GRU, lstm = g->cell == FASTNN_RNN_LSTM;
    float *carry = fastnn_alloc_floats(B * u), *product = fastnn_alloc_floats(B * u);
    float *dc = lstm ? fastnn_alloc_floats(B * u) : NULL;
    int status = FASTNN_OK;
    if (!carry || !product || (lstm && !dc)) {
        status = FASTNN_ENOMEM;
        goto done;
    }
    memset(carry, 0, (size_t)(B * u) * sizeof *carry);
    if (lstm) {
        if (dc_last)
            memcpy(dc, dc_last, (size_t)(B * u) * sizeof *dc);
        else
            memset(dc, 0, (size_t)(B * u) * sizeof *dc);
    }
    backward_rows_fn rows = backward_rows_generic;
#if FASTNN_HAVE_AVX2_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX2)
        rows = backward_rows_avx2;
#endif
#if FASTNN_HAVE_AVX512_VARIANT
    if (fastnn_get_simd() >= FASTNN_SIMD_AVX512)
        rows = backward_rows_avx512;
#endif
    int before = g->cell == FASTNN_RNN_GRU_RESET_BEFORE;
    const float *drec = gru ? dr : dz; /* what multiplies U^T */
    backward_args args = {g, mask, z, h, lstm ? c : NULL, gru ? rh : NULL, dy, product,
                          carry, dc, dz, gru ? dr : NULL, 0};
    /* U^T as the GEMM's B operand: column j of dr.U^T is row j of U (the
     * reset-before GRU: k = 2u for its gates z, r; U_h^T alone for drh). */
    fastnn_strided su = {u_kernel, gu, 1}, su_h = {u_kernel + 2 * u, gu, 1};
    fastnn_gemm_operand ob = {fastnn_pack_strided, &su}, ob_h = {fastnn_pack_strided, &su_h};
    for (int64_t t = T - 1; t >= 0; t--) {
        args.phase = 0;
        FOR_ROW_RANGES(B, 30.0 * (double)(B * gu), rows(&args, t, b0, b1));
        if (t == 0)
            break;
        if (before) { /* drh = dz_h.U_h^T, then dz_r and drh*r*mask into carry */
            fastnn_strided sh = {dz + t * gu + 2 * u, T * gu, 1};
            fastnn_gemm_operand oh = {fastnn_pack_strided, &sh};
            status = fastnn_gemm(B, u, u, oh, ob_h, product, u, NULL, 0);
            if (status != FASTNN_OK)
                goto done;
            args.phase = 1;
            FOR_ROW_RANGES(B, 30.0 * (double)(B * u), rows(&args, t, b0, b1));
        }
        fastnn_strided sa = {drec + t * gu, T * gu, 1};
        fastnn_gemm_operand oa = {fastnn_pack_strided, &sa};
        status = fastnn_gemm(B, u, before ? 2 * u : gu, oa, ob, product, u, NULL, 0);
        if (status != FASTNN_OK)
            goto done;
        for (int64_t i = 0; i < B * u; i++) {
            float back = mask ? product[i] * mask[i] : product[i];
            carry[i] = gru || before ? carry[i] + back : back;
        }
    }
done:
    fastnn_free_floats(carry);
    fastnn_free_floats(product);
    fastnn_free_floats(dc);
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
            gru_before_gates_row(g->recurrent_activation, u, zr, h_prev, m, rh_row, 0);
            row_times(rh_row, u_kernel, gu, 2 * u, u, u, 0, zr + 2 * u);
            gru_before_candidate_row(g->activation, u, zr, h_prev, h + row * u, 0);
        }
}

static void gru_reset_before_backward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                                            const float *mask, const float *z,
                                            const float *h, const float *dy, float *dz,
                                            float *carry, float *drh)
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
            gru_before_backward_row(g->activation, g->recurrent_activation, u, z + row * gu,
                                    h_prev, dy + row * u, c, d);
            if (!h_prev)
                continue;
            for (int64_t p = 0; p < u; p++)
                drh[p] = 0.0f;
            row_times(d + 2 * u, u_kernel, gu, 2 * u, u, u, 1, drh);
            gru_before_reset_row(g->recurrent_activation, u, z + row * gu, h_prev, m, drh, c, d);
            for (int64_t p = 0; p < u; p++) { /* + (dz_z,r.U_z,r^T)*mask */
                float sum = 0.0f;
                for (int64_t j = 0; j < 2 * u; j++)
                    sum += d[j] * u_kernel[p * gu + j];
                c[p] += sum * (m ? m[p] : 1.0f);
            }
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
            forward_row(g->cell, g->activation, g->recurrent_activation, u, zr,
                        gru ? scratch : NULL, t ? h + (row - 1) * u : NULL,
                        t && c ? c + (row - 1) * u : NULL, h + row * u,
                        c ? c + row * u : NULL, rh ? rh + row * u : NULL, 0);
        }
}

void fastnn_rnn_backward_naive(const fastnn_rnn_geom *g, const float *u_kernel,
                               const float *mask, const float *z, const float *h,
                               const float *c, const float *rh, const float *dy,
                               const float *dc_last, float *dz, float *dr,
                               float *carry, float *dc)
{
    int64_t B = g->batch, T = g->steps, u = g->units, gu = gates_of(g->cell) * u;
    int gru = g->cell == FASTNN_RNN_GRU, lstm = g->cell == FASTNN_RNN_LSTM;
    if (g->cell == FASTNN_RNN_GRU_RESET_BEFORE) { /* dc: u floats of scratch for drh */
        gru_reset_before_backward_naive(g, u_kernel, mask, z, h, dy, dz, carry, dc);
        return;
    }
    for (int64_t i = 0; i < B * u; i++) {
        carry[i] = 0.0f;
        if (lstm)
            dc[i] = dc_last ? dc_last[i] : 0.0f;
    }
    const float *drec = gru ? dr : dz;
    for (int64_t t = T - 1; t >= 0; t--)
        for (int64_t b = 0; b < B; b++) {
            int64_t row = b * T + t;
            backward_row(g->cell, g->activation, g->recurrent_activation, u,
                         z + row * gu, h + row * u, t ? h + (row - 1) * u : NULL,
                         lstm ? c + row * u : NULL, lstm && t ? c + (row - 1) * u : NULL,
                         gru ? rh + row * u : NULL, dy + row * u, carry + b * u,
                         lstm ? dc + b * u : NULL, dz + row * gu,
                         gru ? dr + row * gu : NULL, 0);
            for (int64_t p = 0; t > 0 && p < u; p++) {
                float sum = 0.0f;
                for (int64_t j = 0; j < gu; j++)
                    sum += drec[row * gu + j] * u_kernel[p * gu + j];
                sum *= mask ? mask[b * u + p] : 1.0f;
                carry[b * u + p] = gru ? carry[b * u + p] + sum : sum;
            }
        }
}
