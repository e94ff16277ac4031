"""The exporter worker and its client, with real worker processes."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from h2j_lsp.worker_client import HostSettings, WorkerClient, WorkerState, describe_exit
from helion2json.worker.protocol import (
    MODULE_ERROR,
    TIMEOUT,
    WORKER_FAILURE,
    ExportRequest,
    ExportResult,
    RelatedLocation,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ARGS = "torch.randn(8, 8), torch.randn(8, 8)"
KernelSource = Callable[..., str]


def request(path: Path, text: str, *, kernel: str = "combine", args: str = ARGS) -> ExportRequest:
    return ExportRequest(str(path), text, kernel, args)


def body(result: ExportResult) -> list[dict[str, object]]:
    assert result.ok, result.diagnostics
    assert result.document is not None
    return result.document["module"]["funcs"][0]["body"]


def op_names(result: ExportResult) -> list[str]:
    return [str(op["op"]) for op in body(result)]


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_until_dead(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return not alive(pid)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The worker's directory: exported locations are relative to it."""
    return tmp_path_factory.mktemp("project")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def worker(project: Path) -> AsyncIterator[WorkerClient]:
    client = WorkerClient(HostSettings(local_root=str(project)))
    assert await client.start() is None
    yield client
    await client.stop()


async def test_hello_reports_versions_and_device(worker: WorkerClient) -> None:
    info = worker.info
    assert info is not None
    assert info.helion == importlib.metadata.version("helion")
    assert info.torch == importlib.metadata.version("torch")
    assert info.device == "cpu"
    assert alive(info.pid)
    assert worker.state == "idle"


async def test_exports_the_unsaved_text_not_the_file(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    path = project / "unsaved.py"
    path.write_text(kernel_text("x[tile_m, tile_n] + y[tile_m, tile_n]"))
    edited = kernel_text("x[tile_m, tile_n] * y[tile_m, tile_n]", prelude="\n\n# moved down")
    result = await worker.export(request(path, edited))
    assert "torch.mul" in op_names(result)
    assert "torch.add" not in op_names(result)
    store = next(op for op in body(result) if op["op"] == "hl.store_slice")
    assert store["loc"] == {
        "file": "unsaved.py",
        "line": line_of(edited, "out[tile_m, tile_n] ="),
        "col": 8,
    }
    assert set(result.timings) >= {"exec", "arguments", "export", "worker", "round_trip"}


async def test_exports_a_file_that_does_not_exist(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    result = await worker.export(request(project / "never_saved.py", kernel_text()))
    assert "torch.add" in op_names(result)


async def test_sibling_module_is_imported_and_read_again_after_an_edit(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    folder = project / "siblings"
    folder.mkdir()
    helper = folder / "helper_ops.py"
    helper.write_text("def combine(a, b):\n    return a + b\n")
    text = kernel_text(
        "helper_ops.combine(x[tile_m, tile_n], y[tile_m, tile_n])", prelude="import helper_ops"
    )
    first = await worker.export(request(folder / "kern.py", text))
    assert "torch.add" in op_names(first)
    assert [Path(item.file) for item in first.dependencies] == [helper]

    # Same size, same second: a bytecode cache keyed on mtime and size would miss the edit.
    helper.write_text("def combine(a, b):\n    return a * b\n")
    second = await worker.export(request(folder / "kern.py", text))
    assert "torch.mul" in op_names(second)
    assert "torch.add" not in op_names(second)


async def test_a_request_leaves_nothing_behind(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    folder = project / "leftovers"
    folder.mkdir()
    (folder / "leftover_helper.py").write_text("VALUE = 1\n")
    messy = kernel_text(
        prelude="import os, sys\nimport leftover_helper\n"
        "sys.path.append('/h2j-test-path')\nos.chdir('/')"
    )
    assert (await worker.export(request(folder / "messy.py", messy))).ok
    check = kernel_text(
        prelude="import os, sys\n"
        "assert 'leftover_helper' not in sys.modules, 'module left behind'\n"
        "assert 'messy' not in sys.modules, 'request module left behind'\n"
        "assert '/h2j-test-path' not in sys.path, 'sys.path left changed'\n"
        f"assert os.getcwd() == {str(project)!r}, os.getcwd()\n"
    )
    result = await worker.export(request(project / "check.py", check))
    assert result.ok, result.diagnostics


async def test_user_output_does_not_corrupt_the_protocol(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    noisy = kernel_text(
        prelude=(
            "import os, sys\n"
            "print('Content-Length: 2\\r\\n\\r\\n{}' * 100)\n"
            "os.write(1, b'Content-Length: 7\\r\\n\\r\\ngarbage')\n"
            "sys.stdout.write('more noise\\n')\n"
            "sys.stdout.flush()\n"
            "assert sys.stdin.read() == ''\n"
            "def loud(n):\n"
            "    print('argument noise')\n"
            '    os.write(1, b\'{"jsonrpc": "2.0"}\\n\')\n'
            "    return torch.randn(n, n)\n"
        ),
        args="loud(8), loud(8)",
    )
    for _ in range(2):  # the second answer proves the stream is still in step
        assert "torch.add" in op_names(await worker.export(request(project / "noisy.py", noisy)))


async def test_module_errors_point_at_their_line(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    text = kernel_text(prelude="\n\nraise RuntimeError('broken on purpose')")
    result = await worker.export(request(project / "broken.py", text))
    assert not result.ok
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == MODULE_ERROR
    assert diagnostic.message == "RuntimeError: broken on purpose"
    assert diagnostic.line == line_of(text, "raise RuntimeError")
    assert diagnostic.file is None


async def test_errors_raised_in_a_sibling_module_name_its_line(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    helpers = project / "broken_siblings" / "raising_helpers.py"
    helpers.parent.mkdir()
    helpers.write_text("SCALE = 2\n\n\nBROKEN = 1 / 0\n")
    text = kernel_text(prelude="import raising_helpers")
    imported = await worker.export(request(helpers.parent / "imports.py", text))
    (diagnostic,) = imported.diagnostics
    assert diagnostic.code == MODULE_ERROR
    assert diagnostic.line == line_of(text, "import raising_helpers")
    assert diagnostic.file is None
    # Named relative to the worker's directory, and carried as a location of its own.
    relative = "broken_siblings/raising_helpers.py"
    assert diagnostic.message == f"ZeroDivisionError: division by zero ({relative}:4)"
    assert diagnostic.related == RelatedLocation(str(helpers), 4, len("BROKEN = "))

    helpers.write_text("def make():\n    return {}['x']\n")
    arguments = await worker.export(
        request(helpers.parent / "imports.py", text, args="raising_helpers.make(), 1")
    )
    (diagnostic,) = arguments.diagnostics
    assert diagnostic.code == "bad-arguments"
    assert diagnostic.line is None
    assert diagnostic.message.endswith(f"KeyError: 'x' ({relative}:2)")
    assert diagnostic.related is not None and diagnostic.related.line == 2


async def test_syntax_errors_and_missing_kernels(worker: WorkerClient, project: Path) -> None:
    broken = await worker.export(request(project / "syntax.py", "x = 1\ndef broken(:\n"))
    (diagnostic,) = broken.diagnostics
    assert (diagnostic.code, diagnostic.line) == (MODULE_ERROR, 2)
    assert diagnostic.message.startswith("SyntaxError:")

    missing = await worker.export(request(project / "empty.py", "x = 1\n"))
    (diagnostic,) = missing.diagnostics
    assert diagnostic.code == MODULE_ERROR
    assert "'combine'" in diagnostic.message


async def test_argument_errors_are_placed(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    text = kernel_text(prelude="def make():\n    raise ValueError('no inputs')")
    path = project / "arguments.py"

    undefined = await worker.export(request(path, text, args="torch.randn(8, 8), nope"))
    (diagnostic,) = undefined.diagnostics
    assert diagnostic.code == "bad-arguments"
    assert "NameError" in diagnostic.message
    assert diagnostic.line is None

    unparsable = await worker.export(request(path, text, args="torch.randn(8, 8), $x"))
    (diagnostic,) = unparsable.diagnostics
    assert diagnostic.code == "bad-arguments"
    assert diagnostic.args_col == len("torch.randn(8, 8), ")

    raising = await worker.export(request(path, text, args="make(), make()"))
    (diagnostic,) = raising.diagnostics
    assert diagnostic.code == "bad-arguments"
    assert diagnostic.line == line_of(text, "raise ValueError")


async def test_export_errors_keep_their_code_and_line(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    text = kernel_text()
    result = await worker.export(
        request(project / "mismatch.py", text, args="torch.randn(8, 8), 1.5")
    )
    assert not result.ok
    (diagnostic,) = result.diagnostics
    assert diagnostic.code in {"bind-error", "bad-arguments"}
    assert diagnostic.line is not None
    assert diagnostic.file is None


async def test_a_cancelled_export_does_not_wedge_the_worker(
    worker: WorkerClient, project: Path, kernel_text: KernelSource
) -> None:
    slow = kernel_text(
        "x[tile_m, tile_n] * y[tile_m, tile_n]", prelude="import time\ntime.sleep(1)"
    )
    sent = worker.round_trips
    pending = asyncio.create_task(worker.export(request(project / "slow.py", slow)))
    await asyncio.sleep(0.3)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    result = await worker.export(request(project / "fast.py", kernel_text()))
    assert op_names(result).count("torch.add") == 1
    assert "torch.mul" not in op_names(result)
    assert worker.round_trips == sent + 2
    assert worker.state == "idle"


# --- failures of the worker itself --------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fragile(project: Path) -> AsyncIterator[tuple[WorkerClient, list[WorkerState]]]:
    states: list[WorkerState] = []
    settings = HostSettings(local_root=str(project), timeout_s=4.0, max_requests=3)
    client = WorkerClient(settings, on_state=states.append)
    assert await client.start() is None
    yield client, states
    await client.stop()


async def test_a_hung_export_is_killed_with_its_children_and_the_worker_restarts(
    fragile: tuple[WorkerClient, list[WorkerState]],
    project: Path,
    kernel_text: KernelSource,
    tmp_path: Path,
) -> None:
    client, states = fragile
    assert client.info is not None
    first_pid = client.info.pid
    child_pid_file = tmp_path / "child.pid"
    hang = kernel_text(
        prelude=(
            "import pathlib, subprocess\n"
            "child = subprocess.Popen(['sleep', '300'])\n"
            f"pathlib.Path({str(child_pid_file)!r}).write_text(str(child.pid))\n"
            "while True:\n    pass"
        )
    )
    started = time.monotonic()
    result = await client.export(request(project / "hang.py", hang))
    assert time.monotonic() - started < 15
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == TIMEOUT
    assert "longer than 4s" in diagnostic.message
    assert await wait_until_dead(first_pid)
    assert await wait_until_dead(int(child_pid_file.read_text()))

    after = await client.export(request(project / "after.py", kernel_text()))
    assert after.ok
    assert client.info is not None and client.info.pid != first_pid
    assert "starting" in states


async def test_a_killed_worker_is_restarted(
    fragile: tuple[WorkerClient, list[WorkerState]], project: Path, kernel_text: KernelSource
) -> None:
    client, _ = fragile
    assert await client.start() is None
    assert client.info is not None
    victim = client.info.pid
    slow = kernel_text(prelude="import time\ntime.sleep(3)")
    pending = asyncio.create_task(client.export(request(project / "victim.py", slow)))
    await asyncio.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    result = await pending
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == WORKER_FAILURE
    assert "killed by SIGKILL" in diagnostic.message

    after = await client.export(request(project / "after.py", kernel_text()))
    assert after.ok
    assert client.info is not None and client.info.pid != victim


async def test_the_worker_is_recycled_after_max_requests(
    fragile: tuple[WorkerClient, list[WorkerState]], project: Path, kernel_text: KernelSource
) -> None:
    client, _ = fragile
    assert await client.start() is None
    assert client.info is not None
    pid = client.info.pid
    results = []
    for _ in range(client.settings.max_requests - client.requests_served):
        results.append(await client.export(request(project / "count.py", kernel_text())))
    assert all(result.ok for result in results)
    assert (await client.export(request(project / "count.py", kernel_text()))).ok
    assert client.info is not None and client.info.pid != pid
    assert await wait_until_dead(pid)


async def test_the_worker_is_recycled_when_it_grows_too_large(
    project: Path, kernel_text: KernelSource
) -> None:
    async with WorkerClient(HostSettings(local_root=str(project), max_rss_mb=1)) as client:
        assert (await client.export(request(project / "big.py", kernel_text()))).ok
        assert client.restarts == 1  # retired at once: every worker is larger than 1 MiB
        assert (await client.export(request(project / "big.py", kernel_text()))).ok
        assert client.restarts == 2


async def test_a_worker_that_cannot_start_is_reported(project: Path) -> None:
    missing = project / "no-such-python"
    async with WorkerClient(HostSettings(python=str(missing))) as client:
        result = await client.export(request(project / "x.py", "x = 1\n"))
        (diagnostic,) = result.diagnostics
        assert diagnostic.code == WORKER_FAILURE
        assert str(missing) in diagnostic.message
        assert client.state == "failed"


async def test_a_python_without_the_exporter_is_reported(project: Path, tmp_path: Path) -> None:
    # Without site-packages (-S) and the current directory (-I) helion2json is not importable.
    python = tmp_path / "bare-python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    python.chmod(0o755)
    async with WorkerClient(HostSettings(python=str(python), local_root=str(tmp_path))) as client:
        outcome = await client.start()
        assert outcome is not None
        (diagnostic,) = outcome.diagnostics
        assert diagnostic.code == WORKER_FAILURE
        assert "exited with status 1" in diagnostic.message
        assert "No module named" in diagnostic.message


async def test_exit_causes_read_as_one_line() -> None:
    local = HostSettings()
    assert describe_exit(local, -9, [], connected=True) == (
        "the exporter worker was killed by SIGKILL",
        WORKER_FAILURE,
    )
    remote = HostSettings(ssh_host="gpu1")
    refused = "ssh: connect to host gpu1 port 22: Connection refused"
    assert describe_exit(remote, 255, [refused], connected=False) == (
        f"cannot reach GPU host 'gpu1': {refused}",
        "transport",
    )
    message, code = describe_exit(remote, 255, [], connected=True)
    assert code == "transport"
    assert "gpu1" in message
    # A started worker's stderr also holds the user's prints: they explain nothing.
    noisy = ["printed by the kernel module", "Connection to gpu1 closed by remote host."]
    assert describe_exit(remote, 255, noisy, connected=True) == (
        "lost the connection to GPU host 'gpu1': Connection to gpu1 closed by remote host.",
        "transport",
    )
    assert describe_exit(local, 1, noisy[:1], connected=True) == (
        "the exporter worker exited with status 1",
        WORKER_FAILURE,
    )
