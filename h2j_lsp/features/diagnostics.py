"""The document's diagnostics: directive problems, kernels without example arguments, what
the last export of each kernel reported, and verifies of the current text that did not
pass."""

from __future__ import annotations

from h2j_lsp.discovery import DirectiveError
from h2j_lsp.features.model import Problem
from h2j_lsp.features.report import problems
from h2j_lsp.features.verify import verify_problems
from h2j_lsp.session import UNTRUSTED_MESSAGE, Document

MISSING_ARGS = "missing-args"
UNTRUSTED = "untrusted"


def document_problems(document: Document, trusted: bool) -> list[Problem]:
    scan = document.scan
    # A syntax error is left to the Python tooling, which already reports it.
    items = [_directive(error) for error in scan.errors]
    for kernel in scan.kernels:
        if kernel.examples or kernel.skip:
            continue
        items.append(
            Problem(
                kernel.name_span,
                MISSING_ARGS,
                f"kernel {kernel.name!r} has no example arguments: add a "
                "'# h2j: args(...)' line above its decorator, or '# h2j: skip'",
                severity="information",
                kernel=kernel.name,
            )
        )
    if not trusted:
        if scan.kernels:
            items.append(
                Problem(
                    scan.kernels[0].name_span,
                    UNTRUSTED,
                    UNTRUSTED_MESSAGE,
                    severity="information",
                )
            )
        return items
    # Kernels of a module that does not import all fail on the same line: show it once.
    unique = {problem: None for kernel in scan.kernels for problem in problems(document, kernel)}
    items.extend(unique)
    items.extend(
        problem for kernel in scan.kernels for problem in verify_problems(document, kernel)
    )
    return items


def _directive(error: DirectiveError) -> Problem:
    return Problem(error.span, error.code, error.message, severity=error.severity)
