"""The worker on a "GPU host" reached through a real sshd (this machine, another folder)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from sshd_server import SshServer, free_port

from h2j_lsp.worker_client import HostSettings, WorkerClient
from helion2json.worker.protocol import TRANSPORT, ExportRequest, ExportResult, VerifyRequest

pytestmark = pytest.mark.asyncio(loop_scope="module")

ARGS = "torch.randn(8, 8), torch.randn(8, 8)"
KernelSource = Callable[..., str]
HELPER = "def combine(a, b):\n    return a + b\n"


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def wait_until_dead(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return not alive(pid)


class Host:
    """A local folder and its mirror on the GPU host, holding the same files."""

    def __init__(self, root: Path, kernel_text: KernelSource) -> None:
        self.local = root / "laptop" / "project"
        self.remote = root / "gpu-host" / "checkout"
        text = kernel_text(
            "helper_ops.combine(x[tile_m, tile_n], y[tile_m, tile_n])", prelude="import helper_ops"
        )
        for folder in (self.local, self.remote):
            (folder / "kernels").mkdir(parents=True)
            (folder / "kernels" / "helper_ops.py").write_text(HELPER)
            (folder / "kernels" / "kern.py").write_text(text)

    def settings(self, server: SshServer, **changes: object) -> HostSettings:
        values: dict[str, object] = {
            "ssh_host": server.host,
            "ssh_args": server.ssh_args(),
            "remote_python": sys.executable,
            "remote_root": str(self.remote),
            "local_root": str(self.local),
        }
        values.update(changes)
        return HostSettings(**values)  # type: ignore[arg-type]

    def request(self, text: str | None = None) -> ExportRequest:
        path = self.local / "kernels" / "kern.py"
        return ExportRequest(str(path), text or path.read_text(), "combine", ARGS)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, kernel_text: KernelSource) -> Host:
    return Host(tmp_path_factory.mktemp("ssh"), kernel_text)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def remote(ssh_server: SshServer, host: Host) -> AsyncIterator[WorkerClient]:
    client = WorkerClient(host.settings(ssh_server, timeout_s=30.0))
    assert await client.start() is None
    yield client
    await client.stop()


def only(result: ExportResult) -> tuple[str, str]:
    (diagnostic,) = result.diagnostics
    return diagnostic.code, diagnostic.message


async def test_exports_on_the_gpu_host_with_paths_mapped_both_ways(
    remote: WorkerClient, host: Host, ssh_server: SshServer
) -> None:
    assert remote.host_label == ssh_server.host
    result = await remote.export(host.request())
    assert result.ok, result.diagnostics
    assert result.host == ssh_server.host
    text = json.dumps(result.document)
    assert "torch.add" in text
    # Locations are relative to the remote root: the same bytes as a local export.
    assert '"file": "kernels/kern.py"' in text
    # The sibling the worker imported on the host, mapped back to the local copy.
    assert [item.file for item in result.dependencies] == [
        str(host.local / "kernels" / "helper_ops.py")
    ]


async def test_verifies_on_the_gpu_host_with_paths_mapped_both_ways(
    remote: WorkerClient, host: Host, ssh_server: SshServer
) -> None:
    exported = await remote.export(host.request())
    assert exported.ok, exported.diagnostics
    report = await remote.verify(VerifyRequest(host.request(), exported.document))
    assert report.status == "pass", report
    assert report.host == ssh_server.host
    assert report.reference is not None and report.reference.startswith("compiled kernel")
    # The sibling the kernel imported on the host, mapped back to the local copy.
    assert [item.file for item in report.dependencies] == [
        str(host.local / "kernels" / "helper_ops.py")
    ]


async def test_the_worker_sees_the_remote_path_and_the_unsaved_text(
    remote: WorkerClient, host: Host, kernel_text: KernelSource
) -> None:
    remote_file = host.remote / "kernels" / "kern.py"
    probe = kernel_text(
        prelude=f"assert __file__ == {str(remote_file)!r}, __file__\n"
        "raise RuntimeError('unsaved text ran')"
    )
    result = await remote.export(host.request(probe))
    code, message = only(result)
    assert (code, message) == ("module-error", "RuntimeError: unsaved text ran")
    assert result.diagnostics[0].file is None
    assert (
        result.diagnostics[0].line
        == probe.splitlines().index("raise RuntimeError('unsaved text ran')") + 1
    )


async def test_a_refused_key_is_a_clear_transport_error(ssh_server: SshServer, host: Host) -> None:
    wrong_key = ssh_server.new_key("not_authorized")
    settings = host.settings(ssh_server, ssh_args=ssh_server.ssh_args(key=wrong_key))
    async with WorkerClient(settings) as client:
        result = await client.export(host.request())
        code, message = only(result)
        assert code == TRANSPORT
        assert message.startswith(f"cannot reach GPU host '{ssh_server.host}':")
        assert "Permission denied" in message
        assert client.state == "failed"


async def test_an_unreachable_host_is_a_clear_transport_error(
    ssh_server: SshServer, host: Host
) -> None:
    args = ssh_server.ssh_args(port=free_port())  # nothing listens there
    async with WorkerClient(host.settings(ssh_server, ssh_args=args)) as client:
        code, message = only(await client.export(host.request()))
        assert code == TRANSPORT
        assert "Connection refused" in message
        # And again on the next request: every request retries the connection.
        code, message = only(await client.export(host.request()))
        assert code == TRANSPORT


async def test_a_killed_remote_worker_is_reported_and_replaced(
    ssh_server: SshServer, host: Host, kernel_text: KernelSource
) -> None:
    async with WorkerClient(host.settings(ssh_server)) as client:
        assert await client.start() is None
        assert client.info is not None
        remote_pid = client.info.pid  # the GPU host is this machine
        slow = kernel_text(prelude="import time\ntime.sleep(5)")
        pending = asyncio.create_task(client.export(host.request(slow)))
        await asyncio.sleep(1.0)
        os.kill(remote_pid, signal.SIGKILL)
        code, message = only(await pending)
        assert code == TRANSPORT
        assert ssh_server.host in message and "killed" in message

        after = await client.export(host.request())
        assert after.ok, after.diagnostics
        assert client.info is not None and client.info.pid != remote_pid


async def test_a_dropped_connection_is_reported_and_the_remote_worker_exits(
    ssh_server: SshServer, host: Host, kernel_text: KernelSource
) -> None:
    async with WorkerClient(host.settings(ssh_server)) as client:
        assert await client.start() is None
        assert client.info is not None
        remote_pid = client.info.pid
        session = parent_of(remote_pid)  # sshd's process for this connection
        assert "sshd" in Path(f"/proc/{session}/cmdline").read_text()
        stuck = kernel_text(prelude="while True:\n    pass")
        pending = asyncio.create_task(client.export(host.request(stuck)))
        await asyncio.sleep(1.0)
        os.kill(session, signal.SIGKILL)
        code, message = only(await pending)
        assert code == TRANSPORT
        assert message.startswith(f"lost the connection to GPU host '{ssh_server.host}':")
        assert "closed by remote host" in message
        # Orphaned mid-request, the remote worker notices and exits by itself.
        assert await wait_until_dead(remote_pid)

        after = await client.export(host.request())
        assert after.ok, after.diagnostics


async def test_export_command_line_over_ssh(
    ssh_server: SshServer, host: Host, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    ssh_args = [f"--ssh-arg={arg}" for arg in ssh_server.ssh_args()]
    completed = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "h2j_lsp.export_cli",
            "--export",
            "kernels",
            "--out-dir",
            str(out_dir),
            "--host",
            ssh_server.host,
            "--remote-root",
            str(host.remote),
            "--remote-python",
            sys.executable,
            *ssh_args,
            "--format",
            "json",
        ],
        cwd=host.local,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert [item["host"] for item in report["exports"]] == [ssh_server.host]
    document = json.loads((out_dir / "kern.combine.helion.json").read_text())
    assert "torch.add" in json.dumps(document)
