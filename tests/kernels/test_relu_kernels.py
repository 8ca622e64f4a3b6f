"""relu and relu_backward kernels: every impl against the NumPy reference.

relu is a select, y = x where x >= 0 or x is NaN, else 0, so the C kernels
must agree with ``reference.relu`` bit for bit (compared as uint32 words: that
also checks the sign of -0.0 and that NaN stays NaN).  relu_backward passes dy
where y > 0 and gives 0 elsewhere (relu'(0) = 0, as in Keras).  The "fast"
kernels split the array over threads, so sizes around thread boundaries and
a large array are tested too.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnn.kernels import reference, relu, relu_backward

from conftest import IMPLS, NATIVE_IMPLS, each_impl

SPECIAL = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-45, -1e-45,
                    3.4e38, -3.4e38, 1.0, -1.0], np.float32)

shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=7)   # 0-D: below
float32s = st.floats(width=32, allow_nan=True, allow_infinity=True)
float32_arrays = hnp.arrays(np.float32, shapes, elements=float32s)


def bits(a):
    """The float32 words of ``a``: equal bits mean equal values, signs of zero and NaNs."""
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    return np.ascontiguousarray(a).view(np.uint32)


def expected_relu(x):
    """max(x, 0) written out in float64, NaN kept, then back to float32."""
    x64 = np.asarray(x, np.float64)
    return np.where(x64 < 0, 0.0, x64).astype(np.float32)


# ---- forward ------------------------------------------------------------------------------

@each_impl
def test_relu_known_values(impl):
    y = relu(SPECIAL, impl)
    expected = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, 0.0, 1e-45, 0.0,
                         3.4e38, 0.0, 1.0, 0.0], np.float32)
    np.testing.assert_array_equal(bits(y), bits(expected))


@each_impl
def test_relu_keeps_nan(impl):
    x = np.array([[np.nan, -1.0, 2.0], [-np.inf, np.nan, -0.5]], np.float32)
    y = relu(x, impl)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    np.testing.assert_array_equal(y[~np.isnan(x)], [0.0, 2.0, 0.0, 0.0])


@given(x=float32_arrays)
def test_relu_matches_reference_bitwise(x):
    expected = reference.relu(x)
    np.testing.assert_array_equal(bits(expected), bits(expected_relu(x)))
    for impl in IMPLS:
        y = relu(x, impl)
        assert y.shape == x.shape and y.dtype == np.float32
        np.testing.assert_array_equal(bits(y), bits(expected), err_msg=impl)


@pytest.mark.parametrize("impl", NATIVE_IMPLS)
@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 31, 33, 1023, 4097, 1_000_003])
def test_relu_sizes_across_threads(impl, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    x[rng.integers(0, n, size=max(1, n // 100))] = np.nan
    x[0], x[-1] = -3.0, 5.0   # the ends of the array are written too
    y = relu(x, impl)
    np.testing.assert_array_equal(bits(y), bits(expected_relu(x)))


@each_impl
def test_relu_empty(impl):
    for shape in [(0,), (3, 0), (0, 2, 5), (2, 0, 3, 1)]:
        y = relu(np.empty(shape, np.float32), impl)
        assert y.shape == shape and y.dtype == np.float32


@each_impl
def test_relu_returns_a_new_array_and_leaves_input_alone(impl):
    x = np.array([[-1.0, 2.0, -0.0], [np.nan, -5.0, 3.0]], np.float32)
    before = x.copy()
    y = relu(x, impl)
    assert y is not x and not np.shares_memory(y, x)
    np.testing.assert_array_equal(bits(x), bits(before))
    y[...] = 7.0  # writing the result does not touch the input
    np.testing.assert_array_equal(bits(x), bits(before))


@each_impl
def test_relu_non_contiguous_input(impl):
    base = np.random.default_rng(1).standard_normal((6, 10, 4)).astype(np.float32)
    for view in [base[:, ::2], base.transpose(2, 0, 1), base[::-1, 3:, ::3]]:
        assert not view.flags.c_contiguous
        y = relu(view, impl)
        assert y.shape == view.shape
        np.testing.assert_array_equal(bits(y), bits(expected_relu(view)))


@each_impl
def test_relu_converts_float64_int_and_bool(impl):
    x64 = np.array([-1.5, 0.1, 1e300, -1e300, np.nan], np.float64)   # 1e300 -> inf in float32
    with np.errstate(over="ignore"):
        y = relu(x64, impl)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(bits(y), bits(np.array([0, 0.1, np.inf, 0, np.nan], np.float32)))
    y = relu(np.array([[-3, 0, 4], [7, -1, 2]], np.int64), impl)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0, 0, 4], [7, 0, 2]])
    np.testing.assert_array_equal(relu([True, False], impl), np.array([1.0, 0.0], np.float32))
    np.testing.assert_array_equal(relu([[1, -2], [-3, 4]], impl), [[1, 0], [0, 4]])


@each_impl
def test_zero_dimensional_input_keeps_its_shape(impl):
    """"Any shape" includes a scalar: the result is 0-D like the input, not (1,)."""
    for x, expected in [(np.float32(-2.5), 0.0), (np.array(3.0, np.float32), 3.0), (-1, 0.0)]:
        y = relu(x, impl)
        assert y.shape == (), (impl, y.shape)
        assert y == expected
    dx = relu_backward(np.float32(1.0), np.float32(4.0), impl)
    assert dx.shape == () and dx == 4.0


# ---- backward -----------------------------------------------------------------------------

@each_impl
def test_relu_backward_known_values(impl):
    y = np.array([2.0, 0.0, -0.0, np.nan, np.inf, 1e-45, 0.5, 0.0], np.float32)
    dy = np.array([3.0, 4.0, 5.0, 6.0, -7.0, 8.0, np.nan, np.nan], np.float32)
    dx = relu_backward(y, dy, impl)
    expected = np.array([3.0, 0.0, 0.0, 0.0, -7.0, 8.0, np.nan, 0.0], np.float32)
    np.testing.assert_array_equal(bits(dx), bits(expected))


@each_impl
def test_relu_derivative_at_zero_is_zero(impl):
    x = np.array([-1.0, -0.0, 0.0, 1.0], np.float32)
    dx = relu_backward(relu(x, impl), np.ones(4, np.float32), impl)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0, 1.0])


@st.composite
def backward_pairs(draw):
    shape = draw(shapes)
    y = draw(hnp.arrays(np.float32, shape, elements=float32s))
    dy = draw(hnp.arrays(np.float32, shape, elements=float32s))
    return y, dy


@given(pair=backward_pairs())
def test_relu_backward_matches_reference_bitwise(pair):
    y, dy = pair
    expected = np.where(np.asarray(y, np.float64) > 0, dy, np.float32(0)).astype(np.float32)
    np.testing.assert_array_equal(bits(reference.relu_backward(y, dy)), bits(expected))
    for impl in IMPLS:
        dx = relu_backward(y, dy, impl)
        assert dx.shape == y.shape and dx.dtype == np.float32
        np.testing.assert_array_equal(bits(dx), bits(expected), err_msg=impl)


@pytest.mark.parametrize("impl", NATIVE_IMPLS)
@pytest.mark.parametrize("n", [1, 9, 4097, 1_000_003])
def test_relu_backward_sizes_across_threads(impl, n):
    rng = np.random.default_rng(n)
    y = relu(rng.standard_normal(n).astype(np.float32), "numpy")
    dy = rng.standard_normal(n).astype(np.float32)
    dx = relu_backward(y, dy, impl)
    np.testing.assert_array_equal(bits(dx), bits(np.where(y > 0, dy, np.float32(0))))


@each_impl
def test_relu_backward_shapes_and_conversions(impl):
    base = np.random.default_rng(2).standard_normal((4, 6, 5)).astype(np.float32)
    y, dy = base[:, ::2], base[::-1, 1::2] * 3
    dx = relu_backward(y, dy, impl)
    np.testing.assert_array_equal(dx, np.where(y > 0, dy, 0).astype(np.float32))
    dx = relu_backward(np.array([1, 0, -2]), np.array([4.0, 5.0, 6.0], np.float64), impl)
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, [4.0, 0.0, 0.0])
    for shape in [(0,), (2, 0, 3)]:
        empty = np.empty(shape, np.float32)
        assert relu_backward(empty, empty, impl).shape == shape


@each_impl
def test_relu_backward_returns_a_new_array(impl):
    y = np.array([1.0, -1.0, 0.0, 2.0], np.float32)
    dy = np.array([5.0, 6.0, 7.0, 8.0], np.float32)
    y0, dy0 = y.copy(), dy.copy()
    dx = relu_backward(y, dy, impl)
    assert not np.shares_memory(dx, y) and not np.shares_memory(dx, dy)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(dy, dy0)


# ---- validation ---------------------------------------------------------------------------

@each_impl
def test_relu_backward_shape_mismatch_names_dy(impl):
    with pytest.raises(ValueError, match=r"dy.*\(2, 3\).*\(3, 2\)"):
        relu_backward(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), impl)
    with pytest.raises(ValueError, match="dy"):
        relu_backward(np.ones(4, np.float32), np.ones((1, 4), np.float32), impl)


@each_impl
def test_non_numeric_input_is_refused(impl):
    with pytest.raises(ValueError, match=r"relu: x"):
        relu(np.array(["a", "b"]), impl)
    with pytest.raises(ValueError, match=r"relu: x"):
        relu(np.array([1.0, None], dtype=object), impl)
    with pytest.raises(ValueError, match=r"relu: x"):
        relu(np.array([1 + 2j]), impl)
    with pytest.raises(ValueError, match=r"relu: x"):
        relu([[1.0, 2.0], [3.0]], impl)   # ragged
    with pytest.raises(ValueError, match=r"relu_backward: y"):
        relu_backward(np.array(["x"]), np.ones(1, np.float32), impl)
    with pytest.raises(ValueError, match=r"relu_backward: dy"):
        relu_backward(np.ones(1, np.float32), np.array(["x"]), impl)


@pytest.mark.parametrize("impl", ["Fast", "c", None, ""])
def test_unknown_impl_is_refused(impl):
    x = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="impl"):
        relu(x, impl)
    with pytest.raises(ValueError, match="impl"):
        relu_backward(x, x, impl)
