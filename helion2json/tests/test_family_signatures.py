"""Family documents of the argument, return and window kinds real kernels use: windows
that are not tiles, list and tuple arguments, returned None and host scalars."""

from __future__ import annotations

import json
import re

import helion
import helion.language as hl
import pytest
import torch

from helion2json import ArgumentError, UnsupportedError, export_kernel, validate_spec
from helion2json.tests.family_documents import (
    Documents,
    loops,
    one,
    ops,
    region,
    slice_of,
    source_line,
    tensor,
    translate,
)
from helion2json.tests.kernels import family

# ------------------------------------------------------------------ windows that are not tiles


def test_masked_loads_reach_past_their_base(docs: Documents) -> None:
    func = docs["join_columns"]
    loads = ops(func, "hl.load")
    assert [load.get("mask") is not None for load in loads] == [True, True]
    assert loads[0]["slice"]["offsets"] == ["tile_r", "tile_c"]


def test_bounded_slices_are_windows(docs: Documents) -> None:
    func = docs["swap_halves"]
    stores = ops(func, "hl.store_slice")
    assert [store["offsets"] for store in stores] == [["tile_m", 0], ["tile_m", 4]]
    assert stores[0]["src"] == slice_of("x", ["tile_m", 4], ["size(tile_m)", "dim(x,1) - 4"])
    assert one(func, "torch.mul")["args"][0] == slice_of("x", ["tile_m", 0], ["size(tile_m)", 4])


def test_a_tensor_list_is_one_operand(docs: Documents) -> None:
    stack = one(docs["unpack_nibbles"], "torch.stack")
    assert len(stack["args"]) == 1 and len(stack["args"][0]) == 2
    assert stack["attrs"] == {"dim": 1}


def test_a_tile_property_read_inside_a_loop_is_named_again_after_it(docs: Documents) -> None:
    func = docs["chunked_decay_scan"]
    inner = loops(func)[1]
    assert inner["end"] == ["size(tile_m) * (1 + tile_id)"]
    inside = [op["result"] for op in region(func, inner) if op["op"] == "hl.tile.begin_of"]
    assert inside
    after = json.dumps(func["body"][func["body"].index(inner) + len(region(func, inner)) + 2 :])
    # The document validates: the chunk's begin after the loop names a value still in scope.
    assert not any(re.search(rf"\b{name}\b", after) for name in inside)


# ------------------------------------------------------------------ signatures


def test_a_list_argument_names_its_items(docs: Documents) -> None:
    func = docs["center_rows"]
    assert func["args"][1] == {
        "id": "normalized_shape",
        "type": {"list": [{"scalar": "i64"}], "names": ["normalized_shape_0"]},
    }
    # Helion's symbol for the item is the item's name in the body.
    assert [op["args"][1] for op in ops(func, "torch.div")] == ["normalized_shape_0"] * 2
    pairs = docs["affine_pairs"]
    assert pairs["args"][1]["type"]["list"] == [{"scalar": "f64"}] * 2
    assert one(pairs, "torch.mul")["args"][1] == "scale_shift_0"
    assert {"expr": "steps_0 * steps_1"} in ops(pairs, "torch.add")[1]["args"]


def test_a_returned_none_is_a_null_value(docs: Documents) -> None:
    func = docs["doubled_without_stats"]
    assert func["rets"][1] == {"type": {"none": None}}
    assert one(func, "hl.return")["values"] == ["out", None]


def test_a_tuple_of_tensors_is_an_error_at_the_definition() -> None:
    @helion.kernel(static_shapes=False)
    def add_pair(pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        a, b = pair
        out = torch.empty_like(a)
        for tile in hl.tile(a.size(0)):
            out[tile] = a[tile] + b[tile]
        return out

    with pytest.raises(ArgumentError, match="argument 'pair' is a tuple of tensors") as error:
        export_kernel(add_pair, ((torch.randn(4), torch.randn(4)),))
    assert error.value.location is not None
    assert error.value.location.line == add_pair.fn.__code__.co_firstlineno


@helion.kernel(static_shapes=True)
def jagged_tile_sums(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    rows = offsets.size(0) - 1
    out = torch.zeros([rows], dtype=values.dtype, device=values.device)
    for tile_r in hl.tile(rows, block_size=2):
        starts = offsets[tile_r]
        lengths = offsets[tile_r.index + 1] - starts
        acc = hl.zeros([tile_r], dtype=values.dtype)
        for tile_k in hl.jagged_tile(lengths):
            acc = acc + hl.load(values, [starts[:, None] + tile_k.index[None, :]]).sum(1)
        out[tile_r] = acc
    return out


def test_a_jagged_tile_is_refused_at_its_loop() -> None:
    # Its per-lane mask is implicit: exporting the loop alone would read past each row.
    with pytest.raises(UnsupportedError) as info:
        export_kernel(jagged_tile_sums, (torch.randn(20), torch.tensor([0, 3, 3, 10, 17, 20])))
    error = info.value
    assert error.op == "hl.jagged_tile"
    assert error.location is not None
    assert "hl.jagged_tile(lengths)" in source_line(__file__, error.location.line)


@pytest.mark.parametrize("name", ["wide_block_row_sums", "edge_block_row_sums"])
def test_a_load_added_into_a_block_sized_value_is_padded_to_the_block(
    docs: Documents, name: str
) -> None:
    func = docs[name]
    assert one(func, "hl.register_block_size")["size"] == 16
    assert one(func, "hl.zeros")["shape"] == ["size(tile_m)", "block_n"]
    assert one(func, "hl.load")["pad_to"] == [None, "block_n"]


def test_a_tile_begin_folded_into_arithmetic_is_the_tile_offset(docs: Documents) -> None:
    func = docs["chunk_tail_minus_sum"]
    positions = [entry for load in ops(func, "hl.load") for entry in load["index"]]
    assert {"at": "-1 + min(dim(g,1), 4 + tile_t)"} in positions


def test_a_list_of_tensors_is_one_tensor_argument_per_item(docs: Documents) -> None:
    func = docs["sum_of_three"]
    assert func["args"][0] == {
        "id": "xs",
        "type": {"list": [tensor(["?", "?"], "f32")] * 3, "names": ["xs_0", "xs_1", "xs_2"]},
        "example": {"items": [{"shape": [4, 6]}] * 3},
    }
    # ``xs[i][tile]`` reads the item as it reads a tensor argument.
    reads = [arg for op in ops(func, "torch.add") for arg in op["args"] if "slice" in arg]
    assert [read["slice"]["base"] for read in reads] == ["xs_0", "xs_1", "xs_2"]
    assert one(func, "hl.alloc")["shape"] == ["dim(xs_0,0)", "dim(xs_0,1)"]


def test_a_tuple_of_tensors_unpacked_on_the_host_names_its_items(docs: Documents) -> None:
    func = docs["pair_product"]
    assert func["args"][0]["type"]["names"] == ["pair_0", "pair_1"]
    product = ops(func, "torch.mul")[0]
    assert [arg["slice"]["base"] for arg in product["args"]] == ["pair_0", "pair_1"]
    assert one(func, "hl.alloc")["shape"] == ["dim(pair_0,0)", "dim(pair_0,1)"]


def test_a_list_example_has_one_entry_per_item() -> None:
    from helion2json import ValidationError

    func = {
        "name": "f",
        "args": [
            {
                "id": "xs",
                "type": {"list": [tensor(["?"], "f32")], "names": ["xs_0"]},
                "example": {"items": [{"shape": [4, 2]}]},
            }
        ],
        "rets": [],
        "body": [{"op": "hl.return", "values": []}],
    }
    document = {"version": 1, "module": {"name": "m", "funcs": [func]}}
    with pytest.raises(ValidationError, match="not an example of item 0 of 'xs'"):
        validate_spec(document)


def test_a_returned_host_scalar_is_an_operand_of_the_return(docs: Documents) -> None:
    func = docs["doubled_with_count"]
    assert func["rets"][1] == {"type": {"scalar": "i64"}}
    assert one(func, "hl.return")["values"] == ["out", {"expr": "dim(x,0)"}]


def test_returned_numbers_and_scalar_arguments_keep_their_types() -> None:
    @helion.kernel(static_shapes=True)
    def scaled_with_facts(
        x: torch.Tensor, scale: float, steps: int
    ) -> tuple[torch.Tensor, float, int, bool, int]:
        out = torch.empty_like(x)
        for tile in hl.tile(x.size(0)):
            out[tile] = x[tile] * scale
        return out, scale, steps, True, x.size(0) * 2

    args = (torch.randn(8), 0.5, 3)
    func = translate(scaled_with_facts, args)
    assert [ret["type"] for ret in func["rets"][1:]] == [
        {"scalar": "f64"},
        {"scalar": "i64"},
        {"scalar": "i1"},
        {"scalar": "i64"},
    ]
    assert one(func, "hl.return")["values"] == [
        "out",
        "scale",
        "steps",
        True,
        {"expr": "dim(x,0) * 2"},
    ]
    document = {"version": 1, "module": {"name": "m", "funcs": [func]}}
    from helion2json.interpret import run_document

    # Host scalars come back as 0-d tensors of their types.
    returned = run_document(document, args)[1:]
    assert [value.item() for value in returned if value is not None] == [0.5, 3, True, 16]
    assert [value.dtype for value in returned if value is not None] == [
        torch.float64,
        torch.int64,
        torch.bool,
        torch.int64,
    ]


def test_a_returned_scalar_is_compared_with_the_reference() -> None:
    from helion2json.core.verify import ReferenceRun, verify_document

    selected = family("doubled_with_count")
    args = selected.make_args()
    document = export_kernel(selected.kernel, args, locations=False)
    (x,) = args
    right = ReferenceRun("eager", [x * 2.0, torch.tensor(x.size(0))])
    assert verify_document(document, args, reference=right).ok
    wrong = ReferenceRun("eager", [x * 2.0, torch.tensor(x.size(0) + 1)])
    result = verify_document(document, args, reference=wrong)
    assert result.status == "mismatch"
    assert [check.ok for check in result.outputs] == [True, False]


def test_an_item_of_a_list_is_stored_into_and_returned_by_its_name() -> None:
    from helion2json.interpret import run_document

    @helion.kernel(static_shapes=True)
    def shifted_into(bufs: list[torch.Tensor]) -> torch.Tensor:
        src, dst = bufs[0], bufs[1]
        for tile in hl.tile(src.size(0)):
            dst[tile] = src[tile] + 1.0
        return bufs[1]

    args = ([torch.randn(8), torch.zeros(8)],)
    func = translate(shifted_into, args)
    assert one(func, "hl.store_slice")["dst"] == "bufs_1"
    assert one(func, "hl.return")["values"] == ["bufs_1"]
    document = {"version": 1, "module": {"name": "m", "funcs": [func]}}
    items = [args[0][0], torch.zeros(8)]
    (returned,) = run_document(document, (items,))
    assert returned is items[1]
    assert torch.equal(items[1], args[0][0] + 1.0)
