"""Shared loader for the MNIST-style datasets: four IDX files in one folder.

``load_data()`` looks for the four files in these folders, in order, and uses
the first folder that holds all four (an incomplete folder is skipped):

1. the ``path`` argument -- if given, only it is tried;
2. ``$FASTNN_DATASETS/<name>/``;
3. ``~/.fastnn/datasets/<name>/`` (the download cache);
4. a system folder, if the dataset has one (Fashion-MNIST:
   ``/usr/share/datasets/fashion-mnist/`` from the Debian/Ubuntu package
   ``dataset-fashion-mnist``);
5. otherwise (unless ``download=False``) the files are downloaded into the
   cache, verified, and only then moved into place.
"""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ..atomic_write import commit, flush_to_disk, open_temporary, remove_quietly
from ..regular_file import kind
from .idx import MAX_BYTES, _gunzip, parse_idx, read_idx

#: The four files, in the names the original MNIST distribution uses.
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: ``$FASTNN_DATASETS/<name>/`` is searched before the cache.
ENV_VAR = "FASTNN_DATASETS"

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_DOWNLOAD_CHUNK = 1 << 16


def cache_dir(name: str) -> Path:
    """``~/.fastnn/datasets/<name>/``, where downloads go."""
    return Path.home() / ".fastnn" / "datasets" / name


def candidate_folders(name: str, system_dir=None) -> list[tuple[Path, str]]:
    """The folders searched when no ``path`` is given, with where each comes from."""
    folders = []
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        folders.append((Path(value).expanduser() / name, f"${ENV_VAR}/{name}"))
    folders.append((cache_dir(name), "the cache"))
    if system_dir is not None:
        folders.append((Path(system_dir), "the system folder"))
    return folders


def _missing(folder: Path) -> list[str]:
    """The files not in ``folder``: only regular files count (``read_idx``
    refuses the rest, and a FIFO or a device is never opened)."""
    return [f for f in FILES if not (folder / f).is_file()]


def _what_is_there(folder: Path, names) -> list[str]:
    """Each name, with what is there instead of a file if something is."""
    return [f"{name} ({kind((folder / name).stat().st_mode)}, not a file)"
            if (folder / name).exists() else name for name in names]


def load_idx_dataset(path, *, name: str, title: str, system_dir=None, base_url: str,
                     sha256: dict | None, download: bool, how_to_get: str):
    """Load ``((x_train, y_train), (x_test, y_test))`` as ``keras.datasets`` does.

    ``name`` is the folder name (``"fashion-mnist"``), ``title`` the name shown
    in messages, ``how_to_get`` the fix put in the ``FileNotFoundError``.
    """
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            problem = (f"is {kind(folder.stat().st_mode)}, not a folder" if folder.exists()
                       else "does not exist")
            raise FileNotFoundError(f"{title} folder {folder} (the path argument) {problem}. "
                                    f"It must hold the four files {', '.join(FILES)}.")
        missing = _missing(folder)
        if missing:
            raise FileNotFoundError(f"{title} files missing from {folder} (the path argument): "
                                    f"{', '.join(_what_is_there(folder, missing))}.")
        return _load_folder(folder)

    candidates = candidate_folders(name, system_dir)
    for folder, _origin in candidates:
        if folder.is_dir() and not _missing(folder):
            return _load_folder(folder)

    searched = "; ".join(f"{folder} ({origin})" for folder, origin in candidates)
    advice = (f"{title} not found: no complete set of the four files "
              f"{', '.join(FILES)} in {searched}.")
    if not download:
        raise FileNotFoundError(f"{advice} Downloading is disabled (download=False). "
                                f"To fix: {how_to_get}")
    cache = cache_dir(name)
    try:
        download_files(base_url, cache, sha256=sha256)
    except (urllib.error.URLError, OSError) as e:
        raise FileNotFoundError(f"{advice} Downloading from {base_url} failed ({e}). "
                                f"To fix: {how_to_get}") from e
    return _load_folder(cache)


def download_files(base_url: str, folder, *, files=FILES, sha256: dict | None = None,
                   timeout: float = 30.0) -> None:
    """Download ``base_url + f`` for each missing file ``f`` into ``folder``.

    All files are first downloaded to temporary files in ``folder`` and checked:
    each must be a valid gzip-compressed IDX file and, if ``sha256`` has an entry
    for it, the SHA-256 of its *decompressed* content must match.  Only when all
    pass are they moved into place (``fastnn.atomic_write.commit``: an atomic
    rename); on any error the temporary files are removed and nothing is left
    behind.  A process killed mid-download leaves every file either absent or
    complete, plus a stray ``.fastnn-*.tmp`` that no loader looks at.

    Raises ``ValueError`` on a bad file or checksum, ``urllib.error.URLError``
    or ``OSError`` if the server cannot be reached.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    todo = [f for f in files if not (folder / f).is_file()]
    temps: dict[str, str] = {}
    try:
        for fname in todo:
            out, tmp = open_temporary(folder)
            temps[fname] = tmp
            with out:
                _fetch(base_url.rstrip("/") + "/" + fname, out, timeout)
                flush_to_disk(out)
            _verify(tmp, fname, (sha256 or {}).get(fname))
        for fname, tmp in temps.items():
            commit(tmp, folder / fname)
        temps.clear()
    finally:
        for tmp in temps.values():
            remove_quietly(tmp)
        if created:
            try:
                folder.rmdir()  # only succeeds if we left it empty
            except OSError:
                pass


def _fetch(url: str, out, timeout: float) -> None:
    """Copy ``url`` into the open file ``out``, with a progress line on stderr."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        while True:
            chunk = response.read(_DOWNLOAD_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            of = f" of {total / 1e6:.1f}" if total else ""
            print(f"\rDownloading {url}: {done / 1e6:.1f}{of} MB", end="", file=sys.stderr)
        print(file=sys.stderr)


def _verify(tmp: str, fname: str, expected: str | None) -> None:
    """ValueError unless ``tmp`` is a gzip-compressed IDX file with the expected SHA-256."""
    if os.path.getsize(tmp) == 0:
        raise ValueError(f"downloaded {fname} is empty")
    with open(tmp, "rb") as f:
        data = _gunzip(f, fname, MAX_BYTES)
    parse_idx(data, source=f"downloaded {fname}")
    if expected is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != expected.lower():
            raise ValueError(f"downloaded {fname}: SHA-256 checksum mismatch "
                             f"(expected {expected}, got {got})")


def _load_folder(folder: Path):
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
