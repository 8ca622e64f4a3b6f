"""Losses against the documented formulas (float64 NumPy written here) and finite differences."""
import math

import numpy as np
import pytest
from conftest import numerical_gradient
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fastnn import activations, losses

EPS = 1e-7


# ---- the formulas of keras-reference §7, written independently ---------------------------------

def _signed(y):
    return 2 * y - 1 if set(np.unique(y)) <= {0.0, 1.0} else y


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), EPS)


def _huber(y, p, delta=1.0):
    e = np.abs(p - y)
    return np.where(e <= delta, 0.5 * e * e, delta * e - 0.5 * delta * delta).mean(-1)


def _cce(y, p):
    q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(y * np.log(q)).sum(-1)


REFERENCE = {
    "mean_squared_error": lambda y, p: ((y - p) ** 2).mean(-1),
    "mean_absolute_error": lambda y, p: np.abs(y - p).mean(-1),
    "mean_absolute_percentage_error":
        lambda y, p: 100 * (np.abs(y - p) / np.maximum(np.abs(y), EPS)).mean(-1),
    "mean_squared_logarithmic_error":
        lambda y, p: ((np.log(np.maximum(p, EPS) + 1)
                       - np.log(np.maximum(y, EPS) + 1)) ** 2).mean(-1),
    "hinge": lambda y, p: np.maximum(1 - _signed(y) * p, 0).mean(-1),
    "squared_hinge": lambda y, p: (np.maximum(1 - _signed(y) * p, 0) ** 2).mean(-1),
    "categorical_hinge":
        lambda y, p: np.maximum(((1 - y) * p).max(-1) - (y * p).sum(-1) + 1, 0),
    "log_cosh": lambda y, p: np.log(np.cosh(p - y)).mean(-1),
    "huber_loss": _huber,
    "kl_divergence": lambda y, p: (np.clip(y, EPS, 1) * np.log(np.clip(y, EPS, 1)
                                                                / np.clip(p, EPS, 1))).sum(-1),
    "poisson": lambda y, p: (p - y * np.log(p + EPS)).mean(-1),
    "cosine_similarity": lambda y, p: -(_unit(y) * _unit(p)).sum(-1),
    "categorical_crossentropy": _cce,
    "sparse_categorical_crossentropy": lambda y, p: _cce(np.eye(p.shape[-1])[y.astype(int)], p),
    "binary_crossentropy":
        lambda y, p: -(y * np.log(np.clip(p, EPS, 1 - EPS))
                       + (1 - y) * np.log(1 - np.clip(p, EPS, 1 - EPS))).mean(-1),
}
LOSS_NAMES = sorted(REFERENCE)
each_loss = pytest.mark.parametrize("name", LOSS_NAMES)


def _one_hot(rng, n, k):
    return np.eye(k)[rng.integers(0, k, n)]


def make_data(name, rng, n=4, k=3):
    """(y_true, y_pred) in float64 inside the loss's natural domain."""
    if name in ("hinge", "squared_hinge"):
        labels = rng.choice([-1.0, 1.0] if rng.random() < 0.5 else [0.0, 1.0], (n, k))
        return labels, 2 * rng.normal(size=(n, k))
    if name == "categorical_hinge":
        return _one_hot(rng, n, k), 2 * rng.normal(size=(n, k))
    if name == "mean_squared_logarithmic_error":
        return rng.uniform(0, 3, (n, k)), rng.uniform(0.01, 3, (n, k))
    if name == "kl_divergence":
        # p kept >= 0.05/k: near p = 0 the curvature ~ 1/p² makes the central
        # difference itself inaccurate, and that would be testing the test
        return (rng.dirichlet(np.ones(k), n),
                0.95 * rng.dirichlet(np.ones(k), n) + 0.05 / k)
    if name == "poisson":
        return rng.poisson(2.0, (n, k)).astype(float), rng.uniform(0.1, 4, (n, k))
    if name == "categorical_crossentropy":
        y = _one_hot(rng, n, k) if rng.random() < 0.5 else rng.dirichlet(np.ones(k), n)
        return y, rng.uniform(0.05, 1, (n, k))
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, k, n).astype(float), rng.uniform(0.05, 1, (n, k))
    if name == "binary_crossentropy":
        y = rng.integers(0, 2, (n, k)).astype(float) if rng.random() < 0.5 else rng.random((n, k))
        return y, rng.uniform(0.01, 0.99, (n, k))
    return rng.normal(size=(n, k)), rng.normal(size=(n, k))


def distance_to_kink(name, y, p):
    """How far (y, p) is from a point where the loss is not differentiable."""
    if name in ("mean_absolute_error", "mean_absolute_percentage_error"):
        return np.abs(p - y).min()
    if name == "hinge":
        return np.abs(1 - _signed(y) * p).min()
    if name == "categorical_hinge":
        wrong = np.sort((1 - y) * p, axis=-1)
        margin = wrong[:, -1] - (y * p).sum(-1) + 1
        return min(np.abs(margin).min(), (wrong[:, -1] - wrong[:, -2]).min())
    return np.inf


# ---- values -------------------------------------------------------------------------------------

@each_loss
@pytest.mark.parametrize("seed", range(3))
def test_values_match_the_formula(name, seed):
    y, p = make_data(name, np.random.default_rng(seed))
    loss = losses.get(name)
    expected = REFERENCE[name](y, p)
    per_sample = loss.per_sample(y.astype(np.float32), p.astype(np.float32))
    assert per_sample.dtype == np.float32 and per_sample.shape == (4,)
    np.testing.assert_allclose(per_sample, expected, rtol=2e-5, atol=1e-6)
    assert loss(y, p) == pytest.approx(expected.mean(), rel=1e-12, abs=1e-15)
    np.testing.assert_array_equal(getattr(losses, name)(y, p), loss.per_sample(y, p))


def test_course_mse_example():
    # chapter 8: a cat (label 0) predicted as 0.25: error 0.25, squared error 0.0625
    assert losses.get("mean_squared_error")([[0.0]], [[0.25]]) == pytest.approx(0.0625)
    # a batch: the mean of the squared errors
    assert losses.mse(np.array([0.0, 1.0]), np.array([[0.25], [0.5]])) == \
        pytest.approx([0.0625, 0.25])


def test_course_sigmoid_outputs_with_sparse_categorical_crossentropy():
    # chapter 7's net ends in Dense(2, activation='sigmoid'): outputs are renormalised, no softmax
    p = np.array([[0.8, 0.6], [0.1, 0.3]], np.float32)
    expected = [-math.log(0.8 / 1.4), -math.log(0.3 / 0.4)]
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([0, 1], p), expected,
                               rtol=1e-6)


def test_huber_delta_and_config():
    y, p = np.zeros((1, 4)), np.array([[0.5, -1.5, 3.0, -0.2]])
    huber = losses.Huber(delta=2.0)
    assert huber(y, p) == pytest.approx(_huber(y, p, 2.0)[0])
    assert huber.get_config() == {"name": "huber_loss", "delta": 2.0}
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=0)


def test_hinge_maps_zero_one_labels_to_minus_one_plus_one():
    p = np.array([[0.3, -2.0]])
    assert losses.hinge([[0.0, 1.0]], p) == pytest.approx([(1.3 + 3.0) / 2])
    assert losses.hinge([[-1.0, 1.0]], p) == pytest.approx([(1.3 + 3.0) / 2])


def test_cosine_similarity_is_minus_one_for_parallel_vectors():
    np.testing.assert_allclose(losses.cosine_similarity([[1.0, 2.0]], [[2.0, 4.0]]), [-1.0])
    np.testing.assert_allclose(losses.cosine_similarity([[1.0, 0.0]], [[0.0, 3.0]]), [0.0],
                               atol=1e-7)
    np.testing.assert_allclose(losses.cosine_similarity([[1.0, 0.0]], [[0.0, 0.0]]), [0.0])


@given(st.integers(1, 4), st.integers(2, 5), st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_sparse_equals_one_hot_for_sequences_and_clipped_probabilities(steps, classes, seed):
    # labels (N, T) against p (N, T, C); some p exactly 0 or 1, where the clip is active
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, (3, steps))
    p = rng.choice([0.0, 1.0, 1e-9, 0.3, 0.7], (3, steps, classes))
    p[..., 0] += 0.5  # no all-zero row
    one_hot = np.eye(classes)[labels]
    sparse, dense = losses.SparseCategoricalCrossentropy(), losses.CategoricalCrossentropy()
    np.testing.assert_allclose(sparse.per_sample(labels, p), dense.per_sample(one_hot, p),
                               rtol=1e-6)
    np.testing.assert_allclose(sparse.gradient(labels, p), dense.gradient(one_hot, p),
                               rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(sparse.logits_gradient(labels, p, "softmax"),
                               dense.logits_gradient(one_hot, p, "softmax"), rtol=1e-6)


def test_labels_are_brought_to_the_predictions_rank():
    y, p = np.array([0.0, 1.0, 2.0]), np.array([[0.5], [1.0], [1.0]])
    assert losses.get("mse")(y, p) == pytest.approx((0.25 + 0 + 1) / 3)   # no (3, 3) broadcast
    assert losses.get("mse")(y.reshape(3, 1, 1), p) == pytest.approx((0.25 + 0 + 1) / 3)
    assert losses.get("mse").gradient(y, p).shape == (3, 1)
    with pytest.raises(ValueError, match="does not match"):
        losses.get("mse")(np.zeros((3, 2)), p)


def test_sparse_labels_equal_one_hot_labels():
    rng = np.random.default_rng(1)
    labels, p = rng.integers(0, 4, 6), rng.uniform(0.05, 1, (6, 4))
    one_hot = np.eye(4)[labels]
    sparse, dense = losses.SparseCategoricalCrossentropy(), losses.CategoricalCrossentropy()
    for y in (labels, labels.reshape(6, 1), labels.astype(np.float32)):
        assert sparse(y, p) == pytest.approx(dense(one_hot, p), rel=1e-12)
        np.testing.assert_array_equal(sparse.gradient(y, p), dense.gradient(one_hot, p))
    with pytest.raises(ValueError, match="0..3"):
        sparse([0, 4, 1, 1, 1, 1], p)
    with pytest.raises(ValueError, match="integers in 0..3"):
        sparse([0, 1.5, 1, 1, 1, 1], p)
    with pytest.raises(ValueError, match=r"expected \(6,\) or \(6, 1\)"):
        sparse(np.zeros((6, 4)), p)


def test_sample_weight_sums_weighted_losses_over_the_number_of_samples():
    y, p = np.array([[1.0], [2.0], [3.0]]), np.array([[0.0], [0.0], [0.0]])
    mse = losses.MeanSquaredError()
    assert mse(y, p, sample_weight=[1.0, 0.0, 2.0]) == pytest.approx((1 + 0 + 2 * 9) / 3)
    assert mse(y, p, sample_weight=np.array([[1.0], [0.0], [2.0]])) == pytest.approx(19 / 3)
    with pytest.raises(ValueError, match="sample_weight"):
        mse(y, p, sample_weight=[1.0, 2.0])


def test_three_dimensional_predictions_reduce_the_last_axis_only():
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))
    mse = losses.MeanSquaredError()
    assert mse.per_sample(y, p).shape == (2, 5)
    w = np.array([1.0, 3.0])
    expected = ((((y - p) ** 2).mean(-1)) * w[:, None]).sum() / 10
    assert mse(y, p, sample_weight=w) == pytest.approx(expected)


# ---- gradients ----------------------------------------------------------------------------------

@each_loss
@given(seed=st.integers(0, 2**32 - 1), weighted=st.booleans())
def test_gradient_matches_finite_differences(name, seed, weighted):
    rng = np.random.default_rng(seed)
    y, p = make_data(name, rng)
    assume(distance_to_kink(name, y, p) > 1e-3)
    w = rng.uniform(0, 2, len(p)) if weighted else None
    loss = losses.get(name)
    grad = loss.gradient(y, p, sample_weight=w)
    assert grad.dtype == np.float32 and grad.shape == p.shape
    expected = numerical_gradient(lambda a: loss(y, a, sample_weight=w), p, eps=1e-6)
    np.testing.assert_allclose(grad, expected, rtol=1e-5,
                               atol=1e-7 * max(1.0, abs(loss(y, p, sample_weight=w))))


@pytest.mark.parametrize("name, y, p, clipped", [
    ("binary_crossentropy", [[1.0, 0.0, 1.0]], [[1e-9, 0.5, 1.0]], [True, False, True]),
    ("categorical_crossentropy", [[1.0, 0.0, 0.0]], [[1e-12, 0.5, 0.5]], [True, True, True]),
    ("categorical_crossentropy", [[0.0, 1.0, 0.0]], [[0.4, 0.6, 0.0]], [False, False, False]),
    ("kl_divergence", [[0.2, 0.3, 0.5]], [[1e-9, 0.5, 1.5]], [True, False, True]),
    ("mean_squared_logarithmic_error", [[0.5, 0.5, 0.5]], [[-2.0, 1.5, 1e-9]],
     [True, False, True]),
])
def test_gradient_is_zero_where_the_formula_clips(name, y, p, clipped):
    """Zero exactly where moving the entry (staying in its clip) leaves the loss unchanged.

    Categorical crossentropy first divides by Σp, so one entry's clip only
    silences it if its label is the only one (first case); the third entry
    of the second case, 0, is clipped for the log but still counts in Σp.
    """
    loss = losses.get(name)
    p, clipped = np.array(p), np.array(clipped)
    grad = loss.gradient(y, p)
    assert np.all(grad[0, clipped] == 0)
    assert np.all(grad[0, ~clipped] != 0)
    for j in np.flatnonzero(clipped):
        moved = p.copy()
        moved[0, j] *= 0.5 if p[0, j] < 0.5 else 1.001
        assert loss(y, moved) == loss(y, p)


def test_softmax_chain_rule_equals_the_fused_gradient():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4))
    y, p = np.eye(4)[rng.integers(0, 4, 5)], activations.softmax(z)
    cce = losses.CategoricalCrossentropy()
    chained = activations.get("softmax").backward(z, p, cce.gradient(y, p).astype(np.float64))
    np.testing.assert_allclose(chained, cce.logits_gradient(y, p, "softmax"), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name, activation, y", [
    ("categorical_crossentropy", "softmax", np.eye(4)[[0, 3, 1, 1, 2]]),
    ("categorical_crossentropy", "softmax", np.random.default_rng(4).dirichlet(np.ones(4), 5)),
    ("sparse_categorical_crossentropy", "softmax", np.array([0, 3, 1, 1, 2])),
    ("sparse_categorical_crossentropy", "softmax", np.array([[0], [3], [1], [1], [2]])),
    ("binary_crossentropy", "sigmoid", np.random.default_rng(5).integers(0, 2, (5, 4))),
    ("binary_crossentropy", "sigmoid", np.random.default_rng(6).random((5, 1))),
])
@pytest.mark.parametrize("weighted", [False, True])
def test_logits_gradient_matches_finite_differences_through_the_activation(
        name, activation, y, weighted):
    rng = np.random.default_rng(7)
    z = 2 * rng.normal(size=(5, 4 if name != "binary_crossentropy" else y.shape[1]))
    w = rng.uniform(0, 2, 5) if weighted else None
    loss, act = losses.get(name), activations.get(activation)
    fused = loss.logits_gradient(y, act.forward(z), act, sample_weight=w)
    assert fused.dtype == np.float32 and fused.shape == z.shape
    expected = numerical_gradient(lambda a: loss(y, act.forward(a), sample_weight=w), z, eps=1e-6)
    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-7)
    if not weighted and name != "binary_crossentropy" and y.ndim == 2 and y.shape[1] == 4:
        np.testing.assert_allclose(fused, (act.forward(z) - y) / 5, rtol=1e-6)   # (p − y)/N


@pytest.mark.parametrize("name, activation", [
    ("categorical_crossentropy", "sigmoid"), ("sparse_categorical_crossentropy", "sigmoid"),
    ("binary_crossentropy", "softmax"), ("mean_squared_error", "linear"),
    ("mean_squared_error", "softmax"), ("categorical_crossentropy", "relu"),
])
def test_logits_gradient_is_none_for_other_pairs(name, activation):
    p = np.full((2, 2), 0.5)
    y = np.zeros(2) if name.startswith("sparse") else np.eye(2)
    assert losses.get(name).logits_gradient(y, p, activation) is None


# ---- names -------------------------------------------------------------------------------------

COURSE_NAMES = [  # chapter 8's list (tf.keras 2.0, 19.11.2019), without the helper at its end
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "squared_hinge", "hinge", "categorical_hinge", "logcosh",
    "huber_loss", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "binary_crossentropy", "kullback_leibler_divergence", "poisson", "cosine_proximity",
]
ALIASES = {
    "mse": losses.MeanSquaredError, "mae": losses.MeanAbsoluteError,
    "mape": losses.MeanAbsolutePercentageError, "msle": losses.MeanSquaredLogarithmicError,
    "kld": losses.KLDivergence, "kl_divergence": losses.KLDivergence, "log_cosh": losses.LogCosh,
    "huber": losses.Huber, "cosine_similarity": losses.CosineSimilarity,
    "MeanSquaredError": losses.MeanSquaredError, "BinaryCrossentropy": losses.BinaryCrossentropy,
    "MSE": losses.MeanSquaredError, "Huber_Loss": losses.Huber,
}


@pytest.mark.parametrize("name", COURSE_NAMES)
def test_every_course_name_resolves_and_has_a_function(name):
    loss = losses.get(name)
    assert isinstance(loss, losses.Loss) and type(loss) is not losses.LossFunctionWrapper
    function = getattr(losses, name)
    assert type(losses.get(function)) is type(loss)
    assert name in losses.names()


@pytest.mark.parametrize("name, cls", ALIASES.items())
def test_aliases_resolve(name, cls):
    assert type(losses.get(name)) is cls
    if name.islower() and hasattr(losses, name):
        assert getattr(losses, name).loss_class is cls


def test_is_categorical_crossentropy_is_a_helper_not_a_loss():
    assert losses.is_categorical_crossentropy("categorical_crossentropy")
    assert losses.is_categorical_crossentropy(losses.categorical_crossentropy)
    assert not losses.is_categorical_crossentropy("sparse_categorical_crossentropy")
    assert not losses.is_categorical_crossentropy("nonsense")
    with pytest.raises(ValueError, match="helper"):
        losses.get("is_categorical_crossentropy")


def test_get_passes_instances_and_classes():
    loss = losses.Huber(delta=0.5)
    assert losses.get(loss) is loss
    assert type(losses.get(losses.Poisson)) is losses.Poisson


def test_plain_functions_give_values_but_no_gradient():
    def fourth_power(y_true, y_pred):
        return np.mean((y_true - y_pred) ** 4, axis=-1)

    loss = losses.get(fourth_power)
    assert loss.name == "fourth_power"
    assert loss([[1.0], [0.0]], [[0.0], [0.0]]) == pytest.approx(0.5)
    with pytest.raises(NotImplementedError, match="cannot differentiate"):
        loss.gradient([[1.0]], [[0.0]])


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown loss 'mean_square_error'.*binary_crossentropy.*"
                                         "mse.*sparse_categorical_crossentropy"):
        losses.get("mean_square_error")
    with pytest.raises(TypeError):
        losses.get(42)


@each_loss
@pytest.mark.parametrize("activation", [None, "softmax", "sigmoid"])
def test_value_and_gradient_equals_the_separate_calls(name, activation):
    """One training step's (loss, gradient, fused) is the loss value and
    logits_gradient (when the pair fuses) or gradient (when it does not)."""
    y, p = make_data(name, np.random.default_rng(11))
    w = np.random.default_rng(12).uniform(0, 2, len(p))
    loss = losses.get(name)
    value, gradient, fused = loss.value_and_gradient(y, p, activation, sample_weight=w)
    assert value == loss(y, p, sample_weight=w)
    fused_gradient = loss.logits_gradient(y, p, activation, sample_weight=w)
    assert fused == (fused_gradient is not None)
    expected = fused_gradient if fused else loss.gradient(y, p, sample_weight=w)
    np.testing.assert_array_equal(gradient, expected)
