"""Diagnostics: directive problems, missing arguments, and export failures on exact ranges."""

from __future__ import annotations

import pytest
from lsp_editor import KERNELS, Editor
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADDMM = "            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])\n"
# Python reports columns in UTF-8 bytes: "é" moves the column by one character, not two.
BROKEN = ADDMM + "            accé = acc.no_such_method()\n"


def by_code(diagnostics: list[types.Diagnostic], code: str) -> list[types.Diagnostic]:
    return [d for d in diagnostics if d.code == code]


def line_of(text: str, needle: str) -> int:
    return text.split("\n").index(needle.rstrip("\n"))


async def test_bind_error_on_its_line_then_fixed(editor: Editor) -> None:
    uri = editor.open("bind_error.py")
    assert (await editor.exported(uri, "matmul"))["ok"] is True
    assert not by_code(await editor.diagnostics(uri), "bind-error")

    broken = KERNELS.replace(ADDMM, BROKEN)
    version = editor.change(uri, broken)
    assert (await editor.exported(uri, "matmul", version))["ok"] is False
    [error] = by_code(await editor.diagnostics(uri), "bind-error")
    line = line_of(broken, "            accé = acc.no_such_method()")
    assert error.range.start == types.Position(line, 19)
    assert error.range.end == types.Position(line, len("            accé = acc.no_such_method()"))
    assert error.severity == types.DiagnosticSeverity.Error
    assert error.source == "h2j"
    assert "no_such_method" in error.message

    version = editor.change(uri, KERNELS)
    assert (await editor.exported(uri, "matmul", version))["ok"] is True
    assert not by_code(await editor.diagnostics(uri), "bind-error")


async def test_directive_errors(editor: Editor) -> None:
    text = (
        KERNELS.replace(
            "# h2j: args(torch.randn(8, 8), torch.randn(8, 8))",
            "# h2j: args(torch.randn(8, 8), torch.randn(8, 8)\n"
            "# h2j: argz(1)\n# h2j: skip\n# h2j: skip",
        )
        + "\n# h2j: args(torch.randn(2))\nvalue = 1\n"
    )
    uri = editor.open("directives.py", text)
    lines = text.split("\n")
    diagnostics = await editor.diagnostics(uri)

    [syntax] = by_code(diagnostics, "directive-syntax")
    assert syntax.range.start.line == lines.index(
        "# h2j: args(torch.randn(8, 8), torch.randn(8, 8)"
    )
    assert syntax.severity == types.DiagnosticSeverity.Error
    [unknown] = by_code(diagnostics, "unknown-directive")
    assert unknown.range == types.Range(
        types.Position(lines.index("# h2j: argz(1)"), 7),
        types.Position(lines.index("# h2j: argz(1)"), 11),
    )
    [duplicate] = by_code(diagnostics, "duplicate-directive")
    assert duplicate.range.start.line == len(lines) - 1 - lines[::-1].index("# h2j: skip")
    [orphan] = by_code(diagnostics, "orphan-directive")
    assert orphan.severity == types.DiagnosticSeverity.Warning
    assert orphan.range.start.line == lines.index("# h2j: args(torch.randn(2))")


async def test_missing_args_is_information_at_the_name(editor: Editor) -> None:
    uri = editor.open("missing.py")
    [missing] = by_code(await editor.diagnostics(uri), "missing-args")
    line = line_of(KERNELS, "def scale(x: torch.Tensor, factor: float) -> torch.Tensor:")
    assert missing.range == types.Range(types.Position(line, 4), types.Position(line, 9))
    assert missing.severity == types.DiagnosticSeverity.Information


async def test_bad_arguments_point_into_the_directive(editor: Editor) -> None:
    directive = "# h2j: args(torch.randn(8, 8), undefined_name)"
    text = KERNELS.replace("# h2j: args(torch.randn(8, 8), torch.randn(8, 8))", directive)
    uri = editor.open("bad_args.py", text)
    assert (await editor.exported(uri, "add"))["ok"] is False
    [bad] = by_code(await editor.diagnostics(uri), "bad-arguments")
    assert bad.range.start.line == text.split("\n").index(directive)
    assert "undefined_name" in bad.message


async def test_module_error_once_for_all_kernels(editor: Editor) -> None:
    text = KERNELS.replace("import torch\n", "import torch\n\nraise RuntimeError('boom')\n", 1)
    uri = editor.open("module_error.py", text)
    await editor.exported(uri, "matmul")
    await editor.exported(uri, "add")
    [error] = by_code(await editor.diagnostics(uri), "module-error")
    assert error.range.start.line == text.split("\n").index("raise RuntimeError('boom')")
    assert "boom" in error.message


async def test_utf16_columns(editor: Editor) -> None:
    # A character outside the BMP takes two UTF-16 code units: the columns after it shift.
    text = KERNELS.replace("def scale(", "def \U0001d54a_scale(")
    uri = editor.open("unicode.py", text)
    [missing] = by_code(await editor.diagnostics(uri), "missing-args")
    assert missing.range.start.character == 4
    assert missing.range.end.character == 4 + 2 + len("_scale")
