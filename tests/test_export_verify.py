"""``h2j-lsp --export --verify``: every export proven in the reference interpreter, with the
exit status of ``helion2json verify`` (1 unless every kernel matched) in every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from verify_kernels import ADD, EAGER_AS_PYTORCH_HAS_IT, NOISY, UNPROVEN_MATMUL, def_line

from h2j_lsp.ci.model import Summary

BROKEN = ADD.replace("def add(", "def broken(").replace(
    "torch.randn(8, 8))\n@", "torch.randn(8, 8), undefined_name)\n@"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verify")
    (root / "good.py").write_text(ADD)
    (root / "mixed.py").write_text(ADD + NOISY)
    (root / "unproven.py").write_text(UNPROVEN_MATMUL)
    (root / "broken.py").write_text(BROKEN)
    (root / "dies.py").write_text(
        ADD.replace("def add(", "def dies(").replace(
            "torch.randn(8, 8))\n@", 'torch.randn(8, 8))\n# h2j: ref(__import__("os")._exit(3))\n@'
        )
    )
    return root


def run_cli(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "h2j_lsp.export_cli", "--export", "--verify", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_every_kernel_matching_exits_0_and_a_second_run_is_cached(
    project: Path, tmp_path: Path
) -> None:
    common = ("good.py", "--out-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"))
    first = run_cli(project, *common)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith(
        f"good.py:{def_line(ADD, 'add')}:5: info[verified] kernel 'add': verified against the "
    )
    assert lines[-1].startswith(
        "exported 1 kernel (1 example): 1 ok, 0 failed; verified 1: 1 ok, 0 failed in "
    )
    second = run_cli(project, *common, "--format", "json")
    assert second.returncode == 0, second.stderr
    [export] = json.loads(second.stdout)["exports"]
    assert export["cached"] is True and export["verify"]["cached"] is True
    assert export["verify"]["status"] == "pass"


def test_a_mismatch_exits_1_in_text(project: Path, tmp_path: Path) -> None:
    completed = run_cli(project, "mixed.py", "--out-dir", str(tmp_path / "out"))
    assert completed.returncode == 1, completed.stdout + completed.stderr
    [mismatch] = [line for line in completed.stdout.splitlines() if "verify-mismatch" in line]
    assert mismatch.startswith(
        f"mixed.py:{def_line(ADD + NOISY, 'noisy')}:5: error[verify-mismatch] kernel 'noisy': "
        "verify: output 0 does not match "
    )
    assert "max abs" in mismatch and "(atol 1e-04, rtol 1e-04)" in mismatch
    assert "info[verified] kernel 'add'" in completed.stdout
    assert "verified 2: 1 ok, 1 failed" in completed.stdout
    # The documents are written all the same: the export itself succeeded.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "mixed.add.helion.json",
        "mixed.noisy.helion.json",
    ]


def test_a_mismatch_exits_1_in_json(project: Path, tmp_path: Path) -> None:
    completed = run_cli(project, "mixed.py", "--out-dir", str(tmp_path), "--format", "json")
    assert completed.returncode == 1, completed.stderr
    output = json.loads(completed.stdout)
    assert output["exit_code"] == 1
    verdicts = {e["kernel"]: e["verify"]["status"] for e in output["exports"]}
    assert verdicts == {"add": "pass", "noisy": "mismatch"}
    noisy = next(e["verify"] for e in output["exports"] if e["kernel"] == "noisy")
    [compared] = noisy["outputs"]
    assert compared["label"] == "output 0" and compared["ok"] is False
    assert compared["max_abs_error"] > compared["atol"]
    assert output["summary"]["verified"] == 2 and output["summary"]["verified_ok"] == 1
    codes = [d["code"] for d in output["diagnostics"]]
    assert codes == ["verified", "verify-mismatch"]


def test_a_mismatch_exits_1_in_github(project: Path, tmp_path: Path) -> None:
    completed = run_cli(project, "mixed.py", "--out-dir", str(tmp_path), "--format", "github")
    assert completed.returncode == 1, completed.stderr
    lines = completed.stdout.splitlines()
    assert any(
        line.startswith(
            f"::error file=mixed.py,line={def_line(ADD + NOISY, 'noisy')},col=5,"
            "title=h2j-lsp [verify-mismatch]::"
        )
        for line in lines
    ), lines
    assert any(line.startswith("::notice ") and "[verified]" in line for line in lines)


def test_a_mismatch_exits_1_in_sarif(project: Path, tmp_path: Path) -> None:
    completed = run_cli(project, "mixed.py", "--out-dir", str(tmp_path), "--format", "sarif")
    assert completed.returncode == 1, completed.stderr
    [run] = json.loads(completed.stdout)["runs"]
    assert run["invocations"] == [{"executionSuccessful": True, "exitCode": 1}]
    levels = {result["ruleId"]: result["level"] for result in run["results"]}
    assert levels == {"verified": "note", "verify-mismatch": "error"}
    rules = {
        rule["id"]: rule["shortDescription"]["text"] for rule in run["tool"]["driver"]["rules"]
    }
    assert "other values than the kernel" in rules["verify-mismatch"]


def eager_as_pytorch_has_it(folder: Path) -> Path:
    """A ``--python`` whose worker has no CPU kernel for matmul's out-dtype products."""
    script = folder / "worker.py"
    script.write_text(EAGER_AS_PYTORCH_HAS_IT)
    python = folder / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}"\n')
    python.chmod(0o755)
    return python


def test_no_reference_is_not_a_pass(project: Path, tmp_path: Path) -> None:
    completed = run_cli(
        project,
        "unproven.py",
        "broken.py",
        "dies.py",
        "--out-dir",
        str(tmp_path),
        "--format",
        "json",
        "--python",
        str(eager_as_pytorch_has_it(tmp_path)),
        env={"TRITON_INTERPRET": "0"},
    )
    assert completed.returncode == 1, completed.stderr
    output: dict[str, Any] = json.loads(completed.stdout)
    by_code = {d["code"]: d for d in output["diagnostics"]}
    unproven = by_code["verify-no-reference"]
    assert unproven["severity"] == "error" and unproven["file"] == "unproven.py"
    assert "no reference could run" in unproven["message"]
    # The user reference was tried last, and its failure is the reason given.
    assert "ZeroDivisionError" in unproven["message"]
    matmul = next(e for e in output["exports"] if e["kernel"] == "matmul")
    assert matmul["verify"]["status"] == "no-reference" and matmul["verify"]["reference"] is None
    # A kernel that does not export is reported once, as an export failure, and not verified.
    broken = next(e for e in output["exports"] if e["kernel"] == "broken")
    assert "verify" not in broken and by_code["bad-arguments"]["file"] == "broken.py"
    # A worker that dies mid-verify is that kernel's failure; the run goes on with a new one.
    died = by_code["worker-failure"]
    assert died["file"] == "dies.py" and died["severity"] == "error"
    assert died["message"].startswith("kernel 'dies': verify: the exporter worker exited")
    assert (
        next(e for e in output["exports"] if e["kernel"] == "dies")["verify"]["status"] == "error"
    )


@pytest.mark.parametrize(
    "args",
    [["--atol", "1e-3"], ["--verify", "--rtol", "-1"], ["--verify", "--atol", "nan"]],
    ids=["atol-without-verify", "negative", "nan"],
)
def test_tolerance_usage_errors_exit_2(project: Path, args: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "h2j_lsp.export_cli", "--export", "good.py", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("h2j-lsp: error: --")


def test_the_summary_line_names_verification_only_when_it_ran() -> None:
    plain = Summary(1, 1, 1, 0, 0, 0, 1.0, 0.5, 0.5)
    assert plain.line() == "exported 1 kernel (1 example): 1 ok, 0 failed in 1.0s"
    verified = Summary(1, 1, 1, 0, 0, 0, 1.0, 0.5, 0.5, verified=1, verified_ok=0)
    assert verified.line().endswith("; verified 1: 0 ok, 1 failed in 1.0s")
