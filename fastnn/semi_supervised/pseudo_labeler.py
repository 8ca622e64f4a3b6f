"""PseudoLabeler: train on a few labels, label the rest yourself, train again (chapter 16).

Semi-supervised learning mixes supervised and unsupervised learning: some
of the data has labels, most of it has none.  Pseudo-labeling, the
course's example of it, uses the unlabeled part in three steps:

1. train the network on the labeled data, as usual;
2. let it predict the unlabeled data, and keep the predictions it is sure
   of (top probability >= ``threshold``) as their labels: pseudo-labels;
3. train on the labeled and the pseudo-labeled data together.

Step 3 trains on far more data than a human labeled.  It helps when the
confident predictions are mostly right: the pseudo-labels then fill in the
classes' shapes around the few labeled examples.  A lower threshold adds
more pseudo-labels but also more wrong ones.
"""
import numbers

import numpy as np

from ..arrays import real_array
from ..utils import to_categorical

# model.fit arguments that do not carry over to the combined data set
_REFUSED_FIT_ARGUMENTS = {
    "validation_split": "a split of labeled + pseudo-labeled data would validate on "
                        "pseudo-labels; pass validation_data=(x_val, y_val) instead",
    "sample_weight": "it would have to cover the pseudo-labeled samples too",
    "x": "give the data as fit's first three arguments",
    "y": "give the data as fit's first three arguments",
}


class PseudoLabeler:
    """Semi-supervised training of a compiled classifier by pseudo-labeling.

    >>> labeler = PseudoLabeler(model, threshold=0.95)
    >>> labeler.fit(x_labeled, y_labeled, x_unlabeled, epochs=30, retrain_epochs=3)
    >>> labeler.mask_.sum()          # how many unlabeled samples got a pseudo-label
    >>> labeler.predict(x_test)

    The model's last layer must output probabilities: softmax over the
    classes, or a single sigmoid unit for two classes (its top probability
    is max(p, 1 − p)).  Labels may be integers, shape (N,) or (N, 1), or
    one-hot rows (N, classes); the pseudo-labels come in the same form.

    Args:
        model: a compiled fastnn model; PseudoLabeler trains it in place.
        threshold: the top probability a prediction needs to become a
            pseudo-label, in (0, 1].  1.0 keeps only predictions that are
            certain to float32 precision.
        warm_start: True (default) trains step 3 on from the weights and
            optimizer state step 1 ended with, as a second ``fit`` call
            would; False starts step 3 from the weights the model had before
            step 1, with a fresh optimizer, so both steps learn from the
            same starting point.

    Attributes (after ``fit``):
        pseudo_labels_: the predicted label of every unlabeled sample
            (argmax), confident or not, in the form of ``y_labeled``.
        confidence_: each unlabeled sample's top probability, shape (N,).
        mask_: bool (N,), True where confidence_ >= threshold: the samples
            step 3 trained on.
        history_: {"labeled": History of step 1, "combined": History of
            step 3}.
    """

    def __init__(self, model, threshold=0.95, warm_start=True):
        if not all(hasattr(model, name) for name in ("fit", "predict", "layers")):
            raise TypeError(f"PseudoLabeler: expected a fastnn model, got {model!r}")
        if (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
                or not 0 < threshold <= 1):
            raise ValueError(f"PseudoLabeler: threshold must be a number in (0, 1], "
                             f"got {threshold!r}")
        if not isinstance(warm_start, bool):
            raise TypeError(f"PseudoLabeler: warm_start must be True or False, "
                            f"got {warm_start!r}")
        self.model = model
        self.threshold = float(threshold)
        self.warm_start = warm_start

    def fit(self, x_labeled, y_labeled, x_unlabeled, retrain_epochs=None, **fit_kwargs):
        """Steps 1-3 above.

        Args:
            x_labeled, y_labeled: the labeled samples and their labels.
            x_unlabeled: samples without labels (same sample shape).
            retrain_epochs: epochs of step 3; default: those of step 1.
                The combined data set is usually far larger than the
                labeled one, so it needs fewer passes.
            **fit_kwargs: for both ``model.fit`` calls: epochs, batch_size,
                verbose, validation_data, callbacks, ...

        Returns:
            self.
        """
        refused = sorted(set(fit_kwargs) & set(_REFUSED_FIT_ARGUMENTS))
        if refused:
            raise ValueError(f"PseudoLabeler.fit: {refused[0]}= is not supported: "
                             f"{_REFUSED_FIT_ARGUMENTS[refused[0]]}")
        if getattr(self.model, "optimizer", None) is None or self.model.loss is None:
            raise RuntimeError("PseudoLabeler: compile the model first: "
                               "model.compile(optimizer, loss, metrics)")
        x_labeled, y_labeled, x_unlabeled = _checked_data(x_labeled, y_labeled, x_unlabeled)
        if not self.model.built:
            self.model.build((None,) + x_labeled.shape[1:])
        one_unit = _probability_outputs(self.model)
        if not self.warm_start:
            initial_weights = self.model.get_weights()

        self.history_ = {"labeled": self.model.fit(x_labeled, y_labeled, **fit_kwargs)}

        probabilities = self.model.predict(x_unlabeled, batch_size=fit_kwargs.get("batch_size"))
        if one_unit:
            positive = probabilities[:, 0]
            self.confidence_ = np.maximum(positive, 1 - positive)
            classes = (positive >= 0.5).astype(np.int64)
        else:
            self.confidence_ = probabilities.max(axis=1)
            classes = probabilities.argmax(axis=1)
        self.mask_ = self.confidence_ >= self.threshold
        self.pseudo_labels_ = _labels_like(y_labeled, classes, probabilities.shape[1])

        if not self.warm_start:
            self.model.set_weights(initial_weights)
            optimizer = self.model.optimizer
            self.model.optimizer = type(optimizer).from_config(optimizer.get_config())
        x_combined = np.concatenate([x_labeled, x_unlabeled[self.mask_]])
        y_combined = np.concatenate([y_labeled, self.pseudo_labels_[self.mask_]])
        if retrain_epochs is not None:
            fit_kwargs["epochs"] = retrain_epochs
        self.history_["combined"] = self.model.fit(x_combined, y_combined, **fit_kwargs)
        return self

    def predict(self, x, **predict_kwargs):
        """The model's predictions (``model.predict``)."""
        return self.model.predict(x, **predict_kwargs)

    def __repr__(self):
        return (f"PseudoLabeler(model={self.model!r}, threshold={self.threshold}, "
                f"warm_start={self.warm_start})")


def _checked_data(x_labeled, y_labeled, x_unlabeled):
    """The three arrays, with matching lengths and sample shapes, or ValueError."""
    arrays = []
    for name, value in (("x_labeled", x_labeled), ("y_labeled", y_labeled),
                        ("x_unlabeled", x_unlabeled)):
        array = real_array(value, f"PseudoLabeler: {name}")
        if array.ndim == 0 or len(array) == 0:
            raise ValueError(f"PseudoLabeler: {name} is empty")
        arrays.append(array)
    x_labeled, y_labeled, x_unlabeled = arrays
    if len(x_labeled) != len(y_labeled):
        raise ValueError(f"PseudoLabeler: x_labeled has {len(x_labeled)} samples but "
                         f"y_labeled has {len(y_labeled)} labels")
    if x_unlabeled.shape[1:] != x_labeled.shape[1:]:
        raise ValueError(f"PseudoLabeler: the samples of x_unlabeled have shape "
                         f"{x_unlabeled.shape[1:]}, those of x_labeled {x_labeled.shape[1:]}")
    return (x_labeled.astype(np.float32, copy=False), y_labeled,
            x_unlabeled.astype(np.float32, copy=False))


def _probability_outputs(model):
    """True for one sigmoid unit, False for softmax; ValueError for anything else."""
    activation = getattr(model.layers[-1], "activation", None)
    name = getattr(activation, "name", None)
    units = model.output_shape[-1]
    if name == "softmax" and units > 1:
        return False
    if name == "sigmoid" and units == 1:
        return True
    raise ValueError(f"PseudoLabeler: the model's last layer must output class probabilities "
                     f"(softmax over the classes, or one sigmoid unit for two classes); "
                     f"it has activation {name!r} with {units} unit(s)")


def _labels_like(y_labeled, classes, num_classes):
    """Class indices in the form of y_labeled: one-hot rows or integer labels."""
    if y_labeled.ndim == 2 and y_labeled.shape[1] > 1:   # fit checked the length
        return to_categorical(classes, num_classes, dtype=y_labeled.dtype)
    return classes.astype(y_labeled.dtype).reshape((-1,) + y_labeled.shape[1:])
