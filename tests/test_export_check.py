"""h2j-lsp --export --check / --update against committed exports (goldens)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "matmul.py"


def export(workspace: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "h2j_lsp", "--export", ".", "--out-dir", "goldens", *flags],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_check_fails_on_missing_and_changed_goldens_and_update_rewrites(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "matmul.py")
    golden = tmp_path / "goldens" / "matmul.matmul.helion.json"

    missing = export(tmp_path, "--check")
    assert missing.returncode == 1
    assert "error[golden-missing] kernel 'matmul': no committed export" in missing.stdout
    assert not golden.exists()

    created = export(tmp_path, "--update")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "info[golden-updated] kernel 'matmul': created goldens/matmul.matmul.helion.json" in (
        created.stdout
    )
    committed = golden.read_text()

    assert export(tmp_path, "--check").returncode == 0
    unchanged = export(tmp_path, "--update")
    assert unchanged.returncode == 0 and "golden-updated" not in unchanged.stdout

    source = tmp_path / "matmul.py"
    source.write_text(
        source.read_text().replace(
            "out[tile_m, tile_n] = acc", "out[tile_m, tile_n] = torch.relu(acc)"
        )
    )
    changed = export(tmp_path, "--check")
    assert changed.returncode == 1
    [line] = [line for line in changed.stdout.splitlines() if "golden-diff" in line]
    assert line.startswith("matmul.py:")
    assert "the export differs from goldens/matmul.matmul.helion.json" in line
    assert 'op added: torch.relu → "relu"' in line
    assert 'hl.store_slice: "acc" → "relu"' in line
    assert golden.read_text() == committed  # --check writes nothing

    updated = export(tmp_path, "--update")
    assert updated.returncode == 0
    assert "updated goldens/matmul.matmul.helion.json" in updated.stdout
    body = json.loads(golden.read_text())["module"]["funcs"][0]["body"]
    assert any(op["op"] == "torch.relu" for op in body)
    assert export(tmp_path, "--check").returncode == 0


def test_check_and_update_exclude_each_other(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "matmul.py")
    both = export(tmp_path, "--check", "--update")
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def test_config_directive_is_used_and_a_bad_one_is_an_error_at_its_line(tmp_path: Path) -> None:
    source = EXAMPLE.read_text().replace(
        "# h2j: args(torch.randn(4, 8), torch.randn(8, 4))",
        "# h2j: args(torch.randn(64, 64), torch.randn(64, 64))\n"
        "# h2j: config(block_sizes=[32, 32, 16], num_warps=8)",
    )
    (tmp_path / "matmul.py").write_text(source)
    result = export(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    func = json.loads((tmp_path / "goldens" / "matmul.matmul.helion.json").read_text())["module"][
        "funcs"
    ][0]
    config_line = source.splitlines().index("# h2j: config(block_sizes=[32, 32, 16], num_warps=8)")
    assert func["config"]["source"] == f"directive (line {config_line + 1})"
    assert func["config"]["values"]["num_warps"] == 8
    assert [op["sizes"] for op in func["body"] if op["op"] == "hl.tile.begin"] == [[32, 32], [16]]

    (tmp_path / "matmul.py").write_text(source.replace("[32, 32, 16]", "[32]"))
    bad = export(tmp_path)
    assert bad.returncode == 1
    assert f"matmul.py:{config_line + 1}:" in bad.stdout
    assert "config(...) directive does not fit the kernel" in bad.stdout
