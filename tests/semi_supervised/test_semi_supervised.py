"""fastnn.semi_supervised.PseudoLabeler (chapter 16): pseudo-labels help, and are what they claim.

The learning problem: two Gaussian classes, far apart along one axis but
buried in 99 axes of noise, with only 2 labels per class.  Trained on those
4 samples alone, a small network picks up the noise and reaches about 75 %
(more epochs do not help); its confident predictions are right far more
often, and training on them too gains about 5 points (on 20 of 20 seeds,
never less than 1.4).
"""
import numpy as np
import pytest

from fastnn.callbacks import Callback
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.semi_supervised import PseudoLabeler
from fastnn.utils import set_random_seed, to_categorical

pytestmark = pytest.mark.usefixtures("fresh_session")

DIMS = 100


def noisy_classes(seed, labeled_per_class=2, unlabeled=1000, test=500):
    """(x_labeled, y_labeled), (x_unlabeled, y_unlabeled), (x_test, y_test)."""
    rng = np.random.default_rng(seed)
    centers = np.zeros((2, DIMS))
    centers[:, 0] = [4.0, -4.0]

    def draw(labels):
        return (centers[labels] + rng.normal(size=(len(labels), DIMS))).astype(np.float32), labels

    return (draw(np.repeat([0, 1], labeled_per_class)), draw(rng.integers(0, 2, unlabeled)),
            draw(rng.integers(0, 2, test)))


def classifier(units=2, activation="softmax", loss="sparse_categorical_crossentropy",
               inputs=DIMS):
    model = Sequential([Dense(32, activation="relu", input_shape=(inputs,)),
                        Dense(units, activation=activation)])
    model.compile(Adam(0.01), loss, metrics=["accuracy"])
    return model


def test_pseudo_labeling_beats_training_on_the_labels_alone():
    gains = []
    for seed in range(3):
        (x_labeled, y_labeled), (x_unlabeled, y_unlabeled), (x_test, y_test) = \
            noisy_classes(seed)
        set_random_seed(seed)
        alone = classifier()
        alone.fit(x_labeled, y_labeled, epochs=40, batch_size=32, verbose=0)  # both phases' epochs
        set_random_seed(seed)
        labeler = PseudoLabeler(classifier(), threshold=0.95)
        labeler.fit(x_labeled, y_labeled, x_unlabeled, epochs=20, batch_size=32, verbose=0)

        accuracy_alone = alone.evaluate(x_test, y_test, verbose=0)[1]
        accuracy = np.mean(labeler.predict(x_test).argmax(axis=1) == y_test)
        pseudo_accuracy = np.mean(labeler.pseudo_labels_[labeler.mask_]
                                  == y_unlabeled[labeler.mask_])
        assert 0.2 < labeler.mask_.mean() < 0.8
        assert pseudo_accuracy > accuracy_alone + 0.05   # confident predictions are better
        assert accuracy > accuracy_alone
        gains.append(accuracy - accuracy_alone)
    assert np.mean(gains) > 0.025


def trained_like_step_one(seed, x_labeled, y_labeled, **fit_kwargs):
    """A twin of the labeler's model after step 1: same seed, same training."""
    set_random_seed(seed)
    twin = classifier()
    twin.fit(x_labeled, y_labeled, **fit_kwargs)
    return twin


def test_pseudo_labels_and_mask_are_the_step_one_models_predictions():
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(4, unlabeled=200)
    fit_kwargs = {"epochs": 5, "batch_size": 32, "verbose": 0}
    set_random_seed(7)
    labeler = PseudoLabeler(classifier(), threshold=0.9)
    assert labeler.fit(x_labeled, y_labeled, x_unlabeled, **fit_kwargs) is labeler

    probabilities = trained_like_step_one(7, x_labeled, y_labeled, **fit_kwargs).predict(
        x_unlabeled)
    np.testing.assert_array_equal(labeler.pseudo_labels_, probabilities.argmax(axis=1))
    assert labeler.pseudo_labels_.dtype == y_labeled.dtype
    np.testing.assert_array_equal(labeler.confidence_, probabilities.max(axis=1))
    np.testing.assert_array_equal(labeler.mask_, probabilities.max(axis=1) >= 0.9)
    assert 0 < labeler.mask_.sum() < len(x_unlabeled)
    combined = labeler.history_["combined"]
    assert labeler.history_["labeled"].params["samples"] == len(x_labeled)
    assert combined.params["samples"] == len(x_labeled) + labeler.mask_.sum()
    assert len(combined.history["loss"]) == 5


def test_threshold_one_keeps_only_certain_predictions():
    rng = np.random.default_rng(0)
    y_unlabeled = rng.integers(0, 2, 300)
    # far-apart classes: after training, some softmax outputs round to exactly 1.0 in float32
    x_unlabeled = (rng.normal(size=(300, 2)) + 30.0 * y_unlabeled[:, None]).astype(np.float32)
    x_labeled = np.array([[0, 0], [1, -1], [30, 30], [29, 31]], np.float32)
    y_labeled = np.array([0, 0, 1, 1])
    set_random_seed(0)
    labeler = PseudoLabeler(classifier(inputs=2), threshold=1.0)
    labeler.fit(x_labeled, y_labeled, x_unlabeled, epochs=100, batch_size=4, verbose=0)
    np.testing.assert_array_equal(labeler.mask_, labeler.confidence_ == 1.0)
    assert 0 < labeler.mask_.sum() < len(x_unlabeled)
    assert labeler.history_["combined"].params["samples"] == 4 + labeler.mask_.sum()


def test_one_hot_labels_give_one_hot_pseudo_labels():
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(5, unlabeled=100)
    one_hot = to_categorical(y_labeled, 2)
    set_random_seed(3)
    labeler = PseudoLabeler(classifier(loss="categorical_crossentropy"), threshold=0.8)
    labeler.fit(x_labeled, one_hot, x_unlabeled, epochs=3, verbose=0)
    assert labeler.pseudo_labels_.shape == (100, 2)
    assert labeler.pseudo_labels_.dtype == np.float32
    twin = trained_like_step_one(3, x_labeled, y_labeled, epochs=3, verbose=0)
    np.testing.assert_array_equal(labeler.pseudo_labels_,
                                  to_categorical(twin.predict(x_unlabeled).argmax(axis=1), 2))


def test_column_labels_give_column_pseudo_labels():
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(6, unlabeled=50)
    labeler = PseudoLabeler(classifier(), threshold=0.5)
    labeler.fit(x_labeled, y_labeled.reshape(-1, 1), x_unlabeled, epochs=1, verbose=0)
    assert labeler.pseudo_labels_.shape == (50, 1)
    assert labeler.mask_.all()   # with two classes the top probability is always >= 0.5


def test_a_single_sigmoid_unit_labels_two_classes():
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(7, unlabeled=100)
    set_random_seed(1)
    labeler = PseudoLabeler(classifier(1, "sigmoid", "binary_crossentropy"), threshold=0.7)
    labeler.fit(x_labeled, y_labeled.astype(np.float32), x_unlabeled, epochs=5, verbose=0)
    set_random_seed(1)
    twin = classifier(1, "sigmoid", "binary_crossentropy")
    twin.fit(x_labeled, y_labeled.astype(np.float32), epochs=5, verbose=0)
    p = twin.predict(x_unlabeled)[:, 0]
    np.testing.assert_array_equal(labeler.pseudo_labels_, (p >= 0.5).astype(np.float32))
    np.testing.assert_allclose(labeler.confidence_, np.maximum(p, 1 - p))
    np.testing.assert_array_equal(labeler.mask_, np.maximum(p, 1 - p) >= 0.7)


class StartOfTraining(Callback):
    """Records the weights and the optimizer's step count as each fit begins."""

    def __init__(self):
        super().__init__()
        self.starts = []

    def on_train_begin(self, logs=None):
        self.starts.append((self.model.get_weights(), self.model.optimizer.iterations))


@pytest.mark.parametrize("warm_start", [True, False])
def test_step_three_starts_where_warm_start_says(warm_start):
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(8, unlabeled=100)
    model = classifier()
    initial = model.get_weights()
    recorder = StartOfTraining()
    labeler = PseudoLabeler(model, threshold=0.6, warm_start=warm_start)
    labeler.fit(x_labeled, y_labeled, x_unlabeled, epochs=4, batch_size=2, verbose=0,
                callbacks=[recorder])
    (first, first_steps), (second, second_steps) = recorder.starts
    assert first_steps == 0
    for before, start in zip(initial, first):
        np.testing.assert_array_equal(start, before)
    if warm_start:   # where step 1 stopped: 4 epochs of 2 batches
        assert second_steps == 8
        assert not all(np.array_equal(a, b) for a, b in zip(second, initial))
    else:            # from the start again, with a fresh optimizer
        assert second_steps == 0
        for before, start in zip(initial, second):
            np.testing.assert_array_equal(start, before)


def test_retrain_epochs_sets_the_epochs_of_the_second_fit():
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(10, unlabeled=20)
    labeler = PseudoLabeler(classifier(), threshold=0.5)
    labeler.fit(x_labeled, y_labeled, x_unlabeled, epochs=3, retrain_epochs=1, verbose=0)
    assert len(labeler.history_["labeled"].history["loss"]) == 3
    assert len(labeler.history_["combined"].history["loss"]) == 1


def test_predict_is_the_models():
    (x_labeled, y_labeled), (x_unlabeled, _), (x_test, _) = noisy_classes(9, unlabeled=20)
    labeler = PseudoLabeler(classifier()).fit(x_labeled, y_labeled, x_unlabeled, epochs=1,
                                              verbose=0)
    np.testing.assert_array_equal(labeler.predict(x_test, batch_size=7),
                                  labeler.model.predict(x_test))


# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("threshold", [0, -0.5, 1.01, True, "0.9", None])
def test_threshold_must_be_in_zero_one(threshold):
    with pytest.raises(ValueError, match=r"threshold must be a number in \(0, 1\]"):
        PseudoLabeler(classifier(), threshold=threshold)


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="expected a fastnn model"):
        PseudoLabeler(Dense(2))
    with pytest.raises(TypeError, match="warm_start"):
        PseudoLabeler(classifier(), warm_start="yes")


def test_an_uncompiled_model_is_refused():
    model = Sequential([Dense(2, activation="softmax", input_shape=(DIMS,))])
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(0, unlabeled=10)
    with pytest.raises(RuntimeError, match="compile"):
        PseudoLabeler(model).fit(x_labeled, y_labeled, x_unlabeled)


@pytest.mark.parametrize("change, match", [
    ({"y_labeled": np.zeros(3, int)}, "x_labeled has 4 samples but y_labeled has 3"),
    ({"x_unlabeled": np.zeros((5, DIMS + 1))}, "x_unlabeled have shape"),
    ({"x_unlabeled": np.zeros((0, DIMS))}, "x_unlabeled is empty"),
    ({"x_labeled": np.array([["a"] * DIMS] * 4)}, "x_labeled must hold real numbers"),
])
def test_bad_data_is_refused(change, match):
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(0, unlabeled=10)
    data = {"x_labeled": x_labeled, "y_labeled": y_labeled, "x_unlabeled": x_unlabeled, **change}
    with pytest.raises(ValueError, match=match):
        PseudoLabeler(classifier()).fit(**data)


@pytest.mark.parametrize("model, match", [
    (classifier(2, None, "mse"), "activation 'linear' with 2 unit"),
    (classifier(3, "sigmoid", "binary_crossentropy"), "activation 'sigmoid' with 3 unit"),
    (classifier(1, "softmax"), "activation 'softmax' with 1 unit"),
])
def test_a_model_without_class_probabilities_is_refused(model, match):
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(0, unlabeled=10)
    with pytest.raises(ValueError, match=match):
        PseudoLabeler(model).fit(x_labeled, y_labeled, x_unlabeled)


@pytest.mark.parametrize("argument", ["validation_split", "sample_weight"])
def test_fit_arguments_that_cannot_cover_pseudo_labels_are_refused(argument):
    (x_labeled, y_labeled), (x_unlabeled, _), _ = noisy_classes(0, unlabeled=10)
    with pytest.raises(ValueError, match=f"{argument}= is not supported"):
        PseudoLabeler(classifier()).fit(x_labeled, y_labeled, x_unlabeled,
                                        **{argument: 0.2})
