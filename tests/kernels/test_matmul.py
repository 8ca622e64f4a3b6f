"""matmul: every impl against a float64 product computed here with NumPy."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import matmul

from conftest import assert_matches, each_impl, each_simd_path, seeds, simd_path, uniform

transposes = pytest.mark.parametrize("transpose_a,transpose_b",
                                     [(False, False), (False, True), (True, False), (True, True)])


def operands(m, n, k, transpose_a, transpose_b, seed=0):
    """(a, b) stored as matmul expects them, and op(a) @ op(b) in float64."""
    rng = np.random.default_rng(seed)
    a = uniform(rng, (k, m) if transpose_a else (m, k))
    b = uniform(rng, (n, k) if transpose_b else (k, n))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = (a64.T if transpose_a else a64) @ (b64.T if transpose_b else b64)
    return a, b, expected


@each_impl
@transposes
@given(m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(1, 70), seed=seeds)
def test_matches_float64_product(impl, transpose_a, transpose_b, m, n, k, seed):
    a, b, expected = operands(m, n, k, transpose_a, transpose_b, seed)
    c = matmul(a, b, transpose_a, transpose_b, impl=impl)
    assert_matches(c, expected, k)
    assert c.flags.c_contiguous


# Shapes crossing the C blocking: tiles of MR x NR = 6 x 16 (avx2, generic) or
# 16 x 16 (avx512), KC=256, MC=144.  (16, 16, 256) is one full avx512 tile,
# (33, 31, 511) a full one beside partial ones in both directions.  The last
# three are big enough for two threads, split along m, along n, and along k
# (a small C over a long reduction, like a convolution's weight gradient).
BLOCK_SHAPES = [(145, 33, 257), (6, 16, 256), (16, 16, 256), (7, 17, 513), (33, 31, 511),
                (144, 1, 300), (1, 200, 260), (290, 47, 5), (13, 400, 31), (150, 40, 300),
                (5, 333, 300), (20, 30, 1100)]


@each_impl
@transposes
@pytest.mark.parametrize("m,n,k", BLOCK_SHAPES)
def test_shapes_crossing_block_sizes(impl, transpose_a, transpose_b, m, n, k):
    a, b, expected = operands(m, n, k, transpose_a, transpose_b, seed=m * n * k)
    assert_matches(matmul(a, b, transpose_a, transpose_b, impl=impl), expected, k)


@each_simd_path
@transposes
def test_fast_simd_paths(simd, transpose_a, transpose_b):
    with simd_path(simd):
        for m, n, k in BLOCK_SHAPES:
            a, b, expected = operands(m, n, k, transpose_a, transpose_b, seed=m + n + k)
            assert_matches(matmul(a, b, transpose_a, transpose_b), expected, k)


@each_impl
@transposes
def test_empty_reduction_gives_zeros(impl, transpose_a, transpose_b):
    a = np.ones((0, 3) if transpose_a else (3, 0), np.float32)
    b = np.ones((4, 0) if transpose_b else (0, 4), np.float32)
    c = matmul(a, b, transpose_a, transpose_b, impl=impl)
    assert c.dtype == np.float32 and c.shape == (3, 4)
    assert np.array_equal(c, np.zeros((3, 4)))


@each_impl
def test_empty_rows_or_columns(impl):
    assert matmul(np.ones((0, 5)), np.ones((5, 4)), impl=impl).shape == (0, 4)
    assert matmul(np.ones((3, 5)), np.ones((5, 0)), impl=impl).shape == (3, 0)


def _layouts(a):
    """Each layout: (the argument passed, the float32 values it holds)."""
    rng = np.random.default_rng(1)
    big = np.empty((a.shape[0] * 2, a.shape[1] * 3), np.float32)
    big[::2, ::3] = a
    ints = rng.integers(-5, 6, a.shape)
    return {
        "strided": (big[::2, ::3], a),
        "fortran": (np.asfortranarray(a), a),
        "reversed": (np.flipud(np.flipud(a).copy()), a),
        "float64": (a.astype(np.float64), a),
        "int": (ints, ints.astype(np.float32)),
        "nested-list": (a.tolist(), a),
    }


@each_impl
@pytest.mark.parametrize("layout", ["strided", "fortran", "reversed", "float64",
                                    "int", "nested-list"])
def test_any_input_layout_gives_the_right_answer(impl, layout):
    rng = np.random.default_rng(2)
    a_plain, b_plain = uniform(rng, (23, 37)), uniform(rng, (37, 19))
    a, a_values = _layouts(a_plain)[layout]
    b, b_values = _layouts(b_plain)[layout]
    expected = a_values.astype(np.float64) @ b_values.astype(np.float64)
    c = matmul(a, b, impl=impl)
    assert_matches(c, expected, 37)
    assert c.flags.c_contiguous


@each_impl
def test_inputs_are_not_modified(impl):
    rng = np.random.default_rng(3)
    a, b = uniform(rng, (20, 30)), uniform(rng, (30, 10))
    a_copy, b_copy = a.copy(), b.copy()
    matmul(a, b, impl=impl)
    assert np.array_equal(a, a_copy) and np.array_equal(b, b_copy)


@each_simd_path
@transposes
def test_thread_counts_give_the_same_bits(simd, transpose_a, transpose_b, restore_threads):
    """On each path, 1, 2 and 3 threads compute C bit for bit alike: split along
    m (with partial tiles in both directions), along n, and along k."""
    with simd_path(simd):
        for m, n, k in [(300, 200, 290), (161, 47, 513), (5, 333, 300), (20, 30, 1100)]:
            a, b, expected = operands(m, n, k, transpose_a, transpose_b, seed=4)
            bias = uniform(np.random.default_rng(5), (n,))
            results = []
            for threads in (1, 2, 3):
                fastnn.set_num_threads(threads)
                results.append(matmul(a, b, transpose_a, transpose_b, bias=bias))
            assert_matches(results[0], expected + bias.astype(np.float64), k + 1)
            for c in results[1:]:
                np.testing.assert_array_equal(c, results[0])


@each_impl
@transposes
@given(m=st.integers(1, 40), n=st.integers(1, 40), k=st.integers(0, 40), seed=seeds)
def test_bias_is_added_to_every_row(impl, transpose_a, transpose_b, m, n, k, seed):
    a, b, expected = operands(m, n, k, transpose_a, transpose_b, seed)
    bias = uniform(np.random.default_rng(seed + 1), (n,))
    c = matmul(a, b, transpose_a, transpose_b, bias=bias, impl=impl)
    assert_matches(c, expected + bias.astype(np.float64), k + 1)


def test_bias_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\).*got \(4,\)"):
        matmul(np.ones((2, 5)), np.ones((5, 3)), bias=np.ones(4))
