"""LearningRateScheduler: choose the learning rate at the start of every epoch (chapter 9)."""
import inspect
import numbers

from .base import Callback
from .learning_rate_log import log_learning_rate


def _takes_current_rate(schedule):
    """True for ``schedule(epoch, lr)``, False for ``schedule(epoch)``."""
    try:
        inspect.signature(schedule).bind(0, 0.0)
    except TypeError:
        return False
    except ValueError:      # no signature to inspect (some built-ins): assume Keras's form
        return True
    return True


class LearningRateScheduler(Callback):
    """Set ``model.optimizer.learning_rate = schedule(epoch, lr)`` before each epoch.

    Large steps early and smaller ones later often train faster and end
    closer to the minimum than one fixed rate (chapter 9 on choosing it).

    Args:
        schedule: ``f(epoch, lr) -> new lr`` (epoch from 0, lr the current
            rate) or ``f(epoch) -> new lr``.
        verbose: 1 prints the new rate every epoch.

    The rate used is added to the epoch logs as "lr" (tf.keras 2's key) and
    "learning_rate" (Keras 3's), so it ends up in ``History.history``.

    Example:
        >>> def halve_every_10(epoch, lr):
        ...     return lr * 0.5 if epoch > 0 and epoch % 10 == 0 else lr
        >>> model.fit(x, y, epochs=50, callbacks=[LearningRateScheduler(halve_every_10)])
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        self._takes_rate = _takes_current_rate(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if self._takes_rate:
            rate = self.schedule(epoch, optimizer.learning_rate)
        else:
            rate = self.schedule(epoch)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise ValueError(f"LearningRateScheduler: the schedule must return a number, "
                             f"got {rate!r} for epoch {epoch}")
        optimizer.learning_rate = float(rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1:05d}: LearningRateScheduler reducing learning rate "
                  f"to {float(rate)}.")

    def on_epoch_end(self, epoch, logs=None):
        log_learning_rate(logs, self.model.optimizer)
