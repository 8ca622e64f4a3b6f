"""Faults (issue 6): interrupted training, processes killed mid-write, hostile files, NaN
losses and gradient clipping.

- Ctrl+C / KeyboardInterrupt during fit: compared bit for bit with a twin run that stopped
  cleanly (``stop_training``) at the same batch and then trained on identically.
- SIGKILL: a subprocess saves a big model (model.save, save_weights, ModelCheckpoint) or
  downloads a dataset and is killed at points of the write that it reports itself (and
  waits at); the file on disk must then be exactly the version written completely.
- Loading truncated, tampered, wrong-version, object-array and pickle-carrying files:
  a ValueError, and the pickle payload (which creates a marker file when unpickled -- a
  positive control shows it does) never runs.
- Paths that are not regular files (a directory, a FIFO, /dev/zero, /dev/null, a socket):
  a ValueError naming what they are, in a child process bounded in time and memory.
"""
import io
import json
import math
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile

import numpy as np
import pytest

from fastnn import optimizers
from fastnn.callbacks import Callback, TerminateOnNaN
from fastnn.layers import BatchNormalization, Dense, Dropout
from fastnn.models import Sequential, load_model
from fastnn.optimizers import SGD
from fastnn.utils import set_random_seed
from fastnn.variables import Variable

pytestmark = pytest.mark.usefixtures("fresh_session")

# ---- KeyboardInterrupt during fit -----------------------------------------------------------

BATCHES_PER_EPOCH = 5


@pytest.fixture(autouse=True)
def python_handles_ctrl_c():
    """Python's own SIGINT handler for each test, as in an interactive session,
    even when pytest runs as a background job (which starts with SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def classification_data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(8 * BATCHES_PER_EPOCH, 4)).astype(np.float32), rng.integers(0, 3, 40)


def small_model():
    """Every kind of state a step changes: weights, BatchNormalization statistics,
    Dropout's random draws, Adam's slots and step count."""
    set_random_seed(0)
    model = Sequential([Dense(6, input_shape=(4,), activation="relu"), BatchNormalization(),
                        Dropout(0.2), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class StopAfter(Callback):
    """Ends training cleanly after ``count`` batches (counted over all epochs)."""

    def __init__(self, count):
        super().__init__()
        self.count, self.seen = count, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.count:
            self.model.stop_training = True


class InterruptAfter(StopAfter):
    """Raises KeyboardInterrupt from on_train_batch_end, as a user's callback might."""

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.count:
            raise KeyboardInterrupt


def fit(model, callbacks=(), epochs=3):
    x, y = classification_data()
    return model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=list(callbacks))


def optimizer_state(model):
    return model.optimizer.state_arrays(model.trainable_variables)


def assert_same_arrays(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a, e)


def reference_after(batches):
    """A twin trained on the same batches and stopped cleanly: (model, its History)."""
    model = small_model()
    history = fit(model, [StopAfter(batches)])
    return model, history


def assert_usable_and_equal(model, reference):
    """Same state as ``reference``; predict, evaluate and a further fit agree bit for bit."""
    assert_same_arrays(model.get_weights(), reference.get_weights())
    assert_same_arrays(optimizer_state(model), optimizer_state(reference))
    assert all(np.isfinite(w).all() for w in model.get_weights())
    x, y = classification_data()
    np.testing.assert_array_equal(model.predict(x), reference.predict(x))
    assert model.evaluate(x, y, verbose=0) == reference.evaluate(x, y, verbose=0)
    for m in (model, reference):
        set_random_seed(7)
        fit(m, epochs=1)
    assert_same_arrays(model.get_weights(), reference.get_weights())
    assert len(model.history.epoch) == 1 and np.isfinite(model.history.history["loss"][0])


@pytest.mark.parametrize("batches", [1, BATCHES_PER_EPOCH, BATCHES_PER_EPOCH + 3])
def test_keyboard_interrupt_from_a_callback(batches):
    model = small_model()
    with pytest.raises(KeyboardInterrupt):
        fit(model, [InterruptAfter(batches)])
    reference, reference_history = reference_after(batches)
    # History (model.history, set at on_train_begin as in Keras) holds the epochs that
    # reached on_epoch_end: not the one interrupted, even in its last batch
    finished = (batches - 1) // BATCHES_PER_EPOCH
    history = model.history
    assert history.epoch == list(range(finished))
    assert set(history.history) == ({"loss", "accuracy"} if finished else set())
    for key, values in history.history.items():
        assert values == reference_history.history[key][:finished]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert_usable_and_equal(model, reference)


def interrupt_in_forward(layer, at_call, action):
    """Make ``layer``'s forward pass run ``action`` on its ``at_call``-th training call."""
    forward, calls = layer.forward, [0]

    def forward_with_fault(x, training=False):
        if training:
            calls[0] += 1
            if calls[0] == at_call:
                action()
        return forward(x, training=training)
    layer.forward = forward_with_fault


@pytest.mark.parametrize("batch", [1, 7])
def test_ctrl_c_in_the_middle_of_a_step_finishes_that_batch_then_stops(batch):
    """A real SIGINT, arriving while the last layer runs its forward pass (after
    BatchNormalization has updated its statistics): the step completes, then
    KeyboardInterrupt propagates -- as in Keras, where a step is one graph call."""
    model = small_model()
    interrupt_in_forward(model.layers[-1], batch, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        fit(model)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    reference, _ = reference_after(batch)
    assert_usable_and_equal(model, reference)


def test_keyboard_interrupt_raised_by_a_layer_leaves_trainable_weights_at_the_last_batch():
    """An exception raised by a layer itself (not a signal) stops the step where it is:
    no weight or optimizer slot has been updated yet.  Layers that already ran in this
    step keep what they did (BatchNormalization's moving statistics) -- documented."""
    model = small_model()
    def interrupt():
        raise KeyboardInterrupt
    interrupt_in_forward(model.layers[-1], 7, interrupt)
    with pytest.raises(KeyboardInterrupt):
        fit(model)
    reference, _ = reference_after(6)
    assert_same_arrays([v.value for v in model.trainable_variables],
                       [v.value for v in reference.trainable_variables])
    assert_same_arrays(optimizer_state(model), optimizer_state(reference))
    x, _ = classification_data()
    assert np.isfinite(model.predict(x)).all()
    assert model.history.epoch == [0]


def test_ctrl_c_between_steps_and_outside_fit_is_plain_python():
    """Outside a step (here: in a callback) Ctrl+C raises at once; fit run from another
    thread, which receives no signals, installs nothing."""
    model = small_model()

    class CtrlC(Callback):
        def on_epoch_end(self, epoch, logs=None):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)     # interrupted long before this ends
            raise AssertionError("SIGINT was deferred outside a training step")
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        fit(model, [CtrlC()])
    assert time.perf_counter() - started < 1.0
    assert model.history.epoch == []     # raised inside epoch 0's on_epoch_end

    errors = []
    thread = threading.Thread(target=lambda: errors.append(fit(model, epochs=1)))
    thread.start()
    thread.join()
    assert len(errors) == 1 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---- TerminateOnNaN in a real fit ----------------------------------------------------------

def test_terminate_on_nan_stops_fit_at_the_batch_with_the_nan(capsys):
    """A learning rate of 1e30 makes the weights overflow within a few batches."""
    set_random_seed(0)
    model = Sequential([Dense(4, input_shape=(3,)), Dense(1)])
    model.compile(SGD(learning_rate=1e30), "mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)).astype(np.float32), rng.normal(size=(64, 1))
    losses = []

    class Record(Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])     # running mean of the epoch so far, as in Keras
    with np.errstate(all="ignore"):
        history = model.fit(x, y, batch_size=4, epochs=5, verbose=0,
                            callbacks=[TerminateOnNaN(), Record()])
    bad = [i for i, loss in enumerate(losses) if not math.isfinite(loss)]
    assert bad and bad[0] == len(losses) - 1          # stopped at the first bad batch
    assert len(losses) < 5 * 16
    assert len(history.epoch) == bad[0] // 16 + 1      # the epoch it happened in is logged
    assert not math.isfinite(history.history["loss"][-1])
    assert f"Batch {bad[0] % 16}: Invalid loss, terminating training" in capsys.readouterr().out


# ---- clipnorm / clipvalue on every optimizer -----------------------------------------------

OPTIMIZERS = ["SGD", "RMSprop", "Adam", "Adadelta", "Adagrad", "Adamax", "Nadam"]


def keras_clip(grad, clipnorm=None, clipvalue=None):
    """Keras 2: clipnorm rescales each gradient array on its own to L2 norm <= clipnorm
    (tf.clip_by_norm); clipvalue then clips every element into [-clipvalue, clipvalue]."""
    g = grad.astype(np.float64)
    if clipnorm is not None:
        norm = math.sqrt(float(np.sum(g * g)))
        if norm > clipnorm:
            g = g * (clipnorm / norm)
    if clipvalue is not None:
        g = np.clip(g, -clipvalue, clipvalue)
    return g.astype(np.float32)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("clip", [{"clipnorm": 1.0}, {"clipvalue": 0.05},
                                  {"clipnorm": 0.5, "clipvalue": 0.2}])
def test_clipping_matches_the_keras_formula_on_every_optimizer(name, clip):
    """Optimizer(clip) fed raw gradients == Optimizer() fed hand-clipped gradients.
    One array has a large norm, one a small one: a global norm would treat them alike."""
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (3,)]
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    clipped_vars = [Variable(f"w{i}", w.copy()) for i, w in enumerate(start)]
    reference_vars = [Variable(f"w{i}", w.copy()) for i, w in enumerate(start)]
    with_clip = getattr(optimizers, name)(learning_rate=0.1, **clip)
    without = getattr(optimizers, name)(learning_rate=0.1)
    for step in range(4):
        grads = [rng.normal(size=shapes[0]).astype(np.float32) * 5.0,
                 rng.normal(size=shapes[1]).astype(np.float32) * 0.05]
        originals = [g.copy() for g in grads]
        with_clip.apply_gradients(list(zip(grads, clipped_vars)))
        without.apply_gradients([(keras_clip(g, **clip), v) for g, v in zip(grads, reference_vars)])
        assert_same_arrays(grads, originals)           # the caller's gradients are untouched
    for a, b, w0 in zip(clipped_vars, reference_vars, start):
        assert not np.array_equal(a.value, w0)
        np.testing.assert_allclose(a.value - w0, b.value - w0, rtol=1e-5, atol=1e-7)


def test_clipping_changes_the_update():
    """The reference above is not vacuous: the large gradient is really clipped."""
    w = Variable("w", np.zeros(2))
    SGD(learning_rate=1.0, clipnorm=1.0).apply_gradients([(np.array([3.0, 4.0], np.float32), w)])
    np.testing.assert_allclose(w.value, [-0.6, -0.8], rtol=1e-6)
    w = Variable("w", np.zeros(2))
    SGD(learning_rate=1.0, clipvalue=0.5).apply_gradients([(np.array([3.0, -0.1], np.float32), w)])
    np.testing.assert_allclose(w.value, [-0.5, 0.1], rtol=1e-6)


# ---- SIGKILL in the middle of a write ---------------------------------------------------------

# Each child stops at one point of its write that it reports itself ("at <point>") and waits
# there until the test kills it: every kill lands exactly where it is meant to, however
# loaded the machine.  (Killing after a sleep made "was the write still going?" a race.)
# The points are reached through fastnn.atomic_write's steps, which every save and download
# takes: a save that stopped writing atomically would never reach them, and fail the test.
PAUSE = textwrap.dedent("""
    import sys

    def say(*words):
        print(*words, flush=True)

    def pause(point):
        say("at", point)      # the test kills this process when it reads this line
        sys.stdin.readline()  # never answered: returns only if the test itself is gone
        sys.exit("the test stopped waiting")
""")

STOP_AT_SAVE = 2   # killed during the second save: one complete version was written before
SAVE_POINTS = ["opened", "half-written", "written", "renamed"]
WRITERS = ["save", "save_weights", "checkpoint"]

# The child announces each version *before* writing it ("begin <digest>") and confirms it
# after ("done").  Its save number STOP_AT_SAVE pauses at one point: the temporary file just
# opened (empty), holding its first megabyte, complete and fsynced but not yet renamed, or
# renamed onto the target before "done" is printed.
WRITER = PAUSE + textwrap.dedent("""
    import hashlib
    import numpy as np
    from fastnn import atomic_write
    from fastnn.callbacks import Callback, ModelCheckpoint
    from fastnn.layers import Dense
    from fastnn.models import Sequential

    mode, path, point, stop_at = sys.argv[1:]
    saves = 0
    open_temporary, commit = atomic_write.open_temporary, atomic_write.commit

    def stop_here(where):
        return saves == int(stop_at) and point == where

    class HalfWritten:   # the temporary file, pausing once its first megabyte is on disk
        def __init__(self, f):
            self.f, self.written = f, 0
        def write(self, data):
            n = self.f.write(data)
            self.written += n
            if self.written >= 1 << 20:
                self.f.flush()
                pause(point)
            return n
        def __getattr__(self, name):
            return getattr(self.f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def opening(folder):
        global saves
        saves += 1
        f, temporary = open_temporary(folder)
        if stop_here("opened"):
            pause(point)
        return (HalfWritten(f) if stop_here("half-written") else f), temporary

    def committing(temporary, target):
        if stop_here("written"):
            pause(point)
        commit(temporary, target)
        if stop_here("renamed"):
            pause(point)

    atomic_write.open_temporary, atomic_write.commit = opening, committing

    def digest(weights):
        return hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()

    model = Sequential([Dense(700, input_shape=(700,)), Dense(700)])
    model.compile("adam", "mse")
    if mode == "checkpoint":
        class Announce(Callback):
            def on_train_batch_end(self, batch, logs=None):
                say("begin", digest(self.model.get_weights()))
        class Confirm(Callback):
            def on_train_batch_end(self, batch, logs=None):
                say("done")
        x = np.random.default_rng(0).normal(size=(64, 700)).astype(np.float32)
        model.fit(x, x, batch_size=8, epochs=10**6, verbose=0,
                  callbacks=[Announce(), ModelCheckpoint(path, save_freq=1), Confirm()])
    for i in range(1, 10**6):
        model.set_weights([np.full(w.shape, i, np.float32) for w in model.get_weights()])
        say("begin", digest(model.get_weights()))
        model.save(path) if mode == "save" else model.save_weights(path)
        say("done")
""")


def start_child(script, *args):
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[1]),
               OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    return child, lines, reader


def kill_at(point, child, lines, reader):
    """SIGKILL ``child`` once it reports that it waits at ``point``; its exit code.  A
    child that exits first, or has not got there within 60 s, is ended too (and then
    its exit code, or its output without "at <point>", fails the test)."""
    deadline = time.monotonic() + 60
    while f"at {point}\n" not in lines and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join()
    child.stdout.close()
    child.stdin.close()
    return child.returncode


def weights_digest(weights):
    import hashlib
    return hashlib.sha256(b"".join(np.asarray(w, np.float32).tobytes()
                                   for w in weights)).hexdigest()


def stray_files(folder, expected):
    """Files besides ``expected``; every one must be an abandoned ``.fastnn-*.tmp``."""
    others = sorted(set(os.listdir(folder)) - set(expected))
    assert all(name.startswith(".fastnn-") and name.endswith(".tmp") for name in others), others
    return others


def test_sigkill_while_saving_never_damages_the_saved_file(tmp_path):
    """Each writer is killed at each point of its third save (the children run side by
    side).  Every time the file loads and holds exactly the version it must: the second
    one until the rename, the third one after it."""
    runs = []
    for mode in WRITERS:
        for point in SAVE_POINTS:
            folder = tmp_path / f"{mode}-{point}"
            folder.mkdir()
            runs.append((mode, point, folder, start_child(WRITER, mode, folder / "model.fnn",
                                                          point, STOP_AT_SAVE)))
    codes = [kill_at(point, *child) for _, point, _, child in runs]
    assert codes == [-signal.SIGKILL] * len(runs)

    for mode, point, folder, (_, lines, _) in runs:
        assert lines[-1] == f"at {point}\n", (mode, point, lines[-3:])
        begun = [line.split()[1] for line in lines if line.startswith("begin ")]
        assert (len(begun), lines.count("done\n")) == (STOP_AT_SAVE, STOP_AT_SAVE - 1)
        path = folder / "model.fnn"
        if mode == "save_weights":
            model = Sequential([Dense(700, input_shape=(700,)), Dense(700)])
            model.load_weights(path)
        else:
            model = load_model(path)
            assert model.optimizer is not None
        renamed = point == "renamed"
        assert weights_digest(model.get_weights()) == begun[-1 if renamed else -2], (mode, point)
        # the temporary file of the killed save stays behind until it is renamed
        strays = stray_files(folder, ["model.fnn"])
        assert len(strays) == (0 if renamed else 1), (mode, point, strays)
        if point == "half-written":
            assert 1 << 20 <= os.path.getsize(folder / strays[0]) < os.path.getsize(path)
        model.save_weights(path)                  # the leftovers do not disturb a new save
        assert stray_files(folder, ["model.fnn"]) == strays


DOWNLOAD_POINTS = ["fetching", "fetched", "one-moved", "all-moved"]

# The child downloads the missing files and pauses at one point: its first file half
# fetched, all fetched and verified but none moved into place, the first one moved, all
# moved (before download_files returns).
DOWNLOADER = PAUSE + textwrap.dedent("""
    import urllib.request
    from fastnn.datasets import _files

    url, folder, point = sys.argv[1:]
    opened, commit = urllib.request.urlopen, _files.commit
    moved = 0

    def fetching(url, timeout=None):
        response = opened(url, timeout=timeout)
        read, chunks = response.read, 0
        def read_and_pause(size=-1):
            nonlocal chunks
            chunks += 1
            if chunks == 2 and point == "fetching":   # the first chunk is in the file
                pause(point)
            return read(size)
        response.read = read_and_pause
        return response

    def committing(temporary, target):
        global moved
        if moved == 0 and point == "fetched":
            pause(point)
        commit(temporary, target)
        moved += 1
        if point == "one-moved" or (point == "all-moved" and moved == 3):
            pause(point)

    urllib.request.urlopen, _files.commit = fetching, committing
    _files.download_files(url, folder)
    say("done")
""")


def idx_gz(shape, rng):
    import gzip
    import struct
    header = struct.pack(">BBBB", 0, 0, 8, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return gzip.compress(header + rng.integers(0, 10, shape, dtype=np.uint8).tobytes(), 1)


def test_sigkill_while_downloading_leaves_only_complete_files(tmp_path):
    """Killed at each point of a download of the three missing files: the file already
    in the cache stays untouched, each of the four names is either absent or complete (the
    ones moved into place so far), and a second download finishes the set."""
    from fastnn.datasets import _files

    rng = np.random.default_rng(0)
    server = tmp_path / "server"
    server.mkdir()
    sizes = {"train-images-idx3-ubyte.gz": (2000, 28, 28), "train-labels-idx1-ubyte.gz": (2000,),
             "t10k-images-idx3-ubyte.gz": (1000, 28, 28), "t10k-labels-idx1-ubyte.gz": (1000,)}
    for name, shape in sizes.items():
        (server / name).write_bytes(idx_gz(shape, rng))
    url = server.as_uri()
    earlier = "train-labels-idx1-ubyte.gz"
    missing = [name for name in sizes if name != earlier]   # downloaded in this order
    runs = []
    for point in DOWNLOAD_POINTS:
        cache = tmp_path / f"cache-{point}"
        cache.mkdir()
        (cache / earlier).write_bytes((server / earlier).read_bytes())   # an earlier download
        runs.append((point, cache, start_child(DOWNLOADER, url, cache, point)))
    codes = [kill_at(point, *child) for point, _, child in runs]
    assert codes == [-signal.SIGKILL] * len(runs)

    for point, cache, (_, lines, _) in runs:
        assert lines == [f"at {point}\n"], (point, lines)
        moved = {"fetching": 0, "fetched": 0, "one-moved": 1, "all-moved": 3}[point]
        present = [name for name in sizes if (cache / name).exists()]
        assert sorted(present) == sorted([earlier] + missing[:moved]), point
        for name in present:
            assert (cache / name).read_bytes() == (server / name).read_bytes(), name
        strays = stray_files(cache, present)
        assert len(strays) == {"fetching": 1, "fetched": 3, "one-moved": 2, "all-moved": 0}[point]
        _files.download_files(url, cache)
        (x_train, y_train), (x_test, y_test) = _files._load_folder(cache)
        assert x_train.shape == (2000, 28, 28) and y_test.shape == (1000,)


# ---- hostile and damaged model files -------------------------------------------------------

class CreatesMarker:
    """Unpickling this object creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __reduce__(self):
        return pathlib.Path.touch, (self.path,)


def saved_model(tmp_path):
    model = Sequential([Dense(3, input_shape=(2,), activation="relu"), BatchNormalization(),
                        Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "m.fnn"
    model.save(path)
    return model, path


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def npy(array):
    f = io.BytesIO()
    np.save(f, array, allow_pickle=True)
    return f.getvalue()


def write_members(path, content, compression=zipfile.ZIP_STORED):
    """A valid zip (correct checksums) holding ``content``: tampering done right."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in content.items():
            archive.writestr(name, data)
    return path


def replaced(path, out, **changes):
    content = members(path)
    content.update({f"{key}.npy": npy(value) if isinstance(value, np.ndarray) else value
                    for key, value in changes.items()})
    return write_members(out, content)


def config_of(path):
    return json.loads(np.load(io.BytesIO(members(path)["model_config.npy"])).tobytes())


def with_config(path, out, change):
    config = config_of(path)
    change(config)
    return replaced(path, out, model_config=np.frombuffer(json.dumps(config).encode(), np.uint8))


def loaders():
    """load_model, and load_weights into a fresh model of the right architecture."""
    def load_weights(path):
        Sequential([Dense(3, input_shape=(2,), activation="relu"), BatchNormalization(),
                    Dense(2, activation="softmax")]).load_weights(path)
    return [load_model, load_weights]


def test_every_truncation_raises_value_error(tmp_path):
    _, path = saved_model(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.fnn"
    for length in range(0, len(data), 11):
        cut.write_bytes(data[:length])
        for load in loaders():
            with pytest.raises(ValueError, match="cut.fnn"):
                load(cut)


@pytest.mark.parametrize("member", ["weight_00000", "model_config", "fastnn_format",
                                    "optimizer_00001"])
def test_a_pickle_payload_is_refused_and_never_runs(tmp_path, member):
    _, path = saved_model(tmp_path)
    marker = tmp_path / "pwned"
    payload = np.array([CreatesMarker(marker)], dtype=object)
    evil = replaced(path, tmp_path / "evil.fnn", **{member: payload})
    # positive control: NumPy with pickles allowed really runs the payload
    with np.load(evil, allow_pickle=True) as archive:
        archive[member]
    assert marker.exists()
    marker.unlink()
    for load in loaders():
        with pytest.raises(ValueError, match="Python objects"):
            load(evil)
        assert not marker.exists()


@pytest.mark.parametrize("array", [np.array(["a", "b"]), np.array([b"x"]),
                                   np.zeros(2, [("a", "f4"), ("b", "i4")]),
                                   np.array([1 + 2j]), np.array([None, 1], dtype=object)])
def test_non_numeric_arrays_are_refused(tmp_path, array):
    _, path = saved_model(tmp_path)
    for load in loaders():
        with pytest.raises(ValueError, match="dtype|Python objects"):
            load(replaced(path, tmp_path / "odd.fnn", weight_00000=array))


@pytest.mark.parametrize("version, message", [
    (np.array(2), "version 2"), (np.array(0), "version 0"), (np.array(1.0), "one integer"),
    (np.array([1, 1]), "one integer"), (np.array(2**40), "version 1099511627776")])
def test_another_format_version_is_refused(tmp_path, version, message):
    _, path = saved_model(tmp_path)
    for load in loaders():
        with pytest.raises(ValueError, match=message):
            load(replaced(path, tmp_path / "v.fnn", fastnn_format=version))


def test_a_replaced_member_is_checked_like_any_other(tmp_path):
    """Members swapped for well-formed arrays that do not fit: clear messages."""
    model, path = saved_model(tmp_path)
    out = tmp_path / "swapped.fnn"
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(5, 5\)"):
        load_model(replaced(path, out, weight_00000=np.ones((5, 5), np.float32)))
    with pytest.raises(ValueError, match="not valid JSON|Expecting|JSON"):
        load_model(replaced(path, out, model_config=np.frombuffer(b"[1, 2", np.uint8)))
    with pytest.raises(ValueError, match="uint8"):
        load_model(replaced(path, out, model_config=np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="model description"):
        load_model(replaced(path, out, model_config=np.frombuffer(b"[" * 100000, np.uint8)))
    with pytest.raises(ValueError, match="unexpected member"):
        load_model(write_members(out, {**members(path), "script.py": b"print(1)"}))
    with pytest.raises(ValueError, match="compressed"):
        load_model(write_members(out, members(path), zipfile.ZIP_DEFLATED))
    # and an intact copy made the same way loads: the checks above are not blanket refusals
    again = load_model(write_members(out, members(path)))
    assert_same_arrays(again.get_weights(), model.get_weights())


def lying_header(shape):
    """A .npy member whose header declares ``shape`` but which holds 4 float32s."""
    data = npy(np.zeros(4, np.float32))
    header = data[:data.index(b"\n") + 1].decode("latin1")
    declared = header.replace("(4,)", repr(tuple(shape))).rstrip("\n ")
    padded = declared + " " * (len(header) - 1 - len(declared)) + "\n"
    assert len(padded) == len(header)
    return padded.encode("latin1") + data[len(header):]


@pytest.mark.parametrize("shape", [(10**12,), (2**62, 2**62), (1, 3)])
def test_a_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path, shape):
    _, path = saved_model(tmp_path)
    for load in loaders():
        with pytest.raises(ValueError, match="header declares shape"):
            load(replaced(path, tmp_path / "big.fnn", weight_00000=lying_header(shape)))


@pytest.mark.parametrize("change, message", [
    (lambda c: c["layers"][0]["config"].update(units=10**12), r"\(2, 1000000000000\)"),
    (lambda c: c["layers"][0]["config"].update(batch_input_shape=[None, 10**12]),
     r"\(1000000000000, 3\)"),
    (lambda c: c.update(build_input_shape=[None, 10**9]), r"\(None, 1000000000\)"),
    (lambda c: c["layers"][2]["config"].update(units=2**40), r"\(3, 1099511627776\)"),
    (lambda c: c["layers"][1]["config"].update(axis=[1, 1, 1]), "axis"),
])
def test_an_enormous_layer_in_the_config_is_refused_before_allocating(tmp_path, change, message):
    """What the config asks for is checked against the stored weights before any
    weight is created: ValueError naming the layer and both shapes, no MemoryError."""
    _, path = saved_model(tmp_path)
    with pytest.raises(ValueError, match=message):
        load_model(with_config(path, tmp_path / "huge.fnn", change))


# ---- paths that are not regular files --------------------------------------------------------

# Each loader on one path, in a child process: a regression (reading /dev/zero to its
# never-coming end, opening a FIFO that nobody writes to) then fails by the timeout, with
# the memory the child may take capped, instead of hanging or exhausting the machine.
READERS = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    from fastnn.datasets import fashion_mnist
    from fastnn.datasets.idx import read_idx
    from fastnn.layers import Dense
    from fastnn.models import Sequential, load_model

    path = sys.argv[1]
    readers = {"load_model": load_model, "read_idx": read_idx,
               "load_weights": Sequential([Dense(2, input_shape=(3,))]).load_weights,
               "load_data": fashion_mnist.load_data}
    for name in sys.argv[2:]:
        print("reading", name, flush=True)
        try:
            readers[name](path)
            print("returned", flush=True)
        except Exception as err:
            print(type(err).__name__, str(err).replace("\\n", " "), flush=True)
""")


def read_in_child(path, *readers):
    """``(exception name, message)`` of each reader on ``path``, within 60 s."""
    env = dict(os.environ, PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[1]),
               OMP_NUM_THREADS="1")
    try:
        done = subprocess.run([sys.executable, "-c", READERS, str(path), *readers], env=env,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as stuck:
        pytest.fail(f"still reading {path} after 60 s; the child printed: {stuck.stdout!r}")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 2 * len(readers), (lines, done.stderr)
    return [tuple(line.split(" ", 1)) for line in lines[1::2]]


@pytest.fixture
def unix_socket(tmp_path):
    import socket
    with socket.socket(socket.AF_UNIX) as listening:
        path = tmp_path / "sock"
        listening.bind(str(path))
        yield path


@pytest.mark.parametrize("make, kind", [
    (lambda tmp: tmp, "a directory"),
    (lambda tmp: (os.mkfifo(tmp / "fifo.fnn"), tmp / "fifo.fnn")[1], "a FIFO (named pipe)"),
    (lambda tmp: "/dev/zero", "a character device"),
    (lambda tmp: "/dev/null", "a character device"),
    (lambda tmp: tmp / "sock", "a socket"),
], ids=["directory", "fifo", "dev-zero", "dev-null", "socket"])
def test_a_path_that_is_not_a_regular_file_is_refused_before_reading(tmp_path, unix_socket,
                                                                     make, kind):
    """load_model('/dev/zero') used to read forever, a FIFO blocked in open, and a
    directory was reported as "truncated or corrupted?"."""
    path = make(tmp_path)
    outcomes = read_in_child(path, "load_model", "load_weights", "read_idx")
    assert outcomes == [("ValueError", f"{path} is {kind}, not a fastnn model file: give the "
                                       f"path of a file")] * 2 + [
        ("ValueError", f"{path} is {kind}, not an IDX file: give the path of a file")]


def test_a_data_set_folder_names_the_entries_that_are_not_files(tmp_path):
    """load_data(path) reads only regular files; a FIFO or a folder in a file's place is
    named with what it is, and a path argument that is a file is not a folder."""
    from fastnn.datasets import fashion_mnist
    from fastnn.datasets._files import FILES
    os.mkfifo(tmp_path / FILES[0])
    (tmp_path / FILES[1]).mkdir()
    (tmp_path / "file").write_bytes(b"")
    [(error, message)] = read_in_child(tmp_path, "load_data")
    assert error == "FileNotFoundError", message
    assert (f"{FILES[0]} (a FIFO (named pipe), not a file), {FILES[1]} (a directory, not a "
            f"file), {FILES[2]}, {FILES[3]}") in message
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"{tmp_path / 'file'} (the path argument) is a regular file, not a folder")):
        fashion_mnist.load_data(tmp_path / "file")
