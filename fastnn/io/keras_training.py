"""A model's compile settings (loss, metrics, optimizer) in Keras's words.

A Keras file may say how the model was compiled: tf.keras 2's .h5 in the
``training_config`` attribute (``{"loss", "metrics", "optimizer_config":
{"class_name", "config"}, ...}``), Keras 3's .keras in ``compile_config``
(``{"optimizer": {...}, "loss", "metrics", ...}``).  Writing stores
fastnn's settings there when Keras has each of them under the same name
and meaning; reading compiles the loaded model when fastnn has each of
Keras's.  Where one does not map (a Keras loss with ``from_logits=True``,
a learning-rate schedule, fastnn's ``decay`` for Keras 3, a loss
function of your own), the settings are left out and a warning says which
one: the model is then loaded uncompiled, as Keras does with a file
without them, and ``compile`` sets them again.

The optimizer's state (Adam's moment estimates, ...) is not written into
Keras files, and not read from them: a model loaded from .h5 or .keras
starts its optimizer afresh.  fastnn's own format keeps that state, to
resume training exactly where it stopped.
"""
import warnings

from .. import losses, optimizers

#: Keras's name of each fastnn loss (fastnn's default name elsewhere).
KERAS_LOSS_NAMES = {losses.Huber: "huber"}

#: What Keras 3's compile uses when no optimizer is given.
KERAS_DEFAULT_OPTIMIZER = "rmsprop"
#: Keras optimizer settings fastnn does not have, each with the value that
#: leaves it switched off (any other value does not map).
OPTIMIZER_SWITCHED_OFF = {"weight_decay": (None, 0, 0.0), "global_clipnorm": (None,),
                          "use_ema": (False,), "ema_overwrite_frequency": (None,),
                          "loss_scale_factor": (None,), "gradient_accumulation_steps": (None,),
                          "is_legacy_optimizer": (False,)}
#: Keras optimizer settings that mean nothing for fastnn's computation.
OPTIMIZER_IGNORED = ("name", "ema_momentum", "jit_compile")
#: Keras loss settings that leave the loss as fastnn computes it.
LOSS_DEFAULTS = {"from_logits": (False,), "label_smoothing": (0, 0.0), "axis": (-1,),
                 "reduction": ("sum_over_batch_size", "auto"), "ignore_class": (None,),
                 "dtype": (None, "float32")}


class NotMapped(Exception):
    """One compile setting that has no counterpart on the other side."""


# ---- writing -------------------------------------------------------------------------------

def keras_compile_config(model, keras3, filepath):
    """The model's compile settings as ``training_config`` (tf.keras 2) or
    ``compile_config`` (Keras 3), or None (with a warning saying why) when
    one of them has no Keras counterpart or the model is not compiled."""
    if model.optimizer is None:
        return None
    try:
        loss = _keras_loss_name(model.loss)
        metrics = [metric.name for metric in model.metrics]
        optimizer = _keras_optimizer(model.optimizer, keras3)
    except NotMapped as reason:
        warnings.warn(f"{filepath}: the compile settings are not written ({reason}); the "
                      f"model loads uncompiled", stacklevel=4)
        return None
    if not keras3:
        return {"loss": loss, "metrics": metrics, "weighted_metrics": None,
                "loss_weights": None, "optimizer_config": optimizer}
    return {"optimizer": {"module": "keras.optimizers", **optimizer, "registered_name": None},
            "loss": loss, "loss_weights": None, "metrics": metrics, "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _keras_loss_name(loss):
    cls = type(loss)
    if getattr(losses, cls.__name__, None) is not cls or cls().get_config() != {
            **loss.get_config(), "name": cls.default_name}:
        raise NotMapped(f"the loss {loss!r} has no Keras name")
    return KERAS_LOSS_NAMES.get(cls, cls.default_name)


def _keras_optimizer(optimizer, keras3):
    config = dict(optimizer.get_config())
    config.pop("name", None)
    if keras3:   # Keras 3's optimizers have no decay: schedules replaced it
        if config.pop("decay", 0.0):
            raise NotMapped(f"Keras 3 has no decay= (optimizer {optimizer!r}, decay "
                            f"{optimizer.decay}); use a LearningRateScheduler instead")
    return {"class_name": type(optimizer).__name__, "config": config}


# ---- reading -------------------------------------------------------------------------------

def fastnn_compile_settings(config, dot_keras, filepath):
    """``{"optimizer", "loss", "metrics"}`` for ``model.compile`` from an .h5 file's
    ``training_config`` or (``dot_keras``) a .keras file's ``compile_config``, or
    None (with a warning saying why).  A ``compile_config`` without an
    optimizer compiles with Keras's default, as Keras 3 itself does."""
    if not config:
        return None
    try:
        if not isinstance(config, dict):
            raise NotMapped(f"the compile settings are not a JSON object: {config!r:.100}")
        optimizer = _fastnn_optimizer(config.get("optimizer", KERAS_DEFAULT_OPTIMIZER)
                                      if dot_keras else config.get("optimizer_config"))
        loss = _fastnn_loss(config.get("loss"))
        metrics = config.get("metrics") or []
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise NotMapped(f"metrics {metrics!r:.100} are not a list of names")
        for key in ("loss_weights", "weighted_metrics"):
            if config.get(key) is not None:
                raise NotMapped(f"fastnn has no {key}")
    except NotMapped as reason:
        warnings.warn(f"{filepath}: the model is loaded uncompiled ({reason}); call "
                      f"model.compile(...) before training it", stacklevel=4)
        return None
    return {"optimizer": optimizer, "loss": loss, "metrics": metrics}


def _object(value, what):
    """(class name, config) of a Keras object given by name or as a dict."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and isinstance(value.get("class_name"), str):
        config = value.get("config") or {}
        if isinstance(config, dict):
            return value["class_name"], config
    raise NotMapped(f"the {what} {value!r:.100} is not a name or a Keras object")


def _off(settings, switched_off, what):
    for key, off in switched_off.items():
        if key in settings and settings.pop(key) not in off:
            raise NotMapped(f"fastnn's {what} has no {key}")


def _fastnn_optimizer(value):
    if value is None:
        raise NotMapped("no optimizer is named")
    class_name, config = _object(value, "optimizer")
    try:
        cls = optimizers.get(class_name.lower()).__class__
    except ValueError:
        raise NotMapped(f"fastnn has no optimizer {class_name!r}") from None
    config = {k: v for k, v in config.items() if k not in OPTIMIZER_IGNORED}
    _off(config, OPTIMIZER_SWITCHED_OFF, f"{cls.__name__} optimizer")
    if isinstance(config.get("learning_rate"), dict):
        raise NotMapped("fastnn has no learning-rate schedule objects (use a "
                        "LearningRateScheduler callback)")
    try:
        return cls(**config)
    except (TypeError, ValueError) as err:
        raise NotMapped(f"the {class_name} settings do not fit fastnn's: {err}") from None


def _fastnn_loss(value):
    if value is None:
        raise NotMapped("no loss is named")
    class_name, config = _object(value, "loss")
    settings = dict(config)
    settings.pop("name", None)
    _off(settings, LOSS_DEFAULTS, f"loss {class_name}")
    try:
        loss = losses.get(class_name)
    except ValueError:
        raise NotMapped(f"fastnn has no loss {class_name!r}") from None
    if settings:
        try:
            loss = type(loss)(**settings)
        except TypeError:
            raise NotMapped(f"fastnn's {type(loss).__name__} has no setting(s) "
                            f"{', '.join(sorted(settings))}") from None
    return loss
