"""BatchNormalization: normalise each feature over the batch (course, chapter 31)."""
import numbers

import numpy as np

from .. import initializers, regularizers
from ..kernels import batch_norm, batch_norm_backward, batch_norm_stats
from .backward_cache import BackwardCache
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

    In a model whose plan fuses it with the ReLU after it (rule "batch norm
    + relu", ``fastnn.plan``), ``forward_relu`` writes relu(y) in the same
    pass and ``backward_relu`` takes the ReLU's backward pass along.

    Args:
        axis: the feature axis (default -1, channels last); the course's
            chapter 31 uses ``axis=1`` on inputs of shape (None, 1, 5).
        momentum, epsilon: Keras defaults 0.99 and 1e-3.
        center, scale: learn beta / gamma.
    """

    _training = BackwardCache("whether forward normalised with the batch's own statistics, "
                              "so that they depend on x too")
    _x = BackwardCache("the input as (rows, features)")
    _stats = BackwardCache("the (mean, variance) forward normalised with")

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

    def _rows(self, x):
        """x as a (rows, features) matrix: a free view when the features are the last axis."""
        return np.moveaxis(x, self._axis, -1).reshape(-1, x.shape[self._axis])

    def _unrows(self, rows, shape):
        """The inverse of ``_rows`` for an array of the input's ``shape``."""
        axis = self._axis
        moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
        return np.moveaxis(rows.reshape(moved), -1, axis)

    def _value(self, variable):
        return None if variable is None else variable.value

    def call(self, x, training=False):
        return self._normalise(x, training, relu=False)

    def forward_relu(self, x, training=False):
        """relu(call(x)), in the same pass over the data: this layer followed
        by an Activation("relu") layer, as one step."""
        return self._normalise(x, training, relu=True)

    def _normalise(self, x, training, relu):
        self._training = batch_stats = training and self.trainable
        self._x = rows = self._rows(x)
        if batch_stats:
            mean, var = batch_norm_stats(rows)
            keep = np.float32(self.momentum)
            self.moving_mean.value[...] = self.moving_mean.value * keep + mean * (1 - keep)
            self.moving_variance.value[...] = self.moving_variance.value * keep + var * (1 - keep)
        else:
            mean, var = self.moving_mean.value, self.moving_variance.value
        self._stats = (mean, var)
        y = batch_norm(rows, mean, var, self._value(self.gamma), self._value(self.beta),
                       self.epsilon, relu=relu)
        return self._unrows(y, x.shape)

    def call_backward(self, dz):
        return self._gradients(dz, relu=False)

    def backward_relu(self, dy):
        """dLoss/dx from dLoss/dy of ``forward_relu``'s output: the ReLU's
        backward (dy where that output is > 0) done as the kernel reads dy.
        The kernel recomputes that output from x, the statistics, gamma and
        beta (unchanged since forward: the optimizer runs after the backward
        pass), so the layer keeps no copy of it."""
        return self._gradients(dy, relu=True)

    def _gradients(self, dz, relu):
        dx, dgamma, dbeta = batch_norm_backward(
            self._x, self._rows(dz), *self._stats, self._value(self.gamma), self.epsilon,
            batch_stats=self._training, compute_dx=self.input_gradient_needed,
            relu=relu, beta=self._value(self.beta) if relu else None)
        if self.gamma is not None:
            self.gamma.grad = dgamma
        if self.beta is not None:
            self.beta.grad = dbeta
        return None if dx is None else self._unrows(dx, dz.shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **{f"{name}_initializer": initializers.serialize(init)
                   for name, init in self.initializers.items()},
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer)}
