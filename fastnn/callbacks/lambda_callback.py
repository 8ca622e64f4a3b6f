"""LambdaCallback: a callback made of plain functions, without writing a class."""
from .base import Callback


class LambdaCallback(Callback):
    """Run the given functions at their moments of ``fit``.

    Each argument is a function for the hook of the same name, called with
    that hook's arguments: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_batch_begin(batch, logs)``,
    ``on_batch_end(batch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``; any other hook of ``Callback`` can be given by
    keyword too (``on_train_batch_end=...``).  Hooks not given do nothing.

    Example:
        >>> print_loss = LambdaCallback(
        ...     on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
        >>> model.fit(x, y, epochs=3, callbacks=[print_loss])
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **other_hooks):
        super().__init__()
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_batch_begin": on_batch_begin, "on_batch_end": on_batch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end, **other_hooks}
        for name, function in hooks.items():
            if not (name.startswith("on_") and callable(getattr(Callback, name, None))):
                known = ", ".join(h for h in dir(Callback) if h.startswith("on_"))
                raise TypeError(f"LambdaCallback: {name!r} is not a callback hook; the hooks "
                                f"are {known}")
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback: {name} must be a function, got {function!r}")
            setattr(self, name, function)
