"""Device IR → JSON. The only module that touches Helion's private IR.

Helion lowers a kernel into FX graphs (``bound.host_function.device_ir``): one
root graph per grid launch, one graph per device loop, if/else branch, and
so on. This module walks those graphs, names values after the kernel's own
variables, and emits the flat op list of the JSON format (``docs/json-format.md``).

Helion's IR changes between releases, so everything that reads it lives here
and the supported range is checked up front (``SUPPORTED_HELION``).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import inspect
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from torch.fx import Graph, Node

from helion2json.core import expr as ex
from helion2json.core.errors import (
    ArgumentError,
    ExportError,
    HelionVersionError,
    IRStructureError,
    SourceLocation,
    UnsupportedError,
    relative_source_path,
)
from helion2json.core.host import HostEvaluator, HostFactory, HostValue

SUPPORTED_HELION = SpecifierSet(">=1.4.0,<1.6")

_DTYPES: dict[torch.dtype, str] = {
    torch.bool: "i1",
    torch.int8: "i8",
    torch.int16: "i16",
    torch.int32: "i32",
    torch.int64: "i64",
    torch.uint8: "ui8",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.float32: "f32",
    torch.float64: "f64",
    torch.float8_e4m3fn: "f8E4M3FN",
    torch.float8_e5m2: "f8E5M2",
    torch.float8_e4m3fnuz: "f8E4M3FNUZ",
    torch.float8_e5m2fnuz: "f8E5M2FNUZ",
    torch.complex64: "complex64",
    torch.complex128: "complex128",
}
for _name, _elem in (("uint16", "ui16"), ("uint32", "ui32"), ("uint64", "ui64")):
    if hasattr(torch, _name):
        _DTYPES[getattr(torch, _name)] = _elem


def helion_version() -> str:
    return importlib.metadata.version("helion")


def check_helion_version() -> None:
    installed = helion_version()
    if Version(installed) not in SUPPORTED_HELION:
        raise HelionVersionError(
            f"helion {installed} is installed, but this exporter reads the device IR of "
            f"helion {SUPPORTED_HELION}; install a supported helion release"
        )


def element_type(dtype: torch.dtype, where: SourceLocation | None = None) -> str:
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise UnsupportedError(
            f"element type {dtype} has no spelling in the format", location=where
        ) from None


def scalar_json(value: Any) -> Any:
    """Python scalars as JSON: non-finite floats become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


# ------------------------------------------------------------------ locations


def node_location(node: Node) -> SourceLocation | None:
    location = node.meta.get("location")
    if location is None or getattr(location, "lineno", None) is None:
        return None
    return SourceLocation(
        relative_source_path(location.filename), int(location.lineno), int(location.colno or 0)
    )


# ---------------------------------------------------------------- IR values


@dataclass
class TensorRef:
    """A tensor that lives on the host: a kernel argument or an ``hl.alloc``."""

    name: str
    rank: int


@dataclass
class SymValue:
    """A symbolic or constant scalar (a SymInt, a scalar argument, a literal)."""

    value: Any  # sympy expression, int, float or bool


@dataclass
class Named:
    """A device value that the JSON refers to by name."""

    name: str


@dataclass
class PendingLoad:
    """A load not yet emitted: it becomes an inline slice when used once by torch math."""

    node: Node
    base: TensorRef
    index: list[dict[str, Any]]
    slice: dict[str, Any] | None
    mask: str | None
    emitted_as: str | None = None


@dataclass
class LoopResults:
    names: list[str]


Value = TensorRef | SymValue | Named | PendingLoad | LoopResults | list[Any] | None


@dataclass
class Block:
    """One Helion block (a tiled dimension) and how the JSON names it."""

    block_id: int
    tile: str
    iter: str
    size: ex.Expr
    symbol: sympy.Symbol


@dataclass
class ExportOptions:
    module_name: str = "helion_module"
    locations: bool = True


@dataclass
class _FuncState:
    body: list[dict[str, Any]] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)


# ---------------------------------------------------------------- the translator


class KernelTranslator:
    """Translates one bound kernel into one ``func`` of the format."""

    def __init__(self, bound: Any, kernel_name: str, options: ExportOptions) -> None:
        self.bound = bound
        self.env = bound.env
        self.host = bound.host_function
        self.device_ir = self.host.device_ir
        self.kernel_name = kernel_name
        self.options = options
        self.config = bound.config_spec.default_config()
        self.state = _FuncState()
        self.symbol_names: dict[sympy.Symbol, ex.Node] = {}
        self.blocks: dict[int, Block] = {}
        self.tensors: dict[str, TensorRef] = {}
        self.params: list[tuple[str, Any]] = list(self.host.params.arguments.items())
        fn = self.host.fn
        self.source_file = inspect.getsourcefile(fn) or "<unknown>"
        self.first_line = fn.__code__.co_firstlineno
        self.host_eval = HostEvaluator([name for name, _ in self.params])
        self.host_eval.bind_params(
            {
                name: value.dim() if isinstance(value, torch.Tensor) else None
                for name, value in self.params
            }
        )
        self.alloc_dtypes: dict[str, str] = {}
        self.pending_names: dict[Node, str] = {}
        self.loop_bounds: dict[int, tuple[HostValue | None, HostValue | None]] = {}
        self.loop_positions: dict[int, tuple[int, int]] = {}

    # -- errors
    def where(self, node: Node | None) -> SourceLocation | None:
        return node_location(node) if node is not None else self.def_location()

    def def_location(self) -> SourceLocation:
        return SourceLocation(relative_source_path(self.source_file), self.first_line, 0)

    def unsupported(self, message: str, node: Node | None, op: str | None = None) -> ExportError:
        return UnsupportedError(message, kernel=self.kernel_name, location=self.where(node), op=op)

    # -- names
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

    def emit_at_loop(self, op: dict[str, Any], block_id: int) -> None:
        """Tile loops are located at their ``for`` statement, from the kernel's AST."""
        position = self.loop_positions.get(block_id)
        if self.options.locations and position is not None:
            op["loc"] = {
                "file": relative_source_path(self.source_file),
                "line": position[0] + self.first_line - 1,
                "col": position[1],
            }
        self.state.body.append(op)

    def emit(self, op: dict[str, Any], node: Node | None) -> None:
        if self.options.locations and node is not None:
            location = node_location(node)
            if location is not None:
                op["loc"] = {"file": location.file, "line": location.line, "col": location.col}
        self.state.body.append(op)

    # -- top level
    def translate(self) -> dict[str, Any]:
        with self.env:
            args = self.signature()
            self.host_statements_before_device()
            self.collect_blocks()
            roots = list(self.device_ir.root_ids)
            if not roots:
                raise IRStructureError(
                    "the kernel has no device loop (hl.tile / hl.grid)",
                    kernel=self.kernel_name,
                    location=self.def_location(),
                )
            for position, root_id in enumerate(roots):
                if position > 0:
                    self.emit({"op": "hl.barrier"}, None)
                self.translate_root(position, root_id)
            rets, values = self.returns()
            self.emit({"op": "hl.return", "values": values}, None)
        return {"name": self.kernel_name, "args": args, "rets": rets, "body": self.state.body}

    def signature(self) -> list[dict[str, Any]]:
        args: list[dict[str, Any]] = []
        has_tensor = False
        for name, value in self.params:
            self.state.used_names.add(name)
            if isinstance(value, torch.Tensor):
                has_tensor = True
                ref = TensorRef(name, value.dim())
                self.tensors[name] = ref
                elem = element_type(value.dtype, self.def_location())
                args.append(
                    {"id": name, "type": {"tensor": {"shape": ["?"] * value.dim(), "elem": elem}}}
                )
                self.register_shape_symbols(name, value)
            elif isinstance(value, (bool, int, float, torch.SymInt, torch.SymFloat, torch.SymBool)):
                scalar = _scalar_type(value)
                args.append({"id": name, "type": {"scalar": scalar}})
                if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
                    self.symbol_names[value.node.expr] = ex.Ref(name)
            else:
                raise ArgumentError(
                    f"argument '{name}' is a {type(value).__name__}; the format has tensor and "
                    "scalar (int, float, bool) arguments",
                    kernel=self.kernel_name,
                    location=self.def_location(),
                )
        if not has_tensor:
            raise ArgumentError(
                "no tensor arguments: the example arguments must include at least one tensor",
                kernel=self.kernel_name,
                location=self.def_location(),
            )
        return args

    def register_shape_symbols(self, name: str, value: torch.Tensor) -> None:
        for axis, size in enumerate(value.shape):
            if isinstance(size, torch.SymInt):
                expr = size.node.expr
                if isinstance(expr, sympy.Symbol) and expr not in self.symbol_names:
                    self.symbol_names[expr] = ex.Dim(name, axis)

    def host_statements_before_device(self) -> None:
        """Evaluate the host code so that sizes and allocations keep their provenance."""
        for stmt in self.host.body:
            if _is_device_loop(stmt):
                break
            self.host_eval.run(stmt)

    def collect_blocks(self) -> None:
        loops = _tile_loops(self.host.body, self.host_eval)
        for info in self.env.block_sizes:
            block_id = info.block_id
            tile, iter_name = loops.names.get(block_id) or _block_names(info)
            self.blocks[block_id] = Block(
                block_id=block_id,
                tile=self.fresh(tile),
                iter=iter_name,
                size=self.block_size(info),
                symbol=info.symbol(),
            )
        self.loop_bounds = loops.bounds
        self.loop_positions = loops.positions

    def block_size(self, info: Any) -> ex.Expr:
        configured = info.from_config(self.config)
        if configured is None:
            raise self.unsupported(f"block {info.block_id} has no size in the config", None)
        if isinstance(configured, torch.SymInt):
            return ex.format_expr(self.sym_node(configured.node.expr, None))
        extent = info.size
        if isinstance(extent, int) and extent > 0:
            # A block larger than a static extent covers it in one iteration; Helion
            # pads to a power of two, so the effective block is that.
            return min(int(configured), _next_power_of_2(extent))
        return int(configured)

    # -- symbolic expressions
    def sym_node(self, value: Any, node: Node | None) -> ex.Node:
        if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            value = value.node.expr
        if isinstance(value, bool):
            return ex.Num(int(value))
        if isinstance(value, int):
            return ex.Num(value)
        if isinstance(value, sympy.Integer):
            return ex.Num(int(value))
        if isinstance(value, sympy.Symbol):
            if value in self.symbol_names:
                return self.symbol_names[value]
            for block in self.blocks.values():
                if block.symbol == value:
                    return ex.Size(block.tile)
            raise self.unsupported(f"symbol {value} has no meaning in the format", node)
        if isinstance(value, sympy.Add):
            terms = [self.sym_node(term, node) for term in value.args]
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
                return ex.Neg(self.sym_node(rest, node))
            nodes = [self.sym_node(f, node) for f in factors]
            result = nodes[0]
            for item in nodes[1:]:
                result = ex.BinOp("*", result, item)
            return result
        name = type(value).__name__
        if name == "FloorDiv":
            return ex.BinOp(
                "//", self.sym_node(value.args[0], node), self.sym_node(value.args[1], node)
            )
        if name in ("Min", "Max") and len(value.args) == 2:
            return ex.BinOp(
                name.lower(), self.sym_node(value.args[0], node), self.sym_node(value.args[1], node)
            )
        if name == "CeilDiv":
            return ex.BinOp(
                "cdiv", self.sym_node(value.args[0], node), self.sym_node(value.args[1], node)
            )
        raise self.unsupported(f"symbolic expression {value} has no form in the format", node)

    def sym_expr(self, value: Any, node: Node | None) -> ex.Expr:
        return ex.format_expr(self.sym_node(value, node))

    # -- root graphs and loops
    def translate_root(self, position: int, root_id: int) -> None:
        graph_info = self.device_ir.graphs[root_id]
        grid = self.device_ir.grid_block_ids[position]
        begin = self.tile_begin(grid, parallel=True, begins=None, ends=None, node=None)
        self.emit_at_loop(begin, grid[0])
        self.translate_graph(graph_info.graph, inputs=[])
        self.emit({"op": "hl.tile.end"}, None)

    def tile_begin(
        self,
        block_ids: Sequence[int],
        *,
        parallel: bool,
        begins: Sequence[Any] | None,
        ends: Sequence[Any] | None,
        node: Node | None,
        values: dict[Node, Value] | None = None,
    ) -> dict[str, Any]:
        blocks = [self.blocks[b] for b in block_ids]
        begin_exprs: list[ex.Expr] = []
        end_exprs: list[ex.Expr] = []
        for i, block in enumerate(blocks):
            ast_begin, ast_end = self.loop_bounds.get(block.block_id, (None, None))
            begin = begins[i] if begins is not None else 0
            if ends is not None:
                end = ends[i]
            else:
                end = self.env.block_sizes[block.block_id].size
                if end is None:
                    raise self.unsupported("a grid loop has no known extent", node)
            begin_exprs.append(self.bound_expr(begin, ast_begin, node, values))
            end_exprs.append(self.bound_expr(end, ast_end, node, values))
        return {
            "op": "hl.tile.begin",
            "iters": [b.iter for b in blocks],
            "sizes": [b.size for b in blocks],
            "result": [b.tile for b in blocks],
            "begin": begin_exprs,
            "end": end_exprs,
            "parallel": parallel,
        }

    def bound_expr(
        self,
        ir_value: Any,
        host_value: HostValue | None,
        node: Node | None,
        values: dict[Node, Value] | None,
    ) -> ex.Expr:
        if isinstance(ir_value, Node):
            assert values is not None
            return self.operand_expr(values[ir_value], ir_value)
        concrete = _concrete_int(ir_value)
        # The host code says *where* an extent comes from (dim(x,0)); the IR says what
        # it is. Use the host's expression only when both agree.
        if (
            host_value is not None
            and host_value.expr is not None
            and concrete is not None
            and self.evaluate_int(host_value.expr) == concrete
        ):
            return ex.format_expr(host_value.expr)
        return self.sym_expr(ir_value, node)

    def evaluate_int(self, node: ex.Node) -> int | None:
        def resolve(part: ex.Node) -> int:
            if isinstance(part, ex.Dim):
                ref = dict(self.params).get(part.tensor)
                if isinstance(ref, torch.Tensor):
                    size = _concrete_int(ref.shape[part.axis])
                    if size is not None:
                        return size
                factory = self.host_eval.factories.get(part.tensor)
                if factory is not None and factory.shape is not None:
                    inner = factory.shape[part.axis]
                    result = self.evaluate_int(inner) if inner is not None else None
                    if result is not None:
                        return result
            if isinstance(part, ex.Ref):
                value = dict(self.params).get(part.name)
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
            raise LookupError(part)

        try:
            return ex.evaluate(node, resolve)
        except (LookupError, ZeroDivisionError, IndexError):
            return None

    def translate_graph(
        self,
        graph: Graph,
        inputs: Sequence[Value],
        output_names: Sequence[str | None] = (),
    ) -> list[Value]:
        """Emit a graph's ops; returns the values of its output node."""
        values: dict[Node, Value] = {}
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        for placeholder, value in zip(placeholders, inputs, strict=False):
            values[placeholder] = value
        # Loop outputs take the carried name at their definition, as the kernel's
        # source does (acc = torch.addmm(acc, ...)).
        rename: dict[Node, str] = {}
        output_node = next(n for n in reversed(graph.nodes) if n.op == "output")
        outputs = output_node.args[0] if output_node.args else []
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        pending_assign: list[tuple[str, Node]] = []
        order = {n: i for i, n in enumerate(graph.nodes)}
        for i, out in enumerate(outputs):
            name = output_names[i] if i < len(output_names) else None
            if name is None or not isinstance(out, Node) or out.op == "placeholder":
                continue
            if out in rename or self.reads_carried_after(out, name, placeholders, inputs, order):
                pending_assign.append((name, out))
            else:
                rename[out] = name
        self.pending_names = rename
        for node in graph.nodes:
            if node.op in ("placeholder", "output"):
                continue
            values[node] = self.translate_node(node, values)
        for name, out in pending_assign:
            self.emit(
                {"op": "hl.assign", "src": self.operand(values[out], out), "result": name}, out
            )
        return [values.get(o) if isinstance(o, Node) else SymValue(o) for o in outputs]

    def reads_carried_after(
        self,
        producer: Node,
        name: str,
        placeholders: list[Node],
        inputs: Sequence[Value],
        order: dict[Node, int],
    ) -> bool:
        """True when the old value of ``name`` is still read after ``producer`` runs."""
        for placeholder, value in zip(placeholders, inputs, strict=False):
            if not (isinstance(value, Named) and value.name == name):
                continue
            readers = list(placeholder.users)
            for user in list(readers):
                if getattr(user.target, "__name__", "") == "_new_var":
                    readers.extend(user.users)
            if any(order.get(r, -1) > order[producer] for r in readers if r.op != "output"):
                return True
        return False

    # -- nodes
    def translate_node(self, node: Node, values: dict[Node, Value]) -> Value:
        target = node.target
        name = getattr(target, "__name__", str(target))
        handler = _HANDLERS.get(name) if callable(target) else None
        if handler is not None and _is_helion_op(target):
            return handler(self, node, values)
        if isinstance(target, torch._ops.OpOverload):
            if target in (torch.ops.aten.sym_size.int, torch.ops.aten.sym_stride.int):
                return SymValue(node.meta["val"])
            return self.torch_op(node, target, values)
        if target is operator.getitem:
            return self.getitem(node, values)
        if target in _SYM_OPERATORS:
            return SymValue(node.meta["val"])
        raise self.unsupported(
            f"'{_describe_target(target)}' cannot be expressed in the format yet",
            node,
            op=_describe_target(target),
        )

    def result_name(self, node: Node) -> str:
        if node in self.pending_names:
            return self.pending_names[node]
        return self.fresh(node.name)

    def getitem(self, node: Node, values: dict[Node, Value]) -> Value:
        source, index = node.args
        value = values[source]  # type: ignore[index]
        if isinstance(value, LoopResults):
            return Named(value.names[index])  # type: ignore[index]
        if isinstance(value, list):
            return value[index]  # type: ignore[index]
        raise self.unsupported("indexing into a value that is not a tuple", node)

    # -- operands
    def operand(self, value: Value, node: Node | None) -> Any:
        """A JSON operand: a name, an inline slice, a number or ``{"expr": ...}``."""
        if isinstance(value, Named):
            return value.name
        if isinstance(value, TensorRef):
            return value.name
        if isinstance(value, PendingLoad):
            return self.materialize(value)
        if isinstance(value, SymValue):
            raw = value.value
            if isinstance(raw, (bool, int, float)) and not isinstance(raw, torch.SymInt):
                return scalar_json(raw)
            expr = self.sym_node(raw, node)
            if isinstance(expr, ex.Num):
                return expr.value
            if isinstance(expr, ex.Ref):
                return expr.name
            return {"expr": ex.format_expr(expr)}
        if value is None:
            return None
        raise self.unsupported(f"value {value!r} cannot be an operand", node)

    def operand_expr(self, value: Value, node: Node | None) -> ex.Expr:
        if isinstance(value, SymValue):
            return self.sym_expr(value.value, node)
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
            and len(value.node.users) == 1
        ):
            return {"slice": value.slice}
        return self.operand(value, node)

    def index_entries(
        self, base: TensorRef, index: Sequence[Any], node: Node, values: dict[Node, Value]
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Index entries, and the equivalent rectangular slice where there is one."""
        entries: list[dict[str, Any]] = []
        offsets: list[ex.Expr] = []
        sizes: list[ex.Expr] = []
        rectangular = True
        axis = 0
        for item in index:
            if item is None:
                entries.append({"newaxis": True})
                rectangular = False
                continue
            if isinstance(item, slice):
                if item != slice(None):
                    raise self.unsupported(f"slice {item} with bounds is not supported", node)
                entries.append({"full": True})
                offsets.append(0)
                sizes.append(f"dim({base.name},{axis})")
                axis += 1
                continue
            value = values[item] if isinstance(item, Node) else SymValue(item)
            block = self.block_of(value)
            if block is not None:
                entries.append({"tile": block.tile})
                offsets.append(block.tile)
                sizes.append(f"size({block.tile})")
            elif isinstance(value, SymValue):
                entries.append({"at": self.sym_expr(value.value, node)})
                rectangular = False
            else:
                entries.append({"tensor": self.operand(value, node)})
                rectangular = False
            axis += 1
        if rectangular and axis != base.rank:
            rectangular = False
        spec = {"base": base.name, "offsets": offsets, "sizes": sizes} if rectangular else None
        return entries, spec

    def block_of(self, value: Value) -> Block | None:
        if not isinstance(value, SymValue):
            return None
        raw = value.value
        if isinstance(raw, torch.SymInt):
            raw = raw.node.expr
        if isinstance(raw, sympy.Symbol):
            for block in self.blocks.values():
                if block.symbol == raw:
                    return block
        return None

    # -- torch math
    def torch_op(
        self, node: Node, target: torch._ops.OpOverload, values: dict[Node, Value]
    ) -> Value:
        schema = target._schema
        namespace = target.namespace
        op_name = target._opname if namespace == "aten" else f"{namespace}.{target._opname}"
        args: list[Any] = []
        attrs: dict[str, Any] = {}
        for position, argument in enumerate(schema.arguments):
            if position < len(node.args) and not argument.kwarg_only:
                raw = node.args[position]
            elif argument.name in node.kwargs:
                raw = node.kwargs[argument.name]
            elif argument.has_default_value():
                raw = argument.default_value
            else:
                raise self.unsupported(
                    f"torch.{op_name}: argument '{argument.name}' is missing", node
                )
            if _is_tensor_type(argument.type):
                if isinstance(raw, (list, tuple)):
                    args.append([self.value_operand(item, node, values) for item in raw])
                else:
                    args.append(self.value_operand(raw, node, values))
            else:
                value = self.attr_value(raw, node, values)
                if isinstance(argument.type, torch.NumberType) and _is_floating_result(node):
                    # ATen casts a Scalar to the result's type; write it in that kind.
                    value = float(value) if type(value) is int else value
                attrs[argument.name] = value
        op: dict[str, Any] = {
            "op": f"torch.{op_name}",
            "overload": target._overloadname or "default",
        }
        returns = schema.returns
        result: Value
        if len(returns) == 1:
            name = self.result_name(node)
            op["result"] = name
            result = Named(name)
        elif not returns:
            result = None
        else:
            names = [self.fresh(f"{node.name}_{i}") for i in range(len(returns))]
            for user in node.users:
                if user.target is operator.getitem and isinstance(user.args[1], int):
                    names[user.args[1]] = self.fresh(user.name)
            op["result"] = names
            result = [Named(n) for n in names]
        op["args"] = args
        op["attrs"] = attrs
        self.emit(op, node)
        return result

    def value_operand(self, raw: Any, node: Node, values: dict[Node, Value]) -> Any:
        if isinstance(raw, Node):
            return self.inline_or_name(values[raw], node)
        return self.operand(SymValue(raw), node)

    def attr_value(self, raw: Any, node: Node, values: dict[Node, Value]) -> Any:
        if isinstance(raw, Node):
            value = values[raw]
            if isinstance(value, SymValue):
                return self.sym_expr(value.value, node)
            return self.operand(value, node)
        if isinstance(raw, (list, tuple)):
            return [self.attr_value(item, node, values) for item in raw]
        if isinstance(raw, torch.dtype):
            return element_type(raw, node_location(node))
        if isinstance(raw, torch.device):
            # Placement belongs to the kernel's launch, not to its math.
            return None
        if isinstance(raw, (torch.layout, torch.memory_format)):
            return str(raw).removeprefix("torch.")
        if isinstance(raw, (torch.SymInt, torch.SymFloat, torch.SymBool, sympy.Expr)):
            return self.sym_expr(raw, node)
        if isinstance(raw, (bool, int, float, str)) or raw is None:
            return scalar_json(raw)
        raise self.unsupported(f"attribute value {raw!r} has no JSON form", node)

    # -- host side
    def returns(self) -> tuple[list[dict[str, Any]], list[str]]:
        names: list[str] = []
        for stmt in self.host.body:
            if isinstance(stmt, ast.Return):
                names = self.host_eval.return_names(stmt)
        rets: list[dict[str, Any]] = []
        for name in names:
            ref = self.tensors.get(name)
            if ref is None:
                raise self.unsupported(
                    f"the kernel returns '{name}', which is not a tensor the format knows", None
                )
            rets.append(
                {"type": {"tensor": {"shape": ["?"] * ref.rank, "elem": self.elem_of(name)}}}
            )
        return rets, names

    def elem_of(self, name: str) -> str:
        value = dict(self.params).get(name)
        if isinstance(value, torch.Tensor):
            return element_type(value.dtype)
        return self.alloc_dtypes[name]

    def host_tensor(self, node: Node, values: dict[Node, Value]) -> Value:
        name = str(node.args[0])
        if name in self.tensors:
            return self.tensors[name]
        fake = node.meta["val"]
        factory = self.host_eval.factories.get(name)
        location = self.where(node)
        if factory is None:
            raise UnsupportedError(
                f"host tensor '{name}' is computed by host code the format cannot express; "
                "allocate it with torch.empty/zeros/full (or *_like) before the device loop",
                kernel=self.kernel_name,
                location=self.host_eval.definition_location(name, self.source_file, self.first_line)
                or location,
                op="host tensor",
            )
        shape: list[ex.Expr] = []
        for axis, size in enumerate(fake.shape):
            host_expr = factory.shape[axis] if factory.shape and axis < len(factory.shape) else None
            shape.append(self.bound_expr(size, HostValue(host_expr), node, values))
        dtype = element_type(fake.dtype, location)
        op: dict[str, Any] = {"op": "hl.alloc", "shape": shape, "dtype": dtype, "result": name}
        if factory.fill is not None:
            op["fill"] = scalar_json(factory.fill)
        self.state.used_names.add(name)
        self.alloc_dtypes[name] = dtype
        self.insert_alloc(op, factory)
        ref = TensorRef(name, len(shape))
        self.tensors[name] = ref
        return ref

    def insert_alloc(self, op: dict[str, Any], factory: HostFactory) -> None:
        """Allocations run on the host, before every launch: put them ahead of the first."""
        if self.options.locations:
            op["loc"] = {
                "file": relative_source_path(self.source_file),
                "line": factory.line + self.first_line - 1,
                "col": factory.col,
            }
        position = 0
        while position < len(self.state.body) and self.state.body[position]["op"] == "hl.alloc":
            position += 1
        self.state.body.insert(position, op)


# ----------------------------------------------------------- helion op handlers


def _h_get_symnode(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return SymValue(node.meta["val"])


def _h_host_tensor(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return t.host_tensor(node, values)


def _h_new_var(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return values[node.args[0]]  # type: ignore[index]


def _h_phi(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return values[node.args[0]]  # type: ignore[index]


def _h_full(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    shape_arg, fill, dtype = node.args[0], node.args[1], node.args[2]
    shape = [t.operand_expr(_value(item, values), node) for item in shape_arg]  # type: ignore[union-attr]
    elem = element_type(dtype, node_location(node))  # type: ignore[arg-type]
    name = t.result_name(node)
    fill_value = _value(fill, values)
    fill_json = t.operand(fill_value, node)
    if isinstance(fill_json, (int, float)) and not isinstance(fill_json, bool) and fill_json == 0:
        t.emit({"op": "hl.zeros", "shape": shape, "dtype": elem, "result": name}, node)
    else:
        op = {"op": "hl.full", "shape": shape, "value": fill_json, "dtype": elem, "result": name}
        t.emit(op, node)
    return Named(name)


def _h_load(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    tensor, index = node.args[0], node.args[1]
    extra_mask = node.args[2] if len(node.args) > 2 else None
    base = values[tensor]  # type: ignore[index]
    if not isinstance(base, TensorRef):
        raise t.unsupported("load from a value that is not a host tensor", node, op="hl.load")
    entries, spec = t.index_entries(base, index, node, values)  # type: ignore[arg-type]
    mask = t.operand(values[extra_mask], node) if isinstance(extra_mask, Node) else None
    return PendingLoad(node=node, base=base, index=entries, slice=spec, mask=mask)


def _h_store(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    tensor, index, value = node.args[0], node.args[1], node.args[2]
    extra_mask = node.args[3] if len(node.args) > 3 else None
    base = values[tensor]  # type: ignore[index]
    if not isinstance(base, TensorRef):
        raise t.unsupported("store into a value that is not a host tensor", node, op="hl.store")
    entries, spec = t.index_entries(base, index, node, values)  # type: ignore[arg-type]
    src = t.inline_or_name(_value(value, values), node)
    op: dict[str, Any]
    if spec is not None:
        op = {"op": "hl.store_slice", "dst": base.name, "offsets": spec["offsets"], "src": src}
    else:
        op = {"op": "hl.store", "dst": base.name, "index": entries, "src": src}
    if isinstance(extra_mask, Node):
        op["mask"] = t.operand(values[extra_mask], node)
    t.emit(op, node)
    return None


def _h_mask_to(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    src, other = node.args
    name = t.result_name(node)
    t.emit(
        {
            "op": "hl.mask_to",
            "src": t.operand(values[src], node),  # type: ignore[index]
            "value": scalar_json(other),
            "result": name,
        },
        node,
    )
    return Named(name)


def _h_for_loop(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    graph_id, begins, ends, carried = node.args
    graph_info = t.device_ir.graphs[graph_id]
    begin_op = t.tile_begin(
        graph_info.block_ids,
        parallel=False,
        begins=begins,  # type: ignore[arg-type]
        ends=ends,  # type: ignore[arg-type]
        node=node,
        values=values,
    )
    carried_values = [values[c] if isinstance(c, Node) else SymValue(c) for c in carried]  # type: ignore[union-attr]
    carried_names: list[str | None] = []
    for value in carried_values:
        if isinstance(value, PendingLoad):
            carried_names.append(t.materialize(value))
        elif isinstance(value, (Named, TensorRef)):
            carried_names.append(value.name)
        else:
            carried_names.append(None)
    inputs: list[Value] = [
        Named(n) if n is not None else v for n, v in zip(carried_names, carried_values, strict=True)
    ]
    if graph_info.block_ids and graph_info.block_ids[0] in t.loop_positions:
        t.emit_at_loop(begin_op, graph_info.block_ids[0])
    else:
        t.emit(begin_op, node)
    saved = t.pending_names
    outputs = t.translate_graph(graph_info.graph, inputs, carried_names)
    t.pending_names = saved
    t.emit({"op": "hl.tile.end"}, None)
    names = []
    for i in range(len(outputs)):
        carried_name = carried_names[i] if i < len(carried_names) else None
        if carried_name is None:
            raise t.unsupported("a loop produces a value that is not carried from before it", node)
        names.append(carried_name)
    return LoopResults(names)


def _h_api_passthrough_error(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    name = getattr(node.target, "__name__", str(node.target))
    raise t.unsupported(
        f"hl.{name.lstrip('_')} cannot be expressed in the format yet", node, op=name
    )


_HANDLERS: dict[str, Callable[[KernelTranslator, Node, dict[Node, Value]], Value]] = {
    "_get_symnode": _h_get_symnode,
    "_host_tensor": _h_host_tensor,
    "_new_var": _h_new_var,
    "_phi": _h_phi,
    "full": _h_full,
    "load": _h_load,
    "store": _h_store,
    "_mask_to": _h_mask_to,
    "_for_loop": _h_for_loop,
}


def _is_helion_op(target: Any) -> bool:
    module = getattr(target, "__module__", "") or ""
    return module.startswith("helion.")


def _describe_target(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"torch.{target._opname}.{target._overloadname}"
    module = getattr(target, "__module__", "") or ""
    name = getattr(target, "__name__", str(target))
    if module.startswith("helion.language"):
        return f"hl.{name.lstrip('_')}"
    return f"{module}.{name}" if module else name


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
}


def _value(raw: Any, values: dict[Node, Value]) -> Value:
    return values[raw] if isinstance(raw, Node) else SymValue(raw)


def _is_tensor_type(arg_type: Any) -> bool:
    text = str(arg_type)
    return text.startswith("Tensor") or text.startswith("Optional[Tensor")


def _is_floating_result(node: Node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, torch.Tensor) and (
        value.dtype.is_floating_point or value.dtype.is_complex
    )


def _scalar_type(value: Any) -> str:
    if isinstance(value, (bool, torch.SymBool)):
        return "i1"
    if isinstance(value, (int, torch.SymInt)):
        return "i64"
    return "f64"


def _concrete_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, torch.SymInt):
        with contextlib.suppress(Exception):
            expr = value.node.expr
            if isinstance(expr, sympy.Integer):
                return int(expr)
    if isinstance(value, sympy.Integer):
        return int(value)
    return None


def _next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _block_names(info: Any) -> tuple[str, str]:
    names = sorted(info.debug_names)
    tile = names[0] if names else f"block_{info.block_id}"
    return tile, _iter_name(tile)


def _iter_name(tile: str) -> str:
    stripped = tile.removeprefix("tile_")
    return stripped if (stripped and stripped != tile) or not tile.startswith("tile") else "i"


def _is_device_loop(stmt: ast.stmt) -> bool:
    loop_type = getattr(stmt, "_loop_type", None)
    return isinstance(stmt, ast.For) and loop_type is not None and loop_type.name == "GRID"


@dataclass
class _LoopInfo:
    names: dict[int, tuple[str, str]] = field(default_factory=dict)
    # (line within the kernel's source, column) of each loop's ``for``.
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)
    bounds: dict[int, tuple[HostValue | None, HostValue | None]] = field(default_factory=dict)


def _tile_loops(body: list[ast.stmt], evaluator: HostEvaluator) -> _LoopInfo:
    """Names and host-side bounds of every tile loop, keyed by Helion block id."""
    info = _LoopInfo()
    for stmt in _walk_statements(body):
        if not isinstance(stmt, ast.For):
            continue
        block_ids = _iter_block_ids(stmt.iter)
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
            info.names[block_id] = (tile, _iter_name(tile))
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


def _iter_block_ids(iter_node: ast.expr) -> list[int]:
    type_info = getattr(iter_node, "_type_info", None)
    inner = getattr(type_info, "inner", None)
    if inner is None:
        return []
    elements = getattr(inner, "element_types", None)
    items = list(elements) if isinstance(elements, (list, tuple)) else [inner]
    block_ids: list[int] = []
    for item in items:
        block_id = getattr(item, "block_id", None)
        if not isinstance(block_id, int):
            return []
        block_ids.append(block_id)
    return block_ids


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
