"""Windows that are not whole tiles: masked loads reaching past their tensor, bounded
slices (``x[tile, a:b]``), tensor lists (``torch.stack``), and tile properties read
again inside an inner loop."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def join_columns(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[a | b]`` along columns: each load is masked to its own part of a column tile,
    whose window reaches past the end of ``a`` (or before the start of ``b``)."""
    rows, left = a.size()
    out = torch.empty([rows, left + b.size(1)], dtype=a.dtype, device=a.device)
    for tile_r, tile_c in hl.tile(out.size(), block_size=[4, 8]):
        cols = tile_c.index
        in_a = (cols < left)[None, :]
        from_a = hl.load(a, [tile_r, tile_c], extra_mask=in_a)
        from_b = hl.load(b, [tile_r, cols - left], extra_mask=(cols >= left)[None, :])
        out[tile_r, tile_c] = torch.where(in_a, from_a, from_b)
    return out


@helion.kernel(static_shapes=True)
def swap_halves(x: torch.Tensor) -> torch.Tensor:
    """Rows with their two column halves exchanged: slices with fixed bounds."""
    m, n = x.size()
    half = n // 2
    out = torch.empty_like(x)
    for tile_m in hl.tile(m, block_size=4):
        out[tile_m, :half] = x[tile_m, half:]
        out[tile_m, half:] = x[tile_m, :half] * -1.0
    return out


@helion.kernel(static_shapes=False)
def scale_column_range(x: torch.Tensor, first: int, stop: int) -> torch.Tensor:
    """Columns ``first:stop`` doubled plus the next-to-last column; bounds are arguments."""
    m, n = x.size()
    out = torch.zeros([m, n], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m, block_size=4):
        out[tile_m, first:stop] = x[tile_m, first:stop] * 2.0 + x[tile_m, -2:-1]
    return out


@helion.kernel(static_shapes=True)
def unpack_nibbles(packed: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Signed 4-bit pairs packed in ``int8``: low and high nibbles stacked and interleaved
    into rows ``2k`` and ``2k + 1`` of the output, stored through a computed row range."""
    half_rows, n = packed.size()
    out = torch.empty([2 * half_rows, n], dtype=torch.float32, device=packed.device)
    block_k = hl.register_block_size(half_rows)
    for tile_k, tile_n in hl.tile([half_rows, n], block_size=[block_k, 4]):
        pairs = packed[tile_k, tile_n]
        low_bits = (pairs & 0xF).to(torch.int32)
        low = torch.where(low_bits >= 8, low_bits - 16, low_bits)
        high = (pairs >> 4).to(torch.int32)
        both = torch.stack([low.to(torch.float32), high.to(torch.float32)], dim=1)
        rows = both.reshape(tile_k.block_size * 2, tile_n.block_size)
        first = tile_k.begin * 2
        out[first : first + block_k * 2, tile_n] = rows * scale[None, tile_n]
    return out


@helion.kernel(static_shapes=True)
def chunked_decay_scan(
    weights: torch.Tensor, x: torch.Tensor, decay: torch.Tensor, carry: torch.Tensor
) -> torch.Tensor:
    """A chunked causal scan in the shape of a state-space layer's.

    weights: (batch, chunks, L, L), x: (batch, chunks * L, heads, p), decay: (batch, heads,
    chunks, L), carry: (batch, chunks, heads, p). Inside each chunk, row ``i`` sums
    ``weights[i, j] * exp(decay[i] - decay[j]) * x[j]`` over ``j <= i``, plus
    ``exp(decay[i]) * carry``. The inner loop's end is ``(tile_m.id + 1) * block_m`` and
    the chunk's begin is read both inside and after it.
    """
    batch, chunks, length, _ = weights.shape
    heads = x.size(2)
    block_m = hl.register_block_size(length)
    block_k = hl.register_block_size(4, 4)
    out = torch.empty_like(x)
    for tile_h, tile_m, tile_b, tile_c in hl.tile(
        [heads, length, batch, chunks], block_size=[1, block_m, 1, 1]
    ):
        decay_m = decay[tile_b.begin, tile_h.begin, tile_c.begin, tile_m]
        start = carry[tile_b.begin, tile_c.begin, tile_h.begin, :]
        acc = torch.exp(decay_m)[:, None] * start[None, :]
        for tile_k in hl.tile((tile_m.id + 1) * block_m, block_size=block_k):
            w = weights[tile_b.begin, tile_c.begin, tile_m, tile_k]
            decay_k = decay[tile_b.begin, tile_h.begin, tile_c.begin, tile_k]
            w *= torch.exp(decay_m[:, None] - decay_k[None, :])
            causal = tile_m.index[:, None] >= tile_k.index[None, :]
            w = torch.where(causal, w, torch.zeros_like(w))
            xs = x[tile_b.begin, tile_c.begin * length + tile_k.index, tile_h.begin, :]
            acc = acc + torch.mm(w, xs)
        rows = tile_c.begin * length + tile_m.index
        out[tile_b.begin, rows, tile_h.begin, :] = acc
    return out


@helion.kernel(static_shapes=False)
def chunk_tail_minus_sum(g: torch.Tensor, chunk: int) -> torch.Tensor:
    """Per chunk of a row, its last element minus its sum. The last position,
    ``min(t.begin + chunk, seqlen) - 1``, is symbolic arithmetic on the tile's begin."""
    batch, seqlen = g.shape
    chunk = hl.specialize(chunk)
    chunks = (seqlen + chunk - 1) // chunk
    out = torch.empty(batch, chunks, dtype=g.dtype, device=g.device)
    for tile_b in hl.tile(batch, block_size=1):
        for tile_t in hl.tile(seqlen, block_size=chunk):
            last = min(tile_t.begin + chunk, seqlen) - 1
            out[tile_b.begin, tile_t.id] = g[tile_b.begin, last] - g[tile_b.begin, tile_t].sum()
    return out
