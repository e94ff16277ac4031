"""Kernels of less common kinds: what their documents hold, and what the exporter refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helion
import helion.language as hl
import pytest
import torch

from helion2json import UnsupportedError, ValidationError, export_kernel, validate_spec
from helion2json.core.verify import ReferenceRun, verify_document
from helion2json.interpret import InterpretError, run_document
from helion2json.tests.interpret_documents import END, document, scalar, tensor, tiles, torch_op
from helion2json.tests.kernels import family, philox_uniform
from helion2json.tests.kernels.kinds import jitter


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


# ------------------------------------------------------------------ dtype and device arguments


def test_dtype_and_device_arguments_are_constants_of_the_signature() -> None:
    func = exported("ramp_grid")["module"]["funcs"][0]
    assert func["args"] == [
        {"id": "rows", "type": {"scalar": "i64"}},
        {"id": "cols", "type": {"scalar": "i64"}},
        {"id": "dtype", "type": {"dtype": "i16"}},
        {"id": "device", "type": {"device": None}},
    ]
    alloc = next(op for op in func["body"] if op["op"] == "hl.alloc")
    assert alloc["shape"] == ["rows", "cols"] and alloc["dtype"] == "i16"
    halve = exported("halve_into")["module"]["funcs"][0]
    assert halve["args"][1] == {"id": "dtype", "type": {"dtype": "bf16"}}
    cast = next(op for op in halve["body"] if op["op"] == "torch.prims.convert_element_type")
    assert cast["attrs"] == {"dtype": "bf16"}


def constant_arguments_document() -> dict[str, Any]:
    body = [
        {"op": "hl.alloc", "shape": ["n"], "dtype": "f16", "result": "out", "fill": 2},
        tiles(["tile"], [4], ["n"]),
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    args = [
        scalar("n", "i64"),
        {"id": "dtype", "type": {"dtype": "f16"}},
        {"id": "device", "type": {"device": None}},
    ]
    return document(args, body)


def test_the_interpreter_binds_dtype_and_device_arguments() -> None:
    spec = constant_arguments_document()
    validate_spec(spec)
    (out,) = run_document(spec, (3, torch.float16, "cpu"))
    assert out.dtype == torch.float16 and out.device.type == "cpu"
    assert out.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(InterpretError, match=r"must be torch\.float16"):
        run_document(spec, (3, torch.float32, "cpu"))
    with pytest.raises(InterpretError, match="must be a device"):
        run_document(spec, (3, torch.float16, 1.5))


def test_constant_arguments_are_no_operands() -> None:
    spec = constant_arguments_document()
    spec["module"]["funcs"][0]["args"][1]["type"] = {"dtype": "f99"}
    with pytest.raises(ValidationError):
        validate_spec(spec)
    spec = constant_arguments_document()
    spec["module"]["funcs"][0]["body"][0]["shape"] = ["dtype"]
    with pytest.raises(ValidationError, match="'dtype' is a constant"):
        validate_spec(spec)


# ------------------------------------------------------------------ random numbers


def test_seeded_random_numbers_match_philox_exactly() -> None:
    selected = family("seeded_dropout")
    torch.manual_seed(0)
    args = selected.make_args()
    document = export_kernel(selected.kernel, args, locations=False)
    assert not [op for op in body_of(document) if op["op"] == "hl.rng_seed"]
    result = verify_document(
        document, args, reference=ReferenceRun("philox", list(selected.reference(*args)))
    )
    assert result.ok
    assert all(check.max_abs_error == 0 for check in result.outputs)


def test_launch_seeded_random_numbers_read_seeds_drawn_once_per_call() -> None:
    x = torch.randn(10, 20)
    document = export_kernel(jitter, (x,), locations=False)
    seeds = [op for op in body_of(document) if op["op"] == "hl.rng_seed"]
    assert [(op["slot"], op["result"]) for op in seeds] == [(0, "rng_seed"), (1, "rng_seed_1")]
    generator = torch.Generator().manual_seed(5)
    uniform, normal = run_document(document, (x,), generator=generator)
    # The launch draws every slot's seed at once, then each tile reads its slot.
    drawn = torch.randint(2**63 - 1, [2], generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(uniform, x + philox_uniform(int(drawn[0]), (10, 20)), rtol=0, atol=0)
    assert normal.isfinite().all() and not torch.equal(normal, uniform - x)
    again = run_document(document, (x,), generator=torch.Generator().manual_seed(5))
    assert torch.equal(again[1], normal)


def seed_document(slots: list[int]) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"op": "hl.alloc", "shape": [len(slots)], "dtype": "i64", "result": "out"},
        tiles(["tile"], [1], [1]),
    ]
    for position, slot in enumerate(slots):
        body.append({"op": "hl.rng_seed", "slot": slot, "result": f"seed_{position}"})
        body.append(
            {
                "op": "hl.store_slice",
                "dst": "out",
                "offsets": [position],
                "src": f"seed_{position}",
                "sizes": [1],
            }
        )
    body += [END, {"op": "hl.return", "values": ["out"]}]
    return document([], body)


def test_hl_rng_seed_reads_the_slot_of_seeds_drawn_from_the_generator() -> None:
    spec = seed_document([2, 0, 2])
    validate_spec(spec)
    (out,) = run_document(spec, (), generator=torch.Generator().manual_seed(1))
    drawn = torch.randint(2**63 - 1, [3], generator=torch.Generator().manual_seed(1))
    assert out.tolist() == [drawn[2], drawn[0], drawn[2]]
    torch.manual_seed(3)
    (first,) = run_document(spec, ())
    torch.manual_seed(3)
    (second,) = run_document(spec, ())
    assert torch.equal(first, second)
    spec["module"]["funcs"][0]["body"][2]["slot"] = -1
    with pytest.raises(ValidationError):
        validate_spec(spec)


# ------------------------------------------------------------------ size-1 axes indexed by tiles


def test_a_tile_over_a_size_one_axis_broadcasts() -> None:
    body = body_of(exported("add_broadcast_row"))
    loads = [op for op in body if op["op"] == "hl.load"]
    assert [op["index"] for op in loads] == [[{"broadcast": "tile_m"}, {"tile": "tile_n"}]] * 2


def broadcast_document(entry: dict[str, Any]) -> dict[str, Any]:
    body = [
        {"op": "hl.alloc", "shape": ["dim(x,0)", "dim(x,1)"], "dtype": "f32", "result": "out"},
        tiles(["tile_m", "tile_n"], [3, 2], ["dim(x,0)", "dim(x,1)"]),
        {"op": "hl.load", "result": "r", "base": "row", "index": [entry, {"tile": "tile_n"}]},
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_m", "tile_n"], "src": "r"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    return document([tensor("x", 2), tensor("row", 2)], body)


def test_a_broadcast_entry_reads_position_zero_over_the_tile() -> None:
    spec = broadcast_document({"broadcast": "tile_m"})
    validate_spec(spec)
    x, row = torch.zeros(7, 5), torch.randn(1, 5)
    (out,) = run_document(spec, (x, row))
    torch.testing.assert_close(out, row.expand(7, 5))
    with pytest.raises(ValidationError, match="'x' is a tensor, expected a tile"):
        validate_spec(broadcast_document({"broadcast": "x"}))


# ------------------------------------------------------------------ edge tiles padded to the block


def test_a_load_meeting_a_block_sized_value_is_padded_to_the_block() -> None:
    body = body_of(exported("folded_prefix_sums"))
    load = next(op for op in body if op["op"] == "hl.load" and op.get("slice"))
    assert load["pad_to"] == [None, 4]
    add = next(op for op in body if op["op"] == "torch.add")
    assert add["args"] == ["acc", load["result"]]


def padded_document(pad_to: list[Any]) -> dict[str, Any]:
    body = [
        {"op": "hl.alloc", "shape": [4], "dtype": "f32", "result": "out", "fill": 0},
        tiles(["tile"], [4], ["dim(x,0)"], parallel=False),
        {
            "op": "hl.load",
            "result": "chunk",
            "slice": {"base": "x", "offsets": ["tile"], "sizes": ["size(tile)"]},
            "pad_to": pad_to,
        },
        torch_op("add", "Tensor", ["out", "chunk"], "total", alpha=1.0),
        {"op": "hl.store_slice", "dst": "out", "offsets": [0], "src": "total"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    return document([tensor("x", 1)], body)


def test_pad_to_appends_zeros_up_to_the_extent() -> None:
    x = torch.arange(1.0, 11.0)
    (out,) = run_document(padded_document([4]), (x,))
    assert out.tolist() == [1 + 5 + 9, 2 + 6 + 10, 3 + 7, 4 + 8]
    with pytest.raises(InterpretError, match="cannot be padded to 2"):
        run_document(padded_document([2]), (x,))
    with pytest.raises(ValidationError, match="'nowhere' is used before it is defined"):
        validate_spec(padded_document(["nowhere"]))


# ------------------------------------------------------------------ nested jagged loops


def test_nested_jagged_loops_take_each_level_bounds_from_memory() -> None:
    selected = family("nested_jagged_sums")
    args = selected.make_args()
    document = export_kernel(selected.kernel, args, locations=False)
    loops = [op for op in body_of(document) if op["op"] == "hl.tile.begin"]
    assert [(op["begin"], op["end"]) for op in loops] == [
        ([0], ["dim(group_offsets,0) - 1"]),
        (["first_row"], ["end_row"]),
        (["begin"], ["end"]),
    ]
    reference = ReferenceRun("loops", [selected.reference(*args)])
    assert verify_document(document, args, reference=reference).ok
