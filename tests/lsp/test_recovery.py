"""Worker restarts: a killed worker, the restartWorker command, a settings change.

These run on the shared server: its worker comes back after each test, as it would for a
user.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from lsp_editor import KERNELS, Editor, new_workspace, running_editor, wait_for, worker_pids
from lsprotocol import types

pytestmark = pytest.mark.asyncio(loop_scope="session")

SLOW = KERNELS.replace("import torch\n", "import torch\nimport time\ntime.sleep(3.0)\n", 1)


async def one_worker(editor: Editor) -> int:
    """The server's only worker process (once a replaced one has exited)."""

    def only() -> list[int]:
        pids = worker_pids(editor.server_pid)
        return pids if len(pids) == 1 else []

    return (await wait_for(only, 60, "exactly one worker process"))[0]


async def test_killed_worker_reports_once_then_restarts(editor: Editor) -> None:
    uri = editor.open("killed.py", SLOW)
    await editor.status("exporting")
    await asyncio.sleep(0.5)
    killed = await one_worker(editor)
    shown = len(errors(editor))
    os.kill(killed, signal.SIGKILL)

    result = await editor.exported(uri, "matmul", 1)
    assert result["ok"] is False
    failures = [d for d in await editor.diagnostics(uri) if d.code == "worker-failure"]
    assert len(failures) == 1
    line = SLOW.split("\n").index("def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:")
    assert failures[0].range.start == types.Position(line, 4)
    assert "SIGKILL" in failures[0].message
    [message] = errors(editor)[shown:]
    assert "SIGKILL" in message.message
    # The file's other kernel is not tried against a dead worker.
    assert not [e for e in editor.exports if e["uri"] == uri and e["kernel"] == "add"]

    # The user restarts the worker; every open file is exported again.
    version = editor.change(uri, KERNELS)
    assert await editor.command("h2j.lsp.restartWorker") is None
    assert await one_worker(editor) != killed
    assert (await editor.exported(uri, "matmul", version))["ok"] is True
    assert (await editor.exported(uri, "add", version))["ok"] is True
    assert not [d for d in await editor.diagnostics(uri) if d.code == "worker-failure"]
    assert len(errors(editor)) == shown + 1
    assert editor.statuses[-1]["state"] == "idle"


def errors(editor: Editor) -> list[types.ShowMessageParams]:
    return [m for m in editor.client.messages if m.type == types.MessageType.Error]


async def test_settings_change_restarts_the_worker(editor: Editor) -> None:
    uri = editor.open("settings.py")
    await editor.exported(uri, "add")
    old = await one_worker(editor)

    previous = editor.configure({"timeoutSeconds": 30})
    # The open file is exported again, by the new worker.
    await wait_for(
        lambda: len([e for e in editor.exports if e["uri"] == uri and e["kernel"] == "add"]) > 1,
        90,
        "a second export",
    )
    new = await one_worker(editor)
    assert new != old
    assert editor.statuses[-1]["state"] == "idle"

    # Settings that do not concern the worker keep it.
    editor.configure({"timeoutSeconds": 30, "debounceMs": 100})
    await asyncio.sleep(0.5)
    assert await one_worker(editor) == new
    # Later tests keep this worker: only the debounce goes back.
    editor.configure({**previous, "timeoutSeconds": 30})


async def test_worker_that_cannot_start_is_reported_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workspace = new_workspace(tmp_path_factory, "broken")
    settings = {"workerPython": str(workspace / "no-such-python"), "debounceMs": 0}
    options = {"trusted": True, "settings": settings}
    async with running_editor(workspace, initialization_options=options, settings=settings) as ed:
        status = await ed.status("failed", timeout=30)
        assert "no-such-python" in status["message"]
        first = ed.open("first.py")
        second = ed.open("second.py")
        for uri in (first, second):
            assert (await ed.exported(uri, "matmul", 1))["ok"] is False
        for edit in range(3):
            version = ed.change(first, KERNELS + f"\n# edit {edit}\n")
            await ed.exported(first, "matmul", version)
        # One diagnostic per file, at its first kernel; one message for the whole episode.
        for uri in (first, second):
            failures = [d for d in await ed.diagnostics(uri) if d.code == "worker-failure"]
            assert len(failures) == 1
        assert len(errors(ed)) == 1
        assert not [e for e in ed.exports if e["kernel"] == "add"]
        assert worker_pids(ed.server_pid) == []
