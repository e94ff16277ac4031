"""Values rounded to a lower precision than the output they end in."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def half_rounded_row_sums(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Rows scaled and rounded to ``f16`` (as an activation stored at half precision would
    be), then summed in ``f32`` into an ``f32`` output."""
    m, _ = x.size()
    out = torch.empty([m], dtype=torch.float32, device=x.device)
    for tile_m in hl.tile(m, block_size=2):
        halves = (x[tile_m, :] * scale).to(torch.float16)
        out[tile_m] = halves.to(torch.float32).sum(-1)
    return out
