"""Conv2D, MaxPooling2D and AveragePooling2D layers against NumPy written here.

Keras formulas (keras-reference §4):
    out[i,j,f] = b_f + Σ x_pad[i·sh+a, j·sw+c, ch]·K[a,c,ch,f]
    valid: out = floor((n−k)/s)+1
    same:  out = ceil(n/s), P = max((out−1)·s + k − n, 0), top/left = floor(P/2)
Pooling: padded cells never count (max ignores them, average divides by the
in-bounds cells); strides default to pool_size.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings

from fastnn import regularizers
from fastnn.layers import AveragePooling2D, Conv2D, Dense, Flatten, MaxPooling2D

from conftest import conv_cases, output_length, pad_before, pool_cases
from test_layers_gradcheck import check_layer_gradients, seed_away_from_kink


def rand(seed, shape, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


# ---- references ------------------------------------------------------------------------

def conv_loops(x, kernel, bias, strides, padding):
    """Keras Conv2D by plain loops over every output and tap (tiny shapes only)."""
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    oh, ow = (output_length(h, kh, strides[0], padding), output_length(w, kw, strides[1], padding))
    top, left = pad_before(h, kh, strides[0], padding), pad_before(w, kw, strides[1], padding)
    out = np.zeros((n, oh, ow, f))
    for b, i, j, o in itertools.product(range(n), range(oh), range(ow), range(f)):
        total = 0.0 if bias is None else float(bias[o])
        for a, c in itertools.product(range(kh), range(kw)):
            r, col = i * strides[0] + a - top, j * strides[1] + c - left
            if 0 <= r < h and 0 <= col < w:
                total += float(np.dot(np.float64(x[b, r, col]), kernel[a, c, :, o]))
        out[b, i, j, o] = total
    return out


def conv_taps(x, kernel, bias, strides, padding):
    """The same formula vectorised per tap: Σ_{a,c} x_pad[i·sh+a, j·sw+c, :] · K[a, c]."""
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    (sh, sw) = strides
    oh, ow = output_length(h, kh, sh, padding), output_length(w, kw, sw, padding)
    top, left = pad_before(h, kh, sh, padding), pad_before(w, kw, sw, padding)
    padded = np.zeros((n, max(h + top, (oh - 1) * sh + kh), max(w + left, (ow - 1) * sw + kw),
                       x.shape[3]))
    padded[:, top:top + h, left:left + w] = x
    out = np.zeros((n, oh, ow, f)) + (0.0 if bias is None else np.float64(bias))
    for a, c in itertools.product(range(kh), range(kw)):
        window = padded[:, a:a + sh * (oh - 1) + 1:sh, c:c + sw * (ow - 1) + 1:sw]
        out += window @ np.float64(kernel[a, c])
    return out


def pool_reference(x, pool_size, strides, padding, mode):
    """Each window's max or mean over its in-bounds cells only."""
    n, h, w, ch = x.shape
    (ph, pw), (sh, sw) = pool_size, strides
    oh, ow = output_length(h, ph, sh, padding), output_length(w, pw, sw, padding)
    top, left = pad_before(h, ph, sh, padding), pad_before(w, pw, sw, padding)
    out = np.zeros((n, oh, ow, ch))
    for i, j in itertools.product(range(oh), range(ow)):
        r0, c0 = i * sh - top, j * sw - left
        cells = np.float64(x[:, max(r0, 0):min(r0 + ph, h), max(c0, 0):min(c0 + pw, w)])
        cells = cells.reshape(n, -1, ch)
        out[:, i, j] = cells.max(axis=1) if mode == "max" else cells.mean(axis=1)
    return out


def conv_with_weights(filters, kernel_size, in_channels, seed=0, **kwargs):
    layer = Conv2D(filters, kernel_size, **kwargs)
    layer.build((None, 8, 8, in_channels))   # spatial size does not matter for the weights
    weights = [rand(seed, layer.kernel.shape)]
    if layer.bias is not None:
        weights.append(rand(seed + 1, layer.bias.shape))
    layer.set_weights(weights)
    return layer


# ---- Conv2D: shapes and parameter counts -----------------------------------------------

@pytest.mark.parametrize("kernel_size, strides, padding, in_shape, out_shape", [
    (3, 1, "valid", (28, 28, 1), (26, 26, 32)),
    (3, 1, "same", (28, 28, 1), (28, 28, 32)),
    (3, 2, "valid", (28, 28, 1), (13, 13, 32)),
    (3, 2, "same", (28, 28, 1), (14, 14, 32)),
    ((5, 3), (2, 3), "valid", (11, 10, 1), (4, 3, 32)),
    ((5, 3), (2, 3), "same", (11, 10, 1), (6, 4, 32)),
    (7, 1, "same", (3, 3, 1), (3, 3, 32)),     # a kernel larger than the input is fine with same
])
def test_conv2d_output_shape(kernel_size, strides, padding, in_shape, out_shape):
    layer = Conv2D(32, kernel_size, strides=strides, padding=padding)
    assert layer.compute_output_shape((None, *in_shape)) == (None, *out_shape)
    layer.build((None, *in_shape))
    assert layer.output_shape == (None, *out_shape)
    assert layer(rand(0, (2, *in_shape))).shape == (2, *out_shape)


def test_conv2d_params_and_unknown_spatial_size():
    layer = Conv2D(32, (3, 3), input_shape=(28, 28, 1))
    layer.build(layer.batch_input_shape)
    assert layer.kernel.shape == (3, 3, 1, 32) and layer.bias.shape == (32,)
    assert layer.count_params() == 320
    assert [v.name for v in layer.variables] == ["kernel", "bias"]
    free = Conv2D(4, 3, padding="valid")
    assert free.compute_output_shape((None, None, None, 3)) == (None, None, None, 4)
    free.build((None, None, None, 3))
    assert free(rand(1, (1, 5, 6, 3))).shape == (1, 3, 4, 4)
    nobias = Conv2D(4, 3, use_bias=False)
    nobias.build((None, 5, 5, 2))
    assert nobias.count_params() == 3 * 3 * 2 * 4 and len(nobias.get_weights()) == 1


@pytest.mark.parametrize("padding, shapes, total", [
    ("valid", [(20, 20, 16), (18, 18, 32), (14, 14, 64), (8, 8, 128), (8192,), (2,)], 473890),
    ("same", [(20, 20, 16), (20, 20, 32), (20, 20, 64), (20, 20, 128), (51200,), (2,)], 559906),
])
def test_course_model_shapes_and_params(padding, shapes, total):
    """The course's model (keras-reference §1), layer by layer, without Sequential."""
    stack = [Dense(16, input_shape=(20, 20, 3)), Conv2D(32, 3, padding=padding),
             Conv2D(64, 5, padding=padding), Conv2D(128, 7, padding=padding), Flatten(),
             Dense(2)]
    shape = (None, 20, 20, 3)
    params = []
    for layer, expected in zip(stack, shapes):
        layer.build(shape)
        shape = layer.output_shape
        assert shape == (None, *expected)
        params.append(layer.count_params())
    assert params[0] == 64 and params[1] == 4640
    assert sum(params) == total


def test_pooling_model_of_chapter_21():
    pool = MaxPooling2D()
    assert pool.pool_size == (2, 2) and pool.strides == (2, 2)
    assert pool.compute_output_shape((None, 20, 20, 32)) == (None, 10, 10, 32)
    assert Flatten().compute_output_shape((None, 10, 10, 32)) == (None, 3200)


@settings(max_examples=25)
@given(case=conv_cases(max_batch=2, max_size=7, max_channels=4))
def test_conv2d_any_geometry_matches_the_formula(case):
    x, w, b, _ = case.arrays()
    layer = Conv2D(case.out_c, (case.k_h, case.k_w), strides=case.strides,
                   padding=case.padding, use_bias=case.bias)
    layer.build((None, case.in_h, case.in_w, case.in_c))
    layer.set_weights([w] if b is None else [w, b])
    assert layer.output_shape == (None,) + case.out_shape[1:]
    y = layer(x)
    assert y.shape == case.out_shape and y.dtype == np.float32
    np.testing.assert_allclose(y, conv_taps(x, w, b, case.strides, case.padding),
                               rtol=1e-4, atol=1e-5 * np.sqrt(case.k_h * case.k_w * case.in_c))


# ---- Conv2D: forward and backward ------------------------------------------------------

@pytest.mark.parametrize("strides, padding", [((1, 1), "valid"), ((1, 1), "same"),
                                              ((2, 2), "same"), ((2, 1), "valid"),
                                              ((2, 3), "same")])
@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid"])
def test_conv2d_forward_matches_loops(strides, padding, activation):
    layer = conv_with_weights(3, (3, 2), 2, seed=2, strides=strides, padding=padding,
                              activation=activation)
    x = rand(3, (2, 5, 6, 2))
    z = conv_loops(x, layer.kernel.value, layer.bias.value, strides, padding)
    expected = {"linear": z, "relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z))}
    np.testing.assert_allclose(layer(x), expected[activation], rtol=1e-5, atol=1e-5)


def test_conv2d_is_cross_correlation_not_convolution():
    """A kernel with a single 1 at tap (0, 0) copies the top-left neighbour (no flip)."""
    layer = Conv2D(1, 3, padding="same", use_bias=False)
    layer.build((None, 4, 4, 1))
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[0, 0] = 1.0
    layer.set_weights([kernel])
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y = layer(x)[0, :, :, 0]
    expected = np.zeros((4, 4))
    expected[1:, 1:] = x[0, :3, :3, 0]
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("strides, padding", [((1, 1), "valid"), ((2, 2), "same"),
                                              ((1, 2), "same"), ((2, 2), "valid")])
@pytest.mark.parametrize("activation", ["linear", "tanh", "relu", "softmax"])
def test_conv2d_gradients(strides, padding, activation):
    x_shape = (2, 5, 5, 2)

    def pre_activation(seed):
        layer = conv_with_weights(3, 3, 2, seed=seed, strides=strides, padding=padding)
        return conv_taps(rand(seed + 5, x_shape), layer.kernel.value, layer.bias.value,
                         strides, padding)

    seed = seed_away_from_kink(pre_activation, 0.05) if activation == "relu" else 0
    layer = conv_with_weights(3, 3, 2, seed=seed, strides=strides, padding=padding,
                              activation=activation)
    # linear: L is linear in x and in the weights, so the differences are exact up to rounding
    tight = {"rtol": 1e-3, "atol": 1e-4} if activation == "linear" else {}
    check_layer_gradients(layer, rand(seed + 5, x_shape), seed=seed, **tight)


@pytest.mark.parametrize("strides, padding", [((1, 1), "valid"), ((2, 2), "same"),
                                              ((2, 1), "same"), ((1, 3), "valid")])
def test_conv2d_gradient_formulas(strides, padding):
    """Per tap (a, c): dK[a,c] = windowᵀ·dy, dx_pad[window] += dy·K[a,c]ᵀ, db = Σ dy."""
    layer = conv_with_weights(3, (3, 2), 2, seed=12, strides=strides, padding=padding)
    x = rand(13, (2, 6, 5, 2))
    y = layer(x)
    dy = rand(14, y.shape)
    dx = layer.backward(dy)
    (n, h, w, ch), (kh, kw, _, f) = x.shape, layer.kernel.shape
    (sh, sw), (oh, ow) = strides, y.shape[1:3]
    top, left = pad_before(h, kh, sh, padding), pad_before(w, kw, sw, padding)
    size = (max(h + top, (oh - 1) * sh + kh), max(w + left, (ow - 1) * sw + kw))
    padded = np.zeros((n, *size, ch))
    padded[:, top:top + h, left:left + w] = x
    dpadded = np.zeros_like(padded)
    dkernel = np.zeros((kh, kw, ch, f))
    dy64, kernel = np.float64(dy), np.float64(layer.kernel.value)
    for a, c in itertools.product(range(kh), range(kw)):
        rows, cols = slice(a, a + sh * (oh - 1) + 1, sh), slice(c, c + sw * (ow - 1) + 1, sw)
        dkernel[a, c] = np.einsum("nhwi,nhwo->io", padded[:, rows, cols], dy64)
        dpadded[:, rows, cols] += dy64 @ kernel[a, c].T
    np.testing.assert_allclose(layer.kernel.grad, dkernel, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.bias.grad, dy64.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dpadded[:, top:top + h, left:left + w], rtol=1e-5, atol=1e-5)


def test_conv2d_gradients_without_bias():
    layer = conv_with_weights(2, (2, 3), 3, seed=4, strides=2, padding="same", use_bias=False)
    check_layer_gradients(layer, rand(6, (1, 4, 5, 3)))


def test_conv2d_regularization_loss():
    layer = Conv2D(2, 3, kernel_regularizer=regularizers.l2(0.01),
                   bias_regularizer=regularizers.l2(0.1))
    layer.build((None, 5, 5, 3))
    layer.set_weights([rand(7, (3, 3, 3, 2)), np.float32([1.0, 2.0])])
    expected = 0.01 * np.sum(np.float64(layer.kernel.value) ** 2) + 0.1 * 5.0
    assert layer.regularization_loss() == pytest.approx(expected, rel=1e-6)


def test_conv2d_weights_round_trip_and_errors():
    layer = Conv2D(4, (3, 2), name="my_conv")
    layer.build((None, 6, 6, 3))
    weights = [rand(8, (3, 2, 3, 4)), rand(9, (4,))]
    layer.set_weights(weights)
    for got, want in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="my_conv"):
        layer.set_weights(weights[:1])
    with pytest.raises(ValueError, match="my_conv"):
        layer.set_weights([rand(8, (2, 3, 3, 4)), weights[1]])   # (kw, kh) swapped
    layer.trainable = False
    assert layer.trainable_variables == []
    assert [v.name for v in layer.non_trainable_variables] == ["kernel", "bias"]


# ---- Conv2D: argument errors -----------------------------------------------------------

def test_conv2d_argument_errors():
    with pytest.raises(ValueError, match="channels"):
        Conv2D(2, 3, data_format="channels_first")
    assert Conv2D(2, 3, data_format="channels_last").filters == 2
    with pytest.raises(ValueError, match=r"Conv2D: strides \(2, 1\) with dilation_rate "
                                         r"\(1, 2\): a dilated kernel moves by 1"):
        Conv2D(2, 3, strides=(2, 1), dilation_rate=(1, 2))
    with pytest.raises(ValueError, match=r"Conv2D: dilation_rate must be a positive int or a "
                                         r"pair of positive ints, got 0"):
        Conv2D(2, 3, dilation_rate=0)
    with pytest.raises(ValueError) as info:
        Conv2D(2, 3, padding="full")
    assert "valid" in str(info.value) and "same" in str(info.value) and "full" in str(info.value)
    assert Conv2D(2, 3, padding="SAME").padding == "same"
    for filters in (0, -1, 2.0, None, True):
        with pytest.raises(ValueError, match="filters"):
            Conv2D(filters, 3)
    assert Conv2D(np.int64(5), 3).filters == 5
    for kernel_size in (0, (3,), (3, 0), 2.5, (3, 3, 3)):
        with pytest.raises(ValueError, match="kernel_size"):
            Conv2D(2, kernel_size)
    with pytest.raises(ValueError, match="strides"):
        Conv2D(2, 3, strides=0)


def test_conv2d_input_rank_and_size_errors_name_the_layer():
    with pytest.raises(ValueError, match="'conv_2d_input'"):
        Conv2D(2, 3, name="conv_2d_input")(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="'conv_3d_input'"):
        Conv2D(2, 3, name="conv_3d_input").build((None, 5, 5))
    with pytest.raises(ValueError, match="'conv_too_big'.*valid"):
        Conv2D(2, 5, name="conv_too_big")(np.ones((1, 4, 6, 1), np.float32))
    with pytest.raises(ValueError, match="'conv_too_big2'"):
        Conv2D(2, (1, 7), name="conv_too_big2").build((None, 8, 6, 1))


# ---- pooling ---------------------------------------------------------------------------

def test_max_pooling_example():
    x = np.float32([[4, 3, 8, 5], [9, 1, 3, 6], [6, 3, 5, 3], [2, 5, 2, 5]]).reshape(1, 4, 4, 1)
    y = MaxPooling2D()(x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[9, 8], [6, 5]])


def test_average_pooling_same_divides_by_in_bounds_cells():
    x = np.arange(1, 26, dtype=np.float32).reshape(1, 5, 5, 1)
    layer = AveragePooling2D(pool_size=3, strides=3, padding="same")
    np.testing.assert_allclose(layer(x)[0, :, :, 0], [[7, 9.5], [19.5, 22]], rtol=1e-6)


def test_pooling_default_strides_equal_pool_size():
    for cls in (MaxPooling2D, AveragePooling2D):
        assert cls().pool_size == (2, 2) and cls().strides == (2, 2)
        assert cls(3).strides == (3, 3)
        assert cls((2, 3)).strides == (2, 3)
        assert cls(3, strides=1).strides == (1, 1)
        assert cls((2, 3)).compute_output_shape((None, 7, 7, 4)) == (None, 3, 2, 4)
        assert cls(3, padding="same").compute_output_shape((None, 7, 7, 4)) == (None, 3, 3, 4)
        assert cls(3, strides=1).compute_output_shape((None, 7, 7, 4)) == (None, 5, 5, 4)
        assert cls().compute_output_shape((None, None, 6, 2)) == (None, None, 3, 2)
        assert cls().count_params() == 0


@settings(max_examples=30)
@given(case=pool_cases(max_batch=2, max_extra=5, max_channels=3))
def test_pooling_any_geometry_matches_reference(case):
    x, _ = case.arrays()
    for cls, mode in ((MaxPooling2D, "max"), (AveragePooling2D, "avg")):
        layer = cls(**case.kwargs)
        assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + case.out_shape[1:]
        y = layer(x)
        assert y.shape == case.out_shape and y.dtype == np.float32
        np.testing.assert_allclose(y, pool_reference(x, layer.pool_size, layer.strides,
                                                     case.padding, mode), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"pool_size": 3, "strides": 2, "padding": "same"},
                                    {"pool_size": (2, 3), "strides": 1},
                                    {"pool_size": 2, "padding": "same"}])
@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D])
def test_pooling_gradients(cls, kwargs):
    # distinct values 0.05 apart: a perturbation of 1e-2 never changes which cell is the max
    rng = np.random.default_rng(10)
    x = (rng.permutation(2 * 5 * 5 * 2).reshape(2, 5, 5, 2) * 0.05 - 2.5).astype(np.float32)
    check_layer_gradients(cls(**kwargs), x)


def test_max_pooling_gradient_goes_to_the_maximum_only():
    x = np.float32([[4, 3, 8, 5], [9, 1, 3, 6], [6, 3, 5, 3], [2, 5, 2, 1]]).reshape(1, 4, 4, 1)
    layer = MaxPooling2D()
    layer(x)
    dx = layer.backward(np.float32([[1, 2], [3, 4]]).reshape(1, 2, 2, 1))[0, :, :, 0]
    expected = np.zeros((4, 4))
    expected[1, 0], expected[0, 2], expected[2, 0], expected[2, 2] = 1, 2, 3, 4
    np.testing.assert_array_equal(dx, expected)


def test_average_pooling_gradient_is_shared_equally():
    layer = AveragePooling2D(pool_size=3, strides=3, padding="same")
    layer(np.zeros((1, 5, 5, 1), np.float32))
    dx = layer.backward(np.ones((1, 2, 2, 1), np.float32))[0, :, :, 0]
    # windows: rows/cols {0,1,2} (9 cells) and {3,4} (2 cells, padding excluded)
    part = np.array([1 / 3, 1 / 3, 1 / 3, 1 / 2, 1 / 2])
    np.testing.assert_allclose(dx, np.outer(part, part), rtol=1e-6)


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D])
def test_pooling_argument_errors(cls):
    kind = cls.__name__
    with pytest.raises(ValueError, match="channels"):
        cls(data_format="channels_first")
    with pytest.raises(ValueError, match="'valid', 'same'"):
        cls(padding="full")
    with pytest.raises(ValueError, match="pool_size"):
        cls(pool_size=0)
    with pytest.raises(ValueError, match="strides"):
        cls(strides=(1, 0))
    with pytest.raises(ValueError, match=f"'pool_2d'.*{kind}"):
        cls(name="pool_2d")(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="'pool_too_big'"):
        cls(4, name="pool_too_big")(np.ones((1, 3, 3, 1), np.float32))
    assert cls(4, padding="same")(np.ones((1, 3, 3, 1), np.float32)).shape == (1, 1, 1, 1)
