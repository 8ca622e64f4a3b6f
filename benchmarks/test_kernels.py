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


# Winograd's weight gradient (algorithm="winograd") against the definition's
# (algorithm="gemm") and the NumPy reference, dW and db only, on the demo CNN's
# second convolution and mnist_cnn's second one (batch 128): FLOPs are the
# definition's, so GFLOP/s compare the methods on the same work.
DW_SHAPES = [(128, 13, 32, 64), (128, 26, 32, 64)]


def _weight_gradient_case(batch, size, c_in, c_out, method):
    out = size - 2
    options = {"compute_dx": False}
    if method != "numpy":
        options["algorithm"] = method
    return Case(f"conv2d_backward {batch}x{size}x{size}x{c_in}->{c_out} 3x3 dW only",
                "conv2d_backward", ((batch, size, size, c_in), (3, 3, c_in, c_out),
                                    (batch, out, out, c_out)),
                options, 2.0 * batch * out * out * 9 * c_in * c_out)


@pytest.mark.parametrize("method", ["numpy", "gemm", "winograd"])
@pytest.mark.parametrize("shape", DW_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_winograd_weight_gradient(benchmark, shape, method):
    case = _weight_gradient_case(*shape, method)
    benchmark.group = f"{case.name}: winograd vs gemm"
    benchmark.extra_info.update(impl=method, flops=case.flops, bytes=0)
    benchmark(case.call("numpy" if method == "numpy" else "fast"))
