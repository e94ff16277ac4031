"""The op set of the format: one registry that every part of helion2json reads.

For every op name this module holds its pydantic model and what the checks need
to know about it: the kind of name its results define, the region it opens or
closes, and whether a combine function may use it. The schema builds its
discriminated op union and its cross-reference checks from ``OPS``; the
interpreter registers one executor per name (``helion2json.interpret.registry``);
the exporter's handlers declare the names they emit
(``helion2json.core.capture.registry``). ``torch.*`` ops share one entry,
``TORCH``. The rule for how ``hl.if`` results merge lives here too.

Like the schema, this module imports without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, get_args

from pydantic import Discriminator, Field, Tag

from helion2json.core.dtypes import ElementType
from helion2json.core.format_types import (
    AttrValue,
    Expr,
    ExprOperand,
    FormatModel,
    IndexEntry,
    Loc,
    Name,
    Operand,
    Scalar,
    SliceSpec,
    ValueType,
)

# The entry every ``torch.<aten name>`` op shares.
TORCH = "torch.*"

# What a name an op or argument defines is, for the cross-reference checks.
SymbolKind = Literal["tensor", "tile", "scalar", "symbol", "value", "constant"]


@dataclass(frozen=True)
class Region:
    """A structured region an op takes part in: ``kind`` is ``hl.tile`` or ``hl.if``."""

    kind: str
    role: Literal["begin", "else", "end"]


@dataclass(frozen=True)
class OpSpec:
    name: str
    model: type[OpModel]
    # The kind of every name in the op's ``result``; None: the op defines no name.
    defines: SymbolKind | None
    region: Region | None
    # Combine functions (hl.reduce, hl.associative_scan) hold element-wise math only.
    in_combine: bool


OPS: dict[str, OpSpec] = {}
OpModelT = TypeVar("OpModelT", bound="OpModel")


def op_model(
    *,
    defines: SymbolKind | Mapping[str, SymbolKind] | None = None,
    otherwise: SymbolKind | None = None,
    region: Region | None = None,
    in_combine: bool = False,
    names: tuple[str, ...] | None = None,
) -> Callable[[type[OpModelT]], type[OpModelT]]:
    """Register a model for each op name of its ``op`` literal (or ``names``).

    ``defines`` is one kind for every name, or a kind per name with ``otherwise``
    for the rest.
    """

    def register(model: type[OpModelT]) -> type[OpModelT]:
        if (defines is not None) != issubclass(model, ValueOpModel):
            raise TypeError(f"{model.__name__}: ops that define names, and only they, are typed")
        for name in names or get_args(model.model_fields["op"].annotation):
            kind = defines.get(name, otherwise) if isinstance(defines, Mapping) else defines
            OPS[name] = OpSpec(name, model, kind, region, in_combine)
        return model

    return register


def spec_of(op_name: str) -> OpSpec | None:
    """The registry's entry for an op name (``torch.*`` names share ``TORCH``)."""
    if op_name.startswith("torch."):
        return OPS[TORCH]
    return OPS.get(op_name)


def result_names(op: Any) -> list[str]:
    """The names an op's ``result`` defines (none, one, or several)."""
    result = getattr(op, "result", None)
    if isinstance(result, str):
        return [result]
    if isinstance(result, list):
        return [name for name in result if name is not None]
    return []


def merged_names(then_defined: Iterable[str], else_defined: Iterable[str]) -> frozenset[str]:
    """The names an ``hl.if`` with an else defines for what follows it.

    A name both branches define outlives the if, holding the taken branch's
    value; a name only one branch defines ends with its branch. (Names that
    exist before the if are assigned in place, whichever branch runs.)
    """
    return frozenset(then_defined) & frozenset(else_defined)


class OpModel(FormatModel):
    loc: Loc | None = None


class ValueOpModel(OpModel):
    """An op that defines values: the type of each, ``type`` for a single ``result``
    (a name) and ``types`` for a list of them, one per name."""

    type: ValueType | None = None
    types: list[ValueType] | None = None


@op_model(defines="tensor")
class AllocOp(ValueOpModel):
    op: Literal["hl.alloc"]
    shape: list[Expr]
    dtype: ElementType
    result: Name
    # Absent: uninitialised (torch.empty); a value: every element starts as it.
    fill: Scalar | None = None


@op_model(defines="tile", region=Region("hl.tile", "begin"))
class TileBeginOp(ValueOpModel):
    op: Literal["hl.tile.begin"]
    iters: list[Name]
    sizes: list[Expr]
    result: list[Name]
    begin: list[Expr]
    end: list[Expr]
    parallel: bool
    # The config's block sizes, where ``sizes`` are clamped to the example's static extents.
    config_sizes: list[Expr] | None = None


@op_model(region=Region("hl.tile", "end"))
class TileEndOp(OpModel):
    op: Literal["hl.tile.end"]


@op_model(defines="value", in_combine=True)
class ZerosOp(ValueOpModel):
    op: Literal["hl.zeros"]
    shape: list[Expr]
    dtype: ElementType
    result: Name


@op_model(defines="value", in_combine=True)
class FullOp(ValueOpModel):
    op: Literal["hl.full"]
    shape: list[Expr]
    value: Scalar | Name
    dtype: ElementType
    result: Name


@op_model(defines="value")
class LoadOp(ValueOpModel):
    op: Literal["hl.load"]
    result: Name
    slice: SliceSpec | None = None
    base: Name | None = None
    index: list[IndexEntry] | None = None
    mask: Name | None = None
    # Per result axis: the extent an edge tile's value is padded to with zeros (or null).
    pad_to: list[Expr | None] | None = None


@op_model()
class StoreSliceOp(OpModel):
    op: Literal["hl.store_slice"]
    dst: Name
    offsets: list[Expr]
    src: Operand
    mask: Name | None = None
    # The window's extents, present when ``src`` is a scalar or broadcasts to
    # them; absent, the window is ``src``'s shape.
    sizes: list[Expr] | None = None


@op_model()
class StoreOp(OpModel):
    op: Literal["hl.store"]
    dst: Name
    index: list[IndexEntry]
    src: Operand
    mask: Name | None = None


@op_model(defines="value")
class AtomicOp(ValueOpModel):
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


@op_model(defines="value")
class MaskToOp(ValueOpModel):
    op: Literal["hl.mask_to"]
    src: Name
    value: Scalar
    result: Name


@op_model(defines="value")
class SubscriptOp(ValueOpModel):
    op: Literal["hl.subscript"]
    src: Operand
    index: list[IndexEntry]
    result: Name


@op_model(defines={"hl.tile.index": "value"}, otherwise="scalar")
class TilePropertyOp(ValueOpModel):
    op: Literal[
        "hl.tile.index", "hl.tile.begin_of", "hl.tile.end_of", "hl.tile.id", "hl.tile.count"
    ]
    tile: Name
    result: Name


@op_model(defines="value")
class RngSeedOp(ValueOpModel):
    """Seed ``slot`` of those the kernel draws once per call, before its loops."""

    op: Literal["hl.rng_seed"]
    slot: int = Field(ge=0)
    result: Name


@op_model(defines="symbol")
class RegisterBlockSizeOp(ValueOpModel):
    op: Literal["hl.register_block_size"]
    result: Name
    size: Expr
    min: Expr | None = None
    max: Expr | None = None


@op_model(defines="value")
class DotOp(ValueOpModel):
    op: Literal["hl.dot"]
    args: list[Operand]
    out_dtype: ElementType | None = None
    # The result's element type.
    dtype: ElementType | None = None
    result: Name


@op_model(defines="value")
class SplitOp(ValueOpModel):
    op: Literal["hl.split"]
    src: Operand
    result: list[Name]


@op_model(defines="value")
class JoinOp(ValueOpModel):
    op: Literal["hl.join"]
    args: list[Operand]
    result: Name


@op_model(defines="value")
class ScanOp(ValueOpModel):
    op: Literal["hl.cumsum", "hl.cumprod"]
    src: Operand
    dim: int
    reverse: bool = False
    result: Name


class CombineFunction(FormatModel):
    """An elementwise function of scan/reduce: ``params`` in, ``results`` out."""

    params: list[Name]
    body: list[Op]
    results: list[Name]


@op_model(defines="value")
class AssociativeScanOp(ValueOpModel):
    op: Literal["hl.associative_scan"]
    args: list[Operand]
    dim: int
    reverse: bool = False
    combine: CombineFunction
    result: list[Name]


@op_model(defines="value")
class ReduceOp(ValueOpModel):
    op: Literal["hl.reduce"]
    args: list[Operand]
    # None: over every axis.
    dim: int | None = None
    keep_dims: bool = False
    combine: CombineFunction
    result: list[Name]


@op_model(defines="value", in_combine=True)
class AssignOp(ValueOpModel):
    op: Literal["hl.assign"]
    src: Operand
    result: Name


@op_model(region=Region("hl.if", "begin"))
class IfBeginOp(OpModel):
    op: Literal["hl.if.begin"]
    cond: Operand


@op_model(region=Region("hl.if", "else"))
class ElseOp(OpModel):
    op: Literal["hl.if.else"]


@op_model(region=Region("hl.if", "end"))
class IfEndOp(OpModel):
    op: Literal["hl.if.end"]


@op_model()
class BarrierOp(OpModel):
    op: Literal["hl.barrier"]


@op_model()
class ReturnOp(OpModel):
    op: Literal["hl.return"]
    # null where the kernel returns None; a host scalar is a number, a scalar argument's
    # name or an integer expression over the arguments.
    values: list[Name | ExprOperand | Scalar | None]


@op_model(defines="value", in_combine=True, names=(TORCH,))
class TorchOp(ValueOpModel):
    op: Annotated[str, Field(pattern=r"^torch\.[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$")]
    overload: str
    # A list of operands is one tensor-list argument (``torch.stack([a, b])``).
    args: list[Operand | list[Operand]]
    attrs: dict[str, AttrValue] = Field(default_factory=dict)
    result: Name | list[Name] | None = None
    # Floating tensor operands are converted to this type before the op (mixed precision).
    operand_dtype: ElementType | None = None


def _op_tag(value: Any) -> str | None:
    op = value.get("op") if isinstance(value, dict) else getattr(value, "op", None)
    if not isinstance(op, str):
        return None
    spec = spec_of(op)
    return _tag(spec.model) if spec is not None else None


def _tag(model: type[OpModel]) -> str:
    return "torch" if model is TorchOp else model.__name__


def _op_union() -> Any:
    models = list(dict.fromkeys(spec.model for spec in OPS.values()))
    members = tuple(Annotated[model, Tag(_tag(model))] for model in models)
    return Annotated[
        Union[members],  # noqa: UP007 (a union built from the registry)
        Discriminator(
            _op_tag,
            custom_error_type="unknown_op",
            custom_error_message="unknown op (expected hl.* from the format, or torch.<aten name>)",
        ),
    ]


if TYPE_CHECKING:
    Op = Any
else:
    Op = _op_union()

CombineFunction.model_rebuild()
AssociativeScanOp.model_rebuild()
ReduceOp.model_rebuild()
