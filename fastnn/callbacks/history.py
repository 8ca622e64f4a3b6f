"""History: the per-epoch record that ``model.fit`` returns (chapter 7)."""
from .base import Callback


class History(Callback):
    """Collects every epoch's logs; ``fit`` adds one automatically and returns it.

    After ``history = model.fit(..., validation_split=0.1, epochs=20)``:

    - ``history.history`` is a dict of lists, one float per epoch:
      {"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]};
      plotting loss against val_loss shows over- and underfitting (chapters 12-13);
    - ``history.epoch`` lists the epoch indices run, from 0;
    - ``model.history`` is the same object.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.history = {}
        self.epoch = []
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
