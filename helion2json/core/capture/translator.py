"""The translator: walks a bound kernel's graphs and emits one ``func`` of the format.

Its state is grouped by what it tracks (the body being written, blocks and
loops, names, the graph being walked, open reduction loops); each op family's
translation lives in its own module and is found through the handler registry.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from torch.fx import Graph, Node

from helion2json.core import expr as ex
from helion2json.core.capture.helion_ir import TRACED_ARGUMENTS_META, node_location
from helion2json.core.capture.host_values import host_statements_before_device, returns, signature
from helion2json.core.capture.registry import HANDLERS, describe_target, target_key
from helion2json.core.capture.result_types import type_results
from helion2json.core.capture.specialization import specialization
from helion2json.core.capture.symbols import evaluate_int, sym_expr, sym_node
from helion2json.core.capture.tiles import collect_blocks, find_reduction_sources, translate_root
from helion2json.core.capture.values import (
    Accumulator,
    Block,
    BranchResults,
    ExportOptions,
    LoopResults,
    Named,
    PendingLoad,
    SymValue,
    TensorRef,
    Value,
    graph_outputs,
    scalar_json,
)
from helion2json.core.configs import choose_config
from helion2json.core.dtypes import element_type
from helion2json.core.errors import (
    ArgumentError,
    ExportError,
    IRStructureError,
    SourceLocation,
    UnsupportedError,
    relative_source_path,
)
from helion2json.core.host import HostEvaluator, HostValue


@dataclass
class FuncState:
    """The function being written: its ops, and the names it has used."""

    body: list[dict[str, Any]] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)
    # The ops (by id) that run on the host before the launch: allocations and views.
    host_ops: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class KernelSource:
    """Where the kernel's ``def`` is: locations inside it are relative to ``first_line``."""

    file: str
    first_line: int


@dataclass
class TileState:
    """Blocks (tiled dimensions), their loops, and which loops are open."""

    blocks: dict[int, Block] = field(default_factory=dict)
    # A reduction dimension Helion allocates over a tile's extent shares its symbol.
    block_by_symbol: dict[sympy.Symbol, Block] = field(default_factory=dict)
    # A block whose symbol the shape environment replaced by a host value's symbol
    # (``block_size=k_block``): the graph reads the tile as that symbol.
    block_by_alias: dict[sympy.Symbol, Block] = field(default_factory=dict)
    # Each tile loop's host-side bounds and the position of its ``for``, by block.
    loop_bounds: dict[int, tuple[HostValue | None, HostValue | None]] = field(default_factory=dict)
    loop_positions: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Blocks whose tile loop is open at the current point of the body.
    open_blocks: set[int] = field(default_factory=set)
    # Where a persistent reduction's extent comes from: block → (tensor, axis).
    reduction_sources: dict[int, tuple[str, int]] = field(default_factory=dict)


@dataclass
class NameState:
    """What the document calls the kernel's symbols and host tensors."""

    # Symbols (and symbolic booleans) that stand for a named value of the document.
    symbol_names: dict[sympy.Basic, ex.Node] = field(default_factory=dict)
    tensors: dict[str, TensorRef] = field(default_factory=dict)
    # The example tensor of each item of a list argument, by the item's name.
    tensor_items: dict[str, torch.Tensor] = field(default_factory=dict)
    # The element type of each ``hl.alloc``, by name.
    alloc_dtypes: dict[str, str] = field(default_factory=dict)
    # The type each op result was given, by name (``result_types``).
    types: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class GraphWalk:
    """The graphs being translated, innermost last."""

    # Names outputs take at their definition (loop-carried and merged values).
    pending_names: dict[Node, str] = field(default_factory=dict)
    pending_loads: list[PendingLoad] = field(default_factory=list)
    # The nodes of each graph being translated, by name.
    graph_nodes: list[dict[str, Node]] = field(default_factory=list)
    # True while a combine function's graph is translated: its values are elements.
    in_combine: bool = False


@dataclass
class ReductionState:
    # The reductions each open reduction loop accumulates, by body node.
    accumulators: list[dict[Node, Accumulator]] = field(default_factory=list)
    # The block a reduction loop reduced over, by the name of its result.
    reduced_over: dict[str, int] = field(default_factory=dict)


class KernelTranslator:
    """Translates one bound kernel into one ``func`` of the format."""

    def __init__(self, bound: Any, kernel_name: str, options: ExportOptions) -> None:
        self.bound = bound
        self.env = bound.env
        self.host = bound.host_function
        self.device_ir = self.host.device_ir
        self.kernel_name = kernel_name
        self.options = options
        self.config: Any = None
        self.graphs: list[Any] = []
        self.params: list[tuple[str, Any]] = list(self.host.params.arguments.items())
        fn = self.host.fn
        self.source = KernelSource(
            inspect.getsourcefile(fn) or "<unknown>", fn.__code__.co_firstlineno
        )
        self.state = FuncState()
        self.tiles = TileState()
        self.names = NameState()
        self.walk = GraphWalk()
        self.reductions = ReductionState()
        self.host_eval = HostEvaluator([name for name, _ in self.params])
        self.host_eval.bind_params(
            {
                name: value.dim() if isinstance(value, torch.Tensor) else None
                for name, value in self.params
            }
        )
        self.host_eval.concrete = functools.partial(evaluate_int, self)

    def argument(self, name: str) -> Any:
        """The example value of the argument, or tensor item of a list argument, ``name``."""
        return dict(self.params).get(name, self.names.tensor_items.get(name))

    def where(self, node: Node | None) -> SourceLocation | None:
        return node_location(node) if node is not None else self.def_location()

    def def_location(self) -> SourceLocation:
        return SourceLocation(relative_source_path(self.source.file), self.source.first_line, 0)

    def unsupported(self, message: str, node: Node | None, op: str | None = None) -> ExportError:
        return UnsupportedError(message, kernel=self.kernel_name, location=self.where(node), op=op)

    def fresh(self, preferred: str) -> str:
        base = preferred.lstrip("_") or "v"
        if not (base[0].isalpha() or base[0] == "_"):
            base = f"v_{base}"
        name = base
        counter = 1
        while name in self.state.used_names:
            name = f"{base}_{counter}"
            counter += 1
        self.state.used_names.add(name)
        return name

    def source_loc(self, line: int, col: int) -> dict[str, Any]:
        """A location given relative to the kernel's source (1-based line within it)."""
        return {
            "file": relative_source_path(self.source.file),
            "line": line + self.source.first_line - 1,
            "col": col,
        }

    def emit_at_loop(self, op: dict[str, Any], block_id: int, node: Node | None) -> None:
        """Tile loops are located at their ``for`` statement, from the kernel's AST."""
        position = self.tiles.loop_positions.get(block_id)
        if position is None:
            self.emit(op, node)
            return
        type_results(self, op, node)
        if self.options.locations:
            op["loc"] = self.source_loc(*position)
        self.state.body.append(op)

    def emit(self, op: dict[str, Any], node: Node | None, value_type: Any = None) -> None:
        """Append ``op``, typing its results (``value_type``: for a value not ``node``'s)."""
        type_results(self, op, node, value_type)
        if self.options.locations and node is not None:
            location = node_location(node)
            if location is not None:
                op["loc"] = {"file": location.file, "line": location.line, "col": location.col}
        self.state.body.append(op)

    def translate(self) -> dict[str, Any]:
        with self.env, self.host:
            self.config = self.resolve_config()
            # The graphs Helion generates code from for this config: reduction loops
            # (``reduction_loops``) are rolled into them.
            self.graphs = list(self.device_ir.build_codegen_graphs(self.config))
            args = signature(self)
            self.host_eval.tunables = {
                name: value
                for name, value in dict(self.config).items()
                if name in self.env.config_spec.user_defined_tunables
            }
            host_statements_before_device(self)
            collect_blocks(self)
            find_reduction_sources(self)
            roots = list(self.device_ir.root_ids)
            if not roots:
                raise IRStructureError(
                    "the kernel has no device loop (hl.tile / hl.grid)",
                    kernel=self.kernel_name,
                    location=self.def_location(),
                )
            phase: int | None = None
            for position, root_id in enumerate(roots):
                root_phase = getattr(self.graphs[root_id], "phase_index", 0)
                if phase is not None and root_phase != phase:
                    self.emit({"op": "hl.barrier"}, None)
                phase = root_phase
                translate_root(self, position, root_id)
            rets, values = returns(self)
            self.emit({"op": "hl.return", "values": values}, None)
            specialized = specialization(self)
        return {
            "name": self.kernel_name,
            "args": args,
            "rets": rets,
            "body": self.state.body,
            "specialization": specialized,
        }

    def resolve_config(self) -> Any:
        """The config to export: the one asked for, else the one ``choose_config`` picks.

        What a requested config leaves out comes from the kernel's default config.
        """
        requested = self.options.config
        if requested is None:
            try:
                choice = choose_config(self.bound)
            except ExportError as exc:
                raise exc.with_context(
                    kernel=self.kernel_name, location=self.def_location()
                ) from None
            if choice.source == "default":
                return choice.config
            requested = choice.config
        import helion

        spec = self.env.config_spec
        config = helion.Config(**{**dict(spec.default_config()), **dict(requested)})
        try:
            return spec.normalized_config(config)
        except Exception as exc:
            raise ArgumentError(
                f"the config does not fit the kernel: {type(exc).__name__}: {exc}",
                kernel=self.kernel_name,
                location=self.def_location(),
            ) from None

    def translate_graph(
        self,
        graph: Graph,
        inputs: Sequence[Value],
        output_names: Sequence[str | None] = (),
    ) -> list[Value]:
        """Emit a graph's ops; returns the values of its output node.

        ``output_names`` gives the name each output must hold when the graph
        ends (a loop-carried value, a value merged after an ``if``).
        """
        values: dict[Node, Value] = {}
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        for placeholder, value in zip(placeholders, inputs, strict=False):
            values[placeholder] = value
        outputs = graph_outputs(graph)
        # Outputs take their name at their definition, as the kernel's source does
        # (acc = torch.addmm(acc, ...)), unless the old value is still read after it.
        rename: dict[Node, str] = {}
        order = {n: i for i, n in enumerate(graph.nodes)}
        for i, out in enumerate(outputs):
            name = output_names[i] if i < len(output_names) else None
            if name is None or not isinstance(out, Node) or out.op == "placeholder":
                continue
            if out in rename or self.reads_carried_after(out, name, placeholders, inputs, order):
                continue
            rename[out] = name
        saved_names = self.walk.pending_names
        # Names a region gives symbols (a tile's begin read again inside a loop) end with it.
        saved_symbols = dict(self.names.symbol_names)
        self.walk.pending_names = rename
        self.walk.graph_nodes.append({n.name: n for n in graph.nodes})
        try:
            for node in graph.nodes:
                if node.op in ("placeholder", "output"):
                    continue
                values[node] = self.translate_node(node, values)
            results = [values.get(o) if isinstance(o, Node) else SymValue(o) for o in outputs]
            moves: list[tuple[str, Any, Node | None]] = []
            for i, value in enumerate(results):
                name = output_names[i] if i < len(output_names) else None
                if name is None:
                    continue
                source = outputs[i] if isinstance(outputs[i], Node) else None
                moves.append((name, self.operand(value, source), source))
            self.assign_all_at_once(moves)
        finally:
            self.walk.graph_nodes.pop()
            self.walk.pending_names = saved_names
            self.names.symbol_names = saved_symbols
        return results

    def reads_carried_after(
        self,
        producer: Node,
        name: str,
        placeholders: list[Node],
        inputs: Sequence[Value],
        order: dict[Node, int],
    ) -> bool:
        """True when the old value of ``name`` is still read after ``producer`` runs.

        Reads through aliases (``prev = cur``) count, and so does the graph's output:
        an output that is the old value (``prev``) is read when the graph ends.
        """
        for placeholder, value in zip(placeholders, inputs, strict=False):
            if not (isinstance(value, Named) and value.name == name):
                continue
            readers: list[Node] = []
            pending = list(placeholder.users)
            while pending:
                reader = pending.pop()
                readers.append(reader)
                if getattr(reader.target, "__name__", "") == "_new_var":
                    pending.extend(reader.users)
            if any(r.op == "output" or order.get(r, -1) > order[producer] for r in readers):
                return True
        return False

    def assign_all_at_once(self, moves: Sequence[tuple[str, Any, Node | None]]) -> None:
        """Emit ``hl.assign`` ops that give each name its value as one parallel copy.

        A region's outputs take their new values together (``prev, cur = cur, nxt``),
        while ``hl.assign`` ops run one after another: a name is written only once no
        later copy reads its old value, and a cycle goes through a temporary.
        """
        pending = [(name, src, node) for name, src, node in moves if src != name]
        while pending:
            ready = next(
                (
                    move
                    for move in pending
                    if not any(other[1] == move[0] for other in pending if other is not move)
                ),
                None,
            )
            if ready is None:
                name, _, node = pending[0]
                saved = self.fresh(f"{name}_old")
                self.emit({"op": "hl.assign", "src": name, "result": saved}, node)
                pending = [(n, saved if s == name else s, nd) for n, s, nd in pending]
                continue
            name, src, node = ready
            self.emit({"op": "hl.assign", "src": src, "result": name}, node)
            pending.remove(ready)

    def flush_pending_loads(self, base: str | None = None) -> None:
        """Emit deferred loads before a region or a write could change what they read."""
        for load in self.walk.pending_loads:
            if load.emitted_as is None and not load.inlined and base in (None, load.base.name):
                self.materialize(load)
        self.walk.pending_loads = [
            load for load in self.walk.pending_loads if load.emitted_as is None and not load.inlined
        ]

    def translate_node(self, node: Node, values: dict[Node, Value]) -> Value:
        handler = HANDLERS.get(target_key(node.target))
        if handler is None:
            raise self.unsupported(
                f"'{describe_target(node.target)}' cannot be expressed in the format yet",
                node,
                op=describe_target(node.target),
            )
        return handler(self, node, values)

    def result_name(self, node: Node) -> str:
        if node in self.walk.pending_names:
            return self.walk.pending_names[node]
        return self.fresh(node.name)

    def getitem(self, node: Node, values: dict[Node, Value]) -> Value:
        source, index = node.args
        value = values[source]  # type: ignore[index]
        if isinstance(value, (LoopResults, BranchResults)):
            name = value.names[index]  # type: ignore[index]
            if name is None:
                raise self.unsupported(
                    "a value assigned only inside a device loop or branch is read after it", node
                )
            return Named(name)
        if isinstance(value, list):
            return value[index]  # type: ignore[index]
        raise self.unsupported("indexing into a value that is not a tuple", node)

    def output_names_of(self, node: Node, count: int) -> list[str]:
        """Names for an op's several results, after the variables they are unpacked into."""
        names = [self.fresh(f"{node.name}_{i}") for i in range(count)]
        for user in node.users:
            if user.target is operator.getitem and isinstance(user.args[1], int):
                self.state.used_names.discard(names[user.args[1]])
                names[user.args[1]] = self.fresh(user.name)
        return names

    def operand(self, value: Value, node: Node | None) -> Any:
        """A JSON operand: a name, an inline slice, a number or ``{"expr": ...}``.

        Symbols are read as numbers here: a block's symbol is its block size.
        """
        if isinstance(value, (Named, TensorRef)):
            return value.name
        if isinstance(value, PendingLoad):
            return self.materialize(value)
        if isinstance(value, SymValue):
            raw = value.value
            if isinstance(raw, (bool, int, float)):
                return scalar_json(raw)
            if isinstance(raw, sympy.Float):
                return scalar_json(float(raw))
            expr = sym_node(self, raw, node, scalar=True)
            if isinstance(expr, ex.Num):
                return expr.value
            if isinstance(expr, ex.Ref):
                return expr.name
            return {"expr": ex.format_expr(expr)}
        if value is None:
            return None
        raise self.unsupported(f"value {value!r} cannot be an operand", node)

    def operand_expr(self, value: Value, node: Node | None) -> ex.Expr:
        """An expression for a size or a bound: a block's symbol is its tile's extent."""
        if isinstance(value, SymValue):
            return sym_expr(self, value.value, node)
        if isinstance(value, Named):
            return value.name
        if isinstance(value, PendingLoad):
            return self.materialize(value)
        raise self.unsupported("a loop bound or size is not a scalar", node)

    def materialize(self, load: PendingLoad) -> str:
        """Emit an explicit ``hl.load`` (once) and return its name."""
        if load.emitted_as is None:
            op: dict[str, Any] = {"op": "hl.load", "result": self.result_name(load.node)}
            if load.slice is not None:
                op["slice"] = load.slice
            else:
                op["base"] = load.base.name
                op["index"] = load.index
            if load.mask is not None:
                op["mask"] = load.mask
            if load.pad_to is not None:
                op["pad_to"] = load.pad_to
            self.emit(op, load.node)
            load.emitted_as = op["result"]
        return load.emitted_as

    def inline_or_name(self, value: Value, node: Node) -> Any:
        """Loads used once, by this op alone, travel inline as ``{"slice": ...}``."""
        if (
            isinstance(value, PendingLoad)
            and value.emitted_as is None
            and value.slice is not None
            and value.mask is None
            and value.pad_to is None
            and len(value.node.users) == 1
        ):
            value.inlined = True
            return {"slice": value.slice}
        return self.operand(value, node)

    def emit_aten(
        self,
        name: str,
        overload: str,
        args: list[Any],
        attrs: dict[str, Any],
        result: str,
        node: Node,
        value_type: Any = None,
    ) -> str:
        """Emit an ATen op the translator composes itself (accumulation, casts)."""
        op = {
            "op": f"torch.{name}",
            "overload": overload,
            "result": result,
            "args": args,
            "attrs": attrs,
        }
        self.emit(op, node, value_type)
        return result

    def convert(self, src: str, dtype: torch.dtype, node: Node, result_hint: str) -> str:
        result = self.fresh(f"{result_hint}_{element_type(dtype)}")
        attrs = {"dtype": element_type(dtype, node_location(node))}
        return self.emit_aten("prims.convert_element_type", "default", [src], attrs, result, node)

    def traced_arguments(self, node: Node) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The node's arguments with the operands Helion dropped put back (by name)."""
        recorded = node.meta.get(TRACED_ARGUMENTS_META)
        if recorded is None:
            return tuple(node.args), dict(node.kwargs)
        traced_args, traced_kwargs = recorded
        nodes_by_name = self.walk.graph_nodes[-1]

        def fill(current: Any, traced: Any) -> Any:
            if current is None and isinstance(traced, Node):
                found = nodes_by_name.get(traced.name)
                if found is None:
                    raise IRStructureError(
                        f"operand '{traced.name}' of {node.name} is not in its graph",
                        kernel=self.kernel_name,
                        location=self.where(node),
                    )
                return found
            if (
                isinstance(current, (list, tuple))
                and isinstance(traced, (list, tuple))
                and len(current) == len(traced)
            ):
                return type(current)(fill(c, t) for c, t in zip(current, traced, strict=True))
            return current

        args = tuple(fill(a, t) for a, t in zip(node.args, traced_args, strict=False))
        args = args + tuple(node.args[len(args) :])
        kwargs = {k: fill(v, traced_kwargs.get(k)) for k, v in node.kwargs.items()}
        return args, kwargs

    def carried_input(self, values: dict[Node, Value], item: Any) -> Value:
        value = values[item] if isinstance(item, Node) else SymValue(item)
        if isinstance(value, PendingLoad):
            return Named(self.materialize(value))
        return value
