"""Adadelta: steps measured in the units of the weights (Zeiler 2012)."""
from .. import kernels
from .base import Optimizer, default


class Adadelta(Optimizer):
    """RMSprop whose step size comes from the size of its own recent steps.

    Two running averages per weight: Eg of the squared gradients and Ed of the
    squared updates.  Their ratio turns a gradient into a step with the units
    of the weight itself:

        Eg <- ρ·Eg + (1 - ρ)·g²
        Δ  = -√(Ed + ε) / √(Eg + ε) · g
        Ed <- ρ·Ed + (1 - ρ)·Δ²
        w  <- w + η·Δ

    The original method has no learning rate (η = 1); Keras multiplies by η
    anyway, default 0.001.

    Args:
        learning_rate: η (default 0.001); ``lr=`` is accepted as an alias.
        rho: ρ, decay of both running averages, in [0, 1).
        epsilon: ε; also sets the size of the very first steps (√ε·g/√(Eg+ε)).
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``, ``name``
            (see ``Optimizer``).
    """

    def __init__(self, learning_rate=default(0.001), rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = self._decay_rate("rho", rho)
        self.epsilon = self._hyper("epsilon", epsilon)
        self._rule = kernels.UpdateRule("adadelta", rho=self.rho, epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
