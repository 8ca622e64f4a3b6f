"""Shared loader for the MNIST-style datasets: four IDX files in one folder."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .idx import read_idx

#: The four files, in the names the original MNIST distribution uses.
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10


def find_folder(path, env_var: str, default=None) -> tuple[Path | None, str]:
    """Pick the folder: ``path`` if given, else ``$env_var`` if set, else ``default``.

    The first one *specified* wins, with no silent fallback: if you point
    fastnn at a folder, a mistake there is reported rather than masked.
    Returns the folder (None if nothing is specified) and where it came from.
    """
    if path is not None:
        return Path(path).expanduser(), "the path argument"
    value = os.environ.get(env_var, "").strip()
    if value:
        return Path(value).expanduser(), f"${env_var}"
    if default is not None:
        return Path(default), "the default location"
    return None, "nowhere"


def load_idx_dataset(path, *, name: str, env_var: str, default=None, how_to_get: str):
    """Load ``((x_train, y_train), (x_test, y_test))`` as ``keras.datasets`` does.

    ``name`` and ``how_to_get`` go into the ``FileNotFoundError`` raised when
    the files are missing (nothing is ever downloaded).
    """
    folder, origin = find_folder(path, env_var, default)
    if folder is None:
        missing_msg = f"{name} location not set (no path argument, ${env_var} unset)."
    else:
        missing = [f for f in FILES if not (folder / f).is_file()]
        if not missing:
            missing_msg = None
        elif not folder.is_dir():
            missing_msg = f"{name} folder {folder} (from {origin}) does not exist."
        else:
            missing_msg = (f"{name} files missing from {folder} (from {origin}): "
                           f"{', '.join(missing)}.")
    if missing_msg:
        raise FileNotFoundError(
            f"{missing_msg} fastnn never downloads data. To fix: {how_to_get} "
            f"The folder must hold the four files {', '.join(FILES)}.")

    x_train, y_train = _load_split(folder / FILES[0], folder / FILES[1])
    x_test, y_test = _load_split(folder / FILES[2], folder / FILES[3])
    return (x_train, y_train), (x_test, y_test)


def _load_split(images_file: Path, labels_file: Path):
    x, y = read_idx(images_file), read_idx(labels_file)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"{images_file}: expected unsigned-byte images of shape "
                         f"(N, 28, 28), got {x.dtype} of shape {x.shape}")
    if y.dtype != np.uint8 or y.ndim != 1:
        raise ValueError(f"{labels_file}: expected a 1-D array of unsigned-byte labels, "
                         f"got {y.dtype} of shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{images_file} holds {len(x)} images but {labels_file} "
                         f"holds {len(y)} labels")
    if y.size and y.max() >= NUM_CLASSES:
        i = int(np.argmax(y >= NUM_CLASSES))
        raise ValueError(f"{labels_file}: label {y[i]} at index {i} is outside "
                         f"0..{NUM_CLASSES - 1}")
    return x, y
