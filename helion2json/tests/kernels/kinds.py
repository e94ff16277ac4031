"""Kernels of less common kinds: constant arguments, allocations from sizes alone,
random numbers, size-1 broadcasting, padded edge tiles, nested jagged loops."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def offset_by_constexpr(x: torch.Tensor, shift: hl.constexpr) -> torch.Tensor:
    """A ``hl.constexpr`` scalar: Helion specialises the body on its value."""
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0), block_size=4):
        out[tile] = x[tile] - shift
    return out
