"""Device IR → JSON. The only module that touches Helion's private IR.

Helion lowers a kernel into FX graphs (``bound.host_function.device_ir``): one
root graph per grid launch, one graph per device loop, if/else branch, scan
combine function, and so on. This module walks those graphs, names values
after the kernel's own variables, and emits the flat op list of the JSON
format (``docs/json-format.md``).

Helion's IR changes between releases, so everything that reads it lives here
and the supported range is checked up front (``SUPPORTED_HELION``).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.metadata
import inspect
import math
import operator
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import sympy
import torch
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from torch.fx import Graph, Node

from helion2json.core import expr as ex
from helion2json.core.dtypes import element_type
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
from helion2json.core.ops import TORCH

SUPPORTED_HELION = SpecifierSet(">=1.4.0,<1.6")

# Where the recorder below keeps a node's arguments as traced (see _record_traced_arguments).
TRACED_ARGUMENTS_META = "helion2json_traced_arguments"


def helion_version() -> str:
    return importlib.metadata.version("helion")


def check_helion_version() -> None:
    installed = helion_version()
    if Version(installed) not in SUPPORTED_HELION:
        raise HelionVersionError(
            f"helion {installed} is installed, but this exporter reads the device IR of "
            f"helion {SUPPORTED_HELION}; install a supported helion release"
        )


def scalar_json(value: Any) -> Any:
    """Python scalars as JSON: non-finite floats become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _record_traced_arguments() -> None:
    """Keep every ATen node's arguments as traced, before Helion rewrites them.

    While preparing its lowerings Helion replaces operands it does not need
    for code generation with ``None`` in place: a repeated operand
    (``x * x`` becomes ``mul(x, None)``) and the inputs of an op that Inductor
    splits into several buffers (``mean`` becomes a sum node plus
    ``mean(None, dims)``). The format needs the operator as written, so this
    wraps the one function that does the rewriting and stores the original
    arguments in the node's metadata. Binding a kernel after this module is
    imported records them; the translator reports a clear error for a kernel
    bound earlier whose IR lost an operand.
    """
    try:
        from helion._compiler import inductor_lowering
    except ImportError:  # an unsupported helion: check_helion_version says so
        return
    strip = getattr(inductor_lowering, "strip_unused_inputs", None)
    if strip is None or getattr(strip, "records_traced_arguments", False):
        return

    @functools.wraps(strip)
    def recording_strip(node: Node, *args: Any, **kwargs: Any) -> Any:
        kept_kwargs = {k: v for k, v in node.kwargs.items() if not k.startswith("_extra")}
        node.meta.setdefault(TRACED_ARGUMENTS_META, (node.args, kept_kwargs))
        return strip(node, *args, **kwargs)

    recording_strip.records_traced_arguments = True  # type: ignore[attr-defined]
    inductor_lowering.strip_unused_inputs = recording_strip


_record_traced_arguments()


@functools.cache
def _ir() -> SimpleNamespace:
    """Helion's private classes this module reads, imported once the version is checked."""
    from helion._compiler import variable_origin as origins
    from helion._compiler.device_ir import (
        ForLoopGraphInfo,
        HelperFunctionGraphInfo,
        IfGraphInfo,
        ReductionLoopGraphInfo,
    )
    from helion._compiler.inductor_lowering import ReductionLowering
    from helion._compiler.type_info import BlockSizeType
    from torch._inductor.ir import Reduction

    return SimpleNamespace(
        ForLoopGraphInfo=ForLoopGraphInfo,
        HelperFunctionGraphInfo=HelperFunctionGraphInfo,
        IfGraphInfo=IfGraphInfo,
        ReductionLoopGraphInfo=ReductionLoopGraphInfo,
        ReductionLowering=ReductionLowering,
        BlockSizeType=BlockSizeType,
        InductorReduction=Reduction,
        origins=origins,
    )


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
    """A device value the document has already given a name."""

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
    inlined: bool = False


@dataclass
class BranchResults:
    """The outputs of an ``_if``: one merged name per value a branch assigns."""

    names: list[str | None]


@dataclass
class LoopResults:
    names: list[str | None]


@dataclass
class LoweringExtra:
    """A piece of an ATen op that Inductor split into several buffers.

    The op itself is emitted with its traced arguments, so the piece emits
    nothing unless a reduction loop needs it as a partial result.
    """

    node: Node


Value = (
    TensorRef
    | SymValue
    | Named
    | PendingLoad
    | BranchResults
    | LoopResults
    | LoweringExtra
    | list[Any]
    | None
)


@dataclass
class Block:
    """One Helion block (a tiled dimension) and how the JSON names it."""

    block_id: int
    tile: str
    iter: str
    size: ex.Expr
    symbol: sympy.Symbol | None
    reduction: bool


@dataclass
class ExportOptions:
    module_name: str = "helion_module"
    locations: bool = True
    # A ``helion.Config`` (or its mapping) to export with; None: the kernel's default config.
    config: Mapping[str, Any] | None = None


@dataclass
class _Accumulator:
    """A reduction carried across the iterations of a reduction loop."""

    name: str
    combine: str  # the ATen op (in ``torch.ops.aten``) that folds a partial result in
    dtype: torch.dtype  # the accumulator's element type
    result_dtype: torch.dtype  # the reduction's own result type
    block_id: int  # the reduced dimension, which the loop iterates over


@dataclass
class _FuncState:
    body: list[dict[str, Any]] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)


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
        self.config: Any = None
        self.graphs: list[Any] = []
        self.state = _FuncState()
        # Symbols (and symbolic booleans) that stand for a named value of the document.
        self.symbol_names: dict[sympy.Basic, ex.Node] = {}
        self.blocks: dict[int, Block] = {}
        self.block_by_symbol: dict[sympy.Symbol, Block] = {}
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
        self.host_eval.concrete = self.evaluate_int
        self.alloc_dtypes: dict[str, str] = {}
        self.pending_names: dict[Node, str] = {}
        self.pending_loads: list[PendingLoad] = []
        self.loop_bounds: dict[int, tuple[HostValue | None, HostValue | None]] = {}
        self.loop_positions: dict[int, tuple[int, int]] = {}
        # Blocks whose tile loop is open at the current point of the body.
        self.open_blocks: set[int] = set()
        # Where a persistent reduction's extent comes from: block → (tensor, axis).
        self.reduction_sources: dict[int, tuple[str, int]] = {}
        # The reductions each open reduction loop accumulates, by body node.
        self.accumulators: list[dict[Node, _Accumulator]] = []
        # The block a reduction loop reduced over, by the name of its result.
        self.reduced_over: dict[str, int] = {}
        # The nodes of each graph being translated, by name (innermost last).
        self.graph_nodes: list[dict[str, Node]] = []

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

    def source_loc(self, line: int, col: int) -> dict[str, Any]:
        """A location given relative to the kernel's source (1-based line within it)."""
        return {
            "file": relative_source_path(self.source_file),
            "line": line + self.first_line - 1,
            "col": col,
        }

    def emit_at_loop(self, op: dict[str, Any], block_id: int, node: Node | None) -> None:
        """Tile loops are located at their ``for`` statement, from the kernel's AST."""
        position = self.loop_positions.get(block_id)
        if position is None:
            self.emit(op, node)
            return
        if self.options.locations:
            op["loc"] = self.source_loc(*position)
        self.state.body.append(op)

    def emit(self, op: dict[str, Any], node: Node | None) -> None:
        if self.options.locations and node is not None:
            location = node_location(node)
            if location is not None:
                op["loc"] = {"file": location.file, "line": location.line, "col": location.col}
        self.state.body.append(op)

    # -- top level
    def translate(self) -> dict[str, Any]:
        with self.env, self.host:
            self.config = self.resolve_config()
            # The graphs Helion generates code from for this config: reduction loops
            # (``reduction_loops``) are rolled into them.
            self.graphs = list(self.device_ir.build_codegen_graphs(self.config))
            args = self.signature()
            self.host_eval.tunables = {
                name: value
                for name, value in dict(self.config).items()
                if name in self.env.config_spec.user_defined_tunables
            }
            self.host_statements_before_device()
            self.collect_blocks()
            self.find_reduction_sources()
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
                self.translate_root(position, root_id)
            rets, values = self.returns()
            self.emit({"op": "hl.return", "values": values}, None)
        return {"name": self.kernel_name, "args": args, "rets": rets, "body": self.state.body}

    def resolve_config(self) -> Any:
        """The config to export: the one asked for, else the kernel's own, else Helion's default.

        A kernel declared with one config (``@helion.kernel(config=...)``) runs
        with it, so that is what its document describes.
        """
        spec = self.env.config_spec
        requested = self.options.config
        if requested is None:
            fixed = list(getattr(self.bound, "configs", None) or [])
            if len(fixed) != 1:
                return spec.default_config()
            requested = fixed[0]
        import helion

        # What the requested config leaves out comes from the kernel's default config.
        config = helion.Config(**{**dict(spec.default_config()), **dict(requested)})
        try:
            return spec.normalized_config(config)
        except Exception as exc:
            raise ArgumentError(
                f"the config does not fit the kernel: {type(exc).__name__}: {exc}",
                kernel=self.kernel_name,
                location=self.def_location(),
            ) from None

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
            elif isinstance(value, (bool, int, float, torch.SymInt, torch.SymFloat, torch.SymBool)):
                args.append({"id": name, "type": {"scalar": _scalar_type(value)}})
                if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
                    self.symbol_names[value.node.expr] = ex.Ref(name)
            elif isinstance(value, sympy.Basic) and value.is_Boolean:
                # A bool argument: Helion keeps it as ``Eq(u, 1)`` over an integer symbol.
                args.append({"id": name, "type": {"scalar": "i1"}})
                self.symbol_names[value] = ex.Ref(name)
                if isinstance(value, sympy.Eq) and value.rhs == 1:
                    self.symbol_names[value.lhs] = ex.Ref(name)
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
        self.register_shape_symbols()
        return args

    def register_shape_symbols(self) -> None:
        """``dim(x,0)`` for every symbolic extent, from the shape environment's sources."""
        tensor_params = {name for name, value in self.params if isinstance(value, torch.Tensor)}
        sources = getattr(self.env.shape_env, "var_to_sources", {}) or {}
        for symbol, symbol_sources in sources.items():
            for source in symbol_sources:
                base = getattr(source, "base", None)
                local = getattr(base, "local_name", None)
                prop = getattr(getattr(source, "prop", None), "name", None)
                axis = getattr(source, "idx", None)
                if local in tensor_params and prop == "SIZE" and isinstance(axis, int):
                    self.symbol_names.setdefault(symbol, ex.Dim(local, axis))
                    break
        # Sizes whose symbol has no recorded source still name the argument they belong to.
        for name, value in self.params:
            if not isinstance(value, torch.Tensor):
                continue
            for axis, size in enumerate(value.shape):
                if isinstance(size, torch.SymInt) and isinstance(size.node.expr, sympy.Symbol):
                    self.symbol_names.setdefault(size.node.expr, ex.Dim(name, axis))

    def host_statements_before_device(self) -> None:
        """Evaluate the host code so that sizes and allocations keep their provenance."""
        for stmt in self.host.body:
            if _is_device_loop(stmt):
                break
            self.host_eval.run(stmt)

    def collect_blocks(self) -> None:
        loops = _tile_loops(self.host.body, self.host_eval)
        registered = self.registered_block_sizes()
        iter_names: set[str] = set()
        for info in self.env.block_sizes:
            block_id = info.block_id
            if info.reduction:
                tile, iter_name = f"tile_rdim{block_id}", f"rdim{block_id}"
            else:
                tile, iter_name = loops.names.get(block_id) or _block_names(info)
            # Iterators name loop induction variables: unique, as tiles are.
            unique_iter, counter = iter_name, 1
            while unique_iter in iter_names:
                unique_iter, counter = f"{iter_name}_{counter}", counter + 1
            iter_names.add(unique_iter)
            symbol = info.symbol()
            block = Block(
                block_id=block_id,
                tile=self.fresh(tile),
                iter=unique_iter,
                size=0,
                symbol=symbol if isinstance(symbol, sympy.Symbol) else None,
                reduction=bool(info.reduction),
            )
            self.blocks[block_id] = block
            if block.symbol is not None:
                # A reduction dimension Helion allocates over a tile's extent shares
                # that tile's symbol; the symbol means the tile.
                self.block_by_symbol.setdefault(block.symbol, block)
        for info in self.env.block_sizes:
            block = self.blocks[info.block_id]
            if info.block_id in registered:
                name, call = registered[info.block_id]
                block.size = name
                self.emit_register_block_size(name, call, info)
            else:
                block.size = self.block_size(info)
        self.loop_bounds = loops.bounds
        self.loop_positions = loops.positions

    def registered_block_sizes(self) -> dict[int, tuple[str, ast.Assign]]:
        """``name = hl.register_block_size(...)`` statements, by the block they create."""
        block_size_type = _ir().BlockSizeType
        found: dict[int, tuple[str, ast.Assign]] = {}
        for stmt in self.host.body:
            if _is_device_loop(stmt):
                break
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                continue
            target = stmt.targets[0]
            type_info = getattr(stmt.value, "_type_info", None)
            if isinstance(target, ast.Name) and isinstance(type_info, block_size_type):
                found[type_info.block_id] = (target.id, stmt)
                self.state.used_names.add(target.id)
        return found

    def emit_register_block_size(self, name: str, stmt: ast.Assign, info: Any) -> None:
        concrete = _concrete_int(info.from_config(self.config))
        if concrete is None:
            raise self.unsupported(f"block size '{name}' has no value in the config", None)
        op: dict[str, Any] = {"op": "hl.register_block_size", "result": name, "size": concrete}
        # register_block_size(max) or register_block_size(min, max).
        call_args = stmt.value.args if isinstance(stmt.value, ast.Call) else []
        bounds = [self.host_eval.value(arg).expr for arg in call_args]
        if len(bounds) == 1 and bounds[0] is not None:
            op["min"], op["max"] = 1, ex.format_expr(bounds[0])
        elif len(bounds) == 2 and bounds[0] is not None and bounds[1] is not None:
            op["min"], op["max"] = ex.format_expr(bounds[0]), ex.format_expr(bounds[1])
        if self.options.locations:
            op["loc"] = self.source_loc(stmt.lineno, stmt.col_offset)
        self.state.body.append(op)

    def block_size(self, info: Any) -> ex.Expr:
        configured = info.from_config(self.config)
        if configured is None:
            if info.reduction:
                # A persistent reduction: no loop is emitted, so no block size is needed.
                return 0
            raise self.unsupported(f"block {info.block_id} has no size in the config", None)
        if isinstance(configured, torch.SymInt):
            # A block size computed by host code (``block_size=k_block``): its value
            # for this config is what the format records.
            value = self.evaluate_int(self.sym_node(configured.node.expr, None))
            if value is None:
                raise self.unsupported(
                    f"block {info.block_id}'s size {configured} has no value for this config",
                    None,
                )
            configured = value
        extent = info.size
        if isinstance(extent, int) and extent > 0:
            # A block larger than a static extent covers it in one iteration; Helion
            # pads to a power of two, so the effective block is that.
            return min(int(configured), _next_power_of_2(extent))
        return int(configured)

    def find_reduction_sources(self) -> None:
        """Which argument axis each reduction dimension spans (``x[tile, :]``).

        A persistent reduction has no loop; wherever its extent is needed (a
        shape, a reduction loop's end) the document says ``dim(x,1)`` rather
        than the number it was specialised to.
        """
        for graph_info in self.graphs:
            for node in graph_info.graph.nodes:
                if node.op != "call_function" or not _is_helion_function(node.target, "load"):
                    continue
                base, index = node.args[0], node.args[1]
                result = node.meta.get("val")
                if not (isinstance(base, Node) and isinstance(index, (list, tuple))):
                    continue
                tensor = base.args[0] if base.args else None
                if tensor in self.tensors and isinstance(result, torch.Tensor):
                    self.note_reduction_source(str(tensor), index, result)

    def note_reduction_source(
        self, tensor: str, index: Sequence[Any], result: torch.Tensor
    ) -> None:
        axis = 0
        out_axis = 0
        for item in index:
            if item is None:
                out_axis += 1
                continue
            if isinstance(item, slice):
                block = self.block_by_symbol.get(_expr_of(result.shape[out_axis]))
                if block is not None and block.reduction:
                    self.reduction_sources.setdefault(block.block_id, (tensor, axis))
                out_axis += 1
            elif isinstance(item, Node):
                val = item.meta.get("val")
                if isinstance(val, torch.Tensor):
                    out_axis += val.dim()
                elif self.block_of(SymValue(val)) is not None:
                    out_axis += 1
            axis += 1

    # -- symbolic expressions
    def sym_node(self, value: Any, node: Node | None, *, scalar: bool = False) -> ex.Node:
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
        if isinstance(value, sympy.Basic) and value in self.symbol_names:
            return self.symbol_names[value]
        if isinstance(value, sympy.Symbol):
            block = self.block_by_symbol.get(value)
            if block is not None:
                return self.block_expr(block, scalar=scalar)
            origin = self.origin_expr(value)
            if origin is not None:
                return origin
            raise self.unsupported(f"symbol {value} has no meaning in the format", node)
        if isinstance(value, sympy.Add):
            terms = [self.sym_node(term, node, scalar=scalar) for term in value.args]
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
                return ex.Neg(self.sym_node(rest, node, scalar=scalar))
            nodes = [self.sym_node(f, node, scalar=scalar) for f in factors]
            result = nodes[0]
            for item in nodes[1:]:
                result = ex.BinOp("*", result, item)
            return result
        name = type(value).__name__
        binary = {"FloorDiv": "//", "Min": "min", "Max": "max", "CeilDiv": "cdiv"}
        if name in binary and len(value.args) == 2:
            return ex.BinOp(
                binary[name],
                self.sym_node(value.args[0], node, scalar=scalar),
                self.sym_node(value.args[1], node, scalar=scalar),
            )
        raise self.unsupported(f"symbolic expression {value} has no form in the format", node)

    def sym_expr(self, value: Any, node: Node | None, *, scalar: bool = False) -> ex.Expr:
        return ex.format_expr(self.sym_node(value, node, scalar=scalar))

    def block_expr(self, block: Block, *, scalar: bool) -> ex.Node:
        if block.block_id in self.open_blocks:
            return self.block_size_node(block) if scalar else ex.Size(block.tile)
        if block.reduction:
            return self.reduction_extent(block, None)
        return self.block_size_node(block)

    def block_size_node(self, block: Block) -> ex.Node:
        return ex.parse_expr(block.size)

    def origin_expr(self, symbol: sympy.Symbol) -> ex.Node | None:
        """Symbols Helion creates for ``hl.grid`` indices and host variables."""
        entry = self.host.expr_to_origin.get(symbol)
        origin = getattr(entry, "origin", None)
        kinds = _ir().origins
        if type(origin) is kinds.GridOrigin:
            # ``for i in hl.grid(n)``: the index is the tile's offset.
            block = self.blocks.get(getattr(origin, "block_id", -1))
            return ex.Ref(block.tile) if block is not None else None
        name = getattr(origin, "name", None)
        if isinstance(origin, kinds.NameOrigin) and isinstance(name, str):
            # A value the host code computed (``k_block = next_power_of_2(...)``).
            host_value = self.host_eval.env.get(name)
            if host_value is not None and host_value.expr is not None:
                return host_value.expr
        return None

    def reduction_extent(self, block: Block, node: Node | None) -> ex.Node:
        """The extent a reduction dimension spans: ``dim(x,1)`` where the IR agrees."""
        info = self.env.block_sizes[block.block_id]
        size = info.size
        source = self.reduction_sources.get(block.block_id)
        concrete = _concrete_int(size)
        if source is not None:
            dim = ex.Dim(*source)
            if concrete is None or self.evaluate_int(dim) == concrete:
                return dim
        if concrete is not None:
            return ex.Num(concrete)
        if isinstance(size, torch.SymInt) and size.node.expr != block.symbol:
            return self.sym_node(size, node)
        raise self.unsupported(f"reduction dimension {block.block_id} has no known extent", node)

    # -- root graphs and loops
    def translate_root(self, position: int, root_id: int) -> None:
        graph_info = self.graphs[root_id]
        grid = self.device_ir.grid_block_ids[position]
        begin = self.tile_begin(grid, parallel=True, begins=None, ends=None, node=None)
        self.emit_at_loop(begin, grid[0], None)
        self.open_blocks.update(grid)
        self.translate_graph(graph_info.graph, inputs=[])
        self.open_blocks.difference_update(grid)
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
            if begins is None or ends is None:
                begin_expr, end_expr = self.grid_bounds(block, ast_begin, ast_end, node)
            else:
                begin_expr = self.bound_expr(begins[i], ast_begin, node, values)
                if block.reduction and ast_end is None:
                    end_expr = ex.format_expr(self.reduction_extent(block, node))
                else:
                    end_expr = self.bound_expr(ends[i], ast_end, node, values)
            begin_exprs.append(begin_expr)
            end_exprs.append(end_expr)
        return {
            "op": "hl.tile.begin",
            "iters": [b.iter for b in blocks],
            "sizes": [b.size for b in blocks],
            "result": [b.tile for b in blocks],
            "begin": begin_exprs,
            "end": end_exprs,
            "parallel": parallel,
        }

    def grid_bounds(
        self,
        block: Block,
        ast_begin: HostValue | None,
        ast_end: HostValue | None,
        node: Node | None,
    ) -> tuple[ex.Expr, ex.Expr]:
        """A grid loop's bounds: the IR keeps only its extent, the host code its bounds."""
        extent = self.env.block_sizes[block.block_id].size
        if extent is None:
            raise self.unsupported("a grid loop has no known extent", node)
        begin = ast_begin.expr if ast_begin is not None and ast_begin.expr is not None else None
        if begin is None or begin == ex.Num(0):
            return 0, self.bound_expr(extent, ast_end, node, None)
        start = self.evaluate_int(begin)
        concrete = _concrete_int(extent)
        if ast_end is not None and ast_end.expr is not None and start is not None:
            stop = self.evaluate_int(ast_end.expr)
            if concrete is not None and stop is not None and stop - start == concrete:
                return ex.format_expr(begin), ex.format_expr(ast_end.expr)
        if start is None:
            raise self.unsupported("a grid loop starts at a bound the format cannot express", node)
        end = ex.BinOp("+", begin, self.sym_node(extent, node))
        return ex.format_expr(begin), ex.format_expr(end)

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
                    hint = self.env.size_hint(ref.shape[part.axis])
                    if isinstance(hint, int):
                        return hint
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
                host_value = self.host_eval.env.get(part.name)
                if host_value is not None and host_value.expr is not None:
                    inner_value = self.evaluate_int(host_value.expr)
                    if inner_value is not None:
                        return inner_value
            raise LookupError(part)

        try:
            return ex.evaluate(node, resolve)
        except (LookupError, ZeroDivisionError, IndexError, TypeError):
            return None

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
        outputs = _graph_outputs(graph)
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
        saved_names = self.pending_names
        self.pending_names = rename
        self.graph_nodes.append({n.name: n for n in graph.nodes})
        try:
            for node in graph.nodes:
                if node.op in ("placeholder", "output"):
                    continue
                values[node] = self.translate_node(node, values)
            results = [values.get(o) if isinstance(o, Node) else SymValue(o) for o in outputs]
            for i, value in enumerate(results):
                name = output_names[i] if i < len(output_names) else None
                if name is None:
                    continue
                source = outputs[i]
                src = self.operand(value, source if isinstance(source, Node) else None)
                if src != name:
                    op = {"op": "hl.assign", "src": src, "result": name}
                    self.emit(op, source if isinstance(source, Node) else None)
        finally:
            self.graph_nodes.pop()
            self.pending_names = saved_names
        return results

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

    def flush_pending_loads(self, base: str | None = None) -> None:
        """Emit deferred loads before a region or a write could change what they read."""
        for load in self.pending_loads:
            if load.emitted_as is None and not load.inlined and base in (None, load.base.name):
                self.materialize(load)
        self.pending_loads = [
            load for load in self.pending_loads if load.emitted_as is None and not load.inlined
        ]

    # -- nodes
    def translate_node(self, node: Node, values: dict[Node, Value]) -> Value:
        handler = HANDLERS.get(_target_key(node.target))
        if handler is None:
            raise self.unsupported(
                f"'{_describe_target(node.target)}' cannot be expressed in the format yet",
                node,
                op=_describe_target(node.target),
            )
        return handler(self, node, values)

    def result_name(self, node: Node) -> str:
        if node in self.pending_names:
            return self.pending_names[node]
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

    # -- operands
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
            expr = self.sym_node(raw, node, scalar=True)
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
            value.inlined = True
            return {"slice": value.slice}
        return self.operand(value, node)

    def index_entries(
        self,
        base_name: str,
        base_rank: int | None,
        index: Sequence[Any],
        node: Node,
        values: dict[Node, Value],
        result: torch.Tensor | None,
        *,
        exact: bool = False,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Index entries, and the equivalent rectangular slice where there is one.

        ``result`` is the indexed value as the IR has it: it says which full
        slices (``x[tile, :]``) run over a reduction loop's tile. With ``exact``
        (a load, whose result is exactly the indexed window) it also checks
        that the entries describe the shape Helion computes.
        """
        entries: list[dict[str, Any]] = []
        offsets: list[ex.Expr] = []
        sizes: list[ex.Expr] = []
        # (entry position, rank) of every tensor entry: their axes are counted below.
        tensors: list[tuple[int, int]] = []
        rectangular = True
        axis = 0
        out_axis = 0
        for item in index:
            if item is None:
                entries.append({"newaxis": True})
                rectangular = False
                out_axis += 1
                continue
            if isinstance(item, slice):
                if item != slice(None):
                    raise self.unsupported(f"slice {item} with bounds is not supported", node)
                block = self.looped_block_at(result, out_axis)
                if block is not None:
                    entries.append({"tile": block.tile})
                    offsets.append(block.tile)
                    sizes.append(f"size({block.tile})")
                else:
                    entries.append({"full": True})
                    offsets.append(0)
                    sizes.append(f"dim({base_name},{axis})")
                axis += 1
                out_axis += 1
                continue
            value = values[item] if isinstance(item, Node) else SymValue(item)
            block = self.block_of(value)
            if block is not None:
                entries.append({"tile": block.tile})
                offsets.append(block.tile)
                sizes.append(f"size({block.tile})")
                out_axis += 1
            elif isinstance(value, SymValue):
                entries.append({"at": self.sym_expr(value.value, node, scalar=True)})
                rectangular = False
            else:
                indexer = item.meta.get("val") if isinstance(item, Node) else None
                rank = indexer.dim() if isinstance(indexer, torch.Tensor) else 0
                rectangular = False
                if rank == 0:
                    # A scalar value (tile.id, a loaded count) picks one position.
                    entries.append({"at": self.operand(value, node)})
                else:
                    tensors.append((len(entries), rank))
                    entries.append({"tensor": self.operand(value, node)})
                    out_axis += rank
            axis += 1
        if len(tensors) > 1 and any(rank != 1 for _, rank in tensors):
            # Tensor entries broadcast together (unless all are 1-D: a cartesian
            # product), which the format defines for consecutive entries only.
            positions = [position for position, _ in tensors]
            if positions != list(range(positions[0], positions[0] + len(positions))):
                raise self.unsupported("tensor index entries that are not consecutive", node)
            out_axis += max(rank for _, rank in tensors) - sum(rank for _, rank in tensors)
        if exact and result is not None and out_axis != result.dim():
            raise self.unsupported(
                f"an index whose result has rank {result.dim()} where the format's indexing "
                f"rules give {out_axis}",
                node,
            )
        if base_rank is None or axis != base_rank:
            rectangular = False
        spec = {"base": base_name, "offsets": offsets, "sizes": sizes} if rectangular else None
        return entries, spec

    def looped_block_at(self, result: torch.Tensor | None, out_axis: int) -> Block | None:
        """The reduction loop whose tile a full slice covers, in a rolled reduction."""
        if result is None or out_axis >= result.dim():
            return None
        block = self.block_by_symbol.get(_expr_of(result.shape[out_axis]))
        if block is not None and block.reduction and block.block_id in self.open_blocks:
            return block
        return None

    def block_of(self, value: Value) -> Block | None:
        if not isinstance(value, SymValue):
            return None
        raw = _expr_of(value.value)
        block = self.block_by_symbol.get(raw) if isinstance(raw, sympy.Symbol) else None
        # A grid loop's index reads as a number: its block is indexed with ``at``.
        if block is not None and self.host.expr_to_origin.get(raw) is not None:
            origin = self.host.expr_to_origin[raw].origin
            if not isinstance(origin, _ir().origins.BlockSizeOrigin):
                return None
        return block

    # -- torch math
    def torch_op(
        self, node: Node, target: torch._ops.OpOverload, values: dict[Node, Value]
    ) -> Value:
        pieces = _split_pieces(node)
        if any(not isinstance(values.get(piece), LoweringExtra) for piece in pieces):
            return self.finish_split_reduction(node, target, values)
        accumulator = self.accumulator_for(node)
        args, kwargs = self.traced_arguments(node)
        if accumulator is None:
            return self.emit_torch(node, target, args, kwargs, values)
        # One iteration's result, in the accumulator's type where that is wider.
        widen = accumulator.dtype if accumulator.dtype != accumulator.result_dtype else None
        partial = self.emit_torch(
            node, target, args, kwargs, values, result=self.fresh(node.name), dtype=widen
        )
        assert isinstance(partial, Named)
        return self.accumulate(node, accumulator, partial.name)

    def emit_torch(
        self,
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
        op_name = _torch_op_name(target)
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
                raise self.unsupported(
                    f"torch.{op_name}: argument '{argument.name}' is missing", node
                )
            if _is_tensor_type(argument.type):
                if raw is None and not str(argument.type).startswith("Optional"):
                    raise self.unsupported(
                        f"torch.{op_name}: Helion dropped operand '{argument.name}' from the "
                        "device IR; bind the kernel through helion2json (export_kernel) so the "
                        "traced operands are recorded",
                        node,
                        op=f"torch.{op_name}",
                    )
                if isinstance(raw, (list, tuple)):
                    json_args.append([self.value_operand(item, node, values) for item in raw])
                else:
                    json_args.append(self.value_operand(raw, node, values))
            elif argument.name == "dtype" and dtype is not None:
                attrs["dtype"] = element_type(dtype, node_location(node))
            else:
                value = self.attr_value(raw, node, values)
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
            name = result or self.result_name(node)
            op["result"] = name
            value_out = Named(name)
        elif not returns:
            value_out = None
        else:
            names = self.output_names_of(node, len(returns))
            op["result"] = names
            value_out = [Named(n) for n in names]
        op["args"] = json_args
        op["attrs"] = attrs
        widened = _widened_operand_dtype(node, target, args, kwargs)
        if widened is not None:
            op["operand_dtype"] = element_type(widened, node_location(node))
        self.emit(op, node)
        if dtype is not None and "dtype" not in attrs and isinstance(value_out, Named):
            value_out = Named(self.convert(value_out.name, dtype, node, value_out.name))
        return value_out

    def emit_aten(
        self,
        name: str,
        overload: str,
        args: list[Any],
        attrs: dict[str, Any],
        result: str,
        node: Node,
    ) -> str:
        """Emit an ATen op the translator composes itself (accumulation, casts)."""
        op = {
            "op": f"torch.{name}",
            "overload": overload,
            "result": result,
            "args": args,
            "attrs": attrs,
        }
        self.emit(op, node)
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
        nodes_by_name = self.graph_nodes[-1]

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

    # -- reduction loops
    def accumulator_for(self, node: Node) -> _Accumulator | None:
        return self.accumulators[-1].get(node) if self.accumulators else None

    def accumulate(self, node: Node, accumulator: _Accumulator, partial: str) -> Value:
        """``acc = combine(acc, partial)``: fold one iteration's result into the reduction."""
        overloads = {"add": "Tensor", "mul": "Tensor", "bitwise_xor": "Tensor"}
        attrs: dict[str, Any] = {}
        if accumulator.combine == "add":
            attrs["alpha"] = 1.0 if accumulator.dtype.is_floating_point else 1
        self.emit_aten(
            accumulator.combine,
            overloads.get(accumulator.combine, "default"),
            [accumulator.name, partial],
            attrs,
            accumulator.name,
            node,
        )
        return Named(accumulator.name)

    def plan_accumulator(self, out: Any, block_id: int, loop: Node) -> _Accumulator:
        """The accumulator of one reduction a reduction loop returns."""
        lowering = out.meta.get("lowering") if isinstance(out, Node) else None
        reduction_type = getattr(lowering, "reduction_type", None)
        if (
            not isinstance(lowering, _ir().ReductionLowering)
            or lowering.block_index != block_id
            or reduction_type not in _COMBINE_OPS
        ):
            what = f"a {reduction_type} reduction" if reduction_type else "a value"
            raise self.unsupported(
                f"{what} leaves a reduction loop; the format folds sum, prod, max, min, any "
                "and xor_sum reductions across reduction-loop iterations",
                out if isinstance(out, Node) else loop,
                op="reduction loop",
            )
        if _is_lowering_extra(out):
            original = out.meta.get("orig_node")
            if _op_key(getattr(original, "target", None)) not in _MEAN_OPS:
                raise self.unsupported(
                    f"'{_describe_target(getattr(original, 'target', None))}' split across a "
                    "reduction loop cannot be expressed yet",
                    out,
                    op=_describe_target(getattr(original, "target", None)),
                )
        if any(user.op != "output" for user in out.users):
            raise self.unsupported(
                "a reduction is used inside the reduction loop that computes it", out
            )
        result_dtype = out.meta["val"].dtype
        dtype = result_dtype
        if reduction_type in ("sum", "prod") and result_dtype in (torch.float16, torch.bfloat16):
            # Helion accumulates 16-bit sums in fp32 and rounds once, after the loop.
            dtype = torch.float32
        identity = _ir().InductorReduction.default_accumulator(reduction_type, dtype)
        shape = [self.operand_expr(SymValue(size), out) for size in out.meta["val"].shape]
        name = self.fresh(f"{out.name}_acc")
        op: dict[str, Any]
        elem = element_type(dtype, node_location(out))
        if not isinstance(identity, bool) and identity == 0:
            op = {"op": "hl.zeros", "shape": shape, "dtype": elem, "result": name}
        else:
            fill = scalar_json(identity)
            op = {"op": "hl.full", "shape": shape, "value": fill, "dtype": elem, "result": name}
        self.emit(op, out)
        return _Accumulator(name, _COMBINE_OPS[reduction_type], dtype, result_dtype, block_id)

    def translate_reduction_loop(
        self, node: Node, graph_info: Any, values: dict[Node, Value]
    ) -> Value:
        """A reduction rolled into a loop (``reduction_loops`` config): see the format's doc."""
        _, begins, ends, carried = node.args
        block_id = graph_info.block_ids[0]
        outputs = _graph_outputs(graph_info.graph)
        used = _used_outputs(node)
        self.flush_pending_loads()
        plans: dict[Node, _Accumulator] = {}
        for index in used:
            out = outputs[index]
            plans[out] = self.plan_accumulator(out, block_id, node)
        inputs = [self.carried_input(values, item) for item in carried]  # type: ignore[union-attr]
        begin_op = self.tile_begin(
            [block_id],
            parallel=False,
            begins=begins,  # type: ignore[arg-type]
            ends=ends,  # type: ignore[arg-type]
            node=node,
            values=values,
        )
        self.emit(begin_op, node)
        self.open_blocks.add(block_id)
        self.accumulators.append(plans)
        try:
            self.translate_graph(graph_info.graph, inputs)
        finally:
            self.accumulators.pop()
            self.open_blocks.discard(block_id)
        self.emit({"op": "hl.tile.end"}, None)
        names: list[str | None] = [None] * len(outputs)
        for index in used:
            out = outputs[index]
            plan = plans[out]
            name = plan.name
            if plan.dtype != plan.result_dtype:
                name = self.convert(name, plan.result_dtype, out, out.name)
            self.reduced_over[name] = block_id
            names[index] = name
        return LoopResults(names)

    def carried_input(self, values: dict[Node, Value], item: Any) -> Value:
        value = values[item] if isinstance(item, Node) else SymValue(item)
        if isinstance(value, PendingLoad):
            return Named(self.materialize(value))
        return value

    def partial_of_split_reduction(
        self, node: Node, accumulator: _Accumulator, values: dict[Node, Value]
    ) -> Value:
        """One iteration's part of a decomposed ``mean``: the sum of its chunk."""
        args, _ = self.traced_arguments(node)
        inputs = [a for a in (args[0] if args else []) if isinstance(a, Node)]
        if len(inputs) != 1:
            raise self.unsupported("a split reduction with several inputs", node)
        source = inputs[0]
        source_val = source.meta["val"]
        symbol = self.blocks[accumulator.block_id].symbol
        axes = [a for a, size in enumerate(source_val.shape) if _expr_of(size) == symbol]
        if len(axes) != 1:
            raise self.unsupported("a split reduction over several axes", node)
        keepdim = node.meta["val"].dim() == source_val.dim()
        partial = self.fresh(node.name)
        operand = self.operand(values[source], source)
        attrs = {
            "dim": axes,
            "keepdim": keepdim,
            "dtype": element_type(accumulator.dtype, node_location(node)),
        }
        self.emit_aten("sum", "dim_IntList", [operand], attrs, partial, node)
        return self.accumulate(node, accumulator, partial)

    def finish_split_reduction(
        self, node: Node, target: torch._ops.OpOverload, values: dict[Node, Value]
    ) -> Value:
        """``mean`` whose sum was accumulated by a reduction loop: divide by the extent."""
        if _op_key(target) not in _MEAN_OPS:
            raise self.unsupported(
                f"'{_describe_target(target)}' split across a reduction loop cannot be "
                "expressed yet",
                node,
                op=_describe_target(target),
            )
        pieces = _split_pieces(node)
        total = self.operand(values[pieces[0]], node)
        block_id = self.reduced_over.get(total) if isinstance(total, str) else None
        if block_id is None:
            raise self.unsupported("a mean whose sum does not come from a reduction loop", node)
        extent = ex.format_expr(self.reduction_extent(self.blocks[block_id], node))
        divisor = extent if isinstance(extent, int) else {"expr": extent}
        result_dtype = node.meta["val"].dtype
        total_dtype = pieces[0].meta["val"].dtype
        if result_dtype == total_dtype:
            name = self.result_name(node)
            return Named(self.emit_aten("div", "Tensor", [total, divisor], {}, name, node))
        quotient = self.emit_aten(
            "div", "Tensor", [total, divisor], {}, self.fresh(f"{node.name}_sum"), node
        )
        attrs = {"dtype": element_type(result_dtype, node_location(node))}
        name = self.result_name(node)
        self.emit_aten("prims.convert_element_type", "default", [quotient], attrs, name, node)
        return Named(name)

    # -- combine functions (hl.associative_scan, hl.reduce)
    def combine_function(self, graph_id: int, node: Node) -> dict[str, Any]:
        """A helper graph as ``{"params", "body", "results"}``: ops on element values."""
        graph = self.graphs[graph_id].graph
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        params = [self.fresh(p.name) for p in placeholders]
        saved_body, saved_loads = self.state.body, self.pending_loads
        self.state.body, self.pending_loads = [], []
        try:
            outputs = self.translate_graph(graph, [Named(p) for p in params])
            results = [self.operand(value, node) for value in outputs]
            body = self.state.body
        finally:
            self.state.body, self.pending_loads = saved_body, saved_loads
        if not all(isinstance(r, str) for r in results):
            raise self.unsupported("a combine function returns a constant", node)
        return {"params": params, "body": body, "results": results}

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
            op["loc"] = self.source_loc(factory.line, factory.col)
        position = 0
        while position < len(self.state.body) and self.state.body[position]["op"] == "hl.alloc":
            position += 1
        self.state.body.insert(position, op)


# ----------------------------------------------------------- helion op handlers

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
}

Handler = Callable[[KernelTranslator, Node, dict[Node, Value]], Value]

# The handler of each target: a Helion function by name, ATen ops as TORCH_TARGET,
# other callables (operator.getitem, symbolic arithmetic) as themselves.
HANDLERS: dict[Hashable, Handler] = {}
# The format ops each handler emits itself (ops of nested graphs are their handlers').
EMITS: dict[Hashable, tuple[str, ...]] = {}
# Every ATen op (``torch.ops.<namespace>.<name>.<overload>``).
TORCH_TARGET = "<aten op>"
# The ops the translator emits itself, whichever handler runs: the launch structure,
# the assignments that merge values, the loads it deferred.
TRANSLATOR_EMITS = (
    "hl.register_block_size",
    "hl.tile.begin",
    "hl.tile.end",
    "hl.assign",
    "hl.load",
    "hl.barrier",
    "hl.return",
)


def handles(*targets: Hashable, emits: tuple[str, ...]) -> Callable[[Handler], Handler]:
    """Register a handler for ``targets`` that emits the format ops ``emits``."""

    def register(handler: Handler) -> Handler:
        for target in targets:
            if target in HANDLERS:
                raise ValueError(f"{target!r} has two handlers")
            HANDLERS[target] = handler
            EMITS[target] = emits
        return handler

    return register


def _target_key(target: Any) -> Hashable:
    if not callable(target):
        return None
    if isinstance(target, torch._ops.OpOverload):
        return TORCH_TARGET
    if _is_helion_op(target):
        return getattr(target, "__name__", None)
    return target


@handles(TORCH_TARGET, emits=(TORCH,))
def _h_torch(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    target = node.target
    assert isinstance(target, torch._ops.OpOverload)
    if target in (torch.ops.aten.sym_size.int, torch.ops.aten.sym_stride.int):
        return SymValue(node.meta["val"])
    return t.torch_op(node, target, values)


@handles(operator.getitem, emits=())
def _h_getitem(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return t.getitem(node, values)


@handles("_get_symnode", *_SYM_OPERATORS, emits=())
def _h_get_symnode(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return SymValue(node.meta["val"])


@handles("_host_tensor", emits=("hl.alloc",))
def _h_host_tensor(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return t.host_tensor(node, values)


@handles("_new_var", emits=())
def _h_new_var(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return values[node.args[0]]  # type: ignore[index]


@handles("_phi", emits=())
def _h_phi(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    # Both inputs carry the same name (the loop-carried or merged variable); the
    # second is the value after the region.
    return values[node.args[1]]  # type: ignore[index]


@handles("full", emits=("hl.zeros", "hl.full"))
def _h_full(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    shape_arg, fill, dtype = node.args[0], node.args[1], node.args[2]
    shape = [t.operand_expr(_value(item, values), node) for item in shape_arg]  # type: ignore[union-attr]
    elem = element_type(dtype, node_location(node))  # type: ignore[arg-type]
    name = t.result_name(node)
    fill_json = t.operand(_value(fill, values), node)
    if isinstance(fill_json, (int, float)) and not isinstance(fill_json, bool) and fill_json == 0:
        t.emit({"op": "hl.zeros", "shape": shape, "dtype": elem, "result": name}, node)
    else:
        op = {"op": "hl.full", "shape": shape, "value": fill_json, "dtype": elem, "result": name}
        t.emit(op, node)
    return Named(name)


@handles("load", emits=("hl.subscript",))
def _h_load(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    tensor, index = node.args[0], node.args[1]
    extra_mask = node.args[2] if len(node.args) > 2 else None
    base = values[tensor]  # type: ignore[index]
    if not isinstance(base, TensorRef):
        # Indexing a device value (``tile.index[:, None]``) views it, as hl.subscript does.
        return _subscript(t, node, base, index, values)  # type: ignore[arg-type]
    result = node.meta.get("val")
    entries, spec = t.index_entries(
        base.name,
        base.rank,
        _index_list(index),
        node,
        values,
        result if isinstance(result, torch.Tensor) else None,
        exact=True,
    )
    mask = t.operand(values[extra_mask], node) if isinstance(extra_mask, Node) else None
    load = PendingLoad(node=node, base=base, index=entries, slice=spec, mask=mask)
    t.pending_loads.append(load)
    return load


@handles("store", emits=("hl.store_slice", "hl.store"))
def _h_store(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    tensor, index, value = node.args[0], node.args[1], node.args[2]
    extra_mask = node.args[3] if len(node.args) > 3 else None
    base = _host_target(t, node, values[tensor], "hl.store")  # type: ignore[index]
    t.flush_pending_loads(base.name)
    entries, spec = t.index_entries(
        base.name, base.rank, _index_list(index), node, values, _tensor_val(value)
    )
    src = t.inline_or_name(_value(value, values), node)
    op: dict[str, Any]
    if spec is not None:
        op = {"op": "hl.store_slice", "dst": base.name, "offsets": spec["offsets"], "src": src}
        if _broadcasts_into(_tensor_val(value), spec["sizes"]):
            op["sizes"] = spec["sizes"]
    else:
        op = {"op": "hl.store", "dst": base.name, "index": entries, "src": src}
    if isinstance(extra_mask, Node):
        op["mask"] = t.operand(values[extra_mask], node)
    t.emit(op, node)
    return None


_ATOMICS = (
    "atomic_add",
    "atomic_and",
    "atomic_or",
    "atomic_xor",
    "atomic_max",
    "atomic_min",
    "atomic_xchg",
    "atomic_cas",
)


@handles(*_ATOMICS, emits=tuple(f"hl.{name}" for name in _ATOMICS))
def _h_atomic(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    kind = getattr(node.target, "__name__", "atomic")
    tensor, index = node.args[0], node.args[1]
    if kind == "atomic_cas":
        expected, value = node.args[2], node.args[3]
        sem = node.args[4] if len(node.args) > 4 else "relaxed"
    else:
        expected, value = None, node.args[2]
        sem = node.args[3] if len(node.args) > 3 else "relaxed"
    base = _host_target(t, node, values[tensor], f"hl.{kind}")  # type: ignore[index]
    t.flush_pending_loads(base.name)
    entries, _ = t.index_entries(
        base.name, base.rank, _index_list(index), node, values, _tensor_val(value)
    )
    op: dict[str, Any] = {
        "op": f"hl.{kind}",
        "dst": base.name,
        "index": entries,
        "src": t.inline_or_name(_value(value, values), node),
    }
    if kind == "atomic_cas":
        op["expected"] = t.operand(_value(expected, values), node)
    op["sem"] = sem
    result: Value = None
    if node.users:
        op["result"] = t.result_name(node)
        result = Named(op["result"])
    t.emit(op, node)
    return result


@handles("_mask_to", emits=("hl.mask_to",))
def _h_mask_to(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    src, other = node.args
    if node.users and all(
        _is_lowering_extra(user) and t.accumulator_for(user) is None for user in node.users
    ):
        # Masks the input of a split op's piece, which is not emitted: the op is,
        # with its traced (unmasked) operands.
        return LoweringExtra(node)
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


@handles(
    "_for_loop",
    emits=("hl.zeros", "hl.full", "hl.tile.begin", "hl.tile.end", TORCH),
)
def _h_for_loop(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    graph_id, begins, ends, carried = node.args
    graph_info = t.graphs[graph_id]  # type: ignore[index]
    if isinstance(graph_info, _ir().ReductionLoopGraphInfo):
        return t.translate_reduction_loop(node, graph_info, values)
    t.flush_pending_loads()
    inputs = [t.carried_input(values, item) for item in carried]  # type: ignore[union-attr]
    names = _carried_names(t, node, len(_graph_outputs(graph_info.graph)), values)
    block_ids = list(graph_info.block_ids)
    begin_op = t.tile_begin(
        block_ids,
        parallel=False,
        begins=begins,  # type: ignore[arg-type]
        ends=ends,  # type: ignore[arg-type]
        node=node,
        values=values,
    )
    t.emit_at_loop(begin_op, block_ids[0], node)
    t.open_blocks.update(block_ids)
    try:
        t.translate_graph(graph_info.graph, inputs, names)
    finally:
        t.open_blocks.difference_update(block_ids)
    t.emit({"op": "hl.tile.end"}, None)
    return LoopResults(names)


def _carried_names(
    t: KernelTranslator, loop: Node, count: int, values: dict[Node, Value]
) -> list[str | None]:
    """The variable each loop output carries: the one its ``_phi`` merges it with."""
    names: list[str | None] = [None] * count
    for user in loop.users:
        if user.target is not operator.getitem or not isinstance(user.args[1], int):
            continue
        for phi in user.users:
            if getattr(phi.target, "__name__", "") != "_phi" or phi.args[1] is not user:
                continue
            initial = t.operand(_value(phi.args[0], values), phi)
            if not isinstance(initial, str):
                raise t.unsupported("a loop carries a value that is not a tensor", loop)
            names[user.args[1]] = initial
    return names


@handles("_if", emits=("hl.if.begin", "hl.if.else", "hl.if.end"))
def _h_if(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    test, if_id, else_id, if_args, else_args = node.args
    if_info = t.graphs[if_id]  # type: ignore[index]
    else_info = t.graphs[else_id] if isinstance(else_id, int) else None
    entries = list(if_info.branches_outputs or [])
    t.flush_pending_loads()
    if_inputs = [t.carried_input(values, item) for item in if_args]  # type: ignore[union-attr]
    else_inputs = [t.carried_input(values, item) for item in else_args]  # type: ignore[union-attr]
    outer = dict(zip(if_info.if_arg_names or [], if_inputs, strict=False))
    outer.update(zip(if_info.else_arg_names or [], else_inputs, strict=False))
    if_outputs = _graph_outputs(if_info.graph)
    else_outputs = _graph_outputs(else_info.graph) if else_info is not None else []
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
        else:
            out = if_outputs[if_side]
            name = t.fresh(out.name if isinstance(out, Node) else "merged")
        merged.append(name)
        if isinstance(if_side, int):
            if_names[if_side] = name
        if isinstance(else_side, int):
            else_names[else_side] = name
    cond = t.operand(_value(test, values), node)
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
    t.symbol_names[_expr_of(node.meta["val"])] = ex.Ref(name)
    return Named(name)


def _tile_arg(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Block:
    block = t.block_of(_value(node.args[0], values))
    if block is None:
        raise t.unsupported("a tile property of a value that is not a tile", node)
    return block


@handles("dot", emits=("hl.dot",))
def _h_dot(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    lhs, rhs = node.args[0], node.args[1]
    acc = node.args[2] if len(node.args) > 2 else None
    out_dtype = node.args[3] if len(node.args) > 3 else None
    args = [
        t.inline_or_name(_value(lhs, values), node),
        t.inline_or_name(_value(rhs, values), node),
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
    args = [t.operand(_value(item, values), node) for item in node.args[:2]]
    name = t.result_name(node)
    t.emit({"op": "hl.join", "args": args, "result": name}, node)
    return Named(name)


@handles("subscript", emits=("hl.subscript",))
def _h_subscript(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    return _subscript(t, node, values[node.args[0]], node.args[1], values)  # type: ignore[index,arg-type]


def _subscript(
    t: KernelTranslator, node: Node, source: Value, index: Sequence[Any], values: dict[Node, Value]
) -> Value:
    src = t.operand(source, node)
    entries, _ = t.index_entries("", None, index, node, values, None)
    name = t.result_name(node)
    t.emit({"op": "hl.subscript", "src": src, "index": entries, "result": name}, node)
    return Named(name)


@handles("_associative_scan", emits=("hl.cumsum", "hl.cumprod", "hl.associative_scan"))
def _h_associative_scan(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    graph_id, inputs, dim = node.args[0], node.args[1], node.args[2]
    reverse = bool(node.args[3]) if len(node.args) > 3 else False
    is_tuple = bool(node.args[4]) if len(node.args) > 4 else False
    sources = list(inputs) if is_tuple else [inputs]  # type: ignore[arg-type]
    args = [t.operand(_value(source, values), node) for source in sources]
    simple = None if is_tuple else _simple_combine(t.graphs[graph_id].graph)  # type: ignore[index]
    if simple is not None:
        name = t.result_name(node)
        op = {"op": simple, "src": args[0], "dim": dim, "reverse": reverse, "result": name}
        t.emit(op, node)
        return Named(name)
    combine = t.combine_function(graph_id, node)  # type: ignore[arg-type]
    names = t.output_names_of(node, len(sources)) if is_tuple else [t.result_name(node)]
    op = {
        "op": "hl.associative_scan",
        "args": args,
        "dim": dim,
        "reverse": reverse,
        "combine": combine,
        "result": names,
    }
    t.emit(op, node)
    return [Named(n) for n in names] if is_tuple else Named(names[0])


@handles("_reduce", emits=("hl.reduce",))
def _h_reduce(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    graph_id, inputs = node.args[0], node.args[1]
    dim = node.args[2] if len(node.args) > 2 else None
    keep_dims = bool(node.args[3]) if len(node.args) > 3 else False
    is_tuple = bool(node.args[4]) if len(node.args) > 4 else False
    sources = list(inputs) if is_tuple else [inputs]  # type: ignore[arg-type]
    args = [t.operand(_value(source, values), node) for source in sources]
    combine = t.combine_function(graph_id, node)  # type: ignore[arg-type]
    names = t.output_names_of(node, len(sources)) if is_tuple else [t.result_name(node)]
    op = {
        "op": "hl.reduce",
        "args": args,
        "dim": dim,
        "keep_dims": keep_dims,
        "combine": combine,
        "result": names,
    }
    t.emit(op, node)
    return [Named(n) for n in names] if is_tuple else Named(names[0])


@handles("_gelu_erf", "_gelu_tanh_approx", emits=(TORCH,))
def _h_gelu(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    """Helion keeps ``torch.nn.functional.gelu`` as one op of its own; it is ``torch.gelu``."""
    approximate = "tanh" if getattr(node.target, "__name__", "") == "_gelu_tanh_approx" else "none"
    src = t.inline_or_name(_value(node.args[0], values), node)
    name = t.result_name(node)
    attrs = {"approximate": approximate}
    t.emit_aten("gelu", "default", [src], attrs, name, node)
    return Named(name)


@handles("_inductor_lowering_extra", emits=(TORCH,))
def _h_lowering_extra(t: KernelTranslator, node: Node, values: dict[Node, Value]) -> Value:
    accumulator = t.accumulator_for(node)
    if accumulator is not None:
        return t.partial_of_split_reduction(node, accumulator, values)
    return LoweringExtra(node)


def _host_target(t: KernelTranslator, node: Node, value: Value, op: str) -> TensorRef:
    if not isinstance(value, TensorRef):
        raise t.unsupported(f"{op} into a value that is not a host tensor", node, op=op)
    return value


def _index_list(index: Any) -> list[Any]:
    if not isinstance(index, (list, tuple)):
        raise TypeError(f"a memory op's index is {type(index).__name__}, not a list")
    return list(index)


def _tensor_val(value: Any) -> torch.Tensor | None:
    val = value.meta.get("val") if isinstance(value, Node) else None
    return val if isinstance(val, torch.Tensor) else None


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
    expr = _expr_of(size)
    if isinstance(expr, sympy.Integer):
        return int(expr)
    # A symbolic extent: any positive number works if equal symbols get equal numbers.
    return 8 + sum(ord(c) for c in str(expr)) % 8


def _graph_outputs(graph: Graph) -> list[Any]:
    output_node = next(n for n in reversed(graph.nodes) if n.op == "output")
    outputs = output_node.args[0] if output_node.args else []
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _used_outputs(loop: Node) -> list[int]:
    """The outputs of a loop node that something after the loop reads."""
    return sorted(
        {
            user.args[1]
            for user in loop.users
            if user.target is operator.getitem and isinstance(user.args[1], int)
        }
    )


def _simple_combine(graph: Graph) -> str | None:
    """``hl.cumsum``/``hl.cumprod`` when a scan's combine function is ``a + b`` / ``a * b``."""
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    calls = [n for n in graph.nodes if n.op == "call_function"]
    outputs = _graph_outputs(graph)
    if len(placeholders) != 2 or len(calls) != 1 or outputs != calls:
        return None
    call = calls[0]
    ops = {torch.ops.aten.add.Tensor: "hl.cumsum", torch.ops.aten.mul.Tensor: "hl.cumprod"}
    if call.target not in ops or set(call.args[:2]) != set(placeholders):
        return None
    if call.kwargs.get("alpha", 1) != 1:
        return None
    return ops[call.target]


def _is_helion_op(target: Any) -> bool:
    module = getattr(target, "__module__", "") or ""
    return module.startswith("helion.")


def _is_helion_function(target: Any, name: str) -> bool:
    return _is_helion_op(target) and getattr(target, "__name__", "") == name


def _split_pieces(node: Node) -> list[Node]:
    """The pieces (``_inductor_lowering_extra`` nodes) Inductor split an ATen op into."""
    pieces = node.kwargs.get("_extra_args")
    return [p for p in pieces if isinstance(p, Node)] if isinstance(pieces, (list, tuple)) else []


def _is_lowering_extra(node: Node) -> bool:
    return getattr(node.target, "__name__", "") == "_inductor_lowering_extra"


def _op_key(target: Any) -> str | None:
    if isinstance(target, torch._ops.OpOverload):
        return f"{target._opname}.{target._overloadname or 'default'}"
    return None


def _torch_op_name(target: torch._ops.OpOverload) -> str:
    namespace = target.namespace
    return target._opname if namespace == "aten" else f"{namespace}.{target._opname}"


def _describe_target(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"torch.{target._opname}.{target._overloadname}"
    module = getattr(target, "__module__", "") or ""
    name = getattr(target, "__name__", str(target))
    if module.startswith("helion.language"):
        return f"hl.{name.lstrip('_')}"
    return f"{module}.{name}" if module else name


def _value(raw: Any, values: dict[Node, Value]) -> Value:
    return values[raw] if isinstance(raw, Node) else SymValue(raw)


def _expr_of(value: Any) -> Any:
    """The sympy expression of a SymInt (other values unchanged)."""
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return value.node.expr
    return value


def _is_tensor_type(arg_type: Any) -> bool:
    # Tensor, Tensor?, Tensor[] and Tensor?[] (List[Optional[Tensor]]) all carry tensors.
    return "Tensor" in str(arg_type)


def _broadcasts_into(src: torch.Tensor | None, window: Sequence[ex.Expr]) -> bool:
    """True when a stored value does not have the window's shape and broadcasts to it.

    A scalar, a lower-rank value, or an axis of extent 1 where the window's
    extent is not 1 (``out[tile_m, tile_n] = row[None, tile_n]``) all leave the
    window's extents unknown from ``src`` alone.
    """
    if src is None or src.dim() != len(window):
        return True
    return any(
        isinstance(extent, int) and extent == 1 and size != 1
        for extent, size in zip(src.shape, window, strict=True)
    )


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
    """``tile_m`` → ``m``; ``tile`` → ``i``; ``tile_0`` (one variable over several dims) → ``i0``."""
    stripped = tile.removeprefix("tile_")
    if stripped == tile and tile.startswith("tile"):
        return "i"
    return stripped if stripped[:1].isalpha() or stripped[:1] == "_" else f"i{stripped}"


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
