"""Control flow: device loops, branches, and the values they carry or merge."""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from torch.fx import Node

from helion2json.core.capture.helion_ir import ir, is_jagged_tile
from helion2json.core.capture.reductions import translate_reduction_loop
from helion2json.core.capture.registry import handles
from helion2json.core.capture.tiles import tile_begin
from helion2json.core.capture.values import (
    BranchResults,
    LoopResults,
    Named,
    Value,
    graph_outputs,
    value_of,
)
from helion2json.core.ops import TORCH

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


@handles(operator.getitem, emits=())
def _h_getitem(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return t.getitem(node, values)


@handles("_new_var", emits=())
def _h_new_var(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return values[node.args[0]]  # type: ignore[index]


@handles("_phi", emits=())
def _h_phi(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    # Both inputs carry the same name (the loop-carried or merged variable); the
    # second is the value after the region.
    return values[node.args[1]]  # type: ignore[index]


@handles(
    "_for_loop",
    emits=("hl.zeros", "hl.full", "hl.tile.begin", "hl.tile.end", "hl.assign", TORCH),
)
def _h_for_loop(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    graph_id, begins, ends, carried = node.args
    graph_info = t.graphs[graph_id]  # type: ignore[index]
    if isinstance(graph_info, ir().ReductionLoopGraphInfo):
        return translate_reduction_loop(t, node, graph_info, values)
    if any(is_jagged_tile(t.env, block_id) for block_id in graph_info.block_ids):
        # Helion masks every load and store of the loop by each lane's own end, a mask
        # that appears nowhere in the IR: the loop would run unmasked to the longest lane.
        raise t.unsupported(
            "hl.jagged_tile masks each lane at its own length, which the format cannot "
            "express yet; loop with hl.tile(0, lengths.amax()) and mask the loads with "
            "extra_mask=tile.index[None, :] < lengths[:, None]",
            node,
            op="hl.jagged_tile",
        )
    t.flush_pending_loads()
    inputs = [t.carried_input(values, item) for item in carried]  # type: ignore[union-attr]
    names = _carried_names(t, node, len(graph_outputs(graph_info.graph)), values)
    _own_names_for_carried(t, node, carried, inputs, names)  # type: ignore[arg-type]
    block_ids = list(graph_info.block_ids)
    begin_op = tile_begin(
        t,
        block_ids,
        parallel=False,
        begins=begins,  # type: ignore[arg-type]
        ends=ends,  # type: ignore[arg-type]
        node=node,
        values=values,
    )
    t.emit_at_loop(begin_op, block_ids[0], node)
    t.tiles.open_blocks.update(block_ids)
    try:
        t.translate_graph(graph_info.graph, inputs, names)
    finally:
        t.tiles.open_blocks.difference_update(block_ids)
    t.emit({"op": "hl.tile.end"}, None)
    return LoopResults(names)


def _carried_names(
    t: KernelTranslator, loop: Node, count: int, values: dict[Node, Value]
) -> list[str | None]:
    """The variable each loop output carries: the one its ``_phi`` merges it with."""
    names: list[str | None] = [None] * count
    for index, phi in _phis(loop):
        initial = t.operand(value_of(phi.args[0], values), phi)
        if not isinstance(initial, str):
            raise t.unsupported("a loop carries a value that is not a tensor", loop)
        names[index] = initial
    return names


def _phis(region: Node) -> Iterator[tuple[int, Node]]:
    """Each ``_phi`` after a loop or branch, with the index of the output it merges."""
    for user in region.users:
        if user.target is not operator.getitem or not isinstance(user.args[1], int):
            continue
        for phi in user.users:
            if getattr(phi.target, "__name__", "") == "_phi" and phi.args[1] is user:
                yield user.args[1], phi


def _own_names_for_carried(
    t: KernelTranslator,
    loop: Node,
    carried: Sequence[Any],
    inputs: list[Value],
    names: list[str | None],
) -> None:
    """Give a carried variable a name of its own where its initial name is shared.

    After ``cur = two_x`` both variables are one value with one name; a loop that
    updates ``cur`` while it still reads ``two_x`` (or carries another variable
    that starts as the same value) needs them apart: the carried variable gets a
    copy, made before the loop, under its own name.
    """
    for index, phi in _phis(loop):
        name, initial = names[index], phi.args[0]
        if name is None or not isinstance(initial, Node):
            continue
        carrier = next((i for i, item in enumerate(carried) if item is initial), None)
        shared = names.count(name) > 1 or any(
            isinstance(value, Named) and value.name == name
            for i, value in enumerate(inputs)
            if i != carrier
        )
        if not (shared or _is_alias(initial)):
            continue
        own = _copy_before_region(t, name, initial.name, phi)
        names[index] = own
        if carrier is not None:
            inputs[carrier] = Named(own)


def _copy_before_region(t: KernelTranslator, name: str, preferred: str, node: Node) -> str:
    """``hl.assign`` ``name`` to a fresh name (after ``preferred``) that a region carries."""
    own = t.fresh(preferred)
    t.emit({"op": "hl.assign", "src": name, "result": own}, node)
    return own


def _is_alias(node: Node) -> bool:
    """True for a variable assigned from another variable (``cur = two_x``)."""
    return getattr(node.target, "__name__", "") == "_new_var"


@handles("_if", emits=("hl.if.begin", "hl.if.else", "hl.if.end", "hl.assign"))
def _h_if(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    test, if_id, else_id, if_args, else_args = node.args
    if_info = t.graphs[if_id]  # type: ignore[index]
    else_info = t.graphs[else_id] if isinstance(else_id, int) else None
    entries = list(if_info.branches_outputs or [])
    t.flush_pending_loads()
    if_inputs = [t.carried_input(values, item) for item in if_args]  # type: ignore[union-attr]
    else_inputs = [t.carried_input(values, item) for item in else_args]  # type: ignore[union-attr]
    if_arg_names = list(if_info.if_arg_names or [])
    else_arg_names = list(if_info.else_arg_names or [])
    outer = dict(zip(if_arg_names, if_inputs, strict=False))
    outer.update(zip(else_arg_names, else_inputs, strict=False))
    outer_nodes = dict(zip(if_arg_names, if_args, strict=False))  # type: ignore[arg-type]
    outer_nodes.update(zip(else_arg_names, else_args, strict=False))  # type: ignore[arg-type]
    if_outputs = graph_outputs(if_info.graph)
    else_outputs = graph_outputs(else_info.graph) if else_info is not None else []
    merged: list[str | None] = []
    if_names: list[str | None] = [None] * len(if_outputs)
    else_names: list[str | None] = [None] * len(else_outputs)
    for if_side, else_side in entries:
        # A variable defined before the if keeps its name; one that both branches
        # define is named after the variable the if branch assigns.
        kept = next((side for side in (if_side, else_side) if isinstance(side, str)), None)
        if kept is not None:
            name = t.operand(outer.get(kept), node)
            if not isinstance(name, str):
                raise t.unsupported(f"branches merge '{kept}', which is not a tensor", node)
            initial = outer_nodes.get(kept)
            if isinstance(initial, Node) and _is_alias(initial):
                # ``cur = base`` before the if: a branch that updates ``cur`` must
                # leave ``base`` as it was (see _own_names_for_carried).
                own = _copy_before_region(t, name, kept, node)
                name = own
                for arg_names, inputs in ((if_arg_names, if_inputs), (else_arg_names, else_inputs)):
                    if kept in arg_names:
                        inputs[arg_names.index(kept)] = Named(own)
        else:
            out = if_outputs[if_side]
            name = t.fresh(out.name if isinstance(out, Node) else "merged")
        merged.append(name)
        if isinstance(if_side, int):
            if_names[if_side] = name
        if isinstance(else_side, int):
            else_names[else_side] = name
    cond = t.operand(value_of(test, values), node)
    t.emit({"op": "hl.if.begin", "cond": cond}, node)
    t.translate_graph(if_info.graph, if_inputs, if_names)
    if else_info is not None:
        marker = len(t.state.body)
        t.emit({"op": "hl.if.else"}, None)
        t.translate_graph(else_info.graph, else_inputs, else_names)
        if len(t.state.body) == marker + 1:
            t.state.body.pop()
    t.emit({"op": "hl.if.end"}, None)
    return BranchResults(merged + merged)
