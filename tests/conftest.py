"""Shared helpers for the tests: hypothesis profile, strategies, oracles, fixtures.

The folders mirror the package (tests/kernels/ for fastnn/kernels and csrc/,
tests/layers/ for fastnn/layers, ...); tests of a top-level module, and those
that cut across the package (bad input, determinism, threads, faults), stay
at the top.  Tests that drive the C kernels carry the ``native`` marker --
every test under kernels/, layers/ and optimizers/ (given below), and the
modules elsewhere that say ``pytestmark = pytest.mark.native`` --, and
``make sanitize`` runs exactly those (``pytest -m native``) on the build with
AddressSanitizer and UBSan.

Random test data is uniform in [-1, 1] (drawn from a NumPy generator seeded
by hypothesis), so a sum of K products has rounding error of order
sqrt(K) * float32 epsilon: ``assert_matches`` scales its tolerance that way.
Expected values are always computed in float64 from the same float32 inputs.
"""
import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# derandomize: every run tries the same examples, so a green suite stays green (CI) and
# a failure found once is found again; new examples come from changing the tests.
settings.register_profile(
    "fastnn", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fastnn")

IMPLS = ("fast", "naive", "numpy")
NATIVE_IMPLS = ("fast", "naive")
each_impl = pytest.mark.parametrize("impl", IMPLS)

RTOL = 1e-4
ATOL_PER_SQRT_TERM = 1e-5

seeds = st.integers(0, 2**32 - 1)
paddings = st.sampled_from(["valid", "same"])


# ---- comparing results ------------------------------------------------------

def assert_matches(actual, expected, reduction):
    """A kernel's float32 result equals the float64 ``expected``.

    ``reduction`` is how many terms of size <= 1 each output sums, which
    scales the absolute tolerance (rtol 1e-4, atol 1e-5 * sqrt(reduction)).
    """
    assert isinstance(actual, np.ndarray)
    assert actual.dtype == np.float32, actual.dtype
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=RTOL,
                               atol=ATOL_PER_SQRT_TERM * math.sqrt(max(reduction, 1)))


def f64(array):
    return None if array is None else np.asarray(array, np.float64)


def uniform(rng, shape):
    return rng.uniform(-1.0, 1.0, shape).astype(np.float32)


def numerical_gradient(loss, array, eps=1e-4):
    """Central finite differences of the scalar ``loss(array)`` (float64)."""
    array = np.array(array, np.float64)
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        up = loss(array)
        flat[i] = original - eps
        down = loss(array)
        flat[i] = original
        flat_grad[i] = (up - down) / (2 * eps)
    return grad


def output_length(size, kernel, stride, padding):
    """Keras: valid floor((size - kernel) / stride) + 1, same ceil(size / stride)."""
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def pad_before(size, kernel, stride, padding):
    """Zeros before the first row/column: pad_total // 2, where for "same"
    pad_total = max((ceil(size / stride) - 1) * stride + kernel - size, 0)."""
    if padding == "valid":
        return 0
    out = output_length(size, kernel, stride, padding)
    return max((out - 1) * stride + kernel - size, 0) // 2


# ---- strategies --------------------------------------------------------------

def pairs(low, high):
    return st.tuples(st.integers(low, high), st.integers(low, high))


@dataclass(frozen=True)
class ConvCase:
    batch: int
    in_h: int
    in_w: int
    in_c: int
    k_h: int
    k_w: int
    out_c: int
    strides: Tuple[int, int]
    padding: str
    bias: bool
    seed: int

    @property
    def out_shape(self):
        return (self.batch,
                output_length(self.in_h, self.k_h, self.strides[0], self.padding),
                output_length(self.in_w, self.k_w, self.strides[1], self.padding),
                self.out_c)

    def arrays(self):
        """float32 (x, w, b or None, dy) for this case."""
        rng = np.random.default_rng(self.seed)
        x = uniform(rng, (self.batch, self.in_h, self.in_w, self.in_c))
        w = uniform(rng, (self.k_h, self.k_w, self.in_c, self.out_c))
        b = uniform(rng, (self.out_c,)) if self.bias else None
        dy = uniform(rng, self.out_shape)
        return x, w, b, dy


@st.composite
def conv_cases(draw, max_batch=5, max_size=12, max_channels=20, max_stride=3):
    """Convolutions with kernels from 1x1 up to the input size (one more for "same")."""
    padding = draw(paddings)
    in_h, in_w = draw(pairs(1, max_size))
    extra = 1 if padding == "same" else 0
    k_h = draw(st.integers(1, in_h + extra))
    k_w = draw(st.integers(1, in_w + extra))
    return ConvCase(
        batch=draw(st.integers(1, max_batch)), in_h=in_h, in_w=in_w,
        in_c=draw(st.integers(1, max_channels)), k_h=k_h, k_w=k_w,
        out_c=draw(st.integers(1, max_channels)),
        strides=draw(pairs(1, max_stride)), padding=padding,
        bias=draw(st.booleans()), seed=draw(seeds))


@dataclass(frozen=True)
class PoolCase:
    batch: int
    in_h: int
    in_w: int
    channels: int
    pool_size: Tuple[int, int]
    strides: Optional[Tuple[int, int]]
    padding: str
    seed: int

    @property
    def out_shape(self):
        strides = self.pool_size if self.strides is None else self.strides
        return (self.batch,
                output_length(self.in_h, self.pool_size[0], strides[0], self.padding),
                output_length(self.in_w, self.pool_size[1], strides[1], self.padding),
                self.channels)

    @property
    def kwargs(self):
        return {"pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}

    def arrays(self, distinct=False):
        """float32 (x, dy); with ``distinct`` x has no two equal values (gap >= 0.01)."""
        rng = np.random.default_rng(self.seed)
        shape = (self.batch, self.in_h, self.in_w, self.channels)
        if distinct:
            x = (rng.permutation(math.prod(shape)).reshape(shape) * 0.01 - 1.0)
            x = x.astype(np.float32)
        else:
            x = uniform(rng, shape)
        return x, uniform(rng, self.out_shape)


@st.composite
def pool_cases(draw, max_batch=3, max_extra=8, max_channels=20):
    """Pooling windows 1..4 (non-square), strides None or 1..3, valid or same."""
    padding = draw(paddings)
    pool_size = draw(pairs(1, 4))
    low = pool_size if padding == "valid" else (1, 1)
    in_h = draw(st.integers(low[0], low[0] + max_extra))
    in_w = draw(st.integers(low[1], low[1] + max_extra))
    return PoolCase(
        batch=draw(st.integers(1, max_batch)), in_h=in_h, in_w=in_w,
        channels=draw(st.integers(1, max_channels)), pool_size=pool_size,
        strides=draw(st.none() | pairs(1, 3)), padding=padding, seed=draw(seeds))


# ---- markers -------------------------------------------------------------------

NATIVE_FOLDERS = ("kernels", "layers", "optimizers")


def pytest_collection_modifyitems(items):
    """Every test in a folder of NATIVE_FOLDERS drives the C kernels: mark it ``native``."""
    here = Path(__file__).resolve().parent
    for item in items:
        folder = Path(str(item.fspath)).resolve().relative_to(here).parts[0]
        if folder in NATIVE_FOLDERS:
            item.add_marker(pytest.mark.native)


# ---- fixtures ------------------------------------------------------------------

@contextlib.contextmanager
def simd_path(name):
    """Run the fast kernels on the "avx512", "avx2" or "generic" code path, then restore
    (skips the test on a CPU that cannot run it)."""
    from fastnn.runtime import get_simd_path, set_simd_path

    before = get_simd_path()
    try:
        set_simd_path(name)
    except ValueError:
        pytest.skip(f"this CPU cannot run the {name} path")
    try:
        assert get_simd_path() == name
        yield
    finally:
        set_simd_path(before)


each_simd_path = pytest.mark.parametrize("simd", ["avx512", "avx2", "generic"])


@pytest.fixture
def restore_threads():
    """Puts the thread count back to what it was before the test."""
    import fastnn

    before = fastnn.get_num_threads()
    yield before
    fastnn.set_num_threads(before)


@pytest.fixture
def fresh_session():
    """As in a fresh Python session: layer names start over, fixed seed."""
    from fastnn import backend
    from fastnn.utils import set_random_seed

    backend.clear_session()
    set_random_seed(0)
    yield
    backend.clear_session()
