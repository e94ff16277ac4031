"""Executors of tile properties, block sizes and barriers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import torch

from helion2json.core.ops import BarrierOp, RegisterBlockSizeOp, TilePropertyOp
from helion2json.interpret.registry import executes

if TYPE_CHECKING:
    from helion2json.interpret.machine import Interpreter


# The dtype of hl.tile.index: Helion's index dtype, int32 unless a tensor needs 64-bit indices.
INDEX_DTYPE = torch.int32


@executes(*get_args(TilePropertyOp.model_fields["op"].annotation))
def execute_tile_property(it: Interpreter, op: TilePropertyOp) -> None:
    tile = it.tile(op.tile)
    value: Any
    if op.op == "hl.tile.index":
        value = torch.arange(
            tile.offset, tile.offset + tile.size, dtype=INDEX_DTYPE, device=it.device
        )
    elif op.op == "hl.tile.begin_of":
        value = tile.offset
    elif op.op == "hl.tile.end_of":
        value = tile.offset + tile.size
    elif op.op == "hl.tile.id":
        value = tile.offset // tile.block
    else:  # hl.tile.count
        value = -(-(tile.end - tile.begin) // tile.block)
    it.define(op.result, value)


@executes("hl.register_block_size")
def execute_register_block_size(it: Interpreter, op: RegisterBlockSizeOp) -> None:
    it.define(op.result, it.int_expr(op.size))


@executes("hl.barrier")
def execute_barrier(it: Interpreter, op: BarrierOp) -> None:
    # Grid loops run to completion one after the other: the barrier always holds.
    del op
