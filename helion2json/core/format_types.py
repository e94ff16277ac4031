"""The pieces ops and functions of the format are built from.

Names, expressions, scalars, value types, operands and index entries, as
pydantic models. Like the rest of the schema they import without torch.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from helion2json.core.dtypes import ElementType

ScalarType = Literal["f64", "i64", "i1"]

# A name defined by an op or an argument. Expressions are ints or grammar strings.
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z_0-9]*$")]
Expr = int | str
# JSON has no infinities or NaN, so those travel as strings (and a float is finite).
Scalar = bool | int | Annotated[float, Field(allow_inf_nan=False)] | Literal["inf", "-inf", "nan"]


class FormatModel(BaseModel):
    # Consumers ignore unknown keys; this validator refuses them so that a typo
    # in the exporter cannot ship silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Loc(FormatModel):
    file: str
    line: int = Field(ge=1)
    col: int = Field(default=0, ge=0)


class TensorType(FormatModel):
    shape: list[Expr]
    elem: ElementType


class TensorTypeBox(FormatModel):
    tensor: TensorType


class ScalarTypeBox(FormatModel):
    scalar: ScalarType


ValueType = TensorTypeBox | ScalarTypeBox


class DtypeTypeBox(FormatModel):
    """A ``torch.dtype`` argument: the kernel is specialised on this element type."""

    dtype: ElementType


class DeviceTypeBox(FormatModel):
    """A ``torch.device`` argument: the device the kernel runs and allocates on."""

    device: None


class NoneTypeBox(FormatModel):
    """An optional argument given as ``None``: the kernel was specialised on its absence."""

    none: None


class ConstantTypeBox(FormatModel):
    """A string, or a callable, the kernel was specialised on.

    ``constant`` is the string itself, or for a callable (an epilogue passed to the
    kernel) its qualified name: its ops were traced into the body.
    """

    constant: str
    kind: Literal["str", "callable"]


# Arguments the kernel was specialised on: they carry no value into the body.
ConstantType = DtypeTypeBox | DeviceTypeBox | NoneTypeBox | ConstantTypeBox


class TensorExample(FormatModel):
    """The extents of the example tensor the document was made with."""

    shape: list[int]


class ListExample(FormatModel):
    """The extents of each tensor item of a list argument; null for a scalar item."""

    items: list[TensorExample | None]


class SpecializedExtent(FormatModel):
    """An extent of a tensor argument that the body holds as the example's number."""

    axis: int = Field(ge=0)
    value: int
    # What fixed it: the kernel (hl.specialize) or the shape environment (a guard).
    by: Literal["hl.specialize", "guard"]


class ListTypeBox(FormatModel):
    """A list or tuple of scalars (``normalized_shape: list[int]``) or of tensors
    (``xs: list[torch.Tensor]``): item ``i`` has type ``list[i]`` and is the scalar or
    tensor argument ``names[i]`` in the body."""

    list: builtins.list[ScalarTypeBox | TensorTypeBox]
    names: builtins.list[Name]

    @model_validator(mode="after")
    def _one_name_per_item(self) -> ListTypeBox:
        if len(self.names) != len(self.list):
            raise ValueError(f"{len(self.list)} items but {len(self.names)} names")
        return self


class Arg(FormatModel):
    id: Name
    type: ValueType | ConstantType | ListTypeBox
    # Under static_shapes: the shapes the body is valid for.
    example: TensorExample | ListExample | None = None
    # Otherwise: the extents Helion specialised.
    specialized: list[SpecializedExtent] | None = None


class Ret(FormatModel):
    # ``{"none": null}``: the kernel returns None in this position (``return out, None``).
    type: ValueType | NoneTypeBox


class SliceSpec(FormatModel):
    base: Name
    offsets: list[Expr]
    sizes: list[Expr]


class SliceOperand(FormatModel):
    slice: SliceSpec


class ExprOperand(FormatModel):
    """A symbolic integer scalar, e.g. ``{"expr": "size(tile_m) * 2"}``."""

    expr: Expr


class TileIndex(FormatModel):
    """Index by a tile: the tile's elements along this axis."""

    tile: Name


class FullIndex(FormatModel):
    """``:``: the whole axis."""

    full: Literal[True]


class AtIndex(FormatModel):
    """A single position; the axis is dropped."""

    at: Expr


class TensorIndex(FormatModel):
    """Gather/scatter: positions read from an integer tensor value."""

    tensor: Name


class NewAxisIndex(FormatModel):
    """``None``: a new axis of extent 1."""

    newaxis: Literal[True]


class BroadcastIndex(FormatModel):
    """An axis of extent 1 indexed by a tile: position 0, repeated over the tile's extent."""

    broadcast: Name


class RangeIndex(FormatModel):
    """``begin:end``: the positions ``begin, ..., end - 1`` of the axis."""

    range: Annotated[list[Expr], Field(min_length=2, max_length=2)]


IndexEntry = (
    TileIndex | FullIndex | AtIndex | TensorIndex | NewAxisIndex | BroadcastIndex | RangeIndex
)

Operand = Annotated[str, Field(min_length=1)] | SliceOperand | ExprOperand | Scalar | None
AttrValue = Any
