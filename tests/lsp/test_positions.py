"""Positions in the client's encoding, and line breaks as LSP counts them."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_editor import KERNELS, new_workspace, running_editor, wait_for
from lsprotocol import types

from h2j_lsp.discovery import Span
from h2j_lsp.proto import TextBuffer


@pytest.mark.parametrize(
    ("encoding", "column"), [("utf-8", 4 + 4 + 1), ("utf-16", 4 + 2 + 1), ("utf-32", 4 + 1 + 1)]
)
def test_columns_in_each_encoding(encoding: str, column: int) -> None:
    buffer = TextBuffer("x = 1\ndef \U0001d54ab(): pass\n", encoding)
    assert buffer.position(1, 6) == types.Position(1, column)
    assert buffer.column(1, column) == 6
    assert buffer.range(Span(1, 4, 1, 6)).end == types.Position(1, column)


def test_only_lsp_line_breaks_count() -> None:
    # Form feed and U+2028 are not line breaks for LSP (str.splitlines would split there).
    buffer = TextBuffer("a\r\nb\rc\x0cd\u2028e\nf")
    assert buffer.line_count == 4
    assert buffer.line(2) == "c\x0cd\u2028e"
    assert buffer.newline == "\r\n"
    buffer.apply(
        types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(2, 4), types.Position(3, 0)), text="!"
        )
    )
    assert buffer.text == "a\r\nb\rc\x0cd\u2028!f"


@pytest.mark.asyncio(loop_scope="session")
async def test_utf8_client_edits_and_ranges(tmp_path_factory: pytest.TempPathFactory) -> None:
    workspace: Path = new_workspace(tmp_path_factory, "utf8")
    capabilities = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf8]
        ),
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities()
        ),
    )
    # Untrusted: positions need no worker.
    options = {"trusted": False}
    async with running_editor(workspace, capabilities, options) as editor:
        assert editor.initialize_result is not None
        assert editor.initialize_result.capabilities.position_encoding == "utf-8"
        text = KERNELS.replace("def scale(", "def \u00e9scale(")
        uri = editor.open("utf8.py", text)
        line = text.split("\n").index(next(t for t in text.split("\n") if "scale(" in t))
        # Insert two 4-byte characters right after "é" (2 bytes): byte column 4 + 2.
        version = editor.versions[uri] = 2
        editor.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(line, 6), types.Position(line, 6)),
                        text="\U0001d54a\U0001d54a",
                    )
                ],
            )
        )

        def missing() -> list[types.Diagnostic]:
            published = editor.client.diagnostics.get(uri, [])
            return [d for d in published if d.code == "missing-args"]

        # The name's end: "é" 2 bytes, two 4-byte characters, then "scale".
        await wait_for(
            lambda: any(d.range.end.character == 4 + 2 + 8 + 5 for d in missing()),
            10,
            "the diagnostic after the edit",
        )
        [diagnostic] = missing()
        assert diagnostic.range.start == types.Position(line, 4)
        # Python reads identifiers NFKC-normalized: the kernel's name has "SS".
        assert diagnostic.message.startswith("kernel '\u00e9SSscale'")
