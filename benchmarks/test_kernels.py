"""pytest-benchmark: every kernel, fast vs naive vs numpy, on the canonical CNN shapes.

The cases are ``fastnn.bench.canonical_cases()`` (the same ones
``python -m fastnn bench`` prints), grouped by case so each group compares
the three implementations.  ``make bench`` runs this and renders the table.
"""
import pytest

from fastnn.bench import canonical_cases

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


# The demo CNN's conv2d_1 and mnist_cnn's conv2d_3 (benchmarks/zoo_nets.py),
# 3x3 stride-1 "valid" with a ReLU: Winograd F(4x4, 3x3) against the GEMM
# paths and the NumPy reference, forward and dx.
WINOGRAD_SHAPES = {"demo conv2d_1": (128, 13, 13, 32, 64), "mnist_cnn conv2d_3": (128, 26, 26, 32, 64)}


@pytest.mark.parametrize("impl", ["winograd", "gemm", "numpy"])
@pytest.mark.parametrize("op", ["forward", "dx"])
@pytest.mark.parametrize("shape", WINOGRAD_SHAPES)
def test_winograd(benchmark, shape, op, impl):
    import numpy as np

    from fastnn.kernels import conv2d, conv2d_backward

    batch, h, w, in_c, out_c = WINOGRAD_SHAPES[shape]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, h, w, in_c), dtype=np.float32)
    k = rng.standard_normal((3, 3, in_c, out_c), dtype=np.float32)
    dy = rng.standard_normal((batch, h - 2, w - 2, out_c), dtype=np.float32)
    kwargs = dict(impl="numpy") if impl == "numpy" else dict(algorithm=impl)
    if op == "forward":
        def run():
            conv2d(x, k, activation="relu", **kwargs)
    else:
        def run():
            conv2d_backward(x, k, dy, compute_dw=False, **kwargs)
    benchmark.group = f"winograd {shape} {op}"
    benchmark.extra_info.update(impl=impl, flops=2 * batch * (h - 2) * (w - 2) * 9 * in_c * out_c)
    if impl == "numpy":
        benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    else:
        benchmark(run)
