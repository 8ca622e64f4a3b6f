"""Max and average pooling, forward and backward: every impl against the reference.

The reference is checked independently: forward against plain loops,
backward against finite differences (max on inputs with distinct values,
where it is differentiable), and ties and "same" averages by hand.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings

import fastnn
from fastnn.kernels import (activation, activation_backward, avg_pool2d,
                            avg_pool2d_backward, dropout, max_pool2d, max_pool2d_backward,
                            reference)

from conftest import (IMPLS, NATIVE_IMPLS, PoolCase, assert_matches, each_impl,
                      each_simd_path, f64, numerical_gradient, output_length, pad_before,
                      pool_cases, simd_path)

FORWARD = {"max": max_pool2d, "avg": avg_pool2d}
BACKWARD = {"max": max_pool2d_backward, "avg": avg_pool2d_backward}
modes = pytest.mark.parametrize("mode", ["max", "avg"])


def window_terms(case):
    return case.pool_size[0] * case.pool_size[1]


def check_forward(mode, case, impl):
    x, _ = case.arrays()
    y = FORWARD[mode](x, **case.kwargs, impl=impl)
    expected = getattr(reference, f"{mode}_pool2d")(f64(x), **case.kwargs)
    assert expected.shape == case.out_shape
    assert_matches(y, expected, window_terms(case))


def check_backward(mode, case, impl):
    x, dy = case.arrays()
    dx = BACKWARD[mode](x, dy, **case.kwargs, impl=impl)
    expected = getattr(reference, f"{mode}_pool2d_backward")(f64(x), f64(dy), **case.kwargs)
    assert_matches(dx, expected, window_terms(case))


@each_impl
@modes
@given(case=pool_cases())
def test_forward_matches_reference(impl, mode, case):
    check_forward(mode, case, impl)


@each_impl
@modes
@given(case=pool_cases())
def test_backward_matches_reference(impl, mode, case):
    check_backward(mode, case, impl)


# Channel counts around the 8-wide vector blocks, and batches big enough for
# the fast kernels to use two threads.
FIXED = {
    "channels-8": PoolCase(2, 9, 7, 8, (3, 2), None, "same", 1),
    "channels-17": PoolCase(2, 9, 7, 17, (2, 3), (1, 2), "same", 2),
    "channels-70": PoolCase(3, 12, 12, 70, (3, 3), (2, 2), "valid", 3),
    "threads-overlapping": PoolCase(8, 32, 32, 33, (3, 3), (1, 1), "same", 4),
    "threads-gaps": PoolCase(9, 33, 31, 24, (2, 2), (3, 3), "valid", 5),
    "pool-larger-than-input": PoolCase(2, 2, 3, 5, (4, 4), (1, 2), "same", 6),
    # fewer than 8 channels: one vector per pixel whose lanes spill into the
    # next pixel, a scalar tail at each row's end (odd widths leave an
    # uncovered column that a spill must not reach)
    "lenet-6-channels": PoolCase(4, 28, 28, 6, (2, 2), None, "valid", 7),
    "channels-3-odd-width": PoolCase(3, 9, 11, 3, (2, 2), None, "valid", 8),
    "channels-1-same": PoolCase(2, 7, 13, 1, (2, 3), None, "same", 9),
    "channels-5-overlapping": PoolCase(2, 8, 9, 5, (3, 3), (1, 2), "valid", 10),
    "channels-7-gaps": PoolCase(2, 9, 14, 7, (2, 2), (3, 3), "same", 11),
}


@each_impl
@modes
@pytest.mark.parametrize("name", FIXED)
def test_fixed_cases(impl, mode, name):
    check_forward(mode, FIXED[name], impl)
    check_backward(mode, FIXED[name], impl)


@each_simd_path
@modes
@given(case=pool_cases())
def test_fast_simd_paths(simd, mode, case):
    with simd_path(simd):
        check_forward(mode, case, "fast")
        check_backward(mode, case, "fast")


@each_simd_path
@modes
def test_fast_simd_paths_fixed_cases(simd, mode):
    with simd_path(simd):
        for case in FIXED.values():
            check_forward(mode, case, "fast")
            check_backward(mode, case, "fast")


@pytest.mark.parametrize("impl", NATIVE_IMPLS)
@modes
def test_one_and_two_threads_agree(impl, mode, restore_threads):
    x, dy = FIXED["threads-overlapping"].arrays()
    kwargs = FIXED["threads-overlapping"].kwargs
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        results.append((FORWARD[mode](x, **kwargs, impl=impl),
                        BACKWARD[mode](x, dy, **kwargs, impl=impl)))
    for one, two in zip(*results):
        np.testing.assert_allclose(one, two, rtol=1e-6, atol=1e-6)


# ---- the reference, checked independently -----------------------------------

def pool_loops(mode, x, pool_size, strides, padding):
    """Pooling as plain loops over each window's in-bounds values."""
    (p_h, p_w), (s_h, s_w) = pool_size, strides or pool_size
    n, in_h, in_w, c = x.shape
    out_h, top = output_length(in_h, p_h, s_h, padding), pad_before(in_h, p_h, s_h, padding)
    out_w, left = output_length(in_w, p_w, s_w, padding), pad_before(in_w, p_w, s_w, padding)
    y = np.zeros((n, out_h, out_w, c))
    for i, oh, ow, ch in itertools.product(range(n), range(out_h), range(out_w), range(c)):
        values = [x[i, h, v, ch]
                  for h in range(oh * s_h - top, oh * s_h - top + p_h)
                  for v in range(ow * s_w - left, ow * s_w - left + p_w)
                  if 0 <= h < in_h and 0 <= v < in_w]
        y[i, oh, ow, ch] = max(values) if mode == "max" else sum(values) / len(values)
    return y


@modes
@given(case=pool_cases(max_batch=2, max_extra=5, max_channels=3))
def test_reference_forward_matches_loops(mode, case):
    x = f64(case.arrays()[0])
    expected = pool_loops(mode, x, case.pool_size, case.strides, case.padding)
    actual = getattr(reference, f"{mode}_pool2d")(x, **case.kwargs)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


@modes
@settings(max_examples=20)
@given(case=pool_cases(max_batch=2, max_extra=4, max_channels=2))
def test_reference_backward_matches_finite_differences(mode, case):
    x, dy = map(f64, case.arrays(distinct=True))
    forward = getattr(reference, f"{mode}_pool2d")
    backward = getattr(reference, f"{mode}_pool2d_backward")
    numeric = numerical_gradient(lambda v: float(np.sum(forward(v, **case.kwargs) * dy)), x)
    np.testing.assert_allclose(backward(x, dy, **case.kwargs), numeric, atol=1e-7)


# ---- ties and "same" averages, by hand -----------------------------------------

def nhwc(rows):
    return np.array(rows, np.float32)[None, :, :, None]


@each_impl
def test_max_ties_go_to_first_in_row_major_order(impl):
    x = nhwc([[1, 5, 5],
              [5, 5, 2],
              [5, 0, 5]])
    dy = nhwc([[1, 10],
               [100, 1000]])
    dx = max_pool2d_backward(x, dy, pool_size=2, strides=1, impl=impl)
    # windows at (0,0), (0,1), (1,0), (1,1); first 5 in each: (0,1), (0,1), (1,0), (1,1)
    expected = nhwc([[0, 11, 0],
                     [100, 1000, 0],
                     [0, 0, 0]])
    np.testing.assert_array_equal(dx, expected)
    np.testing.assert_array_equal(max_pool2d(x, 2, 1, impl=impl), nhwc([[5, 5], [5, 5]]))


@each_impl
def test_max_ties_with_many_channels_and_negative_values_under_same_padding(impl):
    """All-equal negative windows: padding never wins, the first in-bounds value does."""
    check_same_padding_ties(impl)


@each_simd_path
def test_max_ties_on_both_simd_paths(simd):
    with simd_path(simd):
        check_same_padding_ties("fast")


def check_same_padding_ties(impl):
    x = np.full((2, 3, 3, 19), -4.0, np.float32)
    dy = np.arange(1, 2 * 3 * 3 * 19 + 1, dtype=np.float32).reshape(2, 3, 3, 19)
    y = max_pool2d(x, pool_size=3, strides=1, padding="same", impl=impl)
    np.testing.assert_array_equal(y, x)
    dx = max_pool2d_backward(x, dy, pool_size=3, strides=1, padding="same", impl=impl)
    # window (oh, ow) covers rows oh-1..oh+1: its first in-bounds pixel is
    # (max(oh-1, 0), max(ow-1, 0)).
    expected = np.zeros_like(dy)
    for oh, ow in itertools.product(range(3), range(3)):
        expected[:, max(oh - 1, 0), max(ow - 1, 0)] += dy[:, oh, ow]
    np.testing.assert_array_equal(dx, expected)


@each_impl
def test_avg_same_divides_by_in_bounds_count(impl):
    x = nhwc([[1, 2, 3],
              [4, 5, 6],
              [7, 8, 9]])
    # 2x2 pool, stride 2: pad 0 top/left, 1 bottom/right.
    y = avg_pool2d(x, pool_size=2, padding="same", impl=impl)
    np.testing.assert_allclose(y, nhwc([[3, 4.5], [7.5, 9]]), rtol=1e-6)
    # 3x3 pool, stride 1: pad 1 on every side; the corner window sees 1, 2, 4, 5.
    y = avg_pool2d(x, pool_size=3, strides=1, padding="same", impl=impl)
    assert y.shape == (1, 3, 3, 1)
    np.testing.assert_allclose(y[0, 0, 0, 0], 3.0, rtol=1e-6)
    np.testing.assert_allclose(y[0, 0, 1, 0], 21 / 6, rtol=1e-6)
    np.testing.assert_allclose(y[0, 1, 1, 0], 5.0, rtol=1e-6)


@each_impl
def test_avg_same_backward_by_hand(impl):
    x = np.zeros((1, 3, 3, 1), np.float32)
    dx = avg_pool2d_backward(x, np.ones((1, 3, 3, 1)), pool_size=3, strides=1,
                             padding="same", impl=impl)
    # the corner is in the windows (0,0) of 4 values, (0,1) and (1,0) of 6, (1,1) of 9.
    np.testing.assert_allclose(dx[0, 0, 0, 0], 1 / 4 + 2 / 6 + 1 / 9, rtol=1e-6)
    # total gradient = number of windows
    np.testing.assert_allclose(dx.sum(), 9.0, rtol=1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_strides_default_to_pool_size(impl):
    x = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
    y = max_pool2d(x, pool_size=(3, 2), impl=impl)
    np.testing.assert_array_equal(y[0, :, :, 0], [[13, 15, 17], [31, 33, 35]])


# ---- max pool backward through the ReLU below it --------------------------------------------

@each_impl
@given(case=pool_cases())
def test_through_relu_is_relu_backward_of_the_pool_gradient(impl, case):
    """On a ReLU's output x (zeros included, so some windows peak at 0 and some
    have ties at 0), through_relu=True gives relu_backward(x, dx) in one pass."""
    x, dy = case.arrays()
    x = np.maximum(x, 0)
    expected = reference.relu_backward(
        f64(x), reference.max_pool2d_backward(f64(x), f64(dy), **case.kwargs))
    dx = max_pool2d_backward(x, dy, **case.kwargs, impl=impl, through_relu=True)
    assert_matches(dx, expected, window_terms(case))


@each_simd_path
@pytest.mark.parametrize("name", sorted(FIXED))
def test_through_relu_fixed_cases_on_both_simd_paths(simd, name):
    case = FIXED[name]
    x, dy = case.arrays()
    x = np.maximum(x, 0)
    expected = reference.relu_backward(x, max_pool2d_backward(x, dy, **case.kwargs))
    with simd_path(simd):
        np.testing.assert_array_equal(
            max_pool2d_backward(x, dy, **case.kwargs, through_relu=True), expected)


# ---- backward through any activation below the pool ------------------------------------------

THROUGH = {"tanh": None, "sigmoid": None, "elu": 0.7, "leaky_relu": 0.1, "softsign": None,
           "hard_sigmoid": None, "relu": None}


def activation_output(name, x, alpha):
    """x put through the activation (relu included): what a Conv2D below the pool outputs."""
    return np.maximum(x, 0) if name == "relu" else activation(name, x, alpha)


def expected_through(mode, name, x, dy, alpha, kwargs):
    """f'(x) * pool_backward(x, dy) in float64, f' from the activation's output x."""
    dx = getattr(reference, f"{mode}_pool2d_backward")(f64(x), f64(dy), **kwargs)
    if name == "relu":
        return reference.relu_backward(f64(x), dx)
    return reference.activation_backward(name, f64(x), dx, alpha)


@each_impl
@modes
@pytest.mark.parametrize("name", sorted(THROUGH))
@settings(max_examples=15)
@given(case=pool_cases())
def test_through_activation_is_its_backward_of_the_pool_gradient(impl, mode, name, case):
    x, dy = case.arrays()
    x = activation_output(name, x, THROUGH[name])
    dx = BACKWARD[mode](x, dy, **case.kwargs, impl=impl, through=name, alpha=THROUGH[name])
    assert_matches(dx, expected_through(mode, name, x, dy, THROUGH[name], case.kwargs),
                   window_terms(case))


@each_impl
@modes
@pytest.mark.parametrize("name", sorted(FIXED))
def test_through_tanh_fixed_cases(impl, mode, name):
    case = FIXED[name]
    x, dy = case.arrays()
    x = np.tanh(x)
    dx = BACKWARD[mode](x, dy, **case.kwargs, impl=impl, through="tanh")
    assert_matches(dx, expected_through(mode, "tanh", x, dy, None, case.kwargs),
                   window_terms(case))


@each_simd_path
@modes
@pytest.mark.parametrize("name", ["tanh", "elu", "relu"])
def test_through_activation_equals_the_two_passes_on_each_simd_path(simd, mode, name):
    """Fused, on one SIMD path, is bit for bit the pool's backward followed by
    the activation's (the same C arithmetic, image by image)."""
    with simd_path(simd):
        for case in FIXED.values():
            x, dy = case.arrays()
            x = activation_output(name, x, THROUGH[name])
            dx = BACKWARD[mode](x, dy, **case.kwargs)
            two_passes = (reference.relu_backward(x, dx) if name == "relu" else
                          activation_backward(name, x, dx, THROUGH[name]))
            np.testing.assert_array_equal(
                BACKWARD[mode](x, dy, **case.kwargs, through=name, alpha=THROUGH[name]),
                two_passes)


@pytest.mark.parametrize("through, message", [
    ("silu", "through must be None, 'relu' or one of 'tanh', .*, got 'silu': silu's backward "
             "pass reads the activation's input z, and (max|avg)_pool2d_backward keeps only its "
             "output"),
    ("swish", "through must be None, 'relu' or one of 'tanh', .*, got 'swish'$"),
    (3, "through must be None, 'relu' or one of 'tanh', .*, got 3$"),
])
def test_through_must_name_an_activation_that_reads_its_output(through, message):
    x, dy = np.ones((1, 2, 2, 1), np.float32), np.ones((1, 1, 1, 1), np.float32)
    for backward in BACKWARD.values():
        with pytest.raises(ValueError, match=message):
            backward(x, dy, through=through)


def test_through_relu_and_another_through_contradict():
    x, dy = np.ones((1, 2, 2, 1), np.float32), np.ones((1, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match="through_relu=True says through='relu', got "
                                         "through='tanh' as well"):
        max_pool2d_backward(x, dy, through_relu=True, through="tanh")


def test_through_relu_must_be_a_bool():
    x = np.ones((1, 2, 2, 1), np.float32)
    with pytest.raises(ValueError, match="through_relu must be True or False, got 1"):
        max_pool2d_backward(x, np.ones((1, 1, 1, 1), np.float32), through_relu=1)


# ---- a dropout folded into the pool ---------------------------------------------------------

KEEP, SEED = 0.7, 2**40 + 12345   # a seed with both 32-bit halves non-zero


def dropped(y, keep=KEEP, seed=SEED):
    """Inverted dropout of y with the kernels' mask, in float64: y / keep where
    the documented hash of (seed, index) keeps the element, else 0."""
    return np.where(reference.dropout_keep(y.size, keep, seed).reshape(y.shape),
                    f64(y) / keep, 0.0)


@each_impl
@modes
@pytest.mark.parametrize("name", sorted(FIXED))
def test_dropout_folded_into_the_pool_matches_the_reference(impl, mode, name):
    """Forward: dropout(pool(x)); backward: pool_backward(x, dropout(dy)),
    dy being the gradient at the dropout's output."""
    case = FIXED[name]
    x, dy = case.arrays()
    y = FORWARD[mode](x, **case.kwargs, impl=impl, dropout=(KEEP, SEED))
    pooled = getattr(reference, f"{mode}_pool2d")(f64(x), **case.kwargs)
    assert_matches(y, dropped(pooled), window_terms(case))
    assert 0 < np.count_nonzero(y) < y.size or y.size < 8
    dx = BACKWARD[mode](x, dy, **case.kwargs, impl=impl, dropout=(KEEP, SEED))
    expected = getattr(reference, f"{mode}_pool2d_backward")(f64(x), dropped(dy), **case.kwargs)
    assert_matches(dx, expected, window_terms(case))


@each_simd_path
@modes
@pytest.mark.parametrize("through", [None, "relu", "tanh"])
def test_dropout_folded_into_the_pool_is_the_dropout_kernel_bit_for_bit(simd, mode, through):
    """Fused, on one SIMD path, gives the bits of the dropout kernel run before
    (backward) or after (forward) the pool: the same mask, the same rounding.
    The fixed cases reach every way the pool cuts a pixel's channels (whole
    vectors, an overlapping last one, one spilling past a pixel, scalar tails)."""
    with simd_path(simd):
        for case in FIXED.values():
            x, dy = case.arrays()
            x = x if through is None else activation_output(through, x, None)
            np.testing.assert_array_equal(
                FORWARD[mode](x, **case.kwargs, dropout=(KEEP, SEED)),
                dropout(FORWARD[mode](x, **case.kwargs), KEEP, SEED))
            np.testing.assert_array_equal(
                BACKWARD[mode](x, dy, **case.kwargs, through=through, dropout=(KEEP, SEED)),
                BACKWARD[mode](x, dropout(dy, KEEP, SEED), **case.kwargs, through=through))


@pytest.mark.parametrize("bad, message", [
    (0.5, r"dropout must be None or a pair \(keep_prob, seed\), got 0.5"),
    ((0.5, 1, 2), r"dropout must be None or a pair \(keep_prob, seed\), got \(0.5, 1, 2\)"),
    ((0.0, 1), r"keep_prob must be a number in \(0, 1\], got 0.0"),
    ((0.5, -1), r"seed must be an int in \[0, 2\*\*64\), got -1"),
])
@modes
def test_dropout_must_be_a_keep_probability_and_a_seed(mode, bad, message):
    x = np.ones((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match=f"{mode}_pool2d: " + message):
        FORWARD[mode](x, dropout=bad)
    with pytest.raises(ValueError, match=f"{mode}_pool2d_backward: " + message):
        BACKWARD[mode](x, np.ones((1, 2, 2, 2), np.float32), dropout=bad)
