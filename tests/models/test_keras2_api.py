"""tf.keras 2's Model/Sequential surface a learner reaches for after the course:
predict_classes / predict_proba, metrics_names, get_layer, the *_on_batch
methods, summary(line_length=, positions=), utils.normalize, and the names
fastnn declines with advice (fit_generator, model.inputs, plot_model, ...).

References: the documented tf.keras 2.x behaviour quoted in each test's
docstring, and float64 NumPy computations of the model by hand.
"""
import re
import warnings

import numpy as np
import pytest

import fastnn.models
from fastnn import utils
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD

pytestmark = pytest.mark.usefixtures("fresh_session")
RNG = np.random.default_rng(11)
X = RNG.normal(size=(20, 4))


def by_hand(model, x):
    """The forward pass of a model of Dense layers in float64 (relu, softmax, sigmoid, linear)."""
    out = np.asarray(x, np.float64)
    for layer in model.layers:
        kernel, bias = (w.astype(np.float64) for w in layer.get_weights())
        out = out @ kernel + bias
        name = layer.activation.name if layer.activation is not None else "linear"
        if name == "relu":
            out = np.maximum(out, 0)
        elif name == "softmax":
            out = np.exp(out - out.max(axis=-1, keepdims=True))
            out /= out.sum(axis=-1, keepdims=True)
        elif name == "sigmoid":
            out = 1 / (1 + np.exp(-out))
    return out


def classifier(units=3, activation="softmax"):
    return Sequential([Dense(8, activation="relu", input_shape=(4,), name="hidden"),
                       Dense(units, activation=activation, name="out")])


# ---- predict_classes / predict_proba -----------------------------------------------------------

def test_predict_classes_is_the_argmax_of_the_probabilities_and_names_its_replacement():
    """tf.keras 2.0-2.5 Sequential.predict_classes: proba.argmax(axis=-1) when
    the output has more than one unit; deprecated (2.3+) in favour of
    np.argmax(model.predict(x), axis=-1)."""
    model = classifier()
    with pytest.warns(DeprecationWarning,
                      match=re.escape("np.argmax(model.predict(x), axis=-1)")):
        classes = model.predict_classes(X)
    np.testing.assert_array_equal(classes, by_hand(model, X).argmax(axis=-1))
    assert classes.shape == (20,)
    np.testing.assert_array_equal(classes, np.argmax(model.predict(X), axis=-1))


def test_predict_classes_of_one_sigmoid_unit_thresholds_at_one_half():
    """tf.keras 2.x: (proba > 0.5).astype('int32'), shape (n, 1); the warning
    names (model.predict(x) > 0.5).astype("int32")."""
    model = classifier(units=1, activation="sigmoid")
    with pytest.warns(DeprecationWarning,
                      match=re.escape('(model.predict(x) > 0.5).astype("int32")')):
        classes = model.predict_classes(X, batch_size=7)
    assert classes.shape == (20, 1) and classes.dtype == np.int32
    np.testing.assert_array_equal(classes, (by_hand(model, X) > 0.5).astype(np.int32))
    assert 0 < classes.sum() < 20          # both classes occur: the threshold was tested


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_predict_proba_is_predict_and_warns_about_non_probabilities():
    """tf.keras 2.0-2.5 Sequential.predict_proba: predict(x), with a warning
    when the values leave [0, 1] ("Network returning invalid probability
    values"); deprecated in favour of model.predict(x)."""
    model = classifier()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proba = model.predict_proba(X)
    assert [w.category for w in caught] == [DeprecationWarning]
    assert "model.predict(x)" in str(caught[0].message)
    np.testing.assert_allclose(proba, by_hand(model, X), rtol=1e-5, atol=1e-7)
    linear = classifier(activation=None)
    with pytest.warns(UserWarning, match="invalid probability values"):
        linear.predict_proba(X * 10)


# ---- metrics_names ------------------------------------------------------------------------------

def test_metrics_names_lists_what_evaluate_returns_in_order():
    """tf.keras 2.0's Model.metrics_names: ['loss'] + the names of
    model.metrics; 'loss' alone before compile gives metrics; each metric
    under the string it was compiled with (Keras 2 logged metrics=['acc'] as
    'acc'), in compile order; the names of evaluate's list."""
    model = classifier(units=1, activation="sigmoid")
    assert model.metrics_names == ["loss"]
    y = (X[:, 0] > 0).astype(np.float32)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    assert model.metrics_names == ["loss", "accuracy"]
    history = model.fit(X, y, epochs=1, verbose=0)
    assert model.metrics_names == list(history.history) == ["loss", "accuracy"]
    assert len(model.evaluate(X, y, verbose=0)) == 2
    assert list(model.evaluate(X, y, verbose=0, return_dict=True)) == model.metrics_names

    model.compile("adam", "binary_crossentropy", metrics=["acc", "mse"])
    assert model.metrics_names == ["loss", "acc", "mse"]
    assert list(model.evaluate(X, y, verbose=0, return_dict=True)) == ["loss", "acc", "mse"]
    model.compile("adam", "binary_crossentropy")
    assert model.metrics_names == ["loss"]
    assert np.ndim(model.evaluate(X, y, verbose=0)) == 0


# ---- get_layer ----------------------------------------------------------------------------------

def test_get_layer_by_name_and_by_index():
    model = classifier()
    hidden, out = model.layers
    assert model.get_layer("out") is out and model.get_layer(name="hidden") is hidden
    assert model.get_layer(index=0) is hidden and model.get_layer(index=-1) is out


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "nope"}, "No such layer: nope. Existing layers are: ['hidden', 'out']."),
    ({"index": 2}, "Was asked to retrieve layer at index 2 but model only has 2 layers."),
    ({"index": -3}, "Was asked to retrieve layer at index -3 but model only has 2 layers."),
    ({}, "Provide either a layer name or layer index."),
    ({"name": "out", "index": 1}, "Provide only a layer name or a layer index."),
])
def test_get_layer_errors_say_what_exists(kwargs, message):
    """tf.keras 2.x's ValueError messages (2.4+ lists the existing layers)."""
    with pytest.raises(ValueError, match=re.escape(message)):
        classifier().get_layer(**kwargs)


# ---- one batch at a time ------------------------------------------------------------------------

def linear_regression(learning_rate=0.1):
    model = Sequential([Dense(1, input_shape=(4,))])
    model.compile(SGD(learning_rate), "mse", metrics=["mae"])
    return model


def test_train_on_batch_is_one_sgd_step_and_reports_the_loss_before_it():
    """tf.keras 2.x train_on_batch: one gradient update on the whole batch;
    returns [loss, metrics] of that batch, computed in the step (before the
    weights move).  Reference: MSE and its gradient 2/N·Xᵀ(Xw + b − y) in float64."""
    model = linear_regression(0.1)
    y = RNG.normal(size=(20, 1))
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    error = X @ kernel + bias - y
    loss, mae = model.train_on_batch(X, y)
    assert loss == pytest.approx(np.mean(error ** 2), rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(error)), rel=1e-5)
    new_kernel, new_bias = model.get_weights()
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * 2 / 20 * X.T @ error, rtol=1e-5)
    np.testing.assert_allclose(new_bias, bias - 0.1 * 2 / 20 * error.sum(axis=0), rtol=1e-5)
    logs = model.train_on_batch(X, y, return_dict=True)
    assert list(logs) == ["loss", "mae"] and logs["loss"] < loss


def test_test_and_predict_on_batch_equal_evaluate_and_predict_on_one_batch():
    model = linear_regression()
    y = RNG.normal(size=(20, 1))
    before = model.get_weights()
    assert model.test_on_batch(X, y) == pytest.approx(model.evaluate(X, y, batch_size=20,
                                                                     verbose=0), rel=1e-12)
    np.testing.assert_array_equal(model.predict_on_batch(X), model.predict(X))
    np.testing.assert_allclose(model.predict_on_batch(X), by_hand(model, X), rtol=1e-5)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    model.reset_states()                      # no stateful layers: nothing changes
    np.testing.assert_array_equal(model.predict_on_batch(X), model.predict(X))


def test_reset_metrics_false_accumulates_over_calls():
    """tf.keras 2.x: with reset_metrics=False the values are accumulated over
    the calls since the last reset (here: the same as evaluating both batches
    at once, batch by batch); model.reset_metrics() starts over, and so does
    a call with reset_metrics=True (tf.keras 2.2+ resets after such a call).
    The evaluate calls in between do not disturb the accumulated values."""
    model = linear_regression()
    y = RNG.normal(size=(20, 1))
    model.test_on_batch(X[:12], y[:12], reset_metrics=False)
    model.evaluate(X[:3], y[:3], verbose=0)
    both = model.test_on_batch(X[12:], y[12:], reset_metrics=False)
    np.testing.assert_allclose(both, model.evaluate(X, y, batch_size=12, verbose=0), rtol=1e-12)
    model.reset_metrics()
    alone = model.test_on_batch(X[12:], y[12:], reset_metrics=False)
    np.testing.assert_allclose(alone, model.evaluate(X[12:], y[12:], verbose=0), rtol=1e-12)
    model.test_on_batch(X[:12], y[:12])           # reset_metrics=True: this batch only, and
    after = model.test_on_batch(X[12:], y[12:], reset_metrics=False)   # starts over after it
    np.testing.assert_allclose(after, alone, rtol=1e-12)


def test_on_batch_methods_check_like_fit():
    model = linear_regression()
    with pytest.raises(RuntimeError, match="compile"):
        Sequential([Dense(1, input_shape=(4,))]).train_on_batch(X, X[:, :1])
    with pytest.raises(ValueError, match="x has 20 samples but y has 3"):
        model.train_on_batch(X, np.zeros((3, 1)))


# ---- summary(line_length=, positions=) ---------------------------------------------------------

def test_summary_takes_line_length_and_positions():
    """tf.keras 2.x Sequential summary: positions default [.45, .85, 1.] of
    line_length (default 65), fractions when the last is <= 1, else
    characters; separators are line_length wide."""
    model = classifier()
    for line_length, positions, stops in [(80, None, (36, 68, 80)),
                                          (100, [.3, .6, 1.], (30, 60, 100)),
                                          (None, [20, 45, 60], (20, 45, 60))]:
        lines = []
        model.summary(line_length=line_length, positions=positions, print_fn=lines.append)
        widths = (stops[0], stops[1] - stops[0], stops[2] - stops[1])
        row = lambda *fields: "".join(f"{f:<{w}}" for f, w in zip(fields, widths))  # noqa: E731
        width = line_length or 65
        assert lines[1] == "_" * width and lines[3] == "=" * width
        assert lines[2] == row("Layer (type)", "Output Shape", "Param #")
        assert lines[4] == row("hidden (Dense)", "(None, 8)", "40")
        assert lines[6] == row("out (Dense)", "(None, 3)", "27")
        assert lines[-1] == "_" * width
    default = []
    model.summary(print_fn=default.append)
    assert default[2] == f"{'Layer (type)':<29}{'Output Shape':<26}{'Param #':<10}"


# ---- names fastnn declines, with advice ---------------------------------------------------------

@pytest.mark.parametrize("name, advice", [
    ("fit_generator", "model.fit(x, y"), ("evaluate_generator", "model.evaluate(x, y)"),
    ("predict_generator", "model.predict(x)"), ("inputs", "model.input_shape"),
    ("output", "Sequential(model.layers[:k + 1]).predict(x)"), ("to_yaml", "to_json"),
])
def test_model_attributes_fastnn_lacks_say_what_to_use(name, advice):
    model = classifier()
    with pytest.raises(AttributeError, match=re.escape(advice)):
        getattr(model, name)
    assert not hasattr(model, name)
    with pytest.raises(AttributeError, match="no attribute 'fitt'$"):
        model.fitt


def test_the_advice_for_layer_outputs_works():
    """What model.output's message suggests gives the hidden layer's output."""
    model = classifier()
    hidden = Sequential(model.layers[:1]).predict(X)
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(hidden, np.maximum(X @ kernel + bias, 0), rtol=1e-5, atol=1e-6)


def test_a_generator_given_to_fit_is_refused_with_advice():
    model = linear_regression()

    def batches():
        while True:
            yield X, X[:, :1]

    with pytest.raises(ValueError, match=r"x is a generator or iterator.*model\.fit\(x, y"):
        model.fit(batches(), epochs=1, verbose=0)


@pytest.mark.parametrize("call, advice", [
    (lambda: utils.plot_model(classifier(), to_file="model.png"), "model.summary()"),
    (lambda: utils.get_file("data.zip", "https://example.org/data.zip"), "urlretrieve"),
    (lambda: type("Batches", (utils.Sequence,), {}), "take arrays"),
])
def test_utils_fastnn_lacks_say_what_to_use(call, advice):
    with pytest.raises(NotImplementedError, match=re.escape(advice)):
        call()


# ---- utils.normalize ----------------------------------------------------------------------------

def test_normalize_divides_by_the_norm_along_the_axis():
    """tf.keras 2.x utils.normalize(x, axis=-1, order=2): x / ‖x‖ along axis,
    zero rows stay zero.  Hand-computed: (3, 4) has L2 norm 5 and L1 norm 7."""
    np.testing.assert_allclose(utils.normalize([[3.0, 4.0], [0.0, 0.0]]),
                               [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize([[3.0, 4.0]], order=1), [[3 / 7, 4 / 7]])
    np.testing.assert_allclose(utils.normalize([[3.0, 1.0], [4.0, 0.0]], axis=0),
                               [[0.6, 1.0], [0.8, 0.0]])
    assert utils.normalize(np.ones((2, 2), np.float32)).dtype == np.float32


# ---- weights and files -------------------------------------------------------------------------

def test_a_weight_gives_its_array_with_numpy():
    """tf.keras 2 tutorials read model.layers[0].weights[0].numpy() (a tf.Variable)."""
    model = classifier()
    kernel = model.layers[0].weights[0].numpy()
    np.testing.assert_array_equal(kernel, model.get_weights()[0])
    kernel += 1                                   # a copy
    np.testing.assert_array_equal(model.layers[0].weights[0].numpy(), model.get_weights()[0])


@pytest.mark.parametrize("load", ["load_model", "load_weights"])
def test_a_damaged_keras_h5_file_is_named_as_such(tmp_path, load):
    """Keras's .h5 files are read (tests/io/test_keras_files.py); one that only
    starts like HDF5 is named as an unreadable HDF5 file."""
    pytest.importorskip("h5py", reason="reading .h5 files needs h5py (pip install fastnn[keras])")
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))      # the HDF5 signature
    loader = getattr(fastnn.models, load) if load == "load_model" else classifier().load_weights
    with pytest.raises(ValueError, match=r"model\.h5: not a readable HDF5 file"):
        loader(path)
    with pytest.raises(ValueError, match="is a directory, not a fastnn model file"):
        loader(tmp_path)                                         # a folder: named as one
