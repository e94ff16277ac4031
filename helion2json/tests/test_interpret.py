"""The reference interpreter on hand-written documents: loops, scopes, failures."""

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
from helion2json.tests.interpret_documents import (
    CONTRACT,
    END,
    document,
    elementwise,
    scalar,
    tensor,
    tiles,
    torch_op,
    window,
)

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
