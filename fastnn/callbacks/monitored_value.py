"""Watching one logged number: shared by EarlyStopping, ModelCheckpoint, ReduceLROnPlateau."""
import math
import warnings


class MonitoredValue:
    """Which log entry to watch, and what counts as an improvement.

    Args:
        owner: the callback's name, for messages.
        key: the log key, e.g. "val_loss" or "val_accuracy".
        mode: "min" (lower is better, e.g. losses), "max" (higher is better,
            e.g. accuracy) or "auto": "max" if the key contains "acc", else "min".
        min_delta: an improvement must beat the reference by more than this.
    """

    def __init__(self, owner, key, mode="auto", min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.owner = owner
        self.key = key
        self.higher_is_better = mode == "max" or (mode == "auto" and "acc" in key)
        self.min_delta = abs(float(min_delta))

    @property
    def worst(self):
        """A reference value that anything improves on."""
        return -math.inf if self.higher_is_better else math.inf

    def is_improvement(self, value, reference):
        if self.higher_is_better:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def read(self, logs):
        """The watched value in ``logs`` as a float; None, with a warning, if it is missing."""
        logs = logs or {}
        if self.key not in logs:
            warnings.warn(f"{self.owner} is conditioned on metric {self.key!r}, which is not "
                          f"available. Available metrics are: {', '.join(logs) or '(none)'}",
                          stacklevel=2)
            return None
        return float(logs[self.key])
