"""The elementwise activation kernels (kernels.activation, activation_backward):
every activation x every impl x every SIMD path, against float64 NumPy.

Accuracy is measured in ulps of the float32 result: |got - exact| / spacing(exact),
with "exact" the float64 formula on the same float32 input.  The inputs cover the
whole float range (random bit patterns: denormals, huge values), a dense band around
0 where the functions bend, and the special values (+-inf, NaN, -0.0, the smallest
denormals, the exp overflow and underflow edges).  The bounds, as docs/kernels.md
states them:

    exponential, elu, leaky_relu, softsign   2 ulp
    tanh, sigmoid, selu, softplus, silu      3 ulp
    gelu_tanh                                4 + 3|2u| ulp, u = sqrt(2/pi)(x + 0.044715x^3):
                                             the float32 rounding of 2u is amplified by
                                             e^(2u)'s slope (x < -4; NumPy in float32 too)
    hard_sigmoid                             2^-23 absolute (0.2x + 0.5 cancels at the clip)

(silu is checked where sigmoid(x) is normal, x > -87.3: below, x * sigmoid(x)
multiplies a denormal sigmoid, with its few significant bits, by up to 104.)  NaN stays NaN exactly where the formula gives NaN,
+-inf give the limits, and f(-0.0) = -0.0 for the odd ones.

The backward kernels are checked against finite differences of the float64 forward
formula, and "fast" splits the array between threads: sizes around the vector width
and above the split threshold, with 1, 2 and 3 threads giving the same bits.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastnn
from fastnn.kernels import (ACTIVATION_NAMES, activation, activation_backward,
                            activation_reads_input, reference)

from conftest import NATIVE_IMPLS, each_simd_path, simd_path

ALPHA = {"elu": 0.7, "leaky_relu": 0.25}   # the others ignore alpha
each_name = pytest.mark.parametrize("name", ACTIVATION_NAMES)
FLT_MIN = float(np.finfo(np.float32).tiny)


def alpha_of(name):
    return ALPHA.get(name, 0.0)


def expected(name, x):
    """The float64 formula on float32 inputs (alpha as the kernel sees it, a float32)."""
    alpha = float(np.float32(alpha_of(name)))
    with np.errstate(all="ignore"):
        return reference.activation(name, np.asarray(x, np.float64), alpha)


def ulp_error(got, exact):
    """|got - exact| in units of the float32 spacing at exact (0 where both are the
    same infinity, both NaN, or equal)."""
    with np.errstate(all="ignore"):   # exact beyond FLT_MAX: inf in float32
        exact32 = exact.astype(np.float32)
        spacing = np.spacing(np.abs(exact32)).astype(np.float64)
        error = np.abs(got.astype(np.float64) - exact) / spacing
    same = (got == exact32) | (np.isnan(got) & np.isnan(exact))
    return np.where(same, 0.0, error)


def sweep_inputs():
    """Every kind of float32: random bit patterns (all exponents), a dense band around
    0, and the special values."""
    rng = np.random.default_rng(2024)
    bits = rng.integers(0, 2**32, 120_000, dtype=np.uint64).astype(np.uint32)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, -1e-40, FLT_MIN,
               -FLT_MIN, 88.72, 88.73, 89.0, 100.0, -87.3, -103.9, -103.98, -104.0, -150.0,
               9.0, -9.0, 2.5, -2.5, 1e-8, -1e-8, 3.4e38, -3.4e38]
    return np.concatenate([bits.view(np.float32),
                           (rng.standard_normal(60_000) * 6).astype(np.float32),
                           np.array(special, np.float32)])


X = sweep_inputs()


def gelu_bound(x):
    with np.errstate(all="ignore"):   # signalling NaNs among the bit patterns
        x = x.astype(np.float64)
        two_u = 2 * np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
    return np.nan_to_num(4 + 3 * np.abs(two_u), nan=4.0, posinf=np.inf)


ULPS = {"exponential": 2, "elu": 2, "leaky_relu": 2, "softsign": 2, "tanh": 3,
        "sigmoid": 3, "selu": 3, "softplus": 3, "silu": 3}


def assert_accurate(name, x, y, context=""):
    exact = expected(name, x)
    what = f"{name}{context}"
    np.testing.assert_array_equal(np.isnan(y), np.isnan(exact), err_msg=f"{what}: NaN where")
    if name == "hard_sigmoid":
        with np.errstate(invalid="ignore"):
            error = np.abs(y - exact)
        error[np.isnan(exact)] = 0
        worst = int(np.argmax(error))
        assert error[worst] <= 2.0**-23, f"{what}: x={x[worst]!r} gives {y[worst]!r}, " \
                                         f"exact {exact[worst]!r}"
        return
    error = ulp_error(y, exact)
    bound = gelu_bound(x) if name == "gelu_tanh" else np.full(x.shape, float(ULPS[name]))
    if name == "silu":   # where sigmoid(x) is normal (see the module's docstring)
        bound[~(x > -87.3)] = np.inf
    excess = np.nan_to_num(error / bound)
    worst = int(np.argmax(excess))
    assert excess[worst] <= 1.0, (f"{what}: x={x[worst]!r} gives {y[worst]!r}, exact "
                                  f"{exact[worst]!r}: {error[worst]:.2f} ulp")


# ---- forward: accuracy over the whole float range --------------------------------------------

@each_simd_path
@pytest.mark.parametrize("impl", NATIVE_IMPLS)
@each_name
def test_forward_is_accurate_over_the_whole_float_range(name, impl, simd):
    with simd_path(simd):
        y = activation(name, X, alpha_of(name), impl=impl)
    assert y.dtype == np.float32 and y.shape == X.shape
    assert_accurate(name, X, y, f" [{impl}, {simd}]")


def test_numpy_impl_is_the_reference_in_float32():
    for name in ACTIVATION_NAMES:
        x = X[np.isfinite(X) & (np.abs(X) < 50)]
        np.testing.assert_allclose(activation(name, x, alpha_of(name), impl="numpy"),
                                   expected(name, x), rtol=1e-5, atol=1e-6, err_msg=name)


SPECIAL = {   # f(+inf), f(-inf), f(-0.0) (with its sign), for alpha as in ALPHA
    "tanh": (1.0, -1.0, -0.0), "sigmoid": (1.0, 0.0, 0.5), "elu": (np.inf, -0.7, -0.0),
    "selu": (np.inf, -reference.SELU_SCALE * reference.SELU_ALPHA, -0.0),
    "softplus": (np.inf, 0.0, np.log(2.0)), "softsign": (np.nan, np.nan, -0.0),
    "hard_sigmoid": (1.0, 0.0, 0.5), "leaky_relu": (np.inf, -np.inf, -0.0),
    "exponential": (np.inf, 0.0, 1.0), "silu": (np.inf, np.nan, -0.0),
    "gelu_tanh": (np.inf, np.nan, -0.0)}


@each_simd_path
@pytest.mark.parametrize("impl", NATIVE_IMPLS)
@each_name
def test_special_values(name, impl, simd):
    x = np.array([np.inf, -np.inf, -0.0, np.nan, -np.nan], np.float32)
    with simd_path(simd):
        y = activation(name, x, alpha_of(name), impl=impl)
    want = np.array(SPECIAL[name], np.float32)
    np.testing.assert_allclose(y[:3], want, rtol=1e-6, err_msg=name)
    assert np.signbit(y[2]) == np.signbit(want[2]), f"{name}(-0.0) = {y[2]!r}"
    assert np.isnan(y[3]) and np.isnan(y[4]), f"{name}(NaN) = {y[3:]}"


@each_simd_path
def test_exp_down_to_the_smallest_denormal(simd):
    """e^x for x where the result is denormal, and around overflow."""
    x = np.concatenate([np.linspace(-103.97, -87.0, 5001),
                        np.linspace(88.0, 88.72, 501)]).astype(np.float32)
    with simd_path(simd):
        y = activation("exponential", x)
    error = ulp_error(y, np.exp(x.astype(np.float64)))
    assert error.max() <= 2.0
    assert activation("exponential", np.float32([88.73, -104.5]))[0] == np.inf


@settings(max_examples=60)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=40),
                    elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
       name=st.sampled_from(ACTIVATION_NAMES), impl=st.sampled_from(NATIVE_IMPLS))
def test_drawn_arrays(x, name, impl):
    y = activation(name, x, alpha_of(name), impl=impl)
    assert y.shape == x.shape
    assert_accurate(name, x.reshape(-1), y.reshape(-1), f" [{impl}]")


# ---- backward ------------------------------------------------------------------------------

def derivative_points(name):
    """x in [-7, 7] away from the kinks (0, +-2.5), in float32."""
    x = np.linspace(-7.0, 7.0, 1001) + 0.00377
    x = x[np.min(np.abs(x[:, None] - np.array([0.0, 2.5, -2.5])), axis=1) > 1e-2]
    return x.astype(np.float32)


@each_simd_path
@pytest.mark.parametrize("impl", NATIVE_IMPLS + ("numpy",))
@each_name
def test_backward_matches_finite_differences(name, impl, simd):
    x = derivative_points(name)
    dy = np.random.default_rng(1).uniform(-1, 1, x.shape).astype(np.float32)
    with simd_path(simd):
        y = activation(name, x, alpha_of(name), impl=impl)
        source = x if activation_reads_input(name) else y
        dx = activation_backward(name, source, dy, alpha_of(name), impl=impl)
    x64 = x.astype(np.float64)
    want = dy * (expected(name, x64 + 1e-6) - expected(name, x64 - 1e-6)) / 2e-6
    # a derivative from y carries y's float32 rounding (tanh: 1 - y^2 near y = 1):
    # about 1e-7 of max(1, |y|), times dy
    slack = 1e-6 * np.maximum(1.0, np.abs(expected(name, x64))) * np.abs(dy)
    error = np.abs(dx - want)
    worst = int(np.argmax(error / (2e-5 * np.abs(want) + slack + 1e-7)))
    assert error[worst] <= 2e-5 * abs(want[worst]) + slack[worst] + 1e-7, (
        f"{name} [{impl}, {simd}]: x={x[worst]!r}: dx {dx[worst]!r}, expected {want[worst]!r}")


@each_simd_path
@each_name
def test_backward_fast_and_naive_agree_on_the_whole_range(name, simd):
    """NaN where the other has NaN, within float32 rounding elsewhere, on every kind of
    float (the derivative is dy times at most a few roundings)."""
    with simd_path(simd):
        y = activation(name, X, alpha_of(name))
        source = X if activation_reads_input(name) else y
        dy = np.ones_like(X)
        fast = activation_backward(name, source, dy, alpha_of(name))
        naive = activation_backward(name, source, dy, alpha_of(name), impl="naive")
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(naive))
    finite = np.isfinite(fast) & np.isfinite(naive)
    tolerance = 1e-5 * np.abs(naive[finite]) + 1e-6
    if name == "gelu_tanh":   # e^(2u) amplifies 2u's rounding (see the docstring)
        with np.errstate(over="ignore"):
            tolerance *= gelu_bound(X[finite])
    assert np.all(np.abs(fast[finite] - naive[finite]) <= tolerance), name


# ---- sizes, threads, in place ----------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 7, 15, 16, 17, 33, 1023, 300_007])
@each_name
def test_every_size_and_both_ends(name, n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    y = activation(name, x, alpha_of(name))
    assert_accurate(name, x, y, f" n={n}")
    dy = rng.standard_normal(n).astype(np.float32)
    source = x if activation_reads_input(name) else y
    np.testing.assert_allclose(activation_backward(name, source, dy, alpha_of(name)),
                               activation_backward(name, source, dy, alpha_of(name),
                                                   impl="naive"), rtol=2e-5, atol=1e-6)


@pytest.fixture
def threads_restored(restore_threads):
    yield


@each_simd_path
@each_name
def test_one_two_and_three_threads_give_the_same_bits(name, simd, threads_restored):
    """300,007 values: above the split point even for the 2-operation activations."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(300_007) * 4).astype(np.float32)
    dy = rng.standard_normal(x.size).astype(np.float32)
    results = []
    with simd_path(simd):
        for threads in (1, 2, 3):
            fastnn.set_num_threads(threads)
            y = activation(name, x, alpha_of(name))
            source = x if activation_reads_input(name) else y
            results.append((y.tobytes(), activation_backward(name, source, dy,
                                                             alpha_of(name)).tobytes()))
    assert results[1] == results[0] and results[2] == results[0]


@each_name
def test_in_place(name):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 301)) * 3).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    y = activation(name, x, alpha_of(name))
    source = x if activation_reads_input(name) else y
    dx = activation_backward(name, source, dy, alpha_of(name))
    z = x.copy()
    assert activation(name, z, alpha_of(name), out=z) is z
    np.testing.assert_array_equal(z, y)
    g = dy.copy()
    assert activation_backward(name, source, g, alpha_of(name), out=g) is g
    np.testing.assert_array_equal(g, dx)


@each_name
def test_empty_and_scalar(name):
    assert activation(name, np.zeros((0, 3), np.float32), alpha_of(name)).shape == (0, 3)
    y = activation(name, np.float32(0.5), alpha_of(name))
    assert y.shape == () and np.isclose(y, expected(name, np.float32([0.5]))[0], rtol=1e-6)


# ---- arguments --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: activation("relu6", np.ones(3)), "activation: name must be one of 'tanh'"),
    (lambda: activation("elu", np.ones(3), 0.0), "elu's alpha must be > 0"),
    (lambda: activation("leaky_relu", np.ones(3), -0.1), "slope alpha must be >= 0"),
    (lambda: activation("tanh", np.ones(3), float("nan")), "alpha must be a finite number"),
    (lambda: activation("tanh", np.ones(3), impl="cuda"), "impl must be one of"),
    (lambda: activation("tanh", np.ones(3, np.float32), out=np.ones(4, np.float32)),
     r"out must be a C-contiguous float32 array of shape \(3,\)"),
    (lambda: activation("tanh", np.ones(3, np.float32), out=np.ones(3)),
     "out must be a C-contiguous float32 array"),
    (lambda: activation_backward("tanh", np.ones(3), np.ones(4)),
     r"dy must have the shape of the source \(y\) \(3,\), got \(4,\)"),
    (lambda: activation_backward("silu", np.ones(3), np.ones(2)),
     r"the source \(x\) \(3,\)"),
    (lambda: activation("tanh", np.array(["a"])), "activation: x"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
