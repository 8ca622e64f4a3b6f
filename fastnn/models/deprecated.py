"""``predict_classes`` and ``predict_proba``: tf.keras 2.0–2.5 had them, 2.6 removed them.

Tutorials of that time call them, so fastnn keeps them, computed as
tf.keras 2 did, and each call warns (DeprecationWarning) with the line of
code that replaces it.  A softmax output gives the most probable class::

    classes = np.argmax(model.predict(x), axis=-1)                # (n,)

and one sigmoid unit gives 1 where the probability is above 0.5::

    classes = (model.predict(x) > 0.5).astype("int32")           # (n, 1)
"""
import warnings


_ARGMAX = "np.argmax(model.predict(x), axis=-1)"
_THRESHOLD = '(model.predict(x) > 0.5).astype("int32")'


def _deprecated(old, new):
    warnings.warn(f"{old} is deprecated (tf.keras 2.6 removed it); use {new} instead",
                  DeprecationWarning, stacklevel=3)


def predict_classes(model, x, batch_size, verbose):
    """The class of each sample: argmax over the last axis, or for a single
    output unit (p > 0.5) as int32 of shape (n, 1)."""
    probabilities = model.predict(x, batch_size=batch_size, verbose=verbose)
    if probabilities.shape[-1] > 1:
        _deprecated("model.predict_classes(x)", _ARGMAX)
        return probabilities.argmax(axis=-1)
    _deprecated("model.predict_classes(x)", _THRESHOLD)
    return (probabilities > 0.5).astype("int32")


def predict_proba(model, x, batch_size, verbose):
    """``model.predict(x)``; warns also when the outputs are not probabilities
    (outside [0, 1]: the last layer has no softmax or sigmoid)."""
    _deprecated("model.predict_proba(x)", "model.predict(x)")
    probabilities = model.predict(x, batch_size=batch_size, verbose=verbose)
    if probabilities.size and (probabilities.min() < 0.0 or probabilities.max() > 1.0):
        warnings.warn("Network returning invalid probability values. The last layer might "
                      "not normalize predictions into probabilities (like softmax or sigmoid "
                      "would).", UserWarning, stacklevel=3)
    return probabilities
