"""Threads: several may call ``predict`` on one model at once, and one may
``predict`` while another ``fit``s it.

Inference keeps everything it computes in local variables, and the C
kernels allocate their scratch per call (csrc/ has no static buffers), so
concurrent calls cannot see each other's data.  What a layer's forward pass
caches for its backward pass is kept per thread (``BackwardCache``, see
fastnn/layers/backward_cache.py): a predict between a training step's forward
and backward passes cannot replace the step's activations.  The kernels
release the GIL while C runs: other Python threads keep working during a
long convolution.
"""
import copy
import pickle
import sys
import threading
import time

import numpy as np
import pytest

from fastnn import kernels, layers, random
from fastnn.callbacks import Callback
from fastnn.layers import (GRU, LSTM, Activation, AveragePooling2D, BatchNormalization, Conv2D,
                           Conv2DTranspose, Dense, Dropout, Flatten, InputLayer, Layer,
                           MaxPooling2D, RandomBrightness, RandomContrast, RandomCrop,
                           RandomFlip, RandomRotation, RandomTranslation, RandomZoom, Reshape,
                           SimpleRNN, UpSampling2D)
from fastnn.models import Sequential
from fastnn.utils import set_random_seed

pytestmark = pytest.mark.native

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


# ---- predict in one thread while fit trains in another ------------------------

FIT_SAMPLES, FIT_CLASSES, FIT_BATCH, FIT_EPOCHS = 128, 4, 16, 8
PREDICT_SAMPLES = 40
# the fit's batch size and others: a cache written by a predict of another batch
# size breaks the shapes of fit's backward pass, one of the same size its numbers
PREDICT_BATCHES = (16, 5, 33, 40)
JOIN_TIMEOUT = 120.0   # seconds: a hang fails the test instead of the run


def fit_cnn():
    return Sequential([
        Conv2D(8, 3, activation="relu", input_shape=(10, 10, 3)),
        MaxPooling2D(),
        Dropout(0.3),
        BatchNormalization(),
        Conv2D(8, 3, padding="same", activation="tanh"),
        Flatten(),
        Dense(FIT_CLASSES, activation="softmax"),
    ])


def fit_mlp():
    return Sequential([
        Dense(128, activation="relu", input_shape=(64,)),
        Dropout(0.2),
        Dense(64, activation="tanh"),
        Dense(FIT_CLASSES, activation="softmax"),
    ])


FIT_MODELS = {"cnn": fit_cnn, "mlp": fit_mlp}


class AfterPredicts(Callback):
    """Begins batch k of the first epoch only once k + 1 predicts have
    finished (for k up to ``count``): predicts of every batch size surely
    run while fit does (the later steps overlap whichever predicts are
    running).  It only waits, never longer than the predicting thread runs;
    it does not change what fit computes."""

    def __init__(self, predictions, count, predicting_ended):
        super().__init__()
        self.predictions, self.count, self.epoch = predictions, count, None
        self.predicting_ended = predicting_ended

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        deadline = time.monotonic() + JOIN_TIMEOUT
        while (self.epoch == 0 and batch <= self.count and len(self.predictions) <= batch
               and time.monotonic() < deadline):
            if self.predicting_ended.wait(1e-4):
                break


def fit_run(build, predict_meanwhile):
    """Weights after fitting ``build()`` (seeded, shuffle=False), and the
    predictions another thread made meanwhile (with ``predict_meanwhile``):
    it predicts in a loop until the fit has returned."""
    set_random_seed(11)   # initial weights and Dropout's masks
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(5)
    shape = model.input_shape[1:]
    x = rng.uniform(-1, 1, (FIT_SAMPLES,) + shape).astype(np.float32)
    y = rng.integers(0, FIT_CLASSES, FIT_SAMPLES)
    x_predict = rng.uniform(-1, 1, (PREDICT_SAMPLES,) + shape).astype(np.float32)

    def fit(callbacks=None):
        model.fit(x, y, batch_size=FIT_BATCH, epochs=FIT_EPOCHS, shuffle=False, verbose=0,
                  callbacks=callbacks)

    if not predict_meanwhile:
        fit()
        return model.get_weights(), []
    fit_done, predicting_ended = threading.Event(), threading.Event()
    predictions, errors = [], []

    def predict_loop():
        try:
            while not fit_done.is_set():
                batch_size = PREDICT_BATCHES[len(predictions) % len(PREDICT_BATCHES)]
                predictions.append(model.predict(x_predict, batch_size=batch_size))
        except BaseException as err:  # re-raised in the test
            errors.append(err)
        finally:
            predicting_ended.set()

    def fit_with_predicts():
        try:
            fit([AfterPredicts(predictions, len(PREDICT_BATCHES), predicting_ended)])
        except BaseException as err:  # re-raised in the test
            errors.append(err)
        finally:
            fit_done.set()

    threads = [threading.Thread(target=predict_loop), threading.Thread(target=fit_with_predicts)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)   # hand the GIL over often: predicts land inside the steps
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(JOIN_TIMEOUT)
    finally:
        sys.setswitchinterval(interval)
    assert not any(t.is_alive() for t in threads), "fit or predict hung"
    if errors:
        raise errors[0]
    return model.get_weights(), predictions


@pytest.fixture(scope="module", params=sorted(FIT_MODELS))
def fit_runs(request):
    """(weights alone, (weights, predictions) with predicts meanwhile) for one model."""
    build = FIT_MODELS[request.param]
    return fit_run(build, False), fit_run(build, True)


def test_predict_in_another_thread_does_not_change_what_fit_learns(fit_runs):
    (alone, _), (disturbed, predictions) = fit_runs
    # the predicts really overlapped the fit: each batch size at least once
    assert len(predictions) > len(PREDICT_BATCHES)
    assert len(alone) == len(disturbed)
    for a, b in zip(alone, disturbed):
        assert np.array_equal(a, b), f"weights differ by up to {np.abs(a - b).max()}"


def test_predicts_made_during_fit_are_whole_answers(fit_runs):
    """The weights change under them, so no exact value can be asked; but
    each answer must be a full, finite batch of probabilities."""
    _, (_, predictions) = fit_runs
    for p in predictions:
        assert p.shape == (PREDICT_SAMPLES, FIT_CLASSES) and p.dtype == np.float32
        assert np.isfinite(p).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


# ---- every layer: an inference forward in another thread between a training
# ---- step's forward and backward passes ----------------------------------------

IMAGES, OTHER_IMAGES = (3, 7, 8, 2), (2, 9, 6, 2)   # training batch, the other thread's
LAYER_CASES = [
    # (id, class, arguments, training input shape, other thread's input shape)
    ("dense_relu", Dense, {"units": 6, "activation": "relu"}, (8, 5), (3, 5)),   # fused ReLU
    ("dense_tanh", Dense, {"units": 6, "activation": "tanh"}, (8, 5), (3, 5)),
    ("dense_3d", Dense, {"units": 6}, (4, 3, 5), (2, 7, 5)),
    ("conv2d_relu", Conv2D, {"filters": 4, "kernel_size": 3, "activation": "relu"},
     IMAGES, OTHER_IMAGES),
    ("conv2d_strided", Conv2D, {"filters": 4, "kernel_size": 3, "strides": 2,
                                "padding": "same", "activation": "sigmoid"},
     IMAGES, OTHER_IMAGES),
    ("conv2d_transpose", Conv2DTranspose, {"filters": 3, "kernel_size": 3, "strides": 2,
                                           "activation": "relu"}, IMAGES, OTHER_IMAGES),
    ("max_pool", MaxPooling2D, {}, IMAGES, OTHER_IMAGES),
    ("avg_pool", AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same"},
     IMAGES, OTHER_IMAGES),
    ("batch_norm", BatchNormalization, {}, IMAGES, OTHER_IMAGES),
    ("batch_norm_axis1", BatchNormalization, {"axis": 1}, (6, 3, 5), (2, 3, 5)),
    ("dropout", Dropout, {"rate": 0.4}, (6, 10), (3, 10)),
    ("dropout_noise_shape", Dropout, {"rate": 0.4, "noise_shape": (None, 1, 1, 2)},
     IMAGES, OTHER_IMAGES),
    ("activation", Activation, {"activation": "tanh"}, (6, 10), (3, 10)),
    ("flatten", Flatten, {}, IMAGES, (2, 7, 8, 2)),
    ("reshape", Reshape, {"target_shape": (-1, 4)}, (3, 4, 6), (5, 4, 6)),
    ("upsampling_nearest", UpSampling2D, {}, IMAGES, OTHER_IMAGES),
    ("upsampling_bilinear", UpSampling2D, {"size": (2, 3), "interpolation": "bilinear"},
     IMAGES, OTHER_IMAGES),
    ("random_flip", RandomFlip, {"seed": 1}, IMAGES, OTHER_IMAGES),
    ("random_rotation", RandomRotation, {"factor": 0.2, "seed": 1}, IMAGES, OTHER_IMAGES),
    ("random_zoom", RandomZoom, {"height_factor": 0.3, "seed": 1}, IMAGES, OTHER_IMAGES),
    ("random_translation", RandomTranslation, {"height_factor": 0.2, "width_factor": 0.3,
                                               "seed": 1}, IMAGES, OTHER_IMAGES),
    ("random_crop", RandomCrop, {"height": 4, "width": 5, "seed": 1}, IMAGES, OTHER_IMAGES),
    ("random_brightness", RandomBrightness, {"factor": 0.4, "value_range": (-1, 1), "seed": 1},
     IMAGES, OTHER_IMAGES),
    ("random_contrast", RandomContrast, {"factor": 0.6, "value_range": (-1, 1), "seed": 1},
     IMAGES, OTHER_IMAGES),
    ("simple_rnn", SimpleRNN, {"units": 4, "return_sequences": True}, (3, 5, 2), (2, 7, 2)),
    ("lstm_dropout", LSTM, {"units": 4, "dropout": 0.3, "recurrent_dropout": 0.3, "seed": 1},
     (3, 5, 2), (2, 7, 2)),
    ("gru_backwards", GRU, {"units": 4, "go_backwards": True}, (3, 5, 2), (2, 7, 2)),
]
# 1-D and 3-D convolution and pooling, global pooling (issue 18)
SEQUENCES, OTHER_SEQUENCES = (3, 9, 2), (2, 7, 2)
VOLUMES, OTHER_VOLUMES = (2, 4, 5, 6, 2), (3, 5, 4, 4, 2)
LAYER_CASES += [
    ("conv1d_causal_relu", layers.Conv1D, {"filters": 3, "kernel_size": 3, "padding": "causal",
                                          "activation": "relu"}, SEQUENCES, OTHER_SEQUENCES),
    ("conv3d", layers.Conv3D, {"filters": 3, "kernel_size": 2, "strides": (2, 1, 1),
                               "padding": "same", "activation": "tanh"},
     VOLUMES, OTHER_VOLUMES),
    ("max_pool1d", layers.MaxPooling1D, {"pool_size": 3, "strides": 2}, SEQUENCES,
     OTHER_SEQUENCES),
    ("avg_pool1d", layers.AveragePooling1D, {"padding": "same"}, SEQUENCES, OTHER_SEQUENCES),
    ("max_pool3d", layers.MaxPooling3D, {"padding": "same"}, VOLUMES, OTHER_VOLUMES),
    ("avg_pool3d", layers.AveragePooling3D, {"pool_size": (1, 2, 2)}, VOLUMES, OTHER_VOLUMES),
    ("global_avg_pool1d", layers.GlobalAveragePooling1D, {}, SEQUENCES, OTHER_SEQUENCES),
    ("global_max_pool1d", layers.GlobalMaxPooling1D, {"keepdims": True}, SEQUENCES,
     OTHER_SEQUENCES),
    ("global_avg_pool2d", layers.GlobalAveragePooling2D, {"keepdims": True}, IMAGES,
     OTHER_IMAGES),
    ("global_max_pool2d", layers.GlobalMaxPooling2D, {}, IMAGES, OTHER_IMAGES),
    ("global_avg_pool3d", layers.GlobalAveragePooling3D, {}, VOLUMES, OTHER_VOLUMES),
    ("global_max_pool3d", layers.GlobalMaxPooling3D, {"keepdims": True}, VOLUMES,
     OTHER_VOLUMES),
]


def make_layer(cls, kwargs, shape):
    """A built layer; two calls give equal weights and equal random streams."""
    set_random_seed(4)
    layer = cls(**kwargs)
    layer.build((None,) + shape[1:])
    return layer


def uniform(seed, shape):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def gradients(layer, dy):
    """The backward pass's dL/dx and every weight gradient."""
    return [layer.backward(dy)] + [v.grad for v in layer.trainable_variables]


def state(layer):
    """What a training step relies on besides its caches: which objects the
    layer's attributes hold, the weights' values (moving statistics too), and
    the state of every random generator it may draw from."""
    attributes = {name: value for name, value in vars(layer).items()
                  if not isinstance(value, threading.local)}   # the per-thread caches
    generators = [value for value in attributes.values()
                  if isinstance(value, np.random.Generator)] + [random.generator()]
    return ({name: id(value) for name, value in attributes.items()},
            [v.value.copy() for v in layer.variables],
            [g.bit_generator.state for g in generators])


def assert_same_state(before, after):
    assert before[0] == after[0]
    assert all(np.array_equal(a, b) for a, b in zip(before[1], after[1]))
    assert before[2] == after[2]


def in_another_thread(call):
    results = []
    thread = threading.Thread(target=lambda: results.append(call()))
    thread.start()
    thread.join(JOIN_TIMEOUT)
    assert results, "the call in the other thread failed or hung"
    return results[0]


@pytest.mark.parametrize("name, cls, kwargs, shape, other_shape", LAYER_CASES,
                         ids=[case[0] for case in LAYER_CASES])
def test_inference_in_another_thread_leaves_the_backward_pass_alone(name, cls, kwargs, shape,
                                                                    other_shape):
    x, x_other = uniform(1, shape), uniform(2, other_shape)

    undisturbed = make_layer(cls, kwargs, shape)
    y = undisturbed.forward(x, training=True)
    dy = uniform(3, y.shape)
    expected = gradients(undisturbed, dy)

    layer = make_layer(cls, kwargs, shape)
    attributes = set(vars(layer))
    assert np.array_equal(layer.forward(x, training=True), y)
    # the training forward pass added no plain attribute: every cache is declared
    assert set(vars(layer)) - attributes <= {
        name for name, value in vars(layer).items() if isinstance(value, threading.local)}
    before = state(layer)
    answer = in_another_thread(lambda: layer.forward(x_other, training=False))
    assert_same_state(before, state(layer))
    got = gradients(layer, dy)

    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and np.array_equal(g, e)
    # the other thread's answer was a real inference, by the same weights
    assert np.array_equal(answer, undisturbed.forward(x_other, training=False))


def test_every_layer_class_is_tried():
    classes = {getattr(layers, name) for name in layers.__all__}
    layer_classes = {cls for cls in classes if isinstance(cls, type) and issubclass(cls, Layer)}
    # InputLayer only declares the input's shape: it never runs in a model
    assert layer_classes - {Layer, InputLayer} == {case[1] for case in LAYER_CASES}


def test_backward_in_a_thread_that_ran_no_forward_names_the_layer():
    layer = make_layer(Dense, {"units": 3, "name": "hidden"}, (4, 2))
    layer.forward(uniform(1, (4, 2)), training=True)
    errors = []

    def backward():
        try:
            layer.backward(uniform(2, (4, 3)))
        except AttributeError as err:
            errors.append(str(err))
        return True

    in_another_thread(backward)
    assert len(errors) == 1
    assert errors[0].startswith("layer 'hidden' (Dense) has no _")
    assert "cached in this thread: call backward in the thread that ran forward" in errors[0]


# ---- copies: a threading.local cannot be copied; a copy starts with empty caches

COPIES = {"copy": copy.copy, "deepcopy": copy.deepcopy,
          "pickle": lambda layer: pickle.loads(pickle.dumps(layer))}


@pytest.mark.parametrize("how", sorted(COPIES))
def test_a_copied_layer_has_its_own_empty_caches(how):
    x, dy = uniform(1, IMAGES), uniform(2, (3, 5, 6, 4))
    layer = make_layer(Conv2D, {"filters": 4, "kernel_size": 3, "activation": "tanh"}, IMAGES)
    layer.forward(x, training=True)
    twin = COPIES[how](layer)
    assert [w.tobytes() for w in twin.get_weights()] == [
        w.tobytes() for w in layer.get_weights()]
    with pytest.raises(AttributeError, match="cached in this thread"):
        twin.backward(dy)
    # the copy's own step does not touch the original's caches
    twin.forward(uniform(3, (2, 6, 6, 2)), training=True)
    twin.backward(uniform(4, (2, 4, 4, 4)))
    reference = make_layer(Conv2D, {"filters": 4, "kernel_size": 3, "activation": "tanh"},
                           IMAGES)
    reference.forward(x, training=True)
    assert all(np.array_equal(a, b)
               for a, b in zip(gradients(layer, dy), gradients(reference, dy)))


def test_a_deep_copy_of_a_fitted_model_trains_on_its_own():
    """A user keeping the best model in memory: ``copy.deepcopy(model)``."""
    set_random_seed(2)
    model = fit_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = uniform(1, (32, 10, 10, 3))
    y = np.arange(32) % FIT_CLASSES
    model.fit(x, y, batch_size=8, verbose=0, shuffle=False)
    twin = copy.deepcopy(model)
    weights = model.get_weights()
    twin.fit(x, y, batch_size=8, verbose=0, shuffle=False)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))
    assert not all(np.array_equal(a, b) for a, b in zip(twin.get_weights(), weights))
