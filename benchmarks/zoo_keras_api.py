"""One builder for the two frameworks that speak Keras's API: fastnn and tf.keras.

The zoo's layer specs carry Keras's names and arguments, so turning a net
into a model is the same code for both; only the module it takes its
classes from differs (``KerasApi`` below).  The model is trained and
evaluated the way a course script does it: ``compile``, ``fit`` on NumPy
arrays (one epoch, shuffled), ``evaluate``.
"""
from dataclasses import dataclass
from types import ModuleType

import zoo_nets


@dataclass(frozen=True)
class KerasApi:
    """Where a framework keeps what a Keras script imports."""
    layers: ModuleType
    optimizers: ModuleType
    sequential: type
    callback: type
    compile_options: dict


def layer(spec, api):
    """The framework's layer for one spec of ``zoo_nets``."""
    kinds = {
        zoo_nets.Conv: lambda s: api.layers.Conv2D(s.filters, s.kernel_size, strides=s.strides,
                                                   padding=s.padding, activation=s.activation),
        zoo_nets.MaxPool: lambda s: api.layers.MaxPooling2D(s.pool_size),
        zoo_nets.AvgPool: lambda s: api.layers.AveragePooling2D(s.pool_size),
        zoo_nets.BatchNorm: lambda s: api.layers.BatchNormalization(momentum=s.momentum,
                                                                    epsilon=s.epsilon),
        zoo_nets.Activation: lambda s: api.layers.Activation(s.name),
        zoo_nets.Dropout: lambda s: api.layers.Dropout(s.rate),
        zoo_nets.Flatten: lambda s: api.layers.Flatten(),
        zoo_nets.Dense: lambda s: api.layers.Dense(s.units, activation=s.activation),
        zoo_nets.Recurrent: lambda s: getattr(api.layers, s.kind)(s.units),
    }
    return kinds[type(spec)](spec)


def build(net, api, weights=None):
    """The compiled model of ``net``; its initial weights are ``weights`` if given."""
    model = api.sequential([api.layers.Input(shape=net.input_shape)]
                           + [layer(spec, api) for spec in net.layers])
    optimizer = getattr(api.optimizers, net.optimizer.name)(**net.optimizer.settings)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], **api.compile_options)
    if weights is not None:
        model.set_weights(weights)
    return TrainedAsInCourse(model, api)


class TrainedAsInCourse:
    """A compiled Keras-style model behind the zoo's two training calls."""

    def __init__(self, model, api):
        self.model = model
        self.api = api

    def loss(self, x, y):
        """The loss on (x, y) in inference mode (no dropout, BatchNorm's moving statistics)."""
        return float(self.model.evaluate(x, y, batch_size=len(x), verbose=0,
                                         return_dict=True)["loss"])

    def fit_epoch(self, x, y, batch_size, on_batch_end=None):
        """One shuffled epoch of ``fit``; ``on_batch_end()`` runs after each step."""
        callbacks = [] if on_batch_end is None else [batch_end_hook(self.api, on_batch_end)]
        self.model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0,
                       callbacks=callbacks)


def batch_end_hook(api, function):
    """A callback of the framework that calls ``function()`` after each training step."""

    class BatchEnd(api.callback):
        # tf.keras: pass the logs as tensors, so the hook adds no conversion to NumPy
        _supports_tf_logs = True

        def on_train_batch_end(self, batch, logs=None):
            function()

    return BatchEnd()
