"""Hover on a kernel's name: its signature as exported, tile loops with their block sizes,
what the exported body is made of, and its last verify of the current text."""

from __future__ import annotations

from typing import Any

from h2j_lsp.discovery import KernelInfo
from h2j_lsp.features.model import HoverText
from h2j_lsp.features.report import (
    describe_type,
    first_document,
    kernel_status,
    op_counts,
    problems,
    tile_loops,
)
from h2j_lsp.features.verify import verify_section
from h2j_lsp.session import Document
from h2j_lsp.text import contains


def hover(
    document: Document, line: int, col: int, trusted: bool, markdown: bool
) -> HoverText | None:
    """On a kernel's name (a 0-based line and a code point column)."""
    kernel = next((k for k in document.scan.kernels if contains(k.name_span, line, col)), None)
    if kernel is None:
        return None
    text = "\n\n".join(_sections(document, kernel, trusted))
    if not markdown:
        text = text.replace("**", "").replace("`", "")
    return HoverText(kernel.name_span, text, markdown)


def _sections(document: Document, kernel: KernelInfo, trusted: bool) -> list[str]:
    exported = first_document(document.results.get(kernel.name))
    sections = [
        f"**{kernel.name}**: helion kernel · {kernel_status(document, kernel, trusted)}",
        _arguments(kernel, exported),
        _loops(document, kernel),
        _ops(exported),
        _errors(document, kernel),
        verify_section(document, kernel),
    ]
    return [section for section in sections if section]


def _arguments(kernel: KernelInfo, exported: dict[str, Any] | None) -> str:
    """The exported argument types; the signature's annotations before the first export."""
    funcs = exported.get("module", {}).get("funcs", []) if exported else []
    if funcs:
        rows = [
            f"- `{arg.get('id')}`: `{describe_type(arg.get('type'))}`"
            for arg in funcs[0].get("args", ())
        ]
    else:
        rows = [
            f"- `{param.name}`" + (f": `{param.annotation}`" if param.annotation else "")
            for param in kernel.parameters
        ]
    return "Arguments:\n" + "\n".join(rows) if rows else ""


def _loops(document: Document, kernel: KernelInfo) -> str:
    loops = tile_loops(document, kernel)
    rows = []
    for span in kernel.tile_loops:
        loop = loops.get(span.start_line)
        if loop is None:
            rows.append(f"- line {span.start_line + 1}: block sizes unknown")
            continue
        kind = "grid" if loop.parallel else "device loop"
        rows.append(f"- line {span.start_line + 1}: block sizes {list(loop.sizes)} ({kind})")
    return "Tile loops:\n" + "\n".join(rows) if rows else ""


def _ops(exported: dict[str, Any] | None) -> str:
    if not exported:
        return ""
    counts = op_counts(exported)
    listed = ", ".join(f"`{name}` ×{count}" for name, count in sorted(counts.items()))
    return f"Ops: {sum(counts.values())} ({listed})"


def _errors(document: Document, kernel: KernelInfo) -> str:
    rows = [
        f"- line {p.span.start_line + 1}: {p.message} ({p.code})"
        for p in problems(document, kernel)
    ]
    return "Errors:\n" + "\n".join(rows) if rows else ""
