"""utils: one-hot encoding (course, chapter 18) and set_random_seed."""
import random

import numpy as np
import pytest

from fastnn import random as fastnn_random
from fastnn import utils


def test_course_one_hot_example():
    # cat = 0, dog = 1, turtle = 2, llama = 3
    np.testing.assert_array_equal(utils.to_categorical([0, 1, 2, 3]), np.eye(4))
    np.testing.assert_array_equal(utils.to_categorical([1]), [[0, 1]])  # dog among two classes


@pytest.mark.parametrize("labels, num_classes, shape", [
    (np.array([2, 0, 1]), None, (3, 3)),
    (np.array([[2], [0], [1]]), None, (3, 3)),             # trailing axis of 1 dropped
    (np.array([[2, 0], [1, 1]]), 5, (2, 2, 5)),
    (np.array(3), None, (4,)),
    (np.array([1.0, 0.0]), 2, (2, 2)),                    # float labels are cast
    (np.zeros((0,), int), 3, (0, 3)),
])
def test_shapes_and_hot_positions(labels, num_classes, shape):
    one_hot = utils.to_categorical(labels, num_classes)
    assert one_hot.shape == shape and one_hot.dtype == np.float32
    flat = np.asarray(labels).reshape(-1).astype(int)
    np.testing.assert_array_equal(one_hot.reshape(-1, shape[-1]).argmax(axis=1), flat)
    np.testing.assert_array_equal(one_hot.sum(axis=-1), np.ones(shape[:-1]))


def test_dtype():
    assert utils.to_categorical([0, 1], dtype="int64").dtype == np.int64


@pytest.mark.parametrize("labels, num_classes, message", [
    ([0, 3], 3, "0..2"),
    ([-1, 0], None, "got -1"),
    ([0, 1], 0, "positive int"),
    ([0, 1], 2.5, "positive int"),
    ([], None, "num_classes"),
])
def test_invalid_labels_raise(labels, num_classes, message):
    with pytest.raises(ValueError, match=message):
        utils.to_categorical(labels, num_classes)


def test_set_random_seed_reseeds_all_three_generators():
    def draw():
        return (fastnn_random.generator().random(), random.random(), np.random.random())

    utils.set_random_seed(1234)
    first = draw()
    utils.set_random_seed(1234)
    assert draw() == first
    utils.set_random_seed(1235)
    assert all(a != b for a, b in zip(draw(), first))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "1", True])
def test_set_random_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        utils.set_random_seed(seed)
