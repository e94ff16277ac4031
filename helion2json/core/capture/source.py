"""The kernel's own source: tile loops' variable names, positions and host bounds."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from helion2json.core import expr as ex
from helion2json.core.capture.helion_ir import iter_block_ids
from helion2json.core.host import HostEvaluator, HostValue


def block_names(info: Any) -> tuple[str, str]:
    names = sorted(info.debug_names)
    tile = names[0] if names else f"block_{info.block_id}"
    return tile, iter_name(tile)


def iter_name(tile: str) -> str:
    """``tile_m`` → ``m``; ``tile`` → ``i``; ``tile_0`` (one variable over several dims) → ``i0``."""
    stripped = tile.removeprefix("tile_")
    if stripped == tile and tile.startswith("tile"):
        return "i"
    return stripped if stripped[:1].isalpha() or stripped[:1] == "_" else f"i{stripped}"


@dataclass
class LoopInfo:
    names: dict[int, tuple[str, str]] = field(default_factory=dict)
    # (line within the kernel's source, column) of each loop's ``for``.
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)
    bounds: dict[int, tuple[HostValue | None, HostValue | None]] = field(default_factory=dict)


def tile_loops(body: list[ast.stmt], evaluator: HostEvaluator) -> LoopInfo:
    """Names and host-side bounds of every tile loop, keyed by Helion block id."""
    info = LoopInfo()
    for stmt in _walk_statements(body):
        if not isinstance(stmt, ast.For):
            continue
        block_ids = iter_block_ids(stmt.iter)
        if not block_ids:
            continue
        targets = _target_names(stmt.target)
        for block_id in block_ids:
            info.positions[block_id] = (stmt.lineno, stmt.col_offset)
        for position, block_id in enumerate(block_ids):
            if len(targets) == len(block_ids):
                tile = targets[position]
            elif len(targets) == 1:
                tile = f"{targets[0]}_{position}" if len(block_ids) > 1 else targets[0]
            else:
                continue
            info.names[block_id] = (tile, iter_name(tile))
        info.bounds.update(_bounds_from_call(stmt.iter, block_ids, evaluator))
    return info


def _walk_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for stmt in body:
        yield stmt
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                yield from _walk_statements([child])
        for attr in ("body", "orelse", "finalbody"):
            nested = getattr(stmt, attr, None)
            if isinstance(nested, list):
                yield from _walk_statements([s for s in nested if isinstance(s, ast.stmt)])


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [e.id if isinstance(e, ast.Name) else "" for e in target.elts]
    return []


def _bounds_from_call(
    call: ast.expr, block_ids: list[int], evaluator: HostEvaluator
) -> dict[int, tuple[HostValue | None, HostValue | None]]:
    """``hl.tile(end)``, ``hl.tile(begin, end)``, each a scalar or a list."""
    if not isinstance(call, ast.Call):
        return {}
    positional = list(call.args)
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    begin_node = keywords.get("begin_or_end")
    if positional:
        begin_node = positional[0]
    end_node = positional[1] if len(positional) > 1 else keywords.get("end_or_none")
    if begin_node is None:
        return {}
    if end_node is None:
        begins: list[HostValue | None] = [HostValue(ex.Num(0))] * len(block_ids)
        ends = evaluator.vector(begin_node, len(block_ids))
    else:
        begins = evaluator.vector(begin_node, len(block_ids))
        ends = evaluator.vector(end_node, len(block_ids))
    return {b: (begins[i], ends[i]) for i, b in enumerate(block_ids)}
