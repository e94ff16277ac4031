"""A committed export that differs from the kernel's fresh export: an information
diagnostic with the structural difference, and a code action that updates the file."""

from __future__ import annotations

import json

import pytest
from lsp_editor import Editor
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def golden_diagnostics(editor: Editor, uri: str) -> list[types.Diagnostic]:
    return [d for d in await editor.diagnostics(uri) if d.code == "golden-diff"]


async def test_stale_golden_is_shown_and_updated(editor: Editor) -> None:
    uri = editor.open("goldens.py")
    first = await editor.command("h2j.lsp.exportKernel", uri, "matmul", 0)
    assert first["ok"] is True, first
    golden = editor.workspace / "helion-json" / "goldens.matmul.helion.json"
    assert await golden_diagnostics(editor, uri) == []

    # Someone changes the committed file (or the kernel changed since it was committed).
    stale = json.loads(golden.read_text())
    addmm = next(op for op in stale["module"]["funcs"][0]["body"] if op["op"] == "torch.addmm")
    addmm["attrs"]["beta"] = 2.0
    golden.write_text(json.dumps(stale))
    version = editor.change(uri, editor.texts[uri] + "\n")
    await editor.exported(uri, "matmul", version)

    [diagnostic] = await golden_diagnostics(editor, uri)
    assert diagnostic.severity == types.DiagnosticSeverity.Information
    assert diagnostic.message.startswith(
        "the export differs from helion-json/goldens.matmul.helion.json: "
    )
    assert "attrs.beta" in diagnostic.message and "2.0 → 1.0" in diagnostic.message
    lines = editor.texts[uri].split("\n")
    line = next(i for i, text in enumerate(lines) if text.startswith("def matmul("))
    assert diagnostic.range.start.line == line

    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri),
            diagnostic.range,
            types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    assert actions is not None
    [update] = [a for a in actions if isinstance(a, types.Command) and a.title.startswith("Update")]
    assert update.title == (
        "Update helion-json/goldens.matmul.helion.json with this export of `matmul`"
    )
    assert update.command == "h2j.lsp.exportKernel"
    result = await editor.command(update.command, *(update.arguments or []))
    assert result["ok"] is True
    assert (
        json.loads(golden.read_text())["module"]["funcs"][0]["body"]
        != stale["module"]["funcs"][0]["body"]
    )
    assert await golden_diagnostics(editor, uri) == []
