"""Adagrad: step sizes shrink with the sum of all past squared gradients (Duchi et al. 2011)."""
import numpy as np

from .. import kernels
from .base import Optimizer, default


class Adagrad(Optimizer):
    """Per-weight learning rates that only ever decrease.

    Each weight accumulates its squared gradients; weights that were updated
    often (large accumulated A) take smaller steps, rarely updated ones
    larger steps:

        A <- A + g²            (A starts at ``initial_accumulator_value``)
        w <- w - η · g / √(A + ε)

    Because A only grows, the steps shrink towards 0 over a long training;
    RMSprop and Adadelta replace the sum with a running average for that reason.

    Args:
        learning_rate: η (default 0.001); ``lr=`` is accepted as an alias.
        initial_accumulator_value: the starting A, >= 0.
        epsilon: ε, keeps the division finite.
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``, ``name``
            (see ``Optimizer``).
    """

    def __init__(self, learning_rate=default(0.001), initial_accumulator_value=0.1,
                 epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = self._hyper("initial_accumulator_value",
                                                     initial_accumulator_value)
        self.epsilon = self._hyper("epsilon", epsilon)
        self._rule = kernels.UpdateRule("adagrad", epsilon=self.epsilon)

    def _new_slot(self, name, variable):
        return np.full_like(variable.value, self.initial_accumulator_value)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
