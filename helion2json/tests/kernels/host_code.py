"""Host code around the launch: views and reshapes of arguments before the grid, and
of results after it, as real kernels write them."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def scale_last_axis(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Any leading axes folded into rows with ``reshape(-1, n)``; the result unfolded."""
    n = x.size(-1)
    rows = x.reshape(-1, n)
    out = torch.empty_like(rows)
    for tile_r, tile_n in hl.tile([rows.size(0), n]):
        out[tile_r, tile_n] = rows[tile_r, tile_n] * scale[tile_n]
    return out.view(x.size())


@helion.kernel(static_shapes=True)
def transposed_plus_one(x: torch.Tensor) -> torch.Tensor:
    xt = x.transpose(0, 1)
    out = torch.empty_like(xt)
    for tile_i, tile_j in hl.tile([xt.size(0), xt.size(1)]):
        out[tile_i, tile_j] = xt[tile_i, tile_j] + 1.0
    return out


@helion.kernel(static_shapes=True)
def flat_sum_of_two(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xf = x.flatten()
    yf = y.view(-1)
    out = torch.empty_like(xf)
    for tile in hl.tile(xf.size(0)):
        out[tile] = xf[tile] + yf[tile]
    return out


@helion.kernel(static_shapes=True)
def drop_first_row(x: torch.Tensor) -> torch.Tensor:
    rest = x[1:]
    out = torch.empty_like(rest)
    for tile_m, tile_n in hl.tile([rest.size(0), rest.size(1)]):
        out[tile_m, tile_n] = rest[tile_m, tile_n] * 2.0
    return out


@helion.kernel(static_shapes=True)
def rows_and_sums_of_squares(q: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two results, each reshaped back to the input's leading axes after the launch."""
    d = q.size(-1)
    rows = q.reshape([-1, d])
    out = torch.empty_like(rows)
    sums = torch.empty([rows.size(0), 1], dtype=torch.float32, device=q.device)
    for tile_r in hl.tile(rows.size(0)):
        row = rows[tile_r, :]
        out[tile_r, :] = row * w[None, :]
        sums[tile_r, :] = torch.sum(row * row, dim=-1, keepdim=True)
    return out.view(q.size()), sums.reshape(q.size()[:-1])
