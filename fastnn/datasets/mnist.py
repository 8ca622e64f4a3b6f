"""MNIST: 70,000 28x28 grayscale images of handwritten digits 0..9.

Like ``keras.datasets.mnist``::

    (x_train, y_train), (x_test, y_test) = fastnn.datasets.mnist.load_data()

The folder holding the four IDX files is the first complete one of: the
``path`` argument (if given, only it); ``$FASTNN_DATASETS/mnist/``; the cache
``~/.fastnn/datasets/mnist/``.  No Debian package ships MNIST, so failing
these the files are downloaded from ``BASE_URL`` into the cache (pass
``download=False`` to forbid that).
"""
from __future__ import annotations

from . import _files
from ._files import ENV_VAR, FILES, load_idx_dataset

__all__ = ["BASE_URL", "ENV_VAR", "FILES", "NAME", "SHA256", "load_data"]

NAME = "mnist"
BASE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"

#: SHA-256 of the decompressed content of each file, or None.  The MNIST
#: checksums could not be computed offline (no local copy of MNIST), so none
#: are pinned: a download is accepted if each file is non-empty and a valid
#: gzip-compressed IDX file (load_data then checks shapes, dtypes and labels).
SHA256 = {f: None for f in FILES}


def load_data(path=None, *, download=True):
    """Return ``((x_train, y_train), (x_test, y_test))``.

    x: uint8 arrays of shape (60000, 28, 28) and (10000, 28, 28), pixels 0..255.
    y: uint8 arrays of shape (60000,) and (10000,), digits 0..9.

    Raises FileNotFoundError (with the fix) if the files are not found and
    cannot be downloaded, and ValueError if a file is damaged or images and
    labels disagree.
    """
    return load_idx_dataset(
        path, name=NAME, title="MNIST", system_dir=None,
        base_url=BASE_URL, sha256=SHA256, download=download,
        how_to_get=("MNIST has no Debian/Ubuntu package: download the four files from "
                    f"{BASE_URL} and put them in ${ENV_VAR}/{NAME}/ or "
                    f"{_files.cache_dir(NAME)}/ (~/.fastnn/datasets/mnist/), "
                    "or call load_data(path=folder)."))
