"""The training plan (``fastnn.plan``, ``model.plan``, ``compile(fuse=False)``).

(a) Every fusion rule gives the numbers of the plain computation.  Small
random models (hypothesis, derandomized) in which the rule applies train one
SGD step twice from the same weights: with the plan's fusions, and with
``compile(fuse=False)`` (each layer's plain forward and backward, each
activation a step of its own, the loss's plain gradient, backpropagation
down to the first layer).  The loss, the outputs of the step, the
predictions after it and every weight must agree: bit for bit where the
fused step does the same arithmetic in one pass, to float32 rounding (rtol
1e-5) where it sums in another order (the pooled weight gradient) or uses
another formula ((p - y)/N for softmax + crossentropy).  The plan itself
says that the rule applied in the fused model and that the other asked none.

(b) The printed plan names the steps and the rules' verdicts, with reasons.

(c) The plan follows the model: add, pop, trainable, compile.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fastnn import activations, losses
from fastnn.kernels.convolution import direct_conv_takes
from fastnn.layers import (Activation, AveragePooling2D, BatchNormalization, Conv1D, Conv2D,
                           Conv2DTranspose, Dense, Dropout, Flatten, Input, MaxPooling2D)
from fastnn.models import Sequential
from fastnn.models.training import compute_gradients, train_step
from fastnn.optimizers import SGD
from fastnn.plan import rules

from conftest import seeds, uniform

# ---- (a) fused and plain give the same step -------------------------------------------------


def applied(model, rule):
    """Where ``rule`` applies in the model's plan."""
    return [v.where for v in model.plan.verdicts if v.rule is rule and v.applies]


def train_twins(layers, x, y, loss):
    """One SGD step of the model ``layers()`` builds, fused and with fuse=False, from
    the same weights.  Returns both models and, for each, (loss, y_pred, predictions
    after the step, weights after the step)."""
    fused, plain = Sequential(layers()), Sequential(layers())
    plain.set_weights(fused.get_weights())
    fused.initial_weights = fused.get_weights()
    fused.compile(SGD(0.1), loss)
    plain.compile(SGD(0.1), loss, fuse=False)
    results = []
    for model in (fused, plain):
        value, y_pred = train_step(model, x, y)
        results.append((value, y_pred, model.predict(x), model.get_weights()))
    assert plain.plan.verdicts == []
    return fused, plain, results


def assert_same_step(results, exact):
    """Fused and plain: the same loss and outputs (the forward pass is the same
    arithmetic in both), and weights and predictions after the step equal
    (``exact``) or within float32 rounding."""
    (loss_f, y_f, after_f, weights_f), (loss_p, y_p, after_p, weights_p) = results
    assert loss_f == loss_p
    np.testing.assert_array_equal(y_f, y_p)
    compare = (np.testing.assert_array_equal if exact else
               lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7))
    compare(after_f, after_p)
    assert len(weights_f) == len(weights_p)
    for w_f, w_p in zip(weights_f, weights_p):
        compare(w_f, w_p)


def images(seed, shape):
    return uniform(np.random.default_rng(seed), shape)


windows = st.fixed_dictionaries({"k": st.integers(1, 3), "strides": st.integers(1, 2),
                                 "padding": st.sampled_from(["valid", "same"])})


# relu and every activation whose C kernel's backward pass reads y, as names or configured
EPILOGUE_ACTIVATIONS = (
    ["relu", "tanh", "sigmoid", "elu", "selu", "softplus", "softsign", "hard_sigmoid",
     "leaky_relu", "exponential"]
    + [activations.get(name).configure(**config) for name, config in [
        ("elu", {"alpha": 0.5}), ("relu", {"negative_slope": 0.1})]])


@given(window=windows, in_c=st.sampled_from([1, 2, 4, 12, 20]), filters=st.integers(1, 40),
       activation=st.sampled_from(EPILOGUE_ACTIVATIONS), below=st.booleans(), seed=seeds)
def test_activation_in_the_convolution_kernel(window, in_c, filters, activation, below, seed):
    """Conv2D with relu or any activation whose backward pass reads y: the kernel
    applies it (fused; on the direct kernels for few channels, the indirect GEMM for
    12 or 20) or an activation step follows (fuse=False): the same step, bit for bit."""
    def layers():
        conv = [Conv2D(filters, window["k"], strides=window["strides"],
                       padding=window["padding"], activation=activation)]
        return ([Input(shape=(7, 6, in_c))] + [Conv2D(in_c, 1)] * below + conv
                + [Flatten(), Dense(3)])
    x, y = images(seed, (4, 7, 6, in_c)), images(seed + 1, (4, 3))
    fused, plain, results = train_twins(layers, x, y, "mse")
    assert applied(fused, rules.ACTIVATION_IN_KERNEL) == [fused.layers[below].name]
    assert_same_step(results, exact=True)


@given(activation=st.sampled_from(EPILOGUE_ACTIVATIONS), padding=st.sampled_from(
    ["valid", "same", "causal"]), seed=seeds)
def test_activation_in_the_conv1d_kernel(activation, padding, seed):
    def layers():
        return [Input(shape=(9, 3)), Conv1D(5, 3, padding=padding, activation=activation),
                Flatten(), Dense(2)]
    x, y = images(seed, (4, 9, 3)), images(seed + 1, (4, 2))
    fused, _, results = train_twins(layers, x, y, "mse")
    assert applied(fused, rules.ACTIVATION_IN_KERNEL) == [fused.layers[0].name]
    assert_same_step(results, exact=True)


# every activation that is not a plain relu, as a name or configured
OTHER_ACTIVATIONS = (
    ["tanh", "sigmoid", "elu", "selu", "softplus", "softsign", "hard_sigmoid", "leaky_relu",
     "exponential", "silu", "gelu", "linear", "softmax"]
    + [activations.get(name).configure(**config) for name, config in [
        ("elu", {"alpha": 0.5}), ("relu", {"negative_slope": 0.1}), ("gelu", {"approximate": True}),
        ("relu", {"max_value": 0.5})]])


@given(activation=st.sampled_from(OTHER_ACTIVATIONS),
       layer=st.sampled_from(["dense", "conv2d", "conv2d_transpose", "activation",
                              "batch_norm_activation"]),
       seed=seeds)
def test_every_activation_fused_and_plain(activation, layer, seed):
    """Dense, Conv2D, Conv2DTranspose with any activation (in the kernel's epilogue
    (Dense, Conv2D) or in place on the kernel's output (Conv2DTranspose) where its C
    kernel's backward pass needs only y), an Activation layer, BatchNormalization ->
    Activation: the same step as with fuse=False, bit for bit."""
    def layers():
        kind = {"dense": lambda: [Dense(5, activation=activation)],
                "conv2d": lambda: [Conv2D(3, 2, activation=activation)],
                "conv2d_transpose": lambda: [Conv2DTranspose(2, 2, activation=activation)],
                "activation": lambda: [Conv2D(3, 2), Activation(activation)],
                "batch_norm_activation": lambda: [Conv2D(3, 2), BatchNormalization(),
                                                  Activation(activation)]}[layer]()
        return [Input(shape=(5, 4, 2)), Conv2D(2, 1, activation="tanh")] + kind + [
            Flatten(), Dense(3)]
    x, y = images(seed, (4, 5, 4, 2)), images(seed + 1, (4, 3))
    fused, _, results = train_twins(layers, x, y, "mse")
    name = activations.get(activation)
    if layer in ("dense", "conv2d") and name.in_place:
        assert applied(fused, rules.ACTIVATION_IN_KERNEL) == [l.name for l in fused.layers[:2]]
        assert applied(fused, rules.ACTIVATION_IN_PLACE) == []
    if layer == "conv2d_transpose" and name.in_place:
        assert applied(fused, rules.ACTIVATION_IN_KERNEL) == [fused.layers[0].name]
        assert applied(fused, rules.ACTIVATION_IN_PLACE) == [fused.layers[1].name]
    if layer == "dense" and name.in_place:
        assert applied(fused, rules.DENSE_ACTIVATION_DERIVATIVE) == [fused.layers[1].name]
    for loss, y_pred, *_ in results:
        assert np.isfinite(loss) and np.all(np.isfinite(y_pred))
    assert_same_step(results, exact=True)


mlps = st.fixed_dictionaries({
    "units": st.lists(st.integers(1, 12), min_size=1, max_size=3),
    "inputs": st.sampled_from([(5,), (3, 4)]),      # Dense on 3-D inputs: rows of features
    "use_bias": st.booleans(), "seed": seeds})


def relu_mlp(spec, activation="relu"):
    def layers():
        hidden = [Dense(units, activation=activation, use_bias=spec["use_bias"],
                        bias_initializer="random_uniform") for units in spec["units"]]
        return [Input(shape=spec["inputs"])] + hidden + [Dense(2)]
    x = images(spec["seed"], (6,) + spec["inputs"])
    y = images(spec["seed"] + 1, x.shape[:-1] + (2,))
    return layers, x, y


@given(spec=mlps)
def test_relu_in_the_matmul_kernel(spec):
    layers, x, y = relu_mlp(spec)
    fused, _, results = train_twins(layers, x, y, "mse")
    assert applied(fused, rules.ACTIVATION_IN_KERNEL) == [l.name for l in fused.layers[:-1]]
    assert_same_step(results, exact=True)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "elu"])
@given(spec=mlps)
def test_dense_backward_with_the_activation_derivative(activation, spec):
    """The relu mask, sigmoid's y(1-y), ... inside dense_backward: one call per layer."""
    layers, x, y = relu_mlp(spec, activation)
    fused, _, results = train_twins(layers, x, y, "mse")
    assert (applied(fused, rules.DENSE_ACTIVATION_DERIVATIVE)
            == [l.name for l in fused.layers[-2::-1]])
    assert_same_step(results, exact=True)


class HalvedInputGradient(Dense):
    """A Dense layer with a backward pass of its own: call_backward halves dLoss/dx."""

    def call_backward(self, dz):
        return super().call_backward(dz) / 2


def test_an_overridden_call_backward_keeps_the_plain_route(fresh_session):
    """The fused step would skip call_backward: a subclass that overrides it keeps the
    activation's backward step and its own call_backward (as fuse=False runs them)."""
    def layers():
        return [Input(shape=(4,)), Dense(5, activation="tanh"),
                HalvedInputGradient(3, activation="sigmoid", name="halved"), Dense(2)]
    x, y = images(0, (6, 4)), images(1, (6, 2))
    fused, _, results = train_twins(layers, x, y, "mse")
    assert applied(fused, rules.DENSE_ACTIVATION_DERIVATIVE) == [fused.layers[0].name]
    assert ("halved: HalvedInputGradient overrides call_backward: the plain backward pass "
            "runs, so the override does") in verdicts(fused.plan)
    assert_same_step(results, exact=True)


norm_nets = st.fixed_dictionaries({
    "below": st.sampled_from(["conv2d", "dense", "nothing"]),  # nothing: skips its dLoss/dx
    "axis": st.sampled_from([-1, 1]), "seed": seeds})


def norm_relu_net(spec):
    """A BatchNormalization (beta drawn from [-0.05, 0.05], so the ReLU cuts
    about half its outputs) followed by an Activation("relu") layer."""
    def layers():
        below = {"conv2d": [Conv2D(3, 2)], "dense": [Dense(4)], "nothing": []}[spec["below"]]
        norm = BatchNormalization(axis=spec["axis"], beta_initializer="random_uniform",
                                  gamma_initializer="random_uniform", momentum=0.5)
        return [Input(shape=(5, 4, 2))] + below + [norm, Activation("relu"), Flatten(),
                                                    Dense(2)]
    x, y = images(spec["seed"], (6, 5, 4, 2)), images(spec["seed"] + 1, (6, 2))
    return layers, x, y


@given(spec=norm_nets)
def test_batch_norm_with_relu(spec):
    """Training: the batch's statistics, the moving averages updated (among the
    weights compared), predictions after the step on the moving averages."""
    layers, x, y = norm_relu_net(spec)
    fused, plain, results = train_twins(layers, x, y, "mse")
    norm, relu = (l.name for l in fused.layers if isinstance(l, (BatchNormalization,
                                                                   Activation)))
    assert applied(fused, rules.BATCH_NORM_RELU) == [f"{norm} + {relu}"]
    assert [s.name for s in fused.plan.forward_steps].count("relu") == 0
    assert [s.name for s in plain.plan.forward_steps].count("relu") == 1
    assert_same_step(results, exact=False)


@given(spec=norm_nets)
def test_batch_norm_with_relu_in_inference_mode(spec):
    """compute_gradients(training=False) (the gradient check's): the moving
    averages normalise, as constants, in the forward and the backward pass."""
    layers, x, y = norm_relu_net(spec)
    fused, plain, _ = train_twins(layers, x, y, "mse")   # moving averages moved off 0 and 1
    assert len(applied(fused, rules.BATCH_NORM_RELU)) == 1
    grads = []
    for model in (fused, plain):
        loss, y_pred = compute_gradients(model, x, y, training=False)
        grads.append((loss, y_pred, [v.grad.copy() for v in model.trainable_variables]))
    (loss_f, y_f, grads_f), (loss_p, y_p, grads_p) = grads
    assert loss_f == loss_p
    np.testing.assert_array_equal(y_f, y_p)
    for g_f, g_p in zip(grads_f, grads_p):
        np.testing.assert_allclose(g_f, g_p, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("activation, reason", [
    ("elu", "activation's activation is elu, the batch norm kernel applies a plain relu only"),
    (activations.get("relu").configure(max_value=6.0),
     "activation's activation is relu(max_value=6.0), the batch norm kernel applies a plain "
     "relu only")])
def test_the_plan_says_why_batch_norm_keeps_its_activation_apart(activation, reason,
                                                                fresh_session):
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization(),
                        Activation(activation), Dense(2)])
    model.compile("sgd", "mse")
    assert f"no: batch_normalization + activation: {reason}" in verdicts(model.plan)
    assert ("batch_normalization", "batch_normalization") in steps(model.plan, "forward")


def test_the_plan_of_conv_batch_norm_relu(fresh_session):
    model = Sequential([Conv2D(4, 3, input_shape=(8, 8, 1)), BatchNormalization(),
                        Activation("relu"), MaxPooling2D(2), Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    assert steps(model.plan, "forward") == [
        ("conv2d", "conv2d"),
        ("batch_normalization+relu", "batch_normalization + activation"),
        ("max_pooling2d", "max_pooling2d"), ("flatten", "flatten"), ("dense", "dense")]
    assert steps(model.plan, "backward") == [
        ("dense backward", "dense"), ("flatten backward", "flatten"),
        ("max_pooling2d backward", "max_pooling2d"),
        ("batch_normalization+relu backward", "batch_normalization + activation"),
        ("conv2d backward", "conv2d  (no input gradient)")]
    assert "batch norm + relu why: the batch norm pass writes relu(y) as it writes y" in (
        verdicts(model.plan))


@given(window=windows, pool=st.integers(1, 3), pool_strides=st.sampled_from([None, 1, 2]),
       pool_padding=st.sampled_from(["valid", "same"]), in_c=st.integers(1, 9),
       dense_below=st.booleans(), trainable_below=st.booleans(), seed=seeds)
def test_max_pool_backward_through_relu(window, pool, pool_strides, pool_padding, in_c,
                                        dense_below, trainable_below, seed):
    """A max pool over a Conv2D(relu) (or a Dense(relu) on images) takes the ReLU's
    backward pass into its own -- any pool: overlapping, padded.  Where the layer
    below is the first trainable Conv2D on the direct kernels (direct_conv_takes) and the
    pool's windows sit side by side (at most 64 taps), the pooled weight gradient
    takes over; elsewhere the fused step is the same arithmetic as the plain one."""
    def layers():
        below = [Conv2D(in_c, 1)] if trainable_below else []
        relu = (Dense(4, activation="relu") if dense_below else
                Conv2D(3, window["k"], strides=window["strides"], padding=window["padding"],
                       activation="relu"))
        return ([Input(shape=(8, 9, in_c))] + below + [relu]
                + [MaxPooling2D(pool, pool_strides, pool_padding), Flatten(), Dense(2)])
    x, y = images(seed, (3, 8, 9, in_c)), images(seed + 1, (3, 2))
    fused, _, results = train_twins(layers, x, y, "mse")
    relu, pool_layer = fused.layers[-4:-2]
    assert applied(fused, rules.MAX_POOL_THROUGH_RELU) == [f"{pool_layer.name} over {relu.name}"]
    pooled = (not trainable_below and not dense_below and direct_conv_takes((window["k"], window["k"], in_c))
              and pool_strides in (None, pool) and pool_padding == "valid")
    assert applied(fused, rules.POOLED_WEIGHT_GRADIENT) == (
        [f"{relu.name} under {pool_layer.name}"] if pooled else [])
    # its forward pass comes with it: the pair in one step
    assert applied(fused, rules.POOLED_FORWARD) == (
        [f"{relu.name} + {pool_layer.name}"] if pooled else [])
    assert_same_step(results, exact=not pooled)


@given(window=windows, filters=st.integers(1, 17), in_c=st.integers(1, 4),
       pool=st.tuples(st.integers(1, 3), st.integers(1, 3)), bias=st.booleans(), seed=seeds)
def test_first_layer_conv_relu_max_pool_in_one_pass(window, filters, in_c, pool, bias, seed):
    """The first Conv2D(relu) and the max pool above it run as one forward step that
    keeps each window's winner instead of y: the same outputs, loss and predictions
    bit for bit (conv2d_relu_max_pool2d runs the same tiles), the same weights after
    the step to rounding (the pooled weight gradient sums in its own order), the same
    gradients from an inference-mode forward pass (the gradient check's: no winners
    kept, found again from x), and neither the conv's y nor the pool's input kept."""
    def layers():
        return [Input(shape=(9, 8, in_c)),
                Conv2D(filters, window["k"], strides=window["strides"],
                       padding=window["padding"], activation="relu", use_bias=bias),
                MaxPooling2D(pool), Flatten(), Dense(3)]
    x, y = images(seed, (3, 9, 8, in_c)), images(seed + 1, (3, 3))
    fused, plain, results = train_twins(layers, x, y, "mse")
    conv, pool_layer = fused.layers[:2]
    assert applied(fused, rules.POOLED_FORWARD) == [f"{conv.name} + {pool_layer.name}"]
    assert fused.plan.forward_steps[0].layers == (conv, pool_layer)
    assert_same_step(results, exact=False)
    for name, layer in (("_y", conv), ("_x", pool_layer)):
        with pytest.raises(AttributeError, match=f"has no {name}"):
            getattr(layer, name)
    for training in (True, False):
        gradients = []
        for model in (fused, plain):
            compute_gradients(model, x, y, training=training)
            gradients.append([v.grad.copy() for v in model.trainable_variables])
        for g_fused, g_plain in zip(*gradients):
            np.testing.assert_allclose(g_fused, g_plain, rtol=1e-5, atol=1e-6)


@given(activation=st.sampled_from(["tanh", "sigmoid", "elu", "softsign", "leaky_relu",
                                    "hard_sigmoid", "relu"]),
       pooling=st.sampled_from([AveragePooling2D, MaxPooling2D]), pool=st.integers(1, 3),
       pool_strides=st.sampled_from([None, 1, 2]),
       pool_padding=st.sampled_from(["valid", "same"]), channels=st.integers(1, 9),
       trainable_below=st.booleans(), seed=seeds)
def test_pool_backward_through_the_activation(activation, pooling, pool, pool_strides,
                                              pool_padding, channels, trainable_below, seed):
    """An average pool over a Conv2D with any activation whose C kernel's derivative
    reads its output (relu too), or a max pool over any such but relu (its own
    rule's), takes the activation's backward pass into its own: bit for bit the
    plain step (the same C arithmetic, image by image)."""
    assume(not (pooling is MaxPooling2D and activation == "relu"))

    def layers():
        below = [Conv2D(2, 1)] if trainable_below else []
        return ([Input(shape=(8, 9, 2))] + below
                + [Conv2D(channels, 3, padding="same", activation=activation),
                   pooling(pool, pool_strides, pool_padding), Flatten(), Dense(2)])
    x, y = images(seed, (3, 8, 9, 2)), images(seed + 1, (3, 2))
    fused, _, results = train_twins(layers, x, y, "mse")
    conv, pool_layer = fused.layers[-4:-2]
    assert applied(fused, rules.POOL_THROUGH_ACTIVATION) == [f"{pool_layer.name} over {conv.name}"]
    assert applied(fused, rules.MAX_POOL_THROUGH_RELU) == []
    assert_same_step(results, exact=True)


@given(activation=st.sampled_from(["relu", "tanh", None]),
       pooling=st.sampled_from([AveragePooling2D, MaxPooling2D]), pool=st.integers(1, 3),
       pool_strides=st.sampled_from([None, 1, 2]),
       pool_padding=st.sampled_from(["valid", "same"]), channels=st.integers(1, 9),
       rate=st.sampled_from([0.25, 0.5]), first=st.booleans(), flatten_first=st.booleans(),
       seed=seeds)
def test_pool_and_dropout_in_one_pass(activation, pooling, pool, pool_strides, pool_padding,
                                      channels, rate, first, flatten_first, seed):
    """A Dropout right above a 2-D pool: the pool writes the dropped-out values,
    and its backward pass applies the dropout's mask to dy as it reads it
    (through the activation below where a rule gives it that too) -- bit for
    bit the plain step, the mask drawn from the layer's seed in both models.
    A Flatten between the pool and the dropout changes nothing (the mask is a
    function of the position in the array, which flattening keeps).  Where
    the pooled first-layer weight gradient takes the pool's output gradient,
    the dropout keeps its backward step (and its forward: the conv + relu +
    max pool pass takes the pool's)."""
    def layers():
        below = [] if first else [Conv2D(2, 1)]
        top = [Dropout(rate, seed=seed), Flatten()]
        return ([Input(shape=(8, 9, 2))] + below
                + [Conv2D(channels, 3, padding="same", activation=activation),
                   pooling(pool, pool_strides, pool_padding)]
                + (top[::-1] if flatten_first else top) + [Dense(2)])
    x, y = images(seed, (3, 8, 9, 2)), images(seed + 1, (3, 2))
    fused, _, results = train_twins(layers, x, y, "mse")
    pool_layer = fused.layers[-4]
    dropout = next(layer for layer in fused.layers if isinstance(layer, Dropout))
    pooled = applied(fused, rules.POOLED_WEIGHT_GRADIENT) != []
    assert applied(fused, rules.POOL_DROPOUT) == (
        [] if pooled else [f"{pool_layer.name} + {dropout.name}"])
    assert applied(fused, rules.DROPOUT_IN_POOL_BACKWARD) == (
        [] if pooled else [f"{dropout.name} over {pool_layer.name}"])
    assert_same_step(results, exact=not pooled)


def test_the_plan_of_pool_and_dropout(fresh_session):
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(14, 14, 1)),
                        Conv2D(8, 3, activation="relu"), MaxPooling2D(), Dropout(0.25),
                        AveragePooling2D(), Dropout(0.5, noise_shape=(None, 1, 1, 8)),
                        MaxPooling2D(), Flatten(), Dropout(0.5), Dense(2)])
    model.compile("sgd", "mse")
    assert steps(model.plan, "forward")[2:7] == [
        ("max_pool+dropout", "max_pooling2d + dropout"),
        ("average_pooling2d", "average_pooling2d"),
        ("dropout", "dropout_1"),
        ("max_pool+dropout", "max_pooling2d_1 + dropout_2"),
        ("flatten", "flatten")]
    assert steps(model.plan, "backward")[1:7] == [
        ("flatten backward", "flatten"),
        ("dropout+max_pool backward", "dropout_2 + max_pooling2d_1"),
        ("dropout backward", "dropout_1"),
        ("average_pooling2d backward", "average_pooling2d"),
        ("dropout+max_pool+relu backward", "dropout + max_pooling2d + conv2d_1"),
        ("conv2d backward", "conv2d_1")]
    text = verdicts(model.plan)
    assert "yes: max_pooling2d + dropout; max_pooling2d_1 + dropout_2" in text
    assert "yes: dropout_2 over max_pooling2d_1; dropout over max_pooling2d" in text
    assert ("no: average_pooling2d + dropout_1: dropout_1 has noise_shape (None, 1, 1, 8): its "
            "mask is drawn per noise_shape, not per element as the kernels' mask") in text
    assert "no: dropout_1 over average_pooling2d: dropout_1 has noise_shape" in text


def test_the_plan_of_lenet(fresh_session):
    model = Sequential([Conv2D(6, 5, padding="same", activation="tanh", input_shape=(28, 28, 1)),
                        AveragePooling2D(), Conv2D(16, 5, activation="tanh"),
                        MaxPooling2D(), Flatten(), Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert steps(model.plan, "backward") == [
        ("dense backward", "dense"), ("flatten backward", "flatten"),
        ("max_pool backward through tanh", "max_pooling2d + conv2d_1"),
        ("conv2d backward", "conv2d_1"),
        ("avg_pool backward through tanh", "average_pooling2d + conv2d"),
        ("conv2d backward", "conv2d  (no input gradient)")]
    assert ("yes: max_pooling2d over conv2d_1; average_pooling2d over conv2d"
            in verdicts(model.plan))


@pytest.mark.parametrize("activation, reason", [
    ("silu", "conv2d's activation silu is not applied in place on its kernel's output: its "
             "backward pass is a step of its own"),
    ("gelu", "conv2d's activation gelu is not applied in place"),
])
def test_the_plan_says_why_a_pool_does_not_take_the_activation(activation, reason,
                                                               fresh_session):
    model = Sequential([Conv2D(4, 3, activation=activation, input_shape=(8, 8, 1)),
                        AveragePooling2D(), Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    assert f"no: average_pooling2d over conv2d: {reason}" in verdicts(model.plan)
    assert steps(model.plan, "backward")[-2:] == [
        ("average_pooling2d backward", "average_pooling2d"),
        (f"{activation} backward, conv2d backward", "conv2d  (no input gradient)")]


@st.composite
def first_convolutions(draw):
    """A first Conv2D(relu) with at most 75 values per patch, under a max pool
    with windows side by side (at most 64 taps): where the pooled weight
    gradient applies."""
    in_c = draw(st.integers(1, 3))
    kh = draw(st.integers(1, 3))
    kw = draw(st.integers(1, min(3, 32 // (kh * in_c))))
    return dict(in_c=in_c, kernel=(kh, kw), filters=draw(st.integers(1, 20)),
                strides=draw(st.integers(1, 2)), padding=draw(st.sampled_from(["valid", "same"])),
                pool=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                use_bias=draw(st.booleans()), seed=draw(seeds))


@given(c=first_convolutions())
def test_pooled_first_layer_weight_gradient(c):
    def layers():
        return [Input(shape=(9, 10, c["in_c"])),
                Conv2D(c["filters"], c["kernel"], strides=c["strides"], padding=c["padding"],
                       activation="relu", use_bias=c["use_bias"]),
                MaxPooling2D(c["pool"]), Flatten(), Dense(3)]
    x, y = images(c["seed"], (5, 9, 10, c["in_c"])), images(c["seed"] + 1, (5, 3))
    fused, _, results = train_twins(layers, x, y, "mse")
    conv, pool = fused.layers[:2]
    assert applied(fused, rules.POOLED_WEIGHT_GRADIENT) == [f"{conv.name} under {pool.name}"]
    assert_same_step(results, exact=False)


@pytest.mark.parametrize("in_c, kernel", [(3, 7), (1, 9), (4, 9)],
                         ids=["7x7x3", "9x9x1", "9x9x4"])
def test_pooled_weight_gradient_for_wide_first_layers(in_c, kernel):
    """A first layer with a wide kernel on few channels (a ResNet-style 7x7x3 stem:
    147 values per patch) runs on the direct kernels, so the pooled weight gradient
    serves it too."""
    def layers():
        return [Input(shape=(12, 13, in_c)),
                Conv2D(5, kernel, padding="same", activation="relu"),
                MaxPooling2D(2), Flatten(), Dense(3)]
    x, y = images(3, (4, 12, 13, in_c)), images(4, (4, 3))
    fused, _, results = train_twins(layers, x, y, "mse")
    conv, pool = fused.layers[:2]
    assert applied(fused, rules.POOLED_WEIGHT_GRADIENT) == [f"{conv.name} under {pool.name}"]
    assert_same_step(results, exact=False)


@given(window=windows, in_c=st.sampled_from([1, 2, 3, 4, 8]), filters=st.integers(1, 40),
       activation=st.sampled_from(EPILOGUE_ACTIVATIONS), use_bias=st.booleans(), seed=seeds)
def test_first_layer_weight_gradient_through_the_activation(window, in_c, filters, activation,
                                                            use_bias, seed):
    """The first Conv2D's dW with f'(y) folded in: the same step, bit for bit, as
    the activation's backward pass followed by the convolution's."""
    def layers():
        return [Input(shape=(9, 10, in_c)),
                Conv2D(filters, window["k"], strides=window["strides"],
                       padding=window["padding"], activation=activation, use_bias=use_bias),
                Flatten(), Dense(3)]
    x, y = images(seed, (5, 9, 10, in_c)), images(seed + 1, (5, 3))
    fused, plain, results = train_twins(layers, x, y, "mse")
    conv = fused.layers[0]
    assert applied(fused, rules.FIRST_LAYER_WEIGHT_GRADIENT_THROUGH) == [conv.name]
    last = fused.plan.backward_steps[-1]
    assert (last.name, last.layers, last.input_gradient) == (
        f"conv2d dW, db through {conv.activation.name}", (conv,), False)
    name = rules.activation_name(conv.activation)
    assert [step.name for step in plain.plan.backward_steps[-2:]] == [f"{name} backward",
                                                                      "conv2d backward"]
    assert_same_step(results, exact=True)


class SkippedDerivative(Conv2D):
    """A Conv2D with a backward pass of its own: it forgets the activation's derivative."""

    def backward(self, dy):
        return self.call_backward(dy)


@pytest.mark.parametrize("layer, options, reason", [
    (Conv2D, dict(activation="silu"),
     "no C kernel computes the derivative of silu from y: its backward pass is a step of "
     "its own"),
    (Conv2D, dict(activation="tanh", dilation_rate=2),
     "conv2d is dilated (dilation_rate (2, 2))"),
    (SkippedDerivative, dict(activation="tanh"),
     "SkippedDerivative overrides backward: the plain backward pass runs, so the override "
     "does"),
], ids=["silu", "dilated", "overridden"])
def test_the_plan_says_why_the_first_layer_keeps_the_separate_derivative(layer, options, reason,
                                                                         fresh_session):
    first = layer(4, 3, **options)
    model = Sequential([Input(shape=(9, 9, 1)), first, Conv2D(2, 3, activation="tanh"),
                        Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    assert f"no: {first.name}: {reason}" in verdicts(model.plan)
    # asked for the first trainable layer only: the second needs its own input gradient
    assert [v.where for v in model.plan.verdicts
            if v.rule is rules.FIRST_LAYER_WEIGHT_GRADIENT_THROUGH] == [first.name]
    last = model.plan.backward_steps[-1]
    assert last.layers == (first,) and last.method == "backward" and not last.input_gradient


@given(case=st.sampled_from([("softmax", "categorical_crossentropy"),
                             ("softmax", "sparse_categorical_crossentropy"),
                             ("sigmoid", "binary_crossentropy")]),
       classes=st.integers(1, 6), hidden=st.integers(1, 8), separate=st.booleans(),
       seed=seeds)
def test_loss_gradient_with_respect_to_the_logits(case, classes, hidden, separate, seed):
    """The output activation in the last Dense layer or as an Activation layer."""
    activation, loss = case
    def layers():
        output = ([Dense(classes), Activation(activation)] if separate else
                  [Dense(classes, activation=activation)])
        return [Input(shape=(4,)), Dense(hidden, activation="tanh")] + output
    rng = np.random.default_rng(seed)
    x = uniform(rng, (7, 4))
    labels = rng.integers(0, classes, 7)
    y = {"categorical_crossentropy": np.eye(classes, dtype=np.float32)[labels],
         "sparse_categorical_crossentropy": labels,
         "binary_crossentropy": (rng.random((7, classes)) < 0.5).astype(np.float32)}[loss]
    fused, _, results = train_twins(layers, x, y, loss)
    assert len(applied(fused, rules.LOGITS_GRADIENT)) == 1
    assert fused.plan.from_logits
    assert_same_step(results, exact=False)


@given(base=st.lists(st.sampled_from(["dense", "batch_norm", "dropout"]), min_size=1,
                     max_size=3),
       seed=seeds)
def test_skip_layers_below_the_first_trainable_one(base, seed):
    """Layers without trainable weights below (frozen ones, a dropout): fused,
    their backward passes do not run; plain, they do, and change nothing."""
    def layers():
        below = {"dense": lambda: Dense(5, activation="tanh", trainable=False),
                 "batch_norm": lambda: BatchNormalization(trainable=False),
                 "dropout": lambda: Dropout(0.0)}
        return ([Input(shape=(5,))] + [below[kind]() for kind in base]
                + [Dense(4, activation="sigmoid"), Dense(2)])
    x, y = images(seed, (6, 5)), images(seed + 1, (6, 2))
    fused, _, results = train_twins(layers, x, y, "mse")
    assert applied(fused, rules.SKIP_LAYERS_BELOW) == [
        ", ".join(layer.name for layer in fused.layers[:len(base)])]
    assert_same_step(results, exact=True)
    frozen = sum(len(layer.variables) for layer in fused.layers[:len(base)])
    for *_, weights in results:
        for after, initial in zip(weights[:frozen], fused.initial_weights):
            np.testing.assert_array_equal(after, initial)


@given(first=st.sampled_from(["dense", "conv2d", "batch_norm", "conv2d_transpose"]),
       seed=seeds)
def test_skip_input_gradient_of_the_first_trainable_layer(first, seed):
    """The first trainable layer of each kind that can skip dLoss/dx: its weight
    gradients are the same with and without computing it."""
    def layers():
        layer = {"dense": lambda: Dense(3, activation="tanh"),
                 "conv2d": lambda: Conv2D(3, 3, padding="same"),
                 "batch_norm": lambda: BatchNormalization(),
                 "conv2d_transpose": lambda: Conv2DTranspose(2, 3, strides=2)}[first]()
        return [Input(shape=(6, 5, 2)), layer, Flatten(), Dense(2)]
    x, y = images(seed, (4, 6, 5, 2)), images(seed + 1, (4, 2))
    fused, _, results = train_twins(layers, x, y, "mse")
    assert applied(fused, rules.SKIP_INPUT_GRADIENT) == [fused.layers[0].name]
    assert_same_step(results, exact=True)


def demo_cnn(**compile_args):
    model = Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                        MaxPooling2D(2), Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
                        Flatten(), Dropout(0.5, seed=3), Dense(10, activation="softmax")])
    model.compile(SGD(0.1), "sparse_categorical_crossentropy", **compile_args)
    return model


def test_the_demo_cnn_learns_the_same_fused_and_plain(fresh_session):
    fused, plain = demo_cnn(), demo_cnn(fuse=False)
    plain.set_weights(fused.get_weights())
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 16)
    results = []
    for model in (fused, plain):
        value, y_pred = train_step(model, x, y)
        results.append((value, y_pred, model.predict(x), model.get_weights()))
    assert_same_step(results, exact=False)


# ---- (b) the printed plan ----------------------------------------------------------------------

def steps(plan, section):
    """(name, layers) of each step line of one section of the printed plan."""
    lines = str(plan).splitlines()
    start = lines.index(section) + 1
    found = []
    for line in lines[start:]:
        if not line.startswith("  ") or not line[2:5].strip().isdigit():
            break
        found.append((line[7:43].strip(), line[44:]))
    return found


def verdicts(plan):
    """The rules part of the printed plan, wrapped lines joined, one space between words."""
    return " ".join(str(plan).split("\nrules\n")[1].split())


def test_the_demo_cnn_plan(fresh_session):
    plan = demo_cnn().plan
    assert steps(plan, "forward") == [
        ("conv2d+bias+relu+max_pool", "conv2d + max_pooling2d"),
        ("conv2d+bias+relu", "conv2d_1"), ("max_pool+dropout", "max_pooling2d_1 + dropout"),
        ("flatten", "flatten"), ("dense, softmax", "dense")]
    assert steps(plan, "loss") == [
        ("softmax+crossentropy", "sparse_categorical_crossentropy, and dLoss/dlogits of dense")]
    assert steps(plan, "backward") == [
        ("dense backward", "dense"), ("flatten backward", "flatten"),
        ("dropout+max_pool+relu backward", "dropout + max_pooling2d_1 + conv2d_1"),
        ("conv2d backward", "conv2d_1"),
        ("pooled first-layer weight gradient", "max_pooling2d + conv2d  (no input gradient)")]
    text = verdicts(plan)
    for expected in [
            "activation in the kernel's epilogue why: the convolution or matmul kernel applies",
            "yes: conv2d_1 no: dense: softmax mixes each row: it has a kernel of its own",
            "dense backward with the activation's derivative why:",
            "yes: max_pooling2d_1 over conv2d_1; max_pooling2d over conv2d",
            # (the dropout's rule takes max_pooling2d_1's backward before this one is asked)
            "yes: conv2d under max_pooling2d first layer's conv + relu + max pool in one pass",
            "first layer's conv + relu + max pool in one pass why: where the pooled "
            "first-layer weight gradient takes the backward pass",
            "yes: conv2d + max_pooling2d no: conv2d_1 + max_pooling2d_1: the pooled "
            "first-layer weight gradient does not apply: conv2d_1 is not the first trainable "
            "layer",
            "pool + dropout in one pass why: the pool writes each output already dropped out",
            "yes: max_pooling2d_1 + dropout dropout backward inside the pool backward why:",
            "yes: dropout over max_pooling2d_1 loss gradient w.r.t. the logits",
            "yes: sparse_categorical_crossentropy after dense (softmax)",
            "skip layers below the first trainable one why: nothing below it has a weight to "
            "learn (input augmentation, a frozen base): their backward passes would be thrown "
            "away - no place for it in this model",
            "skip input gradient of the first trainable layer why: nothing below it learns, so "
            "dLoss/dx of its input would be thrown away yes: conv2d"]:
        assert expected in text
    # activation in place, batch norm + relu, relu mask, first-layer weight gradient
    # through the activation, pool through the activation, skip below
    assert text.count("no place for it in this model") == 6


def test_the_course_mlp_plan(fresh_session):
    model = Sequential([Dense(16, input_shape=(1,), activation="relu"),
                        Dense(32, activation="relu"), Dense(2, activation="sigmoid")])
    model.compile("adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    plan = model.plan
    assert steps(plan, "forward") == [("dense+bias+relu", "dense"),
                                      ("dense+bias+relu", "dense_1"),
                                      ("dense+bias+sigmoid", "dense_2")]
    assert steps(plan, "loss") == [("sparse_categorical_crossentropy",
                                    "the loss, and dLoss/dy_pred")]
    assert steps(plan, "backward") == [
        ("dense backward with sigmoid", "dense_2"),
        ("dense backward with relu mask", "dense_1"),
        ("dense backward with relu mask", "dense  (no input gradient)")]
    text = verdicts(plan)
    assert "instead of two, and z is never stored yes: dense; dense_1; dense_2" in text
    assert "instead of two yes: dense_2; dense_1; dense" in text
    assert ("no: sparse_categorical_crossentropy after dense_2 (sigmoid): "
            "sparse_categorical_crossentropy has one through softmax only, the output layer "
            "has sigmoid") in text
    # activation in place, batch norm + relu, first-layer weight gradient through the
    # activation, max pool, pool through the activation, pooled backward and forward,
    # pool + dropout, dropout backward inside the pool backward, skip below
    assert text.count("no place for it in this model") == 10


def test_the_plan_of_a_model_with_a_frozen_base(fresh_session):
    base = [Conv2D(8, 3, activation="relu", input_shape=(12, 12, 1)), MaxPooling2D(2),
            Conv2D(8, 3, activation="relu"), MaxPooling2D(2)]
    for layer in base:
        layer.trainable = False
    model = Sequential(base + [Flatten(), Dense(16, activation="relu"),
                               Dense(5, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    plan = model.plan
    assert steps(plan, "backward") == [
        ("dense backward", "dense_1"),
        ("dense backward with relu mask", "dense  (no input gradient)")]
    text = verdicts(plan)
    assert ("skip layers below the first trainable one why: nothing below it has a weight to "
            "learn (input augmentation, a frozen base): their backward passes would be thrown "
            "away yes: conv2d, max_pooling2d, conv2d_1, max_pooling2d_1, flatten") in text
    assert "yes: dense" in text.split("skip input gradient of the first trainable layer")[1]
    # the pools take no part in the backward pass: their rules are not asked
    for rule in (rules.MAX_POOL_THROUGH_RELU, rules.POOL_THROUGH_ACTIVATION,
                 rules.POOLED_WEIGHT_GRADIENT, rules.POOLED_FORWARD):
        assert f"{rule.name} why: " in text
        assert not [v for v in plan.verdicts if v.rule is rule]


def test_the_plan_with_fuse_false(fresh_session):
    plan = demo_cnn(fuse=False).plan
    assert steps(plan, "forward") == [
        ("conv2d", "conv2d"), ("relu", "conv2d"), ("max_pooling2d", "max_pooling2d"),
        ("conv2d", "conv2d_1"), ("relu", "conv2d_1"), ("max_pooling2d", "max_pooling2d_1"),
        ("flatten", "flatten"), ("dropout", "dropout"), ("dense", "dense"),
        ("softmax", "dense")]
    assert steps(plan, "loss") == [("sparse_categorical_crossentropy",
                                    "the loss, and dLoss/dy_pred")]
    assert steps(plan, "backward") == [
        ("softmax backward", "dense"), ("dense backward", "dense"),
        ("dropout backward", "dropout"), ("flatten backward", "flatten"),
        ("max_pooling2d backward", "max_pooling2d_1"), ("relu backward", "conv2d_1"),
        ("conv2d backward", "conv2d_1"), ("max_pooling2d backward", "max_pooling2d"),
        ("relu backward", "conv2d"), ("conv2d backward", "conv2d")]
    assert str(plan).splitlines()[-1] == "rules: none asked (compile(fuse=False))"
    assert plan.verdicts == []


@pytest.mark.parametrize("in_c, size, pool, reason", [
    (9, 10, dict(pool_size=2),
     "conv2d has 3x3x9 = 81 values per patch, the kernel takes at most 75 values per patch "
     "(kh*kw*in_channels), or 484 with at most 4 input channels"),
    (1, 10, dict(pool_size=2, strides=1),
     "max_pooling2d has strides (1, 1) and pool_size (2, 2): the kernel takes windows side "
     "by side only"),
    (1, 10, dict(pool_size=3, padding="same"),
     "max_pooling2d pads ('same'): the kernel takes 'valid' pooling only"),
    (1, 20, dict(pool_size=9),
     "max_pooling2d's windows have 81 taps, the kernel takes at most 64"),
], ids=["patch", "strides", "padding", "taps"])
def test_the_plan_says_why_the_pooled_weight_gradient_declines(in_c, size, pool, reason,
                                                               fresh_session):
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(size, size, in_c)),
                        MaxPooling2D(**pool), Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    assert f"no: conv2d under max_pooling2d: {reason}" in verdicts(model.plan)
    assert steps(model.plan, "backward")[-2:] == [
        ("max_pool backward through relu", "max_pooling2d + conv2d"),
        ("conv2d backward", "conv2d  (no input gradient)")]


def test_model_backward_from_logits_or_not_follows_the_plan(fresh_session):
    """``model.backward`` runs the plan's steps from dLoss/dlogits or from
    dLoss/dy_pred, whichever it is given: the same gradients."""
    model = demo_cnn()
    rng = np.random.default_rng(1)
    x, y = rng.random((4, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 4)
    grads = []
    for from_logits in (True, False):
        y_pred = model.forward(x, training=False)
        gradient = (model.loss.logits_gradient(y, y_pred, "softmax") if from_logits
                    else model.loss.gradient(y, y_pred))
        assert model.backward(gradient, from_logits=from_logits) is None
        grads.append([v.grad.copy() for v in model.trainable_variables])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * np.abs(b).max())


def test_plan_needs_a_built_model_and_fuse_a_bool():
    model = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="not built yet, so it has no plan"):
        model.plan
    with pytest.raises(TypeError, match="fuse must be True or False, got 'no'"):
        model.compile("sgd", "mse", fuse="no")


# ---- (c) the plan follows the model ------------------------------------------------------------

def test_add_and_pop_rebuild_the_plan(fresh_session):
    """Also a new head of the same kind in place of the old one (chapter 30)."""
    model = Sequential([Dense(4, activation="relu", input_shape=(3,))])
    model.compile(SGD(0.1), "categorical_crossentropy")
    before = model.plan
    assert steps(before, "forward") == [("dense+bias+relu", "dense")]
    model.add(Dense(2, activation="softmax"))
    after = model.plan
    assert after is not before
    assert steps(after, "forward") == [("dense+bias+relu", "dense"),
                                       ("dense, softmax", "dense_1")]
    assert after.from_logits and after.layers == tuple(model.layers)
    x, y = np.ones((2, 3), np.float32), np.float32([[1, 0], [0, 1]])
    model.fit(x, y, verbose=0)
    model.pop()
    assert steps(model.plan, "forward") == [("dense+bias+relu", "dense")]
    assert not model.plan.from_logits
    assert model.predict(x).shape == (2, 4)
    model.pop()
    model.add(Dense(3, activation="relu", input_shape=(3,)))
    assert steps(model.plan, "forward") == [("dense+bias+relu", "dense_2")]
    assert model.predict(x).shape == (2, 3)


def test_freezing_a_layer_and_compiling_again_rebuilds_the_plan(fresh_session):
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    model.compile(SGD(0.1), "mse")
    assert applied(model, rules.SKIP_INPUT_GRADIENT) == ["dense"]
    model.layers[0].trainable = False
    model.compile(SGD(0.1), "mse")
    assert applied(model, rules.SKIP_LAYERS_BELOW) == ["dense"]
    assert applied(model, rules.SKIP_INPUT_GRADIENT) == ["dense_1"]
    assert steps(model.plan, "backward") == [("dense backward", "dense_1  (no input gradient)")]
    frozen = model.layers[0].get_weights()
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    for a, b in zip(model.layers[0].get_weights(), frozen):
        np.testing.assert_array_equal(a, b)


def test_unfreezing_without_compiling_again_still_trains_the_layer(fresh_session):
    """The plan checks the layers' trainable flags at each use: a layer unfrozen
    after the plan was built gets its gradient, whose step is -lr * gradient."""
    model = Sequential([Dense(3, input_shape=(2,), trainable=False), Dense(1)])
    model.compile(SGD(0.5), "mse")
    x, y = np.float32([[1, 2], [3, -1]]), np.float32([[1], [0]])
    model.fit(x, y, verbose=0)                        # plan built, layer 0 skipped
    model.layers[0].trainable = True
    (w0, b0), (w1, b1) = model.layers[0].get_weights(), model.layers[1].get_weights()
    model.fit(x, y, batch_size=2, shuffle=False, verbose=0)
    # float64 reference: y = (x w0 + b0) w1 + b1, loss = mean((y - t)^2)
    h = x.astype(np.float64) @ w0 + b0
    dy = 2 * (h @ w1 + b1 - y) / len(x)
    dh = dy @ w1.T
    np.testing.assert_allclose(model.layers[0].get_weights()[0], w0 - 0.5 * x.T @ dh,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.layers[0].get_weights()[1], b0 - 0.5 * dh.sum(0),
                               rtol=1e-5, atol=1e-6)


def test_compiling_again_rebuilds_the_plan(fresh_session):
    """With or without fuse, and after a layer's activation was replaced."""
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    loss = losses.MeanSquaredError()
    model.compile("sgd", loss, fuse=False)
    assert not model.plan.fuse and model.plan.verdicts == []
    model.compile("sgd", loss)
    assert model.plan.fuse and applied(model, rules.ACTIVATION_IN_KERNEL) == ["dense"]
    model.layers[0].activation = activations.get("silu")
    model.compile("sgd", loss)
    assert applied(model, rules.ACTIVATION_IN_KERNEL) == []
    assert steps(model.plan, "forward")[0] == ("dense, silu", "dense")
    x = np.float32([[1, -2, 3]])
    w, b = model.layers[0].get_weights()
    z = x @ w + b
    np.testing.assert_allclose(model.layers[0](x), z / (1 + np.exp(-z)), rtol=1e-6)


def test_a_loss_assigned_to_the_model_is_the_one_trained_with(fresh_session):
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(SGD(0.1), "mse")
    assert steps(model.plan, "loss") == [("mean_squared_error", "the loss, and dLoss/dy_pred")]
    model.loss = losses.CategoricalCrossentropy()
    assert steps(model.plan, "loss") == [
        ("softmax+crossentropy", "categorical_crossentropy, and dLoss/dlogits of dense")]
    x, y = np.float32([[1, 2, 3]]), np.float32([[0, 1]])
    expected = -np.log(model.predict(x)[0, 1])
    value, _ = train_step(model, x, y)
    assert value == pytest.approx(expected, rel=1e-6)
