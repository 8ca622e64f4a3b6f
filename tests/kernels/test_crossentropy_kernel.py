"""The sparse crossentropy kernel (csrc/crossentropy.c): the loss and the
gradient through the softmax, against the formula, NumPy and finite differences."""
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.activations import softmax
from fastnn.kernels import sparse_crossentropy

EPS = 1e-7


def softmax_rows(rng, rows, classes, spread=3.0):
    return softmax(rng.normal(0, spread, (rows, classes))).astype(np.float32)


@given(rows=st.integers(1, 300), classes=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       scale=st.floats(-10, 10, allow_nan=False))
@settings(max_examples=80, deadline=None)
def test_c_matches_numpy(rows, classes, seed, scale):
    rng = np.random.default_rng(seed)
    p, labels = softmax_rows(rng, rows, classes), rng.integers(0, classes, rows)
    losses, dz = sparse_crossentropy(p, labels, scale)
    ref_losses, ref_dz = sparse_crossentropy(p, labels, scale, impl="numpy")
    assert losses.dtype == np.float64 and dz.dtype == np.float32 and dz.shape == p.shape
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-12)
    np.testing.assert_allclose(dz, ref_dz, rtol=1e-6, atol=1e-6 * abs(scale))


def test_the_formula_on_a_worked_example():
    # chapter 6: a cat picture (class 0) scored 0.7 cat / 0.2 dog / 0.1 ship costs -log 0.7
    p = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]], np.float32)
    losses, dz = sparse_crossentropy(p, np.array([0, 2]), gradient_scale=0.5)
    np.testing.assert_allclose(losses, [-math.log(0.7), -math.log(0.5)], rtol=1e-7)
    np.testing.assert_allclose(dz, 0.5 * (p - np.array([[1, 0, 0], [0, 0, 1]])), rtol=1e-6)


def test_rows_that_do_not_sum_to_one_are_renormalised_and_clipped():
    p = np.array([[2.0, 2.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
    losses, _ = sparse_crossentropy(p, np.array([0, 0, 0]))
    np.testing.assert_allclose(losses, [math.log(2), -math.log(EPS), -math.log(1 - EPS)],
                               rtol=1e-9)


def test_gradient_is_the_derivative_through_softmax():
    # d/dz of s · Σ_i −log softmax(z_i)[label_i], central differences in float64
    rng = np.random.default_rng(3)
    z, labels, scale = rng.normal(size=(5, 4)), rng.integers(0, 4, 5), 0.2

    def total(logits):
        return scale * sparse_crossentropy(softmax(logits), labels, impl="numpy")[0].sum()

    _, dz = sparse_crossentropy(softmax(z).astype(np.float32), labels, scale)
    numeric = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[index] = 1e-6
        numeric[index] = (total(z + step) - total(z - step)) / 2e-6
    np.testing.assert_allclose(dz, numeric, atol=2e-6)


def test_nan_probabilities_give_a_nan_loss():
    p = np.array([[np.nan, 0.5], [0.5, 0.5]], np.float32)
    losses, dz = sparse_crossentropy(p, np.array([1, 1]), 1.0)
    assert math.isnan(losses[0]) and losses[1] == pytest.approx(math.log(2))
    assert np.isnan(dz[0, 0])


@pytest.mark.parametrize("impl", ["fast", "numpy"])
@pytest.mark.parametrize("labels, bad", [([0, 3, 1], "got 3 (row 1)"), ([-1, 0, 0], "got -1 (row 0)"),
                                         ([0, 1, 2**40], "got 1099511627776 (row 2)")])
def test_labels_outside_the_classes_are_refused(impl, labels, bad):
    p = np.full((3, 3), 1 / 3, np.float32)
    with pytest.raises(ValueError, match=re.escape(f"sparse_crossentropy: labels must be in 0..2, {bad}")):
        sparse_crossentropy(p, np.array(labels), 1.0, impl=impl)


@pytest.mark.parametrize("call, message", [
    (lambda p: sparse_crossentropy(p, np.array([0.0, 1.0])), "labels must be integers, got dtype float64"),
    (lambda p: sparse_crossentropy(p, np.array([0, 1, 0])), r"labels must have shape \(2,\)"),
    (lambda p: sparse_crossentropy(p[0], np.array([0])), "p must be 2-D"),
    (lambda p: sparse_crossentropy(p, np.array([0, 1]), math.inf), "gradient_scale must be a finite"),
    (lambda p: sparse_crossentropy(p, np.array([0, 1]), epsilon=0.5), r"epsilon must be a number in \[0, 0.5\)"),
    (lambda p: sparse_crossentropy(p, np.array([0, 1]), impl="naive"), "impl must be 'fast' or 'numpy'"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.full((2, 2), 0.5, np.float32))


def test_empty_and_classless_inputs():
    losses, dz = sparse_crossentropy(np.zeros((0, 3), np.float32), np.zeros(0, int), 1.0)
    assert losses.shape == (0,) and dz.shape == (0, 3)
    with pytest.raises(ValueError, match="labels must be in 0..-1"):
        sparse_crossentropy(np.zeros((2, 0), np.float32), np.zeros(2, int))


def test_strided_and_narrow_inputs_equal_contiguous_ones():
    rng = np.random.default_rng(5)
    p, labels = softmax_rows(rng, 8, 5), rng.integers(0, 5, 16).astype(np.uint8)
    wide = np.repeat(p, 2, axis=1)[:, ::2]
    expected = sparse_crossentropy(p, labels[::2].astype(np.int64), 1.0)
    for got in (sparse_crossentropy(wide, labels[::2], 1.0),
                sparse_crossentropy(p.astype(np.float64), labels[::2], 1.0)):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
