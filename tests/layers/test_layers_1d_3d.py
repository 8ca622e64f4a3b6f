"""Conv1D, Conv3D and 1-D / 3-D pooling against float64 loops of Keras's formulas.

The references below are written from Keras's documentation, not from
fastnn's code: an output position's window starts at ``o * stride - before``
where ``before`` is Keras's padding before the axis (for "same":
``total // 2`` with ``total = max((ceil(n / s) - 1) * s + k - n, 0)``; for
Conv1D's "causal": ``k - 1``); padded cells are zeros for the convolution
and never count for pooling (max ignores them, the mean divides by the
in-bounds count).  A max window gives its gradient to its first maximum in
row-major order (Keras's rule: the first the window scan meets).
"""
import itertools
import math

import numpy as np
import pytest

from fastnn import kernels, layers
from fastnn.layers import (AveragePooling1D, AveragePooling3D, Conv1D, Conv3D, Dense, Flatten,
                           MaxPooling1D, MaxPooling3D)
from fastnn.models import Sequential, load_model
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

from test_layers_gradcheck import check_layer_gradients


def rand(seed, shape, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def distinct(seed, shape):
    """Values 0.1 apart in random order: no two within a finite-difference step."""
    size = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(size).reshape(shape) * 0.1 - size * 0.05
            ).astype(np.float32)


def keras_padding(n, k, s, padding):
    """(output length, zeros before the axis) as Keras computes them."""
    if padding == "valid":
        return (n - k) // s + 1, 0
    if padding == "causal":
        return (n - 1) // s + 1, k - 1
    out = math.ceil(n / s)
    return out, max((out - 1) * s + k - n, 0) // 2


# ---- references ------------------------------------------------------------------------------

def conv1d_reference(x, kernel, bias, stride, padding):
    n, steps, _ = x.shape
    k, _, filters = kernel.shape
    out, before = keras_padding(steps, k, stride, padding)
    y = np.zeros((n, out, filters))
    for o in range(out):
        for tap in range(k):
            t = o * stride - before + tap
            if 0 <= t < steps:
                y[:, o] += x[:, t].astype(np.float64) @ kernel[tap].astype(np.float64)
    return y + (0 if bias is None else bias)


def conv3d_reference(x, kernel, bias, strides, padding):
    """Every output cell: the sum over the kernel's taps that land inside x."""
    spatial = x.shape[1:4]
    geometry = [keras_padding(n, k, s, padding)
                for n, k, s in zip(spatial, kernel.shape[:3], strides)]
    y = np.zeros((x.shape[0], *(out for out, _ in geometry), kernel.shape[-1]))
    for out_index in itertools.product(*(range(out) for out, _ in geometry)):
        for tap in itertools.product(*(range(k) for k in kernel.shape[:3])):
            cell = [o * s - before + t for o, (_, before), s, t in
                    zip(out_index, geometry, strides, tap)]
            if all(0 <= c < n for c, n in zip(cell, spatial)):
                y[(slice(None), *out_index)] += (x[(slice(None), *cell)].astype(np.float64)
                                                 @ kernel[tap].astype(np.float64))
    return y + (0 if bias is None else bias)


def windows(shape, pool_size, strides, padding):
    """For each output index: the in-bounds input indices of its window, row-major."""
    geometry = [keras_padding(n, k, s, padding)
                for n, k, s in zip(shape, pool_size, strides)]
    for out_index in itertools.product(*(range(out) for out, _ in geometry)):
        ranges = [range(max(o * s - before, 0), min(o * s - before + k, n))
                  for o, (_, before), s, k, n in zip(out_index, geometry, strides, pool_size,
                                                      shape)]
        yield out_index, list(itertools.product(*ranges))


def pool_reference(x, pool_size, strides, padding, mode):
    """Forward y and a backward function dy -> dx, float64, any number of axes."""
    spatial = x.shape[1:-1]
    out_shape = [keras_padding(n, k, s, padding)[0] for n, k, s in zip(spatial, pool_size,
                                                                         strides)]
    y = np.zeros((x.shape[0], *out_shape, x.shape[-1]))
    routes = []   # (output index, input index, weight) for the backward pass
    for b in range(x.shape[0]):
        for c in range(x.shape[-1]):
            for out_index, cells in windows(spatial, pool_size, strides, padding):
                values = [float(x[(b, *cell, c)]) for cell in cells]
                if mode == "max":
                    first = int(np.argmax(values))       # the first maximum, row-major
                    y[(b, *out_index, c)] = values[first]
                    routes.append(((b, *out_index, c), (b, *cells[first], c), 1.0))
                else:
                    y[(b, *out_index, c)] = np.mean(values)
                    routes += [((b, *out_index, c), (b, *cell, c), 1.0 / len(cells))
                               for cell in cells]

    def backward(dy):
        dx = np.zeros(x.shape)
        for out_index, in_index, weight in routes:
            dx[in_index] += weight * dy[out_index]
        return dx
    return y, backward


def conv1d_layer(filters, kernel_size, channels, seed=0, **kwargs):
    layer = Conv1D(filters, kernel_size, **kwargs)
    layer.build((None, None, channels))
    weights = [rand(seed, layer.kernel.shape)]
    if layer.bias is not None:
        weights.append(rand(seed + 1, layer.bias.shape))
    layer.set_weights(weights)
    return layer


# ---- Conv1D ----------------------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("kernel_size, strides, steps", [(3, 1, 7), (2, 2, 7), (4, 3, 11),
                                                         (1, 1, 5), (5, 2, 5)])
def test_conv1d_matches_keras_formula(padding, kernel_size, strides, steps):
    layer = conv1d_layer(3, kernel_size, 2, strides=strides, padding=padding)
    x = rand(4, (2, steps, 2))
    y = layer(x)
    expected = conv1d_reference(x, layer.kernel.value, layer.bias.value, strides, padding)
    assert y.shape == expected.shape == layer.compute_output_shape((2, steps, 2))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_causal_output_never_sees_the_future():
    layer = conv1d_layer(2, 3, 1, padding="causal")
    x = rand(1, (1, 8, 1))
    changed = x.copy()
    changed[0, 5:] += 1.0                     # change steps 5, 6, 7
    y, y_changed = layer(x), layer(changed)
    np.testing.assert_array_equal(y[0, :5], y_changed[0, :5])
    assert not np.allclose(y[0, 5:], y_changed[0, 5:])


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides", [1, 2])
def test_conv1d_gradients(padding, strides):
    layer = conv1d_layer(3, 3, 2, seed=2, strides=strides, padding=padding)
    check_layer_gradients(layer, rand(9, (2, 7, 2)), seed=3)


def test_conv1d_with_relu_runs_it_in_the_kernel_and_without_bias():
    layer = conv1d_layer(3, 2, 2, activation="relu", use_bias=False, padding="same")
    x = rand(5, (2, 6, 2))
    assert layer.fuses_activation
    np.testing.assert_allclose(layer(x), np.maximum(
        conv1d_reference(x, layer.kernel.value, None, 1, "same"), 0), rtol=1e-5, atol=1e-6)


def test_conv1d_arguments_and_errors():
    layer = Conv1D(4, (3,), strides=(2,), padding="Causal")
    assert (layer.kernel_size, layer.strides, layer.padding) == ((3,), (2,), "causal")
    with pytest.raises(ValueError, match=r"Conv1D: padding must be one of 'valid', 'same', "
                                         r"'causal', got 'full'"):
        Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match=r"Conv1D: kernel_size must be a positive int or a "
                                         r"tuple of one positive int, got \(3, 3\)"):
        Conv1D(2, (3, 3))
    with pytest.raises(ValueError, match=r"Conv1D: strides \(2,\) with dilation_rate \(2,\)"):
        Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"needs inputs of shape \(batch, steps, channels\)"):
        Conv1D(2, 3)(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="kernel_size 5 does not fit"):
        Conv1D(2, 5).build((None, 4, 1))
    built = conv1d_layer(2, 3, 2)
    with pytest.raises(ValueError, match=r"built for inputs with 2 values on the last axis"):
        built(np.zeros((1, 5, 3), np.float32))


# ---- Conv3D ----------------------------------------------------------------------------------

def conv3d_layer(filters, kernel_size, channels, seed=0, **kwargs):
    layer = Conv3D(filters, kernel_size, **kwargs)
    layer.build((None, None, None, None, channels))
    weights = [rand(seed, layer.kernel.shape)]
    if layer.bias is not None:
        weights.append(rand(seed + 1, layer.bias.shape))
    layer.set_weights(weights)
    return layer


@pytest.mark.parametrize("kernel_size, strides, padding, spatial", [
    (2, 1, "valid", (3, 4, 4)), (3, 1, "same", (3, 4, 5)),
    ((2, 3, 1), (2, 1, 2), "same", (5, 4, 5)), ((3, 2, 2), (2, 3, 1), "valid", (7, 5, 3)),
    ((1, 1, 1), 1, "valid", (2, 2, 2))])
def test_conv3d_matches_keras_formula(kernel_size, strides, padding, spatial):
    layer = conv3d_layer(3, kernel_size, 2, strides=strides, padding=padding)
    x = rand(4, (2, *spatial, 2))
    y = layer(x)
    expected = conv3d_reference(x, layer.kernel.value, layer.bias.value, layer.strides,
                                padding)
    assert y.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strides, padding", [(1, "valid"), ((2, 1, 2), "same"),
                                              ((3, 2, 1), "same")])
def test_conv3d_gradients(strides, padding):
    layer = conv3d_layer(2, (2, 2, 3), 2, seed=5, strides=strides, padding=padding,
                         activation="tanh")
    check_layer_gradients(layer, rand(6, (2, 4, 3, 4, 2)), seed=1)


def test_conv3d_without_input_gradient_and_without_bias():
    layer = conv3d_layer(2, 2, 1, use_bias=False)
    x = rand(2, (1, 3, 3, 3, 1))
    y = layer(x)
    np.testing.assert_allclose(y, conv3d_reference(x, layer.kernel.value, None, (1, 1, 1),
                                                   "valid"), rtol=1e-5, atol=1e-6)
    layer.input_gradient_needed = False
    assert layer.backward(np.ones_like(y)) is None
    assert layer.kernel.grad.shape == (2, 2, 2, 1, 2)


def test_conv3d_arguments_and_errors():
    layer = Conv3D(4, 3, strides=(1, 2, 1), padding="SAME")
    assert (layer.kernel_size, layer.strides, layer.padding) == ((3, 3, 3), (1, 2, 1), "same")
    assert not layer.fuses_activation or layer.activation is None
    with pytest.raises(ValueError, match=r"Conv3D: kernel_size must be a positive int or a "
                                         r"triple of positive ints, got \(3, 3\)"):
        Conv3D(2, (3, 3))
    with pytest.raises(ValueError, match=r"Conv3D: strides \(1, 1, 2\) with dilation_rate "
                                         r"\(1, 2, 1\)"):
        Conv3D(2, 3, strides=(1, 1, 2), dilation_rate=(1, 2, 1))
    with pytest.raises(ValueError, match=r"needs inputs of shape \(batch, depth, height, "
                                         r"width, channels\)"):
        Conv3D(2, 3).build((None, 4, 4, 1))
    with pytest.raises(ValueError, match=r"kernel \(3, 3, 3\) does not fit"):
        Conv3D(2, 3).build((None, 2, 4, 4, 1))


# ---- pooling ---------------------------------------------------------------------------------

POOL_CASES_1D = [((2,), None, "valid", (7,)), ((3,), (2,), "same", (8,)),
                 ((3,), (1,), "same", (5,)), ((2,), (3,), "valid", (9,)),
                 ((4,), (3,), "same", (10,))]
POOL_CASES_3D = [((2, 2, 2), None, "valid", (4, 5, 4)), ((2, 3, 2), (1, 2, 3), "same", (3, 5, 7)),
                 ((3, 1, 2), (2, 1, 1), "same", (5, 3, 4)), ((1, 2, 3), (1, 1, 2), "valid",
                                                              (2, 4, 7))]


def pool_cases():
    for mode in ("max", "avg"):
        for pool_size, strides, padding, spatial in POOL_CASES_1D + POOL_CASES_3D:
            yield mode, pool_size, strides, padding, spatial


LAYERS = {("max", 1): MaxPooling1D, ("avg", 1): AveragePooling1D,
          ("max", 3): MaxPooling3D, ("avg", 3): AveragePooling3D}


@pytest.mark.parametrize("mode, pool_size, strides, padding, spatial", list(pool_cases()))
def test_pooling_matches_keras_formula_forward_and_backward(mode, pool_size, strides, padding,
                                                            spatial):
    rank = len(spatial)
    layer = LAYERS[mode, rank](pool_size, strides, padding)
    # small integers: many ties, which the max must break as Keras does
    x = np.random.default_rng(3).integers(-3, 4, (2, *spatial, 3)).astype(np.float32)
    y = layer(x)
    expected, backward = pool_reference(x, pool_size, strides or pool_size, padding, mode)
    assert y.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    dy = rand(4, y.shape)
    np.testing.assert_allclose(layer.backward(dy), backward(dy), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_every_impl_of_the_3d_kernels_agrees(impl, mode):
    x = rand(1, (2, 5, 4, 6, 3))
    args = ((2, 3, 2), (1, 2, 3), "same")
    forward = getattr(kernels, f"{mode}_pool3d")
    backward = getattr(kernels, f"{mode}_pool3d_backward")
    y = forward(x, *args, impl=impl)
    expected, reference_backward = pool_reference(x, *args, mode)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    dy = rand(2, y.shape)
    np.testing.assert_allclose(backward(x, dy, *args, impl=impl), reference_backward(dy),
                               rtol=1e-5, atol=1e-6)


def test_3d_max_gives_a_tie_to_the_first_cell_in_depth_row_column_order():
    """Two equal maxima: one at (depth 0, row 1, col 1), one at (depth 1, row 0,
    col 0).  Row-major order over (depth, row, column) meets the first one first;
    pooling depth before the rectangle would pick the second."""
    x = np.zeros((1, 2, 2, 2, 1), np.float32)
    x[0, 0, 1, 1, 0] = x[0, 1, 0, 0, 0] = 5.0
    pool = MaxPooling3D(2)
    assert pool(x).item() == 5.0
    grad = pool.backward(np.ones((1, 1, 1, 1, 1), np.float32))
    assert grad[0, 0, 1, 1, 0] == 1.0 and grad.sum() == 1.0


@pytest.mark.parametrize("layer, shape", [
    (MaxPooling1D(3, 2, "same"), (2, 7, 2)), (AveragePooling1D(2, 1), (2, 5, 2)),
    (MaxPooling3D((2, 1, 2), (1, 1, 2), "same"), (1, 3, 2, 5, 2)),
    (AveragePooling3D(2, padding="same"), (1, 3, 3, 3, 2))])
def test_pooling_gradients(layer, shape):
    check_layer_gradients(layer, distinct(7, shape))


def test_pooling_small_examples_by_eye():
    x = np.float32([1, 5, 2, 4, 3]).reshape(1, 5, 1)
    assert MaxPooling1D()(x).ravel().tolist() == [5, 4]
    assert MaxPooling1D(padding="same")(x).ravel().tolist() == [5, 4, 3]
    assert AveragePooling1D(padding="same")(x).ravel().tolist() == [3, 3, 3]
    cube = np.arange(1, 9, dtype=np.float32).reshape(1, 2, 2, 2, 1)
    assert MaxPooling3D()(cube).item() == 8 and AveragePooling3D()(cube).item() == 4.5


def test_pooling_arguments_and_errors():
    assert MaxPooling3D(2).pool_size == (2, 2, 2) and MaxPooling1D((3,)).strides == (3,)
    with pytest.raises(ValueError, match=r"MaxPooling3D: pool_size must be a positive int or "
                                         r"a triple of positive ints, got \(2, 2\)"):
        MaxPooling3D((2, 2))
    with pytest.raises(ValueError, match=r"needs inputs of shape \(batch, depth, height, width, "
                                         r"channels\), got \(None, 4, 4, 1\)"):
        AveragePooling3D().build((None, 4, 4, 1))
    with pytest.raises(ValueError, match=r"max_pool1d: x must be 3-D \(batch, steps, channels\)"):
        kernels.max_pool1d(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"avg_pool3d: pool_size \(3, 1, 1\) does not fit the "
                                         r"input of shape \(1, 2, 2, 2, 1\) with padding='valid'"):
        kernels.avg_pool3d(np.zeros((1, 2, 2, 2, 1), np.float32), (3, 1, 1))
    with pytest.raises(ValueError, match=r"max_pool3d_backward: dy must have shape "
                                         r"\(1, 1, 1, 1, 1\), got \(1, 2, 1, 1, 1\)"):
        kernels.max_pool3d_backward(np.zeros((1, 2, 2, 2, 1), np.float32),
                                    np.zeros((1, 2, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"avg_pool1d: impl must be one of"):
        kernels.avg_pool1d(np.zeros((1, 4, 1), np.float32), impl="fastest")


# ---- models: summary, training, saving ----------------------------------------------------------

def sequence_model():
    return Sequential([
        Conv1D(8, 3, padding="causal", activation="relu", input_shape=(12, 2)),
        MaxPooling1D(2), Conv1D(4, 2, strides=2, padding="same"), AveragePooling1D(3),
        Flatten(), Dense(2, activation="softmax")])


def volume_model():
    return Sequential([Conv3D(3, (2, 3, 3), padding="same", activation="relu",
                              input_shape=(4, 6, 6, 2)),
                       AveragePooling3D((1, 2, 2)),
                       MaxPooling3D(2, padding="same"), Flatten(),
                       Dense(3, activation="softmax")])


def test_summary_has_keras_parameter_counts():
    model = sequence_model()
    # Conv1D: k · in · filters + filters, as Keras counts
    assert [layer.count_params() for layer in model.layers] == [
        3 * 2 * 8 + 8, 0, 2 * 8 * 4 + 4, 0, 0, 4 * 2 + 2]
    assert [layer.output_shape for layer in model.layers] == [
        (None, 12, 8), (None, 6, 8), (None, 3, 4), (None, 1, 4), (None, 4), (None, 2)]
    lines = []
    model.summary(print_fn=lines.append)
    assert any(line.startswith("conv1d") and "(Conv1D)" in line and line.split()[-1] == "56"
               for line in lines)
    assert "Total params: 134" in lines
    # Conv3D: kd · kh · kw · in · filters + filters
    assert Sequential([Conv3D(8, 3, input_shape=(4, 4, 4, 2))]).count_params() == 440


@pytest.mark.parametrize("make_model, shape", [(sequence_model, (12, 2)),
                                               (volume_model, (4, 6, 6, 2))])
def test_models_train_and_come_back_from_a_file(tmp_path, make_model, shape):
    set_random_seed(0)
    model = make_model()
    model.compile(Adam(0.01), "sparse_categorical_crossentropy")
    x = rand(0, (32, *shape))
    labels = np.arange(32) % 2
    x[labels == 1] += 0.5                               # class 1: brighter
    before = model.evaluate(x, labels, verbose=0)
    model.fit(x, labels, epochs=30, batch_size=8, verbose=0)
    assert model.evaluate(x, labels, verbose=0) < 0.5 * before
    model.save(tmp_path / "m.fastnn")
    loaded = load_model(tmp_path / "m.fastnn")
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_keras_aliases():
    assert layers.Convolution1D is Conv1D and layers.Convolution3D is Conv3D
    assert (layers.MaxPool1D, layers.AvgPool1D) == (MaxPooling1D, AveragePooling1D)
    assert (layers.MaxPool3D, layers.AvgPool3D) == (MaxPooling3D, AveragePooling3D)
    assert layers.get("MaxPooling3D") is MaxPooling3D
