"""Adamax: Adam with the infinity norm in place of the root mean square (Kingma & Ba 2014)."""
from .. import kernels
from .base import Optimizer, default


class Adamax(Optimizer):
    """Adam whose scale is the (decaying) largest gradient magnitude.

        m <- β1·m + (1 - β1)·g
        u <- max(β2·u, |g|)
        w <- w - η / (1 - β1^t) · m / (u + ε)

    u needs no bias correction: a maximum is not pulled towards its starting 0.

    Args:
        learning_rate: η (default 0.001); ``lr=`` is accepted as an alias.
        beta_1: decay of the gradient average m, in [0, 1).
        beta_2: decay of the maximum u, in [0, 1).
        epsilon: ε, keeps the division finite.
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``, ``name``
            (see ``Optimizer``).
    """

    def __init__(self, learning_rate=default(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = self._decay_rate("beta_1", beta_1)
        self.beta_2 = self._decay_rate("beta_2", beta_2)
        self.epsilon = self._hyper("epsilon", epsilon)
        self._rule = kernels.UpdateRule("adamax", beta_1=self.beta_1, beta_2=self.beta_2,
                                        epsilon=self.epsilon)

    def _step_rates(self, learning_rate, step):
        """η / (1 − β1^t): m's bias correction folded into the rate."""
        return (learning_rate / (1.0 - self.beta_1 ** step),)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
