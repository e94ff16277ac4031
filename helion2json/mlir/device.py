"""The ``hl`` ops that make or rearrange device values, tile properties, scans, and the
dispatch of ``torch.*`` ops to their lowering family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helion2json.mlir import math as dm
from helion2json.mlir.elements import (
    broadcast_shape,
    fold_loop,
    generate,
    loop_nest,
    read,
    select,
)
from helion2json.mlir.lower import Lowering, lowers
from helion2json.mlir.values import HostValue, ScalarValue, TensorValue, mlir_elem
from helion2json.mlir.views import VIEWS, device_view, host_view

_REDUCTIONS = (
    "sum",
    "mean",
    "prod",
    "amax",
    "amin",
    "max",
    "min",
    "any",
    "all",
    "argmax",
    "argmin",
)
_MATMULS = ("mm", "bmm", "addmm", "baddbmm", "matmul")


def _filled(lw: Lowering, op: Mapping[str, Any], shape_exprs: Any, value: Any, elem: str) -> None:
    fill = lw.operand(value)
    if isinstance(fill, TensorValue):
        fill = lw.scalar_of_tensor(fill, str(value))
    element = lw.b.convert(fill.ssa, fill.elem, elem)
    shape = [lw.static_extent(e) for e in shape_exprs]
    dims = [lw.index_expr(e) for e in shape_exprs]
    lw.define(op["result"], generate(lw, elem, shape, dims, lambda _indices: element))


@lowers("hl.zeros")
def lower_zeros(lw: Lowering, op: Mapping[str, Any]) -> None:
    _filled(lw, op, op["shape"], 0, mlir_elem(op["dtype"]))


@lowers("hl.full")
def lower_full(lw: Lowering, op: Mapping[str, Any]) -> None:
    _filled(lw, op, op["shape"], op["value"], mlir_elem(op["dtype"]))


@lowers("hl.mask_to")
def lower_mask_to(lw: Lowering, op: Mapping[str, Any]) -> None:
    # Tiles are clamped to their extents: there is no padding to replace.
    lw.define(op["result"], lw.operand(op["src"]))


@lowers("hl.assign")
def lower_assign(lw: Lowering, op: Mapping[str, Any]) -> None:
    value = lw.operand(op["src"])
    if lw.has(op["result"]):
        lw.rebind(op["result"], value)
    else:
        lw.define(op["result"], value)


@lowers("hl.register_block_size")
def lower_block_size(lw: Lowering, op: Mapping[str, Any]) -> None:
    lw.define(op["result"], ScalarValue(lw.index_expr(op["size"]), "index"))


@lowers("hl.barrier")
def lower_barrier(lw: Lowering, op: Mapping[str, Any]) -> None:
    # Programs run one after another: every grid loop has finished before the next.
    del lw, op


@lowers("hl.return")
def lower_return(lw: Lowering, op: Mapping[str, Any]) -> None:
    # ``null`` is a ``None`` the kernel returns: nothing to hand back. A host scalar
    # (a number, a scalar argument, an expression) is handed back as a 0-d memref.
    rets = [ret["type"] for ret in lw.func["rets"]]
    returned: list[HostValue] = []
    for value, declared in zip(op["values"], rets, strict=True):
        if value is None:
            continue
        if "scalar" in declared:
            returned.append(_scalar_memref(lw, value, declared["scalar"]))
            continue
        host = lw.lookup(value) if isinstance(value, str) else None
        if not isinstance(host, HostValue):
            raise lw.error(f"returns {value!r}, which is not a host tensor")
        returned.append(_materialized(lw, host))
    lw.returned = returned


def _scalar_memref(lw: Lowering, value: Any, elem: str) -> HostValue:
    scalar = lw.operand(value)
    if not isinstance(scalar, ScalarValue):
        raise lw.error(f"returns {value!r} as a scalar, but it is a tensor")
    target = mlir_elem(elem)
    ssa = lw.b.assign(f"memref.alloc() : memref<{target}>", "host")
    converted = lw.b.convert(scalar.ssa, scalar.elem, target)
    lw.b.line(f"memref.store {converted}, {ssa}[] : memref<{target}>")
    return HostValue(ssa, target, ())


def _materialized(lw: Lowering, host: HostValue) -> HostValue:
    """``host`` as a memref of its own: a returned view is copied out of the tensor it views."""
    if host.root is None:
        return host
    copy = HostValue("", host.elem, host.dims)
    ssa = lw.b.assign(f"memref.alloc({', '.join(host.dims)}) : {copy.type}", "host")
    copy = HostValue(ssa, host.elem, host.dims)
    with loop_nest(lw, host.dims) as indices:
        copy.store(lw.b, host.load(lw.b, indices), indices)
    return copy


@lowers("hl.rng_seed")
def lower_rng_seed(lw: Lowering, op: Mapping[str, Any]) -> None:
    # The launch's seeds are the kernel's last parameter; a seed is a one-element value.
    assert lw.seeds is not None
    slot = lw.b.index(int(op["slot"]))
    seed = lw.seeds.load(lw.b, [slot])
    lw.define(op["result"], generate(lw, "i64", [], [], lambda _indices: seed))


@lowers("hl.tile.begin_of", "hl.tile.end_of", "hl.tile.id", "hl.tile.count", "hl.tile.index")
def lower_tile_property(lw: Lowering, op: Mapping[str, Any]) -> None:
    tile = lw.tile(op["tile"])
    b = lw.b
    name = op["op"]
    if name == "hl.tile.index":
        elem = dm.recorded_elem(op) or "i32"
        value = generate(
            lw,
            elem,
            [None],
            [tile.size],
            lambda indices: b.convert(
                b.assign(f"arith.addi {tile.offset}, {indices[0]} : index"), "index", elem
            ),
        )
        lw.define(op["result"], value)
        return
    if name == "hl.tile.begin_of":
        result = tile.offset
    elif name == "hl.tile.end_of":
        result = b.assign(f"arith.addi {tile.offset}, {tile.size} : index")
    elif name == "hl.tile.id":
        result = b.assign(f"arith.floordivsi {tile.offset}, {tile.block} : index")
    else:
        extent = b.assign(f"arith.subi {tile.end}, {tile.begin} : index")
        result = b.assign(f"arith.ceildivsi {extent}, {tile.block} : index")
    lw.define(op["result"], ScalarValue(result, "index"))


@lowers("hl.subscript")
def lower_subscript(lw: Lowering, op: Mapping[str, Any]) -> None:
    src = lw.operand(op["src"])
    if not isinstance(src, TensorValue):
        raise lw.error("a subscript of a scalar")
    shape: list[int | None] = []
    dims: list[str] = []
    sources: list[Any] = []  # per source axis: a result axis number or a fixed position
    axis = 0
    for entry in op["index"]:
        if len(entry) != 1 or (axis >= len(src.shape) and "newaxis" not in entry):
            raise lw.error(f"subscript entry {dict(entry)!r}")
        if "newaxis" in entry:
            shape.append(1)
            dims.append(lw.b.index(1))
            continue
        if "full" in entry:
            sources.append(len(shape))
            shape.append(src.shape[axis])
            dims.append(src.dims[axis])
        elif "at" in entry:
            sources.append(("at", lw.index_expr(entry["at"])))
        else:
            raise lw.error(f"subscript entry {dict(entry)!r}")
        axis += 1
    for rest in range(axis, len(src.shape)):
        sources.append(len(shape))
        shape.append(src.shape[rest])
        dims.append(src.dims[rest])

    def element(indices: list[str]) -> str:
        positions = [s[1] if isinstance(s, tuple) else indices[s] for s in sources]
        return lw.b.assign(f"tensor.extract {src.ssa}[{', '.join(positions)}] : {src.type}")

    lw.define(op["result"], generate(lw, src.elem, shape, dims, element))


@lowers("torch.*")
def lower_torch(lw: Lowering, op: Mapping[str, Any]) -> None:
    name = dm.aten_name(op)
    if name in dm.POINTWISE or name in dm.COMPARISONS:
        dm.lower_pointwise(lw, op, name)
    elif name in _REDUCTIONS:
        dm.lower_reduction(lw, op, name)
    elif name in _MATMULS:
        dm.lower_matmul(lw, op, name)
    elif name in VIEWS:
        source = op["args"][0]
        host = lw.lookup(source) if isinstance(source, str) else None
        if isinstance(host, HostValue):
            lw.define(op["result"], host_view(lw, op, name, host))
            return
        operand = lw.operand(source)
        if not isinstance(operand, TensorValue):
            raise lw.error("a view of a scalar")
        lw.define(op["result"], device_view(lw, op, name, operand))
    elif name in ("full", "scalar_tensor"):
        attrs = op["attrs"]
        elem = dm.recorded_elem(op) or mlir_elem(attrs.get("dtype") or "f32")
        shape = attrs.get("size", [])
        _filled(lw, op, shape, attrs.get("fill_value", attrs.get("s")), elem)
    elif name == "iota":
        attrs = op["attrs"]
        elem = mlir_elem(attrs["dtype"])
        start, step = lw.index_expr(attrs["start"]), lw.index_expr(attrs["step"])
        length = attrs["length"]

        def element(indices: list[str]) -> str:
            scaled = lw.b.assign(f"arith.muli {indices[0]}, {step} : index")
            value = lw.b.assign(f"arith.addi {start}, {scaled} : index")
            return lw.b.convert(value, "index", elem)

        lw.define(
            op["result"],
            generate(lw, elem, [lw.static_extent(length)], [lw.index_expr(length)], element),
        )
    elif name == "stack":
        lw.define(op["result"], _stacked(lw, op))
    else:
        raise lw.error("this torch operator is not lowered to MLIR")


def _stacked(lw: Lowering, op: Mapping[str, Any]) -> TensorValue:
    """``torch.stack(parts, dim)``: a new axis at ``dim`` whose position ``k`` reads part
    ``k`` (the parts have one shape, as PyTorch requires)."""
    items = op["args"][0]
    if not isinstance(items, list) or not items:
        raise lw.error("torch.stack needs a non-empty list of operands")
    parts: list[TensorValue] = []
    for item in items:
        part = lw.operand(item)
        if not isinstance(part, TensorValue):
            raise lw.error("torch.stack of a scalar")
        parts.append(part)
    rank = len(parts[0].shape)
    if any(len(part.shape) != rank for part in parts):
        raise lw.error("torch.stack of tensors of different ranks")
    axis = int(op["attrs"].get("dim", 0)) % (rank + 1)
    elem = dm.recorded_elem(op) or dm.promoted(parts)
    shape = (*parts[0].shape[:axis], len(parts), *parts[0].shape[axis:])
    dims = (*parts[0].dims[:axis], lw.b.index(len(parts)), *parts[0].dims[axis:])

    def element(indices: list[str]) -> str:
        inner = indices[:axis] + indices[axis + 1 :]

        def part(k: int) -> str:
            return lw.b.convert(read(lw, parts[k], inner), parts[k].elem, elem)

        def choose(k: int) -> str:
            if k == len(parts) - 1:
                return part(k)
            is_k = lw.b.assign(f"arith.cmpi eq, {indices[axis]}, {lw.b.index(k)} : index")
            return select(lw, is_k, lambda: part(k), lambda: choose(k + 1), elem)

        return choose(0)

    return generate(lw, elem, shape, dims, element)


@lowers("hl.cumsum", "hl.cumprod")
def lower_scan(lw: Lowering, op: Mapping[str, Any]) -> None:
    src = lw.operand(op["src"])
    if not isinstance(src, TensorValue):
        raise lw.error("a scan of a scalar")
    rank = len(src.shape)
    axis = int(op["dim"]) % rank
    fold = "add" if op["op"] == "hl.cumsum" else "mul"
    reverse = bool(op.get("reverse"))
    b = lw.b

    def element(indices: list[str]) -> str:
        # Element j folds 0..j (reverse: j..end) in order.
        one = b.index(1)
        if reverse:
            low, high = indices[axis], src.dims[axis]
        else:
            low, high = b.index(0), b.assign(f"arith.addi {indices[axis]}, {one} : index")

        def step(k: str, carried: list[str]) -> list[str]:
            positions = list(indices)
            positions[axis] = k
            x = b.assign(f"tensor.extract {src.ssa}[{', '.join(positions)}] : {src.type}")
            return [dm.fold_op(b, fold, src.elem, carried[0], x)]

        init = dm.identity_of(b, fold, src.elem)
        return fold_loop(lw, low, high, [init], [src.elem], step)[0]

    lw.define(op["result"], generate(lw, src.elem, src.shape, src.dims, element))


@lowers("hl.split")
def lower_split(lw: Lowering, op: Mapping[str, Any]) -> None:
    src = lw.operand(op["src"])
    if not isinstance(src, TensorValue):
        raise lw.error("a split of a scalar")
    for half, name in enumerate(op["result"]):
        position = lw.b.index(half)

        def element(indices: list[str], position: str = position) -> str:
            return lw.b.assign(
                f"tensor.extract {src.ssa}[{', '.join([*indices, position])}] : {src.type}"
            )

        lw.define(name, generate(lw, src.elem, src.shape[:-1], src.dims[:-1], element))


@lowers("hl.join")
def lower_join(lw: Lowering, op: Mapping[str, Any]) -> None:
    first, second = (lw.operand(arg) for arg in op["args"])
    elem = dm.recorded_elem(op) or dm.promoted([first, second])
    shape, dims = broadcast_shape(lw, [first, second])
    b = lw.b

    def element(indices: list[str]) -> str:
        outer, last = indices[:-1], indices[-1]
        is_first = b.assign(f"arith.cmpi eq, {last}, {b.index(0)} : index")
        return select(
            lw,
            is_first,
            lambda: b.convert(read(lw, first, outer), first.elem, elem),
            lambda: b.convert(read(lw, second, outer), second.elem, elem),
            elem,
        )

    lw.define(op["result"], generate(lw, elem, [*shape, 2], [*dims, b.index(2)], element))
