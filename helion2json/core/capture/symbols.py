"""Symbolic sizes and bounds: Helion's sympy expressions as the format's expressions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sympy
import torch
from torch.fx import Node

from helion2json.core import expr as ex
from helion2json.core.capture.helion_ir import ir
from helion2json.core.capture.values import Block, SymValue, Value, concrete_int, expr_of
from helion2json.core.host import HostValue

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


def sym_node(
    t: KernelTranslator, value: Any, node: Node | None, *, scalar: bool = False
) -> ex.Node:
    """An expression for a symbolic value.

    A block's symbol means two things in Helion: the tile's extent where it
    sizes a value, and the block size where it is used as a number
    (``tile.block_size``). ``scalar`` selects the second.
    """
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        value = value.node.expr
    if isinstance(value, bool):
        return ex.Num(int(value))
    if isinstance(value, int):
        return ex.Num(value)
    if isinstance(value, sympy.Integer):
        return ex.Num(int(value))
    if isinstance(value, sympy.Basic) and value in t.names.symbol_names:
        return t.names.symbol_names[value]
    if isinstance(value, sympy.Symbol):
        block = t.tiles.block_by_symbol.get(value)
        if block is not None:
            return block_expr(t, block, scalar=scalar)
        origin = origin_expr(t, value)
        if origin is not None:
            return origin
        raise t.unsupported(f"symbol {value} has no meaning in the format", node)
    if isinstance(value, sympy.Add):
        terms = [sym_node(t, term, node, scalar=scalar) for term in value.args]
        result = terms[0]
        for term in terms[1:]:
            if isinstance(term, ex.Neg):
                result = ex.BinOp("-", result, term.operand)
            else:
                result = ex.BinOp("+", result, term)
        return result
    if isinstance(value, sympy.Mul):
        factors = list(value.args)
        if factors and factors[0] == -1:
            rest = sympy.Mul(*factors[1:])
            return ex.Neg(sym_node(t, rest, node, scalar=scalar))
        nodes = [sym_node(t, f, node, scalar=scalar) for f in factors]
        result = nodes[0]
        for item in nodes[1:]:
            result = ex.BinOp("*", result, item)
        return result
    if isinstance(value, sympy.Float):
        return ex.Num(float(value))
    if isinstance(value, sympy.Rational):
        return ex.BinOp("/", ex.Num(int(value.p)), ex.Num(int(value.q)))
    name = type(value).__name__
    parts = [sym_node(t, arg, node, scalar=scalar) for arg in value.args]
    if name in _BINARY and len(parts) >= 2:
        result = parts[0]
        for part in parts[1:]:
            result = ex.BinOp(_BINARY[name], result, part)
        return result
    if name == "ModularIndexing" and len(parts) == 3:
        return ex.BinOp("%", ex.BinOp("//", parts[0], parts[1]), parts[2])
    if name == "ToFloat" and len(parts) == 1:
        return ex.BinOp("*", parts[0], ex.Num(1.0))
    if name in _POWERS and len(parts) == 2:
        exponent = concrete_int(value.args[1])
        if exponent is not None and 0 < exponent <= _MAX_POWER:
            result = parts[0]
            for _ in range(exponent - 1):
                result = ex.BinOp("*", result, parts[0])
            return result
    raise t.unsupported(f"symbolic expression {value} has no form in the format", node)


# sympy's and torch's symbolic functions that are one operator of the grammar;
# those with more than two arguments (Min, Max) fold left.
_BINARY = {
    "FloorDiv": "//",
    "CleanDiv": "//",
    "CeilDiv": "cdiv",
    "PythonMod": "%",
    "Mod": "%",
    "IntTrueDiv": "/",
    "FloatTrueDiv": "/",
    "Min": "min",
    "Max": "max",
    "Equality": "==",
    "Unequality": "!=",
    "StrictLessThan": "<",
    "LessThan": "<=",
    "StrictGreaterThan": ">",
    "GreaterThan": ">=",
}
_POWERS = ("Pow", "PowByNatural")
# x**n is written as n - 1 products; larger powers are not worth a long expression.
_MAX_POWER = 8


def sym_expr(
    t: KernelTranslator, value: Any, node: Node | None, *, scalar: bool = False
) -> ex.Expr:
    return ex.format_expr(sym_node(t, value, node, scalar=scalar))


def block_expr(t: KernelTranslator, block: Block, *, scalar: bool) -> ex.Node:
    if block.block_id in t.tiles.open_blocks:
        return block_size_node(t, block) if scalar else ex.Size(block.tile)
    if block.reduction:
        return reduction_extent(t, block, None)
    return block_size_node(t, block)


def block_size_node(t: KernelTranslator, block: Block) -> ex.Node:
    return ex.parse_expr(block.size)


def origin_expr(t: KernelTranslator, symbol: sympy.Symbol) -> ex.Node | None:
    """Symbols Helion creates for ``hl.grid`` indices, tile properties and host variables."""
    entry = t.host.expr_to_origin.get(symbol)
    origin = getattr(entry, "origin", None)
    kinds = ir().origins
    if type(origin) is kinds.GridOrigin:
        # ``for i in hl.grid(n)``: the index is the tile's offset.
        block = t.tiles.blocks.get(getattr(origin, "block_id", -1))
        return ex.Ref(block.tile) if block is not None else None
    if type(origin) in (kinds.TileBeginOrigin, kinds.TileEndOrigin, kinds.TileIdOrigin):
        # A tile property Helion folded into symbolic arithmetic (``min(t.begin + c, n)``)
        # without a node of its own: the property of the open tile, as its op defines it.
        block = t.tiles.blocks.get(getattr(origin, "block_id", -1))
        if block is None or block.block_id not in t.tiles.open_blocks:
            return None
        offset = ex.Ref(block.tile)
        if type(origin) is kinds.TileBeginOrigin:
            return offset
        if type(origin) is kinds.TileEndOrigin:
            return ex.BinOp("+", offset, ex.Size(block.tile))
        return ex.BinOp("//", offset, block_size_node(t, block))
    name = getattr(origin, "name", None)
    if isinstance(origin, kinds.NameOrigin) and isinstance(name, str):
        # A value the host code computed (``k_block = next_power_of_2(...)``).
        host_value = t.host_eval.env.get(name)
        if host_value is not None and host_value.expr is not None:
            return host_value.expr
    return None


def reduction_extent(t: KernelTranslator, block: Block, node: Node | None) -> ex.Node:
    """The extent a reduction dimension spans: ``dim(x,1)`` where the IR agrees."""
    info = t.env.block_sizes[block.block_id]
    size = info.size
    source = t.tiles.reduction_sources.get(block.block_id)
    concrete = concrete_int(size)
    if source is not None:
        dim = ex.Dim(*source)
        if concrete is None or evaluate_int(t, dim) == concrete:
            return dim
    if concrete is not None:
        return ex.Num(concrete)
    if isinstance(size, torch.SymInt) and size.node.expr != block.symbol:
        return sym_node(t, size, node)
    raise t.unsupported(f"reduction dimension {block.block_id} has no known extent", node)


def bound_expr(
    t: KernelTranslator,
    ir_value: Any,
    host_value: HostValue | None,
    node: Node | None,
    values: dict[Node, Value] | None,
) -> ex.Expr:
    if isinstance(ir_value, Node):
        assert values is not None
        return t.operand_expr(values[ir_value], ir_value)
    concrete = concrete_int(ir_value)
    # The host code says *where* an extent comes from (dim(x,0)); the IR says what
    # it is. Use the host's expression only when both agree.
    if (
        host_value is not None
        and host_value.expr is not None
        and concrete is not None
        and evaluate_int(t, host_value.expr) == concrete
    ):
        return ex.format_expr(host_value.expr)
    return sym_expr(t, ir_value, node)


def evaluate_int(t: KernelTranslator, node: ex.Node) -> int | None:
    def resolve(part: ex.Node) -> int:
        if isinstance(part, ex.Dim):
            ref = t.argument(part.tensor)
            if isinstance(ref, torch.Tensor):
                size = concrete_int(ref.shape[part.axis])
                if size is not None:
                    return size
                hint = t.env.size_hint(ref.shape[part.axis])
                if isinstance(hint, int):
                    return hint
            extents = t.host_eval.extents(part.tensor) if ref is None else None
            if extents is not None and part.axis < len(extents):
                inner = extents[part.axis]
                result = evaluate_int(t, inner) if inner is not None else None
                if result is not None:
                    return result
        if isinstance(part, ex.Ref):
            value = dict(t.params).get(part.name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            host_value = t.host_eval.env.get(part.name)
            if host_value is not None and host_value.expr is not None:
                inner_value = evaluate_int(t, host_value.expr)
                if inner_value is not None:
                    return inner_value
        raise LookupError(part)

    try:
        result = ex.evaluate(node, resolve)
    except (LookupError, ZeroDivisionError, IndexError, TypeError):
        return None
    return None if isinstance(result, float) else int(result)


def block_of(t: KernelTranslator, value: Value) -> Block | None:
    if not isinstance(value, SymValue):
        return None
    raw = expr_of(value.value)
    if not isinstance(raw, sympy.Symbol):
        return None
    block = t.tiles.block_by_symbol.get(raw)
    if block is None:
        return t.tiles.block_by_alias.get(raw)
    # A grid loop's index reads as a number: its block is indexed with ``at``.
    if t.host.expr_to_origin.get(raw) is not None:
        origin = t.host.expr_to_origin[raw].origin
        if not isinstance(origin, ir().origins.BlockSizeOrigin):
            return None
    return block


def looped_block_at(
    t: KernelTranslator, result: torch.Tensor | None, out_axis: int
) -> Block | None:
    """The reduction loop whose tile a full slice covers, in a rolled reduction."""
    if result is None or out_axis >= result.dim():
        return None
    block = t.tiles.block_by_symbol.get(expr_of(result.shape[out_axis]))
    if block is not None and block.reduction and block.block_id in t.tiles.open_blocks:
        return block
    return None
