"""Values a device loop or a branch carries under a name: rotations, swaps, and
variables that start as another variable's value."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def chebyshev_series(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """sum_j w[j] * T_j(x): ``prev, cur = cur, 2x * cur - prev`` rotates two values."""
    m, n = x.size()
    terms = hl.specialize(w.size(0))
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        two_x = 2.0 * x[tile_m, tile_n]
        prev = hl.full([tile_m, tile_n], 1.0, x.dtype)
        cur = two_x
        acc = w[0, tile_n] * prev + w[1, tile_n] * cur
        for j in hl.tile(2, terms, block_size=1):
            nxt = two_x * cur - prev
            prev = cur
            cur = nxt
            acc = acc + w[j, tile_n] * cur
        out[tile_m, tile_n] = acc
    return out


@helion.kernel(static_shapes=True)
def fibonacci_pairs(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``a, b = b, a + b``: each new value reads the other's old one."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        a = x[tile_m, tile_n]
        b = y[tile_m, tile_n]
        for _ in hl.tile(4, block_size=1):
            a, b = b, a + b
        out[tile_m, tile_n] = a - 0.5 * b
    return out


@helion.kernel(static_shapes=True)
def swap_each_step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``a, b = b, a`` is a cycle: one of the two needs a temporary."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        a = x[tile_m, tile_n]
        b = y[tile_m, tile_n]
        for _ in hl.tile(3, block_size=1):
            a, b = b, a
        out[tile_m, tile_n] = a * 2.0 + b
    return out


@helion.kernel(static_shapes=True)
def branch_keeps_the_original(x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """``cur = base``; a branch scales ``cur``; ``base`` must stay as it was."""
    m = x.size(0)
    out = torch.empty_like(x)
    for tile_m in hl.tile(m, block_size=1):
        base = x[tile_m, :]
        cur = base
        if flags[tile_m.begin] > 0:
            cur = cur * 3.0
        out[tile_m, :] = cur + base
    return out
