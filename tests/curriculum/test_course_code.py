"""The course's code (/work/shared/curriculum), with only the imports switched to fastnn.

Every code block of the course script is transcribed here, in chapter order,
with ``tensorflow.keras`` replaced by ``fastnn`` in the imports.  Changes to
the snippets themselves are limited to what Keras could not run either, each
marked ``# course typo:``:

- unbalanced parentheses / a keyword argument outside its call
  (``Dense(5, input_shape=(3,)), activation='relu'``, chapters 5, 14, 29);
- chapter 7's ``labels`` array has 37 items for 40 ``train_examples``
  (Keras also refuses that: see ``test_ch07_labels_as_printed_do_not_match``);
- chapter 21 calls ``model_valid.summary()`` for the model it named ``model``.

Data the course leaves undefined (``scaled_train_samples``, ``valid_set``,
``scaled_test_samples``) is small and synthetic.  What the course prints is
asserted: the summaries verbatim (modulo the automatic layer numbers, which
depend on what ran before in the author's session), the ``verbose=2`` log
format, the parameter counts.
"""
import re

import numpy as np
import pytest

NUMBER = r"(?:\d+\.\d{4}|\d\.\d{4}e[+-]\d\d)"          # %.4f, or %.4e when tiny (§2)


pytestmark = pytest.mark.usefixtures("fresh_session")


def summary_of(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


def assert_summary(model, expected):
    """The summary equals ``expected`` (a block of text, trailing spaces stripped there),
    and every table line is padded to the full width of 65, as tf.keras 2.0 prints it."""
    lines = summary_of(model)
    assert [line.rstrip() for line in lines] == expected.strip("\n").splitlines()
    table = [line for line in lines if not line.startswith(("Model:", "Total", "Trainable",
                                                            "Non-trainable"))]
    assert all(len(line) == 65 for line in table), [len(line) for line in table]


# ---- chapter 3: a Sequential model from a list of Dense layers ----------------------------


def test_ch03_build_sequential_model():
    from fastnn.models import Sequential
    from fastnn.layers import Dense, Activation  # noqa: F401

    layers = [
        Dense(3, input_shape=(2, ), activation='relu'),
        Dense(2, activation='softmax')
    ]
    model = Sequential(layers)

    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    assert model.layers[0].activation.name == "relu"
    assert model.output_shape == (None, 2)
    assert model.count_params() == 2 * 3 + 3 + 3 * 2 + 2


# ---- chapter 4.6: the 2-5-5-2 network --------------------------------------------------------


def test_ch04_example_sequential_model_forward_pass():
    from fastnn.models import Sequential

    from fastnn.layers import Dense, Activation  # noqa: F401

    layers = [
        Dense(5, input_shape=(2,), activation='relu'),
        Dense(5, activation='relu'),
        Dense(2, activation='softmax')
    ]

    model = Sequential(layers)

    assert [layer.output_shape for layer in model.layers] == [(None, 5), (None, 5), (None, 2)]
    # the forward pass: two output classes, probabilities per sample
    outputs = model.predict(np.random.default_rng(0).uniform(size=(4, 2)))
    assert outputs.shape == (4, 2)
    np.testing.assert_allclose(outputs.sum(axis=1), 1, rtol=1e-6)


# ---- chapter 5.4: activation functions in Keras ----------------------------------------------


def test_ch05_activation_two_ways():
    from fastnn.models import Sequential

    from fastnn.layers import Dense, Activation

    # 1)
    model = Sequential([
        Dense(5, input_shape=(3,), activation='relu')  # course typo: `Dense(5, input_shape=(3,)), activation='relu'`
    ])
    first = model

    # 2)
    model = Sequential()
    model.add(Dense(5, input_shape=(3,)))
    model.add(Activation('relu'))

    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Activation"]
    assert model.layers[1].count_params() == 0
    assert first.count_params() == model.count_params() == 3 * 5 + 5
    # the same network: with the same weights, the same outputs
    model.set_weights(first.get_weights())
    x = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    np.testing.assert_array_equal(first.predict(x), model.predict(x))
    assert (model.predict(x) >= 0).all() and (model.predict(x) == 0).any()


# ---- chapter 7.3: training in Keras -----------------------------------------------------------

CH07_LOG_LINE = re.compile(rf"^40/40 - \d+s - loss: {NUMBER} - accuracy: {NUMBER}$")


def ch07_model_and_data():
    from fastnn.models import Sequential
    from fastnn.layers import Dense
    from fastnn.optimizers import Adam
    import numpy as np

    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu'),
        Dense(2, activation='sigmoid')
    ])

    model.compile(
        Adam(lr=0.0001),
        loss='sparse_categorical_crossentropy',
        metrics=['accuracy']
    )

    train_examples = \
        np.array([0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1,1,
        1,1,1,1,1,1,1,1,1,1,1,1,1,1])
    # course typo: the course's labels list 20 ones and only 17 zeros (37 labels for 40
    # examples); the text says 0 -> 1 and 1 -> 0, so here are the 40 labels it means.
    labels=np.array([1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0])
    return model, train_examples, labels


def test_ch07_training_log(capsys):
    model, train_examples, labels = ch07_model_and_data()

    model.fit(
        train_examples,
        labels,
        batch_size=2,
        epochs=20,
        shuffle=True,
        verbose=2
    )

    lines = capsys.readouterr().out.splitlines()
    # tf.keras 2.0 prints a banner and "Epoch 1/20" first; the course's listing starts
    # with the first log line and then alternates "Epoch k/20" and the epoch's line:
    #   40/40 - 1s - loss: 0.7156 - accuracy: 0.3000
    #   Epoch 2/20
    #   40/40 - 0s - loss: 0.7090 - accuracy: 0.5000
    assert lines[0] == "Train on 40 samples"
    assert len(lines) == 1 + 2 * 20
    for epoch in range(20):
        assert lines[1 + 2 * epoch] == f"Epoch {epoch + 1}/20"
        assert CH07_LOG_LINE.match(lines[2 + 2 * epoch]), lines[2 + 2 * epoch]


def test_ch07_learns_and_returns_history():
    model, train_examples, labels = ch07_model_and_data()
    history = model.fit(train_examples, labels, batch_size=2, epochs=20, shuffle=True,
                        verbose=0)
    assert sorted(history.history) == ["accuracy", "loss"]
    assert len(history.history["loss"]) == 20
    assert model.optimizer.iterations == 20 * 40 // 2           # batch_size=2: 20 steps an epoch
    assert history.history["loss"][-1] < history.history["loss"][0]   # "das Netz lernt"


def test_ch07_labels_as_printed_do_not_match():
    """The course's label list really has 37 entries: Keras refuses it, so does fastnn."""
    model, train_examples, _ = ch07_model_and_data()
    labels=np.array([1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0])
    assert len(labels) == 37
    with pytest.raises(ValueError, match="40.*37"):
        model.fit(train_examples, labels, batch_size=2, epochs=20, shuffle=True, verbose=2)


def test_ch07_one_dimensional_examples_become_a_column():
    model, train_examples, labels = ch07_model_and_data()
    assert train_examples.shape == (40,)
    np.testing.assert_array_equal(model.predict(train_examples),
                                  model.predict(train_examples.reshape(40, 1)))


# ---- chapter 8.2: loss functions in Keras ---------------------------------------------------

CH08_LOSSES = [
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "squared_hinge",
    "hinge",
    "categorical_hinge",
    "logcosh",
    "huber_loss",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "kullback_leibler_divergence",
    "poisson",
    "cosine_proximity",
    # "is_categorical_crossentropy" is in the course's list, but it is a helper of
    # keras.losses (does this loss equal categorical crossentropy?), not a loss: Keras
    # cannot train with it either, so it is not expected to work here.
]


def test_ch08_compile_snippet():
    from fastnn.models import Sequential
    from fastnn.layers import Dense
    from fastnn.optimizers import Adam

    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu'),
        Dense(2, activation='sigmoid')
    ])

    model.compile(
        Adam(lr=0.0001),
        loss='sparse_categorical_crossentropy',
        metrics=['accuracy']
    )
    assert model.loss.name == "sparse_categorical_crossentropy"
    assert [m.name for m in model.metrics] == ["accuracy"]
    assert type(model.metrics[0]).__name__ == "SparseCategoricalAccuracy"


@pytest.mark.parametrize("loss", CH08_LOSSES)
def test_ch08_every_listed_loss_trains(loss):
    from fastnn.models import Sequential
    from fastnn.layers import Dense
    from fastnn.optimizers import Adam

    assert len(CH08_LOSSES) == 15
    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu'),
        Dense(2, activation='sigmoid')
    ])
    model.compile(Adam(lr=0.0001), loss=loss, metrics=['accuracy'])

    x = np.array([0.0] * 5 + [1.0] * 5)
    classes = np.array([1] * 5 + [0] * 5)
    y = classes if loss.startswith("sparse") else np.eye(2)[classes]
    history = model.fit(x, y, batch_size=5, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(model.evaluate(x, y, verbose=0)).all()


# ---- chapter 9.3: learning rates in Keras ---------------------------------------------------


def ch09_model():
    from fastnn.models import Sequential
    from fastnn.layers import Dense
    from fastnn.optimizers import Adam

    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu'),
        Dense(2, activation='sigmoid')
    ])
    model.compile(
        Adam(lr=0.0001),
        loss='sparse_categorical_crossentropy',
        metrics=['accuracy']
    )
    return model


def largest_step(model, x, y):
    """The largest weight change of one training step (one batch of everything)."""
    before = model.get_weights()
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    return max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), before))


def test_ch09_set_learning_rate(capsys):
    model = ch09_model()
    assert model.optimizer.lr == pytest.approx(0.0001)

    model.optimizer.lr = 0.01

    print(model.optimizer.lr)
    assert capsys.readouterr().out == "0.01\n"
    assert model.optimizer.learning_rate == 0.01


def test_ch09_new_learning_rate_moves_the_weights_further():
    """Adam's first step moves each weight by about lr (|m̂/√v̂| = 1): 1e-4, or 1e-2 once set."""
    x, y = np.linspace(0, 1, 20), np.array([1, 0] * 10)
    assert 0.9e-4 < largest_step(ch09_model(), x, y) <= 1.0001e-4

    model = ch09_model()
    model.optimizer.lr = 0.01
    assert 0.9e-2 < largest_step(model, x, y) <= 1.0001e-2


# ---- chapter 11.3: predictions -----------------------------------------------------------------


def test_ch11_predict(capsys):
    from fastnn.models import Sequential
    from fastnn.layers import Dense
    from fastnn.optimizers import Adam

    model = Sequential([
        Dense(5, input_shape=(2,), activation='relu'),
        Dense(5, activation='relu'),
        Dense(2, activation='softmax')
    ])
    model.compile(Adam(lr=0.01), loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    rng = np.random.default_rng(0)
    scaled_train_samples = rng.uniform(size=(60, 2))
    train_labels = (scaled_train_samples.sum(axis=1) > 1).astype(int)
    model.fit(scaled_train_samples, train_labels, batch_size=10, epochs=5, verbose=0)
    scaled_test_samples = rng.uniform(size=(25, 2))
    capsys.readouterr()

    predictions = model.predict(
        scaled_test_samples,
        batch_size=10,
        verbose=0
    )
    assert capsys.readouterr().out == ""          # verbose=0: nothing on the screen

    for p in predictions:
        print(p)

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 25
    for line in lines:     # e.g. "[0.7410683 0.2589317]": one probability per class
        assert re.match(r"^\[\s*\S+\s+\S+\s*\]$", line), line
        assert sum(float(v) for v in line.strip("[]").split()) == pytest.approx(1, abs=1e-6)
    assert predictions.dtype == np.float32 and predictions.shape == (25, 2)
    assert ((predictions >= 0) & (predictions <= 1)).all()
    np.testing.assert_allclose(predictions.sum(axis=1), 1, rtol=1e-6)


# ---- chapter 14.2: labelled data (Python lists) ---------------------------------------------


def test_ch14_fit_on_python_lists(capsys):
    import fastnn  # noqa: F401   (the course: import tensorflow.keras)

    from fastnn import backend as K  # noqa: F401

    from fastnn.models import Sequential

    from fastnn.layers import activation, Dense  # noqa: F401   (the course's import, sic)

    from fastnn.optimizers import Adam

    model = Sequential([

        Dense(16, input_shape=(2,), activation='relu'),  # course typo: `input_shape=(2,)), activation=`

        Dense(32, activation='relu'),

        Dense(2, activation='sigmoid')

    ])

    model.compile(

        Adam(lr=0.0001),

        loss='sparse_categorical_crossentropy',

        metrics=['accuracy']

    )

    #height, weight

    train_samples = [
        [150, 67],
        [130, 60],
        [200, 65],
        [125, 52],
        [230, 72],
        [181, 70]
    ]

    # 0: male

    # 1: female

    train_labels = [1, 1, 0, 1, 0, 0]

    history = model.fit(
        x=train_samples,
        y=train_labels,
        batch_size=3,
        epochs=10,
        shuffle=True,
        verbose=2
    )

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Train on 6 samples"
    assert lines[1::2] == [f"Epoch {k}/10" for k in range(1, 11)]
    for line in lines[2::2]:
        assert re.match(rf"^6/6 - \d+s - loss: {NUMBER} - accuracy: {NUMBER}$", line), line
    assert len(history.history["loss"]) == 10
    assert np.isfinite(history.history["loss"]).all()


# ---- chapter 18: one-hot encoding ---------------------------------------------------------------


def test_ch18_one_hot_cat_dog_turtle_llama():
    from fastnn.utils import to_categorical

    cat, dog, turtle, llama = 0, 1, 2, 3
    assert to_categorical([cat, dog, turtle]).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    encoded = to_categorical([cat, dog, turtle, llama])
    assert encoded.dtype == np.float32
    assert encoded.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    # adding the llama only appends a 0 to the other vectors
    np.testing.assert_array_equal(encoded[:3, :3], np.eye(3))


# ---- chapter 19: four 3x3 edge filters as one Conv2D layer ---------------------------------------

CH19_FILTERS = [
    [[-1, -1, -1], [1, 1, 1], [0, 0, 0]],     # top horizontal edges
    [[-1, 1, 0], [-1, 1, 0], [-1, 1, 0]],     # left vertical edges
    [[0, 0, 0], [1, 1, 1], [-1, -1, -1]],     # bottom horizontal edges
    [[0, 1, -1], [0, 1, -1], [0, 1, -1]],     # right vertical edges
]


def test_ch19_edge_filters_on_a_seven():
    from fastnn.models import Sequential
    from fastnn.layers import Conv2D

    seven = np.zeros((28, 28), np.float32)
    seven[6:9, 7:21] = 1                       # the bar at the top
    for row in range(9, 23):                   # the stroke down to the left
        seven[row, 19 - (row - 9) // 2:21 - (row - 9) // 2] = 1

    model = Sequential([Conv2D(4, (3, 3), input_shape=(28, 28, 1), use_bias=False)])
    kernel = np.array(CH19_FILTERS, np.float32).transpose(1, 2, 0)[:, :, None, :]
    model.set_weights([kernel])
    maps = model.predict(seven[None, :, :, None])[0]
    assert maps.shape == (26, 26, 4)           # n - f + 1 = 26 (chapter 20)

    # each output is the dot product of a filter with the 3x3 block under it
    for f, weights in enumerate(CH19_FILTERS):
        for i, j in [(4, 8), (5, 10), (7, 17), (12, 14), (0, 0)]:
            assert maps[i, j, f] == pytest.approx(float((seven[i:i + 3, j:j + 3] * weights).sum()))
    # the brightest pixels of map 1 are at the bar's top edge, of map 3 at its bottom edge
    top, bottom = maps[:, 7:19, 0].max(axis=1), maps[:, 7:19, 2].max(axis=1)
    assert top.argmax() == 6 - 1 and top.max() == 3
    assert bottom[7] == 3 and maps[4, 8, 2] <= 0


# ---- chapter 20.4: padding in Keras ---------------------------------------------------------------

CH20_VALID_SUMMARY = """
Model: "sequential"
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
dense (Dense)                (None, 20, 20, 16)        64
_________________________________________________________________
conv2d (Conv2D)              (None, 18, 18, 32)        4640
_________________________________________________________________
conv2d_1 (Conv2D)            (None, 14, 14, 64)        51264
_________________________________________________________________
conv2d_2 (Conv2D)            (None, 8, 8, 128)         401536
_________________________________________________________________
flatten (Flatten)            (None, 8192)              0
_________________________________________________________________
dense_1 (Dense)              (None, 2)                 16386
=================================================================
Total params: 473,890
Trainable params: 473,890
Non-trainable params: 0
_________________________________________________________________
"""

# The course shows "sequential_2", "dense_5", "conv2d_6", ... (numbers from the other
# cells its author had run); run right after the first model, the numbers continue so:
CH20_SAME_SUMMARY = """
Model: "sequential_1"
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
dense_2 (Dense)              (None, 20, 20, 16)        64
_________________________________________________________________
conv2d_3 (Conv2D)            (None, 20, 20, 32)        4640
_________________________________________________________________
conv2d_4 (Conv2D)            (None, 20, 20, 64)        51264
_________________________________________________________________
conv2d_5 (Conv2D)            (None, 20, 20, 128)       401536
_________________________________________________________________
flatten_1 (Flatten)          (None, 51200)             0
_________________________________________________________________
dense_3 (Dense)              (None, 2)                 102402
=================================================================
Total params: 559,906
Trainable params: 559,906
Non-trainable params: 0
_________________________________________________________________
"""


def test_ch20_padding_in_keras(capsys):
    import fastnn  # noqa: F401

    from fastnn.models import Sequential

    from fastnn.layers import Activation  # noqa: F401

    from fastnn.layers import Dense, Flatten

    from fastnn.layers import Conv2D

    model = Sequential([

        Dense(16, input_shape=(20,20,3), activation='relu'),

        Conv2D(32, (3,3), activation='relu', padding='valid'),

        Conv2D(64, (5,5), activation='relu', padding='valid'),

        Conv2D(128,(7,7), activation='relu', padding='valid'),

        Flatten(),

        Dense(2, activation='softmax')

    ])

    model.summary()
    printed = capsys.readouterr().out
    assert [line.rstrip() for line in printed.splitlines()] == \
        CH20_VALID_SUMMARY.strip("\n").splitlines()
    assert_summary(model, CH20_VALID_SUMMARY)

    model = Sequential([
        Dense(16, input_shape=(20,20,3), activation='relu'),
        Conv2D(32, (3,3), activation='relu', padding='same'),
        Conv2D(64, (5,5), activation='relu', padding='same'),
        Conv2D(128, (7,7), activation='relu', padding='same'),

        Flatten(),

        Dense(2, activation='softmax')

    ])

    model.summary()
    assert [line.rstrip() for line in capsys.readouterr().out.splitlines()] == \
        CH20_SAME_SUMMARY.strip("\n").splitlines()
    assert_summary(model, CH20_SAME_SUMMARY)
    assert model.count_params() == 559906


# ---- chapter 21.5: max pooling in Keras ---------------------------------------------------------

CH21_SUMMARY = """
Model: "sequential"
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
dense (Dense)                (None, 20, 20, 16)        64
_________________________________________________________________
conv2d (Conv2D)              (None, 20, 20, 32)        4640
_________________________________________________________________
max_pooling2d (MaxPooling2D) (None, 10, 10, 32)        0
_________________________________________________________________
conv2d_1 (Conv2D)            (None, 10, 10, 64)        51264
_________________________________________________________________
flatten (Flatten)            (None, 6400)              0
_________________________________________________________________
dense_1 (Dense)              (None, 2)                 12802
=================================================================
Total params: 68,770
Trainable params: 68,770
Non-trainable params: 0
_________________________________________________________________
"""


CH21_CODE = """
import fastnn

from fastnn.models import Sequential

from fastnn.layers import *

model = Sequential([

    Dense(16, input_shape=(20,20,3), activation='relu'),

    Conv2D(32, (3,3), activation='relu', padding='same'),

    MaxPooling2D(pool_size=(2, 2), strides=2, padding='valid'),

    Conv2D(64, (5,5), activation='relu', padding='same'),

    Flatten(),

    Dense(2, activation='softmax')

])
"""


def ch21_model():
    """Chapter 21's snippet, run as a script (``import *`` needs module level)."""
    namespace = {}
    exec(CH21_CODE, namespace)
    return namespace["model"]


def test_ch21_max_pooling_in_keras(capsys):
    model = ch21_model()

    model.summary()  # course typo: `model_valid.summary()`

    assert [line.rstrip() for line in capsys.readouterr().out.splitlines()] == \
        CH21_SUMMARY.strip("\n").splitlines()
    assert_summary(model, CH21_SUMMARY)


def test_ch21_long_layer_names_are_cut_as_in_the_course():
    """The course's row "max_pooling2d_1 (MaxPooling2 (None, 10, 10, 32)  0": names that
    do not fit the first column are cut one character before it ends."""
    ch21_model()
    lines = summary_of(ch21_model())     # run again: the layer is now "max_pooling2d_1"
    assert "max_pooling2d_1 (MaxPooling2 (None, 10, 10, 32)        0         " in lines


def test_ch21_pooling_example_4x4():
    from fastnn.models import Sequential
    from fastnn.layers import MaxPooling2D, AveragePooling2D

    x = np.array([[4, 3, 8, 5],
                  [9, 1, 3, 6],
                  [6, 3, 5, 3],
                  [2, 5, 2, 5]], np.float32)[None, :, :, None]
    model = Sequential([MaxPooling2D(pool_size=(2, 2), strides=2, input_shape=(4, 4, 1))])
    np.testing.assert_array_equal(model.predict(x)[0, :, :, 0], [[9, 8], [6, 5]])
    model = Sequential([AveragePooling2D(pool_size=(2, 2), strides=2, input_shape=(4, 4, 1))])
    np.testing.assert_array_equal(model.predict(x)[0, :, :, 0], [[4.25, 5.5], [4, 3.75]])


# ---- chapter 24.3: weight initialisation in Keras ------------------------------------------------


def test_ch24_kernel_initializer():
    from fastnn.models import Sequential
    from fastnn.layers import Dense

    from fastnn.layers import Activation  # noqa: F401

    model = Sequential([
        Dense(16, input_shape=(1,5), activation='relu'),
        Dense(32, activation='relu', kernel_initializer='glorot_uniform'),
        Dense(2, activation='softmax')
    ])

    assert [layer.output_shape for layer in model.layers] == \
        [(None, 1, 16), (None, 1, 32), (None, 1, 2)]
    assert [layer.count_params() for layer in model.layers] == [96, 544, 66]
    kernel, bias = model.layers[1].get_weights()
    limit = np.sqrt(6 / (16 + 32))               # Glorot/Xavier, uniform
    assert kernel.shape == (16, 32) and np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.8 * limit and abs(kernel.mean()) < 0.1 * limit
    assert (bias == 0).all()


# ---- chapter 26: learnable parameters of a 2-3-2 dense network -------------------------------------


def test_ch26_two_three_two_has_17_parameters():
    from fastnn.models import Sequential
    from fastnn.layers import Dense

    model = Sequential([Dense(3, input_shape=(2,), activation='relu'),
                        Dense(2, activation='softmax')])
    assert [layer.count_params() for layer in model.layers] == [2 * 3 + 3, 3 * 2 + 2]
    assert model.count_params() == 17
    assert summary_of(model)[-4:-1] == ["Total params: 17", "Trainable params: 17",
                                        "Non-trainable params: 0"]


# ---- chapter 27: learnable parameters of a CNN ------------------------------------------------------


def test_ch27_cnn_has_2515_parameters():
    from fastnn.models import Sequential
    from fastnn.layers import Conv2D, Dense, Flatten

    model = Sequential([
        Conv2D(2, (3, 3), padding='same', input_shape=(20, 20, 3)),
        Conv2D(3, (3, 3), padding='same'),
        Flatten(),
        Dense(2),
    ])
    assert [layer.count_params() for layer in model.layers] == [56, 57, 0, 2402]
    assert model.layers[2].output_shape == (None, 1200)
    assert model.count_params() == 56 + 57 + 2402 == 2515


# ---- chapters 28 and 29: L2 regularisation, batch size ----------------------------------------------


def ch29_model():
    from fastnn.models import Sequential

    from fastnn.layers import Dense

    from fastnn.layers import Activation  # noqa: F401

    from fastnn import regularizers

    model = Sequential([

        Dense(16, input_shape=(1,), activation = 'relu'),  # course typo: `input_shape=(1,)), activation`

        Dense(32, activation = 'relu', kernel_regularizer =

    regularizers.l2(0.01)),

        Dense(2, activation = 'sigmoid')

    ])
    return model


def ch29_data():
    rng = np.random.default_rng(3)
    scaled_train_samples = rng.uniform(size=50)
    train_labels = (scaled_train_samples > 0.5).astype(int)
    scaled_valid_samples = rng.uniform(size=10)
    valid_set = (scaled_valid_samples, (scaled_valid_samples > 0.5).astype(int))
    return scaled_train_samples, train_labels, valid_set


def ch29_loss_by_hand(model, x, y):
    """Sparse categorical crossentropy of the sigmoid outputs (renormalised and clipped,
    §7) plus 0.01 · Σ w² of the regularised kernel (Keras's l2: no ½, no 1/m)."""
    p = model.predict(x).astype(np.float64)
    p = np.clip(p / p.sum(axis=1, keepdims=True), 1e-7, 1 - 1e-7)
    crossentropy = -np.log(p[np.arange(len(y)), y]).mean()
    kernel = model.layers[1].get_weights()[0].astype(np.float64)
    return crossentropy + 0.01 * np.sum(kernel ** 2), crossentropy


def test_ch29_fit_with_validation_data(capsys):
    from fastnn.optimizers import Adam

    model = ch29_model()
    # the course does not show its compile; chapter 7's
    model.compile(Adam(lr=0.0001), loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    scaled_train_samples, train_labels, valid_set = ch29_data()

    history = model.fit(
        scaled_train_samples,
        train_labels,
        validation_data = valid_set,
        batch_size = 10,
        epochs = 20,
        shuffle = True,
        verbose = 2
    )

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Train on 50 samples, validate on 10 samples"
    assert lines[1::2] == [f"Epoch {k}/20" for k in range(1, 21)]
    pattern = re.compile(rf"^50/50 - \d+s - loss: {NUMBER} - accuracy: {NUMBER}"
                         rf" - val_loss: {NUMBER} - val_accuracy: {NUMBER}$")
    for line in lines[2::2]:
        assert pattern.match(line), line
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(values) == 20 for values in history.history.values())
    assert model.optimizer.iterations == 20 * 50 // 10         # batch_size=10: 5 steps an epoch
    # the last val_loss is the loss on valid_set (with the L2 term) after training
    x_val, y_val = valid_set
    assert history.history["val_loss"][-1] == pytest.approx(
        ch29_loss_by_hand(model, x_val, y_val)[0], rel=1e-5)


def test_ch28_l2_adds_lambda_sum_of_squares_to_the_loss():
    from fastnn.optimizers import SGD

    model = ch29_model()
    model.compile(SGD(lr=0.0), loss='sparse_categorical_crossentropy')   # weights stay put
    x, y, _ = ch29_data()
    expected, unregularised = ch29_loss_by_hand(model, x, y)
    assert expected - unregularised > 1e-3                  # the term is not negligible

    assert model.evaluate(x, y, batch_size=10, verbose=0) == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_ch28_l2_pulls_the_weights_towards_zero():
    from fastnn.optimizers import SGD

    model = ch29_model()
    kernel = model.layers[1].get_weights()[0]
    model.compile(SGD(lr=0.1), loss='sparse_categorical_crossentropy')
    # with inputs of 0 the data term has no gradient for this kernel: only the penalty
    model.fit(np.zeros(10), np.zeros(10, int), batch_size=10, epochs=1, verbose=0)
    np.testing.assert_allclose(model.layers[1].get_weights()[0], kernel * (1 - 0.1 * 2 * 0.01),
                               rtol=1e-5, atol=1e-7)


# ---- chapter 30: fine-tuning (pop, freeze, add) ----------------------------------------------------


def test_ch30_fine_tuning_pop_freeze_add():
    from fastnn.models import Sequential
    from fastnn.layers import Dense
    from fastnn.optimizers import Adam

    # a network trained on the original task
    model = Sequential([
        Dense(16, input_shape=(1,), activation='relu'),
        Dense(32, activation='relu'),
        Dense(2, activation='sigmoid')
    ])
    model.compile(Adam(lr=0.01), loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    x = np.linspace(0, 1, 40)
    model.fit(x, (x < 0.5).astype(int), batch_size=10, epochs=2, verbose=0)

    # remove the last layer, freeze the others, add a new output layer
    model.pop()
    for layer in model.layers:
        layer.trainable = False
    model.add(Dense(3, activation='softmax'))
    frozen = [layer.get_weights() for layer in model.layers[:2]]
    new_head = model.layers[2].get_weights()

    lines = summary_of(model)
    assert lines[-4:-1] == ["Total params: 675", "Trainable params: 99",
                            "Non-trainable params: 576"]     # 32 + 544 frozen, 32·3 + 3 new
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 4

    # train on the new task: only the new layer learns
    model.compile(Adam(lr=0.01), loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x, (x * 3).astype(int).clip(0, 2), batch_size=10, epochs=3, verbose=0)
    for layer, before in zip(model.layers[:2], frozen):
        for after, was in zip(layer.get_weights(), before):
            np.testing.assert_array_equal(after, was)
    assert not np.array_equal(model.layers[2].get_weights()[0], new_head[0])


# ---- chapter 31.4: batch norm in Keras --------------------------------------------------------------

CH31_SUMMARY = """
Model: "sequential"
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
dense (Dense)                (None, 1, 16)             96
_________________________________________________________________
dense_1 (Dense)              (None, 1, 32)             544
_________________________________________________________________
batch_normalization (BatchNo (None, 1, 32)             4
_________________________________________________________________
dense_2 (Dense)              (None, 1, 2)              66
=================================================================
Total params: 710
Trainable params: 708
Non-trainable params: 2
_________________________________________________________________
"""


def test_ch31_batch_norm_in_keras():
    from fastnn.models import Sequential

    from fastnn.layers import Dense, Activation, BatchNormalization  # noqa: F401

    model = Sequential([

        Dense(16, input_shape=(1,5), activation = 'relu'),

        Dense(32, activation = 'relu'),

        BatchNormalization(axis=1),

        Dense(2, activation = 'softmax')

    ])

    assert_summary(model, CH31_SUMMARY)
    # axis=1 has size 1: one gamma, beta, moving mean and variance, stats over batch and 32 units
    gamma, beta, mean, variance = model.layers[2].get_weights()
    assert gamma.tolist() == [1] and beta.tolist() == [0]
    assert mean.tolist() == [0] and variance.tolist() == [1]

    # and it trains: inputs (N, 1, 5), one label per sample
    from fastnn.optimizers import Adam
    model.compile(Adam(lr=0.01), loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    x = np.random.default_rng(0).uniform(size=(40, 1, 5))
    y = (x[:, 0, 0] > 0.5).astype(int).reshape(40, 1)
    history = model.fit(x, y, batch_size=10, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    moved = model.layers[2].get_weights()
    assert moved[2][0] != 0 and moved[3][0] != 1          # moving stats were updated
    assert model.predict(x).shape == (40, 1, 2)
