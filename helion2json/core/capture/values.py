"""What a device-IR node translates to, and small helpers on IR values."""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy
import torch
from torch.fx import Graph, Node

from helion2json.core import expr as ex


@dataclass
class TensorRef:
    """A tensor that lives on the host: a kernel argument or an ``hl.alloc``."""

    name: str
    rank: int


@dataclass
class SymValue:
    """A symbolic or constant scalar (a SymInt, a scalar argument, a literal)."""

    value: Any  # sympy expression, int, float or bool


@dataclass
class Named:
    """A device value the document has already given a name."""

    name: str


@dataclass
class PendingLoad:
    """A load not yet emitted: it becomes an inline slice when used once by torch math."""

    node: Node
    base: TensorRef
    index: list[dict[str, Any]]
    slice: dict[str, Any] | None
    mask: str | None
    emitted_as: str | None = None
    inlined: bool = False
    # Per result axis, the block size an edge tile's value is padded to with zeros (a
    # number, or a block-size symbol's name), or None.
    pad_to: list[int | str | None] | None = None


@dataclass
class BranchResults:
    """The outputs of an ``_if``: one merged name per value a branch assigns."""

    names: list[str | None]


@dataclass
class LoopResults:
    names: list[str | None]


@dataclass
class LoweringExtra:
    """A piece of an ATen op that Inductor split into several buffers.

    The op itself is emitted with its traced arguments, so the piece emits
    nothing unless a reduction loop needs it as a partial result.
    """

    node: Node


Value = (
    TensorRef
    | SymValue
    | Named
    | PendingLoad
    | BranchResults
    | LoopResults
    | LoweringExtra
    | list[Any]
    | None
)


@dataclass
class Block:
    """One Helion block (a tiled dimension) and how the JSON names it."""

    block_id: int
    tile: str
    iter: str
    size: ex.Expr
    symbol: sympy.Symbol | None
    reduction: bool
    # The config's block size where ``size`` is clamped to a static extent.
    config_size: int | None = None


@dataclass
class ExportOptions:
    module_name: str = "helion_module"
    locations: bool = True
    # A ``helion.Config`` (or its mapping) to export with; None: the kernel's default config.
    config: Mapping[str, Any] | None = None


@dataclass
class Accumulator:
    """A reduction carried across the iterations of a reduction loop."""

    name: str
    combine: str  # the ATen op (in ``torch.ops.aten``) that folds a partial result in
    dtype: torch.dtype  # the accumulator's element type
    result_dtype: torch.dtype  # the reduction's own result type
    block_id: int  # the reduced dimension, which the loop iterates over


def scalar_json(value: Any) -> Any:
    """Python scalars as JSON: non-finite floats become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def value_of(raw: Any, values: dict[Node, Value]) -> Value:
    return values[raw] if isinstance(raw, Node) else SymValue(raw)


def expr_of(value: Any) -> Any:
    """The sympy expression of a SymInt (other values unchanged)."""
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return value.node.expr
    return value


def concrete_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, torch.SymInt):
        with contextlib.suppress(Exception):
            expr = value.node.expr
            if isinstance(expr, sympy.Integer):
                return int(expr)
    if isinstance(value, sympy.Integer):
        return int(value)
    return None


def graph_outputs(graph: Graph) -> list[Any]:
    output_node = next(n for n in reversed(graph.nodes) if n.op == "output")
    outputs = output_node.args[0] if output_node.args else []
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def used_outputs(loop: Node) -> list[int]:
    """The outputs of a loop node that something after the loop reads."""
    return sorted(
        {
            user.args[1]
            for user in loop.users
            if user.target is operator.getitem and isinstance(user.args[1], int)
        }
    )


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()
