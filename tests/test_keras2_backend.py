"""fastnn.backend as tf.keras 2 code uses it (``from ... import backend as K``).

The tutorials' idioms: ``K.set_value(model.optimizer.lr, 0.001)`` and
``K.get_value(model.optimizer.lr)``, which in tf.keras 2.x act on the
optimizer's learning-rate variable: the next step uses the new rate, exactly
as after ``model.optimizer.lr = 0.001``.
"""
import copy
import pickle
import re

import numpy as np
import pytest

from fastnn import backend as K
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD, Adam

pytestmark = pytest.mark.usefixtures("fresh_session")
RNG = np.random.default_rng(3)
X, Y = RNG.normal(size=(16, 3)), RNG.normal(size=(16, 1))


def regression(optimizer):
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer, "mse")
    return model


def mse_gradient(model):
    """dMSE/dkernel = 2/N·Xᵀ(Xw + b − y), in float64: the reference gradient."""
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    return 2 / len(X) * X.T @ (X @ kernel + bias - Y)


@pytest.mark.parametrize("handle", ["lr", "learning_rate"])
def test_set_value_changes_the_rate_of_the_next_step(handle):
    """One SGD step after K.set_value(opt.lr, 0.001) moves the kernel by
    exactly 0.001 x its gradient (the float32 gradient the step used, and
    the float64 formula to float32 precision)."""
    model = regression(SGD(learning_rate=0.5))
    K.set_value(getattr(model.optimizer, handle), 0.001)
    assert model.optimizer.lr == model.optimizer.learning_rate == 0.001
    assert K.get_value(model.optimizer.lr) == 0.001
    before, reference = model.get_weights()[0], mse_gradient(model)
    model.train_on_batch(X, Y)
    kernel = model.layers[0].kernel
    np.testing.assert_array_equal(kernel.value, before - np.float32(0.001) * kernel.grad)
    np.testing.assert_allclose(before - kernel.value, 0.001 * reference, rtol=1e-4)


def test_set_value_acts_exactly_as_assigning_the_rate():
    """Two models, one changed with K.set_value and one by assignment (the
    course's chapter 9), stay bit-identical over steps with Adam."""
    first, second = regression(Adam()), regression(Adam())
    second.set_weights(first.get_weights())
    for rate in (0.01, 0.003):
        K.set_value(first.optimizer.lr, rate)
        second.optimizer.lr = rate
        first.train_on_batch(X, Y)
        second.train_on_batch(X, Y)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_rate_reads_like_a_variable():
    """tf.keras 2.x's opt.lr is a variable: K.get_value, .numpy() and K.eval
    give its current value, also through a handle read before the change
    (assumed from tf.Variable semantics: assigning opt.lr assigns to the
    existing variable), and .assign(v) sets it."""
    optimizer = SGD(learning_rate=0.1)
    handle = optimizer.lr
    optimizer.lr = 0.02
    assert K.get_value(handle) == handle.numpy() == 0.02
    assert handle == 0.1                     # as a number: the rate when it was read
    handle.assign(0.3)
    assert optimizer.learning_rate == 0.3
    value = K.eval(optimizer.lr)
    assert isinstance(value, np.floating) and value == 0.3
    assert type(K.get_value(optimizer.lr)) is float


def test_set_value_replaces_a_schedule_like_assignment_does():
    optimizer = SGD(learning_rate=lambda step: 0.1 / (1 + step))
    assert K.get_value(optimizer.lr) == 0.1
    K.set_value(optimizer.lr, np.float32(0.25))
    optimizer.iterations = 7
    assert optimizer.learning_rate == 0.25


def test_the_rate_copies_and_pickles_as_a_plain_float():
    rate = SGD(learning_rate=0.125).lr
    for copied in (copy.deepcopy(rate), pickle.loads(pickle.dumps(rate))):
        assert type(copied) is float and copied == 0.125
    assert type(SGD(learning_rate=0.125).get_config()["learning_rate"]) is float


def test_weights_through_get_value_and_set_value():
    model = regression(SGD())
    kernel = model.layers[0].kernel
    value = K.get_value(kernel)
    value += 1                                 # a copy: the weights do not change
    np.testing.assert_array_equal(kernel.value, model.get_weights()[0])
    K.set_value(kernel, np.full((3, 1), 2.0))
    np.testing.assert_array_equal(model.get_weights()[0], np.full((3, 1), 2.0, np.float32))
    np.testing.assert_array_equal(K.eval(kernel), np.full((3, 1), 2.0, np.float32))
    assert K.get_value(7) == 7                # plain values come back as they are


@pytest.mark.parametrize("target, value, error, message", [
    (0.01, 0.1, TypeError, "cannot be changed in place"),
    ("lr", [0.1, 0.2], ValueError, "one number"),
    ("lr", -1.0, ValueError, "learning_rate must be >= 0"),
    ("lr", "fast", ValueError, "learning_rate must be a number"),
    ("kernel", np.zeros((2, 2)), ValueError, r"expected shape \(3, 1\)"),
])
def test_set_value_refuses_what_it_cannot_set(target, value, error, message):
    model = regression(SGD())
    target = {"lr": model.optimizer.lr, "kernel": model.layers[0].kernel}.get(target, target)
    with pytest.raises(error, match=message):
        K.set_value(target, value)
    assert model.optimizer.lr == 0.01


def test_constants_and_formats():
    """tf.keras 2.x defaults: epsilon 1e-7, floatx float32, channels_last."""
    assert K.epsilon() == 1e-7 and K.floatx() == "float32"
    assert K.image_data_format() == "channels_last" and K.backend() == "fastnn"
    K.set_image_data_format("channels_last")
    K.set_floatx("float32")
    with pytest.raises(ValueError, match="channels last"):
        K.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="float32 only"):
        K.set_floatx("float64")


@pytest.mark.parametrize("name, advice", [
    ("function", "Sequential(model.layers[:k + 1]).predict(x)"),
    ("gradients", ".grad"), ("learning_phase", "training=True"), ("int_shape", "x.shape"),
    ("set_epsilon", "1e-7"), ("placeholder", "no graph"),
])
def test_graph_functions_say_what_to_do_instead(name, advice):
    with pytest.raises(AttributeError, match=f"'{name}'.*{re.escape(advice)}"):
        getattr(K, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing_like_this'$"):
        K.nothing_like_this
