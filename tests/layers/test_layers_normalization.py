"""BatchNormalization against the formulas of keras-reference §4 (course, chapter 31).

Training:  y = γ(x − μ_B)/√(σ²_B + ε) + β, μ_B and the biased σ²_B over every axis but
``axis``; afterwards moving ← moving·momentum + batch_stat·(1 − momentum).
Inference (and whenever the layer is frozen): the moving statistics replace μ_B, σ²_B.
Weights [gamma, beta, moving_mean, moving_variance], each (C,); only γ, β trainable.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastnn import regularizers
from fastnn.layers import BatchNormalization

from test_layers_gradcheck import check_layer_gradients


def rand(seed, shape, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def feature_shape(ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return shape


def bn_reference(x, gamma, beta, mean, var, epsilon, axis):
    """γ(x − mean)/√(var + ε) + β with (C,) statistics broadcast along ``axis``."""
    shape = feature_shape(x.ndim, axis)
    x = np.float64(x)
    x_hat = (x - np.reshape(mean, shape)) / np.sqrt(np.reshape(var, shape) + epsilon)
    return np.reshape(gamma, shape) * x_hat + np.reshape(beta, shape)


def batch_stats(x, axis):
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    x = np.float64(x)
    return x.mean(axis=axes), x.var(axis=axes)   # biased variance


def bn_with_weights(shape, seed=0, **kwargs):
    """A built layer with random γ, β, moving mean and (positive) moving variance."""
    layer = BatchNormalization(**kwargs)
    layer.build((None,) + tuple(shape[1:]))
    c = layer.moving_mean.shape
    weights = {"gamma": rand(seed, c, 0.5, 1.5), "beta": rand(seed + 1, c),
               "moving_mean": rand(seed + 2, c), "moving_variance": rand(seed + 3, c, 0.5, 2.0)}
    layer.set_weights([weights[v.name] for v in layer.variables])
    return layer


CASES = [  # (input shape, axis)
    ((8, 5), -1),
    ((4, 3, 3, 2), -1),       # channels of an NHWC image
    ((6, 1, 32), 1),          # chapter 31: axis=1 on (None, 1, 32)
    ((5, 3, 4), 1),
    ((3, 2, 4, 5), 2),
]


# ---- weights and shapes ----------------------------------------------------------------

def test_weights_order_shapes_and_counts():
    layer = BatchNormalization()
    layer.build((None, 4, 4, 16))
    assert [v.name for v in layer.variables] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert all(v.shape == (16,) for v in layer.variables)
    assert layer.count_params() == 64
    assert [v.name for v in layer.trainable_variables] == ["gamma", "beta"]
    assert [v.name for v in layer.non_trainable_variables] == ["moving_mean", "moving_variance"]
    gamma, beta, mean, var = layer.get_weights()
    np.testing.assert_array_equal(gamma, 1.0)
    np.testing.assert_array_equal(beta, 0.0)
    np.testing.assert_array_equal(mean, 0.0)
    np.testing.assert_array_equal(var, 1.0)
    assert layer.output_shape == (None, 4, 4, 16)
    assert layer.compute_output_shape((None, 4, 4, 16)) == (None, 4, 4, 16)


def test_chapter_31_axis_1_on_a_length_one_sequence():
    layer = BatchNormalization(axis=1)
    layer.build((None, 1, 32))
    assert all(v.shape == (1,) for v in layer.variables)
    assert layer.count_params() == 4
    assert sum(v.value.size for v in layer.trainable_variables) == 2
    x = rand(1, (6, 1, 32), -3, 5)
    y = layer(x, training=True)
    # one feature: mean and variance over the batch and all 32 positions
    mean, var = np.float64(x).mean(), np.float64(x).var()
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.value, [0.01 * mean], rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.value, [0.99 + 0.01 * var], rtol=1e-5)


def test_moving_statistics_are_never_trainable():
    layer = BatchNormalization(center=False, scale=False)
    layer.build((None, 3))
    assert [v.name for v in layer.variables] == ["moving_mean", "moving_variance"]
    assert layer.trainable_variables == []
    for kwargs in ({}, {"center": False}, {"scale": False}):
        layer = BatchNormalization(**kwargs)
        layer.build((None, 3))
        for trainable in (True, False, True):
            layer.trainable = trainable
            names = {v.name for v in layer.trainable_variables}
            assert not names & {"moving_mean", "moving_variance"}
            assert {"moving_mean", "moving_variance"} <= {
                v.name for v in layer.non_trainable_variables}
    assert [v.name for v in BatchNormalization(center=False).variables] == []   # unbuilt
    layer = BatchNormalization(center=False)
    layer.build((None, 3))
    assert [v.name for v in layer.variables] == ["gamma", "moving_mean", "moving_variance"]
    assert layer.count_params() == 9


def test_frozen_layer_has_no_trainable_variables():
    layer = BatchNormalization(trainable=False)
    layer.build((None, 4))
    assert layer.trainable_variables == []
    assert len(layer.non_trainable_variables) == 4


# ---- forward ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axis", CASES)
def test_training_forward_uses_batch_statistics_and_updates_moving_ones(shape, axis):
    layer = bn_with_weights(shape, seed=2, axis=axis, momentum=0.9, epsilon=1e-3)
    gamma, beta, mm0, mv0 = [np.float64(w) for w in layer.get_weights()]
    x = rand(3, shape, -2, 3)
    y = layer(x, training=True)
    assert y.shape == shape and y.dtype == np.float32
    mean, var = batch_stats(x, axis)
    np.testing.assert_allclose(y, bn_reference(x, gamma, beta, mean, var, 1e-3, axis),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.value, 0.9 * mm0 + 0.1 * mean,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.value, 0.9 * mv0 + 0.1 * var,
                               rtol=1e-5, atol=1e-6)
    # gamma and beta are untouched by the forward pass
    np.testing.assert_array_equal(layer.gamma.value, np.float32(gamma))
    np.testing.assert_array_equal(layer.beta.value, np.float32(beta))


def test_moving_averages_after_several_training_batches():
    layer = BatchNormalization()   # momentum 0.99
    layer.build((None, 3))
    mm, mv = np.zeros(3), np.ones(3)
    for seed in range(5):
        x = rand(seed, (16, 3), -1, 4) * np.float32([1, 2, 3])
        layer(x, training=True)
        mean, var = batch_stats(x, -1)
        mm, mv = 0.99 * mm + 0.01 * mean, 0.99 * mv + 0.01 * var
    np.testing.assert_allclose(layer.moving_mean.value, mm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.value, mv, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape, axis", CASES)
def test_inference_forward_uses_moving_statistics_and_changes_nothing(shape, axis):
    layer = bn_with_weights(shape, seed=4, axis=axis, epsilon=1e-2)
    before = layer.get_weights()
    gamma, beta, mm, mv = [np.float64(w) for w in before]
    x = rand(5, shape, -2, 2)
    for y in (layer(x), layer(x, training=False)):
        np.testing.assert_allclose(y, bn_reference(x, gamma, beta, mm, mv, 1e-2, axis),
                                   rtol=1e-5, atol=1e-5)
    for old, new in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_frozen_layer_runs_in_inference_mode_even_when_training():
    layer = bn_with_weights((8, 3), seed=6, trainable=False)
    before = layer.get_weights()
    gamma, beta, mm, mv = [np.float64(w) for w in before]
    x = rand(7, (8, 3), -3, 3)
    y = layer(x, training=True)
    np.testing.assert_allclose(y, bn_reference(x, gamma, beta, mm, mv, 1e-3, -1),
                               rtol=1e-5, atol=1e-5)
    for old, new in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, new)
    # the frozen backward treats the statistics as constants
    check_layer_gradients(layer, x, training=True)


def test_center_and_scale_off():
    x = rand(8, (10, 4), -2, 2)
    layer = BatchNormalization(center=False, scale=False)
    y = layer(x, training=True)
    mean, var = batch_stats(x, -1)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.float64(y).mean(axis=0), 0.0, atol=1e-5)


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), batch=st.integers(2, 5),
       seed=st.integers(0, 2**16), data=st.data())
def test_training_output_is_normalised_per_feature(shape, batch, seed, data):
    full = (batch, *shape)
    axis = data.draw(st.sampled_from([-1] + list(range(1, len(full)))))
    x = rand(seed, full, -5, 5)
    layer = BatchNormalization(axis=axis, epsilon=1e-6)
    y = np.float64(layer(x, training=True))
    assert y.shape == full
    assert layer.compute_output_shape((None, *shape)) == (None, *shape)
    assert layer.moving_mean.shape == (full[axis],)
    reduce = tuple(a for a in range(len(full)) if a != axis % len(full))
    np.testing.assert_allclose(y.mean(axis=reduce), 0.0, atol=1e-4)
    var = np.float64(x).var(axis=reduce)
    # unit variance wherever the feature actually varies (ε makes it a little less)
    expected = var / (var + 1e-6)
    np.testing.assert_allclose(y.var(axis=reduce), expected, rtol=1e-3, atol=1e-4)


# ---- backward --------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axis", [((6, 4), -1), ((3, 2, 2, 3), -1), ((4, 1, 6), 1),
                                         ((3, 3, 4), 1)])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_gradients(shape, axis, training):
    layer = bn_with_weights(shape, seed=9, axis=axis)
    x = rand(10, shape, -2, 2)
    check_layer_gradients(layer, x, training=training)
    # moving statistics are no parameters: no gradient
    assert layer.moving_mean.grad is None and layer.moving_variance.grad is None


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_gradients_without_center_or_scale(training):
    for kwargs in ({"center": False}, {"scale": False}, {"center": False, "scale": False}):
        layer = bn_with_weights((5, 3), seed=11, **kwargs)
        check_layer_gradients(layer, rand(12, (5, 3), -2, 2), training=training)


def test_training_input_gradient_sums_to_zero_per_feature():
    """Shifting a feature by a constant changes nothing in training: Σ dL/dx = 0."""
    layer = bn_with_weights((7, 2, 3), seed=13)
    layer(rand(14, (7, 2, 3)), training=True)
    dx = layer.backward(rand(15, (7, 2, 3)))
    np.testing.assert_allclose(np.float64(dx).sum(axis=(0, 1)), 0.0, atol=1e-5)


# ---- weights, regularizers, config, errors ---------------------------------------------

def test_set_weights_round_trip_and_errors():
    layer = BatchNormalization(name="my_bn")
    layer.build((None, 3))
    weights = [rand(16, (3,)) for _ in range(4)]
    layer.set_weights(weights)
    for got, want in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="my_bn"):
        layer.set_weights(weights[:2])
    with pytest.raises(ValueError, match="my_bn.*moving_variance"):
        layer.set_weights(weights[:3] + [np.ones(4)])


def test_gamma_and_beta_regularizers():
    layer = BatchNormalization(gamma_regularizer=regularizers.l2(0.01),
                               beta_regularizer=regularizers.l1(0.1))
    layer.build((None, 3))
    layer.set_weights([np.float32([1, 2, 3]), np.float32([-1, 0, 2]), np.ones(3), np.ones(3)])
    assert layer.regularization_loss() == pytest.approx(0.01 * 14 + 0.1 * 3, rel=1e-6)
    layer.trainable = False
    assert layer.regularization_loss() == 0


def test_config_round_trip_keeps_every_argument():
    layer = BatchNormalization(axis=1, momentum=0.8, epsilon=1e-4, center=False,
                               gamma_initializer="zeros", moving_variance_initializer="zeros",
                               gamma_regularizer="l2", name="bn_cfg")
    config = layer.get_config()
    assert {k: config[k] for k in ("axis", "momentum", "epsilon", "center", "scale")} == {
        "axis": 1, "momentum": 0.8, "epsilon": 1e-4, "center": False, "scale": True}
    clone = BatchNormalization.from_config(config)
    assert clone.get_config() == config
    clone.build((None, 2, 3))
    np.testing.assert_array_equal(clone.gamma.value, 0.0)
    np.testing.assert_array_equal(clone.moving_variance.value, 0.0)
    x = rand(17, (4, 2, 3))
    layer.build((None, 2, 3))
    weights = [rand(18 + i, (2,), 0.5, 1.5) for i in range(3)]
    layer.set_weights(weights)
    clone.set_weights(weights)
    for training in (False, True):
        np.testing.assert_array_equal(clone(x, training=training), layer(x, training=training))


def test_axis_errors_name_the_layer():
    with pytest.raises(ValueError, match="axis"):
        BatchNormalization(axis=1.0)
    with pytest.raises(ValueError, match="axis"):
        BatchNormalization(axis=True)
    with pytest.raises(ValueError, match="axis"):
        BatchNormalization(axis=(1, 2))
    assert BatchNormalization(axis=np.int64(1)).axis == 1
    for axis in (0, 3, -4):   # the batch axis and axes outside (None, 2, 3)
        with pytest.raises(ValueError, match="'bn_bad_axis'"):
            BatchNormalization(axis=axis, name="bn_bad_axis").build((None, 2, 3))
    with pytest.raises(ValueError, match="'bn_none'"):
        BatchNormalization(name="bn_none").build((None, 2, None))


def bn_backward_reference(x, dy, gamma, mean, var, epsilon, axis, training):
    """(dx, dgamma, dbeta) in float64: with batch statistics the gradient also
    flows through the mean and variance (chapter 31's backward formulas)."""
    shape, axes = feature_shape(x.ndim, axis), tuple(a for a in range(x.ndim)
                                                       if a != axis % x.ndim)
    x, dy = np.float64(x), np.float64(dy)
    inv_std = np.reshape(1 / np.sqrt(np.float64(var) + epsilon), shape)
    x_hat = (x - np.reshape(np.float64(mean), shape)) * inv_std
    dbeta, dgamma = dy.sum(axis=axes), (dy * x_hat).sum(axis=axes)
    if training:
        dy = dy - dy.mean(axis=axes, keepdims=True) - x_hat * (dy * x_hat).mean(
            axis=axes, keepdims=True)
    return np.reshape(gamma, shape) * inv_std * dy, dgamma, dbeta


def relative_error(actual, expected):
    return np.abs(np.float64(actual) - expected).max() / max(np.abs(expected).max(), 1e-30)


@pytest.mark.parametrize("offset", [0.0, 10.0, 1e3, 1e4])
@pytest.mark.parametrize("batch", [1, 3, 16])
@pytest.mark.parametrize("axis", [-1, 1, 2])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False),
                                           (False, False)])
def test_large_offsets_keep_float32_precision(offset, batch, axis, training, center, scale):
    """Data of std 0.01 around a mean up to 10,000 (un-normalised readings):
    output and every gradient within 1e-5 (relative) of float64, for every
    axis, in training and inference, with center/scale on and off.  (The
    expanded form lost 2.9e-2 of the output at 10,000.)"""
    rng = np.random.default_rng(batch)
    x = (offset + 0.01 * rng.standard_normal((batch, 4, 3, 5))).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    layer = BatchNormalization(axis=axis, center=center, scale=scale)
    layer.build((None,) + x.shape[1:])
    channels = x.shape[axis]
    gamma = rng.uniform(0.5, 2, channels).astype(np.float32) if scale else np.ones(channels)
    beta = rng.uniform(-1, 1, channels).astype(np.float32) if center else np.zeros(channels)
    moving_mean = (batch_stats(x, axis)[0] + 0.002).astype(np.float32)
    moving_var = np.full(channels, 2e-4, np.float32)
    layer.set_weights([w for w, on in ((gamma, scale), (beta, center)) if on]
                      + [moving_mean, moving_var])
    mean, var = batch_stats(x, axis) if training else (moving_mean, moving_var)
    y = layer(x, training=training)
    assert relative_error(y, bn_reference(x, gamma, beta, mean, var, layer.epsilon, axis)) <= 1e-5
    dx = layer.backward(dy)
    edx, edgamma, edbeta = bn_backward_reference(x, dy, gamma, mean, var, layer.epsilon, axis,
                                                 training)
    if training and batch * x.size // (batch * channels) == 1:
        assert np.all(dx == 0)  # one value per channel: its own mean, no gradient
    else:
        assert relative_error(dx, edx) <= 1e-5
        if scale:
            assert relative_error(layer.gamma.grad, edgamma) <= 1e-5
    if center:
        assert relative_error(layer.beta.grad, edbeta) <= 1e-6


@pytest.mark.parametrize("offset", [10.0, 100.0, 1e3])
@pytest.mark.parametrize("batch", [1, 5, 32])
def test_weight_gradient_through_bn_after_an_offset_dense_layer(offset, batch):
    """Dense (bias offset) -> BN -> Dense, MSE: the first layer's weight
    gradient was off by 2.8e-5 / 7.2e-3 / 1.1e-1 (relative) at offsets
    10 / 100 / 1,000, and ~3e-6 instead of exactly 0 for a batch of one."""
    from fastnn.layers import Dense
    from fastnn.models import Sequential
    from fastnn.models.training import compute_gradients

    rng = np.random.default_rng(batch)
    model = Sequential([Dense(6, input_shape=(4,), bias_initializer="zeros"),
                        BatchNormalization(), Dense(3)])
    model.compile(optimizer="sgd", loss="mse")
    w1 = (0.01 * rng.standard_normal((4, 6))).astype(np.float32)
    b1 = np.full(6, offset, np.float32)
    w2 = rng.standard_normal((6, 3)).astype(np.float32)
    b2 = rng.standard_normal(3).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 2, 6).astype(np.float32), rng.standard_normal(6).astype(
        np.float32)
    model.set_weights([w1, b1, gamma, beta, np.zeros(6, np.float32), np.ones(6, np.float32),
                       w2, b2])
    x = rng.standard_normal((batch, 4)).astype(np.float32)
    y = rng.standard_normal((batch, 3)).astype(np.float32)
    compute_gradients(model, x, y)
    # float64 reference of the same network, from the first layer's float32
    # output (h itself can hold only float32's ~1e-6 of 10; the rest must not add error)
    h = np.float64(model.layers[0](x))
    mean, var = h.mean(axis=0), h.var(axis=0)
    inv_std = 1 / np.sqrt(var + 1e-3)
    z = gamma * (h - mean) * inv_std + beta
    out = z @ np.float64(w2) + b2
    dout = 2 * (out - y) / out.size
    dz = dout @ np.float64(w2).T
    x_hat = (h - mean) * inv_std
    dh = gamma * inv_std * (dz - dz.mean(axis=0) - x_hat * (dz * x_hat).mean(axis=0))
    expected = np.float64(x).T @ dh
    got = model.layers[0].kernel.grad
    if batch == 1:
        assert np.all(got == 0)
    else:
        assert relative_error(got, expected) <= 1e-5
