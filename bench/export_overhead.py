"""Export cost over bare binding, per family kernel and as a median.

    python bench/export_overhead.py [--repeat N]

For each kernel in the family registry: the median time of ``kernel.bind`` on
the example arguments, the median time of ``export_kernel`` (which binds,
translates the device IR, and validates the document), and their ratio.
Each run starts from a cleared binding (``kernel.reset()``), so both sides
bind for real. Target: median ratio <= 1.15.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from helion2json.core.export import export_kernel
from helion2json.tests.kernels import FAMILIES


def median_seconds(
    action: Callable[[Any, tuple[Any, ...]], Any], kernel: Any, args: tuple[Any, ...], repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        kernel.reset()
        began = time.perf_counter()
        action(kernel, args)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bind_only(kernel: Any, args: tuple[Any, ...]) -> Any:
    return kernel.bind(kernel.normalize_args(*args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement")
    options = parser.parse_args()
    ratios = []
    print(f"{'family':32} {'bind ms':>9} {'export ms':>10} {'ratio':>7}")
    for family in FAMILIES:
        args = family.make_args()
        kernel = family.kernel
        export_kernel(kernel, args)  # warm: first-time imports and caches are not the figure
        bind = median_seconds(bind_only, kernel, args, options.repeat)
        export = median_seconds(export_kernel, kernel, args, options.repeat)
        ratio = export / bind
        ratios.append(ratio)
        print(f"{family.name:32} {bind * 1e3:9.1f} {export * 1e3:10.1f} {ratio:7.3f}")
    print(
        f"median export/bind ratio over {len(ratios)} kernels: {statistics.median(ratios):.3f} "
        "(target <= 1.15)"
    )


if __name__ == "__main__":
    main()
