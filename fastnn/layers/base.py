"""The layer contract every fastnn layer follows (course, chapters 3-4 and 22).

A layer's life:

1. ``__init__`` checks and stores its arguments (``input_shape=`` on the
   first layer of a Sequential model tells it the shape of one sample).
2. ``build(input_shape)`` creates its weights once the input shape is known
   (``add_weight``); shapes carry ``None`` for the batch dimension.
3. ``forward(x, training)`` computes the output and caches what the
   backward pass needs.  Layers that end in an activation compute the
   linear part in ``call`` and let the base class apply the activation
   (``activation_forward``).
4. ``backward(dy)`` gets dLoss/dy, stores the gradient of every weight in
   ``variable.grad`` and returns dLoss/dx (the chain rule, chapter 22):
   ``activation_backward``, then ``call_backward``.

In a model, the halves are the steps of its plan (``fastnn.plan``), which
may also use a layer's fused computations (its activation inside its kernel, a max
pool's backward pass through the ReLU below it).

Everything a layer owns is a ``Variable``; an optimizer updates the
trainable ones in place.

The caches of step 3 are attributes declared on the class as
``BackwardCache`` (``_x = BackwardCache("the input: ...")``; see
``backward_cache.py``): forward writes ``self._x = x`` and backward reads
``self._x``, but each thread has its own value.  So a ``predict`` in one
thread, which runs forward too, cannot overwrite what a training step in
another thread cached between its forward and its backward pass: serving
from one thread while fine-tuning in another is safe.  Forward and
backward of one step run in the same thread.  Everything else a forward
pass at inference (``training=False``) reads or writes must leave the layer
as it was: no moving statistics updated, no random numbers drawn.
"""
import numbers

import numpy as np

from .. import activations, initializers, regularizers
from ..arrays import real_array
from ..naming import snake_case, unique_name
from ..variables import Variable
from .backward_cache import BackwardCache, without_caches


def standardize_shape(shape, what="input_shape"):
    """A shape given by the user as a tuple of positive ints (None allowed)."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"{what} must be a tuple of ints, got {shape!r}") from None
    for dim in shape:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, numbers.Integral)
                                or dim < 1):
            raise ValueError(f"{what} must hold positive ints (or None), got {shape!r}")
    return tuple(None if d is None else int(d) for d in shape)


class Layer:
    """Base class of all layers.

    Args:
        name: unique name; default ``<snake_case class name>[_N]`` as Keras.
        trainable: False freezes the weights (fit leaves them unchanged).
        input_shape: shape of one sample, without the batch dimension.
        input_dim: shorthand for ``input_shape=(input_dim,)``.
        batch_size: fixed batch size for the model's input (shapes only).
    """

    def __init__(self, name=None, trainable=True, input_shape=None, input_dim=None,
                 batch_size=None, dtype=None, **unknown):
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(unknown))}")
        if dtype not in (None, "float32"):
            raise ValueError(f"{type(self).__name__}: fastnn computes in float32, "
                             f"got dtype={dtype!r}")
        if input_dim is not None:
            input_shape = (input_dim,)
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.batch_input_shape = (None if input_shape is None else
                                  (batch_size,) + standardize_shape(input_shape))
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._variables = []

    # ---- weights -----------------------------------------------------------

    def add_weight(self, name, shape, initializer="zeros", regularizer=None, trainable=True):
        """Create, initialise and register one weight array."""
        init = initializers.get(initializer)
        variable = Variable(name, init(tuple(shape)), trainable,
                            regularizers.get(regularizer))
        self._variables.append(variable)
        return variable

    @property
    def variables(self):
        """All weights, in creation order (the order of ``get_weights``)."""
        return list(self._variables)

    weights = variables

    @property
    def trainable_variables(self):
        """Weights fit may change: none while the layer is frozen."""
        return [v for v in self._variables if v.trainable] if self.trainable else []

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self):
        trainable = self.trainable_variables
        return [v for v in self._variables if not any(v is t for t in trainable)]

    non_trainable_weights = non_trainable_variables

    def get_weights(self):
        """Copies of the weight arrays, in Keras order and layouts."""
        return [v.value.copy() for v in self._variables]

    def set_weights(self, weights):
        """Load arrays (same order and shapes as ``get_weights``): all or none."""
        for variable, value in zip(self._variables, self.checked_weights(weights)):
            variable.assign(value)

    def checked_weights(self, weights):
        """``weights`` as arrays of real numbers, one per weight and of its
        shape, or an error naming the layer, the weight and both shapes."""
        weights = list(weights)
        if not self.built and weights:
            raise ValueError(f"layer {self.name!r} is not built yet, so it has no weights to "
                             f"set: give it input_shape=, or call it on data first")
        if len(weights) != len(self._variables):
            raise ValueError(f"layer {self.name!r} expects {len(self._variables)} weight "
                             f"arrays, got {len(weights)}")
        arrays = []
        for variable, value in zip(self._variables, weights):
            value = real_array(value, f"layer {self.name!r}: weight {variable.name!r}")
            if value.shape != variable.shape:
                raise ValueError(f"layer {self.name!r}: weight {variable.name!r} has shape "
                                 f"{variable.shape}, got an array of shape {value.shape}")
            arrays.append(value)
        return arrays

    def count_params(self):
        """Number of scalars in all weights (trainable or not)."""
        return sum(v.value.size for v in self._variables)

    def regularization_loss(self):
        """Sum of the regularizer penalties of the trainable weights (chapter 28)."""
        return sum(v.regularizer(v.value) for v in self.trainable_variables if v.regularizer)

    def add_regularization_gradients(self):
        """Add each penalty's gradient to its weight's gradient."""
        for v in self.trainable_variables:
            if v.regularizer is not None and v.grad is not None:
                v.grad += v.regularizer.gradient(v.value)

    # ---- shapes and building ----------------------------------------------

    def build(self, input_shape):
        """Create weights for inputs of ``input_shape`` (batch dim included)."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def __call__(self, x, training=False):
        """Run the layer on an array, building it first if needed."""
        x = np.asarray(real_array(x, f"layer {self.name!r}: x"), dtype=np.float32)
        if not self.built:
            self.build((None,) + x.shape[1:])
        return self.forward(x, training=training)

    # ---- computation ----------------------------------------------------------

    activation = None  # layers that end in an activation function set this
    # False when nothing needs dLoss/dx: layers whose input gradient costs real
    # work then skip it and return None.  A model's plan sets it before each
    # backward step (rule "skip input gradient of the first trainable layer").
    input_gradient_needed = True

    _z = BackwardCache("the activation's input, None when the layer's kernel applied it")
    _y = BackwardCache("the activation's output")

    def forward(self, x, training=False):
        """y = activation(call(x)); caches what ``backward`` needs."""
        z = self.call(x, training)
        return z if self.activation is None else self.activation_forward(z)

    def backward(self, dy):
        """dLoss/dx from dLoss/dy; fills ``variable.grad`` of every weight."""
        if self.activation is not None:
            dy = self.activation_backward(dy)
        return self.call_backward(dy)

    def activation_forward(self, z):
        """y = activation(z), the second half of ``forward``: a step of its own
        in a model's plan when nothing fuses the activation into a kernel.
        z is kept only when the activation's backward pass reads it (silu,
        exact gelu, capped relus, plain callables): the C kernels of the
        others need only y."""
        y = self.activation.forward(z)
        self._z, self._y = (None if self.activation.in_place else z), y
        return y

    def activation_backward(self, dy):
        """dLoss/dz from dLoss/dy: the activation's half of ``backward``."""
        return self.activation.backward(self._z, self._y, dy)

    def call(self, x, training=False):
        """The layer's own computation (before any activation)."""
        return x

    def call_backward(self, dz):
        """Gradient through ``call``: dLoss/dx from dLoss/dz."""
        return dz

    # ---- configuration ----------------------------------------------------------

    def get_config(self):
        """Every constructor argument, JSON-serialisable (subclasses add theirs)."""
        config = {"name": self.name, "trainable": self.trainable}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        batch_input_shape = config.pop("batch_input_shape", None)
        if batch_input_shape is not None:
            config["input_shape"] = tuple(batch_input_shape[1:])
            config["batch_size"] = batch_input_shape[0]
        return cls(**config)

    def __getstate__(self):
        """What ``copy.copy``, ``copy.deepcopy`` and pickle take: every
        attribute but the per-thread backward caches (a copy has its own)."""
        return without_caches(self.__dict__)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class KernelBiasLayer(Layer):
    """A layer with a kernel and an optional bias (Dense, Conv2D): the shared
    initializer and regularizer options and their configuration."""

    def __init__(self, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    # Whether this layer's kernel can apply an activation as it writes each
    # output (its epilogue): True in Dense, Conv2D and Conv1D (matmul, conv2d).
    has_epilogue = False

    @property
    def epilogue(self):
        """(name, alpha) of the activation this layer's kernel applies itself
        (``activation=`` and ``alpha=`` of ``matmul`` and ``conv2d``), or None:
        a plain ReLU, or any activation whose C kernel's backward pass needs
        only y (tanh, sigmoid, elu, selu, softplus, softsign, hard_sigmoid,
        leaky relu, exponential).  A model's plan asks this (rule "activation
        in the kernel's epilogue"); ``compile(fuse=False)`` runs the
        activation separately."""
        if not self.has_epilogue or self.activation is None:
            return None
        if self.activation.name == "relu" and not self.activation.config:
            return "relu", None
        return self.activation.kernel if self.activation.in_place else None

    @property
    def fuses_activation(self):
        """Whether the kernel applies this layer's activation (``epilogue``)."""
        return self.epilogue is not None

    @property
    def epilogue_is_relu(self):
        """Whether the kernel applies a plain ReLU: then the backward pass is
        the mask y > 0, which a max pool above or dense_backward applies."""
        return self.fuses_activation and self.epilogue[0] == "relu"

    def forward(self, x, training=False):
        """y = activation(call(x)), with the activation inside the kernel when
        the kernel can apply it (``epilogue``): one pass over the output
        instead of two, and z is never kept (the backward pass needs only y).
        A layer without an epilogue applies any activation whose C kernel's
        backward pass needs only y in place on the kernel's output (a new
        array ``call`` made): no second array either (the plan's rule
        "activation in place on the kernel's output")."""
        if self.fuses_activation:
            y = self.call(x, training, epilogue=self.epilogue)
            self._z, self._y = None, y
            return y
        if self.activation is not None and self.activation.in_place:
            y = self.activation.forward_in_place(self.call(x, training))
            self._z, self._y = None, y
            return y
        return super().forward(x, training)

    _dz = BackwardCache("the array activation_backward writes dLoss/dz into, reused from "
                        "step to step (z's size, instead of z itself, which is not kept)")

    def activation_backward(self, dy):
        """dLoss/dz = dy · f'(z) in one C pass, into an array of z's size the
        layer keeps for this (its kernel's backward pass reads it and returns
        new arrays, so nothing outside the layer ever holds it)."""
        if self.activation.kernel is None:
            return super().activation_backward(dy)
        dz = getattr(self, "_dz", None)
        if dz is None or dz.shape != dy.shape:
            dz = self._dz = np.empty(dy.shape, np.float32)
        return self.activation.backward_into(self._z, self._y, dy, out=dz)

    def check_input_size(self, x):
        """x's last axis must hold the features (Dense) or channels (Conv2D) the
        kernel was built for: the kernel's second-to-last axis."""
        size = self.kernel.shape[-2]
        if x.shape[-1] != size:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) was built for "
                             f"inputs with {size} values on the last axis, got an input of "
                             f"shape {x.shape}")

    def build_kernel_and_bias(self, kernel_shape, units):
        """Create ``kernel`` (kernel_shape) and, with use_bias, ``bias`` (units,)."""
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (units,), self.bias_initializer,
                                     self.bias_regularizer) if self.use_bias else None)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}
