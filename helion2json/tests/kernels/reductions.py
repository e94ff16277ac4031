"""Row reductions, softmax, cross-entropy, scans; persistent and as reduction loops."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def row_sum(x: torch.Tensor) -> torch.Tensor:
    m, _ = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        out[tile_m] = x[tile_m, :].sum(-1)
    return out


@helion.kernel(static_shapes=True)
def row_mean(x: torch.Tensor) -> torch.Tensor:
    m, _ = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        out[tile_m] = torch.mean(x[tile_m, :], dim=-1)
    return out


@helion.kernel(static_shapes=True)
def row_amax(x: torch.Tensor) -> torch.Tensor:
    m, _ = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        out[tile_m] = torch.amax(x[tile_m, :], dim=-1)
    return out


@helion.kernel(static_shapes=False)
def row_sum_dynamic(x: torch.Tensor) -> torch.Tensor:
    """Symbolic shapes: the reduced extent is ``dim(x,1)`` from the shape environment."""
    m, _ = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        out[tile_m] = x[tile_m, :].sum(-1)
    return out


@helion.kernel(static_shapes=True)
def softmax(x: torch.Tensor) -> torch.Tensor:
    """One pass: each program holds whole rows."""
    m, _ = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        out[tile_m, :] = torch.nn.functional.softmax(x[tile_m, :], dim=1)
    return out


@helion.kernel(static_shapes=True, config=helion.Config(block_sizes=[2], reduction_loops=[4]))
def softmax_reduction_loops(x: torch.Tensor) -> torch.Tensor:
    """The same softmax with its reductions rolled into loops of 4 columns."""
    m, _ = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        out[tile_m, :] = torch.nn.functional.softmax(x[tile_m, :], dim=1)
    return out


@helion.kernel(static_shapes=True, config=helion.Config(block_sizes=[4], reduction_loops=[4]))
def row_mean_reduction_loop(x: torch.Tensor) -> torch.Tensor:
    """``mean`` over a reduction loop: Inductor splits it into a sum and a division."""
    m, _ = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        out[tile_m] = torch.mean(x[tile_m, :], dim=-1)
    return out


@helion.kernel(static_shapes=True)
def softmax_two_pass(x: torch.Tensor) -> torch.Tensor:
    """Online softmax: a running max and a rescaled running sum, then a second pass."""
    m, n = x.size()
    out = torch.empty_like(x)
    block_size_m = hl.register_block_size(m)
    block_size_n = hl.register_block_size(n)
    for tile_m in hl.tile(m, block_size=block_size_m):
        mi = hl.full([tile_m], float("-inf"), dtype=torch.float32)
        di = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n, block_size=block_size_n):
            values = x[tile_m, tile_n]
            local_amax = torch.amax(values, dim=1)
            mi_next = torch.maximum(mi, local_amax)
            di = di * torch.exp(mi - mi_next) + torch.exp(values - mi_next[:, None]).sum(dim=1)
            mi = mi_next
        for tile_n in hl.tile(n, block_size=block_size_n):
            values = x[tile_m, tile_n]
            out[tile_m, tile_n] = torch.exp(values - mi[:, None]) / di[:, None]
    return out


@helion.kernel(static_shapes=True)
def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-row loss: log-sum-exp minus the logit gathered at the label."""
    n, _ = logits.size()
    losses = torch.empty([n], dtype=torch.float32, device=logits.device)
    for tile_n in hl.tile(n):
        labels_tile = labels[tile_n]
        rows = logits[tile_n, :]
        picked = hl.load(logits, [tile_n.index[:, None], labels_tile[:, None]]).squeeze(1)
        row_max = torch.amax(rows, dim=-1, keepdim=True)
        lse = row_max.squeeze(-1) + torch.log(torch.sum(torch.exp(rows - row_max), dim=-1))
        losses[tile_n] = lse - picked
    return losses


@helion.kernel(static_shapes=True)
def cumsum_rows(x: torch.Tensor) -> torch.Tensor:
    m, _ = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        out[tile_m, :] = torch.cumsum(x[tile_m, :], dim=1)
    return out


@helion.kernel(static_shapes=True)
def reverse_cumprod_rows(x: torch.Tensor) -> torch.Tensor:
    m, _ = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        out[tile_m, :] = hl.cumprod(x[tile_m, :], dim=1, reverse=True)
    return out


def _running_max(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.maximum(a, b)


@helion.kernel(static_shapes=True)
def cummax_rows(x: torch.Tensor) -> torch.Tensor:
    """``hl.associative_scan`` with a combine function of its own."""
    m, _ = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        out[tile_m, :] = hl.associative_scan(_running_max, x[tile_m, :], dim=1)
    return out


def _argmax_combine(
    value_a: torch.Tensor, index_a: torch.Tensor, value_b: torch.Tensor, index_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    take_b = value_b > value_a
    return torch.where(take_b, value_b, value_a), torch.where(take_b, index_b, index_a)


@helion.kernel(static_shapes=True)
def argmax_rows(x: torch.Tensor) -> torch.Tensor:
    """``hl.reduce`` over a (value, index) pair."""
    m, n = x.size()
    out = torch.empty([m], dtype=torch.int64, device=x.device)
    for tile_m in hl.tile(m):
        values = x[tile_m, :]
        positions = torch.zeros_like(values, dtype=torch.int64) + hl.arange(0, n)[None, :]
        _, best = hl.reduce(_argmax_combine, (values, positions), dim=1)
        out[tile_m] = best
    return out


@helion.kernel(static_shapes=True, config=helion.Config(block_sizes=[16, 2]))
def block_row_sums(x: torch.Tensor) -> torch.Tensor:
    """Doubled columns summed into a ``[tile_m, block_n]`` accumulator with a registered
    block of 16: wider than a row of 10, or leaving a partial last tile of a row of 20.
    Each tile is padded to the block with zeros, as Helion pads."""
    m, n = x.size()
    out = torch.empty([m], dtype=x.dtype, device=x.device)
    block_n = hl.register_block_size(n)
    for tile_m in hl.tile(m):
        acc = hl.zeros([tile_m, block_n], dtype=x.dtype)
        for tile_n in hl.tile(n, block_size=block_n):
            acc += x[tile_m, tile_n] * 2.0
        out[tile_m] = acc.sum(-1)
    return out
