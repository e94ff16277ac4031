"""Math: ATen ops as ``torch.*``, and Helion's own math ops (``hl.dot``, ``hl.full``...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sympy
import torch
from torch.fx import Node

from helion2json.core.capture.helion_ir import node_location
from helion2json.core.capture.reductions import (
    accumulate,
    accumulator_for,
    finish_split_reduction,
    split_pieces,
)
from helion2json.core.capture.registry import TORCH_TARGET, handles
from helion2json.core.capture.symbols import sym_expr
from helion2json.core.capture.values import (
    LoweringExtra,
    Named,
    SymValue,
    Value,
    expr_of,
    scalar_json,
    value_of,
)
from helion2json.core.dtypes import element_type
from helion2json.core.ops import TORCH

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


@handles(TORCH_TARGET, emits=(TORCH,))
def _h_torch(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    target = node.target
    assert isinstance(target, torch._ops.OpOverload)
    if target in (torch.ops.aten.sym_size.int, torch.ops.aten.sym_stride.int):
        return SymValue(node.meta["val"])
    return torch_op(t, node, target, values)


@handles("full", emits=("hl.zeros", "hl.full"))
def _h_full(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    shape_arg, fill, dtype = node.args[0], node.args[1], node.args[2]
    shape = [t.operand_expr(value_of(item, values), node) for item in shape_arg]  # type: ignore[union-attr]
    elem = element_type(dtype, node_location(node))  # type: ignore[arg-type]
    name = t.result_name(node)
    fill_json = t.operand(value_of(fill, values), node)
    if isinstance(fill_json, (int, float)) and not isinstance(fill_json, bool) and fill_json == 0:
        t.emit({"op": "hl.zeros", "shape": shape, "dtype": elem, "result": name}, node)
    else:
        op = {"op": "hl.full", "shape": shape, "value": fill_json, "dtype": elem, "result": name}
        t.emit(op, node)
    return Named(name)


@handles("dot", emits=("hl.dot",))
def _h_dot(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    lhs, rhs = node.args[0], node.args[1]
    acc = node.args[2] if len(node.args) > 2 else None
    out_dtype = node.args[3] if len(node.args) > 3 else None
    args = [
        t.inline_or_name(value_of(lhs, values), node),
        t.inline_or_name(value_of(rhs, values), node),
    ]
    if isinstance(acc, Node):
        args.append(t.operand(values[acc], node))
    op: dict[str, Any] = {"op": "hl.dot", "args": args}
    if isinstance(out_dtype, torch.dtype):
        op["out_dtype"] = element_type(out_dtype, node_location(node))
    op["dtype"] = element_type(node.meta["val"].dtype, node_location(node))
    op["result"] = t.result_name(node)
    t.emit(op, node)
    return Named(op["result"])


@handles("split", emits=("hl.split",))
def _h_split(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    names = t.output_names_of(node, 2)
    src = t.operand(values[node.args[0]], node)  # type: ignore[index]
    t.emit({"op": "hl.split", "src": src, "result": names}, node)
    return [Named(n) for n in names]


@handles("join", emits=("hl.join",))
def _h_join(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    args = [t.operand(value_of(item, values), node) for item in node.args[:2]]
    name = t.result_name(node)
    t.emit({"op": "hl.join", "args": args, "result": name}, node)
    return Named(name)


@handles("_gelu_erf", "_gelu_tanh_approx", emits=(TORCH,))
def _h_gelu(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    """Helion keeps ``torch.nn.functional.gelu`` as one op of its own; it is ``torch.gelu``."""
    approximate = "tanh" if getattr(node.target, "__name__", "") == "_gelu_tanh_approx" else "none"
    src = t.inline_or_name(value_of(node.args[0], values), node)
    name = t.result_name(node)
    attrs = {"approximate": approximate}
    t.emit_aten("gelu", "default", [src], attrs, name, node)
    return Named(name)


def _widened_operand_dtype(
    node: Node, target: torch._ops.OpOverload, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> torch.dtype | None:
    """The wider type Helion computes an op at where eager PyTorch would not.

    Helion accepts mixed-precision matrix products (``addmm`` of an fp32
    accumulator and fp16 factors) that eager PyTorch rejects; it computes them
    with the factors converted to the accumulator's type. Returns that type
    when eager PyTorch fails or differs on the operands' own types but agrees
    once every floating operand is converted to the result's type; else None.
    """
    result = node.meta.get("val")
    if not isinstance(result, torch.Tensor) or not result.dtype.is_floating_point:
        return None
    operand_dtypes = [
        a.meta["val"].dtype
        for a in [*args, *kwargs.values()]
        if isinstance(a, Node) and isinstance(a.meta.get("val"), torch.Tensor)
    ]
    floating = {d for d in operand_dtypes if d.is_floating_point}
    if len(floating) < 2 or any(
        torch.promote_types(d, result.dtype) != result.dtype for d in floating
    ):
        return None
    if _eager_result_dtype(target, args, kwargs, None) == result.dtype:
        return None
    if _eager_result_dtype(target, args, kwargs, result.dtype) != result.dtype:
        return None
    return result.dtype


def _eager_result_dtype(
    target: torch._ops.OpOverload,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    convert_to: torch.dtype | None,
) -> torch.dtype | None:
    """The result type eager PyTorch gives the op on small CPU tensors; None when it fails.

    (``meta`` tensors would be cheaper, but their kernels skip eager's dtype checks.)
    """

    def meta(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(meta(v) for v in value)
        if not isinstance(value, Node):
            return value
        val = value.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise LookupError(value)
        dtype = convert_to if convert_to is not None and val.dtype.is_floating_point else val.dtype
        # Extents only need to agree with each other: the same symbol, the same number.
        shape = [_hint(size) for size in val.shape]
        return torch.zeros(shape, dtype=dtype)

    from torch._subclasses.fake_tensor import unset_fake_temporarily

    try:
        with unset_fake_temporarily():
            out = target(*meta(list(args)), **{k: meta(v) for k, v in kwargs.items()})
    except Exception:
        return None
    return out.dtype if isinstance(out, torch.Tensor) else None


def _hint(size: Any) -> int:
    if isinstance(size, int):
        return size
    expr = expr_of(size)
    if isinstance(expr, sympy.Integer):
        return int(expr)
    # A symbolic extent: any positive number works if equal symbols get equal numbers.
    return 8 + sum(ord(c) for c in str(expr)) % 8


def torch_op_name(target: torch._ops.OpOverload) -> str:
    namespace = target.namespace
    return target._opname if namespace == "aten" else f"{namespace}.{target._opname}"


def _is_tensor_type(arg_type: Any) -> bool:
    # Tensor, Tensor?, Tensor[] and Tensor?[] (List[Optional[Tensor]]) all carry tensors.
    return "Tensor" in str(arg_type)


def _is_floating_result(node: Node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, torch.Tensor) and (
        value.dtype.is_floating_point or value.dtype.is_complex
    )


def torch_op(
    t: KernelTranslator, node: Node, target: torch._ops.OpOverload, values: dict[Node, Value]
) -> Value:
    pieces = split_pieces(node)
    if any(not isinstance(values.get(piece), LoweringExtra) for piece in pieces):
        return finish_split_reduction(t, node, target, values)
    accumulator = accumulator_for(t, node)
    args, kwargs = t.traced_arguments(node)
    if accumulator is None:
        return emit_torch(t, node, target, args, kwargs, values)
    # One iteration's result, in the accumulator's type where that is wider.
    widen = accumulator.dtype if accumulator.dtype != accumulator.result_dtype else None
    partial = emit_torch(
        t, node, target, args, kwargs, values, result=t.fresh(node.name), dtype=widen
    )
    assert isinstance(partial, Named)
    return accumulate(t, node, accumulator, partial.name)


def emit_torch(
    t: KernelTranslator,
    node: Node,
    target: torch._ops.OpOverload,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    values: dict[Node, Value],
    *,
    result: str | None = None,
    dtype: torch.dtype | None = None,
) -> Value:
    """Emit ``torch.<op>`` for a node; ``dtype`` overrides a ``dtype`` argument."""
    schema = target._schema
    op_name = torch_op_name(target)
    json_args: list[Any] = []
    attrs: dict[str, Any] = {}
    floating = _is_floating_result(node)
    for position, argument in enumerate(schema.arguments):
        if position < len(args) and not argument.kwarg_only:
            raw = args[position]
        elif argument.name in kwargs:
            raw = kwargs[argument.name]
        elif argument.has_default_value():
            raw = argument.default_value
        else:
            raise t.unsupported(f"torch.{op_name}: argument '{argument.name}' is missing", node)
        if _is_tensor_type(argument.type):
            if raw is None and not str(argument.type).startswith("Optional"):
                raise t.unsupported(
                    f"torch.{op_name}: Helion dropped operand '{argument.name}' from the "
                    "device IR; bind the kernel through helion2json (export_kernel) so the "
                    "traced operands are recorded",
                    node,
                    op=f"torch.{op_name}",
                )
            if isinstance(raw, (list, tuple)):
                json_args.append([value_operand(t, item, node, values) for item in raw])
            elif torch.Tag.pointwise in target.tags:
                json_args.append(tile_aligned_operand(t, raw, node, values))
            else:
                json_args.append(value_operand(t, raw, node, values))
        elif argument.name == "dtype" and dtype is not None:
            attrs["dtype"] = element_type(dtype, node_location(node))
        else:
            value = attr_value(t, raw, node, values)
            if isinstance(argument.type, torch.NumberType) and floating:
                # ATen casts a Scalar to the result's type; write it in that kind.
                value = float(value) if type(value) is int else value
            attrs[argument.name] = value
    op: dict[str, Any] = {
        "op": f"torch.{op_name}",
        "overload": target._overloadname or "default",
    }
    returns = schema.returns
    value_out: Value
    if len(returns) == 1:
        name = result or t.result_name(node)
        op["result"] = name
        value_out = Named(name)
    elif not returns:
        value_out = None
    else:
        names = t.output_names_of(node, len(returns))
        op["result"] = names
        value_out = [Named(n) for n in names]
    op["args"] = json_args
    op["attrs"] = attrs
    widened = _widened_operand_dtype(node, target, args, kwargs)
    if widened is not None:
        op["operand_dtype"] = element_type(widened, node_location(node))
    t.emit(op, node)
    if dtype is not None and "dtype" not in attrs and isinstance(value_out, Named):
        value_out = Named(t.convert(value_out.name, dtype, node, value_out.name))
    return value_out


def tile_aligned_operand(
    t: KernelTranslator, raw: Any, node: Node, values: dict[Node, Value]
) -> Any:
    """An operand of element-wise math, made to broadcast the way Helion lines it up.

    Helion places each axis of a tile-indexed value on its tile's axis: in an
    ``hl.tile([m, n])`` loop, ``b[t0]`` lines up with ``t0`` (the generated code
    reads ``b[:, None]``), where PyTorch's rule would align it with ``t1``. The
    document follows PyTorch's rule, so such an operand gets explicit
    ``torch.unsqueeze`` ops for the axes it lacks.
    """
    operand = value_operand(t, raw, node, values)
    if not isinstance(raw, Node):
        return operand
    axes = _tile_axes(raw.meta.get("val"), node.meta.get("val"))
    if axes is None:
        return operand
    first = axes[0]
    result_rank = len(node.meta["val"].shape)
    for axis in range(first, result_rank):
        if axis in axes:
            continue
        name = t.fresh(f"{raw.name}_aligned")
        op = {
            "op": "torch.unsqueeze",
            "overload": "default",
            "result": name,
            "args": [operand],
            "attrs": {"dim": axis - first},
        }
        t.emit(op, node)
        operand = name
    return operand


def _tile_axes(operand: Any, result: Any) -> list[int] | None:
    """The result axis of each operand axis where right-aligned broadcasting is wrong.

    None when PyTorch's rule already lines the operand up (every axis equal to the
    result's axis it meets, or of size 1), or when no placement by size matches.
    """
    if not (isinstance(operand, torch.Tensor) and isinstance(result, torch.Tensor)):
        return None
    mine, theirs = [str(size) for size in operand.shape], [str(size) for size in result.shape]
    offset = len(theirs) - len(mine)
    if offset <= 0 or all(size in (theirs[offset + axis], "1") for axis, size in enumerate(mine)):
        return None
    axes: list[int] = []
    for size in mine:
        start = axes[-1] + 1 if axes else 0
        axis = next((a for a in range(start, len(theirs)) if theirs[a] == size), None)
        if axis is None:
            return None
        axes.append(axis)
    return axes


def value_operand(t: KernelTranslator, raw: Any, node: Node, values: dict[Node, Value]) -> Any:
    if isinstance(raw, Node):
        return t.inline_or_name(values[raw], node)
    return t.operand(SymValue(raw), node)


def attr_value(t: KernelTranslator, raw: Any, node: Node, values: dict[Node, Value]) -> Any:
    if isinstance(raw, Node):
        value = values[raw]
        if isinstance(value, SymValue):
            return sym_expr(t, value.value, node)
        return t.operand(value, node)
    if isinstance(raw, (list, tuple)):
        return [attr_value(t, item, node, values) for item in raw]
    if isinstance(raw, torch.dtype):
        return element_type(raw, node_location(node))
    if isinstance(raw, torch.device):
        # Placement belongs to the kernel's launch, not to its math.
        return None
    if isinstance(raw, (torch.layout, torch.memory_format)):
        return str(raw).removeprefix("torch.")
    if isinstance(raw, (torch.SymInt, torch.SymFloat, torch.SymBool, sympy.Expr)):
        return sym_expr(t, raw, node)
    if isinstance(raw, (bool, int, float, str)) or raw is None:
        return scalar_json(raw)
    raise t.unsupported(f"attribute value {raw!r} has no JSON form", node)
