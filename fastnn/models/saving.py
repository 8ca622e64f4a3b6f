"""model.save / load_model's files: one file, no pickle, written atomically.

The file's name chooses its format when writing, its content when reading:

- ``.h5`` / ``.hdf5``: tf.keras 2's HDF5 file (``fastnn.io.keras_h5``);
- ``.keras``: Keras 3's zip (``fastnn.io.keras_v3``);
- any other name: fastnn's own format, below, the one that also keeps the
  optimizer's state.

``save_weights`` writes Keras 3's weights file for names ending in
``.weights.h5`` (the name Keras 3 asks for), tf.keras 2's for other ``.h5``
names.  Both Keras formats need h5py (``pip install fastnn[keras]``):
without it they raise an ImportError and write nothing.  ``load_model``
(``rebuild.py``, through ``read_model``) reads Keras's own files as well,
for Sequential models of the layers fastnn has (``fastnn.io.keras_layers``).

fastnn's own file is a zip archive of ``.npy`` arrays (what ``np.savez`` writes)
holding:

- ``fastnn_format``: the format version (``FORMAT_VERSION``), one integer;
- ``model_config``: the architecture as JSON text (stored as uint8 bytes):
  ``model.get_config()``, tf.keras 2's layout (see ``config.py``);
- ``weight_00000`` ...: every weight array in ``get_weights`` order;
- ``compile_config`` and ``optimizer_00000`` ...: the loss, metrics,
  optimizer settings and its state, so training resumes where it stopped.

Writing goes through ``fastnn.atomic_write``: a crash or a kill mid-write
leaves the previous file intact (and at most a stray ``.fastnn-*.tmp``).

Reading trusts nothing, starting with the path: it must be a regular file
(``fastnn.regular_file``: from ``/dev/zero`` or a FIFO a read would never
end), and its first bytes must be those of a zip archive.  Each member is
read whole (so the zip checksum is verified) and decoded by hand from its
``.npy`` header: only plain numeric arrays are accepted -- an object array,
which NumPy would unpickle, is refused before anything is decoded, so a
file can never run code -- and the declared shape must match the bytes
actually present, so a lying header cannot make us allocate terabytes.
The architecture is then checked against the stored weights *while* the
layers are built: a weight whose configured shape differs from the stored
array (``Dense(units=10**12)`` in a tampered config) is refused before it
is allocated.  Every problem is a ``ValueError`` naming the file and what
is wrong with it (a path that does not exist or may not be read raises
the ``OSError`` of opening it: FileNotFoundError, PermissionError).
"""
import contextlib
import io
import json
import os
import tokenize
import zipfile
import zlib

import numpy as np

from ..atomic_write import atomic_write
from ..io import hdf5, keras_h5, keras_v3
from ..regular_file import open_regular_file
from .config import sequential_from_config

FORMAT_VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"

# Numbers only: bool, signed and unsigned integers, floats.
_NUMERIC_KINDS = "biuf"
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}


def _text(value):
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def _read_text(arrays, key):
    data = arrays[key]
    if data.dtype != np.uint8 or data.ndim != 1:
        raise TypeError(f"{key} must be a 1-D uint8 array of JSON text, "
                        f"got {data.dtype} of shape {data.shape}")
    return json.loads(data.tobytes().decode("utf-8"))


def _numbered(prefix, arrays):
    return {f"{prefix}_{i:05d}": np.asarray(a) for i, a in enumerate(arrays)}


def _read_numbered(arrays, prefix):
    keys = sorted(k for k in arrays if k.startswith(prefix + "_"))
    return [arrays[k] for k in keys]


def _write(filepath, arrays):
    with atomic_write(filepath) as f:
        np.savez(f, **arrays)


# ---- reading -------------------------------------------------------------------------------

def _decode_npy(name, data):
    """The numeric array held by the bytes ``data`` of one ``.npy`` member."""
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    if version not in _NPY_HEADER_READERS:
        raise ValueError(f"member {name}: unsupported .npy version {version}")
    try:
        shape, fortran_order, dtype = _NPY_HEADER_READERS[version](f)
    except (SyntaxError, tokenize.TokenError, TypeError) as err:
        # NumPy parses the header (a Python dict literal) with tokenize and
        # ast.literal_eval, whose errors on garbage are not all ValueErrors
        raise ValueError(f"member {name}: unreadable .npy header ({err!r})") from None
    if dtype.hasobject:
        raise ValueError(f"member {name} holds Python objects (dtype {dtype}), which would "
                         f"have to be unpickled; fastnn files hold plain numbers only")
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype:
        raise ValueError(f"member {name} has dtype {dtype}; fastnn files hold only plain "
                         f"real numbers (bool, integer, float)")
    count = 1
    for n in shape:   # Python ints: no overflow, however large the header claims
        count *= n
    declared, present = count * dtype.itemsize, len(data) - f.tell()
    if declared != present:
        raise ValueError(f"member {name}: its header declares shape {shape} of {dtype} "
                         f"({declared:,} bytes), but it holds {present:,} bytes")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=f.tell())
    return flat.reshape(shape, order="F" if fortran_order else "C").copy()


def _read_member(archive, info):
    if not info.filename.endswith(".npy"):
        raise ValueError(f"unexpected member {info.filename!r} (only .npy arrays belong here)")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"member {info.filename} is compressed; fastnn writes (and reads) "
                         f"uncompressed members only")
    return _decode_npy(info.filename, archive.read(info))   # read() checks the CRC


def _check_magic(f, filepath):
    """A fastnn file is a zip archive written by ``np.savez``: it starts with
    a zip member's header, ``PK\\x03\\x04``.  Checked first, so a file of
    another kind is named as such (zipfile would begin at the file's end,
    looking for the archive's table of contents).  Keras's files are told
    apart before this (``load_model``)."""
    start = f.read(len(_ZIP_MAGIC))
    if start != _ZIP_MAGIC:
        found = f"starts with the bytes {start.hex(' ')}" if start else "is empty"
        raise ValueError(f"{filepath}: not a fastnn model file: it {found}, but a fastnn "
                         f"model file is a zip archive and starts with "
                         f"{_ZIP_MAGIC.hex(' ')} ({_ZIP_MAGIC!r})")
    f.seek(0)


def _open(filepath):
    """The archive's arrays, checked to be a fastnn file of a known version."""
    with open_regular_file(filepath, "a fastnn model file") as f:
        _check_magic(f, filepath)
        try:
            with zipfile.ZipFile(f) as archive:
                arrays = {info.filename[:-len(".npy")]: _read_member(archive, info)
                          for info in archive.infolist()}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error,
                NotImplementedError, RuntimeError) as err:
            # a damaged zip header can claim an unsupported version or compression
            # (NotImplementedError) or encryption (RuntimeError): not a readable file either
            raise ValueError(f"{filepath}: not a readable fastnn model file "
                             f"(truncated or corrupted?): {err}") from None
    version = arrays.get("fastnn_format")
    if version is None:
        raise ValueError(f"{filepath}: not a fastnn model file (no format version)")
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{filepath}: the format version must be one integer, got "
                         f"{version.dtype} of shape {version.shape}")
    if int(version) != FORMAT_VERSION:
        raise ValueError(f"{filepath}: file format version {int(version)}, but this fastnn "
                         f"reads version {FORMAT_VERSION}")
    return arrays


@contextlib.contextmanager
def _weights_checked_against(stored, layer_list, filepath):
    """While the block builds ``layer_list``, every weight a layer creates must
    have the shape of the next array in ``stored``.  This is checked *before*
    the weight is allocated, so a tampered config cannot ask for terabytes: a
    weight of another shape is created in the stored shape instead (the file
    holds that much already) and the first mismatch is raised once the block
    ends, as is running out of stored arrays."""
    created, mismatch, exhausted = 0, None, False

    def checking(layer):
        add_weight = layer.add_weight

        def add_checked_weight(name, shape, *args, **kwargs):
            nonlocal created, mismatch, exhausted
            if created >= len(stored):
                exhausted = True
                raise ValueError(f"{filepath}: the model needs at least {created + 1} weight "
                                 f"arrays, got {len(stored)} (layer {layer.name!r} creates "
                                 f"weight {name!r} of shape {tuple(shape)})")
            expected = stored[created].shape
            if tuple(shape) != expected and mismatch is None:
                mismatch = (f"{filepath}: layer {layer.name!r}: its configuration gives "
                            f"weight {name!r} the shape {tuple(shape)}, but the file "
                            f"stores an array of shape {expected}")
            created += 1
            return add_weight(name, shape if mismatch is None else expected, *args, **kwargs)
        return add_checked_weight

    for layer in layer_list:
        layer.add_weight = checking(layer)    # shadows the method on this instance only
    try:
        yield
    except Exception:
        if mismatch is None or exhausted:   # running out of arrays is said first, as set_weights would
            raise
    finally:
        for layer in layer_list:
            del layer.add_weight
    if mismatch is not None:
        raise ValueError(mismatch)


# ---- the API -------------------------------------------------------------------------------

def _keras_writer(filepath, weights_only=False):
    """The module writing a Keras format for this file name, or None (fastnn's own)."""
    name = os.fspath(filepath).lower()
    if name.endswith(".keras") or (weights_only and name.endswith(".weights.h5")):
        return keras_v3
    if name.endswith((".h5", ".hdf5")):
        return keras_h5
    return None


def save_model(model, filepath):
    writer = _keras_writer(filepath)
    if writer is not None:
        writer.save_model(model, filepath)
        return
    arrays = {"fastnn_format": np.array(FORMAT_VERSION), "model_config": _text(model.get_config())}
    arrays.update(_numbered("weight", model.get_weights()))
    if model.optimizer is not None:
        arrays["compile_config"] = _text({
            "loss": model.loss.name,
            "metrics": [m.name for m in model.metrics],
            "optimizer": {"class_name": type(model.optimizer).__name__,
                          "config": model.optimizer.get_config()}})
        arrays.update(_numbered("optimizer", model.optimizer.state_arrays(model.trainable_variables)))
    _write(filepath, arrays)


def read_model(filepath, model_class, compile=True):
    """A ``model_class`` (``Sequential``) built as the file at ``filepath``
    describes it: what ``load_model`` (``rebuild.py``) returns.  The class is
    an argument because ``sequential.py`` imports this module for ``save``."""
    reader = keras_h5 if hdf5.is_hdf5(filepath) else (
        keras_v3 if keras_v3.is_keras_archive(filepath) else None)
    if reader is not None:
        config, stored, settings = reader.load_model(filepath, compile)
        return _built(filepath, model_class, config, stored,
                      lambda model: model.compile(**settings) if settings is not None else None)
    arrays = _open(filepath)

    def compile_as_saved(model):
        if compile and "compile_config" in arrays:
            settings = _read_text(arrays, "compile_config")
            model.compile(optimizer=settings["optimizer"], loss=settings["loss"],
                          metrics=settings["metrics"])
            model.optimizer.load_state_arrays(model.trainable_variables,
                                              _read_numbered(arrays, "optimizer"))
    return _built(filepath, model_class, lambda: _read_text(arrays, "model_config"),
                  _read_numbered(arrays, "weight"), compile_as_saved)


def _built(filepath, model_class, config, stored, compile_model):
    """The model of ``config`` (or of what ``config()`` returns) with the weights
    ``stored``, checked while it is built, then ``compile_model(model)``."""
    try:
        model = sequential_from_config(
            model_class, config() if callable(config) else config,
            building=lambda layer_list: _weights_checked_against(stored, layer_list, filepath))
        model.set_weights(stored)
        compile_model(model)
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError,
            RecursionError) as err:
        raise ValueError(f"{filepath}: the model description is incomplete or invalid: "
                         f"{err!r}") from None
    except ValueError as err:   # from a layer or the optimizer: add the file's name
        if str(filepath) in str(err):
            raise
        raise ValueError(f"{filepath}: {err}") from None
    return model


def save_weights(model, filepath):
    writer = _keras_writer(filepath, weights_only=True)
    if writer is keras_v3 and not os.fspath(filepath).lower().endswith(".weights.h5"):
        raise ValueError(f"save_weights({str(filepath)!r}): a .keras file holds a whole model; "
                         f"use model.save({str(filepath)!r}), or name the weights file "
                         f"'.weights.h5' (Keras 3) or '.h5' (tf.keras 2)")
    if writer is not None:
        writer.save_weights(model, filepath)
        return
    arrays = {"fastnn_format": np.array(FORMAT_VERSION)}
    arrays.update(_numbered("weight", model.get_weights()))
    _write(filepath, arrays)


def load_weights(model, filepath):
    """Weights saved by ``save_weights`` or ``save``: fastnn's, tf.keras 2's .h5 or
    Keras 3's .weights.h5 / .keras (matched to the layers by order, as Keras does)."""
    classes = [type(layer).__name__ for layer in model.layers]
    if keras_v3.is_keras_archive(filepath):
        arrays = keras_v3.archive_weights(filepath, classes)
    elif hdf5.is_hdf5(filepath):
        h5py = hdf5.import_h5py(f"reading {filepath} (Keras's HDF5 format)")
        with hdf5.open_for_reading(h5py, filepath, filepath) as h5:
            arrays = (keras_h5.load_weights(h5, filepath) if keras_h5.is_tf_keras2(h5)
                      else keras_v3.read_weights(h5, classes, filepath))
    else:
        arrays = _read_numbered(_open(filepath), "weight")
    model.set_weights(arrays)
