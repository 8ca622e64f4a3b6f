"""Every fast kernel where it really runs on several threads: at 2 threads it
agrees with float64 NumPy, and 1, 2 and 3 threads give the same bits, on each
SIMD path.

The kernel tests elsewhere mostly draw sizes below the point where a kernel
splits its work (``fastnn_threads_for``: a thread per ~2·10⁵ operations), so
a slip in how the work is cut -- a range that misses the last element, a
bias read at the wrong column in one path, a partial sum added twice --
passes them all.  The cases (tests/kernels/threaded_cases.py) are above that point,
with odd sizes, and reach every way each kernel cuts its work.

Bit-identical across thread counts is the contract for reductions too: a
sum is split into a number of parts fixed by the problem size, never by the
threads, so a model trains to the same weights on any machine.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import UpdateRule, conv2d_backward, matmul, reference
from fastnn.kernels.convolution import DIRECT_FEW_C
from fastnn.kernels.geometry import Window2D

from conftest import assert_matches, each_simd_path, seeds, simd_path, uniform
from threaded_cases import CASES, same_bits, update_state

THREAD_COUNTS = (1, 2, 3)
each_case = pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)


@pytest.fixture(autouse=True)
def threads_restored(restore_threads):
    """Every test sets thread counts; the fixture puts the count back after it."""
    yield


def set_threads(n):
    fastnn.set_num_threads(n)
    if fastnn.get_num_threads() != n:
        pytest.skip("built without OpenMP: the kernels run on one thread")


def on_each_thread_count(run):
    """{threads: run()} for 1, 2 and 3 threads."""
    results = {}
    for threads in THREAD_COUNTS:
        set_threads(threads)
        results[threads] = run()
    return results


def assert_same_bits_for_every_thread_count(results, what):
    differ = [t for t in THREAD_COUNTS[1:] if not same_bits(results[1], results[t])]
    assert not differ, f"{what}: {differ} threads give other bits than 1 thread"


@each_simd_path
@each_case
def test_two_threads_agree_with_float64(case, simd):
    set_threads(2)
    with simd_path(simd):
        case.check(case.run(), f" [{simd}, 2 threads]")


@each_simd_path
@each_case
def test_one_two_and_three_threads_give_the_same_bits(case, simd):
    with simd_path(simd):
        results = on_each_thread_count(case.run)
    case.check(results[3], f" [{simd}, 3 threads]")
    assert_same_bits_for_every_thread_count(results, f"{case.name} [{simd}]")


# ---- drawn sizes, all above the split thresholds -------------------------------------

def at_least(work, per_unit):
    """Units of ``per_unit`` operations that make ``work`` operations: enough
    for 3 threads when work is 6·10⁵ (fastnn_threads_for, csrc/runtime.c)."""
    return math.ceil(work / per_unit)


@st.composite
def products(draw):
    """Products big enough for 3 threads: C up to 80 x 80 with the reduction
    long enough for 6·10⁵ operations, so small C's split k and wide ones m or n."""
    m, n = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    k = draw(st.integers(at_least(6e5, 2 * m * n), at_least(6e5, 2 * m * n) + 3000))
    return dict(m=m, n=n, k=k, transpose_a=draw(st.booleans()),
                transpose_b=draw(st.booleans()), bias=draw(st.booleans()),
                relu=draw(st.booleans()), seed=draw(seeds))


@settings(max_examples=25)
@given(p=products())
def test_drawn_products_agree_with_float64_on_any_thread_count(p):
    rng = np.random.default_rng(p["seed"])
    m, n, k = p["m"], p["n"], p["k"]
    a = uniform(rng, (k, m) if p["transpose_a"] else (m, k))
    b = uniform(rng, (n, k) if p["transpose_b"] else (k, n))
    bias = uniform(rng, (n,)) if p["bias"] else None
    expected = reference.matmul(a.astype(np.float64), b.astype(np.float64),
                                p["transpose_a"], p["transpose_b"])
    if bias is not None:
        expected = expected + bias
    if p["relu"]:
        expected = np.maximum(expected, 0)
    results = on_each_thread_count(lambda: (matmul(
        a, b, p["transpose_a"], p["transpose_b"], bias,
        activation="relu" if p["relu"] else None),))
    for threads in THREAD_COUNTS:
        assert_matches(results[threads][0], expected, k + 1)
    assert_same_bits_for_every_thread_count(results, f"matmul {p}")


@settings(max_examples=15)
@given(size=st.integers(40_000, 250_000), seed=seeds,
       rule=st.sampled_from(["sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax"]))
def test_optimizers_update_every_weight_of_drawn_sizes(size, seed, rule):
    """The optimizer kernels split from 40,000 weights (10 operations each):
    every weight, the last one included, takes its step on any thread count."""
    update = UpdateRule(rule, **({"momentum": 0.9} if rule == "sgd" else {}))
    w, g, *slots = update_state(np.random.default_rng(seed), update, (size,))
    expected = [a.astype(np.float64) for a in (w, *slots)]
    reference.optimizer_update(rule, expected[0], g.astype(np.float64), expected[1:], 1e-3,
                               None, None, **update.settings)

    def step():
        state = [a.copy() for a in (w, *slots)]
        update.apply([state[0]], [g], [state[1:]], 1e-3)
        return tuple(state)

    results = on_each_thread_count(step)
    for threads in THREAD_COUNTS:
        for got, want in zip(results[threads], expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)
    assert results[2][0][-1] != w[-1], "the last weight did not move"
    assert_same_bits_for_every_thread_count(results, f"{rule}_update of {size} weights")


@st.composite
def first_layers(draw):
    """Convolutions on the direct kernels (direct_conv_takes: up to 7x7 on 1-4
    channels), batch big enough that the weight gradient's 2·pixels·(K + 1)·co
    operations need 3 threads."""
    in_c = draw(st.integers(1, DIRECT_FEW_C))
    k_h = draw(st.integers(1, 7))
    k_w = draw(st.integers(1, 7))
    size = (draw(st.integers(k_h + 2, 30)), draw(st.integers(k_w + 2, 30)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    out_c = draw(st.integers(1, 40))
    win = Window2D.over(*size, (k_h, k_w), strides, padding)
    per_image = 2 * win.out_h * win.out_w * (k_h * k_w * in_c + 1) * out_c
    batch = draw(st.integers(at_least(6e5, per_image), at_least(6e5, per_image) + 4))
    return dict(shape=(batch, *size, in_c), kernel=(k_h, k_w, in_c, out_c),
                strides=strides, padding=padding, seed=draw(seeds))


@settings(max_examples=25)
@given(c=first_layers())
def test_drawn_first_layer_gradients_agree_with_float64_on_any_thread_count(c):
    rng = np.random.default_rng(c["seed"])
    x, w = uniform(rng, c["shape"]), uniform(rng, c["kernel"])
    args = (c["strides"], c["padding"])
    dy = uniform(rng, reference.conv2d(x, w, None, *args).shape)
    expected = reference.conv2d_backward(x.astype(np.float64), w.astype(np.float64),
                                         dy.astype(np.float64), *args)
    results = on_each_thread_count(lambda: conv2d_backward(x, w, dy, *args))
    pixels = math.prod(dy.shape[:3])
    for threads in THREAD_COUNTS:
        dx, dw, db = results[threads]
        assert_matches(dx, expected[0], c["kernel"][0] * c["kernel"][1] * c["kernel"][3])
        assert_matches(dw, expected[1], pixels)
        assert_matches(db, expected[2], pixels)
    assert_same_bits_for_every_thread_count(results, f"conv2d_backward {c}")
