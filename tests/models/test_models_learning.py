"""Training really learns, and the gradient a training step applies is the loss's gradient."""
import numpy as np
import pytest

from fastnn import losses, regularizers
from fastnn.layers import BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.optimizers import SGD, Adam
from fastnn.utils import to_categorical


pytestmark = [pytest.mark.native, pytest.mark.usefixtures("fresh_session")]


# ---- it learns ------------------------------------------------------------------------------------


def separable(rng, count):
    x = rng.normal(size=(count, 2)).astype(np.float32)
    return x, (x[:, 0] + 2 * x[:, 1] > 0.3).astype(int)


def test_mlp_learns_a_linearly_separable_problem():
    rng = np.random.default_rng(0)
    x, y = separable(rng, 400)
    x_test, y_test = separable(rng, 200)
    model = Sequential([Dense(16, input_shape=(2,), activation="relu"),
                        Dense(2, activation="softmax")])
    model.compile(Adam(learning_rate=0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9
    assert np.mean(model.predict(x_test).argmax(axis=1) == y_test) == pytest.approx(accuracy)


def test_single_sigmoid_unit_with_binary_crossentropy_learns():
    rng = np.random.default_rng(1)
    x, y = separable(rng, 300)
    model = Sequential([Dense(1, input_shape=(2,), activation="sigmoid")])
    model.compile(SGD(learning_rate=0.5), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=10, verbose=0)
    assert model.evaluate(*separable(rng, 200), verbose=0)[1] > 0.9


def bars(rng, count, size=8):
    """Images with one horizontal (class 0) or vertical (class 1) bar, plus noise."""
    images = rng.normal(scale=0.1, size=(count, size, size, 1)).astype(np.float32)
    labels = rng.integers(0, 2, count)
    for image, label in zip(images, labels):
        where, start = rng.integers(0, size), rng.integers(0, 3)
        if label == 0:
            image[where, start:start + 5, 0] += 1
        else:
            image[start:start + 5, where, 0] += 1
    return images, labels


def test_tiny_cnn_tells_horizontal_from_vertical_bars():
    rng = np.random.default_rng(0)
    x, y = bars(rng, 300)
    x_test, y_test = bars(rng, 200)
    model = Sequential([
        Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)),
        MaxPooling2D(pool_size=(2, 2)),
        Flatten(),
        Dense(2, activation="softmax"),
    ])
    model.compile(Adam(learning_rate=0.01), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, to_categorical(y), batch_size=20, epochs=12, verbose=0)
    assert model.evaluate(x_test, to_categorical(y_test), verbose=0)[1] > 0.9


# ---- gradient correctness, end to end ------------------------------------------------------------


def check_model():
    model = Sequential([
        Conv2D(3, (3, 3), activation="tanh", input_shape=(6, 6, 2)),
        BatchNormalization(),
        Flatten(),
        Dense(5, activation="tanh", kernel_regularizer=regularizers.l2(0.01)),
        Dense(3, activation="softmax"),
    ])
    # gamma and beta away from 1 and 0, so that their gradients are not special
    gamma, beta, mean, var = model.layers[1].get_weights()
    model.layers[1].set_weights([gamma * 1.3, beta + 0.2, mean, var])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6, 6, 2)).astype(np.float32)
    y = to_categorical([0, 2, 1, 2], 3)
    return model, x, y


def total_loss(model, loss, x, y):
    """The loss a training step reports: batch loss (training mode) + penalties."""
    y_pred = model.forward(x, training=True)
    return loss(y, y_pred) + sum(layer.regularization_loss() for layer in model.layers)


def numerical_gradients(model, loss, x, y, picks, eps=1e-3):
    """Central differences of the total loss w.r.t. the picked entries of each weight."""
    result = []
    for variable, indices in zip(model.trainable_weights, picks):
        values = []
        for index in indices:
            original = variable.value[index]
            variable.value[index] = original + eps
            up = total_loss(model, loss, x, y)
            variable.value[index] = original - eps
            down = total_loss(model, loss, x, y)
            variable.value[index] = original
            values.append((up - down) / (2 * eps))
        result.append(np.array(values))
    return result


def some_indices(rng, variable, count=4):
    flat = rng.choice(variable.value.size, size=min(count, variable.value.size), replace=False)
    return [np.unravel_index(i, variable.value.shape) for i in flat]


def test_backward_matches_finite_differences():
    model, x, y = check_model()
    loss = losses.CategoricalCrossentropy()
    rng = np.random.default_rng(2)
    picks = [some_indices(rng, v) for v in model.trainable_weights]
    assert len(picks) == 8          # conv kernel, bias; gamma, beta; two dense kernels, biases
    expected = numerical_gradients(model, loss, x, y, picks)

    # what the training step computes: forward in training mode, then backward from dL/dy
    y_pred = model.forward(x, training=True)
    model.backward(loss.gradient(y, y_pred))
    for layer in model.layers:
        layer.add_regularization_gradients()
    for variable, indices, want in zip(model.trainable_weights, picks, expected):
        got = np.array([variable.grad[i] for i in indices])
        np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-4,
                                   err_msg=f"{variable.name} of shape {variable.shape}")

    # the fused softmax + crossentropy path gives the same gradients
    plain = [v.grad.copy() for v in model.trainable_weights]
    y_pred = model.forward(x, training=True)
    model.backward(loss.logits_gradient(y, y_pred, "softmax"), from_logits=True)
    for layer in model.layers:
        layer.add_regularization_gradients()
    for variable, want in zip(model.trainable_weights, plain):
        np.testing.assert_allclose(variable.grad, want, rtol=1e-4, atol=1e-6)


def test_the_step_fit_takes_is_minus_lr_times_the_gradient():
    model, x, y = check_model()
    loss = losses.CategoricalCrossentropy()
    rng = np.random.default_rng(3)
    picks = [some_indices(rng, v) for v in model.trainable_weights]
    expected = numerical_gradients(model, loss, x, y, picks)
    reported = total_loss(model, loss, x, y)

    before = [v.value.copy() for v in model.trainable_weights]
    model.compile(SGD(learning_rate=1.0), loss)
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(reported, rel=1e-6)
    for variable, old, indices, want in zip(model.trainable_weights, before, picks, expected):
        step = np.array([old[i] - variable.value[i] for i in indices])
        np.testing.assert_allclose(step, want, rtol=2e-2, atol=2e-4,
                                   err_msg=f"{variable.name} of shape {variable.shape}")


def test_frozen_layers_get_no_update_but_pass_the_gradient_on():
    model, x, y = check_model()
    model.layers[3].trainable = False
    frozen = model.layers[3].get_weights()
    first = model.layers[0].get_weights()
    model.compile(SGD(learning_rate=0.5), "categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for got, want in zip(model.layers[3].get_weights(), frozen):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(model.layers[0].get_weights()[0], first[0])  # below still learns


def test_first_layer_skips_its_input_gradient_and_shared_layers_still_train():
    """The first layer's dL/dx is not computed; a layer that is first in one
    model and second in another still passes gradients on in the second."""
    shared = Dense(3, activation="relu", input_shape=(3,))
    first = Sequential([shared, Dense(2, activation="softmax")])
    second = Sequential([Dense(3, input_shape=(4,)), shared, Dense(2, activation="softmax")])
    x1, x2 = np.ones((5, 3), np.float32), np.ones((5, 4), np.float32)
    y = np.array([0, 1, 0, 1, 1])
    for model, x in ((first, x1), (second, x2)):
        model.compile("sgd", "sparse_categorical_crossentropy")
        y_pred = model.forward(x, training=True)
        dx = model.backward(model.loss.gradient(y, y_pred))
        assert dx is None
        assert all(v.grad is not None for v in model.trainable_variables)
