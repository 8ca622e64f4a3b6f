"""The optimisation ladder of docs/kernels.md, measured on this machine.

Each row adds one idea to the one before: the textbook loops, then the
blocked and packed algorithm with a register-tiled micro-kernel on
baseline SSE2 vectors, then AVX2 + FMA vectors, then AVX-512 (skipped on a
CPU without it), then a second thread on the default (fastest) path.

    python benchmarks/steps.py
"""
import fastnn
from fastnn.bench import canonical_cases, time_call
from fastnn.runtime import get_simd_path, set_simd_path

STEPS = [  # (label, impl, simd path (None: the one chosen at start-up), threads)
    ("naive C loops", "naive", "generic", 1),
    ("blocked + packed, micro-kernel, SSE2", "fast", "generic", 1),
    ("... with AVX2 + FMA", "fast", "avx2", 1),
    ("... with AVX-512", "fast", "avx512", 1),
    ("... on 2 threads (OpenMP)", "fast", None, 2),
    ("NumPy (OpenBLAS / reference)", "numpy", None, 2),
]
CASES = ("matmul 512x512 @ 512x512", "conv2d 64x13x13x32->64 3x3",
         "conv2d_backward 64x13x13x32->64 3x3")


def main():
    cases = [c for c in canonical_cases() if c.name in CASES]
    print("| step | " + " | ".join(c.name for c in cases) + " |")
    print("|---|" + "---:|" * len(cases))
    default = get_simd_path()
    for label, impl, simd, threads in STEPS:
        try:
            set_simd_path(simd or default)
        except ValueError:  # this CPU cannot run the path
            continue
        fastnn.set_num_threads(threads)
        cells = []
        for case in cases:
            seconds = time_call(case.call(impl), min_seconds=0.5)
            cells.append(f"{seconds * 1e3:.2f} ms, {case.flops / seconds / 1e9:.1f} GFLOP/s")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
