"""GlobalAveragePooling1D/2D/3D and GlobalMaxPooling1D/2D/3D against float64 NumPy.

Keras's formulas: the mean or the maximum of each channel over all steps
(1-D), all pixels (2-D) or all voxels (3-D); ``keepdims=True`` keeps the pooled axes with
length 1.  Gradients are those of Keras's ``ops.mean`` and ``ops.max``
(JAX's and TensorFlow's): the mean's dy is shared by all positions, the
max's goes to the maximum and is split equally among tied maxima.
"""
import numpy as np
import pytest

from fastnn import layers
from fastnn.layers import (Conv1D, Conv2D, Conv3D, Dense, GlobalAveragePooling1D,
                           GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalMaxPooling1D,
                           GlobalMaxPooling2D, GlobalMaxPooling3D)
from fastnn.models import Sequential, load_model
from fastnn.utils import set_random_seed
from fastnn.optimizers import Adam

from test_layers_gradcheck import check_layer_gradients

CASES = [(GlobalAveragePooling1D, (3, 7, 4)), (GlobalAveragePooling2D, (3, 5, 6, 4)),
         (GlobalAveragePooling3D, (2, 3, 4, 5, 3)),
         (GlobalMaxPooling1D, (3, 7, 4)), (GlobalMaxPooling2D, (3, 5, 6, 4)),
         (GlobalMaxPooling3D, (2, 3, 4, 5, 3))]


def rand(seed, shape):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def reference(cls, x, dy):
    """Forward (keepdims) and dx of Keras's formula, float64."""
    x = x.astype(np.float64)
    axes = tuple(range(1, x.ndim - 1))
    dy = dy.astype(np.float64).reshape((x.shape[0],) + (1,) * len(axes) + (x.shape[-1],))
    if "Average" in cls.__name__:
        count = np.prod([x.shape[a] for a in axes])
        return x.mean(axis=axes, keepdims=True), np.broadcast_to(dy / count, x.shape)
    y = x.max(axis=axes, keepdims=True)
    winners = x == y
    return y, winners * dy / winners.sum(axis=axes, keepdims=True)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("cls, shape", CASES)
def test_global_pooling_matches_keras_formula(cls, shape, keepdims):
    layer = cls(keepdims=keepdims)
    x = rand(1, shape)
    y = layer(x)
    expected_shape = ((shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],) if keepdims
                      else (shape[0], shape[-1]))
    assert y.shape == expected_shape == layer.compute_output_shape((shape[0],) + shape[1:])
    assert y.dtype == np.float32
    dy = rand(2, y.shape)
    expected, expected_dx = reference(cls, x, dy)
    np.testing.assert_allclose(y, expected.reshape(y.shape), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer.backward(dy), expected_dx, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cls, shape", [(GlobalMaxPooling1D, (1, 6, 1)),
                                        (GlobalMaxPooling2D, (1, 2, 3, 1)),
                                        (GlobalMaxPooling3D, (1, 3, 1, 2, 1))])
def test_tied_maxima_share_the_gradient_as_in_keras(cls, shape):
    x = np.float32([1, 4, 2, 4, 0, 4]).reshape(shape)
    layer = cls()
    assert layer(x).item() == 4.0
    dx = layer.backward(np.float32([[3.0]]))
    np.testing.assert_array_equal(dx.ravel(), [0, 1, 0, 1, 0, 1])


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("cls, shape", CASES)
def test_global_pooling_gradients(cls, shape, keepdims):
    x = (np.random.default_rng(3).permutation(np.prod(shape)).reshape(shape) * 0.1
         ).astype(np.float32)     # maxima 0.1 apart from the rest: no tie within eps
    check_layer_gradients(cls(keepdims=keepdims), x)


def test_the_mean_of_many_positions_is_accurate():
    x = np.full((1, 1000, 1000, 1), 0.1, np.float32)
    assert GlobalAveragePooling2D()(x).item() == np.float32(0.1)


def test_errors_name_what_was_wrong():
    with pytest.raises(ValueError, match=r"GlobalAveragePooling2D: fastnn stores images "
                                         r"channels last"):
        GlobalAveragePooling2D(data_format="channels_first")
    with pytest.raises(ValueError, match=r"GlobalMaxPooling1D: keepdims must be True or False"):
        GlobalMaxPooling1D(keepdims=1)
    with pytest.raises(ValueError, match=r"\(GlobalMaxPooling2D\) needs inputs of shape "
                                         r"\(batch, height, width, channels\), got \(None, 5, 3\)"):
        GlobalMaxPooling2D()(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(GlobalAveragePooling3D\) needs inputs of shape "
                                         r"\(batch, depth, height, width, channels\)"):
        GlobalAveragePooling3D()(np.zeros((2, 5, 3, 4), np.float32))


def test_a_cnn_with_global_pooling_trains_saves_and_loads(tmp_path):
    """The classifier head of chapter 27 without Flatten: Conv2D -> global
    average -> Dense, with Keras's parameter counts."""
    set_random_seed(0)
    model = Sequential([Conv2D(6, 3, activation="relu", input_shape=(8, 8, 1)),
                        GlobalAveragePooling2D(), Dense(2, activation="softmax")])
    assert [l.count_params() for l in model.layers] == [3 * 3 * 1 * 6 + 6, 0, 6 * 2 + 2]
    assert model.layers[1].output_shape == (None, 6)
    x = np.random.default_rng(0).uniform(0, 1, (32, 8, 8, 1)).astype(np.float32)
    labels = np.arange(32) % 2
    x[labels == 1, 2:6, 2:6] += 1.0                    # a bright square: class 1
    model.compile(Adam(0.02), "sparse_categorical_crossentropy")
    before = model.evaluate(x, labels, verbose=0)
    model.fit(x, labels, epochs=40, batch_size=8, verbose=0)
    assert model.evaluate(x, labels, verbose=0) < 0.5 * before
    model.save(tmp_path / "m.fastnn")
    loaded = load_model(tmp_path / "m.fastnn")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_sequence_model_with_every_global_pool_comes_back_from_its_config():
    model = Sequential([Conv1D(3, 2, input_shape=(6, 2)), GlobalMaxPooling1D(keepdims=True),
                        GlobalAveragePooling1D()])
    clone = Sequential.from_config(model.get_config())
    assert clone.layers[1].keepdims and not clone.layers[2].keepdims
    assert clone.output_shape == (None, 3)


def test_a_volume_model_with_3d_global_pooling_trains_with_keras_counts():
    """Conv3D -> GlobalMaxPooling3D -> Dense learns which of two volumes holds a bright cube."""
    set_random_seed(0)
    model = Sequential([Conv3D(4, 2, activation="relu", input_shape=(4, 5, 5, 1)),
                        GlobalMaxPooling3D(), Dense(2, activation="softmax")])
    assert [l.count_params() for l in model.layers] == [2 * 2 * 2 * 1 * 4 + 4, 0, 4 * 2 + 2]
    assert model.layers[1].output_shape == (None, 4)
    x = np.random.default_rng(1).uniform(0, 0.5, (32, 4, 5, 5, 1)).astype(np.float32)
    labels = np.arange(32) % 2
    x[labels == 1, 1:3, 1:3, 1:3] += 1.0
    model.compile(Adam(0.02), "sparse_categorical_crossentropy")
    before = model.evaluate(x, labels, verbose=0)
    model.fit(x, labels, epochs=30, batch_size=8, verbose=0)
    assert model.evaluate(x, labels, verbose=0) < 0.5 * before
    clone = Sequential.from_config(model.get_config())
    assert isinstance(clone.layers[1], GlobalMaxPooling3D)


def test_keras_aliases():
    assert (layers.GlobalAvgPool1D, layers.GlobalAvgPool2D) == (GlobalAveragePooling1D,
                                                                 GlobalAveragePooling2D)
    assert (layers.GlobalMaxPool1D, layers.GlobalMaxPool2D) == (GlobalMaxPooling1D,
                                                                 GlobalMaxPooling2D)
    assert (layers.GlobalAvgPool3D, layers.GlobalMaxPool3D) == (GlobalAveragePooling3D,
                                                                 GlobalMaxPooling3D)
