"""PyTorch in the zoo: a ``torch.nn.Sequential`` per net, trained by the usual eager loop.

The model is what a PyTorch user writes for the Keras net, in PyTorch's own
terms: NCHW images, the activation as its own module, no softmax at the end
(``CrossEntropyLoss`` takes the logits: the same loss as softmax followed by
Keras's sparse categorical crossentropy).  Two places need care to be the
same net, not a similar one:

- weights: Keras keeps a conv kernel as (kh, kw, in, out) and a Dense
  kernel as (in, out); PyTorch as (out, in, kh, kw) and (out, in).  A Dense
  layer after ``Flatten`` also sees its inputs in another order -- (c, h, w)
  from NCHW instead of (h, w, c) -- so its rows are permuted to match;
- ``padding="same"``: TensorFlow puts the odd zero at the end (a stride-2
  3x3 conv on 28 pixels pads 0 before, 1 after); PyTorch's ``padding=`` is
  symmetric, so an uneven padding becomes a ``ZeroPad2d`` before the conv.

Optimizers get Keras's settings under PyTorch's names (RMSprop's rho is
alpha, BatchNorm's momentum is 1 - Keras's).
"""
import numpy as np
import torch
from torch import nn

import zoo_nets

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


def configure(settings):
    """Threads as asked (the interop pool must be set before any parallel work)."""
    torch.set_num_threads(settings["threads"])
    torch.set_num_interop_threads(settings["interop_threads"])
    return {"version": torch.__version__, "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def native_data(x, y):
    """NCHW float32 and int64 tensors (copies: the NHWC arrays can go)."""
    if x.ndim == 4:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def activation(name):
    if name is None:
        return []
    if name not in ACTIVATIONS:
        raise ValueError(f"zoo_torch: no module for activation {name!r} (the zoo's torch "
                         f"builder knows {', '.join(ACTIVATIONS)}); softmax may only end a net")
    return [ACTIVATIONS[name]()]


def tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def modules(net, weights):
    """The torch modules of ``net``, their parameters loaded from Keras-layout ``weights``."""
    weights = iter(weights)
    flattened_from = None  # (h, w, c) of the image the last Flatten flattened
    out = []
    for index, (spec, shape) in enumerate(zip(net.layers, net.input_shapes())):
        last = index == len(net.layers) - 1
        if isinstance(spec, zoo_nets.Conv):
            (top, bottom), (left, right) = ((0, 0), (0, 0)) if spec.padding == "valid" else \
                spec.same_padding(shape)
            if (top, left) != (bottom, right):
                out.append(nn.ZeroPad2d((left, right, top, bottom)))
                top = left = 0
            conv = nn.Conv2d(shape[-1], spec.filters, spec.kernel_size, stride=spec.strides,
                             padding=(top, left))
            conv.weight.data = tensor(np.transpose(next(weights), (3, 2, 0, 1)))
            conv.bias.data = tensor(next(weights))
            out += [conv] + activation(spec.activation)
        elif isinstance(spec, zoo_nets.MaxPool):
            out.append(nn.MaxPool2d(spec.pool_size))
        elif isinstance(spec, zoo_nets.AvgPool):
            out.append(nn.AvgPool2d(spec.pool_size))
        elif isinstance(spec, zoo_nets.BatchNorm):
            if flattened_from is not None:
                raise ValueError(f"zoo_torch: {net.name}: BatchNorm right after Flatten is not "
                                 f"supported (its parameters would need the Dense permutation)")
            norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d  # after a conv, a Dense
            bn = norm(shape[-1], eps=spec.epsilon, momentum=1 - spec.momentum)
            bn.weight.data, bn.bias.data = tensor(next(weights)), tensor(next(weights))
            bn.running_mean.data, bn.running_var.data = tensor(next(weights)), tensor(next(weights))
            out.append(bn)
        elif isinstance(spec, zoo_nets.Activation):
            out += activation(spec.name)
        elif isinstance(spec, zoo_nets.Dropout):
            out.append(nn.Dropout(spec.rate))
        elif isinstance(spec, zoo_nets.Flatten):
            out.append(nn.Flatten())
            flattened_from = shape
        elif isinstance(spec, zoo_nets.Dense):
            kernel = next(weights)
            if flattened_from is not None and len(flattened_from) == 3:
                h, w, c = flattened_from  # Keras's rows run (h, w, c); torch's inputs (c, h, w)
                kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
            flattened_from = None
            linear = nn.Linear(shape[0], spec.units)
            linear.weight.data, linear.bias.data = tensor(kernel.T), tensor(next(weights))
            out += [linear] + ([] if last and spec.activation == "softmax" else
                               activation(spec.activation))
        elif isinstance(spec, zoo_nets.Recurrent):
            out.append(LastStep(recurrent(spec, shape[-1], next(weights), next(weights),
                                          next(weights))))
        else:
            raise TypeError(f"zoo_torch: unknown layer spec {spec!r}")
    if next(weights, None) is not None:
        raise ValueError(f"zoo_torch: {net.name}: more weight arrays than layers take")
    return out


# Keras's gates in PyTorch's order: LSTM i, f, c, o is PyTorch's i, f, g, o;
# GRU z, r, h becomes r, z, n (PyTorch's GRU is Keras's reset_after=True).
GATE_ORDER = {"LSTM": (0, 1, 2, 3), "GRU": (1, 0, 2)}


def recurrent(spec, features, kernel, recurrent_kernel, bias):
    """nn.LSTM / nn.GRU (batch first) with Keras's weights: kernel (features,
    G·units) is weight_ih transposed, gates reordered; the LSTM's one bias goes
    to bias_ih (bias_hh zero), the GRU's input and recurrent rows to each."""
    units, order = spec.units, GATE_ORDER[spec.kind]

    def gates(array):
        return np.concatenate([array[..., g * units:(g + 1) * units] for g in order], axis=-1)

    module = getattr(nn, spec.kind)(features, units, batch_first=True)
    module.weight_ih_l0.data = tensor(gates(kernel).T)
    module.weight_hh_l0.data = tensor(gates(recurrent_kernel).T)
    bias_ih, bias_hh = (bias, np.zeros_like(bias)) if spec.kind == "LSTM" else bias
    module.bias_ih_l0.data, module.bias_hh_l0.data = tensor(gates(bias_ih)), tensor(gates(bias_hh))
    return module


class LastStep(nn.Module):
    """A recurrent module's output at the last step, as Keras's default
    ``return_sequences=False`` gives it."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0][:, -1]


def optimizer(spec, parameters):
    """torch.optim's optimizer with Keras's settings ``spec``."""
    s = spec.settings
    if spec.name == "SGD":
        return torch.optim.SGD(parameters, lr=s["learning_rate"], momentum=s["momentum"])
    if spec.name == "Adam":
        return torch.optim.Adam(parameters, lr=s["learning_rate"],
                                betas=(s["beta_1"], s["beta_2"]), eps=s["epsilon"])
    if spec.name == "RMSprop":
        return torch.optim.RMSprop(parameters, lr=s["learning_rate"], alpha=s["rho"],
                                   momentum=s["momentum"], eps=s["epsilon"])
    if spec.name == "Adadelta":
        return torch.optim.Adadelta(parameters, lr=s["learning_rate"], rho=s["rho"],
                                    eps=s["epsilon"])
    raise ValueError(f"zoo_torch: no torch.optim mapping for optimizer {spec.name!r}")


def build(net, weights):
    module = nn.Sequential(*modules(net, weights))
    return EagerLoop(module, optimizer(net.optimizer, module.parameters()))


class EagerLoop:
    """The PyTorch training loop users write: a shuffled index, a slice, five calls per step."""

    def __init__(self, module, optimizer):
        self.module = module
        self.optimizer = optimizer
        self.loss_fn = nn.CrossEntropyLoss()

    def loss(self, x, y):
        self.module.eval()
        with torch.no_grad():
            return float(self.loss_fn(self.module(x), y))

    def fit_epoch(self, x, y, batch_size, on_batch_end=None):
        """One shuffled epoch; returns its mean loss and accuracy, as ``fit`` reports them."""
        self.module.train()
        order = torch.randperm(len(x))
        loss_sum = correct = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            self.optimizer.zero_grad()
            logits = self.module(xb)
            loss = self.loss_fn(logits, yb)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            if on_batch_end is not None:
                on_batch_end()
        return loss_sum / len(x), correct / len(x)
