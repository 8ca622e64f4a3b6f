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
