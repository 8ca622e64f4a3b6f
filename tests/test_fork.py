"""fastnn in forked and spawned processes (``os.fork``, ``multiprocessing``).

GNU OpenMP's thread pool does not survive ``fork``: before the fork handler
in csrc/runtime.c, a child forked after the parent had trained hung on its
first parallel kernel.  Every scenario runs in a fresh Python process under
a timeout, so a regression fails the test instead of hanging the suite, and
every answer a child gives is compared bit for bit with the parent's (the
kernels compute the same numbers on any number of threads).
"""
import os
import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 120  # seconds for a whole scenario; each takes 1-5 s when it works

PRELUDE = """
import multiprocessing as mp
import os
import sys
import warnings

import numpy as np

import fastnn
from fastnn import kernels
from fastnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from fastnn.models import Sequential
from fastnn.utils import set_random_seed


def trained_model():
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((96, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 96)
    model = Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                        MaxPooling2D(), Conv2D(64, 3, activation="relu"), MaxPooling2D(),
                        Flatten(), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model, x


def check(condition, what):
    if not condition:
        print("FAILED:", what, flush=True)
        sys.exit(1)
"""


def run_scenario(tmp_path, body, env=None):
    """Run PRELUDE + body as a script in a fresh interpreter; it must print OK."""
    script = tmp_path / "scenario.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    environment = dict(os.environ, **(env or {}))
    environment["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__import__("fastnn").__file__)))]
        + [p for p in [environment.get("PYTHONPATH")] if p])
    try:
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              timeout=TIMEOUT, env=environment, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the scenario did not finish in {TIMEOUT} s (a forked child hung?)")
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), \
        f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"


def test_a_child_forked_after_fit_predicts_the_parents_numbers(tmp_path):
    run_scenario(tmp_path, """
        fastnn.set_num_threads(2)
        model, x = trained_model()
        expected = model.predict(x, verbose=0)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                got = model.predict(x, verbose=0)
                threads = fastnn.get_num_threads()
                os.write(write, b"%d %d" % (np.array_equal(got, expected), threads))
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        answer = os.read(read, 100).split()
        _, status = os.waitpid(pid, 0)
        check(status == 0, f"child exit status {status}")
        check(answer == [b"1", b"1"], f"child: equal predictions, one thread; got {answer}")
        check(fastnn.get_num_threads() == 2, "the parent keeps its threads")
        print("OK")
    """)


def test_a_forked_child_keeps_one_thread_and_says_why_when_asked_for_more(tmp_path):
    run_scenario(tmp_path, """
        fastnn.set_num_threads(2)
        kernels.matmul(np.ones((300, 300), np.float32), np.ones((300, 300), np.float32))
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    fastnn.set_num_threads(2)
                messages = [str(w.message) for w in caught]
                ok = (fastnn.get_num_threads() == 1 and len(messages) == 1
                      and "forked" in messages[0] and "spawn" in messages[0])
                status = 0 if ok else 3
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        check(os.waitstatus_to_exitcode(status) == 0, f"child exit status {status}")
        print("OK")
    """)


def test_a_child_forked_before_any_parallel_kernel_keeps_all_threads(tmp_path):
    run_scenario(tmp_path, """
        fastnn.set_num_threads(2)
        kernels.relu(np.ones(10, np.float32))  # too small to start threads
        pid = os.fork()
        if pid == 0:
            os._exit(0 if fastnn.get_num_threads() == 2 else 3)
        _, status = os.waitpid(pid, 0)
        check(os.waitstatus_to_exitcode(status) == 0, "the child should keep 2 threads")
        print("OK")
    """)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_multiprocessing_pool_predicts_the_parents_numbers(tmp_path, method):
    """Workers get the model by pickling (spawn, forkserver) or by fork; each
    predicts a chunk of the data, and the pieces equal the parent's predict."""
    run_scenario(tmp_path, f"""
        def predict_chunk(args):
            model_file, chunk = args
            from fastnn.models import load_model
            return load_model(model_file).predict(chunk, verbose=0)


        if __name__ == "__main__":
            fastnn.set_num_threads(2)
            model, x = trained_model()
            expected = model.predict(x, verbose=0)
            model.save("model.fastnn")
            with mp.get_context({method!r}).Pool(2) as pool:
                pieces = pool.map(predict_chunk, [("model.fastnn", c)
                                                  for c in np.array_split(x, 3)])
            check(np.array_equal(np.concatenate(pieces), expected),
                  "the workers' predictions equal the parent's")
            print("OK")
    """)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_data_loader_pool_feeds_training_in_the_parent(tmp_path, method):
    """The pattern of a data loader: worker processes augment batches with
    fastnn's affine-warp kernel while the parent, whose OpenMP threads have
    run, waits to train on them; the batches equal the same augmentation
    done in the parent, and the parent trains on afterwards."""
    run_scenario(tmp_path, f"""
        def augment(seed):
            rng = np.random.default_rng(seed)
            images = rng.random((64, 28, 28, 1), dtype=np.float32)
            angle = rng.uniform(-0.3, 0.3, 64)
            transforms = np.zeros((64, 6), np.float32)
            transforms[:, 0] = transforms[:, 4] = np.cos(angle)
            transforms[:, 1], transforms[:, 3] = -np.sin(angle), np.sin(angle)
            return kernels.affine_warp(images, transforms), rng.integers(0, 10, 64)


        if __name__ == "__main__":
            fastnn.set_num_threads(2)
            model, _ = trained_model()  # the parent's OpenMP threads have run
            with mp.get_context({method!r}).Pool(2) as pool:
                loaded = pool.map(augment, range(4))
            for seed, (images, labels) in enumerate(loaded):
                mine, my_labels = augment(seed)
                check(np.array_equal(images, mine) and np.array_equal(labels, my_labels),
                      f"batch {{seed}} from a worker equals the parent's")
            for images, labels in loaded:
                history = model.fit(images, labels, batch_size=32, epochs=1, verbose=0)
                check(np.isfinite(history.history["loss"][0]), "the parent trains on")
            check(fastnn.get_num_threads() == 2, "the parent keeps its threads")
            print("OK")
    """)
