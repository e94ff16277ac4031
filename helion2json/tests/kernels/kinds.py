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


@helion.kernel(static_shapes=True)
def ramp_grid(rows: int, cols: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """No tensor arguments: sizes, an element type and a device; the output is allocated."""
    out = torch.empty([rows, cols], dtype=dtype, device=device)
    for tile_r, tile_c in hl.tile([rows, cols], block_size=[4, 4]):
        ramp = tile_r.index[:, None] * 10 - tile_c.index[None, :]
        out[tile_r, tile_c] = ramp.to(dtype)
    return out


@helion.kernel(static_shapes=True)
def halve_into(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A dtype argument: the output's element type and the body's cast."""
    out = torch.empty(x.size(), dtype=dtype, device=x.device)
    for tile in hl.tile(x.size(), block_size=[2, 8]):
        out[tile] = (x[tile] * 0.5).to(dtype)
    return out
