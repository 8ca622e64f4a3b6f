"""Dense, Activation, Dropout, Flatten, Reshape and Input against NumPy written here,
plus the contract every layer shares: weights, naming, config, argument errors.

References follow /work/shared/keras-reference.md §1 (auto-naming), §4 (layers)
and §9 (weights, trainable).
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import backend, layers, regularizers
from fastnn.layers import (Activation, AveragePooling2D, AvgPool2D, BatchNormalization, Conv2D,
                           Dense, Dropout, Flatten, Input, InputLayer, MaxPool2D, MaxPooling2D,
                           Reshape)

from test_layers_gradcheck import check_layer_gradients, seed_away_from_kink


def rand(seed, shape, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


# ---- NumPy references (float64) --------------------------------------------------------

def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


NP_ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": np_sigmoid,
    "tanh": np.tanh,
    "softmax": np_softmax,
}


def dense_reference(x, kernel, bias, activation):
    z = np.einsum("...i,io->...o", np.float64(x), np.float64(kernel))
    if bias is not None:
        z = z + bias
    return NP_ACTIVATIONS[activation](z)


def dense_with_weights(units, in_features, activation=None, use_bias=True, seed=0, **kwargs):
    layer = Dense(units, activation=activation, use_bias=use_bias, **kwargs)
    layer.build((None, in_features))
    weights = [rand(seed, (in_features, units))]
    if use_bias:
        weights.append(rand(seed + 1, (units,)))
    layer.set_weights(weights)
    return layer


# ---- Dense: shapes ---------------------------------------------------------------------

def test_dense_on_nd_input_course_example():
    layer = Dense(16, input_shape=(20, 20, 3))
    assert layer.batch_input_shape == (None, 20, 20, 3)
    layer.build(layer.batch_input_shape)
    assert layer.output_shape == (None, 20, 20, 16)
    assert layer.kernel.shape == (3, 16) and layer.bias.shape == (16,)
    assert layer.count_params() == 64
    y = layer(rand(0, (2, 20, 20, 3)))
    assert y.shape == (2, 20, 20, 16) and y.dtype == np.float32


def test_dense_on_sequence_of_length_one():
    layer = Dense(3)
    assert layer.compute_output_shape((None, 1, 5)) == (None, 1, 3)
    layer.build((None, 1, 5))
    assert layer.output_shape == (None, 1, 3)
    assert layer.count_params() == 5 * 3 + 3
    assert layer(rand(1, (4, 1, 5))).shape == (4, 1, 3)


def test_dense_input_dim_is_input_shape():
    assert Dense(2, input_dim=5).batch_input_shape == Dense(2, input_shape=(5,)).batch_input_shape
    assert Dense(2, input_dim=5).batch_input_shape == (None, 5)
    assert Dense(2, input_shape=(5,), batch_size=8).batch_input_shape == (8, 5)


@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=3),
       features=st.integers(1, 6), units=st.integers(1, 6), batch=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_dense_any_rank_matches_einsum(lead, features, units, batch, seed):
    shape = (batch, *lead, features)
    layer = dense_with_weights(units, features, seed=seed)
    assert layer.compute_output_shape((None, *lead, features)) == (None, *lead, units)
    x = rand(seed + 2, shape)
    y = layer(x)
    assert y.shape == (batch, *lead, units) and y.dtype == np.float32
    expected = dense_reference(x, layer.kernel.value, layer.bias.value, "linear")
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


# ---- Dense: forward and backward -------------------------------------------------------

@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_forward_matches_numpy(activation, use_bias):
    layer = dense_with_weights(4, 6, activation=activation, use_bias=use_bias, seed=3)
    x = rand(4, (5, 6))
    expected = dense_reference(x, layer.kernel.value,
                               layer.bias.value if use_bias else None, activation)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)
    if activation == "softmax":
        np.testing.assert_allclose(layer(x).sum(axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "softmax", "relu"])
@pytest.mark.parametrize("x_shape", [(3, 4), (2, 3, 4)], ids=["2d", "3d"])
def test_dense_gradients(activation, x_shape):
    def pre_activation(seed):
        layer = dense_with_weights(5, 4, seed=seed)
        return dense_reference(rand(seed + 7, x_shape), layer.kernel.value,
                               layer.bias.value, "linear")

    # relu: keep every pre-activation further from 0 than a perturbation can move it
    seed = seed_away_from_kink(pre_activation, 0.05) if activation == "relu" else 0
    layer = dense_with_weights(5, 4, activation=activation, seed=seed)
    # linear: L is linear in x and in the weights, so the differences are exact up to rounding
    tight = {"rtol": 1e-3, "atol": 1e-4} if activation == "linear" else {}
    check_layer_gradients(layer, rand(seed + 7, x_shape), seed=seed, **tight)


def test_dense_gradient_formulas():
    """dW = xᵀ·dz, db = Σ dz, dx = dz·Wᵀ over all leading axes (linear activation)."""
    layer = dense_with_weights(3, 4, seed=5)
    x, dy = rand(6, (2, 5, 4)), rand(7, (2, 5, 3))
    layer.forward(x)
    dx = layer.backward(dy)
    rows, dz = np.float64(x).reshape(-1, 4), np.float64(dy).reshape(-1, 3)
    np.testing.assert_allclose(layer.kernel.grad, rows.T @ dz, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.bias.grad, dz.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dy @ np.float64(layer.kernel.value).T, rtol=1e-5, atol=1e-5)


def test_dense_activation_equals_separate_activation_layer():
    x = rand(8, (4, 3))
    fused = dense_with_weights(5, 3, activation="tanh", seed=9)
    plain = dense_with_weights(5, 3, seed=9)
    act = Activation("tanh")
    np.testing.assert_allclose(fused(x), act(plain(x)), rtol=1e-6, atol=1e-7)
    dy = rand(10, (4, 5))
    np.testing.assert_allclose(fused.backward(dy), plain.backward(act.backward(dy)),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fused.kernel.grad, plain.kernel.grad, rtol=1e-6, atol=1e-7)


# ---- Activation ------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(NP_ACTIVATIONS))
def test_activation_layer_forward_and_gradients(name):
    x = rand(11, (3, 2, 5), low=-2, high=2)
    if name == "relu":
        x[np.abs(x) < 0.1] = 0.5  # away from the kink
    layer = Activation(name)
    y = layer(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert layer.compute_output_shape((None, 2, 5)) == (None, 2, 5)
    np.testing.assert_allclose(y, NP_ACTIVATIONS[name](np.float64(x)), rtol=1e-5, atol=1e-6)
    check_layer_gradients(layer, x)
    assert layer.count_params() == 0 and layer.get_weights() == []


def test_activation_layer_accepts_none_and_functions():
    x = rand(12, (2, 3))
    np.testing.assert_array_equal(Activation(None)(x), x)
    np.testing.assert_allclose(Activation(fastnn.activations.sigmoid)(x), np_sigmoid(x),
                               rtol=1e-6)
    assert Activation(fastnn.activations.sigmoid).get_config()["activation"] == "sigmoid"
    with pytest.raises(ValueError, match="bogus"):
        Activation("bogus")


# ---- Dropout ---------------------------------------------------------------------------

def test_dropout_is_identity_at_inference():
    x = rand(13, (4, 5, 6))
    layer = Dropout(0.5, seed=1)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    dy = rand(14, x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    assert layer.compute_output_shape((None, 5, 6)) == (None, 5, 6)
    assert layer.count_params() == 0


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_training_zeroes_or_scales_and_keeps_the_right_fraction(rate):
    x = rand(15, (200, 500), low=0.5, high=1.5)   # no zeros in x
    layer = Dropout(rate, seed=2)
    y = layer(x, training=True)
    assert y.dtype == np.float32 and y.shape == x.shape
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-6)
    # 100 000 Bernoulli(1 - rate) draws: standard deviation of the fraction <= 0.0016
    assert abs(kept.mean() - (1 - rate)) < 0.01
    # the expected value is unchanged (inverted dropout)
    assert abs(y.sum() / x.sum() - 1.0) < 0.02


def test_dropout_backward_uses_the_forward_mask():
    x = rand(16, (6, 7), low=0.5, high=1.5)
    layer = Dropout(0.4, seed=3)
    y = layer(x, training=True)
    dy = rand(17, x.shape)
    dx = layer.backward(dy)
    expected = np.where(y != 0, dy / np.float32(0.6), 0.0)
    np.testing.assert_allclose(dx, expected, rtol=1e-6)


def test_dropout_seed_makes_masks_repeatable():
    x = np.ones((50, 40), np.float32)
    first = [Dropout(0.5, seed=42)(x, training=True) for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    layer = Dropout(0.5, seed=42)
    a, b = layer(x, training=True), layer(x, training=True)
    np.testing.assert_array_equal(a, first[0])
    assert not np.array_equal(a, b)   # the layer's generator moves on
    assert not np.array_equal(Dropout(0.5, seed=43)(x, training=True), a)


def test_dropout_global_seed_makes_masks_repeatable():
    x = np.ones((30, 30), np.float32)
    fastnn.utils.set_random_seed(7)
    a = Dropout(0.3)(x, training=True)
    fastnn.utils.set_random_seed(7)
    b = Dropout(0.3)(x, training=True)
    np.testing.assert_array_equal(a, b)


def test_dropout_rate_zero_and_noise_shape():
    x = rand(18, (3, 4, 4, 5), low=0.5, high=1.5)
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True), x)
    y = Dropout(0.5, noise_shape=(None, 1, 1, 5), seed=4)(x, training=True)
    mask = (y != 0)
    # whole feature maps are kept or dropped
    assert np.all(mask == mask[:, :1, :1, :])
    assert mask.any() and not mask.all()
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 1), name="drop_ns")(x, training=True)


@pytest.mark.parametrize("rate", [1, 1.0, -0.1, 2, None, "0.5", True, float("nan")])
def test_dropout_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


# ---- Flatten and Reshape ---------------------------------------------------------------

def test_flatten_row_major_channels_fastest():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    layer = Flatten()
    y = layer(x)
    assert y.shape == (2, 60)
    # element (h, w, c) lands at (h·W + w)·C + c
    for h, w, c in [(0, 0, 1), (1, 2, 3), (2, 3, 4)]:
        assert y[1, (h * 4 + w) * 5 + c] == x[1, h, w, c]
    assert layer.compute_output_shape((None, 8, 8, 128)) == (None, 8192)
    assert layer.compute_output_shape((None, 10, 10, 32)) == (None, 3200)
    assert layer.compute_output_shape((None, 7)) == (None, 7)
    dy = rand(19, y.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy.reshape(x.shape))
    assert layer.count_params() == 0


def test_reshape_forward_backward_and_shapes():
    x = rand(20, (2, 3, 4))
    layer = Reshape((4, 3))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 4, 3)
    y = layer(x)
    np.testing.assert_array_equal(y, x.reshape(2, 4, 3))
    check_layer_gradients(Reshape((2, -1)), x)
    assert Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert Reshape((-1,)).compute_output_shape((None, 3, 4)) == (None, 12)
    assert Reshape((1, -1))(x).shape == (2, 1, 12)


def test_reshape_errors():
    with pytest.raises(ValueError, match="'reshape_bad'"):
        Reshape((5, 5), name="reshape_bad").build((None, 3, 4))
    with pytest.raises(ValueError, match="'reshape_bad2'"):
        Reshape((5, -1), name="reshape_bad2").build((None, 3, 4))
    with pytest.raises(ValueError):
        Reshape((-1, -1))
    with pytest.raises(ValueError):
        Reshape((0, 4))
    with pytest.raises(ValueError, match="target_shape"):   # was a bare TypeError from numpy
        Reshape((None, 4))


@given(dims=st.lists(st.integers(1, 4), min_size=1, max_size=4), batch=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_flatten_then_reshape_round_trips(dims, batch, seed):
    x = rand(seed, (batch, *dims))
    flat = Flatten()
    y = flat(x)
    assert flat.compute_output_shape((None, *dims)) == (None, math.prod(dims))
    assert y.shape == (batch, math.prod(dims))
    back = Reshape(tuple(dims))
    assert back.compute_output_shape((None, math.prod(dims))) == (None, *dims)
    np.testing.assert_array_equal(back(y), x)


# ---- Input / InputLayer ----------------------------------------------------------------

def test_input_declares_the_sample_shape():
    layer = Input(shape=(28, 28, 1))
    assert isinstance(layer, InputLayer)
    assert layer.batch_input_shape == (None, 28, 28, 1)
    assert Input(shape=784).batch_input_shape == (None, 784)
    assert Input(shape=(5,), batch_size=4).batch_input_shape == (4, 5)
    assert InputLayer(input_shape=(3, 2)).batch_input_shape == (None, 3, 2)
    x = rand(21, (2, 28, 28, 1))
    np.testing.assert_array_equal(layer(x), x)
    assert layer.compute_output_shape((None, 28, 28, 1)) == (None, 28, 28, 1)
    assert layer.count_params() == 0 and layer.variables == []
    dy = rand(22, x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy)


@pytest.mark.parametrize("shape", [None, (0,), (3, -1), (2.5,), "abc"])
def test_input_bad_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        Input(shape=shape)


# ---- weights ---------------------------------------------------------------------------

def test_dense_weights_round_trip_and_copies():
    layer = Dense(3, use_bias=True)
    layer.build((None, 4))
    assert [v.name for v in layer.variables] == ["kernel", "bias"]
    kernel, bias = rand(23, (4, 3)), rand(24, (3,))
    layer.set_weights([kernel, bias])
    got = layer.get_weights()
    np.testing.assert_array_equal(got[0], kernel)
    np.testing.assert_array_equal(got[1], bias)
    assert all(w.dtype == np.float32 for w in got)
    got[0][...] = 99.0   # get_weights returns copies
    np.testing.assert_array_equal(layer.kernel.value, kernel)
    layer.set_weights([kernel.astype(np.float64).tolist(), [1, 2, 3]])  # lists and ints accepted
    np.testing.assert_array_equal(layer.bias.value, [1.0, 2.0, 3.0])
    assert layer.count_params() == 15
    nobias = Dense(3, use_bias=False)
    nobias.build((None, 4))
    assert len(nobias.get_weights()) == 1 and nobias.count_params() == 12


def test_set_weights_wrong_count_or_shape_names_the_layer():
    layer = Dense(3, name="my_dense")
    layer.build((None, 4))
    before = layer.get_weights()
    with pytest.raises(ValueError, match="my_dense"):
        layer.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match="my_dense"):
        layer.set_weights([np.zeros((4, 3)), np.zeros(3), np.zeros(3)])
    with pytest.raises(ValueError, match=r"my_dense.*\(4, 3\).*\(3, 4\)"):
        layer.set_weights([np.zeros((3, 4)), np.zeros(3)])
    # a bad second array leaves the first weight untouched
    with pytest.raises(ValueError, match="my_dense"):
        layer.set_weights([np.ones((4, 3)), np.zeros(4)])
    for old, new in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_trainable_false_moves_every_weight_to_non_trainable():
    layer = Dense(3, trainable=False)
    layer.build((None, 2))
    assert layer.trainable_variables == [] and layer.trainable_weights == []
    assert [v.name for v in layer.non_trainable_variables] == ["kernel", "bias"]
    layer.trainable = True
    assert [v.name for v in layer.trainable_variables] == ["kernel", "bias"]
    assert layer.non_trainable_variables == []
    assert layer.count_params() == 9   # counted either way


def test_l2_regularization_loss_and_gradient():
    layer = Dense(4, kernel_regularizer=regularizers.l2(0.01))
    layer.build((None, 3))
    kernel = np.float64(layer.kernel.value)
    assert layer.regularization_loss() == pytest.approx(0.01 * np.sum(kernel ** 2), rel=1e-6)
    # the bias is not regularised: a non-zero bias changes nothing
    layer.bias.value[...] = 5.0
    assert layer.regularization_loss() == pytest.approx(0.01 * np.sum(kernel ** 2), rel=1e-6)
    layer.forward(rand(25, (2, 3)))
    layer.backward(np.zeros((2, 4), np.float32))
    layer.add_regularization_gradients()
    np.testing.assert_allclose(layer.kernel.grad, 2 * 0.01 * kernel, rtol=1e-6)
    np.testing.assert_array_equal(layer.bias.grad, 0.0)
    layer.trainable = False
    assert layer.regularization_loss() == 0


def test_l1_bias_regularizer_adds_to_kernel_penalty():
    layer = Dense(2, kernel_regularizer="l2", bias_regularizer=regularizers.l1(0.5))
    layer.build((None, 3))
    layer.set_weights([rand(26, (3, 2)), np.float32([1.0, -2.0])])
    expected = 0.01 * np.sum(np.float64(layer.kernel.value) ** 2) + 0.5 * 3.0
    assert layer.regularization_loss() == pytest.approx(expected, rel=1e-6)


# ---- naming ----------------------------------------------------------------------------

def test_auto_names_count_per_class():
    backend.clear_session()
    assert [Dense(1).name for _ in range(3)] == ["dense", "dense_1", "dense_2"]
    assert Dense(1, name="output").name == "output"      # takes no counter slot
    assert Dense(1).name == "dense_3"
    assert Conv2D(1, 3).name == "conv2d"
    assert Conv2D(1, 3).name == "conv2d_1"
    assert MaxPooling2D().name == "max_pooling2d"
    assert MaxPool2D().name == "max_pooling2d_1"          # an alias is the same class
    assert AveragePooling2D().name == "average_pooling2d"
    assert AvgPool2D().name == "average_pooling2d_1"
    assert BatchNormalization().name == "batch_normalization"
    assert Flatten().name == "flatten"
    assert Dropout(0.5).name == "dropout"
    assert Activation("relu").name == "activation"
    assert Reshape((1,)).name == "reshape"
    assert Dense(1).name == "dense_4"
    backend.clear_session()
    assert Dense(1).name == "dense"
    assert fastnn.backend.clear_session is fastnn.naming.clear_session


# ---- get_config / from_config ----------------------------------------------------------

LAYER_FACTORIES = {
    "dense": (lambda: Dense(4, activation="tanh", kernel_regularizer=regularizers.l2(0.01),
                            bias_regularizer="l1", input_shape=(3,)), (2, 3)),
    "dense_nobias": (lambda: Dense(2, use_bias=False, kernel_initializer="he_normal",
                                   trainable=False), (2, 3, 5)),
    "conv2d": (lambda: Conv2D(3, (3, 2), strides=2, padding="same", activation="relu",
                              input_shape=(6, 5, 2)), (2, 6, 5, 2)),
    "max_pool": (lambda: MaxPooling2D(3, strides=2, padding="same"), (2, 5, 5, 2)),
    "avg_pool": (lambda: AveragePooling2D((2, 3)), (1, 4, 6, 3)),
    "flatten": (lambda: Flatten(), (2, 3, 4)),
    "reshape": (lambda: Reshape((-1, 2)), (2, 3, 4)),
    "dropout": (lambda: Dropout(0.3, noise_shape=(None, 1), seed=5), (4, 6)),
    "batch_norm": (lambda: BatchNormalization(axis=1, momentum=0.9, epsilon=1e-2,
                                              gamma_regularizer="l2"), (4, 1, 5)),
    "batch_norm_no_center": (lambda: BatchNormalization(center=False), (4, 3)),
    "activation": (lambda: Activation("softmax"), (2, 5)),
    "input": (lambda: Input(shape=(3, 4), batch_size=2), (2, 3, 4)),
}


@pytest.mark.parametrize("kind", sorted(LAYER_FACTORIES))
def test_config_round_trip(kind):
    factory, x_shape = LAYER_FACTORIES[kind]
    layer = factory()
    config = layer.get_config()
    cls = layers.get(type(layer).__name__)
    assert cls is type(layer)
    clone = cls.from_config(config)
    assert clone.get_config() == config
    assert clone.name == layer.name
    # built: same weights in, same outputs out
    x = rand(27, x_shape)
    y = layer(x)
    assert y.shape[1:] == layer.output_shape[1:]
    assert y.shape[1:] == layer.compute_output_shape((None,) + x_shape[1:])[1:]
    weights = [w + rand(28, w.shape) * 0.1 for w in layer.get_weights()]
    layer.set_weights(weights)
    clone.build(layer.input_shape)
    clone.set_weights(weights)
    np.testing.assert_array_equal(clone(x), layer(x))
    assert clone.get_config() == layer.get_config()


def test_config_is_json_serialisable():
    import json
    for factory, _ in LAYER_FACTORIES.values():
        config = factory().get_config()
        assert json.loads(json.dumps(config)) == config


def test_layers_get_unknown_class():
    with pytest.raises(ValueError, match="NoSuchLayer"):
        layers.get("NoSuchLayer")


# ---- argument errors -------------------------------------------------------------------

@pytest.mark.parametrize("units", [0, -3, 1.5, "4", None, True])
def test_dense_bad_units(units):
    with pytest.raises(ValueError, match="units"):
        Dense(units)
    with pytest.raises(ValueError, match="units"):
        Dense(units=units)


def test_dense_accepts_numpy_int_units():
    assert Dense(np.int64(3)).units == 3


@pytest.mark.parametrize("factory", [
    lambda: Dense(3, foo=1), lambda: Conv2D(2, 3, foo=1), lambda: MaxPooling2D(foo=1),
    lambda: AveragePooling2D(foo=1), lambda: Flatten(foo=1), lambda: Reshape((2,), foo=1),
    lambda: Dropout(0.5, foo=1), lambda: BatchNormalization(foo=1),
    lambda: Activation("relu", foo=1), lambda: InputLayer(shape=(2,), foo=1),
])
def test_unknown_keyword_is_a_type_error_naming_it(factory):
    with pytest.raises(TypeError, match="foo"):
        factory()


def test_dtype_other_than_float32_is_rejected():
    assert Dense(2, dtype="float32").name
    with pytest.raises(ValueError, match="float32"):
        Dense(2, dtype="float64")


def test_dense_needs_a_known_last_axis():
    with pytest.raises(ValueError, match="'dense_1d'"):
        Dense(3, name="dense_1d")(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="'dense_none'"):
        Dense(3, name="dense_none").build((None, None))


@pytest.mark.parametrize("bad", [(0, 3), (3, -1), (2.5,), "abc"])
def test_bad_input_shape(bad):
    with pytest.raises(ValueError, match="input_shape"):
        Dense(3, input_shape=bad)
