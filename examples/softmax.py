"""Online softmax: a running max and a rescaled running sum, then a normalising pass.

The block sizes are registered (``hl.register_block_size``), so the document
names them (``block_size_n``) where the loops and values use them.
"""

from __future__ import annotations

import helion
import helion.language as hl
import torch


# h2j: args(torch.randn(64, 200))
# h2j: args(torch.randn(8, 1000, dtype=torch.float16, device=DEVICE))
# h2j: ref(lambda x: torch.softmax(x.float(), dim=1).to(x.dtype))
@helion.kernel(static_shapes=True)
def softmax_two_pass(x: torch.Tensor) -> torch.Tensor:
    m, n = x.size()
    out = torch.empty_like(x)
    block_size_m = hl.register_block_size(m)
    block_size_n = hl.register_block_size(n)
    for tile_m in hl.tile(m, block_size=block_size_m):
        # mi and di are carried across the first column loop (loop-carried values).
        mi = hl.full([tile_m], float("-inf"), dtype=torch.float32)
        di = hl.zeros([tile_m], dtype=torch.float32)
        for tile_n in hl.tile(n, block_size=block_size_n):
            values = x[tile_m, tile_n].to(torch.float32)
            mi_next = torch.maximum(mi, torch.amax(values, dim=1))
            di = di * torch.exp(mi - mi_next) + torch.exp(values - mi_next[:, None]).sum(dim=1)
            mi = mi_next
        for tile_n in hl.tile(n, block_size=block_size_n):
            values = x[tile_m, tile_n].to(torch.float32)
            out[tile_m, tile_n] = (torch.exp(values - mi[:, None]) / di[:, None]).to(out.dtype)
    return out
