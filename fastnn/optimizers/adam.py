"""Adam: momentum plus a per-weight step size (Kingma & Ba 2014; course chapter 7)."""
import math

from .. import kernels
from .base import Optimizer, default


class Adam(Optimizer):
    """Adaptive moment estimation: "a variant of SGD" (chapter 7.3).

    Adam keeps two running averages per weight: m of the gradients (the
    direction, like momentum) and v of the squared gradients (how large the
    gradients usually are).  Dividing by √v gives every weight a step of
    about η, however large or small its gradients are:

        m <- β1·m + (1 - β1)·g
        v <- β2·v + (1 - β2)·g²
        α = η · √(1 - β2^t) / (1 - β1^t)      (corrects m, v starting at 0)
        w <- w - α · m / (√v + ε)

    With ``amsgrad`` the denominator uses the largest v seen so far,
    v̂ <- max(v̂, v), so the step size can only shrink.

    Args:
        learning_rate: η (default 0.001); the course writes ``Adam(lr=0.0001)``.
        beta_1: decay of the gradient average m, in [0, 1).
        beta_2: decay of the squared-gradient average v, in [0, 1).
        epsilon: ε, keeps the division finite when v is 0.
        amsgrad: use the running maximum v̂ (Reddi et al. 2018).
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``, ``name``
            (see ``Optimizer``).

    Example (chapter 7):
        >>> model.compile(Adam(lr=0.0001), loss="sparse_categorical_crossentropy",
        ...               metrics=["accuracy"])
    """

    def __init__(self, learning_rate=default(0.001), beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = self._decay_rate("beta_1", beta_1)
        self.beta_2 = self._decay_rate("beta_2", beta_2)
        self.epsilon = self._hyper("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)
        self._rule = kernels.UpdateRule("adam", beta_1=self.beta_1, beta_2=self.beta_2,
                                        epsilon=self.epsilon, amsgrad=self.amsgrad)

    def _step_rates(self, learning_rate, step):
        """α_t = η·√(1 − β2^t) / (1 − β1^t): the bias correction folded into the rate."""
        return (learning_rate * math.sqrt(1.0 - self.beta_2 ** step)
                / (1.0 - self.beta_1 ** step),)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}
