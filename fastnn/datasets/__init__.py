"""Datasets, mirroring ``keras.datasets``: ``load_data()`` returns
``((x_train, y_train), (x_test, y_test))`` as NumPy arrays.

Each loader reads IDX files from a local folder, downloading them into the
cache ~/.fastnn/datasets/<name>/ only if no local copy is found (see
its module docstring), and ``fastnn.datasets.idx`` explains and reads the
IDX format itself.
"""
from . import fashion_mnist, idx, mnist

__all__ = ["fashion_mnist", "idx", "mnist"]
