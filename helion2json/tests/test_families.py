"""Every kernel family exports, validates, and has the structure its family needs.

Each family of ``helion2json.tests.kernels.FAMILIES`` is exported once per
module (binding is the slow part) and its document is checked for the ops and
fields that carry that family's meaning: loop-carried names, reduction loops,
index entries, element types, attributes.
"""

from __future__ import annotations

import json
from typing import Any

import helion
import helion.language as hl
import pytest
import torch

from helion2json import UnsupportedError, export_kernel, validate_spec
from helion2json.core.capture.helion_ir import TRACED_ARGUMENTS_META
from helion2json.core.export import bind_kernel, export_bound, to_json_text
from helion2json.tests.family_documents import (
    INDEX,
    Documents,
    Op,
    loops,
    one,
    ops,
    region,
    slice_of,
    source_line,
    tensor,
    translate,
    walk,
)
from helion2json.tests.kernels import FAMILIES, elementwise, family, reductions

# ------------------------------------------------------------------ every family


@pytest.mark.parametrize("name", [f.name for f in FAMILIES])
def test_family_exports_a_valid_document(docs: Documents, name: str) -> None:
    func = docs[name]
    validate_spec({"version": 1, "module": {"name": "m", "funcs": [func]}})
    assert func["body"][-1]["op"] == "hl.return"
    assert loops(func)[0]["parallel"] is True


@pytest.mark.parametrize("name", [f.name for f in FAMILIES])
def test_every_value_has_a_type(docs: Documents, name: str) -> None:
    for op in walk(docs[name]["body"]):
        result = op.get("result")
        if result is None:
            assert "type" not in op and "types" not in op, op["op"]
        elif isinstance(result, list):
            assert len(op["types"]) == len(result), op["op"]
        else:
            assert "tensor" in op["type"] or "scalar" in op["type"], op["op"]


# ------------------------------------------------------------------ elementwise


def test_scalar_arguments_are_operands(docs: Documents) -> None:
    func = docs["add_exp_relu_scale"]
    assert func["args"][2] == {"id": "alpha", "type": {"scalar": "f64"}}
    math = [op["op"] for op in func["body"] if op["op"].startswith("torch.")]
    assert math == ["torch.add", "torch.exp", "torch.sub", "torch.relu", "torch.mul"]
    assert one(func, "torch.mul")["args"] == ["relu", "alpha"]
    assert one(func, "torch.sub")["args"][1] == 1.5
    loop = loops(func)[0]
    # One variable over two dimensions: tiles tile_0, tile_1 and distinct iterators.
    assert loop["result"] == ["tile_0", "tile_1"]
    assert loop["iters"] == ["i0", "i1"]


def test_broadcast_epilogue_uses_new_axes(docs: Documents) -> None:
    func = docs["bias_gelu_rows"]
    bias, scale = ops(func, "hl.load")
    assert bias["base"] == "bias"
    assert bias["index"] == [{"newaxis": True}, {"tile": "tile_n"}]
    assert scale["index"] == [{"tile": "tile_m"}, {"newaxis": True}]
    assert one(func, "torch.gelu")["attrs"] == {"approximate": "none"}
    assert loops(func)[0]["sizes"] == [4, 8]


def test_repeated_operands_are_restored(docs: Documents) -> None:
    # Helion's IR keeps `x * x` as mul(x, None); the document has both operands.
    func = docs["square_clamp"]
    window = slice_of("x", ["tile"], ["size(tile)"])
    assert one(func, "torch.mul")["args"] == [window, window]
    assert one(func, "torch.clamp_min")["attrs"] == {"min": "low"}
    assert one(func, "torch.clamp_max")["attrs"] == {"max": "high"}


def test_integer_and_bool_element_types(docs: Documents) -> None:
    func = docs["int_compare"]
    assert [a["type"]["tensor"]["elem"] for a in func["args"]] == ["ui8", "i16", "i8"]
    assert func["rets"][0]["type"]["tensor"]["elem"] == "i1"
    assert one(func, "hl.alloc")["dtype"] == "i1"
    assert one(func, "torch.prims.convert_element_type")["attrs"] == {"dtype": "i32"}
    assert one(func, "torch.add")["attrs"] == {"alpha": 1}
    masked = docs["masked_fill_bool"]
    assert masked["args"][1]["type"]["tensor"]["elem"] == "i1"
    full = one(masked, "torch.full")
    assert full["attrs"]["dtype"] == "f32"
    assert full["attrs"]["layout"] == "strided"
    assert full["attrs"]["device"] is None
    assert full["attrs"]["size"] == ["size(tile_0)", "size(tile_1)"]


def test_fp8_element_types(docs: Documents) -> None:
    func = docs["quantize_fp8"]
    assert [r["type"]["tensor"]["elem"] for r in func["rets"]] == ["f8E4M3FN", "f8E5M2"]
    casts = [op["attrs"]["dtype"] for op in ops(func, "torch.prims.convert_element_type")]
    assert casts == ["f32", "f8E4M3FN", "f8E5M2"]
    dequantize = docs["dequantize_fp8"]
    assert dequantize["args"][0]["type"]["tensor"]["elem"] == "f8E4M3FN"
    assert dequantize["args"][1]["type"] == {"scalar": "f64"}


def test_several_outputs(docs: Documents) -> None:
    func = docs["sum_and_difference"]
    assert func["body"][-1] == {"op": "hl.return", "values": ["total", "difference"]}
    assert len(func["rets"]) == 2
    # Each load feeds two ops, so it is an explicit hl.load rather than inline.
    assert [op["result"] for op in ops(func, "hl.load")] == ["load", "b"]
    assert [op["dst"] for op in ops(func, "hl.store_slice")] == ["total", "difference"]


def test_symbolic_shapes_come_from_the_shape_environment(docs: Documents) -> None:
    for name in ("add_dynamic", "row_sum_dynamic"):
        text = json.dumps(docs[name])
        assert "10" not in text, f"{name} specialised an extent"
    assert loops(docs["add_dynamic"])[0]["end"] == ["dim(x,0)", "dim(x,1)"]
    total = one(docs["row_sum_dynamic"], "torch.sum")
    assert total["args"][0] == slice_of("x", ["tile_m", 0], ["size(tile_m)", "dim(x,1)"])


# ------------------------------------------------------------------ tiles and control flow


def test_tile_properties(docs: Documents) -> None:
    func = docs["tile_properties"]
    grid = loops(func)[0]
    assert grid["sizes"] == [4]
    assert grid["begin"] == [1] and grid["end"] == ["dim(x,0)"]
    for name, result in (
        ("hl.tile.index", "tile_index"),
        ("hl.tile.begin_of", "tile_begin"),
        ("hl.tile.end_of", "tile_end"),
        ("hl.tile.id", "tile_id"),
    ):
        assert one(func, name) == {
            "op": name,
            "tile": "tile",
            "result": result,
            "type": INDEX if name != "hl.tile.index" else tensor(["size(tile)"], "i32"),
        }
    assert one(func, "torch.prims.convert_element_type")["args"] == ["tile_index"]
    # Integer arithmetic on the properties is one symbolic operand.
    operands = [op["args"][1] for op in ops(func, "torch.add")]
    assert {"expr": "tile_id + 10 * tile_end + 100 * tile_begin"} in operands


@helion.kernel(static_shapes=True)
def tile_count(x: torch.Tensor) -> torch.Tensor:
    # Not a family: Helion's eager reference mode counts the tiles of each tile
    # rather than of the loop, so only the structure is checked here.
    out = torch.empty_like(x)
    for tile in hl.tile(2, x.size(0), block_size=4):
        out[tile] = x[tile] + tile.count
    return out


def test_tile_count() -> None:
    func = export_kernel(tile_count, (torch.randn(11),), locations=False)["module"]["funcs"][0]
    assert loops(func)[0]["begin"] == [2]
    assert one(func, "hl.tile.count") == {
        "op": "hl.tile.count",
        "tile": "tile",
        "result": "tile_count",
        "type": INDEX,
    }
    assert one(func, "torch.add")["args"][1] == "tile_count"


def test_grid_index_is_a_position(docs: Documents) -> None:
    func = docs["grid_rows"]
    grid, inner = loops(func)
    assert grid == {
        "op": "hl.tile.begin",
        "iters": ["i"],
        "sizes": [1],
        "result": ["i"],
        "begin": [0],
        "end": ["dim(x,0)"],
        "parallel": True,
        "types": [INDEX],
    }
    assert inner["begin"] == [2] and inner["end"] == ["dim(x,1)"]
    assert inner["iters"] == ["i_1"]
    assert one(func, "hl.load")["index"] == [{"at": "i"}, {"tile": "tile"}]
    assert one(func, "hl.store")["index"] == [{"at": "i"}, {"tile": "tile"}]
    assert one(func, "torch.mul")["args"][1] == {"expr": "1 + i"}


def test_if_else_on_a_bool_argument_merges_by_name(docs: Documents) -> None:
    func = docs["branch_on_flag"]
    assert func["args"][1] == {"id": "flag", "type": {"scalar": "i1"}}
    names = [op["op"] for op in func["body"]]
    begin, middle, end = (names.index(n) for n in ("hl.if.begin", "hl.if.else", "hl.if.end"))
    assert func["body"][begin]["cond"] == "flag"
    then_ops, else_ops = func["body"][begin + 1 : middle], func["body"][middle + 1 : end]
    assert [op["op"] for op in then_ops] == ["torch.mul"]
    assert [op["op"] for op in else_ops] == ["torch.sub"]
    # Both branches define `r`; after hl.if.end it holds the taken branch's value.
    assert then_ops[0]["result"] == else_ops[0]["result"] == "r"
    assert func["body"][end + 1] == {
        "op": "hl.store_slice",
        "dst": "out",
        "offsets": ["tile"],
        "src": "r",
    }


def test_if_on_a_loaded_value_reassigns_an_outer_name(docs: Documents) -> None:
    func = docs["branch_on_value"]
    gate = next(op for op in ops(func, "hl.load") if op["base"] == "gate")
    assert gate["index"] == [{"at": 0}]
    assert one(func, "torch.gt")["args"] == ["g"]
    assert one(func, "hl.if.begin")["cond"] == "gt"
    assert not ops(func, "hl.if.else")
    assert one(func, "torch.mul") == {
        "op": "torch.mul",
        "overload": "Tensor",
        "result": "v",
        "args": ["v", "g"],
        "attrs": {},
        "type": tensor(["size(tile)"], "f32"),
    }


def test_barrier_separates_two_grid_loops(docs: Documents) -> None:
    func = docs["two_phase"]
    names = [op["op"] for op in func["body"]]
    assert names.count("hl.barrier") == 1
    first, second = loops(func)
    assert first["parallel"] and second["parallel"]
    barrier = names.index("hl.barrier")
    assert names[barrier - 1] == "hl.tile.end" and names[barrier + 1] == "hl.tile.begin"
    assert one(func, "hl.load")["index"] == [{"at": 9}]


def test_split_and_join(docs: Documents) -> None:
    func = docs["swap_pairs"]
    first_view, second_view = ops(func, "torch.view")
    assert first_view["attrs"] == {"size": ["size(tile_m)", 4, 2]}
    assert first_view["args"] == [slice_of("x", ["tile_m", 0], ["size(tile_m)", "dim(x,1)"])]
    assert one(func, "hl.split") == {
        "op": "hl.split",
        "src": "pairs",
        "result": ["even", "odd"],
        "types": [tensor(["size(tile_m)", 4], "f32")] * 2,
    }
    assert one(func, "hl.join")["args"] == ["odd", "even"]
    assert second_view["attrs"] == {"size": ["size(tile_m)", 8]}


# ------------------------------------------------------------------ reductions


def test_persistent_row_reductions(docs: Documents) -> None:
    row = slice_of("x", ["tile_m", 0], ["size(tile_m)", "dim(x,1)"])
    total = one(docs["row_sum"], "torch.sum")
    assert total["overload"] == "dim_IntList"
    assert total["args"] == [row]
    assert total["attrs"] == {"dim": [-1], "keepdim": False, "dtype": None}
    mean = one(docs["row_mean"], "torch.mean")
    assert mean["overload"] == "dim"
    assert mean["args"] == [row]
    amax_func = docs["row_amax"]
    mask = one(amax_func, "hl.mask_to")
    assert mask["value"] == "-inf"
    assert one(amax_func, "torch.amax")["args"] == [mask["result"]]
    for name in ("row_sum", "row_mean", "row_amax", "softmax"):
        assert len(loops(docs[name])) == 1, f"{name} is not persistent"


def test_one_pass_softmax(docs: Documents) -> None:
    func = docs["softmax"]
    math = [op["op"] for op in func["body"] if op["op"].startswith(("torch.", "hl.mask"))]
    assert math == [
        "hl.mask_to",
        "torch.amax",
        "torch.sub",
        "torch.exp",
        "hl.mask_to",
        "torch.sum",
        "torch.div",
    ]
    assert one(func, "torch.amax")["attrs"] == {"dim": [1], "keepdim": True}


def test_reduction_loops_accumulate_across_iterations(docs: Documents) -> None:
    func = docs["softmax_reduction_loops"]
    grid, *reduction_loops = loops(func)
    assert grid["sizes"] == [2]
    assert len(reduction_loops) == 3
    for loop in reduction_loops:
        assert loop["parallel"] is False
        assert loop["sizes"] == [4]
        assert loop["result"] == ["tile_rdim1"]
        assert loop["begin"] == [0] and loop["end"] == ["dim(x,1)"]
    chunk = slice_of("x", ["tile_m", "tile_rdim1"], ["size(tile_m)", "size(tile_rdim1)"])
    assert one(func, "hl.load")["slice"] == chunk["slice"]
    max_acc = one(func, "hl.full")
    assert max_acc == {
        "op": "hl.full",
        "shape": ["size(tile_m)", 1],
        "value": "-inf",
        "dtype": "f32",
        "result": "amax_acc",
        "type": tensor(["size(tile_m)", 1], "f32"),
    }
    assert one(func, "torch.maximum")["args"] == ["amax_acc", "amax"]
    assert one(func, "torch.maximum")["result"] == "amax_acc"
    sum_acc = one(func, "hl.zeros")
    assert one(func, "torch.add")["args"] == [sum_acc["result"], "sum_1"]
    # The accumulators are defined before their loops and read after them.
    body = func["body"]
    assert body.index(max_acc) < body.index(reduction_loops[0])
    assert one(func, "torch.div")["args"] == ["exp_1", sum_acc["result"]]
    assert one(func, "hl.store_slice")["offsets"] == ["tile_m", "tile_rdim1"]


def test_mean_over_a_reduction_loop_divides_after_it(docs: Documents) -> None:
    func = docs["row_mean_reduction_loop"]
    partial = one(func, "torch.sum")
    assert partial["attrs"] == {"dim": [1], "keepdim": False, "dtype": "f32"}
    divide = one(func, "torch.div")
    assert divide["args"] == ["mean_extra_acc", {"expr": "dim(x,1)"}]
    reduction_loop = loops(func)[1]
    body = func["body"]
    loop_end = body.index(reduction_loop) + len(region(func, reduction_loop)) + 1
    assert body[loop_end]["op"] == "hl.tile.end"
    assert body.index(divide) == loop_end + 1


def test_online_softmax_carries_running_statistics(docs: Documents) -> None:
    func = docs["softmax_two_pass"]
    registered = ops(func, "hl.register_block_size")
    assert registered == [
        {
            "op": "hl.register_block_size",
            "result": "block_size_m",
            "size": 8,
            "min": 1,
            "max": "dim(x,0)",
            "type": INDEX,
        },
        {
            "op": "hl.register_block_size",
            "result": "block_size_n",
            "size": 32,
            "min": 1,
            "max": "dim(x,1)",
            "type": INDEX,
        },
    ]
    outer, first, second = loops(func)
    assert outer["sizes"] == ["block_size_m"]
    assert first["sizes"] == second["sizes"] == ["block_size_n"]
    first_body = region(func, first)
    # `di` is assigned where it is computed; `mi` is still read after `mi_next`
    # exists, so it takes its new value at the end of the iteration.
    assert any(op.get("result") == "di" for op in first_body if op["op"] == "torch.add")
    assert first_body[-1] == {
        "op": "hl.assign",
        "src": "mi_next",
        "result": "mi",
        "type": tensor(["size(tile_m)"], "f32"),
    }
    assert one(func, "torch.maximum")["args"] == ["mi", "local_amax"]


def test_cross_entropy_gathers_with_broadcast_index_tensors(docs: Documents) -> None:
    func = docs["cross_entropy"]
    gather = next(op for op in ops(func, "hl.load") if "index" in op)
    assert gather["base"] == "logits"
    assert [list(entry) for entry in gather["index"]] == [["tensor"], ["tensor"]]
    index_views = {op["result"]: op for op in ops(func, "hl.subscript")}
    for entry in gather["index"]:
        assert index_views[entry["tensor"]]["index"] == [{"full": True}, {"newaxis": True}]
    assert one(func, "hl.tile.index")["tile"] == "tile_n"
    assert ops(func, "torch.squeeze")[0]["attrs"] == {"dim": 1}


def test_scans(docs: Documents) -> None:
    cumsum = one(docs["cumsum_rows"], "hl.cumsum")
    assert cumsum["dim"] == 1 and cumsum["reverse"] is False
    cumprod = one(docs["reverse_cumprod_rows"], "hl.cumprod")
    assert cumprod["reverse"] is True
    scan = one(docs["cummax_rows"], "hl.associative_scan")
    combine = scan["combine"]
    assert len(combine["params"]) == 2
    assert [op["op"] for op in combine["body"]] == ["torch.maximum"]
    assert combine["body"][0]["args"] == combine["params"]
    assert combine["results"] == [combine["body"][0]["result"]]
    assert scan["dim"] == 1 and len(scan["result"]) == 1


def test_reduce_with_a_tuple_combine_function(docs: Documents) -> None:
    func = docs["argmax_rows"]
    reduce = one(func, "hl.reduce")
    assert len(reduce["args"]) == 2
    assert reduce["dim"] == 1 and reduce["keep_dims"] is False
    assert reduce["result"][1] == "best"
    combine = reduce["combine"]
    # Parameters: the left values of every arg, then the right values.
    assert len(combine["params"]) == 4
    assert [op["op"] for op in combine["body"]] == ["torch.gt", "torch.where", "torch.where"]
    assert one(func, "torch.prims.iota")["attrs"]["length"] == 10
    assert one(func, "hl.store_slice")["src"] == "best"


# ------------------------------------------------------------------ normalisations


def test_layer_norm(docs: Documents) -> None:
    func = docs["layer_norm"]
    assert func["args"][3] == {"id": "eps", "type": {"scalar": "f64"}}
    means = ops(func, "torch.mean")
    assert [m["attrs"] for m in means] == [{"dim": [-1], "keepdim": True, "dtype": None}] * 2
    assert any(op["args"] == ["var", "eps"] for op in ops(func, "torch.add"))
    assert ops(func, "torch.mul")[0]["args"] == ["centered", "centered"]
    weight = slice_of("weight", [0], ["dim(weight,0)"])
    assert weight in [op["args"][0] for op in ops(func, "torch.prims.convert_element_type")]
    assert ops(func, "torch.prims.convert_element_type")[-1]["attrs"] == {"dtype": "f16"}
    # The mask Helion puts on the variance's input belongs to a piece of `mean`
    # that is not emitted: the document has no dead hl.mask_to.
    assert not ops(func, "hl.mask_to")


def test_layer_norm_over_reduction_loops(docs: Documents) -> None:
    func = docs["layer_norm_reduction_loops"]
    _, *reduction_loops = loops(func)
    assert [loop["sizes"] for loop in reduction_loops] == [[8], [8], [8]]
    sums = ops(func, "torch.sum")
    assert [s["attrs"]["dtype"] for s in sums] == ["f32", "f32"]
    divides = ops(func, "torch.div")
    assert {d["args"][1]["expr"] for d in divides} == {"dim(x,1)"}
    bias = slice_of("bias", ["tile_rdim1"], ["size(tile_rdim1)"])
    assert bias in [op["args"][0] for op in ops(func, "torch.prims.convert_element_type")]


def test_rms_norm(docs: Documents) -> None:
    func = docs["rms_norm"]
    assert func["args"][0]["type"]["tensor"]["elem"] == "bf16"
    assert one(func, "hl.subscript")["index"] == [{"full": True}, {"newaxis": True}]
    assert one(func, "torch.mean")["args"] == ["mul"]
    assert ops(func, "torch.mul")[0]["args"] == ["x_tile", "x_tile"]


# ------------------------------------------------------------------ matrix products


@pytest.mark.parametrize(("name", "elem"), [("matmul_fp16", "f16"), ("matmul_bf16", "bf16")])
def test_low_precision_matmul_accumulates_in_fp32(docs: Documents, name: str, elem: str) -> None:
    func = docs[name]
    assert [a["type"]["tensor"]["elem"] for a in func["args"]] == [elem, elem]
    assert func["rets"][0]["type"]["tensor"]["elem"] == elem
    assert one(func, "hl.zeros")["dtype"] == "f32"
    addmm = one(func, "torch.addmm")
    assert addmm["result"] == "acc" and addmm["args"][0] == "acc"
    assert addmm["operand_dtype"] == "f32"
    assert "operand_dtype" not in one(docs["matmul"], "torch.addmm")


def test_addmm_with_a_bias_epilogue(docs: Documents) -> None:
    func = docs["addmm_bias_relu"]
    grid, inner = loops(func)
    assert grid["sizes"] == [8, 8] and inner["sizes"] == [16]
    epilogue = func["body"][func["body"].index(inner) + len(region(func, inner)) + 2 :]
    assert [op["op"] for op in epilogue[:4]] == [
        "torch.prims.convert_element_type",
        "torch.add",
        "torch.relu",
        "torch.prims.convert_element_type",
    ]
    assert epilogue[0]["args"] == [slice_of("bias", ["tile_n"], ["size(tile_n)"])]
    assert epilogue[1]["args"] == ["acc", epilogue[0]["result"]]


def test_bmm(docs: Documents) -> None:
    func = docs["bmm"]
    grid = loops(func)[0]
    assert grid["result"] == ["tile_b", "tile_m", "tile_n"] and grid["sizes"] == [1, 8, 8]
    baddbmm = one(func, "torch.baddbmm")
    assert baddbmm["operand_dtype"] == "f32"
    assert baddbmm["args"][1] == slice_of(
        "a", ["tile_b", "tile_m", "tile_k"], ["size(tile_b)", "size(tile_m)", "size(tile_k)"]
    )


def test_hl_dot(docs: Documents) -> None:
    dot = one(docs["matmul_dot"], "hl.dot")
    assert len(dot["args"]) == 3 and dot["args"][2] == "acc"
    assert dot["dtype"] == "f32" and dot["result"] == "acc"
    assert "out_dtype" not in dot


def test_split_k_adds_atomically(docs: Documents) -> None:
    func = docs["matmul_split_k"]
    assert one(func, "hl.alloc")["fill"] == 0
    grid, inner = loops(func)
    # k_block = next_power_of_2(cdiv(64, split_k)) with the config's split_k = 4.
    assert grid["sizes"] == [8, 16, 16]
    assert grid["result"] == ["tile_m", "tile_n", "outer_k"]
    assert one(func, "hl.tile.begin_of")["tile"] == "outer_k"
    assert inner["begin"] == ["tile_begin"] and inner["end"] == ["tile_end"]
    assert one(func, "hl.atomic_add") == {
        "op": "hl.atomic_add",
        "dst": "out",
        "index": [{"tile": "tile_m"}, {"tile": "tile_n"}],
        "src": "acc",
        "sem": "relaxed",
    }


def test_attention_carries_three_values(docs: Documents) -> None:
    func = docs["attention"]
    grid, keys = loops(func)
    assert grid["sizes"] == [1, 8] and keys["end"] == ["dim(k,1)"]
    before = func["body"][: func["body"].index(keys)]
    initial = {op["result"]: op for op in before if op["op"] in ("hl.full", "hl.zeros")}
    assert initial["m_i"]["value"] == "-inf"
    assert {"l_i", "acc"} <= initial.keys()
    assert any(op.get("result") == "q_tile" for op in before if op["op"] == "hl.load")
    body = region(func, keys)
    assigned = {op.get("result") for op in body}
    assert {"m_i", "l_i", "acc"} <= assigned
    assert body[-1] == {
        "op": "hl.assign",
        "src": "m_ij",
        "result": "m_i",
        "type": tensor(["size(tile_b)", "size(tile_m)"], "f32"),
    }
    assert one(func, "torch.baddbmm")["operand_dtype"] == "f32"
    assert one(func, "torch.permute")["attrs"] == {"dims": [0, 2, 1]}


# ------------------------------------------------------------------ gathers


def test_embedding_gathers_rows(docs: Documents) -> None:
    func = docs["embedding"]
    indices, rows = ops(func, "hl.load")
    assert indices["slice"]["base"] == "indices"
    assert rows["base"] == "weight"
    assert rows["index"] == [{"tensor": indices["result"]}, {"tile": "tile_e"}]


def test_jagged_loop_bound_is_a_loaded_value(docs: Documents) -> None:
    func = docs["jagged_row_sums"]
    _, inner = loops(func)
    assert inner["end"] == ["longest"] and inner["begin"] == [0]
    assert one(func, "torch.amax")["attrs"] == {"dim": [], "keepdim": False}
    chunk = next(op for op in ops(func, "hl.load") if op.get("base") == "values")
    assert chunk["mask"] == "inside"
    assert chunk["index"] == [{"tensor": "positions"}]
    ends = next(op for op in ops(func, "hl.load") if op.get("result") == "ends")
    assert ends["index"] == [{"tensor": "add"}]
    assert one(func, "hl.alloc")["shape"] == ["dim(offsets,0) - 1"]


# ------------------------------------------------------------------ configs


def test_export_options_config_selects_reduction_loops() -> None:
    args = (torch.randn(6, 10),)
    persistent = translate(reductions.row_sum, args)
    assert len(loops(persistent)) == 1
    looped = translate(
        reductions.row_sum, args, helion.Config(block_sizes=[2], reduction_loops=[4])
    )
    grid, reduction = loops(looped)
    assert grid["sizes"] == [2] and reduction["sizes"] == [4]
    assert one(looped, "hl.zeros")["result"] == "sum_1_acc"
    assert one(looped, "torch.add")["args"] == ["sum_1_acc", "sum_1"]
    assert "config" not in looped
    # A mapping works as well as a helion.Config.
    assert translate(reductions.row_sum, args, {"reduction_loops": [None]}) == persistent


def test_a_kernel_declared_with_one_config_exports_with_it(docs: Documents) -> None:
    assert loops(docs["softmax_reduction_loops"])[0]["sizes"] == [2]


def test_export_is_deterministic(docs: Documents) -> None:
    selected = family("attention")
    first = to_json_text(export_kernel(selected.kernel, selected.make_args()))
    second = to_json_text(export_kernel(selected.kernel, selected.make_args()))
    assert first == second


# ------------------------------------------------------------------ what cannot be expressed


@helion.kernel(static_shapes=True)
def prints_a_tile(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        v = x[tile]
        hl.device_print("v", v)
        out[tile] = v
    return out


@helion.kernel(static_shapes=True, config=helion.Config(block_sizes=[2], reduction_loops=[4]))
def variance_over_a_reduction_loop(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty([x.size(0)], dtype=x.dtype, device=x.device)
    for tile in hl.tile(x.size(0)):
        out[tile] = torch.var(x[tile, :], dim=-1)
    return out


def test_a_dropped_operand_without_a_record_is_an_error() -> None:
    # A kernel bound before helion2json recorded the traced operands: `x * x` is
    # mul(x, None) in the IR, which the exporter must not guess at.
    kernel = helion.kernel(elementwise.square_clamp.fn, static_shapes=True)
    bound = bind_kernel(kernel, (torch.randn(8), -1.0, 1.0))
    for graph in bound.host_function.device_ir.graphs:
        for node in graph.graph.nodes:
            node.meta.pop(TRACED_ARGUMENTS_META, None)
    with pytest.raises(UnsupportedError, match="dropped operand 'other'") as info:
        export_bound(bound)
    assert info.value.op == "torch.mul"


@pytest.mark.parametrize(
    ("kernel", "op", "text"),
    [
        (prints_a_tile, "hl.device_print", "hl.device_print"),
        (variance_over_a_reduction_loop, "torch.var.correction", "torch.var"),
    ],
)
def test_inexpressible_intrinsics_name_the_op_and_line(kernel: Any, op: str, text: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        export_kernel(kernel, (torch.randn(4, 10),))
    error = info.value
    assert error.op == op
    assert op in error.message
    assert error.location is not None
    assert text in source_line(__file__, error.location.line)


def test_broadcast_and_scalar_stores_carry_their_window() -> None:
    from helion2json.tests.kernels import family

    selected = family("broadcast_stores")
    body = export_kernel(selected.kernel, selected.make_args(), locations=False)["module"]["funcs"][
        0
    ]["body"]
    stores = [op for op in body if op["op"] == "hl.store_slice"]
    window = ["size(tile_m)", "size(tile_n)"]
    assert [(op["dst"], op["src"], op["sizes"]) for op in stores] == [
        ("rows", "load", window),
        ("filled", 1.5, window),
    ]
    load = next(op for op in body if op["op"] == "hl.load")
    assert load["index"] == [{"newaxis": True}, {"tile": "tile_n"}]


# ------------------------------------------------------------------ carried values


def assigns(body: list[Op]) -> list[tuple[str, str]]:
    return [(op["src"], op["result"]) for op in body if op["op"] == "hl.assign"]


def test_a_variable_that_starts_as_another_gets_its_own_name(docs: Documents) -> None:
    func = docs["chebyshev_series"]
    inner = loops(func)[1]
    start = func["body"].index(inner)
    # cur = two_x: the loop updates cur and still reads two_x.
    assert func["body"][start - 1] == {
        "op": "hl.assign",
        "src": "two_x",
        "result": "cur",
        "type": tensor(["size(tile_m)", "size(tile_n)"], "f32"),
    }
    step = one(func, "torch.sub")
    assert ["two_x", "cur"] in [op["args"] for op in ops(func, "torch.mul")]
    # prev, cur = cur, nxt: prev takes cur's old value before cur is replaced.
    assert assigns(region(func, inner)) == [("cur", "prev"), (step["result"], "cur")]


def test_a_swap_goes_through_a_temporary(docs: Documents) -> None:
    func = docs["swap_each_step"]
    (first, saved), (other, into_first), (from_saved, into_other) = assigns(
        region(func, loops(func)[1])
    )
    assert (into_first, from_saved, into_other) == (first, saved, other)
    assert len({first, saved, other}) == 3


def test_a_branch_updates_a_copy_of_an_aliased_variable(docs: Documents) -> None:
    func = docs["branch_keeps_the_original"]
    begin = func["body"].index(one(func, "hl.if.begin"))
    copy = func["body"][begin - 1]
    assert copy["op"] == "hl.assign" and copy["src"] == "base" and copy["result"] != "base"
    assert one(func, "torch.mul")["result"] == copy["result"]


# ------------------------------------------------------------------ tile broadcasting


@pytest.mark.parametrize(
    ("name", "base", "dim"),
    [
        ("add_row_bias", "bias", 1),
        ("add_row_bias_square", "bias", 1),
        ("select_row_or_column", "rows", 1),
        ("scale_batches_by_columns", "scale", 1),
    ],
)
def test_a_lower_rank_tile_value_is_unsqueezed_onto_its_tiles_axes(
    docs: Documents, name: str, base: str, dim: int
) -> None:
    func = docs[name]
    [unsqueeze] = ops(func, "torch.unsqueeze")
    assert unsqueeze["attrs"] == {"dim": dim}
    [operand] = unsqueeze["args"]
    assert operand["slice"]["base"] == base


# ------------------------------------------------------------------ expressions


@pytest.mark.parametrize(
    ("name", "expression"),
    [
        ("add_length_mod_three", "dim(x,0) % 3"),
        ("mean_scale_columns", "1.0 / (dim(x,1) * 1.0)"),
        ("keep_if_even_length", "dim(x,0) % 2 == 0"),
    ],
)
def test_size_arithmetic_is_an_expression(docs: Documents, name: str, expression: str) -> None:
    [math] = [op for op in docs[name]["body"] if op["op"] == "torch.mul" or op["op"] == "torch.add"]
    assert {"expr": expression} in math["args"]


# ------------------------------------------------------------------ host code


def test_a_view_before_the_launch_is_a_host_op(docs: Documents) -> None:
    func = docs["scale_last_axis"]
    reshape, alloc = func["body"][:2]
    assert {key: reshape[key] for key in ("op", "overload", "result", "args", "attrs")} == {
        "op": "torch.reshape",
        "overload": "default",
        "result": "rows",
        "args": ["x"],
        "attrs": {"shape": [-1, "dim(x,2)"]},
    }
    assert alloc["op"] == "hl.alloc" and alloc["shape"] == ["dim(rows,0)", "dim(rows,1)"]
    assert loops(func)[0]["end"] == ["dim(rows,0)", "dim(x,2)"]


def test_views_of_results_run_after_the_launch(docs: Documents) -> None:
    func = docs["rows_and_sums_of_squares"]
    *_, end, view, reshape, ret = func["body"]
    assert end["op"] == "hl.tile.end"
    assert (view["op"], view["args"], view["attrs"]) == (
        "torch.view",
        ["out"],
        {"size": ["dim(q,0)", "dim(q,1)", "dim(q,2)"]},
    )
    assert (reshape["op"], reshape["args"]) == ("torch.reshape", ["sums"])
    assert ret["values"] == [view["result"], reshape["result"]]
    assert [len(r["type"]["tensor"]["shape"]) for r in func["rets"]] == [3, 2]


@pytest.mark.parametrize(
    ("name", "op", "attrs"),
    [
        ("transposed_plus_one", "torch.transpose", {"dim0": 0, "dim1": 1}),
        ("flat_sum_of_two", "torch.flatten", {"start_dim": 0, "end_dim": 1}),
        ("drop_first_row", "torch.slice", {"dim": 0, "start": 1, "end": "dim(x,0)", "step": 1}),
    ],
)
def test_host_view_ops(docs: Documents, name: str, op: str, attrs: dict[str, Any]) -> None:
    first = docs[name]["body"][0]
    assert (first["op"], first["attrs"]) == (op, attrs)


# ------------------------------------------------------------------ specialised arguments


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("add_optional_bias_none", {"none": None}),
        ("named_activation", {"constant": "relu", "kind": "str"}),
        (
            "doubled_then",
            {"constant": "helion2json.tests.kernels.arguments.halve_and_shift", "kind": "callable"},
        ),
    ],
)
def test_specialised_arguments_are_recorded(
    docs: Documents, name: str, declared: dict[str, Any]
) -> None:
    assert docs[name]["args"][1]["type"] == declared


def test_a_callable_argument_is_traced_into_the_body(docs: Documents) -> None:
    names = [op["op"] for op in docs["doubled_then"]["body"]]
    assert names.count("torch.mul") == 2 and "torch.sub" in names
