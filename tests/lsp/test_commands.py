"""The server's commands: previewJson, exportKernel, showStatus (restartWorker is in
test_recovery.py, with the other worker restarts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsp_editor import KERNELS, Editor
from pygls.exceptions import JsonRpcInvalidParams

pytestmark = pytest.mark.asyncio(loop_scope="session")

TWO_EXAMPLES = KERNELS.replace(
    "# h2j: args(torch.randn(8, 8), torch.randn(8, 8))",
    "# h2j: args(torch.randn(8, 8), torch.randn(8, 8))\n"
    "# h2j: args(torch.randn(4, 2), torch.randn(4, 2))",
)


async def test_preview_json(editor: Editor) -> None:
    uri = editor.open("preview.py")
    preview = await editor.command("h2j.lsp.previewJson", uri, "matmul", 0)
    assert preview["ok"] is True
    document = json.loads(preview["text"])
    assert document["module"]["funcs"][0]["name"] == "matmul"
    # As the command line writes it: two-space indent, one op per line, a final newline.
    assert preview["text"].startswith('{\n  "version": 1,\n')
    assert preview["text"].endswith("}\n")
    assert '{"op": "torch.addmm"' in preview["text"]

    default = await editor.command("h2j.lsp.previewJson", uri, "matmul")
    assert default == preview

    failed = await editor.command("h2j.lsp.previewJson", uri, "scale", 0)
    assert failed["ok"] is False
    assert "no '# h2j: args(...)'" in failed["text"]


async def test_preview_of_a_failing_kernel_summarises_the_errors(editor: Editor) -> None:
    text = KERNELS.replace("acc = torch.addmm(", "acc = torch.addmm_nope(")
    uri = editor.open("preview_error.py", text)
    preview = await editor.command("h2j.lsp.previewJson", uri, "matmul", 0)
    assert preview["ok"] is False
    line = text.split("\n").index(next(i for i in text.split("\n") if "addmm_nope" in i)) + 1
    assert f"line {line}:" in preview["text"]
    assert "[bind-error]" in preview["text"]


async def test_export_kernel_writes_inside_the_workspace(editor: Editor) -> None:
    uri = editor.open("export_me.py", TWO_EXAMPLES)
    result = await editor.command("h2j.lsp.exportKernel", uri, "add", None)
    assert result["ok"] is True, result
    out = editor.workspace / "helion-json"
    assert [Path(p) for p in result["paths"]] == [
        out / "export_me.add.0.helion.json",
        out / "export_me.add.1.helion.json",
    ]
    first = json.loads((out / "export_me.add.0.helion.json").read_text())
    assert first["module"]["funcs"][0]["name"] == "add"
    assert "export_me.add.0.helion.json" in result["message"]

    one = await editor.command("h2j.lsp.exportKernel", uri, "matmul", 0)
    assert one["ok"] is True
    written = out / "export_me.matmul.helion.json"
    assert [Path(p) for p in one["paths"]] == [written]
    preview = await editor.command("h2j.lsp.previewJson", uri, "matmul", 0)
    assert written.read_text() == preview["text"]
    assert not list(out.glob(".*.tmp"))


async def test_export_kernel_failures(editor: Editor) -> None:
    uri = editor.open("export_fail.py", KERNELS.replace("acc = torch.addmm(", "acc = torch.nope("))
    failed = await editor.command("h2j.lsp.exportKernel", uri, "matmul", None)
    assert failed["ok"] is False
    assert failed["paths"] == []
    assert "bind-error" in failed["message"]
    assert not (editor.workspace / "helion-json" / "export_fail.matmul.helion.json").exists()

    unknown = await editor.command("h2j.lsp.exportKernel", uri, "nope", None)
    assert unknown["ok"] is False
    assert "no helion kernel named 'nope'" in unknown["message"]

    out_of_range = await editor.command("h2j.lsp.exportKernel", uri, "add", 3)
    assert out_of_range["ok"] is False


async def test_command_arguments_are_checked(editor: Editor) -> None:
    uri = editor.open("arguments.py")
    with pytest.raises(JsonRpcInvalidParams):
        await editor.command("h2j.lsp.previewJson", uri)
    with pytest.raises(JsonRpcInvalidParams):
        await editor.command("h2j.lsp.exportKernel", uri, "add", "first")


async def test_show_status(editor: Editor) -> None:
    uri = editor.open("status.py")
    await editor.exported(uri, "add")
    status = await editor.command("h2j.lsp.showStatus")
    assert status == {"state": "idle", "host": "local", "message": "the exporter is ready"}
