"""Tile-indexed values of lower rank in element-wise math: Helion lines each axis up
with its tile's axis, not by PyTorch's right-aligned rule."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def add_row_bias(a: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``bias[tile_m]`` runs along rows: the generated code reads ``bias[:, None]``."""
    m, n = a.size()
    out = torch.empty_like(a)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = a[tile_m, tile_n] + bias[tile_m]
    return out


@helion.kernel(static_shapes=True)
def select_row_or_column(a: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    m, n = a.size()
    out = torch.empty_like(a)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = torch.where(a[tile_m, tile_n] > 0, rows[tile_m], cols[tile_n])
    return out


@helion.kernel(static_shapes=True)
def scale_batches_by_columns(a: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``scale[tile_b, tile_n]`` skips the middle axis of a 3-D tile."""
    b, m, n = a.size()
    out = torch.empty_like(a)
    for tile_b, tile_m, tile_n in hl.tile([b, m, n]):
        out[tile_b, tile_m, tile_n] = a[tile_b, tile_m, tile_n] * scale[tile_b, tile_n]
    return out
