"""ReduceLROnPlateau: a smaller learning rate when progress stalls (chapter 9)."""
from .base import Callback
from .learning_rate_log import log_learning_rate
from .monitored_value import MonitoredValue


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    When the loss stops falling, the steps may be too large to settle into
    the minimum (they jump across it, chapter 9); a smaller rate often lets
    training continue.  After each reduction ``cooldown`` epochs pass before
    the waiting starts again, and the rate never drops below ``min_lr``.

    Args:
        monitor: the log key to watch.
        factor: new rate = rate · factor, in (0, 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints every reduction.
        mode: "min", "max" or "auto" ("max" when the key contains "acc").
        min_delta: smaller changes do not count as improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound for the rate.

    The current rate is added to the epoch logs as "lr" (tf.keras 2's key) and
    "learning_rate" (Keras 3's).

    Example:
        >>> plateau = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-5)
        >>> model.fit(x, y, validation_split=0.1, epochs=100, callbacks=[plateau])
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self._watched = MonitoredValue("ReduceLROnPlateau", monitor, mode, min_delta)
        self.min_delta = self._watched.min_delta
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.best = self._watched.worst
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        log_learning_rate(logs, optimizer)
        current = self._watched.read(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._watched.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait >= self.patience and optimizer.learning_rate > self.min_lr:
            new_rate = max(optimizer.learning_rate * self.factor, self.min_lr)
            optimizer.learning_rate = new_rate
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1:05d}: ReduceLROnPlateau reducing learning rate "
                      f"to {new_rate}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0
