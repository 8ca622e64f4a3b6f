"""The zoo's data, as a course script holds it: the whole training and test sets.

Fashion-MNIST is read once by the parent process with
``fastnn.datasets.fashion_mnist.load_data()`` (the files of Debian's
``dataset-fashion-mnist``) and saved as one uncompressed ``.npz`` that each
worker loads, so PyTorch's and TensorFlow's processes never import fastnn.
The 32x32x3 nets train on random data of CIFAR-10's shape and size (50,000
training and 10,000 test images, 10 classes), the recurrent nets on random
sequences (6,400 and 640 of 50 steps x 32 features, 10 classes): the time of
a training step does not depend on the values.

Each worker turns the uint8 images into float32 in [0, 1] as the course does
(``x.astype("float32") / 255``) and keeps train and test sets to the end.
"""
import os

import numpy as np

from zoo_nets import CIFAR_SHAPED, FASHION_MNIST, INPUT_SHAPES, SEQUENCES

FASHION_MNIST_CACHE = "fashion_mnist.npz"
CIFAR_SIZES = (50_000, 10_000)
SEQUENCE_SIZES = (6_400, 640)


def save_fashion_mnist(folder):
    """Read Fashion-MNIST with fastnn (parent process only) into ``folder``."""
    from fastnn.datasets import fashion_mnist

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    np.savez(os.path.join(folder, FASHION_MNIST_CACHE), x_train=x_train, y_train=y_train,
             x_test=x_test, y_test=y_test)


def load(kind, folder, test_set=True):
    """[(x_train, y_train), (x_test, y_test)]: float32 NHWC images in [0, 1], uint8 labels.

    ``test_set=False``: the training set alone; the test set is never turned
    into float32 (only its uint8 images, a quarter of the size, come and go).
    """
    if kind == SEQUENCES:   # standard-normal values, already float32
        rng = np.random.default_rng(0)
        return [(rng.standard_normal((n, *INPUT_SHAPES[kind]), dtype=np.float32),
                 rng.integers(0, 10, n, dtype=np.uint8))
                for n in SEQUENCE_SIZES[:2 if test_set else 1]]
    if kind == FASHION_MNIST:
        with np.load(os.path.join(folder, FASHION_MNIST_CACHE)) as f:
            sets = [(f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])]
    elif kind == CIFAR_SHAPED:
        rng = np.random.default_rng(0)
        sets = [(rng.integers(0, 256, (n, *INPUT_SHAPES[kind]), dtype=np.uint8),
                 rng.integers(0, 10, n, dtype=np.uint8)) for n in CIFAR_SIZES]
    else:
        raise ValueError(f"unknown data {kind!r}; the zoo has {FASHION_MNIST!r} and "
                         f"{CIFAR_SHAPED!r}")
    return [(x.reshape(-1, *INPUT_SHAPES[kind]).astype("float32") / 255, y)
            for x, y in sets[:2 if test_set else 1]]
