"""matmul with few columns (n <= 16: csrc/gemm_skinny.c), against float64 NumPy.

A classifier head's x · W (n = 10 units) and its weight gradient xᵀ · dy run
on their own kernels: dot products along k for a row-major A (tiles of 3
rows x 4 columns, a vector of partial sums per dot product, then the k %
width leftovers), column tiles for a transposed A (2 vectors of rows x 6
columns; a partial last block of rows copied into a zero-padded buffer).
The path takes products whose A has at least 2^16 values (and, row-major,
rows of at least 512); the shapes below do, and reach every edge of the tiles
on every SIMD path: n of 1, 7, 10, 16 (the last one the path takes) and 17
(the first it leaves to the blocked engine); k odd and far from a multiple of
a vector's width; m of 1, 63, 128 and 129 (a single row, a partial and a full
last block of rows).  1/2/3-thread bit identity of the same paths is in
threaded_cases.py (its "skinny" cases).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.kernels import matmul, reference

from conftest import assert_matches, each_simd_path, seeds, simd_path, uniform

NS = [1, 7, 10, 16, 17]
# (m, k): for x·W (dot tiles) and for xᵀ·dy (column tiles; k is the batch there)
DOT_SHAPES = [(1, 65537), (63, 3137), (128, 1025), (129, 3137)]
COLUMN_SHAPES = [(1, 65537), (63, 1041), (128, 513), (129, 1025), (3137, 33), (1001, 101)]


def operands(m, n, k, transpose_a, transpose_b, seed):
    """(a, b, bias) stored as matmul expects them, and op(a) @ op(b) + bias in float64."""
    rng = np.random.default_rng(seed)
    a = uniform(rng, (k, m) if transpose_a else (m, k))
    b = uniform(rng, (n, k) if transpose_b else (k, n))
    bias = uniform(rng, n)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = (a64.T if transpose_a else a64) @ (b64.T if transpose_b else b64) + bias
    return a, b, bias, expected


@each_simd_path
@pytest.mark.parametrize("transpose_a", [False, True], ids=["x.W", "xT.dy"])
@pytest.mark.parametrize("n", NS)
def test_every_edge_of_the_tiles_matches_float64(simd, transpose_a, n):
    with simd_path(simd):
        for m, k in COLUMN_SHAPES if transpose_a else DOT_SHAPES:
            a, b, bias, expected = operands(m, n, k, transpose_a, False, seed=m * n + k)
            assert_matches(matmul(a, b, transpose_a, bias=bias), expected, k + 1)


@each_simd_path
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("transpose_a,transpose_b", [(False, False), (False, True), (True, True)])
def test_epilogue_on_every_row(simd, activation, transpose_a, transpose_b):
    """bias + activation in the kernel, on a head's shape (a partial last
    block of rows and a partial last column tile)."""
    with simd_path(simd):
        a, b, bias, expected = operands(129, 10, 3137, transpose_a, transpose_b, seed=7)
        c = matmul(a, b, transpose_a, transpose_b, bias=bias, activation=activation)
        np.testing.assert_allclose(c, reference.epilogue(activation, expected, None),
                                   rtol=1e-4, atol=1e-5 * np.sqrt(3138))


@each_simd_path
@given(m=st.integers(1, 140), n=st.integers(1, 17), extra_k=st.integers(0, 300),
       transpose_a=st.booleans(), transpose_b=st.booleans(), seed=seeds)
@settings(max_examples=25)
def test_drawn_skinny_products_match_float64(simd, m, n, extra_k, transpose_a, transpose_b,
                                             seed):
    k = max(-(-2**16 // m), 512) + extra_k  # A big enough for the path
    with simd_path(simd):
        a, b, bias, expected = operands(m, n, k, transpose_a, transpose_b, seed)
        assert_matches(matmul(a, b, transpose_a, transpose_b, bias=bias), expected, k + 1)
