"""The dropout kernel (csrc/dropout.c): one mask for every impl, thread count and SIMD path,
kept with the right probability, and its own backward pass."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import dropout
from fastnn.layers import Dropout

from conftest import each_impl, each_simd_path, simd_path


@given(size=st.integers(0, 5000), keep=st.floats(0.01, 1.0), seed=st.integers(0, 2**64 - 1))
@settings(max_examples=60, deadline=None)
def test_fast_naive_and_numpy_give_one_mask(size, keep, seed):
    x = np.random.default_rng(size).standard_normal(size).astype(np.float32)
    results = [dropout(x, keep, seed, impl=impl) for impl in ("fast", "naive", "numpy")]
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
    kept = results[0] != 0
    np.testing.assert_array_equal(results[0][kept], x[kept] * np.float32(1 / np.float32(keep)))


@each_impl
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.8])
def test_keeps_the_right_fraction(impl, keep):
    n = 200_000
    kept = np.count_nonzero(dropout(np.ones(n, np.float32), keep, 12345, impl=impl))
    # a binomial count: within 5 standard deviations of n·keep
    assert abs(kept - n * keep) < 5 * math.sqrt(n * keep * (1 - keep))


def test_the_mask_has_no_visible_pattern():
    # neighbours are independent: each of the four (kept, kept-next) pairs
    # appears about a quarter of the time at keep 0.5, and other seeds give
    # other masks
    n = 400_000
    kept = dropout(np.ones(n, np.float32), 0.5, 7) != 0
    pairs = np.bincount(2 * kept[:-1] + kept[1:], minlength=4)
    assert np.all(np.abs(pairs - n / 4) < 5 * math.sqrt(n / 4))
    other = dropout(np.ones(n, np.float32), 0.5, 8) != 0
    assert abs(np.count_nonzero(kept == other) - n / 2) < 5 * math.sqrt(n / 4)


def test_keep_one_keeps_everything():
    x = np.arange(1, 101, dtype=np.float32)
    np.testing.assert_array_equal(dropout(x, 1.0, 3), x)


@each_simd_path
def test_simd_paths_and_thread_counts_agree(simd, restore_threads):
    x = np.random.default_rng(1).standard_normal((64, 40, 50)).astype(np.float32)
    expected = dropout(x, 0.6, 99, impl="numpy")
    with simd_path(simd):
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            np.testing.assert_array_equal(dropout(x, 0.6, 99), expected)


def test_the_same_seed_on_the_gradient_is_the_backward_pass():
    x = np.random.default_rng(2).standard_normal((8, 30)).astype(np.float32)
    dy = np.random.default_rng(3).standard_normal((8, 30)).astype(np.float32)
    y = dropout(x, 0.7, 5)
    dx = dropout(dy, 0.7, 5)
    np.testing.assert_array_equal(dx != 0, y != 0)
    np.testing.assert_array_equal(dx[dx != 0], dy[dx != 0] * (np.float32(1) / np.float32(0.7)))


def test_dropout_layer_backward_reuses_the_forward_mask_without_storing_it():
    layer = Dropout(0.3, seed=4)
    x = np.random.default_rng(5).standard_normal((16, 12)).astype(np.float32) + 3
    y = layer(x, training=True)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx != 0, y != 0)
    np.testing.assert_allclose(y[y != 0], x[y != 0] / 0.7, rtol=1e-6)
    assert layer._mask is None


@pytest.mark.parametrize("keep, seed, message", [
    (0.0, 1, "keep_prob must be a number in \\(0, 1\\]"),
    (1.5, 1, "keep_prob"), (float("nan"), 1, "keep_prob"),
    (0.5, -1, "seed must be an int in \\[0, 2\\*\\*64\\)"), (0.5, 2**64, "seed"),
    (0.5, 1.5, "seed")])
def test_bad_arguments_are_refused(keep, seed, message):
    with pytest.raises(ValueError, match=message):
        dropout(np.ones(3, np.float32), keep, seed)
