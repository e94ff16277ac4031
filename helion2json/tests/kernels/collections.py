"""Collections in the signature: lists and tuples of tensors as arguments, and host
scalars among the returned values."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def sum_of_three(xs: list[torch.Tensor]) -> torch.Tensor:
    """The elementwise sum of a list of three tensors, each item read like a tensor argument."""
    out = torch.empty_like(xs[0])
    for tile in hl.tile(out.size()):
        out[tile] = xs[0][tile] + xs[1][tile] + xs[2][tile]
    return out


@helion.kernel(static_shapes=True)
def pair_product(pair: tuple[torch.Tensor, torch.Tensor], scale: float) -> torch.Tensor:
    """``x * y * scale`` over a tuple ``(x, y)``, unpacked on the host."""
    x, y = pair
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile(x.size()):
        out[tile_m, tile_n] = x[tile_m, tile_n] * y[tile_m, tile_n] * scale
    return out


@helion.kernel(static_shapes=True)
def doubled_with_count(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Returns ``(out, count)``: the doubled tensor and its number of rows, a host int."""
    count = x.size(0)
    out = torch.empty_like(x)
    for tile in hl.tile(count, block_size=4):
        out[tile] = x[tile] * 2.0
    return out, count
