"""Activations against their documented formulas (float64 ``math``) and finite differences."""
import math

import numpy as np
import pytest
from conftest import each_simd_path, numerical_gradient, simd_path
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnn import activations

pytestmark = pytest.mark.native

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _relu(v, negative_slope=0.0, max_value=None, threshold=0.0):
    if v <= threshold:
        return negative_slope * (v - threshold)
    return v if max_value is None else min(v, max_value)


def _elu(v, alpha=1.0):
    return v if v > 0 else alpha * (math.exp(v) - 1.0)


def _gelu(v, approximate=False):
    if approximate:
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v ** 3)))
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


ELEMENTWISE = {   # name -> the Keras formula for one float64 number
    "relu": _relu,
    "leaky_relu": lambda v, negative_slope=0.2: v if v > 0 else negative_slope * v,
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)),
    "tanh": math.tanh,
    "linear": lambda v: v,
    "elu": _elu,
    "selu": lambda v: SELU_SCALE * _elu(v, SELU_ALPHA),
    "softplus": lambda v: math.log1p(math.exp(v)),
    "softsign": lambda v: v / (1.0 + abs(v)),
    "silu": lambda v: v / (1.0 + math.exp(-v)),
    "gelu": _gelu,
    "hard_sigmoid": lambda v: min(max(0.2 * v + 0.5, 0.0), 1.0),
    "exponential": math.exp,
}


def softmax_reference(x, axis=-1):
    e = np.exp(np.asarray(x, np.float64))
    return e / e.sum(axis=axis, keepdims=True)


def reference(name, x, **config):
    if name == "softmax":
        return softmax_reference(x, **config)
    formula = ELEMENTWISE[name]
    return np.vectorize(lambda v: formula(float(v), **config), otypes=[np.float64])(x)


CASES = [
    ("relu", {}), ("relu", {"max_value": 6.0}),
    ("relu", {"negative_slope": 0.1, "max_value": 3.0, "threshold": 0.5}),
    ("relu", {"negative_slope": 0.2, "threshold": -1.0}),
    ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.3}),
    ("sigmoid", {}), ("tanh", {}), ("linear", {}), ("elu", {}), ("elu", {"alpha": 0.5}),
    ("selu", {}), ("softplus", {}), ("softsign", {}), ("silu", {}), ("gelu", {}),
    ("gelu", {"approximate": True}), ("hard_sigmoid", {}), ("exponential", {}),
    ("softmax", {}), ("softmax", {"axis": 0}),
]
case_ids = [name + "".join(f"-{k}={v}" for k, v in config.items()) for name, config in CASES]
each_case = pytest.mark.parametrize("name, config", CASES, ids=case_ids)

GRID = np.array([-50, -20, -5, -2.6, -1, -0.3, -1e-3, 0, 1e-3, 0.3, 1, 2.4, 5, 20, 50], np.float32)


def _inputs(name):
    # softmax needs rows; the grid's ±50 would overflow e^x in float32 only for exponential
    return GRID.reshape(3, 5) if name == "softmax" else GRID


@each_case
def test_forward_matches_formula_in_float32(name, config):
    x = _inputs(name)
    y = getattr(activations, name)(x, **config)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, reference(name, x, **config), rtol=1e-5, atol=1e-30)
    np.testing.assert_array_equal(activations.get(name).configure(**config).forward(x), y)


@each_simd_path
@each_case
def test_float32_in_c_matches_formula_and_finite_differences(name, config, simd):
    """float32 runs the C kernels (every SIMD path): the forward pass against the
    float64 formula, the backward pass against finite differences of it."""
    x = _away_from_kinks(np.linspace(-7.9, 7.9, 41) + 0.0137, config)[:40].reshape(8, 5)
    x32 = x.astype(np.float32)
    dy = np.random.default_rng(0).uniform(-1, 1, x.shape).astype(np.float32)
    act = activations.get(name).configure(**config)
    with simd_path(simd):
        y = act.forward(x32)
        dx = act.backward(x32, y, dy)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    x64 = x32.astype(np.float64)
    # (the float64 formulas of gelu cancel for x < -5: absolute 1e-10 there)
    np.testing.assert_allclose(y, reference(name, x64, **config), rtol=1e-6, atol=1e-10)
    expected = numerical_gradient(lambda a: np.sum(dy * reference(name, a, **config)), x64,
                                  eps=1e-6)
    np.testing.assert_allclose(dx, expected, rtol=2e-5, atol=2e-6)


def _away_from_kinks(x, config):
    """Drops points within 1e-3 of where a derivative jumps (0, ±2.5, threshold, max_value)."""
    kinks = np.array([0.0, 2.5, -2.5] + [v for v in config.values() if isinstance(v, float)])
    return x[np.min(np.abs(x[:, None] - kinks[None, :]), axis=1) > 1e-3]


@each_case
def test_backward_matches_finite_differences(name, config):
    rng = np.random.default_rng(0)
    x = _away_from_kinks(np.linspace(-7.9, 7.9, 41) + 0.0137, config)[:40].reshape(8, 5)
    dy = rng.uniform(-1, 1, x.shape)
    act = activations.get(name).configure(**config)
    dx = act.backward(x, act.forward(x), dy)
    expected = numerical_gradient(lambda a: np.sum(dy * act.forward(a)), x, eps=1e-5)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-6)


@each_case
def test_backward_keeps_float32(name, config):
    act = activations.get(name).configure(**config)
    x = _inputs(name)[..., 4:]                     # moderate values
    dx = act.backward(x, act.forward(x), np.ones_like(x))
    assert dx.dtype == np.float32 and dx.shape == x.shape


@pytest.mark.parametrize("name", activations.names())
def test_integers_become_float32(name):
    assert getattr(activations, name)(np.array([[-2, 0, 3]])).dtype == np.float32


@pytest.mark.parametrize("name", sorted(set(activations.names()) - {"exponential"}))
def test_huge_inputs_stay_finite_without_warnings(name):
    x = np.array([[-1000.0, -80.0, 0.0, 80.0, 1000.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = activations.get(name).forward(x)
    assert np.all(np.isfinite(y))


def test_course_examples():
    # 5.2.3: relu(x) = 0 for x <= 0, else x; 5.3.1: f(-1·a) != -1·f(a) for a < 0 (not linear)
    np.testing.assert_array_equal(activations.relu([-3.0, 0.0, 2.5]), [0.0, 0.0, 2.5])
    a = -2.0
    assert activations.relu(-1 * a) != -1 * activations.relu(a)
    # 5.2.1: sigmoid(x) = e^x / (e^x + 1), between 0 and 1
    x = np.array([-3.0, 0.0, 3.0])
    np.testing.assert_allclose(activations.sigmoid(x), np.exp(x) / (np.exp(x) + 1.0))
    assert activations.sigmoid(np.float32(0.0)) == 0.5


def test_softmax_is_stable_for_large_inputs():
    np.testing.assert_allclose(activations.softmax(np.array([[1000.0, 1000.0]], np.float32)),
                               [[0.5, 0.5]])
    np.testing.assert_allclose(activations.softmax(np.array([[1000.0, 0.0]], np.float32)),
                               [[1.0, 0.0]])


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                  elements=st.floats(-1e4, 1e4, width=32)),
       st.floats(-100, 100))
def test_softmax_rows_are_distributions_and_shift_invariant(x, shift):
    y = activations.softmax(x)
    assert y.dtype == np.float32 and np.all(np.isfinite(y)) and np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(activations.softmax(x + np.float32(shift)), y, atol=1e-3)


@given(hnp.arrays(np.float64, (3, 4), elements=st.floats(-30, 30)),
       hnp.arrays(np.float64, (3, 4), elements=st.floats(-1, 1)))
def test_softmax_backward_is_the_jacobian_vector_product(x, dy):
    y = activations.softmax(x)
    jacobians = np.einsum("ni,ij->nij", y, np.eye(4)) - np.einsum("ni,nj->nij", y, y)
    expected = np.einsum("nij,ni->nj", jacobians, dy)
    np.testing.assert_allclose(activations.get("softmax").backward(x, y, dy), expected,
                               atol=1e-12)


def test_erfc_matches_math_to_double_precision():
    x = np.linspace(-26.0, 26.0, 20001)
    expected = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(activations._erfc(x), expected, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(activations._erfc(np.array([np.inf, -np.inf, 0.0])),
                                  [0.0, 2.0, 1.0])
    assert np.isnan(activations._erfc(np.array([np.nan]))[0])


# ---- get / serialize ------------------------------------------------------------------------

@pytest.mark.parametrize("name", activations.names())
def test_every_name_resolves_case_insensitively(name):
    act = activations.get(name.upper())
    assert isinstance(act, activations.Activation)
    assert act is activations.get(name)
    assert activations.serialize(name) == act.name


def test_aliases_and_special_identifiers():
    assert activations.get("swish") is activations.get("silu")
    assert activations.swish is activations.silu
    assert activations.get(None).name == "linear"
    relu = activations.get("relu")
    assert activations.get(relu) is relu
    assert activations.get(activations.relu) is relu
    assert activations.serialize(activations.tanh) == "tanh"
    assert activations.serialize(None) == "linear"


def test_configure_keeps_the_name_and_changes_the_formula():
    leaky = activations.get("leaky_relu").configure(negative_slope=0.3)
    assert leaky.name == "leaky_relu"
    np.testing.assert_allclose(leaky(np.array([-1.0, 2.0])), [-0.3, 2.0])
    np.testing.assert_allclose(leaky.backward(np.array([-1.0, 2.0]), None, np.ones(2)), [0.3, 1.0])
    assert activations.get("leaky_relu")(np.array([-1.0])) == pytest.approx(-0.2)


def test_plain_callables_run_forward_but_cannot_train():
    def cube(x):
        return x ** 3

    act = activations.get(cube)
    assert act.name == "cube" and activations.serialize(cube) == "cube"
    np.testing.assert_array_equal(act.forward(np.array([2.0])), [8.0])
    with pytest.raises(NotImplementedError, match="cannot train"):
        act.backward(np.array([2.0]), np.array([8.0]), np.array([1.0]))


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown activation 'rellu'.*relu.*sigmoid.*swish"):
        activations.get("rellu")
    with pytest.raises(TypeError):
        activations.get(3)
