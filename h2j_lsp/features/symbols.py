"""Document symbols: one per kernel, with its export status as the detail."""

from __future__ import annotations

from h2j_lsp.features.model import Symbol
from h2j_lsp.features.report import kernel_status
from h2j_lsp.session import Document


def document_symbols(document: Document, trusted: bool) -> list[Symbol]:
    return [
        Symbol(
            kernel.name,
            kernel.def_span,
            kernel.name_span,
            f"helion kernel · {kernel_status(document, kernel, trusted)}",
        )
        for kernel in document.scan.kernels
    ]
