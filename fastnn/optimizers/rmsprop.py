"""RMSprop: divide each step by a running RMS of recent gradients (Hinton's lecture 6e)."""
from .. import kernels
from .base import Optimizer, default


class RMSprop(Optimizer):
    """Per-weight step sizes from a running mean of squared gradients.

    Weights with large gradients get smaller steps and vice versa:

        s <- ρ·s + (1 - ρ)·g²
        Δ = η · g / √(s + ε)
        w <- w - Δ

    ``centered`` also tracks the mean gradient a <- ρ·a + (1 - ρ)·g and divides
    by √(s - a² + ε), an estimate of the gradient's standard deviation rather
    than its RMS.  With ``momentum`` μ > 0 the steps are accumulated,
    M <- μ·M + Δ and w <- w - M.

    Args:
        learning_rate: η (default 0.001); ``lr=`` is accepted as an alias.
        rho: ρ, decay of the running averages, in [0, 1).
        momentum: μ in [0, 1].
        epsilon: ε, keeps the division finite.
        centered: normalise by the (estimated) variance instead of the mean square.
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``, ``name``
            (see ``Optimizer``).

    Example:
        >>> model.compile("rmsprop", loss="mse")      # the Keras default optimizer
    """

    def __init__(self, learning_rate=default(0.001), rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = self._decay_rate("rho", rho)
        self.momentum = self._hyper("momentum", momentum, high=1.0)
        self.epsilon = self._hyper("epsilon", epsilon)
        self.centered = bool(centered)
        self._rule = kernels.UpdateRule("rmsprop", rho=self.rho, momentum=self.momentum,
                                        epsilon=self.epsilon, centered=self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
