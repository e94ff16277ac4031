"""Sizes in arithmetic the expression grammar must carry exactly: modulo, true
division into floats, and comparisons, on shapes that stay symbolic."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=False)
def add_length_mod_three(x: torch.Tensor) -> torch.Tensor:
    n = x.size(0)
    out = torch.empty_like(x)
    for tile in hl.tile(n):
        out[tile] = x[tile] + (n % 3)
    return out


@helion.kernel(static_shapes=False)
def mean_scale_columns(x: torch.Tensor) -> torch.Tensor:
    """``1.0 / n`` on a symbolic ``n``: a float computed from a size."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] * (1.0 / n)
    return out


@helion.kernel(static_shapes=False)
def keep_if_even_length(x: torch.Tensor) -> torch.Tensor:
    """``n % 2 == 0``: a comparison of sizes used as a number."""
    n = x.size(0)
    out = torch.empty_like(x)
    for tile in hl.tile(n):
        out[tile] = x[tile] * (n % 2 == 0)
    return out
