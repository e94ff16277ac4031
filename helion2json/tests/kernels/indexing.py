"""Gathers through index tensors and loops whose bounds are read from memory."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def embedding(indices: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Rows of ``weight`` picked by an index tensor."""
    (count,) = indices.size()
    _, dim = weight.size()
    out = torch.empty([count, dim], dtype=weight.dtype, device=weight.device)
    for tile_b, tile_e in hl.tile([count, dim], block_size=[4, 8]):
        out[tile_b, tile_e] = weight[indices[tile_b], tile_e]
    return out


@helion.kernel(static_shapes=True)
def jagged_row_sums(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Row ``r`` sums ``values[offsets[r]:offsets[r + 1]]``: the loop bound is loaded."""
    rows = offsets.size(0) - 1
    out = torch.zeros([rows], dtype=values.dtype, device=values.device)
    for tile_r in hl.tile(rows, block_size=2):
        starts = offsets[tile_r]
        ends = hl.load(offsets, [tile_r.index + 1])
        lengths = ends - starts
        longest = lengths.amax()
        acc = hl.zeros([tile_r], dtype=values.dtype)
        for tile_k in hl.tile(0, longest, block_size=4):
            positions = starts[:, None] + tile_k.index[None, :]
            inside = tile_k.index[None, :] < lengths[:, None]
            chunk = hl.load(values, [positions], extra_mask=inside)
            acc = acc + chunk.sum(dim=1)
        out[tile_r] = acc
    return out
