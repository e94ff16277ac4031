"""``python -m helion2json mlir``, ``verify --mlir`` and ``h2j-lsp --export --mlir``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helion2json.core.verify_cli import main as verify_main
from helion2json.mlir import ToolError, find_tools
from helion2json.tests.test_mlir import document_of

REPO = Path(__file__).parents[2]
MATMUL = ["--entry", "examples/matmul.py:matmul", "--arg", "torch.randn(6, 8)"]
MATMUL += ["--arg", "torch.randn(8, 5)"]

try:
    find_tools()
    MISSING = ""
except ToolError as exc:
    MISSING = str(exc)

needs_tools = pytest.mark.skipif(bool(MISSING), reason=MISSING)


def helion2json(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helion2json", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_mlir_from_an_entry_writes_the_kernel_and_its_harness(tmp_path: Path) -> None:
    out = tmp_path / "matmul.mlir"
    done = helion2json("mlir", *MATMUL, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    text = out.read_text()
    assert "func.func @matmul(" in text and "func.func @main()" in text
    assert "memref.global" in text


def _tiny_document(op: dict[str, Any]) -> dict[str, Any]:
    located = {**op, "result": "y", "loc": {"file": "k.py", "line": 3}}
    return document_of([located, {"op": "hl.return", "values": ["x"]}])


def test_mlir_from_a_file_prints_the_kernel_alone(tmp_path: Path) -> None:
    path = tmp_path / "k.helion.json"
    path.write_text(
        json.dumps(_tiny_document({"op": "hl.zeros", "shape": ["dim(x,0)", 2], "dtype": "f32"}))
    )
    done = helion2json("mlir", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("module {") and "func.func @k(" in done.stdout
    assert "@main" not in done.stdout


def test_an_op_that_is_not_lowered_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "k.helion.json"
    path.write_text(json.dumps(_tiny_document({"op": "hl.frobnicate", "src": "x"})))
    done = helion2json("mlir", str(path))
    assert done.returncode == 1
    assert done.stderr == (
        "helion2json mlir: error: not lowered: k.py:3: hl.frobnicate: "
        "this op is not lowered to MLIR\n"
    )


@pytest.mark.parametrize("args", [[], ["a.json", "--entry", "m:f"], ["--bogus"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = helion2json("mlir", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("helion2json mlir: error: ")
    assert "Traceback" not in done.stderr


@needs_tools
def test_verify_mlir_runs_the_lowering(capsys: pytest.CaptureFixture[str]) -> None:
    assert verify_main([*MATMUL, "--mlir"]) == 0
    assert "mlir: 1 of 1 outputs match the interpreter" in capsys.readouterr().out


def test_verify_mlir_without_the_tools_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helion2json.mlir import tools

    monkeypatch.setattr(tools, "LLVM_PREFIX", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert verify_main([*MATMUL, "--mlir"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("helion2json verify: error: mlir: mlir-opt: not found")
    assert "apt-get install mlir-22-tools" in error


def test_h2j_lsp_export_writes_the_mlir_beside_the_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "h2j_lsp",
            "--export",
            "examples/matmul.py",
            "--mlir",
            "--out-dir",
            str(tmp_path),
            "--quiet",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    documents = sorted(tmp_path.glob("*.helion.json"))
    assert documents
    for document in documents:
        lowered = document.with_name(document.name.removesuffix(".helion.json") + ".mlir")
        assert "func.func @matmul(" in lowered.read_text()


@pytest.mark.parametrize("kind", ["fifo", "device", "binary", "truncated"])
def test_a_document_that_is_not_a_json_file_is_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "k.helion.json"
    if kind == "fifo":
        os.mkfifo(path)  # read, it would block for ever
    elif kind == "device":
        path.symlink_to("/dev/zero")  # read, it would never end
    else:
        path.write_bytes(b"\xff\xfe" if kind == "binary" else b'{"version": 1,')
    done = helion2json("mlir", str(path))
    assert done.returncode == 1
    said = {
        "fifo": "not a regular file (a FIFO)",
        "device": "not a regular file (a character device)",
        "binary": "not JSON:",
        "truncated": "not JSON:",
    }[kind]
    assert done.stderr.startswith(f"helion2json mlir: error: {path}: {said}"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
