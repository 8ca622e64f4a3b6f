"""Bad arguments raise ValueError with a message naming the kernel and the problem."""
import re

import numpy as np
import pytest

import fastnn
from fastnn.kernels import (avg_pool2d, avg_pool2d_backward, conv2d, conv2d_backward, matmul,
                            max_pool2d, max_pool2d_backward)

from conftest import IMPLS, each_impl

X = np.zeros((2, 5, 5, 3), np.float32)      # conv input
W = np.zeros((3, 3, 3, 4), np.float32)      # conv kernel: y is (2, 3, 3, 4)
DY = np.zeros((2, 3, 3, 4), np.float32)
B = np.zeros(4, np.float32)
PX = np.zeros((2, 4, 4, 3), np.float32)     # pool input: 2x2 pool gives (2, 2, 2, 3)
PDY = np.zeros((2, 2, 2, 3), np.float32)

POOLS = {"max_pool2d": max_pool2d, "avg_pool2d": avg_pool2d}
POOL_BACKWARDS = {"max_pool2d_backward": max_pool2d_backward,
                  "avg_pool2d_backward": avg_pool2d_backward}


def call(fn, *args, **kwargs):
    return lambda: fn(*args, **kwargs)


def every_kernel(**kwargs):
    """(name, thunk) for every kernel called with valid arrays and ``kwargs``."""
    yield "conv2d", call(conv2d, X, W, **kwargs)
    yield "conv2d_backward", call(conv2d_backward, X, W, DY, **kwargs)
    for name, fn in POOLS.items():
        yield name, call(fn, PX, **kwargs)
    for name, fn in POOL_BACKWARDS.items():
        yield name, call(fn, PX, PDY, **kwargs)


def check(thunk, pattern):
    with pytest.raises(ValueError, match=pattern):
        thunk()


# ---- array arguments ---------------------------------------------------------

WRONG_NDIM = [
    ("conv2d", "x", call(conv2d, X[0], W), "4-D"),
    ("conv2d", "w", call(conv2d, X, W[0]), "4-D"),
    ("conv2d", "b", call(conv2d, X, W, B[None]), "1-D"),
    ("conv2d_backward", "x", call(conv2d_backward, X[None], W, DY), "4-D"),
    ("conv2d_backward", "w", call(conv2d_backward, X, W[0, 0], DY), "4-D"),
    ("conv2d_backward", "dy", call(conv2d_backward, X, W, DY[0]), "4-D"),
    ("max_pool2d", "x", call(max_pool2d, PX[0]), "4-D"),
    ("avg_pool2d", "x", call(avg_pool2d, 1.0), "4-D"),
    ("max_pool2d_backward", "x", call(max_pool2d_backward, PX[0], PDY), "4-D"),
    ("max_pool2d_backward", "dy", call(max_pool2d_backward, PX, PDY[0]), "4-D"),
    ("avg_pool2d_backward", "x", call(avg_pool2d_backward, PX[0], PDY), "4-D"),
    ("avg_pool2d_backward", "dy", call(avg_pool2d_backward, PX, PDY[None]), "4-D"),
    ("matmul", "a", call(matmul, np.zeros(3), np.zeros((3, 2))), "2-D"),
    ("matmul", "b", call(matmul, np.zeros((2, 3)), np.zeros((3, 2, 1))), "2-D"),
]


@pytest.mark.parametrize("kernel,arg,thunk,dims", WRONG_NDIM,
                         ids=[f"{k}-{a}" for k, a, _, _ in WRONG_NDIM])
def test_wrong_ndim(kernel, arg, thunk, dims):
    check(thunk, rf"^{kernel}: {arg} must be {dims} \(.*\), got shape")


@pytest.mark.parametrize("fn", [conv2d, conv2d_backward])
def test_channel_mismatch(fn):
    w = np.zeros((3, 3, 4, 2))
    args = (X, w) if fn is conv2d else (X, w, np.zeros((2, 3, 3, 2)))
    check(lambda: fn(*args), f"^{fn.__name__}: " + re.escape("w has 4 input channels but x has 3"))


def test_channel_mismatch_exact_message():
    with pytest.raises(ValueError) as err:
        conv2d(X, np.zeros((3, 3, 4, 2)))
    assert str(err.value) == "conv2d: w has 4 input channels but x has 3"


@pytest.mark.parametrize("bias", [np.zeros(5), np.zeros(3), [1.0], np.zeros(0)])
def test_bias_of_wrong_length(bias):
    check(call(conv2d, X, W, bias), r"^conv2d: b must have shape \(4,\), got \(\d+,\)")


DY_SHAPES = [(2, 3, 3, 5), (1, 3, 3, 4), (2, 4, 3, 4), (2, 3, 2, 4)]


@pytest.mark.parametrize("shape", DY_SHAPES)
def test_conv_dy_of_wrong_shape(shape):
    check(call(conv2d_backward, X, W, np.zeros(shape)),
          r"^conv2d_backward: dy must have shape \(2, 3, 3, 4\), got ")


@pytest.mark.parametrize("name", POOL_BACKWARDS)
@pytest.mark.parametrize("shape", [(2, 2, 2, 4), (3, 2, 2, 3), (2, 4, 4, 3), (2, 2, 1, 3)])
def test_pool_dy_of_wrong_shape(name, shape):
    check(call(POOL_BACKWARDS[name], PX, np.zeros(shape)),
          rf"^{name}: dy must have shape \(2, 2, 2, 3\), got ")


@pytest.mark.parametrize("kernel_shape", [(5, 5), (2, 5), (5, 1)])
@pytest.mark.parametrize("fn", [conv2d, conv2d_backward])
def test_kernel_larger_than_valid_input(fn, kernel_shape):
    x, w = np.zeros((1, 4, 4, 1)), np.zeros(kernel_shape + (1, 1))
    args = (x, w) if fn is conv2d else (x, w, np.zeros((1, 1, 1, 1)))
    kh, kw = kernel_shape
    check(lambda: fn(*args, padding="valid"),
          rf"^{fn.__name__}: kernel {kh}x{kw} does not fit the 4x4 input.*'same'")


@pytest.mark.parametrize("name,thunk", [
    ("max_pool2d", call(max_pool2d, np.zeros((1, 3, 3, 1)), 4)),
    ("avg_pool2d", call(avg_pool2d, np.zeros((1, 3, 3, 1)), (1, 4))),
    ("max_pool2d_backward", call(max_pool2d_backward, np.zeros((1, 3, 3, 1)),
                                 np.zeros((1, 1, 1, 1)), (4, 4))),
    ("avg_pool2d_backward", call(avg_pool2d_backward, np.zeros((1, 3, 3, 1)),
                                 np.zeros((1, 1, 1, 1)), (4, 2))),
])
def test_pool_larger_than_valid_input(name, thunk):
    check(thunk, rf"^{name}: pool_size \dx\d does not fit the 3x3 input")


@pytest.mark.parametrize("kind,value", [
    ("object", np.array([[None, 1.0]], dtype=object)),
    ("string", np.array([["1", "2"]])),
    ("bytes", np.array([[b"1"]])),
    ("complex", np.ones((2, 2), np.complex64)),
])
def test_non_real_arrays(kind, value):
    x = value.reshape(1, 1, -1, 1)
    check(call(conv2d, x, np.zeros((1, 1, 1, 1))), "^conv2d: x must hold real numbers, got dtype")
    check(call(conv2d, np.zeros((1, 3, 3, 1)), x), "^conv2d: w must hold real numbers")
    check(call(conv2d, X, W, value.reshape(-1)), "^conv2d: b must hold real numbers")
    check(call(max_pool2d_backward, np.zeros((1, 2, 2, 1)), x),
          "^max_pool2d_backward: dy must hold real numbers")
    check(call(matmul, value, np.zeros((2, 2))), "^matmul: a must hold real numbers")
    check(call(matmul, np.zeros((2, 2)), value), "^matmul: b must hold real numbers")


@pytest.mark.parametrize("thunk,pattern", [
    (call(matmul, [[1, 2], [3]], [[1], [2]]), "^matmul: a must be a rectangular array"),
    (call(matmul, [[1, 2]], [[1], [2, 3]]), "^matmul: b must be a rectangular array"),
    (call(conv2d, [[[[1]], [[1], [2]]]], np.ones((1, 1, 1, 1))),
     "^conv2d: x must be a rectangular array"),
    (call(avg_pool2d, [[[[1.0, 2.0], [3.0]]]]), "^avg_pool2d: x must be a rectangular array"),
])
def test_ragged_nested_lists(thunk, pattern):
    check(thunk, pattern)


@pytest.mark.parametrize("shape", [(1, 0, 5, 3), (1, 5, 0, 3), (1, 5, 5, 0), (0, 0, 5, 3)])
def test_empty_height_width_or_channels(shape):
    x = np.zeros(shape)
    message = re.escape(f"x has shape {shape}, but its height, width, channels must all "
                        "be at least 1")
    w = np.zeros((1, 1, shape[3], 2))
    check(call(conv2d, x, w), "^conv2d: " + message)
    check(call(conv2d_backward, x, w, np.zeros(shape[:3] + (2,))), "^conv2d_backward: " + message)
    for name, fn in POOLS.items():
        check(call(fn, x, 1), f"^{name}: " + message)
    for name, fn in POOL_BACKWARDS.items():
        check(call(fn, x, np.zeros(shape), 1), f"^{name}: " + message)


@pytest.mark.parametrize("shape", [(0, 3, 3, 4), (3, 0, 3, 4), (3, 3, 3, 0)])
def test_empty_kernel(shape):
    check(call(conv2d, X, np.zeros(shape)), r"^conv2d: w has shape .* must be at least 1")


@pytest.mark.parametrize("a_shape,b_shape,ta,tb,message", [
    ((2, 3), (4, 5), False, False, "op(a) has 3 columns but op(b) has 4 rows (a (2, 3); b (4, 5))"),
    ((2, 3), (2, 5), True, True,
     "op(a) has 2 columns but op(b) has 5 rows (a (2, 3), transposed; b (2, 5), transposed)"),
    ((7, 1), (7, 2), False, False, "op(a) has 1 columns but op(b) has 7 rows"),
])
def test_matmul_inner_dimension_mismatch(a_shape, b_shape, ta, tb, message):
    for impl in IMPLS:
        check(call(matmul, np.zeros(a_shape), np.zeros(b_shape), ta, tb, impl=impl),
              "^matmul: " + re.escape(message))


# ---- strides, pool_size, padding, impl ------------------------------------------

BAD_PAIRS = [0, -1, True, False, 1.5, 2.0, (1,), (1, 2, 3), (1, 0), (0, 1), (-2, 2),
             (2.0, 1), (1, 1.5), "2", "22", [], np.float32(2), None]


@pytest.mark.parametrize("value", BAD_PAIRS, ids=repr)
def test_bad_strides(value):
    for name, thunk in every_kernel(strides=value):
        if value is None and "pool" in name:
            continue  # strides=None means "as pool_size"
        check(thunk, rf"^{name}: strides must be a positive int or a pair of positive "
                     rf"ints, got {re.escape(repr(value))}$")


@pytest.mark.parametrize("value", BAD_PAIRS, ids=repr)
def test_bad_pool_size(value):
    for name, fn in POOLS.items():
        check(call(fn, PX, value), rf"^{name}: pool_size must be a positive int or a pair")
    for name, fn in POOL_BACKWARDS.items():
        check(call(fn, PX, PDY, value), rf"^{name}: pool_size must be a positive int or a pair")


@pytest.mark.parametrize("value", [(True, 1), (1, True), (True, True)], ids=repr)
def test_bools_inside_a_pair_are_rejected(value):
    """A bool is not a stride: strides=True is rejected, so (True, 1) must be too."""
    for name, thunk in every_kernel(strides=value):
        check(thunk, rf"^{name}: strides must be a positive int or a pair")
    for name, fn in POOLS.items():
        check(call(fn, PX, value), rf"^{name}: pool_size must be a positive int or a pair")


@pytest.mark.parametrize("value", [2, (2, 2), [2, 2], np.int64(2), (np.int32(2), 2),
                                   np.array([2, 2])], ids=repr)
def test_good_strides_and_pool_sizes(value):
    assert conv2d(X, W, strides=value).shape == (2, 2, 2, 4)
    assert max_pool2d(PX, pool_size=value).shape == (2, 2, 2, 3)
    assert avg_pool2d(PX, pool_size=1, strides=value).shape == (2, 2, 2, 3)


@pytest.mark.parametrize("value", ["full", "causal", "", "valid ", None, 1, ("same",)],
                         ids=repr)
def test_bad_padding(value):
    for name, thunk in every_kernel(padding=value):
        check(thunk, rf"^{name}: padding must be one of 'valid', 'same', "
                     rf"got {re.escape(repr(value))}$")


@each_impl
@pytest.mark.parametrize("padding,size", [("SAME", 5), ("Same", 5), ("VALID", 3), ("Valid", 3)])
def test_padding_any_letter_case(impl, padding, size):
    assert conv2d(X, W, padding=padding, impl=impl).shape == (2, size, size, 4)
    assert max_pool2d(PX, 3, 1, padding=padding, impl=impl).shape[1] == size - 1


def test_impls_are_the_documented_ones():
    assert tuple(fastnn.kernels.IMPLS) == IMPLS


@pytest.mark.parametrize("impl", ["gpu", "FAST", "Naive", "", None, 1, "c"], ids=repr)
def test_unknown_impl(impl):
    pattern = r"impl must be one of 'fast', 'naive', 'numpy', got " + re.escape(repr(impl))
    for name, thunk in every_kernel(impl=impl):
        check(thunk, f"^{name}: {pattern}$")
    check(call(matmul, np.zeros((2, 2)), np.zeros((2, 2)), impl=impl), f"^matmul: {pattern}$")


@pytest.mark.parametrize("n", [0, -1, 1.5, True, False, "2", None, 2.0, 257, 100_000, 2**31,
                               2**64], ids=repr)
def test_set_num_threads_rejects(n, restore_threads):
    """Including counts beyond MAX_THREADS: 100,000 threads made a conv
    predict take 12 s instead of 0.1 s, 2**31 overflowed the C int."""
    assert fastnn.runtime.MAX_THREADS == 256
    with pytest.raises(ValueError, match=r"^set_num_threads: n must be an int in 1\.\.256, got "):
        fastnn.set_num_threads(n)
    assert fastnn.get_num_threads() == restore_threads


# ---- an empty batch is fine ---------------------------------------------------------

@each_impl
def test_batch_of_zero(impl):
    x, dy = np.zeros((0, 5, 5, 3), np.float32), np.zeros((0, 3, 3, 4), np.float32)
    w = np.ones((3, 3, 3, 4), np.float32)
    y = conv2d(x, w, B, impl=impl)
    assert y.shape == (0, 3, 3, 4) and y.dtype == np.float32
    dx, dw, db = conv2d_backward(x, w, dy, impl=impl)
    assert dx.shape == (0, 5, 5, 3)
    np.testing.assert_array_equal(dw, np.zeros((3, 3, 3, 4)))
    np.testing.assert_array_equal(db, np.zeros(4))
    assert conv2d(x, w, padding="same", strides=2, impl=impl).shape == (0, 3, 3, 4)
    px = np.zeros((0, 4, 4, 3), np.float32)
    for fn in POOLS.values():
        assert fn(px, impl=impl).shape == (0, 2, 2, 3)
        assert fn(px, 3, 1, "same", impl=impl).shape == (0, 4, 4, 3)
    for fn in POOL_BACKWARDS.values():
        dx = fn(px, np.zeros((0, 2, 2, 3)), impl=impl)
        assert dx.shape == (0, 4, 4, 3) and dx.dtype == np.float32


# ---- the convolution algorithm -----------------------------------------------

@pytest.mark.parametrize("fn", [conv2d, conv2d_backward])
def test_unknown_algorithm(fn):
    args = (X, W) if fn is conv2d else (X, W, DY)
    check(lambda: fn(*args, algorithm="fft"),
          rf"^{fn.__name__}: algorithm='fft', expected one of 'auto', 'gemm', 'winograd'$")


@pytest.mark.parametrize("fn", [conv2d, conv2d_backward])
@pytest.mark.parametrize("kernel_shape,strides", [((5, 5), 1), ((3, 1), 1), ((3, 3), 2)])
def test_winograd_takes_3x3_stride_1(fn, kernel_shape, strides):
    x, w = np.zeros((1, 9, 9, 2)), np.zeros(kernel_shape + (2, 2))
    dy = fn is conv2d_backward and conv2d(x, w, strides=strides)
    args = (x, w) if fn is conv2d else (x, w, dy)
    check(lambda: fn(*args, strides=strides, algorithm="winograd"),
          rf"^{fn.__name__}: algorithm='winograd' computes 3x3 convolutions with strides 1, "
          rf"not a {kernel_shape[0]}x{kernel_shape[1]} kernel")


@pytest.mark.parametrize("impl", ["naive", "numpy"])
@pytest.mark.parametrize("algorithm", ["gemm", "winograd"])
def test_algorithm_only_for_the_fast_kernels(impl, algorithm):
    check(call(conv2d, X, W, impl=impl, algorithm=algorithm),
          rf"^conv2d: algorithm='{algorithm}' chooses among the fast kernels; "
          rf"impl='{impl}' takes algorithm='auto'")
