"""Sums of the rows of a jagged tensor: each row's length is read from ``offsets``.

The inner loop's bound is a value loaded by the kernel, and its loads are
gathers through an index tensor with a mask.
"""

from __future__ import annotations

import itertools

import helion
import helion.language as hl
import torch


# h2j: args(torch.randn(100), torch.tensor([0, 10, 10, 45, 60, 100]))
# h2j: ref(reference_jagged_row_sums)
@helion.kernel(static_shapes=True)
def jagged_row_sums(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    rows = offsets.size(0) - 1
    out = torch.zeros([rows], dtype=values.dtype, device=values.device)
    for tile_r in hl.tile(rows):
        starts = offsets[tile_r]
        lengths = hl.load(offsets, [tile_r.index + 1]) - starts
        longest = lengths.amax()
        acc = hl.zeros([tile_r], dtype=values.dtype)
        for tile_k in hl.tile(0, longest):
            positions = starts[:, None] + tile_k.index[None, :]
            inside = tile_k.index[None, :] < lengths[:, None]
            acc = acc + hl.load(values, [positions], extra_mask=inside).sum(dim=1)
        out[tile_r] = acc
    return out


def reference_jagged_row_sums(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    bounds = offsets.tolist()
    return torch.stack([values[a:b].sum() for a, b in itertools.pairwise(bounds)])
