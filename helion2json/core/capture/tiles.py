"""Blocks, tile loops and tile properties: ``hl.tile.begin`` / ``hl.tile.end``, ``hl.tile.*``."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sympy
import torch
from torch.fx import Node

from helion2json.core import expr as ex
from helion2json.core.capture.helion_ir import ir, is_device_loop, is_helion_function
from helion2json.core.capture.registry import handles
from helion2json.core.capture.result_types import type_results
from helion2json.core.capture.source import block_names, tile_loops
from helion2json.core.capture.symbols import (
    block_of,
    bound_expr,
    evaluate_int,
    reduction_extent,
    sym_node,
)
from helion2json.core.capture.values import (
    Block,
    Named,
    SymValue,
    Value,
    concrete_int,
    expr_of,
    next_power_of_2,
    value_of,
)
from helion2json.core.host import HostValue

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


@handles("tile_index", emits=("hl.tile.index",))
def _h_tile_index(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    block = _tile_arg(t, node, values)
    name = t.result_name(node)
    t.emit({"op": "hl.tile.index", "tile": block.tile, "result": name}, node)
    return Named(name)


_TILE_PROPERTY_OPS = {
    "tile_begin": "hl.tile.begin_of",
    "tile_end": "hl.tile.end_of",
    "tile_id": "hl.tile.id",
    "tile_count": "hl.tile.count",
}


@handles(*_TILE_PROPERTY_OPS, emits=tuple(_TILE_PROPERTY_OPS.values()))
def _h_tile_property(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    block = _tile_arg(t, node, values)
    name = t.result_name(node)
    op = _TILE_PROPERTY_OPS[getattr(node.target, "__name__", "")]
    t.emit({"op": op, "tile": block.tile, "result": name}, node)
    # Later symbolic arithmetic on the property (``tile.begin + 1``) refers to the result.
    t.names.symbol_names[expr_of(node.meta["val"])] = ex.Ref(name)
    return Named(name)


def _tile_arg(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Block:
    block = block_of(t, value_of(node.args[0], values))
    if block is None:
        raise t.unsupported("a tile property of a value that is not a tile", node)
    return block


def collect_blocks(t: KernelTranslator) -> None:
    loops = tile_loops(t.host.body, t.host_eval)
    registered = registered_block_sizes(t)
    iter_names: set[str] = set()
    for info in t.env.block_sizes:
        block_id = info.block_id
        if info.reduction:
            tile, iter_name = f"tile_rdim{block_id}", f"rdim{block_id}"
        else:
            tile, iter_name = loops.names.get(block_id) or block_names(info)
        # Iterators name loop induction variables: unique, as tiles are.
        unique_iter, counter = iter_name, 1
        while unique_iter in iter_names:
            unique_iter, counter = f"{iter_name}_{counter}", counter + 1
        iter_names.add(unique_iter)
        symbol = info.symbol()
        block = Block(
            block_id=block_id,
            tile=t.fresh(tile),
            iter=unique_iter,
            size=0,
            symbol=symbol if isinstance(symbol, sympy.Symbol) else None,
            reduction=bool(info.reduction),
        )
        t.tiles.blocks[block_id] = block
        if block.symbol is not None:
            # A reduction dimension Helion allocates over a tile's extent shares
            # that tile's symbol; the symbol means the tile.
            t.tiles.block_by_symbol.setdefault(block.symbol, block)
            alias = expr_of(info.var)
            if isinstance(alias, sympy.Symbol) and alias != block.symbol:
                t.tiles.block_by_alias.setdefault(alias, block)
    for info in t.env.block_sizes:
        block = t.tiles.blocks[info.block_id]
        if info.block_id in registered:
            name, call = registered[info.block_id]
            block.size = name
            emit_register_block_size(t, name, call, info)
        else:
            block.size, block.config_size = block_size(t, info)
    t.tiles.loop_bounds = loops.bounds
    t.tiles.loop_positions = loops.positions


def registered_block_sizes(t: KernelTranslator) -> dict[int, tuple[str, ast.Assign]]:
    """``name = hl.register_block_size(...)`` statements, by the block they create."""
    block_size_type = ir().BlockSizeType
    found: dict[int, tuple[str, ast.Assign]] = {}
    for stmt in t.host.body:
        if is_device_loop(stmt):
            break
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            continue
        target = stmt.targets[0]
        type_info = getattr(stmt.value, "_type_info", None)
        if isinstance(target, ast.Name) and isinstance(type_info, block_size_type):
            found[type_info.block_id] = (target.id, stmt)
            t.state.used_names.add(target.id)
    return found


def emit_register_block_size(t: KernelTranslator, name: str, stmt: ast.Assign, info: Any) -> None:
    concrete = concrete_int(info.from_config(t.config))
    if concrete is None:
        raise t.unsupported(f"block size '{name}' has no value in the config", None)
    op: dict[str, Any] = {"op": "hl.register_block_size", "result": name, "size": concrete}
    # register_block_size(max) or register_block_size(min, max).
    call_args = stmt.value.args if isinstance(stmt.value, ast.Call) else []
    bounds = [t.host_eval.value(arg).expr for arg in call_args]
    if len(bounds) == 1 and bounds[0] is not None:
        op["min"], op["max"] = 1, ex.format_expr(bounds[0])
    elif len(bounds) == 2 and bounds[0] is not None and bounds[1] is not None:
        op["min"], op["max"] = ex.format_expr(bounds[0]), ex.format_expr(bounds[1])
    type_results(t, op, None)
    if t.options.locations:
        op["loc"] = t.source_loc(stmt.lineno, stmt.col_offset)
    t.state.body.append(op)


def block_size(t: KernelTranslator, info: Any) -> tuple[ex.Expr, int | None]:
    """The block's size in the format, and the config's where the two differ."""
    configured = info.from_config(t.config)
    if configured is None:
        if info.reduction:
            # A persistent reduction: no loop is emitted, so no block size is needed.
            return 0, None
        raise t.unsupported(f"block {info.block_id} has no size in the config", None)
    if isinstance(configured, torch.SymInt):
        # A block size computed by host code (``block_size=k_block``): its value
        # for this config is what the format records.
        value = evaluate_int(t, sym_node(t, configured.node.expr, None))
        if value is None:
            raise t.unsupported(
                f"block {info.block_id}'s size {configured} has no value for this config",
                None,
            )
        configured = value
    extent = info.size
    if isinstance(extent, int) and extent > 0:
        # A block larger than a static extent covers it in one iteration; Helion
        # pads to a power of two, so the effective block is that.
        clamped = min(int(configured), next_power_of_2(extent))
        return clamped, (int(configured) if clamped != int(configured) else None)
    return int(configured), None


def find_reduction_sources(t: KernelTranslator) -> None:
    """Which argument axis each reduction dimension spans (``x[tile, :]``).

    A persistent reduction has no loop; wherever its extent is needed (a
    shape, a reduction loop's end) the document says ``dim(x,1)`` rather
    than the number it was specialised to.
    """
    for graph_info in t.graphs:
        for node in graph_info.graph.nodes:
            if node.op != "call_function" or not is_helion_function(node.target, "load"):
                continue
            base, index = node.args[0], node.args[1]
            result = node.meta.get("val")
            if not (isinstance(base, Node) and isinstance(index, (list, tuple))):
                continue
            tensor = base.args[0] if base.args else None
            if tensor in t.names.tensors and isinstance(result, torch.Tensor):
                note_reduction_source(t, str(tensor), index, result)


def note_reduction_source(
    t: KernelTranslator, tensor: str, index: Sequence[Any], result: torch.Tensor
) -> None:
    axis = 0
    out_axis = 0
    for item in index:
        if item is None:
            out_axis += 1
            continue
        if isinstance(item, slice):
            block = t.tiles.block_by_symbol.get(expr_of(result.shape[out_axis]))
            if block is not None and block.reduction:
                t.tiles.reduction_sources.setdefault(block.block_id, (tensor, axis))
            out_axis += 1
        elif isinstance(item, Node):
            val = item.meta.get("val")
            if isinstance(val, torch.Tensor):
                out_axis += val.dim()
            elif block_of(t, SymValue(val)) is not None:
                out_axis += 1
        axis += 1


def translate_root(t: KernelTranslator, position: int, root_id: int) -> None:
    graph_info = t.graphs[root_id]
    grid = t.device_ir.grid_block_ids[position]
    begin = tile_begin(t, grid, parallel=True, begins=None, ends=None, node=None)
    t.emit_at_loop(begin, grid[0], None)
    t.tiles.open_blocks.update(grid)
    t.translate_graph(graph_info.graph, inputs=[])
    t.tiles.open_blocks.difference_update(grid)
    t.emit({"op": "hl.tile.end"}, None)


def tile_begin(
    t: KernelTranslator,
    block_ids: Sequence[int],
    *,
    parallel: bool,
    begins: Sequence[Any] | None,
    ends: Sequence[Any] | None,
    node: Node | None,
    values: dict[Node, Value] | None = None,
) -> dict[str, Any]:
    blocks = [t.tiles.blocks[b] for b in block_ids]
    begin_exprs: list[ex.Expr] = []
    end_exprs: list[ex.Expr] = []
    for i, block in enumerate(blocks):
        ast_begin, ast_end = t.tiles.loop_bounds.get(block.block_id, (None, None))
        if begins is None or ends is None:
            begin_expr, end_expr = grid_bounds(t, block, ast_begin, ast_end, node)
        else:
            begin_expr = bound_expr(t, begins[i], ast_begin, node, values)
            if block.reduction and ast_end is None:
                end_expr = ex.format_expr(reduction_extent(t, block, node))
            else:
                end_expr = bound_expr(t, ends[i], ast_end, node, values)
        begin_exprs.append(begin_expr)
        end_exprs.append(end_expr)
    op: dict[str, Any] = {
        "op": "hl.tile.begin",
        "iters": [b.iter for b in blocks],
        "sizes": [b.size for b in blocks],
        "result": [b.tile for b in blocks],
        "begin": begin_exprs,
        "end": end_exprs,
        "parallel": parallel,
    }
    if any(b.config_size is not None for b in blocks):
        op["config_sizes"] = [
            b.config_size if b.config_size is not None else b.size for b in blocks
        ]
    return op


def grid_bounds(
    t: KernelTranslator,
    block: Block,
    ast_begin: HostValue | None,
    ast_end: HostValue | None,
    node: Node | None,
) -> tuple[ex.Expr, ex.Expr]:
    """A grid loop's bounds: the IR keeps only its extent, the host code its bounds."""
    extent = t.env.block_sizes[block.block_id].size
    if extent is None:
        raise t.unsupported("a grid loop has no known extent", node)
    begin = ast_begin.expr if ast_begin is not None and ast_begin.expr is not None else None
    if begin is None or begin == ex.Num(0):
        return 0, bound_expr(t, extent, ast_end, node, None)
    start = evaluate_int(t, begin)
    concrete = concrete_int(extent)
    if ast_end is not None and ast_end.expr is not None and start is not None:
        stop = evaluate_int(t, ast_end.expr)
        if concrete is not None and stop is not None and stop - start == concrete:
            return ex.format_expr(begin), ex.format_expr(ast_end.expr)
    if start is None:
        raise t.unsupported("a grid loop starts at a bound the format cannot express", node)
    end = ex.BinOp("+", begin, sym_node(t, extent, node))
    return ex.format_expr(begin), ex.format_expr(end)
