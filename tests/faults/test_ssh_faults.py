"""SSH faults between a real ``h2j-lsp`` and its worker on a "GPU host" (a real sshd on
127.0.0.1): an unreachable host, a refused key, and a connection dropped mid-export from
either end. Each is reported as a ``transport`` problem, and the server recovers once the
host can be reached again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fault_support import kernel
from lsp_editor import EXPORT_TIMEOUT_S, Editor, children, running_editor, wait_for
from sshd_server import SshServer, free_port

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.fault]

TIMEOUT_S = 20.0
# ssh's own failures (refused connection or key) do not wait for any timeout.
REPORT_S = 2.0 + 10.0  # ConnectTimeout=10 in the fixture's ssh options bounds a connection
GOOD = kernel()


def remote_settings(
    ssh_server: SshServer, workspace: Path, args: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "remoteHost": ssh_server.host,
        "sshArgs": list(args),
        "remotePython": sys.executable,
        "remoteRoot": str(workspace),
        "timeoutSeconds": TIMEOUT_S,
        "debounceMs": 50,
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def remote(
    tmp_path_factory: pytest.TempPathFactory, ssh_server: SshServer
) -> AsyncIterator[Editor]:
    workspace = tmp_path_factory.mktemp("ssh-faults")
    # Nothing listens on this port: the first worker cannot start.
    settings = remote_settings(ssh_server, workspace, ssh_server.ssh_args(port=free_port()))
    options = {"trusted": True, "settings": settings}
    async with running_editor(workspace, initialization_options=options, settings=settings) as ed:
        yield ed
        for uri in list(ed.opened):
            ed.close(uri)


def reachable(editor: Editor, ssh_server: SshServer) -> None:
    editor.configure(remote_settings(ssh_server, editor.workspace, ssh_server.ssh_args()))


async def transport_failure(editor: Editor, uri: str, timeout: float) -> str:
    result = await editor.exported(uri, "add", timeout=timeout)
    assert result["ok"] is False
    [problem] = [d for d in await editor.diagnostics(uri) if d.code == "transport"]
    return problem.message


async def recovers(editor: Editor, uri: str) -> None:
    """Another text of the document exports on the reachable host."""
    version = editor.change(uri, GOOD + f"\n# {uri}\n")
    assert (await editor.exported(uri, "add", version, timeout=EXPORT_TIMEOUT_S))["ok"] is True
    assert (await editor.command("h2j.lsp.showStatus"))["state"] == "idle"


async def test_unreachable_host(remote: Editor, ssh_server: SshServer) -> None:
    uri = remote.open("unreachable.py", GOOD)
    message = await transport_failure(remote, uri, REPORT_S)
    assert "Connection refused" in message
    reachable(remote, ssh_server)
    await recovers(remote, uri)


async def test_refused_key(remote: Editor, ssh_server: SshServer) -> None:
    wrong = ssh_server.ssh_args(key=ssh_server.new_key("unknown_key"))
    remote.configure(remote_settings(ssh_server, remote.workspace, wrong))
    uri = remote.open("refused.py", GOOD)
    message = await transport_failure(remote, uri, REPORT_S)
    assert "Permission denied" in message
    reachable(remote, ssh_server)
    await recovers(remote, uri)


def remote_worker(ssh_server: SshServer) -> int:
    """The worker that sshd started (the GPU host is this machine)."""
    sessions = [pid for pid, _ in children(ssh_server.process.pid)]
    workers = [
        pid
        for session in sessions
        for parent in [session, *(pid for pid, _ in children(session))]
        for pid, cmdline in children(parent)
        if "helion2json.worker" in cmdline
    ]
    assert len(workers) == 1, workers
    return workers[0]


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("end", ["sshd-session", "ssh-client"])
async def test_connection_dropped_mid_export(
    remote: Editor, ssh_server: SshServer, end: str
) -> None:
    reachable(remote, ssh_server)
    await remote.status("idle", timeout=EXPORT_TIMEOUT_S)
    started = remote.workspace / f"{end}.started"
    text = kernel(
        prelude=f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(60)"
    )
    uri = remote.open(f"dropped_{end}.py", text)
    await wait_for(started.exists, EXPORT_TIMEOUT_S, "the module to run on the host")
    if end == "sshd-session":
        victim = parent_of(remote_worker(ssh_server))
    else:
        [victim] = [pid for pid, cmd in children(remote.server_pid) if cmd.startswith("ssh ")]
    os.kill(victim, signal.SIGKILL)
    result = await remote.exported(uri, "add", timeout=2.0)
    assert result["ok"] is False
    [problem] = [d for d in await remote.diagnostics(uri) if d.severity == 1]
    assert problem.code in {"transport", "worker-failure"}, problem
    assert ssh_server.host in problem.message
    await asyncio.wait_for(remote.command("h2j.lsp.showStatus"), 10)
    await recovers(remote, uri)
