"""What a kernel's verify result shows: a diagnostic unless it passed, a hover section, the
Verify lens's title and the command's answer."""

from __future__ import annotations

from typing import Any

from h2j_lsp.discovery import KernelInfo
from h2j_lsp.features.model import Problem, Severity
from h2j_lsp.features.report import current_verification
from h2j_lsp.session import Document
from helion2json.worker.protocol import VerifyReport

# Diagnostic codes: "verify-mismatch", "verify-no-reference", "verify-error".
CODE_PREFIX = "verify-"
# A kernel no reference could check is not proven, but nothing was found wrong either.
_SEVERITY: dict[str, Severity] = {
    "mismatch": "error",
    "error": "error",
    "no-reference": "warning",
}
_MARK = {"pass": "✓", "mismatch": "✗", "error": "✗", "no-reference": "?"}


def verify_problems(document: Document, kernel: KernelInfo) -> list[Problem]:
    """A diagnostic at the kernel (or at the line of this file the worker names, e.g. the
    ``ref(...)`` directive) for a current verify that did not pass."""
    verification = current_verification(document, kernel)
    if verification is None or verification.report.ok:
        return []
    report = verification.report
    span = kernel.name_span
    located = next(
        (item.line for item in report.diagnostics if item.file is None and item.line is not None),
        None,
    )
    lines = document.lines
    if located is not None and 0 < located <= lines.line_count:
        span = lines.line_span(located - 1, None)
    return [
        Problem(
            span,
            CODE_PREFIX + report.status,
            f"verify: {report.message}",
            severity=_SEVERITY[report.status],
            kernel=kernel.name,
            example=verification.example,
        )
    ]


def verify_lens_title(document: Document, kernel: KernelInfo) -> str:
    verification = current_verification(document, kernel)
    if verification is None:
        return "Verify"
    return f"Verify {_MARK[verification.report.status]} {verification.report.status}"


def verify_section(document: Document, kernel: KernelInfo) -> str:
    """The hover's lines on the current verify: the reference, each compared tensor with its
    errors and tolerances, and the references that could not run."""
    verification = current_verification(document, kernel)
    if verification is None:
        return ""
    report = verification.report
    against = f" against the {report.reference}" if report.reference else ""
    rows = [f"Verify: {_MARK[report.status]} **{report.status}**{against}"]
    if not report.outputs:
        rows.append(f"- {report.message}")
    for output in report.outputs:
        verdict = "ok" if output.ok else "MISMATCH"
        rows.append(f"- `{output.label}` ({output.dtype}): {verdict}, {output.describe()}")
    rows.extend(f"- skipped {item.name}: {item.reason}" for item in report.skipped)
    return "\n".join(rows)


def verify_answer(report: VerifyReport, current: bool, version: int) -> dict[str, Any]:
    """The ``h2j.lsp.verify`` command's result and the ``h2j/verified`` notification's body
    (``current``: made for the document's current text, so shown)."""
    return {"ok": report.ok, **report.outcome(), "current": current, "version": version}
