"""The finite-difference oracle the layer tests share, and checks that it can fail.

``check_layer_gradients(layer, x)`` builds the scalar loss L = Σ forward(x)·R
for a fixed random R, then compares ``layer.backward(R)`` with the central
differences of L with respect to x, and every ``variable.grad`` with those of
L with respect to ``variable.value`` (perturbed in place).  The layer
computes in float32; L is summed in float64.  With eps = 1e-2 the rounding
noise of L (≈ 1e-7·√size / eps) and the truncation error (≈ eps²·f''') are
both far below rtol = 1e-2.
"""
import numpy as np
import pytest

from fastnn.layers import Layer

from conftest import numerical_gradient

EPS = 1e-2
RTOL = 1e-2
ATOL = 1e-3


def check_layer_gradients(layer, x, training=False, seed=0, eps=EPS, rtol=RTOL, atol=ATOL):
    """Asserts backward and every variable.grad match finite differences; returns dx.

    Every evaluation starts from the same weights (BatchNormalization's
    moving statistics change during a training forward pass), and the
    weights are put back at the end.
    """
    x = np.asarray(x, np.float32)
    if not layer.built:
        layer.build((None,) + x.shape[1:])
    saved = [v.value.copy() for v in layer.variables]

    def restore():
        for variable, value in zip(layer.variables, saved):
            variable.value[...] = value

    try:
        y = layer.forward(x, training=training)
        r = np.random.default_rng(seed).uniform(-1, 1, y.shape).astype(np.float32)
        for variable in layer.variables:
            variable.grad = None
        dx = layer.backward(r.copy())
        assert dx.shape == x.shape
        assert dx.dtype == np.float32
        analytic = {id(v): None if v.grad is None else np.array(v.grad) for v in layer.variables}
        r64 = r.astype(np.float64)

        def loss_of_x(xx):
            restore()
            return float(np.sum(layer.forward(xx.astype(np.float32), training=training) * r64))

        _assert_close(dx, numerical_gradient(loss_of_x, x, eps), rtol, atol, "dL/dx")

        for variable, start in zip(layer.variables, saved):
            grad = analytic[id(variable)]
            if grad is None:
                # only statistics (moving mean / variance) may go without a gradient
                assert not variable.trainable, f"{variable.name} has no gradient"
                continue
            assert grad.shape == variable.shape, variable.name

            def loss_of_v(vv, variable=variable):
                restore()
                variable.value[...] = vv
                return float(np.sum(layer.forward(x, training=training) * r64))

            _assert_close(grad, numerical_gradient(loss_of_v, start, eps), rtol, atol,
                          f"dL/d{variable.name}")
        return dx
    finally:
        restore()


def _assert_close(actual, expected, rtol, atol, what):
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol,
                               atol=atol * scale, err_msg=what)


def seed_away_from_kink(pre_activation, margin, tries=500):
    """The first seed whose pre-activations ``pre_activation(seed)`` all keep |z| > margin."""
    for seed in range(tries):
        if np.min(np.abs(pre_activation(seed))) > margin:
            return seed
    raise AssertionError("no seed keeps every pre-activation away from the kink")


# ---- the oracle itself -----------------------------------------------------------------


class _Square(Layer):
    """y = w · x² with a deliberately adjustable backward."""

    def __init__(self, wrong_dx=False, wrong_dw=False, **kwargs):
        super().__init__(**kwargs)
        self.wrong_dx, self.wrong_dw = wrong_dx, wrong_dw

    def build(self, input_shape):
        self.w = self.add_weight("w", input_shape[1:], "ones")
        super().build(input_shape)

    def call(self, x, training=False):
        self._x = x
        return self.w.value * x * x

    def call_backward(self, dz):
        self.w.grad = (dz * self._x ** 2).sum(axis=0) * (1.5 if self.wrong_dw else 1.0)
        factor = 1.0 if self.wrong_dx else 2.0
        return (dz * factor * self.w.value * self._x).astype(np.float32)


def test_oracle_accepts_a_correct_backward():
    x = np.random.default_rng(1).uniform(-1, 1, (3, 4)).astype(np.float32)
    dx = check_layer_gradients(_Square(), x)
    assert dx.shape == (3, 4)


@pytest.mark.parametrize("wrong", ["wrong_dx", "wrong_dw"])
def test_oracle_rejects_a_wrong_backward(wrong):
    x = np.random.default_rng(1).uniform(-1, 1, (3, 4)).astype(np.float32)
    with pytest.raises(AssertionError):
        check_layer_gradients(_Square(**{wrong: True}), x)


def test_oracle_restores_the_weights():
    layer = _Square()
    x = np.random.default_rng(2).uniform(-1, 1, (2, 3)).astype(np.float32)
    layer.build((None, 3))
    layer.w.value[...] = [0.5, -1.0, 2.0]
    check_layer_gradients(layer, x)
    np.testing.assert_array_equal(layer.w.value, np.float32([0.5, -1.0, 2.0]))
