"""Sequential: a stack of layers, each feeding the next (course, chapter 3).

The model itself does no math: ``forward`` runs the layers in order,
``backward`` runs their backward passes in reverse (backpropagation,
chapter 22), and the training loop in ``training.py`` drives both.  Both
follow the model's plan (``model.plan``, ``fastnn.plan``): the list of
steps, fused where a rule allows, chosen once for these layers and loss.
"""
from .. import losses, metrics as metrics_module, optimizers
from ..memory import cached_arrays
from ..io import onnx_export
from ..layers import InputLayer, Layer
from ..layers.base import standardize_shape
from ..naming import unique_name
from ..plan import Plan
from ..plan.profile import profile
from ..unsupported import MODEL_ATTRIBUTES, attribute_error
from . import config, deprecated, saving, training
from .data import as_array, as_inputs
from .summary import summary_lines
from .training import empty_outputs


class Sequential:
    """A linear stack of layers.

    >>> model = Sequential([Dense(16, input_shape=(1,), activation="relu"),
    ...                     Dense(2, activation="softmax")])

    or ``model = Sequential()`` followed by ``model.add(layer)`` calls.  The
    first layer's ``input_shape=`` (or a leading ``Input(shape=...)``) builds
    the model at once; otherwise it is built by the first fit/predict.
    """

    def __init__(self, layers=None, name=None):
        self.name = name if name is not None else unique_name("sequential")
        self._layers = []
        self.batch_input_shape = None
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self._metric_specs = []
        self.stop_training = False
        self.history = None
        self._batch_means = None   # train_on_batch / test_on_batch with reset_metrics=False
        self._fuse = True
        self._plan = None   # built on first use, again when its key changed (``plan``)
        for layer in layers or []:
            self.add(layer)

    # ---- structure -------------------------------------------------------------

    @property
    def layers(self):
        return list(self._layers)

    @property
    def built(self):
        return self.batch_input_shape is not None and all(l.built for l in self._layers)

    @property
    def input_shape(self):
        return self.batch_input_shape

    @property
    def output_shape(self):
        return self._layers[-1].output_shape if self.built and self._layers else None

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or the one at position ``index`` of ``layers``."""
        if name is not None and index is not None:
            raise ValueError("Provide only a layer name or a layer index.")
        if name is None and index is None:
            raise ValueError("Provide either a layer name or layer index.")
        if index is not None:
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"only has {len(self._layers)} layers.")
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in self._layers]}.")

    def add(self, layer):
        """Append a layer (an ``Input`` only as the very first element)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a layer, got {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers or self.batch_input_shape is not None:
                raise ValueError("Sequential: an Input can only come first")
            self.batch_input_shape = layer.batch_input_shape
            return
        if getattr(layer, "return_state", False):
            raise ValueError(f"Sequential: layer {layer.name!r} has return_state=True, so it "
                             f"returns a list [output, states...], which the next layer "
                             f"cannot take; call the layer directly for its states")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential: a layer named {layer.name!r} is already in the "
                             f"model; layer names must be unique")
        if not self._layers and self.batch_input_shape is None:
            self.batch_input_shape = layer.batch_input_shape
        self._layers.append(layer)
        if self.batch_input_shape is not None:
            self.build(self.batch_input_shape)

    def pop(self):
        """Remove the last layer (chapter 30: replace a model's head)."""
        if not self._layers:
            raise TypeError("There are no layers in the model.")
        self._layers.pop()

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch first)."""
        shape = tuple(input_shape if input_shape is not None else self.batch_input_shape or ())
        if not shape:
            raise ValueError("Sequential.build: no input shape; give input_shape= to the "
                             "first layer or call build((None, ...))")
        self.batch_input_shape = shape
        for layer in self._layers:
            if not layer.built:
                layer.build(shape)
            elif tuple(layer.input_shape[1:]) != tuple(shape[1:]):
                raise ValueError(f"layer {layer.name!r} was built for inputs of shape "
                                 f"{layer.input_shape}, but receives {shape}")
            shape = layer.output_shape
        if self.loss is not None:
            self._resolve_metrics()   # "accuracy" depends on the output shape (compile may precede build)

    def compute_output_shape(self, input_shape):
        """The shape of the outputs for inputs of ``input_shape`` (batch first),
        passed through every layer's ``compute_output_shape``.

        ``output_shape`` is this for the model's own input shape, so it keeps
        the sizes left open (None) there; given the shape of an actual x, the
        answer has that x's sizes: after ``Input(shape=(None, None, 1))``,
        ``Conv2D(4, 3)`` maps (0, 5, 5, 1) to (0, 3, 3, 4).  A size a layer
        cannot take is a ValueError naming that layer."""
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _ensure_built(self, x):
        if not self.built:
            self.build((None,) + standardize_shape(x.shape[1:], "the shape of one sample of x"))

    # ---- weights -----------------------------------------------------------------

    @property
    def variables(self):
        return [v for layer in self._layers for v in layer.variables]

    weights = variables

    @property
    def trainable_variables(self):
        return [v for layer in self._layers for v in layer.trainable_variables]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self):
        return [v for layer in self._layers for v in layer.non_trainable_variables]

    non_trainable_weights = non_trainable_variables

    def get_weights(self):
        """All weight arrays, layer by layer, in Keras order and layouts."""
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights):
        """Load arrays in the order ``get_weights`` returns them."""
        weights = list(weights)
        if not self.built and weights:
            raise ValueError(f"model {self.name!r} is not built yet, so it has no weights to "
                             f"set: give input_shape= to the first layer, or call build() first")
        expected = sum(len(layer.variables) for layer in self._layers)
        if len(weights) != expected:
            raise ValueError(f"model {self.name!r} has {expected} weight arrays, "
                             f"got {len(weights)}")
        checked = []  # every array is checked before any is loaded: all or none
        for layer in self._layers:
            count = len(layer.variables)
            checked.append(layer.checked_weights(weights[:count]))
            weights = weights[count:]
        for layer, arrays in zip(self._layers, checked):
            layer.set_weights(arrays)

    def count_params(self):
        if not self.built:
            raise ValueError(f"model {self.name!r} is not built yet: give input_shape= "
                             f"to the first layer, or call build() or fit() first")
        return sum(layer.count_params() for layer in self._layers)

    def summary(self, line_length=None, positions=None, print_fn=None):
        """Print the layer table with output shapes and parameter counts (chapter 20).

        ``line_length`` (default 65) and ``positions``, where the three columns
        end (fractions of the line, default [.45, .85, 1.], or characters),
        as in tf.keras 2; ``print_fn`` receives each line (default ``print``).
        """
        if not self.built:
            raise ValueError("This model has not yet been built. Build the model first by "
                             "calling `build()` or calling `fit()` with some data, or specify "
                             "an `input_shape` argument in the first layer(s) for automatic "
                             "build.")
        for line in summary_lines(self, line_length, positions):
            (print_fn or print)(line)

    # ---- computation ---------------------------------------------------------------

    @property
    def plan(self):
        """The steps a training step runs, fused where a rule allows, and each
        rule's verdict: ``print(model.plan)``; see ``fastnn.plan``.

        Built on first use, again after each compile (which also makes a
        layer's replaced ``activation`` count), and whenever the layers
        (add, pop), their ``trainable`` flags or the loss are no longer those
        it was built from: each use compares them (about a microsecond)."""
        plan = self._plan
        if plan is None or not plan.fits(self._layers, self.loss):
            if not self.built:
                raise ValueError(f"model {self.name!r} is not built yet, so it has no plan: "
                                 f"give input_shape= to the first layer, or call build() or "
                                 f"fit() first")
            plan = self._plan = Plan(self._layers, self.loss, self._fuse)
        return plan

    def forward(self, x, training=False):
        """Run the plan's forward steps (every layer, in order); layers cache
        what backward needs."""
        return self.plan.forward(x, training)

    def backward(self, dy, from_logits=False):
        """Backpropagate dLoss/dy (or dLoss/d pre-activation of the last layer,
        when ``from_logits``) by the plan's backward steps; fills the weights'
        ``grad``.

        With fusions on, only the layers from the first one with trainable
        weights onwards take part, and that layer skips the gradient of its
        own input (nothing below has a weight to learn).  Returns dLoss/dx of
        the lowest layer that computes it, else None."""
        return self.plan.backward(dy, from_logits)

    def __call__(self, x, training=False):
        x = as_array(x, "x")
        self._ensure_built(x)
        x = as_inputs(x, self.batch_input_shape, self._layers[0].name)
        if len(x) == 0:
            return empty_outputs(self, x)
        return self.forward(x, training=training)

    # ---- training ----------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, fuse=True, **unsupported):
        """Choose how to train: optimizer, loss and the metrics to report (chapter 7).

        ``fuse=False`` turns every fusion of the plan off (``model.plan``):
        each layer's plain forward and backward, activations as steps of
        their own, the loss's plain gradient; the results agree with the
        fused ones to float32 rounding, so the two can be compared.
        """
        if unsupported:
            raise TypeError(f"compile: unsupported argument(s) {', '.join(sorted(unsupported))}")
        if loss is None:
            raise ValueError("compile: a loss is needed, e.g. loss='mse'")
        if not isinstance(fuse, bool):
            raise TypeError(f"compile: fuse must be True or False, got {fuse!r}")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self._metric_specs = list(metrics or [])
        self._resolve_metrics()
        self._fuse = fuse
        self._plan = None   # compiling again also re-reads the layers' activations

    def _resolve_metrics(self):
        """Metric objects for the names given to compile, for the current output shape."""
        self._batch_means = None
        self.metrics = [metrics_module.get(m, loss=self.loss, output_shape=self.output_shape)
                        for m in self._metric_specs]

    def _require_compiled(self, method):
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"You must compile your model before {method}: "
                               f"call model.compile(optimizer, loss, metrics)")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            sample_weight=None, class_weight=None):
        """Train for ``epochs`` passes over (x, y); returns a History (chapter 7)."""
        self._require_compiled("training it")
        return training.fit(self, x=x, y=y, batch_size=batch_size, epochs=epochs,
                            verbose=verbose, callbacks=callbacks,
                            validation_split=validation_split, validation_data=validation_data,
                            shuffle=shuffle, initial_epoch=initial_epoch,
                            sample_weight=sample_weight, class_weight=class_weight)

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None,
                 return_dict=False):
        """Loss (and metrics) on (x, y) in inference mode."""
        self._require_compiled("evaluating it")
        return training.evaluate(self, x, y, batch_size, verbose, sample_weight, return_dict)

    def predict(self, x, batch_size=None, verbose=0):
        """The model's outputs for x, batch by batch, in inference mode (chapter 11)."""
        return training.predict(self, x, batch_size, verbose)

    @property
    def metrics_names(self):
        """The names of what ``evaluate`` returns, in order: "loss", then the
        compiled metrics as named in compile (["loss", "accuracy"])."""
        return ["loss"] + [metric.name for metric in self.metrics]

    def profile(self, x, y, batch_size=32, steps=20, warmup=3):
        """Where a training step's time goes: trains a copy of this model on
        ``warmup + steps`` batches of x, y and returns a ``Profile`` whose
        ``str()`` is a table of every plan step (the numbers of
        ``print(model.plan)``), the loss and the optimizer's update: ms per
        batch (median), % of the step, FLOPs and GFLOP/s where counted.

        The model is left as it was (weights, optimizer state, moving
        averages, the random generator): only the copy trains.  See
        ``fastnn.plan.profile``."""
        self._require_compiled("profile")
        with cached_arrays():  # the memory fit's steps get (fastnn.memory)
            return profile(self, x, y, batch_size, steps, warmup)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       reset_metrics=True, return_dict=False):
        """One gradient step on (x, y) as one batch; returns what evaluate would
        (loss, or [loss, metrics...]) for that batch, before the step."""
        self._require_compiled("training it")
        return training.train_on_batch(self, x, y, sample_weight, class_weight, reset_metrics,
                                       return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True,
                      return_dict=False):
        """``evaluate`` on (x, y) as one batch."""
        self._require_compiled("evaluating it")
        return training.test_on_batch(self, x, y, sample_weight, reset_metrics, return_dict)

    def predict_on_batch(self, x):
        """``predict`` on x as one batch."""
        return training.predict_on_batch(self, x)

    def reset_metrics(self):
        """Start the metrics over (what ``reset_metrics=False`` accumulated)."""
        self._batch_means = None
        for metric in self.metrics:
            metric.reset_state()

    def reset_states(self):
        """Nothing to do: only recurrent layers with ``stateful=True`` keep a
        state between batches, and fastnn has none."""

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Deprecated (tf.keras 2.0–2.5): ``np.argmax(model.predict(x), axis=-1)``,
        for one sigmoid unit ``(model.predict(x) > 0.5).astype("int32")``."""
        return deprecated.predict_classes(self, x, batch_size, verbose)

    def predict_proba(self, x, batch_size=32, verbose=0):
        """Deprecated (tf.keras 2.0–2.5): ``model.predict(x)``."""
        return deprecated.predict_proba(self, x, batch_size, verbose)

    # ---- saving --------------------------------------------------------------------------

    def get_config(self):
        """The architecture, without weights, in tf.keras 2's layout: {"name",
        "layers": [{"class_name", "config"}, ...], "build_input_shape"} (config.py)."""
        return config.sequential_config(self)

    @classmethod
    def from_config(cls, config_dict, custom_objects=None):
        """A new model (fresh weights) from ``get_config()``'s dict."""
        return config.sequential_from_config(cls, config_dict, custom_objects)

    def to_json(self, **kwargs):
        """The architecture as tf.keras 2's JSON text; ``model_from_json`` reads it."""
        return config.to_json(self, **kwargs)

    def save(self, filepath):
        """Architecture, weights and (fastnn's own format) optimizer state in one
        file, no pickle: ``.h5`` writes tf.keras 2's HDF5, ``.keras`` Keras 3's
        zip, any other name fastnn's format (``saving.py``)."""
        saving.save_model(self, filepath)

    def export(self, filepath, format="tf_saved_model", opset_version=None):
        """Write the model for inference engines: ``format="onnx"`` (Keras 3's
        spelling) writes an ONNX graph computing ``predict`` (``fastnn.io.onnx_export``;
        ``opset_version`` 13 to 17, default 17).  Keras 3's default,
        TensorFlow's SavedModel, needs TensorFlow: save a .keras file and
        export it from Keras 3."""
        if format != "onnx":
            raise ValueError(f"export: fastnn writes format='onnx' only, got format={format!r}; "
                             f"for a {format} save the model as .keras and export it in Keras 3")
        onnx_export.export(self, filepath, onnx_export.DEFAULT_OPSET if opset_version is None
                           else opset_version)

    def save_weights(self, filepath):
        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        saving.load_weights(self, filepath)

    def __getattr__(self, name):
        """Only called for attributes the model does not have: for tf.keras 2's
        that fastnn lacks (fit_generator, inputs, ...) the error says what to use."""
        raise attribute_error(f"{type(self).__name__!r} object", name, MODEL_ATTRIBUTES.get(name))

    def __repr__(self):
        return f"<Sequential name={self.name} layers={len(self._layers)}>"
