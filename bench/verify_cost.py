"""What proving a kernel's JSON costs: interpretation time ÷ export time, per family.

    python bench/verify_cost.py [--runs N] [--family NAME]...

For every kernel in ``helion2json.tests.kernels.FAMILIES`` it times, as the
median of ``--runs`` runs each after one untimed warm-up,

- export: ``export_kernel`` from a cold binding (the kernel's binding cache is
  cleared before each run), which is what exporting costs a user;
- interpret: ``run_document`` on fresh clones of the example inputs,

and prints a table of both and their ratio, then the median ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from helion2json.core.export import export_kernel
from helion2json.interpret import run_document
from helion2json.tests.kernels import FAMILIES, Family


def median_seconds(action: Callable[[], Any], runs: int, before: Callable[[], None]) -> float:
    before()
    action()  # warm-up: first-call costs (imports, dispatcher caches) are not the steady state
    samples = []
    for _ in range(runs):
        before()
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def clones(args: Sequence[Any]) -> list[Any]:
    return [a.clone() if isinstance(a, torch.Tensor) else a for a in args]


def measure(family: Family, runs: int) -> tuple[float, float]:
    torch.manual_seed(0)
    args = family.make_args()
    document = export_kernel(family.kernel, args)
    export = median_seconds(
        lambda: export_kernel(family.kernel, args), runs, before=family.kernel.reset
    )
    interpret = median_seconds(
        lambda: run_document(document, clones(args)), runs, before=lambda: None
    )
    return export, interpret


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    parser.add_argument(
        "--family", action="append", default=[], help="only these families (repeatable)"
    )
    options = parser.parse_args(argv)
    families = [f for f in FAMILIES if not options.family or f.name in options.family]
    if not families:
        parser.error(f"no family named {options.family}")
    width = max(len("family"), *(len(f.name) for f in families))
    header = f"{'family':<{width}}  {'export ms':>10}  {'interpret ms':>12}  {'ratio':>8}"
    print(header)
    print("-" * len(header))
    ratios: list[float] = []
    for family in families:
        try:
            export, interpret = measure(family, options.runs)
        except Exception as exc:  # one broken family should not hide the others' figures
            cause = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"{family.name:<{width}}  failed: {cause[:100]}")
            continue
        ratio = interpret / export
        ratios.append(ratio)
        print(
            f"{family.name:<{width}}  {export * 1e3:>10.1f}  {interpret * 1e3:>12.2f}  "
            f"{ratio:>8.4f}"
        )
    print("-" * len(header))
    if ratios:
        print(f"{'median':<{width}}  {'':>10}  {'':>12}  {statistics.median(ratios):>8.4f}")
    print(f"{len(ratios)} families, median of {options.runs} runs each")
    return 0 if len(ratios) == len(families) else 1


if __name__ == "__main__":
    raise SystemExit(main())
