"""Executors of ``torch.*`` ops: the document's operator, called through ``torch.ops``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from helion2json.core.dtypes import dtype_label
from helion2json.core.ops import TORCH, TorchOp
from helion2json.interpret.registry import executes
from helion2json.interpret.values import NON_FINITE, InterpretError, dtype_of, scalar_value

if TYPE_CHECKING:
    from helion2json.interpret.machine import Interpreter


@dataclass(frozen=True)
class _Param:
    name: str
    # tensor, tensors, dtype, layout, memory_format, device, generator, int, bool, number, other
    kind: str
    kwarg_only: bool
    # Read from ``args`` (tensors, tensor lists written there) rather than ``attrs``.
    in_args: bool


@dataclass(frozen=True)
class _TorchPlan:
    overload: Any
    params: tuple[_Param, ...]
    result_count: int
    # A matrix product: ATen multiplies operands of one element type only.
    matmul: bool
    # Accumulates many elements (``ACCUMULATING``).
    accumulating: bool


def _param_kind(argument: Any) -> str:
    # A single (optional) tensor travels in ``args``; everything else, tensor lists
    # included, in ``attrs`` by schema name: the same split the exporter makes.
    text = str(argument.type)
    if text.startswith("Tensor") or text.startswith("Optional[Tensor"):
        return "tensor"
    real = str(getattr(argument, "real_type", argument.type))
    if "Tensor" in real:
        return "tensors"
    for kind, marker in (
        ("dtype", "ScalarType"),
        ("layout", "Layout"),
        ("memory_format", "MemoryFormat"),
        ("device", "Device"),
        ("generator", "Generator"),
    ):
        if marker in real:
            return kind
    if "int" in real:
        return "int"
    if "bool" in real:
        return "bool"
    if "number" in real or "float" in real or "complex" in real:
        return "number"
    return "other"


def _torch_plan(op: TorchOp) -> _TorchPlan:
    path = op.op.split(".")[1:]
    namespace, name = ("aten", path[0]) if len(path) == 1 else (path[0], ".".join(path[1:]))
    packet = getattr(getattr(torch.ops, namespace, None), name, None)
    if packet is None:
        raise InterpretError(f"no PyTorch operator torch.ops.{namespace}.{name}")
    try:
        overload = getattr(packet, op.overload)
    except AttributeError:
        raise InterpretError(
            f"torch.ops.{namespace}.{name} has no overload {op.overload!r}"
        ) from None
    schema = overload._schema
    params = []
    for argument in schema.arguments:
        kind = _param_kind(argument)
        # A tensor list travels in ``args`` as a list of operands, or in ``attrs``.
        in_args = kind == "tensor" or (kind == "tensors" and argument.name not in op.attrs)
        params.append(_Param(argument.name, kind, argument.kwarg_only, in_args))
    tensors = sum(1 for p in params if p.in_args)
    if len(op.args) != tensors:
        raise InterpretError(
            f"{len(op.args)} args, but the schema {schema} has {tensors} tensor arguments"
        )
    names = {p.name for p in params if not p.in_args}
    unknown = sorted(set(op.attrs) - names)
    if unknown:
        raise InterpretError(f"attrs {unknown} are not non-tensor arguments of {schema}")
    missing = sorted(names - set(op.attrs))
    if missing:
        raise InterpretError(f"attrs {missing} of {schema} are missing (all must be written)")
    results = op.result if isinstance(op.result, list) else [op.result]
    result_count = len([r for r in results if r is not None])
    if len(schema.returns) != result_count and not (result_count == 1 and schema.returns):
        raise InterpretError(
            f"{result_count} results, but the schema {schema} returns {len(schema.returns)}"
        )
    matmul = namespace == "aten" and name in _MATMULS
    accumulating = namespace == "aten" and name in ACCUMULATING
    return _TorchPlan(overload, tuple(params), result_count, matmul, accumulating)


_MATMULS = frozenset(
    {"addmm", "addbmm", "baddbmm", "addmv", "addr", "bmm", "dot", "matmul", "mm", "mv"}
)

# Ops that accumulate many elements: on 16-bit floats they accumulate in f32 and round
# once to their result's type, as Helion's generated code does (docs/json-format.md,
# "Accumulation precision").
ACCUMULATING = _MATMULS | frozenset(
    {
        "sum",
        "nansum",
        "mean",
        "prod",
        "cumsum",
        "cumprod",
        "logcumsumexp",
        "logsumexp",
        "var",
        "std",
        "var_mean",
        "std_mean",
        "_softmax",
        "_log_softmax",
        "softmax",
        "log_softmax",
        "linalg_vector_norm",
        "norm",
    }
)
HALF_FLOATS = (torch.float16, torch.bfloat16)


def _convert_floating(value: Any, dtype: torch.dtype) -> Any:
    """``value`` (a tensor or a list of them) with floating tensors converted to ``dtype``."""
    if isinstance(value, list):
        return [_convert_floating(item, dtype) for item in value]
    if isinstance(value, torch.Tensor) and value.dtype.is_floating_point:
        return value.to(dtype)
    return value


def _check_matmul_types(operands: Sequence[Any]) -> None:
    types = [dtype_label(t.dtype) for t in operands if isinstance(t, torch.Tensor)]
    if len(set(types)) > 1:
        raise InterpretError(
            f"operands of element types {', '.join(types)}: ATen multiplies matrices of one "
            "element type, and the op has no operand_dtype saying which one to compute in"
        )


@executes(TORCH, plan=lambda it, op: _torch_plan(op))
def execute_torch(it: Interpreter, op: TorchOp, plan: _TorchPlan) -> None:
    tensors = iter(op.args)
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for param in plan.params:
        if param.in_args:
            given = next(tensors)
            value = (
                [it.operand(item) for item in given]
                if isinstance(given, list)
                else it.operand(given)
            )
        else:
            value = attr(it, param, op.attrs[param.name])
        if op.operand_dtype is not None and param.kind in ("tensor", "tensors"):
            value = _convert_floating(value, dtype_of(op.operand_dtype))
        if param.kwarg_only:
            keywords[param.name] = value
        else:
            positional.append(value)
    if plan.matmul:
        _check_matmul_types(positional)
    if plan.accumulating:
        result = accumulate_in_f32(plan.overload, positional, keywords)
    else:
        result = plan.overload(*positional, **keywords)
    if op.result is None:
        return
    if isinstance(op.result, list):
        if not isinstance(result, tuple | list) or len(result) != len(op.result):
            raise InterpretError(f"expected {len(op.result)} results")
        for name, item in zip(op.result, result, strict=True):
            it.define(name, item)
    else:
        it.define(op.result, result)


def accumulate_in_f32(overload: Any, positional: list[Any], keywords: dict[str, Any]) -> Any:
    """``overload`` on 16-bit floating operands, accumulated in f32 and rounded once.

    The result has the type the op gives on its own operands (its ``dtype``
    argument, when it has one, decides as usual).
    """
    tensors = [
        value
        for value in [*positional, *keywords.values()]
        if isinstance(value, torch.Tensor) and value.dtype in HALF_FLOATS
    ]
    if not tensors:
        return overload(*positional, **keywords)
    expected = overload(*_as_meta(positional), **_as_meta(keywords))
    wide = overload(*_half_to_f32(positional), **_half_to_f32(keywords))
    if isinstance(wide, tuple | list):
        return type(wide)(w.to(e.dtype) for w, e in zip(wide, expected, strict=True))
    return wide.to(expected.dtype)


def _half_to_f32(value: Any) -> Any:
    if isinstance(value, list):
        return [_half_to_f32(item) for item in value]
    if isinstance(value, dict):
        return {key: _half_to_f32(item) for key, item in value.items()}
    if isinstance(value, torch.Tensor) and value.dtype in HALF_FLOATS:
        return value.to(torch.float32)
    return value


def _as_meta(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_meta(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_meta(item) for key, item in value.items()}
    if isinstance(value, torch.Tensor):
        return value.to("meta")
    if isinstance(value, torch.device):
        return torch.device("meta")
    return value


def attr(it: Interpreter, param: _Param, value: Any) -> Any:
    if isinstance(value, list):
        return [attr(it, param, item) for item in value]
    kind = param.kind
    if kind == "device":
        # Devices are written as null: the kernel runs where its inputs are.
        return it.device if value is None else torch.device(value)
    if value is None or isinstance(value, bool):
        return value
    if kind == "tensors":
        return it.operand(value)
    if kind == "dtype":
        return dtype_of(value)
    if kind in ("layout", "memory_format"):
        named = getattr(torch, str(value), None)
        if not isinstance(named, torch.layout | torch.memory_format):
            raise InterpretError(f"attr {param.name}: unknown {kind} {value!r}")
        return named
    if kind in ("int", "number", "bool") and isinstance(value, str):
        if value in NON_FINITE:
            return NON_FINITE[value]
        named = it.lookup(value)
        if named is not None:
            return scalar_value(named, param.name)
        return it.number_expr(value)
    if isinstance(value, dict):
        return it.operand(value)
    return value
