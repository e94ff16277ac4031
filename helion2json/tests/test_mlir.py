"""The MLIR lowering: every family kernel and example runs under mlir-runner and matches
the interpreter, or is refused with an op listed in ``NOT_LOWERED`` (docs/mlir.md)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from helion2json import export_kernel
from helion2json.core.example_args import evaluate_call_arguments, evaluation_namespace
from helion2json.mlir import (
    LoweringError,
    ToolError,
    check_with_mlir,
    find_tools,
    lower_document,
)
from helion2json.mlir.tools import lower_to_llvm
from helion2json.tests.kernels import FAMILIES, Family
from helion2json.tests.test_examples import EXAMPLES, annotated_kernels, load
from helion2json.tests.test_kinds import seed_document

try:
    TOOLS = find_tools()
    MISSING = ""
except ToolError as exc:
    MISSING = str(exc)

needs_tools = pytest.mark.skipif(bool(MISSING), reason=MISSING)

# Kernels the lowering refuses: the op its LoweringError names (None: a parameter's type)
# and why. docs/mlir.md keeps the same table.
NOT_LOWERED: dict[str, tuple[str | None, str]] = {
    "dequantize_fp8": (None, "fp8 element types"),
    "quantize_fp8": ("hl.alloc", "fp8 element types"),
}


# Ops of the registry without a lowering, and why (docs/mlir.md keeps the same list).
UNLOWERED_OPS: dict[str, str] = {}
# The region ops the lowering's loops and branches read themselves.
REGION_OPS = {"hl.tile.begin", "hl.tile.end", "hl.if.begin", "hl.if.else", "hl.if.end"}


def test_every_op_of_the_registry_lowers_or_is_listed() -> None:
    from helion2json.core.ops import OPS
    from helion2json.mlir.lower import HANDLERS

    assert set(OPS) - set(HANDLERS) - REGION_OPS == set(UNLOWERED_OPS)


def _check(
    document: dict[str, Any], args: tuple[Any, ...], listed: tuple[str | None, str] | None
) -> None:
    if listed is None:
        result = check_with_mlir(document, args, tools=TOOLS)
        assert result.ok, "; ".join(result.mismatches)
        return
    with pytest.raises(LoweringError) as raised:
        check_with_mlir(document, args, tools=TOOLS)
    assert raised.value.op == listed[0], str(raised.value)


def _normalized(family: Family) -> tuple[Any, ...]:
    torch.manual_seed(0)
    return tuple(family.kernel.normalize_args(*family.make_args()))


@needs_tools
@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_family_runs_under_mlir(family: Family) -> None:
    args = _normalized(family)
    document = export_kernel(family.kernel, args)
    _check(document, args, NOT_LOWERED.get(family.name))


def _example_cases() -> list[Any]:
    return [
        pytest.param(path, name, text, id=f"{path.stem}:{name}:{i}")
        for path in sorted(EXAMPLES.glob("*.py"))
        for name, texts in annotated_kernels(path)
        for i, text in enumerate(texts)
    ]


@needs_tools
@pytest.mark.parametrize(("path", "name", "text"), _example_cases())
def test_example_runs_under_mlir(path: Any, name: str, text: str) -> None:
    module = load(path)
    torch.manual_seed(0)
    example = evaluate_call_arguments(text, evaluation_namespace(vars(module)))
    kernel = getattr(module, name)
    args = tuple(kernel.normalize_args(*example.args, **example.kwargs))
    document = export_kernel(kernel, args)
    _check(document, args, None)


# ------------------------------------------------------------------ small documents


def document_of(body: list[dict[str, Any]], elem: str = "f32") -> dict[str, Any]:
    """A function ``k(x)`` of a 2-d tensor of ``elem`` returning one such tensor."""
    tensor = {"tensor": {"shape": ["?", "?"], "elem": elem}}
    return {
        "version": 1,
        "module": {
            "name": "m",
            "funcs": [
                {
                    "name": "k",
                    "args": [{"id": "x", "type": tensor}],
                    "rets": [{"type": tensor}],
                    "body": body,
                }
            ],
        },
    }


def _scaled_rows(op: dict[str, Any], elem: str = "f32") -> dict[str, Any]:
    load = {"slice": {"base": "x", "offsets": ["tile_m", 0], "sizes": ["size(tile_m)", "dim(x,1)"]}}
    store = {
        "op": "hl.store_slice",
        "dst": "out",
        "offsets": ["tile_m", 0],
        "src": "y",
        "loc": {"file": "k.py", "line": 9, "col": 4},
    }
    return _rows_of([{**op, "args": [load, *op.get("args", [])]}, store], elem=elem, fill=None)


def _rows_of(
    body: list[dict[str, Any]], *, elem: str = "f32", fill: int | None = 0
) -> dict[str, Any]:
    """``k(x)``: ``out`` like ``x`` (filled with ``fill``), then ``body`` in a loop over row
    tiles of 4; returns ``out``."""
    alloc = {"op": "hl.alloc", "shape": ["dim(x,0)", "dim(x,1)"], "dtype": elem, "result": "out"}
    return document_of(
        [
            alloc if fill is None else {**alloc, "fill": fill},
            {
                "op": "hl.tile.begin",
                "iters": ["m"],
                "sizes": [4],
                "result": ["tile_m"],
                "begin": [0],
                "end": ["dim(x,0)"],
                "parallel": True,
            },
            *body,
            {"op": "hl.tile.end"},
            {"op": "hl.return", "values": ["out"]},
        ],
        elem,
    )


POINTWISE: dict[str, dict[str, Any]] = {
    "mul": {"op": "torch.mul", "overload": "Tensor", "result": "y", "args": [3.0], "attrs": {}},
    "exp": {"op": "torch.exp", "overload": "default", "result": "y", "attrs": {}},
    "gelu_tanh": {
        "op": "torch.gelu",
        "overload": "default",
        "result": "y",
        "attrs": {"approximate": "tanh"},
    },
    "clamp_min": {
        "op": "torch.clamp_min",
        "overload": "default",
        "result": "y",
        "attrs": {"min": -0.5},
    },
    "remainder": {
        "op": "torch.remainder",
        "overload": "Scalar",
        "result": "y",
        "attrs": {"other": 0.75},
    },
}


@needs_tools
@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_pointwise_op_on_edge_tiles(name: str) -> None:
    # 10 rows in tiles of 4: the last tile has 2 rows.
    torch.manual_seed(0)
    result = check_with_mlir(_scaled_rows(POINTWISE[name]), (torch.randn(10, 3),), tools=TOOLS)
    assert result.ok, result.mismatches


UNSIGNED: dict[str, dict[str, Any]] = {
    "remainder": {
        "op": "torch.remainder",
        "overload": "Scalar",
        "result": "y",
        "attrs": {"other": 7},
    },
    "floor_divide": {
        "op": "torch.div",
        "overload": "Tensor_mode",
        "result": "y",
        "args": [9],
        "attrs": {"rounding_mode": "floor"},
    },
    "maximum": {
        "op": "torch.maximum",
        "overload": "default",
        "result": "y",
        "args": [{"slice": {"base": "x", "offsets": [0, 0], "sizes": [1, "dim(x,1)"]}}],
        "attrs": {},
    },
}


@needs_tools
@pytest.mark.parametrize("name", sorted(UNSIGNED))
def test_unsigned_op_takes_its_unsigned_form(name: str) -> None:
    # Values up to 255: read as signed 8-bit integers they would be negative.
    x = torch.arange(200, 230, dtype=torch.uint8).reshape(10, 3)
    result = check_with_mlir(_scaled_rows(UNSIGNED[name], "ui8"), (x,), tools=TOOLS)
    assert result.ok, result.mismatches


@needs_tools
def test_random_seeds_are_the_interpreters() -> None:
    result = check_with_mlir(seed_document([2, 0, 2]), (), tools=TOOLS)
    assert result.ok, result.mismatches
    drawn = torch.randint(2**63 - 1, [3], generator=torch.Generator().manual_seed(0))
    assert result.outputs[0].tolist() == [drawn[2], drawn[0], drawn[2]]


def test_tile_loop_clamps_its_edge_tile() -> None:
    text = lower_document(_scaled_rows(POINTWISE["mul"]))
    assert "scf.for" in text and "arith.minsi" in text
    assert "memref<?x?xf32>" in text


def test_an_unknown_op_is_named_with_its_line() -> None:
    document = _scaled_rows(POINTWISE["exp"])
    store = document["module"]["funcs"][0]["body"][3]
    store["op"] = "hl.frobnicate"
    with pytest.raises(LoweringError) as raised:
        lower_document(document)
    assert raised.value.op == "hl.frobnicate"
    assert str(raised.value).startswith("k.py:9: hl.frobnicate:")


def test_an_unlowered_torch_operator_is_named() -> None:
    op = copy.deepcopy(POINTWISE["exp"])
    op["op"] = "torch.frobnicate"
    with pytest.raises(LoweringError, match=r"torch\.frobnicate"):
        lower_document(_scaled_rows(op))


def test_missing_tools_are_a_clear_error(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from helion2json.mlir import tools

    monkeypatch.setattr(tools, "LLVM_PREFIX", tmp_path)
    with pytest.raises(ToolError) as raised:
        find_tools(search_path=str(tmp_path))
    assert raised.value.tool == "mlir-opt"
    assert "mlir-22-tools" in str(raised.value)


@needs_tools
def test_a_failing_pass_is_reported_with_the_tool_and_pass() -> None:
    # Valid MLIR that one-shot bufferization cannot take: linalg.pack on tensors.
    text = """module {
  func.func @main() -> tensor<16xf32> {
    %a = tensor.empty() : tensor<4x4xf32>
    %d = tensor.empty() : tensor<2x2x2x2xf32>
    %b = linalg.pack %a inner_dims_pos = [0, 1] inner_tiles = [2, 2] into %d
        : tensor<4x4xf32> -> tensor<2x2x2x2xf32>
    %c = tensor.collapse_shape %b [[0, 1, 2, 3]] : tensor<2x2x2x2xf32> into tensor<16xf32>
    return %c : tensor<16xf32>
  }
}
"""
    with pytest.raises(ToolError) as raised:
        lower_to_llvm(TOOLS, text)
    assert raised.value.tool == "mlir-opt"
    assert raised.value.stage is not None and raised.value.stage.startswith("one-shot-bufferize")
    assert "op was not bufferized" in str(raised.value)


@needs_tools
def test_invalid_mlir_is_reported_as_such() -> None:
    with pytest.raises(ToolError) as raised:
        lower_to_llvm(TOOLS, "module { func.func @main() { %0 = arith.addi } }")
    assert raised.value.stage == "parse and verify"


def _inner_columns() -> dict[str, Any]:
    """Columns ``1 .. n-2`` of ``x`` doubled into ``out`` through ``range`` index entries."""
    inner = [{"tile": "tile_m"}, {"range": [1, "dim(x,1) - 1"]}]
    return _rows_of(
        [
            {"op": "hl.load", "result": "inner", "base": "x", "index": inner},
            {
                "op": "torch.mul",
                "overload": "Tensor",
                "result": "y",
                "args": ["inner", 2.0],
                "attrs": {},
            },
            {"op": "hl.store", "dst": "out", "index": inner, "src": "y"},
        ]
    )


@needs_tools
def test_range_index_entries_read_and_write_their_bounds() -> None:
    torch.manual_seed(0)
    result = check_with_mlir(_inner_columns(), (torch.randn(10, 5),), tools=TOOLS)
    assert result.ok, result.mismatches
    assert result.outputs[0][:, 0].eq(0).all() and result.outputs[0][:, -1].eq(0).all()


@pytest.mark.parametrize(
    "entry", [{"step": [0, 2]}, {"tile": "tile_m", "step": 2}], ids=["kind", "key"]
)
def test_an_unknown_index_entry_is_refused(entry: dict[str, Any]) -> None:
    document = _inner_columns()
    document["module"]["funcs"][0]["body"][2]["index"] = [entry, {"full": True}]
    with pytest.raises(LoweringError, match="unknown index entry") as raised:
        lower_document(document)
    assert raised.value.op == "hl.load"


def test_an_unknown_field_of_a_load_is_refused() -> None:
    document = _inner_columns()
    document["module"]["funcs"][0]["body"][2]["stride"] = [1, 2]
    with pytest.raises(LoweringError, match="stride"):
        lower_document(document)


@needs_tools
def test_a_window_of_dynamic_extent_one_broadcasts() -> None:
    # The last column, its extent an expression that is 1 when the kernel runs.
    last = {"slice": {"base": "x", "offsets": ["tile_m", "dim(x,1) - 1"],
                      "sizes": ["size(tile_m)", "dim(x,1) - (dim(x,1) - 1)"]}}  # fmt: skip
    add = {
        "op": "torch.add",
        "overload": "Tensor",
        "result": "y",
        "args": [last],
        "attrs": {"alpha": 1.0},
    }
    torch.manual_seed(0)
    result = check_with_mlir(_scaled_rows(add), (torch.randn(10, 3),), tools=TOOLS)
    assert result.ok, result.mismatches


@needs_tools
def test_stack_of_a_list_operand_interleaves_its_parts() -> None:
    def half(name: str, offset: Any) -> dict[str, Any]:
        window = {"base": "x", "offsets": ["tile_m", offset], "sizes": ["size(tile_m)", 2]}
        return {"op": "hl.load", "result": name, "slice": window}

    document = _rows_of(
        [
            half("low", 0),
            half("high", 2),
            {
                "op": "torch.stack",
                "overload": "default",
                "result": "both",
                "args": [["high", "low"]],
                "attrs": {"dim": 2},
            },
            {
                "op": "torch.view",
                "overload": "default",
                "result": "y",
                "args": ["both"],
                "attrs": {"size": ["size(tile_m)", 4]},
            },
            {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_m", 0], "src": "y"},
        ]
    )
    torch.manual_seed(0)
    result = check_with_mlir(document, (torch.randn(10, 4),), tools=TOOLS)
    assert result.ok, result.mismatches


@needs_tools
def test_list_items_are_scalar_parameters_and_none_returns_nothing() -> None:
    window = {"base": "x", "offsets": ["tile_m", 0], "sizes": ["size(tile_m)", "dim(x,1)"]}
    document = _rows_of(
        [
            {"op": "hl.load", "result": "rows", "slice": window},
            {
                "op": "torch.mul",
                "overload": "Tensor",
                "result": "scaled",
                "args": ["rows", "pair_0"],
                "attrs": {},
            },
            {
                "op": "torch.add",
                "overload": "Tensor",
                "result": "y",
                "args": ["scaled", {"expr": "pair_1 * 2"}],
                "attrs": {"alpha": 1},
            },
            {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_m", 0], "src": "y"},
        ]
    )
    function = document["module"]["funcs"][0]
    pair = {"list": [{"scalar": "f64"}, {"scalar": "i64"}], "names": ["pair_0", "pair_1"]}
    function["args"].append({"id": "pair", "type": pair})
    function["rets"].append({"type": {"none": None}})
    function["body"][-1]["values"].append(None)
    assert "%arg_pair_0: f64, %arg_pair_1: i64" in lower_document(document)
    torch.manual_seed(0)
    result = check_with_mlir(document, (torch.randn(10, 3), [1.5, 3]), tools=TOOLS)
    assert result.ok, result.mismatches
    assert len(result.outputs) == 1


@needs_tools
def test_a_masked_window_may_reach_past_its_base() -> None:
    # Four columns of a three-column tensor: the fourth is masked off, never read.
    window = {"base": "x", "offsets": ["tile_m", 0], "sizes": ["size(tile_m)", 4]}
    iota = {"length": 4, "start": 0, "step": 1, "dtype": "i64", "device": None}
    document = _rows_of(
        [
            {
                "op": "torch.prims.iota",
                "overload": "default",
                "result": "cols",
                "args": [],
                "attrs": {**iota, "requires_grad": False},
            },
            {
                "op": "torch.lt",
                "overload": "Scalar",
                "result": "inside",
                "args": ["cols"],
                "attrs": {"other": "dim(x,1)"},
            },
            {"op": "hl.load", "result": "y", "slice": window, "mask": "inside"},
            {
                "op": "torch.sum",
                "overload": "dim_IntList",
                "result": "sums",
                "args": ["y"],
                "attrs": {"dim": [1], "keepdim": True, "dtype": None},
            },
            {
                "op": "hl.store_slice",
                "dst": "out",
                "offsets": ["tile_m", 0],
                "src": "sums",
                "sizes": ["size(tile_m)", "dim(x,1)"],
            },
        ]
    )
    x = torch.arange(30, dtype=torch.float32).reshape(10, 3)
    result = check_with_mlir(document, (x,), tools=TOOLS)
    assert result.ok, result.mismatches
    assert torch.equal(result.outputs[0], x.sum(1, keepdim=True).expand(10, 3))
