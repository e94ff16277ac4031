"""For which arguments the body is valid: what Helion specialised while it bound the kernel.

The signature's extents are ``"?"``, but the body may hold the example's
numbers: every extent under ``static_shapes=True`` (``args[].example``),
extents Helion specialised otherwise (``args[].specialized``: ``hl.specialize``,
a guard that fixed a symbol, PyTorch's 0/1 rule), scalar arguments Helion holds
as numbers, and numbers Helion computed from any of these (``sm_scale = 1.0 /
math.sqrt(head_dim)``). This module states them, from Helion's settings, shape
environment and type propagation.
"""

from __future__ import annotations

import ast
import contextlib
from typing import TYPE_CHECKING, Any

import sympy
import torch

from helion2json.core import expr as ex
from helion2json.core.capture.helion_ir import literal_number
from helion2json.core.capture.symbols import sym_node
from helion2json.core.capture.values import concrete_int, scalar_json
from helion2json.core.errors import ExportError

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


def argument_facts(t: KernelTranslator) -> list[dict[str, Any]]:
    """What each argument's entry says about its extents, in signature order.

    Under ``static_shapes`` the body is valid for the example's shapes only:
    ``example`` gives them. Otherwise ``specialized`` lists the extents Helion
    fixed to the example's numbers, and why.
    """
    static = bool(t.env.settings.static_shapes)
    by_axis = {(dim.tensor, dim.axis): symbol for symbol, dim in _size_symbols(t).items()}
    asked = set(getattr(t.env, "specialized_vars", ()) or ())
    facts: list[dict[str, Any]] = []
    for name, value in t.params:
        fact: dict[str, Any] = {}
        if isinstance(value, torch.Tensor):
            numbers = [concrete_int(size) for size in value.shape]
            if static and all(n is not None for n in numbers):
                fact["example"] = {"shape": numbers}
            elif not static:
                specialized = [
                    {
                        "axis": axis,
                        "value": number,
                        "by": "hl.specialize" if by_axis.get((name, axis)) in asked else "guard",
                    }
                    for axis, number in enumerate(numbers)
                    if number is not None
                ]
                if specialized:
                    fact["specialized"] = specialized
        elif static and isinstance(value, (list, tuple)) and any(_is_tensor(v) for v in value):
            fact["example"] = {"items": [_example(item) for item in value]}
        facts.append(fact)
    return facts


def _is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor)


def _example(item: Any) -> dict[str, Any] | None:
    """A list item's example shape: the extents of a tensor item, None for a scalar."""
    return {"shape": [concrete_int(size) for size in item.shape]} if _is_tensor(item) else None


def specialization(t: KernelTranslator) -> dict[str, Any]:
    return {
        "static_shapes": bool(t.env.settings.static_shapes),
        "scalars": [
            {"arg": name, "value": scalar_json(value)}
            for name, value in t.params
            if isinstance(value, (bool, int, float))
        ],
        "guards": _guards(t, _size_symbols(t)),
        "values": _folded_values(t),
    }


def _size_symbols(t: KernelTranslator) -> dict[sympy.Symbol, ex.Dim]:
    """The argument axis each size symbol of the shape environment stands for."""
    tensors = {name for name, value in t.params if isinstance(value, torch.Tensor)}
    found: dict[sympy.Symbol, ex.Dim] = {}
    for symbol, symbol_sources in (getattr(t.env.shape_env, "var_to_sources", {}) or {}).items():
        for source in symbol_sources:
            local = getattr(getattr(source, "base", None), "local_name", None)
            prop = getattr(getattr(source, "prop", None), "name", None)
            axis = getattr(source, "idx", None)
            if local in tensors and prop == "SIZE" and isinstance(axis, int):
                found[symbol] = ex.Dim(local, axis)
                break
    return found


def _guards(t: KernelTranslator, sources: dict[sympy.Symbol, ex.Dim]) -> list[str]:
    """The shape environment's conditions on argument extents, as expressions.

    Conditions on other symbols (Helion's block sizes) are Helion's own and
    hold for every argument; those on arguments bound the shapes the body is
    valid for (``dim(x,0) != 1``: PyTorch specialises extents 0 and 1).
    """
    arguments = set(sources)
    arguments |= {
        value.node.expr
        for _, value in t.params
        if isinstance(value, (torch.SymInt, torch.SymFloat))
        and isinstance(value.node.expr, sympy.Symbol)
    }
    saved = dict(t.names.symbol_names)
    for symbol, dim in sources.items():
        t.names.symbol_names.setdefault(symbol, dim)
    guards: list[str] = []
    try:
        for guard in getattr(t.env.shape_env, "guards", []):
            condition = guard.expr
            free = condition.free_symbols
            if not free or not free <= arguments:
                continue
            with contextlib.suppress(ExportError):
                text = ex.format_expr(sym_node(t, condition, None, scalar=True))
                if str(text) not in guards:
                    guards.append(str(text))
    finally:
        t.names.symbol_names = saved
    return guards


def _folded_values(t: KernelTranslator) -> list[dict[str, Any]]:
    """Numbers Helion computed from specialised values, which the body holds as literals.

    An expression of the kernel that reads a host variable or an argument and
    that Helion folded into a number (``1.0 / math.sqrt(head_dim)``), where the
    format has no expression for it: the body is valid only where it comes out
    the same.
    """
    known = {name for name, _ in t.params} | set(t.host_eval.env)
    found: list[dict[str, Any]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.expr) and not isinstance(node, (ast.Name, ast.Constant)):
            number = literal_number(node)
            if number is not None and _reads(node, known) and not _has_expression(t, node):
                entry: dict[str, Any] = {"value": scalar_json(number), "source": ast.unparse(node)}
                if t.options.locations:
                    entry["loc"] = t.source_loc(node.lineno, node.col_offset)
                found.append(entry)
                return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in t.host.body:
        visit(stmt)
    return found


def _reads(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _has_expression(t: KernelTranslator, node: ast.expr) -> bool:
    """True when the format writes the value as an expression (a size: ``dim(x,1)``)."""
    return t.host_eval.value(node).expr is not None
