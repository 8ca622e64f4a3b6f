"""fastnn against PyTorch (CPU build) on this machine, side by side in one process.

    make bench-torch    # PyTorch in .venv-bench-torch, fastnn from this tree, then this

or by hand, in a venv of its own (never fastnn's)::

    pip install torch==2.13.0     # the CPU build, from the local disk; never unpinned
    PYTHONPATH=. python benchmarks/compare_torch.py [--quick] [--json FILE]

What it measures (issue "Performance"), each as a median over rounds that
alternate fastnn and PyTorch so both see the same machine state:

1. training throughput of the ``make demo`` CNN (Conv 32 -> pool -> Conv 64
   -> pool -> Dropout -> Dense 10, Adam, batch 128), images/s;
2. one training step of the course's tiny MLP (Dense 16-32-2 on 1 feature,
   batch 10, Adam): the Python overhead of a step;
3. kernels: conv2d forward and forward+backward against PyTorch's oneDNN,
   max-pool 2x2 against PyTorch, matmul against NumPy's OpenBLAS sgemm;
4. threads (1 and 2) and batch sizes (32, 64, 128, 256) for the CNN;
5. the machine's limits for the roofline: OpenBLAS sgemm GFLOP/s (about the
   cores' FP32 peak) and copy bandwidth of a large array (GB/s);
6. a per-layer profile of one fastnn training step (where the time goes);
7. memory: how much resident memory training the CNN adds on top of the
   loaded library, model and data (peak and after each epoch), each
   framework alone in a fresh process.

Both libraries run with the same number of threads.  PyTorch gets its
native NCHW layout (what its users write); fastnn its NHWC.  The CNN trains
on Fashion-MNIST's images; kernel inputs are random: no kernel here depends
on the values.

PyTorch is measured in its best state, the one ``benchmarks/zoo.py`` gives
it: the process holds Fashion-MNIST's training *and test* sets (float32,
loaded first and kept to the end), as a course script does -- in a process
that held only its training data PyTorch's eager step was measured 10-25 %
slower (glibc handed the memory of each step's freed activations back to the
system and the next step faulted it in again).  Its OpenMP runtime keeps its
default wait policy: torch loads before fastnn, which then sets its own
(``OMP_WAIT_POLICY=PASSIVE``, ``GOMP_SPINCOUNT=10000``) for its runtime.  The memory children
(section 7) start from the environment the user gave, taken before that
import, not from this process's: PyTorch's runtime gets the user's wait
policy there too, fastnn its own default, as in the zoo.  The output says
which policy each framework ran with.
``make bench-zoo`` compares fastnn with PyTorch and tf.keras on nine nets,
each framework in processes of its own.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# The environment as the user gave it, before fastnn's import sets its wait
# policy in this process: the memory children start from it
# (each framework in its best state, as benchmarks/zoo.py gives them).
USER_ENVIRON = dict(os.environ)

import numpy as np  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover - the benchmark is optional
    sys.exit("compare_torch needs PyTorch: `make bench-torch` sets up .venv-bench-torch, or "
             "pip install torch==2.13.0 (the CPU build) in a venv of its own")

import fastnn  # noqa: E402
from fastnn import kernels  # noqa: E402
from fastnn.datasets import fashion_mnist  # noqa: E402
from fastnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from fastnn.models import Sequential  # noqa: E402
from fastnn.optimizers import Adam  # noqa: E402

RNG = np.random.default_rng(0)


# ---- timing -------------------------------------------------------------------------------

# After each call OpenBLAS keeps a worker thread spinning for ~0.1 s (measured:
# 0.11 s of CPU time while the caller sleeps); on 2 cores it would slow down
# whatever runs next.  Each round starts after this pause, on quiet cores.
SETTLE_SECONDS = 0.2


def seconds_per_call(fn, min_seconds=0.3, min_calls=3):
    """Mean seconds of one call of ``fn``, over at least ``min_seconds``."""
    time.sleep(SETTLE_SECONDS)
    fn()  # warm-up: first-touch allocations, lazy initialisation
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def side_by_side(fastnn_fn, torch_fn, rounds):
    """Median seconds per call of each, the two alternating round by round."""
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(seconds_per_call(fastnn_fn))
        theirs.append(seconds_per_call(torch_fn))
    return statistics.median(ours), statistics.median(theirs)


# ---- the models ---------------------------------------------------------------------------

def fastnn_cnn():
    model = Sequential([
        Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(2),
        Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
        Flatten(), Dropout(0.5), Dense(10, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def torch_cnn():
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))


def fastnn_mlp():
    model = Sequential([Dense(16, input_shape=(1,), activation="relu"),
                        Dense(32, activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=1e-4), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def torch_mlp():
    nn = torch.nn
    return nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU(),
                         nn.Linear(32, 2))


def training_pair(make_ours, make_theirs, x, y, batch_size, steps):
    """Two functions, each training ``steps`` batches of ``batch_size`` (one epoch of fit)."""
    n = batch_size * steps
    x, y = x[:n], y[:n]
    ours = make_ours()
    x_nchw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)) if x.ndim == 4 else x)
    y_t = torch.from_numpy(y.astype(np.int64))
    theirs = make_theirs()
    optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def fastnn_epoch():
        ours.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)

    def torch_epoch():
        theirs.train()
        order = torch.randperm(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x_nchw[idx], y_t[idx]
            optimizer.zero_grad()
            logits = theirs(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            (logits.argmax(1) == yb).float().mean()  # the accuracy fit reports

    return fastnn_epoch, torch_epoch


# ---- the sections -------------------------------------------------------------------------

def course_data():
    """Fashion-MNIST as a course script holds it: float32 images in [0, 1], uint8 labels.

    ((x_train, y_train), (x_test, y_test)); ``main`` keeps both sets to the
    end (PyTorch's best state, see the module's docstring).
    """
    return tuple((x.reshape(-1, 28, 28, 1).astype(np.float32) / 255, y)
                 for x, y in fashion_mnist.load_data())


def cnn_throughput(threads, batch_size, rounds, steps, x_train, y_train):
    set_threads(threads)
    x, y = x_train[:batch_size * steps], y_train[:batch_size * steps]
    ours, theirs = side_by_side(*training_pair(fastnn_cnn, torch_cnn, x, y, batch_size, steps),
                                rounds)
    return len(x) / ours, len(x) / theirs


def mlp_step(rounds, steps=40):
    set_threads(2)
    x = RNG.random((10 * steps, 1), dtype=np.float32)
    y = RNG.integers(0, 2, len(x))
    ours, theirs = side_by_side(*training_pair(fastnn_mlp, torch_mlp, x, y, 10, steps), rounds)
    return ours / steps, theirs / steps


def kernel_rows(rounds):
    """(name, fastnn seconds, other seconds, other's name) per kernel case."""
    set_threads(2)
    rows = []
    for batch, size, c_in, c_out in ((64, 28, 1, 32), (64, 13, 32, 64)):
        x = RNG.standard_normal((batch, size, size, c_in), dtype=np.float32)
        w = RNG.standard_normal((3, 3, c_in, c_out), dtype=np.float32)
        xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
        wt = torch.from_numpy(np.ascontiguousarray(np.transpose(w, (3, 2, 0, 1))))
        label = f"{batch}x{size}x{size}x{c_in}->{c_out} 3x3"
        rows.append((f"conv2d {label}", *side_by_side(
            lambda: kernels.conv2d(x, w), lambda: torch.conv2d(xt, wt), rounds), "PyTorch"))
        dy = RNG.standard_normal(kernels.conv2d(x, w).shape, dtype=np.float32)
        dyt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(dy, -1, 1)))
        xg, wg = xt.clone().requires_grad_(), wt.clone().requires_grad_()

        def ours():
            kernels.conv2d(x, w)
            kernels.conv2d_backward(x, w, dy)

        def theirs():
            xg.grad = wg.grad = None
            torch.conv2d(xg, wg).backward(dyt)

        rows.append((f"conv2d fwd+bwd {label}", *side_by_side(ours, theirs, rounds), "PyTorch"))
    x = RNG.standard_normal((64, 26, 26, 32), dtype=np.float32)
    xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    rows.append(("max_pool2d 64x26x26x32 2x2", *side_by_side(
        lambda: kernels.max_pool2d(x, 2), lambda: torch.max_pool2d(xt, 2), rounds), "PyTorch"))
    for n in (512, 1024):
        a = RNG.standard_normal((n, n), dtype=np.float32)
        b = RNG.standard_normal((n, n), dtype=np.float32)
        rows.append((f"matmul {n}x{n} @ {n}x{n}", *side_by_side(
            lambda: kernels.matmul(a, b), lambda: a @ b, rounds), "NumPy"))
    return rows


def machine_limits():
    """(sgemm GFLOP/s of NumPy's OpenBLAS at 2048^3, copy GB/s of 256 MiB)."""
    a = RNG.standard_normal((2048, 2048), dtype=np.float32)
    gflops = 2 * 2048 ** 3 / seconds_per_call(lambda: a @ a, min_seconds=1.0) / 1e9
    src = np.ones(64 * 2 ** 20, np.float32)
    dst = np.empty_like(src)
    gbs = 2 * src.nbytes / seconds_per_call(lambda: np.copyto(dst, src), min_seconds=1.0) / 1e9
    return gflops, gbs


def layer_profile(batch_size=128, steps=20):
    """Milliseconds per training step in each layer's forward and backward pass."""
    set_threads(2)
    model = fastnn_cnn()
    x = RNG.random((batch_size * steps, 28, 28, 1), dtype=np.float32)
    y = RNG.integers(0, 10, len(x))
    model.fit(x[:2 * batch_size], y[:2 * batch_size], batch_size=batch_size, verbose=0)
    spent, running = {}, set()

    def timed(layer, method, kind):
        """Time ``method`` as the layer's ``kind`` pass; a call from within
        another timed method of the same layer is part of that one."""
        inner = getattr(layer, method)

        def wrapper(*args, **kwargs):
            if layer.name in running:
                return inner(*args, **kwargs)
            running.add(layer.name)
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                running.discard(layer.name)
                key = (layer.name, kind)
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
        setattr(layer, method, wrapper)

    for layer in model.layers:
        timed(layer, "forward", "forward")
        # the model's backward pass enters a layer through one of these (the
        # first convolution takes its pool's backward pass into its own)
        for method in ("backward", "call_backward", "backward_through_relu",
                       "backward_through", "gradients_through_max_pool"):
            timed(layer, method, "backward")
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    step_ms = (time.perf_counter() - start) / steps * 1e3
    rows = [(layer.name, spent.get((layer.name, "forward"), 0) / steps * 1e3,
             spent.get((layer.name, "backward"), 0) / steps * 1e3) for layer in model.layers]
    return step_ms, rows


def _status_mib(field):
    """A memory figure of this process from /proc/self/status (Linux), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def wait_policy(environ):
    """The OpenMP wait policy a runtime starting with ``environ`` gets, in words."""
    value, spin = environ.get("OMP_WAIT_POLICY"), environ.get("GOMP_SPINCOUNT")
    words = "OpenMP's default wait policy" if value is None else f"OMP_WAIT_POLICY={value}"
    return words if spin is None else f"{words}, GOMP_SPINCOUNT={spin}"


def framework_wait_policies():
    """{framework: its OpenMP wait policy in this process}: PyTorch's runtime
    started with the environment this process was given, fastnn's after its
    own import set its policy (unless that environment named one)."""
    return {"fastnn": wait_policy(os.environ), "torch": wait_policy(USER_ENVIRON)}


def memory_child(framework, x_train, y_train, batch_size=128, steps=40, epochs=3):
    """In a fresh process: MiB of resident memory training adds, as JSON on stdout.

    The baseline is the resident size once both libraries, the models and
    the data are loaded; then the peak (VmHWM, reset first through
    /proc/self/clear_refs) over ``epochs`` epochs, and the resident size after
    each epoch: growth from epoch to epoch would be a leak or a cache that
    never stops growing.  ``wait_policy`` is the measured framework's.
    """
    set_threads(2)
    x, y = x_train[:batch_size * steps], y_train[:batch_size * steps]
    ours, theirs = training_pair(fastnn_cnn, torch_cnn, x, y, batch_size, steps)
    epoch = ours if framework == "fastnn" else theirs
    baseline = _status_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak resident size
    after = []
    for _ in range(epochs):
        epoch()
        after.append(_status_mib("VmRSS") - baseline)
    print(json.dumps({"baseline": baseline, "peak": _status_mib("VmHWM") - baseline,
                      "after_epochs": after,
                      "wait_policy": framework_wait_policies()[framework]}))


def peak_memory():
    """{framework: memory_child's figures}, each measured in its own process,
    started with the user's environment (not this process's: see the module's
    docstring)."""
    results = {}
    for framework in ("fastnn", "torch"):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child",
                              framework], check=True, capture_output=True, text=True,
                             env=USER_ENVIRON).stdout
        results[framework] = json.loads(out.splitlines()[-1])
    return results


def set_threads(n):
    fastnn.set_num_threads(n)
    torch.set_num_threads(n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--memory-child", choices=("fastnn", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    (x_train, y_train), test_set = course_data()  # noqa: F841 (held, unused: see the docstring)
    if args.memory_child:
        memory_child(args.memory_child, x_train, y_train)
        return
    rounds, steps = (3, 10) if args.quick else (7, 20)
    info = fastnn.build_info()
    policies = framework_wait_policies()
    print(f"fastnn {info['version']} ({info['simd']}), PyTorch {torch.__version__}, "
          f"{info['cpu']}, {info['cores']} cores; medians of {rounds} alternating rounds")
    print(f"OpenMP: fastnn with {policies['fastnn']}, PyTorch with {policies['torch']}\n")
    results = {"wait_policy": policies}

    print("| demo CNN training, batch 128 | fastnn img/s | PyTorch img/s | ratio |")
    print("|---|---:|---:|---:|")
    for threads in (1, 2):
        ours, theirs = cnn_throughput(threads, 128, rounds, steps, x_train, y_train)
        results[f"cnn_threads_{threads}"] = (ours, theirs)
        print(f"| {threads} thread{'s' if threads > 1 else ''} | {ours:,.0f} | {theirs:,.0f} "
              f"| {ours / theirs:.2f}x |")
    for batch_size in (32, 64, 256):
        ours, theirs = cnn_throughput(2, batch_size, rounds, max(steps * 128 // batch_size, 4),
                                      x_train, y_train)
        results[f"cnn_batch_{batch_size}"] = (ours, theirs)
        print(f"| batch {batch_size}, 2 threads | {ours:,.0f} | {theirs:,.0f} "
              f"| {ours / theirs:.2f}x |")

    ours, theirs = mlp_step(rounds)
    results["mlp_step"] = (ours, theirs)
    print("\n| course MLP 1-16-32-2, batch 10, Adam | fastnn | PyTorch | PyTorch / fastnn |")
    print("|---|---:|---:|---:|")
    print(f"| time per training step | {ours * 1e6:.0f} us | {theirs * 1e6:.0f} us "
          f"| {theirs / ours:.2f}x |")

    print("\n| kernel, 2 threads | fastnn ms | other ms | other | speed vs other |")
    print("|---|---:|---:|---|---:|")
    for name, ours, theirs, other in kernel_rows(rounds):
        results[name] = (ours, theirs)
        print(f"| {name} | {ours * 1e3:.3f} | {theirs * 1e3:.3f} | {other} "
              f"| {theirs / ours:.2f}x |")
    gflops, gbs = machine_limits()
    results["sgemm_gflops"], results["copy_gbs"] = gflops, gbs
    print(f"\nmachine limits: NumPy/OpenBLAS sgemm 2048^3 {gflops:.0f} GFLOP/s; "
          f"copy of 256 MiB {gbs:.1f} GB/s (read + write)")

    step_ms, rows = layer_profile()
    print(f"\n| fastnn training step, batch 128, 2 threads: {step_ms:.1f} ms | forward ms "
          f"| backward ms |")
    print("|---|---:|---:|")
    for name, forward, backward in rows:
        print(f"| {name} | {forward:.2f} | {backward:.2f} |")
    layers_ms = sum(f + b for _, f, b in rows)
    print(f"| loss, optimizer, batching (the rest) | {step_ms - layers_ms:.2f} | |")

    memory = peak_memory()
    results["memory_mib"] = memory
    print("\n| demo CNN training, batch 128, 3 epochs of 40 steps | fastnn MiB | PyTorch MiB |")
    print("|---|---:|---:|")
    print(f"| OpenMP wait policy | {memory['fastnn']['wait_policy']} "
          f"| {memory['torch']['wait_policy']} |")
    print(f"| resident before training (both libraries loaded, models, data) | "
          f"{memory['fastnn']['baseline']:.0f} | {memory['torch']['baseline']:.0f} |")
    print(f"| peak added by training | {memory['fastnn']['peak']:.1f} "
          f"| {memory['torch']['peak']:.1f} |")
    for i in range(3):
        print(f"| added, after epoch {i + 1} | {memory['fastnn']['after_epochs'][i]:.1f} "
              f"| {memory['torch']['after_epochs'][i]:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
