"""Run the property-based tests with many examples each, counting failures instead of stopping.

    python bench/fuzz.py [--examples N] [--jobs J]

The properties, their strategies and their checks come from tests/property_cases.py; pytest
runs the same ones with few examples. For each property this prints how many examples ran and
how many failed, then each kind of failure with one failing input. Exits with 1 when any
example failed.
"""

from __future__ import annotations

import argparse
import reprlib
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

# tests/ is not a package: import the test module as pytest does, from its own directory.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from property_cases import PROPERTIES, UnexpectedError

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 160
_SHORT.maxlevel = 4


@dataclass
class Failures:
    count: int
    message: str
    example: str


@dataclass
class Outcome:
    name: str
    examples: int = 0
    seconds: float = 0.0
    failures: dict[str, Failures] = field(default_factory=dict)

    def record(self, exc: AssertionError, value: Any) -> None:
        if isinstance(exc, UnexpectedError):
            kind = exc.kind
        else:
            # A failed assert: its line says which part of the property broke.
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            kind = f"assertion at {Path(frame.filename).name}:{frame.lineno}"
        known = self.failures.setdefault(kind, Failures(0, str(exc), _SHORT.repr(value)))
        known.count += 1

    @property
    def failed(self) -> int:
        return sum(f.count for f in self.failures.values())


def fuzz(index: int, examples: int) -> Outcome:
    prop = PROPERTIES[index]
    outcome = Outcome(prop.name)

    # Generation only: nothing is raised to hypothesis, so there is nothing to shrink, and a
    # database would only replay inputs from earlier runs.
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(prop.strategy)
    def run(value: Any) -> None:
        outcome.examples += 1
        try:
            prop.check(value)
        except AssertionError as exc:  # the checks raise nothing else
            outcome.record(exc, value)

    start = time.perf_counter()
    run()
    outcome.seconds = time.perf_counter() - start
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="examples per property")
    parser.add_argument("--jobs", type=int, default=2, help="properties run at once")
    args = parser.parse_args()
    failed = 0
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        indices = range(len(PROPERTIES))
        for outcome in pool.map(fuzz, indices, [args.examples] * len(PROPERTIES)):
            failed += outcome.failed
            print(
                f"{outcome.name}: {outcome.examples} examples, {outcome.failed} failures"
                f" ({outcome.seconds:.0f} s)",
                flush=True,
            )
            for kind, failures in outcome.failures.items():
                print(f"  {failures.count} x {kind}: {failures.message.splitlines()[0][:300]}")
                print(f"    e.g. {failures.example}")
    print(f"total: {failed} failures in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
