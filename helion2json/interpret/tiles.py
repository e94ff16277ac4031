"""Executors of tile properties, block sizes, barriers and the launch's random seeds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import torch

from helion2json.core.ops import BarrierOp, RegisterBlockSizeOp, RngSeedOp, TilePropertyOp
from helion2json.interpret.registry import executes
from helion2json.interpret.writes import LaunchWrites

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
    # It ends a launch: the next one's programs may store what this one's stored.
    del op
    it.writes = LaunchWrites()


def _count_seed_slot(it: Interpreter, op: RngSeedOp) -> None:
    it.rng_slots = max(it.rng_slots, op.slot + 1)


@executes("hl.rng_seed", plan=_count_seed_slot)
def execute_rng_seed(it: Interpreter, op: RngSeedOp, plan: None) -> None:
    del plan
    it.define(op.result, it.seeds()[op.slot].clone())
