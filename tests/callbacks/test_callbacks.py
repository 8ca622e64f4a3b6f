"""Callbacks driven by a scripted training loop over a fake model.

``train`` below calls the hooks in the order ``model.fit`` does, with epoch
logs given by the test; the fake model's weights are ``[epoch]`` after each
epoch, so restored weights show which epoch they came from.
"""
import math
import warnings

import numpy as np
import pytest

from fastnn.callbacks import (Callback, CallbackList, EarlyStopping, History,
                              LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
                              TerminateOnNaN)
from fastnn.optimizers import SGD


class FakeOptimizer:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate


class FakeModel:
    def __init__(self, learning_rate=0.01):
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.weights = [np.zeros(2)]
        self.saved = []                 # ("model" | "weights", path) per save
        self.history = None

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, path):
        self.saved.append(("model", path))

    def save_weights(self, path):
        self.saved.append(("weights", path))


def train(callbacks, epoch_logs, model=None, batch_logs=()):
    """Run the hooks like fit does; returns (model, epoch logs as the callbacks left them)."""
    model = model or FakeModel()
    callback_list = CallbackList(callbacks, model=model, params={"epochs": len(epoch_logs)})
    model.stop_training = False
    callback_list.on_train_begin()
    seen = []
    for epoch, logs in enumerate(epoch_logs):
        callback_list.on_epoch_begin(epoch)
        for batch, batch_log in enumerate(batch_logs):
            callback_list.on_train_batch_begin(batch)
            callback_list.on_train_batch_end(batch, dict(batch_log))
            if model.stop_training:
                break
        model.weights = [np.full(2, float(epoch))]
        logs = dict(logs)
        callback_list.on_epoch_end(epoch, logs)
        seen.append(logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return model, seen


def val_losses(*values):
    return [{"loss": 1.0, "val_loss": v} for v in values]


# ---- CallbackList and History ---------------------------------------------------------------

HOOKS = [("on_train_begin",), ("on_epoch_begin", 0), ("on_train_batch_begin", 0),
         ("on_train_batch_end", 0), ("on_epoch_end", 0), ("on_train_end",),
         ("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
         ("on_test_end",), ("on_predict_begin",), ("on_predict_batch_begin", 0),
         ("on_predict_batch_end", 0), ("on_predict_end",)]


class Recorder(Callback):
    """Appends (name, hook, *args) for every ``on_*`` hook called on it."""

    def __init__(self, name, calls):
        super().__init__()
        self.name, self.calls = name, calls

    def __getattribute__(self, attribute):
        if attribute.startswith("on_"):
            return lambda *args: self.calls.append((self.name, attribute) + args)
        return super().__getattribute__(attribute)


def test_callback_list_forwards_every_hook_to_each_callback_in_order():
    calls = []
    model, params = FakeModel(), {"epochs": 1}
    first, second = Recorder("a", calls), Recorder("b", calls)
    callback_list = CallbackList([first, second], model=model, params=params)
    assert first.model is model and second.params is params
    for hook, *args in HOOKS:
        getattr(callback_list, hook)(*args)
    expected = []
    for hook, *args in HOOKS:
        expected += [("a", hook, *args, {}), ("b", hook, *args, {})]
    assert calls == expected


def test_callbacks_share_one_logs_dict_and_history_hears_it_last():
    class AddKey(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["extra"] = 2.0

    history = History()
    train([history, AddKey()], [{"loss": 0.5}])
    assert history.history == {"loss": [0.5], "extra": [2.0]}


def test_base_callback_hooks_do_nothing():
    callback = Callback()
    for hook, *args in HOOKS:
        assert getattr(callback, hook)(*args) is None


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match="Callback"):
        CallbackList([lambda epoch: None])


def test_history_records_floats_per_key_per_epoch():
    history = History()
    logs = [{"loss": np.float32(0.75), "accuracy": 0.5, "val_loss": 0.8, "val_accuracy": 0.25},
            {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.5}]
    model, _ = train([history], logs)
    assert model.history is history
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [0.75, 0.5], "accuracy": [0.5, 0.75],
                               "val_loss": [0.8, 0.6], "val_accuracy": [0.25, 0.5]}
    assert all(type(v) is float for values in history.history.values() for v in values)
    train([history], logs[:1])                 # a new run starts a new record
    assert history.epoch == [0] and history.history["loss"] == [0.75]


# ---- EarlyStopping ----------------------------------------------------------------------------

@pytest.mark.parametrize("patience, stopped", [(0, 2), (1, 2), (2, 3), (3, 4), (5, None)])
def test_early_stopping_waits_patience_epochs_without_improvement(patience, stopped):
    """As in Keras, patience 0 and 1 both stop at the first epoch without improvement."""
    stop = EarlyStopping(patience=patience)
    model, seen = train([stop], val_losses(1.0, 0.9, 0.95, 0.92, 0.91, 0.97))
    if stopped is None:
        assert len(seen) == 6 and not model.stop_training and stop.stopped_epoch == 0
    else:
        assert len(seen) == stopped + 1 and model.stop_training
        assert stop.stopped_epoch == stopped
    assert stop.best == 0.9 and stop.best_epoch == 1


def test_early_stopping_improvement_resets_the_wait():
    stop = EarlyStopping(patience=2)
    _, seen = train([stop], val_losses(1.0, 1.1, 0.9, 1.2, 0.8, 1.3, 1.4, 0.1))
    assert len(seen) == 7 and stop.stopped_epoch == 6


def test_early_stopping_min_delta_ignores_small_gains():
    losses = val_losses(1.0, 0.995, 0.99, 0.985)
    stop = EarlyStopping(patience=1, min_delta=0.01)
    _, seen = train([stop], losses)
    assert len(seen) == 2 and stop.best == 1.0
    _, seen = train([EarlyStopping(patience=1)], losses)
    assert len(seen) == 4


@pytest.mark.parametrize("monitor, mode, values, stopped", [
    ("val_accuracy", "auto", [0.5, 0.6, 0.55], 2),           # "acc" -> higher is better
    ("val_acc", "auto", [0.5, 0.6, 0.55], 2),
    ("val_loss", "auto", [0.5, 0.6, 0.55], 1),
    ("val_score", "max", [0.5, 0.6, 0.55], 2),
    ("val_accuracy", "min", [0.5, 0.6, 0.55], 1)])
def test_early_stopping_mode(monitor, mode, values, stopped):
    stop = EarlyStopping(monitor=monitor, mode=mode)
    _, seen = train([stop], [{monitor: v} for v in values])
    assert stop.stopped_epoch == stopped and len(seen) == stopped + 1


def test_early_stopping_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="maximum")


def test_early_stopping_baseline_must_be_beaten_within_patience():
    stop = EarlyStopping(patience=2, baseline=0.5)
    _, seen = train([stop], val_losses(0.9, 0.8, 0.7, 0.4, 0.3))
    assert len(seen) == 2 and stop.stopped_epoch == 1         # improving, but above 0.5
    stop = EarlyStopping(patience=2, baseline=0.5)
    _, seen = train([stop], val_losses(0.9, 0.45, 0.44, 0.6, 0.7, 0.2))
    assert len(seen) == 5 and stop.stopped_epoch == 4


def test_early_stopping_restores_the_best_weights(capsys):
    stop = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    model, seen = train([stop], val_losses(1.0, 0.5, 0.7, 0.8, 0.1))
    assert len(seen) == 4
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])   # weights after epoch 1
    out = capsys.readouterr().out
    assert "Epoch 00004: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_early_stopping_keeps_the_last_weights_by_default(capsys):
    model, _ = train([EarlyStopping(patience=2)], val_losses(1.0, 0.5, 0.7, 0.8))
    np.testing.assert_array_equal(model.weights[0], [3.0, 3.0])
    assert capsys.readouterr().out == ""                          # verbose=0


def test_early_stopping_start_from_epoch_skips_the_warm_up():
    losses = val_losses(0.1, 1.0, 0.9, 0.95, 0.96)
    stop = EarlyStopping(patience=1, start_from_epoch=1)
    _, seen = train([stop], losses)
    assert stop.stopped_epoch == 3 and stop.best == 0.9
    _, seen = train([EarlyStopping(patience=1)], losses)
    assert len(seen) == 2


def test_early_stopping_warns_about_a_missing_key_and_continues():
    stop = EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match=r"'val_loss'.*Available metrics are: loss, accuracy"):
        model, seen = train([stop], [{"loss": 1.0, "accuracy": 0.5}] * 3)
    assert len(seen) == 3 and not model.stop_training


def test_early_stopping_can_be_reused():
    stop = EarlyStopping(patience=0)
    train([stop], val_losses(1.0, 2.0))
    assert stop.stopped_epoch == 1
    _, seen = train([stop], val_losses(5.0, 4.0, 3.0))
    assert len(seen) == 3 and stop.stopped_epoch == 0 and stop.best == 3.0


# ---- ModelCheckpoint ----------------------------------------------------------------------------

def test_checkpoint_names_files_from_epoch_and_logs(tmp_path):
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{val_loss:.2f}.npz")
    model, _ = train([ModelCheckpoint(pattern)], val_losses(0.5, 0.6, 0.4321))
    assert model.saved == [("model", str(tmp_path / "ckpt" / name))
                           for name in ("model-01-0.50.npz", "model-02-0.60.npz",
                                        "model-03-0.43.npz")]
    assert (tmp_path / "ckpt").is_dir()                          # missing folders are created


def test_checkpoint_save_weights_only(tmp_path):
    path = tmp_path / "w.npz"
    model, _ = train([ModelCheckpoint(path, save_weights_only=True)], val_losses(0.5, 0.4))
    assert model.saved == [("weights", str(path))] * 2


def test_checkpoint_save_best_only_saves_improvements(tmp_path, capsys):
    path = str(tmp_path / "best-{epoch}.npz")
    checkpoint = ModelCheckpoint(path, save_best_only=True, verbose=1)
    model, _ = train([checkpoint], val_losses(0.5, 0.6, 0.4, 0.4))
    assert [p for _, p in model.saved] == [path.format(epoch=1), path.format(epoch=3)]
    assert checkpoint.best == 0.4
    out = capsys.readouterr().out
    assert (f"Epoch 00001: val_loss improved from inf to 0.50000, saving model to "
            f"{path.format(epoch=1)}") in out
    assert "Epoch 00002: val_loss did not improve from 0.50000" in out


def test_checkpoint_save_best_only_with_accuracy_keeps_the_highest(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "m.npz", monitor="val_accuracy", save_best_only=True)
    model, _ = train([checkpoint], [{"val_accuracy": a} for a in (0.5, 0.4, 0.7, 0.7)])
    assert len(model.saved) == 2 and checkpoint.best == 0.7


def test_checkpoint_every_n_batches(tmp_path):
    pattern = str(tmp_path / "m-{epoch}-{batch}.npz")
    model, _ = train([ModelCheckpoint(pattern, save_freq=2)], val_losses(0.5, 0.4),
                     batch_logs=[{"loss": 1.0}] * 3)
    assert [p for _, p in model.saved] == [pattern.format(epoch=e, batch=b)
                                           for e, b in ((1, 2), (2, 1), (2, 3))]


def test_checkpoint_warns_when_the_monitored_key_is_missing(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "m.npz", save_best_only=True)
    with pytest.warns(UserWarning, match="Available metrics are: loss"):
        model, _ = train([checkpoint], [{"loss": 0.3}])
    assert model.saved == []


def test_checkpoint_unknown_filepath_field_names_it(tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "m-{val_acc:.2f}.npz"))
    with pytest.raises(KeyError, match="val_acc"):
        train([checkpoint], val_losses(0.5))


@pytest.mark.parametrize("save_freq", [0, "batch", 1.5, True])
def test_checkpoint_rejects_bad_save_freq(save_freq):
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.npz", save_freq=save_freq)


# ---- TerminateOnNaN -----------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_terminate_on_nan_stops_at_the_bad_batch(bad, capsys):
    batches = [{"loss": 0.5}, {"loss": bad}, {"loss": 0.4}]
    seen_batches = []

    class Count(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen_batches.append(batch)

    model, seen = train([TerminateOnNaN(), Count()], val_losses(0.5, 0.5), batch_logs=batches)
    assert model.stop_training and len(seen) == 1 and seen_batches == [0, 1]
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_ignores_finite_losses():
    model, seen = train([TerminateOnNaN()], val_losses(0.5, 0.5), batch_logs=[{"loss": 1e30}])
    assert not model.stop_training and len(seen) == 2


# ---- LearningRateScheduler ----------------------------------------------------------------------

def test_scheduler_sets_the_rate_before_each_epoch_and_logs_it():
    rates_during_epoch = []

    class Spy(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            rates_during_epoch.append(self.model.optimizer.learning_rate)

    history = History()
    scheduler = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    model, _ = train([history, scheduler, Spy()], val_losses(1, 1, 1), FakeModel(0.1))
    assert rates_during_epoch == [0.1, 0.05, 0.025]
    assert history.history["learning_rate"] == [0.1, 0.05, 0.025]
    assert model.optimizer.learning_rate == 0.025


def test_scheduler_accepts_a_function_of_the_epoch_only(capsys):
    model, _ = train([LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1), verbose=1)],
                     val_losses(1, 1), FakeModel(0.5))
    assert model.optimizer.learning_rate == 0.05
    out = capsys.readouterr().out
    assert "Epoch 00001: LearningRateScheduler reducing learning rate to 0.1." in out
    assert "Epoch 00002: LearningRateScheduler reducing learning rate to 0.05." in out


def test_scheduler_drives_a_real_optimizer():
    model = FakeModel()
    model.optimizer = SGD(lr=0.1)
    train([LearningRateScheduler(lambda epoch, lr: 0.1 * 0.1 ** epoch)], val_losses(1, 1, 1), model)
    assert model.optimizer.lr == pytest.approx(0.001)


def test_scheduler_rejects_non_numbers():
    with pytest.raises(ValueError, match="number"):
        train([LearningRateScheduler(lambda epoch, lr: "fast")], val_losses(1))
    with pytest.raises(TypeError):
        LearningRateScheduler(0.1)


# ---- ReduceLROnPlateau --------------------------------------------------------------------------

def logged_rates(seen):
    return [logs["learning_rate"] for logs in seen]


def test_plateau_reduces_after_patience_epochs():
    plateau = ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0)
    model, seen = train([plateau], val_losses(1, 1, 1, 1, 1, 0.5, 0.5), FakeModel(0.01))
    assert logged_rates(seen) == [0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]
    assert model.optimizer.learning_rate == 0.0025


def test_plateau_cooldown_pauses_the_count():
    plateau = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    model, seen = train([plateau], val_losses(*[1.0] * 7), FakeModel(1.0))
    assert logged_rates(seen) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    assert model.optimizer.learning_rate == 0.125


def test_plateau_never_goes_below_min_lr(capsys):
    plateau = ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.0005, verbose=1)
    model, _ = train([plateau], val_losses(*[1.0] * 5), FakeModel(0.01))
    assert model.optimizer.learning_rate == 0.0005
    out = capsys.readouterr().out
    assert out.count("ReduceLROnPlateau reducing learning rate") == 2
    assert "Epoch 00003: ReduceLROnPlateau reducing learning rate to 0.0005." in out


def test_plateau_min_delta_and_mode():
    losses = val_losses(1.0, 0.99995, 0.99993, 0.99991)
    model, _ = train([ReduceLROnPlateau(factor=0.5, patience=3)], losses, FakeModel(1.0))
    assert model.optimizer.learning_rate == 0.5                 # gains below 1e-4 do not count
    accuracies = [{"val_accuracy": a} for a in (0.5, 0.6, 0.7, 0.8)]
    model, _ = train([ReduceLROnPlateau(monitor="val_accuracy", patience=1)], accuracies,
                     FakeModel(1.0))
    assert model.optimizer.learning_rate == 1.0                 # rising accuracy improves


def test_plateau_rejects_factor_of_one_or_more():
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.0)


def test_plateau_warns_about_a_missing_key():
    with pytest.warns(UserWarning, match="val_loss"):
        model, _ = train([ReduceLROnPlateau(patience=0)], [{"loss": 1.0}] * 3, FakeModel(1.0))
    assert model.optimizer.learning_rate == 1.0


def test_callbacks_without_warnings_when_keys_are_present(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train([EarlyStopping(), ModelCheckpoint(tmp_path / "m.npz", save_best_only=True),
               ReduceLROnPlateau()], val_losses(1.0, 0.5))
