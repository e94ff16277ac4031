"""What the features compute, as plain data in the project's own terms: spans of code point
columns (:class:`~h2j_lsp.discovery.Span`), titles, commands. :mod:`h2j_lsp.proto` turns
them into LSP messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from h2j_lsp.discovery import Span

SOURCE = "h2j"

Severity = Literal["error", "warning", "information"]


@dataclass(frozen=True)
class Elsewhere:
    """A 0-based line of another file that a diagnostic points to, saying why."""

    path: str
    line: int
    message: str


@dataclass(frozen=True)
class Problem:
    """A diagnostic. ``kernel`` (and ``example``) name what a quick fix would act on;
    ``related`` is where in another file it comes from (e.g. a sibling module that raised)."""

    span: Span
    code: str
    message: str
    severity: Severity = "error"
    kernel: str | None = None
    example: int | None = None
    related: Elsewhere | None = None


@dataclass(frozen=True)
class ClientDiagnostic:
    """A diagnostic the client sends back with a code action request."""

    code: object
    source: str | None
    data: object


@dataclass(frozen=True)
class Command:
    """A command the client runs on the server (an empty ``command`` only shows text)."""

    title: str
    command: str
    arguments: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class QuickFix:
    """Insert ``text`` at the start of a 0-based ``line``; ``fixes`` index the request's
    diagnostics that it resolves."""

    title: str
    line: int
    text: str
    fixes: tuple[int, ...]


@dataclass(frozen=True)
class Lens:
    """A command shown above the 0-based line and code point column ``at``."""

    at: tuple[int, int]
    command: Command


@dataclass(frozen=True)
class Hint:
    """A label shown after the 0-based line and code point column ``at``, with a tooltip
    that says where it comes from."""

    at: tuple[int, int]
    label: str
    tooltip: str


@dataclass(frozen=True)
class HoverText:
    """Markdown (or the same text without its markup) over ``span``."""

    span: Span
    text: str
    markdown: bool


@dataclass(frozen=True)
class Symbol:
    """A kernel: ``span`` its whole definition, decorators included."""

    name: str
    span: Span
    name_span: Span
    detail: str
