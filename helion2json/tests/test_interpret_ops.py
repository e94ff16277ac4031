"""The reference interpreter's branches, math, reductions and torch ops, on hand-written documents."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from helion2json import ValidationError
from helion2json.interpret import InterpretError, run_document
from helion2json.tests.interpret_documents import (
    CONTRACT,
    END,
    document,
    elementwise,
    tensor,
    tiles,
    torch_op,
    window,
)

# ------------------------------------------------------------------ other ops


@pytest.mark.parametrize("defined_before", [True, False], ids=["carried", "both-branches"])
def test_if_else_regions_and_branch_scopes(defined_before: bool) -> None:
    # Tiles whose id is even are copied, odd ones negated. 'w' is either defined before the
    # if (and reassigned in it) or defined by both branches: either way it outlives the if.
    before = [{"op": "hl.assign", "src": "v", "result": "w"}] if defined_before else []
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "out"},
        tiles(["tile_i"], [2], ["dim(x,0)"]),
        {"op": "hl.tile.id", "tile": "tile_i", "result": "ident"},
        {"op": "hl.load", "result": "v", "slice": window("x", "tile_i")["slice"]},
        *before,
        {"op": "hl.full", "shape": [], "value": "ident", "dtype": "i64", "result": "id0"},
        torch_op("remainder", "Scalar", ["id0"], "parity", other=2),
        torch_op("eq", "Scalar", ["parity"], "even", other=0),
        {"op": "hl.if.begin", "cond": "even"},
        {"op": "hl.assign", "src": "v", "result": "w"},
        {"op": "hl.if.else"},
        torch_op("neg", "default", ["v"], "w"),
        torch_op("neg", "default", ["v"], "only_else"),
        {"op": "hl.if.end"},
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": "w"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    x = torch.randn(7)
    (out,) = run_document(document([tensor("x", 1)], body), (x,))
    sign = torch.tensor([1.0, 1, -1, -1, 1, 1, -1])
    torch.testing.assert_close(out, x * sign)


def test_a_name_one_branch_defines_ends_with_the_if() -> None:
    body = [
        tiles(["tile_i"], [2], ["dim(x,0)"]),
        {"op": "hl.if.begin", "cond": True},
        torch_op("neg", "default", [window("x", "tile_i")], "w"),
        {"op": "hl.if.else"},
        {"op": "hl.if.end"},
        {"op": "hl.store_slice", "dst": "x", "offsets": ["tile_i"], "src": "w"},
        END,
        {"op": "hl.return", "values": []},
    ]
    with pytest.raises(ValidationError, match="'w' is used before it is defined"):
        run_document(document([tensor("x", 1)], body), (torch.randn(4),))


def test_dot_split_join_and_scans() -> None:
    body = [
        {"op": "hl.alloc", "shape": ["dim(a,0)", "dim(b,1)"], "dtype": "f32", "result": "mm"},
        {"op": "hl.alloc", "shape": ["dim(a,0)", "dim(a,1)"], "dtype": "f32", "result": "swap"},
        {"op": "hl.alloc", "shape": ["dim(a,0)", "dim(a,1)"], "dtype": "f32", "result": "cs"},
        {"op": "hl.alloc", "shape": ["dim(a,0)", "dim(a,1)"], "dtype": "f32", "result": "cp"},
        tiles(["tile_m"], [2], ["dim(a,0)"]),
        {"op": "hl.zeros", "shape": ["size(tile_m)", "dim(b,1)"], "dtype": "f32", "result": "acc"},
        {
            "op": "hl.load",
            "result": "av",
            "slice": {"base": "a", "offsets": ["tile_m", 0], "sizes": ["size(tile_m)", "dim(a,1)"]},
        },
        {
            "op": "hl.dot",
            "args": [
                "av",
                {"slice": {"base": "b", "offsets": [0, 0], "sizes": ["dim(b,0)", "dim(b,1)"]}},
                "acc",
            ],
            "result": "acc",
        },
        {"op": "hl.store_slice", "dst": "mm", "offsets": ["tile_m", 0], "src": "acc"},
        # Pairs of columns (a0, a1) -> (a1, a0).
        torch_op("view", "default", ["av"], "pairs", size=["size(tile_m)", 2, 2]),
        {"op": "hl.split", "src": "pairs", "result": ["lo", "hi"]},
        {"op": "hl.join", "args": ["hi", "lo"], "result": "joined"},
        torch_op("view", "default", ["joined"], "swapped", size=["size(tile_m)", 4]),
        {"op": "hl.store_slice", "dst": "swap", "offsets": ["tile_m", 0], "src": "swapped"},
        {"op": "hl.cumsum", "src": "av", "dim": 1, "reverse": True, "result": "csum"},
        {"op": "hl.store_slice", "dst": "cs", "offsets": ["tile_m", 0], "src": "csum"},
        {"op": "hl.cumprod", "src": "av", "dim": 1, "result": "cprod"},
        {"op": "hl.store_slice", "dst": "cp", "offsets": ["tile_m", 0], "src": "cprod"},
        END,
        {"op": "hl.return", "values": ["mm", "swap", "cs", "cp"]},
    ]
    a, b = torch.randn(5, 4), torch.randn(4, 3)
    mm, swap, cs, cp = run_document(document([tensor("a", 2), tensor("b", 2)], body), (a, b))
    torch.testing.assert_close(mm, a @ b)
    torch.testing.assert_close(swap, a[:, [1, 0, 3, 2]])
    torch.testing.assert_close(cs, a.flip(1).cumsum(1).flip(1))
    torch.testing.assert_close(cp, a.cumprod(1))


AFFINE = {
    # (a1, b1) then (a2, b2) composes x -> a2 * (a1 * x + b1) + b2: associative, not commutative.
    "params": ["a1", "b1", "a2", "b2"],
    "body": [
        torch_op("mul", "Tensor", ["a1", "a2"], "ra"),
        torch_op("mul", "Tensor", ["a2", "b1"], "t"),
        torch_op("add", "Tensor", ["t", "b2"], "rb", alpha=1.0),
    ],
    "results": ["ra", "rb"],
}


def affine_fold(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold the last axis left to right, one element at a time."""
    ra, rb = a[..., 0], b[..., 0]
    for j in range(1, a.shape[-1]):
        ra, rb = ra * a[..., j], a[..., j] * rb + b[..., j]
    return ra, rb


def combine_document(op: dict[str, Any], out_rank: int) -> dict[str, Any]:
    full = {"slice": {"base": "a", "offsets": [0, 0], "sizes": ["dim(a,0)", "dim(a,1)"]}}
    full_b = {"slice": {"base": "b", "offsets": [0, 0], "sizes": ["dim(b,0)", "dim(b,1)"]}}
    body = [
        tiles(["tile_once"], [1], [1]),
        {**op, "args": [full, full_b], "combine": AFFINE, "result": ["ra", "rb"]},
        {"op": "hl.store_slice", "dst": "oa", "offsets": [0] * out_rank, "src": "ra"},
        {"op": "hl.store_slice", "dst": "ob", "offsets": [0] * out_rank, "src": "rb"},
        END,
        {"op": "hl.return", "values": ["oa", "ob"]},
    ]
    args = [tensor("a", 2), tensor("b", 2), tensor("oa", out_rank), tensor("ob", out_rank)]
    return document(args, body)


@pytest.mark.parametrize("keep_dims", [False, True])
def test_reduce_folds_in_order(keep_dims: bool) -> None:
    a, b = torch.rand(3, 7) + 0.5, torch.randn(3, 7)
    op = {"op": "hl.reduce", "dim": 1, "keep_dims": keep_dims}
    out_rank = 2 if keep_dims else 1
    outs = (torch.zeros(3, 1), torch.zeros(3, 1)) if keep_dims else (torch.zeros(3), torch.zeros(3))
    ra, rb = run_document(combine_document(op, out_rank), (a, b, *outs))
    expected_a, expected_b = affine_fold(a, b)
    torch.testing.assert_close(ra.reshape(3), expected_a)
    torch.testing.assert_close(rb.reshape(3), expected_b)


def test_reduce_over_every_axis() -> None:
    a, b = torch.rand(3, 5) + 0.5, torch.randn(3, 5)
    op = {"op": "hl.reduce", "dim": None, "keep_dims": True}
    ra, rb = run_document(combine_document(op, 2), (a, b, torch.zeros(1, 1), torch.zeros(1, 1)))
    expected_a, expected_b = affine_fold(a.reshape(1, -1), b.reshape(1, -1))
    torch.testing.assert_close(ra.reshape(1), expected_a)
    torch.testing.assert_close(rb.reshape(1), expected_b)


@pytest.mark.parametrize("reverse", [False, True])
def test_associative_scan_keeps_the_operand_order(reverse: bool) -> None:
    a, b = torch.rand(2, 9) + 0.5, torch.randn(2, 9)
    op = {"op": "hl.associative_scan", "dim": 1, "reverse": reverse}
    ra, rb = run_document(combine_document(op, 2), (a, b, torch.zeros(2, 9), torch.zeros(2, 9)))
    for j in range(9):
        # Forward: the fold of 0..j. Reverse: the fold of n-1 down to j, the running value left.
        columns = list(range(j + 1)) if not reverse else list(range(8, j - 1, -1))
        expected_a, expected_b = affine_fold(a[:, columns], b[:, columns])
        torch.testing.assert_close(ra[:, j], expected_a)
        torch.testing.assert_close(rb[:, j], expected_b)


def test_errors_in_a_combine_function_name_the_outer_op() -> None:
    doc = combine_document({"op": "hl.reduce", "dim": 1}, 1)
    op = doc["module"]["funcs"][0]["body"][1]
    op["combine"] = copy.deepcopy(AFFINE)
    op["combine"]["body"][0]["op"] = "torch.frobnicate"
    with pytest.raises(InterpretError, match=r"body\[1\] hl.reduce: in the combine function"):
        run_document(doc, (torch.ones(2, 3), torch.ones(2, 3), torch.zeros(2), torch.zeros(2)))


def test_dot_low_precision_inputs_and_out_dtype() -> None:
    body = [
        {"op": "hl.alloc", "shape": ["dim(a,0)", "dim(b,1)"], "dtype": "f16", "result": "out"},
        tiles(["tile_m"], [4], ["dim(a,0)"]),
        {
            "op": "hl.dot",
            "args": [
                {
                    "slice": {
                        "base": "a",
                        "offsets": ["tile_m", 0],
                        "sizes": ["size(tile_m)", "dim(a,1)"],
                    }
                },
                {"slice": {"base": "b", "offsets": [0, 0], "sizes": ["dim(b,0)", "dim(b,1)"]}},
            ],
            "out_dtype": "f16",
            "result": "p",
        },
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_m", 0], "src": "p"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    a = torch.randn(8, 16, dtype=torch.float16)
    b = torch.randn(16, 8, dtype=torch.float16)
    doc = document([tensor("a", 2, "f16"), tensor("b", 2, "f16")], body)
    (out,) = run_document(doc, (a, b))
    assert out.dtype == torch.float16
    torch.testing.assert_close(out, (a.float() @ b.float()).half())


def test_dot_result_dtype() -> None:
    body = [
        {"op": "hl.alloc", "shape": ["dim(a,0)", "dim(b,1)"], "dtype": "bf16", "result": "out"},
        tiles(["tile_m"], [4], ["dim(a,0)"]),
        {"op": "hl.zeros", "shape": ["size(tile_m)", "dim(b,1)"], "dtype": "f32", "result": "acc"},
        {
            "op": "hl.dot",
            "args": [
                {
                    "slice": {
                        "base": "a",
                        "offsets": ["tile_m", 0],
                        "sizes": ["size(tile_m)", "dim(a,1)"],
                    }
                },
                {"slice": {"base": "b", "offsets": [0, 0], "sizes": ["dim(b,0)", "dim(b,1)"]}},
                "acc",
            ],
            "dtype": "bf16",
            "result": "p",
        },
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_m", 0], "src": "p"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    a = torch.randn(8, 16, dtype=torch.bfloat16)
    b = torch.randn(16, 8, dtype=torch.bfloat16)
    doc = document([tensor("a", 2, "bf16"), tensor("b", 2, "bf16")], body)
    (out,) = run_document(doc, (a, b))
    torch.testing.assert_close(out, (a.float() @ b.float()).bfloat16())


def test_mask_to_is_the_identity_on_clamped_tiles() -> None:
    doc = elementwise({"op": "hl.mask_to", "src": "xv", "value": "-inf", "result": "v"})
    x = torch.randn(5, 7)
    (out,) = run_document(doc, (x,))
    torch.testing.assert_close(out, x)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        # A dtype attr travels as an element-type string.
        (
            torch_op(
                "to",
                "dtype",
                ["xv"],
                "h",
                dtype="f16",
                non_blocking=False,
                copy=False,
                memory_format=None,
            ),
            lambda x: x.half(),
        ),
        (
            torch_op("prims.convert_element_type", "default", ["xv"], "h", dtype="bf16"),
            lambda x: x.bfloat16(),
        ),
        # Non-finite numbers travel as strings.
        (
            torch_op("clamp", "default", ["xv"], "h", min="-inf", max=0.5),
            lambda x: x.clamp(max=0.5),
        ),
        # A string-valued schema argument stays a string.
        (
            torch_op("div", "Tensor_mode", ["xv", 0.3], "h", rounding_mode="floor"),
            lambda x: torch.div(x, 0.3, rounding_mode="floor"),
        ),
        # Tensor lists travel in attrs; int lists may hold expressions.
        (
            torch_op("cat", "default", [], "h", tensors=["xv", "xv"], dim=1),
            lambda x: torch.cat([x, x], 1),
        ),
        (
            torch_op(
                "cat", "default", [], "h", tensors=[window("x", "tile_0", "tile_1"), "xv"], dim=1
            ),
            lambda x: torch.cat([x, x], 1),
        ),
    ],
    ids=["to-dtype", "prims", "inf-attr", "str-attr", "tensor-list", "tensor-list-slice"],
)
def test_torch_attrs_map_back_to_python_values(op: dict[str, Any], expected: Any) -> None:
    body = [
        {
            "op": "hl.alloc",
            "shape": ["dim(x,0)", "dim(x,1)"],
            "dtype": "f32",
            "result": "out",
            "fill": 0,
        },
        {
            "op": "hl.alloc",
            "shape": ["dim(x,0)", "dim(x,1)"],
            "dtype": "f32",
            "result": "wide",
            "fill": 0,
        },
        tiles(["tile_0", "tile_1"], [2, 8], ["dim(x,0)", "dim(x,1)"]),
        {"op": "hl.load", "result": "xv", "slice": window("x", "tile_0", "tile_1")["slice"]},
        op,
        torch_op(
            "to",
            "dtype",
            ["h"],
            "f",
            dtype="f32",
            non_blocking=False,
            copy=False,
            memory_format=None,
        ),
        # cat doubles the width: keep the first half so every variant stores one window.
        torch_op("slice", "Tensor", ["f"], "v", dim=1, start=0, end="size(tile_1)", step=1),
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_0", "tile_1"], "src": "v"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    x = torch.randn(3, 5)
    (out,) = run_document(document([tensor("x", 2)], body), (x,))
    torch.testing.assert_close(out, expected(x).float()[:, : x.shape[1]])


def test_device_attrs_follow_the_inputs() -> None:
    op = torch_op(
        "full",
        "default",
        [],
        "v",
        size=["size(tile_0)", "size(tile_1)"],
        fill_value=2.5,
        dtype="f32",
        layout="strided",
        device=None,
        pin_memory=None,
    )
    (out,) = run_document(elementwise(op), (torch.randn(5, 4),))
    assert (out == 2.5).all()


def test_multiple_functions_need_a_choice() -> None:
    doc = copy.deepcopy(CONTRACT)
    other = copy.deepcopy(doc["module"]["funcs"][0])
    other["name"] = "matmul_copy"
    doc["module"]["funcs"].append(other)
    x, y = torch.randn(4, 8), torch.randn(8, 4)
    with pytest.raises(InterpretError, match="func="):
        run_document(doc, (x, y))
    (out,) = run_document(doc, (x, y), func="matmul_copy")
    torch.testing.assert_close(out, x @ y)
