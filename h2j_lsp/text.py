"""A document's text by lines, as LSP and ``discovery`` count them, in code point columns.

Lines are split at ``\\n``, ``\\r\\n`` and ``\\r`` only, never with ``str.splitlines``, which
also breaks at form feeds and U+2028 and would put every position after such a character on
the wrong line. The client's own units (UTF-16 and the rest) are the LSP layer's business
(:mod:`h2j_lsp.proto`).
"""

from __future__ import annotations

import re

from h2j_lsp.discovery import Span

LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SourceLines:
    """One text with its line index (built on first use)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] | None = None

    @property
    def line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *(match.end() for match in LINE_BREAK.finditer(self.text))]
        return self._starts

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line(self, index: int) -> str:
        """The text of a 0-based line, without its line break ("" past the end)."""
        starts = self.line_starts
        if not 0 <= index < len(starts):
            return ""
        end = starts[index + 1] if index + 1 < len(starts) else len(self.text)
        return self.text[starts[index] : end].rstrip("\r\n")

    @property
    def newline(self) -> str:
        """The line break the document already uses, for text the server inserts."""
        match = LINE_BREAK.search(self.text)
        return match.group() if match else "\n"

    def line_span(self, line: int, col: int | None = None) -> Span:
        """A 0-based line's code from ``col`` (or its indentation) to its last non-blank."""
        text = self.line(line)
        stripped = text.rstrip()
        indent = len(text) - len(text.lstrip())
        start = indent if col is None or not indent <= col < len(stripped) else col
        return Span(line, start, line, len(stripped))

    def column_of_utf8(self, line: int, byte_col: int) -> int:
        """A UTF-8 byte column (what Python's tracebacks and ``ast`` report) as a code point
        column."""
        text = self.line(line)
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8", "surrogatepass")[:byte_col].decode("utf-8", "ignore"))


def contains(span: Span, line: int, col: int) -> bool:
    """Whether a code point position lies in a span (both ends included: a cursor right after
    a name is still on it)."""
    return (span.start_line, span.start_col) <= (line, col) <= (span.end_line, span.end_col)


def overlaps(span: Span, start: tuple[int, int], end: tuple[int, int]) -> bool:
    return (span.start_line, span.start_col) <= end and start <= (span.end_line, span.end_col)
