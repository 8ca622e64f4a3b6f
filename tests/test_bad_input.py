"""Every mistake a learner can make with their data or arguments gets a clear answer.

Issue 6, "Bad input": each case below feeds one bad input through the public
API (Sequential fit/evaluate/predict/set_weights/compile, layers, the
kernels in ``fastnn.kernels``, ``fastnn.utils.to_categorical``) and checks
the exception type *and* that the message names what was wrong and what was
expected.  Inputs fastnn handles (other memory layouts, other dtypes) must
give exactly the numbers of the same data as contiguous float32.
docs/reliability.md lists every case with the test that tries it.
"""
import re
import warnings

import numpy as np
import pytest

from fastnn import kernels
from fastnn.kernels import reference
from fastnn.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D,
                           Conv2DTranspose, Dense, Dropout, Flatten, Input, MaxPooling2D,
                           RandomCrop, Reshape, UpSampling2D)
from fastnn.models import Sequential
from fastnn.models import data
from fastnn.optimizers import SGD
from fastnn.utils import set_random_seed, to_categorical

pytestmark = pytest.mark.native

RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 3)).astype(np.float32)          # 12 samples, 3 features
Y = np.arange(12) % 2                                    # sparse labels for 2 classes
IMAGES = RNG.normal(size=(4, 6, 6, 1)).astype(np.float32)


def mlp(loss="sparse_categorical_crossentropy"):
    """3 features -> 2 classes, compiled; layers named so messages can be matched."""
    model = Sequential([Dense(4, input_shape=(3,), activation="relu", name="hidden"),
                        Dense(2, activation="softmax", name="out")])
    model.compile(SGD(0.1), loss, metrics=["accuracy"])
    return model


def cnn():
    model = Sequential([Conv2D(2, 3, input_shape=(6, 6, 1), name="conv"), Flatten(),
                        Dense(2, activation="softmax", name="out")])
    model.compile(SGD(0.1), "sparse_categorical_crossentropy")
    return model


def raises(exception, *words):
    """pytest.raises(exception) whose message contains every one of ``words`` literally."""
    return pytest.raises(exception, match="(?s)" + "".join(f"(?=.*{re.escape(w)})" for w in words))


def run(method, model, x, y=None, **kwargs):
    """model.fit / evaluate / predict on (x, y), quietly."""
    if method == "predict":
        return model.predict(x, **kwargs)
    return getattr(model, method)(x, y, verbose=0, **kwargs)


# ---- wrong shapes at fit / evaluate / predict / set_weights ------------------------------------

X_SHAPES = [  # (model, x, what the message shows as received, as expected)
    ("mlp", np.zeros((12, 4)), "(12, 4)", "(samples, 3)"),
    ("mlp", np.zeros((12, 3, 1)), "(12, 3, 1)", "(samples, 3)"),
    ("mlp", np.zeros(3), "(3,)", "(samples, 3)"),
    ("mlp", 1.0, "()", "(samples, 3)"),
    ("cnn", np.zeros((12, 6, 6)), "(12, 6, 6)", "(samples, 6, 6, 1)"),
    ("cnn", np.zeros((12, 5, 5, 1)), "(12, 5, 5, 1)", "(samples, 6, 6, 1)"),
    ("cnn", np.zeros((12, 6, 6, 3)), "(12, 6, 6, 3)", "(samples, 6, 6, 1)"),
]


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("kind,x,received,expected", X_SHAPES,
                         ids=[f"{k}-{r}" for k, _, r, _ in X_SHAPES])
def test_x_of_wrong_shape_names_the_first_layer_and_both_shapes(method, kind, x, received,
                                                                 expected):
    model = mlp() if kind == "mlp" else cnn()
    first = model.layers[0].name
    with raises(ValueError, f"x has shape {received}", f"first layer {first!r}", expected):
        run(method, model, x, np.zeros(12))


def test_validation_x_of_wrong_shape_is_named_as_validation_data():
    with raises(ValueError, "validation x has shape (3, 4)", "'hidden'", "(samples, 3)"):
        mlp().fit(X, Y, validation_data=(np.zeros((3, 4)), Y[:3]), verbose=0)


def test_calling_a_model_on_x_of_wrong_shape():
    with raises(ValueError, "x has shape (2, 5)", "'hidden'", "(samples, 3)"):
        mlp()(np.zeros((2, 5)))


def test_input_sizes_left_open_take_any_image_and_still_check_channels():
    """Input(shape=(None, None, 1)): any height and width are handled (the
    numbers are those of the kernels), a wrong channel count is not."""
    model = Sequential([Input(shape=(None, None, 1)), Conv2D(2, 3, padding="same", name="conv"),
                        MaxPooling2D()])
    kernel, bias = model.get_weights()
    for x in (IMAGES, RNG.normal(size=(1, 10, 8, 1))):
        np.testing.assert_array_equal(
            model.predict(x), kernels.max_pool2d(kernels.conv2d(x, kernel, bias, padding="same")))
    with raises(ValueError, "x has shape (1, 10, 8, 2)", "'conv'", "(samples, None, None, 1)"):
        model.predict(np.zeros((1, 10, 8, 2)))


Y_SHAPES = [  # (loss, y, what the message says was expected)
    ("sparse_categorical_crossentropy", np.eye(2)[Y], "expected (12,) or (12, 1)"),
    ("sparse_categorical_crossentropy", np.zeros((12, 3)), "expected (12,) or (12, 1)"),
    ("categorical_crossentropy", np.eye(3)[Y], "y_pred of shape (12, 2)"),
    ("mse", np.zeros((12, 5)), "y_pred of shape (12, 2)"),
    ("mse", np.zeros((12, 2, 2)), "y_pred of shape (12, 2)"),
]


@pytest.mark.parametrize("method", ["fit", "evaluate"])
@pytest.mark.parametrize("loss,y,expected", Y_SHAPES,
                         ids=[f"{loss}-{y.shape}" for loss, y, _ in Y_SHAPES])
def test_y_of_wrong_shape_names_the_last_layer_and_both_shapes(method, loss, y, expected):
    model = mlp(loss)
    before = model.get_weights()
    with raises(ValueError, f"y (shape {y.shape})", "last layer 'out'",
                "output shape (None, 2)", expected):
        run(method, model, X, y)
    for old, new in zip(before, model.get_weights()):   # refused before the first step
        np.testing.assert_array_equal(old, new)


def test_validation_y_of_wrong_shape():
    with raises(ValueError, "validation y (shape (12, 3))", "last layer 'out'"):
        mlp("mse").fit(X, np.zeros((12, 2)), validation_data=(X, np.zeros((12, 3))), verbose=0)


def good_weights(model):
    return [np.full(w.shape, 0.5, np.float32) for w in model.get_weights()]


@pytest.mark.parametrize("index,shape,layer,weight", [
    (0, (4, 4), "hidden", "kernel"), (1, (3,), "hidden", "bias"),
    (2, (2, 4), "out", "kernel"), (3, (2, 1), "out", "bias")])
def test_set_weights_of_wrong_shape_names_layer_weight_and_both_shapes(index, shape, layer,
                                                                        weight):
    model = mlp()
    before = model.get_weights()
    weights = good_weights(model)
    expected = weights[index].shape
    weights[index] = np.zeros(shape)
    with raises(ValueError, f"layer {layer!r}", f"weight {weight!r}", f"has shape {expected}",
                f"got an array of shape {shape}"):
        model.set_weights(weights)
    for old, new in zip(before, model.get_weights()):   # all or nothing: no layer was changed
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("count", [0, 3, 5])
def test_set_weights_with_the_wrong_number_of_arrays(count):
    model = mlp()
    with raises(ValueError, f"model {model.name!r} has 4 weight arrays", f"got {count}"):
        model.set_weights(good_weights(model)[:count] + [np.zeros(2)] * (count - 4))


def test_layer_set_weights_with_the_wrong_number_of_arrays():
    layer = mlp().layers[1]
    with raises(ValueError, "layer 'out' expects 2 weight arrays, got 1"):
        layer.set_weights([np.zeros((4, 2))])


@pytest.mark.parametrize("target", ["layer", "model"])
def test_set_weights_before_the_weights_exist(target):
    model = Sequential([Dense(2, name="lonely")])
    owner, name = (model.layers[0], "layer 'lonely'") if target == "layer" else (model, "model")
    with raises(ValueError, name, "not built yet", "input_shape="):
        owner.set_weights([np.zeros((3, 2)), np.zeros(2)])


@pytest.mark.parametrize("kind,value", [
    ("object", np.array([[None] * 4] * 3, dtype=object)),
    ("string", np.full((3, 4), "0.5")),
    ("ragged", [[0.5] * 4, [0.5] * 4, [0.5] * 3]),
])
def test_set_weights_with_arrays_that_are_not_numbers(kind, value):
    model = mlp()
    before = model.get_weights()
    weights = good_weights(model)
    weights[0] = value
    expected = "rectangular array" if kind == "ragged" else "must hold real numbers"
    with raises(ValueError, "layer 'hidden'", "weight 'kernel'", expected):
        model.set_weights(weights)
    np.testing.assert_array_equal(model.get_weights()[0], before[0])


# ---- object, string and ragged arrays -----------------------------------------------------------

NOT_NUMBERS = [
    ("object", np.array([[None, 1.0, 2.0]] * 12, dtype=object), "must hold real numbers, got dtype object"),
    ("object of numbers", np.ones((12, 3), dtype=object), "must hold real numbers, got dtype object"),
    ("string", np.full((12, 3), "1"), "must hold real numbers, got dtype <U1"),
    ("bytes", np.full((12, 3), b"1"), "must hold real numbers, got dtype |S1"),
    ("complex", np.ones((12, 3), np.complex64), "must hold real numbers, got dtype complex64"),
    ("ragged", [[1.0, 2.0, 3.0]] * 11 + [[1.0, 2.0]], "must be a rectangular array of numbers"),
    ("None", None, "must hold real numbers, got dtype object"),
    ("dict", {"a": 1}, "must hold real numbers, got dtype object"),
]


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("kind,x,message", NOT_NUMBERS, ids=[k for k, _, _ in NOT_NUMBERS])
def test_x_that_is_not_an_array_of_numbers(method, kind, x, message):
    with raises(ValueError, f"x {message}"):
        run(method, mlp(), x, Y)


@pytest.mark.parametrize("method", ["fit", "evaluate"])
@pytest.mark.parametrize("kind,y,message", [
    ("string", np.array(["cat", "dog"] * 6), "must hold real numbers, got dtype <U3"),
    ("object", np.array([0, None] * 6, dtype=object), "must hold real numbers, got dtype object"),
    ("ragged", [[0]] * 11 + [[0, 1]], "must be a rectangular array of numbers"),
], ids=["string", "object", "ragged"])
def test_y_that_is_not_an_array_of_numbers(method, kind, y, message):
    with raises(ValueError, f"y {message}"):
        run(method, mlp(), X, y)


@pytest.mark.parametrize("argument", ["sample_weight", "validation_data"])
def test_other_fit_arrays_that_are_not_numbers(argument):
    bad = np.array(["1"] * 12)
    kwargs = ({"sample_weight": bad} if argument == "sample_weight"
              else {"validation_data": (X, bad)})
    name = "sample_weight" if argument == "sample_weight" else "validation y"
    with raises(ValueError, f"{name} must hold real numbers"):
        mlp().fit(X, Y, verbose=0, **kwargs)


def test_calling_a_layer_on_strings():
    with raises(ValueError, "layer 'd'", "x must hold real numbers"):
        Dense(2, name="d")(np.array([["1", "2"]]))


@pytest.mark.parametrize("layer, built_for, x_shape", [
    (Dense(2, name="d"), (4, 3), (4, 5)),
    (Conv2D(2, 3, name="c"), (1, 6, 6, 3), (1, 6, 6, 1)),
])
def test_a_built_layer_called_on_another_input_size_names_itself(layer, built_for, x_shape):
    layer(np.ones(built_for, np.float32))
    size = built_for[-1]
    with raises(ValueError, f"layer '{layer.name}' ({type(layer).__name__})",
                f"built for inputs with {size} values on the last axis",
                f"shape {x_shape}"):
        layer(np.ones(x_shape, np.float32))
    assert layer(np.ones(built_for, np.float32)).shape[-1] == 2   # still usable


# ---- NaN and inf in the data --------------------------------------------------------------------

def with_bad(array, index, value):
    array = np.array(array, np.float64)
    array[index] = value
    return array


NONFINITE = [  # (method, where, bad value, the index the message names)
    (method, where, value, index)
    for where, value, index in [("x", np.nan, (3, 1)), ("x", np.inf, (7, 0)),
                                ("x", -np.inf, (11, 2)), ("y", np.nan, 5),
                                ("sample_weight", np.inf, 2)]
    for method in ["fit", "evaluate", "predict"]
    if method != "predict" or where == "x"
]


@pytest.mark.parametrize("method,where,value,index", NONFINITE,
                         ids=[f"{m}-{w}-{v}" for m, w, v, _ in NONFINITE])
def test_nonfinite_data_is_refused_naming_the_array_and_the_first_bad_index(method, where,
                                                                            value, index):
    arrays = {"x": X, "y": Y, "sample_weight": np.ones(12)}
    arrays[where] = with_bad(arrays[where], index, value)
    kwargs = {} if method == "predict" else {"sample_weight": arrays["sample_weight"]}
    shown = index if isinstance(index, int) else str(index)
    with raises(ValueError, f"{where} holds a non-finite value ({value})",
                f"at index {shown}", "set_nonfinite_policy"):
        run(method, mlp(), arrays["x"], arrays["y"], **kwargs)


@pytest.mark.parametrize("part", [0, 1])
def test_nonfinite_validation_data_is_refused(part):
    validation = [X, Y]
    validation[part] = with_bad(validation[part], (4, 1) if part == 0 else 4, np.nan)
    name = ["validation x", "validation y"][part]
    with raises(ValueError, f"{name} holds a non-finite value (nan)"):
        mlp().fit(X, Y, validation_data=tuple(validation), verbose=0)


@pytest.fixture
def nonfinite_policy():
    """Set the policy inside a test; the default ("raise") comes back afterwards."""
    previous = data.set_nonfinite_policy("raise")
    yield data.set_nonfinite_policy
    data.set_nonfinite_policy(previous)


def test_policy_warn_warns_once_per_array_and_trains_on(nonfinite_policy):
    nonfinite_policy("warn")
    with pytest.warns(RuntimeWarning, match=re.escape("x holds a non-finite value (nan) at index (3, 1)")) as caught:
        history = mlp().fit(with_bad(X, (3, 1), np.nan), Y, epochs=2, batch_size=4, verbose=0)
    assert len([w for w in caught if "non-finite" in str(w.message)]) == 1
    assert np.isnan(history.history["loss"]).all()      # the NaN reached the loss, as warned


def test_policy_ignore_skips_the_check_and_predict_propagates_nan(nonfinite_policy):
    nonfinite_policy("ignore")
    x = with_bad(X, (3, 1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # not even a warning
        y = mlp().predict(x)
    assert np.isnan(y[3]).all() and np.isfinite(np.delete(y, 3, axis=0)).all()


@pytest.mark.parametrize("policy", ["error", None, "WARN", True])
def test_unknown_nonfinite_policy(policy, nonfinite_policy):
    with raises(ValueError, "policy must be one of 'raise', 'warn', 'ignore'", repr(policy)):
        nonfinite_policy(policy)


def test_the_nonfinite_check_runs_once_per_array_not_per_batch(monkeypatch):
    checked = []
    original = data.check_finite
    monkeypatch.setattr(data, "check_finite", lambda a, what: (checked.append(what),
                                                                original(a, what)))
    mlp().fit(X, Y, epochs=3, batch_size=2, validation_data=(X, Y), verbose=0)
    assert sorted(checked) == ["validation x", "validation y", "x", "y"]


# ---- labels out of range for sparse crossentropy --------------------------------------------------

@pytest.mark.parametrize("method", ["fit", "evaluate"])
@pytest.mark.parametrize("bad", [2, 7, -1, 0.5])
def test_sparse_labels_out_of_range_are_refused_before_any_step(method, bad):
    model = mlp()
    before = model.get_weights()
    y = with_bad(Y, 11, bad)            # only the very last label is wrong
    with raises(ValueError, "labels must be integers in 0..1", "the model has 2 outputs",
                f"got {bad:g}", "last layer 'out'"):
        run(method, model, X, y, batch_size=2)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_sparse_validation_labels_out_of_range():
    with raises(ValueError, "validation y", "labels must be integers in 0..1", "got 2"):
        mlp().fit(X, Y, validation_data=(X, Y + 2), verbose=0)


@pytest.mark.parametrize("labels,num_classes,message", [
    ([0, -1], None, "labels must be in 0..0 for num_classes=1, got -1"),
    ([0, 3], 3, "labels must be in 0..2 for num_classes=3, got 3"),
    ([0.5, 1], None, "labels must be whole numbers (class indices), got 0.5"),
    ([np.nan, 1], None, "labels must be whole numbers (class indices), got nan"),
    ([np.inf, 1], 3, "labels must be whole numbers (class indices), got inf"),
    (["cat", "dog"], None, "y must hold real numbers"),
    ([1, 2], 0, "num_classes must be a positive int, got 0"),
])
def test_to_categorical_refuses_labels_it_cannot_encode(labels, num_classes, message):
    with raises(ValueError, "to_categorical", message):
        to_categorical(labels, num_classes)


def test_to_categorical_takes_whole_floats_as_labels():
    np.testing.assert_array_equal(to_categorical(np.array([2.0, 0.0])), to_categorical([2, 0]))


# ---- y (or weights) of a different length than x ----------------------------------------------------

LENGTHS = [
    ("fit", {"y": Y[:5]}, "x has 12 samples but y has 5"),
    ("evaluate", {"y": Y[:13].tolist() + [0]}, "x has 12 samples but y has 13"),
    ("fit", {"y": 1}, "x has 12 samples but y has a single number"),
    ("fit", {"sample_weight": np.ones(4)}, "x has 12 samples but sample_weight has 4"),
    ("evaluate", {"sample_weight": np.ones(20)}, "x has 12 samples but sample_weight has 20"),
    ("fit", {"validation_data": (X, Y[:3])}, "validation x has 12 samples but validation y has 3"),
    ("fit", {"validation_data": (X, Y, np.ones(2))},
     "validation x has 12 samples but validation sample_weight has 2"),
]


@pytest.mark.parametrize("method,arrays,message", LENGTHS,
                         ids=[m for _, _, m in LENGTHS])
def test_arrays_of_different_lengths(method, arrays, message):
    arrays = {"y": Y, **arrays}
    y = arrays.pop("y")
    with raises(ValueError, message, "one"):
        run(method, mlp(), X, y, **arrays)


# ---- empty data ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_empty_data_cannot_be_trained_on_or_evaluated(method):
    with raises(ValueError, "x and y are empty", "nothing to train on or evaluate"):
        run(method, mlp(), np.zeros((0, 3)), np.zeros(0))


def test_empty_validation_data():
    with raises(ValueError, "validation_data is empty"):
        mlp().fit(X, Y, validation_data=(X[:0], Y[:0]), verbose=0)


@pytest.mark.parametrize("fraction", [0.95, 1e-17])   # 0 training / 0 validation samples
def test_validation_split_that_leaves_an_empty_part(fraction):
    with raises(ValueError, f"validation_split={fraction} of 12 samples",
                "empty training or validation set"):
        mlp().fit(X, Y, validation_split=fraction, verbose=0)


def test_predict_on_no_samples_is_handled_with_an_empty_result():
    y = mlp().predict(np.zeros((0, 3)))
    assert y.shape == (0, 2) and y.dtype == np.float32


OPEN_SIZE_MODELS = {  # name: the layers of a model whose input leaves image sizes open (None)
    "conv": lambda: [Input(shape=(None, None, 1)), Conv2D(4, 3)],
    "strided-conv-pools": lambda: [Input(shape=(None, None, 2)),
                                   Conv2D(3, 3, strides=2, padding="same"),
                                   MaxPooling2D(3, strides=2), AveragePooling2D(2, padding="same")],
    "conv-flatten": lambda: [Input(shape=(None, None, 1)), Conv2D(2, 3), Flatten()],
    "conv-rows-dense": lambda: [Input(shape=(None, None, 1)), Conv2D(4, 3, activation="relu"),
                                Reshape((-1, 4)), Dense(3, activation="softmax")],
    "pixelwise-dense-norm-dropout": lambda: [Input(shape=(None, None, 3)), Dense(5),
                                             BatchNormalization(), Dropout(0.5),
                                             Activation("tanh")],
    "upsampling-transposed-convs": lambda: [Input(shape=(None, None, 1)), UpSampling2D((2, 3)),
                                            Conv2DTranspose(2, 3, strides=2),
                                            Conv2DTranspose(3, 2, strides=(1, 2),
                                                            padding="same")],
    "open-height-only": lambda: [Input(shape=(None, 7, 1)), Conv2D(2, (3, 2), strides=(2, 1)),
                                 MaxPooling2D((1, 2))],
    "crop-to-fixed-size-flatten-dense": lambda: [Input(shape=(None, None, 1)), RandomCrop(4, 4),
                                                 Flatten(), Dense(3)],
}


@pytest.mark.parametrize("size", [(5, 5), (9, 12)])
@pytest.mark.parametrize("layers", OPEN_SIZE_MODELS.values(), ids=OPEN_SIZE_MODELS.keys())
def test_predict_on_no_samples_of_an_open_size_has_the_shape_of_that_size(layers, size):
    """The empty result has the shape a non-empty batch of the same images gets:
    computed from this x's image size, not from the model's sizes left open."""
    model = Sequential(layers())
    sample = tuple(n if n is not None else size[i]
                   for i, n in enumerate(model.input_shape[1:3])) + model.input_shape[3:]
    full = model.predict(RNG.normal(size=(2,) + sample))
    for empty in (model.predict(np.zeros((0,) + sample)), model(np.zeros((0,) + sample))):
        assert empty.shape == (0,) + full.shape[1:] and empty.dtype == np.float32


def test_predict_on_no_samples_of_the_issue():
    model = Sequential([Input(shape=(None, None, 1)), Conv2D(4, 3)])
    y = model.predict(np.zeros((0, 5, 5, 1), np.float32))
    assert y.shape == (0, 3, 3, 4) and y.dtype == np.float32


def test_an_image_size_a_model_cannot_take_is_refused_for_empty_and_full_batches():
    """A fixed-size Reshape after an open size builds the Dense for one size
    (5x5 images: 3*3*4 = 36 values); a 6x6 image gives 4*4*4 = 64."""
    model = Sequential([Input(shape=(None, None, 1)), Conv2D(4, 3), Reshape((36,), name="rows"),
                        Dense(2)])
    assert model.predict(np.zeros((0, 5, 5, 1))).shape == (0, 2)
    for samples in (0, 2):
        with raises(ValueError, "layer 'rows'", f"shape ({samples}, 4, 4, 4)", "to (36,)"):
            model.predict(np.zeros((samples, 6, 6, 1)))


def test_a_dense_after_flattening_open_sizes_is_refused_when_the_model_is_built():
    """Flatten of images of any size has a length known only from the data,
    so the Dense after it cannot size its kernel."""
    with raises(ValueError, "layer 'out' (Dense)", "(None, None)", "Flatten", "fixed size",
                "RandomCrop"):
        Sequential([Input(shape=(None, None, 1)), Conv2D(2, 3), Flatten(), Dense(2, name="out")])


def test_a_sample_with_an_empty_axis_cannot_build_a_model():
    model = Sequential([Dense(2)])
    model.compile("sgd", "mse")
    with raises(ValueError, "shape of one sample of x", "positive ints", "(0,)"):
        model.fit(np.zeros((5, 0)), np.zeros((5, 2)), verbose=0)


def test_a_model_without_layers():
    model = Sequential(name="nothing")
    with raises(ValueError, "model 'nothing' has no layers", "model.add"):
        model.predict(X)


# ---- batch_size, epochs, validation_split, class_weight ------------------------------------------------

@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "8", True])
def test_batch_size_must_be_a_positive_int(method, batch_size):
    with raises(ValueError, "batch_size must be a positive int", f"got {batch_size!r}"):
        run(method, mlp(), X, Y, batch_size=batch_size)


@pytest.mark.parametrize("argument,value", [
    ("epochs", -1), ("epochs", 1.5), ("epochs", "2"), ("initial_epoch", -1)])
def test_epochs_must_be_a_whole_number(argument, value):
    with raises(ValueError, f"{argument} must be an int >= 0", f"got {value!r}"):
        mlp().fit(X, Y, verbose=0, **{argument: value})


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, float("nan"), "0.2", True])
def test_validation_split_outside_0_to_1(fraction):
    with raises(ValueError, "validation_split must be a number in [0, 1)", f"got {fraction!r}"):
        mlp().fit(X, Y, validation_split=fraction, verbose=0)


def test_class_weight_must_be_a_dict():
    with raises(TypeError, "class_weight must be a dict {class index: weight}", "got list"):
        mlp().fit(X, Y, class_weight=[1.0, 2.0], verbose=0)


# ---- unknown names: the message lists the valid ones ------------------------------------------------

UNKNOWN_NAMES = [
    ("activation", lambda: Dense(2, activation="relux"),
     ["Unknown activation 'relux'", "Valid names:", "relu", "sigmoid", "softmax", "tanh"]),
    ("activation layer", lambda: Activation("sigmoidal"),
     ["Unknown activation 'sigmoidal'", "Valid names:", "sigmoid"]),
    ("loss", lambda: mlp().compile("sgd", "mean_square_error"),
     ["Unknown loss 'mean_square_error'", "Valid names:", "mean_squared_error", "mse",
      "sparse_categorical_crossentropy"]),
    ("optimizer", lambda: mlp().compile("adamw", "mse"),
     ["unknown optimizer 'adamw'", "valid names:", "sgd", "adam", "rmsprop"]),
    ("optimizer of the wrong kind", lambda: mlp().compile(0.01, "mse"),
     ["cannot interpret 0.01 as an optimizer", "sgd", "adam"]),
    ("kernel initializer", lambda: Dense(2, kernel_initializer="xavier"),
     ["Unknown initializer 'xavier'", "Valid names:", "glorot_uniform", "he_normal"]),
    ("bias initializer", lambda: Conv2D(2, 3, bias_initializer="zeroes"),
     ["Unknown initializer 'zeroes'", "zeros"]),
    ("metric", lambda: mlp().compile("sgd", "mse", metrics=["acuracy"]),
     ["Unknown metric 'acuracy'", "Valid names:", "accuracy"]),
    ("regularizer", lambda: Dense(2, kernel_regularizer="l3"),
     ["Unknown regularizer 'l3'", "l1", "l2"]),
    ("Conv2D padding", lambda: Conv2D(2, 3, padding="full"),
     ["Conv2D: padding must be one of 'valid', 'same'", "'full'"]),
    ("MaxPooling2D padding", lambda: MaxPooling2D(padding="causal"),
     ["MaxPooling2D: padding must be one of 'valid', 'same'", "'causal'"]),
    ("AveragePooling2D padding", lambda: AveragePooling2D(padding=0),
     ["AveragePooling2D: padding must be one of 'valid', 'same'", "0"]),
    ("conv2d kernel padding", lambda: kernels.conv2d(IMAGES, np.ones((3, 3, 1, 1)), padding="zero"),
     ["conv2d: padding must be one of 'valid', 'same'", "'zero'"]),
    ("max_pool2d kernel padding", lambda: kernels.max_pool2d(IMAGES, padding="SAME!"),
     ["max_pool2d: padding must be one of 'valid', 'same'", "'SAME!'"]),
    ("kernel impl", lambda: kernels.matmul(X, X.T, impl="blas"),
     ["matmul: impl must be one of 'fast', 'naive', 'numpy'", "'blas'"]),
    ("UpSampling2D interpolation", lambda: UpSampling2D(interpolation="cubic"),
     ["interpolation must be one of 'nearest', 'bilinear'", "'cubic'"]),
]


@pytest.mark.parametrize("what,make,words", UNKNOWN_NAMES, ids=[w for w, _, _ in UNKNOWN_NAMES])
def test_unknown_names_list_the_valid_ones(what, make, words):
    with raises(ValueError, *words):
        make()


# ---- handled correctly: other layouts and dtypes give the numbers of contiguous float32 ---------------

def big_endian(a):
    return a.astype(a.dtype.newbyteorder(">"))


LAYOUTS = {  # name: (turn the float32 reference into that input; exact in float32?)
    "fortran": lambda a: np.asfortranarray(a),
    "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    "reversed": lambda a: a[::-1].copy()[::-1],
    "transposed view": lambda a: np.ascontiguousarray(a.T).T,
    "float64": lambda a: a.astype(np.float64),
    "big-endian": big_endian,
    "nested lists": lambda a: a.tolist(),
}
INT_LAYOUTS = {  # integer data (whole numbers in the float32 reference)
    "int32": lambda a: a.astype(np.int32),
    "int64 fortran": lambda a: np.asfortranarray(a.astype(np.int64)),
    "uint8": lambda a: a.astype(np.uint8),
    "bool": lambda a: a.astype(bool),
}


def layout_cases():
    for name, turn in LAYOUTS.items():
        yield name, turn, lambda a: a
    for name, turn in INT_LAYOUTS.items():  # the reference holds the same whole numbers
        yield name, turn, (lambda a: (a > 0).astype(np.float32)) if name == "bool" else \
            (lambda a: np.round(np.abs(a) * 3).astype(np.float32))


CASES = list(layout_cases())
CASE_IDS = [name for name, _, _ in CASES]


def trained_weights(x, y, model_fn=mlp):
    set_random_seed(3)
    model = model_fn()
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    return model.get_weights(), history.history["loss"]


@pytest.mark.parametrize("name,turn,reference", CASES, ids=CASE_IDS)
def test_fit_evaluate_predict_on_other_layouts_and_dtypes_give_the_same_numbers(name, turn,
                                                                                 reference):
    x = reference(X)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    model = mlp()
    expected = (model.predict(x), model.evaluate(x, Y, verbose=0))
    np.testing.assert_array_equal(model.predict(turn(x)), expected[0])
    assert model.evaluate(turn(x), Y, verbose=0) == expected[1]
    weights, losses = trained_weights(x, Y)
    weights_turned, losses_turned = trained_weights(turn(x), Y)
    assert losses_turned == losses
    for w, w_turned in zip(weights, weights_turned):
        np.testing.assert_array_equal(w_turned, w)


@pytest.mark.parametrize("name,turn", [
    ("int64 (N,)", lambda y: y), ("uint8 (N, 1)", lambda y: y.astype(np.uint8)[:, None]),
    ("float64", lambda y: y.astype(np.float64)), ("list", lambda y: y.tolist()),
    ("strided", lambda y: np.repeat(y, 3)[::3])])
def test_labels_of_any_integer_form_give_the_same_numbers(name, turn):
    weights, losses = trained_weights(X, Y.astype(np.float32))
    weights_turned, losses_turned = trained_weights(X, turn(Y))
    assert losses_turned == losses
    for w, w_turned in zip(weights, weights_turned):
        np.testing.assert_array_equal(w_turned, w)


def test_images_in_fortran_order_train_a_cnn_to_the_same_weights():
    labels = np.arange(len(IMAGES)) % 2
    reference = trained_weights(IMAGES, labels, cnn)
    turned = trained_weights(np.asfortranarray(IMAGES.astype(np.float64)), labels, cnn)
    assert turned[1] == reference[1]
    for w, w_turned in zip(reference[0], turned[0]):
        np.testing.assert_array_equal(w_turned, w)


DY = np.ones((2, 4, 4, 1), np.float32)
KERNEL_CALLS = {  # kernel: (its two array arguments, the call); each returns a tuple of arrays
    "conv2d": ((2, 4, 4, 3), (2, 2, 3, 1),
               lambda x, w, impl: (kernels.conv2d(x, w, padding="same", impl=impl),)),
    "conv2d_backward": ((2, 4, 4, 3), (2, 2, 3, 1),
                        lambda x, w, impl: kernels.conv2d_backward(x, w, DY, padding="same",
                                                                   impl=impl)),
    "max_pool2d": ((2, 4, 4, 3), (2, 2, 2, 3),
                   lambda x, dy, impl: (kernels.max_pool2d(x, 2, impl=impl),
                                        kernels.max_pool2d_backward(x, dy, 2, impl=impl))),
    "avg_pool2d": ((2, 4, 4, 3), (2, 4, 4, 3),
                   lambda x, dy, impl: (
                       kernels.avg_pool2d(x, 3, strides=1, padding="same", impl=impl),
                       kernels.avg_pool2d_backward(x, dy, 3, strides=1, padding="same",
                                                   impl=impl))),
    "matmul": ((8, 12), (12, 5), lambda a, b, impl: (kernels.matmul(a, b, impl=impl),)),
    "relu": ((2, 4, 4, 3), (2, 4, 4, 3),
             lambda y, dy, impl: (kernels.relu(y, impl=impl),
                                  kernels.relu_backward(y, dy, impl=impl))),
}


@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("kernel", KERNEL_CALLS)
@pytest.mark.parametrize("name,turn,reference", CASES, ids=CASE_IDS)
def test_kernels_on_other_layouts_and_dtypes_give_the_same_numbers(name, turn, reference,
                                                                   kernel, impl):
    shape_a, shape_b, call = KERNEL_CALLS[kernel]
    a = reference(RNG.normal(size=shape_a).astype(np.float32))
    b = reference(RNG.normal(size=shape_b).astype(np.float32))
    for result, expected in zip(call(turn(a), turn(b), impl), call(a, b, impl)):
        np.testing.assert_array_equal(result, expected)


# ---- sizes beyond what the C kernels can index --------------------------------------------------------

@pytest.mark.parametrize("make,what", [
    (lambda: kernels.conv2d(IMAGES, np.ones((1, 1, 1, 1)), strides=2**62), "conv2d: strides"),
    (lambda: kernels.conv2d_backward(IMAGES, np.ones((1, 1, 1, 1)), IMAGES, strides=(1, 2**63)),
     "conv2d_backward: strides"),
    (lambda: kernels.max_pool2d(IMAGES, 2**64, padding="same"), "max_pool2d: pool_size"),
    (lambda: kernels.avg_pool2d(IMAGES, 2, strides=2**61 + 1), "avg_pool2d: strides"),
    (lambda: Conv2D(2, 3, strides=2**63), "Conv2D: strides"),
    (lambda: MaxPooling2D(pool_size=(2, 2**62)), "MaxPooling2D: pool_size"),
    (lambda: UpSampling2D(size=2**62), "UpSampling2D: size"),
], ids=["conv2d", "conv2d_backward", "max_pool2d", "avg_pool2d", "Conv2D", "MaxPooling2D",
        "UpSampling2D"])
def test_window_sizes_beyond_64_bit_indexing_are_refused(make, what):
    with raises(ValueError, f"{what} must be at most 2**61", "64-bit"):
        make()


@pytest.mark.parametrize("impl", ["fast", "naive"])
def test_the_largest_allowed_window_still_gives_exact_numbers(impl):
    """A 2**61 "same" window covers the whole image: the C index arithmetic
    (position - padding + window, around ±2**60) must not overflow."""
    x = IMAGES
    y = kernels.max_pool2d(x, 2**61, strides=1, padding="same", impl=impl)
    np.testing.assert_array_equal(y, np.broadcast_to(x.max(axis=(1, 2), keepdims=True), x.shape))
    mean = kernels.avg_pool2d(x, 2**61, padding="same", impl=impl)
    np.testing.assert_allclose(mean[:, 0, 0], x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    corner = kernels.conv2d(x, np.full((1, 1, 1, 1), 2.0), strides=2**61, impl=impl)
    np.testing.assert_array_equal(corner, 2 * x[:, :1, :1])


@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("kernel", [(1, 1), (3, 2)])
def test_the_largest_allowed_stride_convolves_channels_both_ways(impl, kernel):
    """A 2**61 stride leaves one output per axis, and the step to a next one
    (stride times a row of 6 channels) would overflow 64 bits: forward, dx
    and dw must still give the reference's numbers."""
    x = RNG.normal(size=(3, 7, 5, 6)).astype(np.float32)
    w = RNG.normal(size=(*kernel, 6, 9)).astype(np.float32)
    y = kernels.conv2d(x, w, strides=2**61, impl=impl)
    np.testing.assert_allclose(y, reference.conv2d(x, w, strides=(2**61, 2**61)),
                               rtol=1e-5, atol=1e-5)
    dy = RNG.normal(size=y.shape).astype(np.float32)
    got = kernels.conv2d_backward(x, w, dy, strides=(2**61, 2**61), impl=impl)
    for actual, expected in zip(got, reference.conv2d_backward(x, w, dy, strides=(2**61, 2**61))):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


HUGE = np.broadcast_to(np.float32(1), (2**20, 2**20, 2**20, 1))   # 2**60 values, 4 EiB: a view


@pytest.mark.parametrize("kernel,make", [
    ("conv2d", lambda: kernels.conv2d(HUGE, np.ones((1, 1, 1, 1)))),
    ("max_pool2d", lambda: kernels.max_pool2d(HUGE)),
    ("relu", lambda: kernels.relu(HUGE)),
    ("matmul", lambda: kernels.matmul(np.broadcast_to(np.float32(1), (2**30, 2**30)),
                                      np.broadcast_to(np.float32(1), (2**30, 1)))),
])
def test_arrays_larger_than_memory_are_refused_before_any_c_runs(kernel, make):
    """Kernels copy a view into contiguous float32 before C sees it; a view of
    2**60 values (4 EiB, more than any address space) cannot be copied, so it
    never reaches C's indexing."""
    with raises(MemoryError, "Unable to allocate 4.00 EiB"):
        make()


# ---- a window larger than a "valid" input ----------------------------------------------------------

@pytest.mark.parametrize("make,words", [
    (lambda: Sequential([Conv2D(2, 7, input_shape=(6, 6, 1), name="big")]),
     ["layer 'big'", "kernel (7, 7) does not fit inputs of shape (None, 6, 6, 1)", "'valid'"]),
    (lambda: Sequential([Conv2D(2, (3, 9), input_shape=(6, 6, 1), name="wide")]),
     ["layer 'wide'", "kernel (3, 9)", "(None, 6, 6, 1)"]),
    (lambda: Sequential([Conv2D(2, 3, input_shape=(6, 6, 1)), MaxPooling2D(5, name="pool")]),
     ["layer 'pool'", "pool_size (5, 5) does not fit inputs of shape (None, 4, 4, 2)"]),
    (lambda: Sequential([AveragePooling2D(7, input_shape=(6, 6, 1), name="avg")]),
     ["layer 'avg'", "pool_size (7, 7)", "(None, 6, 6, 1)"]),
    (lambda: Sequential([Conv2D(2, 7, name="late")]).predict(np.zeros((1, 6, 6, 1))),
     ["layer 'late'", "kernel (7, 7) does not fit inputs of shape (None, 6, 6, 1)"]),
    (lambda: kernels.conv2d(IMAGES, np.ones((7, 7, 1, 1))),
     ["conv2d: kernel 7x7 does not fit the 6x6 input", "padding='same'"]),
    (lambda: kernels.conv2d_backward(IMAGES, np.ones((3, 8, 1, 1)), np.ones((4, 1, 1, 1))),
     ["conv2d_backward: kernel 3x8 does not fit the 6x6 input"]),
    (lambda: kernels.max_pool2d(IMAGES, (7, 2)), ["max_pool2d: pool_size 7x2 does not fit"]),
    (lambda: kernels.avg_pool2d_backward(IMAGES, np.ones((4, 1, 1, 1)), 9),
     ["avg_pool2d_backward: pool_size 9x9 does not fit the 6x6 input"]),
], ids=["Conv2D", "Conv2D-wide", "MaxPooling2D-after-conv", "AveragePooling2D",
        "Conv2D-built-by-predict", "conv2d", "conv2d_backward", "max_pool2d",
        "avg_pool2d_backward"])
def test_a_window_larger_than_a_valid_input(make, words):
    with raises(ValueError, *words):
        make()


def test_the_same_window_with_same_padding_is_fine():
    y = kernels.conv2d(IMAGES, np.ones((7, 7, 1, 1)), padding="same")
    assert y.shape == IMAGES.shape
