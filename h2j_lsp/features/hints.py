"""Inlay hints: the block sizes the last export chose for each ``hl.tile`` loop."""

from __future__ import annotations

from lsprotocol import types

from h2j_lsp.features.report import tile_loops
from h2j_lsp.session import Document


def inlay_hints(document: Document, visible: types.Range) -> list[types.InlayHint]:
    hints: list[types.InlayHint] = []
    for kernel in document.scan.kernels:
        loops = tile_loops(document, kernel)
        for span in kernel.tile_loops:
            loop = loops.get(span.start_line)
            if loop is None or not visible.start.line <= span.end_line <= visible.end.line:
                continue
            sizes = ", ".join(str(size) for size in loop.sizes)
            label = f"block_size={sizes}" if len(loop.sizes) == 1 else f"block_sizes=[{sizes}]"
            kind = "grid (parallel)" if loop.parallel else "sequential device loop"
            hints.append(
                types.InlayHint(
                    position=document.buffer.position(span.end_line, span.end_col),
                    label=label,
                    padding_left=True,
                    tooltip=f"{kind} over {', '.join(loop.iters)}, from the last export",
                )
            )
    return hints
