"""fastnn's SIMD paths side by side: matmul against NumPy's OpenBLAS sgemm, and
three convolutions of the benchmark nets, on each vector path this CPU runs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/simd_paths.py

Every round times each variant in turn, so that a shared and noisy machine
slows them alike.  For each variant the table shows the median over rounds
of its mean time per call, and the ratios (against OpenBLAS for matmul,
against the slowest path for the convolution): "median" is the median of
the per-round ratios, "best" the ratio of the fastest single calls, which is
what a quiet machine would give when other programs keep the cores busy.
Each variant starts after a pause: OpenBLAS's threads keep spinning for
about 0.1 s after its last call (its THREAD_TIMEOUT) and would hold a core
while fastnn runs.  NumPy's OpenBLAS kernel is printed when threadpoolctl is
installed: OpenBLAS picks it from the CPU unless OPENBLAS_CORETYPE names
one, hence the ``env -u``.

``--threads 1 --cpu-time`` counts only the time this thread ran (on a busy
machine wall time also counts the time other programs ran instead); with
more threads only wall time means anything.
"""
import argparse
import time
from statistics import mean, median

import numpy as np

import fastnn
from fastnn.kernels import conv2d, conv2d_backward, matmul
from fastnn.runtime import runnable_simd_paths, set_simd_path


def openblas_kernel():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to see it)"
    return ", ".join(f"{lib['internal_api']} {lib['version']} {lib['architecture']}"
                     for lib in threadpool_info() if lib["user_api"] == "blas")


def call_times(fn, calls, clock):
    """Seconds of each of ``calls`` calls of ``fn``."""
    times = []
    for _ in range(calls):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def race(variants, rounds, clock, min_seconds=0.05, pause=0.2):
    """{name: [[seconds of each call] for each round]}: every round runs each
    variant (a (path or None, function) pair) for about ``min_seconds``, each
    after ``pause`` seconds of rest and one call to wake its threads."""
    calls = {}
    for name, (path, fn) in variants.items():
        if path:
            set_simd_path(path)
        fn()  # warm up: page in, wake the threads
        calls[name] = max(1, int(min_seconds / min(call_times(fn, 3, clock))))
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (path, fn) in variants.items():
            if path:
                set_simd_path(path)
            time.sleep(pause)
            fn()
            times[name].append(call_times(fn, calls[name], clock))
    return times


def rate(times, work):
    return f"{work / median(mean(r) for r in times) / 1e9:.0f} GFLOP/s"


def ratios(times, slower, faster):
    """'median / best': how many times faster ``faster`` ran than ``slower``."""
    per_round = median(mean(s) / mean(f) for s, f in zip(times[slower], times[faster]))
    best = min(map(min, times[slower])) / min(map(min, times[faster]))
    return f"{per_round:.2f}x / {best:.2f}x"


def matmul_rows(paths, rounds, clock, rng):
    for size in (256, 512, 1024):
        a, b = (rng.uniform(-1, 1, (size, size)).astype(np.float32) for _ in range(2))
        variants = {"OpenBLAS": (None, lambda: a @ b)}  # both allocate C
        variants.update({path: (path, lambda: matmul(a, b)) for path in paths})
        times = race(variants, rounds, clock)
        work = 2.0 * size**3
        cells = [rate(times[name], work) for name in variants]
        cells += [ratios(times, "OpenBLAS", path) for path in paths]
        yield f"matmul {size}³", cells


# "valid" convolutions of the zoo's and the probes' nets: (label, batch, size, in_c, kernel, out_c)
CONV_LAYERS = [("demo CNN 2nd", 128, 13, 32, 3, 64),
               ("LeNet-5 2nd", 64, 14, 6, 5, 16),   # dx by col2im
               ("sigmoid_cnn 2nd", 100, 12, 20, 5, 40)]  # 20 and 40: panel tails


def conv_rows(paths, rounds, clock, rng):
    """Forward and backward passes of CONV_LAYERS on each path."""
    for label, batch, size, in_c, k, out_c in CONV_LAYERS:
        out = size - k + 1
        x = rng.uniform(-1, 1, (batch, size, size, in_c)).astype(np.float32)
        w = rng.uniform(-1, 1, (k, k, in_c, out_c)).astype(np.float32)
        b = rng.uniform(-1, 1, out_c).astype(np.float32)
        dy = rng.uniform(-1, 1, (batch, out, out, out_c)).astype(np.float32)
        work = 2.0 * batch * out * out * out_c * k * k * in_c
        for what, fn, flops in [("forward", lambda: conv2d(x, w, b), work),
                                ("backward", lambda: conv2d_backward(x, w, dy), 2 * work)]:
            times = race({path: (path, fn) for path in paths}, rounds, clock)
            cells = ["", *(rate(times[path], flops) for path in paths)]
            cells += [ratios(times, paths[-1], path) for path in paths]
            yield f"{label} conv {what}, {batch}x{size}x{size}x{in_c}->{out_c} {k}x{k}", cells


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by this thread's CPU time (with --threads 1 only)")
    args = parser.parse_args()
    if args.cpu_time and args.threads != 1:
        parser.error("--cpu-time needs --threads 1: it cannot see other threads' work")
    clock = time.thread_time if args.cpu_time else time.perf_counter
    fastnn.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        pass
    paths = [path for path in runnable_simd_paths() if path != "generic"]
    print(f"threads {args.threads}, {args.rounds} rounds, "
          f"{'thread CPU time' if args.cpu_time else 'wall time'}; "
          f"NumPy's BLAS: {openblas_kernel()}")
    print(f"ratios (median / best): matmul against OpenBLAS, convolution against the "
          f"{paths[-1]} path; higher is faster\n")
    header = ["case", "OpenBLAS", *paths, *(f"{p} ratio" for p in paths)]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    rng = np.random.default_rng(0)
    for name, cells in [*matmul_rows(paths, args.rounds, clock, rng),
                        *conv_rows(paths, args.rounds, clock, rng)]:
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
