"""The document's diagnostics: directive problems, kernels without example arguments, and
what the last export of each kernel reported."""

from __future__ import annotations

from lsprotocol import types

from h2j_lsp.discovery import DirectiveError
from h2j_lsp.features.report import SOURCE, problems
from h2j_lsp.session import UNTRUSTED_MESSAGE, Document

MISSING_ARGS = "missing-args"
UNTRUSTED = "untrusted"

_SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning}


def document_diagnostics(document: Document, trusted: bool) -> list[types.Diagnostic]:
    buffer = document.buffer
    scan = document.scan
    # A syntax error is left to the Python tooling, which already reports it.
    items = [_directive(document, error) for error in scan.errors]
    for kernel in scan.kernels:
        if kernel.examples or kernel.skip:
            continue
        items.append(
            types.Diagnostic(
                range=buffer.range(kernel.name_span),
                message=(
                    f"kernel {kernel.name!r} has no example arguments: add a "
                    "'# h2j: args(...)' line above its decorator, or '# h2j: skip'"
                ),
                severity=types.DiagnosticSeverity.Information,
                code=MISSING_ARGS,
                source=SOURCE,
                data={"kernel": kernel.name},
            )
        )
    if not trusted:
        if scan.kernels:
            items.append(
                types.Diagnostic(
                    range=buffer.range(scan.kernels[0].name_span),
                    message=UNTRUSTED_MESSAGE,
                    severity=types.DiagnosticSeverity.Information,
                    code=UNTRUSTED,
                    source=SOURCE,
                )
            )
        return items
    # Kernels of a module that does not import all fail on the same line: show it once.
    unique = {problem: None for kernel in scan.kernels for problem in problems(document, kernel)}
    items.extend(
        types.Diagnostic(
            range=problem.range,
            message=problem.message,
            severity=types.DiagnosticSeverity.Error,
            code=problem.code,
            source=SOURCE,
        )
        for problem in unique
    )
    return items


def _directive(document: Document, error: DirectiveError) -> types.Diagnostic:
    return types.Diagnostic(
        range=document.buffer.range(error.span),
        message=error.message,
        severity=_SEVERITY[error.severity],
        code=error.code,
        source=SOURCE,
    )
