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
from typing import Any, Literal

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
    ListTypeBox,
    Loc,
    Name,
    NewAxisIndex,
    RangeIndex,
    Ret,
    ScalarTypeBox,
    SliceOperand,
    SliceSpec,
    TensorIndex,
    TensorTypeBox,
    TileIndex,
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


class Func(FormatModel):
    name: Name
    args: list[Arg]
    rets: list[Ret]
    body: list[Op]
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


def _checks(*models: type[OpModel]) -> Callable[[_OperandCheck], _OperandCheck]:
    def register(check: _OperandCheck) -> _OperandCheck:
        for model in models:
            _OPERAND_CHECKS[model] = check
        return check

    return register


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
        for arg in self.func.args:
            if isinstance(arg.type, TensorTypeBox):
                self.define(arg.id, _Symbol("tensor", len(arg.type.tensor.shape)))
            elif isinstance(arg.type, ScalarTypeBox):
                self.define(arg.id, _Symbol("scalar"))
            elif isinstance(arg.type, ListTypeBox):
                self.define(arg.id, _Symbol("constant"))
                for item in arg.type.names:
                    self.define(item, _Symbol("scalar"))
            else:
                self.define(arg.id, _Symbol("constant"))
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
            for name in result_names(op):
                self.define(name, _Symbol(kind, rank))

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
        for i, name in enumerate(op.values):
            if name is not None:
                self.use(f"values[{i}]", name)

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
