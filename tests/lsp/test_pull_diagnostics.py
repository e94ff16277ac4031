"""Pull diagnostics, for clients that can pull and be told to pull again. (A client that
declares only push diagnostics is test_raw_client.py's.)"""

from __future__ import annotations

import pytest
from lsp_editor import KERNELS, Editor, wait_for
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")

BROKEN = KERNELS.replace("acc = torch.addmm(", "acc = torch.addmm_nope(")


async def test_pull_diagnostics_with_refresh(editor: Editor) -> None:
    assert editor.initialize_result is not None
    provider = editor.initialize_result.capabilities.diagnostic_provider
    assert isinstance(provider, types.DiagnosticOptions)
    assert provider.identifier == "h2j"
    uri = editor.open("pull.py", BROKEN)
    refreshes = editor.client.diagnostic_refresh_count
    await editor.exported(uri, "matmul")
    await wait_for(lambda: editor.client.diagnostic_refresh_count > refreshes, 5, "a refresh")
    assert editor.client.diagnostics.get(uri) is None  # nothing pushed

    report = await editor.client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(types.TextDocumentIdentifier(uri))
    )
    assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
    assert [d.code for d in report.items if d.code == "bind-error"] == ["bind-error"]
    assert report.result_id is not None
    again = await editor.client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(
            types.TextDocumentIdentifier(uri), previous_result_id=report.result_id
        )
    )
    assert isinstance(again, types.RelatedUnchangedDocumentDiagnosticReport)
    assert again.result_id == report.result_id
