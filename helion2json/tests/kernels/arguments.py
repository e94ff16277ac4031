"""Arguments a kernel is specialised on: an optional tensor given as None, a string
that selects code, and a callable whose ops are traced into the body."""

from __future__ import annotations

from collections.abc import Callable

import helion
import helion.language as hl
import torch


@helion.kernel(static_shapes=True)
def add_optional_bias(x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    for tile_m, tile_n in hl.tile([m, n]):
        value = x[tile_m, tile_n]
        if bias is not None:
            value = value + bias[tile_n]
        out[tile_m, tile_n] = value
    return out


@helion.kernel(static_shapes=True)
def named_activation(x: torch.Tensor, activation: str) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        if activation == "relu":
            out[tile] = torch.relu(x[tile])
        else:
            out[tile] = torch.sigmoid(x[tile])
    return out


@helion.kernel(static_shapes=True)
def doubled_then(x: torch.Tensor, epilogue: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = epilogue(x[tile] * 2.0)
    return out


def halve_and_shift(value: torch.Tensor) -> torch.Tensor:
    """An epilogue: the kernel traces its ops."""
    return value * 0.5 - 1.0


@helion.kernel(static_shapes=True)
def shift_by_default(x: torch.Tensor, shift: float = 0.25) -> torch.Tensor:
    """A parameter left at its default: the document's signature has it all the same."""
    out = torch.empty_like(x)
    for tile in hl.tile(x.size(0)):
        out[tile] = x[tile] + shift
    return out
