"""tf.keras 2's HDF5 files: ``model.save("m.h5")`` and ``save_weights("w.h5")``.

The format of the course's era, which tf.keras 2, Keras 3 and many tools
read.  A model file holds::

    /                       attrs: model_config (JSON: keras_layers.keras2_config),
    |                              training_config (JSON, when the compile settings map),
    |                              keras_version, backend
    └── model_weights       attrs: layer_names ["conv2d", "max_pooling2d", "dense", ...]
        ├── conv2d          attrs: weight_names ["conv2d/kernel:0", "conv2d/bias:0"]
        │   └── conv2d
        │       ├── kernel:0    float32 (kh, kw, in, out)
        │       └── bias:0      float32 (out,)
        ├── max_pooling2d   attrs: weight_names []
        └── ...

A weights file (``save_weights``) is the ``model_weights`` group alone, at
the root.  Arrays are in Keras's layouts, which are fastnn's; each layer's
in ``weight_names`` order, which is ``get_weights`` order (trainable
weights first, as Keras requires).  ``keras_version`` is the fastnn
version that wrote the file and ``backend`` is "fastnn", as in
``model.to_json()``.  The optimizer's state is not written
(``keras_training``).

Reading takes files of tf.keras 2 and of Keras 3 (whose ``model.save("m.h5")``
writes this format too, with its own layer descriptions and weight names
like "sequential/dense/kernel"): layers are matched by order, as Keras
does, and every array is checked against the shape the model gives it.
"""
import json

from .._version import __version__
from ..atomic_write import atomic_write
from ..models.config import BACKEND
from . import hdf5
from .keras_layers import fastnn_config, keras2_config
from .keras_training import fastnn_compile_settings, keras_compile_config


def save_model(model, filepath):
    h5py = hdf5.import_h5py(f"saving {filepath} in Keras's HDF5 format")
    attrs = {"model_config": keras2_config(model)}
    training = keras_compile_config(model, keras3=False, filepath=filepath)
    if training is not None:
        attrs["training_config"] = training

    def fill(h5):
        _write_text(h5, {key: json.dumps(value) for key, value in attrs.items()})
        write_weights(h5.create_group("model_weights"), model)
    _write(h5py, filepath, fill)


def save_weights(model, filepath):
    h5py = hdf5.import_h5py(f"saving {filepath} in Keras's HDF5 format")
    _write(h5py, filepath, lambda h5: write_weights(h5, model))


def _write(h5py, filepath, fill):
    with atomic_write(filepath) as f:
        f.write(hdf5.image(h5py, fill))


def _write_text(node, attrs):
    """``attrs`` and fastnn's version as UTF-8 byte-string attributes (as tf.keras 2 wrote them)."""
    for key, value in {**attrs, "keras_version": __version__, "backend": BACKEND}.items():
        node.attrs[key] = value.encode("utf-8")


def write_weights(group, model):
    """Every layer's arrays into ``group``, named as tf.keras 2 names them."""
    hdf5.write_strings(group, "layer_names", [layer.name for layer in model.layers])
    _write_text(group, {})
    for layer in model.layers:
        names = [f"{layer.name}/{variable.name}:0" for variable in layer.variables]
        layer_group = group.create_group(layer.name)
        hdf5.write_strings(layer_group, "weight_names", names)
        for name, variable in zip(names, layer.variables):
            layer_group.create_dataset(name, data=variable.value)


# ---- reading -------------------------------------------------------------------------------

def load_model(filepath, compile=True):
    """(fastnn config, weight arrays, compile settings or None) of the model file;
    no settings unless ``compile``."""
    h5py = hdf5.import_h5py(f"reading {filepath} (Keras's HDF5 format)")
    with hdf5.open_for_reading(h5py, filepath, filepath) as h5:
        text = hdf5.text(h5, "model_config", filepath)
        if text is None:
            raise ValueError(f"{filepath}: this HDF5 file holds no model_config: it is a "
                             f"weights file (save_weights); build the model and call "
                             f"model.load_weights({str(filepath)!r})")
        keras3 = _written_by_keras3(h5, filepath)
        config = fastnn_config(_json(text, "model_config", filepath), keras3, filepath)
        weights = read_weights(hdf5.child(h5, "model_weights", "group", filepath), filepath)
        training = hdf5.text(h5, "training_config", filepath)
        settings = (None if training is None or not compile else fastnn_compile_settings(
            _json(training, "training_config", filepath), False, filepath))
    return config, weights, settings


def is_tf_keras2(h5):
    """Whether the open HDF5 file is in this format: a model file (``model_weights``)
    or a weights file (``layer_names`` at the root), not Keras 3's weights file."""
    return "model_weights" in h5 or _has_layer_names(h5)


def _has_layer_names(group):
    return "layer_names" in group.attrs or "layer_names0" in group.attrs


def load_weights(h5, filepath):
    """The arrays of a weights file (its root) or a model file (``model_weights``)."""
    group = h5
    if not _has_layer_names(h5) and "model_weights" in h5:
        group = hdf5.child(h5, "model_weights", "group", filepath)
    return read_weights(group, filepath)


def read_weights(group, filepath):
    """All arrays of the layers named in ``layer_names``, in order."""
    if not _has_layer_names(group):
        raise ValueError(f"{filepath}: {group.name!r} has no layer_names: not the weights "
                         f"of a Keras model")
    arrays = []
    for name in hdf5.strings(group, "layer_names", filepath):
        layer_group = hdf5.child(group, name, "group", filepath)
        for weight in hdf5.strings(layer_group, "weight_names", filepath):
            arrays.append(hdf5.array(hdf5.child(layer_group, weight, "dataset", filepath),
                                     filepath))
    if "top_level_model_weights" in group and hdf5.strings(
            hdf5.child(group, "top_level_model_weights", "group", filepath),
            "weight_names", filepath):
        raise ValueError(f"{filepath}: the model has weights of its own outside its layers; "
                         f"fastnn's Sequential models keep every weight in a layer")
    return arrays


def _written_by_keras3(h5, filepath):
    version = hdf5.text(h5, "keras_version", filepath) or ""
    return hdf5.text(h5, "backend", filepath) != BACKEND and version.startswith("3.")


def _json(text, what, filepath):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{filepath}: attribute {what} is not JSON text ({err})") from None
