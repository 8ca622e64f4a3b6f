"""GradientStats records the gradient norms fit actually computed (chapter 23).

The oracle for the recorded numbers is independent of fastnn's backward
passes: finite differences of a NumPy forward pass of the same net.
"""
import numpy as np
import pytest

from conftest import numerical_gradient
from fastnn.callbacks import GradientStats
from fastnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.optimizers import SGD, Adam
from fastnn.utils import set_random_seed

pytestmark = pytest.mark.usefixtures("fresh_session")


def two_layer_net(trainable_first=True):
    model = Sequential([Dense(3, activation="sigmoid", input_shape=(4,), name="hidden",
                              trainable=trainable_first),
                        Dropout(0.0, name="drop"),
                        Dense(2, name="out")])
    model.compile(Adam(learning_rate=0.05), loss="mse")
    return model


def numpy_mse(x, y, w1, b1, w2, b2):
    """The two-layer net's batch loss, computed with NumPy in float64."""
    hidden = 1.0 / (1.0 + np.exp(-(x @ w1 + b1)))
    return np.mean((hidden @ w2 + b2 - y) ** 2)


def test_recorded_norms_equal_finite_difference_gradients():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    model = two_layer_net()
    model.build((None, 4))
    w1, b1, w2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    stats = GradientStats()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[stats])

    grad_w1 = numerical_gradient(lambda w: numpy_mse(x, y, w, b1, w2, b2), w1)
    grad_w2 = numerical_gradient(lambda w: numpy_mse(x, y, w1, b1, w, b2), w2)
    assert stats.record["step"] == [0]
    assert list(stats.record["norms"]) == ["hidden", "out"]   # no kernel in Dropout
    np.testing.assert_allclose(stats.record["norms"]["hidden"], [np.linalg.norm(grad_w1)],
                               rtol=1e-3)
    np.testing.assert_allclose(stats.record["norms"]["out"], [np.linalg.norm(grad_w2)],
                               rtol=1e-3)
    assert not np.allclose(model.get_weights()[0], w1)   # the step itself did happen


def fit_with(stats, epochs=2):
    set_random_seed(3)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 4)).astype(np.float32)
    y = rng.normal(size=(10, 2)).astype(np.float32)
    model = two_layer_net()
    model.fit(x, y, batch_size=2, epochs=epochs, verbose=0, callbacks=[stats])
    return model


def test_every_keeps_every_nth_step_of_the_same_run():
    all_steps, every_third = GradientStats(), GradientStats(every=3)
    fit_with(all_steps)
    model = fit_with(every_third)

    assert all_steps.record["step"] == list(range(10))   # 5 batches x 2 epochs
    assert every_third.record["step"] == [0, 3, 6, 9]
    for name, norms in every_third.record["norms"].items():
        np.testing.assert_allclose(norms, np.array(all_steps.record["norms"][name])[[0, 3, 6, 9]],
                                   rtol=1e-6)
    # the last recorded step is the last batch: its gradient is still in kernel.grad
    np.testing.assert_allclose(every_third.record["norms"]["out"][-1],
                               np.linalg.norm(model.layers[2].kernel.grad), rtol=1e-6)


def test_frozen_layers_are_skipped():
    stats = GradientStats()
    model = two_layer_net(trainable_first=False)
    model.fit(np.ones((4, 4)), np.zeros((4, 2)), batch_size=2, verbose=0, callbacks=[stats])
    assert list(stats.record["norms"]) == ["out"]
    assert len(stats.record["norms"]["out"]) == 2


def test_named_layers_only_and_bad_names_are_refused():
    x, y = np.ones((4, 4)), np.zeros((4, 2))
    stats = GradientStats(layers=["out"])
    two_layer_net().fit(x, y, verbose=0, callbacks=[stats])
    assert list(stats.record["norms"]) == ["out"]

    for layers, message in ((["nope"], "no layer 'nope'"), (["drop"], "no trainable kernel")):
        with pytest.raises(ValueError, match=message):
            two_layer_net().fit(x, y, verbose=0, callbacks=[GradientStats(layers=layers)])
    with pytest.raises(ValueError, match="no trainable kernel"):
        two_layer_net(trainable_first=False).fit(x, y, verbose=0,
                                                 callbacks=[GradientStats(layers="hidden")])


@pytest.mark.parametrize("every", [0, -2, 1.5, True, "2"])
def test_every_must_be_a_positive_int(every):
    with pytest.raises(ValueError, match="every must be a positive int"):
        GradientStats(every=every)


def test_layers_must_be_names():
    with pytest.raises(TypeError, match="layer names"):
        GradientStats(layers=[Dense(2)])


def test_cnn_in_fit_and_a_new_fit_starts_a_new_record():
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(12, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    model = Sequential([Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1), name="conv"),
                        MaxPooling2D(2, name="pool"), Flatten(name="flat"),
                        Dense(3, activation="softmax", name="classes")])
    model.compile(SGD(0.1), loss="sparse_categorical_crossentropy")
    stats = GradientStats()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[stats])
    assert stats.record["step"] == list(range(6))
    assert list(stats.record["norms"]) == ["conv", "classes"]
    for layer in (model.layers[0], model.layers[3]):
        norms = stats.record["norms"][layer.name]
        assert all(n > 0 for n in norms)
        np.testing.assert_allclose(norms[-1], np.linalg.norm(layer.kernel.grad), rtol=1e-6)

    model.fit(x, y, batch_size=6, epochs=1, verbose=0, callbacks=[stats])
    assert stats.record["step"] == [0, 1]
    assert all(len(norms) == 2 for norms in stats.record["norms"].values())


def test_a_batch_end_without_a_backward_pass_is_an_error():
    model = two_layer_net()
    model.build((None, 4))
    stats = GradientStats()
    stats.set_model(model)
    stats.on_train_begin()
    with pytest.raises(RuntimeError, match="no gradient yet"):
        stats.on_train_batch_end(0)
