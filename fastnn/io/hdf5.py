"""HDF5 through the optional h5py: importing it, and reading a file that may lie.

Keras keeps its arrays in HDF5, a file of nested groups (like folders)
holding datasets (arrays), each with attributes (small named values).  An
HDF5 file can also hold links to other files and to other places in itself,
compressed datasets, and datasets of strings or Python objects.  fastnn
reads only what a Keras model file is made of: groups reached by ordinary
(hard) links, uncompressed numeric datasets and string attributes.
Anything else is a ``ValueError`` naming the file and the path inside it.

h5py is optional: ``import_h5py`` says how to install it, and it is
imported before a file is opened, so that without it nothing is written.
"""
import io
import os

import numpy as np

from ..regular_file import open_regular_file

#: The first 8 bytes of every HDF5 file.
SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: What the ImportError suggests.
INSTALL = "pip install fastnn[keras]"


def import_h5py(purpose):
    """The h5py module, or an ImportError saying that ``purpose`` needs it."""
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{purpose} needs the h5py package (Keras keeps its arrays in "
                          f"HDF5): {INSTALL}") from None
    return h5py


def is_hdf5(filepath):
    """Whether the file at ``filepath`` starts with the HDF5 signature (False if
    unreadable; a ValueError naming it if it is not a regular file)."""
    try:
        with open_regular_file(filepath, "a fastnn model file") as f:
            return f.read(len(SIGNATURE)) == SIGNATURE
    except OSError:
        return False


def open_for_reading(h5py, source, filepath):
    """``h5py.File`` on ``source`` (a path or a binary file object), or a ValueError
    naming ``filepath`` when it is not a readable HDF5 file."""
    try:
        return h5py.File(source if not isinstance(source, (str, os.PathLike))
                         else os.fspath(source), "r")
    except OSError as err:
        raise ValueError(f"{filepath}: not a readable HDF5 file (truncated or corrupted?): "
                         f"{err}") from None


def child(parent, path, kind, filepath):
    """The group (``kind="group"``) or dataset (``kind="dataset"``) at ``path``
    below ``parent``, reached through hard links only."""
    h5py = import_h5py("reading a Keras file")
    node = parent
    parts = path.split("/")
    for depth, part in enumerate(parts):
        where = f"{node.name.rstrip('/')}/{part}"
        if not part or not isinstance(node, h5py.Group) or part not in node:
            raise ValueError(f"{filepath}: no {kind} {where!r} in the file")
        link = node.get(part, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"{filepath}: {where!r} is a {type(link).__name__}; a Keras file "
                             f"holds its groups and arrays directly, not through links")
        node = node[part]
    wanted = h5py.Group if kind == "group" else h5py.Dataset
    if not isinstance(node, wanted):
        raise ValueError(f"{filepath}: {node.name!r} is not a {kind}")
    return node


def strings(node, name, filepath):
    """The attribute ``name`` of ``node`` as a list of str (Keras's ``layer_names``,
    ``weight_names``: a string array, possibly split into ``name0``, ``name1``, ...
    when it was too large for one attribute); [] when absent."""
    attrs = node.attrs
    if name in attrs:
        chunks = [attrs[name]]
    else:
        chunks, i = [], 0
        while f"{name}{i}" in attrs:
            chunks.append(attrs[f"{name}{i}"])
            i += 1
    values = []
    for chunk in chunks:
        array = np.asarray(chunk)
        if array.size == 0:            # h5py gives an empty float array for []
            continue
        for value in array.reshape(-1):
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            if not isinstance(value, str):
                raise ValueError(f"{filepath}: attribute {name!r} of {node.name!r} must hold "
                                 f"strings, got {value!r}")
            values.append(value)
    return values


def text(node, name, filepath):
    """The attribute ``name`` as one str (JSON text, a version), or None when absent."""
    if name not in node.attrs:
        return None
    value = node.attrs[name]
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        raise ValueError(f"{filepath}: attribute {name!r} of {node.name!r} must be text, "
                         f"got {type(value).__name__}")
    return value


def array(dataset, filepath):
    """The numeric ``dataset`` as a NumPy array.

    Its bytes must lie in the file as they are (Keras never compresses):
    then reading it allocates no more than the file's size, as with
    fastnn's own format, however large a shape the file claims.  A
    compressed or external dataset, or one whose bytes were never written,
    is refused before anything is read.
    """
    if dataset.dtype.kind not in "biuf" or dataset.dtype.fields is not None:
        raise ValueError(f"{filepath}: array {dataset.name!r} has dtype {dataset.dtype}; a "
                         f"weight must hold plain real numbers")
    size = dataset.dtype.itemsize
    for n in dataset.shape:
        size *= n
    if dataset.compression or dataset.external or (
            size and dataset.id.get_storage_size() != size):
        raise ValueError(f"{filepath}: array {dataset.name!r} (shape {dataset.shape}) is not "
                         f"stored as plain bytes in the file ({dataset.id.get_storage_size():,} "
                         f"bytes stored for {size:,}); Keras writes every array uncompressed")
    return np.asarray(dataset[()])


def image(h5py, fill):
    """The bytes of a new HDF5 file made by ``fill(h5)``, built in memory (so
    that the caller can write them atomically, or into a zip)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        fill(h5)
    return buffer.getvalue()


def write_strings(node, name, values):
    """Store a list of str as Keras does: one attribute of UTF-8 byte strings."""
    node.attrs[name] = np.array([v.encode("utf-8") for v in values], dtype=bytes) \
        if values else np.array([], dtype=np.float64)
