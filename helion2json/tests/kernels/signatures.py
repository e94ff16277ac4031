"""Signatures beyond tensors and scalars: lists of scalars as arguments, ``None`` among
the returned values."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def center_rows(
    x: torch.Tensor, normalized_shape: list[int], weight: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Rows centred and scaled by the RMS of the centred row, the row length read from the
    ``normalized_shape`` list (an item Helion makes a symbol of its own)."""
    m, n = x.size()
    assert normalized_shape[0] == n
    out = torch.empty_like(x)
    for tile_m in hl.tile(m, block_size=2):
        row = x[tile_m, :].to(torch.float32)
        centred = row - row.sum(-1, keepdim=True) / normalized_shape[0]
        spread = (centred * centred).sum(-1, keepdim=True) / normalized_shape[0]
        out[tile_m, :] = (centred * torch.rsqrt(spread + eps) * weight[None, :]).to(out.dtype)
    return out


@helion.kernel(static_shapes=True)
def affine_pairs(
    x: torch.Tensor, scale_shift: tuple[float, float], steps: list[int]
) -> torch.Tensor:
    """``x * scale + shift``, then ``steps[1]`` added ``steps[0]`` times over: tuple and list items."""
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0), block_size=4):
        value = x[tile] * scale_shift[0] + scale_shift[1]
        out[tile] = value + steps[0] * steps[1]
    return out


@helion.kernel(static_shapes=True)
def doubled_without_stats(x: torch.Tensor) -> tuple[torch.Tensor, None]:
    """Returns ``(out, None)``, the ``None`` where a variant would return statistics."""
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0), block_size=4):
        out[tile] = x[tile] * 2.0
    return out, None
