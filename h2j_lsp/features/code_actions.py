"""Code actions on a kernel: "Export `<kernel>` to JSON", and the quick fix that adds an
``args(...)`` template to a kernel that has none."""

from __future__ import annotations

from collections.abc import Sequence

from h2j_lsp.discovery import KernelInfo, args_template
from h2j_lsp.features.commands import EXPORT_KERNEL
from h2j_lsp.features.diagnostics import MISSING_ARGS
from h2j_lsp.features.model import SOURCE, ClientDiagnostic, Command, QuickFix
from h2j_lsp.session import Document, exportable
from h2j_lsp.text import overlaps

QUICK_FIX = "quickfix"


def code_actions(
    document: Document,
    start: tuple[int, int],
    end: tuple[int, int],
    only: Sequence[str] | None,
    diagnostics: Sequence[ClientDiagnostic],
    trusted: bool,
) -> list[QuickFix | Command]:
    """The actions for the kernels that the range (0-based lines, code point columns)
    touches; ``only`` the kinds the client asks for, ``diagnostics`` those it sent along."""
    actions: list[QuickFix | Command] = []
    for kernel in document.scan.kernels:
        if not overlaps(kernel.def_span, start, end):
            continue
        if not kernel.examples and not kernel.skip and _wanted(only, QUICK_FIX):
            actions.append(_add_args(document, kernel, diagnostics))
        # A bare command (which clients list with the quick fixes): some clients read any
        # action that has a command as a command, and would drop the rest of a CodeAction.
        # A client asking for particular kinds only (e.g. on save) does not get it.
        if trusted and exportable(kernel) and not only:
            actions.append(
                Command(
                    f"Export `{kernel.name}` to JSON",
                    EXPORT_KERNEL,
                    [document.uri, kernel.name, None],
                )
            )
    return actions


def _wanted(only: Sequence[str] | None, kind: str) -> bool:
    return not only or any(kind == want or kind.startswith(f"{want}.") for want in only)


def _add_args(
    document: Document, kernel: KernelInfo, diagnostics: Sequence[ClientDiagnostic]
) -> QuickFix:
    lines = document.lines
    line = kernel.first_decorator_line
    decorator = lines.line(line)
    indent = decorator[: len(decorator) - len(decorator.lstrip())]
    fixes = tuple(
        index
        for index, diagnostic in enumerate(diagnostics)
        if diagnostic.code == MISSING_ARGS
        and diagnostic.source == SOURCE
        and isinstance(diagnostic.data, dict)
        and diagnostic.data.get("kernel") == kernel.name
    )
    return QuickFix(
        title=f"Add example arguments for `{kernel.name}`: {args_template(kernel)}",
        line=line,
        text=indent + args_template(kernel) + lines.newline,
        fixes=fixes,
    )
