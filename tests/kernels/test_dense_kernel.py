"""dense_backward (csrc/dense.c) and matmul's fused ReLU: every impl against
float64 NumPy, thread counts, the first-layer shortcut and bad arguments."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import dense_backward, matmul, reference
from fastnn.layers import Activation, Dense
from fastnn.models import Sequential
from fastnn.models.training import compute_gradients

from conftest import assert_matches, each_impl, seeds, uniform


def layer_case(m, k, n, seed, relu):
    """x, w, dy, the ReLU output y (or None) and (dx, dW, db) in float64."""
    rng = np.random.default_rng(seed)
    x, w, dy = uniform(rng, (m, k)), uniform(rng, (k, n)), uniform(rng, (m, n))
    y = np.maximum(x @ w, 0) if relu else None
    dz = dy.astype(np.float64) * (1.0 if y is None else (y > 0))
    return x, w, dy, y, (dz @ w.T.astype(np.float64), x.T.astype(np.float64) @ dz,
                         dz.sum(axis=0))


@each_impl
@pytest.mark.parametrize("relu", [False, True])
@given(m=st.integers(1, 40), k=st.integers(1, 40), n=st.integers(1, 40), seed=seeds)
def test_matches_float64(impl, relu, m, k, n, seed):
    x, w, dy, y, (dx_64, dw_64, db_64) = layer_case(m, k, n, seed, relu)
    dx, dw, db = dense_backward(x, w, dy, y, impl=impl)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    assert_matches(dx, dx_64, n)
    assert_matches(dw, dw_64, m)
    assert_matches(db, db_64, m)


@pytest.mark.parametrize("shape", [(128, 1600, 10), (256, 300, 70), (7, 3000, 5)])
def test_large_layers_with_one_and_two_threads(shape, restore_threads):
    x, w, dy, y, expected = layer_case(*shape, seed=1, relu=True)
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        results.append(dense_backward(x, w, dy, y))
    for got in results:
        for array, exact, terms in zip(got, expected, (shape[2], shape[0], shape[0])):
            assert_matches(array, exact, terms)


# each activation's derivative from its output y, in float64 (the course's formulas)
DERIVATIVES = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda y: y * (1 - y)),
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(z)), lambda y: np.where(y > 0, 1, y + 1)),
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.2 * z), lambda y: np.where(y > 0, 1, 0.2)),
    "softplus": (lambda z: np.log1p(np.exp(z)), lambda y: 1 - np.exp(-y)),
}


@each_impl
@pytest.mark.parametrize("activation", list(DERIVATIVES))
@given(m=st.integers(1, 30), k=st.integers(1, 30), n=st.integers(1, 30), seed=seeds)
def test_activation_derivative_from_y(impl, activation, m, k, n, seed):
    """dz = dy * act'(.) from the layer's output y, then dW, db and dx from dz."""
    rng = np.random.default_rng(seed)
    x, w, dy = uniform(rng, (m, k)), uniform(rng, (k, n)), uniform(rng, (m, n))
    forward, derivative = DERIVATIVES[activation]
    y = forward(2.0 * x.astype(np.float64) @ w).astype(np.float32)
    dz = dy * derivative(y.astype(np.float64))
    dx, dw, db = dense_backward(x, w, dy, y, impl=impl, activation=activation)
    assert_matches(dx, dz @ w.T.astype(np.float64), n)
    assert_matches(dw, x.T.astype(np.float64) @ dz, m)
    assert_matches(db, dz.sum(axis=0), m)


@pytest.mark.parametrize("activation, message", [
    ("silu", "activation must be 'relu' or one of 'tanh', 'sigmoid', .* got 'silu': silu's "
             "backward pass reads the activation's input z, and dense_backward keeps only "
             "its output"),
    ("softmax", "activation must be .* got 'softmax': softmax mixes a row"),
    (None, "activation must be .* got None"),
])
def test_activations_not_determined_by_y_are_refused(activation, message):
    ones = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="dense_backward: " + message):
        dense_backward(ones, ones, ones, ones, activation=activation)


@each_impl
def test_first_layer_skips_dx(impl):
    x, w, dy, _, (_, dw_64, db_64) = layer_case(9, 4, 6, 2, False)
    dx, dw, db = dense_backward(x, w, dy, compute_dx=False, impl=impl)
    assert dx is None
    assert_matches(dw, dw_64, 9)
    assert_matches(db, db_64, 9)


@each_impl
def test_empty_batch_gives_zero_gradients(impl):
    x, w = np.zeros((0, 3), np.float32), np.ones((3, 2), np.float32)
    dx, dw, db = dense_backward(x, w, np.zeros((0, 2), np.float32), impl=impl)
    assert dx.shape == (0, 3)
    np.testing.assert_array_equal(dw, np.zeros((3, 2)))
    np.testing.assert_array_equal(db, np.zeros(2))


def test_strided_and_float64_inputs_equal_contiguous_float32():
    x, w, dy, y, _ = layer_case(12, 5, 7, 3, True)
    expected = dense_backward(x, w, dy, y)
    got = dense_backward(np.asfortranarray(x), w.astype(np.float64),
                         np.repeat(dy, 2, axis=1)[:, ::2], y.tolist())
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("args, message", [
    (((4, 3), (2, 5), (4, 5)), r"w has 2 rows but x has 3 features"),
    (((4, 3), (3, 5), (4, 6)), r"dy must have shape \(4, 5\), got \(4, 6\)"),
    (((4, 3), (3, 5), (4, 5), (4, 4)), r"y must have shape \(4, 5\)"),
    (((4, 3, 1), (3, 5), (4, 5)), r"x must be 2-D"),
])
def test_mismatched_shapes_are_named(args, message):
    arrays = [np.ones(shape, np.float32) for shape in args]
    with pytest.raises(ValueError, match="dense_backward: " + message):
        dense_backward(*arrays)


@each_impl
@given(m=st.integers(1, 30), k=st.integers(1, 30), n=st.integers(1, 30), seed=seeds)
def test_matmul_relu_is_relu_of_the_product(impl, m, k, n, seed):
    rng = np.random.default_rng(seed)
    a, b, bias = uniform(rng, (m, k)), uniform(rng, (k, n)), uniform(rng, (n,))
    plain = matmul(a, b, bias=bias, impl=impl)
    np.testing.assert_array_equal(matmul(a, b, bias=bias, impl=impl, activation="relu"),
                                  np.maximum(plain, 0))


@pytest.mark.parametrize("activation, why", [
    ("silu", ": silu's backward pass reads the activation's input z"),
    ("gelu_tanh", ": gelu_tanh's backward pass reads the activation's input z"),
    ("softmax", ": softmax mixes a row"),
    ("gelu", "$"),
])
def test_matmul_refuses_activations_its_output_does_not_determine(activation, why):
    with pytest.raises(ValueError, match=f"matmul: activation must be None, 'relu' or one of "
                                         f"'tanh', .*, got '{activation}'{why}"):
        matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), activation=activation)


def test_dense_relu_layer_equals_dense_then_activation(fresh_session):
    """Dense(relu) runs matmul(activation="relu") and dense_backward with the mask;
    Dense + Activation("relu") runs matmul, relu, relu_backward and dense_backward:
    the same outputs and gradients, and both equal float64 NumPy."""
    fused = Sequential([Dense(6, input_shape=(4,)), Dense(5, activation="relu",
                                                         bias_initializer="random_uniform")])
    separate = Sequential([Dense(6, input_shape=(4,)),
                           Dense(5, bias_initializer="random_uniform"), Activation("relu")])
    for model in (fused, separate):
        model.compile(optimizer="sgd", loss="mse")
    separate.set_weights(fused.get_weights())
    rng = np.random.default_rng(0)
    x, t = uniform(rng, (7, 4)), uniform(rng, (7, 5))
    loss_f, y_f = compute_gradients(fused, x, t)
    loss_s, y_s = compute_gradients(separate, x, t)
    np.testing.assert_array_equal(y_f, y_s)
    assert loss_f == loss_s and (y_f == 0).any() and (y_f > 0).any()
    grads_f = [v.grad for v in fused.trainable_variables]
    for g_f, g_s in zip(grads_f, [v.grad for v in separate.trainable_variables]):
        np.testing.assert_array_equal(g_f, g_s)

    w0, b0, w1, b1 = (w.astype(np.float64) for w in fused.get_weights())
    h = x @ w0 + b0
    y = np.maximum(h @ w1 + b1, 0)
    dh, dw1, db1 = reference.dense_backward(h, w1, 2 * (y - t) / y.size, y)
    _, dw0, db0 = reference.dense_backward(x.astype(np.float64), w0, dh)
    for g, ref in zip(grads_f, (dw0, db0, dw1, db1)):
        np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-7)
