"""SGD: stochastic gradient descent, the update rule of the course (chapters 6, 7, 22)."""
from .. import kernels
from .base import Optimizer, default


class SGD(Optimizer):
    """Step against the gradient, scaled by the learning rate.

    Chapter 7: new weight = old weight - learning rate · gradient, i.e.
    ``w -= η·g``.  Applied once per mini-batch (chapter 29), this is
    mini-batch gradient descent, which Keras calls SGD.

    Momentum remembers the previous steps in a velocity m, so the weights keep
    rolling through flat regions and zig-zag less in narrow valleys:

        m <- μ·m - η·g,     w <- w + m

    Nesterov momentum takes the step from where the velocity is about to
    carry the weights: ``w <- w + μ·m - η·g`` (with the new m).

    Args:
        learning_rate: η (default 0.01); ``lr=`` is accepted as an alias.
        momentum: μ in [0, 1]; 0 is plain gradient descent.
        nesterov: use Nesterov momentum.
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``, ``name``
            (see ``Optimizer``).

    Example:
        >>> model.compile(SGD(learning_rate=0.01, momentum=0.9), loss="mse")
    """

    def __init__(self, learning_rate=default(0.01), momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = self._hyper("momentum", momentum, high=1.0)
        self.nesterov = bool(nesterov)
        self._rule = kernels.UpdateRule("sgd", momentum=self.momentum, nesterov=self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
