"""The previewMlir command: the MLIR of a kernel's current export, or why there is none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from lsp_editor import KERNELS, Editor, worker_pids

pytestmark = pytest.mark.asyncio(loop_scope="session")

PREVIEW_MLIR = "h2j.lsp.previewMlir"

FAMILIES = Path(__file__).parents[2] / "helion2json" / "tests" / "kernels" / "elementwise.py"


def family_kernel(name: str, directive: str) -> str:
    """A family kernel's source (decorator to last line) as a module with its directive."""
    source = FAMILIES.read_text()
    kernel = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    )
    lines = source.split("\n")[kernel.decorator_list[0].lineno - 1 : kernel.end_lineno]
    head = "import helion\nimport helion.language as hl\nimport torch\n\n\n"
    return head + directive + "\n" + "\n".join(lines) + "\n"


# fp8 element types: the lowering refuses them, naming the op (docs/mlir.md, "What is not
# lowered").
FP8 = family_kernel("quantize_fp8", "# h2j: args(torch.randn(8, 12, dtype=torch.bfloat16), 4.0)")


async def test_preview_mlir_is_an_advertised_command(editor: Editor) -> None:
    assert editor.initialize_result is not None
    provider = editor.initialize_result.capabilities.execute_command_provider
    assert provider is not None
    assert PREVIEW_MLIR in provider.commands


async def test_preview_mlir_is_the_kernel_function(editor: Editor) -> None:
    uri = editor.open("preview_mlir.py")
    preview = await editor.command(PREVIEW_MLIR, uri, "matmul", 0)
    assert preview["ok"] is True, preview["text"]
    text = preview["text"]
    assert text.startswith("module {\n")
    assert "func.func @matmul(" in text
    assert "scf.for" in text
    assert "linalg.matmul" in text or "arith.mulf" in text
    # The kernel alone: no harness that runs it on the example.
    assert "@main" not in text

    assert await editor.command(PREVIEW_MLIR, uri, "matmul") == preview


async def test_preview_mlir_follows_an_edit(editor: Editor) -> None:
    uri = editor.open("preview_mlir_edit.py")
    before = await editor.command(PREVIEW_MLIR, uri, "add", 0)
    assert before["ok"] is True, before["text"]
    assert "arith.subf" not in before["text"]

    subtracted = "out[tile_m, tile_n] = x[tile_m, tile_n] - y[tile_m, tile_n]"
    editor.change(uri, KERNELS.replace(subtracted.replace("-", "+"), subtracted))
    await editor.exported(uri, "add")
    after = await editor.command(PREVIEW_MLIR, uri, "add", 0)
    assert after["ok"] is True, after["text"]
    assert "arith.subf" in after["text"]


async def test_preview_mlir_of_a_failing_export_says_why(editor: Editor) -> None:
    text = KERNELS.replace("acc = torch.addmm(", "acc = torch.addmm_nope(")
    uri = editor.open("preview_mlir_error.py", text)
    preview = await editor.command(PREVIEW_MLIR, uri, "matmul", 0)
    assert preview["ok"] is False
    assert preview["text"].startswith("kernel 'matmul' does not export:")
    line = next(n for n, item in enumerate(text.split("\n"), 1) if "addmm_nope" in item)
    assert f"line {line}:" in preview["text"]
    assert "[bind-error]" in preview["text"]

    missing = await editor.command(PREVIEW_MLIR, uri, "scale", 0)
    assert missing["ok"] is False
    assert "no '# h2j: args(...)'" in missing["text"]


async def test_preview_mlir_names_the_op_the_lowering_refuses(editor: Editor) -> None:
    uri = editor.open("preview_mlir_fp8.py", FP8)
    preview = await editor.command(PREVIEW_MLIR, uri, "quantize_fp8", 0)
    assert preview["ok"] is False
    text = preview["text"]
    assert text.startswith("kernel 'quantize_fp8' does not lower to MLIR: ")
    line = next(n for n, item in enumerate(FP8.split("\n"), 1) if "e4m3 = torch.empty" in item)
    assert f"preview_mlir_fp8.py:{line}: hl.alloc: " in text
    # The kernel exports: only the lowering refuses it.
    json_preview = await editor.command("h2j.lsp.previewJson", uri, "quantize_fp8", 0)
    assert json_preview["ok"] is True


async def test_the_server_lowers_without_loading_torch(editor: Editor) -> None:
    uri = editor.open("preview_mlir_light.py")
    preview = await editor.command(PREVIEW_MLIR, uri, "add", 0)
    assert preview["ok"] is True, preview["text"]

    def loads_torch(pid: int) -> bool:
        return "/torch/" in Path(f"/proc/{pid}/maps").read_text()

    # The worker exported (it maps torch's libraries); the server lowered, without them.
    assert any(loads_torch(pid) for pid in worker_pids(editor.server_pid))
    assert not loads_torch(editor.server_pid)
