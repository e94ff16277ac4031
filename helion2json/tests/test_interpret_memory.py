"""The reference interpreter's loads, stores and atomics, on hand-written documents."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from helion2json.interpret import InterpretError, run_document
from helion2json.tests.interpret_documents import END, document, tensor, tiles, torch_op, window

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


def masked_shifted_load(shift: int, keep_below: int) -> dict[str, Any]:
    """out[i] = x[i + shift] where i < keep_below, else 0: a window reaching past ``x``."""
    body = [
        {"op": "hl.alloc", "shape": [8], "dtype": "f32", "result": "out"},
        tiles(["tile_i"], [8], [8]),
        {"op": "hl.tile.index", "tile": "tile_i", "result": "i"},
        torch_op("lt", "Scalar", ["i"], "keep", other=keep_below),
        {
            "op": "hl.load",
            "result": "part",
            "slice": {"base": "x", "offsets": [f"tile_i + {shift}"], "sizes": ["size(tile_i)"]},
            "mask": "keep",
        },
        {"op": "hl.store_slice", "dst": "out", "offsets": ["tile_i"], "src": "part"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    return document([tensor("x", 1)], body)


def test_a_masked_window_reads_only_its_masked_on_part() -> None:
    x = torch.randn(5)
    (out,) = run_document(masked_shifted_load(2, 3), (x,))
    torch.testing.assert_close(out, torch.cat([x[2:], torch.zeros(5)]))


def test_a_masked_on_element_outside_the_base_is_an_error() -> None:
    with pytest.raises(InterpretError, match="masked-on element of the window lies outside x"):
        run_document(masked_shifted_load(2, 4), (torch.randn(5),))


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
