"""Code lenses above each kernel: its export status, "Preview JSON", "Preview MLIR",
"Export" and "Verify" (with the last verify's outcome for the current text)."""

from __future__ import annotations

from h2j_lsp.features.commands import EXPORT_KERNEL, PREVIEW_JSON, PREVIEW_MLIR, VERIFY_KERNEL
from h2j_lsp.features.model import Command, Lens
from h2j_lsp.features.report import kernel_status
from h2j_lsp.features.verify import verify_lens_title
from h2j_lsp.session import Document, exportable


def code_lenses(document: Document, trusted: bool) -> list[Lens]:
    lenses: list[Lens] = []
    for kernel in document.scan.kernels:
        # At the first decorator: the lens line sits between the directives and the kernel.
        at = (kernel.def_span.start_line, kernel.def_span.start_col)
        # An empty command id makes a lens that only shows text.
        lenses.append(Lens(at, Command(kernel_status(document, kernel, trusted), "")))
        if not (trusted and exportable(kernel)):
            continue
        preview = Command("Preview JSON", PREVIEW_JSON, [document.uri, kernel.name, 0])
        lenses.append(Lens(at, preview))
        mlir = Command("Preview MLIR", PREVIEW_MLIR, [document.uri, kernel.name, 0])
        lenses.append(Lens(at, mlir))
        export = Command("Export", EXPORT_KERNEL, [document.uri, kernel.name, None])
        lenses.append(Lens(at, export))
        verify = Command(
            verify_lens_title(document, kernel), VERIFY_KERNEL, [document.uri, kernel.name, 0]
        )
        lenses.append(Lens(at, verify))
    return lenses
