"""The optimisation ladder of docs/kernels.md, measured on this machine.

Each row adds one idea to the one before: the textbook loops, then the
blocked and packed algorithm with a register-tiled micro-kernel on
baseline SSE2 vectors, then AVX2 + FMA vectors, then a second thread.

    python benchmarks/steps.py
"""
import fastnn
from fastnn.bench import canonical_cases, time_call
from fastnn.runtime import set_simd_path

STEPS = [  # (label, impl, simd path, threads)
    ("naive C loops", "naive", "generic", 1),
    ("blocked + packed, micro-kernel, SSE2", "fast", "generic", 1),
    ("... with AVX2 + FMA", "fast", "avx2", 1),
    ("... on 2 threads (OpenMP)", "fast", "avx2", 2),
    ("NumPy (OpenBLAS / reference)", "numpy", "avx2", 2),
]
CASES = ("matmul 512x512 @ 512x512", "conv2d 64x13x13x32->64 3x3",
         "conv2d_backward 64x13x13x32->64 3x3")


def main():
    cases = [c for c in canonical_cases() if c.name in CASES]
    print("| step | " + " | ".join(c.name for c in cases) + " |")
    print("|---|" + "---:|" * len(cases))
    for label, impl, simd, threads in STEPS:
        set_simd_path(simd)
        fastnn.set_num_threads(threads)
        cells = []
        for case in cases:
            seconds = time_call(case.call(impl), min_seconds=0.5)
            cells.append(f"{seconds * 1e3:.2f} ms, {case.flops / seconds / 1e9:.1f} GFLOP/s")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
