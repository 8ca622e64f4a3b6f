"""Batch normalisation over channels-last data, forward and backward (course, chapter 31).

The data is a (rows, channels) matrix: an NHWC batch reshaped to
(N·H·W, C), or a Dense layer's (N, C) output.  Each channel is normalised
by its own mean and variance over the rows, then scaled and shifted:

    y = gamma · (x − mean) / sqrt(var + epsilon) + beta

The statistics are float64: data whose mean is large against its spread
(raw pixel values, sensor readings) loses its information to rounding in
x − mean if the mean itself is rounded to float32 (half a unit in the last
place is 5e-4 at 10,000 -- 5 % of a std of 0.01).  The C kernels compute in
this centred form throughout (csrc/batchnorm.c says how, at float speed).
Moving averages, being Keras weights, stay float32; as float64 they are the
same numbers.
"""
import numbers

import numpy as np

from . import reference
from ._native import native
from .validation import as_contiguous, as_float32, check_impl, check_shape

AXES = ("rows", "channels")


def _matrix(kernel, name, x):
    x = as_float32(kernel, name, x, AXES)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{kernel}: {name} must have at least one row and one channel, "
                         f"got shape {x.shape}")
    return x


def _per_channel(kernel, name, value, channels, default=None, dtype=np.float32):
    if value is None:
        return None if default is None else np.full(channels, default, dtype)
    value = as_contiguous(kernel, name, value, ("channels",), dtype)
    check_shape(kernel, name, value, (channels,))
    return value


def _statistics(kernel, mean, var, channels):
    """mean and var as float64 (channels,) arrays."""
    return (_per_channel(kernel, "mean", mean, channels, dtype=np.float64),
            _per_channel(kernel, "var", var, channels, dtype=np.float64))


def _inv_std(kernel, var, epsilon):
    """1 / sqrt(var + epsilon) in float64."""
    if (isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real)
            or not epsilon > 0):
        raise ValueError(f"{kernel}: epsilon must be a number > 0, got {epsilon!r}")
    if np.any(var < 0):
        raise ValueError(f"{kernel}: var must not be negative")
    return 1.0 / np.sqrt(var + float(epsilon))


def _scale(gamma, inv_std):
    """gamma · inv_std as the C apply pass takes it (float32): the backward
    pass of batch norm + relu recomputes the forward's output with it."""
    return (gamma * inv_std).astype(np.float32)


def batch_norm_stats(x, impl="fast"):
    """Per-channel mean and biased variance (divided by the number of rows).

    Args:
        x: (rows, channels).
        impl: "fast", "naive" or "numpy".

    Returns:
        (mean, var), each float64 (channels,) (see the module doc for why).
    """
    kernel = "batch_norm_stats"
    check_impl(kernel, impl)
    x = _matrix(kernel, "x", x)
    if impl == "numpy":
        return reference.batch_norm_stats(x.astype(np.float64))
    mean, var = np.empty(x.shape[1]), np.empty(x.shape[1])
    native.batch_norm_stats(x.reshape(-1), mean, var, x.shape[0], x.shape[1], impl == "naive")
    return mean, var


def batch_norm(x, mean, var, gamma=None, beta=None, epsilon=1e-3, impl="fast", relu=False):
    """y = gamma · (x − mean) / sqrt(var + epsilon) + beta, per channel.

    Args:
        x: (rows, channels).
        mean, var: (channels,), any float type (float64 keeps the precision
            of ``batch_norm_stats``): the batch's statistics in training,
            the moving averages at inference.
        gamma, beta: (channels,) or None (1 and 0).
        epsilon: added to the variance, > 0.
        impl: "fast", "naive" or "numpy".
        relu: True returns max(y, 0), computed in the same pass over the
            data (batch norm followed by a ReLU, a model plan's rule
            "batch norm + relu").

    Returns:
        float32 (rows, channels).
    """
    kernel = "batch_norm"
    check_impl(kernel, impl)
    x = _matrix(kernel, "x", x)
    channels = x.shape[1]
    mean, var = _statistics(kernel, mean, var, channels)
    gamma = _per_channel(kernel, "gamma", gamma, channels, 1.0)
    beta = _per_channel(kernel, "beta", beta, channels, 0.0)
    inv_std = _inv_std(kernel, var, epsilon)
    if impl == "numpy":
        return reference.batch_norm(x, mean, inv_std, gamma, beta, relu).astype(np.float32)
    scale = _scale(gamma, inv_std)
    y = np.empty_like(x)
    native.batch_norm_apply(x.reshape(-1), mean, scale, beta, bool(relu), y.reshape(-1),
                            x.shape[0], channels, impl == "naive")
    return y


def batch_norm_backward(x, dy, mean, var, gamma=None, epsilon=1e-3, batch_stats=True,
                        impl="fast", compute_dx=True, relu=False, beta=None):
    """Gradients through ``batch_norm`` given dy = dL/dy.

    Args:
        x, mean, var, gamma, epsilon: as given to the forward pass.
        dy: (rows, channels).
        batch_stats: True when mean and var were computed from this x
            (training: they then carry gradient too), False when they were
            constants (the moving averages at inference).
        impl: "fast", "naive" or "numpy".
        compute_dx: False skips dL/dx (returned as None).
        relu: True when the forward pass was ``batch_norm(x, mean, var,
            gamma, beta, epsilon, impl=impl, relu=True)``: dy is then dL/d(its
            output) and counts only where that output is > 0 (the ReLU's
            backward pass, done as dy is read).  The output is not needed:
            the kernel recomputes it from x with the forward's arithmetic, so
            the mask is the forward's exactly, and the pass reads one array
            less.
        beta: with ``relu``, the forward's beta ((channels,) or None: 0).

    Returns:
        (dx, dgamma, dbeta): dL/dx (rows, channels), dL/dgamma and dL/dbeta (channels,).
    """
    kernel = "batch_norm_backward"
    check_impl(kernel, impl)
    x = _matrix(kernel, "x", x)
    channels = x.shape[1]
    dy = as_float32(kernel, "dy", dy, AXES)
    check_shape(kernel, "dy", dy, x.shape)
    mean, var = _statistics(kernel, mean, var, channels)
    gamma = _per_channel(kernel, "gamma", gamma, channels, 1.0)
    inv_std = _inv_std(kernel, var, epsilon)
    if beta is not None and not relu:
        raise ValueError(f"{kernel}: beta is used only with relu=True (the forward's "
                         f"output, recomputed for the ReLU's mask), got beta without relu")
    beta = _per_channel(kernel, "beta", beta, channels, 0.0) if relu else None
    if impl == "numpy":
        relu_output = None if not relu else reference.batch_norm(
            x, mean, inv_std, gamma, beta, relu=True).astype(np.float32)
        dx, dgamma, dbeta = (a.astype(np.float32) for a in reference.batch_norm_backward(
            x.astype(np.float64), dy.astype(np.float64), mean, inv_std, gamma, batch_stats,
            relu_output))
        return (dx if compute_dx else None), dgamma, dbeta
    relu_scale = _scale(gamma, inv_std) if relu else None
    inv_std = inv_std.astype(np.float32)
    dx = np.empty_like(x) if compute_dx else None
    dgamma, dbeta = np.empty(channels, np.float32), np.empty(channels, np.float32)
    native.batch_norm_backward(x.reshape(-1), dy.reshape(-1), mean, inv_std, gamma,
                               bool(batch_stats), relu_scale, beta,
                               None if dx is None else dx.reshape(-1),
                               dgamma, dbeta, x.shape[0], channels, impl == "naive")
    return dx, dgamma, dbeta
