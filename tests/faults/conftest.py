"""Fixtures of the fault-injection suite, and the ``faults: N tried, N survived`` line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The LSP tests' editor driver (a real h2j-lsp under pytest-lsp) is reused as it is.
sys.path.insert(0, str(Path(__file__).parent.parent / "lsp"))

from fault_support import FaultCounter


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault: an injected fault, counted in the summary line")
    config.pluginmanager.register(FaultCounter(), "h2j-fault-counter")
