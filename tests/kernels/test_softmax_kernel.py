"""The softmax kernel (csrc/softmax.c): every impl against float64 NumPy,
stability, NaN, thread counts, shapes."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import activations
from fastnn.kernels import softmax

from conftest import each_impl, seeds


def softmax_64(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@each_impl
@given(rows=st.integers(1, 60), classes=st.integers(1, 50), spread=st.floats(0.1, 30),
       seed=seeds)
def test_matches_float64(impl, rows, classes, spread, seed):
    x = np.random.default_rng(seed).normal(0, spread, (rows, classes)).astype(np.float32)
    y = softmax(x, impl=impl)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, softmax_64(x), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


@each_impl
def test_large_logits_do_not_overflow_and_nan_rows_stay_nan(impl):
    x = np.array([[1000, 1000], [1000, 0], [-1000, -1000], [np.nan, 0], [np.inf, 0]],
                 np.float32)
    with np.errstate(invalid="ignore"):   # NumPy warns on inf - inf
        y = softmax(x, impl=impl)
    np.testing.assert_array_equal(y[:3], [[0.5, 0.5], [1, 0], [0.5, 0.5]])
    assert np.isnan(y[3:]).all()   # NaN everywhere in the row, as NumPy gives


def test_one_and_two_threads_agree_on_many_rows(restore_threads):
    x = np.random.default_rng(2).normal(0, 3, (20000, 10)).astype(np.float32)
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        results.append(softmax(x))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], softmax_64(x), rtol=2e-6, atol=1e-7)


@each_impl
def test_last_axis_of_any_shape_and_strided_input(impl):
    x = np.random.default_rng(3).normal(size=(2, 3, 6, 4)).astype(np.float32)
    view = x[:, :, ::2]
    np.testing.assert_allclose(softmax(view, impl=impl), softmax_64(view), rtol=2e-6)
    np.testing.assert_allclose(softmax(x[0, 0, 0], impl=impl), softmax_64(x[0, 0, 0]),
                               rtol=2e-6)
    assert softmax(np.zeros((0, 3), np.float32), impl=impl).shape == (0, 3)


def test_scalar_is_refused():
    with pytest.raises(ValueError, match="softmax: x must have at least one axis"):
        softmax(np.float32(1.0))


def test_the_activation_uses_the_kernel_for_float32_and_numpy_otherwise():
    x = np.random.default_rng(4).normal(size=(5, 3))
    np.testing.assert_array_equal(activations.softmax(x.astype(np.float32)),
                                  softmax(x.astype(np.float32)))
    assert activations.softmax(x).dtype == np.float64           # float64 stays float64
    np.testing.assert_allclose(activations.softmax(x, axis=0), softmax_64(x.T).T)
