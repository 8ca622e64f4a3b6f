"""``set_random_seed`` makes training bit-for-bit repeatable, with 1 thread and with 2.

Everything random (initial weights, dropout masks, the shuffle of each epoch)
comes from the generator ``set_random_seed`` restarts.  The parallel kernels
split their work between threads by fixed ranges and add per-thread partial
sums in thread order, so a fixed thread count gives the same bits every run.
The problems are big enough that every kernel really runs on 2 threads
(batch 64 of 16x16 images, 16 and 32 channels: the convolutions are
~10^8 multiply-adds per call, far above the ~2·10^5 a thread needs).
"""
import numpy as np
import pytest

from fastnn.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.optimizers import SGD, Adam
from fastnn.runtime import get_num_threads, set_num_threads
from fastnn.utils import set_random_seed

pytestmark = pytest.mark.native

SAMPLES, SIZE, CLASSES = 192, 16, 4


def cnn():
    return Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(SIZE, SIZE, 3)),
        BatchNormalization(),
        Conv2D(32, 3, padding="same", activation="relu"),
        MaxPooling2D(),
        Dropout(0.25),
        Flatten(),
        Dense(CLASSES, activation="softmax"),
    ])


def dense_only():
    return Sequential([
        Dense(256, activation="relu", input_shape=(SIZE * SIZE * 3,)),
        Dropout(0.2),
        Dense(128, activation="relu"),
        Dense(CLASSES, activation="softmax"),
    ])


MODELS = {"cnn": cnn, "dense": dense_only}


def synthetic_data():
    """Fixed images and labels, drawn from their own generator (not fastnn's)."""
    rng = np.random.default_rng(2024)
    x = rng.uniform(0, 1, (SAMPLES, SIZE, SIZE, 3)).astype(np.float32)
    y = rng.integers(0, CLASSES, SAMPLES)
    return x, y


def train(build, threads, seed):
    """Weights and History of 2 epochs of Adam with shuffling and validation."""
    set_num_threads(threads)
    set_random_seed(seed)
    model = build()
    x, y = synthetic_data()
    if build is dense_only:
        x = x.reshape(SAMPLES, -1)
    model.compile(optimizer=Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=64, epochs=2, shuffle=True,
                        validation_split=0.25, verbose=0)
    return model.get_weights(), history.history


def assert_bit_identical(first, second):
    weights_a, history_a = first
    weights_b, history_b = second
    assert len(weights_a) == len(weights_b)
    for a, b in zip(weights_a, weights_b):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    assert history_a == history_b   # exact float equality, key by key


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_same_seed_same_bits(model, threads, restore_threads):
    if threads > 1:
        set_num_threads(threads)
        if get_num_threads() < threads:
            pytest.skip("built without OpenMP: the kernels run on one thread")
    first = train(MODELS[model], threads, seed=7)
    second = train(MODELS[model], threads, seed=7)
    assert set(first[1]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in first[1].values())
    assert_bit_identical(first, second)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_another_seed_trains_differently(model, restore_threads):
    """The comparison above is sharp: a different seed changes the weights."""
    first_weights, _ = train(MODELS[model], 1, seed=7)
    other_weights, _ = train(MODELS[model], 1, seed=8)
    assert any(a.tobytes() != b.tobytes() for a, b in zip(first_weights, other_weights))


# ---- 1 thread and 2 threads train to the same bits ------------------------------------
#
# Bit-for-bit the same on any thread count, not only run to run: every sum a
# kernel splits between threads is split into parts fixed by the problem
# size.  The models are the course's, at sizes where the kernels do split
# (28x28 images, batches of 33 and 65, the last batch of an epoch shorter):
# the first Dense layer's matrix products and its 100,352-weight Adam step;
# the first Conv2D's weight gradient through the max pool (3·10⁷ operations
# per batch of 65) and BatchNormalization over 65·13·13 rows of 32 channels.

COURSE_SAMPLES, COURSE_SIZE, COURSE_CLASSES = 288, 28, 10


def course_mlp():
    return Sequential([
        Dense(128, activation="relu", input_shape=(COURSE_SIZE * COURSE_SIZE,)),
        Dropout(0.2),
        Dense(COURSE_CLASSES, activation="softmax"),
    ])


def course_cnn():
    return Sequential([
        Conv2D(32, 3, activation="relu", input_shape=(COURSE_SIZE, COURSE_SIZE, 1)),
        MaxPooling2D(),
        BatchNormalization(),
        Flatten(),
        Dense(COURSE_CLASSES, activation="softmax"),
    ])


COURSE_RUNS = {  # model, optimizer, batch size
    "mlp-adam": (course_mlp, lambda: Adam(1e-3), 33),
    "cnn-sgd-momentum": (course_cnn, lambda: SGD(0.01, momentum=0.9), 65),
    "cnn-adam": (course_cnn, lambda: Adam(1e-3), 65),
}


def train_course_model(run, threads):
    """Weights and History of 2 epochs on fixed 28x28 images, on ``threads`` threads."""
    build, optimizer, batch_size = COURSE_RUNS[run]
    set_num_threads(threads)
    set_random_seed(11)
    model = build()
    rng = np.random.default_rng(28)
    x = rng.uniform(0, 1, (COURSE_SAMPLES,) + model.input_shape[1:]).astype(np.float32)
    y = rng.integers(0, COURSE_CLASSES, COURSE_SAMPLES)
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=True,
                        validation_split=0.2, verbose=0)
    return model.get_weights(), history.history


@pytest.mark.parametrize("run", sorted(COURSE_RUNS))
def test_one_and_two_threads_train_to_the_same_bits(run, restore_threads):
    set_num_threads(2)
    if get_num_threads() < 2:
        pytest.skip("built without OpenMP: the kernels run on one thread")
    one, two = train_course_model(run, 1), train_course_model(run, 2)
    assert all(len(values) == 2 for values in one[1].values())
    assert_bit_identical(one, two)
