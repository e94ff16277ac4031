"""Document text and the conversion between Python columns and the client's position encoding.

Lines are split the way LSP and ``discovery`` count them (``\\n``, ``\\r\\n``, ``\\r``), never
with ``str.splitlines``, which also breaks at form feeds and U+2028 and would put every
position after such a character on the wrong line.
"""

from __future__ import annotations

import re

from lsprotocol import types

from h2j_lsp.discovery import Span

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _units(char: str, encoding: str) -> int:
    if encoding == UTF32:
        return 1
    code = ord(char)
    if encoding == UTF8:
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 2 if code >= 0x10000 else 1


class TextBuffer:
    """The editor's text of one document, with its line index."""

    def __init__(self, text: str, encoding: str = UTF16) -> None:
        """``encoding``: the position encoding's value, "utf-8", "utf-16" or "utf-32"."""
        self.encoding = encoding
        self.text = text
        self._starts: list[int] | None = None

    @property
    def line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *(match.end() for match in _LINE_BREAK.finditer(self.text))]
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
        match = _LINE_BREAK.search(self.text)
        return match.group() if match else "\n"

    def apply(self, change: types.TextDocumentContentChangeEvent) -> None:
        if isinstance(change, types.TextDocumentContentChangePartial):
            start = self.offset(change.range.start)
            end = self.offset(change.range.end)
            self.text = self.text[:start] + change.text + self.text[max(start, end) :]
        else:
            self.text = change.text
        self._starts = None

    def offset(self, position: types.Position) -> int:
        """The code point index of a client position (clamped to the text)."""
        starts = self.line_starts
        if position.line >= len(starts):
            return len(self.text)
        return starts[position.line] + self.column(position.line, position.character)

    def column(self, line: int, character: int) -> int:
        """A client column on a line as a code point column."""
        text = self.line(line)
        if text.isascii() or self.encoding == UTF32:
            return min(character, len(text))
        units = 0
        for index, char in enumerate(text):
            if units >= character:
                return index
            units += _units(char, self.encoding)
        return len(text)

    def position(self, line: int, col: int) -> types.Position:
        """A code point position as a client position (clamped to the text)."""
        if line >= self.line_count:
            last = self.line_count - 1
            return types.Position(last, self._client_units(self.line(last)))
        line = max(line, 0)
        prefix = self.line(line)[: max(col, 0)]
        return types.Position(line, self._client_units(prefix))

    def range(self, span: Span) -> types.Range:
        return types.Range(
            self.position(span.start_line, span.start_col),
            self.position(span.end_line, span.end_col),
        )

    def line_range(self, line: int, col: int | None = None) -> types.Range:
        """A 0-based line's code from ``col`` (or its indentation) to its last non-blank."""
        text = self.line(line)
        stripped = text.rstrip()
        indent = len(text) - len(text.lstrip())
        start = indent if col is None or not indent <= col < len(stripped) else col
        return types.Range(self.position(line, start), self.position(line, len(stripped)))

    def column_of_utf8(self, line: int, byte_col: int) -> int:
        """A UTF-8 byte column (what Python's tracebacks and ``ast`` report) as a code point
        column."""
        text = self.line(line)
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8", "surrogatepass")[:byte_col].decode("utf-8", "ignore"))

    def span_at(self, position: types.Position) -> tuple[int, int]:
        """A client position as a 0-based line and a code point column."""
        return position.line, self.column(position.line, position.character)

    def _client_units(self, text: str) -> int:
        if text.isascii() or self.encoding == UTF32:
            return len(text)
        return sum(_units(char, self.encoding) for char in text)


def contains(span: Span, line: int, col: int) -> bool:
    """Whether a code point position lies in a span (both ends included: a cursor right after
    a name is still on it)."""
    return (span.start_line, span.start_col) <= (line, col) <= (span.end_line, span.end_col)


def overlaps(span: Span, start: tuple[int, int], end: tuple[int, int]) -> bool:
    return (span.start_line, span.start_col) <= end and start <= (span.end_line, span.end_col)
