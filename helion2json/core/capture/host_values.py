"""Host values: the signature, allocations made before the launch, returns, symbols."""

from __future__ import annotations

import ast
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sympy
import torch
from torch.fx import Node

from helion2json.core import expr as ex
from helion2json.core.capture.helion_ir import is_device_loop
from helion2json.core.capture.registry import handles
from helion2json.core.capture.result_types import (
    argument_type,
    elem_of,
    tensor_type,
    type_results,
)
from helion2json.core.capture.specialization import argument_facts
from helion2json.core.capture.symbols import bound_expr
from helion2json.core.capture.values import Named, SymValue, TensorRef, Value, scalar_json
from helion2json.core.dtypes import element_type
from helion2json.core.errors import ArgumentError, UnsupportedError
from helion2json.core.host import HostFactory, HostValue, HostView

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


# Symbolic arithmetic on sizes: its value is the result's symbol.
_SYM_OPERATORS = {
    operator.add,
    operator.sub,
    operator.mul,
    operator.floordiv,
    operator.truediv,
    operator.mod,
    operator.neg,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    operator.eq,
    operator.ne,
    operator.pow,
    torch.sym_float,
    torch.sym_min,
    torch.sym_max,
}


@handles("_get_symnode", *_SYM_OPERATORS, emits=())
def _h_get_symnode(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return SymValue(node.meta["val"])


@handles("_host_tensor", emits=("hl.alloc",))
def _h_host_tensor(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return host_tensor(t, node, values)


@handles("_rng_seed", emits=("hl.rng_seed",))
def _h_rng_seed(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    """A seed of the launch's seed buffer: what torch.rand_like and friends start from.

    Helion decomposes the random numbers themselves into integer torch math
    (Philox4x32-10 over each element's offset), which follows in the body.
    """
    (slot,) = node.args
    name = t.result_name(node)
    t.emit({"op": "hl.rng_seed", "slot": slot, "result": name}, node)
    return Named(name)


def _scalar_type(value: Any) -> str:
    if isinstance(value, (bool, torch.SymBool)):
        return "i1"
    if isinstance(value, (int, torch.SymInt)):
        return "i64"
    return "f64"


_SCALARS = (bool, int, float, torch.SymInt, torch.SymFloat, torch.SymBool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, _SCALARS)


def _is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor)


def _scalar_list(t: KernelTranslator, name: str, items: Sequence[Any]) -> dict[str, Any]:
    """A list of scalars: item ``i`` is the scalar ``{name}_{i}`` of the body.

    Helion turns each item into a symbol of its own (``u0``, ``u1``... in the list's
    order, whatever their values); the body's expressions name the item it stands for.
    """
    names: list[str] = []
    for index, item in enumerate(items):
        item_name = t.fresh(f"{name}_{index}")
        names.append(item_name)
        if isinstance(item, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            t.names.symbol_names[item.node.expr] = ex.Ref(item_name)
        item_type = argument_type(t, item_name, item)
        if item_type is not None:
            t.names.types[item_name] = item_type
    return {"list": [{"scalar": _scalar_type(item)} for item in items], "names": names}


def _tensor_list(t: KernelTranslator, name: str, items: Sequence[torch.Tensor]) -> dict[str, Any]:
    """A list of tensors: item ``i`` is the tensor argument ``{name}_{i}`` of the body.

    Helion resolves ``xs[0]`` while tracing: the body reads the item as a host tensor
    named ``xs[0]`` (or by the host name it was unpacked into), which the host code
    evaluation resolves to the item's name.
    """
    if not t.env.settings.static_shapes:
        raise ArgumentError(
            f"argument '{name}' is a {type(items).__name__} of tensors, which the format "
            "takes under static_shapes=True only",
            kernel=t.kernel_name,
            location=t.def_location(),
        )
    names = [t.fresh(f"{name}_{index}") for index in range(len(items))]
    types: list[dict[str, Any]] = []
    for item_name, item in zip(names, items, strict=True):
        t.names.tensors[item_name] = TensorRef(item_name, item.dim())
        t.names.tensor_items[item_name] = item
        elem = element_type(item.dtype, t.def_location())
        types.append({"tensor": {"shape": ["?"] * item.dim(), "elem": elem}})
        item_type = argument_type(t, item_name, item)
        if item_type is not None:
            t.names.types[item_name] = item_type
    t.host_eval.bind_tensor_list(
        name, {item_name: item.dim() for item_name, item in zip(names, items, strict=True)}
    )
    return {"list": types, "names": names}


def signature(t: KernelTranslator) -> list[dict[str, Any]]:
    args: list[dict[str, Any]] = []
    for name, value in t.params:
        t.state.used_names.add(name)
        if isinstance(value, torch.Tensor):
            ref = TensorRef(name, value.dim())
            t.names.tensors[name] = ref
            elem = element_type(value.dtype, t.def_location())
            args.append(
                {"id": name, "type": {"tensor": {"shape": ["?"] * value.dim(), "elem": elem}}}
            )
        elif isinstance(value, (bool, int, float, torch.SymInt, torch.SymFloat, torch.SymBool)):
            args.append({"id": name, "type": {"scalar": _scalar_type(value)}})
            if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
                t.names.symbol_names[value.node.expr] = ex.Ref(name)
        elif isinstance(value, sympy.Basic) and value.is_Boolean:
            # A bool argument: Helion keeps it as ``Eq(u, 1)`` over an integer symbol.
            args.append({"id": name, "type": {"scalar": "i1"}})
            t.names.symbol_names[value] = ex.Ref(name)
            if isinstance(value, sympy.Eq) and value.rhs == 1:
                t.names.symbol_names[value.lhs] = ex.Ref(name)
        elif isinstance(value, (list, tuple)) and value and all(map(_is_scalar, value)):
            args.append({"id": name, "type": _scalar_list(t, name, value)})
        elif isinstance(value, (list, tuple)) and value and all(map(_is_tensor, value)):
            args.append({"id": name, "type": _tensor_list(t, name, value)})
        elif isinstance(value, torch.dtype):
            # Helion specialises on a dtype: the body holds its element type wherever it is used.
            args.append({"id": name, "type": {"dtype": element_type(value, t.def_location())}})
        elif isinstance(value, torch.device):
            args.append({"id": name, "type": {"device": None}})
        elif value is None:
            args.append({"id": name, "type": {"none": None}})
        elif isinstance(value, str):
            args.append({"id": name, "type": {"constant": value, "kind": "str"}})
        elif callable(value):
            qualified = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"
            args.append({"id": name, "type": {"constant": qualified, "kind": "callable"}})
        else:
            raise ArgumentError(
                f"argument '{name}' is a {type(value).__name__}; the format has tensor, "
                "scalar (int, float, bool), list of scalars or of tensors, dtype, device, None, str "
                "and "
                "callable arguments",
                kernel=t.kernel_name,
                location=t.def_location(),
            )
    for arg, facts, (name, value) in zip(args, argument_facts(t), t.params, strict=True):
        value_type = argument_type(t, name, value)
        if value_type is not None:
            t.names.types[name] = value_type
        arg.update(facts)
    register_shape_symbols(t)
    return args


def register_shape_symbols(t: KernelTranslator) -> None:
    """``dim(x,0)`` for every symbolic extent, from the shape environment's sources."""
    tensor_params = {name for name, value in t.params if isinstance(value, torch.Tensor)}
    sources = getattr(t.env.shape_env, "var_to_sources", {}) or {}
    for symbol, symbol_sources in sources.items():
        for source in symbol_sources:
            base = getattr(source, "base", None)
            local = getattr(base, "local_name", None)
            prop = getattr(getattr(source, "prop", None), "name", None)
            axis = getattr(source, "idx", None)
            if local in tensor_params and prop == "SIZE" and isinstance(axis, int):
                t.names.symbol_names.setdefault(symbol, ex.Dim(local, axis))
                break
    # Sizes whose symbol has no recorded source still name the argument they belong to.
    for name, value in t.params:
        if not isinstance(value, torch.Tensor):
            continue
        for axis, size in enumerate(value.shape):
            if isinstance(size, torch.SymInt) and isinstance(size.node.expr, sympy.Symbol):
                t.names.symbol_names.setdefault(size.node.expr, ex.Dim(name, axis))


def host_statements_before_device(t: KernelTranslator) -> None:
    """Evaluate the host code so that sizes and allocations keep their provenance."""
    for stmt in t.host.body:
        if is_device_loop(stmt):
            break
        t.host_eval.run(stmt)


def returns(t: KernelTranslator) -> tuple[list[dict[str, Any]], list[Any]]:
    """The ``rets`` and the ``hl.return`` values: a tensor's name, null for None, and a
    host scalar (``n = x.size(0)``, a number) as the operand that computes it."""
    returned: list[ast.expr | None] = []
    for stmt in t.host.body:
        if isinstance(stmt, ast.Return):
            returned = [None if _is_none(element) else element for element in _returned(stmt)]
    rets: list[dict[str, Any]] = []
    values: list[Any] = []
    for element in returned:
        if element is None:
            rets.append({"type": {"none": None}})
            values.append(None)
            continue
        scalar = _returned_scalar(t, element)
        if scalar is not None:
            operand, scalar_type = scalar
            rets.append({"type": {"scalar": scalar_type}})
            values.append(operand)
            continue
        name = _returned_name(t, element)
        ref = t.names.tensors.get(name)
        if ref is None:
            raise t.unsupported(
                f"the kernel returns '{name}', which is neither a tensor the format knows "
                "nor a host scalar it can compute",
                None,
            )
        rets.append({"type": {"tensor": {"shape": ["?"] * ref.rank, "elem": elem_of(t, name)}}})
        values.append(name)
    return rets, values


def _returned_scalar(t: KernelTranslator, element: ast.expr) -> tuple[Any, str] | None:
    """A returned host scalar as an operand (a number, a scalar argument's name, or an
    integer expression over the arguments) and its scalar type; None if it is not one."""
    if isinstance(element, ast.Name) and element.id in t.names.tensors:
        return None
    value = t.host_eval.value(element)
    if value.tensor is not None or value.items is not None:
        return None
    if isinstance(value.expr, ex.Ref) and value.expr.name in dict(t.params):
        argument = t.argument(value.expr.name)
        return (value.expr.name, _scalar_type(argument)) if _is_scalar(argument) else None
    if value.expr is not None:
        operand = ex.format_expr(value.expr)
        return (operand if isinstance(operand, int) else {"expr": operand}), "i64"
    if isinstance(value.number, (bool, float)):
        return value.number, _scalar_type(value.number)
    return None


def _is_none(element: ast.expr) -> bool:
    return isinstance(element, ast.Constant) and element.value is None


def _returned(stmt: ast.Return) -> list[ast.expr]:
    value = stmt.value
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return []
    return list(value.elts) if isinstance(value, (ast.Tuple, ast.List)) else [value]


def _returned_name(t: KernelTranslator, element: ast.expr) -> str:
    """The name a returned value has: a view of a result (``out.view(x.size())``) is
    computed on the host after the launch, under a name of its own; an item of a list
    argument (``bufs[1]``, or the name it was unpacked into) is the item's name."""
    value = t.host_eval.value(element)
    if value.tensor is not None and value.tensor in t.names.tensor_items:
        return value.tensor
    if isinstance(element, ast.Name):
        return element.id
    view = value.view
    if view is None or view.source not in t.names.tensors:
        return ast.unparse(element)
    name = t.fresh(f"{view.source}_{view.aten}")
    op = _view_op(t, view, name)
    type_results(t, op, None, _view_type(t, view, name))
    if t.options.locations:
        op["loc"] = t.source_loc(view.line, view.col)
    t.state.body.append(op)
    return name


def host_tensor(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    name = str(node.args[0])
    if name in t.names.tensors:
        return t.names.tensors[name]
    fake = node.meta["val"]
    item = _tensor_item(t, name)
    if item is not None:
        return item
    if name in t.host_eval.views:
        return host_view(t, name, node)
    factory = t.host_eval.factories.get(name)
    location = t.where(node)
    if factory is None:
        raise UnsupportedError(
            f"host tensor '{name}' is computed by host code the format cannot express; "
            "allocate it with torch.empty/zeros/full (or *_like) before the device loop",
            kernel=t.kernel_name,
            location=t.host_eval.definition_location(name, t.source.file, t.source.first_line)
            or location,
            op="host tensor",
        )
    shape: list[ex.Expr] = []
    for axis, size in enumerate(fake.shape):
        host_expr = factory.shape[axis] if factory.shape and axis < len(factory.shape) else None
        shape.append(bound_expr(t, size, HostValue(host_expr), node, values))
    dtype = element_type(fake.dtype, location)
    op: dict[str, Any] = {"op": "hl.alloc", "shape": shape, "dtype": dtype, "result": name}
    if factory.fill is not None:
        op["fill"] = scalar_json(factory.fill)
    t.state.used_names.add(name)
    t.names.alloc_dtypes[name] = dtype
    insert_alloc(t, op, factory)
    ref = TensorRef(name, len(shape))
    t.names.tensors[name] = ref
    return ref


def _tensor_item(t: KernelTranslator, name: str) -> TensorRef | None:
    """The item of a list argument that the host tensor ``name`` (``xs[0]``, or a name
    the host code unpacked an item into) is, if it is one."""
    try:
        expression = ast.parse(name, mode="eval").body
    except SyntaxError:
        return None
    tensor = t.host_eval.value(expression).tensor
    return t.names.tensors.get(tensor) if tensor is not None else None


def host_view(t: KernelTranslator, name: str, node: Node | None) -> TensorRef:
    """A host tensor that a view or reshape computes from another, before the launch."""
    view = t.host_eval.views[name]
    source = t.names.tensors.get(view.source)
    if source is None and view.source in t.host_eval.views:
        source = host_view(t, view.source, node)
    if source is None:
        raise t.unsupported(
            f"host tensor '{name}' is a view of '{view.source}', which the format does not know",
            node,
            op="host tensor",
        )
    t.state.used_names.add(name)
    op = _view_op(t, view, name)
    type_results(t, op, None, _view_type(t, view, name))
    insert_host_op(t, op, view.line, view.col)
    return t.names.tensors[name]


def _view_op(t: KernelTranslator, view: HostView, name: str) -> dict[str, Any]:
    """The op computing ``view`` as the host tensor ``name``, which the format then knows."""
    t.names.alloc_dtypes[name] = elem_of(t, view.source)
    t.names.tensors[name] = TensorRef(name, len(view.shape))
    return {
        "op": f"torch.{view.aten}",
        "overload": view.overload,
        "result": name,
        "args": [view.source],
        "attrs": dict(view.attrs),
    }


def _view_type(t: KernelTranslator, view: HostView, name: str) -> dict[str, Any]:
    """A host view's type: its extents as the host code computes them."""
    shape: list[ex.Expr] = []
    for axis, extent in enumerate(view.shape):
        if extent is None:
            raise t.unsupported(
                f"host view '{name}' has an extent the format cannot express (axis {axis})",
                None,
                op=f"torch.{view.aten}",
            )
        shape.append(ex.format_expr(extent))
    return tensor_type(shape, elem_of(t, name))


def insert_alloc(t: KernelTranslator, op: dict[str, Any], factory: HostFactory) -> None:
    """Allocations run on the host, before every launch: put them ahead of the first."""
    for part in op["shape"]:
        for piece in ex.walk(ex.parse_expr(part)):
            # An allocation shaped like a view (empty_like(q_view)) comes after it.
            if (
                isinstance(piece, ex.Dim)
                and piece.tensor in t.host_eval.views
                and piece.tensor not in t.names.tensors
            ):
                host_view(t, piece.tensor, None)
    type_results(t, op, None)
    insert_host_op(t, op, factory.line, factory.col)


def insert_host_op(t: KernelTranslator, op: dict[str, Any], line: int, col: int) -> None:
    """Host ops (allocations, views) run before every launch, in the order they are met."""
    if t.options.locations:
        op["loc"] = t.source_loc(line, col)
    position = 0
    while position < len(t.state.body) and id(t.state.body[position]) in t.state.host_ops:
        position += 1
    t.state.body.insert(position, op)
    t.state.host_ops.add(id(op))
