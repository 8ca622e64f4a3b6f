"""EarlyStopping: end training when the watched value stops improving (chapter 12)."""
from .base import Callback
from .monitored_value import MonitoredValue


class EarlyStopping(Callback):
    """Stop ``fit`` once ``monitor`` has not improved for ``patience`` epochs.

    When the training loss keeps falling but ``val_loss`` rises, the model
    starts to memorise the training set (overfitting, chapter 12); stopping
    there, and optionally going back to the best weights, is the cheapest
    remedy.

    An epoch *improves* when its value beats the best so far by more than
    ``min_delta`` (the first watched epoch always does).  With a
    ``baseline``, an improvement also has to beat the baseline to reset the
    patience count.

    Args:
        monitor: the log key to watch, e.g. "val_loss", "val_accuracy".
        min_delta: smaller changes do not count as improvement.
        patience: how many epochs in a row without improvement to tolerate.
        verbose: 1 prints "Epoch 00005: early stopping".
        mode: "min", "max" or "auto" ("max" when the key contains "acc").
        baseline: a value the model has to beat within ``patience`` epochs.
        restore_best_weights: at the end of training, load the weights of the
            best epoch (``model.set_weights``) instead of keeping the last ones.
        start_from_epoch: epochs to let pass before watching (a warm-up).

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        >>> model.fit(x, y, validation_split=0.1, epochs=100, callbacks=[stop])
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if int(patience) != patience or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.monitor = monitor
        self.mode = mode
        self._watched = MonitoredValue("EarlyStopping", monitor, mode, min_delta)
        self.min_delta = self._watched.min_delta
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait = 0             # epochs in a row without improvement
        self.stopped_epoch = 0    # the epoch at which training was stopped (0: not stopped)
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._watched.read(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        improved = self.best is None or self._watched.is_improvement(current, self.best)
        if improved:
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
        if improved and (self.baseline is None
                         or self._watched.is_improvement(current, self.baseline)):
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1:05d}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)
