"""The JSON format as pydantic models, plus the cross-reference checks.

This module is the single source of truth for the format: the JSON Schema file
``helion2json/schema/helion2json.schema.json`` is generated from these models
(``python -m helion2json schema``) and a test keeps the two in sync.

It must stay importable without torch or helion: editors, CI jobs and the C++
side's tooling validate documents with it on machines that have neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from pydantic import ValidationError as PydanticValidationError

from helion2json.core.dtypes import ElementType
from helion2json.core.errors import SourceLocation, ValidationError
from helion2json.core.expr import Dim, ExprSyntaxError, Ref, Size, parse_expr, walk

FORMAT_VERSION = 1

ScalarType = Literal["f64", "i64", "i1"]

# A name defined by an op or an argument. Expressions are ints or grammar strings.
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z_0-9]*$")]
Expr = int | str
# JSON has no infinities or NaN, so those travel as strings (and a float is finite).
Scalar = bool | int | Annotated[float, Field(allow_inf_nan=False)] | Literal["inf", "-inf", "nan"]


class _Model(BaseModel):
    # Consumers ignore unknown keys; this validator refuses them so that a typo
    # in the exporter cannot ship silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Loc(_Model):
    file: str
    line: int = Field(ge=1)
    col: int = Field(default=0, ge=0)


class TensorType(_Model):
    shape: list[Expr]
    elem: ElementType


class TensorTypeBox(_Model):
    tensor: TensorType


class ScalarTypeBox(_Model):
    scalar: ScalarType


ValueType = TensorTypeBox | ScalarTypeBox


class Arg(_Model):
    id: Name
    type: ValueType


class Ret(_Model):
    type: ValueType


class SliceSpec(_Model):
    base: Name
    offsets: list[Expr]
    sizes: list[Expr]


class SliceOperand(_Model):
    slice: SliceSpec


class ExprOperand(_Model):
    """A symbolic integer scalar, e.g. ``{"expr": "size(tile_m) * 2"}``."""

    expr: Expr


class TileIndex(_Model):
    """Index by a tile: the tile's elements along this axis."""

    tile: Name


class FullIndex(_Model):
    """``:``: the whole axis."""

    full: Literal[True]


class AtIndex(_Model):
    """A single position; the axis is dropped."""

    at: Expr


class TensorIndex(_Model):
    """Gather/scatter: positions read from an integer tensor value."""

    tensor: Name


class NewAxisIndex(_Model):
    """``None``: a new axis of extent 1."""

    newaxis: Literal[True]


IndexEntry = TileIndex | FullIndex | AtIndex | TensorIndex | NewAxisIndex

Operand = Annotated[str, Field(min_length=1)] | SliceOperand | ExprOperand | Scalar | None
AttrValue = Any


class _Op(_Model):
    loc: Loc | None = None


class AllocOp(_Op):
    op: Literal["hl.alloc"]
    shape: list[Expr]
    dtype: ElementType
    result: Name
    # Absent: uninitialised (torch.empty); a value: every element starts as it.
    fill: Scalar | None = None


class TileBeginOp(_Op):
    op: Literal["hl.tile.begin"]
    iters: list[Name]
    sizes: list[Expr]
    result: list[Name]
    begin: list[Expr]
    end: list[Expr]
    parallel: bool


class TileEndOp(_Op):
    op: Literal["hl.tile.end"]


class ZerosOp(_Op):
    op: Literal["hl.zeros"]
    shape: list[Expr]
    dtype: ElementType
    result: Name


class FullOp(_Op):
    op: Literal["hl.full"]
    shape: list[Expr]
    value: Scalar | Name
    dtype: ElementType
    result: Name


class LoadOp(_Op):
    op: Literal["hl.load"]
    result: Name
    slice: SliceSpec | None = None
    base: Name | None = None
    index: list[IndexEntry] | None = None
    mask: Name | None = None


class StoreSliceOp(_Op):
    op: Literal["hl.store_slice"]
    dst: Name
    offsets: list[Expr]
    src: Operand
    mask: Name | None = None
    # The window's extents, present when ``src`` is a scalar or broadcasts to
    # them; absent, the window is ``src``'s shape.
    sizes: list[Expr] | None = None


class StoreOp(_Op):
    op: Literal["hl.store"]
    dst: Name
    index: list[IndexEntry]
    src: Operand
    mask: Name | None = None


class AtomicOp(_Op):
    op: Literal[
        "hl.atomic_add",
        "hl.atomic_and",
        "hl.atomic_or",
        "hl.atomic_xor",
        "hl.atomic_max",
        "hl.atomic_min",
        "hl.atomic_xchg",
        "hl.atomic_cas",
    ]
    dst: Name
    index: list[IndexEntry]
    src: Operand
    # atomic_cas only: the value compared against.
    expected: Operand = None
    sem: Literal["relaxed", "acquire", "release", "acq_rel"] = "relaxed"
    # The value held before the update, where the kernel uses it.
    result: Name | None = None


class MaskToOp(_Op):
    op: Literal["hl.mask_to"]
    src: Name
    value: Scalar
    result: Name


class SubscriptOp(_Op):
    op: Literal["hl.subscript"]
    src: Operand
    index: list[IndexEntry]
    result: Name


class TilePropertyOp(_Op):
    op: Literal[
        "hl.tile.index", "hl.tile.begin_of", "hl.tile.end_of", "hl.tile.id", "hl.tile.count"
    ]
    tile: Name
    result: Name


class RegisterBlockSizeOp(_Op):
    op: Literal["hl.register_block_size"]
    result: Name
    size: Expr
    min: Expr | None = None
    max: Expr | None = None


class DotOp(_Op):
    op: Literal["hl.dot"]
    args: list[Operand]
    out_dtype: ElementType | None = None
    # The result's element type.
    dtype: ElementType | None = None
    result: Name


class SplitOp(_Op):
    op: Literal["hl.split"]
    src: Operand
    result: list[Name]


class JoinOp(_Op):
    op: Literal["hl.join"]
    args: list[Operand]
    result: Name


class ScanOp(_Op):
    op: Literal["hl.cumsum", "hl.cumprod"]
    src: Operand
    dim: int
    reverse: bool = False
    result: Name


class CombineFunction(_Model):
    """An elementwise function of scan/reduce: ``params`` in, ``results`` out."""

    params: list[Name]
    body: list[Op]
    results: list[Name]


class AssociativeScanOp(_Op):
    op: Literal["hl.associative_scan"]
    args: list[Operand]
    dim: int
    reverse: bool = False
    combine: CombineFunction
    result: list[Name]


class ReduceOp(_Op):
    op: Literal["hl.reduce"]
    args: list[Operand]
    # None: over every axis.
    dim: int | None = None
    keep_dims: bool = False
    combine: CombineFunction
    result: list[Name]


class AssignOp(_Op):
    op: Literal["hl.assign"]
    src: Operand
    result: Name


class IfBeginOp(_Op):
    op: Literal["hl.if.begin"]
    cond: Operand


class ElseOp(_Op):
    op: Literal["hl.if.else"]


class IfEndOp(_Op):
    op: Literal["hl.if.end"]


class BarrierOp(_Op):
    op: Literal["hl.barrier"]


class ReturnOp(_Op):
    op: Literal["hl.return"]
    values: list[Name]


class TorchOp(_Op):
    op: Annotated[str, Field(pattern=r"^torch\.[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$")]
    overload: str
    args: list[Operand]
    attrs: dict[str, AttrValue] = Field(default_factory=dict)
    result: Name | list[Name] | None = None
    # Floating tensor operands are converted to this type before the op (mixed precision).
    operand_dtype: ElementType | None = None


_OP_MODELS: tuple[type[_Op], ...] = (
    AllocOp,
    TileBeginOp,
    TileEndOp,
    ZerosOp,
    FullOp,
    LoadOp,
    StoreSliceOp,
    StoreOp,
    AtomicOp,
    MaskToOp,
    SubscriptOp,
    TilePropertyOp,
    RegisterBlockSizeOp,
    DotOp,
    SplitOp,
    JoinOp,
    ScanOp,
    AssociativeScanOp,
    ReduceOp,
    AssignOp,
    IfBeginOp,
    ElseOp,
    IfEndOp,
    BarrierOp,
    ReturnOp,
)


def _op_tag(value: Any) -> str | None:
    op = value.get("op") if isinstance(value, dict) else getattr(value, "op", None)
    if not isinstance(op, str):
        return None
    if op.startswith("torch."):
        return "torch"
    for model in _OP_MODELS:
        if op in model.model_fields["op"].annotation.__args__:  # type: ignore[union-attr]
            return model.__name__
    return None


Op = Annotated[
    Annotated[AllocOp, Tag("AllocOp")]
    | Annotated[TileBeginOp, Tag("TileBeginOp")]
    | Annotated[TileEndOp, Tag("TileEndOp")]
    | Annotated[ZerosOp, Tag("ZerosOp")]
    | Annotated[FullOp, Tag("FullOp")]
    | Annotated[LoadOp, Tag("LoadOp")]
    | Annotated[StoreSliceOp, Tag("StoreSliceOp")]
    | Annotated[StoreOp, Tag("StoreOp")]
    | Annotated[AtomicOp, Tag("AtomicOp")]
    | Annotated[MaskToOp, Tag("MaskToOp")]
    | Annotated[SubscriptOp, Tag("SubscriptOp")]
    | Annotated[TilePropertyOp, Tag("TilePropertyOp")]
    | Annotated[RegisterBlockSizeOp, Tag("RegisterBlockSizeOp")]
    | Annotated[DotOp, Tag("DotOp")]
    | Annotated[SplitOp, Tag("SplitOp")]
    | Annotated[JoinOp, Tag("JoinOp")]
    | Annotated[ScanOp, Tag("ScanOp")]
    | Annotated[AssociativeScanOp, Tag("AssociativeScanOp")]
    | Annotated[ReduceOp, Tag("ReduceOp")]
    | Annotated[AssignOp, Tag("AssignOp")]
    | Annotated[IfBeginOp, Tag("IfBeginOp")]
    | Annotated[ElseOp, Tag("ElseOp")]
    | Annotated[IfEndOp, Tag("IfEndOp")]
    | Annotated[BarrierOp, Tag("BarrierOp")]
    | Annotated[ReturnOp, Tag("ReturnOp")]
    | Annotated[TorchOp, Tag("torch")],
    Discriminator(
        _op_tag,
        custom_error_type="unknown_op",
        custom_error_message="unknown op (expected hl.* from the format, or torch.<aten name>)",
    ),
]


CombineFunction.model_rebuild()
AssociativeScanOp.model_rebuild()
ReduceOp.model_rebuild()


class ConfigInfo(_Model):
    """The Helion config the kernel was exported with, and where it came from."""

    source: str
    values: dict[str, Any]


class Func(_Model):
    name: Name
    args: list[Arg]
    rets: list[Ret]
    body: list[Op]
    config: ConfigInfo | None = None


class Module(_Model):
    name: Name
    funcs: list[Func] = Field(min_length=1)


class HelionJsonSpec(_Model):
    version: Literal[1]
    module: Module


# ---------------------------------------------------------------- cross-references


@dataclass
class _Symbol:
    kind: Literal["tensor", "tile", "scalar", "symbol", "value"]
    rank: int | None = None


@dataclass
class _Scope:
    names: dict[str, _Symbol] = field(default_factory=dict)


# Real attributes are numbers, strings and flat lists; a bound keeps every consumer
# (and pydantic's serialiser, which stops at 254 levels) clear of deep nesting.
_MAX_ATTR_DEPTH = 100


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
            elif isinstance(entry, AtIndex):
                self.expr(at, entry.at)
            elif isinstance(entry, TensorIndex):
                self.use(at, entry.tensor)
            if not isinstance(entry, NewAxisIndex):
                consumed += 1
        if rank is not None and consumed > rank:
            self.error(where, f"{consumed} indices into '{base}' of rank {rank}")

    # -- ops
    def check(self) -> None:
        for arg in self.func.args:
            if isinstance(arg.type, TensorTypeBox):
                self.define(arg.id, _Symbol("tensor", len(arg.type.tensor.shape)))
            else:
                self.define(arg.id, _Symbol("scalar"))
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
        returns = [op for op in self.func.body if isinstance(op, ReturnOp)]
        if len(returns) > 1:
            self.error("body", "more than one hl.return")
        elif returns and self.func.body[-1] is not returns[0]:
            self.error("body", "hl.return must be the last op")

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
        if isinstance(op, AllocOp):
            self.exprs("shape", op.shape)
            self.define(op.result, _Symbol("tensor", len(op.shape)))
        elif isinstance(op, TileBeginOp):
            lengths = {
                len(op.iters),
                len(op.sizes),
                len(op.result),
                len(op.begin),
                len(op.end),
            }
            if len(lengths) != 1:
                self.error("", "iters, sizes, result, begin and end must have equal lengths")
            if not op.iters:
                self.error("iters", "a tile loop needs at least one iterator")
            self.exprs("sizes", op.sizes)
            self.exprs("begin", op.begin)
            self.exprs("end", op.end)
            self.open_region("hl.tile")
            for name in op.result:
                self.define(name, _Symbol("tile"))
        elif isinstance(op, TileEndOp):
            self.close_region("hl.tile", "hl.tile.end")
        elif isinstance(op, IfBeginOp):
            self.operand("cond", op.cond)
            self.open_region("hl.if")
        elif isinstance(op, ElseOp):
            if_names = dict(self.scopes[-1].names)
            if self.close_region("hl.if", "hl.if.else"):
                self.regions.append(("hl.else", self.op_index or 0))
                self.scopes.append(_Scope())
                self.if_branch_names.append(if_names)
        elif isinstance(op, IfEndOp):
            if self.regions and self.regions[-1][0] == "hl.else":
                else_names = dict(self.scopes[-1].names)
                self.close_region("hl.else", "hl.if.end")
                # A name both branches define holds the taken branch's value after the if.
                if_names = self.if_branch_names.pop()
                for name in sorted(if_names.keys() & else_names.keys()):
                    if self.lookup(name) is None:
                        self.define(name, else_names[name])
            else:
                self.close_region("hl.if", "hl.if.end")
        elif isinstance(op, ZerosOp | FullOp):
            self.exprs("shape", op.shape)
            if isinstance(op, FullOp) and isinstance(op.value, str):
                self.operand("value", op.value)
            self.define(op.result, _Symbol("value", len(op.shape)))
        elif isinstance(op, LoadOp):
            if (op.slice is None) == (op.index is None):
                self.error("", "hl.load needs exactly one of 'slice' or 'base' + 'index'")
            if op.slice is not None:
                self.slice("slice", op.slice)
            if op.index is not None:
                if op.base is None:
                    self.error("base", "hl.load with 'index' needs 'base'")
                else:
                    self.index("index", op.base, op.index)
            if op.mask is not None:
                self.use("mask", op.mask)
            self.define(op.result, _Symbol("value"))
        elif isinstance(op, StoreSliceOp):
            rank = self.tensor_rank("dst", op.dst)
            if rank is not None and len(op.offsets) != rank:
                self.error("offsets", f"{len(op.offsets)} offsets into '{op.dst}' of rank {rank}")
            self.exprs("offsets", op.offsets)
            if op.sizes is not None:
                if len(op.sizes) != len(op.offsets):
                    self.error("sizes", f"{len(op.sizes)} sizes but {len(op.offsets)} offsets")
                self.exprs("sizes", op.sizes)
            self.operand("src", op.src)
            if op.mask is not None:
                self.use("mask", op.mask)
        elif isinstance(op, StoreOp | AtomicOp):
            self.index("index", op.dst, op.index)
            self.operand("src", op.src)
            if isinstance(op, AtomicOp):
                self.operand("expected", op.expected)
                if op.result is not None:
                    self.define(op.result, _Symbol("value"))
            elif op.mask is not None:
                self.use("mask", op.mask)
        elif isinstance(op, MaskToOp):
            self.use("src", op.src)
            self.define(op.result, _Symbol("value"))
        elif isinstance(op, SubscriptOp):
            self.operand("src", op.src)
            self.index("index", "", op.index)
            self.define(op.result, _Symbol("value"))
        elif isinstance(op, TilePropertyOp):
            self.use("tile", op.tile, ("tile",))
            kind: Literal["value", "scalar"] = "value" if op.op == "hl.tile.index" else "scalar"
            self.define(op.result, _Symbol(kind))
        elif isinstance(op, RegisterBlockSizeOp):
            self.expr("size", op.size)
            for bound in ("min", "max"):
                value = getattr(op, bound)
                if value is not None:
                    self.expr(bound, value)
            self.define(op.result, _Symbol("symbol"))
        elif isinstance(op, DotOp | JoinOp):
            for i, operand in enumerate(op.args):
                self.operand(f"args[{i}]", operand)
            self.define(op.result, _Symbol("value"))
        elif isinstance(op, SplitOp):
            self.operand("src", op.src)
            for name in op.result:
                self.define(name, _Symbol("value"))
        elif isinstance(op, AssociativeScanOp | ReduceOp):
            for i, operand in enumerate(op.args):
                self.operand(f"args[{i}]", operand)
            self.combine(op)
            for name in op.result:
                self.define(name, _Symbol("value"))
        elif isinstance(op, ScanOp | AssignOp):
            self.operand("src", op.src)
            self.define(op.result, _Symbol("value"))
        elif isinstance(op, ReturnOp):
            for i, name in enumerate(op.values):
                self.use(f"values[{i}]", name)
        elif isinstance(op, TorchOp):
            for i, operand in enumerate(op.args):
                self.operand(f"args[{i}]", operand)
            self.attrs(op.attrs)
            results = op.result if isinstance(op.result, list) else [op.result]
            for result in results:
                if result is not None:
                    self.define(result, _Symbol("value"))

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
                if not isinstance(inner, TorchOp | FullOp | ZerosOp | AssignOp):
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
