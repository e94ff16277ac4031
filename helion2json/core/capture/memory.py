"""Loads, stores, atomics and indexing: ``hl.load``, ``hl.store*``, ``hl.atomic_*``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.fx import Node

from helion2json.core import expr as ex
from helion2json.core.capture.reductions import accumulator_for, is_lowering_extra
from helion2json.core.capture.registry import handles
from helion2json.core.capture.symbols import block_of, block_size_node, looped_block_at, sym_expr
from helion2json.core.capture.values import (
    LoweringExtra,
    Named,
    PendingLoad,
    SymValue,
    TensorRef,
    Value,
    concrete_int,
    expr_of,
    scalar_json,
    value_of,
)

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


@handles("load", emits=("hl.subscript",))
def _h_load(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    tensor, index = node.args[0], node.args[1]
    extra_mask = node.args[2] if len(node.args) > 2 else None
    base = _memory_base(t, node, tensor, values, "hl.load")
    if not isinstance(base, TensorRef):
        # Indexing a device value (``tile.index[:, None]``) views it, as hl.subscript does.
        return _subscript(t, node, base, index, values)  # type: ignore[arg-type]
    result = node.meta.get("val")
    host = _tensor_val(tensor)
    entries, spec = index_entries(
        t,
        base.name,
        base.rank,
        _index_list(index),
        node,
        values,
        result if isinstance(result, torch.Tensor) else None,
        exact=True,
        base_shape=host.shape if host is not None else None,
    )
    mask = t.operand(values[extra_mask], node) if isinstance(extra_mask, Node) else None
    load = PendingLoad(node=node, base=base, index=entries, slice=spec, mask=mask)
    load.pad_to = _padding(t, node, result if isinstance(result, torch.Tensor) else None)
    t.walk.pending_loads.append(load)
    return load


def _padding(
    t: KernelTranslator, node: Node, result: torch.Tensor | None
) -> list[int | str | None] | None:
    """The block sizes a loaded tile is padded to, where elementwise math needs them.

    Helion pads an edge tile to its block size (masked elements read 0). The
    format clamps tiles, which is the same computation unless the value meets
    one whose axis is the block size itself (``hl.zeros([tile_m, 4]) + x[tile_m,
    tile_n]`` with blocks of 4 along ``n``): Helion's shapes then equate the tile
    with the number, and the load is padded to it.
    """
    if result is None:
        return None
    pad: list[int | str | None] = [None] * result.dim()
    for user in node.users:
        target = user.target
        shape = getattr(user.meta.get("val"), "shape", None)
        if shape is None or torch.Tag.pointwise not in getattr(target, "tags", ()):
            continue
        lead = len(shape) - result.dim()
        for axis, extent in enumerate(result.shape):
            block = t.tiles.block_by_symbol.get(expr_of(extent))
            number = concrete_int(shape[lead + axis]) if lead + axis >= 0 else None
            if block is not None and number is not None and number > 1:
                pad[axis] = number
            elif (
                block is not None
                and block.block_id in _loop_blocks(t, node)
                and _meets_a_block_sized_value(user, lead + axis, extent)
            ):
                pad[axis] = ex.format_expr(block_size_node(t, block))
    return pad if any(p is not None for p in pad) else None


def _loop_blocks(t: KernelTranslator, node: Node) -> set[int]:
    """The blocks of the tile loop whose body ``node`` is in."""
    for info in t.graphs:
        if getattr(info, "graph", None) is node.graph:
            return set(getattr(info, "block_ids", None) or ())
    return set()


def _meets_a_block_sized_value(user: Node, axis: int, extent: Any) -> bool:
    """Whether ``user`` (or elementwise math on its result) combines the load with a value
    made before the tile's loop whose ``axis`` is the tile's block (``acc =
    hl.zeros([tile_m, block_n])``, carried in).

    Inside the loop that axis is the block size (a symbol of
    ``hl.register_block_size``), where the format clamps the tile.
    """
    pending, seen = [user], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if _combines_with_carried(current, axis, extent):
            return True
        pending.extend(
            later
            for later in current.users
            if torch.Tag.pointwise in getattr(later.target, "tags", ())
            and getattr(later.meta.get("val"), "dim", lambda: -1)() == current.meta["val"].dim()
        )
    return False


def _combines_with_carried(user: Node, axis: int, extent: Any) -> bool:
    for operand in user.args:
        # ``acc += ...`` reads the carried value through a ``_new_var`` of it.
        while isinstance(operand, Node) and getattr(operand.target, "__name__", "") == "_new_var":
            operand = operand.args[0]
        if not isinstance(operand, Node) or operand.op != "placeholder":
            continue
        shape = getattr(operand.meta.get("val"), "shape", None)
        lead = 0 if shape is None else len(user.meta["val"].shape) - len(shape)
        if (
            shape is not None
            and 0 <= axis - lead < len(shape)
            and expr_of(shape[axis - lead]) == expr_of(extent)
        ):
            return True
    return False


@handles("store", emits=("hl.store_slice", "hl.store"))
def _h_store(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    tensor, index, value = node.args[0], node.args[1], node.args[2]
    extra_mask = node.args[3] if len(node.args) > 3 else None
    base = _host_target(t, node, _memory_base(t, node, tensor, values, "hl.store"), "hl.store")
    t.flush_pending_loads(base.name)
    entries, spec = index_entries(
        t, base.name, base.rank, _index_list(index), node, values, _tensor_val(value)
    )
    src = t.inline_or_name(value_of(value, values), node)
    op: dict[str, Any]
    if spec is not None:
        op = {"op": "hl.store_slice", "dst": base.name, "offsets": spec["offsets"], "src": src}
        if _broadcasts_into(_tensor_val(value), spec["sizes"]):
            op["sizes"] = spec["sizes"]
    else:
        op = {"op": "hl.store", "dst": base.name, "index": entries, "src": src}
    if isinstance(extra_mask, Node):
        op["mask"] = t.operand(values[extra_mask], node)
    t.emit(op, node)
    return None


_ATOMICS = (
    "atomic_add",
    "atomic_and",
    "atomic_or",
    "atomic_xor",
    "atomic_max",
    "atomic_min",
    "atomic_xchg",
    "atomic_cas",
)


@handles(*_ATOMICS, emits=tuple(f"hl.{name}" for name in _ATOMICS))
def _h_atomic(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    kind = getattr(node.target, "__name__", "atomic")
    tensor, index = node.args[0], node.args[1]
    if kind == "atomic_cas":
        expected, value = node.args[2], node.args[3]
        sem = node.args[4] if len(node.args) > 4 else "relaxed"
    else:
        expected, value = None, node.args[2]
        sem = node.args[3] if len(node.args) > 3 else "relaxed"
    target = _memory_base(t, node, tensor, values, f"hl.{kind}")
    base = _host_target(t, node, target, f"hl.{kind}")
    t.flush_pending_loads(base.name)
    entries, _ = index_entries(
        t, base.name, base.rank, _index_list(index), node, values, _tensor_val(value)
    )
    op: dict[str, Any] = {
        "op": f"hl.{kind}",
        "dst": base.name,
        "index": entries,
        "src": t.inline_or_name(value_of(value, values), node),
    }
    if kind == "atomic_cas":
        op["expected"] = t.operand(value_of(expected, values), node)
    op["sem"] = sem
    result: Value = None
    if node.users:
        op["result"] = t.result_name(node)
        result = Named(op["result"])
    t.emit(op, node)
    return result


@handles("_mask_to", emits=("hl.mask_to",))
def _h_mask_to(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    src, other = node.args
    if node.users and all(
        is_lowering_extra(user) and accumulator_for(t, user) is None for user in node.users
    ):
        # Masks the input of a split op's piece, which is not emitted: the op is,
        # with its traced (unmasked) operands.
        return LoweringExtra(node)
    name = t.result_name(node)
    t.emit(
        {
            "op": "hl.mask_to",
            "src": t.operand(values[src], node),  # type: ignore[index]
            "value": scalar_json(other),
            "result": name,
        },
        node,
    )
    return Named(name)


@handles("subscript", emits=("hl.subscript",))
def _h_subscript(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return _subscript(t, node, values[node.args[0]], node.args[1], values)  # type: ignore[index,arg-type]


def _subscript(
    t: KernelTranslator, node: Node, source: Value, index: Sequence[Any], values: dict[Node, Value]
) -> Value:
    src = t.operand(source, node)
    entries, _ = index_entries(t, "", None, index, node, values, None)
    name = t.result_name(node)
    t.emit({"op": "hl.subscript", "src": src, "index": entries, "result": name}, node)
    return Named(name)


def _memory_base(
    t: KernelTranslator, node: Node, tensor: Any, values: dict[Node, Value], op: str
) -> Value:
    """What a memory op reads or writes: a host tensor or a device value.

    A stacked tensor (``hl.stacktensor_like``) is a pair of a template tensor and
    a tensor of raw device addresses; the format has no addresses to read through.
    """
    if isinstance(tensor, (tuple, list)):
        raise t.unsupported(
            f"{op} through a stacked tensor (hl.stacktensor_like): the format has no "
            "tensors addressed by raw device pointers",
            node,
            op="hl.stacktensor_like",
        )
    return values[tensor]


def _host_target(t: KernelTranslator, node: Node, value: Value, op: str) -> TensorRef:
    if not isinstance(value, TensorRef):
        raise t.unsupported(f"{op} into a value that is not a host tensor", node, op=op)
    return value


def _index_list(index: Any) -> list[Any]:
    if not isinstance(index, (list, tuple)):
        raise TypeError(f"a memory op's index is {type(index).__name__}, not a list")
    return list(index)


def _tensor_val(value: Any) -> torch.Tensor | None:
    val = value.meta.get("val") if isinstance(value, Node) else None
    return val if isinstance(val, torch.Tensor) else None


def _broadcasts_into(src: torch.Tensor | None, window: Sequence[ex.Expr]) -> bool:
    """True when a stored value does not have the window's shape and broadcasts to it.

    A scalar, a lower-rank value, or an axis of extent 1 where the window's
    extent is not 1 (``out[tile_m, tile_n] = row[None, tile_n]``) all leave the
    window's extents unknown from ``src`` alone.
    """
    if src is None or src.dim() != len(window):
        return True
    return any(
        isinstance(extent, int) and extent == 1 and size != 1
        for extent, size in zip(src.shape, window, strict=True)
    )


def _extent_one(shape: Sequence[Any] | None, axis: int) -> bool:
    return shape is not None and axis < len(shape) and concrete_int(shape[axis]) == 1


def _difference(end: ex.Expr, begin: ex.Expr) -> ex.Expr:
    if isinstance(end, int) and isinstance(begin, int):
        return end - begin
    if begin == 0:
        return end
    return ex.format_expr(ex.BinOp("-", ex.parse_expr(end), ex.parse_expr(begin)))


def _slice_bounds(
    t: KernelTranslator,
    item: slice,
    base_name: str,
    axis: int,
    node: Node,
    values: dict[Node, Value],
) -> tuple[ex.Expr, ex.Expr]:
    """``begin`` and ``end`` of a bounded slice ``x[a:b]`` of axis ``axis``, as expressions.

    A missing bound is the axis' start or end; a negative number counts from the end.
    """
    if item.step not in (None, 1):
        raise t.unsupported(
            f"slice {item} with a step: the format selects unit-stride ranges", node
        )
    extent: ex.Node | None = ex.Dim(base_name, axis) if base_name else None

    def bound(value: Any, missing: ex.Node | None) -> ex.Expr:
        if value is None:
            if missing is None:
                raise t.unsupported(
                    f"slice {item} of a device value without an end: its extent is unknown",
                    node,
                )
            return ex.format_expr(missing)
        number = concrete_int(value)
        if number is not None and number < 0:
            if extent is None:
                raise t.unsupported(f"slice {item} of a device value from its end", node)
            return ex.format_expr(ex.BinOp("-", extent, ex.Num(-number)))
        if isinstance(value, Node):
            # A scalar the kernel computed (a loaded offset): its name, or its expression.
            operand = t.operand(values[value], node)
            return operand["expr"] if isinstance(operand, dict) else operand
        return sym_expr(t, value, node, scalar=True)

    return bound(item.start, ex.Num(0)), bound(item.stop, extent)


def index_entries(
    t: KernelTranslator,
    base_name: str,
    base_rank: int | None,
    index: Sequence[Any],
    node: Node,
    values: dict[Node, Value],
    result: torch.Tensor | None,
    *,
    exact: bool = False,
    base_shape: Sequence[Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Index entries, and the equivalent rectangular slice where there is one.

    ``result`` is the indexed value as the IR has it: it says which full
    slices (``x[tile, :]``) run over a reduction loop's tile. With ``exact``
    (a load, whose result is exactly the indexed window) it also checks
    that the entries describe the shape Helion computes. ``base_shape`` (a
    load's) tells the axes of extent 1, which a tile indexes by broadcasting.
    """
    entries: list[dict[str, Any]] = []
    offsets: list[ex.Expr] = []
    sizes: list[ex.Expr] = []
    # (entry position, rank) of every tensor entry: their axes are counted below.
    tensors: list[tuple[int, int]] = []
    rectangular = True
    axis = 0
    out_axis = 0
    for item in index:
        if item is None:
            entries.append({"newaxis": True})
            rectangular = False
            out_axis += 1
            continue
        if isinstance(item, slice) and item != slice(None):
            begin, end = _slice_bounds(t, item, base_name, axis, node, values)
            entries.append({"range": [begin, end]})
            offsets.append(begin)
            sizes.append(_difference(end, begin))
            axis += 1
            out_axis += 1
            continue
        if isinstance(item, slice):
            block = looped_block_at(t, result, out_axis)
            if block is not None:
                entries.append({"tile": block.tile})
                offsets.append(block.tile)
                sizes.append(f"size({block.tile})")
            else:
                entries.append({"full": True})
                offsets.append(0)
                sizes.append(f"dim({base_name},{axis})")
            axis += 1
            out_axis += 1
            continue
        value = values[item] if isinstance(item, Node) else SymValue(item)
        block = block_of(t, value)
        if block is not None and _extent_one(base_shape, axis):
            # Helion leaves a size-1 axis out of the address and broadcasts it to the tile.
            entries.append({"broadcast": block.tile})
            rectangular = False
            out_axis += 1
        elif block is not None:
            entries.append({"tile": block.tile})
            offsets.append(block.tile)
            sizes.append(f"size({block.tile})")
            out_axis += 1
        elif isinstance(value, SymValue):
            entries.append({"at": sym_expr(t, value.value, node, scalar=True)})
            rectangular = False
        else:
            indexer = item.meta.get("val") if isinstance(item, Node) else None
            rank = indexer.dim() if isinstance(indexer, torch.Tensor) else 0
            rectangular = False
            if rank == 0:
                # A scalar value (tile.id, a loaded count) picks one position.
                entries.append({"at": t.operand(value, node)})
            else:
                tensors.append((len(entries), rank))
                entries.append({"tensor": t.operand(value, node)})
                out_axis += rank
        axis += 1
    if len(tensors) > 1 and any(rank != 1 for _, rank in tensors):
        # Tensor entries broadcast together (unless all are 1-D: a cartesian
        # product), which the format defines for consecutive entries only.
        positions = [position for position, _ in tensors]
        if positions != list(range(positions[0], positions[0] + len(positions))):
            raise t.unsupported("tensor index entries that are not consecutive", node)
        out_axis += max(rank for _, rank in tensors) - sum(rank for _, rank in tensors)
    if exact and result is not None and out_axis != result.dim():
        raise t.unsupported(
            f"an index whose result has rank {result.dim()} where the format's indexing "
            f"rules give {out_axis}",
            node,
        )
    if base_rank is None or axis != base_rank:
        rectangular = False
    spec = {"base": base_name, "offsets": offsets, "sizes": sizes} if rectangular else None
    return entries, spec
