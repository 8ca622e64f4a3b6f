"""Nadam: Adam with Nesterov momentum (Dozat 2016)."""
import math

from .. import kernels
from .base import Optimizer, default


class Nadam(Optimizer):
    """Adam that looks ahead like Nesterov momentum (see ``SGD``).

    The momentum factor warms up over the first steps,
    μ_t = β1·(1 - 0.5·0.96^t), and P_t = μ_1·μ_2·…·μ_t replaces β1^t in the
    bias correction.  m and v are Adam's averages; the step mixes the next
    step's momentum with the current gradient:

        m̂ = μ_{t+1}·m / (1 - P_t·μ_{t+1}) + (1 - μ_t)·g / (1 - P_t)
        v̂ = v / (1 - β2^t)
        w <- w - η · m̂ / (√v̂ + ε)

    Args:
        learning_rate: η (default 0.001); ``lr=`` is accepted as an alias.
        beta_1: decay of the gradient average m, in [0, 1).
        beta_2: decay of the squared-gradient average v, in [0, 1).
        epsilon: ε, keeps the division finite.
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``, ``name``
            (see ``Optimizer``).
    """

    # P_t for t = iterations, saved with the slots so training resumes exactly.
    _scalar_state = Optimizer._scalar_state + ("_momentum_product",)

    def __init__(self, learning_rate=default(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = self._decay_rate("beta_1", beta_1)
        self.beta_2 = self._decay_rate("beta_2", beta_2)
        self.epsilon = self._hyper("epsilon", epsilon)
        self._momentum_product = 1.0
        self._rule = kernels.UpdateRule("nadam", beta_1=self.beta_1, beta_2=self.beta_2,
                                        epsilon=self.epsilon)

    def _momentum_at(self, step):
        """μ_t = β1·(1 - 0.5·0.96^t): the momentum schedule."""
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** step)

    def apply_gradients(self, grads_and_vars):
        super().apply_gradients(grads_and_vars)
        self._momentum_product *= self._momentum_at(self.iterations)

    def _step_rates(self, learning_rate, step):
        """η·m̂ / (√v̂ + ε) = (rate·m + rate_g·g) / (√v·v_scale + ε) with
        rate = η·μ_{t+1}/(1 − P_t·μ_{t+1}), rate_g = η·(1 − μ_t)/(1 − P_t),
        v_scale = 1/√(1 − β2^t)."""
        mu, mu_next = self._momentum_at(step), self._momentum_at(step + 1)
        product = self._momentum_product * mu
        return (learning_rate * mu_next / (1.0 - product * mu_next),
                learning_rate * (1.0 - mu) / (1.0 - product),
                1.0 / math.sqrt(1.0 - self.beta_2 ** step))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
