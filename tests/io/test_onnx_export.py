"""ONNX export: the graph onnxruntime runs computes model.predict.

Every layer stack of ``layer_stacks`` and random CNNs drawn by hypothesis
(padding, strides, odd sizes, activations, BatchNormalization, Flatten ->
Dense after convolutions, transposed convolutions, upsampling) are
exported and run by onnxruntime on random inputs; the outputs must equal
``model.predict``'s within float32 rounding.
"""
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn import activations, layers
from fastnn.models import Sequential
from layer_stacks import STACKS, fastnn_model, inputs, random_weights

onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx (pip install fastnn[onnx])")
ort = pytest.importorskip("onnxruntime", reason="running the graphs needs onnxruntime")


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def assert_same_as_predict(model, path, x):
    expected = model.predict(x)
    actual = run(path, x)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5,
                               atol=1e-5 * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_stack_runs_in_onnxruntime_as_predict(tmp_path, stack, opset):
    model = fastnn_model(stack)
    model.export(tmp_path / "m.onnx", format="onnx", opset_version=opset)
    proto = onnx.load(tmp_path / "m.onnx")
    assert proto.opset_import[0].version == opset
    assert_same_as_predict(model, tmp_path / "m.onnx", inputs(stack, n=5))


def test_the_batch_size_is_free(tmp_path):
    model = fastnn_model("cnn_valid")
    model.export(tmp_path / "m.onnx", format="onnx")
    for n in (1, 7):
        assert_same_as_predict(model, tmp_path / "m.onnx", inputs("cnn_valid", n=n))


def test_flatten_after_convolutions_keeps_fastnn_order(tmp_path):
    """Dense after Flatten reads the numbers in NHWC order: one weight on one
    pixel's one channel picks exactly that number."""
    model = Sequential([layers.Conv2D(3, 1, input_shape=(2, 3, 1), use_bias=False),
                        layers.Flatten(), layers.Dense(1, use_bias=False)])
    kernel = np.zeros((18, 1), np.float32)
    kernel[1 * 3 * 3 + 2 * 3 + 1] = 1.0            # pixel (1, 2), channel 1 of (2, 3, 3)
    model.set_weights([np.array([[[[1.0, 10.0, 100.0]]]], np.float32), kernel])
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    model.export(tmp_path / "m.onnx", format="onnx")
    np.testing.assert_array_equal(run(tmp_path / "m.onnx", x), [[10.0 * x[0, 1, 2, 0]]])


RECURRENT_OPTIONS = [dict(), dict(return_sequences=True), dict(go_backwards=True),
                     dict(return_sequences=True, go_backwards=True), dict(use_bias=False),
                     dict(activation="relu", recurrent_activation="hard_sigmoid"),
                     dict(activation="linear", recurrent_activation="sigmoid"),
                     dict(activation="hard_sigmoid", recurrent_activation="hard_sigmoid")]


@pytest.mark.parametrize("options", RECURRENT_OPTIONS)
@pytest.mark.parametrize("cls, extra", [(layers.SimpleRNN, {}), (layers.LSTM, {}),
                                        (layers.GRU, {}), (layers.GRU, dict(reset_after=False))])
def test_recurrent_layers_run_in_onnxruntime_as_predict(tmp_path, cls, extra, options):
    """Gate orders, biases, activations and go_backwards's processed order
    (ONNX's reverse direction returns its sequence in input order)."""
    model = Sequential([layers.Input(shape=(7, 3)), cls(5, **extra, **options)])
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    model.export(tmp_path / "m.onnx", format="onnx")
    assert_same_as_predict(model, tmp_path / "m.onnx",
                           rng.normal(size=(4, 7, 3)).astype(np.float32))


ACTIVATIONS = sorted(set(activations.names()) - {"swish"})


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_is_exported(tmp_path, activation):
    model = Sequential([layers.Dense(4, input_shape=(3,), activation=activation)])
    model.set_weights(random_weights([("kernel", (3, 4)), ("bias", (4,))], seed=3))
    model.export(tmp_path / "m.onnx", format="onnx")
    x = np.random.default_rng(0).normal(0, 2, (16, 3)).astype(np.float32)
    assert_same_as_predict(model, tmp_path / "m.onnx", x)


def test_configured_activations(tmp_path):
    model = Sequential([
        layers.Dense(4, input_shape=(3,), activation=activations.get("leaky_relu").configure(
            negative_slope=0.05)),
        layers.Activation(activations.get("elu").configure(alpha=0.5)),
        layers.Activation(activations.get("gelu").configure(approximate=True))])
    model.set_weights(random_weights([("kernel", (3, 4)), ("bias", (4,))], seed=4))
    model.export(tmp_path / "m.onnx", format="onnx")
    x = np.random.default_rng(1).normal(0, 2, (16, 3)).astype(np.float32)
    assert_same_as_predict(model, tmp_path / "m.onnx", x)


@st.composite
def cnns(draw):
    """A random CNN on a small image: convolutions and poolings with random
    padding, strides and kernels (sizes kept valid), BatchNormalization,
    transposed convolutions, upsampling, then Flatten -> Dense."""
    height, width = draw(st.integers(4, 9)), draw(st.integers(4, 9))
    stack = [layers.Input(shape=(height, width, draw(st.integers(1, 3))))]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "pool", "norm", "transpose", "upsample"]))
        padding = draw(st.sampled_from(["valid", "same"]))
        k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        if padding == "valid" and (k[0] > height or k[1] > width):
            padding = "same"
        if kind == "conv":
            stack.append(layers.Conv2D(draw(st.integers(1, 4)), k, s, padding,
                                       activation=draw(st.sampled_from(
                                           ["relu", "linear", "tanh", "elu", "silu"]))))
        elif kind == "pool":
            pool = draw(st.sampled_from([layers.MaxPooling2D, layers.AveragePooling2D]))
            stack.append(pool(k, s, padding))
        elif kind == "norm":
            stack.append(layers.BatchNormalization(epsilon=draw(st.sampled_from([1e-3, 0.1]))))
        elif kind == "transpose":
            stack.append(layers.Conv2DTranspose(draw(st.integers(1, 3)), k, s, padding,
                                                activation="sigmoid"))
        else:
            stack.append(layers.UpSampling2D(
                (draw(st.integers(1, 2)), draw(st.integers(1, 3))),
                interpolation=draw(st.sampled_from(["nearest", "bilinear"]))))
        model = Sequential(list(stack))
        _, height, width, _ = model.output_shape
        if height * width > 400:
            stack.pop()
            break
    stack += [layers.Flatten(), layers.Dense(3, activation="softmax")]
    return Sequential(stack), draw(st.integers(0, 2**32 - 1))


@settings(max_examples=30)
@given(cnns())
def test_random_cnns_run_in_onnxruntime_as_predict(tmp_path_factory, model_and_seed):
    model, seed = model_and_seed
    model.set_weights(random_weights([(v.name, v.shape) for v in model.variables], seed))
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    model.export(path, format="onnx")
    x = np.random.default_rng(seed).random((2,) + model.batch_input_shape[1:], np.float32)
    assert_same_as_predict(model, path, x)


# ---- refusals ------------------------------------------------------------------------------

class Doubling(layers.Layer):
    def call(self, x, training=False):
        return 2 * x


@pytest.mark.parametrize("model, message", [
    (lambda: Sequential([layers.Dense(2, input_shape=(3,)), Doubling(name="twice")]),
     r"layer 'twice' \(Doubling\) has no ONNX form; fastnn exports Activation, "
     r"AveragePooling1D, AveragePooling2D"),
    (lambda: Sequential([layers.Dense(2, input_shape=(3,), name="d",
                                      activation=lambda x: x * x)]),
     r"layer 'd' \(Dense\): activation <Activation <lambda>> has no ONNX form"),
    (lambda: Sequential([layers.Dense(2, input_shape=(3,), name="d", activation=activations.get(
        "relu").configure(max_value=6.0))]),
     r"layer 'd' \(Dense\): activation <Activation relu, max_value=6.0> has no ONNX form"),
    (lambda: Sequential([layers.RandomCrop(4, 4, input_shape=(6, 6, 1), name="crop")]),
     r"layer 'crop' \(RandomCrop\) resizes its \(6, 6\) images to \(4, 4\) at inference"),
    (lambda: Sequential([layers.Conv2D(2, 3, input_shape=(None, None, 1))]),
     r"needs a known input shape.*\(None, None, None, 1\)"),
])
def test_what_onnx_cannot_express_is_refused_by_name_before_writing(tmp_path, model, message):
    with pytest.raises(ValueError, match=message):
        model().export(tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_only_the_onnx_format_and_known_opsets(tmp_path):
    model = fastnn_model("mlp")
    with pytest.raises(ValueError, match=r"fastnn writes format='onnx' only, got "
                                         r"format='tf_saved_model'"):
        model.export(tmp_path / "m")
    with pytest.raises(ValueError, match=r"opset_version must be one of 13\.\.\.17, got 18"):
        model.export(tmp_path / "m.onnx", format="onnx", opset_version=18)
    assert not list(tmp_path.iterdir())


def test_without_onnx_the_export_is_an_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"needs the onnx package: pip install fastnn\[onnx\]"):
        fastnn_model("mlp").export(tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()
