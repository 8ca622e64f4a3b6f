"""A model's architecture as data: ``get_config`` / ``from_config``, JSON.

One description serves everything: ``Sequential.get_config()`` returns it,
``model.to_json()`` wraps it as tf.keras 2 does, and ``model.save`` stores
it in the model file.  It is tf.keras 2's layout::

    {"class_name": "Sequential",                 <- to_json / model_from_config only
     "config": {"name": "sequential",            <- get_config() / from_config()
                "layers": [{"class_name": "Conv2D",
                            "config": {"name": "conv2d", "filters": 32, "kernel_size": [3, 3],
                                       "activation": "relu", ...}},
                           ...],
                "build_input_shape": [null, 28, 28, 1]},
     "keras_version": "0.1.0", "backend": "fastnn"}

Each layer's ``config`` holds its constructor arguments under Keras's names,
so ``Conv2D.from_config(config)`` makes the same layer.  The description
holds no weights: a model rebuilt from it has freshly initialised ones
(``clone_model``, ``model_from_json``: ``rebuild.py``), until ``set_weights``
or ``load_weights`` fills them in.
``keras_version`` is the fastnn version that wrote the text and ``backend``
is "fastnn"; reading ignores both.  JSON written by tf.keras 2 itself reads
too, as long as its layers use only what fastnn has.
"""
import contextlib
import json

from .. import layers
from .._version import __version__

BACKEND = "fastnn"


def serialize_layer(layer):
    """{"class_name": ..., "config": ...} of one layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


# Settings tf.keras 2 writes into layer configs that fastnn's layers do not
# take, each with the value that leaves it switched off.  A setting with that
# value is dropped, so JSON written by tf.keras 2 reads; any other value is
# left for the layer to refuse by name.
KERAS_SWITCHED_OFF = {"sparse": False, "ragged": False, "groups": 1,
                      "activity_regularizer": None, "kernel_constraint": None,
                      "bias_constraint": None, "beta_constraint": None, "gamma_constraint": None,
                      # recurrent layers
                      "recurrent_constraint": None, "stateful": False, "unroll": False,
                      "time_major": False, "zero_output_for_mask": False}


def deserialize_layer(spec, custom_objects=None):
    """A new layer from ``serialize_layer``'s dict (or tf.keras 2's); ``custom_objects``
    maps class names to your own Layer subclasses."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"a layer description must be a dict with 'class_name' and "
                         f"'config', got {spec!r}")
    name = spec["class_name"]
    cls = (custom_objects or {}).get(name) or layers.get(name)
    config = {key: value for key, value in spec.get("config", {}).items()
              if not (key in KERAS_SWITCHED_OFF and value == KERAS_SWITCHED_OFF[key])}
    return cls.from_config(config)


def sequential_config(model):
    """What ``Sequential.get_config()`` returns (the description above, inner part)."""
    config = {"name": model.name, "layers": [serialize_layer(l) for l in model.layers]}
    if model.batch_input_shape is not None:
        config["build_input_shape"] = list(model.batch_input_shape)
    return config


def sequential_from_config(model_class, config, custom_objects=None, building=None):
    """A new ``model_class`` (``Sequential`` or a subclass) from
    ``sequential_config``'s dict.

    The class comes in as an argument because ``sequential.py`` imports this
    module: importing it back would be a circle.  ``building(layer_list)``,
    if given, is a context manager around adding and building the layers
    (``load_model`` checks the weight shapes there).
    """
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"a Sequential config must be a dict with a list 'layers', got "
                         f"{config!r:.200}")
    layer_list = [deserialize_layer(spec, custom_objects) for spec in config["layers"]]
    model = model_class(name=config.get("name"))
    # files written before fastnn took Keras's key name say "batch_input_shape"
    shape = config.get("build_input_shape", config.get("batch_input_shape"))
    with building(layer_list) if building is not None else contextlib.nullcontext():
        for layer in layer_list:
            model.add(layer)
        if shape is not None:
            model.build(tuple(shape))
    return model


def to_json(model, **kwargs):
    """``model.to_json()``: the description above as JSON text (``kwargs`` go
    to ``json.dumps``, e.g. ``indent=2``)."""
    return json.dumps({"class_name": type(model).__name__, "config": model.get_config(),
                       "keras_version": __version__, "backend": BACKEND}, **kwargs)
