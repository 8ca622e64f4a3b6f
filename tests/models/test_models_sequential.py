"""Sequential's structure: layers, building, weights, summary, compile (keras-reference §1, §8, §9)."""
import numpy as np
import pytest

from fastnn import backend as K
from fastnn import losses, metrics, optimizers
from fastnn.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input
from fastnn.models import Sequential


pytestmark = [pytest.mark.native, pytest.mark.usefixtures("fresh_session")]


def summary_of(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


# ---- building a model -------------------------------------------------------------------------


def test_from_a_list_and_with_add_give_the_same_model():
    listed = Sequential([Dense(4, input_shape=(3,), activation="relu"), Dense(2)])
    added = Sequential()
    added.add(Dense(4, input_shape=(3,), activation="relu"))
    added.add(Dense(2))
    assert listed.built and added.built
    assert [l.output_shape for l in listed.layers] == [l.output_shape for l in added.layers] \
        == [(None, 4), (None, 2)]
    assert listed.count_params() == added.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    added.set_weights(listed.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(listed.predict(x), added.predict(x))


def test_layers_is_a_copy():
    model = Sequential([Dense(2, input_shape=(3,))])
    model.layers.append(Dense(5))
    assert len(model.layers) == 1


def test_automatic_names_count_per_kind_across_models():
    first = Sequential([Dense(2, input_shape=(3,)), Dense(2)])
    second = Sequential([Conv2D(1, 3, input_shape=(5, 5, 1)), Flatten(), Dense(1, name="out"),
                         Dense(1)])
    assert first.name == "sequential" and second.name == "sequential_1"
    assert [l.name for l in first.layers] == ["dense", "dense_1"]
    # an explicit name takes no slot of the counter
    assert [l.name for l in second.layers] == ["conv2d", "flatten", "out", "dense_2"]
    K.clear_session()
    assert Sequential([Dense(1, input_shape=(1,))]).layers[0].name == "dense"


def test_input_first_builds_and_is_not_a_layer():
    model = Sequential([Input(shape=(3,)), Dense(4), Dense(2)])
    assert model.built and model.input_shape == (None, 3)
    assert [type(l).__name__ for l in model.layers] == ["Dense", "Dense"]
    assert all("input" not in line for line in summary_of(model))

    added = Sequential()
    added.add(Input(shape=(8, 8, 1)))
    added.add(Conv2D(2, 3))
    assert added.built and added.output_shape == (None, 6, 6, 2)


def test_input_only_first():
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="Input"):
        model.add(Input(shape=(2,)))
    with pytest.raises(ValueError, match="Input"):
        Sequential([Input(shape=(2,)), Input(shape=(2,))])


def test_add_rejects_non_layers():
    with pytest.raises(TypeError):
        Sequential().add("dense")


def test_duplicate_layer_names_are_rejected():
    with pytest.raises(ValueError, match="'hidden'.*unique"):
        Sequential([Dense(2, input_shape=(3,), name="hidden"), Dense(2, name="hidden")])
    model = Sequential([Dense(2, input_shape=(3,), name="hidden")])
    with pytest.raises(ValueError, match="hidden"):
        model.add(Dense(3, name="hidden"))
    assert len(model.layers) == 1


def test_the_same_layer_object_twice_is_rejected():
    layer = Dense(2, input_shape=(2,))
    model = Sequential([layer])
    with pytest.raises(ValueError):
        model.add(layer)


def test_pop_removes_the_last_layer_and_add_continues():
    model = Sequential([Dense(4, input_shape=(3,)), Dense(2)])
    model.pop()
    assert [l.name for l in model.layers] == ["dense"]
    assert model.output_shape == (None, 4)
    model.add(Dense(7))
    assert model.output_shape == (None, 7)
    assert model.count_params() == 3 * 4 + 4 + 4 * 7 + 7


def test_pop_on_an_empty_model_raises():
    with pytest.raises(TypeError, match="no layers"):
        Sequential().pop()
    model = Sequential([Dense(1, input_shape=(1,))])
    model.pop()
    with pytest.raises(TypeError):
        model.pop()


def test_build_is_deferred_without_input_shape():
    model = Sequential([Dense(4, activation="relu"), Dense(2)])
    assert not model.built
    assert model.layers[0].get_weights() == []
    with pytest.raises(ValueError, match="not yet been built"):
        model.summary()
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    model.compile("sgd", "mse")
    model.fit(np.zeros((6, 3)), np.zeros((6, 2)), verbose=0)
    assert model.built and model.input_shape == (None, 3)
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    assert summary_of(model)[4].startswith("dense (Dense)                (None, 4)")


def test_build_is_deferred_until_predict():
    model = Sequential([Conv2D(2, 3), Flatten(), Dense(1)])
    out = model.predict(np.zeros((2, 5, 5, 1)))
    assert out.shape == (2, 1) and model.input_shape == (None, 5, 5, 1)
    assert model.layers[2].get_weights()[0].shape == (3 * 3 * 2, 1)


def test_explicit_build():
    model = Sequential([Dense(3), Dense(1)])
    model.build((None, 4))
    assert model.built and model.count_params() == 4 * 3 + 3 + 3 + 1
    with pytest.raises(ValueError, match="input shape"):
        Sequential([Dense(3)]).build()


def test_summary_of_an_unbuilt_model_raises_value_error():
    with pytest.raises(ValueError):
        Sequential().summary()
    with pytest.raises(ValueError):
        Sequential([Dense(2)]).summary()


def test_summary_format_and_trainable_counts():
    model = Sequential([Dense(4, input_shape=(3,), name="a_rather_long_layer_name_here"),
                        BatchNormalization(), Dense(2)])
    lines = summary_of(model)
    assert lines[0] == 'Model: "sequential"'
    assert lines[1] == "_" * 65 and lines[3] == "=" * 65 and lines[-1] == "_" * 65
    assert lines[2] == "Layer (type)                 Output Shape              Param #   "
    # a name longer than the column is cut one character early, then padded
    assert lines[4] == "a_rather_long_layer_name_her (None, 4)                 16        "
    assert lines[6] == "batch_normalization (BatchNo (None, 4)                 16        "
    assert lines[-4:-1] == ["Total params: 42", "Trainable params: 34",
                            "Non-trainable params: 8"]


def test_summary_print_fn_and_stdout(capsys):
    model = Sequential([Dense(1000, input_shape=(1000,))])
    model.summary()
    out = capsys.readouterr().out.splitlines()
    assert out == summary_of(model)
    assert "1001000" in out[4] and "Total params: 1,001,000" in out


# ---- weights ------------------------------------------------------------------------------------


def test_get_weights_order_layer_by_layer_in_creation_order():
    model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), BatchNormalization(), Flatten(),
                        Dense(3)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 3, 1, 2), (2,),                     # conv kernel, bias
                      (2,), (2,), (2,), (2,),                 # gamma, beta, moving mean, variance
                      (18, 3), (3,)]                          # dense kernel, bias
    assert [v.name for v in model.weights] == ["kernel", "bias", "gamma", "beta", "moving_mean",
                                               "moving_variance", "kernel", "bias"]
    gamma, beta, mean, var = model.layers[1].get_weights()
    assert (gamma == 1).all() and (beta == 0).all() and (mean == 0).all() and (var == 1).all()


def test_get_weights_returns_copies():
    model = Sequential([Dense(2, input_shape=(2,))])
    weights = model.get_weights()
    weights[0][...] = 99
    assert not (model.get_weights()[0] == 99).any()


def test_set_weights_round_trip_and_errors():
    model = Sequential([Dense(3, input_shape=(2,)), Dense(1)])
    new = [np.full(w.shape, i, np.float32) for i, w in enumerate(model.get_weights())]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    assert all(w.dtype == np.float32 for w in model.get_weights())

    with pytest.raises(ValueError, match="4 weight arrays, got 3"):
        model.set_weights(new[:3])
    with pytest.raises(ValueError, match="4 weight arrays, got 5"):
        model.set_weights(new + [new[0]])
    bad = list(new)
    bad[2] = np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"dense_1.*\(3, 1\).*\(4, 1\)"):
        model.set_weights(bad)
    # nothing was half-loaded by the failed call
    np.testing.assert_array_equal(model.get_weights()[2], new[2])


def test_count_params_includes_non_trainable():
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization(), Dropout(0.5),
                        Activation("relu"), Dense(1)])
    assert [l.count_params() for l in model.layers] == [16, 16, 0, 0, 5]
    assert model.count_params() == 37
    assert sum(v.value.size for v in model.trainable_weights) == 29
    assert sum(v.value.size for v in model.non_trainable_weights) == 8


def test_freezing_a_layer_moves_its_weights_to_non_trainable():
    model = Sequential([Dense(4, input_shape=(3,)), Dense(1)])
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    assert summary_of(model)[-3] == "Trainable params: 5"
    assert summary_of(model)[-2] == "Non-trainable params: 16"


# ---- compile ------------------------------------------------------------------------------------


def test_compile_with_strings():
    model = Sequential([Dense(2, input_shape=(3,), activation="softmax")])
    model.compile(optimizer="Adam", loss="categorical_crossentropy", metrics=["accuracy", "mae"])
    assert isinstance(model.optimizer, optimizers.Adam)
    assert isinstance(model.loss, losses.CategoricalCrossentropy)
    assert [m.name for m in model.metrics] == ["accuracy", "mae"]


def test_compile_with_objects_keeps_them():
    model = Sequential([Dense(2, input_shape=(3,))])
    opt, loss, metric = optimizers.SGD(learning_rate=0.5), losses.MeanSquaredError(), \
        metrics.MeanAbsoluteError()
    model.compile(optimizer=opt, loss=loss, metrics=[metric])
    assert model.optimizer is opt and model.loss is loss and model.metrics == [metric]


def test_compile_default_optimizer_is_rmsprop():
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(loss="mse")
    assert isinstance(model.optimizer, optimizers.RMSprop)


def test_compile_needs_a_loss_and_known_arguments():
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="loss"):
        model.compile("sgd")
    with pytest.raises(TypeError, match="run_eagerly"):
        model.compile("sgd", "mse", run_eagerly=True)


@pytest.mark.parametrize("kwargs,listed", [
    ({"optimizer": "adamm", "loss": "mse"}, ["sgd", "adam", "rmsprop"]),
    ({"optimizer": "sgd", "loss": "mean_square_error"}, ["mean_squared_error", "mse",
                                                         "binary_crossentropy"]),
    ({"optimizer": "sgd", "loss": "mse", "metrics": ["acuracy"]}, ["accuracy", "mae"]),
])
def test_unknown_names_raise_value_error_listing_the_valid_ones(kwargs, listed):
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError) as info:
        model.compile(**kwargs)
    for name in listed:
        assert name in str(info.value)


def test_fit_before_compile_raises():
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)
    with pytest.raises(RuntimeError, match="compile"):
        model.evaluate(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)
    assert model.predict(np.zeros((2, 3))).shape == (2, 2)     # predict needs no compile


# ---- which accuracy "accuracy" is (§8) ------------------------------------------------------------

@pytest.mark.parametrize("units,activation,loss,kind", [
    (1, "sigmoid", "binary_crossentropy", "BinaryAccuracy"),
    (1, "sigmoid", "mse", "BinaryAccuracy"),                      # one output unit
    (3, "sigmoid", "binary_crossentropy", "BinaryAccuracy"),      # binary crossentropy
    (3, "softmax", "sparse_categorical_crossentropy", "SparseCategoricalAccuracy"),
    (3, "softmax", "categorical_crossentropy", "CategoricalAccuracy"),
    (3, None, "mse", "CategoricalAccuracy"),
])
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_resolution(units, activation, loss, kind, name):
    model = Sequential([Dense(units, input_shape=(2,), activation=activation)])
    model.compile("sgd", loss, metrics=[name])
    assert type(model.metrics[0]).__name__ == kind
    assert model.metrics[0].name == name


def test_accuracy_resolution_waits_for_a_deferred_build():
    """compile before the model knows its output shape: one sigmoid unit still means
    binary accuracy once fit builds the model (was categorical: argmax of one column is
    always 0, so "accuracy" was 1.0 whatever the predictions)."""
    model = Sequential([Dense(1, activation="sigmoid")])
    model.compile("sgd", "mse", metrics=["accuracy"])
    x = np.ones((4, 2), np.float32)
    model.build((None, 2))
    model.set_weights([np.full((2, 1), 5, np.float32), np.zeros(1, np.float32)])   # p ≈ 1
    history = model.fit(x, np.array([0, 0, 0, 1]), epochs=1, verbose=0)
    assert type(model.metrics[0]).__name__ == "BinaryAccuracy"
    assert history.history["accuracy"] == [0.25]

    fresh = Sequential([Dense(1, activation="sigmoid")])
    fresh.compile("sgd", "mse", metrics=["acc"])
    fresh.fit(x, np.zeros(4), epochs=1, verbose=0)
    assert type(fresh.metrics[0]).__name__ == "BinaryAccuracy" and fresh.metrics[0].name == "acc"


@pytest.mark.parametrize("name", ["accuracy", "acc", "binary_accuracy", "mae", "mse"])
def test_the_log_key_is_the_string_given(name):
    model = Sequential([Dense(2, input_shape=(2,), activation="softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=[name])
    history = model.fit(np.zeros((4, 2)), np.eye(2)[[0, 1, 0, 1]], epochs=1, verbose=0,
                        validation_split=0.5)
    assert list(history.history) == ["loss", name, "val_loss", f"val_{name}"]


def test_accuracy_values_per_kind():
    x = np.eye(3, dtype=np.float32)
    # identity weights: the prediction for sample i is class i
    for loss, y in [("categorical_crossentropy", np.eye(3)[[0, 1, 1]]),
                    ("sparse_categorical_crossentropy", np.array([0, 1, 1]))]:
        model = Sequential([Dense(3, input_shape=(3,), activation="softmax")])
        model.set_weights([np.eye(3, dtype=np.float32) * 5, np.zeros(3, np.float32)])
        model.compile("sgd", loss, metrics=["accuracy"])
        assert model.evaluate(x, y, verbose=0)[1] == pytest.approx(2 / 3)
    model = Sequential([Dense(1, input_shape=(3,), activation="sigmoid")])
    model.set_weights([np.array([[5], [-5], [5]], np.float32), np.zeros(1, np.float32)])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    # p > 0.5 for samples 0 and 2
    assert model.evaluate(x, np.array([1, 0, 0]), verbose=0)[1] == pytest.approx(2 / 3)
