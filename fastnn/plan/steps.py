"""The steps of a plan: each one call on a layer, with a name a learner can read.

A step holds the layers it concerns, the name of the layer method it calls
and the rule that chose it (None for a layer's plain pass).  The method is
looked up by name at every call, so a copied model's plan calls the copy's
layers (``copy.deepcopy`` copies the steps with the model), and a method
replaced on a layer object (a profiler, a test's spy) is the one that runs.
"""


class Step:
    """One call of a plan.

    Args:
        name: what it computes, e.g. "conv2d+bias+relu".
        layers: the layers it concerns; the method is called on the first.
        method: the name of that layer's method.
        rule: the rule that made this step, or None.
        input_gradient: False when the step need not compute dLoss/dx
            (backward steps only).
    """

    __slots__ = ("name", "layers", "method", "rule", "input_gradient")

    def __init__(self, name, layers, method, rule=None, input_gradient=True):
        self.name = name
        self.layers = tuple(layers)
        self.method = method
        self.rule = rule
        self.input_gradient = input_gradient

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} of {', '.join(l.name for l in self.layers)}>"


class ForwardStep(Step):
    """``layer.method(x, training)``: ``forward`` or ``call``."""

    __slots__ = ()

    def __call__(self, x, training):
        return getattr(self.layers[0], self.method)(x, training)


class ActivationStep(Step):
    """``layer.activation_forward(z)``: an activation as a step of its own."""

    __slots__ = ()

    def __init__(self, name, layer):
        super().__init__(name, (layer,), "activation_forward")

    def __call__(self, z, training):
        return self.layers[0].activation_forward(z)


class BackwardStep(Step):
    """``layer.method(dy)`` after telling the layer whether dLoss/dx is needed."""

    __slots__ = ()

    def __call__(self, dy):
        layer = self.layers[0]
        layer.input_gradient_needed = self.input_gradient
        return getattr(layer, self.method)(dy)


class PairForwardStep(Step):
    """``first.method(second, x, training)`` for layers (first, second): the
    forward passes of both in one call (e.g. ``pool.forward_through_dropout``)."""

    __slots__ = ()

    def __call__(self, x, training):
        first, second = self.layers
        return getattr(first, self.method)(second, x, training)


class PooledForwardStep(PairForwardStep):
    """``conv.forward_through_max_pool(pool, x, training)`` for layers (conv,
    pool): the convolution, its ReLU and the max pool above in one pass."""

    __slots__ = ()

    def __init__(self, name, conv, pool, rule):
        super().__init__(name, (conv, pool), "forward_through_max_pool", rule)


class PooledGradientStep(Step):
    """``conv.gradients_through_max_pool(pool, dp)`` for layers (pool, conv):
    the convolution's weight gradients from the pool's output gradient.
    The backward pass ends here: it returns no input gradient (None)."""

    __slots__ = ()

    def __init__(self, name, pool, conv, rule):
        super().__init__(name, (pool, conv), "gradients_through_max_pool", rule, False)

    def __call__(self, dp):
        pool, conv = self.layers
        getattr(conv, self.method)(pool, dp)


class PoolThroughStep(Step):
    """``pool.backward_through(dy, through)`` for layers (pool, below), with
    ``through`` what the pool folds in of below's activation
    (``rules.pool_through``): dLoss/dz of the layer below, which then starts
    its backward pass at its kernel."""

    __slots__ = ("through",)

    def __init__(self, name, pool, below, rule, through):
        super().__init__(name, (pool, below), "backward_through", rule)
        self.through = through

    def __call__(self, dy):
        return getattr(self.layers[0], self.method)(dy, *self.through)


class DropoutPoolStep(Step):
    """``pool.backward_through(dy, *through, dropout=dropout)`` for layers
    (dropout, pool), or (dropout, pool, below) where the pool also folds in
    below's activation (``through`` as for PoolThroughStep; (None,) for
    none): the dropout's backward pass, the pool's and maybe the
    activation's in one call."""

    __slots__ = ("through",)

    def __init__(self, name, layers, rule, through):
        super().__init__(name, layers, "backward_through", rule)
        self.through = through

    def __call__(self, dy):
        dropout, pool = self.layers[:2]
        return getattr(pool, self.method)(dy, *self.through, dropout=dropout)
