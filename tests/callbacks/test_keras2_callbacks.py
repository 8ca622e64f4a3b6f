"""tf.keras 2's callbacks surface on real fit runs: the "lr" key in History,
on_batch_begin/on_batch_end, LambdaCallback, CSVLogger, ModelCheckpoint(period=)
and the callbacks fastnn declines with advice (TensorBoard, ...).

References: tf.keras 2.x's documented behaviour, quoted in each docstring.
"""
import csv

import numpy as np
import pytest

from fastnn.callbacks import (Callback, CSVLogger, LambdaCallback, LearningRateScheduler,
                              ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau, RemoteMonitor,
                              TensorBoard)
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.optimizers import SGD

pytestmark = pytest.mark.usefixtures("fresh_session")
RNG = np.random.default_rng(5)
X = RNG.normal(size=(20, 3))
Y = (X[:, 0] > 0).astype(np.float32)


def classifier(learning_rate=0.1):
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)),
                        Dense(1, activation="sigmoid")])
    model.compile(SGD(learning_rate), "binary_crossentropy", metrics=["accuracy"])
    return model


# ---- the learning rate in History ------------------------------------------------------------

def test_learning_rate_scheduler_logs_lr_as_tf_keras_2_did():
    """tf.keras 2.x LearningRateScheduler.on_epoch_end: logs['lr'] =
    K.get_value(model.optimizer.lr), so history.history['lr'] holds the rate
    of each epoch; Keras 3's 'learning_rate' is kept beside it."""
    history = classifier().fit(X, Y, epochs=3, verbose=0, callbacks=[
        LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** epoch)])
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.025], rel=1e-15)
    assert history.history["learning_rate"] == history.history["lr"]


def test_reduce_lr_on_plateau_logs_lr_before_reducing():
    """tf.keras 2.x ReduceLROnPlateau.on_epoch_end writes logs['lr'] first,
    then reduces: the epoch that triggers a reduction still logs the old
    rate.  A rate of 1e-9 keeps the loss flat (no improvement above
    min_delta), so with patience 1 epochs 2, 3, 4 each reduce."""
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    history = classifier(1e-9).fit(X, Y, epochs=4, verbose=0, callbacks=[plateau])
    assert history.history["lr"] == pytest.approx([1e-9, 1e-9, 5e-10, 2.5e-10], rel=1e-12)
    assert history.history["learning_rate"] == history.history["lr"]


# ---- on_batch_begin / on_batch_end -------------------------------------------------------------

def test_on_batch_hooks_are_called_during_training():
    """tf.keras 2.x: Callback.on_train_batch_begin/end call on_batch_begin/end
    by default, so a callback that overrides the older names sees every
    training batch."""
    class Batches(Callback):
        def __init__(self):
            super().__init__()
            self.begun, self.ended = [], []

        def on_batch_begin(self, batch, logs=None):
            self.begun.append(batch)

        def on_batch_end(self, batch, logs=None):
            self.ended.append((batch, sorted(logs)))

    seen = Batches()
    classifier().fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[seen])
    assert seen.begun == [0, 1, 2, 0, 1, 2]
    assert seen.ended == [(b, ["accuracy", "loss"]) for b in (0, 1, 2, 0, 1, 2)]


# ---- LambdaCallback -----------------------------------------------------------------------------

def test_lambda_callback_runs_the_given_functions():
    """tf.keras 2.x LambdaCallback(on_epoch_begin(epoch, logs), on_epoch_end,
    on_batch_begin(batch, logs), on_batch_end, on_train_begin(logs),
    on_train_end(logs)); other hooks by keyword."""
    events = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch)),
        on_batch_end=lambda batch, logs: events.append(("batch_end", batch)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, "loss" in logs)),
        on_train_end=lambda logs: events.append("train_end"),
        on_train_batch_begin=lambda batch, logs: events.append(("train_batch_begin", batch)))
    classifier().fit(X, Y, batch_size=10, epochs=2, verbose=0, callbacks=[callback])
    per_epoch = [("train_batch_begin", 0), ("batch_end", 0), ("train_batch_begin", 1),
                 ("batch_end", 1)]
    assert events == (["train_begin", ("epoch_begin", 0)] + per_epoch + [("epoch_end", 0, True),
                      ("epoch_begin", 1)] + per_epoch + [("epoch_end", 1, True), "train_end"])


@pytest.mark.parametrize("kwargs, message", [
    ({"on_epoch_stop": print}, "not a callback hook"),
    ({"on_epoch_end": 3}, "must be a function"),
])
def test_lambda_callback_refuses_what_is_no_hook(kwargs, message):
    with pytest.raises(TypeError, match=message):
        LambdaCallback(**kwargs)


# ---- CSVLogger ----------------------------------------------------------------------------------

def read_rows(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    """tf.keras 2.x CSVLogger: columns 'epoch' (from 0) then the log keys
    sorted alphabetically; one row per epoch; append=True continues the file
    without a second header."""
    path = tmp_path / "log.csv"
    model = classifier()
    history = model.fit(X, Y, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[CSVLogger(path)])
    rows = read_rows(path)
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert rows[0] == ["epoch"] + keys
    assert [int(row[0]) for row in rows[1:]] == [0, 1, 2]
    for i, key in enumerate(keys, start=1):
        assert [float(row[i]) for row in rows[1:]] == history.history[key]
    model.fit(X, Y, epochs=2, validation_split=0.25, verbose=0,
              callbacks=[CSVLogger(path, append=True)])
    rows = read_rows(path)
    assert len(rows) == 1 + 3 + 2 and [row[0] for row in rows[4:]] == ["0", "1"]


def test_csv_logger_separator_and_a_fresh_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old content\n")
    classifier().fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    rows = read_rows(path, ";")
    assert rows[0] == ["epoch", "accuracy", "loss"] and len(rows) == 2


# ---- ModelCheckpoint(period=) -------------------------------------------------------------------

def test_model_checkpoint_period_saves_every_nth_epoch(tmp_path):
    """tf.keras 2.0's ModelCheckpoint(period=N): saves after epochs N, 2N, ...
    (1-based in the file name)."""
    checkpoint = ModelCheckpoint(str(tmp_path / "w{epoch}.fnn"), save_weights_only=True,
                                 period=2)
    classifier().fit(X, Y, epochs=5, verbose=0, callbacks=[checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w2.fnn", "w4.fnn"]
    with pytest.raises(ValueError, match="period must be a positive"):
        ModelCheckpoint("x.fnn", period=0)


# ---- callbacks fastnn declines ------------------------------------------------------------------

@pytest.mark.parametrize("make, advice", [
    (lambda: TensorBoard(log_dir="logs"), ["History", "fastnn.plot.history", "CSVLogger"]),
    (lambda: ProgbarLogger(), ["verbose=1", "verbose=2"]),
    (lambda: RemoteMonitor(root="http://localhost:9000"), ["CSVLogger", "LambdaCallback"]),
])
def test_declined_callbacks_import_and_say_what_to_use(make, advice):
    with pytest.raises(NotImplementedError) as error:
        make()
    assert all(words in str(error.value) for words in advice)
