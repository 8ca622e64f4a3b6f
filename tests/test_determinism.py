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
from fastnn.optimizers import Adam
from fastnn.runtime import get_num_threads, set_num_threads
from fastnn.utils import set_random_seed

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
