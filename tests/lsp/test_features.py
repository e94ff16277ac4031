"""Code lenses, inlay hints, hover, document symbols and code actions (with the quick fix)."""

from __future__ import annotations

import pytest
from lsp_editor import KERNELS, Editor
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")

LINES = KERNELS.split("\n")


def line_of(needle: str, lines: list[str] = LINES) -> int:
    return next(index for index, line in enumerate(lines) if line.startswith(needle))


def doc(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri)


async def exported(editor: Editor, name: str, text: str = KERNELS) -> str:
    uri = editor.open(name, text)
    await editor.exported(uri, "matmul")
    await editor.exported(uri, "add")
    return uri


async def test_code_lenses(editor: Editor) -> None:
    uri = await exported(editor, "lenses.py", KERNELS.replace("torch.randn(8, 8))", "None, None)"))
    lenses = await editor.client.text_document_code_lens_async(types.CodeLensParams(doc(uri)))
    by_line: dict[int, list[types.Command]] = {}
    for lens in lenses:
        assert lens.command is not None
        by_line.setdefault(lens.range.start.line, []).append(lens.command)

    matmul = by_line[line_of("@helion.kernel", LINES)]
    assert matmul[0].title.startswith("✓ exported in ")
    assert matmul[0].title.endswith("s")
    assert [c.title for c in matmul[1:]] == ["Preview JSON", "Preview MLIR", "Export", "Verify"]
    assert matmul[1].command == "h2j.lsp.previewJson"
    assert list(matmul[1].arguments or ()) == [uri, "matmul", 0]
    assert matmul[2].command == "h2j.lsp.previewMlir"
    assert list(matmul[2].arguments or ()) == [uri, "matmul", 0]
    assert matmul[3].command == "h2j.lsp.exportKernel"
    assert list(matmul[3].arguments or ()) == [uri, "matmul", None]
    assert matmul[4].command == "h2j.lsp.verify"
    assert list(matmul[4].arguments or ()) == [uri, "matmul", 0]

    decorators = [i for i, line in enumerate(LINES) if line.startswith("@helion.kernel")]
    assert by_line[decorators[1]][0].title == "✗ 1 error"
    assert [c.title for c in by_line[decorators[2]]] == ["not annotated"]


async def test_inlay_hints_show_block_sizes(editor: Editor) -> None:
    uri = await exported(editor, "hints.py")
    hints = await editor.client.text_document_inlay_hint_async(
        types.InlayHintParams(
            doc(uri), types.Range(types.Position(0, 0), types.Position(len(LINES), 0))
        )
    )
    placed = {(hint.position.line, hint.position.character): hint.label for hint in hints}
    grid = line_of("    for tile_m, tile_n in hl.tile([m, n]):")
    inner = line_of("        for tile_k in hl.tile(k):")
    assert placed[(grid, LINES[grid].index(":"))] == "block_sizes=[4, 4]"
    assert placed[(inner, LINES[inner].index(":"))] == "block_size=8"
    # The add kernel's loop too; none for the kernel that has no example.
    assert len(hints) == 3


async def test_inlay_hints_follow_the_kernel_while_editing(editor: Editor) -> None:
    uri = await exported(editor, "hints_shift.py")
    # Two lines above the kernels: until the next export, the hints move with the text.
    editor.change(uri, "# one\n# two\n" + KERNELS)
    hints = await editor.client.text_document_inlay_hint_async(
        types.InlayHintParams(
            doc(uri), types.Range(types.Position(0, 0), types.Position(len(LINES) + 2, 0))
        )
    )
    inner = line_of("        for tile_k in hl.tile(k):") + 2
    assert any(h.position.line == inner and h.label == "block_size=8" for h in hints)


async def test_hover_on_kernel_name(editor: Editor) -> None:
    uri = await exported(editor, "hover.py")
    line = line_of("def matmul(")
    hover = await editor.client.text_document_hover_async(
        types.HoverParams(doc(uri), types.Position(line, 6))
    )
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    text = hover.contents.value
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert "`x`: `tensor<?x?xf32>`" in text
    assert f"line {line_of('    for tile_m, tile_n') + 1}: block sizes [4, 4] (grid)" in text
    assert "`torch.addmm` ×1" in text
    assert "Ops: 9" in text
    assert hover.range == types.Range(types.Position(line, 4), types.Position(line, 10))

    nothing = await editor.client.text_document_hover_async(
        types.HoverParams(doc(uri), types.Position(line + 1, 6))
    )
    assert nothing is None


async def test_document_symbols(editor: Editor) -> None:
    uri = editor.open("symbols.py")
    symbols = await editor.client.text_document_document_symbol_async(
        types.DocumentSymbolParams(doc(uri))
    )
    assert [s.name for s in symbols] == ["matmul", "add", "scale"]
    matmul = symbols[0]
    assert isinstance(matmul, types.DocumentSymbol)
    assert matmul.kind == types.SymbolKind.Function
    assert matmul.selection_range.start == types.Position(line_of("def matmul("), 4)
    assert matmul.range.start == types.Position(line_of("@helion.kernel"), 0)
    assert symbols[2].detail == "helion kernel · not annotated"


async def test_code_actions_and_applying_the_quick_fix(editor: Editor) -> None:
    uri = editor.open("quickfix.py")
    [missing] = [d for d in await editor.diagnostics(uri) if d.code == "missing-args"]
    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            doc(uri), missing.range, types.CodeActionContext(diagnostics=[missing])
        )
    )
    assert actions is not None
    [fix] = [a for a in actions if isinstance(a, types.CodeAction) and a.kind == "quickfix"]
    assert fix.is_preferred
    assert fix.diagnostics is not None and fix.diagnostics[0].code == "missing-args"
    assert fix.edit is not None and fix.edit.document_changes is not None
    [change] = fix.edit.document_changes
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version == 1
    [edit] = change.edits
    assert isinstance(edit, types.TextEdit)
    decorator = [i for i, line in enumerate(LINES) if line.startswith("@helion.kernel")][2]
    assert edit.range == types.Range(types.Position(decorator, 0), types.Position(decorator, 0))
    assert edit.new_text == "# h2j: args(torch.randn(16, 16, device=DEVICE), 1.0)\n"

    # The editor applies the edit and sends it back: the kernel now exports.
    fixed = "\n".join([*LINES[:decorator], edit.new_text.rstrip("\n"), *LINES[decorator:]])
    version = editor.change(uri, fixed)
    assert (await editor.exported(uri, "scale", version))["ok"] is True
    assert not [d for d in await editor.diagnostics(uri) if d.code == "missing-args"]

    line = line_of("def matmul(")
    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            doc(uri),
            types.Range(types.Position(line, 5), types.Position(line, 5)),
            types.CodeActionContext(diagnostics=[]),
        )
    )
    assert actions is not None
    [export] = actions
    assert isinstance(export, types.Command)
    assert export.title == "Export `matmul` to JSON"
    assert export.command == "h2j.lsp.exportKernel"
    assert list(export.arguments or ()) == [uri, "matmul", None]

    only_fixes = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            doc(uri),
            types.Range(types.Position(line, 5), types.Position(line, 5)),
            types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.QuickFix]),
        )
    )
    assert not only_fixes
