"""The activation in the kernels' epilogue: conv2d(..., activation=) and matmul(..., activation=).

The convolution and matrix-product kernels apply the activation to each
block of output as they write it (csrc/conv2d_direct.c, conv2d_indirect.c,
gemm.c; ``fastnn_epilogue`` in csrc/internal.h), with the loop the separate
``activation`` pass runs on the same SIMD path.  So the fused result must be
*bit for bit* the unfused one followed by ``activation`` (or ``relu``): for
every activation whose derivative its output determines, on every path
through the kernels (direct tiles, narrow direct tiles, long patches, the
indirect GEMM with full and partial panels, 1x1 and strided convolutions;
the GEMM's split-m, split-n, split-K and multi-slice products), on every
SIMD path this CPU runs, on 1, 2 and 3 threads.  Then the fused result is
compared once more with float64 NumPy, so that "equal to the unfused" is
not "equally wrong".
"""
import math

import numpy as np
import pytest

import fastnn
from fastnn.kernels import activation, conv2d, dense_backward, matmul, max_pool2d_backward
from fastnn.kernels import reference, relu
from fastnn.kernels.activation import FROM_OUTPUT, activation_code
from fastnn.kernels.convolution import direct_conv_takes

from conftest import ConvCase, each_simd_path, f64, simd_path, uniform

EPILOGUE = ("relu",) + FROM_OUTPUT
ALPHA = {"elu": 0.7, "leaky_relu": 0.15}   # not Keras's defaults: alpha must reach C
THREADS = (1, 2, 3)
each_activation = pytest.mark.parametrize("name", EPILOGUE)


@pytest.fixture(autouse=True)
def threads_restored(restore_threads):
    yield


def conv(batch, hw, in_c, k, out_c, strides=(1, 1), padding="valid", bias=True):
    return ConvCase(batch=batch, in_h=hw[0], in_w=hw[1], in_c=in_c, k_h=k, k_w=k,
                    out_c=out_c, strides=strides, padding=padding, bias=bias, seed=7)


# Each large enough for more than one thread (csrc/runtime.c: ~2e5 operations).
CONV_CASES = {
    "direct": conv(4, (12, 13), 3, 3, 16, padding="same"),
    "direct, out_c < 8": conv(8, (20, 19), 1, 3, 5),
    "direct, 13 channels (overlapping vectors)": conv(4, (11, 10), 2, 3, 13, (2, 1), "same"),
    "direct, long patch": conv(3, (16, 15), 3, 7, 32, (2, 2), "same", bias=False),
    "indirect": conv(3, (10, 11), 20, 3, 24, padding="same"),
    "indirect, partial panel, strided": conv(3, (11, 10), 16, 3, 40, (2, 2), "same"),
    "indirect, no bias": conv(2, (9, 8), 32, 3, 13, padding="same", bias=False),
    "1x1": conv(4, (9, 10), 96, 1, 16),
    "1x1, strided": conv(4, (9, 10), 80, 1, 33, (2, 2)),
}
DIRECT = {"direct", "direct, out_c < 8", "direct, 13 channels (overlapping vectors)",
          "direct, long patch"}

# (m, k, n): the GEMM's ways of cutting the product (csrc/gemm.c)
MATMUL_CASES = {
    "small, one thread": (7, 20, 9),
    "split m": (301, 90, 37),
    "split n": (12, 150, 301),
    "split K": (5, 6000, 7),
    "three reduction slices": (300, 600, 40),   # k not > 2 max(m, n): one part, 3 slices
}


def conv_arrays(c):
    """x scaled up so that the sums spread over the activations' curved parts."""
    x, w, b, _ = c.arrays()
    return 3.0 * x, w, b


def on_each_thread_count(run):
    results = []
    for threads in THREADS:
        fastnn.set_num_threads(threads)
        results.append(run())
    return results


def separate(name, y, impl="fast"):
    """The unfused second pass over the kernel's output."""
    return relu(y, impl=impl) if name == "relu" else activation(name, y, ALPHA.get(name),
                                                                 impl=impl)


def test_cases_hit_the_intended_paths():
    for label, c in CONV_CASES.items():
        assert direct_conv_takes((c.k_h, c.k_w, c.in_c)) == (label in DIRECT), label


@each_simd_path
@each_activation
@pytest.mark.parametrize("label", CONV_CASES)
def test_conv2d_epilogue_is_the_separate_pass_bit_for_bit(label, name, simd):
    c = CONV_CASES[label]
    x, w, b = conv_arrays(c)

    def fused_and_unfused():
        fused = conv2d(x, w, b, c.strides, c.padding, activation=name, alpha=ALPHA.get(name))
        return fused, separate(name, conv2d(x, w, b, c.strides, c.padding))

    with simd_path(simd):
        for threads, (fused, unfused) in zip(THREADS, on_each_thread_count(fused_and_unfused)):
            np.testing.assert_array_equal(fused, unfused, err_msg=f"{threads} threads")


@each_simd_path
@each_activation
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("label", MATMUL_CASES)
def test_matmul_epilogue_is_the_separate_pass_bit_for_bit(label, bias, name, simd):
    m, k, n = MATMUL_CASES[label]
    rng = np.random.default_rng(m * n)
    a, b = 2.0 * uniform(rng, (m, k)), uniform(rng, (k, n)) / math.sqrt(k / 30)
    column = uniform(rng, (n,)) if bias else None

    def fused_and_unfused():
        fused = matmul(a, b, bias=column, activation=name, alpha=ALPHA.get(name))
        return fused, separate(name, matmul(a, b, bias=column))

    with simd_path(simd):
        for threads, (fused, unfused) in zip(THREADS, on_each_thread_count(fused_and_unfused)):
            np.testing.assert_array_equal(fused, unfused, err_msg=f"{threads} threads")


@each_activation
def test_naive_kernels_apply_the_naive_activation(name):
    c = CONV_CASES["indirect, partial panel, strided"]
    x, w, b = conv_arrays(c)
    np.testing.assert_array_equal(
        conv2d(x, w, b, c.strides, c.padding, impl="naive", activation=name,
               alpha=ALPHA.get(name)),
        separate(name, conv2d(x, w, b, c.strides, c.padding, impl="naive"), impl="naive"))
    rng = np.random.default_rng(2)
    a, bm, column = 2.0 * uniform(rng, (50, 60)), uniform(rng, (60, 13)), uniform(rng, (13,))
    np.testing.assert_array_equal(
        matmul(a, bm, bias=column, impl="naive", activation=name, alpha=ALPHA.get(name)),
        separate(name, matmul(a, bm, bias=column, impl="naive"), impl="naive"))


def reference_epilogue(name, z):
    return reference.epilogue(name, z, ALPHA.get(name, 0.0))


@each_activation
@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
def test_fused_results_agree_with_float64(name, impl):
    """Against f(z) in float64: within the sum's rounding, times the slope of f
    (at most ~1.1 for all of them but exponential, whose error is relative)."""
    for label in ("direct", "indirect, partial panel, strided", "1x1"):
        c = CONV_CASES[label]
        x, w, b = conv_arrays(c)
        y = conv2d(x, w, b, c.strides, c.padding, impl=impl, activation=name,
                   alpha=ALPHA.get(name))
        z = reference.conv2d(f64(x), f64(w), None if b is None else f64(b), c.strides,
                             c.padding)
        expected = reference_epilogue(name, z)
        assert y.dtype == np.float32 and y.shape == expected.shape
        np.testing.assert_allclose(y, expected, rtol=1e-4,
                                   atol=3e-5 * math.sqrt(c.k_h * c.k_w * c.in_c), err_msg=label)
    rng = np.random.default_rng(1)
    a, bm, column = uniform(rng, (40, 300)), uniform(rng, (300, 20)) / 3, uniform(rng, (20,))
    expected = reference_epilogue(name, f64(a) @ f64(bm) + f64(column))
    np.testing.assert_allclose(matmul(a, bm, bias=column, impl=impl, activation=name,
                                      alpha=ALPHA.get(name)),
                               expected, rtol=1e-4, atol=3e-5 * math.sqrt(300))


def test_default_alpha_is_keras_s():
    x = -np.ones((1, 2, 2, 1), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    np.testing.assert_allclose(conv2d(x, w, activation="leaky_relu"), -0.2 * np.ones_like(x))
    np.testing.assert_allclose(conv2d(x, w, activation="elu"), np.expm1(-1.0) * np.ones_like(x),
                               rtol=1e-6)


KERNELS = {
    "conv2d": (lambda name: conv2d(np.ones((1, 3, 3, 1), np.float32),
                                   np.ones((1, 1, 1, 2), np.float32), activation=name),
               "activation"),
    "matmul": (lambda name: matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32),
                                   activation=name), "activation"),
    "dense_backward": (lambda name: dense_backward(*[np.ones((2, 2), np.float32)] * 4,
                                                   activation=name), "activation"),
    "max_pool2d_backward": (lambda name: max_pool2d_backward(
        np.ones((1, 2, 2, 1), np.float32), np.ones((1, 1, 1, 1), np.float32), through=name),
        "through"),
}


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name, why", [
    ("silu", ": silu's backward pass reads the activation's input z, and {kernel} keeps only "
             "its output"),
    ("gelu_tanh", ": gelu_tanh's backward pass reads the activation's input z"),
    ("softmax", r": softmax mixes a row \(it has a kernel of its own\)"),
    ("swish", "$"),
    (3, "$"),
])
def test_every_kernel_refuses_with_one_message(kernel, name, why):
    run, argument = KERNELS[kernel]
    none = "" if kernel == "dense_backward" else "None, "
    with pytest.raises(ValueError, match=(
            f"^{kernel}: {argument} must be {none}'relu' or one of 'tanh', 'sigmoid', .*"
            f"'exponential' \\(an activation whose derivative its output determines\\), "
            f"got {name!r}" + why.format(kernel=kernel))):
        run(name)


@pytest.mark.parametrize("name, alpha, message", [
    ("elu", 0.0, "elu's alpha must be > 0"),
    ("leaky_relu", -0.1, "leaky_relu's slope alpha must be >= 0"),
    ("tanh", math.nan, "alpha must be a finite number"),
])
def test_epilogue_alpha_is_checked(name, alpha, message):
    with pytest.raises(ValueError, match="conv2d: " + message):
        conv2d(np.ones((1, 3, 3, 1), np.float32), np.ones((1, 1, 1, 2), np.float32),
               activation=name, alpha=alpha)
    with pytest.raises(ValueError, match="matmul: " + message):
        matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), activation=name,
               alpha=alpha)


def test_one_code_for_every_kernel():
    """None, relu and the elementwise kernels' activations have distinct codes."""
    codes = [activation_code("k", None)[0], activation_code("k", "relu")[0]]
    codes += [activation_code("k", name)[0] for name in FROM_OUTPUT]
    assert len(set(codes)) == len(codes)
