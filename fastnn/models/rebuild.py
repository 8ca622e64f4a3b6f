"""New models from a description: a file (``load_model``), tf.keras 2's
config dict or JSON text (``model_from_config``, ``model_from_json``), or
another model (``clone_model``).

These four functions sit one floor above ``Sequential``: they import it,
and it never imports them.  The modules below, ``config.py`` (the
description) and ``saving.py`` (the files), serve ``Sequential``'s own
methods (``get_config``, ``from_config``, ``save``, ``load_weights``), so
they must not import it back; when they build a model they receive the
class to build as an argument, and this module is where it is passed.
"""
import json

from .config import sequential_from_config
from .saving import read_model
from .sequential import Sequential


def load_model(filepath, compile=True):
    """The model saved at ``filepath``: same architecture, weights and (if
    compiled) loss, metrics and optimizer state.  A Keras .h5 or .keras file
    gives the same architecture and weights, and the compile settings where
    fastnn has them (the optimizer starts afresh)."""
    return read_model(filepath, Sequential, compile)


def model_from_config(config, custom_objects=None):
    """A new model (fresh weights) from ``{"class_name": "Sequential", "config": {...}}``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"model_from_config needs a dict {{'class_name': 'Sequential', "
                         f"'config': ...}} (what model.to_json() holds); got {config!r:.200}; "
                         f"for model.get_config()'s dict use Sequential.from_config")
    if config["class_name"] != "Sequential":
        raise ValueError(f"fastnn builds Sequential models only, got class_name "
                         f"{config['class_name']!r} (the functional Model API is not part "
                         f"of fastnn)")
    return sequential_from_config(Sequential, config.get("config"), custom_objects)


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights) from ``model.to_json()``'s text."""
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"model_from_json: not JSON text ({err})") from None
    return model_from_config(config, custom_objects)


def clone_model(model):
    """A new model with ``model``'s architecture and layer names, freshly
    initialised weights, and not compiled (as ``tf.keras.models.clone_model``)."""
    return sequential_from_config(Sequential, model.get_config())
