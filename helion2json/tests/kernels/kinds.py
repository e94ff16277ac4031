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


@helion.kernel(static_shapes=True)
def seeded_dropout(
    x: torch.Tensor, p: float, scale: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random numbers from an explicit seed: Philox over each element's offset."""
    out = torch.empty_like(x)
    picks = torch.empty(x.size(), dtype=torch.int32, device=x.device)
    for tile_m, tile_n in hl.tile(x.size(), block_size=[4, 8]):
        keep = hl.rand([tile_m, tile_n], seed=seed) > p
        out[tile_m, tile_n] = torch.where(keep, x[tile_m, tile_n] * scale, 0.0)
        picks[tile_m, tile_n] = hl.randint([tile_m, tile_n], low=-3, high=9, seed=seed + 1)
    return out, picks


@helion.kernel(static_shapes=True)
def jitter(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random numbers seeded by the launch (torch.rand_like, torch.randn_like on a tile)."""
    uniform = torch.empty_like(x)
    normal = torch.empty_like(x)
    for tile_m, tile_n in hl.tile(x.size(), block_size=[4, 8]):
        uniform[tile_m, tile_n] = x[tile_m, tile_n] + torch.rand_like(x[tile_m, tile_n])
        normal[tile_m, tile_n] = torch.randn_like(x[tile_m, tile_n])
    return uniform, normal


@helion.kernel(static_shapes=True, config=helion.Config(block_sizes=[1, 4, 4, 8]))
def batched_weighted_sums(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A 3-d grid with a sequential loop inside: ``out[b, m, n] = sum_k x[b, m, k] * w[b, n]``."""
    batches, rows, depth = x.size()
    cols = weights.size(1)
    out = torch.empty([batches, rows, cols], dtype=x.dtype, device=x.device)
    for tile_b, tile_m, tile_n in hl.tile([batches, rows, cols]):
        acc = hl.zeros([tile_b, tile_m, tile_n], dtype=torch.float32)
        for tile_k in hl.tile(depth):
            partial = x[tile_b, tile_m, tile_k].sum(-1)
            acc = acc + partial[:, :, None] * weights[tile_b, None, tile_n]
        out[tile_b, tile_m, tile_n] = acc
    return out


@helion.kernel(static_shapes=True)
def add_broadcast_row(x: torch.Tensor, row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``row`` has one row: ``row[tile_m, tile_n]`` reads it for every row of the tile."""
    out = torch.empty_like(x)
    spread = torch.empty_like(x)
    for tile_m, tile_n in hl.tile(x.size(), block_size=[4, 8]):
        out[tile_m, tile_n] = x[tile_m, tile_n] + row[tile_m, tile_n]
        spread[tile_m, tile_n] = row[tile_m, tile_n]
    return out, spread


@helion.kernel(static_shapes=True)
def folded_prefix_sums(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Row ``r`` folds ``x[r, :lengths[r]]`` into 4 lanes: the last chunk is padded with zeros."""
    rows = x.size(0)
    out = torch.empty([rows, 4], dtype=x.dtype, device=x.device)
    for tile_r in hl.tile(rows, block_size=1):
        length = lengths[tile_r.begin]
        acc = hl.zeros([tile_r, 4], dtype=x.dtype)
        for tile_k in hl.tile(0, length, block_size=4):
            acc = acc + x[tile_r, tile_k]
        out[tile_r, :] = acc
    return out


@helion.kernel(static_shapes=True)
def nested_jagged_sums(
    values: torch.Tensor, group_offsets: torch.Tensor, row_offsets: torch.Tensor
) -> torch.Tensor:
    """Group ``g`` owns rows ``group_offsets[g]:group_offsets[g + 1]``, row ``r`` the values
    ``row_offsets[r]:row_offsets[r + 1]``: both loops' bounds are loaded, the inner within
    the outer. Each row's sum is weighted by its rank in its group."""
    groups = group_offsets.size(0) - 1
    out = torch.zeros([groups], dtype=values.dtype, device=values.device)
    for tile_g in hl.tile(groups, block_size=1):
        first_row = group_offsets[tile_g.begin]
        end_row = group_offsets[tile_g.begin + 1]
        acc = hl.zeros([tile_g], dtype=values.dtype)
        for tile_r in hl.tile(first_row, end_row, block_size=1):
            begin = row_offsets[tile_r.begin]
            end = row_offsets[tile_r.begin + 1]
            for tile_v in hl.tile(begin, end, block_size=4):
                acc = acc + values[tile_v].sum() * (tile_r.begin - first_row + 1)
        out[tile_g] = acc
    return out
