"""The zoo's nets, each described once, in no framework's terms.

A net is a list of layer specs (small frozen dataclasses below), an input
shape, an optimizer spec and a batch size.  Three builders turn one
description into a fastnn ``Sequential`` (``zoo_fastnn``), a
``torch.nn.Sequential`` (``zoo_torch``) and a ``tf.keras`` model
(``zoo_keras``).  Specs use Keras's names and meanings, because two of the
three frameworks speak them: ``padding="same"`` pads as TensorFlow does
(more at the end when the total is odd), BatchNormalization's ``momentum``
is the weight of the old moving average, optimizer settings are Keras's
arguments with every default written out.

This module imports nothing but the standard library: the PyTorch and
TensorFlow processes load it without loading fastnn.
"""
import math
from dataclasses import dataclass, field
from typing import Optional

# Inputs: the real Fashion-MNIST (28x28x1), random data of CIFAR-10's shape
# (32x32x3) and random sequences of 50 steps of 32 features (the recurrent
# nets) -- the speed of a training step does not depend on the values.
FASHION_MNIST = "fashion_mnist"
CIFAR_SHAPED = "cifar_shaped"
SEQUENCES = "sequences"
INPUT_SHAPES = {FASHION_MNIST: (28, 28, 1), CIFAR_SHAPED: (32, 32, 3), SEQUENCES: (50, 32)}


# ---- layers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conv:
    filters: int
    kernel_size: int
    activation: Optional[str] = None
    strides: int = 1
    padding: str = "valid"

    def output_shape(self, shape):
        h, w, _ = shape
        return (*(window_output(n, self.kernel_size, self.strides, self.padding) for n in (h, w)),
                self.filters)

    def same_padding(self, shape):
        """((top, bottom), (left, right)) zeros TensorFlow adds for ``padding="same"``."""
        return tuple(same_padding(n, self.kernel_size, self.strides) for n in shape[:2])


@dataclass(frozen=True)
class MaxPool:
    pool_size: int = 2

    def output_shape(self, shape):
        return pooled_shape(shape, self.pool_size)


@dataclass(frozen=True)
class AvgPool:
    pool_size: int = 2

    def output_shape(self, shape):
        return pooled_shape(shape, self.pool_size)


@dataclass(frozen=True)
class BatchNorm:
    momentum: float = 0.99
    epsilon: float = 1e-3

    def output_shape(self, shape):
        return shape


@dataclass(frozen=True)
class Activation:
    name: str

    def output_shape(self, shape):
        return shape


@dataclass(frozen=True)
class Dropout:
    rate: float

    def output_shape(self, shape):
        return shape


@dataclass(frozen=True)
class Flatten:
    def output_shape(self, shape):
        return (math.prod(shape),)


@dataclass(frozen=True)
class Dense:
    units: int
    activation: Optional[str] = None

    def output_shape(self, shape):
        return (self.units,)


@dataclass(frozen=True)
class Recurrent:
    """Keras's ``LSTM`` or ``GRU`` (``kind``) with its defaults, returning the last step."""
    kind: str
    units: int

    def output_shape(self, shape):
        return (self.units,)


def window_output(n, kernel_size, strides, padding):
    """Output length of a sliding window over n inputs (Keras's rule)."""
    if padding == "same":
        return -(-n // strides)
    return (n - kernel_size) // strides + 1


def pooled_shape(shape, pool_size):
    """(h, w, c) after a pool_size x pool_size window moved by its size ("valid")."""
    h, w, c = shape
    return h // pool_size, w // pool_size, c


def same_padding(n, kernel_size, strides):
    """(before, after) zeros for ``padding="same"``: the odd one goes after."""
    total = max((window_output(n, kernel_size, strides, "same") - 1) * strides + kernel_size - n, 0)
    return total // 2, total - total // 2


# ---- optimizers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Optimizer:
    """A Keras optimizer class name and all its arguments (defaults written out)."""
    name: str
    settings: dict = field(default_factory=dict)

    def label(self):
        extra = "".join(f", {k} {v:g}" for k, v in self.settings.items()
                        if k in ("momentum",) and v)
        return f"{self.name} (lr {self.settings['learning_rate']:g}{extra})"


def sgd(learning_rate=0.01, momentum=0.0):
    return Optimizer("SGD", {"learning_rate": learning_rate, "momentum": momentum})


def adam(learning_rate=1e-3):
    return Optimizer("Adam", {"learning_rate": learning_rate, "beta_1": 0.9, "beta_2": 0.999,
                              "epsilon": 1e-7})


def rmsprop(learning_rate=1e-3):
    return Optimizer("RMSprop", {"learning_rate": learning_rate, "rho": 0.9, "momentum": 0.0,
                                 "epsilon": 1e-7})


def adadelta(learning_rate=1.0):
    return Optimizer("Adadelta", {"learning_rate": learning_rate, "rho": 0.95, "epsilon": 1e-7})


# ---- nets -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Net:
    name: str
    about: str
    data: str  # FASHION_MNIST, CIFAR_SHAPED or SEQUENCES
    layers: tuple
    optimizer: Optimizer
    batch_size: int

    @property
    def input_shape(self):
        return INPUT_SHAPES[self.data]

    def input_shapes(self):
        """The shape each layer receives, without the batch axis."""
        shapes, shape = [], self.input_shape
        for layer in self.layers:
            shapes.append(shape)
            shape = layer.output_shape(shape)
        return shapes

    @property
    def has_dropout(self):
        return any(isinstance(layer, Dropout) for layer in self.layers)


ZOO = (
    Net("demo_cnn", "`make demo`'s CNN", FASHION_MNIST,
        (Conv(32, 3, "relu"), MaxPool(2), Conv(64, 3, "relu"), MaxPool(2), Flatten(),
         Dropout(0.5), Dense(10, "softmax")), adam(), 128),
    Net("mnist_cnn", "Keras's classic mnist_cnn: conv-conv without pooling between", FASHION_MNIST,
        (Conv(32, 3, "relu"), Conv(64, 3, "relu"), MaxPool(2), Dropout(0.25), Flatten(),
         Dense(128, "relu"), Dropout(0.5), Dense(10, "softmax")), adadelta(1.0), 128),
    Net("lenet5", "LeNet-5: 5x5 convs (same, then valid), tanh, average pooling", FASHION_MNIST,
        (Conv(6, 5, "tanh", padding="same"), AvgPool(2), Conv(16, 5, "tanh"), AvgPool(2),
         Flatten(), Dense(120, "tanh"), Dense(84, "tanh"), Dense(10, "softmax")),
        sgd(0.01, momentum=0.9), 64),
    Net("vgg_bn", "VGG blocks on CIFAR shapes: 3x3 same convs 32-32-64-64, BatchNorm",
        CIFAR_SHAPED,
        (Conv(32, 3, padding="same"), BatchNorm(), Activation("relu"),
         Conv(32, 3, padding="same"), BatchNorm(), Activation("relu"), MaxPool(2),
         Conv(64, 3, padding="same"), BatchNorm(), Activation("relu"),
         Conv(64, 3, padding="same"), BatchNorm(), Activation("relu"), MaxPool(2),
         Flatten(), Dropout(0.5), Dense(10, "softmax")), adam(), 64),
    Net("all_conv", "all-convolutional: stride-2 same convs 16-32-64, global average pool",
        FASHION_MNIST,
        (Conv(16, 3, "relu", strides=2, padding="same"),
         Conv(32, 3, "relu", strides=2, padding="same"),
         Conv(64, 3, "relu", strides=2, padding="same"), AvgPool(4), Flatten(),
         Dense(10, "softmax")), sgd(0.05), 256),
    Net("mlp_512", "Keras's classic mnist_mlp: Dense 512-512 with dropout", FASHION_MNIST,
        (Flatten(), Dense(512, "relu"), Dropout(0.2), Dense(512, "relu"), Dropout(0.2),
         Dense(10, "softmax")), rmsprop(), 128),
    Net("bottleneck", "1x1-conv bottlenecks, elu and sigmoid, on CIFAR shapes", CIFAR_SHAPED,
        (Conv(32, 3, "elu", padding="same"), Conv(16, 1, "elu"), Conv(32, 3, "elu"), MaxPool(2),
         Conv(16, 1, "sigmoid"), Flatten(), Dense(10, "softmax")), adam(), 64),
    Net("small_cnn_b32", "a small CNN at batch 32: 5x5 same conv, then 3x3", FASHION_MNIST,
        (Conv(16, 5, "relu", padding="same"), MaxPool(2), Conv(32, 3, "relu"), MaxPool(2),
         Flatten(), Dense(64, "relu"), Dense(10, "softmax")), adam(), 32),
    Net("mlp_sigmoid", "the course's sigmoid MLP (ch. 23), plain SGD, batch 32", FASHION_MNIST,
        (Flatten(), Dense(128, "sigmoid"), Dense(64, "sigmoid"), Dense(10, "softmax")),
        sgd(0.1), 32),
)

# The recurrent nets (benchmarks/recurrent.py): not part of the zoo's default
# run and its geometric mean, which stay the image nets' they were.
RECURRENT = (
    Net("lstm_128", "LSTM(128) on 50 steps of 32 features, then Dense(10)", SEQUENCES,
        (Recurrent("LSTM", 128), Dense(10, "softmax")), adam(), 64),
    Net("gru_128", "GRU(128) (reset_after) on 50 steps of 32 features, then Dense(10)",
        SEQUENCES, (Recurrent("GRU", 128), Dense(10, "softmax")), adam(), 64),
)

# Nets beyond the zoo (``python benchmarks/zoo.py --nets probes``): shapes the
# zoo's nine do not have -- BatchNorm before tanh and after a Dense layer, a
# 7x7 first layer on three channels, 5x5 stride-2 convolutions without
# pooling, sigmoid convolutions at batch 100; then four well-known small nets
# added later (Keras's cifar10_cnn, TensorFlow's Deep MNIST tutorial, an
# average-pooling CNN at batch 256, a deep tanh MLP) -- measured to check that
# the speed is general.  Not part of the zoo's geometric mean.
PROBES = (
    Net("cnn_bn_tanh", "3x3 convs 24-48, BatchNorm before tanh, max pools, Dense 64",
        FASHION_MNIST,
        (Conv(24, 3, padding="same"), BatchNorm(), Activation("tanh"), MaxPool(2),
         Conv(48, 3), BatchNorm(), Activation("tanh"), MaxPool(2), Flatten(), Dropout(0.3),
         Dense(64, "relu"), Dense(10, "softmax")), adam(), 128),
    Net("cifar_stem7", "a 7x7 same first conv on 3 channels, then 3x3 convs 64-128, elu",
        CIFAR_SHAPED,
        (Conv(32, 7, "relu", padding="same"), MaxPool(2), Conv(64, 3, "elu"), MaxPool(2),
         Conv(128, 3, "relu"), Flatten(), Dense(10, "softmax")), adam(), 32),
    Net("conv5_stride2", "5x5 stride-2 valid convs 16-32, no pooling, SGD momentum",
        FASHION_MNIST,
        (Conv(16, 5, "relu", strides=2), Conv(32, 5, "relu", strides=2), Flatten(),
         Dense(10, "softmax")), sgd(0.01, momentum=0.9), 64),
    Net("mlp_bn", "Dense 256 + BatchNorm + relu, Dense 128 tanh", FASHION_MNIST,
        (Flatten(), Dense(256), BatchNorm(), Activation("relu"), Dense(128, "tanh"),
         Dense(10, "softmax")), adam(), 128),
    Net("sigmoid_cnn", "Nielsen's book net: 5x5 sigmoid convs 20-40, max pools, Dense 100",
        FASHION_MNIST,
        (Conv(20, 5, "sigmoid"), MaxPool(2), Conv(40, 5, "sigmoid"), MaxPool(2), Flatten(),
         Dense(100, "sigmoid"), Dense(10, "softmax")), sgd(0.1), 100),
    Net("keras_cifar10", "Keras's cifar10_cnn example: conv pairs 32-32, 64-64, Dense 512",
        CIFAR_SHAPED,
        (Conv(32, 3, "relu", padding="same"), Conv(32, 3, "relu"), MaxPool(2), Dropout(0.25),
         Conv(64, 3, "relu", padding="same"), Conv(64, 3, "relu"), MaxPool(2), Dropout(0.25),
         Flatten(), Dense(512, "relu"), Dropout(0.5), Dense(10, "softmax")),
        rmsprop(1e-4), 32),
    Net("avg_cnn_b256", "same convs 16-32 with average pooling, Dense 64, batch 256",
        FASHION_MNIST,
        (Conv(16, 3, "relu", padding="same"), AvgPool(2), Conv(32, 3, "relu", padding="same"),
         AvgPool(2), Flatten(), Dense(64, "relu"), Dense(10, "softmax")),
        sgd(0.05, momentum=0.9), 256),
    Net("tf_deep_mnist", "TensorFlow's Deep MNIST tutorial: 5x5 same convs 32-64, Dense 1024",
        FASHION_MNIST,
        (Conv(32, 5, "relu", padding="same"), MaxPool(2), Conv(64, 5, "relu", padding="same"),
         MaxPool(2), Flatten(), Dense(1024, "relu"), Dropout(0.5), Dense(10, "softmax")),
        adam(1e-4), 50),
    Net("deep_mlp_tanh", "four tanh Dense layers of 256, batch 64", FASHION_MNIST,
        (Flatten(), Dense(256, "tanh"), Dense(256, "tanh"), Dense(256, "tanh"),
         Dense(256, "tanh"), Dense(10, "softmax")), adam(), 64),
)

BY_NAME = {net.name: net for net in ZOO + RECURRENT + PROBES}
GROUPS = {"probes": PROBES, "recurrent": RECURRENT}


def nets_named(names):
    """The nets called ``names`` (all of the zoo for None; a group's name,
    "probes" or "recurrent", stands for its nets), in the order of BY_NAME."""
    if names is None:
        return list(ZOO)
    names = {net.name for name in names for net in GROUPS.get(name, ())} | set(names)
    unknown = sorted(names - set(BY_NAME) - set(GROUPS))
    if unknown:
        raise ValueError(f"no net called {', '.join(unknown)} in the zoo; "
                         f"it has: {', '.join(BY_NAME)} (groups: {', '.join(GROUPS)})")
    return [net for net in BY_NAME.values() if net.name in names]
