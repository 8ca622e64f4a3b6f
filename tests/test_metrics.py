"""Metrics: accuracies counted by hand, weighted running means, what 'accuracy' resolves to."""
import numpy as np
import pytest

from fastnn import losses, metrics


def test_binary_accuracy():
    m = metrics.BinaryAccuracy()
    m.update_state(np.array([1, 0, 1, 0]), np.array([[0.9], [0.6], [0.5], [0.1]]))
    assert m.result() == pytest.approx(0.5)                # 0.5 is not > 0.5
    m2 = metrics.BinaryAccuracy(threshold=0.4)
    m2.update_state([[1, 0]], [[0.45, 0.3]])
    assert m2.result() == pytest.approx(1.0)
    assert m.name == "binary_accuracy"


def test_categorical_and_sparse_accuracy():
    p = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]])
    labels = np.array([1, 2, 2, 0])
    cat = metrics.CategoricalAccuracy()
    cat.update_state(np.eye(3)[labels], p)
    assert cat.result() == pytest.approx(0.75)
    for y in (labels, labels.reshape(4, 1), labels.astype(np.float32)):
        sparse = metrics.SparseCategoricalAccuracy()
        sparse.update_state(y, p)
        assert sparse.result() == pytest.approx(0.75)


def test_running_mean_is_sample_weighted_across_batches_and_resets():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state([0, 1], [[0.9, 0.1], [0.8, 0.2]])                            # 1 right of 2
    m.update_state([1, 1, 1], [[0.1, 0.9]] * 3, sample_weight=[1.0, 2.0, 0.0])  # 3 of weight 3
    assert m.result() == pytest.approx((1 + 3) / (2 + 3))
    m.reset_state()
    assert m.result() == 0.0
    m.update_state([0], [[0.9, 0.1]])
    assert m.result() == 1.0


@pytest.mark.parametrize("cls, loss_name", [
    (metrics.MeanSquaredError, "mse"), (metrics.MeanAbsoluteError, "mae"),
    (metrics.MeanAbsolutePercentageError, "mape"), (metrics.MeanSquaredLogarithmicError, "msle"),
    (metrics.Hinge, "hinge"), (metrics.SquaredHinge, "squared_hinge"),
    (metrics.CategoricalHinge, "categorical_hinge"), (metrics.LogCoshError, "logcosh"),
    (metrics.KLDivergence, "kld"), (metrics.Poisson, "poisson"),
    (metrics.BinaryCrossentropy, "binary_crossentropy"),
    (metrics.CategoricalCrossentropy, "categorical_crossentropy"),
])
def test_loss_metrics_are_the_weighted_mean_of_the_loss(cls, loss_name):
    rng = np.random.default_rng(0)
    batches = [(rng.dirichlet(np.ones(3), n), rng.uniform(0.05, 0.95, (n, 3))) for n in (4, 2)]
    weights = [rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 2)]
    m = cls()
    for (y, p), w in zip(batches, weights):
        m.update_state(y, p, sample_weight=w)
    loss = losses.get(loss_name)
    values = np.concatenate([loss.per_sample(y, p) for y, p in batches])
    w = np.concatenate(weights)
    assert m.result() == pytest.approx(np.sum(w * values) / np.sum(w), rel=1e-6)


def test_sparse_crossentropy_and_cosine_metrics():
    p = np.array([[0.7, 0.3], [0.4, 0.6]])
    m = metrics.SparseCategoricalCrossentropy()
    m.update_state([0, 1], p)
    assert m.result() == pytest.approx(-(np.log(0.7) + np.log(0.6)) / 2)
    cos = metrics.CosineSimilarity()
    cos.update_state([[1.0, 0.0], [0.0, 2.0]], [[3.0, 0.0], [1.0, 1.0]])
    assert cos.result() == pytest.approx((1.0 + np.sqrt(0.5)) / 2)   # positive, unlike the loss


# ---- get -------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss, output_shape, expected", [
    ("binary_crossentropy", (None, 3), metrics.BinaryAccuracy),
    ("mse", (None, 1), metrics.BinaryAccuracy),
    (None, (None, 1), metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", (None, 2), metrics.SparseCategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(), (None, 10), metrics.SparseCategoricalAccuracy),
    (losses.sparse_categorical_crossentropy, None, metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", (None, 10), metrics.CategoricalAccuracy),
    ("mse", (None, 4), metrics.CategoricalAccuracy),
    (None, None, metrics.CategoricalAccuracy),
])
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_resolves_by_output_and_loss(name, loss, output_shape, expected):
    m = metrics.get(name, loss=loss, output_shape=output_shape)
    assert type(m) is expected and m.name == name


def test_crossentropy_resolves_like_accuracy():
    m = metrics.get("ce", loss="sparse_categorical_crossentropy", output_shape=(None, 2))
    assert type(m) is metrics.SparseCategoricalCrossentropy and m.name == "ce"
    assert type(metrics.get("crossentropy", output_shape=(None, 1))) is metrics.BinaryCrossentropy


def test_course_chapter_7_compile():
    # Dense(2, activation='sigmoid') + sparse_categorical_crossentropy + metrics=['accuracy']
    m = metrics.get("accuracy", loss="sparse_categorical_crossentropy", output_shape=(None, 2))
    m.update_state(np.array([0, 1, 1]), np.array([[0.6, 0.55], [0.2, 0.9], [0.7, 0.4]]))
    assert m.result() == pytest.approx(2 / 3) and m.name == "accuracy"


@pytest.mark.parametrize("name", ["mse", "mean_absolute_error", "kld", "huber", "logcosh",
                                  "binary_crossentropy"])
def test_loss_names_become_metrics_named_by_the_string(name):
    m = metrics.get(name)
    assert m.name == name
    y, p = np.array([[0.0, 1.0]]), np.array([[0.2, 0.7]])
    m.update_state(y, p)
    assert m.result() == pytest.approx(losses.get(name)(y, p), rel=1e-6)


def test_get_accepts_metrics_classes_losses_and_functions():
    m = metrics.BinaryAccuracy(threshold=0.7)
    assert metrics.get(m) is m
    assert type(metrics.get(metrics.CategoricalAccuracy)) is metrics.CategoricalAccuracy
    assert type(metrics.get("SPARSE_categorical_accuracy")) is metrics.SparseCategoricalAccuracy
    assert metrics.get("Cosine_Proximity").name == "Cosine_Proximity"
    assert metrics.get(losses.Huber()).name == "huber_loss"

    def within_one(y_true, y_pred):
        return np.mean(np.abs(y_true - y_pred) < 1.0, axis=-1)

    custom = metrics.get(within_one)
    assert custom.name == "within_one"
    custom.update_state(np.array([[0.0], [0.0]]), np.array([[0.5], [2.0]]))
    assert custom.result() == pytest.approx(0.5)


def test_unknown_metrics_list_the_valid_names():
    with pytest.raises(ValueError, match="Unknown metric 'accuracyy'.*acc.*accuracy.*mse"):
        metrics.get("accuracyy")
    with pytest.raises(TypeError):
        metrics.get(3)
