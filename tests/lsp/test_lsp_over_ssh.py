"""Exports on a "GPU host" reached through a real sshd (this machine, over 127.0.0.1)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsp_editor import KERNELS, Editor, new_workspace, running_editor

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def remote(
    tmp_path_factory: pytest.TempPathFactory, ssh_server: Any
) -> AsyncIterator[Editor]:
    workspace = new_workspace(tmp_path_factory, "remote")
    settings = {
        "remoteHost": ssh_server.destination,
        "sshArgs": list(ssh_server.ssh_args()),
        "remotePython": sys.executable,
        "remoteRoot": str(workspace),
    }
    # As VS Code does: the settings in initializationOptions (so that the worker starts at
    # once, on the right host) and through workspace/configuration.
    options = {"trusted": True, "settings": settings}
    async with running_editor(
        workspace, initialization_options=options, settings=settings
    ) as editor:
        yield editor


async def test_export_over_ssh(remote: Editor, ssh_server: Any) -> None:
    broken = KERNELS.replace("acc = torch.addmm(", "acc = torch.addmm_nope(")
    uri = remote.open("remote_kernels.py", broken)
    assert (await remote.exported(uri, "add"))["ok"] is True
    assert (await remote.exported(uri, "matmul"))["ok"] is False
    [error] = [d for d in await remote.diagnostics(uri) if d.code == "bind-error"]
    assert error.range.start.line == broken.split("\n").index(
        next(line for line in broken.split("\n") if "addmm_nope" in line)
    )
    assert {status["host"] for status in remote.statuses} == {ssh_server.destination}
    assert (await remote.command("h2j.lsp.showStatus"))["state"] == "idle"

    preview = await remote.command("h2j.lsp.previewJson", uri, "add", 0)
    assert preview["ok"] is True
    assert '"file": "remote_kernels.py"' in preview["text"]
