"""The ``keras.backend`` functions tf.keras 2 code uses (``from fastnn import backend as K``).

tf.keras 2 keeps the learning rate and the weights in variables, and
tutorials read and change them through the backend::

    K.set_value(model.optimizer.lr, 0.001)     # same as model.optimizer.lr = 0.001
    K.get_value(model.optimizer.lr)            # 0.001
    K.get_value(model.layers[0].kernel)        # a copy of the weights

fastnn has no graph and no tensors: its numbers are NumPy arrays and
floats, so the graph functions (``K.function``, ``K.gradients``,
``K.placeholder``, ...) are not here; asking for one says what to do instead.
"""
import numpy as np

from .naming import clear_session
from .optimizers.base import LearningRate
from .unsupported import attribute_error
from .variables import Variable

__all__ = ["backend", "clear_session", "epsilon", "eval", "floatx", "get_value",
           "image_data_format", "set_floatx", "set_image_data_format", "set_value"]

_NO_GRAPH = "fastnn has no graph or tensors: its values are NumPy arrays"
_NOT_HERE = {
    "function": f"{_NO_GRAPH}; for the outputs of layer k run "
                f"Sequential(model.layers[:k + 1]).predict(x)",
    "gradients": f"{_NO_GRAPH}; after a training step each weight holds its gradient "
                 f"(model.trainable_weights[i].grad), fastnn.callbacks.GradientStats records "
                 f"their norms and fastnn.utils.gradient_check checks them",
    "placeholder": _NO_GRAPH, "variable": _NO_GRAPH, "constant": _NO_GRAPH,
    "int_shape": f"{_NO_GRAPH}: use x.shape, or layer.output_shape",
    "learning_phase": "training is an argument: model(x, training=True); fit trains, "
                      "evaluate and predict run in inference mode",
    "set_learning_phase": "training is an argument: model(x, training=True); fit trains, "
                          "evaluate and predict run in inference mode",
    "set_epsilon": "the losses and metrics use the fixed epsilon 1e-7 (K.epsilon())",
    "get_session": "fastnn has no session (tf.keras 2 runs eagerly too)",
    "set_session": "fastnn has no session (tf.keras 2 runs eagerly too)",
}


def __getattr__(name):
    raise attribute_error(f"module {__name__!r}", name, _NOT_HERE.get(name))


def backend():
    """The name of the engine underneath: "fastnn" (tf.keras 2 says "tensorflow")."""
    return "fastnn"


def floatx():
    """fastnn computes in float32, always."""
    return "float32"


def set_floatx(value):
    """Only "float32" is accepted: fastnn's kernels compute in float32."""
    if value != "float32":
        raise ValueError(f"set_floatx: fastnn computes in float32 only, got {value!r}")


def epsilon():
    """The fuzz factor Keras uses in losses and metrics (1e-7)."""
    return 1e-7


def image_data_format():
    """How images are laid out: "channels_last", (samples, height, width, channels)."""
    return "channels_last"


def set_image_data_format(data_format):
    """Only "channels_last" is accepted: fastnn's kernels take NHWC images."""
    if data_format != "channels_last":
        raise ValueError(f"set_image_data_format: fastnn stores images channels last "
                         f"(samples, height, width, channels) only, got {data_format!r}; "
                         f"move the channel axis of your data with np.moveaxis(x, 1, -1)")


def get_value(x):
    """The value of ``x`` as plain Python/NumPy data.

    - the learning rate (``model.optimizer.lr`` or ``.learning_rate``): its
      optimizer's current rate, a float;
    - a weight (``layer.kernel``, ``model.weights[i]``): a copy of its array;
    - anything else (a number, an array, ``model.optimizer.iterations``): itself.
    """
    if isinstance(x, LearningRate):
        return x.numpy()
    if isinstance(x, Variable):
        return x.value.copy()
    return x


def set_value(x, value):
    """Change ``x`` in place to ``value``.

    - the learning rate (``model.optimizer.lr``): exactly as
      ``model.optimizer.lr = value``, effective from the next step;
    - a weight (``layer.kernel``): its array is overwritten (same shape).

    A plain number cannot be changed in place: that is a TypeError.
    """
    if isinstance(x, LearningRate):
        rate = np.asarray(value)
        if rate.shape != ():
            raise ValueError(f"set_value: a learning rate is one number, got an array of "
                             f"shape {rate.shape}")
        x.assign(rate.item())
    elif isinstance(x, Variable):
        x.assign(value)
    else:
        raise TypeError(f"set_value: {x!r} is a plain value, which cannot be changed in place; "
                        f"pass model.optimizer.lr (or .learning_rate) or a weight such as "
                        f"layer.kernel")


def eval(x):  # noqa: A001 (Keras's name)
    """``get_value(x)`` as NumPy: an array, or a NumPy scalar for one number."""
    value = np.asarray(get_value(x))
    return value[()] if value.ndim == 0 else value
