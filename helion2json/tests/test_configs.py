"""Which config an export uses: directive, the kernel's own, a file, the default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import helion
import helion.language as hl
import pytest
import torch

from helion2json import ArgumentError, SourceLocation, export_kernel
from helion2json.tests.kernels.linalg import matmul

ARGS = (torch.randn(64, 64), torch.randn(64, 64))


@helion.kernel(static_shapes=True, config=helion.Config(block_sizes=[32, 32, 16]))
def matmul_fixed(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.empty([m, n], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(k):
            acc = torch.addmm(acc, x[tile_m, tile_k], y[tile_k, tile_n])
        out[tile_m, tile_n] = acc
    return out


def loop_sizes(document: dict) -> list[list[int]]:
    body = document["module"]["funcs"][0]["body"]
    return [op["sizes"] for op in body if op["op"] == "hl.tile.begin"]


def config_of(document: dict) -> dict:
    return document["module"]["funcs"][0]["config"]


def saved_config(tmp_path: Path, block_sizes: list[int]) -> Path:
    path = tmp_path / "matmul.config.json"
    path.write_text(json.dumps({"block_sizes": block_sizes, "num_warps": 8}))
    return path


def test_default_config() -> None:
    document = export_kernel(matmul, ARGS)
    assert config_of(document)["source"] == "default"
    assert loop_sizes(document) == [[16, 16], [16]]


def test_directive_config_sets_the_block_sizes() -> None:
    where = SourceLocation("kernels.py", 12)
    document = export_kernel(
        matmul, ARGS, config={"block_sizes": [64, 32, 32]}, config_location=where
    )
    assert config_of(document)["source"] == "directive (line 12)"
    assert config_of(document)["values"]["block_sizes"] == [64, 32, 32]
    assert loop_sizes(document) == [[64, 32], [32]]


def test_kernel_fixed_config() -> None:
    document = export_kernel(matmul_fixed, ARGS)
    assert config_of(document)["source"] == "kernel"
    assert loop_sizes(document) == [[32, 32], [16]]


def test_config_file(tmp_path: Path) -> None:
    path = saved_config(tmp_path, [16, 64, 32])
    document = export_kernel(matmul, ARGS, config_file=path)
    assert config_of(document) == {
        "source": f"file ({path})",
        "device": "cpu",
        "triton": config_of(document)["triton"],
        "values": config_of(document)["values"],
    }
    assert config_of(document)["values"]["num_warps"] == 8
    assert loop_sizes(document) == [[16, 64], [32]]


def test_precedence_directive_then_kernel_then_file(tmp_path: Path) -> None:
    path = saved_config(tmp_path, [16, 64, 32])
    directive = {"block_sizes": [64, 64, 64]}
    assert loop_sizes(export_kernel(matmul_fixed, ARGS, config=directive, config_file=path)) == [
        [64, 64],
        [64],
    ]
    assert config_of(export_kernel(matmul_fixed, ARGS, config_file=path))["source"] == "kernel"
    assert config_of(export_kernel(matmul, ARGS, config_file=path))["source"].startswith("file")


def test_a_config_that_does_not_fit_names_the_directive_line() -> None:
    where = SourceLocation("kernels.py", 7)
    with pytest.raises(ArgumentError, match="expected 3 block sizes") as info:
        export_kernel(matmul, ARGS, config={"block_sizes": [32, 32]}, config_location=where)
    assert info.value.location == where
    assert info.value.kernel == "matmul"


def test_unreadable_config_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ArgumentError, match="is not JSON"):
        export_kernel(matmul, ARGS, config_file=broken)
    with pytest.raises(ArgumentError, match="cannot read config file"):
        export_kernel(matmul, ARGS, config_file=tmp_path / "missing.json")


def test_cli_config_flag(tmp_path: Path) -> None:
    path = saved_config(tmp_path, [16, 32, 64])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "helion2json",
            "--entry",
            "helion2json.tests.kernels.linalg:matmul",
            "--arg",
            "torch.randn(64, 64)",
            "--arg",
            "torch.randn(64, 64)",
            "--config",
            str(path),
            "--indent",
            "0",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert loop_sizes(json.loads(result.stdout)) == [[16, 32], [64]]


# Warp specialisation exists on Blackwell GPUs only: elsewhere Helion has no slot for it.
@helion.kernel(config=helion.Config(block_sizes=[16], range_warp_specializes=[True]))
def doubled_for_blackwell(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] * 2
    return out


def test_loop_codegen_values_this_machine_lacks_are_left_out_and_recorded() -> None:
    from helion2json.core.verify import verify_kernel

    x = torch.randn(40)
    document = export_kernel(doubled_for_blackwell, (x,))
    config = config_of(document)
    assert config["source"] == "kernel"
    assert config["not_applied"] == {"range_warp_specializes": [True]}
    assert loop_sizes(document) == [[16]]
    assert verify_kernel(doubled_for_blackwell, (x,)).ok


def test_leaving_out_loop_codegen_values_still_checks_the_rest() -> None:
    with pytest.raises(ArgumentError, match="does not fit the kernel"):
        export_kernel(matmul, ARGS, config={"block_sizes": [32], "range_warp_specializes": [True]})
