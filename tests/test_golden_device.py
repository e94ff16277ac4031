"""Comparing goldens made on another machine: the rules on documents.

Helion's default config differs between CPU and CUDA example tensors, so a
golden made on a GPU host with a default config cannot match a CPU export; with
a fixed config the device alone is no difference. ``tests/test_export_check.py``
runs them through ``h2j-lsp --export --check``.
"""

from __future__ import annotations

import copy
from typing import Any

from helion2json.core.environment import (
    Environment,
    EnvironmentChange,
    comparable,
    default_config_made_elsewhere,
)

# ------------------------------------------------------------------ the rules, on documents


def document(source: str, device: str | None, triton: bool | None, **values: Any) -> Any:
    config: dict[str, Any] = {"source": source, "values": {"block_sizes": [16], **values}}
    if device is not None:
        config["device"] = device
    if triton is not None:
        config["triton"] = triton
    return {"version": 1, "module": {"name": "m", "funcs": [{"name": "k", "config": config}]}}


def test_a_default_config_made_in_another_environment() -> None:
    cpu, cuda = document("default", "cpu", True), document("default", "cuda", True)
    assert default_config_made_elsewhere(cuda, cpu) == [
        EnvironmentChange("k", Environment("cuda", True), Environment("cpu", True))
    ]
    assert default_config_made_elsewhere(cpu, copy.deepcopy(cpu)) == []
    without_triton = document("default", "cpu", False)
    [change] = default_config_made_elsewhere(cpu, without_triton)
    assert str(change.fresh) == "cpu without triton"
    # Goldens made before documents recorded their environment are compared as before.
    assert default_config_made_elsewhere(document("default", None, None), cpu) == []
    # A fixed config on both sides: the environment explains nothing.
    assert (
        default_config_made_elsewhere(
            document("kernel", "cuda", True), document("kernel", "cpu", True)
        )
        == []
    )


def test_comparable_drops_what_the_environment_alone_decides() -> None:
    golden = document(
        "directive (line 3)", "cuda", True, range_num_stages=[0], static_ranges=[False]
    )
    fresh = document("directive (line 3)", "cpu", False)
    old, new = comparable(golden, fresh)
    assert old == new == document("directive (line 3)", None, None)
    assert golden["module"]["funcs"][0]["config"]["device"] == "cuda"  # copies, not the originals
    # With triton on both sides its keys are compared like any other.
    both = document("kernel", "cpu", True, range_num_stages=[1])
    old, new = comparable(both, document("kernel", "cuda", True, range_num_stages=[0]))
    assert old != new
