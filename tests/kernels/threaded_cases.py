"""Every fast kernel on fixed inputs big enough that it splits its work between threads.

The kernels hand a thread work only from about 2·10⁵ scalar operations on
(``fastnn_threads_for`` in csrc/runtime.c); below that everything runs on
one thread and a bug in how the work is cut never shows.  Each case here is
sized above that line, usually by a factor of 3 or more so that 3 threads
really are 3, with odd sizes (batch 7, 27x27 images, 17 or 33 channels,
100,001 weights) so that no range comes out even, and reaches a particular
way of cutting the work: the matrix product cuts rows (split-m), columns
(split-n) or, for a short wide product over a long sum, the sum itself
(split-K, ``k > 2 · threads · max(m, n)`` in csrc/gemm.c); a convolution
runs on the direct kernels (short patches, or long ones on few channels:
``direct_conv_takes``), the indirect GEMM or col2im; and so on, as each case's comment says.

A case is its float32 inputs (from a fixed seed), the fast kernel on them
and the same computation in float64 NumPy with a tolerance per output.  Two
test files use it: tests/kernels/test_threaded_kernels.py (thread counts and SIMD
paths in process) and tests/kernels/test_openmp_teams.py, which runs this file as a
script in a fresh process under OpenMP settings that grant smaller teams::

    python tests/kernels/threaded_cases.py OUT.npz

computes every case twice at 2 threads on each SIMD path and saves the
results (``result_key`` names them).
"""
import math
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Tuple

import numpy as np

import fastnn
from fastnn import kernels
from fastnn.kernels import reference
from fastnn.kernels.activation import DEFAULT_ALPHA
from fastnn.kernels.geometry import Window2D
from fastnn.runtime import get_simd_path, runnable_simd_paths, set_simd_path

@dataclass(frozen=True)
class Tolerance:
    """``assert_allclose``'s rtol and atol for one output."""
    rtol: float
    atol: float


def summing(terms):
    """Each output sums ``terms`` products of values in [-1, 1]: float32
    rounding grows like sqrt(terms) (as ``conftest.assert_matches``)."""
    return Tolerance(1e-4, 1e-5 * math.sqrt(max(terms, 1)))


EXACTISH = Tolerance(1e-6, 1e-7)   # one rounding to float32, no sum


@dataclass(frozen=True)
class Case:
    """One kernel call: ``fast(**inputs)`` and its float64 ``expected(**inputs)``,
    tuples of arrays (None where the kernel was told to skip an output)."""
    name: str
    make: Callable[[np.random.Generator], dict]
    fast: Callable[..., tuple]
    expected: Callable[..., tuple]
    tolerances: Tuple[Tolerance, ...]
    float64_outputs: Tuple[int, ...] = ()   # the rest are float32

    @cached_property
    def inputs(self):
        """The float32 inputs, drawn once from a generator seeded with 0."""
        return self.make(np.random.default_rng(0))

    @cached_property
    def reference(self):
        """The float64 outputs, computed once from the inputs in float64."""
        return self.expected(**{k: f64(v) for k, v in self.inputs.items()})

    def run(self):
        """The fast kernel on this case's inputs (kernels that update in
        place get copies, so every run starts from the same state)."""
        return self.fast(**self.inputs)

    def check(self, outputs, context=""):
        """``outputs`` (a ``run``'s) agree with the float64 reference: the
        same outputs skipped, float32 where computed, within tolerance."""
        expected = self.reference
        assert len(outputs) == len(expected)
        for i, (got, want, tol) in enumerate(zip(outputs, expected, self.tolerances)):
            what = f"{self.name}{context}: output {i}"
            if want is None:
                assert got is None, f"{what} was asked to be skipped, got an array"
                continue
            assert isinstance(got, np.ndarray), f"{what}: got {type(got).__name__}"
            dtype = np.float64 if i in self.float64_outputs else np.float32
            assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {dtype.__name__}"
            np.testing.assert_allclose(got, want, rtol=tol.rtol, atol=tol.atol, err_msg=what)


def same_bits(first, second):
    """Two runs' outputs hold the same bits (NaN included), output by output."""
    return len(first) == len(second) and all(
        (a is None and b is None) or (a is not None and b is not None and a.dtype == b.dtype
                                      and a.shape == b.shape and a.tobytes() == b.tobytes())
        for a, b in zip(first, second))


def f64(value):
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        return value.astype(np.float64)
    if isinstance(value, list):
        return [f64(v) for v in value]
    return value


def uniform(rng, *shape):
    return rng.uniform(-1.0, 1.0, shape).astype(np.float32)


def relu_output(rng, *shape):
    """A ReLU's output: about half zeros, the rest in (0, 1]."""
    return np.maximum(uniform(rng, *shape), np.float32(0))


# ---- matmul -----------------------------------------------------------------

def matmul_case(name, m, n, k, transpose_a=False, transpose_b=False, bias=False,
                activation=None):
    def make(rng):
        return dict(a=uniform(rng, *((k, m) if transpose_a else (m, k))),
                    b=uniform(rng, *((n, k) if transpose_b else (k, n))),
                    bias=uniform(rng, n) if bias else None)

    def fast(a, b, bias):
        return (kernels.matmul(a, b, transpose_a, transpose_b, bias, activation=activation),)

    def expected(a, b, bias):
        c = reference.matmul(a, b, transpose_a, transpose_b)
        c = c if bias is None else c + bias
        return (reference.epilogue(activation, c, None),)

    return Case(f"matmul {name} {m}x{k}.{k}x{n}" + "T" * transpose_a + "t" * transpose_b
                + " +bias" * bias + f" {activation or ''}".rstrip(),
                make, fast, expected, (summing(k + bias),))


MATMUL = [
    # split-m with a small B (at most 64K floats packed: gemm_small_b in
    # csrc/gemm.c): runs of row panels handed out as the threads come, each
    # summed over every slice of the reduction, B packed panel by panel into
    # each thread's copy.  51 row panels of 6; 256^3 (one slice, 16 panels of
    # B); 1000 rows (runs longer than MC = 144) over 600 (slices of 256, 256,
    # 88: the bias on the first, the ReLU on the last) into 3 column panels,
    # the last partial.
    matmul_case("split-m small B", 301, 37, 129, bias=True, activation="relu"),
    matmul_case("split-m small B", 301, 37, 129, transpose_a=True, transpose_b=True),
    matmul_case("split-m small B", 256, 256, 256, bias=True),
    matmul_case("split-m small B", 1000, 40, 600, bias=True, activation="relu"),
    matmul_case("split-m small B", 1000, 40, 600, transpose_a=True, transpose_b=True),
    # split-m with a B too big for that (272 x 300): one even range of rows per thread
    matmul_case("split-m", 400, 272, 300, bias=True, activation="relu"),
    # split-n: 2 row panels only, 21 column panels of 16
    matmul_case("split-n", 7, 333, 201, transpose_b=True, bias=True),
    matmul_case("split-n", 7, 333, 201, transpose_a=True),
    # split-K: the course MLP's output layer on flat 28x28 images (784 > 2·2·32; A too
    # small for the skinny kernels), and 17 columns, one more than they take
    matmul_case("split-K", 32, 10, 784, bias=True),
    matmul_case("split-K", 17, 17, 4001, transpose_b=True, bias=True, activation="relu"),
    # skinny (n <= 16, csrc/gemm_skinny.c), rows cut between threads: dot
    # tiles of 3 rows (43 blocks, the last partial; a single row), column
    # tiles of 2 vectors of rows (the last block partial on every path)
    matmul_case("skinny", 129, 10, 3137, bias=True, activation="tanh"),
    matmul_case("skinny", 128, 16, 1001, transpose_b=True, bias=True, activation="relu"),
    matmul_case("skinny", 1, 7, 100_001, bias=True),
    matmul_case("skinny", 1001, 10, 129, transpose_a=True, bias=True),
    matmul_case("skinny", 3137, 1, 130, transpose_a=True, transpose_b=True),
    matmul_case("skinny", 17, 5, 4001, transpose_b=True, bias=True, activation="relu"),
    # split-K over a whole data set: 60000 products per output
    matmul_case("split-K", 64, 64, 60000, bias=True),
    matmul_case("split-K", 64, 64, 60000, transpose_a=True),
]


# ---- a Dense layer's passes --------------------------------------------------------
# Both split only from 8·10⁶ floating-point operations of the product a thread
# (csrc/dense.c: fastnn_dense_threads), so every case has 2·m·k·n > 24·10⁶:
# 3 threads really are 3.

def dense_forward_case(name, m, k, n, bias=True, activation=None):
    def make(rng):
        return dict(x=uniform(rng, m, k), w=uniform(rng, k, n),
                    b=uniform(rng, n) if bias else None)

    def fast(x, w, b):
        return (kernels.dense_forward(x, w, b, activation),)

    def expected(x, w, b):
        y = x @ w if b is None else x @ w + b
        return (reference.epilogue(activation, y, None),)

    return Case(f"dense_forward {name} x {m}x{k} w {k}x{n}" + " +bias" * bias
                + f" {activation or ''}".rstrip(), make, fast, expected, (summing(k + bias),))


def dense_case(name, m, k, n, activation=None, compute_dx=True):
    """activation: None, "relu" (y a ReLU's output) or "sigmoid" (y in (0, 1))."""
    def make(rng):
        y = {None: lambda: None, "relu": lambda: relu_output(rng, m, n),
             "sigmoid": lambda: (uniform(rng, m, n) + 1) / 2}[activation]()
        return dict(x=uniform(rng, m, k), w=uniform(rng, k, n), dy=uniform(rng, m, n), y=y)

    def fast(x, w, dy, y):
        return kernels.dense_backward(x, w, dy, y, compute_dx=compute_dx,
                                      activation=activation or "relu")

    def expected(x, w, dy, y):
        dx, dw, db = reference.dense_backward(x, w, dy, y, activation or "relu")
        return (dx if compute_dx else None), dw, db

    return Case(f"dense_backward {name} x {m}x{k} w {k}x{n}" + f" {activation}" * bool(activation)
                + " no-dx" * (not compute_dx), make, fast, expected,
                (summing(n), summing(m), summing(m)))


DENSE = [
    # a hidden layer (the blocked engine) and a classifier head (the skinny dot tiles)
    dense_forward_case("hidden", 129, 1001, 97, activation="tanh"),
    dense_forward_case("head", 1601, 784, 10, activation="relu"),
    dense_forward_case("no bias", 131, 777, 129, bias=False),
    # the course MLP's first layer at batch 128: dW (784 x 128) split by rows, dx by columns
    dense_case("course", 128, 784, 128, activation="relu"),
    # a sigmoid layer: sigmoid's derivative y(1 - y) from y
    dense_case("sigmoid", 131, 777, 129, activation="sigmoid"),
    # dW = x^T.dy is 41 x 10 over 30001 rows: the skinny column tiles
    dense_case("skinny dW", 30001, 41, 10),
    dense_case("output layer", 1537, 784, 10, compute_dx=False),
]


# ---- convolution -------------------------------------------------------------------

def conv_inputs(rng, batch, size, in_c, kernel, out_c, strides, padding, bias=True):
    x = uniform(rng, batch, size[0], size[1], in_c)
    w = uniform(rng, kernel[0], kernel[1], in_c, out_c)
    win = Window2D.over(size[0], size[1], kernel, strides, padding)
    return dict(x=x, w=w, b=uniform(rng, out_c) if bias else None,
                dy=uniform(rng, batch, win.out_h, win.out_w, out_c))


def conv_name(kernel_name, path, batch, size, in_c, kernel, out_c, strides, padding):
    return (f"{kernel_name} {path} {batch}x{size[0]}x{size[1]}x{in_c} "
            f"* {kernel[0]}x{kernel[1]}x{in_c}x{out_c} s{strides[0]} {padding}")


def conv_case(path, batch, size, in_c, kernel, out_c, strides=(1, 1), padding="valid",
              bias=True, activation=None, algorithm="auto"):
    shape = (batch, size, in_c, kernel, out_c, strides, padding)

    def make(rng):
        inputs = conv_inputs(rng, *shape, bias=bias)
        del inputs["dy"]
        return inputs

    def fast(x, w, b):
        return (kernels.conv2d(x, w, b, strides, padding, activation=activation,
                               algorithm=algorithm),)

    def expected(x, w, b):
        y = reference.conv2d(x, w, b, strides, padding)
        return (y if activation is None else np.maximum(y, 0),)

    return Case(conv_name("conv2d", path, *shape) + " +bias" * bias
                + f" {activation or ''}".rstrip(),
                make, fast, expected, (summing(kernel[0] * kernel[1] * in_c + bias),))


def winograd_summing(terms):
    """Winograd's dW (F(4x4, 3x3)): its transforms' constants (up to 8) round a
    few times more than the definition's sums; 4x ``summing``'s tolerance (the
    errors measured stay below 2x it)."""
    plain = summing(terms)
    return Tolerance(4 * plain.rtol, 4 * plain.atol)


def conv_backward_case(path, batch, size, in_c, kernel, out_c, strides=(1, 1),
                       padding="valid", compute_dx=True, compute_dw=True, algorithm="auto"):
    """``algorithm`` as kernels.conv2d_backward's: "gemm" keeps a 3x3 stride-1
    case on the definition's dW and dx kernels, which "auto" gives to Winograd's."""
    shape = (batch, size, in_c, kernel, out_c, strides, padding)

    def make(rng):
        inputs = conv_inputs(rng, *shape, bias=False)
        del inputs["b"]
        return inputs

    def fast(x, w, dy):
        return kernels.conv2d_backward(x, w, dy, strides, padding, compute_dx=compute_dx,
                                       compute_dw=compute_dw, algorithm=algorithm)

    def expected(x, w, dy):
        dx, dw, db = reference.conv2d_backward(x, w, dy, strides, padding)
        return (dx if compute_dx else None), (dw if compute_dw else None), db

    win = Window2D.over(size[0], size[1], kernel, strides, padding)
    pixels = batch * win.out_h * win.out_w
    return Case(conv_name("conv2d_backward", path, *shape) + " no-dx" * (not compute_dx)
                + " no-dw" * (not compute_dw) + f" {algorithm}" * (algorithm != "auto"),
                make, fast, expected,
                (summing(kernel[0] * kernel[1] * out_c),
                 (winograd_summing if path == "winograd-dW" else summing)(pixels),
                 summing(pixels)))


def pooled_case(batch, size, in_c, kernel, out_c, strides=(1, 1), padding="valid",
                pool=(2, 2), from_winners=False):
    """The pooled weight gradient from y, or (``from_winners``) from the winners
    conv2d_relu_max_pool2d would give for that y."""
    shape = (batch, size, in_c, kernel, out_c, strides, padding)
    win = Window2D.over(size[0], size[1], kernel, strides, padding)

    def make(rng):
        inputs = conv_inputs(rng, *shape, bias=False)
        del inputs["b"], inputs["dy"]
        inputs["y"] = relu_output(rng, batch, win.out_h, win.out_w, out_c)
        inputs["dp"] = uniform(rng, batch, win.out_h // pool[0], win.out_w // pool[1], out_c)
        return inputs

    def fast(x, w, y, dp):
        if from_winners:
            winners = reference.max_pool2d_winners(y, pool, kernels.convolution.POOL_NO_WINNER)
            return kernels.conv2d_pooled_weight_gradient(x, w, None, dp, strides, padding, pool,
                                                         winners=winners)
        return kernels.conv2d_pooled_weight_gradient(x, w, y, dp, strides, padding, pool)

    def expected(x, w, y, dp):
        dz = reference.relu_backward(y, reference.max_pool2d_backward(y, dp, pool))
        return reference.conv2d_backward(x, w, dz, strides, padding)[1:]

    pixels = batch * win.out_h * win.out_w
    return Case(conv_name("conv2d_pooled_weight_gradient", "direct", *shape)
                + f" pool {pool[0]}x{pool[1]}" + " from winners" * from_winners, make, fast,
                expected, (summing(pixels), summing(pixels)))


def through_case(batch, size, in_c, kernel, out_c, through, strides=(1, 1), padding="valid"):
    """A first layer's weight gradient through its activation: y = through(z)
    of a random z, dz = dy · f'(y) folded into the weight sums (alpha: Keras's
    default for elu and leaky_relu, as the kernel's)."""
    shape = (batch, size, in_c, kernel, out_c, strides, padding)
    alpha = DEFAULT_ALPHA.get(through, 0.0)

    def make(rng):
        inputs = conv_inputs(rng, *shape, bias=False)
        del inputs["b"]
        inputs["y"] = reference.epilogue(through, 2 * uniform(rng, *inputs["dy"].shape), alpha)
        return inputs

    def fast(x, w, y, dy):
        return kernels.conv2d_weight_gradient_through(x, w, y, dy, through, strides, padding)

    def expected(x, w, y, dy):
        dz = reference.epilogue_backward(through, y, dy, alpha)
        return reference.conv2d_backward(x, w, dz, strides, padding)[1:]

    win = Window2D.over(size[0], size[1], kernel, strides, padding)
    pixels = batch * win.out_h * win.out_w
    return Case(conv_name("conv2d_weight_gradient_through", "direct", *shape) + f" {through}",
                make, fast, expected, (summing(pixels), summing(pixels)))


def integers(rng, low, high, *shape):
    """Small integers as float32: every sum of a convolution of them is exact, so
    float64 gives the same numbers, the same ties and the same winners."""
    return rng.integers(low, high + 1, shape).astype(np.float32)


def relu_max_pool_case(batch, size, in_c, kernel, out_c, padding="valid", pool=(2, 2)):
    """conv2d_relu_max_pool2d: p, and the winners (as float32: cases compare floats)."""
    shape = (batch, size, in_c, kernel, out_c, (1, 1), padding)

    def make(rng):
        return dict(x=integers(rng, -2, 2, batch, *size, in_c),
                    w=integers(rng, -1, 1, *kernel, in_c, out_c), b=integers(rng, -2, 1, out_c))

    def fast(x, w, b):
        p, winners = kernels.conv2d_relu_max_pool2d(x, w, b, (1, 1), padding, pool)
        return p, winners.astype(np.float32)

    def expected(x, w, b):
        y = reference.relu(reference.conv2d(x, w, b, (1, 1), padding))
        return (reference.max_pool2d(y, pool),
                reference.max_pool2d_winners(y, pool, kernels.convolution.POOL_NO_WINNER))

    return Case(conv_name("conv2d_relu_max_pool2d", "direct", *shape)
                + f" pool {pool[0]}x{pool[1]}", make, fast, expected, (EXACTISH, EXACTISH))


CONV = [
    # direct (kernels.convolution.direct_conv_takes), threads take rows of output pixels
    conv_case("direct", 7, (28, 28), 1, (3, 3), 32, activation="relu"),
    conv_case("direct", 7, (27, 27), 3, (3, 3), 17, (2, 2), "same", bias=False),
    # out_c < 8 (W padded to 8 lanes, 16-pixel tiles on avx512), out_c = 9 (two
    # overlapping vectors), 5x5 and 7x7 windows, border tiles through the buffer
    conv_case("direct", 7, (28, 28), 1, (5, 5), 6, padding="same", activation="relu"),
    conv_case("direct", 7, (27, 27), 1, (7, 7), 9, (2, 2), "same"),
    conv_case("direct", 9, (27, 27), 3, (5, 5), 7),
    # long patches on few channels (up to 11x11x4 = 484 values): a ResNet-style 7x7x3
    # stem, 9x9x1 to 5 channels (16-pixel tiles on avx512) at stride 2, 11x11x3
    # "valid" to 17, 9x9x4 to 33, 11x11x2 to a single channel
    conv_case("direct", 5, (32, 32), 3, (7, 7), 32, padding="same", activation="relu"),
    conv_case("direct", 5, (27, 27), 1, (9, 9), 5, (2, 2), "same"),
    conv_case("direct", 3, (29, 29), 3, (11, 11), 17, (2, 2)),
    conv_case("direct", 3, (23, 23), 4, (9, 9), 33, padding="same", bias=False),
    conv_case("direct", 5, (25, 25), 2, (11, 11), 1, padding="same"),
    # indirect GEMM: row tiles of one output pixel of 6 images
    conv_case("indirect", 7, (27, 27), 9, (3, 3), 33, padding="same"),
    conv_case("indirect", 7, (27, 27), 17, (3, 3), 33, (2, 2), activation="relu"),
    # tiles of one pixel of 6 images: two blocks and a remainder of 1, whose
    # tiles mix pixels; the threads' ranges start inside blocks
    conv_case("indirect", 13, (15, 15), 32, (3, 3), 40, padding="same", algorithm="gemm"),
    # Winograd F(4x4, 3x3) (conv2d_winograd.c): threads take blocks of tiles
    # (3 panels of 16 tiles on avx512, 7 of 6 on avx2 for 17 -> 33); 27x27
    # "valid" is 25x25 outputs, a last row and column of tiles that reach past
    # them, and a last block that reaches past the grid
    conv_case("winograd", 7, (27, 27), 17, (3, 3), 33, activation="relu",
              algorithm="winograd"),
    conv_case("winograd", 13, (15, 15), 32, (3, 3), 40, padding="same",
              algorithm="winograd"),
]

CONV_BACKWARD = [
    # dw and db by the direct kernel (per-thread partial sums), dx by col2im:
    # threads take whole images, each summing blocks of 16 patch gradients in
    # an L1 tile and adding them back (from 2·10⁵ flops: the 33 images of the
    # last case)
    conv_backward_case("direct+col2im", 7, (27, 27), 1, (3, 3), 32),
    conv_backward_case("direct+col2im", 7, (27, 27), 3, (3, 3), 17, (2, 2), "same"),
    conv_backward_case("direct+col2im", 33, (27, 27), 3, (3, 3), 17, padding="same"),
    # out_c < 8 and 9: dy's lanes past out_c (the last block through slack)
    conv_backward_case("direct+col2im", 7, (28, 28), 1, (5, 5), 6, padding="same"),
    conv_backward_case("direct+col2im", 9, (27, 27), 1, (7, 7), 3, (2, 2), "same"),
    conv_backward_case("direct+col2im", 7, (27, 27), 2, (5, 5), 9),
    # long patches on few channels: dW by the direct kernel while a kernel row's run
    # k_w·in_c is under 16 (9x9x1: K + 1 = 82 patch values in register groups, 11x11x1,
    # 7x7x2 to 33 channels), read in place from 16 (the 7x7x3 stem)
    conv_backward_case("direct+col2im", 5, (27, 27), 1, (9, 9), 5, (2, 2), "same"),
    conv_backward_case("direct+col2im", 5, (28, 28), 1, (11, 11), 17),
    conv_backward_case("direct", 5, (25, 25), 2, (7, 7), 33, padding="same",
                       compute_dx=False),
    conv_backward_case("in-place-dW", 5, (32, 32), 3, (7, 7), 32, padding="same",
                       compute_dx=False),
    # dW read in place (conv2d_weight_gradient.c): output rows cut into parts fixed by
    # the size, each part's dW^T summed alone; runs of 3·17 = 51 values (ragged: row
    # copies), 33 channels (dy packed into panels); dx by the indirect GEMM on dy
    conv_backward_case("in-place-dW+indirect", 7, (27, 27), 17, (3, 3), 33,
                       algorithm="gemm"),
    # db's per-thread partial sums split from 2·10⁵ dy values: 33·27·27·33 = 794k
    conv_backward_case("in-place-dW+indirect", 33, (27, 27), 17, (3, 3), 33, padding="same",
                       algorithm="gemm"),
    # dx by Winograd: the convolution of dy (25x25x33, padded by 2) with the
    # rotated kernel, 27x27 outputs in 7x7 tiles
    conv_backward_case("winograd-dx", 7, (27, 27), 17, (3, 3), 33, compute_dw=False,
                       algorithm="winograd"),
    # runs of 96 values read from x in place, dy read in place (32 channels)
    conv_backward_case("in-place-dW", 7, (27, 27), 32, (3, 3), 32, compute_dx=False,
                       algorithm="gemm"),
    # zero-padded row copies, 5 output channels (dy packed, one partial panel)
    conv_backward_case("in-place-dW", 7, (27, 27), 32, (3, 3), 5, padding="same",
                       compute_dx=False, algorithm="gemm"),
    # avx512: a last panel of 8 channels (40 = 16 + 16 + 8) on the 8-row tile, of 9
    # (25 = 16 + 9) on the 16-row one
    conv_backward_case("in-place-dW", 7, (15, 15), 33, (3, 3), 40, padding="same",
                       compute_dx=False, algorithm="gemm"),
    conv_backward_case("in-place-dW", 7, (15, 15), 33, (3, 3), 25, padding="same",
                       compute_dx=False, algorithm="gemm"),
    # a short sum over a wide dW^T (4x4 outputs: 528 and 1456 pixels against 2·336
    # columns) cuts into 1 or 2 parts only; the threads the parts leave idle take
    # groups of the 3·7 (kh, slice) columns (ragged runs of 99, dy packed to 48 rows)
    conv_backward_case("in-place-dW", 33, (6, 6), 33, (3, 3), 47, compute_dx=False,
                       algorithm="gemm"),
    conv_backward_case("in-place-dW", 91, (6, 6), 33, (3, 3), 47, compute_dx=False,
                       algorithm="gemm"),
    # few input channels: runs of 5·6 = 30 values; dx by col2im, LeNet's second
    # layer: 150 patch values = 4 + 4 + 2 vectors (the last one padded), 100 patches
    # per image = 6 blocks of 16 and one of 4
    conv_backward_case("in-place-dW+col2im", 9, (28, 28), 6, (5, 5), 16),
    conv_backward_case("in-place-dW+col2im", 9, (14, 14), 6, (5, 5), 16),
    # 15 channels: 135 values = 4 + 4 + 1 vectors; 6 patches per image (4 + 2 single)
    # of a stride-3 window clipped on both sides of the image
    conv_backward_case("in-place-dW+col2im", 8, (7, 4), 15, (3, 3), 19, (3, 3), "same"),
    conv_backward_case("in-place-dW+col2im", 7, (27, 27), 12, (3, 3), 20, (2, 2), "same"),
    # Winograd's dW (conv2d_winograd_weight_gradient.c): blocks of 128 tiles whose 36
    # products the threads share; edge tiles past odd output sizes (25 = 6·4 + 1),
    # in_c 17 and out_c 33 in partial panels, "same" padding gathered at the borders
    conv_backward_case("winograd-dW", 7, (27, 27), 17, (3, 3), 33, compute_dx=False,
                       algorithm="winograd"),
    conv_backward_case("winograd-dW", 9, (15, 13), 32, (3, 3), 64, padding="same",
                       compute_dx=False, algorithm="winograd"),
    # pointwise: dW in place; dx of stride 1 by the direct kernel on W^T up to 32
    # channels each way (conv2d.c; 16x16 on 9x28x28 above the thread split),
    # by the indirect GEMM past that, by phases at stride 2
    conv_backward_case("in-place-dW+pointwise", 7, (27, 27), 32, (1, 1), 17),
    conv_backward_case("in-place-dW+pointwise", 9, (28, 28), 16, (1, 1), 16, padding="same"),
    conv_backward_case("in-place-dW+indirect", 7, (27, 27), 48, (1, 1), 17),
    conv_backward_case("in-place-dW+phases", 7, (27, 27), 33, (1, 1), 32, (2, 2), "same"),
    # dx alone, stride 2: one stride-1 indirect GEMM per phase of the input pixels
    conv_backward_case("phases", 7, (27, 27), 33, (3, 3), 17, (2, 2), "same",
                       compute_dw=False),
    conv_backward_case("phases", 9, (25, 23), 20, (3, 3), 24, (2, 2), "valid"),
    # stride 3 over a 2x2 kernel: phases without taps (their pixels get zeros)
    conv_backward_case("phases", 9, (26, 25), 16, (2, 2), 24, (3, 3), "same"),
    # dx of a "valid" convolution, 13 x 13 from 11 x 11: tiles of 6 pixels leave out
    # the taps that read only padding, and straddle the threads' row ranges
    conv_backward_case("indirect", 17, (13, 13), 32, (3, 3), 33, compute_dw=False),
]

POOLED = [
    pooled_case(7, (28, 28), 1, (3, 3), 32),
    # 25x25 outputs under 2x2 windows: the last row and column belong to no window
    pooled_case(7, (27, 27), 1, (3, 3), 32),
    pooled_case(7, (27, 27), 3, (3, 3), 17, padding="same", pool=(3, 3)),
    pooled_case(7, (28, 28), 1, (5, 5), 6, padding="same"),
    pooled_case(9, (27, 27), 3, (5, 5), 1),
    # long patches on few channels: a 7x7x3 stem, 11x11x3 under 3x3 windows, 9x9x4
    pooled_case(5, (32, 32), 3, (7, 7), 32, padding="same"),
    pooled_case(3, (29, 29), 3, (11, 11), 17, pool=(3, 3)),
    pooled_case(3, (24, 24), 4, (9, 9), 5, padding="same"),
    # from the winners of the fused forward instead of y: 2x2, 3x3 windows, 17 channels
    pooled_case(7, (27, 27), 1, (3, 3), 32, from_winners=True),
    pooled_case(7, (27, 27), 3, (3, 3), 17, padding="same", pool=(3, 3), from_winners=True),
]

# a first layer's weight gradient through its activation: mnist_cnn's relu, LeNet's
# 5x5 tanh to 6 channels (< 8), a 3x3x3 elu to 33 (a last single vector), stride 2,
# a 7x7x3 stem and a 9x9x4 sigmoid (long patches)
THROUGH = [
    through_case(7, (28, 28), 1, (3, 3), 32, "relu"),
    through_case(9, (32, 32), 1, (5, 5), 6, "tanh"),
    through_case(5, (31, 29), 3, (3, 3), 33, "elu", padding="same"),
    through_case(7, (27, 27), 2, (3, 3), 16, "leaky_relu", strides=(2, 2), padding="same"),
    through_case(3, (32, 32), 3, (7, 7), 32, "relu", strides=(2, 2), padding="same"),
    through_case(3, (24, 23), 4, (9, 9), 5, "sigmoid", padding="same"),
]

# the first layer's convolution, ReLU and max pool in one pass (threads take rows of
# pooled outputs): odd sizes whose last row and column belong to no window, out_c
# 32, 6 (< 8: 16-pixel tiles on avx512), 33 (a scalar tail), 3x3 windows, a 7x7 stem
RELU_MAX_POOL = [
    relu_max_pool_case(7, (28, 27), 1, (3, 3), 32),
    relu_max_pool_case(7, (27, 27), 3, (5, 5), 6, padding="same"),
    relu_max_pool_case(5, (27, 26), 3, (3, 3), 33, padding="same", pool=(3, 3)),
    relu_max_pool_case(3, (32, 32), 3, (7, 7), 32, padding="same"),
]


# ---- pooling ----------------------------------------------------------------------

POOL_X = (7, 55, 55, 33)   # 2x2 windows: 7·27·27·33·4 = 673k operations, 3 threads
POOL_X_FEW = (9, 115, 113, 6)   # 6 channels (LeNet's): 9·57·56·6·4 = 689k operations


def pool_case(kernel_name, pool_size, strides, padding, through_relu=None, through=None,
              shape=POOL_X, dropout=None):
    """``dropout``: (keep_prob, seed) of a dropout folded in (after the pool
    forward, on dy before it backward)."""
    backward = kernel_name.endswith("backward")
    mode = kernel_name.split("_")[0]
    options = dict(pool_size=pool_size, strides=strides, padding=padding)
    win = Window2D.over(shape[1], shape[2], pool_size, strides or pool_size, padding)

    def make(rng):
        x = relu_output(rng, *shape) if through_relu else uniform(rng, *shape)
        x = np.tanh(x) if through == "tanh" else x
        dy = uniform(rng, shape[0], win.out_h, win.out_w, shape[3])
        return dict(x=x, dy=dy) if backward else dict(x=x)

    def fast(x, dy=None):
        function = getattr(kernels, kernel_name)
        if not backward:
            return (function(x, **options, dropout=dropout),)
        extra = {} if through_relu is None else dict(through_relu=through_relu)
        extra.update({} if through is None else dict(through=through))
        return (function(x, dy, **options, **extra, dropout=dropout),)

    def dropped(v):
        if dropout is None:
            return v
        keep, seed = dropout
        return np.where(reference.dropout_keep(v.size, keep, seed).reshape(v.shape),
                        v / keep, 0.0)

    def expected(x, dy=None):
        function = getattr(reference, kernel_name)
        if not backward:
            return (dropped(function(x, **options)),)
        dx = function(x, dropped(dy), **options)
        if through == "tanh":
            return (reference.activation_backward("tanh", x, dx, 0.0),)
        return (reference.relu_backward(x, dx) if through_relu else dx,)

    taps = pool_size[0] * pool_size[1]
    name = (f"{kernel_name} {'x'.join(map(str, shape))} pool {pool_size[0]}x{pool_size[1]}"
            f" s{(strides or pool_size)[0]} {padding}"
            + {None: "", True: " through_relu", False: " plain"}[through_relu]
            + ("" if through is None else f" through {through}")
            + ("" if dropout is None else f" dropout {dropout[0]}"))
    return Case(name, make, fast, expected,
                (EXACTISH if mode == "max" else summing(taps),))


POOLING = [
    pool_case("max_pool2d", (2, 2), None, "valid"),
    pool_case("max_pool2d", (3, 3), (2, 2), "same"),
    pool_case("avg_pool2d", (2, 2), None, "valid"),
    pool_case("avg_pool2d", (3, 3), (2, 2), "same"),
    pool_case("avg_pool2d", (2, 2), None, "valid", shape=POOL_X_FEW),
    pool_case("max_pool2d", (3, 3), (2, 2), "same", shape=POOL_X_FEW),
    # threads take whole images (7 of them)
    pool_case("max_pool2d_backward", (2, 2), None, "valid", through_relu=True),
    pool_case("max_pool2d_backward", (3, 3), (2, 2), "same", through_relu=False),
    pool_case("avg_pool2d_backward", (2, 2), None, "valid"),
    pool_case("avg_pool2d_backward", (3, 3), (2, 2), "same"),
    pool_case("avg_pool2d_backward", (2, 2), None, "valid", through="tanh", shape=POOL_X_FEW),
    pool_case("max_pool2d_backward", (3, 3), (2, 2), "same", through="tanh", shape=POOL_X_FEW),
    pool_case("max_pool2d_backward", (2, 2), None, "valid", through_relu=True,
              shape=POOL_X_FEW),
    # with a dropout folded in (its mask is a function of the output index)
    pool_case("max_pool2d", (2, 2), None, "valid", dropout=(0.75, 2**33 + 5)),
    pool_case("avg_pool2d", (3, 3), (2, 2), "same", shape=POOL_X_FEW, dropout=(0.5, 77)),
    pool_case("max_pool2d_backward", (2, 2), None, "valid", through_relu=True,
              dropout=(0.75, 2**33 + 5)),
    pool_case("avg_pool2d_backward", (3, 3), (2, 2), "same", through="tanh", shape=POOL_X_FEW,
              dropout=(0.5, 77)),
]


# ---- batch normalisation ----------------------------------------------------------

# rows x channels: a Dense output of 10,001 rows, and 33 images of 27x27 as rows
BN_SHAPES = [(10_001, 33), (33 * 27 * 27, 17)]
# one channel, three, and 70 (two AVX-512 tiles of 32 and 6 left over, see
# csrc/batchnorm.c): the rest of each tiling, split between threads
BN_TILE_SHAPES = [(300_007, 1), (100_003, 3), (9_001, 70)]


def bn_inputs(rng, rows, channels):
    x = (rng.standard_normal((rows, channels)) + 7).astype(np.float32)
    mean, var = x.mean(axis=0, dtype=np.float64), x.var(axis=0, dtype=np.float64)
    return dict(x=x, dy=uniform(rng, rows, channels),
                mean=mean.astype(np.float32), var=var.astype(np.float32),
                gamma=uniform(rng, channels), beta=uniform(rng, channels))


def inv_std(var, epsilon=1e-3):
    return 1.0 / np.sqrt(var + epsilon)


def bn_stats_case(rows, channels):
    # summed in double in C and returned as float64 (see kernels/normalization.py)
    return Case(f"batch_norm_stats {rows}x{channels}",
                lambda rng: {"x": bn_inputs(rng, rows, channels)["x"]},
                lambda x: kernels.batch_norm_stats(x),
                lambda x: reference.batch_norm_stats(x),
                (Tolerance(1e-12, 1e-12), Tolerance(1e-9, 1e-12)), float64_outputs=(0, 1))


def bn_apply_case(rows, channels, relu=False):
    def make(rng):
        inputs = bn_inputs(rng, rows, channels)
        del inputs["dy"]
        return inputs

    def expected(x, mean, var, gamma, beta):
        y = reference.batch_norm(x, mean, inv_std(var), gamma, beta)
        return (np.maximum(y, 0) if relu else y),

    return Case(f"batch_norm {rows}x{channels}" + " relu" * relu, make,
                lambda x, mean, var, gamma, beta: (
                    kernels.batch_norm(x, mean, var, gamma, beta, relu=relu),),
                expected, (Tolerance(1e-5, 1e-5),))


def bn_backward_case(rows, channels, batch_stats, compute_dx=True, relu=False):
    """With ``relu``: the backward pass of batch norm + relu, which recomputes
    the forward's output from x, mean, var, gamma and beta (about half of it
    cut by the ReLU) and counts dy only where it is > 0."""
    def make(rng):
        inputs = bn_inputs(rng, rows, channels)
        if not relu:
            del inputs["beta"]
        return inputs

    def fast(x, dy, mean, var, gamma, beta=None):
        return kernels.batch_norm_backward(x, dy, mean, var, gamma, batch_stats=batch_stats,
                                           compute_dx=compute_dx, relu=relu, beta=beta)

    def expected(x, dy, mean, var, gamma, beta=None):
        if relu:
            dy = np.where(reference.batch_norm(x, mean, inv_std(var), gamma, beta) > 0, dy, 0.0)
        dx, dgamma, dbeta = reference.batch_norm_backward(x, dy, mean, inv_std(var), gamma,
                                                          batch_stats)
        return (dx if compute_dx else None), dgamma, dbeta

    return Case(f"batch_norm_backward {rows}x{channels} batch_stats={batch_stats}"
                + " no-dx" * (not compute_dx) + " relu" * relu, make, fast, expected,
                (Tolerance(1e-4, 1e-5), Tolerance(1e-5, 1e-5), Tolerance(1e-5, 1e-5)))


BATCH_NORM = [
    *(bn_stats_case(*shape) for shape in BN_SHAPES),
    *(bn_apply_case(*shape) for shape in BN_SHAPES),
    bn_apply_case(*BN_SHAPES[1], relu=True),
    bn_backward_case(*BN_SHAPES[0], batch_stats=True),
    bn_backward_case(*BN_SHAPES[1], batch_stats=True),
    bn_backward_case(*BN_SHAPES[0], batch_stats=False),
    bn_backward_case(*BN_SHAPES[1], batch_stats=True, compute_dx=False),
    bn_backward_case(*BN_SHAPES[0], batch_stats=True, relu=True),
    bn_backward_case(*BN_SHAPES[1], batch_stats=False, relu=True),
    bn_backward_case(*BN_SHAPES[1], batch_stats=True, compute_dx=False, relu=True),
    *(bn_stats_case(*shape) for shape in BN_TILE_SHAPES),
    *(bn_apply_case(*shape, relu=True) for shape in BN_TILE_SHAPES),
    *(bn_backward_case(*shape, batch_stats=True, relu=True) for shape in BN_TILE_SHAPES),
]


# ---- elementwise and row-wise kernels ------------------------------------------------

ELEMENTS = 600_001     # relu: one operation per element, 3 threads from 600,000
ROWS, CLASSES = 3001, 11   # softmax: 20 operations per value, 3 threads


def softmax_rows(rng):
    e = np.exp(3 * rng.uniform(-1.0, 1.0, (ROWS, CLASSES)))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def crossentropy_expected(p, labels):
    q = p[np.arange(ROWS), labels] / p.sum(axis=1)
    dz = p / ROWS
    dz[np.arange(ROWS), labels] -= 1.0 / ROWS
    return -np.log(np.clip(q, 1e-7, 1 - 1e-7)), dz


ELEMENTWISE = [
    Case(f"relu {ELEMENTS}", lambda rng: dict(x=uniform(rng, ELEMENTS)),
         lambda x: (kernels.relu(x),), lambda x: (np.maximum(x, 0),), (EXACTISH,)),
    Case(f"relu_backward {ELEMENTS}",
         lambda rng: dict(y=relu_output(rng, ELEMENTS), dy=uniform(rng, ELEMENTS)),
         lambda y, dy: (kernels.relu_backward(y, dy),),
         lambda y, dy: (np.where(y > 0, dy, 0.0),), (EXACTISH,)),
    Case(f"softmax {ROWS}x{CLASSES}", lambda rng: dict(x=3 * uniform(rng, ROWS, CLASSES)),
         lambda x: (kernels.softmax(x),),
         lambda x: (np.exp(x) / np.exp(x).sum(axis=1, keepdims=True),),
         (Tolerance(1e-5, 1e-7),)),
    # the other activations: 20-25 operations per element for the forward passes
    # with an exp, 2 for the backward passes from y: 600,001 elements, 3 threads
    Case(f"activation tanh {ELEMENTS}", lambda rng: dict(x=4 * uniform(rng, ELEMENTS)),
         lambda x: (kernels.activation("tanh", x),), lambda x: (np.tanh(x),), (EXACTISH,)),
    Case(f"activation elu {ELEMENTS}", lambda rng: dict(x=4 * uniform(rng, ELEMENTS)),
         lambda x: (kernels.activation("elu", x, 1.0),),
         lambda x: (np.where(x > 0, x, np.expm1(np.minimum(x, 0))),), (EXACTISH,)),
    Case(f"activation_backward sigmoid {ELEMENTS}",
         lambda rng: dict(y=0.5 + 0.5 * uniform(rng, ELEMENTS), dy=uniform(rng, ELEMENTS)),
         lambda y, dy: (kernels.activation_backward("sigmoid", y, dy),),
         lambda y, dy: (dy * y * (1 - y),), (EXACTISH,)),
    Case(f"activation_backward silu {ELEMENTS}",
         lambda rng: dict(x=4 * uniform(rng, ELEMENTS), dy=uniform(rng, ELEMENTS)),
         lambda x, dy: (kernels.activation_backward("silu", x, dy),),
         lambda x, dy: (dy * (1 + np.exp(-x) * (1 + x)) / (1 + np.exp(-x)) ** 2,),
         (Tolerance(1e-5, 1e-6),)),
    # 16 operations per element: 100,001 elements give 8 threads' worth
    Case("dropout 100001 keep 0.7", lambda rng: dict(x=uniform(rng, 100_001)),
         lambda x: (kernels.dropout(x, 0.7, 2024),),
         lambda x: (np.where(reference.dropout_keep(x.size, 0.7, 2024), x / 0.7, 0.0),),
         (EXACTISH,)),
    # one thread by design (microseconds of work), in here so no kernel is left out
    Case(f"sparse_crossentropy {ROWS}x{CLASSES}",
         lambda rng: dict(p=softmax_rows(rng), labels=rng.integers(0, CLASSES, ROWS)),
         lambda p, labels: kernels.sparse_crossentropy(p, labels, 1.0 / ROWS),
         crossentropy_expected, (Tolerance(1e-5, 1e-6), EXACTISH), float64_outputs=(0,)),
]


# ---- affine warps --------------------------------------------------------------------

WARP_X, WARP_OUT = (7, 41, 41, 7), (37, 43)   # 8·7·37·43·7 = 623k operations: 3 threads


def warp_transforms(rng, batch):
    """Rotations by up to 30 degrees and zooms of 0.8-1.2 about the centre, shifted a little."""
    angle, zoom = rng.uniform(-0.5, 0.5, batch), rng.uniform(0.8, 1.2, batch)
    cos, sin = np.cos(angle) * zoom, np.sin(angle) * zoom
    centre = np.array([WARP_X[2], WARP_X[1]]) / 2
    shift = rng.uniform(-3, 3, (batch, 2))
    a2 = centre[0] - cos * centre[0] + sin * centre[1] + shift[:, 0]
    b2 = centre[1] - sin * centre[0] - cos * centre[1] + shift[:, 1]
    return np.stack([cos, -sin, a2, sin, cos, b2], axis=1).astype(np.float32)


def warp_case(interpolation, fill_mode, backward=False):
    options = dict(interpolation=interpolation, fill_mode=fill_mode, fill_value=0.5)

    def make(rng):
        t = warp_transforms(rng, WARP_X[0])
        if backward:
            return dict(dy=uniform(rng, WARP_X[0], *WARP_OUT, WARP_X[3]), t=t)
        return dict(x=uniform(rng, *WARP_X), t=t)

    if backward:
        def fast(dy, t):
            return (kernels.affine_warp_backward(dy, t, WARP_X[1:3], **options),)

        def expected(dy, t):
            return (reference.affine_warp_backward(dy, t, WARP_X[1:3], interpolation,
                                                   fill_mode),)
    else:
        def fast(x, t):
            return (kernels.affine_warp(x, t, WARP_OUT, **options),)

        def expected(x, t):
            return (reference.affine_warp(x, t, WARP_OUT, **options),)

    name = "affine_warp_backward" if backward else "affine_warp"
    return Case(f"{name} {'x'.join(map(str, WARP_X))} -> {WARP_OUT} {interpolation} "
                f"{fill_mode}", make, fast, expected, (Tolerance(1e-4, 1e-5),))


WARP = [
    warp_case("bilinear", "reflect"),
    warp_case("nearest", "constant"),
    warp_case("bilinear", "wrap", backward=True),
    warp_case("nearest", "nearest", backward=True),
]


# ---- optimizers --------------------------------------------------------------------------

def update_state(rng, update, shape):
    """w, g and the slots of ``update`` for one array: slots in [0, 0.01), except
    the first (a mean square, where RMSprop's centred variance needs s > a²)."""
    w, g = rng.normal(size=shape), rng.normal(size=shape)
    slots = [rng.uniform(0.01 if k == 0 else 0.0, 0.02 if k == 0 else 0.01, shape)
             for k in range(len(update.slot_names))]
    return [a.astype(np.float32) for a in (w, g, *slots)]


def update_case(rule, settings, shapes, numbers=(1e-3,)):
    """One optimizer step (kernels.UpdateRule) on each array of ``shapes`` at
    once; the outputs are every array's w and slots after the step."""
    update = kernels.UpdateRule(rule, **settings)

    def make(rng):
        states = [update_state(rng, update, shape) for shape in shapes]
        return dict(ws=[s[0] for s in states], gs=[s[1] for s in states],
                    slots=[s[2:] for s in states])

    def fast(ws, gs, slots):
        ws, slots = [w.copy() for w in ws], [[a.copy() for a in own] for own in slots]
        update.apply(ws, gs, slots, *numbers)
        return tuple(a for w, own in zip(ws, slots) for a in (w, *own))

    def expected(ws, gs, slots):
        out = []
        for w, g, own in zip(ws, gs, slots):
            w, own = w.copy(), [a.copy() for a in own]
            reference.optimizer_update(rule, w, g, own, *numbers, *(None,) * (3 - len(numbers)),
                                       **update.settings)
            out += [w, *own]
        return tuple(out)

    # float32 rounding where beta_1·m and (1 - beta_1)·g nearly cancel
    # (tests/kernels/test_optimizer_kernel.py): absolute, on the O(1) scale of the terms
    options = "".join(f" {k}={v}" for k, v in settings.items())
    return Case(f"{rule}_update{options} {' '.join('x'.join(map(str, s)) for s in shapes)}",
                make, fast, expected,
                (Tolerance(1e-5, 2e-6),) * (1 + len(update.slot_names)) * len(shapes))


OPTIMIZER_CASES = [
    # a thread per 4 MiB of memory moved (csrc/runtime.c: fastnn_threads_for_stream):
    # 4 bytes per weight read and written for w and each slot, read for g.
    # Adam, 28 bytes a weight: 2 threads from 299,594 weights, 3 from 449,390
    update_case("adam", {}, [(449_401,)]),
    # 36 bytes a weight: an array below the threshold, one above, small ones
    update_case("rmsprop", {"centered": True, "momentum": 0.5},
                [(784, 128), (128,), (233_021,), (3, 3, 1, 32)]),
    # plain SGD, 12 bytes a weight: 2 threads from 699,051 weights, odd sizes either side
    update_case("sgd", {}, [(699_049,), (699_053,)]),
    update_case("sgd", {"momentum": 0.9, "nesterov": True}, [(419_431,)]),
    update_case("nadam", {}, [(300_001,), (9,)], numbers=(1e-3, 2e-4, 3.0)),
]


# ---- recurrent time loop --------------------------------------------------------------

def rnn_case(cell, batch, steps, units, masked=False):
    """rnn_forward then rnn_backward; the outputs are h, the gates, dz and dU."""
    gates = reference.RNN_GATES[cell]

    def make(rng):
        keep = rng.random((batch, units)) < 0.7
        return dict(z=uniform(rng, batch, steps, gates * units),
                    u_kernel=uniform(rng, units, gates * units) / np.float32(np.sqrt(units)),
                    rbias=uniform(rng, gates * units) if cell == "gru" else None,
                    mask=(keep / np.float32(0.7)).astype(np.float32) if masked else None,
                    dy=uniform(rng, batch, steps, units))

    def fast(z, u_kernel, rbias, mask, dy):
        result = kernels.rnn_forward(z, u_kernel, cell, rbias=rbias, mask=mask)
        dz, du, _ = kernels.rnn_backward(result, u_kernel, dy, cell, mask=mask)
        return result.h, result.gates, dz, du

    def expected(z, u_kernel, rbias, mask, dy):
        gates_, h, c, rh = reference.rnn_forward(z, u_kernel, cell, "tanh", "sigmoid", rbias,
                                                 mask)
        dz, dr = reference.rnn_backward(gates_, h, c, rh, u_kernel, dy, cell, "tanh",
                                        "sigmoid", mask)
        du, _ = reference.rnn_recurrent_kernel_gradient(h, rh, dr, cell, mask)
        return h, gates_, dz, du

    # each step sums `units` products, and the gradients run back over all
    # steps; dU sums them over the batch as well
    return Case(f"rnn {cell} batch {batch} steps {steps} units {units}" + " masked" * masked,
                make, fast, expected,
                (summing(units * steps),) * 3 + (summing(units * steps * batch),))


RECURRENT = [
    # a step counts 2·batch·G·units² + 30·batch·G·units operations
    # (csrc/recurrent.c): above 6·10⁵ here, so 3 threads share the units in
    # 16-unit slices (at least 3 of them), the last one partial
    rnn_case("simple_rnn", 131, 3, 157),
    rnn_case("lstm", 97, 4, 53, masked=True),
    rnn_case("gru", 101, 3, 67),
    # and 278 reduction indices backward: two packed blocks of U^T
    rnn_case("gru_reset_before", 151, 3, 139, masked=True),
]


CASES = (MATMUL + DENSE + CONV + CONV_BACKWARD + POOLED + THROUGH + RELU_MAX_POOL + POOLING + BATCH_NORM + ELEMENTWISE
         + WARP + OPTIMIZER_CASES + RECURRENT)
assert len({case.name for case in CASES}) == len(CASES), "case names must be unique"


# ---- running every case (the subprocess of tests/kernels/test_openmp_teams.py) ----------------

CALLS = (1, 2)


def result_key(simd, call, case, output):
    return f"{simd}|{call}|{case.name}|{output}"


def run_all(threads=2):
    """{result_key: array}: every case called twice in a row on each SIMD path
    (skipped outputs are left out: an .npz holds arrays only)."""
    fastnn.set_num_threads(threads)
    before, results = get_simd_path(), {}
    try:
        for simd in runnable_simd_paths():
            set_simd_path(simd)
            for call in CALLS:
                for case in CASES:
                    for i, out in enumerate(case.run()):
                        if out is not None:
                            results[result_key(simd, call, case, i)] = out
    finally:
        set_simd_path(before)
    return results


def outputs_of(results, simd, call, case):
    """One run's outputs out of ``run_all``'s results, None where skipped."""
    return tuple(results.get(result_key(simd, call, case, i))
                 for i in range(len(case.tolerances)))


if __name__ == "__main__":
    results = run_all()
    np.savez(sys.argv[1], threads=fastnn.get_num_threads(), **results)
