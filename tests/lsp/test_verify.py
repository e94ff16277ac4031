"""Verify in the editor: the h2j.lsp.verify command, its lens, diagnostic, hover and
h2j/verified notification, with a real server and real workers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsp_editor import KERNELS, Editor, wait_for
from lsprotocol import types
from verify_kernels import NOISY as NOISY_KERNEL
from verify_kernels import def_line

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOISY = KERNELS + NOISY_KERNEL


def doc(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri)


def line_of(text: str, needle: str) -> int:
    """The 0-based line that holds ``needle``."""
    return next(i for i, line in enumerate(text.split("\n")) if needle in line)


async def verify_problems(editor: Editor, uri: str) -> list[types.Diagnostic]:
    return [d for d in await editor.diagnostics(uri) if str(d.code).startswith("verify-")]


async def lens_titles(editor: Editor, uri: str, kernel: str) -> list[str]:
    lenses = await editor.client.text_document_code_lens_async(types.CodeLensParams(doc(uri)))
    return [
        lens.command.title
        for lens in lenses
        if lens.command is not None
        and lens.command.command == "h2j.lsp.verify"
        and (lens.command.arguments or [None, None])[1] == kernel
    ]


async def hover_text(editor: Editor, uri: str, text: str, kernel: str) -> str:
    line = def_line(text, kernel) - 1
    hover = await editor.client.text_document_hover_async(
        types.HoverParams(doc(uri), types.Position(line, 5))
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    return hover.contents.value


def notified(editor: Editor, uri: str, kernel: str) -> list[dict[str, Any]]:
    return [n for n in editor.verifications if n["uri"] == uri and n["kernel"] == kernel]


async def test_verify_is_a_listed_command(editor: Editor) -> None:
    assert editor.initialize_result is not None
    provider = editor.initialize_result.capabilities.execute_command_provider
    assert provider is not None and "h2j.lsp.verify" in provider.commands


async def test_a_correct_kernel_passes_and_the_second_verify_comes_from_the_cache(
    editor: Editor,
) -> None:
    uri = editor.open("verify_pass.py")
    await editor.exported(uri, "add")
    assert await lens_titles(editor, uri, "add") == ["Verify"]

    result = await editor.command("h2j.lsp.verify", uri, "add", 0)
    assert result["ok"] is True and result["status"] == "pass", result
    assert result["current"] is True and result["cached"] is False
    assert (
        result["reference"] and result["message"] == f"the JSON matches the {result['reference']}"
    )
    [output] = result["outputs"]
    assert output["label"] == "output 0" and output["ok"] is True and output["atol"] > 0

    assert await verify_problems(editor, uri) == []
    assert await lens_titles(editor, uri, "add") == ["Verify ✓ pass"]
    hover = await hover_text(editor, uri, KERNELS, "add")
    assert f"Verify: ✓ **pass** against the {result['reference']}" in hover
    assert "`output 0` (f32): ok, max abs" in hover
    [notice] = await wait_for(lambda: notified(editor, uri, "add"), 10, "h2j/verified")
    assert notice["status"] == "pass" and notice["version"] == editor.versions[uri]

    again = await editor.command("h2j.lsp.verify", uri, "add")
    assert again["cached"] is True
    assert {**again, "cached": False} == result


async def test_a_mismatch_is_a_diagnostic_until_the_text_changes(editor: Editor) -> None:
    uri = editor.open("verify_mismatch.py", NOISY)
    result = await editor.command("h2j.lsp.verify", uri, "noisy", 0)
    assert result["status"] == "mismatch", result
    assert result["ok"] is False and result["current"] is True

    [problem] = await verify_problems(editor, uri)
    assert problem.code == "verify-mismatch"
    assert problem.severity == types.DiagnosticSeverity.Error
    assert problem.range.start.line == def_line(NOISY, "noisy") - 1
    assert problem.message.startswith("verify: output 0 does not match the ")
    assert "max abs" in problem.message and "atol 1e-04" in problem.message
    assert await lens_titles(editor, uri, "noisy") == ["Verify ✗ mismatch"]
    assert "MISMATCH" in await hover_text(editor, uri, NOISY, "noisy")

    # Any edit makes the result one of an older text: it is no longer shown.
    edited = NOISY + "\n# edited\n"
    editor.change(uri, edited)
    await wait_for(
        lambda: (
            editor.pull
            or not any(
                str(d.code).startswith("verify-") for d in editor.client.diagnostics.get(uri, [])
            )
        ),
        10,
        "the verify diagnostic to go",
    )
    assert await verify_problems(editor, uri) == []
    assert await lens_titles(editor, uri, "noisy") == ["Verify"]


async def test_a_later_pass_clears_the_diagnostic(editor: Editor) -> None:
    uri = editor.open("verify_fixed.py", NOISY)
    assert (await editor.command("h2j.lsp.verify", uri, "noisy"))["status"] == "mismatch"
    assert len(await verify_problems(editor, uri)) == 1
    editor.change(uri, NOISY.replace(" + torch.rand_like(x[tile])", " * 2"))
    result = await editor.command("h2j.lsp.verify", uri, "noisy")
    assert result["status"] == "pass", result
    assert await verify_problems(editor, uri) == []
    assert await lens_titles(editor, uri, "noisy") == ["Verify ✓ pass"]


async def test_a_reference_that_raises_is_an_error_on_its_directive(editor: Editor) -> None:
    text = KERNELS.replace(
        "# h2j: args(torch.randn(8, 8), torch.randn(8, 8))",
        "# h2j: args(torch.randn(8, 8), torch.randn(8, 8))\n# h2j: ref(1 / 0)",
    )
    uri = editor.open("verify_bad_ref.py", text)
    result = await editor.command("h2j.lsp.verify", uri, "add", 0)
    assert result["status"] == "error", result
    assert "ZeroDivisionError" in result["message"]
    [problem] = await verify_problems(editor, uri)
    assert problem.code == "verify-error"
    assert problem.range.start.line == line_of(text, "# h2j: ref(1 / 0)")


async def test_verify_of_a_kernel_that_does_not_export(editor: Editor) -> None:
    text = KERNELS.replace("acc = torch.addmm(", "acc = torch.addmm_nope(")
    uri = editor.open("verify_no_export.py", text)
    result = await editor.command("h2j.lsp.verify", uri, "matmul", 0)
    assert result["status"] == "error" and result["ok"] is False
    assert result["message"].startswith("the kernel does not export: ")
    assert result["outputs"] == []
    # The export's own diagnostic says why; the verify one says what it means for the proof.
    codes = sorted(str(d.code) for d in await editor.diagnostics(uri))
    assert codes == ["bind-error", "missing-args", "verify-error"]

    missing = await editor.command("h2j.lsp.verify", uri, "scale", 0)
    assert missing["status"] == "error" and "no '# h2j: args(...)'" in missing["message"]
    out_of_range = await editor.command("h2j.lsp.verify", uri, "add", 3)
    assert out_of_range["status"] == "error" and "not #3" in out_of_range["message"]


async def test_a_verify_of_a_text_that_changed_meanwhile_is_dropped(editor: Editor) -> None:
    uri = editor.open("verify_superseded.py", NOISY)
    before = len(editor.verifications)
    running = asyncio.ensure_future(editor.command("h2j.lsp.verify", uri, "noisy", 0))
    await asyncio.sleep(0.05)
    editor.change(uri, NOISY + "\n# typing\n")
    result = await running
    assert result["current"] is False
    assert result["version"] == 1
    assert await verify_problems(editor, uri) == []
    assert await lens_titles(editor, uri, "noisy") == ["Verify"]
    assert notified(editor, uri, "noisy") == [] and len(editor.verifications) == before
    # Exports of the new text were not held up: its diagnostics arrive as usual.
    await editor.exported(uri, "noisy")


async def test_two_verifies_at_once_run_once(editor: Editor) -> None:
    uri = editor.open("verify_twice.py")
    first, second = await asyncio.gather(
        editor.command("h2j.lsp.verify", uri, "add", 0),
        editor.command("h2j.lsp.verify", uri, "add", 0),
    )
    assert first["status"] == second["status"] == "pass"
    # The worker answers one request at a time: the second found the first's result.
    assert sorted([first["cached"], second["cached"]]) == [False, True]


async def test_a_worker_that_dies_mid_verify_is_reported_and_restarted(editor: Editor) -> None:
    dying = KERNELS.replace(
        "# h2j: args(torch.randn(8, 8), torch.randn(8, 8))",
        '# h2j: args(torch.randn(8, 8), torch.randn(8, 8))\n# h2j: ref(__import__("os")._exit(3))',
    )
    uri = editor.open("verify_dies.py", dying)
    result = await editor.command("h2j.lsp.verify", uri, "add", 0)
    assert result["status"] == "error", result
    assert "exited with status 3" in result["message"]
    [problem] = await verify_problems(editor, uri)
    assert problem.code == "verify-error"
    # The next request gets a fresh worker.
    healthy = editor.open("verify_after_death.py")
    assert (await editor.command("h2j.lsp.verify", healthy, "add", 0))["status"] == "pass"
