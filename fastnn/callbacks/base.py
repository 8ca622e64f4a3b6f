"""The callback protocol: code that fit/evaluate/predict run at fixed moments.

A training run (``model.fit``) calls, in this order::

    on_train_begin
      on_epoch_begin(epoch)                  epoch counts from 0
        on_train_batch_begin(batch)          (by default: on_batch_begin)
        on_train_batch_end(batch, logs)      logs: running "loss" and metrics (on_batch_end)
        ...                                  one pair per batch
      on_epoch_end(epoch, logs)              logs: epoch "loss", metrics, "val_..."
      ...
    on_train_end

The ``on_test_*`` and ``on_predict_*`` hooks are tf.keras 2's for
``evaluate`` and ``predict``; they are here so that callbacks written for
it keep working, but fastnn's evaluate and predict take no callbacks and
fit does not call them.  A callback sees the model as
``self.model`` and can steer training through it: ``model.stop_training =
True`` ends fit after the current batch or epoch, ``model.optimizer.
learning_rate = x`` changes the step size (chapter 9), ``model.get_weights()``
/ ``set_weights`` / ``save`` keep or restore what was learned.
"""


class Callback:
    """Base class: every hook does nothing; override the ones you need.

    Attributes:
        model: the model being trained (set by ``set_model``).
        params: the run's settings, e.g. {"epochs": 20, "batch_size": 10, ...}.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
        >>> model.fit(x, y, epochs=3, callbacks=[PrintLoss()])
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        """Once, before the first epoch."""

    def on_train_end(self, logs=None):
        """Once, after the last epoch (also when training was stopped early)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Before epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """After the epoch and its validation; ``logs`` holds the epoch's numbers."""

    def on_train_batch_begin(self, batch, logs=None):
        """Before the gradient step on batch ``batch`` (0-based within the epoch).
        By default calls ``on_batch_begin``, tf.keras 2's older name."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        """After the gradient step; ``logs`` holds the running loss and metrics.
        By default calls ``on_batch_end``, tf.keras 2's older name."""
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch, logs=None):
        """The older name of ``on_train_batch_begin`` (tf.keras 2 calls it in training)."""

    def on_batch_end(self, batch, logs=None):
        """The older name of ``on_train_batch_end`` (tf.keras 2 calls it in training)."""

    def on_test_begin(self, logs=None):
        """Before ``evaluate`` (or a validation pass) starts."""

    def on_test_end(self, logs=None):
        """After ``evaluate`` (or a validation pass) ends."""

    def on_test_batch_begin(self, batch, logs=None):
        """Before evaluating one batch."""

    def on_test_batch_end(self, batch, logs=None):
        """After evaluating one batch."""

    def on_predict_begin(self, logs=None):
        """Before ``predict`` starts."""

    def on_predict_end(self, logs=None):
        """After ``predict`` ends."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Before predicting one batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """After predicting one batch."""
