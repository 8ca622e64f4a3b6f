"""Labels in the wrong form for the loss: the message says what is wrong and both fixes.

The two classic mix-ups (course, chapter 18): integer labels with
categorical_crossentropy, which needs one-hot rows, and one-hot rows with
sparse_categorical_crossentropy, which needs integer labels.  The fixes
named in the messages are checked to work, against the crossentropy formula
−mean(log p[label]) computed in float64.
"""
import re

import numpy as np
import pytest

from fastnn import losses
from fastnn.layers import Dense
from fastnn.models import Sequential
from fastnn.utils import to_categorical

pytestmark = pytest.mark.usefixtures("fresh_session")
RNG = np.random.default_rng(2)
X = RNG.normal(size=(64, 4))
LABELS = RNG.integers(0, 3, 64)


def classifier(loss):
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,), name="out")])
    model.compile("sgd", loss)
    return model


@pytest.mark.parametrize("method", ["fit", "evaluate"])
@pytest.mark.parametrize("labels", [LABELS, LABELS.reshape(64, 1)], ids=["(64,)", "(64, 1)"])
def test_integer_labels_with_categorical_crossentropy(method, labels):
    model = classifier("categorical_crossentropy")
    before = model.get_weights()
    with pytest.raises(ValueError) as error:
        getattr(model, method)(X, labels, verbose=0)
    message = str(error.value)
    for words in [f"y (shape {labels.shape})", "last layer 'out'", "needs one-hot labels",
                  "(64, 3)", "one integer label per sample", "to_categorical(y, num_classes=3)",
                  "loss='sparse_categorical_crossentropy'"]:
        assert words in message, (words, message)
    assert "(1,)" not in message and "(1, 3)" not in message    # the shapes of all of y
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_one_hot_labels_with_sparse_categorical_crossentropy(method):
    model = classifier("sparse_categorical_crossentropy")
    with pytest.raises(ValueError) as error:
        getattr(model, method)(X, to_categorical(LABELS), verbose=0)
    message = str(error.value)
    for words in ["y (shape (64, 3))", "takes integer labels", "expected (64,) or (64, 1)",
                  "one-hot labels?", "loss='categorical_crossentropy'", "y.argmax(axis=-1)"]:
        assert words in message, (words, message)


def test_the_losses_called_directly_say_the_same():
    p = np.full((5, 3), 1 / 3)
    with pytest.raises(ValueError, match=re.escape("to_categorical(y, num_classes=3)")):
        losses.categorical_crossentropy(np.zeros(5), p)
    with pytest.raises(ValueError, match=re.escape("y.argmax(axis=-1)")):
        losses.sparse_categorical_crossentropy(np.eye(3)[[0, 1, 2, 0, 1]], p)
    # other mismatches keep the plain message
    with pytest.raises(ValueError, match=re.escape("y_true of shape (5, 2) does not match "
                                                   "y_pred of shape (5, 3)")):
        losses.categorical_crossentropy(np.zeros((5, 2)), p)


def test_both_fixes_work_and_give_the_crossentropy():
    reference = classifier("categorical_crossentropy")
    probabilities = reference.predict(X).astype(np.float64)
    expected = -np.mean(np.log(probabilities[np.arange(64), LABELS]))
    one_hot = reference.evaluate(X, to_categorical(LABELS, num_classes=3), verbose=0)
    sparse = classifier("sparse_categorical_crossentropy")
    sparse.set_weights(reference.get_weights())
    assert one_hot == pytest.approx(expected, rel=1e-5)
    assert sparse.evaluate(X, LABELS, verbose=0) == pytest.approx(expected, rel=1e-5)
    sparse.fit(X, LABELS, epochs=1, verbose=0)
    reference.fit(X, to_categorical(LABELS), epochs=1, verbose=0)
