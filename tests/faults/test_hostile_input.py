"""Hostile input to the command lines: special files, processes that outlive the module that
started them, corrupt goldens, noisy modules, file modes and malformed flags.

Every test here runs the real commands (``python -m helion2json``, ``python -m h2j_lsp
--export``) in a subprocess, as a user or a CI job would.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_support import assert_no_partial_files, kernel, line_of
from lsp_editor import children

pytestmark = pytest.mark.fault

# A run's worker start (torch and helion) plus its exports, on a loaded two-core machine.
RUN_LIMIT_S = 240.0
ARGS = ["--arg", "torch.randn(8, 8)", "--arg", "torch.randn(8, 8)"]


def bounded_run(
    command: list[str], cwd: Path, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a session of its own; on time-out, end the whole session.

    A plain ``subprocess.run`` would wait for ever on a pipe that a leftover grandchild holds.
    """

    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=set_umask,
    )
    try:
        stdout, stderr = process.communicate(timeout=RUN_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{command} did not finish within {RUN_LIMIT_S:g} s")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def cli(*args: str, cwd: Path, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m helion2json ARGS`` with separate stdout and stderr."""
    return bounded_run([sys.executable, "-m", "helion2json", *args], cwd, umask)


def export_run(
    project: Path, *args: str, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m h2j_lsp --export . --format json ARGS`` in ``project``."""
    command = [sys.executable, "-m", "h2j_lsp", "--export", ".", "--format", "json", *args]
    return bounded_run(command, project, umask)


def problems(run: subprocess.CompletedProcess[str], file: str) -> list[dict[str, object]]:
    report = json.loads(run.stdout)
    return [item for item in report["diagnostics"] if item.get("file") == file]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for every purpose here.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


# ------------------------------------------------------------------ leftover processes


@pytest.mark.parametrize("how", ["popen", "fork"])
def test_child_process_left_by_the_module_does_not_hold_the_run(tmp_path: Path, how: str) -> None:
    pid_file = tmp_path / "child.pid"
    if how == "popen":
        prelude = (
            "import subprocess, pathlib\n"
            "_child = subprocess.Popen(['sleep', '1000'])\n"
            f"pathlib.Path({str(pid_file)!r}).write_text(str(_child.pid))"
        )
    else:
        prelude = (
            "import os, pathlib, time\n"
            "_pid = os.fork()\n"
            "if _pid == 0:\n"
            "    time.sleep(1000)\n"
            "    os._exit(0)\n"
            f"pathlib.Path({str(pid_file)!r}).write_text(str(_pid))"
        )
    (tmp_path / "spawns.py").write_text(kernel(prelude=prelude))
    run = export_run(tmp_path, "--out-dir", "out", "--timeout", "60")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "spawns.add.helion.json").exists()
    # The run ended with its worker, and took the module's child with it.
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the module's child process outlived the run")


# ------------------------------------------------------------------ special files


def test_symlink_to_dev_zero_is_a_read_error(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(kernel())
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    run = export_run(tmp_path, "--out-dir", "out")
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr
    [problem] = problems(run, "zero.py")
    assert problem["code"] == "read-error"
    assert "not a regular file" in str(problem["message"])
    assert (tmp_path / "out" / "good.add.helion.json").exists()
    assert run.returncode == 1


def test_fifo_is_a_read_error(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(kernel())
    os.mkfifo(tmp_path / "f.py")
    run = export_run(tmp_path, "--out-dir", "out")
    [problem] = problems(run, "f.py")
    assert problem["code"] == "read-error"
    assert "not a regular file" in str(problem["message"])
    assert run.returncode == 1


def test_oversized_source_is_a_read_error(tmp_path: Path) -> None:
    (tmp_path / "huge.py").write_text(kernel() + "#" * (17 * 2**20) + "\n")
    run = export_run(tmp_path, "--out-dir", "out")
    [problem] = problems(run, "huge.py")
    assert problem["code"] == "read-error"
    assert "larger than" in str(problem["message"])


def test_cli_entry_that_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.py")
    run = cli("--entry", "f.py:add", *ARGS, cwd=tmp_path)
    assert run.returncode == 1
    assert "not a regular file" in run.stderr
    assert "Traceback" not in run.stderr


# ------------------------------------------------------------------ goldens


def test_check_with_a_corrupt_golden_says_corrupt(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(kernel())
    golden_dir = tmp_path / "golden"
    golden_dir.mkdir()
    (golden_dir / "good.add.helion.json").write_text('{"version": 1, "module": ')
    run = export_run(tmp_path, "--out-dir", "golden", "--check")
    [problem] = problems(run, "good.py")
    assert problem["code"] == "golden-corrupt", problem
    assert "good.add.helion.json" in str(problem["message"])
    assert "--update" in str(problem["message"])
    assert run.returncode == 1
    # --update repairs it.
    assert export_run(tmp_path, "--out-dir", "golden", "--update").returncode == 0
    json.loads((golden_dir / "good.add.helion.json").read_text())


# ------------------------------------------------------------------ standard output


def test_module_printing_at_import_keeps_stdout_pure_json(tmp_path: Path) -> None:
    prelude = "import os\nprint('hello from import')\nos.write(1, b'raw bytes on fd 1\\n')"
    (tmp_path / "noisy.py").write_text(kernel(prelude=prelude))
    run = cli("--entry", "noisy.py:add", *ARGS, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["module"]["funcs"][0]["name"] == "add"
    assert "hello from import" in run.stderr


# ------------------------------------------------------------------ file modes


@pytest.mark.parametrize("existing", [None, 0o600, 0o644])
def test_cli_out_file_gets_the_umask_mode(tmp_path: Path, existing: int | None) -> None:
    (tmp_path / "good.py").write_text(kernel())
    target = tmp_path / "out.json"
    if existing is not None:
        target.write_text("{}")
        target.chmod(existing)
    run = cli("--entry", "good.py:add", *ARGS, "--out", str(target), cwd=tmp_path, umask=0o022)
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_headless_export_files_get_the_umask_mode(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(kernel())
    out = tmp_path / "out"
    run = export_run(tmp_path, "--out-dir", "out", umask=0o027)
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE((out / "good.add.helion.json").stat().st_mode) == 0o640


# ------------------------------------------------------------------ flags


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--entry", "good.py", *ARGS], "--entry"),
        (["--entry", "good.py:add", *ARGS, "--indent", "-3"], "--indent"),
        (["--entry", "good.py:add", *ARGS, "--indent", "100000000"], "--indent"),
        (["--entry", ":add", *ARGS], "--entry"),
        (["--entry", "good.py:", *ARGS], "--entry"),
    ],
    ids=[
        "entry-without-colon",
        "negative-indent",
        "huge-indent",
        "entry-without-module",
        "entry-without-name",
    ],
)
def test_cli_usage_errors_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    (tmp_path / "good.py").write_text(kernel())
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert says in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_headless_export_rejects_a_meaningless_timeout(tmp_path: Path, value: str) -> None:
    (tmp_path / "good.py").write_text(kernel())
    run = export_run(tmp_path, "--out-dir", "out", "--timeout", value)
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "--timeout" in run.stderr
    assert not (tmp_path / "out").exists()


def test_cli_out_naming_a_directory_names_the_target(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(kernel())
    (tmp_path / "target").mkdir()
    run = cli("--entry", "good.py:add", *ARGS, "--out", "target", cwd=tmp_path)
    assert run.returncode == 1
    assert "target" in run.stderr and "is a directory" in run.stderr
    assert ".tmp" not in run.stderr
    assert list((tmp_path / "target").iterdir()) == []


def test_more_jobs_than_kernels_start_one_worker(tmp_path: Path) -> None:
    started = tmp_path / "started"
    prelude = f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(5)"
    (tmp_path / "one.py").write_text(kernel(prelude=prelude))
    process = subprocess.Popen(
        [sys.executable, "-m", "h2j_lsp", "--export", ".", "--out-dir", "out", "--jobs", "4"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + RUN_LIMIT_S
        while not started.exists():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        workers = [pid for pid, line in children(process.pid) if "helion2json.worker" in line]
        assert len(workers) == 1
    finally:
        process.communicate(timeout=RUN_LIMIT_S)
    assert process.returncode == 0
    assert_no_partial_files(tmp_path / "out")


# ------------------------------------------------------------------ where errors land


def test_error_in_a_sibling_module_names_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("SCALE = 2\n\n\nBROKEN = 1 / 0\n")
    text = kernel(prelude="from helpers import SCALE")
    (tmp_path / "uses.py").write_text(text)
    run = export_run(tmp_path, "--out-dir", "out")
    [problem] = [p for p in problems(run, "uses.py") if p["severity"] == "error"]
    assert problem["line"] == line_of(text, "from helpers import") + 1
    assert "helpers.py:4" in str(problem["message"])
    assert "ZeroDivisionError" in str(problem["message"])


def test_bad_argument_expression_points_at_its_column(tmp_path: Path) -> None:
    text = kernel(args="torch.randn(8, 8), torch.nope(8, 8)")
    (tmp_path / "bad.py").write_text(text)
    run = export_run(tmp_path, "--out-dir", "out")
    [problem] = [p for p in problems(run, "bad.py") if p["severity"] == "error"]
    assert problem["code"] == "bad-arguments"
    line = text.splitlines()[line_of(text, "torch.nope")]
    assert problem["line"] == line_of(text, "torch.nope") + 1
    assert problem["column"] == line.index("torch.nope") + 1
