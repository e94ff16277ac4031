"""Elementwise kernels: scalar arguments, broadcasts, element types, several outputs."""

from __future__ import annotations

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def add_exp_relu_scale(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size()):
        out[tile] = torch.relu(torch.exp(x[tile] + y[tile]) - 1.5) * alpha
    return out


@helion.kernel(static_shapes=True)
def bias_gelu_rows(x: torch.Tensor, bias: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """A broadcast epilogue: ``bias`` over the columns, ``scale`` over the rows (None-indexing)."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n], block_size=[4, 8]):
        shifted = x[tile_m, tile_n] + bias[None, tile_n]
        out[tile_m, tile_n] = torch.nn.functional.gelu(shifted) * scale[tile_m, None]
    return out


@helion.kernel(static_shapes=True)
def square_clamp(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``x * x``: the same operand twice, which Helion's IR keeps only once."""
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0), block_size=8):
        v = x[tile]
        out[tile] = torch.clamp(v * v, min=low, max=high)
    return out


@helion.kernel(static_shapes=True)
def int_compare(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """uint8 + int16 against int8, giving bool."""
    out = torch.empty(a.size(), dtype=torch.bool, device=a.device)
    for tile in hl.tile(a.size(0)):
        out[tile] = (a[tile].to(torch.int32) + b[tile]) > c[tile]
    return out


@helion.kernel(static_shapes=True)
def masked_fill_bool(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size()):
        out[tile] = torch.where(keep[tile], x[tile], torch.zeros_like(x[tile]))
    return out


@helion.kernel(static_shapes=True)
def quantize_fp8(x: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """bf16 → e4m3fn and e5m2, with a scale."""
    e4m3 = torch.empty(x.size(), dtype=torch.float8_e4m3fn, device=x.device)
    e5m2 = torch.empty(x.size(), dtype=torch.float8_e5m2, device=x.device)
    for tile_m, tile_n in hl.tile(x.size()):
        scaled = x[tile_m, tile_n].to(torch.float32) * scale
        e4m3[tile_m, tile_n] = scaled.to(torch.float8_e4m3fn)
        e5m2[tile_m, tile_n] = scaled.to(torch.float8_e5m2)
    return e4m3, e5m2


@helion.kernel(static_shapes=True)
def dequantize_fp8(q: torch.Tensor, scale: float) -> torch.Tensor:
    out = torch.empty(q.size(), dtype=torch.float32, device=q.device)
    for tile in hl.tile(q.size()):
        out[tile] = q[tile].to(torch.float32) * scale
    return out


@helion.kernel(static_shapes=True)
def sum_and_difference(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    total = torch.empty_like(x)
    difference = torch.empty_like(x)
    for tile in hl.tile(x.size()):
        a = x[tile]
        b = y[tile]
        total[tile] = a + b
        difference[tile] = a - b
    return total, difference


@helion.kernel(static_shapes=False)
def add_dynamic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Symbolic shapes: extents come from the shape environment, not from the example."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        out[tile_m, tile_n] = x[tile_m, tile_n] + y[tile_m, tile_n]
    return out


@helion.kernel(static_shapes=True)
def tile_properties(x: torch.Tensor) -> torch.Tensor:
    """Each element gets its index, its tile's begin, end and id; the grid starts at 1."""
    (n,) = x.size()
    out = torch.zeros_like(x)
    for tile in hl.tile(1, n, block_size=4):
        position = tile.index.to(torch.float32)
        out[tile] = x[tile] + position * 1000 + (tile.begin * 100 + tile.end * 10 + tile.id)
    return out


@helion.kernel(static_shapes=True)
def grid_rows(x: torch.Tensor) -> torch.Tensor:
    """``hl.grid`` over rows (the index is a number) around a tile loop that starts at 2."""
    b, m = x.size()
    out = torch.zeros_like(x)
    for i in hl.grid(b):
        for tile in hl.tile(2, m, block_size=4):
            out[i, tile] = x[i, tile] * (i + 1) + tile.id
    return out


@helion.kernel(static_shapes=True)
def branch_on_flag(x: torch.Tensor, flag: bool) -> torch.Tensor:
    """``if``/``else`` on a bool argument, both branches defining the value stored."""
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0), block_size=8):
        v = x[tile]
        if flag:  # noqa: SIM108 - the statement form is what this kernel exports
            r = v * 2
        else:
            r = v - 1
        out[tile] = r
    return out


@helion.kernel(static_shapes=True)
def branch_on_value(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``if`` on a value loaded in the kernel, reassigning a variable defined before it."""
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0), block_size=8):
        v = x[tile]
        g = hl.load(gate, [0])
        if g > 0:
            v = v * g
        out[tile] = v
    return out


@helion.kernel(static_shapes=True)
def two_phase(x: torch.Tensor) -> torch.Tensor:
    """Two grid loops with ``hl.barrier`` between them: the second reads what the first wrote."""
    (n,) = x.size()
    doubled = torch.empty_like(x)
    out = torch.empty_like(x)
    for tile in hl.tile(n, block_size=4):
        doubled[tile] = x[tile] * 2
    hl.barrier()
    for tile in hl.tile(n, block_size=4):
        # Reads a neighbouring tile's result: only correct after the barrier.
        out[tile] = doubled[tile] + hl.load(doubled, [n - 1])
    return out


@helion.kernel(static_shapes=True)
def swap_pairs(x: torch.Tensor) -> torch.Tensor:
    """``hl.split`` the interleaved pairs of each row and ``hl.join`` them swapped."""
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m in hl.tile(m):
        pairs = x[tile_m, :].reshape(tile_m, n // 2, 2)
        even, odd = hl.split(pairs)
        out[tile_m, :] = hl.join(odd, even).reshape(tile_m, n)
    return out


@helion.kernel(static_shapes=True)
def broadcast_stores(x: torch.Tensor, row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m, n = x.size()
    rows = torch.empty_like(x)
    filled = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        rows[tile_m, tile_n] = row[None, tile_n]
        filled[tile_m, tile_n] = 1.5
    return rows, filled
