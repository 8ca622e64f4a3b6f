"""pytest-benchmark: every kernel, fast vs naive vs numpy, on the canonical CNN shapes.

The cases are ``fastnn.bench.canonical_cases()`` (the same ones
``python -m fastnn bench`` prints), grouped by case so each group compares
the three implementations.  ``make bench`` runs this and renders the table.
"""
import pytest

from fastnn.bench import Case, canonical_cases

CASES = canonical_cases()


@pytest.mark.parametrize("impl", ["numpy", "fast", "naive"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_kernel(benchmark, case, impl):
    if impl == "naive" and not case.naive:
        pytest.skip("no naive version, or the naive loops would take minutes on this shape")
    run = case.call(impl)
    benchmark.group = case.name
    benchmark.extra_info.update(impl=impl, flops=case.flops,
                                bytes=0 if case.flops else case.bytes_moved())
    if impl == "naive":  # slow: a few rounds are plenty
        benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    else:
        benchmark(run)


# Winograd F(4x4, 3x3) against the definition's GEMM paths and the NumPy
# reference on two 3x3 stride-1 "valid" convolutions (benchmarks/zoo_nets.py):
# the demo CNN's conv2d_1 and mnist_cnn's conv2d_3, batch 128 -- the forward
# with its ReLU, dx alone and dW (+ db) alone.  FLOPs are the definition's, so
# GFLOP/s compare the methods on the same work.
WINOGRAD_SHAPES = {"demo conv2d_1": (128, 13, 32, 64), "mnist_cnn conv2d_3": (128, 26, 32, 64)}
WINOGRAD_PASSES = {"forward": ("conv2d", {"activation": "relu"}),
                   "dx": ("conv2d_backward", {"compute_dw": False}),
                   "dW": ("conv2d_backward", {"compute_dx": False})}


def _winograd_case(shape, op, method):
    batch, size, c_in, c_out = WINOGRAD_SHAPES[shape]
    out = size - 2
    kernel, options = WINOGRAD_PASSES[op]
    if method != "numpy":
        options = {**options, "algorithm": method}
    shapes = ((batch, size, size, c_in), (3, 3, c_in, c_out))
    if kernel == "conv2d_backward":
        shapes += ((batch, out, out, c_out),)
    return Case(f"winograd {shape} {op}", kernel, shapes, options,
                2.0 * batch * out * out * 9 * c_in * c_out)


@pytest.mark.parametrize("method", ["numpy", "gemm", "winograd"])
@pytest.mark.parametrize("op", WINOGRAD_PASSES)
@pytest.mark.parametrize("shape", WINOGRAD_SHAPES)
def test_winograd(benchmark, shape, op, method):
    case = _winograd_case(shape, op, method)
    benchmark.group = f"{case.name}: winograd vs gemm"
    benchmark.extra_info.update(impl=method, flops=case.flops, bytes=0)
    run = case.call("numpy" if method == "numpy" else "fast")
    if method == "numpy":
        benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    else:
        benchmark(run)
