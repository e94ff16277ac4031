"""Code lenses above each kernel: its export status, "Preview JSON" and "Export"."""

from __future__ import annotations

from lsprotocol import types

from h2j_lsp.features.commands import EXPORT_KERNEL, PREVIEW_JSON
from h2j_lsp.features.report import kernel_status
from h2j_lsp.session import Document, exportable


def code_lenses(document: Document, trusted: bool) -> list[types.CodeLens]:
    lenses: list[types.CodeLens] = []
    for kernel in document.scan.kernels:
        # At the first decorator: the lens line sits between the directives and the kernel.
        start = document.buffer.position(kernel.def_span.start_line, kernel.def_span.start_col)
        where = types.Range(start, start)
        # An empty command id makes a lens that only shows text.
        lenses.append(
            types.CodeLens(where, types.Command(kernel_status(document, kernel, trusted), ""))
        )
        if not (trusted and exportable(kernel)):
            continue
        lenses.append(
            types.CodeLens(
                where,
                types.Command(
                    "Preview JSON", PREVIEW_JSON, arguments=[document.uri, kernel.name, 0]
                ),
            )
        )
        lenses.append(
            types.CodeLens(
                where,
                types.Command("Export", EXPORT_KERNEL, arguments=[document.uri, kernel.name, None]),
            )
        )
    return lenses
