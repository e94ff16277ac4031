"""Committed exports ("goldens") that a kernel's fresh export no longer matches.

When ``<outDir>/<module>.<kernel>[.<n>].helion.json`` exists and differs from
what the kernel exports now, the kernel gets an information diagnostic with the
structural difference (the same one ``h2j-lsp --export --check`` prints), and a
code action that rewrites the file with the fresh export.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from h2j_lsp.features.commands import EXPORT_KERNEL
from h2j_lsp.features.report import SOURCE
from h2j_lsp.golden import Difference, compare_with_golden
from h2j_lsp.outputs import output_name, output_path
from h2j_lsp.session import Document, Session

GOLDEN_DIFF = "golden-diff"
_SHOWN = 3


@dataclass(frozen=True)
class Stale:
    kernel: str
    example: int
    golden: str  # the file, relative to the workspace folder
    differences: tuple[Difference, ...]


def stale_goldens(session: Session, document: Document) -> Iterator[Stale]:
    folder = session.folder_for(document)
    if folder is None:
        return
    out_dir = Path(folder.settings.out_path(folder.path))
    module = Path(document.path).stem
    for name, results in document.results.items():
        count = len(results.outcomes)
        for index, outcome in enumerate(results.outcomes):
            if not outcome.ok or outcome.document is None:
                continue
            try:
                path = output_path(out_dir, output_name(module, name, index, count))
            except ValueError:
                continue
            # No golden (or an unreadable one) is nothing to compare against.
            differences = compare_with_golden(path, outcome.document)
            if differences:
                relative = os.path.relpath(path, folder.path)
                yield Stale(name, index, relative, tuple(differences))


def golden_diagnostics(session: Session, document: Document) -> list[types.Diagnostic]:
    items: list[types.Diagnostic] = []
    for stale in stale_goldens(session, document):
        kernel = document.kernel(stale.kernel)
        if kernel is None:
            continue
        shown = "; ".join(str(d) for d in stale.differences[:_SHOWN])
        more = len(stale.differences) - _SHOWN
        message = f"the export differs from {stale.golden}: {shown}" + (
            f" (and {more} more)" if more > 0 else ""
        )
        items.append(
            types.Diagnostic(
                range=document.buffer.range(kernel.name_span),
                message=message,
                severity=types.DiagnosticSeverity.Information,
                code=GOLDEN_DIFF,
                source=SOURCE,
                data={"kernel": stale.kernel, "example": stale.example},
            )
        )
    return items


def golden_actions(
    session: Session, document: Document, params: types.CodeActionParams
) -> list[types.Command]:
    """Rewrite a stale golden with the fresh export (the export command writes it)."""
    wanted = {
        (d.data["kernel"], d.data["example"])
        for d in params.context.diagnostics
        if d.code == GOLDEN_DIFF and d.source == SOURCE and isinstance(d.data, dict)
    }
    return [
        types.Command(
            f"Update {stale.golden} with this export of `{stale.kernel}`",
            EXPORT_KERNEL,
            arguments=[document.uri, stale.kernel, stale.example],
        )
        for stale in stale_goldens(session, document)
        if (stale.kernel, stale.example) in wanted
    ]
