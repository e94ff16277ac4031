"""The reference interpreter, op by op, on hand-written documents."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from helion2json import ValidationError
from helion2json.interpret import InterpretError, run_document

CONTRACT = json.loads((Path(__file__).parent / "data" / "contract_matmul.json").read_text())


def tensor(name: str, rank: int, elem: str = "f32") -> dict[str, Any]:
    return {"id": name, "type": {"tensor": {"shape": ["?"] * rank, "elem": elem}}}


def scalar(name: str, kind: str) -> dict[str, Any]:
    return {"id": name, "type": {"scalar": kind}}


def document(
    args: list[dict[str, Any]], body: list[dict[str, Any]], name: str = "kernel"
) -> dict[str, Any]:
    returned = body[-1]["values"] if body and body[-1]["op"] == "hl.return" else []
    # Each returned tensor's type is its allocation's or its argument's.
    types = {op["result"]: (len(op["shape"]), op["dtype"]) for op in body if op["op"] == "hl.alloc"}
    for arg in args:
        if "tensor" in arg["type"]:
            types[arg["id"]] = (len(arg["type"]["tensor"]["shape"]), arg["type"]["tensor"]["elem"])
    rets = [
        {"type": {"tensor": {"shape": ["?"] * types[name][0], "elem": types[name][1]}}}
        for name in returned
    ]
    func = {"name": name, "args": args, "rets": rets, "body": body}
    return {"version": 1, "module": {"name": "m", "funcs": [func]}}


def tiles(
    names: list[str],
    sizes: list[Any],
    ends: list[Any],
    *,
    parallel: bool = True,
    begins: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "op": "hl.tile.begin",
        "iters": [f"i{n}" for n in names],
        "sizes": sizes,
        "result": names,
        "begin": begins or [0] * len(names),
        "end": ends,
        "parallel": parallel,
    }


END = {"op": "hl.tile.end"}


def window(base: str, *tile_names: str) -> dict[str, Any]:
    return {
        "slice": {
            "base": base,
            "offsets": list(tile_names),
            "sizes": [f"size({t})" for t in tile_names],
        }
    }


def torch_op(
    name: str, overload: str, args: list[Any], result: Any, **attrs: Any
) -> dict[str, Any]:
    op: dict[str, Any] = {"op": f"torch.{name}", "overload": overload, "args": args}
    op["attrs"] = attrs
    if result is not None:
        op["result"] = result
    return op


def elementwise(
    op: dict[str, Any], rank: int = 2, sizes: tuple[int, ...] = (4, 3)
) -> dict[str, Any]:
    """out[tile] = OP(x[tile]) over a rank-``rank`` input, OP's result named ``v``."""
    names = [f"tile_{i}" for i in range(rank)]
    body = [
        {
            "op": "hl.alloc",
            "shape": [f"dim(x,{i})" for i in range(rank)],
            "dtype": "f32",
            "result": "out",
        },
        tiles(names, list(sizes[:rank]), [f"dim(x,{i})" for i in range(rank)]),
        {"op": "hl.load", "result": "xv", "slice": window("x", *names)["slice"]},
        op,
        {"op": "hl.store_slice", "dst": "out", "offsets": names, "src": "v"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    return document([tensor("x", rank)], body)


# ------------------------------------------------------------------ loops and slices


@pytest.mark.parametrize("shape", [(4, 8, 4), (13, 17, 7), (1, 1, 1), (16, 3, 9)])
def test_contract_matmul_runs_on_any_shape(shape: tuple[int, int, int]) -> None:
    m, k, n = shape
    x, y = torch.randn(m, k), torch.randn(k, n)
    (out,) = run_document(CONTRACT, (x, y))
    torch.testing.assert_close(out, x @ y)


def test_edge_tiles_are_clamped_and_begin_is_honoured() -> None:
    # Copies x[2:9] with blocks of 3: tiles at 2, 5, 8 of extents 3, 3, 1.
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "out", "fill": 0},
        tiles(["tile_i"], [3], [9], begins=[2]),
        {"op": "hl.tile.end_of", "tile": "tile_i", "result": "e"},
        {"op": "hl.tile.begin_of", "tile": "tile_i", "result": "b"},
        torch_op("add", "Tensor", [window("x", "tile_i"), 0.0], "v", alpha=1.0),
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": "v"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    x = torch.arange(12, dtype=torch.float32)
    (out,) = run_document(document([tensor("x", 1)], body), (x,))
    expected = torch.zeros(12)
    expected[2:9] = x[2:9]
    torch.testing.assert_close(out, expected)


def test_tile_properties() -> None:
    # Per tile of x (extent 10, block 4): index, begin, end, id and count.
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "idx"},
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "i64", "result": "props"},
        tiles(["tile_i"], [4], ["dim(x,0)"]),
        {"op": "hl.tile.index", "tile": "tile_i", "result": "index"},
        {"op": "hl.tile.begin_of", "tile": "tile_i", "result": "b"},
        {"op": "hl.tile.end_of", "tile": "tile_i", "result": "e"},
        {"op": "hl.tile.id", "tile": "tile_i", "result": "ident"},
        {"op": "hl.tile.count", "tile": "tile_i", "result": "count"},
        {"op": "hl.store_slice", "dst": "idx", "offsets": ["tile_i"], "src": "index"},
        # props[i] = 1000 * id + 100 * count + end - begin
        {
            "op": "hl.full",
            "shape": ["size(tile_i)"],
            "value": "ident",
            "dtype": "i64",
            "result": "p_id",
        },
        {
            "op": "hl.full",
            "shape": ["size(tile_i)"],
            "value": "count",
            "dtype": "i64",
            "result": "p_count",
        },
        torch_op("mul", "Tensor", ["p_id", 1000], "p1"),
        torch_op("add", "Tensor", ["p1", "p_count"], "p2", alpha=100),
        torch_op("add", "Tensor", ["p2", "e"], "p3", alpha=1),
        torch_op("sub", "Tensor", ["p3", "b"], "p4", alpha=1),
        {"op": "hl.store_slice", "dst": "props", "offsets": ["tile_i"], "src": "p4"},
        END,
        {"op": "hl.return", "values": ["idx", "props"]},
    ]
    idx, props = run_document(document([tensor("x", 1)], body), (torch.zeros(10),))
    torch.testing.assert_close(idx, torch.arange(10, dtype=torch.float32))
    sizes = torch.tensor([4, 4, 4, 4, 4, 4, 4, 4, 2, 2])
    ids = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    assert props.tolist() == (1000 * ids + 300 + sizes).tolist()


def test_expression_operands() -> None:
    op = torch_op("mul", "Tensor", ["xv", {"expr": "size(tile_0) * 10 + tile_1"}], "v")
    (out,) = run_document(elementwise(op, sizes=(4, 2)), (torch.ones(5, 3),))
    expected = torch.tensor(
        [[40.0, 40, 42], [40, 40, 42], [40, 40, 42], [40, 40, 42], [10, 10, 12]]
    )
    torch.testing.assert_close(out, expected)


def test_multi_dimensional_grid_and_nested_sequential_loops() -> None:
    x = torch.randn(5, 7)
    (out,) = run_document(
        document(
            [tensor("x", 2)],
            [
                {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "out"},
                tiles(["tile_m"], [2], ["dim(x,0)"]),
                {"op": "hl.zeros", "shape": ["size(tile_m)"], "dtype": "f32", "result": "acc"},
                tiles(["tile_a", "tile_b"], [2, 3], ["dim(x,1)", "dim(x,1)"], parallel=False),
                # acc += x[tile_m, tile_a].sum(1) for every (a, b): each a counted 3 times.
                torch_op(
                    "sum",
                    "dim_IntList",
                    [window("x", "tile_m", "tile_a")],
                    "part",
                    dim=[1],
                    keepdim=False,
                    dtype=None,
                ),
                torch_op("add", "Tensor", ["acc", "part"], "acc", alpha=1.0),
                END,
                {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_m"], "src": "acc"},
                END,
                {"op": "hl.return", "values": ["out"]},
            ],
        ),
        (x,),
    )
    torch.testing.assert_close(out, 3 * x.sum(1))


def online_softmax() -> dict[str, Any]:
    """Softmax of each row with a sequential loop carrying the running max and sum."""
    row = ["tile_m", "tile_n"]
    return document(
        [tensor("x", 2)],
        [
            {"op": "hl.alloc", "shape": ["dim(x,0)", "dim(x,1)"], "dtype": "f32", "result": "out"},
            tiles(["tile_m"], [2], ["dim(x,0)"]),
            {
                "op": "hl.full",
                "shape": ["size(tile_m)"],
                "value": "-inf",
                "dtype": "f32",
                "result": "mx",
            },
            {"op": "hl.zeros", "shape": ["size(tile_m)"], "dtype": "f32", "result": "den"},
            tiles(["tile_n"], [3], ["dim(x,1)"], parallel=False),
            {"op": "hl.load", "result": "v", "slice": window("x", *row)["slice"]},
            torch_op("amax", "default", ["v"], "block_max", dim=[1], keepdim=False),
            torch_op("maximum", "default", ["mx", "block_max"], "new_mx"),
            torch_op("sub", "Tensor", ["mx", "new_mx"], "shift", alpha=1.0),
            torch_op("exp", "default", ["shift"], "scale"),
            torch_op("mul", "Tensor", ["den", "scale"], "den"),
            {
                "op": "hl.subscript",
                "src": "new_mx",
                "index": [{"full": True}, {"newaxis": True}],
                "result": "col",
            },
            torch_op("sub", "Tensor", ["v", "col"], "centred", alpha=1.0),
            torch_op("exp", "default", ["centred"], "e"),
            torch_op("sum", "dim_IntList", ["e"], "row_sum", dim=[1], keepdim=False, dtype=None),
            torch_op("add", "Tensor", ["den", "row_sum"], "den", alpha=1.0),
            {"op": "hl.assign", "src": "new_mx", "result": "mx"},
            END,
            tiles(["tile_n2"], [3], ["dim(x,1)"], parallel=False),
            torch_op("unsqueeze", "default", ["mx"], "mx_col", dim=1),
            torch_op("unsqueeze", "default", ["den"], "den_col", dim=1),
            torch_op(
                "sub", "Tensor", [window("x", "tile_m", "tile_n2"), "mx_col"], "c2", alpha=1.0
            ),
            torch_op("exp", "default", ["c2"], "e2"),
            torch_op("div", "Tensor", ["e2", "den_col"], "p"),
            {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_m", "tile_n2"], "src": "p"},
            END,
            END,
            {"op": "hl.return", "values": ["out"]},
        ],
    )


def test_loop_carried_values_online_softmax() -> None:
    x = torch.randn(5, 11) * 4
    (out,) = run_document(online_softmax(), (x,))
    torch.testing.assert_close(out, torch.softmax(x, dim=1))


def test_names_defined_inside_a_region_do_not_leak() -> None:
    doc = online_softmax()
    body = doc["module"]["funcs"][0]["body"]
    # 'v' is defined in the first sequential loop; reading it after that loop is invalid.
    second_loop = next(i for i, op in enumerate(body) if op.get("result") == ["tile_n2"])
    body[second_loop + 3]["args"][0] = "v"
    with pytest.raises(ValidationError):
        run_document(doc, (torch.randn(2, 3),))


def test_barrier_separates_phases() -> None:
    # Phase 1 writes tmp = 2 * x; phase 2 reads tmp reversed (another tile's data).
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "tmp"},
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "out"},
        tiles(["tile_i"], [2], ["dim(x,0)"]),
        torch_op("mul", "Tensor", [window("x", "tile_i"), 2.0], "d"),
        {"op": "hl.store_slice", "dst": "tmp", "offsets": ["tile_i"], "src": "d"},
        END,
        {"op": "hl.barrier"},
        tiles(["tile_j"], [2], ["dim(x,0)"]),
        {"op": "hl.tile.index", "tile": "tile_j", "result": "j"},
        torch_op("rsub", "Scalar", ["j"], "rj", other={"expr": "dim(x,0) - 1"}, alpha=1),
        {"op": "hl.load", "result": "r", "base": "tmp", "index": [{"tensor": "rj"}]},
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_j"], "src": "r"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    x = torch.randn(7)
    (out,) = run_document(document([tensor("x", 1)], body), (x,))
    torch.testing.assert_close(out, 2 * x.flip(0))


def test_register_block_size_and_symbolic_sizes() -> None:
    body = [
        {"op": "hl.register_block_size", "result": "block", "size": 4, "min": 1, "max": "dim(x,0)"},
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "out"},
        tiles(["tile_i"], ["block"], ["dim(x,0)"]),
        {"op": "hl.zeros", "shape": ["size(tile_i)"], "dtype": "f32", "result": "z"},
        torch_op("add", "Tensor", ["z", window("x", "tile_i")], "v", alpha=1.0),
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": "v"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    x = torch.randn(10)
    (out,) = run_document(document([tensor("x", 1)], body), (x,))
    torch.testing.assert_close(out, x)


def test_scalar_arguments_in_expressions_and_math() -> None:
    body = [
        {"op": "hl.alloc", "shape": ["n"], "dtype": "f32", "result": "out"},
        tiles(["tile_i"], [4], ["n"]),
        torch_op("mul", "Tensor", [window("x", "tile_i"), "eps"], "v"),
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": "v"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    doc = document([tensor("x", 1), scalar("eps", "f64"), scalar("n", "i64")], body)
    x = torch.randn(9)
    (out,) = run_document(doc, (x,), {"eps": 0.5, "n": 6})
    torch.testing.assert_close(out, 0.5 * x[:6])


# ------------------------------------------------------------------ loads and stores


def test_gather_load_with_tensor_index_and_mask() -> None:
    # out[i] = table[idx[i]] where idx[i] >= 0, else 0 (idx -1 is out of range).
    body = [
        {"op": "hl.alloc", "shape": ["dim(idx,0)"], "dtype": "f32", "result": "out"},
        tiles(["tile_i"], [4], ["dim(idx,0)"]),
        {"op": "hl.load", "result": "ids", "slice": window("idx", "tile_i")["slice"]},
        torch_op("ge", "Scalar", ["ids"], "valid", other=0),
        {
            "op": "hl.load",
            "result": "rows",
            "base": "table",
            "index": [{"tensor": "ids"}],
            "mask": "valid",
        },
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": "rows"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    doc = document([tensor("table", 1), tensor("idx", 1, "i64")], body)
    table = torch.randn(5)
    idx = torch.tensor([4, -1, 0, 2, 2, -1, 3])
    (out,) = run_document(doc, (table, idx))
    expected = torch.where(idx >= 0, table[idx.clamp(min=0)], torch.zeros(()))
    torch.testing.assert_close(out, expected)


def test_index_entries_at_full_newaxis_and_cartesian_tensors() -> None:
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,1)", 1, "dim(x,2)"], "dtype": "f32", "result": "a"},
        {"op": "hl.alloc", "shape": [2, 3], "dtype": "f32", "result": "b"},
        tiles(["tile_j"], [2], ["dim(x,1)"]),
        # x[1, tile_j, None, :]
        {
            "op": "hl.load",
            "result": "row",
            "base": "x",
            "index": [{"at": 1}, {"tile": "tile_j"}, {"newaxis": True}, {"full": True}],
        },
        {"op": "hl.store_slice", "dst": "a", "offsets": ["tile_j", 0, 0], "src": "row"},
        END,
        tiles(["tile_once"], [1], [1]),
        {"op": "hl.load", "result": "r", "base": "rows", "index": [{"full": True}]},
        {"op": "hl.load", "result": "c", "base": "cols", "index": [{"full": True}]},
        # Two 1-D index tensors select their cartesian product: x[0][r][:, c] -> [2, 3].
        {
            "op": "hl.load",
            "result": "grid",
            "base": "x",
            "index": [{"at": 0}, {"tensor": "r"}, {"tensor": "c"}],
        },
        {"op": "hl.store_slice", "dst": "b", "offsets": [0, 0], "src": "grid"},
        END,
        {"op": "hl.return", "values": ["a", "b"]},
    ]
    doc = document([tensor("x", 3), tensor("rows", 1, "i64"), tensor("cols", 1, "i64")], body)
    x = torch.randn(2, 5, 4)
    rows, cols = torch.tensor([4, 1]), torch.tensor([0, 3, 2])
    a, b = run_document(doc, (x, rows, cols))
    torch.testing.assert_close(a, x[1, :, None, :])
    torch.testing.assert_close(b, x[0][rows][:, cols])


def test_separated_tensor_entries_keep_their_axes() -> None:
    # x[rows, :, cols]: each 1-D tensor entry is an axis of its own, where it stands.
    body = [
        {"op": "hl.alloc", "shape": [2, "dim(x,1)", 3], "dtype": "f32", "result": "out"},
        {
            "op": "hl.alloc",
            "shape": ["dim(x,0)", "dim(x,1)", "dim(x,2)"],
            "dtype": "f32",
            "result": "back",
            "fill": 0,
        },
        tiles(["tile_once"], [1], [1]),
        {"op": "hl.load", "result": "r", "base": "rows", "index": [{"full": True}]},
        {"op": "hl.load", "result": "c", "base": "cols", "index": [{"full": True}]},
        {
            "op": "hl.load",
            "result": "v",
            "base": "x",
            "index": [{"tensor": "r"}, {"full": True}, {"tensor": "c"}],
        },
        {"op": "hl.store_slice", "dst": "out", "offsets": [0, 0, 0], "src": "v"},
        {
            "op": "hl.store",
            "dst": "back",
            "index": [{"tensor": "r"}, {"full": True}, {"tensor": "c"}],
            "src": "v",
        },
        END,
        {"op": "hl.return", "values": ["out", "back"]},
    ]
    doc = document([tensor("x", 3), tensor("rows", 1, "i64"), tensor("cols", 1, "i64")], body)
    x = torch.randn(4, 5, 6)
    rows, cols = torch.tensor([3, 0]), torch.tensor([5, 1, 2])
    out, back = run_document(doc, (x, rows, cols))
    torch.testing.assert_close(out, x[rows][:, :, cols])
    expected = torch.zeros_like(x)
    expected[rows[:, None, None], torch.arange(5)[None, :, None], cols[None, None, :]] = out
    torch.testing.assert_close(back, expected)


def test_masked_and_scattered_stores() -> None:
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "pos", "fill": 0},
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "perm", "fill": "nan"},
        tiles(["tile_i"], [3], ["dim(x,0)"]),
        {"op": "hl.load", "result": "v", "slice": window("x", "tile_i")["slice"]},
        torch_op("gt", "Scalar", ["v"], "positive", other=0.0),
        {
            "op": "hl.store_slice",
            "dst": "pos",
            "offsets": ["tile_i"],
            "src": "v",
            "mask": "positive",
        },
        {"op": "hl.load", "result": "to", "slice": window("dest", "tile_i")["slice"]},
        {"op": "hl.store", "dst": "perm", "index": [{"tensor": "to"}], "src": "v"},
        END,
        {"op": "hl.return", "values": ["pos", "perm"]},
    ]
    doc = document([tensor("x", 1), tensor("dest", 1, "i64")], body)
    x = torch.randn(8)
    dest = torch.randperm(8)
    pos, perm = run_document(doc, (x, dest))
    torch.testing.assert_close(pos, x.clamp(min=0))
    expected = torch.empty(8)
    expected[dest] = x
    torch.testing.assert_close(perm, expected)


def test_masked_scatter_ignores_out_of_range_masked_positions() -> None:
    body = [
        {"op": "hl.alloc", "shape": [4], "dtype": "f32", "result": "out", "fill": 0},
        tiles(["tile_i"], [8], ["dim(x,0)"]),
        {"op": "hl.load", "result": "to", "slice": window("dest", "tile_i")["slice"]},
        torch_op("lt", "Scalar", ["to"], "inside", other=4),
        {
            "op": "hl.store",
            "dst": "out",
            "index": [{"tensor": "to"}],
            "src": window("x", "tile_i"),
            "mask": "inside",
        },
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    doc = document([tensor("x", 1), tensor("dest", 1, "i64")], body)
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    dest = torch.tensor([3, 9, 0, 100, 1])
    (out,) = run_document(doc, (x, dest))
    assert out.tolist() == [3.0, 5.0, 0.0, 1.0]


def test_loads_are_values_not_views() -> None:
    # v = x[tile]; x[tile] = 0; out[tile] = v: out must hold x's old values.
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "out"},
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "zero", "fill": 0},
        tiles(["tile_i"], [4], ["dim(x,0)"]),
        {"op": "hl.load", "result": "v", "slice": window("x", "tile_i")["slice"]},
        {
            "op": "hl.store_slice",
            "dst": "x",
            "offsets": ["tile_i"],
            "src": window("zero", "tile_i"),
        },
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": "v"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    x = torch.randn(6)
    original = x.clone()
    (out,) = run_document(document([tensor("x", 1)], body), (x,))
    torch.testing.assert_close(out, original)
    assert torch.count_nonzero(x) == 0  # arguments are written in place


def test_unfilled_allocations_are_poisoned() -> None:
    # Only the first tile is stored: the rest of an unfilled output must not look valid.
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "out"},
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "i32", "result": "ints"},
        tiles(["tile_i"], [4], [4]),
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": window("x", "tile_i")},
        END,
        {"op": "hl.return", "values": ["out", "ints"]},
    ]
    out, ints = run_document(document([tensor("x", 1)], body), (torch.ones(6),))
    assert out[:4].tolist() == [1.0] * 4
    assert torch.isnan(out[4:]).all()
    assert (ints == torch.iinfo(torch.int32).min).all()


# ------------------------------------------------------------------ atomics


def atomic_document(op: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body = [
        tiles(["tile_i"], [4], ["dim(src,0)"]),
        {"op": "hl.load", "result": "to", "slice": window("bins", "tile_i")["slice"]},
        {
            "op": op,
            "dst": "hist",
            "index": [{"tensor": "to"}],
            "src": window("src", "tile_i"),
            "result": "old",
            **(extra or {}),
        },
        {"op": "hl.store_slice", "dst": "olds", "offsets": ["tile_i"], "src": "old"},
        END,
        {"op": "hl.return", "values": ["hist", "olds"]},
    ]
    kind = "i32" if op in ("hl.atomic_and", "hl.atomic_or", "hl.atomic_xor") else "f32"
    args = [
        tensor("hist", 1, kind),
        tensor("src", 1, kind),
        tensor("bins", 1, "i64"),
        tensor("olds", 1, kind),
    ]
    return document(args, body)


def test_atomic_add_with_repeated_positions_sees_earlier_updates() -> None:
    bins = torch.tensor([0, 2, 0, 0, 1, 2])
    src = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    hist, olds = run_document(
        atomic_document("hl.atomic_add"), (torch.zeros(3), src, bins, torch.zeros(6))
    )
    assert hist.tolist() == [8.0, 5.0, 8.0]
    # Row-major order within a tile: bin 0 sees 0, 1, 4; the next tile starts afresh.
    assert olds.tolist() == [0.0, 0.0, 1.0, 4.0, 0.0, 2.0]


@pytest.mark.parametrize(
    ("op", "start", "expected", "olds"),
    [
        ("hl.atomic_max", 0.0, [5.0, 5.0, 6.0], [0.0, 0.0, 1.0, 5.0, 0.0, 2.0]),
        ("hl.atomic_min", 3.0, [1.0, 3.0, 2.0], [3.0, 3.0, 1.0, 1.0, 3.0, 2.0]),
        ("hl.atomic_xchg", 0.0, [4.0, 5.0, 6.0], [0.0, 0.0, 1.0, 5.0, 0.0, 2.0]),
    ],
)
def test_atomic_max_min_xchg(
    op: str, start: float, expected: list[float], olds: list[float]
) -> None:
    bins = torch.tensor([0, 2, 0, 0, 1, 2])
    src = torch.tensor([1.0, 2.0, 5.0, 4.0, 5.0, 6.0])
    hist, old = run_document(
        atomic_document(op), (torch.full((3,), start), src, bins, torch.zeros(6))
    )
    assert hist.tolist() == expected
    assert old.tolist() == olds


@pytest.mark.parametrize(
    ("op", "combine"),
    [
        ("hl.atomic_and", lambda a, b: a & b),
        ("hl.atomic_or", lambda a, b: a | b),
        ("hl.atomic_xor", lambda a, b: a ^ b),
    ],
)
def test_atomic_bitwise(op: str, combine: Any) -> None:
    bins = torch.tensor([0, 1, 0, 1, 1])
    src = torch.tensor([0b0110, 0b0011, 0b1100, 0b0101, 0b1111], dtype=torch.int32)
    start = torch.tensor([0b1111, 0b1010], dtype=torch.int32)
    hist, _ = run_document(
        atomic_document(op), (start.clone(), src, bins, torch.zeros(5, dtype=torch.int32))
    )
    expected = start.clone()
    for position, value in zip(bins.tolist(), src.tolist(), strict=True):
        expected[position] = combine(int(expected[position]), value)
    assert hist.tolist() == expected.tolist()


def test_atomic_cas() -> None:
    doc = atomic_document("hl.atomic_cas", {"expected": 0.0})
    bins = torch.tensor([0, 1, 2, 0])
    src = torch.tensor([7.0, 8.0, 9.0, 10.0])
    hist, olds = run_document(doc, (torch.tensor([0.0, 1.0, 0.0]), src, bins, torch.zeros(4)))
    # The first CAS into bin 0 succeeds; the second sees 7 and fails.
    assert hist.tolist() == [7.0, 1.0, 9.0]
    assert olds.tolist() == [0.0, 1.0, 0.0, 7.0]


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


# ------------------------------------------------------------------ failures


def test_unknown_torch_op_names_the_op_and_its_location() -> None:
    doc = copy.deepcopy(CONTRACT)
    body = doc["module"]["funcs"][0]["body"]
    body[4]["op"] = "torch.frobnicate"
    body[4]["loc"] = {"file": "examples/matmul.py", "line": 21, "col": 18}
    with pytest.raises(InterpretError) as info:
        run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))
    error = info.value
    assert (error.op_index, error.op) == (4, "torch.frobnicate")
    assert error.loc is not None and error.loc.line == 21
    assert "body[4] torch.frobnicate (examples/matmul.py:21)" in str(error)
    assert "frobnicate" in error.message


def test_unknown_hl_op_is_rejected_by_validation() -> None:
    doc = copy.deepcopy(CONTRACT)
    doc["module"]["funcs"][0]["body"].insert(1, {"op": "hl.frobnicate"})
    with pytest.raises(ValidationError, match="unknown op"):
        run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda op: op.update(overload="nonsense"), "no overload 'nonsense'"),
        (lambda op: op["attrs"].pop("alpha"), r"attrs \['alpha'\].*missing"),
        (lambda op: op["attrs"].update(gamma=1.0), r"attrs \['gamma'\] are not"),
        (lambda op: op["args"].pop(), "2 args, but the schema"),
    ],
    ids=["overload", "missing-attr", "extra-attr", "arity"],
)
def test_torch_ops_must_match_their_schema(change: Any, message: str) -> None:
    doc = copy.deepcopy(CONTRACT)
    change(doc["module"]["funcs"][0]["body"][4])
    with pytest.raises(InterpretError, match=message):
        run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))


def test_operator_failures_become_interpret_errors() -> None:
    doc = copy.deepcopy(CONTRACT)
    # The y slice now has the wrong extent along k: addmm cannot multiply.
    doc["module"]["funcs"][0]["body"][4]["args"][2]["slice"]["sizes"][0] = 1
    with pytest.raises(InterpretError, match=r"body\[4\] torch.addmm: RuntimeError"):
        run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))


def test_mixed_precision_matrix_products_are_refused() -> None:
    # ATen's addmm multiplies operands of one element type: f32 += f16 @ f16 is not an ATen op.
    doc = copy.deepcopy(CONTRACT)
    for arg in doc["module"]["funcs"][0]["args"]:
        arg["type"]["tensor"]["elem"] = "f16"
    x, y = torch.randn(4, 8).half(), torch.randn(8, 4).half()
    with pytest.raises(InterpretError, match=r"body\[4\] torch.addmm: operands of element types"):
        run_document(doc, (x, y))


def test_operand_dtype_converts_floating_operands() -> None:
    doc = copy.deepcopy(CONTRACT)
    func = doc["module"]["funcs"][0]
    for arg in func["args"]:
        arg["type"]["tensor"]["elem"] = "f16"
    func["body"][4]["operand_dtype"] = "f32"
    x, y = torch.randn(4, 8).half(), torch.randn(8, 4).half()
    (out,) = run_document(doc, (x, y))
    torch.testing.assert_close(out, x.float() @ y.float())


def test_windows_outside_the_tensor_are_errors() -> None:
    doc = copy.deepcopy(CONTRACT)
    doc["module"]["funcs"][0]["body"][4]["args"][1]["slice"]["offsets"][1] = "tile_k + 1"
    with pytest.raises(InterpretError, match="outside axis 1"):
        run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((torch.randn(4, 8),), {}, "missing arguments"),
        ((torch.randn(4, 8), torch.randn(8, 4, dtype=torch.float64)), {}, "declares 2-d f32"),
        ((torch.randn(4, 8), torch.randn(8)), {}, "1-d"),
        ((torch.randn(4, 8), 3), {}, "must be a tensor"),
        ((torch.randn(4, 8),), {"z": 1}, "no argument 'z'"),
    ],
)
def test_arguments_must_fit_the_signature(args: Any, kwargs: Any, message: str) -> None:
    with pytest.raises(InterpretError, match=message):
        run_document(CONTRACT, args, kwargs)


def test_returned_tensors_must_match_rets() -> None:
    doc = copy.deepcopy(CONTRACT)
    doc["module"]["funcs"][0]["rets"][0]["type"]["tensor"]["elem"] = "f16"
    with pytest.raises(InterpretError, match=r"return value 0 is a 2-d f32 tensor; rets\[0\]"):
        run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))


def test_store_slice_of_a_scalar_is_refused() -> None:
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)"], "dtype": "f32", "result": "out"},
        tiles(["tile_i"], [4], ["dim(x,0)"]),
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": 1.0},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    with pytest.raises(InterpretError, match="window"):
        run_document(document([tensor("x", 1)], body), (torch.randn(6),))


def test_the_interpreter_does_not_import_helion() -> None:
    script = (
        "import json, sys, torch\n"
        "from helion2json.interpret import run_document\n"
        f"doc = json.loads({json.dumps(json.dumps(CONTRACT))})\n"
        "run_document(doc, (torch.randn(4, 8), torch.randn(8, 4)))\n"
        "assert 'helion' not in sys.modules, 'helion was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[2])
