"""Conv2DTranspose against a scatter-add loop written here, known values and
finite differences; its saving and training inside a model.

The reference (keras-reference: Keras/TensorFlow conv2d_transpose):
    every input pixel (i, j) adds x[n, i, j, c] · K[a, b, f, c] to the output at
    (i·sh + a − pad_top, j·sw + b − pad_left), channel f (kernel (kh, kw, filters, in)).
Output length per axis (Keras's deconv_output_length):
    output_padding None:  valid  in·s + max(k − s, 0);   same  in·s
    output_padding p:     (in − 1)·s + k − 2·pad + p,  pad = k // 2 (same) or 0 (valid)
pad_top is TensorFlow's: the top padding of a "same" Conv2D mapping the
output back to the input, max((in − 1)·s + k − out, 0) // 2; 0 for "valid".
"""
import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fastnn.layers import (Conv2D, Conv2DTranspose, Convolution2DTranspose, MaxPooling2D,
                           UpSampling2D)
from fastnn.models import Sequential, load_model
from fastnn.optimizers import Adam

from conftest import numerical_gradient, pad_before, pairs, seeds
from test_layers_gradcheck import check_layer_gradients, seed_away_from_kink


def rand(seed, shape):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def keras_output_length(size, k, s, padding, output_padding=None):
    if output_padding is None:
        return size * s + max(k - s, 0) if padding == "valid" else size * s
    pad = k // 2 if padding == "same" else 0
    return (size - 1) * s + k - 2 * pad + output_padding


def scatter_add(x, kernel, bias, strides, padding, output_padding=(None, None)):
    """Each input pixel stamps x·kernel onto the output (float64, plain loops)."""
    x, kernel = np.float64(x), np.float64(kernel)
    n, h, w, _ = x.shape
    kh, kw, filters, _ = kernel.shape
    (sh, sw) = strides
    oh = keras_output_length(h, kh, sh, padding, output_padding[0])
    ow = keras_output_length(w, kw, sw, padding, output_padding[1])
    top, left = pad_before(oh, kh, sh, padding), pad_before(ow, kw, sw, padding)
    out = np.zeros((n, oh, ow, filters))
    for b, i, j, a, c in itertools.product(range(n), range(h), range(w), range(kh), range(kw)):
        r, col = i * sh + a - top, j * sw + c - left
        if 0 <= r < oh and 0 <= col < ow:
            out[b, r, col] += kernel[a, c] @ x[b, i, j]
    return out if bias is None else out + bias


def layer_with_weights(filters, kernel_size, in_channels, seed=0, **kwargs):
    layer = Conv2DTranspose(filters, kernel_size, **kwargs)
    layer.build((None, None, None, in_channels))
    weights = [rand(seed, layer.kernel.shape)]
    if layer.bias is not None:
        weights.append(rand(seed + 1, layer.bias.shape))
    layer.set_weights(weights)
    return layer


# ---- known values: 1 channel, 2x2 input, 3x3 kernel, stride 2 ----------------------------

X22 = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
# every pixel stamps a 3x3 block of itself, two pixels apart; overlaps add up
VALID_ONES = [[1, 1, 3, 2, 2],
              [1, 1, 3, 2, 2],
              [4, 4, 10, 6, 6],
              [3, 3, 7, 4, 4],
              [3, 3, 7, 4, 4]]


@pytest.mark.parametrize("padding, expected", [
    ("valid", VALID_ONES),
    # TensorFlow: the gradient of a "same" Conv2D of a 4x4 image (pad top 0, bottom 1),
    # so "same" is the valid result without its last row and column
    ("same", [row[:4] for row in VALID_ONES[:4]]),
])
def test_hand_computed_stride_two(padding, expected):
    layer = layer_with_weights(1, 3, 1, strides=2, padding=padding, use_bias=False)
    layer.set_weights([np.ones((3, 3, 1, 1), np.float32)])
    y = layer(X22)
    np.testing.assert_array_equal(y[0, :, :, 0], expected)
    np.testing.assert_array_equal(y, scatter_add(X22, np.ones((3, 3, 1, 1)), None, (2, 2),
                                                 padding))


def test_tensorflow_known_result_for_ones():
    """tf.nn.conv2d_transpose(ones (1,2,2,1), ones (3,3,1,1), (1,4,4,1), 2, "SAME")."""
    layer = layer_with_weights(1, 3, 1, strides=2, padding="same", use_bias=False)
    layer.set_weights([np.ones((3, 3, 1, 1), np.float32)])
    expected = [[1, 1, 2, 1], [1, 1, 2, 1], [2, 2, 4, 2], [1, 1, 2, 1]]
    np.testing.assert_array_equal(layer(np.ones((1, 2, 2, 1), np.float32))[0, :, :, 0], expected)


def test_kernel_layout_is_height_width_filters_inputs():
    """A kernel that is 1 only at [0, 0, f=1, c=0] copies input channel 0 to output channel 1."""
    layer = layer_with_weights(3, 1, 2, use_bias=False)
    assert layer.kernel.shape == (1, 1, 3, 2)
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, 1, 0] = 1.0
    layer.set_weights([kernel])
    x = rand(2, (2, 3, 4, 2))
    y = layer(x)
    np.testing.assert_array_equal(y[..., 1], x[..., 0])
    np.testing.assert_array_equal(y[..., [0, 2]], 0)


def test_is_the_transpose_of_conv2d_with_the_same_kernel():
    """<conv2d(z, K), x> = <conv2d_transpose(x, K), z>: the defining property."""
    x, z = rand(3, (2, 4, 3, 5)), rand(4, (2, 8, 6, 2))
    kernel = rand(5, (3, 3, 2, 5))
    conv, transpose = Conv2D(5, 3, strides=2, padding="same", use_bias=False), \
        Conv2DTranspose(2, 3, strides=2, padding="same", use_bias=False)
    conv.build((None, 8, 6, 2))
    transpose.build((None, 4, 3, 5))
    conv.set_weights([kernel])
    transpose.set_weights([kernel])
    lhs = np.sum(np.float64(conv(z)) * x)
    np.testing.assert_allclose(np.sum(np.float64(transpose(x)) * z), lhs, rtol=1e-5)


# ---- any geometry against the scatter-add -------------------------------------------------

@st.composite
def transpose_cases(draw):
    padding = draw(st.sampled_from(["valid", "same"]))
    kernel, strides = draw(pairs(1, 5)), draw(pairs(1, 3))
    output_padding = draw(st.none() | st.tuples(st.integers(0, strides[0] - 1),
                                                st.integers(0, strides[1] - 1)))
    return dict(padding=padding, kernel=kernel, strides=strides, output_padding=output_padding,
                hw=draw(pairs(1, 5)), in_c=draw(st.integers(1, 3)),
                filters=draw(st.integers(1, 3)), bias=draw(st.booleans()), seed=draw(seeds))


def conv_maps_back(case):
    """Keras/TF accept an output_padding only when a Conv2D of the output gives back the
    input size (fails e.g. for "same", an even kernel and output_padding 0)."""
    for size, k, s, p in zip(case["hw"], case["kernel"], case["strides"],
                             case["output_padding"] or (None, None)):
        out = keras_output_length(size, k, s, case["padding"], p)
        back = -(-out // s) if case["padding"] == "same" else (out - k) // s + 1
        if out < 1 or back != size:
            return False
    return True


@settings(max_examples=40)
@given(case=transpose_cases())
def test_forward_matches_scatter_add(case):
    assume(conv_maps_back(case))
    layer = layer_with_weights(case["filters"], case["kernel"], case["in_c"],
                               seed=case["seed"] % 2**16, strides=case["strides"],
                               padding=case["padding"], output_padding=case["output_padding"],
                               use_bias=case["bias"])
    x = rand(case["seed"] % 2**16 + 7, (2, *case["hw"], case["in_c"]))
    y = layer(x)
    bias = None if layer.bias is None else layer.bias.value
    expected = scatter_add(x, layer.kernel.value, bias,
                           case["strides"], case["padding"],
                           case["output_padding"] or (None, None))
    assert y.shape == expected.shape and y.dtype == np.float32
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *y.shape[1:])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=60)
@given(case=transpose_cases())
def test_output_shape_or_the_error_keras_gives(case):
    layer = Conv2DTranspose(2, case["kernel"], strides=case["strides"], padding=case["padding"],
                            output_padding=case["output_padding"])
    in_shape = (None, *case["hw"], 1)
    if conv_maps_back(case):
        extra = case["output_padding"] or (None, None)
        assert layer.compute_output_shape(in_shape) == (None, *[
            keras_output_length(size, k, s, case["padding"], p)
            for size, k, s, p in zip(case["hw"], case["kernel"], case["strides"], extra)], 2)
    else:
        with pytest.raises(ValueError, match="output_padding"):
            layer.compute_output_shape(in_shape)


@settings(max_examples=40)
@given(kernel=st.sampled_from([1, 3, 5, 7]), stride=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]), size=st.one_of(st.none(), st.integers(1, 30)))
def test_output_shapes_odd_kernels(kernel, stride, padding, size):
    layer = Conv2DTranspose(8, kernel, strides=stride, padding=padding)
    expected = None if size is None else keras_output_length(size, kernel, stride, padding)
    assert layer.compute_output_shape((None, size, 4, 3)) == (
        None, expected, keras_output_length(4, kernel, stride, padding), 8)


@pytest.mark.parametrize("in_shape, kwargs, out_shape", [
    ((7, 7, 32), dict(kernel_size=3, strides=2, padding="same"), (14, 14, 16)),
    ((7, 7, 32), dict(kernel_size=3, strides=2, padding="valid"), (15, 15, 16)),
    ((7, 7, 32), dict(kernel_size=3, strides=2, padding="same", output_padding=1), (14, 14, 16)),
    ((7, 7, 32), dict(kernel_size=3, strides=2, padding="valid", output_padding=1), (16, 16, 16)),
    ((7, 7, 32), dict(kernel_size=2, strides=2, padding="valid"), (14, 14, 16)),
    ((5, 5, 32), dict(kernel_size=1, strides=3, padding="valid"), (15, 15, 16)),  # k < s
    ((5, 6, 32), dict(kernel_size=(3, 2), strides=(1, 2), padding="valid"), (7, 12, 16)),
])
def test_keras_output_shapes(in_shape, kwargs, out_shape):
    layer = Conv2DTranspose(16, **kwargs)
    assert layer.compute_output_shape((None, *in_shape)) == (None, *out_shape)
    layer.build((None, *in_shape))
    assert layer(rand(0, (1, *in_shape))).shape == (1, *out_shape)


# ---- gradients -----------------------------------------------------------------------------

GEOMETRIES = [dict(strides=1, padding="valid"), dict(strides=2, padding="same"),
              dict(strides=(2, 3), padding="valid"), dict(strides=2, padding="valid",
                                                          output_padding=1),
              dict(strides=(3, 2), padding="same", output_padding=(2, 1))]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_gradients_match_float64_scatter_add(geometry):
    """dL/dx, dL/dK, dL/dbias against central differences of L = Σ scatter_add(x, K, b)·R."""
    layer = layer_with_weights(3, (3, 2), 2, seed=8, **geometry)
    x = rand(9, (2, 3, 4, 2))
    y = layer.forward(x)
    r = rand(10, y.shape)
    dx = layer.backward(r)
    strides, padding = layer.strides, layer.padding
    extra = layer.output_padding or (None, None)
    kernel, bias = np.float64(layer.kernel.value), np.float64(layer.bias.value)

    def loss(xx=x, kk=kernel, bb=bias):
        return np.sum(scatter_add(xx, kk, bb, strides, padding, extra) * r)

    for analytic, numeric in [(dx, numerical_gradient(lambda v: loss(xx=v), x)),
                              (layer.kernel.grad, numerical_gradient(lambda v: loss(kk=v), kernel)),
                              (layer.bias.grad, numerical_gradient(lambda v: loss(bb=v), bias))]:
        assert analytic.dtype == np.float32 and analytic.shape == numeric.shape
        np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("geometry", GEOMETRIES[:3])
def test_gradients_with_activation(activation, geometry):
    x = rand(12, (1, 2, 2, 3))

    def pre_activation(seed):
        return layer_with_weights(2, 3, 3, seed=seed, **geometry)(x)

    # relu: finite differences must not step across the kink at 0
    seed = seed_away_from_kink(pre_activation, 0.03) if activation == "relu" else 11
    layer = layer_with_weights(2, 3, 3, seed=seed, activation=activation, **geometry)
    check_layer_gradients(layer, x)


def test_first_layer_skips_the_input_gradient_but_not_the_weights():
    layer = layer_with_weights(2, 3, 2, seed=13, strides=2, padding="same")
    x = rand(14, (2, 3, 3, 2))
    dy = rand(15, layer(x).shape)
    layer.backward(dy)
    kernel_grad, bias_grad = layer.kernel.grad.copy(), layer.bias.grad.copy()
    layer.input_gradient_needed = False
    layer.forward(x)
    assert layer.backward(dy) is None
    np.testing.assert_array_equal(layer.kernel.grad, kernel_grad)
    np.testing.assert_array_equal(layer.bias.grad, bias_grad)


# ---- parameters, configuration, errors ------------------------------------------------------

def test_params_and_weight_layout():
    layer = Conv2DTranspose(16, 3, input_shape=(7, 7, 32))
    layer.build(layer.batch_input_shape)
    assert layer.kernel.shape == (3, 3, 16, 32) and layer.bias.shape == (16,)
    assert layer.count_params() == 3 * 3 * 16 * 32 + 16 == 4624
    assert [v.name for v in layer.variables] == ["kernel", "bias"]
    nobias = Conv2DTranspose(4, (2, 3), use_bias=False)
    nobias.build((None, 5, 5, 6))
    assert nobias.count_params() == 2 * 3 * 4 * 6 and len(nobias.get_weights()) == 1
    assert Convolution2DTranspose is Conv2DTranspose


def test_config_round_trip():
    layer = Conv2DTranspose(4, (3, 1), strides=(2, 1), padding="SAME", output_padding=(1, 0),
                            activation="relu", use_bias=True, kernel_regularizer="l2",
                            name="up")
    config = layer.get_config()
    assert config["kernel_size"] == [3, 1] and config["strides"] == [2, 1]
    assert config["padding"] == "same" and config["output_padding"] == [1, 0]
    clone = Conv2DTranspose.from_config(config)
    assert clone.get_config() == config
    layer.build((None, 3, 3, 2))
    clone.build((None, 3, 3, 2))
    clone.set_weights(layer.get_weights())
    x = rand(16, (2, 3, 3, 2))
    np.testing.assert_array_equal(clone(x), layer(x))
    assert Conv2DTranspose(2, 3).get_config()["output_padding"] is None


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(filters=0), ValueError, "filters"),
    (dict(kernel_size=0), ValueError, "kernel_size"),
    (dict(strides=(1, 0)), ValueError, "strides"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(strides=2, output_padding=2), ValueError, "smaller than strides"),
    (dict(output_padding=-1), ValueError, "output_padding"),
    (dict(output_padding=(0, 0, 0)), ValueError, "output_padding"),
    (dict(data_format="channels_first"), ValueError, "channels last"),
    (dict(dilation_rate=2), NotImplementedError, "dilation_rate"),
])
def test_bad_arguments_are_rejected(kwargs, error, match):
    kwargs = {"filters": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(error, match=match):
        Conv2DTranspose(**kwargs)


def test_input_must_be_an_image_batch():
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        Conv2DTranspose(2, 3).build((None, 4, 4))
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        Conv2DTranspose(2, 3).build((None, 4, 4, None))


# ---- inside a model ------------------------------------------------------------------------

def autoencoder(decoder="transpose"):
    """Encoder Conv2D + MaxPooling2D; decoder Conv2DTranspose or UpSampling2D + Conv2D."""
    grow = ([Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")]
            if decoder == "transpose" else
            [UpSampling2D(2, interpolation="bilinear"), Conv2D(4, 3, padding="same",
                                                               activation="relu")])
    return Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
                       MaxPooling2D(2), *grow,
                       Conv2D(1, 3, padding="same", activation="sigmoid")])


def bars(count=32, seed=0):
    """8x8 images with one bright row or column: a structure worth learning."""
    rng = np.random.default_rng(seed)
    x = np.zeros((count, 8, 8, 1), np.float32)
    for image, line, vertical in zip(x, rng.integers(0, 8, count), rng.integers(0, 2, count)):
        image[(slice(None), line) if vertical else (line, slice(None))] = 1.0
    return x


@pytest.mark.usefixtures("fresh_session")
def test_save_and_load_a_model_with_both_layers(tmp_path):
    model = Sequential([Conv2D(3, 3, strides=2, padding="same", input_shape=(8, 8, 1)),
                        Conv2DTranspose(2, 3, strides=2, padding="valid", output_padding=1,
                                        activation="relu"),
                        UpSampling2D((1, 2), interpolation="bilinear"),
                        Conv2D(1, 3)])
    assert model.output_shape == (None, 8, 18, 1)   # 8 -> 4 -> (4-1)·2+3+1 = 10 -> 10x20 -> 8x18
    model.compile(Adam(learning_rate=0.01), "mse")
    x = bars(8)
    model.fit(x, rand(17, (8, 8, 18, 1)), epochs=1, verbose=0)   # so the optimizer has state
    path = tmp_path / "ae.fastnn"
    model.save(path)
    loaded = load_model(path)
    assert loaded.get_config() == model.get_config()
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.usefixtures("fresh_session")
@pytest.mark.parametrize("decoder", ["transpose", "upsampling"])
def test_autoencoder_learns_to_reconstruct(decoder):
    model = autoencoder(decoder)
    model.compile(Adam(learning_rate=0.01), "binary_crossentropy")
    x = bars()
    history = model.fit(x, x, batch_size=8, epochs=15, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0], losses
