"""MNIST: 70,000 28x28 grayscale images of handwritten digits 0..9.

Like ``keras.datasets.mnist``, but read from local files only::

    (x_train, y_train), (x_test, y_test) = fastnn.datasets.mnist.load_data()

The folder holding the four IDX files is the ``path`` argument or else the
``FASTNN_MNIST`` environment variable.  No Debian package ships MNIST, so
there is no default location: fetch the four ``*.gz`` files once yourself
(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) and point fastnn at
their folder.
"""
from __future__ import annotations

from ._files import FILES, load_idx_dataset

__all__ = ["ENV_VAR", "FILES", "load_data"]

ENV_VAR = "FASTNN_MNIST"


def load_data(path=None):
    """Return ``((x_train, y_train), (x_test, y_test))``.

    x: uint8 arrays of shape (60000, 28, 28) and (10000, 28, 28), pixels 0..255.
    y: uint8 arrays of shape (60000,) and (10000,), digits 0..9.

    Raises FileNotFoundError (with the fix) if the files are not there, and
    ValueError if a file is damaged or images and labels disagree.
    """
    return load_idx_dataset(
        path, name="MNIST", env_var=ENV_VAR,
        how_to_get=("MNIST has no Debian/Ubuntu package, so download the four files "
                    "yourself from an MNIST mirror into one folder, "
                    f"then set {ENV_VAR} to that folder or call load_data(path=folder)."))
