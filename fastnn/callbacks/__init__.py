"""Callbacks: code that runs at fixed moments of ``fit`` (chapters 7, 9, 12).

``fit`` always adds a ``History`` (what it returns).  Pass others with
``model.fit(..., callbacks=[...])``:

- ``EarlyStopping``: stop when the validation loss stops improving;
- ``ModelCheckpoint``: save the model (or only the best one) while training;
- ``LearningRateScheduler`` / ``ReduceLROnPlateau``: change the learning rate;
- ``TerminateOnNaN``: stop when the loss becomes NaN;
- ``CSVLogger``: write every epoch's numbers to a CSV file;
- ``GradientStats``: record each layer's gradient norm (vanishing gradients, chapter 23).

Write your own by subclassing ``Callback`` (the hooks are listed in
``base``), or pass plain functions to ``LambdaCallback``.

``TensorBoard``, ``ProgbarLogger`` and ``RemoteMonitor`` (tf.keras 2) can be
imported, but using one raises NotImplementedError saying what fastnn offers
instead.
"""
from ..unsupported import unsupported
from .base import Callback
from .callback_list import CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .gradient_stats import GradientStats
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .terminate_on_nan import TerminateOnNaN

TensorBoard = unsupported(
    "TensorBoard", "fit returns a History whose .history holds every epoch's loss and "
    "metrics; fastnn.plot.history(history, 'curves.png') draws them, CSVLogger writes them to "
    "a file, and the GradientStats callback records gradient norms "
    "(fastnn.plot.gradient_stats draws those)", __name__)
ProgbarLogger = unsupported(
    "ProgbarLogger", "fit, evaluate and predict print their progress themselves: verbose=1 "
    "draws the progress bar, verbose=2 prints one line per epoch, verbose=0 nothing", __name__)
RemoteMonitor = unsupported(
    "RemoteMonitor", "to follow training from elsewhere, write the epoch logs with "
    "CSVLogger('log.csv') or send them yourself from a LambdaCallback(on_epoch_end=...)",
    __name__)

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "GradientStats", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger",
           "ReduceLROnPlateau", "RemoteMonitor", "TensorBoard", "TerminateOnNaN"]
