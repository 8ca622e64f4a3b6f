"""Kernel benchmarks on the shapes of a canonical small CNN.

``python -m fastnn bench`` times every kernel here with each implementation
(fast, naive, numpy) and prints ms and GFLOP/s (GB/s for pooling, warps and
batch norm, which do little arithmetic); the repository's ``benchmarks/`` run the same
cases under pytest-benchmark.  NumPy's matmul is OpenBLAS sgemm: the
yardstick for what this machine can do.

The canonical CNN (the ``make demo`` model) on a batch of 64 Fashion-MNIST
images: conv 3x3 1->32 on 28x28, max-pool 2x2, conv 3x3 32->64 on 13x13;
plus the augmentation warp of a batch, batch normalisation and ReLU after
the first convolution, LeNet-5's first layer (5x5, 1->6, same), and the
optimizers' update of a large Dense layer.
"""
import time
from dataclasses import dataclass, field
from statistics import median

import numpy as np

from . import kernels
from .kernels.geometry import conv_output_length


@dataclass(frozen=True)
class Case:
    """One kernel call to time: ``kernels.<kernel>(*inputs, **options)``."""

    name: str
    kernel: str
    shapes: tuple          # shapes of the positional array arguments
    options: dict = field(default_factory=dict)
    flops: float = 0.0     # arithmetic per call (0 for memory-bound kernels)
    naive: bool = True     # False where there is no naive version, or it would take minutes
    leading: tuple = ()    # positional arguments before the arrays (an activation's name)

    def inputs(self, seed=0):
        """Random float32 inputs in [-1, 1): timing does not depend on values."""
        rng = np.random.default_rng(seed)
        return [rng.uniform(-1, 1, s).astype(np.float32) for s in self.shapes]

    def call(self, impl):
        """A zero-argument function running this case with ``impl``."""
        fn, args = getattr(kernels, self.kernel), self.inputs()
        return lambda: fn(*self.leading, *args, **self.options, impl=impl)

    def bytes_moved(self):
        """Bytes read (the inputs) plus written (the outputs) by one call."""
        outputs = self.call("numpy")()
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return 4 * (sum(int(np.prod(s)) for s in self.shapes) + sum(o.size for o in outputs))


def _matmul(m, n, k, transpose_a=False, naive=True):
    shape_a = (k, m) if transpose_a else (m, k)
    label = f"{m}x{k}{'ᵀ' if transpose_a else ''} @ {k}x{n}"
    return Case(f"matmul {label}", "matmul", (shape_a, (k, n)),
                {"transpose_a": transpose_a}, 2.0 * m * n * k, naive)


def _conv(batch, size, c_in, c_out, k=3, backward=False, stride=1, padding="valid",
          first=False, activation=None):
    """A convolution, or its backward pass (dW only for a network's ``first`` layer);
    ``activation``: the forward pass applies it in its epilogue."""
    out = conv_output_length(size, k, stride, padding)
    flops = 2.0 * batch * out * out * c_out * k * k * c_in
    x, w, dy = (batch, size, size, c_in), (k, k, c_in, c_out), (batch, out, out, c_out)
    shape = f"{batch}x{size}x{size}x{c_in}->{c_out} {k}x{k}"
    if (stride, padding) != (1, "valid"):
        shape += f" s{stride} {padding}"
    options = {"strides": stride, "padding": padding}
    if activation is not None:
        options["activation"] = activation
        shape += f" + {activation}"
    if backward and first:
        return Case(f"conv2d_backward {shape} no dx", "conv2d_backward", (x, w, dy),
                    {**options, "compute_dx": False}, flops)
    if backward:
        return Case(f"conv2d_backward {shape}", "conv2d_backward", (x, w, dy), options,
                    2 * flops)
    return Case(f"conv2d {shape}", "conv2d", (x, w), options, flops)


def _pool(mode, batch, size, channels, backward=False, through=None, dropout=None):
    """``through``: the backward pass takes the activation below along ("relu", "tanh");
    ``dropout``: (keep_prob, seed) of a dropout above folded in (after the pool
    forward, on dy backward)."""
    x = (batch, size, size, channels)
    options = {"pool_size": 2, **({"dropout": dropout} if dropout else {})}
    label = f"{batch}x{size}x{size}x{channels} 2x2{' + dropout' if dropout else ''}"
    if backward:
        dy = (batch, size // 2, size // 2, channels)
        options.update({"through": through} if through else {})
        return Case(f"{mode}_pool2d_backward {label}{f' through {through}' if through else ''}",
                    f"{mode}_pool2d_backward", (x, dy), options)
    return Case(f"{mode}_pool2d {label}", f"{mode}_pool2d", (x,), options)


def _pool3d(mode, batch, depth, size, channels, backward=False):
    """A 2x2x2 pool of volumes (two 2-D pools over reshaped views, ``kernels.pooling_nd``)."""
    x = (batch, depth, size, size, channels)
    label = f"{batch}x{depth}x{size}x{size}x{channels} 2x2x2"
    if backward:
        dy = (batch, depth // 2, size // 2, size // 2, channels)
        return Case(f"{mode}_pool3d_backward {label}", f"{mode}_pool3d_backward", (x, dy),
                    {"pool_size": 2})
    return Case(f"{mode}_pool3d {label}", f"{mode}_pool3d", (x,), {"pool_size": 2})


def _rotations(batch, size, degrees=15.0):
    """Output-to-input matrices turning each image by up to +-degrees about its centre."""
    angle = np.deg2rad(np.linspace(-degrees, degrees, batch))
    cos, sin, c = np.cos(angle), np.sin(angle), (size - 1) / 2
    return np.stack([cos, -sin, c - cos * c + sin * c, sin, cos, c - sin * c - cos * c], 1)


def _warp(batch, size, channels, backward=False):
    images = (batch, size, size, channels)
    options = {"transforms": _rotations(batch, size)}
    if backward:
        return Case(f"affine_warp_backward {batch}x{size}x{size}x{channels} rotate",
                    "affine_warp_backward", (images,), {**options, "input_size": size})
    return Case(f"affine_warp {batch}x{size}x{size}x{channels} rotate", "affine_warp",
                (images,), options)


def _batch_norm(rows, channels, kernel, relu=False):
    """Batch norm on a (rows, channels) matrix with unit statistics; ``relu``:
    fused with the ReLU after it (the backward pass recomputes its mask)."""
    shapes = {"batch_norm_stats": 1, "batch_norm": 1, "batch_norm_backward": 2}[kernel]
    options = {} if kernel == "batch_norm_stats" else {
        "mean": np.zeros(channels, np.float32), "var": np.ones(channels, np.float32)}
    if relu:
        options["relu"] = True
    return Case(f"{kernel}{' + relu' if relu else ''} {rows}x{channels}", kernel,
                ((rows, channels),) * shapes, options)


def _relu(backward=False):
    """ReLU over the first convolution's output (64x26x26x32)."""
    shape = (64, 26, 26, 32)
    if backward:
        return Case("relu_backward 64x26x26x32", "relu_backward", (shape, shape))
    return Case("relu 64x26x26x32", "relu", (shape,))


def _activation(name, backward=False):
    """Another activation over the first convolution's output, or its backward
    pass (from y, or from x for silu)."""
    shape = (64, 26, 26, 32)
    if backward:
        return Case(f"activation_backward {name} 64x26x26x32", "activation_backward",
                    (shape, shape), leading=(name,))
    return Case(f"activation {name} 64x26x26x32", "activation", (shape,), leading=(name,))


def _dropout():
    """Dropout (rate 0.5) over the first convolution's output: the mask is hashed, not drawn."""
    return Case("dropout 64x26x26x32 rate 0.5", "dropout", ((64, 26, 26, 32),),
                {"keep_prob": 0.5, "seed": 1})


def _first_layer_pooled(batch=64):
    """The first convolution's weight gradient from the first pool's output gradient."""
    x, w = (batch, 28, 28, 1), (3, 3, 1, 32)
    y, dp = (batch, 26, 26, 32), (batch, 13, 13, 32)
    return Case(f"conv2d_pooled_weight_gradient {batch}x28x28x1->32 3x3, pool 2x2",
                "conv2d_pooled_weight_gradient", (x, w, y, dp), {},
                2.0 * batch * 26 * 26 * 32 * 9)


def _first_layer_through(batch=64, through="relu"):
    """The first convolution's weight gradient with its activation's derivative
    folded in (no pool above it: mnist_cnn's first layer)."""
    x, w, y = (batch, 28, 28, 1), (3, 3, 1, 32), (batch, 26, 26, 32)
    return Case(f"conv2d_weight_gradient_through {batch}x28x28x1->32 3x3, {through}",
                "conv2d_weight_gradient_through", (x, w, y, y), {"through": through},
                2.0 * batch * 26 * 26 * 32 * 9)


def _first_layer_relu_max_pool(batch=64):
    """The first convolution, its ReLU and the first pool in one pass (p and the winners)."""
    return Case(f"conv2d_relu_max_pool2d {batch}x28x28x1->32 3x3, pool 2x2",
                "conv2d_relu_max_pool2d", ((batch, 28, 28, 1), (3, 3, 1, 32), (32,)), {},
                2.0 * batch * 26 * 26 * 32 * 9)


def _classifier_output(rows=10000, classes=10):
    """Softmax and the sparse crossentropy over a test set's worth of outputs."""
    labels = np.arange(rows) % classes
    return [Case(f"softmax {rows}x{classes}", "softmax", ((rows, classes),)),
            Case(f"sparse_crossentropy {rows}x{classes} + gradient", "sparse_crossentropy",
                 ((rows, classes),), {"labels": labels, "gradient_scale": 1.0 / rows},
                 naive=False)]


@dataclass(frozen=True)
class UpdateCase(Case):
    """One optimizer step (``kernels.UpdateRule(kernel, **options)``) on one
    weight array of shape ``shapes[0]``, called again and again in place."""

    def call(self, impl):
        update = kernels.UpdateRule(self.kernel, **self.options)
        w, g = self.inputs()
        slots = [np.full_like(w, 0.01) for _ in update.slot_names]  # mean squares stay > 0
        numbers = (1e-3, 1e-4, 1.0) if self.kernel == "nadam" else (1e-3,)
        return lambda: update.apply([w], [g], [slots], *numbers, impl=impl)

    def bytes_moved(self):
        """w, g and the slots read; w and the slots written."""
        slots = len(kernels.UpdateRule(self.kernel, **self.options).slot_names)
        return 4 * int(np.prod(self.shapes[0])) * (3 + 2 * slots)


def _optimizer(rule, shape, **settings):
    options = "".join(f" {k}={v}" for k, v in settings.items())
    return UpdateCase(f"{rule}_update {'x'.join(map(str, shape))}{options}", rule,
                      (shape, shape), settings)


def _dense_backward(rows=128, features=1600, units=10, activation=None):
    """The demo CNN's Dense layer: dW, db and dx in one call; with ``activation``
    (the sigmoid MLP's first hidden layer) its derivative from y first."""
    options, label = {}, ""
    if activation:
        y = np.random.default_rng(1).uniform(0.01, 0.99, (rows, units)).astype(np.float32)
        options, label = {"y": y, "activation": activation}, f" + {activation}"
    return Case(f"dense_backward{label} {rows}x{features}->{units}", "dense_backward",
                ((rows, features), (features, units), (rows, units)), options,
                4.0 * rows * features * units)


def _dense_forward(rows, features, units, activation=None):
    """A Dense layer's forward pass, y = act(x·W + b), on the team it is worth."""
    label = f" + {activation}" if activation else ""
    return Case(f"dense_forward{label} {rows}x{features}->{units}", "dense_forward",
                ((rows, features), (features, units), (units,)), {"activation": activation},
                2.0 * rows * features * units)


class _RecurrentBackward(Case):
    """rnn_backward needs the forward pass's RnnSteps: computed once, outside the clock."""

    def call(self, impl):
        z, u_kernel, dy = self.inputs()
        steps = kernels.rnn_forward(z, u_kernel, **self.options)
        return lambda: kernels.rnn_backward(steps, u_kernel, dy, **self.options, impl=impl)


def _recurrent(cell, batch=64, steps=50, units=128, backward=False):
    """The time loop of benchmarks/recurrent.py's nets: per step h·U (forward) or
    dr·Uᵀ (backward), 2·batch·units·G·units operations, and the gates."""
    width = {"lstm": 4, "gru": 3, "gru_reset_before": 3}[cell] * units
    flops = 2.0 * batch * steps * units * width
    name = f"rnn_{'backward' if backward else 'forward'} {cell} {batch}x{steps}, {units} units"
    if backward:
        return _RecurrentBackward(name, "rnn_backward", ((batch, steps, width), (units, width),
                                                         (batch, steps, units)),
                                  {"cell": cell}, flops)
    return Case(name, "rnn_forward", ((batch, steps, width), (units, width)), {"cell": cell},
                flops)


def canonical_cases():
    """The benchmark cases, in the order the table prints them."""
    return [
        _matmul(256, 256, 256), _matmul(512, 512, 512), _matmul(1024, 1024, 1024, naive=False),
        # the skinny products the two convolutions lower to (forward, dW)
        _matmul(43264, 32, 9), _matmul(7744, 64, 288), _matmul(288, 64, 7744, transpose_a=True),
        # a classifier head (the demo CNN's, 3136 features -> 10 units) on the kernels for
        # few columns: x·W (dot products along k) and dW = xᵀ·dy (column tiles)
        _matmul(128, 10, 3136), _matmul(3136, 10, 128, transpose_a=True),
        _conv(64, 28, 1, 32), _conv(64, 13, 32, 64),
        _conv(64, 28, 1, 32, backward=True), _conv(64, 13, 32, 64, backward=True),
        # LeNet-5's first layer (5x5, 6 filters, same padding): the direct kernels' channel tail
        _conv(64, 28, 1, 6, k=5, padding="same"),
        _conv(64, 28, 1, 6, k=5, padding="same", backward=True, first=True),
        # a ResNet-style stem on colour images (7x7x3 -> 32): a long patch on few channels,
        # still the direct kernels' (forward; dW in place)
        _conv(32, 32, 3, 32, k=7, padding="same"),
        _conv(32, 32, 3, 32, k=7, padding="same", backward=True, first=True),
        # its second layer's backward (6 -> 16, 5x5): dx for few input channels (col2im)
        _conv(64, 14, 6, 16, k=5, backward=True),
        # pointwise (1x1) convolutions' backward (dx on the direct kernel, W^T) and a
        # stride-2 convolution's
        _conv(64, 32, 32, 16, k=1, backward=True), _conv(64, 32, 16, 16, k=1, backward=True),
        # an activation whose backward reads y in the epilogue (the bottleneck net's 1x1
        # conv + elu and its first layer), against NumPy's convolution and then elu
        _conv(64, 32, 32, 16, k=1, activation="elu"),
        _conv(64, 32, 3, 32, padding="same", activation="elu"),
        _conv(256, 14, 16, 32, backward=True, stride=2, padding="same"),
        _first_layer_pooled(), _first_layer_relu_max_pool(), _first_layer_through(),
        _first_layer_through(through="tanh"),
        _pool("max", 64, 26, 32), _pool("max", 64, 26, 32, backward=True),
        _pool("max", 64, 26, 32, backward=True, through="relu"),
        _pool("avg", 64, 26, 32), _pool("avg", 64, 26, 32, backward=True),
        # with the dropout above the pool folded in (mnist_cnn's MaxPool -> Dropout 0.25)
        _pool("max", 64, 26, 32, dropout=(0.75, 1)),
        _pool("max", 64, 26, 32, backward=True, through="relu", dropout=(0.75, 1)),
        # LeNet-5's first pool: 6 channels, under a tanh
        _pool("avg", 64, 28, 6),
        _pool("avg", 64, 28, 6, backward=True, through="tanh"),
        # the same feature maps as 8 volumes of depth 8 (MaxPooling3D, AveragePooling3D)
        _pool3d("max", 8, 8, 26, 32), _pool3d("max", 8, 8, 26, 32, backward=True),
        _pool3d("avg", 8, 8, 26, 32), _pool3d("avg", 8, 8, 26, 32, backward=True),
        # augmenting a training batch of 128 images; batch norm after the first conv
        _warp(128, 28, 1), _warp(128, 28, 1, backward=True),
        _batch_norm(64 * 26 * 26, 32, "batch_norm_stats"),
        _batch_norm(64 * 26 * 26, 32, "batch_norm"),
        _batch_norm(64 * 26 * 26, 32, "batch_norm_backward"),
        _batch_norm(64 * 26 * 26, 32, "batch_norm", relu=True),
        _batch_norm(64 * 26 * 26, 32, "batch_norm_backward", relu=True),
        _relu(), _relu(backward=True),
        *[_activation(name, backward) for name in ("tanh", "sigmoid", "elu", "silu")
          for backward in (False, True)],
        _dropout(),
        *_classifier_output(), _dense_backward(),
        # small nets' layers: a classifier head on 512 features, LeNet-5's 400 -> 120 + tanh
        _dense_forward(64, 512, 10), _dense_forward(64, 400, 120, activation="tanh"),
        _dense_backward(64, 512, 10),
        _dense_backward(32, 784, 128, activation="sigmoid"),
        # the optimizers' update of the largest layer of mnist_mlp / mnist_cnn (Keras examples)
        _optimizer("sgd", (784, 512), momentum=0.9, nesterov=True), _optimizer("adam", (784, 512)),
        _optimizer("rmsprop", (784, 512)), _optimizer("adadelta", (9216, 128)),
        # the recurrent benchmark's LSTM and GRU (benchmarks/recurrent.py), and the GRU
        # with reset_after=False
        _recurrent("lstm"), _recurrent("lstm", backward=True),
        _recurrent("gru"), _recurrent("gru", backward=True),
        _recurrent("gru_reset_before"), _recurrent("gru_reset_before", backward=True),
    ]


def time_call(fn, min_seconds=0.2, repeats=5):
    """Median seconds per call over ``repeats`` runs of at least ``min_seconds``."""
    fn()  # warm up: page in buffers, wake the thread pool
    calls, start = 0, time.perf_counter()
    while calls < 1 or time.perf_counter() - start < min_seconds / repeats:
        fn()
        calls += 1
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls)
    return median(runs)


def rate(case, seconds):
    """GFLOP/s for arithmetic kernels, GB/s for memory-bound ones."""
    if case.flops:
        return f"{case.flops / seconds / 1e9:8.1f} GFLOP/s"
    return f"{case.bytes_moved() / seconds / 1e9:8.1f} GB/s   "


def run(impls=("numpy", "fast", "naive"), min_seconds=0.2, match="", out=print):
    """Time every canonical case whose name contains ``match`` with every impl
    and print a table."""
    out(f"{'kernel':<46} {'impl':<6} {'ms':>10}  {'rate':>16}  {'vs numpy':>8}")
    for case in (c for c in canonical_cases() if match in c.name):
        seconds = {}
        for impl in impls:
            if impl == "naive" and not case.naive:
                out(f"{case.name:<46} {impl:<6} {'(no naive run)':>10}")
                continue
            seconds[impl] = time_call(case.call(impl), min_seconds)
            ratio = (f"{seconds['numpy'] / seconds[impl]:7.2f}x"
                     if "numpy" in seconds else "")
            out(f"{case.name:<46} {impl:<6} {seconds[impl] * 1e3:10.3f}  "
                f"{rate(case, seconds[impl]):>16}  {ratio:>8}")
    return 0
