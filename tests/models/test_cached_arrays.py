"""Training and inference take their arrays from the block cache (fastnn.memory).

fit, evaluate, predict and the *_on_batch three run inside
``cached_arrays()``: their big arrays and the kernels' scratch come back
from the cache batch after batch (in the steady state no step asks the C
library for a big block), the allocator NumPy had is back afterwards, also
after an exception, and nothing the model computes depends on where its
memory came from -- the same seed trains the same weights, bit for bit,
with the cache and with caching turned off, and a thread predicting while
another trains gets the predictions it gets alone.
"""
import threading

import numpy as np
import pytest

from fastnn import memory
from fastnn.callbacks import Callback
from fastnn.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

try:
    from numpy._core.multiarray import get_handler_name  # NumPy 2
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import get_handler_name

pytestmark = pytest.mark.native


def cnn(seed):
    """Big enough that activations, gradients and scratch pass the cache's threshold."""
    set_random_seed(seed)
    model = Sequential([Conv2D(32, 3, padding="same", activation="relu", input_shape=(16, 16, 3)),
                        BatchNormalization(),
                        Conv2D(64, 3, padding="same", activation="relu"),
                        MaxPooling2D(),
                        Dropout(0.25),
                        Flatten(),
                        Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(samples=96):
    rng = np.random.default_rng(1)
    return (rng.random((samples, 16, 16, 3), dtype=np.float32),
            rng.integers(0, 10, samples))


@pytest.fixture
def cache_on():
    """A limit of 1 GiB (the default is 0 in the AddressSanitizer build), the default after."""
    limit = memory.stats()["limit_bytes"]
    memory.set_cache_limit(1 << 30)
    yield
    memory.set_cache_limit(limit)


def trained_weights(seed):
    x, y = data()
    model = cnn(seed)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    model.train_on_batch(x[:32], y[:32])
    return model.get_weights()


def test_training_is_bit_identical_with_and_without_the_cache(cache_on):
    memory.set_cache_limit(0)
    without = trained_weights(seed=3)
    memory.set_cache_limit(1 << 30)
    trained_weights(seed=4)  # leaves blocks full of its own numbers in the cache
    before = memory.stats()
    cached = trained_weights(seed=3)
    assert memory.stats()["hits"] > before["hits"]
    for a, b in zip(cached, without):
        np.testing.assert_array_equal(a, b)


def test_steady_state_steps_take_every_big_block_from_the_cache(cache_on):
    x, y = data(32)
    model = cnn(0)
    for _ in range(3):
        model.train_on_batch(x, y)
    before = memory.stats()
    for _ in range(3):
        model.train_on_batch(x, y)
    after = memory.stats()
    assert after["misses"] == before["misses"]
    assert after["hits"] - before["hits"] >= 3 * 10


class HandlerDuringTraining(Callback):
    def __init__(self, fail=False):
        super().__init__()
        self.names, self.fail = [], fail

    def on_train_batch_end(self, batch, logs=None):
        self.names.append(get_handler_name())
        if self.fail:
            raise RuntimeError("stop")


def test_the_calls_install_the_cache_and_restore_numpys_allocator():
    x, y = data(64)
    model = cnn(0)
    seen = HandlerDuringTraining()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[seen])
    assert seen.names == ["fastnn_block_cache"] * 2
    assert get_handler_name() == "default_allocator"
    assert get_handler_name(model.predict(x)) == "fastnn_block_cache"
    assert get_handler_name() == "default_allocator"
    with pytest.raises(RuntimeError, match="stop"):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0,
                  callbacks=[HandlerDuringTraining(fail=True)])
    assert get_handler_name() == "default_allocator"


def test_a_thread_predicts_while_another_trains():
    x, y = data()
    predictor = cnn(5)
    expected = predictor.predict(x, batch_size=32)
    trainer = cnn(6)
    results, errors = [], []

    def predict():
        try:
            for _ in range(6):
                results.append(predictor.predict(x, batch_size=32))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=predict)
    thread.start()
    trainer.fit(x, y, batch_size=16, epochs=2, verbose=0)
    thread.join()
    assert not errors
    assert len(results) == 6
    for result in results:
        np.testing.assert_array_equal(result, expected)
