"""What a document says about the argument shapes its body is valid for."""

from __future__ import annotations

import copy
from typing import Any

import helion
import helion.language as hl
import pytest
import torch

from helion2json import ValidationError, export_kernel, validate_spec
from helion2json.tests.interpret_documents import CONTRACT
from helion2json.tests.kernels import family


@helion.kernel(static_shapes=False)
def scale_by_root_of_width(x: torch.Tensor) -> torch.Tensor:
    """Dynamic rows; the width is specialised, and ``1 / sqrt(n)`` folded into a number."""
    m, n = x.size()
    n = hl.specialize(n)
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] * (1.0 / (n**0.5))
    return out


def _func(kernel: Any, args: tuple[Any, ...]) -> dict[str, Any]:
    return export_kernel(kernel, args, locations=False)["module"]["funcs"][0]


def test_a_static_shapes_kernel_is_valid_for_its_example_shapes_only() -> None:
    torch.manual_seed(0)
    selected = family("matmul")
    func = _func(selected.kernel, selected.make_args())
    assert [arg["example"] for arg in func["args"]] == [{"shape": [4, 8]}, {"shape": [8, 4]}]
    assert all("specialized" not in arg for arg in func["args"])
    specialization = func["specialization"]
    assert specialization == {"static_shapes": True, "scalars": [], "guards": [], "values": []}
    # The default config's blocks of 16, clamped to the example's extents.
    grid, inner = (op for op in func["body"] if op["op"] == "hl.tile.begin")
    assert grid["sizes"] == [4, 4] and grid["config_sizes"] == [16, 16]
    assert inner["sizes"] == [8] and inner["config_sizes"] == [16]
    assert func["config"]["values"]["block_sizes"] == [16, 16, 16]


def test_a_dynamic_kernel_states_what_it_specialised() -> None:
    func = _func(scale_by_root_of_width, (torch.randn(5, 16),))
    # The body is valid for any number of rows: no example, the width is specialised.
    assert func["args"][0] == {
        "id": "x",
        "type": {"tensor": {"shape": ["?", "?"], "elem": "f32"}},
        "specialized": [{"axis": 1, "value": 16, "by": "hl.specialize"}],
    }
    specialization = func["specialization"]
    assert specialization["static_shapes"] is False
    assert "dim(x,1) == 16" in specialization["guards"]
    assert "dim(x,0) != 1" in specialization["guards"]
    assert specialization["values"] == [{"value": 0.25, "source": "1.0 / n ** 0.5"}]
    # The rows stay symbolic: their loop's block is the config's, unclamped.
    grid = next(op for op in func["body"] if op["op"] == "hl.tile.begin")
    assert grid["end"] == ["dim(x,0)", 16] and "config_sizes" not in grid
    mul = next(op for op in func["body"] if op["op"] == "torch.mul")
    assert mul["args"][1] == 0.25


def test_a_dynamic_kernel_without_specialisation_has_guards_only() -> None:
    torch.manual_seed(0)
    selected = family("add_dynamic")
    func = _func(selected.kernel, selected.make_args())
    assert all(set(arg) == {"id", "type"} for arg in func["args"])
    specialization = func["specialization"]
    assert specialization["values"] == [] and specialization["scalars"] == []
    assert {"dim(x,0) != 1", "dim(x,1) != 1"} <= set(specialization["guards"])


def test_a_number_the_host_code_computed_from_a_size_is_recorded() -> None:
    torch.manual_seed(0)
    selected = family("attention")
    values = _func(selected.kernel, selected.make_args())["specialization"]["values"]
    assert {"value": 0.25, "source": "1.0 / math.sqrt(head_dim)"} in values


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"scalars": [{"arg": "z", "value": 1}]}, "'z' is used before", id="scalar"),
        pytest.param({"guards": ["dim(z,0) != 1"]}, "'z' is used before", id="guard-name"),
        pytest.param({"static_shapes": "maybe"}, "Input should be", id="static"),
    ],
)
def test_malformed_specialisation_is_rejected(change: dict[str, Any], message: str) -> None:
    doc = copy.deepcopy(CONTRACT)
    doc["module"]["funcs"][0]["specialization"].update(change)
    with pytest.raises(ValidationError, match=message):
        validate_spec(doc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"example": {"shape": [4]}}, "another rank", id="example-rank"),
        pytest.param(
            {"specialized": [{"axis": 2, "value": 4, "by": "guard"}]},
            "'x' has no axis 2",
            id="axis",
        ),
        pytest.param(
            {"specialized": [{"axis": 0, "value": 4, "by": "luck"}]}, "Input should be", id="by"
        ),
    ],
)
def test_malformed_argument_facts_are_rejected(change: dict[str, Any], message: str) -> None:
    doc = copy.deepcopy(CONTRACT)
    doc["module"]["funcs"][0]["args"][0].update(change)
    with pytest.raises(ValidationError, match=message):
        validate_spec(doc)
