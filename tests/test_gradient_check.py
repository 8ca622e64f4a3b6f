"""fastnn.utils.gradient_check (chapter 22): correct models pass, broken backward passes fail.

The bugs are planted in layer subclasses whose forward pass is right and
whose backward pass is wrong in one known way, so the test knows which
weights must fail: a wrong weight gradient fails its own weight only, a
wrong input gradient fails every layer below it.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import regularizers
from fastnn.gradient_check import RETRY_FACTOR, GradientCheckReport, gradient_check
from fastnn.layers import (AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout,
                           Flatten, MaxPooling2D)
from fastnn.models import Sequential
from fastnn.utils import to_categorical

from conftest import numerical_gradient

pytestmark = [pytest.mark.native, pytest.mark.usefixtures("fresh_session")]


# ---- models that must pass ----------------------------------------------------------------------

def mlp_softmax():
    return Sequential([Dense(12, activation="relu", input_shape=(5,)),
                       Dense(8, activation="tanh"),
                       Dense(3, activation="softmax")]), "sparse_categorical_crossentropy"


def cnn_batchnorm():
    return Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 2)),
                       MaxPooling2D(2), BatchNormalization(), Flatten(),
                       Dense(6, activation="elu"), Dropout(0.5),
                       Dense(3, activation="softmax")]), "categorical_crossentropy"


def cnn_strided_sigmoid():
    return Sequential([Conv2D(3, (3, 2), strides=2, padding="same", activation="tanh",
                              input_shape=(7, 6, 1)),
                       AveragePooling2D(2, padding="same"), Flatten(),
                       Dense(2, activation="sigmoid")]), "binary_crossentropy"


def regression_l2():
    return Sequential([Dense(10, activation="sigmoid", input_shape=(4,),
                             kernel_regularizer=regularizers.l2(0.01)),
                       BatchNormalization(),
                       Dense(2, bias_regularizer=regularizers.l1(0.01))]), "mse"


def softmax_mse():   # no fused gradient: backprop goes through softmax's own backward
    return Sequential([Dense(6, activation="softplus", input_shape=(4,)),
                       Dense(3, activation="softmax")]), "mse"


def labels_for(loss, rng, count, classes):
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, classes, count)
    if loss == "categorical_crossentropy":
        return to_categorical(rng.integers(0, classes, count), classes)
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (count, classes)).astype(np.float32)
    return rng.normal(size=(count, classes)).astype(np.float32)


def compiled(build, seed=0, count=8):
    model, loss = build()
    model.compile("sgd", loss)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count,) + model.input_shape[1:]).astype(np.float32)
    return model, x, labels_for(loss, rng, count, model.output_shape[-1])


@pytest.mark.parametrize("build", [mlp_softmax, cnn_batchnorm, cnn_strided_sigmoid,
                                   regression_l2, softmax_mse])
def test_correct_models_pass(build):
    model, x, y = compiled(build)
    report = gradient_check(model, x, y, seed=1)
    assert isinstance(report, GradientCheckReport)
    assert report.passed, str(report)
    assert report.failures == []
    assert [(c.layer, c.weight) for c in report.checks] == [
        (layer.name, v.name) for layer in model.layers for v in layer.trainable_weights]
    for check, variable in zip(report.checks, model.trainable_weights):
        assert check.shape == variable.shape
        assert check.checked == min(variable.value.size, 20)
        assert 0 <= check.max_relative_error <= report.threshold


@settings(max_examples=10)
@given(st.integers(1, 6), st.integers(1, 10), st.integers(2, 5), st.integers(0, 2**16))
def test_dense_networks_of_any_size_pass(features, hidden, batch, seed):
    fastnn.utils.set_random_seed(seed)
    model = Sequential([Dense(hidden, activation="tanh", input_shape=(features,)),
                        Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, features)).astype(np.float32)
    report = gradient_check(model, x, rng.integers(0, 3, batch), seed=seed)
    assert report.passed, str(report)


def test_the_finite_differences_and_the_loss_match_independent_ones():
    model, x, y = compiled(regression_l2)
    report = gradient_check(model, x, y, max_checks_per_weight=None)
    assert report.loss == pytest.approx(model.evaluate(x, y, batch_size=len(x), verbose=0),
                                        rel=1e-6)
    kernel = model.layers[0].kernel

    def loss_of_kernel(values):
        saved = kernel.value.copy()
        kernel.value[...] = values
        value = model.evaluate(x, y, batch_size=len(x), verbose=0)
        kernel.value[...] = saved
        return value

    expected = numerical_gradient(loss_of_kernel, kernel.value, eps=1e-2)
    worst = report.checks[0]
    assert worst.numerical == pytest.approx(expected[worst.worst_index], rel=1e-2, abs=1e-4)
    assert worst.backprop == pytest.approx(expected[worst.worst_index], rel=2e-2, abs=1e-4)


def test_the_model_is_left_as_it_was():
    model, x, y = compiled(cnn_batchnorm)
    before = [v.value.copy() for v in model.variables]   # moving statistics included
    gradient_check(model, x, y, seed=0)
    for variable, value in zip(model.variables, before):
        np.testing.assert_array_equal(variable.value, value, err_msg=variable.name)
        assert variable.grad is None


def test_the_same_seed_checks_the_same_entries():
    model, x, y = compiled(mlp_softmax)
    first = gradient_check(model, x, y, seed=5, max_checks_per_weight=3)
    second = gradient_check(model, x, y, seed=5, max_checks_per_weight=3)
    assert first == second


# ---- planted bugs -------------------------------------------------------------------------------

class DoubledKernelGradient(Dense):
    """Forgets that the kernel gradient was already complete and adds it twice."""

    def call_backward(self, dz):
        dx = super().call_backward(dz)
        self.kernel.grad = 2 * self.kernel.grad
        return dx


class ConvolutionInsteadOfCorrelation(Conv2D):
    """Returns the kernel gradient flipped in space (the convolution-vs-correlation slip)."""

    def call_backward(self, dz):
        dx = super().call_backward(dz)
        self.kernel.grad = np.ascontiguousarray(self.kernel.grad[::-1, ::-1])
        return dx


class UntransposedInputGradient(Dense):
    """Computes dLoss/dx as dz · kernel instead of dz · kernelᵀ (square kernels only)."""

    def call_backward(self, dz):
        super().call_backward(dz)
        return (dz @ self.kernel.value).astype(np.float32)


def failing(report):
    return [(c.layer, c.weight) for c in report.failures]


def test_a_wrong_weight_gradient_fails_exactly_that_weight():
    model = Sequential([Dense(8, activation="relu", input_shape=(5,)),
                        DoubledKernelGradient(6, activation="tanh", name="broken"),
                        Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    report = gradient_check(model, rng.normal(size=(8, 5)), rng.integers(0, 3, 8), seed=0)
    assert not report.passed
    assert failing(report) == [("broken", "kernel")]
    broken = report.failures[0]
    # backprop = 2·true, so |a − b| / (|a| + |b|) = 1/3 wherever the gradient is not tiny
    assert broken.max_relative_error == pytest.approx(1 / 3, abs=0.01)
    assert broken.backprop == pytest.approx(2 * broken.numerical, rel=0.02)
    assert "FAILED" in str(report) and "broken/kernel" in str(report)


def test_a_flipped_convolution_kernel_gradient_fails_that_layer():
    model = Sequential([Conv2D(3, 3, activation="relu", input_shape=(7, 7, 2)),
                        ConvolutionInsteadOfCorrelation(4, 3, activation="tanh", name="flipped"),
                        Flatten(), Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    report = gradient_check(model, rng.normal(size=(6, 7, 7, 2)), rng.integers(0, 3, 6),
                            seed=1)
    assert failing(report) == [("flipped", "kernel")]
    assert report.failures[0].max_relative_error > 0.3


def test_a_wrong_input_gradient_fails_every_layer_below():
    model = Sequential([Dense(6, activation="tanh", input_shape=(4,), name="below"),
                        UntransposedInputGradient(6, activation="tanh", name="broken"),
                        Dense(3, activation="softmax", name="above")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(2)
    report = gradient_check(model, rng.normal(size=(8, 4)), rng.integers(0, 3, 8), seed=2)
    assert failing(report) == [("below", "kernel"), ("below", "bias")]


# ---- kinks --------------------------------------------------------------------------------------

def relu_unit(inputs, kernel, bias):
    """x → relu(x·kernel + bias) → Dense(1) with weight 1, MSE against 2."""
    model = Sequential([Dense(1, activation="relu", input_shape=(1,)), Dense(1)])
    model.compile("sgd", "mse")
    model.layers[0].set_weights([np.array([[kernel]]), np.array([bias])])
    model.layers[1].set_weights([np.ones((1, 1)), np.zeros(1)])
    return model, np.array(inputs, np.float32).reshape(-1, 1), np.full((len(inputs), 1), 2.0)


def test_a_relu_exactly_at_its_kink_passes_with_the_one_sided_slope():
    model, x, y = relu_unit([1.0], kernel=0.5, bias=-0.5)   # pre-activation exactly 0
    report = gradient_check(model, x, y)
    kernel = report.checks[0]
    assert kernel.backprop == 0.0                  # relu'(0) = 0, as in Keras
    assert kernel.numerical == 0.0                 # the slope on the left
    assert kernel.kinks == 1 and kernel.passed
    # the central difference alone averages the slopes −4 (right) and 0 (left)
    weight = model.layers[0].kernel.value
    weight[0, 0] = 0.5 + report.epsilon
    up = model.evaluate(x, y, verbose=0)
    weight[0, 0] = 0.5 - report.epsilon
    down = model.evaluate(x, y, verbose=0)
    weight[0, 0] = 0.5
    assert (up - down) / (2 * report.epsilon) == pytest.approx(-2.0, rel=1e-3)


def test_two_kinks_inside_the_step_are_resolved_by_the_smaller_step():
    eps = 3e-4
    # pre-activations 0.8·eps and −0.3·eps: moving the bias by ±eps crosses both kinks
    # (the central difference is −2 − 0.5 instead of −2), by ±eps/4 neither
    model, x, y = relu_unit([0.8 * eps, -0.3 * eps], kernel=1.0, bias=0.0)
    bias = model.layers[0].bias

    def loss_at(b):
        bias.value[0] = b
        value = model.evaluate(x, y, verbose=0)
        bias.value[0] = 0.0
        return value

    central = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    report = gradient_check(model, x, y, epsilon=eps)
    check = report.checks[1]
    assert check.weight == "bias"
    assert abs(central - check.backprop) > 0.1 * abs(check.backprop)  # ε alone would fail
    assert check.passed and check.kinks == 1
    assert check.numerical == pytest.approx(check.backprop, rel=0.02)
    assert RETRY_FACTOR * eps < 0.3 * eps                             # the retry crosses none


def test_an_entry_with_kinks_at_both_steps_is_skipped_not_failed():
    eps = 3e-4
    # two pre-activations just above 0 and one at −0.1·eps: every step crosses kinks on
    # both sides, and neither one-sided slope is backprop's (2 of 3 units active)
    model, x, y = relu_unit([0.01 * eps, 0.01 * eps, -0.1 * eps], kernel=1.0, bias=0.0)
    report = gradient_check(model, x, y, epsilon=eps)
    bias = report.checks[1]
    assert (bias.weight, bias.checked, bias.skipped) == ("bias", 1, 1)
    assert bias.verdict == "no verdict" and not bias.passed
    assert np.isnan(bias.max_relative_error) and bias.worst_index is None
    assert report.failures == [] and not report.passed
    assert "No verdict (kinks at every checked entry) for: dense/bias" in str(report)
    assert all(check.passed for check in report.checks if check is not bias)


# ---- sampling -----------------------------------------------------------------------------------

def test_sampling_checks_at_most_max_checks_distinct_entries_per_weight():
    model, x, y = compiled(softmax_mse)   # smooth: no entry needs a second, smaller step
    variables = model.trainable_weights
    saved = [v.value.copy() for v in variables]
    perturbed = [[] for _ in variables]
    forward = model.forward

    def recording_forward(inputs, training=False):
        for record, variable, value in zip(perturbed, variables, saved):
            changed = np.flatnonzero(variable.value != value)
            record.extend(changed.tolist())
        return forward(inputs, training=training)

    model.forward = recording_forward
    report = gradient_check(model, x, y, max_checks_per_weight=4, seed=3)
    for record, variable, check in zip(perturbed, variables, report.checks):
        expected = min(variable.value.size, 4)
        assert check.checked == expected
        assert len(set(record)) == expected          # distinct entries ...
        assert len(record) == 2 * expected           # ... each moved up and down once


def test_none_checks_every_entry():
    model, x, y = compiled(softmax_mse)
    report = gradient_check(model, x, y, max_checks_per_weight=None)
    assert [c.checked for c in report.checks] == [v.value.size for v in model.trainable_weights]


# ---- the report ---------------------------------------------------------------------------------

def test_the_report_prints_one_line_per_weight():
    model, x, y = compiled(mlp_softmax)
    report = gradient_check(model, x, y, seed=0)
    text = str(report).splitlines()
    assert text[0].startswith("Gradient check")
    assert text[1].split() == ["layer", "weight", "shape", "checked", "max", "rel.", "error",
                               "kinks", "skipped", "result"]
    assert len(text) == 2 + len(report.checks) + 1
    assert text[2].split()[:3] == [model.layers[0].name, "kernel", "(5,"]
    assert text[-1] == f"All {len(report.checks)} weights passed."


def test_verbose_prints_each_weight(capsys):
    model, x, y = compiled(softmax_mse)
    gradient_check(model, x, y, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(model.trainable_weights)
    assert all(line.endswith("ok") for line in lines)


def test_fastnn_utils_offers_it():
    assert fastnn.utils.gradient_check is gradient_check


# ---- errors -------------------------------------------------------------------------------------

def test_an_uncompiled_model_is_refused():
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(RuntimeError, match="compile"):
        gradient_check(model, np.zeros((2, 3)), np.zeros((2, 2)))


def test_something_else_than_a_model_is_refused():
    with pytest.raises(TypeError, match="expected a fastnn model"):
        gradient_check(Dense(2), np.zeros((2, 3)), np.zeros((2, 2)))


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((4, 5)), np.zeros(3), "x has 4 samples but y has 3"),
    (np.zeros((4, 6)), np.zeros(4), "expects"),
    (np.zeros((0, 5)), np.zeros(0), "empty"),
    (np.full((2, 5), np.nan), np.zeros(2), "finite"),
    (np.zeros((2, 5)), np.zeros((2, 7)), "do not match"),
])
def test_bad_data_is_refused(x, y, match):
    model, _, _ = compiled(mlp_softmax)
    with pytest.raises(ValueError, match=match):
        gradient_check(model, x, y)


@pytest.mark.parametrize("setting", [
    {"epsilon": 0}, {"epsilon": -1e-3}, {"epsilon": 1.0}, {"epsilon": True}, {"epsilon": "1e-3"},
    {"threshold": 0}, {"threshold": 1.5},
    {"max_checks_per_weight": 0}, {"max_checks_per_weight": 2.5},
    {"max_checks_per_weight": True}, {"seed": -1},
])
def test_bad_settings_are_refused(setting):
    model, x, y = compiled(mlp_softmax)
    with pytest.raises(ValueError, match=next(iter(setting))):
        gradient_check(model, x, y, **setting)


def test_an_epsilon_below_float32_resolution_is_refused():
    model, x, y = compiled(mlp_softmax)
    with pytest.raises(ValueError, match="larger epsilon"):
        gradient_check(model, x, y, epsilon=1e-12)


def test_a_model_without_trainable_weights_is_refused():
    model, x, y = compiled(mlp_softmax)
    for layer in model.layers:
        layer.trainable = False
    with pytest.raises(ValueError, match="no trainable weights"):
        gradient_check(model, x, y)
