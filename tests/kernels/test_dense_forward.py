"""dense_forward and the team of a Dense layer's passes (csrc/dense.c):
every impl against float64 NumPy, bad arguments, the thread rule, and that
a small layer's passes wake no second thread and leave no cap behind."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import dense_backward, dense_forward, dense_threads, matmul, reference
from fastnn.kernels._native import native

from conftest import assert_matches, each_impl, seeds, uniform

ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "elu"]


@each_impl
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("bias", [False, True])
@given(m=st.integers(1, 40), k=st.integers(1, 40), n=st.integers(1, 40), seed=seeds)
def test_matches_float64(impl, activation, bias, m, k, n, seed):
    rng = np.random.default_rng(seed)
    x, w, b = uniform(rng, (m, k)), uniform(rng, (k, n)), uniform(rng, (n,))
    z = x.astype(np.float64) @ w + (b if bias else 0.0)
    expected = reference.epilogue(activation, z, 1.0)   # elu's alpha, Keras's default
    y = dense_forward(x, w, b if bias else None, activation, impl=impl)
    assert y.dtype == np.float32 and y.shape == (m, n)
    assert_matches(y, expected, k + bias)


@pytest.mark.parametrize("shape", [(64, 512, 10), (64, 120, 84), (129, 1001, 97)])
def test_same_bits_as_matmul(shape, restore_threads):
    """The same product as matmul's, whatever team either takes."""
    m, k, n = shape
    rng = np.random.default_rng(1)
    x, w, b = uniform(rng, (m, k)), uniform(rng, (k, n)), uniform(rng, (n,))
    for threads in (1, 2, 3):
        fastnn.set_num_threads(threads)
        np.testing.assert_array_equal(dense_forward(x, w, b, "tanh"),
                                      matmul(x, w, bias=b, activation="tanh"))


@each_impl
@pytest.mark.parametrize("m, k", [(0, 3), (4, 0)])
def test_empty_inputs(impl, m, k):
    """No rows give no rows; no features give the bias (an empty sum)."""
    b = np.array([0.5, -2.0], np.float32)
    y = dense_forward(np.zeros((m, k), np.float32), np.ones((k, 2), np.float32), b, "relu",
                      impl=impl)
    np.testing.assert_array_equal(y, np.tile([0.5, 0.0], (m, 1)).astype(np.float32))


@pytest.mark.parametrize("args, message", [
    (((4, 3), (2, 5)), r"w has 2 rows but x has 3 features"),
    (((4, 3), (3, 5), (4,)), r"b must have shape \(5,\), got \(4,\)"),
    (((4, 3, 1), (3, 5)), r"x must be 2-D"),
])
def test_mismatched_shapes_are_named(args, message):
    arrays = [np.ones(shape, np.float32) for shape in args]
    with pytest.raises(ValueError, match="dense_forward: " + message):
        dense_forward(*arrays)


def test_softmax_is_refused():
    ones = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="dense_forward: activation must be None, 'relu' or "
                                         "one of .* got 'softmax': softmax mixes a row"):
        dense_forward(ones, ones, activation="softmax")


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("m, k, n", [(64, 512, 10), (64, 400, 120), (32, 784, 128),
                                     (64, 512, 256), (128, 784, 128), (128, 1024, 512),
                                     (1, 1, 1)])
def test_one_thread_per_eight_million_operations(threads, m, k, n, restore_threads):
    fastnn.set_num_threads(threads)
    if fastnn.get_num_threads() != threads:
        pytest.skip("built without OpenMP: the kernels run on one thread")
    expected = min(max(1, 2 * m * k * n // 8_000_000), threads)
    assert dense_threads(m, k, n) == expected


def test_passes_put_back_the_callers_cap(restore_threads):
    """After a small layer's passes (one thread), other kernels decide their
    teams as before: the cap is lifted again."""
    fastnn.set_num_threads(3)
    if fastnn.get_num_threads() != 3:
        pytest.skip("built without OpenMP: the kernels run on one thread")
    assert native.threads_for(1e12) == 3
    rng = np.random.default_rng(2)
    x, w, dy = uniform(rng, (8, 16)), uniform(rng, (16, 4)), uniform(rng, (8, 4))
    dense_forward(x, w, activation="relu")
    assert native.threads_for(1e12) == 3, "dense_forward left its cap of 1 thread behind"
    dense_backward(x, w, dy, np.maximum(x @ w, 0))
    assert native.threads_for(1e12) == 3, "dense_backward left its cap of 1 thread behind"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_small_layer_wakes_no_second_thread(restore_threads):
    """A head of 10 units on a batch of 64 (0.66 MFLOP: the general rule,
    fastnn_threads_for, would give it 2 threads) runs on one: no parallel
    region with a team ever starts.  Seen from outside through fork: a child
    forked before any team ran keeps all its threads (csrc/runtime.c)."""
    if not native.openmp_enabled():
        pytest.skip("built without OpenMP: there are no teams")
    fastnn.set_num_threads(2)
    assert native.threads_for(2 * 64 * 512 * 10) == 2
    script = textwrap.dedent("""
        import os, sys, numpy as np, fastnn
        from fastnn.kernels import dense_backward, dense_forward
        fastnn.set_num_threads(2)
        rng = np.random.default_rng(0)
        x, w = rng.random((64, 512), np.float32), rng.random((512, 10), np.float32)
        y = dense_forward(x, w, np.zeros(10, np.float32), "relu")
        dense_backward(x, w, y, y)
        child = os.fork()
        if child == 0:
            os._exit(fastnn.get_num_threads())
        print(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
    """)
    root = str(Path(fastnn.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2", "a team of threads ran for a small Dense layer"
