"""The JSON format's documents, plus the cross-reference checks.

Together with ``helion2json.core.format_types`` (the pieces) and
``helion2json.core.ops`` (the op set), this module is the single source of
truth for the format: the JSON Schema file
``helion2json/schema/helion2json.schema.json`` is generated from these models
(``python -m helion2json schema``) and a test keeps the two in sync.

It must stay importable without torch or helion: editors, CI jobs and the C++
side's tooling validate documents with it on machines that have neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from helion2json.core.errors import SourceLocation, ValidationError
from helion2json.core.expr import Dim, ExprSyntaxError, Ref, Size, parse_expr, walk
from helion2json.core.format_types import (
    Arg,
    AtIndex,
    BroadcastIndex,
    Expr,
    ExprOperand,
    FormatModel,
    IndexEntry,
    ListExample,
    ListTypeBox,
    Loc,
    Name,
    NewAxisIndex,
    RangeIndex,
    Ret,
    Scalar,
    ScalarTypeBox,
    SliceOperand,
    SliceSpec,
    TensorIndex,
    TensorType,
    TensorTypeBox,
    TileIndex,
    ValueType,
)
from helion2json.core.ops import (
    AllocOp,
    AssignOp,
    AssociativeScanOp,
    AtomicOp,
    DotOp,
    FullOp,
    IfBeginOp,
    JoinOp,
    LoadOp,
    MaskToOp,
    Op,
    OpModel,
    ReduceOp,
    RegisterBlockSizeOp,
    ReturnOp,
    ScanOp,
    SplitOp,
    StoreOp,
    StoreSliceOp,
    SubscriptOp,
    SymbolKind,
    TileBeginOp,
    TilePropertyOp,
    TorchOp,
    ZerosOp,
    merged_names,
    result_names,
    spec_of,
)

FORMAT_VERSION = 1


class ConfigInfo(FormatModel):
    """The Helion config the kernel was exported with, where it came from, and where it was made.

    ``device`` and ``triton`` describe the machine: Helion's default config
    depends on the example tensors' device type, and where triton is
    importable its configs hold Triton's loop keys (``range_*``).
    """

    source: str
    values: dict[str, Any]
    device: str | None = Field(
        default=None, description="the example tensors' device type: 'cpu', 'cuda', ..."
    )
    triton: bool | None = Field(
        default=None, description="whether triton was importable where the config was made"
    )
    not_applied: dict[str, Any] | None = Field(
        default=None,
        description="loop code-generation values of the config this machine's Helion has no "
        "slot for (range_warp_specializes off Blackwell GPUs): left out of the export",
    )


class SpecializedScalar(FormatModel):
    """A scalar argument Helion holds as the example's value."""

    arg: Name
    value: Scalar


class FoldedValue(FormatModel):
    """A number Helion computed from specialised values; the body holds it as a literal."""

    value: Scalar
    source: str = Field(description="the kernel's expression Helion folded")
    loc: Loc | None = None


class Specialization(FormatModel):
    """For which arguments the body is valid (docs/json-format.md, Specialisation)."""

    static_shapes: bool
    scalars: list[SpecializedScalar] = Field(default_factory=list)
    guards: list[Expr] = Field(default_factory=list)
    values: list[FoldedValue] = Field(default_factory=list)


class Func(FormatModel):
    name: Name
    args: list[Arg]
    rets: list[Ret]
    body: list[Op]
    specialization: Specialization | None = None
    config: ConfigInfo | None = None


class Module(FormatModel):
    name: Name
    funcs: list[Func] = Field(min_length=1)


class HelionJsonSpec(FormatModel):
    version: Literal[1]
    module: Module


# ---------------------------------------------------------------- cross-references


@dataclass
class _Symbol:
    kind: SymbolKind
    rank: int | None = None
    # The type the document records for the name (an argument's, an op result's).
    type: ValueType | None = None


@dataclass
class _Scope:
    names: dict[str, _Symbol] = field(default_factory=dict)


# Real attributes are numbers, strings and flat lists; a bound keeps every consumer
# (and pydantic's serialiser, which stops at 254 levels) clear of deep nesting.
_MAX_ATTR_DEPTH = 100


_OperandCheck = Callable[["_CrossChecker", Any], None]
# The checks of each op model's own fields; the names it defines and the regions it
# opens or closes are checked from its registry entry.
_OPERAND_CHECKS: dict[type[OpModel], _OperandCheck] = {}


_CheckT = TypeVar("_CheckT", bound=Callable[..., Any])


def _per_model(
    table: dict[type[OpModel], _CheckT], models: tuple[type[OpModel], ...]
) -> Callable[[_CheckT], _CheckT]:
    """A decorator that registers a check in ``table`` for each of ``models``."""

    def register(check: _CheckT) -> _CheckT:
        for model in models:
            table[model] = check
        return check

    return register


def _checks(*models: type[OpModel]) -> Callable[[_OperandCheck], _OperandCheck]:
    return _per_model(_OPERAND_CHECKS, models)


class _CrossChecker:
    """Walks a function body once, tracking which names are visible where."""

    def __init__(self, func: Func, path: str) -> None:
        self.func = func
        self.path = path
        self.errors: list[tuple[str, str, int | None]] = []
        self.scopes: list[_Scope] = [_Scope()]
        # Each open region: its kind and the index of the op that opened it.
        self.regions: list[tuple[str, int]] = []
        self.op_index: int | None = None
        # The path of the op being checked (a combine function's ops nest inside one).
        self.op_path: str | None = None
        # Names the if branch of each open ``hl.if.else`` region defined.
        self.if_branch_names: list[dict[str, _Symbol]] = []
        # Value-defining ops with and without types (paths): a function types all or none.
        self.typed_ops = 0
        self.untyped_ops: list[tuple[str, int | None]] = []

    # -- names
    def lookup(self, name: str) -> _Symbol | None:
        for scope in reversed(self.scopes):
            if name in scope.names:
                return scope.names[name]
        return None

    def define(self, name: str, symbol: _Symbol) -> None:
        existing = self.lookup(name)
        if existing is not None and existing.kind in ("tile",):
            self.error("result", f"'{name}' redefines a tile that is still in scope")
        self.scopes[-1].names[name] = symbol

    def error(self, where: str, message: str) -> None:
        at = self.op_path or self.path
        self.errors.append((f"{at}.{where}" if where else at, message, self.op_index))

    def use(self, where: str, name: str, kinds: tuple[str, ...] | None = None) -> _Symbol | None:
        symbol = self.lookup(name)
        if symbol is None:
            self.error(where, f"'{name}' is used before it is defined")
            return None
        if kinds is not None and symbol.kind not in kinds:
            self.error(where, f"'{name}' is a {symbol.kind}, expected a {' or '.join(kinds)}")
        return symbol

    # -- pieces
    def expr(self, where: str, value: Expr) -> None:
        try:
            node = parse_expr(value)
        except ExprSyntaxError as exc:
            self.error(where, f"invalid expression: {exc}")
            return
        for part in walk(node):
            if isinstance(part, Ref):
                self.use(where, part.name, ("tile", "scalar", "symbol", "value"))
            elif isinstance(part, Size):
                self.use(where, part.tile, ("tile",))
            elif isinstance(part, Dim):
                symbol = self.use(where, part.tensor, ("tensor",))
                if symbol is not None and symbol.rank is not None and part.axis >= symbol.rank:
                    self.error(
                        where,
                        f"dim({part.tensor},{part.axis}): '{part.tensor}' has rank {symbol.rank}",
                    )

    def exprs(self, where: str, values: list[Expr]) -> None:
        for i, value in enumerate(values):
            self.expr(f"{where}[{i}]", value)

    def tensor_rank(self, where: str, name: str) -> int | None:
        symbol = self.use(where, name, ("tensor", "value"))
        return symbol.rank if symbol is not None else None

    def slice(self, where: str, spec: SliceSpec) -> None:
        rank = self.tensor_rank(f"{where}.base", spec.base)
        if len(spec.offsets) != len(spec.sizes):
            self.error(where, f"{len(spec.offsets)} offsets but {len(spec.sizes)} sizes")
        if rank is not None and len(spec.offsets) != rank:
            self.error(
                where, f"slice of rank {len(spec.offsets)} over '{spec.base}' of rank {rank}"
            )
        self.exprs(f"{where}.offsets", spec.offsets)
        self.exprs(f"{where}.sizes", spec.sizes)

    def operand(self, where: str, value: Any) -> None:
        if isinstance(value, SliceOperand):
            self.slice(f"{where}.slice", value.slice)
        elif isinstance(value, ExprOperand):
            self.expr(f"{where}.expr", value.expr)
        elif isinstance(value, str) and value not in ("inf", "-inf", "nan"):
            self.use(where, value)

    def index(self, where: str, base: str, entries: list[IndexEntry]) -> None:
        rank = self.tensor_rank(f"{where}.base", base) if base else None
        consumed = 0
        for i, entry in enumerate(entries):
            at = f"{where}[{i}]"
            if isinstance(entry, TileIndex):
                self.use(at, entry.tile, ("tile",))
            elif isinstance(entry, BroadcastIndex):
                self.use(at, entry.broadcast, ("tile",))
            elif isinstance(entry, AtIndex):
                self.expr(at, entry.at)
            elif isinstance(entry, RangeIndex):
                self.exprs(f"{at}.range", entry.range)
            elif isinstance(entry, TensorIndex):
                self.use(at, entry.tensor)
            if not isinstance(entry, NewAxisIndex):
                consumed += 1
        if rank is not None and consumed > rank:
            self.error(where, f"{consumed} indices into '{base}' of rank {rank}")

    # -- ops
    def check(self) -> None:
        for i, arg in enumerate(self.func.args):
            self.check_arg_facts(f"args[{i}]", arg)
            if isinstance(arg.type, TensorTypeBox):
                self.define(arg.id, _Symbol("tensor", len(arg.type.tensor.shape), arg.type))
            elif isinstance(arg.type, ScalarTypeBox):
                self.define(arg.id, _Symbol("scalar", type=arg.type))
            elif isinstance(arg.type, ListTypeBox):
                self.define(arg.id, _Symbol("constant"))
                for item, item_type in zip(arg.type.names, arg.type.list, strict=True):
                    if isinstance(item_type, TensorTypeBox):
                        rank = len(item_type.tensor.shape)
                        self.define(item, _Symbol("tensor", rank, item_type))
                    else:
                        self.define(item, _Symbol("scalar", type=item_type))
            else:
                self.define(arg.id, _Symbol("constant"))
        if self.func.specialization is not None:
            self.check_specialization(self.func.specialization)
        for index, op in enumerate(self.func.body):
            self.op_index = index
            self.op_path = f"{self.path}.body[{index}]"
            self.check_op(op)
        self.op_index = None
        self.op_path = None
        for kind, opened in self.regions:
            self.errors.append(
                (f"{self.path}.body[{opened}]", f"{kind} region is never closed", opened)
            )
        if self.typed_ops:
            # Documents made before types were recorded have none; a typed one has all.
            for path, untyped_index in self.untyped_ops:
                self.errors.append(
                    (path, "defines values without a type (other ops record theirs)", untyped_index)
                )
        returns = [op for op in self.func.body if isinstance(op, ReturnOp)]
        if len(returns) > 1:
            self.error("body", "more than one hl.return")
        elif returns and self.func.body[-1] is not returns[0]:
            self.error("body", "hl.return must be the last op")

    def check_arg_facts(self, where: str, arg: Arg) -> None:
        rank = len(arg.type.tensor.shape) if isinstance(arg.type, TensorTypeBox) else None
        if isinstance(arg.example, ListExample):
            self.check_list_example(f"{where}.example", arg)
        elif arg.example is not None and (rank is None or len(arg.example.shape) != rank):
            self.error(f"{where}.example", f"an example shape of another rank than '{arg.id}'")
        for i, extent in enumerate(arg.specialized or []):
            if rank is None or extent.axis >= rank:
                self.error(f"{where}.specialized[{i}]", f"'{arg.id}' has no axis {extent.axis}")

    def check_list_example(self, where: str, arg: Arg) -> None:
        """One example per item of a list argument, a shape of each tensor item's rank."""
        assert isinstance(arg.example, ListExample)
        items = arg.type.list if isinstance(arg.type, ListTypeBox) else None
        if items is None or len(items) != len(arg.example.items):
            self.error(where, f"not one example per item of '{arg.id}'")
            return
        for i, (item, example) in enumerate(zip(items, arg.example.items, strict=True)):
            rank = len(item.tensor.shape) if isinstance(item, TensorTypeBox) else None
            if (example is None) != (rank is None) or (
                example is not None and len(example.shape) != rank
            ):
                self.error(f"{where}.items[{i}]", f"not an example of item {i} of '{arg.id}'")

    def check_specialization(self, specialization: Specialization) -> None:
        where = "specialization"
        for i, scalar in enumerate(specialization.scalars):
            self.use(f"{where}.scalars[{i}].arg", scalar.arg)
        self.exprs(f"{where}.guards", specialization.guards)

    def open_region(self, kind: str) -> None:
        assert self.op_index is not None
        self.regions.append((kind, self.op_index))
        self.scopes.append(_Scope())

    def close_region(self, kind: str, op_name: str) -> bool:
        if not self.regions or self.regions[-1][0] != kind:
            self.error("op", f"{op_name} without a matching open {kind} region")
            return False
        self.regions.pop()
        self.scopes.pop()
        return True

    def check_op(self, op: Any) -> None:
        """The op's operands, then the region it opens or closes, then the names it defines."""
        spec = spec_of(op.op)
        assert spec is not None  # the op union admits registered ops only
        check = _OPERAND_CHECKS.get(spec.model)
        if check is not None:
            check(self, op)
        region = spec.region
        if region is not None and region.role == "begin":
            self.open_region(region.kind)
        elif region is not None and region.role == "else":
            self.else_region()
        elif region is not None:
            self.end_region(region.kind, op.op)
        if spec.defines is not None:
            shape = getattr(op, "shape", None)
            rank = len(shape) if isinstance(shape, list) else None
            kind = spec.defines
            if spec.model is TorchOp and not any(k == "hl.tile" for k, _ in self.regions):
                # Host code (a view before the launch, a reshape of a result): a tensor
                # that dim() and slices may name, as an argument or an hl.alloc.
                kind = "tensor"
            names = result_names(op)
            types = self.result_types(op, len(names))
            for name, value_type in zip(names, types, strict=True):
                if isinstance(value_type, TensorTypeBox):
                    rank = len(value_type.tensor.shape)
                self.define(name, _Symbol(kind, rank, value_type))

    def result_types(self, op: Any, count: int) -> list[ValueType | None]:
        """The op's recorded types, one per name it defines, checked against the op."""
        if op.type is None and op.types is None:
            if count:
                self.untyped_ops.append((self.op_path or self.path, self.op_index))
            return [None] * count
        self.typed_ops += 1
        if isinstance(op.result, list):
            if op.type is not None or op.types is None or len(op.types) != len(op.result):
                self.error("types", f"'types' needs one type per result ({len(op.result)})")
                return [None] * count
            types: list[ValueType | None] = list(op.types)
        else:
            if op.types is not None or op.type is None or op.result is None:
                self.error("type", "a single result records 'type' (a list of them, 'types')")
                return [None] * count
            types = [op.type]
        for i, value_type in enumerate(types):
            where = "type" if op.types is None else f"types[{i}]"
            if isinstance(value_type, TensorTypeBox):
                self.exprs(f"{where}.tensor.shape", value_type.tensor.shape)
            check_type = _TYPE_RULES.get(type(op))
            if check_type is not None and value_type is not None:
                problem = check_type(self, op, value_type)
                if problem is not None:
                    self.error(where, problem)
        return types

    def type_of(self, operand: Any) -> ValueType | None:
        """The recorded type of an operand the document names or slices, where known."""
        if isinstance(operand, SliceOperand):
            base = self.lookup(operand.slice.base)
            elem = _elem(base.type) if base is not None else None
            if elem is None:
                return None
            return TensorTypeBox(tensor=TensorType(shape=operand.slice.sizes, elem=elem))
        if isinstance(operand, str):
            symbol = self.lookup(operand)
            return symbol.type if symbol is not None else None
        return None

    def else_region(self) -> None:
        if_names = dict(self.scopes[-1].names)
        if self.close_region("hl.if", "hl.if.else"):
            self.regions.append(("hl.else", self.op_index or 0))
            self.scopes.append(_Scope())
            self.if_branch_names.append(if_names)

    def end_region(self, kind: str, op_name: str) -> None:
        if kind != "hl.if" or not self.regions or self.regions[-1][0] != "hl.else":
            self.close_region(kind, op_name)
            return
        else_names = dict(self.scopes[-1].names)
        self.close_region("hl.else", op_name)
        if_names = self.if_branch_names.pop()
        for name in sorted(merged_names(if_names, else_names)):
            if self.lookup(name) is None:
                self.define(name, else_names[name])

    @_checks(AllocOp, ZerosOp)
    def check_shape(self, op: AllocOp | ZerosOp) -> None:
        self.exprs("shape", op.shape)

    @_checks(FullOp)
    def check_full(self, op: FullOp) -> None:
        self.exprs("shape", op.shape)
        if isinstance(op.value, str):
            self.operand("value", op.value)

    @_checks(TileBeginOp)
    def check_tile_begin(self, op: TileBeginOp) -> None:
        lengths = {len(op.iters), len(op.sizes), len(op.result), len(op.begin), len(op.end)}
        if len(lengths) != 1:
            self.error("", "iters, sizes, result, begin and end must have equal lengths")
        if not op.iters:
            self.error("iters", "a tile loop needs at least one iterator")
        self.exprs("sizes", op.sizes)
        if op.config_sizes is not None:
            if len(op.config_sizes) != len(op.sizes):
                self.error("config_sizes", "one config block size per tiled dimension")
            self.exprs("config_sizes", op.config_sizes)
        self.exprs("begin", op.begin)
        self.exprs("end", op.end)

    @_checks(IfBeginOp)
    def check_if_begin(self, op: IfBeginOp) -> None:
        self.operand("cond", op.cond)

    @_checks(LoadOp)
    def check_load(self, op: LoadOp) -> None:
        if (op.slice is None) == (op.index is None):
            self.error("", "hl.load needs exactly one of 'slice' or 'base' + 'index'")
        if op.slice is not None:
            self.slice("slice", op.slice)
        if op.index is not None:
            if op.base is None:
                self.error("base", "hl.load with 'index' needs 'base'")
            else:
                self.index("index", op.base, op.index)
        for axis, extent in enumerate(op.pad_to or []):
            if extent is not None:
                self.expr(f"pad_to[{axis}]", extent)
        if op.mask is not None:
            self.use("mask", op.mask)

    @_checks(StoreSliceOp)
    def check_store_slice(self, op: StoreSliceOp) -> None:
        rank = self.tensor_rank("dst", op.dst)
        if rank is not None and len(op.offsets) != rank:
            self.error("offsets", f"{len(op.offsets)} offsets into '{op.dst}' of rank {rank}")
        self.exprs("offsets", op.offsets)
        if op.sizes is not None:
            if len(op.sizes) != len(op.offsets):
                self.error("sizes", f"{len(op.sizes)} sizes but {len(op.offsets)} offsets")
            self.exprs("sizes", op.sizes)
        self.operand("src", op.src)
        source = self.type_of(op.src)
        if (
            op.sizes is None
            and isinstance(source, TensorTypeBox)
            and len(source.tensor.shape) != len(op.offsets)
        ):
            self.error(
                "src",
                f"a source of rank {len(source.tensor.shape)} for a window of rank "
                f"{len(op.offsets)} needs 'sizes'",
            )
        if op.mask is not None:
            self.use("mask", op.mask)

    @_checks(StoreOp)
    def check_store(self, op: StoreOp) -> None:
        self.index("index", op.dst, op.index)
        self.operand("src", op.src)
        if op.mask is not None:
            self.use("mask", op.mask)

    @_checks(AtomicOp)
    def check_atomic(self, op: AtomicOp) -> None:
        self.index("index", op.dst, op.index)
        self.operand("src", op.src)
        self.operand("expected", op.expected)

    @_checks(MaskToOp)
    def check_mask_to(self, op: MaskToOp) -> None:
        self.use("src", op.src)

    @_checks(SubscriptOp)
    def check_subscript(self, op: SubscriptOp) -> None:
        self.operand("src", op.src)
        self.index("index", "", op.index)

    @_checks(TilePropertyOp)
    def check_tile_property(self, op: TilePropertyOp) -> None:
        self.use("tile", op.tile, ("tile",))

    @_checks(RegisterBlockSizeOp)
    def check_register_block_size(self, op: RegisterBlockSizeOp) -> None:
        self.expr("size", op.size)
        for bound in ("min", "max"):
            value = getattr(op, bound)
            if value is not None:
                self.expr(bound, value)

    @_checks(DotOp, JoinOp)
    def check_args(self, op: DotOp | JoinOp | AssociativeScanOp | ReduceOp) -> None:
        for i, operand in enumerate(op.args):
            self.operand(f"args[{i}]", operand)

    @_checks(SplitOp, ScanOp, AssignOp)
    def check_src(self, op: SplitOp | ScanOp | AssignOp) -> None:
        self.operand("src", op.src)

    @_checks(AssociativeScanOp, ReduceOp)
    def check_combining(self, op: AssociativeScanOp | ReduceOp) -> None:
        self.check_args(op)
        self.combine(op)

    @_checks(ReturnOp)
    def check_return(self, op: ReturnOp) -> None:
        for i, value in enumerate(op.values):
            self.operand(f"values[{i}]", value)

    @_checks(TorchOp)
    def check_torch(self, op: TorchOp) -> None:
        for i, operand in enumerate(op.args):
            if isinstance(operand, list):
                for j, item in enumerate(operand):
                    self.operand(f"args[{i}][{j}]", item)
            else:
                self.operand(f"args[{i}]", operand)
        self.attrs(op.attrs)

    def combine(self, op: AssociativeScanOp | ReduceOp) -> None:
        """A combine function sees only its parameters; it folds two sets of ``args``."""
        function = op.combine
        if len(function.params) != 2 * len(op.args):
            self.error(
                "combine.params",
                f"{len(function.params)} parameters for {len(op.args)} args (two per arg)",
            )
        if len(function.results) != len(op.result) or len(op.result) != len(op.args):
            self.error("combine.results", "one result per arg, and one combined value per arg")
        outer_path, outer_scopes, outer_regions = self.op_path, self.scopes, self.regions
        self.scopes, self.regions = [_Scope()], []
        try:
            for name in function.params:
                self.define(name, _Symbol("value"))
            for index, inner in enumerate(function.body):
                self.op_path = f"{outer_path}.combine.body[{index}]"
                inner_spec = spec_of(inner.op)
                if inner_spec is None or not inner_spec.in_combine:
                    self.error("op", f"{inner.op} in a combine function (torch math only)")
                self.check_op(inner)
            self.op_path = outer_path
            for i, name in enumerate(function.results):
                self.use(f"combine.results[{i}]", name)
        finally:
            self.op_path, self.scopes, self.regions = outer_path, outer_scopes, outer_regions

    def attrs(self, attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            # Without recursion: attribute values are arbitrary JSON.
            pending: list[tuple[Any, int]] = [(value, 1)]
            while pending:
                item, depth = pending.pop()
                if depth > _MAX_ATTR_DEPTH:
                    self.error(f"attrs.{key}", f"nests deeper than {_MAX_ATTR_DEPTH} levels")
                    break
                if isinstance(item, float) and not math.isfinite(item):
                    self.error(f"attrs.{key}", "non-finite numbers are written as strings")
                elif isinstance(item, list):
                    pending.extend((inner, depth + 1) for inner in item)
                elif isinstance(item, dict):
                    pending.extend((inner, depth + 1) for inner in item.values())


# ---------------------------------------------------------------- types against ops

_TypeRule = Callable[[_CrossChecker, Any, ValueType], "str | None"]
# What each op's fields say its result's type is; None: consistent.
_TYPE_RULES: dict[type[OpModel], _TypeRule] = {}


def _type_rule(*models: type[OpModel]) -> Callable[[_TypeRule], _TypeRule]:
    return _per_model(_TYPE_RULES, models)


def _elem(value_type: Any) -> str | None:
    if isinstance(value_type, TensorTypeBox):
        return value_type.tensor.elem
    if isinstance(value_type, ScalarTypeBox):
        return value_type.scalar
    return None


def _same_shape(left: list[Expr], right: list[Expr]) -> bool:
    if len(left) != len(right):
        return False
    try:
        return all(parse_expr(a) == parse_expr(b) for a, b in zip(left, right, strict=True))
    except ExprSyntaxError:
        return False


def _tensor_like(value_type: ValueType, shape: list[Expr], elem: str | None) -> str | None:
    if not isinstance(value_type, TensorTypeBox):
        return "the op defines a tensor, its type is a scalar"
    if not _same_shape(value_type.tensor.shape, shape):
        return f"shape {value_type.tensor.shape} is not the op's {shape}"
    if elem is not None and value_type.tensor.elem != elem:
        return f"element type {value_type.tensor.elem} is not the op's {elem}"
    return None


@_type_rule(AllocOp, ZerosOp, FullOp)
def _shaped_type(checker: _CrossChecker, op: Any, value_type: ValueType) -> str | None:
    return _tensor_like(value_type, op.shape, op.dtype)


@_type_rule(TileBeginOp, RegisterBlockSizeOp, TilePropertyOp)
def _index_type(checker: _CrossChecker, op: Any, value_type: ValueType) -> str | None:
    if op.op == "hl.tile.index":
        return _tensor_like(value_type, [f"size({op.tile})"], None)
    if not (isinstance(value_type, ScalarTypeBox) and value_type.scalar == "i64"):
        return f'{op.op} defines an index: {{"scalar": "i64"}}'
    return None


@_type_rule(LoadOp)
def _load_type(checker: _CrossChecker, op: LoadOp, value_type: ValueType) -> str | None:
    base = checker.lookup(op.slice.base if op.slice is not None else op.base or "")
    elem = _elem(base.type) if base is not None else None
    if op.slice is None:
        if not isinstance(value_type, TensorTypeBox):
            return "a load defines a tensor, its type is a scalar"
        if elem is not None and value_type.tensor.elem != elem:
            return f"element type {value_type.tensor.elem} is not {op.base}'s {elem}"
        return None
    sizes = list(op.slice.sizes)
    for axis, pad in enumerate(op.pad_to or []):
        if pad is not None and axis < len(sizes):
            sizes[axis] = pad
    return _tensor_like(value_type, sizes, elem)


@_type_rule(AtomicOp)
def _atomic_type(checker: _CrossChecker, op: AtomicOp, value_type: ValueType) -> str | None:
    dst = checker.lookup(op.dst)
    elem = _elem(dst.type) if dst is not None else None
    if elem is not None and _elem(value_type) != elem:
        return f"element type {_elem(value_type)} is not {op.dst}'s {elem}"
    return None


@_type_rule(AssignOp)
def _assign_type(checker: _CrossChecker, op: AssignOp, value_type: ValueType) -> str | None:
    source = checker.type_of(op.src)
    if source is None or isinstance(source, TensorTypeBox) != isinstance(value_type, TensorTypeBox):
        return None if source is None else "a copy has its source's kind (tensor or scalar)"
    if _elem(source) != _elem(value_type):
        return f"element type {_elem(value_type)} is not its source's {_elem(source)}"
    return None


@_type_rule(DotOp)
def _dot_type(checker: _CrossChecker, op: DotOp, value_type: ValueType) -> str | None:
    if not isinstance(value_type, TensorTypeBox):
        return "hl.dot defines a tensor, its type is a scalar"
    if op.dtype is not None and value_type.tensor.elem != op.dtype:
        return f"element type {value_type.tensor.elem} is not the op's dtype {op.dtype}"
    return None


@_type_rule(TorchOp)
def _torch_type(checker: _CrossChecker, op: TorchOp, value_type: ValueType) -> str | None:
    if op.op == "torch.prims.convert_element_type" and _elem(value_type) != op.attrs.get("dtype"):
        return f"element type {_elem(value_type)} is not the conversion's {op.attrs.get('dtype')}"
    return None


def _cross_check(spec: HelionJsonSpec) -> list[tuple[str, str, Loc | None]]:
    problems: list[tuple[str, str, Loc | None]] = []
    for f_index, func in enumerate(spec.module.funcs):
        checker = _CrossChecker(func, f"module.funcs[{f_index}]")
        checker.check()
        for path, message, op_index in checker.errors:
            loc = func.body[op_index].loc if op_index is not None else None
            problems.append((path, message, loc))
    return problems


def _format_pydantic_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item[:1].isupper() or item == "torch":
            # pydantic inserts the union member's tag into the path; readers want the document path.
            continue
        else:
            parts.append(f".{item}" if parts else item)
    return "".join(parts)


def validate_spec(payload: Any) -> HelionJsonSpec:
    """Validate a document's structure and cross-references.

    Returns the parsed model; raises ``helion2json.ValidationError`` listing every
    problem with its path in the document (and the op's source location, when
    the op carries one).
    """
    if isinstance(payload, HelionJsonSpec):
        # Already structurally valid: dumping it again would drop required nulls.
        spec = payload
    else:
        try:
            spec = HelionJsonSpec.model_validate(payload)
        except PydanticValidationError as exc:
            errors = [(_format_pydantic_path(e["loc"]), e["msg"]) for e in exc.errors()]
            raise _validation_error(errors, payload) from None
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValidationError(f"not a helion2json document: {exc}") from None
    problems = _cross_check(spec)
    if problems:
        first_loc = next((loc for _, _, loc in problems if loc is not None), None)
        raise _validation_error([(p, m) for p, m, _ in problems], payload, first_loc)
    return spec


def _validation_error(
    errors: list[tuple[str, str]], payload: Any, loc: Loc | None = None
) -> ValidationError:
    shown = "; ".join(f"{path}: {message}" for path, message in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    op_name = _op_at(payload, errors[0][0]) if errors else None
    prefix = f"{op_name}: " if op_name else ""
    return ValidationError(
        f"invalid helion2json document: {prefix}{shown}{more}",
        errors=errors,
        op=op_name,
        location=SourceLocation(loc.file, loc.line, loc.col) if loc else None,
    )


def _op_at(payload: Any, path: str) -> str | None:
    """The ``op`` of the body entry a path points into, for friendlier messages."""
    import re

    match = re.match(r"module\.funcs\[(\d+)\]\.body\[(\d+)\]", path)
    if not match or not isinstance(payload, dict):
        return None
    try:
        op = payload["module"]["funcs"][int(match[1])]["body"][int(match[2])].get("op")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return op if isinstance(op, str) else None


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the format, as checked into the repository."""
    schema = HelionJsonSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "urn:helion2json:schema:v1"
    schema["title"] = "helion2json document, format version 1"
    return schema
