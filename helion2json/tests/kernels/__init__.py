"""Kernels of every family the exporter covers, with their example arguments.

``FAMILIES`` is the registry the export, verify and benchmark suites iterate:
a kernel added here is exported, validated, interpreted and measured. Each
``reference`` computes the kernel's results in plain PyTorch from the same
arguments.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import helion.language as hl
import torch
import torch.nn.functional as F

from helion2json.tests.kernels import (
    arguments,
    broadcast,
    carried,
    collections,
    elementwise,
    expressions,
    host_code,
    indexing,
    kinds,
    linalg,
    norms,
    precision,
    reductions,
    signatures,
    slicing,
)


@dataclass(frozen=True)
class Family:
    name: str
    kernel: Any
    make_args: Callable[[], tuple[Any, ...]]
    # Families whose reference mode cannot run on CPU name another reference here.
    reference: Callable[..., Any] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def _randn(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape).to(dtype)


# ------------------------------------------------------------------ references


def _matmul_in_fp32(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x.float() @ y.float()).to(torch.promote_types(x.dtype, y.dtype))


def _addmm_bias_relu(bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.relu(x.float() @ y.float() + bias.float()).to(x.dtype)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = torch.bmm(q, k.transpose(1, 2)).float() / math.sqrt(q.size(-1))
    return (torch.softmax(scores, dim=-1) @ v.float()).to(q.dtype)


def _tile_properties(x: torch.Tensor) -> torch.Tensor:
    block, first = 4, 1
    position = torch.arange(first, x.numel())
    begin = first + (position - first) // block * block
    end = torch.clamp(begin + block, max=x.numel())
    out = torch.zeros_like(x)
    out[first:] = x[first:] + position * 1000 + (begin * 100 + end * 10 + begin // block)
    return out


def _grid_rows(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    columns = torch.arange(2, x.size(1))
    tile_ids = (2 + (columns - 2) // 4 * 4) // 4
    for i in range(x.size(0)):
        out[i, 2:] = x[i, 2:] * (i + 1) + tile_ids
    return out


def _chebyshev_series(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    prev, cur = torch.ones_like(x), 2 * x
    acc = w[0] * prev + w[1] * cur
    for j in range(2, w.size(0)):
        prev, cur = cur, 2 * x * cur - prev
        acc = acc + w[j] * cur
    return acc


def _fibonacci_pairs(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    a, b = x, y
    for _ in range(4):
        a, b = b, a + b
    return a - 0.5 * b


def _branch_keeps_the_original(x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    return torch.where(flags[:, None] > 0, 4 * x, 2 * x)


def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    return F.layer_norm(x.float(), (x.size(1),), w.float(), b.float(), eps).to(x.dtype)


def _rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def _jagged_row_sums(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    bounds = offsets.tolist()
    return torch.stack([values[a:b].sum() for a, b in itertools.pairwise(bounds)])


def _ramp_grid(rows: int, cols: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    ramp = torch.arange(rows, device=device)[:, None] * 10 - torch.arange(cols, device=device)
    return ramp.to(dtype)


def philox_first_word(seed: int, offset: int) -> int:
    """Word 0 of Philox4x32-10 (Salmon et al.) keyed by ``seed``, counter ``[offset, 0]``."""
    mask = 0xFFFFFFFF
    c0, c1, c2, c3 = offset & mask, (offset >> 32) & mask, 0, 0
    k0, k1 = seed & mask, (seed >> 32) & mask
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & mask, (p0 >> 32) ^ c3 ^ k1, p0 & mask
        k0, k1 = (k0 + 0x9E3779B9) & mask, (k1 + 0xBB67AE85) & mask
    return c0


def philox_words(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Word 0 for each element, its offset being its row-major position, as signed int32."""
    words = [philox_first_word(seed, offset) for offset in range(math.prod(shape))]
    signed = [word - (1 << 32) if word >= 1 << 31 else word for word in words]
    return torch.tensor(signed, dtype=torch.int64).reshape(shape)


def philox_uniform(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Triton's ``tl.rand``: ``|word|`` (one's complement for negatives) scaled below 1."""
    signed = philox_words(seed, shape)
    magnitude = torch.where(signed < 0, -signed - 1, signed)
    return magnitude.to(torch.float32) * 4.6566127342e-10


def _seeded_dropout(
    x: torch.Tensor, p: float, scale: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    keep = philox_uniform(seed, tuple(x.shape)) > p
    signed = philox_words(seed + 1, tuple(x.shape))
    picks = (-3 + torch.where(signed < 0, -signed, signed) % 12).to(torch.int32)
    return torch.where(keep, x * scale, 0.0), picks


def _folded_prefix_sums(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(x.size(0), 4)
    for row, length in enumerate(lengths.tolist()):
        prefix = F.pad(x[row, :length], (0, -length % 4))
        out[row] = prefix.reshape(-1, 4).sum(0)
    return out


def _nested_jagged_sums(
    values: torch.Tensor, group_offsets: torch.Tensor, row_offsets: torch.Tensor
) -> torch.Tensor:
    rows = [values[a:b].sum() for a, b in itertools.pairwise(row_offsets.tolist())]
    groups = [
        sum((rank + 1) * rows[row] for rank, row in enumerate(range(a, b)))
        for a, b in itertools.pairwise(group_offsets.tolist())
    ]
    return torch.tensor([float(g) for g in groups])


def _unpack_nibbles(packed: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    low = (packed & 0xF).to(torch.int32)
    low = torch.where(low >= 8, low - 16, low)
    high = (packed >> 4).to(torch.int32)
    return torch.stack([low, high], 1).reshape(-1, packed.size(1)).float() * scale


def _chunk_tail_minus_sum(g: torch.Tensor, chunk: int) -> torch.Tensor:
    parts = g.split(chunk, dim=1)
    return torch.stack([part[:, -1] - part.sum(1) for part in parts], dim=1)


def _chunked_decay_scan(
    weights: torch.Tensor, x: torch.Tensor, decay: torch.Tensor, carry: torch.Tensor
) -> torch.Tensor:
    batch, chunks, length, _ = weights.shape
    out = torch.empty_like(x)
    for b, c, h in itertools.product(range(batch), range(chunks), range(x.size(2))):
        d = decay[b, h, c]
        causal = torch.tril(weights[b, c] * torch.exp(d[:, None] - d[None, :]))
        rows = slice(c * length, (c + 1) * length)
        out[b, rows, h] = causal @ x[b, rows, h] + torch.exp(d)[:, None] * carry[b, c, h]
    return out


# ------------------------------------------------------------------ example arguments


def _matmul_args() -> tuple[Any, ...]:
    return (torch.randn(4, 8), torch.randn(8, 4))


def _jagged_args() -> tuple[Any, ...]:
    return (torch.randn(20), torch.tensor([0, 3, 3, 10, 17, 20]))


def _packed_nibbles_args() -> tuple[Any, ...]:
    return (torch.randint(-128, 127, (8, 6), dtype=torch.int8), torch.randn(6))


def _layer_norm_args() -> tuple[Any, ...]:
    return (
        _randn(6, 20, dtype=torch.float16),
        _randn(20, dtype=torch.float16),
        _randn(20, dtype=torch.float16),
        1e-5,
    )


FAMILIES: list[Family] = [
    # -- elementwise
    Family(
        "add_exp_relu_scale",
        elementwise.add_exp_relu_scale,
        lambda: (torch.randn(8, 12), torch.randn(8, 12), 0.5),
        reference=lambda x, y, alpha: torch.relu(torch.exp(x + y) - 1.5) * alpha,
        tags=("elementwise", "scalars"),
    ),
    Family(
        "bias_gelu_rows",
        elementwise.bias_gelu_rows,
        lambda: (torch.randn(10, 12), torch.randn(12), torch.randn(10)),
        reference=lambda x, bias, scale: F.gelu(x + bias[None, :]) * scale[:, None],
        tags=("elementwise", "broadcast"),
    ),
    Family(
        "broadcast_stores",
        elementwise.broadcast_stores,
        lambda: (torch.randn(6, 12), torch.randn(12)),
        reference=lambda x, row: (row.expand(6, 12).clone(), torch.full_like(x, 1.5)),
        tags=("elementwise", "broadcast"),
    ),
    Family(
        "square_clamp",
        elementwise.square_clamp,
        lambda: (torch.randn(20), -1.0, 2.0),
        reference=lambda x, low, high: torch.clamp(x * x, low, high),
        tags=("elementwise", "scalars"),
    ),
    Family(
        "int_compare",
        elementwise.int_compare,
        lambda: (
            torch.randint(0, 200, (24,), dtype=torch.uint8),
            torch.randint(-300, 300, (24,), dtype=torch.int16),
            torch.randint(-100, 100, (24,), dtype=torch.int8),
        ),
        reference=lambda a, b, c: (a.to(torch.int32) + b) > c,
        tags=("elementwise", "integers", "bool"),
    ),
    Family(
        "masked_fill_bool",
        elementwise.masked_fill_bool,
        lambda: (torch.randn(8, 12), torch.rand(8, 12) > 0.5),
        reference=lambda x, keep: torch.where(keep, x, torch.zeros_like(x)),
        tags=("elementwise", "bool"),
    ),
    Family(
        "quantize_fp8",
        elementwise.quantize_fp8,
        lambda: (_randn(8, 12, dtype=torch.bfloat16), 4.0),
        reference=lambda x, scale: (
            (x.float() * scale).to(torch.float8_e4m3fn),
            (x.float() * scale).to(torch.float8_e5m2),
        ),
        tags=("elementwise", "fp8"),
    ),
    Family(
        "dequantize_fp8",
        elementwise.dequantize_fp8,
        lambda: (torch.randn(8, 12).to(torch.float8_e4m3fn), 0.25),
        reference=lambda q, scale: q.float() * scale,
        tags=("elementwise", "fp8"),
    ),
    Family(
        "sum_and_difference",
        elementwise.sum_and_difference,
        lambda: (torch.randn(8, 12), torch.randn(8, 12)),
        reference=lambda x, y: (x + y, x - y),
        tags=("elementwise", "several-outputs"),
    ),
    Family(
        "add_dynamic",
        elementwise.add_dynamic,
        lambda: (torch.randn(10, 12), torch.randn(10, 12)),
        reference=torch.add,
        tags=("elementwise", "dynamic-shapes"),
    ),
    Family(
        "tile_properties",
        elementwise.tile_properties,
        lambda: (torch.randn(10),),
        reference=_tile_properties,
        tags=("tile-properties",),
    ),
    Family(
        "grid_rows",
        elementwise.grid_rows,
        lambda: (torch.randn(3, 13),),
        reference=_grid_rows,
        tags=("grid", "tile-properties"),
    ),
    Family(
        "add_length_mod_three",
        expressions.add_length_mod_three,
        lambda: (torch.randn(10),),
        reference=lambda x: x + x.size(0) % 3,
        tags=("expressions", "dynamic-shapes"),
    ),
    Family(
        "mean_scale_columns",
        expressions.mean_scale_columns,
        lambda: (torch.randn(4, 6),),
        reference=lambda x: x * (1.0 / x.size(1)),
        tags=("expressions", "dynamic-shapes"),
    ),
    Family(
        "keep_if_even_length",
        expressions.keep_if_even_length,
        lambda: (torch.randn(10),),
        reference=lambda x: x * (x.size(0) % 2 == 0),
        tags=("expressions", "dynamic-shapes"),
    ),
    Family(
        "scale_last_axis",
        host_code.scale_last_axis,
        lambda: (torch.randn(2, 3, 8), torch.randn(8)),
        reference=lambda x, scale: x * scale,
        tags=("host-code", "views"),
    ),
    Family(
        "transposed_plus_one",
        host_code.transposed_plus_one,
        lambda: (torch.randn(4, 6),),
        reference=lambda x: x.t() + 1.0,
        tags=("host-code", "views"),
    ),
    Family(
        "flat_sum_of_two",
        host_code.flat_sum_of_two,
        lambda: (torch.randn(4, 6), torch.randn(4, 6)),
        reference=lambda x, y: (x + y).flatten(),
        tags=("host-code", "views"),
    ),
    Family(
        "drop_first_row",
        host_code.drop_first_row,
        lambda: (torch.randn(5, 4),),
        reference=lambda x: x[1:] * 2.0,
        tags=("host-code", "views"),
    ),
    Family(
        "rows_and_sums_of_squares",
        host_code.rows_and_sums_of_squares,
        lambda: (torch.randn(2, 3, 8), torch.randn(8)),
        reference=lambda q, w: (q * w, (q * q).sum(-1)),
        tags=("host-code", "views", "several-outputs"),
    ),
    Family(
        "add_optional_bias_none",
        arguments.add_optional_bias,
        lambda: (torch.randn(4, 8), None),
        reference=lambda x, bias: x.clone(),
        tags=("arguments",),
    ),
    Family(
        "add_optional_bias_given",
        arguments.add_optional_bias,
        lambda: (torch.randn(4, 8), torch.randn(8)),
        reference=lambda x, bias: x + bias,
        tags=("arguments",),
    ),
    Family(
        "named_activation",
        arguments.named_activation,
        lambda: (torch.randn(10), "relu"),
        reference=lambda x, activation: torch.relu(x),
        tags=("arguments",),
    ),
    Family(
        "shift_by_default",
        arguments.shift_by_default,
        lambda: (torch.randn(10),),
        reference=lambda x: x + 0.25,
        tags=("arguments",),
    ),
    Family(
        "doubled_then",
        arguments.doubled_then,
        lambda: (torch.randn(10), arguments.halve_and_shift),
        reference=lambda x, epilogue: x * 2.0 * 0.5 - 1.0,
        tags=("arguments",),
    ),
    Family(
        "branch_on_flag",
        elementwise.branch_on_flag,
        lambda: (torch.randn(20), False),
        reference=lambda x, flag: x * 2 if flag else x - 1,
        tags=("control-flow",),
    ),
    Family(
        "branch_on_value",
        elementwise.branch_on_value,
        lambda: (torch.randn(20), torch.tensor([3.0])),
        reference=lambda x, gate: x * gate[0] if gate[0] > 0 else x,
        tags=("control-flow",),
    ),
    Family(
        "chebyshev_series",
        carried.chebyshev_series,
        lambda: (torch.randn(16, 8), torch.randn(5, 8)),
        reference=_chebyshev_series,
        tags=("control-flow", "loop-carried"),
    ),
    Family(
        "fibonacci_pairs",
        carried.fibonacci_pairs,
        lambda: (torch.randn(6, 8), torch.randn(6, 8)),
        reference=_fibonacci_pairs,
        tags=("control-flow", "loop-carried"),
    ),
    Family(
        "swap_each_step",
        carried.swap_each_step,
        lambda: (torch.randn(6, 8), torch.randn(6, 8)),
        reference=lambda x, y: y * 2.0 + x,
        tags=("control-flow", "loop-carried"),
    ),
    Family(
        "branch_keeps_the_original",
        carried.branch_keeps_the_original,
        lambda: (torch.randn(4, 8), torch.tensor([1, -1, 2, 0])),
        reference=_branch_keeps_the_original,
        tags=("control-flow",),
    ),
    Family(
        "add_row_bias",
        broadcast.add_row_bias,
        lambda: (torch.randn(16, 8), torch.randn(16)),
        reference=lambda a, bias: a + bias[:, None],
        tags=("broadcast",),
    ),
    Family(
        "add_row_bias_square",
        broadcast.add_row_bias,
        lambda: (torch.randn(8, 8), torch.randn(8)),
        reference=lambda a, bias: a + bias[:, None],
        tags=("broadcast",),
    ),
    Family(
        "select_row_or_column",
        broadcast.select_row_or_column,
        lambda: (torch.randn(16, 8), torch.randn(16), torch.randn(8)),
        reference=lambda a, rows, cols: torch.where(a > 0, rows[:, None], cols[None, :]),
        tags=("broadcast",),
    ),
    Family(
        "scale_batches_by_columns",
        broadcast.scale_batches_by_columns,
        lambda: (torch.randn(4, 6, 8), torch.randn(4, 8)),
        reference=lambda a, scale: a * scale[:, None, :],
        tags=("broadcast",),
    ),
    Family(
        "two_phase",
        elementwise.two_phase,
        lambda: (torch.randn(10),),
        reference=lambda x: 2 * x + 2 * x[-1],
        tags=("barrier",),
    ),
    Family(
        "swap_pairs",
        elementwise.swap_pairs,
        lambda: (torch.randn(6, 8),),
        reference=lambda x: x.view(x.size(0), -1, 2).flip(-1).reshape(x.size()),
        tags=("split-join", "views"),
    ),
    # -- reductions
    Family(
        "row_sum",
        reductions.row_sum,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: x.sum(-1),
        tags=("reduction",),
    ),
    Family(
        "row_mean",
        reductions.row_mean,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: x.mean(-1),
        tags=("reduction",),
    ),
    Family(
        "row_amax",
        reductions.row_amax,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: x.amax(-1),
        tags=("reduction", "mask"),
    ),
    Family(
        "row_sum_dynamic",
        reductions.row_sum_dynamic,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: x.sum(-1),
        tags=("reduction", "dynamic-shapes"),
    ),
    Family(
        "softmax",
        reductions.softmax,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: torch.softmax(x, dim=1),
        tags=("reduction", "softmax"),
    ),
    Family(
        "softmax_reduction_loops",
        reductions.softmax_reduction_loops,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: torch.softmax(x, dim=1),
        tags=("reduction", "softmax", "reduction-loop"),
    ),
    Family(
        "row_mean_reduction_loop",
        reductions.row_mean_reduction_loop,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: x.mean(-1),
        tags=("reduction", "reduction-loop"),
    ),
    Family(
        "softmax_two_pass",
        reductions.softmax_two_pass,
        lambda: (torch.randn(6, 20),),
        reference=lambda x: torch.softmax(x, dim=1),
        tags=("reduction", "softmax", "online", "register-block-size"),
    ),
    Family(
        "cross_entropy",
        reductions.cross_entropy,
        lambda: (torch.randn(6, 10), torch.randint(0, 10, (6,))),
        reference=lambda logits, labels: F.cross_entropy(logits, labels, reduction="none"),
        tags=("reduction", "gather"),
    ),
    Family(
        "wide_block_row_sums",
        reductions.block_row_sums,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: x.sum(-1) * 2.0,
        tags=("reduction", "register-block-size", "padding"),
    ),
    Family(
        "edge_block_row_sums",
        reductions.block_row_sums,
        lambda: (torch.randn(6, 20),),
        reference=lambda x: x.sum(-1) * 2.0,
        tags=("reduction", "register-block-size", "padding"),
    ),
    Family(
        "cumsum_rows",
        reductions.cumsum_rows,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: torch.cumsum(x, dim=1),
        tags=("scan",),
    ),
    Family(
        "reverse_cumprod_rows",
        reductions.reverse_cumprod_rows,
        lambda: (torch.rand(6, 10) + 0.5,),
        reference=lambda x: x.flip(1).cumprod(1).flip(1),
        tags=("scan",),
    ),
    Family(
        "cummax_rows",
        reductions.cummax_rows,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: torch.cummax(x, dim=1).values,
        tags=("scan", "combine-function"),
    ),
    Family(
        "argmax_rows",
        reductions.argmax_rows,
        lambda: (torch.randn(6, 10),),
        reference=lambda x: x.argmax(dim=1),
        tags=("reduction", "combine-function"),
    ),
    # -- normalisations
    Family(
        "layer_norm",
        norms.layer_norm,
        _layer_norm_args,
        reference=_layer_norm,
        tags=("norm", "reduction"),
    ),
    Family(
        "layer_norm_reduction_loops",
        norms.layer_norm_reduction_loops,
        _layer_norm_args,
        reference=_layer_norm,
        tags=("norm", "reduction", "reduction-loop"),
    ),
    Family(
        "rms_norm",
        norms.rms_norm,
        lambda: (_randn(6, 20, dtype=torch.bfloat16), _randn(20, dtype=torch.bfloat16), 1e-6),
        reference=_rms_norm,
        tags=("norm", "reduction"),
    ),
    # -- matrix products
    Family("matmul", linalg.matmul, _matmul_args, reference=torch.matmul, tags=("matmul",)),
    Family(
        "matmul_fp16",
        linalg.matmul,
        lambda: (_randn(16, 32, dtype=torch.float16), _randn(32, 8, dtype=torch.float16)),
        reference=_matmul_in_fp32,
        tags=("matmul", "fp16"),
    ),
    Family(
        "matmul_bf16",
        linalg.matmul,
        lambda: (_randn(16, 32, dtype=torch.bfloat16), _randn(32, 8, dtype=torch.bfloat16)),
        reference=_matmul_in_fp32,
        tags=("matmul", "bf16"),
    ),
    Family(
        "addmm_bias_relu",
        linalg.addmm_bias_relu,
        lambda: (
            _randn(12, dtype=torch.float16),
            _randn(10, 40, dtype=torch.float16),
            _randn(40, 12, dtype=torch.float16),
        ),
        reference=_addmm_bias_relu,
        tags=("matmul", "addmm", "epilogue", "fp16"),
    ),
    Family(
        "bmm",
        linalg.bmm,
        lambda: (_randn(2, 10, 24, dtype=torch.bfloat16), _randn(2, 24, 12, dtype=torch.bfloat16)),
        reference=_matmul_in_fp32,
        tags=("matmul", "bmm", "bf16"),
    ),
    Family(
        "matmul_dot",
        linalg.matmul_dot,
        lambda: (_randn(16, 40, dtype=torch.bfloat16), _randn(40, 12, dtype=torch.bfloat16)),
        reference=lambda x, y: x.float() @ y.float(),
        tags=("matmul", "dot", "bf16"),
    ),
    Family(
        "dot_out_dtype",
        linalg.dot_out_dtype,
        lambda: (_randn(2, 12, 32, dtype=torch.float16), _randn(2, 32, 10, dtype=torch.float16)),
        reference=lambda a, b: (a.float() @ b.float()) * 0.5,
        tags=("matmul", "dot", "bmm", "out-dtype", "fp16"),
    ),
    Family(
        "matmul_split_k",
        linalg.matmul_split_k,
        lambda: (torch.randn(8, 64), torch.randn(64, 12)),
        reference=torch.matmul,
        tags=("matmul", "split-k", "atomics"),
    ),
    Family(
        "attention",
        linalg.attention,
        lambda: (
            _randn(2, 8, 16, dtype=torch.float16),
            _randn(2, 10, 16, dtype=torch.float16),
            _randn(2, 10, 16, dtype=torch.float16),
        ),
        reference=_attention,
        tags=("attention", "online", "fp16"),
    ),
    # -- gathers and data-dependent bounds
    Family(
        "embedding",
        indexing.embedding,
        lambda: (torch.randint(0, 10, (6,)), torch.randn(10, 12)),
        reference=lambda indices, weight: weight[indices],
        tags=("gather",),
    ),
    Family(
        "jagged_row_sums",
        indexing.jagged_row_sums,
        _jagged_args,
        reference=_jagged_row_sums,
        tags=("jagged", "gather", "mask"),
    ),
    # -- windows that are not whole tiles
    Family(
        "join_columns",
        slicing.join_columns,
        lambda: (torch.randn(6, 5), torch.randn(6, 7)),
        reference=lambda a, b: torch.cat([a, b], dim=1),
        tags=("slicing", "mask"),
    ),
    Family(
        "swap_halves",
        slicing.swap_halves,
        lambda: (torch.randn(6, 8),),
        reference=lambda x: torch.cat([x[:, 4:], -x[:, :4]], dim=1),
        tags=("slicing",),
    ),
    Family(
        "scale_column_range",
        slicing.scale_column_range,
        lambda: (torch.randn(6, 8), 2, 5),
        reference=lambda x, first, stop: torch.zeros_like(x).index_put_(
            (torch.arange(6)[:, None], torch.arange(first, stop)[None, :]),
            x[:, first:stop] * 2.0 + x[:, -2:-1],
        ),
        tags=("slicing", "scalars", "dynamic-shapes"),
    ),
    Family(
        "unpack_nibbles",
        slicing.unpack_nibbles,
        _packed_nibbles_args,
        reference=_unpack_nibbles,
        tags=("slicing", "tensor-list", "integers"),
    ),
    Family(
        "chunked_decay_scan",
        slicing.chunked_decay_scan,
        lambda: (
            torch.randn(2, 2, 8, 8),
            torch.randn(2, 16, 2, 4),
            torch.randn(2, 2, 2, 8) * 0.1,
            torch.randn(2, 2, 2, 4),
        ),
        reference=_chunked_decay_scan,
        tags=("slicing", "tile-properties", "causal"),
    ),
    Family(
        "chunk_tail_minus_sum",
        slicing.chunk_tail_minus_sum,
        lambda: (torch.randn(2, 10), 4),
        reference=_chunk_tail_minus_sum,
        tags=("tile-properties", "dynamic-shapes", "expressions"),
    ),
    # -- signatures
    Family(
        "center_rows",
        signatures.center_rows,
        lambda: (torch.randn(6, 8), [8], torch.randn(8), 1e-5),
        reference=lambda x, shape, w, eps: F.rms_norm(x - x.mean(-1, keepdim=True), shape, w, eps),
        tags=("signatures", "list-argument", "norm"),
    ),
    Family(
        "affine_pairs",
        signatures.affine_pairs,
        lambda: (torch.randn(10), (0.5, -1.0), [3, 2]),
        reference=lambda x, pair, steps: x * pair[0] + pair[1] + steps[0] * steps[1],
        tags=("signatures", "list-argument", "scalars"),
    ),
    Family(
        "doubled_without_stats",
        signatures.doubled_without_stats,
        lambda: (torch.randn(10),),
        reference=lambda x: (x * 2.0, None),
        tags=("signatures", "none-return"),
    ),
    Family(
        "sum_of_three",
        collections.sum_of_three,
        lambda: ([torch.randn(4, 6), torch.randn(4, 6), torch.randn(4, 6)],),
        reference=lambda xs: xs[0] + xs[1] + xs[2],
        tags=("signatures", "tensor-list"),
    ),
    Family(
        "pair_product",
        collections.pair_product,
        lambda: ((torch.randn(5, 6), torch.randn(5, 6)), 0.5),
        reference=lambda pair, scale: pair[0] * pair[1] * scale,
        tags=("signatures", "tensor-list", "scalars"),
    ),
    Family(
        "doubled_with_count",
        collections.doubled_with_count,
        lambda: (torch.randn(10),),
        reference=lambda x: (x * 2.0, x.size(0)),
        tags=("signatures", "scalar-return"),
    ),
    # -- precision
    Family(
        "half_rounded_row_sums",
        precision.half_rounded_row_sums,
        lambda: (torch.randn(6, 40), 3.0),
        reference=lambda x, scale: (x * scale).half().float().sum(-1),
        tags=("precision", "reduction"),
    ),
    # -- less common kinds
    Family(
        "offset_by_constexpr",
        kinds.offset_by_constexpr,
        lambda: (torch.randn(10), hl.constexpr(3)),
        reference=lambda x, shift: x - shift.value,
        tags=("kinds", "constexpr"),
    ),
    Family(
        "ramp_grid",
        kinds.ramp_grid,
        lambda: (5, 7, torch.int16, torch.device("cpu")),
        reference=_ramp_grid,
        tags=("kinds", "no-tensor-arguments", "dtype-argument"),
    ),
    Family(
        "halve_into",
        kinds.halve_into,
        lambda: (torch.randn(5, 12), torch.bfloat16),
        reference=lambda x, dtype: (x * 0.5).to(dtype),
        tags=("kinds", "dtype-argument"),
    ),
    Family(
        "seeded_dropout",
        kinds.seeded_dropout,
        lambda: (torch.randn(10, 20), 0.25, 4 / 3, 1234),
        reference=_seeded_dropout,
        tags=("kinds", "random"),
    ),
    Family(
        "batched_weighted_sums",
        kinds.batched_weighted_sums,
        lambda: (torch.randn(3, 10, 20), torch.randn(3, 6)),
        reference=lambda x, weights: x.sum(-1)[:, :, None] * weights[:, None, :],
        tags=("kinds", "3d-grid", "reduction"),
    ),
    Family(
        "add_broadcast_row",
        kinds.add_broadcast_row,
        lambda: (torch.randn(10, 12), torch.randn(1, 12)),
        reference=lambda x, row: (x + row, row.expand_as(x).clone()),
        tags=("kinds", "broadcast", "size-one"),
    ),
    Family(
        "folded_prefix_sums",
        kinds.folded_prefix_sums,
        lambda: (torch.randn(4, 11), torch.tensor([11, 3, 0, 8])),
        reference=_folded_prefix_sums,
        tags=("kinds", "jagged", "padding"),
    ),
    Family(
        "nested_jagged_sums",
        kinds.nested_jagged_sums,
        lambda: (
            torch.randn(40),
            torch.tensor([0, 2, 2, 5, 6]),
            torch.tensor([0, 3, 3, 10, 17, 25, 40]),
        ),
        reference=_nested_jagged_sums,
        tags=("kinds", "jagged"),
    ),
]


def family(name: str) -> Family:
    return next(f for f in FAMILIES if f.name == name)
