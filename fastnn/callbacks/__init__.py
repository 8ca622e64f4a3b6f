"""Callbacks: code that runs at fixed moments of ``fit`` (chapters 7, 9, 12).

``fit`` always adds a ``History`` (what it returns).  Pass others with
``model.fit(..., callbacks=[...])``:

- ``EarlyStopping``: stop when the validation loss stops improving;
- ``ModelCheckpoint``: save the model (or only the best one) while training;
- ``LearningRateScheduler`` / ``ReduceLROnPlateau``: change the learning rate;
- ``TerminateOnNaN``: stop when the loss becomes NaN;
- ``GradientStats``: record each layer's gradient norm (vanishing gradients, chapter 23).

Write your own by subclassing ``Callback`` (the hooks are listed in ``base``).
"""
from .base import Callback
from .callback_list import CallbackList
from .early_stopping import EarlyStopping
from .gradient_stats import GradientStats
from .history import History
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .terminate_on_nan import TerminateOnNaN

__all__ = ["Callback", "CallbackList", "EarlyStopping", "GradientStats", "History",
           "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "TerminateOnNaN"]
