"""layer_norm over the last dimension, with weight, bias and ``eps``.

Each program holds whole rows (a persistent reduction); export it with
``reduction_loops`` in its config to get the rows read in column chunks.
"""

from __future__ import annotations

import helion
import helion.language as hl
import torch


# h2j: args(torch.randn(32, 64, dtype=torch.float16), torch.randn(64, dtype=torch.float16), torch.randn(64, dtype=torch.float16), eps=1e-5)
# h2j: ref(reference_layer_norm)
@helion.kernel(static_shapes=True)
def layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty([m, n], dtype=x.dtype, device=x.device)
    for tile_m in hl.tile(m):
        # Statistics in fp32 whatever the input's type.
        acc = x[tile_m, :].to(torch.float32)
        mean = torch.mean(acc, dim=-1, keepdim=True)
        centered = acc - mean
        var = torch.mean(centered * centered, dim=-1, keepdim=True)
        normalized = centered * torch.rsqrt(var + eps)
        scaled = normalized * weight[:].to(torch.float32) + bias[:].to(torch.float32)
        out[tile_m, :] = scaled.to(out.dtype)
    return out


def reference_layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    normalized = torch.nn.functional.layer_norm(
        x.float(), (x.size(-1),), weight.float(), bias.float(), eps
    )
    return normalized.to(x.dtype)
