"""Batch-normalisation kernels: every impl against the reference, the
reference against the formulas and finite differences (course, chapter 31)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import batch_norm, batch_norm_backward, batch_norm_stats, reference

from conftest import (NATIVE_IMPLS, each_impl, each_simd_path, f64, numerical_gradient,
                      seeds, simd_path)

EPS = 1e-3


@st.composite
def matrices(draw, max_rows=300, max_channels=40):
    rows, channels = draw(st.integers(1, max_rows)), draw(st.integers(1, max_channels))
    rng = np.random.default_rng(draw(seeds))
    # an offset far from zero: the variance must not come from E[x^2] - E[x]^2
    x = (rng.uniform(-1, 1, (rows, channels)) * rng.uniform(0.1, 3, channels)
         + rng.uniform(-50, 50, channels)).astype(np.float32)
    dy = rng.uniform(-1, 1, (rows, channels)).astype(np.float32)
    gamma = rng.uniform(-2, 2, channels).astype(np.float32)
    beta = rng.uniform(-2, 2, channels).astype(np.float32)
    return x, dy, gamma, beta


def close(actual, expected, rtol=2e-4, atol=2e-4, dtype=np.float32):
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def relative_error(actual, expected):
    """max |actual - expected| / max |expected|: float32 rounding is ~6e-8."""
    return np.abs(f64(actual) - expected).max() / max(np.abs(expected).max(), 1e-30)


@pytest.mark.parametrize("impl", [*NATIVE_IMPLS, "numpy"])
@given(case=matrices())
def test_stats_match_float64(impl, case):
    """The statistics are float64 sums of the float32 values: exact to double rounding."""
    x = case[0]
    mean, var = batch_norm_stats(x, impl=impl)
    close(mean, f64(x).mean(axis=0), rtol=1e-12, atol=1e-12, dtype=np.float64)
    close(var, f64(x).var(axis=0), rtol=1e-9, atol=1e-12, dtype=np.float64)


@pytest.mark.parametrize("impl", NATIVE_IMPLS)
@pytest.mark.parametrize("batch_stats", [True, False])
@given(case=matrices())
def test_forward_and_backward_match_reference(impl, batch_stats, case):
    x, dy, gamma, beta = case
    mean, var = reference.batch_norm_stats(f64(x))
    inv_std = 1 / np.sqrt(var + EPS)
    y = batch_norm(x, mean, var, gamma, beta, EPS, impl=impl)
    close(y, reference.batch_norm(f64(x), mean, inv_std, gamma, beta), rtol=1e-5, atol=1e-5)
    dx, dgamma, dbeta = batch_norm_backward(x, dy, mean, var, gamma, EPS, batch_stats, impl=impl)
    edx, edgamma, edbeta = reference.batch_norm_backward(f64(x), f64(dy), mean, inv_std,
                                                         gamma, batch_stats)
    scale = np.sqrt(len(x))
    close(dbeta, edbeta, rtol=1e-6, atol=1e-6 * scale)
    close(dgamma, edgamma, rtol=1e-5, atol=1e-5 * scale)
    close(dx, edx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", [*NATIVE_IMPLS, "numpy"])
@pytest.mark.parametrize("batch_stats", [True, False])
@given(case=matrices())
def test_fused_relu_matches_batch_norm_then_relu(impl, batch_stats, case):
    """relu=True writes max(y, 0) (beta in [-2, 2] puts many outputs below 0);
    relu=True makes the backward pass count dy only where that output is > 0,
    as relu_backward followed by the plain backward pass would."""
    x, dy, gamma, beta = case
    mean, var = reference.batch_norm_stats(f64(x))
    inv_std = 1 / np.sqrt(var + EPS)
    r = batch_norm(x, mean, var, gamma, beta, EPS, impl=impl, relu=True)
    expected = np.maximum(reference.batch_norm(f64(x), mean, inv_std, gamma, beta), 0)
    close(r, expected, rtol=1e-5, atol=1e-5)
    assert np.all(r >= 0)
    dx, dgamma, dbeta = batch_norm_backward(x, dy, mean, var, gamma, EPS, batch_stats,
                                            impl=impl, relu=True, beta=beta)
    masked = np.where(r > 0, f64(dy), 0.0)
    edx, edgamma, edbeta = reference.batch_norm_backward(f64(x), masked, mean, inv_std,
                                                         gamma, batch_stats)
    scale = np.sqrt(len(x))
    close(dbeta, edbeta, rtol=1e-6, atol=1e-6 * scale)
    close(dgamma, edgamma, rtol=1e-5, atol=1e-5 * scale)
    close(dx, edx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", [*NATIVE_IMPLS, "numpy"])
@each_simd_path
@pytest.mark.parametrize("channels", [1, 3, 17, 33, 64])
def test_fused_relu_backward_masks_exactly_where_the_forward_output_is_positive(
        impl, simd, channels):
    """The backward pass keeps no copy of the forward's output: it recomputes
    it from x to know where the ReLU let dy through, and that mask must be
    the forward's bit for bit, also where y rounds to either side of 0.  x is
    drawn within about 16 float32 steps of the point where y crosses 0, so
    much of y is a rounding error away from 0 (and many values are exactly
    0).  With dy = 1 and constant statistics, dx = gamma * inv_std * mask:
    nonzero exactly where the backward counted dy, and dbeta counts them.
    A backward that evaluated y in another order or precision (double, no
    FMA) misses dozens of these."""
    rng = np.random.default_rng(channels)
    rows = 20_011
    mean, var = rng.uniform(-5, 5, channels), rng.uniform(0.5, 2, channels)
    gamma = (rng.uniform(0.5, 2, channels) * rng.choice([-1, 1], channels)).astype(np.float32)
    beta = rng.uniform(-1, 1, channels).astype(np.float32)
    crossing = mean - beta * np.sqrt(var + EPS) / gamma   # y = 0 there
    noise = rng.standard_normal((rows, channels)) * 1e-6 * (np.abs(crossing) + 1)
    x = (crossing + noise).astype(np.float32)
    with simd_path(simd):
        r = batch_norm(x, mean, var, gamma, beta, EPS, impl=impl, relu=True)
        dx, _, dbeta = batch_norm_backward(x, np.ones_like(x), mean, var, gamma, EPS,
                                           batch_stats=False, impl=impl, relu=True, beta=beta)
    assert 0.2 < (r > 0).mean() < 0.8 and (r == 0).any()
    np.testing.assert_array_equal(dx != 0, r > 0)
    np.testing.assert_array_equal(dbeta, (r > 0).sum(axis=0))


@pytest.mark.parametrize("impl", NATIVE_IMPLS)
def test_fused_relu_keeps_nan_and_masks_it_out_backward(impl):
    """NaN stays NaN forward (a diverged net stays visible, as relu's); a NaN
    dy where the ReLU's output is 0 does not reach the gradients (relu_backward
    gives 0 there, not 0 * NaN)."""
    x = np.array([[np.nan, 1.0], [2.0, -1.0], [3.0, -2.0]], np.float32)
    mean, var = np.array([2.0, 0.0]), np.array([1.0, 1.0])
    r = batch_norm(x, mean, var, impl=impl, relu=True)
    assert np.isnan(r[0, 0]) and r[1, 1] == 0 and r[2, 1] == 0 and r[2, 0] > 0
    dy = np.array([[1.0, 1.0], [1.0, np.nan], [1.0, np.nan]], np.float32)
    _, dgamma, dbeta = batch_norm_backward(x[1:], dy[1:], mean, var, batch_stats=False,
                                           impl=impl, relu=True)
    assert np.isfinite(dgamma).all() and np.isfinite(dbeta).all()
    assert dbeta[1] == 0


OFFSETS = [0.0, 10.0, 100.0, 1e3, 1e4]


@pytest.mark.parametrize("impl", [*NATIVE_IMPLS, "numpy"])
@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("rows", [1, 2, 7, 300, 4001])
@pytest.mark.parametrize("batch_stats", [True, False])
@pytest.mark.parametrize("affine", [True, False], ids=["gamma-beta", "plain"])
def test_large_mean_against_small_spread_keeps_float32_precision(impl, offset, rows,
                                                                  batch_stats, affine):
    """Inputs of std 0.01 around means up to 10,000 (raw sensor readings):
    the expanded form y = x*scale + shift lost 1.5e-3 (relative) at 1,000 and
    2.9e-2 at 10,000, the backward pass 1e-1; the centred form stays at
    float32 rounding (<= 1e-5 relative against float64).  With batch_stats
    the statistics are this batch's; otherwise float32 moving averages, used
    by the reference exactly as given."""
    rng = np.random.default_rng(rows)
    channels = 5
    x = (offset + 0.01 * rng.standard_normal((rows, channels))).astype(np.float32)
    dy = (0.3 + rng.standard_normal((rows, channels))).astype(np.float32)
    gamma = rng.uniform(0.5, 2, channels).astype(np.float32) if affine else None
    beta = rng.uniform(-1, 1, channels).astype(np.float32) if affine else None
    if batch_stats:
        mean, var = batch_norm_stats(x, impl=impl)
        ref_mean, ref_var = f64(x).mean(axis=0), f64(x).var(axis=0)
    else:  # moving averages: float32, near but not at the batch's statistics
        mean = (f64(x).mean(axis=0) + 0.003).astype(np.float32)
        var = (f64(x).var(axis=0) * 1.1 + 1e-5).astype(np.float32)
        ref_mean, ref_var = f64(mean), f64(var)
    inv_std = 1 / np.sqrt(ref_var + EPS)
    g = np.ones(channels) if gamma is None else f64(gamma)
    b = np.zeros(channels) if beta is None else f64(beta)
    y = batch_norm(x, mean, var, gamma, beta, EPS, impl=impl)
    assert relative_error(y, reference.batch_norm(f64(x), ref_mean, inv_std, g, b)) <= 1e-5
    dx, dgamma, dbeta = batch_norm_backward(x, dy, mean, var, gamma, EPS, batch_stats,
                                            impl=impl)
    edx, edgamma, edbeta = reference.batch_norm_backward(f64(x), f64(dy), ref_mean, inv_std,
                                                         g, batch_stats)
    assert relative_error(dbeta, edbeta) <= 1e-6
    if rows > 1 or not batch_stats:
        assert relative_error(dgamma, edgamma) <= 1e-5
        assert relative_error(dx, edx) <= 1e-5
    else:  # one row, its own statistics: x_hat and dx are exactly 0
        assert np.all(dx == 0) and np.all(dgamma == 0)


@pytest.mark.parametrize("impl", NATIVE_IMPLS)
@pytest.mark.parametrize("simd", ["avx512", "avx2", "generic"])
@pytest.mark.parametrize("outlier", [0.0, 1e2, 1e4])
def test_statistics_survive_an_outlier_in_the_first_row(impl, simd, outlier):
    """The fast statistics take one pass of sums shifted by the first row
    (csrc/batchnorm.c): var = E[(x - x0)^2] - E[x - x0]^2, in float64.  The
    shift must come out exactly and cancel only (x0 - mean)^2 / var times
    float64 rounding: a first row 10,000 standard deviations from a mean of
    10,000 still leaves the variance within 1e-6 (relative) of float64
    NumPy's two-pass one.  Shifting by 0 instead (E[x^2] - E[x]^2) misses
    it by 3e-3."""
    rng = np.random.default_rng(5)
    x = (1e4 + 0.01 * rng.standard_normal((3000, 6))).astype(np.float32)
    x[0] = 1e4 + 0.01 * outlier
    with simd_path(simd):
        mean, var = batch_norm_stats(x, impl=impl)
    ref = f64(x)
    assert np.abs(mean - ref.mean(axis=0)).max() <= 1e-12 * 1e4
    assert relative_error(var, ref.var(axis=0)) <= 1e-6


def test_two_threads_match_one(restore_threads):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50_000, 24)).astype(np.float32) + 7
    dy = rng.standard_normal(x.shape).astype(np.float32)
    gamma = rng.standard_normal(24).astype(np.float32)
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        mean, var = batch_norm_stats(x)
        results.append((mean, var, batch_norm(x, mean, var, gamma),
                        *batch_norm_backward(x, dy, mean, var, gamma)))
    for one, two in zip(*results):  # the sums are cut by the problem, not the threads
        np.testing.assert_array_equal(one, two)


def test_normalised_columns_have_mean_zero_and_variance_one():
    x = np.random.default_rng(0).normal(10, 4, (5000, 3)).astype(np.float32)
    mean, var = batch_norm_stats(x)
    y = f64(batch_norm(x, mean, var, epsilon=1e-8))
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=0), 1, atol=1e-4)


def test_course_style_example_by_hand():
    """One feature, values 1..4: mean 2.5, variance 1.25, so 1 maps to
    -1.5 / sqrt(1.25 + eps), then gamma and beta scale and shift it."""
    x = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    mean, var = batch_norm_stats(x)
    assert mean[0] == pytest.approx(2.5) and var[0] == pytest.approx(1.25)
    y = batch_norm(x, mean, var, gamma=[2.0], beta=[0.5], epsilon=EPS)
    expected = 2.0 * (x[:, 0] - 2.5) / np.sqrt(1.25 + EPS) + 0.5
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-6)


@pytest.mark.parametrize("batch_stats", [True, False])
def test_reference_backward_matches_finite_differences(batch_stats):
    rng = np.random.default_rng(1)
    x, dy = rng.normal(2, 1.5, (6, 3)), rng.standard_normal((6, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    fixed_mean, fixed_var = reference.batch_norm_stats(x)

    def loss(x_, gamma_=gamma):
        mean, var = reference.batch_norm_stats(x_) if batch_stats else (fixed_mean, fixed_var)
        return (reference.batch_norm(x_, mean, 1 / np.sqrt(var + EPS), gamma_, beta) * dy).sum()

    dx, dgamma, dbeta = reference.batch_norm_backward(
        x, dy, fixed_mean, 1 / np.sqrt(fixed_var + EPS), gamma, batch_stats)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x, 1e-6), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dgamma, numerical_gradient(lambda g: loss(x, g), gamma, 1e-6),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dbeta, dy.sum(axis=0))


@each_impl
def test_compute_dx_false_skips_dx(impl):
    x = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    mean, var = batch_norm_stats(x)
    dx, dgamma, dbeta = batch_norm_backward(x, x, mean, var, impl=impl, compute_dx=False)
    assert dx is None and dgamma.shape == dbeta.shape == (4,)


@pytest.mark.parametrize("call, message", [
    (lambda: batch_norm_stats(np.zeros((0, 3))), "at least one row"),
    (lambda: batch_norm_stats(np.zeros((3, 3, 1))), "must be 2-D"),
    (lambda: batch_norm(np.zeros((3, 2)), [0, 0, 0], [1, 1]), "mean must have shape"),
    (lambda: batch_norm(np.zeros((3, 2)), [0, 0], [1, -1]), "var must not be negative"),
    (lambda: batch_norm(np.zeros((3, 2)), [0, 0], [1, 1], epsilon=0), "epsilon must be"),
    (lambda: batch_norm(np.zeros((3, 2)), [0, 0], [1, 1], gamma=[1]), "gamma must have shape"),
    (lambda: batch_norm_backward(np.zeros((3, 2)), np.zeros((2, 2)), [0, 0], [1, 1]),
     "dy must have shape"),
    (lambda: batch_norm_stats(np.zeros((3, 2)), impl="cuda"), "impl must be one of"),
    (lambda: batch_norm_backward(np.zeros((3, 2)), np.zeros((3, 2)), [0, 0], [1, 1],
                                 relu=True, beta=[0, 0, 0]), "beta must have shape"),
    (lambda: batch_norm_backward(np.zeros((3, 2)), np.zeros((3, 2)), [0, 0], [1, 1],
                                 beta=[0, 0]), "beta is used only with relu=True"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()

