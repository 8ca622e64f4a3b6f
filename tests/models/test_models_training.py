"""fit / evaluate / predict semantics and console output (keras-reference §2, §3)."""
import inspect
import io
import re
import warnings

import numpy as np
import pytest

from fastnn.callbacks import Callback, EarlyStopping, History, TerminateOnNaN
from fastnn.layers import BatchNormalization, Dense, Dropout, Layer
from fastnn.models import Sequential, training
from fastnn.models.progress import Progress, format_logs
from fastnn.optimizers import SGD
from fastnn.utils import set_random_seed

NUMBER = r"(?:\d+\.\d{4}|\d\.\d{4}e[+-]\d\d)"


pytestmark = [pytest.mark.native, pytest.mark.usefixtures("fresh_session")]


class Recorder(Layer):
    """An identity layer that remembers every batch it sees and in which mode."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, x, training=False):
        self.seen.append((bool(training), x.copy()))
        return x

    def batches(self, training):
        """Sample ids (the value of the first feature) of each batch seen in that mode."""
        return [x.reshape(len(x), -1)[:, 0].astype(int).tolist()
                for mode, x in self.seen if mode == training]


def recorded_model(features=1, units=1, lr=0.0):
    """Recorder -> Dense: with lr=0 the weights never move."""
    recorder = Recorder(input_shape=(features,))
    model = Sequential([recorder, Dense(units)])
    model.compile(SGD(learning_rate=lr), "mse")
    return model, recorder


def ids(count, features=1):
    """Inputs whose first feature is the sample's index."""
    return np.repeat(np.arange(count, dtype=np.float32)[:, None], features, axis=1)


# ---- History ------------------------------------------------------------------------------------


def test_fit_returns_history_with_loss_metrics_and_validation():
    model = Sequential([Dense(2, input_shape=(3,), activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(20, 3))
    history = model.fit(x, np.arange(20) % 2, epochs=3, verbose=0, validation_split=0.25)
    assert isinstance(history, History) and model.history is history
    assert history.epoch == [0, 1, 2]
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    for values in history.history.values():
        assert len(values) == 3 and all(type(v) is float for v in values)


def test_history_without_validation_has_no_val_keys():
    model, _ = recorded_model()
    history = model.fit(ids(4), np.zeros(4), epochs=2, verbose=0)
    assert list(history.history) == ["loss"]


# ---- batches, shuffling, validation_split --------------------------------------------------------


def test_shuffle_false_gives_consecutive_batches_every_epoch():
    model, recorder = recorded_model()
    model.fit(ids(25), np.zeros(25), batch_size=10, epochs=2, shuffle=False, verbose=0)
    expected = [list(range(0, 10)), list(range(10, 20)), list(range(20, 25))]  # last one kept
    assert recorder.batches(training=True) == expected + expected


def test_shuffle_true_draws_a_new_permutation_each_epoch():
    model, recorder = recorded_model()
    model.fit(ids(40), np.zeros(40), batch_size=8, epochs=3, shuffle=True, verbose=0)
    batches = recorder.batches(training=True)
    epochs = [sum(batches[i:i + 5], []) for i in range(0, 15, 5)]
    assert all(sorted(order) == list(range(40)) for order in epochs)
    assert epochs[0] != list(range(40)) and epochs[0] != epochs[1] != epochs[2]


def test_shuffling_is_repeatable_with_a_seed():
    orders = []
    for _ in range(2):
        set_random_seed(7)
        model, recorder = recorded_model()
        model.fit(ids(30), np.zeros(30), batch_size=4, epochs=2, verbose=0)
        orders.append(recorder.batches(training=True))
    assert orders[0] == orders[1]


def test_validation_split_takes_the_last_samples_before_shuffling(capsys):
    model, recorder = recorded_model()
    x = ids(50)
    y = np.where(np.arange(50) < 40, 0.0, 100.0)          # the last 10 targets stand out
    history = model.fit(x, y, validation_split=0.2, batch_size=8, epochs=2, shuffle=True,
                        verbose=1)
    assert capsys.readouterr().out.startswith("Train on 40 samples, validate on 10 samples\n")
    trained = sum(recorder.batches(training=True), [])
    assert sorted(trained[:40]) == sorted(trained[40:]) == list(range(40))
    assert recorder.batches(training=False) == [list(range(40, 48)), [48, 49]] * 2  # in order
    # lr = 0: the losses are those of the fixed weights on each part
    kernel, bias = model.get_weights()
    p = (x @ kernel + bias)[:, 0]
    assert history.history["loss"][0] == pytest.approx(np.mean((p[:40] - y[:40]) ** 2), rel=1e-5)
    assert history.history["val_loss"][0] == pytest.approx(np.mean((p[40:] - y[40:]) ** 2),
                                                           rel=1e-5)


@pytest.mark.parametrize("fraction,train,val", [(0.1, 45, 5), (0.33, 33, 17), (0.5, 25, 25)])
def test_validation_split_sizes(fraction, train, val, capsys):
    model, _ = recorded_model()
    model.fit(ids(50), np.zeros(50), validation_split=fraction, verbose=2)
    assert capsys.readouterr().out.splitlines()[0] == \
        f"Train on {train} samples, validate on {val} samples"


def test_validation_data_is_evaluated_in_inference_mode_every_epoch():
    model, recorder = recorded_model()
    history = model.fit(ids(6), np.zeros(6), validation_data=(ids(3) + 100, np.ones(3)),
                        epochs=2, verbose=0)
    assert recorder.batches(training=False) == [[100, 101, 102]] * 2
    assert len(history.history["val_loss"]) == 2


def test_initial_epoch_labels_and_history(capsys):
    model, _ = recorded_model()
    history = model.fit(ids(4), np.zeros(4), epochs=5, initial_epoch=3, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("Epoch")] == ["Epoch 4/5", "Epoch 5/5"]
    assert history.epoch == [3, 4] and len(history.history["loss"]) == 2


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    """40 samples in batches of 32 and 8: the epoch loss is (32·L₁ + 8·L₂) / 40,
    not the plain mean of the two batch losses."""
    model, _ = recorded_model()
    x = ids(40)
    y = np.where(np.arange(40) < 32, 0.0, 50.0)
    history = model.fit(x, y, epochs=1, shuffle=False, verbose=0)       # batch_size 32
    kernel, bias = model.get_weights()
    errors = ((x @ kernel + bias)[:, 0].astype(np.float64) - y) ** 2
    first, last = errors[:32].mean(), errors[32:].mean()
    expected = (32 * first + 8 * last) / 40
    assert abs(expected - (first + last) / 2) > 0.1 * expected          # the test tells them apart
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-6)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-6)


def test_epoch_metric_is_the_mean_over_samples():
    model = Sequential([Dense(2, input_shape=(2,), activation="softmax")])
    model.set_weights([np.eye(2, dtype=np.float32) * 5, np.zeros(2, np.float32)])
    model.compile(SGD(learning_rate=0.0), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = np.eye(2, dtype=np.float32)[[0] * 32 + [1] * 8]                 # predictions: 0 ... 0, 1 ... 1
    y = np.array([0] * 32 + [0] * 8)                                     # first batch right, second wrong
    history = model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    assert history.history["accuracy"] == [pytest.approx(32 / 40)]       # not (1 + 0) / 2


def test_metrics_reset_every_epoch():
    model = Sequential([Dense(2, input_shape=(2,), activation="softmax")])
    model.set_weights([np.eye(2, dtype=np.float32) * 5, np.zeros(2, np.float32)])
    model.compile(SGD(learning_rate=0.0), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(np.eye(2), np.array([0, 0]), epochs=3, verbose=0)
    assert history.history["accuracy"] == [0.5, 0.5, 0.5]


# ---- evaluate and predict -------------------------------------------------------------------------


def test_evaluate_returns_a_scalar_without_metrics_and_a_list_with():
    model = Sequential([Dense(2, input_shape=(3,), activation="softmax")])
    x, y = np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2
    model.compile("sgd", "sparse_categorical_crossentropy")
    loss = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    model.compile("sgd", "sparse_categorical_crossentropy",
                  metrics=["accuracy", "sparse_categorical_crossentropy"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 3
    assert result[0] == pytest.approx(loss)
    p = model.predict(x).astype(np.float64)
    assert loss == pytest.approx(-np.log(p[np.arange(10), y]).mean(), rel=1e-5)
    assert result[1] == pytest.approx(np.mean(p.argmax(axis=1) == y))
    assert model.evaluate(x, y, verbose=0, return_dict=True) == \
        {"loss": result[0], "accuracy": result[1], "sparse_categorical_crossentropy": result[2]}
    assert result[2] == pytest.approx(loss)       # the loss as a metric (no regularisation here)


def test_evaluate_batches_do_not_change_the_result():
    model = Sequential([Dense(3, input_shape=(4,), activation="relu"), Dense(1)])
    model.compile("sgd", "mae")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(37, 4)), rng.normal(size=37)
    results = [model.evaluate(x, y, batch_size=b, verbose=0) for b in (1, 5, 32, 100)]
    assert results == pytest.approx([results[0]] * 4, rel=1e-6)


def test_predict_output_float32_and_default_batches_of_32():
    model, recorder = recorded_model(features=3, units=4)
    out = model.predict(ids(70, 3))
    assert out.dtype == np.float32 and out.shape == (70, 4)
    assert [len(b) for b in recorder.batches(training=False)] == [32, 32, 6]
    recorder.seen.clear()
    model.predict(ids(70, 3), batch_size=10)
    assert [len(b) for b in recorder.batches(training=False)] == [10] * 7
    assert recorder.batches(training=True) == []


def test_predict_on_float64_and_integer_input():
    model = Sequential([Dense(2, input_shape=(2,))])
    a = model.predict(np.array([[1, 2], [3, 4]]))
    b = model.predict(np.array([[1.0, 2.0], [3.0, 4.0]], np.float64))
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_predict_on_nothing():
    model = Sequential([Dense(2, input_shape=(3,))])
    assert model.predict(np.zeros((0, 3))).shape == (0, 2)


def test_one_dimensional_x_with_input_shape_1():
    model = Sequential([Dense(4, input_shape=(1,), activation="relu"), Dense(1)])
    model.compile("sgd", "mse")
    x = np.linspace(0, 1, 12)
    history = model.fit(x, 2 * x, epochs=2, batch_size=4, verbose=0)
    assert len(history.history["loss"]) == 2
    assert isinstance(model.evaluate(x, 2 * x, verbose=0), float)
    np.testing.assert_array_equal(model.predict(x), model.predict(x[:, None]))


def test_python_lists_for_x_and_y():
    model = Sequential([Dense(2, input_shape=(2,), activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = [[150, 67], [130, 60], [200, 65]], [1, 1, 0]
    model.fit(x, y, epochs=1, verbose=0)
    assert len(model.evaluate(x, y, verbose=0)) == 2
    assert model.predict(x).shape == (3, 2)


# ---- errors ---------------------------------------------------------------------------------------


@pytest.fixture
def model():
    model = Sequential([Dense(4, input_shape=(3,), name="first"), Dense(2)])
    model.compile("sgd", "mse")
    return model


def test_x_and_y_of_different_lengths(model):
    with pytest.raises(ValueError, match="x has 10 samples but y has 9"):
        model.fit(np.zeros((10, 3)), np.zeros((9, 2)), verbose=0)
    with pytest.raises(ValueError, match="10.*9"):
        model.evaluate(np.zeros((10, 3)), np.zeros((9, 2)), verbose=0)
    with pytest.raises(ValueError, match="4.*3"):
        model.fit(np.zeros((10, 3)), np.zeros((10, 2)),
                  validation_data=(np.zeros((4, 3)), np.zeros((3, 2))), verbose=0)


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_wrong_input_shape_names_the_first_layer_and_both_shapes(model, call):
    x = np.zeros((10, 5))
    args = (x,) if call == "predict" else (x, np.zeros((10, 2)))
    with pytest.raises(ValueError) as info:
        getattr(model, call)(*args, verbose=0)
    message = str(info.value)
    assert "'first'" in message and "(10, 5)" in message and "3" in message
    assert "(samples, 3)" in message


def test_wrong_validation_input_shape(model):
    with pytest.raises(ValueError, match="first"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)),
                  validation_data=(np.zeros((2, 4)), np.zeros((2, 2))), verbose=0)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "32"])
@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_bad_batch_size(model, call, batch_size):
    x = np.zeros((4, 3))
    args = (x,) if call == "predict" else (x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        getattr(model, call)(*args, batch_size=batch_size, verbose=0)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_validation_split_outside_0_1(model, fraction):
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(np.zeros((10, 3)), np.zeros((10, 2)), validation_split=fraction, verbose=0)


def test_validation_split_leaving_an_empty_part(model):
    with pytest.raises(ValueError, match="empty"):        # int(1 · 0.5) = 0 training samples
        model.fit(np.zeros((1, 3)), np.zeros((1, 2)), validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match="empty"):        # 1 − 1e-17 == 1.0: no validation
        model.fit(np.zeros((3, 3)), np.zeros((3, 2)), validation_split=1e-17, verbose=0)


def test_non_numeric_and_ragged_input(model):
    with pytest.raises(ValueError):
        model.fit([["a", "b", "c"]], [[0, 0]], verbose=0)
    with pytest.raises(ValueError, match="rectangular"):
        model.predict([[1, 2, 3], [1, 2]])


def test_fit_and_evaluate_without_labels_say_that_y_is_missing(model):
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="y is missing"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match="y is missing"):
        model.evaluate(x, verbose=0)


def test_empty_training_set(model):
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 3)), np.zeros((0, 2)), verbose=0)


# ---- console output (§2) ----------------------------------------------------------------------------


def small_model():
    model = Sequential([Dense(2, input_shape=(1,), activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_verbose_1_off_a_terminal_prints_one_final_line_per_epoch(capsys):
    small_model().fit(np.linspace(0, 1, 40), np.arange(40) % 2, epochs=2, batch_size=4,
                      verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out and "ETA" not in out
    lines = out.splitlines()
    assert lines[0] == "Train on 40 samples"
    assert lines[1] == "Epoch 1/2" and lines[3] == "Epoch 2/2" and len(lines) == 5
    pattern = re.compile(rf"^40/40 \[={{30}}\] - \d+s \d+(?:us|ms|s)/sample - loss: {NUMBER}"
                         rf" - accuracy: {NUMBER}$")
    assert pattern.match(lines[2]) and pattern.match(lines[4]), lines


def test_verbose_2_prints_one_short_line_per_epoch(capsys):
    small_model().fit(np.linspace(0, 1, 40), np.arange(40) % 2, epochs=2, verbose=2,
                      validation_split=0.1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Train on 36 samples, validate on 4 samples"
    pattern = re.compile(rf"^36/36 - \d+s - loss: {NUMBER} - accuracy: {NUMBER} - val_loss: "
                         rf"{NUMBER} - val_accuracy: {NUMBER}$")
    assert lines[1] == "Epoch 1/2" and pattern.match(lines[2]), lines
    assert lines[3] == "Epoch 2/2" and pattern.match(lines[4]), lines


def test_one_epoch_has_no_epoch_header(capsys):
    small_model().fit(np.zeros(5), np.zeros(5), epochs=1, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Train on 5 samples" and len(lines) == 2
    assert lines[1].startswith("5/5 - ")


def test_verbose_0_prints_nothing(capsys):
    model = small_model()
    model.fit(np.zeros(5), np.zeros(5), epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(np.zeros(5), np.zeros(5), verbose=0)
    model.predict(np.zeros(5))
    model.predict(np.zeros(5), verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_prints_by_default(capsys):
    small_model().evaluate(np.zeros(7), np.zeros(7))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert re.match(rf"^7/7 \[={{30}}\] - \d+s \d+(?:us|ms|s)/sample - loss: {NUMBER}"
                    rf" - accuracy: {NUMBER}$", lines[0]), lines


def test_fit_prints_by_default(capsys):
    small_model().fit(np.zeros(3), np.zeros(3))
    assert capsys.readouterr().out.startswith("Train on 3 samples\n3/3 [")


def test_numbers_are_4_decimals_or_scientific_when_tiny():
    assert format_logs({"loss": 0.71564, "accuracy": 0.3}) == " - loss: 0.7156 - accuracy: 0.3000"
    assert format_logs({"loss": 12.5}) == " - loss: 12.5000"
    assert format_logs({"loss": 0.0}) == " - loss: 0.0000e+00"
    assert format_logs({"loss": 0.0005}) == " - loss: 5.0000e-04"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_is_redrawn_in_place():
    stream = Terminal()
    progress = Progress(40, verbose=1, stream=stream)
    progress.update(10, {"loss": 0.5})
    progress.update(30, {"loss": 0.25})
    progress.update(40, {"loss": 0.2})          # the end: only finish draws it
    progress.finish({"loss": 0.2})
    parts = stream.getvalue().split("\r")[1:]
    assert parts[0] == "10/40 [======>.......................] - ETA: 0s - loss: 0.5000"
    assert parts[1] == "30/40 [" + "=" * 21 + ">" + "." * 8 + "] - ETA: 0s - loss: 0.2500"
    assert re.match(r"^40/40 \[={30}\] - 0s \d+us/sample - loss: 0.2000\n$", parts[2])
    assert len(parts) == 3


def test_progress_bar_width_is_right_aligned():
    stream = Terminal()
    Progress(1000, verbose=1, stream=stream).update(5, {})
    assert stream.getvalue().startswith("\r   5/1000 [")


# ---- Dropout and BatchNormalization: training vs inference ----------------------------------------


def test_dropout_is_active_in_fit_only():
    recorder = Recorder()
    model = Sequential([Dense(50, input_shape=(4,), activation="relu",
                              kernel_initializer="ones", bias_initializer="ones"),
                        Dropout(0.5), recorder, Dense(1)])
    model.compile(SGD(learning_rate=0.0), "mse")
    x = np.abs(np.random.default_rng(0).normal(size=(64, 4)))
    model.fit(x, np.zeros(64), epochs=1, batch_size=64, shuffle=False, verbose=0)
    (mode, seen), = recorder.seen
    assert mode is True
    dense = x.sum(axis=1, keepdims=True) + 1
    kept = seen != 0
    assert 0.35 < kept.mean() < 0.65
    np.testing.assert_allclose(seen[kept], np.broadcast_to(2 * dense, seen.shape)[kept], rtol=1e-5)

    first, second = model.predict(x), model.predict(x)
    np.testing.assert_array_equal(first, second)
    no_dropout = Sequential([Dense(50, input_shape=(4,), activation="relu"), Dense(1)])
    no_dropout.set_weights(model.get_weights())
    np.testing.assert_allclose(first, no_dropout.predict(x), rtol=1e-6)
    no_dropout.compile("sgd", "mse")
    assert model.evaluate(x, np.zeros(64), verbose=0) == \
        pytest.approx(no_dropout.evaluate(x, np.zeros(64), verbose=0))


def test_batch_normalization_batch_stats_in_fit_moving_stats_in_predict():
    model = Sequential([BatchNormalization(input_shape=(3,), momentum=0.9)])
    model.compile(SGD(learning_rate=0.0), "mse")           # gamma, beta stay 1 and 0
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[1.0, -2.0, 5.0], scale=[1.0, 3.0, 0.5], size=(50, 3)).astype(np.float32)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=0), x64.var(axis=0)          # biased variance

    history = model.fit(x, np.zeros((50, 3)), batch_size=50, epochs=1, verbose=0)
    # the training loss is that of the output normalised with the batch's own statistics
    normalised = (x64 - mean) / np.sqrt(var + 1e-3)
    assert history.history["loss"][0] == pytest.approx(np.mean(normalised ** 2), rel=1e-5)

    gamma, beta, moving_mean, moving_var = model.get_weights()
    np.testing.assert_allclose(moving_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(moving_var, 0.9 + 0.1 * var, rtol=1e-5)
    # inference uses the moving statistics
    expected = (x64 - moving_mean) / np.sqrt(moving_var.astype(np.float64) + 1e-3)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
    assert model.evaluate(x, np.zeros((50, 3)), verbose=0) == \
        pytest.approx(np.mean(expected ** 2), rel=1e-5)
    # predict and evaluate did not move the statistics
    np.testing.assert_array_equal(model.get_weights()[2], moving_mean)


def test_frozen_batch_normalization_stays_in_inference_mode():
    model = Sequential([BatchNormalization(input_shape=(2,)), Dense(1)])
    model.layers[0].trainable = False
    model.compile(SGD(learning_rate=0.1), "mse")
    before = model.layers[0].get_weights()
    x = np.random.default_rng(0).normal(loc=3.0, size=(20, 2))
    model.fit(x, np.ones(20), epochs=2, verbose=0)
    for after, was in zip(model.layers[0].get_weights(), before):
        np.testing.assert_array_equal(after, was)


# ---- callbacks ---------------------------------------------------------------------------------------


def test_early_stopping_stops_when_val_loss_stops_improving():
    model, _ = recorded_model()                             # lr 0: val_loss never improves
    stop = EarlyStopping(monitor="val_loss", patience=2)
    history = model.fit(ids(20), np.zeros(20), epochs=50, validation_split=0.2, verbose=0,
                        callbacks=[stop])
    assert history.epoch == [0, 1, 2]
    assert stop.stopped_epoch == 2


def test_early_stopping_restores_best_weights():
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile(SGD(learning_rate=0.5), "mse")
    x = np.linspace(-1, 1, 20)
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append((logs["loss"], self.model.get_weights()))

    stop = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    model.fit(x, 3 * x, epochs=30, batch_size=20, verbose=0, callbacks=[Snapshot(), stop])
    best = min(snapshots, key=lambda s: s[0])[1]
    for got, want in zip(model.get_weights(), best):
        np.testing.assert_array_equal(got, want)


def test_terminate_on_nan_stops_a_diverging_model(capsys):
    model = Sequential([Dense(8, input_shape=(4,)), Dense(1)])
    model.compile(SGD(learning_rate=1e6), "mse")
    x = np.random.default_rng(0).normal(size=(64, 4)) * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # the overflow is the point
        history = model.fit(x, x[:, :1] * 1000, epochs=20, batch_size=8, verbose=0,
                            callbacks=[TerminateOnNaN()])
    assert history.epoch == [0]
    assert not np.isfinite(history.history["loss"][0])
    assert "Invalid loss, terminating training" in capsys.readouterr().out


def test_callback_hooks_order_and_stop_training_mid_epoch():
    events = []

    class Spy(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"batch {batch}")
            if batch == 1:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    model, recorder = recorded_model()
    history = model.fit(ids(10), np.zeros(10), batch_size=2, epochs=5, verbose=0,
                        callbacks=[Spy()])
    assert events == ["train_begin", "epoch_begin 0", "batch 0", "batch 1",
                      "epoch_end 0 ['loss']", "train_end"]
    assert history.epoch == [0] and len(recorder.batches(training=True)) == 2
    # the next fit starts afresh
    assert len(model.fit(ids(4), np.zeros(4), epochs=2, verbose=0).epoch) == 2


def test_callbacks_see_params_and_the_learning_rate_change_takes_effect():
    model = Sequential([Dense(1, input_shape=(1,), kernel_initializer="zeros")])
    model.compile(SGD(learning_rate=0.0), "mse")

    class Warmup(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            assert self.params["epochs"] == 2 and self.params["batch_size"] == 4
            self.model.optimizer.lr = 0.1 * epoch

    history = model.fit(np.ones(4), np.ones(4), batch_size=4, epochs=2, verbose=0,
                        callbacks=[Warmup()])
    # epoch 0 with lr 0: nothing moved; epoch 1 with lr 0.1: one step, grad of mse = -2
    assert history.history["loss"] == [1.0, 1.0]
    np.testing.assert_allclose(model.get_weights()[0], [[0.2]], rtol=1e-6)


# ---- sample and class weights (§3) --------------------------------------------------------------------


def unit_error_model():
    """Predicts 0 for everything: with y = 1 every per-sample mse is exactly 1."""
    model = Sequential([Dense(1, input_shape=(1,), kernel_initializer="zeros")])
    model.compile(SGD(learning_rate=0.0), "mse")
    return model


def test_sample_weight_reduction_divides_by_the_number_of_samples():
    weights = np.array([0] * 5 + [3] * 5, float)
    model = unit_error_model()
    assert model.evaluate(ids(10), np.ones(10), sample_weight=weights, verbose=0) == 1.5
    history = model.fit(ids(10), np.ones(10), sample_weight=weights, epochs=1, verbose=0)
    assert history.history["loss"] == [1.5]


def test_validation_data_with_sample_weights():
    """validation_data=(x, y, sw) weights the validation loss (was ignored)."""
    history = unit_error_model().fit(ids(5), np.ones(5), epochs=1, verbose=0,
                                     validation_data=(ids(5), np.ones(5), np.full(5, 3.0)))
    assert history.history["val_loss"] == [3.0]
    history = unit_error_model().fit(ids(5), np.ones(5), epochs=1, verbose=0,
                                     validation_data=[ids(5), np.ones(5), None])
    assert history.history["val_loss"] == [1.0]


def test_validation_split_keeps_the_sample_weights_of_the_validation_part():
    """The split also splits sample_weight (the validation weights were dropped)."""
    weights = np.array([0] * 5 + [3] * 5, float)
    history = unit_error_model().fit(ids(10), np.ones(10), sample_weight=weights,
                                     validation_split=0.5, epochs=1, shuffle=False, verbose=0)
    assert history.history == {"loss": [0.0], "val_loss": [3.0]}


def test_class_weight_applies_to_training_only():
    y = np.array([0, 1] * 5, float)
    model = Sequential([Dense(1, input_shape=(1,), kernel_initializer="zeros",
                              bias_initializer="ones")])               # predicts 1
    model.compile(SGD(learning_rate=0.0), "mse")
    history = model.fit(ids(10), y, class_weight={0: 4.0, 1: 0.5}, validation_split=0.4,
                        epochs=1, shuffle=False, verbose=0)
    # training: the three class-0 samples err by 1, weighted 4: 12 / 6
    assert history.history["loss"] == [pytest.approx(2.0)]
    # validation: the two class-0 samples err by 1, unweighted: 2 / 4
    assert history.history["val_loss"] == [pytest.approx(0.5)]


def test_class_weight_with_one_hot_labels_uses_the_argmax():
    model = Sequential([Dense(2, input_shape=(1,), kernel_initializer="zeros")])   # predicts 0, 0
    model.compile(SGD(learning_rate=0.0), "mse")
    y = np.eye(2)[[0, 1, 1, 1]]                             # every sample: per-sample mse 0.5
    history = model.fit(ids(4), y, class_weight={0: 2.0, 1: 0.0}, epochs=1, verbose=0)
    assert history.history["loss"] == [pytest.approx(2.0 * 0.5 / 4)]


@pytest.mark.parametrize("validation_data", [
    "tuple of one", "array", "tuple of four",
])
def test_malformed_validation_data_raises_value_error(model, validation_data):
    x, y = np.zeros((4, 3)), np.zeros((4, 2))
    value = {"tuple of one": (x,), "array": x, "tuple of four": (x, y, np.ones(4), 1)}
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(x, y, validation_data=value[validation_data], verbose=0)


def test_sample_weight_of_the_wrong_length_raises_value_error(model):
    x, y = np.zeros((10, 3)), np.zeros((10, 2))
    with pytest.raises(ValueError, match="sample_weight has 7"):
        model.fit(x, y, sample_weight=np.ones(7), verbose=0)
    with pytest.raises(ValueError, match="sample_weight has 7"):
        model.evaluate(x, y, sample_weight=np.ones(7), verbose=0)
    with pytest.raises(ValueError, match="validation sample_weight has 2"):
        model.fit(x, y, validation_data=(x[:4], y[:4], np.ones(2)), verbose=0)


@pytest.mark.parametrize("labels, bad", [([0, 1, 2, 5], "5"), ([0, 1, 2, -1], "-1"),
                                         ([0, 1.5, 2, 1], "1.5")])
def test_sparse_labels_out_of_range_name_the_loss_and_the_range(labels, bad):
    model = Sequential([Dense(3, input_shape=(2,), activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    with pytest.raises(ValueError, match=rf"sparse_categorical_crossentropy: labels must be "
                                         rf"integers in 0\.\.2 .*got {bad}$"):
        model.fit(np.zeros((4, 2)), np.array(labels), verbose=0)


def test_evaluate_on_empty_data_is_refused():
    model = Sequential([Dense(3, input_shape=(2,), activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="empty"):
        model.evaluate(np.zeros((0, 2)), np.zeros(0), verbose=0)


def test_fit_hands_every_setting_on_by_keyword():
    """Sequential.fit passes its twelve settings to the training loop by
    name: the loop takes them keyword-only, all of them and no others."""
    model, *settings = inspect.signature(training.fit).parameters.values()
    assert model.name == "model"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in settings), settings
    given = set(inspect.signature(Sequential.fit).parameters) - {"self"}
    assert {p.name for p in settings} == given and len(given) == 12
