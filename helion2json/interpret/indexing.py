"""Windows and index entries: how the format selects elements of a tensor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from helion2json.core import expr as ex
from helion2json.core.format_types import (
    AtIndex,
    BroadcastIndex,
    FullIndex,
    IndexEntry,
    NewAxisIndex,
    RangeIndex,
    SliceSpec,
    TensorIndex,
    TileIndex,
)
from helion2json.interpret.values import InterpretError

if TYPE_CHECKING:
    from helion2json.interpret.machine import Interpreter


def take(base: torch.Tensor, items: list[Any]) -> torch.Tensor:
    """``base`` indexed by ``items`` (slices, ints, index tensors, None) as the format indexes.

    PyTorch's rules, except that two or more one-dimensional index tensors select
    the cartesian product of their positions, each contributing its own axis where
    it stands (as Helion indexes), where PyTorch would pair them up.
    """
    tensors = [
        item for item in items if isinstance(item, torch.Tensor) and item.dtype != torch.bool
    ]
    if len(tensors) < 2 or any(t.dim() != 1 for t in tensors):
        return base[tuple(items)]
    # Every entry becomes an index tensor along its own result axis; their outer
    # product then selects the cartesian product in entry order.
    consuming = [item for item in items if item is not None]
    axes = sum(1 for item in consuming if not isinstance(item, int))
    index: list[torch.Tensor] = []
    position = 0
    for axis, item in enumerate(consuming):
        if isinstance(item, int):
            index.append(torch.tensor(item, device=base.device))
            continue
        if isinstance(item, slice):
            item = torch.arange(*item.indices(base.shape[axis]), device=base.device)
        shape = [1] * axes
        shape[position] = -1
        index.append(item.reshape(shape))
        position += 1
    value = base[tuple(index)]
    # Each newaxis entry adds an axis of extent 1 where it stands.
    position = 0
    for item in items:
        if item is None:
            value = value.unsqueeze(position)
        if not isinstance(item, int):
            position += 1
    return value


def window(
    it: Interpreter, base: torch.Tensor, offsets: Sequence[ex.Expr], sizes: Sequence[int]
) -> Any:
    if len(offsets) != base.dim():
        raise InterpretError(f"{len(offsets)} offsets into a tensor of rank {base.dim()}")
    index = []
    for axis, (offset_expr, size) in enumerate(zip(offsets, sizes, strict=True)):
        offset = it.int_expr(offset_expr)
        if offset < 0 or size < 0 or offset + size > base.shape[axis]:
            raise InterpretError(
                f"window [{offset}, {offset + size}) is outside axis {axis} "
                f"of extent {base.shape[axis]}"
            )
        index.append(slice(offset, offset + size))
    return tuple(index)


def load_slice(it: Interpreter, spec: SliceSpec) -> torch.Tensor:
    base = it.host_tensor(spec.base)
    sizes = [it.int_expr(size) for size in spec.sizes]
    # A load is a value: later stores into the base must not change it.
    return base[window(it, base, spec.offsets, sizes)].clone()


def index_items(
    it: Interpreter, entries: Sequence[IndexEntry], base: torch.Tensor | None, clamp: bool
) -> list[Any]:
    """Python index items for ``entries`` (``clamp``: keep positions inside ``base``)."""
    items: list[Any] = []
    axis = 0
    for entry in entries:
        extent = base.shape[axis] if base is not None and axis < base.dim() else None
        if isinstance(entry, TileIndex):
            tile = it.tile(entry.tile)
            items.append(slice(tile.offset, tile.offset + tile.size))
        elif isinstance(entry, BroadcastIndex):
            # Helion drops a size-1 axis from the address: every lane reads position 0.
            size = it.tile(entry.broadcast).size
            items.append(torch.zeros(size, dtype=torch.int64, device=it.device))
        elif isinstance(entry, FullIndex):
            items.append(slice(None))
        elif isinstance(entry, RangeIndex):
            begin, end = (it.int_expr(bound) for bound in entry.range)
            if extent is not None and not 0 <= begin <= end <= extent:
                raise InterpretError(
                    f"range [{begin}, {end}) is outside axis {axis} of extent {extent}"
                )
            items.append(slice(begin, end))
        elif isinstance(entry, AtIndex):
            position = it.int_expr(entry.at)
            if clamp and extent is not None:
                position = min(max(position, 0), extent - 1)
            items.append(position)
        elif isinstance(entry, TensorIndex):
            positions = it.env.get(entry.tensor)
            if not isinstance(positions, torch.Tensor):
                positions = torch.as_tensor(positions, device=it.device)
            if clamp and extent is not None and positions.dtype != torch.bool:
                # Masked-off positions may be out of range; they are never read.
                positions = positions.clamp(0, extent - 1)
            items.append(positions)
        elif isinstance(entry, NewAxisIndex):
            items.append(None)
            continue
        axis += 1
    return items
