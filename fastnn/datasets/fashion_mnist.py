"""Fashion-MNIST: 70,000 28x28 grayscale images of clothes in 10 classes.

Like ``keras.datasets.fashion_mnist``::

    (x_train, y_train), (x_test, y_test) = fastnn.datasets.fashion_mnist.load_data()

The folder holding the four IDX files is the first complete one of: the
``path`` argument (if given, only it); ``$FASTNN_DATASETS/fashion-mnist/``;
the cache ``~/.fastnn/datasets/fashion-mnist/``; ``/usr/share/datasets/fashion-mnist/``
where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs them.
Failing all of these the files are downloaded from ``BASE_URL`` into the cache
and checked against ``SHA256`` (pass ``download=False`` to forbid that).
"""
from __future__ import annotations

from . import _files
from ._files import ENV_VAR, FILES, load_idx_dataset

__all__ = ["BASE_URL", "CLASS_NAMES", "DEFAULT_DIR", "ENV_VAR", "FILES", "NAME", "SHA256",
           "load_data"]

NAME = "fashion-mnist"
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

#: SHA-256 of the *decompressed* content of each file, computed with hashlib
#: from the files of the Debian package dataset-fashion-mnist.  The content is
#: hashed, not the .gz bytes, because Debian's .gz files are recompressed
#: (their bytes differ from upstream's) while the IDX data is identical.
SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: Label i names class CLASS_NAMES[i].
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_data(path=None, *, download=True):
    """Return ``((x_train, y_train), (x_test, y_test))``.

    x: uint8 arrays of shape (60000, 28, 28) and (10000, 28, 28), pixels 0..255.
    y: uint8 arrays of shape (60000,) and (10000,), labels 0..9 (see CLASS_NAMES).

    Raises FileNotFoundError (with the fix) if the files are not found and
    cannot be downloaded, and ValueError if a file is damaged, fails its
    checksum, or images and labels disagree.
    """
    return load_idx_dataset(
        path, name=NAME, title="Fashion-MNIST", system_dir=DEFAULT_DIR,
        base_url=BASE_URL, sha256=SHA256, download=download,
        how_to_get=("on Debian/Ubuntu run `sudo apt-get install dataset-fashion-mnist` "
                    f"(it installs the files in {DEFAULT_DIR}), or put the four files in "
                    f"${ENV_VAR}/{NAME}/ or {_files.cache_dir(NAME)}/ "
                    "(~/.fastnn/datasets/fashion-mnist/), or call load_data(path=folder)."))
