"""Executors of scans and reductions, with their combine functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from helion2json.core.ops import AssociativeScanOp, CombineFunction, ReduceOp, ScanOp
from helion2json.interpret.machine import Env
from helion2json.interpret.registry import executes
from helion2json.interpret.torch_ops import HALF_FLOATS
from helion2json.interpret.values import InterpretError

if TYPE_CHECKING:
    from helion2json.interpret.machine import Interpreter


Combine = Callable[[list[torch.Tensor], list[torch.Tensor]], list[torch.Tensor]]


@executes("hl.cumsum", "hl.cumprod")
def execute_scan(it: Interpreter, op: ScanOp) -> None:
    src = it.tensor_operand(op.src, "src")
    scan = torch.cumsum if op.op == "hl.cumsum" else torch.cumprod
    # torch widens integer scans to int64; Helion keeps the input's type.
    dtype = src.dtype if src.dtype != torch.bool else torch.int64
    # 16-bit floats run in f32 and round once (docs/json-format.md, "Accumulation precision").
    running = torch.float32 if dtype in HALF_FLOATS else dtype
    if op.reverse:
        value = scan(src.flip(op.dim), op.dim, dtype=running).flip(op.dim)
    else:
        value = scan(src, op.dim, dtype=running)
    it.define(op.result, value.to(dtype))


def combine(it: Interpreter, function: CombineFunction) -> Combine:
    """A combine function as a callable on (left values, right values)."""
    try:
        program = it.build(function.body)
    except InterpretError as exc:
        raise InterpretError(f"in the combine function: {exc}") from None

    def call(left: list[torch.Tensor], right: list[torch.Tensor]) -> list[torch.Tensor]:
        outer, outer_in_combine = it.env, it.in_combine
        # The function sees its parameters only: the left values, then the right ones.
        it.env, it.in_combine = Env(), True
        it.env.scopes[0].update(zip(function.params, [*left, *right], strict=True))
        try:
            it.run_block(program)
            return [it.env.get(name) for name in function.results]
        except InterpretError as exc:
            raise InterpretError(f"in the combine function: {exc}") from None
        finally:
            it.env, it.in_combine = outer, outer_in_combine

    return call


def combine_args(it: Interpreter, args: Sequence[Any], count: int) -> list[torch.Tensor]:
    values = [it.tensor_operand(arg, f"args[{i}]") for i, arg in enumerate(args)]
    if len(values) != count:
        raise InterpretError(f"{len(values)} args for {count} results")
    return list(torch.broadcast_tensors(*values))


@executes("hl.reduce", plan=lambda it, op: combine(it, op.combine))
def execute_reduce(it: Interpreter, op: ReduceOp, combine: Combine) -> None:
    values = combine_args(it, op.args, len(op.result))
    shape = values[0].shape
    if op.dim is None:
        values, dim = [v.reshape(-1) for v in values], 0
    else:
        dim = op.dim % max(values[0].dim(), 1)
    if values[0].shape[dim] == 0:
        raise InterpretError("hl.reduce over an empty axis has no value")
    # Pairs of neighbours fold until one is left: associativity is all this needs.
    while values[0].shape[dim] > 1:
        length = values[0].shape[dim]
        even = torch.arange(0, length - 1, 2, device=values[0].device)
        left = [v.index_select(dim, even) for v in values]
        right = [v.index_select(dim, even + 1) for v in values]
        folded = combine(left, right)
        if length % 2:
            folded = [
                torch.cat([f, v.narrow(dim, length - 1, 1)], dim)
                for f, v in zip(folded, values, strict=True)
            ]
        values = folded
    if op.dim is None:
        results = [v.reshape([1] * len(shape) if op.keep_dims else []) for v in values]
    else:
        results = values if op.keep_dims else [v.squeeze(dim) for v in values]
    for name, value in zip(op.result, results, strict=True):
        it.define(name, value)


@executes("hl.associative_scan", plan=lambda it, op: combine(it, op.combine))
def execute_associative_scan(it: Interpreter, op: AssociativeScanOp, combine: Combine) -> None:
    values = combine_args(it, op.args, len(op.result))
    dim = op.dim % max(values[0].dim(), 1)
    if op.reverse:
        # From the last element to the first, the running value on the left (as
        # Helion and Triton scan): a forward scan of the flipped values.
        values = [v.flip(dim) for v in values]
    length = values[0].shape[dim]
    offset = 1
    # Hillis-Steele: after the round with offset k, element i holds the fold of the 2k
    # elements ending at i, the earlier ones always on the left.
    while offset < length:
        left = [v.narrow(dim, 0, length - offset) for v in values]
        right = [v.narrow(dim, offset, length - offset) for v in values]
        folded = combine(left, right)
        values = [
            torch.cat([v.narrow(dim, 0, offset), f], dim)
            for v, f in zip(values, folded, strict=True)
        ]
        offset *= 2
    if op.reverse:
        values = [v.flip(dim) for v in values]
    for name, value in zip(op.result, values, strict=True):
        it.define(name, value)
