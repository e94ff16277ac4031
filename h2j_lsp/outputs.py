"""What the editor and ``h2j-lsp --export`` share about an export: the request for one
example, where a worker's diagnostic belongs, where the document goes and how it is written.

Both ask the same, place problems by the same rule and write the same files the same way:
``<out-dir>/<module>.<kernel>[.<n>].helion.json``, validated again on this side, written
atomically.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h2j_lsp.discovery import Directive, KernelInfo, Span
from helion2json.worker.protocol import (
    INFRASTRUCTURE_CODES,
    ExportDiagnostic,
    ExportRequest,
    VerifyRequest,
)

OUTPUT_SUFFIX = ".helion.json"
# What a diagnostic's related location (where in another file the error was raised) says.
RAISED_HERE = "the error was raised here"


def export_request(
    path: str, text: str, kernel: KernelInfo, example: int, *, locations: bool = True
) -> ExportRequest:
    """Export the kernel's ``example``-th ``args(...)`` from ``text``, with its ``config``."""
    config = kernel.config
    return ExportRequest(
        path=path,
        text=text,
        kernel=kernel.name,
        args_text=kernel.examples[example].text,
        example_index=example,
        locations=locations,
        config_text=config.text if config else None,
        config_line=config.line if config else None,
    )


def verify_request(
    export: ExportRequest,
    kernel: KernelInfo,
    document: dict[str, Any] | None,
    *,
    atol: float | None = None,
    rtol: float | None = None,
) -> VerifyRequest:
    """Verify what ``export`` exported (its ``document``), against the kernel's ``ref``."""
    reference = kernel.ref
    return VerifyRequest(
        export,
        document,
        reference_text=reference.text if reference else None,
        reference_line=reference.line if reference else None,
        atol=atol,
        rtol=rtol,
    )


@dataclass(frozen=True)
class InOtherFile:
    """Raised in another file (a sibling module): ``line`` 1-based, ``col`` in UTF-8 bytes."""

    file: str
    line: int | None
    col: int | None


@dataclass(frozen=True)
class OnExportedLine:
    """A line of the text that was exported: ``line`` 1-based, ``col`` in UTF-8 bytes."""

    line: int
    col: int | None


Placement = Span | InOtherFile | OnExportedLine


def place(kernel: KernelInfo, example: int, item: ExportDiagnostic) -> Placement:
    """Where a worker diagnostic about one example of a kernel belongs.

    An infrastructure failure belongs to the kernel (its name), whatever it says; a diagnostic
    with a line to that line; one without a line came from the example arguments, so it goes
    on that example's ``args`` directive: on the failing argument where it is known, else from
    ``args_col`` into its text.
    """
    if item.code in INFRASTRUCTURE_CODES:
        return kernel.name_span
    if item.file is not None:
        return InOtherFile(item.file, item.line, item.col)
    if item.line is not None:
        return OnExportedLine(item.line, item.col)
    if example < len(kernel.examples):
        return _in_arguments(kernel.examples[example], item)
    return kernel.name_span


def _in_arguments(directive: Directive, item: ExportDiagnostic) -> Span:
    text_span = directive.text_span
    found = _failing_argument(directive.text, item)
    if found is None:
        if item.args_col is None:
            return directive.span
        found = item.args_col, text_span.end_col - text_span.start_col
    start, end = found
    line, col = text_span.start_line, text_span.start_col
    return Span(line, col + start, line, col + end)


def _failing_argument(text: str, item: ExportDiagnostic) -> tuple[int, int] | None:
    """The columns in ``text`` (an argument list) of the argument at the diagnostic's
    ``args_col``."""
    if "\n" in text or item.args_col is None:
        return None
    source = f"f({text})"
    try:
        call = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None
    if not isinstance(call, ast.Call):
        return None
    encoded = source.encode("utf-8")

    def column(offset: int) -> int:  # ast counts UTF-8 bytes
        return len(encoded[:offset].decode("utf-8", errors="replace")) - len("f(")

    # Each argument as written (``*xs``, ``eps=...``).
    written: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
    for argument in written:
        start = column(argument.col_offset)
        end = column(argument.end_col_offset or argument.col_offset)
        if start <= item.args_col < end:
            return start, end
    return None


def output_name(module: str, kernel: str, index: int, count: int) -> str:
    """``<module>.<kernel>[.<n>].helion.json``: ``.<n>`` (0-based) only for several examples.

    Raises ``ValueError`` for a name that is not one plain file name.
    """
    name = f"{module}.{kernel}{f'.{index}' if count > 1 else ''}{OUTPUT_SUFFIX}"
    separators = {os.sep, os.altsep or os.sep, "\0"}
    if any(separator in name for separator in separators) or name in {".", ".."}:
        raise ValueError(f"refusing to write {name!r}: not a plain file name")
    return name


def output_path(out_dir: Path, name: str) -> Path:
    """``out_dir / name``, refusing anything that would land outside ``out_dir``."""
    target = out_dir / name
    if os.path.dirname(os.path.abspath(target)) != os.path.abspath(out_dir):
        raise ValueError(f"refusing to write {target}: outside {out_dir}")
    return target


def write_document(output: Path, document: dict[str, Any]) -> ExportDiagnostic | None:
    from helion2json.core.errors import ValidationError
    from helion2json.core.export import to_json_text, write_atomically
    from helion2json.core.schema import validate_spec

    try:
        # Again here: the worker may run another helion2json version than this client.
        validate_spec(document)
        write_atomically(output, to_json_text(document))
    except ValidationError as exc:
        return ExportDiagnostic(f"invalid document: {exc.message}", exc.code)
    except OSError as exc:
        return ExportDiagnostic(f"cannot write {output}: {exc.strerror or exc}", "write-error")
    return None
