"""Kernels of less common kinds: what their documents hold, and what the exporter refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helion
import helion.language as hl
import pytest
import torch

from helion2json import UnsupportedError, export_kernel
from helion2json.interpret import run_document
from helion2json.tests.kernels import family


def exported(name: str) -> dict[str, Any]:
    torch.manual_seed(0)
    selected = family(name)
    return export_kernel(selected.kernel, selected.make_args(), locations=False)


def body_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = document["module"]["funcs"][0]["body"]
    return body


# ------------------------------------------------------------------ constexpr scalars


def test_a_constexpr_scalar_is_a_scalar_argument_the_body_specialises_on() -> None:
    document = exported("offset_by_constexpr")
    func = document["module"]["funcs"][0]
    assert func["args"][1] == {"id": "shift", "type": {"scalar": "i64"}}
    sub = next(op for op in body_of(document) if op["op"] == "torch.sub")
    assert sub["args"][1] == 3
    x = torch.randn(10)
    for shift in (hl.constexpr(3), 3):
        (out,) = run_document(document, (x, shift))
        torch.testing.assert_close(out, x - 3)


# ------------------------------------------------------------------ stacked tensors


@helion.kernel(static_shapes=True)
def sum_of_stacked(x: torch.Tensor, addresses: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        stacked = hl.stacktensor_like(x, addresses[:])
        out[tile] = stacked[tile].sum(0)
    return out


def test_a_stacked_tensor_load_is_a_named_unsupported_construct() -> None:
    buffers = [torch.randn(8) for _ in range(3)]
    addresses = torch.tensor([b.data_ptr() for b in buffers], dtype=torch.uint64)
    with pytest.raises(UnsupportedError) as info:
        export_kernel(sum_of_stacked, (buffers[0], addresses))
    assert info.value.op == "hl.stacktensor_like"
    assert info.value.location is not None
    line = Path(__file__).read_text().splitlines()[info.value.location.line - 1]
    assert "stacked[tile]" in line
