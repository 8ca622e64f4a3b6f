"""The Adam kernel (csrc/optimizer.c) against its NumPy reference and the formula."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.kernels import adam_update, adam_update_many

HYPER = dict(beta_1=0.9, beta_2=0.999, alpha=1e-3, epsilon=1e-7)


def state(shape, seed):
    rng = np.random.default_rng(seed)
    w, g = rng.normal(size=shape), rng.normal(size=shape)
    m, v = 0.1 * rng.normal(size=shape), rng.uniform(0, 0.01, shape)
    return [a.astype(np.float32) for a in (w, g, m, v)]


def formula(w, g, m, v, beta_1, beta_2, alpha, epsilon):
    """The update in float64, written out as in the Adam paper."""
    w, g, m, v = (a.astype(np.float64) for a in (w, g, m, v))
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    return w - alpha * m / (np.sqrt(v) + epsilon), m, v


@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
@given(size=st.integers(0, 3000), seed=st.integers(0, 2**16), steps=st.integers(1, 3))
@settings(max_examples=40, deadline=None)
def test_matches_the_formula(impl, size, seed, steps):
    w, g, m, v = state((size,), seed)
    expected = (w, m, v)
    for _ in range(steps):
        expected = formula(expected[0], g, expected[1], expected[2], **HYPER)
        adam_update(w, g, m, v, **HYPER, impl=impl)
    # float32 rounding, amplified where beta_1·m and (1 - beta_1)·g nearly
    # cancel: an absolute tolerance on the O(1) scale of the terms
    for got, want in zip((w, m, v), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


def test_fast_and_naive_agree_with_numpy_on_a_layer_sized_array():
    arrays = {impl: state((1600, 128), 3) for impl in ("fast", "naive", "numpy")}
    for impl, (w, g, m, v) in arrays.items():
        adam_update(w, g, m, v, **HYPER, impl=impl)
    for impl in ("fast", "naive"):
        for got, want in zip(arrays[impl], arrays["numpy"]):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_a_zero_gradient_only_decays_the_averages():
    w, g, m, v = state((50,), 4)
    g[:] = 0
    w0, m0, v0 = w.copy(), m.copy(), v.copy()
    adam_update(w, g, m, v, **HYPER)
    np.testing.assert_allclose(m, 0.9 * m0, rtol=1e-6)
    np.testing.assert_allclose(v, 0.999 * v0, rtol=1e-6)
    np.testing.assert_allclose(w, w0 - 1e-3 * m / (np.sqrt(v) + 1e-7), rtol=1e-6)


@pytest.mark.parametrize("bad", ["float64", "strided", "readonly"])
def test_in_place_arrays_must_be_float32_contiguous_and_writeable(bad):
    w, g, m, v = state((8, 6), 5)
    if bad == "float64":
        w = w.astype(np.float64)
    elif bad == "strided":
        w = np.zeros((8, 12), np.float32)[:, ::2]
    else:
        w.flags.writeable = False
    with pytest.raises(ValueError, match="adam_update: w must be a writeable C-contiguous"):
        adam_update(w, g, m, v, **HYPER)


@pytest.mark.parametrize("change, message", [
    (dict(beta_1=1.0), "beta_1"), (dict(beta_2=-0.1), "beta_2"),
    (dict(epsilon=0.0), "epsilon"), (dict(alpha=float("nan")), "alpha"),
])
def test_bad_hyperparameters_are_refused(change, message):
    w, g, m, v = state((4,), 6)
    with pytest.raises(ValueError, match=message):
        adam_update(w, g, m, v, **{**HYPER, **change})


def test_shapes_must_match():
    w, g, m, v = state((4, 3), 7)
    with pytest.raises(ValueError, match="m must have the shape of w"):
        adam_update(w, g, m.reshape(3, 4), v, **HYPER)
    with pytest.raises(ValueError, match="g must have the shape of w"):
        adam_update(w, g[:2], m, v, **HYPER)


@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
def test_many_arrays_in_one_call_equal_one_call_each(impl):
    shapes = [(3, 16), (16,), (0,), (16, 32), (32,), (5, 5, 1, 4)]
    together = [state(shape, seed) for seed, shape in enumerate(shapes)]
    alone = [[a.copy() for a in arrays] for arrays in together]
    adam_update_many(*zip(*together), **HYPER, impl=impl)
    for arrays in alone:
        adam_update(*arrays, **HYPER, impl=impl)
    for got, want in zip(together, alone):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(together[0][0], state(shapes[0], 0)[0])  # w did move


def test_many_arrays_are_checked_before_any_update():
    (w1, g1, m1, v1), (w2, g2, m2, v2) = state((4,), 1), state((6,), 2)
    before = w1.copy()
    with pytest.raises(ValueError, match="lists of one length"):
        adam_update_many([w1, w2], [g1], [m1, m2], [v1, v2], **HYPER)
    with pytest.raises(ValueError, match=r"g must have the shape of w \(6,\)"):
        adam_update_many([w1, w2], [g1, g1], [m1, m2], [v1, v2], **HYPER)
    with pytest.raises(ValueError, match="v must be a writeable C-contiguous float32"):
        adam_update_many([w1, w2], [g1, g2], [m1, m2], [v1, v2.astype(np.float64)], **HYPER)
    np.testing.assert_array_equal(w1, before)
