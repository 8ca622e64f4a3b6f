"""Training a CNN whose 3x3 convolutions run on Winograd's F(4x4, 3x3)
(csrc/conv2d_winograd.c) follows the same loss curve as on the GEMM.

Winograd rounds differently (a few times the definition's float32 error), so
the curves are not bit-equal; over a few epochs of SGD the differences must
stay at float32 noise: every epoch's loss within 1e-4 relative, the final
weights within 1e-3 of their size.  The Conv2D layers call kernels.conv2d
and conv2d_backward with algorithm "auto"; here they are made to force one
or the other.
"""
import functools

import numpy as np
import pytest

from fastnn.kernels import conv2d, conv2d_backward
from fastnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.optimizers import SGD
from fastnn.utils import set_random_seed

pytestmark = [pytest.mark.native]


def train(monkeypatch, algorithm):
    """Loss per epoch and final weights of a small mnist_cnn-like net whose
    middle convolutions (16 -> 32 valid, 32 -> 32 same) take ``algorithm``."""
    import fastnn.layers.conv2d as layer_module
    monkeypatch.setattr(layer_module, "conv2d",
                        functools.partial(conv2d, algorithm=algorithm))
    monkeypatch.setattr(layer_module, "conv2d_backward",
                        functools.partial(conv2d_backward, algorithm=algorithm))
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 14, 14, 16)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    model = Sequential([Conv2D(32, 3, activation="relu", input_shape=(14, 14, 16)),
                        Conv2D(32, 3, padding="same", activation="tanh"),
                        MaxPooling2D(2), Flatten(), Dense(10, activation="softmax")])
    model.compile(optimizer=SGD(0.05), loss="categorical_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    return np.array(history.history["loss"]), model.get_weights()


def test_winograd_and_gemm_train_to_the_same_loss_curve(monkeypatch):
    loss_w, weights_w = train(monkeypatch, "winograd")
    loss_g, weights_g = train(monkeypatch, "gemm")
    assert loss_w[-1] < 0.9 * loss_w[0]          # it does learn
    assert not np.array_equal(loss_w, loss_g)    # two different computations
    np.testing.assert_allclose(loss_w, loss_g, rtol=1e-4)
    for a, b in zip(weights_w, weights_g):
        np.testing.assert_allclose(a, b, atol=1e-3 * np.abs(b).max())
