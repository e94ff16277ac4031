"""Executors of loads, stores and atomics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, get_args

import torch

from helion2json.core.format_types import IndexEntry, SliceSpec, TensorIndex
from helion2json.core.ops import AtomicOp, LoadOp, StoreOp, StoreSliceOp
from helion2json.interpret.indexing import index_items, load_slice, take, window
from helion2json.interpret.registry import executes
from helion2json.interpret.values import InterpretError

if TYPE_CHECKING:
    from helion2json.interpret.machine import Interpreter


def _broadcast(value: Any, shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(value, device=like.device).to(like.dtype)
    return tensor.broadcast_to(shape)


def _write_linear(dst: torch.Tensor, positions: torch.Tensor, values: torch.Tensor) -> None:
    if dst.is_contiguous():
        dst.view(-1)[positions] = values
        return
    flat = dst.contiguous().view(-1)
    flat[positions] = values
    dst.copy_(flat.view(dst.shape))


def _atomic(
    op: str,
    dst: torch.Tensor,
    positions: torch.Tensor,
    values: torch.Tensor,
    expected: torch.Tensor | None,
    want_old: bool,
) -> torch.Tensor:
    """Apply an atomic update element by element in row-major order; return the old values."""
    flat = dst.contiguous().view(-1)
    unique = positions.unique().numel() == positions.numel()
    old = flat[positions].clone()
    if unique or (not want_old and op in ("hl.atomic_add", "hl.atomic_max", "hl.atomic_min")):
        if op == "hl.atomic_add":
            flat.index_put_((positions,), values, accumulate=True)
        elif op in ("hl.atomic_max", "hl.atomic_min"):
            reduce = "amax" if op == "hl.atomic_max" else "amin"
            flat.scatter_reduce_(0, positions, values, reduce=reduce, include_self=True)
        else:
            flat[positions] = _combine(op, old, values, expected)
    else:
        # Repeated positions: each update sees the ones before it, as atomics do.
        for i in range(positions.numel()):
            position = positions[i]
            old[i] = flat[position]
            flat[position] = _combine(
                op, old[i], values[i], None if expected is None else expected[i]
            )
    if not dst.is_contiguous():
        dst.copy_(flat.view(dst.shape))
    return old


def _combine(
    op: str, old: torch.Tensor, value: torch.Tensor, expected: torch.Tensor | None
) -> torch.Tensor:
    if op == "hl.atomic_add":
        return old + value
    if op == "hl.atomic_max":
        return torch.maximum(old, value)
    if op == "hl.atomic_min":
        return torch.minimum(old, value)
    if op == "hl.atomic_and":
        return old & value
    if op == "hl.atomic_or":
        return old | value
    if op == "hl.atomic_xor":
        return old ^ value
    if op == "hl.atomic_xchg":
        return value
    assert expected is not None
    return torch.where(old == expected, value, old)  # hl.atomic_cas


def gather(
    it: Interpreter, base: torch.Tensor, entries: Sequence[IndexEntry], mask: torch.Tensor | None
) -> torch.Tensor:
    items = index_items(it, entries, base, clamp=mask is not None)
    value = take(base, items).clone()
    if mask is not None:
        value = torch.where(mask.to(torch.bool), value, torch.zeros_like(value))
    return value


def linear_positions(
    it: Interpreter, dst: torch.Tensor, entries: Sequence[IndexEntry], clamp: bool
) -> torch.Tensor:
    """The linear position in ``dst`` of every element an index selects."""
    items = index_items(it, entries, dst, clamp=clamp)
    return take(_linear(it, dst), items)


def _linear(it: Interpreter, dst: torch.Tensor) -> torch.Tensor:
    """Each element's linear position in a tensor of ``dst``'s shape."""
    shape = tuple(dst.shape)
    linear = it.linear.get(shape)
    if linear is None:
        linear = torch.arange(dst.numel(), device=dst.device).reshape(shape)
        it.linear[shape] = linear
    return linear


def mask_of(it: Interpreter, name: str | None) -> torch.Tensor | None:
    if name is None:
        return None
    value = it.env.get(name)
    if not isinstance(value, torch.Tensor):
        return torch.tensor(bool(value), device=it.device)
    return value.to(torch.bool)


@executes("hl.load")
def execute_load(it: Interpreter, op: LoadOp) -> None:
    mask = mask_of(it, op.mask)
    if op.slice is not None:
        value = load_slice(it, op.slice) if mask is None else _masked_window(it, op.slice, mask)
    else:
        assert op.base is not None and op.index is not None
        value = gather(it, it.host_tensor(op.base), op.index, mask)
    if op.pad_to is not None:
        value = _padded(it, value, op.pad_to)
    it.define(op.result, value)


def _masked_window(it: Interpreter, spec: SliceSpec, mask: torch.Tensor) -> torch.Tensor:
    """A slice load whose masked-off positions may lie outside the base: they read as 0.

    Only the part of the window inside the base is read; a masked-on position
    outside it is an error.
    """
    base = it.host_tensor(spec.base)
    if len(spec.offsets) != base.dim():
        raise InterpretError(f"{len(spec.offsets)} offsets into a tensor of rank {base.dim()}")
    sizes = [it.int_expr(size) for size in spec.sizes]
    value = torch.zeros(sizes, dtype=base.dtype, device=base.device)
    inside = torch.ones(sizes, dtype=torch.bool, device=base.device)
    source: list[slice] = []
    target: list[slice] = []
    for axis, (offset_expr, size) in enumerate(zip(spec.offsets, sizes, strict=True)):
        offset = it.int_expr(offset_expr)
        first, last = max(offset, 0), min(offset + size, base.shape[axis])
        source.append(slice(first, max(first, last)))
        target.append(slice(first - offset, max(first, last) - offset))
        positions = torch.arange(offset, offset + size, device=base.device)
        shape = [1] * len(sizes)
        shape[axis] = size
        inside &= ((positions >= 0) & (positions < base.shape[axis])).reshape(shape)
    selected = mask.broadcast_to(sizes)
    if bool((selected & ~inside).any()):
        raise InterpretError(f"a masked-on element of the window lies outside {spec.base}")
    value[tuple(target)] = base[tuple(source)]
    return torch.where(selected, value, torch.zeros_like(value))


def _padded(it: Interpreter, value: torch.Tensor, pad_to: Sequence[Any]) -> torch.Tensor:
    """``value`` with zeros appended along each axis up to its ``pad_to`` extent."""
    if len(pad_to) != value.dim():
        raise InterpretError(f"pad_to has {len(pad_to)} entries for a {value.dim()}-d value")
    widths: list[int] = []
    for axis in reversed(range(value.dim())):
        extent = pad_to[axis]
        target = value.shape[axis] if extent is None else it.int_expr(extent)
        if target < value.shape[axis]:
            raise InterpretError(
                f"axis {axis} of extent {value.shape[axis]} cannot be padded to {target}"
            )
        widths += [0, target - value.shape[axis]]
    return torch.nn.functional.pad(value, widths)


@executes("hl.store_slice")
def execute_store_slice(it: Interpreter, op: StoreSliceOp) -> None:
    dst = it.host_tensor(op.dst)
    src = it.operand(op.src)
    if op.sizes is not None:
        # The window is given; the source broadcasts to it.
        extents = [it.int_expr(size) for size in op.sizes]
        place = window(it, dst, op.offsets, extents)
        target = dst[place]
        value = torch.as_tensor(src, device=dst.device).to(dst.dtype).expand(target.shape)
        mask = mask_of(it, op.mask)
        _note_window_store(it, op.dst, dst, place, mask)
        if mask is not None:
            value = torch.where(mask, value, target)
        target.copy_(value)
        return
    if not isinstance(src, torch.Tensor) or src.dim() != dst.dim():
        # The window's extents are the source's shape; a scalar or lower-rank
        # source leaves them unknown.
        got = f"rank {src.dim()}" if isinstance(src, torch.Tensor) else repr(src)
        raise InterpretError(
            f"hl.store_slice needs a source of the destination's rank {dst.dim()} "
            f"(its shape gives the window), got {got}"
        )
    place = window(it, dst, op.offsets, list(src.shape))
    target = dst[place]
    mask = mask_of(it, op.mask)
    _note_window_store(it, op.dst, dst, place, mask)
    value = src.to(dst.dtype)
    if mask is not None:
        value = torch.where(mask, value, target)
    target.copy_(value)


@executes("hl.store")
def execute_store(it: Interpreter, op: StoreOp) -> None:
    dst = it.host_tensor(op.dst)
    src = it.operand(op.src)
    mask = mask_of(it, op.mask)
    if mask is None and not any(isinstance(e, TensorIndex) for e in op.index):
        items = index_items(it, op.index, dst, clamp=False)
        if it.writes.program is not None:
            it.writes.store(op.dst, dst, take(_linear(it, dst), items))
        dst[tuple(items)] = src.to(dst.dtype) if isinstance(src, torch.Tensor) else src
        return
    positions = linear_positions(it, dst, op.index, clamp=mask is not None)
    values = _broadcast(src, positions.shape, dst)
    if mask is None:
        it.writes.store(op.dst, dst, positions)
        _write_linear(dst, positions.reshape(-1), values.reshape(-1))
        return
    selected = mask.broadcast_to(positions.shape)
    it.writes.store(op.dst, dst, positions[selected])
    _write_linear(dst, positions[selected], values[selected])


def _note_window_store(
    it: Interpreter, name: str, dst: torch.Tensor, place: Any, mask: torch.Tensor | None
) -> None:
    if it.writes.program is None:
        return
    positions = _linear(it, dst)[place]
    if mask is not None:
        positions = positions[mask.broadcast_to(positions.shape)]
    it.writes.store(name, dst, positions)


@executes(*get_args(AtomicOp.model_fields["op"].annotation))
def execute_atomic(it: Interpreter, op: AtomicOp) -> None:
    dst = it.host_tensor(op.dst)
    positions = linear_positions(it, dst, op.index, clamp=False)
    values = _broadcast(it.operand(op.src), positions.shape, dst).reshape(-1)
    flat_positions = positions.reshape(-1)
    expected = None
    if op.op == "hl.atomic_cas":
        expected = _broadcast(it.operand(op.expected), positions.shape, dst).reshape(-1)
    old = _atomic(op.op, dst, flat_positions, values, expected, op.result is not None)
    if op.result is not None:
        it.define(op.result, old.reshape(positions.shape))
