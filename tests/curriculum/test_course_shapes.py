"""Dense and Conv2D at the course's real shapes, forward and backward, against float64.

The course feeds batches of 32 flattened 28x28 images (784 values) to
Dense(128, relu) -> Dense(10), and starts its CNNs with a 3x3 convolution of
one grey channel into 32 filters.  These shapes are large enough that the
kernels cut their work between threads -- the 784-long sums of a Dense
layer over 32 rows by the sum itself (split-K), the first convolution's
weight gradient by pixel ranges -- and the tests below follow the layers
and a model's ``compute_gradients`` through them, on 1 and on 2 threads,
against the same network written out in float64 NumPy here.  Odd batches
(7, 33) and 27x27 images (a 25x25 convolution output, whose last row and
column no 2x2 pooling window covers) leave no range even.
"""
import numpy as np
import pytest

import fastnn
from fastnn.kernels import reference
from fastnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.models.training import compute_gradients

from conftest import assert_matches, uniform

pytestmark = pytest.mark.native

BATCH, PIXELS, HIDDEN, CLASSES = 32, 28 * 28, 128, 10

on_1_and_2_threads = pytest.mark.parametrize("threads", [1, 2], indirect=True)
# (batch, image side): odd batches, and 27x27 next to the course's 28x28
image_batches = pytest.mark.parametrize("batch, side", [(7, 28), (33, 27), (7, 27)])


@pytest.fixture
def threads(request, restore_threads):
    """Run the test on ``request.param`` threads, and put the count back after it."""
    fastnn.set_num_threads(request.param)
    if fastnn.get_num_threads() != request.param:
        pytest.skip("built without OpenMP: the kernels run on one thread")
    return request.param


def with_random_weights(layer, rng):
    """Give a built layer uniform weights: kernels in ±1/sqrt(fan-in) (so the
    softmax does not saturate), biases in ±1 (zero biases would hide a bias
    read from the wrong column).  Returns them in float64."""
    kernel, bias = layer.get_weights()
    fan_in = kernel.size // kernel.shape[-1]
    layer.set_weights([uniform(rng, kernel.shape) / np.float32(np.sqrt(fan_in)),
                       uniform(rng, bias.shape)])
    return [w.astype(np.float64) for w in layer.get_weights()]


def relu(z):
    return np.maximum(z, 0)


def softmax_crossentropy_gradient(z, labels):
    """The mean crossentropy of softmax(z) against integer labels and its
    gradient at z, (p - onehot) / rows, in float64."""
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(len(labels)), labels]))
    p[np.arange(len(labels)), labels] -= 1
    return loss, p / len(labels)


# ---- Dense ------------------------------------------------------------------------

@on_1_and_2_threads
def test_dense_128_relu_then_dense_10_on_a_batch_of_32_images(threads):
    rng = np.random.default_rng(1)
    x = uniform(rng, (BATCH, PIXELS))
    hidden, out = Dense(HIDDEN, activation="relu"), Dense(CLASSES)
    hidden.build((None, PIXELS))
    out.build((None, HIDDEN))
    (w1, b1), (w2, b2) = with_random_weights(hidden, rng), with_random_weights(out, rng)
    h = hidden(x)
    y = out(h)
    x64 = x.astype(np.float64)
    z1 = x64 @ w1 + b1
    h64 = relu(z1)
    assert_matches(h, h64, PIXELS + 1)
    assert_matches(y, h64 @ w2 + b2, HIDDEN + 1)

    dy = uniform(rng, y.shape)
    dh = out.backward(dy)
    dx = hidden.backward(dh)
    dy64 = dy.astype(np.float64)
    dz1 = (dy64 @ w2.T) * (z1 > 0)
    assert_matches(out.kernel.grad, h64.T @ dy64, BATCH)
    assert_matches(out.bias.grad, dy64.sum(axis=0), BATCH)
    assert_matches(dh, dy64 @ w2.T, CLASSES)
    assert_matches(hidden.kernel.grad, x64.T @ dz1, BATCH)
    assert_matches(hidden.bias.grad, dz1.sum(axis=0), BATCH)
    assert_matches(dx, dz1 @ w1.T, HIDDEN)


@on_1_and_2_threads
def test_dense_10_straight_on_784_pixels(threads):
    """The output layer on the flat image: 32 x 784 . 784 x 10 + bias, a
    short wide product over a long sum (split-K)."""
    rng = np.random.default_rng(2)
    x = uniform(rng, (BATCH, PIXELS))
    layer = Dense(CLASSES)
    layer.build((None, PIXELS))
    w, b = with_random_weights(layer, rng)
    x64 = x.astype(np.float64)
    assert_matches(layer(x), x64 @ w + b, PIXELS + 1)
    dy = uniform(rng, (BATCH, CLASSES))
    dx = layer.backward(dy)
    dy64 = dy.astype(np.float64)
    assert_matches(layer.kernel.grad, x64.T @ dy64, BATCH)
    assert_matches(layer.bias.grad, dy64.sum(axis=0), BATCH)
    assert_matches(dx, dy64 @ w.T, CLASSES)


@on_1_and_2_threads
@pytest.mark.parametrize("hidden_layer", [True, False], ids=["784-128-10", "784-10"])
def test_compute_gradients_of_the_course_mlp(threads, hidden_layer):
    rng = np.random.default_rng(3)
    layers = [Dense(HIDDEN, activation="relu", input_shape=(PIXELS,))] if hidden_layer else []
    layers.append(Dense(CLASSES, activation="softmax",
                        **({} if hidden_layer else {"input_shape": (PIXELS,)})))
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    weights = [with_random_weights(layer, rng) for layer in model.layers]
    x, labels = uniform(rng, (BATCH, PIXELS)), rng.integers(0, CLASSES, BATCH)
    loss, _ = compute_gradients(model, x, labels)

    a = [x.astype(np.float64)]  # the input of each layer, then the logits
    for w, b in weights[:-1]:
        a.append(relu(a[-1] @ w + b))
    w_out, b_out = weights[-1]
    expected_loss, dz = softmax_crossentropy_gradient(a[-1] @ w_out + b_out, labels)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for layer, (w, _), inputs in reversed(list(zip(model.layers, weights, a))):
        assert_matches(layer.kernel.grad, inputs.T @ dz, BATCH)
        assert_matches(layer.bias.grad, dz.sum(axis=0), BATCH)
        dz = (dz @ w.T) * (inputs > 0)


# ---- Conv2D on grey images ----------------------------------------------------------------

@on_1_and_2_threads
@image_batches
@pytest.mark.parametrize("activation", [None, "relu"])
def test_first_conv_32_filters_3x3_on_grey_images(threads, batch, side, activation):
    rng = np.random.default_rng(batch + side)
    x = uniform(rng, (batch, side, side, 1))
    layer = Conv2D(32, 3, activation=activation)
    layer.build((None, side, side, 1))
    w, b = with_random_weights(layer, rng)
    y = layer(x)
    dy = uniform(rng, y.shape)
    dx = layer.backward(dy)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    z = reference.conv2d(x64, w, b)
    assert_matches(y, z if activation is None else relu(z), 10)
    dz = dy64 if activation is None else np.where(z > 0, dy64, 0)
    dx64, dw64, db64 = reference.conv2d_backward(x64, w, dz)
    pixels = batch * (side - 2) ** 2
    assert_matches(dx, dx64, 9 * 32)
    assert_matches(layer.kernel.grad, dw64, pixels)
    assert_matches(layer.bias.grad, db64, pixels)


@on_1_and_2_threads
@image_batches
def test_compute_gradients_of_conv_relu_maxpool_dense(threads, batch, side):
    """The first layer takes its gradients straight from the pool's output
    gradient (kernels.conv2d_pooled_weight_gradient)."""
    rng = np.random.default_rng(batch * side)
    model = Sequential([Conv2D(32, 3, activation="relu", input_shape=(side, side, 1)),
                        MaxPooling2D(), Flatten(), Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (w1, b1), (w2, b2) = (with_random_weights(model.layers[i], rng) for i in (0, 3))
    x, labels = uniform(rng, (batch, side, side, 1)), rng.integers(0, CLASSES, batch)
    loss, _ = compute_gradients(model, x, labels)

    y = relu(reference.conv2d(x.astype(np.float64), w1, b1))
    pooled = reference.max_pool2d(y)
    flat = pooled.reshape(batch, -1)
    expected_loss, dz = softmax_crossentropy_gradient(flat @ w2 + b2, labels)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    conv, dense = model.layers[0], model.layers[3]
    assert_matches(dense.kernel.grad, flat.T @ dz, batch)
    assert_matches(dense.bias.grad, dz.sum(axis=0), batch)
    dy = reference.relu_backward(y, reference.max_pool2d_backward(
        y, (dz @ w2.T).reshape(pooled.shape)))
    _, dw, db = reference.conv2d_backward(x.astype(np.float64), w1, dy)
    pixels = batch * (side - 2) ** 2
    assert_matches(conv.kernel.grad, dw, pixels)
    assert_matches(conv.bias.grad, db, pixels)
