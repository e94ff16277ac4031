"""Inlay hints: the block sizes the last export chose for each ``hl.tile`` loop."""

from __future__ import annotations

from h2j_lsp.features.model import Hint
from h2j_lsp.features.report import tile_loops
from h2j_lsp.session import Document


def inlay_hints(document: Document, first_line: int, last_line: int) -> list[Hint]:
    """The hints of the loops whose header ends between the two 0-based lines."""
    hints: list[Hint] = []
    for kernel in document.scan.kernels:
        loops = tile_loops(document, kernel)
        for span in kernel.tile_loops:
            loop = loops.get(span.start_line)
            if loop is None or not first_line <= span.end_line <= last_line:
                continue
            sizes = ", ".join(str(size) for size in loop.sizes)
            label = f"block_size={sizes}" if len(loop.sizes) == 1 else f"block_sizes=[{sizes}]"
            kind = "grid (parallel)" if loop.parallel else "sequential device loop"
            tooltip = f"{kind} over {', '.join(loop.iters)}, from the last export"
            hints.append(Hint((span.end_line, span.end_col), label, tooltip))
    return hints
