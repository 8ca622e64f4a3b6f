"""An architecture without its weights: get_config / from_config, to_json /
model_from_json, model_from_config, clone_model (tf.keras 2's layout).

The reference is tf.keras 2.x's documented layout: ``to_json()`` gives
``{"class_name": "Sequential", "config": {"name", "layers": [{"class_name",
"config"}, ...], "build_input_shape"}, "keras_version", "backend"}``, each layer's
config holds its constructor arguments under Keras's names, and a model rebuilt
from it has fresh weights (given the original's, it predicts the same).
"""
import json

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D,
                           Conv2DTranspose, Dense, Dropout, Flatten, Input, MaxPooling2D,
                           RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                           RandomRotation, RandomTranslation, RandomZoom, Reshape, UpSampling2D)
from fastnn.models import (Sequential, clone_model, load_model, model_from_config,
                           model_from_json)
from fastnn.regularizers import l2

pytestmark = pytest.mark.usefixtures("fresh_session")
RNG = np.random.default_rng(7)


# One model per entry of fastnn.layers.__all__ (aliases and Input included), with
# settings off their defaults, so a setting lost on the way would change the output.
def _every_layer_type():
    image = (6, 6, 2)
    sequence, volume = (7, 3), (3, 4, 5, 2)
    return {
        "Activation": [Dense(4, input_shape=(3,)), Activation("tanh")],
        "AveragePooling2D": [AveragePooling2D(3, strides=2, padding="same", input_shape=image)],
        "AvgPool2D": [layers.AvgPool2D(2, input_shape=image)],
        "BatchNormalization": [BatchNormalization(axis=-1, momentum=0.9, epsilon=0.01,
                                                  center=False, input_shape=image)],
        "Conv2D": [Conv2D(3, (3, 2), strides=(2, 1), padding="same", activation="relu",
                          kernel_regularizer=l2(0.02), input_shape=image)],
        "Conv2DTranspose": [Conv2DTranspose(2, 3, strides=2, padding="same", use_bias=False,
                                            input_shape=image)],
        "Convolution2D": [layers.Convolution2D(2, 3, input_shape=image)],
        "Convolution2DTranspose": [layers.Convolution2DTranspose(2, 2, input_shape=image)],
        "Dense": [Dense(5, activation="selu", kernel_initializer="he_normal",
                        bias_initializer="ones", input_shape=(3,))],
        "Dropout": [Dense(4, input_shape=(3,)), Dropout(0.3, seed=4)],
        "Flatten": [Flatten(input_shape=image), Dense(2, activation="softmax")],
        "Input": [Input(shape=(3,)), Dense(2)],
        "InputLayer": [layers.InputLayer(input_shape=(3,)), Dense(2)],
        "Layer": [layers.Layer(input_shape=(3,)), Dense(2)],
        "MaxPool2D": [layers.MaxPool2D(3, strides=1, input_shape=image)],
        "MaxPooling2D": [MaxPooling2D((2, 3), padding="same", input_shape=image)],
        "RandomBrightness": [RandomBrightness(0.3, value_range=(0, 1), seed=1, input_shape=image)],
        "RandomContrast": [RandomContrast((0.1, 0.4), seed=2, input_shape=image)],
        "RandomCrop": [RandomCrop(4, 5, seed=3, input_shape=image)],
        "RandomFlip": [RandomFlip("vertical", seed=4, input_shape=image)],
        "RandomRotation": [RandomRotation(0.2, fill_mode="nearest", seed=5, input_shape=image)],
        "RandomTranslation": [RandomTranslation(0.1, (-0.2, 0.3), seed=6, input_shape=image)],
        "RandomZoom": [RandomZoom(0.2, (0.1, 0.3), interpolation="nearest", seed=7,
                                  input_shape=image)],
        "Reshape": [Reshape((9, 8), input_shape=image), Dense(2)],
        "UpSampling2D": [UpSampling2D((2, 3), interpolation="bilinear", input_shape=image)],
        # 1-D, 3-D and global pooling (issue 18)
        "Conv1D": [layers.Conv1D(3, 2, strides=2, padding="causal", activation="relu",
                                 bias_initializer="ones", input_shape=sequence)],
        "Convolution1D": [layers.Convolution1D(2, 3, padding="same", input_shape=sequence)],
        "Conv3D": [layers.Conv3D(2, (2, 1, 3), strides=(1, 2, 1), padding="same",
                                 activation="tanh", use_bias=False, input_shape=volume)],
        "Convolution3D": [layers.Convolution3D(2, 2, input_shape=volume)],
        "MaxPooling1D": [layers.MaxPooling1D(3, strides=2, padding="same",
                                             input_shape=sequence)],
        "MaxPool1D": [layers.MaxPool1D(input_shape=sequence)],
        "AveragePooling1D": [layers.AveragePooling1D(2, strides=1, input_shape=sequence)],
        "AvgPool1D": [layers.AvgPool1D(3, padding="same", input_shape=sequence)],
        "MaxPooling3D": [layers.MaxPooling3D((1, 2, 3), strides=(1, 1, 2), padding="same",
                                             input_shape=volume)],
        "MaxPool3D": [layers.MaxPool3D(input_shape=volume)],
        "AveragePooling3D": [layers.AveragePooling3D((2, 1, 2), padding="same",
                                                     input_shape=volume)],
        "AvgPool3D": [layers.AvgPool3D((1, 2, 2), strides=1, input_shape=volume)],
        "GlobalAveragePooling1D": [layers.GlobalAveragePooling1D(keepdims=True,
                                                                 input_shape=sequence)],
        "GlobalAvgPool1D": [layers.GlobalAvgPool1D(input_shape=sequence)],
        "GlobalAveragePooling2D": [layers.GlobalAveragePooling2D(input_shape=image)],
        "GlobalAvgPool2D": [layers.GlobalAvgPool2D(keepdims=True, input_shape=image)],
        "GlobalMaxPooling1D": [layers.GlobalMaxPooling1D(input_shape=sequence)],
        "GlobalMaxPool1D": [layers.GlobalMaxPool1D(keepdims=True, input_shape=sequence)],
        "GlobalMaxPooling2D": [layers.GlobalMaxPooling2D(keepdims=True, input_shape=image)],
        "GlobalMaxPool2D": [layers.GlobalMaxPool2D(input_shape=image)],
        "GlobalAveragePooling3D": [layers.GlobalAveragePooling3D(keepdims=True,
                                                                 input_shape=volume)],
        "GlobalAvgPool3D": [layers.GlobalAvgPool3D(input_shape=volume)],
        "GlobalMaxPooling3D": [layers.GlobalMaxPooling3D(input_shape=volume)],
        "GlobalMaxPool3D": [layers.GlobalMaxPool3D(keepdims=True, input_shape=volume)],
        "SimpleRNN": [layers.SimpleRNN(3, activation="relu", return_sequences=True,
                                       input_shape=(4, 2)), Flatten()],
        "LSTM": [layers.LSTM(3, recurrent_activation="hard_sigmoid", unit_forget_bias=False,
                             go_backwards=True, recurrent_dropout=0.2, input_shape=(4, 2))],
        "GRU": [layers.GRU(3, use_bias=False, recurrent_initializer="glorot_uniform",
                           dropout=0.1, seed=3, input_shape=(4, 2))],
    }


def sample_input(model):
    return RNG.uniform(0, 1, size=(5,) + tuple(model.input_shape[1:]))


def test_every_layer_type_is_covered():
    assert set(_every_layer_type()) == set(layers.__all__)


@pytest.mark.parametrize("kind", sorted(_every_layer_type()))
def test_every_layer_type_round_trips_through_json(kind):
    """to_json -> model_from_json gives the same description, and with the
    original's weights the same predictions (bit for bit); the rebuilt
    layers are new objects with freshly initialised weights."""
    model = Sequential(_every_layer_type()[kind])
    text = model.to_json()
    rebuilt = model_from_json(text)
    assert rebuilt.to_json() == text
    assert [type(l) for l in rebuilt.layers] == [type(l) for l in model.layers]
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    assert not any(a is b for a, b in zip(rebuilt.layers, model.layers))
    rebuilt.set_weights(model.get_weights())
    x = sample_input(model)
    np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))


@pytest.mark.parametrize("kind", ["Conv2D", "Dense", "BatchNormalization", "Input"])
def test_from_config_and_model_from_config_give_the_same_model(kind):
    model = Sequential(_every_layer_type()[kind])
    config = model.get_config()
    assert json.loads(json.dumps(config)) == config        # JSON-serialisable as it is
    for rebuilt in (Sequential.from_config(config),
                    model_from_config({"class_name": "Sequential", "config": config})):
        assert rebuilt.get_config() == config
        rebuilt.set_weights(model.get_weights())
        x = sample_input(model)
        np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))


def test_the_json_has_tf_keras_2s_layout():
    model = Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                        MaxPooling2D(), Flatten(), Dropout(0.5), Dense(10, activation="softmax")],
                       name="cnn")
    document = json.loads(model.to_json())
    assert set(document) == {"class_name", "config", "keras_version", "backend"}
    assert document["class_name"] == "Sequential"
    assert document["keras_version"] == fastnn.__version__ and document["backend"] == "fastnn"
    config = document["config"]
    assert config["name"] == "cnn" and config["build_input_shape"] == [None, 28, 28, 1]
    assert [spec["class_name"] for spec in config["layers"]] == \
        ["Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    conv = config["layers"][0]["config"]
    # Keras's argument names and JSON forms (tuples as lists, initializers as class + config)
    assert conv["name"] == "conv2d" and conv["filters"] == 32
    assert conv["kernel_size"] == [3, 3] and conv["strides"] == [1, 1]
    assert conv["padding"] == "valid" and conv["activation"] == "relu"
    assert conv["use_bias"] is True and conv["trainable"] is True
    assert conv["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert conv["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    assert conv["batch_input_shape"] == [None, 28, 28, 1]
    assert config["layers"][3]["config"]["rate"] == 0.5
    assert config["layers"][4]["config"]["units"] == 10


def test_to_json_passes_its_arguments_to_json_dumps():
    model = Sequential([Dense(1, input_shape=(1,))])
    assert model.to_json(indent=2) == json.dumps(json.loads(model.to_json()), indent=2)


def test_a_model_built_by_build_or_by_data_keeps_its_input_shape():
    """Without input_shape on the first layer the shape is the model's
    build_input_shape (tf.keras 2.x's key), and the rebuilt model is built."""
    built = Sequential([Dense(3), Dense(1)])
    built.build((None, 4))
    by_data = Sequential([Dense(3), Dense(1)])
    by_data.predict(np.zeros((2, 4)))
    for model in (built, by_data):
        config = model.get_config()
        assert config["build_input_shape"] == [None, 4]
        assert "batch_input_shape" not in config["layers"][0]["config"]
        rebuilt = Sequential.from_config(config)
        assert rebuilt.built and rebuilt.count_params() == model.count_params() == 4 * 3 + 3 + 4


def test_an_unbuilt_model_round_trips_unbuilt():
    model = Sequential([Dense(3), Dense(1)])
    assert "build_input_shape" not in model.get_config()
    rebuilt = model_from_json(model.to_json())
    assert not rebuilt.built and [l.name for l in rebuilt.layers] == ["dense", "dense_1"]


def test_the_saved_file_stores_the_same_config_and_reads_it_the_same_way(tmp_path):
    """One config path: model.save writes get_config(), load_model rebuilds
    from it exactly as from_config does."""
    model = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(2)])
    model.save(tmp_path / "m.fnn")
    with np.load(tmp_path / "m.fnn", allow_pickle=False) as archive:
        stored = json.loads(bytes(archive["model_config"]).decode("utf-8"))
    assert stored == model.get_config() and stored["build_input_shape"] == [None, 4]
    assert load_model(tmp_path / "m.fnn").get_config() == model.get_config()


def test_files_written_with_the_earlier_key_still_load(tmp_path):
    """Files saved before the rename stored the model's input shape as
    "batch_input_shape"; an Input-first model needs it to be built."""
    model = Sequential([Input(shape=(4,)), Dense(2)])
    config = model.get_config()
    config["batch_input_shape"] = config.pop("build_input_shape")
    rebuilt = Sequential.from_config(config)
    assert rebuilt.built and rebuilt.input_shape == (None, 4)


def test_clone_model_has_the_architecture_and_new_weights():
    """tf.keras 2.x clone_model: same layers and names, freshly initialised
    weights, not compiled."""
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 1)), Flatten(), Dense(3)])
    model.compile("adam", "mse")
    clone = clone_model(model)
    assert clone.get_config() == model.get_config()
    assert clone.optimizer is None
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
    kernels = clone.get_weights()[0], model.get_weights()[0]
    assert not np.array_equal(*kernels)
    clone.set_weights(model.get_weights())
    x = RNG.normal(size=(2, 6, 6, 1))
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_custom_objects_name_your_own_layers():
    class Doubling(layers.Layer):
        def call(self, x, training=False):
            return 2 * x

    model = Sequential([Doubling(input_shape=(3,), name="twice")])
    with pytest.raises(ValueError, match="unknown layer class 'Doubling'"):
        model_from_json(model.to_json())
    rebuilt = model_from_json(model.to_json(), custom_objects={"Doubling": Doubling})
    np.testing.assert_array_equal(rebuilt.predict(np.ones((1, 3))), np.full((1, 3), 2.0))


@pytest.mark.parametrize("text, message", [
    ("{not json", "not JSON"),
    ('{"class_name": "Functional", "config": {}}', "Sequential models only"),
    ('{"class_name": "Sequential", "config": {"name": "m"}}', "list 'layers'"),
    ('{"name": "m", "layers": []}', "Sequential.from_config"),
    ('{"class_name": "Sequential", "config": {"layers": [{"config": {}}]}}', "class_name"),
    ('{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda"}]}}',
     "unknown layer class 'Lambda'"),
])
def test_descriptions_that_are_not_models_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        model_from_json(text)


# The course's CNN as tf.keras 2.4 writes it (reconstructed from tf.keras 2.x's
# get_config code, not captured from a TensorFlow run: TensorFlow is not
# installed here).  Settings fastnn lacks appear with their switched-off value.
TF_KERAS_JSON = json.dumps({
    "class_name": "Sequential", "keras_version": "2.4.0", "backend": "tensorflow",
    "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {
            "batch_input_shape": [None, 28, 28, 1], "dtype": "float32", "sparse": False,
            "ragged": False, "name": "conv2d_input"}},
        {"class_name": "Conv2D", "config": {
            "name": "conv2d", "trainable": True, "batch_input_shape": [None, 28, 28, 1],
            "dtype": "float32", "filters": 32, "kernel_size": [3, 3], "strides": [1, 1],
            "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1],
            "groups": 1, "activation": "relu", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}},
        {"class_name": "MaxPooling2D", "config": {
            "name": "max_pooling2d", "trainable": True, "dtype": "float32", "pool_size": [2, 2],
            "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}},
        {"class_name": "Flatten", "config": {
            "name": "flatten", "trainable": True, "dtype": "float32",
            "data_format": "channels_last"}},
        {"class_name": "Dropout", "config": {
            "name": "dropout", "trainable": True, "dtype": "float32", "rate": 0.5,
            "noise_shape": None, "seed": None}},
        {"class_name": "Dense", "config": {
            "name": "dense", "trainable": True, "dtype": "float32", "units": 10,
            "activation": "softmax", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}}]}})


def test_json_written_by_tf_keras_2_reads():
    """Parameters: conv 3·3·1·32 + 32 = 320, dense 13·13·32·10 + 10 = 54,090."""
    model = model_from_json(TF_KERAS_JSON)
    assert [type(l).__name__ for l in model.layers] == \
        ["Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert model.output_shape == (None, 10)
    assert [l.count_params() for l in model.layers] == [320, 0, 0, 0, 54090]


def test_settings_fastnn_lacks_are_refused_when_switched_on():
    document = json.loads(TF_KERAS_JSON)
    document["config"]["layers"][1]["config"]["kernel_constraint"] = {
        "class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}}
    with pytest.raises(TypeError, match="Conv2D: unexpected keyword argument.*kernel_constraint"):
        model_from_json(json.dumps(document))
