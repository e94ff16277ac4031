"""Reductions and scans: rolled reduction loops, ``hl.reduce``, ``hl.associative_scan``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.fx import Graph, Node

from helion2json.core import expr as ex
from helion2json.core.capture.helion_ir import ir, node_location
from helion2json.core.capture.registry import describe_target, handles
from helion2json.core.capture.result_types import element_value_type
from helion2json.core.capture.symbols import reduction_extent
from helion2json.core.capture.tiles import tile_begin
from helion2json.core.capture.values import (
    Accumulator,
    LoopResults,
    LoweringExtra,
    Named,
    SymValue,
    Value,
    expr_of,
    graph_outputs,
    scalar_json,
    used_outputs,
    value_of,
)
from helion2json.core.dtypes import element_type
from helion2json.core.ops import TORCH

if TYPE_CHECKING:
    from helion2json.core.capture.translator import KernelTranslator


# How a reduction loop folds each iteration's partial result into its accumulator,
# by Inductor reduction type.
_COMBINE_OPS = {
    "sum": "add",
    "prod": "mul",
    "max": "maximum",
    "min": "minimum",
    "any": "logical_or",
    "xor_sum": "bitwise_xor",
}


# Ops Inductor splits into a sum and a division, which a reduction loop can finish
# (``_COMBINE_OPS`` folds the sum; the division follows the loop).
_MEAN_OPS = ("mean.dim", "mean.default")


@handles("_associative_scan", emits=("hl.cumsum", "hl.cumprod", "hl.associative_scan"))
def _h_associative_scan(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    graph_id, inputs, dim = node.args[0], node.args[1], node.args[2]
    reverse = bool(node.args[3]) if len(node.args) > 3 else False
    is_tuple = bool(node.args[4]) if len(node.args) > 4 else False
    sources = list(inputs) if is_tuple else [inputs]  # type: ignore[arg-type]
    args = [t.operand(value_of(source, values), node) for source in sources]
    simple = None if is_tuple else _simple_combine(t.graphs[graph_id].graph)  # type: ignore[index]
    if simple is not None:
        name = t.result_name(node)
        op = {"op": simple, "src": args[0], "dim": dim, "reverse": reverse, "result": name}
        t.emit(op, node)
        return Named(name)
    fields = {"dim": dim, "reverse": reverse}
    return _emit_combining(t, node, "hl.associative_scan", graph_id, args, fields, is_tuple)


@handles("_reduce", emits=("hl.reduce",))
def _h_reduce(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    graph_id, inputs = node.args[0], node.args[1]
    dim = node.args[2] if len(node.args) > 2 else None
    keep_dims = bool(node.args[3]) if len(node.args) > 3 else False
    is_tuple = bool(node.args[4]) if len(node.args) > 4 else False
    sources = list(inputs) if is_tuple else [inputs]  # type: ignore[arg-type]
    args = [t.operand(value_of(source, values), node) for source in sources]
    fields = {"dim": dim, "keep_dims": keep_dims}
    return _emit_combining(t, node, "hl.reduce", graph_id, args, fields, is_tuple)


def _emit_combining(
    t: KernelTranslator,
    node: Node,
    op_name: str,
    graph_id: Any,
    args: list[Any],
    fields: dict[str, Any],
    is_tuple: bool,
) -> Value:
    """An op with a combine function: one result per arg, or one result for one arg."""
    combine = combine_function(t, graph_id, node)
    names = t.output_names_of(node, len(args)) if is_tuple else [t.result_name(node)]
    op = {"op": op_name, "args": args, **fields, "combine": combine, "result": names}
    t.emit(op, node)
    return [Named(n) for n in names] if is_tuple else Named(names[0])


@handles("_inductor_lowering_extra", emits=(TORCH,))
def _h_lowering_extra(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    accumulator = accumulator_for(t, node)
    if accumulator is not None:
        return partial_of_split_reduction(t, node, accumulator, values)
    return LoweringExtra(node)


def _simple_combine(graph: Graph) -> str | None:
    """``hl.cumsum``/``hl.cumprod`` when a scan's combine function is ``a + b`` / ``a * b``."""
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    calls = [n for n in graph.nodes if n.op == "call_function"]
    outputs = graph_outputs(graph)
    if len(placeholders) != 2 or len(calls) != 1 or outputs != calls:
        return None
    call = calls[0]
    ops = {torch.ops.aten.add.Tensor: "hl.cumsum", torch.ops.aten.mul.Tensor: "hl.cumprod"}
    if call.target not in ops or set(call.args[:2]) != set(placeholders):
        return None
    if call.kwargs.get("alpha", 1) != 1:
        return None
    return ops[call.target]


def split_pieces(node: Node) -> list[Node]:
    """The pieces (``_inductor_lowering_extra`` nodes) Inductor split an ATen op into."""
    pieces = node.kwargs.get("_extra_args")
    return [p for p in pieces if isinstance(p, Node)] if isinstance(pieces, (list, tuple)) else []


def is_lowering_extra(node: Node) -> bool:
    return getattr(node.target, "__name__", "") == "_inductor_lowering_extra"


def op_key(target: Any) -> str | None:
    if isinstance(target, torch._ops.OpOverload):
        return f"{target._opname}.{target._overloadname or 'default'}"
    return None


def accumulator_for(t: KernelTranslator, node: Node) -> Accumulator | None:
    return t.reductions.accumulators[-1].get(node) if t.reductions.accumulators else None


def accumulate(t: KernelTranslator, node: Node, accumulator: Accumulator, partial: str) -> Value:
    """``acc = combine(acc, partial)``: fold one iteration's result into the reduction."""
    overloads = {"add": "Tensor", "mul": "Tensor", "bitwise_xor": "Tensor"}
    attrs: dict[str, Any] = {}
    if accumulator.combine == "add":
        attrs["alpha"] = 1.0 if accumulator.dtype.is_floating_point else 1
    t.emit_aten(
        accumulator.combine,
        overloads.get(accumulator.combine, "default"),
        [accumulator.name, partial],
        attrs,
        accumulator.name,
        node,
        t.names.types[accumulator.name],
    )
    return Named(accumulator.name)


def plan_accumulator(t: KernelTranslator, out: Any, block_id: int, loop: Node) -> Accumulator:
    """The accumulator of one reduction a reduction loop returns."""
    lowering = out.meta.get("lowering") if isinstance(out, Node) else None
    reduction_type = getattr(lowering, "reduction_type", None)
    if (
        not isinstance(lowering, ir().ReductionLowering)
        or lowering.block_index != block_id
        or reduction_type not in _COMBINE_OPS
    ):
        what = f"a {reduction_type} reduction" if reduction_type else "a value"
        raise t.unsupported(
            f"{what} leaves a reduction loop; the format folds sum, prod, max, min, any "
            "and xor_sum reductions across reduction-loop iterations",
            out if isinstance(out, Node) else loop,
            op="reduction loop",
        )
    if is_lowering_extra(out):
        original = out.meta.get("orig_node")
        if op_key(getattr(original, "target", None)) not in _MEAN_OPS:
            raise t.unsupported(
                f"'{describe_target(getattr(original, 'target', None))}' split across a "
                "reduction loop cannot be expressed yet",
                out,
                op=describe_target(getattr(original, "target", None)),
            )
    if any(user.op != "output" for user in out.users):
        raise t.unsupported("a reduction is used inside the reduction loop that computes it", out)
    result_dtype = out.meta["val"].dtype
    dtype = result_dtype
    if reduction_type in ("sum", "prod") and result_dtype in (torch.float16, torch.bfloat16):
        # Helion accumulates 16-bit sums in fp32 and rounds once, after the loop.
        dtype = torch.float32
    identity = ir().InductorReduction.default_accumulator(reduction_type, dtype)
    shape = [t.operand_expr(SymValue(size), out) for size in out.meta["val"].shape]
    name = t.fresh(f"{out.name}_acc")
    op: dict[str, Any]
    elem = element_type(dtype, node_location(out))
    if not isinstance(identity, bool) and identity == 0:
        op = {"op": "hl.zeros", "shape": shape, "dtype": elem, "result": name}
    else:
        fill = scalar_json(identity)
        op = {"op": "hl.full", "shape": shape, "value": fill, "dtype": elem, "result": name}
    t.emit(op, out)
    return Accumulator(name, _COMBINE_OPS[reduction_type], dtype, result_dtype, block_id)


def translate_reduction_loop(
    t: KernelTranslator, node: Node, graph_info: Any, values: dict[Node, Value]
) -> Value:
    """A reduction rolled into a loop (``reduction_loops`` config): see the format's doc."""
    _, begins, ends, carried = node.args
    block_id = graph_info.block_ids[0]
    outputs = graph_outputs(graph_info.graph)
    used = used_outputs(node)
    t.flush_pending_loads()
    plans: dict[Node, Accumulator] = {}
    for index in used:
        out = outputs[index]
        plans[out] = plan_accumulator(t, out, block_id, node)
    inputs = [t.carried_input(values, item) for item in carried]  # type: ignore[union-attr]
    begin_op = tile_begin(
        t,
        [block_id],
        parallel=False,
        begins=begins,  # type: ignore[arg-type]
        ends=ends,  # type: ignore[arg-type]
        node=node,
        values=values,
    )
    t.emit(begin_op, node)
    t.tiles.open_blocks.add(block_id)
    t.reductions.accumulators.append(plans)
    try:
        t.translate_graph(graph_info.graph, inputs)
    finally:
        t.reductions.accumulators.pop()
        t.tiles.open_blocks.discard(block_id)
    t.emit({"op": "hl.tile.end"}, None)
    names: list[str | None] = [None] * len(outputs)
    for index in used:
        out = outputs[index]
        plan = plans[out]
        name = plan.name
        if plan.dtype != plan.result_dtype:
            name = t.convert(name, plan.result_dtype, out, out.name)
        t.reductions.reduced_over[name] = block_id
        names[index] = name
    return LoopResults(names)


def partial_of_split_reduction(
    t: KernelTranslator, node: Node, accumulator: Accumulator, values: dict[Node, Value]
) -> Value:
    """One iteration's part of a decomposed ``mean``: the sum of its chunk."""
    args, _ = t.traced_arguments(node)
    inputs = [a for a in (args[0] if args else []) if isinstance(a, Node)]
    if len(inputs) != 1:
        raise t.unsupported("a split reduction with several inputs", node)
    source = inputs[0]
    source_val = source.meta["val"]
    symbol = t.tiles.blocks[accumulator.block_id].symbol
    axes = [a for a, size in enumerate(source_val.shape) if expr_of(size) == symbol]
    if len(axes) != 1:
        raise t.unsupported("a split reduction over several axes", node)
    keepdim = node.meta["val"].dim() == source_val.dim()
    partial = t.fresh(node.name)
    operand = t.operand(values[source], source)
    attrs = {
        "dim": axes,
        "keepdim": keepdim,
        "dtype": element_type(accumulator.dtype, node_location(node)),
    }
    t.emit_aten("sum", "dim_IntList", [operand], attrs, partial, node)
    return accumulate(t, node, accumulator, partial)


def finish_split_reduction(
    t: KernelTranslator, node: Node, target: torch._ops.OpOverload, values: dict[Node, Value]
) -> Value:
    """``mean`` whose sum was accumulated by a reduction loop: divide by the extent."""
    if op_key(target) not in _MEAN_OPS:
        raise t.unsupported(
            f"'{describe_target(target)}' split across a reduction loop cannot be expressed yet",
            node,
            op=describe_target(target),
        )
    pieces = split_pieces(node)
    total = t.operand(values[pieces[0]], node)
    block_id = t.reductions.reduced_over.get(total) if isinstance(total, str) else None
    if block_id is None:
        raise t.unsupported("a mean whose sum does not come from a reduction loop", node)
    extent = ex.format_expr(reduction_extent(t, t.tiles.blocks[block_id], node))
    divisor = extent if isinstance(extent, int) else {"expr": extent}
    result_dtype = node.meta["val"].dtype
    total_dtype = pieces[0].meta["val"].dtype
    if result_dtype == total_dtype:
        name = t.result_name(node)
        return Named(t.emit_aten("div", "Tensor", [total, divisor], {}, name, node))
    quotient = t.emit_aten(
        "div",
        "Tensor",
        [total, divisor],
        {},
        t.fresh(f"{node.name}_sum"),
        node,
        t.names.types[total],
    )
    attrs = {"dtype": element_type(result_dtype, node_location(node))}
    name = t.result_name(node)
    t.emit_aten("prims.convert_element_type", "default", [quotient], attrs, name, node)
    return Named(name)


def combine_function(t: KernelTranslator, graph_id: int, node: Node) -> dict[str, Any]:
    """A helper graph as ``{"params", "body", "results"}``: ops on element values."""
    graph = t.graphs[graph_id].graph
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    params = [t.fresh(p.name) for p in placeholders]
    for param, placeholder in zip(params, placeholders, strict=True):
        t.names.types[param] = element_value_type(t, placeholder)
    saved_body, saved_loads = t.state.body, t.walk.pending_loads
    t.state.body, t.walk.pending_loads, t.walk.in_combine = [], [], True
    try:
        outputs = t.translate_graph(graph, [Named(p) for p in params])
        results = [t.operand(value, node) for value in outputs]
        body = t.state.body
    finally:
        t.state.body, t.walk.pending_loads = saved_body, saved_loads
        t.walk.in_combine = False
    if not all(isinstance(r, str) for r in results):
        raise t.unsupported("a combine function returns a constant", node)
    return {"params": params, "body": body, "results": results}
