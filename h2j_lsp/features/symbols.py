"""Document symbols: one per kernel, with its export status as the detail."""

from __future__ import annotations

from lsprotocol import types

from h2j_lsp.features.report import kernel_status
from h2j_lsp.session import Document


def document_symbols(
    document: Document, trusted: bool, hierarchical: bool
) -> list[types.DocumentSymbol] | list[types.SymbolInformation]:
    buffer = document.buffer
    kernels = document.scan.kernels
    if not hierarchical:
        return [
            types.SymbolInformation(
                name=kernel.name,
                kind=types.SymbolKind.Function,
                location=types.Location(document.uri, buffer.range(kernel.def_span)),
            )
            for kernel in kernels
        ]
    return [
        types.DocumentSymbol(
            name=kernel.name,
            kind=types.SymbolKind.Function,
            range=buffer.range(kernel.def_span),
            selection_range=buffer.range(kernel.name_span),
            detail=f"helion kernel · {kernel_status(document, kernel, trusted)}",
        )
        for kernel in kernels
    ]
