"""An untrusted workspace: no worker ever starts, and every document says why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from lsp_editor import Editor, children, new_workspace, running_editor, wait_for
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def untrusted(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Editor]:
    workspace = new_workspace(tmp_path_factory, "untrusted")
    async with running_editor(workspace, initialization_options={"trusted": False}) as editor:
        yield editor


async def test_untrusted_runs_no_user_code(untrusted: Editor) -> None:
    status = await wait_for(lambda: untrusted.statuses, 10, "a status")
    assert status[-1]["state"] == "untrusted"
    assert status[-1]["host"] == "local"

    uri = untrusted.open("untrusted.py")
    diagnostics = await untrusted.diagnostics(uri)
    [notice] = [d for d in diagnostics if d.code == "untrusted"]
    assert notice.severity == types.DiagnosticSeverity.Information
    assert "untrusted" in notice.message
    # Static checks do not run user code and still work.
    assert [d.code for d in diagnostics if d.code == "missing-args"] == ["missing-args"]

    preview = await untrusted.command("h2j.lsp.previewJson", uri, "matmul", 0)
    assert preview["ok"] is False and "untrusted" in preview["text"]
    export = await untrusted.command("h2j.lsp.exportKernel", uri, "matmul", None)
    assert export["ok"] is False and export["paths"] == []
    assert await untrusted.command("h2j.lsp.restartWorker") is None
    assert (await untrusted.command("h2j.lsp.showStatus"))["state"] == "untrusted"

    lenses = await untrusted.client.text_document_code_lens_async(
        types.CodeLensParams(types.TextDocumentIdentifier(uri))
    )
    titles = [lens.command.title for lens in lenses if lens.command]
    assert "not exported (untrusted workspace)" in titles
    assert "Preview JSON" not in titles

    await asyncio.sleep(1.0)
    assert children(untrusted.server_pid) == []
    assert not untrusted.exports
