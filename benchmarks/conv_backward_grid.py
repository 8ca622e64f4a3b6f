"""Convolution backward, dx and dW timed apart, over a grid of small nets' shapes.

    PYTHONPATH=<worktree> python benchmarks/conv_backward_grid.py
        [--threads 1 2] [--repeats 30] [--only NAME] [--compare OTHER_WORKTREE]

For each shape (NHWC input, kernel, stride, padding, batch) and thread count
it prints the GFLOP/s of the input gradient alone
(``conv2d_backward(..., compute_dw=False)``, with db), of the weight
gradient alone (``compute_dx=False``, with db) and of the whole backward
pass, each from the minimum time of ``--repeats`` calls.  The flops of one
product are 2 * batch * out_h * out_w * kh * kw * in_c * out_c, the same for
dx and dW (twice that for the whole pass).  The shapes are the convolutions
of benchmarks/zoo_nets.py whose backward pass ran below the machine's speed
(docs/kernels.md, section 5) and a few odd ones: out_c 16/24/48, stride 2,
5x5, 1x1, a 4x4 image.

With ``--compare OTHER`` every row is also timed on the fastnn copy in OTHER
(another worktree, built in place), the two interleaved call by call, and
the ratios other time / this time printed: how to measure a change on a
machine shared with other work, where only ratios from one run mean much.
"""
import argparse
import importlib
import sys
import time

import numpy as np

# (name, (batch, h, w, in_c), (kh, kw, out_c), stride, padding)
SHAPES = [
    ("stem7 conv2d_2", (32, 7, 7, 64), (3, 3, 128), 1, "valid"),
    ("stem7 conv2d_1", (32, 16, 16, 32), (3, 3, 64), 1, "valid"),
    ("bottleneck conv2d_5", (64, 32, 32, 32), (1, 1, 16), 1, "valid"),
    ("bottleneck conv2d_4", (64, 32, 32, 3), (3, 3, 32), 1, "same"),
    ("bottleneck conv2d_6", (64, 32, 32, 16), (3, 3, 32), 1, "valid"),
    ("demo conv2d_9", (128, 14, 14, 32), (3, 3, 64), 1, "same"),
    ("vgg_bn conv2d_1", (64, 32, 32, 32), (3, 3, 32), 1, "same"),
    ("vgg_bn conv2d_3", (64, 16, 16, 64), (3, 3, 64), 1, "same"),
    ("1x1 64->128 8x8", (64, 8, 8, 64), (1, 1, 128), 1, "valid"),
    ("1x1 16->64 16x16", (64, 16, 16, 16), (1, 1, 64), 1, "valid"),
    ("out_c 16", (64, 16, 16, 32), (3, 3, 16), 1, "same"),
    ("out_c 24", (64, 16, 16, 32), (3, 3, 24), 1, "same"),
    ("out_c 48", (64, 16, 16, 32), (3, 3, 48), 1, "same"),
    ("stride 2", (64, 16, 16, 32), (3, 3, 64), 2, "same"),
    ("5x5", (32, 16, 16, 32), (5, 5, 32), 1, "same"),
    ("4x4x32 small", (32, 4, 4, 32), (3, 3, 32), 1, "same"),
]
PARTS = ("dx", "dW", "all")


def load(path):
    """The fastnn package in the tree at ``path``, imported afresh (the copy
    imported before stays usable through the module object held)."""
    for name in [m for m in sys.modules if m == "fastnn" or m.startswith("fastnn.")]:
        del sys.modules[name]
    sys.path.insert(0, path)
    try:
        return importlib.import_module("fastnn")
    finally:
        sys.path.pop(0)


def calls(fastnn, shape, kernel, stride, padding):
    """The flops of one product and the three calls (dx, dW, both) on fixed
    random inputs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((kernel[0], kernel[1], shape[3], kernel[2]), dtype=np.float32)
    dy = rng.standard_normal(fastnn.kernels.conv2d(x, w, strides=stride, padding=padding).shape,
                             dtype=np.float32)
    backward = fastnn.kernels.conv2d_backward
    return (2.0 * dy.size * kernel[0] * kernel[1] * shape[3],
            [lambda: backward(x, w, dy, stride, padding, compute_dw=False),
             lambda: backward(x, w, dy, stride, padding, compute_dx=False),
             lambda: backward(x, w, dy, stride, padding)])


def seconds(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--only", help="only the shapes whose name contains this")
    parser.add_argument("--compare", help="a second fastnn tree to time beside this one")
    args = parser.parse_args()
    copies = [importlib.import_module("fastnn")]
    if args.compare:
        copies.append(load(args.compare))
    tags = ["this", "other"][:len(copies)]
    print(f"{'GFLOP/s':22} thr" + "".join(f"{p + ' ' + t:>10}" for t in tags for p in PARTS)
          + "".join(f"{p + ' x':>8}" for p in PARTS if args.compare))
    for name, shape, kernel, stride, padding in SHAPES:
        if args.only and args.only not in name:
            continue
        for threads in args.threads:
            made = [calls(fastnn, shape, kernel, stride, padding) for fastnn in copies]
            times = [[float("inf")] * len(PARTS) for _ in copies]
            for _ in range(args.repeats):  # interleaved: one call of each, in turn
                for fastnn, (_, runs), best in zip(copies, made, times):
                    fastnn.set_num_threads(threads)
                    for j, run in enumerate(runs):
                        best[j] = min(best[j], seconds(run))
            flops = made[0][0]
            row = f"{name:22} {threads:3}" + "".join(
                f"{flops * (1 + (j == 2)) / t / 1e9:10.1f}" for best in times
                for j, t in enumerate(best))
            if args.compare:
                row += "".join(f"{times[1][j] / times[0][j]:8.2f}" for j in range(len(PARTS)))
            print(row, flush=True)


if __name__ == "__main__":
    main()
