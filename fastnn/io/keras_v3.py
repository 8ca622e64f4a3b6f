"""Keras 3's ``.keras`` file: ``model.save("m.keras")``, ``save_weights("w.weights.h5")``.

A ``.keras`` file is a zip of three members::

    config.json        the architecture (keras_layers.keras3_config) and
                       compile_config (keras_training), when the settings map
    metadata.json      {"keras_version": ..., "date_saved": ...}
    model.weights.h5   HDF5: layers/<place>/vars/0, 1, ... in get_weights order

A weights file (``save_weights("w.weights.h5")``, the name Keras 3 asks
for) is ``model.weights.h5`` alone.  Keras 3 loads these files on JAX,
TensorFlow or PyTorch: the way from fastnn to an engine that scales
(README, "Beyond one machine").  ``keras_version`` is the fastnn version
that wrote the file, as in ``model.to_json()``.  The optimizer's state is
not written (``keras_training``).

A layer's place is not its name, which differs between two builds of one
model, but its class in snake_case, numbered in model order: dense,
conv2d, dense_1, ... (``layer_paths``).  Reading finds the weights there,
as Keras 3 does, and checks every array against the shape the model gives
it.
"""
import collections
import datetime
import io
import json
import zipfile
import zlib

from .._version import __version__
from ..atomic_write import atomic_write
from ..naming import snake_case
from ..regular_file import open_regular_file
from . import hdf5
from .keras_layers import fastnn_config, keras3_config
from .keras_training import fastnn_compile_settings, keras_compile_config

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
#: What zipfile raises on a damaged archive (a damaged header can claim an
#: unknown version or compression, or encryption).
ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
              RuntimeError)


def save_model(model, filepath):
    h5py = hdf5.import_h5py(f"saving {filepath} in Keras 3's .keras format")
    config = keras3_config(model)
    compile_config = keras_compile_config(model, keras3=True, filepath=filepath)
    if compile_config is not None:
        config["compile_config"] = compile_config
    metadata = {"keras_version": __version__,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = hdf5.image(h5py, lambda h5: write_weights(h5, model))
    with atomic_write(filepath) as f:
        with zipfile.ZipFile(f, "w") as archive:   # stored, not compressed, as Keras does
            archive.writestr(METADATA, json.dumps(metadata))
            archive.writestr(CONFIG, json.dumps(config))
            archive.writestr(WEIGHTS, weights)


def save_weights(model, filepath):
    h5py = hdf5.import_h5py(f"saving {filepath} in Keras 3's weights format")
    with atomic_write(filepath) as f:
        f.write(hdf5.image(h5py, lambda h5: write_weights(h5, model)))


#: Layers whose arrays Keras 3 keeps in their cell's group (``<layer>/cell/vars``).
CELL_LAYERS = {"SimpleRNN", "LSTM", "GRU"}


def _vars_path(path, class_name):
    return f"{path}/cell/vars" if class_name in CELL_LAYERS else f"{path}/vars"


def write_weights(h5, model):
    """Keras 3's layout: a group per layer, its arrays numbered in ``vars``."""
    paths = layer_paths([type(layer).__name__ for layer in model.layers])
    for layer, path in zip(model.layers, paths):
        if type(layer).__name__ in CELL_LAYERS:   # the layer's own (empty) group
            h5.create_group(f"{path}/vars")
        variables = h5.create_group(_vars_path(path, type(layer).__name__))
        variables.attrs["name"] = layer.name
        for i, variable in enumerate(layer.variables):
            variables.create_dataset(str(i), data=variable.value)
    h5.create_group("vars").attrs["name"] = model.name


def layer_paths(class_names):
    """Where Keras 3 keeps the arrays of layers of these classes, in model order.

    >>> layer_paths(["Conv2D", "MaxPooling2D", "Conv2D", "Dense"])
    ['layers/conv2d', 'layers/max_pooling2d', 'layers/conv2d_1', 'layers/dense']
    """
    seen = collections.Counter()
    paths = []
    for class_name in class_names:
        base = snake_case(class_name)
        paths.append(f"layers/{base}" + (f"_{seen[base]}" if seen[base] else ""))
        seen[base] += 1
    return paths


# ---- reading -------------------------------------------------------------------------------

def is_keras_archive(filepath):
    """Whether ``filepath`` is a zip holding a ``config.json`` (a .keras file)."""
    try:
        with open_regular_file(filepath, "a fastnn model file") as f, zipfile.ZipFile(f) as archive:
            return CONFIG in archive.namelist()
    except ZIP_ERRORS + (ValueError,):
        return False


def load_model(filepath, compile=True):
    """(fastnn config, weight arrays, compile settings or None) of the .keras file;
    no settings unless ``compile``."""
    hdf5.import_h5py(f"reading {filepath} (Keras 3's .keras format)")
    text = _member(filepath, CONFIG)
    try:
        model_config = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{filepath}: {CONFIG} is not JSON text ({err})") from None
    config = fastnn_config(model_config, keras3=True, filepath=filepath)
    arrays = archive_weights(filepath, [spec["class_name"] for spec in config["layers"]
                                        if spec["class_name"] != "InputLayer"])
    settings = (fastnn_compile_settings(model_config.get("compile_config"), True, filepath)
                if compile else None)
    return config, arrays, settings


def archive_weights(filepath, class_names):
    """The arrays of layers of ``class_names`` (in model order) in the .keras file."""
    h5py = hdf5.import_h5py(f"reading {filepath} (Keras 3's .keras format)")
    weights = _member(filepath, WEIGHTS)
    with hdf5.open_for_reading(h5py, io.BytesIO(weights), f"{filepath} ({WEIGHTS})") as h5:
        return read_weights(h5, class_names, filepath)


def _member(filepath, name):
    """The bytes of the archive's member ``name``."""
    try:
        with zipfile.ZipFile(filepath) as archive:
            if name not in archive.namelist():
                raise ValueError(f"{filepath}: the archive holds no {name} (members: "
                                 f"{', '.join(archive.namelist())}); fastnn reads .keras "
                                 f"files as Keras 3 writes them, with the weights in HDF5")
            return archive.read(name)
    except ZIP_ERRORS as err:
        raise ValueError(f"{filepath}: not a readable .keras file (truncated or "
                         f"corrupted?): {err}") from None


def read_weights(h5, class_names, filepath):
    """The arrays of layers of ``class_names`` (in model order), in get_weights order."""
    arrays = []
    for path, class_name in zip(layer_paths(class_names), class_names):
        path = _vars_path(path, class_name)
        if path not in h5:   # a layer without weights may have no group
            continue
        variables = hdf5.child(h5, path, "group", filepath)
        keys = sorted(variables.keys(), key=lambda k: int(k) if k.isdigit() else -1)
        if keys != [str(i) for i in range(len(keys))]:
            raise ValueError(f"{filepath}: {variables.name!r} must hold arrays named 0, 1, "
                             f"..., got {keys}")
        arrays.extend(hdf5.array(hdf5.child(variables, key, "dataset", filepath), filepath)
                      for key in keys)
    return arrays
