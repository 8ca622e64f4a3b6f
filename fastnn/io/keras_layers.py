"""A model's architecture in the words of tf.keras 2 and of Keras 3.

fastnn's ``model.get_config()`` is already tf.keras 2's layout
(``fastnn.models.config``): a list of ``{"class_name", "config"}`` with
Keras's constructor arguments.  Keras 3 wraps the same arguments a little
differently::

    tf.keras 2 / fastnn                       Keras 3
    {"class_name": "Dense",                   {"module": "keras.layers", "class_name": "Dense",
     "config": {"units": 10,                   "config": {"units": 10, "dtype": {DTypePolicy},
                "batch_input_shape": [...],              "quantization_config": null, ...},
                ...}}                          "registered_name": null,
                                               "build_config": {"input_shape": [...]}}

and it states the input as a first ``InputLayer`` with ``batch_shape``
instead of a ``batch_input_shape`` on the first layer.  Initializers and
regularizers carry a ``module`` too.

Writing (``keras2_config``, ``keras3_config``) checks that every layer is
one Keras has, with an activation Keras calls by the same name and
computes the same way; reading (``fastnn_config``) turns either version's
description into fastnn's, dropping Keras 3's settings that are switched
off and refusing, by layer name and class, what fastnn does not have.
"""
from .. import activations, layers as fastnn_layers

#: Keras 3 settings fastnn's layers do not take, each with the value that
#: leaves it switched off (tf.keras 2's are in ``models.config``).
KERAS3_SWITCHED_OFF = {"quantization_config": None, "lora_rank": None, "lora_alpha": None,
                       "synchronized": False, "renorm": False, "renorm_clipping": None,
                       "optional": False}

#: Where Keras 3 finds the objects in a layer's ``*_initializer`` / ``*_regularizer``.
KERAS3_MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers"}

#: tf.keras 2 knows silu only as "swish".
KERAS2_ACTIVATION_NAMES = {"silu": "swish"}

#: Keras 3 computes these differently from tf.keras 2 (and fastnn).
KERAS3_CHANGED_ACTIVATIONS = {
    "hard_sigmoid": "Keras 3's hard_sigmoid is relu6(x + 3) / 6, fastnn's (and tf.keras 2's) "
                    "is clip(0.2·x + 0.5, 0, 1)"}


class UnsupportedLayerError(ValueError):
    """A layer that cannot cross between fastnn and Keras; the message names it."""


def keras2_config(model):
    """``{"class_name": "Sequential", "config": ...}`` as tf.keras 2.4+ writes it into
    an .h5 file's ``model_config``: the input stated by a first ``InputLayer``
    (which Keras 3 needs to read the file)."""
    config = model.get_config()
    for layer, spec in zip(model.layers, config["layers"]):
        _check_keras_class(layer)
        name = _activation_name(layer, keras3=False)
        if name is not None:
            spec["config"]["activation"] = KERAS2_ACTIVATION_NAMES.get(name, name)
        spec["config"].pop("batch_input_shape", None)
    config["layers"].insert(0, {"class_name": "InputLayer", "config": {
        "batch_input_shape": list(_input_shape(model)), "dtype": "float32", "sparse": False,
        "ragged": False, "name": f"{model.name}_input"}})
    return {"class_name": "Sequential", "config": config}


def _input_shape(model):
    if model.batch_input_shape is None or not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: a Keras file states the "
                         f"input shape; give input_shape= to the first layer or call build()")
    return model.batch_input_shape


def keras3_config(model):
    """The model as Keras 3's ``config.json`` describes it (without compile settings)."""
    shape = list(_input_shape(model))
    specs = [{"module": "keras.layers", "class_name": "InputLayer",
              "config": {"batch_shape": shape, "dtype": "float32", "name": f"{model.name}_input"},
              "registered_name": None}]
    for layer in model.layers:
        config = layer.get_config()
        config.pop("batch_input_shape", None)
        _check_keras_class(layer)
        name = _activation_name(layer, keras3=True)
        if name is not None:
            config["activation"] = name
        for key, value in config.items():
            module = KERAS3_MODULES.get(key.rsplit("_", 1)[-1])
            if module is not None and isinstance(value, dict):
                config[key] = {"module": module, **value, "registered_name": None}
        specs.append({"module": "keras.layers", "class_name": type(layer).__name__,
                      "config": config, "registered_name": None,
                      "build_config": {"input_shape": list(layer.input_shape)}})
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": model.name, "trainable": True, "layers": specs,
                       "build_input_shape": shape},
            "registered_name": None, "build_config": {"input_shape": shape}}


def _activation_name(layer, keras3):
    """The Keras name of ``layer``'s activation (None for a layer without one),
    after checking that Keras computes the same function under it."""
    activation = getattr(layer, "activation", None)
    for inner in ("cell_activation", "recurrent_activation"):   # a recurrent layer's
        if hasattr(layer, inner):
            _check_activation(layer, getattr(layer, inner), keras3)
    if activation is None:
        return None
    return _check_activation(layer, activation, keras3)


def _check_activation(layer, activation, keras3):
    """``activation``'s Keras name, after checking Keras computes the same function."""
    built_in = activations.get(activation.name) if activation.name in activations.names() \
        else None
    if built_in is None or built_in._forward is not activation._forward or activation.config:
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({type(layer).__name__}): its activation {activation!r} is "
            f"not one Keras knows by name; use one of {', '.join(activations.names())}")
    if keras3 and activation.name in KERAS3_CHANGED_ACTIVATIONS:
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({type(layer).__name__}): activation "
            f"{activation.name!r} cannot be written for Keras 3: "
            f"{KERAS3_CHANGED_ACTIVATIONS[activation.name]}; save as .h5 (tf.keras 2) instead")
    return activation.name


def _check_keras_class(layer):
    cls = type(layer)
    if getattr(fastnn_layers, cls.__name__, None) is not cls:
        raise UnsupportedLayerError(
            f"layer {layer.name!r} is of class {cls.__name__}, which is not a fastnn layer "
            f"that Keras has; Keras files can hold only "
            f"{', '.join(_layer_class_names())}")


def _layer_class_names():
    """fastnn's layer classes that Keras has, by their own names (no aliases)."""
    return [n for n in fastnn_layers.__all__ if n not in ("Input", "InputLayer", "Layer")
            and getattr(fastnn_layers, n).__name__ == n]


# ---- reading -------------------------------------------------------------------------------

def fastnn_config(model_config, keras3, filepath):
    """fastnn's Sequential config (what ``Sequential.from_config`` takes) from a
    Keras model description ``{"class_name": "Sequential", "config": ...}``
    of tf.keras 2 (``keras3=False``) or Keras 3."""
    if not isinstance(model_config, dict):
        raise ValueError(f"{filepath}: the model description must be a JSON object, got "
                         f"{type(model_config).__name__}")
    kind = model_config.get("class_name")
    if kind != "Sequential":
        raise ValueError(f"{filepath}: the file holds a Keras {kind!r} model; fastnn builds "
                         f"Sequential models only (rebuild it in Keras as a Sequential model "
                         f"of fastnn's layers)")
    config = model_config.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"{filepath}: the Sequential description has no list of layers")
    result = {"name": config.get("name"),
              "layers": [_fastnn_layer_spec(spec, keras3, filepath) for spec in config["layers"]]}
    if config.get("build_input_shape") is not None:
        result["build_input_shape"] = config["build_input_shape"]
    return result


def _fastnn_layer_spec(spec, keras3, filepath):
    if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"{filepath}: a layer description must be a JSON object with "
                         f"'class_name' and 'config', got {spec!r:.200}")
    cls, config = spec.get("class_name"), dict(spec.get("config", {}))
    name = config.get("name")
    if cls not in ["InputLayer"] + _layer_class_names():
        raise UnsupportedLayerError(
            f"{filepath}: layer {name!r} is a {cls}, which fastnn does not have; fastnn reads "
            f"Keras files made of {', '.join(['InputLayer'] + _layer_class_names())}")
    if cls == "InputLayer" and "batch_shape" in config:
        config["batch_input_shape"] = config.pop("batch_shape")
    if isinstance(config.get("dtype"), dict):          # Keras 3's DTypePolicy
        config["dtype"] = (config["dtype"].get("config") or {}).get("name")
    if config.get("dtype") == "float32":
        del config["dtype"]
    if not config.get("renorm", False):
        config.pop("renorm_momentum", None)
    for key, off in KERAS3_SWITCHED_OFF.items():
        if key in config and config[key] == off:
            del config[key]
    for key, value in config.items():
        if key.endswith(("_initializer", "_regularizer")) and isinstance(value, dict):
            config[key] = _plain_object(value)
    for key in ("activation", "recurrent_activation"):
        activation = config.get(key)
        if keras3 and activation in KERAS3_CHANGED_ACTIVATIONS:
            raise UnsupportedLayerError(
                f"{filepath}: layer {name!r} ({cls}) uses {key} {activation!r}: "
                f"{KERAS3_CHANGED_ACTIVATIONS[activation]}")
        if activation is not None and (not isinstance(activation, str)
                                       or activation.lower() not in activations.names()):
            raise UnsupportedLayerError(
                f"{filepath}: layer {name!r} ({cls}) uses {key} {activation!r}, which "
                f"fastnn does not have; fastnn has {', '.join(activations.names())}")
    return {"class_name": cls, "config": config}


def _plain_object(value):
    """An initializer or regularizer as fastnn reads it: {"class_name", "config"},
    without Keras 3's "module" and "registered_name" or its unset axes."""
    config = {k: v for k, v in (value.get("config") or {}).items()
              if not (k in ("input_axes", "output_axes") and v is None)}
    return {"class_name": value.get("class_name"), "config": config}
