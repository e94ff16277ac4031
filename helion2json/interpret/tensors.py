"""Executors of ops that make or reshape values: allocations, fills, dot, split, join."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from helion2json.core.format_types import BroadcastIndex, TileIndex
from helion2json.core.ops import (
    AllocOp,
    AssignOp,
    DotOp,
    FullOp,
    JoinOp,
    MaskToOp,
    ReturnOp,
    SplitOp,
    SubscriptOp,
    ZerosOp,
)
from helion2json.interpret.indexing import index_items, take
from helion2json.interpret.registry import executes
from helion2json.interpret.values import NON_FINITE, InterpretError, dtype_of

if TYPE_CHECKING:
    from helion2json.interpret.machine import Interpreter


def _poison(dtype: torch.dtype) -> Any:
    if dtype.is_floating_point or dtype.is_complex:
        return math.nan
    if dtype == torch.bool:
        return True
    return torch.iinfo(dtype).min


def _dot(
    a: torch.Tensor,
    b: torch.Tensor,
    acc: torch.Tensor | None,
    out_elem: str | None,
    result_elem: str | None,
) -> torch.Tensor:
    """``a @ b`` accumulated in a wide type, rounded to ``out_dtype``, plus ``acc``."""
    if not (a.dtype.is_floating_point or b.dtype.is_floating_point):
        wide, accumulated = torch.int64, torch.int32
    elif torch.float64 in (a.dtype, b.dtype):
        wide = accumulated = torch.float64
    else:
        wide = accumulated = torch.float32
    product = torch.matmul(a.to(wide), b.to(wide))
    product = product.to(dtype_of(out_elem) if out_elem is not None else accumulated)
    result = product if acc is None else acc + product
    return result.to(dtype_of(result_elem)) if result_elem is not None else result


@executes("hl.alloc")
def execute_alloc(it: Interpreter, op: AllocOp) -> None:
    dtype = dtype_of(op.dtype)
    shape = it.shape(op.shape)
    if op.fill is None:
        # Unspecified contents: poison them so a kernel (or a document) that
        # leaves part of an output unwritten cannot match its reference.
        fill = _poison(dtype)
    else:
        fill = NON_FINITE.get(op.fill, op.fill) if isinstance(op.fill, str) else op.fill
    it.define(op.result, torch.full(shape, fill, dtype=dtype, device=it.device))


@executes("hl.zeros")
def execute_zeros(it: Interpreter, op: ZerosOp) -> None:
    dtype = dtype_of(op.dtype)
    it.define(op.result, torch.zeros(it.shape(op.shape), dtype=dtype, device=it.device))


@executes("hl.full")
def execute_full(it: Interpreter, op: FullOp) -> None:
    value = it.operand(op.value)
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise InterpretError(f"fill value has {value.numel()} elements, not one")
        value = value.item()
    dtype = dtype_of(op.dtype)
    it.define(op.result, torch.full(it.shape(op.shape), value, dtype=dtype, device=it.device))


@executes("hl.mask_to")
def execute_mask_to(it: Interpreter, op: MaskToOp) -> None:
    # Tiles are clamped to their extents, so no element lies outside them.
    it.define(op.result, it.env.get(op.src))


@executes("hl.assign")
def execute_assign(it: Interpreter, op: AssignOp) -> None:
    it.define(op.result, it.operand(op.src))


@executes("hl.subscript")
def execute_subscript(it: Interpreter, op: SubscriptOp) -> None:
    src = it.tensor_operand(op.src, "the subscripted value")
    if any(isinstance(entry, TileIndex | BroadcastIndex) for entry in op.index):
        raise InterpretError(
            "a tile entry in hl.subscript has no documented meaning for a device value"
        )
    items = index_items(it, op.index, None, clamp=False)
    it.define(op.result, take(src, items))


@executes("hl.dot")
def execute_dot(it: Interpreter, op: DotOp) -> None:
    if len(op.args) not in (2, 3):
        raise InterpretError(f"hl.dot takes 2 or 3 args (a, b, acc), got {len(op.args)}")
    a = it.tensor_operand(op.args[0], "args[0]")
    b = it.tensor_operand(op.args[1], "args[1]")
    acc = it.tensor_operand(op.args[2], "args[2]") if len(op.args) == 3 else None
    it.define(op.result, _dot(a, b, acc, op.out_dtype, op.dtype))


@executes("hl.split")
def execute_split(it: Interpreter, op: SplitOp) -> None:
    src = it.tensor_operand(op.src, "src")
    if src.shape[-1] != len(op.result):
        raise InterpretError(
            f"hl.split of a last axis of extent {src.shape[-1]} into {len(op.result)} values"
        )
    for name, part in zip(op.result, torch.unbind(src, dim=-1), strict=True):
        it.define(name, part)


@executes("hl.join")
def execute_join(it: Interpreter, op: JoinOp) -> None:
    parts = [it.tensor_operand(arg, f"args[{i}]") for i, arg in enumerate(op.args)]
    it.define(op.result, torch.stack(torch.broadcast_tensors(*parts), dim=-1))


@executes("hl.return")
def execute_return(it: Interpreter, op: ReturnOp) -> None:
    it.returned = [it.operand(value) for value in op.values]
