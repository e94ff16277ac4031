"""What a kernel's export results say, placed on the current text: shared by diagnostics,
lenses, hints and hover so that they always agree (a lens's error count is the number of
diagnostics the kernel has)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from h2j_lsp.discovery import KernelInfo
from h2j_lsp.features.model import Elsewhere, Problem
from h2j_lsp.outputs import RAISED_HERE, InOtherFile, OnExportedLine, place
from h2j_lsp.session import Document, KernelResults, Verification
from helion2json.worker.protocol import ExportDiagnostic, ExportResult


def problems(document: Document, kernel: KernelInfo) -> list[Problem]:
    """The kernel's export failures, deduplicated (a module that does not import fails every
    example the same way)."""
    results = document.results.get(kernel.name)
    if results is None:
        return []
    several = len(results.outcomes) > 1
    found = {
        _place(document, kernel, results, index, item, several): None
        for index, outcome in enumerate(results.outcomes)
        for item in outcome.diagnostics
    }
    return list(found)


def _place(
    document: Document,
    kernel: KernelInfo,
    results: KernelResults,
    index: int,
    item: ExportDiagnostic,
    several: bool,
) -> Problem:
    message = f"example {index + 1}: {item.message}" if several else item.message
    related = item.related
    elsewhere = None if related is None else Elsewhere(related.file, related.line - 1, RAISED_HERE)
    where = place(kernel, index, item)
    if isinstance(where, InOtherFile):
        # Raised in another file (a sibling module): say where, at the kernel.
        shown = f"{where.file}:{where.line}" if where.line is not None else where.file
        return Problem(kernel.name_span, item.code, f"{message} ({shown})", related=elsewhere)
    if isinstance(where, OnExportedLine):
        lines = document.lines
        line = where.line - 1 + results.shift(kernel)
        if 0 <= line < lines.line_count:
            col = None if where.col is None else lines.column_of_utf8(line, where.col)
            return Problem(lines.line_span(line, col), item.code, message, related=elsewhere)
        return Problem(kernel.name_span, item.code, message, related=elsewhere)
    return Problem(where, item.code, message, related=elsewhere)


def first_document(results: KernelResults | None) -> dict[str, Any] | None:
    """The JSON of the kernel's first example that exported."""
    if results is None:
        return None
    return next((o.document for o in results.outcomes if o.ok and o.document), None)


def seconds(outcome: ExportResult) -> float:
    """How long the export took in the worker (a cached answer keeps its original time)."""
    timings = outcome.timings
    return timings.get("worker", timings.get("round_trip", sum(timings.values())))


@dataclass(frozen=True)
class TileLoop:
    iters: tuple[str, ...]
    sizes: tuple[Any, ...]
    parallel: bool


def tile_loops(document: Document, kernel: KernelInfo) -> dict[int, TileLoop]:
    """The exported ``hl.tile.begin`` ops by the 0-based line of the current text they start
    on (``loc.line``, shifted by how far the kernel moved since the export)."""
    results = document.results.get(kernel.name)
    exported = first_document(results)
    if results is None or exported is None:
        return {}
    shift = results.shift(kernel)
    name = os.path.basename(document.path)
    loops: dict[int, TileLoop] = {}
    for op in _ops(exported):
        loc = op.get("loc")
        if op.get("op") != "hl.tile.begin" or not isinstance(loc, dict):
            continue
        if os.path.basename(str(loc.get("file", ""))) != name or not isinstance(
            loc.get("line"), int
        ):
            continue
        loops.setdefault(
            loc["line"] - 1 + shift,
            TileLoop(
                tuple(str(item) for item in op.get("iters", ())),
                tuple(op.get("sizes", ())),
                bool(op.get("parallel", False)),
            ),
        )
    return loops


def _ops(exported: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for func in exported.get("module", {}).get("funcs", ()):
        for op in func.get("body", ()):
            if isinstance(op, dict):
                yield op


def op_counts(exported: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in _ops(exported):
        name = str(op.get("op"))
        counts[name] = counts.get(name, 0) + 1
    return counts


def describe_type(value: Any) -> str:
    """A JSON type as text: ``tensor<?x?xf32>``, ``f64``."""
    if isinstance(value, dict) and isinstance(value.get("tensor"), dict):
        tensor = value["tensor"]
        dims = "x".join(str(dim) for dim in tensor.get("shape", ()))
        return f"tensor<{dims}x{tensor.get('elem')}>" if dims else f"tensor<{tensor.get('elem')}>"
    if isinstance(value, dict) and "scalar" in value:
        return str(value["scalar"])
    return "?"


def kernel_status(document: Document, kernel: KernelInfo, trusted: bool) -> str:
    """The one-line status of a kernel, as the lens above it shows it."""
    if kernel.skip:
        return "skipped (# h2j: skip)"
    if not kernel.examples:
        return "not annotated"
    if not trusted:
        return "not exported (untrusted workspace)"
    results = document.results.get(kernel.name)
    if results is None:
        running = document.job is not None and not document.job.done()
        return "exporting…" if running else "not exported yet"
    if results.ok:
        return f"✓ exported in {sum(seconds(o) for o in results.outcomes):.2f}s"
    count = len(problems(document, kernel))
    return f"✗ {count} error{'s' if count != 1 else ''}"


def current_verification(document: Document, kernel: KernelInfo) -> Verification | None:
    """The kernel's verify result, if it was made for the current text."""
    found = document.verifications.get(kernel.name)
    return found if found is not None and found.version == document.version else None
