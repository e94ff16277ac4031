"""What a headless export run is: the jobs a scan plans, what each export came to, and the
reports and summary that the output formats print."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from h2j_lsp.discovery import Directive, KernelInfo
from helion2json.worker.protocol import VerifyReport

PROG = "h2j-lsp"
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2

Severity = Literal["error", "warning", "info"]


class UsageError(Exception):
    """Bad command line: reported on one line, exit status 2."""


@dataclass(frozen=True)
class Related:
    """The line of another file that a report comes from (where a sibling module raised):
    ``line`` 1-based, ``col`` 0-based."""

    path: str
    line: int
    col: int | None = None


@dataclass(frozen=True)
class Report:
    """One diagnostic, in whatever format it is printed. ``line`` 1-based, ``col`` 0-based."""

    severity: Severity
    code: str
    message: str
    path: str | None = None
    line: int | None = None
    col: int | None = None
    related: Related | None = None


@dataclass(frozen=True)
class Job:
    """One example of one kernel."""

    source: Path
    display: str
    text: str
    kernel: KernelInfo
    example: Directive
    index: int
    output: Path

    @property
    def label(self) -> str:
        many = len(self.kernel.examples) > 1
        return f"kernel '{self.kernel.name}'" + (f" example {self.index}" if many else "")


@dataclass
class Plan:
    """What the scan found: the exports to run and the problems found on the way."""

    jobs: list[Job] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True)
class Outcome:
    """What one job came to: whether its document is good, and the reports it produced;
    with ``--verify``, what verifying the document came to."""

    job: Job
    ok: bool
    cached: bool
    host: str
    reports: tuple[Report, ...]
    verification: VerifyReport | None = None


@dataclass(frozen=True)
class Run:
    """What the workers did with a plan."""

    outcomes: list[Outcome] = field(default_factory=list)
    infrastructure: list[Report] = field(default_factory=list)
    started: bool = True
    startup_seconds: float = 0.0
    export_seconds: float = 0.0


@dataclass(frozen=True)
class Summary:
    """The counts and times of a whole run: the last line of the text formats, and the JSON
    format's ``summary``."""

    kernels: int
    examples: int
    ok: int
    failed: int
    skipped: int
    cached: int
    seconds: float
    startup_seconds: float
    export_seconds: float
    # With --verify: the documents verified, and how many of them passed.
    verified: int | None = None
    verified_ok: int = 0

    def line(self) -> str:
        verified = ""
        if self.verified is not None:
            failed = self.verified - self.verified_ok
            verified = f"; verified {self.verified}: {self.verified_ok} ok, {failed} failed"
        return (
            f"exported {_count(self.kernels, 'kernel')} ({_count(self.examples, 'example')}): "
            f"{self.ok} ok, {self.failed} failed{verified} in {self.seconds:.1f}s"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
