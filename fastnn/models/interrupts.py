"""Ctrl+C during fit: finish the batch, then stop -- the model stays whole.

A training step changes many arrays one after another: BatchNormalization's
moving statistics during the forward pass, then every weight and optimizer
slot in ``apply_gradients``.  Python raises ``KeyboardInterrupt`` wherever the
interpreter happens to be when Ctrl+C arrives; stopped halfway, a step would
leave some arrays updated for the batch and others not.

In Keras a step runs as one compiled graph, and the interrupt surfaces only
when it returns: between batches.  ``fit`` gets the same behaviour from
``InterruptsBetweenBatches``: while a step runs, a Ctrl+C is only noted, and
``KeyboardInterrupt`` is raised as soon as the step is complete.  It then
propagates to the caller as usual (``fit`` does not swallow it), and the
model holds exactly the state after the last finished batch: it can predict,
evaluate, be saved or continue with another ``fit``.  ``model.history``
(set when training begins) holds the epochs completed before the interrupt.

Only the main thread receives signals, and a handler the user installed is
left alone: in both cases Ctrl+C behaves as plain Python.
"""
import signal
import threading


class InterruptsBetweenBatches:
    """Context manager for the training loop; mark each step with
    ``step_begins()`` and ``step_ends()`` (the latter raises a deferred
    ``KeyboardInterrupt``)."""

    def __init__(self):
        self._in_step = False
        self._pending = False
        self._installed = False

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, *exc_info):
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False
        self._in_step = False
        if self._pending:                   # Ctrl+C during the step an exception ended
            self._pending = False
            if exc_info[0] is None:
                raise KeyboardInterrupt
        return False

    def _on_sigint(self, signum, frame):
        if not self._in_step:
            raise KeyboardInterrupt
        self._pending = True

    def step_begins(self):
        self._in_step = True

    def step_ends(self):
        self._in_step = False
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt
