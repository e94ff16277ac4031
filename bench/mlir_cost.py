"""What running a kernel's JSON through MLIR costs, per family: lowering, mlir-opt and
mlir-runner, each ÷ export.

    python bench/mlir_cost.py [--runs N] [--family NAME]...

For every kernel in ``helion2json.tests.kernels.FAMILIES`` it times, as the median
of ``--runs`` runs each after one untimed warm-up,

- export: ``export_kernel`` from a cold binding (the kernel's binding cache is
  cleared before each run), which is what exporting costs a user;
- lower: ``harness`` (the kernel function and its ``main`` with the example data);
- opt: ``mlir-opt`` with ``helion2json.mlir.PIPELINE`` on that text;
- run: ``mlir-runner`` JIT-compiling and running the result;

and prints a table with each ratio to export, and the total (lower + opt + run)
÷ export, then their medians. A family the lowering refuses shows the op it names.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

# Run as a script, this folder is on the path: one way of timing for every benchmark.
from verify_cost import median_seconds

from helion2json.core.export import export_kernel
from helion2json.mlir import LoweringError, ToolError, find_tools, harness
from helion2json.mlir.tools import Tools, lower_to_llvm, run_main
from helion2json.tests.kernels import FAMILIES, Family


@dataclass
class Costs:
    export: float
    lower: float
    opt: float
    run: float

    @property
    def total(self) -> float:
        return self.lower + self.opt + self.run


def measure(family: Family, tools: Tools, runs: int) -> Costs:
    torch.manual_seed(0)
    args = tuple(family.kernel.normalize_args(*family.make_args()))
    document = export_kernel(family.kernel, args)
    export = median_seconds(
        lambda: export_kernel(family.kernel, args), runs, before=family.kernel.reset
    )
    text = harness(document, args)
    llvm = lower_to_llvm(tools, text)
    return Costs(
        export,
        median_seconds(lambda: harness(document, args), runs, before=lambda: None),
        median_seconds(lambda: lower_to_llvm(tools, text), runs, before=lambda: None),
        median_seconds(lambda: run_main(tools, llvm), runs, before=lambda: None),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--family", action="append", help="only these families (repeatable)")
    options = parser.parse_args(argv)
    wanted = set(options.family or [f.name for f in FAMILIES])
    families = [family for family in FAMILIES if family.name in wanted]
    if len(families) != len(wanted):
        parser.error(f"unknown family in {sorted(wanted)}")
    try:
        tools = find_tools()
    except ToolError as exc:
        print(f"mlir_cost: {exc}", file=sys.stderr)
        return 1
    width = max(len("family"), *(len(f.name) for f in families))
    header = (
        f"{'family':<{width}}  {'export ms':>10}  {'lower ms':>9}  {'opt ms':>8}  "
        f"{'run ms':>8}  {'lower/exp':>9}  {'opt/exp':>8}  {'run/exp':>8}  {'total/exp':>9}"
    )
    print(header)
    print("-" * len(header))
    ratios: dict[str, list[float]] = {"lower": [], "opt": [], "run": [], "total": []}
    refused = failed = 0
    for family in families:
        try:
            costs = measure(family, tools, options.runs)
        except LoweringError as exc:
            refused += 1
            print(f"{family.name:<{width}}  not lowered: {str(exc)[:90]}")
            continue
        except Exception as exc:  # one broken family should not hide the others' figures
            failed += 1
            cause = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"{family.name:<{width}}  failed: {cause[:100]}")
            continue
        row = {
            "lower": costs.lower / costs.export,
            "opt": costs.opt / costs.export,
            "run": costs.run / costs.export,
            "total": costs.total / costs.export,
        }
        for key, value in row.items():
            ratios[key].append(value)
        print(
            f"{family.name:<{width}}  {costs.export * 1e3:>10.1f}  {costs.lower * 1e3:>9.1f}  "
            f"{costs.opt * 1e3:>8.1f}  {costs.run * 1e3:>8.1f}  {row['lower']:>9.3f}  "
            f"{row['opt']:>8.3f}  {row['run']:>8.3f}  {row['total']:>9.3f}"
        )
    print("-" * len(header))
    if ratios["total"]:
        medians = {key: statistics.median(values) for key, values in ratios.items()}
        print(
            f"{'median':<{width}}  {'':>10}  {'':>9}  {'':>8}  {'':>8}  {medians['lower']:>9.3f}  "
            f"{medians['opt']:>8.3f}  {medians['run']:>8.3f}  {medians['total']:>9.3f}"
        )
    print(
        f"{len(ratios['total'])} families measured (median of {options.runs} runs each), "
        f"{refused} not lowered, {failed} failed"
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
