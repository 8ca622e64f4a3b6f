"""Keras's files both ways: model.save("m.h5") writes tf.keras 2's HDF5,
model.save("m.keras") Keras 3's zip, and load_model reads what Keras writes.

The first part reads the files with h5py and zipfile and checks the layout
Keras expects (attribute names, weight names, array layouts).  The second
part checks against real Keras 3 (``keras_worker``, one process for the
session): Keras loads every stack of ``layer_stacks`` that fastnn saved and
predicts what fastnn predicts, and fastnn loads what Keras saved and
predicts what Keras predicts, within float32 rounding.
"""
import importlib.util
import io
import json
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import layers, optimizers
from fastnn.io.keras_layers import UnsupportedLayerError
from fastnn.models import Sequential, load_model
from keras_worker import KerasWorker
from layer_stacks import STACKS, fastnn_model, inputs

h5py = pytest.importorskip("h5py", reason="Keras's files need h5py (pip install fastnn[keras])")

SUFFIXES = [".h5", ".keras"]


def assert_predictions_equal(actual, expected):
    """Equal within float32 rounding of a few layers of sums."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=1e-4,
                               atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def text(value):
    """An HDF5 string attribute as str (h5py gives bytes or str, as Keras reads both)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def assert_keras_format(path):
    """The file is in the format its name asks for: HDF5 (.h5) or a .keras zip."""
    if str(path).endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            assert "config.json" in archive.namelist()
    else:
        assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


def compiled(model, optimizer="adam", loss="categorical_crossentropy"):
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


# ---- the files' layout ---------------------------------------------------------------------

def test_an_h5_file_has_tf_keras2_layout(tmp_path):
    model = compiled(fastnn_model("cnn_valid"))
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential"
        first = config["config"]["layers"][0]
        assert first["class_name"] == "InputLayer"
        assert first["config"]["batch_input_shape"] == [None, 8, 8, 2]
        assert [l["class_name"] for l in config["config"]["layers"][1:]] == [
            cls for cls, _ in STACKS["cnn_valid"][1]]
        assert text(f.attrs["keras_version"]) == fastnn.__version__
        assert text(f.attrs["backend"]) == "fastnn"
        training = json.loads(f.attrs["training_config"])
        assert training["loss"] == "categorical_crossentropy"
        assert training["metrics"] == ["accuracy"]
        assert training["optimizer_config"]["class_name"] == "Adam"
        weights = f["model_weights"]
        names = [layer.name for layer in model.layers]
        assert [text(n) for n in weights.attrs["layer_names"]] == names
        conv = model.layers[0].name
        assert [text(n) for n in weights[conv].attrs["weight_names"]] == [
            f"{conv}/kernel:0", f"{conv}/bias:0"]
        np.testing.assert_array_equal(weights[conv][f"{conv}/kernel:0"][()],
                                      model.layers[0].kernel.value)   # (kh, kw, in, out)
        assert weights[conv][f"{conv}/kernel:0"].shape == (3, 3, 2, 4)
        assert len(weights[names[1]].attrs["weight_names"]) == 0        # the pooling layer
        assert "optimizer_weights" not in f


def test_a_keras_file_has_keras3_layout(tmp_path):
    model = fastnn_model("batch_norm")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
        assert json.loads(archive.read("metadata.json"))["keras_version"] == fastnn.__version__
        weights = archive.read("model.weights.h5")
    assert (config["module"], config["class_name"]) == ("keras", "Sequential")
    specs = config["config"]["layers"]
    assert specs[0]["class_name"] == "InputLayer"
    assert specs[0]["config"]["batch_shape"] == [None, 7, 7, 3]
    assert all(spec["module"] == "keras.layers" for spec in specs)
    assert specs[1]["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert specs[2]["build_config"] == {"input_shape": [None, 7, 7, 4]}
    with h5py.File(io.BytesIO(weights), "r") as f:   # by class in order, not by layer name
        paths = ["conv2d", "batch_normalization", "activation", "max_pooling2d", "conv2d_1",
                 "flatten", "batch_normalization_1", "dense"]
        for layer, path in zip(model.layers, paths):
            group = f[f"layers/{path}/vars"]
            assert sorted(group) == [str(i) for i in range(len(layer.variables))]
            for i, variable in enumerate(layer.variables):
                np.testing.assert_array_equal(group[str(i)][()], variable.value)


# ---- fastnn -> file -> fastnn ---------------------------------------------------------------

@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_a_model_comes_back_from_a_keras_file_unchanged(tmp_path, stack, suffix):
    model = compiled(fastnn_model(stack), optimizers.Adam(learning_rate=0.003), "mse")
    model.save(tmp_path / f"m{suffix}")
    assert_keras_format(tmp_path / f"m{suffix}")
    loaded = load_model(tmp_path / f"m{suffix}")
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    for before, after in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(after, before)
    x = inputs(stack)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert type(loaded.optimizer) is optimizers.Adam
    assert loaded.optimizer.learning_rate == pytest.approx(0.003)
    assert loaded.loss.name == "mean_squared_error"


@pytest.mark.parametrize("name", ["w.h5", "w.weights.h5", "m.h5", "m.keras"])
def test_load_weights_reads_keras_weights_and_model_files(tmp_path, name):
    model, other = fastnn_model("batch_norm", seed=1), fastnn_model("batch_norm", seed=2)
    (model.save if name.startswith("m") else model.save_weights)(tmp_path / name)
    assert_keras_format(tmp_path / name)
    other.load_weights(tmp_path / name)
    for before, after in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(after, before)


def test_weights_file_layouts(tmp_path):
    model = fastnn_model("mlp")
    model.save_weights(tmp_path / "w.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    dense = model.layers[0].name
    with h5py.File(tmp_path / "w.h5", "r") as f:             # tf.keras 2: model_weights at the root
        assert [text(n) for n in f.attrs["layer_names"]] == [l.name for l in model.layers]
        assert f"{dense}/bias:0" in f[dense]
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:     # Keras 3
        np.testing.assert_array_equal(f["layers/dense/vars/1"][()], model.layers[0].bias.value)
        np.testing.assert_array_equal(f["layers/dense_1/vars/1"][()], model.layers[2].bias.value)


def test_save_weights_refuses_a_keras_model_name(tmp_path):
    with pytest.raises(ValueError, match=r"a \.keras file holds a whole model.*\.weights\.h5"):
        fastnn_model("mlp").save_weights(tmp_path / "w.keras")
    assert not (tmp_path / "w.keras").exists()


def test_other_names_keep_fastnn_format(tmp_path):
    model = compiled(fastnn_model("mlp"))
    model.save(tmp_path / "m.fastnn")
    with zipfile.ZipFile(tmp_path / "m.fastnn") as archive:
        assert "fastnn_format.npy" in archive.namelist()


# ---- what cannot cross ---------------------------------------------------------------------

class Doubling(layers.Layer):
    def call(self, x, training=False):
        return 2 * x


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_layer_keras_does_not_have_is_refused_by_name_before_writing(tmp_path, suffix):
    model = Sequential([layers.Dense(2, input_shape=(3,)), Doubling(name="twice")])
    with pytest.raises(UnsupportedLayerError, match=r"layer 'twice' is of class Doubling"):
        model.save(tmp_path / f"m{suffix}")
    assert not (tmp_path / f"m{suffix}").exists()


def test_hard_sigmoid_is_written_for_tf_keras2_but_not_for_keras3(tmp_path):
    """Keras 3's hard_sigmoid is another function (relu6(x + 3) / 6)."""
    model = Sequential([layers.Dense(2, input_shape=(3,), activation="hard_sigmoid",
                                     name="gate")])
    model.save(tmp_path / "m.h5")
    x = inputs("mlp")[:, :3]
    np.testing.assert_array_equal(load_model(tmp_path / "m.h5").predict(x), model.predict(x))
    with pytest.raises(UnsupportedLayerError, match=r"'gate'.*hard_sigmoid.*relu6"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


def rewrite_keras_config(path, change):
    """Apply ``change`` to the config.json of the .keras file at ``path``."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def rewrite_h5_config(path, change):
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        change(config)
        f.attrs["model_config"] = json.dumps(config).encode()


def replace_layer(class_name, extra):
    def change(config):
        spec = config["config"]["layers"][2]
        spec["class_name"] = class_name
        spec["config"].update(extra)
    return change


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("change, message", [
    (replace_layer("LeakyReLU", {"name": "leaky"}),
     r"layer 'leaky' is a LeakyReLU, which fastnn does not have; fastnn reads Keras files made "
     r"of InputLayer, Activation, AveragePooling2D"),
    (replace_layer("Dense", {"name": "d", "activation": "relu6"}),
     r"layer 'd' \(Dense\) uses activation 'relu6', which fastnn does not have"),
    (lambda config: config.update(class_name="Functional"),
     r"holds a Keras 'Functional' model; fastnn builds Sequential models only"),
])
def test_what_fastnn_lacks_in_a_keras_file_is_named(tmp_path, suffix, change, message):
    path = tmp_path / f"m{suffix}"
    fastnn_model("mlp").save(path)
    (rewrite_keras_config if suffix == ".keras" else rewrite_h5_config)(path, change)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_keras3_hard_sigmoid_is_refused_when_read(tmp_path):
    path = tmp_path / "m.keras"
    fastnn_model("mlp").save(path)
    rewrite_keras_config(path, replace_layer("Dense", {"name": "gate",
                                                       "activation": "hard_sigmoid"}))
    with pytest.raises(ValueError, match=r"'gate' \(Dense\) uses activation 'hard_sigmoid'"):
        load_model(path)


def test_compile_settings_keras3_lacks_are_left_out_with_a_warning(tmp_path):
    model = compiled(fastnn_model("mlp"), optimizers.SGD(learning_rate=0.1, decay=0.01))
    with pytest.warns(UserWarning, match=r"compile settings are not written \(Keras 3 has no "
                                         r"decay="):
        model.save(tmp_path / "m.keras")
    assert load_model(tmp_path / "m.keras").optimizer is None
    model.save(tmp_path / "m.h5")            # tf.keras 2's SGD has decay
    assert load_model(tmp_path / "m.h5").optimizer.decay == pytest.approx(0.01)


def test_keras_settings_fastnn_lacks_leave_the_model_uncompiled_with_a_warning(tmp_path):
    path = tmp_path / "m.h5"
    compiled(fastnn_model("mlp")).save(path)
    with h5py.File(path, "r+") as f:
        training = json.loads(f.attrs["training_config"])
        training["loss"] = {"class_name": "CategoricalCrossentropy",
                            "config": {"from_logits": True}}
        f.attrs["training_config"] = json.dumps(training).encode()
    with pytest.warns(UserWarning, match=r"loaded uncompiled \(fastnn's loss "
                                         r"CategoricalCrossentropy has no from_logits\)"):
        model = load_model(path)
    assert model.optimizer is None
    assert load_model(path, compile=False).optimizer is None


# ---- files that lie ------------------------------------------------------------------------

def saved_h5(tmp_path):
    model = fastnn_model("mlp")
    model.save(tmp_path / "m.h5")
    return tmp_path / "m.h5", model.layers[0].name


def test_links_in_an_h5_file_are_refused(tmp_path):
    path, dense = saved_h5(tmp_path)
    (tmp_path / "other.h5").write_bytes((tmp_path / "m.h5").read_bytes())
    with h5py.File(path, "r+") as f:
        group = f[f"model_weights/{dense}/{dense}"]
        del group["kernel:0"]
        group["kernel:0"] = h5py.ExternalLink(str(tmp_path / "other.h5"),
                                              f"model_weights/{dense}/{dense}/kernel:0")
    with pytest.raises(ValueError, match=r"kernel:0' is a ExternalLink; a Keras file holds its "
                                         r"groups and arrays directly"):
        load_model(path)


def test_compressed_or_unwritten_arrays_are_refused_before_reading(tmp_path):
    path, dense = saved_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        group = f[f"model_weights/{dense}/{dense}"]
        kernel = group["kernel:0"][()]
        del group["kernel:0"]
        group.create_dataset("kernel:0", data=kernel, compression="gzip")
    with pytest.raises(ValueError, match=r"kernel:0' \(shape \(5, 6\)\) is not stored as plain "
                                         r"bytes"):
        load_model(path)
    with h5py.File(path, "r+") as f:
        group = f[f"model_weights/{dense}/{dense}"]
        del group["kernel:0"]
        group.create_dataset("kernel:0", shape=(5, 6), dtype="float32")   # never written
    with pytest.raises(ValueError, match=r"not stored as plain bytes in the file \(0 bytes "
                                         r"stored for 120\)"):
        load_model(path)


def test_arrays_of_strings_or_the_wrong_shape_are_refused(tmp_path):
    path, dense = saved_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        group = f[f"model_weights/{dense}/{dense}"]
        del group["bias:0"]
        group["bias:0"] = np.array([b"a"] * 6)
    with pytest.raises(ValueError, match=r"bias:0' has dtype \|S1; a weight must hold plain "
                                         r"real numbers"):
        load_model(path)
    with h5py.File(path, "r+") as f:
        group = f[f"model_weights/{dense}/{dense}"]
        del group["bias:0"]
        group["bias:0"] = np.zeros(7, np.float32)
    with pytest.raises(ValueError, match=rf"layer '{dense}': its configuration gives weight "
                                         rf"'bias' the shape \(6,\), but the file stores an "
                                         rf"array of shape \(7,\)"):
        load_model(path)


def test_a_weights_file_given_to_load_model_says_what_to_do(tmp_path):
    fastnn_model("mlp").save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match=r"holds no model_config: it is a weights file.*"
                                         r"load_weights"):
        load_model(tmp_path / "w.h5")


# ---- against real Keras 3 -------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_worker():
    if importlib.util.find_spec("keras") is None:
        pytest.skip("Keras 3 is not installed (pip install fastnn[test] installs keras and jax)")
    try:
        worker = KerasWorker()
    except (RuntimeError, TimeoutError) as err:
        pytest.skip(f"Keras 3 does not start here: {err}")
    yield worker
    worker.close()


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_keras_loads_what_fastnn_saves_and_predicts_the_same(tmp_path, keras_worker, stack,
                                                             suffix):
    model = compiled(fastnn_model(stack), loss="mse")
    path, x = tmp_path / f"m{suffix}", inputs(stack)
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    answer = keras_worker.request(op="predict", path=str(path), x=str(tmp_path / "x.npy"),
                                  out=str(tmp_path / "y.npy"))
    assert answer["layers"] == [cls for cls, _ in STACKS[stack][1]]
    assert answer["optimizer"] == "Adam"
    assert_predictions_equal(np.load(tmp_path / "y.npy"), model.predict(x))


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta",
                                       "Adamax", "Nadam"])
def test_keras_compiles_with_the_optimizer_fastnn_saved(tmp_path, keras_worker, optimizer,
                                                        suffix):
    model = compiled(fastnn_model("mlp"), getattr(optimizers, optimizer)(learning_rate=0.02),
                     "binary_crossentropy")
    path = tmp_path / f"m{suffix}"
    model.save(path)
    np.save(tmp_path / "x.npy", inputs("mlp"))
    answer = keras_worker.request(op="predict", path=str(path), x=str(tmp_path / "x.npy"),
                                  out=str(tmp_path / "y.npy"))
    assert (answer["optimizer"], answer["loss"]) == (optimizer, "binary_crossentropy")
    assert answer["learning_rate"] == pytest.approx(0.02)


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_fastnn_loads_what_keras_saves_and_predicts_the_same(tmp_path, keras_worker, stack):
    x = inputs(stack)
    np.save(tmp_path / "x.npy", x)
    # Keras 3.15 cannot write RandomBrightness into an .h5 file (it deep-copies its backend
    # module: "cannot pickle 'module' object"); fastnn writes it, and Keras reads that
    suffixes = [s for s in SUFFIXES if not (s == ".h5" and stack == "augmentation")]
    files = [str(tmp_path / f"m{suffix}") for suffix in suffixes]
    keras_worker.request(op="build", stack=stack, seed=7, x=str(tmp_path / "x.npy"),
                         out=str(tmp_path / "y.npy"), save=files,
                         save_weights=[str(tmp_path / "w.weights.h5")],
                         compile={"optimizer": "adam", "loss": "mean_squared_error"})
    expected = np.load(tmp_path / "y.npy")
    for path in files:
        model = load_model(path)
        assert [type(l).__name__ for l in model.layers] == [cls for cls, _ in STACKS[stack][1]]
        assert_predictions_equal(model.predict(x), expected)
        # compiled as Keras compiles the file it wrote (Keras 3.15 leaves the optimizer
        # named by a string out of a .keras file, and then takes its default, RMSprop)
        keras_view = keras_worker.request(op="predict", path=path, x=str(tmp_path / "x.npy"),
                                          out=str(tmp_path / "again.npy"))
        assert type(model.optimizer).__name__ == keras_view["optimizer"]
        assert model.loss.name == "mean_squared_error"
    model = fastnn_model(stack, seed=99)
    model.load_weights(tmp_path / "w.weights.h5")
    assert_predictions_equal(model.predict(x), expected)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_keras_layer_fastnn_lacks_is_named_with_its_class(tmp_path, keras_worker, suffix):
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    path = tmp_path / f"m{suffix}"
    keras_worker.request(op="build", stack="leaky_relu_layer", seed=0,
                         x=str(tmp_path / "x.npy"), out=str(tmp_path / "y.npy"),
                         save=[str(path)])
    with pytest.raises(UnsupportedLayerError, match=r"layer 'leaky_re_lu(_\d+)?' is a LeakyReLU, "
                                                    r"which fastnn does not have"):
        load_model(path)
