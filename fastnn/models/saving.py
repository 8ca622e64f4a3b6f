"""model.save / load_model: one file, no pickle, written atomically.

The file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding:

- ``fastnn_format``: the format version (``FORMAT_VERSION``);
- ``model_config``: the architecture as JSON text (stored as uint8 bytes);
- ``weight_00000`` ...: every weight array in ``get_weights`` order;
- ``compile_config`` and ``optimizer_00000`` ...: the loss, metrics,
  optimizer settings and its state, so training resumes where it stopped.

It is read with ``allow_pickle=False``, so a file can never run code when
loaded, and written to a temporary file that replaces the target only once
it is complete: a crash mid-write leaves the previous file intact.
"""
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

FORMAT_VERSION = 1


def _text(value):
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def _read_text(archive, key):
    return json.loads(bytes(archive[key]).decode("utf-8"))


def _write_atomically(filepath, arrays):
    filepath = os.fspath(filepath)
    folder = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        os.unlink(tmp)
        raise


def _numbered(prefix, arrays):
    return {f"{prefix}_{i:05d}": np.asarray(a) for i, a in enumerate(arrays)}


def _read_numbered(archive, prefix):
    keys = sorted(k for k in archive if k.startswith(prefix + "_"))
    return [archive[k] for k in keys]


def _open(filepath):
    """The archive's arrays, checked to be a fastnn file of a known version."""
    try:
        with np.load(os.fspath(filepath), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, zlib.error,
            NotImplementedError, RuntimeError) as err:
        # a damaged zip header can claim an unsupported version or compression
        # (NotImplementedError) or encryption (RuntimeError): not a readable file either
        raise ValueError(f"{filepath}: not a readable fastnn model file "
                         f"(truncated or corrupted?): {err}") from None
    if "fastnn_format" not in arrays:
        raise ValueError(f"{filepath}: not a fastnn model file (no format version)")
    version = int(arrays["fastnn_format"])
    if version != FORMAT_VERSION:
        raise ValueError(f"{filepath}: file format version {version}, but this fastnn "
                         f"reads version {FORMAT_VERSION}")
    return arrays


def save_model(model, filepath):
    arrays = {"fastnn_format": np.array(FORMAT_VERSION), "model_config": _text(model.get_config())}
    arrays.update(_numbered("weight", model.get_weights()))
    if model.optimizer is not None:
        arrays["compile_config"] = _text({
            "loss": model.loss.name,
            "metrics": [m.name for m in model.metrics],
            "optimizer": {"class_name": type(model.optimizer).__name__,
                          "config": model.optimizer.get_config()}})
        arrays.update(_numbered("optimizer", model.optimizer.state_arrays(model.trainable_variables)))
    _write_atomically(filepath, arrays)


def load_model(filepath, compile=True):
    """The model saved at ``filepath``: same architecture, weights and (if
    compiled) loss, metrics and optimizer state."""
    from .. import layers
    from .sequential import Sequential

    arrays = _open(filepath)
    try:
        config = _read_text(arrays, "model_config")
        model = Sequential(name=config["name"])
        for spec in config["layers"]:
            model.add(layers.get(spec["class_name"]).from_config(spec["config"]))
        if config["batch_input_shape"] is not None:
            model.build(tuple(config["batch_input_shape"]))
        model.set_weights(_read_numbered(arrays, "weight"))
        if compile and "compile_config" in arrays:
            settings = _read_text(arrays, "compile_config")
            model.compile(optimizer=settings["optimizer"], loss=settings["loss"],
                          metrics=settings["metrics"])
            model.optimizer.load_state_arrays(model.trainable_variables,
                                              _read_numbered(arrays, "optimizer"))
    except (KeyError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(f"{filepath}: the model description is incomplete or invalid: "
                         f"{err!r}") from None
    return model


def save_weights(model, filepath):
    arrays = {"fastnn_format": np.array(FORMAT_VERSION)}
    arrays.update(_numbered("weight", model.get_weights()))
    _write_atomically(filepath, arrays)


def load_weights(model, filepath):
    model.set_weights(_read_numbered(_open(filepath), "weight"))
