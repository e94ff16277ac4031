"""One family of errors for everything that can go wrong while exporting.

Every error carries the kernel's name and, where one is known, the source
location it concerns, so that the CLI can print ``file:line: cause`` and the
language server can put a diagnostic on the right line.
"""

from __future__ import annotations

import os
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
