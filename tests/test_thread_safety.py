"""Several Python threads may call ``predict`` on one model at once.

Inference keeps everything it computes in local variables (what a layer
caches for ``backward`` is written, never read back, in the forward pass),
and the C kernels allocate their scratch per call (csrc/ has no static
buffers), so concurrent calls cannot see each other's data.  The kernels
release the GIL while C runs: other Python threads keep working during a
long convolution.
"""
import threading
import time

import numpy as np
import pytest

from fastnn import kernels
from fastnn.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                           MaxPooling2D, UpSampling2D)
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

THREADS, ROUNDS = 8, 8


def cnn():
    return Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(12, 12, 3)),
        BatchNormalization(),
        Conv2D(16, 3, activation="tanh"),
        UpSampling2D(interpolation="bilinear"),
        MaxPooling2D(),
        Dropout(0.5),
        Flatten(),
        Dense(32, activation="relu"),
        Dense(5, activation="softmax"),
    ])


def dense_only():
    return Sequential([
        Dense(64, activation="relu", input_shape=(40,)),
        BatchNormalization(),
        Dense(32, activation="tanh"),
        Dense(5, activation="softmax"),
    ])


def trained(build):
    """A model whose BatchNormalization statistics are no longer the defaults."""
    set_random_seed(3)
    model = build()
    shape = (64,) + model.input_shape[1:]
    rng = np.random.default_rng(0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(rng.normal(size=shape).astype(np.float32), rng.integers(0, 5, 64),
              epochs=1, batch_size=16, verbose=0)
    return model


def run_in_threads(work, count):
    """Call ``work(i)`` in ``count`` threads started together; re-raise any error."""
    barrier = threading.Barrier(count)
    errors = []

    def target(i):
        try:
            barrier.wait()
            work(i)
        except BaseException as err:  # collected and re-raised in the caller
            errors.append(err)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("build", [cnn, dense_only], ids=["cnn", "dense"])
def test_concurrent_predict_equals_single_threaded(build):
    """While one thread is inside a kernel (GIL released) others run theirs:
    a kernel or layer writing into one shared buffer fails this test (an
    injected shared output buffer in Dense's matmul spoilt 7-39 of 96 calls)."""
    model = trained(build)
    rng = np.random.default_rng(1)
    # a different input per thread, and lengths that end in a partial batch
    inputs = [rng.normal(size=(20 + 7 * i,) + model.input_shape[1:]).astype(np.float32)
              for i in range(THREADS)]
    expected = [model.predict(x, batch_size=16) for x in inputs]
    mismatches = []

    def work(i):
        for _ in range(ROUNDS):
            got = model.predict(inputs[i], batch_size=16)
            if got.tobytes() != expected[i].tobytes():
                mismatches.append(i)

    run_in_threads(work, THREADS)
    assert mismatches == []
    # the threads must not have disturbed the model either
    for x, want in zip(inputs, expected):
        assert model.predict(x, batch_size=16).tobytes() == want.tobytes()


def longest_pause_of_other_thread(call):
    """Run ``call()`` while another Python thread keeps looping; return how
    long ``call`` took and the longest stretch of that time in which the
    other thread got no turn.  A C call that holds the GIL stops the other
    thread for its whole duration."""
    running, done = threading.Event(), threading.Event()
    start = []
    pauses = []

    def watcher():
        running.wait()
        last, longest = start[0], 0.0
        while not done.is_set():
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
        pauses.append(max(longest, time.perf_counter() - last))

    thread = threading.Thread(target=watcher)
    thread.start()
    start.append(time.perf_counter())
    running.set()
    call()
    elapsed = time.perf_counter() - start[0]
    done.set()
    thread.join()
    return elapsed, pauses[0]


def test_kernels_release_the_gil(restore_threads):
    from fastnn.runtime import set_num_threads

    set_num_threads(1)   # leaves a core for the looping thread
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (32, 48, 48, 32)).astype(np.float32)
    w = rng.uniform(-1, 1, (5, 5, 32, 32)).astype(np.float32)
    kernels.conv2d(x, w, padding="same")   # warm-up
    elapsed, pause = longest_pause_of_other_thread(
        lambda: [kernels.conv2d(x, w, padding="same") for _ in range(3)])
    assert pause < 0.5 * elapsed, (pause, elapsed)

    # the measurement can fail: sorting a list runs in C holding the GIL
    values = rng.integers(0, 2**30, 1_000_000).tolist()
    elapsed, pause = longest_pause_of_other_thread(lambda: sorted(values))
    assert pause > 0.5 * elapsed, (pause, elapsed)
