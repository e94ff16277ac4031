"""Processes that user code leaves behind end with the worker, and never hold its client.

A module may start a child that outlives it (``subprocess.Popen`` at module level, a forked
child). Such a child holds the worker's stderr, and a forked one its protocol pipes too: the
client must neither wait for those pipes once the worker has exited nor leave the child
running.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from sshd_server import SshServer
from test_ssh import Host
from test_worker import alive, wait_until_dead

import helion2json
from h2j_lsp.worker_client import HostSettings, WorkerClient
from helion2json.worker.protocol import EXPORT, HELLO, WORKER_FAILURE, ExportRequest
from helion2json.worker.rpc import read_frame, write_frame

ARGS = "torch.randn(8, 8), torch.randn(8, 8)"
KernelSource = Callable[..., str]
# A worker start (torch and helion) plus an export, on a loaded two-core machine.
RUN_LIMIT_S = 240.0


def leaves_children(pid_dir: Path, then: str = "") -> str:
    """A module prelude that leaves a ``sleep`` child and a forked child sleeping, writing
    their pids to ``pid_dir``; ``then`` runs after."""
    return (
        "import os, pathlib, subprocess, time\n"
        "_sleeper = subprocess.Popen(['sleep', '1000'])\n"
        f"pathlib.Path({str(pid_dir / 'popen.pid')!r}).write_text(str(_sleeper.pid))\n"
        "_forked = os.fork()\n"
        "if _forked == 0:\n"
        "    time.sleep(1000)\n"
        "    os._exit(0)\n"
        f"pathlib.Path({str(pid_dir / 'fork.pid')!r}).write_text(str(_forked))\n"
        f"{then}"
    )


def child_pids(pid_dir: Path) -> list[int]:
    return [int((pid_dir / name).read_text()) for name in ("popen.pid", "fork.pid")]


async def all_end(pids: list[int]) -> bool:
    """Whether every one of ``pids`` ends soon; those that do not are killed."""
    ended = [await wait_until_dead(pid) for pid in pids]
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    return all(ended)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("project")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(project: Path) -> AsyncIterator[WorkerClient]:
    worker = WorkerClient(HostSettings(local_root=str(project), timeout_s=60.0))
    assert await worker.start() is None
    yield worker
    await worker.stop()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_worker_killed_while_its_children_hold_its_pipes_is_reported(
    client: WorkerClient, project: Path, kernel_text: KernelSource, tmp_path: Path
) -> None:
    assert client.info is not None
    victim = client.info.pid
    started = tmp_path / "started"
    text = kernel_text(
        prelude=leaves_children(tmp_path, f"pathlib.Path({str(started)!r}).touch()\ntime.sleep(60)")
    )
    pending = asyncio.create_task(
        client.export(ExportRequest(str(project / "held.py"), text, "combine", ARGS))
    )
    while not started.exists():
        assert not pending.done(), pending.result()
        await asyncio.sleep(0.05)
    os.kill(victim, signal.SIGKILL)
    # Reported although the children still held the pipes when the worker died.
    result = await asyncio.wait_for(pending, 30)
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == WORKER_FAILURE
    assert "killed by SIGKILL" in diagnostic.message
    assert await all_end(child_pids(tmp_path))


@pytest.mark.asyncio(loop_scope="module")
async def test_stopping_the_client_ends_the_children_the_module_left(
    client: WorkerClient, project: Path, kernel_text: KernelSource, tmp_path: Path
) -> None:
    text = kernel_text(prelude=leaves_children(tmp_path))
    result = await client.export(ExportRequest(str(project / "leaves.py"), text, "combine", ARGS))
    assert result.ok, result.diagnostics
    children = child_pids(tmp_path)
    assert all(alive(pid) for pid in children)
    await asyncio.wait_for(client.stop(), 30)
    assert await all_end(children)


def frames(*messages: dict[str, object]) -> bytes:
    stream = io.BytesIO()
    for message in messages:
        write_frame(stream, {"jsonrpc": "2.0", **message})
    return stream.getvalue()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_worker_started_in_its_parents_group_ends_its_own_when_its_input_ends(
    kernel_text: KernelSource, tmp_path: Path
) -> None:
    # As sshd starts it on a GPU host, where no client can end its group: the worker leads a
    # group of its own, and ends it once it has gone.
    path = tmp_path / "leaves.py"
    text = kernel_text(prelude=leaves_children(tmp_path))
    export = ExportRequest(str(path), text, "combine", ARGS)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "helion2json.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    requests = frames(
        {"id": 1, "method": HELLO, "params": None},
        {"id": 2, "method": EXPORT, "params": export.to_wire()},
    )
    try:
        # Reads to the end of stdout and stderr: the forked child holds both until it ends.
        stdout, stderr = await asyncio.wait_for(worker.communicate(requests), RUN_LIMIT_S)
    except asyncio.TimeoutError:
        worker.kill()
        for pid in child_pids(tmp_path):
            os.kill(pid, signal.SIGKILL)
        pytest.fail("the worker's children held its pipes after it exited")
    assert worker.returncode == 0, stderr.decode("utf-8", "replace")
    output = io.BytesIO(stdout)
    replies = []
    while (body := read_frame(output)) is not None:
        replies.append(json.loads(body))
    hello, exported = replies
    assert hello["result"]["pid"] == worker.pid
    assert exported["result"]["result"]["ok"] is True
    assert await all_end(child_pids(tmp_path))


def this_exporters_python(folder: Path) -> str:
    """A Python for the GPU host that runs the helion2json under test, wherever it lies: sshd
    passes no PYTHONPATH on."""
    script = folder / "python"
    source_root = Path(helion2json.__file__).parent.parent
    script.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(source_root))} "
        f'exec {shlex.quote(sys.executable)} "$@"\n'
    )
    script.chmod(0o755)
    return str(script)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_remote_workers_children_end_when_the_client_disconnects(
    ssh_server: SshServer, kernel_text: KernelSource, tmp_path: Path
) -> None:
    host = Host(tmp_path / "hosts", kernel_text)
    python = this_exporters_python(tmp_path)
    async with WorkerClient(host.settings(ssh_server, remote_python=python)) as client:
        result = await client.export(host.request(kernel_text(prelude=leaves_children(tmp_path))))
        assert result.ok, result.diagnostics
        children = child_pids(tmp_path)
        assert all(alive(pid) for pid in children)
    # The GPU host is this machine: its processes can be watched from here.
    assert await all_end(children)
