"""ONNX export: ``model.export("m.onnx", format="onnx")`` (Keras 3's spelling).

ONNX is a graph of standard operators that inference engines run on CPUs,
GPUs and accelerators (onnxruntime, TensorRT, OpenVINO, ...): the way to
serve a fastnn model beyond one machine (README, "Beyond one machine").
The graph computes ``model.predict``: inference mode, so Dropout and the
augmentation layers pass their input through and BatchNormalization uses
its moving statistics.

fastnn keeps images NHWC (channels last); ONNX's Conv, pooling, Resize
and BatchNormalization take NCHW (sequences NLC and NCL, volumes NDHWC and
NCDHW the same way: "NHWC" and "NCHW" below stand for channels last and
first at any rank).  The graph transposes once into NCHW
before the first of those and back into NHWC only where the order of the
numbers matters (Flatten, Reshape, Dense, softmax over the last axis, the
output), so a Flatten after convolutions orders its numbers as fastnn's
does and the Dense after it keeps its kernel.  Element-wise activations
and Dropout work in either layout.

Each layer maps to the operators below; weights become initializers in
ONNX's layouts::

    Dense               MatMul (kernel (in, out)) + Add
    Conv1D/2D/3D        Conv, kernel (kh, kw, in, out) -> (out, in, kh, kw) (1-D, 3-D alike),
                        "same" as explicit pads, the odd one bottom/right (Keras's rule);
                        Conv1D's "causal" as k - 1 pads before the first step
    Conv2DTranspose     ConvTranspose, kernel (kh, kw, out, in) -> (in, out, kh, kw),
                        pads and output_padding giving Keras's output size
    MaxPooling1D/2D/3D  MaxPool (padded cells never win)
    AveragePooling1D/2D/3D  AveragePool, count_include_pad=0 (padded cells never count)
    GlobalAveragePooling1D/2D/3D, GlobalMaxPooling1D/2D/3D
                        GlobalAveragePool, GlobalMaxPool (+ Flatten without keepdims)
    BatchNormalization  BatchNormalization with the moving mean and variance
    UpSampling2D        Resize: nearest (asymmetric, floor) or linear (half_pixel,
                        tf.image.resize's pixel centres)
    Flatten, Reshape    Flatten, Reshape
    Activation          one operator per function (Relu, Sigmoid, Softmax, Elu, Selu,
                        HardSigmoid, ...); silu and gelu spelled out with Sigmoid / Erf
    SimpleRNN, LSTM, GRU  RNN, LSTM, GRU on (steps, batch, features) (a Transpose before
                        and after): W = kernelᵀ, R = recurrent_kernelᵀ, B = [input bias,
                        recurrent bias or 0]; LSTM gates Keras i, f, c, o -> ONNX i, o, f, c;
                        GRU z, r, h in both, linear_before_reset = Keras's reset_after;
                        go_backwards as direction "reverse", whose sequence ONNX returns
                        in input order, so a Slice reverses it into Keras's processed order
    Dropout, Random*    nothing (inference)

A layer or activation without an ONNX form is refused by name, before
anything is written.  The export needs the ``onnx`` package (``pip install
fastnn[onnx]``); ``onnx.checker`` validates the graph before the file is
written (atomically).
"""
import math

import numpy as np

from .. import layers
from .._version import __version__
from ..activations import SELU_ALPHA, SELU_SCALE
from ..atomic_write import atomic_write
from ..kernels.geometry import same_padding
from ..layers.conv2d import window_extent

#: The operator-set versions the export writes (and the tests run).
OPSETS = range(13, 18)
DEFAULT_OPSET = 17


def channels_first(rank):
    """The Transpose permutation NHWC -> NCHW for a tensor of ``rank``: (0, 3, 1, 2) for 4."""
    return (0, rank - 1, *range(1, rank - 1))


def channels_last(rank):
    """The Transpose permutation NCHW -> NHWC: (0, 2, 3, 1) for rank 4."""
    return (0, *range(2, rank), 1)


#: Activations that are one ONNX operator: name -> (operator, attributes from the config).
SIMPLE_ACTIVATIONS = {
    "relu": ("Relu", lambda c: {}),
    "leaky_relu": ("LeakyRelu", lambda c: {"alpha": float(c.get("negative_slope", 0.2))}),
    "sigmoid": ("Sigmoid", lambda c: {}),
    "tanh": ("Tanh", lambda c: {}),
    "softsign": ("Softsign", lambda c: {}),
    "softplus": ("Softplus", lambda c: {}),
    "exponential": ("Exp", lambda c: {}),
    "elu": ("Elu", lambda c: {"alpha": float(c.get("alpha", 1.0))}),
    "selu": ("Selu", lambda c: {"alpha": SELU_ALPHA, "gamma": SELU_SCALE}),
    # fastnn's (tf.keras 2's) hard sigmoid: clip(0.2·x + 0.5, 0, 1)
    "hard_sigmoid": ("HardSigmoid", lambda c: {"alpha": 0.2, "beta": 0.5}),
}


def import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("exporting to ONNX needs the onnx package: "
                          "pip install fastnn[onnx]") from None
    return onnx


def export(model, filepath, opset_version=DEFAULT_OPSET):
    """Write ``model`` as an ONNX file computing ``model.predict``."""
    onnx = import_onnx()
    if opset_version not in OPSETS:
        raise ValueError(f"export: opset_version must be one of {OPSETS.start}..."
                         f"{OPSETS.stop - 1}, got {opset_version!r}")
    proto = onnx_model(onnx, model, opset_version)
    onnx.checker.check_model(proto)
    with atomic_write(filepath) as f:
        f.write(proto.SerializeToString())


def onnx_model(onnx, model, opset_version):
    """The ``onnx.ModelProto`` of ``model``."""
    shape = model.batch_input_shape
    if not model.built or shape is None or None in shape[1:]:
        raise ValueError(f"export: model {model.name!r} needs a known input shape (one sample "
                         f"of fixed size), got {shape}; give input_shape= to the first layer "
                         f"or call build()")
    graph = Graph(onnx, len(shape))
    for layer in model.layers:
        convert = CONVERTERS.get(type(layer))
        if convert is None:
            raise ValueError(f"export: layer {layer.name!r} ({type(layer).__name__}) has no "
                             f"ONNX form; fastnn exports "
                             f"{', '.join(sorted(cls.__name__ for cls in CONVERTERS))}")
        convert(graph, layer)
    graph.to_layout("NHWC")
    graph.apply("Identity", output="output")
    helper, float32 = onnx.helper, onnx.TensorProto.FLOAT
    proto = helper.make_model(
        helper.make_graph(graph.nodes, model.name,
                          [helper.make_tensor_value_info("input", float32,
                                                         ["batch", *shape[1:]])],
                          [helper.make_tensor_value_info("output", float32,
                                                         ["batch", *model.output_shape[1:]])],
                          graph.initializers),
        opset_imports=[helper.make_opsetid("", opset_version)],
        producer_name="fastnn", producer_version=__version__)
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    return proto


class Graph:
    """The graph being built: its nodes and initializers, and the tensor that
    flows from layer to layer (its name, rank and layout)."""

    def __init__(self, onnx, rank):
        self.onnx, self.rank = onnx, rank
        self.nodes, self.initializers = [], []
        self.tensor, self.layout = "input", "NHWC"
        self._names = 0

    def _name(self, hint):
        self._names += 1
        return f"{hint}_{self._names}"

    def constant(self, hint, array):
        """An initializer holding ``array`` (float32, or int64 for shapes); its name."""
        array = np.asarray(array)
        array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float32)
        name = self._name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, output=None, **attributes):
        """Add one node; the name of its output."""
        output = output or self._name(op)
        self.nodes.append(self.onnx.helper.make_node(
            op, list(inputs), [output], name=self._name(f"{op}_node"), **attributes))
        return output

    def node_with_outputs(self, op, inputs, hints, **attributes):
        """Add one node with an output per hint; their names."""
        outputs = [self._name(hint) for hint in hints]
        self.nodes.append(self.onnx.helper.make_node(
            op, list(inputs), outputs, name=self._name(f"{op}_node"), **attributes))
        return outputs

    def apply(self, op, *operands, output=None, **attributes):
        """The current tensor becomes ``op(current, *operands)``."""
        self.tensor = self.node(op, [self.tensor, *operands], output, **attributes)

    def to_layout(self, layout):
        """Transpose a batch of sequences, images or volumes into ``layout``
        ("NHWC" or "NCHW", channels last or first) if it is not."""
        if self.rank >= 3 and self.layout != layout:
            perm = channels_first if layout == "NCHW" else channels_last
            self.apply("Transpose", perm=list(perm(self.rank)))
            self.layout = layout


# ---- layers ----------------------------------------------------------------------------------

def _window(layer, kernel):
    """Keras's padding for ``layer``'s window (``kernel``: its span on each
    axis) on its input, as ONNX's pads: the zeros before each axis, then those
    after ([top, left, bottom, right] in 2-D)."""
    pads = [same_padding(size, k, s) if layer.padding == "same" else
            (k - 1, 0) if layer.padding == "causal" else (0, 0)
            for size, k, s in zip(layer.input_shape[1:-1], kernel, layer.strides)]
    return [before for before, _ in pads] + [after for _, after in pads]


def _kernel_and_bias(graph, layer, kernel):
    inputs = [graph.constant(f"{layer.name}_kernel", kernel)]
    if layer.bias is not None:
        inputs.append(graph.constant(f"{layer.name}_bias", layer.bias.value))
    return inputs


def _dense(graph, layer):
    graph.to_layout("NHWC")
    graph.rank = len(layer.output_shape)
    graph.apply("MatMul", graph.constant(f"{layer.name}_kernel", layer.kernel.value))
    if layer.bias is not None:
        graph.apply("Add", graph.constant(f"{layer.name}_bias", layer.bias.value))
    _activation(graph, layer, layer.activation)


def _conv(graph, layer):
    """Conv1D, Conv2D and Conv3D: the kernel (..., in, out) as ONNX's (out, in, ...)."""
    graph.to_layout("NCHW")
    rank = layer.kernel.value.ndim
    kernel = np.transpose(layer.kernel.value, (rank - 1, rank - 2, *range(rank - 2)))
    graph.apply("Conv", *_kernel_and_bias(graph, layer, kernel),
                kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                dilations=list(layer.dilation_rate), pads=_window(layer, window_extent(layer)))
    _activation(graph, layer, layer.activation)


def _conv2d_transpose(graph, layer):
    """ONNX's output length is s·(in - 1) + k - pad_begin - pad_end + output_padding.
    Keras's transposed convolution is the gradient of a Conv2D from its
    output back to its input, so pad_begin is that Conv2D's top (left)
    padding; pad_end and output_padding then make up Keras's length."""
    graph.to_layout("NCHW")
    kernel = np.transpose(layer.kernel.value, (3, 2, 0, 1))        # (in, out, kh, kw)
    pads, output_padding = [0, 0, 0, 0], [0, 0]
    for axis, (size, out, k, s) in enumerate(zip(layer.input_shape[1:3],
                                                 layer.output_shape[1:3],
                                                 layer.kernel_size, layer.strides)):
        begin = same_padding(out, k, s)[0] if layer.padding == "same" else 0
        end = s * (size - 1) + k - begin - out
        pads[axis], pads[axis + 2] = begin, max(end, 0)
        output_padding[axis] = max(-end, 0)
    graph.apply("ConvTranspose", *_kernel_and_bias(graph, layer, kernel),
                kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                pads=pads, output_padding=output_padding)
    _activation(graph, layer, layer.activation)


def _pooling(op, **attributes):
    def convert(graph, layer):
        graph.to_layout("NCHW")
        graph.apply(op, kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                    pads=_window(layer, layer.pool_size), **attributes)
    return convert


def _global_pooling(op):
    def convert(graph, layer):
        graph.to_layout("NCHW")
        graph.apply(op)                   # (batch, channels, 1, ...)
        if not layer.keepdims:
            graph.apply("Flatten", axis=1)
            graph.rank, graph.layout = 2, "NHWC"
    return convert


def _batch_normalization(graph, layer):
    """ONNX normalises axis 1: an image batch in NCHW has its channels there;
    any other feature axis is moved there and back."""
    graph.to_layout("NCHW")
    axis = layer._axis
    if graph.layout == "NCHW" and graph.rank >= 3:   # where the feature axis is now
        axis = 1 if axis == graph.rank - 1 else axis + 1
    perm = None
    if axis != 1:
        perm = [0, axis] + [i for i in range(1, graph.rank) if i != axis]
        graph.apply("Transpose", perm=perm)
    size = layer.moving_mean.shape[0]
    values = [v.value if v is not None else np.full(size, default, np.float32)
              for v, default in ((layer.gamma, 1.0), (layer.beta, 0.0))]
    graph.apply("BatchNormalization",
                *(graph.constant(f"{layer.name}_{name}", value) for name, value in zip(
                    ("gamma", "beta", "moving_mean", "moving_variance"),
                    values + [layer.moving_mean.value, layer.moving_variance.value])),
                epsilon=layer.epsilon)
    if perm is not None:
        graph.apply("Transpose", perm=list(np.argsort(perm)))


def _upsampling2d(graph, layer):
    graph.to_layout("NCHW")
    scales = graph.constant(f"{layer.name}_scales", np.array([1, 1, *layer.size], np.float32))
    if layer.interpolation == "nearest":   # output pixel o copies input floor(o / size)
        graph.apply("Resize", "", scales, mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:                                  # samples (o + 0.5) / size - 0.5, edges clamped
        graph.apply("Resize", "", scales, mode="linear",
                    coordinate_transformation_mode="half_pixel")


def _flatten(graph, layer):
    graph.to_layout("NHWC")
    graph.rank = 2
    graph.apply("Flatten", axis=1)


def _reshape(graph, layer):
    graph.to_layout("NHWC")
    graph.rank = len(layer.output_shape)
    graph.apply("Reshape", graph.constant(f"{layer.name}_shape", [0, *layer.target_shape]))


#: fastnn's activations of the recurrent layers as ONNX's RNN activation functions,
#: with the alpha and beta of those that take them.
RECURRENT_ACTIVATIONS = {"tanh": ("Tanh", ()), "sigmoid": ("Sigmoid", ()), "relu": ("Relu", ()),
                         "linear": ("Affine", (1.0, 0.0)),
                         "hard_sigmoid": ("HardSigmoid", (0.2, 0.5))}

#: Keras's gate blocks in ONNX's order, per cell (LSTM: i, f, c, o -> i, o, f, c).
ONNX_GATE_ORDER = {"simple_rnn": [0], "lstm": [0, 3, 1, 2], "gru": [0, 1, 2],
                   "gru_reset_before": [0, 1, 2]}


def _recurrent(graph, layer):
    """SimpleRNN, LSTM and GRU as ONNX's RNN, LSTM and GRU operators."""
    graph.to_layout("NHWC")
    units, steps, cell = layer.units, layer.input_shape[1], layer.cell
    blocks = ONNX_GATE_ORDER[cell]

    def gates_first(matrix):   # (rows, G·units) in Keras's order -> (1, G·units, rows)
        parts = np.split(matrix, len(blocks), axis=-1)
        return np.concatenate([parts[k] for k in blocks], axis=-1).T[None]

    width = len(blocks) * units
    input_bias, recurrent_bias = layer.input_bias(), layer.recurrent_bias()
    bias = np.concatenate([
        np.zeros(width) if input_bias is None else gates_first(input_bias[None])[0, :, 0],
        np.zeros(width) if recurrent_bias is None else gates_first(recurrent_bias[None])[0, :, 0]])
    functions = [layer.cell_activation.name] if cell == "simple_rnn" else (
        [layer.recurrent_activation.name] + [layer.cell_activation.name] * (cell == "lstm")
        + [layer.cell_activation.name])
    attributes = dict(hidden_size=units,
                      direction="reverse" if layer.go_backwards else "forward",
                      activations=[RECURRENT_ACTIVATIONS[f][0] for f in functions])
    numbers = [RECURRENT_ACTIVATIONS[f][1] for f in functions]
    if any(numbers):   # onnxruntime reads them in turn for the functions that take them
        attributes.update(activation_alpha=[n[0] for n in numbers if n],
                          activation_beta=[n[1] for n in numbers if n])
    if cell.startswith("gru"):
        attributes["linear_before_reset"] = int(cell == "gru")
    graph.apply("Transpose", perm=[1, 0, 2])                 # (steps, batch, features)
    inputs = [graph.tensor, graph.constant(f"{layer.name}_W", gates_first(layer.kernel.value)),
              graph.constant(f"{layer.name}_R", gates_first(layer.recurrent_kernel.value)),
              graph.constant(f"{layer.name}_B", bias[None])]
    op = {"simple_rnn": "RNN", "lstm": "LSTM"}.get(cell, "GRU")
    sequence, last = graph.node_with_outputs(op, inputs, [f"{op}_Y", f"{op}_Y_h"], **attributes)
    if not layer.return_sequences:                           # Y_h: (1, batch, units)
        graph.tensor = last
        graph.apply("Squeeze", graph.constant(f"{layer.name}_axes", [0]))
        graph.rank = 2
        return
    graph.tensor = sequence                                  # Y: (steps, 1, batch, units)
    graph.apply("Squeeze", graph.constant(f"{layer.name}_axes", [1]))
    if layer.go_backwards:
        graph.apply("Slice", graph.constant(f"{layer.name}_starts", [steps - 1]),
                    graph.constant(f"{layer.name}_ends", [np.iinfo(np.int64).min]),
                    graph.constant(f"{layer.name}_axis", [0]),
                    graph.constant(f"{layer.name}_steps", [-1]))
    graph.apply("Transpose", perm=[1, 0, 2])
    graph.rank = 3


def _activation_layer(graph, layer):
    _activation(graph, layer, layer.activation)


def _identity_at_inference(graph, layer):
    """Dropout and augmentation: nothing happens at inference."""


def _random_crop(graph, layer):
    if tuple(layer.input_shape[1:3]) != (layer.height, layer.width):
        raise ValueError(f"export: layer {layer.name!r} (RandomCrop) resizes its "
                         f"{layer.input_shape[1:3]} images to {(layer.height, layer.width)} "
                         f"at inference, which the export does not write; crop the images "
                         f"before the model instead")


# ---- activations -----------------------------------------------------------------------------

def _activation(graph, layer, activation):
    name, config = activation.name, activation.config
    if name == "linear":
        return
    if name in SIMPLE_ACTIVATIONS and not (name == "relu" and config):
        op, attributes = SIMPLE_ACTIVATIONS[name]
        graph.apply(op, **attributes(config))
    elif name == "softmax" and config.get("axis", -1) in (-1, len(layer.output_shape) - 1):
        graph.to_layout("NHWC")
        graph.apply("Softmax", axis=-1)
    elif name == "silu":                    # x · sigmoid(x)
        x = graph.tensor
        graph.apply("Sigmoid")
        graph.apply("Mul", x)
    elif name == "gelu":
        _gelu(graph, layer, config.get("approximate", False))
    else:
        raise ValueError(f"export: layer {layer.name!r} ({type(layer).__name__}): activation "
                         f"{activation!r} has no ONNX form")


def _gelu(graph, layer, approximate):
    """x · Φ(x) = x · (1 + erf(x / √2)) / 2, or with approximate=True the tanh
    form x · (1 + tanh(√(2/π)·(x + 0.044715·x³))) / 2."""
    def number(hint, value):
        return graph.constant(f"{layer.name}_{hint}", np.float32(value))
    x = graph.tensor
    if approximate:
        graph.apply("Pow", number("three", 3.0))
        graph.apply("Mul", number("cubic", 0.044715))
        graph.apply("Add", x)
        graph.apply("Mul", number("scale", math.sqrt(2.0 / math.pi)))
        graph.apply("Tanh")
    else:
        graph.apply("Div", number("sqrt2", math.sqrt(2.0)))
        graph.apply("Erf")
    graph.apply("Add", number("one", 1.0))
    graph.apply("Mul", x)
    graph.apply("Mul", number("half", 0.5))


CONVERTERS = {
    layers.Dense: _dense, layers.Conv2D: _conv, layers.Conv2DTranspose: _conv2d_transpose,
    layers.MaxPooling2D: _pooling("MaxPool"),
    layers.AveragePooling2D: _pooling("AveragePool", count_include_pad=0),
    # 1-D, 3-D and global pooling (issue 18)
    layers.Conv1D: _conv, layers.Conv3D: _conv,
    layers.MaxPooling1D: _pooling("MaxPool"), layers.MaxPooling3D: _pooling("MaxPool"),
    layers.AveragePooling1D: _pooling("AveragePool", count_include_pad=0),
    layers.AveragePooling3D: _pooling("AveragePool", count_include_pad=0),
    layers.GlobalAveragePooling1D: _global_pooling("GlobalAveragePool"),
    layers.GlobalAveragePooling2D: _global_pooling("GlobalAveragePool"),
    layers.GlobalAveragePooling3D: _global_pooling("GlobalAveragePool"),
    layers.GlobalMaxPooling1D: _global_pooling("GlobalMaxPool"),
    layers.GlobalMaxPooling2D: _global_pooling("GlobalMaxPool"),
    layers.GlobalMaxPooling3D: _global_pooling("GlobalMaxPool"),
    layers.BatchNormalization: _batch_normalization, layers.UpSampling2D: _upsampling2d,
    layers.Flatten: _flatten, layers.Reshape: _reshape, layers.Activation: _activation_layer,
    layers.Dropout: _identity_at_inference, layers.RandomFlip: _identity_at_inference,
    layers.RandomRotation: _identity_at_inference, layers.RandomZoom: _identity_at_inference,
    layers.RandomTranslation: _identity_at_inference,
    layers.RandomBrightness: _identity_at_inference,
    layers.RandomContrast: _identity_at_inference, layers.RandomCrop: _random_crop,
    layers.SimpleRNN: _recurrent, layers.LSTM: _recurrent, layers.GRU: _recurrent,
}
