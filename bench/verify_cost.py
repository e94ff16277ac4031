"""What proving a kernel's JSON costs, per family: interpretation ÷ export, and the references.

    python bench/verify_cost.py [--runs N] [--family NAME]...

For every kernel in ``helion2json.tests.kernels.FAMILIES`` it times, as the
median of ``--runs`` runs each after one untimed warm-up,

- export: ``export_kernel`` from a cold binding (the kernel's binding cache is
  cleared before each run), which is what exporting costs a user;
- interpret: ``run_document`` on fresh clones of the example inputs;
- the two CPU references as ``verify`` runs them (binding a copy of the kernel
  included): the compiled kernel in Triton's interpreter, and Helion's eager
  reference mode;

and prints a table with the ratios interpret ÷ export, interpret ÷ eager mode
(the reference interpreter against Helion running the kernel's Python body
with PyTorch) and Triton interpreter ÷ eager mode, then the median of each. A reference that cannot run for a family
shows ``-`` (its reason is printed below the table).
"""

# The interpreter must be enabled before helion imports triton, so imports follow a call.
# ruff: noqa: E402

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helion2json.core.triton_cpu import enable_interpreter_if_no_gpu

# Before helion imports triton: the interpreter reference needs it.
enable_interpreter_if_no_gpu()

import torch

from helion2json.core.export import export_kernel
from helion2json.core.verify import EAGER_REFERENCE, INTERPRETED_REFERENCE, reference_runs
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


@dataclass
class Costs:
    export: float
    interpret: float
    # None where the reference cannot run for the family, with the reason.
    triton: float | None
    eager: float | None
    reasons: list[str]


def reference_seconds(
    family: Family, args: tuple[Any, ...], document: Any, name: str, runs: int
) -> tuple[float | None, str | None]:
    def run() -> None:
        found, skipped = reference_runs(family.kernel, args, document=document, only=[name])
        if found is None:
            raise RuntimeError(skipped[0].reason if skipped else "did not run")

    try:
        return median_seconds(run, runs, before=lambda: None), None
    except RuntimeError as exc:
        return None, f"{family.name}: {name}: {exc}"


def measure(family: Family, runs: int) -> Costs:
    torch.manual_seed(0)
    args = family.make_args()
    document = export_kernel(family.kernel, args)
    export = median_seconds(
        lambda: export_kernel(family.kernel, args), runs, before=family.kernel.reset
    )
    interpret = median_seconds(
        lambda: run_document(document, clones(args)), runs, before=lambda: None
    )
    triton, triton_reason = reference_seconds(family, args, document, INTERPRETED_REFERENCE, runs)
    eager, eager_reason = reference_seconds(family, args, document, EAGER_REFERENCE, runs)
    reasons = [r for r in (triton_reason, eager_reason) if r is not None]
    return Costs(export, interpret, triton, eager, reasons)


def milliseconds(seconds: float | None, width: int) -> str:
    return f"{'-':>{width}}" if seconds is None else f"{seconds * 1e3:>{width}.1f}"


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
    header = (
        f"{'family':<{width}}  {'export ms':>10}  {'interpret ms':>12}  {'ratio':>8}  "
        f"{'triton ms':>10}  {'eager ms':>9}  {'interp/eager':>12}  {'triton/eager':>12}"
    )
    print(header)
    print("-" * len(header))
    ratios: list[float] = []
    reference_ratios: list[float] = []
    interpreter_ratios: list[float] = []
    reasons: list[str] = []
    measured = 0
    for family in families:
        try:
            costs = measure(family, options.runs)
        except Exception as exc:  # one broken family should not hide the others' figures
            cause = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"{family.name:<{width}}  failed: {cause[:100]}")
            continue
        measured += 1
        ratio = costs.interpret / costs.export
        ratios.append(ratio)
        reference_ratio = interpreter_ratio = "-"
        if costs.eager is not None:
            interpreter_ratios.append(costs.interpret / costs.eager)
            interpreter_ratio = f"{interpreter_ratios[-1]:.2f}"
        if costs.triton is not None and costs.eager is not None:
            reference_ratios.append(costs.triton / costs.eager)
            reference_ratio = f"{reference_ratios[-1]:.2f}"
        reasons += costs.reasons
        print(
            f"{family.name:<{width}}  {costs.export * 1e3:>10.1f}  {costs.interpret * 1e3:>12.2f}  "
            f"{ratio:>8.4f}  {milliseconds(costs.triton, 10)}  {milliseconds(costs.eager, 9)}  "
            f"{interpreter_ratio:>12}  {reference_ratio:>12}"
        )
    print("-" * len(header))
    median_ratio = f"{statistics.median(ratios):>8.4f}" if ratios else f"{'-':>8}"
    median_interpreter = (
        f"{statistics.median(interpreter_ratios):>12.2f}" if interpreter_ratios else f"{'-':>12}"
    )
    median_reference = (
        f"{statistics.median(reference_ratios):>12.2f}" if reference_ratios else f"{'-':>12}"
    )
    print(
        f"{'median':<{width}}  {'':>10}  {'':>12}  {median_ratio}  {'':>10}  {'':>9}  "
        f"{median_interpreter}  {median_reference}"
    )
    print(
        f"{measured} families, median of {options.runs} runs each; interp/eager over the "
        f"{len(interpreter_ratios)} families where eager mode runs, triton/eager over the "
        f"{len(reference_ratios)} where both references run"
    )
    for reason in reasons:
        print(f"  {reason[:150]}")
    return 0 if measured == len(families) else 1


if __name__ == "__main__":
    raise SystemExit(main())
