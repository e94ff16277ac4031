"""One family of errors for everything that can go wrong while exporting.

Every error carries the kernel's name and, where one is known, the source
location it concerns, so that the CLI can print ``file:line: cause`` and the
language server can put a diagnostic on the right line.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass


def relative_source_path(filename: str) -> str:
    """A path relative to the working directory with '/' separators.

    Exports name source files this way so that the same kernel exports to the
    same bytes on every machine; files outside the working directory keep only
    their base name.
    """
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        relative = filename
    if relative == ".." or relative.startswith(".." + os.sep) or os.path.isabs(relative):
        relative = os.path.basename(filename)
    return relative.replace(os.sep, "/")


def one_line(exc: BaseException, *, width: int | None = None) -> str:
    """An exception in one line: ``Type: first line of its message`` (``Type`` when empty).

    With ``width``, a longer line is cut after its first sentence, or at ``width``.
    """
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    text = lines[0]
    if width is not None and len(text) > width:
        sentence, dot, _ = text.partition(". ")
        text = sentence + dot.strip() if dot else text[:width] + "..."
    return f"{type(exc).__name__}: {text}"


def user_frame(exc: BaseException, filename: str) -> SourceLocation | None:
    """Where a failure in user code points: its own location, else its innermost frame in ``filename``.

    Helion's errors carry the kernel line they concern (``exc.location``); any
    other exception is placed at the deepest traceback frame in the user's file.
    """
    location = getattr(exc, "location", None)
    if location is not None and getattr(location, "lineno", None):
        return SourceLocation(
            relative_source_path(location.filename), location.lineno, location.colno or 0
        )
    found: SourceLocation | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(filename) and frame.lineno:
            found = SourceLocation(
                relative_source_path(frame.filename), frame.lineno, frame.colno or 0
            )
    return found


@dataclass(frozen=True)
class SourceLocation:
    """A position in a source file. ``line`` is 1-based, ``col`` 0-based."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class ExportError(Exception):
    """A kernel could not be exported. Subclasses say why."""

    code = "export-error"

    def __init__(
        self,
        message: str,
        *,
        kernel: str | None = None,
        location: SourceLocation | None = None,
        op: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kernel = kernel
        self.location = location
        self.op = op

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        who = f"kernel '{self.kernel}': " if self.kernel else ""
        return f"{where}{who}{self.message}"

    def with_context(
        self, *, kernel: str | None = None, location: SourceLocation | None = None
    ) -> ExportError:
        """Fill in the kernel and location where the raiser did not know them."""
        if self.kernel is None:
            self.kernel = kernel
        if self.location is None:
            self.location = location
        return self


class ArgumentError(ExportError):
    """Example arguments are missing, do not evaluate, or do not fit the kernel."""

    code = "bad-arguments"


class BindError(ExportError):
    """Helion rejected the kernel while binding it to the example arguments."""

    code = "bind-error"


class UnsupportedError(ExportError):
    """The device IR holds a construct the JSON format cannot express yet."""

    code = "unsupported"


class ElementTypeError(UnsupportedError):
    """A torch dtype the format has no element type for, or a name that is no element type."""


class IRStructureError(ExportError):
    """The device IR lacks a structure the exporter relies on (a tile loop, a store)."""

    code = "ir-structure"


class NoBindingError(ExportError):
    """``dump_kernel_json`` was called without example arguments on an unbound kernel."""

    code = "no-binding"


class HelionVersionError(ExportError):
    """The installed helion is outside the range whose private IR this exporter reads."""

    code = "helion-version"


class ValidationError(ExportError):
    """A document does not satisfy the JSON format (structure or cross-references).

    ``errors`` lists each problem as ``(path, message)``, ``path`` pointing into
    the document (e.g. ``module.funcs[0].body[3].args[1]``).
    """

    code = "schema-error"

    def __init__(
        self,
        message: str,
        *,
        errors: list[tuple[str, str]] | None = None,
        kernel: str | None = None,
        location: SourceLocation | None = None,
        op: str | None = None,
    ) -> None:
        super().__init__(message, kernel=kernel, location=location, op=op)
        self.errors = errors or []
