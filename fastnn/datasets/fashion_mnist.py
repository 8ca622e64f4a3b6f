"""Fashion-MNIST: 70,000 28x28 grayscale images of clothes in 10 classes.

Like ``keras.datasets.fashion_mnist``, but read from local files only::

    (x_train, y_train), (x_test, y_test) = fastnn.datasets.fashion_mnist.load_data()

The folder holding the four IDX files is, in order: the ``path`` argument,
the ``FASTNN_FASHION_MNIST`` environment variable, or
``/usr/share/datasets/fashion-mnist`` where the Debian/Ubuntu package
``dataset-fashion-mnist`` installs them.
"""
from __future__ import annotations

from ._files import FILES, load_idx_dataset

__all__ = ["CLASS_NAMES", "DEFAULT_DIR", "ENV_VAR", "FILES", "load_data"]

ENV_VAR = "FASTNN_FASHION_MNIST"
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"

#: Label i names class CLASS_NAMES[i].
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_data(path=None):
    """Return ``((x_train, y_train), (x_test, y_test))``.

    x: uint8 arrays of shape (60000, 28, 28) and (10000, 28, 28), pixels 0..255.
    y: uint8 arrays of shape (60000,) and (10000,), labels 0..9 (see CLASS_NAMES).

    Raises FileNotFoundError (with the fix) if the files are not there, and
    ValueError if a file is damaged or images and labels disagree.
    """
    return load_idx_dataset(
        path, name="Fashion-MNIST", env_var=ENV_VAR, default=DEFAULT_DIR,
        how_to_get=("on Debian/Ubuntu run `sudo apt-get install dataset-fashion-mnist` "
                    f"(it installs the files in {DEFAULT_DIR}), or set {ENV_VAR} to a "
                    "folder holding the four files, or call load_data(path=folder)."))
