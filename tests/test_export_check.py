"""h2j-lsp --export --check / --update against committed exports (goldens)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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


# ------------------------------------------------------------------ goldens made on a GPU host

GOLDEN = Path("goldens") / "matmul.matmul.helion.json"
FIXED = "# h2j: config(block_sizes=[4, 4, 8])"


def made_on_a_gpu(golden: Path) -> dict[str, Any]:
    """Rewrite a CPU-made golden as a GPU host would have made it: device cuda, and, where
    the config is Helion's default, the other block sizes a GPU's default config has."""
    document = json.loads(golden.read_text())
    func = document["module"]["funcs"][0]
    func["config"]["device"] = "cuda"
    if func["config"]["source"] == "default":
        func["config"]["values"]["block_sizes"] = [1, 8, 16]
        outer = next(op for op in func["body"] if op["op"] == "hl.tile.begin")
        outer["sizes"] = [1, 4]
    golden.write_text(json.dumps(document, indent=2))
    return document


def golden_workspace(tmp_path: Path, *, fixed: bool) -> Path:
    source = EXAMPLE.read_text()
    if fixed:
        source = source.replace("@helion.kernel", f"{FIXED}\n@helion.kernel", 1)
    (tmp_path / "matmul.py").write_text(source)
    created = export(tmp_path, "--update")
    assert created.returncode == 0, created.stdout + created.stderr
    return tmp_path


def test_exports_record_the_device_and_triton(tmp_path: Path) -> None:
    config = json.loads((golden_workspace(tmp_path, fixed=False) / GOLDEN).read_text())["module"][
        "funcs"
    ][0]["config"]
    assert config["device"] == "cpu"
    assert isinstance(config["triton"], bool)
    assert list(config) == ["source", "device", "triton", "values"]


def test_a_gpu_golden_with_a_default_config_is_reported_as_made_elsewhere(tmp_path: Path) -> None:
    root = golden_workspace(tmp_path, fixed=False)
    made_on_a_gpu(root / GOLDEN)
    check = export(root, "--check")
    assert check.returncode == 1
    [line] = [line for line in check.stdout.splitlines() if "matmul.py:" in line]
    assert "error[golden-device] kernel 'matmul': goldens/matmul.matmul.helion.json" in line
    assert "was exported for cuda, this export is for cpu" in line
    assert "Helion's default config" in line and "# h2j: config(...)" in line
    assert "golden-diff" not in check.stdout


def test_with_a_fixed_config_the_device_alone_is_no_difference(tmp_path: Path) -> None:
    root = golden_workspace(tmp_path, fixed=True)
    golden = made_on_a_gpu(root / GOLDEN)
    check = export(root, "--check")
    assert check.returncode == 0, check.stdout + check.stderr

    # A real difference still shows, as a structural diff.
    func = golden["module"]["funcs"][0]
    func["body"][0]["dtype"] = "f16"
    (root / GOLDEN).write_text(json.dumps(golden, indent=2))
    changed = export(root, "--check")
    assert changed.returncode == 1
    assert "error[golden-diff]" in changed.stdout and '"f16" → "f32"' in changed.stdout
    assert "golden-device" not in changed.stdout
