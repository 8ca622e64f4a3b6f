"""Optimizers: how the weights move after each batch (course, chapters 6, 7, 9).

Pass one to ``model.compile``, by name (``"adam"``) for the defaults or as an
object to choose the settings, e.g. ``Adam(lr=0.0001)`` as in chapter 7.
``model.optimizer.lr = 0.01`` changes the learning rate mid-training (chapter 9).

All share one contract (``base.Optimizer``): ``apply_gradients``, a
read/write ``learning_rate`` (alias ``lr``), ``iterations``, ``get_config`` /
``from_config`` and ``state_arrays`` / ``load_state_arrays`` for saving.
"""
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .base import Optimizer
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "Adamax", "Nadam", "Optimizer", "RMSprop", "SGD", "get"]

_BY_NAME = {cls.__name__.lower(): cls
            for cls in (SGD, Adam, RMSprop, Adagrad, Adadelta, Adamax, Nadam)}


def _class_named(name):
    cls = _BY_NAME.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(_BY_NAME)}")
    return cls


def get(identifier):
    """An optimizer from what ``compile(optimizer=...)`` was given.

    - a name, case-insensitive ("sgd", "Adam", "rmsprop", ...): a new instance
      with the default settings;
    - an Optimizer: itself (so the model keeps the object the user holds);
    - a dict ``{"class_name": "Adam", "config": {...}}`` as saved with a model.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _class_named(identifier)()
    if isinstance(identifier, dict):
        return _class_named(identifier.get("class_name")).from_config(identifier.get("config", {}))
    raise ValueError(f"cannot interpret {identifier!r} as an optimizer: give a name "
                     f"({', '.join(_BY_NAME)}), an Optimizer or a config dict")
