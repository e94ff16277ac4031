"""Host tensors: allocations, loads (windows and general indices), stores and atomics.

A load builds a new tensor (``tensor.generate`` reading the memref), so later stores
never change it, as the format requires. Stores and atomics are loops of
``memref.store``; run one program after another, an atomic update is a plain
read-modify-write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helion2json.mlir.elements import broadcast_shape, generate, loop_nest, read, select, when
from helion2json.mlir.lower import Lowering, lowers
from helion2json.mlir.values import (
    HostValue,
    ScalarValue,
    TensorValue,
    is_float,
    mlir_elem,
)

INDEX_ENTRY_KINDS = ("tile", "broadcast", "full", "at", "newaxis", "range", "tensor")


@dataclass(frozen=True)
class IndexPlan:
    """Result axes of an index into a host tensor, and how each maps to a base position."""

    shape: tuple[int | None, ...]
    dims: tuple[str, ...]
    positions: Callable[[list[str]], list[str]]


# The fields each op's lowering reads (besides ``op``, ``loc``, ``type`` and ``types``): a
# field it does not know would change what the op means, so it is refused.
_FIELDS = {
    "hl.load": {"result", "slice", "base", "index", "mask", "pad_to"},
    "hl.store_slice": {"dst", "offsets", "src", "mask", "sizes"},
    "hl.store": {"dst", "index", "src", "mask"},
    "atomic": {"dst", "index", "src", "expected", "sem", "result"},
}
_SLICE_FIELDS = {"base", "offsets", "sizes"}


def _known_fields(lw: Lowering, op: Mapping[str, Any], kind: str) -> None:
    unknown = set(op) - _FIELDS[kind] - {"op", "loc", "type", "types"}
    if unknown:
        raise lw.error(f"unknown field(s) {', '.join(sorted(unknown))}")


def _scalar_operand(lw: Lowering, value: Any) -> ScalarValue:
    operand = lw.operand(value)
    if isinstance(operand, TensorValue):
        raise lw.error("a tensor where a scalar is needed")
    return operand


@lowers("hl.alloc")
def lower_alloc(lw: Lowering, op: Mapping[str, Any]) -> None:
    elem = mlir_elem(op["dtype"])
    dims = tuple(lw.index_expr(extent) for extent in op["shape"])
    host = HostValue("", elem, dims)
    ssa = lw.b.assign(f"memref.alloc({', '.join(dims)}) : {host.type}", "host")
    host = HostValue(ssa, elem, dims)
    fill = op.get("fill")
    if fill is not None:
        value = _scalar_operand(lw, fill)
        element = lw.b.convert(value.ssa, value.elem, elem)
        lw.b.line(f"linalg.fill ins({element} : {elem}) outs({ssa} : {host.type})")
    lw.define(op["result"], host)


def slice_plan(lw: Lowering, spec: Mapping[str, Any]) -> tuple[HostValue, IndexPlan]:
    """The host tensor a slice reads and its window as an index plan."""
    unknown = set(spec) - _SLICE_FIELDS
    if unknown:
        raise lw.error(f"unknown slice field(s) {', '.join(sorted(unknown))}")
    base = lw.host(spec["base"])
    if len(spec["offsets"]) != len(base.dims) or len(spec["sizes"]) != len(base.dims):
        raise lw.error(f"a slice of '{spec['base']}' needs one offset and size per axis")
    offsets = [lw.index_expr(offset) for offset in spec["offsets"]]
    plan = IndexPlan(
        tuple(lw.static_extent(size) for size in spec["sizes"]),
        tuple(lw.index_expr(size) for size in spec["sizes"]),
        lambda indices: [
            lw.b.assign(f"arith.addi {offset}, {index} : index")
            for offset, index in zip(offsets, indices, strict=True)
        ],
    )
    return base, plan


def load_slice(lw: Lowering, spec: Mapping[str, Any]) -> TensorValue:
    base, plan = slice_plan(lw, spec)
    return generate(
        lw,
        base.elem,
        plan.shape,
        plan.dims,
        lambda indices: base.load(lw.b, plan.positions(indices)),
    )


def index_plan(lw: Lowering, base: HostValue, entries: Sequence[Mapping[str, Any]]) -> IndexPlan:
    """The plan of an index (entries ``tile``, ``full``, ``at``, ``newaxis``, ``broadcast``,
    ``range``, ``tensor``); the positions are computed inside the body of the consumer."""
    for entry in entries:
        # An entry of another kind, or with more keys, means something this lowering would
        # read wrongly: refuse it rather than guess.
        if len(entry) != 1 or next(iter(entry)) not in INDEX_ENTRY_KINDS:
            raise lw.error(f"unknown index entry {dict(entry)!r}")
    shape: list[int | None] = []
    dims: list[str] = []
    # Per base axis: how to compute its position from the result indices.
    getters: list[Callable[[list[str]], str]] = []
    tensor_at = [i for i, entry in enumerate(entries) if "tensor" in entry]
    tensors = [_tensor(lw, entries[i]) for i in tensor_at]
    # Several index tensors, one of two or more axes: broadcast together, their axes
    # stand where the first one does (they must be adjacent).
    joint = len(tensors) > 1 and any(len(t.shape) != 1 for t in tensors)
    if joint and tensor_at != list(range(tensor_at[0], tensor_at[0] + len(tensor_at))):
        raise lw.error("index tensors broadcast together must be adjacent entries")
    joint_shape, joint_dims = broadcast_shape(lw, tensors) if joint else ((), ())
    joint_first = 0
    axis = 0
    for entry in entries:
        if axis >= len(base.dims) and "newaxis" not in entry:
            raise lw.error("an index with more entries than its base has axes")
        result_axis = len(shape)
        if "tile" in entry:
            tile = lw.tile(entry["tile"])
            shape.append(None)
            dims.append(tile.size)
            getters.append(_offset_getter(lw, tile.offset, result_axis))
        elif "broadcast" in entry:
            tile = lw.tile(entry["broadcast"])
            shape.append(None)
            dims.append(tile.size)
            zero = lw.b.index(0)
            getters.append(_fixed(zero))
        elif "range" in entry:
            begin, end = (lw.index_expr(bound) for bound in entry["range"])
            shape.append(_static_difference(lw, entry["range"]))
            dims.append(lw.b.assign(f"arith.subi {end}, {begin} : index"))
            getters.append(_offset_getter(lw, begin, result_axis))
        elif "full" in entry:
            shape.append(None)
            dims.append(base.dims[axis])
            getters.append(_result_axis(result_axis))
        elif "at" in entry:
            position = lw.index_expr(entry["at"])
            getters.append(_fixed(position))
        elif "newaxis" in entry:
            shape.append(1)
            dims.append(lw.b.index(1))
            continue
        elif "tensor" in entry and joint:
            positions = _tensor(lw, entry)
            if entry is entries[tensor_at[0]]:
                joint_first = len(shape)
                shape.extend(joint_shape)
                dims.extend(joint_dims)
            getters.append(_gather_getter(lw, positions, joint_first, len(joint_shape)))
        elif "tensor" in entry:
            positions = _tensor(lw, entry)
            first = len(shape)
            shape.extend(positions.shape)
            dims.extend(positions.dims)
            getters.append(_gather_getter(lw, positions, first, len(positions.shape)))
        else:
            raise lw.error(f"unknown index entry {dict(entry)!r}")
        axis += 1
    for rest in range(axis, len(base.dims)):
        result_axis = len(shape)
        shape.append(None)
        dims.append(base.dims[rest])
        getters.append(_result_axis(result_axis))
    return IndexPlan(tuple(shape), tuple(dims), lambda indices: [g(indices) for g in getters])


def _static_difference(lw: Lowering, bounds: Sequence[Any]) -> int | None:
    begin, end = (lw.static_extent(bound) for bound in bounds)
    return None if begin is None or end is None else end - begin


def _fixed(position: str) -> Callable[[list[str]], str]:
    return lambda _indices: position


def _result_axis(at: int) -> Callable[[list[str]], str]:
    return lambda indices: indices[at]


def _tensor(lw: Lowering, entry: Mapping[str, Any]) -> TensorValue:
    value = lw.operand(entry["tensor"])
    if not isinstance(value, TensorValue):
        raise lw.error("an index tensor that is a scalar")
    return value


def _offset_getter(lw: Lowering, offset: str, at: int) -> Callable[[list[str]], str]:
    return lambda indices: lw.b.assign(f"arith.addi {offset}, {indices[at]} : index")


def _gather_getter(
    lw: Lowering, positions: TensorValue, first: int, rank: int
) -> Callable[[list[str]], str]:
    """The position an index tensor holds at result axes ``first .. first + rank``
    (broadcast to them, right-aligned)."""

    def getter(indices: list[str]) -> str:
        own = indices[first : first + rank]
        element = read(lw, positions, own)
        return lw.b.convert(element, positions.elem, "index")

    return getter


def _mask_flag(lw: Lowering, name: str | None, indices: list[str]) -> str | None:
    if name is None:
        return None
    mask = lw.operand(name)
    element = read(lw, mask, indices)
    return lw.b.convert(element, mask.elem, "i1")


@lowers("hl.load")
def lower_load(lw: Lowering, op: Mapping[str, Any]) -> None:
    _known_fields(lw, op, "hl.load")
    if op.get("slice") is not None:
        base, plan = slice_plan(lw, op["slice"])
    else:
        base = lw.host(op["base"])
        plan = index_plan(lw, base, op["index"])

    def element(indices: list[str]) -> str:
        # Masked-off positions may lie outside the base: they are not read.
        flag = _mask_flag(lw, op.get("mask"), indices)
        return select(
            lw,
            flag,
            lambda: base.load(lw.b, plan.positions(indices)),
            lambda: lw.b.constant(0, base.elem),
            base.elem,
        )

    value = generate(lw, base.elem, plan.shape, plan.dims, element)
    if op.get("pad_to") is not None:
        value = _padded(lw, op["pad_to"], value)
    lw.define(op["result"], value)


def _padded(lw: Lowering, pad_to: Sequence[Any], value: TensorValue) -> TensorValue:
    """``value`` with each ``pad_to`` axis extended with zeros up to its extent."""
    if len(pad_to) != len(value.shape):
        raise lw.error(f"pad_to has {len(pad_to)} entries for a value of rank {len(value.shape)}")
    elem = value.elem
    shape = list(value.shape)
    dims = list(value.dims)
    for axis, extent in enumerate(pad_to):
        if extent is not None:
            shape[axis] = lw.static_extent(extent)
            dims[axis] = lw.index_expr(extent)

    def element(indices: list[str]) -> str:
        flag: str | None = None
        for axis, extent in enumerate(pad_to):
            if extent is None:
                continue
            inside = lw.b.assign(f"arith.cmpi slt, {indices[axis]}, {value.dims[axis]} : index")
            flag = inside if flag is None else lw.b.assign(f"arith.andi {flag}, {inside} : i1")
        return select(
            lw,
            flag,
            lambda: read(lw, value, indices),
            lambda: lw.b.constant(0, elem),
            elem,
        )

    return generate(lw, elem, shape, dims, element)


def _store_element(
    lw: Lowering, src: TensorValue | ScalarValue, indices: list[str], elem: str
) -> str:
    return lw.b.convert(read(lw, src, indices), src.elem, elem)


@lowers("hl.store_slice")
def lower_store_slice(lw: Lowering, op: Mapping[str, Any]) -> None:
    _known_fields(lw, op, "hl.store_slice")
    dst = lw.host(op["dst"])
    src = lw.operand(op["src"])
    offsets = [lw.index_expr(offset) for offset in op["offsets"]]
    if len(offsets) != len(dst.dims):
        raise lw.error(f"{len(offsets)} offsets into a tensor of rank {len(dst.dims)}")
    if op.get("sizes") is not None:
        if len(op["sizes"]) != len(dst.dims):
            raise lw.error(f"{len(op['sizes'])} sizes for a tensor of rank {len(dst.dims)}")
        dims = [lw.index_expr(size) for size in op["sizes"]]
    elif isinstance(src, TensorValue) and len(src.shape) == len(dst.dims):
        dims = list(src.dims)
    else:
        raise lw.error("a store without sizes needs a source of the destination's rank")
    with loop_nest(lw, dims) as indices:
        flag = _mask_flag(lw, op.get("mask"), indices)
        with when(lw, flag):
            element = _store_element(lw, src, indices, dst.elem)
            positions = [
                lw.b.assign(f"arith.addi {offset}, {index} : index")
                for offset, index in zip(offsets, indices, strict=True)
            ]
            dst.store(lw.b, element, positions)


@lowers("hl.store")
def lower_store(lw: Lowering, op: Mapping[str, Any]) -> None:
    _known_fields(lw, op, "hl.store")
    dst = lw.host(op["dst"])
    src = lw.operand(op["src"])
    plan = index_plan(lw, dst, op["index"])
    with loop_nest(lw, plan.dims) as indices:
        flag = _mask_flag(lw, op.get("mask"), indices)
        with when(lw, flag):
            element = _store_element(lw, src, indices, dst.elem)
            positions = plan.positions(indices)
            dst.store(lw.b, element, positions)


_INT_UPDATES = {
    "hl.atomic_add": "arith.addi",
    "hl.atomic_max": "arith.maxsi",
    "hl.atomic_min": "arith.minsi",
    "hl.atomic_and": "arith.andi",
    "hl.atomic_or": "arith.ori",
    "hl.atomic_xor": "arith.xori",
}
_FLOAT_UPDATES = {
    "hl.atomic_add": "arith.addf",
    "hl.atomic_max": "arith.maximumf",
    "hl.atomic_min": "arith.minimumf",
}


@lowers(*_INT_UPDATES, "hl.atomic_xchg", "hl.atomic_cas")
def lower_atomic(lw: Lowering, op: Mapping[str, Any]) -> None:
    _known_fields(lw, op, "atomic")
    if op.get("result") is not None:
        raise lw.error("the values an atomic replaced (its result) are not lowered")
    dst = lw.host(op["dst"])
    src = lw.operand(op["src"])
    expected = lw.operand(op["expected"]) if op["op"] == "hl.atomic_cas" else None
    plan = index_plan(lw, dst, op["index"])
    name = op["op"]
    updates = _FLOAT_UPDATES if is_float(dst.elem) else _INT_UPDATES
    if name not in updates and name not in ("hl.atomic_xchg", "hl.atomic_cas"):
        raise lw.error(f"{name} of {dst.elem} elements")
    with loop_nest(lw, plan.dims) as indices:
        positions = plan.positions(indices)
        value = _store_element(lw, src, indices, dst.elem)
        old = dst.load(lw.b, positions)
        if name == "hl.atomic_xchg":
            new = value
        elif name == "hl.atomic_cas":
            assert expected is not None
            wanted = _store_element(lw, expected, indices, dst.elem)
            compare = "arith.cmpf oeq" if is_float(dst.elem) else "arith.cmpi eq"
            same = lw.b.assign(f"{compare}, {old}, {wanted} : {dst.elem}")
            new = lw.b.assign(f"arith.select {same}, {value}, {old} : {dst.elem}")
        else:
            new = lw.b.assign(f"{updates[name]} {old}, {value} : {dst.elem}")
        dst.store(lw.b, new, positions)
