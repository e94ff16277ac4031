"""Trust, output containment, the ssh command line, and no shell."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from fault_support import kernel
from hypothesis import given
from hypothesis import strategies as st
from lsp_editor import Editor, children, running_editor

from h2j_lsp.outputs import output_name, output_path
from h2j_lsp.worker_client import HostSettings

# Only the tests that talk to a server are coroutines; they share the module's loop.
server_test = pytest.mark.asyncio(loop_scope="module")

PACKAGES = [Path(__file__).parents[2] / "h2j_lsp", Path(__file__).parents[2] / "helion2json"]
HOSTILE_NAMES = [
    "../../x",
    "..",
    ".",
    "/etc/passwd",
    "/",
    "a/../../b",
    "a\0b",
    "\0",
    "x" * 5000,
    "..\\..\\x",
    "~root",
    "$(touch pwned)",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def untrusted(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Editor]:
    workspace = tmp_path_factory.mktemp("untrusted")
    async with running_editor(workspace, initialization_options={"trusted": False}) as editor:
        yield editor


@server_test
async def test_untrusted_workspace_never_starts_a_process(untrusted: Editor) -> None:
    seen: list[tuple[int, str]] = []
    stop = asyncio.Event()

    async def sample() -> None:
        # A worker that started and died between two looks would be missed by a check at
        # the end: look at the server's children all along instead.
        while not stop.is_set():
            seen.extend(children(untrusted.server_pid))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    uri = untrusted.open("kernels.py", kernel())
    untrusted.change(uri, kernel(expression="x[tile_m, tile_n] * 2"))
    untrusted.save(uri)
    preview = await untrusted.command("h2j.lsp.previewJson", uri, "add", 0)
    export = await untrusted.command("h2j.lsp.exportKernel", uri, "add", None)
    assert await untrusted.command("h2j.lsp.restartWorker") is None
    untrusted.configure({"timeoutSeconds": 5})
    await asyncio.sleep(1.5)  # what a trusted server would have started by now
    stop.set()
    await sampler

    assert seen == []
    assert preview["ok"] is False and export == {
        "ok": False,
        "paths": [],
        "message": export["message"],
    }
    assert not untrusted.exports
    assert sorted(path.name for path in untrusted.workspace.iterdir()) == ["kernels.py"]
    assert [d.code for d in await untrusted.diagnostics(uri)] == ["untrusted"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trusted(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Editor]:
    root = tmp_path_factory.mktemp("contained")
    workspace = root / "workspace"
    workspace.mkdir()
    # No worker can start: the refusals under test come before any export.
    settings = {"workerPython": str(root / "no-python")}
    options = {"trusted": True, "settings": settings}
    async with running_editor(workspace, initialization_options=options, settings=settings) as ed:
        yield ed


@server_test
@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_export_command_with_a_crafted_kernel_name(trusted: Editor, name: str) -> None:
    uri = trusted.open("kernels.py", kernel())
    result = await trusted.command("h2j.lsp.exportKernel", uri, name, None)
    assert result["ok"] is False and result["paths"] == []
    assert sorted(path.name for path in trusted.workspace.parent.iterdir()) == ["workspace"]
    assert sorted(path.name for path in trusted.workspace.iterdir()) == ["kernels.py"]


@server_test
@pytest.mark.parametrize("out_dir", ["..", "../escape", "/tmp/h2j-escape", "link"])
async def test_export_command_refuses_an_out_dir_outside_the_folder(
    trusted: Editor, out_dir: str
) -> None:
    outside = trusted.workspace.parent / "outside"
    outside.mkdir(exist_ok=True)
    link = trusted.workspace / "link"
    if not link.is_symlink():
        link.symlink_to(outside)  # inside the folder by name, outside it in fact
    previous = trusted.configure(
        {**trusted.client.get_configuration(section="h2j"), "outDir": out_dir}
    )
    try:
        uri = trusted.open("kernels.py", kernel())

        async def refused() -> dict[str, object] | None:
            # The server reads the new section asynchronously: ask until it applies.
            result = await trusted.command("h2j.lsp.exportKernel", uri, "add", None)
            assert result["ok"] is False and result["paths"] == []
            return result if "outside the workspace folder" in result["message"] else None

        for _ in range(100):
            if await refused():
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"outDir {out_dir!r} was not refused")
    finally:
        trusted.configure(previous)
        link.unlink()
        outside.rmdir()
    assert not Path("/tmp/h2j-escape").exists()


@pytest.mark.parametrize("module", ["kernels", *HOSTILE_NAMES])
@pytest.mark.parametrize("kernel_name", ["add", *HOSTILE_NAMES])
def test_output_names_never_leave_the_out_dir(
    tmp_path: Path, module: str, kernel_name: str
) -> None:
    assert_contained(tmp_path / "out", module, kernel_name)


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_output_name_stays_in_the_out_dir(module: str, kernel_name: str) -> None:
    assert_contained(Path("/srv/project/out"), module, kernel_name)


def assert_contained(out_dir: Path, module: str, kernel_name: str) -> None:
    """Either refused, or one plain file name directly inside ``out_dir``."""
    for index, count in [(0, 1), (1, 3)]:
        try:
            target = output_path(out_dir, output_name(module, kernel_name, index, count))
        except ValueError:
            continue
        assert os.path.dirname(os.path.abspath(target)) == os.path.abspath(out_dir)
        assert "\0" not in str(target) and "/" not in target.name


def test_ssh_argv_quotes_the_remote_command() -> None:
    root = "/srv/my project; rm -rf ~ $(reboot) `id` && echo 'x'"
    python = "/opt/py 3/bin/python; echo $(id) | sh"
    argv = HostSettings(
        ssh_host="gpu-box", remote_root=root, remote_python=python, ssh_args=("-p", "2222")
    ).command()
    assert argv[0] == "ssh" and argv[-3:-1] == ["gpu-box", "--"]
    # The remote shell sees exactly these words: the root and the Python stay one word each.
    assert shlex.split(argv[-1]) == ["cd", root, "&&", "exec", python, "-m", "helion2json.worker"]


@pytest.mark.parametrize("host", ["-oProxyCommand=touch /tmp/pwned", "-p2222"])
def test_ssh_host_cannot_be_an_option(host: str) -> None:
    with pytest.raises(ValueError):
        HostSettings(ssh_host=host).command()


def test_ssh_keeps_host_key_checking() -> None:
    argv = HostSettings(ssh_host="gpu-box", remote_root="/srv").command()
    text = " ".join(argv)
    assert "StrictHostKeyChecking" not in text and "UserKnownHostsFile" not in text
    assert "BatchMode=yes" in argv  # never prompts (a password prompt would hang the worker)
    # Only what the user asks for is relaxed, and it reaches ssh unchanged.
    mine = ("-o", "StrictHostKeyChecking=accept-new")
    assert HostSettings(ssh_host="gpu-box", ssh_args=mine).command()[1:3] == list(mine)


def test_no_shell_anywhere_in_the_packages() -> None:
    pattern = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|create_subprocess_shell")
    offenders = [
        f"{path}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
