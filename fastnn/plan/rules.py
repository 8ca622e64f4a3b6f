"""The fusion rules: where a training step can do two things in one pass.

Each rule has a name, one line on why it pays, a ``check`` that looks at
some layers (their types, activations, shapes; for kernel limits it asks the
layer) and returns a ``Verdict`` -- it applies, or it does not and why --
or None where the rule has nothing to say, and ``steps`` that make the
plan's steps where it applies (the two "skip" rules make none: they end the
backward pass early).  ``Plan`` asks them while it walks the layers;
``compile(fuse=False)`` asks none of them.
"""
from typing import NamedTuple

from ..layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                      Dropout, MaxPooling2D)
from ..layers.base import KernelBiasLayer
from ..naming import snake_case
from .steps import (BackwardStep, DropoutPoolStep, ForwardStep, PairForwardStep,
                    PooledForwardStep, PooledGradientStep, PoolThroughStep)


def kind(layer):
    """The name of a layer's own computation: "conv2d", "max_pooling2d", "dense"."""
    return snake_case(type(layer).__name__)


def activation_of(layer):
    """The layer's activation, None for none or linear (the identity)."""
    activation = layer.activation
    if activation is None or (activation.name == "linear" and not activation.config):
        return None
    return activation


def activation_name(activation):
    """"relu", or "relu(negative_slope=0.1)" for a configured one."""
    config = ", ".join(f"{key}={value!r}" for key, value in activation.config.items())
    return f"{activation.name}({config})" if config else activation.name


def has_kernel_relu(layer):
    """Whether the layer's kernel applies its activation, a plain ReLU, itself
    (not another activation in the kernel's epilogue)."""
    return isinstance(layer, KernelBiasLayer) and layer.epilogue_is_relu


def pool_through(layer):
    """What a pool's backward pass can fold in of the layer below: "relu" for
    a plain ReLU its kernel applies, the C kernel's (name, alpha) of another
    activation whose derivative needs only y, the pool's input (applied in
    the kernel's epilogue or in place on its output), else None."""
    if has_kernel_relu(layer):
        return "relu", 0.0
    activation = activation_of(layer)
    if isinstance(layer, KernelBiasLayer) and activation is not None and activation.in_place:
        return activation.kernel
    return None


def not_over_output(activation, where_z_goes):
    """Why ``activation`` cannot overwrite its kernel's output with y: its
    backward pass reads z (and where z goes), it mixes a row (softmax), or it
    has no elementwise C kernel."""
    if activation.kernel is not None:
        return f"the backward pass of {activation_name(activation)} reads its input z{where_z_goes}"
    if activation.name == "softmax":
        return "softmax mixes each row: it has a kernel of its own"
    return (f"{activation_name(activation)} has no elementwise C kernel: NumPy computes it "
            f"into a new array")


class Verdict(NamedTuple):
    """A rule's answer at one place: ``applies``, at ``where`` (layer names),
    and ``reason``, why not, when it does not."""

    rule: "Rule"
    applies: bool
    where: str
    reason: str = ""


class Rule:
    """A fusion.  Subclasses set ``name`` and ``why`` and define ``check``
    (a Verdict, or None where the rule has nothing to say) and ``steps``."""

    name = ""
    why = ""

    def yes(self, where):
        return Verdict(self, True, where)

    def no(self, where, reason):
        return Verdict(self, False, where, reason)

    def __repr__(self):
        return f"<Rule {self.name}>"


class ActivationInKernel(Rule):
    name = "activation in the kernel's epilogue"
    why = ("the convolution or matmul kernel applies the activation -- relu, or any whose "
           "backward pass needs only its output (tanh, sigmoid, elu, selu, softplus, "
           "softsign, hard_sigmoid, leaky relu, exponential) -- to each block of output "
           "as it writes it, while the block is in L1: one pass over the output instead "
           "of two, and z is never stored")

    def check(self, layer):
        activation = activation_of(layer)
        if not isinstance(layer, KernelBiasLayer) or activation is None:
            return None
        if layer.fuses_activation:
            return self.yes(layer.name)
        if not layer.has_epilogue:
            return self.no(layer.name, f"{type(layer).__name__}'s kernel applies no activation")
        return self.no(layer.name, not_over_output(activation, ", which the kernel does not keep"))

    def steps(self, layer):
        bias = "+bias" if layer.bias is not None else ""
        return [ForwardStep(f"{kind(layer)}{bias}+{activation_name(layer.activation)}",
                            (layer,), "forward", self)]


class ActivationInPlace(Rule):
    name = "activation in place on the kernel's output"
    why = ("on a kernel without an epilogue (Conv3D, Conv2DTranspose), an activation with a "
           "C kernel whose backward pass needs only its output overwrites the kernel's output "
           "with y in one pass: no second array, z is never kept")

    def check(self, layer):
        """Asked where "activation in the kernel's epilogue" does not apply; it
        speaks for kernels without an epilogue only (that rule said why not)."""
        activation = activation_of(layer)
        if not isinstance(layer, KernelBiasLayer) or layer.has_epilogue or activation is None:
            return None
        if activation.in_place:
            return self.yes(layer.name)
        return self.no(layer.name, not_over_output(activation, ": y goes to a new array"))

    def steps(self, layer):
        bias = "+bias" if layer.bias is not None else ""
        return [ForwardStep(f"{kind(layer)}{bias}, {activation_name(layer.activation)} in place",
                            (layer,), "forward", self)]


class BatchNormRelu(Rule):
    name = "batch norm + relu"
    why = ("the batch norm pass writes relu(y) as it writes y, and its backward pass reads dy "
           "only where that output is > 0: no ReLU pass forward or backward, and no gradient "
           "array between the two")

    def check(self, norm, after):
        """Asked for each layer and the one after it."""
        if not isinstance(norm, BatchNormalization) or not isinstance(after, Activation):
            return None
        activation = activation_of(after)
        if activation is None:
            return None
        where = f"{norm.name} + {after.name}"
        if activation.name == "relu" and not activation.config:
            return self.yes(where)
        return self.no(where, f"{after.name}'s activation is {activation_name(activation)}, "
                              f"the batch norm kernel applies a plain relu only")

    def steps(self, norm, after):
        return [ForwardStep(f"{kind(norm)}+relu", (norm, after), "forward_relu", self)]

    def backward_steps(self, norm, after, input_gradient):
        return [BackwardStep(f"{kind(norm)}+relu backward", (norm, after), "backward_relu",
                             self, input_gradient)]


class DenseActivationDerivative(Rule):
    name = "dense backward with the activation's derivative"
    why = ("dense_backward multiplies dy by the activation's derivative, computed from y "
           "(relu's mask y > 0, sigmoid's y(1-y), tanh's 1-y^2, ...), as it starts: one "
           "kernel call for the layer's whole backward pass instead of two")

    def check(self, layer):
        """Asked for a Dense layer whose activation no other step takes."""
        if not isinstance(layer, Dense):
            return None
        if has_kernel_relu(layer):   # Dense.backward itself applies the ReLU's mask
            return self.yes(layer.name)
        if not layer.activation.in_place:
            return self.no(layer.name, f"no C kernel computes the derivative of "
                                       f"{activation_name(layer.activation)} from y: its "
                                       f"backward pass is a step of its own")
        if type(layer).call_backward is not Dense.call_backward:
            return self.no(layer.name, f"{type(layer).__name__} overrides call_backward: the "
                                       f"plain backward pass runs, so the override does")
        return self.yes(layer.name)

    def steps(self, layer, input_gradient):
        if has_kernel_relu(layer):   # Dense.backward: the mask inside dense_backward
            return [BackwardStep("dense backward with relu mask", (layer,), "backward", self,
                                 input_gradient)]
        return [BackwardStep(f"dense backward with {layer.activation.name}", (layer,),
                             "backward_through_activation", self, input_gradient)]


class FirstLayerWeightGradientThrough(Rule):
    name = "first-layer weight gradient through the activation"
    why = ("the first trainable Conv2D needs no input gradient, and its activation's "
           "derivative is a function of y (relu's mask, tanh's 1-y^2, ...): the weight "
           "gradient multiplies each block of dy by f'(y) as it reads it, instead of a pass "
           "that writes a y-sized gradient and the kernel reading it back")

    def check(self, layer, is_first):
        """Asked for a layer whose activation no other step takes; speaks for
        the first trainable Conv2D with an activation only."""
        if not isinstance(layer, Conv2D) or not is_first or activation_of(layer) is None:
            return None
        refusal = layer.weight_gradient_through_refusal()
        return self.no(layer.name, refusal) if refusal else self.yes(layer.name)

    def steps(self, layer):
        name = f"{kind(layer)} dW, db through {layer.activation.name}"
        return [BackwardStep(name, (layer,), "gradients_through_activation", self, False)]


class MaxPoolThroughRelu(Rule):
    name = "max_pool backward through relu"
    why = ("the gradient reaches only each window's maximum, and there the ReLU's derivative "
           "is max > 0: the pool applies it as it routes dy, one pass less over the largest "
           "activation of a CNN")

    def check(self, pool, below):
        """Speaks for a ReLU in the kernel below only: "pool backward through
        the activation" answers for every other activation."""
        if not isinstance(pool, MaxPooling2D) or not has_kernel_relu(below):
            return None
        return self.yes(f"{pool.name} over {below.name}")

    def steps(self, pool, below):
        # the layer below then starts its backward pass at its kernel (call_backward)
        return [BackwardStep(self.name, (pool, below), "backward_through_relu", self)]


class PoolThroughActivation(Rule):
    name = "pool backward through the activation"
    why = ("an average pool spreads dy/area over each window, a max pool routes dy to each "
           "maximum; an activation below whose derivative needs only its output -- the "
           "pool's input -- (tanh, sigmoid, elu, leaky relu, ...; relu under an average "
           "pool) multiplies each image's gradient by f'(y) while it is still in cache: no "
           "activation backward pass of its own")

    def check(self, pool, below):
        """Asked where "max_pool backward through relu" has nothing to say."""
        if (not isinstance(pool, (MaxPooling2D, AveragePooling2D))
                or activation_of(below) is None or MAX_POOL_THROUGH_RELU.check(pool, below)):
            return None
        where = f"{pool.name} over {below.name}"
        if isinstance(below, Activation):
            return self.no(where, f"{below.name} is an Activation layer: its backward is a "
                                  f"step of its own, or part of batch norm + relu's")
        if pool_through(below) is None:
            return self.no(where, f"{below.name}'s activation {activation_name(below.activation)}"
                                  f" is not applied in place on its kernel's output: its "
                                  f"backward pass is a step of its own")
        return self.yes(where)

    def steps(self, pool, below):
        # the layer below then starts its backward pass at its kernel (call_backward)
        through = pool_through(below)
        return [PoolThroughStep(f"{pool_kind(pool)} backward through {through[0]}", pool,
                                below, self, through)]


class PooledWeightGradient(Rule):
    name = "pooled first-layer weight gradient"
    why = ("the first trainable Conv2D(relu) under a max pool needs no input gradient: its dW "
           "and db come straight from the pool's output gradient, and the y-sized gradients "
           "of the pool's and the ReLU's backward passes are never written")

    def check(self, conv, pool, is_first):
        """Asked where "max_pool backward through relu" applies to (pool, conv)."""
        if not isinstance(conv, Conv2D):
            return None
        where = f"{conv.name} under {pool.name}"
        if not is_first:
            return self.no(where, f"{conv.name} is not the first trainable layer: the layers "
                                  f"below need its input gradient")
        refusal = conv.pooled_weight_gradient_refusal(pool)
        return self.no(where, refusal) if refusal else self.yes(where)

    def steps(self, conv, pool):
        return [PooledGradientStep(self.name, pool, conv, self)]


class PooledForward(Rule):
    name = "first layer's conv + relu + max pool in one pass"
    why = ("where the pooled first-layer weight gradient takes the backward pass, it needs "
           "of the convolution's output only which tap of each pool window won: the forward "
           "pass pools that output a few rows at a time while they are in cache and writes "
           "the pooled values and a byte per window instead -- the largest activation of a "
           "CNN is never written whole, nor read again by the pool or the weight gradient")

    def check(self, conv, pool, is_first):
        """Asked for each layer and the one after it; speaks where "pooled
        first-layer weight gradient" would be asked, and applies where that
        applies (its backward pass reads what this forward pass keeps)."""
        if not isinstance(pool, MaxPooling2D) or not MAX_POOL_THROUGH_RELU.check(pool, conv):
            return None
        backward = POOLED_WEIGHT_GRADIENT.check(conv, pool, is_first)
        if backward is None:
            return None
        where = f"{conv.name} + {pool.name}"
        if not backward.applies:
            return self.no(where, f"the pooled first-layer weight gradient does not apply: "
                                  f"{backward.reason}")
        return self.yes(where)

    def steps(self, conv, pool):
        bias = "+bias" if conv.bias is not None else ""
        return [PooledForwardStep(f"{kind(conv)}{bias}+relu+max_pool", conv, pool, self)]


def pool_kind(pool):
    """"max_pool" or "avg_pool": a 2-D pool's name in step names."""
    return "max_pool" if isinstance(pool, MaxPooling2D) else "avg_pool"


def dropout_refusal(pool, dropout):
    """None where a 2-D pool's kernel can apply ``dropout``'s mask, else why
    not; raises nothing: a rule asks it for (pool, the layer above)."""
    if dropout.noise_shape is not None:
        return (f"{dropout.name} has noise_shape {dropout.noise_shape}: its mask is drawn per "
                f"noise_shape, not per element as the kernels' mask")
    return None


class PoolDropout(Rule):
    name = "pool + dropout in one pass"
    why = ("the pool writes each output already dropped out (the dropout kernel's mask, a hash "
           "of the seed and the position, computed on the vector in registers): the dropout "
           "reads and writes no array of its own")

    def check(self, pool, dropout):
        if not isinstance(pool, (MaxPooling2D, AveragePooling2D)) or not isinstance(dropout,
                                                                                 Dropout):
            return None
        where = f"{pool.name} + {dropout.name}"
        refusal = dropout_refusal(pool, dropout)
        return self.no(where, refusal) if refusal else self.yes(where)

    def steps(self, pool, dropout):
        return [PairForwardStep(f"{pool_kind(pool)}+dropout", (pool, dropout),
                                "forward_through_dropout", self)]


class DropoutInPoolBackward(Rule):
    name = "dropout backward inside the pool backward"
    why = ("the pool's backward pass multiplies each dy vector by the dropout's mask "
           "(recomputed from its seed) as it loads it: the dropout's backward pass reads and "
           "writes no array of its own")

    def check(self, dropout, pool, below, below_is_first):
        """Asked for a Dropout, the pool under it and the layer under that
        (``below_is_first``: the first trainable layer)."""
        if not isinstance(dropout, Dropout) or not isinstance(pool, (MaxPooling2D,
                                                                     AveragePooling2D)):
            return None
        where = f"{dropout.name} over {pool.name}"
        refusal = dropout_refusal(pool, dropout)
        if refusal:
            return self.no(where, refusal)
        if MAX_POOL_THROUGH_RELU.check(pool, below):
            pooled = POOLED_WEIGHT_GRADIENT.check(below, pool, below_is_first)
            if pooled is not None and pooled.applies:
                return self.no(where, f"the pooled first-layer weight gradient of {below.name} "
                                      f"takes {pool.name}'s output gradient")
        return self.yes(where)

    def steps(self, dropout, pool, below, through):
        """``through``: what the pool folds in of below's activation
        (``pool_through``), or None."""
        if through is None:
            return [DropoutPoolStep(f"dropout+{pool_kind(pool)} backward", (dropout, pool),
                                    self, (None,))]
        return [DropoutPoolStep(f"dropout+{pool_kind(pool)}+{through[0]} backward",
                                (dropout, pool, below), self, through)]


class LogitsGradient(Rule):
    name = "loss gradient w.r.t. the logits"
    why = ("for softmax + crossentropy (sigmoid + binary crossentropy) dLoss/dlogits is "
           "(p-y)/N: exact, stable, without the 1/p of the log and the softmax's Jacobian")
    step_names = {"softmax": "softmax+crossentropy", "sigmoid": "sigmoid+binary crossentropy"}

    def check(self, loss, output):
        activation = activation_of(output)
        if activation is None and loss.logits_activation is None:
            return None
        name = activation_name(activation) if activation is not None else "no activation"
        where = f"{loss.name} after {output.name} ({name})"
        if loss.fuses_with(activation):
            return self.yes(where)
        if loss.logits_activation is None:
            return self.no(where, f"{loss.name} has no short gradient through {name}")
        return self.no(where, f"{loss.name} has one through {loss.logits_activation} only, "
                              f"the output layer has {name}")

    def step_name(self, output):
        return self.step_names[output.activation.name]


class SkipLayersBelow(Rule):
    name = "skip layers below the first trainable one"
    why = ("nothing below it has a weight to learn (input augmentation, a frozen base): "
           "their backward passes would be thrown away")

    def check(self, layers, first):
        if first == 0:
            return None
        return self.yes(", ".join(layer.name for layer in layers[:first]))


class SkipInputGradient(Rule):
    name = "skip input gradient of the first trainable layer"
    why = "nothing below it learns, so dLoss/dx of its input would be thrown away"

    def check(self, layers, first):
        return self.yes(layers[first].name) if first < len(layers) else None


ACTIVATION_IN_KERNEL = ActivationInKernel()
ACTIVATION_IN_PLACE = ActivationInPlace()
BATCH_NORM_RELU = BatchNormRelu()
DENSE_ACTIVATION_DERIVATIVE = DenseActivationDerivative()
FIRST_LAYER_WEIGHT_GRADIENT_THROUGH = FirstLayerWeightGradientThrough()
MAX_POOL_THROUGH_RELU = MaxPoolThroughRelu()
POOL_THROUGH_ACTIVATION = PoolThroughActivation()
POOLED_WEIGHT_GRADIENT = PooledWeightGradient()
POOLED_FORWARD = PooledForward()
POOL_DROPOUT = PoolDropout()
DROPOUT_IN_POOL_BACKWARD = DropoutInPoolBackward()
LOGITS_GRADIENT = LogitsGradient()
SKIP_LAYERS_BELOW = SkipLayersBelow()
SKIP_INPUT_GRADIENT = SkipInputGradient()

RULES = (ACTIVATION_IN_KERNEL, ACTIVATION_IN_PLACE, BATCH_NORM_RELU, DENSE_ACTIVATION_DERIVATIVE,
         FIRST_LAYER_WEIGHT_GRADIENT_THROUGH, MAX_POOL_THROUGH_RELU, POOL_THROUGH_ACTIVATION,
         POOLED_WEIGHT_GRADIENT, POOLED_FORWARD, POOL_DROPOUT, DROPOUT_IN_POOL_BACKWARD,
         LOGITS_GRADIENT, SKIP_LAYERS_BELOW,
         SKIP_INPUT_GRADIENT)
