"""Shared pieces of the fault-injection suite: kernel sources, output checks, and the
plugin that counts how many faults the exporter survived."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARGS = "torch.randn(8, 8), torch.randn(8, 8)"

KERNEL = """\
import helion
import helion.language as hl
import torch
{prelude}

# h2j: args({args})
@helion.kernel(static_shapes=True)
def {name}(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = {expression}
    return out
"""


def kernel(
    *,
    prelude: str = "",
    args: str = ARGS,
    name: str = "add",
    expression: str = "x[tile_m, tile_n] + y[tile_m, tile_n]",
) -> str:
    """An annotated elementwise kernel; each fault replaces one part of it."""
    return KERNEL.format(prelude=prelude, args=args, name=name, expression=expression)


def line_of(text: str, fragment: str) -> int:
    """The 0-based line holding ``fragment``."""
    return text[: text.index(fragment)].count("\n")


def assert_no_partial_files(out_dir: Path) -> None:
    """A failed or interrupted export leaves no temporary file and no truncated document."""
    if not out_dir.exists():
        return
    for path in out_dir.rglob("*"):
        assert not path.name.endswith(".tmp"), f"temporary file left behind: {path}"
        if path.is_file():
            assert path.name.endswith(".helion.json"), f"unexpected file: {path}"
            json.loads(path.read_text())  # a truncated document does not parse


class FaultCounter:
    """Counts the tests marked ``fault`` and how many of them passed."""

    def __init__(self) -> None:
        self.outcomes: dict[str, bool] = {}
        self.untried: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "fault" not in report.keywords:
            return
        if report.skipped and not hasattr(report, "wasxfail"):
            self.untried.add(report.nodeid)  # e.g. no sshd on this machine
            return
        survived = report.passed and not hasattr(report, "wasxfail")
        # A test survives only if its setup, call and teardown all passed.
        self.outcomes[report.nodeid] = self.outcomes.get(report.nodeid, True) and survived

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        tried = {node: ok for node, ok in self.outcomes.items() if node not in self.untried}
        if tried:
            survived = sum(tried.values())
            terminalreporter.write_line(f"faults: {len(tried)} tried, {survived} survived")
