"""Plan: the steps of one training step, chosen once from the layers and the loss."""
import textwrap

from ..layers import Activation, Flatten
from .rules import (ACTIVATION_IN_KERNEL, ACTIVATION_IN_PLACE, BATCH_NORM_RELU,
                    DENSE_ACTIVATION_DERIVATIVE, DROPOUT_IN_POOL_BACKWARD,
                    FIRST_LAYER_WEIGHT_GRADIENT_THROUGH, LOGITS_GRADIENT,
                    MAX_POOL_THROUGH_RELU, POOL_DROPOUT, POOL_THROUGH_ACTIVATION,
                    POOLED_FORWARD, POOLED_WEIGHT_GRADIENT, RULES, SKIP_INPUT_GRADIENT,
                    SKIP_LAYERS_BELOW, activation_name, activation_of, kind, pool_through)
from .steps import ActivationStep, BackwardStep, ForwardStep


def first_trainable(layers):
    """Index of the first layer with trainable weights; len(layers) if none has any."""
    return next((i for i, layer in enumerate(layers) if layer.trainable_variables), len(layers))


class Plan:
    """The forward steps, the loss's gradient and the backward steps of a model.

    Args:
        layers: the model's layers, built.
        loss: the compiled Loss, or None (then only forward and backward).
        fuse: False asks no rule: every layer's plain forward and backward,
            each activation a step of its own, the loss's plain gradient
            dLoss/dy_pred, and backpropagation down to the first layer.

    ``verdicts`` lists every rule's answer (applies, or why not), in the
    order they were asked.  ``str(plan)`` prints it all.
    """

    def __init__(self, layers, loss=None, fuse=True):
        self.layers = tuple(layers)
        self.loss = loss
        self.fuse = fuse
        self.verdicts = []
        self._trainable = [layer.trainable for layer in self.layers]
        self._relu_after_norm = set()   # indices of Activation layers fused into the norm below
        # the lowest layer the backward pass reaches
        self.lowest = first_trainable(self.layers) if fuse else 0
        self.forward_steps = self._forward_steps()
        output = self.layers[-1] if self.layers else None
        self.logits_activation = None
        if loss is not None and output is not None and self._ask(LOGITS_GRADIENT, loss, output):
            self.logits_activation = output.activation.name
        self.from_logits = self.logits_activation is not None
        if fuse:
            self._ask(SKIP_LAYERS_BELOW, self.layers, self.lowest)
            self._ask(SKIP_INPUT_GRADIENT, self.layers, self.lowest)
        self.backward_steps = self._backward(self.from_logits)
        # model.backward(dy, from_logits) may start from the other gradient
        other = self._backward(not self.from_logits, note=False)
        self._backward_steps = {self.from_logits: self.backward_steps, not self.from_logits: other}

    def fits(self, layers, loss):
        """Whether this plan was built from these layers, with these trainable
        flags, and this loss: a model asks at each use."""
        return (loss is self.loss and self.layers == tuple(layers)
                and self._trainable == [layer.trainable for layer in layers])

    # ---- running ---------------------------------------------------------------------

    def forward(self, x, training=False):
        for step in self.forward_steps:
            x = step(x, training)
        return x

    def loss_and_gradient(self, y, y_pred, sample_weight=None):
        """(batch loss, the gradient ``backward`` starts from): dLoss/dlogits
        where the loss takes the output activation, else dLoss/dy_pred."""
        loss, gradient, _ = self.loss.value_and_gradient(y, y_pred, self.logits_activation,
                                                         sample_weight)
        return loss, gradient

    def backward(self, dy, from_logits=None):
        """Run the backward steps from dy (dLoss/dlogits if ``from_logits``,
        else dLoss/dy_pred; None: what ``loss_and_gradient`` gave).  Returns
        dLoss/dx of the lowest layer that computes it, else None."""
        steps = self.backward_steps if from_logits is None else self._backward_steps[from_logits]
        if not steps:
            return None
        for step in steps:
            dy = step(dy)
        return dy

    # ---- building ----------------------------------------------------------------------

    def _ask(self, rule, *layers, note=True):
        """Whether ``rule`` applies to these layers (never with fuse=False);
        its verdict goes to ``verdicts`` if ``note``."""
        if not self.fuse:
            return False
        verdict = rule.check(*layers)
        if verdict is None:
            return False
        if note:
            self.verdicts.append(verdict)
        return verdict.applies

    def _forward_steps(self):
        layers, steps, i = self.layers, [], 0
        while i < len(layers):
            if i + 1 < len(layers) and self._ask(BATCH_NORM_RELU, layers[i], layers[i + 1]):
                steps += BATCH_NORM_RELU.steps(layers[i], layers[i + 1])
                self._relu_after_norm.add(i + 1)
                i += 2
            elif (self.lowest <= i < len(layers) - 1
                  and self._ask(POOLED_FORWARD, layers[i], layers[i + 1], i == self.lowest)):
                # the backward pass ends in "pooled first-layer weight gradient" here
                steps += POOLED_FORWARD.steps(layers[i], layers[i + 1])
                i += 2
            elif ((j := self._past_flatten(i, +1)) < len(layers)
                  and self._ask(POOL_DROPOUT, layers[i], layers[j])):
                steps += POOL_DROPOUT.steps(layers[i], layers[j])
                for flatten in layers[i + 1:j]:
                    steps += self._forward(flatten)
                i = j + 1
            else:
                steps += self._forward(layers[i])
                i += 1
        return steps

    def _past_flatten(self, i, step):
        """i + step, or i + 2·step where the layer at i + step is a Flatten: a
        pool and the Dropout after it with a Flatten between them are a pair
        for the rules "pool + dropout in one pass" and "dropout backward
        inside the pool backward" (flattening keeps every element's position
        in the array, and the dropout's mask is a function of that position)."""
        j = i + step
        return j + step if 0 <= j < len(self.layers) and isinstance(self.layers[j],
                                                                     Flatten) else j

    def _forward(self, layer):
        if self._ask(ACTIVATION_IN_KERNEL, layer):
            return ACTIVATION_IN_KERNEL.steps(layer)
        if self._ask(ACTIVATION_IN_PLACE, layer):
            return ACTIVATION_IN_PLACE.steps(layer)
        activation = activation_of(layer)
        if activation is None:
            return [ForwardStep(kind(layer), (layer,), "forward")]
        name = activation_name(activation)
        if isinstance(layer, Activation):
            return [ActivationStep(name, layer)]
        if self.fuse:
            return [ForwardStep(f"{kind(layer)}, {name}", (layer,), "forward")]
        return [ForwardStep(kind(layer), (layer,), "call"), ActivationStep(name, layer)]

    def _backward(self, from_logits, note=True):
        """The backward steps, top layer first, from dLoss/dlogits or dLoss/dy_pred."""
        layers, lowest = self.layers, self.lowest
        # layers whose activation's backward another step takes (the loss, a pool)
        taken = {len(layers) - 1} if from_logits else set()
        steps, i = [], len(layers) - 1
        while i >= lowest:
            layer, k = layers[i], self._past_flatten(i, -1)   # k: a pool under a dropout
            if k - 1 >= lowest and self._ask(DROPOUT_IN_POOL_BACKWARD, layer, layers[k],
                                             layers[k - 1], k - 1 == lowest, note=note):
                pool, below, through = layers[k], layers[k - 1], None
                if (self._ask(MAX_POOL_THROUGH_RELU, pool, below, note=note)
                        or self._ask(POOL_THROUGH_ACTIVATION, pool, below, note=note)):
                    through = pool_through(below)
                    taken.add(k - 1)
                for flatten in layers[k + 1:i]:
                    steps += self._layer_backward(flatten, False, True, note)
                steps += DROPOUT_IN_POOL_BACKWARD.steps(layer, pool, below, through)
                i = k
            elif i - 1 >= lowest and self._ask(MAX_POOL_THROUGH_RELU, layer, layers[i - 1],
                                             note=note):
                if self._ask(POOLED_WEIGHT_GRADIENT, layers[i - 1], layer, i - 1 == lowest,
                             note=note):
                    steps += POOLED_WEIGHT_GRADIENT.steps(layers[i - 1], layer)
                    break
                steps += MAX_POOL_THROUGH_RELU.steps(layer, layers[i - 1])
                taken.add(i - 1)
            elif i - 1 >= lowest and self._ask(POOL_THROUGH_ACTIVATION, layer, layers[i - 1],
                                               note=note):
                steps += POOL_THROUGH_ACTIVATION.steps(layer, layers[i - 1])
                taken.add(i - 1)
            elif i in self._relu_after_norm and i not in taken:
                # an Activation has no weights, so the norm below is >= lowest
                steps += BATCH_NORM_RELU.backward_steps(layers[i - 1], layer, i - 1 > lowest)
                i -= 1
            else:
                # with fuse=False, lowest is 0 and every layer computes its input gradient
                steps += self._layer_backward(layer, i in taken, i > lowest or not self.fuse,
                                              note)
            i -= 1
        return steps

    def _layer_backward(self, layer, activation_taken, input_gradient, note):
        activation = None if activation_taken else activation_of(layer)
        own = kind(layer)
        if activation is None:
            if activation_taken and isinstance(layer, Activation):
                return []   # its activation was all it computed
            return [BackwardStep(f"{own} backward", (layer,),
                                 "call_backward" if activation_taken else "backward",
                                 input_gradient=input_gradient)]
        if self._ask(DENSE_ACTIVATION_DERIVATIVE, layer, note=note):
            return DENSE_ACTIVATION_DERIVATIVE.steps(layer, input_gradient)
        if self._ask(FIRST_LAYER_WEIGHT_GRADIENT_THROUGH, layer, not input_gradient, note=note):
            return FIRST_LAYER_WEIGHT_GRADIENT_THROUGH.steps(layer)
        name = f"{activation_name(activation)} backward"
        if isinstance(layer, Activation):
            return [BackwardStep(name, (layer,), "backward", input_gradient=input_gradient)]
        if self.fuse:
            return [BackwardStep(f"{name}, {own} backward", (layer,), "backward",
                                 input_gradient=input_gradient)]
        return [BackwardStep(name, (layer,), "activation_backward", input_gradient=input_gradient),
                BackwardStep(f"{own} backward", (layer,), "call_backward",
                             input_gradient=input_gradient)]

    # ---- printing ------------------------------------------------------------------------

    def loss_step(self):
        """(name, what it computes) of the loss's step, as printed."""
        if self.from_logits:
            output = self.layers[-1]
            return (LOGITS_GRADIENT.step_name(output),
                    f"{self.loss.name}, and dLoss/dlogits of {output.name}")
        return self.loss.name, "the loss, and dLoss/dy_pred"

    def lines(self):
        """The plan as text, line by line: the numbered steps, then each rule
        with why it pays and its verdicts (yes: where it applies; no: where it
        was asked and declined, and why)."""
        lines = [f"Plan (fuse={self.fuse}): the steps of one training step, in order"]
        numbered = iter(range(1, 1000))

        def step_line(name, where, note=""):
            lines.append(f"  {next(numbered):>3}  {name:<36} {where}{note}")

        lines.append("forward")
        for step in self.forward_steps:
            step_line(step.name, " + ".join(layer.name for layer in step.layers))
        lines.append("loss")
        if self.loss is None:
            lines.append("       not compiled: backward starts from a given dLoss/dy_pred")
        else:
            step_line(*self.loss_step())
        lines.append("backward")
        for step in self.backward_steps:
            step_line(step.name, " + ".join(layer.name for layer in step.layers),
                      "" if step.input_gradient else "  (no input gradient)")
        if not self.fuse:
            lines.append("rules: none asked (compile(fuse=False))")
            return lines
        lines.append("rules")
        for rule in RULES:
            lines.append(f"  {rule.name}")
            lines += textwrap.wrap(rule.why, 92, initial_indent="      why: ",
                                   subsequent_indent="           ")
            verdicts = [v for v in self.verdicts if v.rule is rule]
            applied = [v.where for v in verdicts if v.applies]
            if applied:
                lines.append(f"      yes: {'; '.join(applied)}")
            for verdict in verdicts:
                if not verdict.applies:
                    lines += textwrap.wrap(f"{verdict.where}: {verdict.reason}", 92,
                                           initial_indent="      no:  ",
                                           subsequent_indent="           ")
            if not verdicts:
                lines.append("      -    no place for it in this model")
        return lines

    def __str__(self):
        return "\n".join(self.lines())

    __repr__ = __str__
