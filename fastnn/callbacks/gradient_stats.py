"""GradientStats: watch each layer's gradient while training (chapter 23).

The gradient that reaches an early layer is a product of one factor per
layer after it (course, 23.2.1.1).  When those factors are below 1 (sigmoid's
slope is at most 0.25) the product shrinks towards the input layers, whose
weights then barely move: the vanishing gradient.  Factors above 1 make it
explode instead (23.3).  Recording the size of every layer's gradient at
every step shows which of the two a net suffers from.
"""
import numbers

import numpy as np

from .base import Callback


class GradientStats(Callback):
    """Record the L2 norm of each layer's kernel gradient after training batches.

    What is measured: per layer, ‖∂L/∂W‖₂ = sqrt(Σ g²) over all entries of
    the gradient of its kernel W (Dense (in, out), Conv2D (kh, kw, in,
    out)), the weights chapter 23 talks about; the bias gradient is left
    out.  L is the batch's mean loss plus any regularization penalty: the
    gradient the optimizer has just used for its step (``fit`` calls
    ``on_train_batch_end`` after the update, and the optimizer reads
    ``variable.grad`` without changing it).

    Which layers: ``layers=None`` takes every layer with a trainable kernel,
    in model order (input to output); frozen layers (``trainable=False``)
    and layers without a kernel (pooling, Dropout, Flatten, ...) are skipped.

    After ``fit``, ``record`` holds::

        {"step": [0, 1, 2, ...],                 # training batches since fit began
         "norms": {"dense": [...], "dense_1": [...], ...}}   # one norm per step

    Each ``fit`` starts a new record.  ``fastnn.plot.gradient_stats(callback,
    path)`` draws it.

    Args:
        every: record every ``every``-th batch (steps 0, every, 2·every, ...).
        layers: names of the layers to watch, or None for all with a trainable kernel.

    Example:
        >>> stats = GradientStats()
        >>> model.fit(x, y, epochs=2, callbacks=[stats])
        >>> {name: np.mean(norms) for name, norms in stats.record["norms"].items()}
    """

    def __init__(self, every=1, layers=None):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValueError(f"GradientStats: every must be a positive int, got {every!r}")
        if layers is not None:
            layers = [layers] if isinstance(layers, str) else list(layers)
            if not all(isinstance(name, str) for name in layers):
                raise TypeError(f"GradientStats: layers must be layer names (strings) or None, "
                                f"got {layers!r}")
        self.every = int(every)
        self.layers = layers
        self.record = {"step": [], "norms": {}}
        self._kernels = {}   # layer name -> its kernel Variable
        self._step = 0

    def on_train_begin(self, logs=None):
        self._kernels = self._watched_kernels()
        self.record = {"step": [], "norms": {name: [] for name in self._kernels}}
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        if self._step % self.every == 0:
            self.record["step"].append(self._step)
            for name, kernel in self._kernels.items():
                if kernel.grad is None:
                    raise RuntimeError(f"GradientStats: layer {name!r} has no gradient yet; "
                                       f"on_train_batch_end must follow a backward pass")
                norm = np.sqrt(np.sum(np.square(kernel.grad, dtype=np.float64)))
                self.record["norms"][name].append(float(norm))
        self._step += 1

    def _watched_kernels(self):
        """{layer name: kernel Variable} of the layers to watch, in model order."""
        kernels = {layer.name: _trainable_kernel(layer) for layer in self.model.layers}
        if self.layers is None:
            return {name: kernel for name, kernel in kernels.items() if kernel is not None}
        for name in self.layers:
            if name not in kernels:
                raise ValueError(f"GradientStats: the model has no layer {name!r}; its layers "
                                 f"are {', '.join(map(repr, kernels))}")
            if kernels[name] is None:
                raise ValueError(f"GradientStats: layer {name!r} has no trainable kernel "
                                 f"(frozen, or a layer without weights): no gradient to record")
        return {name: kernels[name] for name in kernels if name in self.layers}


def _trainable_kernel(layer):
    """The layer's "kernel" Variable if fit will train it, else None."""
    return next((v for v in layer.trainable_variables if v.name == "kernel"), None)
