"""Faults injected into the real headless export, ``python -m h2j_lsp --export``.

Most faults share one run over a project holding one faulty file each (a worker start costs
seconds); the run must get through all of them, report each clearly, export the good
kernels and leave no partial file. Faults that need a run of their own (a killed worker,
an output folder that cannot be written, an unreachable host) get one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fault_support import assert_no_partial_files, kernel, line_of
from lsp_editor import children

pytestmark = pytest.mark.fault

TIMEOUT_S = 3.0
# A run's worker start (torch and helion) plus its exports, on a loaded two-core machine.
RUN_LIMIT_S = 240.0
HANG = kernel(prelude="import time\ntime.sleep(1000)")
ARGS_RAISE = kernel(args="torch.randn(8, 8), 1 / 0")
# iter(int, 1) yields 0 for ever: any() never returns, and uses no memory doing so.
ARGS_LOOP = kernel(args="torch.randn(8, 8), any(iter(int, 1))")
BIND_RAISE = kernel(expression="torch.no_such_op(x[tile_m, tile_n])")
SYNTAX = kernel().replace("def add(", "def add((", 1)
NESTED = kernel(args="(" * 5000 + "1" + ")" * 5000)
NOISY = kernel(
    prelude="import os, sys\nprint('Content-Length: 2\\r\\n\\r\\n{}')\n"
    "os.write(1, b'Content-Length: 5\\r\\n\\r\\nhello\\n')\nos.write(2, b'to stderr\\n')\n"
    "print('also to stderr', file=sys.stderr)"
)


def big_file() -> str:
    """About 5 MB: 200 kernels, two exported, the rest skipped."""
    padding = "".join(f"# padding line {i:05d} " + "x" * 80 + "\n" for i in range(250))
    parts = [kernel()]
    for index in range(1, 200):
        directive = "# h2j: args(torch.randn(4))\n" if index == 199 else "# h2j: skip\n"
        parts.append(
            f"\n\n{directive}@helion.kernel(static_shapes=True)\n"
            f"def k{index}(x: torch.Tensor) -> torch.Tensor:\n"
            "    out = torch.empty_like(x)\n"
            "    for tile in hl.tile(x.size(0)):\n"
            "        out[tile] = x[tile] * 2\n"
            "    return out\n" + padding
        )
    return "".join(parts)


@dataclass(frozen=True)
class Run:
    returncode: int
    report: dict[str, Any]
    stderr: str
    seconds: float
    out_dir: Path

    def diagnostics(self, file: str) -> list[dict[str, Any]]:
        return [item for item in self.report["diagnostics"] if item.get("file") == file]

    def exports(self, file: str) -> list[dict[str, Any]]:
        return [item for item in self.report["exports"] if item["file"] == file]

    def codes(self, file: str) -> set[str]:
        return {item["code"] for item in self.diagnostics(file)}


def export(project: Path, out_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "h2j_lsp", "--export", ".", "--out-dir", str(out_dir)),
            *("--format", "json", "--timeout", str(TIMEOUT_S), *args),
        ],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], out_dir: Path, began: float) -> Run:
    stdout, stderr = process.communicate(timeout=RUN_LIMIT_S)
    report = json.loads(stdout)
    return Run(process.returncode, report, stderr, time.monotonic() - began, out_dir)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Run:
    project = tmp_path_factory.mktemp("cli-faults")
    sources = {
        "good.py": kernel(),
        "hang.py": HANG,
        "args_raise.py": ARGS_RAISE,
        "args_loop.py": ARGS_LOOP,
        "bind_raise.py": BIND_RAISE,
        "syntax.py": SYNTAX,
        "nested.py": NESTED,
        "noisy.py": NOISY,
        "big.py": big_file(),
    }
    for name, text in sources.items():
        (project / name).write_text(text)
    # Not UTF-8 and no coding cookie: Python itself refuses to read it.
    (project / "bad_utf8.py").write_bytes(kernel().encode() + b"# \xff\xfe\xc3\x28 \xed\xa0\x80\n")
    out_dir = project / "out"
    began = time.monotonic()
    return finish(export(project, out_dir), out_dir, began)


def test_run_gets_through_every_fault(batch: Run) -> None:
    assert batch.returncode == 1, batch.stderr  # failures, but the run itself worked
    assert_no_partial_files(batch.out_dir)
    assert sorted(path.name for path in batch.out_dir.iterdir()) == [
        "big.add.helion.json",
        "big.k199.helion.json",
        "good.add.helion.json",
        "noisy.add.helion.json",
    ]


@pytest.mark.parametrize(
    ("file", "code", "text", "fragment", "says"),
    [
        ("hang.py", "timeout", HANG, "def add(", f"{TIMEOUT_S:g}"),
        ("args_raise.py", "bad-arguments", ARGS_RAISE, "# h2j: args(", "ZeroDivisionError"),
        ("args_loop.py", "timeout", ARGS_LOOP, "def add(", f"{TIMEOUT_S:g}"),
        ("bind_raise.py", "bind-error", BIND_RAISE, "torch.no_such_op", "no_such_op"),
        ("syntax.py", "syntax-error", SYNTAX, "def add((", ""),
        ("nested.py", "directive-syntax", NESTED, "# h2j: args(", ""),
    ],
)
def test_fault_is_reported_on_its_line(
    batch: Run, file: str, code: str, text: str, fragment: str, says: str
) -> None:
    [problem] = [item for item in batch.diagnostics(file) if item["severity"] == "error"]
    assert problem["code"] == code
    assert problem["line"] == line_of(text, fragment) + 1
    assert says in problem["message"]
    assert all(not item["ok"] for item in batch.exports(file))


def test_undecodable_file_is_a_read_error(batch: Run) -> None:
    [problem] = batch.diagnostics("bad_utf8.py")
    assert problem["code"] == "read-error"
    assert "utf-8" in problem["message"].lower()
    assert batch.exports("bad_utf8.py") == []


def test_user_output_does_not_corrupt_the_report(batch: Run) -> None:
    [noisy] = batch.exports("noisy.py")
    assert noisy["ok"] is True
    document = json.loads((batch.out_dir / "noisy.add.helion.json").read_text())
    assert document["module"]["funcs"][0]["name"] == "add"


def test_five_megabyte_file_with_200_kernels(batch: Run) -> None:
    assert len((batch.out_dir.parent / "big.py").read_bytes()) >= 5_000_000
    assert {(item["kernel"], item["ok"]) for item in batch.exports("big.py")} == {
        ("add", True),
        ("k199", True),
    }
    # Two hung exports, the worker restarts after each, and everything else.
    assert batch.seconds < RUN_LIMIT_S


def test_worker_killed_mid_export(tmp_path: Path) -> None:
    started = tmp_path / "slow.started"
    (tmp_path / "slow.py").write_text(
        kernel(
            prelude=f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(30)"
        )
    )
    out_dir = tmp_path / "out"
    began = time.monotonic()
    process = export(tmp_path, out_dir, "--timeout", "60")
    deadline = time.monotonic() + RUN_LIMIT_S
    while not started.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    [worker] = [pid for pid, cmdline in children(process.pid) if "helion2json.worker" in cmdline]
    os.kill(worker, signal.SIGKILL)
    killed = time.monotonic()
    run = finish(process, out_dir, began)
    assert time.monotonic() - killed < RUN_LIMIT_S
    [problem] = run.diagnostics("slow.py")
    assert problem["code"] == "worker-failure" and "SIGKILL" in problem["message"]
    assert run.returncode == 1
    assert_no_partial_files(out_dir)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("under-a-file", id="parent-is-a-regular-file"),
        pytest.param("/proc/h2j-out", id="proc-filesystem"),
    ],
)
def test_output_folder_that_cannot_be_written(tmp_path: Path, where: str) -> None:
    # Tests run as root, for whom a chmod 0o555 folder stays writable: these fail for root
    # too (a folder cannot be made under a regular file, nor anywhere in /proc).
    if where == "under-a-file":
        (tmp_path / "blocker").write_text("a file where a folder should be")
        out_dir = tmp_path / "blocker" / "out"
    else:
        out_dir = Path(where)
    (tmp_path / "good.py").write_text(kernel())
    run = finish(export(tmp_path, out_dir), out_dir, time.monotonic())
    assert run.returncode == 1
    [problem] = run.diagnostics("good.py")
    assert problem["code"] == "write-error"
    assert problem["message"].startswith("kernel 'add': cannot write ")
    assert "out/good.add.helion.json: " in problem["message"]
    assert not out_dir.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == (
        ["blocker", "good.py"] if where == "under-a-file" else ["good.py"]
    )
