"""The version gate: an untested torch/helion pair is named at once, not deep in helion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def fake_helion(site: Path, version: str, body: str) -> None:
    """A ``helion`` package of ``version`` whose import runs ``body``."""
    package = site / "helion"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    info = site / f"helion-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: helion\nVersion: {version}\n")


def run(module: str, *args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


BROKEN = "from torch._inductor.runtime.triton_compat import NoSuchName\n"
KERNEL = "import helion\n\ndef scale(x):\n    return x\n"


@pytest.mark.parametrize(
    ("version", "body", "says"),
    [
        ("1.5.9", BROKEN, "helion 1.5.9 does not import with torch"),
        ("1.4.2", "", "helion 1.4.2 is installed, but this exporter reads"),
        ("1.6.0", "", "helion 1.6.0 is installed, but this exporter reads"),
    ],
)
def test_the_cli_names_an_unsupported_pair_before_importing_the_kernel(
    tmp_path: Path, version: str, body: str, says: str
) -> None:
    fake_helion(tmp_path / "site", version, body)
    (tmp_path / "kernel.py").write_text(KERNEL)
    result = run(
        "helion2json",
        "--entry",
        "kernel.py:scale",
        "--arg",
        "1",
        site=tmp_path / "site",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert says in result.stderr
    assert "torch 2.11.0 + helion 1.5.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_worker_exits_with_the_gate_message(tmp_path: Path) -> None:
    fake_helion(tmp_path / "site", "1.5.9", BROKEN)
    result = run("helion2json.worker", site=tmp_path / "site", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("h2j-worker: error: helion 1.5.9 does not import with torch")
    assert "Traceback" not in result.stderr
