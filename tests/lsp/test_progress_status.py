"""Work-done progress for exports that take a while, and the h2j/status notifications."""

from __future__ import annotations

import pytest
from lsp_editor import KERNELS, Editor
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_status_notifications(editor: Editor) -> None:
    uri = editor.open("status_flow.py")
    await editor.exported(uri, "add")
    states = [status["state"] for status in editor.statuses]
    # The worker starts at initialize, before any file is open.
    assert states[0] == "starting"
    assert "idle" in states and "exporting" in states
    assert states.index("starting") < states.index("idle") < states.index("exporting")
    assert all(status["host"] == "local" for status in editor.statuses)
    assert all(isinstance(status["message"], str) for status in editor.statuses)


async def test_progress_for_a_slow_export_only(editor: Editor) -> None:
    slow = KERNELS.replace("import torch\n", "import torch\nimport time\ntime.sleep(1.0)\n", 1)
    before = set(editor.client.progress_reports)
    uri = editor.open("progress.py", slow)
    await editor.exported(uri, "add")
    [token] = set(editor.client.progress_reports) - before
    reports = editor.client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert reports[0].title == "h2j: exporting progress.py"
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    messages = [r.message for r in reports if isinstance(r, types.WorkDoneProgressReport)]
    assert "add" in messages

    # The slow text again answers from the cache, too fast to show progress.
    version = editor.change(uri, KERNELS)
    await editor.exported(uri, "add", version)
    before = set(editor.client.progress_reports)
    editor.change(uri, slow)
    await editor.exported(uri, "add")
    assert set(editor.client.progress_reports) == before
