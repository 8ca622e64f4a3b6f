"""Dilated convolutions (``dilation_rate``) of Conv1D, Conv2D and Conv3D.

The reference is the definition, in float64, tap by tap: tap t of a kernel
with rate d reads the input t·d further along, and "same" / "causal" pad
the span (k - 1)·d + 1 as Keras does (same: (span - 1) // 2 zeros before,
the rest after; causal: span - 1 zeros before).  fastnn computes it another
way -- the input cut into phases, one ordinary convolution
(``kernels.dilation``) -- so agreement is a real check; gradients are
checked against finite differences and against the reference's adjoint.
"""
import itertools

import numpy as np
import pytest

from fastnn import layers
from fastnn.kernels import conv2d, conv2d_backward
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

from test_layers_gradcheck import check_layer_gradients


def rand(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def padded(x, kernel, rates, padding):
    """x (batch, *axes, channels) with Keras's zeros for the dilated kernel."""
    pads = [(0, 0)]
    for k, d in zip(kernel, rates):
        span = (k - 1) * d + 1
        pads.append({"valid": (0, 0), "same": ((span - 1) // 2, span - 1 - (span - 1) // 2),
                     "causal": (span - 1, 0)}[padding])
    return np.pad(x.astype(np.float64), pads + [(0, 0)])


def dilated_conv(x, w, rates, padding):
    """y[n, o..., f] = Σ_taps x_padded[n, o + t·d ..., c] · w[t..., c, f], float64."""
    xp = padded(x, w.shape[:-2], rates, padding)
    axes = len(rates)
    out = [xp.shape[1 + a] - (w.shape[a] - 1) * rates[a] for a in range(axes)]
    y = np.zeros((x.shape[0], *out, w.shape[-1]))
    for taps in itertools.product(*(range(k) for k in w.shape[:-2])):
        window = tuple(slice(t * d, t * d + o) for t, d, o in zip(taps, rates, out))
        y += np.tensordot(xp[(slice(None),) + window], w[taps].astype(np.float64), axes=1)
    return y


CONV2D_CASES = [  # (x shape, kernel (kh, kw), rates, padding)
    ((2, 9, 11, 3), (3, 3), (2, 2), "valid"),
    ((2, 9, 11, 3), (3, 2), (2, 3), "same"),
    ((3, 7, 8, 4), (2, 3), (3, 1), "same"),
    ((1, 12, 5, 2), (3, 1), (4, 1), "valid"),
    ((2, 17, 19, 5), (3, 3), (5, 4), "same"),        # rates larger than the kernel
    ((65, 20, 20, 8), (3, 3), (2, 2), "same"),       # above the kernels' split thresholds
]


@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
@pytest.mark.parametrize("shape, kernel, rates, padding", CONV2D_CASES)
def test_conv2d_kernel_with_dilation_matches_the_definition(shape, kernel, rates, padding,
                                                           impl):
    x, w, b = rand(0, shape), rand(1, kernel + (shape[-1], 6)), rand(2, (6,))
    y = conv2d(x, w, b, padding=padding, impl=impl, dilation_rate=rates)
    expected = dilated_conv(x, w, rates, padding) + b
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    relu = conv2d(x, w, b, padding=padding, impl=impl, activation="relu", dilation_rate=rates)
    np.testing.assert_array_equal(relu, np.maximum(y, 0))


@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("shape, kernel, rates, padding", CONV2D_CASES)
def test_conv2d_backward_with_dilation_is_the_adjoint_of_the_definition(shape, kernel, rates,
                                                                        padding, impl):
    """<dy, conv(v, w)> = <dx, v> and <dy, conv(x, u)> = <dw, u> for random v, u:
    dx and dw are the transposes of the (linear) definition."""
    x, w = rand(0, shape), rand(1, kernel + (shape[-1], 6))
    dy = rand(3, dilated_conv(x, w, rates, padding).shape)
    dx, dw, db = conv2d_backward(x, w, dy, padding=padding, impl=impl, dilation_rate=rates)
    v, u = rand(4, x.shape).astype(np.float64), rand(5, w.shape).astype(np.float64)
    np.testing.assert_allclose((dx * v).sum(), (dy * dilated_conv(v, w, rates, padding)).sum(),
                               rtol=1e-4)
    np.testing.assert_allclose((dw * u).sum(), (dy * dilated_conv(x, u, rates, padding)).sum(),
                               rtol=1e-4)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
    assert conv2d_backward(x, w, dy, padding=padding, impl=impl, dilation_rate=rates,
                           compute_dx=False)[0] is None


def test_dilation_rate_one_is_the_ordinary_convolution():
    x, w = rand(0, (2, 8, 9, 3)), rand(1, (3, 3, 3, 4))
    np.testing.assert_array_equal(conv2d(x, w, padding="same", dilation_rate=1),
                                  conv2d(x, w, padding="same"))


LAYER_CASES = [  # (layer, input shape without the batch, rates for the reference, padding)
    (layers.Conv1D(4, 3, dilation_rate=2, padding="causal"), (13, 3), (2,), "causal"),
    (layers.Conv1D(4, 2, dilation_rate=4, padding="same"), (11, 2), (4,), "same"),
    (layers.Conv1D(3, 3, dilation_rate=3), (12, 2), (3,), "valid"),
    (layers.Conv2D(4, (3, 2), dilation_rate=(2, 3), padding="same"), (7, 9, 2), (2, 3), "same"),
    (layers.Conv3D(3, (2, 3, 2), dilation_rate=(2, 1, 2), padding="same"), (5, 6, 7, 2),
     (2, 1, 2), "same"),
    (layers.Conv3D(3, 2, dilation_rate=(3, 2, 1)), (5, 6, 4, 2), (3, 2, 1), "valid"),
]


@pytest.mark.parametrize("layer, shape, rates, padding", LAYER_CASES,
                         ids=[f"{type(c[0]).__name__}-{c[3]}-{c[2]}" for c in LAYER_CASES])
def test_dilated_layers_match_the_definition_and_finite_differences(layer, shape, rates,
                                                                    padding):
    set_random_seed(0)
    x = rand(6, (2,) + shape)
    y = layer(x)
    expected = dilated_conv(x, layer.kernel.value, rates, padding) + layer.bias.value
    assert y.shape == expected.shape == layer.compute_output_shape((2,) + shape)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    check_layer_gradients(layer, x)


def test_a_causal_dilated_output_never_sees_the_future():
    """WaveNet's point: with causal padding, output t depends on inputs <= t only."""
    set_random_seed(0)
    layer = layers.Conv1D(2, 3, dilation_rate=4, padding="causal")
    x = rand(0, (1, 20, 1))
    later = x.copy()
    later[:, 12:] += 1.0                   # change the future from step 12 on
    np.testing.assert_array_equal(layer(x)[:, :12], layer(later)[:, :12])
    assert not np.array_equal(layer(x)[:, 12], layer(later)[:, 12])


def test_a_dilated_stack_trains_saves_its_rate_and_comes_back_from_its_config():
    set_random_seed(0)
    model = Sequential([layers.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu",
                                      input_shape=(10, 10, 1)),
                        layers.MaxPooling2D(2), layers.Flatten(),
                        layers.Dense(2, activation="softmax")])
    assert model.layers[0].count_params() == 3 * 3 * 1 * 4 + 4     # the rate adds no weight
    assert "dilated" in str(model.plan)    # the pooled first-layer rule declines, and says why
    x = np.random.default_rng(0).uniform(0, 1, (32, 10, 10, 1)).astype(np.float32)
    labels = np.arange(32) % 2
    x[labels == 1, ::2, ::2] += 1.0        # a pattern with period 2: what rate 2 sees
    model.compile(Adam(0.02), "sparse_categorical_crossentropy")
    before = model.evaluate(x, labels, verbose=0)
    model.fit(x, labels, epochs=20, batch_size=8, verbose=0)
    assert model.evaluate(x, labels, verbose=0) < 0.5 * before
    clone = Sequential.from_config(model.get_config())
    assert clone.layers[0].dilation_rate == (2, 2)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_dilations_are_named():
    x, w = rand(0, (1, 6, 6, 1)), rand(1, (3, 3, 1, 1))
    with pytest.raises(ValueError, match=r"conv2d: strides \(2, 2\) with dilation_rate \(2, 2\)"):
        conv2d(x, w, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"conv2d: the kernel \(3, 3\) dilated by \(3, 3\) spans "
                                         r"\(7, 7\) and does not fit x of shape \(1, 6, 6, 1\)"):
        conv2d(x, w, dilation_rate=3)
    with pytest.raises(ValueError, match=r"\(Conv2D\): kernel \(3, 3\) \(spanning \(7, 7\)\) "
                                         r"does not fit inputs of shape"):
        Sequential([layers.Conv2D(1, 3, dilation_rate=3, input_shape=(6, 6, 1))])
    with pytest.raises(NotImplementedError, match=r"Conv2DTranspose: dilation_rate \(2, 2\)"):
        layers.Conv2DTranspose(1, 3, dilation_rate=2)
