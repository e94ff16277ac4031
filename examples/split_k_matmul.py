"""Split-k matrix multiplication: programs share the k dimension and add atomically.

``split_k`` is a tunable of the config; the block size of the k split is
computed from it on the host, and the document records its value.
"""

from __future__ import annotations

import helion
import helion.language as hl
import torch


# h2j: args(torch.randn(64, 1024), torch.randn(1024, 32))
# h2j: ref(torch.matmul)
@helion.kernel(static_shapes=True)
def matmul_split_k(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m, k = x.size()
    _, n = y.size()
    out = torch.zeros([m, n], dtype=torch.float32, device=x.device)
    split_k = hl.register_tunable("split_k", helion.autotuner.PowerOfTwoFragment(1, 256, 8))
    k_block = helion.next_power_of_2(helion.cdiv(k, split_k))
    for tile_m, tile_n, outer_k in hl.tile([m, n, k], block_size=[None, None, k_block]):
        acc = hl.zeros([tile_m, tile_n], dtype=torch.float32)
        for inner_k in hl.tile(outer_k.begin, outer_k.end):
            acc = torch.addmm(acc, x[tile_m, inner_k], y[inner_k, tile_n])
        hl.atomic_add(out, [tile_m, tile_n], acc)
    return out
