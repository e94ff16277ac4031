"""Typed results, accumulation precision and the parallel-write rule.

Every value-defining op records its type; the schema checks types against their
ops, the interpreter checks every computed value against its type, 16-bit
reductions accumulate in f32, and programs of a launch store disjoint elements.
"""

from __future__ import annotations

import copy
from typing import Any

import helion
import helion.language as hl
import pytest
import torch

from helion2json import ValidationError, export_kernel, validate_spec
from helion2json.interpret import InterpretError, run_document
from helion2json.tests.interpret_documents import CONTRACT, END, document, tensor, tiles, window
from helion2json.tests.kernels import reductions

Op = dict[str, Any]


def _body(doc: dict[str, Any]) -> list[Op]:
    return doc["module"]["funcs"][0]["body"]


def _index_of(doc: dict[str, Any], op_name: str) -> int:
    return next(i for i, op in enumerate(_body(doc)) if op["op"] == op_name)


# ------------------------------------------------------------------ schema


def test_the_contract_is_typed_and_valid() -> None:
    validate_spec(CONTRACT)
    addmm = _body(CONTRACT)[_index_of(CONTRACT, "torch.addmm")]
    assert addmm["type"] == {"tensor": {"shape": ["size(tile_m)", "size(tile_n)"], "elem": "f32"}}


def test_an_op_without_its_type_is_rejected_in_a_typed_function() -> None:
    doc = copy.deepcopy(CONTRACT)
    position = _index_of(doc, "torch.addmm")
    del _body(doc)[position]["type"]
    with pytest.raises(
        ValidationError,
        match=r"torch.addmm: module.funcs\[0\].body\[4\]: defines values without a type",
    ):
        validate_spec(doc)


def test_a_function_without_any_type_stays_valid() -> None:
    doc = copy.deepcopy(CONTRACT)
    for op in _body(doc):
        op.pop("type", None)
        op.pop("types", None)
    validate_spec(doc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"type": {"tensor": {"shape": [1]}}}, "Field required", id="no-elem"),
        pytest.param({"type": {"scalar": "f32"}}, "Input should be", id="scalar-elem"),
        pytest.param(
            {"type": {"tensor": {"shape": [], "elem": "f37"}}},
            "tensor.elem: Input should be",
            id="elem",
        ),
        pytest.param({"type": "f32"}, "type", id="not-an-object"),
        pytest.param(
            {"type": {"tensor": {"shape": ["size(nowhere)"], "elem": "f32"}}},
            "'nowhere' is used before it is defined",
            id="undefined-name",
        ),
        pytest.param(
            {"types": [{"scalar": "i64"}]}, "a single result records 'type'", id="types-for-one"
        ),
    ],
)
def test_malformed_types_are_rejected(change: dict[str, Any], message: str) -> None:
    doc = copy.deepcopy(CONTRACT)
    op = _body(doc)[_index_of(doc, "torch.addmm")]
    del op["type"]
    op.update(change)
    with pytest.raises(ValidationError, match=message):
        validate_spec(doc)


@pytest.mark.parametrize(
    ("op_name", "field", "value", "message"),
    [
        pytest.param(
            "hl.alloc",
            "type",
            {"tensor": {"shape": ["dim(x,0)", "dim(y,1)"], "elem": "f16"}},
            "element type f16 is not the op's f32",
            id="alloc-elem",
        ),
        pytest.param(
            "hl.zeros",
            "type",
            {"tensor": {"shape": ["size(tile_m)"], "elem": "f32"}},
            "is not the op's",
            id="zeros-shape",
        ),
        pytest.param(
            "hl.tile.begin",
            "types",
            [{"scalar": "i64"}, {"tensor": {"shape": [], "elem": "i64"}}],
            "defines an index",
            id="tile-is-a-scalar",
        ),
        pytest.param(
            "hl.tile.begin",
            "types",
            [{"scalar": "i64"}],
            "one type per result",
            id="tile-count",
        ),
    ],
)
def test_types_must_agree_with_their_ops(
    op_name: str, field: str, value: Any, message: str
) -> None:
    doc = copy.deepcopy(CONTRACT)
    _body(doc)[_index_of(doc, op_name)][field] = value
    with pytest.raises(ValidationError, match=message):
        validate_spec(doc)


def test_a_loaded_slice_has_the_windows_type() -> None:
    body = [
        {
            "op": "hl.alloc",
            "shape": ["dim(x,0)"],
            "dtype": "f32",
            "result": "out",
            "type": {"tensor": {"shape": ["dim(x,0)"], "elem": "f32"}},
        },
        {**tiles(["t"], [4], ["dim(x,0)"]), "types": [{"scalar": "i64"}]},
        {
            "op": "hl.load",
            "slice": window("x", "t")["slice"],
            "result": "v",
            "type": {"tensor": {"shape": ["size(t)"], "elem": "f16"}},
        },
        {"op": "hl.store_slice", "dst": "out", "offsets": ["t"], "src": "v"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    with pytest.raises(ValidationError, match="element type f16 is not the op's f32"):
        validate_spec(document([tensor("x", 1)], body))


# ------------------------------------------------------------------ interpreter


def test_a_value_that_does_not_have_its_type_names_the_op() -> None:
    doc = copy.deepcopy(CONTRACT)
    position = _index_of(doc, "torch.addmm")
    op = _body(doc)[position]
    op["type"] = {"tensor": {"shape": ["size(tile_m)", "size(tile_k)"], "elem": "f32"}}
    with pytest.raises(InterpretError) as raised:
        run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))
    error = raised.value
    assert error.op == "torch.addmm" and error.op_index == position
    assert "'acc' is a tensor of shape [4, 4], but its type says" in error.message


def test_element_types_are_checked_exactly() -> None:
    doc = copy.deepcopy(CONTRACT)
    position = _index_of(doc, "hl.zeros")
    _body(doc)[position]["type"]["tensor"]["elem"] = "f64"
    _body(doc)[position]["dtype"] = "f64"
    with pytest.raises(InterpretError) as raised:
        run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))
    # hl.zeros makes an f64 value, as typed; addmm's f32 result is not.
    assert raised.value.op == "torch.addmm"


# ------------------------------------------------------------------ accumulation precision


def test_f16_sums_accumulate_in_f32_and_round_once() -> None:
    # 2048 + 1 + 1 + ...: each f16 step rounds 2049 back to 2048; f32 keeps every 1.
    x = torch.ones(2, 1025, dtype=torch.float16)
    x[:, 0] = 2048
    doc = export_kernel(reductions.row_sum, (x,), locations=False)
    total = next(op for op in _body(doc) if op["op"] == "torch.sum")
    assert total["type"]["tensor"]["elem"] == "f16"
    (out,) = run_document(doc, (x,))
    assert out.dtype == torch.float16
    assert out.tolist() == [3072.0, 3072.0]
    step_by_step = torch.tensor(2048.0, dtype=torch.float16)
    for _ in range(1024):
        step_by_step = step_by_step + torch.tensor(1.0, dtype=torch.float16)
    assert step_by_step.item() == 2048.0


def test_f16_scans_run_in_f32() -> None:
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f16", "result": "out"},
        tiles(["t"], ["dim(x,0)"], ["dim(x,0)"]),
        {"op": "hl.cumsum", "src": window("x", "t"), "dim": 0, "result": "s"},
        {"op": "hl.store_slice", "dst": "out", "offsets": ["t"], "src": "s"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    x = torch.ones(1025, dtype=torch.float16)
    x[0] = 2048
    (out,) = run_document(document([tensor("x", 1, "f16")], body), (x,))
    assert out[-1].item() == 3072.0


# ------------------------------------------------------------------ the parallel-write rule


@helion.kernel(static_shapes=True)
def column_sums_racing(x: torch.Tensor) -> torch.Tensor:
    """Wrong on purpose: every row tile's program stores the same columns of ``out``."""
    m, n = x.size()
    out = torch.empty([n], dtype=x.dtype, device=x.device)
    for tile_m, tile_n in hl.tile([m, n], block_size=[2, 4]):
        out[tile_n] = x[tile_m, tile_n].sum(0)
    return out


def test_two_programs_storing_one_element_is_an_error() -> None:
    x = torch.randn(4, 4)
    doc = export_kernel(column_sums_racing, (x,), locations=True)
    with pytest.raises(InterpretError) as raised:
        run_document(doc, (x,))
    error = raised.value
    assert error.op == "hl.store_slice" and error.loc is not None
    assert "programs 0 and 1 of a grid loop both store element [0] of 'out'" in error.message


def test_programs_separated_by_a_barrier_may_store_the_same_elements() -> None:
    store = {"op": "hl.store_slice", "dst": "out", "offsets": [0], "src": 1.0, "sizes": [1]}
    loop = tiles(["t"], [1], ["dim(x,0)"])
    body = [
        {"op": "hl.alloc", "shape": [1], "dtype": "f32", "result": "out"},
        loop,
        store,
        END,
    ]
    racing = document([tensor("x", 1)], [*body, {"op": "hl.return", "values": ["out"]}])
    with pytest.raises(InterpretError, match="both store element"):
        run_document(racing, (torch.zeros(2),))
    one_program_each = [
        {"op": "hl.alloc", "shape": [1], "dtype": "f32", "result": "out"},
        tiles(["t"], [4], [1]),
        store,
        END,
        {"op": "hl.barrier"},
        tiles(["u"], [4], [1]),
        store,
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    (out,) = run_document(document([tensor("x", 1)], one_program_each), (torch.zeros(2),))
    assert out.tolist() == [1.0]


def test_atomic_updates_of_one_element_are_allowed() -> None:
    body = [
        {"op": "hl.alloc", "shape": [1], "dtype": "f32", "result": "out", "fill": 0},
        tiles(["t"], [1], ["dim(x,0)"]),
        {"op": "hl.atomic_add", "dst": "out", "index": [{"at": 0}], "src": 1.0},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    (out,) = run_document(document([tensor("x", 1)], body), (torch.zeros(3),))
    assert out.tolist() == [3.0]
