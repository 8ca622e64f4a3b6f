"""ModelCheckpoint: save the model (or its weights) during training."""
import os

from .base import Callback
from .monitored_value import MonitoredValue


class ModelCheckpoint(Callback):
    """Save after every epoch (or every ``save_freq`` batches), optionally only improvements.

    ``filepath`` may contain format fields filled from the epoch number
    (counted from 1) and the logs, e.g. ``"weights.{epoch:02d}-{val_loss:.2f}.npz"``
    gives ``weights.03-0.41.npz``; with a fixed name each save replaces the last.

    Args:
        filepath: where to save; missing folders are created.
        monitor: the log key that decides what "best" means.
        verbose: 1 prints a line per save (or per rejected save).
        save_best_only: save only when ``monitor`` beats the best value so far.
        save_weights_only: ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: "min", "max" or "auto" ("max" when the key contains "acc").
        save_freq: "epoch", or a number of batches between saves.
        period: with save_freq="epoch", save every ``period``-th epoch only
            (tf.keras 2's older argument).

    Example:
        >>> best = ModelCheckpoint("best.npz", monitor="val_accuracy", save_best_only=True)
        >>> model.fit(x, y, validation_split=0.1, epochs=20, callbacks=[best])
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", period=1):
        super().__init__()
        if save_freq != "epoch" and not _positive_int(save_freq):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive number "
                             f"of batches, got {save_freq!r}")
        if not _positive_int(period):
            raise ValueError(f"ModelCheckpoint: period must be a positive number of epochs, "
                             f"got {period!r}")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.save_freq = save_freq
        self.period = period
        self._watched = MonitoredValue("ModelCheckpoint", monitor, mode)
        self.best = self._watched.worst     # kept across fit calls, as in Keras
        self._epoch = 0
        self._batches_seen = 0
        self._epochs_since_last_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_since_last_save += 1
        if self.save_freq == "epoch" and self._epochs_since_last_save >= self.period:
            self._epochs_since_last_save = 0
            self._save(epoch, logs)

    def _path(self, epoch, logs, batch):
        fields = {**logs, "epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as err:
            raise KeyError(f"ModelCheckpoint: cannot fill in filepath {self.filepath!r}: "
                           f"no field {err} among {', '.join(fields)}") from None

    def _save(self, epoch, logs, batch=None):
        logs = logs or {}
        path = self._path(epoch, logs, batch)
        if self.save_best_only:
            current = self._watched.read(logs)
            if current is None:
                return
            if not self._watched.is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1:05d}: {self.monitor} did not improve "
                          f"from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1:05d}: {self.monitor} improved from {self.best:.5f} "
                      f"to {current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1:05d}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
