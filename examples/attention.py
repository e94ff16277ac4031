"""Flash attention over a batch of heads, with an online softmax.

Three values are carried across the key loop: the running row max ``m_i``,
the running normaliser ``l_i`` and the unnormalised output ``acc``.
"""

from __future__ import annotations

import math

import helion
import helion.language as hl
import torch


# h2j: args(torch.randn(2, 64, 32, dtype=torch.float16), torch.randn(2, 128, 32, dtype=torch.float16), torch.randn(2, 128, 32, dtype=torch.float16))
# h2j: ref(reference_attention)
@helion.kernel(static_shapes=True)
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    batch, m, head_dim = q.size()
    n = k.size(1)
    out = torch.empty_like(q)
    sm_scale = 1.0 / math.sqrt(head_dim)
    for tile_b, tile_m in hl.tile([batch, m], block_size=[1, None]):
        m_i = hl.full([tile_b, tile_m], float("-inf"), dtype=torch.float32)
        l_i = hl.zeros([tile_b, tile_m], dtype=torch.float32)
        acc = hl.zeros([tile_b, tile_m, head_dim], dtype=torch.float32)
        q_tile = q[tile_b, tile_m, :]
        for tile_n in hl.tile(n):
            k_tile = k[tile_b, tile_n, :]
            qk = torch.bmm(q_tile, k_tile.transpose(1, 2)).to(torch.float32) * sm_scale
            m_ij = torch.maximum(m_i, torch.amax(qk, -1))
            p = torch.exp(qk - m_ij[:, :, None])
            alpha = torch.exp(m_i - m_ij)
            l_i = l_i * alpha + torch.sum(p, -1)
            # fp16 probabilities times fp16 values, accumulated in fp32.
            acc = torch.baddbmm(acc * alpha[:, :, None], p.to(v.dtype), v[tile_b, tile_n, :])
            m_i = m_ij
        out[tile_b, tile_m, :] = (acc / l_i[:, :, None]).to(out.dtype)
    return out


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = torch.bmm(q, k.transpose(1, 2)).float() / math.sqrt(q.size(-1))
    return (torch.softmax(scores, dim=-1) @ v.float()).to(q.dtype)
