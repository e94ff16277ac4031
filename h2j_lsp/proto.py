"""The one translation between the features' plain data and LSP messages (lsprotocol types).

Features speak in :class:`~h2j_lsp.discovery.Span` s: 0-based lines and code point columns.
LSP positions count columns in the client's position encoding (UTF-16 unless the client
chose otherwise), so every span and position crosses here, through a :class:`TextBuffer`
of the document's current text.
"""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types
from pygls import uris
from pygls.workspace import TextDocument

from h2j_lsp.discovery import Span
from h2j_lsp.features.model import (
    SOURCE,
    ClientDiagnostic,
    Command,
    Elsewhere,
    Hint,
    HoverText,
    Lens,
    Problem,
    QuickFix,
    Symbol,
)
from h2j_lsp.text import SourceLines

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
}


def _units(char: str, encoding: str) -> int:
    if encoding == UTF32:
        return 1
    code = ord(char)
    if encoding == UTF8:
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 2 if code >= 0x10000 else 1


class TextBuffer(SourceLines):
    """A text's lines, with positions in the client's encoding."""

    def __init__(self, text: str, encoding: str = UTF16) -> None:
        """``encoding``: the position encoding's value, "utf-8", "utf-16" or "utf-32"."""
        super().__init__(text)
        self.encoding = encoding

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

    def span_at(self, position: types.Position) -> tuple[int, int]:
        """A client position as a 0-based line and a code point column."""
        return position.line, self.column(position.line, position.character)

    def _client_units(self, text: str) -> int:
        if text.isascii() or self.encoding == UTF32:
            return len(text)
        return sum(_units(char, self.encoding) for char in text)


def apply_change(
    document: TextDocument, change: types.TextDocumentContentChangeEvent, encoding: str
) -> None:
    """Apply an edit to pygls's copy of a document with LSP's line breaks: pygls finds the
    lines of an incremental edit with ``str.splitlines``, which also breaks at form feeds and
    U+2028."""
    buffer = TextBuffer(document.source, encoding)
    buffer.apply(change)
    document.apply_change(types.TextDocumentContentChangeWholeDocument(text=buffer.text))


# -- features to LSP -----------------------------------------------------------------------


def diagnostic(buffer: TextBuffer, problem: Problem) -> types.Diagnostic:
    data: dict[str, object] | None = None
    if problem.kernel is not None:
        data = {"kernel": problem.kernel}
        if problem.example is not None:
            data["example"] = problem.example
    return types.Diagnostic(
        range=buffer.range(problem.span),
        message=problem.message,
        severity=_SEVERITY[problem.severity],
        code=problem.code,
        source=SOURCE,
        related_information=None if problem.related is None else [related(problem.related)],
        data=data,
    )


def related(elsewhere: Elsewhere) -> types.DiagnosticRelatedInformation:
    """A whole line of another file: its text, which the columns count in, is not at hand."""
    line = max(elsewhere.line, 0)
    return types.DiagnosticRelatedInformation(
        location=types.Location(
            uri=uris.from_fs_path(elsewhere.path) or elsewhere.path,
            range=types.Range(types.Position(line, 0), types.Position(line + 1, 0)),
        ),
        message=elsewhere.message,
    )


def command(item: Command) -> types.Command:
    return types.Command(item.title, item.command, arguments=item.arguments or None)


def code_lenses(buffer: TextBuffer, lenses: Sequence[Lens]) -> list[types.CodeLens]:
    items = []
    for lens in lenses:
        start = buffer.position(*lens.at)
        items.append(types.CodeLens(types.Range(start, start), command(lens.command)))
    return items


def inlay_hints(buffer: TextBuffer, hints: Sequence[Hint]) -> list[types.InlayHint]:
    return [
        types.InlayHint(
            position=buffer.position(*hint.at),
            label=hint.label,
            padding_left=True,
            tooltip=hint.tooltip,
        )
        for hint in hints
    ]


def hover(buffer: TextBuffer, text: HoverText) -> types.Hover:
    kind = types.MarkupKind.Markdown if text.markdown else types.MarkupKind.PlainText
    return types.Hover(
        contents=types.MarkupContent(kind=kind, value=text.text), range=buffer.range(text.span)
    )


def document_symbols(
    buffer: TextBuffer, uri: str, symbols: Sequence[Symbol], hierarchical: bool
) -> list[types.DocumentSymbol] | list[types.SymbolInformation]:
    if not hierarchical:
        return [
            types.SymbolInformation(
                name=symbol.name,
                kind=types.SymbolKind.Function,
                location=types.Location(uri, buffer.range(symbol.span)),
            )
            for symbol in symbols
        ]
    return [
        types.DocumentSymbol(
            name=symbol.name,
            kind=types.SymbolKind.Function,
            range=buffer.range(symbol.span),
            selection_range=buffer.range(symbol.name_span),
            detail=symbol.detail,
        )
        for symbol in symbols
    ]


def code_action(
    item: QuickFix | Command,
    uri: str,
    version: int,
    params: types.CodeActionParams,
    document_changes: bool,
) -> types.CodeAction | types.Command:
    if isinstance(item, Command):
        return command(item)
    at = types.Position(item.line, 0)
    edit = types.TextEdit(types.Range(at, at), item.text)
    if document_changes:
        workspace_edit = types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    types.OptionalVersionedTextDocumentIdentifier(uri, version), [edit]
                )
            ]
        )
    else:
        workspace_edit = types.WorkspaceEdit(changes={uri: [edit]})
    sent = params.context.diagnostics
    return types.CodeAction(
        title=item.title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[sent[index] for index in item.fixes] or None,
        is_preferred=True,
        edit=workspace_edit,
    )


# -- LSP to features -----------------------------------------------------------------------


def client_diagnostics(params: types.CodeActionParams) -> list[ClientDiagnostic]:
    return [
        ClientDiagnostic(item.code, item.source, item.data) for item in params.context.diagnostics
    ]


def action_kinds(params: types.CodeActionParams) -> list[str] | None:
    """The kinds of action the client wants, ``None`` (or empty) for all."""
    only = params.context.only
    return None if only is None else [str(getattr(kind, "value", kind)) for kind in only]
