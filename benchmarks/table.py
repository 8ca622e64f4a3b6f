"""Render a pytest-benchmark JSON file as the Markdown table the README shows.

    python benchmarks/table.py benchmarks/results.json
"""
import json
import sys


def rows(results):
    """(case, impl, median ms, rate, speed relative to numpy) per benchmark."""
    by_case = {}
    for bench in results["benchmarks"]:
        info = bench["extra_info"]
        by_case.setdefault(bench["group"], {})[info["impl"]] = (bench["stats"]["median"], info)
    for case, impls in by_case.items():
        numpy_seconds = impls.get("numpy", (None,))[0]
        for impl in ("numpy", "fast", "naive"):
            if impl not in impls:
                continue
            seconds, info = impls[impl]
            if info["flops"]:
                rate = f"{info['flops'] / seconds / 1e9:.1f} GFLOP/s"
            else:
                rate = f"{info['bytes'] / seconds / 1e9:.1f} GB/s"
            ratio = f"{numpy_seconds / seconds:.2f}x" if numpy_seconds else ""
            yield case, impl, f"{seconds * 1e3:.3f}", rate, ratio


def main(path):
    with open(path) as f:
        results = json.load(f)
    machine = results["machine_info"]
    print(f"Machine: {machine.get('cpu', {}).get('brand_raw', machine.get('processor'))}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores, Python {machine['python_version']}\n")
    print("| kernel | impl | median ms | rate | vs numpy |")
    print("|---|---|---:|---:|---:|")
    for row in rows(results):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
