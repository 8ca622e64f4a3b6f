"""BatchNormalization: normalise each feature over the batch (course, chapter 31)."""
import numbers

import numpy as np

from .. import initializers, regularizers
from .base import Layer


class BatchNormalization(Layer):
    """y = gamma · (x − mean) / sqrt(var + epsilon) + beta, per feature.

    In training the mean and (biased) variance are those of the current
    batch, taken over every axis except ``axis``, and the moving averages
    are updated: moving = moving · momentum + batch_stat · (1 − momentum).
    At inference (evaluate, predict, validation, or when the layer is
    frozen) the moving averages are used instead.

    Weights, in Keras order: gamma, beta (trainable), moving_mean,
    moving_variance (not trainable), each of shape (C,), C = input_shape[axis].

    Args:
        axis: the feature axis (default -1, channels last); the course's
            chapter 31 uses ``axis=1`` on inputs of shape (None, 1, 5).
        momentum, epsilon: Keras defaults 0.99 and 1e-3.
        center, scale: learn beta / gamma.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"BatchNormalization: axis must be an int, got {axis!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.initializers = {name: initializers.get(init) for name, init in (
            ("gamma", gamma_initializer), ("beta", beta_initializer),
            ("moving_mean", moving_mean_initializer),
            ("moving_variance", moving_variance_initializer))}
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape):
        ndim = len(input_shape)
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 0 < axis < ndim or input_shape[axis] is None:
            raise ValueError(f"layer {self.name!r}: axis {self.axis} is not a feature axis "
                             f"of inputs of shape {tuple(input_shape)}")
        self._axis = axis
        self._reduce = tuple(a for a in range(ndim) if a != axis)
        shape = (input_shape[axis],)
        init = self.initializers
        self.gamma = (self.add_weight("gamma", shape, init["gamma"], self.gamma_regularizer)
                      if self.scale else None)
        self.beta = (self.add_weight("beta", shape, init["beta"], self.beta_regularizer)
                     if self.center else None)
        self.moving_mean = self.add_weight("moving_mean", shape, init["moving_mean"],
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               init["moving_variance"], trainable=False)
        super().build(input_shape)

    def _broadcast(self, values):
        """A (C,) array shaped to broadcast along the feature axis."""
        shape = [1] * (len(self._reduce) + 1)
        shape[self._axis] = -1
        return values.reshape(shape)

    def call(self, x, training=False):
        self._training = training and self.trainable
        if self._training:
            mean, var = x.mean(axis=self._reduce), x.var(axis=self._reduce)
            keep = np.float32(self.momentum)
            self.moving_mean.value[...] = self.moving_mean.value * keep + mean * (1 - keep)
            self.moving_variance.value[...] = self.moving_variance.value * keep + var * (1 - keep)
        else:
            mean, var = self.moving_mean.value, self.moving_variance.value
        self._inv_std = self._broadcast(1.0 / np.sqrt(var + np.float32(self.epsilon)))
        self._x_hat = (x - self._broadcast(mean)) * self._inv_std
        y = self._x_hat
        if self.gamma is not None:
            y = y * self._broadcast(self.gamma.value)
        if self.beta is not None:
            y = y + self._broadcast(self.beta.value)
        return y.astype(np.float32, copy=False)

    def call_backward(self, dz):
        if self.beta is not None:
            self.beta.grad = dz.sum(axis=self._reduce)
        if self.gamma is not None:
            self.gamma.grad = (dz * self._x_hat).sum(axis=self._reduce)
            dz = dz * self._broadcast(self.gamma.value)
        if not self._training:  # the statistics were constants
            return dz * self._inv_std
        # mean and variance depend on x too: d x_hat / d x over the batch
        mean_dz = self._broadcast(dz.mean(axis=self._reduce))
        mean_dz_xhat = self._broadcast((dz * self._x_hat).mean(axis=self._reduce))
        return (self._inv_std * (dz - mean_dz - self._x_hat * mean_dz_xhat)).astype(np.float32)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **{f"{name}_initializer": initializers.serialize(init)
                   for name, init in self.initializers.items()},
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer)}
