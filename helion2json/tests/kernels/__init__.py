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

import torch
import torch.nn.functional as F

from helion2json.tests.kernels import (
    elementwise,
    host_code,
    indexing,
    linalg,
    norms,
    reductions,
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


def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    return F.layer_norm(x.float(), (x.size(1),), w.float(), b.float(), eps).to(x.dtype)


def _rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def _jagged_row_sums(values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    bounds = offsets.tolist()
    return torch.stack([values[a:b].sum() for a, b in itertools.pairwise(bounds)])


# ------------------------------------------------------------------ example arguments


def _matmul_args() -> tuple[Any, ...]:
    return (torch.randn(4, 8), torch.randn(8, 4))


def _jagged_args() -> tuple[Any, ...]:
    return (torch.randn(20), torch.tensor([0, 3, 3, 10, 17, 20]))


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
]


def family(name: str) -> Family:
    return next(f for f in FAMILIES if f.name == name)
