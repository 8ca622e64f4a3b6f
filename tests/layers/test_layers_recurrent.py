"""SimpleRNN, LSTM and GRU against Keras's formulas, written out in float64 below.

The reference reads the weights in Keras's layouts (kernel (features,
G·units), recurrent_kernel (units, G·units), bias; gates i, f, c, o and z, r,
h side by side), so passing these tests means ``set_weights`` with a Keras
layer's arrays gives Keras's outputs.  Real Keras 3 runs the "recurrent"
stack of tests/layer_stacks.py in tests/test_keras_files.py (files both ways).
Gradients: finite differences (``check_layer_gradients``), dropout masks
included.  The time loop's kernels: tests/test_recurrent_kernel.py.
"""
import functools

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.models import Sequential

from conftest import numerical_gradient
from test_layers_gradcheck import check_layer_gradients

ACT = {"tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
       "relu": lambda x: np.maximum(x, 0), "linear": lambda x: x,
       "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1)}


def keras_formulas(layer, x, weights, units, activation="tanh", recurrent_activation="sigmoid",
                   return_sequences=False, go_backwards=False):
    """Keras's recurrent layer (of ``layer``'s class; a GRU with its
    reset_after) in float64, step by step, gate by gate: (output, final h,
    final c or None)."""
    cls = type(layer)
    kernel, recurrent = (np.asarray(w, np.float64) for w in weights[:2])
    bias = np.asarray(weights[2], np.float64) if len(weights) == 3 else None
    act, ract = ACT[activation], ACT[recurrent_activation]
    x = np.asarray(x, np.float64)[:, ::-1] if go_backwards else np.asarray(x, np.float64)
    h = c = np.zeros((x.shape[0], units))
    outputs = []

    def part(matrix, k):
        return matrix[..., k * units:(k + 1) * units]

    for t in range(x.shape[1]):
        xt = x[:, t]
        if cls is layers.SimpleRNN:
            h = act(xt @ kernel + h @ recurrent + (0 if bias is None else bias))
        elif cls is layers.LSTM:
            b = np.zeros(4 * units) if bias is None else bias
            i = ract(xt @ part(kernel, 0) + h @ part(recurrent, 0) + part(b, 0))
            f = ract(xt @ part(kernel, 1) + h @ part(recurrent, 1) + part(b, 1))
            g = act(xt @ part(kernel, 2) + h @ part(recurrent, 2) + part(b, 2))
            o = ract(xt @ part(kernel, 3) + h @ part(recurrent, 3) + part(b, 3))
            c = f * c + i * g
            h = o * act(c)
        elif not layer.reset_after:  # the reset gate on h before the product, no recurrent bias
            b = np.zeros(3 * units) if bias is None else bias
            z = ract(xt @ part(kernel, 0) + h @ part(recurrent, 0) + part(b, 0))
            r = ract(xt @ part(kernel, 1) + h @ part(recurrent, 1) + part(b, 1))
            hh = act(xt @ part(kernel, 2) + (r * h) @ part(recurrent, 2) + part(b, 2))
            h = z * h + (1 - z) * hh
        else:
            b_in, b_rec = (np.zeros(3 * units),) * 2 if bias is None else bias
            z = ract(xt @ part(kernel, 0) + part(b_in, 0) + h @ part(recurrent, 0) + part(b_rec, 0))
            r = ract(xt @ part(kernel, 1) + part(b_in, 1) + h @ part(recurrent, 1) + part(b_rec, 1))
            hh = act(xt @ part(kernel, 2) + part(b_in, 2)
                     + r * (h @ part(recurrent, 2) + part(b_rec, 2)))
            h = z * h + (1 - z) * hh
        outputs.append(h)
    output = np.stack(outputs, axis=1) if return_sequences else h
    return output, h, (c if cls is layers.LSTM else None)


def random_weights(layer, seed=1, scale=0.5):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, scale, v.shape).astype(np.float32) for v in layer.variables]


def sequences(batch=4, steps=6, features=3, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, features)).astype(np.float32)


# GRU(reset_after=False) as a class of its own for the parametrized tests
GRU_RESET_BEFORE = functools.partial(layers.GRU, reset_after=False)
CLASSES = [layers.SimpleRNN, layers.LSTM, layers.GRU, GRU_RESET_BEFORE]
OPTIONS = [dict(), dict(return_sequences=True), dict(go_backwards=True),
           dict(return_sequences=True, go_backwards=True), dict(use_bias=False),
           dict(activation="relu", recurrent_activation="hard_sigmoid"),
           dict(activation="linear", recurrent_activation="tanh")]


def build(cls, units, x, **options):
    layer = cls(units, **options)
    layer.build((None,) + x.shape[1:])
    layer.set_weights(random_weights(layer))
    return layer


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("cls", CLASSES)
def test_outputs_follow_keras_formulas_on_keras_weights(cls, options):
    x = sequences()
    layer = build(cls, 5, x, **options)
    formula_options = {k: v for k, v in options.items() if k != "use_bias"}  # weights tell
    want, _, _ = keras_formulas(layer, x, layer.get_weights(), 5, **formula_options)
    got = layer(x)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", CLASSES)
def test_return_state_gives_the_final_states(cls):
    x = sequences()
    layer = build(cls, 5, x, return_sequences=True, return_state=True)
    got = layer(x)
    want, h, c = keras_formulas(layer, x, layer.get_weights(), 5, return_sequences=True)
    assert len(got) == (3 if cls is layers.LSTM else 2)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], h, rtol=1e-5, atol=1e-5)
    if cls is layers.LSTM:
        np.testing.assert_allclose(got[2], c, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("options", OPTIONS[:5])
@pytest.mark.parametrize("cls", CLASSES)
def test_gradients_match_finite_differences(cls, options):
    x = sequences(batch=3, steps=5)
    check_layer_gradients(build(cls, 4, x, **options), x)


@pytest.mark.parametrize("cls", CLASSES)
def test_gradients_with_dropout_masks_match_finite_differences(cls):
    """The masks are drawn once per forward pass; fixed here, so that every
    evaluation of the loss sees the same ones."""
    x = sequences(batch=3, steps=5)
    layer = build(cls, 4, x, dropout=0.3, recurrent_dropout=0.4)
    rng = np.random.default_rng(5)
    masks = {shape: ((rng.random(shape) < 0.6) / 0.6).astype(np.float32)
             for shape in [(3, 3), (3, 4)]}
    layer._mask = lambda shape, rate: masks[shape]
    check_layer_gradients(layer, x, training=True)


@pytest.mark.parametrize("cls", CLASSES)
def test_gradients_of_the_returned_states_match_finite_differences(cls):
    x = sequences(batch=2, steps=4)
    layer = build(cls, 3, x, return_state=True)
    rng = np.random.default_rng(2)
    r = [rng.uniform(-1, 1, (2, 3)) for _ in range(3 if cls is layers.LSTM else 2)]

    def loss(xx):
        return sum(float(np.sum(out * ri)) for out, ri in zip(layer(xx.astype(np.float32)), r))

    layer(x, training=True)
    dx = layer.backward([ri.astype(np.float32) for ri in r])
    np.testing.assert_allclose(dx, numerical_gradient(loss, x.astype(np.float64), 1e-2),
                               rtol=1e-2, atol=1e-3)


def test_dropout_masks_are_fixed_for_the_whole_sequence():
    """A dropped input feature is dropped at every step: its gradient is zero
    for all steps of that sample, and other features' are not."""
    x = sequences(batch=8, steps=6, features=10)
    layer = build(layers.LSTM, 4, x, dropout=0.5, seed=3)
    layer(x, training=True)
    dx = layer.backward(np.ones((8, 4), np.float32))
    dropped = np.all(dx == 0, axis=1)               # (batch, features)
    assert 0 < dropped.sum() < dropped.size
    assert np.all((dx != 0).any(axis=1) | dropped)
    # inference draws no mask: the formulas without dropout
    want, _, _ = keras_formulas(layer, x, layer.get_weights(), 4)
    np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-5)


def test_keras_default_initializers_and_biases():
    lstm = layers.LSTM(3)
    lstm.build((None, 2, 4))
    np.testing.assert_array_equal(lstm.bias.value, [0, 0, 0, 1, 1, 1] + [0] * 6)
    u = lstm.recurrent_kernel.value
    assert u.shape == (3, 12)
    np.testing.assert_allclose(u @ u.T, np.eye(3), atol=1e-5)   # orthogonal rows
    gru = layers.GRU(3)
    gru.build((None, 2, 4))
    assert gru.bias.shape == (2, 9) and gru.reset_after is True
    gru_v1 = layers.GRU(3, reset_after=False)
    gru_v1.build((None, 2, 4))
    assert gru_v1.bias.shape == (9,) and gru_v1.reset_after is False
    plain = layers.LSTM(3, unit_forget_bias=False)
    plain.build((None, 2, 4))
    np.testing.assert_array_equal(plain.bias.value, np.zeros(12))


def test_parameter_counts_are_keras_s():
    model = Sequential([layers.Input(shape=(50, 32)), layers.LSTM(128, return_sequences=True),
                        layers.GRU(16, return_sequences=True),
                        layers.GRU(12, reset_after=False, return_sequences=True),
                        layers.SimpleRNN(8)])
    assert [l.count_params() for l in model.layers] == [
        4 * (128 * 32 + 128 * 128 + 128), 3 * (16 * (128 + 16) + 2 * 16),
        3 * (12 * (16 + 12) + 12), 8 * 12 + 8 * 8 + 8]
    assert model.layers[0].count_params() == 82_432
    assert model.output_shape == (None, 8)


@pytest.mark.parametrize("cls", CLASSES)
def test_config_round_trip_and_fastnn_file(tmp_path, cls):
    layer = cls(3, return_sequences=True, go_backwards=True, dropout=0.1, seed=4,
                recurrent_initializer="glorot_uniform")
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == {**layer.get_config(), "name": clone.name}
    model = Sequential([layers.Input(shape=(5, 2)), layer, layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "m.fastnn")
    loaded = fastnn.models.load_model(tmp_path / "m.fastnn")
    x = sequences(steps=5, features=2)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("cls", CLASSES)
def test_a_tiny_sequence_model_learns(cls):
    """Sum of a sequence's values: the loss falls well below its start."""
    fastnn.utils.set_random_seed(0)
    x = sequences(batch=256, steps=8, features=1, seed=1) * 0.5
    y = x.sum(axis=(1, 2))[:, None]
    model = Sequential([layers.Input(shape=(8, 1)), cls(8), layers.Dense(1)])
    model.compile(optimizer=fastnn.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]


@pytest.mark.parametrize("make, message", [
    (lambda: layers.LSTM(0), "LSTM: units must be a positive int, got 0"),
    (lambda: layers.GRU(3, reset_after="no"), "GRU: reset_after must be True or False, got 'no'"),
    (lambda: layers.SimpleRNN(3, activation="elu"), "SimpleRNN: activation must be one of"),
    (lambda: layers.LSTM(3, recurrent_activation="softmax"),
     "LSTM: recurrent_activation must be one of"),
    (lambda: layers.LSTM(3, dropout=1.0), r"LSTM: dropout must be a number in \[0, 1\)"),
    (lambda: layers.GRU(3, implementation=3), "GRU: implementation must be 1 or 2"),
    (lambda: layers.LSTM(3)(np.zeros((2, 3), np.float32)),
     r"needs inputs of shape \(batch, steps, features\)"),
    (lambda: build(layers.LSTM, 3, sequences())(sequences(features=4)),
     r"was built for inputs \(batch, steps, 3\), got shape \(4, 6, 4\)"),
    (lambda: Sequential([layers.Input(shape=(5, 2)), layers.LSTM(3, return_state=True)]),
     "has return_state=True, so it returns a list"),
])
def test_bad_arguments_and_inputs_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()
