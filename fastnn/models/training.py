"""The training loop: batches, gradient steps, metrics, callbacks (chapters 6-7, 29).

One training step on a batch (x, y):

1. forward pass in training mode: y_pred = model(x)
2. loss = loss(y, y_pred) + the weights' regularization penalties
3. backward pass: dLoss/dy_pred through every layer (for softmax or sigmoid
   outputs with crossentropy, the fused and numerically stable
   dLoss/dlogits = (y_pred - y) / batch goes straight to the last layer's
   pre-activation)
4. the optimizer moves every trainable weight against its gradient

Steps 1-3 follow the model's plan (``model.plan``): the same list of named
steps every batch, fused where a rule allowed it when the plan was built.
Every entry point here (fit, evaluate, predict and the *_on_batch three)
runs inside ``fastnn.memory.cached_arrays()``: the step's big arrays come
from a cache of freed blocks instead of fresh pages.

An epoch is one pass over all training samples in batches of
``batch_size``; the epoch's loss and metrics are averages over its samples.
"""
import copy

import numpy as np

from .. import random
from ..memory import cached_arrays
from ..callbacks import CallbackList, History
from ..losses import SparseCategoricalCrossentropy
from .data import (as_array, as_inputs, batches, check_batch_size, check_lengths,
                   split_validation, whole_number)
from .interrupts import InterruptsBetweenBatches
from .progress import Progress


def _inputs(model, x):
    """x as checked float32 (samples, ...), building the model on first use."""
    if not model.layers:
        raise ValueError(f"model {model.name!r} has no layers: add some with model.add(...)")
    x = as_array(x, "x")
    model._ensure_built(x if x.ndim > 1 else x.reshape(-1, 1))
    return as_inputs(x, model.batch_input_shape, model.layers[0].name)


def _inputs_and_labels(model, x, y):
    x = _inputs(model, x)
    if y is None:
        raise ValueError("y is missing: training and evaluating compare the model's outputs "
                         "with labels y (an autoencoder's labels are its inputs: fit(x, x); "
                         "to group unlabeled data, see fastnn.cluster.KMeans)")
    y = as_array(y, "y")
    check_lengths(x, y)
    if len(x) == 0:
        raise ValueError("x and y are empty: there is nothing to train on or evaluate")
    return x, _check_labels(model, y)


def _check_labels(model, y, what="y"):
    """y against the loss's own rules, once per call, so a bad y fails before
    the first step: its shape against the outputs', and for integer labels
    (sparse crossentropy) every label's range.  An output with sizes known
    only from the data (None) is left to the loss's check on each batch.

    Returns y; checked integer labels come back as int64, which the loss
    takes on each batch without testing them for fractions again."""
    if None in model.output_shape[1:]:
        return y
    sparse = isinstance(model.loss, SparseCategoricalCrossentropy)
    outputs_shape = (len(y),) + tuple(model.output_shape[1:])
    try:
        model.loss.check_shapes(y.shape, outputs_shape)
        if sparse:
            model.loss.per_sample(y, np.ones(outputs_shape, np.float32))
    except ValueError as err:
        raise ValueError(f"{what} (shape {y.shape}) does not fit the last layer "
                         f"{model.layers[-1].name!r} (output shape {model.output_shape}): "
                         f"{err}") from None
    return y.astype(np.int64) if sparse else y


def _sample_weights(y, sample_weight, class_weight):
    """Per-sample weights from the (checked) sample_weight and a class_weight dict."""
    if class_weight is None:
        return sample_weight
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, "
                        f"got {type(class_weight).__name__}")
    classes = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))
    weights = np.array([class_weight.get(int(c), 1.0) for c in classes], np.float32)
    return weights if sample_weight is None else weights * sample_weight


def _checked_sample_weight(x, sample_weight):
    """``sample_weight`` as checked float32, one weight per sample of x, or None."""
    if sample_weight is None:
        return None
    sample_weight = as_array(sample_weight, "sample_weight")
    check_lengths(x, sample_weight, "sample_weight")
    return sample_weight


def _validation_arrays(model, validation_data):
    """(x_val, y_val, sample weights or None) from ``validation_data=(x, y[, sw])``."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be a tuple (x_val, y_val) or "
                         "(x_val, y_val, val_sample_weight)")
    x_val = as_inputs(as_array(validation_data[0], "validation x"), model.batch_input_shape,
                      model.layers[0].name, "validation x")
    y_val = as_array(validation_data[1], "validation y")
    check_lengths(x_val, y_val, "validation y", "validation x")
    if len(x_val) == 0:
        raise ValueError("validation_data is empty: give some samples, or leave it out")
    y_val = _check_labels(model, y_val, "validation y")
    weights = None
    if len(validation_data) == 3 and validation_data[2] is not None:
        weights = as_array(validation_data[2], "validation sample_weight")
        check_lengths(x_val, weights, "validation sample_weight", "validation x")
    return x_val, y_val, weights


def regularization_loss(model):
    return float(sum(layer.regularization_loss() for layer in model.layers))


def compute_gradients(model, x, y, sample_weight=None, training=True):
    """Steps 1-3 on one batch: fill every trainable variable's ``grad``;
    returns (loss, y_pred).  ``training=False`` runs the forward pass in
    inference mode (Dropout off, BatchNormalization on its moving
    statistics): the gradient check (chapter 22) needs the loss to be a fixed
    function of the weights."""
    plan = model.plan
    y_pred = plan.forward(x, training)
    loss, gradient = plan.loss_and_gradient(y, y_pred, sample_weight)
    # most models have no regularizer: one quick look instead of two passes per layer
    regularized = any(v.regularizer is not None for v in model.trainable_variables)
    if regularized:
        loss += regularization_loss(model)
    plan.backward(gradient)
    if regularized:
        for layer in model.layers:
            layer.add_regularization_gradients()
    return loss, y_pred


def train_step(model, x, y, sample_weight=None):
    """One gradient step on one batch (steps 1-4); returns (loss, y_pred)."""
    loss, y_pred = compute_gradients(model, x, y, sample_weight)
    model.optimizer.apply_gradients([(v.grad, v) for v in model.trainable_variables])
    return loss, y_pred


class _EpochMeans:
    """Sample-weighted running means of the loss and metrics over one pass."""

    def __init__(self, metrics):
        self.metrics = metrics
        self.loss_sum = 0.0
        self.seen = 0
        for metric in metrics:
            metric.reset_state()

    def update(self, loss, y, y_pred, sample_weight=None):
        self.loss_sum += loss * len(y)
        self.seen += len(y)
        for metric in self.metrics:
            metric.update_state(y, y_pred, sample_weight)

    def logs(self, prefix=""):
        logs = {f"{prefix}loss": self.loss_sum / max(self.seen, 1)}
        logs.update({f"{prefix}{m.name}": float(m.result()) for m in self.metrics})
        return logs


@cached_arrays()
def fit(model, *, x, y, batch_size, epochs, verbose, callbacks, validation_split,
        validation_data, shuffle, initial_epoch, sample_weight, class_weight):
    """``Sequential.fit``'s work.  The twelve settings after the model are
    keyword-only: passed by position, they would go wrong silently the day
    one is added or moved."""
    batch_size = check_batch_size(batch_size)
    epochs = whole_number("epochs", epochs, 0)
    initial_epoch = whole_number("initial_epoch", initial_epoch, 0)
    x, y = _inputs_and_labels(model, x, y)
    sample_weight = _checked_sample_weight(x, sample_weight)
    weights = _sample_weights(y, sample_weight, class_weight)
    val_weights = None
    if validation_data is not None:
        x_val, y_val, val_weights = _validation_arrays(model, validation_data)
    elif validation_split:
        (x, y), (x_val, y_val) = split_validation(x, y, validation_split)
        # the validation part keeps its sample weights (not the class weights), as in Keras
        val_weights = None if sample_weight is None else sample_weight[len(x):]
        weights = None if weights is None else weights[:len(x)]
    else:
        x_val = y_val = None

    history = History()
    callback_list = CallbackList([history] + list(callbacks or []), model=model,
                                 params={"batch_size": batch_size, "epochs": epochs,
                                         "samples": len(x), "verbose": verbose})
    model.stop_training = False
    if verbose:
        print(f"Train on {len(x)} samples" +
              (f", validate on {len(x_val)} samples" if x_val is not None else ""))
    callback_list.on_train_begin()
    # Ctrl+C lets the current step finish, then raises KeyboardInterrupt (see interrupts.py)
    with InterruptsBetweenBatches() as interrupts:
        for epoch in range(initial_epoch, epochs):
            if verbose and epochs > 1:
                print(f"Epoch {epoch + 1}/{epochs}")
            callback_list.on_epoch_begin(epoch)
            order = random.generator().permutation(len(x)) if shuffle else None
            means, progress = _EpochMeans(model.metrics), Progress(len(x), verbose)
            for step, idx in enumerate(batches(len(x), batch_size, order)):
                callback_list.on_train_batch_begin(step)
                batch_weights = None if weights is None else weights[idx]
                interrupts.step_begins()
                y_batch = y[idx]
                loss, y_pred = train_step(model, x[idx], y_batch, batch_weights)
                interrupts.step_ends()
                means.update(loss, y_batch, y_pred, batch_weights)
                logs = means.logs()
                progress.update(means.seen, logs)
                callback_list.on_train_batch_end(step, logs)
                if model.stop_training:
                    break
            logs = means.logs()
            if x_val is not None:
                logs.update(_evaluate_arrays(model, x_val, y_val, batch_size,
                                             val_weights).logs("val_"))
            progress.finish(logs)
            callback_list.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    callback_list.on_train_end()
    return history


def evaluate_step(model, x, y, sample_weight, penalty):
    """(loss, y_pred) on one batch in inference mode; ``penalty`` is
    ``regularization_loss(model)``, which the weights fix for a whole pass."""
    y_pred = model.forward(x, training=False)
    return float(model.loss(y, y_pred, sample_weight)) + penalty, y_pred


def _evaluate_arrays(model, x, y, batch_size, sample_weight=None, progress=None):
    means = _EpochMeans(model.metrics)
    penalty = regularization_loss(model)
    for idx in batches(len(x), batch_size):
        weights = None if sample_weight is None else sample_weight[idx]
        y_batch = y[idx]
        loss, y_pred = evaluate_step(model, x[idx], y_batch, weights, penalty)
        means.update(loss, y_batch, y_pred, weights)
        if progress:
            progress.update(means.seen, means.logs())
    return means


def _returned(logs, return_dict):
    """What evaluate and the *_on_batch methods return: the logs as a dict,
    else the loss alone, or [loss, metric, ...] when there are metrics."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


@cached_arrays()
def evaluate(model, x, y, batch_size, verbose, sample_weight, return_dict):
    batch_size = check_batch_size(batch_size)
    x, y = _inputs_and_labels(model, x, y)
    weights = _checked_sample_weight(x, sample_weight)
    progress = Progress(len(x), verbose)
    logs = _evaluate_arrays(model, x, y, batch_size, weights, progress).logs()
    progress.finish(logs)
    return _returned(logs, return_dict)


def empty_outputs(model, x):
    """The outputs for an x of no samples: an empty float32 array.  No layer
    runs; its shape is the one a batch of x's sample shape would get, which
    differs from ``model.output_shape`` where that has sizes left open (None)."""
    return np.zeros(model.compute_output_shape(x.shape), np.float32)


def _predict_arrays(model, x, batch_size, verbose):
    if len(x) == 0:
        return empty_outputs(model, x)
    outputs = [model.forward(x[idx], training=False) for idx in batches(len(x), batch_size)]
    progress = Progress(len(x), verbose)
    progress.finish({})
    return np.concatenate(outputs).astype(np.float32, copy=False)


@cached_arrays()
def predict(model, x, batch_size, verbose):
    batch_size = check_batch_size(batch_size)
    return _predict_arrays(model, _inputs(model, x), batch_size, verbose)


# ---- one batch at a time (tf.keras 2's train_on_batch, test_on_batch, predict_on_batch) ----

def _batch_means(model, reset_metrics):
    """The running means the *_on_batch methods report: new ones for each call
    (reset_metrics=True), else kept on the model and added to, call after
    call, until ``model.reset_metrics()`` or a call with reset_metrics=True.
    Those kept have their own copies of the metrics, which fit and evaluate
    (resetting the model's metrics at every pass) leave alone."""
    if reset_metrics:
        model._batch_means = None
        return _EpochMeans(model.metrics)
    if model._batch_means is None:
        model._batch_means = _EpochMeans([copy.copy(metric) for metric in model.metrics])
    return model._batch_means


@cached_arrays()
def train_on_batch(model, x, y, sample_weight, class_weight, reset_metrics, return_dict):
    """One gradient step on (x, y) as a single batch; the loss and metrics of
    that step (computed before the weights move, as in fit's logs)."""
    x, y = _inputs_and_labels(model, x, y)
    weights = _sample_weights(y, _checked_sample_weight(x, sample_weight), class_weight)
    means = _batch_means(model, reset_metrics)
    loss, y_pred = train_step(model, x, y, weights)
    means.update(loss, y, y_pred, weights)
    return _returned(means.logs(), return_dict)


@cached_arrays()
def test_on_batch(model, x, y, sample_weight, reset_metrics, return_dict):
    """evaluate on (x, y) as a single batch, without progress output."""
    x, y = _inputs_and_labels(model, x, y)
    weights = _checked_sample_weight(x, sample_weight)
    means = _batch_means(model, reset_metrics)
    loss, y_pred = evaluate_step(model, x, y, weights, regularization_loss(model))
    means.update(loss, y, y_pred, weights)
    return _returned(means.logs(), return_dict)


@cached_arrays()
def predict_on_batch(model, x):
    """predict on x as a single batch."""
    x = _inputs(model, x)
    return _predict_arrays(model, x, max(1, len(x)), 0)
